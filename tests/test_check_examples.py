"""Every example spec gives its expected verdicts on its correct and wrong programs (real traces)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib

import pytest

from conftest import ROOT, needs_root, python_for

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
        verdicts = {f"{r['name']}.{v['expectation']}": v["detail"] for r in report["runs"] for v in r["verdicts"]}
        assert status == 1, verdicts
        assert set(program["fails"]) <= failed, (set(program["fails"]) - failed, verdicts)
        for r in report["runs"]:  # every failure comes with its highlighted ladder
            for v in r["verdicts"]:
                if not v["passed"]:
                    assert v["figure"] and os.path.exists(v["figure"]), v


@pytest.mark.parametrize("example, index, program", CASES,
                         ids=[f"{e}-{p['label'].split(' (')[0].replace(' ', '_')}" for e, _, p in CASES])
def test_example_verdicts_as_an_unprivileged_user(example, index, program, leak_check, readable_site):
    """The same verdicts from `synack check` run by a user without sudo (a user namespace of its own)."""
    import pwd
    import shutil
    import tempfile

    try:
        from tracer import userns
    except ImportError:
        pytest.skip("no user-namespace entry in this tree (tracer.userns)")
    if userns.blocked_reason(userns.knobs(), sys.executable) is not None:
        pytest.skip("this kernel blocks unprivileged user namespaces")
    name = f"synck{os.getpid() % 100000}"
    subprocess.run(["useradd", "-M", "-d", "/nonexistent", "-s", "/bin/sh", name], check=True, capture_output=True)
    home = tempfile.mkdtemp(prefix="synack-check-user-")
    try:
        user = pwd.getpwnam(name)
        python = python_for(user.pw_uid)
        if python is None:
            pytest.skip("no Python of this version the new user can run")
        for pkg in ("tracer", "viz", "examples"):
            shutil.copytree(ROOT / pkg, os.path.join(home, pkg), ignore=shutil.ignore_patterns("__pycache__"))
        subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", home], check=True)
        os.chmod(home, 0o755)
        argv = [python, "-m", "tracer", "check", f"examples/checks/{example}/check.toml", "--json", "-o", "out"]
        for role in ("server", "client"):
            if role in program:
                argv += [f"--{role}", program[role]]
        env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": home, "LANG": "C.UTF-8",
               "PYTHONPATH": os.pathsep.join([home, readable_site])}
        r = subprocess.run(["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
                            *argv], cwd=home, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode in (0, 1), r.stderr
        report = json.loads(r.stdout)
        failed = {f"{x['name']}.{v['expectation']}" for x in report["runs"] for v in x["verdicts"] if not v["passed"]}
        assert not [x["error"] for x in report["runs"] if x["error"]]
        if program["fails"]:
            assert r.returncode == 1 and set(program["fails"]) <= failed, failed
        else:
            assert r.returncode == 0 and not failed, failed
        assert os.stat(os.path.join(home, report["runs"][0]["capture"])).st_uid == user.pw_uid
    finally:
        subprocess.run(["userdel", name], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
