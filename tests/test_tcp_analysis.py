"""Unit tests of viz.tcp_analysis on crafted segments, one rule at a time.

Each test names the rule it checks: the comment block of Wireshark's
epan/dissectors/packet-tcp.c (tcp_analyze_sequence_number / dissect_tcp,
the 4.0 behaviour the corpus truth was made with) or the RFC.
"""
from __future__ import annotations

import pytest

from viz import tcp_analysis as ta
from viz.tcp_analysis import ACK, FIN, PSH, RST, SYN, TcpAnalyzer

C = ("192.0.2.1", 40000)
S = ("192.0.2.2", 80)


class Conn:
    """Feeds segments of one connection; remembers each frame's result."""

    def __init__(self, analyzer: TcpAnalyzer | None = None):
        self.an = analyzer or TcpAnalyzer()
        self.t = 1000.0

    def seg(self, frm: str, flags: int, seq: int, ack: int = 0, length: int = 0, win: int = 1000,
            dt: float = 0.1, wscale: int | None = None, analyse: bool = True):
        self.t += dt
        src, dst = (C, S) if frm == "c" else (S, C)
        r = self.an.feed(self.t, src[0], src[1], dst[0], dst[1], flags, seq & 0xFFFFFFFF,
                         ack & 0xFFFFFFFF, win, length if analyse else None, analyse, wscale)
        return Result(r)


class Result:
    def __init__(self, r):
        self.seq, self.ack, self.len, self.win = r.seq, r.ack, r.len, r.win
        self.stream = r.conv.stream
        self.raw_bits = r.bits
        self.tags = set(ta.tag_names(ta.export_bits(r.bits)))


def handshake(c: Conn, cisn: int = 1000, sisn: int = 5000, cws=None, sws=None, win=1000):
    c.seg("c", SYN, cisn, 0, win=win, wscale=cws)
    c.seg("s", SYN | ACK, sisn, cisn + 1, win=win, wscale=sws)
    c.seg("c", ACK, cisn + 1, sisn + 1, win=win)
    return cisn + 1, sisn + 1


# -- sequence arithmetic (RFC 9293 §3.4: modulo 2**32) -------------------------

def test_seq_comparisons_wrap_modulo_2_32():
    # RFC 9293 §3.4 "the comparison operators ... modulo 2**32"; Wireshark's GT_SEQ/LT_SEQ
    # are the sign of the 32-bit difference.
    assert ta.seq_gt(5, 0xFFFFFFF0)
    assert ta.seq_lt(0xFFFFFFF0, 5)
    assert ta.seq_le(7, 7) and ta.seq_le(0xFFFFFFFF, 0)
    assert not ta.seq_gt(0xFFFFFFF0, 5)
    assert not ta.seq_lt(7, 7)


def test_relative_numbers_across_the_wrap():
    # The ISN is just below 2**32: relative numbers keep counting through the wrap.
    c = Conn()
    cisn = 0xFFFFFF00
    c.seg("c", SYN, cisn)
    c.seg("s", SYN | ACK, 77, cisn + 1)
    c.seg("c", ACK, cisn + 1, 78)
    r = c.seg("c", PSH | ACK, cisn + 1, 78, length=1000)
    assert (r.seq, r.ack, r.len) == (1, 1, 1000)
    r = c.seg("c", PSH | ACK, cisn + 1001, 78, length=1000)  # raw seq wrapped past 0
    assert r.seq == 1001 and r.tags == set()
    r = c.seg("s", ACK, 78, cisn + 2001)
    assert r.ack == 2001 and r.tags == set()
    r = c.seg("c", PSH | ACK, cisn + 1001, 78, length=1000)  # resend across the wrap
    assert "retransmission" in r.tags


def test_base_is_syn_seq_then_zero():
    # tcp_analyze_sequence_number: "if(flags & TH_SYN) base_seq = seq" -> the SYN is seq 0.
    c = Conn()
    r = c.seg("c", SYN, 1000)
    assert (r.seq, r.ack) == (0, None)
    r = c.seg("s", SYN | ACK, 5000, 1001)
    assert (r.seq, r.ack) == (0, 1)


def test_no_syn_base_is_first_seq_minus_one():
    # "else base_seq = seq-1": a mid-stream capture starts at seq 1.
    c = Conn()
    r = c.seg("c", PSH | ACK, 123456, 999, length=10)
    assert (r.seq, r.ack) == (1, 1)  # reverse base = ack-1 (first ACK number for it)


def test_rst_ack_answering_syn_shows_seq_1_ack_1():
    # Reverse base from "the first segment with the ACK bit set": ack-1, and the
    # RST's own base is seq-1, so an RST/ACK refusing a SYN is seq 1, ack 1.
    c = Conn()
    c.seg("c", SYN, 1000)
    r = c.seg("s", RST | ACK, 0, 1001)
    assert (r.seq, r.ack) == (1, 1)


def test_ack_is_none_without_ack_flag():
    c = Conn()
    r = c.seg("c", RST, 42, 99)
    assert r.ack is None


def test_no_sequence_analysis_keeps_raw_numbers():
    # dissect_tcp: no tcp_analyze_sequence_number for IP fragments or a header cut short;
    # tcp.seq/tcp.ack are the raw values and tcp.len is absent.
    c = Conn()
    r = c.seg("c", PSH | ACK, 123456, 999, analyse=False)
    assert (r.seq, r.ack, r.len) == (123456, 999, None)


# -- streams (dissect_tcp conversation rules) ----------------------------------

def test_new_syn_with_other_isn_starts_new_stream():
    # "If this is a SYN packet, then check if its seq-nr is different from the
    # base_seq of the retrieved conversation ... create a new conversation".
    an = TcpAnalyzer()
    c = Conn(an)
    handshake(c, 1000, 5000)
    c.seg("c", FIN | ACK, 1001, 5001)
    r = c.seg("c", SYN, 9999)
    assert r.stream == 1 and r.seq == 0


def test_retransmitted_syn_keeps_stream_and_is_a_retransmission():
    c = Conn()
    c.seg("c", SYN, 1000)
    r = c.seg("c", SYN, 1000, dt=1.0)
    assert r.stream == 0
    assert "retransmission" in r.tags


# -- the analysis flags ---------------------------------------------------------

def test_retransmission():
    # "RETRANSMISSION ... if it does not advance the sequence number".
    c = Conn()
    cs, ss = handshake(c)
    c.seg("c", PSH | ACK, cs, ss, length=100)
    r = c.seg("c", PSH | ACK, cs, ss, length=100, dt=0.3)
    assert r.tags == {"retransmission"}


def test_out_of_order_within_threshold():
    # "If the segment came relatively close since the segment with the highest seen
    # sequence number and it doesn't look like a retransmission then it is an
    # OUT-OF-ORDER segment" (threshold = first RTT, 3 ms when unknown).
    c = Conn()
    c.seg("c", PSH | ACK, 1000, 50, length=100, dt=0.0)  # no handshake: ooo threshold 3 ms
    c.seg("c", PSH | ACK, 1200, 50, length=100, dt=0.0005)  # 1100..1199 skipped
    r = c.seg("c", PSH | ACK, 1100, 50, length=100, dt=0.0005)
    assert r.tags == {"out_of_order"}


def test_fast_retransmission_after_two_dup_acks():
    # "If there were >=2 duplicate ACKs in the reverse direction ... and if this sequence
    # number matches those ACKs and if the packet occurs within 20ms of the last
    # duplicate ack then this is a fast retransmission" (also a retransmission).
    c = Conn()
    cs, ss = handshake(c)
    c.seg("s", ACK, ss, cs, length=100)
    c.seg("s", ACK, ss + 100, cs, length=100)  # (ss+100 lost from the receiver's view)
    c.seg("c", ACK, cs, ss + 100)
    d1 = c.seg("c", ACK, cs, ss + 100, dt=0.001)
    d2 = c.seg("c", ACK, cs, ss + 100, dt=0.001)
    assert "dup_ack" in d1.tags and "dup_ack" in d2.tags
    r = c.seg("s", ACK, ss + 100, cs, length=100, dt=0.005)
    assert r.tags == {"retransmission", "fast_retransmission"}


@pytest.mark.parametrize("between, fast", [
    ("window_update", True), ("same_ack_data", True), ("new_ack", False)])
def test_dup_ack_count_survives_until_the_ack_changes(between, fast):
    # finished_fwd: "If the ack number changed we must reset the dupack counters".
    # Measured on tshark 4.0.17 with the same frames crafted into pcaps: a window
    # update or a data segment carrying the same ack between the duplicate ACKs and
    # the retransmission keeps it a fast retransmission; a new ack number does not.
    c = Conn()
    cs, ss = handshake(c)
    c.seg("s", ACK, ss, cs, length=100)
    c.seg("s", ACK, ss + 100, cs, length=100)
    c.seg("c", ACK, cs, ss + 100)
    c.seg("c", ACK, cs, ss + 100, dt=0.001)
    c.seg("c", ACK, cs, ss + 100, dt=0.001)
    ack = ss + 100
    if between == "window_update":
        assert c.seg("c", ACK, cs, ss + 100, win=3000, dt=0.001).tags == {"window_update"}
    elif between == "same_ack_data":
        c.seg("c", PSH | ACK, cs, ss + 100, length=10, dt=0.001)
    else:
        c.seg("c", ACK, cs, ss + 101, dt=0.001)
        ack = ss + 101
    r = c.seg("s", ACK, ss + 100, cs + (10 if between == "same_ack_data" else 0), length=100,
              dt=0.002)
    assert ("fast_retransmission" in r.tags) is fast, (between, ack, r.tags)
    assert "retransmission" in r.tags


def test_spurious_retransmission_of_acked_data():
    # "If the current seq + segment length is less than or equal to the current lastack,
    # the packet contains duplicate data and may be considered spurious."
    c = Conn()
    cs, ss = handshake(c)
    c.seg("c", PSH | ACK, cs, ss, length=100)
    c.seg("s", ACK, ss, cs + 100)
    r = c.seg("c", PSH | ACK, cs, ss, length=100, dt=0.3)
    assert r.tags == {"retransmission", "spurious_retransmission"}


def test_duplicate_ack_needs_same_seq_ack_window_and_no_data():
    # "It is a duplicate ack if window/seq/ack is the same as the previous segment and if
    # the segment length is 0".
    c = Conn()
    cs, ss = handshake(c)
    c.seg("c", ACK, cs, ss, win=500)
    assert c.seg("c", ACK, cs, ss, win=500).tags == {"dup_ack"}
    assert c.seg("c", ACK, cs, ss, win=501).tags == {"window_update"}  # window changed
    assert c.seg("c", FIN | ACK, cs, ss, win=501).tags == set()  # FIN never a dup ACK


def test_zero_window():
    # "a zero window packet has window == 0 but none of the SYN/FIN/RST set".
    c = Conn()
    cs, ss = handshake(c)
    assert c.seg("s", ACK, ss, cs, win=0).tags == {"zero_window"}
    assert c.seg("s", RST | ACK, ss, cs, win=0).tags == set()


def test_zero_window_probe():
    # "it is a zero window probe if the sequence number is the next expected one, the
    # window in the other direction is 0, the segment is exactly 1 byte"; it does not
    # advance nextseq.
    c = Conn()
    cs, ss = handshake(c)
    c.seg("c", PSH | ACK, cs, ss, length=100)
    c.seg("s", ACK, ss, cs + 100, win=0)
    r = c.seg("c", PSH | ACK, cs + 100, ss, length=1, dt=0.5)
    assert r.tags == {"zero_window_probe"}
    r = c.seg("c", PSH | ACK, cs + 100, ss, length=1, dt=1.0)
    assert r.tags == {"zero_window_probe"}  # still the next expected byte


def test_keep_alive_and_its_ack():
    # KEEP ALIVE: "0 or 1 bytes of data and starts one byte prior to what should be the
    # next sequence number"; KEEP ALIVE ACK: "repeats the previous ACK and ... the last
    # segment in the reverse direction was a keepalive".
    c = Conn()
    cs, ss = handshake(c)
    c.seg("s", ACK, ss, cs, win=800)
    r = c.seg("c", ACK, cs - 1, ss, length=1, dt=60)
    assert r.tags == {"keep_alive"}
    r = c.seg("s", ACK, ss, cs, win=800)
    assert r.tags == {"keep_alive_ack"}


def test_window_update():
    # "A window update is a 0 byte segment with the same SEQ/ACK numbers as the previous
    # seen segment and with a new window value".
    c = Conn()
    cs, ss = handshake(c)
    c.seg("s", ACK, ss, cs, win=0)
    assert c.seg("s", ACK, ss, cs, win=4000).tags == {"window_update"}


def test_window_full():
    # "If we know the window scaling and if this segment contains data and goes all the
    # way to the edge of the advertised window then we mark it as WINDOW FULL".
    c = Conn()
    cs, ss = handshake(c)
    c.seg("s", ACK, ss, cs, win=300)
    assert c.seg("c", PSH | ACK, cs, ss, length=100).tags == set()
    assert c.seg("c", PSH | ACK, cs + 100, ss, length=200).tags == {"window_full"}


def test_lost_segment():
    # "If this segment is beyond the last seen nextseq we must have missed some previous
    # segment" (not for RST).
    c = Conn()
    cs, ss = handshake(c)
    c.seg("c", PSH | ACK, cs, ss, length=100)
    assert c.seg("c", PSH | ACK, cs + 200, ss, length=100).tags == {"lost_segment"}
    assert c.seg("c", RST | ACK, cs + 900, ss).tags == set()


def test_ack_of_lost_segment():
    # "ACKED LOST PACKET: If this segment acks beyond the 'max seq to be acked' in the
    # other direction then that means we have missed packets going in the other direction".
    c = Conn()
    cs, ss = handshake(c)
    c.seg("c", PSH | ACK, cs, ss, length=100)
    assert c.seg("s", ACK, ss, cs + 300).tags == {"ack_lost_segment"}


def test_keep_alive_is_not_a_retransmission():
    # "Note that a simple KeepAlive is not a retransmission".
    c = Conn()
    cs, ss = handshake(c)
    c.seg("c", PSH | ACK, cs, ss, length=10)
    r = c.seg("c", ACK, cs + 9, ss, length=1, dt=60)
    assert "retransmission" not in r.tags and "keep_alive" in r.tags


# -- window scaling (verify_tcp_window_scaling) ---------------------------------

def test_window_scaled_after_both_syns_announce_it():
    c = Conn()
    c.seg("c", SYN, 1000, 0, win=64240, wscale=7)
    r = c.seg("s", SYN | ACK, 5000, 1001, win=65160, wscale=8)
    assert r.win == 65160  # "SYNs are never scaled"
    assert c.seg("c", ACK, 1001, 5001, win=502).win == 502 << 7
    assert c.seg("s", ACK, 5001, 1001, win=10).win == 10 << 8


def test_window_not_scaled_when_synack_lacks_option():
    # "As the SYN/ACK does not have the WS option, window scaling will not be used."
    c = Conn()
    c.seg("c", SYN, 1000, 0, win=64240, wscale=7)
    c.seg("s", SYN | ACK, 5000, 1001, win=65160)
    assert c.seg("c", ACK, 1001, 5001, win=502).win == 502


def test_window_raw_without_syn():
    # tcp.default_window_scaling "Not known": the raw value when no SYN was seen.
    c = Conn()
    assert c.seg("c", ACK, 1001, 5001, win=502).win == 502


def test_wscale_shift_capped_at_14():
    # RFC 7323 §2.3: a shift above 14 is used as 14 (Wireshark does the same).
    c = Conn()
    c.seg("c", SYN, 1000, 0, wscale=15)
    c.seg("s", SYN | ACK, 5000, 1001, wscale=1)
    assert c.seg("c", ACK, 1001, 5001, win=1).win == 1 << 14


@pytest.mark.parametrize("bits,names", [
    (ta.FAST_RETRANSMISSION, ["retransmission", "fast_retransmission"]),
    (ta.SPURIOUS_RETRANSMISSION, ["retransmission", "spurious_retransmission"]),
    (ta.ZERO_WINDOW_PROBE_ACK | ta.REUSED_PORTS, []),
])
def test_export_bits(bits, names):
    # tshark adds tcp.analysis.retransmission to fast and spurious retransmissions;
    # zero_window_probe_ack and reused_ports are not schema tags.
    assert list(ta.tag_names(ta.export_bits(bits))) == names
