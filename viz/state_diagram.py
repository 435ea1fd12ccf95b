"""The TCP state diagram's layout: boxes, orthogonal edges, labels and path offsets, fixed by hand.

Arranged as RFC 9293's Figure 5: CLOSED at the top, the passive opener's
states on the left and the active opener's on the right, ESTABLISHED in the
middle, the active close (FIN_WAIT_1, FIN_WAIT_2, CLOSING, TIME_WAIT) below
on the left and the passive close (CLOSE_WAIT, LAST_ACK) on the right, and a
second CLOSED at the bottom right where the two closes end, so no edge has to
climb back over the figure.  Every edge is a horizontal/vertical polyline
with its label placed beside one of its segments, on one side; a captured
path runs parallel to the edge on the *other* side, so it never covers the
label.  A reset (RST, RFC 9293 §3.10.7.4: any synchronized state goes to
CLOSED) gets its own short edge to a small CLOSED beside the state it leaves,
labelled with what happened, instead of borrowing an edge that names another
event.

Coordinates are data units (x right, y up); `viz.graph.draw_states` draws
them.  Pure: no matplotlib.
"""
from __future__ import annotations

from dataclasses import dataclass

from viz.model import TcpState

S = TcpState

# RFC 9293 §3.3.2, Figure 5: (from, to, event / action).  FIN_WAIT_1 -> TIME_WAIT is the
# combined FIN+ACK case the RFC's text allows and Stevens' diagram draws.
RFC9293_TRANSITIONS = (
    (S.CLOSED, S.LISTEN, "passive OPEN / create TCB"),
    (S.CLOSED, S.SYN_SENT, "active OPEN / snd SYN"),
    (S.LISTEN, S.SYN_RECEIVED, "rcv SYN / snd SYN,ACK"),
    (S.LISTEN, S.SYN_SENT, "SEND / snd SYN"),
    (S.LISTEN, S.CLOSED, "CLOSE / delete TCB"),
    (S.SYN_SENT, S.SYN_RECEIVED, "rcv SYN / snd SYN,ACK"),
    (S.SYN_SENT, S.ESTABLISHED, "rcv SYN,ACK / snd ACK"),
    (S.SYN_SENT, S.CLOSED, "CLOSE / delete TCB"),
    (S.SYN_RECEIVED, S.ESTABLISHED, "rcv ACK of SYN"),
    (S.SYN_RECEIVED, S.FIN_WAIT_1, "CLOSE / snd FIN"),
    (S.SYN_RECEIVED, S.LISTEN, "rcv RST"),
    (S.ESTABLISHED, S.FIN_WAIT_1, "CLOSE / snd FIN"),
    (S.ESTABLISHED, S.CLOSE_WAIT, "rcv FIN / snd ACK"),
    (S.FIN_WAIT_1, S.FIN_WAIT_2, "rcv ACK of FIN"),
    (S.FIN_WAIT_1, S.CLOSING, "rcv FIN / snd ACK"),
    (S.FIN_WAIT_1, S.TIME_WAIT, "rcv FIN,ACK / snd ACK"),
    (S.FIN_WAIT_2, S.TIME_WAIT, "rcv FIN / snd ACK"),
    (S.CLOSING, S.TIME_WAIT, "rcv ACK of FIN"),
    (S.CLOSE_WAIT, S.LAST_ACK, "CLOSE / snd FIN"),
    (S.LAST_ACK, S.CLOSED, "rcv ACK of FIN"),
    (S.TIME_WAIT, S.CLOSED, "timeout = 2MSL / delete TCB"),
)

BOX_W, BOX_H = 2.2, 0.6  # state boxes
PILL_W, PILL_H = 1.3, 0.5  # the small CLOSED a reset leads to
XLIM, YLIM = (-0.3, 17.3), (-0.75, 9.85)
OFFSET = 0.12  # a captured path's distance from its edge (a second path on one edge: twice that)

# Box key -> (state, centre).  "CLOSED" is the RFC's top CLOSED, "CLOSED_END" its bottom-right one.
BOXES = {
    "CLOSED": (S.CLOSED, (8.5, 9.3)),
    "LISTEN": (S.LISTEN, (8.5, 7.6)),
    "SYN_RECEIVED": (S.SYN_RECEIVED, (3.0, 6.0)),
    "SYN_SENT": (S.SYN_SENT, (14.0, 6.0)),
    "ESTABLISHED": (S.ESTABLISHED, (8.5, 4.4)),
    "FIN_WAIT_1": (S.FIN_WAIT_1, (3.0, 3.0)),
    "CLOSE_WAIT": (S.CLOSE_WAIT, (14.0, 3.0)),
    "FIN_WAIT_2": (S.FIN_WAIT_2, (3.0, 1.6)),
    "CLOSING": (S.CLOSING, (8.5, 1.6)),
    "LAST_ACK": (S.LAST_ACK, (14.0, 1.6)),
    "TIME_WAIT": (S.TIME_WAIT, (8.5, 0.3)),
    "CLOSED_END": (S.CLOSED, (14.0, 0.3)),
}


@dataclass(frozen=True, slots=True)
class Label:
    text: str
    x: float
    y: float
    ha: str  # left | center | right
    va: str  # bottom | center | top


@dataclass(frozen=True, slots=True)
class Edge:
    """One transition: `points` from the source box's border to the target's; the path side
    is "left" or "right" of the direction of travel (the label is on the other)."""

    a: TcpState
    b: TcpState
    source: str  # box keys
    target: str
    points: tuple[tuple[float, float], ...]
    label: Label
    path_side: str
    rfc: bool = True


def _e(a, b, points, lx, ly, ha, va, side, source=None, target=None):
    label = next(text for x, y, text in RFC9293_TRANSITIONS if (x, y) == (a, b))
    return Edge(a, b, source or a.value, target or b.value, tuple(points), Label(label, lx, ly, ha, va), side)


# RFC 9293 §3.3.2 Figure 5, with the combined FIN_WAIT_1 -> TIME_WAIT of its text.
EDGES = (
    _e(S.CLOSED, S.LISTEN, [(8.1, 9.0), (8.1, 7.9)], 8.0, 8.45, "right", "center",
       "left"),
    _e(S.LISTEN, S.CLOSED, [(8.9, 7.9), (8.9, 9.0)], 9.0, 8.45, "left", "center", "left"),
    _e(S.CLOSED, S.SYN_SENT, [(9.6, 9.5), (14.7, 9.5), (14.7, 6.3)], 14.85, 7.95,
       "left", "center", "right"),
    _e(S.SYN_SENT, S.CLOSED, [(13.9, 6.3), (13.9, 9.1), (9.6, 9.1)], 11.75, 8.98,
       "center", "top", "right"),
    _e(S.LISTEN, S.SYN_SENT, [(9.6, 7.6), (13.2, 7.6), (13.2, 6.3)], 11.4, 7.7, "center",
       "bottom", "right"),
    _e(S.LISTEN, S.SYN_RECEIVED, [(7.4, 7.4), (3.6, 7.4), (3.6, 6.3)], 5.5, 7.3,
       "center", "top", "right"),
    _e(S.SYN_RECEIVED, S.LISTEN, [(2.6, 6.3), (2.6, 7.8), (7.4, 7.8)], 5.0, 7.9, "center", "bottom",
       "right"),
    _e(S.SYN_SENT, S.SYN_RECEIVED, [(12.9, 6.1), (4.1, 6.1)], 8.5, 6.2, "center",
       "bottom", "left"),
    _e(S.SYN_RECEIVED, S.ESTABLISHED, [(3.6, 5.7), (3.6, 5.0), (8.1, 5.0), (8.1, 4.7)],
       5.85, 5.1, "center", "bottom", "right"),
    _e(S.SYN_SENT, S.ESTABLISHED, [(13.3, 5.7), (13.3, 5.0), (8.9, 5.0), (8.9, 4.7)],
       11.1, 5.1, "center", "bottom", "left"),
    _e(S.SYN_RECEIVED, S.FIN_WAIT_1, [(2.4, 5.7), (2.4, 3.3)], 2.3, 4.55, "right", "center",
       "left"),
    _e(S.ESTABLISHED, S.FIN_WAIT_1, [(7.4, 4.4), (3.6, 4.4), (3.6, 3.3)], 5.5, 4.5, "center",
       "bottom", "left"),
    _e(S.ESTABLISHED, S.CLOSE_WAIT, [(9.6, 4.4), (13.6, 4.4), (13.6, 3.3)], 11.5, 4.5,
       "center", "bottom", "right"),
    _e(S.FIN_WAIT_1, S.FIN_WAIT_2, [(2.4, 2.7), (2.4, 1.9)], 2.3, 2.3, "right", "center", "left"),
    _e(S.FIN_WAIT_1, S.CLOSING, [(4.1, 3.15), (8.5, 3.15), (8.5, 1.9)], 6.3, 3.25,
       "center", "bottom", "right"),
    _e(S.FIN_WAIT_1, S.TIME_WAIT, [(4.1, 2.8), (5.8, 2.8), (5.8, 0.45), (7.4, 0.45)],
       5.7, 2.3, "right", "center", "left"),
    _e(S.FIN_WAIT_2, S.TIME_WAIT, [(3.0, 1.3), (3.0, 0.15), (7.4, 0.15)], 5.0, 0.05,
       "center", "top", "left"),
    _e(S.CLOSING, S.TIME_WAIT, [(8.5, 1.3), (8.5, 0.6)], 8.6, 0.95, "left", "center", "right"),
    _e(S.CLOSE_WAIT, S.LAST_ACK, [(14.0, 2.7), (14.0, 1.9)], 13.9, 2.3, "right", "center",
       "left"),
    _e(S.LAST_ACK, S.CLOSED, [(14.0, 1.3), (14.0, 0.6)], 13.9, 0.95, "right", "center", "left",
       target="CLOSED_END"),
    _e(S.TIME_WAIT, S.CLOSED, [(9.6, 0.3), (12.9, 0.3)], 11.25, 0.4, "center",
       "bottom", "right", target="CLOSED_END"),
)

# Transitions a capture shows that are not edges of the RFC figure, placed by hand where
# they fit: a capture that starts after the SYN shows a server going from CLOSED (its LISTEN
# unseen) to SYN_RECEIVED when it sends the SYN,ACK.
EXTRA = (
    Edge(S.CLOSED, S.SYN_RECEIVED, "CLOSED", "SYN_RECEIVED", ((7.4, 9.3), (2.1, 9.3), (2.1, 6.3)),
         Label("snd SYN,ACK (LISTEN not captured)", 4.75, 9.4, "center", "bottom"), "left", rfc=False),
    # A FIN before the handshake completed (RFC 9293 §3.10.4 queues a CLOSE in SYN_SENT; a
    # capture can still show it) and a FIN received in SYN_RECEIVED (§3.10.7.4, eighth check):
    # both pass under ESTABLISHED.
    Edge(S.SYN_SENT, S.FIN_WAIT_1, "SYN_SENT", "FIN_WAIT_1", ((14.4, 5.7), (14.4, 4.0), (3.9, 4.0), (3.9, 3.3)),
         Label("snd FIN", 14.55, 4.9, "left", "center"), "right", rfc=False),
    Edge(S.SYN_RECEIVED, S.CLOSE_WAIT, "SYN_RECEIVED", "CLOSE_WAIT", ((3.0, 5.7), (3.0, 3.88), (13.3, 3.88),
                                                                       (13.3, 3.3)),
         Label("rcv FIN / snd ACK", 5.5, 3.98, "center", "bottom"), "right", rfc=False),
)

# Where a reset leads from each state: the small CLOSED's centre, the stub from the box to it,
# and where "rcv RST"/"snd RST" is written.
RESETS = {
    S.SYN_SENT: ((16.55, 5.1), [(15.1, 5.85), (16.55, 5.85), (16.55, 5.35)], Label("", 15.25, 5.95, "left",
                                                                                   "bottom"), "right"),
    S.SYN_RECEIVED: ((0.5, 5.1), [(1.9, 5.85), (0.5, 5.85), (0.5, 5.35)], Label("", 1.8, 5.95, "right",
                                                                                 "bottom"), "left"),
    S.ESTABLISHED: ((11.9, 3.55), [(9.3, 4.1), (9.3, 3.55), (11.25, 3.55)], Label("", 9.45, 3.45, "left", "top"),
                    "left"),
    S.FIN_WAIT_1: ((0.5, 3.85), [(1.9, 3.1), (0.5, 3.1), (0.5, 3.6)], Label("", 1.8, 3.0, "right", "top"),
                   "right"),
    S.FIN_WAIT_2: ((0.65, 0.6), [(2.3, 1.3), (2.3, 0.6), (1.3, 0.6)], Label("", 2.2, 1.02, "right", "center"),
                   "left"),
    S.CLOSING: ((11.0, 1.6), [(9.6, 1.6), (10.35, 1.6)], Label("", 9.95, 1.35, "center", "top"), "left"),
    S.CLOSE_WAIT: ((16.55, 3.85), [(15.1, 3.1), (16.55, 3.1), (16.55, 3.6)], Label("", 15.25, 3.0, "left",
                                                                                   "top"), "left"),
    S.LAST_ACK: ((16.55, 0.75), [(15.1, 1.6), (16.55, 1.6), (16.55, 1.0)], Label("", 15.25, 1.7, "left",
                                                                                  "bottom"), "right"),
    S.TIME_WAIT: ((11.6, -0.3), [(9.3, 0.0), (9.3, -0.3), (10.95, -0.3)], Label("", 9.45, -0.38, "left", "top"),
                  "left"),
}

# Groups as the textbooks name them: a title near the states it covers.
GROUPS = (
    Label("passive open", 0.0, 6.75, "left", "bottom"),
    Label("active open", 17.1, 6.75, "right", "bottom"),
    Label("active close", 0.0, 1.95, "left", "center"),
    Label("passive close", 17.1, 2.3, "right", "center"),
)
TWO_MSL = Label("2MSL timer", 8.5, -0.12, "center", "top")


def box_rect(key: str) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of a state box."""
    _, (x, y) = BOXES[key]
    return (x - BOX_W / 2, y - BOX_H / 2, x + BOX_W / 2, y + BOX_H / 2)


def pill_rect(state: TcpState) -> tuple[float, float, float, float]:
    (x, y), _, _, _ = RESETS[state]
    return (x - PILL_W / 2, y - PILL_H / 2, x + PILL_W / 2, y + PILL_H / 2)


def edge(a: TcpState, b: TcpState) -> Edge | None:
    for e in EDGES:
        if e.a == a and e.b == b:
            return e
    return None


def reset_edge(state: TcpState, events: set[str]) -> Edge | None:
    """The short edge from `state` to its small CLOSED, labelled with what the captured
    walks did there: `snd RST`, `rcv RST`, or `snd/rcv RST` when one end sent it and the other received it."""
    spot = RESETS.get(state)
    if spot is None:
        return None
    _, points, lab, side = spot
    sent, got = any("send" in e for e in events), any("send" not in e for e in events)
    text = "snd/rcv RST" if sent and got else "snd RST" if sent else "rcv RST"
    return Edge(state, S.CLOSED, state.value, f"RST {state.value}", tuple(points),
                Label(text, lab.x, lab.y, lab.ha, lab.va), side, rfc=False)


def _is_reset(step) -> bool:
    return "RST" in step.event and step.after == S.CLOSED


def route(step, resets: dict | None = None) -> Edge:
    """The edge a captured step is drawn along: a reset's own edge, the RFC edge, a placed
    extra one, else a straight line between the two boxes labelled with the event."""
    if _is_reset(step) and step.before in RESETS:
        return (resets or {}).get(step.before) or reset_edge(step.before, {step.event})
    found = edge(step.before, step.after) or next(
        (e for e in EXTRA if (e.a, e.b) == (step.before, step.after)), None)
    return found or straight_edge(step.before, step.after, step.event.replace("recv", "rcv").replace("send", "snd"))


def straight_edge(a: TcpState, b: TcpState, text: str) -> Edge:
    """A transition nobody placed (the state tracker saw something unusual): the straight
    line between the boxes' borders, its label at the middle."""
    (ax, ay), (bx, by) = BOXES[a.value][1], BOXES[b.value][1]

    def border(x, y, dx, dy):
        t = min(BOX_W / 2 / abs(dx) if dx else float("inf"), BOX_H / 2 / abs(dy) if dy else float("inf"))
        return (x + dx * t, y + dy * t)

    p = border(ax, ay, bx - ax, by - ay)
    q = border(bx, by, ax - bx, ay - by)
    return Edge(a, b, a.value, b.value, (p, q), Label(text, (p[0] + q[0]) / 2, (p[1] + q[1]) / 2 + 0.1, "center",
                                                      "bottom"), "right", rfc=False)


def offset(points, side: str, d: float) -> list[tuple[float, float]]:
    """The polyline parallel to an orthogonal one at distance `d`, on `side` of its direction."""
    sign = 1.0 if side == "left" else -1.0
    shifted = []  # per segment: ("h", y) or ("v", x)
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if y0 == y1:
            up = 1.0 if x1 > x0 else -1.0  # travelling east, left is north
            shifted.append(("h", y0 + sign * up * d))
        else:
            east = -1.0 if y1 > y0 else 1.0  # travelling north, left is west
            shifted.append(("v", x0 + sign * east * d))
    out = []
    for i, (x, y) in enumerate(points):
        segs = [shifted[j] for j in (i - 1, i) if 0 <= j < len(shifted)]
        for kind, v in segs:
            if kind == "h":
                y = v
            else:
                x = v
        out.append((x, y))
    return out


def path_lines(paths: dict) -> list[tuple[str, Edge, list[tuple[float, float]]]]:
    """(side, edge, polyline) of every captured step: beside its edge, a second walk of
    one edge (the other end, or a repeat) further out."""
    events: dict[TcpState, set[str]] = {}
    for steps in paths.values():
        for s in steps:
            if _is_reset(s):
                events.setdefault(s.before, set()).add(s.event)
    resets = {st: reset_edge(st, ev) for st, ev in events.items()}
    used: dict[tuple[str, str, str], int] = {}
    out = []
    for side, steps in paths.items():
        for s in steps:
            e = route(s, resets)
            k = used.get((e.source, e.target, e.label.text), 0)
            used[(e.source, e.target, e.label.text)] = k + 1
            out.append((side, e, offset(e.points, e.path_side, OFFSET * (k + 1))))
    return out
