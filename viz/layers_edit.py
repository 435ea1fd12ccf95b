"""A frame's header grids as text lecturers keep editing: LaTeX `bytefield`, mermaid `packet`.

Both read the grids of `viz.layers.fields` (32-bit rows, the real values), so
they show what the SVG's fields view shows; what a format cannot say is listed
in a comment at the top.
"""
from __future__ import annotations

from viz.figure import latex_text
from viz.layers import Grid


def _cell_text(c) -> tuple[str, str]:
    name = c.name + (" (cont.)" if c.cont else "")
    return name, ("" if c.missing else c.text)


def bytefield(grids: tuple[Grid, ...], title: str) -> str:
    """A standalone LaTeX document: one bytefield per header, 32 bits a row, name over value."""
    out = [f"% synack header grid (LaTeX bytefield) of {title}",
           "% left out: the layer fill colours (the grids are black on white); a field missing from",
           "% a truncated capture is an empty box",
           r"\documentclass{article}", r"\usepackage[margin=1.5cm,a4paper]{geometry}", r"\usepackage{bytefield}",
           r"\usepackage[T1]{fontenc}", r"\pagestyle{empty}", r"\begin{document}", r"\sffamily",
           rf"\noindent\textbf{{{latex_text(title)}}}\par\medskip"]
    for g in grids:
        out += [rf"\noindent {latex_text(g.title)} (bytes {g.offset}--{g.offset + g.size - 1}, {g.size} B)\par",
                r"\smallskip\noindent", r"\begin{bytefield}[bitwidth=1.45em,bitheight=3.2ex]{32}",
                r"  \bitheader{0-31} \\"]
        covered = g.row_bits
        for r, row in enumerate(g.rows):
            parts = []
            for c in row:
                name, value = _cell_text(c)
                label = latex_text(c.short if c.bits < 8 else name)
                size = r"\tiny" if c.bits < 8 else r"\footnotesize"
                body = rf"{size}\begin{{tabular}}{{@{{}}c@{{}}}}{label}\\{latex_text(value)}\end{{tabular}}"
                if c.rows > 1:
                    parts.append(rf"\wordbox{{{c.rows}}}{{{body}}}")
                else:
                    parts.append(rf"\bitbox{{{c.bits}}}{{{body}}}")
            if not parts:
                continue  # a row wholly spanned from above
            line = " & ".join(parts)
            out.append(f"  {line}" + (r" \\" if covered[r] >= 32 or r < len(g.rows) - 1 else ""))
        out += [r"\end{bytefield}", r"\bigskip", ""]
    out.append(r"\end{document}")
    return "\n".join(out) + "\n"


def _mmd(text: str) -> str:
    return text.replace('"', "'")


def mermaid_packet(grids: tuple[Grid, ...], title: str) -> str:
    """A mermaid `packet-beta` diagram.  It has one bit numbering for the whole diagram, so each
    header starts on a new 32-bit row, the rest of its last row filled by a marked gap."""
    out = ["---", f"title: {_mmd(title)}", "---",
           f"%% synack header grid (mermaid packet) of {title}",
           "%% left out: the per-header bit numbering (mermaid numbers the bits of the whole diagram: each",
           "%% header starts on a new 32-bit row, after a gap block closing the row), the layer fill colours",
           "packet-beta"]
    bit = 0
    for g in grids:
        for row in g.rows:
            for c in sorted(row, key=lambda c: c.bit):
                width = c.bits * c.rows
                name, value = _cell_text(c)
                name = c.short if c.bits < 8 else name
                if c.bit == 0 and row is g.rows[0]:
                    name = f"{g.title.split(' header')[0]} {name}"
                label = f"{name}: {value}" if value else name
                out.append(f'{bit}-{bit + width - 1}: "{_mmd(label)}"' if width > 1 else f'{bit}: "{_mmd(label)}"')
                bit += width
        if bit % 32:
            pad = 32 - bit % 32
            out.append(f'{bit}-{bit + pad - 1}: "(end of {_mmd(g.title.split(" ·")[0])})"' if pad > 1
                       else f'{bit}: "(end)"')
            bit += pad
    return "\n".join(out) + "\n"
