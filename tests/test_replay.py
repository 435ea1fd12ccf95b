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


# --- long idle gaps: --max-gap ----------------------------------------------------

GAP_TIMES = [0.0, 0.001, 7.0, 7.002, 9.5]  # two idle gaps of 7 s and 2.5 s


def gap_capture(path):
    eth = bytes.fromhex("020000000002020000000001") + b"\x08\x00"
    frames = []
    for i in range(len(GAP_TIMES)):
        ip = bytes.fromhex("4500001c") + i.to_bytes(2, "big") + bytes.fromhex("00004011") + b"\0\0" \
            + bytes([192, 0, 2, 1, 192, 0, 2, 2]) + bytes.fromhex("04d2162e00080000")
        frames.append(eth + ip)
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for t, data in zip(GAP_TIMES, frames):
            us = round(t * 1e6)
            f.write(struct.pack("<IIII", 1000 + us // 10**6, us % 10**6, len(data), len(data)) + data)
    return frames


def test_max_gap_shortens_only_the_long_gaps(tmp_path):
    frames = [rp.Frame(i + 1, round(t * 1e9), "client", b"") for i, t in enumerate(GAP_TIMES)]
    ms = 1_000_000
    assert rp.schedule(frames, 1.0, 1) == [0, 1 * ms, 7000 * ms, 7002 * ms, 9500 * ms]
    assert rp.schedule(frames, 1.0, 1, 1000 * ms) == [0, 1 * ms, 1001 * ms, 1003 * ms, 2003 * ms]
    # the cap applies to the paced gaps (after --speed), as tcpreplay's --maxsleep does
    assert rp.schedule(frames, 2.0, 1, 1000 * ms) == [0, ms // 2, 1000 * ms + ms // 2,
                                                      1001 * ms + ms // 2, 2001 * ms + ms // 2]
    # loops are joined by the mean gap (9.5 s / 4), capped like any other
    two = rp.schedule(frames, 1.0, 2, 1000 * ms)
    assert two[5] - two[4] == 1000 * ms and two[5:] == [x + two[5] for x in two[:5]]
    assert rp.schedule(frames, None, 1, 1000 * ms) == [0] * 5  # topspeed has no gaps


def test_long_replay_is_announced_with_its_longest_gap(tmp_path, capsys):
    from tracer.commands.replay import announce

    path = str(tmp_path / "gaps.pcap")
    gap_capture(path)
    frames, linktype = rp.load(path)
    for max_gap, expect in ((None, "replaying 5 frames over 9.5 s; longest gap 7 s, before frame 3 "
                                   "(--max-gap 1s would shorten it)"),
                            (3_000_000_000, "replaying 5 frames over 5.5 s; longest gap 3 s, before frame 3")):
        report = rp.ReplayReport(path, linktype, 5, 1, 1.0, False, 1500, max_gap_ns=max_gap)
        rp.plan(report, frames)
        announce(report)
        assert capsys.readouterr().out.strip() == expect
    report = rp.ReplayReport(path, linktype, 5, 1, 1.0, False, 1500, max_gap_ns=1_000_000_000)
    rp.plan(report, frames)
    announce(report)  # 2.0 s: short replays start without a word
    assert capsys.readouterr().out == "" and report.gaps_capped == 2


@needs_root
def test_max_gap_replay_arrives_on_the_shortened_schedule(hosts, tmp_path, leak_check):
    path = str(tmp_path / "gaps.pcap")
    frames = gap_capture(path)
    report = rp.replay(path, speed=1.0, hosts=hosts, max_gap_ns=200_000_000)
    assert_clean(report, 5)
    assert [d for _, d in report.arrived_frames] == frames
    assert report.gaps_capped == 2 and report.span_ns == 403_000_000  # not 9.5 s
    assert "gaps capped at 0.2 s (2 shortened)" in report.lines()[0]
    assert len(report.errors_ns) == 5  # arrivals measured against the shortened schedule


# --- --iface: onto a real interface (a veth of the test's own namespaces) -----------

@needs_root
def test_iface_sends_byte_identical_frames_out_of_a_real_interface(hosts, tmp_path, leak_check):
    """`synack replay --iface veth0` run inside the client namespace (as a user would on a
    real host) puts every frame on that interface; the server end of the veth receives them."""
    path = corpus("one_http_stream_fin.pcap")
    stored = [d for _, d in frames_of(path)]
    rp.block_stack(hosts.server.netns)
    sniffer = rp._vlan_sniffer(hosts.server.netns, "veth0")
    sniffer.start()
    try:
        r = subprocess.run(["ip", "netns", "exec", hosts.client.netns, PY, "-m", "tracer", "replay",
                            path, "--iface", "veth0", "--speed", "8", "--allow-foreign"],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
        sniffer.stop()
    finally:
        sniffer.close()
    assert r.returncode == 0, r.stderr
    assert f"frames sent {len(stored)} out of veth0" in r.stdout
    assert [d for _, d in sniffer.frames] == stored
    # a frame the interface cannot carry is refused before anything is sent
    jumbo = str(tmp_path / "jumbo.pcap")
    write_pcap(jumbo, 1, [bytes.fromhex("020000000002020000000001") + b"\x08\x00\x45" + b"\0" * 3999])
    r = subprocess.run(["ip", "netns", "exec", hosts.client.netns, PY, "-m", "tracer", "replay",
                        jumbo, "--iface", "veth0", "--allow-foreign"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "frame 1 is 4014 bytes, larger than veth0's MTU 1500" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@needs_root
def test_cli_max_gap_shortens_a_long_pause(tmp_path, leak_check):
    path = str(tmp_path / "gaps.pcap")
    frames = gap_capture(path)
    out = tmp_path / "arrived.pcapng"
    r = synack("replay", path, "--max-gap", "100ms", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "gaps capped at 0.1 s (2 shortened)" in r.stdout
    assert "byte-identical: yes; order preserved: yes" in r.stdout
    assert [d for _, d in frames_of(str(out))] == frames
    with open_capture(str(out)) as cap:
        assert cap.meta["replay"]["max_gap_ns"] == 100_000_000 and cap.meta["replay"]["gaps_capped"] == 2


def test_iface_bad_input_is_one_line_exit_2(tmp_path):
    path = str(tmp_path / "gaps.pcap")
    gap_capture(path)
    for args, words in (
            (["--iface", "nosuch0"], "--iface 'nosuch0': no such network interface"),
            (["--iface", "lo", "-o", str(tmp_path / "a.pcapng")], "cannot be used with --iface"),
            (["--max-gap", "-1s"], "--max-gap '-1s': must be positive"),
            (["--max-gap=-1s"], "--max-gap '-1s': must be positive"),
            (["--max-gap", "0"], "--max-gap '0': must be positive"),
            (["--max-gap", "soon"], "--max-gap 'soon': expected a duration"),
            (["--max-gap", "1s", "--topspeed"], "with --topspeed there are none")):
        r = synack("replay", path, *args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.startswith("synack: error:") and words in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1
