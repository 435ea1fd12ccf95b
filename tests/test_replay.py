"""Replay: real frames on a real veth between real namespaces, checked on arrival.

Every test compares what the far end's tap received with the capture's own
bytes (read independently with viz.capture), so "byte-identical" is not just
the replayer's word; tshark validates the checksums `--rewrite` recomputes.
"""
from __future__ import annotations

import os
import struct
import subprocess
import sys

import pytest

from conftest import ROOT, needs_root
from tracer import replay as rp
from viz.capture import open_capture
from viz.errors import SynackError

CORPUS = "/work/shared/corpus"
PY = sys.executable


def corpus(name):
    path = os.path.join(CORPUS, name)
    if not os.path.exists(path):
        pytest.skip(f"corpus file {name} not present")
    return path


def frames_of(path):
    with open_capture(path) as cap:
        return [(f.linktype, f.data) for f in cap]


def synack(*args):
    return subprocess.run([PY, "-m", "tracer", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def write_pcap(path, linktype, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
        for i, data in enumerate(frames):
            f.write(struct.pack("<IIII", 1000 + i, 0, len(data), len(data)) + data)


def assert_clean(report, n):
    assert report.sent == report.arrived == n
    assert report.identical and report.order_preserved
    assert report.stack_tx == {"client": 0, "server": 0}, "a host's stack answered a replayed frame"
    assert report.ok


@needs_root
def test_tracer_capture_arrives_byte_identical_in_order_on_schedule(hosts, tmp_path, leak_check):
    from tracer import scenarios
    from tracer.run import trace

    cap = str(tmp_path / "echo.pcapng")
    trace("tcp-echo", scenarios.Options(), cap)
    original = [d for _, d in frames_of(cap)]
    report = rp.replay(cap, speed=1.0, hosts=hosts)
    assert_clean(report, len(original))
    assert [d for _, d in report.arrived_frames] == original
    # each frame left from the side that sent it: SYN from the client, SYN/ACK from the server
    sides = [f.side for f in rp.load(cap)[0]]
    assert sides[0] == "client" and sides[1] == "server"
    assert len(report.errors_ns) == len(original)  # timing measured for every frame (not asserted)


@needs_root
@pytest.mark.parametrize("name", ["one_http_stream_fin.pcap", "sll.pcap", "raw_ip.pcap",
                                  "example2.pcap", "sll2.pcap", "null_loopback.pcap"])
def test_corpus_files_arrive_byte_identical(name, hosts, leak_check):
    path = corpus(name)
    stored = frames_of(path)
    report = rp.replay(path, speed=None, hosts=hosts)
    assert_clean(report, len(stored))
    arrived = [d for _, d in report.arrived_frames]
    for (linktype, data), got in zip(stored, arrived):
        if linktype == 1:
            assert got == data
        else:  # synthesized Ethernet header, the network layer unchanged
            assert int.from_bytes(got[12:14], "big") >= 0x600 and data.endswith(got[14:])


@needs_root
def test_rewrite_maps_endpoints_and_fixes_checksums(hosts, tmp_path, leak_check):
    path = corpus("one_http_stream_fin.pcap")
    report = rp.replay(path, speed=None, rewrite=True, hosts=hosts)
    assert_clean(report, 15)
    out = str(tmp_path / "arrived.pcapng")
    from tracer.commands.replay import write_arrived

    write_arrived(out, report)
    rows = subprocess.run(
        ["tshark", "-r", out, "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
         "-T", "fields", "-e", "eth.src", "-e", "ip.src", "-e", "ip.dst", "-e",
         "ip.checksum.status", "-e", "tcp.checksum.status"],
        capture_output=True, text=True, check=True).stdout.split("\n")
    rows = [r.split("\t") for r in rows if r]
    assert len(rows) == 15
    for mac, src, dst, ipck, tcpck in rows:
        assert {src, dst} == {"192.0.2.1", "192.0.2.2"}
        assert mac == ("02:00:00:00:00:01" if src == "192.0.2.1" else "02:00:00:00:00:02")
        assert ipck == "1" and tcpck == "1"  # 1 = good (0 bad, 2 unverified)


@needs_root
def test_vlan_and_loop(hosts, tmp_path, leak_check):
    eth = bytes.fromhex("020000000002020000000001")
    ip = bytes.fromhex("4500001c000000004011") + b"\0\0" + bytes([192, 0, 2, 1, 192, 0, 2, 2]) \
        + bytes.fromhex("04d2162e00080000")
    frames = [eth + b"\x81\x00\x00\x05\x08\x00" + ip, eth + b"\x08\x00" + ip]
    path = str(tmp_path / "vlan.pcap")
    write_pcap(path, 1, frames)
    report = rp.replay(path, speed=None, loops=3, hosts=hosts)
    assert_clean(report, 6)
    assert [d for _, d in report.arrived_frames] == frames * 3


@needs_root
def test_jumbo_frames_raise_the_veth_mtu(hosts, tmp_path, leak_check):
    eth = bytes.fromhex("020000000002020000000001") + b"\x08\x00"
    body = bytes.fromhex("45000fa0000000004011") + b"\0\0" + bytes([192, 0, 2, 1, 192, 0, 2, 2])
    frame = eth + body + b"\0" * (4000 - len(body))
    path = str(tmp_path / "jumbo.pcap")
    write_pcap(path, 1, [frame])
    report = rp.replay(path, speed=None, hosts=hosts)
    assert report.mtu == 4000
    assert_clean(report, 1)


@needs_root
def test_cli_reports_and_writes_arrived_capture(tmp_path, leak_check):
    out = tmp_path / "arrived.pcapng"
    r = synack("replay", corpus("one_http_stream_fin.pcap"), "--speed", "4", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "frames sent 15, arrived 15" in r.stdout
    assert "byte-identical: yes; order preserved: yes" in r.stdout
    assert "timing error vs schedule: median" in r.stdout
    assert [d for _, d in frames_of(str(out))] == [d for _, d in frames_of(corpus("one_http_stream_fin.pcap"))]


def test_bad_input_is_one_line_exit_2(tmp_path):
    empty = tmp_path / "empty.pcap"
    write_pcap(str(empty), 1, [])
    hdlc = tmp_path / "ppp.pcap"
    write_pcap(str(hdlc), 9, [b"\xff\x03\x00\x21" + b"\x45" + b"\0" * 19])
    garbage = tmp_path / "garbage.pcap"
    garbage.write_bytes(b"not a capture at all")
    cases = [
        ([str(empty)], "no frames"),
        ([str(hdlc)], "cannot be replayed"),
        ([str(garbage)], str(garbage)),
        ([str(tmp_path / "missing.pcap")], "cannot open"),
        ([str(empty), "--speed", "0"], "--speed"),
        ([str(empty), "--loop", "0"], "--loop"),
    ]
    for args, words in cases:
        r = synack("replay", *args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.startswith("synack: error:") and words in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    r = synack("replay", str(empty), "--speed", "2", "--topspeed")
    assert r.returncode == 2 and "not allowed with" in r.stderr


def test_oversized_frame_is_an_error_before_any_host_is_made(tmp_path):
    frame = bytes.fromhex("020000000002020000000001") + b"\x08\x00" + b"\x45" + b"\0" * 70000
    path = tmp_path / "huge.pcap"
    write_pcap(str(path), 1, [frame])
    with pytest.raises(SynackError, match="larger than a veth can carry"):
        rp.replay(str(path), speed=None)


def test_rewrite_checksums_match_a_reference():
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import Ether

    for l4 in (TCP(sport=1, dport=2, flags="S") / b"hello", UDP(sport=5, dport=6) / b"abc"):
        pkt = Ether(src="aa:aa:aa:aa:aa:aa", dst="bb:bb:bb:bb:bb:bb") / IP(src="10.0.0.9", dst="10.0.0.7") / l4
        out = rp.Rewriter(bytes(pkt)).rewrite(bytes(pkt), "client")
        ref = Ether(out)
        assert ref[IP].src == "192.0.2.1" and ref[IP].dst == "192.0.2.2"
        del ref[IP].chksum
        del ref[IP].payload.chksum
        assert bytes(Ether(bytes(ref))) == out
