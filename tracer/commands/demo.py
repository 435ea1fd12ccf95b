"""`synack demo`: the one-command tour: trace tcp-echo into captures/ and summarize it."""
from __future__ import annotations

import argparse

DEMO_SCENARIO = "tcp-echo"
DEMO_CLIENT_PORT = 40000  # fixed, so the demo capture and its figures are reproducible


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo", help="trace the default scenario (tcp-echo) into captures/ and summarize it",
        description="Trace the default scenario, tcp-echo, with a fixed client port "
        f"({DEMO_CLIENT_PORT}) into captures/tcp-echo.pcapng and print what it holds. "
        "Needs root for the network namespaces.")
    p.add_argument("-o", "--output", metavar="PATH", default=f"captures/{DEMO_SCENARIO}.pcapng",
                   help="capture file (default %(default)s)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="S", help="give up after S seconds")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tracer import run as runmod
    from tracer import scenarios
    from tracer.commands.trace import summary_lines

    scenario = scenarios.get(DEMO_SCENARIO)
    opts = scenarios.Options(client_port=DEMO_CLIENT_PORT)
    result = runmod.trace(scenario, opts, args.output, timeout=args.timeout,
                          command=f"synack trace {DEMO_SCENARIO} --client-port {DEMO_CLIENT_PORT}")
    for line in summary_lines(result):
        print(line)
    return 0 if result.complete else 1
