"""Every socket call carries its connection (issue 11): a server lifeline several connections share
draws each call on its own connection's rows.  Checked on real traces of the course's concurrent
servers, where descriptor numbers are reused (an iterative server closes fd 4 and accepts into fd 4
again), shared (threads), inherited (forked children) and never written in accept()'s record."""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from call_placement import placement  # noqa: E402
from conftest import needs_root  # noqa: E402

from viz.commands.ladder import load  # noqa: E402
from viz.errors import SynackError  # noqa: E402
from viz.ladder import build_ladder  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = sorted(ROOT.glob("captures/*.pcapng")) + sorted(ROOT.glob("tests/captures/*.pcapng"))
CONCURRENT = [ROOT / "captures" / "threading-tcp.pcapng", ROOT / "captures" / "forking-tcp.pcapng",
              ROOT / "captures" / "reuseaddr.pcapng", ROOT / "captures" / "socketserver-tcp.pcapng",
              ROOT / "tests" / "captures" / "iterative-accept-order.pcapng"]


def _stream_of_client(an, port: int) -> int:
    return next(s.id for s in an.streams if s.proto == "tcp" and s.client.port == port)


def _by_socket(an):
    """(host, pid, fd) -> the calls made on it, in order, split where the descriptor was closed."""
    out: dict[tuple, list[list]] = {}
    for c in an.calls:
        runs = out.setdefault((c.host, c.pid, c.fd), [[]])
        runs[-1].append(c)
        if c.call == "close" and c.phase == "return":
            runs.append([])
    return out


@pytest.mark.parametrize("path", CAPTURES, ids=[p.name for p in CAPTURES])
def test_a_call_explains_frames_of_its_own_connection_only(path):
    an = load(str(path))
    by_frame = {p.frame: p for p in an.packets}
    for c in an.calls:
        if c.conn is None or c.conn[0] not in ("tcp", "udp"):
            continue
        for f in c.frames:
            p = by_frame[f]
            assert (p.proto, p.stream) == c.conn, (c.host, c.pid, c.fd, c.call, c.phase, f)
    # Between two close()s a descriptor names one socket: all its calls share one connection.
    for where, runs in _by_socket(an).items():
        for run in runs:
            conns = {c.conn for c in run if c.conn is not None and not (c.call == "accept")}
            assert len(conns) <= 1, (where, conns)


def test_threads_of_one_server_each_serve_the_connection_they_accepted():
    an = load(str(ROOT / "captures" / "threading-tcp.pcapng"))
    accepts = [c for c in an.calls if c.host == "server" and c.call == "accept" and c.phase == "return"]
    order = [_stream_of_client(an, int(c.result.rsplit(",", 1)[1].strip(" )"))) for c in accepts]
    assert len(order) == 3
    # One process, threads sharing its descriptors: fd 4, then 5, then 4 again after the first closed.
    server = [c for c in an.calls if c.host == "server" and c.fd in (4, 5)]
    first = [c for c in server if c.call == "recv" and c.phase == "return"][0]
    assert first.fd == 4 and first.conn == ("tcp", order[0])
    assert an.packet(first.frame).stream == order[0]  # not the segment another client sent earlier
    served = {}
    for c in server:
        served.setdefault(c.conn, []).append(c.fd)
    assert set(served) == {("tcp", s) for s in order}
    assert set(served[("tcp", order[0])]) == {4} and set(served[("tcp", order[1])]) == {5}
    assert set(served[("tcp", order[2])]) == {4}
    # Each connection's echo and FIN are its own thread's send and shutdown.
    for s in order:
        mine = [c for c in server if c.conn == ("tcp", s) and c.frame is not None]
        assert {c.call for c in mine} >= {"recv", "send", "shutdown"}


def test_forked_children_own_their_connection_and_the_parent_close_sends_nothing():
    an = load(str(ROOT / "captures" / "forking-tcp.pcapng"))
    parent = next(c.pid for c in an.calls if c.host == "server" and c.call == "listen")
    accepts = [c for c in an.calls if c.host == "server" and c.call == "accept" and c.phase == "return"]
    children = sorted({c.pid for c in an.calls if c.host == "server" and c.pid != parent})
    assert len(accepts) == len(children) == 3
    for acc, child in zip(accepts, children):  # forked in the order accepted
        mine = [c for c in an.calls if c.pid == child]
        assert {c.conn for c in mine} == {acc.conn}
        fin = next(c for c in mine if c.call == "shutdown")
        assert fin.frame is not None and an.packet(fin.frame).flags & 0x01
    # The parent closes its copy of each accepted socket: no FIN, the child's shutdown sends it.
    closes = [c for c in an.calls if c.pid == parent and c.call == "close" and c.fd == 4]
    assert len(closes) == 3 and all(c.frame is None for c in closes)
    assert [c.conn for c in closes] == [a.conn for a in accepts]


def test_two_connects_microseconds_apart_get_the_handshake_their_data_went_over():
    an = load(str(ROOT / "tests" / "captures" / "iterative-accept-order.pcapng"))
    connects = [c for c in an.calls if c.host == "client" and c.call == "connect" and c.phase == "call"]
    assert len(connects) == 2 and connects[1].ts - connects[0].ts < 1e-4
    for conn in connects:
        mine = [c for c in an.calls if c.pid == conn.pid and c.host == "client"]
        data = next(c for c in mine if c.call == "sendall" and c.frame is not None)
        assert an.packet(conn.frame).stream == an.packet(data.frame).stream == conn.conn[1]
        ret = next(c for c in mine if c.call == "connect" and c.phase == "return")
        assert an.packet(ret.frame).stream == conn.conn[1]  # its SYN/ACK
    # The iterative server served the connection whose handshake completed first, then the other,
    # on fd 4 both times.
    server = [c for c in an.calls if c.host == "server" and c.fd == 4]
    conns = list(dict.fromkeys(c.conn for c in server))
    accepts = [c for c in an.calls if c.host == "server" and c.call == "accept" and c.phase == "return"]
    assert conns == [a.conn for a in accepts] and len(set(conns)) == 2


@pytest.mark.parametrize("path", CONCURRENT, ids=[p.name for p in CONCURRENT])
def test_calls_on_a_shared_lifeline_are_drawn_at_their_time(path):
    """tests/call_placement.py: no call drawn on the wrong side of an event of its lifeline, none
    that ran within the clock's slack of an event drawn away from it; each tag names its own
    connection."""
    an = load(str(path))
    try:
        lad = build_ladder(an)
    except SynackError:
        pytest.skip("more lifelines than one figure draws")
    misplaced, away = placement(an, lad)
    assert misplaced == [] and away == []
    roles = {l.role for l in lad.lifelines}
    for c in lad.calls:
        for line in c.lines:
            if line.endswith("]") and " [" in line:
                assert line.rsplit(" [", 1)[1][:-1] in roles


def test_the_json_export_names_each_calls_connection():
    import json
    import subprocess

    out = subprocess.run([sys.executable, "-m", "tracer", "analyze", "--format", "json",
                          str(ROOT / "captures" / "threading-tcp.pcapng")], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    calls = json.loads(out)["calls"]
    an = load(str(ROOT / "captures" / "threading-tcp.pcapng"))
    assert [c["conn"] for c in calls] == [list(c.conn) if c.conn else None for c in an.calls]
    assert {tuple(c["conn"]) for c in calls if c["conn"]} == {("tcp", 0), ("tcp", 1), ("tcp", 2)}


def test_two_refused_connects_close_together_keep_their_syns_connection():
    """No data tells two close connect()s apart when both are refused: each keeps the SYN it was
    given, and every call on its socket that connection."""
    from viz.calls import attach, parse_calls
    from viz.model import Flag, Packet, SocketCall

    t0 = 1_700_000_000.0
    pk = [Packet(frame=1, t=0.0, ts=t0, proto="tcp", src="192.0.2.1", dst="192.0.2.2", sport=40000, dport=9,
                 stream=0, flags=Flag.SYN, seq=0, len=0),
          Packet(frame=2, t=1e-4, ts=t0 + 1e-4, proto="tcp", src="192.0.2.1", dst="192.0.2.2", sport=40001,
                 dport=9, stream=1, flags=Flag.SYN, seq=0, len=0),
          Packet(frame=3, t=2e-4, ts=t0 + 2e-4, proto="tcp", src="192.0.2.2", dst="192.0.2.1", sport=9,
                 dport=40000, stream=0, flags=Flag.RST | Flag.ACK, seq=1, ack=1, len=0),
          Packet(frame=4, t=3e-4, ts=t0 + 3e-4, proto="tcp", src="192.0.2.2", dst="192.0.2.1", sport=9,
                 dport=40001, stream=1, flags=Flag.RST | Flag.ACK, seq=1, ack=1, len=0)]

    def call(dt, fd, name, phase, error=""):
        return SocketCall(ts=t0 + dt, t=dt, host="client", pid=7, call=name, phase=phase, fd=fd, error=error)

    calls = [call(-2e-4, 3, "socket", "return"), call(-1e-4, 4, "socket", "return"),
             call(-5e-5, 3, "connect", "call"), call(-4e-5, 4, "connect", "call"),
             call(4e-4, 3, "connect", "return", "ConnectionRefusedError: [Errno 111]"),
             call(5e-4, 4, "connect", "return", "ConnectionRefusedError: [Errno 111]")]
    out = attach(pk, calls)
    assert [c.frame for c in out[2:4]] == [1, 2]
    assert [c.conn for c in out] == [("tcp", 0), ("tcp", 1)] * 3


HOLDING_SERVER = """\
import socket
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(('', 10000))
listener.listen(2)
log = open(__file__)  # a descriptor of its own between the listener and the accepted sockets
first, _ = listener.accept()
second, _ = listener.accept()
for conn in (first, second):  # both held open: the lowest-free-fd guess would swap them
    conn.sendall(conn.recv(16).upper())
    conn.close()
"""
TWO_CLIENT = """\
import socket, time
a = socket.create_connection(('localhost', 10000))
time.sleep(0.2)  # a's handshake completes first: the server accepts it first
b = socket.create_connection(('localhost', 10000))
a.sendall(b'one'); b.sendall(b'two')
print(a.recv(16), b.recv(16))
"""


@needs_root
@pytest.mark.netns
def test_accept_records_name_the_new_descriptor_when_the_server_holds_a_file(tmp_path, request, leak_check):
    """The server's open file takes fd 4, so its accepted sockets are 5 and 6, not the 4 and 5 the
    lowest-free-descriptor guess gives: the recorder writes `new_fd`, and each recv/send/close lands
    on its own connection.  The same records without `new_fd` (an older capture) get the guess."""
    from tracer.run import Programs, trace
    from viz.calls import attach, parse_calls
    from viz.capture import open_capture

    d = Path(tempfile.mkdtemp(prefix="synack-holding-"))  # where the programs' user can read them
    os.chmod(d, 0o755)
    request.addfinalizer(lambda: shutil.rmtree(d, ignore_errors=True))
    for name, text in (("server.py", HOLDING_SERVER), ("client.py", TWO_CLIENT)):
        (d / name).write_text(text)
        os.chmod(d / name, 0o644)
    out = str(tmp_path / "hold.pcapng")
    r = trace(Programs(client=[sys.executable, str(d / "client.py")], server=[sys.executable, str(d / "server.py")]),
              None, out)
    assert r.complete, r.incomplete_reason
    assert r.client_output.strip() == "b'ONE' b'TWO'"
    an = load(out)
    server = [c for c in an.calls if c.host == "server"]
    accepts = [c for c in server if c.call == "accept" and c.phase == "return"]
    assert [(a.fd, a.new_fd) for a in accepts] == [(3, 5), (3, 6)]
    with open_capture(out) as cap:
        meta = cap.meta
        raw = [c for c in meta["calls"] if c["host"] == "server" and c["call"] == "accept"
               and c["phase"] == "return"]
    assert [c["new_fd"] for c in raw] == [5, 6]  # in the capture's call records
    by_port = {s.client.port: s.id for s in an.streams if s.proto == "tcp"}
    first, second = (by_port[int(a.result.rsplit(",", 1)[1].strip(" )"))] for a in accepts)
    assert first != second
    for fd, stream, sent, echoed in ((5, first, b"one", b"ONE"), (6, second, b"two", b"TWO")):
        mine = [c for c in server if c.fd == fd]
        assert {c.call for c in mine} == {"recv", "sendall", "close"}
        assert {c.conn for c in mine} == {("tcp", stream)}
        recv = next(c for c in mine if c.call == "recv" and c.phase == "return")
        send = next(c for c in mine if c.call == "sendall" and c.frame is not None)
        close = next(c for c in mine if c.call == "close")
        assert an.packet(recv.frame).payload == sent and an.packet(send.frame).payload == echoed
        assert an.packet(close.frame).flags & 0x01 and an.packet(close.frame).stream == stream
    assert [a.conn for a in accepts] == [("tcp", first), ("tcp", second)]
    # Without new_fd (a capture from an older recorder) the guess is 4 and 5: fd 5's calls go to
    # the second connection's socket, which is what this test's server was made to expose.
    meta["calls"] = [{k: v for k, v in c.items() if k != "new_fd"} for c in meta["calls"]]
    old = attach(an.packets, parse_calls(meta, an.packets[0].ts), meta)
    guessed = {c.conn for c in old if c.host == "server" and c.fd == 5 and c.call == "recv"}
    assert guessed == {("tcp", second)}
