"""Header field tables, declared once, and the walk that reads a frame with them.

Every view of a frame (nested boxes, the stack build-up, RFC-style field grids,
the coloured hex dump, the text and the graphic renderers) is drawn from one
`Dissection`, which is made only from the tables below: one short table per
header, in wire order, each field with its exact bit width and how to show its
value.  Fixed parts are tables; the few variable parts (IPv4 and TCP options,
GRE's optional words, ARP addresses, ICMP's rest-of-header) are expanded into
the same `Field` rows by the small functions next to the walk.

The walk follows each header's own next-protocol field and length field, so it
needs nothing but the link type and the bytes; `from_layers` lets the caller
check it against another decoder's (name, offset, length) list.  It is pure:
no I/O, no scapy.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from viz.linktypes import link_type_name

# ---------------------------------------------------------------- the tables


@dataclass(frozen=True, slots=True)
class Field:
    """One header field: RFC name, a short name for narrow cells, width in bits,
    and the name of the formatter that turns its raw value into text."""

    name: str
    bits: int
    show: str = "dec"
    short: str = ""

    @property
    def label(self) -> str:
        return self.short or self.name


@dataclass(frozen=True, slots=True)
class Header:
    key: str
    title: str  # as a lecture names it
    pdu: str  # what this header plus its payload is called (Kurose & Ross names)
    layer: str  # link | network | transport | application
    fields: tuple[Field, ...]  # the fixed part, in wire order

    @property
    def fixed_len(self) -> int:
        return sum(f.bits for f in self.fields) // 8


F = Field
HEADERS: dict[str, Header] = {h.key: h for h in (
    Header("ethernet", "Ethernet II", "Ethernet frame", "link", (
        F("Destination MAC", 48, "mac", "Dst MAC"),
        F("Source MAC", 48, "mac", "Src MAC"),
        F("EtherType", 16, "ethertype", "Type"),
    )),
    Header("vlan", "802.1Q VLAN tag", "802.1Q tagged frame", "link", (
        F("Priority Code Point", 3, "dec", "PCP"),
        F("Drop Eligible", 1, "dec", "D"),
        F("VLAN ID", 12, "dec", "VID"),
        F("EtherType", 16, "ethertype", "Type"),
    )),
    Header("sll", "Linux cooked header (SLL)", "cooked frame", "link", (
        F("Packet Type", 16, "sll_pkttype", "Pkt Type"),
        F("ARPHRD Type", 16, "dec", "ARPHRD"),
        F("Address Length", 16, "dec", "Addr Len"),
        F("Source Address", 64, "lladdr", "Src Addr"),
        F("Protocol", 16, "ethertype", "Proto"),
    )),
    Header("sll2", "Linux cooked header v2 (SLL2)", "cooked frame", "link", (
        F("Protocol", 16, "ethertype", "Proto"),
        F("Reserved", 16, "hex", "Rsvd"),
        F("Interface Index", 32, "dec", "ifindex"),
        F("ARPHRD Type", 16, "dec", "ARPHRD"),
        F("Packet Type", 8, "sll_pkttype", "Pkt Type"),
        F("Address Length", 8, "dec", "Addr Len"),
        F("Source Address", 64, "lladdr", "Src Addr"),
    )),
    Header("null", "BSD loopback header", "loopback frame", "link", (
        F("Address Family", 32, "null_af", "AF"),
    )),
    Header("chdlc", "Cisco HDLC", "HDLC frame", "link", (
        F("Address", 8, "hex", "Addr"),
        F("Control", 8, "hex", "Ctrl"),
        F("Protocol", 16, "ethertype", "Proto"),
    )),
    Header("ppp", "PPP", "PPP frame", "link", (
        F("Address", 8, "hex", "Addr"),
        F("Control", 8, "hex", "Ctrl"),
        F("Protocol", 16, "ppp_proto", "Proto"),
    )),
    Header("arp", "ARP", "ARP packet", "network", (
        F("Hardware Type", 16, "dec", "HTYPE"),
        F("Protocol Type", 16, "ethertype", "PTYPE"),
        F("Hardware Length", 8, "dec", "HLEN"),
        F("Protocol Length", 8, "dec", "PLEN"),
        F("Operation", 16, "arp_op", "Oper"),
        # sender/target addresses follow; sized by HLEN/PLEN (see _arp)
    )),
    Header("ipv4", "IPv4", "IPv4 datagram", "network", (
        F("Version", 4, "dec", "Ver"),
        F("IHL", 4, "words", "IHL"),
        F("DSCP", 6, "hex", "DSCP"),
        F("ECN", 2, "dec", "ECN"),
        F("Total Length", 16, "dec", "Total Length"),
        F("Identification", 16, "hex", "Ident"),
        F("Reserved", 1, "dec", "R"),
        F("Don't Fragment", 1, "dec", "DF"),
        F("More Fragments", 1, "dec", "MF"),
        F("Fragment Offset", 13, "frag8", "Frag Offset"),
        F("Time to Live", 8, "dec", "TTL"),
        F("Protocol", 8, "ipproto", "Proto"),
        F("Header Checksum", 16, "hex", "Checksum"),
        F("Source Address", 32, "ipv4", "Src Addr"),
        F("Destination Address", 32, "ipv4", "Dst Addr"),
    )),
    Header("ipv6", "IPv6", "IPv6 datagram", "network", (
        F("Version", 4, "dec", "Ver"),
        F("Traffic Class", 8, "hex", "Traffic Cl"),
        F("Flow Label", 20, "hex", "Flow Label"),
        F("Payload Length", 16, "dec", "Payload Len"),
        F("Next Header", 8, "ipproto", "Next Hdr"),
        F("Hop Limit", 8, "dec", "Hop Lim"),
        F("Source Address", 128, "ipv6", "Src Addr"),
        F("Destination Address", 128, "ipv6", "Dst Addr"),
    )),
    Header("ipv6-frag", "IPv6 Fragment header", "IPv6 fragment", "network", (
        F("Next Header", 8, "ipproto", "Next Hdr"),
        F("Reserved", 8, "hex", "Rsvd"),
        F("Fragment Offset", 13, "frag8", "Frag Offset"),
        F("Res", 2, "dec", "Rs"),
        F("More Fragments", 1, "dec", "M"),
        F("Identification", 32, "hex", "Ident"),
    )),
    Header("ipv6-ext", "IPv6 extension header", "IPv6 extension", "network", (
        F("Next Header", 8, "ipproto", "Next Hdr"),
        F("Hdr Ext Len", 8, "dec", "Ext Len"),
        # options follow, (Hdr Ext Len + 1) * 8 - 2 bytes
    )),
    Header("gre", "GRE", "GRE packet", "network", (
        F("Checksum Present", 1, "dec", "C"),
        F("Routing Present", 1, "dec", "R"),
        F("Key Present", 1, "dec", "K"),
        F("Sequence Present", 1, "dec", "S"),
        F("Strict Source Route", 1, "dec", "s"),
        F("Recursion Control", 3, "dec", "Recur"),
        F("Ack Present", 1, "dec", "A"),
        F("Flags", 4, "dec", "Flags"),
        F("Version", 3, "dec", "Ver"),
        F("Protocol Type", 16, "ethertype", "Protocol Type"),
        # optional words follow (see _gre)
    )),
    Header("tcp", "TCP", "TCP segment", "transport", (
        F("Source Port", 16, "dec", "Src Port"),
        F("Destination Port", 16, "dec", "Dst Port"),
        F("Sequence Number", 32, "dec", "Seq"),
        F("Acknowledgment Number", 32, "dec", "Ack"),
        F("Data Offset", 4, "words", "Offs"),
        F("Reserved", 4, "dec", "Rsrvd"),
        F("CWR", 1, "dec", "C"),
        F("ECE", 1, "dec", "E"),
        F("URG", 1, "dec", "U"),
        F("ACK", 1, "dec", "A"),
        F("PSH", 1, "dec", "P"),
        F("RST", 1, "dec", "R"),
        F("SYN", 1, "dec", "S"),
        F("FIN", 1, "dec", "F"),
        F("Window", 16, "dec", "Window"),
        F("Checksum", 16, "hex", "Checksum"),
        F("Urgent Pointer", 16, "dec", "Urg Ptr"),
        # options follow, up to Data Offset (see _tcp_options)
    )),
    Header("udp", "UDP", "UDP datagram", "transport", (
        F("Source Port", 16, "dec", "Src Port"),
        F("Destination Port", 16, "dec", "Dst Port"),
        F("Length", 16, "dec", "Length"),
        F("Checksum", 16, "hex", "Checksum"),
    )),
    Header("icmp", "ICMP", "ICMP message", "network", (
        F("Type", 8, "icmp_type", "Type"),
        F("Code", 8, "dec", "Code"),
        F("Checksum", 16, "hex", "Checksum"),
        # rest of header (32 bits) depends on the type (see _icmp_rest)
    )),
    Header("icmpv6", "ICMPv6", "ICMPv6 message", "network", (
        F("Type", 8, "icmp6_type", "Type"),
        F("Code", 8, "dec", "Code"),
        F("Checksum", 16, "hex", "Checksum"),
    )),
)}

# TCP options (RFC 9293 §3.2, RFC 7323, RFC 2018): kind -> (name, value fields).
TCP_OPTIONS: dict[int, tuple[str, tuple[Field, ...]]] = {
    0: ("End of Option List", ()),
    1: ("No-Operation", ()),
    2: ("Maximum Segment Size", (F("MSS", 16, "dec", "MSS"),)),
    3: ("Window Scale", (F("Shift Count", 8, "dec", "Shift"),)),
    4: ("SACK Permitted", ()),
    5: ("SACK", ()),  # blocks of (left, right) edges, see _tcp_options
    8: ("Timestamps", (F("TSval", 32, "dec", "TSval"), F("TSecr", 32, "dec", "TSecr"))),
}
TCP_OPTION_SHORT = {0: "EOL", 1: "NOP", 2: "MSS", 3: "WS", 4: "SACK_PERM", 5: "SACK", 8: "TS"}

# ICMP rest-of-header by type (RFC 792, 950, 1256).
_IDSEQ = (F("Identifier", 16, "dec", "Id"), F("Sequence Number", 16, "dec", "Seq"))
ICMP_REST: dict[int, tuple[Field, ...]] = {
    0: _IDSEQ, 8: _IDSEQ, 13: _IDSEQ, 14: _IDSEQ, 15: _IDSEQ, 16: _IDSEQ, 17: _IDSEQ, 18: _IDSEQ,
    3: (F("Unused", 16, "hex", "Unused"), F("Next-Hop MTU", 16, "dec", "MTU")),
    4: (F("Unused", 32, "hex", "Unused"),),
    11: (F("Unused", 32, "hex", "Unused"),),
    5: (F("Gateway Address", 32, "ipv4", "Gateway"),),
    12: (F("Pointer", 8, "dec", "Ptr"), F("Unused", 24, "hex", "Unused")),
    9: (F("Num Addrs", 8, "dec", "Num"), F("Addr Entry Size", 8, "dec", "Size"), F("Lifetime", 16, "dec", "Lifetime")),
    10: (F("Reserved", 32, "hex", "Rsvd"),),
}
ICMP_ERRORS = frozenset({3, 4, 5, 11, 12})  # these quote the offending IP header
ICMP6_REST: dict[int, tuple[Field, ...]] = {
    128: _IDSEQ, 129: _IDSEQ,
    1: (F("Unused", 32, "hex", "Unused"),),
    2: (F("MTU", 32, "dec", "MTU"),),
    3: (F("Unused", 32, "hex", "Unused"),),
    4: (F("Pointer", 32, "dec", "Ptr"),),
    133: (F("Reserved", 32, "hex", "Rsvd"),),
    135: (F("Reserved", 32, "hex", "Rsvd"), F("Target Address", 128, "ipv6", "Target")),
    136: (F("R", 1, "dec", "R"), F("S", 1, "dec", "S"), F("O", 1, "dec", "O"),
          F("Reserved", 29, "hex", "Rsvd"), F("Target Address", 128, "ipv6", "Target")),
}
ICMP6_ERRORS = frozenset({1, 2, 3, 4})

ETHERTYPES = {0x0800: "IPv4", 0x86DD: "IPv6", 0x0806: "ARP", 0x8100: "802.1Q", 0x88A8: "802.1ad",
              0x8035: "RARP/SLARP", 0x880B: "PPP", 0x6558: "Ethernet", 0x8847: "MPLS",
              0x8863: "PPPoE Discovery", 0x8864: "PPPoE Session", 0x88CC: "LLDP"}
_ETHER_NEXT = {0x0800: "ipv4", 0x86DD: "ipv6", 0x0806: "arp", 0x8100: "vlan", 0x88A8: "vlan",
               0x6558: "ethernet", 0x880B: "ppp"}
IPPROTO = {0: "HOPOPT", 1: "ICMP", 2: "IGMP", 4: "IPv4", 6: "TCP", 17: "UDP", 41: "IPv6",
           43: "IPv6-Route", 44: "IPv6-Frag", 47: "GRE", 50: "ESP", 51: "AH", 58: "ICMPv6",
           59: "No Next Header", 60: "IPv6-Opts", 132: "SCTP"}
_IP_NEXT = {1: "icmp", 4: "ipv4", 6: "tcp", 17: "udp", 41: "ipv6", 47: "gre", 58: "icmpv6",
            44: "ipv6-frag", 0: "ipv6-ext", 43: "ipv6-ext", 60: "ipv6-ext"}
PPP_PROTOS = {0x0021: "IPv4", 0x0057: "IPv6", 0xC021: "LCP", 0xC023: "PAP", 0xC223: "CHAP",
              0x8021: "IPCP", 0x8057: "IPV6CP", 0x80FD: "CCP"}
_PPP_NEXT = {0x0021: "ipv4", 0x0057: "ipv6"}
ICMP_TYPES = {0: "echo reply", 3: "destination unreachable", 4: "source quench", 5: "redirect",
              8: "echo request", 9: "router advertisement", 10: "router solicitation",
              11: "time exceeded", 12: "parameter problem", 13: "timestamp", 14: "timestamp reply",
              15: "information request", 16: "information reply", 17: "address mask request",
              18: "address mask reply"}
ICMP6_TYPES = {1: "destination unreachable", 2: "packet too big", 3: "time exceeded",
               4: "parameter problem", 128: "echo request", 129: "echo reply",
               133: "router solicitation", 134: "router advertisement",
               135: "neighbor solicitation", 136: "neighbor advertisement", 143: "MLDv2 report"}
ARP_OPS = {1: "request", 2: "reply", 3: "RARP request", 4: "RARP reply"}
SLL_PKTTYPES = {0: "to us", 1: "broadcast", 2: "multicast", 3: "to another host", 4: "sent by us"}
NULL_AF = {2: "IPv4", 24: "IPv6", 28: "IPv6", 30: "IPv6", 10: "IPv6"}

# pcap LINKTYPE_* -> first header (None: raw IP, by the version nibble); names: viz.linktypes
LINKTYPES = {
    1: "ethernet", 0: "null", 108: "null", 101: None, 12: None, 14: None, 228: "ipv4", 229: "ipv6",
    113: "sll", 276: "sll2", 104: "chdlc", 9: "ppp",
}
# Link types whose frames on the wire end in a 4-byte Ethernet FCS that the capture lacks.
FCS_LINKTYPES = frozenset({1})

# ---------------------------------------------------------------- formatting


def _hexw(value: int, bits: int) -> str:
    return f"0x{value:0{max(1, (bits + 3) // 4)}x}"


def show(kind: str, value, bits: int) -> str:
    """The display text of a raw field value (an int, or bytes for byte runs)."""
    if isinstance(value, bytes):
        return value.hex(" ") if len(value) <= 16 else value[:16].hex(" ") + f" ... ({len(value)} B)"
    if kind == "dec":
        return str(value)
    if kind == "hex":
        return _hexw(value, bits)
    if kind == "mac":
        return ":".join(f"{b:02x}" for b in value.to_bytes(6, "big"))
    if kind == "lladdr":
        return ":".join(f"{b:02x}" for b in value.to_bytes(bits // 8, "big"))
    if kind == "ipv4":
        return str(ipaddress.IPv4Address(value))
    if kind == "ipv6":
        return str(ipaddress.IPv6Address(value))
    if kind == "ethertype":
        name = ETHERTYPES.get(value)
        return f"{_hexw(value, 16)} ({name})" if name else _hexw(value, 16)
    if kind == "ppp_proto":
        name = PPP_PROTOS.get(value)
        return f"{_hexw(value, 16)} ({name})" if name else _hexw(value, 16)
    if kind == "ipproto":
        name = IPPROTO.get(value)
        return f"{value} ({name})" if name else str(value)
    if kind == "words":
        return f"{value} ({value * 4} B)"
    if kind == "frag8":
        return f"{value} ({value * 8} B)" if value else "0"
    if kind == "arp_op":
        return f"{value} ({ARP_OPS[value]})" if value in ARP_OPS else str(value)
    if kind == "icmp_type":
        return f"{value} ({ICMP_TYPES[value]})" if value in ICMP_TYPES else str(value)
    if kind == "icmp6_type":
        return f"{value} ({ICMP6_TYPES[value]})" if value in ICMP6_TYPES else str(value)
    if kind == "tcpopt":
        return f"{value} ({TCP_OPTION_SHORT[value]})" if value in TCP_OPTION_SHORT else str(value)
    if kind == "sll_pkttype":
        return f"{value} ({SLL_PKTTYPES[value]})" if value in SLL_PKTTYPES else str(value)
    if kind == "null_af":
        af = _null_af(value)
        if af in NULL_AF:
            return f"{af} ({NULL_AF[af]})"
        if value & 0xFFFF in ETHERTYPES:  # some BSDs put an EtherType in the low half
            return f"{_hexw(value, 32)} (EtherType {ETHERTYPES[value & 0xFFFF]})"
        return _hexw(value, 32)
    raise ValueError(f"unknown field format {kind!r}")


def _null_af(value: int) -> int:
    """DLT_NULL's family is in the capturing host's byte order; small is right."""
    return value if value < 0x10000 else int.from_bytes(value.to_bytes(4, "big"), "little")


# ---------------------------------------------------------------- the result


@dataclass(frozen=True, slots=True)
class FieldValue:
    name: str
    short: str
    bit_offset: int  # from the first bit of the frame
    bits: int
    raw: int | bytes | None  # None when the field lies beyond the captured bytes
    text: str

    @property
    def missing(self) -> bool:
        return self.raw is None


@dataclass(frozen=True, slots=True)
class Layer:
    """One run of bytes of the frame: a header, the data, padding, or undecoded bytes.

    `parent` is the index of the header whose payload this run is (-1: the
    frame itself), which is what makes the boxes nest.
    """

    key: str  # a HEADERS key, or "data" | "padding" | "fragment" | "raw"
    title: str
    offset: int  # bytes from the frame start
    length: int  # captured bytes
    parent: int
    fields: tuple[FieldValue, ...] = ()
    pdu: str = ""
    layer: str = ""  # link | network | transport | application
    declared: int | None = None  # header length the header claims, when more than captured
    note: str = ""

    @property
    def is_header(self) -> bool:
        return self.key in HEADERS

    def field(self, name: str) -> FieldValue:
        for f in self.fields:
            if f.name == name or f.short == name:
                return f
        raise KeyError(name)

    def value(self, name: str):
        return self.field(name).raw


@dataclass(frozen=True, slots=True)
class Dissection:
    linktype: int
    link_name: str
    cap_len: int
    wire_len: int
    data: bytes
    layers: tuple[Layer, ...]
    notes: tuple[str, ...] = ()

    @property
    def fcs_missing(self) -> bool:
        """Ethernet on the wire ends in a 4-byte FCS the capture does not hold."""
        return self.linktype in FCS_LINKTYPES

    @property
    def headers(self) -> tuple[Layer, ...]:
        return tuple(lay for lay in self.layers if lay.is_header)

    def first(self, key: str) -> Layer | None:
        return next((lay for lay in self.layers if lay.key == key), None)

    def payload_bytes(self) -> int:
        return sum(lay.length for lay in self.layers if lay.key == "data")

    def header_bytes(self) -> int:
        return sum(lay.length for lay in self.layers if lay.is_header)


# ---------------------------------------------------------------- the walk


def _read(data: bytes, bit_offset: int, bits: int) -> int | None:
    end = bit_offset + bits
    if end > len(data) * 8:
        return None
    first, last = bit_offset // 8, (end + 7) // 8
    chunk = int.from_bytes(data[first:last], "big")
    return (chunk >> (last * 8 - end)) & ((1 << bits) - 1)


def _values(data: bytes, byte_offset: int, fields, start_bit: int = 0) -> list[FieldValue]:
    out = []
    bit = byte_offset * 8 + start_bit
    for f in fields:
        raw = _read(data, bit, f.bits)
        text = "(not captured)" if raw is None else show(f.show, raw, f.bits)
        out.append(FieldValue(f.name, f.short or f.name, bit, f.bits, raw, text))
        bit += f.bits
    return out


def _bytes_field(data: bytes, offset: int, length: int, name: str, short: str = "") -> FieldValue:
    raw = data[offset:offset + length] if offset + length <= len(data) else None
    text = "(not captured)" if raw is None else show("hex", raw, length * 8)
    return FieldValue(name, short or name, offset * 8, length * 8, raw, text)


class _Walk:
    def __init__(self, data: bytes):
        self.data = data
        self.layers: list[Layer] = []
        self.notes: list[str] = []

    def add(self, layer: Layer) -> int:
        self.layers.append(layer)
        return len(self.layers) - 1

    def header(self, key: str, off: int, parent: int, extra=(), length: int | None = None,
               title: str | None = None, note: str = "", end: int | None = None) -> tuple[int, Layer]:
        h = HEADERS[key]
        fields = _values(self.data, off, h.fields)
        bit = off * 8 + sum(f.bits for f in h.fields)
        for item in extra:
            if isinstance(item, FieldValue):
                fields.append(item)
                bit = item.bit_offset + item.bits
            else:
                fv = _values(self.data, 0, (item,), bit)[0]
                fields.append(fv)
                bit += item.bits
        declared = length if length is not None else (bit // 8 - off)
        captured = max(0, min(declared, (len(self.data) if end is None else end) - off))
        lay = Layer(key, title or h.title, off, captured, parent, tuple(fields), h.pdu, h.layer,
                    declared if declared > captured else None, note)
        return self.add(lay), lay


def dissect(linktype: int, data: bytes, wire_len: int | None = None) -> Dissection:
    """Walk the frame from its link header inwards; every captured byte ends up in
    exactly one layer (header, data, padding, fragment or raw)."""
    wire_len = len(data) if wire_len is None else wire_len
    name, first = link_type_name(linktype), LINKTYPES.get(linktype, "?")
    w = _Walk(data)
    if first is None:
        first = {4: "ipv4", 6: "ipv6"}.get(data[0] >> 4 if data else 0, "?")
    end = _walk(w, first, 0, -1, len(data))
    if end < len(data):
        w.add(Layer("raw", "Undecoded bytes", end, len(data) - end, -1,
                    note="no header table matches these bytes"))
    if first == "?":
        w.notes.append(f"link type {name} ({linktype}) is not decoded: bytes shown raw")
    if wire_len > len(data):
        w.notes.append(f"{wire_len - len(data)} bytes on the wire were not captured (snap length)")
    return Dissection(linktype, name, len(data), wire_len, data, tuple(w.layers), tuple(w.notes))


def _walk(w: _Walk, key: str, off: int, parent: int, end: int) -> int:
    """Dissect header `key` at `off` (bounded by `end`), then its payload; return
    the offset after everything this call accounted for."""
    data = w.data
    if key == "?" or off >= end:
        return off
    fn = _DISSECTORS.get(key)
    if fn is None:
        return off
    return fn(w, off, parent, end)


def _fits(w: _Walk, key: str, off: int, end: int, parent: int) -> bool:
    if off + HEADERS[key].fixed_len <= end:
        return True
    w.notes.append(f"{HEADERS[key].title} header cut short: {end - off} of "
                   f"{HEADERS[key].fixed_len} bytes captured")
    w.add(Layer("raw", f"{HEADERS[key].title} header, cut short", off, end - off, parent,
                note="too few bytes for the fixed header"))
    return False


def _payload(w: _Walk, off: int, end: int, parent: int, title: str = "Data", key: str = "data") -> int:
    if end > off:
        preview = _preview(w.data[off:end])
        w.add(Layer(key, title, off, end - off, parent, pdu="message" if key == "data" else "",
                    layer="application" if key == "data" else "", note=preview))
    return max(end, off)


def _preview(b: bytes, n: int = 40) -> str:
    text = "".join(chr(c) if 32 <= c < 127 else ("\\r" if c == 13 else "\\n" if c == 10 else ".")
                   for c in b[:n])
    return text + ("..." if len(b) > n else "")


def _ethertype_next(w: _Walk, etype: int | None, off: int, parent: int, end: int) -> int:
    nxt = _ETHER_NEXT.get(etype) if etype is not None else None
    if etype is not None and etype < 0x0600:
        return _payload(w, off, end, parent, f"IEEE 802.3 length {etype}: LLC payload (not decoded)", "raw")
    if nxt is None:
        name = ETHERTYPES.get(etype, _hexw(etype, 16) if etype is not None else "?")
        return _payload(w, off, end, parent, f"{name} payload (not decoded)", "raw")
    return _finish(w, _walk(w, nxt, off, parent, end), end, parent)


def _finish(w: _Walk, pos: int, end: int, parent: int) -> int:
    """Whatever an inner layer did not claim up to `end` is trailer padding of `parent`."""
    if pos < end:
        w.add(Layer("padding", "Padding", pos, end - pos, parent,
                    note="link-layer padding after the datagram"))
    return end


def _ethertyped(key: str, field: str):
    """The dissector of a fixed header whose `field` is the EtherType of what follows it
    (Ethernet, 802.1Q, Linux cooked v1 and v2): one rule, the header table gives the rest."""
    size = HEADERS[key].fixed_len

    def dissect(w, off, parent, end):
        if not _fits(w, key, off, end, parent):
            return end
        idx, lay = w.header(key, off, parent)
        return _ethertype_next(w, lay.value(field), off + size, idx, end)
    return dissect


def _null(w, off, parent, end):
    if not _fits(w, "null", off, end, parent):
        return end
    idx, lay = w.header("null", off, parent)
    value = lay.value("Address Family")
    af = NULL_AF.get(_null_af(value))
    etype = {"IPv4": 0x0800, "IPv6": 0x86DD}.get(af, value & 0xFFFF)
    return _ethertype_next(w, etype, off + 4, idx, end)


def _chdlc(w, off, parent, end):
    if not _fits(w, "chdlc", off, end, parent):
        return end
    idx, lay = w.header("chdlc", off, parent)
    return _ethertype_next(w, lay.value("Protocol"), off + 4, idx, end)


def _ppp(w, off, parent, end):
    data = w.data
    if data[off] == 0xFF:
        if not _fits(w, "ppp", off, end, parent):
            return end
        idx, lay = w.header("ppp", off, parent)
        proto, hlen = lay.value("Protocol"), 4
    else:  # address and control compressed away (RFC 1661 ACFC); protocol may be 1 byte (PFC)
        plen = 1 if data[off] & 1 else 2
        pf = _values(data, off, (F("Protocol", plen * 8, "ppp_proto", "Proto"),))
        h = HEADERS["ppp"]
        idx = w.add(Layer("ppp", "PPP (address/control compressed)", off, plen, parent,
                          tuple(pf), h.pdu, h.layer))
        proto, hlen = pf[0].raw, plen
    nxt = _PPP_NEXT.get(proto)
    if nxt is None:
        return _payload(w, off + hlen, end, idx, f"PPP {PPP_PROTOS.get(proto, _hexw(proto, 16))} (not decoded)", "raw")
    return _finish(w, _walk(w, nxt, off + hlen, idx, end), end, idx)


def _arp(w, off, parent, end):
    if not _fits(w, "arp", off, end, parent):
        return end
    data = w.data
    hlen, plen = data[off + 4], data[off + 5]
    ptype = int.from_bytes(data[off + 2:off + 4], "big")
    hw = "mac" if hlen == 6 else "lladdr"
    pa = "ipv4" if (plen == 4 and ptype == 0x0800) else "hex"
    extra = (F("Sender Hardware Address", hlen * 8, hw, "Sender MAC"),
             F("Sender Protocol Address", plen * 8, pa, "Sender IP"),
             F("Target Hardware Address", hlen * 8, hw, "Target MAC"),
             F("Target Protocol Address", plen * 8, pa, "Target IP"))
    _, lay = w.header("arp", off, parent, extra)
    return off + lay.length


def _ipv4(w, off, parent, end, quoted=False):
    if not _fits(w, "ipv4", off, end, parent):
        return end
    data = w.data
    ihl = (data[off] & 0x0F) * 4
    extra = ()
    if ihl > 20:
        extra = (_bytes_field(data, off + 20, ihl - 20, "Options", "Options"),)
    title = "IPv4 (quoted by ICMP)" if quoted else None
    idx, lay = w.header("ipv4", off, parent, extra, length=max(ihl, 20), title=title)
    total = lay.value("Total Length")
    body_end = min(end, off + total) if (total and total >= ihl and not quoted) else end
    if ihl < 20:
        w.notes.append(f"IPv4 header length {ihl} is below the minimum 20")
    pos = off + lay.length
    if lay.declared:
        return pos
    frag = lay.value("Fragment Offset")
    proto = lay.value("Protocol")
    if frag:
        pos = _payload(w, pos, body_end, idx, f"Fragment data (offset {frag * 8} B)", "fragment")
    else:
        pos = _ip_next(w, proto, pos, idx, body_end, quoted)
    return pos


def _ip_next(w, proto, off, parent, end, quoted=False):
    nxt = _IP_NEXT.get(proto)
    if nxt is None or off >= end:
        return _payload(w, off, end, parent, f"{IPPROTO.get(proto, f'protocol {proto}')} payload (not decoded)", "raw") \
            if nxt is None else off
    if quoted and nxt in ("tcp", "udp", "icmp", "icmpv6"):
        return _quoted_transport(w, nxt, off, parent, end)
    return _walk(w, nxt, off, parent, end)


def _quoted_transport(w, key, off, parent, end):
    """An ICMP error quotes only the first 8 bytes past the IP header (RFC 792)."""
    h = HEADERS[key]
    n = min(end - off, h.fixed_len)
    fields = tuple(fv for fv in _values(w.data, off, h.fields) if fv.bit_offset + fv.bits <= end * 8)
    w.add(Layer(key, f"{h.title} (quoted, first {n} bytes)", off, n, parent, fields, h.pdu, h.layer,
                h.fixed_len if h.fixed_len > n else None))
    return _payload(w, off + n, end, parent, "Quoted data") if off + n < end else off + n


def _ipv6(w, off, parent, end, quoted=False):
    if not _fits(w, "ipv6", off, end, parent):
        return end
    idx, lay = w.header("ipv6", off, parent, title="IPv6 (quoted by ICMPv6)" if quoted else None)
    plen = lay.value("Payload Length")
    body_end = min(end, off + 40 + plen) if (plen and not quoted) else end
    pos = _ip6_chain(w, lay.value("Next Header"), off + 40, idx, body_end, quoted)
    return pos


def _ip6_chain(w, nh, off, parent, end, quoted):
    while nh in (0, 43, 60, 44) and off < end:
        if nh == 44:
            if not _fits(w, "ipv6-frag", off, end, parent):
                return end
            _, lay = w.header("ipv6-frag", off, parent)
            nh, off = lay.value("Next Header"), off + 8
            frag = lay.value("Fragment Offset")
            if frag:
                return _payload(w, off, end, parent, f"Fragment data (offset {frag * 8} B)", "fragment")
        else:
            if not _fits(w, "ipv6-ext", off, end, parent):
                return end
            n = (w.data[off + 1] + 1) * 8
            extra = (_bytes_field(w.data, off + 2, n - 2, "Options", "Options"),)
            title = {0: "IPv6 Hop-by-Hop Options", 43: "IPv6 Routing header", 60: "IPv6 Destination Options"}[nh]
            _, lay = w.header("ipv6-ext", off, parent, extra, length=n, title=title)
            nh, off = lay.value("Next Header"), off + n
            if lay.declared:
                return off - n + lay.length
    if nh == 59:
        return _payload(w, off, end, parent, "After No Next Header", "raw")
    return _ip_next(w, nh, off, parent, end, quoted)


def _gre(w, off, parent, end):
    if not _fits(w, "gre", off, end, parent):
        return end
    data = w.data
    b0, b1 = data[off], data[off + 1]
    c, r, k, s = b0 >> 7 & 1, b0 >> 6 & 1, b0 >> 5 & 1, b0 >> 4 & 1
    ver, a = b1 & 7, b1 >> 7 & 1
    extra = []
    if c or r:
        extra += [F("Checksum", 16, "hex", "Checksum"), F("Offset", 16, "dec", "Offset")]
    if k:
        extra += ([F("Payload Length", 16, "dec", "Payload Len"), F("Call ID", 16, "dec", "Call ID")]
                  if ver == 1 else [F("Key", 32, "hex", "Key")])
    if s:
        extra.append(F("Sequence Number", 32, "dec", "Seq"))
    if a and ver == 1:
        extra.append(F("Acknowledgment Number", 32, "dec", "Ack"))
    title = "Enhanced GRE (PPTP)" if ver == 1 else None
    idx, lay = w.header("gre", off, parent, tuple(extra), title=title)
    pos = off + lay.length
    if lay.declared:
        return pos
    if r:
        w.notes.append("GRE routing fields are not decoded")
        return _payload(w, pos, end, idx, "GRE routing and payload (not decoded)", "raw")
    return _ethertype_next(w, lay.value("Protocol Type"), pos, idx, end)


def _tcp(w, off, parent, end):
    if not _fits(w, "tcp", off, end, parent):
        return end
    data = w.data
    doff = (data[off + 12] >> 4) * 4
    extra = _tcp_options(data, off + 20, off + max(doff, 20))
    idx, lay = w.header("tcp", off, parent, extra, length=max(doff, 20), end=end)
    if doff < 20:
        w.notes.append(f"TCP data offset {doff} bytes is below the minimum 20")
    if lay.declared:
        w.notes.append(f"TCP header cut short: data offset says {doff} bytes, {lay.length} captured")
        return off + lay.length
    return _payload(w, off + lay.length, end, idx)


def _tcp_options(data: bytes, start: int, stop: int) -> tuple[FieldValue, ...]:
    """Options as kind/length/value fields at their exact bit positions; padding after EOL."""
    out: list[FieldValue] = []
    pos = start
    while pos < stop:
        if pos >= len(data):
            out.append(_bytes_field(data, pos, stop - pos, "Options (not captured)", "Options"))
            break
        kind = data[pos]
        name, vals = TCP_OPTIONS.get(kind, (f"Option {kind}", ()))
        short = TCP_OPTION_SHORT.get(kind, f"Opt {kind}")
        out.append(FieldValue(f"{name}: Kind", f"{short} kind", pos * 8, 8, kind, show("tcpopt", kind, 8)))
        if kind == 0:
            if stop - pos > 1:
                out.append(_bytes_field(data, pos + 1, stop - pos - 1, "Padding", "Padding"))
            break
        if kind == 1:
            pos += 1
            continue
        if pos + 1 >= min(stop, len(data)):
            break
        length = data[pos + 1]
        out.append(FieldValue(f"{name}: Length", "Len", (pos + 1) * 8, 8, length, str(length)))
        if length < 2 or pos + length > stop:
            rest = stop - pos - 2
            if rest > 0:
                out.append(_bytes_field(data, pos + 2, rest, "Malformed option", "Malformed"))
            break
        body = length - 2
        if kind == 5:
            for i in range(body // 8):
                out += _values(data, pos + 2 + 8 * i, (F(f"SACK Left Edge {i + 1}", 32, "dec", f"Left {i + 1}"),
                                                       F(f"SACK Right Edge {i + 1}", 32, "dec", f"Right {i + 1}")))
        elif vals and sum(v.bits for v in vals) == body * 8:
            out += _values(data, pos + 2, vals)
        elif body:
            out.append(_bytes_field(data, pos + 2, body, f"{name}: Value", "Value"))
        pos += length
    return tuple(out)


def _udp(w, off, parent, end):
    if not _fits(w, "udp", off, end, parent):
        return end
    idx, lay = w.header("udp", off, parent)
    return _payload(w, off + 8, end, idx)


def _icmp(w, off, parent, end):
    if not _fits(w, "icmp", off, end, parent):
        return end
    t = w.data[off]
    rest = ICMP_REST.get(t, (F("Rest of Header", 32, "hex", "Rest of Header"),))
    idx, lay = w.header("icmp", off, parent, rest)
    pos = off + lay.length
    if t in ICMP_ERRORS and pos + 20 <= end and w.data[pos] >> 4 == 4:
        return _ipv4(w, pos, idx, end, quoted=True)
    return _payload(w, pos, end, idx)


def _icmpv6(w, off, parent, end):
    if not _fits(w, "icmpv6", off, end, parent):
        return end
    t = w.data[off]
    rest = ICMP6_REST.get(t, ())
    idx, lay = w.header("icmpv6", off, parent, rest)
    pos = off + lay.length
    if lay.declared:
        return pos
    if t in ICMP6_ERRORS and pos + 40 <= end and w.data[pos] >> 4 == 6:
        return _ipv6(w, pos, idx, end, quoted=True)
    return _payload(w, pos, end, idx, "Message body" if t not in (128, 129) else "Data")


_DISSECTORS = {
    "ethernet": _ethertyped("ethernet", "EtherType"), "vlan": _ethertyped("vlan", "EtherType"),
    "sll": _ethertyped("sll", "Protocol"), "sll2": _ethertyped("sll2", "Protocol"), "null": _null,
    "chdlc": _chdlc, "ppp": _ppp, "arp": _arp, "ipv4": _ipv4, "ipv6": _ipv6, "gre": _gre,
    "tcp": _tcp, "udp": _udp, "icmp": _icmp, "icmpv6": _icmpv6,
}
