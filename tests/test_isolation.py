"""Reproducers of issue 15 item 2: two traces at once, one program attacking the other.

Trace A's client leaves a file in /tmp and waits; while it waits, trace B's
client writes forged call records into every synack run directory it can
find, appends to A's file, and signals everything it may (kill(-1), then
every pid it can see).  Nothing crosses: A finishes normally with only its
own records, its file is unchanged, and the two traces' programs ran as two
different uids.  Before the per-trace uid and the passed-open call log,
every write and the kill succeeded (issue 15).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid

import pytest

from conftest import LISTENING, ROOT, needs_root
from tracer import hosts as hostmod
from tracer import uids
from tracer.run import Programs, trace
from viz.capture import open_capture

pytestmark = [needs_root, pytest.mark.netns]
PY = sys.executable

SERVER = LISTENING + """
while True:
    c, _ = s.accept()
    c.sendall(c.recv(100).upper())
    c.close()
"""

VICTIM = """
import os, socket, time
with open({mine!r}, "w") as f:
    f.write("victim %d\\n" % os.getuid())
os.chmod({mine!r}, 0o644)
deadline = time.monotonic() + 60
while not os.path.exists({done!r}) and time.monotonic() < deadline:
    time.sleep(0.05)
s = socket.create_connection(("server", int(os.environ["SYNACK_SERVER_PORT"])))
s.sendall(b"victim")
print(s.recv(100))
s.close()
"""

ATTACKER = """
import glob, json, os, signal, socket, time
forged = 0
record = json.dumps({{"ts": time.time(), "call": "send", "phase": "call", "host": "client",
                     "args": "FORGED"}}) + "\\n"
for d in glob.glob("/tmp/synack-run-*"):
    for name in ("client.jsonl", "server.jsonl", "client.strace", "server.strace"):
        try:
            with open(os.path.join(d, name), "a") as f:
                f.write(record)
            forged += 1
        except OSError:
            pass
touched = 0
for p in glob.glob({victims!r}):
    try:
        with open(p, "a") as f:
            f.write("attacker was here\\n")
        touched += 1
    except OSError:
        pass
try:
    os.kill(-1, signal.SIGKILL)  # all this uid may signal, but itself
except ProcessLookupError:
    pass
signalled = 0
for pid in os.listdir("/proc"):
    if pid.isdigit() and int(pid) != os.getpid():
        try:
            os.kill(int(pid), signal.SIGKILL)
            signalled += 1
        except OSError:
            pass
print("uid", os.getuid(), "forged", forged, "touched", touched, "signalled", signalled,
      "visible", sum(1 for p in os.listdir("/proc") if p.isdigit()))
s = socket.create_connection(("server", int(os.environ["SYNACK_SERVER_PORT"])))
s.sendall(b"attacker")
s.recv(100)
s.close()
"""


def test_one_trace_cannot_forge_records_into_or_kill_another(progdir, tmp_path, leak_check):
    tag = uuid.uuid4().hex[:8]
    mine, done = f"/tmp/synack-i15-victim-{tag}", f"/tmp/synack-i15-done-{tag}"
    srv = progdir("srv.py", SERVER)
    victim = progdir("victim.py", VICTIM.format(mine=mine, done=done))
    attacker = progdir("attacker.py", ATTACKER.format(victims="/tmp/synack-i15-victim-*"))
    out_a = str(tmp_path / "a.pcapng")
    a = subprocess.Popen([PY, "-m", "tracer", "trace", "--server", f"{PY} {srv}", "--client", f"{PY} {victim}",
                          "--port", "5201", "-o", out_a, "--timeout", "90", "--shared-tmp"], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    leak_check.add(a.pid)
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(mine) and time.monotonic() < deadline and a.poll() is None:
            time.sleep(0.05)
        assert os.path.exists(mine), a.communicate()
        r = trace(Programs(client=[PY, attacker], server=[PY, srv]), None, str(tmp_path / "b.pcapng"),
                  private_tmp=False)  # the worst case: both traces share the machine's /tmp
        assert r.complete, r.incomplete_reason
        report = r.client_output.split()
        assert report[0] == "uid", r.client_output
        b_uid, forged, touched, signalled, visible = (int(report[i]) for i in (1, 3, 5, 7, 9))
        with open(done, "w"):
            pass
        _, err = a.communicate(timeout=120)
    finally:
        with open(done, "w"):
            pass
        if a.poll() is None:
            a.kill()
            a.wait()
    victim_text = open(mine).read()
    a_uid = os.stat(mine).st_uid
    os.unlink(mine)
    os.unlink(done)
    assert a.returncode == 0, err
    assert (forged, touched, signalled) == (0, 0, 0)
    if hostmod._own_proc():
        assert visible == 1  # its /proc shows its own PID namespace: itself
    assert victim_text == f"victim {a_uid}\n"
    assert a_uid != b_uid and a_uid in uids.RANGE and b_uid in uids.RANGE
    with open_capture(out_a) as cap:
        m = cap.meta
    assert m["complete"] is True and m["calls_dropped"] == 0
    assert not any("FORGED" in str(c.get("args", "")) for c in m["calls"])
    assert any(c["call"] == "connect" and c["host"] == "client" for c in m["calls"])


def test_a_client_cannot_pass_records_off_as_the_servers(progdir, tmp_path, leak_check):
    """Each record's host is the log it came from, whatever the record says."""
    srv = progdir("srv.py", SERVER)
    cli = progdir("cli.py", """
import json, os, socket, time
fd = int(os.environ["SYNACK_CALLS"].split(":")[1])
os.write(fd, (json.dumps({"ts": time.time(), "call": "accept", "phase": "return", "host": "server",
                          "args": "FORGED"}) + "\\n").encode())
s = socket.create_connection(("server", int(os.environ["SYNACK_SERVER_PORT"])))
s.sendall(b"x")
s.recv(100)
s.close()
""")
    r = trace(Programs(client=[PY, cli], server=[PY, srv]), None, str(tmp_path / "c.pcapng"))
    assert r.complete, r.incomplete_reason
    with open_capture(r.path) as cap:
        calls = cap.meta["calls"]
    forged = [c for c in calls if c.get("args") == "FORGED"]
    assert [c["host"] for c in forged] == ["client"]


def test_uid_leases_are_exclusive_and_end_with_their_holder(tmp_path):
    d = str(tmp_path / "locks")
    few = range(uids.BASE, uids.BASE + 2)
    first = uids.lease(d, few)
    second = uids.lease(d, few)
    assert {first.uid, second.uid} == set(few)
    with pytest.raises(Exception, match="all 2 per-trace uids"):
        uids.lease(d, few)
    first.release()
    held = subprocess.Popen([PY, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); from tracer import uids; "
                             f"l = uids.lease({d!r}, range({first.uid}, {first.uid + 1})); "
                             "print(l.uid, flush=True); import time; time.sleep(60)"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert held.stdout.readline().strip() == str(first.uid)
        with pytest.raises(Exception, match="in use"):
            uids.lease(d, few)
    finally:
        held.kill()  # SIGKILL: the kernel releases its lock
        held.wait()
    assert uids.lease(d, few).uid == first.uid



PROBE = """
import os, socket, sys
for name in sys.argv[1:]:
    u = socket.socket(socket.AF_UNIX)
    try:
        u.connect(name.replace("@", "\\0", 1))
        print(name, "reached")
    except OSError as exc:
        print(name, type(exc).__name__)
    u.close()
s = socket.create_connection(("server", int(os.environ["SYNACK_SERVER_PORT"])))
s.sendall(b"x")
s.recv(100)
s.close()
"""


def test_unix_sockets_of_the_tracers_host_are_out_of_reach(progdir, tmp_path, leak_check):
    """An abstract socket of the host's network namespace, and a filesystem socket root made
    with the usual umask, cannot be reached from a traced program; one in /tmp that root made
    world-writable is hidden by --private-tmp."""
    tag = uuid.uuid4().hex[:8]
    abstract = f"@synack-i15-{tag}"
    private = f"/tmp/synack-i15-{tag}.sock"
    shared = f"/tmp/synack-i15-{tag}-open.sock"
    listeners = [listen(name, mode) for name, mode in ((abstract, None), (private, 0o755), (shared, 0o777))]
    srv = progdir("srv.py", SERVER)
    cli = progdir("probe.py", PROBE)
    try:
        seen = {}
        for private_tmp in (False, True):
            r = trace(Programs(client=[PY, cli, abstract, private, shared], server=[PY, srv]), None,
                      str(tmp_path / f"u{int(private_tmp)}.pcapng"), private_tmp=private_tmp)
            assert r.complete, r.incomplete_reason
            seen[private_tmp] = dict(line.split() for line in r.client_output.splitlines()
                                     if line.startswith(("@", "/")))
    finally:
        for s in listeners:
            s.close()
        for p in (private, shared):
            os.unlink(p)
    assert seen[False] == {abstract: "ConnectionRefusedError", private: "PermissionError", shared: "reached"}
    assert seen[True] == {abstract: "ConnectionRefusedError", private: "FileNotFoundError",
                          shared: "FileNotFoundError"}


def listen(name: str, mode: int | None) -> socket.socket:
    s = socket.socket(socket.AF_UNIX)
    s.bind(name.replace("@", "\0", 1))
    if mode is not None:
        os.chmod(name, mode)
    s.listen()
    return s


FORGED_STRACE = ('7 1700000000.000200 connect(3<socket:[31]>, {sa_family=AF_INET, sin_port=htons(80), '
                 'sin_addr=inet_addr("203.0.113.9")}, 16) = 0 <0.000010>')


@pytest.mark.skipif(not shutil.which("strace") or not shutil.which("bash"), reason="needs strace and bash")
def test_a_program_traced_by_strace_cannot_write_its_strace_log(tmp_path, leak_check):
    """strace writes the log of a program that is not Python, as root around the uid drop:
    the program (bash here) finds its run directory but cannot add lines to the log."""
    client = ("wrote=0; for d in /tmp/synack-run-*; do for f in client.strace server.strace; do "
              f"{{ echo '{FORGED_STRACE}' >> \"$d/$f\"; }} 2>/dev/null && wrote=$((wrote+1)); done; done; "
              'echo "wrote $wrote"; exec 3<>/dev/tcp/server/$SYNACK_SERVER_PORT; echo hi >&3; read -r r <&3; '
              "exec 3>&-")
    srv = ["bash", "-c", "exec python3 -c 'import socket,os; s=socket.socket(); "
           "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
           "s.bind((\"\", int(os.environ[\"SYNACK_SERVER_PORT\"]))); s.listen(); c,_=s.accept(); "
           "c.sendall(c.recv(100)); c.close()'"]
    r = trace(Programs(client=["/bin/bash", "-c", client], server=srv), None, str(tmp_path / "s.pcapng"),
              private_tmp=False)  # the run directory in sight
    assert r.complete, r.incomplete_reason
    assert "wrote 0" in r.client_output, r.client_output
    with open_capture(r.path) as cap:
        calls = cap.meta["calls"]
    assert any(c["call"] == "connect" and c["host"] == "client" for c in calls)  # strace recorded it
    assert not any("203.0.113.9" in str(c.get("args", "")) for c in calls)


def test_children_record_into_the_log_passed_to_their_parent(progdir, tmp_path, leak_check):
    """The log passed by descriptor reaches a child of os.system (inherited) and one of
    subprocess (which closes inherited descriptors: the recorder adds the log to those it keeps)."""
    srv = progdir("srv.py", LISTENING + """
for _ in range(2):
    c, _ = s.accept()
    c.sendall(c.recv(100).upper())
    c.close()
""")
    cli = progdir("cli.py", """
import os, subprocess, sys
port = os.environ["SYNACK_SERVER_PORT"]
code = f"import socket; s=socket.create_connection(('server', {port})); s.sendall(b'x'); s.recv(9); s.close()"
os.system(f"{sys.executable} -c \\"{code}\\"")
subprocess.run([sys.executable, "-c", code], check=True)
""")
    r = trace(Programs(client=["/usr/bin/python3", cli], server=["/usr/bin/python3", srv]), None,
              str(tmp_path / "kids.pcapng"))
    assert r.complete, r.incomplete_reason
    with open_capture(r.path) as cap:
        calls = cap.meta["calls"]
    connects = {c["pid"] for c in calls if c["call"] == "connect" and c["phase"] == "return" and c["host"] == "client"}
    assert len(connects) == 2


def test_a_uid_that_still_runs_a_process_is_not_leased(tmp_path):
    """A SIGKILLed trace releases its lease, but its programs may run on until the next trace
    reclaims them: their uid is skipped meanwhile."""
    few = range(uids.BASE + 2, uids.BASE + 4)
    left = subprocess.Popen(["setpriv", f"--reuid={few[0]}", f"--regid={few[0]}", "--clear-groups",
                             "sleep", "60"])
    try:
        deadline = time.monotonic() + 10
        while os.stat(f"/proc/{left.pid}").st_uid != few[0] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [uids.lease(str(tmp_path), few).uid for _ in range(3)] == [few[1]] * 3
    finally:
        left.kill()
        left.wait()
    assert {uids.lease(str(tmp_path), few).uid for _ in range(20)} == set(few)
