"""Where the ladder's texts go: placement as a small constraint problem.

Each text has a few candidate positions, best first (an arrow's label along
its own shaft, above it; its preview and tags below it; a note stack on
either side of its lifeline, or nudged up or down).  A candidate is free when
its box, measured with the font's metrics, crosses no arrow shaft but its
own, overlaps no text already placed and stays on the page; the first free
one is taken, else the one with the fewest conflicts.  Texts are placed in
order of how little room they have (notes, then labels, then the text under
the shafts), so a label stays tied to its arrow and never wanders to
another.  Inches, y up, as the renderer.
"""
from __future__ import annotations

import math
from functools import lru_cache

BUCKET = 0.5  # inches: the grid that keeps each test local


@lru_cache(maxsize=50000)
def measure(text: str, size: float, weight: str = "normal", style: str = "normal",
            family: str = "sans-serif") -> tuple[float, float, float]:
    """Width, ascent, descent in inches, as matplotlib's text layout measures it (FreeType, unhinted):
    the glyphs' advances and extents, each looked up once per font (laying out every string
    costs a millisecond; a --full ladder has thousands), a little wider for kerning's slack."""
    glyphs = _glyphs(weight, style, family)
    w = a = d = 0.0
    for ch in text:
        g = glyphs.get(ch) or _glyph(glyphs, weight, style, family, ch)
        w += g[0]
        a = max(a, g[1])
        d = max(d, g[2])
    k = size / 72.0
    return w * k * 1.01, a * k, d * k


@lru_cache(maxsize=64)
def _glyphs(weight: str, style: str, family: str) -> dict:
    return {}


def _glyph(glyphs: dict, weight: str, style: str, family: str, ch: str) -> tuple[float, float, float]:
    """Advance, ascent, descent of one character per point of size."""
    from matplotlib.ft2font import LoadFlags

    font = _font(weight, style, family)
    font.set_size(100.0, 72.0)
    font.set_text(ch, 0.0, flags=LoadFlags.NO_HINTING)
    _, h = font.get_width_height()
    dsc = font.get_descent()
    adv = font.load_char(ord(ch), flags=LoadFlags.NO_HINTING).linearHoriAdvance / 65536.0
    glyphs[ch] = g = (adv / 100.0, (h - dsc) / 64.0 / 100.0, dsc / 64.0 / 100.0)
    return g


@lru_cache(maxsize=64)
def _font(weight: str, style: str, family: str):
    from matplotlib.font_manager import FontProperties, findfont, get_font

    return get_font(findfont(FontProperties(family=family, weight=weight, style=style)))


def box(x: float, y: float, w: float, a: float, d: float, angle: float = 0.0, ha: str = "center",
        va: str = "baseline") -> tuple[tuple[float, float], ...]:
    """Corners of a text's box anchored at (x, y) and turned by `angle` degrees about it."""
    x0 = {"left": 0.0, "center": -w / 2, "right": -w}[ha]
    base = {"bottom": d, "top": -a, "center": (d - a) / 2, "baseline": 0.0}[va]
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    pts = ((x0, base - d), (x0 + w, base - d), (x0 + w, base + a), (x0, base + a))
    return tuple((x + u * c - v * s, y + u * s + v * c) for u, v in pts)


def _axes(poly):
    n = len(poly)
    for i in range(n):
        (x0, y0), (x1, y1) = poly[i], poly[(i + 1) % n]
        if x0 != x1 or y0 != y1:
            yield (y0 - y1, x1 - x0)


def overlap(p, q, slack: float = 0.01) -> bool:
    """Separating-axis test (a segment is a two-point polygon); touching within `slack` is apart."""
    for ax in (*_axes(p), *_axes(q)):
        norm = math.hypot(*ax) or 1.0
        pa = [(x * ax[0] + y * ax[1]) / norm for x, y in p]
        qa = [(x * ax[0] + y * ax[1]) / norm for x, y in q]
        if max(pa) <= min(qa) + slack or max(qa) <= min(pa) + slack:
            return False
    return True


class Placer:
    """Shafts and placed boxes on a page, and the search for a free spot."""

    def __init__(self, width: float, height: float, shafts):
        self.width, self.height = width, height
        self.unresolved = 0  # texts that found no free place
        self.grid: dict[tuple[int, int], list] = {}
        for k, (p0, p1) in enumerate(shafts):
            self._add(("shaft", k), (p0, p1))

    def _cells(self, poly):
        xs, ys = [p[0] for p in poly], [p[1] for p in poly]
        for i in range(int(min(xs) // BUCKET), int(max(xs) // BUCKET) + 1):
            for j in range(int(min(ys) // BUCKET), int(max(ys) // BUCKET) + 1):
                yield (i, j)

    def _add(self, key, poly) -> None:
        for c in self._cells(poly):
            self.grid.setdefault(c, []).append((key, poly))

    def add(self, poly) -> None:
        self._add(("text", id(poly)), poly)

    def conflicts(self, poly, own: int | None = None) -> int:
        seen = set()
        n = 0
        for c in self._cells(poly):
            for key, other in self.grid.get(c, ()):
                if key in seen or key == ("shaft", own):
                    continue
                seen.add(key)
                if overlap(poly, other):
                    n += 1
        xs, ys = [p[0] for p in poly], [p[1] for p in poly]
        if min(xs) < 0.02 or max(xs) > self.width - 0.02 or min(ys) < 0.02 or max(ys) > self.height - 0.02:
            n += 100
        return n

    def choose(self, candidates, own: int | None = None):
        """The first candidate (anything, with its box as `.poly` or [0]) without conflicts, else the least bad."""
        best, best_n = None, None
        for cand in candidates:
            n = self.conflicts(cand[0], own)
            if best_n is None or n < best_n:
                best, best_n = cand, n
            if n == 0:
                break
        if best is not None:
            self.add(best[0])
            self.unresolved += best_n > 0
        return best
