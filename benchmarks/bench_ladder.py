"""Ladder render time to SVG, against a naive one-annotate-per-arrow drawing in the same run.

    python3 benchmarks/bench_ladder.py [BULK.pcapng]

Cases: the default (collapsed) view of a 1 MB bulk transfer, and a 1,000-segment
stream drawn with --full.  With a capture path the bulk case uses that real
capture (analysis time reported apart); without, the hand-made 1 MB stream of
tests/ladder_fixtures.py.  Goals: each <= 1.5 s.  The naive drawing is the
usual approach: `ax.annotate` with arrowprops for every arrow, a label each.
Numbers are printed, never asserted.
"""
from __future__ import annotations

import math
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import ladder_fixtures as F  # noqa: E402

from viz.figure import new_figure, save  # noqa: E402
from viz.ladder import build_ladder  # noqa: E402
from viz.ladder_mpl import render_ladder  # noqa: E402


def timed(fn, repeat: int = 3) -> float:
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def ours(analysis, out: str, **opts) -> None:
    save(render_ladder(build_ladder(analysis, **opts)), out)


def naive(analysis, out: str, n: int) -> None:
    """One annotate (arrow + its own text) per segment, the way most scripts draw a ladder."""
    pk = [p for p in analysis.packets if p.proto == "tcp"][:n]
    fig = new_figure((13.33, max(7.5, 0.42 * len(pk))))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 1)
    ax.set_ylim(len(pk) + 1, -1)
    ax.axis("off")
    client = (analysis.streams[0].client.addr, analysis.streams[0].client.port)
    for i, p in enumerate(pk):
        left = (p.src, p.sport) == client
        x0, x1 = (0.2, 0.8) if left else (0.8, 0.2)
        ax.annotate("", xy=(x1, i + 1), xytext=(x0, i), arrowprops={"arrowstyle": "-|>", "lw": 2 if p.len else 1})
        ax.annotate(f"{p.flags!s} seq={p.seq} ack={p.ack} len={p.len}", xy=(0.5, i + 0.5), ha="center",
                    rotation=-3)
    save(fig, out)


def main() -> None:
    tmp = tempfile.mkdtemp()
    svg = os.path.join(tmp, "l.svg")
    if len(sys.argv) > 1:
        from viz.commands.ladder import load

        t = time.perf_counter()
        bulk = load(sys.argv[1])
        print(f"analysis of {sys.argv[1]}: {time.perf_counter() - t:.2f} s ({len(bulk.packets)} frames)")
    else:
        bulk = F.bulk()
    thousand = F.bulk(total=1000 * 1448 * 2 // 3, retransmit_at=10_000)
    n_full = len(thousand.packets)
    lad = build_ladder(bulk)
    print(f"bulk default view: {len(bulk.packets)} frames -> {len(lad.arrows)} arrows, {len(lad.bands)} bands")
    rows = [
        ("bulk 1 MB, default view", timed(lambda: ours(bulk, svg))),
        (f"{n_full} segments --full", timed(lambda: ours(thousand, svg, full=True))),
        (f"naive annotate, {n_full} segments", timed(lambda: naive(thousand, svg, n_full), repeat=1)),
    ]
    print(f"{'case':40s} {'SVG render (s)':>15s}")
    for name, secs in rows:
        print(f"{name:40s} {secs:15.2f}")
    print("goal: <= 1.5 s for the first two")


if __name__ == "__main__":
    main()
