"""Batch decoding of the frames most captures are made of, with numpy.

`viz.decode.decode` handles every frame but costs microseconds of Python per
frame; a million-frame export cannot afford that.  Here a batch of RawFrames
is joined into one buffer and the header fields of the plain frames
(Ethernet or raw IPv4, IPv4 without fragmentation, TCP or UDP, TCP options
absent or only NOP,NOP,timestamp, no SYN) are gathered with vectorized
indexing.  Every other frame (IPv6, VLAN, tunnels, fragments, SYNs and their
options, anything odd) is left to `decode`, so the rules stay in one place
and the fast path only takes frames whose decoding is not in doubt; the
corpus tests check that both give the same document.

Pure: bytes in, Python lists out.
"""
from __future__ import annotations

import numpy as np

P_TCP, P_UDP = 6, 17
HEAD = 128  # header bytes examined per frame; frames needing more take the general way
_ADDR: dict[int, str] = {}


def _addr(v: int) -> str:
    s = _ADDR.get(v)
    if s is None:
        if len(_ADDR) > 65536:
            _ADDR.clear()
        s = _ADDR[v] = "%d.%d.%d.%d" % (v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255)
    return s


def _u16(b, i):
    return (b[i].astype(np.uint32) << 8) | b[i + 1]


def _u32(b, i):
    return ((b[i].astype(np.uint64) << 24) | (b[i + 1].astype(np.uint64) << 16)
            | (b[i + 2].astype(np.uint64) << 8) | b[i + 3])


def decode_batch(raws: list) -> tuple[list, list]:
    """Columns for the plain frames of `raws` (RawFrame tuples).

    Returns (fast, cols): `fast[i]` is True where the frame was decoded here;
    cols = (proto, src, dst, sport, dport, flags, seq, ack, win, length), one
    list each, with `length` the TCP payload length from the IP total length or
    the UDP length minus 8; entries of frames not decoded here are
    meaningless.
    """
    n = len(raws)
    datas = [r[3] for r in raws]
    lens = np.fromiter(map(len, datas), dtype=np.int64, count=n)
    wire = np.fromiter((r[4] for r in raws), dtype=np.int64, count=n)
    lt = np.fromiter((r[2] for r in raws), dtype=np.int64, count=n)
    # Only the headers matter: a fixed-stride copy of each frame's first HEAD bytes.
    heads = b"".join([d[:HEAD] if len(d) >= HEAD else d.ljust(HEAD, b"\0") for d in datas])
    buf = np.frombuffer(heads + bytes(64), dtype=np.uint8)
    starts = np.arange(0, n * HEAD, HEAD, dtype=np.int64)
    lens = np.minimum(lens, HEAD)  # what the fast path may read of each frame
    eth = lt == 1
    raw_ip = (lt == 101) | (lt == 12) | (lt == 14) | (lt == 228)
    ok = eth | raw_ip
    ip = starts + np.where(eth, 14, 0)
    ok &= lens >= np.where(eth, 34, 20)
    ipc = np.where(ok, ip, 0)
    ok &= ~eth | (_u16(buf, starts + 12) == 0x0800)
    vihl = buf[ipc]
    ok &= (vihl >> 4) == 4
    ihl = (vihl & 15).astype(np.int64) * 4
    ok &= ihl >= 20
    totlen = _u16(buf, ipc + 2).astype(np.int64)
    link = ip - starts
    ok &= (totlen >= ihl) & (link + totlen <= wire)
    ok &= (_u16(buf, ipc + 6) & 0x3FFF) == 0  # not a fragment
    proto = buf[ipc + 9]
    ok &= (proto == P_TCP) | (proto == P_UDP)
    tp = ip + ihl
    is_tcp = proto == P_TCP
    ok &= lens >= link + ihl + np.where(is_tcp, 20, 8)
    tpc = np.where(ok, tp, 0)
    doff = (buf[tpc + 12] >> 4).astype(np.int64) * 4
    flags = buf[tpc + 13]
    tcp_ok = is_tcp & (doff >= 20) & (ihl + doff <= totlen) & (lens >= link + ihl + doff)
    tcp_ok &= (flags & 0x02) == 0  # SYNs (and their options) go the general way
    ts_only = (doff == 32) & (buf[tpc + 20] == 1) & (buf[tpc + 21] == 1) \
        & (buf[tpc + 22] == 8) & (buf[tpc + 23] == 10)
    tcp_ok &= (doff == 20) | ts_only
    udp_len = _u16(buf, tpc + 4).astype(np.int64)
    udp_ok = ~is_tcp & (udp_len >= 8)
    ok &= np.where(is_tcp, tcp_ok, udp_ok)
    length = np.where(is_tcp, totlen - ihl - doff, udp_len - 8)
    src = _u32(buf, ipc + 12)
    dst = _u32(buf, ipc + 16)
    cols = (
        proto.tolist(),
        [_addr(v) for v in src.tolist()],
        [_addr(v) for v in dst.tolist()],
        _u16(buf, tpc).tolist(),
        _u16(buf, tpc + 2).tolist(),
        flags.tolist(),
        _u32(buf, tpc + 4).tolist(),
        _u32(buf, tpc + 8).tolist(),
        _u16(buf, tpc + 14).tolist(),
        length.tolist(),
    )
    return ok.tolist(), cols
