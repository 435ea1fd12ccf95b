"""Reproducers of issue 15 item 3: the call log a traced program writes is untrusted.

A line `null`, `[1,2,3]` or `{"ts":"x"}` crashed the tracer and lost the
capture; a flood of records kept it busy for minutes.  Now each record is
checked (viz.metadata), the bad ones are dropped and counted, the log is read
up to a cap, and the capture is always written.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT, needs_root
from tracer import calllog
from viz import metadata
from viz.capture import open_capture

PY = sys.executable
GOOD = {"ts": 1795317712.5, "host": "client", "pid": 7, "fd": 3, "call": "send", "phase": "call",
        "args": "b'x'", "result": "", "error": ""}
FORGED = [b"null", b"[1,2,3]", b'{"ts":"x"}', b'{"ts": NaN, "call": "send", "phase": "call"}',
          b'{"ts": 1e999, "call": "send", "phase": "call"}', b'"a string"', b"{broken",
          b'{"ts": 1, "call": "send", "phase": "sideways"}', b'{"ts": true, "call": "x", "phase": "call"}',
          b'{"ts": 1, "call": "send", "phase": "call", "pid": -5}',
          b'{"ts": 1, "call": "send", "phase": "call", "args": "' + b"A" * 5000 + b'"}',
          b"[" * 100_000 + b"]" * 100_000,  # deeper than the JSON parser's recursion limit
          b"\xff\xfe garbage"]


def test_each_record_is_checked_and_the_bad_ones_are_counted(tmp_path):
    log = tmp_path / "client.jsonl"
    good = json.dumps(GOOD).encode()
    log.write_bytes(b"\n".join([good, *FORGED, good, b"", good]) + b"\n" + good[:-1])  # last line cut
    recs, dropped = calllog.read_all([str(log)])
    assert recs == [GOOD, GOOD, GOOD]
    assert dropped == len(FORGED) + 1


def test_records_are_read_as_they_arrive_split_anywhere(tmp_path):
    """The tracer tails the server's log while it runs: a record split across two reads is whole."""
    log = tmp_path / "server.jsonl"
    good = json.dumps(GOOD).encode() + b"\n"
    tail = calllog.CallLog(str(log))
    with open(log, "wb", buffering=0) as f:
        got = []
        for cut in (5, 40, len(good) - 1):
            f.write(good[:cut])
            got += tail.new()
            f.write(good[cut:])
            got += tail.new()
    assert got == [GOOD] * 3 and tail.dropped == 0


def test_the_log_is_read_up_to_a_cap_and_the_rest_counted(tmp_path):
    log = tmp_path / "flood.jsonl"
    line = json.dumps(GOOD).encode() + b"\n"
    n = 3000
    log.write_bytes(line * n)
    cap = 1000 * len(line)
    reader = calllog.CallLog(str(log), max_bytes=cap)
    recs = reader.new() + reader.finish()
    assert len(recs) == 1000 and reader.over_cap == n - 1000
    reader = calllog.CallLog(str(log), max_bytes=cap + len(line) // 2)  # the cap cuts a record
    recs = reader.new() + reader.finish()
    assert len(recs) == 1000 and reader.over_cap + reader.dropped == n - 1000
    # An endless line is skipped without being held.
    log.write_bytes(b'{"ts": 1, "args": "' + b"B" * (4 * calllog.MAX_LINE) + b'"}\n' + line)
    reader = calllog.CallLog(str(log))
    assert reader.new() == [GOOD] and reader.dropped == 1


def test_metadata_and_log_share_one_call_schema():
    assert metadata.call_record(GOOD) == GOOD
    with pytest.raises(metadata.Invalid):
        metadata.call_record({"ts": "x"})
    extra = dict(GOOD, cwnd=[10, 20])
    assert metadata.call_record(extra) == extra  # a field a newer recorder adds is kept...
    with pytest.raises(metadata.Invalid):  # ...when it is plain, bounded JSON
        metadata.call_record(dict(GOOD, junk=json.loads("[" * 50 + "]" * 50)))
    with pytest.raises(metadata.Invalid):
        metadata.call_record(dict(GOOD, fd=2 ** 64))
    accepted = dict(GOOD, call="accept", phase="return", result="('192.0.2.1', 40000)", new_fd=5)
    assert metadata.call_record(accepted) == accepted
    for bad in ("5", -1, True, 2 ** 64):  # an accepted socket is a descriptor (or an inode), nothing else
        with pytest.raises(metadata.Invalid, match="new_fd"):
            metadata.call_record(dict(accepted, new_fd=bad))




SERVER = """
import os, socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", int(os.environ["SYNACK_SERVER_PORT"])))
s.listen()
c, _ = s.accept()
c.sendall(c.recv(100).upper())
c.close()
"""


def forging_client(before: str = "", after: str = "") -> str:
    return f"""
import os, socket
fd = os.dup(int(os.environ["SYNACK_CALLS"].split(":")[1]))  # its own log, passed open (fd:N:DEV:INO)
{before}
s = socket.create_connection(("server", int(os.environ["SYNACK_SERVER_PORT"])))
s.sendall(b"hello")
s.recv(100)
s.close()
{after}
os.close(fd)
"""


def run_trace(progdir, client_code: str, out: str, port: int) -> subprocess.CompletedProcess:
    srv = progdir("srv.py", SERVER)
    cli = progdir("cli.py", client_code)
    return subprocess.run([PY, "-m", "tracer", "trace", "--server", f"{PY} {srv}", "--client", f"{PY} {cli}",
                           "--port", str(port), "-o", out], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)


@needs_root
@pytest.mark.netns
def test_forged_lines_are_dropped_counted_and_the_capture_kept(progdir, tmp_path, leak_check):
    forged = [line.decode("latin-1") for line in FORGED[:3]]
    code = "\n".join(f"os.write(fd, {(line + chr(10)).encode('latin-1')!r})" for line in forged)
    out = str(tmp_path / "forged.pcapng")
    r = run_trace(progdir, forging_client(before=code), out, 5101)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert "3 socket-call records dropped" in r.stdout, r.stdout
    with open_capture(out) as cap:
        frames = list(cap)
        m = cap.meta
    assert m["calls_dropped"] == 3 and m["complete"] is True
    assert any(c["call"] == "connect" for c in m["calls"])
    assert any("client: connect(" in " ".join(f.comments) for f in frames)


@needs_root
@pytest.mark.netns
def test_a_flood_of_records_is_capped_and_the_capture_kept(progdir, tmp_path, leak_check):
    """40 MB of valid-looking records (past the 16 MiB cap) plus junk: the capture is
    written, what fits is kept, the rest counted."""
    line = json.dumps(dict(GOOD, host="client", call="getsockopt", phase="return")) + "\n"
    n = (40 << 20) // len(line)
    code = textwrap.dedent(f"""
        block = ({line!r} * 4096).encode()
        for _ in range({n // 4096}):
            os.write(fd, block)
        os.write(fd, b"null\\n" * 1000)
    """)
    out = str(tmp_path / "flood.pcapng")
    r = run_trace(progdir, forging_client(after=code), out, 5102)
    assert r.returncode == 0, r.stderr
    with open_capture(out) as cap:
        frames = list(cap)
        m = cap.meta
    written = (n // 4096) * 4096
    kept = sum(1 for c in m["calls"] if c["call"] == "getsockopt")
    assert 0 < kept < calllog.MAX_LOG_BYTES // len(line) < written
    assert m["calls_dropped"] + kept == written + 1000  # every record kept or counted
    assert f"{m['calls_dropped']} socket-call records dropped" in r.stdout
    assert frames and any(c["call"] == "connect" for c in m["calls"])
