"""TCP sequence analysis with Wireshark's semantics (tshark 4.0, one pass).

Users hold our numbers against Wireshark's, so this is a port of the rules in
Wireshark's epan/dissectors/packet-tcp.c rather than a fresh design:

* conversations and `tcp.stream`: one per address/port pair, a new one when a
  SYN (without ACK) carries a sequence number other than the base of that
  direction (port reuse); a retransmitted SYN keeps the stream
  (dissect_tcp, "If this is a SYN packet, then check if its seq-nr is
  different from the base_seq");
* relative numbers: the base of a direction is its SYN's sequence number,
  else the first sequence number seen minus 1, and for a side not seen yet
  the first acknowledgement number for it minus 1
  (tcp_analyze_sequence_number, "if this is the first segment for this list
  we need to store the base_seq");
* window scaling: the shift a side announced applies to its later non-SYN
  segments, and is dropped (-2, "no window scaling used") when the other SYN
  lacks the option (verify_tcp_window_scaling);
* the tcp.analysis flags, checked in the order tcp_analyze_sequence_number
  checks them, with its `goto finished_fwd` and
  `finished_checking_retransmission_type` short cuts.

Everything is 32-bit sequence arithmetic (RFC 9293 §3.4: "all arithmetic
dealing with sequence numbers must be performed modulo 2**32"); the
comparisons are Wireshark's GT_SEQ/LT_SEQ/LE_SEQ, the sign of the 32-bit
difference.  Times are epoch seconds as floats; tshark's guint64 nanosecond
differences wrap when negative, so a negative difference never counts as
"recent".

Pure: no I/O.  Per-frame state is plain attributes on slots classes because
this runs once per TCP frame of million-frame captures.
"""
from __future__ import annotations

from collections import deque

MASK = 0xFFFFFFFF
HALF = 0x80000000

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
SFR = SYN | FIN | RST

# Analysis bits.  The first 13 are the schema's tags in the schema's order;
# the others are tshark flags the schema does not export.
RETRANSMISSION = 1 << 0
FAST_RETRANSMISSION = 1 << 1
SPURIOUS_RETRANSMISSION = 1 << 2
OUT_OF_ORDER = 1 << 3
DUP_ACK = 1 << 4
ZERO_WINDOW = 1 << 5
ZERO_WINDOW_PROBE = 1 << 6
KEEP_ALIVE = 1 << 7
KEEP_ALIVE_ACK = 1 << 8
WINDOW_UPDATE = 1 << 9
WINDOW_FULL = 1 << 10
LOST_SEGMENT = 1 << 11
ACK_LOST_SEGMENT = 1 << 12
ZERO_WINDOW_PROBE_ACK = 1 << 13
REUSED_PORTS = 1 << 14

TAG_NAMES = (
    "retransmission", "fast_retransmission", "spurious_retransmission",
    "out_of_order", "dup_ack", "zero_window", "zero_window_probe", "keep_alive",
    "keep_alive_ack", "window_update", "window_full", "lost_segment",
    "ack_lost_segment",
)
EXPORTED = (1 << len(TAG_NAMES)) - 1

# TCP_MAX_UNACKED_SEGMENTS: tshark stops remembering segments (and so stops
# counting SYN/FIN in nextseq) when this many are unacknowledged.
MAX_UNACKED = 1000
FAST_RETRANS_WINDOW = 0.020  # "within 20ms of the last duplicate ack"
DEFAULT_OOO_THRESHOLD = 0.003  # out-of-order threshold before the first RTT is known

WS_UNKNOWN = -1  # no SYN seen yet: the raw window is shown
WS_NONE = -2  # a SYN without the option was seen: scaling is not in use


def export_bits(bits: int) -> int:
    """Schema tags of tshark's flags: a fast or spurious retransmission is also
    a retransmission (tcp_sequence_number_analysis_print_retransmission adds
    ei_tcp_analysis_retransmission to both)."""
    if bits & (FAST_RETRANSMISSION | SPURIOUS_RETRANSMISSION):
        bits |= RETRANSMISSION
    return bits & EXPORTED


def tag_names(bits: int) -> tuple[str, ...]:
    """Schema tag names of an analysis bit set, in schema order."""
    return tuple(name for i, name in enumerate(TAG_NAMES) if bits >> i & 1)


def seq_gt(a: int, b: int) -> bool:
    """GT_SEQ: a is after b in 32-bit sequence space."""
    return 0 < (a - b) & MASK < HALF


def seq_lt(a: int, b: int) -> bool:
    """LT_SEQ: a is before b in 32-bit sequence space."""
    return (a - b) & MASK >= HALF


def seq_le(a: int, b: int) -> bool:
    """LE_SEQ: a is before or equal to b in 32-bit sequence space."""
    return (a - b) & MASK == 0 or (a - b) & MASK >= HALF


class Flow:
    """One direction of a conversation (tcp_flow_t plus its seq info)."""

    __slots__ = ("base_seq", "base_set", "saw_syn", "nextseq", "nextseqtime", "lastack",
                 "lastacktime", "window", "win_scale", "lastflags", "maxseqtobeacked",
                 "dupacknum", "is_first_ack", "unacked")

    def __init__(self):
        self.base_seq = 0
        self.base_set = False
        self.saw_syn = False
        self.nextseq = 0  # 0 means "not known yet", as in tshark
        self.nextseqtime = 0.0
        self.lastack = 0
        self.lastacktime = 0.0
        self.window = MASK  # G_MAXUINT32 until the first segment
        self.win_scale = WS_UNKNOWN
        self.lastflags = 0
        self.maxseqtobeacked = 0
        self.dupacknum = 0
        self.is_first_ack = False
        self.unacked = deque()  # nextseq of remembered unacked segments


class Conversation:
    """A TCP conversation (tshark's tcp_analysis); `a` is the flow of the first sender."""

    __slots__ = ("stream", "src", "sport", "dst", "dport", "a", "b", "ts_mru_syn",
                 "ts_first_rtt", "index")

    def __init__(self, stream: int, src, sport: int, dst, dport: int, index: int = -1):
        self.stream = stream
        self.src, self.sport, self.dst, self.dport = src, sport, dst, dport
        self.a = Flow()
        self.b = Flow()
        self.ts_mru_syn = 0.0
        self.ts_first_rtt = 0.0
        self.index = index  # free for the caller (e.g. position in its stream table)


class TcpResult:
    """What the analysis says about one TCP frame (reused; copy what you keep)."""

    __slots__ = ("conv", "forward", "seq", "ack", "len", "win", "bits")


class TcpAnalyzer:
    """Feed TCP frames in file order; each call returns that frame's analysis.

    `new_conversation(conv)` is called whenever a conversation (a tcp.stream)
    starts, so callers can number and describe streams.
    """

    def __init__(self, new_conversation=None):
        self.conversations: dict[tuple, Conversation] = {}
        self.count = 0
        self._on_new = new_conversation

    def _new(self, src, sport, dst, dport) -> Conversation:
        conv = Conversation(self.count, src, sport, dst, dport)
        self.count += 1
        self.conversations[(src, sport, dst, dport)] = conv
        self.conversations[(dst, dport, src, sport)] = conv
        if self._on_new is not None:
            self._on_new(conv)
        return conv

    def feed(self, ts: float, src, sport: int, dst, dport: int, flags: int, seq: int,
             ack: int, win: int, seglen: int | None, analyse: bool = True,
             wscale: int | None = None, out: TcpResult | None = None) -> TcpResult:
        """Analyse one segment.

        seq, ack, win are the raw header values; `seglen` is the payload length
        from the IP length, None where tshark cannot know it (first IP fragment,
        header cut short: then it does no sequence analysis and the numbers
        stay raw).  `wscale` is the window-scale option's shift if the segment
        carries one.
        """
        conv = self.conversations.get((src, sport, dst, dport))
        if conv is None:
            conv = self._new(src, sport, dst, dport)
        forward = conv.src == src and conv.sport == sport
        if forward:
            fwd, rev = conv.a, conv.b
        else:
            fwd, rev = conv.b, conv.a
        bits = 0
        synack = flags & (SYN | ACK)
        if synack == SYN and fwd.base_set:
            if seq != fwd.base_seq:
                # Port reuse: a new conversation, with the SYN sender as first flow.
                conv = self._new(src, sport, dst, dport)
                forward = True
                fwd, rev = conv.a, conv.b
            else:
                # Same ISN again: a retransmitted SYN; restore nextseq (issue 17616).
                fwd.nextseq = fwd.maxseqtobeacked
            bits = REUSED_PORTS
        elif synack == SYN | ACK and fwd.base_set and seq != fwd.base_seq:
            fwd.base_seq = seq  # "the retrieved conversation might have a different base_seq"
            bits = REUSED_PORTS

        res = out if out is not None else TcpResult()
        res.conv = conv
        res.forward = forward
        if analyse and seglen is not None:
            bits = _analyze_sequence(conv, fwd, rev, ts, seq, ack, seglen, flags, win, bits)
            res.seq = (seq - fwd.base_seq) & MASK
            res.ack = (ack - rev.base_seq) & MASK if flags & ACK else None
            res.len = seglen
            if flags & SYN:
                res.win = win  # SYNs are never scaled
            else:
                ws = fwd.win_scale
                res.win = win << ws if ws >= 0 else win
        else:
            res.seq = seq
            res.ack = ack if flags & ACK else None
            res.len = None
            res.win = win
        res.bits = bits

        # After the analysis, as dissect_tcp does: SYN bookkeeping, first RTT,
        # then the options (window scale) and verify_tcp_window_scaling.
        if flags & SYN:
            if not flags & ACK:
                conv.ts_mru_syn = ts
            fwd.is_first_ack = True
        elif flags & ACK:
            if conv.ts_mru_syn and not conv.ts_first_rtt:
                conv.ts_first_rtt = ts - conv.ts_mru_syn
            fwd.is_first_ack = False
        if wscale is not None:
            fwd.win_scale = wscale if wscale <= 14 else 14
        if flags & SYN:
            if fwd.win_scale == WS_UNKNOWN:
                fwd.win_scale = WS_NONE
                rev.win_scale = WS_NONE
            elif flags & ACK and rev.win_scale == WS_NONE:
                fwd.win_scale = WS_NONE
        return res


def _analyze_sequence(conv: Conversation, fwd: Flow, rev: Flow, ts: float, seq: int, ack: int,
                      seglen: int, flags: int, window: int, ta: int) -> int:
    """tcp_analyze_sequence_number: updates both flows, returns the flag bits."""
    if not fwd.base_set:
        if flags & SYN:
            fwd.base_seq = seq
            fwd.saw_syn = True
        else:
            fwd.base_seq = (seq - 1) & MASK
        fwd.base_set = True
    if not rev.base_set and flags & ACK:
        rev.base_seq = (ack - 1) & MASK
        rev.base_set = True

    nextseq_f = fwd.nextseq
    plain = not flags & SFR

    # ZERO WINDOW PROBE: exactly one byte at the next expected sequence number
    # while the other side advertises a zero window.
    if seglen == 1 and seq == nextseq_f and rev.window == 0:
        ta |= ZERO_WINDOW_PROBE
    else:
        # ZERO WINDOW: window 0 and none of SYN/FIN/RST.
        if window == 0 and plain:
            ta |= ZERO_WINDOW
        # LOST PACKET: beyond the highest nextseq seen (not for RST).
        if nextseq_f and 0 < (seq - nextseq_f) & MASK < HALF and not flags & RST:
            ta |= LOST_SEGMENT
        # KEEP ALIVE: 0 or 1 byte starting one byte before nextseq.
        if seglen <= 1 and seq == (nextseq_f - 1) & MASK and plain:
            ta |= KEEP_ALIVE
        same_pos = seglen == 0 and seq == nextseq_f and ack == fwd.lastack and plain
        # WINDOW UPDATE: no data, same seq/ack, a new non-zero window.
        if same_pos and window and window != fwd.window:
            ta |= WINDOW_UPDATE
        # WINDOW FULL: data reaching exactly the edge of the other side's window.
        if seglen > 0 and rev.win_scale != WS_UNKNOWN and plain:
            shift = 0 if rev.is_first_ack or rev.win_scale == WS_NONE else rev.win_scale
            if (seq + seglen) & MASK == (rev.lastack + (rev.window << shift)) & MASK:
                ta |= WINDOW_FULL
        if same_pos and window and window == fwd.window and rev.lastflags & KEEP_ALIVE:
            # KEEP ALIVE ACK: repeats the previous ACK after a keep-alive.
            ta |= KEEP_ALIVE_ACK
        elif same_pos and window == 0 and fwd.window == 0 and rev.lastflags & ZERO_WINDOW_PROBE:
            ta |= ZERO_WINDOW_PROBE_ACK
        elif same_pos and window and window == fwd.window:
            # DUPLICATE ACK: same window, seq and ack, no data.
            fwd.dupacknum = 1 if fwd.dupacknum == -1 else fwd.dupacknum + 1
            ta |= DUP_ACK

    # finished_fwd: a new ack number resets the dupack counter ("If the ack
    # number changed we must reset the dupack counters"), and so does any
    # frame but a duplicate ACK while the counter holds ACKED LOST's -1 mark.
    # Measured on tshark 4.0.17 with crafted captures (tests/test_tcp_analysis.py):
    # a window update or a data segment with the same ack between duplicate
    # ACKs keeps the count, so the retransmission after it is still fast;
    # Ftp.pcap frame 9 shows the -1 mark cleared by same-ack data.
    if ack != fwd.lastack or (fwd.dupacknum < 0 and not ta & DUP_ACK):
        fwd.dupacknum = 0

    # ACKED LOST PACKET: acks beyond the highest contiguous seq of the other side.
    mtba = rev.maxseqtobeacked
    if mtba and 0 < (ack - mtba) & MASK < HALF and flags & ACK:
        if mtba > rev.nextseq:  # plain unsigned comparison in tshark
            rev.maxseqtobeacked = rev.nextseq
            ta |= ACK_LOST_SEGMENT
        else:
            if rev.dupacknum == 0:
                ta |= ACK_LOST_SEGMENT
            rev.dupacknum = -1

    synfin = flags & (SYN | FIN)
    if seglen > 0 or synfin:
        # RETRANSMISSION / FAST RETRANSMISSION / OUT-OF-ORDER / SPURIOUS
        while True:  # a block to break out of: finished_checking_retransmission_type
            if ta & KEEP_ALIVE:
                break
            not_advanced = bool(nextseq_f) and (seq - nextseq_f) & MASK >= HALF
            # One byte less than nextseq with more than one byte: new data
            # after a zero window probe, not a retransmission.
            if seglen > 1 and (nextseq_f - 1) & MASK == seq:
                not_advanced = False
            lastack_r = rev.lastack
            if seglen > 0 and lastack_r:
                d = (seq + seglen - lastack_r) & MASK
                if d == 0 or d >= HALF:
                    ta |= SPURIOUS_RETRANSMISSION
                    break
            if not not_advanced:
                break
            dt = ts - rev.lastacktime
            if rev.dupacknum >= 2 and lastack_r == seq and 0.0 <= dt < FAST_RETRANS_WINDOW:
                ta |= FAST_RETRANSMISSION
                break
            dt = ts - fwd.nextseqtime
            thres = conv.ts_first_rtt or DEFAULT_OOO_THRESHOLD
            if 0.0 <= dt < thres and nextseq_f != (seq + seglen + (1 if synfin else 0)) & MASK:
                ta |= OUT_OF_ORDER
                break
            ta |= RETRANSMISSION
            break

    nextseq = (seq + seglen) & MASK
    if (seglen or synfin) and len(fwd.unacked) < MAX_UNACKED:
        if synfin:
            nextseq = (nextseq + 1) & MASK
        fwd.unacked.append(nextseq)
    if not ta & ZERO_WINDOW_PROBE:
        if not nextseq_f or 0 < (nextseq - nextseq_f) & MASK < HALF:
            fwd.nextseq = nextseq
            fwd.nextseqtime = ts
        if seq == fwd.maxseqtobeacked or not fwd.maxseqtobeacked:
            fwd.maxseqtobeacked = fwd.nextseq

    fwd.window = window
    fwd.lastack = ack
    fwd.lastacktime = ts
    fwd.lastflags = ta

    # Forget the other side's segments this acknowledges (only their count
    # matters here: it caps what is remembered, see MAX_UNACKED).  tshark scans
    # the whole list; the oldest-first queue gives the same count while the
    # segments are acknowledged in order.
    q = rev.unacked
    while q and ((q[0] - ack) & MASK == 0 or (q[0] - ack) & MASK >= HALF):
        q.popleft()
    return ta
