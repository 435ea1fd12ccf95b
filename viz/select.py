"""Frames and frame ranges named by meaning: "the SYN", "the first data segment", "the teardown".

Frame numbers shift between traces of the same program (an ARP exchange, a
delayed ACK), so manifests and notebooks name what they want and it is found
again in each capture.  Pure: reads only the analysis model.
"""
from __future__ import annotations

from typing import Any

from viz.errors import SynackError

FRAME_SELECTORS = ("syn", "syn-ack", "first-ack", "first-data", "reply-data", "http-get", "fin",
                   "rst", "first-udp", "udp-reply")
LADDER_PHASES = ("handshake", "data", "teardown", "loss", "zero-window")


def select_frame(analysis, selector: int | str) -> int:
    """'syn' -> the first SYN's frame number, 'http-get' -> the first segment starting with GET, ..."""
    from viz.model import Flag

    if isinstance(selector, int):
        if selector > len(analysis.packets):
            raise SynackError(f"frame {selector} out of range (the capture has {len(analysis.packets)} frames)")
        return selector
    pk = analysis.packets
    first_data_dir = None
    for p in pk:
        f = p.flags
        if selector == "syn" and f & Flag.SYN and not f & Flag.ACK:
            return p.frame
        if selector == "syn-ack" and f & Flag.SYN and f & Flag.ACK:
            return p.frame
        if selector == "first-ack" and p.proto == "tcp" and f == Flag.ACK and not p.len:
            return p.frame
        if selector == "first-data" and p.proto == "tcp" and p.len:
            return p.frame
        if selector == "reply-data" and p.proto == "tcp" and p.len:
            if first_data_dir is None:
                first_data_dir = (p.src, p.sport)
            elif (p.src, p.sport) != first_data_dir:
                return p.frame
        if selector == "http-get" and p.proto == "tcp" and p.payload.startswith(b"GET "):
            return p.frame
        if selector == "fin" and p.proto == "tcp" and f & Flag.FIN:
            return p.frame
        if selector == "rst" and p.proto == "tcp" and f & Flag.RST:
            return p.frame
        if selector == "first-udp" and p.proto == "udp":
            return p.frame
        if selector == "udp-reply" and p.proto == "udp":
            if first_data_dir is None:
                first_data_dir = (p.src, p.sport)
            elif (p.src, p.sport) != first_data_dir:
                return p.frame
    raise SynackError(f"no frame matches {selector!r}")


def phase_frames(analysis, phase: str, stream: Any = None) -> tuple[int, int]:
    """The frame range of a TCP stream's handshake, data transfer or teardown, or of an episode:
    "loss" (the first retransmitted segment's original, to the ACK covering
    the retransmission) or "zero-window" (the first full or zero window to the
    data that follows the window update).

    Frame numbers shift between traces (an ARP exchange, a delayed ACK), so a
    manifest names the phase and the range is found in each new capture."""
    from viz.ladder import select_streams
    from viz.model import Flag

    streams = [s for s in select_streams(analysis, stream) if s.proto == "tcp"]
    if not streams:
        raise SynackError(f"phase {phase!r}: no TCP stream")
    s = streams[0]
    pk = [analysis.packet(n) for n in s.frames]
    syn_ack = next((i for i, p in enumerate(pk) if p.flags & Flag.SYN and p.flags & Flag.ACK), None)
    first_fin = next((i for i, p in enumerate(pk) if p.flags & (Flag.FIN | Flag.RST)), None)
    first_data = next((i for i, p in enumerate(pk) if p.len), None)
    if phase == "loss":
        return _loss(pk)
    if phase == "zero-window":
        return _zero_window(pk)
    if phase == "handshake":
        if syn_ack is None:
            raise SynackError("phase 'handshake': no SYN, ACK in the stream")
        end = min(syn_ack + 1, len(pk) - 1)
        if first_data is not None and first_data <= end:
            end = syn_ack
        return pk[0].frame, pk[end].frame
    if phase == "data":
        if first_data is None:
            raise SynackError("phase 'data': the stream carries no data")
        last = (first_fin - 1) if first_fin is not None and first_fin > first_data else len(pk) - 1
        return pk[first_data].frame, pk[last].frame
    if first_fin is None:
        raise SynackError("phase 'teardown': no FIN or RST in the stream")
    return pk[first_fin].frame, pk[-1].frame


def _loss(pk: list) -> tuple[int, int]:
    from viz.model import Flag, Tag

    rx = next((i for i, p in enumerate(pk)
               if {Tag.RETRANSMISSION, Tag.FAST_RETRANSMISSION} & set(p.analysis)), None)
    if rx is None:
        raise SynackError("phase 'loss': no retransmission in the stream")
    r = pk[rx]
    sender = (r.src, r.sport)
    start = next((i for i in range(rx) if (pk[i].src, pk[i].sport) == sender and pk[i].seq == r.seq
                  and (pk[i].len or pk[i].flags & (Flag.SYN | Flag.FIN))), rx)
    end = next((i for i in range(rx + 1, len(pk)) if (pk[i].src, pk[i].sport) != sender
                and pk[i].flags & Flag.ACK and pk[i].ack is not None and pk[i].ack > r.seq), len(pk) - 1)
    return pk[start].frame, pk[end].frame


def _zero_window(pk: list) -> tuple[int, int]:
    from viz.model import Tag

    start = next((i for i, p in enumerate(pk) if {Tag.WINDOW_FULL, Tag.ZERO_WINDOW} & set(p.analysis)), None)
    if start is None:
        raise SynackError("phase 'zero-window': no full or zero window in the stream")
    upd = next((i for i in range(start, len(pk)) if Tag.WINDOW_UPDATE in pk[i].analysis), len(pk) - 1)
    return pk[start].frame, pk[min(upd + 1, len(pk) - 1)].frame
