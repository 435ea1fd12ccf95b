"""`synack build`: trace and draw a whole lecture's figures from one manifest, incrementally."""
from __future__ import annotations

import argparse

from viz import options

DESCRIPTION = """\
Read MANIFEST.toml (a [build] table and one [[figure]] entry per figure: its
source, trace options, one rendering and a caption), check all of it before
anything runs, trace each distinct source once, draw every figure and write
index.md and index.html (every figure, its caption and the commands that
reproduce it) into the output folder.

Incremental: a figure whose manifest entry, capture and tool version are
unchanged is skipped; traced captures are kept in OUT/captures and reused
while their source entry is unchanged.  Figures are deterministic: the same
capture always gives the same bytes.  Tracing needs root (namespaces);
figures drawn from existing capture files do not.

Progress: one line per figure ([N/TOTAL] built|skipped|failed NAME (seconds)),
one line per trace, and on a terminal a bar on stderr while a trace runs
(scaled to the last trace of that source, else to its timeout).  Nothing but
the lines when output goes to a file or pipe."""

EPILOG = """\
manifest example:
  [build]
  output = "figures"              # relative to the manifest (default figures)

  [[figure]]
  name = "handshake"
  caption = "Three-way handshake with socket calls and states"
  scenario = "tcp-echo"
  options = { client_port = 40000 }
  trace = { at = "client" }       # at = client | server | both, net, timeout, topology,
                                  # drop, loss, seed, rto_min, delay, jitter, rate
  ladder = { frames = "1-3", numbers = "symbolic", options = true }

  [[figure]]
  name = "syn-fields"
  capture = "../captures/tcp-echo.pcapng"
  layers = { frame = "syn", view = "fields" }
  output = "syn-fields.pdf"       # default NAME.svg

sources: scenario = NAME (options: message, port, client_port, clients, bytes, ipv6),
  client = CMD [server = CMD], or capture = FILE
renderings: the options of synack ladder, layers, graph and play, named without the dashes
  (the same values, the same defaults; the build adds times = false, so a retrace keeps
  the bytes, and the [build] theme); each is the one value `viz.request` takes too:
""" + "\n".join(f"  {k} = {{{', '.join(o.name for o in options.options_of(k))}}}"
                for k in options.KINDS) + """
  with two capture points (trace = { at = "both" } or { topology = "routed" }) a rendering
  draws at = "client" (default) or "server", and compare = true adds the other point:
  ladder = { compare = true } (true send and receive times),
  layers = { frame = "first-data", compare = true } (what the router changed)
  a cwnd graph of several captures on shared axes: more = capture files, or trace tables,
  each the figure's trace again with those keys changed (one more trace each):
  graph = { kind = "cwnd", more = [{ cc = "cubic" }, { cc = "bbr" }] }

  [[figure]]
  name = "router-hop"
  scenario = "tcp-echo"
  trace = { topology = "routed" }
  layers = { frame = "first-data", compare = true }

  a cwnd graph draws more captures on shared axes: files relative to the manifest, or this
  figure's trace again with other settings (each traced and kept like any other):
  graph = { kind = "cwnd", more = [{ cc = "cubic" }, { cc = "bbr" }] }

examples:
  synack build captures/lecture.toml
  synack build captures/lecture.toml -o /tmp/figs --only handshake
  synack build captures/lecture.toml --force     # retrace and redraw everything

exit status: 0 when every figure was built or skipped, 1 when one failed,
2 for a bad manifest (nothing is traced then)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "build", help="trace and draw a set of lecture figures from a TOML manifest (incremental)",
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("manifest", metavar="MANIFEST.toml", help="the figure manifest")
    p.add_argument("-o", "--output", metavar="DIR",
                   help="output folder (default: the manifest's [build] output, relative to it)")
    p.add_argument("--only", metavar="NAME", help="build only the figure NAME (the index still lists all)")
    p.add_argument("--force", action="store_true", help="retrace and redraw even what is up to date")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from tracer import userns

    userns.ensure(strict=False)  # tracing needs it; drawing from saved captures does not
    from tracer.build import build, load_manifest

    manifest = load_manifest(args.manifest, output=args.output)
    if args.only:
        manifest.figure(args.only)
    result = build(manifest, output=args.output, only=args.only, force=args.force,
                   log=lambda line: print(line, flush=True),
                   bar=sys.stderr if sys.stderr.isatty() else None)
    counts = {s: sum(o.status == s for o in result.outcomes) for s in ("built", "skipped", "failed")}
    print(f"{counts['built']} built, {counts['skipped']} skipped, {counts['failed']} failed; "
          f"{result.traced} traces; {result.seconds:.1f} s; index: "
          f"{args.output or manifest.output}/index.html")
    for o in result.failed:
        print(f"FAILED {o.name}: {o.error}", file=sys.stderr)
    return 1 if result.failed else 0
