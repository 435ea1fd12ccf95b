"""`synack build` benchmarks on captures/lecture.toml (copied to a temporary folder).

    sudo python3 benchmarks/bench_build.py [--runs 3]

Measures, each as the wall time of the whole `python3 -m tracer build` command:
  clean      nothing exists: every source traced, every figure drawn
  redraw     figures folder deleted, traced captures kept: every figure drawn
  no-op      nothing changed: every figure skipped
and whether the clean builds' figures are byte-identical (they are not where a
figure shows raw ISNs, IP IDs, checksums or thread interleaving; the redraws
from kept captures are).  Goals (issue 7): clean <= 60 s, no-op <= 2 s.
Numbers go in the README; nothing here is a timed test.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build(manifest: Path, out: Path, *extra: str) -> float:
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "tracer", "build", str(manifest), "-o", str(out), *extra],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - t0


def files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.glob("*.svg"))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    clean, redraw, noop, differ = [], [], [], set()
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="synack-bench-build-") as tmp:
            t = Path(tmp)
            shutil.copy(ROOT / "captures" / "lecture.toml", t / "lecture.toml")
            clean.append(build(t / "lecture.toml", t / "a"))
            first = files(t / "a")
            shutil.rmtree(t / "a")
            redraw.append(build(t / "lecture.toml", t / "a"))
            assert files(t / "a") == first, "redraw from kept captures is not byte-identical"
            noop.append(build(t / "lecture.toml", t / "a"))
            shutil.rmtree(t / "lecture")  # retrace into a second folder
            build(t / "lecture.toml", t / "b")
            second = files(t / "b")
            differ |= {k for k in first if first[k] != second.get(k)}
    med = statistics.median
    print(f"clean build (trace + draw): median {med(clean):.1f} s  (runs: {', '.join(f'{x:.1f}' for x in clean)})")
    print(f"redraw from kept captures:  median {med(redraw):.1f} s")
    print(f"no-op rebuild:              median {med(noop):.2f} s  (runs: {', '.join(f'{x:.2f}' for x in noop)})")
    print(f"figures differing between two clean traces: {', '.join(sorted(differ)) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
