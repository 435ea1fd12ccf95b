"""Whole payloads of a capture's segments and datagrams, and each stream's bytes in order.

The analysis keeps only a payload's first bytes (for arrow previews), but a
check asks whether the bytes the client sent equal a file, or whether the
echo equals what the server received: that needs Wireshark's "Follow TCP
Stream".  `payloads` reads the capture once more for the frames that carry
data; `stream_bytes` puts one direction of a TCP stream in sequence order,
each byte once (a retransmission or overlap adds nothing, a hole is left out
and reported), and a UDP conversation's datagrams in capture order.
"""
from __future__ import annotations

from dataclasses import dataclass

from viz.model import Analysis, Stream


@dataclass(frozen=True)
class Bytes:
    """One direction of one stream: its bytes, the frames they came from, the holes."""

    data: bytes
    frames: tuple[int, ...]
    missing: int = 0  # bytes never seen (a gap in the sequence space)


def payloads(path: str, analysis: Analysis) -> dict[int, bytes]:
    """Frame -> its whole transport payload, for the TCP/UDP frames that carry data."""
    from viz.capture import open_capture
    from viz.decode import decode

    want = {p.frame for p in analysis.packets if p.proto in ("tcp", "udp") and (p.len or 0) > 0}
    out: dict[int, bytes] = {}
    if not want:
        return out
    with open_capture(path) as cap:
        for f in cap:
            if f.number not in want:
                continue
            d = decode(f.linktype, f.data, f.wire_len)
            for name, off, length in d.layers:
                if name == "Data":
                    out[f.number] = bytes(f.data[off:off + length])
                    break
    return out


def stream_bytes(analysis: Analysis, stream: Stream, data: dict[int, bytes], from_client: bool) -> Bytes:
    """The bytes one side of `stream` sent, as its peer's application could read them."""
    side = (stream.client if from_client else stream.server)
    mine = [analysis.packet(f) for f in stream.frames
            if analysis.packet(f).src == side.addr and analysis.packet(f).sport == side.port
            and analysis.packet(f).frame in data]
    if stream.proto == "udp":
        return Bytes(b"".join(data[p.frame] for p in mine), tuple(p.frame for p in mine))
    # Relative seq: 1 is the first data byte.  Place every segment, keep the first copy of each byte.
    pieces = sorted(((p.seq or 0, p.frame) for p in mine), key=lambda x: x[0])
    out = bytearray()
    frames: list[int] = []
    next_seq = 1
    missing = 0
    for seq, frame in pieces:
        chunk = data[frame]
        end = seq + len(chunk)
        if end <= next_seq:
            continue  # all seen already
        if seq > next_seq:
            missing += seq - next_seq
            next_seq = seq
        out += chunk[next_seq - seq:]
        next_seq = end
        frames.append(frame)
    return Bytes(bytes(out), tuple(sorted(frames)), missing)
