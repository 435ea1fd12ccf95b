"""The byte-matrix JSON renderer (viz.vector.JsonRows) writes exactly the bytes of
the per-row one, and the chunked readers give iteration's frames.

Both renderers take their numbers from the one engine; the batch decoder and
the per-frame decoder (`vector=False` decodes every frame with viz.decode)
must agree too, so a differing byte is a decoder or a renderer gap.
"""
from __future__ import annotations

import io
from pathlib import Path

import pytest

from corpus_path import CORPUS_DIR as CORPUS
from viz.capture import open_capture
from viz.export import write_json

REPO = Path(__file__).resolve().parents[1]
FILES = sorted(CORPUS.glob("*.pcap")) + sorted(CORPUS.glob("*.pcapng")) + \
    sorted((REPO / "captures").glob("*.pcapng"))


def _export(path: Path, vector: bool) -> str:
    buf = io.StringIO()
    with open_capture(path) as cap:
        write_json(buf.write, cap, path=path.name, vector=vector)
    return buf.getvalue()


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_vector_export_equals_engine(path):
    assert _export(path, True) == _export(path, False)


def test_bench_capture_equals_engine(tmp_path):
    """A generated capture with loss, retransmissions and many interleaved streams."""
    import subprocess
    import sys
    cap = tmp_path / "gen.pcap"
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "gen_capture.py"), str(cap),
                    "--frames", "30000", "--seed", "3"], check=True, capture_output=True)
    assert _export(cap, True) == _export(cap, False)


def test_damaged_pcap_same_stop_and_error(tmp_path):
    """Cut or corrupted pcap files: the mapped chunk reader stops where iteration
    stops, with the same message (with --partial) or the same error (without)."""
    import struct
    import subprocess
    import sys
    from viz.errors import SynackError
    src = tmp_path / "gen.pcap"
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "gen_capture.py"), str(src),
                    "--frames", "3000", "--seed", "5"], check=True, capture_output=True)
    data = src.read_bytes()
    big = bytearray(data)
    struct.pack_into("<I", big, 24 + 8, 1 << 20)  # first record longer than the snaplen
    cases = {"cut-header": data[:len(data) // 2 - 3], "cut-record": data[:len(data) - 100],
             "tail-8": data + b"\0" * 8, "oversize": bytes(big), "header-only": data[:24]}
    for name, blob in cases.items():
        p = tmp_path / f"{name}.pcap"
        p.write_bytes(blob)
        outs = []
        for vector in (True, False):
            buf = io.StringIO()
            with open_capture(p, partial=True) as cap:
                write_json(buf.write, cap, path=p.name, vector=vector)
                outs.append((buf.getvalue(), cap.truncated_at))
            try:
                with open_capture(p) as cap:
                    write_json(io.StringIO().write, cap, path=p.name, vector=vector)
                outs.append(None)
            except SynackError as exc:
                outs.append(str(exc))
        assert outs[0] == outs[2] and outs[1] == outs[3], name
        assert name == "header-only" or outs[0][1] or outs[1] is None


def test_forked_reader_is_reaped_when_abandoned(tmp_path):
    """The child that reads ahead is killed and reaped when the consumer stops early,
    and its results equal the in-process ones."""
    import os
    import subprocess
    import sys
    from viz.capture import forked_chunks
    src = tmp_path / "gen.pcap"
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "gen_capture.py"), str(src),
                    "--frames", "40000", "--seed", "2"], check=True, capture_output=True)
    with open_capture(src) as cap:
        here = [(ch.first, ch.n, ch.ts.tolist()) for ch in cap.chunks()]
    with open_capture(src) as cap:
        there = list(forked_chunks(cap, lambda ch: (ch.first, ch.n, ch.ts.tolist())))
    assert there == here and len(here) >= 2
    with open_capture(src) as cap:
        it = forked_chunks(cap, lambda ch: ch.n)
        next(it)
        it.close()
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


def _chunk_frames(cap):
    return [(ch.first + i, float(ch.ts[i]), int(ch.linktype[i]), ch.frame_bytes(i), int(ch.wire[i]))
            for ch in cap.chunks() for i in range(ch.n)]


def _iter_frames(cap):
    return [(f.number, f.ts, f.linktype, bytes(f.data), f.wire_len) for f in cap]


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_chunks_are_the_iterated_frames(path):
    """The mapped walk (numpy runs of packet blocks for pcapng) gives iteration's frames."""
    with open_capture(path) as cap:
        assert _chunk_frames(cap) == _iter_frames(cap)


def _gen_pcapng(tmp_path, frames: int, seed: int) -> bytes:
    import shutil
    import subprocess
    import sys
    if not shutil.which("editcap"):
        pytest.skip("needs editcap (tshark)")
    src, ng = tmp_path / "gen.pcap", tmp_path / "gen.pcapng"
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "gen_capture.py"), str(src),
                    "--frames", str(frames), "--seed", str(seed)], check=True, capture_output=True)
    subprocess.run(["editcap", "-F", "pcapng", str(src), str(ng)], check=True, capture_output=True)
    return ng.read_bytes()


def _blocks(data: bytes) -> list[int]:
    import struct
    offs, pos = [], 0
    while pos < len(data):
        offs.append(pos)
        pos += struct.unpack_from("<I", data, pos + 4)[0]
    return offs


def test_damaged_pcapng_same_frames_stop_and_error(tmp_path):
    """Damage in the middle of a run of packet blocks: the numpy run stops where
    the per-block walk stops and reports the same frame, offset and cause."""
    import struct
    from viz.errors import SynackError
    data = _gen_pcapng(tmp_path, 3000, 6)
    offs = _blocks(data)
    k = offs[len(offs) // 2]  # a packet block deep inside a run

    def patched(at, fmt, value):
        b = bytearray(data)
        struct.pack_into(fmt, b, at, value)
        return bytes(b)

    blen = struct.unpack_from("<I", data, k + 4)[0]
    cases = {
        "cut": data[:k + 40],
        "trailer": patched(k + blen - 4, "<I", blen + 4),
        "interface": patched(k + 8, "<I", 7),
        "caplen": patched(k + 20, "<I", blen),
        "odd-length": patched(k + 4, "<I", blen + 2),
        "tail": data + b"\0" * 8,
    }
    for name, blob in cases.items():
        p = tmp_path / f"{name}.pcapng"
        p.write_bytes(blob)
        with open_capture(p, partial=True) as cap:
            got = (_chunk_frames(cap), cap.truncated_at)
            want = (_iter_frames(cap), cap.truncated_at)
        assert got == want and want[1], name
        errors = []
        for walk in (_chunk_frames, _iter_frames):
            with open_capture(p) as cap, pytest.raises(SynackError) as exc:
                walk(cap)
            errors.append(str(exc.value))
        assert errors[0] == errors[1], name


def test_tcp_header_cut_by_the_snap_length(tmp_path):
    """A frame whose snap length ends inside the TCP header (10 of 20 bytes): the fields it
    lacks are null in both renderers, with the decoder's note; no traceback."""
    import json
    import struct

    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    raw = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="192.0.2.1", dst="192.0.2.2")
                / TCP(sport=1, dport=2, flags="PA") / (b"x" * 30))
    cap = tmp_path / "cut.pcap"
    cap.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 44, 1)
                    + struct.pack("<IIII", 1, 0, 44, len(raw)) + raw[:44])
    assert _export(cap, True) == _export(cap, False)
    p = json.loads(_export(cap, True))["packets"][0]
    assert (p["sport"], p["dport"], p["seq"], p["ack"], p["len"], p["win"]) == (1, 2, None, None, None, None)
    assert p["notes"] == ["TCP header cut short (10 of 20 bytes)"]


def test_udp_header_cut_by_the_snap_length(tmp_path):
    """A frame whose snap length ends inside the UDP header (1 of 8 bytes), as the fuzz test
    found: no traceback, and both renderers give the same line with the ports it has."""
    import json
    import struct

    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    raw = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="192.0.2.1", dst="192.0.2.2")
                / UDP(sport=1, dport=2) / (b"x" * 30))
    cap = tmp_path / "cut.pcap"
    cap.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 35, 1)
                    + struct.pack("<IIII", 1, 0, 35, len(raw)) + raw[:35])
    assert _export(cap, True) == _export(cap, False)
    p = json.loads(_export(cap, True))["packets"][0]
    assert p["proto"] != "udp" or (p["sport"], p["dport"]) == (None, None)
