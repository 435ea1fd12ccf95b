"""Fast decoding of one raw frame into the fields the analysis needs.

STUB OF THE INTERFACE: the reader helper owns this file and fills in
`decode`; the class below is the contract the analysis is written against.
"""
from __future__ import annotations

from viz.model import TcpOptions


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
        "layers",  # tuple of (name, offset, length) outermost first, e.g. ("Ethernet", 0, 14)
        "notes",  # tuple of str: why something could not be decoded
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
        self.layers: tuple = ()
        self.notes: tuple = ()


def decode(linktype: int, data: bytes, wire_len: int) -> Decoded:  # pragma: no cover - stub
    raise NotImplementedError
