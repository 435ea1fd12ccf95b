"""Replay fidelity and rate: synack replay against tcpreplay, same namespaces, same run.

A 10,000-frame client->server capture (UDP frames of 60..1514 bytes, gaps
drawn from an exponential with a 1 ms mean, seeded) is replayed at 1x and at
top speed by synack and by tcpreplay (`apt-get install tcpreplay`; the
benchmark only, no test needs it).  For both, arrivals are taken from the
same kind of tap on the server's veth (the tracer's sniffer, kernel
timestamps) and the timing error is measured the same way: each arrival's
offset from the first arrival minus its scheduled offset (drift accumulates
here), and each gap between two arrivals minus its recorded gap (local
pacing only).  synack's own report (errors against the absolute schedule) is
printed too.

    python3 benchmarks/bench_replay.py [--frames 10000] [--mean-gap-ms 1]
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tracer import replay as rp  # noqa: E402
from tracer.hosts import Hosts  # noqa: E402


def make_capture(path: str, n: int, mean_gap_ms: float, seed: int = 1) -> list[int]:
    rnd = random.Random(seed)
    eth = bytes.fromhex("020000000002020000000001") + b"\x08\x00"
    offsets, t = [], 0.0
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1))  # ns pcap
        for i in range(n):
            size = rnd.choice((60, 66, 590, 1514, rnd.randint(60, 1514)))
            plen = size - 14
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, plen, i & 0xFFFF, 0, 64, 17, 0,
                             bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2]))
            udp = struct.pack("!HHHH", 40000, 9, plen - 20, 0)
            data = eth + ip + udp + i.to_bytes(4, "big") + b"\0" * (plen - 32)
            ns = round(t * 1e9)
            f.write(struct.pack("<IIII", ns // 10**9, ns % 10**9, len(data), len(data)) + data)
            offsets.append(ns)
            t += rnd.expovariate(1.0 / (mean_gap_ms / 1000.0))
    return offsets


def stats(errors_ns: list[int]) -> str:
    e = sorted(abs(x) for x in errors_ns)
    n = len(e)
    return (f"median {e[n // 2] / 1000:.1f} us, p99 {e[min(n - 1, int(0.99 * n))] / 1000:.1f} us, "
            f"max {e[-1] / 1000:.1f} us")


def relative_errors(arrivals: list[int], offsets: list[int], speed: float = 1.0) -> list[int]:
    a0 = arrivals[0]
    return [(a - a0) - round(o / speed) for a, o in zip(arrivals, offsets)]


def gap_errors(arrivals: list[int], offsets: list[int]) -> list[int]:
    return [(a1 - a0) - (o1 - o0) for a0, a1, o0, o1 in zip(arrivals, arrivals[1:], offsets, offsets[1:])]


def arrival_rate(arrivals: list[int]) -> float:
    return (len(arrivals) - 1) / ((arrivals[-1] - arrivals[0]) / 1e9)


def tcpreplay_run(hosts: Hosts, path: str, args: list[str], realtime: bool = False) -> list[int]:
    """tcpreplay under the same conditions as synack: the tap's socket is open
    (frames queue in the kernel) but read only afterwards, so no sniffer thread
    competes for the CPU; `realtime` runs it SCHED_FIFO as synack's paced loop is."""
    sn = rp._vlan_sniffer(hosts.server.netns, "veth0")
    sn.open()
    try:
        subprocess.run(["ip", "netns", "exec", hosts.client.netns,
                        *(["chrt", "-f", "10"] if realtime else []), "tcpreplay", "-q", "-i", "veth0",
                        *args, path], check=True, capture_output=True)
        sn.start()
        sn.stop()
    finally:
        sn.close()
    return [ts for ts, _ in sn.frames]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--mean-gap-ms", type=float, default=1.0)
    ap.add_argument("--top-frames", type=int, default=100_000, help="frames for the rate runs")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-replay-")
    try:
        cap = os.path.join(tmp, "paced.pcap")
        offsets = make_capture(cap, a.frames, a.mean_gap_ms)
        top = os.path.join(tmp, "top.pcap")
        make_capture(top, a.top_frames, 0.01, seed=2)
        have_tcpreplay = shutil.which("tcpreplay") is not None
        print(f"load average {os.getloadavg()[0]:.2f}; {a.frames} frames, mean gap {a.mean_gap_ms} ms ({offsets[-1] / 1e9:.1f} s at 1x); "
              f"rate runs: {a.top_frames} frames")
        with Hosts() as h:
            for s in ("client", "server"):
                rp.block_stack(h.hosts[s].netns)
            r = rp.replay(cap, speed=1.0, hosts=h)
            arr = [ts for ts, _ in r.arrived_frames]
            t = r.timing()
            print(f"synack 1x: sent {r.sent} arrived {r.arrived} identical={r.identical} "
                  f"order={r.order_preserved}")
            print(f"  vs absolute schedule: median {t['median_us']:.1f} us, p99 {t['p99_us']:.1f} us, "
                  f"max {t['max_us']:.1f} us")
            print(f"  vs first arrival:     {stats(relative_errors(arr, offsets))}")
            print(f"  per gap:              {stats(gap_errors(arr, offsets))}")
            if have_tcpreplay:
                for realtime in (False, True):
                    tarr = tcpreplay_run(h, cap, [], realtime)
                    print(f"tcpreplay 1x{' (chrt -f 10)' if realtime else ''}: arrived {len(tarr)}")
                    print(f"  vs first arrival:     {stats(relative_errors(tarr, offsets))}")
                    print(f"  per gap:              {stats(gap_errors(tarr, offsets))}")
                    print(f"  duration {(tarr[-1] - tarr[0]) / 1e9:.3f} s for {offsets[-1] / 1e9:.3f} s recorded")
        # fresh hosts for each rate run: no leftover queue or counters
        with Hosts() as h:
            r = rp.replay(top, speed=None, hosts=h)
            srate = arrival_rate([ts for ts, _ in r.arrived_frames])
            print(f"synack --topspeed: sent {r.sent} arrived {r.arrived} ok={r.ok}: "
                  f"{srate:,.0f} frames/s (arrivals), {r.rate:,.0f} frames/s (send loop)")
        if have_tcpreplay:
            with Hosts() as h:
                rp.block_stack(h.server.netns)
                tarr = tcpreplay_run(h, top, ["--topspeed"])
                trate = arrival_rate(tarr)
                print(f"tcpreplay --topspeed: arrived {len(tarr)}: {trate:,.0f} frames/s (arrivals)")
                print(f"synack/tcpreplay rate: {srate / trate:.0%}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
