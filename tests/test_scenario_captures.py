"""Every built-in scenario traced for real (tracer.run.trace: two namespaces, veth, scapy
sniffer) and its capture checked frame by frame against what the programs sent.

The capture is read with a small pcapng parser written here, independent of the
tracer's writer and of viz's reader, and cross-checked with `tshark -r`.  The
checks are on structure (handshake, exact payload bytes per direction, who sent
the first FIN, datagrams and replies, RST), not on frame counts the kernel may
vary (ACK timing, segment coalescing).
"""
from __future__ import annotations

import re
import shutil
import socket
import struct
import subprocess
from dataclasses import dataclass, field

import pytest

from conftest import needs_root
from tracer import scenarios
from tracer.run import trace

pytestmark = [needs_root, pytest.mark.netns]

M = b"This is the message."
SYN, FIN, RST, ACK = 0x02, 0x01, 0x04, 0x10
CLIENT = {False: "192.0.2.1", True: "2001:db8::1"}
SERVER = {False: "192.0.2.2", True: "2001:db8::2"}


# --- an independent pcapng reader -------------------------------------------------------

@dataclass
class Frame:
    number: int
    ts: float
    data: bytes
    comments: list[str]
    proto: str = "other"
    src: str = ""
    dst: str = ""
    sport: int = 0
    dport: int = 0
    flags: int = 0
    seq: int = 0
    payload: bytes = b""


def read_pcapng(path: str) -> tuple[list[Frame], list[str]]:
    """Frames (with their comments) and the section header's comments."""
    buf = open(path, "rb").read()
    frames: list[Frame] = []
    shb_comments: list[str] = []
    resol: list[float] = []
    pos, endian = 0, "<"
    while pos < len(buf):
        if buf[pos:pos + 4] == b"\x0a\x0d\x0d\x0a":
            endian = "<" if buf[pos + 8:pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
        btype, blen = struct.unpack_from(endian + "II", buf, pos)
        assert blen >= 12 and blen % 4 == 0 and pos + blen <= len(buf), f"bad block at {pos}"
        assert struct.unpack_from(endian + "I", buf, pos + blen - 4)[0] == blen
        body = buf[pos + 8:pos + blen - 4]
        if btype == 0x0A0D0D0A:
            shb_comments += [v.decode() for code, v in options(body[16:], endian) if code == 1]
        elif btype == 1:  # interface description
            res = 6
            for code, v in options(body[8:], endian):
                if code == 9:
                    res = v[0]
            resol.append(2.0 ** -(res & 0x7F) if res & 0x80 else 10.0 ** -res)
        elif btype == 6:  # enhanced packet
            iface, hi, lo, caplen, wirelen = struct.unpack_from(endian + "IIIII", body)
            data = body[20:20 + caplen]
            optstart = 20 + (caplen + 3) // 4 * 4
            comments = [v.decode() for code, v in options(body[optstart:], endian) if code == 1]
            frames.append(decode(Frame(len(frames) + 1, ((hi << 32) | lo) * resol[iface], data, comments)))
        pos += blen
    return frames, shb_comments


def options(buf: bytes, endian: str):
    pos = 0
    while pos + 4 <= len(buf):
        code, length = struct.unpack_from(endian + "HH", buf, pos)
        if code == 0:
            return
        yield code, buf[pos + 4:pos + 4 + length]
        pos += 4 + (length + 3) // 4 * 4


def decode(f: Frame) -> Frame:
    d = f.data
    ethertype = struct.unpack_from("!H", d, 12)[0]
    if ethertype == 0x0800:
        ihl = (d[14] & 0x0F) * 4
        total = struct.unpack_from("!H", d, 16)[0]
        proto, l4, end = d[23], 14 + ihl, 14 + total
        f.src, f.dst = socket.inet_ntop(socket.AF_INET, d[26:30]), socket.inet_ntop(socket.AF_INET, d[30:34])
    elif ethertype == 0x86DD:
        proto, l4, end = d[20], 54, 54 + struct.unpack_from("!H", d, 18)[0]
        f.src, f.dst = socket.inet_ntop(socket.AF_INET6, d[22:38]), socket.inet_ntop(socket.AF_INET6, d[38:54])
    else:
        return f
    if proto == 6:
        f.proto = "tcp"
        f.sport, f.dport, f.seq = struct.unpack_from("!HHI", d, l4)
        f.flags = d[l4 + 13]
        f.payload = d[l4 + (d[l4 + 12] >> 4) * 4:end]
    elif proto == 17:
        f.proto = "udp"
        f.sport, f.dport = struct.unpack_from("!HH", d, l4)
        f.payload = d[l4 + 8:end]
    else:
        f.proto = {1: "icmp", 58: "icmpv6"}.get(proto, "other")
    return f


# --- TCP conversations -----------------------------------------------------------------

@dataclass
class Conversation:
    client: tuple[str, int]
    server: tuple[str, int]
    frames: list[Frame] = field(default_factory=list)

    def side(self, f: Frame) -> str:
        return "c2s" if (f.src, f.sport) == self.client else "s2c"

    def stream(self, direction: str) -> bytes:
        """The bytes one side sent, placed by sequence number (retransmissions overlap harmlessly)."""
        isn = next(f.seq for f in self.frames if self.side(f) == direction and f.flags & SYN)
        out = bytearray()
        for f in self.frames:
            if self.side(f) == direction and f.payload:
                off = (f.seq - isn - 1) % 2**32
                if len(out) < off + len(f.payload):
                    out.extend(b"\0" * (off + len(f.payload) - len(out)))
                out[off:off + len(f.payload)] = f.payload
        return bytes(out)

    def first_fin(self) -> Frame:
        return next(f for f in self.frames if f.flags & FIN)


def conversations(frames: list[Frame]) -> list[Conversation]:
    convs: dict[frozenset, Conversation] = {}
    for f in frames:
        if f.proto != "tcp":
            continue
        key = frozenset({(f.src, f.sport), (f.dst, f.dport)})
        if key not in convs:
            assert f.flags & (SYN | ACK) == SYN, f"conversation starts without a SYN: frame {f.number}"
            convs[key] = Conversation((f.src, f.sport), (f.dst, f.dport))
        convs[key].frames.append(f)
    return list(convs.values())


def check_tcp_conversation(c: Conversation, sent: bytes | None, answered: bytes | None,
                           closes_first: str | None) -> None:
    """SYN, SYN/ACK, ACK; exact bytes both ways; FINs both ways (the first from `closes_first`), last ACK."""
    hs = c.frames[:3]
    assert [(c.side(f), f.flags & (SYN | ACK | FIN | RST)) for f in hs] == [
        ("c2s", SYN), ("s2c", SYN | ACK), ("c2s", ACK)], [f.number for f in hs]
    if sent is not None:
        assert c.stream("c2s") == sent
    if answered is not None:
        assert c.stream("s2c") == answered
    fins = [f for f in c.frames if f.flags & FIN]
    assert {c.side(f) for f in fins} == {"c2s", "s2c"}  # (a retransmitted FIN may repeat)
    if closes_first:
        assert c.side(fins[0]) == closes_first
    assert c.frames[-1].flags & (ACK | FIN | RST) == ACK and not c.frames[-1].payload  # the last ACK
    assert not any(f.flags & RST for f in c.frames)


def datagrams(frames: list[Frame], direction: str, ipv6: bool) -> list[bytes]:
    src = CLIENT[ipv6] if direction == "c2s" else SERVER[ipv6]
    return [f.payload for f in frames if f.proto == "udp" and f.src == src]


def icmp_messages(frames: list[Frame], ipv6: bool) -> list[tuple[Frame, int, int, bytes]]:
    """(frame, type, code, body after the 8-byte header) of each ICMP/ICMPv6 frame."""
    out = []
    for f in frames:
        if f.proto in ("icmp", "icmpv6"):
            l4 = f.data[54:] if f.proto == "icmpv6" else f.data[14 + (f.data[14] & 0x0F) * 4:]
            out.append((f, l4[0], l4[1], l4[4:]))
    return out


# --- per-scenario expectations ---------------------------------------------------------

def check(name: str, frames: list[Frame], opts: scenarios.Options, ipv6: bool) -> None:
    convs = conversations(frames)
    if name == "tcp-echo":
        (c,) = convs
        check_tcp_conversation(c, M, M, "c2s")
        assert [len(f.payload) for f in c.frames if c.side(f) == "s2c" and f.payload] == [16, 4]
    elif name == "tcp-hello":
        (c,) = convs
        addr = (c.client[0], c.client[1], 0, 0) if ipv6 else c.client
        check_tcp_conversation(c, b"", b"Hello " + str(addr).encode(), "s2c")
    elif name == "tcp-time":
        (c,) = convs
        check_tcp_conversation(c, b"", None, "s2c")
        assert re.fullmatch(rb"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}", c.stream("s2c"))
    elif name == "tcp-upper":
        (c,) = convs
        check_tcp_conversation(c, M, M.upper(), None)
    elif name == "socketserver-tcp":
        (c,) = convs
        check_tcp_conversation(c, M + b"\r\n", M.upper() + b"\r\n", None)
    elif name in ("threading-tcp", "forking-tcp"):
        assert len(convs) == opts.clients
        assert sorted(c.client[1] for c in convs) == [opts.client_port + i for i in range(opts.clients)]
        assert len({c.server for c in convs}) == 1
        for c in convs:
            check_tcp_conversation(c, M, M.upper(), "c2s")
        # concurrency: every client's handshake is done before any client sends data
        first_data = min(f.number for c in convs for f in c.frames if f.payload)
        assert all(c.frames[2].number < first_data for c in convs)
    elif name == "half-close":
        (c,) = convs
        check_tcp_conversation(c, M, M.upper(), "c2s")
        fin = c.first_fin()
        after = [f for f in c.frames if f.number > fin.number and c.side(f) == "s2c" and f.payload]
        assert b"".join(f.payload for f in after) == M.upper()  # data after the client's FIN
    elif name == "refused":
        tcp = [f for f in frames if f.proto == "tcp"]
        assert [(f.src, f.flags & (SYN | ACK | RST | FIN)) for f in tcp] == [
            (CLIENT[ipv6], SYN), (SERVER[ipv6], RST | ACK)]
        assert not any(f.payload for f in tcp)
    elif name == "http-get":
        (c,) = convs
        host = f"[{SERVER[ipv6]}]" if ipv6 else SERVER[ipv6]
        check_tcp_conversation(c, f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode(), None, "s2c")
        assert c.server[1] == 80
        reply = c.stream("s2c")
        assert reply.startswith(b"HTTP/1.0 200 OK\r\n") and b"Content-Length: " in reply
        assert reply.endswith(b"<h1>Hello from the server</h1><p>This page came over TCP.</p></body></html>\n")
        assert b"Last-Modified: Tue, 14 Nov 2023 22:13:20 GMT" in reply
    elif name == "bulk":
        (c,) = convs
        pattern = b"This is the message. "
        expected = (pattern * (opts.bytes // len(pattern) + 1))[:opts.bytes]
        check_tcp_conversation(c, expected, b"received %d bytes" % opts.bytes, "c2s")
        sizes = [len(f.payload) for f in c.frames if c.side(f) == "c2s" and f.payload]
        mss = 1440 if ipv6 else 1460
        assert max(sizes) <= mss and sizes.count(max(sizes)) >= opts.bytes // mss // 2
        assert len(sizes) >= opts.bytes // mss  # cut into MSS-sized segments, not one big frame
    elif name == "sliding-window":  # flow control: tests/test_cc.py draws its window
        (c,) = convs
        pattern = b"This is the message. "
        check_tcp_conversation(c, (pattern * (200_000 // len(pattern) + 1))[:200_000], b"received 200000 bytes",
                               "c2s")
    elif name == "reuseaddr":
        assert len(convs) == 2 and convs[0].client[1] != convs[1].client[1]
        for c in convs:
            check_tcp_conversation(c, M, M, "s2c")
    elif name in ("udp-upper", "socketserver-udp"):
        assert not convs
        assert datagrams(frames, "c2s", ipv6) == [M] and datagrams(frames, "s2c", ipv6) == [M.upper()]
    elif name == "udp-spew":
        assert datagrams(frames, "c2s", ipv6) == [b"This is ", b"the mess", b"age."]
        assert datagrams(frames, "s2c", ipv6) == []
    elif name == "udp-timeout":
        assert datagrams(frames, "c2s", ipv6) == [M, M] and datagrams(frames, "s2c", ipv6) == [M.upper()]
        requests = [f for f in frames if f.proto == "udp" and f.src == CLIENT[ipv6]]
        assert requests[1].ts - requests[0].ts >= 0.45  # the retry follows the 0.5 s timeout
    elif name == "ping":  # no server program: the kernel answers each echo request
        req, rep = (128, 129) if ipv6 else (8, 0)
        echo = [(m[0].src, t, struct.unpack("!H", m[3][2:4])[0], m[3][4:]) for m in icmp_messages(frames, ipv6)
                for t in [m[1]] if t in (req, rep)]
        assert echo == [(src, t, seq, M) for seq in (1, 2, 3)
                        for src, t in ((CLIENT[ipv6], req), (SERVER[ipv6], rep))]
        assert not convs and not [f for f in frames if f.proto == "udp"]
    elif name == "traceroute":  # on the direct link the first probe reaches the closed port
        assert datagrams(frames, "c2s", ipv6) == [b"probe 1"] and datagrams(frames, "s2c", ipv6) == []
        errors = [(m[0].src, m[1], m[2]) for m in icmp_messages(frames, ipv6)]
        assert errors == [(SERVER[ipv6], 3, 3)]  # port unreachable from the server host
    elif name == "dns":
        queries, answers = datagrams(frames, "c2s", ipv6), datagrams(frames, "s2c", ipv6)
        assert [struct.unpack("!H", q[:2])[0] for q in queries] == [1, 2, 3]
        assert [struct.unpack("!H", a[:2])[0] for a in answers] == [1, 2, 3]
        assert answers[0].endswith(socket.inet_aton("192.0.2.80"))
        assert answers[1].endswith(socket.inet_pton(socket.AF_INET6, "2001:db8::80"))
        assert struct.unpack("!H", answers[2][2:4])[0] & 0x0F == 3  # NXDOMAIN
    else:
        raise AssertionError(f"no capture check for scenario {name}")
    if scenarios.get(name).transport == "udp":
        udp = [f for f in frames if f.proto == "udp"]
        assert len({(f.sport if f.src == CLIENT[ipv6] else f.dport) for f in udp}) == 1  # one client socket


def tshark_frames(path: str) -> list[str]:
    out = subprocess.run(["tshark", "-r", path, "-T", "fields", "-e", "frame.number", "-e", "frame.comment"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


@pytest.mark.parametrize("ipv6", [False, True], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("name", [n for n in scenarios.names() if not scenarios.get(n).faults])
def test_scenario_capture(name, ipv6, tmp_path):
    if ipv6 and "ipv6" not in scenarios.get(name).options:
        pytest.skip(f"{name} is IPv4 only")
    opts = scenarios.Options(ipv6=ipv6, client_port=41000, bytes=200_000)
    out = str(tmp_path / f"{name}.pcapng")
    result = trace(name, opts, out)
    assert result.complete, result.incomplete_reason
    frames, shb = read_pcapng(out)
    assert len(frames) == result.frames
    assert any(c.startswith("synack-capture/1\n") for c in shb)
    check(name, frames, opts, ipv6)
    transport = [f for f in frames if f.proto in ("tcp", "udp")] or [
        m[0] for m in icmp_messages(frames, ipv6) if m[1] in (0, 8, 128, 129)]  # ping: its echo messages
    assert {f.src for f in transport} <= {CLIENT[ipv6], SERVER[ipv6]}
    # the call that caused the first frame of the client is written on it
    first = transport[0]
    want = "client: connect(" if scenarios.get(name).transport == "tcp" else "client: sendto("
    assert any(c.startswith(want) for c in first.comments), first.comments
    if shutil.which("tshark"):
        rows = tshark_frames(out)
        assert len(rows) == len(frames)
        assert want.rstrip("(") in "\n".join(rows)
