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
