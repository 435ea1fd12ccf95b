"""Congestion and flow control from real kernels: `--cc`, `--tcp textbook`, the kernel's
TCP state sampled into the capture, and the figures drawn from it (viz.tcpgraphs),
checked against tshark and `ss -tin`."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, needs_root
from tracer import scenarios
from tracer import tcpprofile
from viz.capture import open_capture
from viz.errors import SynackError

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")


def tshark_rows(path, filt, *fields):
    args = ["tshark", "-r", str(path), "-Y", filt, "-T", "fields"]
    for f in fields:
        args += ["-e", f]
    p = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return [line.split("\t") for line in p.stdout.splitlines()]


def meta_of(path):
    with open_capture(str(path)) as cap:
        for _ in cap:
            pass
        return cap.meta


def synack(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "tracer", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


# --- the TCP profile (pure) ---------------------------------------------------------

def test_profile_parsing_and_sysctls():
    assert not tcpprofile.build()
    p = tcpprofile.build(tcp="textbook")
    names = dict(p.sysctls())
    assert names["net.ipv4.tcp_sack"] == 0 and names["net.ipv4.tcp_recovery"] == 0
    assert names["net.ipv4.tcp_early_retrans"] == 0 and names["net.ipv4.tcp_frto"] == 0
    assert names["net.ipv4.tcp_congestion_control"] == "reno"  # textbook means Reno unless --cc
    assert dict(tcpprofile.build("cubic", "textbook").sysctls())["net.ipv4.tcp_congestion_control"] == "cubic"
    assert tcpprofile.build("BBR").sysctls() == (("net.ipv4.tcp_congestion_control", "bbr"),)
    for kwargs, word in (({"cc": "vegas"}, "--cc"), ({"tcp": "book"}, "--tcp")):
        with pytest.raises(SynackError) as exc:
            tcpprofile.build(**kwargs)
        assert word in str(exc.value) and "\n" not in str(exc.value)


def test_scenario_presets_merge_with_the_users_options():
    saw = tcpprofile.preset(scenarios.get("sawtooth"))
    assert saw.algorithm == "reno"
    assert tcpprofile.merge(saw, tcpprofile.build("cubic")).algorithm == "cubic"
    assert tcpprofile.preset(scenarios.get("tcp-echo")) is None


def test_cli_rejects_a_bad_cc_before_anything_runs(tmp_path):
    p = synack("trace", "bulk", "--cc", "vegas", "-o", tmp_path / "x.pcapng", timeout=60)
    assert p.returncode == 2 and p.stderr.startswith("synack: error: --cc 'vegas'"), p.stderr
    assert p.stderr.count("\n") == 1 and not (tmp_path / "x.pcapng").exists()


# --- real traces ------------------------------------------------------------------

@needs_root
@needs_tshark
def test_textbook_drop_gives_exactly_three_dup_acks_then_fast_retransmit(tmp_path):
    from tracer import wire
    from tracer.run import trace

    out = tmp_path / "fr.pcapng"
    res = trace("fast-retransmit", scenarios.Options(bytes=300_000), str(out),
                tcp=tcpprofile.build(tcp="textbook"), faults=None,
                wire=wire.spec_from("5ms", None, "10mbit"))
    assert res.complete, res.incomplete_reason
    m = meta_of(out)
    assert m["tcp"]["profile"] == "textbook" and m["tcp"]["cc"] == "reno"
    assert m["tcp"]["hosts"]["client"] == m["tcp"]["hosts"]["server"] == "reno"
    # no SACK-permitted option in either SYN: the kernel really ran without SACK
    assert not tshark_rows(out, "tcp.options.sack_perm", "frame.number")
    fr = [int(r[0]) for r in tshark_rows(out, "tcp.analysis.fast_retransmission", "frame.number")]
    assert len(fr) == 1, fr
    dups = [int(r[0]) for r in tshark_rows(out, "tcp.analysis.duplicate_ack", "frame.number")]
    assert len([d for d in dups if d < fr[0]]) == 3, (dups, fr)
