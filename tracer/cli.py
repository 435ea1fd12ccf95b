"""The `synack` command: one parser, one small module per subcommand.

Each command module defines `register(subparsers)`, which adds its parser and
sets `run=` to a function taking the parsed args and returning an exit status.
Modules import their heavy dependencies (scapy, matplotlib) inside `run`, so
`synack --help` and every command stay quick to start.  The viz commands live
in viz/ and work without the tracer half (no namespaces needed).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from viz.errors import SynackError

# Order is the order of `synack --help`.
COMMANDS = [
    "tracer.commands.demo",
    "tracer.commands.trace",
    "tracer.commands.check",
    "tracer.commands.scenarios",
    "viz.commands.analyze",
    "viz.commands.ladder",
    "viz.commands.layers",
    "viz.commands.graph",
    "tracer.commands.build",
    "viz.commands.play",
    "tracer.commands.replay",
]


class _Version(argparse.Action):
    """`--version`, looked up only when asked (package metadata costs start-up time)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="print the installed synack version and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        from importlib.metadata import PackageNotFoundError, version
        try:
            found = version("synack")
        except PackageNotFoundError:
            found = "(run from a source tree, not installed)"
        print(f"synack {found}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synack",
        description="Trace socket programs in isolated hosts and draw textbook figures "
        "(ladders, layers, graphs) from the captures.",
    )
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    if getattr(args, "capture", None) == "-":
        args.capture = "/dev/stdin"  # read through viz.capture's spool, as tshark's `-r -`
    try:
        return int(args.run(args) or 0)
    except SynackError as exc:
        print(f"synack: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("synack: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
