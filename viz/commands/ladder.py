"""`synack ladder`: the textbook ladder diagram of a capture, as text or as a figure."""
from __future__ import annotations

import argparse

from viz.errors import SynackError
from viz import figure

OUTPUTS = (".svg", ".pdf", ".png", ".pgf", ".tex", ".txt")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "ladder",
        help="draw a capture as a ladder diagram (sequence numbers, TCP states, socket calls)",
        description="Draw the segments of a capture as a ladder diagram: one lifeline per endpoint "
        "(active opener on the left), sloped arrows labelled with flags, seq, ack and len, the TCP "
        "states and socket calls beside the lifelines, the connection phases bracketed. Long "
        "transfers collapse into one labelled band (--full draws everything). ICMP is drawn too: "
        "pings with id, seq and RTT, an error (port unreachable, time exceeded) inside the exchange of "
        "the datagram it quotes, from the host that sent it (a router gets a lifeline); DNS datagrams "
        "are labelled with name, type and answer. Without -o the ladder is printed as text.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  synack ladder captures/tcp-echo.pcapng\n"
        "  synack ladder captures/tcp-echo.pcapng -o echo.svg --options\n"
        "  synack ladder captures/zero-window.pcapng -o zw.pdf    # one slide per page\n"
        "  synack ladder captures/tcp-echo.pcapng --symbolic -o echo.pdf --theme print\n"
        "  synack ladder captures/bulk.pcapng --time scaled -o bulk.svg\n"
        "  synack ladder A.client.pcapng A.server.pcapng -o true-slopes.svg   # both ends\n"
        "  synack ladder capture.pcap --stream 3 --frames 10-40 -o part.tex  # TikZ for LaTeX\n"
        "  synack ladder captures/traceroute.pcapng --arp                   # ICMP, with ARP",
    )
    p.add_argument("capture", metavar="CAPTURE", help="pcap or pcapng file (- reads standard input)")
    p.add_argument("capture2", metavar="CAPTURE2", nargs="?",
                   help="the same exchange captured at the other end: arrows go from the true send "
                   "time to the true receive time; segments missing at the receiver are drawn lost")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="write OUT instead of printing: .svg .pdf .png (figure), .pgf (the TikZ picture, to "
                   "\\input), .tex (a standalone LaTeX document), .txt (the text ladder)")
    p.add_argument("--stream", metavar="N", help="the TCP stream to draw (udp:N for a UDP one, icmp:N for an "
                   "ICMP conversation, all for every stream up to 8 lifelines; default: every stream if they "
                   "fit one figure, else the first, and the caption says so)")
    p.add_argument("--frames", metavar="A-B", help="only frames A to B (1-based, as in Wireshark)")
    nums = p.add_mutually_exclusive_group()
    nums.add_argument("--absolute", action="store_const", dest="numbers", const="absolute",
                      help="raw sequence numbers instead of relative ones")
    nums.add_argument("--symbolic", action="store_const", dest="numbers", const="symbolic",
                      help="textbook numbers: the ISNs written as J (client) and K (server), seq=J, ack=J+1")
    p.add_argument("--win", action="store_true", help="show the (scaled) receive window on each arrow")
    p.add_argument("--options", action="store_true", help="show the SYN options (MSS, WS, SACK_PERM, TS)")
    p.add_argument("--time", default="schematic", choices=("schematic", "scaled"),
                   help="schematic: rows in frame order, times in the margin (default); scaled: height "
                   "proportional to time, long gaps compressed with a break mark")
    p.add_argument("--no-times", action="store_true",
                   help="leave out the time column (schematic mode): a figure that must stay byte-identical "
                   "when the same exchange is traced again, as `synack build` draws them")
    p.add_argument("--full", action="store_true", help="draw every segment; do not collapse long runs")
    p.add_argument("--arp", action="store_true",
                   help="also draw the ARP who-has/is-at (and IPv6 neighbour discovery) before the first segment")
    figure.add_theme_argument(p)
    p.add_argument("--page", default="slide", choices=("slide", "a4", "none"),
                   help="figure pages: slide (default: 13.33x7.5 in, text at 14 pt; a longer exchange is cut "
                   "into pages that repeat the lifeline heads: one .pdf with a page each, or fig-1.svg, "
                   "fig-2.svg ...), a4 (landscape handout pages), none (one figure, as tall as the rows)")
    p.add_argument("--size", metavar="WxH", help="one figure of this size in inches, the rows fitted to it "
                   "(instead of --page)")
    p.add_argument("--ascii", action="store_true", help="text ladder in plain ASCII (no box drawing)")
    p.add_argument("--width", type=int, metavar="COLS", help="text ladder width (default: the terminal's)")
    p.set_defaults(run=run, numbers="relative")


def load(path: str):
    from viz.analysis import analyze
    from viz.capture import open_capture

    with open_capture(path) as cap:
        return analyze(cap, path=path)


def run(args) -> int:
    import shutil
    import sys
    from pathlib import Path

    from viz.figure import check_writable, parse_size, theme
    from viz.ladder import build_ladder, parse_frames

    theme(args.theme)
    size = parse_size(args.size) if args.size else None
    if args.width is not None and args.width < 40:
        raise SynackError(f"--width {args.width}: at least 40 columns are needed")
    if args.output:
        suffix = Path(args.output).suffix.lower()
        if suffix not in OUTPUTS:
            raise SynackError(f"{args.output}: unknown output format {suffix or '(none)'!r} "
                              f"(choose from {' '.join(OUTPUTS)})")
        check_writable(args.output)
    frames = parse_frames(args.frames) if args.frames else None
    analysis = load(args.capture)
    peer = load(args.capture2) if args.capture2 else None
    ladder = build_ladder(analysis, stream=args.stream, frames=frames, numbers=args.numbers, win=args.win,
                          options=args.options, time=args.time, full=args.full, peer=peer, arp=args.arp)
    if args.no_times:
        if args.time == "scaled":
            raise SynackError("--no-times: a scaled ladder's height is its time axis; use --time schematic")
        from dataclasses import replace

        ladder = replace(ladder, times=())
    width = args.width or shutil.get_terminal_size((100, 24)).columns
    if not args.output:
        from viz.ladder_text import render_text

        sys.stdout.write(render_text(ladder, width=width, ascii=args.ascii))
        return 0
    from viz.ladder_mpl import write_ladder

    written = write_ladder(ladder, args.output, theme=args.theme, size=size, width=args.width or 100,
                           ascii=args.ascii, page=args.page)
    if len(written) > 1:
        print(f"{len(written)} pages: {written[0]} ... {written[-1]}")
    return 0
