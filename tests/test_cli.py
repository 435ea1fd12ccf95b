"""The `synack` command itself: every subcommand explains itself, start-up stays light."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tracer.cli import COMMANDS, build_parser


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tracer", *args], capture_output=True, text=True)


def test_version():
    out = run("--version")
    assert out.returncode == 0 and out.stdout.startswith("synack ") and not out.stderr


@pytest.mark.parametrize("module", COMMANDS)
def test_every_command_has_a_help_page(module):
    name = next(a for a in build_parser()._subparsers._group_actions[0].choices
                if module.endswith("." + a.replace("-", "_")) or module.endswith("." + a))
    out = run(name, "--help")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"usage: synack {name}") and len(out.stdout.splitlines()) > 3


def test_help_and_parsing_import_no_heavy_package():
    """`import scapy.all` alone costs 0.6 s: the parser must not pull in scapy,
    matplotlib, networkx or numpy; commands import them when they run."""
    code = ("import sys; from tracer.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('scapy', 'matplotlib', 'networkx', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_no_command_prints_the_overview():
    out = run()
    assert out.returncode == 2 and "COMMAND" in out.stdout and "ladder" in out.stdout


def test_start_up_builds_only_the_parser_of_the_command_run():
    """`synack --help` lists every command by its help line and builds no command's options;
    `synack ladder ...` builds ladder's alone, from the option table, without the drawing code."""
    from tracer.cli import command_of

    assert command_of(["--help"]) is None and command_of(["ladder", "x.pcapng", "--win"]) == "ladder"
    listed = build_parser(None)._subparsers._group_actions[0].choices
    assert "ladder" in listed and all(not p._actions for p in listed.values())
    one = build_parser("ladder")
    args = one.parse_args(["ladder", "x.pcapng", "--symbolic", "--win"])
    assert (args.numbers, args.win) == ("symbolic", True)
    others = one._subparsers._group_actions[0].choices
    assert [n for n, p in others.items() if p._actions] == ["ladder"]
    code = ("import sys; sys.argv = ['synack', 'ladder', '--help']; from tracer.cli import script\n"
            "try:\n    script()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('viz.figures', 'viz.ladder', 'viz.model', 'viz.analysis') if m in sys.modules),"
            " file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("usage: synack ladder") and out.stderr.strip() == "[]"
