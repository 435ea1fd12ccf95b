"""What a loss figure must show beyond the segments: the timer, the lost arrow, the duplicate ACKs
with what they acknowledge, the recovery, and the name of the textbook case.

A capture holds what passed one point.  At the sender a retransmission
proves the original (or its ACK) went missing: the original is drawn lost
unless the receiver's D-SACK or tshark's spurious tag says it had arrived
(then the ACK was lost).  At the receiver a gap in the sequence space
("previous segment not captured") is a segment that never arrived: it is
drawn as an arrow that stops short, marked inferred, since the capture never
saw it.  Pure: works on the ladder's rows (anything with `packet`,
`from_client`, `stream`, `lost`, `frame`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from viz.model import Analysis, Flag, Packet, Stream, Tag

INFERRED_LOST = "lost (inferred: retransmitted)"
NEVER_ARRIVED = "never arrived (inferred)"
RECOVERY = "recovery: retransmission acknowledged"
NOT_CAPTURED = "not captured (inferred gap)"
RETRANS = (Tag.RETRANSMISSION, Tag.FAST_RETRANSMISSION, Tag.SPURIOUS_RETRANSMISSION)
# A copy sooner than this after the original is no timer's work (Linux's RTO is at least
# 200 ms, or tracer's --rto-min, never under a few ms): a capture that saw the frame twice.
MIN_RTO = 0.001


@dataclass(frozen=True, slots=True)
class Timer:
    """A retransmission timer on the sender's lifeline: from a transmission to its retransmission."""

    lifeline: int
    y_start: float
    y_end: float
    text: str  # "RTO 26.0 ms"
    frame: int  # the retransmission


def duration_text(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:.3g} s" if seconds < 100 else f"{seconds:.0f} s"
    ms = seconds * 1e3
    return f"{ms:.3g} ms" if ms >= 1 else f"{ms:.2f} ms"


def vantage(analysis: Analysis, stream: Stream) -> tuple[str | None, bool]:
    """Which end of `stream` the capture was taken at ("client"/"server"), and whether that is
    inferred: the metadata's capture point, else the handshake's timing (at the client the
    SYN/ACK comes an RTT after the SYN and the ACK at once; at the server the other way round)."""
    from viz.ladder import _host_of

    point = (analysis.capture.meta or {}).get("capture_point")
    if point:
        for side, e in (("client", stream.client), ("server", stream.server)):
            if _host_of(analysis, e.addr) == point:
                return side, False
    syn = synack = ack = None
    for f in stream.frames[:8]:
        if f > len(analysis.packets):
            break
        p = analysis.packet(f)
        if p.proto != "tcp":
            return None, True
        if p.flags & Flag.SYN and not p.flags & Flag.ACK:
            syn = p
        elif p.flags & Flag.SYN and syn is not None:
            synack = p
        elif synack is not None and p.flags & Flag.ACK:
            ack = p
            break
    if syn is None or synack is None or ack is None:
        return None, True
    first, second = synack.t - syn.t, ack.t - synack.t
    if first > 2 * second:
        return "client", True
    if second > 2 * first:
        return "server", True
    return None, True


def sender_side(r, points: dict[int, str | None]) -> bool:
    """The row's segment was captured where it was sent (`points`: id(stream) -> vantage)."""
    point = points.get(id(r.stream))
    return point is not None and (point == "client") == r.from_client


def _key(p: Packet) -> tuple:
    return (p.src, p.sport, p.seq, bool(p.flags & Flag.SYN), bool(p.flags & Flag.FIN))


def originals(rows) -> dict[int, int]:
    """Row index of each retransmission -> row index of the transmission before it (same bytes)."""
    last: dict[tuple, int] = {}
    out: dict[int, int] = {}
    for i, r in enumerate(rows):
        p = r.packet
        if p.proto != "tcp" or not (p.len or p.flags & (Flag.SYN | Flag.FIN)):
            continue
        k = _key(p)
        if any(t in p.analysis for t in RETRANS) and k in last and p.t - rows[last[k]].packet.t >= MIN_RTO:
            out[i] = last[k]
        last[k] = i
    return out


def _dsack(p: Packet, seq_raw: int | None) -> bool:
    """The ACK reports a duplicate (RFC 2883): a SACK block at or below its cumulative ACK."""
    o = p.options
    if o is None or not o.sack or p.ack_raw is None or seq_raw is None:
        return False
    left, right = o.sack[0]
    return (right - p.ack_raw) % 2**32 > 2**31 or right == p.ack_raw


def arrived_anyway(rows, i: int) -> bool:
    """The retransmission at row i was not needed: tshark calls it spurious, or the receiver's
    next ACK carries a D-SACK for it."""
    p = rows[i].packet
    if Tag.SPURIOUS_RETRANSMISSION in p.analysis:
        return True
    for r in rows[i + 1:]:
        if r.from_client != rows[i].from_client and r.stream is rows[i].stream:
            return _dsack(r.packet, p.seq_raw)
    return False


def infer_lost(rows, points: dict[int, str | None]) -> dict[int, str]:
    """Row index -> tag, for originals a sender-side capture shows leaving but a retransmission
    proves lost (unless they arrived anyway)."""
    out: dict[int, str] = {}
    for i, j in originals(rows).items():
        if rows[j].lost or not sender_side(rows[j], points) or arrived_anyway(rows, i):
            continue
        out[j] = INFERRED_LOST
    return out


def gap_rows(rows, points: dict[int, str | None], make):
    """Rows with a segment that never arrived inserted before each receiver-side gap (one not
    captured, where the vantage is unknown).  `make(row, packet, tag)` builds its row."""
    out = []
    nxt: dict[tuple, int] = {}
    for r in rows:
        p = r.packet
        side = (p.src, p.sport, p.dst, p.dport)
        if (p.proto == "tcp" and Tag.LOST_SEGMENT in p.analysis and not sender_side(r, points)
                and side in nxt and p.seq is not None and nxt[side] < p.seq):
            gap = p.seq - nxt[side]
            raw = None if p.seq_raw is None else (p.seq_raw - gap) % 2**32
            ghost = replace(p, frame=-p.frame, seq=nxt[side], seq_raw=raw, len=gap, payload=b"", analysis=(),
                            flags=Flag.ACK | (p.flags & Flag.PSH), comments=(), notes=())
            out.append(make(r, ghost, NEVER_ARRIVED if points.get(id(r.stream)) else NOT_CAPTURED))
        out.append(r)
        if p.proto == "tcp" and p.seq is not None:
            end = p.seq + (p.len or 0) + (1 if p.flags & (Flag.SYN | Flag.FIN) else 0)
            nxt[side] = max(nxt.get(side, end), end)
    return out


def recovery_rows(rows) -> set[int]:
    """The ACK that first covers each retransmitted segment: the point the loss is repaired."""
    out: set[int] = set()
    for i in originals(rows):
        if arrived_anyway(rows, i):
            continue  # nothing was missing, nothing to repair
        p = rows[i].packet
        end = p.seq + (p.len or 0) + (1 if p.flags & (Flag.SYN | Flag.FIN) else 0)
        for k in range(i + 1, len(rows)):
            q = rows[k].packet
            if rows[k].from_client != rows[i].from_client and rows[k].stream is rows[i].stream:
                if q.flags & Flag.ACK and q.ack is not None and q.ack >= end:
                    out.add(k)
                    break
    return out


def sack_text(p: Packet, seq_text) -> str:
    """`SACK 8689-10137` (blocks in the numbering of the ladder); '' without SACK blocks."""
    o = p.options
    if o is None or not o.sack or p.ack is None or p.ack_raw is None:
        return ""
    base = (p.ack_raw - p.ack) % 2**32
    parts = [f"{seq_text((a - base) % 2**32, a)}-{seq_text((b - base) % 2**32, b)}" for a, b in o.sack]
    return ("D-SACK " if _dsack(p, 0) else "SACK ") + ", ".join(parts)


def case_name(rows, lost_by_meta: set[int], dropped_dirs: set[str], triggers: dict[int, int] | None = None) -> str:
    """The textbook case the drawn exchange shows, for the caption; '' when there is none.
    `triggers`: fast retransmission's frame -> the duplicate ACKs counted when it was sent."""
    tags = {t for r in rows for t in r.packet.analysis}
    retx = originals(rows)
    if not retx and not any(r.lost for r in rows) and Tag.ZERO_WINDOW not in tags:
        return ""
    if Tag.ZERO_WINDOW in tags:
        return "flow control: zero window, window probes, window update"
    spurious = [i for i in retx if arrived_anyway(rows, i)]
    lost_acks = "s2c" in dropped_dirs and not any(r.lost and r.from_client for r in rows)
    if lost_acks:
        return "lost ACK: spurious retransmission after the RTO" if spurious else "lost ACK"
    if spurious and len(spurious) == len(retx):
        return "spurious retransmission: the original had arrived (D-SACK)"
    if Tag.FAST_RETRANSMISSION in tags:
        first = next(r.frame for r in rows if Tag.FAST_RETRANSMISSION in r.packet.analysis)
        dups = (triggers or {}).get(first)
        if dups is None:  # not answering a duplicate ACK drawn: those before it
            dups = sum(Tag.DUP_ACK in r.packet.analysis for r in rows if r.frame < first)
        return f"fast retransmit after {dups} duplicate ACK{'s' if dups != 1 else ''}"
    if any(rows[i].packet.flags & Flag.SYN for i in retx):
        return "SYN lost: retried after the initial RTO"
    if retx:
        return "lost segment: retransmission timeout (RTO)"
    return ""


def timer_for(rows, i: int, j: int) -> str:
    return "RTO " + duration_text(rows[i].packet.t - rows[j].packet.t)


__all__ = ["INFERRED_LOST", "NEVER_ARRIVED", "NOT_CAPTURED", "RECOVERY", "Timer", "case_name", "duration_text", "gap_rows",
           "infer_lost", "originals", "recovery_rows", "sack_text", "vantage"]
