#!/usr/bin/env python3
"""Write 1M-frame benchmark captures made from real kernel TCP, replicated.

    sudo python3 benchmarks/gen_replicated.py lossy /tmp/synack-bench-lossy.pcap
    sudo python3 benchmarks/gen_replicated.py short /tmp/synack-bench-short.pcap

`lossy`: one real `synack trace bulk --bytes 4000000 --loss 2% --seed N`
capture (SACK, duplicate ACKs, fast retransmissions, window-full edges: what
Linux does on a lossy link), `short`: one real trace of
benchmarks/programs/short_client.py making 300 HTTP/1.0-like connections to
short_server.py.  The source's IPv4 frames are then copied onto distinct
client addresses (198.18.0.0/15, the benchmarking range; IP and TCP
checksums updated as RFC 1624 says) and each copy shifted in time, so copies
overlap and their streams interleave, until --frames frames: a capture no
part of synack was tuned for, with hundreds (lossy) or 100,000 (short) TCP
streams.  Needs root for the trace (network namespaces); --source CAPTURE
replicates an existing capture instead.  Deterministic for a given source.
"""
from __future__ import annotations

import argparse
import heapq
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SERVER_CMD = f"{sys.executable} {REPO / 'benchmarks' / 'programs' / 'short_server.py'}"
CLIENT_CMD = f"{sys.executable} {REPO / 'benchmarks' / 'programs' / 'short_client.py'} 300"


def trace(kind: str, out: Path, seed: int) -> None:
    cmd = [sys.executable, "-m", "tracer", "trace", "-o", str(out)]
    if kind == "lossy":
        cmd += ["bulk", "--bytes", "4000000", "--loss", "2%", "--seed", str(seed)]
    else:
        cmd += ["--server", SERVER_CMD, "--client", CLIENT_CMD, "--timeout", "120", "--run-as", "root"]
    subprocess.run(cmd, check=True, cwd=REPO)


def _fold(s: int) -> int:
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def _adjust(csum: int, old: bytes, new: bytes) -> int:
    """RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') over the changed 16-bit words."""
    s = ~csum & 0xFFFF
    for i in range(0, len(old), 2):
        s += (~int.from_bytes(old[i:i + 2], "big") & 0xFFFF) + int.from_bytes(new[i:i + 2], "big")
    return ~_fold(s) & 0xFFFF


def source_frames(path: Path):
    """(microseconds, ethernet bytes, wire length) of the source's IPv4 TCP/UDP frames."""
    sys.path.insert(0, str(REPO))
    from viz.capture import open_capture
    out = []
    with open_capture(path) as cap:
        for r in cap:
            d = r.data
            if r.linktype != 1 or len(d) < 34 or d[12:14] != b"\x08\x00" or d[23] not in (6, 17):
                continue
            out.append((round(r.ts * 1e6), bytes(d), r.wire_len))
    return out


def rewrite(frame: bytes, client: bytes, addr: bytes) -> bytes:
    """The frame with `client` replaced by `addr` as source or destination."""
    b = bytearray(frame)
    ihl = (b[14] & 15) * 4
    for off in (26, 30):
        if b[off:off + 4] == client:
            b[off:off + 4] = addr
            ip_sum = int.from_bytes(b[24:26], "big")
            b[24:26] = _adjust(ip_sum, client, addr).to_bytes(2, "big")
            tp = 14 + ihl
            at = tp + (16 if b[23] == 6 else 6)
            if len(b) >= at + 2:
                t_sum = int.from_bytes(b[at:at + 2], "big")
                if b[23] == 6 or t_sum:
                    b[at:at + 2] = _adjust(t_sum, client, addr).to_bytes(2, "big")
    return bytes(b)


def replicate(frames, out: Path, total: int, overlap: int) -> int:
    client = frames[0][1][26:30] if frames[0][1][34:36] > frames[0][1][36:38] else frames[0][1][30:34]
    first_t = frames[0][0]
    span = max(frames[-1][0] - first_t, 1)
    step = max(span // overlap, 1)
    copies = -(-total // len(frames)) + 1

    def copy(k):
        addr = bytes([198, 18 + (k >> 16), (k >> 8) & 255, k & 255])
        shift = k * step
        for i, (us, data, wire) in enumerate(frames):
            yield us + shift, k, i, data, wire, addr

    n = 0
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        buf = []
        for us, k, _i, data, wire, addr in heapq.merge(*(copy(k) for k in range(copies))):
            d = rewrite(data, client, addr)
            buf.append(struct.pack("<IIII", us // 1_000_000, us % 1_000_000, len(d), wire) + d)
            n += 1
            if len(buf) >= 8192:
                f.write(b"".join(buf))
                buf.clear()
            if n >= total:
                break
        f.write(b"".join(buf))
    return n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kind", choices=("lossy", "short"))
    ap.add_argument("output", type=Path)
    ap.add_argument("--frames", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7, help="loss seed of the lossy trace (default 7)")
    ap.add_argument("--source", type=Path, help="replicate this capture instead of tracing one")
    ap.add_argument("--overlap", type=int, default=0,
                    help="copies in flight at once (default: 30 lossy, 8 short)")
    args = ap.parse_args(argv)
    src = args.source
    if src is None:
        src = Path(tempfile.mkdtemp(prefix="synack-gen-")) / f"{args.kind}.pcapng"
        trace(args.kind, src, args.seed)
    frames = source_frames(src)
    if not frames:
        print(f"{src}: no IPv4 TCP/UDP frames to replicate", file=sys.stderr)
        return 1
    n = replicate(frames, args.output, args.frames, args.overlap or (30 if args.kind == "lossy" else 8))
    print(f"wrote {n} frames to {args.output} ({len(frames)} source frames from {src})",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
