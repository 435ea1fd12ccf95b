"""Lecture code verbatim in the two-host network: `localhost` reaches the other host.

Almost every course program binds or connects to `localhost`, `127.0.0.1` or
`''`.  In two hosts, 127.0.0.1 is each host's own loopback, so an unchanged
client would connect to itself.  The kernel's own NAT makes the programs'
view and the wire agree without touching the programs:

- client host (IPv4): an nftables `output` DNAT sends anything addressed to
  127.0.0.0/8 to the server host, and a `postrouting` SNAT gives it the
  client's address, so the frames on the link are 192.0.2.1 <-> 192.0.2.2.
  `route_localnet` lets a packet that began with a loopback source be
  routed out of veth0 before the SNAT, and lo's MTU is the link's, so the
  SYN advertises the MSS of the path it really takes (1460, not 65495).
- server host: a server that bound a loopback address (`localhost`,
  127.0.0.1) gets a `prerouting` DNAT of arriving traffic for its port to
  that address; one that bound `''`/0.0.0.0/`::` needs nothing.

Everything else is the real kernel: the handshake, the teardown, and the RST
of a port nobody listens on (conntrack reverses it, the client sees
ECONNREFUSED).

IPv6 (--ipv6) has no `route_localnet`: the *name* `localhost` resolves to
the peer (client host) and to the host's own address (server host), and a
literal ::1 gets the same NAT as 127.0.0.1 (an `ip6` table: output DNAT to
the server host, postrouting SNAT to the client's address).  What NAT cannot
do is deliver: once conntrack has turned an arriving packet's address back
into ::1, the kernel's route lookup for a loopback destination is strict
about the interface (rt6_need_strict) and finds no route on veth0.  So the
packets that will become ::1 are moved to lo first, by a tc `mirred ingress
redirect` on veth0 (cls_u32 and act_mirred; the sniffer's tap on veth0 has
already seen them): in the client host every TCP/UDP packet from the server
host (a refused port's RST too) and its ICMPv6 "port unreachable", in the server host the packets for a port
the server bound on ::1, where a `prerouting` DNAT on lo sends them to ::1.
The tables and filters live in the hosts' namespaces and go with them.
"""
from __future__ import annotations

import ipaddress
import subprocess
from dataclasses import dataclass
from typing import Any, Iterable

from viz.errors import SynackError

TABLE = "synack_localhost"


@dataclass(frozen=True)
class Listener:
    """A socket the server bound: TCP in LISTEN, or a bound UDP socket."""

    proto: str  # "tcp" | "udp"
    addr: str
    port: int

    @property
    def loopback(self) -> bool:
        return ipaddress.ip_address(self.addr).is_loopback

    def text(self) -> str:
        host = f"[{self.addr}]" if ":" in self.addr else self.addr
        return f"{self.proto.upper()} {host}:{self.port}"


def _hex_addr(text: str) -> str:
    raw = bytes.fromhex(text)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    addr = ipaddress.IPv6Address(words)
    return str(addr.ipv4_mapped or addr)


def parse_proc_net(text: str, proto: str) -> list[Listener]:
    """Listeners in one /proc/net/{tcp,tcp6,udp,udp6} table (pure)."""
    out = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4:
            continue
        local, remote, state = fields[1], fields[2], fields[3]
        if proto == "tcp" and state != "0A":  # LISTEN
            continue
        if proto == "udp" and int(remote.rsplit(":", 1)[1], 16) != 0:
            continue  # a connected UDP socket is a client's
        addr, port = local.rsplit(":", 1)
        out.append(Listener(proto, _hex_addr(addr), int(port, 16)))
    return out


def listeners(pid: int) -> list[Listener]:
    """The bound sockets of the network namespace process `pid` is in (`ss -ltu`).

    The server's host is fresh, so every such socket is the server's own;
    this works for any language, recorded or not.
    """
    out: list[Listener] = []
    for name, proto in (("tcp", "tcp"), ("tcp6", "tcp"), ("udp", "udp"), ("udp6", "udp")):
        try:
            with open(f"/proc/{pid}/net/{name}") as f:
                out += parse_proc_net(f.read(), proto)
        except OSError:
            continue
    seen: set[Listener] = set()
    return [x for x in out if not (x in seen or seen.add(x))]


def client_ruleset(client: str, server: str) -> str:
    """The client host's nft script: loopback (127.0.0.0/8, or ::1 under --ipv6) goes to the server host."""
    family, loop = ("ip6", "::1") if ":" in server else ("ip", "127.0.0.0/8")
    return (f"table {family} {TABLE} {{\n"
            "  chain output {\n"
            "    type nat hook output priority -100; policy accept;\n"
            f"    {family} daddr {loop} meta l4proto {{ tcp, udp }} dnat to {server}\n"
            "  }\n"
            "  chain postrouting {\n"
            "    type nat hook postrouting priority 100; policy accept;\n"
            f"    oif \"veth0\" {family} saddr {loop} snat to {client}\n"
            "  }\n"
            "}\n")


def server_ruleset(server: str, bound: Iterable[Listener]) -> str:
    """The server host's nft script: arriving traffic for a loopback-bound port goes there
    (IPv4 as it arrives on veth0; IPv6 once tc has moved it to lo, see the module's text)."""
    tables = []
    for family, v6 in (("ip", False), ("ip6", True)):
        iif = "lo" if v6 else "veth0"
        rules = [f"    iif \"{iif}\" {family} daddr {server} {b.proto} dport {b.port} dnat to {b.addr}"
                 for b in bound if b.loopback and (":" in b.addr) == v6 and (":" in server) == v6]
        if rules:
            tables.append(f"table {family} {TABLE} {{\n"
                          "  chain prerouting {\n"
                          "    type nat hook prerouting priority -100; policy accept;\n"
                          + "\n".join(rules) + "\n  }\n}\n")
    return "".join(tables)


PROTO_NUMBER = {"tcp": 6, "udp": 17}
# errors of a connect that never left the client host (no such address family or route there)
NEVER_LEFT = ("EADDRNOTAVAIL", "ENETUNREACH", "EAFNOSUPPORT", "Errno 99]", "Errno 101]", "Errno 97]")


def tc_to_lo(netns: str, matches: Iterable[str], what: str) -> None:
    """tc filters on veth0's ingress moving the matching IPv6 packets to lo (mirred)."""
    steps = [["qdisc", "add", "dev", "veth0", "clsact"]]
    for i, m in enumerate(matches):
        steps.append(["filter", "add", "dev", "veth0", "ingress", "protocol", "ipv6", "pref", str(10 + i),
                      "u32", *m.split(), "action", "mirred", "ingress", "redirect", "dev", "lo"])
    for args in steps:
        proc = subprocess.run(["ip", "netns", "exec", netns, "tc", *args], capture_output=True, text=True)
        if proc.returncode != 0 and not (args[0] == "qdisc" and "File exists" in proc.stderr):
            err = proc.stderr.strip().splitlines()
            raise SynackError(f"cannot install the ::1 redirect in the {what} host with tc (needs cls_u32 and "
                              f"act_mirred): {err[0] if err else proc.returncode}")


def _nft(netns: str, text: str, what: str) -> None:
    proc = subprocess.run(["ip", "netns", "exec", netns, "nft", "-f", "-"], input=text,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        err = proc.stderr.strip().splitlines()
        raise SynackError(f"cannot install the localhost redirect in the {what} host with nft: "
                          f"{err[0] if err else proc.returncode}")


def _host_setup(ipv4: bool) -> None:
    """Inside one host: lo sized like the link, loopback sources routable (IPv4)."""
    import socket
    import struct
    import fcntl

    from tracer.hosts import MTU, write_sysctl

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s.fileno(), 0x8922, struct.pack("16si12x", b"lo", MTU))  # SIOCSIFMTU
    if ipv4:
        for scope in ("all", "veth0"):
            write_sysctl(f"net.ipv4.conf.{scope}.route_localnet", 1)


def prepare(hosts: Any) -> None:
    """Before any program starts: the client half of the redirect."""
    if hosts.net != "veth":
        return
    from tracer.hosts import in_netns

    for host in (hosts.client, hosts.server):
        in_netns(host.netns, _host_setup, not hosts.ipv6)
    _nft(hosts.client.netns, client_ruleset(hosts.client.address, hosts.server.address), "client")
    if hosts.ipv6:
        server = hosts.server.address  # its TCP and UDP, and its ICMPv6 destination unreachable (type 1)
        tc_to_lo(hosts.client.netns, [f"match ip6 src {server}/128 match ip6 protocol {n} 0xff"
                                      for n in PROTO_NUMBER.values()]
                 + [f"match ip6 src {server}/128 match ip6 protocol 58 0xff match ip6 icmp_type 1 0xff"], "client")


def redirect_server(hosts: Any, bound: list[Listener]) -> list[Listener]:
    """Once the server is ready: DNAT to the loopback addresses it bound; returns those."""
    if hosts.net != "veth":
        return []
    loop = [b for b in bound if b.loopback and (":" in b.addr) == hosts.ipv6]
    text = server_ruleset(hosts.server.address, loop)
    if text:
        _nft(hosts.server.netns, text, "server")
    if hosts.ipv6 and loop:
        tc_to_lo(hosts.server.netns, [f"match ip6 dst {hosts.server.address}/128 match ip6 protocol "
                                      f"{PROTO_NUMBER[b.proto]} 0xff match ip6 dport {b.port} 0xffff"
                                      for b in loop], "server")
    return loop


def view(calls: list[dict], server_address: str, redirected: list[Listener],
         by_name: bool = False) -> dict[str, Any]:
    """The capture's `localhost` metadata: what the programs asked for, in their words, and
    where it went.  `client`: loopback targets the client used; `server`: loopback addresses the
    server bound and got the arriving traffic at; `notes`: the same in sentences."""
    targets: list[str] = []
    verbs: dict[str, str] = {}
    failed: dict[str, list[bool]] = {}  # per target, per return: refused in the client host itself?
    for c in calls:
        if c.get("host") != "client" or c.get("call") not in ("connect", "connect_ex", "sendto"):
            continue
        target = _loopback_target(c.get("args", ""))
        if not target:
            continue
        if target not in targets:
            targets.append(target)
            verbs[target] = "sent" if c["call"] == "sendto" else "connected"
        if c.get("phase", "return") == "return":
            text = f"{c.get('error', '')} {c.get('result', '')}"
            failed.setdefault(target, []).append(any(e in text for e in NEVER_LEFT))
    targets = [x for x in targets if not all(failed.get(x, [False]))]  # not getaddrinfo's ::1 probe
    def how(target: str) -> str:
        if by_name and target.startswith("localhost:"):
            return f"the name localhost is the server host {server_address} (IPv6: /etc/hosts, not NAT)"
        return f"redirected to the server host {server_address}"

    notes = [f"client {verbs[x]} to {_shown(x)}, {how(x)}" for x in targets]
    notes += [f"server bound {_shown(f'{b.addr}:{b.port}')}; arriving {b.proto.upper()} for port {b.port} is "
              "delivered there" for b in redirected]
    if not notes:
        return {}
    return {"client": targets, "server": [f"{b.addr}:{b.port}" for b in redirected],
            "server_host": server_address, "via": "name" if by_name else "nat", "notes": notes}


def _shown(target: str) -> str:
    """'::1:10000' -> '[::1]:10000'."""
    host, port = target.rsplit(":", 1)
    return f"[{host}]:{port}" if ":" in host else target


def _loopback_target(args: str) -> str | None:
    """`('localhost', 10000)` or `12, ('127.0.0.1', 9)` -> 'localhost:10000' when it is loopback."""
    import re

    m = re.search(r"\('([^']*)', (\d+)", args)
    if not m:
        return None
    host, port = m[1], m[2]
    if host == "localhost" or host.startswith("127.") or host == "::1":
        return f"{host}:{port}"
    return None
