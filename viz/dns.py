"""DNS messages on a ladder arrow: query or response, transaction ID, name, type, answer (RFC 1035 §4).

The analysis keeps a datagram's first bytes only (viz.decode.PAYLOAD_PREVIEW),
which hold the header, the question and usually the first answer; whatever
is cut off is counted from the header instead of guessed.  Pure.
"""
from __future__ import annotations

import ipaddress

from viz.model import Packet

PORTS = frozenset({53, 5353})  # DNS, multicast DNS
TYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV",
         41: "OPT", 65: "HTTPS", 255: "ANY"}
RCODES = {1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def is_dns(p: Packet) -> bool:
    return p.proto == "udp" and (p.sport in PORTS or p.dport in PORTS) and len(p.payload) >= 12


def _name(msg: bytes, off: int, depth: int = 0) -> tuple[str, int]:
    """A (possibly compressed) name at `off` and the offset after it; IndexError when cut short."""
    labels: list[str] = []
    while True:
        n = msg[off]
        if n == 0:
            return ".".join(labels) or ".", off + 1
        if n & 0xC0 == 0xC0:
            if depth > 8:
                raise ValueError("compression loop")
            target = ((n & 0x3F) << 8) | msg[off + 1]
            rest, _ = _name(msg, target, depth + 1)
            labels.append(rest)
            return ".".join(labels), off + 2
        label = msg[off + 1:off + 1 + n]
        if len(label) < n:
            raise IndexError(off)
        labels.append(label.decode("ascii", "replace"))
        off += 1 + n


def _rdata(msg: bytes, rtype: int, off: int, rdlen: int) -> str:
    data = msg[off:off + rdlen]
    if len(data) < rdlen:
        raise IndexError(off)
    if rtype == 1 and rdlen == 4:
        return str(ipaddress.IPv4Address(data))
    if rtype == 28 and rdlen == 16:
        return str(ipaddress.IPv6Address(data))
    if rtype in (2, 5, 12):
        return _name(msg, off)[0]
    if rtype == 15:
        return _name(msg, off + 2)[0]
    return f"{rdlen} bytes"


def label(p: Packet) -> str | None:
    """`DNS query 0x0001 A www.example.test`, `DNS response 0x0001 A www.example.test → 192.0.2.80 (+1)`."""
    m = p.payload
    if len(m) < 12:
        return None
    ident = int.from_bytes(m[0:2], "big")
    flags = int.from_bytes(m[2:4], "big")
    qd, an = int.from_bytes(m[4:6], "big"), int.from_bytes(m[6:8], "big")
    response = bool(flags & 0x8000)
    text = f"DNS {'response' if response else 'query'} 0x{ident:04x}"
    off = 12
    try:
        if qd:
            name, off = _name(m, off)
            qtype = int.from_bytes(m[off:off + 2], "big")
            if off + 4 > len(m):
                raise IndexError(off)
            off += 4
            text += f" {TYPES.get(qtype, qtype)} {name}"
            for _ in range(qd - 1):  # rare: skip further questions
                off = _name(m, off)[1] + 4
    except (IndexError, ValueError):
        return text + " …"
    if not response:
        return text
    rcode = flags & 15
    if rcode:
        return f"{text} → {RCODES.get(rcode, f'rcode {rcode}')}"
    if not an:
        return f"{text} → no answer"
    try:
        _, off = _name(m, off)
        rtype = int.from_bytes(m[off:off + 2], "big")
        rdlen = int.from_bytes(m[off + 8:off + 10], "big")
        if off + 10 > len(m):
            raise IndexError(off)
        first = _rdata(m, rtype, off + 10, rdlen)
        kind = "" if rtype in (1, 28) else f"{TYPES.get(rtype, rtype)} "
    except (IndexError, ValueError):
        return f"{text} → {an} answer{'s' if an > 1 else ''}"
    return f"{text} → {kind}{first}" + (f" (+{an - 1})" if an > 1 else "")
