"""Ingest speed of viz.capture + viz.decode against tcpdump and scapy.

Builds a large pcap by repeating the frames of the corpus capture
example2.pcap (a busy real mixed capture: Ethernet, VLAN, IPv4/IPv6, TCP, UDP,
ICMP, ARP) with rewritten, increasing timestamps, then times, each in its own
process so peak RSS is that of the reader alone:

  cat            the floor: bytes from the page cache to /dev/null
  tcpdump        tcpdump -nn -r FILE > /dev/null
  scapy raw      scapy's RawPcapReader, iterating records only
  synack read    viz.capture.open_capture, iterating RawFrames
  synack decode  open_capture + viz.decode.decode on every frame

Usage: python3 benchmarks/bench_read.py [--frames 1000000] [--keep DIR] [--only-tcp] [--source CAPTURE]
Wall time, CPU time and peak RSS come from GNU time (/usr/bin/time).
Numbers are printed as a table; they are not asserted anywhere.  CPU seconds
(user+sys of the child) are shown beside wall time because other work on a
shared machine inflates the latter.
"""
from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "..", "shared", "corpus", "example2.pcap")

CHILD = r"""
import sys, time, resource
sys.path.insert(0, %(root)r)
mode, path = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
n = 0
if mode == "read":
    from viz.capture import open_capture
    with open_capture(path) as cap:
        for frame in cap:
            n += 1
elif mode == "decode":
    from viz.capture import open_capture
    from viz.decode import decode
    with open_capture(path) as cap:
        for frame in cap:
            d = decode(frame.linktype, frame.data, frame.wire_len)
            n += 1
elif mode == "scapy":
    from scapy.utils import RawPcapReader
    for pkt, meta in RawPcapReader(path):
        n += 1
dt = time.perf_counter() - t0
print(n, dt, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def build(path: str, frames: int, only_tcp: bool, source: str = CORPUS) -> None:
    """Write `frames` records taken round-robin from `source`, 10 us apart."""
    sys.path.insert(0, ROOT)
    from viz.capture import open_capture
    from viz.decode import decode

    with open_capture(source) as cap:
        src = [(f.data, f.wire_len) for f in cap
               if not only_tcp or decode(f.linktype, f.data, f.wire_len).proto == "tcp"]
        linktype = cap.interfaces[0].linktype
    rec = struct.Struct("<IIII")
    t = 1_700_000_000 * 1_000_000
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
        chunk = []
        for i in range(frames):
            data, wire = src[i % len(src)]
            t += 10
            chunk.append(rec.pack(t // 1_000_000, t % 1_000_000, len(data), wire))
            chunk.append(data)
            if len(chunk) >= 20000:
                out.write(b"".join(chunk))
                chunk.clear()
        out.write(b"".join(chunk))


def run_child(cmd: list[str], to_null: bool = False) -> tuple[float, float, int, str]:
    """(wall seconds, CPU seconds, peak RSS in KiB, stdout) of one child process.

    Measured by GNU time, which forks the command itself: a child forked from
    this (bigger) Python process would start its ru_maxrss from our size.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        proc = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", tf.name, *cmd],
                              stdout=subprocess.DEVNULL if to_null else subprocess.PIPE,
                              stderr=subprocess.DEVNULL)
        if proc.returncode:
            raise SystemExit(f"{cmd[0]} failed with status {proc.returncode}")
        wall, user, sys_, rss = tf.read().split()[-4:]
    return float(wall), float(user) + float(sys_), int(rss), (proc.stdout or b"").decode()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=1_000_000)
    ap.add_argument("--keep", help="directory to keep the generated capture in")
    ap.add_argument("--only-tcp", action="store_true",
                    help="use only the TCP frames of example2 (the plain Ethernet/IPv4/TCP case)")
    ap.add_argument("--source", default=CORPUS,
                    help="capture whose frames are repeated (default: the corpus example2.pcap)")
    ap.add_argument("--no-scapy", action="store_true", help="skip the (slow) scapy row")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="synack-bench-")
    folder = args.keep or tmp.name
    stem = os.path.splitext(os.path.basename(args.source))[0]
    path = os.path.join(folder, f"bench-{stem}-{args.frames}{'-tcp' if args.only_tcp else ''}.pcap")
    if not os.path.exists(path):
        build(path, args.frames, args.only_tcp, args.source)
    size = os.path.getsize(path)
    subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
    rows = []
    dt, cpu, rss, _ = run_child(["cat", path], to_null=True)
    rows.append(("cat > /dev/null", args.frames, dt, cpu, rss))
    dt, cpu, rss, _ = run_child(["tcpdump", "-nn", "-r", path], to_null=True)
    rows.append(("tcpdump -nn -r", args.frames, dt, cpu, rss))
    child = CHILD % {"root": ROOT}
    modes = [("synack read", "read"), ("synack read+decode", "decode")]
    if not args.no_scapy:
        modes.insert(0, ("scapy RawPcapReader", "scapy"))
    for label, mode in modes:
        dt, cpu, rss, out = run_child([sys.executable, "-c", child, mode, path])
        n, inner, _ = out.split()
        if int(n) != args.frames:
            raise SystemExit(f"{label}: read {n} frames, expected {args.frames}")
        rows.append((label, int(n), dt, cpu, rss))
    print(f"{args.frames:,} frames, {size / 1e6:.0f} MB ({path}); load average {os.getloadavg()[0]:.1f}")
    print(f"{'reader':<22} {'wall s':>7} {'CPU s':>7} {'frames/s (wall)':>16} {'frames/s (CPU)':>15} {'peak RSS MB':>12}")
    for label, n, dt, cpu, rss in rows:
        print(f"{label:<22} {dt:7.2f} {cpu:7.2f} {n / dt:16,.0f} {n / max(cpu, 1e-9):15,.0f} {rss / 1024:12.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
