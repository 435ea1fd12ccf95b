"""Layout of the four views of one frame: nested boxes, stack build-up, field grids, hex.

Pure: everything here is computed from a `viz.headers.Dissection` (and, when
the analysis ran, the frame's `viz.model.Packet` for relative seq/ack), so the
text and matplotlib renderers draw exactly the same boxes, sizes and values.
"""
from __future__ import annotations

from dataclasses import dataclass

from viz.headers import HEADERS, TCP_OPTION_SHORT, Dissection, FieldValue, Layer
from viz.model import Packet, flag_label

VIEWS = ("nested", "stack", "fields", "hex")
FCS_LEN = 4

# What a lecture says a link type without an Ethernet header means.
LINK_NOTES = {
    "RAW": "Raw IP link type: the capture holds no link-layer header, so there is no Ethernet box.",
    "IPV4": "Raw IPv4 link type: the capture holds no link-layer header, so there is no Ethernet box.",
    "IPV6": "Raw IPv6 link type: the capture holds no link-layer header, so there is no Ethernet box.",
    "LINUX_SLL": "Linux cooked capture: a 16-byte SLL pseudo-header written by the capturing "
                 "kernel stands in for the link header; there is no Ethernet box.",
    "LINUX_SLL2": "Linux cooked capture v2: a 20-byte SLL2 pseudo-header written by the capturing "
                  "kernel stands in for the link header; there is no Ethernet box.",
    "NULL": "BSD loopback link type: a 4-byte address-family word, not an Ethernet header.",
    "C_HDLC": "Cisco HDLC link type: a 4-byte HDLC header, not an Ethernet header.",
}
FCS_NOTE = "FCS (4 B): on the wire, not captured (the NIC checks and strips it)"


def range_text(offset: int, size: int) -> str:
    return f"bytes {offset}-{offset + size - 1} ({size} B)" if size else f"byte {offset} (0 B)"


# ---------------------------------------------------------------- nested


@dataclass(frozen=True, slots=True)
class Box:
    """A PDU (header plus what it carries) or a leaf run of bytes (data, padding, FCS)."""

    title: str
    offset: int
    size: int
    kind: str  # pdu | data | padding | fcs | raw | fragment
    style: int  # layer index into the shared styles (-1 for the FCS)
    header_title: str = ""
    header_size: int = 0
    lines: tuple[str, ...] = ()
    children: tuple["Box", ...] = ()
    captured: bool = True

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()


@dataclass(frozen=True, slots=True)
class Nested:
    heading: str
    roots: tuple[Box, ...]
    overhead: str
    notes: tuple[str, ...]
    header_bytes: int
    payload_bytes: int
    cap_len: int


def _port_pair(lay: Layer) -> str:
    return f"port {lay.value('Source Port')} \u2192 {lay.value('Destination Port')}"


def _tcp_lines(lay: Layer, pkt: Packet | None) -> list[str]:
    seq, ack = lay.value("Sequence Number"), lay.value("Acknowledgment Number")
    flags = 0
    for bit, name in enumerate(("FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR")):
        v = lay.value(name)
        flags |= (v or 0) << bit
    rel = pkt is not None and pkt.seq_raw == seq and pkt.seq is not None
    seq_t = f"seq {pkt.seq} (raw {seq})" if rel else f"seq {seq} (raw)"
    if not flags & 0x10:
        ack_t = "ack \u2014 (ACK flag clear)"
    elif rel and pkt.ack is not None:
        ack_t = f"ack {pkt.ack} (raw {ack})"
    else:
        ack_t = f"ack {ack} (raw)"
    lines = [_port_pair(lay), f"{seq_t}, {ack_t}",
             f"flags {flag_label(flags)}, window {lay.value('Window')}"]
    opts = [f for f in lay.fields if f.name.endswith(": Kind")]
    if opts:
        lines.append("options " + ", ".join(_option_text(lay, f) for f in opts))
    return lines


def _option_text(lay: Layer, kind_field: FieldValue) -> str:
    name = TCP_OPTION_SHORT.get(kind_field.raw, f"kind {kind_field.raw}")
    values = []
    after = False
    for f in lay.fields:
        if f is kind_field:
            after = True
            continue
        if after:
            if f.name.endswith(": Kind") or f.name == "Padding":
                break
            if f.short != "Len" and not f.missing:
                values.append(f.text)
    return f"{name} {'/'.join(values)}" if values else name


def header_lines(lay: Layer, pkt: Packet | None = None) -> list[str]:
    """The facts a lecture reads off each header, from its table fields."""
    k, v = lay.key, lay.value
    try:
        if k == "ethernet":
            return [f"dst {lay.field('Destination MAC').text}, src {lay.field('Source MAC').text}",
                    f"type {lay.field('EtherType').text}"]
        if k == "vlan":
            return [f"VLAN ID {v('VLAN ID')}, priority {v('Priority Code Point')}, "
                    f"type {lay.field('EtherType').text}"]
        if k in ("sll", "sll2"):
            return [f"pseudo-header, not on the wire: packet type {lay.field('Packet Type').text}",
                    f"protocol {lay.field('Protocol').text}"]
        if k == "null":
            return [f"address family {lay.field('Address Family').text}"]
        if k in ("chdlc", "ppp"):
            return [f"protocol {lay.field('Protocol').text}"]
        if k == "ipv4":
            frag = []
            if v("Don't Fragment"):
                frag.append("DF")
            if v("More Fragments"):
                frag.append("MF")
            if v("Fragment Offset"):
                frag.append(f"fragment offset {v('Fragment Offset') * 8} B")
            return [f"{lay.field('Source Address').text} \u2192 {lay.field('Destination Address').text}",
                    f"protocol {lay.field('Protocol').text}, TTL {v('Time to Live')}, "
                    f"total length {v('Total Length')}",
                    f"ID {lay.field('Identification').text}, checksum {lay.field('Header Checksum').text}"
                    + (", " + ", ".join(frag) if frag else "")]
        if k == "ipv6":
            return [f"{lay.field('Source Address').text} \u2192 {lay.field('Destination Address').text}",
                    f"next header {lay.field('Next Header').text}, hop limit {v('Hop Limit')}, "
                    f"payload length {v('Payload Length')}"]
        if k == "ipv6-frag":
            return [f"fragment offset {v('Fragment Offset') * 8} B, more fragments {v('More Fragments')}, "
                    f"ID {lay.field('Identification').text}"]
        if k == "ipv6-ext":
            return [f"next header {lay.field('Next Header').text}"]
        if k == "gre":
            return [f"version {v('Version')}, protocol {lay.field('Protocol Type').text}"]
        if k == "tcp":
            return _tcp_lines(lay, pkt)
        if k == "udp":
            return [_port_pair(lay), f"length {v('Length')}, checksum {lay.field('Checksum').text}"]
        if k in ("icmp", "icmpv6"):
            rest = [f"{f.short.lower()} {f.text}" for f in lay.fields[3:] if not f.missing]
            return [f"type {lay.field('Type').text}, code {v('Code')}"] + ([", ".join(rest)] if rest else [])
        if k == "arp":
            op = v("Operation")
            tpa, spa = lay.field("Target Protocol Address").text, lay.field("Sender Protocol Address").text
            first = (f"who has {tpa}? tell {spa}" if op == 1 else
                     f"{spa} is at {lay.field('Sender Hardware Address').text}" if op == 2 else
                     f"operation {lay.field('Operation').text}")
            return [first, f"sender {lay.field('Sender Hardware Address').text} {spa}",
                    f"target {lay.field('Target Hardware Address').text} {tpa}"]
    except (KeyError, TypeError):
        pass
    return [f"{f.short} {f.text}" for f in lay.fields[:4]]


def nested(d: Dissection, pkt: Packet | None = None, frame: int | None = None) -> Nested:
    layers = d.layers
    kids: dict[int, list[int]] = {}
    for i, lay in enumerate(layers):
        kids.setdefault(lay.parent, []).append(i)

    def build(i: int) -> Box:
        lay = layers[i]
        if not lay.is_header:
            kind = {"data": "data", "padding": "padding", "fragment": "fragment"}.get(lay.key, "raw")
            lines = (f"\"{lay.note}\"",) if lay.key == "data" and lay.note else ((lay.note,) if lay.note else ())
            return Box(lay.title, lay.offset, lay.length, kind, i, lines=lines)
        children = [build(j) for j in kids.get(i, [])]
        end = max([lay.offset + lay.length] + [c.offset + c.size for c in children])
        note = []
        if lay.declared:
            note.append(f"header says {lay.declared} B, only {lay.length} B captured")
        if lay.key == "ethernet" and lay.parent == -1 and d.fcs_missing:
            children.append(Box("FCS", end, FCS_LEN, "fcs", -1, lines=(FCS_NOTE,), captured=False))
        pdu = HEADERS[lay.key].pdu
        suffix = lay.title[lay.title.index(" ("):] if " (" in lay.title else ""
        return Box(pdu + suffix,
                   lay.offset, end - lay.offset, "pdu", i,
                   header_title=lay.title if "header" in lay.title else f"{lay.title} header",
                   header_size=lay.length, lines=tuple(header_lines(lay, pkt) + note),
                   children=tuple(children))

    roots = tuple(build(i) for i in kids.get(-1, []))
    hb, pb = d.header_bytes(), d.payload_bytes()
    other = d.cap_len - hb - pb
    pct = (lambda n: f"{100 * n / d.cap_len:.1f}%") if d.cap_len else (lambda n: "-")
    overhead = f"headers {hb} B ({pct(hb)}), payload {pb} B ({pct(pb)})"
    if other:
        overhead += f", other {other} B ({pct(other)})"
    if d.fcs_missing:
        overhead += f"; on the wire also the {FCS_LEN} B FCS"
    head = f"Frame {frame}: " if frame is not None else "Frame: "
    head += f"{d.cap_len} bytes captured"
    if d.wire_len != d.cap_len:
        head += f" of {d.wire_len} on the wire"
    head += f", link type {d.link_name}"
    notes = tuple(n for n in (LINK_NOTES.get(d.link_name),) if n) + d.notes
    return Nested(head, roots, overhead, notes, hb, pb, d.cap_len)


# ---------------------------------------------------------------- stack


@dataclass(frozen=True, slots=True)
class Block:
    label: str
    size: int
    style: int
    captured: bool = True


@dataclass(frozen=True, slots=True)
class StackRow:
    layer: str  # application | transport | network | link
    action: str  # "data", "+ TCP header (32 B)"
    pdu: str
    total: int
    first: int  # index of this row's first block in Stack.blocks
    last: int  # index after its last block
    note: str = ""


@dataclass(frozen=True, slots=True)
class Stack:
    blocks: tuple[Block, ...]
    rows: tuple[StackRow, ...]  # top (application) to bottom (link)
    notes: tuple[str, ...]


def stack(d: Dissection) -> Stack:
    """Kurose & Ross' build-up: each row adds one header in front of the row above.

    Blocks are shared columns: row r spans blocks[first:last], so the data
    block sits in the same column in every row, as in the textbook figure.
    """
    chain = [i for i, lay in enumerate(d.layers) if lay.is_header]
    inner = [i for i, lay in enumerate(d.layers) if not lay.is_header and lay.key != "padding"]
    trailers = [i for i, lay in enumerate(d.layers) if lay.key == "padding"]
    blocks: list[Block] = [Block(f"{d.layers[i].title.split(' (')[0]} header", d.layers[i].length, i)
                           for i in chain]
    core_first = len(blocks)
    for i in inner:
        blocks.append(Block(d.layers[i].title, d.layers[i].length, i))
    core_last = len(blocks)
    for i in trailers:
        blocks.append(Block("padding", d.layers[i].length, i))
    has_fcs = d.fcs_missing and chain and d.layers[chain[0]].key == "ethernet"
    if has_fcs:
        blocks.append(Block("FCS", FCS_LEN, -1, captured=False))
    rows: list[StackRow] = []
    inner_size = sum(d.layers[i].length for i in inner)
    if inner:
        what = "data" if all(d.layers[i].key == "data" for i in inner) else d.layers[inner[0]].title
        rows.append(StackRow("application" if what == "data" else "payload", what,
                             "message" if what == "data" else "payload", inner_size, core_first, core_last))
    total = inner_size
    for n, i in enumerate(reversed(chain)):
        lay = d.layers[i]
        pos = len(chain) - 1 - n
        total += lay.length
        last = core_last
        note = ""
        if pos == 0:
            total += sum(d.layers[t].length for t in trailers)
            last = len(blocks)
            if has_fcs:
                note = f"+ {FCS_LEN} B FCS on the wire, not captured"
        name = lay.title.split(" (")[0]
        rows.append(StackRow(lay.layer, f"+ {name} header ({lay.length} B)", HEADERS[lay.key].pdu,
                             total, pos, last, note))
    notes = tuple(n for n in (LINK_NOTES.get(d.link_name),) if n) + d.notes
    return Stack(tuple(blocks), tuple(rows), notes)


# ---------------------------------------------------------------- fields


@dataclass(frozen=True, slots=True)
class Cell:
    name: str
    short: str
    text: str
    bit: int  # first bit within the row (0-31)
    bits: int  # width in this row
    rows: int = 1  # rows spanned (whole-row fields like IPv6 addresses)
    cont: bool = False  # continues a field begun in an earlier row
    more: bool = False  # the field goes on in the next row
    missing: bool = False


@dataclass(frozen=True, slots=True)
class Grid:
    title: str
    offset: int
    size: int
    style: int
    rows: tuple[tuple[Cell, ...], ...]  # a row spanned from above holds no cell for that field

    @property
    def row_bits(self) -> tuple[int, ...]:
        """Bits covered by each row, counting fields that span down into it."""
        covered = [0] * len(self.rows)
        for r, row in enumerate(self.rows):
            for c in row:
                for k in range(c.rows):
                    covered[r + k] += c.bits
        return tuple(covered)


def grid(lay: Layer, style: int) -> Grid:
    """A header as RFC-style 32-bit rows, each field at its exact width."""
    rows: list[list[Cell]] = []
    base = lay.offset * 8
    for f in lay.fields:
        start, remaining, first = f.bit_offset - base, f.bits, True
        while remaining:
            r, b = divmod(start, 32)
            if b == 0 and remaining >= 64 and first and f.bits % 32 == 0:
                n = remaining // 32
                _row(rows, r).append(Cell(f.name, f.short, f.text, 0, 32, n, missing=f.missing))
                for k in range(1, n):
                    _row(rows, r + k)
                start += 32 * n
                remaining = 0
                break
            take = min(remaining, 32 - b)
            remaining -= take
            _row(rows, r).append(Cell(f.name, f.short, f.text if first else "", b, take,
                                      cont=not first, more=remaining > 0, missing=f.missing))
            start += take
            first = False
    return Grid(f"{lay.title} header", lay.offset, lay.length, style, tuple(tuple(r) for r in rows))


def _row(rows: list, r: int) -> list:
    while len(rows) <= r:
        rows.append([])
    return rows[r]


def fields(d: Dissection) -> tuple[Grid, ...]:
    return tuple(grid(lay, i) for i, lay in enumerate(d.layers) if lay.is_header)


# ---------------------------------------------------------------- hex


@dataclass(frozen=True, slots=True)
class HexRow:
    offset: int
    cells: tuple[tuple[int, int], ...]  # (byte, layer index)


@dataclass(frozen=True, slots=True)
class LegendEntry:
    mark: str
    title: str
    offset: int
    size: int
    style: int


@dataclass(frozen=True, slots=True)
class HexDump:
    rows: tuple[HexRow, ...]
    legend: tuple[LegendEntry, ...]
    notes: tuple[str, ...]


_MARKS = {"ethernet": "E", "vlan": "V", "sll": "L", "sll2": "L", "null": "L", "chdlc": "H", "ppp": "P",
          "arp": "A", "ipv4": "I", "ipv6": "I", "ipv6-frag": "F", "ipv6-ext": "X", "gre": "G",
          "tcp": "T", "udp": "U", "icmp": "C", "icmpv6": "C", "data": "d", "padding": "p",
          "fragment": "f", "raw": "r"}


def marks(d: Dissection) -> tuple[str, ...]:
    """One letter per layer (E Ethernet, I IP, T TCP, d data ...), unique within the frame."""
    used: list[str] = []
    for lay in d.layers:
        m = _MARKS.get(lay.key, "?")
        if m in used:
            m = next(c for c in "123456789abcdefghijklmnopqrstuvwxyzBDJKMNOQRSWYZ" if c not in used)
        used.append(m)
    return tuple(used)


def hexdump(d: Dissection, width: int = 16) -> HexDump:
    owner = [0] * d.cap_len
    for i, lay in enumerate(d.layers):
        for k in range(lay.offset, lay.offset + lay.length):
            owner[k] = i
    rows = tuple(HexRow(o, tuple((d.data[k], owner[k]) for k in range(o, min(o + width, d.cap_len))))
                 for o in range(0, d.cap_len, width))
    mk = marks(d)
    legend = tuple(LegendEntry(mk[i], lay.title, lay.offset, lay.length, i) for i, lay in enumerate(d.layers))
    return HexDump(rows, legend, d.notes)


# ---------------------------------------------------------------- compare


@dataclass(frozen=True, slots=True)
class Difference:
    layer: str
    field: str
    a: str
    b: str

    @property
    def differs(self) -> bool:
        return self.a != self.b


def compare(a: Dissection, b: Dissection) -> tuple[Difference, ...]:
    """Field by field, matching layers by protocol and occurrence (the 2nd IPv4 with the 2nd)."""

    def keyed(d: Dissection):
        seen: dict[str, int] = {}
        out = {}
        for lay in d.headers:
            n = seen[lay.key] = seen.get(lay.key, 0) + 1
            for f in lay.fields:
                out[(lay.key, n, f.name)] = (lay.title, f.text)
        data = b"".join(d.data[lay.offset:lay.offset + lay.length] for lay in d.layers if lay.key == "data")
        out[("data", 1, "Data")] = ("Data", f"{len(data)} B " + (data[:24].hex() if data else ""))
        return out

    ka, kb = keyed(a), keyed(b)
    order = list(ka) + [k for k in kb if k not in ka]
    return tuple(Difference((ka.get(k) or kb.get(k))[0], k[2], ka.get(k, ("", "(absent)"))[1],
                            kb.get(k, ("", "(absent)"))[1]) for k in order)
