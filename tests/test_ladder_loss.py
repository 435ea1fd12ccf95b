"""Loss figures show the timer, the lost arrow, the recovery and name the case (issue 11), checked
against tshark's reading of the same captures."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from corpus_path import CORPUS_DIR
from viz.analysis import analyze
from viz.capture import open_capture
from viz.ladder import build_ladder
from viz.ladder_loss import INFERRED_LOST, NOT_CAPTURED, RECOVERY

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
pytestmark = pytest.mark.skipif(not shutil.which("tshark"), reason="needs tshark")


def _load(path):
    with open_capture(str(path)) as cap:
        return analyze(cap, path=str(path))


def _tshark(path, filt, *fields):
    out = subprocess.run(["tshark", "-r", str(path), "-Y", filt, "-T", "fields",
                          *[x for f in fields for x in ("-e", f)]], capture_output=True, text=True, check=True)
    return [line.split("\t") for line in out.stdout.splitlines()]


@pytest.mark.parametrize("name,case", [("lost-segment", "lost segment: retransmission timeout (RTO)"),
                                       ("syn-retry", "SYN lost: retried after the initial RTO"),
                                       ("lost-ack", "lost ACK: spurious retransmission after the RTO")])
def test_rto_timer_runs_from_the_original_to_the_retransmission(name, case):
    path = CAPTURES / f"{name}.pcapng"
    lad = build_ladder(_load(path))
    (retx,) = _tshark(path, "tcp.analysis.retransmission", "frame.number", "frame.time_relative",
                      "tcp.seq", "tcp.flags.syn")
    first = _tshark(path, f"tcp.seq == {retx[2]} && tcp.flags.syn == {retx[3]} && !tcp.analysis.retransmission "
                          f"&& (tcp.len > 0 || tcp.flags.syn == 1) && ip.src == 192.0.2.1",
                    "frame.number", "frame.time_relative")[0]
    (timer,) = lad.timers
    a_retx, a_orig = lad.arrow(int(retx[0])), lad.arrow(int(first[0]))
    assert (timer.lifeline, timer.y_start, timer.y_end) == (a_retx.src, a_orig.y_send, a_retx.y_send)
    rto = float(retx[1]) - float(first[1])
    value = timer.text.split()[1:]
    got = float(value[0]) * (1e-3 if value[1] == "ms" else 1.0)
    assert got == pytest.approx(rto, rel=0.01)
    assert any(timer.text in c.lines for c in lad.calls)  # written beside the sender
    assert lad.caption.startswith(case)


def test_recovery_is_the_ack_that_covers_the_retransmission():
    path = CAPTURES / "lost-segment.pcapng"
    lad = build_ladder(_load(path))
    (retx,) = _tshark(path, "tcp.analysis.retransmission", "frame.number", "tcp.nxtseq")
    acks = _tshark(path, f"frame.number > {retx[0]} && tcp.ack >= {retx[1]} && ip.src == 192.0.2.2", "frame.number")
    marked = [a.frame for a in lad.arrows if RECOVERY in a.tags]
    assert marked == [int(acks[0][0])]


def _fired_after(path):
    """Each fast retransmission tshark tags -> tshark's number of the last duplicate ACK asking for
    its sequence number before it (`Dup ACK 12#3`: 3)."""
    dups = _tshark(path, "tcp.analysis.duplicate_ack", "frame.number", "tcp.ack_raw",
                   "tcp.analysis.duplicate_ack_num")
    out = {}
    for frame, seq in _tshark(path, "tcp.analysis.fast_retransmission", "frame.number", "tcp.seq_raw"):
        before = [int(n) for f, ack, n in dups if int(f) < int(frame) and ack == seq]
        out[int(frame)] = before[-1] if before else None
    return out


def test_fast_retransmit_names_the_case_with_tsharks_dup_ack_count():
    path = CAPTURES / "fast-retransmit.pcapng"
    lad = build_ladder(_load(path))
    ((frame, fired),) = _fired_after(path).items()
    assert fired == len(_tshark(path, f"tcp.analysis.duplicate_ack && frame.number < {frame}", "frame.number"))
    assert lad.caption.startswith(f"fast retransmit after {fired} duplicate ACKs")
    assert lad.timers == ()  # the dup ACKs, not a timer, triggered it
    assert "fast retransmission" in lad.arrow(frame).tags  # Linux (RACK): no count named as the trigger


@pytest.mark.parametrize("path", [CAPTURES / "sawtooth.pcapng", CAPTURES / "slow-start.pcapng",
                                  CAPTURES / "lecture" / "fast-retransmit-1c23d094065a.pcapng"], ids=lambda p: p.name)
def test_textbook_fast_retransmission_names_its_trigger_as_tshark_counts_it(path):
    """--tcp textbook: each fast retransmission says the duplicate ACK count it fired at, which is
    tshark's, and the textbook's 3; duplicate ACKs drawn after it do not count."""
    an = _load(path)
    assert an.capture.meta["tcp"]["profile"] == "textbook"
    fired = _fired_after(path)
    assert fired and set(fired.values()) == {3}, fired
    lad = build_ladder(an, full=True)
    for frame, n in fired.items():
        assert f"fast retransmission after {n} dup ACKs" in lad.arrow(frame).tags, lad.arrow(frame).tags
    assert lad.caption.startswith("fast retransmit after 3 duplicate ACKs")


def test_a_plain_pcap_at_the_sender_draws_the_original_lost(tmp_path):
    """Without the tracer's metadata (editcap to pcap, as from tcpdump) the retransmission is the proof."""
    if not shutil.which("editcap"):
        pytest.skip("needs editcap")
    pcap = tmp_path / "lost.pcap"
    subprocess.run(["editcap", "-F", "pcap", str(CAPTURES / "lost-segment.pcapng"), str(pcap)], check=True)
    an = _load(pcap)
    assert not an.capture.meta.get("dropped")
    lad = build_ladder(an)
    (retx,) = _tshark(pcap, "tcp.analysis.retransmission", "frame.number")
    lost = [a for a in lad.arrows if a.lost]
    assert len(lost) == 1 and INFERRED_LOST in lost[0].tags and lost[0].frame < int(retx[0])
    assert "captured at the client (inferred" in lad.caption


def test_a_gap_in_the_sequence_space_is_an_inferred_arrow():
    path = CORPUS_DIR / "unidirectional_tcp_stream_with_missing_packet.pcap"
    if not path.exists():
        pytest.skip("corpus not present")
    lad = build_ladder(_load(path))
    (after,) = _tshark(path, "tcp.analysis.lost_segment", "frame.number", "tcp.seq")
    ghost = [a for a in lad.arrows if a.inferred]
    assert len(ghost) == 1 and ghost[0].frame == -int(after[0]) and ghost[0].lost
    assert NOT_CAPTURED in ghost[0].tags
    before = max((a for a in lad.arrows if 0 < a.frame < int(after[0]) and a.length), key=lambda a: a.frame)
    seq_before = int(before.label.split("seq=")[1].split()[0])
    assert f"seq={seq_before + before.length} " in ghost[0].label
    assert f"len={int(after[1]) - seq_before - before.length}" in ghost[0].label


def test_scaled_time_from_one_capture_says_what_is_true():
    lad = build_ladder(_load(CAPTURES / "lost-segment.pcapng"), time="scaled")
    assert ("scaled time: true at the client, the server end's estimated (one-way delay = half the "
            "handshake RTT)") in lad.caption
    assert "scaled time" not in build_ladder(_load(CAPTURES / "lost-segment.pcapng")).caption
