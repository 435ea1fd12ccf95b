"""Cold `synack trace` of verbatim lecture programs against the built-in tcp-echo, same run.

    sudo python3 benchmarks/bench_verbatim.py [--runs 10] [--user NAME]

Each run is a fresh `python -m tracer trace` process, interleaved: the
built-in scenario (the peer), the seed echo pair from tests/programs (their
own `localhost:10000`, the redirect, port detection, a `while True` server
stopped at the end, each program's private /tmp), the same with --shared-tmp
(no private /tmp: what it costs), and with --user the same pair run by that unprivileged
user (synack's own user namespace).  Medians of wall time; nothing here is a
timed test.
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROGRAMS = os.path.join(ROOT, "tests", "programs")


def timed(argv: list[str], **kw) -> float:
    t = time.monotonic()
    res = subprocess.run(argv, capture_output=True, text=True, **kw)
    dt = time.monotonic() - t
    if res.returncode != 0:
        raise SystemExit(f"{argv}: {res.stderr}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--user", help="also time the pair as this unprivileged user")
    ap.add_argument("--python", default=sys.executable, help="interpreter (for --user: one that user can run)")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="synack-bench-verbatim-")
    os.chmod(work, 0o755)
    try:
        for pkg in ("tracer", "viz"):
            shutil.copytree(os.path.join(ROOT, pkg), os.path.join(work, pkg),
                            ignore=shutil.ignore_patterns("__pycache__"))
        import scapy

        shutil.copytree(os.path.dirname(scapy.__file__), os.path.join(work, "scapy"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        for name in ("echo_server.py", "echo_client.py"):
            shutil.copy(os.path.join(PROGRAMS, name), work)
        subprocess.run(["chmod", "-R", "a+rwX", work], check=True)
        py = args.python
        env = dict(os.environ, PYTHONPATH=work)
        pair = ["--server", f"{py} echo_server.py", "--client", f"{py} echo_client.py"]
        cases = {
            "tcp-echo (built-in)": [py, "-m", "tracer", "trace", "tcp-echo", "-o", "a.pcapng"],
            "seed echo pair, verbatim": [py, "-m", "tracer", "trace", *pair, "-o", "b.pcapng"],
            "seed echo pair, --shared-tmp": [py, "-m", "tracer", "trace", *pair, "--shared-tmp", "-o", "d.pcapng"],
        }
        if args.user:
            cases["seed echo pair, unprivileged"] = [
                "setpriv", f"--reuid={args.user}", f"--regid={args.user}", "--clear-groups",
                "env", "PATH=/usr/bin:/bin", f"HOME={work}", f"PYTHONPATH={work}",
                py, "-m", "tracer", "trace", *pair, "-o", "c.pcapng"]
        for argv in cases.values():  # warm the page cache and the bytecode
            timed(argv, cwd=work, env=env)
        times: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.runs):
            for k, argv in cases.items():
                times[k].append(timed(argv, cwd=work, env=env))
        peer = statistics.median(times["tcp-echo (built-in)"])
        print(f"load average {os.getloadavg()[0]:.2f}, {args.runs} runs each, interleaved")
        for k, v in times.items():
            med = statistics.median(v)
            print(f"{k:32s} median {med:.3f} s  min {min(v):.3f} s  ({med / peer:.2f}x tcp-echo)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
