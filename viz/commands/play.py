"""`synack play`: step through a capture frame by frame, the ladder growing one arrow at a time."""
from __future__ import annotations

import argparse

from viz.errors import SynackError
from viz import figure


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
    p.add_argument("--stream", metavar="N", help="the TCP stream to play (udp:N for a UDP one; default: "
                   "every stream if they fit one ladder, else the first)")
    p.add_argument("--frames", metavar="A-B", help="only frames A to B (1-based, as in Wireshark)")
    p.add_argument("--auto", action="store_true", help="advance by itself at the recorded pace (gaps "
                   "longer than 2 s shortened to 2 s); with -o .gif/.mp4, animate at that pace "
                   "instead of one step per second")
    p.add_argument("--speed", type=float, default=1.0, metavar="X",
                   help="pace factor for --auto: 2 = twice as fast, 0.1 = ten times slower (default 1)")
    p.add_argument("-o", "--output", metavar="OUT", help="write OUT instead of stepping in the terminal: "
                   ".html (one page, buttons and arrow keys), .pdf (a page per step), .gif, .mp4")
    nums = p.add_mutually_exclusive_group()
    nums.add_argument("--absolute", action="store_const", dest="numbers", const="absolute",
                      help="raw sequence numbers instead of relative ones")
    nums.add_argument("--symbolic", action="store_const", dest="numbers", const="symbolic",
                      help="textbook numbers: the ISNs written as J (client) and K (server)")
    figure.add_theme_argument(p)
    p.add_argument("--size", metavar="WxH", help="figure size in inches for -o (default: 13.33 wide, "
                   "height fitted to the rows)")
    p.add_argument("--ascii", action="store_true", help="terminal text in plain ASCII")
    p.add_argument("--width", type=int, metavar="COLS", help="text width when not on a terminal (default 100)")
    p.set_defaults(run=run, numbers="relative")


def load(path: str, stream, frames, numbers: str):
    """The playback of `path`: analysis, whole ladder, and each step's layers."""
    from pathlib import Path

    from viz import layers
    from viz.analysis import analyze
    from viz.capture import open_capture
    from viz.commands.layers import safe_dissect
    from viz.ladder import build_ladder
    from viz.play import build_playback

    if not Path(path).exists():
        raise SynackError(f"{path}: no such file")
    with open_capture(path) as cap:
        analysis = analyze(cap, path=path)
    ladder = build_ladder(analysis, stream=stream, frames=frames, numbers=numbers, full=True)
    wanted = {a.frame for a in ladder.arrows}
    raw = {}
    with open_capture(path) as cap:
        for fr in cap:
            if fr.number in wanted:
                raw[fr.number] = fr
    return build_playback(analysis, ladder,
                          lambda f: layers.nested(safe_dissect(raw[f]), analysis.packet(f), f) if f in raw else None)


def run(args) -> int:
    from pathlib import Path

    from viz.figure import parse_size, theme
    from viz.ladder import parse_frames
    from viz.play import pauses

    theme(args.theme)
    size = parse_size(args.size) if args.size else None
    if args.width is not None and args.width < 40:
        raise SynackError(f"--width {args.width}: at least 40 columns are needed")
    if not args.speed > 0:
        raise SynackError(f"--speed {args.speed:g}: must be a positive factor (2 = twice as fast)")
    if args.output:
        from viz.figure import check_writable
        from viz.play_export import output_kind

        output_kind(args.output)
        check_writable(args.output)
    frames = parse_frames(args.frames) if args.frames else None
    playback = load(args.capture, args.stream, frames, args.numbers)
    pace = pauses(playback.steps, args.speed) if args.auto else None
    if args.output:
        from viz.play_export import write

        write(playback, args.output, theme=args.theme, size=size, pauses=pace, title=Path(args.capture).name)
        print(args.output)
        return 0
    from viz.play_term import play

    return play(playback, width=args.width, ascii=args.ascii, pauses=pace)
