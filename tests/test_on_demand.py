"""Packets made on demand (viz.analysis.analyze_on_demand, what the ladder reads a
classic pcap file with) are the Packets `analyze` makes, and so are the figures.

The on-demand analysis runs the one engine over every frame from the mapped
file's columns and decodes a frame in full only when its Packet is read; these
tests hold every Packet (read by index, by iteration, as `others()`), every
Stream and the capture's facts equal to the whole analysis, on the committed
corpus, the public corpus, the tracer's captures converted to pcap (editcap),
and on generated TCP exchanges; and the default ladder text the same.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from corpus_path import CORPUS_DIR
from tcpgen import exchanges
from viz import figures
from viz.analysis import FramePackets, analyze, analyze_on_demand
from viz.capture import open_capture
from viz.errors import SynackError
from viz.ladder_text import render_text

REPO = Path(__file__).resolve().parents[1]
PCAPS = sorted((REPO / "tests" / "corpus").glob("*.pcap"))
PCAPS += sorted(p for p in CORPUS_DIR.glob("*.pcap") if p.name not in {q.name for q in PCAPS})
PCAPNGS = sorted((REPO / "captures").glob("*.pcapng"))


def both(path: Path):
    with open_capture(path) as cap:
        whole = analyze(cap, path=path.name)
    with open_capture(path) as cap:
        lazy = analyze_on_demand(cap, path=path.name)
    return whole, lazy


def assert_same(whole, lazy) -> None:
    if not isinstance(lazy.packets, FramePackets):  # pcapng under a .pcap name: analysed whole
        assert lazy == whole
        return
    assert lazy.capture == whole.capture
    assert lazy.streams == whole.streams
    assert lazy.calls == whole.calls
    assert len(lazy.packets) == len(whole.packets)
    assert list(lazy.packets) == list(whole.packets)  # made without keeping
    for i in range(len(whole.packets) - 1, -1, -1):  # made and kept, from the end
        assert lazy.packets[i] == whole.packets[i]
    assert lazy.packets[-1:] == whole.packets[-1:]
    assert list(lazy.others()) == list(whole.others())
    with pytest.raises(IndexError):
        lazy.packets[len(whole.packets)]


def ladder_text(analysis) -> str:
    req = figures.keywords("ladder", analysis.capture.path)
    try:
        return render_text(figures.ladder_of(req, analysis), width=100)
    except SynackError as exc:
        return f"error: {exc}"


@pytest.mark.parametrize("path", PCAPS, ids=[p.name for p in PCAPS])
def test_on_demand_equals_whole_on_corpus(path):
    whole, lazy = both(path)
    assert_same(whole, lazy)
    assert ladder_text(lazy) == ladder_text(whole)


@pytest.mark.skipif(shutil.which("editcap") is None, reason="needs editcap (wireshark-common)")
@pytest.mark.parametrize("path", PCAPNGS, ids=[p.name for p in PCAPNGS])
def test_on_demand_equals_whole_on_traced_captures(path, tmp_path):
    pcap = tmp_path / (path.stem + ".pcap")
    got = subprocess.run(["editcap", "-F", "pcap", str(path), str(pcap)], capture_output=True)
    if got.returncode != 0:
        pytest.skip(f"editcap cannot write {path.name} as pcap: {got.stderr.decode().strip()}")
    whole, lazy = both(pcap)
    assert_same(whole, lazy)
    assert ladder_text(lazy) == ladder_text(whole)


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=exchanges())
def test_on_demand_equals_whole_on_generated_exchanges(tmp_path, data):
    path = tmp_path / "gen.pcap"
    path.write_bytes(data)
    assert_same(*both(path))


def test_ladder_and_layers_read_a_pcap_on_demand(monkeypatch):
    """`synack ladder` and `synack layers` of a classic pcap take the on-demand
    analysis (the one that does not make a Packet per frame), a pcapng file the
    whole one."""
    seen = []
    real = figures.analysis_of

    def spy(path, cwd=None, on_demand=False):
        got = real(path, cwd, on_demand)
        seen.append(type(got.packets).__name__)
        return got

    monkeypatch.setattr(figures, "analysis_of", spy)
    for path in (PCAPS[0], PCAPNGS[0]):
        figures.ladder_of(figures.keywords("ladder", str(path)))
        figures.layers_text(figures.keywords("layers", str(path), frame=1))
    assert seen == ["FramePackets", "FramePackets", "tuple", "tuple"]


def test_streams_made_when_read():
    """A Stream (its frame list and state changes) is made when first read:
    choosing one stream of many makes that one, and choosing from the lazy
    streams gives what choosing from a tuple of every Stream gives."""
    from dataclasses import replace

    from viz.ladder import select_streams
    for path in PCAPS:
        whole, lazy = both(path)
        if len(lazy.streams) >= 3:
            break
    streams = lazy.streams
    last = streams._items[-1]
    asked = f"{last.proto}:{last.id}"
    chosen = select_streams(lazy, asked)
    assert [s is not None for s in streams._made] == [False] * (len(streams) - 1) + [True]
    assert chosen == (streams[-1],) == (whole.streams[-1],)
    hand = replace(whole, streams=tuple(whole.streams))
    for ask in (None, "all", asked, "0"):
        assert select_streams(lazy, ask) == select_streams(hand, ask)
    assert lazy.stream(last.id, last.proto) == hand.stream(last.id, last.proto)
