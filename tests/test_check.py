"""The check vocabulary on committed captures (viz.check), spec parsing and reports (tracer.check)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from conftest import ROOT
from viz.api import load
from viz.check import EXPECTATIONS, SpecError, Trace, Verdict
from viz.follow import payloads, stream_bytes

CAPS = ROOT / "captures"
MSG = b"This is the message."


def trace_of(name: str) -> Trace:
    c = load(CAPS / f"{name}.pcapng")
    return Trace(c.analysis, payloads(c.path, c.analysis), message=MSG)


def test_follow_reassembles_the_echo_from_its_16_byte_pieces():
    t = trace_of("tcp-echo")
    s = t.connections[0]
    back = stream_bytes(t.analysis, s, t.payloads, from_client=False)
    assert back.data == MSG and len(back.frames) == 2 and back.missing == 0


def test_follow_counts_a_retransmitted_byte_once():
    t = trace_of("lost-segment")
    sent = t.bytes(t.connections[0], "client")
    data_frames = [p for p in t.packets(t.connections[0]) if (p.len or 0) and t.side_of(t.connections[0], p) == "client"]
    assert len(data_frames) == 2  # the original and its retransmission
    assert sent.data == MSG


@pytest.mark.parametrize("name, expect", [
    ("half-close", {"established": True, "closes_first": "client", "half_close": True, "reset": False,
                    "client_sends": True, "upper": True, "connections": 1, "time_wait": "client",
                    "calls": {"client": ["socket", "connect", "sendall", "shutdown", "recv", "close"]}}),
    ("tcp-echo", {"echo": True, "client_reads_all": True, "server_reads_all": True, "closes_first": "client"}),
    ("tcp-time", {"closes_first": "server", "time_wait": "server"}),
    ("refused", {"refused": True, "established": False}),
    ("threading-tcp", {"connections": 3, "serves": 3, "upper": True}),
    ("udp-timeout", {"retries_after_timeout": True, "upper": True}),
    ("udp-upper", {"answered": True, "upper": True, "connections": 0}),
    ("lost-segment", {"analysis": "retransmission", "echo": True}),
    ("zero-window", {"analysis": ["zero_window", "keep_alive"]}),
])
def test_expectations_that_hold_on_the_scenario_captures(name, expect):
    t = trace_of(name)
    for k, v in expect.items():
        verdict = t.expect(k, v)
        assert verdict.passed, (k, verdict.detail)


def test_failed_verdicts_name_the_deciding_frames_and_calls():
    t = trace_of("tcp-echo")
    v = t.expect("closes_first", "server")
    assert not v.passed
    fin = t.first_close(t.connections[0])
    assert v.frames == (fin.frame,) and "client sent the first FIN" in v.detail
    assert any(c.host == "client" and c.call == "close" for c in v.calls)
    h = t.expect("half_close", True)
    assert not h.passed and "close(), not shutdown()" in h.detail
    u = t.expect("upper", True)
    assert not u.passed and "from byte 1" in u.detail
    s = t.expect("client_sends", "This is the massage.")
    assert not s.passed and "first difference at byte 13" in s.detail


def test_retry_and_answered_on_the_udp_timeout_capture():
    t = trace_of("udp-timeout")
    v = t.expect("retries_after_timeout", True)
    assert "TimeoutError" in v.detail and len(v.frames) >= 2
    a = t.expect("answered", True)
    assert not a.passed and "frame 3 was not answered" in a.detail  # the server ignored the first on purpose


def test_facts_for_pytest():
    t = trace_of("half-close")
    assert t.closed_first == "client" and t.half_closed and not t.reset and t.established
    assert t.client_sent == MSG and t.server_sent == MSG.upper() and t.time_wait == "client"
    assert trace_of("refused").refused


def test_unknown_expectation_and_bad_value():
    t = trace_of("tcp-echo")
    with pytest.raises(SpecError, match="unknown expectation 'closes_frist'"):
        t.expect("closes_frist", "client")
    with pytest.raises(SpecError, match="not \"client\" or \"server\""):
        t.expect("closes_first", "nobody")


def test_every_expectation_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    for name in EXPECTATIONS:
        assert f"| `{name}` |" in readme, name


def test_highlighted_failure_ladder(tmp_path):
    from viz.check_ladder import failure_figure, failure_text

    t = trace_of("tcp-echo")
    v = t.expect("closes_first", "server")
    text = failure_text(t.analysis, v)
    marked = [line for line in text.splitlines() if "»" in line]
    assert len(marked) == 1 and "FIN" in marked[0]
    out = tmp_path / "f.svg"
    failure_figure(t.analysis, v, out)
    root = ET.parse(out).getroot()
    ns = {"s": "http://www.w3.org/2000/svg"}
    groups = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("id") == "check-highlight"]
    assert len(groups) == 1 and len(groups[0].findall(".//s:path", ns)) == 1
    first = out.read_bytes()
    failure_figure(t.analysis, v, out)
    assert out.read_bytes() == first  # deterministic


# --- specs ------------------------------------------------------------------------

def write_spec(tmp_path, text: str, files=("server.py", "client.py")):
    for f in files:
        (tmp_path / f).write_text("")
    p = tmp_path / "check.toml"
    p.write_text(text)
    return str(p)


def test_spec_runs_inherit_and_extend_the_top_expectations(tmp_path):
    from tracer.check import load_spec

    spec = load_spec(write_spec(tmp_path, """
name = "echo"
server = "python3 server.py"
client = "python3 client.py"
message = "hi"
[expect]
echo = true
[[runs]]
name = "lossy"
loss = "10%"
seed = 2
[runs.expect]
closes_first = "client"
[[runs]]
name = "slow"
rate = "1mbit"
mss = 100
"""))
    assert [r.name for r in spec.runs] == ["lossy", "slow"]
    assert spec.runs[0].expect == {"echo": True, "closes_first": "client"}
    assert spec.runs[1].expect == {"echo": True} and spec.runs[1].options["message"] == "hi"


@pytest.mark.parametrize("body, message", [
    ('client = "python3 client.py"\n[expect]\ncloses_frist = "client"\n',
     r"check.toml:3: expect.closes_frist: unknown expectation"),
    ('client = "python3 client.py"\n[expect]\ncloses_first = "nobody"\n',
     r"check.toml:3: expect.closes_first: 'nobody' is not"),
    ('client = "python3 nothere.py"\n[expect]\necho = true\n',
     r"check.toml:1: client: script 'nothere.py' does not exist"),
    ('client = "no-such-program-xyz"\n[expect]\necho = true\n',
     r"check.toml:1: client: program 'no-such-program-xyz' not found"),
    ('client = "python3 client.py"\nlos = "5%"\n[expect]\necho = true\n',
     r"check.toml:2: los: unknown key"),
    ('client = "python3 client.py"\n[expect]\necho = true\n[[runs]]\nloss = "500%"\n',
     r"check.toml:5: loss: --loss '500%'"),
    ('client = "python3 client.py"\nrcvbuf = 512\n[expect]\necho = true\n',
     r"check.toml:2: rcvbuf: 512 is below 1024 bytes"),
    ('client = "python3 client.py"\n', r"expect: no expectation to check"),
    ('[expect]\necho = true\n', r"client: a client command is needed"),
    ('client = "python3 client.py"\n[expect\n', r"not valid TOML"),
])
def test_bad_specs_are_one_line_errors(tmp_path, body, message):
    from tracer.check import load_spec

    with pytest.raises(SpecError, match=message) as exc:
        load_spec(write_spec(tmp_path, body))
    assert "\n" not in str(exc.value)


def test_cli_bad_spec_exits_2_with_one_line(tmp_path):
    p = write_spec(tmp_path, 'client = "python3 client.py"\n[expect]\nbogus = 1\n')
    r = subprocess.run([sys.executable, "-m", "tracer", "check", p], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "check.toml:3: expect.bogus: unknown expectation" in r.stderr


def test_every_scenario_has_a_spec_with_known_expectations():
    from tracer import scenarios
    from tracer.check import SCENARIO_EXPECT, scenario_spec

    assert set(SCENARIO_EXPECT) == set(scenarios.names())
    for name in scenarios.names():
        spec = scenario_spec(name)
        for k, v in spec.runs[0].expect.items():
            EXPECTATIONS[k].check(k, v)


def test_junit_and_json_reports_parse():
    from junitparser import JUnitXml

    from tracer.check import RunResult, Run, Spec, as_json, junit_xml, write_text
    from viz.check import RunInfo

    t = trace_of("tcp-echo")
    run = Run("plain", {}, {"echo": True, "closes_first": "server"})
    verdicts = [t.expect(k, v) for k, v in run.expect.items()]
    spec = Spec("echo", "check.toml", ".", None, "python3 s.py", "python3 c.py", (run,))
    results = [RunResult(run, "x.pcapng", verdicts, RunInfo(0, None), figures={"closes_first": "f.svg"})]
    xml = junit_xml(spec, results)
    path = "/tmp/synack-test-junit-%d.xml" % os.getpid()
    write_text(path, xml)
    try:
        suites = JUnitXml.fromfile(path)
        cases = [c for s in suites for c in s]
        assert [c.name for c in cases] == ["echo", "closes_first"]
        assert cases[0].is_passed and not cases[1].is_passed
        failure = cases[1].result[0]
        assert "client sent the first FIN" in failure.message and "ladder: f.svg" in failure.text
    finally:
        os.unlink(path)
    data = json.loads(json.dumps(as_json(spec, results), default=str))
    assert data["passed"] is False and data["runs"][0]["verdicts"][1]["figure"] == "f.svg"
    assert isinstance(Verdict("a", 1, True, "x").as_json()["frames"], list)


def test_a_connection_waiting_in_the_accept_queue_is_not_served_concurrently():
    """An iterative server answered the second SYN's connection first (its handshake completed
    first); the first one only waited in the accept queue. Not concurrency (a CI flake once)."""
    c = load(ROOT / "tests" / "captures" / "iterative-accept-order.pcapng")
    t = Trace(c.analysis, payloads(c.path, c.analysis))
    v = t.expect("concurrent", True)
    assert not v.passed and "no overlap" in v.detail, v.detail
    c = load(ROOT / "tests" / "captures" / "threaded-two-at-once.pcapng")
    threaded = Trace(c.analysis, payloads(c.path, c.analysis)).expect("concurrent", True)
    assert threaded.passed and "answered in frame" in threaded.detail, threaded.detail
