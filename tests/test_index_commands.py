"""The figure index tells a lecturer how to make each figure by hand: those
commands, run from the figures folder as written, give the same bytes as the
build (captures/figures is a fresh build, tests/test_build_gallery.py checks)."""
from __future__ import annotations

import filecmp
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

FIGURES = ROOT / "captures" / "figures"
COMMANDS = re.findall(r"^synack (?:ladder|layers|graph|play) .*$", (FIGURES / "index.md").read_text(), re.M)


def test_every_figure_has_a_command():
    outputs = {shlex.split(c)[shlex.split(c).index("-o") + 1] for c in COMMANDS}
    images = set(re.findall(r"!\[[^\]]*\]\(([^)]+)\)", (FIGURES / "index.md").read_text()))
    assert images and images == outputs


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: shlex.split(c)[shlex.split(c).index("-o") + 1])
def test_index_command_reproduces_the_figure(command, tmp_path):
    args = shlex.split(command)[1:]
    i = args.index("-o")
    name = args[i + 1]
    args[i + 1] = str(tmp_path / name)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "tracer", *args], cwd=FIGURES, capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert filecmp.cmp(tmp_path / name, FIGURES / name, shallow=False), f"{command} differs from {name}"
