"""`synack layers`: one real frame as nested boxes, stack build-up, header fields, hex."""
from __future__ import annotations

import argparse

from viz import options
from viz.commands import print_figure


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "layers",
        help="draw one frame's encapsulation: nested boxes, stack, header fields, hex",
        description="Draw one captured frame layer by layer, with its real values and sizes: "
        "nested boxes (Ethernet > IP > TCP/UDP > data, byte offsets and overhead), the textbook "
        "stack build-up (data, segment, datagram, frame), RFC-style 32-bit header grids, and a hex "
        "dump shaded by layer. Without -o the views are printed as text.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  synack layers captures/tcp-echo.pcapng --frame 1\n"
        "  synack layers captures/tcp-echo.pcapng --frame syn --view fields -o syn.svg\n"
        "  synack layers captures/http-get.pcapng --frame http-get -o get.svg\n"
        "  synack layers client.pcapng --frame 4 --compare server.pcapng   # what a router changed",
    )
    p.add_argument("capture", metavar="CAPTURE", help="pcap or pcapng file (- reads standard input)")
    options.add_arguments(p, "layers")
    p.set_defaults(run=run)


def run(args) -> int:
    return print_figure("layers", args)
