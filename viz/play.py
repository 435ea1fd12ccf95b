"""Step-through playback as data: one step per arrow of a ladder, in frame order.

A step is the ladder as it stands once its frame has been sent and received
(the layout's first k arrows and every state, call, phase and time mark drawn
at or above the k-th arrow's lowest point) plus that frame's layers in a few
lines.  The prefix keeps the whole ladder's extent, so every renderer can give
all steps one frame and a student sees the ladder grow, not jump.

Pure: takes the analysis, the whole ladder and the frames' dissections; reads
no files and no clock, so the terminal stepper and the file exports show the
same steps and tests can assert on them.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from viz.errors import SynackError
from viz.ladder import Arrow, Ladder
from viz.model import Analysis, Packet

# --auto never waits longer than this between two frames, whatever the capture says:
# an idle minute in a capture is not worth a minute of a lecture.
MAX_GAP = 2.0
# Shortest pause, so that a burst of segments sent within microseconds is still seen.
MIN_GAP = 0.05


@dataclass(frozen=True, slots=True)
class Step:
    index: int  # 1-based
    frame: int
    t: float  # capture time of the frame, seconds since the first frame
    ladder: Ladder  # the first `index` arrows of the whole ladder
    arrow: Arrow  # the current one
    heading: str  # "step 3/11 · frame 3 · 0.168897 s · ACK seq=1 ack=1"
    fields: tuple[str, ...]  # the frame's layers, one line per header


@dataclass(frozen=True, slots=True)
class Playback:
    ladder: Ladder  # the whole ladder: what renderers size their frame from
    steps: tuple[Step, ...]


def prefix(ladder: Ladder, k: int) -> Ladder:
    """The ladder once its first `k` arrows have arrived; same extent as the whole."""
    if not 0 <= k <= len(ladder.arrows):
        raise ValueError(f"step {k} of {len(ladder.arrows)}")
    arrows = ladder.arrows[:k]
    if not arrows:
        return replace(ladder, arrows=(), states=tuple(s for s in ladder.states if s.y < _first(ladder)),
                       calls=tuple(c for c in ladder.calls if c.y < _first(ladder)), phases=(), bands=(),
                       breaks=(), times=())
    cut = max(max(a.y_send, a.y_recv) for a in arrows)

    def shown(y: float) -> bool:
        return y <= cut

    last = arrows[-1]
    # A call written at or below the next arrow's start on its sender is that
    # arrow's cause (`sendall(20)` beside its segment): it belongs to the next step.
    nxt = ladder.arrows[k] if k < len(ladder.arrows) else None

    def call_shown(c) -> bool:
        return shown(c.y) and not (nxt is not None and c.lifeline == nxt.src and c.y >= nxt.y_send)

    states = []
    for s in ladder.states:
        if shown(s.y):
            if s.y_end is not None and k < len(ladder.arrows):
                s = replace(s, y_end=max(cut, s.y + 0.5))
            states.append(s)
    return replace(
        ladder,
        arrows=arrows,
        states=tuple(states),
        calls=tuple(c for c in ladder.calls if call_shown(c)),
        phases=tuple(replace(p, y_end=min(p.y_end, cut)) for p in ladder.phases if p.y_start <= last.y_send),
        bands=tuple(b for b in ladder.bands if b.y_end <= cut),
        breaks=tuple(b for b in ladder.breaks if b.y <= cut),
        times=tuple(m for m in ladder.times if m.y <= last.y_send),
    )


def _first(ladder: Ladder) -> float:
    return min((a.y_send for a in ladder.arrows), default=ladder.y_max)


def field_lines(nested, packet: Packet | None = None) -> tuple[str, ...]:
    """A frame's layers in a few lines: `Frame 4: ...`, then one line per header with its key fields.

    `nested` is `viz.layers.nested(...)`; its per-header lines are the same
    fields the layers figure shows, joined so a step fits under a ladder.
    """
    out = [nested.heading]
    for root in nested.roots:
        for box in root.walk():
            if box.kind == "pdu":
                out.append(f"{box.header_title} ({box.header_size} B): " + "; ".join(box.lines))
            elif box.kind == "data":
                out.append(f"{box.title} ({box.size} B)" + (f": {box.lines[0]}" if box.lines else ""))
            elif box.kind != "fcs":
                out.append(f"{box.title} ({box.size} B)")
    if packet is not None and packet.analysis:
        from viz.ladder import tag_texts

        out.append("analysis: " + ", ".join(tag_texts(packet.analysis)))
    return tuple(out)


def build_playback(analysis: Analysis, ladder: Ladder, nested_of=None) -> Playback:
    """Steps of `ladder` (built from `analysis`); `nested_of(frame)` gives that frame's
    `viz.layers.Nested`, or None to leave the fields out."""
    if not ladder.arrows:
        raise SynackError(f"{analysis.capture.path}: no frames to play in the selected stream and range")
    steps = []
    n = len(ladder.arrows)
    for k, a in enumerate(ladder.arrows, 1):
        pkt = analysis.packet(a.frame) if not a.inferred else None  # a gap's segment was never captured
        nested = nested_of(a.frame) if nested_of and pkt is not None else None
        fields = field_lines(nested, pkt) if nested is not None else ()
        head = f"step {k}/{n} \u00b7 frame {a.frame} \u00b7 {a.t:.6f} s \u00b7 {a.label}"
        steps.append(Step(k, a.frame, a.t, prefix(ladder, k), a, head, fields))
    return Playback(ladder, tuple(steps))


def pauses(steps: tuple[Step, ...], speed: float = 1.0, max_gap: float = MAX_GAP,
           min_gap: float = MIN_GAP) -> tuple[float, ...]:
    """Seconds to show each step before the next at the recorded pace / `speed` (last: 0)."""
    if not speed > 0:
        raise SynackError(f"--speed {speed}: must be a positive factor (2 = twice as fast)")
    out = []
    for a, b in zip(steps, steps[1:]):
        out.append(min(max((b.t - a.t) / speed, min_gap), max_gap))
    return tuple(out) + ((0.0,) if steps else ())
