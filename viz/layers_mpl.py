"""Matplotlib rendering of the frame views, from the same layouts as the text renderer.

Axes are in inches (origin top left), so text sizes and box sizes are chosen
for a 16:9 slide.  Every layer has a fill (distinct in luminance) AND a hatch
or a written label, so the figures read in greyscale too.
"""
from __future__ import annotations

from viz import layers as L
from viz.figure import BASE_FONT_SIZE, Theme, new_figure
from viz.pages import SLIDE_SIZE
from viz.headers import Dissection
from viz.errors import SynackError

MONO = "monospace"  # figure.py names DejaVu Sans Mono and its look-alikes
CHAR_W = 0.6 / 72  # inches per point of font size, per character (DejaVu, average)

_LINK = {"ethernet", "vlan", "sll", "sll2", "null", "chdlc", "ppp"}
_NET = {"ipv4", "ipv6", "ipv6-frag", "ipv6-ext", "arp", "gre"}
_TRANSPORT = {"tcp", "udp", "icmp", "icmpv6"}


def layer_style(th: Theme, key: str) -> tuple[str, str]:
    """(fill, hatch) for a layer kind: darker fill and denser hatch further down the stack."""
    if key in _LINK:
        return th.fills[4], "///"
    if key in _NET:
        return th.fills[3], "..."
    if key in _TRANSPORT:
        return th.fills[2], "\\\\\\"
    if key == "data":
        return th.fills[0], ""
    if key == "fcs":
        return th.background, ""
    return th.fills[1], "xx"


def _key(d: Dissection, style: int) -> str:
    return "fcs" if style < 0 else d.layers[style].key


def _axes(fig, w: float, h: float, th: Theme):
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.axis("off")
    ax.set_facecolor(th.background)
    return ax


def _rect(ax, x, y, w, h, th: Theme, fill, hatch="", dashed=False, lw=1.0, zorder=1):
    from matplotlib.patches import Rectangle

    ax.add_patch(Rectangle((x, y), w, h, facecolor=fill, edgecolor=th.foreground, hatch=hatch or None,
                           linewidth=lw, linestyle=(0, (4, 3)) if dashed else "solid", zorder=zorder))


def _fits(text: str, size: float, width: float) -> bool:
    return len(text) * size * CHAR_W <= width


def _fit_size(text: str, width: float, size: float, floor: float = 6.5) -> float:
    while size > floor and not _fits(text, size, width):
        size -= 0.5
    return size


def _fit_text(options, width: float, size: float, floor: float = 6.5) -> tuple[str, float]:
    for t in options:
        if t and _fits(t, size, width):
            return t, size
    for t in options:
        if t:
            s = _fit_size(t, width, size, floor)
            if _fits(t, s, width):
                return t, s
    t = next((t for t in options if t), "")
    n = max(1, int(width / (floor * CHAR_W)) - 1)
    return (t[:n] + "\u2026" if len(t) > n else t), floor


def _size(default: tuple[float, float], size) -> tuple[float, float]:
    return size if size else default


# ---------------------------------------------------------------- nested

LINE = 0.27
PAD = 0.12
INSET = 0.28
TAB = 0.22


def _box_height(b: L.Box) -> float:
    if b.kind == "pdu":
        h = LINE + PAD + (1 + len(b.lines)) * LINE + PAD  # title, header band
        h += sum(_box_height(c) + PAD for c in b.children)
        return h + PAD
    return LINE + PAD + len(b.lines) * LINE + PAD


def _draw_box(ax, d: Dissection, b: L.Box, x, y, w, th: Theme, fs: float) -> float:
    h = _box_height(b)
    key = _key(d, b.style)
    fill, hatch = layer_style(th, key)
    if b.kind != "pdu":
        dashed = not b.captured
        _rect(ax, x, y, w, h, th, fill if key != "data" else th.background, dashed=dashed, zorder=2)
        if hatch:
            _rect(ax, x, y, TAB, h, th, fill, hatch, zorder=2)
        title = (f"{b.title} \u00b7 {L.range_text(b.offset, b.size)}" if b.captured
                 else f"{b.title} \u00b7 {b.size} B, not captured")
        ax.text(x + TAB + 0.1, y + PAD + LINE / 2, title, fontsize=fs, fontweight="bold",
                va="center", color=th.foreground, zorder=3)
        for k, line in enumerate(b.lines):
            t, s = _fit_text([line], w - TAB - 0.3, fs)
            ax.text(x + TAB + 0.1, y + PAD + (k + 1.5) * LINE, t, fontsize=s, va="center",
                    family=MONO if key == "data" else None, color=th.foreground, zorder=3)
        return h
    _rect(ax, x, y, w, h, th, th.background, zorder=1)
    ax.text(x + 0.1, y + PAD + LINE / 2, f"{b.title} \u00b7 {L.range_text(b.offset, b.size)}",
            fontsize=fs + 1, fontweight="bold", va="center", color=th.foreground, zorder=3)
    hy = y + PAD + LINE
    hh = (1 + len(b.lines)) * LINE + PAD
    _rect(ax, x + PAD, hy, w - 2 * PAD, hh, th, fill, zorder=2)
    _rect(ax, x + PAD, hy, TAB, hh, th, fill, hatch, zorder=2)
    ax.text(x + PAD + TAB + 0.1, hy + LINE * 0.6, f"{b.header_title} \u00b7 {b.header_size} B",
            fontsize=fs, fontweight="bold", va="center", color=th.foreground, zorder=3)
    for k, line in enumerate(b.lines):
        t, s = _fit_text([line], w - 2 * PAD - TAB - 0.4, fs)
        ax.text(x + PAD + TAB + 0.3, hy + LINE * (k + 1.6), t, fontsize=s, va="center",
                color=th.foreground, zorder=3)
    cy = hy + hh + PAD
    for c in b.children:
        cy += _draw_box(ax, d, c, x + INSET, cy, w - 2 * INSET, th, fs) + PAD
    return h


def nested_figure(n: L.Nested, d: Dissection, th: Theme, size=None):
    fs = BASE_FONT_SIZE - 1
    body = sum(_box_height(r) + PAD for r in n.roots)
    notes = len(n.notes)
    height = 0.9 + notes * LINE + body + 0.5
    w, h = _size((SLIDE_SIZE[0], max(SLIDE_SIZE[1], height)), size)
    fig = new_figure((w, h), th)
    ax = _axes(fig, w, h, th)
    ax.text(0.3, 0.35, n.heading, fontsize=fs + 3, fontweight="bold", va="center", color=th.foreground)
    y = 0.7
    for note in n.notes:
        t, s = _fit_text([f"Note: {note}"], w - 0.6, fs)
        ax.text(0.3, y, t, fontsize=s, va="center", style="italic", color=th.muted)
        y += LINE
    y += 0.05
    for r in n.roots:
        y += _draw_box(ax, d, r, 0.3, y, w - 0.6, th, fs) + PAD
    ax.text(0.3, y + 0.2, f"Overhead: {n.overhead}", fontsize=fs, va="center", color=th.foreground)
    return fig


# ---------------------------------------------------------------- stack


def stack_figure(s: L.Stack, d: Dissection, th: Theme, size=None):
    fs = BASE_FONT_SIZE
    w, h = _size((SLIDE_SIZE[0], max(SLIDE_SIZE[1], 1.6 + 1.05 * len(s.rows))), size)
    fig = new_figure((w, h), th)
    ax = _axes(fig, w, h, th)
    left = 2.5
    labels = [(b.label.replace(" header", " hdr"), f"{b.size} B" + ("" if b.captured else " (not captured)"))
              for b in s.blocks]
    want = [max(0.85, CHAR_W * (fs - 1) * max(len(a), len(b)) + 0.25) for a, b in labels]
    avail = w - left - 0.3
    scale = min(1.0, avail / sum(want))
    widths = [x * scale for x in want]
    xs = [left]
    for x in widths:
        xs.append(xs[-1] + x)
    ax.text(0.3, 0.4, "Encapsulation: each layer adds its header", fontsize=fs + 3, fontweight="bold",
            va="center", color=th.foreground)
    row_h, gap = 0.62, 0.42
    y = 0.95
    for r, row in enumerate(s.rows):
        ax.text(0.3, y + row_h * 0.3, row.layer, fontsize=fs - 1, va="center", color=th.muted)
        ax.text(0.3, y + row_h * 0.72, f"{row.pdu}  {row.total} B", fontsize=fs, va="center",
                fontweight="bold", color=th.foreground)
        for i in range(row.first, row.last):
            b = s.blocks[i]
            key = _key(d, b.style)
            fill, hatch = layer_style(th, key)
            new = (i == row.first and r > 0) or (r == 0)
            _rect(ax, xs[i], y, widths[i], row_h, th, fill, dashed=not b.captured,
                  lw=2.2 if new and b.captured else 1.0, zorder=2)
            if hatch:
                _rect(ax, xs[i], y + row_h - 0.12, widths[i], 0.12, th, fill, hatch, zorder=2)
            a, bsz = labels[i]
            t, sz = _fit_text([a, a.split()[0]], widths[i] - 0.1, fs - 1)
            ax.text(xs[i] + widths[i] / 2, y + 0.2, t, fontsize=sz, ha="center", va="center",
                    fontweight="bold" if new else "normal", color=th.foreground, zorder=3)
            t, sz = _fit_text([bsz, bsz.split(" (")[0] + "*"], widths[i] - 0.1, fs - 2)
            ax.text(xs[i] + widths[i] / 2, y + 0.4, t, fontsize=sz, ha="center", va="center",
                    color=th.foreground, zorder=3)
        if r > 0:
            ax.annotate("", xy=(xs[row.first] + 0.05, y - 0.02), xytext=(xs[row.first] + 0.05, y - gap + 0.02),
                        arrowprops=dict(arrowstyle="-|>", color=th.muted, lw=1.2))
            ax.text(xs[row.first] - 0.08, y - gap / 2, row.action, fontsize=fs - 2, ha="right",
                    va="center", color=th.muted, style="italic")
        y += row_h + gap
    notes = [f"{row.pdu}: {row.note}" for row in s.rows if row.note] + [f"Note: {n}" for n in s.notes]
    for note in notes:
        t, sz = _fit_text([note], w - 0.6, fs - 2)
        ax.text(0.3, y, t, fontsize=sz, va="center", style="italic", color=th.muted)
        y += LINE
    return fig


# ---------------------------------------------------------------- fields

ROW_H = 0.52


def _grid_height(g: L.Grid) -> float:
    return 0.75 + len(g.rows) * ROW_H


def _draw_grid(ax, g: L.Grid, key: str, x, y, w, th: Theme, fs: float) -> float:
    bw = w / 32
    fill, hatch = layer_style(th, key)
    ax.text(x, y + 0.15, f"{g.title} \u00b7 {L.range_text(g.offset, g.size)}", fontsize=fs + 1,
            fontweight="bold", va="center", color=th.foreground)
    for b in range(32):
        ax.text(x + (b + 0.5) * bw, y + 0.5, str(b), fontsize=min(fs - 3, bw * 72 * 0.8), ha="center",
                va="center", color=th.muted)
    top = y + 0.65
    _rect(ax, x - 0.16, top, 0.12, len(g.rows) * ROW_H, th, fill, hatch, lw=0.6)
    for r, row in enumerate(g.rows):
        for c in row:
            cx, cy, cw, ch = x + c.bit * bw, top + r * ROW_H, c.bits * bw, c.rows * ROW_H
            _rect(ax, cx, cy, cw, ch, th, fill if not c.missing else th.background, dashed=c.missing, lw=0.9)
            if c.cont:
                options = [f"{c.short} (cont.)", c.short, "\u2026"]
                t, s = _fit_text(options, cw - 0.06, fs - 3)
                ax.text(cx + cw / 2, cy + ch / 2, t, fontsize=s, ha="center", va="center",
                        color=th.muted, style="italic")
                continue
            t, s = _fit_text([c.name, c.short], cw - 0.06, fs - 3, 5.5)
            ax.text(cx + cw / 2, cy + min(ch, ROW_H) * 0.3, t, fontsize=s, ha="center", va="center",
                    color=th.foreground)
            v, s = _fit_text([c.text, c.text.split(" (")[0]], cw - 0.06, fs - 1, 5.5)
            ax.text(cx + cw / 2, cy + min(ch, ROW_H) * 0.7 + (ch - ROW_H) / 2 * (1 if c.rows > 1 else 0), v,
                    fontsize=s, ha="center", va="center", fontweight="bold", color=th.foreground)
    return _grid_height(g)


def fields_figure(grids: tuple[L.Grid, ...], d: Dissection, th: Theme, size=None):
    fs = BASE_FONT_SIZE
    total = sum(_grid_height(g) + 0.25 for g in grids)
    columns: list[list[L.Grid]] = [list(grids)]
    if total > SLIDE_SIZE[1] - 0.8 and len(grids) > 1:
        best, acc = None, 0.0
        for k in range(1, len(grids)):
            acc += _grid_height(grids[k - 1]) + 0.25
            cost = max(acc, total - acc)
            if best is None or cost < best[0]:
                best = (cost, k)
        columns = [list(grids[:best[1]]), list(grids[best[1]:])]
    col_h = max(sum(_grid_height(g) + 0.25 for g in col) for col in columns) if grids else 1
    w, h = _size((SLIDE_SIZE[0], max(SLIDE_SIZE[1], col_h + 0.9)), size)
    fig = new_figure((w, h), th)
    ax = _axes(fig, w, h, th)
    ax.text(0.3, 0.35, "Header fields, 32 bits per row (this frame's values)", fontsize=fs + 3,
            fontweight="bold", va="center", color=th.foreground)
    colw = (w - 0.6 - 0.45 * (len(columns) - 1)) / len(columns)
    for ci, col in enumerate(columns):
        x = 0.45 + ci * (colw + 0.45)
        y = 0.7
        for g in col:
            y += _draw_grid(ax, g, _key(d, g.style), x, y, colw - 0.15, th,
                            fs if len(columns) == 1 else fs - 1) + 0.25
    return fig


# ---------------------------------------------------------------- hex

HEX_ROWS = 24


def hex_figure(hd: L.HexDump, d: Dissection, th: Theme, size=None, max_rows: int = HEX_ROWS):
    fs = BASE_FONT_SIZE
    rows = hd.rows[:max_rows]
    rh = 0.3
    legend_h = 0.3 * len(hd.legend) + 0.3
    w, h = _size((SLIDE_SIZE[0], max(SLIDE_SIZE[1], 1.0 + rh * (len(rows) + 1) + legend_h)), size)
    fig = new_figure((w, h), th)
    ax = _axes(fig, w, h, th)
    ax.text(0.3, 0.35, "Frame bytes by layer (hex and ASCII)", fontsize=fs + 3, fontweight="bold",
            va="center", color=th.foreground)
    x0, cw, aw = 1.1, 0.46, 0.2
    ax0 = x0 + 16 * cw + 0.4
    y = 0.8
    previous = None  # the style of the byte before, across rows: a layer's first byte is bold
    for row in rows:
        ax.text(0.3, y + rh / 2, f"{row.offset:04x}", family=MONO, fontsize=fs - 1, va="center", color=th.muted)
        for k, (byte, style) in enumerate(row.cells):
            fill, hatch = layer_style(th, _key(d, style))
            start, previous = style != previous, style
            _rect(ax, x0 + k * cw, y, cw, rh * 0.72, th, fill, lw=0.4)
            _rect(ax, x0 + k * cw, y + rh * 0.72, cw, rh * 0.22, th, fill, hatch, lw=0.4)
            ax.text(x0 + (k + 0.5) * cw, y + rh * 0.36, f"{byte:02x}", family=MONO, fontsize=fs - 1,
                    ha="center", va="center", fontweight="bold" if start else "normal", color=th.foreground)
            ch = chr(byte) if 32 <= byte < 127 else "\u00b7"
            _rect(ax, ax0 + k * aw, y, aw, rh * 0.94, th, fill, lw=0.3)
            ax.text(ax0 + (k + 0.5) * aw, y + rh * 0.45, ch, family=MONO, fontsize=fs - 2, ha="center",
                    va="center", color=th.foreground)
        y += rh + 0.04
    if len(hd.rows) > max_rows:
        rest = sum(len(r.cells) for r in hd.rows[max_rows:])
        ax.text(x0, y + 0.12, f"\u2026 {rest} more bytes not drawn (the text view lists them all)",
                fontsize=fs - 2, style="italic", va="center", color=th.muted)
        y += 0.3
    y += 0.2
    for e in hd.legend:
        fill, hatch = layer_style(th, _key(d, e.style))
        _rect(ax, 0.3, y, 0.5, 0.22, th, fill, hatch, lw=0.6)
        ax.text(0.95, y + 0.11, f"{e.title} \u00b7 {L.range_text(e.offset, e.size)}", fontsize=fs - 1,
                va="center", color=th.foreground)
        y += 0.3
    return fig


# ---------------------------------------------------------------- compare


def compare_figure(na: L.Nested, nb: L.Nested, diffs, name_a: str, name_b: str, th: Theme, size=None):
    fs = BASE_FONT_SIZE - 1
    rh = 0.24
    rows = list(diffs)
    layers = []
    for df in rows:
        if not layers or layers[-1] != df.layer:
            layers.append(df.layer)
    height = 1.3 + rh * (len(rows) + len(layers)) + 0.5
    w, h = _size((SLIDE_SIZE[0], max(SLIDE_SIZE[1], height)), size)
    fig = new_figure((w, h), th)
    ax = _axes(fig, w, h, th)
    changed = [df for df in rows if df.differs]
    ax.text(0.3, 0.35, f"The same segment in two captures: {len(changed)} fields differ",
            fontsize=fs + 4, fontweight="bold", va="center", color=th.foreground)
    c0, c1, c2 = 0.6, 4.2, 8.6
    y = 0.8
    for x, t in ((c0, "field"), (c1, name_a), (c2, name_b)):
        ax.text(x, y, t, fontsize=fs + 1, fontweight="bold", va="center", color=th.foreground)
    y += rh * 1.2
    layer = None
    for df in rows:
        if df.layer != layer:
            layer = df.layer
            ax.text(0.3, y + rh / 2, layer, fontsize=fs, fontweight="bold", va="center", color=th.muted)
            y += rh
        if df.differs:
            # A plain band under the text and the hatch only in a gutter left of it: hatching
            # behind letters makes them unreadable, on a slide and in greyscale.
            _rect(ax, 0.3, y, w - 0.6, rh, th, th.fills[1], lw=0.6)
            _rect(ax, 0.1, y, 0.18, rh, th, th.fills[3], "///", lw=0.6)
            ax.text(0.38, y + rh / 2, "\u2260", fontsize=fs + 2, fontweight="bold", va="center",
                    color=th.alert)
        weight = "bold" if df.differs else "normal"
        for x, t, lim in ((c0, df.field, c1 - c0 - 0.1), (c1, df.a, c2 - c1 - 0.1), (c2, df.b, w - c2 - 0.4)):
            t2, s = _fit_text([t], lim, fs)
            ax.text(x, y + rh / 2, t2, fontsize=s, va="center", fontweight=weight, color=th.foreground)
        y += rh
    return fig


def figure(view: str, d: Dissection, pkt, frame: int, th: Theme, size=None, hex_rows: int | None = None):
    if view == "nested":
        return nested_figure(L.nested(d, pkt, frame), d, th, size)
    if view == "stack":
        return stack_figure(L.stack(d), d, th, size)
    if view == "fields":
        return fields_figure(L.fields(d), d, th, size)
    if view == "hex":
        if hex_rows is not None and hex_rows < 0:
            raise SynackError(f"--hex-rows {hex_rows}: give a number of rows, or 0 for the whole frame")
        hd = L.hexdump(d)
        return hex_figure(hd, d, th, size, max_rows=hex_rows or (len(hd.rows) if hex_rows == 0 else HEX_ROWS))
    raise ValueError(view)
