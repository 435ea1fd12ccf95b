"""Call-to-frame matching (viz.calls.attach) on captures with many socket calls.

    python benchmarks/bench_calls.py CAPTURE [CAPTURE...] [--against REV]

Prints, per capture, the frames, the calls and the seconds `attach` takes
(best of 3) for all calls and for the first half (linear matching: ratio 2,
quadratic: 4).  `--against REV` also times viz/calls.py as it was at git
revision REV (e.g. 4547be0, before the matching was made O(n log n)) in the
same run, and checks both attach every call to the same frames.  Make a
capture with many calls with, e.g., a client doing 10,000 `send()` of 100
bytes: `synack trace --server 'python3 srv.py' --client 'python3 cli.py'`.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def old_module(rev: str):
    text = subprocess.run(["git", "-C", ROOT, "show", f"{rev}:viz/calls.py"], capture_output=True, text=True,
                          check=True).stdout
    d = tempfile.mkdtemp()
    path = os.path.join(d, "calls_at_rev.py")
    with open(path, "w") as f:
        f.write(text)
    spec = importlib.util.spec_from_file_location("calls_at_rev", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def best(fn, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def measure(path: str, peer) -> None:
    from viz import calls as new
    from viz.analysis import Engine, packet_of
    from viz.capture import open_capture

    with open_capture(path) as cap:
        packets = tuple(packet_of(r) for r in Engine(track_states=False).rows(iter(cap)))
        meta = cap.meta
    calls = new.parse_calls(meta, packets[0].ts if packets else None)
    half = calls[: len(calls) // 2]
    t1, th = best(lambda: new.attach(packets, calls, meta)), best(lambda: new.attach(packets, half, meta))
    line = (f"{os.path.basename(path)}: {len(packets)} frames; {len(half)} calls {th:.3f} s, {len(calls)} calls "
            f"{t1:.3f} s (ratio {t1 / th if th else float('nan'):.2f})")
    if peer is not None:
        tp = best(lambda: peer.attach(packets, calls, meta), runs=1)
        same = [(c.frame, c.frames) for c in new.attach(packets, calls, meta)] == \
            [(c.frame, c.frames) for c in peer.attach(packets, calls, meta)]
        line += f"; at the old revision {tp:.2f} s ({tp / t1:.0f}x slower), same attachments: {same}"
    print(line, flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("captures", nargs="+")
    ap.add_argument("--against", metavar="REV")
    a = ap.parse_args()
    peer = old_module(a.against) if a.against else None
    for p in a.captures:
        measure(p, peer)
