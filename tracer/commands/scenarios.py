"""`synack scenarios`: the built-in scenarios, what each shows, and which lecture program it comes from."""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "scenarios",
        help="list the built-in scenarios",
        description="List the built-in scenarios `synack trace NAME` runs: transport, default "
        "server port, what the conversation shows, and the lecture program it is written after. "
        "The scripts are plain socket programs in tracer/scenarios/ (python3 NAME.py server|client).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="options: --message, --port, --client-port, --clients (threading-tcp, forking-tcp), "
        "--bytes (bulk) and --ipv6 change a scenario; see `synack trace --help`.",
    )
    p.add_argument("--names", action="store_true", help="print only the names, one per line")
    p.add_argument("--paths", action="store_true", help="add each scenario's script path")
    p.set_defaults(run=run)


def table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for r in [header, *rows]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return "\n".join(lines)


def run(args) -> int:
    from tracer import scenarios

    found = scenarios.all()
    if args.names:
        print("\n".join(s.name for s in found))
        return 0
    header = ("NAME", "PROTO", "PORT", "DESCRIPTION", "SEED")
    rows = []
    for s in found:
        name = s.name + (" *" if s.name == scenarios.DEFAULT else "")
        rows.append((name, s.transport, str(s.default_port), s.description, s.seed))
    print(table(rows, header))
    if args.paths:
        print()
        print("\n".join(f"{s.name}: {s.path}" for s in found))
    print(f"\n* default scenario.  Seeds: lecture notes in shared/seeds/.  Every scenario runs over IPv6 with --ipv6.")
    return 0
