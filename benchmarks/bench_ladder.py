"""Ladder render time to SVG, against a naive one-annotate-per-arrow drawing in the same run.

    python3 benchmarks/bench_ladder.py [BULK.pcapng] [--runs N] [--no-captures]

Cases: the default (collapsed) view of a 1 MB bulk transfer, and a 1,000-segment
stream drawn with --full.  With a capture path the bulk case uses that real
capture (analysis time reported apart); without, the hand-made 1 MB stream of
tests/ladder_fixtures.py.  Goals: each <= 1.5 s.  The naive drawing is the
usual approach: `ax.annotate` with arrowprops for every arrow, a label each.
Then the default figure (layout + SVG) of every capture in captures/ and the
shared corpus, worst first; reading and analysing the capture is timed apart.
Times are the median of --runs runs (default 5; the naive drawing 3).
Numbers are printed, never asserted.
"""
from __future__ import annotations

import glob
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import ladder_fixtures as F  # noqa: E402

from viz.figure import new_figure, save  # noqa: E402
from viz.ladder import build_ladder  # noqa: E402
from viz.ladder_mpl import render_ladder  # noqa: E402


RUNS = 5


def timed(fn, repeat: int | None = None) -> float:
    """Median wall time: the machine is shared, and one slow run should not decide."""
    times = []
    for _ in range(repeat or RUNS):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


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


def captures() -> list[str]:
    root = os.path.join(os.path.dirname(__file__), "..")
    sys.path.insert(0, os.path.join(root, "tests"))
    from corpus_path import CORPUS_DIR

    paths = sorted(glob.glob(os.path.join(root, "captures", "*.pcapng")))
    return paths + sorted(glob.glob(os.path.join(str(CORPUS_DIR), "*.pcap*")))


def sweep(svg: str) -> None:
    """The default figure of every capture: layout and SVG timed, analysis apart."""
    from viz.commands.ladder import load
    from viz.errors import SynackError

    rows = []
    for path in captures():
        t = time.perf_counter()
        try:
            analysis = load(path)
            build_ladder(analysis)
        except SynackError as exc:
            print(f"  skip {os.path.basename(path)}: {exc}")
            continue
        t_an = time.perf_counter() - t
        t_fig = timed(lambda: ours(analysis, svg), repeat=3)
        rows.append((t_fig, t_an, os.path.basename(path), len(analysis.packets)))
    rows.sort(reverse=True)
    print(f"default figure of {len(rows)} captures (median of 3), worst first:")
    print(f"  {'capture':42s} {'frames':>7s} {'read+analyse (s)':>17s} {'layout+SVG (s)':>15s}")
    for t_fig, t_an, name, n in rows[:8]:
        print(f"  {name:42s} {n:7d} {t_an:17.2f} {t_fig:15.2f}")
    print(f"  worst layout+SVG {rows[0][0]:.2f} s ({rows[0][2]}); goal <= 1.5 s")


def main() -> None:
    global RUNS
    args = sys.argv[1:]
    if "--runs" in args:
        i = args.index("--runs")
        RUNS = int(args[i + 1])
        del args[i:i + 2]
    do_sweep = "--no-captures" not in args
    args = [a for a in args if a != "--no-captures"]
    tmp = tempfile.mkdtemp()
    svg = os.path.join(tmp, "l.svg")
    if args:
        from viz.commands.ladder import load

        t = time.perf_counter()
        bulk = load(args[0])
        print(f"analysis of {args[0]}: {time.perf_counter() - t:.2f} s ({len(bulk.packets)} frames)")
    else:
        bulk = F.bulk()
    thousand = F.bulk(total=1000 * 1448 * 2 // 3, retransmit_at=10_000)
    n_full = len(thousand.packets)
    lad = build_ladder(bulk)
    print(f"bulk default view: {len(bulk.packets)} frames -> {len(lad.arrows)} arrows, {len(lad.bands)} bands")
    rows = [
        ("bulk 1 MB, default view", timed(lambda: ours(bulk, svg))),
        (f"{n_full} segments --full", timed(lambda: ours(thousand, svg, full=True))),
        (f"naive annotate, {n_full} segments", timed(lambda: naive(thousand, svg, n_full), repeat=3)),
    ]
    print(f"{'case':40s} {'SVG render (s)':>15s}")
    for name, secs in rows:
        print(f"{name:40s} {secs:15.2f}")
    print("goal: <= 1.5 s for the first two")
    if do_sweep:
        sweep(svg)


if __name__ == "__main__":
    main()
