"""Every example spec gives its expected verdicts on its correct and wrong programs (real traces)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib

import pytest

from conftest import ROOT, needs_root

pytestmark = [needs_root, pytest.mark.netns]
EXAMPLES = ROOT / "examples" / "checks"
CASES = [(d.name, i, p) for d in sorted(EXAMPLES.iterdir()) if (d / "expected.toml").exists()
         for i, p in enumerate(tomllib.loads((d / "expected.toml").read_text())["program"])]


def check(example: str, program: dict, out) -> tuple[int, dict]:
    argv = [sys.executable, "-m", "tracer", "check", str(EXAMPLES / example / "check.toml"), "--json",
            "-o", str(out)]
    for role in ("server", "client"):
        if role in program:
            argv += [f"--{role}", program[role]]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, json.loads(r.stdout)


@pytest.mark.parametrize("example, index, program", CASES,
                         ids=[f"{e}-{p['label'].split(' (')[0].replace(' ', '_')}" for e, _, p in CASES])
def test_example_verdicts(example, index, program, tmp_path, leak_check):
    status, report = check(example, program, tmp_path)
    failed = {f"{r['name']}.{v['expectation']}" for r in report["runs"] for v in r["verdicts"] if not v["passed"]}
    errors = [r["error"] for r in report["runs"] if r["error"]]
    assert not errors, errors
    for r in report["runs"]:  # every run keeps its capture, a killed program's too
        assert r["capture"] and os.path.getsize(r["capture"]) > 0
    if not program["fails"]:
        assert status == 0 and not failed, failed
    else:
        assert status == 1
        assert set(program["fails"]) <= failed, (set(program["fails"]) - failed, failed)
        for r in report["runs"]:  # every failure comes with its highlighted ladder
            for v in r["verdicts"]:
                if not v["passed"]:
                    assert v["figure"] and os.path.exists(v["figure"]), v
