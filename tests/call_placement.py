"""Are a ladder's socket calls drawn at the time they ran?  (issue 11)

Every call note keeps the times of the calls written in it (`CallMark.times`); every arrow end is
an event on its lifeline with a time (the frame's, moved by the one-way delay at the end the
capture did not see).  A call is

- *misplaced* when it is drawn below an event on its lifeline that came more than the slack after
  it, or above one that came more than the slack before it: the figure tells the order wrong;
- *away from its time* when it ran within the slack of an event on its lifeline but is drawn at
  another height (a row of its own, or beside another event); set-up calls written above the
  lifeline's first event, which they preceded, are where a textbook puts them.

`placement(analysis, ladder)` returns both lists; run as a script on captures to print the counts
(`.venv/bin/python tests/call_placement.py captures/threading-tcp.pcapng ...`).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

SLACK = 0.001  # seconds: what a call record's time may be off by (viz.ladder.CALL_SLACK)


@dataclass(frozen=True)
class Problem:
    lifeline: int
    y: float
    t: float
    text: str
    why: str

    def __str__(self) -> str:
        return f"lifeline {self.lifeline} y={self.y:g} t={self.t * 1e3:.3f} ms {self.text!r}: {self.why}"


def _owd(ladder) -> float:
    """Half the handshake's RTT (from the SYN its SYN/ACK answered): how far the unseen end's
    times are from the frames'."""
    k = next((k for k, a in enumerate(ladder.arrows) if a.flags == "SYN, ACK"), None)
    syn = next((a for a in reversed(ladder.arrows[:k]) if a.flags == "SYN"), None) if k else None
    return abs(ladder.arrows[k].t - syn.t) / 2 if syn else 0.0


def events(analysis, ladder) -> dict[int, list[tuple[float, float]]]:
    """Lifeline -> (y, t) of every arrow end drawn on it.  Through a shaped wire (--delay, --rate)
    the unseen end's times are not known to a millisecond: only the capture point's ends count."""
    meta = analysis.capture.meta or {}
    point = meta.get("capture_point")
    shaped = bool(meta.get("wire"))
    owd = _owd(ladder)
    out: dict[int, list[tuple[float, float]]] = {}
    for a in ladder.arrows:
        if a.inferred:
            continue
        if shaped and point and a.t_send is None:
            for lf, y in ((a.src, a.y_send), (a.dst, a.y_recv)):
                if ladder.lifelines[lf].host == point and not (lf == a.dst and a.lost):
                    out.setdefault(lf, []).append((y, a.t))
            continue
        t_send = a.t_send if a.t_send is not None else a.t
        t_recv = a.t_recv if a.t_recv is not None else a.t
        if a.t_send is None and point:
            src, dst = ladder.lifelines[a.src], ladder.lifelines[a.dst]
            if dst.host == point and src.host != point:
                t_send -= owd
            elif src.host == point and dst.host != point:
                t_recv += owd
        out.setdefault(a.src, []).append((a.y_send, t_send))
        if not a.lost:
            out.setdefault(a.dst, []).append((a.y_recv, t_recv))
    return out


def placement(analysis, ladder, slack: float = SLACK) -> tuple[list[Problem], list[Problem]]:
    """(misplaced, away) calls of `ladder`, one Problem per call."""
    ev = events(analysis, ladder)
    misplaced, away = [], []
    for c in ladder.calls:
        text = " / ".join(c.lines)
        mine = ev.get(c.lifeline, [])
        for t in c.times:
            later_above = [(y, te) for y, te in mine if y < c.y and te > t + slack]
            earlier_below = [(y, te) for y, te in mine if y > c.y and te < t - slack]
            if later_above or earlier_below:
                y, te = (later_above or earlier_below)[0]
                side = "below" if later_above else "above"
                misplaced.append(Problem(c.lifeline, c.y, t, text,
                                         f"drawn {side} the event at y={y:g} ({te * 1e3:.3f} ms)"))
                continue
            near = [(y, te) for y, te in mine if abs(te - t) <= slack]
            setup = all(c.y < y and t <= te for y, te in mine)  # above everything, and ran before it
            if near and not setup and all(y != c.y for y, _ in near):
                away.append(Problem(c.lifeline, c.y, t, text,
                                    f"ran {abs(near[0][1] - t) * 1e6:.0f} µs from the event at y={near[0][0]:g}"))
    return misplaced, away


def main(paths: list[str]) -> int:
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    from viz.commands.ladder import load
    from viz.errors import SynackError
    from viz.ladder import build_ladder

    total = [0, 0, 0]
    for path in paths:
        an = load(path)
        try:
            lad = build_ladder(an)
        except SynackError as exc:
            print(f"{path}: {exc}")
            continue
        bad, away = placement(an, lad)
        n = sum(len(c.times) for c in lad.calls)
        total[0] += n
        total[1] += len(bad)
        total[2] += len(away)
        print(f"{path}: {n} calls drawn, {len(bad)} misplaced, {len(away)} away from their time")
        for p in bad + away:
            print(f"    {p}")
    print(f"total: {total[0]} calls drawn, {total[1]} misplaced, {total[2]} away from their time")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
