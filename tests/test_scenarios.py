"""Every built-in scenario, run for real: server and client in one fresh network namespace
on loopback, the socket-call recorder on, then the programs' output and the recorded calls
checked against what the lecture program does."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tracer import scenarios
from viz.errors import SynackError

ROOT = Path(__file__).resolve().parents[1]
CALLREC = ROOT / "tracer" / "callrec"
MESSAGE = "This is the message."

needs_netns = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2 (network namespaces)"
)


@pytest.fixture
def netns(request):
    """A fresh namespace per test: a server that closed first leaves TIME_WAIT behind on its port."""
    name = f"synack-test-{os.getpid()}-{abs(hash(request.node.name)) % 10**6}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


class Run:
    def __init__(self, client, server, calls):
        self.client = client
        self.server = server
        self.calls = calls

    def of(self, host, call=None, phase=None):
        return [c for c in self.calls
                if c["host"] == host and (call is None or c["call"] == call)
                and (phase is None or c["phase"] == phase)]


def run_scenario(ns, tmp_path, name, timeout=30, **options) -> Run:
    """Start the server, wait for its recorded listen()/bind() (the readiness signal), run the client."""
    sc = scenarios.get(name)
    opts = scenarios.Options(**options)
    calls = tmp_path / f"{name}.calls.jsonl"
    env = dict(os.environ, **sc.env(opts),
               SYNACK_SERVER_HOST="::1" if opts.ipv6 else "127.0.0.1",
               SYNACK_CALLS=str(calls), PYTHONPATH=str(CALLREC))

    def records():
        if not calls.exists():
            return []
        return [json.loads(line) for line in calls.read_text().splitlines()]

    server = None
    argv = sc.server_argv(opts)
    if argv is not None:
        server = subprocess.Popen(["ip", "netns", "exec", ns, *argv], env=dict(env, SYNACK_HOST="server"),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout
        while not any(r["call"] == sc.ready and r["host"] == "server" and not r["error"] for r in records()):
            assert server.poll() is None, f"{name} server exited early: {server.communicate()}"
            assert time.monotonic() < deadline, f"{name} server never reached {sc.ready}()"
            time.sleep(0.005)
    try:
        client = subprocess.run(["ip", "netns", "exec", ns, *sc.client_argv(opts)],
                                env=dict(env, SYNACK_HOST="client"), capture_output=True, text=True,
                                timeout=timeout)
        if server is not None:
            out, err = server.communicate(timeout=timeout)
            server = subprocess.CompletedProcess(argv, server.returncode, out, err)
    finally:
        if isinstance(server, subprocess.Popen) and server.poll() is None:
            server.kill()
            server.wait()
    assert client.returncode == 0, f"{name} client failed: {client.stderr}"
    if server is not None:
        assert server.returncode == 0, f"{name} server failed: {server.stderr}"
    recs = records()
    for r in recs:
        accepted = r["call"] == "accept" and r["phase"] == "return" and not r["error"]
        assert set(r) == {"ts", "host", "pid", "fd", "call", "phase", "args", "result", "error",
                          *(["new_fd"] if accepted else [])}  # accept's return names the new socket
        if accepted:
            assert isinstance(r["new_fd"], int) and r["new_fd"] >= 0
    return Run(client, server, recs)


def results(calls):
    return [c["result"] for c in calls if c["phase"] == "return"]


def assert_connected(run, port):
    connect = run.of("client", "connect")
    assert [c["phase"] for c in connect[:2]] == ["call", "return"]
    assert connect[0]["args"].endswith(f", {port})") or f", {port}," in connect[0]["args"]
    assert connect[1]["error"] == ""
    accept = run.of("server", "accept", "return")
    assert accept and accept[0]["error"] == "" and accept[0]["result"].startswith("(")


def assert_closed(run, host):
    closes = run.of(host, "close")
    assert closes and all(c["phase"] == "return" and isinstance(c["fd"], int) and c["fd"] >= 0 for c in closes)


def test_registry_shape():
    names = scenarios.names()
    assert names[0] == scenarios.DEFAULT == "tcp-echo"
    assert set(names) == {
        "tcp-echo", "tcp-hello", "tcp-time", "tcp-upper", "udp-upper", "udp-spew", "socketserver-tcp",
        "socketserver-udp", "threading-tcp", "forking-tcp", "half-close", "refused", "http-get", "bulk",
        "udp-timeout", "reuseaddr", "ping", "traceroute", "dns",  # ICMP and DNS: test_icmp.py
        "lost-segment", "fast-retransmit", "lost-ack", "zero-window", "syn-retry",  # faults: test_faults.py
        "slow-start", "sawtooth", "sliding-window"}  # congestion and flow control: test_cc.py
    for sc in scenarios.all():
        assert os.path.isfile(sc.path), sc.path
        assert sc.transport in ("tcp", "udp", "icmp")
        if sc.has_server:
            assert sc.ready == ("bind" if sc.transport == "udp" else "listen")
        else:  # the server host's kernel answers (refused, ping, traceroute)
            assert sc.ready is None
        assert sc.description and "\n" not in sc.description and sc.seed
        argv = sc.client_argv(scenarios.Options())
        assert argv[-2:] == [sc.path, "client"]
    assert scenarios.get("refused").server_argv(scenarios.Options()) is None
    assert scenarios.get("http-get").default_port == 80


def test_unknown_scenario_lists_known_names():
    with pytest.raises(SynackError) as exc:
        scenarios.get("tcp-ecko")
    assert "tcp-ecko" in str(exc.value) and "tcp-echo" in str(exc.value) and "reuseaddr" in str(exc.value)


def test_env_carries_options():
    sc = scenarios.get("threading-tcp")
    env = sc.env(scenarios.Options(message="hi", port=7000, client_port=40000, clients=5, ipv6=True))
    assert env == {"SYNACK_SERVER_PORT": "7000", "SYNACK_CLIENT_PORT": "40000", "SYNACK_MESSAGE": "hi",
                   "SYNACK_CLIENTS": "5", "SYNACK_BYTES": "1000000", "SYNACK_IPV6": "1"}
    assert sc.env(scenarios.Options())["SYNACK_SERVER_PORT"] == "2345"
    assert sc.env(scenarios.Options())["SYNACK_CLIENT_PORT"] == ""


def test_scenarios_command_lists_every_scenario(capsys):
    import argparse

    from tracer.commands import scenarios as command

    parser = argparse.ArgumentParser()
    command.register(parser.add_subparsers())
    args = parser.parse_args(["scenarios"])
    assert args.run(args) == 0
    out = capsys.readouterr().out
    for sc in scenarios.all():
        line = next(ln for ln in out.splitlines() if ln.startswith(sc.name + " "))
        assert sc.transport in line and sc.description in line and sc.seed in line


@needs_netns
def test_tcp_echo(netns, tmp_path):
    run = run_scenario(netns, tmp_path, "tcp-echo", client_port=40000)
    assert f"received {MESSAGE}" in run.client.stdout
    assert "received b'This is the mess'" in run.server.stdout
    assert_connected(run, 10000)
    assert run.of("client", "bind")[0]["args"] == "('', 40000)"
    sendall = run.of("client", "sendall")
    assert [(c["phase"], c["args"]) for c in sendall] == [("call", "20"), ("return", "20")]
    assert results(run.of("server", "recv")) == ["16", "4", "b''"]
    assert [c["args"] for c in run.of("server", "sendall", "return")] == ["16", "4"]
    assert sum(int(r) for r in results(run.of("client", "recv"))) == 20
    assert run.of("server", "accept", "return")[0]["result"] == "('127.0.0.1', 40000)"
    assert_closed(run, "client")
    assert_closed(run, "server")
    # the client closes first: its close() comes before the server's empty read returns
    client_close = run.of("client", "close")[0]["ts"]
    eof = [c for c in run.of("server", "recv", "return") if c["result"] == "b''"][0]["ts"]
    assert client_close <= eof


@needs_netns
def test_tcp_hello(netns, tmp_path):
    run = run_scenario(netns, tmp_path, "tcp-hello")
    peer = run.of("server", "accept", "return")[0]["result"]
    assert f"received Hello {peer}" in run.client.stdout
    assert_connected(run, 9000)
    assert results(run.of("client", "recv"))[-1] == "b''"
    assert run.of("server", "send", "return")[0]["result"] == str(len("Hello " + peer))


@needs_netns
def test_tcp_time(netns, tmp_path):
    run = run_scenario(netns, tmp_path, "tcp-time")
    assert re.search(r"The time is \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}", run.client.stdout)
    assert results(run.of("client", "recv"))[-1] == "b''"
    assert int(run.of("server", "send", "return")[0]["result"]) == 24


@needs_netns
def test_tcp_upper(netns, tmp_path):
    run = run_scenario(netns, tmp_path, "tcp-upper", message="hello, upper world")
    assert "From Server: HELLO, UPPER WORLD" in run.client.stdout
    assert run.of("client", "send", "return")[0]["result"] == "18"
    assert run.of("server", "recv", "return")[0]["result"] == "18"


@needs_netns
def test_udp_upper(netns, tmp_path):
    run = run_scenario(netns, tmp_path, "udp-upper")
    port = int(re.search(r"using \('0\.0\.0\.0', (\d+)\)", run.client.stdout).group(1))
    assert port > 0
    assert f"received THIS IS THE MESSAGE. from ('127.0.0.1', 11111)" in run.client.stdout
    assert run.of("client", "bind")[0]["args"] == "('', 0)"
    assert run.of("client", "getsockname")[0]["result"] == f"('0.0.0.0', {port})"
    assert run.of("client", "sendto", "return")[0]["args"] == "20, ('127.0.0.1', 11111)"
    assert run.of("server", "recvfrom", "return")[0]["result"] == f"20 from ('127.0.0.1', {port})"
    assert run.of("client", "recvfrom", "return")[0]["result"] == "20 from ('127.0.0.1', 11111)"


@needs_netns
def test_udp_spew(netns, tmp_path):
    run = run_scenario(netns, tmp_path, "udp-spew")
    assert run.server.stdout.splitlines()[1:] == ["This is ", "the mess", "age."]
    assert [c["args"].split(",")[0] for c in run.of("client", "sendto", "return")] == ["8", "8", "4"]
    assert [r.split()[0] for r in results(run.of("server", "recvfrom"))] == ["8", "8", "4"]


@needs_netns
def test_socketserver_tcp(netns, tmp_path):
    run = run_scenario(netns, tmp_path, "socketserver-tcp")
    assert "THIS IS THE MESSAGE." in run.client.stdout
    assert run.of("client", "send", "return")[0]["result"] == "22"  # message + CRLF
    # rfile.readline() reads through the socket's makefile: recv_into on the connection socket
    reads = run.of("server", "recv_into", "return")
    assert reads and reads[0]["result"] == "22"
    conn_fd = reads[0]["fd"]
    assert run.of("server", "shutdown")[0]["args"] == "SHUT_WR"  # socketserver's shutdown_request()
    # the makefile objects and the socket close once, recorded with the socket's fd
    assert [c["fd"] for c in run.of("server", "close")].count(conn_fd) == 1


@needs_netns
def test_socketserver_udp(netns, tmp_path):
    run = run_scenario(netns, tmp_path, "socketserver-udp")
    assert "Recv: THIS IS THE MESSAGE." in run.client.stdout
    assert run.server.stdout.strip() == MESSAGE
    assert run.of("server", "recvfrom", "return")[0]["result"].startswith("20 from ('127.0.0.1', ")
    assert run.of("server", "sendto", "return")[0]["result"] == "20"


def _client_ports(stdout):
    return [int(p) for p in re.findall(r"client \d+ using \('127\.0\.0\.1', (\d+)\)", stdout)]


@needs_netns
def test_threading_tcp(netns, tmp_path):
    run = run_scenario(netns, tmp_path, "threading-tcp", clients=4)
    ports = _client_ports(run.client.stdout)
    assert len(ports) == len(set(ports)) == 4
    assert run.client.stdout.count(f"received THIS IS THE MESSAGE.") == 4
    peers = {c["result"] for c in run.of("server", "accept", "return")}
    assert peers == {f"('127.0.0.1', {p})" for p in ports}
    assert results(run.of("server", "recv")).count("b''") == 4  # each connection read to EOF
    assert len({c["pid"] for c in run.calls if c["host"] == "server"}) == 1  # threads, one process


@needs_netns
def test_forking_tcp(netns, tmp_path):
    run = run_scenario(netns, tmp_path, "forking-tcp", clients=3, client_port=41000)
    assert sorted(_client_ports(run.client.stdout)) == [41000, 41001, 41002]
    parent = run.of("server", "listen")[0]["pid"]
    handler_pids = {c["pid"] for c in run.of("server", "recv")}
    assert len(handler_pids) == 3 and parent not in handler_pids  # each child records with its own pid
    assert results(run.of("server", "recv")).count("b''") == 3


@needs_netns
def test_half_close(netns, tmp_path):
    run = run_scenario(netns, tmp_path, "half-close")
    assert "received THIS IS THE MESSAGE." in run.client.stdout
    shutdown = run.of("client", "shutdown")
    assert shutdown[0]["args"] == "SHUT_WR"
    later_recv = [c for c in run.of("client", "recv", "return") if c["ts"] > shutdown[0]["ts"]]
    assert [c["result"] for c in later_recv] == ["20", "b''"]  # data after our own FIN
    server_eof = [c for c in run.of("server", "recv", "return") if c["result"] == "b''"][0]
    assert server_eof["ts"] < run.of("server", "sendall", "call")[0]["ts"]


@needs_netns
def test_refused(netns, tmp_path):
    run = run_scenario(netns, tmp_path, "refused")
    assert run.server is None
    assert "ECONNREFUSED" in run.client.stdout
    connect = run.of("client", "connect")
    assert [c["phase"] for c in connect] == ["call", "return"]
    assert connect[1]["error"].startswith("ConnectionRefusedError: [Errno 111]")
    assert_closed(run, "client")


@needs_netns
def test_http_get(netns, tmp_path):
    run = run_scenario(netns, tmp_path, "http-get")
    assert run.client.stdout.startswith("HTTP/1.0 200 OK\n")
    assert "<h1>Hello from the server</h1>" in run.client.stdout
    assert run.of("server", "bind")[0]["args"] == "('', 80)"
    assert run.of("server", "setsockopt")[0]["args"] == "SOL_SOCKET, SO_REUSEADDR, 1"  # HTTPServer sets it
    request = run.of("client", "sendall", "return")[0]["args"]
    assert int(request) == len("GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    assert results(run.of("client", "recv"))[-1] == "b''"


@needs_netns
def test_bulk(netns, tmp_path):
    run = run_scenario(netns, tmp_path, "bulk", bytes=300_000)
    assert "received 300000 bytes" in run.client.stdout
    assert run.of("client", "sendall", "call")[0]["args"] == "300000"
    reads = results(run.of("server", "recv"))
    assert reads[-1] == "b''" and sum(int(r) for r in reads[:-1]) == 300_000
    assert run.of("client", "shutdown")[0]["args"] == "SHUT_WR"


@needs_netns
def test_udp_timeout(netns, tmp_path):
    run = run_scenario(netns, tmp_path, "udp-timeout")
    assert "timed out" in run.client.stdout and "received THIS IS THE MESSAGE." in run.client.stdout
    assert run.of("client", "settimeout")[0]["args"] == "0.5"
    waits = run.of("client", "recvfrom", "return")
    assert waits[0]["error"] == "TimeoutError: timed out" and waits[0]["result"] == ""
    assert waits[1]["error"] == "" and waits[1]["result"].startswith("20 from")
    assert len(run.of("client", "sendto", "return")) == 2
    assert waits[0]["ts"] - run.of("client", "recvfrom", "call")[0]["ts"] >= 0.45


@needs_netns
def test_reuseaddr(netns, tmp_path):
    run = run_scenario(netns, tmp_path, "reuseaddr")
    assert "bind failed: [Errno 98] Address already in use (EADDRINUSE)" in run.server.stdout
    assert "bind succeeded with SO_REUSEADDR" in run.server.stdout
    assert "client 1 received" in run.client.stdout and "client 2 received" in run.client.stdout
    binds = run.of("server", "bind")
    assert [b["error"].split(":")[0] for b in binds] == ["", "OSError", ""]
    assert "Errno 98" in binds[1]["error"]
    assert len(run.of("server", "accept", "return")) == 2


TRANSPORT_CHECKS = {
    "tcp-echo": "received This is the message.",
    "tcp-upper": "From Server: THIS IS THE MESSAGE.",
    "udp-upper": "received THIS IS THE MESSAGE. from ('::1', 11111, 0, 0)",
    "udp-spew": None,
    "socketserver-tcp": "THIS IS THE MESSAGE.",
    "socketserver-udp": "Recv: THIS IS THE MESSAGE.",
    "threading-tcp": "client 2 received THIS IS THE MESSAGE.",
    "forking-tcp": "client 2 received THIS IS THE MESSAGE.",
    "half-close": "received THIS IS THE MESSAGE.",
    "refused": "ECONNREFUSED",
    "http-get": "HTTP/1.0 200 OK",
    "bulk": "received 100000 bytes",
    "udp-timeout": "received THIS IS THE MESSAGE.",
    "reuseaddr": "client 2 received",
    "tcp-hello": "received Hello ('::1', ",
    "tcp-time": "The time is ",
    "dns": "www.example.test: 2001:db8::80 (TTL 300)",
    "sliding-window": "received 200000 bytes",
}


@needs_netns
@pytest.mark.parametrize("name", [n for n in scenarios.names() if not scenarios.get(n).faults
                                  and scenarios.get(n).transport != "icmp" and "ipv6" in scenarios.get(n).options])
def test_ipv6(netns, tmp_path, name):
    run = run_scenario(netns, tmp_path, name, ipv6=True, bytes=100_000)
    assert all(c["args"] == "AF_INET6, " + c["args"].split(", ")[1] for c in run.calls if c["call"] == "socket")
    expected = TRANSPORT_CHECKS[name]
    if expected is None:
        assert run.server.stdout.splitlines()[1:] == ["This is ", "the mess", "age."]
    else:
        assert expected in run.client.stdout
    binds = [c for c in run.calls if c["call"] == "bind" and c["host"] == "server"]
    assert all(b["args"].startswith("('::', ") for b in binds)
