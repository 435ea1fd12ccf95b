"""The analysis/1 export of whole captures at numpy speed, with the exact per-frame rules.

`viz.analysis.Engine` runs Wireshark's TCP sequence analysis
(`viz.tcp_analysis`) on every frame; at a few microseconds of Python per
frame that caps a million-frame export near 60,000 frames/s.  Most frames of
a real capture are plain: the next in-order segment or a new ACK, window
unchanged-or-not, nothing for tshark to flag.  Here a chunk of frames is
decoded with vectorized indexing, and a *conservative* vectorized test, run
on the state the analysis would have if every earlier frame of the
conversation were plain, marks the frames that could carry a tag or change
state in any other way (SYN/FIN/RST, zero windows, repeated ACKs, anything
not exactly at the next expected sequence number, a window-full edge, an ACK
beyond what was sent...).  Only those frames run the exact analysis
(`TcpAnalyzer.feed`, the same code as the Engine); before each, the
conversation's state is brought up to date from the plain frames it skipped,
and after each, if the state differs from what the test assumed, the
conversation's next frame runs it too.  Plain frames get their relative
numbers from arrays.  The output is byte for byte the Engine's (the corpus
tests compare both).

The JSON lines of ordinary TCP frames are assembled as a byte matrix
(digits by vectorized division, per-stream constant parts from a table)
instead of one `%` per frame.

Pure: chunks of frames in, strings out.
"""
from __future__ import annotations

import heapq
from collections import deque
from socket import inet_aton
from typing import Callable, Iterable

import numpy as np

from viz import tcp_analysis as ta
from viz.decode import Decoded
from viz.decode import decode as decode_one
from viz.states import StateTracker
from viz.streams import StreamAcc

MASK = 0xFFFFFFFF
HALF = 0x80000000
P_OTHER, P_TCP, P_UDP = 0, 1, 2
SYN, ACK, FIN, RST = ta.SYN, ta.ACK, ta.FIN, ta.RST
RETRANS_ANY = ta.RETRANSMISSION | ta.FAST_RETRANSMISSION | ta.SPURIOUS_RETRANSMISSION
I64 = np.int64


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
                try:
                    i = int.from_bytes(inet_aton(s), "big")
                except OSError:
                    i = None
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
                 "times")


def decode_chunk(ch, addrs: _Addrs) -> Cols:
    """Columns of a FrameChunk: vectorized for plain IPv4 TCP/UDP frames (the
    rules of viz.decode's fast paths), `viz.decode.decode` for the rest."""
    n = ch.n
    u8 = np.frombuffer(ch.buf, dtype=np.uint8)
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
    ts_only = (doff == 32) & (L + 20 + doff <= cap_end) & (_u32(u8, tp + 20) == 0x0101080A)
    tcp_ok &= (doff == 20) | ts_only
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
        try:
            d = decode_one(int(lt[i]), ch.frame_bytes(i), int(wire[i]))
        except Exception as exc:  # a decoder bug must not lose the rest of the file
            d = Decoded("other")
            d.notes = (f"could not decode: {type(exc).__name__}: {exc}",)
        c.decoded[i] = d
        p = d.proto
        if p == "tcp":
            c.proto[i] = P_TCP
            c.src[i] = addrs.id(d.src)
            c.dst[i] = addrs.id(d.dst)
            c.sport[i] = d.sport
            c.dport[i] = d.dport
            c.flags[i] = d.flags
            c.seq[i] = d.seq_raw
            c.ack[i] = d.ack_raw
            c.win[i] = d.win_raw
            c.length[i] = -1 if d.tcp_len is None else d.tcp_len
            c.analyse[i] = d.seq_analysis
            if d.options is not None and d.options.wscale is not None:
                c.wscale[i] = d.options.wscale
        elif p == "udp":
            c.proto[i] = P_UDP
            c.src[i] = addrs.id(d.src)
            c.dst[i] = addrs.id(d.dst)
            c.sport[i] = d.sport
            c.dport[i] = d.dport
            c.flags[i] = 0
            c.length[i] = -1 if d.udp_len is None else d.udp_len
        else:
            c.proto[i] = P_OTHER
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


def _excl_last(mask, ar, gstart):
    """For each position, the last earlier position of its group where mask holds, else -1."""
    q = np.maximum.accumulate(np.where(mask, ar, -1))
    prev = np.empty_like(q)
    prev[0] = -1
    prev[1:] = q[:-1]
    prev[prev < gstart] = -1
    return prev


def _incl_last(mask, ar, gstart):
    q = np.maximum.accumulate(np.where(mask, ar, -1))
    q[q < gstart] = -1
    return q


def _seq_gt(a, b):
    d = (a - b) & MASK
    return (d > 0) & (d < HALF)


def _seq_le(a, b):
    d = (a - b) & MASK
    return (d == 0) | (d >= HALF)


class VectorEngine:
    """The Engine's analysis over FrameChunks; holds the streams when done."""

    def __init__(self):
        self.addrs = _Addrs()
        self.streams: list[StreamAcc] = []
        self.n_tcp = 0
        self.n_udp = 0
        self.frames = 0
        self.t0: float | None = None
        self.tcp = ta.TcpAnalyzer(self._new_tcp)
        self._udp: dict[tuple, StreamAcc] = {}
        self._pending_t = 0.0
        self._res = ta.TcpResult()
        self._key_of: dict[tuple[int, int], tuple] = {}  # (lo end, hi end) -> conversation key
        self._tcp_accs: list[StreamAcc] = []

    def _new_tcp(self, conv: ta.Conversation) -> None:
        acc = StreamAcc(self.n_tcp, "tcp", len(self.streams), conv.src, conv.sport,
                        conv.dst, conv.dport, self._pending_t)
        self.n_tcp += 1
        self._tcp_accs.append(acc)
        acc.conv = conv
        acc.tracker = StateTracker()
        conv.index = len(self.streams)
        self.streams.append(acc)

    # -- one chunk -----------------------------------------------------------
    def chunk(self, ch) -> "Out":
        """Analyse one chunk; returns its output columns (see Out)."""
        return self.analyse(decode_chunk(ch, self.addrs))

    def analyse(self, c: "Cols") -> "Out":
        """Analyse the decoded columns of one chunk (from `decode_chunk`, maybe made
        in another process with its own `_Addrs`: the addresses it numbered are
        numbered here in the same order)."""
        for s in c.addr_new:
            self.addrs.id(s)
        ch = c  # the columns carry the chunk's first frame number and times
        n = c.n
        if self.t0 is None and n:
            self.t0 = float(ch.ts[0])
        t = ch.ts - self.t0
        o = Out(c, ch, t)
        proto = c.proto
        tcp_idx = np.flatnonzero(proto == P_TCP)
        udp_idx = np.flatnonzero(proto == P_UDP)
        events: list[int] = []
        if len(udp_idx):
            events.extend(self._udp_prepare(c, o, udp_idx))
        tcp = None
        if len(tcp_idx):
            tcp = _TcpChunk(self, c, ch, t, tcp_idx)
            events.extend(tcp.candidates())
        heapq.heapify(events)
        seen = set(events)
        while events:
            j = heapq.heappop(events)
            if proto[j] == P_TCP:
                k = tcp.event(j, o)
                if k >= 0 and k not in seen:
                    seen.add(k)
                    heapq.heappush(events, k)
            else:
                self._udp_event(c, o, j, t)
        if tcp is not None:
            tcp.finish(o)
        if len(udp_idx):
            self._udp_finish(c, o, udp_idx, t)
        self.frames = ch.first + n - 1
        return o

    # -- UDP ------------------------------------------------------------------
    def _udp_prepare(self, c, o, idx):
        es = (c.src[idx] << 16) | c.sport[idx]
        ed = (c.dst[idx] << 16) | c.dport[idx]
        lo = np.minimum(es, ed)
        hi = np.maximum(es, ed)
        uk, inv = _pairs(lo, hi)
        first = np.full(len(uk), len(inv), dtype=I64)
        np.minimum.at(first, inv, np.arange(len(inv)))
        self._u_inv = inv
        self._u_keys = uk
        self._u_acc: list = []
        events = []
        A = self.addrs
        for g in range(len(uk)):
            lo_e, hi_e = int(uk["a"][g]), int(uk["b"][g])
            key = (A.str(lo_e >> 16), lo_e & 0xFFFF, A.str(hi_e >> 16), hi_e & 0xFFFF)
            acc = self._udp.get(key)
            self._u_acc.append(acc)
            if acc is None:
                events.append(int(idx[first[g]]))
        self._u_idx = idx
        self._u_pos = {int(j): p for p, j in enumerate(idx[first].tolist())}
        return events

    def _udp_event(self, c, o, j, t):
        p = int(np.searchsorted(self._u_idx, j))
        g = int(self._u_inv[p])
        A = self.addrs
        src, dst = A.str(int(c.src[j])), A.str(int(c.dst[j]))
        sport, dport = int(c.sport[j]), int(c.dport[j])
        acc = StreamAcc(self.n_udp, "udp", len(self.streams), src, sport, dst, dport, float(t[j]))
        self.n_udp += 1
        self.streams.append(acc)
        self._udp[(src, sport, dst, dport)] = acc
        self._udp[(dst, dport, src, sport)] = acc
        self._u_acc[g] = acc

    def _udp_finish(self, c, o, idx, t):
        accs = self._u_acc
        inv = self._u_inv
        A = self.addrs
        ids = np.array([a.id for a in accs], dtype=I64)
        o.stream[idx] = ids[inv]
        # endpoint 0 of each stream, as an "end" (address id << 16 | port)
        e0 = np.array([(A.id(str(a.addr[0])) << 16) | a.port[0] for a in accs], dtype=I64)
        es = (c.src[idx] << 16) | c.sport[idx]
        ep = (es != e0[inv]).astype(I64)
        ln = c.length[idx]
        _bulk_streams(accs, inv, ep, ln, c, idx, t, o)


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


class _Layout:
    """What the TCP analysis of a chunk needs that depends on the chunk alone:
    frames grouped by conversation key, each frame's previous frame of either
    direction in its group.  Made by `tcp_layout`, possibly in the reading process."""

    __slots__ = ("uk_a", "uk_b", "ng", "gi", "fi", "pos_of", "gs", "gstart", "dir", "seq",
                 "ack", "ln", "fl", "win", "tsp", "lnz", "synfin", "nxt", "prev0", "prev1",
                 "pd0", "pd1", "pf", "pr")


def tcp_layout(c: Cols, idx=None) -> _Layout:
    if idx is None:
        idx = np.flatnonzero(c.proto == P_TCP)
    L = _Layout()
    es = (c.src[idx] << 16) | c.sport[idx]
    ed = (c.dst[idx] << 16) | c.dport[idx]
    lo = np.minimum(es, ed)
    hi = np.maximum(es, ed)
    uk, inv = _pairs(lo, hi)
    L.uk_a, L.uk_b = uk["a"], uk["b"]
    order = np.argsort(inv, kind="stable")
    L.ng = ng = len(uk)
    gi = L.gi = inv[order]
    fi = L.fi = idx[order]
    m = len(fi)
    L.pos_of = np.full(c.n, -1, dtype=I64)
    L.pos_of[fi] = np.arange(m)
    gs = L.gs = np.searchsorted(gi, np.arange(ng + 1))
    gstart = L.gstart = gs[gi]
    ar = np.arange(m, dtype=I64)
    d = L.dir = (es > ed).astype(I64)[order]
    seq = L.seq = c.seq[fi]
    L.ack = c.ack[fi]
    ln = L.ln = c.length[fi]
    fl = L.fl = c.flags[fi]
    L.win = c.win[fi]
    L.tsp = c.ts[fi]
    lnz = L.lnz = np.maximum(ln, 0)
    synfin = L.synfin = ((fl & (SYN | FIN)) != 0).astype(I64)
    L.nxt = (seq + lnz + synfin) & MASK  # nextseq after a frame, as the model assumes
    prev0 = L.prev0 = _excl_last(d == 0, ar, gstart)
    prev1 = L.prev1 = _excl_last(d == 1, ar, gstart)
    L.pd0 = _excl_last((d == 0) & (ln > 0), ar, gstart)
    L.pd1 = _excl_last((d == 1) & (ln > 0), ar, gstart)
    L.pf = np.where(d == 0, prev0, prev1)
    L.pr = np.where(d == 0, prev1, prev0)
    return L


class Prepare:
    """`decode_chunk` plus what needs no analysis state: the TCP layout and the
    times' digits (relative to the first frame, as `VectorEngine` takes them).
    Called chunk by chunk, in order, in the reading process."""

    def __init__(self):
        self.addrs = _Addrs()
        self.t0: float | None = None

    def __call__(self, ch) -> Cols:
        c = decode_chunk(ch, self.addrs)
        if (c.proto == P_TCP).any():
            c.layout = tcp_layout(c)
        if self.t0 is None and c.n:
            self.t0 = float(c.ts[0])
        if c.n:
            c.times = _time_parts(c.ts - self.t0)
        return c


class _TcpChunk:
    """The TCP frames of one chunk, grouped by address/port pair (tshark's conversation key)."""

    def __init__(self, eng: VectorEngine, c: Cols, ch, t, idx):
        self.eng = eng
        self.c = c
        self.ch = ch
        self.t = t
        A = eng.addrs
        lay = c.layout if c.layout is not None else tcp_layout(c, idx)
        uk_a, uk_b = lay.uk_a, lay.uk_b
        self.ng = ng = lay.ng
        gi = self.gi = lay.gi
        fi = self.fi = lay.fi  # chunk index of each position
        m = self.m = len(fi)
        self.pos_of = lay.pos_of
        gs = self.gs = lay.gs
        gstart = self.gstart_pos = lay.gstart
        ar = np.arange(m, dtype=I64)
        d = self.dir = lay.dir
        seq, ack, ln, fl, win = lay.seq, lay.ack, lay.ln, lay.fl, lay.win
        self.seq, self.ack, self.ln, self.fl, self.win = seq, ack, ln, fl, win
        self.tsp = lay.tsp
        self.ev: list = []  # (j, p, stream, seq, ack, len, win, bits, ep, snapshot...)
        lnz = lay.lnz
        synfin = lay.synfin
        self.nxt = lay.nxt
        self.prev = (lay.prev0, lay.prev1)
        self.prevdata = (lay.pd0, lay.pd1)
        pf, pr = lay.pf, lay.pr

        # Entry state per group and canonical direction, from the conversations as they are.
        self.convs: list = []
        self.adir: list[int] = []  # canonical direction of conv.a
        self.keys = []
        Erows = []  # per group: nextseq, mtba, lastack, window, base_set of each direction
        Esrows = []
        dirty = []
        entry_deques = []
        conv_get = eng.tcp.conversations.get
        key_of = eng._key_of
        streams = eng.streams
        none_row = (0, 0, 0, MASK, 0, 0, 0, 0, MASK, 0)
        for lo_e, hi_e in zip(uk_a.tolist(), uk_b.tolist()):
            key = key_of.get((lo_e, hi_e))
            if key is None:
                key = key_of[(lo_e, hi_e)] = (A.str(lo_e >> 16), lo_e & 0xFFFF,
                                               A.str(hi_e >> 16), hi_e & 0xFFFF)
            self.keys.append(key)
            conv = conv_get(key)
            self.convs.append(conv)
            if conv is None:
                self.adir.append(0)
                Erows.append(none_row)
                Esrows.append((0, 0, 0, 0, 0, 0))
                dirty.append(False)
                entry_deques.append(None)
                continue
            a_dir = 0 if (conv.src == key[0] and conv.sport == key[1]) else 1
            self.adir.append(a_dir)
            fa, fb = conv.a, conv.b
            ra = (fa.nextseq, fa.maxseqtobeacked, fa.lastack, fa.window, fa.base_set)
            rb = (fb.nextseq, fb.maxseqtobeacked, fb.lastack, fb.window, fb.base_set)
            Erows.append(ra + rb if a_dir == 0 else rb + ra)
            acc = streams[conv.index]
            Esrows.append((acc.id, a_dir, fa.base_seq, fb.base_seq, fa.win_scale, fb.win_scale))
            tr = acc.tracker
            dirty.append((tr is not None and not tr.quiet) or fa.dupacknum != 0
                         or fb.dupacknum != 0 or bool(conv.ts_mru_syn and not conv.ts_first_rtt))
            entry_deques.append((fa.unacked, fb.unacked))  # copied before an event changes them
        E = self.E = np.array(Erows, dtype=I64).reshape(ng, 2, 5)
        E_dirty = np.array(dirty, dtype=bool)
        self.Es = np.array(Esrows, dtype=I64).reshape(ng, 6)
        self.entry_convs = list(self.convs)
        self.entry_adir = list(self.adir)
        # Snapshots of the conversation after each exactly analysed frame (forward fill
        # source for the plain frames): stream, adir, base_a, base_b, ws_a, ws_b.
        self.snap = np.zeros((m, 6), dtype=I64)
        self.synced = [-1] * ng
        self.entry_deques = entry_deques
        self.copied = [False] * ng

        dx = d
        gE = E[gi]  # (m, 2, 5)
        own = gE[ar, dx]
        oth = gE[ar, 1 - dx]
        nextseq_f = np.where(pf >= 0, self.nxt[np.maximum(pf, 0)], own[:, 0])
        mtba_f = np.where(pf >= 0, nextseq_f, own[:, 1])
        lastack_f = np.where(pf >= 0, ack[np.maximum(pf, 0)], own[:, 2])
        base_f = (pf >= 0) | (own[:, 4] != 0)
        prs = np.maximum(pr, 0)
        window_r = np.where(pr >= 0, win[prs], oth[:, 3])
        lastack_r = np.where(pr >= 0, ack[prs], oth[:, 2])
        mtba_r = np.where(pr >= 0, self.nxt[prs], oth[:, 1])
        base_r = (pr >= 0) | (oth[:, 4] != 0) | ((pf >= 0) & ((fl[np.maximum(pf, 0)] & ACK) != 0))

        plain = (ln >= 0) & c.analyse[fi] & (c.wscale[fi] < 0)
        plain &= ((fl & (SYN | FIN | RST)) == 0) & ((fl & ACK) != 0) & (win != 0)
        plain &= base_f & base_r
        plain &= (nextseq_f != 0) & (seq == nextseq_f) & (mtba_f == nextseq_f)
        plain &= window_r != 0
        plain &= ~((ln == 0) & (ack == lastack_f))
        dfull = (seq + lnz - lastack_r) & MASK
        wr = np.where((window_r > 0) & (window_r < 65536), window_r, 1)
        q = dfull // wr
        full = (ln > 0) & ((window_r >= 65536) | ((dfull % wr == 0) & (q >= 1) & (q <= 16384)
                                                   & ((q & (q - 1)) == 0)))
        plain &= ~full
        plain &= ~((mtba_r != 0) & _seq_gt(ack, mtba_r))
        plain &= ~((ln > 0) & (lastack_r != 0) & _seq_le(seq + lnz, lastack_r))
        # Conversations that may reach tshark's limit of remembered segments run exactly.
        appends = np.bincount(gi * 2 + d, weights=((ln > 0) | (synfin > 0)), minlength=2 * ng)
        most = np.maximum(appends[0::2], appends[1::2]).tolist()
        slow = self.slow_l = [False] * ng
        for g, ent in enumerate(entry_deques):
            held = max(len(ent[0]), len(ent[1])) if ent is not None else 0
            if held + most[g] >= ta.MAX_UNACKED - 1:
                slow[g] = True
                entry_deques[g] = None
        self.slow = np.array(slow, dtype=bool)
        cand = ~plain
        cand |= self.slow[gi]
        first = gs[:-1][E_dirty]
        cand[first] = True
        self.cand = cand

    def candidates(self) -> list[int]:
        return self.fi[self.cand].tolist()

    def _flow(self, g, x):
        conv = self.convs[g]
        return conv.a if x == self.adir[g] else conv.b

    def _sync(self, g, l0, l1, d0, d1):
        """Apply the plain frames of group g after its last exact frame: `l0`, `l1`
        are the positions of each direction's latest frame, `d0`, `d1` its latest with payload."""
        syn = self.synced[g]
        conv = self.convs[g]
        if conv is None:
            return
        a_dir = self.adir[g]
        if l0 > syn:
            self._sync_flow(conv.a if a_dir == 0 else conv.b, l0, d0, syn)
        if l1 > syn:
            self._sync_flow(conv.a if a_dir == 1 else conv.b, l1, d1, syn)

    def _sync_flow(self, f, lx, dx, syn):
        f.nextseq = f.maxseqtobeacked = self.nxt.item(lx)
        f.lastack = self.ack.item(lx)
        f.window = self.win.item(lx)
        f.lastacktime = self.tsp.item(lx)
        f.lastflags = 0
        f.dupacknum = 0
        f.is_first_ack = False
        if dx > syn:
            f.nextseqtime = self.tsp.item(dx)

    def event(self, j: int, o: Out) -> int:
        """Run the exact analysis on chunk frame j; returns a frame that must run it next, or -1."""
        eng = self.eng
        p = self.pos_of.item(j)
        g = self.gi.item(p)
        if not self.copied[g]:
            self.copied[g] = True
            ent = self.entry_deques[g]
            if ent is not None:
                self.entry_deques[g] = (list(ent[0]), list(ent[1]))
        self._sync(g, self.prev[0].item(p), self.prev[1].item(p), self.prevdata[0].item(p),
                   self.prevdata[1].item(p))
        c = self.c
        flags = self.fl.item(p)
        d = c.decoded.get(j)
        if d is not None:
            src, dst, sport, dport = d.src, d.dst, d.sport, d.dport
            opts = d.options
            wscale = opts.wscale if opts is not None else None
        else:
            A = eng.addrs
            src, dst = A.str(c.src.item(j)), A.str(c.dst.item(j))
            sport, dport = c.sport.item(j), c.dport.item(j)
            opts = wscale = None
        ts = self.tsp.item(p)
        ln = self.ln.item(p)
        seq, ack = self.seq.item(p), self.ack.item(p)
        eng._pending_t = self.t.item(j)
        res = eng.tcp.feed(ts, src, sport, dst, dport, flags, seq, ack, self.win.item(p),
                           None if ln < 0 else ln, c.analyse.item(j), wscale, eng._res)
        conv = res.conv
        acc = eng.streams[conv.index]
        ep = 0 if res.forward else 1
        bits = ta.export_bits(res.bits) if res.bits else 0
        if flags & (SYN | ACK) == SYN and not acc.saw_syn:
            acc.saw_syn = True
            acc.client = ep
        if flags & SYN and opts is not None and acc.options[ep] is None:
            acc.options[ep] = opts
        if bits & RETRANS_ANY:
            acc.retrans += 1
        if res.len:
            acc.bytes[ep] += res.len
        tr = acc.tracker
        if tr is not None and not (tr.quiet and not flags & 0x07):
            tr.feed(self.ch.first + j, ep, flags, seq, ack, res.len)
        if conv is not self.convs[g]:
            self.convs[g] = conv
            key = self.keys[g]
            self.adir[g] = 0 if (conv.src == key[0] and conv.sport == key[1]) else 1
        a_dir = self.adir[g]
        self.ev.append((j, p, acc.id, res.seq, -1 if res.ack is None else res.ack,
                        -1 if res.len is None else res.len, res.win, bits, ep,
                        a_dir, conv.a.base_seq, conv.b.base_seq, conv.a.win_scale,
                        conv.b.win_scale))
        self.synced[g] = p
        nxt = p + 1
        if nxt >= self.m or self.gi.item(nxt) != g:
            return -1
        if self.slow_l[g] or _conv_dirty(eng, conv) or self._mismatch(g, p, conv, a_dir):
            return self.fi.item(nxt)
        return -1

    def _mismatch(self, g, p, conv, a_dir) -> bool:
        """Does the state differ from what the plain test assumed for the frames after p?"""
        if conv.a.dupacknum or conv.b.dupacknum:  # plain frames would keep a count
            return True
        dp = self.dir.item(p)
        for x in (0, 1):
            f = conv.a if x == a_dir else conv.b
            lx = p if dp == x else self.prev[x].item(p)
            if lx >= 0:
                m = self.nxt.item(lx)
                if (f.nextseq != m or f.maxseqtobeacked != m or f.lastack != self.ack.item(lx)
                        or f.window != self.win.item(lx) or not f.base_set):
                    return True
            else:
                e = self.E[g, x].tolist()
                if conv is not self.entry_convs[g] or a_dir != self.entry_adir[g]:
                    return True
                if (f.nextseq != e[0] or f.maxseqtobeacked != e[1] or f.lastack != e[2]
                        or f.window != e[3] or f.base_set != bool(e[4])):
                    return True
        return False

    def finish(self, o: Out) -> None:
        """Outputs of the plain frames, stream bookkeeping, and the state at the chunk's end."""
        m = len(self.fi)
        ar = np.arange(m, dtype=I64)
        py = np.zeros(m, dtype=bool)
        if self.ev:
            ev = np.array(self.ev, dtype=I64)
            ej, ep_ = ev[:, 0], ev[:, 1]
            py[ep_] = True
            o.stream[ej] = ev[:, 2]
            o.seq[ej] = ev[:, 3]
            o.ack[ej] = ev[:, 4]
            o.length[ej] = ev[:, 5]
            o.win[ej] = ev[:, 6]
            o.bits[ej] = ev[:, 7]
            o.ep[ej] = ev[:, 8]
            self.snap[ep_, 0] = ev[:, 2]
            self.snap[ep_, 1:] = ev[:, 9:]
        src = _incl_last(py, ar, self.gstart_pos)
        ng = self.ng
        Es = self.Es
        snap = np.where((src >= 0)[:, None], self.snap[np.maximum(src, 0)], Es[self.gi])
        plain = ~py
        fwd = self.dir == snap[:, 1]
        base_f = np.where(fwd, snap[:, 2], snap[:, 3])
        base_r = np.where(fwd, snap[:, 3], snap[:, 2])
        ws = np.where(fwd, snap[:, 4], snap[:, 5])
        fi = self.fi
        pj = fi[plain]
        o.stream[pj] = snap[plain, 0]
        o.seq[pj] = ((self.seq - base_f) & MASK)[plain]
        o.ack[pj] = ((self.ack - base_r) & MASK)[plain]
        o.win[pj] = np.where(ws >= 0, self.win << np.maximum(ws, 0), self.win)[plain]
        o.ep[pj] = np.where(fwd, 0, 1)[plain]
        # Stream bookkeeping: frames, bytes (plain frames only; exact ones counted already).
        streams = self.eng.streams
        sid = o.stream[fi]
        # map stream id -> acc via conv index: TCP ids are dense in creation order
        uniq, inv = np.unique(sid, return_inverse=True)
        inv = inv.reshape(-1)
        tcp_accs = self.eng._tcp_accs
        accs = [tcp_accs[s] for s in uniq.tolist()]
        ep = np.where(fwd, 0, 1)
        ln = np.where(plain, self.ln, 0)
        _bulk_streams(accs, inv, ep, ln, self.c, fi, self.t, o)
        # State at the end of the chunk: plain frames after each group's last exact frame.
        q = self.gs[1:] - 1
        x = self.dir[q]
        own_data = self.ln[q] > 0
        l0 = np.where(x == 0, q, self.prev[0][q]).tolist()
        l1 = np.where(x == 1, q, self.prev[1][q]).tolist()
        d0 = np.where((x == 0) & own_data, q, self.prevdata[0][q]).tolist()
        d1 = np.where((x == 1) & own_data, q, self.prevdata[1][q]).tolist()
        sync = self._sync
        for g in range(ng):
            sync(g, l0[g], l1[g], d0[g], d1[g])
        self._deques(sid.tolist())
        del streams

    def _deques(self, sids) -> None:
        """tshark's list of unacknowledged segments (tcp_analysis Flow.unacked) at the
        chunk's end, for every flow at once.

        The list is FIFO: a segment's end is appended, and each frame of the other
        direction drops the leading ends at or before its ACK.  While the ends are
        in ascending order (in-order data, what plain frames are) an end survives
        exactly when no later ACK of the other direction reaches it, which is a
        reverse running maximum.  Flows where that ordering does not hold (after a
        retransmission) are replayed frame by frame.
        """
        sids = np.asarray(sids, dtype=I64)
        gs = self.gs
        ng = self.ng
        m = len(self.fi)
        ar = np.arange(m, dtype=I64)
        gi = self.gi
        final = sids[gs[1:] - 1]
        bad = np.maximum.accumulate(np.where(sids != final[gi], ar, -1))[gs[1:] - 1]
        fstart = np.where(bad >= gs[:-1], bad + 1, gs[:-1])
        has = np.array([c is not None for c in self.convs], dtype=bool)
        ok_g = has & ~self.slow
        ent_ok = np.array([fstart[g] == gs[g] and self.entry_deques[g] is not None
                           and self.entry_convs[g] is self.convs[g] for g in range(ng)], dtype=bool)
        active = (ar >= fstart[gi]) & ok_g[gi] & (self.ln >= 0) & self.c.analyse[self.fi]
        synfin = (self.fl & (SYN | FIN)) != 0
        app = active & ((self.ln > 0) | synfin)
        # entries: the chunk's entry lists, then the appends
        ef, ev = [], []
        adir = self.entry_adir
        for g in np.flatnonzero(ent_ok & ok_g).tolist():
            qa, qb = self.entry_deques[g]
            fa = 2 * g + adir[g]
            ef.extend([fa] * len(qa))
            ev.extend(qa)
            ef.extend([2 * g + 1 - adir[g]] * len(qb))
            ev.extend(qb)
        e_flow = np.concatenate([np.array(ef, dtype=I64), (gi * 2 + self.dir)[app]])
        e_val = np.concatenate([np.array(ev, dtype=I64), self.nxt[app]])
        e_time = np.concatenate([fstart[np.array(ef, dtype=I64) >> 1] - 1, ar[app]])
        p_flow = (gi * 2 + 1 - self.dir)[active]
        p_ack = self.ack[active]
        p_time = ar[active]
        nf = 2 * ng
        oe = np.lexsort((e_time, e_flow))
        e_flow, e_val, e_time = e_flow[oe], e_val[oe], e_time[oe]
        first_e = np.searchsorted(e_flow, np.arange(nf))
        has_e = np.zeros(nf, dtype=bool)
        has_e[e_flow] = True
        v0 = np.zeros(nf, dtype=I64)
        v0[has_e] = e_val[first_e[has_e]]
        rel = (e_val - v0[e_flow]) & MASK
        invalid = np.zeros(nf, dtype=bool)
        if len(rel):
            invalid[e_flow[rel >= HALF]] = True
        span = np.zeros(nf, dtype=I64)
        np.maximum.at(span, e_flow, rel)
        a_rel = (p_ack - v0[p_flow]) & MASK
        invalid[p_flow[(a_rel >= HALF) & (a_rel - HALF <= span[p_flow]) & has_e[p_flow]]] = True
        eff = np.where(a_rel < HALF, a_rel, -1)
        # Acks that go backwards (reordered ACK frames) break the rule below: replay those.
        # (only acks after the flow's first entry can pop anything)
        t_first = np.full(nf, len(ar), dtype=I64)
        t_first[has_e] = e_time[first_e[has_e]]
        live = p_time > t_first[p_flow]
        op = np.lexsort((p_time[live], p_flow[live]))
        pf_s, eff_s = p_flow[live][op], eff[live][op]
        back = (pf_s[1:] == pf_s[:-1]) & (eff_s[1:] < eff_s[:-1])
        invalid[pf_s[1:][back]] = True
        # merge entries (value 0) and pops (eff + 1) by (flow, time); reverse segmented max
        flow = np.concatenate([e_flow, p_flow])
        time = np.concatenate([e_time, p_time])
        val = np.concatenate([np.zeros(len(e_flow), dtype=I64), eff + 1])
        is_e = np.concatenate([np.ones(len(e_flow), dtype=bool), np.zeros(len(p_flow), dtype=bool)])
        o = np.lexsort((time, flow))
        flow, val, is_e = flow[o], val[o], is_e[o]
        off = (nf - flow) << 33
        cm = np.maximum.accumulate((val + off)[::-1])[::-1] - off
        e_pos = np.flatnonzero(is_e)  # entries keep their (flow, time) order in the merge
        # An entry is popped by the first ack at or beyond it after both its append
        # and its predecessor's pop; with acks that never go back that is "some
        # later ack reaches it" for it and every entry before it: the survivors
        # are each flow's entries from its first never-reached one on (ends need
        # not ascend: a retransmission's smaller end waits behind larger ones).
        reached = rel <= cm[e_pos] - 1
        ei = np.arange(len(rel), dtype=I64)
        first_left = np.full(nf, len(rel), dtype=I64)
        np.minimum.at(first_left, e_flow[~reached], ei[~reached])
        surv = ei >= first_left[e_flow]
        sv_flow = e_flow[surv]
        sv_val = e_val[surv].tolist()
        bounds = np.searchsorted(sv_flow, np.arange(nf + 1)).tolist()
        inv_g = invalid.reshape(ng, 2).any(axis=1)
        for g in np.flatnonzero(ok_g & ~inv_g).tolist():
            conv = self.convs[g]
            a = 2 * g + self.adir[g]
            b = 2 * g + 1 - self.adir[g]
            conv.a.unacked = deque(sv_val[bounds[a]:bounds[a + 1]])
            conv.b.unacked = deque(sv_val[bounds[b]:bounds[b + 1]])
        self._replay(sids.tolist(), np.flatnonzero(ok_g & inv_g).tolist())

    def _replay(self, sids, groups) -> None:
        """The unacked lists of `groups` by replaying every frame (the exact, slow way)."""
        gs = self.gs
        for g in groups:
            s, e = int(gs[g]), int(gs[g + 1])
            ent = self.entry_deques[g]
            conv = self.convs[g]
            if conv is None:
                continue
            # Which frames belong to the final conversation: those after the last switch.
            cur = self.eng.streams[conv.index].id
            first = s
            if True:
                for k in range(e - 1, s - 1, -1):
                    if sids[k] != cur:
                        first = k + 1
                        break
            if first == s and ent is not None and self.entry_convs[g] is conv:
                qa, qb = deque(ent[0]), deque(ent[1])
            else:
                qa, qb = deque(), deque()
            a_dir = self.adir[g]
            qs = (qa, qb) if a_dir == 0 else (qb, qa)
            dd = self.dir[first:e].tolist()
            nx = self.nxt[first:e].tolist()
            ak = self.ack[first:e].tolist()
            ln = self.ln[first:e].tolist()
            fl = self.fl[first:e].tolist()
            an = self.c.analyse[self.fi[first:e]].tolist()
            for x, v, a, L, f, ok in zip(dd, nx, ak, ln, fl, an):
                if L < 0 or not ok:
                    continue
                if L or f & (SYN | FIN):
                    qs[x].append(v)
                q = qs[1 - x]
                while q and ((q[0] - a) & MASK == 0 or (q[0] - a) & MASK >= HALF):
                    q.popleft()
            conv.a.unacked = qa
            conv.b.unacked = qb


def ch_first(ch) -> int:
    return ch.first


def _conv_dirty(eng, conv) -> bool:
    """Conversation-level state the plain test does not model: the state tracker
    before both ends are ESTABLISHED (or after a FIN), a duplicate-ACK count (plain
    frames with the same ack keep it), the first RTT not yet known."""
    acc = eng.streams[conv.index]
    tr = acc.tracker
    if tr is not None and not tr.quiet:
        return True
    if conv.a.dupacknum or conv.b.dupacknum:
        return True
    return bool(conv.ts_mru_syn and not conv.ts_first_rtt)


# -- JSON ------------------------------------------------------------------------

TCP_FMT = (',\n    {"frame": %d, "t": %.9f, "proto": "tcp", "src": "%s", "sport": %d, '
           '"dst": "%s", "dport": %d, "stream": %d, "flags": %s, "seq": %d, "ack": %s, '
           '"len": %s, "win": %d, "analysis": %s')
UDP_FMT = (',\n    {"frame": %d, "t": %.9f, "proto": "udp", "src": "%s", "sport": %d, '
           '"dst": "%s", "dport": %d, "stream": %d, "flags": [], "seq": null, "ack": null, '
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
        self.mid_row: dict[int, int] = {}
        self.midT = np.zeros((0, 0), dtype=np.uint8)
        self.midL = np.zeros(0, dtype=I64)
        self.n_mid = 0
        self.store: dict = {}

    def _mid(self, key: int) -> bytes:
        """`, "proto": ... "flags": [...], "seq": ` of a (stream, direction, flags) key."""
        acc = self.eng._tcp_accs[key >> 9]
        ep = (key >> 8) & 1
        return (', "proto": "tcp", "src": "%s", "sport": %d, "dst": "%s", "dport": %d, '
                '"stream": %d, "flags": %s, "seq": ' % (
                    acc.addr[ep], acc.port[ep], acc.addr[1 - ep], acc.port[1 - ep], acc.id,
                    self.flags_json[key & 255])).encode()

    def _mid_rows(self, keys: list[int]):
        """Rows of the persistent table of middle parts for these keys (added as needed)."""
        get = self.mid_row.get
        idx = [get(x, -1) for x in keys]
        new = [x for x, i in zip(keys, idx) if i < 0]
        if new:
            texts = [self._mid(x) for x in new]
            n0 = self.n_mid
            n1 = n0 + len(new)
            w = max(map(len, texts))
            T, L = self.midT, self.midL
            if n1 > T.shape[0] or w > T.shape[1]:  # grow geometrically
                T = np.zeros((max(2 * n1, 1024), max(w, T.shape[1])), dtype=np.uint8)
                T[:n0, :self.midT.shape[1]] = self.midT[:n0]
                L = np.zeros(len(T), dtype=I64)
                L[:n0] = self.midL[:n0]
                self.midT, self.midL = T, L
            for i, b in enumerate(texts):
                T[n0 + i, :len(b)] = np.frombuffer(b, dtype=np.uint8)
                L[n0 + i] = len(b)
                self.mid_row[new[i]] = n0 + i
            self.n_mid = n1
            idx = [get(x) for x in keys]
        return np.array(idx, dtype=I64)

    def render(self, o: Out) -> str:
        return "".join(str(b, "ascii") for b in self.render_bytes(o))

    def render_bytes(self, o: Out) -> list:
        """The chunk's lines as a list of bytes-like pieces (valid until the next call)."""
        c = o.c
        n = c.n
        if n == 0:
            return []
        first = o.ch.first
        ok_t, r_all = c.times if c.times is not None else _time_parts(o.t)
        regular = (c.proto == P_TCP) & (o.ack >= 0) & (o.length >= 0) & ok_t
        regular &= o.bits == 0
        for j in c.decoded:
            if c.decoded[j].notes:
                regular[j] = False
        rows = np.flatnonzero(regular)
        k = len(rows)
        if k:
            ti, tf = np.divmod(r_all[rows], 1_000_000_000)
            key = (o.stream[rows] * 2 + o.ep[rows]) * 256 + c.flags[rows]
            uk, minv = np.unique(key, return_inverse=True)
            ridx = self._mid_rows(uk.tolist())
            R = _Rows(k, self.store)
            R.const(b',\n    {"frame": ')
            R.digits(rows + first)
            R.const(b', "t": ')
            R.digits(ti)
            R.const(b".")
            R.digits(tf, 9, pad=True)
            R.table(self.midT, self.midL, ridx[minv.reshape(-1)])
            R.digits(o.seq[rows])
            R.const(b', "ack": ')
            R.digits(o.ack[rows])
            R.const(b', "len": ')
            R.digits(o.length[rows])
            R.const(b', "win": ')
            R.digits(o.win[rows])
            R.const(b', "analysis": []}')
            body, rowlen = R.render()
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
        p = int(c.proto[j])
        if p == P_TCP:
            src, dst = A.str(int(c.src[j])), A.str(int(c.dst[j]))
            ack = int(o.ack[j])
            ln = int(o.length[j])
            line = TCP_FMT % (n, t, src, int(c.sport[j]), dst, int(c.dport[j]), int(o.stream[j]),
                              self.flags_json[int(c.flags[j])], int(o.seq[j]),
                              "null" if ack < 0 else ack, "null" if ln < 0 else ln, int(o.win[j]),
                              self.tags_json(int(o.bits[j])))
        elif p == P_UDP:
            src, dst = A.str(int(c.src[j])), A.str(int(c.dst[j]))
            ln = int(o.length[j])
            line = UDP_FMT % (n, t, src, int(c.sport[j]), dst, int(c.dport[j]), int(o.stream[j]),
                              "null" if ln < 0 else ln)
        else:
            line = OTHER_FMT % (n, t, d.proto, "null" if d.src is None else '"%s"' % d.src,
                                "null" if d.dst is None else '"%s"' % d.dst)
        if d is not None and d.notes:
            import json
            line += ', "notes": ' + json.dumps(list(d.notes), separators=(", ", ": "))
        return line + "}"
