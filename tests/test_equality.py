"""The one engine against tshark, field for field, on material nobody tuned it for.

Two sources of captures: the small public corpus committed in tests/corpus
(PcapPlusPlus' test captures with tshark's truth beside each, so a plain
clone keeps these tests), and TCP exchanges made up by a Hypothesis
generator (tests/tcpgen.py: handshakes, data both ways, SACK, loss,
reordering, retransmissions, keep-alives, zero windows, RST, port reuse,
interleaved streams), whose truth tshark computes here.  For each: the JSON
export equals the truth on every field of every frame and every stream; the
figures' model (viz.analysis.analyze, the Packets and Streams every figure is
drawn from) says exactly what the export says; and the rules give the same
answer compiled (numba) and interpreted.
"""
from __future__ import annotations

import importlib.util
import io
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from tcpgen import exchanges
from viz import tcp_analysis
from viz.analysis import analyze
from viz.capture import open_capture
from viz.export import write_json
from viz.model import flag_names

CORPUS = Path(__file__).resolve().parent / "corpus"
FILES = sorted(p for p in CORPUS.iterdir() if p.suffix in (".pcap", ".pcapng"))
STREAM_KEYS = ("id", "proto", "client", "server", "frames")


def export(path: Path) -> dict:
    buf = io.StringIO()
    with open_capture(path) as cap:
        write_json(buf.write, cap, path=path.name)
    return json.loads(buf.getvalue())


def assert_truth(doc: dict, truth: dict) -> None:
    """Every field the truth has, on every frame and stream, and the frame count."""
    assert doc["capture"]["frames"] == truth["capture"]["frames"]
    assert len(doc["packets"]) == len(truth["packets"])
    for got, want in zip(doc["packets"], truth["packets"]):
        for key, value in want.items():
            if key == "t":
                assert abs(got["t"] - value) <= 1e-6 * max(1.0, abs(value)), (got["frame"], value)
            else:
                assert got[key] == value, (got["frame"], key, got[key], value)
    assert [{k: s[k] for k in STREAM_KEYS} for s in doc["streams"]] == \
        [{k: s[k] for k in STREAM_KEYS} for s in truth["streams"]]


def assert_model_is_export(path: Path, doc: dict) -> None:
    """The figures' Packets and Streams carry the export's numbers."""
    with open_capture(path) as cap:
        a = analyze(cap, path=path.name)
    assert len(a.packets) == len(doc["packets"])
    for p, q in zip(a.packets, doc["packets"]):
        mine = {"frame": p.frame, "proto": p.proto, "src": p.src, "sport": p.sport, "dst": p.dst,
                "dport": p.dport, "stream": p.stream, "seq": p.seq, "ack": p.ack, "len": p.len,
                "win": p.win, "analysis": [t.value for t in p.analysis],
                "flags": flag_names(p.flags) if p.proto == "tcp" else []}
        assert mine == {k: q[k] for k in mine}, p.frame
        assert round(p.t, 9) == q["t"]
    assert len(a.streams) == len(doc["streams"])
    for s, q in zip(a.streams, doc["streams"]):
        assert (s.id, s.proto, str(s.client), str(s.server), list(s.frames), s.bytes_c2s,
                s.bytes_s2c, round(s.first_t, 9), round(s.last_t, 9)) == \
            (q["id"], q["proto"], q["client"], q["server"], q["frames"], q["bytes_c2s"],
             q["bytes_s2c"], q["first_t"], q["last_t"])
        if s.proto == "tcp":
            assert [(c.frame, c.side, c.before.value, c.after.value, c.event)
                    for c in s.states] == \
                [(c["frame"], c["side"], c["before"], c["after"], c["event"]) for c in q["states"]]


def exported_both_ways(path: Path) -> tuple[str, str]:
    """The JSON with the rules interpreted and with them compiled (numba, if installed)."""
    outs = []
    saved = tcp_analysis.COMPILE_AT
    for at in (1 << 62, 0):
        tcp_analysis.COMPILE_AT = at
        try:
            buf = io.StringIO()
            with open_capture(path) as cap:
                write_json(buf.write, cap, path=path.name)
            outs.append(buf.getvalue())
        finally:
            tcp_analysis.COMPILE_AT = saved
    return outs[0], outs[1]


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_committed_corpus_equals_tshark(path):
    truth = json.loads((CORPUS / (path.stem + ".tshark.json")).read_text())
    doc = export(path)
    assert_truth(doc, truth)
    assert_model_is_export(path, doc)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_compiled_equals_interpreted_on_corpus(path):
    a, b = exported_both_ways(path)
    assert a == b


def _truth_module():
    spec = importlib.util.spec_from_file_location("tshark_truth", CORPUS / "tshark_truth.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark (the truth)")
@pytest.mark.xfail(strict=False, reason="open: the generator still finds tshark 4.0 tag "
                   "differences around FINs and ACKED LOST marks (tests/corpus_known); the "
                   "failing example is printed")
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(data=exchanges())
def test_generated_exchanges_equal_tshark(tmp_path, data):
    path = tmp_path / "gen.pcap"
    path.write_bytes(data)
    truth = _truth_module().build_document(str(path), path.name)
    doc = export(path)
    assert_truth(doc, truth)
    assert_model_is_export(path, doc)
    a, b = exported_both_ways(path)
    assert a == b


@pytest.mark.xfail(strict=True, reason="open: tshark 4.0 calls frame 6 a fast retransmission "
                   "(a FIN after ACKED LOST's -1 mark); no rule found yet that also keeps "
                   "generated-4.pcap equal")
def test_known_gap_fast_retransmission_after_acked_lost():
    known = CORPUS.parent / "corpus_known"
    path = known / "generated-3.pcap"
    assert_truth(export(path), json.loads((known / "generated-3.tshark.json").read_text()))
