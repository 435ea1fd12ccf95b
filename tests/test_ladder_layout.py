"""The ladder layout: arrows, labels, states, calls, phases, bands, time modes, errors."""
from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import ladder_fixtures as F  # noqa: E402

from viz.errors import SynackError  # noqa: E402
from viz.ladder import build_ladder, call_text, duration_text, escape_preview, parse_frames  # noqa: E402
from viz.model import Analysis, CaptureInfo, Packet, SocketCall  # noqa: E402

from corpus_path import CORPUS_DIR  # noqa: E402
CORPUS = CORPUS_DIR


@pytest.fixture(scope="module")
def echo():
    return build_ladder(F.tcp_echo())


def notes(ladder, lifeline, y):
    """Every state and call line at one lifeline and height, in drawing order."""
    items = [(s.order, (s.state,)) for s in ladder.states if s.lifeline == lifeline and s.y == y]
    items += [(c.order, c.lines) for c in ladder.calls if c.lifeline == lifeline and c.y == y]
    return [line for _, lines in sorted(items) for line in lines]


def test_echo_lifelines_active_opener_left(echo):
    assert [l.heading for l in echo.lifelines] == ["client 192.0.2.1:40312", "server 192.0.2.2:10000"]
    assert [l.host for l in echo.lifelines] == ["client", "server"]


def test_echo_arrows_in_frame_order_with_textbook_labels(echo):
    assert [a.frame for a in echo.arrows] == list(range(1, 12))
    assert [(a.src, a.dst) for a in echo.arrows] == [
        (0, 1), (1, 0), (0, 1), (0, 1), (1, 0), (0, 1), (1, 0), (0, 1), (0, 1), (1, 0), (0, 1)]
    assert [a.label for a in echo.arrows] == [
        "SYN seq=0", "SYN, ACK seq=0 ack=1", "ACK seq=1 ack=1", "PSH, ACK seq=1 ack=1 len=20",
        "PSH, ACK seq=1 ack=21 len=16", "ACK seq=21 ack=17", "PSH, ACK seq=17 ack=21 len=4",
        "ACK seq=21 ack=21", "FIN, ACK seq=21 ack=21", "FIN, ACK seq=21 ack=22", "ACK seq=22 ack=22"]
    assert [a.preview for a in echo.arrows if a.preview] == [
        '"This is the message."', '"This is the mess"', '"age."']
    assert [a.kind for a in echo.arrows].count("data") == 3
    assert all(a.y_recv > a.y_send for a in echo.arrows)
    # Schematic zigzag: each arrow leaves where the previous one arrived (before room was made for notes).
    ys = [a.y_send for a in echo.arrows]
    assert ys == sorted(ys) and len(set(ys)) == len(ys)


def test_numbers_symbolic_absolute_window_options():
    an = F.tcp_echo()
    sym = build_ladder(an, numbers="symbolic")
    assert [a.label for a in sym.arrows[:4]] == [
        "SYN seq=J", "SYN, ACK seq=K ack=J+1", "ACK seq=J+1 ack=K+1", "PSH, ACK seq=J+1 ack=K+1 len=20"]
    ab = build_ladder(an, numbers="absolute")
    assert ab.arrows[0].label == "SYN seq=1000000000"
    assert ab.arrows[1].label == "SYN, ACK seq=3000000000 ack=1000000001"
    rich = build_ladder(an, win=True, options=True)
    assert rich.arrows[0].label == "SYN seq=0 win=64240 MSS=1460 WS=128 SACK_PERM TS"
    assert rich.arrows[2].label == "ACK seq=1 ack=1 win=64256"  # options only on SYNs


def test_states_beside_the_right_end_of_their_frame(echo):
    a = {x.frame: x for x in echo.arrows}
    got = {(s.lifeline, s.y, s.state) for s in echo.states}
    assert (0, a[1].y_send, "SYN_SENT") in got
    assert (1, a[1].y_recv, "SYN_RECEIVED") in got
    assert (0, a[2].y_recv, "ESTABLISHED") in got
    assert (1, a[3].y_recv, "ESTABLISHED") in got
    assert (0, a[9].y_send, "FIN_WAIT_1") in got
    assert (1, a[9].y_recv, "CLOSE_WAIT") in got
    assert (1, a[10].y_send, "LAST_ACK") in got
    assert (1, a[11].y_recv, "CLOSED") in got
    listen = [s for s in echo.states if s.state == "LISTEN"]
    assert listen and listen[0].lifeline == 1 and listen[0].y < a[1].y_send
    (tw,) = [s for s in echo.states if s.state == "TIME_WAIT"]
    assert tw.lifeline == 0 and tw.y == a[10].y_recv and tw.y_end > a[11].y_recv  # an interval


def test_socket_calls_at_the_right_rows(echo):
    a = {x.frame: x for x in echo.arrows}
    assert notes(echo, 0, a[1].y_send) == ["connect (blocks)", "SYN_SENT"]
    assert notes(echo, 0, a[2].y_recv) == ["ESTABLISHED", "connect returns"]
    assert notes(echo, 1, a[3].y_recv) == ["ESTABLISHED", "accept returns"]
    assert "sendall(20)" in notes(echo, 0, a[4].y_send)
    assert notes(echo, 1, a[4].y_recv) == ["recv → 16, sendall(16)"]
    assert notes(echo, 0, a[5].y_recv) == ["recv → 16"]
    assert notes(echo, 0, a[9].y_send) == ["close", "FIN_WAIT_1"]
    # CLOSE_WAIT when the FIN arrives, then the EOF read and close, then LAST_ACK as the FIN leaves.
    assert notes(echo, 1, a[10].y_send) == ["CLOSE_WAIT", "recv → b'', close", "LAST_ACK"]
    top = min(c.y for c in echo.calls)
    assert notes(echo, 1, top) == ["socket, bind, listen", "LISTEN", "accept (blocks)"]


def test_rows_with_many_notes_push_the_rest_down(echo):
    a = {x.frame: x for x in echo.arrows}
    # Three notes where frame 9 arrives at the server: that row gets extra room.
    assert a[10].y_send - a[9].y_send > a[9].y_send - a[8].y_send


def test_phases_bracket_handshake_data_teardown(echo):
    a = {x.frame: x for x in echo.arrows}
    assert [p.name for p in echo.phases] == ["connection establishment", "data transfer", "connection release"]
    est, data, rel = echo.phases
    assert (est.y_start, est.y_end) == (a[1].y_send, a[3].y_recv)
    assert (data.y_start, data.y_end) == (a[4].y_send, a[8].y_recv)
    assert (rel.y_start, rel.y_end) == (a[9].y_send, a[11].y_recv)


def test_udp_datagrams_without_phases():
    lad = build_ladder(F.udp_upper())
    assert [a.label for a in lad.arrows] == ["UDP len=20", "UDP len=20"]
    assert [a.preview for a in lad.arrows] == ['"This is the message."', '"THIS IS THE MESSAGE."']
    assert lad.phases == () and lad.states == ()
    assert ["sendto(20)"] == notes(lad, 0, lad.arrows[0].y_send)
    assert "recvfrom → 20" in notes(lad, 1, lad.arrows[0].y_recv)[0]


def test_refused_reset_and_error_return():
    lad = build_ladder(F.refused())
    syn, rst = lad.arrows
    assert rst.reset and rst.label == "RST, ACK seq=1 ack=1" and not syn.reset
    assert notes(lad, 0, rst.y_recv) == ["CLOSED", "connect → ECONNREFUSED", "close"]
    assert [p.name for p in lad.phases] == ["connection establishment"]


def test_bulk_collapses_runs_and_keeps_what_matters():
    an = F.bulk()
    lad = build_ladder(an)
    assert len(lad.arrows) < 40 and len(lad.bands) >= 1
    drawn = {a.frame for a in lad.arrows}
    collapsed = sum(b.last_frame - b.first_frame + 1 for b in lad.bands)
    assert len(drawn) + collapsed == len(an.packets)
    # Every byte once, plus the one segment sent twice.
    assert sum(b.bytes for b in lad.bands) + sum(a.length for a in lad.arrows) == 1_000_000 + 1448
    for b in lad.bands:
        assert b.text == f"… {b.segments:,} segments, {b.bytes:,} bytes, {b.acks:,} ACKs …"
    # Handshake, teardown, tagged and lost segments all stay.
    assert {1, 2, 3} <= drawn and set(range(len(an.packets) - 2, len(an.packets) + 1)) <= drawn
    tagged = {p.frame for p in an.packets if p.analysis}
    assert tagged <= drawn
    lost = [a for a in lad.arrows if a.lost]
    assert len(lost) == 1 and lost[0].y_end < lost[0].y_recv
    assert any("fast retransmission" in a.tags for a in lad.arrows)
    assert any("dup ACK #1" in a.tags for a in lad.arrows)
    # Reads inside a band are summarised on it.
    assert any(any("×" in line for line in c.lines) for c in lad.calls)
    assert all(not p.payload or not a.preview for a in lad.arrows for p in [an.packet(a.frame)])  # binary


def test_full_draws_everything():
    an = F.bulk(total=200_000)
    lad = build_ladder(an, full=True)
    assert len(lad.arrows) == len(an.packets) and lad.bands == ()


def test_several_clients_one_server_lifeline():
    lad = build_ladder(F.two_clients())
    assert [l.role for l in lad.lifelines] == ["client 1", "client 2", "server"]
    assert {(a.src, a.dst) for a in lad.arrows} == {(0, 2), (2, 0), (1, 2), (2, 1)}
    assert lad.phases == ()  # phases only for a single stream
    one = build_ladder(F.two_clients(), stream="1")
    assert [l.role for l in one.lifelines] == ["client", "server"] and len(one.arrows) == 3


def test_scaled_time_is_monotonic_with_breaks():
    an = F.tcp_echo()
    slow = tuple(replace(p, t=p.t + (0.5 if p.frame >= 9 else 0.0)) for p in an.packets)
    lad = build_ladder(replace(an, packets=slow), time="scaled")
    ys = [a.y_send for a in lad.arrows]
    assert ys == sorted(ys) and all(a.y_recv > a.y_send for a in lad.arrows)
    assert len(lad.breaks) == 1 and lad.arrows[7].y_send < lad.breaks[0].y < lad.arrows[8].y_send
    # The true gap (between the events either side: one end's times are estimated), written at the cut.
    gap = lad.arrows[8].t - lad.arrows[7].t
    assert abs(lad.breaks[0].gap - gap) < 1e-4 and lad.breaks[0].text == duration_text(gap) == "500 ms"


def _peer_of(an: Analysis, drop: int, delay: float = 0.00001) -> Analysis:
    """The same exchange seen at the server: client segments arrive `delay` later, server ones
    leave `delay` earlier than the client saw them; frame `drop` never arrives."""
    pk = []
    for p in an.packets:
        if p.frame == drop:
            continue
        shift = delay if p.src == F.CLIENT.addr else -delay
        pk.append(replace(p, frame=len(pk) + 1, ts=p.ts + shift, t=p.t + shift))
    meta = dict(an.capture.meta, capture_point="server")
    st = an.streams[0]
    return Analysis(CaptureInfo("server.pcapng", len(pk), ("EN10MB",), meta), tuple(pk),
                    (replace(st, frames=tuple(range(1, len(pk) + 1)), states=()),), ())


def test_two_captures_give_true_send_and_receive_times():
    an = F.tcp_echo()
    lad = build_ladder(an, peer=_peer_of(an, drop=6), time="scaled")
    by = {a.frame: a for a in lad.arrows}
    assert by[1].t_send == pytest.approx(0.0, abs=1e-6) and by[1].t_recv == pytest.approx(0.00001, abs=1e-6)
    assert by[2].t_recv - by[2].t_send == pytest.approx(0.00001, abs=1e-6)
    assert by[2].t_send == pytest.approx(0.000031, abs=1e-6)
    assert by[6].lost and not any(a.lost for a in lad.arrows if a.frame != 6)
    order = build_ladder(an, peer=_peer_of(an, drop=6))
    assert all(a.y_recv > a.y_send for a in order.arrows)
    assert "captured at client and server" in order.caption


def test_preview_escaped_and_truncated():
    assert escape_preview(b'GET / HTTP/1.0\r\n\r\n') == '"GET / HTTP/1.0\\r\\n\\r\\n"'
    assert escape_preview(b"x" * 40) == '"' + "x" * 24 + '"…'
    assert escape_preview(b'a"b\\') == '"a\\"b\\\\"'


def test_call_texts():
    def c(call, phase="return", args="", result="", error=""):
        return SocketCall(0.0, 0.0, "client", 1, call, phase, args, result, error)
    assert call_text(c("connect", "call")) == "connect (blocks)"
    assert call_text(c("accept")) == "accept returns"
    assert call_text(c("recv", result="b''")) == "recv → b''"
    assert call_text(c("recv", result="16")) == "recv → 16"
    assert call_text(c("recvfrom", result="20 from ('192.0.2.1', 4000)")) == "recvfrom → 20"
    assert call_text(c("shutdown", args="1")) == "shutdown(SHUT_WR)"
    assert call_text(c("shutdown", args="SHUT_WR")) == "shutdown(SHUT_WR)"
    assert call_text(c("sendall", "call", args="20")) == "sendall(20)"
    assert call_text(c("sendall", args="20"), entered=True) is None
    assert call_text(c("connect", error="ConnectionRefusedError: [Errno 111] x")) == "connect → ECONNREFUSED"
    assert call_text(c("getsockname")) is None


def test_bad_input_is_one_line():
    an = F.tcp_echo()
    with pytest.raises(SynackError, match="no stream 7"):
        build_ladder(an, stream="7")
    with pytest.raises(SynackError, match="no TCP/UDP segment in frames 50-60"):
        build_ladder(an, frames=(50, 60))
    with pytest.raises(SynackError, match="--frames"):
        parse_frames("9-3")
    icmp = Analysis(CaptureInfo("icmp.pcap", 1, ("EN10MB",)), (Packet(1, 0.0, 0.0, "icmp"),), (), ())
    with pytest.raises(SynackError, match="no TCP, UDP or ICMP conversation"):
        build_ladder(icmp)
    with pytest.raises(SynackError, match="--time"):
        build_ladder(an, time="log")


def test_frame_range_narrows_the_ladder():
    lad = build_ladder(F.tcp_echo(), frames=(4, 8))
    assert [a.frame for a in lad.arrows] == [4, 5, 6, 7, 8]
    assert not any(p.name == "connection establishment" for p in lad.phases)


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")
def test_real_capture_mid_stream_and_ipv6():
    from viz.commands.ladder import load

    lad = build_ladder(load(str(CORPUS / "four_ipv6_http_streams.pcap")))
    # Four clients and two servers do not fit one figure: the first stream is drawn.
    assert lad.streams == (("tcp", 0),) and [l.role for l in lad.lifelines] == ["client", "server"]
    assert all(l.address.startswith("[") for l in lad.lifelines)  # IPv6 endpoints written [addr]:port
    assert lad.arrows[0].flags == "SYN"
    mid = build_ladder(load(str(CORPUS / "650HttpResponses.pcap")))
    assert mid.arrows and mid.arrows[0].label.split()[0] != "SYN"  # no SYN: draws from mid-stream


def _real(name):
    from viz.analysis import analyze
    from viz.capture import open_capture

    path = str(Path(__file__).parent.parent / "captures" / name)
    with open_capture(path) as cap:
        return analyze(cap, path=path)


def test_a_range_keeps_the_dropped_frame_of_the_whole_stream():
    """The drop is matched in the whole stream: a range that holds only the
    retransmission must not draw the retransmission as the lost segment."""
    an = _real("fast-retransmit.pcapng")
    full = build_ladder(an, full=True)
    [lost] = [a.frame for a in full.arrows if a.lost]
    retx = next(p.frame for p in an.packets if "fast_retransmission" in [t.value for t in p.analysis])
    late = build_ladder(an, frames=(retx - 3, retx + 1))
    assert not any(a.lost for a in late.arrows)
    around = build_ladder(an, frames=(lost - 1, lost + 1))
    assert [a.frame for a in around.arrows if a.lost] == [lost]


def test_a_range_leaves_out_the_calls_of_segments_it_leaves_out():
    """Frames 6-11 of tcp-echo are the echo: no `socket, bind` before them, no `close` after."""
    an = _real("tcp-echo.pcapng")
    data = [p.frame for p in an.packets if p.len]
    lad = build_ladder(an, frames=(data[0], data[-1] + 1))
    texts = [line for c in lad.calls for line in c.lines]
    assert any(t.startswith("sendall(20)") for t in texts)
    assert not any(t.startswith(("socket", "close", "connect")) for t in texts), texts
    whole = [line for c in build_ladder(an).calls for line in c.lines]
    assert any(t.startswith("socket") for t in whole) and any("close" in t for t in whole)


@pytest.mark.skipif(not __import__("shutil").which("tshark"), reason="needs tshark")
@pytest.mark.parametrize("path", [Path(__file__).parent.parent / "captures" / "fast-retransmit.pcapng",
                                  CORPUS_DIR / "example2.pcap"], ids=lambda p: p.name)
def test_dup_ack_numbers_are_tsharks(path):
    """`dup ACK #3 SACK 8689-13033` on the arrow is tshark's tcp.analysis.duplicate_ack_num and
    its tcp.options.sack_le/sack_re (relative, as tshark shows them)."""
    import subprocess

    from viz.analysis import analyze
    from viz.capture import open_capture
    from viz.ladder import _dup_ack_numbers

    if not path.exists():
        pytest.skip(f"{path} not present")
    with open_capture(str(path)) as cap:
        an = analyze(cap, path=str(path))
    out = subprocess.run(["tshark", "-r", str(path), "-Y", "tcp.analysis.duplicate_ack", "-T", "fields",
                          "-e", "frame.number", "-e", "tcp.analysis.duplicate_ack_num", "-e", "tcp.options.sack_le",
                          "-e", "tcp.options.sack_re", "-e", "tcp.ack"],
                         capture_output=True, text=True, check=True).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    truth = {int(r[0]): int(r[1]) for r in rows}
    assert truth and _dup_ack_numbers(an, an.streams) == truth

    def sack(le: str, re_: str, ack: str) -> str:
        if not le:
            return ""
        blocks = list(zip(le.split(","), re_.split(",")))
        dsack = int(blocks[0][1]) <= int(ack)
        return (" D-SACK " if dsack else " SACK ") + ", ".join(f"{a}-{b}" for a, b in blocks)

    shown = {}
    for sid in sorted({an.packet(f).stream for f in truth}):
        lad = build_ladder(an, full=True, stream=str(sid))
        shown.update({a.frame: t for a in lad.arrows for t in a.tags if t.startswith("dup ACK")})
    want = {int(r[0]): f"dup ACK #{r[1]}" + sack(r[2], r[3], r[4]) for r in rows}
    assert set(shown) == set(truth) and all(shown[f] == want[f] for f in truth)
    if path.name == "fast-retransmit.pcapng":
        assert "SACK" in " ".join(shown.values())


def test_keep_alive_into_a_zero_window_is_called_a_window_probe():
    """Linux probes a zero window with seq = SND.UNA - 1, no data (tcp_xmit_probe_skb);
    Wireshark's rule tags that keep-alive.  The arrow keeps the tag and says it is a probe;
    the same segment with the window open is a plain keep-alive (RFC 9293 3.8.4)."""
    from viz.model import Stream, Tag
    A = F.Flag.ACK
    b = F._Builder()
    b.tcp(0.0, "c2s", A, 1, 1, 100, payload=b"x" * 100)
    zero = b.tcp(0.001, "s2c", A, 1, 101, win=0, tags=(Tag.ZERO_WINDOW,))
    probe = b.tcp(0.2, "c2s", A, 100, 1, tags=(Tag.KEEP_ALIVE,))
    b.tcp(0.201, "s2c", A, 1, 101, win=0, tags=(Tag.ZERO_WINDOW,))
    b.tcp(0.3, "s2c", A, 1, 101, win=4096, tags=(Tag.WINDOW_UPDATE,))
    plain = b.tcp(60.0, "c2s", A, 100, 1, tags=(Tag.KEEP_ALIVE,))
    frames = tuple(p.frame for p in b.packets)
    an = Analysis(CaptureInfo("crafted.pcapng", len(frames), ("EN10MB",), {}), tuple(b.packets),
                  (Stream(0, "tcp", F.CLIENT, F.SERVER, frames, first_t=0.0, last_t=60.0),), ())
    tags = {a.frame: a.tags for a in build_ladder(an, full=True).arrows}
    assert tags[zero] == ("zero window",)
    assert tags[probe] == ("keep-alive (zero-window probe)",)
    assert tags[plain] == ("keep-alive",)


def test_caption_names_scenario_file_and_capture_point():
    """The caption is for a slide: the file's name, not the folder it was read from."""
    assert F.refused().capture.path == "captures/tcp-refused.pcapng"
    assert build_ladder(F.refused()).caption == ("scenario tcp-refused · tcp-refused.pcapng · captured at client"
                                                 " · seq/ack relative to the ISNs")
    assert build_ladder(F.refused(), numbers="symbolic").caption.endswith("ISNs written J (client) and K (server)")


def test_caption_says_what_was_left_out_and_guessed():
    """No silent choices: a stream of several, a range, collapsed runs, roles without a handshake."""
    two = F.two_clients()
    one = build_ladder(two, stream="1")
    assert "stream 1 of 2 drawn; --stream N, --stream all" in one.caption
    assert " drawn; --stream N" not in build_ladder(two, stream="all").caption
    assert "long runs collapsed" in build_ladder(F.bulk()).caption
    assert "frames 2-5 only" in build_ladder(F.tcp_echo(), frames=(2, 5)).caption


@pytest.mark.parametrize("name,port", [("650HttpResponses.pcap", 80), ("sll2.pcap", 443)])
def test_a_capture_starting_mid_connection_calls_the_well_known_port_the_server(name, port):
    from viz.analysis import analyze
    from viz.capture import open_capture

    path = CORPUS_DIR / name
    if not path.exists():
        pytest.skip(f"{path} not present")
    with open_capture(str(path)) as cap:
        lad = build_ladder(analyze(cap, path=str(path)))
    (server,) = [l for l in lad.lifelines if l.role == "server"]
    assert server.endpoint.port == port and server.index == len(lad.lifelines) - 1
    assert f"roles guessed (no handshake captured: port {port} is well known)" in lad.caption


def test_a_server_lifeline_shared_by_three_connections_names_them():
    """threading-tcp: one LISTEN (one listening socket), each connection's states tagged with its client."""
    an = _real("threading-tcp.pcapng")
    lad = build_ladder(an)
    server = next(l.index for l in lad.lifelines if l.role == "server")
    mine = [s.state for s in lad.states if s.lifeline == server]
    assert mine.count("LISTEN") == 1
    established = sorted(s for s in mine if s.startswith("ESTABLISHED"))
    assert established == ["ESTABLISHED [client 1]", "ESTABLISHED [client 2]", "ESTABLISHED [client 3]"]
    client_states = [s.state for s in lad.states if s.lifeline != server]
    assert client_states and not any("[" in s for s in client_states)  # a client has one connection


@pytest.mark.skipif(not (CORPUS_DIR / "650HttpResponses.pcap").is_file(), reason="public corpus not here")
def test_stream_all_on_hundreds_of_streams_is_an_overview_row_per_stream(tmp_path):
    """284 HTTP streams to 77 servers do not fit lifelines: `--stream all` draws the clients and the
    servers as two lifelines and every stream as one row naming its ends, in order of its first frame,
    with roles from evidence (no handshake captured: port 80 is the server's)."""
    from svg_check import check_svg

    from viz.analysis import analyze
    from viz.capture import open_capture
    from viz.ladder_mpl import write_ladder
    from viz.ladder_text import render_text

    path = CORPUS_DIR / "650HttpResponses.pcap"
    with open_capture(str(path)) as cap:
        an = analyze(cap, path=str(path))
    tcp = [s for s in an.streams if s.proto == "tcp"]
    lad = build_ladder(an, stream="all")
    assert [l.role for l in lad.lifelines] == ["clients", "servers"] and not lad.arrows
    assert sorted(lad.streams) == sorted(("tcp", s.id) for s in tcp) and len(lad.bands) == len(tcp)
    firsts = [b.first_frame for b in lad.bands]
    assert firsts == sorted(firsts)
    for b in lad.bands:
        s = next(s for s in tcp if s.frames[0] == b.first_frame)
        assert b.text.startswith(f"tcp {s.id}: ") and ":80 · " in b.text and b.segments == len(s.frames)
    assert "overview: 284 streams, one row each" in lad.caption and "port 80 is well known" in lad.caption
    text = render_text(lad, width=100)
    assert text.count("tcp ") >= 284 and "0.000" in text
    pages = write_ladder(lad, tmp_path / "all.svg", page="slide")
    assert len(pages) > 1 and [p for page in pages for p in check_svg(page)] == []
