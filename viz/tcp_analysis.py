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

The rules are written once, in `run_tcp`, as a loop over the columns of a
chunk of TCP frames with every conversation's and direction's state in flat
arrays: that is what lets one source run compiled (numba's nopython mode,
cached on disk, for large captures) and interpreted (plain Python over lists,
for small captures and where numba is absent) with the same results.  Every
consumer (the JSON and text exports, the figures' model, the tracer's
comments) gets its numbers from `TcpTable.run`; `TcpAnalyzer` feeds it one
frame at a time for tests.

Pure: no I/O.
"""
from __future__ import annotations

import os
import sys

import numpy as np

from viz.states import MAX_CHANGES_PER_FRAME, NCH, NEXT, NS, new_stream, track

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


# Per-direction (flow) integer state, flat: F[flow * NF + field]; flow 2c is
# the conversation's first sender ("a"), 2c + 1 the other ("b").
(BASE, BASE_SET, NEXTSEQ, LASTACK, WINDOW, WSCALE, LASTFLAGS, MTBA, DUPACK, FIRSTACK, UHEAD,
 UTAIL, ULEN) = range(13)
NF = 13
NEXTSEQTIME, LASTACKTIME = 0, 1  # FT[flow * 2 + field]
MRU_SYN, FIRST_RTT, LAST_T = 0, 1, 2  # CT[conv * NCT + field]
NCT = 3
# Per-stream summary, CS[conv * NCS + field]: payload bytes sent by endpoint 0
# (the first sender) and 1, retransmissions, whether a SYN without ACK was
# seen, and the endpoint that sent it (the client).
BYTES0, BYTES1, RETRANS, SAW_SYN, CLIENT = range(5)
NCS = 5
CONVS, FREE = 0, 1  # meta[]: conversations made, free slots of the unacked pool


def run_tcp(i0, n, key, dirn, ts, flags, seq, ack, win, seglen, analyse, wscale, frame_no, trel,
            key_conv, cdir, CT, F, FT, uval, unext, ufree, meta, cfirst, CS,
            track_on, TS, CH, chmeta, NEXT,
            o_conv, o_fwd, o_seq, o_ack, o_len, o_win, o_bits):
    """Wireshark's TCP analysis of n frames in file order (the one rule book).

    Per frame: `key` numbers its unordered address/port pair, `dirn` is 1 when
    its source is the pair's higher end; seq/ack/win are the raw header values,
    `seglen` the payload length from the IP length or -1 where tshark cannot
    know it (then no sequence analysis: numbers stay raw), `wscale` the
    window-scale option's shift or -1.  State: `key_conv` (pair -> current
    conversation or -1), `cdir` (the dirn of each conversation's first
    sender), CT/F/FT (see the field names above), the unacked segments as
    linked lists in a pool (uval/unext, free slots in ufree), `meta`,
    `cfirst` (the chunk position of the frame that made each conversation),
    CS (the per-stream summary), and, if `track_on`, the RFC 9293 states
    (viz.states.track: TS, CH, chmeta, NEXT) fed with `frame_no` numbers.
    Runs frames i0..n-1 and returns where it stopped: n, or the first frame
    for which the state arrays might be too small (the caller grows them and
    calls again from there).  Outputs per frame: conversation, forward (sent by its first sender),
    relative seq, relative ack (-1: none), length (-1: none), the window as
    tshark shows it, the exported tags (see export_bits).
    """
    for i in range(i0, n):
        if (meta[CONVS] + 2 > len(cdir) or meta[FREE] < 1
                or (track_on and (chmeta[0] + MAX_CHANGES_PER_FRAME) * NCH > len(CH))):
            return i
        k = key[i]
        d = dirn[i]
        fl = flags[i]
        sq = seq[i]
        ak = ack[i]
        t = ts[i]
        conv = key_conv[k]
        if conv < 0:
            conv = _new_conv(k, d, i, key_conv, cdir, CT, F, FT, meta, cfirst, CS, TS)
        forward = cdir[conv] == d
        fo = (2 * conv + (0 if forward else 1)) * NF
        ro = (2 * conv + (1 if forward else 0)) * NF
        bits = 0
        synack = fl & (SYN | ACK)
        if synack == SYN and F[fo + BASE_SET] != 0:
            if sq != F[fo + BASE]:
                # Port reuse: a new conversation, with the SYN sender as first flow.
                conv = _new_conv(k, d, i, key_conv, cdir, CT, F, FT, meta, cfirst, CS, TS)
                forward = True
                fo = 2 * conv * NF
                ro = fo + NF
            else:
                # Same ISN again: a retransmitted SYN; restore nextseq (issue 17616).
                F[fo + NEXTSEQ] = F[fo + MTBA]
            bits = REUSED_PORTS
        elif synack == SYN | ACK and F[fo + BASE_SET] != 0 and sq != F[fo + BASE]:
            F[fo + BASE] = sq  # "the retrieved conversation might have a different base_seq"
            bits = REUSED_PORTS
        ln = seglen[i]
        w = win[i]
        o_conv[i] = conv
        o_fwd[i] = 1 if forward else 0
        if analyse[i] and ln >= 0:
            bits = _analyze_sequence(conv, fo, ro, fo // NF, ro // NF, t, sq, ak, ln, fl, w, bits,
                                     CT, F, FT, uval, unext, ufree, meta)
            o_seq[i] = (sq - F[fo + BASE]) & MASK
            o_ack[i] = (ak - F[ro + BASE]) & MASK if fl & ACK else -1
            o_len[i] = ln
            if fl & SYN:
                o_win[i] = w  # SYNs are never scaled
            else:
                ws = F[fo + WSCALE]
                o_win[i] = w << ws if ws >= 0 else w
        else:
            o_seq[i] = sq
            o_ack[i] = ak if fl & ACK else -1
            o_len[i] = -1
            o_win[i] = w
        if bits & (FAST_RETRANSMISSION | SPURIOUS_RETRANSMISSION):
            bits |= RETRANSMISSION
        o_bits[i] = bits & EXPORTED

        ep = 0 if forward else 1
        so = conv * NCS
        if o_len[i] > 0:
            CS[so + BYTES0 + ep] += o_len[i]
        if bits & RETRANSMISSION:
            CS[so + RETRANS] += 1
        if synack == SYN and CS[so + SAW_SYN] == 0:
            CS[so + SAW_SYN] = 1
            CS[so + CLIENT] = ep
        CT[NCT * conv + LAST_T] = trel[i]
        if track_on:
            track(TS, CH, chmeta, NEXT, conv, frame_no[i], ep, fl, sq, ak, o_len[i])

        # After the analysis, as dissect_tcp does: SYN bookkeeping, first RTT,
        # then the options (window scale) and verify_tcp_window_scaling.
        if fl & SYN:
            if not fl & ACK:
                CT[NCT * conv + MRU_SYN] = t
            F[fo + FIRSTACK] = 1
        elif fl & ACK:
            if CT[NCT * conv + MRU_SYN] != 0.0 and CT[NCT * conv + FIRST_RTT] == 0.0:
                CT[NCT * conv + FIRST_RTT] = t - CT[NCT * conv + MRU_SYN]
            F[fo + FIRSTACK] = 0
        sh = wscale[i]
        if sh >= 0:
            F[fo + WSCALE] = sh if sh <= 14 else 14
        if fl & SYN:
            if F[fo + WSCALE] == WS_UNKNOWN:
                F[fo + WSCALE] = WS_NONE
                F[ro + WSCALE] = WS_NONE
            elif fl & ACK and F[ro + WSCALE] == WS_NONE:
                F[fo + WSCALE] = WS_NONE
    return n


def _new_conv(k, d, i, key_conv, cdir, CT, F, FT, meta, cfirst, CS, TS):
    """A new conversation (a new tcp.stream) for pair k, first sender in direction d."""
    c = meta[CONVS]
    meta[CONVS] = c + 1
    key_conv[k] = c
    cdir[c] = d
    cfirst[c] = i
    for j in range(NCT):
        CT[NCT * c + j] = 0.0
    for j in range(NCS):
        CS[NCS * c + j] = 0
    new_stream(TS, c * NS)
    for f in range(2 * c, 2 * c + 2):
        o = f * NF
        for j in range(NF):
            F[o + j] = 0  # nextseq 0 means "not known yet", as in tshark
        F[o + WINDOW] = MASK  # G_MAXUINT32 until the first segment
        F[o + WSCALE] = WS_UNKNOWN
        F[o + UHEAD] = -1
        F[o + UTAIL] = -1
        FT[2 * f + NEXTSEQTIME] = 0.0
        FT[2 * f + LASTACKTIME] = 0.0
    return c


def _analyze_sequence(conv, fo, ro, ff, rf, ts, seq, ack, seglen, flags, window, ta,
                      CT, F, FT, uval, unext, ufree, meta):
    """tcp_analyze_sequence_number: updates both flows, returns the flag bits."""
    if F[fo + BASE_SET] == 0:
        F[fo + BASE] = seq if flags & SYN else (seq - 1) & MASK
        F[fo + BASE_SET] = 1
    if F[ro + BASE_SET] == 0 and flags & ACK:
        F[ro + BASE] = (ack - 1) & MASK
        F[ro + BASE_SET] = 1

    nextseq_f = F[fo + NEXTSEQ]
    plain = (flags & SFR) == 0
    rev_window = F[ro + WINDOW]
    fwd_window = F[fo + WINDOW]
    fwd_lastack = F[fo + LASTACK]

    # ZERO WINDOW PROBE: exactly one byte at the next expected sequence number
    # while the other side advertises a zero window.
    if seglen == 1 and seq == nextseq_f and rev_window == 0:
        ta |= ZERO_WINDOW_PROBE
    else:
        # ZERO WINDOW: window 0 and none of SYN/FIN/RST.
        if window == 0 and plain:
            ta |= ZERO_WINDOW
        # LOST PACKET: beyond the highest nextseq seen (not for RST).
        if nextseq_f != 0 and 0 < (seq - nextseq_f) & MASK < HALF and not flags & RST:
            ta |= LOST_SEGMENT
        # KEEP ALIVE: 0 or 1 byte starting one byte before nextseq.
        if seglen <= 1 and seq == (nextseq_f - 1) & MASK and plain:
            ta |= KEEP_ALIVE
        same_pos = seglen == 0 and seq == nextseq_f and ack == fwd_lastack and plain
        # WINDOW UPDATE: no data, same seq/ack, a new non-zero window.
        if same_pos and window != 0 and window != fwd_window:
            ta |= WINDOW_UPDATE
        # WINDOW FULL: data reaching exactly the edge of the other side's window.
        rws = F[ro + WSCALE]
        if seglen > 0 and rws != WS_UNKNOWN and plain:
            shift = 0 if F[ro + FIRSTACK] != 0 or rws == WS_NONE else rws
            if (seq + seglen) & MASK == (F[ro + LASTACK] + (rev_window << shift)) & MASK:
                ta |= WINDOW_FULL
        if same_pos and window != 0 and window == fwd_window and F[ro + LASTFLAGS] & KEEP_ALIVE:
            # KEEP ALIVE ACK: repeats the previous ACK after a keep-alive.
            ta |= KEEP_ALIVE_ACK
        elif (same_pos and window == 0 and fwd_window == 0
              and F[ro + LASTFLAGS] & ZERO_WINDOW_PROBE):
            ta |= ZERO_WINDOW_PROBE_ACK
        elif same_pos and window != 0 and window == fwd_window:
            # DUPLICATE ACK: same window, seq and ack, no data.
            F[fo + DUPACK] = 1 if F[fo + DUPACK] == -1 else F[fo + DUPACK] + 1
            ta |= DUP_ACK

    # finished_fwd: a new ack number resets the dupack counter ("If the ack
    # number changed we must reset the dupack counters"), and so does any
    # frame but a duplicate ACK while the counter holds ACKED LOST's -1 mark.
    # Measured on tshark 4.0.17 with crafted captures (tests/test_tcp_analysis.py):
    # a window update or a data segment with the same ack between duplicate
    # ACKs keeps the count, so the retransmission after it is still fast;
    # Ftp.pcap frame 9 shows the -1 mark cleared by same-ack data, and a
    # generated exchange (tests/test_equality.py) that a same-ack FIN without
    # data keeps it.
    if ack != fwd_lastack or (F[fo + DUPACK] < 0 and not ta & DUP_ACK and seglen > 0):
        F[fo + DUPACK] = 0

    # ACKED LOST PACKET: acks beyond the highest contiguous seq of the other side.
    dup = F[ro + DUPACK]  # what the fast-retransmission test below reads
    mtba = F[ro + MTBA]
    if mtba != 0 and 0 < (ack - mtba) & MASK < HALF and flags & ACK:
        if mtba > F[ro + NEXTSEQ]:  # plain unsigned comparison in tshark
            F[ro + MTBA] = F[ro + NEXTSEQ]
            ta |= ACK_LOST_SEGMENT
        else:
            if F[ro + DUPACK] == 0:
                ta |= ACK_LOST_SEGMENT
            F[ro + DUPACK] = -1

    synfin = flags & (SYN | FIN)
    if (seglen > 0 or synfin != 0) and not ta & KEEP_ALIVE:
        # RETRANSMISSION / FAST RETRANSMISSION / OUT-OF-ORDER / SPURIOUS, up to
        # finished_checking_retransmission_type.
        not_advanced = nextseq_f != 0 and (seq - nextseq_f) & MASK >= HALF
        # One byte less than nextseq with more than one byte: new data
        # after a zero window probe, not a retransmission.
        if seglen > 1 and (nextseq_f - 1) & MASK == seq:
            not_advanced = False
        lastack_r = F[ro + LASTACK]
        spurious = False
        if seglen > 0 and lastack_r != 0:
            dd = (seq + seglen - lastack_r) & MASK
            if dd == 0 or dd >= HALF:
                ta |= SPURIOUS_RETRANSMISSION
                spurious = True
        if not spurious and not_advanced:
            dt = ts - FT[2 * rf + LASTACKTIME]
            if dup >= 2 and lastack_r == seq and 0.0 <= dt < FAST_RETRANS_WINDOW:
                ta |= FAST_RETRANSMISSION
            else:
                dt = ts - FT[2 * ff + NEXTSEQTIME]
                thres = CT[NCT * conv + FIRST_RTT]
                if thres == 0.0:
                    thres = DEFAULT_OOO_THRESHOLD
                if (0.0 <= dt < thres
                        and nextseq_f != (seq + seglen + (1 if synfin != 0 else 0)) & MASK):
                    ta |= OUT_OF_ORDER
                else:
                    ta |= RETRANSMISSION

    nextseq = (seq + seglen) & MASK
    if (seglen != 0 or synfin != 0) and F[fo + ULEN] < MAX_UNACKED:
        if synfin != 0:
            nextseq = (nextseq + 1) & MASK
        top = meta[FREE] - 1
        meta[FREE] = top
        slot = ufree[top]
        uval[slot] = nextseq
        unext[slot] = -1
        tail = F[fo + UTAIL]
        if tail >= 0:
            unext[tail] = slot
        else:
            F[fo + UHEAD] = slot
        F[fo + UTAIL] = slot
        F[fo + ULEN] += 1
    if not ta & ZERO_WINDOW_PROBE:
        if nextseq_f == 0 or 0 < (nextseq - nextseq_f) & MASK < HALF:
            F[fo + NEXTSEQ] = nextseq
            FT[2 * ff + NEXTSEQTIME] = ts
        if seq == F[fo + MTBA] or F[fo + MTBA] == 0:
            F[fo + MTBA] = F[fo + NEXTSEQ]

    F[fo + WINDOW] = window
    F[fo + LASTACK] = ack
    FT[2 * ff + LASTACKTIME] = ts
    F[fo + LASTFLAGS] = ta

    # Forget the other side's segments this acknowledges (only their count
    # matters here: it caps what is remembered, see MAX_UNACKED).  tshark scans
    # the whole list; the oldest-first queue gives the same count while the
    # segments are acknowledged in order.
    head = F[ro + UHEAD]
    while head >= 0 and ((uval[head] - ack) & MASK == 0 or (uval[head] - ack) & MASK >= HALF):
        nxt = unext[head]
        ufree[meta[FREE]] = head
        meta[FREE] += 1
        F[ro + ULEN] -= 1
        head = nxt
    F[ro + UHEAD] = head
    if head < 0:
        F[ro + UTAIL] = -1
    return ta


# -- running the rules -----------------------------------------------------------

COMPILE_AT = 20000  # frames: below this a capture runs the rules interpreted (no compile, no import)
_COMPILED = []


def _compiled():
    """run_tcp compiled by numba (cached on disk after the first run), or None."""
    if not _COMPILED:
        fn = None
        if os.environ.get("SYNACK_NO_NUMBA") != "1":
            _cache_dir()
            try:
                import numba
            except ImportError:  # the same source runs interpreted
                numba = None
            if numba is not None:
                from numba.extending import register_jitable
                from viz import states
                for f in (_new_conv, _analyze_sequence, states.new_stream, states._change,
                          states._apply, states._receive_pending, states.track):
                    register_jitable(f)  # callable from compiled code, still plain Python
                fin = numba.njit(cache=True, nogil=True)(states.finish_streams)
                _COMPILED.append(fin)
                fn = numba.njit(cache=True, nogil=True)(run_tcp)
        _COMPILED.insert(0, fn)
    return _COMPILED[0]


def _cache_dir() -> None:
    """numba keys its cache on this file's timestamp only, but the rules span
    viz/states.py too: the cache lives in a folder named for both sources."""
    if "NUMBA_CACHE_DIR" in os.environ or "numba" in sys.modules:
        return
    import hashlib
    from viz import states
    h = hashlib.sha256()
    for mod in (sys.modules[__name__], states):
        with open(mod.__file__, "rb") as f:
            h.update(f.read())
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    os.environ["NUMBA_CACHE_DIR"] = os.path.join(base, "synack", "numba-" + h.hexdigest()[:16])


I64 = np.int64


class TcpTable:
    """Every TCP conversation's state (arrays) and the pair numbering; `run` analyses a chunk."""

    def __init__(self, track_states: bool = True):
        self.track = track_states
        self.pairs: dict[tuple, int] = {}  # (low end, high end) -> pair number
        self.key_conv = np.full(1024, -1, dtype=I64)
        self.cdir = np.zeros(1024, dtype=I64)
        self.cfirst = np.zeros(1024, dtype=I64)
        self.CT = np.zeros(1024 * NCT)
        self.CS = np.zeros(1024 * NCS, dtype=I64)
        self.F = np.zeros(2048 * NF, dtype=I64)
        self.FT = np.zeros(4096)
        self.TS = np.zeros(1024 * NS, dtype=I64)
        self.uval = np.zeros(4096, dtype=I64)
        self.unext = np.zeros(4096, dtype=I64)
        self.ufree = np.arange(4095, -1, -1, dtype=I64)
        self.meta = np.array([0, 4096], dtype=I64)
        self.CH = np.zeros(4096 * NCH, dtype=I64)
        self.chmeta = np.zeros(1, dtype=I64)
        self.NEXT = np.array(NEXT, dtype=I64)
        self.seen = 0

    @property
    def count(self) -> int:
        return int(self.meta[CONVS])

    def keys(self, lo: list, hi: list) -> list[int]:
        """Pair numbers of (lo, hi) end pairs, numbering new ones."""
        pairs = self.pairs
        out = []
        for p in zip(lo, hi):
            k = pairs.get(p)
            if k is None:
                k = pairs[p] = len(pairs)
            out.append(k)
        return out

    def _reserve(self, n: int) -> None:
        """Room for n more frames' worth of conversations, unacked segments and changes
        (run_tcp stops early if a chunk needs more)."""
        if len(self.pairs) > len(self.key_conv):
            m = max(2 * len(self.key_conv), len(self.pairs))
            self.key_conv = np.concatenate([self.key_conv, np.full(m - len(self.key_conv), -1, I64)])
        need = self.count + n + 2
        cap = len(self.cdir)
        if need > cap:
            m = max(2 * cap, need)
            self.cdir = _grow(self.cdir, m)
            self.cfirst = _grow(self.cfirst, m)
            self.CT = _grow(self.CT, NCT * m)
            self.CS = _grow(self.CS, NCS * m)
            self.TS = _grow(self.TS, NS * m)
            self.F = _grow(self.F, 2 * m * NF)
            self.FT = _grow(self.FT, 4 * m)
        need = (int(self.chmeta[0]) + MAX_CHANGES_PER_FRAME * n + 2 * need) * NCH
        if self.track and need > len(self.CH):
            self.CH = _grow(self.CH, max(2 * len(self.CH), need))
        free = int(self.meta[FREE])
        if free < n + 1:
            size = len(self.uval)
            extra = max(size, n + 1)
            self.uval = _grow(self.uval, size + extra)
            self.unext = _grow(self.unext, size + extra)
            ufree = np.zeros(size + extra, dtype=I64)
            ufree[:free] = self.ufree[:free]
            ufree[free:free + extra] = np.arange(size + extra - 1, size - 1, -1)
            self.ufree = ufree
            self.meta[FREE] = free + extra

    def _state(self) -> list:
        return [self.key_conv, self.cdir, self.CT, self.F, self.FT, self.uval, self.unext,
                self.ufree, self.meta, self.cfirst, self.CS, self.track, self.TS, self.CH,
                self.chmeta, self.NEXT]

    def run(self, key, dirn, ts, flags, seq, ack, win, seglen, analyse, wscale, frame_no, trel):
        """Analyse a chunk of TCP frames (numpy columns); returns the output columns
        (conversation, forward, seq, ack, len, win, bits) as int64 arrays."""
        n = len(key)
        outs = [np.empty(n, dtype=I64) for _ in range(7)]
        self.seen += n
        fn = _compiled() if self.seen >= COMPILE_AT else None
        cols = [key, dirn, ts, flags, seq, ack, win, seglen, analyse, wscale, frame_no, trel]
        if fn is not None:
            cols = [np.ascontiguousarray(c) for c in cols]
            i = 0
            step = 4096
            while i < n:
                self._reserve(min(step, n - i))
                j = fn(i, n, *cols, *self._state(), *outs)
                step = max(step, 2 * (j - i))
                i = j
            return outs
        # Interpreted (small captures): the same function over lists (numpy
        # scalars are slow and would change nothing but the speed).
        self._reserve(n)
        state = self._state()
        lists = [c.tolist() if isinstance(c, np.ndarray) else c for c in state]
        louts = [[0] * n for _ in range(7)]
        run_tcp(0, n, *[c.tolist() for c in cols], *lists, *louts)
        for arr, lst in zip(state, lists):
            if isinstance(arr, np.ndarray):
                arr[:] = lst
        return [np.array(lo, dtype=I64) for lo in louts]

    def finish(self):
        """Every conversation's state changes, FINs still pending received (the
        capture ended): (changes as rows of NCH fields sorted by stream and
        frame, each stream's first row)."""
        n = self.count
        from viz.states import C_FRAME, C_STREAM, finish_streams
        self._reserve(n)
        fin = _COMPILED[1] if len(_COMPILED) > 1 and _COMPILED[0] is not None else None
        if fin is not None:
            fin(self.TS, self.CH, self.chmeta, self.NEXT, n)
        else:
            lists = [self.TS.tolist(), self.CH.tolist(), self.chmeta.tolist()]
            finish_streams(*lists, NEXT, n)
            self.CH[:] = lists[1]
            self.chmeta[:] = lists[2]
        k = int(self.chmeta[0])
        ch = self.CH[:k * NCH].reshape(k, NCH)
        order = np.lexsort((ch[:, C_FRAME], ch[:, C_STREAM]))  # stable: a stream's own order
        ch = ch[order]
        bounds = np.searchsorted(ch[:, C_STREAM], np.arange(n + 1))
        return ch, bounds


def _grow(a, size):
    b = np.zeros(size, dtype=a.dtype)
    b[:len(a)] = a
    return b


class Conversation:
    """A TCP conversation as TcpAnalyzer reports it; `src`/`sport` sent its first frame."""

    __slots__ = ("stream", "src", "sport", "dst", "dport", "index")

    def __init__(self, stream: int, src, sport: int, dst, dport: int):
        self.stream = stream
        self.src, self.sport, self.dst, self.dport = src, sport, dst, dport
        self.index = stream


class TcpResult:
    """What the analysis says about one TCP frame."""

    __slots__ = ("conv", "forward", "seq", "ack", "len", "win", "bits")


class TcpAnalyzer:
    """Feed TCP frames one at a time (tests, small tools): `TcpTable.run` on one frame.

    `bits` of a result are the exported tags (see export_bits).
    """

    def __init__(self):
        self.table = TcpTable(track_states=False)
        self.conversations: list[Conversation] = []
        self.ends: dict = {}

    def _end(self, addr, port) -> int:
        e = self.ends.get((addr, port))
        if e is None:
            e = self.ends[(addr, port)] = len(self.ends)
        return e

    def feed(self, ts: float, src, sport: int, dst, dport: int, flags: int, seq: int,
             ack: int, win: int, seglen: int | None, analyse: bool = True,
             wscale: int | None = None) -> TcpResult:
        es, ed = self._end(src, sport), self._end(dst, dport)
        (k,) = self.table.keys([min(es, ed)], [max(es, ed)])
        col = lambda v, dt=I64: np.array([v], dtype=dt)  # noqa: E731
        conv, fwd, s, a, ln, w, bits = (int(x[0]) for x in self.table.run(
            col(k), col(1 if es > ed else 0), col(ts, np.float64), col(flags), col(seq), col(ack),
            col(win), col(-1 if seglen is None else seglen), col(bool(analyse), bool),
            col(-1 if wscale is None else wscale), col(0), col(0.0, np.float64)))
        if conv == len(self.conversations):
            self.conversations.append(Conversation(conv, src, sport, dst, dport))
        res = TcpResult()
        res.conv = self.conversations[conv]
        res.forward = bool(fwd)
        res.seq, res.ack, res.len, res.win = s, (None if a < 0 else a), (None if ln < 0 else ln), w
        res.bits = bits
        return res
