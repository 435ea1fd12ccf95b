"""--topology routed: a real router namespace between two documentation subnets.

The check is the Kurose & Ross host-router-host figure from real frames: the
same TCP segment captured on the client's link and on the server's link
differs exactly in the MACs, the TTL and the IP header checksum.
"""
from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys

import pytest

from conftest import ROOT, needs_root
from tracer.hosts import in_netns
from viz.capture import open_capture

pytestmark = [needs_root, pytest.mark.netns]
PY = sys.executable


def ip(ns: str, *args: str) -> str:
    return subprocess.run(["ip", "-n", ns, *args], capture_output=True, text=True, check=True).stdout


def sysctl(ns: str, name: str) -> str:
    def read() -> str:
        with open("/proc/sys/" + name.replace(".", "/")) as f:
            return f.read().strip()
    return in_netns(ns, read)


def ip_checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def test_routed_network_shape(make_hosts):
    h = make_hosts(topology="routed")
    c, r, s = h.hosts["client"], h.hosts["router"], h.hosts["server"]
    assert len({c.netns, r.netns, s.netns}) == 3
    assert "inet 192.0.2.1/24" in ip(c.netns, "-o", "addr", "show", "dev", "veth0")
    assert "inet 198.51.100.2/24" in ip(s.netns, "-o", "addr", "show", "dev", "veth0")
    assert "inet 192.0.2.254/24" in ip(r.netns, "-o", "addr", "show", "dev", "eth0")
    assert "inet 198.51.100.254/24" in ip(r.netns, "-o", "addr", "show", "dev", "eth1")
    for ns, ifname, mac in ((c.netns, "veth0", "02:00:00:00:00:01"), (r.netns, "eth0", "02:00:00:00:01:01"),
                            (r.netns, "eth1", "02:00:00:00:01:02"), (s.netns, "veth0", "02:00:00:00:00:02")):
        assert f"link/ether {mac}" in ip(ns, "-o", "link", "show", ifname)
    assert sysctl(r.netns, "net.ipv4.ip_forward") == "1"
    assert sysctl(c.netns, "net.ipv4.ip_forward") == "0"
    # only the two documentation subnets, no default route anywhere
    assert ip(c.netns, "route").split("\n")[1].startswith("198.51.100.0/24 via 192.0.2.254 dev veth0")
    assert "192.0.2.0/24 via 198.51.100.254 dev veth0" in ip(s.netns, "route")
    for host in (c, r, s):
        assert ip(host.netns, "route", "show", "default") == ""
        nets = {line.split()[0] for line in ip(host.netns, "route").splitlines()}
        assert nets <= {"192.0.2.0/24", "198.51.100.0/24"}, nets
    hosts_meta, links = h.metadata({"client", "server"})
    assert [x["name"] for x in hosts_meta] == ["client", "router", "server"]
    assert links == [{"a": "client:veth0", "b": "router:eth0", "captured": True},
                     {"a": "router:eth1", "b": "server:veth0", "captured": True}]

    def answer() -> socket.socket:
        srv = socket.create_server(("198.51.100.2", 7000))
        return srv

    srv = h.run_in("server", answer)
    try:
        conn = h.run_in("client", socket.create_connection, ("198.51.100.2", 7000), 3)
        conn.close()
    finally:
        srv.close()


def segments(path: str) -> dict[tuple, bytes]:
    """(src, dst, sport, dport, ip id, seq) -> frame bytes, for every IPv4 TCP frame."""
    out = {}
    with open_capture(path) as cap:
        for fr in cap:
            d = bytes(fr.data)
            if struct.unpack_from("!H", d, 12)[0] != 0x0800 or d[23] != 6:
                continue
            ihl = (d[14] & 15) * 4
            sport, dport, seq = struct.unpack_from("!HHI", d, 14 + ihl)
            out[(d[26:30], d[30:34], sport, dport, d[18:20], seq)] = (fr.number, d)
    return out


def test_routed_trace_differs_exactly_in_macs_ttl_and_checksum(tmp_path, leak_check):
    out = tmp_path / "r.pcapng"
    p = subprocess.Popen([PY, "-m", "tracer", "trace", "tcp-echo", "--topology", "routed", "-o", str(out)],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    leak_check.add(p.pid)
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == 0, stderr
    a, b = tmp_path / "r.client-link.pcapng", tmp_path / "r.server-link.pcapng"
    assert f"wrote {a}" in stdout and f"wrote {b}" in stdout
    sa, sb = segments(str(a)), segments(str(b))
    assert len(sa) >= 9 and sa.keys() == sb.keys()  # every segment crossed the router
    for key, (_, fa) in sa.items():
        fb = sb[key][1]
        assert len(fa) == len(fb)
        assert fa[0:6] != fb[0:6] and fa[6:12] != fb[6:12]  # both MACs rewritten
        assert fa[12:14] == fb[12:14]
        ihl = (fa[14] & 15) * 4
        ha, hb = fa[14:14 + ihl], fb[14:14 + ihl]
        assert abs(ha[8] - hb[8]) == 1  # TTL: one hop
        assert ha[10:12] != hb[10:12]
        assert ip_checksum(ha) == 0 and ip_checksum(hb) == 0  # both checksums valid
        assert ha[:8] + ha[9:10] + ha[12:] == hb[:8] + hb[9:10] + hb[12:]  # addresses, length, id...
        assert fa[14 + ihl:] == fb[14 + ihl:]  # ports, seq/ack, TCP checksum, payload
    with open_capture(str(a)) as cap:
        meta = cap.meta
    assert meta["capture_point"] == "client" and meta["topology"] == "routed"
    assert [h["name"] for h in meta["hosts"]] == ["client", "router", "server"]
    assert all(link["captured"] for link in meta["links"]) and len(meta["links"]) == 2
    router = meta["hosts"][1]["interfaces"]
    assert [(i["name"], i["mac"], i["addrs"]) for i in router] == [
        ("eth0", "02:00:00:00:01:01", ["192.0.2.254/24"]), ("eth1", "02:00:00:00:01:02", ["198.51.100.254/24"])]

    # the data segment, shown side by side by `synack layers --compare`
    key = next(k for k, (_, f) in sa.items() if k[0] == bytes([192, 0, 2, 1]) and len(f) > 66 + 12)
    frame_no = sa[key][0]
    res = subprocess.run([PY, "-m", "tracer", "layers", str(a), "--frame", str(frame_no), "--compare", str(b)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    marked = sorted(line[1:].strip().rsplit("  ", 1)[0].split("  ")[0] for line in res.stdout.splitlines()
                    if line.startswith("≠"))
    assert marked == ["Destination MAC", "Header Checksum", "Source MAC", "Time to Live"], res.stdout
    assert "4 fields differ" in res.stdout


def test_routed_bad_combinations_fail_before_anything_runs(tmp_path, leak_check):
    for extra, msg in ((["--ipv6"], "IPv4 only"), (["--net", "loopback"], "need --net veth"),
                       (["--delay", "5ms"], "need --topology direct")):
        res = subprocess.run([PY, "-m", "tracer", "trace", "tcp-echo", "--topology", "routed", *extra,
                              "-o", str(tmp_path / "x.pcapng")], cwd=ROOT, capture_output=True, text=True,
                             timeout=60)
        assert res.returncode == 2 and msg in res.stderr and "Traceback" not in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())
