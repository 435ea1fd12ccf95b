"""The notebook and script API: load a capture, draw it, see it in Jupyter.

Names: `viz.ladder`, `viz.layers` and `viz.graph` are the layout modules, so
the drawing functions are `draw_ladder`, `draw_layers` and `draw_graph` (also
methods of a loaded `Capture`).  `import viz` stays light: these functions import the reader, the analysis and
matplotlib only when called.  Drawings are ordinary matplotlib Figures (save
them with `fig.savefig(...)` or `viz.save(fig, path)` for deterministic bytes)
that also show themselves as SVG in Jupyter.
"""
from __future__ import annotations

import html
import io
import os
from typing import Any

from viz.errors import SynackError

TABLE_ROWS = 200


class Capture:
    """A loaded capture: its path and its analysis.  In Jupyter it shows its ladder
    (`_repr_svg_`) and, as HTML, its per-frame table (`_repr_html_`)."""

    def __init__(self, path: str, analysis: Any, result: Any = None):
        self.path = path
        self.analysis = analysis
        self.result = result  # the TraceResult when made by tracer.trace()

    def __repr__(self) -> str:
        a = self.analysis
        tcp = sum(s.proto == "tcp" for s in a.streams)
        udp = sum(s.proto == "udp" for s in a.streams)
        scen = (a.capture.meta or {}).get("scenario")
        return (f"<synack capture {self.path}: {len(a.packets)} frames, {tcp} TCP and {udp} UDP "
                f"streams, {len(a.calls)} socket calls{', scenario ' + scen if scen else ''}>")

    @property
    def packets(self):
        return self.analysis.packets

    @property
    def streams(self):
        return self.analysis.streams

    def ladder(self, **options):
        return draw_ladder(self, **options)

    def layers(self, frame: int | str = "syn", view: str = "nested", **options):
        return draw_layers(self, frame=frame, view=view, **options)

    def graph(self, kind: str = "conversations", **options):
        return draw_graph(self, kind=kind, **options)

    def frame(self, selector: int | str) -> int:
        """'syn', 'first-data', 'http-get', ... -> the frame number (see viz.select)."""
        from viz.select import select_frame

        return select_frame(self.analysis, selector)

    def text(self, width: int = 100, **options) -> str:
        """The text ladder (as `synack ladder` prints it)."""
        from viz.ladder import build_ladder
        from viz.ladder_text import render_text

        return render_text(build_ladder(self.analysis, **options), width=width)

    def _repr_svg_(self) -> str:
        return self.ladder()._repr_svg_()

    def _repr_html_(self) -> str:
        return table_html(self.analysis)


def load(path: str | os.PathLike) -> Capture:
    """Read and analyse a pcap/pcapng capture (any capture; synack's carry socket calls too)."""
    return Capture(os.fspath(path), analyse(path))


def analyse(path: str | os.PathLike):
    """The `viz.model.Analysis` of a capture file."""
    from viz.analysis import analyze as _analyze
    from viz.capture import open_capture

    path = os.fspath(path)
    with open_capture(path) as cap:
        return _analyze(cap, path=path)


analyze = analyse


def _analysis(x: Any):
    if isinstance(x, Capture):
        return x.analysis
    if isinstance(x, (str, os.PathLike)):
        return analyse(x)
    return x  # an Analysis already


def _path(x: Any) -> str:
    if isinstance(x, Capture):
        return x.path
    if isinstance(x, (str, os.PathLike)):
        return os.fspath(x)
    return x.capture.path


def _displayable(fig):
    """Give a matplotlib Figure `_repr_svg_` (and keep it a Figure in every other way)."""
    fig.__class__ = _figure_class()
    return fig


_FIGURE_CLASS = None


def _figure_class():
    global _FIGURE_CLASS
    if _FIGURE_CLASS is None:
        from matplotlib.figure import Figure as _Figure

        class Figure(_Figure):
            """A matplotlib Figure that Jupyter shows as SVG; `save` writes deterministic bytes."""

            def _repr_svg_(self) -> str:
                from matplotlib.backends.backend_svg import FigureCanvasSVG

                from viz.figure import _RC
                import matplotlib

                matplotlib.rcParams.update(_RC)
                FigureCanvasSVG(self)
                buf = io.BytesIO()
                self.savefig(buf, format="svg", metadata={"Date": None}, facecolor=self.get_facecolor())
                return buf.getvalue().decode("utf-8")

            def save(self, path: str | os.PathLike) -> None:
                save(self, path)

        _FIGURE_CLASS = Figure
    return _FIGURE_CLASS


def draw_ladder(capture: Any, *, theme: str = "light", size: tuple[float, float] | None = None,
           phase: str | None = None, times: bool = True, peer: Any = None, page: str = "none", **options):
    """A ladder diagram Figure.  `options` are `viz.ladder.build_ladder`'s (stream, frames=(a, b),
    numbers="relative"|"absolute"|"symbolic", win, options, time, full); `phase` ("handshake",
    "data", "teardown") picks the frames by meaning; times=False drops the time margin.
    `page` "slide" or "a4" gives a list of Figures, one per page (as `synack ladder --page`);
    the default "none" one Figure of the whole ladder."""
    import dataclasses

    from viz.ladder import build_ladder, parse_frames
    from viz.ladder_mpl import render_ladder

    an = _analysis(capture)
    if isinstance(options.get("frames"), str):
        options["frames"] = parse_frames(options["frames"])
    if phase:
        from viz.select import phase_frames

        options["frames"] = phase_frames(an, phase, options.get("stream"))
    lad = build_ladder(an, peer=_analysis(peer) if peer is not None else None, **options)
    if not times:
        lad = dataclasses.replace(lad, times=())
    if page != "none":
        from viz.ladder_mpl import render_pages

        return [_displayable(f) for f in render_pages(lad, theme=theme, page=page, size=size)]
    return _displayable(render_ladder(lad, theme=theme, size=size))


def draw_layers(capture: Any, frame: int | str = "syn", view: str = "nested", *, theme: str = "light",
           size: tuple[float, float] | None = None, hex_rows: int | None = None):
    """One frame's layers as a Figure: view "nested", "stack", "fields" (header grids) or "hex";
    `frame` is a number or a selector such as "syn", "first-data", "http-get"; `hex_rows`
    as `synack layers --hex-rows` (None: 24 rows, 0: the whole frame)."""
    from viz import layers_mpl
    from viz.commands.layers import VIEWS, load_frame, safe_dissect
    from viz.figure import theme as get_theme
    from viz.select import select_frame

    if view not in VIEWS or view == "all":
        raise SynackError(f"view {view!r}: choose from nested, stack, fields, hex")
    an = _analysis(capture)
    number = select_frame(an, frame)
    d = safe_dissect(load_frame(_path(capture), number))
    return _displayable(layers_mpl.figure(view, d, an.packet(number), number, get_theme(theme), size,
                                           hex_rows=hex_rows))


def draw_graph(capture: Any, kind: str = "conversations", *, stream: int | None = None, ports: bool = False,
          theme: str = "light", size: tuple[float, float] | None = None, top: int = 12):
    """A graph Figure: "conversations" (the `top` busiest, 0 = all), "states" (RFC 9293 machine
    with a stream's paths) or "topology"."""
    from pathlib import Path

    from viz import graph as G
    from viz.figure import SLIDE_SIZE
    from viz.figure import theme as get_theme

    th, size = get_theme(theme), size or SLIDE_SIZE
    an = _analysis(capture)
    if kind == "topology":
        meta = an.capture.meta or {}
        g = G.topology(meta, an.capture.path)
        return _displayable(G.draw_topology(g, G.topology_layout(g), meta, th, size))
    if kind == "conversations":
        return _displayable(G.conversation_figure(an, Path(an.capture.path).name, th, size, ports, top))
    if kind == "states":
        s = G.pick_stream(an, stream)
        g = G.state_machine()
        return _displayable(G.draw_states(g, s, G.stream_paths(g, s), th, size))
    raise SynackError(f"graph kind {kind!r}: choose from conversations, states, topology")


def save(fig, path: str | os.PathLike) -> None:
    """Write a Figure deterministically (same figure, same bytes): .svg .pdf .png .pgf."""
    from viz.figure import save as _save

    _save(fig, path)


def table_html(an, limit: int = TABLE_ROWS) -> str:
    """The per-frame table (as `synack analyze` prints it) as an HTML table."""
    from viz.model import flag_label

    e = html.escape
    head = ("No.", "Time", "Source", "Destination", "Proto", "Stream", "Flags", "Seq", "Ack", "Len",
            "Win", "Analysis", "Socket calls")
    rows = []
    for p in an.packets[:limit]:
        src = f"{p.src}:{p.sport}" if p.sport is not None else (p.src or "")
        dst = f"{p.dst}:{p.dport}" if p.dport is not None else (p.dst or "")
        cells = (p.frame, f"{p.t:.6f}", src, dst, p.proto, "" if p.stream is None else p.stream,
                 flag_label(p.flags) if p.proto == "tcp" else "", _blank(p.seq), _blank(p.ack),
                 _blank(p.len), _blank(p.win), " ".join(t.value for t in p.analysis),
                 "; ".join(p.comments))
        rows.append("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in cells) + "</tr>")
    more = len(an.packets) - limit
    foot = f"<p>{more} more frames not shown</p>" if more > 0 else ""
    return ("<table>\n<thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead>\n<tbody>\n"
            + "\n".join(rows) + "\n</tbody>\n</table>\n" + foot)


def _blank(v) -> str:
    return "" if v is None else str(v)
