"""What `synack replay --iface` may put on a real network, and how fast.

Between the tracer's own hosts a replay cannot reach anyone; out of a real
interface it reaches whatever that network holds.  So a frame goes out only
if every address in it is one no real host answers at: the documentation
ranges (RFC 5737, RFC 3849), the private and shared ones (RFC 1918, RFC 6598,
RFC 4193), benchmarking (RFC 2544), link-local and loopback.  Anything else
(a public address, a frame that is neither IP nor ARP, broadcast and
multicast, which reach every host on the segment) needs --allow-foreign.
The rate is capped (MAX_RATE frames/s unless --max-rate says otherwise), and
the plan is printed before the first frame leaves.
"""
from __future__ import annotations

import ipaddress
from typing import Iterable, Sequence

from viz.errors import SynackError

MAX_RATE = 1000  # frames per second out of a real interface, by default
TEST_RANGES = tuple(ipaddress.ip_network(n) for n in (
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32",  # documentation
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7",  # private, shared
    "198.18.0.0/15",  # benchmarking
    "169.254.0.0/16", "fe80::/10", "127.0.0.0/8", "::1/128",  # link-local, loopback
))
ETH_IPV4, ETH_IPV6, ETH_ARP, ETH_VLAN, ETH_QINQ = 0x0800, 0x86DD, 0x0806, 0x8100, 0x88A8


def addresses(frame: bytes) -> tuple[str, ...] | None:
    """The IP addresses an Ethernet frame carries (IPv4/IPv6 source and destination,
    ARP sender and target), or None for a frame that is neither IP nor ARP."""
    off = 12
    etype = int.from_bytes(frame[off:off + 2], "big")
    while etype in (ETH_VLAN, ETH_QINQ) and len(frame) >= off + 6:
        off += 4
        etype = int.from_bytes(frame[off:off + 2], "big")
    p = off + 2
    if etype == ETH_IPV4 and len(frame) >= p + 20:
        raw = (frame[p + 12:p + 16], frame[p + 16:p + 20])
    elif etype == ETH_IPV6 and len(frame) >= p + 40:
        raw = (frame[p + 8:p + 24], frame[p + 24:p + 40])
    elif etype == ETH_ARP and len(frame) >= p + 28:
        raw = (frame[p + 14:p + 18], frame[p + 24:p + 28])
    else:
        return None
    return tuple(str(ipaddress.ip_address(a)) for a in raw)


def _in_test_range(addr: str) -> bool:
    ip = ipaddress.ip_address(addr)
    return any(ip.version == net.version and ip in net for net in TEST_RANGES)


def check(path: str, frames: Iterable, allow_foreign: bool) -> list[tuple[str, str]]:
    """Refuse (SynackError naming the first such frame) a capture with a frame whose
    addresses are not all test ranges; return the distinct (source, destination) pairs."""
    pairs: dict[tuple[str, str], None] = {}
    for f in frames:
        if f.data[0] & 1 and not allow_foreign:
            raise SynackError(f"{path}: frame {f.number} goes to an Ethernet broadcast or multicast address, "
                              "which reaches every host on the network; --allow-foreign sends it anyway")
        addrs = addresses(f.data)
        if addrs is None:
            if not allow_foreign:
                raise SynackError(f"{path}: frame {f.number} is neither IP nor ARP, so where it goes "
                                  "cannot be checked; --allow-foreign sends it anyway")
            continue
        pairs.setdefault(addrs)
        if not allow_foreign:
            foreign = [a for a in addrs if not _in_test_range(a)]
            if foreign:
                raise SynackError(
                    f"{path}: frame {f.number} has address {foreign[0]}, outside the documentation and "
                    "private test ranges; real hosts may answer at it (replay --rewrite maps the "
                    "endpoints to 192.0.2.1/.2, or --allow-foreign sends it as it is)")
    return list(pairs)


def capped(due: Sequence[int], rate: float | None) -> list[int]:
    """The schedule with no two frames closer than 1/rate seconds (None: as given)."""
    if not rate:
        return list(due)
    gap = round(1e9 / rate)
    out: list[int] = []
    last = None
    for t in due:
        t = t if last is None else max(t, last + gap)
        out.append(t)
        last = t
    return out


def plan_lines(path: str, iface: str, n: int, loops: int, pairs: list[tuple[str, str]], due: Sequence[int],
               rate: float | None) -> list[str]:
    """What is about to be sent, said before it is."""
    shown = ", ".join(f"{a} -> {b}" for a, b in pairs[:4]) + (f" and {len(pairs) - 4} more" if len(pairs) > 4
                                                               else "")
    span = (due[-1] - due[0]) / 1e9 if len(due) > 1 else 0.0
    cap = f"at most {rate:g} frames/s" if rate else "no rate cap"
    return [f"about to send {n * loops} frames of {path} out of {iface} ({n} x {loops}), {cap}, "
            f"over at least {span:.3g} s",
            f"addresses: {shown or '(no IP or ARP frames)'}"]
