"""The kernel's TCP state recorded during a trace (the capture's `kstate` metadata), as series.

The tracer's sampler (tracer/kstate.py) stores, per connection and host,
columns of samples: cwnd, ssthresh, unacked, outstanding bytes, srtt, rttvar,
rto, ca_state, snd_wnd, rcv_wnd, ... each with its source (sock_diag poll,
tcp_probe per received segment, tcp_cong_state_set per state change) and a
CLOCK_REALTIME stamp, the frames' clock.  Here they become immutable series
on the analysis' time axis (seconds since the first frame), matched to the
capture's TCP streams, for `synack analyze` and the figures (viz.tcpgraphs).
Pure: reads only the already checked metadata.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from viz.model import Analysis, TcpFrames


class CaState(enum.IntEnum):
    """Linux's congestion-control states (include/net/tcp.h, TCP_CA_*)."""

    Open = 0
    Disorder = 1
    CWR = 2
    Recovery = 3
    Loss = 4


SOURCES = ("sock_diag", "tcp_probe", "tcp_cong_state_set")
NUMERIC = ("cwnd", "ssthresh", "unacked", "outstanding", "srtt_us", "rttvar_us", "rto_us", "snd_wnd",
           "rcv_wnd", "mss", "retrans", "lost", "sacked")
SSTHRESH_INFINITE = 0x7FFFFFFF  # TCP_INFINITE_SSTHRESH: "not set yet"


@dataclass(frozen=True, slots=True)
class KernelSeries:
    """One host's samples of one connection; `t` in seconds since the capture's first frame.

    `columns[name][i]` is None where sample i's source does not carry that field."""

    host: str
    cc: str | None
    src: str
    sport: int
    dst: str
    dport: int
    stream: int | None
    t: tuple[float, ...]
    source: tuple[int, ...]  # index into SOURCES per sample
    columns: dict[str, tuple[Any, ...]]

    def values(self, name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(t, value) of the samples that carry `name`, ssthresh 'infinite' left out.

        tcp_probe's ssthresh is tcp_current_ssthresh() (at least 3/4 cwnd outside a window
        reduction), not snd_ssthresh: ssthresh comes from sock_diag's tcp_info only."""
        col = self.columns.get(name, ())
        ts, vs = [], []
        for t, v, src in zip(self.t, col, self.source):
            if v is None or (name == "ssthresh" and (v >= SSTHRESH_INFINITE or src == 1)):
                continue
            ts.append(t)
            vs.append(v)
        return tuple(ts), tuple(vs)

    def ca_intervals(self) -> tuple[tuple[float, float, CaState], ...]:
        """(start, end, state) spans of the congestion-control state, from every source."""
        spans = []
        cur: CaState | None = None
        start = 0.0
        for t, v in zip(self.t, self.columns.get("ca_state", ())):
            if v is None or not 0 <= v <= 4:
                continue
            st = CaState(v)
            if st != cur:
                if cur is not None:
                    spans.append((start, t, cur))
                cur, start = st, t
        if cur is not None and self.t:
            spans.append((start, self.t[-1], cur))
        return tuple(spans)

    @property
    def label(self) -> str:
        return f"{self.host} {self.src}:{self.sport} -> {self.dst}:{self.dport}"


@dataclass(frozen=True, slots=True)
class KernelState:
    source: str  # "tcp_probe+sock_diag" | "sock_diag"
    note: str | None
    poll_hz: int
    series: tuple[KernelSeries, ...]

    def of(self, host: str | None = None, stream: int | None = None) -> tuple[KernelSeries, ...]:
        return tuple(s for s in self.series if (host is None or s.host == host)
                     and (stream is None or s.stream == stream))


def kernel_state(meta: dict, t0: float, streams) -> KernelState | None:
    """The capture's recorded kernel state, or None (not a synack capture, or traced without it);
    `t0`: the first frame's time, `streams`: the capture's (viz.model.Stream)."""
    ends = [(s.id, s.client.addr, s.client.port, s.server.addr, s.server.port)
            for s in streams if s.proto == "tcp"]
    return from_meta(meta, t0, ends)


def from_meta(meta: dict, t0: float, ends: list[tuple[int, str, int, str, int]]) -> KernelState | None:
    """The same from the metadata, the first frame's time and the TCP streams' (id, a, aport, b, bport)."""
    k = meta.get("kstate")
    if not isinstance(k, dict) or not isinstance(k.get("conns"), list):
        return None
    streams = {}
    for sid, a, ap, b, bp in ends:
        streams[(str(a), ap, str(b), bp)] = sid
        streams[(str(b), bp, str(a), ap)] = sid
    fields = k.get("fields") or []
    out = []
    for c in k["conns"]:
        samples = c.get("samples") or {}
        ts = samples.get("ts") or []
        base = int(c.get("t0_s", 0)) + int(c.get("t0_ns", 0)) / 1e9
        t = tuple(round(base - t0 + v / 1e9, 9) for v in ts)
        cols = {name: tuple(samples.get(name) or (None,) * len(t)) for name in fields
                if name not in ("ts", "src")}
        key = (c.get("src"), c.get("sport"), c.get("dst"), c.get("dport"))
        out.append(KernelSeries(str(c.get("host", "")), c.get("cc"), str(c.get("src")), int(c.get("sport") or 0),
                                str(c.get("dst")), int(c.get("dport") or 0), streams.get(key), t,
                                tuple(samples.get("src") or (0,) * len(t)), cols))
    return KernelState(str(k.get("source", "sock_diag")), k.get("note"), int(k.get("poll_hz") or 0), tuple(out))


def sender(ks: KernelState, an: Analysis | TcpFrames, stream: int | None = None) -> KernelSeries | None:
    """The series of the end that sent the most data on `stream` (default: the busiest stream)."""
    tcp = [s for s in an.streams if s.proto == "tcp" and (stream is None or s.id == stream)]
    if not tcp:
        return None
    s = max(tcp, key=lambda s: s.bytes_c2s + s.bytes_s2c)
    addr, port = (s.client.addr, s.client.port) if s.bytes_c2s >= s.bytes_s2c else (s.server.addr, s.server.port)
    for k in ks.series:
        if k.stream == s.id and k.src == addr and k.sport == port:
            return k
    return None


# --- exports ---------------------------------------------------------------------

def json_obj(ks: KernelState) -> dict[str, Any]:
    """The `kstate` addition to analysis/1 JSON (README: "Kernel TCP state")."""
    names = ("t", "source", "ca_state", *NUMERIC)
    conns = []
    for s in ks.series:
        rows = []
        for i, t in enumerate(s.t):
            ca = s.columns.get("ca_state", ())[i] if s.columns.get("ca_state") else None
            rows.append([t, SOURCES[s.source[i]] if 0 <= s.source[i] < 3 else "?",
                         CaState(ca).name if ca is not None and 0 <= ca <= 4 else None,
                         *(s.columns.get(n, (None,) * len(s.t))[i] for n in NUMERIC)])
        conns.append({"host": s.host, "cc": s.cc, "src": s.src, "sport": s.sport, "dst": s.dst,
                      "dport": s.dport, "stream": s.stream, "fields": list(names), "samples": rows})
    return {"source": ks.source, "note": ks.note, "poll_hz": ks.poll_hz, "conns": conns}


def text(ks: KernelState) -> str:
    """What `synack analyze` prints: per connection its algorithm, the ranges and the CA states."""
    lines = [f"\nkernel TCP state ({ks.source}{', ' + ks.note if ks.note else ''}; "
             f"sock_diag polled at {ks.poll_hz} Hz):"]
    for s in ks.series:
        lines.append(f"  {s.label} (stream {'-' if s.stream is None else s.stream}), {s.cc or '?'}: "
                     f"{len(s.t)} samples")
        for name, unit, scale in (("cwnd", "segments", 1), ("ssthresh", "segments", 1),
                                  ("srtt_us", "ms", 1e3), ("rto_us", "ms", 1e3),
                                  ("snd_wnd", "bytes", 1), ("rcv_wnd", "bytes", 1)):
            _, v = s.values(name)
            if v:
                lo, hi = min(v) / scale, max(v) / scale
                fmt = (lambda x: f"{x:.2f}") if scale != 1 else (lambda x: f"{x:.0f}")
                lines.append(f"    {name.removesuffix('_us'):9s} {fmt(lo)}-{fmt(hi)} {unit}")
        spans = s.ca_intervals()
        changes = [f"{a * 1e3:.1f} ms {st.name}" for a, _b, st in spans]
        if changes:
            shown = changes[:12] + ([f"... {len(changes) - 12} more"] if len(changes) > 12 else [])
            lines.append("    ca_state  " + ", ".join(shown))
    return "\n".join(lines) + "\n"

