"""`synack graph --kind tsg|cwnd|throughput|rtt`: read, compute (viz.tcpgraphs), draw or print."""
from __future__ import annotations

from viz import tcpgraphs as tg
from viz.errors import SynackError


def load(path: str):
    """The capture's TCP frames as the engine's columns (viz.analysis.tcp_frames)."""
    from viz.analysis import tcp_frames
    from viz.capture import open_capture

    with open_capture(path) as cap:
        return tcp_frames(cap, path=path)


def series(kind: str, paths: list[str], stream=None, style="tcptrace", time=None, frames=None):
    """What the figure of `kind` draws (viz.tcpgraphs' series), from the capture files."""
    if kind == "cwnd":
        return tg.cwnd_figure([load(p) for p in paths], stream, time)
    an = load(paths[0])
    if kind == "tsg":
        return tg.tsg(an, stream, time, frames)
    if kind == "throughput":
        return tg.throughput(an, stream, time)
    if kind == "rtt":
        return tg.rtt(an, stream, time)
    raise SynackError(f"graph kind {kind!r}: choose from {', '.join(tg.KINDS)}")


def figure(kind: str, paths: list[str], th, size, stream=None, style="tcptrace", time=None, frames=None):
    """The matplotlib Figure of one kind (the API and the build call this too).  The captures
    are read and analysed in a second process while this one imports matplotlib (each takes
    seconds for a 100,000-segment transfer; the series come back as a pickle)."""
    from viz.capture import Forked

    with Forked(lambda: series(kind, paths, stream, style, time, frames)) as pending:
        from viz import tcpgraphs_mpl as R
        import matplotlib.figure  # noqa: F401  (what drawing costs to import, done meanwhile)
        data = pending.result()
    if kind == "cwnd":
        return R.render_cwnd(data, th, size)
    if kind == "tsg":
        return R.render_tsg(data, th, size, style)
    if kind == "throughput":
        return R.render_throughput(data, th, size)
    return R.render_rtt(data, th, size)


def text(kind: str, paths: list[str], stream=None, time=None, frames=None) -> str:
    """Without -o: the series as a short table (what the figure would show)."""
    lines = []
    if kind == "cwnd":
        f = tg.cwnd_figure([load(p) for p in paths], stream, time)
        lines.append(f.title)
        for s in f.series:
            t, v = s.cwnd if s.recorded else s.inflight
            what = "cwnd (kernel)" if s.recorded else "bytes in flight / MSS (estimated from the capture)"
            lines.append(f"{s.label} [{s.cc or '?'}]: {what}, {len(t)} samples"
                         + (f", max {max(v):.0f} segments" if v else ""))
            for a, b, st in s.states:
                if st != "Open":
                    lines.append(f"  {a * 1e3:9.1f}-{b * 1e3:9.1f} ms  {st}")
        return "\n".join(lines) + "\n"
    an = load(paths[0])
    if kind == "tsg":
        g = tg.tsg(an, stream, time, frames)
        lines.append(g.title)
        lines.append(f"{len(g.seg_t)} segments ({sum(g.seg_retrans)} retransmitted), {len(g.ack_t)} ACKs, "
                     f"{len(g.sack)} SACK blocks")
        for t, y, what in g.events:
            lines.append(f"  {t * 1e3:9.3f} ms  seq {y:>10}  {what}")
    elif kind == "throughput":
        r = tg.throughput(an, stream, time)
        lines.append(r.title)
        lines += [f"  {t * 1e3:9.1f} ms  sent {s / 1e6:8.3f} Mbit/s  acked {a / 1e6:8.3f} Mbit/s"
                  for t, s, a in zip(r.t, r.sent, r.acked)]
    else:
        r = tg.rtt(an, stream, time)
        lines.append(r.title)
        if r.rtt:
            lines.append(f"{len(r.rtt)} samples, min {min(r.rtt) * 1e3:.3f} ms, max {max(r.rtt) * 1e3:.3f} ms")
    return "\n".join(lines) + "\n"
