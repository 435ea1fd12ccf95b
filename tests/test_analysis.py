"""The analysis engine on hand-made frames, socket-call attachment, and `synack analyze` I/O.

Frames here are RawFrame-shaped tuples whose `data` is already a Decoded
object, with a pass-through decoder, so every field is chosen by the test.
"""
from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

from viz.analysis import Engine, analyze
from viz.calls import attach, comments_by_frame, parse_calls
from viz.decode import Decoded
from viz.export import write_json, write_text
from viz.model import Flag, TcpState

REPO = Path(__file__).resolve().parents[1]
from corpus_path import CORPUS_DIR  # noqa: E402
CORPUS = CORPUS_DIR
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
CLIENT, SERVER = "192.0.2.1", "192.0.2.2"
T0 = 1_763_776_000.0


def passthrough(_linktype, data, _wire_len):
    return data


def tcp(src, sport, dst, dport, flags, seq, ack, length=0, win=1000, wscale=None):
    d = Decoded("tcp")
    d.src, d.sport, d.dst, d.dport = src, sport, dst, dport
    d.flags, d.seq_raw, d.ack_raw, d.win_raw, d.tcp_len = flags, seq, ack, win, length
    if wscale is not None or flags & SYN:
        from viz.model import TcpOptions
        d.options = TcpOptions(mss=1460, wscale=wscale, sack_perm=True)
    return d


def udp(src, sport, dst, dport, length):
    d = Decoded("udp")
    d.src, d.sport, d.dst, d.dport, d.udp_len = src, sport, dst, dport, length
    return d


def frames(decoded, dt=0.01):
    return [(i, T0 + i * dt, 1, d, 60, 0, ()) for i, d in enumerate(decoded, 1)]


def echo_conversation():
    c, s = (CLIENT, 40000), (SERVER, 10000)
    return [
        tcp(*c, *s, SYN, 100, 0),
        tcp(*s, *c, SYN | ACK, 500, 101),
        tcp(*c, *s, ACK, 101, 501),
        tcp(*c, *s, PSH | ACK, 101, 501, 20),
        tcp(*s, *c, ACK, 501, 121),
        tcp(*s, *c, PSH | ACK, 501, 121, 20),
        tcp(*c, *s, ACK, 121, 521),
        tcp(*c, *s, FIN | ACK, 121, 521),
        tcp(*s, *c, FIN | ACK, 521, 122),
        tcp(*c, *s, ACK, 122, 522),
    ]


def test_engine_rows_and_streams():
    decoded = echo_conversation() + [udp("192.0.2.9", 5353, CLIENT, 53, 30),
                                     udp(CLIENT, 53, "192.0.2.9", 5353, 60)]
    other = Decoded("other")
    decoded.append(other)
    eng = Engine(passthrough)
    rows = list(eng.rows(frames(decoded)))
    assert [r[0] for r in rows] == list(range(1, 14))
    assert rows[0][2] == 0.0
    assert [(r[10], r[11]) for r in rows[:3]] == [(0, None), (0, 1), (1, 1)]
    assert rows[10][8] == 0 and rows[11][8] == 0  # one UDP stream, both directions
    assert rows[12][3] == "other" and rows[12][8] is None
    tcp_s, udp_s = eng.streams
    assert tcp_s.frames == list(range(1, 11)) and udp_s.frames == [11, 12]
    assert tcp_s.bytes == [20, 20] and udp_s.bytes == [30, 60]


def test_client_is_first_pure_syn_sender_else_first_source():
    c, s = (CLIENT, 40000), (SERVER, 80)
    eng = Engine(passthrough)
    list(eng.rows(frames([tcp(*s, *c, ACK, 1, 1), tcp(*c, *s, SYN, 9, 0)])))
    # the SYN has another ISN than the base of that direction -> a new stream (port reuse)
    assert [(a.id, a.client) for a in eng.streams] == [(0, 0), (1, 0)]
    assert eng.streams[1].addr[0] == CLIENT
    eng = Engine(passthrough)
    list(eng.rows(frames([tcp(*s, *c, ACK, 1, 1)])))
    assert eng.streams[0].addr[eng.streams[0].client] == SERVER


def test_decoder_error_becomes_other_with_note():
    def broken(_lt, _data, _wl):
        raise ValueError("boom")
    a = analyze(frames([b"x", b"y"]), decode=broken)
    assert [p.proto for p in a.packets] == ["other", "other"]
    assert "boom" in a.packets[0].notes[0]


def test_analyze_builds_the_model():
    a = analyze(frames(echo_conversation()), path="x.pcap", link_types=("EN10MB",),
                decode=passthrough)
    assert a.capture.frames == 10 and a.capture.link_types == ("EN10MB",)
    p = a.packet(2)
    assert p.flags == Flag.SYN | Flag.ACK and p.seq == 0 and p.ack == 1 and p.seq_raw == 500
    s = a.stream(0)
    assert str(s.client) == f"{CLIENT}:40000" and str(s.server) == f"{SERVER}:10000"
    assert s.syn_options["client"].mss == 1460
    client_path = [c.after for c in s.states if c.side == "client"]
    assert client_path[-1] is TcpState.TIME_WAIT
    server_path = [c.after for c in s.states if c.side == "server"]
    assert server_path[-1] is TcpState.CLOSED


def test_json_export_is_valid_and_complete():
    out = []
    write_json(out.append, frames(echo_conversation()), path="x", decode=passthrough)
    doc = json.loads("".join(out))
    assert doc["schema"] == "analysis/1" and doc["capture"]["frames"] == 10
    assert doc["packets"][1]["flags"] == ["ACK", "SYN"]
    assert doc["packets"][0]["ack"] is None
    s = doc["streams"][0]
    assert s["client"] == f"{CLIENT}:40000" and s["frames"] == list(range(1, 11))
    assert s["states"][0] == {"frame": 1, "side": "client", "before": "CLOSED",
                              "after": "SYN_SENT", "event": "send SYN"}


def test_text_export_has_table_and_summary():
    out = []
    write_text(out.append, frames(echo_conversation()), path="x", decode=passthrough)
    text = "".join(out)
    assert "[SYN, ACK]" in text
    assert "client 192.0.2.1:40000, server 192.0.2.2:10000" in text
    assert "client states: CLOSED -> SYN_SENT -> ESTABLISHED -> FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT" in text


META = {
    "hosts": [
        {"name": "client", "role": "client", "interfaces": [{"addrs": [CLIENT + "/24"]}]},
        {"name": "server", "role": "server", "interfaces": [{"addrs": [SERVER + "/24"]}]},
    ],
}


def call(dt, host, name, phase="call", args="", result="", fd=3, pid=1):
    return {"ts": T0 + dt, "host": host, "pid": pid, "fd": fd, "call": name, "phase": phase,
            "args": args, "result": result, "error": ""}


def test_calls_attach_to_the_frames_they_explain():
    # frame i is at T0 + i*0.01
    meta = dict(META, calls=[
        call(0.000, "server", "listen", "return", "1", fd=3, pid=2),
        call(0.005, "client", "connect", "call", "('192.0.2.2', 10000)"),
        call(0.035, "server", "accept", "return", "", "('192.0.2.1', 40000)", fd=3, pid=2),
        call(0.036, "client", "sendall", "call", "20"),
        call(0.045, "server", "recv", "return", "1024", "20", fd=4, pid=2),
        call(0.055, "server", "sendall", "call", "20", fd=4, pid=2),
        call(0.065, "client", "recv", "return", "1024", "20"),
        call(0.076, "client", "close", "return"),
        call(0.085, "server", "recv", "return", "1024", "b''", fd=4, pid=2),
        call(0.086, "server", "close", "return", fd=4, pid=2),
    ])
    a = analyze(frames(echo_conversation()), meta=meta, decode=passthrough)
    got = {(c.host, c.call): c.frame for c in a.calls}
    assert got == {("server", "listen"): None, ("client", "connect"): 1,
                   ("server", "accept"): 3, ("client", "sendall"): 4, ("server", "recv"): 8,
                   ("server", "sendall"): 6, ("client", "recv"): 6, ("client", "close"): 8,
                   ("server", "close"): 9}
    recv_frames = [c.frame for c in a.calls if c.call == "recv" and c.host == "server"]
    assert recv_frames == [4, 8]  # 20 bytes in frame 4, then EOF = the client's FIN
    assert abs(a.calls[1].t - 0.005 + 0.01) < 1e-6  # relative to the first frame (T0+0.01)
    notes = comments_by_frame(a.calls)
    assert notes[1] == ["client: connect(('192.0.2.2', 10000))"]
    # a return without result or error prints no arrow; one with a result does
    assert "client: close()" in notes[8]
    assert "server: recv(1024) -> b''" in notes[8]


def test_parse_calls_skips_malformed_entries():
    calls = parse_calls({"calls": [{"ts": "x"}, 5, {"ts": 10.0, "host": "h", "call": "close"}]}, 9.0)
    assert len(calls) == 1 and calls[0].t == 1.0
    assert attach([], calls) == (calls[0],)


# -- the command ------------------------------------------------------------------

def synack(*args):
    return subprocess.run([sys.executable, "-m", "tracer", "analyze", *map(str, args)],
                          cwd=REPO, capture_output=True, text=True)


def test_bad_input_is_one_line_exit_2(tmp_path):
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.pcap"
    garbage.write_bytes(b"hello world, not a capture at all")
    for path in (empty, garbage, tmp_path / "missing.pcap"):
        r = synack(path)
        assert r.returncode == 2
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("synack: error:") and str(path) in lines[0]
        assert "Traceback" not in r.stderr


def test_partial_analyses_the_valid_prefix(tmp_path):
    src = (CORPUS / "one_http_stream_fin.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    # keep the header and 3 whole records, then half of the 4th
    pos = 24
    for _ in range(3):
        pos += 16 + struct.unpack_from("<I", src, pos + 8)[0]
    cut.write_bytes(src[:pos + 30])
    r = synack(cut, "--format", "json")
    assert r.returncode == 2 and "frame 4" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = synack(cut, "--format", "json", "--partial")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["capture"]["frames"] == 3 and "frame 4" in doc["capture"]["truncated_at"]
    assert "stopped at frame 4" in r.stderr


def test_text_is_the_default_format():
    r = synack(CORPUS / "one_tcp_rst.pcap")
    assert r.returncode == 0
    assert "TCP stream 0" in r.stdout and "[RST, ACK]" in r.stdout
