"""Start-up time: `synack --help`, `synack ladder --help`, `import viz, tracer` and `synack analyze` of
the 14-frame captures/tcp-echo.pcapng (JSON and text), each the median CPU time (user + system) of N fresh
processes, beside the interpreter's own start (`python -c pass`), `tshark --version` and `tshark -n -r` of that
capture measured in the same run.  With --base DIR (a checkout of another commit, e.g.
`git worktree add /tmp/base main`), the same commands from that tree, alternated with this one's.

    python3 benchmarks/bench_startup.py [--runs 21] [--base DIR]
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "synack --help": "import sys; sys.argv = ['synack', '--help']; from tracer.cli import script; script()",
    "synack ladder --help": "import sys; sys.argv = ['synack', 'ladder', '--help']; "
                            "from tracer.cli import script; script()",
    "import viz, tracer": "import viz, tracer",
    # issue 17: a lecture-size capture (14 frames) analysed by a cold process, goal <= 0.3 s
    "synack analyze tcp-echo (json)": "import sys; sys.argv = ['synack', 'analyze', "
                                      "'captures/tcp-echo.pcapng', '--format', 'json']; "
                                      "from tracer.cli import script; script()",
    "synack analyze tcp-echo (text)": "import sys; sys.argv = ['synack', 'analyze', "
                                      "'captures/tcp-echo.pcapng', '--format', 'text']; "
                                      "from tracer.cli import script; script()",
}


def once(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    """The CPU time (user + system) the process took: on a shared machine, wall time mostly
    measures the other processes."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--base", type=Path, help="another source tree to compare with (its code, this Python)")
    a = ap.parse_args()
    trees = {"this": ROOT} | ({"base": a.base.resolve()} if a.base else {})
    jobs: dict[str, tuple[list[str], dict[str, str], Path]] = {
        "python -c pass": ([sys.executable, "-c", "pass"], dict(os.environ), ROOT)}
    if shutil.which("tshark"):
        jobs["tshark --version"] = (["tshark", "--version"], dict(os.environ), ROOT)
        jobs["tshark -n -r tcp-echo"] = (["tshark", "-n", "-r", "captures/tcp-echo.pcapng"],
                                         dict(os.environ), ROOT)
    for tree, path in trees.items():
        env = dict(os.environ, PYTHONPATH=str(path))  # before the editable install's finder
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: compiled once, then read from .pyc
        for name, code in COMMANDS.items():
            jobs[f"{name} ({tree})"] = ([sys.executable, "-c", code], env, path)
    for argv, env, cwd in jobs.values():  # warm the caches (.pyc, page cache)
        once(argv, env, cwd)
    times: dict[str, list[float]] = {k: [] for k in jobs}
    for _ in range(a.runs):  # interleaved, so load changes hit every command alike
        for k, (argv, env, cwd) in jobs.items():
            times[k].append(once(argv, env, cwd))
    floor = statistics.median(times["python -c pass"])
    print(f"CPU time, median of {a.runs} runs, load {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores")
    for k, ts in times.items():
        m = statistics.median(ts)
        print(f"  {k:34} {m * 1000:7.1f} ms   (above python's start: {(m - floor) * 1000:6.1f} ms)")
    if a.base:
        for name in COMMANDS:
            this = statistics.median(times[f"{name} (this)"]) - floor
            base = statistics.median(times[f"{name} (base)"]) - floor
            print(f"  {name}: {base * 1000:.1f} -> {this * 1000:.1f} ms above python's start "
                  f"({base / this if this > 0 else float('inf'):.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
