"""The ladder as text lecturers keep editing: mermaid, PlantUML (teoz), mscgen, draw.io.

Each writer reads the computed layout (`viz.ladder.Ladder`), never a capture,
so what it shows is what the SVG shows: lifelines, arrows with their labels,
payload previews and analysis tags, lost segments, TCP states and socket calls
as notes, the connection phases as groups, collapsed runs as notes spanning
the lifelines.  What a format cannot say is listed in a comment at the top of
the file (`left_out`), and a request it cannot express at all is refused
(`check`), before any work.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from viz.ladder import Ladder

FORMATS = ("mmd", "puml", "msc", "drawio")
NAMES = {"mmd": "mermaid", "puml": "PlantUML", "msc": "mscgen", "drawio": "draw.io"}
SLANT_PX = 24  # PlantUML teoz: pixels an arrow drops per ladder row


def cannot(fmt: str, request: Any) -> str | None:
    """Why `fmt` cannot draw `request` (and what can), or None."""
    if fmt == "mmd" and (request.time == "scaled" or request.compare):
        what = "time scaled" if request.time == "scaled" else "compare (true send and receive times)"
        return (f"'mmd': mermaid draws every message level, so it cannot show {what}, whose slopes are "
                "the point (mermaid#450); possible: puml (teoz slants), msc (arcskip), drawio, svg")
    return None


# --------------------------------------------------------------------------- events in order


@dataclass(frozen=True)
class _Event:
    y: float
    rank: int  # at one height: arrivals, phase change, calls, the arrow, what sending caused
    order: int
    what: str  # "arrow" | "state" | "call" | "phase" | "band"
    item: Any


def events(ladder: Ladder) -> list[_Event]:
    """Everything the ladder draws, top to bottom, in the order a linear diagram lists it."""
    ev = [_Event(a.y_send, 3, i, "arrow", a) for i, a in enumerate(ladder.arrows)]
    ev += [_Event(s.y, 4 if s.event.startswith("send") else 0, s.order, "state", s) for s in ladder.states]
    ev += [_Event(c.y, 2, c.order, "call", c) for c in ladder.calls]
    ev += [_Event(p.y_start, 1, i, "phase", p) for i, p in enumerate(ladder.phases)]
    ev += [_Event(b.y_start, 3, -1, "band", b) for b in ladder.bands]
    return sorted(ev, key=lambda e: (e.y, e.rank, e.order))


def arrow_text(a) -> list[str]:
    """The lines written on an arrow: its label, the payload preview, tags, lost."""
    lines = [a.label]
    if a.preview:
        lines.append(a.preview)
    tags = list(a.tags) + (["lost"] if a.lost else [])
    if tags:
        lines.append("[" + ", ".join(tags) + "]")
    return lines


def state_text(s) -> str:
    return s.state + (" (until the end)" if s.y_end is not None else "")


@dataclass(frozen=True)
class _Syntax:
    """How a linear format (mermaid, PlantUML) writes each kind of event."""

    group: Any  # phase name -> lines opening its group
    end: str  # the line closing a group
    arrow: Any
    band: Any
    note: Any  # (state or call mark, "state" | "call") -> line


def _linear(ladder: Ladder, syntax: _Syntax) -> list[str]:
    """The body of a format that lists events top to bottom, phases as groups."""
    out: list[str] = []
    in_phase = False
    for e in events(ladder):
        if e.what == "phase":
            if in_phase:
                out.append(syntax.end)
            out += syntax.group(e.item.name)
            in_phase = True
        elif e.what == "arrow":
            out.append(syntax.arrow(e.item))
        elif e.what == "band":
            out.append(syntax.band(e.item))
        else:
            out.append(syntax.note(e.item, e.what))
    if in_phase:
        out.append(syntax.end)
    return out


def _left_out(fmt: str, ladder: Ladder) -> list[str]:
    gone = []
    if fmt in ("mmd",):
        gone.append("slopes: mermaid draws every message level, so transit time is not shown")
    if fmt in ("mmd", "puml", "msc") and ladder.times:
        gone.append("the time column (times: " + ", ".join(t.text for t in ladder.times[:6])
                    + (" ..." if len(ladder.times) > 6 else "") + f" {ladder.time_unit})")
    if fmt == "msc" and ladder.phases:
        gone.append("phases as brackets: mscgen has no groups; each phase starts at a labelled divider")
    if fmt in ("mmd", "puml", "msc") and any(s.y_end is not None for s in ladder.states):
        gone.append("TIME_WAIT's interval bar (the state is a note saying it lasts to the end)")
    if fmt in ("mmd", "puml", "msc") and ladder.breaks:
        gone.append("the break marks of compressed time gaps (" + ", ".join(b.text for b in ladder.breaks[:6])
                    + (" ..." if len(ladder.breaks) > 6 else "") + ")")
    if fmt in ("mmd", "puml", "msc"):
        gone.append("colours and line weights of data, control and reset segments (the labels say which)")
    return gone or ["nothing"]


# --------------------------------------------------------------------------- mermaid


def _mmd(text: str) -> str:
    table = {"#": "#35;", ";": "#59;", "<": "#lt;", ">": "#gt;"}
    return "".join(table.get(ch, ch) for ch in text)


def mermaid(ladder: Ladder, theme: Any = None) -> str:
    mtheme = {"dark": "dark", "print": "neutral"}.get(getattr(theme, "name", ""), "default")
    out = ["---", "title: " + _mmd(ladder.caption.replace("\n", " ")).replace(":", "#58;"), "---"] if ladder.caption else []
    out += ["%% synack ladder (mermaid sequenceDiagram) of: " + ladder.caption.replace("\n", " ")]
    out += ["%% left out: " + g for g in _left_out("mmd", ladder)]
    out += [f"%%{{init: {{'theme': '{mtheme}'}}}}%%", "sequenceDiagram"]
    for lf in ladder.lifelines:
        out.append(f"    participant L{lf.index} as {_mmd(lf.role)}<br/>{_mmd(lf.address)}")
    ends = f"L0,L{len(ladder.lifelines) - 1}" if len(ladder.lifelines) > 1 else "L0"
    def note(item, what: str) -> str:
        text = state_text(item) if what == "state" else "<br/>".join(item.lines)
        side = "left of" if item.lifeline == 0 else "right of"
        return f"    Note {side} L{item.lifeline}: {_mmd(text)}"

    out += _linear(ladder, _Syntax(
        group=lambda name: ["    rect rgba(128, 128, 128, 0.08)", f"    Note over {ends}: {_mmd(name)}"],
        end="    end",
        arrow=lambda a: (f"    L{a.src}{'-x' if a.lost else '->>'}L{a.dst}: "
                         + "<br/>".join(_mmd(t) for t in arrow_text(a))),
        band=lambda b: f"    Note over L{b.left},L{b.right}: {_mmd(b.text)}",
        note=note))
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- PlantUML (teoz)


def _puml(text: str) -> str:
    return text.replace("\\", "\\\\").replace("~", "~~")


def plantuml(ladder: Ladder, theme: Any = None) -> str:
    out = ["@startuml", "' synack ladder (PlantUML, teoz) of: " + ladder.caption.replace("\n", " ")]
    out += ["' left out: " + g for g in _left_out("puml", ladder)]
    out += ["!pragma teoz true", "hide footbox", "skinparam monochrome true" if getattr(theme, "name", "") == "print"
            else "skinparam shadowing false"]
    for lf in ladder.lifelines:
        out.append(f'participant "{_puml(lf.role)}\\n{_puml(lf.address)}" as L{lf.index}')
    def arrow(a) -> str:
        drop = round((a.y_end - a.y_send) * SLANT_PX)
        op = "->x" if a.lost else (f"->({drop})" if drop > 0 else "->")
        return f"L{a.src} {op} L{a.dst} : " + "\\n".join(_puml(t) for t in arrow_text(a))

    def note(item, what: str) -> str:
        text = state_text(item) if what == "state" else "\\n".join(item.lines)
        side = "left of" if item.lifeline == 0 else "right of"
        return f"{'hnote' if what == 'state' else 'note'} {side} L{item.lifeline} : {_puml(text)}"

    out += _linear(ladder, _Syntax(group=lambda name: [f"group {_puml(name)}"], end="end", arrow=arrow,
                                   band=lambda b: f"note over L{b.left}, L{b.right} : {_puml(b.text)}",
                                   note=note))
    if ladder.caption:
        out.append("caption " + _puml(ladder.caption.replace("\n", " ")))
    return "\n".join(out) + "\n@enduml\n"


# --------------------------------------------------------------------------- mscgen


def _msc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def mscgen(ladder: Ladder, theme: Any = None) -> str:
    """Rows are the ladder's heights; an arrow ends `arcskip` rows below where it starts, so the
    slopes are the SVG's.  Each lifeline has a note column beside it (N0 left of the first)."""
    n = len(ladder.lifelines)
    out = ["# synack ladder (mscgen) of: " + ladder.caption.replace("\n", " ")]
    out += ["# left out: " + g for g in _left_out("msc", ladder)]
    out += ["msc {", f'  hscale="{max(1.0, 0.6 * n + 0.4):g}", arcgradient="0";']
    ents = []
    for lf in ladder.lifelines:
        lab = f'L{lf.index} [label="{_msc(lf.role)}\\n{_msc(lf.address)}"]'
        note = f'N{lf.index} [label="", linecolour="{getattr(theme, "background", "white")}"]'
        ents += ([note, lab] if lf.index == 0 else [lab, note])
    out.append("  " + ", ".join(ents) + ";")
    # one statement per row; a phase adds a divider row before the row it starts on
    rows: dict[float, list[str]] = {}
    notes: dict[tuple[float, int], list[str]] = {}
    dividers: dict[float, str] = {}
    for e in events(ladder):
        if e.what == "phase":
            dividers[e.y] = e.item.name
        elif e.what == "arrow":
            rows.setdefault(e.y, [])
            rows.setdefault(e.item.y_recv, [])
        elif e.what == "band":
            rows.setdefault(e.y, [])
        else:
            text = state_text(e.item) if e.what == "state" else "\\n".join(_msc(t) for t in e.item.lines)
            notes.setdefault((e.y, e.item.lifeline), []).append(_msc(text) if e.what == "state" else text)
            rows.setdefault(e.y, [])
    order: list[tuple[str, float]] = []
    for y in sorted(set(rows) | set(dividers)):
        if y in dividers:
            order.append(("divider", y))
        order.append(("row", y))
    index = {y: i for i, (k, y) in enumerate(order) if k == "row"}
    for e in events(ladder):
        if e.what == "arrow":
            a = e.item
            skip = index[a.y_recv] - index[a.y_send]
            op = "-x" if a.lost else ("=>" if a.kind == "data" else "->")
            attrs = f'label="{_msc(" ".join(arrow_text(a)))}"' + (f', arcskip="{skip}"' if skip > 0 else "")
            if a.reset:
                attrs += ', linecolour="red"'
            rows[a.y_send].append(f"L{a.src} {op} L{a.dst} [{attrs}]")
        elif e.what == "band":
            b = e.item
            rows[e.y].append(f'L{b.left} note L{b.right} [label="{_msc(b.text)}"]')
    for (y, lf), texts in sorted(notes.items()):
        label = "\\n".join(texts)
        rows[y].append(f'N{lf} note N{lf} [label="{label}"]')
    for kind, y in order:
        if kind == "divider":
            out.append(f'  --- [label="{_msc(dividers[y])}"];')
        else:
            out.append("  " + (", ".join(rows[y]) if rows[y] else "|||") + ";")
    return "\n".join(out) + "\n}\n"


# --------------------------------------------------------------------------- draw.io


ROW_PX = 44
COL_PX = 340
LEFT_PX = 260  # room for the first lifeline's notes and the time column


def _comment(text: str) -> str:
    """Text an XML comment may hold: no `--` (the caption's `--full`, `--stream N`)."""
    while "--" in text:
        text = text.replace("--", "-\u2010")
    return text


def drawio(ladder: Ladder, theme: Any = None) -> str:
    """draw.io (diagrams.net) XML: lifelines, arrows, labels, notes and phases as separate shapes,
    each with its own id (`L0`, `a<frame>`, ...) so a lecturer can move and restyle them."""
    fg = getattr(theme, "foreground", "#111111")
    muted = getattr(theme, "muted", "#777777")
    data = getattr(theme, "data", "#0b4f9c")
    alert = getattr(theme, "alert", "#b00020")
    accent = getattr(theme, "accent", "#1b6e3a")
    bg = getattr(theme, "background", "white")
    top = 90

    def x(i: int) -> int:
        return LEFT_PX + i * COL_PX

    def y(row: float) -> int:
        return round(top + (row - ladder.y_min + 0.5) * ROW_PX)

    bottom = y(ladder.y_max + 1)
    cells: list[str] = []

    def e(value: str) -> str:  # an attribute keeps its line breaks only as character references
        return html.escape(value).replace("\n", "&#xa;")

    def vertex(cid: str, value: str, style: str, gx: float, gy: float, w: float, h: float) -> None:
        cells.append(f'<mxCell id="{cid}" value="{e(value)}" style="{style}" vertex="1" parent="1">'
                     f'<mxGeometry x="{gx:g}" y="{gy:g}" width="{w:g}" height="{h:g}" as="geometry"/></mxCell>')

    def edge(cid: str, value: str, style: str, p1: tuple[float, float], p2: tuple[float, float]) -> None:
        cells.append(f'<mxCell id="{cid}" value="{e(value)}" style="{style}" edge="1" parent="1">'
                     f'<mxGeometry relative="1" as="geometry"><mxPoint x="{p1[0]:g}" y="{p1[1]:g}" as="sourcePoint"/>'
                     f'<mxPoint x="{p2[0]:g}" y="{p2[1]:g}" as="targetPoint"/></mxGeometry></mxCell>')

    text = f"text;html=0;whiteSpace=wrap;fontFamily=DejaVu Sans;fontSize=12;fontColor={fg};"
    for i, p in enumerate(ladder.phases):
        vertex(f"phase{i}", p.name, f"rounded=0;dashed=1;fillColor=none;strokeColor={muted};verticalAlign=top;"
               f"align=left;spacingLeft=6;fontStyle=2;fontColor={muted};", x(0) - 40, y(p.y_start) - 14,
               x(len(ladder.lifelines) - 1) - x(0) + 80, y(p.y_end) - y(p.y_start) + 28)
    for lf in ladder.lifelines:
        vertex(f"head{lf.index}", f"{lf.role}\n{lf.address}", text + "align=center;fontStyle=1;",
               x(lf.index) - 110, 20, 220, 44)
        edge(f"L{lf.index}", "", f"endArrow=none;html=0;strokeWidth=2;strokeColor={fg};",
             (x(lf.index), 70), (x(lf.index), bottom))
    for b in ladder.bands:
        vertex(f"band{b.first_frame}", b.text, f"rounded=0;fillColor=none;strokeColor={data};{text}align=center;",
               x(min(b.left, b.right)), y(b.y_start), abs(x(b.right) - x(b.left)), y(b.y_end) - y(b.y_start))
    for a in ladder.arrows:
        colour = alert if a.reset or a.lost else (data if a.kind == "data" else fg)
        style = (f"html=0;endArrow={'cross' if a.lost else 'block'};endFill=1;strokeColor={colour};"
                 f"strokeWidth={2 if a.kind == 'data' else 1};fontFamily=DejaVu Sans Mono;fontSize=11;"
                 f"fontColor={fg};labelBackgroundColor={bg};")
        edge(f"a{a.frame}", "\n".join(arrow_text(a)), style, (x(a.src), y(a.y_send)), (x(a.dst), y(a.y_end)))
    for i, s in enumerate(ladder.states):
        left = s.lifeline == 0
        vertex(f"state{i}", s.state, text + f"fontStyle=1;fontColor={accent};align={'right' if left else 'left'};",
               x(s.lifeline) - 180 if left else x(s.lifeline) + 12, y(s.y) + 14 * s.order - 10, 168, 20)
        if s.y_end is not None:
            edge(f"state{i}-interval", "", f"endArrow=none;html=0;strokeWidth=6;strokeColor={accent};opacity=40;",
                 (x(s.lifeline) + (-6 if left else 6), y(s.y)), (x(s.lifeline) + (-6 if left else 6), y(s.y_end)))
    for i, c in enumerate(ladder.calls):
        left = c.lifeline == 0
        vertex(f"call{i}", "\n".join(c.lines), text + f"fontStyle=2;align={'right' if left else 'left'};",
               x(c.lifeline) - 180 if left else x(c.lifeline) + 12, y(c.y) + 14 * c.order - 10, 168,
               18 * len(c.lines))
    for i, t in enumerate(ladder.times):
        vertex(f"time{i}", t.text, text + f"align=right;fontColor={muted};fontSize=11;", 0, y(t.y) - 9, 60, 18)
    if ladder.times:
        vertex("time-unit", ladder.time_unit, text + f"align=right;fontColor={muted};", 0, 44, 60, 20)
    if ladder.caption:
        vertex("caption", ladder.caption, text + f"align=left;fontColor={muted};", 20, bottom + 10,
               x(len(ladder.lifelines) - 1) + 200, 24)
    left = "; ".join(_left_out("drawio", ladder))
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<!-- synack ladder (draw.io) of: {_comment(e(ladder.caption))}; left out: {_comment(e(left))} -->\n"
            '<mxfile host="synack" version="1"><diagram id="ladder" name="ladder">'
            f'<mxGraphModel dx="0" dy="0" grid="0" gridSize="10" guides="1" tooltips="1" connect="0" arrows="1" '
            f'fold="1" page="1" pageScale="1" pageWidth="{x(len(ladder.lifelines) - 1) + 300}" '
            f'pageHeight="{bottom + 60}" background="{bg}" math="0" shadow="0"><root>'
            '<mxCell id="0"/><mxCell id="1" parent="0"/>\n' + "\n".join(cells)
            + "\n</root></mxGraphModel></diagram></mxfile>\n")


WRITERS = {"mmd": mermaid, "puml": plantuml, "msc": mscgen, "drawio": drawio}


def render(ladder: Ladder, fmt: str, theme: Any = None) -> str:
    return WRITERS[fmt](ladder, theme)
