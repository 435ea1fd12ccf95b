"""Frames -> the analysis model: per-frame records, streams, states, socket calls.

`analyze()` builds the immutable `viz.model.Analysis` the figures are drawn
from; `Engine.rows()` yields one plain tuple per frame for the text export
and the tracer.  Both take their numbers from the one engine,
`viz.vector.VectorEngine`, whose columns the JSON export renders directly.

Pure: frames come in as an iterable of `RawFrame`-like tuples (number, ts,
linktype, data, wire_len, interface, comments); whoever opened the file
iterates it.  A frame the decoder cannot handle becomes proto "other" with a
note; nothing here raises for bad bytes.
"""
from __future__ import annotations

from typing import Callable, Iterable, Iterator

from viz import tcp_analysis as ta
from viz.decode import P_TCP, P_UDP, Decoded
from viz.model import Analysis, CaptureInfo, Flag, Packet, Streams, Tag, TcpFrames


# Row layout of Engine.rows(): index constants for readers.
(R_FRAME, R_TS, R_T, R_PROTO, R_SRC, R_SPORT, R_DST, R_DPORT, R_STREAM, R_FLAGS, R_SEQ,
 R_ACK, R_LEN, R_WIN, R_BITS, R_DECODED, R_RAW) = range(17)


def _default_decoder() -> Callable:
    from viz.decode import decode
    return decode


class Engine:
    """Rows of the one engine (`viz.vector.VectorEngine`); holds the streams once
    rows() is exhausted.

    `bits` in a row are the exported analysis tags (tcp_analysis bit layout,
    fast/spurious retransmissions already also marked as retransmissions).
    `batch=True` lets plain IPv4 TCP/UDP frames skip the per-frame decoder (their
    rows then carry no Decoded); the analysis is the same either way.
    """

    def __init__(self, decode: Callable | None = None, track_states: bool = True,
                 batch: bool = False):
        from viz.vector import VectorEngine
        self.batch = batch and decode is None
        self.decode = decode or _default_decoder()
        self.core = VectorEngine(track_states)

    @property
    def streams(self):
        return self.core.streams

    @property
    def n_tcp(self) -> int:
        return self.core.n_tcp

    @property
    def n_udp(self) -> int:
        return self.core.n_udp

    @property
    def frames(self) -> int:
        return self.core.frames

    @property
    def t0(self):
        return self.core.t0

    def rows(self, frames: Iterable) -> Iterator[tuple]:
        """One tuple per frame (layout R_*); `decoded` is None for frames the
        batch decoder took whole (see viz.vector.decode_chunk), a Decoded otherwise."""
        import numpy as np

        from viz.capture import FrameChunk
        from viz.vector import decode_chunk, decode_frames
        core = self.core
        A = core.addrs
        first = core.frames + 1
        for batch in _batches(frames, BATCH):
            if self.batch:
                c = decode_chunk(FrameChunk.of_frames(batch, first, np), A)
            else:
                c = decode_frames(batch, first, A, self.decode)
            o = core.analyse(c)
            dec = c.decoded
            addr = A.str
            t = o.t.tolist()
            cols = zip(c.proto.tolist(), c.src.tolist(), c.dst.tolist(), c.sport.tolist(),
                       c.dport.tolist(), c.flags.tolist(), o.stream.tolist(), o.seq.tolist(),
                       o.ack.tolist(), o.length.tolist(), o.win.tolist(), o.bits.tolist())
            for i, (raw, col) in enumerate(zip(batch, cols)):
                yield _row(first + i, raw, t[i], col, dec.get(i), addr)
            first += len(batch)
        core.finish()


def _row(n: int, raw, t: float, col: tuple, d, addr) -> tuple:
    """One engine row (layout R_*) from a frame's output columns (`col`: proto,
    src, dst, sport, dport, flags, stream, seq, ack, len, win, bits) and its Decoded."""
    p, src, dst, sport, dport, fl, sid, seq, ack, ln, win, bits = col
    if p == P_TCP:
        if d is not None and d.win_raw is None:  # a header cut short: what it lacks is None, not -1
            sport, dport = d.sport, d.dport
            seq, win = (None if d.seq_raw is None else seq), None
        return (n, raw[1], t, "tcp", addr(src), sport, addr(dst), dport, sid, fl,
                seq, None if ack < 0 else ack, None if ln < 0 else ln, win, bits, d, raw)
    if p == P_UDP:
        return (n, raw[1], t, "udp", addr(src), sport, addr(dst), dport, sid, 0,
                None, None, None if ln < 0 else ln, None, 0, d, raw)
    return (n, raw[1], t, d.proto, d.src, None, d.dst, None, None, 0, None, None,
            None, None, 0, d, raw)


BATCH = 4096


def _batches(frames: Iterable, size: int) -> Iterator[list]:
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
    return _model(info, packets, engine.streams)


def _model(info: CaptureInfo, packets, accs) -> Analysis:
    """The Analysis of a capture's Packets and the engine's streams (each frozen when
    read), with the socket calls attached."""
    streams = Streams(accs)
    calls = ()
    if info.meta.get("calls"):
        from viz.calls import attach, parse_calls
        calls = attach(packets, parse_calls(info.meta, packets[0].ts if packets else None),
                       info.meta)
    return Analysis(capture=info, packets=packets, streams=streams, calls=calls)


def analyze_on_demand(cap, *, path: str = "") -> Analysis:
    """The model of a classic pcap file whose Packets are made when asked for.

    The engine runs over every frame, chunk by chunk and vectorized, as for the
    JSON export (stream numbers, relative numbers, tags, states and the
    per-stream summaries need them all), with the reading and decoding in a
    second process (`viz.capture.forked_chunks`); only the frames a figure then
    reads (one stream's, the ICMP ones) are decoded in full from the mapped
    file and become Packets, so a ladder of one stream of a million-frame
    capture does not build a million objects.  `cap` is an open
    `viz.capture.Capture`; the Packets equal those `analyze` makes
    (tests/test_on_demand.py).  A pcapng file (its frames carry interfaces and
    comments the columns do not) or one that cannot be mapped is analysed whole."""
    from viz.capture import forked_chunks
    from viz.vector import Prepare, VectorEngine
    buf = cap._mmap() if cap.format == "pcap" else None
    if buf is None:
        return analyze(cap, path=path)
    engine = VectorEngine(True)
    parts = [_Part(c, engine.analyse(c), buf, engine.addrs.str)
             for c in forked_chunks(cap, Prepare(times=False, where=True))]
    engine.finish()
    packets = FramePackets(parts, engine.frames)
    info = capture_info(cap, engine.frames, path)
    return _model(info, packets, engine.streams)


def tcp_frames(cap, *, path: str = "") -> TcpFrames:
    """The TCP frames of a capture as the engine's columns, for the congestion and flow
    control figures (viz.tcpgraphs), which read every frame of a stream: the same
    numbers `analyze` puts on its Packets (the same engine), without a Packet, a
    general decode of every frame or the socket calls' matching, so a 100,000-segment
    transfer is read in seconds.  Frames the batch decoder does not take (SYNs,
    options other than timestamps: SACK) are decoded whole as always, which is where
    the SACK blocks come from.  `cap` is an open `viz.capture.Capture` (any format)."""
    import numpy as np

    from viz.vector import VectorEngine
    engine = VectorEngine(True)
    names = ("frame", "t", "stream", "src", "sport", "flags", "seq", "seq_raw", "ack", "len",
             "win", "bits")
    parts: dict[str, list] = {k: [] for k in names}
    sack: dict[int, tuple] = {}
    for ch in cap.chunks():
        o = engine.chunk(ch)
        c = o.c
        i = np.flatnonzero(c.proto == P_TCP)
        for k, v in zip(names, (i + c.first, o.t, o.stream, c.src, c.sport, c.flags, o.seq, c.seq,
                                o.ack, o.length, o.win, o.bits)):
            parts[k].append(v if k == "frame" else v[i])
        for j, d in c.decoded.items():
            if d.proto == "tcp" and d.options is not None and d.options.sack:
                sack[c.first + j] = d.options.sack
    engine.finish()
    cols = {k: np.concatenate(v) if v else np.zeros(0, dtype=np.float64 if k == "t" else np.int64)
            for k, v in parts.items()}
    info = capture_info(cap, engine.frames, path)
    return TcpFrames(capture=info, streams=tuple(acc.freeze() for acc in engine.streams),
                     t0=engine.t0 or 0.0, addr_id=engine.addrs.id, sack=sack, **cols)


class _Part:
    """One chunk's frames as the engine left them: where each frame's bytes
    are and its output columns (no Decoded kept: a frame is decoded again,
    by the decoder `analyze` uses, when its Packet is asked for)."""

    __slots__ = ("first", "n", "buf", "data", "caplen", "wire", "ts", "linktype", "t", "cols",
                 "proto", "addr")

    def __init__(self, c, o, buf, addr):
        self.addr = addr
        self.first = c.first
        self.n = c.n
        self.buf = buf
        self.data, self.caplen, self.wire, self.linktype = c.where
        self.ts = c.ts
        self.t = o.t
        self.proto = c.proto
        self.cols = (c.proto, c.src, c.dst, c.sport, c.dport, c.flags, o.stream, o.seq, o.ack,
                     o.length, o.win, o.bits)

    def packet(self, i: int) -> Packet:
        from viz.capture import RawFrame
        from viz.vector import decode_safe
        o = int(self.data[i])
        data = bytes(self.buf[o:o + int(self.caplen[i])])
        lt, wire = int(self.linktype[i]), int(self.wire[i])
        raw = RawFrame(self.first + i, float(self.ts[i]), lt, data, wire, 0, ())
        return packet_of(_row(self.first + i, raw, float(self.t[i]),
                              tuple(int(a[i]) for a in self.cols), decode_safe(lt, data, wire),
                              self.addr))


class FramePackets:
    """The Packets of an on-demand analysis, a read-only sequence indexed as
    `Analysis.packets` is (frame N at N - 1); each is made when first read by
    index and kept, iteration makes them without keeping them."""

    def __init__(self, parts: list, n: int):
        self._parts = parts
        self._starts = [p.first - 1 for p in parts]
        self._n = n
        self._kept: dict[int, Packet] = {}

    def __len__(self) -> int:
        return self._n

    def __bool__(self) -> bool:
        return self._n > 0

    def _make(self, i: int) -> Packet:
        import bisect
        k = bisect.bisect_right(self._starts, i) - 1
        part = self._parts[k]
        return part.packet(i - self._starts[k])

    def __getitem__(self, i):
        if isinstance(i, slice):
            return tuple(self[j] for j in range(*i.indices(self._n)))
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError("packet index out of range")
        p = self._kept.get(i)
        if p is None:
            p = self._kept[i] = self._make(i)
        return p

    def __iter__(self):
        kept = self._kept
        for part, start in zip(self._parts, self._starts):
            for j in range(part.n):
                p = kept.get(start + j)
                yield p if p is not None else part.packet(j)

    def others(self):
        """The frames that are neither TCP nor UDP, found from the columns."""
        from viz.decode import P_OTHER
        for part, start in zip(self._parts, self._starts):
            for j in (part.proto == P_OTHER).nonzero()[0].tolist():
                yield self[start + j]


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
