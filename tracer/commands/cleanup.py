"""`synack cleanup`: remove what traces killed with SIGKILL left behind."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "cleanup", help="remove namespaces, run directories and programs left by traces that were killed",
        description="A trace removes everything it made when it ends, even on Ctrl-C, SIGTERM or SIGHUP; "
        "SIGKILL cannot be handled.  Everything a trace makes is named with its owner's process id and "
        "start time, so what an ended owner left can be found: network namespaces and their veths, "
        "/etc/netns entries, nft tables, the programs still running in them, run directories and "
        "standard-input spools.  Every command that makes namespaces removes these first; this "
        "command does it explicitly and lists each thing removed.  What running traces use is "
        "never touched.  Needs root.")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tracer import leftovers
    from tracer.hosts import require_root

    require_root()
    removed = leftovers.reclaim(nft=True)
    for line in removed:
        print(f"removed {line}")
    print(f"{len(removed)} leftover{'s' if len(removed) != 1 else ''} removed")
    return 0
