"""`synack analyze`: per-frame TCP/UDP analysis of any pcap/pcapng, as text or analysis/1 JSON."""
from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "analyze",
        help="per-frame TCP/UDP analysis (relative seq/ack, streams, tshark's analysis tags, states)",
        description="Analyse every frame of a pcap or pcapng capture (any capture, not only "
        "synack's) the way tshark does: relative sequence and acknowledgement numbers, "
        "tcp.stream/udp.stream numbering, scaled windows and the tcp.analysis tags "
        "(retransmission, dup_ack, keep_alive, ...), plus the RFC 9293 state of both ends of "
        "every TCP stream and, for synack captures, the socket calls each frame answers. "
        "The text format is a per-frame table followed by one summary per stream; the json "
        "format is the analysis/1 document (../shared/spec/analysis-json.md), streamed, so "
        "million-frame captures need little memory.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  synack analyze captures/tcp-echo.pcapng\n"
        "  synack analyze big.pcap --format json > big.json\n"
        "  synack analyze damaged.pcap --partial     # analyse the readable prefix\n"
        "\nexit status: 0 on success, 2 for an unreadable or damaged capture (one line on "
        "stderr naming the file and byte offset or frame).",
    )
    p.add_argument("capture", metavar="CAPTURE", help="pcap or pcapng file (- reads standard input)")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="text table and stream summaries (default), or analysis/1 JSON")
    p.add_argument("--partial", action="store_true",
                   help="if the file is damaged, analyse the frames before the damage and say "
                   "on stderr where reading stopped (exit status 0)")
    p.add_argument("-o", "--output", metavar="PATH",
                   help="write to PATH instead of stdout")
    p.add_argument("--reference", action="store_true", help=argparse.SUPPRESS)  # per-frame engine
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import contextlib

    from viz import output
    from viz.capture import open_capture
    from viz.export import write_json, write_text

    with contextlib.ExitStack() as stack:
        if args.output:
            output.check(args.output)
        with open_capture(args.capture, partial=args.partial) as cap:
            # Opened only once the capture is known readable; renamed into place only on success.
            out = stack.enter_context(output.open_atomic(args.output, "w", encoding="utf-8")) \
                if args.output else sys.stdout
            if args.format == "json":
                raw = getattr(out, "buffer", None)
                if raw is not None:
                    out.flush()
                write_json(out.write, cap, path=args.capture,
                           vector=not getattr(args, "reference", False),
                           write_bytes=None if raw is None else raw.write)
            else:
                write_text(out.write, cap, path=args.capture)
            stopped = cap.truncated_at
        out.flush()
    if stopped:
        print(f"synack: {args.capture}: stopped at {stopped}; analysed the frames before it",
              file=sys.stderr)
    return 0
