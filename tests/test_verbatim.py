"""Lecture code exactly as typed: localhost/127.0.0.1, fixed ports, `while True` servers, in two hosts.

The programs in tests/programs/ know nothing of synack.  Each pair is traced
in the default veth mode; tshark is the witness that the frames on the link
are the real conversation between 192.0.2.1 and 192.0.2.2 (never a loopback
address), with handshake, data and teardown.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import ROOT, needs_root
from tracer import scenarios
from tracer.run import Programs, trace
from viz.capture import open_capture
from viz.errors import SynackError

pytestmark = [needs_root, pytest.mark.netns]
PY = sys.executable
PROGRAMS = Path(__file__).parent / "programs"


@pytest.fixture
def progs():
    """tests/programs copied where nobody (who runs the programs) can read them."""
    d = tempfile.mkdtemp(prefix="synack-verbatim-")
    os.chmod(d, 0o755)
    for p in PROGRAMS.iterdir():
        shutil.copy(p, d)
        os.chmod(os.path.join(d, p.name), 0o644)
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


def tshark(path: str, *fields: str, filt: str | None = None) -> list[list[str]]:
    args = ["tshark", "-r", path, "-T", "fields"] + (["-Y", filt] if filt else [])
    for f in fields:
        args += ["-e", f]
    res = subprocess.run(args, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return [line.split("\t") for line in res.stdout.splitlines()]


def meta(path: str) -> dict:
    with open_capture(path) as cap:
        return cap.meta


def check_tcp(path: str, port: int, c2s: bytes, s2c_prefix: bytes) -> list[list[str]]:
    """Handshake, data and teardown between the two hosts on `port`, per tshark."""
    rows = tshark(path, "ip.src", "ip.dst", "tcp.srcport", "tcp.dstport", "tcp.flags", "tcp.payload",
                  "frame.comment", filt="tcp")
    assert rows, "no TCP frames"
    assert {(r[0], r[1]) for r in rows} == {("192.0.2.1", "192.0.2.2"), ("192.0.2.2", "192.0.2.1")}
    flags = [int(r[4], 16) for r in rows]
    assert flags[:3] == [0x002, 0x012, 0x010]  # SYN, SYN/ACK, ACK
    assert rows[0][3] == str(port)
    sent = b"".join(bytes.fromhex(r[5].replace(":", "")) for r in rows if r[0] == "192.0.2.1")
    back = b"".join(bytes.fromhex(r[5].replace(":", "")) for r in rows if r[0] == "192.0.2.2")
    assert sent == c2s and back.startswith(s2c_prefix)
    fins = {r[0] for r, f in zip(rows, flags) if f & 0x001}
    assert fins == {"192.0.2.1", "192.0.2.2"}  # a FIN each way
    assert flags[-1] == 0x010  # the last ACK
    assert rows[0][6].startswith("client: connect(")
    return rows


CASES = [
    # (server, client, port, client sends, server's reply starts with, what the client named)
    ("echo_server.py", "echo_client.py", 10000, b"This is the message.", b"This is the message.",
     "localhost:10000"),
    ("hello_server.py", "hello_client.py", 9000, b"", b"Hello 192.0.2.1", "localhost:9000"),
    ("time_server.py", "time_client.py", 21567, b"", b"", "127.0.0.1:21567"),
    ("upper_tcp_server.py", "upper_tcp_client.py", 12000, b"input lowercase sentence",
     b"INPUT LOWERCASE SENTENCE", "localhost:12000"),
]


@pytest.mark.parametrize("server,client,port,c2s,s2c,named", CASES, ids=[c[0].split("_server")[0] for c in CASES])
def test_lecture_tcp_pair_verbatim(progs, tmp_path, leak_check, server, client, port, c2s, s2c, named):
    out = str(tmp_path / "v.pcapng")
    r = trace(Programs(client=[PY, str(progs / client)], server=[PY, str(progs / server)]), None, out)
    assert r.complete, r.incomplete_reason
    check_tcp(out, port, c2s, s2c)
    m = meta(out)
    assert m["options"]["port"] == port  # found from the server's socket: no --port given
    assert m["localhost"]["client"] == [named]
    assert f"client connected to {named}, redirected to the server host 192.0.2.2" in r.notes
    assert any("stopped by synack" in n for n in r.notes)
    assert r.unrecorded == ()  # the while-True server: a note, not an error
    assert r.failures == ()
    assert any(f"port {port} found from its sockets (no --port given)" in n for n in r.notes)


def test_udp_upper_verbatim_with_loopback_bound_client(progs, tmp_path, leak_check):
    """seed 001's UDP pair: both ends bind 127.0.0.1; the datagrams still cross the link."""
    out = str(tmp_path / "u.pcapng")
    r = trace(Programs(client=[PY, str(progs / "upper_udp_client.py")],
                       server=[PY, str(progs / "upper_udp_server.py")]), None, out)
    assert r.complete, r.incomplete_reason
    rows = tshark(out, "ip.src", "ip.dst", "udp.srcport", "udp.dstport", "udp.payload", filt="udp")
    assert [(x[0], x[1], bytes.fromhex(x[4].replace(":", ""))) for x in rows] == [
        ("192.0.2.1", "192.0.2.2", b"MixedCaseString"), ("192.0.2.2", "192.0.2.1", b"MIXEDCASESTRING")]
    assert rows[0][3] == "11111" and rows[1][2] == "11111"
    assert "received b'MIXEDCASESTRING' from ('127.0.0.1', 11111)" in r.client_output  # the program's view
    assert meta(out)["localhost"]["server"] == ["127.0.0.1:11111"]


def test_ipv6_localhost_by_name(progs, tmp_path, leak_check):
    """--ipv6: the name localhost is the server host (IPv6 cannot NAT ::1 across a link)."""
    for name in ("echo_server.py", "echo_client.py"):
        text = (progs / name).read_text().replace("socket.AF_INET,", "socket.AF_INET6,")
        (progs / ("v6" + name)).write_text(text)
        os.chmod(progs / ("v6" + name), 0o644)
    out = str(tmp_path / "v6.pcapng")
    r = trace(Programs(client=[PY, str(progs / "v6echo_client.py")], server=[PY, str(progs / "v6echo_server.py")]),
              scenarios.Options(ipv6=True), out)
    assert r.complete, r.incomplete_reason
    rows = tshark(out, "ipv6.src", "ipv6.dst", "tcp.flags", filt="tcp")
    assert {(x[0], x[1]) for x in rows} == {("2001:db8::1", "2001:db8::2"), ("2001:db8::2", "2001:db8::1")}
    assert [int(x[2], 16) for x in rows[:3]] == [0x002, 0x012, 0x010]


def v6_literal(progs, name: str) -> Path:
    """The program with IPv6's loopback typed in: AF_INET6 and '::1' for localhost/127.0.0.1."""
    text = re.sub(r"\bAF_INET\b", "AF_INET6", (progs / name).read_text())
    text = text.replace("'localhost'", "'::1'").replace("'127.0.0.1'", "'::1'")
    (progs / ("v6lit_" + name)).write_text(text)
    os.chmod(progs / ("v6lit_" + name), 0o644)
    return progs / ("v6lit_" + name)


def test_ipv6_loopback_literal_on_both_sides(progs, tmp_path, leak_check):
    """--ipv6 with ::1 typed in the client and bound by the server: NAT plus a tc redirect to lo
    (the kernel routes ::1 only on lo), and the frames on the link are 2001:db8::1 <-> ::2."""
    out = str(tmp_path / "v6lit.pcapng")
    r = trace(Programs(client=[PY, str(v6_literal(progs, "echo_client.py"))],
                       server=[PY, str(v6_literal(progs, "echo_server.py"))]), scenarios.Options(ipv6=True), out)
    assert r.complete, r.incomplete_reason
    rows = tshark(out, "ipv6.src", "ipv6.dst", "tcp.flags", "tcp.payload", filt="tcp")
    assert {(x[0], x[1]) for x in rows} == {("2001:db8::1", "2001:db8::2"), ("2001:db8::2", "2001:db8::1")}
    flags = [int(x[2], 16) for x in rows]
    assert flags[:3] == [0x002, 0x012, 0x010] and flags[-1] == 0x010
    assert {x[0] for x, f in zip(rows, flags) if f & 0x001} == {"2001:db8::1", "2001:db8::2"}
    sent = b"".join(bytes.fromhex(x[3].replace(":", "")) for x in rows if x[0] == "2001:db8::1")
    assert sent == b"This is the message."
    assert "received  This is the message." in r.client_output
    assert "client connected to [::1]:10000, redirected to the server host 2001:db8::2" in r.notes
    assert "server bound [::1]:10000; arriving TCP for port 10000 is delivered there" in r.notes
    assert meta(out)["localhost"]["server"] == ["::1:10000"]

    out = str(tmp_path / "v6udp.pcapng")
    r = trace(Programs(client=[PY, str(v6_literal(progs, "upper_udp_client.py"))],
                       server=[PY, str(v6_literal(progs, "upper_udp_server.py"))]), scenarios.Options(ipv6=True), out)
    assert r.complete, r.incomplete_reason
    rows = tshark(out, "ipv6.src", "ipv6.dst", "udp.payload", filt="udp")
    assert [(x[0], x[1], bytes.fromhex(x[2].replace(":", ""))) for x in rows] == [
        ("2001:db8::1", "2001:db8::2", b"MixedCaseString"), ("2001:db8::2", "2001:db8::1", b"MIXEDCASESTRING")]
    assert "received b'MIXEDCASESTRING' from ('::1', 11111, 0, 0)" in r.client_output


def test_ipv6_loopback_literal_to_a_closed_port_is_refused(progs, tmp_path, leak_check):
    """The server host's RST reaches the ::1 client too (moved to lo with the rest)."""
    bad = v6_literal(progs, "echo_client.py")
    bad.write_text(bad.read_text().replace("10000", "10001"))
    r = trace(Programs(client=[PY, str(bad)], server=[PY, str(v6_literal(progs, "echo_server.py"))]),
              scenarios.Options(ipv6=True), str(tmp_path / "v6refused.pcapng"))
    assert r.client_status == 1
    assert "ConnectionRefusedError" in "\n".join(r.failures)
    rows = tshark(r.path, "ipv6.src", "tcp.flags", filt="tcp")
    assert [(x[0], int(x[1], 16) & 0x004) for x in rows][:2] == [("2001:db8::1", 0), ("2001:db8::2", 0x004)]


def test_ipv6_loopback_literal_udp_to_a_closed_port_is_refused(progs, tmp_path, leak_check):
    """A connected UDP client of ::1 hears the server host's ICMPv6 port unreachable (ECONNREFUSED)."""
    cli = progs / "v6udp_refused.py"
    cli.write_text("import socket\ns = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\ns.settimeout(3)\n"
                   "s.connect(('::1', 11112))\ns.send(b'x')\ntry:\n    s.recv(10)\n"
                   "except OSError as e:\n    print(type(e).__name__)\n")
    os.chmod(cli, 0o644)
    r = trace(Programs(client=[PY, str(cli)], server=[PY, str(v6_literal(progs, "upper_udp_server.py"))]),
              scenarios.Options(ipv6=True), str(tmp_path / "v6udp_refused.pcapng"))
    assert r.client_output.strip() == "ConnectionRefusedError", r.client_output
    rows = tshark(r.path, "ipv6.src", "icmpv6.type", filt="icmpv6.type == 1")
    assert len(rows) == 1 and rows[0][0].split(",")[0] == "2001:db8::2"


def test_ipv6_code_without_ipv6_gets_a_hint(progs, tmp_path, leak_check):
    """The default hosts have no IPv6: a server binding ::1 fails with its own traceback and the fix."""
    with pytest.raises(SynackError) as exc:
        trace(Programs(client=[PY, str(progs / "echo_client.py")], server=[PY, str(v6_literal(progs, "echo_server.py"))]),
              None, str(tmp_path / "nov6.pcapng"))
    text = str(exc.value)
    assert "OSError: [Errno 99] Cannot assign requested address" in text
    assert text.splitlines()[-1] == ("hint: IPv6: the hosts have IPv6 addresses only with --ipv6 (2001:db8::1 and "
                                     "2001:db8::2); there ::1 and the name localhost reach the server host as "
                                     "127.0.0.1 does here")


def test_connection_to_a_closed_port_is_refused_by_the_server_host(progs, tmp_path, leak_check):
    """The kernel's real RST: from 192.0.2.2, and the client's own traceback with a hint."""
    bad = (progs / "echo_client.py").read_text().replace("10000", "10001")
    (progs / "bad_client.py").write_text(bad)
    os.chmod(progs / "bad_client.py", 0o644)
    out = str(tmp_path / "refused.pcapng")
    r = trace(Programs(client=[PY, str(progs / "bad_client.py")], server=[PY, str(progs / "echo_server.py")]),
              None, out)
    assert not r.complete
    assert r.incomplete_reason == "client exited with status 1 (ConnectionRefusedError: [Errno 111] Connection refused)"
    rows = tshark(out, "ip.src", "ip.dst", "tcp.flags", filt="tcp")
    assert [(x[0], int(x[2], 16) & 0x17) for x in rows] == [("192.0.2.1", 0x02), ("192.0.2.2", 0x14)]
    (block,) = r.failures
    lines = block.splitlines()
    assert lines[0] == f"client {PY} {progs / 'bad_client.py'} exited with status 1:"
    assert lines[1] == "  Traceback (most recent call last):"
    assert f'    File "{progs / "bad_client.py"}", line 9, in <module>' in lines
    assert "  ConnectionRefusedError: [Errno 111] Connection refused" in lines
    assert "sitecustomize" not in block  # the recorder's frames are not the program's
    assert lines[-1] == ("hint: the connection was refused: the server host is 192.0.2.2 (the name `server`), "
                         "and localhost/127.0.0.1 reaches it, but nothing listened on the port the client used; "
                         "the server listens on TCP 127.0.0.1:10000")


def test_address_in_use_hint(progs, tmp_path, leak_check):
    srv = progs / "inuse.py"
    srv.write_text("import socket\na = socket.socket(); a.bind(('', 10000)); a.listen()\n"
                   "b = socket.socket(); b.bind(('', 10000))\n")
    os.chmod(srv, 0o644)
    r = trace(Programs(client=[PY, str(progs / "echo_client.py")], server=[PY, str(srv)]), None,
              str(tmp_path / "x.pcapng"))
    server_block = next(b for b in r.failures if b.startswith("server "))
    assert "  OSError: [Errno 98] Address already in use" in server_block.splitlines()
    assert server_block.splitlines()[-1].startswith("hint: address already in use:")
    assert "SO_REUSEADDR" in server_block.splitlines()[-1]


def test_server_that_never_listens_names_the_port(progs, tmp_path, leak_check):
    srv = progs / "sleepy.py"
    srv.write_text("import sys, time\nprint('starting', file=sys.stderr)\ntime.sleep(60)\n")
    os.chmod(srv, 0o644)
    with pytest.raises(SynackError) as err:
        trace(Programs(client=[PY, str(progs / "echo_client.py")], server=[PY, str(srv)]),
              scenarios.Options(port=10000), str(tmp_path / "x.pcapng"), timeout=2)
    assert str(err.value).splitlines()[0] == (
        f"server {PY} {srv} was not ready within the timeout: it never listened on port 10000 (waited for "
        "its listen() call); a server must bind() and listen() (TCP) or bind() (UDP) before the client starts")
    assert str(err.value).splitlines()[1:] == ["  starting"]  # what it printed, as it printed it


@pytest.mark.skipif(not shutil.which("gcc") or not shutil.which("strace"), reason="needs gcc and strace")
def test_c_echo_pair_compiled_here(progs, tmp_path, leak_check):
    for name in ("echo_server", "echo_client"):
        subprocess.run(["gcc", "-O2", "-o", str(progs / name), str(progs / f"{name}.c")], check=True)
        os.chmod(progs / name, 0o755)
    out = str(tmp_path / "c.pcapng")
    r = trace(Programs(client=[str(progs / "echo_client")], server=[str(progs / "echo_server")]), None, out)
    assert r.complete, r.incomplete_reason
    assert r.client_output.strip() == "hello from C"
    rows = check_tcp(out, 10000, b"hello from C", b"hello from C")
    assert rows[0][6] == "client: connect(('127.0.0.1', 10000))"  # strace: the address the program used
    data = next(x for x in rows if x[0] == "192.0.2.1" and x[5])
    assert "client: write(12)" in data[6]
    assert meta(out)["localhost"]["server"] == ["127.0.0.1:10000"]


@pytest.mark.skipif(not shutil.which("strace"), reason="needs strace")
def test_shell_client_typed_with_localhost(progs, tmp_path, leak_check):
    """bash's /dev/tcp/localhost/10000 against the seed echo server: the same redirect, recorded by strace."""
    client = ["bash", "-c", 'exec 3<>/dev/tcp/localhost/10000; printf "This is the message." >&3; head -c 20 <&3; '
              "exec 3>&-"]
    out = str(tmp_path / "sh.pcapng")
    r = trace(Programs(client=client, server=[PY, str(progs / "echo_server.py")]), None, out)
    assert r.complete, r.incomplete_reason
    assert r.client_output == "This is the message."
    check_tcp(out, 10000, b"This is the message.", b"This is the message.")
    assert meta(out)["localhost"]["client"] == ["127.0.0.1:10000"]


@pytest.mark.skipif(not shutil.which("curl") or not shutil.which("strace"), reason="needs curl and strace")
def test_curl_against_http_server_calls_land_on_their_frames(progs, tmp_path, leak_check):
    (progs / "index.html").write_text("hello from http.server\n")
    os.chmod(progs / "index.html", 0o644)
    out = str(tmp_path / "http.pcapng")
    r = trace(Programs(client=["curl", "-s", "http://localhost:8000/index.html"],
                       server=[PY, "-m", "http.server", "8000", "--bind", "127.0.0.1", "--directory", str(progs)]),
              None, out)
    assert r.complete, r.incomplete_reason
    assert r.client_output == "hello from http.server\n"
    rows = tshark(out, "ip.src", "tcp.flags", "tcp.len", "frame.comment", filt="tcp")
    flags = [int(x[1], 16) for x in rows]
    assert rows[0][3].startswith("client: connect(('127.0.0.1', 8000))")  # at the SYN
    request = next(x for x in rows if x[0] == "192.0.2.1" and int(x[2]) > 0)
    assert request[3].startswith("client: send(") or request[3].startswith("client: sendto(")
    client_fin = next(x for x, f in zip(rows, flags) if x[0] == "192.0.2.1" and f & 0x001)
    assert "client: close()" in client_fin[3]
    assert any("server: accept()" in x[3] for x in rows)


NC_CLIENT = ["sh", "-c", 'printf "This is the message." | nc -N localhost 10000']  # -N: shutdown at EOF
SOCAT_SERVER = ["socat", "TCP-LISTEN:10000,bind=localhost,reuseaddr,fork", "EXEC:cat"]


def _frame_of(rows: list[list[str]], src: str, flag: int | None = None) -> list[str]:
    """The first frame from `src` with data (flag None) or with `flag` set (rows from check_tcp)."""
    return next(x for x in rows if x[0] == src and (int(x[4], 16) & flag if flag else x[5]))


@pytest.mark.skipif(not shutil.which("nc") or not shutil.which("strace"), reason="needs nc and strace")
def test_nc_client_against_the_seed_echo_server(progs, tmp_path, leak_check):
    """netcat-openbsd's non-blocking connect, write, and shutdown(SHUT_WR) at EOF (-N), from strace."""
    out = str(tmp_path / "nc.pcapng")
    r = trace(Programs(client=NC_CLIENT, server=[PY, str(progs / "echo_server.py")]), None, out)
    assert r.complete, r.incomplete_reason
    assert r.client_output == "This is the message."
    rows = check_tcp(out, 10000, b"This is the message.", b"This is the message.")
    assert rows[0][6] == "client: connect(('127.0.0.1', 10000))"  # at the SYN
    assert "client: write(20)" in _frame_of(rows, "192.0.2.1")[6].split(",")
    assert "client: shutdown(1)" in _frame_of(rows, "192.0.2.1", 0x001)[6].split(",")  # SHUT_WR sends the FIN
    assert "server: close()" in _frame_of(rows, "192.0.2.2", 0x001)[6].split(",")
    assert meta(out)["localhost"]["client"] == ["127.0.0.1:10000"]


@pytest.mark.skipif(not shutil.which("socat") or not shutil.which("strace"), reason="needs socat and strace")
def test_socat_echo_server_against_the_seed_client(progs, tmp_path, leak_check):
    """socat forks a child per connection (a `while True` server, stopped by synack); strace -f follows it."""
    out = str(tmp_path / "socat.pcapng")
    r = trace(Programs(client=[PY, str(progs / "echo_client.py")], server=SOCAT_SERVER), None, out)
    assert r.complete, r.incomplete_reason
    assert "received  This is the message." in r.client_output
    rows = check_tcp(out, 10000, b"This is the message.", b"This is the message.")
    assert rows[0][6] == "client: connect(('localhost', 10000))"
    assert rows[2][6].startswith("server: accept() -> (")  # the handshake's last ACK
    assert rows[2][6].endswith(", ('192.0.2.1', %s))" % rows[0][2])  # the peer is the client host
    assert "server: write(20)" in _frame_of(rows, "192.0.2.2")[6].split(",")
    assert "client: sendall(20)" in _frame_of(rows, "192.0.2.1")[6].split(",")
    server_fin = set(_frame_of(rows, "192.0.2.2", 0x001)[6].split(","))
    assert {"server: shutdown(1)", "server: close()"} & server_fin  # socat half-closes, or closes, as it goes
    assert meta(out)["localhost"]["server"] == ["127.0.0.1:10000"]
    assert any("stopped by synack" in n for n in r.notes)
    assert r.unrecorded == ()


@pytest.mark.skipif(not all(map(shutil.which, ("nc", "socat", "strace"))), reason="needs nc, socat and strace")
def test_nc_client_against_socat_server(tmp_path, leak_check):
    """No Python at all: both ends' calls come from strace, each on its own host's arrows."""
    out = str(tmp_path / "ncsocat.pcapng")
    r = trace(Programs(client=NC_CLIENT, server=SOCAT_SERVER), None, out)
    assert r.complete, r.incomplete_reason
    assert r.client_output == "This is the message."
    rows = check_tcp(out, 10000, b"This is the message.", b"This is the message.")
    assert rows[0][6] == "client: connect(('127.0.0.1', 10000))"
    assert rows[2][6].startswith("server: accept() -> (")
    data_in = _frame_of(rows, "192.0.2.1")[6].split(",")
    assert "client: write(20)" in data_in and "server: read() -> 20" in data_in
    assert "server: write(20)" in _frame_of(rows, "192.0.2.2")[6].split(",")
    client_fin = _frame_of(rows, "192.0.2.1", 0x001)[6].split(",")
    assert "client: shutdown(1)" in client_fin and "server: read() -> b''" in client_fin
    server_fin = _frame_of(rows, "192.0.2.2", 0x001)[6].split(",")
    assert {"server: shutdown(1)", "server: close()"} & set(server_fin)
    m = meta(out)["localhost"]
    assert (m["client"], m["server"]) == (["127.0.0.1:10000"], ["127.0.0.1:10000"])


def test_client_that_forks_children_and_exits(progs, tmp_path, leak_check):
    """The children outlive the client: synack kills them (leak_check: no process left)."""
    cli = progs / "forker.py"
    cli.write_text("import os, time\nfor _ in range(3):\n    if os.fork() == 0:\n        time.sleep(60)\n"
                   "        os._exit(0)\n" + (progs / "echo_client.py").read_text())
    os.chmod(cli, 0o644)
    r = trace(Programs(client=[PY, str(cli)], server=[PY, str(progs / "echo_server.py")]), None,
              str(tmp_path / "f.pcapng"))
    assert r.complete and r.client_status == 0


def test_megabytes_of_output_are_bounded(progs, tmp_path, leak_check):
    from tracer.programs import OUTPUT_KEEP

    cli = progs / "chatty.py"
    cli.write_text("import sys\nfor i in range(400000):\n    sys.stdout.write('x' * 99 + '\\n')\n"
                   + (progs / "echo_client.py").read_text())
    os.chmod(cli, 0o644)
    r = trace(Programs(client=[PY, str(cli)], server=[PY, str(progs / "echo_server.py")]), None,
              str(tmp_path / "m.pcapng"), timeout=60)
    assert r.complete, r.incomplete_reason
    assert len(r.client_output) < 2 * OUTPUT_KEEP + 100
    assert f"[... {40_000_000 + len('sending  This is the message.') + 1 + len('received  This is the message.') + 1 + len('closing socket') + 1 - 2 * OUTPUT_KEEP} bytes of output not kept ...]" in r.client_output
    assert r.client_output.endswith("closing socket\n")


def cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "tracer", "trace", *args], cwd=cwd or ROOT, capture_output=True,
                          text=True, timeout=60, env=dict(os.environ, PYTHONPATH=str(ROOT)))


def one_line_error(res: subprocess.CompletedProcess) -> str:
    assert res.returncode == 2 and res.stdout == "", (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    return lines[0]


def test_bad_commands_are_refused_before_any_host_exists(progs, tmp_path, leak_check):
    out = str(tmp_path / "never.pcapng")
    srv = str(progs / "echo_server.py")
    assert one_line_error(cli("--server", "python9.99 srv.py", "--client", f"{PY} {srv}", "-o", out)) == \
        "synack: error: --server: python9.99: command not found on PATH"
    assert one_line_error(cli("--server", f"{PY} nosuch.py", "--client", f"{PY} {srv}", "-o", out,
                              cwd=str(progs))) == \
        f"synack: error: --server: nosuch.py: no such file (the script of {PY} nosuch.py, looked in {progs})"
    assert one_line_error(cli("--server", f"{PY} {srv}", "--client", "./nosuch-binary", "-o", out)) == \
        "synack: error: --client: ./nosuch-binary: no such file"
    assert not os.path.exists(out)


def test_interpreter_the_programs_user_cannot_run(progs, tmp_path, leak_check):
    """A pyenv-style shim in a private home: a shell script nobody may read (the programs
    run as nobody) is named with its folder and what to do, before anything runs."""
    home = progs / "home"  # progs is world-readable; pytest's tmp_path is under a 0700 folder itself
    (home / "shims").mkdir(parents=True)
    home.chmod(0o700)
    shim = home / "shims" / "python3"
    shim.write_text(f"#!/bin/sh\nexec {PY} \"$@\"\n")
    shim.chmod(0o755)
    srv, client = str(progs / "echo_server.py"), str(progs / "echo_client.py")
    out = str(tmp_path / "never.pcapng")
    line = one_line_error(cli("--server", f"{shim} {srv}", "--client", f"{PY} {client}", "-o", out))
    line = re.sub(r"\(uid \d+\)", "(uid N)", line)
    assert line == (f"synack: error: --server: synack's unprivileged user (uid N), who runs the programs, "
                    f"cannot run {shim} (it is under {home}, mode 0700): use --run-as root, or a program "
                    "synack's unprivileged user can run, "
                    f"e.g. --server '/usr/bin/python3 {srv}'")
    assert not os.path.exists(out)
    # the way out it names works: the same shim as root
    res = cli("--server", f"{shim} {srv}", "--client", f"{PY} {client}", "-o", out, "--run-as", "root")
    assert res.returncode == 0, res.stderr
    assert "handshake yes, data yes, teardown yes" in res.stdout


def test_script_the_programs_user_cannot_read(progs, tmp_path, leak_check):
    private = progs / "private"
    private.mkdir(mode=0o700)
    shutil.copy(progs / "echo_server.py", private / "srv.py")
    res = cli("--server", f"{PY} {private / 'srv.py'}", "--client", f"{PY} {progs / 'echo_client.py'}",
              "-o", str(tmp_path / "x.pcapng"))
    assert re.sub(r"\(uid \d+\)", "(uid N)", one_line_error(res)) == (
        f"synack: error: --server: synack's unprivileged user (uid N), who runs the programs, cannot read "
        f"{private / 'srv.py'} "
        f"(it is under {private}, mode 0700): make it readable (chmod a+r, a+x on its folders) or use --run-as root")


# --- isolation of the programs (PID namespace, environment) -------------------------

def test_a_setsid_child_and_kill_minus_one_reach_nothing_outside(progs, tmp_path, leak_check):
    """The client escapes its session and signals everything its uid may signal; the server
    (same uid) lives on, and the escaped child ends with the client (its PID namespace)."""
    marker = f"60.{os.getpid()}{len(str(tmp_path))}"
    cli = progs / "rogue.py"
    cli.write_text(f"""import os, signal
try:
    os.kill(-1, signal.SIGKILL)  # everything this uid may signal, but for itself
except ProcessLookupError:  # nothing else in its PID namespace
    pass
if os.fork() == 0:
    os.setsid()
    os.execvp("sleep", ["sleep", "{marker}"])
""" + (progs / "echo_client.py").read_text())
    os.chmod(cli, 0o644)
    r = trace(Programs(client=[PY, str(cli)], server=[PY, str(progs / "echo_server.py")]), None,
              str(tmp_path / "rogue.pcapng"))
    assert r.complete, r.incomplete_reason
    assert any("stopped by synack" in n for n in r.notes)
    assert r.unrecorded == ()  # the server was still running at the end
    left = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if f.read() == f"sleep\0{marker}\0".encode():
                        left.append(pid)
            except OSError:
                pass
    assert left == []


def test_programs_get_only_the_environment_they_need(progs, tmp_path, leak_check, monkeypatch):
    monkeypatch.setenv("SYNACK_TEST_SECRET", "do-not-leak")
    monkeypatch.setenv("SSH_AUTH_SOCK", "/tmp/agent.sock")
    cli = progs / "env.py"
    cli.write_text("import os\nprint(' '.join(sorted(os.environ)))\n" + (progs / "echo_client.py").read_text())
    os.chmod(cli, 0o644)
    r = trace(Programs(client=[PY, str(cli)], server=[PY, str(progs / "echo_server.py")]), None,
              str(tmp_path / "env.pcapng"))
    names = set(r.client_output.splitlines()[0].split())
    assert "SSH_AUTH_SOCK" not in names and "SYNACK_TEST_SECRET" not in names
    allowed = {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TERM", "TZ", "PYTHONPATH", "PWD",
               "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "LC_CTYPE"}
    assert {n for n in names if not n.startswith(("SYNACK_", "LC_"))} <= allowed
    assert {"SYNACK_SERVER_HOST", "SYNACK_SERVER_PORT", "PATH", "HOME"} <= names


def test_private_tmp_shows_a_program_only_its_own_files(progs, tmp_path, leak_check):
    """No other trace's files and no call log (its own is passed to it already open): only
    the recorder and the folder of its script remain under its /tmp."""
    cli = progs / "look.py"
    cli.write_text("import os\nfor d, subs, files in os.walk('/tmp'):\n"
                   "    print(d, sorted(subs), sorted(files))\n" + (progs / "echo_client.py").read_text())
    os.chmod(cli, 0o644)
    other = tempfile.mkdtemp(prefix="synack-other-")
    try:
        os.chmod(other, 0o755)
        r = trace(Programs(client=[PY, str(cli)], server=[PY, str(progs / "echo_server.py")]), None,
                  str(tmp_path / "look.pcapng"), private_tmp=True)
    finally:
        shutil.rmtree(other)
    assert r.complete, r.incomplete_reason
    seen = [line for line in r.client_output.splitlines() if line.startswith("/tmp")]
    text = "\n".join(seen)
    assert os.path.basename(other) not in text and "pytest-of" not in text
    assert "client.jsonl" not in text and "server.jsonl" not in text and "sitecustomize.py" in text
    assert any(c["call"] == "connect" for c in meta(r.path)["calls"])  # recorded all the same
    assert str(progs) in text


def test_tmp_is_private_by_default_and_shared_on_request(progs, tmp_path, leak_check):
    """A file the client leaves in /tmp stays in its own tmpfs, unless --shared-tmp."""
    mark = f"/tmp/synack-mark-{os.getpid()}"
    cli = progs / "leave.py"
    cli.write_text(f"open({mark!r}, 'w').write('x')\n" + (progs / "echo_client.py").read_text())
    os.chmod(cli, 0o644)
    try:
        for private in (True, False):
            kw = {} if private else {"private_tmp": False}
            r = trace(Programs(client=[PY, str(cli)], server=[PY, str(progs / "echo_server.py")]), None,
                      str(tmp_path / "leave.pcapng"), **kw)
            assert r.complete, r.incomplete_reason
            assert os.path.exists(mark) is not private
    finally:
        if os.path.exists(mark):
            os.unlink(mark)


def test_localhost_reaches_the_server_across_the_router(progs, tmp_path, leak_check):
    """--topology routed: the same redirect, now to 198.51.100.2 through the router (TTL 63 there)."""
    out = str(tmp_path / "r.pcapng")
    r = trace(Programs(client=[PY, str(progs / "echo_client.py")], server=[PY, str(progs / "echo_server.py")]),
              None, out, topology="routed")
    assert r.complete, r.incomplete_reason
    rows = tshark(r.paths[1], "ip.src", "ip.dst", "ip.ttl", "tcp.flags", filt="tcp")
    assert rows[0] == ["192.0.2.1", "198.51.100.2", "63", "0x0002"]
    assert "client connected to localhost:10000, redirected to the server host 198.51.100.2" in r.notes
