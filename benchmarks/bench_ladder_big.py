#!/usr/bin/env python3
"""Time `synack ladder` of one stream of a 1,000,000-frame capture, against tshark showing that stream.

    sudo python3 benchmarks/bench_ladder_big.py [CAPTURE ...] [--stream N] [--repeat 3] [--tshark-repeat 1]

Without CAPTURE, the three captures of benchmarks/bench_analyze.py (synthetic,
lossy, short; made first if absent, the same way).  Each run is a cold process
writing the stream's ladder as SVG (`synack ladder CAPTURE --stream N -o
x.svg`: reading, the analysis of every frame, the figure); the peer, in the
same run and interleaved, is `tshark -r CAPTURE -Y tcp.stream==N` (what one
types to see one conversation of a big capture), output to /dev/null, run
--tshark-repeat times.  The
stream drawn is --stream, else the one in the middle of the capture's TCP
stream numbers.  Medians of --repeat runs, with the load average: the machine
is shared.  The goal (issue 17): the ladder in <= 3 s.  Numbers are printed,
never asserted.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.stdout.reconfigure(line_buffering=True)
from bench_analyze import DEFAULTS, make  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def run(cmd: list[str]) -> tuple[float, float, float]:
    """(wall seconds, peak RSS in MB, CPU seconds: user + system, with the reaped
    reading process) of one process, output to /dev/null.  On a shared machine the
    CPU time says what the wall time would be on an idle one (the work is serial but
    for the reading process's overlap)."""
    t0 = time.perf_counter()
    with open(os.devnull, "wb") as null:
        proc = subprocess.Popen(cmd, stdout=null, stderr=subprocess.PIPE, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        print(f"  {' '.join(cmd[:3])}... failed: {err.strip()[-300:]}", file=sys.stderr)
    return elapsed, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime


def middle_stream(path: Path) -> int:
    """The TCP stream in the middle of the capture's stream numbers."""
    sys.path.insert(0, str(REPO))
    from viz.analysis import analyze_on_demand
    from viz.capture import open_capture
    with open_capture(path) as cap:
        an = analyze_on_demand(cap, path=str(path))
    tcp = [s.id for s in an.streams if s.proto == "tcp"]
    return tcp[len(tcp) // 2]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("captures", nargs="*", type=Path)
    ap.add_argument("--stream", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tshark-repeat", type=int, default=1, help="tshark runs (each takes a minute or more)")
    ap.add_argument("--frames", type=int, default=1_000_000, help="frames of generated captures")
    args = ap.parse_args()
    paths = args.captures or list(DEFAULTS.values())
    for kind, path in DEFAULTS.items():
        if path in paths and not path.exists():
            make(kind, path, args.frames)
    synack = shutil.which("synack", path=str(REPO / ".venv" / "bin")) or shutil.which("synack")
    cmd0 = [synack] if synack else [sys.executable, "-m", "tracer"]
    tshark = shutil.which("tshark")
    out = Path(tempfile.mkdtemp(prefix="synack-ladder-big-"))
    try:
        for path in paths:
            sid = args.stream if args.stream is not None else middle_stream(path)
            load0 = os.getloadavg()[0]
            mine, peer = [], []
            for k in range(args.repeat):
                mine.append(run(cmd0 + ["ladder", str(path), "--stream", str(sid), "-o",
                                        str(out / "x.svg")]))
                if tshark and k < args.tshark_repeat:
                    peer.append(run([tshark, "-n", "-r", str(path), "-Y", f"tcp.stream=={sid}"]))
            load1 = os.getloadavg()[0]
            t, rss = statistics.median(m[0] for m in mine), statistics.median(m[1] for m in mine)
            cpu = statistics.median(m[2] for m in mine)
            pages = len(list(out.glob("x*.svg")))
            print(f"{path.name}: stream {sid}, {pages} SVG page(s); load {load0:.1f} -> {load1:.1f}")
            print(f"  synack ladder  {t:6.2f} s  {rss:5.0f} MB peak RSS  {cpu:6.2f} s CPU  (runs: "
                  f"{', '.join(f'{m[0]:.2f}' for m in mine)}; goal 3 s)")
            if peer:
                pt = statistics.median(p[0] for p in peer)
                prss = statistics.median(p[1] for p in peer)
                pcpu = statistics.median(p[2] for p in peer)
                print(f"  tshark -Y      {pt:6.2f} s  {prss:5.0f} MB peak RSS  {pcpu:6.2f} s CPU  "
                      f"(synack {pt / t:.1f}x faster)")
            for f in out.glob("x*.svg"):
                f.unlink()
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
