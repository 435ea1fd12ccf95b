"""viz.capture on the real corpus and on damaged copies of it.

The corpus truth (tshark 4.0) gives frame counts, link types and relative
times; the damaged copies are made here by truncating or overwriting bytes of
real files, and every error must name the file and where it went wrong.
"""
from __future__ import annotations

import glob
import json
import math
import os
import re
import struct

import pytest

from viz.capture import RawFrame, open_capture, parse_meta
from viz.errors import SynackError

from corpus_path import CORPUS_DIR  # noqa: E402
CORPUS = str(CORPUS_DIR)
CAPTURES = sorted(glob.glob(os.path.join(CORPUS, "*.pcap")) + glob.glob(os.path.join(CORPUS, "*.pcapng")))
PCAP = os.path.join(CORPUS, "one_tcp_stream.pcap")  # little-endian microsecond pcap, 36 frames
PCAPNG = os.path.join(CORPUS, "pcapng-example.pcapng")


def truth(path):
    with open(os.path.splitext(path)[0] + ".tshark.json") as f:
        return json.load(f)


def test_corpus_is_there():
    assert len(CAPTURES) == 27


@pytest.mark.parametrize("path", CAPTURES, ids=os.path.basename)
def test_frames_link_types_and_times_match_tshark(path):
    t = truth(path)
    with open_capture(path) as cap:
        frames = list(cap)
        assert cap.truncated_at is None
        assert list(cap.link_types) == t["capture"]["link_types"]
    assert len(frames) == t["capture"]["frames"]
    assert [f.number for f in frames] == list(range(1, len(frames) + 1))
    t0 = frames[0].ts
    for f, p in zip(frames, t["packets"]):
        assert isinstance(f, RawFrame)
        assert len(f.data) <= f.wire_len or f.wire_len == 0
        # float epoch seconds hold ~0.2 us; tshark's relative time is exact
        assert math.isclose(f.ts - t0, p["t"], rel_tol=1e-12, abs_tol=1e-6), (f.number, f.ts - t0, p["t"])
        assert f.linktype == cap.interfaces[f.interface].linktype


def test_iterating_twice_gives_the_same_frames():
    with open_capture(PCAPNG) as cap:
        assert list(cap) == list(cap)


def test_pcap_header_facts():
    with open_capture(os.path.join(CORPUS, "nanosecs_big_endian.pcap")) as cap:
        assert cap.format == "pcap"
        assert cap.interfaces[0].tsresol == 10**9
        assert cap.interfaces[0].snaplen == 262144
        frames = list(cap)
    # nanosecond fractions survive: tshark shows 1.000000000-based relative times to the ns
    assert frames[1].ts != frames[0].ts


def test_pcapng_comments_interfaces_and_section_comment():
    with open_capture(PCAPNG) as cap:
        frames = list(cap)
        assert len(cap.interfaces) == 2
        assert cap.interfaces[0].name == "lo"
        assert cap.interfaces[0].tsresol == 10**9
        assert cap.section_comments and cap.section_comments[0].startswith("CLIENT_RANDOM")
        assert cap.meta == {}
    commented = [f for f in frames if f.comments]
    assert len(commented) == 100  # the corpus README: 100 packet comments
    assert {f.interface for f in frames} == {0, 1}


def test_many_interfaces():
    with open_capture(os.path.join(CORPUS, "many_interfaces-1.pcapng")) as cap:
        frames = list(cap)
        assert len(cap.interfaces) == 11
        assert cap.link_types == ("EN10MB", "NULL", "RAW")
    assert len({f.interface for f in frames}) == 2


def test_synack_metadata_comment(tmp_path):
    meta = {"schema": "synack-capture/1", "scenario": "tcp-echo", "calls": []}
    path = tmp_path / "meta.pcapng"
    path.write_bytes(pcapng([shb_block(["synack-capture/1\n" + json.dumps(meta), "other"]),
                             idb_block(1), epb_block(0, b"\x00" * 60, comment="client: connect()")]))
    with open_capture(path) as cap:
        assert cap.meta == meta
        assert cap.section_comments[1] == "other"
        (frame,) = list(cap)
    assert frame.comments == ("client: connect()",)
    assert parse_meta("synack-capture/1\n[1, 2]") == {}
    assert parse_meta("synack-capture/1\n{broken") == {}
    assert parse_meta("something else") == {}


def test_pcapng_tsresol_tsoffset_spb_opb_and_unknown_blocks(tmp_path):
    path = tmp_path / "blocks.pcapng"
    path.write_bytes(pcapng([
        shb_block([]),
        idb_block(101, tsresol=0x83, tsoffset=1000, name="tun0"),  # 2^-3 s units
        block(0x0BAD, b"custom" + b"\x00" * 6),  # custom block: skipped
        block(4, b"\x00" * 4),  # name resolution block: skipped
        epb_block(0, b"\x45" + b"\x00" * 19, ts=16),  # 16/8 s = 2 s
        block(3, struct.pack("<I", 20) + b"\x45" + b"\x00" * 19),  # simple packet block
        block(2, struct.pack("<HHIIII", 0, 0, 0, 24, 20, 20) + b"\x45" + b"\x00" * 19),  # obsolete packet block
        block(5, b"\x00" * 12),  # interface statistics: skipped
    ]))
    with open_capture(path) as cap:
        frames = list(cap)
        assert cap.interfaces[0].name == "tun0"
        assert cap.link_types == ("RAW",)
    assert [f.number for f in frames] == [1, 2, 3]
    assert frames[0].ts == 1002.0
    assert frames[2].ts == 1003.0
    assert all(f.data == b"\x45" + b"\x00" * 19 for f in frames)


def test_two_sections_with_different_byte_orders(tmp_path):
    path = tmp_path / "sections.pcapng"
    data = pcapng([shb_block([]), idb_block(1), epb_block(0, b"\x11" * 60)])
    data += pcapng([shb_block(["big"], endian=">"), idb_block(101, endian=">"),
                    epb_block(0, b"\x45" + b"\x00" * 19, endian=">")])
    path.write_bytes(data)
    with open_capture(path) as cap:
        frames = list(cap)
        assert cap.link_types == ("EN10MB", "RAW")
        assert cap.section_comments == ["big"]
    assert [(f.linktype, f.interface) for f in frames] == [(1, 0), (101, 1)]


# ------------------------------------------------------------------ bad input

def record_offsets(path):
    """(offset, incl) of every record of a little-endian pcap with 16-byte record headers."""
    data = open(path, "rb").read()
    pos, out = 24, []
    while pos < len(data):
        incl = struct.unpack_from("<I", data, pos + 8)[0]
        out.append((pos, incl))
        pos += 16 + incl
    return data, out


def expect_error(path, *patterns):
    with pytest.raises(SynackError) as info:
        with open_capture(path) as cap:
            for _ in cap:
                pass
    msg = str(info.value)
    assert str(path) in msg and "\n" not in msg
    for pat in patterns:
        assert re.search(pat, msg), msg
    return msg


def test_missing_file(tmp_path):
    expect_error(tmp_path / "nope.pcap", "cannot open")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pcap"
    path.write_bytes(b"")
    expect_error(path, "empty file")


def test_wrong_magic(tmp_path):
    path = tmp_path / "text.pcap"
    path.write_bytes(b"hello, this is not a capture\n" * 3)
    expect_error(path, r"byte 0: not a pcap or pcapng file \(magic 68656c6c\)")


def test_gzip(tmp_path):
    path = tmp_path / "x.pcap.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 40)
    expect_error(path, "gzip")


@pytest.mark.parametrize("cut", [4, 10, 23])
def test_truncated_pcap_header(tmp_path, cut):
    path = tmp_path / "short.pcap"
    path.write_bytes(open(PCAP, "rb").read()[:cut])
    expect_error(path, rf"byte {cut}: truncated pcap file header \({cut} of 24 bytes\)")


def test_truncated_pcapng_header(tmp_path):
    path = tmp_path / "short.pcapng"
    path.write_bytes(open(PCAPNG, "rb").read()[:20])
    expect_error(path, "byte 0")


def test_truncated_last_record(tmp_path):
    data, recs = record_offsets(PCAP)
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[:-10])
    off, incl = recs[-1]
    msg = expect_error(path, rf"frame 36 at byte {off}: record length {incl} runs past the end of the file "
                             rf"\({incl - 10} bytes left\)")
    assert "35 frames before it" in msg


def test_truncated_record_header(tmp_path):
    data, recs = record_offsets(PCAP)
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[:recs[5][0] + 7])
    expect_error(path, rf"frame 6 at byte {recs[5][0]}: truncated record header \(7 of 16 bytes")


def test_record_longer_than_snaplen(tmp_path):
    data, recs = record_offsets(PCAP)
    off = recs[2][0]
    bad = bytearray(data)
    struct.pack_into("<I", bad, off + 8, 70000)  # snaplen is 65535
    path = tmp_path / "big.pcap"
    path.write_bytes(bad)
    expect_error(path, rf"frame 3 at byte {off}: record length 70000 exceeds snaplen 65535")


def test_record_longer_than_the_file(tmp_path):
    data, recs = record_offsets(PCAP)
    off = recs[-2][0]
    bad = bytearray(data)
    struct.pack_into("<I", bad, off + 8, 60000)
    path = tmp_path / "long.pcap"
    path.write_bytes(bad)
    expect_error(path, rf"frame 35 at byte {off}: record length 60000 runs past the end of the file")


def test_garbage_after_valid_prefix(tmp_path):
    data, recs = record_offsets(PCAP)
    garbage = bytes(range(7, 250, 3)) * 2  # deterministic junk
    path = tmp_path / "junk.pcap"
    path.write_bytes(data + garbage)
    expect_error(path, rf"frame 37 at byte {len(data)}: record length \d+ exceeds snaplen 65535")


def test_garbage_after_valid_pcapng(tmp_path):
    data = open(PCAPNG, "rb").read()
    path = tmp_path / "junk.pcapng"
    path.write_bytes(data + b"\x06\x00\x00\x00\xff\xff\x00\x10" + b"junk" * 5)
    expect_error(path, rf"frame 160 at byte {len(data)}: bad block length \d+")


def pcapng_block_offsets(data):
    pos, out = 0, []
    while pos < len(data):
        btype, blen = struct.unpack_from("<II", data, pos)
        out.append((pos, btype, blen))
        pos += blen
    return out


@pytest.mark.parametrize("value,pattern", [(13, "bad block length 13"), (8, "bad block length 8"),
                                           (1 << 30, "runs past the end of the file"),
                                           (None, "does not match its trailer")])
def test_pcapng_bad_block_length(tmp_path, value, pattern):
    data = open(PCAPNG, "rb").read()
    blocks = [b for b in pcapng_block_offsets(data) if b[1] == 6]
    off, _, blen = blocks[9]  # the 10th packet
    bad = bytearray(data)
    struct.pack_into("<I", bad, off + 4, value if value is not None else blen + 4)
    path = tmp_path / "badlen.pcapng"
    path.write_bytes(bad)
    expect_error(path, rf"frame 10 at byte {off}: .*{pattern}")


def test_pcapng_bad_section_header_length(tmp_path):
    data = bytearray(open(PCAPNG, "rb").read())
    struct.pack_into("<I", data, 4, 7)
    path = tmp_path / "badshb.pcapng"
    path.write_bytes(data)
    expect_error(path, "byte 0: bad block length 7")


def test_pcapng_packet_for_an_undefined_interface(tmp_path):
    path = tmp_path / "noif.pcapng"
    path.write_bytes(pcapng([shb_block([]), idb_block(1), epb_block(3, b"\x00" * 60)]))
    expect_error(path, "frame 1 at byte 48: packet block refers to interface 3, but the section defines 1")


def test_partial_reads_the_valid_prefix(tmp_path):
    data, recs = record_offsets(PCAP)
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[:-10])
    with open_capture(path, partial=True) as cap:
        frames = list(cap)
        assert len(frames) == 35
        assert cap.truncated_at.startswith(f"frame 36 at byte {recs[-1][0]}: record length")
    with open_capture(PCAP, partial=True) as cap:
        assert len(list(cap)) == 36 and cap.truncated_at is None


def test_partial_pcapng(tmp_path):
    data = open(PCAPNG, "rb").read()
    path = tmp_path / "cut.pcapng"
    path.write_bytes(data[:len(data) // 2])
    with open_capture(path, partial=True) as cap:
        frames = list(cap)
        assert 0 < len(frames) < 159
        assert cap.truncated_at.startswith(f"frame {len(frames) + 1} at byte ")


def test_partial_without_a_header_still_fails(tmp_path):
    path = tmp_path / "empty.pcap"
    path.write_bytes(b"")
    with pytest.raises(SynackError, match="empty file"):
        open_capture(path, partial=True)
    path.write_bytes(b"\xd4\xc3\xb2\xa1\x02\x00")
    with pytest.raises(SynackError, match="truncated pcap file header"):
        open_capture(path, partial=True)


def test_memory_does_not_grow_with_the_file(tmp_path):
    """A 40 MB capture is read with a small, constant buffer (streaming)."""
    import subprocess
    import sys

    data, _ = record_offsets(os.path.join(CORPUS, "example2.pcap"))
    path = tmp_path / "big.pcap"
    with open(path, "wb") as f:
        f.write(data)
        for _ in range(14):
            f.write(data[24:])
    # VmHWM (peak RSS of this process image), not ru_maxrss: the latter keeps
    # the forking parent's size across exec
    code = ("import sys; from viz.capture import open_capture\n"
            "n = sum(1 for _ in open_capture(sys.argv[1]))\n"
            "hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
            "print(n, hwm)")
    root = os.path.join(os.path.dirname(__file__), "..")
    out = subprocess.run([sys.executable, "-c", code, str(path)], cwd=root, capture_output=True,
                         text=True, check=True).stdout.split()
    assert int(out[0]) == 4709 * 15
    assert int(out[1]) < 40_000  # KiB; the file is 41 MB


# ------------------------------------------------------------------ pcapng builders

def pad4(b):
    return b + b"\x00" * (-len(b) % 4)


def opt(code, value, endian="<"):
    return struct.pack(endian + "HH", code, len(value)) + pad4(value)


def block(btype, body, endian="<"):
    blen = 12 + len(body)
    return struct.pack(endian + "II", btype, blen) + body + struct.pack(endian + "I", blen)


def shb_block(comments, endian="<"):
    body = struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1)
    opts = b"".join(opt(1, c.encode(), endian) for c in comments)
    if opts:
        opts += opt(0, b"", endian)
    return block(0x0A0D0D0A, body + opts, endian)


def idb_block(linktype, snaplen=65535, tsresol=None, tsoffset=None, name=None, endian="<"):
    body = struct.pack(endian + "HHI", linktype, 0, snaplen)
    opts = b""
    if name:
        opts += opt(2, name.encode(), endian)
    if tsresol is not None:
        opts += opt(9, bytes([tsresol]), endian)
    if tsoffset is not None:
        opts += opt(14, struct.pack(endian + "q", tsoffset), endian)
    if opts:
        opts += opt(0, b"", endian)
    return block(1, body + opts, endian)


def epb_block(iface, data, ts=0, comment=None, endian="<"):
    body = struct.pack(endian + "IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data)) + pad4(data)
    if comment:
        body += opt(1, comment.encode(), endian) + opt(0, b"", endian)
    return block(6, body, endian)


def pcapng(blocks):
    return b"".join(blocks)


@pytest.mark.parametrize("endian,magic,units", [("<", 0xA1B2C3D4, 10**6), (">", 0xA1B2C3D4, 10**6),
                                                ("<", 0xA1B23C4D, 10**9), (">", 0xA1B23C4D, 10**9),
                                                ("<", 0xA1B2CD34, 10**6)])
def test_pcap_byte_orders_and_resolutions(tmp_path, endian, magic, units):
    frame = b"\x45" + b"\x00" * 39
    extra = b"\x00" * 8 if magic == 0xA1B2CD34 else b""  # Kuznetzov's longer record header
    data = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, 101)
    for i in range(3):
        data += struct.pack(endian + "IIII", 1_700_000_000 + i, units // 4, len(frame), 60) + extra + frame
    path = tmp_path / "x.pcap"
    path.write_bytes(data)
    with open_capture(path) as cap:
        frames = list(cap)
        assert cap.link_types == ("RAW",) and cap.interfaces[0].tsresol == units
    assert [f.ts for f in frames] == [1_700_000_000.25, 1_700_000_001.25, 1_700_000_002.25]
    assert all(f.data == frame and f.wire_len == 60 for f in frames)


@pytest.mark.parametrize("path", [PCAP, PCAPNG], ids=os.path.basename)
def test_standard_input_reads_like_the_file(path):
    """`tcpdump -w - | synack analyze -`: a pipe gives the same export as the file."""
    import subprocess
    import sys
    cmd = [sys.executable, "-m", "tracer", "analyze", "--format", "json"]
    from_file = subprocess.run(cmd + [path], capture_output=True, check=True).stdout
    with open(path, "rb") as f:
        piped = subprocess.run(cmd + ["-"], input=f.read(), capture_output=True, check=True).stdout
    assert b'"packets"' in piped
    assert piped == from_file.replace(f'"path": "{path}"'.encode(), b'"path": "/dev/stdin"')


def test_commands_that_read_twice_read_standard_input():
    """play reads the capture twice (analysis, then the frames it shows): the spool serves both."""
    import subprocess
    import sys
    with open(PCAP, "rb") as f:
        data = f.read()
    out = subprocess.run([sys.executable, "-m", "tracer", "play", "-", "--stream", "0"],
                         input=data, capture_output=True)
    assert out.returncode == 0, out.stderr
    assert b"SYN" in out.stdout


def test_empty_standard_input_is_a_clear_error():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "tracer", "analyze", "-"], input=b"", capture_output=True)
    assert out.returncode == 2
    assert out.stderr.decode().strip() == "synack: error: /dev/stdin: empty file, not a pcap or pcapng capture"
