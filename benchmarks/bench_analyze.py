#!/usr/bin/env python3
"""Time `synack analyze --format json` against tshark on the same capture, in one run.

    python3 benchmarks/bench_analyze.py [CAPTURE] [--frames 1000000] [--repeat 3] [--pcapng]

Without CAPTURE, benchmarks/gen_capture.py writes a 1,000,000-frame capture to
/tmp/synack-bench-1m.pcap first (reused if present); --pcapng converts it
with editcap and times every tool on the pcapng copy instead.  Each tool reads the
file once with its output sent to /dev/null; wall time is measured around the
process and peak RSS comes from wait4()'s rusage of that process alone.
Each tool runs --repeat times, interleaved (cat, tcpdump, synack, tshark,
then again), and the MEDIAN run is reported, with the 1-minute load average
before and after: this machine is shared, so best-of-N would flatter us.
Rows: `cat` (the I/O floor), `tcpdump -nn -r`, tshark -T fields with the
fields the JSON export holds (and the truth's preferences: relative sequence
numbers, sequence analysis on), and synack.  The goals (issue 3): >= 10x
tshark, <= 500 MB peak RSS, >= 200,000 frames/s.
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
DEFAULT = Path(tempfile.gettempdir()) / "synack-bench-1m.pcap"
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("capture", nargs="?", type=Path, help=f"capture to read (default {DEFAULT})")
    ap.add_argument("--frames", type=int, default=1_000_000, help="frames to generate (default 1e6)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool; the median is kept")
    ap.add_argument("--no-tshark", action="store_true", help="skip tshark (slow)")
    ap.add_argument("--pcapng", action="store_true", help="read a pcapng copy (editcap -F pcapng)")
    args = ap.parse_args(argv)

    path = args.capture or DEFAULT
    if args.capture is None and not path.exists():
        print(f"generating {path} ...", file=sys.stderr)
        subprocess.run([sys.executable, str(REPO / "benchmarks" / "gen_capture.py"), str(path),
                        "--frames", str(args.frames)], check=True)
    if args.pcapng:
        ng = path.with_suffix(".pcapng")
        if not ng.exists():
            subprocess.run(["editcap", "-F", "pcapng", str(path), str(ng)], check=True)
        path = ng
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
    tools = [
        ("cat (I/O floor)", ["cat", str(path)], None),
        ("tcpdump -nn -r", ["tcpdump", "-nn", "-r", str(path)], None),
        ("synack analyze --format json", [sys.executable, "-m", "tracer", "analyze", str(path),
                                          "--format", "json"], None),
    ]
    if not args.no_tshark and shutil.which("tshark"):
        tools.append(("tshark -T fields (13 fields)", tshark, env))
    for name, cmd, _e in tools:
        if shutil.which(cmd[0]) is None and cmd[0] != sys.executable:
            print(f"  {name}: not installed, skipped")
    tools = [t for t in tools if shutil.which(t[1][0]) is not None or t[1][0] == sys.executable]
    runs: dict[str, list] = {name: [] for name, _cmd, _e in tools}
    load0 = os.getloadavg()[0]
    for _ in range(args.repeat):
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
    print(f"  load average (1 min) {load0:.2f} before, {load1:.2f} after; median of {args.repeat}")
    shutil.rmtree(confdir, ignore_errors=True)
    ours = results.get("synack analyze --format json")
    theirs = results.get("tshark -T fields (13 fields)")
    print()
    print("| tool | seconds | frames/s | peak RSS MB |")
    print("|---|---:|---:|---:|")
    for name, (secs, rss, _code) in results.items():
        print(f"| {name} | {secs:.2f} | {frames / secs:,.0f} | {rss:.0f} |")
    if ours and theirs:
        print(f"\nmedians, same run: synack vs tshark {theirs[0] / ours[0]:.1f}x faster "
              f"(goal >= 10x); synack {frames / ours[0]:,.0f} frames/s (goal >= 200,000); "
              f"peak RSS {ours[1]:.0f} MB (goal <= 500)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
