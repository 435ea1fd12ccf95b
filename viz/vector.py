"""The one analysis engine: chunks of frames in, per-frame columns and streams out.

Every consumer goes through `VectorEngine.analyse`: the JSON export renders its
columns directly, `viz.analysis.Engine` turns them into rows and the figures'
`Packet`s, the text export into lines.  A chunk is decoded into numpy columns
(`decode_chunk`: vectorized for plain IPv4 TCP/UDP, `viz.decode.decode` for
the rest), the TCP rules (`viz.tcp_analysis.run_tcp`, Wireshark's, on every
frame) run once over its TCP frames with every conversation's state in
arrays, compiled by numba for large captures, and the per-stream summaries
(frames, bytes, retransmissions, SYN options, RFC 9293 states) are
accumulated from the output columns.

The JSON lines of ordinary TCP frames are assembled as a byte matrix
(digits by vectorized division, per-stream constant parts from a table)
instead of one `%` per frame.

Pure: chunks of frames in, strings out.
"""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from viz import tcp_analysis as ta
from viz.decode import P_OTHER, P_TCP, P_UDP, Decoded
from viz.decode import decode as decode_one
from viz.model import TcpOptions
from viz.states import Changes
from viz.streams import StreamAcc

MASK = 0xFFFFFFFF
HALF = 0x80000000
SYN, ACK, FIN, RST = ta.SYN, ta.ACK, ta.FIN, ta.RST
I64 = np.int64


def _ipv4_value(s: str) -> int | None:
    """The 32-bit value of a dotted-quad IPv4 address as the decoder writes it, else None."""
    parts = s.split(".")
    if len(parts) != 4 or not all(p.isdigit() and p.isascii() and len(p) <= 3 for p in parts):
        return None
    v = 0
    for p in parts:
        b = int(p)
        if b > 255:
            return None
        v = v << 8 | b
    return v


class _Addrs:
    """Address strings <-> integer ids: IPv4 as its 32-bit value, anything else above 2**32."""

    def __init__(self):
        self.ids: dict[str, int] = {}
        self.strs: list[str] = []
        self.v4: dict[int, str] = {}

    def id(self, s: str) -> int:
        i = self.ids.get(s)
        if i is None:
            if ":" not in s:
                i = _ipv4_value(s)
            if i is None:
                i = (1 << 32) + len(self.strs)
                self.strs.append(s)
            self.ids[s] = i
        return i

    def str(self, i: int) -> str:
        if i >= 1 << 32:
            return self.strs[i - (1 << 32)]
        s = self.v4.get(i)
        if s is None:
            s = self.v4[i] = "%d.%d.%d.%d" % (i >> 24, (i >> 16) & 255, (i >> 8) & 255, i & 255)
        return s


def _u16(u8, i):
    return (np.take(u8, i, mode="clip").astype(I64) << 8) | np.take(u8, i + 1, mode="clip")


def _u32(u8, i):
    return (_u16(u8, i) << 16) | _u16(u8, i + 2)


class Cols:
    """Per-frame columns of one chunk (int64 numpy arrays; -1 where a value is absent)."""

    __slots__ = ("n", "proto", "src", "dst", "sport", "dport", "flags", "seq", "ack", "win",
                 "length", "analyse", "wscale", "decoded", "first", "ts", "addr_new", "layout",
                 "times", "where")


def decode_chunk(ch, addrs: _Addrs) -> Cols:
    """Columns of a FrameChunk: vectorized for plain IPv4 TCP/UDP frames, `viz.decode.decode`
    for the rest.  The only restatement of the decoder's rules: the subset of the
    walk these frames take, kept to what the walk decodes without a note
    (tests/test_fuzz_reader.py checks each frame this takes whole against it)."""
    n = ch.n
    u8 = np.frombuffer(ch.buf, dtype=np.uint8)
    if not u8.size:  # only empty frames: np.take cannot clip into nothing
        u8 = np.zeros(1, dtype=np.uint8)
    off = ch.data
    cap = ch.caplen
    wire = ch.wire
    lt = ch.linktype

    L = np.full(n, -1, dtype=I64)
    eth = lt == 1
    if eth.any():
        et = _u16(u8, off + 12)
        L[eth & (et == 0x0800)] = 14
        L[eth & (et == 0x8100) & (_u16(u8, off + 16) == 0x0800)] = 18
    m = lt == 113
    if m.any():
        L[m & (_u16(u8, off + 14) == 0x0800) & (_u16(u8, off + 2) != 0x030A)] = 16
    m = lt == 276
    if m.any():
        L[m & (_u16(u8, off) == 0x0800) & (_u16(u8, off + 8) != 0x030A)] = 20
    m = (lt == 101) | (lt == 228) | (lt == 12) | (lt == 14)
    L[m] = 0
    m = (lt == 0) | (lt == 108)
    if m.any():
        w = _u32(u8, off)
        L[((lt == 0) & ((w == 0x02000000) | (w == 2))) | ((lt == 108) & (w == 2))] = 4
    ok = (L >= 0) & (cap >= L + 28) & (cap >= 28)
    ip = off + np.maximum(L, 0)
    ok &= np.take(u8, ip, mode="clip") == 0x45
    proto = np.take(u8, ip + 9, mode="clip").astype(I64)
    tot = _u16(u8, ip + 2)
    frag = _u16(u8, ip + 6)
    ok &= (frag & 0x3FFF) == 0
    cap_end = L + tot
    ok &= ~((cap_end > cap) & (cap_end > wire))
    cap_end = np.minimum(cap_end, cap)
    tp = ip + 20
    is_tcp = proto == 6
    is_udp = proto == 17
    doff = (np.take(u8, tp + 12, mode="clip").astype(I64) >> 4) << 2
    flags = np.take(u8, tp + 13, mode="clip").astype(I64)
    tcp_ok = is_tcp & (cap >= L + 40) & (doff >= 20) & (doff <= tot - 20) & ((flags & SYN) == 0)
    # The option field Linux sends after the handshake: NOP NOP TS.  Segments with SACK blocks
    # are decoded whole, so their blocks reach the figures that draw them (tcp_frames' tsg).
    ts = (L + 20 + doff <= cap_end) & (_u32(u8, tp + 20) == 0x0101080A)
    tcp_ok &= (doff == 20) | (ts & (doff == 32))
    ulen = _u16(u8, tp + 4)
    udp_ok = is_udp & (ulen >= 8) & (ulen <= tot - 20)
    ok &= tcp_ok | udp_ok

    c = Cols()
    c.n = n
    c.first = ch.first
    c.ts = ch.ts
    c.layout = None
    c.times = None
    strs0 = len(addrs.strs)
    c.proto = np.where(ok, np.where(is_tcp, P_TCP, P_UDP), P_OTHER)
    c.src = _u32(u8, ip + 12)
    c.dst = _u32(u8, ip + 16)
    c.sport = _u16(u8, tp)
    c.dport = _u16(u8, tp + 2)
    c.flags = np.where(is_tcp, flags, 0)
    c.seq = _u32(u8, tp + 4)
    c.ack = _u32(u8, tp + 8)
    c.win = _u16(u8, tp + 14)
    c.length = np.where(is_tcp, tot - 20 - doff, ulen - 8)
    c.analyse = np.ones(n, dtype=bool)
    c.wscale = np.full(n, -1, dtype=I64)
    c.decoded = {}
    for i in np.flatnonzero(~ok).tolist():
        _fill(c, i, decode_safe(int(lt[i]), ch.frame_bytes(i), int(wire[i])), addrs)
    c.addr_new = addrs.strs[strs0:]
    return c



def decode_safe(linktype: int, data: bytes, wire_len: int, decode: Callable = decode_one) -> Decoded:
    """`decode`, with a decoder bug turned into a note: it must not lose the rest of the file."""
    try:
        return decode(linktype, data, wire_len)
    except Exception as exc:
        d = Decoded("other")
        d.notes = (f"could not decode: {type(exc).__name__}: {exc}",)
        return d


def _fill(c: Cols, i: int, d: Decoded, addrs: _Addrs) -> None:
    """Row i of the columns from a general decode."""
    c.decoded[i] = d
    p = d.proto
    if p == "tcp":
        c.proto[i] = P_TCP
        c.src[i] = addrs.id(d.src)
        c.dst[i] = addrs.id(d.dst)
        c.sport[i] = -1 if d.sport is None else d.sport  # a header cut short by the snap length
        c.dport[i] = -1 if d.dport is None else d.dport
        c.flags[i] = d.flags
        c.seq[i] = -1 if d.seq_raw is None else d.seq_raw
        c.ack[i] = -1 if d.ack_raw is None else d.ack_raw
        c.win[i] = -1 if d.win_raw is None else d.win_raw
        c.length[i] = -1 if d.tcp_len is None else d.tcp_len
        c.analyse[i] = d.seq_analysis
        if d.options is not None and d.options.wscale is not None:
            c.wscale[i] = d.options.wscale
    elif p == "udp":
        c.proto[i] = P_UDP
        c.src[i] = addrs.id(d.src)
        c.dst[i] = addrs.id(d.dst)
        c.sport[i] = -1 if d.sport is None else d.sport  # a header cut short by the snap length
        c.dport[i] = -1 if d.dport is None else d.dport
        c.flags[i] = 0
        c.length[i] = -1 if d.udp_len is None else d.udp_len
    else:
        c.proto[i] = P_OTHER


def decode_frames(frames: list, first: int, addrs: _Addrs, decode: Callable) -> Cols:
    """Columns of RawFrame-like tuples, every frame through `decode` (the figures
    need each frame's Decoded: options, payload, raw numbers)."""
    n = len(frames)
    c = Cols()
    c.n = n
    c.first = first
    c.ts = np.array([r[1] for r in frames], dtype=np.float64)
    c.layout = None
    c.times = None
    strs0 = len(addrs.strs)
    for name in ("proto", "src", "dst", "sport", "dport", "flags", "seq", "ack", "win", "length"):
        setattr(c, name, np.zeros(n, dtype=I64))
    c.analyse = np.ones(n, dtype=bool)
    c.wscale = np.full(n, -1, dtype=I64)
    c.decoded = {}
    for i, raw in enumerate(frames):
        _fill(c, i, decode_safe(raw[2], raw[3], raw[4], decode), addrs)
    c.addr_new = addrs.strs[strs0:]
    return c

class _Keys:
    """Unique (lo, hi) end pairs, indexable like a structured array's fields."""

    def __init__(self, a, b):
        self.f = {"a": a, "b": b}

    def __getitem__(self, k):
        return self.f[k]

    def __len__(self):
        return len(self.f["a"])


def _pairs(lo, hi):
    """Unique (lo, hi) pairs in sorted order and each row's index into them."""
    ends, einv = np.unique(np.concatenate([lo, hi]), return_inverse=True)
    einv = einv.reshape(-1)
    m = len(lo)
    key = einv[:m] * len(ends) + einv[m:]
    uk, inv = np.unique(key, return_inverse=True)
    inv = inv.reshape(-1)
    return _Keys(ends[uk // len(ends)], ends[uk % len(ends)]), inv



class VectorEngine:
    """Runs the analysis over decoded chunks; holds the streams when done.

    `streams` lists TCP and UDP streams in order of first appearance; TCP
    stream ids are the rule book's conversation numbers.
    """

    def __init__(self, track_states: bool = True):
        self.addrs = _Addrs()
        self.table = ta.TcpTable(track_states)
        self.track_states = track_states
        self.streams: list[StreamAcc] = []
        self.n_tcp = 0
        self.n_udp = 0
        self.frames = 0
        self.t0: float | None = None
        self._udp: dict[tuple, StreamAcc] = {}
        self._tcp_accs: list[StreamAcc] = []
        self._tcp_frames: list = []  # (conversation, frame number) columns of each chunk
        self._finished = False

    def chunk(self, ch) -> "Out":
        """Analyse one FrameChunk; returns its output columns (see Out)."""
        return self.analyse(decode_chunk(ch, self.addrs))

    def analyse(self, c: "Cols") -> "Out":
        """Analyse the decoded columns of one chunk (from `decode_chunk`, maybe made
        in another process with its own `_Addrs`: the addresses it numbered are
        numbered here in the same order)."""
        for s in c.addr_new:
            self.addrs.id(s)
        n = c.n
        if self.t0 is None and n:
            self.t0 = float(c.ts[0])
        t = c.ts - self.t0 if n else c.ts
        o = Out(c, c, t)
        new: list = []
        tcp_idx = np.flatnonzero(c.proto == P_TCP)
        udp_idx = np.flatnonzero(c.proto == P_UDP)
        if len(tcp_idx):
            self._tcp_rules(c, o, tcp_idx, t, new)
        if len(udp_idx):
            udp = self._udp_streams(c, udp_idx, new)
        new.sort(key=lambda x: x[0])
        for j, kind, arg in new:  # streams numbered in order of their first frame
            self._new_stream(c, j, kind, arg, float(t[j]))
        if len(tcp_idx):
            self._syn_options(c, o, tcp_idx)
        if len(udp_idx):
            self._udp_finish(c, o, udp_idx, t, *udp)
        self.frames = c.first + n - 1
        return o

    def _new_stream(self, c, j, kind, arg, t):
        A = self.addrs
        src, dst = A.str(int(c.src[j])), A.str(int(c.dst[j]))
        sport, dport = int(c.sport[j]), int(c.dport[j])
        if kind == P_TCP:
            acc = StreamAcc(self.n_tcp, "tcp", len(self.streams), src, sport, dst, dport, t)
            self.n_tcp += 1
            self._tcp_accs.append(acc)
        else:
            acc = StreamAcc(self.n_udp, "udp", len(self.streams), src, sport, dst, dport, t)
            self.n_udp += 1
            self._udp[arg] = acc
        self.streams.append(acc)

    def finish(self) -> None:
        """The TCP streams' summaries from the rule book's arrays (once, after the last chunk)."""
        if self._finished:
            return
        self._finished = True
        tab = self.table
        n = tab.count
        if self._tcp_frames:
            conv = np.concatenate([x[0] for x in self._tcp_frames])
            frames = np.concatenate([x[1] for x in self._tcp_frames])
            self._tcp_frames = []
            order = np.argsort(conv, kind="stable")
            frames = frames[order]
            bounds = np.searchsorted(conv[order], np.arange(n + 1))
        else:
            frames, bounds = np.zeros(0, dtype=I64), np.zeros(n + 1, dtype=I64)
        self.tcp_frames = (frames, bounds)  # every TCP stream's frames, for the JSON export
        fl, bl = frames.tolist(), bounds.tolist()
        CS = tab.CS[:n * ta.NCS].reshape(n, ta.NCS).tolist()
        last = tab.CT[ta.LAST_T:n * ta.NCT:ta.NCT].tolist()
        if self.track_states:
            self.changes = ch, cb = tab.finish()
            cb = cb.tolist()
        for c, acc in enumerate(self._tcp_accs):
            acc.frames = fl[bl[c]:bl[c + 1]]
            b0, b1, retrans, saw, client = CS[c]
            acc.bytes = [b0, b1]
            acc.retrans = retrans
            acc.saw_syn = bool(saw)
            acc.client = client
            acc.last_t = last[c]
            if self.track_states:
                acc.tracker = Changes(ch, cb[c], cb[c + 1])

    # -- TCP ------------------------------------------------------------------
    def _tcp_rules(self, c, o, idx, t, new):
        es = (c.src[idx] << 16) | c.sport[idx]
        ed = (c.dst[idx] << 16) | c.dport[idx]
        uk, inv = _pairs(np.minimum(es, ed), np.maximum(es, ed))
        keys = np.array(self.table.keys(uk["a"].tolist(), uk["b"].tolist()), dtype=I64)
        c0 = self.table.count
        frame_no = idx + c.first
        conv, fwd, seq, ack, ln, win, bits = self.table.run(
            keys[inv], (es > ed).astype(I64), c.ts[idx], c.flags[idx], c.seq[idx], c.ack[idx],
            c.win[idx], c.length[idx], c.analyse[idx], c.wscale[idx], frame_no, t[idx])
        c1 = self.table.count
        for v, p in enumerate(self.table.cfirst[c0:c1].tolist(), c0):
            new.append((int(idx[p]), P_TCP, v))
        self._tcp_frames.append((conv, frame_no))
        o.stream[idx] = conv
        o.seq[idx] = seq
        o.ack[idx] = ack
        o.length[idx] = ln
        o.win[idx] = win
        o.bits[idx] = bits
        o.ep[idx] = 1 - fwd

    def _syn_options(self, c, o, idx):
        """Each side's SYN options: from the first SYN it sent that carries them."""
        dec = c.decoded
        syn = idx[(c.flags[idx] & SYN) != 0]
        accs = self._tcp_accs
        for j, sid, e in zip(syn.tolist(), o.stream[syn].tolist(), o.ep[syn].tolist()):
            d = dec.get(j)
            if d is None or accs[sid].options[e] is not None:
                continue
            if isinstance(d, tuple):  # from Prepare
                accs[sid].options[e] = TcpOptions(*d)
            elif d.options is not None:
                accs[sid].options[e] = d.options

    # -- UDP ------------------------------------------------------------------
    def _udp_streams(self, c, idx, new):
        es = (c.src[idx] << 16) | c.sport[idx]
        ed = (c.dst[idx] << 16) | c.dport[idx]
        uk, inv = _pairs(np.minimum(es, ed), np.maximum(es, ed))
        first = np.full(len(uk), len(inv), dtype=I64)
        np.minimum.at(first, inv, np.arange(len(inv)))
        A = self.addrs
        keys = []
        for g, (lo, hi) in enumerate(zip(uk["a"].tolist(), uk["b"].tolist())):
            key = (A.str(lo >> 16), lo & 0xFFFF, A.str(hi >> 16), hi & 0xFFFF)
            keys.append(key)
            if key not in self._udp:
                new.append((int(idx[first[g]]), P_UDP, key))
        return inv, keys, es

    def _udp_finish(self, c, o, idx, t, inv, keys, es):
        accs = [self._udp[k] for k in keys]
        A = self.addrs
        o.stream[idx] = np.array([a.id for a in accs], dtype=I64)[inv]
        # endpoint 0 of each stream, as an "end" (address id << 16 | port)
        e0 = np.array([(A.id(str(a.addr[0])) << 16) | a.port[0] for a in accs], dtype=I64)
        ep = (es != e0[inv]).astype(I64)
        _bulk_streams(accs, inv, ep, c.length[idx], c, idx, t, o)


class Out:
    """Output columns of a chunk: stream id, relative seq/ack, length, scaled window, tags."""

    __slots__ = ("c", "ch", "t", "stream", "seq", "ack", "length", "win", "bits", "ep")

    def __init__(self, c: Cols, ch, t):
        n = c.n
        self.c = c
        self.ch = ch
        self.t = t
        self.stream = np.full(n, -1, dtype=I64)
        self.seq = c.seq.copy()
        self.ack = np.where((c.flags & ACK) != 0, c.ack, -1)
        self.length = c.length.copy()
        self.win = c.win.copy()
        self.bits = np.zeros(n, dtype=I64)
        self.ep = np.zeros(n, dtype=I64)


def _bulk_streams(accs, inv, ep, ln, c, idx, t, o):
    """frames, bytes each way and last time of each stream, for a set of frames."""
    ng = len(accs)
    order = np.argsort(inv, kind="stable")
    bounds = np.searchsorted(inv[order], np.arange(ng + 1))
    frames = (idx[order] + o.ch.first).tolist()
    pos_len = np.where(ln > 0, ln, 0)
    b0 = np.bincount(inv, weights=np.where(ep == 0, pos_len, 0), minlength=ng)
    b1 = np.bincount(inv, weights=np.where(ep == 1, pos_len, 0), minlength=ng)
    last = idx[order][np.maximum(bounds[1:] - 1, 0)]
    tl = t[last].tolist()
    b0 = b0.tolist()
    b1 = b1.tolist()
    bl = bounds.tolist()
    for g in range(ng):
        s, e = bl[g], bl[g + 1]
        if s == e:
            continue
        acc = accs[g]
        acc.frames.extend(frames[s:e])
        acc.bytes[0] += int(b0[g])
        acc.bytes[1] += int(b1[g])
        acc.last_t = tl[g]



def _slim(decoded: dict) -> dict:
    """What the export needs of the general decoder's frames (sent between processes):
    notes and the addresses of frames that are neither TCP nor UDP, and SYN options
    (as plain tuples: a dataclass costs a Python call to unpickle)."""
    out = {}
    for i, d in decoded.items():
        if d.notes or d.proto not in ("tcp", "udp"):
            e = Decoded(d.proto)
            e.src, e.dst, e.notes, e.options, e.flags = d.src, d.dst, d.notes, d.options, d.flags
            out[i] = e
        elif d.flags & SYN and d.options is not None:
            o = d.options
            out[i] = (o.mss, o.wscale, o.sack_perm, o.ts_val, o.ts_ecr)
    return out


class Prepare:
    """`decode_chunk` plus the times' digits (relative to the first frame, as
    `VectorEngine` takes them).  Called chunk by chunk, in order, in the
    reading process.  `where`: the columns also say where each frame's bytes
    are in the file (`c.where`: offsets, captured and wire lengths, link
    types), for packets made later from the file (viz.analysis.analyze_on_demand)."""

    def __init__(self, times: bool = True, where: bool = False):
        self.addrs = _Addrs()
        self.t0: float | None = None
        self.times = times
        self.where = where

    def __call__(self, ch) -> Cols:
        c = decode_chunk(ch, self.addrs)
        c.decoded = _slim(c.decoded)
        if self.t0 is None and c.n:
            self.t0 = float(c.ts[0])
        if c.n and self.times:
            c.times = _time_parts(c.ts - self.t0)
        if self.where:
            c.where = (ch.data, ch.caplen, ch.wire, ch.linktype)
        return c


# -- JSON ------------------------------------------------------------------------

TCP_FMT = (',\n    {"frame": %d, "t": %.9f, "proto": "tcp", "src": "%s", "sport": %s, '
           '"dst": "%s", "dport": %s, "stream": %d, "flags": %s, "seq": %s, "ack": %s, '
           '"len": %s, "win": %s, "analysis": %s')
UDP_FMT = (',\n    {"frame": %d, "t": %.9f, "proto": "udp", "src": "%s", "sport": %s, '
           '"dst": "%s", "dport": %s, "stream": %d, "flags": [], "seq": null, "ack": null, '
           '"len": %s, "win": null, "analysis": []')
OTHER_FMT = (',\n    {"frame": %d, "t": %.9f, "proto": "%s", "src": %s, "sport": null, '
             '"dst": %s, "dport": null, "stream": null, "flags": [], "seq": null, '
             '"ack": null, "len": null, "win": null, "analysis": []')


def _width(v) -> int:
    return len(str(int(v.max()))) if len(v) else 1


class _Rows:
    """A byte matrix with one row per output line and a validity mask.

    Constant text is written once into a template row that is broadcast;
    numbers are right-aligned digit columns computed by repeated division,
    a column being valid while the remaining quotient is non-zero; table
    pieces (text per stream) are left-aligned.  Only columns that can be
    invalid get a mask column, so the text is one boolean compress of the
    matrix: no per-row Python.  The matrices live in buffers reused from
    chunk to chunk (fresh ones would be page-faulted in every time).
    """

    def __init__(self, k: int, store: dict):
        self.k = k
        self.spec: list = []
        self.W = 0
        self.store = store

    def const(self, b: bytes) -> None:
        self.spec.append((0, b))
        self.W += len(b)

    def digits(self, v, w: int | None = None, pad: bool = False) -> None:
        """Decimal digits of v (0 <= v < 2**32); `pad`: exactly w digits with leading zeros."""
        if w is None:
            w = _width(v)
        self.spec.append((1, v, w, pad))
        self.W += w

    def table(self, T, lens, rows) -> None:
        """Row `rows[i]` of the byte table T (valid for `lens` of each row) on line i."""
        w = int(lens[rows].max()) if len(rows) else 1
        self.spec.append((2, T, lens, rows, w, int(lens[rows].min()) if len(rows) else 1))
        self.W += w

    def _buf(self, name, size, dtype):
        b = self.store.get(name)
        if b is None or b.size < size:
            b = self.store[name] = np.empty(max(size, 1 << 20), dtype=dtype)
        return b[:size]

    def render(self):
        """(the rows' bytes as a uint8 array, each row's length)."""
        k, W = self.k, self.W
        tmpl = np.zeros(W, dtype=np.uint8)
        mtmpl = np.ones(W, dtype=bool)
        col = 0
        for s in self.spec:
            if s[0] == 0:
                tmpl[col:col + len(s[1])] = np.frombuffer(s[1], dtype=np.uint8)
                col += len(s[1])
            elif s[0] == 1:
                if not s[3]:
                    mtmpl[col:col + s[2] - 1] = False
                col += s[2]
            else:
                mtmpl[col + s[5]:col + s[4]] = False
                col += s[4]
        mat = self._buf("mat", k * W, np.uint8).reshape(k, W)
        mat[:] = tmpl
        mask = self._buf("mask", k * W, bool).reshape(k, W)
        mask[:] = mtmpl
        rowlen = np.full(k, int(mtmpl.sum()), dtype=I64)
        col = 0
        x = np.empty(k, dtype=np.uint32)
        r = np.empty(k, dtype=np.uint32)
        nd = np.empty(k, dtype=np.uint32)
        for s in self.spec:
            kind = s[0]
            if kind == 0:
                col += len(s[1])
                continue
            if kind == 1:
                v, w, pad = s[1], s[2], s[3]
                np.copyto(x, v, casting="unsafe")
                if not pad and w > 1:
                    # digits beyond the first: searchsorted over the powers of ten
                    np.copyto(nd, np.searchsorted(POW10[1:w], x, side="right"), casting="unsafe")
                    rowlen += nd
                    for i in range(w - 1):
                        np.greater(nd, w - 2 - i, out=mask[:, col + i])
                for i in range(w - 1, -1, -1):
                    np.divmod(x, 10, out=(x, r))
                    r += 48
                    mat[:, col + i] = r
                col += w
            else:
                T, lens, rows, w, lo = s[1:]
                mat[:, col:col + w] = T[rows, :w]
                if lo < w:
                    L = lens[rows]
                    for j in range(lo, w):
                        m = mask[:, col + j]
                        np.greater(L, j, out=m)
                        rowlen += m
                col += w
        return mat[mask], rowlen


RENDER_ROWS = 32768  # lines per byte matrix: bounds its memory
POW10 = np.array([10 ** i for i in range(11)], dtype=np.uint64)


def _time_parts(t):
    """Each time as integer nanoseconds as "%.9f" rounds it, and whether that is
    certain (not within float noise of a half nanosecond, not negative, not huge):
    the lines where it is not are formatted with "%" instead."""
    y = t * 1e9
    fl = np.floor(y)
    fr = y - fl
    ok = (t >= 0) & (y < 4e15) & (np.abs(fr - 0.5) > 4 * np.spacing(y))
    return ok, np.where(ok, fl + (fr > 0.5), 0).astype(I64)


class JsonRows:
    """Renders the "packets" lines of analysed chunks (each line starts with ",\n")."""

    def __init__(self, eng: VectorEngine):
        from viz.export import FLAGS_JSON, tags_json
        self.eng = eng
        self.tags_json = tags_json
        self.flags_json = FLAGS_JSON
        flags = [b.encode() for b in FLAGS_JSON]
        self.flagT = np.zeros((256, max(map(len, flags))), dtype=np.uint8)
        for i, b in enumerate(flags):
            self.flagT[i, :len(b)] = np.frombuffer(b, dtype=np.uint8)
        self.flagL = np.array([len(b) for b in flags], dtype=I64)
        self.tagT = np.zeros((1 << len(ta.TAG_NAMES), 256), dtype=np.uint8)
        self.tagL = np.zeros(1 << len(ta.TAG_NAMES), dtype=I64)
        self.store: dict = {}

    @staticmethod
    def _addr(R, v) -> None:
        """An IPv4 address as its four decimal octets."""
        R.digits(v >> 24)
        R.const(b".")
        R.digits((v >> 16) & 255)
        R.const(b".")
        R.digits((v >> 8) & 255)
        R.const(b".")
        R.digits(v & 255)

    def render(self, o: Out) -> str:
        return "".join(str(b, "ascii") for b in self.render_bytes(o))

    def _regular(self, o: Out, rows, r_all, first):
        """(bytes, length of each line) of the regular TCP lines `rows`."""
        c = o.c
        k = len(rows)
        ti, tf = np.divmod(r_all[rows], 1_000_000_000)
        R = _Rows(k, self.store)
        R.const(b',\n    {"frame": ')
        R.digits(rows + first)
        R.const(b', "t": ')
        R.digits(ti)
        R.const(b".")
        R.digits(tf, 9, pad=True)
        R.const(b', "proto": "tcp", "src": "')
        self._addr(R, c.src[rows])
        R.const(b'", "sport": ')
        R.digits(c.sport[rows])
        R.const(b', "dst": "')
        self._addr(R, c.dst[rows])
        R.const(b'", "dport": ')
        R.digits(c.dport[rows])
        R.const(b', "stream": ')
        R.digits(o.stream[rows])
        R.const(b', "flags": ')
        R.table(self.flagT, self.flagL, c.flags[rows])
        R.const(b', "seq": ')
        R.digits(o.seq[rows])
        R.const(b', "ack": ')
        R.digits(o.ack[rows])
        R.const(b', "len": ')
        R.digits(o.length[rows])
        R.const(b', "win": ')
        R.digits(o.win[rows])
        bits = o.bits[rows]
        for b in np.unique(bits).tolist():
            if not self.tagL[b]:
                text = self.tags_json(b).encode()
                self.tagT[b, :len(text)] = np.frombuffer(text, dtype=np.uint8)
                self.tagL[b] = len(text)
        R.const(b', "analysis": ')
        R.table(self.tagT, self.tagL, bits)
        R.const(b"}")
        return R.render()

    def render_bytes(self, o: Out) -> list:
        """The chunk's lines as a list of bytes-like pieces (valid until the next call)."""
        c = o.c
        n = c.n
        if n == 0:
            return []
        first = o.ch.first
        ok_t, r_all = c.times if c.times is not None else _time_parts(o.t)
        regular = (c.proto == P_TCP) & (o.ack >= 0) & (o.length >= 0) & ok_t
        regular &= (c.src < 1 << 32) & (c.dst < 1 << 32)  # IPv4
        for j, d in c.decoded.items():
            if not isinstance(d, tuple) and d.notes:
                regular[j] = False
        rows = np.flatnonzero(regular)
        k = len(rows)
        if k:
            parts = [self._regular(o, rows[i:i + RENDER_ROWS], r_all, first)
                     for i in range(0, k, RENDER_ROWS)]
            if len(parts) == 1:
                body, rowlen = parts[0]
            else:
                body = np.concatenate([p[0] for p in parts])
                rowlen = np.concatenate([p[1] for p in parts])
        else:
            body, rowlen = np.zeros(0, np.uint8), np.zeros(0, I64)
        irregular = np.flatnonzero(~regular)
        mv = memoryview(body)
        if not len(irregular):
            return [mv]
        ends = np.cumsum(rowlen)
        # byte offset in body where each irregular row goes: rows before it are regular
        before = np.searchsorted(rows, irregular)
        cut = np.where(before > 0, ends[np.maximum(before - 1, 0)], 0).tolist() if k else [0] * len(irregular)
        out = []
        last = 0
        for j, at in zip(irregular.tolist(), cut):
            if at > last:
                out.append(mv[last:at])
            out.append(self._line(o, j).encode())
            last = at
        if len(body) > last:
            out.append(mv[last:])
        return out

    def _line(self, o: Out, j: int) -> str:
        c = o.c
        A = self.eng.addrs
        n = o.ch.first + j
        t = float(o.t[j])
        d = c.decoded.get(j)
        if isinstance(d, tuple):  # only SYN options (Prepare)
            d = None
        p = int(c.proto[j])
        if p == P_TCP:
            src, dst = A.str(int(c.src[j])), A.str(int(c.dst[j]))
            ack = int(o.ack[j])
            ln = int(o.length[j])
            sp, dp, raw_seq, raw_win = int(c.sport[j]), int(c.dport[j]), int(c.seq[j]), int(c.win[j])
            line = TCP_FMT % (n, t, src, "null" if sp < 0 else sp, dst, "null" if dp < 0 else dp,
                              int(o.stream[j]), self.flags_json[int(c.flags[j])],
                              "null" if raw_seq < 0 else int(o.seq[j]), "null" if ack < 0 else ack,
                              "null" if ln < 0 else ln, "null" if raw_win < 0 else int(o.win[j]),
                              self.tags_json(int(o.bits[j])))
        elif p == P_UDP:
            src, dst = A.str(int(c.src[j])), A.str(int(c.dst[j]))
            ln = int(o.length[j])
            sp, dp = int(c.sport[j]), int(c.dport[j])
            line = UDP_FMT % (n, t, src, "null" if sp < 0 else sp, dst, "null" if dp < 0 else dp, int(o.stream[j]),
                              "null" if ln < 0 else ln)
        else:
            line = OTHER_FMT % (n, t, d.proto, "null" if d.src is None else '"%s"' % d.src,
                                "null" if d.dst is None else '"%s"' % d.dst)
        if d is not None and d.notes:
            import json
            line += ', "notes": ' + json.dumps(list(d.notes), separators=(", ", ": "))
        return line + "}"



def _list_texts(R: "_Rows", bounds) -> list:
    """Per group (rows bounds[g]..bounds[g+1]) the bytes of its rows, each row
    ending in ", " and the group's last one cut there: one JSON list's items."""
    body, rowlen = R.render()
    ends = np.zeros(len(rowlen) + 1, dtype=I64)
    np.cumsum(rowlen, out=ends[1:])
    b = np.asarray(bounds)
    start = ends[b[:-1]].tolist()
    stop = np.maximum(ends[b[1:]] - 2, ends[b[:-1]]).tolist()
    mv = memoryview(body)
    return [mv[x:y] for x, y in zip(start, stop)]


def streams_json(eng: VectorEngine, store: dict):
    """The "streams" entries of a finished engine, as bytes pieces (`export.stream_json`
    of each, with the TCP streams' frame lists and state changes rendered as byte
    matrices, RENDER_ROWS rows at a time: a capture of 100,000 connections has a
    million of each)."""
    from viz.export import _jstr, _options_json, stream_json
    from viz.states import C_AFTER, C_BEFORE, C_EP, C_EVENT, C_FRAME, C_STREAM, EVENT_TEXT, STATES
    accs = eng._tcp_accs
    frames, fb = eng.tcp_frames
    track = eng.track_states
    ch, cb = eng.changes if track else (None, None)
    ns, ne = len(STATES), len(EVENT_TEXT)
    T = np.zeros((2 * ns * ns * ne, 96), dtype=np.uint8)
    L = np.zeros(len(T), dtype=I64)
    client = np.array([a.client for a in accs], dtype=I64)
    texts: dict = {}

    def batch(a: int):
        """Frame lists and state texts of the TCP streams a.. (a batch of them)."""
        b = a + 1
        step = 1
        while b < len(accs) and fb[b] - fb[a] <= RENDER_ROWS and (
                not track or cb[b] - cb[a] <= RENDER_ROWS):
            b = min(len(accs), b + step)
            step *= 2
        texts.clear()
        R = _Rows(int(fb[b] - fb[a]), store)
        R.digits(frames[fb[a]:fb[b]])
        R.const(b", ")
        ftexts = _list_texts(R, fb[a:b + 1] - fb[a])
        stexts = None
        if track:
            part = ch[cb[a]:cb[b]]
            side = (part[:, C_EP] != client[part[:, C_STREAM]]).astype(I64)  # 0 client
            code = ((side * ns + part[:, C_BEFORE]) * ns + part[:, C_AFTER]) * ne + part[:, C_EVENT]
            for v in np.unique(code).tolist():
                if not L[v]:
                    ev, rest = v % ne, v // ne
                    after, rest = rest % ns, rest // ns
                    before, sd = rest % ns, rest // ns
                    text = ('"side": "%s", "before": "%s", "after": "%s", "event": "%s"}, ' % (
                        ("client", "server")[sd], STATES[before].value, STATES[after].value,
                        EVENT_TEXT[ev])).encode()
                    T[v, :len(text)] = np.frombuffer(text, dtype=np.uint8)
                    L[v] = len(text)
            R = _Rows(len(part), store)
            R.const(b'{"frame": ')
            R.digits(part[:, C_FRAME])
            R.const(b", ")
            R.table(T, L, code)
            stexts = _list_texts(R, cb[a:b + 1] - cb[a]) if len(part) else [b""] * (b - a)
        for i in range(a, b):
            texts[i] = (ftexts[i - a], None if stexts is None else stexts[i - a])

    sep = b"    "
    for acc in eng.streams:
        if acc.proto != "tcp":
            yield sep + stream_json(acc).encode()
        else:
            if acc.id not in texts:
                batch(acc.id)
            ftext, stext = texts[acc.id]
            c, s_ = acc.client, 1 - acc.client
            yield sep + ('{"id": %d, "proto": "tcp", "client": %s, "server": %s, "frames": [' % (
                acc.id, _jstr(str(acc.endpoint(c))), _jstr(str(acc.endpoint(s_))))).encode()
            yield ftext
            tail = ('], "bytes_c2s": %d, "bytes_s2c": %d, "first_t": %r, "last_t": %r, '
                    '"retransmissions": %d, "options": {"client": %s, "server": %s}' % (
                        acc.bytes[c], acc.bytes[s_], round(acc.first_t, 9), round(acc.last_t, 9),
                        acc.retrans, _options_json(acc.options[c]), _options_json(acc.options[s_])))
            if stext is None:
                yield (tail + "}").encode()
            else:
                yield (tail + ', "states": [').encode()
                yield stext
                yield b"]}"
        sep = b",\n    "
