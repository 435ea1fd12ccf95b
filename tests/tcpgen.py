"""A Hypothesis generator of TCP exchanges, written as a classic pcap.

Each stream is a random walk over what real traffic does: a handshake with
options (MSS, SACK permitted, timestamps, window scale; or none: a capture
starting mid-stream), data both ways, acknowledgements every segment or every
other, loss (a segment never shown), reordering (two frames swapped),
retransmission of something already sent, duplicate ACKs with SACK blocks,
keep-alives, zero windows and window probes, window updates, FIN teardown or
RST, and port reuse (a closed stream's ports used again with a new ISN).
Streams interleave in time, gaps from microseconds to a second (around the
thresholds tshark's rules use: 3 ms out-of-order, 20 ms fast retransmission).

Nothing here decides what tshark will say about the frames: the tests hold
the engine's analysis against tshark's for whatever comes out.
"""
from __future__ import annotations

import struct

from hypothesis import strategies as st

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
MASK = 0xFFFFFFFF
GAPS = (0.000005, 0.0005, 0.002, 0.004, 0.015, 0.03, 0.2, 1.0)


def _checksum(hdr: bytes) -> int:
    s = sum(struct.unpack("!%dH" % (len(hdr) // 2), hdr))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def frame(src: int, dst: int, sport: int, dport: int, seq: int, ack: int, flags: int, win: int,
          payload: int, options: bytes = b"") -> bytes:
    """Ethernet/IPv4/TCP bytes (TCP checksum 0: tshark does not check it by default)."""
    options += b"\x00" * (-len(options) % 4)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & MASK, ack & MASK,
                      (20 + len(options)) // 4 << 4, flags, win, 0, 0) + options
    total = 20 + len(tcp) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 6, 0,
                     src.to_bytes(4, "big"), dst.to_bytes(4, "big"))
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + tcp + bytes(payload)


def pcap(frames: list[tuple[int, bytes]]) -> bytes:
    """A pcap file of (microseconds, frame) pairs."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)]
    for us, data in frames:
        out.append(struct.pack("<IIII", us // 1_000_000, us % 1_000_000, len(data), len(data)) + data)
    return b"".join(out)


def syn_options(draw, ws_ok: bool) -> bytes:
    opts = b""
    if draw(st.booleans()):
        opts += struct.pack("!BBH", 2, 4, draw(st.sampled_from((536, 1460))))
    if draw(st.booleans()):
        opts += b"\x04\x02"
    if draw(st.booleans()):
        opts += struct.pack("!BBII", 8, 10, draw(st.integers(0, MASK)), 0)
    if ws_ok and draw(st.booleans()):
        opts += b"\x01" + struct.pack("!BBB", 3, 3, draw(st.sampled_from((0, 2, 7, 14, 15))))
    return opts


@st.composite
def stream(draw, ports):
    """(frames as (time offset in s, from client, seq, ack, flags, win, len, options)) of one
    connection, possibly several incarnations on the same ports."""
    steps = []
    t = 0.0
    for _incarnation in range(draw(st.integers(1, 2))):
        isn = [draw(st.integers(0, MASK)), draw(st.integers(0, MASK))]
        nxt = list(isn)
        acked = list(isn)  # highest ack each side has sent (for the other's data)
        win = [draw(st.sampled_from((0, 1, 502, 8192, 65535))), draw(st.sampled_from((502, 65535)))]
        shown = []  # segments shown, for retransmissions

        def emit(side, seq, flags, length, opts=b"", ack=None, w=None, gap=None):
            nonlocal t
            t += gap if gap is not None else draw(st.sampled_from(GAPS))
            a = acked[side] if ack is None else ack
            steps.append((t, side == 0, seq, a, flags, win[side] if w is None else w, length, opts))
            if length:
                shown.append((side, seq, length))

        if draw(st.booleans()):  # handshake
            both_ws = draw(st.booleans())
            emit(0, isn[0], SYN, 0, syn_options(draw, True), ack=0)
            if draw(st.booleans()):
                emit(0, isn[0], SYN, 0, syn_options(draw, True), ack=0)  # SYN retransmitted
            nxt[0] = (isn[0] + 1) & MASK
            acked[1] = nxt[0]
            emit(1, isn[1], SYN | ACK, 0, syn_options(draw, both_ws))
            nxt[1] = (isn[1] + 1) & MASK
            acked[0] = nxt[1]
            emit(0, nxt[0], ACK, 0)
        for _ in range(draw(st.integers(0, 14))):
            side = draw(st.integers(0, 1))
            other = 1 - side
            kind = draw(st.sampled_from(("data", "data", "data", "ack", "lose", "retrans",
                                         "dupacks", "keepalive", "zerowin", "probe", "winupd",
                                         "reorder")))
            if kind in ("data", "lose"):
                n = draw(st.sampled_from((1, 20, 536, 1448)))
                if kind == "data":
                    emit(side, nxt[side], ACK | (PSH if draw(st.booleans()) else 0), n)
                nxt[side] = (nxt[side] + n) & MASK
                if draw(st.booleans()):
                    acked[other] = nxt[side] if kind == "data" else acked[other]
                    emit(other, nxt[other], ACK, 0)
            elif kind == "ack":
                acked[other] = nxt[side]
                emit(other, nxt[other], ACK, 0)
            elif kind == "retrans" and shown:
                s, seq, n = draw(st.sampled_from(shown))
                emit(s, seq, ACK, n)
            elif kind == "dupacks":
                sack = b""
                if draw(st.booleans()):
                    left = (acked[side] + 1448) & MASK
                    sack = b"\x01\x01" + struct.pack("!BBII", 5, 10, left, (left + 1448) & MASK)
                for _ in range(draw(st.integers(1, 4))):
                    emit(side, nxt[side], ACK, 0, sack, gap=draw(st.sampled_from(GAPS[:4])))
            elif kind == "keepalive":
                emit(side, (nxt[side] - 1) & MASK, ACK, draw(st.integers(0, 1)))
                emit(other, nxt[other], ACK, 0)
            elif kind == "zerowin":
                emit(side, nxt[side], ACK, 0, w=0)
                win[side] = 0
            elif kind == "probe":
                emit(other, nxt[other], ACK, 1)
                emit(side, nxt[side], ACK, 0, w=0)
            elif kind == "winupd":
                win[side] = draw(st.sampled_from((502, 4096, 65535)))
                emit(side, nxt[side], ACK, 0)
            elif kind == "reorder" and len(steps) >= 2:
                a, b = steps[-2], steps[-1]
                steps[-2], steps[-1] = (a[0],) + b[1:], (b[0],) + a[1:]
        end = draw(st.sampled_from(("fin", "fin", "rst", "none")))
        if end == "fin":
            emit(0, nxt[0], FIN | ACK, 0)
            nxt[0] = (nxt[0] + 1) & MASK
            acked[1] = nxt[0]
            emit(1, nxt[1], FIN | ACK, 0)
            nxt[1] = (nxt[1] + 1) & MASK
            acked[0] = nxt[1]
            emit(0, nxt[0], ACK, 0)
        elif end == "rst":
            emit(draw(st.integers(0, 1)), nxt[0], RST | ACK, 0, w=0)
        t += draw(st.sampled_from(GAPS))
    return ports, steps


@st.composite
def exchanges(draw):
    """A capture of several interleaved streams (pcap bytes)."""
    n = draw(st.integers(1, 6))
    client = 0xC0000201  # 192.0.2.1
    server = 0xC0000202
    streams = []
    for i in range(n):
        cport = draw(st.sampled_from((40000, 40001, 40002 + i)))  # equal ports: reuse
        streams.append(draw(stream((cport, draw(st.sampled_from((80, 443)))))))
    frames = []
    for k, ((cport, sport), steps) in enumerate(streams):
        start = draw(st.integers(0, 50_000))
        for t, from_client, seq, ack, flags, win, length, opts in steps:
            us = start + round(t * 1e6)
            if from_client:
                data = frame(client, server, cport, sport, seq, ack, flags, win, length, opts)
            else:
                data = frame(server, client, sport, cport, seq, ack, flags, win, length, opts)
            frames.append((us, k, len(frames), data))
    frames.sort()
    return pcap([(us, data) for us, _k, _i, data in frames])
