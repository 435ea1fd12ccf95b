"""The delay element (tracer.wire) in real namespaces: delay, per-direction delay,
jitter, rate, bad values, and cleanup of the forwarding process."""
from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import ROOT, inventory, needs_root
from tracer.run import trace
from tracer.wire import WireSpec, parse_directional, spec_from
from viz.capture import open_capture
from viz.errors import SynackError

PY = sys.executable
netns = [needs_root, pytest.mark.netns]


# --- option parsing (pure) ---------------------------------------------------------

def test_parse_values():
    assert parse_directional("20ms", "--delay") == (0.02, 0.02)
    assert parse_directional("c2s:30ms,s2c:10ms", "--delay") == (0.03, 0.01)
    assert parse_directional("s2c:500us", "--delay") == (0.0, 0.0005)
    assert parse_directional("1mbit", "--rate") == (1e6, 1e6)
    assert parse_directional("c2s:500kbit", "--rate") == (5e5, 0.0)
    assert spec_from() is None
    assert spec_from("20ms", "2ms", None, 7) == WireSpec(0.02, 0.02, 0.002, 0.002, 0, 0, 7)


@pytest.mark.parametrize("kw, msg", [
    ({"delay": "-1ms"}, "must not be negative"),
    ({"delay": "20"}, "unknown unit"),
    ({"delay": "20 parsecs"}, "unknown unit"),
    ({"delay": "up:20ms"}, "unknown direction 'up'"),
    ({"delay": "c2s:1ms,c2s:2ms"}, "given twice"),
    ({"delay": "ms"}, "not a duration"),
    ({"rate": "1mbps"}, "unknown unit"),
    ({"rate": "100bit"}, "below 8 kbit/s"),
    ({"delay": "5ms", "jitter": "6ms"}, "exceeds the delay"),
    ({"delay": "11s"}, "more than 10 s"),
])
def test_bad_values(kw, msg):
    with pytest.raises(SynackError, match=msg):
        spec_from(**kw)


@pytest.mark.parametrize("opt", ["--delay=-1ms", "--delay=c3s:1ms", "--jitter=2furlong", "--rate=fast"])
def test_cli_bad_values_exit_2_before_anything_runs(opt, tmp_path):
    before = inventory()
    res = subprocess.run([PY, "-m", "tracer", "trace", "tcp-echo", opt, "-o", str(tmp_path / "x.pcapng")],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and res.stderr.startswith("synack: error: --")
    assert not list(tmp_path.iterdir())
    assert inventory() == before


# --- real traces -------------------------------------------------------------------

def syn_times(path: str) -> tuple[float, float]:
    """(SYN, SYN/ACK) timestamps of the first handshake in a capture."""
    syn = synack = None
    with open_capture(path) as cap:
        for fr in cap:
            d = bytes(fr.data)
            if len(d) < 54 or struct.unpack_from("!H", d, 12)[0] != 0x0800 or d[23] != 6:
                continue
            flags = d[14 + (d[14] & 15) * 4 + 13]
            if flags & 0x12 == 0x02 and syn is None:
                syn = fr.ts
            elif flags & 0x12 == 0x12 and synack is None:
                synack = fr.ts
    assert syn is not None and synack is not None
    return float(syn), float(synack)


def handshake_rtts(path: str) -> list[float]:
    """SYN -> SYN/ACK time of every connection in a capture (by client port)."""
    syns, synacks = {}, {}
    with open_capture(path) as cap:
        for fr in cap:
            d = bytes(fr.data)
            if len(d) < 54 or struct.unpack_from("!H", d, 12)[0] != 0x0800 or d[23] != 6:
                continue
            l4 = 14 + (d[14] & 15) * 4
            sport, dport = struct.unpack_from("!HH", d, l4)
            flags = d[l4 + 13]
            if flags & 0x12 == 0x02:
                syns.setdefault(sport, float(fr.ts))
            elif flags & 0x12 == 0x12:
                synacks.setdefault(dport, float(fr.ts))
    return sorted(synacks[p] - syns[p] for p in syns if p in synacks)


@pytest.mark.netns
@needs_root
def test_delay_20ms_raises_handshake_rtt_by_40ms(tmp_path, leak_check):
    """Median over 5 connections: one handshake alone can meet a scheduling hiccup
    of the loaded 2-core machine (softirq work deferred to ksoftirqd)."""
    from tracer.scenarios import Options

    opts = Options(clients=5)
    base = trace("threading-tcp", opts, out=str(tmp_path / "base.pcapng"))
    slow = trace("threading-tcp", opts, out=str(tmp_path / "slow.pcapng"), wire=spec_from("20ms"))
    assert base.complete and slow.complete
    rtt0, rtt1 = handshake_rtts(base.path), handshake_rtts(slow.path)
    assert len(rtt0) == len(rtt1) == 5
    with open_capture(slow.path) as cap:
        meta = cap.meta
        sent = sum(1 for fr in cap if bytes(fr.data)[6:12] == bytes.fromhex("020000000001"))
    raised = rtt1[2] - rtt0[2]
    assert 0.038 <= raised <= 0.042, (rtt0, rtt1, meta["wire"]["stats"])
    assert meta["wire"]["spec"]["delay_c2s"] == 0.02
    stats = meta["wire"]["stats"]
    assert stats["forwarded"]["c2s"] == sent and stats["dropped"] == {"c2s": 0, "s2c": 0}
    assert [h["name"] for h in meta["hosts"]] == ["client", "wire", "server"]
    assert meta["links"] == [{"a": "client:veth0", "b": "wire:c0", "captured": True},
                             {"a": "wire:s0", "b": "server:veth0", "captured": False}]
    # transparent at L2: the client sees the server's own MAC, one subnet
    assert meta["hosts"][2]["interfaces"][0]["addrs"] == ["192.0.2.2/24"]


@pytest.mark.netns
@needs_root
def test_per_direction_delay_and_jitter_measured_at_both_hosts(tmp_path, leak_check):
    r = trace("tcp-echo", out=str(tmp_path / "d.pcapng"), at="both",
              wire=spec_from("c2s:30ms,s2c:10ms", "c2s:2ms", None, 42))
    assert r.complete
    c_syn, c_synack = syn_times(r.paths[0])
    s_syn, s_synack = syn_times(r.paths[1])
    assert 0.028 - 0.0005 <= s_syn - c_syn <= 0.032 + 0.001  # c2s 30 ms +- 2 ms jitter
    assert 0.0095 <= c_synack - s_synack <= 0.011  # s2c 10 ms, no jitter


@pytest.mark.netns
@needs_root
def test_rate_spaces_full_frames_by_their_serialization_time(tmp_path, leak_check):
    from tracer.scenarios import Options

    r = trace("bulk", Options(bytes=60000), out=str(tmp_path / "b.pcapng"), at="server",
              wire=spec_from(None, None, "1mbit"))
    assert r.complete
    arrivals = []
    seqs = []
    with open_capture(r.path) as cap:
        for fr in cap:
            d = bytes(fr.data)
            if len(d) == 1514 and d[23] == 6 and d[26:30] == bytes([192, 0, 2, 1]):
                arrivals.append(float(fr.ts))
                seqs.append(struct.unpack_from("!I", d, 14 + 20 + 4)[0])
    assert len(arrivals) >= 40
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    serialization = 1514 * 8 / 1e6  # 12.1 ms at 1 Mbit/s
    # the link never runs faster than its rate: frame i cannot arrive before i
    # serialization times after frame 0 (a single frame may be released late on a
    # loaded machine, the next one is on schedule again)
    for i, t in enumerate(arrivals):
        assert t - arrivals[0] >= i * serialization - 0.0005, (i, gaps)
    assert sorted(gaps)[len(gaps) // 2] == pytest.approx(serialization, abs=0.0005)
    assert seqs == sorted(seqs)  # FIFO: order kept


@pytest.mark.netns
@needs_root
def test_wire_is_removed_when_the_server_fails(tmp_path, leak_check):
    with pytest.raises(SynackError, match="exited with status"):
        from tracer.run import Programs
        trace(Programs(client=[PY, "-c", "pass"], server=[PY, "-c", "import sys; sys.exit(3)"]),
              out=str(tmp_path / "f.pcapng"), wire=spec_from("5ms"))
    assert not [p for p in inventory()["processes"] if "tracer.wire" in p]


@pytest.mark.netns
@needs_root
def test_ctrl_c_stops_the_wire_and_keeps_the_capture(tmp_path, leak_check):
    flagdir = tempfile.mkdtemp(prefix="synack-flag-")
    os.chmod(flagdir, 0o777)  # the client runs as nobody
    flag = os.path.join(flagdir, "sent")
    server = ("import socket,os; s=socket.create_server(('',int(os.environ['SYNACK_SERVER_PORT']))); "
              "c,_=s.accept(); c.recv(10); import time; time.sleep(60)")
    client = ("import socket,os,time; s=socket.create_connection((os.environ['SYNACK_SERVER_HOST'],"
              f"int(os.environ['SYNACK_SERVER_PORT']))); s.sendall(b'x'); open('{flag}','w'); time.sleep(60)")
    out = tmp_path / "i.pcapng"
    p = subprocess.Popen([PY, "-m", "tracer", "trace", "--server", f"{PY} -c \"{server}\"",
                          "--client", f"{PY} -c \"{client}\"", "--delay", "10ms", "-o", str(out), "--shared-tmp"],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    leak_check.add(p.pid)
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(flag):
            assert time.monotonic() < deadline and p.poll() is None, p.communicate()
            time.sleep(0.02)
        assert any("tracer.wire" in x for x in inventory({p.pid})["processes"])
        time.sleep(0.1)  # the data segment's ACK comes back through the wire
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
    finally:
        shutil.rmtree(flagdir, ignore_errors=True)
    assert p.returncode != 0 and out.exists(), err
    with open_capture(str(out)) as cap:
        meta = cap.meta
        frames = list(cap)
    assert not meta["complete"] and "interrupted" in meta["incomplete_reason"]
    assert len(frames) >= 6 and meta["wire"]["stats"]["forwarded"]["c2s"] >= 4
