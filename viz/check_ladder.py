"""The ladder of a failed expectation: the frames that decided it, their arrows highlighted.

What a student needs to see is the part of the exchange the verdict is
about (the stream, and around the deciding frames when the stream is long),
drawn like every other ladder, with the deciding arrows under a wide band
(light grey in greyscale, so it reads on paper) and the verdict as caption.
The text form marks the same arrows with "»" for terminals and pytest
failure messages.  Drawing is the ordinary ladder; only the band and the
marks are added here.
"""
from __future__ import annotations

import dataclasses
import os

from viz.check import Verdict
from viz.model import Analysis

HIGHLIGHT = "#f2c200"
HIGHLIGHT_IN = 0.16  # band width, inches
WINDOW = 4  # frames kept on each side of the deciding ones in a long stream
LONG = 40
MARK = "» "


def failure_ladder(analysis: Analysis, verdict: Verdict, mark: bool = False):
    """The Ladder of the verdict's frames (all streams if it names none); `mark` prefixes
    the deciding arrows' labels with » (for text)."""
    from viz.ladder import build_ladder

    frames = [f for f in verdict.frames if 1 <= f <= len(analysis.packets)]
    streams = {(analysis.packet(f).proto, analysis.packet(f).stream) for f in frames
               if analysis.packet(f).stream is not None}
    stream = None
    window = None
    if len(streams) == 1:
        proto, sid = next(iter(streams))
        stream = f"{proto}:{sid}"
        count = len(analysis.stream(sid, proto).frames)
        if count > LONG:
            window = (max(1, min(frames) - WINDOW), max(frames) + WINDOW)
    lad = build_ladder(analysis, stream=stream, frames=window)
    caption = f"✗ {verdict.name}: {verdict.detail}"
    if len(caption) > 160:
        caption = caption[:157] + "..."
    lad = dataclasses.replace(lad, caption=caption)
    if mark:
        deciding = set(frames)
        lad = dataclasses.replace(lad, arrows=tuple(
            dataclasses.replace(a, label=MARK + a.label) if a.frame in deciding else a for a in lad.arrows))
    return lad


def failure_text(analysis: Analysis, verdict: Verdict, width: int = 100) -> str:
    from viz.ladder_text import render_text

    return render_text(failure_ladder(analysis, verdict, mark=True), width=width)


def failure_figure(analysis: Analysis, verdict: Verdict, path: str | os.PathLike, theme: str = "light"):
    """Write the highlighted ladder (svg/pdf/png by suffix); returns the Figure."""
    from matplotlib.collections import LineCollection

    from viz.figure import save
    from viz.ladder_mpl import _geometry, render_ladder

    lad = failure_ladder(analysis, verdict)
    fig = render_ladder(lad, theme=theme)
    g = _geometry(lad, None)
    deciding = set(verdict.frames)
    segs = []
    for a in lad.arrows:
        if a.frame in deciding:
            x0, x1 = g.xs[a.src], g.xs[a.dst]
            reach = 2 / 3 if a.lost else 1.0  # a lost segment's band stops at its cross, as its shaft does
            segs.append(((x0, g.y(a.y_send)), (x0 + (x1 - x0) * reach, g.y(a.y_end))))
    if segs:
        points = 72.0 * HIGHLIGHT_IN
        fig.axes[0].add_collection(LineCollection(segs, colors=HIGHLIGHT, linewidths=points, alpha=0.55,
                                                  capstyle="round", zorder=2, gid="check-highlight"))
    save(fig, path)
    return fig
