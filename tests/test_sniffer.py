"""The sniffer against real traffic in the real namespaces."""
from __future__ import annotations

import socket
import subprocess
import threading
import time

import pytest

from conftest import needs_root
from tracer import pcapng
from tracer.hosts import in_netns
from tracer.sniffer import Sniffer, Tracker

pytestmark = [needs_root, pytest.mark.netns]


def udp_socket(port: int = 0, family: int = socket.AF_INET) -> socket.socket:
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind(("", port))
    return s


def test_first_frame_after_start_is_never_missed(hosts):
    """The measured trap: AsyncSniffer misses frames sent right after start()."""
    for _ in range(20):
        sn = Sniffer(hosts.client.netns, "veth0")
        sock = in_netns(hosts.client.netns, udp_socket)
        sn.start()
        assert sn.ready
        sock.sendto(b"first", ("192.0.2.2", 9))
        sn.stop()
        sock.close()
        payloads = [f[-5:] for _, f in sn.frames if f[23:24] == b"\x11"]
        assert payloads == [b"first"]


def test_burst_is_drained_completely_with_zero_drops(hosts):
    """stop() right after the last send must still keep every queued frame."""
    sn = Sniffer(hosts.server.netns, "veth0")
    rx = in_netns(hosts.server.netns, udp_socket, 5000)
    tx = in_netns(hosts.client.netns, udp_socket)
    started = time.time_ns()
    sn.start()
    n = 20000
    for i in range(n):
        tx.sendto(i.to_bytes(4, "big") * 100, ("192.0.2.2", 5000))
    sn.stop()
    tx.close()
    rx.close()
    udp = [f for _, f in sn.frames if f[12:14] == b"\x08\x00" and f[23] == 17]
    assert len(udp) == n
    assert [int.from_bytes(f[42:46], "big") for f in udp] == list(range(n))
    assert sn.kernel_drops == 0
    # Kernel timestamps on every frame (CLOCK_REALTIME, like the call records).
    # Frames stay in socket order, like tcpdump's; on a loaded machine the
    # kernel's receive stamps can invert slightly, so order is not asserted.
    assert sn.untimed == 0
    ts = [t for t, _ in sn.frames]
    assert started <= min(ts) and max(ts) <= time.time_ns()


def _tcp_exchange(hosts, payload: bytes, port: int = 6000) -> None:
    """A real TCP conversation: client sends, server echoes, client closes first."""
    srv = in_netns(hosts.server.netns, lambda: socket.create_server(("", port)))
    cli = in_netns(hosts.client.netns, lambda: socket.socket())

    def serve():
        c, _ = srv.accept()
        got = b""
        while len(got) < len(payload):
            got += c.recv(65536)
        c.sendall(got[:100])
        c.recv(1)  # EOF
        c.close()

    t = threading.Thread(target=serve)
    t.start()
    cli.connect(("192.0.2.2", port))
    cli.sendall(payload)
    n = 0
    while n < 100:
        n += len(cli.recv(100))
    cli.close()
    t.join(10)
    srv.close()


def test_conversation_close_is_tracked_and_frames_are_wire_sized(hosts, tmp_path):
    sn = Sniffer(hosts.client.netns, "veth0")
    sn.start()
    _tcp_exchange(hosts, b"x" * 200_000)
    assert sn.wait_closed(5), sn.tracker.summary()
    sn.stop()
    summary = sn.tracker.summary()
    assert summary["tcp"] == 1 and summary["handshake"] and summary["data"] and summary["teardown"]
    assert summary["closed"]
    assert max(len(f) for _, f in sn.frames) <= 1514  # no TSO/GSO super-frames
    # tshark validates every checksum (tx checksum offload is off)
    path = str(tmp_path / "x.pcapng")
    pcapng.write(path, sn.frames, {"schema": pcapng.SCHEMA}, [pcapng.CaptureInterface("veth0")])
    out = subprocess.run(["tshark", "-r", path, "-o", "tcp.check_checksum:TRUE", "-o",
                          "ip.check_checksum:TRUE", "-T", "fields", "-e", "tcp.checksum.status",
                          "-e", "ip.checksum.status", "-Y", "tcp"],
                         capture_output=True, text=True, check=True).stdout.split("\n")
    rows = [r.split("\t") for r in out if r]
    assert len(rows) == sum(1 for _, f in sn.frames if f[23] == 6)
    assert all(r == ["1", "1"] for r in rows), set(map(tuple, rows))  # 1 = Good


def test_loopback_keeps_each_frame_once(make_hosts):
    h = make_hosts(net="loopback")
    sn = Sniffer(h.client.netns, "lo")
    assert sn.outgoing_only
    sn.start()
    a = in_netns(h.client.netns, udp_socket, 7001)
    b = in_netns(h.client.netns, udp_socket)
    for i in range(50):
        b.sendto(b"dg%03d" % i, ("127.0.0.1", 7001))
    sn.stop()
    a.close()
    b.close()
    payloads = [f[-5:] for _, f in sn.frames]
    assert payloads == [b"dg%03d" % i for i in range(50)]


def test_tracker_knows_rst_and_fin_closes():
    def frame(flags: int, seq: int, ack: int, sport: int = 1000, dport: int = 80, payload: bytes = b"") -> bytes:
        import struct
        tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
        iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64, 6, 0,
                          bytes([192, 0, 2, 1 if sport == 1000 else 2]), bytes([192, 0, 2, 2 if sport == 1000 else 1]))
        return b"\x02" * 6 + b"\x01" * 6 + b"\x08\x00" + iph + tcp

    t = Tracker()
    t.feed(frame(0x02, 100, 0))
    assert not t.all_closed
    t.feed(frame(0x12, 500, 101, 80, 1000))
    t.feed(frame(0x10, 101, 501))
    t.feed(frame(0x11, 101, 501))            # client FIN
    assert not t.all_closed
    t.feed(frame(0x11, 501, 102, 80, 1000))  # server FIN, acks client's
    assert not t.all_closed
    t.feed(frame(0x10, 102, 502))            # last ACK
    assert t.all_closed and t.summary()["handshake"] and t.summary()["teardown"]
    r = Tracker()
    r.feed(frame(0x02, 1, 0))
    r.feed(frame(0x14, 0, 2, 80, 1000))      # RST, ACK: refused
    assert r.all_closed and not r.summary()["handshake"]


def test_frame_spool_keeps_order_and_bytes_out_of_memory():
    """Frames of every size, including ones larger than a read chunk, come back in
    order and intact, as often as they are read."""
    from tracer.sniffer import FrameSpool

    spool = FrameSpool()
    frames = [(i * 1000, bytes([i % 251]) * size)
              for i, size in enumerate([60, 1514, 0, 9000, FrameSpool.CHUNK + 7, 74, 65535] * 3)]
    for f in frames:
        spool.append(f)
    assert len(spool) == len(frames) and spool
    assert list(spool) == frames and list(spool) == frames
    spool.append((1, b"late"))
    assert list(spool)[-1] == (1, b"late")
    spool.close()
    assert not FrameSpool()
