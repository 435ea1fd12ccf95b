"""Every public corpus capture against tshark's truth, plus invariants of the export.

`synack analyze --format json` runs as a user would run it (a subprocess);
../shared/corpus/compare.py must accept it (exit 0: every exact field equal
on every frame; --strict: streams and frame count too) and every analysis tag
that occurs must reach F1 >= 0.95.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from viz.capture import open_capture
from viz.export import write_json

REPO = Path(__file__).resolve().parents[1]
from corpus_path import CORPUS_DIR  # noqa: E402
CORPUS = CORPUS_DIR
CAPTURES = sorted(p for p in CORPUS.glob("*") if p.suffix in (".pcap", ".pcapng", ".cap")
                  and (CORPUS / (p.stem + ".tshark.json")).exists())
TAGS = ["retransmission", "fast_retransmission", "spurious_retransmission", "out_of_order",
        "dup_ack", "zero_window", "zero_window_probe", "keep_alive", "keep_alive_ack",
        "window_update", "window_full", "lost_segment", "ack_lost_segment"]

pytestmark = pytest.mark.skipif(not CAPTURES, reason=f"no corpus at {CORPUS}")


def export(capture: Path, out: Path) -> dict:
    proc = subprocess.run([sys.executable, "-m", "tracer", "analyze", str(capture), "--format",
                           "json", "-o", str(out)], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text())


def tag_f1(export_doc: dict, truth: dict) -> dict[str, float]:
    got = {p["frame"]: set(p["analysis"]) for p in export_doc["packets"]}
    scores = {}
    for tag in TAGS:
        tp = fp = fn = 0
        for p in truth["packets"]:
            want = tag in p["analysis"]
            have = tag in got.get(p["frame"], ())
            tp += want and have
            fp += have and not want
            fn += want and not have
        if tp + fp + fn:
            scores[tag] = 2 * tp / (2 * tp + fp + fn)
    return scores


@pytest.mark.parametrize("capture", CAPTURES, ids=[p.name for p in CAPTURES])
def test_agrees_with_tshark(capture, tmp_path):
    out = tmp_path / "export.json"
    doc = export(capture, out)
    truth_path = CORPUS / (capture.stem + ".tshark.json")
    proc = subprocess.run([sys.executable, str(CORPUS / "compare.py"), "--strict", str(out),
                           str(truth_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    truth = json.loads(truth_path.read_text())
    for tag, f1 in tag_f1(doc, truth).items():
        assert f1 >= 0.95, f"{capture.name}: {tag} F1 {f1:.3f}"
    check_invariants(doc)


def check_invariants(doc: dict) -> None:
    packets = doc["packets"]
    assert [p["frame"] for p in packets] == list(range(1, len(packets) + 1))
    assert doc["capture"]["frames"] == len(packets)
    for p in packets:
        if p["proto"] == "tcp":
            assert (p["ack"] is None) == ("ACK" not in p["flags"]), p
        else:
            assert p["ack"] is None and p["flags"] == [] and p["analysis"] == []
    for proto in ("tcp", "udp"):
        listed = sorted(f for s in doc["streams"] if s["proto"] == proto for f in s["frames"])
        frames = [p["frame"] for p in packets if p["proto"] == proto]
        assert listed == frames, f"{proto} stream frame lists do not partition the {proto} frames"
        ids = [s["id"] for s in doc["streams"] if s["proto"] == proto]
        assert ids == list(range(len(ids)))
        for s in doc["streams"]:
            if s["proto"] == proto:
                assert all(packets[f - 1]["stream"] == s["id"] for f in s["frames"])


@pytest.mark.parametrize("capture", CAPTURES, ids=[p.name for p in CAPTURES])
def test_analysing_twice_gives_the_same_document(capture):
    docs = []
    for _ in range(2):
        buf = io.StringIO()
        with open_capture(capture) as cap:
            write_json(buf.write, cap, path=capture.name)
        docs.append(buf.getvalue())
    assert docs[0] == docs[1]
    check_invariants(json.loads(docs[0]))
