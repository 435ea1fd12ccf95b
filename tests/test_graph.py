"""`synack graph`: the RFC 9293 state machine, stream paths, conversations, topology."""
from __future__ import annotations

import argparse
import json
import struct

import pytest

from viz import graph
from viz.analysis import analyze
from viz.capture import open_capture
from viz.commands import graph as cmd
from viz.errors import SynackError
from viz.model import TcpState

from corpus_path import CORPUS_DIR  # noqa: E402
CORPUS = str(CORPUS_DIR)


def _run(*argv):
    p = argparse.ArgumentParser(prog="synack")
    sub = p.add_subparsers()
    cmd.register(sub)
    args = p.parse_args(["graph", *argv])
    return args.run(args)


def _analysis(name):
    with open_capture(f"{CORPUS}/{name}") as cap:
        return analyze(cap, path=name)


def test_state_machine_has_all_eleven_states_and_labelled_transitions():
    g = graph.state_machine()
    assert set(g.nodes) == set(TcpState) and len(g) == 11
    assert g.number_of_edges() == len(graph.RFC9293_TRANSITIONS) == 21
    assert all(e["label"] and e["rfc"] for _, _, e in g.edges(data=True))
    assert g.edges[TcpState.TIME_WAIT, TcpState.CLOSED]["label"] == "timeout = 2MSL / delete TCB"
    assert g.edges[TcpState.LISTEN, TcpState.SYN_RECEIVED]["label"] == "rcv SYN / snd SYN,ACK"


def test_paths_of_a_full_stream_follow_rfc_edges(capsys):
    an = _analysis("one_http_stream_fin.pcap")
    g = graph.state_machine()
    paths = graph.stream_paths(g, an.streams[0])
    client = [paths["client"][0].before] + [s.after for s in paths["client"]]
    server = [paths["server"][0].before] + [s.after for s in paths["server"]]
    S = TcpState
    assert client == [S.CLOSED, S.SYN_SENT, S.ESTABLISHED, S.CLOSE_WAIT, S.LAST_ACK, S.CLOSED]
    assert server == [S.LISTEN, S.SYN_RECEIVED, S.ESTABLISHED, S.FIN_WAIT_1, S.FIN_WAIT_2, S.TIME_WAIT]
    assert all(s.rfc for steps in paths.values() for s in steps)
    assert _run(f"{CORPUS}/one_http_stream_fin.pcap", "--kind", "states") == 0
    out = capsys.readouterr().out
    assert "server: LISTEN -> SYN_RECEIVED -> ESTABLISHED -> FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT" in out
    assert "2 MSL" in out


def test_rst_transition_is_added_as_non_rfc_edge():
    an = _analysis("one_tcp_rst.pcap")
    g = graph.state_machine()
    paths = graph.stream_paths(g, an.streams[0])
    steps = [s for ss in paths.values() for s in ss]
    assert steps and g.number_of_edges() >= 21
    for s in steps:
        assert g.has_edge(s.before, s.after)


def test_conversations_count_frames_and_bytes_each_way(capsys):
    an = _analysis("one_http_stream_fin.pcap")
    g = graph.conversations(an)
    assert set(g.nodes) == {"192.168.1.2", "77.67.44.206"}
    e = g.edges["192.168.1.2", "77.67.44.206"]
    s = an.streams[0]
    assert sum(e["frames"].values()) == len(s.frames) == 15
    assert e["bytes"]["192.168.1.2"] == s.bytes_c2s and e["bytes"]["77.67.44.206"] == s.bytes_s2c
    gp = graph.conversations(an, ports=True)
    assert set(gp.nodes) == {"192.168.1.2:49486", "77.67.44.206:80"}
    fwd, back = e["frames"]["192.168.1.2"], e["frames"]["77.67.44.206"]
    assert graph.conversations_text(g).splitlines()[0] == "2 hosts, 1 conversation"
    assert f"from 192.168.1.2: {fwd} frames" in graph.conversations_text(g)
    assert f"from 77.67.44.206:80: {back} frames" in graph.conversations_text(gp)
    assert graph.conversations_text(gp).startswith("2 endpoints, 1 conversation\n")


def test_conversation_layout_is_deterministic():
    an = _analysis("http-packets2.pcap")
    g = graph.conversations(an)
    assert graph.conversation_layout(g) == graph.conversation_layout(graph.conversations(an))


def _pcapng_with_meta(path, meta):
    def opt(code, data):
        return struct.pack("<HH", code, len(data)) + data + b"\0" * (-len(data) % 4)

    def block(btype, body):
        n = 12 + len(body)
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)

    text = ("synack-capture/1\n" + json.dumps(meta)).encode()
    shb = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + opt(1, text) + opt(0, b""))
    idb = block(1, struct.pack("<HHI", 1, 0, 262144) + opt(0, b""))
    frame = bytes(range(60))
    epb = block(6, struct.pack("<IIIII", 0, 0, 0, len(frame), len(frame)) + frame)
    path.write_bytes(shb + idb + epb)


META = {"schema": "synack-capture/1", "scenario": "tcp-echo", "capture_point": "client",
        "hosts": [{"name": "client", "role": "client", "interfaces": [
                      {"name": "veth0", "mac": "02:00:00:00:00:01", "addrs": ["192.0.2.1/24"], "peer": "server:veth0"}]},
                  {"name": "server", "role": "server", "interfaces": [
                      {"name": "veth0", "mac": "02:00:00:00:00:02", "addrs": ["192.0.2.2/24"], "peer": "client:veth0"}]}],
        "links": [{"a": "client:veth0", "b": "server:veth0", "captured": True}]}


def test_topology_from_capture_metadata(tmp_path, capsys):
    path = tmp_path / "t.pcapng"
    _pcapng_with_meta(path, META)
    assert _run(str(path), "--kind", "topology") == 0
    out = capsys.readouterr().out
    assert "link client:veth0 -- server:veth0  [captured here]" in out
    assert "veth0  02:00:00:00:00:02  192.0.2.2/24" in out
    g = graph.topology(META)
    assert graph.topology_layout(g) == {"client": (0.0, 0.0), "server": (1.0, 0.0)}
    assert _run(str(path), "--kind", "topology", "-o", str(tmp_path / "t.svg")) == 0
    assert "02:00:00:00:00:01" in (tmp_path / "t.svg").read_text()


def test_bad_input_is_one_line(tmp_path):
    with pytest.raises(SynackError, match="no synack-capture/1 host metadata"):
        _run(f"{CORPUS}/one_tcp_rst.pcap", "--kind", "topology")
    with pytest.raises(SynackError, match="--kind: 'tree': choose from conversations"):
        _run(f"{CORPUS}/one_tcp_rst.pcap", "--kind", "tree")
    with pytest.raises(SynackError, match=r"--stream 7 out of range"):
        _run(f"{CORPUS}/one_tcp_rst.pcap", "--kind", "states", "--stream", "7")
    with pytest.raises(SynackError, match="no TCP stream"):
        _run(f"{CORPUS}/DnsPackets.pcap", "--kind", "states")


@pytest.mark.parametrize("kind", ["conversations", "states"])
def test_graph_figures_are_deterministic(kind, tmp_path):
    a, b = tmp_path / "a.svg", tmp_path / "b.svg"
    _run(f"{CORPUS}/http-packets2.pcap", "--kind", kind, "-o", str(a))
    _run(f"{CORPUS}/http-packets2.pcap", "--kind", kind, "-o", str(b))
    assert a.read_bytes() == b.read_bytes()
    assert "<text" in a.read_text() or "<path" in a.read_text()


def test_busy_capture_keeps_the_busiest_conversations_and_says_so(tmp_path, capsys):
    """example2.pcap: 62 hosts, 60 conversations, all with 10.0.0.1. The figure keeps the
    12 with most bytes as a labelled star; the text output still lists all 60."""
    an = _analysis("example2.pcap")
    g = graph.conversations(an)
    h, edges_out, hosts_out = graph.busiest(g, 12)
    assert h.number_of_edges() == 12 and edges_out == g.number_of_edges() - 12
    assert hosts_out == len(g) - len(h) and len(h) == 13
    total = lambda e: sum(g.edges[e]["bytes"].values())  # noqa: E731
    kept = sorted(total(e) for e in h.edges)
    assert kept[0] >= max(total(e) for e in g.edges if not h.has_edge(*e))
    assert graph.busiest(g, 0)[0] is g
    assert graph.star_hub(h) == "10.0.0.1"
    right, left = graph.star_rows(h, "10.0.0.1")
    assert len(right) == len(left) == 6 and set(right + left) == set(h.nodes) - {"10.0.0.1"}
    out = tmp_path / "c.svg"
    assert _run(f"{CORPUS}/example2.pcap", "-o", str(out)) == 0
    svg = out.read_text()
    assert f"{edges_out} more" in svg and all(p in svg for p in right + left)
    assert svg.count("received ") == 12
    capsys.readouterr()
    assert _run(f"{CORPUS}/example2.pcap") == 0
    assert len(capsys.readouterr().out.splitlines()) == g.number_of_edges() + 1
    with pytest.raises(SynackError, match="--top: -1: give a number"):
        _run(f"{CORPUS}/example2.pcap", "--top", "-1", "-o", str(out))


def test_two_host_conversation_is_not_a_star():
    an = _analysis("one_http_stream_fin.pcap")
    assert graph.star_hub(graph.conversations(an)) is None


@pytest.mark.parametrize("point, here, other", [
    ("client-link", "client:veth0 -- router:eth0", "router:eth1 -- server:veth0"),
    ("server-link", "router:eth1 -- server:veth0", "client:veth0 -- router:eth0")])
def test_routed_topology_marks_the_link_this_file_holds(point, here, other, capsys, tmp_path):
    """A routed trace writes one file per link; each says which one it is."""
    from pathlib import Path

    [cap] = Path(__file__).parent.parent.glob(f"captures/lecture/tcp-echo-*.{point}.pcapng")
    assert _run(str(cap), "--kind", "topology") == 0
    text = capsys.readouterr().out
    assert f"link {here}  [captured here]" in text and f"link {other}  [captured, the other file]" in text
    assert _run(str(cap), "--kind", "topology", "-o", str(tmp_path / "t.svg")) == 0
    svg = (tmp_path / "t.svg").read_text()
    assert svg.count("captured here") == 1 and "the other file" in svg
