"""The ladder as a matplotlib Figure: sloped arrows labelled on the shaft, as in textbooks.

Drawn from a `viz.ladder.Ladder` only.  Coordinates are inches with y up, so
slopes, text angles and arrow heads are computed exactly once and no artist
needs a transform trick.  Speed comes from few artists: every shaft is one
LineCollection, every head one PolyCollection, and every single-line label one
`viz.text_batch.TextBatch`, which writes SVG <text> without measuring each
string (a 1,000-segment --full ladder: 3 s with a Text per label, 0.5 s).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

from viz.figure import SLIDE_SIZE, Theme, new_figure, save
from viz.figure import theme as get_theme
from viz.ladder import Ladder, build_ladder

LABEL_PT = 10.5
NOTE_PT = 10.0
SMALL_PT = 9.0
HEAD_PT = 13.0
ROW_IN = 0.42  # preferred row pitch: a label above and a preview below each shaft stay apart
CHAR_IN = 0.074  # mean advance of a 10 pt DejaVu Sans character, to size the side columns
LINE_IN = 0.17  # one note line at NOTE_PT
DATA_LW, CONTROL_LW = 2.6, 1.1
TOP_IN, BOTTOM_IN = 1.0, 0.45


@dataclass(frozen=True)
class _Geometry:
    width: float
    height: float
    xs: tuple[float, ...]
    time_x: float
    phase_x: float
    top: float  # display y of ladder.y_min
    pitch: float
    y_min: float

    def y(self, row: float) -> float:
        return self.top - (row - self.y_min) * self.pitch


def _note_width(ladder: Ladder, lifeline: int) -> float:
    texts = [s.state for s in ladder.states if s.lifeline == lifeline]
    texts += [line for c in ladder.calls if c.lifeline == lifeline for line in c.lines]
    # Bold state names run wider than the mean advance: size the column for them.
    return min(max((len(t) for t in texts), default=0) * CHAR_IN * 1.12 + 0.3, 2.8)


def _geometry(ladder: Ladder, size: tuple[float, float] | None) -> _Geometry:
    n = len(ladder.lifelines)
    span_rows = ladder.y_max - ladder.y_min + 1.0
    width = size[0] if size else SLIDE_SIZE[0]
    if size:
        height = size[1]
        pitch = max((height - TOP_IN - BOTTOM_IN) / span_rows, 0.05)
    else:
        pitch = ROW_IN
        height = max(SLIDE_SIZE[1], TOP_IN + BOTTOM_IN + span_rows * pitch)
        pitch = (height - TOP_IN - BOTTOM_IN) / span_rows
    time_w = 0.75 if ladder.times else 0.0
    phase_w = 1.35 if ladder.phases else 0.0
    left = 0.2 + time_w + (_note_width(ladder, 0) if n > 1 else 0.0)
    right = width - 0.2 - phase_w - _note_width(ladder, n - 1)
    heads = [max(len(l.role), len(l.address)) * CHAR_IN * 1.1 / 2 for l in ladder.lifelines]
    left = max(left, 0.2 + time_w + heads[0])
    right = min(right, width - 0.2 - phase_w - heads[-1])
    if n == 1:
        xs = ((left + right) / 2,)
    else:
        xs = tuple(left + (right - left) * i / (n - 1) for i in range(n))
    top = height - TOP_IN - pitch * 0.5
    return _Geometry(width, height, xs, 0.2 + time_w - 0.1, width - 0.2 - phase_w + 0.15, top, pitch,
                     ladder.y_min)


def _upright(dx: float, dy: float) -> float:
    a = math.degrees(math.atan2(dy, dx))
    if a > 90:
        a -= 180
    elif a < -90:
        a += 180
    return a


def render_ladder(ladder: Ladder, *, theme: str | Theme = "light", size: tuple[float, float] | None = None,
                  frame_of: Ladder | None = None):
    """A pyplot-free Figure of `ladder`; height grows with the rows unless `size` is given.

    `frame_of` sizes the figure from another ladder (the whole one, when
    `ladder` is a playback step showing its first arrows) so every step of a
    playback shares one frame and nothing jumps between steps.
    """
    from matplotlib.collections import LineCollection, PolyCollection
    import numpy as np
    from matplotlib.colors import to_rgba

    from viz.text_batch import Style, TextBatch

    th = get_theme(theme)
    g = _geometry(frame_of or ladder, size)
    fig = new_figure((g.width, g.height), th)
    # Agg refuses huge canvases; a tall --full ladder still rasterises at a lower resolution.
    fig.dpi = min(100.0, 30000.0 / g.height, 30000.0 / g.width)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, g.width)
    ax.set_ylim(0, g.height)
    ax.set_axis_off()
    ax.set_facecolor(th.background)
    text = ax.text
    labels: list = []  # single-line labels, drawn as one artist (viz.text_batch)

    def label(x, y, s, size, color, rotation=0.0, **style):
        labels.append((x, y, s, rotation, Style(size, color, **style)))

    # Lifelines and headings.
    y_top = g.y(ladder.y_min) + g.pitch * 0.5
    y_bottom = g.y(ladder.y_max) - g.pitch * 0.3
    life_segs = [((x, y_top), (x, y_bottom)) for x in g.xs]
    for x, l in zip(g.xs, ladder.lifelines):
        label(x, g.height - 0.35, l.role, HEAD_PT, th.foreground, weight="bold")
        label(x, g.height - 0.58, l.address, NOTE_PT, th.muted)
    ax.add_collection(LineCollection(life_segs, colors=th.muted, linewidths=1.3, zorder=1))

    # Arrow shafts, heads, labels.
    shafts, widths, colors, styles, heads, head_colors, crosses = [], [], [], [], [], [], []
    for a in ladder.arrows:
        x0, x1 = g.xs[a.src], g.xs[a.dst]
        y0, y1 = g.y(a.y_send), g.y(a.y_recv)
        data = a.kind == "data"
        color = th.alert if a.reset else (th.data if data else th.control)
        dx, dy = x1 - x0, y1 - y0
        length = math.hypot(dx, dy) or 1.0
        ux, uy = dx / length, dy / length
        hl, hw = (0.16, 0.065) if data else (0.13, 0.048)
        if a.lost:
            xe, ye = x0 + dx * 2 / 3, y0 + dy * 2 / 3
            shafts.append(((x0, y0), (xe, ye)))
            c = 0.08
            crosses += [((xe - c, ye - c), (xe + c, ye + c)), ((xe - c, ye + c), (xe + c, ye - c))]
        else:
            bx, by = x1 - ux * hl, y1 - uy * hl
            shafts.append(((x0, y0), (bx + ux * 0.02, by + uy * 0.02)))
            heads.append(((x1, y1), (bx - uy * hw, by + ux * hw), (bx + uy * hw, by - ux * hw)))
            head_colors.append(color)
        widths.append(DATA_LW if data else CONTROL_LW)
        colors.append(color)
        styles.append((0, (5, 2.5)) if a.reset else "solid")
        angle = _upright(dx, dy)
        rad = math.radians(angle)
        nx, ny = -math.sin(rad), math.cos(rad)  # unit normal pointing "up" for the reader
        # In a zigzag the gap above an arrow opens toward its receiver and the gap below toward
        # its sender, so the label leans to the receiver end and the preview to the sender end.
        span = length if not a.lost else length * 2 / 3
        ltext = len(a.label) * CHAR_IN * LABEL_PT / 10 * (1.08 if data else 1.0)
        f_label = min(0.66, max(0.5, 1 - (ltext / 2 + 0.45) / span)) if not a.lost else 0.5
        mx, my = x0 + ux * span * f_label, y0 + uy * span * f_label
        label(mx + nx * 0.035, my + ny * 0.035, a.label, LABEL_PT, th.foreground, angle, va="bottom",
              weight="bold" if data else "normal")
        below = "  ".join(([a.preview] if a.preview else []) + list(a.tags) + (["lost"] if a.lost else []))
        if below:
            alert = bool(a.tags or a.lost)
            btext = len(below) * CHAR_IN * 1.1
            f_below = max(0.34, min(0.5, (btext / 2 + 0.45) / span))
            bx_, by_ = x0 + ux * span * f_below, y0 + uy * span * f_below
            label(bx_ - nx * 0.04, by_ - ny * 0.04, below, SMALL_PT + 0.5, th.alert if alert else th.foreground,
                  angle, va="top", style="italic" if alert else "normal",
                  family="monospace" if a.preview and not alert else "sans-serif")
    ax.add_artist(TextBatch(labels, gid="ladder-labels"))
    labels = []
    # gids name the groups in SVG output, so tests (and users' CSS) can find the arrows.
    # One RGBA per distinct colour: a list of names would be parsed once per arrow, twice.
    rgba = {c: to_rgba(c) for c in {th.alert, th.data, th.control}}
    colors = np.array([rgba[c] for c in colors]).reshape(-1, 4)
    head_colors = np.array([rgba[c] for c in head_colors]).reshape(-1, 4)
    ax.add_collection(LineCollection(shafts, linewidths=widths, colors=colors, linestyles=styles,
                                     capstyle="butt", zorder=3, gid="ladder-shafts"))
    if heads:
        ax.add_collection(PolyCollection(heads, facecolors=head_colors, edgecolors=head_colors, linewidths=0.5,
                                         zorder=4, gid="ladder-heads"))
    if crosses:
        ax.add_collection(LineCollection(crosses, colors=th.alert, linewidths=2.2, zorder=4, gid="ladder-lost"))

    # Collapsed runs.
    if ladder.bands:
        polys = []
        for b in ladder.bands:
            xl, xr = g.xs[b.left] + 0.12, g.xs[b.right] - 0.12
            yt, yb = g.y(b.y_start) - g.pitch * 0.1, g.y(b.y_end) + g.pitch * 0.1
            polys.append(((xl, yt), (xr, yt), (xr, yb), (xl, yb)))
            text((xl + xr) / 2, (yt + yb) / 2, b.text, ha="center", va="center", fontsize=LABEL_PT,
                 fontstyle="italic", color=th.foreground,
                 bbox={"boxstyle": "round,pad=0.25", "facecolor": th.fills[1], "edgecolor": "none"})
        ax.add_collection(PolyCollection(polys, facecolors=th.fills[1], edgecolors=th.muted, linewidths=0.6,
                                         linestyles="dotted", zorder=2))

    # States and socket calls beside their lifelines, stacked in time order.
    marks: dict[tuple[int, float], list] = {}
    for s in ladder.states:
        marks.setdefault((s.lifeline, s.y), []).append((s.order, "state", (s.state,)))
    for c in ladder.calls:
        marks.setdefault((c.lifeline, c.y), []).append((c.order, "call", c.lines))
    last = len(ladder.lifelines) - 1
    for (lf, row), items in marks.items():
        lines = [(kind, line) for _, kind, ls in sorted(items) for line in ls]
        on_left = lf == 0 and last > 0
        x = g.xs[lf] + (-0.12 if on_left else 0.12)
        y0 = g.y(row) + (len(lines) - 1) * LINE_IN / 2
        for k, (kind, line) in enumerate(lines):
            state = kind == "state"
            label(x, y0 - k * LINE_IN, line, NOTE_PT, th.accent if state else th.foreground,
                  ha="right" if on_left else "left", va="center", weight="bold" if state else "normal",
                  style="normal" if state else "italic")
    waits = []
    for s in ladder.states:
        if s.y_end is not None:
            on_left = s.lifeline == 0 and last > 0
            x = g.xs[s.lifeline] + (-0.05 if on_left else 0.05)
            waits.append(((x, g.y(s.y) - LINE_IN * 0.6), (x, g.y(s.y_end))))
    if waits:
        ax.add_collection(LineCollection(waits, colors=th.accent, linewidths=3.0, alpha=0.5, zorder=2))

    # Time margin, breaks, phases, caption.
    if ladder.times:
        label(g.time_x, g.height - 0.58, f"time ({ladder.time_unit})", SMALL_PT, th.muted, ha="right")
        last_y = None
        for t in ladder.times:
            y = g.y(t.y)
            if last_y is not None and last_y - y < 0.16:
                continue  # scaled mode: keep the margin readable
            label(g.time_x, y, t.text, SMALL_PT, th.muted, ha="right", va="center", family="monospace")
            last_y = y
    if ladder.breaks:
        marks_ = []
        for b in ladder.breaks:
            y = g.y(b)
            for x in g.xs:
                for off in (-0.04, 0.04):
                    marks_.append(((x - 0.1, y + off - 0.03), (x + 0.1, y + off + 0.03)))
        ax.add_collection(LineCollection(marks_, colors=th.foreground, linewidths=1.2, zorder=5))
    if ladder.phases:
        brackets = []
        for p in ladder.phases:
            ya, yb = g.y(p.y_start) - 0.03, g.y(p.y_end) + 0.03
            x = g.phase_x
            brackets += [((x - 0.08, ya), (x, ya)), ((x, ya), (x, yb)), ((x - 0.08, yb), (x, yb))]
            text(x + 0.1, (ya + yb) / 2, p.name.replace(" ", "\n", 1), ha="left", va="center",
                 fontsize=NOTE_PT, color=th.muted, linespacing=1.1)
        ax.add_collection(LineCollection(brackets, colors=th.muted, linewidths=1.2))
    if ladder.caption:
        label(0.2, 0.18, ladder.caption, SMALL_PT, th.muted, ha="left")
    ax.add_artist(TextBatch(labels, gid="ladder-notes"))
    return fig


def draw_ladder(analysis, *, theme: str = "light", size: tuple[float, float] | None = None,
                peer=None, **options):
    """The library entry point: an Analysis (and optionally the other end's) -> a Figure.

    `options` are `viz.ladder.build_ladder`'s (stream, frames, numbers, win,
    options, time, full, lost_frames).
    """
    return render_ladder(build_ladder(analysis, peer=peer, **options), theme=theme, size=size)


def write_ladder(ladder: Ladder, path: str | os.PathLike, *, theme: str = "light",
                 size: tuple[float, float] | None = None, width: int = 100, ascii: bool = False,
                 format: str | None = None) -> None:
    """Write `ladder` to `path` in `format`, else the one its suffix names: svg, pdf, png, pgf,
    tex (TikZ) or txt."""
    from pathlib import Path

    from viz.figure import check_writable

    suffix = "." + format if format else Path(path).suffix.lower()
    if suffix == ".pgf":
        # Native TikZ to \input: the same bytes on every machine, where matplotlib's PGF
        # backend would need (and depend on) an installed LaTeX to measure the text.
        suffix = ".pgf-tikz"
    if suffix in (".txt", ".tex", ".pgf-tikz"):
        check_writable(path)
        if suffix == ".txt":
            from viz.ladder_text import render_text

            body = render_text(ladder, width=width, ascii=ascii)
        else:
            from viz.ladder_tikz import render_tikz

            body = render_tikz(ladder, theme=get_theme(theme),
                               standalone=suffix == ".tex")
        from viz import output

        output.write_text(path, body)
        return
    fig = render_ladder(ladder, theme=theme, size=size)
    save(fig, path, format=suffix[1:])
