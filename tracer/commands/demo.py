"""`synack demo`: the one-command tour: trace tcp-echo into captures/demo/, summarize it, draw its figures.

The demo writes beside, not over, the committed example capture captures/tcp-echo.pcapng: the
golden ladders are drawn from that one, and a user's first command must not change the repository.
"""
from __future__ import annotations

import argparse

DEMO_SCENARIO = "tcp-echo"
DEMO_CLIENT_PORT = 40000  # fixed, so the demo capture and its figures are reproducible


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo", help="trace the default scenario (tcp-echo) into captures/demo/ and draw its figures",
        description="Trace the default scenario, tcp-echo, with a fixed client port "
        f"({DEMO_CLIENT_PORT}) into captures/demo/{DEMO_SCENARIO}.pcapng, print what it holds, and draw "
        "its figures as SVG beside it: the ladder (handshake, data, teardown with states and socket calls), "
        "the layers of the first data segment, and the TCP state machine with both endpoints' "
        "paths. Needs root for the network namespaces.")
    p.add_argument("-o", "--output", metavar="PATH",
                   help=f"capture file (default: {DEMO_SCENARIO}.pcapng in the figures DIR)")
    p.add_argument("--figures", metavar="DIR", default="captures/demo",
                   help="directory for the figures, created if missing (default %(default)s)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="S", help="give up after S seconds")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import os

    from tracer import userns

    userns.ensure()  # not root: a user namespace of our own, while still single-threaded
    from tracer import run as runmod
    from tracer import scenarios
    from tracer.commands.trace import summary_lines
    from viz.errors import SynackError

    try:
        os.makedirs(args.figures, exist_ok=True)
    except OSError as exc:
        raise SynackError(f"--figures {args.figures}: cannot create the directory: {exc.strerror}") from None
    output = args.output or os.path.join(args.figures, f"{DEMO_SCENARIO}.pcapng")
    scenario = scenarios.get(DEMO_SCENARIO)
    opts = scenarios.Options(client_port=DEMO_CLIENT_PORT)
    result = runmod.trace(scenario, opts, output, timeout=args.timeout,
                          command=f"synack trace {DEMO_SCENARIO} --client-port {DEMO_CLIENT_PORT}")
    for line in summary_lines(result):
        print(line)
    if not result.complete:
        return 1
    draw_figures(output, args.figures)
    return 0


def draw_figures(capture_path: str, out_dir: str) -> None:
    import os

    import viz

    cap = viz.load(capture_path)
    figures = {
        "ladder.svg": lambda: cap.ladder(),
        "layers-first-data.svg": lambda: cap.layers("first-data", view="nested"),
        "states.svg": lambda: cap.graph("states", stream=0),
    }
    for name, draw in figures.items():
        path = os.path.join(out_dir, name)
        viz.save(draw(), path)
        print(f"drew {path}")
    print(f"text ladder: synack ladder {capture_path}")
