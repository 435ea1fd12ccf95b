"""`synack trace`: run a scenario or your own programs in isolated hosts and capture every frame."""
from __future__ import annotations

import argparse
import re
import shlex
import sys

DESCRIPTION = """\
Run a built-in scenario (see `synack scenarios`) or your own server/client
pair in two fresh network namespaces joined by a veth pair (client
192.0.2.1, server 192.0.2.2), capture every frame with scapy and write a
pcapng file with the socket calls of both programs inside it.

Your programs run exactly as written: a client that connects to
localhost or 127.0.0.1 reaches the server host, and a server that binds
localhost, 127.0.0.1 or '' receives it (nftables NAT inside the hosts; the
frames on the link are the real ones between 192.0.2.1 and 192.0.2.2).  The
server's port is found from its sockets when --port is not given, and a
`while True` server is stopped once the client is done.  Programs may also
use SYNACK_SERVER_HOST/SYNACK_SERVER_PORT or the name `server`; --net
loopback puts both on one host's lo.  They run as the invoking user (behind
sudo) or a uid of the trace's own, never as root unless --run-as root.  Their socket calls are recorded
without any change to your code: in Python programs by wrapping the socket
module, in any other program (C, a shell's /dev/tcp, curl) with strace when it
is installed.  As root, or without: an ordinary user gets a user namespace
of synack's own (no sudo needed)."""

EPILOG = """\
examples:
  synack trace                                  # tcp-echo -> captures/tcp-echo.pcapng
  synack trace half-close --client-port 40000 -o half.pcapng
  synack trace bulk --bytes 10000000 --at both  # bulk.client.pcapng + bulk.server.pcapng
  synack trace --server 'python3 srv.py' --client 'python3 cli.py' --port 5000"""


def accept_negative_values(parser: argparse.ArgumentParser) -> None:
    """Let `--rto-min -1ms` reach our own check instead of argparse's "expected one argument".

    argparse takes any word starting with '-' for an option unless it is a bare
    number; values such as -1ms, -5% or -.5s are values here (no option of
    ours starts with a digit), so they are parsed and then refused by the
    option's own one-line error.  Without the (private) matcher attribute,
    `--rto-min=-1ms` still works.
    """
    if hasattr(parser, "_negative_number_matcher"):
        parser._negative_number_matcher = re.compile(r"^-\.?\d")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "trace", help="run a scenario or your own programs and capture every frame",
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    accept_negative_values(p)
    p.add_argument("scenario", nargs="?", metavar="SCENARIO",
                   help="built-in scenario (default tcp-echo; `synack scenarios` lists them)")
    p.add_argument("-o", "--output", metavar="PATH",
                   help="capture file (default captures/SCENARIO.pcapng, or captures/user.pcapng)")
    g = p.add_argument_group("scenario options")
    g.add_argument("--message", help="the message the client sends")
    g.add_argument("--port", type=int, help="server port (default: the scenario's; 10000 for --server)")
    g.add_argument("--client-port", type=int, metavar="PORT",
                   help="fixed client port, for reproducible figures")
    g.add_argument("--clients", type=int, metavar="N", help="concurrent clients (threading-tcp, forking-tcp)")
    g.add_argument("--bytes", type=int, metavar="N", help="bytes the bulk scenario sends")
    g.add_argument("--ipv6", action="store_true", help="use IPv6 (2001:db8::1 and ::2)")
    u = p.add_argument_group("your own programs")
    u.add_argument("--server", metavar="CMD", help="server command, e.g. 'python3 srv.py'")
    u.add_argument("--client", metavar="CMD", help="client command, e.g. 'python3 cli.py'")
    u.add_argument("--run-as", metavar="USER",
                   help="user the programs run as (default: the user behind sudo, else an unprivileged "
                        "uid of this trace's own, with nobody's rights; "
                        "`root` explicitly to run them as root)")
    u.add_argument("--shared-tmp", action="store_true",
                   help="the programs see the machine's /tmp (default: each sees a fresh /tmp with only its "
                        "own files and its script's folder, no other trace's files)")
    u.add_argument("--private-tmp", action="store_true", help=argparse.SUPPRESS)  # the default now
    c = p.add_argument_group("capture")
    c.add_argument("--at", choices=("client", "server", "both"), default="client",
                   help="capture point (default client, the textbook view); both writes NAME.client.pcapng "
                        "and NAME.server.pcapng")
    c.add_argument("--net", choices=("veth", "loopback"), default="veth",
                   help="two hosts on a veth pair (default) or one host's lo")
    c.add_argument("--timeout", type=float, default=30.0, metavar="S",
                   help="give up after S seconds: the client is killed, the capture kept and marked "
                        "incomplete (default 30)")
    c.add_argument("-v", "--verbose", action="store_true", help="also print the client's output")
    f = p.add_argument_group("faults (nftables in the receiving host; packets of a connection count from 1)")
    f.add_argument("--drop", action="append", metavar="DIR:N[,N]",
                   help="drop exactly these packets of each connection once, e.g. c2s:4 or s2c:3,7 "
                        "(c2s = client to server); a dropped SYN's retry passes; repeatable")
    f.add_argument("--loss", metavar="P%", help="drop P%% of the packets in each direction, repeatably")
    f.add_argument("--seed", metavar="N", help="seed of --loss (default 0): the same seed drops the same packets")
    f.add_argument("--rto-min", metavar="T", help="minimum RTO in both hosts, e.g. 20ms (Linux default 200ms)")
    t = p.add_argument_group("which TCP (sysctls inside both hosts; recorded in the capture and captions)")
    t.add_argument("--cc", metavar="ALG", help="congestion control: reno, cubic or bbr (default: the kernel's; "
                                              "bbr here)")
    t.add_argument("--tcp", metavar="PROFILE", help="textbook: no SACK, timestamps, RACK, TLP, F-RTO or ECN, "
                                                   "so 3 duplicate ACKs trigger a fast retransmission (reno "
                                                   "unless --cc); linux: the kernel's defaults")
    t.add_argument("--no-kstate", action="store_true",
                   help="do not sample the kernel's TCP state (cwnd, ssthresh, RTT, ...) during the trace")
    n = p.add_argument_group("network shape (--delay/--jitter/--rate splice a forwarding element, the wire, "
                             "into the link; the hosts stay in 192.0.2.0/24)")
    n.add_argument("--topology", choices=("direct", "routed"), default="direct",
                   help="direct veth link (default), or routed: client 192.0.2.1 - router - server "
                        "198.51.100.2, captured on both links (NAME.client-link.pcapng, NAME.server-link.pcapng)")
    n.add_argument("--delay", metavar="T", help="one-way delay each direction, e.g. 20ms, or c2s:30ms,s2c:10ms")
    n.add_argument("--jitter", metavar="T", help="uniform +-T added to each frame's delay (seeded by --seed; "
                                                 "frames keep their order), e.g. 2ms or c2s:2ms")
    n.add_argument("--rate", metavar="R", help="bottleneck rate each direction (serialization delay by frame "
                                               "size, FIFO), e.g. 1mbit, 500kbit, or c2s:1mbit,s2c:10mbit")
    p.set_defaults(run=run)


def options_from(args: argparse.Namespace) -> object:
    from tracer.scenarios import Options

    given = {k: getattr(args, k) for k in ("message", "port", "client_port", "clients", "bytes")
             if getattr(args, k, None) is not None}
    if getattr(args, "ipv6", False):
        given["ipv6"] = True
    for k in ("port", "client_port"):
        if k in given and not 0 <= given[k] <= 65535:
            from viz.errors import SynackError
            raise SynackError(f"--{k.replace('_', '-')} {given[k]}: not a port number (0-65535)")
    return Options(**given)


def summary_lines(result: object) -> list[str]:
    def yn(v: bool) -> str:
        return "yes" if v else "no"

    r = result
    lines = []
    for pt in r.points:
        s = pt.summary
        lines.append(
            f"{pt.point}: {pt.frames} frames, {s['conversations']} conversation"
            f"{'s' if s['conversations'] != 1 else ''} ({s['tcp']} TCP, {s['udp']} UDP); "
            f"handshake {yn(s['handshake'])}, data {yn(s['data'])}, teardown {yn(s['teardown'])}; "
            f"drops {pt.kernel_drops}")
        if pt.kernel_drops:
            lines.append(f"WARNING: the kernel dropped {pt.kernel_drops} frames: this capture is missing frames")
    lines += [n if n.startswith("warning:") else "note: " + n for n in getattr(r, "notes", ())]
    lines += getattr(r, "failures", ())
    lines.append(f"{r.calls} socket calls recorded; {'complete' if r.complete else 'INCOMPLETE: ' + str(r.incomplete_reason)}")
    if getattr(r, "calls_dropped", 0):
        lines.append(f"WARNING: {r.calls_dropped} socket-call records dropped (invalid, or past the "
                     "log size limit); the capture has the valid ones")
    for role in getattr(r, "unrecorded", ()):
        lines.append(f"note: no socket calls recorded for the {role}: Python programs are recorded by "
                     "wrapping the socket module, other programs with strace (install it if missing)")
    for path in r.paths:
        lines.append(f"wrote {path}")
    return lines


def run(args: argparse.Namespace) -> int:
    from tracer import userns

    userns.ensure()  # not root: a user namespace of our own, while still single-threaded
    from tracer import run as runmod
    from viz.errors import SynackError

    if args.server or args.client:
        if args.scenario:
            raise SynackError("give either a SCENARIO or --server/--client, not both")
        if not args.client:
            raise SynackError("--server needs --client too (the program that connects)")
        target: object = runmod.Programs(client=args.client, server=args.server)
        name = "user"
    else:
        from tracer import scenarios
        target = scenarios.get(args.scenario or scenarios.DEFAULT)
        name = target.name
    opts = options_from(args)
    from tracer import faults as faultmod
    loss_seed = args.seed if args.loss is not None or getattr(args, "jitter", None) is None else None
    faults = faultmod.build(args.drop or (), args.loss, loss_seed, args.rto_min)
    from tracer import wire as wiremod
    seed = getattr(args, "seed", None)
    try:
        seed = int(seed) if seed is not None else None
    except ValueError:
        raise SynackError(f"--seed {seed!r}: not an integer") from None
    wire = wiremod.spec_from(getattr(args, "delay", None), getattr(args, "jitter", None),
                             getattr(args, "rate", None), seed)
    from tracer import tcpprofile
    tcp = tcpprofile.build(getattr(args, "cc", None), getattr(args, "tcp", None))
    out = args.output or f"captures/{name}.pcapng"
    command = "synack " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["trace"] else None
    try:
        result = runmod.trace(target, opts, out, at=args.at, net=args.net, timeout=args.timeout,
                              command=command, faults=faults or None,
                              topology=getattr(args, "topology", "direct"), wire=wire,
                              run_as=getattr(args, "run_as", None),
                              private_tmp=not getattr(args, "shared_tmp", False),
                              tcp=tcp or None, kstate=not getattr(args, "no_kstate", False))
    except KeyboardInterrupt as exc:  # a signal: say what was still written (tracer.signals)
        if getattr(exc, "result", None) is None:
            raise
        for line in summary_lines(exc.result):
            print(line)
        print(f"synack: interrupted ({getattr(exc, 'name', 'Ctrl-C')}); the capture holds what was seen",
              file=sys.stderr)
        return 130
    if args.verbose and result.client_output:
        sys.stdout.write(result.client_output)
    for line in summary_lines(result):
        print(line)
    return 0 if result.complete else 1
