"""A structural check of a figure as a reader at the back of a lecture room sees it.

It reads the SVG the renderer wrote (not the layout that was meant) and
measures every <text> with the font's own metrics (DejaVu, as matplotlib
lays it out), so a placement rule broken anywhere between the layout and
the bytes shows up:

- no text overlaps another text;
- no text is crossed by an arrow shaft (the `*shafts` groups);
- nothing is clipped by the page;
- no text is smaller than MIN_PT once the page is scaled to a 16:9 slide
  13.33 in wide (a taller or wider page shrinks on the slide);
- no arrow goes upward (a segment is received after it is sent).

`check_svg(path)` returns the problems as one-line strings; empty is clean.
Run as a script on SVG files to print them.
"""
from __future__ import annotations

import math
import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache

SLIDE_IN = (13.33, 7.5)
MIN_PT = 14.0
# Boxes are shrunk by this much (points) before testing, so text set on a shaft's side
# (a label resting on its arrow) or two lines of one note stacked edge to edge do not count.
SLACK_PT = 0.6

_NS = "{http://www.w3.org/2000/svg}"


@dataclass(frozen=True)
class TextBox:
    text: str
    size: float
    corners: tuple[tuple[float, float], ...]  # page points, y down

    def bounds(self):
        xs = [c[0] for c in self.corners]
        ys = [c[1] for c in self.corners]
        return min(xs), min(ys), max(xs), max(ys)


def _style(el) -> dict[str, str]:
    out = {}
    for part in (el.get("style") or "").split(";"):
        if ":" in part:
            k, v = part.split(":", 1)
            out[k.strip()] = v.strip()
    return out


@lru_cache(maxsize=None)
def _prop(family: str, weight: str, style: str):
    from matplotlib.font_manager import FontProperties

    generic = "monospace" if "Mono" in family else "sans-serif"
    return FontProperties(family=generic, weight=weight, style=style, size=100.0)


@lru_cache(maxsize=20000)
def _measure(text: str, family: str, weight: str, style: str) -> tuple[float, float, float]:
    """Width, height above the baseline, depth below it, per point of font size."""
    from matplotlib.textpath import TextToPath

    w, h, d = TextToPath().get_text_width_height_descent(text, _prop(family, weight, style), ismath=False)
    return w / 100.0, (h - d) / 100.0, d / 100.0


def _boxes(root) -> list[TextBox]:
    out = []
    for el in root.iter(_NS + "text"):
        text = "".join(el.itertext())
        if not text.strip():
            continue
        st = _style(el)
        size = float(st.get("font-size", "12px").rstrip("px"))
        family = st.get("font-family", "DejaVu Sans")
        weight = "bold" if st.get("font-weight", "400") in ("700", "bold") else "normal"
        style = "italic" if st.get("font-style") in ("italic", "oblique") else "normal"
        w, a, d = (v * size for v in _measure(text, family, weight, style))
        x, y = float(el.get("x", 0)), float(el.get("y", 0))
        anchor = st.get("text-anchor", "start")
        x0 = x + {"start": 0.0, "middle": -w / 2, "end": -w}[anchor]
        e = SLACK_PT
        local = [(x0 + e, y - a + e), (x0 + w - e, y - a + e), (x0 + w - e, y + d - e), (x0 + e, y + d - e)]
        for op, args in reversed(re.findall(r"(\w+)\(([^)]*)\)", el.get("transform") or "")):
            v = [float(t) for t in re.split(r"[\s,]+", args.strip())]
            local = [_apply(op, v, p) for p in local]
        out.append(TextBox(text, size, tuple(local)))
    return out


def _apply(op: str, v: list[float], p: tuple[float, float]) -> tuple[float, float]:
    """One SVG transform function applied to a point."""
    x, y = p
    if op == "translate":
        return x + v[0], y + (v[1] if len(v) > 1 else 0.0)
    if op == "rotate":
        cx, cy = (v[1], v[2]) if len(v) == 3 else (0.0, 0.0)
        c, s = math.cos(math.radians(v[0])), math.sin(math.radians(v[0]))
        return cx + (x - cx) * c - (y - cy) * s, cy + (x - cx) * s + (y - cy) * c
    if op == "scale":
        return x * v[0], y * (v[1] if len(v) > 1 else v[0])
    if op == "matrix":
        return v[0] * x + v[2] * y + v[4], v[1] * x + v[3] * y + v[5]
    raise ValueError(f"SVG transform {op}() not understood")


def _segments(root) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    segs = []
    for g in root.iter(_NS + "g"):
        if not (g.get("id") or "").endswith("shafts"):
            continue
        for p in g.iter(_NS + "path"):
            pts = [tuple(map(float, xy)) for xy in re.findall(r"([-\d.e]+) ([-\d.e]+)", p.get("d") or "")]
            segs += list(zip(pts, pts[1:]))
    return segs


def _project(poly, axis):
    vals = [p[0] * axis[0] + p[1] * axis[1] for p in poly]
    return min(vals), max(vals)


def _axes(poly):
    for (x0, y0), (x1, y1) in zip(poly, poly[1:] + poly[:1]):
        dx, dy = x1 - x0, y1 - y0
        if dx or dy:
            yield (-dy, dx)


def _convex_overlap(p, q) -> bool:
    """Separating-axis test for two convex polygons (a segment is a two-point polygon)."""
    for axis in list(_axes(list(p))) + list(_axes(list(q))):
        a0, a1 = _project(p, axis)
        b0, b1 = _project(q, axis)
        if a1 <= b0 or b1 <= a0:
            return False
    return True


def _page(root) -> tuple[float, float]:
    vb = (root.get("viewBox") or "").split()
    if len(vb) == 4:
        return float(vb[2]), float(vb[3])
    return float(root.get("width", "0").rstrip("pt")), float(root.get("height", "0").rstrip("pt"))


def check_svg(path) -> list[str]:
    root = ET.parse(path).getroot()
    width, height = _page(root)
    boxes = _boxes(root)
    segs = _segments(root)
    problems: list[str] = []
    scale = min(SLIDE_IN[0] * 72 / width, SLIDE_IN[1] * 72 / height) if width and height else 1.0
    for b in boxes:
        if b.size * scale < MIN_PT - 1e-6:
            problems.append(f"small: {b.text!r} is {b.size * scale:.1f} pt on a slide "
                            f"({b.size:g} pt on a {width / 72:.2f}x{height / 72:.2f} in page)")
        x0, y0, x1, y1 = b.bounds()
        if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
            problems.append(f"clipped: {b.text!r} at ({x0:.0f},{y0:.0f})-({x1:.0f},{y1:.0f}) "
                            f"outside {width:.0f}x{height:.0f}")
    bounds = [b.bounds() for b in boxes]
    order = sorted(range(len(boxes)), key=lambda i: bounds[i][0])
    for k, i in enumerate(order):
        for j in order[k + 1:]:
            if bounds[j][0] >= bounds[i][2]:
                break
            if bounds[j][1] >= bounds[i][3] or bounds[i][1] >= bounds[j][3]:
                continue
            if _convex_overlap(boxes[i].corners, boxes[j].corners):
                problems.append(f"overlap: {boxes[i].text!r} and {boxes[j].text!r}")
    for (p0, p1) in segs:
        if p1[1] < p0[1] - 0.01:
            problems.append(f"upward arrow from ({p0[0]:.0f},{p0[1]:.0f}) to ({p1[0]:.0f},{p1[1]:.0f})")
        sx0, sx1 = sorted((p0[0], p1[0]))
        sy0, sy1 = sorted((p0[1], p1[1]))
        for b, (x0, y0, x1, y1) in zip(boxes, bounds):
            if x1 < sx0 or x0 > sx1 or y1 < sy0 or y0 > sy1:
                continue
            if _convex_overlap(b.corners, (p0, p1)):
                problems.append(f"crossed: {b.text!r} by the arrow from ({p0[0]:.0f},{p0[1]:.0f})")
    return problems


def main(argv: list[str]) -> int:
    bad = 0
    for path in argv:
        problems = check_svg(path)
        bad += bool(problems)
        for p in problems:
            print(f"{path}: {p}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
