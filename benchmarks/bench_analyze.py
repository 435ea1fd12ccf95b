#!/usr/bin/env python3
"""Time `synack analyze` (JSON and text) against tshark and tcpdump on the same captures, in one run.

    sudo python3 benchmarks/bench_analyze.py [CAPTURE ...] [--frames 1000000] [--repeat 3] [--pcapng]

Without CAPTURE, three 1,000,000-frame captures are made first (each reused if
present): /tmp/synack-bench-1m.pcap by benchmarks/gen_capture.py (synthetic),
/tmp/synack-bench-lossy.pcap and /tmp/synack-bench-short.pcap by
benchmarks/gen_replicated.py (real kernel traces replicated: a 2%-loss bulk
transfer with SACK, and 300 HTTP/1.0-like connections made 80,000; tracing
needs root).  --pcapng converts each
with editcap and times every tool on the pcapng copy instead.  Each tool reads the
file once with its output sent to /dev/null; wall time is measured around the
process and peak RSS comes from wait4()'s rusage of that process alone.
Each tool runs --repeat times, interleaved (cat, tcpdump, synack, tshark,
then again), and the MEDIAN run is reported, with the 1-minute load average
before and after: this machine is shared, so best-of-N would flatter us.
Rows: `cat` (the I/O floor), `tcpdump -nn -r`, tshark -T fields with the
fields the JSON export holds (and the truth's preferences: relative sequence
numbers, sequence analysis on), and synack.  The goals (issue 3): >= 10x
tshark, <= 500 MB peak RSS, >= 200,000 frames/s; issue 17 on all three
captures, for JSON and text: >= 10x tshark, >= 300,000 frames/s, <= 300 MB.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TMP = Path(tempfile.gettempdir())
DEFAULTS = {"synthetic": TMP / "synack-bench-1m.pcap", "lossy": TMP / "synack-bench-lossy.pcap",
            "short": TMP / "synack-bench-short.pcap"}
TSHARK_FIELDS = ["frame.number", "frame.time_relative", "ip.src", "ip.dst", "tcp.srcport",
                 "tcp.dstport", "tcp.stream", "tcp.flags", "tcp.seq", "tcp.ack", "tcp.len",
                 "tcp.window_size", "tcp.analysis.flags"]
TSHARK_PREFS = {"tcp.relative_sequence_numbers": "TRUE", "tcp.analyze_sequence_numbers": "TRUE",
                "tcp.desegment_tcp_streams": "FALSE", "ip.defragment": "FALSE",
                "tcp.check_checksum": "FALSE"}


def run(cmd: list[str], env=None) -> tuple[float, float, int]:
    """(seconds, peak RSS in MB, exit status) of one process, output to /dev/null."""
    t0 = time.perf_counter()
    with open(os.devnull, "wb") as null:
        proc = subprocess.Popen(cmd, stdout=null, stderr=subprocess.PIPE, env=env, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(f"  {' '.join(cmd[:3])}... exited {code}: {err.strip()[-300:]}", file=sys.stderr)
    return elapsed, usage.ru_maxrss / 1024.0, code


def count_frames(path: Path) -> int:
    sys.path.insert(0, str(REPO))
    from viz.capture import open_capture
    with open_capture(path) as cap:
        return sum(1 for _ in cap)


def make(kind: str, path: Path, frames: int) -> None:
    print(f"generating {path} ...", file=sys.stderr)
    if kind == "synthetic":
        cmd = [sys.executable, str(REPO / "benchmarks" / "gen_capture.py"), str(path)]
    else:
        cmd = [sys.executable, str(REPO / "benchmarks" / "gen_replicated.py"), kind, str(path)]
    subprocess.run(cmd + ["--frames", str(frames)], check=True)


def bench(path: Path, repeat: int, no_tshark: bool) -> dict:
    """Median (seconds, peak RSS MB, exit status) of each tool on one capture."""
    frames = count_frames(path)
    size = path.stat().st_size
    print(f"capture: {path} ({frames:,} frames, {size / 1e6:.0f} MB), {os.cpu_count()} CPUs")
    confdir = tempfile.mkdtemp(prefix="bench-tshark-")
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=confdir)
    tshark = ["tshark", "-n", "-r", str(path), "-T", "fields"]
    for f in TSHARK_FIELDS:
        tshark += ["-e", f]
    for k, v in TSHARK_PREFS.items():
        tshark += ["-o", f"{k}:{v}"]
    synack = [sys.executable, "-m", "tracer", "analyze", str(path), "--format"]
    tools = [
        ("cat (I/O floor)", ["cat", str(path)], None),
        ("tcpdump -nn -r", ["tcpdump", "-nn", "-r", str(path)], None),
        ("synack analyze --format json", synack + ["json"], None),
        ("synack analyze --format text", synack + ["text"], None),
    ]
    if not no_tshark and shutil.which("tshark"):
        tools.append((TSHARK, tshark, env))
    for name, cmd, _e in tools:
        if shutil.which(cmd[0]) is None and cmd[0] != sys.executable:
            print(f"  {name}: not installed, skipped")
    tools = [t for t in tools if shutil.which(t[1][0]) is not None or t[1][0] == sys.executable]
    runs: dict[str, list] = {name: [] for name, _cmd, _e in tools}
    load0 = os.getloadavg()[0]
    for _ in range(repeat):
        for name, cmd, e in tools:
            runs[name].append(run(cmd, e))
    load1 = os.getloadavg()[0]
    results = {}
    for name, rs in runs.items():
        rs = sorted(rs)
        secs, rss, code = rs[len(rs) // 2]
        results[name] = (secs, rss, code)
        spread = f"  (runs {', '.join(f'{r[0]:.2f}' for r in runs[name])})" if len(rs) > 1 else ""
        print(f"  {name:32s} {secs:8.2f} s {frames / secs:12,.0f} frames/s  peak RSS {rss:7.0f} MB"
              + ("" if code == 0 else f"  (exit {code})") + spread)
    print(f"  load average (1 min) {load0:.2f} before, {load1:.2f} after; median of {repeat}")
    shutil.rmtree(confdir, ignore_errors=True)
    return {"frames": frames, "results": results}


TSHARK = "tshark -T fields (13 fields)"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("captures", nargs="*", type=Path,
                    help="captures to read (default: the synthetic, lossy and short ones)")
    ap.add_argument("--frames", type=int, default=1_000_000, help="frames to generate (default 1e6)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool; the median is kept")
    ap.add_argument("--no-tshark", action="store_true", help="skip tshark (slow)")
    ap.add_argument("--pcapng", action="store_true", help="read a pcapng copy (editcap -F pcapng)")
    args = ap.parse_args(argv)

    paths = list(args.captures)
    if not paths:
        for kind, path in DEFAULTS.items():
            if not path.exists():
                make(kind, path, args.frames)
            paths.append(path)
    if args.pcapng:
        ngs = []
        for path in paths:
            ng = path.with_suffix(".pcapng")
            if not ng.exists():
                subprocess.run(["editcap", "-F", "pcapng", str(path), str(ng)], check=True)
            ngs.append(ng)
        paths = ngs
    table = [(path, bench(path, args.repeat, args.no_tshark)) for path in paths]
    print()
    print("| capture | tool | seconds | frames/s | peak RSS MB | vs tshark |")
    print("|---|---|---:|---:|---:|---:|")
    for path, b in table:
        frames, results = b["frames"], b["results"]
        theirs = results.get(TSHARK)
        for name, (secs, rss, _code) in results.items():
            ratio = f"{theirs[0] / secs:.1f}x" if theirs else "-"
            print(f"| {path.name} | {name} | {secs:.2f} | {frames / secs:,.0f} | {rss:.0f} | {ratio} |")
    print("\ngoals (issue 17), on every capture for json and text: >= 10x tshark, "
          ">= 300,000 frames/s, <= 300 MB peak RSS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
