"""The ladder diagram as data: lifelines, arrows, states, calls, phases, bands.

The text and matplotlib renderers draw the same `Ladder`, and tests assert on
it, so every decision about what appears where (which rows collapse, which
row a socket call belongs to, how a sequence number is spelled) is made here
once.  Pure: takes `viz.model.Analysis` values, reads no files, no clock, no
plotting.

Vertical positions are in abstract row units growing downward; a renderer
maps them to lines (text) or inches (matplotlib).  In the schematic time mode
an arrow leaves its sender at row k and reaches the receiver at row k+1, so a
request and its answer form the textbook zigzag.
"""
from __future__ import annotations

import bisect
from pathlib import PurePath
from dataclasses import dataclass, replace

from viz import ladder_loss as L
from viz.errors import SynackError
from viz.model import Analysis, Endpoint, Flag, Packet, SocketCall, Stream, Streams, Tag, TcpState, flag_label
from viz.options import NUMBERS, TIME_MODES


# More lifelines than this do not fit one slide-sized figure legibly.
MAX_LIFELINES = 5
MAX_ALL = 8  # --stream all: the most lifelines a ladder lays out
# A stream with more arrows than this is collapsed unless full=True.
COLLAPSE_ABOVE = 40
# Arrows kept on each side of a collapsed run, and the shortest run worth a band.
KEEP_EDGE = 2
MIN_BAND = 4
PREVIEW_CHARS = 24
MIN_WAIT = 1.0  # rows: a blocking call that returns sooner is drawn at its return only
# A call record is written just before or after the system call, so its time may be this far
# (seconds) from the call's: closer to a frame or an event than this, it is drawn beside it.
CALL_SLACK = 0.001
SHORT_DATA = 100  # bytes: every segment this short gets a preview, longer ones only when a message starts
# Calls that explain nothing on a ladder; recorded, but left off the figure.
QUIET_CALLS = frozenset({"getsockname", "getpeername", "settimeout", "setblocking", "fileno",
                         "gettimeout", "getsockopt"})
BLOCKING_CALLS = frozenset({"accept", "connect", "recv", "recvfrom", "recv_into", "recvfrom_into",
                            "send", "sendall", "sendto", "sendmsg", "recvmsg", "read", "write"})
RECEIVE_CALLS = frozenset({"recv", "recvfrom", "recv_into", "recvfrom_into", "recvmsg", "read"})
SEND_CALLS = frozenset({"send", "sendall", "sendto", "sendmsg", "write"})

WINDOW_PROBE = "keep-alive (zero-window probe)"
TAG_TEXT = {
    Tag.RETRANSMISSION: "retransmission",
    Tag.FAST_RETRANSMISSION: "fast retransmission",
    Tag.SPURIOUS_RETRANSMISSION: "spurious retransmission",
    Tag.OUT_OF_ORDER: "out of order",
    Tag.DUP_ACK: "dup ACK",
    Tag.ZERO_WINDOW: "zero window",
    Tag.ZERO_WINDOW_PROBE: "zero-window probe",
    Tag.KEEP_ALIVE: "keep-alive",
    Tag.KEEP_ALIVE_ACK: "keep-alive ACK",
    Tag.WINDOW_UPDATE: "window update",
    Tag.WINDOW_FULL: "window full",
    Tag.LOST_SEGMENT: "previous segment not captured",
    Tag.ACK_LOST_SEGMENT: "ACKs unseen segment",
}
# A fast or spurious retransmission also carries `retransmission` (tshark); say it once.
_TAG_IMPLIES = {Tag.FAST_RETRANSMISSION: Tag.RETRANSMISSION, Tag.SPURIOUS_RETRANSMISSION: Tag.RETRANSMISSION}


@dataclass(frozen=True, slots=True)
class Lifeline:
    """One endpoint (address and port): two sockets on one host get two lifelines."""

    index: int
    endpoint: Endpoint
    role: str  # "client", "server", "client 2"
    side: str  # "client" | "server": which StateChange.side it is in its stream(s)
    host: str | None = None  # tracer host name, when the capture says

    @property
    def address(self) -> str:
        return str(self.endpoint)

    @property
    def heading(self) -> str:
        return f"{self.role} {self.endpoint}"


@dataclass(frozen=True, slots=True)
class Arrow:
    frame: int
    stream: int
    proto: str
    src: int  # lifeline index
    dst: int
    y_send: float
    y_recv: float
    t: float  # capture time, seconds since the first frame
    flags: str  # "SYN, ACK"; "UDP" for a datagram
    label: str  # flags, numbers, window, options: the line written on the arrow
    preview: str = ""  # quoted, escaped, truncated payload start
    kind: str = "control"  # "data" (carries payload) | "control"
    reset: bool = False
    tags: tuple[str, ...] = ()
    lost: bool = False  # known lost: drawn stopping short with a cross
    length: int = 0
    t_send: float | None = None  # true times when two captures are merged
    t_recv: float | None = None

    @property
    def inferred(self) -> bool:
        """Drawn from a gap in the sequence space, not from a captured frame (its frame is -(the next one))."""
        return self.frame < 0

    @property
    def says_lost(self) -> bool:
        """A tag already says how it was lost (inferred, never arrived): no second `lost`."""
        return self.lost and not any(t.startswith(("lost", "never arrived", "not captured")) for t in self.tags)

    @property
    def y_end(self) -> float:
        """Where the shaft stops: the receiver, or two thirds of the way for a lost segment."""
        if self.lost:
            return self.y_send + (self.y_recv - self.y_send) * 2 / 3
        return self.y_recv


@dataclass(frozen=True, slots=True)
class StateMark:
    lifeline: int
    y: float
    state: str
    event: str = ""
    y_end: float | None = None  # set for TIME_WAIT: drawn as an interval down to here
    order: int = 0  # position among the notes (states and calls) at this lifeline and height


@dataclass(frozen=True, slots=True)
class CallMark:
    lifeline: int
    y: float
    lines: tuple[str, ...]  # one or more call texts at this height, in time order
    order: int = 0  # position among the notes (states and calls) at this lifeline and height
    times: tuple[float, ...] = ()  # when each call drawn here ran (seconds, the frames' clock)


@dataclass(frozen=True, slots=True)
class Wait:
    """A blocking call on its lifeline from its entry (`recv (blocks)`) to its return, as in UNP."""

    lifeline: int
    y_start: float
    y_end: float
    call: str


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    y_start: float
    y_end: float
    stream: int


@dataclass(frozen=True, slots=True)
class Band:
    """A collapsed run of similar segments."""

    y_start: float
    y_end: float
    left: int
    right: int
    text: str
    segments: int
    bytes: int
    acks: int
    first_frame: int
    last_frame: int


@dataclass(frozen=True, slots=True)
class Break:
    """A long time gap cut short in scaled time: where, and how long it really was."""

    y: float
    gap: float  # seconds
    text: str  # "1.01 s", written beside the break marks


@dataclass(frozen=True, slots=True)
class TimeMark:
    y: float
    text: str


@dataclass(frozen=True, slots=True)
class Ladder:
    lifelines: tuple[Lifeline, ...]
    arrows: tuple[Arrow, ...]
    states: tuple[StateMark, ...] = ()
    calls: tuple[CallMark, ...] = ()
    waits: tuple[Wait, ...] = ()
    timers: tuple[L.Timer, ...] = ()
    phases: tuple[Phase, ...] = ()
    bands: tuple[Band, ...] = ()
    breaks: tuple[Break, ...] = ()  # compressed time gaps (scaled mode)
    times: tuple[TimeMark, ...] = ()
    time_unit: str = "ms"
    time_mode: str = "schematic"
    numbers: str = "relative"
    y_min: float = 0.0
    y_max: float = 1.0
    caption: str = ""
    streams: tuple[tuple[str, int], ...] = ()

    def arrow(self, frame: int) -> Arrow:
        for a in self.arrows:
            if a.frame == frame:
                return a
        raise KeyError(frame)

    def rows(self) -> list[float]:
        """Every height something is drawn at, top to bottom."""
        ys = {a.y_send for a in self.arrows} | {a.y_recv for a in self.arrows}
        ys |= {s.y for s in self.states} | {c.y for c in self.calls} | {b.y_start for b in self.bands}
        return sorted(ys)


# ---------------------------------------------------------------------------
# Stream selection


def parse_stream(text: str) -> tuple[str | None, int]:
    """'3' -> (None, 3); 'udp:2' or 'udp2' -> ('udp', 2); 'icmp:0' -> ('icmp', 0).  ('all' is select_streams' to read.)"""
    t = text.strip().lower()
    proto = None
    for p in ("tcp", "udp", "icmp"):
        if t.startswith(p):
            proto, t = p, t[len(p):].lstrip(":")
    try:
        n = int(t)
        if n < 0:
            raise ValueError
    except ValueError:
        raise SynackError(f"--stream {text!r}: expected a stream number such as 0, udp:1 or icmp:0") from None
    return proto, n


def select_streams(analysis: Analysis, stream: str | int | None = None, arp: bool = False) -> tuple[Stream, ...]:
    """The streams to draw: the one asked for, else all if they fit one figure, else the first.

    ICMP conversations (viz.icmp) are drawn when asked for (`icmp:N`) or when the
    capture has no TCP or UDP; an ICMP error joins the stream of the datagram it quotes."""
    found = Streams.of(analysis.streams)  # on demand: only the streams chosen are made
    drawable = [i for i, p in enumerate(found.protos) if p in ("tcp", "udp")]
    asked_all = stream is not None and str(stream).strip().lower() == "all"
    asked_icmp = stream is not None and not asked_all and parse_stream(str(stream))[0] == "icmp"
    streams = found if len(drawable) == len(found) else Streams.of(found[i] for i in drawable)
    if not drawable or asked_icmp:
        from viz.icmp import conversations
        streams = Streams.of(list(streams) + list(conversations(analysis, arp)))
    if not streams:
        raise SynackError(f"{analysis.capture.path}: no TCP, UDP or ICMP conversation to draw")
    if asked_all:
        return tuple(streams)  # more endpoints than MAX_ALL: build_ladder draws the overview
    if stream is not None:
        proto, n = parse_stream(str(stream))
        for p in ((proto,) if proto else ("tcp", "udp", "icmp")):
            s = streams.find(p, n)
            if s is not None:
                return (s,)
        have = ", ".join(f"{s.proto}:{s.id}" for s in streams[:8]) + (" ..." if len(streams) > 8 else "")
        raise SynackError(f"{analysis.capture.path}: no stream {stream} (streams: {have})")
    ends: set[Endpoint] = set()
    for i in range(len(streams)):
        ends.update(streams.ends(i))
        if len(ends) > MAX_LIFELINES:
            break
    else:
        return tuple(streams)
    first = streams[min(range(len(streams)), key=streams.first_frame)]
    if first.proto == "icmp":  # as many ICMP conversations as fit, in order
        chosen: list[Stream] = []
        hosts: set[Endpoint] = set()
        for s in streams:
            if len(hosts | {s.client, s.server}) <= MAX_LIFELINES:
                chosen.append(s)
                hosts |= {s.client, s.server}
        return tuple(chosen)
    return (first,)


def parse_frames(text: str) -> tuple[int, int]:
    """'5-20' -> (5, 20); '7' -> (7, 7); '5-' -> (5, huge)."""
    try:
        a, sep, b = text.partition("-")
        lo = int(a) if a.strip() else 1
        hi = int(b) if sep and b.strip() else (lo if not sep else 1 << 62)
        if lo < 1 or hi < lo:
            raise ValueError
    except ValueError:
        raise SynackError(f"--frames {text!r}: expected a frame range such as 5-20") from None
    return lo, hi


# ---------------------------------------------------------------------------
# Labels


def escape_preview(payload: bytes, limit: int = PREVIEW_CHARS) -> str:
    """Printable ASCII kept, the rest escaped as Python would; quoted; truncated with an ellipsis."""
    out: list[str] = []
    n = 0
    cut = False
    for b in payload:
        if 32 <= b < 127 and b not in (0x22, 0x5C):
            piece = chr(b)
        else:
            piece = {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x22: '\\"', 0x5C: "\\\\"}.get(b, f"\\x{b:02x}")
        if n + len(piece) > limit:
            cut = True
            break
        out.append(piece)
        n += len(piece)
    return '"' + "".join(out) + '"' + ("…" if cut else "")


def _received(result: str) -> str:
    """`16` stays; a received bytes value (or a recvfrom pair) becomes its length; b'' stays b''."""
    import ast
    import re

    m = re.match(r"(\d+) from ", result)
    if m:
        return m.group(1)
    try:
        value = ast.literal_eval(result)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return result if len(result) <= 16 else result[:15] + "…"
    if isinstance(value, tuple) and value:
        value = value[0]
    if isinstance(value, (bytes, bytearray)):
        return "b''" if not value else str(len(value))
    return str(value)


def _readable(payload: bytes) -> bool:
    """Worth previewing: mostly printable text (a binary preview is noise on an arrow)."""
    if not payload:
        return False
    head = payload[:PREVIEW_CHARS]
    return sum(32 <= b < 127 or b in (9, 10, 13) for b in head) >= 0.8 * len(head)


def _seq_text(value: int | None, raw: int | None, letter: str, numbers: str) -> str:
    if numbers == "absolute":
        return str(raw if raw is not None else value)
    if numbers == "symbolic" and value is not None:
        return letter if value == 0 else f"{letter}+{value}"
    return str(value)


def _options_text(p: Packet) -> str:
    o = p.options
    if o is None or not p.flags & Flag.SYN:
        return ""
    parts = []
    if o.mss is not None:
        parts.append(f"MSS={o.mss}")
    if o.wscale is not None:
        parts.append(f"WS={1 << o.wscale}")
    if o.sack_perm:
        parts.append("SACK_PERM")
    if o.ts_val is not None:
        parts.append("TS")
    return " ".join(parts)


def tag_texts(tags: tuple[Tag, ...]) -> tuple[str, ...]:
    implied = {_TAG_IMPLIES[t] for t in tags if t in _TAG_IMPLIES}
    return tuple(TAG_TEXT[t] for t in tags if t not in implied and t in TAG_TEXT)


def arrow_label(p: Packet, from_client: bool, *, numbers: str = "relative", win: bool = False,
                options: bool = False) -> str:
    """`SYN, ACK seq=0 ack=1`, with `len`, `win` and SYN options when asked."""
    if p.proto != "tcp":
        if p.proto == "udp":
            from viz import dns
            if dns.is_dns(p):
                return dns.label(p) or f"DNS len={p.len}"
        return f"{p.proto.upper()} len={p.len}" if p.len is not None else p.proto.upper()
    mine, theirs = ("J", "K") if from_client else ("K", "J")
    parts = [flag_label(p.flags), f"seq={_seq_text(p.seq, p.seq_raw, mine, numbers)}"]
    if p.flags & Flag.ACK and p.ack is not None:
        parts.append(f"ack={_seq_text(p.ack, p.ack_raw, theirs, numbers)}")
    if p.len:
        parts.append(f"len={p.len}")
    if win and p.win is not None:
        parts.append(f"win={p.win_raw if numbers == 'absolute' and p.win_raw is not None else p.win}")
    if options:
        o = _options_text(p)
        if o:
            parts.append(o)
    return " ".join(parts)


def call_text(c: SocketCall, entered: bool = False) -> str | None:
    """How Stevens labels a call beside a lifeline: `connect (blocks)`, `recv → 16`.

    `entered`: the same call was also recorded when entered (blocking calls are
    recorded twice), so its return need not be shown again.
    """
    name = c.call
    if name in QUIET_CALLS:
        return None
    if c.error:
        err = c.error.split(":", 1)[0]
        errno = {"ConnectionRefusedError": "ECONNREFUSED", "ConnectionResetError": "ECONNRESET",
                 "TimeoutError": "timeout", "BrokenPipeError": "EPIPE"}.get(err, err)
        return f"{name} → {errno}"
    if name in RECEIVE_CALLS:
        if c.phase == "call":
            return None  # the return says it all; a blocking entry is shown for connect/accept only
        res = _received(c.result.strip())
        return f"{name} → {res}"
    if name in SEND_CALLS:
        if c.phase == "return" and entered:
            return None  # shown at its entry
        arg = c.args.split(",", 1)[0].strip("() ")
        return f"{name}({arg})"
    if name in ("connect", "accept"):
        return f"{name} (blocks)" if c.phase == "call" else f"{name} returns"
    if name == "shutdown":
        how = {"0": "SHUT_RD", "1": "SHUT_WR", "2": "SHUT_RDWR"}.get(c.args.strip("() "), c.args.strip("() "))
        return f"shutdown({how})"
    if c.phase == "call" and name not in BLOCKING_CALLS:
        return None
    if name == "setsockopt" and c.args.split(", ")[1:2] in (["IP_TTL"], ["IPV6_UNICAST_HOPS"]):
        return f"setsockopt({c.args.split(', ', 1)[1]})"  # the hop limit of what follows (traceroute)
    return name


# ---------------------------------------------------------------------------
# Building


@dataclass
class _Row:
    packet: Packet
    stream: Stream
    from_client: bool
    keep: bool = True
    t_send: float | None = None
    t_recv: float | None = None
    lost: bool = False
    frame: int = 0
    extra: tuple[str, ...] = ()  # marks the analysis adds: inferred loss, recovery


def build_ladder(analysis: Analysis, *, stream: str | int | None = None, frames: tuple[int, int] | None = None,
                 numbers: str = "relative", win: bool = False, options: bool = False,
                 time: str = "schematic", full: bool = False, peer: Analysis | None = None,
                 lost_frames: frozenset[int] | None = None, arp: bool = False) -> Ladder:
    """Lay out the ladder of `analysis` (and of `peer`, the same exchange captured at the other end).

    `arp`: also draw the ARP (and IPv6 neighbour discovery) before the first segment."""
    if numbers not in NUMBERS:
        raise SynackError(f"numbers {numbers!r}: choose from {', '.join(NUMBERS)}")
    if time not in TIME_MODES:
        raise SynackError(f"--time {time!r}: choose from {', '.join(TIME_MODES)}")
    streams = select_streams(analysis, stream, arp)
    streams, role_notes = _with_roles(analysis, streams)
    if len({e for s in streams for e in (s.client, s.server)}) > MAX_ALL:  # --stream all, and too many
        from viz.ladder_overview import overview

        return overview(analysis, streams, " · ".join(filter(None, (
            _caption(analysis, peer),
            f"overview: {len(streams)} streams, one row each (--stream N draws one as a ladder)",
            *role_notes))))
    from viz.icmp import extras, omitted_note as icmp_omitted
    extra = {e.frame: e for e in extras(analysis, streams, arp)}
    rows = _rows(analysis, streams, frames, extra)
    if peer is not None:
        rows = _merge_peer(analysis, peer, rows)
    # Which frame was dropped is a fact about the whole stream: match it there, not in the range.
    lost = set(lost_frames or ()) | _dropped_frames(analysis, _rows(analysis, streams, None, extra) if frames else rows)
    for r in rows:
        if r.frame in lost:
            r.lost = True
    seen_at = {id(s): L.vantage(analysis, s) for s in streams}
    points = {k: v[0] for k, v in seen_at.items()}
    if peer is None:
        rows = L.gap_rows(rows, points, lambda r, ghost, tag: _Row(ghost, r.stream, r.from_client, lost=True,
                                                                  frame=ghost.frame, extra=(tag,)))
        for j, tag in L.infer_lost(rows, points).items():
            rows[j].lost = True
            rows[j].extra += (tag,)
    for k in L.recovery_rows(rows):
        rows[k].extra += (L.RECOVERY,)
    lifelines, where = _lifelines(analysis, streams, rows)
    dup_number = _dup_ack_numbers(analysis, streams)
    triggers = _fast_retransmit_triggers(analysis, streams, dup_number)
    probes = _window_probes(analysis, streams)
    collapse = not full and len(rows) > COLLAPSE_ABOVE
    state_frames = {sc.frame for s in streams for sc in s.states}
    if collapse:
        _mark_keep(rows, state_frames)
    # Vertical placement.
    y_send, y_recv, breaks, band_rows = _place(rows, time, analysis, peer is not None, collapse)
    arrows: list[Arrow] = []
    last_dir: dict[int, bool] = {}
    for i, r in enumerate(rows):
        p = r.packet
        # Preview a message's start and short segments; the middle of a long transfer is noise.
        starts = bool(p.len) and last_dir.get(id(r.stream)) != r.from_client
        if p.len:
            last_dir[id(r.stream)] = r.from_client
        if not r.keep:
            continue
        src = where[Endpoint(p.src, p.sport)]
        dst = where[Endpoint(p.dst, p.dport)]
        tags = tag_texts(p.analysis)
        if r.frame in dup_number:
            tags = tuple(f"{t} #{dup_number[r.frame]}" if t == TAG_TEXT[Tag.DUP_ACK] else t for t in tags)
        if r.frame in triggers and _textbook(analysis):  # RFC 5681's count; Linux's RACK waits on time
            n = triggers[r.frame]
            fr = TAG_TEXT[Tag.FAST_RETRANSMISSION]
            tags = tuple(f"{t} after {n} dup ACK{'s' if n != 1 else ''}" if t == fr else t for t in tags)
        if r.frame in probes:
            tags = tuple(WINDOW_PROBE if t == TAG_TEXT[Tag.KEEP_ALIVE] else t for t in tags)
        if r.frame in dup_number:
            mine, theirs = ("J", "K") if r.from_client else ("K", "J")
            sack = L.sack_text(p, lambda rel, raw: _seq_text(rel, raw, theirs, numbers))
            if sack:
                tags = tuple(f"{t} {sack}" if t.startswith(TAG_TEXT[Tag.DUP_ACK]) else t for t in tags)
        tags += r.extra
        arrows.append(Arrow(
            frame=r.frame, stream=r.stream.id, proto=p.proto, src=src, dst=dst,
            y_send=y_send[i], y_recv=y_recv[i], t=p.t,
            flags=flag_label(p.flags) if p.proto == "tcp" else p.proto.upper(),
            label=extra[r.frame].label if r.frame in extra else arrow_label(
                p, r.from_client, numbers=numbers, win=win, options=options),
            preview=escape_preview(p.payload) if _readable(p.payload) and (starts or (p.len or 0) <= SHORT_DATA) else "",
            kind="data" if p.len else "control", reset=bool(p.proto == "tcp" and p.flags & Flag.RST),
            tags=tags, lost=r.lost, length=p.len or 0, t_send=r.t_send, t_recv=r.t_recv))
    bands = _bands(rows, band_rows, where, y_send, y_recv)
    row_of = {r.frame: i for i, r in enumerate(rows)}
    top = min([a.y_send for a in arrows] + [b.y_start for b in bands])
    raw_states = _states(analysis, streams, rows, row_of, y_send, y_recv, where, bands, top, lifelines)
    raw_calls, waits = _calls(analysis, rows, row_of, y_send, y_recv, where, lifelines, bands, top,
                              _outside_times(analysis, streams, frames), _end_times(rows, analysis, peer is not None))
    timers = _timers(rows, row_of, y_send, where, bands)
    timer_notes = [(tm.lifeline, (tm.y_start + tm.y_end) / 2, rows[row_of[tm.frame]].packet.t, tm.text)
                   for tm in timers]
    states, calls = _notes(raw_states, raw_calls, timer_notes)
    phases = _phases(streams, arrows) if len(streams) == 1 and streams[0].proto == "tcp" else ()
    times, unit = _times(arrows, bands, rows, band_rows, y_send)
    ys = [a.y_send for a in arrows] + [a.y_recv for a in arrows] + [b.y_end for b in bands]
    ys += [c.y for c in calls] + [s.y for s in states]
    y_min = min(ys, default=0.0)
    y_max = max(ys, default=1.0)
    time_wait = any(s.state == "TIME_WAIT" for s in states)
    states = tuple(replace(s, y_end=y_max + 1.0) if s.state == "TIME_WAIT" else s for s in states)
    ladder = Ladder(
        lifelines=lifelines, arrows=tuple(arrows), states=states, calls=calls, waits=tuple(waits),
        timers=tuple(timers), phases=phases,
        bands=tuple(bands), breaks=tuple(breaks), times=times, time_unit=unit, time_mode=time,
        numbers=numbers, y_min=y_min, y_max=y_max + (1.0 if time_wait else 0.0),
        caption=" · ".join(filter(None, (
            _caption(analysis, peer, L.case_name(rows, lost, _dropped_dirs(analysis), triggers),
                     _caption_notes(analysis, streams, seen_at, numbers, frames, role_notes, collapse)
                     + _time_notes(time, peer, seen_at, streams, breaks)),
            icmp_omitted(analysis, streams, arp)))),
        streams=tuple((s.proto, s.id) for s in streams))
    if time == "schematic" and peer is None:
        ladder = _make_room(ladder)
    return ladder


# Ports below this are a server's (IANA system ports); at or above EPHEMERAL a client's (Linux's range).
WELL_KNOWN = 1024
EPHEMERAL = 32768


def _with_roles(analysis: Analysis, streams) -> tuple[tuple[Stream, ...], list[str]]:
    """Streams whose client is the active opener by evidence: the SYN's sender; without a handshake
    in the capture, the host that called listen(), a well-known port, an ephemeral one.  A stream
    whose roles were guessed gets a note; one whose first sender turns out to be the server is
    turned round (its states follow their endpoints)."""
    out, notes = [], []
    listeners = {c.host for c in analysis.calls if c.call == "listen"}
    for s in streams:
        first = analysis.packet(s.frames[0]) if s.frames and s.frames[0] <= len(analysis.packets) else None
        if first is None or s.proto not in ("tcp", "udp") or (s.proto == "tcp" and first.flags & Flag.SYN):
            out.append(s)
            continue
        c, v = s.client.port, s.server.port
        why = ""
        flip = False
        hosts = {e: _host_of(analysis, e.addr) for e in (s.client, s.server)}
        if hosts[s.client] in listeners and hosts[s.server] not in listeners:
            flip, why = True, f"{s.client} listened"
        elif hosts[s.server] in listeners:
            why = f"{s.server} listened"
        elif (c < WELL_KNOWN) != (v < WELL_KNOWN):
            flip = c < WELL_KNOWN
            why = f"port {min(c, v)} is well known"
        elif (c >= EPHEMERAL) != (v >= EPHEMERAL):
            flip = v >= EPHEMERAL
            why = f"port {max(c, v)} is ephemeral"
        else:
            why = "the first sender is taken for the client"
        side = {"client": "server", "server": "client"}
        if flip:
            s = replace(s, client=s.server, server=s.client, bytes_c2s=s.bytes_s2c, bytes_s2c=s.bytes_c2s,
                        syn_options={side.get(k, k): o for k, o in s.syn_options.items()},
                        states=tuple(replace(x, side=side[x.side]) for x in s.states))
        out.append(s)
        what = "no handshake captured" if s.proto == "tcp" else "UDP"
        notes.append(f"roles guessed ({what}: {why})")
    return tuple(out), list(dict.fromkeys(notes))


def _timers(rows, row_of, y_send, where, bands) -> list[L.Timer]:
    """An RTO timer from each transmission to its timeout retransmission, on the sender."""
    out = []
    for i, j in sorted(L.originals(rows).items()):
        p = rows[i].packet
        if Tag.FAST_RETRANSMISSION in p.analysis or not rows[i].keep:
            continue
        y0 = _band_y(bands, rows, row_of, rows[j].frame)
        out.append(L.Timer(where[Endpoint(p.src, p.sport)], y_send[j] if y0 is None else y0, y_send[i],
                           L.timer_for(rows, i, j), rows[i].frame))
    return out


def _rows(analysis: Analysis, streams: tuple[Stream, ...], frames: tuple[int, int] | None,
          extra: dict | None = None) -> list[_Row]:
    """One row per drawn frame; `extra` (viz.icmp.extras) adds ICMP/ARP frames and redraws a few."""
    extra = extra or {}
    by_frame: dict[int, Stream] = {}
    for s in streams:
        for f in s.frames:
            by_frame[f] = s
    for f, e in extra.items():
        by_frame[f] = e.stream
    lo, hi = frames if frames else (1, 1 << 62)
    rows = []
    for f in sorted(by_frame):
        if not lo <= f <= hi or f > len(analysis.packets):
            continue
        p = extra[f].packet if f in extra else analysis.packet(f)
        if p.src is None or (p.sport is None and p.proto in ("tcp", "udp")):
            continue
        s = by_frame[f]
        rows.append(_Row(p, s, Endpoint(p.src, p.sport) == s.client, frame=f))
    if not rows:
        what = f"frames {lo}-{hi}" if frames else "the selected streams"
        raise SynackError(f"{analysis.capture.path}: no TCP/UDP segment in {what}")
    return rows


def _dup_ack_numbers(analysis: Analysis, streams) -> dict[int, int]:
    """Frame -> n for the n-th duplicate ACK of one ack number from one side, as
    Wireshark's `Dup ACK 15#3`: a segment from that side with another ack number
    starts the count again (tshark 4.0.17, as viz.tcp_analysis).  Counted over
    the whole stream, so a range starting mid-run keeps the numbers."""
    out: dict[int, int] = {}
    for s in streams:
        if s.proto != "tcp":
            continue
        count: dict[tuple, int] = {}
        last_ack: dict[tuple, int | None] = {}
        for f in s.frames:
            if f > len(analysis.packets):
                continue
            p = analysis.packet(f)
            side = (p.src, p.sport)
            if p.ack is None or p.ack != last_ack.get(side):
                count[side] = 0
            last_ack[side] = p.ack
            if Tag.DUP_ACK in p.analysis:
                count[side] = out[f] = count[side] + 1
    return out


def _fast_retransmit_triggers(analysis: Analysis, streams, dup_number: dict[int, int]) -> dict[int, int]:
    """Frame of a fast retransmission -> the number of the duplicate ACK it answered: the last one
    from the receiver asking for its sequence number before it was sent (the count at the moment
    the sender fired: 3 in textbook TCP, however many RACK waited for on Linux)."""
    out: dict[int, int] = {}
    for s in streams:
        if s.proto != "tcp":
            continue
        last: dict[tuple, int] = {}  # (receiver, raw ack number) -> its latest duplicate's number
        for f in s.frames:
            if f > len(analysis.packets):
                continue
            p = analysis.packet(f)
            if f in dup_number:
                last[(p.src, p.sport, p.ack_raw)] = dup_number[f]
            if Tag.FAST_RETRANSMISSION in p.analysis and (p.dst, p.dport, p.seq_raw) in last:
                out[f] = last[(p.dst, p.dport, p.seq_raw)]
    return out


def _textbook(analysis: Analysis) -> bool:
    """Traced with --tcp textbook (the capture's `tcp` metadata)."""
    tcp = (analysis.capture.meta or {}).get("tcp")
    return isinstance(tcp, dict) and tcp.get("profile") == "textbook"


def _window_probes(analysis: Analysis, streams) -> set[int]:
    """Keep-alives sent while the peer's last advertised window is zero.  Linux
    probes a zero window with seq = SND.UNA - 1 and no data (tcp_xmit_probe_skb),
    which is Wireshark's keep-alive pattern, so tshark tags it keep-alive; the
    figure keeps that tag and says what the segment is for."""
    out: set[int] = set()
    for s in streams:
        if s.proto != "tcp":
            continue
        window: dict[tuple, int | None] = {}
        for f in s.frames:
            if f > len(analysis.packets):
                continue
            p = analysis.packet(f)
            if Tag.KEEP_ALIVE in p.analysis and window.get((p.dst, p.dport)) == 0:
                out.add(f)
            window[(p.src, p.sport)] = p.win
    return out


def _host_of(analysis: Analysis, addr: str) -> str | None:
    for h in analysis.capture.meta.get("hosts", ()) or ():
        for itf in h.get("interfaces", ()):
            for a in itf.get("addrs", ()):
                if a.split("/")[0] == addr:
                    return h.get("name")
    return None


def _lifelines(analysis: Analysis, streams: tuple[Stream, ...],
               rows: list[_Row] = ()) -> tuple[tuple[Lifeline, ...], dict[Endpoint, int]]:
    """Clients left in order of appearance, servers right: the active opener is on the left.
    A host the rows reach that is no stream's end (a router reporting an error) stands between."""
    clients: list[Endpoint] = []
    servers: list[Endpoint] = []
    for s in sorted(streams, key=lambda s: s.frames[0] if s.frames else 0):
        if s.client not in clients and s.client not in servers:
            clients.append(s.client)
        if s.server not in servers:
            if s.server in clients:
                clients.remove(s.server)
            servers.append(s.server)
    middle: list[Endpoint] = []
    for r in rows:
        for e in (Endpoint(r.packet.src, r.packet.sport), Endpoint(r.packet.dst, r.packet.dport)):
            if e not in clients and e not in servers and e not in middle:
                middle.append(e)
    out = []
    for n, e in enumerate(clients):
        role = "client" if len(clients) == 1 else f"client {n + 1}"
        out.append(Lifeline(len(out), e, role, "client", _host_of(analysis, e.addr)))
    for e in middle:
        name = _host_of(analysis, e.addr) or "host"
        out.append(Lifeline(len(out), e, name, "", name if name != "host" else None))
    for n, e in enumerate(servers):
        role = "server" if len(servers) == 1 else f"server {n + 1}"
        out.append(Lifeline(len(out), e, role, "server", _host_of(analysis, e.addr)))
    return tuple(out), {l.endpoint: l.index for l in out}


def _mark_keep(rows: list[_Row], state_frames: set[int]) -> None:
    """Everything is collapsible except handshake, teardown, tagged and state-changing segments."""
    n = len(rows)
    keep = [False] * n
    by_stream: dict[int, list[int]] = {}
    for i, r in enumerate(rows):
        by_stream.setdefault(id(r.stream), []).append(i)
    for idx in by_stream.values():
        first_data = next((k for k, i in enumerate(idx) if rows[i].packet.len), len(idx))
        end = next((k for k, i in enumerate(idx) if rows[i].packet.flags & (Flag.FIN | Flag.RST)), len(idx))
        for k in range(min(len(idx), first_data + KEEP_EDGE)):
            keep[idx[k]] = True
        last_data = max((k for k, i in enumerate(idx[:end]) if rows[i].packet.len), default=end)
        for k in range(max(0, min(end, last_data + 1) - KEEP_EDGE), len(idx)):
            keep[idx[k]] = True
    for i, r in enumerate(rows):
        p = r.packet
        special = p.analysis or r.lost or r.frame in state_frames or p.flags & (Flag.SYN | Flag.FIN | Flag.RST)
        if special:
            for j in range(max(0, i - 1), min(n, i + 2)):
                keep[j] = True
    # Runs too short to be worth a band stay drawn.
    i = 0
    while i < n:
        if keep[i]:
            i += 1
            continue
        j = i
        while j < n and not keep[j] and rows[j].stream is rows[i].stream:
            j += 1
        if j - i < MIN_BAND:
            for k in range(i, j):
                keep[k] = True
        i = j
    for r, k in zip(rows, keep):
        r.keep = k


def _place(rows: list[_Row], time: str, analysis: Analysis, merged: bool, collapse: bool):
    """y of each row's send and receive end; breaks; and the band slot of each collapsed run."""
    n = len(rows)
    # Slots: a kept row is one slot; a collapsed run is one slot (the band).
    band_rows: list[tuple[int, int]] = []  # (first row index, last row index) per band
    slot = [0.0] * n
    k = 0
    i = 0
    while i < n:
        if i and rows[i].stream is not rows[i - 1].stream:
            k += STREAM_GAP  # another connection's arrow: apart from the one before, its label has room
        if rows[i].keep:
            slot[i] = k
            k += 1
            i += 1
            continue
        j = i
        while j < n and not rows[j].keep and rows[j].stream is rows[i].stream:
            j += 1
        band_rows.append((i, j - 1))
        for m in range(i, j):
            slot[m] = k
        k += 1
        i = j
    y_send = [0.0] * n
    y_recv = [0.0] * n
    breaks: list[Break] = []
    if time == "schematic" and not merged:
        for i in range(n):
            y_send[i] = slot[i]
            y_recv[i] = slot[i] + 1.0
        return y_send, y_recv, breaks, band_rows
    # True order (merged captures, schematic) or time-proportional (scaled).
    t_send, t_recv = _end_times(rows, analysis, merged)
    events = sorted({t for t in t_send + t_recv if t is not None})
    if time == "schematic":
        rank = {t: float(r) for r, t in enumerate(events)}
        ymap = rank.__getitem__
    else:
        ymap, breaks = _scaled_map(events, max(k, 2))
    for i in range(n):
        y_send[i] = ymap(t_send[i])
        y_recv[i] = ymap(t_recv[i])
    return y_send, y_recv, breaks, band_rows


def _end_times(rows: list[_Row], analysis: Analysis, merged: bool) -> tuple[list[float], list[float]]:
    """Send and receive times of each row; one capture knows one end, the other is estimated."""
    if merged:
        ts = []
        tr = []
        for r in rows:
            s, e = r.t_send, r.t_recv
            if s is None:
                s = e - _owd(rows)
            if e is None:
                e = s + _owd(rows)
            ts.append(s)
            tr.append(e)
        return ts, tr
    point = analysis.capture.meta.get("capture_point")
    point_host = point if point else None
    d = _owd(rows)
    ts, tr = [], []
    for r in rows:
        t = r.packet.t
        sender_host = _host_of(analysis, r.packet.src) if point_host else None
        if point_host and sender_host != point_host and _host_of(analysis, r.packet.dst) == point_host:
            ts.append(t - d)
            tr.append(t)
        else:
            ts.append(t)
            tr.append(t + d)
    return ts, tr


def _owd(rows: list[_Row]) -> float:
    """The one-way delay of the far end when only one end was captured: half the handshake RTT
    (from the SYN the SYN/ACK answered, the last one before it: a lost SYN was retried)."""
    sa = next((k for k, r in enumerate(rows) if r.packet.flags & Flag.SYN and r.packet.flags & Flag.ACK), None)
    rtt = 0.0
    if sa is not None:
        syn = next((r for r in reversed(rows[:sa]) if r.packet.flags & Flag.SYN and not r.packet.flags & Flag.ACK),
                   None)
        if syn is not None:
            rtt = abs(rows[sa].packet.t - syn.packet.t)
    return max(rtt / 2, 1e-7)


# Rows between consecutive arrows of different connections (schematic time).
STREAM_GAP = 0.5

# Scaled time: no two events closer than this many rows (a µs apart on a veth must still read).
MIN_STEP = 0.5


def duration_text(seconds: float) -> str:
    """A gap's length as a lecture writes it: `1.01 s`, `340 ms`, `2.5 ms`, `80 µs`."""
    if seconds >= 1.0:
        return f"{seconds:.3g} s" if seconds < 100 else f"{seconds:.0f} s"
    if seconds >= 1e-3:
        ms = seconds * 1e3
        return f"{ms:.3g} ms" if ms < 100 else f"{ms:.0f} ms"
    return f"{seconds * 1e6:.0f} µs"


def _scaled_map(events: list[float], target_rows: int):
    """y proportional to time above a legible minimum step; gaps longer than ten typical gaps
    are cut to that length and marked with a break.  Returns the map and the break heights."""
    gaps = [b - a for a, b in zip(events, events[1:])]
    pos = sorted(g for g in gaps if g > 0)
    typical = pos[len(pos) // 2] if pos else 1.0
    cap = typical * 10
    total = sum(min(g, cap) for g in gaps) or 1.0
    scale = target_rows / total
    ys = [0.0]
    breaks: list[Break] = []
    for g in gaps:
        step = max(MIN_STEP, min(g, cap) * scale)
        if g > cap:
            breaks.append(Break(ys[-1] + step / 2, g, duration_text(g)))
        ys.append(ys[-1] + step)

    def ymap(t: float) -> float:
        i = bisect.bisect_left(events, t)
        if i < len(events) and events[i] == t:
            return ys[i]
        if i == 0:
            return ys[0] - MIN_STEP
        if i >= len(events):
            return ys[-1] + MIN_STEP
        a, b = events[i - 1], events[i]
        return ys[i - 1] + (ys[i] - ys[i - 1]) * (t - a) / (b - a)

    return ymap, breaks


def _bands(rows, band_rows, where, y_send, y_recv) -> list[Band]:
    out = []
    for i, j in band_rows:
        run = rows[i:j + 1]
        data = [r for r in run if r.packet.len]
        acks = len(run) - len(data)
        nbytes = sum(r.packet.len or 0 for r in data)
        ends = sorted({where[Endpoint(r.packet.src, r.packet.sport)] for r in run}
                      | {where[Endpoint(r.packet.dst, r.packet.dport)] for r in run})
        text = f"… {len(data):,} segments, {nbytes:,} bytes"
        if acks:
            text += f", {acks:,} ACKs"
        text += " …"
        y0 = y_send[i]
        y1 = max(y_recv[j], y0 + 1.0)
        out.append(Band(y0, y1, ends[0], ends[-1], text, len(data), nbytes, acks, run[0].frame, run[-1].frame))
    return out


def _end_y(rows, row_of, y_send, y_recv, frame: int, lifeline: int, where) -> float | None:
    i = row_of.get(frame)
    if i is None:
        return None
    p = rows[i].packet
    return y_send[i] if where.get(Endpoint(p.src, p.sport)) == lifeline else y_recv[i]


def _band_y(bands: list[Band], rows, row_of, frame: int) -> float | None:
    i = row_of.get(frame)
    if i is None or rows[i].keep:
        return None
    for b in bands:
        if b.first_frame <= frame <= b.last_frame:
            return b.y_start + 0.5
    return None


def _shared(streams, where) -> dict[int, int]:
    """Lifeline -> how many drawn streams it takes part in (a server with several clients)."""
    n: dict[int, int] = {}
    for s in streams:
        for e in (s.client, s.server):
            n[where[e]] = n.get(where[e], 0) + 1
    return n


def _states(analysis, streams, rows, row_of, y_send, y_recv, where, bands, top,
            lifelines=()) -> list[tuple[StateMark, float]]:
    """Each state change at the sender's or receiver's end of its frame, timed by that frame.  On a
    lifeline several connections share, each state names its connection (`ESTABLISHED [client 2]`)
    and the one listening socket's LISTEN is written once."""
    out: list[tuple[StateMark, float]] = []
    shared = _shared(streams, where)
    listening: set[int] = set()
    for s in streams:
        if s.proto != "tcp":
            continue
        lines = {"client": where[s.client], "server": where[s.server]}
        peer = {"client": where[s.server], "server": where[s.client]}
        first_seen: set[str] = set()
        for sc in s.states:
            lf = lines.get(sc.side)
            if lf is None or sc.frame not in row_of:
                continue
            if sc.side not in first_seen:
                first_seen.add(sc.side)
                if sc.before == TcpState.LISTEN and lf not in listening:
                    listening.add(lf)
                    listen = [c.t for c in analysis.calls if c.call == "listen"]
                    t = listen[0] + 1e-9 if listen else float("-inf")
                    out.append((StateMark(lf, top - 1.0, TcpState.LISTEN.value, "listen"), t))
            y = _band_y(bands, rows, row_of, sc.frame)
            if y is None:
                y = _end_y(rows, row_of, y_send, y_recv, sc.frame, lf, where)
            name = sc.after.value
            if shared.get(lf, 1) > 1 and lifelines:
                name = f"{name} [{lifelines[peer[sc.side]].role}]"
            out.append((StateMark(lf, y, name, sc.event), rows[row_of[sc.frame]].packet.t))
    return out


def _notes(states: list[tuple[StateMark, float]], calls: list[tuple[int, float, float, str]],
           timers: list[tuple[int, float, float, str]] = ()):
    """States and calls (and timer values) at one lifeline and height, in time order; neighbouring
    calls share a mark, which keeps the calls' times."""
    groups: dict[tuple[int, float], list[tuple[float, int, object]]] = {}
    for k, (m, t) in enumerate(states):
        groups.setdefault((m.lifeline, m.y), []).append((t, k, m))
    for k, (lf, y, t, text) in enumerate(list(calls) + list(timers)):
        groups.setdefault((lf, y), []).append((t, len(states) + k, (text, k < len(calls))))
    out_s: list[StateMark] = []
    out_c: list[CallMark] = []
    for (lf, y), items in groups.items():
        items.sort(key=lambda it: (it[0], it[1]))
        order = 0
        pending: list[str] = []
        when: list[float] = []

        def flush() -> None:
            nonlocal order, pending, when
            if pending:
                out_c.append(CallMark(lf, y, _squash(pending), order, tuple(when)))
                order += 1
                pending, when = [], []

        for t, _, item in items:
            if isinstance(item, StateMark):
                flush()
                out_s.append(replace(item, order=order))
                order += 1
            else:
                pending.append(item[0])
                if item[1]:
                    when.append(t)
        flush()
    key = lambda m: (m.y, m.lifeline, m.order)  # noqa: E731
    return tuple(sorted(out_s, key=key)), tuple(sorted(out_c, key=key))


def _make_room(ladder: Ladder) -> Ladder:
    """Rows whose notes need more than two lines push the rows below them down."""
    need: dict[float, int] = {}
    per: dict[tuple[int, float], int] = {}
    for m in ladder.states:
        per[(m.lifeline, m.y)] = per.get((m.lifeline, m.y), 0) + 1
    for c in ladder.calls:
        per[(c.lifeline, c.y)] = per.get((c.lifeline, c.y), 0) + len(c.lines)
    for (_, y), n in per.items():
        need[y] = max(need.get(y, 0), n)
    extra = sorted((y, (n - 2) * 0.5) for y, n in need.items() if n > 2)
    if not extra:
        return ladder

    def f(v: float | None) -> float | None:
        if v is None:
            return None
        shift = 0.0
        for y, e in extra:
            if y < v:
                shift += e
            elif y == v:
                shift += e / 2
        return v + shift

    return replace(
        ladder,
        arrows=tuple(replace(a, y_send=f(a.y_send), y_recv=f(a.y_recv)) for a in ladder.arrows),
        states=tuple(replace(m, y=f(m.y), y_end=f(m.y_end)) for m in ladder.states),
        calls=tuple(replace(c, y=f(c.y)) for c in ladder.calls),
        waits=tuple(replace(w, y_start=f(w.y_start), y_end=f(w.y_end)) for w in ladder.waits),
        timers=tuple(replace(w, y_start=f(w.y_start), y_end=f(w.y_end)) for w in ladder.timers),
        phases=tuple(replace(p, y_start=f(p.y_start), y_end=f(p.y_end)) for p in ladder.phases),
        bands=tuple(replace(b, y_start=f(b.y_start), y_end=f(b.y_end)) for b in ladder.bands),
        breaks=tuple(replace(b, y=f(b.y)) for b in ladder.breaks),
        times=tuple(replace(t, y=f(t.y)) for t in ladder.times),
        y_max=f(ladder.y_max))


def _outside_times(analysis: Analysis, streams, frames) -> tuple[float, float]:
    """The times of the selected streams' last frame before `frames` and first after it:
    a call outside them belongs to segments the figure leaves out."""
    if not frames:
        return float("-inf"), float("inf")
    lo, hi = frames
    nums = sorted(f for s in streams for f in s.frames if f <= len(analysis.packets))
    before = [f for f in nums if f < lo]
    after = [f for f in nums if f > hi]
    return (analysis.packet(before[-1]).t if before else float("-inf"),
            analysis.packet(after[0]).t if after else float("inf"))


def _calls(analysis, rows, row_of, y_send, y_recv, where, lifelines, bands, top,
           window=(float("-inf"), float("inf")), end_times=None):
    """Each call beside its lifeline where it ran on the frames' clock.

    A call is drawn at the row of the frame it caused or waited for when
    nothing happened on its lifeline between the two (`connect (blocks)` beside
    its SYN, `recv → 16` beside the segment it returned); otherwise between the
    events it ran between (a server that sleeps reads long after the data
    arrived).  An arrow a call caused never starts above the call.  A blocking
    call whose return comes after other events on its lifeline is a `Wait`.
    Returns (placed notes, waits): notes are (lifeline, y, t, text).
    """
    if not analysis.calls:
        return [], []
    entered = {(c.host, c.pid, c.fd, c.call) for c in analysis.calls if c.phase == "call"}
    # Which lifeline a (host, pid, fd) talks through, learned from calls tied to frames.
    sock: dict[tuple[str, int, int | None], int] = {}
    peer_of: dict[tuple[str, int, int | None], set[int]] = {}
    frame_peer: dict[tuple[int, int], int] = {}
    host_lines: dict[str, set[int]] = {}
    for c in analysis.calls:
        if c.frame is not None and c.frame in row_of:
            p = rows[row_of[c.frame]].packet
            src, dst = where.get(Endpoint(p.src, p.sport)), where.get(Endpoint(p.dst, p.dport))
            lf = src if _host_matches(c.host, lifelines[src]) else dst if _host_matches(c.host, lifelines[dst]) else src
            sock[(c.host, c.pid, c.fd)] = lf
            peer_of.setdefault((c.host, c.pid, c.fd), set()).add(dst if lf == src else src)
            frame_peer[(c.frame, lf)] = dst if lf == src else src
            host_lines.setdefault(c.host, set()).add(lf)
    for lf in lifelines:
        for name in (lf.host, lf.side, lf.role):
            if name:
                host_lines.setdefault(name, set()).add(lf.index)
    # Events per lifeline: (time at that end, y), from kept and collapsed rows.
    t_send, t_recv = end_times if end_times else ([r.packet.t for r in rows], [r.packet.t for r in rows])
    events: dict[int, list[tuple[float, float]]] = {}
    at: dict[tuple[int, int], tuple[float, float]] = {}  # (row, lifeline) -> (t, y)
    for i, r in enumerate(rows):
        p = r.packet
        s, d = where[Endpoint(p.src, p.sport)], where[Endpoint(p.dst, p.dport)]
        yb = _band_y(bands, rows, row_of, r.frame)
        at[(i, s)] = (t_send[i], yb if yb is not None else y_send[i])
        events.setdefault(s, []).append(at[(i, s)])
        if not r.lost:  # a segment that never arrived is no event at its receiver
            at[(i, d)] = (t_recv[i], yb if yb is not None else y_recv[i])
            events.setdefault(d, []).append(at[(i, d)])
    for ev in events.values():
        ev.sort()
    times = {lf: [e[0] for e in ev] for lf, ev in events.items()}
    # Every lifeline's events in time order, with the lowest height reached so far and the highest
    # still to come: a call placed between its own lifeline's events also keeps its place among the
    # others' (a recv entered long before the peer sent is not drawn below that send).
    every = sorted(e for ev in events.values() for e in ev)
    every_t = [e[0] for e in every]
    low_so_far, high_after = [], [0.0] * len(every)
    for _, y in every:
        low_so_far.append(max(y, low_so_far[-1]) if low_so_far else y)
    for j in range(len(every) - 1, -1, -1):
        high_after[j] = min(every[j][1], high_after[j + 1]) if j + 1 < len(every) else every[j][1]

    def among_all(y: float, t: float) -> float:
        i = bisect.bisect_left(every_t, t - CALL_SLACK)  # events before this came before the call
        j = bisect.bisect_right(every_t, t + CALL_SLACK)  # events from this came after it
        lo = low_so_far[i - 1] if i else None
        hi = high_after[j] if j < len(every) else None
        if lo is not None and hi is not None and lo > hi:
            return y  # the rows cannot say it (one end's times are estimated)
        if lo is not None:
            y = max(y, lo)
        if hi is not None:
            y = min(y, hi)
        return y
    placed: list[tuple[int, float, float, str, SocketCall]] = []
    frame_lo, frame_hi = rows[0].packet.t, rows[-1].packet.t
    # The lifelines of each drawn connection: a call carries its connection (viz.calls), so on a
    # lifeline several connections share it is drawn, and tagged, as its own connection's.
    conns: dict[tuple[str, int], tuple[int, int]] = {}
    for r in rows:
        if r.stream.proto in ("tcp", "udp"):
            conns.setdefault((r.stream.proto, r.stream.id), (where[r.stream.client], where[r.stream.server]))
    shared = _shared({id(r.stream): r.stream for r in rows if r.stream.proto in ("tcp", "udp")}.values(), where)
    tags: dict[int, str] = {}  # id(call) -> its connection, where a lifeline carries several
    for c in analysis.calls:
        lf = None
        if c.conn is not None and c.conn[0] in ("tcp", "udp") and c.frame is None:
            ends = conns.get(c.conn)
            if ends is None:
                continue  # a connection the figure leaves out
            mine = [e for e in ends if _host_matches(c.host, lifelines[e])]
            if len(mine) == 1:
                lf = mine[0]
        if lf is None:
            lf = sock.get((c.host, c.pid, c.fd))
        if lf is None:
            cands = host_lines.get(c.host, set())
            if len(cands) != 1:
                continue
            lf = next(iter(cands))
        if c.frame is not None and c.frame not in row_of:
            continue  # tied to a frame outside the drawn range
        if c.frame is None and not window[0] < c.t < window[1]:
            continue  # among segments the range leaves out
        if c.conn in conns and shared.get(lf, 1) > 1:
            ends = conns[c.conn]
            peer = ends[1] if ends[0] == lf else ends[0] if ends[1] == lf else None
            if peer is not None:
                tags[id(c)] = lifelines[peer].role
        ev, ts = events.get(lf, []), times.get(lf, [])
        k = bisect.bisect_right(ts, c.t)  # events on this lifeline at or before the call
        y = None
        if c.frame is not None and (row_of[c.frame], lf) in at:
            tf, yf = at[(row_of[c.frame], lf)]
            if _band_y(bands, rows, row_of, c.frame) is not None:
                y = yf
            elif c.t < tf:  # ran before the segment it caused: beside it, unless something came between
                near = tf - c.t <= CALL_SLACK or k >= len(ev) or ev[k][1] >= yf
                y = yf if near else min(among_all(_nearby(ev, k, c.t, top), c.t), yf)
            else:  # returned after the segment it waited for
                near = c.t - tf <= CALL_SLACK or k == 0 or ev[k - 1][1] <= yf
                y = yf if near else max(among_all(_nearby(ev, k, c.t, top), c.t), yf)
        if y is None:
            y = _nearby(ev, k, c.t, top, None)  # within the slack of an event: beside it
        if y is None:
            if k == 0:
                if c.t > frame_hi or c.t < frame_lo - 60:
                    continue
                y = top - 1.0
            elif c.t > frame_hi + 1.0 and k == len(ev):
                y = ev[k - 1][1]  # after the last frame: beside it
            else:
                y = among_all(_between(ev, k), c.t)
        placed.append((lf, y, c.t, c))
    for lf, y, t, c in placed:
        if id(c) in tags or shared.get(lf, 1) < 2:
            continue
        peer = frame_peer.get((c.frame, lf))
        if peer is None and len(peer_of.get((c.host, c.pid, c.fd), ())) == 1:
            peer = next(iter(peer_of[(c.host, c.pid, c.fd)]))
        if peer is not None:
            tags[id(c)] = lifelines[peer].role
    # A lifeline's calls happen in order: a read of an old segment cannot sit above an earlier send.
    placed.sort(key=lambda p: (p[0], p[2]))
    out = []
    floor: dict[int, float] = {}
    for lf, y, t, c in placed:
        y = max(y, floor.get(lf, y))
        floor[lf] = y
        out.append((lf, y, t, c))
    return _call_notes(out, entered, tags)


def _nearby(ev: list[tuple[float, float]], k: int, t: float, top: float, default: object = ...):
    """The height of the lifeline's event within the clock's slack of a call at `t` that ran after
    its k-th event (the nearer one, if both neighbours are), else `default` (the height between
    them).  Set-up calls stay above a lifeline that starts the figure, and go beside the first
    event of one that joins later."""
    after = t - ev[k - 1][0] if k else None
    before = ev[k][0] - t if k < len(ev) else None
    if before is not None and before <= CALL_SLACK and (after is None or before < after) \
            and (k or ev[0][1] > top + 1.0):
        return ev[k][1]
    if after is not None and after <= CALL_SLACK:
        return ev[k - 1][1]
    return _between(ev, k) if default is ... else default


def _between(ev: list[tuple[float, float]], k: int, cap: float | None = None) -> float:
    """The height for a call that ran after the lifeline's k-th event and before the next one."""
    if k == 0:
        y = ev[0][1] - 0.5
    elif k >= len(ev) or ev[k][1] <= ev[k - 1][1]:
        y = ev[k - 1][1] if k >= len(ev) else ev[k][1]
        if k >= len(ev):
            y += 0.5
    else:
        y = (ev[k - 1][1] + ev[k][1]) / 2
    return min(y, cap) if cap is not None else y


def _call_notes(placed, entered, tags=None) -> tuple[list[tuple[int, float, float, str]], list[Wait]]:
    """Texts of the placed calls; a blocking call that returned at another height waits there.
    `tags`: id(call) -> the connection's name, on a lifeline several connections share."""
    tags = tags or {}
    texts: list[tuple[int, float, float, str]] = []
    waits: list[Wait] = []
    open_: dict[tuple, tuple[int, float, float]] = {}  # (host, pid, fd, call) -> (note index, y) of the entry
    for lf, y, t, c in placed:
        key = (c.host, c.pid, c.fd, c.call)
        if c.phase == "call" and c.call in BLOCKING_CALLS:
            open_[key] = (len(texts), y, t)
            texts.append((lf, y, t, call_text(c, key in entered) or ""))
            continue
        text = call_text(c, key in entered)
        entry = open_.pop(key, None) if c.phase == "return" else None
        if entry is not None:
            idx, y0, t0 = entry
            if y - y0 >= MIN_WAIT and t - t0 > CALL_SLACK and not c.error:
                waits.append(Wait(lf, y0, y, c.call))
                if not texts[idx][3]:
                    texts[idx] = (lf, y0, texts[idx][2], f"{c.call} (blocks)")
                if text is None and c.call in SEND_CALLS:
                    text = f"{c.call} returns"
        if text is not None:
            texts.append((lf, y, t, text))
    tag_at = {}
    for lf, y, t, c in placed:
        tag = tags.get(id(c))
        if tag:
            tag_at[(lf, y, t)] = tag
    texts = [(lf, y, t, f"{text} [{tag_at[(lf, y, t)]}]" if text and (lf, y, t) in tag_at else text)
             for lf, y, t, text in texts]
    return [n for n in texts if n[3]], waits


def _host_matches(host: str, lf: Lifeline) -> bool:
    return host in (lf.host, lf.side, lf.role)


def _squash(texts: list[str]) -> tuple[str, ...]:
    """Repeated calls at one height read as `recv ×12`; short neighbours share a line."""
    counted: list[list] = []
    for t in texts:
        if counted and counted[-1][0] == t:
            counted[-1][1] += 1
        else:
            counted.append([t, 1, None])
    items = [t if n == 1 else f"{t} ×{n}" for t, n, _ in counted]
    lines: list[str] = []
    for t in items:
        if lines and len(lines[-1]) + len(t) + 2 <= 22:
            lines[-1] += ", " + t
        else:
            lines.append(t)
    return tuple(lines)


def _phases(streams, arrows: list[Arrow]) -> tuple[Phase, ...]:
    s = streams[0]
    mine = [a for a in arrows if a.stream == s.id and a.proto == "tcp"]
    if not mine:
        return ()
    flags = [a.flags.split(", ") for a in mine]
    out = []
    i_syn = next((i for i, f in enumerate(flags) if "SYN" in f), None)
    i_end = next((i for i, f in enumerate(flags) if "FIN" in f or "RST" in f), None)
    est_end = None
    if i_syn is not None:
        i_sa = next((i for i in range(i_syn, len(mine)) if "SYN" in flags[i] and "ACK" in flags[i]), None)
        if i_sa is not None and i_sa + 1 < len(mine) and (i_end is None or i_sa + 1 < i_end):
            est_end = i_sa + 1
        elif i_end is not None and "RST" in flags[i_end] and (i_sa is None or i_end <= i_sa + 1):
            est_end = i_end  # refused or reset during the handshake: the attempt is the whole story
            i_end = None
        elif i_sa is not None:
            est_end = i_sa
        else:
            est_end = i_syn
        out.append(Phase("connection establishment", mine[i_syn].y_send, mine[est_end].y_recv, s.id))
    data_lo = (est_end + 1) if est_end is not None else 0
    data_hi = (i_end - 1) if i_end is not None else len(mine) - 1
    if data_lo <= data_hi and any(a.length for a in mine[data_lo:data_hi + 1]):
        out.append(Phase("data transfer", mine[data_lo].y_send, mine[data_hi].y_recv, s.id))
    if i_end is not None:
        out.append(Phase("connection release", mine[i_end].y_send, max(a.y_recv for a in mine[i_end:]), s.id))
    return tuple(out)


def _times(arrows, bands, rows, band_rows, y_send) -> tuple[tuple[TimeMark, ...], str]:
    ts = [a.t for a in arrows]
    span = max(ts, default=0.0) - min(ts, default=0.0)
    unit, mul, fmt = ("ms", 1e3, "{:.3f}") if span < 10 else ("s", 1.0, "{:.3f}")
    marks = [TimeMark(a.y_send if a.t_send is None else a.y_send, fmt.format((a.t_send if a.t_send is not None
                                                                              else a.t) * mul)) for a in arrows]
    for b, (i, j) in zip(bands, band_rows):
        marks.append(TimeMark(b.y_start + 0.5, fmt.format(rows[i].packet.t * mul) + "–"))
    return tuple(sorted(marks, key=lambda m: m.y)), unit


def _dropped_dirs(analysis: Analysis) -> set[str]:
    return {d.get("dir") for d in (analysis.capture.meta or {}).get("dropped") or () if isinstance(d, dict)}


def wrap_caption(caption: str, room: int) -> tuple[str, ...]:
    """The caption in lines of at most `room` characters, cut at its ` · ` joints."""
    lines: list[str] = []
    for part in caption.split(" · ") if caption else ():
        if lines and len(lines[-1]) + 3 + len(part) <= room:
            lines[-1] += " · " + part
        else:
            lines.append(part)
    return tuple(lines)


def _time_notes(time, peer, seen_at, streams, breaks) -> list[str]:
    """What a scaled ladder's heights mean: one capture knows its own end's times only."""
    if time != "scaled":
        return []
    out = []
    if peer is None:
        side = seen_at.get(id(streams[0]), (None, True))[0] if streams else None
        other = {"client": "server", "server": "client"}.get(side or "", "far")
        out.append(f"scaled time: true at the {side or 'capture point'}, the {other} end's estimated "
                   "(one-way delay = half the handshake RTT)")
    if breaks:
        out.append(f"{len(breaks)} long gap{'s' if len(breaks) != 1 else ''} cut short (break marks, "
                   "each with its length)")
    return out


def _caption_notes(analysis, streams, seen_at, numbers, frames, role_notes, collapsed) -> list[str]:
    """What the figure chose that a reader cannot see: vantage, numbering, what was left out."""
    notes = []
    meta = analysis.capture.meta or {}
    if not meta.get("capture_point") and streams:
        side, _ = seen_at.get(id(streams[0]), (None, True))
        notes.append(f"captured at the {side} (inferred from the handshake's timing)" if side
                     else "capture point unknown")
    if any(s.proto == "tcp" for s in streams):
        notes.append({"relative": "seq/ack relative to the ISNs", "absolute": "raw seq/ack",
                      "symbolic": "ISNs written J (client) and K (server)"}[numbers])
    notes += role_notes
    drawable = sum(p in ("tcp", "udp") for p in Streams.of(analysis.streams).protos)
    if len(streams) < drawable:
        which = ", ".join(f"{s.id}" if s.proto == "tcp" else f"{s.proto}:{s.id}" for s in streams)
        notes.append(f"stream {which} of {drawable} drawn; --stream N, --stream all")
    if frames:
        notes.append(f"frames {frames[0]}-{frames[1] if frames[1] < 1 << 60 else 'end'} only")
    if collapsed:
        notes.append("long runs collapsed (--full draws every segment)")
    return notes


def _caption(analysis: Analysis, peer: Analysis | None, case: str = "", notes: list[str] = ()) -> str:
    meta = analysis.capture.meta or {}
    parts = [case] if case else []
    if meta.get("scenario"):
        parts.append(f"scenario {meta['scenario']}")
    # The file's name, not the folder it was read from: a slide has no working directory.
    files = PurePath(analysis.capture.path).name + (
        f" + {PurePath(peer.capture.path).name}" if peer is not None else "")
    parts.append(files)
    point = meta.get("capture_point")
    if peer is not None:
        p2 = (peer.capture.meta or {}).get("capture_point")
        if point and p2:
            parts.append(f"captured at {point} and {p2}")
    elif point:
        parts.append(f"captured at {point}")
    redirect = meta.get("localhost") or {}  # the programs said localhost; the tracer redirected it
    if isinstance(redirect, dict) and redirect.get("client"):
        how = "resolved to" if redirect.get("via") == "name" else "redirected to"
        parts.append(f"{', '.join(map(str, redirect['client']))} {how} the server host")
    from viz.tcpgraphs import short_caption
    if short_caption(meta):  # --tcp textbook / --cc (viz.tcpgraphs)
        parts.append(short_caption(meta))
    return " · ".join(parts + list(notes))


# ---------------------------------------------------------------------------
# Lost segments and two captures


def _dropped_frames(analysis: Analysis, rows: list[_Row]) -> set[int]:
    """Frames the tracer dropped on purpose (metadata `dropped`), matched by direction and time."""
    dropped = (analysis.capture.meta or {}).get("dropped") or ()
    out: set[int] = set()
    for d in dropped:
        direction = d.get("dir")
        want_client = {"c2s": True, "s2c": False}.get(direction)
        cands = [r for r in rows if want_client is None or r.from_client == want_client]
        if d.get("ts") is not None:
            best = min(cands, key=lambda r: abs(r.packet.ts - d["ts"]), default=None)
            if best is not None and abs(best.packet.ts - d["ts"]) < 0.005:
                out.add(best.frame)
                continue
        idx = d.get("index")
        if isinstance(idx, int) and 1 <= idx <= len(cands):
            out.add(cands[idx - 1].frame)
    return out


def _match_key(p: Packet) -> tuple:
    return (p.src, p.sport, p.dst, p.dport, p.seq_raw, p.ack_raw, int(p.flags), p.len)


def _merge_peer(analysis: Analysis, peer: Analysis, rows: list[_Row]) -> list[_Row]:
    """Pair each segment with its copy in the other end's capture: send time at the sender, receive
    time at the receiver; a segment the sender's capture has and the receiver's lacks was lost."""
    point_a = (analysis.capture.meta or {}).get("capture_point")
    point_b = (peer.capture.meta or {}).get("capture_point")
    client = rows[0].stream.client
    keys: set[tuple] = {(r.packet.src, r.packet.sport, r.packet.dst, r.packet.dport) for r in rows}
    peer_by_key: dict[tuple, list[Packet]] = {}
    for p in peer.packets:
        if (p.src, p.sport, p.dst, p.dport) in keys:
            peer_by_key.setdefault(_match_key(p), []).append(p)

    def sent_by_a(p: Packet) -> bool:
        if point_a:
            h = _host_of(analysis, p.src)
            if h is not None:
                return h == point_a
        if point_b:
            h = _host_of(peer, p.src)
            if h is not None:
                return h != point_b
        return Endpoint(p.src, p.sport) == client  # assume A was captured at the client

    seen: dict[tuple, int] = {}
    out = []
    for r in rows:
        k = _match_key(r.packet)
        n = seen.get(k, 0)
        seen[k] = n + 1
        twins = peer_by_key.get(k, [])
        twin = twins[n] if n < len(twins) else None
        a_sends = sent_by_a(r.packet)
        ta = r.packet.ts
        tb = twin.ts if twin is not None else None
        r.t_send, r.t_recv = (ta, tb) if a_sends else (tb, ta)
        if twin is None and a_sends:
            r.lost = True
        out.append(r)
    t0 = min(r.t_send if r.t_send is not None else r.t_recv for r in out)
    for r in out:
        r.t_send = None if r.t_send is None else r.t_send - t0
        r.t_recv = None if r.t_recv is None else r.t_recv - t0
    return out


# ---------------------------------------------------------------------------
# Pages


def page_bounds(ladder: Ladder, rows: float) -> list[tuple[float, float]]:
    """Heights that cut the ladder into pages of at most `rows` row units, where no arrow or band
    is crossed (an arrow longer than a page gets a page of its own)."""
    if ladder.y_max - ladder.y_min <= rows:
        return [(ladder.y_min, ladder.y_max + 1e-9)]
    spans = [(a.y_send, a.y_recv) for a in ladder.arrows] + [(b.y_start, b.y_end) for b in ladder.bands]
    cuts = sorted({a.y_send for a in ladder.arrows} | {b.y_start for b in ladder.bands})
    cuts = [c for c in cuts if not any(lo < c < hi for lo, hi in spans)]
    bounds = [ladder.y_min]
    while ladder.y_max - bounds[-1] > rows:
        lo = bounds[-1]
        fit = [c for c in cuts if lo < c <= lo + rows]
        nxt = fit[-1] if fit else next((c for c in cuts if c > lo), None)
        if nxt is None:
            break
        bounds.append(nxt)
    bounds.append(ladder.y_max + 1e-9)
    return list(zip(bounds, bounds[1:]))


def page_of(ladder: Ladder, lo: float, hi: float, k: int, n: int) -> Ladder:
    """Page k (1-based) of n: what of `ladder` lies in [lo, hi) (the last page includes hi); a note
    on a cut goes with the arrow that starts there; intervals are clipped to the page."""
    last = k == n

    def inside(y: float) -> bool:
        return lo <= y < hi or (last and y == hi)

    def clipped(items):
        out = []
        for it in items:
            a, b = max(it.y_start, lo), min(it.y_end, hi)
            if a < b or (a == b and inside(a)):
                out.append(replace(it, y_start=a, y_end=b))
        return tuple(out)

    y_bottom = max([min(hi, ladder.y_max)] + [a.y_recv for a in ladder.arrows if inside(a.y_send)])
    states = []
    for s in ladder.states:
        if inside(s.y):
            states.append(replace(s, y_end=None if s.y_end is None else min(s.y_end, y_bottom)))
        elif s.y_end is not None and s.y < lo <= s.y_end:  # TIME_WAIT carries on to this page
            states.append(replace(s, y=lo, y_end=min(s.y_end, y_bottom), event="(continued)"))
    if n > 1:
        caption = f"{ladder.caption} · page {k} of {n}" if ladder.caption else f"page {k} of {n}"
    else:
        caption = ladder.caption
    return replace(
        ladder,
        arrows=tuple(a for a in ladder.arrows if inside(a.y_send)),
        states=tuple(states),
        calls=tuple(c for c in ladder.calls if inside(c.y)),
        waits=clipped(ladder.waits), timers=clipped(ladder.timers), phases=clipped(ladder.phases),
        bands=tuple(b for b in ladder.bands if inside(b.y_start)),
        breaks=tuple(b for b in ladder.breaks if inside(b.y)),
        times=tuple(t for t in ladder.times if inside(t.y)),
        y_min=lo, y_max=y_bottom, caption=caption)


def paginate(ladder: Ladder, rows: float) -> tuple[Ladder, ...]:
    """The ladder cut into pages of at most `rows` row units each, at heights no arrow or band
    crosses, so every arrow is whole on one page.  Each page keeps the lifelines (a renderer
    repeats their heads), the notes and marks in its range, and says which page it is."""
    bounds = page_bounds(ladder, rows)
    if len(bounds) == 1:
        return (ladder,)
    return tuple(page_of(ladder, lo, hi, k, len(bounds)) for k, (lo, hi) in enumerate(bounds, 1))


__all__ = ["Arrow", "Band", "CallMark", "Wait", "page_bounds", "page_of", "paginate", "wrap_caption", "Ladder", "Lifeline", "Phase", "StateMark", "TimeMark", "build_ladder",
           "escape_preview", "arrow_label", "call_text", "parse_frames", "parse_stream", "select_streams"]
