"""The option table of the figure requests: every option once, with its type, its values, its
default, the figure kinds that take it, its help and the message for a bad value.

viz.figures builds the requests from it; the argparse options of `synack ladder|layers|graph|play`
(`add_arguments`), a manifest's keys and the API's keywords are all this table, so an option exists
in all three with one name and one error, and adding one is adding a row.  It imports nothing
heavy: every `synack` command's parser is made from it, also for `synack --help`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from viz.errors import SynackError
from viz.pages import PAGE_KINDS

KINDS = ("ladder", "layers", "graph", "play")
GRAPH_KINDS = ("conversations", "states", "topology", "tsg", "cwnd", "throughput", "rtt")
TCP_GRAPH_KINDS = ("tsg", "cwnd", "throughput", "rtt")  # viz.tcpgraphs
FORMATS = {
    "ladder": ("svg", "pdf", "png", "pgf", "tex", "txt", "mmd", "puml", "msc", "drawio"),
    "layers": ("svg", "pdf", "png", "pgf", "tex", "mmd"),
    "graph": ("svg", "pdf", "png", "pgf"),
    "play": ("html", "pdf", "gif", "mp4"),
}
TEXT_FORMATS = frozenset({"txt", "tex", "mmd", "puml", "msc", "drawio"})  # printable when there is no -o
FRAME_RANGE_END = 1 << 62  # parse_frames' open end ("5-")
NUMBERS = ("relative", "absolute", "symbolic")  # how a ladder writes sequence numbers (viz.ladder)
TIME_MODES = ("schematic", "scaled")  # what a ladder's height means (viz.ladder)


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
    from viz.select import LADDER_PHASES

    return (
        Option("stream", ("ladder", "graph", "play"), (int, str), None,
               "the stream to draw (udp:N for a UDP one, icmp:N for an ICMP conversation, all for every "
               "stream: up to 8 lifelines a ladder, more an overview with a row per stream; default: every stream "
               "if they fit one figure, else the first, and "
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


def not_taken(kind: str, key: str) -> str:
    """Why `key` is refused, and what is possible instead."""
    takes = ", ".join(o.name for o in options_of(kind))
    o = BY_NAME.get(key)
    if o is None:
        return f"unknown option; a {kind} takes {takes}"
    kinds = [k for k in KINDS if any(x.name == key and k in x.kinds for x in OPTIONS)]
    return f"a {kind} takes no {o.name} (an option of {', '.join(kinds)}); a {kind} takes {takes}"


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
