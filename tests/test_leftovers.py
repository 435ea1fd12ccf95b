"""Reproducers of issue 15 item 4 (SIGKILL): what a killed trace leaves is named
after its owner (pid and start time) and removed by the next command that makes
namespaces, or by `synack cleanup`, which lists it.  Live owners' things stay."""
from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest

from conftest import ROOT, needs_root
from tracer import leftovers
from viz.output import owner

pytestmark = [needs_root, pytest.mark.netns]
PY = sys.executable
SERVER = """
import os, socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", int(os.environ["SYNACK_SERVER_PORT"])))
s.listen()
c, _ = s.accept()
c.recv(100)
import time; time.sleep(120)
"""


def synack(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "tracer", *args], capture_output=True, text=True, cwd=ROOT, timeout=300)


def _described(pid: str) -> str:
    """pid, state, parent and command line: enough to tell which program outlived its trace."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state, ppid = f.read().rsplit(")", 1)[1].split()[:2]
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return pid
    return f"{pid} {state} ppid={ppid} {cmd[:120]}"


def what_is_left(pid: int) -> dict[str, list[str]]:
    tag = f"synack-{pid}-"
    run = f"synack-run-{pid}-"
    procs = []
    for proc in glob.glob("/proc/[0-9]*"):
        try:
            seen = b""
            for part in ("environ", "cmdline"):  # programs by their variables, the kstate sampler by its argv
                with open(f"{proc}/{part}", "rb") as f:
                    seen += f.read()
            if f"/{run}".encode() in seen:
                procs.append(_described(proc.split("/")[2]))
        except OSError:
            pass
    return {
        "netns": [n for n in os.listdir("/run/netns") if n.startswith(tag)] if os.path.isdir("/run/netns") else [],
        "etc_netns": [n for n in os.listdir("/etc/netns") if n.startswith(tag)] if os.path.isdir("/etc/netns")
        else [],
        "run_dirs": [n for n in os.listdir(tempfile.gettempdir()) if n.startswith(run)],
        "processes": procs,
    }


def killed_trace(tmp_path, port: int, while_running=None) -> int:
    """A trace SIGKILLed while its programs run: returns the dead tracer's pid;
    `while_running(pid)` is called just before the kill."""
    d = tempfile.mkdtemp(prefix="synack-progs-")
    os.chmod(d, 0o777)
    flag = os.path.join(d, "started")
    for name, text in (("srv.py", SERVER), ("cli.py", f"""
            import os, socket, time
            s = socket.create_connection(("server", int(os.environ["SYNACK_SERVER_PORT"])))
            s.sendall(b"hello")
            open({flag!r}, "w").close()
            time.sleep(120)
            """)):
        with open(os.path.join(d, name), "w") as f:
            f.write(textwrap.dedent(text))
        os.chmod(os.path.join(d, name), 0o644)
    p = subprocess.Popen([PY, "-m", "tracer", "trace", "--server", f"{PY} {d}/srv.py", "--client",
                          f"{PY} {d}/cli.py", "--port", str(port), "-o", str(tmp_path / "k.pcapng")],
                         cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not os.path.exists(flag):
        assert time.monotonic() < deadline and p.poll() is None
        time.sleep(0.02)
    if while_running:
        while_running(p.pid)
    p.send_signal(signal.SIGKILL)
    p.wait()
    subprocess.run(["rm", "-rf", d])
    left = what_is_left(p.pid)
    assert left["netns"] and left["etc_netns"] and left["run_dirs"] and len(left["processes"]) >= 2, left
    assert all(n.startswith(f"synack-{p.pid}-") and leftovers.owner_of(n)[1] for n in left["netns"])
    return p.pid


def test_the_next_trace_removes_what_a_sigkilled_trace_left(tmp_path):
    pid = killed_trace(tmp_path, 5201)
    r = synack("trace", "tcp-echo", "-o", str(tmp_path / "next.pcapng"))
    assert r.returncode == 0, r.stderr
    assert "leftovers of traces that were killed" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert what_is_left(pid) == {"netns": [], "etc_netns": [], "run_dirs": [], "processes": []}
    assert not (tmp_path / "k.pcapng").exists() and not [n for n in os.listdir(tmp_path) if n.startswith(".")]


def samplers_of(pid: int) -> list[int]:
    """The kstate sampler processes a trace (pid) started, by the run directory in their argv."""
    found = []
    for proc in glob.glob("/proc/[0-9]*"):
        try:
            with open(f"{proc}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if any(a.endswith(b"kstate.py") for a in argv) and f"/synack-run-{pid}-".encode() in b" ".join(argv):
            found.append(int(proc.split("/")[2]))
    return found


def test_a_sigkilled_traces_sampler_ends_itself(tmp_path):
    """The sampler runs in a session of its own, so the kill of its trace does not reach it; it
    notices its parent is gone, writes what it has, removes its tracefs instance and exits."""
    seen = []

    def watch(pid):  # the sampler, seen while the trace still runs
        seen.extend(samplers_of(pid))
    pid = killed_trace(tmp_path, 5203, while_running=watch)
    assert seen, "the trace started no kstate sampler"
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{s}") for s in seen) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [s for s in seen if os.path.exists(f"/proc/{s}")], "the sampler outlived its trace"
    tracefs = "/sys/kernel/tracing/instances"
    if os.path.isdir(tracefs):
        assert not [n for n in os.listdir(tracefs) if n in {f"synack-kstate-{s}" for s in seen}]
    synack("cleanup")
    assert what_is_left(pid) == {"netns": [], "etc_netns": [], "run_dirs": [], "processes": []}


def test_synack_cleanup_lists_what_it_removed(tmp_path):
    pid = killed_trace(tmp_path, 5202)
    before = what_is_left(pid)
    r = synack("cleanup")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for ns in before["netns"]:
        assert f"removed network namespace {ns}" in out
    for d in before["run_dirs"]:
        assert d in out
    assert out.count("removed process") >= 2
    assert what_is_left(pid) == {"netns": [], "etc_netns": [], "run_dirs": [], "processes": []}
    assert f"synack-{pid}-" not in synack("cleanup").stdout  # removed once, then nothing of it is left


def test_a_live_owners_things_are_never_touched(tmp_path):
    """Run directories of a live process stay; a dead pid's, and a recycled pid's
    (right pid, wrong start time), go."""
    tmp = tempfile.gettempdir()
    live = subprocess.Popen(["sleep", "60"])
    try:
        mine = tempfile.mkdtemp(prefix=f"synack-run-{owner(live.pid)}-")
        recycled = tempfile.mkdtemp(prefix=f"synack-run-{live.pid}-1-")
        dead = tempfile.mkdtemp(prefix=f"synack-run-{2 ** 22 + 5}-77-")  # above pid_max's default range
        removed = leftovers.reclaim()
        assert os.path.isdir(mine)
        assert not os.path.exists(recycled) and not os.path.exists(dead)
        assert recycled in removed and dead in removed and mine not in removed
        assert os.path.dirname(mine) == tmp
    finally:
        live.kill()
        live.wait()
        subprocess.run(["rm", "-rf", mine])
