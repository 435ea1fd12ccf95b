"""The isolated hosts, checked from inside the real namespaces."""
from __future__ import annotations

import sys
import ctypes
import fcntl
import os
import socket
import struct
import subprocess

import pytest

from conftest import inventory, needs_root
from tracer import hosts as hostmod
from tracer.hosts import Hosts, in_netns

pytestmark = [needs_root, pytest.mark.netns]

ETHTOOL_GET = {"tx-checksum": 0x16, "scatter-gather": 0x18, "tso": 0x1E, "gso": 0x23, "gro": 0x2B}


def features(ifname: str) -> dict[str, int]:
    """Read offload flags with the legacy ethtool get-ioctls (no ethtool binary here)."""
    out = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for name, cmd in ETHTOOL_GET.items():
            buf = ctypes.create_string_buffer(struct.pack("II", cmd, 0), 8)
            fcntl.ioctl(s.fileno(), hostmod.SIOCETHTOOL,
                        struct.pack("16sP", ifname.encode(), ctypes.addressof(buf)))
            out[name] = struct.unpack("II", buf.raw)[1]
    return out


def ip(ns: str, *args: str) -> str:
    return subprocess.run(["ip", "-n", ns, *args], capture_output=True, text=True, check=True).stdout


def sysctl(ns: str, name: str) -> str:
    def read() -> str:
        with open("/proc/sys/" + name.replace(".", "/")) as f:
            return f.read().strip()
    return in_netns(ns, read)


def test_veth_pair_is_the_textbook_network(hosts):
    c, s = hosts.client, hosts.server
    assert c.netns != s.netns and c.netns.startswith(f"synack-{os.getpid()}-")
    for host, mac, addr in ((c, "02:00:00:00:00:01", "192.0.2.1/24"), (s, "02:00:00:00:00:02", "192.0.2.2/24")):
        link = ip(host.netns, "-o", "link", "show", "veth0")
        assert f"link/ether {mac}" in link and "mtu 1500" in link and "state UP" in link
        addrs = ip(host.netns, "-o", "addr", "show", "dev", "veth0")
        assert f"inet {addr}" in addrs
        assert "inet6" not in addrs  # IPv6 off: no link-local, no solicitations
        assert sysctl(host.netns, "net.ipv6.conf.veth0.disable_ipv6") == "1"
        assert "state UNKNOWN" in ip(host.netns, "-o", "link", "show", "lo")  # lo is up
        assert ip(host.netns, "route", "show", "default") == ""  # nothing can leave
        assert ip(host.netns, "-6", "route", "show", "default") == ""
        assert sysctl(host.netns, "net.ipv4.ip_unprivileged_port_start") == "0"
        offs = in_netns(host.netns, features, "veth0")
        assert offs == {"tx-checksum": 0, "scatter-gather": 0, "tso": 0, "gso": 0, "gro": 0}, offs
    assert hosts.server_address == "192.0.2.2"
    meta_hosts, links = hosts.metadata({"client"})
    assert [h["name"] for h in meta_hosts] == ["client", "server"]
    assert meta_hosts[0]["interfaces"][0]["peer"] == "server:veth0"
    assert links == [{"a": "client:veth0", "b": "server:veth0", "captured": True}]


def test_hosts_talk_over_the_veth_and_names_resolve(hosts):
    """A real TCP exchange across the pair, with `server` resolved through the
    hosts file `ip netns exec` mounts, as an unprivileged user."""
    srv = subprocess.Popen(hosts.command("server", [sys.executable, "-c",
        "import socket; s=socket.create_server(('',7000)); print('up',flush=True); "
        "c,_=s.accept(); c.sendall(c.recv(100).upper()); c.close()"], 65534, 65534),
        stdout=subprocess.PIPE, text=True)
    try:
        assert srv.stdout.readline() == "up\n"
        out = subprocess.run(hosts.command("client", [sys.executable, "-c",
            "import socket,os; s=socket.create_connection(('server',7000)); s.sendall(b'hi'); "
            "print(s.recv(100).decode(), s.getsockname()[0], os.getuid())"], 65534, 65534),
            capture_output=True, text=True, timeout=10)
        assert out.stdout.split() == ["HI", "192.0.2.1", "65534"], out.stderr
    finally:
        srv.kill()
        srv.wait()


def test_ipv6_hosts_have_only_documentation_addresses(make_hosts):
    h = make_hosts(ipv6=True)
    addrs = ip(h.client.netns, "-o", "addr", "show", "dev", "veth0")
    assert "inet6 2001:db8::1/64" in addrs and "fe80" not in addrs and "inet " not in addrs
    assert h.server_address == "2001:db8::2"
    assert sysctl(h.client.netns, "net.ipv6.conf.veth0.accept_ra") == "0"


def test_loopback_is_one_namespace(make_hosts):
    h = make_hosts(net="loopback")
    assert h.client is h.server and h.client.netns.endswith("-lo")
    assert h.capture_point("client") == ("lo", h.client.netns, "lo")
    assert "127.0.0.1/8" in ip(h.client.netns, "-o", "addr", "show", "dev", "lo")
    assert ip(h.client.netns, "-o", "link", "show", "type", "veth") == ""


def test_concurrent_hosts_do_not_collide(make_hosts):
    a, b = make_hosts(), make_hosts()
    assert len({a.client.netns, a.server.netns, b.client.netns, b.server.netns}) == 4


def test_close_removes_everything_even_after_an_error(leak_check):
    with pytest.raises(RuntimeError):
        with Hosts() as h:
            names = [h.client.netns, h.server.netns]
            assert all(os.path.exists(f"/run/netns/{n}") for n in names)
            assert os.path.exists(f"/etc/netns/{names[0]}/hosts")
            raise RuntimeError("boom")
    assert not any(os.path.exists(f"/run/netns/{n}") for n in names)
    assert not any(os.path.exists(f"/etc/netns/{n}") for n in names)
    assert inventory()["netns"] == set()


def test_bad_network_name_is_a_user_error():
    from viz.errors import SynackError

    with pytest.raises(SynackError, match="--net"):
        Hosts(net="wifi")
