"""`synack graph`: conversations, the TCP state machine with a stream's path, the test network."""
from __future__ import annotations

import argparse

from viz import options
from viz.commands import print_figure


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "graph",
        help="draw who talked to whom, the TCP state machine with a stream's path, or the test network",
        description="Graphs of a capture (networkx): 'conversations' (hosts as nodes, streams as edges "
        "with frames and bytes each way), 'states' (the RFC 9293 TCP state machine, all eleven states, "
        "with the path the client and the server of --stream N took), 'topology' (hosts, links, "
        "interfaces, MACs and addresses of the trace, from the capture's synack metadata); and for "
        "congestion and flow control (viz.tcpgraphs): 'tsg' (time-sequence graph, --style tcptrace or "
        "stevens), 'cwnd' (the sender's congestion window recorded from the kernel, or estimated from "
        "the capture and labelled so; several captures on shared axes), 'throughput', 'rtt'. "
        "Without -o the graph is printed as text.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  synack graph captures/tcp-echo.pcapng --kind states -o states.svg\n"
        "  synack graph capture.pcap --kind conversations --ports\n"
        "  synack graph captures/sawtooth.pcapng --kind tsg --time 150-300 -o tsg.svg\n"
        "  synack graph reno.pcapng cubic.pcapng bbr.pcapng --kind cwnd -o cc.svg",
    )
    p.add_argument("capture", metavar="CAPTURE", help="pcap or pcapng file (- reads standard input)")
    options.add_arguments(p, "graph")
    p.set_defaults(run=run)


def run(args) -> int:
    return print_figure("graph", args)
