"""`synack ladder`: the textbook ladder diagram of a capture, as text or as a figure."""
from __future__ import annotations

import argparse

from viz import options


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "ladder",
        help="draw a capture as a ladder diagram (sequence numbers, TCP states, socket calls)",
        description="Draw the segments of a capture as a ladder diagram: one lifeline per endpoint "
        "(active opener on the left), sloped arrows labelled with flags, seq, ack and len, the TCP "
        "states and socket calls beside the lifelines, the connection phases bracketed. Long "
        "transfers collapse into one labelled band (--full draws everything). Without -o the "
        "ladder is printed as text.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  synack ladder captures/tcp-echo.pcapng\n"
        "  synack ladder captures/tcp-echo.pcapng --phase handshake -o echo.svg --options\n"
        "  synack ladder captures/zero-window.pcapng -o zw.pdf    # one slide per page\n"
        "  synack ladder captures/tcp-echo.pcapng --symbolic -o echo.pdf --theme print\n"
        "  synack ladder captures/bulk.pcapng --time scaled -o bulk.svg\n"
        "  synack ladder A.client.pcapng A.server.pcapng -o true-slopes.svg   # both ends\n"
        "  synack ladder capture.pcap --stream 3 --frames 10-40 -o part.tex  # TikZ for LaTeX\n"
        "  synack ladder captures/traceroute.pcapng --arp                   # ICMP, with ARP",
    )
    p.add_argument("capture", metavar="CAPTURE", help="pcap or pcapng file (- reads standard input)")
    p.add_argument("capture2", metavar="CAPTURE2", nargs="?",
                   help="the same exchange captured at the other end (the same as --compare CAPTURE2)")
    options.add_arguments(p, "ladder")
    p.set_defaults(run=run)


def load(path: str):
    from viz import figures

    return figures.analysis_of(path)


def run(args) -> int:
    import sys

    from viz import figures

    got = figures.render(figures.arguments("ladder", args))
    if isinstance(got, str):
        sys.stdout.write(got)
    elif len(got) > 1:
        print(f"{len(got)} pages: {got[0]} ... {got[-1]}")
    return 0
