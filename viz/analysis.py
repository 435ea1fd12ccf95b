"""Frames -> the analysis model: per-frame records, streams, states, socket calls.

One engine serves two consumers.  `analyze()` builds the immutable
`viz.model.Analysis` the figures are drawn from; `Engine.rows()` yields one
plain tuple per frame so the JSON export of a million-frame capture can be
written while it is read, without a `Packet` per frame (see viz.export).
Both see exactly the same numbers because both come from `Engine.rows()`.

Pure: frames come in as an iterable of `RawFrame`-like tuples (number, ts,
linktype, data, wire_len, interface, comments); whoever opened the file
iterates it.  A frame the decoder cannot handle becomes proto "other" with a
note; nothing here raises for bad bytes.
"""
from __future__ import annotations

from typing import Callable, Iterable, Iterator

from viz import tcp_analysis as ta
from viz.decode import Decoded
from viz.model import Analysis, CaptureInfo, Flag, Packet, Tag
from viz.states import StateTracker
from viz.streams import StreamAcc

RETRANS_ANY = ta.RETRANSMISSION | ta.FAST_RETRANSMISSION | ta.SPURIOUS_RETRANSMISSION

# Row layout of Engine.rows(): index constants for readers.
(R_FRAME, R_TS, R_T, R_PROTO, R_SRC, R_SPORT, R_DST, R_DPORT, R_STREAM, R_FLAGS, R_SEQ,
 R_ACK, R_LEN, R_WIN, R_BITS, R_DECODED, R_RAW) = range(17)


def _default_decoder() -> Callable:
    from viz.decode import decode
    return decode


class Engine:
    """Runs the per-frame analysis; holds the streams once rows() is exhausted.

    `bits` in a row are the exported analysis tags (tcp_analysis bit layout,
    fast/spurious retransmissions already also marked as retransmissions).
    """

    def __init__(self, decode: Callable | None = None, track_states: bool = True,
                 batch: bool = False):
        self.batch = batch and decode is None
        self.decode = decode or _default_decoder()
        self.track_states = track_states
        self.streams: list[StreamAcc] = []
        self.n_tcp = 0
        self.n_udp = 0
        self.frames = 0
        self.t0: float | None = None
        self.tcp = ta.TcpAnalyzer(self._new_tcp)
        self._udp: dict[tuple, StreamAcc] = {}
        self._pending: tuple | None = None

    def _new_tcp(self, conv: ta.Conversation) -> None:
        ts, t = self._pending
        acc = StreamAcc(self.n_tcp, "tcp", len(self.streams), conv.src, conv.sport,
                        conv.dst, conv.dport, t)
        self.n_tcp += 1
        acc.conv = conv
        if self.track_states:
            acc.tracker = StateTracker()
        conv.index = len(self.streams)
        self.streams.append(acc)

    def rows(self, frames: Iterable) -> Iterator[tuple]:
        """One tuple per frame (layout R_*); `decoded` is None for frames the
        batch fast path decoded (see viz.fastpath), a Decoded otherwise."""
        decode = self.decode
        feed = self.tcp.feed
        res = ta.TcpResult()
        streams = self.streams
        udp = self._udp
        export_bits = ta.export_bits
        SYN, ACK = ta.SYN, ta.ACK
        t0 = self.t0
        n = self.frames
        batch_decode = _batch_decoder() if self.batch else None
        for batch in _batches(frames, BATCH if batch_decode else 1):
            if batch_decode is not None:
                ok, (c_proto, c_src, c_dst, c_sport, c_dport, c_flags, c_seq, c_ack, c_win,
                     c_len) = batch_decode(batch)
            else:
                ok = None
            i = -1
            for raw in batch:
                i += 1
                n += 1
                ts = raw[1]
                if t0 is None:
                    t0 = self.t0 = ts
                t = ts - t0
                if ok is not None and ok[i]:
                    d = None
                    src, dst, sport, dport = c_src[i], c_dst[i], c_sport[i], c_dport[i]
                    if c_proto[i] == 6:
                        proto = "tcp"
                        flags, seq, ack, win, length = (c_flags[i], c_seq[i], c_ack[i],
                                                        c_win[i], c_len[i])
                        analyse, opts = True, None
                    else:
                        proto = "udp"
                        length = c_len[i]
                else:
                    try:
                        d = decode(raw[2], raw[3], raw[4])
                    except Exception as exc:  # a decoder bug must not lose the rest of the file
                        d = Decoded("other")
                        d.notes = (f"could not decode: {type(exc).__name__}: {exc}",)
                    proto = d.proto
                    if proto == "tcp":
                        src, sport, dst, dport, flags = d.src, d.sport, d.dst, d.dport, d.flags
                        seq, ack, win, length = d.seq_raw, d.ack_raw, d.win_raw, d.tcp_len
                        analyse, opts = d.seq_analysis, d.options
                    elif proto == "udp":
                        src, sport, dst, dport, length = d.src, d.sport, d.dst, d.dport, d.udp_len
                if proto == "tcp":
                    self._pending = (ts, t)
                    feed(ts, src, sport, dst, dport, flags, seq, ack, win, length, analyse,
                         opts.wscale if opts is not None else None, res)
                    acc = streams[res.conv.index]
                    ep = 0 if res.forward else 1
                    bits = export_bits(res.bits) if res.bits else 0
                    if flags & (SYN | ACK) == SYN and not acc.saw_syn:
                        acc.saw_syn = True
                        acc.client = ep
                    if flags & SYN and opts is not None and acc.options[ep] is None:
                        acc.options[ep] = opts
                    length = res.len
                    if length:
                        acc.bytes[ep] += length
                    if bits & RETRANS_ANY:
                        acc.retrans += 1
                    acc.frames.append(n)
                    acc.last_t = t
                    tr = acc.tracker
                    if tr is not None and not (tr.quiet and not flags & 0x07):
                        tr.feed(n, ep, flags, seq, ack, length)
                    yield (n, ts, t, proto, src, sport, dst, dport, acc.id, flags, res.seq,
                           res.ack, length, res.win, bits, d, raw)
                elif proto == "udp":
                    key = (src, sport, dst, dport)
                    acc = udp.get(key)
                    if acc is None:
                        acc = StreamAcc(self.n_udp, "udp", len(streams), src, sport, dst, dport, t)
                        self.n_udp += 1
                        streams.append(acc)
                        udp[key] = acc
                        udp[(dst, dport, src, sport)] = acc
                    if length:
                        acc.bytes[0 if (src == acc.addr[0] and sport == acc.port[0]) else 1] += length
                    acc.frames.append(n)
                    acc.last_t = t
                    yield (n, ts, t, proto, src, sport, dst, dport, acc.id, 0, None, None, length,
                           None, 0, d, raw)
                else:
                    yield (n, ts, t, proto, d.src, None, d.dst, None, None, 0, None, None, None,
                           None, 0, d, raw)
        self.frames = n


BATCH = 4096


def _batches(frames: Iterable, size: int) -> Iterator[list]:
    if size == 1:
        for raw in frames:
            yield (raw,)
        return
    batch: list = []
    add = batch.append
    for raw in frames:
        add(raw)
        if len(batch) >= size:
            yield batch
            batch = []
            add = batch.append
    if batch:
        yield batch


def _batch_decoder():
    try:
        from viz.fastpath import decode_batch
    except ImportError:  # numpy missing: every frame takes the general decoder
        return None
    return decode_batch


_FLAG_CACHE: dict[int, Flag] = {}
_TAG_CACHE: dict[int, tuple[Tag, ...]] = {}


def flag_of(bits: int) -> Flag:
    f = _FLAG_CACHE.get(bits)
    if f is None:
        f = _FLAG_CACHE[bits] = Flag(bits & 0xFF)
    return f


def tags_of(bits: int) -> tuple[Tag, ...]:
    tags = _TAG_CACHE.get(bits)
    if tags is None:
        tags = _TAG_CACHE[bits] = tuple(Tag(name) for name in ta.tag_names(bits))
    return tags


def packet_of(row: tuple) -> Packet:
    """The model's Packet for one engine row."""
    d = row[R_DECODED]
    raw = row[R_RAW]
    proto = row[R_PROTO]
    is_tcp = proto == "tcp"
    return Packet(
        frame=row[R_FRAME], t=row[R_T], ts=row[R_TS], proto=proto,
        src=_text(row[R_SRC]), dst=_text(row[R_DST]), sport=row[R_SPORT], dport=row[R_DPORT],
        stream=row[R_STREAM], flags=flag_of(row[R_FLAGS]), seq=row[R_SEQ], ack=row[R_ACK],
        len=row[R_LEN], win=row[R_WIN], analysis=tags_of(row[R_BITS]),
        seq_raw=d.seq_raw if is_tcp else None, ack_raw=d.ack_raw if is_tcp else None,
        win_raw=d.win_raw if is_tcp else None, options=d.options if is_tcp else None,
        payload=d.payload or b"", wire_len=raw[4],
        cap_len=len(raw[3]) if isinstance(raw[3], (bytes, bytearray, memoryview)) else 0,
        interface=raw[5] if len(raw) > 5 else 0,
        comments=tuple(raw[6]) if len(raw) > 6 and raw[6] else (),
        notes=tuple(d.notes) if d.notes else (),
        icmp=d.icmp if d is not None and proto[:4] == "icmp" else None,
    )


def _text(addr):
    return None if addr is None else str(addr)


def analyze(frames: Iterable, *, path: str = "", link_types: Iterable[str] | None = None,
            meta: dict | None = None, truncated_at: str | None = None,
            decode: Callable | None = None) -> Analysis:
    """The whole model of a capture.

    `frames` may be a `viz.capture.Capture`; its link_types, meta and
    truncated_at are then read after iteration (pcapng interface blocks can
    come late) unless given explicitly.
    """
    engine = Engine(decode)
    packets = tuple(packet_of(row) for row in engine.rows(frames))
    info = capture_info(frames, engine.frames, path, link_types, meta, truncated_at)
    streams = tuple(acc.freeze() for acc in engine.streams)
    calls = ()
    if info.meta.get("calls"):
        from viz.calls import attach, parse_calls
        calls = attach(packets, parse_calls(info.meta, packets[0].ts if packets else None),
                       info.meta)
    return Analysis(capture=info, packets=packets, streams=streams, calls=calls)


def capture_info(frames, count: int, path: str = "", link_types=None, meta=None,
                 truncated_at=None) -> CaptureInfo:
    if link_types is None:
        link_types = getattr(frames, "link_types", ()) or ()
    if meta is None:
        meta = getattr(frames, "meta", None) or {}
    if truncated_at is None:
        truncated_at = getattr(frames, "truncated_at", None)
    if not path:
        path = getattr(frames, "path", "") or ""
    return CaptureInfo(path=str(path), frames=count, link_types=tuple(link_types),
                       meta=dict(meta), truncated_at=truncated_at)
