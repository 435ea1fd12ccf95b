"""The ladder as terminal text: one line per arrow, states and calls in side columns.

A terminal cannot slope a line, so the text ladder keeps the layout's order
and drops its slopes: each arrow is a horizontal line drawn at its send row,
and what happens at the receiver (a new state, a returning call) is written
on the lines that follow, where the layout put it.  Data segments use a heavy
shaft, control segments a light one, so the distinction survives without
colour; `ascii=True` swaps every drawing character for plain ASCII.
"""
from __future__ import annotations

from dataclasses import dataclass

from viz.ladder import Arrow, Band, Ladder


@dataclass(frozen=True)
class Glyphs:
    bar: str
    wait_bar: str
    data: str
    control: str
    right: str
    left: str
    lost: str
    band: str
    rule: str
    ellipsis: str
    blocked: str  # a lifeline while one of its calls blocks (UNP's bar)


BOX = Glyphs("│", "┆", "━", "─", "▶", "◀", "✕", "┄", "─", "…", "┃")
ASCII = Glyphs("|", ":", "=", "-", ">", "<", "X", ".", "-", "...", "#")

MIN_GAP = 24


def _fit(text: str, width: int, g: Glyphs) -> str:
    if width <= 0:
        return ""
    if g is not BOX:
        text = text.replace("…", "...").replace("→", "->").replace("×", "x").replace("·", "-")
        text = text.encode("ascii", "replace").decode("ascii")
    if len(text) <= width:
        return text
    e = g.ellipsis
    return text[: max(0, width - len(e))] + e if width > len(e) else text[:width]


def render_text(ladder: Ladder, width: int = 100, ascii: bool = False) -> str:
    """The whole ladder as lines of at most `width` characters, ending in a newline."""
    g = ASCII if ascii else BOX
    n = len(ladder.lifelines)
    last = n - 1
    left_notes: dict[float, list[str]] = {}
    right_notes: dict[float, list[str]] = {}

    def note(lifeline: int, y: float, text: str) -> None:
        if lifeline == 0 and n > 1:
            left_notes.setdefault(y, []).append(text)
        else:
            prefix = "" if lifeline == last else f"{ladder.lifelines[lifeline].role}: "
            right_notes.setdefault(y, []).append(prefix + text)

    marks = sorted([(s.y, s.lifeline, s.order, (s.state + (" (2MSL)" if s.y_end is not None else ""),))
                    for s in ladder.states] + [(c.y, c.lifeline, c.order, c.lines) for c in ladder.calls])
    for y, lifeline, _, lines in marks:
        for line in lines:
            note(lifeline, y, line)

    time_w = max([len(t.text) for t in ladder.times] + [len(b.text) + 3 for b in ladder.breaks]
                 + [len(ladder.time_unit), 4]) + 1
    want_l = max((len(t) for v in left_notes.values() for t in v), default=0)
    want_r = max((len(t) for v in right_notes.values() for t in v), default=0)
    heads = [max(len(l.role), len(l.address)) for l in ladder.lifelines]
    budget = width - time_w - n
    side_cap = max(8, (budget - MIN_GAP * max(last, 1)) // 2)
    lw = min(max(want_l, heads[0] // 2) + 1, side_cap) if n > 1 else 0
    rw = min(max(want_r, heads[-1] // 2) + 2, side_cap)
    gap = (budget - lw - rw) // max(last, 1) if n > 1 else 0
    gap = max(gap, 9)
    xs = [time_w + lw + i * (gap + 1) for i in range(n)]
    total = xs[-1] + 1 + rw

    by_y: dict[float, list] = {}
    for a in ladder.arrows:
        by_y.setdefault(a.y_send, []).append(a)
    for b in ladder.bands:
        by_y.setdefault(b.y_start, []).append(b)
    ys = sorted(set(by_y) | set(left_notes) | set(right_notes))
    times = {}
    for t in ladder.times:
        times.setdefault(t.y, t.text)
    waits = {s.lifeline: s.y for s in ladder.states if s.y_end is not None}
    phases = sorted(ladder.phases, key=lambda p: p.y_start)
    breaks = sorted(ladder.breaks, key=lambda b: b.y)

    out: list[str] = []

    def blank(y: float | None) -> list[str]:
        row = [" "] * total
        for i, x in enumerate(xs):
            waiting = y is not None and i in waits and y > waits[i]
            blocked = y is not None and any(w.lifeline == i and w.y_start < y <= w.y_end for w in ladder.waits)
            row[x] = g.wait_bar if waiting else g.blocked if blocked else g.bar
        return row

    def put(row: list[str], x: int, text: str) -> None:
        for k, ch in enumerate(text):
            if 0 <= x + k < len(row):
                row[x + k] = ch

    for i, l in enumerate(ladder.lifelines):
        for line_no, text in enumerate((l.role, l.address)):
            while len(out) <= line_no:
                out.append(" " * total)
            row = list(out[line_no])
            t = _fit(text, gap + 1 if n > 1 else total, g)
            x = min(max(0, xs[i] - len(t) // 2), total - len(t))
            put(row, x, t)
            out[line_no] = "".join(row)
    head = blank(None)
    put(head, 0, ladder.time_unit.rjust(time_w - 1))
    out.append("".join(head))

    for y in ys:
        while phases and phases[0].y_start <= y:
            p = phases.pop(0)
            row = [" "] * total
            put(row, time_w, f"{g.rule * 2} {p.name} {g.rule * 2}")
            out.append("".join(row).rstrip())
        while breaks and breaks[0].y <= y:
            b = breaks.pop(0)
            row = blank(y)
            put(row, 0, ("≈≈" if g is BOX else "~~") + " " + (b.text if g is BOX else b.text.replace("µ", "u")))
            out.append("".join(row).rstrip())
        items = by_y.get(y, [])
        lefts = list(left_notes.get(y, []))
        rights = list(right_notes.get(y, []))
        lines: list[list[str]] = []
        first_time = times.get(y)
        for item in items:
            row = blank(y)
            if isinstance(item, Arrow):
                _arrow(row, item, xs, g)
                if first_time:
                    put(row, 0, first_time.rjust(time_w - 1))
                    first_time = None
                lines.append(row)
                extra = " ".join(([item.preview] if item.preview else []) + [f"[{t}]" for t in item.tags])
                if item.says_lost:
                    extra = (extra + " " if extra else "") + "[lost]"
                if extra:
                    row2 = blank(y)
                    lo, hi = sorted((xs[item.src], xs[item.dst]))
                    t = _fit(extra, hi - lo - 3, g)
                    put(row2, lo + (hi - lo - len(t)) // 2 + 1, t)
                    lines.append(row2)
            else:
                row = blank(y)
                _band(row, item, xs, g)
                first_time = first_time or times.get(item.y_start + 0.5)  # a band's time is at its middle
                if first_time:
                    put(row, 0, first_time.rjust(time_w - 1))
                    first_time = None
                lines.append(row)
        while len(lines) < max(len(lefts), len(rights)):
            lines.append(blank(y))
        for k, row in enumerate(lines):
            if k < len(lefts):
                t = _fit(lefts[k], lw - 1, g)
                put(row, xs[0] - 1 - len(t), t)
            if k < len(rights):
                put(row, xs[-1] + 2, _fit(rights[k], rw - 2, g))
            out.append("".join(row).rstrip())
    out.append("".join(blank(ladder.y_max + 1)).rstrip())
    if ladder.caption:  # wrapped at its ` · ` joints, as on the figure
        from viz.ladder import wrap_caption

        out += [_fit(line, width, g) for line in wrap_caption(ladder.caption, width)]
    text = "\n".join(line.rstrip() for line in out) + "\n"
    return text if g is BOX else text.encode("ascii", "replace").decode("ascii")


def _arrow(row: list[str], a: Arrow, xs: list[int], g: Glyphs) -> None:
    x0, x1 = xs[a.src], xs[a.dst]
    step = 1 if x1 > x0 else -1
    inner = list(range(x0 + step, x1, step))
    if a.lost:
        inner = inner[: max(2, len(inner) * 2 // 3)]
    shaft = g.data if a.kind == "data" else g.control
    for x in inner:
        row[x] = shaft
    if not inner:
        return
    head = g.lost if a.lost else (g.right if step > 0 else g.left)
    row[inner[-1]] = head
    span = len(inner) - 4
    label = _fit(a.label, span, g)
    if not label:
        return
    lo = min(inner)
    start = lo + (len(inner) - len(label)) // 2
    if a.lost:
        start = lo + 2 if step > 0 else max(inner) - 1 - len(label)
    row[start - 1] = " "
    for k, ch in enumerate(label):
        row[start + k] = ch
    if start + len(label) < len(row):
        row[start + len(label)] = " "


def _band(row: list[str], b: Band, xs: list[int], g: Glyphs) -> None:
    lo, hi = xs[b.left], xs[b.right]
    for x in range(lo + 1, hi):
        row[x] = g.band
    text = _fit(b.text, hi - lo - 5, g)
    start = lo + (hi - lo - len(text)) // 2 + 1
    row[start - 1] = " "
    for k, ch in enumerate(text):
        row[start + k] = ch
    row[start + len(text)] = " "
