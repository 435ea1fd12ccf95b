"""The state diagram's fixed layout (viz.state_diagram) and the drawn figure's structure:
every RFC 9293 transition has one orthogonal edge, no two edges cross, each label sits nearest
its own edge, captured paths run beside their edges, and no text overlaps text or is crossed
by a line (tests/figure_check.py, from the renderer's font metrics)."""
from __future__ import annotations

import itertools
from pathlib import Path

import pytest

import figure_check
from corpus_path import CORPUS_DIR as CORPUS
from viz import graph
from viz import state_diagram as D
from viz.commands.ladder import load
from viz.figure import save, theme
from viz.model import TcpState

ROOT = Path(__file__).resolve().parents[1]


def _segments(points):
    return list(zip(points, points[1:]))


def _cross(s, t) -> bool:
    """Two axis-parallel segments share a point (touching ends included)."""
    (a, b), (c, d) = s, t
    ax0, ax1 = sorted((a[0], b[0]))
    ay0, ay1 = sorted((a[1], b[1]))
    cx0, cx1 = sorted((c[0], d[0]))
    cy0, cy1 = sorted((c[1], d[1]))
    return ax0 <= cx1 and cx0 <= ax1 and ay0 <= cy1 and cy0 <= ay1


def _on_border(pt, rect) -> bool:
    x, y = pt
    x0, y0, x1, y1 = rect
    inside = x0 - 1e-9 <= x <= x1 + 1e-9 and y0 - 1e-9 <= y <= y1 + 1e-9
    return inside and min(abs(x - x0), abs(x - x1), abs(y - y0), abs(y - y1)) < 1e-9


def test_every_rfc_transition_has_one_orthogonal_edge_between_its_boxes():
    key = lambda ab: (ab[0].value, ab[1].value)  # noqa: E731
    assert sorted(((e.a, e.b) for e in D.EDGES), key=key) == sorted(((a, b) for a, b, _ in graph.RFC9293_TRANSITIONS), key=key)
    labels = {(a, b): text for a, b, text in graph.RFC9293_TRANSITIONS}
    for e in D.EDGES:
        assert e.label.text == labels[(e.a, e.b)]
        for (x0, y0), (x1, y1) in _segments(e.points):
            assert x0 == x1 or y0 == y1, e
        assert _on_border(e.points[0], D.box_rect(e.source)) and _on_border(e.points[-1], D.box_rect(e.target)), e
    for e in D.RESETS:
        edge = D.reset_edge(e, {"recv RST"})
        assert _on_border(edge.points[0], D.box_rect(edge.source)) and _on_border(edge.points[-1], D.pill_rect(e))


def test_no_two_edges_cross():
    edges = list(D.EDGES) + [D.reset_edge(st, {"recv RST"}) for st in D.RESETS]
    for e, f in itertools.combinations(edges, 2):
        for s in _segments(e.points):
            for t in _segments(f.points):
                assert not _cross(s, t), (e.label.text, f.label.text)


@pytest.mark.parametrize("side", ["left", "right"])
def test_offset_paths_run_parallel_and_never_cross_their_edge(side):
    for e in D.EDGES:
        p = D.offset(e.points, side, D.OFFSET)
        assert len(p) == len(e.points)
        for s, t in zip(_segments(e.points), _segments(p)):
            assert (s[0][0] == s[1][0]) == (t[0][0] == t[1][0])  # same orientation
        for s in _segments(e.points):
            for t in _segments(p):
                assert not _cross(s, t), e.label.text


def _states_figure(an, s, paths=None):
    g = graph.state_machine()
    return graph.draw_states(g, s, paths if paths is not None else graph.stream_paths(g, s), theme("light"),
                             (13.33, 7.5))


def _all_resets():
    client = tuple(graph.Step(i, "client", st, TcpState.CLOSED, "recv RST", 1, False) for i, st in enumerate(D.RESETS))
    server = tuple(graph.Step(i, "server", st, TcpState.CLOSED, "send RST", 1, False)
                   for i, st in enumerate(D.RESETS))
    return {"client": client, "server": server}


def _cases():
    caps = sorted((ROOT / "captures").glob("*.pcapng")) + sorted(CORPUS.glob("*.pcap*"))
    return [p for p in caps if p.exists()]


@pytest.mark.parametrize("path", _cases(), ids=lambda p: p.name)
def test_state_figure_has_no_overlap_no_crossed_label_nothing_clipped(path):
    an = load(str(path))
    tcp = [s for s in an.streams if s.proto == "tcp"][:2]
    for s in tcp:
        fig = _states_figure(an, s)
        assert figure_check.problems(fig) == [], (path.name, s.id)
        assert figure_check.clipped(fig) == []


def test_every_reset_is_readable_at_once():
    an = load(str(ROOT / "captures" / "tcp-echo.pcapng"))
    fig = _states_figure(an, an.streams[0], _all_resets())
    assert figure_check.problems(fig) == [] and figure_check.clipped(fig) == []
    texts = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text") and a.get_gid() or False)]
    assert texts.count("snd/rcv RST") == len(D.RESETS)


def _dist(bb, seg) -> float:
    (x0, y0), (x1, y1) = seg
    best = float("inf")
    for k in range(21):
        x, y = x0 + (x1 - x0) * k / 20, y0 + (y1 - y0) * k / 20
        dx = max(bb.x0 - x, 0, x - bb.x1)
        dy = max(bb.y0 - y, 0, y - bb.y1)
        best = min(best, (dx * dx + dy * dy) ** 0.5)
    return best


def test_each_label_is_nearest_its_own_edge():
    """No label reads as naming another edge: its own edge is the closest line to it."""
    an = load(str(ROOT / "captures" / "tcp-echo.pcapng"))
    fig = _states_figure(an, an.streams[0], _all_resets())
    renderer = figure_check._render(fig)
    lines: dict[str, list] = {}
    for art, seg in figure_check.segments(fig):
        gid = art.get_gid() or ""
        if gid.startswith("edge "):
            lines.setdefault(gid[5:], []).append(seg)
    labels = [(t.get_gid()[11:], t.get_window_extent(renderer)) for t in fig.findobj(
        lambda a: (getattr(a, "get_gid", lambda: None)() or "").startswith("edge-label "))]
    assert len(labels) == len(D.EDGES) + len(D.RESETS)
    for name, bb in labels:
        near = min(lines, key=lambda k: min(_dist(bb, s) for s in lines[k]))
        assert near == name, (name, near)


def test_state_figure_is_deterministic(tmp_path):
    an = load(str(CORPUS / "one_tcp_stream_fin_rst_close_packet.pcap"))
    outs = []
    for n in range(2):
        fig = _states_figure(an, an.streams[0])
        out = tmp_path / f"s{n}.svg"
        save(fig, str(out))
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_a_capture_starting_after_the_syn_draws_its_own_edge():
    """The server's first seen state change is CLOSED -> SYN_RECEIVED (its SYN,ACK): drawn on a
    placed edge saying so, not along LISTEN's edge."""
    an = load(str(ROOT / "captures" / "tcp-echo.pcapng"))
    step = graph.Step(1, "server", TcpState.CLOSED, TcpState.SYN_RECEIVED, "send SYN+ACK", 2, False)
    [(side, e, pts)] = D.path_lines({"server": (step,)})
    assert e in D.EXTRA and not e.rfc and "LISTEN not captured" in e.label.text
    fig = _states_figure(an, an.streams[0], {"server": (step,)})
    assert figure_check.problems(fig) == []
    for f in D.EDGES:
        for s in _segments(e.points):
            for t in _segments(f.points):
                assert not _cross(s, t), f.label.text


def _tracker_transitions():
    from viz import states
    return sorted({(st.value, ev.value, after.value) for (st, ev), after in states.TRANSITIONS.items()
                   if st != after})


@pytest.mark.parametrize("before,event,after", _tracker_transitions(), ids=lambda v: str(v).replace(" ", "_"))
def test_every_transition_the_tracker_makes_is_drawn_cleanly(before, event, after):
    """Whatever a capture makes viz.states infer, its step has an edge that names it and
    the figure stays free of overlaps and crossed labels."""
    step = graph.Step(1, "client", TcpState(before), TcpState(after), event, 1, False)
    [(_, e, _)] = D.path_lines({"client": (step,)})
    assert (e.a, e.b) == (step.before, step.after)
    if "RST" in event:
        assert e.label.text in ("rcv RST", "snd RST")
    an = load(str(ROOT / "captures" / "tcp-echo.pcapng"))
    fig = _states_figure(an, an.streams[0], {"client": (step,)})
    assert figure_check.problems(fig) == []
