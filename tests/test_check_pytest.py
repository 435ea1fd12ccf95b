"""The `synack_trace` pytest fixture, used by a course's test file run by pytest in a subprocess."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

import pytest

from conftest import needs_root

pytestmark = [needs_root, pytest.mark.netns]

SERVER = """
from socket import *
s = socket(AF_INET, SOCK_STREAM)
s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
s.bind(('', 50007))
s.listen(1)
while True:
    c, _ = s.accept()
    data = c.recv(1024)
    c.sendall(data.upper())
    c.close()
"""
CLIENT = """
from socket import *
s = socket(AF_INET, SOCK_STREAM)
s.connect(('server', 50007))
s.sendall(b'hello')
reply = b''
while True:                 # to EOF: the server closes first, whatever the scheduler does
    data = s.recv(1024)
    if not data:
        break
    reply += data
print(reply)
s.close()
"""
TESTS = """
def test_server_closes_first(synack_trace):
    trace = synack_trace(server="python3 server.py", client="python3 client.py", port=50007)
    assert trace.closed_first == "server"
    assert trace.client_sent == b"hello" and trace.server_sent == b"HELLO"
    assert trace.expect("upper").passed and trace.time_wait == "server" and not trace.reset


def test_a_wrong_belief(synack_trace):
    trace = synack_trace(server="python3 server.py", client="python3 client.py", port=50007)
    assert trace.closed_first == "client"


def test_expect_fails_with_evidence(synack_trace):
    trace = synack_trace(server="python3 server.py", client="python3 client.py", port=50007)
    trace.expect("half_close", True)


def test_missing_program(synack_trace):
    synack_trace(server="python3 server.py", client="python3 nothere.py", port=50007)
"""


@pytest.fixture
def course():
    d = tempfile.mkdtemp(prefix="synack-course-")
    os.chmod(d, 0o755)
    for name, text in (("server.py", SERVER), ("client.py", CLIENT), ("test_course.py", TESTS)):
        with open(os.path.join(d, name), "w") as f:
            f.write(textwrap.dedent(text))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_course_test_file_uses_the_fixture(course, leak_check):
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "test_course.py"],
                       cwd=course, capture_output=True, text=True, timeout=300)
    out = r.stdout
    assert r.returncode == 1, out
    assert "PASSED test_course.py::test_server_closes_first" in out
    for name in ("test_a_wrong_belief", "test_expect_fails_with_evidence", "test_missing_program"):
        assert f"FAILED test_course.py::{name}" in out, out
    # The bare assert gets the trace's ladder in its report section.
    wrong = out[out.index("_ test_a_wrong_belief _"):out.index("_ test_expect_fails_with_evidence _")]
    assert "synack ladder" in wrong and "FIN, ACK" in wrong and "SYN" in wrong
    # expect() says what decided it, and the ladder marks the deciding arrow.
    expect = out[out.index("_ test_expect_fails_with_evidence _"):out.index("_ test_missing_program _")]
    assert "half_close = True failed" in expect and "not shutdown()" in expect
    marked = [line for line in expect.splitlines() if "»" in line]
    assert marked and "FIN" in marked[0]
    missing = out[out.index("_ test_missing_program _"):]
    assert "client: script 'nothere.py' does not exist" in missing
