"""matplotlib renderers of viz.tcpgraphs: time-sequence, cwnd, throughput and RTT figures.

Slide-sized by default, every series told apart by line style or marker as
well as colour (greyscale-safe), time in milliseconds.  The segments of a
time-sequence graph are one compound path, not one artist each, so a
100,000-segment transfer draws (and writes as SVG) in a second.
"""
from __future__ import annotations

from viz.figure import Theme, new_figure
from viz.pages import SLIDE_SIZE
from viz.tcpgraphs import CwndFigure, Rate, RttSeries, Tsg, decimate_bars, decimate_steps

TITLE_SIZE = 15
LABEL_SIZE = 13
TICK_SIZE = 12
LEGEND_SIZE = 11.5
CAPTION_SIZE = 11
CAPTION_CHARS = 150  # of 11 pt italic across a 13.33 in slide
LINESTYLES = ("-", "--", ":", "-.")
STATE_HATCH = {"Disorder": "..", "CWR": "\\\\", "Recovery": "//", "Loss": "xx"}


def _frame(th: Theme, size, title: str, caption: str):
    fig = new_figure(size or SLIDE_SIZE, th)
    fig.text(0.06, 0.955, title, fontsize=TITLE_SIZE, fontweight="bold", color=th.foreground, va="center")
    if caption:  # wrapped: a slide cuts one long line off at its edge
        import textwrap

        lines = textwrap.wrap(caption, CAPTION_CHARS)
        fig.text(0.06, 0.03 if len(lines) == 1 else 0.012, "\n".join(lines), fontsize=CAPTION_SIZE,
                 color=th.muted, va="center" if len(lines) == 1 else "bottom", style="italic")
    ax = fig.add_axes((0.08, 0.13, 0.84, 0.76))
    ax.set_facecolor(th.background)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(th.foreground)
    ax.tick_params(colors=th.foreground, labelsize=TICK_SIZE)
    ax.grid(True, color=th.muted, alpha=0.25, linewidth=0.6)
    ax.set_xlabel("time (ms)", fontsize=LABEL_SIZE, color=th.foreground)
    return fig, ax


def _legend(ax, th: Theme, loc: str = "upper left"):
    leg = ax.legend(loc=loc, fontsize=LEGEND_SIZE, frameon=True, facecolor=th.background,
                    edgecolor=th.muted, labelcolor=th.foreground)
    leg.get_frame().set_alpha(0.92)
    return leg


def _bytes_formatter():
    from matplotlib.ticker import FuncFormatter

    def fmt(v, _pos):
        a = abs(v)
        if a >= 1e6:
            return f"{v / 1e6:g} M"
        if a >= 1e3:
            return f"{v / 1e3:g} k"
        return f"{v:g}"
    return FuncFormatter(fmt)


def _bars(xs, lo, hi, serifs: float = 0.0):
    """One Path of vertical bars (x, lo..hi), with I-beam serifs of half-width `serifs` (x units)."""
    import numpy as np
    from matplotlib.path import Path

    x = np.asarray(xs, dtype=float)
    a = np.asarray(lo, dtype=float)
    b = np.asarray(hi, dtype=float)
    n = len(x)
    if serifs > 0:
        verts = np.empty((n * 6, 2))
        verts[0::6] = np.c_[x, a]
        verts[1::6] = np.c_[x, b]
        verts[2::6] = np.c_[x - serifs, a]
        verts[3::6] = np.c_[x + serifs, a]
        verts[4::6] = np.c_[x - serifs, b]
        verts[5::6] = np.c_[x + serifs, b]
        codes = np.tile([Path.MOVETO, Path.LINETO] * 3, n)
    else:
        verts = np.empty((n * 2, 2))
        verts[0::2] = np.c_[x, a]
        verts[1::2] = np.c_[x, b]
        codes = np.tile([Path.MOVETO, Path.LINETO], n)
    return Path(verts, codes)


def render_tsg(g: Tsg, th: Theme, size=None, style: str = "tcptrace"):
    from matplotlib.lines import Line2D
    from matplotlib.patches import PathPatch

    fig, ax = _frame(th, size, g.title + (" (Stevens style)" if style == "stevens" else ""), g.caption)
    ms = [t * 1e3 for t in g.seg_t]
    new = [i for i, r in enumerate(g.seg_retrans) if not r]
    old = [i for i, r in enumerate(g.seg_retrans) if r]
    handles = []
    span = (max(ms) - min(ms)) if ms else 1.0
    if style == "stevens":
        pts = decimate_steps(tuple(ms[i] for i in new), tuple(g.seg_seq[i] for i in new))
        ax.plot(*pts, linestyle="none", marker="o", markersize=4,
                color=th.data, label="segment (starting sequence number)", zorder=3)
        if old:
            ax.plot([ms[i] for i in old], [g.seg_seq[i] for i in old], linestyle="none", marker="s", markersize=7,
                    markerfacecolor="none", markeredgewidth=1.6, color=th.alert, label="retransmission", zorder=4)
        if g.ack_t:
            ax.plot(*decimate_steps(tuple(t * 1e3 for t in g.ack_t), g.ack), drawstyle="steps-post",
                    linestyle="--", linewidth=1.2,
                    color=th.control, label="ACK (next byte expected)", zorder=2)
        _legend(ax, th)
    else:
        serif = span * 0.0015 if len(ms) <= 3000 else 0.0
        if new:
            bt, blo, bhi = decimate_bars(tuple(ms[i] for i in new), tuple(g.seg_seq[i] for i in new),
                                         tuple(g.seg_seq[i] + max(g.seg_len[i], 1) for i in new))
            ax.add_patch(PathPatch(_bars(bt, blo, bhi, serif),
                                   edgecolor=th.data, facecolor="none", linewidth=1.3, zorder=3))
            handles.append(Line2D([], [], color=th.data, linewidth=1.3, marker="|", markersize=9,
                                  label="segment (sequence range)"))
        if old:
            ax.add_patch(PathPatch(_bars([ms[i] for i in old], [g.seg_seq[i] for i in old],
                                         [g.seg_seq[i] + max(g.seg_len[i], 1) for i in old], serif * 1.6),
                                   edgecolor=th.alert, facecolor="none", linewidth=2.4, zorder=4))
            ax.plot([ms[i] for i in old], [g.seg_seq[i] + g.seg_len[i] for i in old], linestyle="none",
                    marker="$R$", markersize=9, color=th.alert, zorder=5)
            handles.append(Line2D([], [], color=th.alert, linewidth=2.4, marker="$R$", markersize=9,
                                  label="retransmission"))
        if g.ack_t:
            at = tuple(t * 1e3 for t in g.ack_t)
            ax.plot(*decimate_steps(at, g.ack), drawstyle="steps-post", linewidth=1.5, color=th.accent, zorder=2)
            handles.append(Line2D([], [], color=th.accent, linewidth=1.5, label="ACK (next byte expected)"))
            ax.plot(*decimate_steps(at, tuple(a + w for a, w in zip(g.ack, g.win))), drawstyle="steps-post",
                    linewidth=1.3, linestyle="--", color=th.muted, zorder=2)
            handles.append(Line2D([], [], color=th.muted, linewidth=1.3, linestyle="--",
                                  label="advertised window (ACK + rwnd)"))
        if g.sack:
            ax.add_patch(PathPatch(_bars([t * 1e3 for t, _a, _b in g.sack], [a for _t, a, _b in g.sack],
                                         [b for _t, _a, b in g.sack]),
                                   edgecolor=th.fills[4], facecolor="none", linewidth=4.0, zorder=1))
            handles.append(Line2D([], [], color=th.fills[4], linewidth=4.0, label="SACK block"))
        if g.dup_acks and len(g.dup_acks) <= 2000:
            ax.plot([t * 1e3 for t, _ in g.dup_acks], [a for _, a in g.dup_acks], linestyle="none", marker="_",
                    markersize=8, markeredgewidth=1.6, color=th.foreground, zorder=3)
            handles.append(Line2D([], [], linestyle="none", marker="_", markersize=8, markeredgewidth=1.6,
                                  color=th.foreground, label="duplicate ACK"))
    marks = {"zero window": ("v", th.alert), "dropped": ("X", th.alert)}
    for what, (m, c) in marks.items():
        pts = [(t * 1e3, y) for t, y, w in g.events if w == what]
        if not pts:
            continue
        face = th.background if what == "zero window" else c
        ax.plot([x for x, _ in pts], [y for _, y in pts], linestyle="none", marker=m, markersize=10, color=c,
                zorder=6, markerfacecolor=face)
        if style != "stevens":
            handles.append(Line2D([], [], linestyle="none", marker=m, markersize=10, color=c, markerfacecolor=face,
                                  label={"dropped": "segment dropped (fault)"}.get(what, what)))
    firsts = {}
    for t, y, what in g.events:
        if what in ("fast retransmit", "retransmit", "spurious") and what not in firsts:
            firsts[what] = (t, y)
    for what, (t, y) in firsts.items():
        ax.annotate(what, (t * 1e3, y), xytext=(14, -22), textcoords="offset points", fontsize=LEGEND_SIZE,
                    color=th.alert, arrowprops=dict(arrowstyle="->", color=th.alert, lw=1.0))
    if handles:
        ax.legend(handles=handles, loc="upper left", fontsize=LEGEND_SIZE, frameon=True,
                  facecolor=th.background, edgecolor=th.muted, labelcolor=th.foreground)
    ax.set_ylabel("relative sequence number (bytes)", fontsize=LABEL_SIZE, color=th.foreground)
    ax.yaxis.set_major_formatter(_bytes_formatter())
    ys = list(g.seg_seq) + [s + n for s, n in zip(g.seg_seq, g.seg_len)] + list(g.ack)
    if ms and ys:
        ax.set_xlim(min(ms + [t * 1e3 for t in g.ack_t]) - span * 0.02,
                    max(ms + [t * 1e3 for t in g.ack_t]) + span * 0.02)
        lo, hi = min(ys), max(ys)
        pad = max((hi - lo) * 0.04, 1)
        ax.set_ylim(lo - pad, hi + pad)  # the window line may run far above: the data sets the scale
    return fig


def _step(ax, t, v, **kw):
    if t:
        ax.plot([x * 1e3 for x in t], v, drawstyle="steps-post", **kw)


def render_cwnd(f: CwndFigure, th: Theme, size=None):
    from matplotlib.patches import Patch

    fig, ax = _frame(th, size, f.title, f.caption)
    ax.set_ylabel("segments", fontsize=LABEL_SIZE, color=th.foreground)
    colours = (th.data, th.alert, th.accent, th.foreground)
    top = 1.0
    if len(f.series) == 1:
        s = f.series[0]
        state_seen = []
        for a, b, st in s.states:
            if st == "Open":
                continue
            ax.axvspan(a * 1e3, b * 1e3, facecolor=th.fills[2], edgecolor=th.muted, hatch=STATE_HATCH.get(st, ""),
                       linewidth=0, alpha=0.6, zorder=0)
            if st not in state_seen:
                state_seen.append(st)
        if s.recorded:
            _step(ax, *s.cwnd, linewidth=2.4, color=th.data, label="cwnd (kernel)", zorder=4)
            _step(ax, *s.ssthresh, linewidth=1.6, linestyle="--", color=th.foreground, label="ssthresh", zorder=3)
            _step(ax, *s.inflight, linewidth=1.0, linestyle=":", color=th.accent,
                  label="outstanding (snd_nxt - snd_una)", zorder=3)
        else:
            _step(ax, *s.inflight, linewidth=2.0, color=th.data,
                  label="bytes in flight / MSS (ESTIMATED from the capture)", zorder=4)
        _step(ax, *s.rwnd, linewidth=1.3, linestyle="-.", color=th.muted, label="receive window (rwnd)", zorder=2)
        vals = list(s.cwnd[1]) + list(s.ssthresh[1]) + list(s.inflight[1])
        top = max(vals) if vals else 1.0
        if s.losses:
            ax.plot([t * 1e3 for t in s.losses], [top * 1.04] * len(s.losses), linestyle="none", marker="x",
                    markersize=9, markeredgewidth=2, color=th.alert, label="retransmission (loss)", zorder=5)
        handles, labels = ax.get_legend_handles_labels()
        for st in state_seen:
            handles.append(Patch(facecolor=th.fills[2], edgecolor=th.muted, hatch=STATE_HATCH.get(st, ""),
                                 alpha=0.6))
            labels.append(f"CA state {st}")
        ax.legend(handles, labels, loc="upper right", fontsize=LEGEND_SIZE, frameon=True,
                  facecolor=th.background, edgecolor=th.muted, labelcolor=th.foreground)
        mss = s.mss
    else:
        for i, s in enumerate(f.series):
            t, v = s.cwnd if s.recorded else s.inflight
            what = "" if s.recorded else " (estimated: bytes in flight)"
            _step(ax, t, v, linewidth=2.2, linestyle=LINESTYLES[i % 4], color=colours[i % 4],
                  label=f"{s.cc or '?'}: {s.label}{what}", zorder=3 + i)
            if v:
                top = max(top, max(v))
        _legend(ax, th, "upper right")
        mss = f.series[0].mss
    ax.set_ylim(0, top * 1.12)
    sec = ax.secondary_yaxis("right", functions=(lambda x: x * mss / 1e3, lambda y: y * 1e3 / mss))
    sec.set_ylabel(f"KB (MSS {mss} B)", fontsize=LABEL_SIZE, color=th.foreground)
    sec.tick_params(colors=th.foreground, labelsize=TICK_SIZE)
    return fig


def render_throughput(r: Rate, th: Theme, size=None):
    fig, ax = _frame(th, size, r.title, r.caption)
    ms = [t * 1e3 for t in r.t]
    ax.plot(ms, [x / 1e6 for x in r.sent], drawstyle="steps-post", linestyle="--", linewidth=1.6,
            color=th.muted, label="sent (retransmissions included)")
    ax.plot(ms, [x / 1e6 for x in r.acked], drawstyle="steps-post", linewidth=2.2, color=th.data,
            label="acknowledged (goodput)")
    ax.set_ylabel("Mbit/s", fontsize=LABEL_SIZE, color=th.foreground)
    ax.set_ylim(0, max([x / 1e6 for x in r.sent + r.acked] or [1]) * 1.12 or 1)
    _legend(ax, th, "upper right")
    return fig


def render_rtt(r: RttSeries, th: Theme, size=None):
    fig, ax = _frame(th, size, r.title, r.caption)
    ax.plot([t * 1e3 for t in r.t], [v * 1e3 for v in r.rtt], linestyle="none", marker="o", markersize=3.5,
            color=th.data, label="RTT sample (ACK time - send time, Karn)", zorder=3)
    if r.srtt[0]:
        _step(ax, r.srtt[0], [v * 1e3 for v in r.srtt[1]], linewidth=2.0, color=th.foreground,
              label="srtt (kernel)", zorder=4)
    ax.set_ylabel("ms", fontsize=LABEL_SIZE, color=th.foreground)
    vals = [v * 1e3 for v in r.rtt] + [v * 1e3 for v in r.srtt[1]]
    ax.set_ylim(0, (max(vals) if vals else 1) * 1.15)
    _legend(ax, th, "upper right")
    return fig
