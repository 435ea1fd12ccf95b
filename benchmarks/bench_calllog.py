"""Reading a flooded socket-call log (tracer.calllog): time linear in its size, memory bounded.

    python benchmarks/bench_calllog.py [MB]

Writes logs of MB/4, MB/2 and MB megabytes (default 100) of records, half
valid and half forged (`null`, `{"ts": "x"}`, ...), as a traced program could,
and prints, for each, the seconds `read_all` takes, the records kept and
dropped, and this process's peak RSS.  Up to the 16 MiB cap the time doubles
with the size; past it the rest is only counted, not parsed.
"""
from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tracer import calllog  # noqa: E402

GOOD = json.dumps({"ts": 1795317712.5, "host": "client", "pid": 7, "fd": 3, "call": "send", "phase": "call",
                   "args": "b'x'", "result": "", "error": ""}) + "\n"
BAD = ['null\n', '[1,2,3]\n', '{"ts":"x"}\n', '{"ts": NaN, "call": "send", "phase": "call"}\n']


def main(mb: float) -> None:
    block = "".join(GOOD + BAD[i % len(BAD)] for i in range(4096)).encode()
    with tempfile.TemporaryDirectory() as d:
        for size in (mb / 4, mb / 2, mb):
            path = os.path.join(d, "client.jsonl")
            with open(path, "wb") as f:
                for _ in range(max(1, int(size * (1 << 20) / len(block)))):
                    f.write(block)
            t = time.perf_counter()
            recs, dropped = calllog.read_all([path])
            took = time.perf_counter() - t
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"{os.path.getsize(path) / (1 << 20):7.1f} MB log: {took:.2f} s, {len(recs)} kept, "
                  f"{dropped} dropped; peak RSS {rss:.0f} MB", flush=True)
            del recs


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 100.0)
