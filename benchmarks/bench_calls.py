"""Call-to-frame matching (viz.calls.attach) on a capture with many socket calls.

    python benchmarks/bench_calls.py CAPTURE [CAPTURE...]

Prints, per capture, the number of frames and calls and the seconds `attach`
takes (best of 3), and the same with the calls doubled in number (frames kept):
linear matching doubles, quadratic quadruples.  Make a capture with many calls
with `synack trace --server ... --client ...` (see the README's hardening row).
"""
from __future__ import annotations

import sys
import time


def measure(path: str) -> None:
    from viz.analysis import Engine, packet_of
    from viz.calls import attach, parse_calls
    from viz.capture import open_capture

    with open_capture(path) as cap:
        packets = tuple(packet_of(r) for r in Engine(track_states=False).rows(iter(cap)))
        meta = cap.meta
    calls = parse_calls(meta, packets[0].ts if packets else None)

    def best(cs) -> float:
        times = []
        for _ in range(3):
            t = time.perf_counter()
            attach(packets, cs, meta)
            times.append(time.perf_counter() - t)
        return min(times)

    t1 = best(calls)
    half = calls[: len(calls) // 2]
    th = best(half)
    print(f"{path}: {len(packets)} frames; {len(half)} calls {th:.3f} s; {len(calls)} calls {t1:.3f} s "
          f"(ratio {t1 / th if th else float('nan'):.2f}; 2.0 = linear, 4.0 = quadratic)")


if __name__ == "__main__":
    for p in sys.argv[1:]:
        measure(p)
