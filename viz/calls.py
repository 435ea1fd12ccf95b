"""The socket-call timeline of a tracer capture, and which frame each call explains.

The tracer records every socket call of both programs on the capture's clock
(captures/README.md, metadata key "calls").  A lecture figure puts
`connect()` next to the SYN it caused, so each call is attached to a frame:

* connect (call)          -> the client's SYN; connect (return) -> the SYN/ACK
                             or RST that ended it
* accept (return)         -> the ACK that completed the handshake
* send/sendall (call)     -> the data segment(s) carrying those bytes
* sendto (call)           -> the datagram (or segment) it sent
* recv/recv_into (return) -> the segment that delivered the last byte it
                             returned, or the FIN when it returned b''
* recvfrom (return)       -> the datagram it returned
* shutdown/close          -> the FIN (or RST) it caused

Matching is by host address (from the metadata's host list), time (a call
precedes what it causes, a return follows what it waited for) and socket:
once a socket is tied to a stream by its first match (an accepted one by the
peer address accept() returned), later calls on it only match frames of that
stream, and every call on it carries that connection (`conn`).  A socket is
not a (host, pid, fd): a server that closes its connection's descriptor gets
the same number from the next accept(), and a forked child uses the number
its parent accepted (`_sockets`).  Retransmissions never explain a call.
Pure: works on Packet values; `attach` is also what the tracer uses to write
the per-packet comments.
"""
from __future__ import annotations

import ast
import bisect
from dataclasses import replace
from typing import Iterable, Sequence

from viz.model import Flag, Packet, SocketCall, Tag

EPS = 0.001  # seconds of clock slack between a call record and a capture timestamp
SENDS = {"send", "sendall", "write", "sendmsg"}
RECVS = {"recv", "recv_into", "read", "recvmsg"}
CLOSES = {"shutdown", "close"}
RETRANS = {Tag.RETRANSMISSION, Tag.FAST_RETRANSMISSION, Tag.SPURIOUS_RETRANSMISSION}


def parse_calls(meta: dict, t0: float | None) -> tuple[SocketCall, ...]:
    """SocketCalls from metadata["calls"]; t is relative to `t0` (the first frame).

    Entries that are not objects or lack a numeric ts are skipped: the
    metadata is user-visible JSON and may have been edited.
    """
    raw = meta.get("calls") if isinstance(meta, dict) else None
    if not isinstance(raw, list):
        return ()
    out = []
    for entry in raw:
        if not isinstance(entry, dict):
            continue
        ts = entry.get("ts")
        if isinstance(ts, bool) or not isinstance(ts, (int, float)):
            continue
        if t0 is None:
            t0 = float(ts)
        fd = entry.get("fd")
        new_fd = entry.get("new_fd")
        pid = entry.get("pid")
        out.append(SocketCall(
            ts=float(ts), t=float(ts) - t0, host=str(entry.get("host", "")),
            pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else 0,
            call=str(entry.get("call", "")), phase=str(entry.get("phase", "call")),
            args=str(entry.get("args", "") or ""), result=str(entry.get("result", "") or ""),
            error=str(entry.get("error", "") or ""),
            fd=fd if isinstance(fd, int) and not isinstance(fd, bool) else None,
            new_fd=new_fd if isinstance(new_fd, int) and not isinstance(new_fd, bool) else None))
    out.sort(key=lambda c: c.ts)  # stable: equal times keep the recorded order
    return tuple(out)


def host_addresses(meta: dict) -> dict[str, set[str]]:
    """host name -> its IP addresses (prefix lengths dropped)."""
    hosts: dict[str, set[str]] = {}
    for host in (meta or {}).get("hosts") or []:
        if not isinstance(host, dict):
            continue
        addrs = hosts.setdefault(str(host.get("name", "")), set())
        for iface in host.get("interfaces") or []:
            if isinstance(iface, dict):
                for a in iface.get("addrs") or []:
                    addrs.add(str(a).split("/")[0])
    return hosts


def _int(text: str) -> int | None:
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if isinstance(value, (bytes, str)):
        return len(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _peer(text: str) -> tuple[str, int] | None:
    """The peer address of an accept() result: `('192.0.2.1', 40000)`, or `(4, ('192.0.2.1', 40000))`
    with the new descriptor first (the strace recorder)."""
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], int) and isinstance(value[1], tuple):
        value = value[1]
    if isinstance(value, tuple) and len(value) >= 2 and isinstance(value[1], int) and not isinstance(value[1], bool):
        if isinstance(value[0], tuple) and len(value[0]) >= 2:  # accept() -> (sock, addr)
            value = value[0] if isinstance(value[0][1], int) else value
        return str(value[0]), value[1]
    return None


def _new_fd(text: str) -> int | None:
    """The descriptor an accept() result names first, `(4, ('192.0.2.1', 40000))`, if it does."""
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], int) \
            and not isinstance(value[0], bool) and isinstance(value[1], tuple):
        return value[0]
    return None


def _sockets(calls: Sequence[SocketCall]) -> tuple[list[tuple], dict[int, tuple]]:
    """The socket each call was made on, as a key, and for each accept() return the socket it made.

    A descriptor names a socket from its socket() or accept() until its close().  An accept()
    record's `fd` is the listening socket; the new one is its `new_fd`, or the descriptor its
    result names first (older strace records); records without either (older captures) get the
    lowest number not open in the process (POSIX), which a file the program opened itself makes
    wrong.  A process that uses a descriptor
    it never opened is a forked child (or one started with it): it uses the earliest socket of
    that number another process of the host opened and no third one has taken, else the earliest
    accepted socket no call has used yet."""
    keys: list[tuple] = []
    accepted: dict[int, tuple] = {}
    open_: dict[tuple, tuple] = {}  # (host, pid, fd) -> socket key
    where_of: dict[tuple, tuple] = {}  # socket key -> its (host, pid, fd) in the process that made it
    by_number: dict[tuple[str, int], list[tuple[tuple, int]]] = {}  # (host, fd) -> [(socket, creator pid)]
    unused: dict[str, dict[tuple, None]] = {}  # host -> accepted sockets no call has used, in order
    users: dict[tuple, set[int]] = {}  # socket -> pids that made calls on it
    count = 0

    def new(host: str, pid: int, fd: int) -> tuple:
        nonlocal count
        count += 1
        key = (host, "sock", count)
        where_of[key] = (host, pid, fd)
        open_[(host, pid, fd)] = key
        by_number.setdefault((host, fd), []).append((key, pid))
        users[key] = set()
        return key

    def adopt(c: SocketCall) -> tuple | None:
        cands = by_number.get((c.host, c.fd), [])
        keep = []
        found = None
        for key, pid in cands:
            taken = users[key] - {pid}
            if found is None and pid != c.pid and not taken:
                found = key
            if not taken:
                keep.append((key, pid))
        cands[:] = keep  # taken by a third process: never a candidate again
        if found is None:
            free = unused.get(c.host)
            found = next(iter(free), None) if free else None
            if found is not None and where_of[found][1] == c.pid:
                open_.pop(where_of[found], None)  # the number guessed for it was wrong
        return found

    for i, c in enumerate(calls):
        where = (c.host, c.pid, c.fd)
        if c.fd is None:
            keys.append(where)
            continue
        if c.call == "socket" and c.phase == "return" and not c.error:
            key = new(c.host, c.pid, c.fd)
        else:
            key = open_.get(where)
            if key is None:
                key = adopt(c) or new(c.host, c.pid, c.fd)
                open_[where] = key
        users[key].add(c.pid)
        unused.get(c.host, {}).pop(key, None)
        keys.append(key)
        if c.call == "accept" and c.phase == "return" and not c.error:
            fd = c.new_fd if c.new_fd is not None else _new_fd(c.result)
            if fd is None:
                fd = 3
                while (c.host, c.pid, fd) in open_:
                    fd += 1
            accepted[i] = new(c.host, c.pid, fd)
            unused.setdefault(c.host, {})[accepted[i]] = None
        elif c.call == "close" and c.phase == "return" and not c.error:
            open_.pop(where, None)
    return keys, accepted


def _close_connects(calls: Sequence[SocketCall], keys: list[tuple]) -> set[int]:
    """Indexes of connect() calls that entered within the clock's slack of another socket's on the
    same host: the kernel may send their SYNs in either order, so the first SYN does not say which
    socket it is; the socket's first data does (`_untangle_connects`)."""
    entries = [(c.ts, i) for i, c in enumerate(calls) if c.call == "connect" and c.phase == "call"]
    out: set[int] = set()
    for (t0, i), (t1, j) in zip(entries, entries[1:]):
        if t1 - t0 <= EPS and calls[i].host == calls[j].host and keys[i] != keys[j]:
            out |= {i, j}
    return out


def _untangle_connects(found: list[tuple[int, ...]], m: "_Matcher") -> None:
    """Give each of two close connect()s (and their returns) the handshake of the stream its socket's
    data went over, when the first-SYN guess gave them each other's."""
    def stream(frames):
        p = m.by_frame.get(frames[0]) if frames else None
        return (p.proto, p.stream) if p is not None else None

    for phase in ("call", "return"):
        mine = {}
        for i in m.close_connects if phase == "call" else _returns_of(m, m.close_connects):
            b = m.bound.get(m.keys[i])
            s = stream(found[i])
            if b is not None and s is not None and s != b:
                mine[i] = (s, b)
        for i, (s, b) in mine.items():
            partner = next((j for j, (s2, b2) in mine.items() if j != i and s2 == b and b2 == s), None)
            if partner is not None and i < partner:
                found[i], found[partner] = found[partner], found[i]


def _returns_of(m: "_Matcher", connects: set[int]) -> list[int]:
    """The connect() returns of the sockets of `connects`."""
    socks = {m.keys[i] for i in connects}
    return [i for i, c in enumerate(m.calls) if c.call == "connect" and c.phase == "return" and m.keys[i] in socks]


def _shared_closes(calls: Sequence[SocketCall], keys: list[tuple]) -> set[int]:
    """Indexes of close() calls after which another process still uses the socket (a forking
    server's parent closing its copy of the accepted one): only the last close sends the FIN."""
    later: dict[tuple, set[int]] = {}  # socket -> pids making calls on it after this point
    out: set[int] = set()
    for i in range(len(calls) - 1, -1, -1):
        c, key = calls[i], keys[i]
        pids = later.setdefault(key, set())
        if c.call == "close" and pids - {c.pid}:
            out.add(i)
        pids.add(c.pid)
    return out


class _Matcher:
    def __init__(self, packets: Sequence[Packet], meta: dict):
        self.packets = packets
        self.by_frame = {p.frame: p for p in packets}
        self.ts = [p.ts for p in packets]
        self.addrs = host_addresses(meta)
        self.roles = {}
        for s_host in (meta or {}).get("hosts") or []:
            if isinstance(s_host, dict):
                self.roles[str(s_host.get("name", ""))] = str(s_host.get("role", ""))
        self.claimed: set[tuple[int, str]] = set()
        self.bound: dict[tuple, tuple[str, int]] = {}  # socket -> (proto, stream)
        self.listeners: set[tuple] = set()
        self.rx_left: dict[tuple, tuple[int, int]] = {}  # (host, stream) -> (frame, bytes left)
        self.clients: dict[tuple[str, int], int] = {}  # tcp stream -> client addr side known
        self.stream_client: dict[int, tuple[str, int]] = {}
        self.opened: dict[tuple[str, int], list[tuple[float, int]]] = {}  # client end -> (SYN time, stream)
        # Frames a recv can return, per direction of each stream, in frame
        # order: a recv scans only the directions its socket may receive on,
        # from the first one not yet claimed, so matching stays linear.
        self.rx_lanes: dict[tuple, list] = {}  # (proto, stream, dst, dport) -> [positions, lo]
        self.rx_by_stream: dict[tuple, list] = {}  # (proto, stream) -> lanes
        # Data frames a send can have caused, per sending end of each stream, with
        # a skip list over the claimed ones (`_first_free`): a send finds its
        # frames without walking past the ones earlier sends took.
        self.tx_lanes: dict[tuple, tuple[list, list]] = {}  # (stream, src, sport) -> (positions, next)
        self.tx_by_stream: dict[tuple, list] = {}  # ("tcp", stream) -> lanes
        self.lists: dict[str, list] = {"fin": [], "udp": [], "handshake": []}
        # What connect, connect's return, sendto and close can match, each in frame
        # order with skip lists over claimed frames (`_forward`, `_backward`), so a
        # call never walks frames of another kind or ones already taken.
        self.cands: dict[str, list] = {"syn": [], "synack_rst": [], "sendto": [], "finrst": []}
        self.skips: dict[tuple[str, str, str], list] = {}
        for i, p in enumerate(packets):
            proto = p.proto
            if proto == "tcp":
                flags = int(p.flags)  # plain ints: enum operators cost microseconds
                if flags & 0x12 == 0x02:  # SYN without ACK
                    if p.stream not in self.stream_client:
                        self.opened.setdefault((p.src, p.sport), []).append((p.ts, p.stream))
                    self.stream_client.setdefault(p.stream, (p.src, p.sport))
                    self.cands["syn"].append(i)
                if flags & 0x04 or flags & 0x12 == 0x12:  # RST, or SYN/ACK
                    self.cands["synack_rst"].append(i)
                if flags & 0x05:  # FIN or RST
                    self.cands["finrst"].append(i)
                if flags & 0x01:  # FIN
                    self.lists["fin"].append(i)
                if (flags & 0x16 == 0x10 and p.ack == 1  # ACK without SYN or RST
                        and p.seq == 1):
                    self.lists["handshake"].append(i)
                if (p.len or 0) > 0 and not RETRANS.intersection(p.analysis):
                    key = (proto, p.stream, p.dst, p.dport)
                    lane = self.rx_lanes.get(key)
                    if lane is None:
                        lane = self.rx_lanes[key] = [[], 0]
                        self.rx_by_stream.setdefault((proto, p.stream), []).append(lane)
                    lane[0].append(i)
                    tx = self.tx_lanes.get((p.stream, p.src, p.sport))
                    if tx is None:
                        tx = self.tx_lanes[(p.stream, p.src, p.sport)] = ([], [])
                        self.tx_by_stream.setdefault((proto, p.stream), []).append(tx)
                    tx[0].append(i)
                    self.cands["sendto"].append(i)
            elif proto == "udp":
                self.lists["udp"].append(i)
                if (p.len or 0) > 0:
                    self.cands["sendto"].append(i)
            elif _echo(p):
                self.lists["udp"].append(i)
                self.cands["sendto"].append(i)
        self.icmp_socks: set[tuple] = set()  # the ICMP echo sockets (ping)
        self.keys: list[tuple] = []  # the socket of each call (`_sockets`)
        self.accepted: dict[int, tuple] = {}  # index of an accept() return -> the socket it made
        self.shared_closes: set[int] = set()
        self.calls: Sequence[SocketCall] = ()
        self.close_connects: set[int] = set()  # connect() calls too close to another's to tell their SYNs apart
        self.i = 0
        self.list_lo: dict[tuple[str, str], int] = {}
        self.sizes: dict[int, int | None] = {}  # send call index -> bytes (set by attach)
        for pos, nxt in self.tx_lanes.values():
            nxt.extend(range(len(pos) + 1))

    def stream_of(self, peer: tuple[str, int] | None, ts: float) -> int | None:
        """The TCP stream the client `peer` opened last before `ts` (a port may be reused)."""
        found = None
        for t, stream in self.opened.get(peer, ()) if peer else ():
            if t <= ts + EPS:
                found = stream
        return found

    def is_host(self, host: str, addr: str | None, p: Packet, sending: bool) -> bool:
        addrs = self.addrs.get(host)
        if addrs:
            return addr in addrs
        # No host table: fall back on roles, client = the stream's SYN sender.
        role = self.roles.get(host, host)
        client = self.stream_client.get(p.stream)
        if client is None or role not in ("client", "server"):
            return False
        me = (p.src, p.sport) if sending else (p.dst, p.dport)
        return (me == client) == (role == "client")

    def after(self, ts: float) -> int:
        return bisect.bisect_left(self.ts, ts - EPS)

    def before(self, ts: float) -> int:
        return bisect.bisect_right(self.ts, ts + EPS)

    def key(self, c: SocketCall) -> tuple:
        """The socket of the call being matched (`_sockets`)."""
        return self.keys[self.i]

    def in_socket(self, c: SocketCall, p: Packet) -> bool:
        b = self.bound.get(self.key(c))
        return b is None or b == (p.proto, p.stream)

    def bind(self, c: SocketCall, p: Packet) -> None:
        self.bound.setdefault(self.key(c), (p.proto, p.stream))

    def take(self, frame: int, kind: str) -> bool:
        if (frame, kind) in self.claimed:
            return False
        self.claimed.add((frame, kind))
        return True

    # -- the rules ----------------------------------------------------------
    def _forward(self, cand: str, kind: str, start: int):
        """Positions (>= start) of list `cand` not claimed as `kind`, in order."""
        pos, packets, claimed = self.cands[cand], self.packets, self.claimed
        nxt = self.skips.get((cand, kind, "f"))
        if nxt is None:
            nxt = self.skips[(cand, kind, "f")] = list(range(len(pos) + 1))
        j = bisect.bisect_left(pos, start)
        while True:
            while nxt[j] != j:
                nxt[j] = nxt[nxt[j]]
                j = nxt[j]
            if j >= len(pos):
                return
            if (packets[pos[j]].frame, kind) in claimed:
                nxt[j] = j + 1
                continue
            yield pos[j]
            j += 1

    def _backward(self, cand: str, kind: str, end: int):
        """Positions (< end) of list `cand` not claimed as `kind`, latest first."""
        pos, packets, claimed = self.cands[cand], self.packets, self.claimed
        prv = self.skips.get((cand, kind, "b"))
        if prv is None:  # prv[k] stands for pos[k - 1]; 0 is "none left"
            prv = self.skips[(cand, kind, "b")] = list(range(len(pos) + 1))
        k = bisect.bisect_left(pos, end)
        while True:
            while prv[k] != k:
                prv[k] = prv[prv[k]]
                k = prv[k]
            if k == 0:
                return
            if (packets[pos[k - 1]].frame, kind) in claimed:
                prv[k] = k - 1
                continue
            yield pos[k - 1]
            k -= 1

    def first_sent(self, c: SocketCall, kind: str, want, cand: str) -> Packet | None:
        packets = self.packets
        for i in self._forward(cand, kind, self.after(c.ts)):
            p = packets[i]
            if want(p) and self.in_socket(c, p) and self.is_host(c.host, p.src, p, True):
                self.claimed.add((p.frame, kind))
                return p
        return None

    def last_received(self, c: SocketCall, kind: str, want, earliest: str | None = None,
                      cand: str | None = None) -> Packet | None:
        """The latest unclaimed frame of list `cand` (or, with `earliest` naming a
        list, the earliest unclaimed one of it) `c.host` received before the call returned."""
        end = self.before(c.ts)
        packets = self.packets
        if earliest is None:
            for i in self._backward(cand, kind, end):
                p = packets[i]
                if want(p) and self.in_socket(c, p) and self.is_host(c.host, p.dst, p, False):
                    self.claimed.add((p.frame, kind))
                    return p
            return None
        # Only frames of the candidate list can match; its claimed prefix is skipped.
        cands = self.lists[earliest]
        claimed = self.claimed
        lo = self.list_lo.get((earliest, kind), 0)
        while lo < len(cands) and (packets[cands[lo]].frame, kind) in claimed:
            lo += 1
        self.list_lo[(earliest, kind)] = lo
        for j in range(lo, len(cands)):
            i = cands[j]
            if i >= end:
                break
            p = packets[i]
            if (want(p) and self.in_socket(c, p) and self.is_host(c.host, p.dst, p, False)
                    and (p.frame, kind) not in claimed):
                claimed.add((p.frame, kind))
                return p
        return None

    def match(self, c: SocketCall, calls: Sequence[SocketCall], i: int) -> tuple[int, ...]:
        name, phase = c.call, c.phase
        if name == "listen":
            self.listeners.add(self.key(c))
            return ()
        if name == "socket" and "IPPROTO_ICMP" in c.args:
            self.icmp_socks.add(self.key(c))
            return ()
        if self.key(c) in self.icmp_socks:  # sendto sends an echo request, recvfrom returns the reply
            if name in ("sendto", "recvfrom") and c.phase == ("call" if name == "sendto" else "return") \
                    and not c.error:
                find = self.first_sent if name == "sendto" else self.last_received
                kind = "send" if name == "sendto" else "recv"
                p = (find(c, kind, _echo, "sendto") if name == "sendto"
                     else find(c, kind, _echo, earliest="udp"))
                if p:
                    return (p.frame,)
            return ()
        if name == "connect" and phase == "call":
            p = self.first_sent(c, "connect", _pure_syn, "syn")
            if p:
                if self.i not in self.close_connects:
                    self.bind(c, p)
                return (p.frame,)
        elif name == "connect":
            p = self.last_received(
                c, "connect-return", lambda q: q.proto == "tcp" and (
                    q.flags & Flag.RST or (q.flags & Flag.SYN and q.flags & Flag.ACK)), cand="synack_rst")
            return (p.frame,) if p else ()
        elif name == "accept" and phase == "return" and not c.error:
            peer = _peer(c.result)

            def completes(q: Packet) -> bool:
                if not (q.proto == "tcp" and q.flags & Flag.ACK and not q.flags & (Flag.SYN | Flag.RST)
                        and q.ack == 1 and q.seq == 1):
                    return False
                return peer is None or (q.src, q.sport) == peer
            p = self.last_received(c, "accept", completes, earliest="handshake")
            new = self.accepted.get(self.i)
            if new is not None:
                stream = p.stream if p else self.stream_of(peer, c.ts)
                if stream is not None:
                    self.bound.setdefault(new, ("tcp", stream))
            if p:
                return (p.frame,)
        elif name in SENDS and phase == "call":
            return self.sends(c, self.sizes.get(i))
        elif name == "sendto" and phase == "call":
            p = self.first_sent(c, "send", lambda q: q.proto in ("udp", "tcp") and (q.len or 0) > 0
                                and not RETRANS.intersection(q.analysis), "sendto")
            if p:
                self.bind(c, p)
                return (p.frame,)
        elif name in RECVS and phase == "return" and not c.error:
            return self.recv(c)
        elif name == "recvfrom" and phase == "return" and not c.error:
            p = self.last_received(c, "recv", lambda q: q.proto == "udp", earliest="udp")
            if p is None:
                return self.recv(c)
            self.bind(c, p)
            return (p.frame,)
        elif name in CLOSES and self.key(c) not in self.listeners:
            if name == "close" and (self.key(c) not in self.bound or self.i in self.shared_closes):
                return ()
            p = self.first_sent(c, "close", lambda q: q.proto == "tcp" and bool(
                q.flags & (Flag.FIN | Flag.RST)), "finrst")
            if p:
                self.bind(c, p)
                return (p.frame,)
        return ()

    def sends(self, c: SocketCall, size: int | None) -> tuple[int, ...]:
        """The data segments carrying the `size` bytes of send `c` (its return's
        result; all of a sendall): the earliest unclaimed ones this host sent
        after the call on the socket's stream (any stream while unbound)."""
        if size is None and c.call == "sendall":
            size = _int(c.args)
        packets = self.packets
        start = self.after(c.ts)
        b = self.bound.get(self.key(c))
        lanes = self.tx_lanes.values() if b is None else self.tx_by_stream.get(b, ())
        best = None  # (position, lane, index in lane)
        for lane in lanes:
            pos = lane[0]
            p0 = packets[pos[0]]
            if not self.is_host(c.host, p0.src, p0, True):
                continue
            j = self._first_free(lane, bisect.bisect_left(pos, start))
            if j < len(pos) and (best is None or pos[j] < best[0]):
                best = (pos[j], lane, j)
        if best is None:
            return ()
        _, (pos, nxt), j = best
        frames: list[int] = []
        got = 0
        while j < len(pos):
            p = packets[pos[j]]
            self.claimed.add((p.frame, "send"))
            nxt[j] = j + 1
            self.bind(c, p)
            frames.append(p.frame)
            got += p.len or 0
            if size is None or got >= size:
                break
            j = self._first_free((pos, nxt), j + 1)
        return tuple(frames)

    def _first_free(self, lane: tuple[list, list], j: int) -> int:
        """The first index >= j of `lane` whose frame no send has claimed (path-halving skip list)."""
        pos, nxt = lane
        packets, claimed = self.packets, self.claimed
        while True:
            root = j
            while nxt[root] != root:
                nxt[root] = nxt[nxt[root]]
                root = nxt[root]
            if root >= len(pos) or (packets[pos[root]].frame, "send") not in claimed:
                return root
            nxt[root] = root + 1  # claimed elsewhere (sendto on a TCP socket)
            j = root

    def recv(self, c: SocketCall) -> tuple[int, ...]:
        size = _int(c.result)
        if size == 0:
            p = self.last_received(c, "recv", lambda q: q.proto == "tcp" and bool(q.flags & Flag.FIN),
                                   earliest="fin")
            if p:
                self.bind(c, p)
                return (p.frame,)
            return ()
        end = self.before(c.ts)
        need = size if size else 1
        last = None
        # The data segments before `end` that this host received, in frame
        # order, on the socket's stream (or, while unbound, on any stream:
        # the first one taken binds it).
        while need > 0:
            i = self._next_rx(c, end)
            if i is None:
                break
            p = self.packets[i]
            left_key = (c.host, p.stream)
            pending = self.rx_left.get(left_key)
            if pending is not None and pending[0] == p.frame:
                avail = pending[1]
            else:
                avail = p.len or 0
                self.claimed.add((p.frame, "recv"))
            self.bind(c, p)
            take = min(avail, need)
            need -= take
            last = p
            if avail - take > 0:
                self.rx_left[left_key] = (p.frame, avail - take, i)
            else:
                self.rx_left.pop(left_key, None)
        return (last.frame,) if last else ()

    def _next_rx(self, c: SocketCall, end: int) -> int | None:
        """Position of the first data frame (before `end`) the recv `c` may
        return next: the partly read one, else the earliest unclaimed one."""
        b = self.bound.get(self.key(c))
        lanes = self.rx_lanes.values() if b is None else self.rx_by_stream.get(b, ())
        packets = self.packets
        claimed = self.claimed
        best = None
        for lane in lanes:
            pos, lo = lane
            while lo < len(pos) and (packets[pos[lo]].frame, "recv") in claimed:
                lo += 1
            lane[1] = lo
            if lo >= len(pos) and not pos:
                continue
            first = pos[min(lo, len(pos) - 1)]
            if not self.is_host(c.host, packets[first].dst, packets[first], False):
                continue
            pending = self.rx_left.get((c.host, packets[first].stream))
            if pending is not None and pending[2] < end and (best is None or pending[2] < best):
                # A frame partly returned by the previous recv comes first in its lane.
                p = packets[pending[2]]
                if (p.proto, p.stream, p.dst, p.dport) == (
                        packets[first].proto, packets[first].stream, packets[first].dst,
                        packets[first].dport):
                    best = pending[2]
                    continue
            for j in range(lo, len(pos)):
                i = pos[j]
                if i >= end or (best is not None and i >= best):
                    break
                if (packets[i].frame, "recv") not in claimed:
                    best = i
                    break
        return best


def _send_sizes(calls: Sequence[SocketCall]) -> dict[int, int | None]:
    """Index of each send call -> the byte count its return reported (None if it
    failed or has no return): the next return record of the same socket and call,
    found in one backward pass instead of a scan per send."""
    out: dict[int, int | None] = {}
    later: dict[tuple, SocketCall] = {}
    for i in range(len(calls) - 1, -1, -1):
        c = calls[i]
        if c.call not in SENDS:
            continue
        key = (c.host, c.pid, c.fd, c.call)
        if c.phase == "return":
            later[key] = c
        elif c.phase == "call":
            ret = later.get(key)
            out[i] = None if ret is None or ret.error else _int(ret.result)
    return out


def _echo(p: Packet) -> bool:
    """An ICMP or ICMPv6 echo request or reply (what a ping socket sends and receives)."""
    return p.proto in ("icmp", "icmpv6") and p.icmp is not None and p.icmp[0] in (0, 8, 128, 129)


def _pure_syn(p: Packet) -> bool:
    return p.proto == "tcp" and bool(p.flags & Flag.SYN) and not p.flags & Flag.ACK


def attach(packets: Sequence[Packet], calls: Iterable[SocketCall],
           meta: dict | None = None) -> tuple[SocketCall, ...]:
    """The calls with `frame` (and `frames`) set to the frames they explain.

    `meta` supplies the host addresses; without it hosts named "client" and
    "server" are matched by role (client = the sender of a stream's SYN).
    """
    calls = tuple(calls)
    m = _Matcher(packets, meta or {})
    m.sizes = _send_sizes(calls)
    m.keys, m.accepted = _sockets(calls)
    m.calls = calls
    m.shared_closes = _shared_closes(calls, m.keys)
    m.close_connects = _close_connects(calls, m.keys)
    found = []
    for i, c in enumerate(calls):
        m.i = i
        found.append(m.match(c, calls, i))
    _untangle_connects(found, m)
    for i in m.close_connects:  # no data told them apart (refused, say): the first-SYN guess stands
        p = m.by_frame.get(found[i][0]) if found[i] else None
        if p is not None:
            m.bound.setdefault(m.keys[i], (p.proto, p.stream))
    out = []
    for i, (c, frames) in enumerate(zip(calls, found)):
        conn = m.bound.get(m.accepted[i]) if i in m.accepted else m.bound.get(m.keys[i])
        if conn is None and frames and c.call == "accept":
            p = m.by_frame.get(frames[0])
            conn = (p.proto, p.stream) if p is not None and p.stream is not None else None
        if frames or conn:
            c = replace(c, frame=frames[0] if frames else None, frames=frames, conn=conn)
        out.append(c)
    return tuple(out)


def comments_by_frame(calls: Iterable[SocketCall]) -> dict[int, list[str]]:
    """Per-frame comment lines like "client: connect(('192.0.2.2', 10000))"."""
    out: dict[int, list[str]] = {}
    for c in calls:
        for f in c.frames or ((c.frame,) if c.frame is not None else ()):
            text = f"{c.host}: {c.call}({c.args})"
            if c.phase == "return" and (c.error or c.result):
                text += f" -> {c.error or c.result}"
            out.setdefault(f, []).append(text)
    return out
