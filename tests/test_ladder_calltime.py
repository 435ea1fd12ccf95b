"""Socket calls drawn where they ran on the frames' clock (issue 11): a program that sleeps reads
long after its data arrived, and the figure says so; a call never sits below the segment it caused."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from conftest import needs_root  # noqa: E402
from test_trace import CLIENT, SERVER  # noqa: E402

from viz.analysis import analyze  # noqa: E402
from viz.capture import open_capture  # noqa: E402
from viz.ladder import CALL_SLACK, build_ladder  # noqa: E402

CAPTURES = Path(__file__).resolve().parents[1] / "captures"


def _load(path):
    with open_capture(str(path)) as cap:
        return analyze(cap, path=str(path))


def _lines(lad, lifeline):
    """(y, text) of every call line beside `lifeline`, top to bottom."""
    return [(c.y, line) for c in lad.calls if c.lifeline == lifeline for line in c.lines]


def _order_holds(an, lad, lifeline: int) -> list[str]:
    """At the capture point the frames' times are exact: a call that ran more than the record's slack
    after an event on that lifeline is not drawn above it, nor one that ran before an event below it."""
    ends = {}
    for a in lad.arrows:
        for lf, y in ((a.src, a.y_send), (a.dst, a.y_recv)):
            if lf == lifeline:
                ends.setdefault(y, []).append(a.t)
    by_text: dict[str, list[float]] = {}
    for c in an.calls:
        from viz.ladder import call_text

        text = call_text(c, True)
        if text:
            by_text.setdefault(text, []).append(c.t)
    bad = []
    for y, line in _lines(lad, lifeline):
        for part in line.split(", "):
            ts = by_text.get(part.split(" ×")[0])
            if not ts:
                continue
            for ey, ets in ends.items():
                if ey < y and all(t < min(ets) - CALL_SLACK for t in ts):
                    bad.append(f"{part!r} at y={y} below an event at y={ey} that came after it")
                if ey > y and all(t > max(ets) + CALL_SLACK for t in ts):
                    bad.append(f"{part!r} at y={y} above an event at y={ey} that came before it")
    return bad


def test_zero_window_reads_come_when_the_server_wakes():
    an = _load(CAPTURES / "zero-window.pcapng")
    lad = build_ladder(an)
    server = next(l.index for l in lad.lifelines if l.role == "server")
    client = 1 - server
    probes = [a for a in lad.arrows if "keep-alive (zero-window probe)" in a.tags]
    reads = [y for y, line in _lines(lad, server) if line.startswith("recv → 1024")]
    assert probes and reads
    # The server slept through the zero window: its first read comes as the last probe arrives
    # (between that arrival and the window update, which share a row), not when the data did.
    update = next(a for a in lad.arrows if "window update" in a.tags)
    assert max(p.y_recv for p in probes) <= min(reads) <= update.y_send
    first_data = next(a for a in lad.arrows if a.length and a.src == client)
    assert min(reads) > first_data.y_recv + 5
    # The client's shutdown ran as soon as sendall had queued its bytes, long before its FIN left ...
    fin = next(a for a in lad.arrows if "FIN" in a.flags and a.src == client)
    (shut,) = [y for y, line in _lines(lad, client) if "shutdown(SHUT_WR)" in line]
    assert shut < probes[0].y_send < fin.y_send
    # ... and its recv blocked all that time: one interval on its lifeline.
    (wait,) = [w for w in lad.waits if w.lifeline == client and w.call == "recv"]
    assert wait.y_start < probes[0].y_send and wait.y_end > fin.y_send
    assert any("recv (blocks)" in line for _, line in _lines(lad, client))
    assert _order_holds(an, lad, client) == []


def test_a_call_never_sits_below_the_segment_it_caused():
    for name in ("zero-window", "lost-segment", "tcp-echo", "half-close", "fast-retransmit"):
        an = _load(CAPTURES / f"{name}.pcapng")
        lad = build_ladder(an)
        by_frame = {a.frame: a for a in lad.arrows}
        for c in an.calls:
            a = by_frame.get(c.frame)
            if a is None or c.phase != "call" or c.call not in ("send", "sendall", "connect", "shutdown"):
                continue
            lf = a.src
            mine = [y for y, line in _lines(lad, lf)
                    if any(part.split("(")[0].split(" ")[0] == c.call for part in line.split(", "))]
            assert mine and min(mine) <= a.y_send, (name, c.call, c.frame)


# The echo-upper pair of test_trace, its server made to sleep between accept and recv.
SLEEPY_SERVER = SERVER.replace("import os, socket", "import os, socket, time").replace(
    "c, _ = s.accept()\n", "c, _ = s.accept()\ntime.sleep(0.3)\n")
assert "time.sleep(0.3)" in SLEEPY_SERVER


@needs_root
@pytest.mark.netns
def test_a_server_that_sleeps_before_recv(progdir, tmp_path, leak_check):
    from tracer import scenarios
    from tracer.run import Programs, trace

    srv, cli = progdir("srv.py", SLEEPY_SERVER), progdir("cli.py", CLIENT)
    out = str(tmp_path / "sleepy.pcapng")
    r = trace(Programs(client=f"{sys.executable} {cli}", server=f"{sys.executable} {srv}"),
              scenarios.Options(port=5010), out)
    assert r.complete and r.client_output.strip() == "HELLO SYNACK"
    an = _load(out)
    lad = build_ladder(an)
    server = next(l.index for l in lad.lifelines if l.role == "server")
    client = 1 - server
    data = next(a for a in lad.arrows if a.src == client and a.length == 12)
    ack = next(a for a in lad.arrows if a.src == server and a.length == 0 and a.y_send >= data.y_recv
               and "SYN" not in a.flags)
    echo = next(a for a in lad.arrows if a.src == server and a.length == 12)
    (read,) = [y for y, line in _lines(lad, server) if "recv → 12" in line]
    # The kernel acknowledged the data at once; the program read it 300 ms later, then echoed.
    assert ack.y_send < read <= echo.y_send
    # The client's recv waited for the echo: `recv (blocks)` ... `recv → 12`.
    (wait,) = [w for w in lad.waits if w.lifeline == client and w.call == "recv"]
    assert data.y_send < wait.y_start <= echo.y_send and wait.y_end >= echo.y_recv
    assert _order_holds(an, lad, client) == []
    text = lad.caption
    assert "sleepy.pcapng" in text
