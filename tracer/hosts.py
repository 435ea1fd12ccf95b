"""Isolated hosts: network namespaces joined by a veth pair, or one namespace's lo.

The hosts must look like a textbook network, not like a Linux box: wire-sized
frames with valid checksums (segmentation and tx checksum offloads off), fixed
MACs and addresses from the documentation ranges (192.0.2.0/24,
2001:db8::/32), no default route so nothing can leave, and no IPv6 chatter
when a scenario is IPv4 only.  Every name carries the pid and a random tag so
concurrent traces never collide, and `Hosts` is a context manager that removes
everything it made whatever way the block ends.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import secrets
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from viz.errors import SynackError

CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = "/run/netns"
NETNS_ETC_DIR = "/etc/netns"
PREFIX = "synack-"

CLIENT_MAC = "02:00:00:00:00:01"
SERVER_MAC = "02:00:00:00:00:02"
CLIENT_V4, SERVER_V4 = "192.0.2.1", "192.0.2.2"
CLIENT_V6, SERVER_V6 = "2001:db8::1", "2001:db8::2"
MTU = 1500

# --topology routed: two documentation subnets joined by a router namespace.
ROUTED_CLIENT_V4, ROUTED_SERVER_V4 = "192.0.2.1", "198.51.100.2"
ROUTER_CLIENT_V4, ROUTER_SERVER_V4 = "192.0.2.254", "198.51.100.254"
CLIENT_NET, SERVER_NET = "192.0.2.0/24", "198.51.100.0/24"
ROUTER_CLIENT_MAC, ROUTER_SERVER_MAC = "02:00:00:00:01:01", "02:00:00:00:01:02"
# the delay element (tracer.wire): two unaddressed ports of an L2 forwarder
WIRE_CLIENT_MAC, WIRE_SERVER_MAC = "02:00:00:00:02:01", "02:00:00:00:02:02"
TOPOLOGIES = ("direct", "routed")

# Legacy ethtool set-commands (linux/ethtool.h).  Turning tx checksumming off
# also drops TSO; GSO and GRO are separate, so each is switched off by name.
SIOCGIFFLAGS = 0x8913
IFF_RUNNING = 0x40
SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM = 0x17
ETHTOOL_SSG = 0x19
ETHTOOL_STSO = 0x1F
ETHTOOL_SGSO = 0x24
ETHTOOL_SGRO = 0x2C
OFFLOADS_OFF = (ETHTOOL_STSO, ETHTOOL_SGSO, ETHTOOL_SGRO, ETHTOOL_SSG, ETHTOOL_STXCSUM)

_libc = ctypes.CDLL(None, use_errno=True)

# sh -c SCRIPT synack-tmp N PATH... ARGV...: hold each PATH open, put a tmpfs on /tmp, bind
# each one back at its own name (mount -c: through the held descriptor, not the now hidden
# path), then exec ARGV.
PRIVATE_TMP = r"""set -e
n=$1; shift; i=0
while [ $i -lt $n ]; do eval "p$i=\$1; exec $((i + 3))<\"\$1\""; shift; i=$((i + 1)); done
mount -t tmpfs -o mode=1777 synack-tmp /tmp
i=0
while [ $i -lt $n ]; do
  eval "p=\$p$i"
  if [ -d /proc/self/fd/$((i + 3)) ]; then mkdir -p "$p"; else mkdir -p "${p%/*}"; : > "$p"; fi
  mount -c --bind /proc/self/fd/$((i + 3)) "$p"
  eval "exec $((i + 3))<&-"
  i=$((i + 1))
done
exec "$@"
"""


_PROC_MOUNT: list[bool] = []


def _own_proc() -> tuple[str, ...]:
    """`--mount-proc`, if a test of it works here (once per process): a container that masks
    parts of /proc refuses a fresh proc mount, and the programs must start all the same."""
    if not _PROC_MOUNT:
        try:
            ok = subprocess.run(["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "true"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                timeout=10).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        _PROC_MOUNT.append(ok)
    return ("--mount-proc",) if _PROC_MOUNT[0] else ()


@dataclass(frozen=True)
class Interface:
    name: str
    mac: str
    addrs: tuple[str, ...]
    peer: str | None
    mtu: int

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "mac": self.mac, "addrs": list(self.addrs),
                "peer": self.peer, "mtu": self.mtu}


@dataclass(frozen=True)
class Host:
    """One logical host; `netns` is the kernel namespace name behind it."""

    name: str
    role: str
    netns: str
    address: str
    interfaces: tuple[Interface, ...] = field(default_factory=tuple)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role,
                "interfaces": [i.as_json() for i in self.interfaces]}


def setns(path: str) -> None:
    """Move the calling thread (only) into the network namespace at `path`."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


def in_netns(netns: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Run fn in a fresh thread that has joined `netns`; return its result.

    setns moves only the calling thread, and sockets keep the namespace they
    were made in, so a throw-away thread is the cheap way to open a socket,
    write a sysctl or issue an ioctl inside a namespace.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            setns(os.path.join(NETNS_RUN_DIR, netns))
            box["value"] = fn(*args)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"netns:{netns}", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _mapped_gids() -> str:
    """The gids this user namespace maps ("0 2147483647" outside one): the kernel refuses a
    ping_group_range beyond them (EINVAL in an unprivileged user's own namespace)."""
    try:
        rows = [list(map(int, line.split())) for line in open("/proc/self/gid_map") if line.strip()]
    except OSError:
        rows = []
    if not rows:
        return "0 2147483647"
    return f"{min(r[0] for r in rows)} {min(max(r[0] + r[2] - 1 for r in rows), 2147483647)}"


def write_sysctl(name: str, value: str | int) -> None:
    """Write a sysctl of the calling thread's network namespace."""
    with open("/proc/sys/" + name.replace(".", "/"), "w") as f:
        f.write(str(value))


def offloads_off(ifname: str) -> list[str]:
    """Switch off segmentation/checksum offloads; return the ones that stay on.

    lo has some of these fixed on; the caller decides whether that matters.
    """
    failed = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for cmd in OFFLOADS_OFF:
            value = ctypes.create_string_buffer(struct.pack("II", cmd, 0), 8)
            ifreq = struct.pack("16sP", ifname.encode(), ctypes.addressof(value))
            try:
                fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifreq)
            except OSError:
                failed.append(hex(cmd))
    return failed


def wait_running(ifname: str, timeout: float) -> None:
    """Wait until the link is operationally up (IFF_RUNNING).

    Until the kernel's linkwatch activates the device, its qdisc is noop and
    silently drops every frame, so the first SYN could vanish.
    """
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        while True:
            ifreq = fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, struct.pack("16sH14x", ifname.encode(), 0))
            if struct.unpack_from("16sH", ifreq)[1] & IFF_RUNNING:
                return
            if time.monotonic() > deadline:
                raise SynackError(f"link {ifname} did not come up within {timeout:g} s")
            time.sleep(0.001)


def require_root() -> None:
    """Root, or root of synack's own user namespace (tracer.userns, entered by the commands)."""
    if os.geteuid() == 0:
        return
    from tracer import userns

    why = userns.blocked_reason(userns.knobs(), os.path.realpath(sys.executable))
    raise SynackError("synack needs root (or a user namespace of its own) to create network namespaces: "
                      + (why or "run it from the synack command (it enters one itself), or with sudo"))


def _read(path: str, default: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def _ip(*args: str, batch: str | None = None) -> subprocess.Popen:
    cmd = ["ip", *args] + (["-batch", "-"] if batch is not None else [])
    return subprocess.Popen(cmd, stdin=subprocess.PIPE if batch is not None else None,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _check(proc: subprocess.Popen, what: str, batch: str | None = None) -> None:
    _, err = proc.communicate(batch)
    if proc.returncode != 0:
        raise SynackError(f"cannot {what}: {err.strip().splitlines()[-1] if err.strip() else proc.returncode}")


def _owner() -> str:
    from viz.output import owner

    return owner()


def list_namespaces() -> list[str]:
    try:
        return sorted(os.listdir(NETNS_RUN_DIR))
    except FileNotFoundError:
        return []


class Hosts:
    """The test network for one trace.

    net="veth": namespaces `client` and `server` joined by veth0<->veth0.
    net="loopback": one namespace; both programs talk over its lo.
    """

    def __init__(self, net: str = "veth", ipv6: bool = False, tag: str | None = None,
                 topology: str = "direct", wire: Any = None):
        if net not in ("veth", "loopback"):
            raise SynackError(f"--net: unknown network {net!r} (choose veth or loopback)")
        if topology not in TOPOLOGIES:
            raise SynackError(f"--topology: unknown topology {topology!r} (choose {' or '.join(TOPOLOGIES)})")
        if net == "loopback" and (topology != "direct" or wire is not None):
            raise SynackError("--net loopback has no link: --topology routed, --delay, --jitter "
                              "and --rate need --net veth")
        if topology == "routed" and ipv6:
            raise SynackError("--topology routed is IPv4 only (192.0.2.0/24 and 198.51.100.0/24); drop --ipv6")
        if topology == "routed" and wire is not None:
            raise SynackError("--delay/--jitter/--rate need --topology direct (the wire replaces the router)")
        self.topology = topology
        self.wire_spec = wire
        self.wire: Any = None
        self.net = net
        self.ipv6 = ipv6
        # PID-START names the owner, so a SIGKILLed trace's hosts can be reclaimed (tracer.leftovers).
        self.tag = tag or f"{PREFIX}{_owner()}-{secrets.token_hex(3)}"
        self.made: list[str] = []
        self.etc_dirs: list[str] = []
        self.hosts: dict[str, Host] = {}
        self.offload_warnings: dict[str, list[str]] = {}

    # context manager -------------------------------------------------------
    def __enter__(self) -> "Hosts":
        try:
            self.create()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # construction ------------------------------------------------------------
    def create(self) -> None:
        require_root()
        from tracer import leftovers

        leftovers.reclaim_quietly()
        if self.net == "loopback":
            self._create_loopback()
        elif self.topology == "routed":
            self._create_routed()
        elif self.wire_spec is not None:
            self._create_wire()
        else:
            self._create_veth()

    def _ns(self, role: str) -> str:
        return f"{self.tag}-{role}"

    def _create_veth(self) -> None:
        cns, sns = self._ns("client"), self._ns("server")
        batch = (f"netns add {cns}\nnetns add {sns}\n"
                 f"link add veth0 index 11 netns {cns} address {CLIENT_MAC} mtu {MTU} type veth "
                 f"peer name veth0 index 12 netns {sns} address {SERVER_MAC} mtu {MTU}\n")
        self.made += [cns, sns]
        _check(_ip(batch=batch), "create the network namespaces", batch)
        for ns in (cns, sns):
            self.offload_warnings[ns] = in_netns(ns, self._configure_ns, "veth0")
        cidr = "/64" if self.ipv6 else "/24"
        caddr, saddr = (CLIENT_V6, SERVER_V6) if self.ipv6 else (CLIENT_V4, SERVER_V4)
        extra = " nodad" if self.ipv6 else ""
        procs = []
        for ns, addr in ((cns, caddr), (sns, saddr)):
            b = f"addr add {addr}{cidr} dev veth0{extra}\nlink set lo up\nlink set veth0 up\n"
            procs.append((_ip("-n", ns, batch=b), b))
        for p, b in procs:
            _check(p, "configure the veth pair", b)
        for ns in (cns, sns):
            in_netns(ns, wait_running, "veth0", 3.0)
        names = {"client": caddr, "server": saddr}
        # IPv6 cannot NAT ::1 across a link (tracer.localhost): the name localhost is the server host
        self._write_etc_hosts([cns, sns], names, localhost6=saddr if self.ipv6 else None)
        self.hosts = {
            "client": Host("client", "client", cns, caddr, (
                Interface("veth0", CLIENT_MAC, (caddr + cidr,), "server:veth0", MTU),)),
            "server": Host("server", "server", sns, saddr, (
                Interface("veth0", SERVER_MAC, (saddr + cidr,), "client:veth0", MTU),)),
        }

    def _configure_many(self, ifnames: tuple[str, ...], forward: bool = False) -> list[str]:
        """Inside a namespace with several interfaces (router, wire): IPv4 only."""
        write_sysctl("net.ipv4.ip_unprivileged_port_start", 0)
        for scope in ("all", "default", *ifnames):
            write_sysctl(f"net.ipv6.conf.{scope}.disable_ipv6", 1)
        if forward:
            write_sysctl("net.ipv4.ip_forward", 1)
            for scope in ("all", "default", *ifnames):
                write_sysctl(f"net.ipv4.conf.{scope}.send_redirects", 0)
        failed = []
        for ifname in ifnames:
            failed += offloads_off(ifname)
        offloads_off("lo")
        return failed

    def _create_routed(self) -> None:
        """client --veth0/eth0-- router --eth1/veth0-- server, a /24 on each link.

        Each end host routes only the other documentation subnet via the
        router; the router has no route beyond the two subnets, so nothing
        can leave the test network.
        """
        cns, rns, sns = self._ns("client"), self._ns("router"), self._ns("server")
        batch = (f"netns add {cns}\nnetns add {rns}\nnetns add {sns}\n"
                 f"link add veth0 index 11 netns {cns} address {CLIENT_MAC} mtu {MTU} type veth "
                 f"peer name eth0 index 13 netns {rns} address {ROUTER_CLIENT_MAC} mtu {MTU}\n"
                 f"link add veth0 index 12 netns {sns} address {SERVER_MAC} mtu {MTU} type veth "
                 f"peer name eth1 index 14 netns {rns} address {ROUTER_SERVER_MAC} mtu {MTU}\n")
        self.made += [cns, rns, sns]
        _check(_ip(batch=batch), "create the network namespaces", batch)
        for ns in (cns, sns):
            self.offload_warnings[ns] = in_netns(ns, self._configure_ns, "veth0")
        self.offload_warnings[rns] = in_netns(rns, self._configure_many, ("eth0", "eth1"), True)
        cfg = {
            cns: (f"addr add {ROUTED_CLIENT_V4}/24 dev veth0\nlink set lo up\nlink set veth0 up\n"
                  f"route add {SERVER_NET} via {ROUTER_CLIENT_V4} dev veth0\n"),
            rns: (f"addr add {ROUTER_CLIENT_V4}/24 dev eth0\naddr add {ROUTER_SERVER_V4}/24 dev eth1\n"
                  f"link set lo up\nlink set eth0 up\nlink set eth1 up\n"),
            sns: (f"addr add {ROUTED_SERVER_V4}/24 dev veth0\nlink set lo up\nlink set veth0 up\n"
                  f"route add {CLIENT_NET} via {ROUTER_SERVER_V4} dev veth0\n"),
        }
        # links must be up before a route via them can be added: one batch per namespace, in order
        for ns, b in cfg.items():
            _check(_ip("-n", ns, batch=b), "configure the routed network", b)
        for ns, ifs in ((cns, ("veth0",)), (rns, ("eth0", "eth1")), (sns, ("veth0",))):
            for ifname in ifs:
                in_netns(ns, wait_running, ifname, 3.0)
        self._write_etc_hosts([cns, sns], {"client": ROUTED_CLIENT_V4, "server": ROUTED_SERVER_V4})
        self.hosts = {
            "client": Host("client", "client", cns, ROUTED_CLIENT_V4, (
                Interface("veth0", CLIENT_MAC, (ROUTED_CLIENT_V4 + "/24",), "router:eth0", MTU),)),
            "router": Host("router", "router", rns, ROUTER_CLIENT_V4, (
                Interface("eth0", ROUTER_CLIENT_MAC, (ROUTER_CLIENT_V4 + "/24",), "client:veth0", MTU),
                Interface("eth1", ROUTER_SERVER_MAC, (ROUTER_SERVER_V4 + "/24",), "server:veth0", MTU))),
            "server": Host("server", "server", sns, ROUTED_SERVER_V4, (
                Interface("veth0", SERVER_MAC, (ROUTED_SERVER_V4 + "/24",), "router:eth1", MTU),)),
        }

    def _create_wire(self) -> None:
        """The veth network with the delay element (tracer.wire) spliced into the link:
        client veth0 -- c0 [wire] s0 -- veth0 server, one subnet, L2-transparent."""
        from tracer.wire import Wire

        cns, wns, sns = self._ns("client"), self._ns("wire"), self._ns("server")
        batch = (f"netns add {cns}\nnetns add {wns}\nnetns add {sns}\n"
                 f"link add veth0 index 11 netns {cns} address {CLIENT_MAC} mtu {MTU} type veth "
                 f"peer name c0 index 13 netns {wns} address {WIRE_CLIENT_MAC} mtu {MTU}\n"
                 f"link add veth0 index 12 netns {sns} address {SERVER_MAC} mtu {MTU} type veth "
                 f"peer name s0 index 14 netns {wns} address {WIRE_SERVER_MAC} mtu {MTU}\n")
        self.made += [cns, wns, sns]
        _check(_ip(batch=batch), "create the network namespaces", batch)
        for ns in (cns, sns):
            self.offload_warnings[ns] = in_netns(ns, self._configure_ns, "veth0")
        self.offload_warnings[wns] = in_netns(wns, self._configure_many, ("c0", "s0"))
        cidr = "/64" if self.ipv6 else "/24"
        caddr, saddr = (CLIENT_V6, SERVER_V6) if self.ipv6 else (CLIENT_V4, SERVER_V4)
        extra = " nodad" if self.ipv6 else ""
        b = "link set lo up\nlink set c0 promisc on up\nlink set s0 promisc on up\n"
        _check(_ip("-n", wns, batch=b), "configure the wire", b)
        self.wire = Wire(os.path.join(NETNS_RUN_DIR, wns), self.wire_spec)
        self.wire.start()
        for ns, addr in ((cns, caddr), (sns, saddr)):
            b = f"addr add {addr}{cidr} dev veth0{extra}\nlink set lo up\nlink set veth0 up\n"
            _check(_ip("-n", ns, batch=b), "configure the veth pair", b)
        for ns, ifname in ((cns, "veth0"), (wns, "c0"), (wns, "s0"), (sns, "veth0")):
            in_netns(ns, wait_running, ifname, 3.0)
        self._write_etc_hosts([cns, sns], {"client": caddr, "server": saddr})
        self.hosts = {
            "client": Host("client", "client", cns, caddr, (
                Interface("veth0", CLIENT_MAC, (caddr + cidr,), "wire:c0", MTU),)),
            "wire": Host("wire", "wire", wns, "", (
                Interface("c0", WIRE_CLIENT_MAC, (), "client:veth0", MTU),
                Interface("s0", WIRE_SERVER_MAC, (), "server:veth0", MTU))),
            "server": Host("server", "server", sns, saddr, (
                Interface("veth0", SERVER_MAC, (saddr + cidr,), "wire:s0", MTU),)),
        }

    def _create_loopback(self) -> None:
        ns = self._ns("lo")
        self.made.append(ns)
        _check(_ip("netns", "add", ns), f"create network namespace {ns}")
        self.offload_warnings[ns] = in_netns(ns, self._configure_ns, "lo")
        _check(_ip("-n", ns, "link", "set", "lo", "up"), "bring lo up")
        addr = "::1" if self.ipv6 else "127.0.0.1"
        self._write_etc_hosts([ns], {"client": addr, "server": addr})
        lo = Interface("lo", "00:00:00:00:00:00", ("::1/128",) if self.ipv6 else ("127.0.0.1/8",),
                       None, 65536)
        host = Host("localhost", "client+server", ns, addr, (lo,))
        self.hosts = {"client": host, "server": host}

    def _configure_ns(self, ifname: str) -> list[str]:
        """Runs inside the namespace: sysctls before the link is up, offloads.

        Any user may open ICMP echo sockets (SOCK_DGRAM, IPPROTO_ICMP), as systemd
        sets by default, so a ping program runs as nobody without a raw socket."""
        write_sysctl("net.ipv4.ip_unprivileged_port_start", 0)
        write_sysctl("net.ipv4.ping_group_range", _mapped_gids())
        if self.ipv6:
            for scope in ("all", "default", ifname):
                write_sysctl(f"net.ipv6.conf.{scope}.accept_ra", 0)
                write_sysctl(f"net.ipv6.conf.{scope}.router_solicitations", 0)
                write_sysctl(f"net.ipv6.conf.{scope}.dad_transmits", 0)
                write_sysctl(f"net.ipv6.conf.{scope}.addr_gen_mode", 1)
        else:
            for scope in ("all", "default", ifname):
                write_sysctl(f"net.ipv6.conf.{scope}.disable_ipv6", 1)
        failed = offloads_off(ifname)
        if ifname != "lo":
            offloads_off("lo")
        return failed

    def _write_etc_hosts(self, namespaces: list[str], names: dict[str, str],
                         localhost6: str | None = None) -> None:
        """`ip netns exec` bind-mounts /etc/netns/NS/hosts over /etc/hosts, so
        the names `client` and `server` resolve inside the hosts."""
        text = "127.0.0.1\tlocalhost\n" + (f"{localhost6}\tlocalhost\n::1\tip6-localhost\n" if localhost6
                                             else "::1\tlocalhost ip6-localhost\n")
        text += "".join(f"{addr}\t{name}\n" for name, addr in names.items())
        for ns in namespaces:
            d = os.path.join(NETNS_ETC_DIR, ns)
            try:
                os.makedirs(d, exist_ok=True)
                self.etc_dirs.append(d)
                with open(os.path.join(d, "hosts"), "w") as f:
                    f.write(text)
                os.chmod(os.path.join(d, "hosts"), 0o644)
            except OSError:
                # in synack's own user namespace without /etc/netns: the same names over its /etc/hosts
                from tracer import userns

                userns.bind_hosts(text)
                return

    # teardown ------------------------------------------------------------------
    def close(self) -> None:
        """Remove every namespace and /etc/netns entry this object made.

        Deleting a namespace destroys its veth end, which destroys the pair.
        Idempotent, and never raises: it runs from finally blocks and signal
        paths where a second error would hide the first.
        """
        if self.wire is not None:
            try:
                self.wire.stop()
            except Exception:  # noqa: BLE001 - teardown goes on
                pass
        while self.made:
            ns = self.made.pop()
            path = os.path.join(NETNS_RUN_DIR, ns)
            if os.path.exists(path):
                if _libc.umount2(path.encode(), 2) != 0 and ctypes.get_errno() not in (
                        errno.EINVAL, errno.ENOENT):
                    subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
                try:
                    os.unlink(path)
                except OSError:
                    subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
        while self.etc_dirs:
            shutil.rmtree(self.etc_dirs.pop(), ignore_errors=True)

    # use -----------------------------------------------------------------------
    @property
    def client(self) -> Host:
        return self.hosts["client"]

    @property
    def server(self) -> Host:
        return self.hosts["server"]

    @property
    def server_address(self) -> str:
        return self.server.address

    def capture_point(self, at: str) -> tuple[str, str, str]:
        """(point name, namespace, interface) of a capture point."""
        if self.net == "loopback":
            return "lo", self.client.netns, "lo"
        host = self.hosts[at]
        return at, host.netns, "veth0"

    def run_in(self, role: str, fn: Callable[..., Any], *args: Any) -> Any:
        return in_netns(self.hosts[role].netns, fn, *args)

    def command(self, role: str, argv: list[str], uid: int | None, gid: int | None,
                keep: tuple[str, ...] | None = None, outer: Sequence[str] = ()) -> list[str]:
        """The argv that runs `argv` inside host `role`, as uid/gid when given, in a PID
        namespace of its own: kill(-1) and setsid() reach nothing outside, and when the program
        (its pid 1) ends, every descendant ends with it; its /proc shows that namespace only
        (where the kernel allows a proc mount: not under a container's masked /proc).  With
        `keep`, its /tmp is a fresh tmpfs showing only those paths (the recorder, its script):
        no other trace's files.  `outer` (strace) runs as root around the uid drop, so the
        program cannot write its log."""
        cmd = ["ip", "netns", "exec", self.hosts[role].netns, "unshare", "--pid", "--fork", "--kill-child",
               *_own_proc()]
        if keep is not None:
            cmd += ["--mount", "--propagation", "private", "--", "/bin/sh", "-c", PRIVATE_TMP, "synack-tmp",
                    str(len(keep)), *keep]
        else:
            cmd.append("--")
        cmd += outer
        if uid is not None:
            cmd += ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]
        return cmd + list(argv)

    def metadata(self, captured: set[str]) -> tuple[list[dict], list[dict]]:
        """`hosts` and `links` of the capture metadata."""
        if self.net == "loopback":
            return [self.client.as_json()], []
        if self.topology == "routed" or self.wire is not None:
            middle = "router" if self.topology == "routed" else "wire"
            hosts = [self.client.as_json(), self.hosts[middle].as_json(), self.server.as_json()]
            if self.wire is not None:
                hosts[1]["wire"] = self.wire_spec.as_json()
            m = self.hosts[middle].interfaces
            links = [{"a": "client:veth0", "b": f"{middle}:{m[0].name}", "captured": "client" in captured},
                     {"a": f"{middle}:{m[1].name}", "b": "server:veth0", "captured": "server" in captured}]
            return hosts, links
        hosts = [self.client.as_json(), self.server.as_json()]
        links = [{"a": "client:veth0", "b": "server:veth0", "captured": bool(captured)}]
        return hosts, links
