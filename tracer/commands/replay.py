"""`synack replay`: put a capture's frames back on a link, at their recorded pace, and check them."""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "replay",
        help="send a capture's frames again between fresh hosts and verify what arrives",
        description="Replay CAPTURE (pcap or pcapng) between fresh client and server namespaces "
        "joined by a veth pair, like tcpreplay: each frame leaves from the side that sent it "
        "(the client is the source of the first frame) at its recorded offset divided by --speed. "
        "A sniffer on each host captures what arrives; an nftables ingress drop after the tap keeps "
        "the frames from the hosts' TCP stacks, so no RST or ARP reply joins the replay. The report "
        "gives frames sent/arrived, byte-identical or not, order preserved, the frames the hosts' own "
        "stacks sent (0), and the timing error of arrivals against the schedule (median, p99, max). "
        "Raw IP, Linux cooked (SLL, SLL2) and NULL/LOOP captures get an Ethernet header "
        "synthesized. Frames larger than the 1500-byte veth MTU raise both veths' MTU to fit.\n\n"
        "Idle gaps are replayed as recorded (the schedule is what gets verified); a capture "
        "with long pauses can be shortened with --max-gap, which caps every gap of the paced "
        "schedule and moves later frames earlier, like tcpreplay's --maxsleep. A replay "
        "scheduled to last more than 5 s says so, with its longest gap, before it starts.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  synack replay trace.pcapng\n  synack replay big.pcap --topspeed --loop 3\n"
        "  synack replay corpus.pcap --rewrite -o arrived.pcapng\n"
        "  synack replay overnight.pcap --max-gap 1s   # no pause on the link longer than 1 s\n"
        "exit status: 0 when every frame arrived byte-identical and in order, 1 otherwise, "
        "2 for bad input.",
    )
    p.add_argument("capture", metavar="CAPTURE", help="pcap or pcapng file to replay")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, default=1.0, metavar="X",
                      help="multiply the recorded pace by X (2 = twice as fast; default 1)")
    pace.add_argument("--topspeed", action="store_true", help="send as fast as possible")
    p.add_argument("--loop", type=int, default=1, metavar="N", help="replay the capture N times")
    p.add_argument("--max-gap", metavar="T",
                   help="shorten every gap longer than T (after --speed) to T, e.g. 1s or 200ms; "
                   "default: gaps kept as recorded")
    p.add_argument("--rewrite", action="store_true",
                   help="rewrite the first frame's two endpoints to the tracer's client and server "
                   "(192.0.2.1/.2 or 2001:db8::1/::2) and MACs by side, fixing IP/TCP/UDP checksums "
                   "(like tcprewrite --fixcsum)")
    p.add_argument("--iface", metavar="IFACE",
                   help="send out of this real interface of this host instead (no verification; "
                   "needs root; frames go onto a real network, so only frames whose addresses are in "
                   "the documentation/private test ranges, at most 1000 frames/s, and the plan is "
                   "printed first)")
    p.add_argument("--allow-foreign", action="store_true",
                   help="with --iface: also send frames whose addresses are outside the documentation and "
                   "private test ranges (or that are broadcast, multicast, or neither IP nor ARP)")
    p.add_argument("--max-rate", type=float, metavar="N",
                   help="with --iface: at most N frames per second (default 1000; 0 = no cap)")
    p.add_argument("--yes", action="store_true",
                   help="with --iface: do not ask before sending (the plan is printed all the same)")
    p.add_argument("-o", "--output", metavar="ARRIVED.pcapng",
                   help="write the frames that arrived, as a synack capture")
    p.set_defaults(run=run)
    from tracer.commands.trace import accept_negative_values

    accept_negative_values(p)


LONG_REPLAY_NS = 5_000_000_000


def announce(report) -> None:
    """Before a long paced replay starts: how long it takes and where it idles."""
    if report.speed is None or report.span_ns < LONG_REPLAY_NS:
        return
    gap, index = report.longest_gap
    n = report.frames
    line = (f"replaying {report.frames * report.loops} frames over {report.span_ns / 1e9:.1f} s; "
            f"longest gap {gap / 1e9:.3g} s, before frame {index % n + 1}"
            + (f" of loop {index // n + 1}" if report.loops > 1 else ""))
    if report.max_gap_ns is None and gap > 1_000_000_000:
        line += " (--max-gap 1s would shorten it)"
    print(line, flush=True)


def confirm(lines: list[str], yes: bool) -> None:
    """Print what --iface is about to send; at a terminal, ask first (unless --yes)."""
    import sys

    from viz.errors import SynackError

    for line in lines:
        print(line, flush=True)
    if yes or not sys.stdin.isatty():
        return
    try:
        answer = input("send them? [y/N] ")
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        raise SynackError("nothing sent")


def run(args) -> int:
    import signal

    from tracer import userns

    if not args.iface:  # a real interface needs real root; the tracer's hosts do not
        userns.ensure()
    from tracer import replay as rp
    from viz.errors import SynackError

    if args.loop < 1:
        raise SynackError("--loop must be at least 1")
    speed = None if args.topspeed else args.speed
    if speed is not None and not speed > 0:
        raise SynackError("--speed must be a positive number")
    max_gap = None
    if args.max_gap is not None:
        from tracer.faults import parse_duration_us

        max_gap = parse_duration_us(args.max_gap, "--max-gap") * 1000
        if speed is None:
            raise SynackError("--max-gap paces gaps; with --topspeed there are none")
    out = None
    if args.output:
        if args.iface:
            raise SynackError("-o needs the tracer's hosts; it cannot be used with --iface")
        from tracer.pcapng import check_writable

        out = check_writable(args.output)

    def terminate(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, terminate)
    try:
        if args.iface:
            if args.max_rate is not None and not args.max_rate >= 0:
                raise SynackError("--max-rate must be 0 (no cap) or a positive number of frames per second")
            report = rp.replay_iface(args.capture, args.iface, speed, args.loop, args.rewrite,
                                     max_gap, announce, allow_foreign=args.allow_foreign,
                                     max_rate=args.max_rate, show=lambda lines: confirm(lines, args.yes))
            print(report.lines()[0])
            print(f"frames sent {report.sent} out of {args.iface} (not verified: no tap on the far end)")
            print(f"rate {report.rate:,.0f} frames/s over {report.duration_s:.3f} s")
            return 0
        from tracer.hosts import require_root

        require_root()
        report = rp.replay(args.capture, speed, args.loop, args.rewrite, max_gap_ns=max_gap,
                           announce=announce)
    finally:
        signal.signal(signal.SIGTERM, old)
    print("\n".join(report.lines()))
    if out:
        write_arrived(out, report)
        print(f"wrote {out}")
    return 0 if report.ok else 1


def write_arrived(path: str, report) -> None:
    from tracer import pcapng
    from tracer.hosts import CLIENT_MAC, SERVER_MAC

    meta = {"tool": "synack replay", "replay": {
        "source": report.capture, "speed": report.speed, "loops": report.loops,
        "max_gap_ns": report.max_gap_ns, "gaps_capped": report.gaps_capped,
        "rewritten": report.rewritten, "sent": report.sent, "arrived": report.arrived,
        "identical": report.identical, "order_preserved": report.order_preserved,
        "timing_us": report.timing()},
        "hosts": [{"name": "client", "role": "client", "interfaces": [{"name": "veth0", "mac": CLIENT_MAC}]},
                  {"name": "server", "role": "server", "interfaces": [{"name": "veth0", "mac": SERVER_MAC}]}]}
    pcapng.write(path, report.arrived_frames, meta,
                 [pcapng.CaptureInterface("veth0", "frames arriving at either host (merged)")])
