"""Congestion and flow control figures as series: the time-sequence graph, cwnd, throughput, RTT.

tcptrace and Wireshark draw these from a capture; synack also has the
sender's kernel state (viz.kstate) recorded on the frames' clock, so the
congestion window is the kernel's, not a guess.  Everything here is pure:
series computed from the engine's per-frame columns of the capture's TCP frames
(viz.model.TcpFrames, made by viz.analysis.tcp_frames: a figure of a
100,000-segment transfer reads every frame of its stream, so no Packet is made;
SACK blocks are the decoder's), drawn by viz.tcpgraphs_mpl.  Times are seconds since
the capture's first frame; sequence numbers are relative (tshark's rule).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from viz import kstate as ksmod
from viz.errors import SynackError
from viz.model import Flag, Stream, Tag, TcpFrames
from viz.tcp_analysis import TAG_NAMES

KINDS = ("tsg", "cwnd", "throughput", "rtt")
STYLES = ("tcptrace", "stevens")
RETRANS = (Tag.RETRANSMISSION, Tag.FAST_RETRANSMISSION, Tag.SPURIOUS_RETRANSMISSION)
SYN_FIN = int(Flag.SYN | Flag.FIN)
ACK = int(Flag.ACK)


def _bit(tag: Tag) -> int:
    return 1 << TAG_NAMES.index(tag.value)


RETRANS_BITS = sum(_bit(t) for t in RETRANS)


# --- choosing what to draw -----------------------------------------------------------

def data_stream(an: TcpFrames, sid: int | None = None) -> Stream:
    """The TCP stream to draw: --stream N, else the one that carried the most bytes."""
    tcp = [s for s in an.streams if s.proto == "tcp"]
    if sid is not None:
        for s in tcp:
            if s.id == sid:
                return s
        raise SynackError(f"--stream {sid}: no such TCP stream (the capture has {len(tcp)})")
    if not tcp:
        raise SynackError(f"{an.capture.path or 'capture'}: no TCP stream to draw")
    return max(tcp, key=lambda s: (s.bytes_c2s + s.bytes_s2c, -s.id))


def sender_is_client(s: Stream) -> bool:
    return s.bytes_c2s >= s.bytes_s2c


def parse_time(text: str | None) -> tuple[float, float] | None:
    """`--time A-B` in milliseconds (either end may be left out) -> seconds."""
    if text is None:
        return None
    a, sep, b = text.partition("-")
    try:
        lo = float(a) / 1e3 if a.strip() else 0.0
        hi = float(b) / 1e3 if sep and b.strip() else float("inf")
    except ValueError:
        raise SynackError(f"--time {text!r}: expected START-END in milliseconds, e.g. 100-250") from None
    if not sep or hi <= lo:
        raise SynackError(f"--time {text!r}: expected START-END in milliseconds with START < END, e.g. 100-250")
    return lo, hi


@dataclass(frozen=True, slots=True)
class _Rows:
    """One stream's frames (in a time or frame window) as lists; `out`: sent by the data sender."""

    frame: list
    t: list
    out: list
    seq: list
    seq_raw: list
    ack: list  # -1: no ACK flag
    len: list  # -1: unknown
    win: list
    flags: list
    bits: list


def _rows(an: TcpFrames, s: Stream, fwd, time: tuple[float, float] | None = None,
          frames: tuple[int, int] | None = None) -> _Rows:
    m = an.stream == s.id
    if time is not None:
        m &= (an.t >= time[0]) & (an.t <= time[1])
    if frames is not None:
        m &= (an.frame >= frames[0]) & (an.frame <= frames[1])
    i = m.nonzero()[0]
    out = (an.src[i] == an.addr_id(fwd.addr)) & (an.sport[i] == fwd.port)
    return _Rows(an.frame[i].tolist(), an.t[i].tolist(), out.tolist(), an.seq[i].tolist(),
                 an.seq_raw[i].tolist(), an.ack[i].tolist(), an.len[i].tolist(), an.win[i].tolist(),
                 an.flags[i].tolist(), an.bits[i].tolist())


def caption(meta: dict) -> str:
    """What the figure says about the TCP that made it (the trace's --cc and --tcp)."""
    tcp = meta.get("tcp") if isinstance(meta, dict) else None
    if not isinstance(tcp, dict):
        return ""
    cc = tcp.get("cc") or "the kernel's default congestion control"
    if tcp.get("profile") == "textbook":
        return (f"textbook TCP, {cc}: no SACK, timestamps, RACK, TLP, F-RTO or ECN, so 3 duplicate ACKs "
                "trigger a fast retransmission (Linux keeps IW10 and NewReno recovery)")
    return f"Linux TCP, {cc}"


def _with_cc(meta: dict, cc: str) -> dict:
    """`meta` as if its TCP had run `cc` (several algorithms' captures captioned as one)."""
    tcp = meta.get("tcp")
    return {**meta, "tcp": {**tcp, "cc": cc}} if isinstance(tcp, dict) and tcp.get("cc") else meta


def short_caption(meta: dict) -> str:
    """The ladder caption's words for a TCP chosen with --tcp or --cc ('' for the kernel's default)."""
    tcp = meta.get("tcp") if isinstance(meta, dict) else None
    if not isinstance(tcp, dict) or not isinstance(tcp.get("sysctls"), dict) or not tcp["sysctls"]:
        return ""
    if tcp.get("profile") == "textbook":
        return f"textbook TCP ({tcp.get('cc') or 'reno'}, no SACK/RACK: fast retransmit after 3 dup ACKs)"
    return f"{tcp.get('cc')} congestion control"


# --- the time-sequence graph -----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Tsg:
    """One direction's data and the other direction's ACKs (Stevens, tcptrace)."""

    title: str
    caption: str
    sender: str
    receiver: str
    seg_frame: tuple[int, ...]
    seg_t: tuple[float, ...]
    seg_seq: tuple[int, ...]  # relative, tshark's tcp.seq
    seg_len: tuple[int, ...]
    seg_retrans: tuple[bool, ...]
    ack_frame: tuple[int, ...]
    ack_t: tuple[float, ...]
    ack: tuple[int, ...]  # tshark's tcp.ack
    win: tuple[int, ...]  # tshark's tcp.window_size (scaled)
    sack: tuple[tuple[float, int, int], ...]  # (t, left, right), relative
    events: tuple[tuple[float, int, str], ...]  # (t, seq, what): zero window, dup ACK, lost, RTO
    dup_acks: tuple[tuple[float, int], ...]


def tsg(an: TcpFrames, sid: int | None = None, time: tuple[float, float] | None = None,
        frames: tuple[int, int] | None = None) -> Tsg:
    s = data_stream(an, sid)
    fwd = s.client if sender_is_client(s) else s.server
    seg_f, seg_t, seg_q, seg_l, seg_r = [], [], [], [], []
    ack_f, ack_t, ack_v, win_v = [], [], [], []
    sacks, events, dups, retrans = [], [], [], []
    isn = None
    zero, dup = _bit(Tag.ZERO_WINDOW), _bit(Tag.DUP_ACK)
    sack = an.sack
    r = _rows(an, s, fwd, time, frames)
    for f, t, out, seq, raw, ack, ln, win, fl, bits in zip(r.frame, r.t, r.out, r.seq, r.seq_raw, r.ack, r.len,
                                                          r.win, r.flags, r.bits):
        if out:
            if isn is None:
                isn = (raw - seq) & 0xFFFFFFFF
            if ln > 0 or fl & SYN_FIN:
                seg_f.append(f)
                seg_t.append(t)
                seg_q.append(seq)
                seg_l.append(ln if ln > 0 else 0)
                seg_r.append(bool(bits & RETRANS_BITS))
                if bits & RETRANS_BITS:
                    retrans.append((t, seq, bits))
        elif fl & ACK and ack >= 0:
            ack_f.append(f)
            ack_t.append(t)
            ack_v.append(ack)
            win_v.append(win)
            if bits & zero:
                events.append((t, ack, "zero window"))
            if bits & dup:
                dups.append((t, ack))
            for left, right in sack.get(f, ()):
                sacks.append((t, left, right))
    if isn is not None and sacks:
        sacks = [(t, (lo - isn) & 0xFFFFFFFF, (hi - isn) & 0xFFFFFFFF) for t, lo, hi in sacks]
    else:
        sacks = []
    for t, seq, bits in retrans:
        tag = next(x for x in RETRANS if bits & _bit(x))
        events.append((t, seq, {"fast_retransmission": "fast retransmit",
                                "spurious_retransmission": "spurious"}.get(tag.value, "retransmit")))
    for d in (an.capture.meta or {}).get("dropped") or ():
        t = d.get("ts", 0) - an.t0
        if (time is None or time[0] <= t <= time[1]) and seg_t:
            near = min(range(len(seg_t)), key=lambda i: abs(seg_t[i] - t))
            if abs(seg_t[near] - t) < 1e-3:
                events.append((seg_t[near], seg_q[near], "dropped"))
    rev = s.server if fwd is s.client else s.client
    name = (an.capture.path or "capture").rsplit("/", 1)[-1]
    return Tsg(f"Time-sequence graph: {fwd} -> {rev} (stream {s.id}, {name})", caption(an.capture.meta or {}),
               str(fwd), str(rev), tuple(seg_f), tuple(seg_t), tuple(seg_q), tuple(seg_l), tuple(seg_r),
               tuple(ack_f), tuple(ack_t), tuple(ack_v), tuple(win_v), tuple(sacks),
               tuple(sorted(events)), tuple(dups))


DRAW_BINS = 2000  # columns of the time axis a slide can show apart (13.33 in at 150 dpi)


def decimate_bars(t: tuple[float, ...], lo: tuple[int, ...], hi: tuple[int, ...],
                  bins: int = DRAW_BINS) -> tuple[list[float], list[int], list[int]]:
    """Bars (t, lo..hi) merged per 1/`bins` of the time span: above `bins` segments a figure cannot
    show two in one column apart, and drawing them one by one costs seconds per 100,000.  Each
    column's bar spans from its lowest to its highest byte, so no byte drawn is lost or moved
    by more than a column."""
    if len(t) <= bins * 2:
        return list(t), list(lo), list(hi)
    t0, span = t[0], (t[-1] - t[0]) or 1.0
    cols: dict[int, list] = {}
    for x, a, b in zip(t, lo, hi):
        k = int((x - t0) / span * bins)
        c = cols.get(k)
        if c is None:
            cols[k] = [x, a, b]
        else:
            if a < c[1]:
                c[1] = a
            if b > c[2]:
                c[2] = b
    keys = sorted(cols)
    return [cols[k][0] for k in keys], [cols[k][1] for k in keys], [cols[k][2] for k in keys]


def decimate_steps(t: tuple[float, ...], v: tuple[int, ...], bins: int = DRAW_BINS) -> tuple[list, list]:
    """A step line (ACKs, the window edge) kept to each column's first and last value and its extremes."""
    if len(t) <= bins * 4:
        return list(t), list(v)
    t0, span = t[0], (t[-1] - t[0]) or 1.0
    keep: list[int] = []
    last_k, first, lo, hi = None, 0, 0, 0
    for i, x in enumerate(t):
        k = int((x - t0) / span * bins)
        if k != last_k:
            if last_k is not None:
                keep += sorted({first, lo, hi, i - 1})
            last_k, first, lo, hi = k, i, i, i
        else:
            if v[i] < v[lo]:
                lo = i
            if v[i] > v[hi]:
                hi = i
    keep += sorted({first, lo, hi, len(t) - 1})
    return [t[i] for i in keep], [v[i] for i in keep]


# --- cwnd -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CwndSeries:
    """The sender's window over time: the kernel's (recorded) or estimated from the capture."""

    label: str
    recorded: bool  # False: estimated from the capture (bytes in flight), as Wireshark does
    mss: int
    cc: str | None
    cwnd: tuple[tuple[float, ...], tuple[float, ...]]  # (t, segments)
    ssthresh: tuple[tuple[float, ...], tuple[float, ...]]
    inflight: tuple[tuple[float, ...], tuple[float, ...]]  # segments (bytes / mss)
    rwnd: tuple[tuple[float, ...], tuple[float, ...]]  # the receiver's advertised window, segments
    states: tuple[tuple[float, float, str], ...]  # (start, end, CA state name)
    losses: tuple[float, ...]  # retransmission times (from the capture)


@dataclass(frozen=True, slots=True)
class CwndFigure:
    title: str
    caption: str
    series: tuple[CwndSeries, ...]


def _mss(s: Stream, client_sends: bool) -> int:
    o = s.syn_options.get("server" if client_sends else "client")
    mine = s.syn_options.get("client" if client_sends else "server")
    m = min(x.mss for x in (o, mine) if x is not None and x.mss) if any(
        x is not None and x.mss for x in (o, mine)) else 1460
    return m


def _losses(r: _Rows) -> tuple[float, ...]:
    return tuple(t for t, out, bits in zip(r.t, r.out, r.bits) if out and bits & RETRANS_BITS)


def estimated_inflight(r: _Rows) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """Wireshark's tcp.analysis.bytes_in_flight at each data segment: (times, bytes)."""
    high = None
    acked = None
    ts, vals = [], []
    for t, out, seq, ack, ln, fl in zip(r.t, r.out, r.seq, r.ack, r.len, r.flags):
        if out:
            if ln > 0:
                end = seq + ln
                high = end if high is None or end > high else high
                base = acked if acked is not None else 1
                ts.append(t)
                vals.append(high - base)
        elif ack >= 0 and fl & ACK:
            acked = ack if acked is None or ack > acked else acked
    return tuple(ts), tuple(vals)


def kernel_state(an: TcpFrames) -> ksmod.KernelState | None:
    """The capture's recorded kernel state (viz.kstate), or None."""
    return ksmod.kernel_state(an.capture.meta or {}, an.t0, an.streams)


def cwnd_series(an: TcpFrames, sid: int | None = None, time: tuple[float, float] | None = None,
                label: str | None = None) -> CwndSeries:
    s = data_stream(an, sid)
    client_sends = sender_is_client(s)
    fwd = s.client if client_sends else s.server
    mss = _mss(s, client_sends)
    r = _rows(an, s, fwd)
    losses = _losses(r)
    cc = ((an.capture.meta or {}).get("tcp") or {}).get("cc") if isinstance((an.capture.meta or {}).get("tcp"),
                                                                          dict) else None
    name = label or (an.capture.path or "capture").rsplit("/", 1)[-1]

    def clip(pair):
        t, v = pair
        if time is None:
            return tuple(t), tuple(v)
        keep = [i for i, x in enumerate(t) if time[0] <= x <= time[1]]
        return tuple(t[i] for i in keep), tuple(v[i] for i in keep)

    ks = kernel_state(an)
    k = None
    if ks is not None:
        k = next((x for x in ks.series if x.stream == s.id and x.src == fwd.addr and x.sport == fwd.port), None)
    if k is not None:
        m = next((v for v in reversed(k.columns.get("mss", ())) if v), mss)  # 536 until the handshake ends
        cwnd = k.values("cwnd")
        ssth = k.values("ssthresh")
        out_t, out_v = k.values("outstanding")
        rw_t, rw_v = k.values("snd_wnd")
        states = tuple((a, b, st.name) for a, b, st in k.ca_intervals()
                       if time is None or (b >= time[0] and a <= time[1]))
        return CwndSeries(name, True, m, k.cc or cc, clip(cwnd), clip(ssth),
                          clip((out_t, tuple(v / m for v in out_v))),
                          clip((rw_t, tuple(v / m for v in rw_v))), states,
                          tuple(t for t in losses if time is None or time[0] <= t <= time[1]))
    t, v = estimated_inflight(r)
    rw_t, rw_v = [], []
    for x, out, win, fl in zip(r.t, r.out, r.win, r.flags):
        if not out and fl & ACK:
            rw_t.append(x)
            rw_v.append(win / mss)
    return CwndSeries(name, False, mss, cc, ((), ()), ((), ()), clip((t, tuple(x / mss for x in v))),
                      clip((tuple(rw_t), tuple(rw_v))), (),
                      tuple(x for x in losses if time is None or time[0] <= x <= time[1]))


def cwnd_figure(analyses: list[TcpFrames], sid: int | None = None,
                time: tuple[float, float] | None = None) -> CwndFigure:
    """One capture's cwnd, or several (e.g. reno, cubic, bbr) on shared axes."""
    series = []
    for an in analyses:
        series.append(cwnd_series(an, sid, time))
    if len(series) == 1:
        s = series[0]
        what = "recorded by the kernel" if s.recorded else \
            "ESTIMATED from the capture (bytes in flight, as Wireshark; no kernel samples recorded)"
        title = f"Congestion window of the sender, {what}: {s.label}"
        cap = caption(analyses[0].capture.meta or {})
    else:
        # the files are in the legend: a slide's title and caption say what differs, once
        title = "Congestion window of the sender under " + ", ".join(
            f"{s.cc or '?'}" + ("" if s.recorded else " (ESTIMATED from the capture)") for s in series)
        ccs = ", ".join(dict.fromkeys(s.cc or "?" for s in series))
        caps = [caption(_with_cc(a.capture.meta or {}, ccs)) for a in analyses]
        cap = "; ".join(dict.fromkeys(c for c in caps if c))
    return CwndFigure(title, cap, tuple(series))


# --- throughput and RTT ------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Rate:
    title: str
    caption: str
    bin_s: float
    t: tuple[float, ...]  # bin starts
    sent: tuple[float, ...]  # bit/s of data sent (retransmissions included)
    acked: tuple[float, ...]  # bit/s newly acknowledged (goodput)


def throughput(an: TcpFrames, sid: int | None = None, time: tuple[float, float] | None = None,
               bins: int = 100) -> Rate:
    s = data_stream(an, sid)
    fwd = s.client if sender_is_client(s) else s.server
    r = _rows(an, s, fwd, time)
    if not r.t:
        raise SynackError(f"{an.capture.path or 'capture'}: no frames of stream {s.id} in that time")
    t0, t1 = r.t[0], r.t[-1]
    width = max((t1 - t0) / bins, 1e-3)
    n = int((t1 - t0) / width) + 1
    sent = [0.0] * n
    acked = [0.0] * n
    high = None
    for t, out, ack, ln, fl in zip(r.t, r.out, r.ack, r.len, r.flags):
        i = min(int((t - t0) / width), n - 1)
        if out:
            sent[i] += (ln if ln > 0 else 0) * 8
        elif ack >= 0 and fl & ACK:
            if high is not None and ack > high:
                acked[i] += (ack - high) * 8
            high = ack if high is None or ack > high else high
    return Rate(f"Throughput of {fwd} (stream {s.id}, bins of {width * 1e3:.1f} ms)",
                caption(an.capture.meta or {}), width, tuple(t0 + i * width for i in range(n)),
                tuple(x / width for x in sent), tuple(x / width for x in acked))


@dataclass(frozen=True, slots=True)
class RttSeries:
    title: str
    caption: str
    t: tuple[float, ...]  # ACK times
    rtt: tuple[float, ...]  # seconds: ACK time - send time of the segment it acknowledges (Karn)
    srtt: tuple[tuple[float, ...], tuple[float, ...]]  # the kernel's smoothed RTT (s), if recorded
    rto: tuple[tuple[float, ...], tuple[float, ...]]


def rtt(an: TcpFrames, sid: int | None = None, time: tuple[float, float] | None = None) -> RttSeries:
    """Per-ACK RTT samples as tshark's tcp.analysis.ack_rtt (an ACK covering a segment sent once)."""
    s = data_stream(an, sid)
    fwd = s.client if sender_is_client(s) else s.server
    sent: dict[int, tuple[float, bool]] = {}  # segment end -> (first send time, retransmitted)
    pending: list[int] = []
    import bisect
    ts, vs = [], []
    r = _rows(an, s, fwd)
    for t, out, seq, ack, ln, fl in zip(r.t, r.out, r.seq, r.ack, r.len, r.flags):
        if out:
            if ln > 0:
                end = seq + ln
                if end in sent:
                    sent[end] = (sent[end][0], True)
                else:
                    sent[end] = (t, False)
                    bisect.insort(pending, end)
        elif ack >= 0 and fl & ACK and pending:
            i = bisect.bisect_right(pending, ack)
            if i:
                covered = pending[:i]
                del pending[:i]
                first, retx = sent[covered[-1]]
                if not retx and not any(sent[e][1] for e in covered) and (
                        time is None or time[0] <= t <= time[1]):
                    ts.append(t)
                    vs.append(t - first)
    ks = kernel_state(an)
    srtt = rto = ((), ())
    if ks is not None:
        k = next((x for x in ks.series if x.stream == s.id and x.src == fwd.addr and x.sport == fwd.port), None)
        if k is not None:
            t_, v_ = k.values("srtt_us")
            keep = [(a, b / 1e6) for a, b in zip(t_, v_) if b and (time is None or time[0] <= a <= time[1])]
            srtt = (tuple(a for a, _ in keep), tuple(b for _, b in keep))
            t_, v_ = k.values("rto_us")
            keep = [(a, b / 1e6) for a, b in zip(t_, v_) if b and (time is None or time[0] <= a <= time[1])]
            rto = (tuple(a for a, _ in keep), tuple(b for _, b in keep))
    return RttSeries(f"Round-trip time of {fwd} (stream {s.id})", caption(an.capture.meta or {}),
                     tuple(ts), tuple(vs), srtt, rto)
