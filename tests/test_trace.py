"""Whole traces: user programs, scenarios, faults, interrupts, cleanup, checked with tshark."""
from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import ROOT, inventory, needs_root, python_for
from tracer import scenarios
from tracer.run import Programs, trace
from viz.capture import open_capture
from viz.errors import SynackError

pytestmark = [needs_root, pytest.mark.netns]
PY = sys.executable

SERVER = """
import os, socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", int(os.environ["SYNACK_SERVER_PORT"])))
s.listen()
c, _ = s.accept()
data = c.recv(100)
c.sendall(data.upper())
c.close()
"""
CLIENT = """
import os, socket
s = socket.create_connection(("server", int(os.environ["SYNACK_SERVER_PORT"])))
s.sendall(b"hello synack")
print(s.recv(100).decode())
s.close()
"""




def tcp_frames(path: str) -> list[dict]:
    """Minimal independent decode of Ethernet/IPv4|IPv6/TCP|UDP frames."""
    out = []
    with open_capture(path) as cap:
        for fr in cap:
            d = fr.data
            et = struct.unpack_from("!H", d, 12)[0]
            if et == 0x0800:
                ihl = (d[14] & 15) * 4
                proto, total = d[23], struct.unpack_from("!H", d, 16)[0]
                l4, l4len, src = 14 + ihl, total - ihl, ".".join(map(str, d[26:30]))
            elif et == 0x86DD:
                proto, l4len, l4, src = d[20], struct.unpack_from("!H", d, 18)[0], 54, d[22:38].hex()
            else:
                out.append({"proto": "other", "comments": fr.comments})
                continue
            f = {"src": src, "comments": fr.comments, "ts": fr.ts}
            if proto == 6:
                sport, dport, seq, ack, off, flags = struct.unpack_from("!HHIIBB", d, l4)
                hl = (off >> 4) * 4
                f.update(proto="tcp", sport=sport, dport=dport, flags=flags, seq=seq,
                         payload=d[l4 + hl: l4 + l4len])
            elif proto == 17:
                f.update(proto="udp", sport=struct.unpack_from("!H", d, l4)[0],
                         dport=struct.unpack_from("!H", d, l4 + 2)[0], payload=d[l4 + 8: l4 + l4len])
            else:
                f["proto"] = str(proto)
            out.append(f)
    return out


def meta(path: str) -> dict:
    with open_capture(path) as cap:
        return cap.meta


def tshark(path: str, *fields: str) -> list[list[str]]:
    args = ["tshark", "-r", path, "-T", "fields"]
    for f in fields:
        args += ["-e", f]
    res = subprocess.run(args, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return [line.split("\t") for line in res.stdout.splitlines()]


def check_tcp_conversation(frames: list[dict], c2s: bytes, s2c: bytes) -> None:
    tcp = [f for f in frames if f["proto"] == "tcp"]
    flags = [f["flags"] for f in tcp]
    assert flags[:3] == [0x02, 0x12, 0x10], [hex(x) for x in flags[:3]]  # SYN, SYN/ACK, ACK
    def end(f: dict) -> tuple:
        return f["src"], f["sport"]
    client = end(tcp[0])
    assert b"".join(f["payload"] for f in tcp if end(f) == client) == c2s
    assert b"".join(f["payload"] for f in tcp if end(f) != client) == s2c
    fins = [f for f in tcp if f["flags"] & 0x01]
    assert {end(f) for f in fins} == {client, end(tcp[1])}  # FIN each way
    assert tcp[-1]["flags"] == 0x10 and end(tcp[-1]) != end(fins[-1])  # last ACK


def test_user_programs(progdir, tmp_path, leak_check):
    srv, cli = progdir("srv.py", SERVER), progdir("cli.py", CLIENT)
    out = str(tmp_path / "user.pcapng")
    r = trace(Programs(client=f"{PY} {cli}", server=f"{PY} {srv}"),
              scenarios.Options(port=5000), out)
    assert r.complete and r.paths == (out,) and r.drops == 0
    assert r.client_output.strip() == "HELLO SYNACK"
    frames = tcp_frames(out)
    assert len(frames) == r.frames
    check_tcp_conversation(frames, b"hello synack", b"HELLO SYNACK")
    assert all(f["dport"] == 5000 or f["sport"] == 5000 for f in frames if f["proto"] == "tcp")
    m = meta(out)
    assert m["scenario"] == "user" and m["complete"] is True and m["kernel_drops"] == 0
    assert m["capture_point"] == "client" and m["options"]["port"] == 5000
    calls = m["calls"]
    assert [c["ts"] for c in calls] == sorted(c["ts"] for c in calls)
    assert {c["host"] for c in calls} == {"client", "server"}
    assert any(c["call"] == "listen" and c["host"] == "server" for c in calls)
    # tshark agrees on the frame count and shows the socket-call comments
    rows = tshark(out, "frame.number", "frame.comment")
    assert len(rows) == len(frames)
    comments = " ".join(r[1] for r in rows)
    assert "client: connect(" in comments and "client: sendall(12)" in comments
    syn = next(i for i, f in enumerate(frames) if f["proto"] == "tcp" and f["flags"] == 0x02)
    assert rows[syn][1].startswith("client: connect(")
    assert r.unrecorded == ()


@pytest.mark.skipif(not shutil.which("strace"), reason="needs strace")
def test_a_program_that_is_not_python_is_recorded_with_strace(progdir, tmp_path, leak_check):
    """bash's /dev/tcp makes the connection CLIENT makes, without Python's socket module:
    strace records its calls, attached to the frames they caused like the Python ones."""
    srv = progdir("srv.py", SERVER)
    client = ["bash", "-c", 'exec 3<>"/dev/tcp/$SYNACK_SERVER_HOST/$SYNACK_SERVER_PORT"; '
              'printf "hello synack" >&3; head -c 12 <&3']
    out = str(tmp_path / "bash.pcapng")
    r = trace(Programs(client=client, server=f"{PY} {srv}"), scenarios.Options(port=5003), out)
    assert r.complete and r.client_output.strip() == "HELLO SYNACK" and r.unrecorded == ()
    check_tcp_conversation(tcp_frames(out), b"hello synack", b"HELLO SYNACK")
    mine = [(c["call"], c["phase"], c["args"], c["result"]) for c in meta(out)["calls"] if c["host"] == "client"]
    assert ("connect", "call", "('192.0.2.2', 5003)", "") in mine
    assert ("write", "call", "12", "") in mine and ("read", "return", "", "12") in mine
    assert [c[0] for c in mine].count("close") == 1  # bash's duplicates of the socket are not FINs
    rows = tshark(out, "frame.number", "frame.comment")
    syn = next(i for i, f in enumerate(tcp_frames(out)) if f["proto"] == "tcp" and f["flags"] == 0x02)
    assert rows[syn][1].startswith("client: connect(")
    assert any("client: write(12)" in row[1] for row in rows)


def test_every_frame_is_wire_sized_with_valid_checksums(tmp_path):
    out = str(tmp_path / "bulk.pcapng")
    r = trace("bulk", scenarios.Options(bytes=300_000), out)
    assert r.complete
    rows = tshark(out, "frame.len", "tcp.checksum.status")
    assert max(int(x[0]) for x in rows) <= 1514
    res = subprocess.run(["tshark", "-r", out, "-o", "tcp.check_checksum:TRUE", "-Y",
                          "tcp.checksum.status != 1"], capture_output=True, text=True)
    assert res.stdout == ""
    frames = tcp_frames(out)
    client = frames[[f["proto"] for f in frames].index("tcp")]["src"]
    assert sum(len(f["payload"]) for f in frames if f["proto"] == "tcp" and f["src"] == client) == 300_000


@pytest.mark.parametrize("name", scenarios.names())
def test_every_scenario_traces_completely(name, tmp_path):
    out = str(tmp_path / f"{name}.pcapng")
    sc = scenarios.get(name)
    r = trace(sc, scenarios.Options(client_port=40000), out)
    assert r.complete, r.incomplete_reason
    frames = tcp_frames(out)
    assert len(frames) == r.frames == len(tshark(out, "frame.number"))
    m = meta(out)
    assert m["scenario"] == name and m["calls"]
    tcp = [f for f in frames if f["proto"] == "tcp"]
    udp = [f for f in frames if f["proto"] == "udp"]
    if name == "refused":
        assert [f["flags"] & 0x17 for f in tcp] == [0x02, 0x14]  # SYN, then RST/ACK
    elif sc.transport == "tcp":
        conns = {(f["sport"], f["dport"]) for f in tcp if f["flags"] == 0x02}
        assert len(conns) == r.conversations >= 1
        assert r.handshake and r.data and r.teardown
        for c in conns:  # every conversation opens with SYN and closes with FINs both ways
            conv = [f for f in tcp if {f["sport"], f["dport"]} == set(c)]
            # one FIN from each side; under load a 20 ms RTO floor may send one of them twice
            fins = {(f["sport"], f["seq"]) for f in conv if f["flags"] & 1}
            assert conv[0]["flags"] == 0x02 and len(fins) == 2 and {p for p, _ in fins} == set(c)
    elif sc.transport == "icmp":  # ping: echo requests and replies only
        assert not udp and not tcp and any(f["proto"] == "1" for f in frames)  # IP protocol 1
    else:
        assert udp and not tcp and r.data
    assert "client: " in " ".join(" ".join(f["comments"]) for f in frames)


def test_at_both_writes_one_capture_per_host(tmp_path):
    out = str(tmp_path / "echo.pcapng")
    r = trace("tcp-echo", scenarios.Options(), out, at="both")
    assert r.paths == (str(tmp_path / "echo.client.pcapng"), str(tmp_path / "echo.server.pcapng"))
    a, b = tcp_frames(r.paths[0]), tcp_frames(r.paths[1])
    assert [f.get("flags") for f in a] == [f.get("flags") for f in b]  # same frames, two views
    assert meta(r.paths[0])["capture_point"] == "client"
    assert meta(r.paths[1])["capture_point"] == "server"
    # the server sees a client frame after the client sent it
    ca = next(f for f in a if f.get("flags") == 0x02)["ts"]
    cb = next(f for f in b if f.get("flags") == 0x02)["ts"]
    assert cb >= ca


def test_loopback_has_no_duplicate_frames(progdir, tmp_path):
    srv = progdir("srv.py", SERVER.replace('("",', '("localhost",'))
    cli = progdir("cli.py", CLIENT.replace('"server"', '"localhost"'))
    out = str(tmp_path / "lo.pcapng")
    r = trace(Programs(client=[PY, cli], server=[PY, srv]), scenarios.Options(port=5001), out,
              net="loopback")
    assert r.complete
    frames = tcp_frames(out)
    assert [f["flags"] for f in frames].count(0x02) == 1
    check_tcp_conversation(frames, b"hello synack", b"HELLO SYNACK")
    assert meta(out)["capture_point"] == "lo"


def test_ipv6_scenario(tmp_path):
    out = str(tmp_path / "v6.pcapng")
    r = trace("tcp-echo", scenarios.Options(ipv6=True), out)
    assert r.complete
    frames = tcp_frames(out)
    # TCP plus ICMPv6: neighbour discovery, and possibly a delayed MLD report
    # (behind a hop-by-hop header, next header 0) from joining the groups
    assert all(f["proto"] in ("tcp", "58", "0") for f in frames)
    check_tcp_conversation(frames, b"This is the message.", b"This is the message.")


# --- faults ------------------------------------------------------------------

def test_server_that_exits_early_is_reported_with_status_and_stderr(progdir, tmp_path, leak_check):
    srv = progdir("bad.py", "import sys\nprint('cannot start: no config', file=sys.stderr)\nsys.exit(3)\n")
    t = time.monotonic()
    with pytest.raises(SynackError, match=r"status 3 before it was ready:\n  cannot start: no config$"):
        trace(Programs(client=[PY, "-c", "pass"], server=[PY, srv]), None, str(tmp_path / "x.pcapng"),
              timeout=10)
    assert time.monotonic() - t < 10
    assert not os.path.exists(tmp_path / "x.pcapng")


def test_server_that_crashes(progdir, tmp_path, leak_check):
    srv = progdir("crash.py", "raise RuntimeError('boom')\n")
    with pytest.raises(SynackError, match="RuntimeError: boom"):
        trace(Programs(client=[PY, "-c", "pass"], server=[PY, srv]), None, str(tmp_path / "x.pcapng"))


def test_server_that_never_listens_fails_at_the_timeout(progdir, tmp_path, leak_check):
    srv = progdir("sleep.py", "import time\ntime.sleep(60)\n")
    t = time.monotonic()
    with pytest.raises(SynackError, match="not ready within the timeout"):
        trace(Programs(client=[PY, "-c", "pass"], server=[PY, srv]), None, str(tmp_path / "x.pcapng"),
              timeout=2)
    assert time.monotonic() - t < 10


def test_hanging_client_is_killed_and_capture_kept_incomplete(progdir, tmp_path, leak_check):
    srv, cli = progdir("srv.py", SERVER), progdir("hang.py", CLIENT.replace("print(", "import time; time.sleep(60); print("))
    out = str(tmp_path / "hang.pcapng")
    r = trace(Programs(client=[PY, cli], server=[PY, srv]), None, out, timeout=3)
    assert not r.complete and "timeout" in r.incomplete_reason
    m = meta(out)
    assert m["complete"] is False and "timeout" in m["incomplete_reason"]
    frames = tcp_frames(out)
    assert [f["flags"] for f in frames if f["proto"] == "tcp"][:3] == [0x02, 0x12, 0x10]
    assert len(tshark(out, "frame.number")) == len(frames)


def test_unwritable_output_fails_before_anything_runs(tmp_path):
    before = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
    (tmp_path / "file").write_text("x")
    for bad in (str(tmp_path / "file" / "x.pcapng"), "/proc/synack/x.pcapng", str(tmp_path)):
        with pytest.raises(SynackError, match="output"):
            trace("tcp-echo", None, bad)
    after = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
    assert not {n for n in after - before if n.startswith(f"synack-{os.getpid()}-")}


def test_failed_run_leaves_no_file_under_the_final_name(progdir, tmp_path):
    (tmp_path / "keep.pcapng").write_bytes(b"old")
    with pytest.raises(SynackError):
        trace(Programs(client=[PY, "-c", "pass"], server=[PY, "-c", "raise SystemExit(1)"]), None,
              str(tmp_path / "keep.pcapng"))
    assert (tmp_path / "keep.pcapng").read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["keep.pcapng"]  # no temporary left


# --- the CLI, interrupts and cleanup ------------------------------------------

def cli(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([PY, "-m", "tracer", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def test_cli_trace_prints_summary(tmp_path, leak_check):
    p = cli("trace", "tcp-echo", "-o", str(tmp_path / "e.pcapng"), "--client-port", "40000")
    leak_check.add(p.pid)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert "client: 14 frames" in out or "frames" in out
    assert "handshake yes, data yes, teardown yes; drops 0" in out
    assert str(tmp_path / "e.pcapng") in out
    assert "--client-port 40000" in meta(str(tmp_path / "e.pcapng"))["command"]


def test_cli_unknown_scenario_lists_known_ones():
    p = cli("trace", "nosuch")
    out, err = p.communicate(timeout=30)
    assert p.returncode == 2 and "tcp-echo" in err and "Traceback" not in err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_keeps_a_valid_capture_and_cleans_up(sig, progdir, tmp_path, leak_check):
    flag = os.path.join(progdir.dir, "started")
    srv = progdir("srv.py", SERVER)
    cli_prog = progdir("slow.py", f"""
        import os, socket, time
        s = socket.create_connection(("server", int(os.environ["SYNACK_SERVER_PORT"])))
        s.sendall(b"partial")
        open({flag!r}, "w").close()
        time.sleep(60)
    """)
    os.chmod(progdir.dir, 0o777)
    out = str(tmp_path / "int.pcapng")
    p = cli("trace", "--server", f"{PY} {srv}", "--client", f"{PY} {cli_prog}", "--port", "5002", "-o", out)
    leak_check.add(p.pid)
    deadline = time.monotonic() + 30
    while not os.path.exists(flag):
        assert time.monotonic() < deadline and p.poll() is None, p.communicate()
        time.sleep(0.02)
    time.sleep(0.1)
    p.send_signal(sig)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 130, err
    m = meta(out)
    assert m["complete"] is False and "interrupted" in m["incomplete_reason"]
    frames = tcp_frames(out)
    assert b"partial" in b"".join(f.get("payload", b"") for f in frames)
    assert len(tshark(out, "frame.number")) == len(frames)
    assert not [n for n in os.listdir(tmp_path) if n != "int.pcapng"]


def test_no_leftovers_after_a_run(tmp_path, leak_check):
    trace("tcp-echo", None, str(tmp_path / "a.pcapng"))
    assert inventory()["netns"] == set()
    assert not [d for d in os.listdir(tempfile.gettempdir()) if d.startswith(f"synack-run-{os.getpid()}-")]


class Tcpdump:
    """tcpdump -B 65536 on the same interface in the same run: the witness for completeness."""

    def __init__(self, path: str, point: str = "client"):
        self.path, self.point, self.proc, self.counters = path, point, None, None

    def start(self, hosts) -> None:
        ns = hosts.hosts[self.point].netns
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, "tcpdump", "-i", "veth0", "-B", "65536",
                                      "-s", "0", "-w", self.path], stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        assert "listening on veth0" in line, line

    def stop(self, hosts) -> None:
        time.sleep(1.5)  # tcpdump hands over a TPACKET_V3 block when full or timed out
        self.proc.send_signal(signal.SIGINT)
        self.stats = self.proc.stderr.read()
        self.proc.wait(30)
        ns = hosts.hosts[self.point].netns
        link = json.loads(subprocess.run(["ip", "-n", ns, "-s", "-j", "link", "show", "veth0"],
                                         capture_output=True, text=True, check=True).stdout)[0]
        self.counters = link["stats64"]["rx"]["packets"] + link["stats64"]["tx"]["packets"]

    def frames(self) -> int:
        return len(tshark(self.path, "frame.number")) if os.path.getsize(self.path) < 50_000_000 \
            else int(subprocess.run(["sh", "-c", f"tcpdump -r {self.path} -nn 2>/dev/null | wc -l"],
                                    capture_output=True, text=True).stdout)


@pytest.mark.slow
def test_bulk_100MB_is_captured_completely(tmp_path):
    """73,000 frames in about a second: raw receive into a 256 MB buffer keeps them all."""
    out = str(tmp_path / "bulk.pcapng")
    witness = Tcpdump(str(tmp_path / "tcpdump.pcap"))
    r = trace("bulk", scenarios.Options(bytes=100_000_000), out, timeout=120,
              on_ready=witness.start, on_finish=witness.stop)
    assert r.complete and r.drops == 0
    assert "0 packets dropped by kernel" in witness.stats
    assert r.frames == witness.frames() == witness.counters
    assert r.frames > 70_000
    with open_capture(out) as cap:
        assert sum(1 for _ in cap) == r.frames


def test_metadata_longer_than_one_pcapng_option_round_trips(tmp_path):
    """pcapng option lengths are 16 bits; big call timelines go into continuation comments."""
    from tracer import pcapng

    calls = [{"ts": 1.0 + i, "host": "client", "call": "recv", "args": "4096 é"} for i in range(5000)]
    path = str(tmp_path / "big.pcapng")
    frame = b"\x02" * 12 + b"\x08\x06" + b"\0" * 28
    pcapng.write(path, [(1_700_000_000_123_456_789, frame)], {"schema": pcapng.SCHEMA, "calls": calls},
                 [pcapng.CaptureInterface("veth0")], {0: ["client: connect()"]})
    assert meta(path)["calls"] == calls
    with open_capture(path) as cap:
        fr = next(iter(cap))
        assert len(cap.section_comments) > 1 and fr.comments == ("client: connect()",)
    rows = tshark(path, "frame.time_epoch", "frame.comment")
    assert rows == [["1700000000.123456789", "client: connect()"]]


def test_demo_traces_tcp_echo_with_a_fixed_client_port(tmp_path, leak_check):
    figs = tmp_path / "figs"
    out = str(figs / "tcp-echo.pcapng")  # the default: beside the figures, not over captures/tcp-echo.pcapng
    p = cli("demo", "--figures", str(figs))
    leak_check.add(p.pid)
    stdout, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert "handshake yes, data yes, teardown yes; drops 0" in stdout and out in stdout
    frames = tcp_frames(out)
    assert frames[[f["proto"] for f in frames].index("tcp")]["sport"] == 40000
    assert meta(out)["command"] == "synack trace tcp-echo --client-port 40000"
    for name in ("ladder.svg", "layers-first-data.svg", "states.svg"):
        svg = (figs / name).read_text()
        assert svg.startswith("<?xml") and "<svg" in svg and "<text" in svg, name
    ladder = (figs / "ladder.svg").read_text()
    assert "SYN" in ladder and "FIN_WAIT_1" in ladder and "connect" in ladder


def test_demo_figures_directory_that_cannot_be_made_is_a_one_line_error(leak_check):
    p = cli("demo", "--figures", "/proc/synack-demo")
    leak_check.add(p.pid)
    stdout, err = p.communicate(timeout=60)
    assert p.returncode == 2 and "Traceback" not in err and stdout == "", err
    assert err.strip().splitlines() == [
        "synack: error: --figures /proc/synack-demo: cannot create the directory: No such file or directory"]


@pytest.mark.skipif(__import__("tracer.userns").userns.blocked_reason(
    __import__("tracer.userns").userns.knobs(), sys.executable) is not None, reason="user namespaces blocked here")
def test_not_root_traces_a_scenario_in_its_own_user_namespace(tmp_path, readable_site):
    """Unprivileged (nobody), no sudo, no unshare line: synack makes its own namespaces."""
    readable = tempfile.mkdtemp(prefix="synack-notroot-")  # the clone itself may be private (0700)
    out = os.path.join(readable, "out", "echo.pcapng")
    try:
        os.chmod(readable, 0o755)
        os.mkdir(os.path.dirname(out))
        os.chown(os.path.dirname(out), 65534, 65534)
        for pkg in ("tracer", "viz"):
            shutil.copytree(ROOT / pkg, os.path.join(readable, pkg), ignore=shutil.ignore_patterns("__pycache__"))
        python = python_for(65534)
        if python is None:
            pytest.skip("no Python of this version nobody can run")
        res = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", python, "-m", "tracer",
                              "trace", "-o", out], cwd=readable, capture_output=True, text=True,
                             env=dict(os.environ, PYTHONPATH=os.pathsep.join([readable, readable_site])), timeout=60)
        assert res.returncode == 0, res.stderr
        assert "handshake yes, data yes, teardown yes; drops 0" in res.stdout
        assert meta(out)["calls"] and os.stat(out).st_uid == 65534
    finally:
        shutil.rmtree(readable, ignore_errors=True)


def test_traces_when_synack_lives_in_a_private_directory(tmp_path, leak_check):
    """A clone under a 0700 directory (mktemp -d, /root): the programs run as
    nobody and must still find their script and the socket-call recorder."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    shutil.copytree(ROOT / "tracer", private / "tracer", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "viz", private / "viz", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "echo.pcapng"
    res = subprocess.run([PY, "-m", "tracer", "trace", "tcp-echo", "-o", str(out)], cwd=private,
                         capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=str(private)))
    assert res.returncode == 0, res.stderr
    assert "handshake yes, data yes, teardown yes" in res.stdout
    assert meta(str(out))["calls"], "the recorder ran"
