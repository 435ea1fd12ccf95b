"""The RFC 9293 state table, pair by pair, and the tracker on whole conversations.

The expected table is written here independently of viz.states as the list
of pairs that change state (RFC 9293 Figure 5 and §3.10.7); every other
(state, event) pair must leave the state as it is.  All 11 x 11 pairs are
checked one by one.
"""
from __future__ import annotations

import itertools

import pytest

from conftest import needs_root

from viz.model import TcpState as S
from viz.states import TRANSITIONS, Event as E, StateTracker, recv_events, send_event, step

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10

CHANGES = {
    # active and passive open (Figure 5; §3.10.7.2, §3.10.7.3)
    (S.CLOSED, E.SEND_SYN): S.SYN_SENT,
    (S.CLOSED, E.SEND_SYN_ACK): S.SYN_RECEIVED,
    (S.LISTEN, E.SEND_SYN): S.SYN_SENT,
    (S.LISTEN, E.SEND_SYN_ACK): S.SYN_RECEIVED,
    (S.LISTEN, E.RECV_SYN): S.SYN_RECEIVED,
    (S.SYN_SENT, E.SEND_SYN_ACK): S.SYN_RECEIVED,
    (S.SYN_SENT, E.SEND_ACK): S.ESTABLISHED,
    (S.SYN_SENT, E.SEND_FIN): S.FIN_WAIT_1,
    (S.SYN_SENT, E.SEND_RST): S.CLOSED,
    (S.SYN_SENT, E.RECV_SYN): S.SYN_RECEIVED,
    (S.SYN_SENT, E.RECV_SYN_ACK): S.ESTABLISHED,
    (S.SYN_SENT, E.RECV_RST): S.CLOSED,
    (S.SYN_RECEIVED, E.SEND_FIN): S.FIN_WAIT_1,
    (S.SYN_RECEIVED, E.SEND_RST): S.CLOSED,
    (S.SYN_RECEIVED, E.RECV_SYN_ACK): S.ESTABLISHED,
    (S.SYN_RECEIVED, E.RECV_ACK): S.ESTABLISHED,
    (S.SYN_RECEIVED, E.RECV_ACK_OF_FIN): S.ESTABLISHED,
    (S.SYN_RECEIVED, E.RECV_FIN): S.CLOSE_WAIT,
    (S.SYN_RECEIVED, E.RECV_RST): S.LISTEN,
    # close (Figure 5; §3.10.4, §3.10.7.4)
    (S.ESTABLISHED, E.SEND_FIN): S.FIN_WAIT_1,
    (S.ESTABLISHED, E.SEND_RST): S.CLOSED,
    (S.ESTABLISHED, E.RECV_FIN): S.CLOSE_WAIT,
    (S.ESTABLISHED, E.RECV_RST): S.CLOSED,
    (S.FIN_WAIT_1, E.SEND_RST): S.CLOSED,
    (S.FIN_WAIT_1, E.RECV_ACK_OF_FIN): S.FIN_WAIT_2,
    (S.FIN_WAIT_1, E.RECV_FIN): S.CLOSING,
    (S.FIN_WAIT_1, E.RECV_RST): S.CLOSED,
    (S.FIN_WAIT_2, E.SEND_RST): S.CLOSED,
    (S.FIN_WAIT_2, E.RECV_FIN): S.TIME_WAIT,
    (S.FIN_WAIT_2, E.RECV_RST): S.CLOSED,
    (S.CLOSE_WAIT, E.SEND_FIN): S.LAST_ACK,
    (S.CLOSE_WAIT, E.SEND_RST): S.CLOSED,
    (S.CLOSE_WAIT, E.RECV_RST): S.CLOSED,
    (S.CLOSING, E.SEND_RST): S.CLOSED,
    (S.CLOSING, E.RECV_ACK_OF_FIN): S.TIME_WAIT,
    (S.CLOSING, E.RECV_RST): S.CLOSED,
    (S.LAST_ACK, E.SEND_RST): S.CLOSED,
    (S.LAST_ACK, E.RECV_ACK_OF_FIN): S.CLOSED,
    (S.LAST_ACK, E.RECV_RST): S.CLOSED,
    (S.TIME_WAIT, E.SEND_RST): S.CLOSED,
    (S.TIME_WAIT, E.RECV_RST): S.CLOSED,
}

PAIRS = list(itertools.product(S, E))


def test_table_is_total():
    assert set(TRANSITIONS) == set(PAIRS)
    assert len(PAIRS) == 121


@pytest.mark.parametrize("state,event", PAIRS, ids=[f"{s.name}-{e.name}" for s, e in PAIRS])
def test_pair(state, event):
    assert step(state, event) is CHANGES.get((state, event), state)


def test_segment_to_events():
    assert send_event(SYN) is E.SEND_SYN
    assert send_event(SYN | ACK) is E.SEND_SYN_ACK
    assert send_event(FIN | ACK) is E.SEND_FIN
    assert send_event(RST | ACK) is E.SEND_RST
    assert send_event(ACK) is E.SEND_ACK
    # RFC 9293 §3.10.7.4: the ACK field (fifth check) before the FIN bit (eighth).
    assert recv_events(FIN | ACK, True) == (E.RECV_ACK_OF_FIN, E.RECV_FIN)
    assert recv_events(FIN | ACK, False) == (E.RECV_ACK, E.RECV_FIN)
    assert recv_events(RST | ACK, True) == (E.RECV_RST,)


def run(segments):
    """segments: (sender 0/1, flags, seq, ack, len); returns the tracker."""
    tr = StateTracker()
    for i, (who, flags, seq, ack, length) in enumerate(segments, 1):
        tr.feed(i, who, flags, seq, ack, length)
    return tr


def path(tr, ep):
    out = []
    for _f, e, before, after, _ev in tr.finish():
        if e != ep:
            continue
        if not out:
            out.append(before)
        if after is not out[-1]:
            out.append(after)
    return out


def test_full_connection_active_close_by_client():
    tr = run([(0, SYN, 100, 0, 0), (1, SYN | ACK, 500, 101, 0), (0, ACK, 101, 501, 0),
              (0, ACK, 101, 501, 10), (1, ACK, 501, 111, 0),
              (0, FIN | ACK, 111, 501, 0), (1, ACK, 501, 112, 0),
              (1, FIN | ACK, 501, 112, 0), (0, ACK, 112, 502, 0)])
    assert path(tr, 0) == [S.CLOSED, S.SYN_SENT, S.ESTABLISHED, S.FIN_WAIT_1, S.FIN_WAIT_2,
                           S.TIME_WAIT]
    assert path(tr, 1) == [S.LISTEN, S.SYN_RECEIVED, S.ESTABLISHED, S.CLOSE_WAIT, S.LAST_ACK,
                           S.CLOSED]


def test_simultaneous_close_goes_through_closing():
    tr = run([(0, ACK, 100, 500, 0), (0, FIN | ACK, 100, 500, 0), (1, FIN | ACK, 500, 100, 0),
              (1, ACK, 501, 101, 0), (0, ACK, 101, 501, 0)])
    assert path(tr, 0) == [S.ESTABLISHED, S.FIN_WAIT_1, S.CLOSING, S.TIME_WAIT]
    assert path(tr, 1) == [S.ESTABLISHED, S.FIN_WAIT_1, S.CLOSING, S.TIME_WAIT]


def test_fin_ack_that_acks_our_fin_goes_to_time_wait():
    # FIN-WAIT-1: "if our FIN has been ACKed ... enter the TIME-WAIT state".
    tr = run([(0, ACK, 100, 500, 0), (0, FIN | ACK, 100, 500, 0), (1, FIN | ACK, 500, 101, 0)])
    assert path(tr, 0) == [S.ESTABLISHED, S.FIN_WAIT_1, S.FIN_WAIT_2, S.TIME_WAIT]


def test_refused_connection():
    # RFC 9293 3.10.7.1: a SYN to a CLOSED port elicits RST; nobody was in LISTEN.
    tr = run([(0, SYN, 100, 0, 0), (1, RST | ACK, 0, 101, 0)])
    assert path(tr, 0) == [S.CLOSED, S.SYN_SENT, S.CLOSED]
    assert path(tr, 1) == [S.CLOSED]
    assert S.LISTEN not in [c[2] for c in tr.changes] + [c[3] for c in tr.changes]


def test_refused_after_retransmitted_syn():
    tr = run([(0, SYN, 100, 0, 0), (0, SYN, 100, 0, 0), (1, RST | ACK, 0, 101, 0)])
    assert path(tr, 0) == [S.CLOSED, S.SYN_SENT, S.CLOSED]
    assert path(tr, 1) == [S.CLOSED]


def test_listener_that_answers_stays_listen_first():
    tr = run([(0, SYN, 100, 0, 0), (1, SYN | ACK, 500, 101, 0), (0, RST, 101, 0, 0)])
    assert path(tr, 1) == [S.LISTEN, S.SYN_RECEIVED, S.LISTEN]


def test_midstream_capture_starts_established():
    tr = run([(1, ACK, 500, 100, 20)])
    assert tr.state == [S.ESTABLISHED, S.ESTABLISHED]
    assert len(tr.changes) == 2  # both endpoints recorded at the first frame


def test_ack_below_fin_is_not_ack_of_fin_across_wrap():
    # The FIN sits at 0xFFFFFFFF; an ACK of 0 (wrapped) acknowledges it, one of 0xFFFFFFFF not.
    tr = run([(0, ACK, 0xFFFFFFF0, 500, 0), (0, FIN | ACK, 0xFFFFFFFF, 500, 0),
              (1, ACK, 500, 0xFFFFFFFF, 0)])
    assert tr.state[0] is S.FIN_WAIT_1
    tr.feed(4, 1, ACK, 500, 0, 0)
    assert tr.state[0] is S.FIN_WAIT_2


@needs_root
def test_refused_trace_server_closed_throughout(tmp_path):
    """A real `refused` trace: the kernel answers the SYN with RST/ACK; the
    server side is CLOSED throughout (RFC 9293 §3.10.7.1), never LISTEN."""
    from tracer import scenarios
    from tracer.run import trace
    from viz.analysis import analyze
    from viz.capture import open_capture

    out = str(tmp_path / "refused.pcapng")
    trace("refused", scenarios.Options(), out)
    with open_capture(out) as cap:
        a = analyze(cap)
    (stream,) = [s for s in a.streams if s.proto == "tcp"]
    changes = stream.states
    sides = {c.side for c in changes}
    assert sides == {"client", "server"}
    server = [c for c in changes if c.side == "server"]
    assert all(c.before is S.CLOSED and c.after is S.CLOSED for c in server)
    client = [(c.before, c.after) for c in changes if c.side == "client"]
    assert client == [(S.CLOSED, S.SYN_SENT), (S.SYN_SENT, S.CLOSED)]
