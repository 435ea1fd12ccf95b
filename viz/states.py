"""RFC 9293 connection states of both endpoints, inferred from the segments a capture shows.

A capture shows segments, not kernels, so each frame is read as two events:
the sender *sent* it and the receiver *received* it (at the same instant: the
capture point is between them, so one of the two is early or late by the
one-way delay, which a ladder diagram shows anyway).  The events drive the
RFC 9293 §3.3.2 state diagram (Figure 5) and the §3.10.7 segment-arrival
rules.  The table is explicit for every (state, event) pair so that a segment
the diagram does not foresee (a retransmission, an ACK in LISTEN, a FIN in
SYN_SENT) has a stated answer instead of a KeyError; `tests/test_states.py`
checks it pair by pair.

Where the capture starts mid-connection (no SYN seen), both endpoints are
taken to be ESTABLISHED before the first frame; where it starts with a
SYN/ACK, the SYN was missed and the receiver is taken to be in SYN_SENT, the
sender in LISTEN.  Whether the receiver of a first SYN listens shows only in
its answer: a SYN/ACK means LISTEN -> SYN_RECEIVED, an RST as its first
segment means nobody listened (RFC 9293 §3.10.7.1: a segment to a CLOSED
port elicits a reset), so that endpoint is CLOSED throughout.
"""
from __future__ import annotations

import enum

from viz.model import TcpState

MASK = 0xFFFFFFFF
HALF = 0x80000000
FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10


class Event(enum.Enum):
    """What one endpoint did or saw in one segment."""

    SEND_SYN = "send SYN"
    SEND_SYN_ACK = "send SYN+ACK"
    SEND_ACK = "send ACK"  # any other segment: data, pure ACK, keep-alive
    SEND_FIN = "send FIN"
    SEND_RST = "send RST"
    RECV_SYN = "recv SYN"
    RECV_SYN_ACK = "recv SYN+ACK"
    RECV_ACK = "recv ACK"  # acknowledges something other than our FIN
    RECV_ACK_OF_FIN = "recv ACK of FIN"
    RECV_FIN = "recv FIN"
    RECV_RST = "recv RST"


S = TcpState
E = Event

# Rows: state -> events in Event order; every pair is listed.  Comments cite
# RFC 9293 (section numbers) for the transitions that are not "stay put".
_ROWS = {
    S.CLOSED: (
        S.SYN_SENT,      # SEND_SYN: active OPEN (Fig. 5)
        S.SYN_RECEIVED,  # SEND_SYN_ACK: it answered a SYN we did not see
        S.CLOSED,        # SEND_ACK
        S.CLOSED,        # SEND_FIN
        S.CLOSED,        # SEND_RST: a closed port answers with RST (3.10.7.1)
        S.CLOSED,        # RECV_SYN: no listener; answered by RST (3.10.7.1)
        S.CLOSED,        # RECV_SYN_ACK
        S.CLOSED,        # RECV_ACK
        S.CLOSED,        # RECV_ACK_OF_FIN: e.g. a duplicate ACK after LAST_ACK
        S.CLOSED,        # RECV_FIN
        S.CLOSED,        # RECV_RST: "an incoming segment containing a RST is discarded"
    ),
    S.LISTEN: (
        S.SYN_SENT,      # SEND_SYN: SEND on a listening socket (Fig. 5)
        S.SYN_RECEIVED,  # SEND_SYN_ACK: its SYN was not captured
        S.LISTEN,        # SEND_ACK
        S.LISTEN,        # SEND_FIN
        S.LISTEN,        # SEND_RST: rejects an ACK, stays listening (3.10.7.2)
        S.SYN_RECEIVED,  # RECV_SYN: passive open (3.10.7.2)
        S.LISTEN,        # RECV_SYN_ACK: "any acknowledgment is bad", RST sent
        S.LISTEN,        # RECV_ACK
        S.LISTEN,        # RECV_ACK_OF_FIN
        S.LISTEN,        # RECV_FIN
        S.LISTEN,        # RECV_RST: "should be ignored" (3.10.7.2)
    ),
    S.SYN_SENT: (
        S.SYN_SENT,      # SEND_SYN: retransmitted SYN
        S.SYN_RECEIVED,  # SEND_SYN_ACK: simultaneous open, their SYN not captured
        S.ESTABLISHED,   # SEND_ACK: it acknowledged a SYN/ACK we did not see
        S.FIN_WAIT_1,    # SEND_FIN: it was established (missed SYN/ACK) and closes
        S.CLOSED,        # SEND_RST
        S.SYN_RECEIVED,  # RECV_SYN: simultaneous open (3.10.7.3)
        S.ESTABLISHED,   # RECV_SYN_ACK: our SYN acknowledged (3.10.7.3)
        S.SYN_SENT,      # RECV_ACK: without SYN: answered by RST, state kept
        S.SYN_SENT,      # RECV_ACK_OF_FIN
        S.SYN_SENT,      # RECV_FIN: "drop the segment and return" (3.10.7.3)
        S.CLOSED,        # RECV_RST: connection refused (3.10.7.3)
    ),
    S.SYN_RECEIVED: (
        S.SYN_RECEIVED,  # SEND_SYN
        S.SYN_RECEIVED,  # SEND_SYN_ACK: retransmitted SYN/ACK
        S.SYN_RECEIVED,  # SEND_ACK
        S.FIN_WAIT_1,    # SEND_FIN: CLOSE in SYN-RECEIVED (3.10.4)
        S.CLOSED,        # SEND_RST: ABORT
        S.SYN_RECEIVED,  # RECV_SYN: retransmitted SYN
        S.ESTABLISHED,   # RECV_SYN_ACK: simultaneous open completes
        S.ESTABLISHED,   # RECV_ACK: handshake complete (3.10.7.4, fifth check)
        S.ESTABLISHED,   # RECV_ACK_OF_FIN: acknowledges at least the SYN
        S.CLOSE_WAIT,    # RECV_FIN: SYN-RECEIVED + FIN -> CLOSE-WAIT (3.10.7.4, eighth)
        S.LISTEN,        # RECV_RST: passive open returns to LISTEN (3.10.7.4, second)
    ),
    S.ESTABLISHED: (
        S.ESTABLISHED,   # SEND_SYN
        S.ESTABLISHED,   # SEND_SYN_ACK: retransmitted, its final ACK was lost
        S.ESTABLISHED,   # SEND_ACK
        S.FIN_WAIT_1,    # SEND_FIN: active close (Fig. 5)
        S.CLOSED,        # SEND_RST: abort
        S.ESTABLISHED,   # RECV_SYN: challenge ACK (RFC 5961 §4)
        S.ESTABLISHED,   # RECV_SYN_ACK: retransmitted SYN/ACK, re-ACKed
        S.ESTABLISHED,   # RECV_ACK
        S.ESTABLISHED,   # RECV_ACK_OF_FIN: cannot happen without our FIN
        S.CLOSE_WAIT,    # RECV_FIN: passive close (3.10.7.4, eighth)
        S.CLOSED,        # RECV_RST: connection reset (3.10.7.4, second)
    ),
    S.FIN_WAIT_1: (
        S.FIN_WAIT_1,    # SEND_SYN
        S.FIN_WAIT_1,    # SEND_SYN_ACK
        S.FIN_WAIT_1,    # SEND_ACK: data or ACKs still flow
        S.FIN_WAIT_1,    # SEND_FIN: retransmitted FIN
        S.CLOSED,        # SEND_RST
        S.FIN_WAIT_1,    # RECV_SYN
        S.FIN_WAIT_1,    # RECV_SYN_ACK
        S.FIN_WAIT_1,    # RECV_ACK: acknowledges data before our FIN
        S.FIN_WAIT_2,    # RECV_ACK_OF_FIN: "our FIN is now acknowledged" (3.10.7.4)
        S.CLOSING,       # RECV_FIN: simultaneous close (3.10.7.4, eighth)
        S.CLOSED,        # RECV_RST
    ),
    S.FIN_WAIT_2: (
        S.FIN_WAIT_2,    # SEND_SYN
        S.FIN_WAIT_2,    # SEND_SYN_ACK
        S.FIN_WAIT_2,    # SEND_ACK
        S.FIN_WAIT_2,    # SEND_FIN: retransmitted FIN
        S.CLOSED,        # SEND_RST
        S.FIN_WAIT_2,    # RECV_SYN
        S.FIN_WAIT_2,    # RECV_SYN_ACK
        S.FIN_WAIT_2,    # RECV_ACK: peer still sending (half-close)
        S.FIN_WAIT_2,    # RECV_ACK_OF_FIN: duplicate
        S.TIME_WAIT,     # RECV_FIN: enter TIME-WAIT (3.10.7.4, eighth)
        S.CLOSED,        # RECV_RST
    ),
    S.CLOSE_WAIT: (
        S.CLOSE_WAIT,    # SEND_SYN
        S.CLOSE_WAIT,    # SEND_SYN_ACK
        S.CLOSE_WAIT,    # SEND_ACK: may still send data (half-close)
        S.LAST_ACK,      # SEND_FIN: CLOSE in CLOSE-WAIT (Fig. 5)
        S.CLOSED,        # SEND_RST
        S.CLOSE_WAIT,    # RECV_SYN
        S.CLOSE_WAIT,    # RECV_SYN_ACK
        S.CLOSE_WAIT,    # RECV_ACK
        S.CLOSE_WAIT,    # RECV_ACK_OF_FIN: cannot happen without our FIN
        S.CLOSE_WAIT,    # RECV_FIN: retransmitted FIN (3.10.7.4, eighth)
        S.CLOSED,        # RECV_RST
    ),
    S.CLOSING: (
        S.CLOSING,       # SEND_SYN
        S.CLOSING,       # SEND_SYN_ACK
        S.CLOSING,       # SEND_ACK
        S.CLOSING,       # SEND_FIN: retransmitted FIN
        S.CLOSED,        # SEND_RST
        S.CLOSING,       # RECV_SYN
        S.CLOSING,       # RECV_SYN_ACK
        S.CLOSING,       # RECV_ACK
        S.TIME_WAIT,     # RECV_ACK_OF_FIN: (3.10.7.4, fifth check, CLOSING)
        S.CLOSING,       # RECV_FIN: retransmitted FIN
        S.CLOSED,        # RECV_RST
    ),
    S.LAST_ACK: (
        S.LAST_ACK,      # SEND_SYN
        S.LAST_ACK,      # SEND_SYN_ACK
        S.LAST_ACK,      # SEND_ACK
        S.LAST_ACK,      # SEND_FIN: retransmitted FIN
        S.CLOSED,        # SEND_RST
        S.LAST_ACK,      # RECV_SYN
        S.LAST_ACK,      # RECV_SYN_ACK
        S.LAST_ACK,      # RECV_ACK
        S.CLOSED,        # RECV_ACK_OF_FIN: "delete the TCB, enter CLOSED" (3.10.7.4)
        S.LAST_ACK,      # RECV_FIN: retransmitted FIN
        S.CLOSED,        # RECV_RST
    ),
    S.TIME_WAIT: (
        S.TIME_WAIT,     # SEND_SYN
        S.TIME_WAIT,     # SEND_SYN_ACK
        S.TIME_WAIT,     # SEND_ACK: re-acknowledges a retransmitted FIN
        S.TIME_WAIT,     # SEND_FIN
        S.CLOSED,        # SEND_RST: the TIME-WAIT socket is gone once it resets
        S.TIME_WAIT,     # RECV_SYN: a new incarnation gets a new stream
        S.TIME_WAIT,     # RECV_SYN_ACK
        S.TIME_WAIT,     # RECV_ACK
        S.TIME_WAIT,     # RECV_ACK_OF_FIN
        S.TIME_WAIT,     # RECV_FIN: "acknowledge it, and restart the 2 MSL timeout"
        S.CLOSED,        # RECV_RST: (3.10.7.4, second check, TIME-WAIT)
    ),
}

EVENTS = tuple(Event)
TRANSITIONS: dict[tuple[TcpState, Event], TcpState] = {
    (state, event): after
    for state, row in _ROWS.items()
    for event, after in zip(EVENTS, row, strict=True)
}
assert len(TRANSITIONS) == len(TcpState) * len(Event)


def step(state: TcpState, event: Event) -> TcpState:
    """The state after `event`, per the table."""
    return TRANSITIONS[(state, event)]


def send_event(flags: int) -> Event:
    """The sender's event for a segment with these flags."""
    if flags & RST:
        return E.SEND_RST
    if flags & SYN:
        return E.SEND_SYN_ACK if flags & ACK else E.SEND_SYN
    if flags & FIN:
        return E.SEND_FIN
    return E.SEND_ACK


def recv_events(flags: int, acks_our_fin: bool) -> tuple[Event, ...]:
    """The receiver's events, in processing order: the ACK field before the FIN
    (RFC 9293 §3.10.7.4 checks ACK in step five, FIN in step eight)."""
    if flags & RST:
        return (E.RECV_RST,)
    if flags & SYN:
        return (E.RECV_SYN_ACK,) if flags & ACK else (E.RECV_SYN,)
    first = E.RECV_ACK_OF_FIN if acks_our_fin else E.RECV_ACK
    if flags & FIN:
        return (first, E.RECV_FIN) if flags & ACK else (E.RECV_FIN,)
    return (first,)


def initial_states(flags: int) -> tuple[TcpState, TcpState]:
    """(sender, receiver) states before the first frame of a stream."""
    if flags & SYN and not flags & ACK:
        return S.CLOSED, S.LISTEN
    if flags & SYN:
        return S.LISTEN, S.SYN_SENT
    return S.ESTABLISHED, S.ESTABLISHED


# The rules of the tracker, written once over flat integer arrays so they run
# compiled inside viz.tcp_analysis.run_tcp (every TCP frame of a capture) and
# interpreted in StateTracker: states and events are indices into STATES and
# EVENTS, NEXT[state * NE + event] the table.
STATES = tuple(TcpState)
NE = len(EVENTS)
NEXT = [STATES.index(TRANSITIONS[(st, ev)]) for st in STATES for ev in EVENTS]
_EV = {e: i for i, e in enumerate(EVENTS)}
(_SEND_SYN, _SEND_SYN_ACK, _SEND_ACK, _SEND_FIN, _SEND_RST, _RECV_SYN, _RECV_SYN_ACK, _RECV_ACK,
 _RECV_ACK_OF_FIN, _RECV_FIN, _RECV_RST) = (_EV[e] for e in (
     E.SEND_SYN, E.SEND_SYN_ACK, E.SEND_ACK, E.SEND_FIN, E.SEND_RST, E.RECV_SYN, E.RECV_SYN_ACK,
     E.RECV_ACK, E.RECV_ACK_OF_FIN, E.RECV_FIN, E.RECV_RST))
FIRST_SEEN = NE  # the event index of a "first seen" entry
EVENT_TEXT = tuple(e.value for e in EVENTS) + ("first seen",)
_CLOSED, _LISTEN, _SYN_SENT, _SYN_RECEIVED, _ESTABLISHED = (STATES.index(x) for x in (
    S.CLOSED, S.LISTEN, S.SYN_SENT, S.SYN_RECEIVED, S.ESTABLISHED))

# Per-stream state, flat: TS[stream * NS + field]; -1 is "none".
(ST0, ST1, FIN0, FIN1, PEND0, PEND1, STARTED, QUIET, GUESS_EP, GUESS_IX) = range(10)
NS = 10
# A change: CH[k * NCH + field]; chmeta[0] counts them.
C_FRAME, C_STREAM, C_EP, C_BEFORE, C_AFTER, C_EVENT = range(6)
NCH = 6
MAX_CHANGES_PER_FRAME = 7


def new_stream(TS, o):
    for j in range(NS):
        TS[o + j] = 0
    TS[o + FIN0] = -1
    TS[o + FIN1] = -1
    TS[o + PEND0] = -1
    TS[o + PEND1] = -1
    TS[o + GUESS_EP] = -1


def _change(CH, chmeta, frame, c, ep, before, after, ev):
    k = chmeta[0]
    chmeta[0] = k + 1
    o = k * NCH
    CH[o + C_FRAME] = frame
    CH[o + C_STREAM] = c
    CH[o + C_EP] = ep
    CH[o + C_BEFORE] = before
    CH[o + C_AFTER] = after
    CH[o + C_EVENT] = ev


def _apply(TS, o, CH, chmeta, NEXT, frame, c, ep, ev, record_first):
    before = TS[o + ST0 + ep]
    after = NEXT[before * NE + ev]
    if after != before or record_first:
        _change(CH, chmeta, frame, c, ep, before, after, ev)
        TS[o + ST0 + ep] = after


def _receive_pending(TS, o, CH, chmeta, NEXT, c, ep, frame):
    f = TS[o + PEND0 + ep]
    if f >= 0:
        TS[o + PEND0 + ep] = -1
        _apply(TS, o, CH, chmeta, NEXT, f if frame < 0 else frame, c, ep, _RECV_FIN, False)


def track(TS, CH, chmeta, NEXT, c, frame, sender, flags, seq, ack, seglen):
    """One segment of stream c from endpoint `sender` (0 or 1); raw seq/ack, seglen -1 if unknown."""
    o = c * NS
    receiver = 1 - sender
    first = TS[o + STARTED] == 0
    if first:
        TS[o + STARTED] = 1
        if flags & SYN and not flags & ACK:
            s0, s1 = _CLOSED, _LISTEN
        elif flags & SYN:
            s0, s1 = _LISTEN, _SYN_SENT
        else:
            s0, s1 = _ESTABLISHED, _ESTABLISHED
        TS[o + ST0 + sender] = s0
        TS[o + ST0 + receiver] = s1
    elif TS[o + QUIET] != 0 and not flags & (SYN | FIN | RST):
        return
    fin_in = (flags & FIN) != 0 and not flags & (SYN | RST)
    if TS[o + PEND0 + sender] >= 0:
        fe = TS[o + FIN0 + receiver]
        if flags & RST:
            TS[o + PEND0 + sender] = -1
        elif flags & ACK and fe >= 0 and (ack - fe) & MASK < HALF:
            _receive_pending(TS, o, CH, chmeta, NEXT, c, sender, -1)
    if TS[o + PEND0 + receiver] >= 0:
        _receive_pending(TS, o, CH, chmeta, NEXT, c, receiver, -1)  # an earlier FIN arrives first
    if TS[o + GUESS_EP] == sender:
        TS[o + GUESS_EP] = -1
        if flags & RST and TS[o + ST0 + sender] == _SYN_RECEIVED:
            # It answered the SYN with a reset: no listener, CLOSED all along.
            k = TS[o + GUESS_IX] * NCH
            CH[k + C_BEFORE] = _CLOSED
            CH[k + C_AFTER] = _CLOSED
            TS[o + ST0 + sender] = _CLOSED
    if fin_in:
        TS[o + FIN0 + sender] = (seq + (seglen if seglen > 0 else 0) + 1) & MASK
    if flags & RST:
        ev = _SEND_RST
    elif flags & SYN:
        ev = _SEND_SYN_ACK if flags & ACK else _SEND_SYN
    elif flags & FIN:
        ev = _SEND_FIN
    else:
        ev = _SEND_ACK
    _apply(TS, o, CH, chmeta, NEXT, frame, c, sender, ev, first)
    if fin_in and TS[o + PEND0 + sender] >= 0:
        _receive_pending(TS, o, CH, chmeta, NEXT, c, sender, frame)  # simultaneous close
    fe = TS[o + FIN0 + receiver]
    acks_fin = (flags & ACK) != 0 and fe >= 0 and (ack - fe) & MASK < HALF
    before_r = TS[o + ST0 + receiver]
    # The receiver's events in processing order: the ACK field before the FIN
    # (RFC 9293 §3.10.7.4 checks ACK in step five, FIN in step eight); the
    # receipt of a FIN waits until the receiver shows it.
    e1 = -1
    e2 = -1
    if flags & RST:
        e1 = _RECV_RST
    elif flags & SYN:
        e1 = _RECV_SYN_ACK if flags & ACK else _RECV_SYN
    elif flags & FIN:
        if flags & ACK:
            e1 = _RECV_ACK_OF_FIN if acks_fin else _RECV_ACK
            e2 = _RECV_FIN
        else:
            e1 = _RECV_FIN
    else:
        e1 = _RECV_ACK_OF_FIN if acks_fin else _RECV_ACK
    if fin_in:
        if e2 >= 0:
            e2 = -1
        else:
            e1 = -1
        TS[o + PEND0 + receiver] = frame
    if e1 >= 0:
        _apply(TS, o, CH, chmeta, NEXT, frame, c, receiver, e1, False)
    if e2 >= 0:
        _apply(TS, o, CH, chmeta, NEXT, frame, c, receiver, e2, False)
    if first and before_r == _LISTEN and TS[o + ST0 + receiver] == _SYN_RECEIVED:
        TS[o + GUESS_EP] = receiver
        TS[o + GUESS_IX] = chmeta[0] - 1
    if first and TS[o + ST0 + receiver] == before_r:
        _change(CH, chmeta, frame, c, receiver, before_r, before_r, FIRST_SEEN)
    TS[o + QUIET] = 1 if (TS[o + ST0] == _ESTABLISHED and TS[o + ST1] == _ESTABLISHED
                          and TS[o + FIN0] < 0 and TS[o + FIN1] < 0) else 0


def finish_streams(TS, CH, chmeta, NEXT, n):
    """FINs still pending are received: the capture just ended."""
    for c in range(n):
        o = c * NS
        if TS[o + STARTED] != 0:
            for ep in range(2):
                _receive_pending(TS, o, CH, chmeta, NEXT, c, ep, -1)


def change_tuples(CH: list, k0: int, k1: int) -> list[tuple]:
    """(frame, endpoint, before, after, event text) of changes k0..k1-1 of a flat list."""
    out = []
    for k in range(k0, k1):
        o = k * NCH
        out.append((CH[o + C_FRAME], CH[o + C_EP], STATES[CH[o + C_BEFORE]],
                    STATES[CH[o + C_AFTER]], EVENT_TEXT[CH[o + C_EVENT]]))
    return out


class StateTracker:
    """Both endpoints of one TCP stream; endpoint 0 sent the stream's first frame.

    The rules are `track` (the engine runs them inside the TCP analysis);
    this feeds them one segment at a time.  `finish()` returns (frame,
    endpoint, before, after, event) for every transition, plus one entry per
    endpoint at the first frame (even without a change) so the state before
    the first frame is recorded too, in frame order; it is idempotent.

    A FIN's receipt is left pending until the receiver shows it: its next
    segment acknowledges the FIN (then the receipt is dated at the FIN's frame),
    or it sends its own FIN without acknowledging it (simultaneous close: its
    FIN left first, so the receipt is dated at its own FIN), or a later segment
    of the same sender arrives (in-order delivery), or the capture ends.
    """

    def __init__(self):
        self.TS = [0] * NS
        new_stream(self.TS, 0)
        self.CH: list[int] = []
        self.chmeta = [0]
        self._done = None

    @property
    def quiet(self) -> bool:
        """Both ESTABLISHED and no FIN sent: plain segments change nothing."""
        return self.TS[QUIET] != 0

    @property
    def state(self) -> list[TcpState]:
        """The two endpoints' current states."""
        return [STATES[self.TS[ST0]], STATES[self.TS[ST1]]]

    @property
    def changes(self) -> list[tuple]:
        """The changes so far, in the order they were made."""
        return change_tuples(self.CH, 0, self.chmeta[0])

    def feed(self, frame: int, sender: int, flags: int, seq: int, ack: int, seglen: int | None):
        """One segment from endpoint `sender` (0 or 1); raw seq/ack."""
        self._done = None
        self.CH.extend([0] * (MAX_CHANGES_PER_FRAME * NCH))
        track(self.TS, self.CH, self.chmeta, NEXT, 0, frame, sender, flags, seq, ack,
              -1 if seglen is None else seglen)
        del self.CH[self.chmeta[0] * NCH:]

    def finish(self) -> list[tuple]:
        """Apply FINs still pending (received, the capture just ended); sorted changes."""
        if self._done is None:
            self.CH.extend([0] * (2 * NCH))
            finish_streams(self.TS, self.CH, self.chmeta, NEXT, 1)
            del self.CH[self.chmeta[0] * NCH:]
            self._done = sorted(change_tuples(self.CH, 0, self.chmeta[0]), key=lambda c: c[0])
        return self._done


class Changes:
    """A stream's state changes as the engine made them (what StateTracker.finish
    returns), rows k0..k1 of the engine's change table, made into tuples when asked."""

    __slots__ = ("table", "k0", "k1", "_list")

    def __init__(self, table, k0: int, k1: int):
        self.table, self.k0, self.k1 = table, k0, k1
        self._list = None

    def finish(self) -> list[tuple]:
        if self._list is None:
            self._list = change_tuples(self.table[self.k0:self.k1].reshape(-1).tolist(), 0,
                                       self.k1 - self.k0)
        return self._list
