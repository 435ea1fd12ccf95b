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


# The tracker runs on every non-quiet frame of million-frame captures, and an
# enum's hash is a Python-level call: internally events are indices into
# EVENTS and the table is looked up by the state object's id.
_EV = {e: i for i, e in enumerate(EVENTS)}
_EV_VALUE = tuple(e.value for e in EVENTS)
_NEXT = {id(s): tuple(TRANSITIONS[(s, e)] for e in EVENTS) for s in TcpState}
(_SEND_SYN, _SEND_SYN_ACK, _SEND_ACK, _SEND_FIN, _SEND_RST, _RECV_SYN, _RECV_SYN_ACK, _RECV_ACK,
 _RECV_ACK_OF_FIN, _RECV_FIN, _RECV_RST) = (_EV[e] for e in (
     E.SEND_SYN, E.SEND_SYN_ACK, E.SEND_ACK, E.SEND_FIN, E.SEND_RST, E.RECV_SYN, E.RECV_SYN_ACK,
     E.RECV_ACK, E.RECV_ACK_OF_FIN, E.RECV_FIN, E.RECV_RST))


def _send_ev(flags: int) -> int:
    if flags & RST:
        return _SEND_RST
    if flags & SYN:
        return _SEND_SYN_ACK if flags & ACK else _SEND_SYN
    if flags & FIN:
        return _SEND_FIN
    return _SEND_ACK


def _recv_evs(flags: int, acks_our_fin: bool) -> tuple[int, ...]:
    if flags & RST:
        return (_RECV_RST,)
    if flags & SYN:
        return (_RECV_SYN_ACK,) if flags & ACK else (_RECV_SYN,)
    first = _RECV_ACK_OF_FIN if acks_our_fin else _RECV_ACK
    if flags & FIN:
        return (first, _RECV_FIN) if flags & ACK else (_RECV_FIN,)
    return (first,)


class StateTracker:
    """Both endpoints of one TCP stream; endpoint 0 sent the stream's first frame.

    `changes` collects (frame, endpoint, before, after, event) for every
    transition, plus one entry per endpoint at the first frame (even without a
    change) so the state before the first frame is recorded too.  Call
    `finish()` once the stream has ended; it is idempotent.

    A FIN's receipt is left pending until the receiver shows it: its next
    segment acknowledges the FIN (then the receipt is dated at the FIN's frame),
    or it sends its own FIN without acknowledging it (simultaneous close: its
    FIN left first, so the receipt is dated at its own FIN), or a later segment
    of the same sender arrives (in-order delivery), or the capture ends.
    """

    __slots__ = ("state", "fin_end", "pending", "changes", "started", "quiet", "_sorted",
                 "_listen_guess")

    def __init__(self):
        self.state = [S.CLOSED, S.CLOSED]
        self.fin_end: list[int | None] = [None, None]
        self.pending: list[int | None] = [None, None]  # frame of a FIN not yet received
        self.changes: list[tuple] = []
        self.started = False
        self.quiet = False  # both ESTABLISHED and no FIN sent: plain segments change nothing
        self._sorted = True
        # (endpoint, index in changes) while LISTEN is only assumed from a
        # received SYN and that endpoint has sent nothing yet.
        self._listen_guess: tuple[int, int] | None = None

    def _apply(self, frame: int, ep: int, event: int, record_first: bool = False) -> None:
        """`event` is an index into EVENTS."""
        before = self.state[ep]
        after = _NEXT[id(before)][event]
        if after is not before or record_first:
            self.changes.append((frame, ep, before, after, _EV_VALUE[event]))
            self.state[ep] = after

    def _receive_pending(self, ep: int, frame: int | None = None) -> None:
        f = self.pending[ep]
        if f is not None:
            self.pending[ep] = None
            if frame is None:
                frame = f
            if self.changes and frame < self.changes[-1][0]:
                self._sorted = False
            self._apply(frame, ep, _RECV_FIN)

    def feed(self, frame: int, sender: int, flags: int, seq: int, ack: int, seglen: int | None):
        """One segment from endpoint `sender` (0 or 1); raw seq/ack."""
        receiver = 1 - sender
        first = not self.started
        if first:
            self.started = True
            s0, s1 = initial_states(flags)
            self.state[sender], self.state[receiver] = s0, s1
        elif self.quiet and not flags & (SYN | FIN | RST):
            return
        fin_in = flags & FIN and not flags & (SYN | RST)
        if self.pending[sender] is not None:
            fe = self.fin_end[receiver]
            if flags & RST:
                self.pending[sender] = None
            elif flags & ACK and fe is not None and (ack - fe) & MASK < HALF:
                self._receive_pending(sender)
        if self.pending[receiver] is not None:
            self._receive_pending(receiver)  # an earlier FIN arrives before this segment
        guess = self._listen_guess
        if guess is not None and guess[0] == sender:
            self._listen_guess = None
            if flags & RST and self.state[sender] is S.SYN_RECEIVED:
                # It answered the SYN with a reset: no listener, CLOSED all along.
                f0, ep, _before, _after, ev = self.changes[guess[1]]
                self.changes[guess[1]] = (f0, ep, S.CLOSED, S.CLOSED, ev)
                self.state[sender] = S.CLOSED
        if fin_in:
            self.fin_end[sender] = (seq + (seglen or 0) + 1) & MASK
        self._apply(frame, sender, _send_ev(flags), first)
        if fin_in and self.pending[sender] is not None:
            self._receive_pending(sender, frame)  # simultaneous close
        fe = self.fin_end[receiver]
        acks_fin = bool(flags & ACK) and fe is not None and (ack - fe) & MASK < HALF
        before_r = self.state[receiver]
        events = _recv_evs(flags, acks_fin)
        if fin_in:
            events = events[:-1]
            self.pending[receiver] = frame
        for ev in events:
            self._apply(frame, receiver, ev)
        if first and before_r is S.LISTEN and self.state[receiver] is S.SYN_RECEIVED:
            self._listen_guess = (receiver, len(self.changes) - 1)
        if first and self.state[receiver] is before_r:
            self.changes.append((frame, receiver, before_r, before_r, "first seen"))
        self.quiet = (self.state[0] is S.ESTABLISHED and self.state[1] is S.ESTABLISHED
                      and self.fin_end[0] is None and self.fin_end[1] is None)

    def finish(self) -> list[tuple]:
        """Apply FINs still pending (received, the capture just ended); sorted changes."""
        for ep in (0, 1):
            self._receive_pending(ep)
        if not self._sorted:
            self.changes.sort(key=lambda c: c[0])
            self._sorted = True
        return self.changes
