"""`synack check`: test a client and a server at the packet level against a TOML spec."""
from __future__ import annotations

import argparse
import os
import sys

DESCRIPTION = """\
Run a server and a client (your own commands, as `synack trace --server/--client`,
or a built-in scenario) once per run of SPEC, each run with its faults, and
decide the spec's expectations from the capture: who closes first, the
half-close, resets, the bytes sent and echoed, connections, retries after a
timeout, the order of the socket calls, exit statuses.  Every expectation is
reported with the frames and calls that decided it; each failure also gets
the ladder of those frames with the deciding arrows highlighted (SVG).
SPEC may also name a built-in scenario, which checks itself.  The spec format
and the vocabulary are in the README ("Checking programs").  Needs root.

exit status: 0 every expectation passed, 1 one failed, 2 a bad spec."""

EPILOG = """\
examples:
  synack check examples/checks/echo/check.toml
  synack check examples/checks/echo/check.toml --junit report.xml -o out/
  synack check half-close                    # a built-in scenario checks itself"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("check", help="test a client and server at the packet level against a spec",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", metavar="SPEC", help="a check spec (.toml) or a built-in scenario name")
    p.add_argument("-o", "--output", metavar="DIR", default="synack-check",
                   help="folder for the captures and failure ladders (default ./synack-check)")
    p.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report (for CI and autograders)")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of the summary")
    p.add_argument("--only", action="append", metavar="NAME", help="only this run of the spec (repeatable)")
    p.add_argument("--server", metavar="CMD", help="check this server command instead of the spec's")
    p.add_argument("--client", metavar="CMD", help="check this client command instead of the spec's "
                                                   "(one spec, many students' programs)")
    p.add_argument("--no-figures", action="store_true", help="do not draw the failure ladders")
    p.add_argument("-v", "--verbose", action="store_true", help="evidence for passed expectations too")
    p.set_defaults(run=run)


def load(spec: str):
    from tracer import check as checkmod
    from tracer import scenarios

    if not spec.endswith(".toml") and not os.path.exists(spec) and spec in scenarios.names():
        return checkmod.scenario_spec(spec)
    return checkmod.load_spec(spec)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from tracer import check as checkmod
    from tracer import hosts as hostmod
    from viz.check import SpecError

    spec = load(args.spec)
    if args.server or args.client:
        if spec.scenario:
            raise SpecError("--server/--client replace a spec's programs; a scenario has its own")
        for role in ("server", "client"):
            cmd = getattr(args, role)
            if cmd:
                checkmod.check_program(spec.path, role, cmd, spec.base)
        spec = dataclasses.replace(spec, server=args.server or spec.server, client=args.client or spec.client)
    if args.only:
        unknown = [n for n in args.only if n not in {r.name for r in spec.runs}]
        if unknown:
            raise SpecError(f"--only {unknown[0]}: no such run in {args.spec} "
                            f"(runs: {', '.join(r.name for r in spec.runs)})")
        spec = dataclasses.replace(spec, runs=tuple(r for r in spec.runs if r.name in args.only))
    try:
        from tracer import userns  # without root: a user namespace of our own, where available
    except ImportError:
        hostmod.require_root()
    else:
        userns.ensure()
    if args.junit:
        checkmod.write_text(args.junit, "")  # fails now, not after the runs, if it cannot be written

    def progress(r) -> None:
        if not args.json:
            print(f"running {r.name} ...", file=sys.stderr, flush=True)

    try:
        results = checkmod.check(spec, args.output, figures=not args.no_figures, progress=progress)
    except BaseException:
        if args.junit and os.path.exists(args.junit) and os.path.getsize(args.junit) == 0:
            os.unlink(args.junit)
        raise
    if args.junit:
        checkmod.write_text(args.junit, checkmod.junit_xml(spec, results))
    if args.json:
        sys.stdout.write(checkmod.dumps(checkmod.as_json(spec, results)))
    else:
        for line in checkmod.summary_lines(spec, results, verbose=args.verbose):
            print(line)
        if args.junit:
            print(f"wrote {args.junit}")
    return 0 if all(r.passed for r in results) else 1
