#!/usr/bin/env python3
"""Write a realistic synthetic pcap for the analysis benchmark, offline.

Many concurrent TCP connections between 10.0.0.0/16 clients and a few
servers: three-way handshakes with MSS/SACK/timestamp/window-scale options,
bulk downloads (MSS-sized segments, an ACK every second segment), request /
response exchanges, a little loss (a dropped data segment followed by
duplicate ACKs and a fast retransmission, or a retransmission by timeout),
FIN teardowns and some RSTs; plus DNS-like UDP.  Frames are Ethernet/IPv4
written with `struct`; IP checksums are computed, TCP/UDP checksums are 0
(tshark does not check them by default).  Deterministic for a given --seed.

    python3 benchmarks/gen_capture.py /tmp/bench-1m.pcap --frames 1000000
"""
from __future__ import annotations

import argparse
import heapq
import random
import struct
import sys

ETH_SRC = b"\x02\x00\x00\x00\x00\x01"
ETH_DST = b"\x02\x00\x00\x00\x00\x02"
MSS = 1448
SYN, FIN, RST, PSH, ACK = 0x02, 0x01, 0x04, 0x08, 0x10


def ip_checksum(hdr: bytes) -> int:
    s = sum(struct.unpack("!10H", hdr))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


class Writer:
    def __init__(self, f, snaplen: int):
        self.f = f
        self.snaplen = snaplen
        self.count = 0
        self.ip_id = 0
        self.buf: list[bytes] = []
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, 1))
        self.zeros = bytes(65536)

    def frame(self, ts: float, ip_payload: bytes, proto: int, src: bytes, dst: bytes, extra: int):
        """`extra` payload bytes (zeros) follow `ip_payload` (the transport header)."""
        self.ip_id = (self.ip_id + 1) & 0xFFFF
        total = 20 + len(ip_payload) + extra
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, self.ip_id, 0x4000, 64, proto, 0, src, dst)
        hdr = hdr[:10] + struct.pack("!H", ip_checksum(hdr)) + hdr[12:]
        data = ETH_DST + ETH_SRC + b"\x08\x00" + hdr + ip_payload + self.zeros[:extra]
        wire = len(data)
        if wire < 60:
            data += self.zeros[:60 - wire]
            wire = 60
        cap = data[:self.snaplen]
        sec = int(ts)
        usec = int(round((ts - sec) * 1e6))
        if usec >= 1000000:
            sec, usec = sec + 1, usec - 1000000
        self.buf.append(struct.pack("<IIII", sec, usec, len(cap), wire) + cap)
        self.count += 1
        if len(self.buf) >= 4096:
            self.flush()

    def flush(self):
        self.f.write(b"".join(self.buf))
        self.buf.clear()


def tcp_header(sport, dport, seq, ack, flags, win, options=b""):
    off = (20 + len(options)) // 4
    return struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                       off << 4, flags, win, 0, 0) + options


def syn_options(ts_val: int, wscale: int) -> bytes:
    # MSS, SACK permitted, timestamps, NOP, window scale: Linux's SYN layout.
    return (struct.pack("!BBH", 2, 4, 1460) + b"\x04\x02" + struct.pack("!BBII", 8, 10, ts_val, 0)
            + b"\x01" + struct.pack("!BBB", 3, 3, wscale))


def connection(rng: random.Random, cid: int, start: float):
    """Yields (ts, direction, flags, seq_offset_c, seq_offset_s, payload, options) steps.

    Implemented directly as frames: yields (ts, from_client, seq, ack, flags, win, plen, opts).
    """
    c_isn = rng.getrandbits(32)
    s_isn = rng.getrandbits(32)
    rtt = rng.uniform(0.0005, 0.04)
    t = start
    cs, ss = c_isn, s_isn  # next sequence numbers
    wsc, wss = 7, 7
    yield (t, True, cs, 0, SYN, 64240, 0, syn_options(rng.getrandbits(32), wsc))
    cs += 1
    t += rtt / 2
    yield (t, False, ss, cs, SYN | ACK, 65160, 0, syn_options(rng.getrandbits(32), wss))
    ss += 1
    t += rtt / 2
    yield (t, True, cs, ss, ACK, 502, 0, b"")
    kind = rng.random()
    if kind < 0.35:  # bulk download
        req = rng.randint(80, 400)
        t += 0.0001
        yield (t, True, cs, ss, PSH | ACK, 502, req, b"")
        cs += req
        total = rng.randint(20, 600) * MSS
        sent = 0
        seg_i = 0
        lose_at = rng.randint(5, 50) if rng.random() < 0.25 else -1
        while sent < total:
            n = min(MSS, total - sent)
            t += rng.uniform(0.00002, 0.0002)
            if seg_i == lose_at:
                lost_seq = ss
                ss += n
                sent += n
                seg_i += 1
                # three more segments get through, each drawing a duplicate ACK
                for _ in range(3):
                    n2 = min(MSS, total - sent)
                    if n2 <= 0:
                        break
                    t += 0.00005
                    yield (t, False, ss, cs, ACK, 509, n2, b"")
                    ss += n2
                    sent += n2
                    t += rtt / 2
                    yield (t, True, cs, lost_seq, ACK, 502, 0, b"")
                t += 0.0002
                yield (t, False, lost_seq, cs, ACK, 509, n, b"")  # fast retransmission
                t += rtt / 2
                yield (t, True, cs, ss, ACK, 502, 0, b"")
                continue
            yield (t, False, ss, cs, PSH | ACK if sent + n >= total else ACK, 509, n, b"")
            ss += n
            sent += n
            seg_i += 1
            if seg_i % 2 == 0 or sent >= total:
                t += rtt / 2
                yield (t, True, cs, ss, ACK, 502 + (seg_i % 64), 0, b"")
                t -= rtt / 2 - 0.00001
    else:  # request/response
        for _ in range(rng.randint(1, 12)):
            t += rng.uniform(0.001, 0.05)
            req = rng.randint(20, 900)
            yield (t, True, cs, ss, PSH | ACK, 502, req, b"")
            cs += req
            t += rtt
            resp = rng.randint(20, 3000)
            if rng.random() < 0.02:  # lost request: retransmitted after an RTO
                t += 0.2
                yield (t, True, cs - req, ss, PSH | ACK, 502, req, b"")
                t += rtt
            while resp > 0:
                n = min(MSS, resp)
                yield (t, False, ss, cs, PSH | ACK, 509, n, b"")
                ss += n
                resp -= n
                t += 0.00003
            t += rtt / 2
            yield (t, True, cs, ss, ACK, 502, 0, b"")
    t += rng.uniform(0.0001, 0.01)
    if rng.random() < 0.05:
        yield (t, True, cs, ss, RST | ACK, 0, 0, b"")
        return
    yield (t, True, cs, ss, FIN | ACK, 502, 0, b"")
    cs += 1
    t += rtt / 2
    yield (t, False, ss, cs, FIN | ACK, 509, 0, b"")
    ss += 1
    t += rtt / 2
    yield (t, True, cs, ss, ACK, 502, 0, b"")


def generate(path: str, frames: int, seed: int, concurrency: int, snaplen: int) -> int:
    rng = random.Random(seed)
    servers = [bytes([192, 0, 2, i]) for i in range(1, 9)]
    with open(path, "wb") as f:
        w = Writer(f, snaplen)
        heap: list = []
        t = 1_700_000_000.0
        cid = 0
        next_start = t

        def add_conn(at: float):
            nonlocal cid
            cid += 1
            client = bytes([10, 0, (cid >> 8) & 0xFF, cid & 0xFF or 1])
            server = servers[cid % len(servers)]
            sport = 1024 + (cid * 7919) % 60000
            dport = (80, 443, 5432, 6379)[cid % 4]
            gen = connection(rng, cid, at)
            first = next(gen)
            heapq.heappush(heap, (first[0], cid, first, gen, client, server, sport, dport))

        for _ in range(concurrency):
            next_start += rng.uniform(0.0, 0.002)
            add_conn(next_start)
        udp_next = t
        while w.count < frames:
            if udp_next <= heap[0][0]:
                # a DNS-like query and its answer
                client = bytes([10, 1, rng.randint(0, 255), rng.randint(1, 254)])
                sport = rng.randint(1024, 65535)
                q = rng.randint(20, 60)
                w.frame(udp_next, struct.pack("!HHHH", sport, 53, 8 + q, 0), 17, client, servers[0], q)
                a = rng.randint(40, 300)
                if w.count < frames:
                    w.frame(udp_next + 0.0004, struct.pack("!HHHH", 53, sport, 8 + a, 0), 17,
                            servers[0], client, a)
                udp_next += rng.uniform(0.0005, 0.01)
                continue
            ts, c, step, gen, client, server, sport, dport = heapq.heappop(heap)
            _, from_client, seq, ack, flags, win, plen, opts = step
            if from_client:
                hdr = tcp_header(sport, dport, seq, ack, flags, win, opts)
                w.frame(ts, hdr, 6, client, server, plen)
            else:
                hdr = tcp_header(dport, sport, seq, ack, flags, win, opts)
                w.frame(ts, hdr, 6, server, client, plen)
            nxt = next(gen, None)
            if nxt is None:
                add_conn(ts + rng.uniform(0.0, 0.003))
            else:
                # keep timestamps monotonic per connection and across the file
                if nxt[0] < ts:
                    nxt = (ts,) + nxt[1:]
                heapq.heappush(heap, (nxt[0], c, nxt, gen, client, server, sport, dport))
        w.flush()
    return w.count


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("output", help="pcap file to write")
    ap.add_argument("--frames", type=int, default=1_000_000, help="number of frames (default 1,000,000)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--concurrency", type=int, default=200,
                    help="TCP connections open at any time (default 200)")
    ap.add_argument("--snaplen", type=int, default=262144,
                    help="bytes kept per frame (default 262144: whole frames)")
    args = ap.parse_args(argv)
    n = generate(args.output, args.frames, args.seed, args.concurrency, args.snaplen)
    print(f"wrote {n} frames to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
