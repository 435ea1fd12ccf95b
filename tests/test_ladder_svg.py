"""The default ladder figure of every capture, checked as a slide (issue 11): the structural SVG
check (tests/svg_check.py) over every page `synack ladder CAPTURE -o fig.svg` writes, for each
scenario capture in captures/ and each capture of the public corpus."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from corpus_path import CORPUS_DIR  # noqa: E402
from svg_check import check_svg  # noqa: E402

from viz.errors import SynackError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CASES = sorted(ROOT.glob("captures/*.pcapng")) + (sorted(CORPUS_DIR.glob("*.pcap*")) if CORPUS_DIR.is_dir() else [])


@pytest.mark.parametrize("path", CASES, ids=[p.name for p in CASES])
def test_default_ladder_reads_on_a_slide(tmp_path, path):
    from viz.commands.ladder import load
    from viz.ladder import build_ladder
    from viz.ladder_mpl import write_ladder

    an = load(str(path))
    try:
        lad = build_ladder(an)
    except SynackError as exc:
        assert "no TCP or UDP conversation" in str(exc)  # ICMP/ARP only: another figure's job
        return
    pages = write_ladder(lad, tmp_path / "fig.svg", page="slide")
    assert pages
    problems = [f"{Path(p).name}: {msg}" for p in pages for msg in check_svg(p)]
    assert problems == []
    drawn = sum(1 for p in pages for line in Path(p).read_text(encoding="utf-8").splitlines()
                if "ladder-shafts" in line)
    assert drawn == len(pages)  # every page has its arrows
