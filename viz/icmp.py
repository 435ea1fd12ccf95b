"""ICMP, ICMPv6 and ARP on a ladder: what each message means and which exchange it belongs to.

A ladder is drawn from conversations.  TCP and UDP have theirs (the analysis'
streams); ICMP has none of its own, so this module makes them: an echo
request and its reply are a conversation between two hosts, and an error
(port unreachable, time exceeded) belongs to the TCP or UDP conversation of
the datagram it quotes (RFC 792: an error carries the offending datagram's IP
header and first 8 bytes), so it is drawn in that exchange, from the host
that sent it, back to the endpoint that caused it.  ARP and IPv6 neighbour
discovery are the link's own chatter, drawn only when asked.

Pure: reads `viz.model` values only.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace

from viz.model import Analysis, Endpoint, Packet, Stream

# RFC 792 / IANA icmp-parameters; the wording is the textbooks' (Kurose & Ross table 5.x).
ICMP_TYPES = {
    0: "echo reply", 3: "destination unreachable", 4: "source quench", 5: "redirect",
    8: "echo request", 9: "router advertisement", 10: "router solicitation", 11: "time exceeded",
    12: "parameter problem", 13: "timestamp request", 14: "timestamp reply",
    15: "information request", 16: "information reply", 17: "address mask request",
    18: "address mask reply",
}
UNREACHABLE = {
    0: "network unreachable", 1: "host unreachable", 2: "protocol unreachable", 3: "port unreachable",
    4: "fragmentation needed", 5: "source route failed", 6: "destination network unknown",
    7: "destination host unknown", 9: "network administratively prohibited",
    10: "host administratively prohibited", 13: "communication administratively prohibited",
}
TIME_EXCEEDED = {0: "time exceeded (TTL)", 1: "time exceeded (reassembly)"}
REDIRECT = {0: "redirect (network)", 1: "redirect (host)", 2: "redirect (TOS, network)", 3: "redirect (TOS, host)"}
# RFC 4443 / RFC 4861.
ICMP6_TYPES = {
    1: "destination unreachable", 2: "packet too big", 3: "time exceeded", 4: "parameter problem",
    128: "echo request", 129: "echo reply", 130: "multicast listener query",
    131: "multicast listener report", 132: "multicast listener done", 133: "router solicitation",
    134: "router advertisement", 135: "neighbor solicitation", 136: "neighbor advertisement",
    137: "redirect", 143: "multicast listener report v2",
}
UNREACHABLE6 = {
    0: "no route to destination", 1: "administratively prohibited", 2: "beyond scope of source",
    3: "address unreachable", 4: "port unreachable", 5: "source address failed policy",
    6: "reject route",
}
TIME_EXCEEDED6 = {0: "time exceeded (hop limit)", 1: "time exceeded (reassembly)"}

ECHO = {"icmp": (8, 0), "icmpv6": (128, 129)}  # request, reply
# Types whose bytes 4-7 are an identifier and a sequence number.
_ID_SEQ = {"icmp": {0, 8, 13, 14, 15, 16, 17, 18}, "icmpv6": {128, 129}}
# Errors quote the offending datagram.
ERRORS = {"icmp": {3, 4, 5, 11, 12}, "icmpv6": {1, 2, 3, 4}}
# IPv6's ARP (neighbour discovery, RFC 4861) and multicast listener reports (RFC 3810):
# link-layer business.  Listener reports name no peer (sent from :: to a group), so they
# are never drawn; neighbour discovery is drawn with `arp`.
NEIGHBOUR6 = {133, 134, 135, 136, 137}
LISTENER6 = {130, 131, 132, 143}
NEIGHBOR_SOLICITATION = 135
PROTO_NUMBERS = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6"}


def is_icmp(p: Packet) -> bool:
    return p.proto in ("icmp", "icmpv6") and p.icmp is not None


def is_link(p: Packet) -> bool:
    """ARP and neighbour discovery: drawn only with `arp=True`."""
    return p.proto == "arp" or (p.proto == "icmpv6" and p.icmp is not None
                                and p.icmp[0] in NEIGHBOUR6 | LISTENER6)


def ends(p: Packet) -> tuple[str | None, str | None]:
    """The two hosts a message is drawn between: a neighbour solicitation goes to a
    solicited-node multicast group, but asks the host its target field names."""
    if p.proto == "icmpv6" and p.icmp is not None and p.icmp[0] == NEIGHBOR_SOLICITATION and len(p.payload) >= 16:
        return p.src, str(ipaddress.IPv6Address(p.payload[:16]))
    return p.src, p.dst


def _drawable(p: Packet) -> bool:
    src, dst = ends(p)
    if src is None or dst is None or src == dst or src == "::":
        return False
    return not (p.proto == "icmpv6" and p.icmp is not None and p.icmp[0] in LISTENER6)


def is_error(p: Packet) -> bool:
    return is_icmp(p) and p.icmp[0] in ERRORS[p.proto]


def message(p: Packet) -> str:
    """The message's name as a lecture says it: `echo request`, `port unreachable`, `time exceeded (TTL)`."""
    typ, code = p.icmp[0], p.icmp[1]
    if p.proto == "icmp":
        if typ == 3:
            return UNREACHABLE.get(code, f"destination unreachable (code {code})")
        if typ == 11:
            return TIME_EXCEEDED.get(code, f"time exceeded (code {code})")
        if typ == 5:
            return REDIRECT.get(code, f"redirect (code {code})")
        name = ICMP_TYPES.get(typ, f"type {typ}")
    else:
        if typ == 1:
            return UNREACHABLE6.get(code, f"destination unreachable (code {code})")
        if typ == 3:
            return TIME_EXCEEDED6.get(code, f"time exceeded (code {code})")
        name = ICMP6_TYPES.get(typ, f"type {typ}")
    return name if code == 0 else f"{name} (code {code})"


@dataclass(frozen=True, slots=True)
class Quoted:
    """The offending datagram an ICMP error carries: its IP addresses and, when present, ports."""

    proto: str  # tcp | udp | icmp | icmpv6 | "ip N"
    src: str
    dst: str
    sport: int | None = None
    dport: int | None = None
    ttl: int | None = None  # as the reporting host received it (the sender's TTL minus the hops)


def quoted(p: Packet) -> Quoted | None:
    """Parse the quoted IP header (and the transport ports) from an ICMP error's body."""
    if not is_error(p):
        return None
    b = p.payload
    if len(b) >= 20 and b[0] >> 4 == 4:
        ihl = (b[0] & 15) * 4
        proto = PROTO_NUMBERS.get(b[9], f"ip {b[9]}")
        src, dst = str(ipaddress.IPv4Address(b[12:16])), str(ipaddress.IPv4Address(b[16:20]))
        ttl, off = b[8], ihl
    elif len(b) >= 40 and b[0] >> 4 == 6:
        proto = PROTO_NUMBERS.get(b[6], f"ip {b[6]}")
        src, dst = str(ipaddress.IPv6Address(b[8:24])), str(ipaddress.IPv6Address(b[24:40]))
        ttl, off = b[7], 40
    else:
        return None
    sport = dport = None
    if proto in ("tcp", "udp") and len(b) >= off + 4:
        sport, dport = int.from_bytes(b[off:off + 2], "big"), int.from_bytes(b[off + 2:off + 4], "big")
    return Quoted(proto, src, dst, sport, dport, ttl)


def caused_by(analysis: Analysis, p: Packet) -> int | None:
    """The frame of the datagram an ICMP error quotes: the last one before it with that
    protocol, addresses and ports (the quote has no frame number; the latest is the one
    the reporting host can have been answering)."""
    q = quoted(p)
    if q is None or q.proto not in ("tcp", "udp"):
        return None
    for f in range(p.frame - 1, 0, -1):
        o = analysis.packet(f)
        if (o.proto, o.src, o.dst, o.sport, o.dport) == (q.proto, q.src, q.dst, q.sport, q.dport):
            return f
    return None


def echo_replies(analysis: Analysis) -> dict[int, int]:
    """Reply frame -> request frame, matched as tshark does (same addresses reversed,
    identifier and sequence number; the latest unanswered request)."""
    pending: dict[tuple, int] = {}
    out: dict[int, int] = {}
    for p in analysis.others():
        if not is_icmp(p) or p.proto not in ECHO:
            continue
        req, rep = ECHO[p.proto]
        typ, _code, ident, seq = p.icmp
        if typ == req:
            pending[(p.src, p.dst, ident, seq)] = p.frame
        elif typ == rep:
            f = pending.pop((p.dst, p.src, ident, seq), None)
            if f is not None:
                out[p.frame] = f
    return out


def label(p: Packet, request: Packet | None = None) -> str:
    """`ICMP echo request id=0x0003 seq=1`; a reply adds its RTT at the capture point."""
    name = "ICMP" if p.proto == "icmp" else "ICMPv6"
    text = f"{name} {message(p)}"
    typ, _code, ident, seq = p.icmp
    if typ in _ID_SEQ[p.proto] and ident is not None:
        text += f" id=0x{ident:04x} seq={seq}"
    if request is not None:
        text += f" RTT={_ms(p.ts - request.ts)}"
    if p.proto == "icmpv6" and typ in (135, 136) and len(p.payload) >= 16:
        target = str(ipaddress.IPv6Address(p.payload[:16]))
        text += f" for {target}" if typ == 135 else f" {target}"
        opt = p.payload[16:24]  # RFC 4861 §4.6.1: target link-layer address option
        if typ == 136 and len(opt) == 8 and opt[0] == 2 and opt[1] == 1:
            text += " is-at " + ":".join(f"{x:02x}" for x in opt[2:8])
    return text


def _ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.3f} ms" if ms < 10 else f"{ms:.1f} ms"


def probe_label(p: Packet, error: Packet) -> str:
    """The datagram an error answered, drawn to the host that reported it."""
    what = f"{p.proto.upper()} len={p.len}" if p.len is not None else p.proto.upper()
    return f"{what}, TTL expired" if message(error).startswith("time exceeded") else f"{what}, {message(error)}"


# ---------------------------------------------------------------------------
# ARP (RFC 826)


def arp_label(p: Packet) -> str:
    """`ARP who-has 192.0.2.2? tell 192.0.2.1` / `ARP 192.0.2.2 is-at 02:00:00:00:00:02`."""
    b = p.payload
    if len(b) < 8:
        return "ARP"
    op = int.from_bytes(b[6:8], "big")
    hlen = b[4]
    if op == 1:
        if p.src == p.dst:
            return f"ARP announce {p.src} (gratuitous)"
        return f"ARP who-has {p.dst}? tell {p.src}"
    if op == 2 and len(b) >= 8 + hlen:
        mac = ":".join(f"{x:02x}" for x in b[8:8 + hlen])
        return f"ARP {p.src} is-at {mac}"
    return f"ARP op {op}"


# ---------------------------------------------------------------------------
# Conversations for the ladder


@dataclass(frozen=True, slots=True)
class Extra:
    """What the ladder adds to its rows: `frame` drawn as `packet` (addresses and ports
    rewritten to the lifelines it runs between) with `label`, within `stream`."""

    frame: int
    stream: Stream
    packet: Packet
    label: str


def host(addr: str) -> Endpoint:
    """A lifeline that is a whole host (ICMP and ARP have no ports)."""
    return Endpoint(addr, None)


def conversations(analysis: Analysis, arp: bool = False) -> tuple[Stream, ...]:
    """ICMP exchanges that belong to no TCP/UDP stream, one per pair of hosts, in order
    of appearance; the host that spoke first is the client (the pinger).  With `arp`,
    ARP and neighbour discovery join the conversation of their two hosts."""
    attached = {p.frame for p in analysis.others() if is_error(p) and caused_by(analysis, p)}
    convs: dict[frozenset, list] = {}
    for p in analysis.others():
        if p.frame in attached or not (is_icmp(p) or p.proto == "arp") or (is_link(p) and not arp):
            continue
        if not _drawable(p):
            continue
        src, dst = ends(p)
        convs.setdefault(frozenset((src, dst)), []).append(p)
    out = []
    for n, ps in enumerate(convs.values()):
        # The client is who spoke first, not counting the link's own chatter (the pinger, not the ARP reply).
        first = next((p for p in ps if not is_link(p)), ps[0])
        src, dst = ends(first)
        out.append(Stream(n, "icmp", host(src), host(dst), tuple(p.frame for p in ps), first_t=ps[0].t,
                          last_t=ps[-1].t))
    return tuple(out)


def extras(analysis: Analysis, streams: tuple[Stream, ...], arp: bool = False) -> tuple[Extra, ...]:
    """The ICMP (and with `arp`, ARP) frames the drawn streams gain, and new labels of their own frames.

    An error quoting a datagram of a drawn stream is drawn from the host that sent it
    (the destination's endpoint when it is that host, else a host lifeline such as the
    router) to the endpoint that sent the datagram; the datagram itself then ends at
    the reporter when that is not its destination (a traceroute probe dies at the
    router).  ARP frames before a stream's first frame are drawn between its hosts."""
    out: list[Extra] = []
    in_stream = {f: s for s in streams for f in s.frames}
    replies = echo_replies(analysis)
    for s in streams:
        if s.proto != "icmp":
            continue
        for f in s.frames:
            p = analysis.packet(f)
            if p.proto == "arp":
                out.append(Extra(f, s, p, arp_label(p)))
            elif is_icmp(p) and p.icmp[0] == NEIGHBOR_SOLICITATION:
                src, dst = ends(p)
                out.append(Extra(f, s, _moved(p, src, None, dst, None), label(p)))
            elif is_icmp(p):
                req = replies.get(f)
                out.append(Extra(f, s, p, label(p, analysis.packet(req) if req else None)))
    stream_ends = {e for s in streams if s.proto in ("tcp", "udp") for e in (s.client, s.server)}
    port_at: dict[str, int | None] = {}
    for e in sorted(stream_ends, key=lambda e: (e.addr, e.port)):
        port_at.setdefault(e.addr, e.port)
    for p in analysis.others():
        if not is_error(p):
            continue
        cause = caused_by(analysis, p)
        s = in_stream.get(cause)
        if s is None or s.proto not in ("tcp", "udp"):
            continue
        c = analysis.packet(cause)
        # From the reporter: the datagram's destination endpoint when it reported, else its host.
        src_port = c.dport if p.src == c.dst else None
        out.append(Extra(p.frame, s, _moved(p, p.src, src_port, c.src, c.sport), label(p)))
        if p.src != c.dst:
            out.append(Extra(cause, s, _moved(c, c.src, c.sport, p.src, None), probe_label(c, p)))
    if arp:
        hosts = {e.addr for e in stream_ends} | {e.addr for s in streams if s.proto == "icmp" for e in (s.client, s.server)}
        first = min((s.frames[0] for s in streams if s.frames), default=0)
        for p in analysis.others():
            if p.frame >= first:
                break
            if not is_link(p) or not _drawable(p):
                continue
            src, dst = ends(p)
            if src in hosts or dst in hosts:
                text = arp_label(p) if p.proto == "arp" else label(p)
                out.append(Extra(p.frame, streams[0], _moved(p, src, port_at.get(src), dst, port_at.get(dst)), text))
    return tuple(out)


def _moved(p: Packet, src: str, sport: int | None, dst: str, dport: int | None) -> Packet:
    return replace(p, src=src, sport=sport, dst=dst, dport=dport)


def omitted_note(analysis: Analysis, streams: tuple[Stream, ...], arp: bool = False) -> str:
    """What a caption says when a capture has more ICMP conversations than one figure draws."""
    drawn = [s.id for s in streams if s.proto == "icmp"]
    if not drawn:
        return ""
    total = len(conversations(analysis, arp))
    if len(drawn) == total:
        return ""
    which = f"{drawn[0]}" if len(drawn) == 1 else f"{drawn[0]}-{drawn[-1]}" if drawn == list(
        range(drawn[0], drawn[-1] + 1)) else ", ".join(map(str, drawn))
    return f"ICMP conversation{'s' if len(drawn) > 1 else ''} {which} of {total} drawn (--stream icmp:N)"
