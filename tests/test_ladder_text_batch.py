"""TextBatch (the ladder's labels as one artist) writes what one matplotlib Text per label writes.

The SVG path skips matplotlib's text layout and relies on how the SVG backend
reads a Text; these tests pin that against the installed matplotlib, so an
upgrade that changes either shows up here and not as labels drifting off
their arrows.
"""
from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from viz.figure import new_figure, save
from viz.text_batch import Style, TextBatch

LABELS = [
    (1.0, 1.0, "SYN seq=0 MSS=1460", -3.4, Style(10.5, "#111111", va="bottom")),
    (2.0, 1.5, "PSH, ACK seq=1 ack=1 len=20", 3.4, Style(10.5, "#0b4f9c", weight="bold", va="bottom")),
    (2.5, 2.5, '"This is the message."', -3.4, Style(10.0, "#111111", family="monospace", va="top")),
    (3.0, 3.0, "fast retransmission  dup ACK", 183.0, Style(10.0, "#b00020", style="italic", va="top")),
    (0.5, 4.0, "ESTABLISHED", 0.0, Style(10.0, "#1b6e3a", weight="bold", ha="right", va="center")),
    (4.5, 4.0, "recv → b''", 0.0, Style(10.0, "#111111", style="italic", ha="left", va="center")),
    (0.3, 0.3, "tcp-echo · captures/tcp-echo.pcapng", 0.0, Style(9.0, "#777777", ha="left")),
    # Glyphs beyond the font's ascender/descender, and dollars that must not become mathtext.
    (3.0, 5.0, "ÉÅ Ǻ |j_ $5 and $6", -10.0, Style(10.5, "#111111", va="bottom")),
    (3.0, 5.5, "ÉÅ Ǻ |j_ $5 and $6", 20.0, Style(10.5, "#111111", va="top")),
    (3.0, 6.0, "Ǻ q", 0.0, Style(12.0, "#111111", va="center")),
    (5.0, 6.5, "connection\nrelease", 0.0, Style(10.0, "#777777", ha="left", va="center")),
]


def _figure(batch: bool):
    fig = new_figure((6, 7))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 6)
    ax.set_ylim(0, 7)
    ax.set_axis_off()
    if batch:
        ax.add_artist(TextBatch(LABELS, gid="ladder-labels"))
    else:
        for x, y, s, rot, st in LABELS:
            ax.text(x, y, s, rotation=rot, rotation_mode="anchor", ha=st.ha, va=st.va, fontsize=st.size,
                    color=st.color, fontweight=st.weight, fontstyle=st.style, family=st.family, parse_math=False)
    return fig


def _svg_texts(fig):
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    from viz.figure import _RC

    matplotlib.rcParams.update(_RC)
    FigureCanvasSVG(fig)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    root = ET.fromstring(buf.getvalue())
    return [(t.get("style"), t.get("x", ""), t.get("y", ""), t.get("transform"), t.text)
            for t in root.iter("{http://www.w3.org/2000/svg}text")]


def test_svg_text_elements_match_one_text_artist_per_label():
    batch, plain = _svg_texts(_figure(True)), _svg_texts(_figure(False))
    assert len(batch) == len(plain) == len(LABELS) + 1  # the two-line label is two <text>s
    for b, p in zip(batch, plain):
        assert b[0] == p[0] and b[4] == p[4]  # style (font, anchor, colour) and text
        numbers = [float(v) for v in re.findall(r"-?[\d.]+", " ".join(b[1:4]))]
        expected = [float(v) for v in re.findall(r"-?[\d.]+", " ".join(p[1:4]))]
        assert numbers == pytest.approx(expected, abs=1e-4), b[4]
    assert any("$5 and $6" in t[4] for t in batch)


def test_raster_output_is_pixel_identical_to_text_artists(tmp_path):
    from matplotlib.image import imread

    for k, batch in enumerate((True, False)):
        save(_figure(batch), tmp_path / f"{k}.png")
    a, b = imread(tmp_path / "0.png"), imread(tmp_path / "1.png")
    assert a.shape == b.shape and np.array_equal(a, b)
    assert (a[..., :3] < 0.5).any()  # something was drawn


def test_svg_names_fallback_fonts_and_keeps_text_as_text():
    texts = _svg_texts(_figure(True))
    sans = [t for t in texts if "monospace" not in t[0]]
    mono = [t for t in texts if "monospace" in t[0]]
    assert sans and all("font-family: 'DejaVu Sans', 'Verdana', sans-serif" in t[0] for t in sans)
    assert mono and all("'DejaVu Sans Mono', 'Menlo', 'Consolas', monospace" in t[0] for t in mono)
