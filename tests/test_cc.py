"""Congestion and flow control from real kernels: `--cc`, `--tcp textbook`, the kernel's
TCP state sampled into the capture, and the figures drawn from it (viz.tcpgraphs),
checked against tshark and `ss -tin`."""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, needs_root
from tracer import scenarios
from tracer import tcpprofile
from viz.capture import open_capture
from viz.errors import SynackError

from test_faults import tshark_rows
from test_userns import user  # noqa: F401 - the useradd fixture

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")


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


def test_sampler_reads_new_connections_from_inet_sock_set_state_lines():
    """The line format of tcp:inet_sock_set_state (its tracefs `format` file), cut mid-line as a
    trace_pipe read may be: only whole lines count, and the family picks the address pair."""
    import socket

    from tracer import kstate

    line = (b"  python3-81 [001] ..s2. 5123.456789: inet_sock_set_state: family=AF_INET6 protocol=IPPROTO_TCP "
            b"sport=10000 dport=40000 saddr=0.0.0.0 daddr=0.0.0.0 saddrv6=2001:db8::2 daddrv6=2001:db8::1 "
            b"oldstate=TCP_SYN_RECV newstate=TCP_ESTABLISHED\n")
    assert kstate.established(line, socket.AF_INET6) == [("2001:db8::2", 10000, "2001:db8::1", 40000)]
    v4 = line.replace(b"AF_INET6", b"AF_INET").replace(b"saddr=0.0.0.0 daddr=0.0.0.0",
                                                        b"saddr=192.0.2.2 daddr=192.0.2.1")
    assert kstate.established(v4, socket.AF_INET) == [("192.0.2.2", 10000, "192.0.2.1", 40000)]
    # a lookup by 4-tuple alone carries INET_DIAG_NOCOOKIE
    assert kstate.diag_request(socket.AF_INET, ("192.0.2.2", 10000, "192.0.2.1", 40000, None))[-8:] == b"\xff" * 8


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


@needs_root
@needs_tshark
def test_tsg_points_equal_tsharks_seq_ack_and_window_for_every_frame(tmp_path):
    """Linux's own TCP (SACK on) with one drop: every segment and ACK of the graph, and its SACK blocks."""
    from viz import tcpgraphs, tcpgraphs_cli

    out = tmp_path / "fr.pcapng"
    p = synack("trace", "fast-retransmit", "--bytes", "200000", "-o", out)
    assert p.returncode == 0, p.stderr
    g = tcpgraphs.tsg(tcpgraphs_cli.load(str(out)))
    rows = tshark_rows(out, "tcp.stream == 0", "frame.number", "tcp.srcport", "tcp.seq", "tcp.len", "tcp.ack",
                       "tcp.window_size", "tcp.flags.syn", "tcp.flags.fin", "tcp.options.sack_le",
                       "tcp.options.sack_re")
    client_port = rows[0][1]
    segs = {int(r[0]): (int(r[2]), int(r[3])) for r in rows
            if r[1] == client_port and (int(r[3]) or r[6] in ("1", "True") or r[7] in ("1", "True"))}
    acks = {int(r[0]): (int(r[4]), int(r[5])) for r in rows if r[1] != client_port}
    assert dict(zip(g.seg_frame, zip(g.seg_seq, g.seg_len))) == segs
    assert dict(zip(g.ack_frame, zip(g.ack, g.win))) == acks
    truth = sorted((int(r[0]), int(a), int(b)) for r in rows if r[8]
                   for a, b in zip(r[8].split(","), r[9].split(",")))
    frame_of = dict(zip(g.ack_t, g.ack_frame))
    assert truth and sorted((frame_of[t], a, b) for t, a, b in g.sack) == truth
    assert any(what == "dropped" for _t, _y, what in g.events)
    assert sum(g.seg_retrans) == len(tshark_rows(out, "tcp.analysis.retransmission", "frame.number"))


@needs_root
def test_reno_with_periodic_loss_halves_cwnd_at_each_loss(tmp_path):
    from tracer.run import trace
    from viz import kstate, tcpgraphs, tcpgraphs_cli

    out = tmp_path / "saw.pcapng"
    res = trace("sawtooth", None, str(out))
    assert res.complete, res.incomplete_reason
    an = tcpgraphs_cli.load(str(out))
    ks = tcpgraphs.kernel_state(an)
    s = kstate.sender(ks, an)
    assert s is not None and s.cc == "reno" and s.host == "client"
    recoveries = [a for a, _b, st in s.ca_intervals() if st == kstate.CaState.Recovery]
    assert len(recoveries) >= 4, s.ca_intervals()  # five drops; at least four recoveries seen
    ct, cv = s.values("cwnd")
    st, sv = s.values("ssthresh")
    for start in recoveries:
        before = max(v for t, v in zip(ct, cv) if start - 0.03 < t < start)  # cwnd grows until the loss
        after = [v for t, v in zip(st, sv) if t >= start][0]
        # Reno: ssthresh = max(cwnd / 2, 2) when the loss is detected (an ACK may land between samples)
        assert before // 2 - 2 <= after <= before // 2 + 1, (start, before, after, [
            (round(t, 4), v, src) for t, v, src in zip(s.t, s.columns["cwnd"], s.source) if start - 0.02 < t < start])
        ends = [b for a, b, x in s.ca_intervals() if a == start]
        resumed = [v for t, v in zip(ct, cv) if t >= ends[0]][:1]
        assert resumed and abs(resumed[0] - after) <= 2, (start, after, resumed)


@needs_root
def test_kernel_samples_agree_with_ss_in_the_same_namespace(tmp_path):
    """`ss -tin` inside the sender's host during the transfer: its cwnd lies within the values the
    sampler recorded around that moment (cwnd moves on every ACK: ss may read it between two
    samples), its ssthresh is one the sampler recorded."""
    import re
    import threading
    import time

    from tracer import wire
    from tracer.run import trace
    from viz import kstate, tcpgraphs, tcpgraphs_cli

    seen = []

    def on_ready(hosts):
        def poll():
            end = time.time() + 3
            while time.time() < end and len(seen) < 40:
                t0 = time.time()
                p = subprocess.run(["ip", "netns", "exec", hosts.client.netns, "ss", "-tinH", "dport", "=", ":10000"],
                                   capture_output=True, text=True)
                t1 = time.time()
                m = re.search(r"\bcwnd:(\d+)", p.stdout)
                if m:
                    th = re.search(r"\bssthresh:(\d+)", p.stdout)
                    seen.append((t0, t1, int(m.group(1)), int(th.group(1)) if th else None))
                time.sleep(0.02)
        threading.Thread(target=poll, daemon=True).start()

    out = tmp_path / "bulk.pcapng"
    res = trace("bulk", scenarios.Options(bytes=1_500_000), str(out), on_ready=on_ready,
                wire=wire.spec_from("5ms", None, "5mbit"), tcp=tcpprofile.build("reno"))
    assert res.complete, res.incomplete_reason
    assert len(seen) >= 8, seen
    an = tcpgraphs_cli.load(str(out))
    s = kstate.sender(tcpgraphs.kernel_state(an), an)
    base = an.t0
    agree = 0
    missed = []
    for t0, t1, cwnd, ssthresh in seen:
        if t1 - base < s.t[0]:
            continue  # before the sampler's dump found the socket (within its first milliseconds)
        window = [i for i, t in enumerate(s.t) if t0 - base - 0.003 <= t <= t1 - base + 0.003]
        before = [i for i, t in enumerate(s.t) if t < t0 - base - 0.003 and s.columns["cwnd"][i]][-1:]
        values = {s.columns["cwnd"][i] for i in before + window} - {None}
        if values and min(values) <= cwnd <= max(values):  # what the kernel held between two samples
            agree += 1
        else:
            missed.append((round(t0 - base, 4), round(t1 - base, 4), cwnd, sorted(v for v in values if v)))
        if ssthresh is not None:
            assert ssthresh in {s.columns["ssthresh"][i] for i in window if s.source[i] == 0} | {
                v for t, v in zip(*s.values("ssthresh")) if t <= t1 - base}, (ssthresh, t0)
    assert agree >= 0.9 * len(seen), (agree, len(seen), missed)


@needs_root
@pytest.mark.netns
def test_without_root_sampling_falls_back_to_sock_diag_and_says_so(user, tmp_path):
    import os
    import tempfile
    from pathlib import Path

    from conftest import python_for
    from tracer import userns

    if userns.blocked_reason(userns.knobs(), sys.executable) is not None:
        pytest.skip("this kernel blocks unprivileged user namespaces")
    python = python_for(user.pw_uid)
    if python is None:
        pytest.skip("no Python of this version the new user can run")
    home = Path(tempfile.mkdtemp(prefix="synack-kstate-"))
    try:
        import scapy
        for pkg, src in (("tracer", ROOT / "tracer"), ("viz", ROOT / "viz"),
                         ("scapy", Path(scapy.__file__).parent)):
            shutil.copytree(src, home / pkg, ignore=shutil.ignore_patterns("__pycache__"))
        subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", str(home)], check=True)
        os.chmod(home, 0o755)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "PYTHONPATH": str(home), "LANG": "C.UTF-8"}
        p = subprocess.run(["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
                            python, "-m", "tracer", "trace", "bulk", "--bytes", "300000", "--cc", "cubic", "--delay", "2ms", "--rate", "20mbit",
                            "-o", "b.pcapng"], cwd=home, env=env, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        assert "note: kernel TCP state: not root: sampled through sock_diag" in p.stdout
        m = meta_of(home / "b.pcapng")
        assert m["kstate"]["source"] == "sock_diag" and m["kstate"]["poll_hz"] >= 1000
        sender = [c for c in m["kstate"]["conns"] if c["host"] == "client" and c["dport"] == 10000]
        assert sender and sender[0]["cc"] == "cubic" and max(v for v in sender[0]["samples"]["cwnd"] if v is not None) > 10
        assert m["tcp"]["hosts"]["client"] == "cubic"
    finally:
        shutil.rmtree(home, ignore_errors=True)


# --- figures ------------------------------------------------------------------------

def _svg(path):
    import xml.etree.ElementTree as ET
    root = ET.parse(path).getroot()
    return root, ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]


def test_cwnd_figure_without_samples_is_labelled_estimated(tmp_path):
    out = tmp_path / "c.svg"
    p = synack("graph", ROOT / "captures" / "fast-retransmit.pcapng", "--kind", "cwnd", "-o", out)
    assert p.returncode == 0, p.stderr
    root, texts = _svg(out)
    assert abs(float(root.get("width").removesuffix("pt")) - 960) < 1  # 13.33 x 7.5 in: a 16:9 slide
    assert float(root.get("height").removesuffix("pt")) == 540
    assert any("ESTIMATED from the capture" in t for t in texts), texts
    assert "time (ms)" in texts and "segments" in texts


@needs_root
def test_tsg_and_cwnd_svgs_have_their_parts_and_are_deterministic(tmp_path):
    out = tmp_path / "saw.pcapng"
    p = synack("trace", "sawtooth", "-o", out)
    assert p.returncode == 0, p.stderr
    figs = {}
    for kind, extra in (("tsg", []), ("cwnd", []), ("tsg", ["--style", "stevens", "--time", "0-400"]),
                        ("throughput", []), ("rtt", [])):
        for n in (1, 2):
            f = tmp_path / f"{kind}{len(extra)}-{n}.svg"
            r = synack("graph", out, "--kind", kind, *extra, "-o", f)
            assert r.returncode == 0, r.stderr
        assert f.read_bytes() == (tmp_path / f"{kind}{len(extra)}-1.svg").read_bytes()  # same capture, same bytes
        figs[(kind, bool(extra))] = _svg(f)[1]
    tsg = figs[("tsg", False)]
    for label in ("segment (sequence range)", "retransmission", "ACK (next byte expected)",
                  "advertised window (ACK + rwnd)", "segment dropped (fault)", "time (ms)",
                  "relative sequence number (bytes)"):
        assert label in tsg, (label, tsg)
    assert any(t.startswith("textbook TCP, reno") for t in tsg)  # the caption names the TCP
    cwnd = figs[("cwnd", False)]
    for label in ("cwnd (kernel)", "ssthresh", "CA state Recovery", "retransmission (loss)"):
        assert label in cwnd, (label, cwnd)
    assert any("recorded by the kernel" in t for t in cwnd)
    assert "segment (starting sequence number)" in figs[("tsg", True)]
    assert "acknowledged (goodput)" in figs[("throughput", False)]
    assert "srtt (kernel)" in figs[("rtt", False)]


def test_graph_bad_options_are_one_line_errors(tmp_path):
    cap = ROOT / "captures" / "bulk.pcapng"
    for args, words in ((["--kind", "tsg", "--time", "9-3"], "--time: '9-3'"),
                        (["--kind", "tsg", "--time", "abc"], "--time: 'abc'"),
                        (["--kind", "tsg", "--stream", "7"], "--stream 7"),
                        (["--kind", "tsg", str(cap)], "several are compared with kind cwnd"),
                        (["--kind", "cwnd", str(tmp_path / "none.pcapng")], "no such file")):
        extra = [a for a in args if not a.startswith("-") and a.endswith(".pcapng")]
        opts = [a for a in args if a not in extra]
        p = synack("graph", cap, *extra, *opts, "-o", tmp_path / "x.svg", timeout=60)
        assert p.returncode == 2 and p.stderr.startswith("synack: error: "), (args, p.stderr)
        assert p.stderr.count("\n") == 1 and words in p.stderr, (args, p.stderr)


@needs_root
def test_reno_cubic_bbr_on_shared_axes(tmp_path):
    caps = []
    for cc in ("reno", "cubic", "bbr"):
        out = tmp_path / f"{cc}.pcapng"
        p = synack("trace", "bulk", "--cc", cc, "--rate", "20mbit", "--delay", "5ms", "--bytes", "600000", "-o", out)
        assert p.returncode == 0, p.stderr
        assert meta_of(out)["tcp"]["cc"] == cc
        caps.append(out)
    svg = tmp_path / "cc.svg"
    p = synack("graph", *caps, "--kind", "cwnd", "-o", svg)
    assert p.returncode == 0, p.stderr
    texts = _svg(svg)[1]
    for cc in ("reno", "cubic", "bbr"):
        assert f"{cc}: {cc}.pcapng" in texts, texts  # each algorithm's line, named by the kernel's own cc
    p = synack("graph", *caps, "--kind", "cwnd")
    assert p.returncode == 0 and p.stdout.count("cwnd (kernel)") == 3, p.stdout


def test_forked_result_errors_and_no_child_left(tmp_path):
    """The graph's second process (viz.capture.Forked): its result, its one-line error raised here,
    and no process left either way (`synack graph` of a bad file exits with that error)."""
    import os

    from viz.capture import Forked
    from viz.errors import SynackError

    with Forked(lambda: {"segments": tuple(range(100_000))}) as f:
        assert f.result() == {"segments": tuple(range(100_000))}
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"garbage!" * 4)
    from viz import tcpgraphs_cli
    f = Forked(lambda: tcpgraphs_cli.series("tsg", [str(bad)]))
    pid = f.pid
    with pytest.raises(SynackError, match="not a pcap or pcapng file"):
        f.result()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped
    with Forked(lambda: 1 / 0) as f:
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            f.result()
    with Forked(lambda: 1) as f:
        pid = f.pid
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # closed without asking: killed and reaped
