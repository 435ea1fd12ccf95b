"""ICMP, ICMPv6, DNS and ARP on the ladder: labels checked against tshark on corpus and traced
captures; the ping, traceroute (through a router) and dns scenarios traced for real."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import needs_root
from corpus_path import CORPUS_DIR as CORPUS
from viz import dns, icmp
from viz.commands.ladder import load
from viz.ladder import build_ladder

ROOT = Path(__file__).resolve().parents[1]
needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")


def tshark(path, *fields, filt="icmp || icmpv6"):
    """frame number -> {field: first value} for the frames matching `filt`."""
    args = ["tshark", "-r", str(path), "-Y", filt, "-T", "fields", "-E", "occurrence=f", "-e", "frame.number"]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in out.splitlines():
        cols = line.split("\t")
        rows[int(cols[0])] = dict(zip(fields, cols[1:]))
    return rows


ICMP_CAPTURES = [ROOT / "captures" / "ping.pcapng", ROOT / "captures" / "traceroute.pcapng"] + [
    CORPUS / n for n in ("IcmpPackets.pcap", "example2.pcap", "GrePackets_pptp.pcap", "GrePackets.pcap")]


@needs_tshark
@pytest.mark.parametrize("path", [p for p in ICMP_CAPTURES if p.exists()], ids=lambda p: p.name)
def test_icmp_header_fields_and_rtt_equal_tshark(path):
    an = load(str(path))
    truth = tshark(path, "icmp.type", "icmp.code", "icmp.ident", "icmp.seq", "icmp.resptime",
                   "icmpv6.type", "icmpv6.code", "icmpv6.echo.identifier", "icmpv6.echo.sequence_number",
                   "icmpv6.resptime")
    assert truth
    replies = icmp.echo_replies(an)
    for frame, t in truth.items():
        p = an.packet(frame)
        v6 = p.proto == "icmpv6"
        pre = "icmpv6." if v6 else "icmp."
        typ, code, ident, seq = p.icmp
        assert (typ, code) == (int(t[pre + "type"]), int(t[pre + "code"])), frame
        want_id = t["icmpv6.echo.identifier" if v6 else "icmp.ident"]
        if want_id and typ in icmp._ID_SEQ[p.proto]:
            want_seq = t["icmpv6.echo.sequence_number" if v6 else "icmp.seq"]
            assert (ident, seq) == (int(want_id, 0), int(want_seq, 0)), frame
            assert f"id=0x{int(want_id, 0):04x} seq={int(want_seq, 0)}" in icmp.label(p)
        rtt = t[pre + "resptime"]
        if rtt:
            req = an.packet(replies[frame])
            assert abs((p.ts - req.ts) * 1e3 - float(rtt)) < 1e-3, frame
        else:
            assert frame not in replies


@needs_tshark
@pytest.mark.skipif(not (CORPUS / "IcmpPackets.pcap").exists(), reason="corpus not present")
def test_icmp_names_follow_tshark_meaning():
    an = load(str(CORPUS / "IcmpPackets.pcap"))
    info = tshark(CORPUS / "IcmpPackets.pcap", "_ws.col.Info")
    # tshark's wording, lower-cased, contains the label's words for the textbook types.
    same = {"echo (ping) request": "echo request", "echo (ping) reply": "echo reply",
            "port unreachable": "port unreachable", "host unreachable": "host unreachable",
            "time-to-live exceeded": "time exceeded (TTL)", "redirect for host": "redirect (host)",
            "timestamp request": "timestamp request", "timestamp reply": "timestamp reply",
            "source quench": "source quench", "router solicitation": "router solicitation",
            "address mask request": "address mask request", "address mask reply": "address mask reply"}
    checked = 0
    for frame, t in info.items():
        text = t["_ws.col.Info"].lower()
        for theirs, ours in same.items():
            if theirs in text:
                assert icmp.message(an.packet(frame)) == ours, (frame, text)
                checked += 1
    assert checked >= 12


@needs_tshark
@pytest.mark.parametrize("path", [p for p in (ROOT / "captures" / "dns.pcapng", CORPUS / "DnsPackets.pcap",
                                              CORPUS / "sll.pcap") if p.exists()], ids=lambda p: p.name)
def test_dns_labels_equal_tshark(path):
    an = load(str(path))
    truth = tshark(path, "dns.id", "dns.flags.response", "dns.qry.name", "dns.qry.type", "dns.flags.rcode",
                   "dns.a", "dns.aaaa", "dns.cname", "dns.count.answers", filt="dns")
    assert truth
    for frame, t in truth.items():
        p = an.packet(frame)
        text = dns.label(p)
        kind = "response" if t["dns.flags.response"] in ("1", "True") else "query"
        qtype = dns.TYPES[int(t["dns.qry.type"])]
        assert text.startswith(f"DNS {kind} 0x{int(t['dns.id'], 0):04x} {qtype} {t['dns.qry.name']}"), text
        if kind == "response":
            first = f"CNAME {t['dns.cname']}" if t["dns.cname"] else t["dns.a"] or t["dns.aaaa"]
            n = int(t["dns.count.answers"])
            if int(t["dns.flags.rcode"]) == 3:
                assert text.endswith("→ NXDOMAIN")
            elif first and f"→ {first}" in text:
                assert text.endswith(f"→ {first}" + (f" (+{n - 1})" if n > 1 else ""))
            else:  # the first answer lies past the bytes the analysis keeps: counted, not guessed
                assert text.endswith(f"→ {n} answer" + ("s" if n > 1 else "")), text


@pytest.mark.skipif(not (CORPUS / "IcmpPackets.pcap").exists(), reason="corpus not present")
def test_icmp_conversations_left_out_are_named_in_the_caption():
    an = load(str(CORPUS / "IcmpPackets.pcap"))
    lad = build_ladder(an)
    total = len(icmp.conversations(an))
    assert len(lad.lifelines) <= 5 and total > len(lad.streams)
    assert lad.caption.endswith(f"ICMP conversations 0-{len(lad.streams) - 1} of {total} drawn (--stream icmp:N)")
    assert build_ladder(an, stream="icmp:5").streams == (("icmp", 5),)


def test_icmp_only_capture_draws():
    an = load(str(ROOT / "captures" / "ping.pcapng"))
    lad = build_ladder(an)
    assert [a.label.split(" id=")[0] for a in lad.arrows] == ["ICMP echo request", "ICMP echo reply"] * 3
    assert [lf.heading for lf in lad.lifelines] == ["client 192.0.2.1", "server 192.0.2.2"]
    assert all("RTT=" in a.label for a in lad.arrows[1::2])
    assert all(a.src == 0 for a in lad.arrows[0::2]) and all(a.src == 1 for a in lad.arrows[1::2])


def test_errors_join_the_datagram_they_quote():
    """traceroute: the probe answered by the router ends at the router; the port unreachable comes
    from the destination's endpoint; both are rows of the one UDP conversation."""
    an = load(str(ROOT / "captures" / "traceroute.pcapng"))
    lad = build_ladder(an)
    names = [lf.role for lf in lad.lifelines]
    assert names == ["client", "router", "server"]
    by_label = [(a.label, names[a.src], names[a.dst]) for a in lad.arrows]
    assert by_label == [
        ("UDP len=7, TTL expired", "client", "router"),
        ("ICMP time exceeded (TTL)", "router", "client"),
        ("UDP len=7", "client", "server"),
        ("ICMP port unreachable", "server", "client"),
    ]
    assert {a.stream for a in lad.arrows} == {lad.streams[0][1]} and lad.streams[0][0] == "udp"
    assert icmp.caused_by(an, an.packet(lad.arrows[1].frame)) == lad.arrows[0].frame


def test_arp_is_drawn_only_when_asked():
    an = load(str(ROOT / "captures" / "dns.pcapng"))
    plain = build_ladder(an)
    assert not any(a.label.startswith("ARP") for a in plain.arrows)
    lad = build_ladder(an, arp=True)
    assert [a.label for a in lad.arrows[:2]] == ["ARP who-has 192.0.2.2? tell 192.0.2.1",
                                                 "ARP 192.0.2.2 is-at 02:00:00:00:00:02"]
    assert (lad.arrows[0].src, lad.arrows[0].dst) == (0, 1) and len(lad.lifelines) == 2


# ---------------------------------------------------------------------------
# The scenarios, traced for real.


def _trace(tmp_path, name, *args):
    out = tmp_path / f"{name}.pcapng"
    r = subprocess.run([sys.executable, "-m", "tracer", "trace", name, "--client-port", "40000", "-o", str(out), *args],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return out, r


@needs_root
@needs_tshark
@pytest.mark.netns
@pytest.mark.parametrize("v6", [False, True], ids=["ipv4", "ipv6"])
def test_ping_scenario(tmp_path, v6):
    out, _ = _trace(tmp_path, "ping", *(["--ipv6"] if v6 else []))
    proto = "icmpv6" if v6 else "icmp"
    truth = tshark(out, f"{proto}.type", filt=f"{proto}.type == {128 if v6 else 8} || "
                                               f"{proto}.type == {129 if v6 else 0}")
    lad = build_ladder(load(str(out)))
    assert [a.frame for a in lad.arrows] == sorted(truth)
    assert len(lad.arrows) == 6 and all(f"seq={k // 2 + 1}" in a.label for k, a in enumerate(lad.arrows))
    assert all(("reply" in a.label) == (k % 2 == 1) for k, a in enumerate(lad.arrows))
    calls = load(str(out)).calls
    assert [c.args for c in calls if c.call == "socket"] == [
        "AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6" if v6 else "AF_INET, SOCK_DGRAM, IPPROTO_ICMP"]
    sends = [c.frame for c in calls if c.call == "sendto" and c.phase == "call"]
    reads = [c.frame for c in calls if c.call == "recvfrom" and c.phase == "return"]
    assert sends == [a.frame for a in lad.arrows[0::2]]  # each sendto is tied to its echo request
    assert reads == [a.frame for a in lad.arrows[1::2]]  # and each recvfrom to the reply it returned
    arp = build_ladder(load(str(out)), arp=True)
    if not v6:
        truth = tshark(out, "arp.opcode", "arp.src.proto_ipv4", "arp.dst.proto_ipv4", "arp.src.hw_mac", filt="arp")
        want = [f"ARP who-has {t['arp.dst.proto_ipv4']}? tell {t['arp.src.proto_ipv4']}" if t["arp.opcode"] == "1"
                else f"ARP {t['arp.src.proto_ipv4']} is-at {t['arp.src.hw_mac']}" for t in truth.values()]
    else:  # neighbour discovery: the solicitation is drawn to its target, not to the multicast group
        truth = tshark(out, "icmpv6.type", "icmpv6.nd.ns.target_address", "icmpv6.nd.na.target_address",
                       "icmpv6.opt.linkaddr", filt="icmpv6.type == 135 || icmpv6.type == 136")
        want = [f"ICMPv6 neighbor solicitation for {t['icmpv6.nd.ns.target_address']}" if t["icmpv6.type"] == "135"
                else f"ICMPv6 neighbor advertisement {t['icmpv6.nd.na.target_address']} is-at "
                     f"{t['icmpv6.opt.linkaddr']}" for t in truth.values()]
    assert want and [a.label for a in arp.arrows[:len(want)]] == want
    assert len(arp.lifelines) == 2 and {(a.src, a.dst) for a in arp.arrows} == {(0, 1), (1, 0)}


@needs_root
@needs_tshark
@pytest.mark.netns
def test_traceroute_scenario_through_the_router(tmp_path):
    out, r = _trace(tmp_path, "traceroute", "--topology", "routed")
    cap = tmp_path / "traceroute.client-link.pcapng"
    truth = tshark(cap, "icmp.type", "icmp.code", "ip.src")
    assert [(t["icmp.type"], t["icmp.code"]) for t in truth.values()] == [("11", "0"), ("3", "3")]
    lad = build_ladder(load(str(cap)))
    errors = [a for a in lad.arrows if a.proto == "icmp"]
    assert [lad.lifelines[a.src].endpoint.addr for a in errors] == [t["ip.src"] for t in truth.values()]
    assert lad.lifelines[errors[0].src].role == "router"


@needs_root
@needs_tshark
@pytest.mark.netns
def test_traceroute_on_the_direct_link_is_one_port_unreachable(tmp_path):
    """A UDP datagram to a closed port: the ICMP error is drawn in that UDP exchange."""
    out, _ = _trace(tmp_path, "traceroute")
    lad = build_ladder(load(str(out)))
    assert [a.label for a in lad.arrows] == ["UDP len=7", "ICMP port unreachable"]
    assert [a.src for a in lad.arrows] == [0, 1] and len(lad.lifelines) == 2


@needs_root
@needs_tshark
@pytest.mark.netns
def test_dns_scenario(tmp_path):
    out, _ = _trace(tmp_path, "dns")
    truth = tshark(out, "dns.qry.name", "dns.a", "dns.aaaa", "dns.flags.rcode", filt="dns")
    lad = build_ladder(load(str(out)))
    labels = [a.label for a in lad.arrows]
    assert len(labels) == len(truth) == 6
    assert labels[1].endswith("→ " + truth[sorted(truth)[1]]["dns.a"])
    assert labels[3].endswith("→ " + truth[sorted(truth)[3]]["dns.aaaa"])
    assert labels[5].endswith("→ NXDOMAIN")
    meta = json.dumps(load(str(out)).capture.meta)
    assert '"scenario": "dns"' in meta


def test_arp_option_in_command_and_manifest(tmp_path):
    r = subprocess.run([sys.executable, "-m", "tracer", "ladder", str(ROOT / "captures" / "ping.pcapng"), "--arp",
                        "--width", "100"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and "ARP who-has 192.0.2.2? tell 192.0.2.1" in r.stdout
    plain = subprocess.run([sys.executable, "-m", "tracer", "ladder", str(ROOT / "captures" / "ping.pcapng"),
                            "--width", "100"], cwd=ROOT, capture_output=True, text=True)
    assert plain.returncode == 0 and "ARP" not in plain.stdout
    from tracer.build import load_manifest, request

    spec = tmp_path / "m.toml"
    spec.write_text('[[figure]]\nname = "p"\ncapture = "%s"\nladder = { arp = true }\n'
                    % (ROOT / "captures" / "ping.pcapng"))
    fig = load_manifest(spec).figures[0]
    assert fig.opt("arp") is True and "--arp" in request(fig, fig.source.capture, str(tmp_path)).command()


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="needs pdflatex")
@pytest.mark.parametrize("name", ["dns", "traceroute"])
def test_icmp_and_dns_ladders_compile_as_tikz(tmp_path, name):
    """DNS answers carry an arrow (→) and ICMP labels commas: the TikZ output still compiles."""
    out = tmp_path / f"{name}.tex"
    r = subprocess.run([sys.executable, "-m", "tracer", "ladder", str(ROOT / "captures" / f"{name}.pcapng"), "-o",
                        str(out)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    p = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", out.name], cwd=tmp_path,
                       capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stdout[-2000:]
    assert out.with_suffix(".pdf").stat().st_size > 1000
