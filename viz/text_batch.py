"""Many single-line labels as one matplotlib artist, written to SVG without measuring them.

A `Text` artist costs about 0.7 ms to create and draw, nearly all of it
measuring the string (FreeType lays out every glyph) so that matplotlib can
align it.  An SVG with `svg.fonttype: none` needs none of that horizontally:
the backend writes `text-anchor` and lets the viewer align the text in
whatever font it has.  Vertically it needs the line's ascent and descent,
which for one line are the font's typographic ascender and descender unless a
glyph reaches beyond them; glyph extents are cached per character, so a
label costs a few dictionary look-ups.  The result is the same <text>
elements, at the same coordinates, that one `Text` per label would write.

Every other output (PDF, PNG, PGF) draws each label through a real `Text`,
so those stay exactly what matplotlib makes of them.  Labels are plain text:
a `$` in a payload preview is a dollar, never mathtext.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import matplotlib
from matplotlib.artist import Artist
from matplotlib.colors import to_rgba
from matplotlib.font_manager import FontProperties, fontManager, get_font
from matplotlib.ft2font import LoadFlags
from matplotlib.text import Text


@dataclass(frozen=True)
class Style:
    """How a label looks and where it hangs from its anchor point."""

    size: float
    color: str
    weight: str = "normal"
    style: str = "normal"
    family: str = "sans-serif"  # a generic name: figure.py's rc lists DejaVu first, then look-alikes
    ha: str = "center"  # left | center | right
    va: str = "baseline"  # bottom | top | center | baseline


class _Anchor:
    """The part of a `Text` the SVG backend reads to write text-anchor and x/y: a fixed anchor point."""

    __slots__ = ("xy", "ha")

    def __init__(self, xy, ha):
        self.xy, self.ha = xy, ha

    def get_transform(self):
        return self

    def transform(self, _point):
        return self.xy

    def get_unitless_position(self):
        return self.xy

    def get_ha(self):
        return self.ha

    def get_rotation_mode(self):
        return "anchor"


class _Metrics:
    """Ascent and descent of one line in one font, the way `Text._get_layout` computes them (points)."""

    def __init__(self, files):
        self.font = get_font(files)
        head = self.font.get_sfnt_table("head")
        table = self.font.get_sfnt_table("OS/2")
        if table is not None:
            asc, desc = table["sTypoAscender"], -table["sTypoDescender"]
        else:
            table = self.font.get_sfnt_table("hhea")
            asc, desc = table["ascent"], -table["descent"]
        self.min_ascent = asc / head["unitsPerEm"]  # per point of font size
        self.min_descent = desc / head["unitsPerEm"]
        self.glyphs: dict[str, tuple[float, float]] = {}

    def _glyph(self, ch: str) -> tuple[float, float]:
        # As matplotlib's TextToPath measures text: 100 pt, 72 dpi, unhinted.
        self.font.set_size(100.0, 72.0)
        self.font.set_text(ch, 0.0, flags=LoadFlags.NO_HINTING)
        _, h = self.font.get_width_height()
        d = self.font.get_descent()
        self.glyphs[ch] = e = ((h - d) / 64.0 / 100.0, d / 64.0 / 100.0)
        return e

    def line(self, s: str, size: float) -> tuple[float, float]:
        glyphs = self.glyphs
        a, d = self.min_ascent, self.min_descent
        for ch in set(s):
            ga, gd = glyphs.get(ch) or self._glyph(ch)
            if ga > a:
                a = ga
            if gd > d:
                d = gd
        return a * size, d * size


_METRICS: dict[tuple, _Metrics] = {}  # by the font files matplotlib resolves, so rc changes cannot stale it


def _metrics(prop: FontProperties) -> _Metrics:
    files = tuple(fontManager._find_fonts_by_props(prop))
    m = _METRICS.get(files)
    if m is None:
        m = _METRICS[files] = _Metrics(files)
    return m


class TextBatch(Artist):
    """Labels (x, y, text, rotation in degrees, Style) in data coordinates of the axes it joins."""

    def __init__(self, labels, *, gid: str | None = None, zorder: float = 3):
        super().__init__()
        self.labels = [lb for lb in labels if lb[2]]
        self.set_gid(gid)
        self.set_zorder(zorder)
        self._props: dict[Style, FontProperties] = {}

    def _prop(self, st: Style) -> FontProperties:
        p = self._props.get(st)
        if p is None:
            p = self._props[st] = FontProperties(family=st.family, style=st.style, weight=st.weight, size=st.size)
        return p

    def texts(self) -> list[Text]:
        """One real `Text` per label, exactly as `ax.text` would make it (minus mathtext)."""
        return [self._text(lb) for lb in self.labels]

    def _text(self, label) -> Text:
        x, y, s, rot, st = label
        t = Text(x, y, s, rotation=rot, rotation_mode="anchor", ha=st.ha, va=st.va,
                 fontproperties=self._prop(st), color=st.color, parse_math=False)
        t.set_figure(self.get_figure())
        t.set_transform(self.get_transform())
        return t

    def draw(self, renderer):
        if not self.get_visible() or not self.labels:
            return
        vector = getattr(renderer, "_renderer", renderer)
        svg = sys.modules.get("matplotlib.backends.backend_svg")  # not imported: not writing SVG
        if svg is None or not isinstance(vector, svg.RendererSVG) or matplotlib.rcParams["svg.fonttype"] != "none":
            renderer.open_group("textbatch", self.get_gid())
            for t in self.texts():
                t.draw(renderer)
            renderer.close_group("textbatch")
            return
        renderer.open_group("textbatch", self.get_gid())
        _, height = renderer.get_canvas_width_height()
        points = self.get_transform().transform([(x, y) for x, y, *_ in self.labels])
        gc = renderer.new_gc()
        colors: dict[str, tuple] = {}
        fonts = {st: _metrics(self._prop(st)) for st in {lb[4] for lb in self.labels}}
        for (px, py), label in zip(points.tolist(), self.labels):
            _, _, s, rot, st = label
            if "\n" in s:  # several lines: matplotlib's own layout
                self._text(label).draw(renderer)
                continue
            prop = self._prop(st)
            a, d = fonts[st].line(s, st.size)
            # Baseline height above the anchor, along the text's own vertical.
            v = {"bottom": d, "top": -a, "center": (d - a) / 2, "baseline": 0.0}[st.va]
            angle = float(rot) % 360
            rad = math.radians(angle)
            ax, ay = px, height - py
            rgba = colors.get(st.color) or colors.setdefault(st.color, to_rgba(st.color))
            gc.set_foreground(rgba, isRGBA=True)
            renderer.draw_text(gc, ax - v * math.sin(rad), ay - v * math.cos(rad), s, prop, angle,
                               ismath=False, mtext=_Anchor((ax, py), st.ha))
        gc.restore()
        renderer.close_group("textbatch")
        self.stale = False
