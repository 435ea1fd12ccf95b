"""Tracer benchmarks: cold `synack trace tcp-echo` wall time, and bulk capture
completeness and memory against tcpdump on the same link in the same run.

    sudo python3 benchmarks/bench_trace.py [--runs 10] [--sizes 10000000 100000000]

Goals (issue 2): cold trace <= 1.0 s; bulk 0 drops and peak RSS <= 300 MB.
Numbers go in the README; nothing here is a timed test.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Runs in a fresh interpreter so its peak RSS is the tracer's alone.
BULK = r"""
import json, os, resource, signal, subprocess, sys, time
sys.path.insert(0, sys.argv[1])
from tracer import scenarios
from tracer.run import trace
size, out, dump, at = int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
state = {}

def start(hosts):
    p = subprocess.Popen(["ip", "netns", "exec", hosts.client.netns, "tcpdump", "-i", "veth0",
                          "-B", "65536", "-s", "0", "-w", dump], stderr=subprocess.PIPE, text=True)
    assert "listening" in p.stderr.readline()
    state["p"] = p

def finish(hosts):
    p = state["p"]
    time.sleep(1.5)  # tcpdump delivers a TPACKET_V3 block only when full or after its timeout
    with open(f"/proc/{p.pid}/status") as f:
        state["tcpdump_rss_kb"] = next(int(l.split()[1]) for l in f if l.startswith("VmHWM"))
    p.send_signal(signal.SIGINT)
    err = p.stderr.read()
    p.wait()
    state["tcpdump_received"] = int(err.split(" packets captured")[0].split()[-1])
    state["tcpdump_dropped"] = int(err.split(" packets dropped by kernel")[0].split()[-1])
    link = json.loads(subprocess.run(["ip", "-n", hosts.client.netns, "-s", "-j", "link", "show",
                                      "veth0"], capture_output=True, text=True).stdout)[0]["stats64"]
    state["veth_packets"] = link["rx"]["packets"] + link["tx"]["packets"]

t = time.monotonic()
r = trace("bulk", scenarios.Options(bytes=size), out, timeout=300, on_ready=start, on_finish=finish, at=at)
print(json.dumps({"frames": r.frames, "drops": r.drops, "complete": r.complete,
                  "seconds": round(time.monotonic() - t, 2),
                  "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                  "tcpdump_frames": state["tcpdump_received"], "tcpdump_drops": state["tcpdump_dropped"],
                  "tcpdump_rss_mb": round(state["tcpdump_rss_kb"] / 1024, 1),
                  "veth_packets": state["veth_packets"]}))
"""


def cold_trace(runs: int, tmp: str, compiled: bool) -> list[float]:
    """`compiled`: bytecode cached in __pycache__, as for any installed package;
    otherwise every module is compiled on every run (PYTHONDONTWRITEBYTECODE=1)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if not compiled:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    times = []
    cmd = [sys.executable, "-m", "tracer", "trace", "tcp-echo", "-o", os.path.join(tmp, "echo.pcapng")]
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, env=env)  # fills __pycache__
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - t)
    return times


def bulk(size: int, tmp: str, at: str) -> dict:
    out = subprocess.run([sys.executable, "-c", BULK, ROOT, str(size), os.path.join(tmp, "bulk.pcapng"),
                          os.path.join(tmp, "bulk.tcpdump.pcap"), at],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000_000, 100_000_000])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for compiled in (True, False):
            times = cold_trace(args.runs, tmp, compiled)
            how = "bytecode cached" if compiled else "PYTHONDONTWRITEBYTECODE=1, compiling every run"
            print(f"cold `synack trace tcp-echo` ({how}; {args.runs} runs, load {os.getloadavg()[0]:.1f}): "
                  f"median {statistics.median(times):.3f} s, min {min(times):.3f} s, "
                  f"max {max(times):.3f} s (goal <= 1.0 s)")
        print()
        print("| bulk bytes | capture at | synack frames | drops | tracer peak RSS | tcpdump -B 65536 frames | "
              "tcpdump drops | tcpdump RSS | veth counters | trace wall time |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for size, at in [(s, "client") for s in args.sizes] + [(max(args.sizes), "both")]:
            b = bulk(size, tmp, at)
            print(f"| {size:,} | {at} | {b['frames']:,} | {b['drops']} | {b['rss_mb']} MB | "
                  f"{b['tcpdump_frames']:,} | {b['tcpdump_drops']} | {b['tcpdump_rss_mb']} MB | "
                  f"{b['veth_packets']:,} | {b['seconds']} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
