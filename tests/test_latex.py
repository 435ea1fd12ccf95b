"""LaTeX outputs really compile: the ladder's TikZ (.tex standalone, .pgf to
\\input) and matplotlib's PGF for the other figures, with pdflatex.

Payloads and socket calls reach the labels verbatim, so a crafted exchange
carries every character LaTeX treats specially.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import replace

import pytest

import ladder_fixtures as F
from conftest import ROOT
from viz.ladder import build_ladder
from viz.ladder_mpl import write_ladder
from viz.model import Flag

HAVE_LATEX = shutil.which("pdflatex") is not None and subprocess.run(
    ["kpsewhich", "standalone.cls"], capture_output=True, text=True).stdout.strip() != ""
pytestmark = pytest.mark.skipif(not HAVE_LATEX, reason="needs pdflatex with TikZ and standalone.cls "
                                "(Debian: texlive-latex-extra texlive-pictures)")
CHUNKS = (b"\\{}$&#^_%~<>|'\"x' ab", b"b'' 100% C:\\p\tab", b"\x00~^_")  # 20, 16 and 4 bytes


def nasty_analysis():
    """tcp-echo with the three payloads (20, 16, 4 bytes) replaced by LaTeX's special characters."""
    an = F.tcp_echo()
    data = [p for p in an.packets if p.len]
    assert [p.len for p in data] == [len(c) for c in CHUNKS]
    new = {p.frame: replace(p, payload=c) for p, c in zip(data, CHUNKS)}
    return replace(an, packets=tuple(new.get(p.frame, p) for p in an.packets))


def pdflatex(tmp_path, name: str) -> None:
    p = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", name], cwd=tmp_path,
                       capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stdout[-2000:]
    assert (tmp_path / name).with_suffix(".pdf").stat().st_size > 1000


def test_ladder_tex_and_pgf_compile(tmp_path):
    ladder = build_ladder(F.tcp_echo(), options=True, win=True)
    write_ladder(ladder, tmp_path / "echo.tex")
    pdflatex(tmp_path, "echo.tex")
    write_ladder(ladder, tmp_path / "echo.pgf")
    (tmp_path / "doc.tex").write_text(
        "\\documentclass{article}\n\\usepackage[paperwidth=16in,paperheight=10in,margin=0.3in]{geometry}\n"
        "\\usepackage[T1]{fontenc}\n\\usepackage{tikz}\n\\usetikzlibrary{arrows.meta}\n"
        "\\begin{document}\n\\input{echo.pgf}\n\\end{document}\n")
    pdflatex(tmp_path, "doc.tex")


def test_special_characters_in_labels_compile(tmp_path):
    ladder = build_ladder(nasty_analysis())
    previews = "".join(a.preview for a in ladder.arrows)
    assert all(ch in previews for ch in "\\{}$&#^_%~<>|'\"")
    write_ladder(ladder, tmp_path / "nasty.tex")
    pdflatex(tmp_path, "nasty.tex")


def test_real_lost_segment_ladder_compiles(tmp_path):
    out = tmp_path / "lost.tex"
    subprocess.run([sys.executable, "-m", "tracer", "ladder", str(ROOT / "captures" / "lost-segment.pcapng"),
                    "--symbolic", "-o", str(out)], cwd=ROOT, check=True, capture_output=True)
    pdflatex(tmp_path, "lost.tex")


def test_layers_pgf_compiles(tmp_path):
    out = tmp_path / "syn.pgf"
    subprocess.run([sys.executable, "-m", "tracer", "layers", str(ROOT / "captures" / "tcp-echo.pcapng"),
                    "--frame", "3", "--view", "fields", "-o", str(out)], cwd=ROOT, check=True, capture_output=True)
    (tmp_path / "doc.tex").write_text(
        "\\documentclass{article}\n\\usepackage[paperwidth=15in,paperheight=10in,margin=0.3in]{geometry}\n"
        "\\usepackage[T1]{fontenc}\n\\usepackage{pgf}\n\\begin{document}\n\\input{syn.pgf}\n\\end{document}\n")
    pdflatex(tmp_path, "doc.tex")
