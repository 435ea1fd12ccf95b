"""Reproducers of issue 15 item 7: `replay --iface` refuses foreign addresses, caps
the rate and says what it will send first.

Nothing is sent to a real interface: the interface is one end of a veth pair
whose both ends are inside a namespace of the test (the `hosts` fixture's
client; this kernel has no dummy driver), and its tx counter is the witness of
what left.
"""
from __future__ import annotations

import json
import struct
import subprocess
import sys

import pytest

from conftest import ROOT, needs_root
from tracer import replay_guard as guard

PY = sys.executable
MAC_A, MAC_B = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")


def ipv4_udp(src: str, dst: str, dst_mac: bytes = MAC_B, ethertype: int = 0x0800) -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, 17, 0, bytes(map(int, src.split("."))),
                     bytes(map(int, dst.split("."))))
    return dst_mac + MAC_A + struct.pack("!H", ethertype) + ip + struct.pack("!HHHH", 4000, 4001, 8, 0)


def write_pcap(path, frames) -> str:
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for i, data in enumerate(frames):
            f.write(struct.pack("<IIII", 1000, i * 1000, len(data), len(data)) + data)
    return str(path)


class F:
    def __init__(self, number, data):
        self.number, self.data = number, data


def test_addresses_of_ip_vlan_and_arp_frames():
    assert guard.addresses(ipv4_udp("192.0.2.1", "10.1.2.3")) == ("192.0.2.1", "10.1.2.3")
    tagged = MAC_B + MAC_A + b"\x81\x00\x00\x05" + ipv4_udp("192.0.2.1", "8.8.8.8")[12:]
    assert guard.addresses(tagged) == ("192.0.2.1", "8.8.8.8")
    arp = MAC_B + MAC_A + b"\x08\x06" + bytes.fromhex("0001080006040001") + MAC_A + bytes([192, 0, 2, 1]) \
        + b"\0" * 6 + bytes([198, 51, 100, 7])
    assert guard.addresses(arp) == ("192.0.2.1", "198.51.100.7")
    assert guard.addresses(MAC_B + MAC_A + b"\x88\xcc" + b"\0" * 40) is None


def test_check_refuses_the_first_frame_that_could_reach_a_real_host():
    ok = [F(1, ipv4_udp("192.0.2.1", "192.0.2.2")), F(2, ipv4_udp("10.0.0.1", "172.16.0.9"))]
    assert guard.check("c.pcap", ok, False) == [("192.0.2.1", "192.0.2.2"), ("10.0.0.1", "172.16.0.9")]
    cases = [
        (F(3, ipv4_udp("192.0.2.1", "93.184.216.34")), "frame 3 has address 93.184.216.34"),
        (F(4, ipv4_udp("192.0.2.1", "192.0.2.2", dst_mac=b"\xff" * 6)), "frame 4 goes to an Ethernet broadcast"),
        (F(5, MAC_B + MAC_A + b"\x88\xcc" + b"\0" * 40), "frame 5 is neither IP nor ARP"),
        (F(6, ipv4_udp("0.0.0.0", "192.0.2.2")), "frame 6 has address 0.0.0.0"),
    ]
    for frame, words in cases:
        with pytest.raises(Exception) as exc:
            guard.check("c.pcap", [*ok, frame], False)
        assert words in str(exc.value)
        assert guard.check("c.pcap", [*ok, frame], True)  # --allow-foreign


def test_the_rate_cap_spaces_the_schedule():
    assert guard.capped([0, 0, 0, 5_000_000], 1000) == [0, 1_000_000, 2_000_000, 5_000_000]
    assert guard.capped([0, 0], 0) == [0, 0]


def tx_packets(ns: str, iface: str) -> int:
    out = subprocess.run(["ip", "-n", ns, "-s", "-j", "link", "show", iface], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)[0]["stats64"]["tx"]["packets"]


@pytest.fixture
def dummy(hosts):
    ns = hosts.client.netns
    # The kernel here has no dummy driver: a veth pair with both ends in the test's
    # namespace is the same thing (what leaves d0 ends at d1, counted, nowhere else).
    subprocess.run(["ip", "-n", ns, "link", "add", "d0", "type", "veth", "peer", "name", "d1"], check=True)
    for dev in ("d0", "d1"):  # no IPv6 on them: its neighbour discovery would add to the counter
        subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1"],
                       check=True)
        subprocess.run(["ip", "-n", ns, "link", "set", dev, "up"], check=True)
    return ns


def replay_in(ns: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", ns, PY, "-m", "tracer", "replay", *args, "--iface", "d0"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)


@needs_root
@pytest.mark.netns
def test_foreign_addresses_are_refused_before_anything_is_sent(dummy, tmp_path, leak_check):
    path = write_pcap(tmp_path / "public.pcap", [ipv4_udp("192.0.2.1", "192.0.2.2"),
                                                 ipv4_udp("192.0.2.1", "93.184.216.34")])
    before = tx_packets(dummy, "d0")
    r = replay_in(dummy, path, "--topspeed")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip() == (f"synack: error: {path}: frame 2 has address 93.184.216.34, outside the "
                                "documentation and private test ranges; real hosts may answer at it (replay "
                                "--rewrite maps the endpoints to 192.0.2.1/.2, or --allow-foreign sends it "
                                "as it is)")
    assert tx_packets(dummy, "d0") == before
    r = replay_in(dummy, path, "--topspeed", "--allow-foreign")
    assert r.returncode == 0, r.stderr
    assert tx_packets(dummy, "d0") == before + 2


@needs_root
@pytest.mark.netns
def test_topspeed_is_capped_and_the_plan_printed_first(dummy, tmp_path, leak_check):
    """The issue's `--topspeed --loop 200` sent 347,000 frames/s; now at most 1000/s by
    default.  The printed rate is an upper bound that no load can break (a busy machine
    only sends slower)."""
    path = write_pcap(tmp_path / "doc.pcap", [ipv4_udp("192.0.2.1", "192.0.2.2")] * 3)
    before = tx_packets(dummy, "d0")
    r = replay_in(dummy, path, "--topspeed", "--loop", "200")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"about to send 600 frames of {path} out of d0 (3 x 200), at most 1000 frames/s")
    assert lines[1] == "addresses: 192.0.2.1 -> 192.0.2.2"
    assert any(line.startswith("frames sent 600 out of d0") for line in lines[2:])
    rate = float(next(line for line in lines if line.startswith("rate ")).split()[1].replace(",", ""))
    assert rate <= 1000 * 600 / 599 + 1  # 599 gaps of at least 1 ms; +1 for the printed rounding
    assert tx_packets(dummy, "d0") == before + 600
    r = replay_in(dummy, path, "--max-rate", "-5")
    assert r.returncode == 2 and "--max-rate" in r.stderr
