"""The `synack` command: one parser, one small module per subcommand.

Each command module defines `register(subparsers)`, which adds its parser and
sets `run=` to a function taking the parsed args and returning an exit status.
Modules import their heavy dependencies (scapy, matplotlib) inside `run`, so
`synack --help` and every command stay quick to start.  The viz commands live
in viz/ and work without the tracer half (no namespaces needed).
"""
from __future__ import annotations

from tracer import signals

signals.install_default()  # first: a signal during start-up is one line too, never a traceback

import sys  # noqa: E402

try:
    import argparse
    import importlib

    from viz.errors import SynackError
except KeyboardInterrupt:
    print("synack: interrupted", file=sys.stderr)
    raise SystemExit(130) from None

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
    "viz.commands.themes",
    "tracer.commands.build",
    "viz.commands.play",
    "tracer.commands.replay",
    "tracer.commands.cleanup",
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


class _Unused:
    """What a command that is not run adds to its parser: nothing (only its name and help line are
    kept, for `synack --help` and the list of choices), so start-up builds one command's options."""

    def __getattr__(self, name: str):
        return lambda *args, **kwargs: self


class _Only:
    """The subparsers action as the command modules see it: `only`'s parser is real, the others
    are listed with their help line and `_Unused`."""

    def __init__(self, sub, only: str | None):
        self.sub, self.only = sub, only

    def add_parser(self, name: str, **kwargs):
        if name == self.only:
            return self.sub.add_parser(name, **kwargs)
        self.sub.add_parser(name, help=kwargs.get("help"), add_help=False)
        return _Unused()


_ALL = object()


def command_of(argv: list[str] | None) -> str | None:
    """The command an argument list runs: its first word that is not an option."""
    words = sys.argv[1:] if argv is None else argv
    return next((w for w in words if not w.startswith("-")), None)


def build_parser(only: str | None | object = _ALL) -> argparse.ArgumentParser:
    """The `synack` parser; with `only`, the options of that command alone (None: of none, for
    `synack --help`), the others listed by name and help line."""
    parser = argparse.ArgumentParser(
        prog="synack",
        description="Trace socket programs in isolated hosts and draw textbook figures "
        "(ladders, layers, graphs) from the captures.",
    )
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    listing = sub if only is _ALL else _Only(sub, only)
    for name in COMMANDS:
        importlib.import_module(name).register(listing)
    for p in sub.choices.values():  # every command that reads a capture may read standard input
        if any(a.dest == "capture" for a in p._actions):
            p.add_argument("--max-spool", metavar="SIZE", type=_spool_size, default=None,
                           help="most bytes of standard input (CAPTURE -) kept for reading, "
                                "e.g. 500M or 8G (default 2G)")
    return parser


def _spool_size(text: str) -> int:
    units = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    t = text.strip().lower().removesuffix("b").removesuffix("i")
    num, unit = (t[:-1], t[-1]) if t and t[-1] in units else (t, "")
    try:
        value = int(float(num) * units[unit])
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 500M, 8G)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the size must be positive")
    return value


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # before or after the command's own handling
        print("synack: interrupted", file=sys.stderr)
        return 130


def script() -> int:
    """The `synack` program (and `python -m tracer`): `main`, then signals are ignored,
    since Python restores their default handlers while it exits and a signal there
    would end the process with no word after its work was done."""
    status = main()
    signals.ignore_all()
    return status


def _main(argv: list[str] | None) -> int:
    parser = build_parser(command_of(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    if getattr(args, "capture", None) == "-":
        args.capture = "/dev/stdin"  # read through viz.capture's spool, as tshark's `-r -`
    if getattr(args, "max_spool", None):
        from viz import capture

        capture.MAX_SPOOL = args.max_spool
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
