"""`synack graph`: conversations, the TCP state machine with a stream's path, the test network."""
from __future__ import annotations

import argparse
from pathlib import Path

from viz.errors import SynackError
from viz import figure

KINDS = ("conversations", "states", "topology", "tsg", "cwnd", "throughput", "rtt")
TCP_KINDS = ("tsg", "cwnd", "throughput", "rtt")  # viz.tcpgraphs


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "graph",
        help="draw who talked to whom, the TCP state machine with a stream's path, or the test network",
        description="Graphs of a capture (networkx): 'conversations' (hosts as nodes, streams as edges "
        "with frames and bytes each way), 'states' (the RFC 9293 TCP state machine, all eleven states, "
        "with the path the client and the server of --stream N took), 'topology' (hosts, links, "
        "interfaces, MACs and addresses of the trace, from the capture's synack metadata); "
        "congestion and flow control of the busiest TCP stream (or --stream N): 'tsg' (time-sequence "
        "graph: segments, retransmissions, ACK line, advertised window, SACK blocks, zero windows and "
        "drops), 'cwnd' (the sender's cwnd, ssthresh, outstanding data and rwnd recorded by the kernel, "
        "congestion states shaded; estimated from the capture when nothing was recorded; several "
        "captures: their cwnd on shared axes), 'throughput', 'rtt'. "
        "Without -o the graph is printed as text.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  synack graph captures/tcp-echo.pcapng --kind states -o states.svg\n"
        "  synack graph capture.pcap --kind conversations --ports\n"
        "  synack graph captures/sawtooth.pcapng --kind tsg --time 150-300 -o tsg.svg\n"
        "  synack graph reno.pcapng cubic.pcapng bbr.pcapng --kind cwnd -o cc.svg",
    )
    p.add_argument("capture", metavar="CAPTURE", help="pcap or pcapng file (- reads standard input)")
    p.add_argument("more", nargs="*", metavar="CAPTURE",
                   help="--kind cwnd: more captures whose cwnd is drawn on the same axes (reno, cubic, bbr)")
    p.add_argument("--kind", default="conversations", metavar="KIND",
                   help="conversations | states | topology | tsg | cwnd | throughput | rtt "
                        "(default: conversations)")
    p.add_argument("--style", choices=("tcptrace", "stevens"), default="tcptrace",
                   help="tsg: tcptrace (I-beams, ACK and window lines, SACK; default) or stevens (points)")
    p.add_argument("--time", metavar="A-B", help="tsg/cwnd/throughput/rtt: only A to B ms after the first frame")
    p.add_argument("--frames", metavar="A-B", help="tsg: only frames A to B")
    p.add_argument("--stream", type=int, metavar="N", help="TCP stream for --kind states (default: the first)")
    p.add_argument("--ports", action="store_true", help="conversations: one node per address:port")
    p.add_argument("--top", type=int, default=12, metavar="N",
                   help="conversations figure: draw the N busiest conversations by bytes, labelled, and "
                   "say how many were left out (default 12, what a slide holds; 0 = all, unlabelled "
                   "when there are many); the text output always lists all")
    p.add_argument("-o", "--output", metavar="OUT", help="write a figure (.svg .pdf .png .pgf) instead of text")
    figure.add_theme_argument(p)
    p.add_argument("--size", metavar="WxH", help="figure size in inches (default: 13.33x7.5, a 16:9 slide)")
    p.set_defaults(run=run)


def run(args) -> int:
    from viz import graph
    from viz.figure import SLIDE_SIZE, check_output, parse_size, save, theme

    kind = args.kind.lower()
    if args.top < 0:
        raise SynackError(f"--top {args.top}: give a number of conversations, or 0 for all")
    if kind not in KINDS:
        raise SynackError(f"--kind {args.kind!r}: unknown kind (choose from {', '.join(KINDS)})")
    th = theme(args.theme)
    size = parse_size(args.size) if args.size else SLIDE_SIZE
    if args.output:
        check_output(args.output)
    for path in [args.capture, *args.more]:
        if not Path(path).exists():
            raise SynackError(f"{path}: no such file")
    if args.more and kind != "cwnd":
        raise SynackError(f"--kind {kind}: draws one capture; several are compared with --kind cwnd")
    from viz.capture import open_capture

    if kind in TCP_KINDS:
        from viz import tcpgraphs_cli

        return tcpgraphs_cli.run(args, kind, th, size)

    if kind == "topology":
        with open_capture(args.capture) as cap:
            for _ in cap:
                pass
            meta = cap.meta or {}
        g = graph.topology(meta, args.capture)
        if not args.output:
            print(graph.topology_text(g, meta), end="")
            return 0
        fig = graph.draw_topology(g, graph.topology_layout(g), meta, th, size)
    else:
        from viz.analysis import analyze

        with open_capture(args.capture) as cap:
            an = analyze(cap, path=args.capture)
        if kind == "conversations":
            if not args.output:
                g = graph.conversations(an, ports=args.ports)
                if not g.number_of_nodes():
                    raise SynackError(f"{args.capture}: no TCP or UDP stream, so no conversations to draw")
                print(graph.conversations_text(g), end="")
                return 0
            fig = graph.conversation_figure(an, Path(args.capture).name, th, size, args.ports, args.top)
        else:
            stream = graph.pick_stream(an, args.stream)
            g = graph.state_machine()
            paths = graph.stream_paths(g, stream)
            if not args.output:
                print(graph.states_text(stream, paths), end="")
                return 0
            fig = graph.draw_states(g, stream, paths, th, size)
    save(fig, args.output)
    print(args.output)
    return 0
