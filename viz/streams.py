"""Conversations as tshark numbers them, and what the per-stream summaries need.

TCP conversations come from `viz.tcp_analysis` (which owns the port-reuse
rule); UDP conversations are one per address/port pair, both directions.
Both are numbered from 0 in order of first appearance, separately per
protocol, over frames whose outermost transport they are (analysis-json).

Client and server follow the truth's rule: the sender of the stream's first
SYN without ACK, else the source of its first frame.
"""
from __future__ import annotations

from viz.model import Endpoint, StateChange, Stream, TcpOptions


class StreamAcc:
    """A stream being built (mutable, internal); `Stream` is the frozen result.

    Endpoint 0 is the source of the stream's first frame; `client` is the index
    of the client endpoint (changes to the first pure-SYN sender).
    """

    __slots__ = ("id", "proto", "order", "addr", "port", "client", "saw_syn", "frames",
                 "bytes", "first_t", "last_t", "retrans", "options", "tracker", "conv")

    def __init__(self, sid: int, proto: str, order: int, src, sport, dst, dport, t: float):
        self.id = sid
        self.proto = proto
        self.order = order  # position among all streams (tcp and udp interleaved)
        self.addr = (src, dst)
        self.port = (sport, dport)
        self.client = 0
        self.saw_syn = False
        self.frames: list[int] = []
        self.bytes = [0, 0]  # payload bytes sent by endpoint 0, 1
        self.first_t = t
        self.last_t = t
        self.retrans = 0
        self.options: list[TcpOptions | None] = [None, None]
        self.tracker = None
        self.conv = None

    def endpoint(self, i: int) -> Endpoint:
        return Endpoint(str(self.addr[i]), self.port[i])

    def freeze(self) -> Stream:
        c = self.client
        s = 1 - c
        sides = ("client", "server") if c == 0 else ("server", "client")
        states: tuple[StateChange, ...] = ()
        if self.tracker is not None:
            states = tuple(StateChange(frame, sides[ep], before, after, event)
                           for frame, ep, before, after, event in self.tracker.finish())
        opts = {}
        if self.options[c] is not None:
            opts["client"] = self.options[c]
        if self.options[s] is not None:
            opts["server"] = self.options[s]
        return Stream(
            id=self.id, proto=self.proto, client=self.endpoint(c), server=self.endpoint(s),
            frames=tuple(self.frames), bytes_c2s=self.bytes[c], bytes_s2c=self.bytes[s],
            syn_options=opts, states=states, first_t=self.first_t, last_t=self.last_t)


def endpoint_text(addr, port) -> str:
    """"addr:port", IPv6 in brackets (analysis-json streams)."""
    addr = str(addr)
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"
