"""From which message size does one send() return short?  Per buffer setting of a check run.

    sudo python3 benchmarks/bench_short_writes.py [--max 1048576]

A check provokes short writes (the echo example's `small-sndbuf` run, a
student's `send()` whose return is not checked) by shrinking buffers before
the programs start: `sndbuf` (the client's net.ipv4.tcp_wmem) and `rcvbuf`
(the server's net.ipv4.tcp_rmem, a reader whose window stays small).  For
each setting, the smallest message that one send() of a client with a
timeout (Python then sends without blocking, as a student's program does
after settimeout) does not take whole, found by bisection over real traces;
the kernel defaults are the peer.  The server reads nothing for a second, so
the window is all the receiver offers.  Nothing here is a timed test.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

CLIENT = """\
import socket, sys
s = socket.create_connection(('localhost', 10000))
s.settimeout(5)
n = int(sys.argv[1])
print(s.send(b'x' * n))
s.close()
"""
SERVER = """\
import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('', 10000))
s.listen(1)
while True:
    c, _ = s.accept()
    time.sleep(1)
    while c.recv(65536):
        pass
    c.close()
"""
SETTINGS = [("kernel defaults", {}), ("sndbuf 4096", {"sndbuf": 4096}), ("rcvbuf 4096", {"rcvbuf": 4096}),
            ("sndbuf 4096 + rcvbuf 4096", {"sndbuf": 4096, "rcvbuf": 4096}),
            ("sndbuf 1024 + rcvbuf 4096", {"sndbuf": 1024, "rcvbuf": 4096})]


def sent(size: int, opts: dict, work: str) -> int:
    from tracer import check as checkmod
    from tracer import run as runmod

    r = runmod.trace(runmod.Programs(client=[sys.executable, os.path.join(work, "c.py"), str(size)],
                                     server=[sys.executable, os.path.join(work, "s.py")], name="short"),
                     None, os.path.join(work, "t.pcapng"), timeout=20, run_as="root",
                     on_hosts=checkmod._size_buffers(opts), kstate=False)
    if r.client_status != 0:
        raise SystemExit(f"client failed at {size} bytes: {r.failures}")
    return int(r.client_output.split()[0])


def smallest_short(opts: dict, work: str, top: int) -> tuple[int | None, int, int]:
    """(smallest size sent short, what send() took then, traces run); None if even `top` went whole."""
    lo, hi, runs = 1, top, 1
    took = sent(hi, opts, work)
    if took == hi:
        return None, took, runs
    while hi - lo > 1:  # sent(lo) whole, sent(hi) short
        mid = (lo + hi) // 2
        runs += 1
        got = sent(mid, opts, work)
        if got < mid:
            hi, took = mid, got
        else:
            lo = mid
    return hi, took, runs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max", type=int, default=4 * 1024 * 1024, help="largest message tried (bytes)")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="synack-bench-short-")
    os.chmod(work, 0o755)
    for name, text in (("c.py", CLIENT), ("s.py", SERVER)):
        with open(os.path.join(work, name), "w") as f:
            f.write(text)
    print(f"{'setting':28} {'short from':>12} {'send() took':>12} {'traces':>7} {'seconds':>8}")
    base = None
    try:
        for label, opts in SETTINGS:
            t = time.monotonic()
            size, took, runs = smallest_short(opts, work, args.max)
            dt = time.monotonic() - t
            shown = f"{size:,} B" if size else f"> {args.max:,} B"
            if base is None:
                base = size
            ratio = f"  ({base / size:.0f}x smaller than the defaults)" if size and base and size != base else ""
            print(f"{label:28} {shown:>12} {took:>10,} B {runs:>7} {dt:>8.1f}{ratio}")
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
