"""Which TCP the hosts run: the congestion control (`--cc`) and the textbook profile (`--tcp`).

A lecture needs two TCPs: the textbook's Reno (three duplicate ACKs, then a
fast retransmission and a halved window) and what Linux really does today
(SACK, RACK, TLP, timestamps, bbr or cubic).  Both are the real kernel: the
choice is a handful of per-namespace sysctls written in the client and the
server host before any program starts, so nothing outside the trace changes.

`--tcp textbook` (checked on Linux 6.18; every one is per network namespace):

    tcp_sack=0             no SACK blocks: the receiver can only repeat its ACK
    tcp_dsack=0            (and no D-SACK either)
    tcp_timestamps=0       no RFC 7323 timestamps: RTT from the retransmission-free samples only
    tcp_recovery=0         RACK off: losses are detected by the duplicate-ACK count
    tcp_early_retrans=0    no early retransmit and no tail-loss probe (TLP)
    tcp_frto=0             no F-RTO: an RTO always means a loss
    tcp_reordering=3       the duplicate-ACK threshold (the default, written to be sure)
    tcp_no_metrics_save=1  no ssthresh cached from an earlier connection
    tcp_ecn=0              no ECN: only a loss signals congestion
    tcp_slow_start_after_idle=1 (the default) and the algorithm `reno` unless --cc says otherwise

With these, Linux counts duplicate ACKs as NewReno does (tcp_add_reno_sack)
and enters fast retransmit when the count reaches tcp_reordering = 3.  Two
differences from the book stay, written in every caption: the initial window
is 10 segments (RFC 6928), and recovery is NewReno's (RFC 6582).

Parsing is pure; `apply` writes the sysctls inside the hosts' namespaces.
"""
from __future__ import annotations

import errno
import subprocess
from dataclasses import dataclass
from typing import Any

from viz.errors import SynackError

ALGORITHMS = ("reno", "cubic", "bbr")
PROFILES = ("linux", "textbook")
TEXTBOOK_SYSCTLS = (
    ("net.ipv4.tcp_sack", 0),
    ("net.ipv4.tcp_dsack", 0),
    ("net.ipv4.tcp_timestamps", 0),
    ("net.ipv4.tcp_recovery", 0),
    ("net.ipv4.tcp_early_retrans", 0),
    ("net.ipv4.tcp_frto", 0),
    ("net.ipv4.tcp_reordering", 3),
    ("net.ipv4.tcp_no_metrics_save", 1),
    ("net.ipv4.tcp_ecn", 0),
    ("net.ipv4.tcp_slow_start_after_idle", 1),
)


@dataclass(frozen=True)
class TcpProfile:
    """The congestion control (None: the kernel's default) and the profile of both hosts."""

    cc: str | None = None
    profile: str = "linux"

    def __bool__(self) -> bool:
        return self.cc is not None or self.profile != "linux"

    @property
    def algorithm(self) -> str | None:
        """The algorithm written into the hosts: textbook means reno unless --cc chose."""
        return self.cc or ("reno" if self.profile == "textbook" else None)

    def sysctls(self) -> tuple[tuple[str, int | str], ...]:
        out: list[tuple[str, int | str]] = list(TEXTBOOK_SYSCTLS) if self.profile == "textbook" else []
        if self.algorithm:
            out.append(("net.ipv4.tcp_congestion_control", self.algorithm))
        return tuple(out)

    def as_json(self, hosts_cc: dict[str, str] | None = None) -> dict[str, Any]:
        """The `tcp` metadata: what each host really ran (`hosts_cc`, read back) and the profile."""
        cc = self.algorithm or (hosts_cc or {}).get("client")
        out: dict[str, Any] = {"cc": cc, "profile": self.profile,
                               "sysctls": {k.removeprefix("net.ipv4."): v for k, v in self.sysctls()}}
        if hosts_cc:
            out["hosts"] = dict(hosts_cc)
        return out


def build(cc: str | None = None, tcp: str | None = None) -> TcpProfile:
    """From the command-line spellings; SynackError names the bad option."""
    if cc is not None:
        cc = str(cc).strip().lower()
        if cc not in ALGORITHMS:
            raise SynackError(f"--cc {cc!r}: choose {', '.join(ALGORITHMS)}")
    profile = "linux"
    if tcp is not None:
        profile = str(tcp).strip().lower()
        if profile not in PROFILES:
            raise SynackError(f"--tcp {tcp!r}: choose textbook (or linux, the kernel's own defaults)")
    return TcpProfile(cc, profile)


def merge(preset: TcpProfile | None, given: TcpProfile | None) -> TcpProfile | None:
    """A scenario's preset with the user's options on top (each given one replaces)."""
    if preset is None or not preset:
        return given
    if given is None or not given:
        return preset
    return TcpProfile(given.cc or preset.cc, given.profile if given.profile != "linux" else preset.profile)


def preset(scenario: Any) -> TcpProfile | None:
    """A scenario's built-in TCP: its `tcp` field, pairs such as ("cc", "reno")."""
    pairs = dict(getattr(scenario, "tcp", ()) or ())
    return build(pairs.get("cc"), pairs.get("tcp")) if pairs else None


def apply(profile: TcpProfile | None, hosts: Any) -> None:
    """Write the sysctls in every host of the trace (both ends, and the router if any).

    The algorithm goes in twice.  A namespace other than the first may make only the
    "allowed" algorithms its default (net.ipv4.tcp_allowed_congestion_control, here reno and
    bbr: cubic is refused with EPERM), so every route of each host also gets `congctl ALG`
    (RTAX_CC_ALGO, which a connection takes over the default when it is set up, and which
    no such rule restricts).  The sysctl is then written where the kernel permits it."""
    if not profile:
        return
    from tracer import hosts as hostmod

    for host in hosts.hosts.values():
        for name, value in profile.sysctls():
            try:
                hostmod.in_netns(host.netns, hostmod.write_sysctl, name, value)
            except OSError as exc:
                if name == "net.ipv4.tcp_congestion_control" and exc.errno == errno.EPERM:
                    continue  # restricted as a namespace default: the routes carry it
                raise SynackError(f"--cc/--tcp: cannot set {name}={value} in the {host.name} host: "
                                  f"{exc.strerror or exc}") from None
        if profile.algorithm:
            _route_congctl(host.netns, profile.algorithm, host.name)


def _route_congctl(netns: str, algorithm: str, name: str) -> None:
    for family in ("-4", "-6"):
        shown = subprocess.run(["ip", "-n", netns, family, "route", "show", "table", "main"],
                               capture_output=True, text=True)
        for line in shown.stdout.splitlines():
            words = line.split()
            if not words or words[0] in ("local", "broadcast", "multicast", "unreachable", "anycast"):
                continue
            if "congctl" in words:
                i = words.index("congctl")
                del words[i:i + 2 + (i + 2 < len(words) and words[i + 2] == "lock")]
            done = subprocess.run(["ip", "-n", netns, family, "route", "replace", *words, "congctl", algorithm],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                err = (done.stderr.strip().splitlines() or [str(done.returncode)])[0]
                raise SynackError(f"--cc {algorithm}: cannot set it on the {name} host's route {line!r}: {err}")


def read_cc(hosts: Any) -> dict[str, str]:
    """Host name -> the algorithm its new connections get: its routes' congctl, else its default."""
    from tracer import hosts as hostmod

    def read() -> str:
        with open("/proc/sys/net/ipv4/tcp_congestion_control") as f:
            return f.read().strip()

    out = {}
    for host in hosts.hosts.values():
        shown = subprocess.run(["ip", "-n", host.netns, "route", "show", "table", "main"],
                               capture_output=True, text=True).stdout.split()
        if "congctl" in shown and shown.index("congctl") + 1 < len(shown):
            out[host.name] = shown[shown.index("congctl") + 1]
            continue
        try:
            out[host.name] = hostmod.in_netns(host.netns, read)
        except OSError:
            continue
    return out
