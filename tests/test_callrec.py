"""The socket-call recorder (tracer/callrec/sitecustomize.py) on real sockets.

Each test runs a small program in a child interpreter (PYTHONPATH holds the
recorder, as the tracer sets it) inside a fresh network namespace, and checks
both what the program saw (unchanged results, exceptions, fd numbers) and the
JSON lines the recorder wrote.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CALLREC = ROOT / "tracer" / "callrec"
KEYS = {"ts", "host", "pid", "fd", "call", "phase", "args", "result", "error"}

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2 (network namespaces)"
)


@pytest.fixture(scope="module")
def netns():
    name = f"synack-test-{os.getpid()}-callrec"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def run(netns, tmp_path, code, record=True, extra_path=None):
    """Run `code` in a fresh interpreter; return (stdout lines, records)."""
    calls = tmp_path / "calls.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNACK_")}
    env["PYTHONPATH"] = os.pathsep.join([str(CALLREC)] + ([str(extra_path)] if extra_path else []))
    env["SYNACK_HOST"] = "client"
    if record:
        env["SYNACK_CALLS"] = str(calls)
    proc = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", textwrap.dedent(code)],
                          env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    records = []
    if calls.exists():
        records = [json.loads(line) for line in calls.read_text().splitlines()]
    for r in records:
        assert set(r) == KEYS or (r["call"] == "close" and set(r) == KEYS | {"eofs_unrecorded"}) or (
            r["call"] == "accept" and r["phase"] == "return" and not r["error"] and set(r) == KEYS | {"new_fd"})
    return proc.stdout.splitlines(), records


def calls_of(records, name, phase=None):
    return [r for r in records if r["call"] == name and (phase is None or r["phase"] == phase)]


ECHO = """
    import socket, threading
    srv = socket.socket()
    srv.bind(('127.0.0.1', 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    def serve():
        conn, addr = srv.accept()
        with conn:
            while data := conn.recv(16):
                conn.sendall(data)
    t = threading.Thread(target=serve)
    t.start()
"""


def test_dormant_without_synack_calls(netns, tmp_path):
    out, records = run(netns, tmp_path, """
        import socket, _socket
        print(socket.socket.__mro__[1] is _socket.socket)
        s = socket.socket(); print(s.fileno()); s.close()
    """, record=False)
    assert out == ["True", "3"] and records == []


def test_fd_numbers_are_the_same_as_without_the_recorder(netns, tmp_path):
    code = """
        import socket
        a = socket.socket(); b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        print(a.fileno(), b.fileno())
    """
    plain, _ = run(netns, tmp_path, code, record=False)
    recorded, records = run(netns, tmp_path, code)
    assert plain == recorded == ["3 4"]
    assert [r["fd"] for r in calls_of(records, "socket")] == [3, 4]


def test_echo_conversation_is_recorded_and_unchanged(netns, tmp_path):
    out, records = run(netns, tmp_path, ECHO + """
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    print(c.fileno(), type(c).__module__, type(c).__name__, repr(c).startswith(f'<socket.socket fd={c.fileno()},'))
    print(c.connect(('127.0.0.1', port)))
    print(c.sendall(b'This is the message.'))
    got = []
    while sum(map(len, got)) < 20:
        got.append(c.recv(16))
    print(got)
    c.close()
    t.join(); srv.close()
    """)
    cfd = int(out[0].split()[0])
    assert out == [f"{cfd} socket socket True", "None", "None", "[b'This is the mess', b'age.']"]
    assert all(r["host"] == "client" and isinstance(r["pid"], int) for r in records)
    assert all(abs(r["ts"] - time.time()) < 3600 for r in records)  # epoch seconds, the frames' clock
    socket_calls = calls_of(records, "socket")
    assert [(r["fd"], r["args"]) for r in socket_calls] == [(3, "AF_INET, SOCK_STREAM"), (cfd, "AF_INET, SOCK_STREAM")]
    connect = calls_of(records, "connect")
    assert [r["phase"] for r in connect] == ["call", "return"]
    assert connect[0]["fd"] == cfd and connect[0]["args"].startswith("('127.0.0.1', ")
    assert calls_of(records, "listen")[0]["args"] == "1"
    accept = calls_of(records, "accept")
    assert [r["phase"] for r in accept] == ["call", "return"]
    assert accept[1]["result"].startswith("('127.0.0.1', ") and accept[1]["fd"] == 3
    server_recv = [r for r in calls_of(records, "recv", "return") if r["fd"] != cfd]
    assert [r["result"] for r in server_recv] == ["16", "4", "b''"]
    assert {r["fd"] for r in server_recv} == {accept[1]["new_fd"]}  # the accepted socket, named
    assert "new_fd" not in accept[0]
    assert [r["args"] for r in calls_of(records, "sendall", "call")] == ["20", "16", "4"]
    assert {r["fd"] for r in calls_of(records, "close")} == {3, cfd, server_recv[0]["fd"]}
    assert all(r["phase"] == "return" for r in calls_of(records, "close") + calls_of(records, "bind"))
    # only the program's own getsockname() is recorded, not the ones repr() makes
    assert [r["result"][:14] for r in calls_of(records, "getsockname")] == ["('127.0.0.1', "]


def test_exceptions_pass_through_unchanged(netns, tmp_path):
    out, records = run(netns, tmp_path, """
        import socket, errno
        s = socket.socket()
        try:
            s.connect(('127.0.0.1', 9))
        except ConnectionRefusedError as e:
            print(type(e).__name__, e.errno == errno.ECONNREFUSED, e.__traceback__.tb_next is None)
        print(s.connect_ex(('127.0.0.1', 9)))
        s.close()
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(('127.0.0.1', 0))
        u.settimeout(0.05)
        try:
            u.recvfrom(100)
        except socket.timeout as e:
            print(type(e).__name__, str(e))
        u.close()
    """)
    # the recorder's own frame sits between the caller and the C call, but type, errno and
    # message are the kernel's
    assert out[0].startswith("ConnectionRefusedError True")
    assert out[1:] == ["111", "TimeoutError timed out"]
    connect = calls_of(records, "connect", "return")[0]
    assert connect["error"] == "ConnectionRefusedError: [Errno 111] Connection refused"
    assert calls_of(records, "connect_ex", "return")[0]["result"] == "111 ECONNREFUSED"
    assert calls_of(records, "settimeout")[0]["args"] == "0.05"
    timeout = calls_of(records, "recvfrom", "return")[0]
    assert timeout["error"] == "TimeoutError: timed out" and timeout["result"] == ""


def test_options_shutdown_and_names(netns, tmp_path):
    out, records = run(netns, tmp_path, ECHO + """
    c = socket.create_connection(('127.0.0.1', port))
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    print(c.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    c.setblocking(True)
    c.send(b'abc')
    print(c.recv(10))
    print(c.getpeername() == ('127.0.0.1', port))
    c.shutdown(socket.SHUT_WR)
    print(c.recv(10))
    c.close(); t.join(); srv.close()
    r = socket.socket(); r.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); r.close()
    """)
    assert out == ["1", "b'abc'", "True", "b''"]
    opts = [r["args"] for r in calls_of(records, "setsockopt")]
    assert opts == ["IPPROTO_TCP, TCP_NODELAY, 1", "SOL_SOCKET, SO_REUSEADDR, 1"]
    assert calls_of(records, "getsockopt")[0]["result"] == "1"
    assert calls_of(records, "setblocking")[0]["args"] == "True"
    assert calls_of(records, "shutdown")[0]["args"] == "SHUT_WR"
    assert calls_of(records, "send", "return")[0]["args"] == "3"
    assert calls_of(records, "send", "return")[0]["result"] == "3"
    assert calls_of(records, "getpeername")[0]["result"] == calls_of(records, "connect")[0]["args"]


def test_makefile_and_context_manager_close_once_with_socket_fd(netns, tmp_path):
    out, records = run(netns, tmp_path, ECHO + """
    import time
    c = socket.create_connection(('127.0.0.1', port))
    f = c.makefile('rwb')
    fd = c.fileno()
    c.close()                      # still open: the file object holds it
    mark = time.time()
    f.write(b'line\\n'); f.flush()
    print(f.readline(), fd)
    f.close()                      # this really closes the socket
    t.join(); srv.close()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        ufd = u.fileno()
    print(ufd, mark)
    """)
    line, fd = out[0].rsplit(" ", 1)
    ufd, mark = out[1].split()
    assert line == "b'line\\n'"
    closes = [r for r in calls_of(records, "close") if r["fd"] == int(fd)]
    assert len(closes) == 1 and closes[0]["ts"] > float(mark)
    assert calls_of(records, "recv_into", "return")[0]["result"] == "5"
    assert calls_of(records, "send", "return")[0]["result"] == "5"
    assert len([r for r in calls_of(records, "close") if r["fd"] == int(ufd)]) >= 1


def test_fork_records_child_pid(netns, tmp_path):
    out, records = run(netns, tmp_path, """
        import os, socket
        pid = os.fork()
        if pid == 0:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(('127.0.0.1', 0))
            s.close()
            os._exit(0)
        os.waitpid(pid, 0)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.close()
        print(os.getpid(), pid)
    """)
    parent, child = map(int, out[0].split())
    assert {r["pid"] for r in calls_of(records, "bind")} == {child}
    assert {r["pid"] for r in records} == {parent, child}


def test_threads_write_whole_lines(netns, tmp_path):
    out, records = run(netns, tmp_path, """
        import socket, threading
        def work():
            for _ in range(100):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.settimeout(1.5)
                s.close()
        ts = [threading.Thread(target=work) for _ in range(8)]
        [t.start() for t in ts]; [t.join() for t in ts]
        print('ok')
    """)
    assert out == ["ok"]
    assert len(calls_of(records, "socket")) == len(calls_of(records, "settimeout")) == 800
    assert len(calls_of(records, "close")) == 800


def test_implicit_close_at_exit_and_by_gc(netns, tmp_path):
    out, records = run(netns, tmp_path, """
        import socket
        kept = socket.socket()              # never closed: the kernel closes it at exit
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM)   # dropped at once: closed by the GC
        print(kept.fileno())
    """)
    closes = {r["fd"]: r["args"] for r in calls_of(records, "close")}
    assert closes == {3: "'at exit'", 4: "'garbage collected'"}


def test_a_recv_loop_spinning_on_eof_is_recorded_three_times_then_counted(netns, tmp_path):
    """`while len(x) < n: x += s.recv(..)` after the peer closed: b'' a million times a second.
    The first three EOFs are recorded, the rest counted on the close record; data after a spin
    (recv_into, another socket) is recorded as ever, and the program sees every result unchanged."""
    out, records = run(netns, tmp_path, """
        import socket
        srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(2)
        c = socket.create_connection(srv.getsockname())
        conn, _ = srv.accept(); conn.sendall(b'hi'); conn.close()
        got, eofs = b'', 0
        for _ in range(1000):
            data = c.recv(16)
            got += data
            eofs += data == b''
        d = socket.create_connection(srv.getsockname())
        conn2, _ = srv.accept(); conn2.sendall(b'abc')
        buf = bytearray(8)
        print(got, eofs, d.recv_into(buf), bytes(buf[:3]))
        c.close(); d.close(); conn2.close(); srv.close()
    """)
    assert out == ["b'hi' 999 3 b'abc'"]
    cfd = calls_of(records, "connect", "call")[0]["fd"]
    mine = [r["result"] for r in calls_of(records, "recv", "return") if r["fd"] == cfd]
    assert mine == ["2", "b''", "b''", "b''"]
    assert len(calls_of(records, "recv", "call")) == 4
    close = [r for r in calls_of(records, "close") if r["fd"] == cfd]
    assert close[0]["eofs_unrecorded"] == 996
    assert [r["result"] for r in calls_of(records, "recv_into", "return")] == ["3"]


def test_user_program_with_http_client(netns, tmp_path):
    """http.client and http.server go through socket.create_connection and socketserver."""
    out, records = run(netns, tmp_path, """
        import http.client, http.server, threading
        httpd = http.server.HTTPServer(('127.0.0.1', 0), http.server.SimpleHTTPRequestHandler)
        t = threading.Thread(target=httpd.handle_request); t.start()
        conn = http.client.HTTPConnection('127.0.0.1', httpd.server_address[1])
        conn.request('HEAD', '/')
        print(conn.getresponse().status)
        conn.close(); t.join(); httpd.server_close()
    """)
    assert out == ["200"]
    assert [r["phase"] for r in calls_of(records, "connect")] == ["call", "return"]
    assert "IPPROTO_TCP, TCP_NODELAY, 1" in [r["args"] for r in calls_of(records, "setsockopt")]
    assert calls_of(records, "shutdown")[0]["args"] == "SHUT_WR"  # socketserver's shutdown_request
    assert calls_of(records, "sendall") and calls_of(records, "recv_into")


def test_chains_the_sitecustomize_it_shadows(netns, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "sitecustomize.py").write_text("import builtins\nbuiltins.SYNACK_CHAINED = True\n")
    out, records = run(netns, tmp_path, """
        import socket
        print(SYNACK_CHAINED, socket.socket.__mro__[1].__module__)
    """, extra_path=other)
    assert out == ["True socket"]
