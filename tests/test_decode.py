"""viz.decode against tshark on every corpus frame, and on crafted frames.

The corpus truth is tshark 4.0's dissection (../shared/corpus); crafted frames
are built with scapy (an independent encoder) for the cases the corpus lacks:
tunnels, malformed headers, every link type, padding and snaplen.
"""
from __future__ import annotations

import glob
import json
import os
import struct

import pytest
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting
from scapy.layers.l2 import ARP, GRE, Dot1AD, Dot1Q, Ether
from scapy.layers.ppp import PPP, PPPoE
from scapy.layers.vxlan import VXLAN

from viz.capture import open_capture
import viz.decode
from viz.decode import Decoded, _decode, decode
from viz.model import TcpOptions, flag_names

from corpus_path import CORPUS_DIR  # noqa: E402
CORPUS = str(CORPUS_DIR)
CAPTURES = sorted(glob.glob(os.path.join(CORPUS, "*.pcap")) + glob.glob(os.path.join(CORPUS, "*.pcapng")))
A, B = "192.0.2.1", "192.0.2.2"


def Eth(**kw):
    """Ethernet with fixed MACs (scapy would otherwise try to resolve the destination)."""
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", **kw)


def truth(path):
    with open(os.path.splitext(path)[0] + ".tshark.json") as f:
        return json.load(f)["packets"]


def fields(d: Decoded) -> dict:
    """The analysis-json fields a decoder alone determines (no relative numbers)."""
    out = {"proto": d.proto, "src": d.src, "dst": d.dst, "sport": d.sport, "dport": d.dport,
           "flags": flag_names(d.flags) if d.proto == "tcp" else [],
           "len": d.tcp_len if d.proto == "tcp" else d.udp_len}
    if d.proto == "tcp" and not d.seq_analysis:
        out["seq"] = d.seq_raw  # tshark does no sequence analysis here: raw header values
        out["ack"] = d.ack_raw if d.flags & 0x10 else None
    return out


@pytest.mark.parametrize("path", CAPTURES, ids=os.path.basename)
def test_every_frame_agrees_with_tshark(path):
    packets = truth(path)
    with open_capture(path) as cap:
        frames = list(cap)
    assert len(frames) == len(packets)
    for fr, p in zip(frames, packets):
        got = fields(decode(fr.linktype, fr.data, fr.wire_len))
        want = {k: p[k] for k in got}
        assert got == want, f"frame {fr.number}"


@pytest.mark.parametrize("path", CAPTURES, ids=os.path.basename)
def test_fast_path_equals_general_walk(path):
    """The Ethernet/IPv4 fast path is an optimisation only: same result as the full walk."""
    with open_capture(path) as cap:
        for fr in cap:
            same_as_walk(fr.linktype, fr.data, fr.wire_len)


def same_as_walk(linktype, data, wire_len):
    a = decode(linktype, data, wire_len)
    b = _decode(linktype, data, wire_len)
    for k in Decoded.FIELDS:
        assert getattr(a, k) == getattr(b, k), k
    return a


def test_fast_path_is_taken_for_plain_tcp_and_udp(monkeypatch):
    tcp = bytes(Eth() / IP(src=A, dst=B) / TCP(sport=40000, dport=10000, flags="PA") / (b"x" * 20))
    udp = bytes(Eth() / IP(src=A, dst=B) / UDP(sport=40000, dport=10000) / (b"x" * 20))
    monkeypatch.setattr(viz.decode, "_decode", None)  # the general walk must not be reached
    assert decode(1, tcp, len(tcp)).proto == "tcp"
    assert decode(1, udp, len(udp)).proto == "udp"


# ------------------------------------------------------------------ crafted frames

def dec(pkt, linktype=1, cut=None):
    raw = bytes(pkt)
    data = raw if cut is None else raw[:cut]
    return same_as_walk(linktype, data, len(raw))


def test_layers_of_a_data_segment():
    tcp = TCP(sport=40000, dport=10000, flags="PA", options=[("NOP", None), ("NOP", None),
                                                            ("Timestamp", (1, 2))])
    d = dec(Eth() / IP(src=A, dst=B) / tcp / (b"y" * 20))
    assert d.layers == (("Ethernet", 0, 14), ("IPv4", 14, 20), ("TCP", 34, 32), ("Data", 66, 20))
    assert d.payload == b"y" * 20
    assert d.options == TcpOptions(ts_val=1, ts_ecr=2)
    assert (d.proto, d.src, d.dst, d.sport, d.dport, d.tcp_len) == ("tcp", A, B, 40000, 10000, 20)
    assert flag_names(d.flags) == ["ACK", "PSH"]
    assert d.notes == ()


def test_syn_options():
    opts = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (123, 0)), ("NOP", None), ("WScale", 7)]
    d = dec(Eth() / IP(src=A, dst=B) / TCP(flags="S", seq=1000, options=opts))
    assert d.options == TcpOptions(mss=1460, wscale=7, sack_perm=True, ts_val=123, ts_ecr=0)
    assert d.seq_raw == 1000 and d.tcp_len == 0 and d.seq_analysis


def test_payload_preview_is_capped_at_64_bytes():
    d = dec(Eth() / IP(src=A, dst=B) / UDP(sport=5, dport=6) / (b"z" * 500))
    assert d.payload == b"z" * 64 and d.udp_len == 500


def test_ethernet_padding_does_not_count():
    raw = bytes(Eth() / IP(src=A, dst=B) / TCP(flags="PA") / b"abcdef")
    assert len(raw) == 60  # scapy pads to the Ethernet minimum
    raw = bytes(Eth() / IP(src=A, dst=B) / TCP(flags="PA") / b"ab") + b"\x00" * 4
    d = same_as_walk(1, raw, len(raw))
    assert d.tcp_len == 2 and d.payload == b"ab"
    assert d.layers[-1] == ("Data", 54, 2)


def test_snaplen_does_not_change_tcp_len():
    pkt = Eth() / IP(src=A, dst=B) / TCP(flags="PA") / (b"q" * 1000)
    for cut in (54, 60, 100):
        d = dec(pkt, cut=cut)
        assert d.tcp_len == 1000 and d.proto == "tcp" and d.seq_analysis


def test_snaplen_cutting_the_udp_header_keeps_the_ports():
    d = dec(Eth() / IP(src=A, dst=B) / UDP(sport=53, dport=4000) / b"abc", cut=38)
    assert (d.proto, d.sport, d.dport, d.udp_len) == ("udp", 53, 4000, None)
    assert "cut short" in d.notes[0]


def test_ipv4_ihl_below_5_is_other_with_a_note():
    raw = bytearray(bytes(Eth() / IP(src=A, dst=B) / TCP()))
    raw[14] = 0x44
    d = same_as_walk(1, bytes(raw), len(raw))
    assert d.proto == "other" and "IHL 4" in d.notes[0]


def test_tcp_data_offset_below_5():
    raw = bytearray(bytes(Eth() / IP(src=A, dst=B) / TCP(sport=1, dport=2, seq=7, ack=9, flags="A")))
    raw[46] = 0x40
    d = same_as_walk(1, bytes(raw), len(raw))
    assert (d.proto, d.seq_analysis, d.tcp_len, d.seq_raw, d.ack_raw) == ("tcp", False, None, 7, 9)
    assert "data offset 4 below 5" in d.notes[0]


def test_tcp_data_offset_past_the_segment():
    raw = bytearray(bytes(Eth() / IP(src=A, dst=B) / TCP(flags="A")))
    raw[46] = 0xF0  # 60-byte header in a 20-byte segment
    d = same_as_walk(1, bytes(raw), len(raw))
    assert d.proto == "tcp" and not d.seq_analysis and d.tcp_len is None
    assert "exceeds the segment" in d.notes[0]


def test_zero_length_udp():
    raw = bytearray(bytes(Eth() / IP(src=A, dst=B) / UDP(sport=1, dport=2) / b"data"))
    raw[38:40] = b"\x00\x00"
    d = same_as_walk(1, bytes(raw), len(raw))
    assert d.proto == "udp" and d.udp_len is None and d.notes == ("UDP length 0",)


def test_unknown_ethertype():
    d = dec(Eth(type=0x88B5) / (b"\x01" * 40))
    assert d.proto == "other" and d.src is None and d.notes == ("EtherType 0x88b5 is not decoded",)


def test_vlan_and_qinq():
    inner = IP(src=A, dst=B) / TCP(sport=1, dport=2)
    assert dec(Eth() / Dot1Q(vlan=5) / inner).proto == "tcp"
    d = dec(Eth() / Dot1AD(vlan=5) / Dot1Q(vlan=6) / inner)
    assert d.proto == "tcp" and [x[0] for x in d.layers][:3] == ["Ethernet", "802.1ad", "802.1Q"]


def test_mpls():
    d = dec(Eth() / MPLS(label=16, s=0) / MPLS(label=17, s=1) / IP(src=A, dst=B) / UDP(sport=1, dport=2))
    assert (d.proto, d.src, d.sport) == ("udp", A, 1)
    assert ("MPLS", 14, 8) in d.layers


def test_pppoe():
    d = dec(Eth() / PPPoE(sessionid=1) / PPP(proto=0x0021) / IP(src=A, dst=B) / TCP(sport=3, dport=4))
    assert (d.proto, d.src, d.dport) == ("tcp", A, 4)


def test_gre_with_key_and_sequence():
    d = dec(Eth() / IP(src="10.0.0.1", dst="10.0.0.2") / GRE(key_present=1, key=5, seqnum_present=1, sequence_number=9)
            / IP(src=A, dst=B) / TCP(sport=5, dport=6) / b"hi")
    assert (d.proto, d.src, d.dst, d.tcp_len) == ("tcp", A, B, 2)
    assert ("GRE", 34, 12) in d.layers


def test_ethernet_over_gre():
    d = dec(Eth() / IP(src="10.0.0.1", dst="10.0.0.2") / GRE(proto=0x6558) / Eth()
            / IP(src=A, dst=B) / UDP(sport=7, dport=8) / b"x")
    assert (d.proto, d.src, d.udp_len) == ("udp", A, 1)


def test_ip_in_ip_and_6in4():
    d = dec(Eth() / IP(src="10.0.0.1", dst="10.0.0.2") / IP(src=A, dst=B) / UDP(sport=1, dport=2))
    assert (d.proto, d.src) == ("udp", A)
    d = dec(Eth() / IP(src="10.0.0.1", dst="10.0.0.2") / IPv6(src="2001:db8::1", dst="::ffff:1.2.3.4")
            / TCP(sport=1, dport=2) / b"abc")
    assert (d.proto, d.src, d.dst, d.tcp_len) == ("tcp", "2001:db8::1", "::ffff:1.2.3.4", 3)


def test_ipv6_extension_headers():
    d = dec(Eth() / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrHopByHop()
            / IPv6ExtHdrRouting() / IPv6ExtHdrDestOpt() / TCP(sport=1, dport=2) / b"abcd")
    assert (d.proto, d.tcp_len, d.sport) == ("tcp", 4, 1)
    assert [x[0] for x in d.layers] == ["Ethernet", "IPv6", "IPv6 Hop-by-Hop", "IPv6 Routing",
                                        "IPv6 Destination", "TCP", "Data"]


def test_ipv6_fragments():
    first = dec(Eth() / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrFragment(m=1, offset=0)
                / UDP(sport=1, dport=2, len=3008) / (b"a" * 100))
    assert (first.proto, first.udp_len) == ("udp", 3000)
    later = dec(Eth() / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrFragment(m=1, offset=13, nh=17)
                / (b"a" * 100))
    assert (later.proto, later.src, later.sport) == ("other", "2001:db8::1", None)


def test_ipv4_fragments():
    first = dec(Eth() / IP(src=A, dst=B, flags="MF") / TCP(sport=1, dport=2, seq=5, flags="A") / (b"a" * 16))
    assert (first.proto, first.seq_analysis, first.tcp_len, first.seq_raw) == ("tcp", False, None, 5)
    later = dec(Eth() / IP(src=A, dst=B, frag=3, proto=6) / (b"a" * 16))
    assert (later.proto, later.src, later.dst, later.sport) == ("other", A, B, None)


def test_transport_inside_transport_is_not_looked_through():
    d = dec(Eth() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1234, dport=4789) / VXLAN(vni=1)
            / Eth() / IP(src=A, dst=B) / TCP(sport=1, dport=2))
    assert (d.proto, d.src, d.dport) == ("udp", "10.0.0.1", 4789)
    d = dec(Eth() / IP(src="10.0.0.1", dst=A) / ICMP(type=3, code=3) / IP(src=A, dst=B) / UDP(sport=9, dport=53))
    assert (d.proto, d.src, d.sport, d.icmp[:2]) == ("icmp", "10.0.0.1", None, (3, 3))


def test_arp():
    d = dec(Eth() / ARP(psrc=A, pdst=B))
    assert (d.proto, d.src, d.dst) == ("arp", A, B)


LINK_CASES = [
    (101, lambda p: bytes(p)),
    (12, lambda p: bytes(p)),
    (228, lambda p: bytes(p)),
    (113, lambda p: struct.pack("!HHH8sH", 0, 1, 6, b"\x02" * 8, 0x0800) + bytes(p)),
    (276, lambda p: struct.pack("!HHIHBB8s", 0x0800, 0, 1, 1, 0, 6, b"\x02" * 8) + bytes(p)),
    (0, lambda p: struct.pack("<I", 2) + bytes(p)),
    (0, lambda p: struct.pack(">I", 2) + bytes(p)),
    (108, lambda p: struct.pack(">I", 2) + bytes(p)),
    (104, lambda p: b"\x0f\x00\x08\x00" + bytes(p)),
    (9, lambda p: b"\xff\x03\x00\x21" + bytes(p)),
    (9, lambda p: b"\x00\x21" + bytes(p)),
]


@pytest.mark.parametrize("linktype,wrap", LINK_CASES)
def test_link_types(linktype, wrap):
    raw = wrap(IP(src=A, dst=B) / TCP(sport=1, dport=2, flags="S"))
    d = same_as_walk(linktype, raw, len(raw))
    assert (d.proto, d.src, d.dst, d.sport, d.tcp_len) == ("tcp", A, B, 1, 0)


@pytest.mark.parametrize("linktype,wrap", [c for c in LINK_CASES if c[0] not in (104, 9)])
def test_fast_path_covers_common_link_types(monkeypatch, linktype, wrap):
    monkeypatch.setattr(viz.decode, "_decode", None)  # the general walk must not be reached
    for pkt in (IP(src=A, dst=B) / TCP(sport=1, dport=2, options=[("NOP", None), ("NOP", None),
                                                                 ("Timestamp", (5, 6))]) / b"abc",
                IP(src=A, dst=B) / UDP(sport=1, dport=2) / b"abc"):
        raw = wrap(pkt)
        d = decode(linktype, raw, len(raw))
        assert (d.src, d.dst, d.sport, d.dport) == (A, B, 1, 2)
        assert d.layers[-1][2] == 3 and d.payload == b"abc"


def test_fast_path_vlan(monkeypatch):
    monkeypatch.setattr(viz.decode, "_decode", None)
    raw = bytes(Eth() / Dot1Q(vlan=7) / IP(src=A, dst=B) / TCP(sport=1, dport=2) / b"abc")
    d = decode(1, raw, len(raw))
    assert d.layers == (("Ethernet", 0, 14), ("802.1Q", 14, 4), ("IPv4", 18, 20), ("TCP", 38, 20),
                        ("Data", 58, 3))


def test_ipv6_raw_link():
    raw = bytes(IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=1, dport=2) / b"xy")
    d = same_as_walk(229, raw, len(raw))
    assert (d.proto, d.src, d.udp_len) == ("udp", "2001:db8::1", 2)


def test_unknown_link_type():
    d = decode(147, b"\x00" * 40, 40)
    assert d.proto == "other" and "link type 147" in d.notes[0]


CUT_PACKETS = [
    Eth() / IP(src=A, dst=B) / TCP(options=[("MSS", 1460), ("WScale", 2)]) / b"hello",
    Eth() / Dot1Q() / IP(src=A, dst=B) / GRE(key_present=1) / IP() / UDP() / b"x",
    Eth() / IPv6() / IPv6ExtHdrHopByHop() / IPv6ExtHdrFragment() / TCP(),
    Eth() / PPPoE() / PPP() / IP() / ICMP(),
    Eth() / ARP(),
]


@pytest.mark.parametrize("pkt", CUT_PACKETS, ids=lambda p: p.summary())
def test_every_truncation_is_decoded_without_exception(pkt):
    raw = bytes(pkt)
    for cut in range(len(raw) + 1):
        same_as_walk(1, raw[:cut], len(raw))


# ------------------------------------------------------------------ the project's own captures

OWN = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "captures", "**", "*.pcapng"), recursive=True))


@pytest.mark.skipif(not OWN, reason="no captures in captures/")
@pytest.mark.parametrize("path", OWN, ids=os.path.basename)
def test_own_captures_agree_with_tshark_live(path):
    """The tracer's pcapng files: metadata, comments, and tshark's truth computed now."""
    import shutil
    import subprocess
    import sys

    if not shutil.which("tshark"):
        pytest.skip("tshark not installed")
    out = subprocess.run([sys.executable, os.path.join(CORPUS, "tshark_truth.py"), path],
                         capture_output=True, text=True, check=True).stdout
    doc = json.loads(out)
    with open_capture(path) as cap:
        frames = list(cap)
        assert cap.meta.get("schema") == "synack-capture/1"
        assert list(cap.link_types) == doc["capture"]["link_types"]
    assert len(frames) == len(doc["packets"])
    assert any(f.comments for f in frames)
    for fr, p in zip(frames, doc["packets"]):
        got = fields(decode(fr.linktype, fr.data, fr.wire_len))
        assert got == {k: p[k] for k in got}, f"frame {fr.number}"
