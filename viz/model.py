"""The analysis model: what every figure and export is drawn from.

Immutable values only; building them is `viz.analysis`'s job, reading them is
the renderers'.  Nothing here touches files, sockets, clocks or plotting, so a
renderer can be tested with a hand-made `Analysis`.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from collections.abc import Sequence
from typing import Any, Callable, Iterable


class Flag(enum.IntFlag):
    """TCP header flag bits (RFC 9293 §3.1, RFC 3168 for CWR/ECE)."""

    FIN = 0x01
    SYN = 0x02
    RST = 0x04
    PSH = 0x08
    ACK = 0x10
    URG = 0x20
    ECE = 0x40
    CWR = 0x80


# Header bit order, high to low: the order the JSON export lists flag names.
FLAG_ORDER = (Flag.CWR, Flag.ECE, Flag.URG, Flag.ACK, Flag.PSH, Flag.RST, Flag.SYN, Flag.FIN)


def flag_names(flags: int) -> list[str]:
    """Names of the set flags in header bit order (analysis-json note 1)."""
    return [f.name for f in FLAG_ORDER if flags & f]


def flag_label(flags: int) -> str:
    """The textbook spelling used on arrows: "SYN, ACK", "FIN, ACK", "PSH, ACK"."""
    order = (Flag.SYN, Flag.FIN, Flag.RST, Flag.PSH, Flag.URG, Flag.ACK, Flag.ECE, Flag.CWR)
    return ", ".join(f.name for f in order if flags & f) or "(none)"


class TcpState(enum.Enum):
    """RFC 9293 §3.3.2 connection states."""

    CLOSED = "CLOSED"
    LISTEN = "LISTEN"
    SYN_SENT = "SYN_SENT"
    SYN_RECEIVED = "SYN_RECEIVED"
    ESTABLISHED = "ESTABLISHED"
    FIN_WAIT_1 = "FIN_WAIT_1"
    FIN_WAIT_2 = "FIN_WAIT_2"
    CLOSE_WAIT = "CLOSE_WAIT"
    CLOSING = "CLOSING"
    LAST_ACK = "LAST_ACK"
    TIME_WAIT = "TIME_WAIT"


class Tag(enum.Enum):
    """Wireshark's tcp.analysis.* flags, spelled as in analysis-json."""

    RETRANSMISSION = "retransmission"
    FAST_RETRANSMISSION = "fast_retransmission"
    SPURIOUS_RETRANSMISSION = "spurious_retransmission"
    OUT_OF_ORDER = "out_of_order"
    DUP_ACK = "dup_ack"
    ZERO_WINDOW = "zero_window"
    ZERO_WINDOW_PROBE = "zero_window_probe"
    KEEP_ALIVE = "keep_alive"
    KEEP_ALIVE_ACK = "keep_alive_ack"
    WINDOW_UPDATE = "window_update"
    WINDOW_FULL = "window_full"
    LOST_SEGMENT = "lost_segment"
    ACK_LOST_SEGMENT = "ack_lost_segment"


@dataclass(frozen=True, slots=True)
class TcpOptions:
    """The options a lecture talks about (the SYN's, and SACK blocks on ACKs); None where absent."""

    mss: int | None = None
    wscale: int | None = None
    sack_perm: bool = False
    ts_val: int | None = None
    ts_ecr: int | None = None
    sack: tuple[tuple[int, int], ...] = ()  # SACK blocks (left, right edge), raw sequence numbers


@dataclass(frozen=True, slots=True)
class Packet:
    """One frame as the analysis sees it; field meanings follow analysis-json.

    `seq`/`ack` are relative (tshark's rule), `seq_raw`/`ack_raw` the header
    values.  `payload` keeps at most the first bytes of application data, for
    previews on arrows, not the whole segment.
    """

    frame: int
    t: float  # seconds since the first frame
    ts: float  # absolute capture time (epoch seconds), same clock as socket calls
    proto: str  # tcp | udp | icmp | icmpv6 | arp | other
    src: str | None = None
    dst: str | None = None
    sport: int | None = None
    dport: int | None = None
    stream: int | None = None
    flags: Flag = Flag(0)
    seq: int | None = None
    ack: int | None = None
    len: int | None = None
    win: int | None = None
    analysis: tuple[Tag, ...] = ()
    seq_raw: int | None = None
    ack_raw: int | None = None
    win_raw: int | None = None
    options: TcpOptions | None = None
    payload: bytes = b""
    wire_len: int = 0
    cap_len: int = 0
    interface: int = 0
    comments: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    icmp: tuple[int, int, int | None, int | None] | None = None  # type, code, header bytes 4-5 and 6-7


@dataclass(frozen=True, slots=True)
class Endpoint:
    addr: str
    port: int | None  # None: a whole host (ICMP, ARP)

    def __str__(self) -> str:
        if self.port is None:
            return self.addr
        return f"[{self.addr}]:{self.port}" if ":" in self.addr else f"{self.addr}:{self.port}"


@dataclass(frozen=True, slots=True)
class StateChange:
    """An endpoint's inferred RFC 9293 state after `frame` (sent or received)."""

    frame: int
    side: str  # "client" | "server"
    before: TcpState
    after: TcpState
    event: str  # e.g. "send SYN", "recv FIN", "recv ACK of FIN"


@dataclass(frozen=True, slots=True)
class SocketCall:
    """One socket API call recorded by the tracer, on the capture's clock.

    `frame` is the frame this call explains (e.g. connect -> the SYN), or None.  `conn` is the
    connection (proto, stream id) of the socket it was made on, once the calls are attached: every
    call on an accepted socket belongs to the connection accept() returned, even one that explains
    no frame, and a descriptor number reused after close() starts another (viz.calls).
    """

    ts: float
    t: float  # relative to the first frame (may be negative: socket() before any frame)
    host: str  # "client" | "server" | host name
    pid: int
    call: str  # socket, bind, listen, accept, connect, send, sendall, sendto, recv, ...
    phase: str = "call"  # "call" (entered, may block) | "return"
    args: str = ""
    result: str = ""
    error: str = ""
    fd: int | None = None
    new_fd: int | None = None  # accept() return: the accepted socket (absent in older records)
    frame: int | None = None
    frames: tuple[int, ...] = ()  # every frame it explains (a sendall may span several segments)
    conn: tuple[str, int] | None = None


@dataclass(frozen=True, slots=True)
class Stream:
    id: int
    proto: str  # "tcp" | "udp"
    client: Endpoint
    server: Endpoint
    frames: tuple[int, ...]
    bytes_c2s: int = 0
    bytes_s2c: int = 0
    syn_options: dict[str, TcpOptions] = field(default_factory=dict)  # "client"/"server"
    states: tuple[StateChange, ...] = ()
    first_t: float = 0.0
    last_t: float = 0.0

    @property
    def key(self) -> str:
        return f"{self.proto} {self.client} -> {self.server}"


class Streams(Sequence):
    """The streams of an analysis, a read-only sequence (compares equal to the
    tuple of its Streams): each is made (`freeze()` of the engine's builder) when
    first read and kept.  A ladder of one stream of a capture with 80,000
    short connections reads one; `find`, `ends` and `first_frame` answer what
    choosing a stream needs without making the rest.  `of` wraps Streams made
    elsewhere (a hand-made `Analysis`)."""

    __slots__ = ("_items", "_made", "_protos", "_index")

    def __init__(self, items, made: list | None = None):
        self._items = items  # builders with proto, id, freeze() (viz.streams.StreamAcc)
        self._made = made if made is not None else [None] * len(items)
        self._protos = tuple(s.proto for s in items)
        self._index: dict[tuple[str, int], int] = {}
        for i, s in enumerate(items):
            self._index.setdefault((s.proto, s.id), i)

    @classmethod
    def of(cls, streams) -> "Streams":
        if isinstance(streams, Streams):
            return streams
        streams = tuple(streams)
        return cls(streams, list(streams))

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return tuple(self[j] for j in range(*i.indices(len(self))))
        s = self._made[i]
        if s is None:
            s = self._made[i] = self._items[i].freeze()
        return s

    def __iter__(self):
        for i in range(len(self._items)):
            yield self[i]

    def __eq__(self, other) -> bool:
        if isinstance(other, (Streams, tuple, list)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None

    def __repr__(self) -> str:
        return f"Streams({len(self)} streams)"

    @property
    def protos(self) -> tuple[str, ...]:
        return self._protos

    def find(self, proto: str, sid: int) -> "Stream | None":
        i = self._index.get((proto, sid))
        return None if i is None else self[i]

    def ends(self, i: int) -> tuple[Endpoint, Endpoint]:
        """(client, server) of stream i."""
        s = self._made[i]
        if s is not None:
            return s.client, s.server
        acc = self._items[i]
        return acc.endpoint(acc.client), acc.endpoint(1 - acc.client)

    def first_frame(self, i: int) -> int:
        s = self._made[i]
        frames = s.frames if s is not None else self._items[i].frames
        return frames[0] if len(frames) else 0


@dataclass(frozen=True, slots=True)
class CaptureInfo:
    path: str
    frames: int
    link_types: tuple[str, ...]
    meta: dict[str, Any] = field(default_factory=dict)  # the tracer's synack-capture/1 metadata, {} otherwise
    truncated_at: str | None = None  # set when --partial stopped at a bad record


@dataclass(frozen=True, slots=True)
class TcpFrames:
    """A capture's TCP frames as the engine's output columns (viz.vector), no Packet made:
    what figures that read every frame of a stream (viz.tcpgraphs) draw from.

    numpy int64 arrays (`t` float64), one entry per TCP frame in frame order: `seq`/`ack`
    relative (tshark's rule), `ack` -1 without the ACK flag, `len` -1 where unknown, `win`
    scaled, `bits` the exported analysis tags (viz.tcp_analysis.TAG_NAMES), `seq_raw` the
    header's; `src` an address id, `addr_id` maps an address as Endpoint.addr writes it to
    its id.  `sack`: the SACK blocks (raw edges) of the frames that carry them."""

    capture: CaptureInfo
    streams: tuple[Stream, ...]
    t0: float  # the capture's first frame's time (epoch seconds)
    frame: Any
    t: Any
    stream: Any
    src: Any
    sport: Any
    flags: Any
    seq: Any
    seq_raw: Any
    ack: Any
    len: Any
    win: Any
    bits: Any
    addr_id: Callable[[str], int]
    sack: dict[int, tuple[tuple[int, int], ...]]


@dataclass(frozen=True, slots=True)
class Analysis:
    capture: CaptureInfo
    packets: Sequence[Packet]  # a tuple, or packets made on demand (viz.analysis.FramePackets)
    streams: Sequence[Stream]  # a tuple, or Streams made when read (viz.model.Streams)
    calls: tuple[SocketCall, ...] = ()

    def stream(self, sid: int, proto: str = "tcp") -> Stream:
        s = Streams.of(self.streams).find(proto, sid)
        if s is None:
            raise KeyError(sid)
        return s

    def packet(self, frame: int) -> Packet:
        return self.packets[frame - 1]

    def others(self) -> Iterable[Packet]:
        """The frames that are neither TCP nor UDP (ICMP, ARP, ...), in order; packets
        made on demand (viz.analysis.FramePackets) find them without making the rest."""
        others = getattr(self.packets, "others", None)
        if others is not None:
            return others()
        return (p for p in self.packets if p.proto not in ("tcp", "udp"))
