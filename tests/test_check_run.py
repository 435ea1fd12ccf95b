"""`synack check` end to end: built-in scenarios check themselves, JUnit from a real run, hangs, bad overrides."""
from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from conftest import ROOT, needs_root
from tracer import scenarios

pytestmark = [needs_root, pytest.mark.netns]
EXAMPLES = ROOT / "examples" / "checks"


def synack(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tracer", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


@pytest.mark.parametrize("name", scenarios.names())
def test_every_scenario_passes_its_own_check(name, tmp_path, leak_check):
    from tracer.check import check, scenario_spec

    spec = scenario_spec(name)
    results = check(spec, str(tmp_path))
    for r in results:
        assert r.error is None, r.error
        assert r.capture and os.path.getsize(r.capture) > 0
        bad = [(v.name, v.detail) for v in r.verdicts if not v.passed]
        assert not bad, (r.run.name, bad)
    if "ipv6" in scenarios.get(name).options:
        assert [r.run.name for r in results] == ["plain", "ipv6"]


def test_junit_of_a_failing_run_is_read_by_a_junit_reader(tmp_path, leak_check):
    from junitparser import JUnitXml

    junit = tmp_path / "report.xml"
    r = synack("check", str(EXAMPLES / "echo" / "check.toml"), "--client", "python3 client_no_loop.py",
               "--only", "plain", "--junit", str(junit), "-o", str(tmp_path / "out"))
    assert r.returncode == 1, r.stderr
    assert "✗ client_reads_all" in r.stdout and "ladder: " in r.stdout
    suites = JUnitXml.fromfile(str(junit))
    cases = {c.name: c for s in suites for c in s}
    assert set(cases) == {"established", "closes_first", "reset", "client_sends", "echo", "client_reads_all",
                          "client_exits"}
    assert cases["established"].is_passed and not cases["client_reads_all"].is_passed
    text = cases["client_reads_all"].result[0].text
    svg = next(line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("ladder: "))
    root = ET.parse(svg).getroot()
    assert any(g.get("id") == "check-highlight" for g in root.iter("{http://www.w3.org/2000/svg}g"))


def test_a_hanging_program_fails_its_expectations_and_keeps_the_capture(tmp_path, leak_check):
    from tracer.check import check, load_spec
    import dataclasses

    spec = load_spec(str(EXAMPLES / "upper-tcp" / "check.toml"))
    spec = dataclasses.replace(spec, server="python3 server_never_closes.py")
    (r,) = check(spec, str(tmp_path))
    verdicts = {v.name: v for v in r.verdicts}
    assert not verdicts["client_exits"].passed and "timeout" in verdicts["client_exits"].detail
    assert verdicts["upper"].passed  # what it did do is still decided from the kept capture
    assert r.capture and os.path.getsize(r.capture) > 0 and r.info.client_status is None


def test_an_override_naming_a_missing_program_is_a_spec_error(tmp_path):
    r = synack("check", str(EXAMPLES / "echo" / "check.toml"), "--client", "python3 nope.py",
               "-o", str(tmp_path))
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "client: script 'nope.py' does not exist" in r.stderr
    r = synack("check", str(EXAMPLES / "echo" / "check.toml"), "--only", "nosuch", "-o", str(tmp_path))
    assert r.returncode == 2 and "--only nosuch: no such run" in r.stderr


def test_json_of_a_scenario_check(tmp_path, leak_check):
    import json

    r = synack("check", "refused", "--json", "-o", str(tmp_path))
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["scenario"] == "refused" and data["passed"]
    assert {v["expectation"] for v in data["runs"][0]["verdicts"]} == {"refused", "established", "client_exits"}


SLOW_SERVER = """
import time
from socket import *
s = socket(AF_INET, SOCK_STREAM)
s.bind(('', 8888))
s.listen(1)
c, _ = s.accept()
time.sleep(30)
c.send(time.ctime().encode())
"""
EOF_CLIENT = """
from socket import *
s = socket(AF_INET, SOCK_STREAM)
s.connect(('server', 8888))
tm = b''
while True:
    data = s.recv(1024)
    if not data:
        break
    tm += data
print('got', tm)
"""
SPIN_CLIENT = """
from socket import *
s = socket(AF_INET, SOCK_STREAM)
s.connect(('server', 8888))
tm = b''
while len(tm) < 24:        # no check for EOF: recv() returns b'' forever once the server is gone
    tm += s.recv(1024)
print('got', tm)
"""


@pytest.mark.parametrize("client, exits", [(EOF_CLIENT, True), (SPIN_CLIENT, False)])
def test_stop_server_closes_the_connection_early(client, exits, tmp_path, leak_check):
    import tempfile
    import shutil

    from tracer.check import check, spec_from

    d = tempfile.mkdtemp(prefix="synack-stop-")
    os.chmod(d, 0o755)
    try:
        for name, text in (("server.py", SLOW_SERVER), ("client.py", client)):
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        spec = spec_from({"server": "python3 server.py", "client": "python3 client.py", "port": 8888,
                          "timeout": 2, "stop_server": 0.5,
                          "expect": {"established": True, "closes_first": "server", "reset": False,
                                     "client_exits": 0}}, "<test>", base=d)
        (r,) = check(spec, str(tmp_path))
    finally:
        shutil.rmtree(d, ignore_errors=True)
    v = {x.name: x for x in r.verdicts}
    assert v["established"].passed and v["reset"].passed
    assert v["closes_first"].passed and "when the process ended" in v["closes_first"].detail
    assert v["client_exits"].passed is exits, v["client_exits"].detail
    assert r.info.server_status is not None and r.info.server_status < 0  # killed
    from viz.capture import open_capture

    with open_capture(r.capture) as cap:  # the spinning client's EOFs: three recorded, not millions
        eofs = [c for c in cap.meta["calls"] if c["host"] == "client" and c["call"] == "recv"
                and c["phase"] == "return" and c["result"] == "b''"]
    assert len(eofs) == (1 if exits else 3)
    assert os.path.getsize(r.capture) < 100_000


def test_rcvbuf_and_sndbuf_make_a_small_window_and_short_writes(tmp_path, leak_check):
    """`rcvbuf` is the server's receive buffer, set before it makes its socket: its window stays
    at a few KB; with `sndbuf` the echo client's send() of 202,500 bytes returns short, and the
    correct client (sendall) still gets the whole echo back."""
    from tracer.check import check, spec_from

    spec = spec_from({"server": "python3 server.py", "client": "python3 client_send.py", "port": 50007,
                      "timeout": 15, "sndbuf": 1024, "rcvbuf": 4096,
                      "expect": {"client_sends": {"bytes": 202500}}}, "<test>", base=str(EXAMPLES / "echo"))
    (r,) = check(spec, str(tmp_path), figures=False)
    assert r.error is None, r.error
    assert not r.verdicts[0].passed and "short" in r.verdicts[0].detail, r.verdicts[0].detail
    rows = subprocess.run(["tshark", "-r", r.capture, "-Y", "ip.src == 192.0.2.2 && tcp.flags.syn == 0",
                           "-T", "fields", "-e", "tcp.window_size"], capture_output=True, text=True,
                          check=True).stdout.split()
    assert rows and max(map(int, rows)) <= 4096, rows
    spec = spec_from({"server": "python3 server.py", "client": "python3 client.py", "port": 50007,
                      "timeout": 15, "sndbuf": 1024, "rcvbuf": 4096,
                      "expect": {"echo": True, "client_reads_all": True}}, "<test>", base=str(EXAMPLES / "echo"))
    (r,) = check(spec, str(tmp_path), figures=False)
    assert all(v.passed for v in r.verdicts), [(v.name, v.detail) for v in r.verdicts]


def test_a_check_of_ipv6_lecture_code_typed_with_the_loopback_literal(tmp_path, leak_check):
    """`ipv6 = true` with programs that say AF_INET6 and '::1' (server and client) passes the
    expectations the IPv4 pair passes, and `ipv6` itself: the link carries 2001:db8::1 <-> ::2."""
    import re
    import shutil
    import tempfile

    from tracer.check import check, spec_from

    d = tempfile.mkdtemp(prefix="synack-v6check-")
    os.chmod(d, 0o755)
    try:
        for name in ("echo_server.py", "echo_client.py"):
            text = re.sub(r"\bAF_INET\b", "AF_INET6", (ROOT / "tests" / "programs" / name).read_text())
            with open(os.path.join(d, name), "w") as f:
                f.write(text.replace("'localhost'", "'::1'"))
        spec = spec_from({"server": "python3 echo_server.py", "client": "python3 echo_client.py", "ipv6": True,
                          "timeout": 10, "message": "This is the message.",
                          "expect": {"established": True, "ipv6": True, "echo": True, "closes_first": "client",
                                     "reset": False, "client_exits": 0}}, "<test>", base=d)
        (r,) = check(spec, str(tmp_path), figures=False)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    assert r.error is None, r.error
    assert all(v.passed for v in r.verdicts), [(v.name, v.detail) for v in r.verdicts]
    assert "2001:db8::1" in next(v.detail for v in r.verdicts if v.name == "ipv6")
