"""The header tables and the walk: widths, offsets and values against tshark and the decoder."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess

import pytest

from viz.capture import open_capture
from viz.decode import decode
from viz.headers import HEADERS, ICMP_REST, TCP_OPTIONS, dissect

from corpus_path import CORPUS_DIR  # noqa: E402
CORPUS = str(CORPUS_DIR)
CAPTURES = sorted(glob.glob(f"{CORPUS}/*.pcap") + glob.glob(f"{CORPUS}/*.pcapng"))


def frames(path):
    with open_capture(path) as cap:
        return list(cap)


def test_fixed_parts_have_their_rfc_sizes():
    sizes = {k: h.fixed_len for k, h in HEADERS.items()}
    assert sizes["ethernet"] == 14 and sizes["vlan"] == 4 and sizes["ipv4"] == 20
    assert sizes["ipv6"] == 40 and sizes["tcp"] == 20 and sizes["udp"] == 8 and sizes["arp"] == 8
    assert sizes["sll"] == 16 and sizes["sll2"] == 20 and sizes["icmp"] == 4
    for h in HEADERS.values():
        assert sum(f.bits for f in h.fields) % 8 == 0, h.key
    for rest in ICMP_REST.values():
        assert sum(f.bits for f in rest) == 32
    assert sum(f.bits for f in TCP_OPTIONS[8][1]) == 64


def test_tcp_syn_options_from_scapy_bytes():
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether

    opts = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (123456, 0)), ("NOP", None), ("WScale", 7)]
    raw = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") /
                IP(src="192.0.2.1", dst="192.0.2.2", ttl=64) /
                TCP(sport=40000, dport=10000, flags="S", seq=1000, options=opts))
    d = dissect(1, raw)
    assert [lay.key for lay in d.layers] == ["ethernet", "ipv4", "tcp"]
    tcp = d.first("tcp")
    assert tcp.offset == 34 and tcp.length == 40
    assert tcp.value("MSS") == 1460 and tcp.value("Shift Count") == 7
    assert tcp.value("TSval") == 123456 and tcp.value("TSecr") == 0
    assert tcp.value("SYN") == 1 and tcp.value("ACK") == 0 and tcp.value("Sequence Number") == 1000
    assert d.first("ethernet").field("Source MAC").text == "02:00:00:00:00:01"
    assert d.first("ipv4").field("Protocol").text == "6 (TCP)"
    # every field lies inside its layer, in order, without gaps
    for lay in d.headers:
        bit = lay.offset * 8
        for f in lay.fields:
            assert f.bit_offset == bit, (lay.key, f.name)
            bit += f.bits
        assert bit == (lay.offset + lay.length) * 8, lay.key


def test_vlan_arp_and_ipv6_fragment_from_scapy_bytes():
    from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment
    from scapy.layers.inet import UDP
    from scapy.layers.l2 import ARP, Dot1Q, Ether

    arp = bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src="02:00:00:00:00:01") / Dot1Q(vlan=42, prio=5) /
                ARP(op=1, psrc="192.0.2.1", pdst="192.0.2.2", hwsrc="02:00:00:00:00:01"))
    d = dissect(1, arp)
    assert [lay.key for lay in d.layers] == ["ethernet", "vlan", "arp"]
    assert d.first("vlan").value("VLAN ID") == 42 and d.first("vlan").value("Priority Code Point") == 5
    a = d.first("arp")
    assert a.field("Target Protocol Address").text == "192.0.2.2" and a.field("Operation").text == "1 (request)"
    frag = bytes(Ether() / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrFragment(offset=0, m=1, id=7) /
                 UDP(sport=5000, dport=53) / (b"x" * 40))
    d = dissect(1, frag)
    assert [lay.key for lay in d.layers] == ["ethernet", "ipv6", "ipv6-frag", "udp", "data"]
    assert d.first("ipv6-frag").value("More Fragments") == 1 and d.first("ipv6-frag").value("Identification") == 7
    assert d.first("ipv6").field("Source Address").text == "2001:db8::1"


def test_unknown_link_type_is_raw_bytes_with_a_note():
    d = dissect(147, b"\x01\x02\x03\x04")
    assert [(lay.key, lay.offset, lay.length) for lay in d.layers] == [("raw", 0, 4)]
    assert any("not decoded" in n for n in d.notes)


def test_cut_headers_never_raise_and_cover_every_byte():
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether

    raw = bytes(Ether() / IP() / TCP(options=[("MSS", 1460)]) / b"hello")
    for n in range(len(raw) + 1):
        d = dissect(1, raw[:n], len(raw))
        assert sum(lay.length for lay in d.layers) == n


# Layer names of viz.decode -> keys of viz.headers (the two walks must agree on offsets).
DECODER_NAMES = {"Ethernet": "ethernet", "IPv4": "ipv4", "IPv6": "ipv6", "TCP": "tcp", "UDP": "udp",
                 "ICMP": "icmp", "ICMPv6": "icmpv6", "ARP": "arp", "802.1Q": "vlan", "GRE": "gre",
                 "Linux cooked": "sll", "Linux cooked v2": "sll2", "Loopback": "null",
                 "Cisco HDLC": "chdlc", "PPP": "ppp", "IPv6 Fragment": "ipv6-frag"}


@pytest.mark.parametrize("path", CAPTURES, ids=os.path.basename)
def test_layers_agree_with_the_decoder(path):
    """Every header the fast decoder finds is where the table walk puts it."""
    for fr in frames(path):
        mine = {(lay.key, lay.offset, lay.length) for lay in dissect(fr.linktype, fr.data, fr.wire_len).layers}
        for name, off, length in decode(fr.linktype, fr.data, fr.wire_len).layers:
            if name in DECODER_NAMES:
                assert (DECODER_NAMES[name], off, length) in mine, (fr.number, name, off, length)


@pytest.mark.parametrize("linktype,prefix", [(0, b"\x02\x00\x00\x00"), (108, b"\x00\x00\x00\x02"),
                                             (101, b""), (228, b"")])
def test_link_types_the_decoder_walks_the_table_walks(linktype, prefix):
    """BSD loopback in host order (NULL) and network order (LOOP), raw IP: the layers
    figure shows what the decoder found, header for header."""
    from scapy.layers.inet import IP, TCP

    raw = prefix + bytes(IP(src="192.0.2.1", dst="192.0.2.2") / TCP(sport=1, dport=2) / b"abc")
    d = dissect(linktype, raw, len(raw))
    assert d.notes == ()
    mine = [(lay.key, lay.offset, lay.length) for lay in d.layers]
    assert mine == [(DECODER_NAMES.get(name, name.lower()), off, length)
                    for name, off, length in decode(linktype, raw, len(raw)).layers]


# ---------------------------------------------------------------- tshark

TSHARK_FIELDS = {
    # tshark field -> (layer key, table field name)
    "eth.src": ("ethernet", "Source MAC"), "eth.dst": ("ethernet", "Destination MAC"),
    "ip.ttl": ("ipv4", "Time to Live"), "ip.id": ("ipv4", "Identification"),
    "ip.len": ("ipv4", "Total Length"), "ip.checksum": ("ipv4", "Header Checksum"),
    "ip.src": ("ipv4", "Source Address"), "ip.proto": ("ipv4", "Protocol"),
    "ip.flags.df": ("ipv4", "Don't Fragment"), "ip.frag_offset": ("ipv4", "Fragment Offset"),
    "ipv6.hlim": ("ipv6", "Hop Limit"), "ipv6.src": ("ipv6", "Source Address"),
    "ipv6.plen": ("ipv6", "Payload Length"),
    "tcp.srcport": ("tcp", "Source Port"), "tcp.dstport": ("tcp", "Destination Port"),
    "tcp.seq_raw": ("tcp", "Sequence Number"), "tcp.ack_raw": ("tcp", "Acknowledgment Number"),
    "tcp.window_size_value": ("tcp", "Window"), "tcp.hdr_len": ("tcp", "Data Offset"),
    "tcp.checksum": ("tcp", "Checksum"), "tcp.options.mss_val": ("tcp", "MSS"),
    "tcp.options.wscale.shift": ("tcp", "Shift Count"), "tcp.options.timestamp.tsval": ("tcp", "TSval"),
    "udp.length": ("udp", "Length"), "udp.srcport": ("udp", "Source Port"),
    "udp.checksum": ("udp", "Checksum"),
    "arp.opcode": ("arp", "Operation"), "arp.src.proto_ipv4": ("arp", "Sender Protocol Address"),
    "arp.dst.hw_mac": ("arp", "Target Hardware Address"),
    "icmp.type": ("icmp", "Type"), "icmp.code": ("icmp", "Code"), "icmp.checksum": ("icmp", "Checksum"),
    "vlan.id": ("vlan", "VLAN ID"), "sll.pkttype": ("sll", "Packet Type"),
}
SAMPLE = ["one_http_stream_fin.pcap", "http-packets2.pcap", "DnsPackets.pcap", "tls.pcap", "sll.pcap",
          "four_ipv6_http_streams.pcap", "IcmpPackets.pcap", "ip4_fragments.pcap", "one_tcp_stream.pcap",
          "null_loopback.pcap", "example2.pcap"]


def _tshark(path: str, names: list[str], limit: int) -> list[list[str]]:
    cmd = ["tshark", "-n", "-r", path, "-c", str(limit), "-T", "fields", "-E", "occurrence=f",
           "-E", "separator=\t", "-o", "tcp.desegment_tcp_streams:FALSE", "-o", "ip.defragment:FALSE",
           "-o", "ipv6.defragment:FALSE"]
    for n in ["frame.number"] + names:
        cmd += ["-e", n]
    env = dict(os.environ, WIRESHARK_CONFIG_DIR="/nonexistent")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
    return [line.split("\t") for line in out.splitlines()]


def _as_tshark(key: str, field, lay) -> str:
    raw = field.raw
    if key in ("eth.src", "eth.dst", "ip.src", "ipv6.src", "arp.src.proto_ipv4", "arp.dst.hw_mac"):
        return field.text
    if key in ("ip.id", "ip.checksum", "tcp.checksum", "udp.checksum", "icmp.checksum"):
        return f"0x{raw:04x}"
    if key == "ip.flags.df":
        return "1" if raw else "0"
    if key == "tcp.hdr_len":
        return str(raw * 4)
    if key == "sll.pkttype":
        return str(raw)
    return str(raw)


@pytest.mark.skipif(not shutil.which("tshark"), reason="tshark not installed")
@pytest.mark.parametrize("name", SAMPLE)
def test_field_values_equal_tsharks(name):
    path = f"{CORPUS}/{name}"
    limit = 300
    names = list(TSHARK_FIELDS)
    rows = _tshark(path, names, limit)
    frs = frames(path)[:limit]
    checked = 0
    for row, fr in zip(rows, frs):
        assert int(row[0]) == fr.number
        d = dissect(fr.linktype, fr.data, fr.wire_len)
        for key, want in zip(names, row[1:]):
            if not want:
                continue
            layer_key, fname = TSHARK_FIELDS[key]
            lay = d.first(layer_key)
            if lay is None or "quoted" in lay.title:
                continue
            if key.startswith("tcp.options") and fname not in {f.name for f in lay.fields}:
                continue
            field = lay.field(fname)
            if field.missing:
                continue
            assert _as_tshark(key, field, lay) == want, (name, fr.number, key)
            checked += 1
    assert checked > len(frs)  # several fields of every frame were compared
