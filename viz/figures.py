"""A figure request is one value: the command line, the manifest and the API all make it here.

`synack ladder CAP --phase handshake --symbolic`, a manifest's
`ladder = { phase = "handshake", numbers = "symbolic" }` and
`viz.request("ladder", CAP, phase="handshake", numbers="symbolic")` parse to the
same frozen `LadderRequest`, which `render` draws and `command()` writes back
as the command line that reproduces it.  What each option is (its type, its
values, its default, the figure kinds that take it) is said once, in viz.options.OPTIONS:
the argparse options, the manifest keys and the API keywords are derived from
that table, so adding an option is adding a row (and using it in the drawing).
A bad value gets the same message from all three; only the part naming where
it was written differs (`--numbers`, `m.toml:8: figure 'hs': ladder.numbers`,
`numbers`).
"""
from __future__ import annotations

import dataclasses
import os
import shlex
from typing import Any, Callable

from viz.errors import SynackError
from viz.options import (  # noqa: F401 - the table's names that callers also find here
    BY_NAME, FORMATS, KINDS, OPTIONS, TCP_GRAPH_KINDS, TEXT_FORMATS, BadValue, Option, _Bad, _from_text, _rows_for,
    add_arguments, not_taken, option_for, options_of)


# --------------------------------------------------------------------------- the request values


def _command(self) -> str:
    """The `synack` command line that makes this figure (run where its paths are relative to)."""
    args = [self.figure, self.capture]
    for o in options_of(self.figure):
        v = getattr(self, o.name)
        if v == o.default:
            continue
        if o.name == "more":
            args[2:2] = list(v)
        elif o.type is bool:
            args.append(o.flag)
        elif v in o.shortcuts:
            args.append(f"--{v}")
        else:
            args += [o.flag, o.text(v)]
    if self.output:
        args += ["-o", self.output]
    return "synack " + shlex.join(args)


def _keywords(self) -> dict[str, Any]:
    """The API keywords (besides the capture) that make this request: the options not at default."""
    kw = {o.name: getattr(self, o.name) for o in options_of(self.figure) if getattr(self, o.name) != o.default}
    if self.output:
        kw["output"] = self.output
    return kw


def _out_format(self) -> str | None:
    """The format to write: --format, else -o's extension, else None (text to standard output)."""
    if self.format:
        return self.format
    if self.output:
        return os.path.splitext(self.output)[1].lower().lstrip(".")
    return None


def _request_class(kind: str):
    fields = [("capture", str), ("output", "str | None", dataclasses.field(default=None))]
    fields += [(o.name, Any, dataclasses.field(default=o.default)) for o in options_of(kind)]
    cls = dataclasses.make_dataclass(
        f"{kind.capitalize()}Request", fields, frozen=True,
        namespace={"figure": kind, "command": _command, "keywords": _keywords, "out_format": property(_out_format),
                   "__doc__": f"A {kind} figure: the capture, where to write it, and its options."})
    cls.__module__ = __name__
    return cls


LadderRequest = _request_class("ladder")
LayersRequest = _request_class("layers")
GraphRequest = _request_class("graph")
PlayRequest = _request_class("play")
REQUESTS = {"ladder": LadderRequest, "layers": LayersRequest, "graph": GraphRequest, "play": PlayRequest}


# --------------------------------------------------------------------------- parsing: one path for all


def make(kind: str, capture: str, output: str | None = None, /, *, name: Callable[[Option], str] | None = None,
         **options) -> Any:
    """The request of `kind` for typed option values (a manifest entry's or API keywords).

    `name` says how the source writes an option in its errors (default: its keyword)."""
    name = name or (lambda o: o.name)
    if kind not in REQUESTS:
        raise SynackError(f"figure kind {kind!r}: choose from {', '.join(KINDS)}")
    takes = {o.name: o for o in options_of(kind)}
    values = {}
    for key, value in options.items():
        o = takes.get(key)
        if o is None:
            raise BadValue(name(BY_NAME[key]) if key in BY_NAME else key, not_taken(kind, key))
        if value is None and o.default is None:
            continue
        try:
            values[key] = o.canonical(value)
        except _Bad as exc:
            raise BadValue(name(o), str(exc)) from None
    req = REQUESTS[kind](capture=os.fspath(capture), output=os.fspath(output) if output else None, **values)
    _cross_check(req, name)
    return req


def _cross_check(req, name: Callable[[Option], str]) -> None:
    """Rules between options (each option's own values were checked by its row)."""
    kind = req.figure

    def bad(opt: str, msg: str):
        raise BadValue(name(option_for(kind, opt)), msg)

    if kind in ("ladder", "play") and req.phase and req.frames:
        bad("phase", "give phase or frames, not both")
    if kind == "ladder" and not req.times and req.time == "scaled":
        bad("times", "a scaled ladder's height is its time axis; leave the time column or use time schematic")
    if kind == "graph":
        if req.more and req.kind != "cwnd":
            bad("more", f"a {req.kind} graph draws one capture; several are compared with kind cwnd")
        if req.kind not in TCP_GRAPH_KINDS:
            for opt in ("time", "frames"):
                if getattr(req, opt) is not None:
                    bad(opt, f"zooms the congestion and flow control graphs ({', '.join(TCP_GRAPH_KINDS)}), "
                        f"not {req.kind}")
    if kind == "layers":
        if req.frame is None:
            bad("frame", "the frame to draw is needed: a number or a meaning such as syn or http-get")
        if req.other_frame is not None and not req.compare:
            bad("other_frame", "names a frame of the capture compared with: give compare too")
        if req.compare and req.view != "nested":
            bad("compare", "a comparison is drawn as nested boxes side by side (view nested)")
    fmt = req.out_format
    possible = ", ".join(FORMATS[kind])
    if fmt is not None and fmt not in FORMATS[kind]:
        if req.format:
            bad("format", f"{fmt!r}: a {kind} is written as {possible}")
        raise BadValue(req.output, f"unknown output format {('.' + fmt) if fmt else '(none)'!r} for a {kind} "
                       f"(choose from {possible}, or give format)")
    if req.output is None and fmt is not None and fmt not in TEXT_FORMATS:
        bad("format", f"{fmt!r} is not text: give -o OUT to write it")
    if kind == "ladder" and fmt is not None:
        from viz import ladder_edit

        why = ladder_edit.cannot(fmt, req)
        if why:
            bad("format", why)
    if kind == "layers" and fmt in ("tex", "mmd"):
        if req.view != "fields" or req.compare:
            bad("format" if req.format else "view", f"{fmt!r} is the header grid (bytefield, mermaid packet): "
                "view fields; possible for other views: svg, pdf, png, pgf")


def keywords(kind: str, capture: str, /, **kw) -> Any:
    """The request from API keywords: viz.request("ladder", "echo.pcapng", phase="handshake")."""
    output = kw.pop("output", None)
    return make(kind, capture, output, **kw)


def table(kind: str, entry: dict[str, Any], capture: str, output: str | None,
          name: Callable[[Option], str], defaults: dict[str, Any] | None = None) -> Any:
    """The request from a manifest's rendering table (`ladder = {...}`), with the build's defaults:
    an option's build_default (no wall-clock times, which change on every trace) and `defaults`
    (the [build] theme)."""
    values = dict(entry)
    for o in options_of(kind):
        if o.name not in values:
            if o.build_default is not None:
                values[o.name] = o.build_default(entry)
            elif defaults and o.name in defaults:
                values[o.name] = defaults[o.name]
    return make(kind, capture, output, name=name, **values)


def arguments(kind: str, args) -> Any:
    """The request from parsed command-line arguments (their values still text)."""
    values: dict[str, Any] = {}
    flag = lambda o: o.flag  # noqa: E731
    for o in _rows_for(kind):
        v = getattr(args, o.name, None)
        if o.name == "more":
            if v:
                values["more"] = tuple(v)
            continue
        if v is None:
            continue
        if kind not in o.kinds:
            raise BadValue(o.flag, not_taken(kind, o.name))
        if o.type is not bool:
            try:
                v = _from_text(o, v)
            except _Bad as exc:
                raise BadValue(o.flag, str(exc)) from None
        values[o.name] = v
    capture2 = getattr(args, "capture2", None)
    if capture2:
        if values.get("compare"):
            raise BadValue("--compare", "give the other capture once (CAPTURE2 or --compare)")
        values["compare"] = capture2
    return make(kind, args.capture, args.output, name=flag, **values)


def parse_command(command: str) -> Any:
    """The request of a `synack KIND ...` command line (as `command()` writes them)."""
    import argparse

    words = shlex.split(command)
    if words[:1] == ["synack"]:
        words = words[1:]
    kind = words[0] if words else ""
    if kind not in KINDS:
        raise SynackError(f"{command!r}: not a figure command ({', '.join(KINDS)})")
    parser = argparse.ArgumentParser(prog=f"synack {kind}")
    parser.add_argument("capture")
    if kind == "ladder":
        parser.add_argument("capture2", nargs="?")
    add_arguments(parser, kind)
    return arguments(kind, parser.parse_args(words[1:]))


# --------------------------------------------------------------------------- drawing


def _path(req_path: str, cwd: str | None) -> str:
    return req_path if cwd is None or os.path.isabs(req_path) else os.path.join(cwd, req_path)


def analysis_of(path: str, cwd: str | None = None, on_demand: bool = False):
    """The analysis of a request's capture; it carries the path as the request writes it.

    `on_demand`: a classic pcap file's Packets are made when the figure reads
    them (viz.analysis.analyze_on_demand), for figures that draw few frames."""
    from pathlib import Path

    from viz.analysis import analyze, analyze_on_demand
    from viz.capture import open_capture

    real = _path(path, cwd)
    if real != "/dev/stdin" and not Path(real).exists():
        raise SynackError(f"{path}: no such file")
    with open_capture(real) as cap:
        if on_demand:
            return analyze_on_demand(cap, path=path)
        return analyze(cap, path=path)


def theme_of(req, cwd: str | None = None):
    """The request's Theme: a built-in one, or its theme file read (relative to `cwd`)."""
    from viz.figure import theme

    return theme(req.theme, cwd)


def ladder_of(req, analysis=None, peer=None, cwd: str | None = None):
    """The ladder layout a ladder request asks for (`analysis`/`peer`: already loaded ones)."""
    from viz.ladder import build_ladder

    an = analysis if analysis is not None else analysis_of(req.capture, cwd, on_demand=True)
    if peer is None and req.compare:
        peer = analysis_of(req.compare, cwd)
    frames = req.frames
    if req.phase:
        frames = phase_of(an, req.phase, req.stream)
    lad = build_ladder(an, stream=req.stream, frames=frames, numbers=req.numbers, win=req.win,
                       options=req.options, time=req.time, full=req.full, peer=peer, arp=req.arp)
    if not req.times:
        lad = dataclasses.replace(lad, times=())
    return lad


def phase_of(an, phase: str, stream) -> tuple[int, int]:
    from viz.select import phase_frames

    return phase_frames(an, phase, stream)


def frame_of(an, frame: int | str) -> int:
    """The number of a frame given by number or meaning, or an error saying what this capture has."""
    from viz.select import FRAME_SELECTORS, select_frame

    try:
        return select_frame(an, frame)
    except SynackError:
        if isinstance(frame, int):
            raise SynackError(f"{an.capture.path}: frame {frame} out of range (the capture has "
                              f"{len(an.packets)} frames)") from None
        have = []
        for sel in FRAME_SELECTORS:
            try:
                select_frame(an, sel)
                have.append(sel)
            except SynackError:
                pass
        raise SynackError(f"frame {frame!r}: {an.capture.path} has no such frame (it has: "
                          f"{', '.join(have) or 'none of the meanings'}; or give a number 1-{len(an.packets)})") from None


def layers_figures(req, analysis=None, cwd: str | None = None) -> list[tuple[str | None, Any]]:
    """(view, Figure) for each view a layers request draws; view None for a comparison."""
    from viz import layers, layers_mpl
    from viz.framefile import load_frame, match_frame, safe_dissect

    an = analysis if analysis is not None else analysis_of(req.capture, cwd, on_demand=True)
    number = frame_of(an, req.frame)
    d = safe_dissect(load_frame(_path(req.capture, cwd), number))
    th = theme_of(req, cwd)
    if req.compare:
        other = _path(req.compare, cwd)
        if not os.path.exists(other):
            raise SynackError(f"{req.compare}: no such file")
        if req.other_frame:
            onum, od = req.other_frame, safe_dissect(load_frame(other, req.other_frame))
        else:
            onum, od = match_frame(d, other)
        oan = analysis_of(req.compare, cwd)
        fig = layers_mpl.compare_figure(
            layers.nested(d, an.packet(number), number), layers.nested(od, oan.packet(onum), onum),
            layers.compare(d, od), f"{os.path.basename(req.capture)} #{number}",
            f"{os.path.basename(req.compare)} #{onum}", th, req.size)
        return [(None, fig)]
    views = ("nested", "stack", "fields", "hex") if req.view == "all" else (req.view,)
    return [(v, layers_mpl.figure(v, d, an.packet(number), number, th, req.size, hex_rows=req.hex_rows))
            for v in views]


def layers_text(req, cwd: str | None = None) -> str:
    from viz import layers, layers_text as T
    from viz.framefile import load_frame, match_frame, safe_dissect

    an = analysis_of(req.capture, cwd, on_demand=True)
    number = frame_of(an, req.frame)
    d = safe_dissect(load_frame(_path(req.capture, cwd), number))
    pkt = an.packet(number)
    if req.compare:
        other = _path(req.compare, cwd)
        if req.other_frame:
            onum, od = req.other_frame, safe_dissect(load_frame(other, req.other_frame))
        else:
            onum, od = match_frame(d, other)
        return T.compare(layers.compare(d, od), f"{os.path.basename(req.capture)} #{number}",
                         f"{os.path.basename(req.compare)} #{onum}")
    views = ("nested", "stack", "fields", "hex") if req.view == "all" else (req.view,)
    return T.views(d, pkt, number, views)


def _tcp_graph_args(req, cwd):
    from viz import tcpgraphs

    paths = [_path(p, cwd) for p in (req.capture, *req.more)]
    for shown, real in zip((req.capture, *req.more), paths):
        if real != "/dev/stdin" and not os.path.exists(real):
            raise SynackError(f"{shown}: no such file")
    return paths, _tcp_stream(req.stream), tcpgraphs.parse_time(req.time), req.frames


def graph_figure(req, analysis=None, cwd: str | None = None):
    from viz import graph
    from viz.pages import SLIDE_SIZE

    th, size = theme_of(req, cwd), req.size or SLIDE_SIZE
    if req.kind in TCP_GRAPH_KINDS:
        from viz import tcpgraphs_cli

        paths, stream, time, frames = _tcp_graph_args(req, cwd)
        return tcpgraphs_cli.figure(req.kind, paths, th, size, stream, req.style, time, frames)
    an = analysis if analysis is not None else analysis_of(req.capture, cwd)
    if req.kind == "topology":
        meta = an.capture.meta or {}
        g = graph.topology(meta, req.capture)
        return graph.draw_topology(g, graph.topology_layout(g), meta, th, size)
    if req.kind == "conversations":
        return graph.conversation_figure(an, os.path.basename(req.capture), th, size, req.ports, req.top)
    s = graph.pick_stream(an, _tcp_stream(req.stream))
    g = graph.state_machine()
    return graph.draw_states(g, s, graph.stream_paths(g, s), th, size)


def _tcp_stream(stream) -> int | None:
    if isinstance(stream, str):
        raise BadValue("stream", f"{stream!r}: the state machine follows a TCP stream: give its number")
    return stream


def graph_text(req, cwd: str | None = None) -> str:
    from viz import graph

    if req.kind in TCP_GRAPH_KINDS:
        from viz import tcpgraphs_cli

        paths, stream, time, frames = _tcp_graph_args(req, cwd)
        return tcpgraphs_cli.text(req.kind, paths, stream, time, frames)
    an = analysis_of(req.capture, cwd)
    if req.kind == "topology":
        meta = an.capture.meta or {}
        return graph.topology_text(graph.topology(meta, req.capture), meta)
    if req.kind == "conversations":
        g = graph.conversations(an, ports=req.ports)
        if not g.number_of_nodes():
            raise SynackError(f"{req.capture}: no TCP or UDP stream, so no conversations to draw")
        return graph.conversations_text(g)
    s = graph.pick_stream(an, _tcp_stream(req.stream))
    return graph.states_text(s, graph.stream_paths(graph.state_machine(), s))


def playback_of(req, cwd: str | None = None):
    """The playback of a play request: the whole ladder and each step's layers."""
    from viz import layers
    from viz.capture import open_capture
    from viz.framefile import safe_dissect
    from viz.ladder import build_ladder
    from viz.play import build_playback

    an = analysis_of(req.capture, cwd)
    frames = phase_of(an, req.phase, req.stream) if req.phase else req.frames
    ladder = build_ladder(an, stream=req.stream, frames=frames, numbers=req.numbers, full=True)
    wanted = {a.frame for a in ladder.arrows}
    raw = {}
    with open_capture(_path(req.capture, cwd)) as cap:
        for fr in cap:
            if fr.number in wanted:
                raw[fr.number] = fr
    return build_playback(an, ladder,
                          lambda f: layers.nested(safe_dissect(raw[f]), an.packet(f), f) if f in raw else None)


def _text_out(req, body: str, cwd: str | None) -> list[str] | str:
    if req.output is None:
        return body
    from viz import output

    output.write_text(_path(req.output, cwd), body)
    return [req.output]


def _editable_out(req, lad, fmt: str, cwd: str | None) -> list[str] | str:
    """An editable ladder (mermaid, PlantUML, mscgen, draw.io) in the pages of its SVG: with a page
    kind (slide, a4) a long exchange is cut where the figure cuts it, fig-1.mmd, fig-2.mmd ...;
    printed, or with page none or a size, one file."""
    from viz import ladder_edit

    th = theme_of(req, cwd)
    if req.output is None or req.size or req.page == "none":
        return _text_out(req, ladder_edit.render(lad, fmt, th), cwd)
    from viz import output
    from viz.ladder_mpl import page_paths, paged

    pages = [p for p, _ in paged(lad, theme=th, page=req.page)]
    paths = page_paths(req.output, len(pages))
    for p, path in zip(pages, paths):
        output.write_text(_path(path, cwd), ladder_edit.render(p, fmt, th))
    return paths


def layers_grid(req, fmt: str, cwd: str | None = None) -> str:
    """The header grids of a frame as a bytefield LaTeX document or a mermaid packet diagram."""
    from viz import layers, layers_edit
    from viz.framefile import load_frame, safe_dissect

    an = analysis_of(req.capture, cwd)
    number = frame_of(an, req.frame)
    d = safe_dissect(load_frame(_path(req.capture, cwd), number))
    grids = layers.fields(d)
    title = f"{os.path.basename(req.capture)} frame {number}"
    return layers_edit.bytefield(grids, title) if fmt == "tex" else layers_edit.mermaid_packet(grids, title)


def check_output(req, cwd: str | None = None) -> None:
    """Fail on an unwritable output before the work starts."""
    if req.output:
        from viz.figure import check_writable

        check_writable(_path(req.output, cwd))
        if req.figure == "play":
            from viz.play_export import output_kind

            output_kind(req.output if not req.format else f"x.{req.format}")


def render(req, cwd: str | None = None) -> list[str] | str:
    """Draw a request: into its output (the files written, relative as the request writes them),
    or, without one, the text the command prints.  Relative paths are taken from `cwd`."""
    check_output(req, cwd)
    theme_of(req, cwd)  # a theme file is read before the work, even for text
    if req.figure == "play" and not req.output:
        raise SynackError("a play request without -o is stepped in a terminal: synack play")
    fmt = req.out_format
    if req.figure == "ladder":
        lad = ladder_of(req, cwd=cwd)
        from viz import ladder_edit

        if fmt in ladder_edit.FORMATS:
            return _editable_out(req, lad, fmt, cwd)
        if req.output is None and fmt == "tex":
            from viz.ladder_tikz import render_tikz

            return render_tikz(lad, theme=theme_of(req, cwd), standalone=True)
        if req.output is None:
            import shutil

            from viz.ladder_text import render_text

            return render_text(lad, width=req.width or shutil.get_terminal_size((100, 24)).columns,
                               ascii=req.ascii)
        from viz.ladder_mpl import write_ladder

        written = write_ladder(lad, _path(req.output, cwd), theme=theme_of(req, cwd), size=req.size,
                               width=req.width or 100, ascii=req.ascii, format=fmt,
                               page=None if req.size else req.page)
        if len(written) == 1:
            return [req.output]
        from viz.ladder_mpl import page_paths

        return page_paths(req.output, len(written))
    if req.figure == "layers":
        if fmt in ("tex", "mmd"):
            return _text_out(req, layers_grid(req, fmt, cwd), cwd)
        if req.output is None:
            return layers_text(req, cwd)
        from viz.figure import save

        written = []
        for view, fig in layers_figures(req, cwd=cwd):
            out = req.output
            if req.view == "all":
                stem, ext = os.path.splitext(out)
                out = f"{stem}-{view}{ext}"
            save(fig, _path(out, cwd), format=fmt)
            written.append(out)
        return written
    if req.figure == "graph":
        if req.output is None:
            return graph_text(req, cwd)
        from viz.figure import save

        save(graph_figure(req, cwd=cwd), _path(req.output, cwd), format=fmt)
        return [req.output]
    from viz.play import pauses
    from viz.play_export import write

    playback = playback_of(req, cwd)
    write(playback, _path(req.output, cwd), theme=theme_of(req, cwd), size=req.size,
          pauses=pauses(playback.steps, req.speed) if req.auto else None, title=os.path.basename(req.capture))
    return [req.output]
