"""Structural checks of a drawn matplotlib figure, from the renderer's own text metrics.

Every text's box is what the Agg renderer measures for its font (the same
metrics the SVG and PDF writers use), every line and arrow is its path in
display coordinates.  `problems()` lists text boxes that overlap, and lines
that cross a text box; a test asserts the list is empty.
"""
from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch
from matplotlib.path import Path
from matplotlib.text import Text

PAD = 1.0  # pixels a box is shrunk by before testing, so touching is not overlapping


def _render(fig):
    canvas = FigureCanvasAgg(fig)
    renderer = canvas.get_renderer()
    fig.draw(renderer)
    return renderer


def texts(fig, renderer):
    out = []
    for t in fig.findobj(Text):
        if t.get_visible() and t.get_text().strip():
            bb = t.get_window_extent(renderer)
            if bb.width > 0 and bb.height > 0:
                out.append((t, bb))
    return out


def segments(fig):
    """(artist, ((x0, y0), (x1, y1))) of every drawn line outside legends, in pixels."""
    in_legend = {id(a) for leg in fig.findobj(Legend) for a in leg.findobj()}
    out = []
    for a in fig.findobj(lambda a: isinstance(a, (Line2D, FancyArrowPatch))):
        if id(a) in in_legend or not a.get_visible():
            continue
        if isinstance(a, Line2D):
            pts = a.get_transform().transform(a.get_xydata())
            out += [(a, (tuple(p), tuple(q))) for p, q in zip(pts, pts[1:])]
        else:
            path = a.get_transform().transform_path(a.get_path())
            prev = None
            for verts, code in path.iter_segments(simplify=False, curves=False):
                if code in (Path.CLOSEPOLY, Path.STOP):  # their vertices are placeholders
                    continue
                pt = tuple(verts[-2:])
                if code != Path.MOVETO and prev is not None:
                    out.append((a, (prev, pt)))
                prev = pt
    return out


def _crosses(seg, bb) -> bool:
    """Liang-Barsky: does the segment pass through the (shrunk) box?"""
    (x0, y0), (x1, y1) = seg
    bx0, by0, bx1, by1 = bb.x0 + PAD, bb.y0 + PAD, bb.x1 - PAD, bb.y1 - PAD
    if bx0 >= bx1 or by0 >= by1:
        return False
    dx, dy = x1 - x0, y1 - y0
    t0, t1 = 0.0, 1.0
    for p, q in ((-dx, x0 - bx0), (dx, bx1 - x0), (-dy, y0 - by0), (dy, by1 - y0)):
        if p == 0:
            if q < 0:
                return False
            continue
        r = q / p
        if p < 0:
            t0 = max(t0, r)
        else:
            t1 = min(t1, r)
        if t0 > t1:
            return False
    return True


def problems(fig) -> list[str]:
    renderer = _render(fig)
    tb = texts(fig, renderer)
    out = []
    for i, (a, ba) in enumerate(tb):
        for b, bb in tb[i + 1:]:
            w = min(ba.x1, bb.x1) - max(ba.x0, bb.x0)
            h = min(ba.y1, bb.y1) - max(ba.y0, bb.y0)
            if w > 2 * PAD and h > 2 * PAD:
                out.append(f"text overlap: {a.get_text()!r} / {b.get_text()!r}")
    for art, seg in segments(fig):
        for t, bb in tb:
            if _crosses(seg, bb):
                out.append(f"line crosses text {t.get_text()!r} ({art.get_gid() or type(art).__name__})")
    return sorted(set(out))


def clipped(fig) -> list[str]:
    """Texts that reach outside the figure."""
    renderer = _render(fig)
    w, h = fig.bbox.width, fig.bbox.height
    return [t.get_text() for t, bb in texts(fig, renderer) if bb.x0 < 0 or bb.y0 < 0 or bb.x1 > w or bb.y1 > h]


def hatched_under_text(fig) -> list[str]:
    """Texts drawn over a hatched patch (hatching behind letters makes them unreadable)."""
    from matplotlib.patches import Patch

    renderer = _render(fig)
    tb = texts(fig, renderer)
    out = []
    for p in fig.findobj(Patch):
        if not p.get_hatch() or not p.get_visible():
            continue
        pb = p.get_window_extent(renderer)
        for t, bb in tb:
            w = min(pb.x1, bb.x1) - max(pb.x0, bb.x0)
            h = min(pb.y1, bb.y1) - max(pb.y0, bb.y0)
            if w > 2 * PAD and h > 2 * PAD:
                out.append(t.get_text())
    return sorted(set(out))
