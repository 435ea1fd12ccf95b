"""Fault injection in `synack trace`: option parsing, nft rules, and real traces
checked against tshark and `synack analyze` (drops by nftables in the
receiving host's namespace, RTO floor by per-namespace sysctl)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, needs_root
from tracer import faults as faultmod
from tracer import scenarios
from tracer.run import trace
from viz.capture import open_capture
from viz.errors import SynackError

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")


# --- parsing (pure) ---------------------------------------------------------------

def test_build_parses_every_option():
    f = faultmod.build(["c2s:4", "s2c:3,7", "c2s:1"], "5%", "42", "20ms")
    assert f == faultmod.Faults((1, 4), (3, 7), 0.05, 42, 20_000)
    assert faultmod.build(rto_min="1.5ms").rto_min_us == 1500
    assert faultmod.build(rto_min="1s").rto_min_us == 1_000_000
    assert faultmod.build(loss="0.5").loss == 0.005
    assert not faultmod.build()


@pytest.mark.parametrize("kwargs, words", [
    ({"drop": ["c2s:0"]}, ["--drop", "numbered from 1"]),
    ({"drop": ["x2y:3"]}, ["unknown direction", "c2s or s2c"]),
    ({"drop": ["c2s"]}, ["DIRECTION:N"]),
    ({"drop": ["c2s:3,,4"]}, ["not a packet number"]),
    ({"drop": ["s2c:-1"]}, ["not a packet number"]),
    ({"loss": "150%"}, ["--loss", "below 100%"]),
    ({"loss": "0%"}, ["--loss", "above 0%"]),
    ({"loss": "lots"}, ["--loss", "percentage"]),
    ({"loss": "5%", "seed": "x"}, ["--seed", "integer"]),
    ({"seed": 3}, ["--seed", "--loss"]),
    ({"rto_min": "-1ms"}, ["--rto-min", "positive"]),
    ({"rto_min": "10us"}, ["--rto-min", "between"]),
    ({"rto_min": "fast"}, ["--rto-min", "duration"]),
])
def test_bad_options_name_the_option(kwargs, words):
    with pytest.raises(SynackError) as exc:
        faultmod.build(**kwargs)
    msg = str(exc.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_seeded_loss_is_repeatable_and_seed_dependent():
    a = faultmod.build(loss="5%", seed=42)
    b = faultmod.build(loss="5%", seed=42)
    c = faultmod.build(loss="5%", seed=43)
    assert a.indices("c2s") == b.indices("c2s") and a.indices("s2c") == b.indices("s2c")
    assert a.indices("c2s") != c.indices("c2s") and a.indices("c2s") != a.indices("s2c")
    n = len(a.indices("c2s"))
    assert 0.04 * faultmod.LOSS_HORIZON < n < 0.06 * faultmod.LOSS_HORIZON


def test_ruleset_text():
    f = faultmod.build(["c2s:1,4,5,6,9"])
    text = faultmod.ruleset(f, "c2s", "192.0.2.1")
    assert "ct original packets { 4-6, 9 } counter drop" in text
    assert "@first_dropped accept" in text and "update @first_dropped" in text
    assert faultmod.ruleset(f, "s2c", "192.0.2.2") == ""
    s2c = faultmod.ruleset(faultmod.build(["s2c:2"]), "s2c", "2001:db8::2", ipv6=True)
    assert "ct reply packets { 2 } counter drop" in s2c and "ip6 saddr != 2001:db8::2" in s2c


def test_scenario_presets_and_user_override():
    assert faultmod.preset(scenarios.get("syn-retry")).drop_c2s == (1,)
    assert faultmod.preset(scenarios.get("tcp-echo")) is None
    merged = faultmod.merge(faultmod.preset(scenarios.get("lost-segment")), faultmod.build(["s2c:2"]))
    assert merged.drop_c2s == () and merged.drop_s2c == (2,) and merged.rto_min_us == 20_000


def test_cli_rejects_bad_faults_before_anything_runs(tmp_path, leak_check):
    # values starting with '-' reach the option's own check whether or not they follow '='
    # (argparse alone would take `--rto-min -1ms` for a missing value and print its usage)
    for args, words in (
            (["--drop", "c2s:0"], "numbered from 1"), (["--loss", "150%"], "below 100%"),
            (["--drop", "up:3"], "unknown direction"), (["--drop", "c2s:a"], "not a packet number"),
            (["--drop", "c2s:3", "--net", "loopback"], "two hosts"),
            (["--rto-min", "-1ms"], "--rto-min '-1ms': must be positive"),
            (["--rto-min=-1ms"], "--rto-min '-1ms': must be positive"),
            (["--rto-min", "-.5s"], "--rto-min '-.5s': must be positive"),
            (["--loss", "-5%"], "--loss '-5%': loss must be above 0%"),
            (["--delay", "-1ms"], "--delay '-1ms': must not be negative"),
            (["--delay=-1ms"], "--delay '-1ms': must not be negative"),
            (["--delay", "c2s:-1ms"], "must not be negative"),
            (["--jitter", "-2ms"], "--jitter '-2ms': must not be negative"),
            (["--rate", "-1mbit"], "--rate '-1mbit': must not be negative")):
        out = tmp_path / "x.pcapng"
        p = subprocess.run([sys.executable, "-m", "tracer", "trace", *args, "-o", str(out)],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert p.returncode == 2, (args, p.stderr)
        assert p.stderr.startswith("synack: error: ") and p.stderr.count("\n") == 1, p.stderr
        assert words in p.stderr, (args, p.stderr)
        assert "Traceback" not in p.stderr and not out.exists()


# --- real traces ------------------------------------------------------------------

def tshark_rows(path, filt, *fields):
    args = ["tshark", "-r", path, "-Y", filt, "-T", "fields"]
    for f in fields:
        args += ["-e", f]
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return [line.split("\t") for line in p.stdout.splitlines()]


def analyze(path):
    p = subprocess.run([sys.executable, "-m", "tracer", "analyze", path, "--format", "json"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)["packets"]


def tagged(packets, tag):
    return [p["frame"] for p in packets if tag in p["analysis"]]


def meta(path):
    with open_capture(path) as cap:
        return cap.meta


def frame_ts(path):
    return {int(n): float(t) for n, t in tshark_rows(path, "frame", "frame.number", "frame.time_epoch")}


def run_trace(tmp_path, name, faults=None, **opts):
    out = str(tmp_path / f"{name}.pcapng")
    r = trace(name, scenarios.Options(client_port=40000, **opts), out, faults=faults)
    assert r.complete, r.incomplete_reason
    return out


@needs_root
@needs_tshark
@pytest.mark.parametrize("message", ["This is the message.", "x" * 3000], ids=["short", "two-segments"])
def test_drop_c2s_data_segment_is_retransmitted_once(tmp_path, leak_check, message):
    """The dropped c2s packet is a data segment (packet 3 of a short message,
    4 of a two-segment one): exactly one retransmission of it, in tshark and in
    synack analyze, and the metadata names the dropped frame."""
    index = 3 if len(message) < 1000 else 4
    out = run_trace(tmp_path, "tcp-echo", faultmod.build([f"c2s:{index}"], rto_min="20ms"), message=message)
    m = meta(out)
    assert m["faults"]["drop"]["c2s"] == [index]
    [drop] = m["dropped"]
    assert drop["dir"] == "c2s" and drop["index"] == index
    # the dropped frame: the c2s TCP frame number `index` of the connection
    c2s = tshark_rows(out, "tcp && ip.src==192.0.2.1", "frame.number", "tcp.seq", "tcp.len")
    lost_frame, lost_seq, lost_len = c2s[index - 1]
    assert int(lost_len) > 0
    assert abs(frame_ts(out)[int(lost_frame)] - drop["ts"]) < 1e-6
    retx = tshark_rows(out, "tcp.analysis.retransmission", "frame.number", "tcp.seq", "tcp.len")
    assert len(retx) == 1 and retx[0][1:] == [lost_seq, lost_len], retx
    ours = tagged(analyze(out), "retransmission")
    assert ours == [int(retx[0][0])]


@needs_root
def test_rto_min_shortens_the_retransmission_timeout(tmp_path):
    out = run_trace(tmp_path, "lost-segment")
    m = meta(out)
    assert m["faults"]["rto_min_us"] == 20_000
    [drop] = m["dropped"]
    packets = analyze(out)
    [retx] = [p for p in packets if "retransmission" in p["analysis"]]
    delay = frame_ts(out)[retx["frame"]] - drop["ts"]
    print(f"retransmission {delay * 1000:.1f} ms after the dropped segment (--rto-min 20ms)")
    # Linux default: 200 ms minimum RTO; with --rto-min 20ms it comes after
    # at least 20 ms and well before 200 ms.
    assert 0.015 < delay < 0.150, delay


@needs_root
@needs_tshark
def test_seeded_loss_drops_the_same_packets_twice(tmp_path):
    """The seed fixes which packet numbers are dropped; how many packets a run
    has in each direction (ACK count, retransmissions) varies with timing, so
    each run drops exactly the seed's numbers up to its own packet count, and
    the two runs agree on every number both reached."""
    faults = faultmod.build(loss="3%", seed=42, rto_min="20ms")
    runs = []
    for i in range(2):
        out = str(tmp_path / f"loss{i}.pcapng")
        r = trace("bulk", scenarios.Options(client_port=40000 + i, bytes=300_000), out, faults=faults)
        assert r.complete, r.incomplete_reason
        dropped = [(d["dir"], d["index"]) for d in meta(out)["dropped"]]
        counts = {"c2s": len(tshark_rows(out, "tcp && ip.src==192.0.2.1", "frame.number")),
                  "s2c": len(tshark_rows(out, "tcp && ip.src==192.0.2.2", "frame.number"))}
        want = sorted((d, i) for d in ("c2s", "s2c") for i in faults.indices(d) if i <= counts[d])
        assert sorted(dropped) == want
        runs.append((set(dropped), counts))
    (a, ca), (b, cb) = runs
    both = {d: min(ca[d], cb[d]) for d in ca}
    assert {x for x in a if x[1] <= both[x[0]]} == {x for x in b if x[1] <= both[x[0]]}
    assert len([x for x in a if x[0] == "c2s"]) >= 3
    # a different seed drops different packets
    assert faultmod.build(loss="3%", seed=43).indices("c2s")[:5] != faults.indices("c2s")[:5]


@needs_root
@needs_tshark
def test_syn_retry(tmp_path, leak_check):
    out = run_trace(tmp_path, "syn-retry")
    syns = tshark_rows(out, "tcp.flags.syn==1 && tcp.flags.ack==0", "frame.number", "frame.time_relative")
    assert len(syns) == 2
    assert 0.9 < float(syns[1][1]) - float(syns[0][1]) < 1.5  # initial RTO 1 s (RFC 6298)
    retx = tshark_rows(out, "tcp.analysis.retransmission", "frame.number")
    assert retx == [[syns[1][0]]]
    assert tagged(analyze(out), "retransmission") == [int(syns[1][0])]
    assert [(d["dir"], d["index"]) for d in meta(out)["dropped"]] == [("c2s", 1)]


@needs_root
@needs_tshark
def test_fast_retransmit(tmp_path):
    """The dropped segment comes back as a fast retransmission after at least
    three dup ACKs. On a loaded machine the receiver's kernel may drop more
    segments itself (its backlog or out-of-order queue), and those come back
    as further fast retransmissions: synack must tag whatever tshark tags."""
    out = run_trace(tmp_path, "fast-retransmit", bytes=300_000)
    fast = tshark_rows(out, "tcp.analysis.fast_retransmission", "frame.number", "tcp.seq")
    dups = tshark_rows(out, "tcp.analysis.duplicate_ack", "frame.number", "tcp.ack")
    assert fast and len(dups) >= 3
    first_fast = int(fast[0][0])
    before = [d for d in dups if int(d[0]) < first_fast]
    assert len(before) >= 3 and all(d[1] == fast[0][1] for d in before)
    packets = analyze(out)
    assert tagged(packets, "fast_retransmission") == [int(f[0]) for f in fast]
    assert tagged(packets, "dup_ack") == [int(d[0]) for d in dups]
    [drop] = meta(out)["dropped"]
    assert drop["index"] == 8


@needs_root
@needs_tshark
def test_lost_ack(tmp_path):
    out = run_trace(tmp_path, "lost-ack")
    [drop] = meta(out)["dropped"]
    assert drop["dir"] == "s2c" and drop["index"] == 2
    retx = tshark_rows(out, "tcp.analysis.retransmission", "frame.number")
    dups = tshark_rows(out, "tcp.analysis.duplicate_ack", "frame.number")
    assert len(retx) == 1 and len(dups) == 1
    packets = analyze(out)
    assert tagged(packets, "retransmission") == [int(retx[0][0])]
    assert tagged(packets, "dup_ack") == [int(dups[0][0])]


@needs_root
@needs_tshark
def test_zero_window(tmp_path):
    out = run_trace(tmp_path, "zero-window")
    zw = tshark_rows(out, "tcp.analysis.zero_window", "frame.number")
    assert zw
    assert meta(out)["dropped"] == []
    assert tagged(analyze(out), "zero_window") == [int(z[0]) for z in zw]
    # the sender probes the closed window (tshark calls Linux's probe, one
    # byte below the window, a keep-alive)
    probes = tshark_rows(out, "tcp.analysis.keep_alive || tcp.analysis.zero_window_probe", "frame.number")
    assert probes


@needs_root
def test_faults_leave_nothing_behind(tmp_path, leak_check):
    """nft tables live in the hosts' namespaces and go with them; the root
    namespace never gets one (leak_check compares nft tables and namespaces)."""
    before = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    run_trace(tmp_path, "tcp-echo", faultmod.build(["c2s:3", "s2c:2"], loss="5%", seed=1, rto_min="20ms"))
    assert subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout == before
