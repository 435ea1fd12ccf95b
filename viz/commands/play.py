"""`synack play`: step through a capture frame by frame, the ladder growing one arrow at a time."""
from __future__ import annotations

import argparse

from viz import options


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "play",
        help="step through a capture: the ladder grows one arrow per frame, with the frame's layers",
        description="Step through the frames of a capture in front of a class: each step adds the next "
        "arrow to the ladder diagram and shows that frame's headers and key fields. In a terminal, keys "
        "step (Right/Enter/Space/n next, Left/Backspace/p previous, Home/End, q quit); --auto advances "
        "at the recorded pace. When output is not a terminal every step is printed in turn. With -o the "
        "steps are written as a self-contained HTML page with Previous/Next buttons, a PDF with one "
        "page per step (slides), or an animation (.gif; .mp4 needs ffmpeg).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  synack play captures/tcp-echo.pcapng\n"
        "  synack play captures/tcp-echo.pcapng --auto --speed 0.5     # half the recorded pace\n"
        "  synack play capture.pcap --stream 2 --frames 1-12 -o class.html\n"
        "  synack play captures/tcp-echo.pcapng -o echo.pdf --theme print   # one page per frame\n"
        "  synack play captures/tcp-echo.pcapng -o echo.gif --auto",
    )
    p.add_argument("capture", metavar="CAPTURE", help="pcap or pcapng file (- reads standard input)")
    options.add_arguments(p, "play")
    p.set_defaults(run=run)


def run(args) -> int:
    from viz import figures

    req = figures.arguments("play", args)
    if req.output:
        print("\n".join(figures.render(req)))
        return 0
    from viz.play import pauses
    from viz.play_term import play

    playback = figures.playback_of(req)
    return play(playback, width=req.width, ascii=req.ascii,
                pauses=pauses(playback.steps, req.speed) if req.auto else None)
