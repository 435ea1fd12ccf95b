"""Ladder renderers: SVG content, text ladder shape, determinism, the command, goldens, the corpus."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import ladder_fixtures as F  # noqa: E402

from viz.errors import SynackError  # noqa: E402
from viz.ladder import build_ladder  # noqa: E402
from viz.ladder_mpl import draw_ladder, write_ladder  # noqa: E402
from viz.ladder_text import render_text  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
from corpus_path import CORPUS_DIR  # noqa: E402
CORPUS = CORPUS_DIR
GOLDEN = Path(__file__).parent / "golden" / "ladder"
SVG = "{http://www.w3.org/2000/svg}"


def svg_of(tmp_path, ladder, **kw):
    out = tmp_path / "l.svg"
    write_ladder(ladder, out, **kw)
    tree = ET.parse(out)
    texts = ["".join(t.itertext()) for t in tree.iter(SVG + "text")]
    groups = {g.get("id"): len(list(g.iter(SVG + "path"))) for g in tree.iter(SVG + "g")
              if (g.get("id") or "").startswith("ladder-")}
    return texts, groups


def test_svg_has_every_label_and_one_shaft_per_arrow(tmp_path):
    lad = build_ladder(F.tcp_echo())
    texts, groups = svg_of(tmp_path, lad)
    for a in lad.arrows:
        assert a.label in texts
    assert '"This is the message."' in texts
    for s in lad.states:
        assert s.state in texts
    for c in lad.calls:
        for line in c.lines:
            assert line in texts
    for p in lad.phases:
        assert p.name.replace(" ", "\n", 1) in texts or p.name.split()[0] in " ".join(texts)
    assert "client" in texts and "192.0.2.2:10000" in texts
    assert groups["ladder-shafts"] == 11 and groups["ladder-heads"] == 11
    assert "ladder-lost" not in groups


def test_svg_bulk_band_lost_and_tags(tmp_path):
    lad = build_ladder(F.bulk())
    texts, groups = svg_of(tmp_path, lad, theme="print")
    assert groups["ladder-shafts"] == len(lad.arrows)
    assert groups["ladder-heads"] == len(lad.arrows) - 1  # the lost one ends in a cross, not a head
    assert groups["ladder-lost"] == 2  # the two strokes of the cross
    assert any(t.startswith("… ") and "segments" in t for t in texts)
    assert "fast retransmission" in texts and "dup ACK #1" in texts


def test_library_function_returns_a_figure_without_pyplot():
    fig = draw_ladder(F.udp_upper(), theme="dark", size=(8, 4.5))
    assert tuple(round(v, 2) for v in fig.get_size_inches()) == (8.0, 4.5)
    assert "matplotlib.pyplot" not in sys.modules


def test_text_ladder_fits_width_and_ascii_is_ascii():
    lad = build_ladder(F.tcp_echo(), options=True)
    for width in (60, 80, 120):
        out = render_text(lad, width=width)
        assert max(len(line) for line in out.splitlines()) <= width
    plain = render_text(lad, width=80, ascii=True)
    assert plain.isascii() and "SYN seq=0" in plain and "--->|" in plain
    box = render_text(lad, width=100)
    assert "━" in box and "─" in box and "▶" in box and "◀" in box  # data heavy, control light


def test_text_ladder_reads_in_order():
    out = render_text(build_ladder(F.tcp_echo()), width=100)
    order = ["socket, bind, listen", "connect (blocks)", "SYN seq=0", "SYN_RECEIVED", "SYN, ACK seq=0 ack=1",
             "ESTABLISHED", "connection release", "FIN, ACK seq=21 ack=21", "CLOSE_WAIT", "LAST_ACK",
             "TIME_WAIT (2MSL)", "CLOSED"]
    lines = out.splitlines()
    pos = [next(i for i, line in enumerate(lines) if s in line) for s in order]
    assert pos == sorted(pos)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.skipif(not (CORPUS / "one_http_stream_fin.pcap").exists(), reason="corpus not present")
@pytest.mark.parametrize("ext", ["svg", "pdf", "pgf", "tex", "txt"])
def test_byte_identical_across_processes(tmp_path, ext):
    cap = str(CORPUS / "one_http_stream_fin.pcap")
    digests = []
    for k, seed in enumerate(("1", "2")):
        out = tmp_path / f"run{k}.{ext}"
        env = dict(os.environ, PYTHONHASHSEED=seed)
        subprocess.run([sys.executable, "-m", "tracer", "ladder", cap, "-o", str(out), "--options", "--win"],
                       cwd=ROOT, env=env, check=True, capture_output=True)
        pages = sorted(tmp_path.glob(f"run{k}*.{ext}"))  # one file, or run0-1.svg, run0-2.svg ...
        assert pages
        digests.append([_digest(p) for p in pages])
    assert digests[0] == digests[1]


def test_slide_pages_repeat_the_heads_and_keep_every_arrow_whole(tmp_path):
    """`-o fig.svg` on a long exchange: fig-1.svg, fig-2.svg ..., each a 13.33x7.5 in slide with the
    lifeline heads, every arrow on exactly one page; `-o fig.pdf`: one file, a page each."""
    lad = build_ladder(F.tcp_echo())
    paths = write_ladder(lad, tmp_path / "fig.svg", page="slide")
    assert len(paths) >= 2 and [Path(p).name for p in paths] == [f"fig-{k}.svg" for k in range(1, len(paths) + 1)]
    labels = []
    for k, p in enumerate(paths, 1):
        root = ET.parse(p).getroot()
        assert (root.get("width"), root.get("height")) == ("959.76pt", "540pt")
        texts = ["".join(t.itertext()) for t in root.iter(SVG + "text")]
        assert "client" in texts and "server" in texts and "192.0.2.2:10000" in texts
        assert any(t.endswith(f"page {k} of {len(paths)}") for t in texts)
        labels += [a.label for a in lad.arrows if a.label in texts]
    assert sorted(labels) == sorted(a.label for a in lad.arrows)  # each once, on one page
    pdf = tmp_path / "fig.pdf"
    assert write_ladder(lad, pdf, page="slide") == [str(pdf)]
    body = pdf.read_bytes()
    assert body.count(b"/Type /Page") - body.count(b"/Type /Pages") == len(paths)
    assert write_ladder(lad, tmp_path / "one.svg", page="none") == [str(tmp_path / "one.svg")]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "tracer", "ladder", *args], cwd=ROOT, capture_output=True,
                          text=True)


@pytest.mark.skipif(not CORPUS.is_dir(), reason="corpus not present")
def test_command_errors_are_one_line(tmp_path):
    rst = str(CORPUS / "one_tcp_rst.pcap")
    cases = [
        ([rst, "--stream", "icmp:0"], "no stream icmp:0"),
        ([rst, "--stream", "5"], "no stream 5"),
        ([rst, "--frames", "50-60"], "no TCP/UDP segment in frames 50-60"),
        ([rst, "-o", str(tmp_path / "x.bmp")], "unknown output format"),
        ([rst, "-o", "/nonexistent/dir/x.svg"], "does not exist"),
        ([rst, "--theme", "neon"], "unknown theme"),
        ([str(tmp_path / "missing.pcap")], "missing.pcap"),
    ]
    for args, msg in cases:
        r = _cli(*args)
        assert r.returncode == 2, args
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("synack: error: ") and msg in r.stderr, r.stderr


@pytest.mark.skipif(not CORPUS.is_dir(), reason="corpus not present")
def test_command_prints_text_without_output():
    r = _cli(str(CORPUS / "one_tcp_rst.pcap"), "--width", "90", "--symbolic", "--ascii")
    assert r.returncode == 0 and "SYN seq=J" in r.stdout and "RST, ACK" in r.stdout and r.stdout.isascii()


# ---------------------------------------------------------------------------
# Golden text ladders: every example capture in captures/ and a few corpus captures.


def golden_cases():
    cases = [(p, p.name) for p in sorted((ROOT / "captures").glob("*.pcapng"))]
    for name in ("one_http_stream_fin.pcap", "one_tcp_rst.pcap", "one_tcp_stream.pcap", "pcapng-example.pcapng",
                 "DnsPackets.pcap"):
        if (CORPUS / name).exists():
            cases.append((CORPUS / name, name))
    return cases


def golden_text(path: Path) -> str:
    from viz.commands.ladder import load

    return render_text(build_ladder(load(str(path))), width=110)  # the caption names the file, not its folder


@pytest.mark.parametrize("path,name", golden_cases(), ids=[n for _, n in golden_cases()])
def test_golden_text_ladder(path, name):
    golden = GOLDEN / f"{name}.txt"
    assert golden.exists(), f"no golden for {name}: run python3 tests/test_ladder_render.py --regen"
    assert golden_text(path) == golden.read_text(encoding="utf-8")


# ---------------------------------------------------------------------------
# Every corpus capture draws in every format, or says in one line why it cannot.


@pytest.mark.slow
@pytest.mark.skipif(not CORPUS.is_dir(), reason="corpus not present")
@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.pcap*")) if CORPUS.is_dir() else [])
def test_corpus_renders_in_every_format(tmp_path, name):
    from viz.commands.ladder import load

    an = load(str(CORPUS / name))
    lad = build_ladder(an)  # ICMP-only captures draw their ICMP conversations (viz.icmp)
    assert lad.arrows
    for ext in ("svg", "pdf", "png", "pgf", "tex", "txt"):
        out = tmp_path / f"l.{ext}"
        write_ladder(lad, out)
        assert out.stat().st_size > 200
    texts, groups = svg_of(tmp_path, lad)
    assert groups["ladder-shafts"] == len(lad.arrows)


if __name__ == "__main__" and "--regen" in sys.argv:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for p, n in golden_cases():
        (GOLDEN / f"{n}.txt").write_text(golden_text(p), encoding="utf-8")
        print("wrote", GOLDEN / f"{n}.txt")
