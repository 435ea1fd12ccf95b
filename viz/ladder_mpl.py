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
from dataclasses import dataclass, replace

from viz.figure import Theme, new_figure, save
from viz.figure import theme as get_theme
from viz.ladder import Ladder, build_ladder
from viz.ladder_place import Placer, box, measure
from viz.pages import BASE_PT, PAGES, SLIDE_SIZE, Page, page_of

# Geometry below is in inches at BASE_PT (viz.pages) and scales with the page's text.
ROW_IN = 0.40  # row pitch at BASE_PT: a label above and a preview below each shaft stay apart
CHAR_IN = 0.074  # mean advance of a 10 pt DejaVu Sans character, to size the side columns
LINE_IN = 0.17  # one note line at 10 pt
DATA_LW, CONTROL_LW = 2.6, 1.1
TOP_IN, BOTTOM_IN = 0.75, 0.25
STRETCH = 1.6  # a short page's rows may spread to this many times the pitch
RETRIES = 3  # paginations tried when a text finds no free place


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
    page: Page = PAGES["none"]
    caption_lines: tuple[str, ...] = ()

    def y(self, row: float) -> float:
        return self.top - (row - self.y_min) * self.pitch

    @property
    def line(self) -> float:
        return LINE_IN * self.page.note / 10.0


def _char(page: Page, pt: float) -> float:
    return CHAR_IN * pt / 10.0


def _note_width(ladder: Ladder, lifeline: int, page: Page) -> float:
    """The widest note beside `lifeline`, measured (state names are bold)."""
    widths = [measure(s.state, page.note, "bold")[0] for s in ladder.states if s.lifeline == lifeline]
    widths += [measure(line, page.note, "normal", "italic")[0]
               for c in ladder.calls if c.lifeline == lifeline for line in c.lines]
    return min(max(widths, default=0.0) + 0.2, 2.8 * page.k)


def caption_lines(caption: str, width: float, page: Page) -> tuple[str, ...]:
    """The caption wrapped at its ` · ` joints to the page's width."""
    if not caption:
        return ()
    from viz.ladder import wrap_caption

    return wrap_caption(caption, max(20, int((width - 0.4) / (_char(page, page.small) * 1.08))))


def _margins(ladder: Ladder, width: float, page: Page) -> tuple[float, float, tuple[str, ...]]:
    cap = caption_lines(ladder.caption, width, page)
    top = TOP_IN * page.k + 0.1
    bottom = BOTTOM_IN + len(cap) * LINE_IN * page.small / 10.0 * 1.25
    return top, bottom, cap


def rows_per_page(ladder: Ladder, page: Page) -> float:
    """How many row units fit one page of `page` (its caption as the whole ladder's, plus a page count)."""
    top, bottom, _ = _margins(replace(ladder, caption=ladder.caption + " · page 10 of 10"), page.width, page)
    return max(2.0, (page.height - top - bottom) / _pitch(len(ladder.lifelines), page) - 1.0)


def _columns(ladder: Ladder, left: float, right: float, page: Page) -> tuple[float, ...]:
    """Lifeline positions: each gap at least as wide as the longest text of an arrow that spans only
    it (a label must fit along its shaft), wider arrows' needs shared by the gaps they cross, and
    the room left over shared equally."""
    n = len(ladder.lifelines)
    need: dict[tuple[int, int], float] = {}
    for a in ladder.arrows:
        i, j = sorted((a.src, a.dst))
        if i == j:
            continue
        w = measure(a.label, page.label, "bold" if a.kind == "data" else "normal")[0]
        below = "  ".join(([a.preview] if a.preview else []) + list(a.tags))
        if below:
            w = max(w, measure(below, page.small)[0])
        need[(i, j)] = max(need.get((i, j), 0.0), w + 0.6)
    heads = [max(measure(l.role, page.head, "bold")[0], measure(l.address, page.note)[0]) for l in ladder.lifelines]
    gaps = [(heads[i] + heads[i + 1]) / 2 + 0.4 for i in range(n - 1)]  # the heads side by side
    for (i, j), w in sorted(need.items(), key=lambda kv: (kv[0][1] - kv[0][0], kv[0])):
        have = sum(gaps[i:j])
        if have < w:
            for g in range(i, j):
                gaps[g] += (w - have) / (j - i)
    room = right - left
    total = sum(gaps)
    if total <= 0:
        gaps = [room / (n - 1)] * (n - 1)
    elif total <= room:
        gaps = [g + (room - total) / (n - 1) for g in gaps]
    else:
        gaps = [g * room / total for g in gaps]
    xs = [left]
    for g in gaps:
        xs.append(xs[-1] + g)
    return tuple(xs)


def _pitch(lifelines: int, page: Page) -> float:
    """The row pitch: with more lifelines the arrows of concurrent connections run side by side
    and need steeper slopes to keep their labels apart."""
    return ROW_IN * page.k * (1.0 + 0.18 * max(0, lifelines - 2))


def _geometry(ladder: Ladder, size: tuple[float, float] | None, page: Page | str | None = None,
              xs_of: Ladder | None = None) -> _Geometry:
    """Where everything goes.  `xs_of`: lay the columns out for that ladder (all pages of one
    ladder, or all steps of a playback, share their lifelines' positions)."""
    page = page_of(page)
    n = len(ladder.lifelines)
    span_rows = ladder.y_max - ladder.y_min + 1.0
    width = size[0] if size else page.width
    top_in, bottom_in, cap = _margins(ladder, width, page)
    if size:
        height = size[1]
        pitch = max((height - top_in - bottom_in) / span_rows, 0.05)
    elif page.height is None:
        pitch = _pitch(n, page)
        height = max(SLIDE_SIZE[1], top_in + bottom_in + span_rows * pitch)
        pitch = (height - top_in - bottom_in) / span_rows
    else:
        height = page.height
        # A page with fewer rows than it holds spreads them out: steeper arrows, roomier labels.
        pitch = min((height - top_in - bottom_in) / (span_rows + 0.5), STRETCH * _pitch(n, page))
        pitch = max(pitch, _pitch(n, page) * 0.9)
    cols = xs_of or ladder
    time_w = 0.0
    if cols.times:  # as wide as its widest entry (a capture can start at a large time)
        time_w = max([measure(t.text, page.small, family="monospace")[0] for t in cols.times]
                     + [measure(b.text, page.small, style="italic")[0] for b in cols.breaks]
                     + [measure(f"time ({cols.time_unit})", page.small)[0]]) + 0.15
    phase_w = 0.0
    if cols.phases:
        phase_w = max(measure(w, page.note)[0] for p in cols.phases for w in p.name.split(" ", 1)) + 0.35
    left = 0.2 + time_w + (_note_width(cols, 0, page) if n > 1 else 0.0)
    right = width - 0.2 - phase_w - _note_width(cols, n - 1, page)
    heads = [max(len(l.role) * _char(page, page.head), len(l.address) * _char(page, page.note)) * 1.1 / 2
             for l in ladder.lifelines]
    left = max(left, 0.2 + time_w + heads[0])
    right = min(right, width - 0.2 - phase_w - heads[-1])
    if n == 1:
        xs = ((left + right) / 2,)
    else:
        xs = _columns(cols, left, right, page)
    top = height - top_in - pitch * 0.5
    return _Geometry(width, height, xs, 0.2 + time_w - 0.1, width - 0.2 - phase_w + 0.15, top, pitch,
                     ladder.y_min, page, cap)


def _upright(dx: float, dy: float) -> float:
    a = math.degrees(math.atan2(dy, dx))
    if a > 90:
        a -= 180
    elif a < -90:
        a += 180
    return a


def render_ladder(ladder: Ladder, *, theme: str | Theme = "light", size: tuple[float, float] | None = None,
                  frame_of: Ladder | None = None, page: Page | str | None = None, xs_of: Ladder | None = None):
    """A pyplot-free Figure of `ladder` on one page of kind `page` (default "none": the height
    grows with the rows), or of `size` with the rows fitted to it.  `xs_of`: place the lifelines
    as for that ladder (the pages of one ladder line up).

    `frame_of` sizes the figure from another ladder (the whole one, when
    `ladder` is a playback step showing its first arrows) so every step of a
    playback shares one frame and nothing jumps between steps.
    """
    from matplotlib.collections import LineCollection, PolyCollection
    import numpy as np
    from matplotlib.colors import to_rgba

    from viz.text_batch import Style, TextBatch

    th = get_theme(theme)
    pg = page_of(page)
    g = _geometry(frame_of if frame_of is not None else ladder, size, pg, xs_of)
    LABEL, NOTE, SMALL, HEAD, k = pg.label, pg.note, pg.small, pg.head, pg.k
    line_in = g.line
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
    fixed: list = []  # boxes of texts whose place is fixed: what the placed ones must avoid
    for x, l in zip(g.xs, ladder.lifelines):
        label(x, g.height - 0.35 * k, l.role, HEAD, th.foreground, weight="bold")
        label(x, g.height - 0.62 * k, l.address, NOTE, th.muted)
        for t, y_, size_, wt in ((l.role, g.height - 0.35 * k, HEAD, "bold"), (l.address, g.height - 0.62 * k, NOTE,
                                                                                   "normal")):
            w, a_, d_ = measure(t, size_, wt)
            fixed.append(box(x, y_, w, a_, d_))
    ax.add_collection(LineCollection(life_segs, colors=th.muted, linewidths=1.3, zorder=1))

    # Arrow shafts, heads; their labels are placed once every fixed text is known.
    requests: list = []
    unders: list = []
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
        styles.append((0, (5, 2.5)) if a.reset else (0, (1.5, 2.0)) if a.inferred else "solid")
        angle = _upright(dx, dy)
        rad = math.radians(angle)
        nx, ny = -math.sin(rad), math.cos(rad)  # unit normal pointing "up" for the reader
        # In a zigzag the gap above an arrow opens toward its receiver and the gap below toward
        # its sender, so the label leans to the receiver end and the preview to the sender end.
        span = length if not a.lost else length * 2 / 3
        weight = "bold" if data else "normal"
        lw_, la_, ld_ = measure(a.label, LABEL, weight)
        f_label = min(0.66, max(0.5, 1 - (lw_ / 2 + 0.45 * k) / span)) if not a.lost else 0.5
        geo = (x0, y0, ux, uy, nx, ny, span, angle)
        requests.append((len(shafts) - 1, geo, a.label, f_label, 1.0, LABEL, Style(LABEL, th.foreground, weight=weight,
                                                                               va="bottom")))
        below = "  ".join(([a.preview] if a.preview else []) + list(a.tags) + (["lost"] if a.says_lost else []))
        if below:
            alert = bool(a.tags or a.lost)
            st = Style(SMALL, th.alert if alert else th.foreground, style="italic" if alert else "normal",
                       family="monospace" if a.preview and not alert else "sans-serif", va="top")
            bw_ = measure(below, SMALL, "normal", st.style, st.family)[0]
            f_below = max(0.34, min(0.5, (bw_ / 2 + 0.45 * k) / span))
            unders.append((len(shafts) - 1, geo, below, f_below, -1.0, SMALL, st))
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
            w, a_, d_ = measure(b.text, LABEL, "normal", "italic")
            fixed.append(box((xl + xr) / 2, (yt + yb) / 2, w + 0.2, a_ + 0.05, d_ + 0.05, va="center"))
            text((xl + xr) / 2, (yt + yb) / 2, b.text, ha="center", va="center", fontsize=LABEL,
                 fontstyle="italic", color=th.foreground,
                 bbox={"boxstyle": "round,pad=0.25", "facecolor": th.fills[1], "edgecolor": "none"})
        ax.add_collection(PolyCollection(polys, facecolors=th.fills[1], edgecolors=th.muted, linewidths=0.6,
                                         linestyles="dotted", zorder=2))

    # Time margin, breaks, phases, caption.
    cut_at = [g.y(b.y) for b in ladder.breaks]
    if ladder.times:
        label(g.time_x, g.height - 0.62 * k, f"time ({ladder.time_unit})", SMALL, th.muted, ha="right")
        last_y = None
        for t in ladder.times:
            y = g.y(t.y)
            if last_y is not None and last_y - y < line_in:
                continue  # scaled mode: keep the margin readable
            if any(abs(y - c) < line_in for c in cut_at):
                continue  # the break's length is written there
            label(g.time_x, y, t.text, SMALL, th.muted, ha="right", va="center", family="monospace")
            w, a_, d_ = measure(t.text, SMALL, family="monospace")
            fixed.append(box(g.time_x, y, w, a_, d_, ha="right", va="center"))
            last_y = y
    if ladder.breaks:
        marks_ = []
        for b in ladder.breaks:
            y = g.y(b.y)
            for x in g.xs:
                for off in (-0.04, 0.04):
                    marks_.append(((x - 0.1, y + off - 0.03), (x + 0.1, y + off + 0.03)))
            # How long the cut gap really was, in the time column beside the marks.
            label(g.time_x, y, b.text, SMALL, th.muted, ha="right", va="center", style="italic")
            w, a_, d_ = measure(b.text, SMALL, style="italic")
            fixed.append(box(g.time_x, y, w, a_, d_, ha="right", va="center"))
        ax.add_collection(LineCollection(marks_, colors=th.foreground, linewidths=1.2, zorder=5))
    if ladder.phases:
        brackets = []
        for p in ladder.phases:
            ya, yb = g.y(p.y_start) - 0.03, g.y(p.y_end) + 0.03
            x = g.phase_x
            brackets += [((x - 0.08, ya), (x, ya)), ((x, ya), (x, yb)), ((x - 0.08, yb), (x, yb))]
            text(x + 0.1, (ya + yb) / 2, p.name.replace(" ", "\n", 1), ha="left", va="center",
                 fontsize=NOTE, color=th.muted, linespacing=1.1)
            w = max(measure(part, NOTE)[0] for part in p.name.split(" ", 1))
            fixed.append(box(x + 0.1, (ya + yb) / 2, w, line_in * 1.1, line_in * 1.1, ha="left", va="center"))
        ax.add_collection(LineCollection(brackets, colors=th.muted, linewidths=1.2))
    if ladder.caption:
        for j, cap_line in enumerate(reversed(g.caption_lines)):
            label(0.2, 0.18 + j * line_in * SMALL / NOTE * 1.25, cap_line, SMALL, th.muted, ha="left")
            w, a_, d_ = measure(cap_line, SMALL)
            fixed.append(box(0.2, 0.18 + j * line_in * SMALL / NOTE * 1.25, w, a_, d_, ha="left"))

    # States and socket calls beside their lifelines, stacked in time order.
    marks: dict[tuple[int, float], list] = {}
    for s in ladder.states:
        marks.setdefault((s.lifeline, s.y), []).append((s.order, "state", (s.state,)))
    for c in ladder.calls:
        marks.setdefault((c.lifeline, c.y), []).append((c.order, "call", c.lines))
    last = len(ladder.lifelines) - 1
    placer = Placer(g.width, g.height, shafts)
    for poly in fixed:
        placer.add(poly)
    for (lf, row), items in sorted(marks.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        lines = [(kind, line) for _, kind, ls in sorted(items) for line in ls]
        styles_ = [Style(NOTE, th.accent if kind == "state" else th.foreground,
                         weight="bold" if kind == "state" else "normal",
                         style="normal" if kind == "state" else "italic", va="center") for kind, _ in lines]
        wide = max(measure(line, NOTE, st.weight, st.style)[0] for (_, line), st in zip(lines, styles_))
        tall = len(lines) * line_in
        sides = [-1.0] if lf == 0 and last > 0 else [1.0] if lf == last and last > 0 else [1.0, -1.0]
        cands = []
        for dy in (0.0, -0.3 * g.pitch, 0.3 * g.pitch, -0.6 * g.pitch, 0.6 * g.pitch):
            for side in sides:
                x = g.xs[lf] + 0.12 * side
                yc = g.y(row) + dy
                xl = x if side > 0 else x - wide
                poly = ((xl, yc - tall / 2), (xl + wide, yc - tall / 2), (xl + wide, yc + tall / 2), (xl, yc + tall / 2))
                cands.append((poly, x, yc, side))
        _, x, yc, side = placer.choose(cands)
        y0 = yc + (len(lines) - 1) * line_in / 2
        for j, ((kind, line), st) in enumerate(zip(lines, styles_)):
            labels.append((x, y0 - j * line_in, line, 0.0, replace(st, ha="right" if side < 0 else "left")))
    arrow_labels: list = []
    for reqs in (requests, unders):
        for own, (x0, y0, ux, uy, nx, ny, span, angle), txt, pref, sign, size_, st in reqs:
            w, a_, d_ = measure(txt, size_, st.weight, st.style, st.family)
            lo, hi = (min(0.5, (w / 2 + 0.05) / span), max(0.5, 1 - (w / 2 + 0.05) / span))
            fs = [pref] + [pref + d for step in (0.08, 0.16, 0.24, 0.32) for d in (step, -step)]
            fs = [min(hi, max(lo, f)) for f in fs]
            cands = []
            for side, far in ((sign, 1.0), (-sign, 1.0), (sign, 3.0), (-sign, 3.0)):
                off = (0.035 if side > 0 else 0.04) * far
                va = "bottom" if side > 0 else "top"
                for f in dict.fromkeys(fs):
                    mx, my = x0 + ux * span * f + nx * off * side, y0 + uy * span * f + ny * off * side
                    cands.append((box(mx, my, w, a_, d_, angle, "center", va), mx, my, va))
            _, mx, my, va = placer.choose(cands, own)
            arrow_labels.append((mx, my, txt, angle, replace(st, va=va)))
    ax.add_artist(TextBatch(arrow_labels, gid="ladder-labels"))
    fig.synack_unplaced = placer.unresolved  # texts that found no free place (render_pages retries)
    waits = []
    for s in ladder.states:
        if s.y_end is not None:
            on_left = s.lifeline == 0 and last > 0
            x = g.xs[s.lifeline] + (-0.05 if on_left else 0.05)
            waits.append(((x, g.y(s.y) - line_in * 0.6), (x, g.y(s.y_end))))
    if waits:
        ax.add_collection(LineCollection(waits, colors=th.accent, linewidths=3.0, alpha=0.5, zorder=2))
    blocked = []
    for w in ladder.waits:  # a blocking call: a bar on its lifeline from entry to return (UNP)
        on_left = w.lifeline == 0 and last > 0
        x = g.xs[w.lifeline] + (-0.05 if on_left else 0.05)
        blocked.append(((x, g.y(w.y_start) - line_in * 0.5), (x, g.y(w.y_end) + line_in * 0.5)))
    timer_segs = []
    for tm in ladder.timers:  # the RTO: a bracket beside the sender from transmission to retransmission
        side = -1.0 if tm.lifeline == 0 and last > 0 else 1.0
        x = g.xs[tm.lifeline] + side * 0.09
        y0, y1 = g.y(tm.y_start), g.y(tm.y_end)
        timer_segs += [((x, y0), (x, y1)), ((x - side * 0.04, y0), (x, y0)), ((x - side * 0.04, y1), (x, y1))]
    if timer_segs:
        ax.add_collection(LineCollection(timer_segs, colors=th.alert, linewidths=1.4, zorder=2, gid="ladder-timers"))
    if blocked:
        ax.add_collection(LineCollection(blocked, colors=th.foreground, linewidths=2.0, alpha=0.55, zorder=2,
                                         gid="ladder-blocked"))

    ax.add_artist(TextBatch(labels, gid="ladder-notes"))
    return fig


def render_pages(ladder: Ladder, *, theme: str | Theme = "light", page: Page | str | None = "slide",
                 size: tuple[float, float] | None = None) -> list:
    """One Figure per page: "slide" and "a4" cut a long exchange where no arrow is crossed and
    repeat the lifeline heads on every page; "none" (or a `size`) is one figure of it all."""
    return [fig for _, fig in paged(ladder, theme=theme, page=page, size=size)]


def paged(ladder: Ladder, *, theme: str | Theme = "light", page: Page | str | None = "slide",
          size: tuple[float, float] | None = None) -> list[tuple[Ladder, object]]:
    """(the page's ladder, its Figure) for each page of `render_pages`: the cuts the figure
    makes, which the editable formats (viz.ladder_edit) follow page by page."""
    pg = page_of(page)
    if size is not None or pg.height is None:
        return [(ladder, render_ladder(ladder, theme=theme, size=size, page=pg))]
    from viz.ladder import paginate

    rows = rows_per_page(ladder, pg)
    for _ in range(RETRIES):
        # A crowded page gets fewer rows, which its pitch spreads out: more room between arrows.
        pages = [(p, render_ladder(p, theme=theme, page=pg, xs_of=ladder)) for p in paginate(ladder, rows)]
        if not any(f.synack_unplaced for _, f in pages) or rows <= 3:
            break
        rows = max(3.0, rows * 0.75)
    return pages


def draw_ladder(analysis, *, theme: str = "light", size: tuple[float, float] | None = None,
                peer=None, page: str | None = None, **options):
    """The library entry point: an Analysis (and optionally the other end's) -> a Figure.

    `options` are `viz.ladder.build_ladder`'s (stream, frames, numbers, win,
    options, time, full, lost_frames); `page` "slide" or "a4" gives the first page
    (`render_pages` gives them all), default one figure of everything.
    """
    lad = build_ladder(analysis, peer=peer, **options)
    if page and page != "none":
        return render_pages(lad, theme=theme, page=page, size=size)[0]
    return render_ladder(lad, theme=theme, size=size)


def page_paths(path: str | os.PathLike, pages: int) -> list[str]:
    """`fig.svg` for one page; `fig-1.svg`, `fig-2.svg` ... for several."""
    from pathlib import Path

    p = Path(path)
    if pages <= 1:
        return [str(path)]
    return [str(p.with_name(f"{p.stem}-{k}{p.suffix}")) for k in range(1, pages + 1)]


def write_ladder(ladder: Ladder, path: str | os.PathLike, *, theme: str = "light",
                 size: tuple[float, float] | None = None, width: int = 100, ascii: bool = False,
                 page: str | None = None, format: str | None = None) -> list[str]:
    """Write `ladder` to `path` in `format`, else the one its suffix names: svg, pdf, png, pgf,
    tex (TikZ) or txt.

    `page` "slide" or "a4" paginates the figure formats: a .pdf gets a page each, .svg and
    .png one file each (`page_paths`).  Returns the files written."""
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
        return [str(path)]
    figs = render_pages(ladder, theme=theme, page=page or "none", size=size)
    if suffix == ".pdf" and len(figs) > 1:
        save_pdf_pages(figs, path)
        return [str(path)]
    paths = page_paths(path, len(figs))
    for fig, target in zip(figs, paths):
        save(fig, target, format=suffix[1:])
    return paths


def save_pdf_pages(figs, path: str | os.PathLike) -> None:
    """Several figures as the pages of one PDF, deterministically (viz.figure.save's rules)."""
    import matplotlib
    from matplotlib.backends.backend_pdf import FigureCanvasPdf, PdfPages

    from viz import output
    from viz.figure import _RC, check_writable

    check_writable(path)
    matplotlib.rcParams.update(_RC)
    meta = {"CreationDate": None, "ModDate": None, "Creator": "synack", "Producer": "synack"}

    def write(tmp) -> None:
        with PdfPages(tmp, metadata=meta) as pdf:
            for fig in figs:
                FigureCanvasPdf(fig)
                pdf.savefig(fig, facecolor=fig.get_facecolor())

    output.write_with(path, write)
