"""Fast decoding of one raw frame into the fields the analysis needs.

Pure `struct` work over the captured bytes (no scapy): this runs once per
frame of captures with millions of frames, and only the handful of frames a
figure shows in detail deserve a full dissection.  The rules for which layer
counts (the first of tcp/udp/icmp/icmpv6/arp from the outside in, tunnels
looked through, a transport inside a transport not) and for when sequence
analysis is off are those of ../shared/spec/analysis-json.md, i.e. what tshark
4.0 shows; anything malformed becomes a note, never an exception.
"""
from __future__ import annotations

import struct

from viz.model import TcpOptions

# The proto column of the engine's per-frame columns (viz.vector): what the TCP and UDP rules take.
P_OTHER, P_TCP, P_UDP = 0, 1, 2


class Decoded:
    """One frame's transport-level facts, straight from the header bytes.

    A plain slots class (not a frozen dataclass) because a million of them are
    made per second on the fast path; the analysis copies what it keeps into
    the immutable `viz.model.Packet`.
    """

    __slots__ = (
        "proto",  # tcp | udp | icmp | icmpv6 | arp | other  (analysis-json rules)
        "src", "dst",  # addresses of the IP header carrying the transport (strings) or None
        "sport", "dport",  # ints or None
        "flags",  # TCP flag bits as int (0 for non-TCP)
        "seq_raw", "ack_raw", "win_raw",  # TCP header values or None
        "tcp_len",  # TCP payload length from the IP length, or None (first fragment / cut header)
        "udp_len",  # UDP length field - 8, or None
        "seq_analysis",  # False where tshark does no sequence analysis (first fragment, cut header)
        "options",  # TcpOptions or None
        "payload",  # first <= 64 bytes of transport payload (bytes)
        "_layers", "_shape",  # see the `layers` property
        "notes",  # tuple of str: why something could not be decoded
        "icmp",  # (type, code, identifier, sequence) of an ICMP/ICMPv6 header (the last two
                 # are the header's bytes 4-7, None when cut short), else None
    )

    def __init__(self, proto: str = "other"):
        self.proto = proto
        self.src = self.dst = None
        self.sport = self.dport = None
        self.flags = 0
        self.seq_raw = self.ack_raw = self.win_raw = None
        self.tcp_len = self.udp_len = None
        self.seq_analysis = True
        self.options: TcpOptions | None = None
        self.payload = b""
        self._layers: tuple | None = ()
        self.notes: tuple = ()
        self.icmp = None

    @property
    def layers(self) -> tuple:
        """(name, offset, length) of each header, outermost first, e.g. ("Ethernet", 0, 14).

        The fast path records only the frame's shape; the tuple is built (and
        cached) when a layers view asks, so a million-frame analysis does not
        pay for it.
        """
        layers = self._layers
        if layers is None:
            layers = self._layers = _shape_layers(self._shape)
        return layers

    @layers.setter
    def layers(self, value: tuple) -> None:
        self._layers = value

    FIELDS = ("proto", "src", "dst", "sport", "dport", "flags", "seq_raw", "ack_raw", "win_raw",
              "tcp_len", "udp_len", "seq_analysis", "options", "payload", "layers", "notes", "icmp")

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.FIELDS)
        return f"Decoded({fields})"


PAYLOAD_PREVIEW = 64

# EtherTypes (and the codes the loop below uses for them).
ET_IPV4 = 0x0800
ET_ARP = 0x0806
ET_IPV6 = 0x86DD
ET_VLAN = 0x8100
ET_QINQ = 0x88A8
ET_QINQ_OLD = 0x9100
ET_MPLS = 0x8847
ET_MPLS_MC = 0x8848
ET_PPPOE_DISC = 0x8863
ET_PPPOE_SESS = 0x8864
ET_TEB = 0x6558  # transparent Ethernet bridging (Ethernet over GRE)
ET_PPP = 0x880B  # PPP (in PPTP's enhanced GRE)
# Pseudo types for the loop: not EtherTypes.
_GRE = -1
_PPP_BODY = -2  # PPP protocol field at off (no address/control)
_ETHERNET = -3

IP_HOPOPT, IP_ICMP, IP_IPIP, IP_TCP, IP_UDP, IP_IPV6 = 0, 1, 4, 6, 17, 41
IP_ROUTING, IP_FRAGMENT, IP_GRE, IP_ESP, IP_AH, IP_ICMPV6, IP_NONXT, IP_DSTOPTS = 43, 44, 47, 50, 51, 58, 59, 60
IPV6_EXT_NAMES = {IP_HOPOPT: "IPv6 Hop-by-Hop", IP_ROUTING: "IPv6 Routing", IP_DSTOPTS: "IPv6 Destination",
                  IP_FRAGMENT: "IPv6 Fragment", IP_AH: "AH", 135: "IPv6 Mobility"}

PPP_TO_ET = {0x0021: ET_IPV4, 0x0057: ET_IPV6, 0x0281: ET_MPLS, 0x0283: ET_MPLS_MC}
HDLC_TO_ET = {0x0800: ET_IPV4, 0x86DD: ET_IPV6, 0x8847: ET_MPLS, 0x8848: ET_MPLS_MC}

_H = struct.Struct("!H").unpack_from
_I = struct.Struct("!I").unpack_from
_HH = struct.Struct("!HH").unpack_from
_IPV4 = struct.Struct("!BBHHHBBH4s4s").unpack_from
_IPV6 = struct.Struct("!IHBB16s16s").unpack_from
_TCP = struct.Struct("!HHIIBBH").unpack_from
_UDP = struct.Struct("!HHH").unpack_from
_TS = struct.Struct("!II").unpack_from
_ARP = struct.Struct("!HHBBH").unpack_from

_ADDR4: dict[bytes, str] = {}
_ADDR6: dict[bytes, str] = {}
_CACHE_MAX = 1 << 16


def _a4(raw: bytes) -> str:
    s = _ADDR4.get(raw)
    if s is None:
        if len(_ADDR4) > _CACHE_MAX:
            _ADDR4.clear()
        s = _ADDR4[raw] = "%d.%d.%d.%d" % (raw[0], raw[1], raw[2], raw[3])
    return s


def _a6(raw: bytes) -> str:
    s = _ADDR6.get(raw)
    if s is None:
        if len(_ADDR6) > _CACHE_MAX:
            _ADDR6.clear()
        s = _ADDR6[raw] = ipv6_text(raw)
    return s


def ipv6_text(raw: bytes) -> str:
    """An IPv6 address as inet_ntop writes it (RFC 5952: the longest run of two or
    more zero groups, the first of equal runs, becomes "::"; ::a.b.c.d and
    ::ffff:a.b.c.d keep the dotted IPv4 tail), without the socket module."""
    words = [raw[i] << 8 | raw[i + 1] for i in range(0, 16, 2)]
    best, best_len, cur, cur_len = -1, 0, -1, 0
    for i, w in enumerate(words):
        if w == 0:
            if cur < 0:
                cur, cur_len = i, 1
            else:
                cur_len += 1
            if cur_len > best_len:
                best, best_len = cur, cur_len
        else:
            cur, cur_len = -1, 0
    if best_len < 2:
        best = -1
    out = []
    i = 0
    while i < 8:
        if i == best:
            out.append(":" if i == 0 else "")
            i += best_len
            if i == 8:
                out.append("")
            continue
        if i == 6 and best == 0 and (best_len == 6 or (best_len == 5 and words[5] == 0xFFFF)):
            out.append("%d.%d.%d.%d" % (raw[12], raw[13], raw[14], raw[15]))
            break
        out.append("%x" % words[i])
        i += 1
    return ":".join(out)


def _blank(proto: str) -> Decoded:
    d = Decoded.__new__(Decoded)
    d.proto = proto
    d.src = d.dst = d.sport = d.dport = None
    d.flags = 0
    d.seq_raw = d.ack_raw = d.win_raw = None
    d.tcp_len = d.udp_len = None
    d.seq_analysis = True
    d.options = None
    d.payload = b""
    d._layers = ()
    d.notes = ()
    d.icmp = None
    return d


_new = object.__new__
_LAYERS: dict[int, tuple] = {}
_OPTS: dict[bytes, TcpOptions] = {}


_set_tcpopt = tuple(getattr(TcpOptions, k).__set__ for k in ("mss", "wscale", "sack_perm", "ts_val", "ts_ecr",
                                                             "sack"))
_NOP_NOP_TS = b"\x01\x01\x08\x0a"


def _options_of(raw: bytes) -> TcpOptions | None:
    """TcpOptions for an option field without anomalies (cached: bulk segments repeat them)."""
    if len(raw) == 12 and raw[:4] == _NOP_NOP_TS:
        # Linux puts exactly this on every segment after the handshake; the values
        # change every millisecond, so build it directly (3x cheaper than parse +
        # the frozen dataclass's __init__) instead of caching it.
        o = _new(TcpOptions)
        mss, ws, sp, tv, te, sk = _set_tcpopt
        sk(o, ())
        mss(o, None)
        ws(o, None)
        sp(o, False)
        v, e = _TS(raw, 4)
        tv(o, v)
        te(o, e)
        return o
    o = _OPTS.get(raw)
    if o is None:
        notes: list = []
        o = _tcp_options(raw, 0, len(raw), notes)
        if notes:
            return False  # let the general path report it
        if len(_OPTS) > 4096:
            _OPTS.clear()
        _OPTS[raw] = o
    return o


_ETH_IP4_TCP = struct.Struct("!12xHBxH2xH4xQHHIIBBH").unpack_from
_PAIRS: dict[int, tuple[str, str]] = {}  # (src << 32 | dst) -> the two strings: one lookup per frame


def _pair(sd: int) -> tuple[str, str]:
    if len(_PAIRS) > _CACHE_MAX:
        _PAIRS.clear()
    p = _PAIRS[sd] = (_a4((sd >> 32).to_bytes(4, "big")), _a4((sd & 0xFFFFFFFF).to_bytes(4, "big")))
    return p


_IP4_TCP = struct.Struct("!BxH2xH4xQHHIIBBH").unpack_from
_IP4_UDP = struct.Struct("!BxH2xH4xQHHH").unpack_from

# Link-layer prefixes of fast-path frames, by the index kept in Decoded._shape.
LINK_ETH, LINK_SLL, LINK_SLL2, LINK_RAW, LINK_NULL, LINK_VLAN = range(6)
_LINK_LAYERS = (
    (("Ethernet", 0, 14),),
    (("Linux cooked", 0, 16),),
    (("Linux cooked v2", 0, 20),),
    (),
    (("Loopback", 0, 4),),
    (("Ethernet", 0, 14), ("802.1Q", 14, 4)),
)


def _ip4_offset(linktype: int, data: bytes):
    """(offset of a plain IPv4 header, link prefix index) for the common link
    layers, or (None, 0): the general walk handles everything else."""
    if linktype == 1:
        t = data[12:14]
        if t == b"\x08\x00":
            return 14, LINK_ETH
        if t == b"\x81\x00" and data[16:18] == b"\x08\x00":
            return 18, LINK_VLAN
    elif linktype == 113:
        if data[14:16] == b"\x08\x00" and data[2:4] != b"\x03\x0a":  # not ARPHRD_IPGRE
            return 16, LINK_SLL
    elif linktype == 276:
        if data[0:2] == b"\x08\x00" and data[8:10] != b"\x03\x0a":
            return 20, LINK_SLL2
    elif linktype == 101 or linktype == 228 or linktype == 12 or linktype == 14:
        return 0, LINK_RAW
    elif linktype == 0:
        if data[0:4] == b"\x02\x00\x00\x00" or data[0:4] == b"\x00\x00\x00\x02":
            return 4, LINK_NULL
    elif linktype == 108:
        if data[0:4] == b"\x00\x00\x00\x02":
            return 4, LINK_NULL
    return None, 0


def _fast_ip4(data: bytes, L: int, link: int, wire_len: int) -> Decoded | None:
    """IPv4 without options or fragments carrying TCP or UDP, at offset L.

    The same rules as the inline Ethernet path in decode(); None sends the
    frame to the general walk.
    """
    n = len(data)
    if n < L + 28 or data[L] != 0x45:
        return None
    proto = data[L + 9]
    if proto == 6:
        if n < L + 40:
            return None
        vihl, tot, frag, sd, sport, dport, seq, ack, doff, flags, win = _IP4_TCP(data, L)
        hl = (doff >> 4) << 2
        if frag & 0x3FFF or hl < 20 or hl > tot - 20:
            return None
        cap_end = L + tot
        if cap_end > n:
            if cap_end > wire_len:
                return None
            cap_end = n
        p = L + 20 + hl
        if hl == 20:
            opts = None
        elif p > cap_end:
            return None
        else:
            opts = _OPTS.get(data[L + 40:p])
            if opts is None:
                opts = _options_of(data[L + 40:p])
                if opts is False:
                    return None
        d = _new(Decoded)
        d.proto = "tcp"
        d.flags = flags
        d.seq_raw = seq
        d.ack_raw = ack
        d.win_raw = win
        d.tcp_len = tot - 20 - hl
        d.udp_len = None
        d.options = opts
    elif proto == 17:
        vihl, tot, frag, sd, sport, dport, ulen = _IP4_UDP(data, L)
        if frag & 0x3FFF or ulen < 8 or ulen > tot - 20:
            return None
        cap_end = L + tot
        if cap_end > n:
            if cap_end > wire_len:
                return None
            cap_end = n
        if L + 20 + ulen < cap_end:
            cap_end = L + 20 + ulen
        hl = 8
        p = L + 28
        d = _new(Decoded)
        d.proto = "udp"
        d.flags = 0
        d.seq_raw = d.ack_raw = d.win_raw = d.tcp_len = None
        d.udp_len = ulen - 8
        d.options = None
    else:
        return None
    dlen = cap_end - p
    d.sport = sport
    d.dport = dport
    d._layers = None
    d._shape = (link << 48) | ((proto == 17) << 40) | (hl << 20) | dlen
    d.payload = data[p:p + (dlen if dlen < PAYLOAD_PREVIEW else PAYLOAD_PREVIEW)] if dlen > 0 else b""
    a = _PAIRS.get(sd)
    if a is None:
        a = _pair(sd)
    d.src, d.dst = a
    d.seq_analysis = True
    d.notes = ()
    d.icmp = None
    return d


def _shape_layers(shape: int) -> tuple:
    """The layers of a fast-path frame from its shape (link, transport, header and data lengths)."""
    layers = _LAYERS.get(shape)
    if layers is None:
        link = shape >> 48
        hl = (shape >> 20) & 0xFFFFF
        dlen = shape & 0xFFFFF
        prefix = _LINK_LAYERS[link]
        ip = prefix[-1][1] + prefix[-1][2] if prefix else 0
        layers = prefix + (("IPv4", ip, 20), ("UDP" if (shape >> 40) & 1 else "TCP", ip + 20, hl))
        if dlen > 0:
            layers += (("Data", ip + 20 + hl, dlen),)
        if len(_LAYERS) > 4096:
            _LAYERS.clear()
        _LAYERS[shape] = layers
    return layers


def decode(linktype: int, data: bytes, wire_len: int) -> Decoded:
    """Decode one frame; never raises for any bytes (malformed parts become notes)."""
    # Inline fast path: Ethernet / IPv4 without options or fragments / TCP.  Each
    # bytecode counts here; anything odd falls through to the general walk,
    # which gives the same answer for these frames (tested frame by frame).
    n = len(data)
    if linktype != 1 or n < 54 or data[23] != 6:
        return _slow(linktype, data, wire_len)
    et, vihl, tot, frag, sd, sport, dport, seq, ack, doff, flags, win = _ETH_IP4_TCP(data, 0)
    hl = (doff >> 4) << 2
    if et != 0x0800 or vihl != 0x45 or frag & 0x3FFF or hl < 20 or hl > tot - 20:
        return _slow(linktype, data, wire_len)
    cap_end = 14 + tot
    if cap_end > n:
        if cap_end > wire_len:
            return _slow(linktype, data, wire_len)
        cap_end = n
    p = 34 + hl
    if hl == 20:
        opts = None
    elif p > cap_end:
        return _slow(linktype, data, wire_len)
    else:
        opts = _OPTS.get(data[54:p])
        if opts is None:
            opts = _options_of(data[54:p])
            if opts is False:
                return _slow(linktype, data, wire_len)
    dlen = cap_end - p
    d = _new(Decoded)
    d.proto = "tcp"
    d.sport = sport
    d.dport = dport
    d.flags = flags
    d.seq_raw = seq
    d.ack_raw = ack
    d.win_raw = win
    d.tcp_len = tot - 20 - hl
    d.udp_len = None
    d.options = opts
    d._layers = None
    d._shape = (hl << 20) | dlen
    d.payload = data[p:p + (dlen if dlen < PAYLOAD_PREVIEW else PAYLOAD_PREVIEW)] if dlen > 0 else b""
    a = _PAIRS.get(sd)
    if a is None:
        a = _pair(sd)
    d.src, d.dst = a
    d.seq_analysis = True
    d.notes = ()
    d.icmp = None
    return d


def _slow(linktype: int, data: bytes, wire_len: int) -> Decoded:
    if len(data) >= 28:
        L, link = _ip4_offset(linktype, data)
        if L is not None:
            d = _fast_ip4(data, L, link, wire_len)
            if d is not None:
                return d
    try:
        return _decode(linktype, data, wire_len)
    except (struct.error, IndexError, ValueError, KeyError) as exc:  # pragma: no cover - safety net
        d = _blank("other")
        d.layers = ()
        d.notes = (f"undecodable frame ({type(exc).__name__}: {exc})",)
        return d


def _link(linktype: int, data: bytes, layers: list, notes: list):
    """(next type, offset) after the link-layer header, or (None, 0) if unknown."""
    n = len(data)
    if linktype == 1:
        return _ETHERNET, 0
    if linktype in (101, 12, 14, 228, 229):
        if n < 1:
            notes.append("empty frame")
            return None, 0
        v = data[0] >> 4
        if v == 4:
            return ET_IPV4, 0
        if v == 6:
            return ET_IPV6, 0
        notes.append(f"raw IP frame with IP version {v}")
        return None, 0
    if linktype == 113:  # Linux cooked v1: 16-byte header, protocol last
        if n < 16:
            notes.append(f"Linux cooked header cut short ({n} of 16 bytes)")
            return None, 0
        layers.append(("Linux cooked", 0, 16))
        proto = _H(data, 14)[0]
        return _sll_proto(proto, _H(data, 2)[0], notes), 16
    if linktype == 276:  # Linux cooked v2: 20-byte header, protocol first
        if n < 20:
            notes.append(f"Linux cooked v2 header cut short ({n} of 20 bytes)")
            return None, 0
        layers.append(("Linux cooked v2", 0, 20))
        return _sll_proto(_H(data, 0)[0], _H(data, 8)[0], notes), 20
    if linktype in (0, 108):  # BSD loopback: address family, host order (NULL) or network order (LOOP)
        if n < 4:
            notes.append(f"loopback header cut short ({n} of 4 bytes)")
            return None, 0
        layers.append(("Loopback", 0, 4))
        # Wireshark's rule: the family is in the capturing host's byte order,
        # so swap when the high half is set; a value above 1500 is an EtherType.
        fam = int.from_bytes(data[:4], "big" if linktype == 108 else "little")
        if fam & 0xFFFF0000:
            fam = int.from_bytes(fam.to_bytes(4, "little"), "big")
        if fam > 1500:
            return fam & 0xFFFF, 4
        if fam == 2:
            return ET_IPV4, 4
        if fam in (10, 24, 28, 30):
            return ET_IPV6, 4
        notes.append(f"loopback address family {fam}")
        return None, 4
    if linktype == 104:  # Cisco HDLC: address, control, protocol (EtherType values)
        if n < 4:
            notes.append(f"Cisco HDLC header cut short ({n} of 4 bytes)")
            return None, 0
        layers.append(("Cisco HDLC", 0, 4))
        proto = _H(data, 2)[0]
        et = HDLC_TO_ET.get(proto)
        if et is None:
            notes.append(f"Cisco HDLC protocol 0x{proto:04x}" + (" (SLARP)" if proto == 0x8035 else ""))
        return et, 4
    if linktype in (9, 50):  # PPP, PPP in HDLC-like framing
        if n >= 2 and data[0] == 0xFF and data[1] == 0x03:
            layers.append(("PPP", 0, 2))
            return _PPP_BODY, 2
        return _PPP_BODY, 0
    notes.append(f"link type {linktype} is not decoded")
    return None, 0


def _sll_proto(proto: int, arphrd: int, notes: list):
    if arphrd == 778:  # ARPHRD_IPGRE: a GRE header follows the cooked header
        return _GRE
    if proto > 1500:
        return proto
    notes.append(f"Linux cooked protocol 0x{proto:04x} is not an EtherType")
    return None


def _decode(linktype: int, data: bytes, wire_len: int) -> Decoded:
    layers: list = []
    notes: list = []
    n = len(data)
    et, off = _link(linktype, data, layers, notes)
    src = dst = None
    ipv = None
    fragmented = False  # inside a first IP fragment: tshark does no sequence analysis
    ip_end = n  # captured end of the IP packet that carries what follows
    rep_end = wire_len if wire_len >= n else n  # reported (on-the-wire) end of the same
    for _ in range(32):
        if et == _ETHERNET:
            if n - off < 14:
                notes.append(f"Ethernet header cut short ({n - off} of 14 bytes)")
                et = None
                break
            layers.append(("Ethernet", off, 14))
            et = _H(data, off + 12)[0]
            off += 14
            if et <= 1500:
                if n - off >= 8 and data[off] == 0xAA and data[off + 1] == 0xAA and data[off + 2] == 0x03:
                    layers.append(("LLC/SNAP", off, 8))
                    et = _H(data, off + 6)[0]
                    off += 8
                    continue
                layers.append(("LLC", off, min(3, n - off)))
                notes.append("IEEE 802.3 frame with LLC, not IP")
                et = None
                break
            continue
        if et == ET_IPV4:
            if n - off < 20:
                notes.append(f"IPv4 header cut short ({n - off} of 20 bytes)")
                et = None
                break
            vihl, _tos, tot, _ident, frag, _ttl, proto, _ck, s, d = _IPV4(data, off)
            if vihl >> 4 != 4:
                notes.append(f"IPv4 packet with version {vihl >> 4}")
                et = None
                break
            ihl = (vihl & 15) * 4
            if ihl < 20:
                layers.append(("IPv4", off, 20))
                notes.append(f"IPv4 header length {ihl} below 20 (IHL {ihl // 4})")
                et = None
                break
            if tot == 0:
                tot = rep_end - off
                notes.append("IPv4 total length 0 (segmentation offload); using the frame length")
            if tot < ihl:
                layers.append(("IPv4", off, min(ihl, n - off)))  # options may be cut short too
                notes.append(f"IPv4 total length {tot} below header length {ihl}")
                et = None
                break
            src = _a4(s)
            dst = _a4(d)
            ipv = 4
            if n - off < ihl:
                layers.append(("IPv4", off, n - off))
                notes.append(f"IPv4 options cut short ({n - off} of {ihl} bytes)")
                et = None
                break
            layers.append(("IPv4", off, ihl))
            if off + tot < rep_end:
                rep_end = off + tot
            elif off + tot > rep_end:
                notes.append(f"IPv4 total length {tot} exceeds the frame")
            if rep_end < ip_end:
                ip_end = rep_end
            off += ihl
            if frag & 0x1FFF:
                notes.append(f"IPv4 fragment at offset {(frag & 0x1FFF) * 8}")
                et = None
                break
            if frag & 0x2000:
                fragmented = True
            et = proto
            break_out = _ip_next(proto)
            if break_out is not None:
                et = break_out
                continue
            # A transport (or an unknown protocol): handled after the loop.
            et = ("ip", proto)
            break
        if et == ET_IPV6:
            if n - off < 40:
                notes.append(f"IPv6 header cut short ({n - off} of 40 bytes)")
                et = None
                break
            vfl, plen, nxt, _hlim, s, d = _IPV6(data, off)
            if vfl >> 28 != 6:
                notes.append(f"IPv6 packet with version {vfl >> 28}")
                et = None
                break
            src = _a6(s)
            dst = _a6(d)
            ipv = 6
            layers.append(("IPv6", off, 40))
            if plen == 0 and nxt == IP_HOPOPT:
                notes.append("IPv6 payload length 0 (jumbogram); using the frame length")
                plen = rep_end - off - 40
            if off + 40 + plen < rep_end:
                rep_end = off + 40 + plen
            elif off + 40 + plen > rep_end:
                notes.append(f"IPv6 payload length {plen} exceeds the frame")
            if rep_end < ip_end:
                ip_end = rep_end
            off += 40
            later_fragment = False
            while nxt in IPV6_EXT_NAMES:
                if n - off < 8:
                    notes.append(f"{IPV6_EXT_NAMES[nxt]} header cut short")
                    nxt = None
                    break
                if nxt == IP_FRAGMENT:
                    hl = 8
                    fo = _H(data, off + 2)[0]
                    if fo & 0xFFF8:
                        later_fragment = True
                        notes.append(f"IPv6 fragment at offset {fo & 0xFFF8}")
                    elif fo & 1:
                        fragmented = True
                elif nxt == IP_AH:
                    hl = (data[off + 1] + 2) * 4
                else:
                    hl = (data[off + 1] + 1) * 8
                layers.append((IPV6_EXT_NAMES[nxt], off, min(hl, n - off)))
                nxt = data[off]
                off += hl
                if later_fragment:
                    break
                if off > n:
                    notes.append("IPv6 extension header runs past the frame")
                    nxt = None
                    break
            if nxt is None or later_fragment:
                et = None
                break
            nxt_et = _ip_next(nxt)
            if nxt_et is not None:
                et = nxt_et
                continue
            et = ("ip", nxt)
            break
        if et == ET_VLAN or et == ET_QINQ or et == ET_QINQ_OLD:
            if n - off < 4:
                notes.append("VLAN tag cut short")
                et = None
                break
            layers.append(("802.1Q" if et == ET_VLAN else "802.1ad", off, 4))
            et = _H(data, off + 2)[0]
            off += 4
            if et <= 1500:
                notes.append("VLAN-tagged 802.3 frame with LLC, not IP")
                et = None
                break
            continue
        if et == ET_MPLS or et == ET_MPLS_MC:
            start = off
            bottom = False
            while n - off >= 4:
                bottom = bool(data[off + 2] & 1)
                off += 4
                if bottom:
                    break
            layers.append(("MPLS", start, off - start))
            if not bottom or off >= n:
                notes.append("MPLS label stack cut short")
                et = None
                break
            v = data[off] >> 4
            if v == 4:
                et = ET_IPV4
            elif v == 6:
                et = ET_IPV6
            else:
                notes.append("MPLS payload is not IP")
                et = None
                break
            continue
        if et == ET_PPPOE_SESS:
            if n - off < 6:
                notes.append("PPPoE header cut short")
                et = None
                break
            layers.append(("PPPoE", off, 6))
            off += 6
            et = _PPP_BODY
            continue
        if et == _PPP_BODY or et == ET_PPP:
            start = off
            if et == ET_PPP and n - off >= 2 and data[off] == 0xFF and data[off + 1] == 0x03:
                off += 2
            if n - off < 1:
                notes.append("PPP header cut short")
                et = None
                break
            if data[off] & 1:
                proto = data[off]
                off += 1
            elif n - off >= 2:
                proto = _H(data, off)[0]
                off += 2
            else:
                notes.append("PPP header cut short")
                et = None
                break
            layers.append(("PPP", start, off - start))
            et = PPP_TO_ET.get(proto)
            if et is None:
                break  # LCP, PAP, CHAP, IPCP...: control traffic, "other"
            continue
        if et == _GRE:
            if n - off < 4:
                notes.append("GRE header cut short")
                et = None
                break
            fv, ptype = _HH(data, off)
            ver = fv & 7
            hl = 4 + 4 * bool(fv & 0xC000) + 4 * bool(fv & 0x2000) + 4 * bool(fv & 0x1000)
            if ver == 1:
                hl += 4 * bool(fv & 0x0080)
            elif ver != 0:
                layers.append(("GRE", off, 4))
                notes.append(f"GRE version {ver}")
                et = None
                break
            if fv & 0x4000 and ver == 0:  # RFC 1701 source routing entries follow
                p = off + hl
                while n - p >= 4:
                    af, _o, ln = data[p], data[p + 2], data[p + 3]
                    p += 4 + ln
                    if ln == 0:
                        break
                hl = p - off
            if n - off < hl:
                layers.append(("GRE", off, n - off))
                notes.append("GRE header cut short")
                et = None
                break
            layers.append(("GRE", off, hl))
            if ver == 1 and fv & 0x2000 and _H(data, off + 4)[0] == 0:
                off += hl
                et = None  # PPTP acknowledgement without payload
                break
            off += hl
            et = _ETHERNET if ptype == ET_TEB else ptype
            continue
        break
    else:
        notes.append("too many nested headers")
        et = None

    if ipv is not None and ip_end > rep_end:
        ip_end = rep_end
    if isinstance(et, tuple):
        return _transport(et[1], data, off, ip_end, rep_end, src, dst, ipv, fragmented, layers, notes)
    if et == ET_ARP:
        return _arp(data, off, layers, notes)
    d = _blank("other")
    d.src = src
    d.dst = dst
    if isinstance(et, int) and et > 1500 and et != ET_PPPOE_DISC:
        notes.append(f"EtherType 0x{et:04x} is not decoded")
    _finish_layers(layers, off, n, ip_end if ipv is not None else n)
    d.layers = tuple(layers)
    d.notes = tuple(notes)
    return d


def _ip_next(proto: int):
    """Next loop type for tunnel protocols carried in IP, None for the rest."""
    if proto == IP_IPIP:
        return ET_IPV4
    if proto == IP_IPV6:
        return ET_IPV6
    if proto == IP_GRE:
        return _GRE
    return None


def _finish_layers(layers: list, off: int, n: int, ip_end: int) -> None:
    if off < ip_end and off < n:
        layers.append(("Data", off, min(ip_end, n) - off))


def _arp(data: bytes, off: int, layers: list, notes: list) -> Decoded:
    d = _blank("arp")
    n = len(data)
    if n - off < 8:
        layers.append(("ARP", off, n - off))
        notes.append("ARP header cut short")
    else:
        _htype, ptype, hlen, plen, _op = _ARP(data, off)
        total = 8 + 2 * (hlen + plen)
        layers.append(("ARP", off, min(total, n - off)))
        if n - off >= total:
            d.payload = data[off:off + total]  # the whole ARP message: op and hardware addresses
        if ptype == ET_IPV4 and plen == 4 and n - off >= total:
            d.src = _a4(data[off + 8 + hlen:off + 12 + hlen])
            d.dst = _a4(data[off + 12 + 2 * hlen:off + 16 + 2 * hlen])
        elif n - off < total:
            notes.append("ARP addresses cut short")
    d.layers = tuple(layers)
    d.notes = tuple(notes)
    return d


def _transport(proto, data, off, ip_end, rep_end, src, dst, ipv, fragmented, layers, notes) -> Decoded:
    """The transport carried by the IP header that ended at `off`."""
    n = len(data)
    cap_end = ip_end if ip_end < n else n
    seg = rep_end - off  # transport length from the IP length
    if proto == IP_TCP:
        d = _blank("tcp")
        d.src = src
        d.dst = dst
        have = cap_end - off
        if have < 20:
            if have >= 4:
                d.sport, d.dport = _HH(data, off)
            if have >= 12:
                d.seq_raw, d.ack_raw = _TS(data, off + 4)
            if have >= 14:
                d.flags = data[off + 13]
            d.seq_analysis = False
            layers.append(("TCP", off, max(have, 0)))
            notes.append(f"TCP header cut short ({max(have, 0)} of 20 bytes)")
            d.layers = tuple(layers)
            d.notes = tuple(notes)
            return d
        sport, dport, seq, ack, doff, flags, win = _TCP(data, off)
        d.sport = sport
        d.dport = dport
        d.seq_raw = seq
        d.ack_raw = ack
        d.win_raw = win
        d.flags = flags
        hl = (doff >> 4) * 4
        if hl < 20:
            d.seq_analysis = False
            layers.append(("TCP", off, 20))
            notes.append(f"TCP data offset {hl // 4} below 5 (header length {hl})")
            d.layers = tuple(layers)
            d.notes = tuple(notes)
            return d
        if hl > seg:
            d.seq_analysis = False
            layers.append(("TCP", off, min(hl, have)))
            notes.append(f"TCP header length {hl} exceeds the segment ({seg} bytes)")
            d.layers = tuple(layers)
            d.notes = tuple(notes)
            return d
        if fragmented:
            d.seq_analysis = False
            notes.append("first IP fragment: no sequence analysis")
        else:
            d.tcp_len = seg - hl
        if hl > 20:
            if have < hl:
                notes.append(f"TCP options cut short ({have - 20} of {hl - 20} bytes captured)")
            d.options = _tcp_options(data, off + 20, off + min(hl, have), notes)
        layers.append(("TCP", off, min(hl, have)))
        p = off + hl
        if p < cap_end:
            d.payload = data[p:p + PAYLOAD_PREVIEW] if cap_end - p > PAYLOAD_PREVIEW else data[p:cap_end]
            layers.append(("Data", p, cap_end - p))
        d.layers = tuple(layers)
        d.notes = tuple(notes)
        return d
    if proto == IP_UDP:
        d = _blank("udp")
        d.src = src
        d.dst = dst
        have = cap_end - off
        if have < 8:
            if have >= 4:
                d.sport, d.dport = _HH(data, off)
            layers.append(("UDP", off, max(have, 0)))
            notes.append(f"UDP header cut short ({max(have, 0)} of 8 bytes)")
            d.layers = tuple(layers)
            d.notes = tuple(notes)
            return d
        sport, dport, ulen = _UDP(data, off)
        d.sport = sport
        d.dport = dport
        layers.append(("UDP", off, 8))
        if ulen == 0:
            notes.append("UDP length 0" + (" (IPv6 jumbogram)" if ipv == 6 else ""))
            end = cap_end
        elif ulen < 8:
            notes.append(f"UDP length {ulen} below 8")
            end = cap_end
        else:
            d.udp_len = ulen - 8
            if ulen > seg and not fragmented:
                notes.append(f"UDP length {ulen} exceeds the IP payload ({seg} bytes)")
            end = off + ulen if off + ulen < cap_end else cap_end
        p = off + 8
        if p < end:
            d.payload = data[p:p + PAYLOAD_PREVIEW] if end - p > PAYLOAD_PREVIEW else data[p:end]
            layers.append(("Data", p, end - p))
        d.layers = tuple(layers)
        d.notes = tuple(notes)
        return d
    if proto == IP_ICMP or proto == IP_ICMPV6:
        d = _blank("icmp" if proto == IP_ICMP else "icmpv6")
        d.src = src
        d.dst = dst
        have = cap_end - off
        if have >= 8:
            d.icmp = (data[off], data[off + 1], _H(data, off + 4)[0], _H(data, off + 6)[0])
        elif have >= 2:
            d.icmp = (data[off], data[off + 1], None, None)
        hl = 8 if have >= 8 else max(have, 0)
        layers.append(("ICMP" if proto == IP_ICMP else "ICMPv6", off, hl))
        if have < 8:
            notes.append(f"ICMP header cut short ({max(have, 0)} of 8 bytes)")
        p = off + hl
        if p < cap_end:
            d.payload = data[p:p + PAYLOAD_PREVIEW]
            layers.append(("Data", p, cap_end - p))
        d.layers = tuple(layers)
        d.notes = tuple(notes)
        return d
    d = _blank("other")
    d.src = src
    d.dst = dst
    if proto not in (IP_ESP, IP_NONXT):
        notes.append(f"IP protocol {proto} is not decoded")
    _finish_layers(layers, off, n, cap_end)
    d.layers = tuple(layers)
    d.notes = tuple(notes)
    return d


def _tcp_options(data: bytes, p: int, stop: int, notes: list) -> TcpOptions | None:
    mss = wscale = ts_val = ts_ecr = None
    sack_perm = False
    sack: list[tuple[int, int]] = []
    seen = False
    while p < stop:
        kind = data[p]
        if kind == 0:
            break
        if kind == 1:
            p += 1
            continue
        if p + 1 >= stop:
            notes.append(f"TCP option {kind} cut short")
            break
        ln = data[p + 1]
        if ln < 2 or p + ln > stop:
            notes.append(f"TCP option {kind} with bad length {ln}")
            break
        if kind == 2 and ln == 4:
            mss = _H(data, p + 2)[0]
            seen = True
        elif kind == 3 and ln == 3:
            wscale = data[p + 2]
            seen = True
        elif kind == 4 and ln == 2:
            sack_perm = True
            seen = True
        elif kind == 8 and ln == 10:
            ts_val, ts_ecr = _TS(data, p + 2)
            seen = True
        elif kind == 5 and ln in (10, 18, 26, 34):
            sack += [_TS(data, q) for q in range(p + 2, p + ln, 8)]
            seen = True
        p += ln
    if not seen:
        return None
    return TcpOptions(mss, wscale, sack_perm, ts_val, ts_ecr, tuple(sack))
