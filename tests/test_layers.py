"""`synack layers`: every corpus frame in every view, layout sums, goldens, bad input, figures."""
from __future__ import annotations

import argparse
import glob
import os
from pathlib import Path

import pytest

from viz import layers as L
from viz import layers_text as T
from viz.capture import open_capture
from viz import framefile
from viz.commands import layers as cmd
from viz.figures import analysis_of
from viz.errors import SynackError
from viz.headers import dissect

from corpus_path import CORPUS_DIR  # noqa: E402
CORPUS = str(CORPUS_DIR)
HERE = Path(__file__).parent
CAPTURES = sorted(glob.glob(f"{CORPUS}/*.pcap") + glob.glob(f"{CORPUS}/*.pcapng")
                  + glob.glob(str(HERE.parent / "captures" / "*.pcapng")))
GOLDEN = {  # name -> (capture, frame): real frames of the four textbook cases
    "syn": ("one_http_stream_fin.pcap", 1),
    "http_get": ("one_http_stream_fin.pcap", 4),
    "udp": ("DnsPackets.pcap", 1),
    "arp_request": ("example2.pcap", 31),
}


def _frames(path):
    with open_capture(path) as cap:
        return list(cap)


def _run(*argv):
    p = argparse.ArgumentParser(prog="synack")
    sub = p.add_subparsers()
    cmd.register(sub)
    args = p.parse_args(["layers", *argv])
    return args.run(args)


@pytest.mark.parametrize("path", CAPTURES, ids=os.path.basename)
def test_every_frame_renders_in_every_text_view(path):
    for fr in _frames(path):
        d = dissect(fr.linktype, fr.data, fr.wire_len)
        # the layers partition the captured bytes, in order
        assert sum(lay.length for lay in d.layers) == len(fr.data), fr.number
        pos = 0
        for lay in d.layers:
            assert lay.offset == pos, (fr.number, lay.key)
            pos += lay.length
        n = L.nested(d, None, fr.number)
        leaves = [b for r in n.roots for b in r.walk() if b.kind != "pdu" and b.captured]
        headers = [b for r in n.roots for b in r.walk() if b.kind == "pdu"]
        assert sum(b.size for b in leaves) + sum(b.header_size for b in headers) == len(fr.data)
        assert n.header_bytes + n.payload_bytes <= len(fr.data)
        s = L.stack(d)
        if s.rows:
            assert s.rows[-1].total == len(fr.data)
        for g in L.fields(d):
            bits = g.row_bits
            assert all(b == 32 for b in bits[:-1]), (fr.number, g.title, bits)
            assert sum(bits) == g.size * 8 or any(c.missing for row in g.rows for c in row)
        hd = L.hexdump(d)
        assert sum(len(r.cells) for r in hd.rows) == len(fr.data)
        out = T.views(d, None, fr.number, L.VIEWS)
        assert out.count("\n") > 10
        assert not L.compare(d, d) or not any(x.differs for x in L.compare(d, d))


def test_whole_row_headers_fill_every_row():
    for name, number in GOLDEN.values():
        fr = _frames(f"{CORPUS}/{name}")[number - 1]
        for g in L.fields(dissect(fr.linktype, fr.data, fr.wire_len)):
            if g.size % 4 == 0:
                assert set(g.row_bits) == {32}, g.title


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_text(name):
    capture, number = GOLDEN[name]
    path = f"{CORPUS}/{capture}"
    fr = framefile.load_frame(path, number)
    d = framefile.safe_dissect(fr)
    got = T.views(d, analysis_of(path).packet(number), number, L.VIEWS)
    golden = HERE / "golden" / f"layers_{name}.txt"
    if os.environ.get("SYNACK_REGOLD"):
        golden.write_text(got)
    assert got == golden.read_text()


def test_relative_and_raw_seq_in_nested_view():
    path = f"{CORPUS}/one_http_stream_fin.pcap"
    d = framefile.safe_dissect(framefile.load_frame(path, 4))
    text = T.nested(L.nested(d, analysis_of(path).packet(4), 4))
    assert "seq 1 (raw 4007155349), ack 1 (raw 2448902873)" in text
    assert "FCS \u00b7 4 B, not captured" in text
    assert "headers 54 B (12.7%), payload 367 B (86.4%)" in text


def test_cooked_and_raw_link_types_say_there_is_no_ethernet_box():
    for capture, word in (("sll.pcap", "no Ethernet box"), ("raw_ip.pcap", "no Ethernet box")):
        d = framefile.safe_dissect(framefile.load_frame(f"{CORPUS}/{capture}", 1))
        text = " ".join(T.nested(L.nested(d, None, 1)).split())
        assert word in text and "Ethernet frame" not in text and "FCS" not in text


def test_tunnel_has_one_box_per_layer():
    d = framefile.safe_dissect(framefile.load_frame(f"{CORPUS}/GrePackets.pcap", 4))
    titles = [b.title for r in L.nested(d).roots for b in r.walk()]
    assert [t for t in titles if "datagram" in t or "GRE" in t or "ICMP" in t] == \
        ["IPv4 datagram", "GRE packet", "IPv4 datagram", "ICMP message"]


def test_compare_marks_exactly_the_changed_fields():
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether

    def frame(src_mac, dst_mac, ttl):
        pkt = (Ether(src=src_mac, dst=dst_mac) / IP(src="192.0.2.1", dst="198.51.100.2", ttl=ttl, id=7) /
               TCP(sport=40000, dport=10000, flags="PA", seq=1, ack=1) / b"hello")
        return dissect(1, bytes(pkt))

    a = frame("02:00:00:00:00:01", "02:00:00:00:00:fe", 64)
    b = frame("02:00:00:00:00:fd", "02:00:00:00:00:02", 63)
    changed = {(x.layer, x.field) for x in L.compare(a, b) if x.differs}
    assert changed == {("Ethernet II", "Source MAC"), ("Ethernet II", "Destination MAC"),
                       ("IPv4", "Time to Live"), ("IPv4", "Header Checksum")}
    text = T.compare(L.compare(a, b), "a", "b")
    assert text.rstrip().endswith("4 fields differ: Ethernet II Destination MAC, Ethernet II Source MAC, "
                                  "IPv4 Time to Live, IPv4 Header Checksum")


# ---------------------------------------------------------------- bad input


def test_frame_out_of_range_is_one_line(capsys):
    with pytest.raises(SynackError, match=r"one_tcp_rst.pcap: frame 3 out of range \(the capture has 2 frames\)"):
        _run(f"{CORPUS}/one_tcp_rst.pcap", "--frame", "3")
    with pytest.raises(SynackError, match="--frame: 0: frames are numbered from 1"):
        _run(f"{CORPUS}/one_tcp_rst.pcap", "--frame", "0")


def test_unknown_view_is_one_line():
    with pytest.raises(SynackError, match="--view: 'ladder': choose from nested, stack"):
        _run(f"{CORPUS}/one_tcp_rst.pcap", "--frame", "1", "--view", "ladder")


def test_missing_file_and_bad_output(tmp_path):
    with pytest.raises(SynackError, match="no such file"):
        _run(str(tmp_path / "nope.pcap"), "--frame", "1")
    with pytest.raises(SynackError, match="unknown output format"):
        _run(f"{CORPUS}/one_tcp_rst.pcap", "--frame", "1", "-o", str(tmp_path / "x.gif"))


def test_undecodable_frame_is_drawn_as_raw_bytes(tmp_path, capsys):
    from scapy.utils import PcapWriter

    path = tmp_path / "user0.pcap"
    w = PcapWriter(str(path), linktype=147, sync=True)
    w.write(b"\xde\xad\xbe\xef" * 5)
    w.close()
    assert _run(str(path), "--frame", "1", "--view", "all") == 0
    out = capsys.readouterr().out
    assert "Undecoded bytes \u00b7 bytes 0-19 (20 B)" in out
    assert "is not decoded: bytes shown raw" in out
    assert "de ad be ef" in out


# ---------------------------------------------------------------- figures

FIGURE_SAMPLE = [("one_http_stream_fin.pcap", 1), ("one_http_stream_fin.pcap", 4), ("DnsPackets.pcap", 1),
                 ("example2.pcap", 31), ("GrePackets.pcap", 4), ("sll.pcap", 1), ("raw_ip.pcap", 1),
                 ("IcmpPackets.pcap", 2), ("ip6_fragments.pcap", 1), ("tcp-malformed.pcap", 1),
                 ("CiscoHDLC.pcap", 3), ("pcapng-example.pcapng", 1)]


@pytest.mark.parametrize("capture,number", FIGURE_SAMPLE)
def test_figures_render_for_a_sample(capture, number, tmp_path):
    assert _run(f"{CORPUS}/{capture}", "--frame", str(number), "--view", "all", "-o", str(tmp_path / "f.svg")) == 0
    for v in ("nested", "stack", "fields", "hex"):
        svg = (tmp_path / f"f-{v}.svg").read_text()
        assert svg.startswith("<?xml") and "<text" in svg


def test_figures_are_deterministic_and_vector(tmp_path):
    path = f"{CORPUS}/one_http_stream_fin.pcap"
    for fmt in ("svg", "pdf", "png"):
        a, b = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
        _run(path, "--frame", "4", "--view", "fields", "-o", str(a))
        _run(path, "--frame", "4", "--view", "fields", "-o", str(b), "--theme", "light")
        assert a.read_bytes() == b.read_bytes(), fmt
    assert "<text" in (tmp_path / "a.svg").read_text()  # text stays text


def test_compare_figure(tmp_path, capsys):
    path = f"{CORPUS}/one_http_stream_fin.pcap"
    assert _run(path, "--frame", "4", "--compare", path) == 0
    assert "0 fields differ" in capsys.readouterr().out
    assert _run(path, "--frame", "4", "--compare", path, "-o", str(tmp_path / "c.pdf"), "--theme", "print") == 0
    assert (tmp_path / "c.pdf").read_bytes().startswith(b"%PDF")


def test_hex_rows_option(tmp_path):
    """A full-size segment is 95 rows: 24 by default (a slide), all with --hex-rows 0 (print)."""
    path = str(HERE.parent / "captures" / "bulk.pcapng")
    frame = next(f.number for f in _frames(path) if len(f.data) >= 1500)
    def hex_svg(*opt):
        out = tmp_path / "h.svg"
        assert _run(path, "--frame", str(frame), "--view", "hex", "-o", str(out), *opt) == 0
        return out.read_text()
    default, whole, four = hex_svg(), hex_svg("--hex-rows", "0"), hex_svg("--hex-rows", "4")
    assert "more bytes not drawn" in default and "more bytes not drawn" in four
    assert "more bytes not drawn" not in whole and ">05e0<" in whole and ">05e0<" not in default
    assert ">0030<" in four and ">0040<" not in four
    with pytest.raises(SynackError, match="--hex-rows: -1: at least 0"):
        hex_svg("--hex-rows", "-1")
