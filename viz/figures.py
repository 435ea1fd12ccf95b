"""A figure request is one value: the command line, the manifest and the API all make it here.

`synack ladder CAP --phase handshake --symbolic`, a manifest's
`ladder = { phase = "handshake", numbers = "symbolic" }` and
`viz.request("ladder", CAP, phase="handshake", numbers="symbolic")` parse to the
same frozen `LadderRequest`, which `render` draws and `command()` writes back
as the command line that reproduces it.  What each option is (its type, its
values, its default, the figure kinds that take it) is said once, in OPTIONS:
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
from dataclasses import dataclass
from typing import Any, Callable

from viz.errors import SynackError

KINDS = ("ladder", "layers", "graph", "play")
GRAPH_KINDS = ("conversations", "states", "topology", "tsg", "cwnd", "throughput", "rtt")
TCP_GRAPH_KINDS = ("tsg", "cwnd", "throughput", "rtt")  # viz.tcpgraphs
PAGE_KINDS = ("slide", "a4", "none")  # viz.ladder_mpl.PAGES
FORMATS = {
    "ladder": ("svg", "pdf", "png", "pgf", "tex", "txt", "mmd", "puml", "msc", "drawio"),
    "layers": ("svg", "pdf", "png", "pgf", "tex", "mmd"),
    "graph": ("svg", "pdf", "png", "pgf"),
    "play": ("html", "pdf", "gif", "mp4"),
}
TEXT_FORMATS = frozenset({"txt", "tex", "mmd", "puml", "msc", "drawio"})  # printable when there is no -o
FRAME_RANGE_END = 1 << 62  # parse_frames' open end ("5-")


class BadValue(SynackError):
    """A bad option value; `message` is the same whichever source gave it, `option` its name."""

    def __init__(self, option: str, message: str):
        super().__init__(f"{option}: {message}")
        self.option, self.message = option, message


def _fail(msg: str):
    raise _Bad(msg)


class _Bad(Exception):
    """Raised by a check with the message only; the source adds where the value was written."""


# --------------------------------------------------------------------------- checks (value -> canonical)


def _choice(choices: tuple[str, ...]) -> Callable[[Any], Any]:
    def check(v):
        if v not in choices:
            _fail(f"{v!r}: choose from {', '.join(choices)}")
        return v
    return check


def _at_least(low: float, why: str = "") -> Callable[[Any], Any]:
    def check(v):
        if not v >= low:
            _fail(f"{v:g}: {why or f'at least {low:g}'}")
        return v
    return check


def _stream(v):
    from viz.ladder import parse_stream

    if str(v).strip().lower() == "all":
        return "all"
    try:
        proto, n = parse_stream(str(v))
    except SynackError:
        _fail(f"{v!r}: expected a stream number such as 0, udp:1 or icmp:0, or all")
    return n if proto is None else f"{proto}:{n}"


def _frames(v):
    from viz.ladder import parse_frames

    if isinstance(v, tuple):
        if len(v) != 2 or not all(isinstance(x, int) and not isinstance(x, bool) for x in v) \
                or not 1 <= v[0] <= v[1]:
            _fail(f"{v!r}: expected a frame range such as 5-20 or (5, 20)")
        return v
    try:
        return parse_frames(v)
    except SynackError:
        _fail(f"{v!r}: expected a frame range such as 5-20")


def _ms_range(v):
    from viz.tcpgraphs import parse_time

    try:
        parse_time(v)
    except SynackError:
        _fail(f"{v!r}: expected START-END in milliseconds with START < END, e.g. 100-250")
    return v


def _frames_text(v) -> str:
    return f"{v[0]}-" if v[1] == FRAME_RANGE_END else f"{v[0]}-{v[1]}"


def _frame(v):
    from viz.select import FRAME_SELECTORS

    if isinstance(v, int):
        if v < 1:
            _fail(f"{v}: frames are numbered from 1")
        return v
    if v not in FRAME_SELECTORS:
        _fail(f"{v!r}: a frame number or one of {', '.join(FRAME_SELECTORS)}")
    return v


def _size(v):
    from viz.figure import parse_size

    if isinstance(v, tuple):
        if len(v) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0 for x in v):
            return (float(v[0]), float(v[1]))
        _fail(f"{v!r}: expected (width, height) in inches")
    try:
        return parse_size(v)
    except SynackError:
        _fail(f"{v!r}: expected WIDTHxHEIGHT in inches, e.g. 13.33x7.5")


def _size_text(v) -> str:
    return f"{v[0]:g}x{v[1]:g}"


def _theme(v):
    from viz.figure import THEMES

    if v not in THEMES and not v.lower().endswith(".toml"):
        _fail(f"{v!r}: unknown theme (choose from {', '.join(THEMES)}, or a theme file FILE.toml)")
    return v


def _format(v):
    v = v.lower().lstrip(".")
    every = sorted({f for fs in FORMATS.values() for f in fs})
    if v not in every:
        _fail(f"{v!r}: choose from {', '.join(every)}")
    return v


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Option:
    """One option of one or more figure kinds, as every source spells it."""

    name: str  # manifest key and API keyword; the flag is --name with '-' for '_'
    kinds: tuple[str, ...]
    type: Any  # the value's type in a manifest or an API call (a tuple: any of them)
    default: Any
    help: str
    check: Callable[[Any], Any] | None = None  # typed value -> canonical value, or _Bad
    choices: tuple[str, ...] = ()
    shortcuts: tuple[str, ...] = ()  # choices that are flags of their own (--symbolic)
    metavar: str | None = None
    short: str | None = None
    text: Callable[[Any], str] = str  # canonical value -> its command-line text
    build_default: Callable[[dict], Any] | None = None  # a manifest's default, from the entry

    @property
    def flag(self) -> str:
        if self.type is bool and self.default is True:
            return "--no-" + self.name.replace("_", "-")
        return "--" + self.name.replace("_", "-")

    def canonical(self, value: Any) -> Any:
        if not is_type(value, self.type):
            _fail(f"{value!r}: must be {typename(self.type)}")
        if self.choices:
            value = _choice(self.choices)(value)
        return self.check(value) if self.check else value


def is_type(value: Any, want) -> bool:
    wants = want if isinstance(want, tuple) else (want,)
    if isinstance(value, bool) and bool not in wants:
        return False
    if isinstance(value, int) and float in wants:
        return True
    return isinstance(value, wants)


def typename(t) -> str:
    if isinstance(t, tuple):
        return " or ".join(typename(x) for x in t)
    return {int: "an integer", str: "a string", bool: "true or false", float: "a number",
            tuple: "a pair"}.get(t, t.__name__)


def _options() -> tuple[Option, ...]:
    from viz.ladder import NUMBERS, TIME_MODES
    from viz.select import LADDER_PHASES

    return (
        Option("stream", ("ladder", "graph", "play"), (int, str), None,
               "the stream to draw (udp:N for a UDP one, icmp:N for an ICMP conversation, all for every "
               "stream: up to 8 lifelines a ladder, more an overview with a row per stream; default: every stream if they fit one figure, else the first, and "
               "the caption says so; graph --kind states/tsg/cwnd: the first TCP stream)", _stream, metavar="N"),
        Option("frames", ("ladder", "play", "graph"), (str, tuple), None,
               "only frames A to B (1-based, as in Wireshark)", _frames, metavar="A-B", text=_frames_text),
        Option("phase", ("ladder", "play"), str, None,
               "only the frames of a phase, found again in every capture: " + ", ".join(LADDER_PHASES),
               choices=LADDER_PHASES, metavar="PHASE"),
        Option("frame", ("layers",), (int, str), None,
               "the frame: its number (1-based, as in Wireshark) or its meaning: syn, syn-ack, first-ack, "
               "first-data, reply-data, http-get, fin, rst, first-udp, udp-reply", _frame, metavar="N|MEANING",
               short="-f"),
        Option("view", ("layers",), str, "nested",
               "nested | stack | fields | hex | all (default: nested); with -o and 'all', one file per view "
               "named OUT-VIEW.EXT", choices=("nested", "stack", "fields", "hex", "all"), metavar="VIEW"),
        Option("kind", ("graph",), str, "conversations",
               "conversations | states | topology, or congestion and flow control: tsg (time-sequence "
               "graph) | cwnd | throughput | rtt (default: conversations)",
               choices=GRAPH_KINDS, metavar="KIND"),
        Option("style", ("graph",), str, "tcptrace",
               "tsg: tcptrace (I-beams, ACK and window lines, SACK; default) or stevens (points)",
               choices=("tcptrace", "stevens"), metavar="STYLE"),
        Option("time", ("graph",), str, None,
               "tsg/cwnd/throughput/rtt: only A to B ms after the first frame", _ms_range, metavar="A-B"),
        Option("more", ("graph",), (list, tuple), (),
               "cwnd: more captures whose cwnd is drawn on the same axes (reno, cubic, bbr); on the "
               "command line, CAPTUREs after the first", lambda v: tuple(str(x) for x in v), metavar="CAPTURE",
               text=lambda v: " ".join(v)),
        Option("numbers", ("ladder", "play"), str, "relative",
               "relative (default), absolute (raw sequence numbers) or symbolic (textbook numbers: the ISNs "
               "written as J (client) and K (server), seq=J, ack=J+1)",
               choices=NUMBERS, shortcuts=("absolute", "symbolic"), metavar="NUMBERS"),
        Option("win", ("ladder",), bool, False, "show the (scaled) receive window on each arrow"),
        Option("options", ("ladder",), bool, False, "show the SYN options (MSS, WS, SACK_PERM, TS)"),
        Option("time", ("ladder",), str, "schematic",
               "schematic: rows in frame order, times in the margin (default); scaled: height proportional "
               "to time, long gaps compressed with a break mark", choices=TIME_MODES, metavar="MODE"),
        Option("times", ("ladder",), bool, True,
               "leave out the time column (schematic mode): a figure that must stay byte-identical when "
               "the same exchange is traced again, as `synack build` draws them",
               build_default=lambda entry: entry.get("time") == "scaled"),
        Option("full", ("ladder",), bool, False, "draw every segment; do not collapse long runs"),
        Option("arp", ("ladder",), bool, False,
               "also draw the ARP who-has/is-at (and IPv6 neighbour discovery) before the first segment"),
        Option("page", ("ladder",), str, "slide",
               "figure pages: slide (default: 13.33x7.5 in, text at 14 pt; a longer exchange is cut into "
               "pages that repeat the lifeline heads: one .pdf with a page each, or fig-1.svg, fig-2.svg ...), "
               "a4 (landscape handout pages), none (one figure, as tall as the rows)",
               choices=PAGE_KINDS, metavar="PAGE",
               build_default=lambda entry: "none"),  # a manifest's figure is one file
        Option("ports", ("graph",), bool, False, "conversations: one node per address:port"),
        Option("top", ("graph",), int, 12,
               "conversations figure: draw the N busiest conversations by bytes, labelled, and say how many "
               "were left out (default 12, what a slide holds; 0 = all, unlabelled when there are many); "
               "the text output always lists all",
               _at_least(0, "give a number of conversations, or 0 for all"), metavar="N"),
        Option("hex_rows", ("layers",), int, None,
               "rows of 16 bytes the hex figure draws (default 24, a slide's worth; 0 = the whole frame, "
               "for print); the text view always lists every byte", _at_least(0), metavar="N"),
        Option("compare", ("ladder", "layers"), str, None,
               "ladder: the same exchange captured at the other end (arrows from the true send to the true "
               "receive time; segments missing at the receiver drawn lost); layers: a second capture holding "
               "the same segment (the other side of a router), both drawn, differing fields marked",
               metavar="OTHER"),
        Option("other_frame", ("layers",), int, None,
               "the frame in OTHER (default: the frame with the same addresses, ports, sequence numbers "
               "and payload)", _at_least(1, "frames are numbered from 1"), metavar="M"),
        Option("auto", ("play",), bool, False,
               "advance by itself at the recorded pace (gaps longer than 2 s shortened to 2 s); with "
               "-o .gif/.mp4, animate at that pace instead of one step per second"),
        Option("speed", ("play",), float, 1.0,
               "pace factor for --auto: 2 = twice as fast, 0.1 = ten times slower (default 1)",
               lambda v: v if v > 0 else _fail(f"{v:g}: must be a positive factor (2 = twice as fast)"),
               metavar="X", text=lambda v: f"{v:g}"),
        Option("theme", KINDS, str, "light", "light | print | dark | cb (colour-blind safe) | FILE.toml "
               "(default: light)", _theme, metavar="THEME"),
        Option("size", ("ladder", "layers", "graph", "play"), (str, tuple), None,
               "figure size in inches (default: 13.33 wide, the height fitted to the content)", _size,
               metavar="WxH", text=_size_text),
        Option("width", ("ladder", "play"), int, None, "text width in columns (default: the terminal's)",
               _at_least(40, "at least 40 columns are needed"), metavar="COLS"),
        Option("ascii", ("ladder", "play"), bool, False, "text in plain ASCII (no box drawing)"),
        Option("format", KINDS, str, None,
               "the output format when -o has no telling extension, or to print it (default: -o's "
               "extension)", _format, metavar="FMT"),
    )


OPTIONS: tuple[Option, ...] = _options()
BY_NAME: dict[str, Option] = {}
for _o in OPTIONS:
    BY_NAME.setdefault(_o.name, _o)


def options_of(kind: str) -> tuple[Option, ...]:
    return tuple(o for o in OPTIONS if kind in o.kinds)


def option_for(kind: str, name: str) -> Option | None:
    """The row of `name` that `kind` takes (a name such as time means one thing per kind),
    else the first row of that name."""
    return next((o for o in OPTIONS if o.name == name and kind in o.kinds), BY_NAME.get(name))


def _rows_for(kind: str) -> tuple[Option, ...]:
    """One row per option name, the one `kind` takes where there are several."""
    seen: dict[str, Option] = {}
    for o in OPTIONS:
        if o.name not in seen or (kind in o.kinds and kind not in seen[o.name].kinds):
            seen[o.name] = o
    return tuple(seen.values())


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


def not_taken(kind: str, key: str) -> str:
    """Why `key` is refused, and what is possible instead."""
    takes = ", ".join(o.name for o in options_of(kind))
    o = BY_NAME.get(key)
    if o is None:
        return f"unknown option; a {kind} takes {takes}"
    kinds = [k for k in KINDS if any(x.name == key and k in x.kinds for x in OPTIONS)]
    return f"a {kind} takes no {o.name} (an option of {', '.join(kinds)}); a {kind} takes {takes}"


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


def add_arguments(parser, kind: str) -> None:
    """The argparse options of `kind`, from the table.  Every other option of the table is
    accepted too but hidden, so that using it says which figure kinds take it."""
    import argparse

    parser.add_argument("-o", "--output", metavar="OUT",
                        help=f"write OUT instead of printing; its extension names the format: "
                        f"{' '.join('.' + f for f in FORMATS[kind])}")
    for o in _rows_for(kind):
        taken = kind in o.kinds
        if o.name == "more":  # positional: the CAPTUREs after the first
            if taken:
                parser.add_argument("more", nargs="*", metavar="CAPTURE", help=o.help)
            continue
        names = [o.flag] + ([o.short] if o.short and taken else [])
        hidden = {} if taken else {"help": argparse.SUPPRESS}
        if o.type is bool:
            parser.add_argument(*names, dest=o.name, action="store_const", const=not o.default, default=None,
                                **({"help": o.help} if taken else hidden))
            continue
        if o.shortcuts and taken:
            for s in o.shortcuts:
                parser.add_argument(f"--{s}", dest=o.name, action="store_const", const=s,
                                    help=f"the same as {o.flag} {s}")
        parser.add_argument(*names, dest=o.name, metavar=o.metavar, default=None,
                            **({"help": o.help} if taken else hidden))


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


def _from_text(o: Option, text: str) -> Any:
    """A command-line word as the typed value a manifest would hold."""
    wants = o.type if isinstance(o.type, tuple) else (o.type,)
    if int in wants:
        try:
            return int(text)
        except ValueError:
            if str not in wants:
                _fail(f"{text!r}: must be {typename(o.type)}")
    if float in wants:
        try:
            return float(text)
        except ValueError:
            _fail(f"{text!r}: must be {typename(o.type)}")
    return text


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


def analysis_of(path: str, cwd: str | None = None):
    """The analysis of a request's capture; it carries the path as the request writes it."""
    from pathlib import Path

    from viz.analysis import analyze
    from viz.capture import open_capture

    real = _path(path, cwd)
    if real != "/dev/stdin" and not Path(real).exists():
        raise SynackError(f"{path}: no such file")
    with open_capture(real) as cap:
        return analyze(cap, path=path)


def theme_of(req, cwd: str | None = None):
    """The request's Theme: a built-in one, or its theme file read (relative to `cwd`)."""
    from viz.figure import theme

    return theme(req.theme, cwd)


def ladder_of(req, analysis=None, peer=None, cwd: str | None = None):
    """The ladder layout a ladder request asks for (`analysis`/`peer`: already loaded ones)."""
    from viz.ladder import build_ladder

    an = analysis if analysis is not None else analysis_of(req.capture, cwd)
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

    an = analysis if analysis is not None else analysis_of(req.capture, cwd)
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

    an = analysis_of(req.capture, cwd)
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
    from viz.figure import SLIDE_SIZE

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
            body = ladder_edit.render(lad, fmt, theme_of(req, cwd))
            return _text_out(req, body, cwd)
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
