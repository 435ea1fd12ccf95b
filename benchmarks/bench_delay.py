"""Accuracy of the delay element (tracer.wire): achieved one-way delay vs the setting.

UDP datagrams numbered 0..N-1 are sent client -> server (then server ->
client) at a fixed pace through the wire; the sniffers on both end hosts'
veth0 stamp each frame in the kernel (one clock), so achieved delay = arrival
stamp at the receiver - departure stamp at the sender.  Printed: median,
p99 and max error against the configured delay, and the wire's own
release lateness.  Not a test: numbers go in the README.

    python3 benchmarks/bench_delay.py [--frames 2000] [--pps 1000]
"""
from __future__ import annotations

import argparse
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tracer.hosts import Hosts  # noqa: E402
from tracer.sniffer import Sniffer  # noqa: E402
from tracer.wire import spec_from  # noqa: E402

PORT = 9999


def udp(addr: str) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, PORT))
    return s


def send_all(sock: socket.socket, dst: str, n: int, pps: float, tag: int, size: int) -> None:
    start = time.monotonic()
    pad = b"\0" * max(0, size - 5)
    for i in range(n):
        while time.monotonic() < start + i / pps:
            pass
        sock.sendto(struct.pack("!BI", tag, i) + pad, (dst, PORT))


def stamps(sniffer: Sniffer, tag: int) -> dict[int, int]:
    out = {}
    for ts, frame in sniffer.frames:
        if len(frame) >= 47 and frame[23] == 17 and struct.unpack_from("!H", frame, 36)[0] == PORT \
                and frame[42] == tag:
            out.setdefault(struct.unpack_from("!I", frame, 43)[0], ts)
    return out


def pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(len(values) * p))]


def run(label: str, spec, n: int, pps: float, size: int) -> None:
    with Hosts(wire=spec) as h:
        cs = h.run_in("client", udp, h.client.address)
        ss = h.run_in("server", udp, h.server.address)
        sniff = {r: Sniffer(h.hosts[r].netns, "veth0") for r in ("client", "server")}
        for s in sniff.values():
            s.start()
        # ARP first, so the numbered frames all take the data path
        h.run_in("client", send_all, cs, h.server.address, 1, 1, 9, size)
        time.sleep(0.2 + 2 * (spec.delay_c2s if spec else 0))
        h.run_in("client", send_all, cs, h.server.address, n, pps, 1, size)
        h.run_in("server", send_all, ss, h.client.address, n, pps, 2, size)
        time.sleep(0.3 + max(spec.delay_c2s, spec.delay_s2c) * 2 if spec else 0.3)
        for s in sniff.values():
            s.stop()
        cs.close()
        ss.close()
        stats = h.wire.stop() if h.wire else None
    for direction, tag, src, dst, want in (("c2s", 1, "client", "server", spec.delay_c2s if spec else 0),
                                           ("s2c", 2, "server", "client", spec.delay_s2c if spec else 0)):
        a, b = stamps(sniff[src], tag), stamps(sniff[dst], tag)
        errs = sorted(abs((b[i] - a[i]) / 1e9 - want) * 1e6 for i in a if i in b)
        lost = n - len(errs)
        print(f"{label:<34} {direction}  frames {len(errs):>6}  lost {lost:>3}  error us: "
              f"median {pct(errs, 0.5):8.1f}  p99 {pct(errs, 0.99):8.1f}  max {errs[-1]:8.1f}")
    if stats:
        print(f"{'':<34} wire release lateness us: median {stats['late_median_us']}  "
              f"p99 {stats['late_p99_us']}  max {stats['late_max_us']}; dropped {stats['dropped']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=2000)
    ap.add_argument("--pps", type=float, default=1000.0)
    ap.add_argument("--size", type=int, default=100, help="UDP payload bytes")
    a = ap.parse_args()
    print(f"{a.frames} frames each way at {a.pps:g} frames/s, {a.size}-byte payloads; "
          f"error = |achieved one-way delay - setting|")
    run("no wire (direct veth)", None, a.frames, a.pps, a.size)
    run("--delay 0ms (wire, no delay)", spec_from("0ms"), a.frames, a.pps, a.size)
    run("--delay 20ms", spec_from("20ms"), a.frames, a.pps, a.size)
    run("--delay c2s:30ms,s2c:10ms", spec_from("c2s:30ms,s2c:10ms"), a.frames, a.pps, a.size)
    run(f"--delay 20ms at {a.pps * 10:g} frames/s", spec_from("20ms"), a.frames, a.pps * 10, a.size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
