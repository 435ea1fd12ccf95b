"""The ladder as native TikZ: a standalone LaTeX document whose picture lecture notes can edit.

PGF output (via matplotlib) reproduces the figure exactly but is unreadable
source; this writes `\\draw` commands a lecturer can restyle, with labels as
`sloped` nodes so TikZ itself turns them to the arrow's slope.  Geometry is the
matplotlib renderer's, so both outputs agree.
"""
from __future__ import annotations

from viz.figure import Theme, latex_text
from viz.ladder import Ladder
from viz.ladder_mpl import _geometry

_EXTRA = {"→": r"$\to$", "…": r"\ldots{}", "×": r"$\times$", "µ": r"$\mu$"}


NEWLINE = r" \\ "
LOST = r"\textcolor{syalert}{lost}"


def tex(text: str) -> str:
    return latex_text(text, _EXTRA)


def _rgb(color: str) -> str:
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(color)
    return f"{r:.3f},{g:.3f},{b:.3f}"


def render_tikz(ladder: Ladder, theme: Theme, standalone: bool = True) -> str:
    """A standalone document, or (standalone=False) just the picture for \\input, which needs
    \\usepackage{tikz} and \\usetikzlibrary{arrows.meta} in the preamble."""
    g = _geometry(ladder, None)
    out = [
        "% synack ladder diagram: compile with pdflatex, or \\includestandalone it.",
        "\\documentclass[tikz,border=4pt]{standalone}",
        "\\usepackage[T1]{fontenc}",
        "\\usetikzlibrary{arrows.meta}",
        "\\begin{document}",
    ] if standalone else [
        "% synack ladder diagram: \\input{} it; needs \\usepackage{tikz} and \\usetikzlibrary{arrows.meta}.",
        "\\begingroup",
    ]
    for name in ("foreground", "muted", "data", "control", "alert", "accent"):
        out.append(f"\\definecolor{{sy{name}}}{{rgb}}{{{_rgb(getattr(theme, name))}}}")
    out += [
        "\\begin{tikzpicture}[x=1in,y=1in,font=\\sffamily\\small,",
        "  data/.style={-{Stealth[length=9pt,width=7pt]},line width=2pt,color=sydata},",
        "  control/.style={-{Stealth[length=7pt,width=5pt]},line width=0.8pt,color=sycontrol},",
        "  reset/.style={control,color=syalert,dashed},",
        "  lbl/.style={sloped,above,inner sep=1.5pt,text=syforeground},",
        "  sub/.style={sloped,below,inner sep=1.5pt,font=\\sffamily\\footnotesize},",
        "  state/.style={font=\\sffamily\\small\\bfseries,text=syaccent},",
        "  call/.style={font=\\sffamily\\small\\itshape,text=syforeground}]",
    ]
    y_top = g.y(ladder.y_min) + g.pitch * 0.5
    y_bottom = g.y(ladder.y_max) - g.pitch * 0.3
    for x, l in zip(g.xs, ladder.lifelines):
        out.append(f"\\draw[symuted,line width=1pt] ({x:.3f},{y_top:.3f}) -- ({x:.3f},{y_bottom:.3f});")
        out.append(f"\\node[font=\\sffamily\\bfseries] at ({x:.3f},{g.height - 0.35:.3f}) {{{tex(l.role)}}};")
        out.append(f"\\node[text=symuted] at ({x:.3f},{g.height - 0.58:.3f}) {{{tex(l.address)}}};")
    for a in ladder.arrows:
        x0, x1 = g.xs[a.src], g.xs[a.dst]
        y0, y1 = g.y(a.y_send), g.y(a.y_recv)
        style = "reset" if a.reset else a.kind
        label = tex(a.label)
        if a.kind == "data":
            label = f"\\textbf{{{label}}}"
        below = [tex(a.preview)] if a.preview else []
        below += [f"\\textcolor{{syalert}}{{\\textit{{{tex(t)}}}}}" for t in a.tags]
        if a.lost:
            xe, ye = x0 + (x1 - x0) * 2 / 3, y0 + (y1 - y0) * 2 / 3
            sub = "~~".join(below + ([LOST] if a.says_lost else []))
            out.append(f"\\draw[{style},-] ({x0:.3f},{y0:.3f}) -- node[lbl,pos=0.5] {{{label}}}"
                       f" node[sub,pos=0.5] {{{sub}}} ({xe:.3f},{ye:.3f});")
            out.append(f"\\node[text=syalert,font=\\bfseries\\Large] at ({xe:.3f},{ye:.3f}) {{$\\times$}};")
            continue
        joined = "~~".join(below)
        sub = f" node[sub,pos=0.45] {{{joined}}}" if below else ""
        out.append(f"\\draw[{style}] ({x0:.3f},{y0:.3f}) -- node[lbl,pos=0.55] {{{label}}}{sub}"
                   f" ({x1:.3f},{y1:.3f});")
    for b in ladder.bands:
        xl, xr = g.xs[b.left] + 0.12, g.xs[b.right] - 0.12
        yt, yb = g.y(b.y_start) - g.pitch * 0.1, g.y(b.y_end) + g.pitch * 0.1
        out.append(f"\\draw[symuted,dotted,fill=symuted!12] ({xl:.3f},{yt:.3f}) rectangle ({xr:.3f},{yb:.3f});")
        out.append(f"\\node[font=\\sffamily\\small\\itshape] at ({(xl + xr) / 2:.3f},{(yt + yb) / 2:.3f}) "
                   f"{{{tex(b.text)}}};")
    last = len(ladder.lifelines) - 1
    marks: dict[tuple[int, float], list] = {}
    for s in ladder.states:
        marks.setdefault((s.lifeline, s.y), []).append((s.order, "state", (s.state,)))
    for c in ladder.calls:
        marks.setdefault((c.lifeline, c.y), []).append((c.order, "call", c.lines))
    for (lf, row), items in sorted(marks.items()):
        lines = [(kind, line) for _, kind, ls in sorted(items) for line in ls]
        left = lf == 0 and last > 0
        x = g.xs[lf] + (-0.08 if left else 0.08)
        y0 = g.y(row) + (len(lines) - 1) * 0.17 / 2
        for k, (kind, line) in enumerate(lines):
            out.append(f"\\node[{kind},anchor={'east' if left else 'west'}] at ({x:.3f},{y0 - k * 0.17:.3f}) "
                       f"{{{tex(line)}}};")
    for s in ladder.states:
        if s.y_end is not None:
            x = g.xs[s.lifeline] + (-0.05 if s.lifeline == 0 and last > 0 else 0.05)
            out.append(f"\\draw[syaccent,line width=2.5pt,opacity=0.5] ({x:.3f},{g.y(s.y) - 0.1:.3f}) -- "
                       f"({x:.3f},{g.y(s.y_end):.3f});")
    if ladder.times:
        out.append(f"\\node[anchor=east,text=symuted,font=\\sffamily\\scriptsize] at ({g.time_x:.3f},"
                   f"{g.height - 0.58:.3f}) {{time ({tex(ladder.time_unit)})}};")
        last_y = None
        for t in ladder.times:
            y = g.y(t.y)
            if last_y is not None and last_y - y < 0.16:
                continue
            if any(abs(y - g.y(b.y)) < 0.16 for b in ladder.breaks):
                continue  # the break's length is written there
            out.append(f"\\node[anchor=east,text=symuted,font=\\ttfamily\\scriptsize] at ({g.time_x:.3f},{y:.3f}) "
                       f"{{{tex(t.text)}}};")
            last_y = y
    for p in ladder.phases:
        ya, yb = g.y(p.y_start) - 0.03, g.y(p.y_end) + 0.03
        x = g.phase_x
        out.append(f"\\draw[symuted] ({x - 0.08:.3f},{ya:.3f}) -- ({x:.3f},{ya:.3f}) -- ({x:.3f},{yb:.3f}) -- "
                   f"({x - 0.08:.3f},{yb:.3f});")
        out.append(f"\\node[anchor=west,text=symuted,align=left] at ({x + 0.08:.3f},{(ya + yb) / 2:.3f}) "
                   f"{{{tex(p.name).replace(' ', NEWLINE, 1)}}};")
    for b in ladder.breaks:
        y = g.y(b.y)
        for x in g.xs:
            out.append(f"\\draw[syforeground] ({x - 0.1:.3f},{y - 0.07:.3f}) -- ++(0.2,0.06) "
                       f"({x - 0.1:.3f},{y + 0.01:.3f}) -- ++(0.2,0.06);")
        out.append(f"\\node[anchor=east,text=symuted,font=\\sffamily\\scriptsize\\itshape] at ({g.time_x:.3f},{y:.3f}) "
                   f"{{{tex(b.text)}}};")
    if ladder.caption:
        out.append(f"\\node[anchor=base west,text=symuted,font=\\sffamily\\scriptsize] at (0.2,0.18) "
                   f"{{{tex(ladder.caption)}}};")
    out += ["\\end{tikzpicture}", "\\end{document}" if standalone else "\\endgroup", ""]
    return "\n".join(out)
