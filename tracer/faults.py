"""Deliberate faults for `synack trace`: dropped packets, seeded loss, a shorter RTO.

The kernel here has no netem, so a drop is an nftables rule in the receiving
host's namespace: `ct original packets N drop` matches exactly the Nth
packet of a connection in the client-to-server direction (`ct reply` for
server-to-client), counted by conntrack before the filter runs, so the
retransmission (N+1) passes and each index is dropped once per connection.
A dropped first SYN never confirms its conntrack entry, so its retry would
be packet 1 again: a dynamic set remembers the connection and lets the retry
through.  Random loss is an index set drawn in Python from `--seed`, so the
same seed drops the same packets on every run (`numgen random` cannot be
seeded).  Everything lives in the hosts' namespaces and goes with them.

Parsing is pure (no kernel access) so bad options fail before anything runs.
"""
from __future__ import annotations

import random
import re
import subprocess
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from viz.errors import SynackError

DIRECTIONS = ("c2s", "s2c")
TABLE = "synack_faults"
# Random loss draws indices 1..LOSS_HORIZON per direction and connection: a
# 1 MB bulk transfer is about 700 segments; 20,000 covers 25 MB at 5% loss.
LOSS_HORIZON = 20_000
RTO_MIN_RANGE_US = (1_000, 120_000_000)


@dataclass(frozen=True)
class Faults:
    """What to break.  Indices count packets of one connection in one direction, from 1."""

    drop_c2s: tuple[int, ...] = ()
    drop_s2c: tuple[int, ...] = ()
    loss: float | None = None  # fraction 0..1
    seed: int | None = None
    rto_min_us: int | None = None

    @property
    def any_drop(self) -> bool:
        return bool(self.drop_c2s or self.drop_s2c or self.loss)

    def __bool__(self) -> bool:
        return self.any_drop or self.rto_min_us is not None

    def indices(self, direction: str) -> tuple[int, ...]:
        """Every index dropped in `direction`: the explicit ones and the seeded loss."""
        explicit = self.drop_c2s if direction == "c2s" else self.drop_s2c
        return tuple(sorted(set(explicit) | set(loss_indices(self.loss, self.seed, direction))))

    def as_json(self) -> dict[str, Any]:
        return {"drop": {"c2s": list(self.drop_c2s), "s2c": list(self.drop_s2c)},
                "loss": self.loss, "seed": self.seed,
                "rto_min_us": self.rto_min_us}


def loss_indices(loss: float | None, seed: int | None, direction: str) -> tuple[int, ...]:
    if not loss:
        return ()
    rng = random.Random(f"{seed if seed is not None else 0}:{direction}")
    return tuple(i for i in range(1, LOSS_HORIZON + 1) if rng.random() < loss)


# --- parsing ---------------------------------------------------------------------

def parse_drop(spec: str) -> tuple[str, tuple[int, ...]]:
    """`c2s:4` or `s2c:3,7` -> (direction, indices)."""
    direction, sep, rest = spec.partition(":")
    direction = direction.strip().lower()
    if not sep:
        raise SynackError(f"--drop {spec!r}: expected DIRECTION:N[,N...], e.g. c2s:4 or s2c:3,7")
    if direction not in DIRECTIONS:
        raise SynackError(f"--drop {spec!r}: unknown direction {direction!r} (choose c2s or s2c)")
    out = []
    for part in rest.split(","):
        part = part.strip()
        if not re.fullmatch(r"[0-9]+", part):
            raise SynackError(f"--drop {spec!r}: {part!r} is not a packet number (1, 2, ...)")
        n = int(part)
        if n < 1:
            raise SynackError(f"--drop {spec!r}: packets are numbered from 1, not {n}")
        out.append(n)
    return direction, tuple(sorted(set(out)))


def parse_percent(spec: str) -> float:
    """`5%`, `5` or `0.5%` -> fraction in (0, 1)."""
    m = re.fullmatch(r"\s*(-?[0-9]*\.?[0-9]+)\s*(%?)\s*", str(spec))
    if not m:
        raise SynackError(f"--loss {spec!r}: expected a percentage such as 5%")
    value = float(m.group(1))
    if not 0 < value < 100:
        raise SynackError(f"--loss {spec!r}: loss must be above 0% and below 100%")
    return value / 100


_UNITS = {"us": 1, "ms": 1_000, "s": 1_000_000}


def parse_duration_us(spec: str, option: str) -> int:
    m = re.fullmatch(r"\s*(-?[0-9]*\.?[0-9]+)\s*(us|ms|s)?\s*", str(spec))
    if not m:
        raise SynackError(f"{option} {spec!r}: expected a duration such as 20ms")
    value = float(m.group(1)) * _UNITS[m.group(2) or "ms"]
    if value <= 0:
        raise SynackError(f"{option} {spec!r}: must be positive")
    return int(round(value))


def build(drop: Iterable[str] = (), loss: str | None = None, seed: int | str | None = None,
          rto_min: str | None = None) -> Faults:
    """Faults from command-line spellings; SynackError names the bad option."""
    c2s: set[int] = set()
    s2c: set[int] = set()
    for spec in drop or ():
        direction, idx = parse_drop(spec)
        (c2s if direction == "c2s" else s2c).update(idx)
    fraction = parse_percent(loss) if loss is not None else None
    if seed is not None:
        try:
            seed = int(seed)
        except (TypeError, ValueError):
            raise SynackError(f"--seed {seed!r}: not an integer") from None
        if fraction is None:
            raise SynackError("--seed only makes sense with --loss")
    rto = None
    if rto_min is not None:
        rto = parse_duration_us(rto_min, "--rto-min")
        lo, hi = RTO_MIN_RANGE_US
        if not lo <= rto <= hi:
            raise SynackError(f"--rto-min {rto_min!r}: must be between 1ms and 120s")
    return Faults(tuple(sorted(c2s)), tuple(sorted(s2c)), fraction,
                  seed if fraction is not None else None, rto)


def merge(preset: Faults | None, given: Faults | None) -> Faults | None:
    """A scenario's preset faults with the user's options on top (each given one replaces)."""
    if preset is None:
        return given
    if given is None:
        return preset
    drops_given = bool(given.drop_c2s or given.drop_s2c)
    return Faults(
        given.drop_c2s if drops_given else preset.drop_c2s,
        given.drop_s2c if drops_given else preset.drop_s2c,
        given.loss if given.loss is not None else preset.loss,
        given.seed if given.loss is not None else preset.seed,
        given.rto_min_us if given.rto_min_us is not None else preset.rto_min_us)


# --- nftables ------------------------------------------------------------------

def _set_text(indices: Sequence[int]) -> str:
    """Compact nft set elements: runs become ranges (`{ 5, 9, 20-21 }`)."""
    parts = []
    i = 0
    while i < len(indices):
        j = i
        while j + 1 < len(indices) and indices[j + 1] == indices[j] + 1:
            j += 1
        parts.append(str(indices[i]) if i == j else f"{indices[i]}-{indices[j]}")
        i = j + 1
    return "{ " + ", ".join(parts) + " }"


def ruleset(faults: Faults, direction: str, peer: str, ipv6: bool = False) -> str:
    """The nft script for the host that receives `direction` from address `peer`."""
    idx = faults.indices(direction)
    if not idx:
        return ""
    ct_dir = "original" if direction == "c2s" else "reply"
    fam = "ip6" if ipv6 else "ip"
    addr_type = "ipv6_addr" if ipv6 else "ipv4_addr"
    lines = [f"table inet {TABLE} {{",
             f"  set first_dropped {{ type {addr_type} . inet_proto . inet_service; flags dynamic; "
             "timeout 1h; }",
             "  chain input {",
             "    type filter hook input priority 0; policy accept;",
             f"    {fam} saddr != {peer} accept",
             "    meta l4proto != { tcp, udp } accept"]
    if 1 in idx and direction == "c2s":
        key = f"{fam} saddr . meta l4proto . th sport"
        lines += [f"    ct original packets 1 {key} @first_dropped accept",
                  f"    ct original packets 1 update @first_dropped {{ {key} }} counter drop"]
        idx = tuple(i for i in idx if i != 1)
    if idx:
        lines.append(f"    ct {ct_dir} packets {_set_text(idx)} counter drop")
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def apply(faults: Faults | None, hosts: Any) -> None:
    """Install the drops in the receiving hosts and the RTO floor in both.

    Everything is inside the hosts' namespaces, so removing the hosts removes it.
    """
    if not faults:
        return
    if hosts.net != "veth":
        raise SynackError("--drop/--loss/--rto-min need two hosts (--net veth, the default)")
    from tracer import hosts as hostmod

    if faults.rto_min_us is not None:
        for host in (hosts.client, hosts.server):
            try:
                hostmod.in_netns(host.netns, hostmod.write_sysctl, "net.ipv4.tcp_rto_min_us",
                                 faults.rto_min_us)
            except OSError as exc:
                raise SynackError(f"--rto-min: cannot set net.ipv4.tcp_rto_min_us: {exc}") from None
    for direction, receiver, sender in (("c2s", hosts.server, hosts.client),
                                        ("s2c", hosts.client, hosts.server)):
        text = ruleset(faults, direction, sender.address, hosts.ipv6)
        if not text:
            continue
        proc = subprocess.run(["ip", "netns", "exec", receiver.netns, "nft", "-f", "-"],
                              input=text, capture_output=True, text=True)
        if proc.returncode != 0:
            err = proc.stderr.strip().splitlines()
            raise SynackError(f"cannot install the {direction} drop rules with nft: "
                              f"{err[0] if err else proc.returncode}")


# --- which captured frames were dropped ---------------------------------------------

def _conn(frame: bytes) -> tuple[str, str, int, int, int, int] | None:
    """(src, dst, proto, sport, dport, tcp flags) of an IPv4/IPv6 TCP/UDP frame."""
    import ipaddress

    if len(frame) < 14:
        return None
    etype = frame[12] << 8 | frame[13]
    if etype == 0x0800 and len(frame) >= 34:
        ihl = (frame[14] & 0x0F) * 4
        if (frame[20] << 8 | frame[21]) & 0x1FFF:
            return None  # a later fragment: conntrack sees the reassembled datagram once
        proto, l4 = frame[23], 14 + ihl
        src, dst = str(ipaddress.IPv4Address(frame[26:30])), str(ipaddress.IPv4Address(frame[30:34]))
    elif etype == 0x86DD and len(frame) >= 54:
        proto, l4 = frame[20], 54
        src, dst = str(ipaddress.IPv6Address(frame[22:38])), str(ipaddress.IPv6Address(frame[38:54]))
    else:
        return None
    if proto not in (6, 17) or len(frame) < l4 + 8:
        return None
    flags = frame[l4 + 13] if proto == 6 and len(frame) >= l4 + 14 else 0
    return src, dst, proto, frame[l4] << 8 | frame[l4 + 1], frame[l4 + 2] << 8 | frame[l4 + 3], flags


def dropped_frames(frames: Sequence[tuple], faults: Faults | None, client: str,
                   server: str) -> list[dict[str, Any]]:
    """The `dropped` metadata: which captured frames the receiver's rules dropped.

    Replays conntrack's count over the capture (the sniffer taps both
    directions before the receiver's filter): per connection and direction,
    the Nth frame is dropped once if N is in the set; a dropped first packet
    leaves no conntrack entry, so the retry counts as packet 1 again.
    """
    if not faults or not faults.any_drop:
        return []
    sets = {d: set(faults.indices(d)) for d in DIRECTIONS}
    counts: dict[tuple, int] = {}
    done: set[tuple] = set()
    out = []
    for ts, data, *_ in frames:
        c = _conn(data)
        if c is None:
            continue
        src, dst, proto, sport, dport, _flags = c
        if src == client and dst == server:
            direction, key = "c2s", (proto, sport, dport)
        elif src == server and dst == client:
            direction, key = "s2c", (proto, dport, sport)
        else:
            continue
        n = counts.get((key, direction), 0) + 1
        counts[(key, direction)] = n
        if n in sets[direction] and (key, direction, n) not in done:
            done.add((key, direction, n))
            out.append({"dir": direction, "index": n, "ts": ts / 1e9})
            if n == 1 and direction == "c2s":
                counts[(key, direction)] = 0
    return out


def preset(scenario: Any) -> Faults | None:
    """A scenario's built-in faults: its `faults` field, pairs such as ("drop", "c2s:3")."""
    pairs = getattr(scenario, "faults", ()) or ()
    if not pairs:
        return None
    drop = [v for k, v in pairs if k == "drop"]
    rest = {k: v for k, v in pairs if k != "drop"}
    return build(drop=drop, **rest)
