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
        from viz import figures
        from viz.ladder_text import render_text

        req = _request("ladder", self, dict(options, width=width))
        return render_text(figures.ladder_of(req, self.analysis), width=width, ascii=req.ascii)

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


def request(kind: str, capture: Any, /, **keywords):
    """The figure request (viz.figures) of `kind` ("ladder", "layers", "graph", "play") for
    `capture` (a path or a loaded Capture) and the keywords named as the manifest's keys and
    the command's options: request("ladder", "echo.pcapng", phase="handshake", numbers="symbolic").
    `render(request)` writes it; `request.command()` is the command line that does the same."""
    from viz import figures

    return figures.keywords(kind, _path(capture), **keywords)


def render(req, cwd: str | os.PathLike | None = None):
    """Write a request's figure (its `output`, relative to `cwd`) or return its text."""
    from viz import figures

    return figures.render(req, cwd=os.fspath(cwd) if cwd is not None else None)


def _request(kind: str, capture: Any, keywords: dict, /):
    if "peer" in keywords:  # the old name of compare
        peer = keywords.pop("peer")
        if peer is not None:
            keywords["compare"] = _path(peer)
    if isinstance(keywords.get("compare"), Capture):
        keywords["compare"] = keywords["compare"].path
    return request(kind, capture, **keywords)


def _loaded(capture: Any):
    """The analysis already loaded with `capture`, if any (a path is read by the request)."""
    if isinstance(capture, Capture):
        return capture.analysis
    if isinstance(capture, (str, os.PathLike)):
        return None
    return capture


def draw_ladder(capture: Any, **keywords):
    """A ladder diagram Figure; the keywords are the request's (viz.options.OPTIONS): stream,
    frames ("5-20" or (5, 20)), phase ("handshake", "data", "teardown", "loss", "zero-window"),
    numbers ("relative", "absolute", "symbolic"), win, options, time, times, full, arp, compare
    (the capture at the other end), theme, size; page "slide" or "a4" gives a list of Figures,
    one per page (as `synack ladder --page`), the default one Figure of the whole ladder."""
    from viz import figures
    from viz.ladder_mpl import render_ladder

    req = _request("ladder", capture, keywords)
    peer = keywords.get("compare")
    lad = figures.ladder_of(req, _loaded(capture), _loaded(peer) if peer is not None else None)
    if keywords.get("page", "none") != "none":  # as `synack ladder --page`: a Figure per page
        from viz.ladder_mpl import render_pages

        return [_displayable(f) for f in render_pages(lad, theme=figures.theme_of(req), page=req.page,
                                                      size=req.size)]
    return _displayable(render_ladder(lad, theme=figures.theme_of(req), size=req.size))


def draw_layers(capture: Any, frame: int | str = "syn", view: str = "nested", **keywords):
    """One frame's layers as a Figure: view "nested", "stack", "fields" (header grids) or "hex";
    `frame` is a number or a meaning such as "syn", "first-data", "http-get"; further keywords
    as the request's (hex_rows, compare, other_frame, theme, size)."""
    from viz import figures

    if view == "all":
        raise SynackError("view: 'all' is one figure per view; draw each view")
    req = _request("layers", capture, dict(keywords, frame=frame, view=view))
    return _displayable(figures.layers_figures(req, _loaded(capture))[0][1])


def draw_graph(capture: Any, kind: str = "conversations", **keywords):
    """A graph Figure: "conversations" (the `top` busiest, 0 = all), "states" (RFC 9293 machine
    with a stream's paths), "topology", or congestion and flow control (viz.tcpgraphs): "tsg"
    (style "tcptrace" or "stevens"), "cwnd" (more: other capture paths on the same axes),
    "throughput", "rtt"; time "A-B" in ms zooms these.  Further keywords as the request's
    (stream, ports, top, frames, theme, size)."""
    from viz import figures

    req = _request("graph", capture, dict(keywords, kind=kind))
    return _displayable(figures.graph_figure(req, _loaded(capture)))


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
