#!/usr/bin/env python3
"""Congestion-control benchmarks (issue 12): what sampling the kernel's TCP state costs, and how
fast a 100,000-segment time-sequence graph draws.

    sudo python3 benchmarks/bench_cc.py [--runs 5] [--bytes 100000000] [--segments 100000] [--only bulk|short|tsg] [--capture CAP]

1. `synack trace bulk --bytes 100000000` with the kernel-state sampler and without it
   (--no-kstate), interleaved in the same run: transfer rate measured from the recorded
   socket calls (the client's sendall() call to its shutdown()), capture drops, samples kept.
   Goal: at most 5% slower, 0 drops.  The sampler's own CPU time (kstate.cpu_ms) too, and
   what it adds to a short `synack trace tcp-echo`.
2. The time-sequence graph of a bulk trace of --segments segments: reading and the engine,
   the series, drawing and writing the SVG, each timed (goal: <= 2 s for the drawing); then
   the whole `synack graph CAP --kind tsg|cwnd|throughput|rtt -o K.svg` command, on the pcapng
   file and as a classic pcap, alternated with `tshark -T fields` of the same fields.
Numbers go in the README; nothing here is a timed test.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def transfer_seconds(path: str) -> float:
    from viz.capture import open_capture

    with open_capture(path) as cap:
        for _ in cap:
            pass
        calls = cap.meta["calls"]
    start = next(c["ts"] for c in calls if c["host"] == "client" and c["call"] == "sendall")
    end = next(c["ts"] for c in calls if c["host"] == "client" and c["call"] == "shutdown")
    return end - start


def _kstate(path: str) -> dict:
    from viz.capture import open_capture

    with open_capture(path) as cap:
        for _ in cap:
            pass
        return cap.meta.get("kstate") or {}


def overhead(runs: int, nbytes: int, tmp: str) -> None:
    """With and without the sampler, alternated (ABBA...), each side's median: the machine is shared,
    so one pair says little."""
    from tracer import scenarios
    from tracer.run import trace

    rates: dict[bool, list[float]] = {True: [], False: []}
    cpu: list[int] = []
    for i in range(runs):
        for sampled in (True, False) if i % 2 == 0 else (False, True):
            out = os.path.join(tmp, f"bulk-{sampled}-{i}.pcapng")
            res = trace("bulk", scenarios.Options(bytes=nbytes), out, kstate=sampled)
            secs = transfer_seconds(out)
            rates[sampled].append(nbytes * 8 / secs / 1e6)
            extra = ""
            if sampled:
                k = _kstate(out)
                n = sum(len(c["samples"]["ts"]) for c in k.get("conns", []))
                cpu.append(k.get("cpu_ms", 0))
                extra = (f", {n} samples ({k.get('source')}, lookups at {k.get('poll_hz')} Hz, "
                         f"sampler CPU {k.get('cpu_ms', 0) / 1000:.2f} s)")
            print(f"  run {i + 1} {'with' if sampled else 'without'} sampling: {rates[sampled][-1]:8.1f} Mbit/s, "
                  f"{res.frames} frames, drops {res.drops}{extra}", flush=True)
            os.unlink(out)
    a, b = statistics.median(rates[True]), statistics.median(rates[False])
    pairs = ", ".join(f"{x / y:.2f}" for x, y in zip(rates[True], rates[False]))
    print(f"bulk {nbytes / 1e6:g} MB, median of {runs}: with sampling {a:.1f} Mbit/s, without {b:.1f} Mbit/s "
          f"({(1 - a / b) * 100:+.1f}% slower with sampling; goal <= 5%); per pair with/without {pairs}; "
          f"sampler CPU median {statistics.median(cpu) / 1000:.2f} s")


def short_trace(runs: int, tmp: str) -> None:
    """What the sampler adds to a short trace's wall time (`synack trace tcp-echo`), alternated."""
    from tracer import scenarios
    from tracer.run import trace

    secs: dict[bool, list[float]] = {True: [], False: []}
    cpu = []
    for i in range(runs):
        for sampled in (True, False) if i % 2 == 0 else (False, True):
            out = os.path.join(tmp, f"echo-{sampled}-{i}.pcapng")
            a = time.perf_counter()
            trace("tcp-echo", scenarios.Options(), out, kstate=sampled)
            secs[sampled].append(time.perf_counter() - a)
            if sampled:
                cpu.append(_kstate(out).get("cpu_ms", 0))
            os.unlink(out)
    a, b = statistics.median(secs[True]), statistics.median(secs[False])
    print(f"tcp-echo trace, median of {runs}: {a:.2f} s with sampling, {b:.2f} s without ({a - b:+.2f} s); "
          f"sampler CPU median {statistics.median(cpu) / 1000:.2f} s")


TSHARK_FIELDS = ("frame.number", "frame.time_relative", "tcp.srcport", "tcp.seq", "tcp.len", "tcp.ack",
                 "tcp.window_size", "tcp.options.sack_le", "tcp.options.sack_re")


def _cpu() -> float:
    import resource
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _timed(cmd: list[str], out: str | None = None) -> tuple[float, float]:
    """(wall, CPU) seconds of a command, its child processes' CPU included (the machine is
    shared: CPU time says more than wall time under load)."""
    c = _cpu()
    a = time.perf_counter()
    with open(out or os.devnull, "w") as f:
        p = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.PIPE, text=True)
    secs = time.perf_counter() - a
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: status {p.returncode}: {p.stderr.strip()[-300:]}")
    return secs, _cpu() - c


def tsg_speed(segments: int, tmp: str, runs: int, capture: str | None) -> None:
    """The parts of a time-sequence graph in this process, then the whole `synack graph` command
    (a fresh process: imports, reading, the engine, the series, drawing, writing) of each kind, on
    the pcapng file and on the same frames as a classic pcap (editcap), alternated with the peer:
    `tshark -T fields` of the fields the graph draws, for the same stream.  Medians of `runs`."""
    import shutil

    from viz import tcpgraphs, tcpgraphs_cli, tcpgraphs_mpl
    from viz.figure import save, theme

    out = capture
    if out is None:
        from tracer import scenarios
        from tracer.run import trace

        out = os.path.join(tmp, "big.pcapng")
        trace("bulk", scenarios.Options(bytes=segments * 1460), out)
    t0 = time.perf_counter()
    an = tcpgraphs_cli.load(out)
    t1 = time.perf_counter()
    g = tcpgraphs.tsg(an)
    t2 = time.perf_counter()
    svg = os.path.join(tmp, "tsg.svg")
    draws = []
    for _ in range(3):  # the first includes importing matplotlib and loading its fonts
        a = time.perf_counter()
        save(tcpgraphs_mpl.render_tsg(g, theme("light")), svg)
        draws.append(time.perf_counter() - a)
    print(f"tsg of {len(g.seg_t)} segments, {len(g.ack_t)} ACKs ({an.capture.frames} frames): read + engine "
          f"{t1 - t0:.2f} s, series {t2 - t1:.2f} s, draw + write SVG {draws[0]:.2f} s in a fresh process "
          f"(matplotlib imported), then {min(draws[1:]):.2f} s ({os.path.getsize(svg) / 1e6:.2f} MB); "
          "goal <= 2 s for the drawing", flush=True)
    files = [out]
    if shutil.which("editcap"):
        pcap = os.path.join(tmp, "big.pcap")
        subprocess.run(["editcap", "-F", "pcap", out, pcap], check=True)
        files.append(pcap)
    tshark = shutil.which("tshark")
    for path in files:
        kind_of = "pcapng" if path.endswith("ng") else "classic pcap"
        times: dict[str, list[float]] = {}
        for i in range(runs):
            order = ["tsg", "cwnd", "throughput", "rtt", "tshark"]
            for what in order if i % 2 == 0 else order[::-1]:
                if what == "tshark":
                    if tshark:
                        cmd = [tshark, "-r", path, "-Y", "tcp.stream == 0", "-T", "fields"]
                        for f in TSHARK_FIELDS:
                            cmd += ["-e", f]
                        times.setdefault(what, []).append(_timed(cmd, os.path.join(tmp, "fields.txt")))
                    continue
                cmd = [sys.executable, "-m", "tracer", "graph", path, "--kind", what, "-o",
                       os.path.join(tmp, f"{what}.svg")]
                times.setdefault(what, []).append(_timed(cmd))
        med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
               for k, v in times.items()}
        peer = med.get("tshark")
        parts = ", ".join(f"{k} {w:.2f} s wall, {c:.2f} s CPU" + (
            f" (tshark/synack {peer[0] / w:.1f}x wall, {peer[1] / c:.1f}x CPU)" if peer else "")
            for k, (w, c) in med.items() if k != "tshark")
        print(f"{kind_of}, whole `synack graph CAP --kind K -o K.svg`, median of {runs} alternated "
              f"(load {os.getloadavg()[0]:.1f}): {parts}; "
              + (f"tshark -T fields of {', '.join(TSHARK_FIELDS)} (stream 0): {peer[0]:.2f} s wall, "
                 f"{peer[1]:.2f} s CPU" if peer else "tshark not installed"), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--bytes", type=int, default=100_000_000)
    ap.add_argument("--segments", type=int, default=100_000)
    ap.add_argument("--capture", help="for tsg: an existing bulk capture instead of tracing one")
    ap.add_argument("--only", choices=("bulk", "short", "tsg"), action="append",
                    help="run only these parts (repeatable; default: all three)")
    args = ap.parse_args()
    parts = args.only or ["bulk", "short", "tsg"]
    with tempfile.TemporaryDirectory(prefix="bench-cc-") as tmp:
        print(f"load average {os.getloadavg()[0]:.1f}")
        if "bulk" in parts:
            overhead(args.runs, args.bytes, tmp)
        if "short" in parts:
            short_trace(max(args.runs, 4), tmp)
        if "tsg" in parts:
            tsg_speed(args.segments, tmp, args.runs, args.capture)
        print(f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
