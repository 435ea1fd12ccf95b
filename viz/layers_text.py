"""Terminal rendering of the frame views; draws the layouts of `viz.layers` as text.

Box-drawing characters and a fixed width, so the output diffs cleanly
(the golden files in tests/golden/ are this renderer's output).
"""
from __future__ import annotations

import textwrap

from viz.layers import (Box, Difference, Grid, HexDump, Nested, Stack, range_text)

WIDTH = 80


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]


# ---------------------------------------------------------------- nested


def nested(n: Nested) -> str:
    depth = max((_depth(r) for r in n.roots), default=0)
    width = max(WIDTH, 44 + 4 * depth)
    out = [n.heading]
    for note in n.notes:
        out += _wrap(f"Note: {note}", width)
    for r in n.roots:
        out += _box(r, width)
    out += _wrap(f"Overhead: {n.overhead}", width)
    return "\n".join(out) + "\n"


def _depth(b: Box) -> int:
    return 1 + max((_depth(c) for c in b.children), default=0)


def _box(b: Box, width: int) -> list[str]:
    inner = width - 4
    dashed = not b.captured
    h, v = ("\u2504", "\u2506") if dashed else ("\u2500", "\u2502")
    if b.captured:
        title = f"{b.title} \u00b7 {range_text(b.offset, b.size)}"
    else:
        title = f"{b.title} \u00b7 {b.size} B, not captured"
    top = f"\u250c{h} {title} "
    lines = [top + h * max(0, width - len(top) - 1) + "\u2510"]
    body: list[str] = []
    if b.kind == "pdu":
        body += _wrap(f"{b.header_title} \u00b7 {range_text(b.offset, b.header_size)}", inner)
        for line in b.lines:
            body += ["  " + s for s in _wrap(line, inner - 2)]
    elif b.captured:
        for line in b.lines:
            body += _wrap(line, inner)
    elif b.kind == "fcs":
        body += _wrap("frame check sequence (CRC-32) on the wire; the NIC checks and strips it", inner)
    lines += [f"{v} {s.ljust(inner)} {v}" for s in body]
    for c in b.children:
        lines += [f"{v} {s} {v}" for s in _box(c, inner)]
    lines.append("\u2514" + h * (width - 2) + "\u2518")
    return lines


# ---------------------------------------------------------------- stack


def _short(label: str) -> str:
    return label.replace(" header", "").replace("Ethernet II", "Ethernet")


def stack(s: Stack) -> str:
    labels = [f"{_short(b.label)} {b.size}" + ("" if b.captured else "*") for b in s.blocks]
    widths = [len(t) + 2 for t in labels]
    x = [0]
    for w in widths:
        x.append(x[-1] + w + 1)
    names = [f"{r.layer}: {r.pdu}" for r in s.rows]
    name_w = max(len(n) for n in names) + 1
    tot_w = max(len(str(r.total)) for r in s.rows) + 2
    out = ["Encapsulation, one header per layer (sizes in bytes; * = not in the capture)", ""]
    for name, r in zip(names, s.rows):
        line = [" "] * (x[-1] + 1)
        for i in range(r.first, r.last):
            cell = "|" + labels[i].center(widths[i]) + "|"
            line[x[i]:x[i] + len(cell)] = list(cell)
        out.append(f"{name.ljust(name_w)}{str(r.total).rjust(tot_w - 2)} B  {''.join(line)}".rstrip())
    for r in s.rows:
        if r.note:
            out.append(f"{r.pdu}: {r.note}")
    for note in s.notes:
        out += _wrap(f"Note: {note}", WIDTH)
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- fields

RULER = ((" " + " ".join(str(i // 10) if i % 10 == 0 else " " for i in range(32))).rstrip(),
         " " + " ".join(str(i % 10) for i in range(32)))


def _fit(options: list[str], width: int) -> str:
    for t in options:
        if t and len(t) <= width:
            return t
    t = next((t for t in options if t), "")
    return (t[:max(0, width - 1)] + "\u2026") if width > 1 and t else t[:width]


def _cell_text(c, rows_total: int) -> list[str]:
    """Two text lines per row a cell spans: name, then value."""
    w = 2 * c.bits - 1
    if c.cont:
        name = _fit([f"{c.name} (cont.)", f"{c.short} (cont.)", c.short, "\u2026"], w)
        return [name, ""] + [""] * (2 * rows_total - 2)
    name = _fit([c.name, c.short], w)
    value = _fit([c.text, c.text.split(" (")[0]], w)
    if c.more:
        value = value if len(value) < w else value
    return [name, value] + [""] * (2 * rows_total - 2)


def fields_grid(g: Grid) -> str:
    out = [f"{g.title} \u00b7 {range_text(g.offset, g.size)}", RULER[0], RULER[1]]
    nrows = len(g.rows)
    row_w = g.row_bits
    # texts[r] = list of (bit, bits, [line0, line1]) for every cell occupying row r
    occ: list[list] = [[] for _ in range(nrows)]
    spanned: list[list] = [[] for _ in range(nrows)]  # (bit, bits) continuing from above
    for r, row in enumerate(g.rows):
        for c in row:
            lines = _cell_text(c, c.rows)
            for k in range(c.rows):
                occ[r + k].append((c.bit, c.bits, lines[2 * k:2 * k + 2]))
                if k:
                    spanned[r + k].append((c.bit, c.bits))
    for r in range(nrows):
        above = row_w[r - 1] if r else 0
        out.append(_border(max(above, row_w[r]), spanned[r]))
        for ln in range(2):
            line = [" "] * (2 * row_w[r] + 1)
            for bit, bits, texts in sorted(occ[r]):
                line[2 * bit] = "|"
                line[2 * (bit + bits)] = "|"
                t = texts[ln].center(2 * bits - 1)
                line[2 * bit + 1:2 * (bit + bits)] = list(t)
            out.append("".join(line).rstrip())
    if nrows:
        out.append(_border(row_w[-1], []))
    return "\n".join(out) + "\n"


def _border(bits: int, open_spans) -> str:
    line = list("+-" * bits + "+")
    for bit, width in open_spans:
        for k in range(2 * bit + 1, 2 * (bit + width)):
            line[k] = " "
    return "".join(line)


def fields(grids: tuple[Grid, ...]) -> str:
    return "\n".join(fields_grid(g) for g in grids)


# ---------------------------------------------------------------- hex


def hexdump(h: HexDump) -> str:
    marks = {e.style: e.mark for e in h.legend}
    out = []
    for row in h.rows:
        hx = " ".join(f"{b:02x}" for b, _ in row.cells)
        asc = "".join(chr(b) if 32 <= b < 127 else "." for b, _ in row.cells)
        out.append(f"{row.offset:04x}  {hx.ljust(47)}  {asc}")
        mk = " ".join(marks[s] * 2 for _, s in row.cells)
        out.append(f"      {mk.ljust(47)}  {''.join(marks[s] for _, s in row.cells)}")
    out.append("")
    out.append("Legend:")
    for e in h.legend:
        out.append(f"  {e.mark * 2}  {e.title} \u00b7 {range_text(e.offset, e.size)}")
    for note in h.notes:
        out += _wrap(f"Note: {note}", WIDTH)
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- compare


def compare(diffs: tuple[Difference, ...], name_a: str, name_b: str) -> str:
    fw = max([len(d.field) for d in diffs] + [5])
    aw = min(34, max([len(d.a) for d in diffs] + [len(name_a)]))
    bw = min(34, max([len(d.b) for d in diffs] + [len(name_b)]))
    out = [f"  {'field'.ljust(fw)}  {name_a[:aw].ljust(aw)}  {name_b[:bw]}"]
    layer = None
    for d in diffs:
        if d.layer != layer:
            layer = d.layer
            out.append(f"{layer}")
        mark = "\u2260" if d.differs else " "
        a = d.a if len(d.a) <= aw else d.a[:aw - 1] + "\u2026"
        b = d.b if len(d.b) <= bw else d.b[:bw - 1] + "\u2026"
        out.append(f"{mark} {d.field.ljust(fw)}  {a.ljust(aw)}  {b}".rstrip())
    changed = [f"{d.layer.split(' (')[0]} {d.field}" for d in diffs if d.differs]
    out.append("")
    out.append(f"{len(changed)} fields differ" + (": " + ", ".join(changed) if changed else ""))
    return "\n".join(out) + "\n"


def views(d, pkt, frame: int, names) -> str:
    """The text of each view in `names` (nested, stack, fields, hex) of one frame, in turn."""
    from viz import layers

    parts = []
    for v in names:
        if v == "nested":
            parts.append(nested(layers.nested(d, pkt, frame)))
        elif v == "stack":
            parts.append(stack(layers.stack(d)))
        elif v == "fields":
            parts.append(fields(layers.fields(d)))
        else:
            parts.append(hexdump(layers.hexdump(d)))
    return "\n".join(parts)
