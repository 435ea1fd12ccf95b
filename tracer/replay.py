"""Replay: put the frames of a capture back on a link of fresh tracer hosts.

Each frame leaves from the side that sent it originally (the client is the
source of the first frame), through a raw AF_PACKET socket opened inside that
side's namespace, at its recorded offset scaled by the speed: an absolute
schedule from one monotonic start, slept to within a millisecond and spun for
the rest, so errors do not accumulate.  Each host's veth carries an nftables
netdev ingress chain with policy drop: the packet tap runs before the ingress
hook, so the sniffer at the far end sees every frame while the host's TCP
stack never does and sends no RST or ARP reply into the replay (the hosts'
transmit counters prove it).  Frames of other link types get an Ethernet
header synthesized; `rewrite` maps the two endpoints and their MACs to the
tracer's hosts and fixes the IP, TCP and UDP checksums, like tcprewrite.
`max_gap` shortens long idle gaps (tcpreplay's --maxsleep); by default the
recorded pacing is kept exactly, since that is what the replay verifies.
"""
from __future__ import annotations

import gc
import os
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from viz import linktypes as lt
from viz.errors import SynackError

ETH_HLEN = 14
ETH_IPV4, ETH_IPV6, ETH_ARP = 0x0800, 0x86DD, 0x0806
MAX_VETH_MTU = 65535
SPIN_NS = 1_000_000  # sleep until 1 ms before a frame is due, then spin
PACKET_IGNORE_OUTGOING = 23
PACKET_AUXDATA = 8
SOL_PACKET = 263
SO_TIMESTAMPNS = 35
SNAPLEN = 262144
# The taps' sockets ask for a 256 MB buffer (tracer.sniffer; the kernel doubles
# it): a replay whose frames fit in half of the real buffer (skb overhead counted
# generously, see queue_budget) is read after sending, so
# no sniffer thread competes with the sender for the two cores and the GIL.
# Kernel drops, if the estimate were wrong, are counted and fail the report.
SKB_OVERHEAD = 1024
QUEUE_BUDGET = 128 << 20  # when a socket's real buffer size cannot be read
TP_STATUS_VLAN_VALID, TP_STATUS_VLAN_TPID_VALID = 0x10, 0x40
NFT_TABLE = "synack_replay"
RAW_TYPES = (lt.RAW, lt.RAW_BSD, lt.RAW_OPENBSD, lt.IPV4, lt.IPV6)
NULL_TYPES = (lt.NULL, lt.LOOP)
SENDABLE = (lt.EN10MB, lt.LINUX_SLL, lt.LINUX_SLL2) + RAW_TYPES + NULL_TYPES
AF_INET6_VALUES = (10, 24, 28, 30)  # Linux, BSDs, FreeBSD, macOS


@dataclass(frozen=True)
class Frame:
    """One frame to send: Ethernet bytes, its offset from the first frame, its side."""

    number: int  # frame number in the capture (1-based)
    offset_ns: int
    side: str  # "client" or "server": the host that sends it
    data: bytes


@dataclass
class ReplayReport:
    capture: str
    linktype: str
    frames: int  # frames in the capture
    loops: int
    speed: float | None  # None = topspeed
    rewritten: bool
    mtu: int
    sent: int = 0
    arrived: int = 0
    identical: bool = False
    order_preserved: bool = False
    stack_tx: dict[str, int] = field(default_factory=dict)  # frames the hosts' stacks sent
    duration_s: float = 0.0
    errors_ns: list[int] = field(default_factory=list)  # arrival - schedule, per frame
    kernel_drops: int = 0
    arrived_frames: list[tuple[int, bytes]] = field(default_factory=list)
    max_gap_ns: int | None = None  # the cap on idle gaps on the link, if any
    gaps_capped: int = 0  # gaps the cap shortened
    span_ns: int = 0  # scheduled duration (after --speed and --max-gap)
    longest_gap: tuple[int, int] = (0, 0)  # (ns, index of the frame after it) on the schedule

    @property
    def rate(self) -> float:
        return self.sent / self.duration_s if self.duration_s > 0 else 0.0

    def timing(self) -> dict[str, float]:
        """|arrival - schedule| in microseconds: median, p99, max."""
        if not self.errors_ns:
            return {}
        e = sorted(abs(x) for x in self.errors_ns)
        n = len(e)
        pick = lambda q: e[min(n - 1, int(q * n))] / 1000.0  # noqa: E731
        return {"median_us": pick(0.5), "p99_us": pick(0.99), "max_us": e[-1] / 1000.0}

    @property
    def ok(self) -> bool:
        return (self.arrived == self.sent == self.frames * self.loops and self.identical
                and self.order_preserved and not any(self.stack_tx.values()))

    def lines(self) -> list[str]:
        t = self.timing()
        pace = "topspeed" if self.speed is None else f"{self.speed:g}x"
        if self.max_gap_ns is not None:
            pace += f", gaps capped at {self.max_gap_ns / 1e9:g} s ({self.gaps_capped} shortened)"
        out = [f"replayed {self.capture} ({self.linktype}, {self.frames} frames x {self.loops}, "
               f"{pace}{', rewritten' if self.rewritten else ''}, link MTU {self.mtu})",
               f"frames sent {self.sent}, arrived {self.arrived}"
               + (f" (kernel dropped {self.kernel_drops})" if self.kernel_drops else ""),
               f"byte-identical: {'yes' if self.identical else 'NO'}; "
               f"order preserved: {'yes' if self.order_preserved else 'NO'}",
               "frames sent by the hosts' own stacks (RST/ARP): "
               + ", ".join(f"{k} {v}" for k, v in self.stack_tx.items()),
               f"rate {self.rate:,.0f} frames/s over {self.duration_s:.3f} s"]
        if t:
            out.append(f"timing error vs schedule: median {t['median_us']:.1f} us, "
                       f"p99 {t['p99_us']:.1f} us, max {t['max_us']:.1f} us")
        return out


# -- reading and link-layer conversion ------------------------------------------

def to_ethernet(linktype: int, data: bytes, number: int) -> tuple[bytes, bool]:
    """The frame as Ethernet bytes; True when the header was synthesized.

    Synthesized headers carry zero MACs here; `assign_sides` fills them in.
    """
    if linktype == lt.EN10MB:
        if len(data) < ETH_HLEN:
            raise SynackError(f"frame {number}: {len(data)} bytes, shorter than an Ethernet header")
        return data, False
    if linktype in RAW_TYPES:
        payload = data
        etype = _ip_ethertype(payload, number)
    elif linktype in NULL_TYPES:
        if len(data) < 4:
            raise SynackError(f"frame {number}: too short for a NULL/LOOP header")
        fam = struct.unpack(">I" if linktype == lt.LOOP else "<I", data[:4])[0]
        if fam > 0xFFFF:  # NULL is host byte order of the capturing machine
            fam = struct.unpack(">I", data[:4])[0]
        payload = data[4:]
        etype = ETH_IPV4 if fam == 2 else ETH_IPV6 if fam in AF_INET6_VALUES else None
        if etype is None and data[2] << 8 | data[3] >= 0x0600:
            etype = data[2] << 8 | data[3]  # an Ethernet type after 2 bytes (Wireshark reads these too)
        if etype is None:
            raise SynackError(f"frame {number}: address family {fam} cannot be sent on Ethernet")
    elif linktype == lt.LINUX_SLL:
        if len(data) < 16:
            raise SynackError(f"frame {number}: too short for a Linux cooked (SLL) header")
        etype = struct.unpack_from(">H", data, 14)[0]
        payload = data[16:]
    elif linktype == lt.LINUX_SLL2:
        if len(data) < 20:
            raise SynackError(f"frame {number}: too short for a Linux cooked v2 (SLL2) header")
        etype = struct.unpack_from(">H", data, 0)[0]
        payload = data[20:]
    else:
        raise SynackError(f"link type {lt.link_type_name(linktype)} cannot be replayed on Ethernet")
    if etype < 0x0600:
        raise SynackError(f"frame {number}: protocol {etype:#06x} has no Ethernet type")
    return b"\0" * 12 + struct.pack(">H", etype) + payload, True


def _ip_ethertype(payload: bytes, number: int) -> int:
    v = payload[0] >> 4 if payload else 0
    if v == 4:
        return ETH_IPV4
    if v == 6:
        return ETH_IPV6
    raise SynackError(f"frame {number}: raw IP frame with IP version {v}")


def endpoints(frame: bytes) -> tuple[bytes, bytes] | None:
    """(source, destination) IP address bytes of an Ethernet frame, or None."""
    etype = frame[12] << 8 | frame[13]
    if etype == ETH_IPV4 and len(frame) >= 34:
        return frame[26:30], frame[30:34]
    if etype == ETH_IPV6 and len(frame) >= 54:
        return frame[22:38], frame[38:54]
    return None


def load(path: str, rewrite: bool = False) -> tuple[list[Frame], str]:
    """The capture's frames as Ethernet frames with sides; (frames, link type name)."""
    from viz.capture import open_capture

    raw: list[tuple[int, int, bytes, bool]] = []
    names: list[str] = []
    with open_capture(path) as cap:
        for rf in cap:
            if rf.linktype not in SENDABLE:
                raise SynackError(f"{path}: frame {rf.number}: link type "
                                  f"{lt.link_type_name(rf.linktype)} cannot be replayed on Ethernet")
            name = lt.link_type_name(rf.linktype)
            if name not in names:
                names.append(name)
            data, synth = to_ethernet(rf.linktype, rf.data, rf.number)
            raw.append((rf.number, round(rf.ts * 1e9), data, synth))
    if not raw:
        raise SynackError(f"{path}: the capture has no frames to replay")
    return assign_sides(raw, rewrite), "+".join(names)


def assign_sides(raw: Sequence[tuple[int, int, bytes, bool]], rewrite: bool) -> list[Frame]:
    """Sides from the first frame: the client is its source (IP, else MAC).

    A frame from the client's IP or MAC leaves from the client; one to the
    client's IP or MAC from the server; anything else (third parties) from the
    client.  Synthesized headers get the hosts' MACs for their side.
    """
    from tracer.hosts import CLIENT_MAC, SERVER_MAC

    first = raw[0][2]
    client_ip = (endpoints(first) or (None, None))[0]
    client_mac = None if raw[0][3] else first[6:12]
    macs = {"client": bytes.fromhex(CLIENT_MAC.replace(":", "")),
            "server": bytes.fromhex(SERVER_MAC.replace(":", ""))}
    rw = Rewriter(first) if rewrite else None
    t0 = raw[0][1]
    out = []
    for number, ts, data, synth in raw:
        ep = endpoints(data)
        if ep and client_ip is not None and ep[0] == client_ip:
            side = "client"
        elif ep and client_ip is not None and ep[1] == client_ip:
            side = "server"
        elif not synth and client_mac is not None and data[6:12] == client_mac:
            side = "client"
        elif not synth and client_mac is not None and data[0:6] == client_mac:
            side = "server"
        else:
            side = "client"
        if synth:
            other = "server" if side == "client" else "client"
            data = macs[other] + macs[side] + data[12:]
        if rw is not None:
            data = rw.rewrite(data, side)
        out.append(Frame(number, ts - t0, side, data))
    return out


# -- rewriting ------------------------------------------------------------------

def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


class Rewriter:
    """Maps the first frame's two endpoints to the tracer's client and server.

    IPv4 endpoints become 192.0.2.1/.2, IPv6 ones 2001:db8::1/::2; MACs become
    the hosts' MACs by side (broadcast and multicast destinations are kept).
    The IPv4 header checksum and the TCP/UDP checksums of unfragmented
    packets are recomputed on every rewritten frame, as `tcprewrite
    --fixcsum` does; ARP sender/target addresses are mapped too.
    """

    def __init__(self, first: bytes):
        from tracer.hosts import CLIENT_MAC, CLIENT_V4, CLIENT_V6, SERVER_MAC, SERVER_V4, SERVER_V6

        self.mac = {"client": bytes.fromhex(CLIENT_MAC.replace(":", "")),
                    "server": bytes.fromhex(SERVER_MAC.replace(":", ""))}
        self.addr: dict[bytes, bytes] = {}
        ep = endpoints(first)
        if ep is None and first[12:14] == b"\x08\x06" and len(first) >= 42:
            ep = (first[28:32], first[38:42])
        if ep is not None:
            v4 = len(ep[0]) == 4
            c = socket.inet_pton(socket.AF_INET if v4 else socket.AF_INET6, CLIENT_V4 if v4 else CLIENT_V6)
            s = socket.inet_pton(socket.AF_INET if v4 else socket.AF_INET6, SERVER_V4 if v4 else SERVER_V6)
            self.addr[ep[0]] = c
            if ep[1] != ep[0]:
                self.addr[ep[1]] = s

    def rewrite(self, frame: bytes, side: str) -> bytes:
        other = "server" if side == "client" else "client"
        f = bytearray(frame)
        if not f[0] & 1:  # unicast destination
            f[0:6] = self.mac[other]
        f[6:12] = self.mac[side]
        etype = f[12] << 8 | f[13]
        m = self.addr
        if etype == ETH_IPV4 and len(f) >= 34:
            ihl = (f[14] & 0x0F) * 4
            f[26:30] = m.get(bytes(f[26:30]), f[26:30])
            f[30:34] = m.get(bytes(f[30:34]), f[30:34])
            f[24:26] = b"\0\0"
            f[24:26] = struct.pack("!H", _csum(bytes(f[14:14 + ihl])))
            total = f[16] << 8 | f[17]
            frag = (f[20] << 8 | f[21]) & 0x3FFF
            if frag == 0:
                pseudo = bytes(f[26:34]) + struct.pack("!BBH", 0, f[23], total - ihl)
                self._l4(f, 14 + ihl, 14 + total, f[23], pseudo)
        elif etype == ETH_IPV6 and len(f) >= 54:
            f[22:38] = m.get(bytes(f[22:38]), f[22:38])
            f[38:54] = m.get(bytes(f[38:54]), f[38:54])
            plen = f[18] << 8 | f[19]
            pseudo = bytes(f[22:54]) + struct.pack("!IxxxB", plen, f[20])
            self._l4(f, 54, 54 + plen, f[20], pseudo)
        elif etype == ETH_ARP and len(f) >= 42 and f[18] == 6 and f[19] == 4:
            f[22:28] = self.mac[side]
            f[28:32] = m.get(bytes(f[28:32]), f[28:32])
            if any(f[32:38]):
                f[32:38] = self.mac[other]
            f[38:42] = m.get(bytes(f[38:42]), f[38:42])
        return bytes(f)

    @staticmethod
    def _l4(f: bytearray, start: int, end: int, proto: int, pseudo: bytes) -> None:
        if end > len(f):  # truncated by the snap length: the checksum cannot be computed
            return
        at = {6: 16, 17: 6}.get(proto)
        if at is None or end - start < at + 2:
            return
        if proto == 17 and f[start + 6:start + 8] == b"\0\0" and len(pseudo) == 12:
            return  # IPv4 UDP without checksum stays without
        f[start + at:start + at + 2] = b"\0\0"
        c = _csum(pseudo + bytes(f[start:end]))
        if proto == 17 and c == 0:
            c = 0xFFFF
        f[start + at:start + at + 2] = struct.pack("!H", c)


# -- sending ------------------------------------------------------------------

def schedule(frames: Sequence[Frame], speed: float | None, loops: int,
             max_gap_ns: int | None = None) -> list[int]:
    """Offsets (ns from start) at which each sent frame is due, loops back to back.

    Loops are joined by the capture's mean gap.  With `max_gap_ns`, every gap
    of the paced schedule (after `speed`) longer than it is shortened to it and
    later frames move earlier by the difference, so the link never idles
    longer than the cap while the pacing inside bursts is untouched.
    """
    span = frames[-1].offset_ns
    gap = span // max(1, len(frames) - 1) if len(frames) > 1 else 0
    out = []
    for k in range(loops):
        base = k * (span + gap)
        for f in frames:
            out.append(0 if speed is None else round((base + f.offset_ns) / speed))
    if max_gap_ns is not None and speed is not None:
        shift, prev = 0, out[0]
        for i in range(1, len(out)):
            paced = out[i]
            if paced - prev > max_gap_ns:
                shift += paced - prev - max_gap_ns
            out[i], prev = paced - shift, paced
    return out


def longest_gap(due: Sequence[int]) -> tuple[int, int]:
    """(length in ns, index of the frame after it) of the schedule's longest gap."""
    best = (0, 0)
    for i in range(1, len(due)):
        if due[i] - due[i - 1] > best[0]:
            best = (due[i] - due[i - 1], i)
    return best


def _open_sender(iface: str) -> socket.socket:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
        s.bind((iface, 0))
    except BaseException:
        s.close()
        raise
    return s


def send_all(socks: dict[str, socket.socket], frames: Sequence[Frame], due: Sequence[int],
             topspeed: bool) -> tuple[int, int, list[int]]:
    """Send frames on schedule; (sent, start monotonic ns, each frame's due time in realtime ns).

    Kernel arrival stamps are CLOCK_REALTIME, which NTP slews against the
    monotonic clock the schedule runs on (up to 500 ppm: 25 ms over a minute),
    so each due time is converted with the clocks' offset read just before it.
    Python's thread switch interval is lowered while sending so the sniffer
    threads cannot hold the interpreter lock across a due time, and a paced
    send loop runs SCHED_FIFO (when allowed) so that other work on a busy
    machine cannot preempt it across a due time either: the wire's delay
    element does the same.
    """
    n = len(frames)
    plan = [(socks[frames[i % n].side].send, frames[i % n].data) for i in range(len(due))]
    old = sys.getswitchinterval()
    sys.setswitchinterval(0.0002)
    policy = None if topspeed else _realtime()
    collecting = gc.isenabled()
    gc.disable()  # no collection pause across a due time
    mono, sleep, now = time.monotonic_ns, time.sleep, time.time_ns
    due_rt: list[int] = []
    try:
        start = mono()
        sent = 0
        if topspeed:
            for send, data in plan:
                _send(send, data)
                sent += 1
            return sent, start, due_rt
        for (send, data), off in zip(plan, due):
            target = start + off
            left = target - mono()
            if left > SPIN_NS:
                sleep((left - SPIN_NS) / 1e9)
            due_rt.append(target + now() - mono())
            while mono() < target:
                pass
            _send(send, data)
            sent += 1
        return sent, start, due_rt
    finally:
        sys.setswitchinterval(old)
        if collecting:
            gc.enable()
        if policy is not None:
            os.sched_setscheduler(0, *policy)


def _realtime() -> tuple[int, Any] | None:
    """Make the calling thread SCHED_FIFO; its old (policy, param), or None if not allowed."""
    try:
        old = (os.sched_getscheduler(0), os.sched_getparam(0))
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
        return old
    except (OSError, AttributeError):
        return None


def _send(send: Any, data: bytes) -> None:
    while True:
        try:
            send(data)
            return
        except BlockingIOError:
            time.sleep(0)
        except OSError as exc:
            if exc.errno == 105:  # ENOBUFS: the device queue is full; retry
                time.sleep(0.0001)
                continue
            raise SynackError(f"cannot send a {len(data)}-byte frame: {exc.strerror or exc}") from None


# -- the hosts ----------------------------------------------------------------

def block_stack(netns: str, iface: str = "veth0") -> None:
    """nftables netdev ingress drop: after the packet tap, before the IP stack."""
    rules = (f"add table netdev {NFT_TABLE}\n"
             f"add chain netdev {NFT_TABLE} ingress_drop "
             f"{{ type filter hook ingress device {iface} priority -500 ; policy drop ; }}\n")
    r = subprocess.run(["ip", "netns", "exec", netns, "nft", "-f", "-"], input=rules, text=True,
                       capture_output=True)
    if r.returncode != 0:
        raise SynackError(f"cannot add the ingress drop in {netns}: {r.stderr.strip()[:200]}")


def tx_packets(netns: str, iface: str = "veth0") -> int:
    import json

    r = subprocess.run(["ip", "-n", netns, "-s", "-j", "link", "show", iface],
                       capture_output=True, text=True, check=True)
    return int(json.loads(r.stdout)[0]["stats64"]["tx"]["packets"])


def set_mtu(netns: str, mtu: int, iface: str = "veth0") -> None:
    r = subprocess.run(["ip", "-n", netns, "link", "set", "dev", iface, "mtu", str(mtu)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SynackError(f"cannot raise the veth MTU to {mtu}: {r.stderr.strip()}")


def needed_mtu(frames: Sequence[Frame]) -> int:
    from tracer.hosts import MTU

    return max(MTU, max(len(f.data) - ETH_HLEN - (4 if f.data[12:14] == b"\x81\x00" else 0)
                        for f in frames))


def plan(report: ReplayReport, frames: Sequence[Frame]) -> list[int]:
    """The schedule, with the report's gap statistics filled in."""
    due = schedule(frames, report.speed, report.loops, report.max_gap_ns)
    if report.max_gap_ns is not None and report.speed is not None:
        paced = schedule(frames, report.speed, report.loops)
        report.gaps_capped = sum(1 for a, b in zip(paced, paced[1:]) if b - a > report.max_gap_ns)
    report.span_ns = due[-1]
    report.longest_gap = longest_gap(due)
    return due


def _check_pace(speed: float | None, loops: int, max_gap_ns: int | None) -> None:
    if speed is not None and not speed > 0:
        raise SynackError("--speed must be a positive number")
    if loops < 1:
        raise SynackError("--loop must be at least 1")
    if max_gap_ns is not None:
        if speed is None:
            raise SynackError("--max-gap paces gaps; with --topspeed there are none")
        if max_gap_ns <= 0:
            raise SynackError("--max-gap must be positive (--topspeed sends without gaps)")


def replay(path: str, speed: float | None = 1.0, loops: int = 1, rewrite: bool = False,
           hosts: Any = None, max_gap_ns: int | None = None,
           announce: Any = None) -> ReplayReport:
    """Replay a capture between fresh tracer hosts (or the given `hosts`).

    Frames larger than the veth's 1500-byte MTU raise both veths' MTU to fit
    (up to 65535; beyond, SynackError), since a capture taken with offloads on
    holds super-frames that are still worth replaying.  `announce(report)`,
    if given, is called once the schedule is known and before anything is
    sent, so a caller can say how long a long replay will take.
    """
    _check_pace(speed, loops, max_gap_ns)
    frames, linktype = load(path, rewrite)
    mtu = needed_mtu(frames)
    if mtu > MAX_VETH_MTU:
        big = max(frames, key=lambda f: len(f.data))
        raise SynackError(f"{path}: frame {big.number} is {len(big.data)} bytes, larger than a "
                          f"veth can carry (MTU {MAX_VETH_MTU})")
    report = ReplayReport(path, linktype, len(frames), loops, speed, rewrite, mtu, max_gap_ns=max_gap_ns)
    due = plan(report, frames)
    if announce is not None:
        announce(report)
    if hosts is None:
        from tracer.hosts import Hosts

        with Hosts() as h:
            return _replay_on(h, frames, report, due)
    return _replay_on(hosts, frames, report, due)


def _vlan_sniffer(netns: str, iface: str) -> Any:
    """A tracer Sniffer that keeps only arriving frames and puts 802.1Q tags back.

    The receiving veth strips VLAN tags into the packet's metadata before the
    tap, so the tag comes back through PACKET_AUXDATA (as tcpdump does it).
    """
    from tracer.sniffer import Sniffer

    class ArrivalSniffer(Sniffer):
        def _open_socket(self, linux: Any) -> Any:
            sock = super()._open_socket(linux)
            sock.ins.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            sock.ins.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
            return sock

        def _read_all(self, raw: socket.socket) -> None:
            buf = bytearray(SNAPLEN)
            view = memoryview(buf)
            ancsize = socket.CMSG_SPACE(16) + socket.CMSG_SPACE(20)
            frames = self.frames
            while True:
                try:
                    n, anc, _flags, _addr = raw.recvmsg_into([buf], ancsize)
                except BlockingIOError:
                    break
                ts, tag = None, b""
                for level, kind, data in anc:
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                        sec, nsec = struct.unpack("qq", data[:16])
                        ts = sec * 1_000_000_000 + nsec
                    elif level == SOL_PACKET and kind == PACKET_AUXDATA:
                        status, _l, _s, _m, _n, tci, tpid = struct.unpack_from("IIIHHHH", data)
                        if status & TP_STATUS_VLAN_VALID:
                            tpid = tpid if status & TP_STATUS_VLAN_TPID_VALID else 0x8100
                            tag = struct.pack("!HH", tpid, tci)
                if ts is None:
                    ts = time.time_ns()
                    self.untimed += 1
                frames.append((ts, bytes(view[:12]) + tag + bytes(view[12:n]) if tag else bytes(view[:n])))
            with self._changed:
                self._changed.notify_all()

    return ArrivalSniffer(netns, iface, outgoing_only=False)


def queue_budget(sniffers: Any) -> int:
    """Half the smallest tap buffer: what the kernel really allows (it doubles the
    256 MB asked for), so a replay estimated to fit there cannot overflow it.
    Measured: 100,000 frames of 60-1514 bytes (estimate 163 MB) held 141 MB."""
    try:
        return min(sn.sock.ins.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) for sn in sniffers) // 2
    except (OSError, AttributeError, ValueError):
        return QUEUE_BUDGET


def _replay_on(hosts: Any, frames: list[Frame], report: ReplayReport, due: list[int]) -> ReplayReport:
    from tracer.hosts import in_netns

    sides = ("client", "server")
    ns = {s: hosts.hosts[s].netns for s in sides}
    for s in sides:
        block_stack(ns[s])
        if report.mtu > 1500:
            set_mtu(ns[s], report.mtu)
    tx0 = {s: tx_packets(ns[s]) for s in sides}
    socks: dict[str, socket.socket] = {}
    sniffers: dict[str, Any] = {}
    try:
        for s in sides:
            socks[s] = in_netns(ns[s], _open_sender, "veth0")
            sn = sniffers[s] = _vlan_sniffer(ns[s], "veth0")
            sn.open()
        queued = report.loops * sum(len(f.data) + SKB_OVERHEAD for f in frames)
        read_later = queued <= queue_budget(sniffers.values())
        if not read_later:
            for sn in sniffers.values():
                sn.start()
        sent, start, due_rt = send_all(socks, frames, due, report.speed is None)
        report.duration_s = (time.monotonic_ns() - start) / 1e9
        report.sent = sent
        for s in sides:
            if read_later:
                sniffers[s].start()
            sniffers[s].stop()
    finally:
        for sn in sniffers.values():
            sn.close()
        for sock in socks.values():
            sock.close()
    sent_by = {s: tx_packets(ns[s]) - tx0[s] for s in sides}
    _verify(report, frames, due_rt, sniffers, sent_by)
    return report


def _verify(report: ReplayReport, frames: list[Frame], due_rt: list[int],
            sniffers: dict[str, Any], tx: dict[str, int]) -> None:
    n = len(frames)
    expected = [frames[i % n] for i in range(report.sent)]
    per_side = {s: sum(1 for f in expected if f.side == s) for s in sniffers}
    # a side's tx counter counts the frames replayed from it plus anything its stack sent
    report.stack_tx = {s: tx[s] - per_side[s] for s in sniffers}
    report.kernel_drops = sum(sn.kernel_drops for sn in sniffers.values())
    # frames arriving at the client were sent by the server, and vice versa
    arrived = {"server": sniffers["client"].frames, "client": sniffers["server"].frames}
    merged = sorted([(ts, side, data) for side, fl in arrived.items() for ts, data in fl],
                    key=lambda x: x[0])
    report.arrived = len(merged)
    report.arrived_frames = [(ts, data) for ts, _, data in merged]
    same_side = all([f.data for f in expected if f.side == s] == [d for _, d in arrived[s]]
                    for s in arrived)
    report.order_preserved = [d for _, _, d in merged] == [f.data for f in expected]
    report.identical = same_side or sorted(d for _, _, d in merged) == sorted(f.data for f in expected)
    errors = []
    if same_side and due_rt:
        for s in arrived:
            idx = [i for i, f in enumerate(expected) if f.side == s]
            errors += [ts - due_rt[i] for i, (ts, _) in zip(idx, arrived[s])]
    report.errors_ns = errors


def _iface_mtu(sock: socket.socket, iface: str) -> int:
    """The interface's MTU, from its sender socket's namespace (SIOCGIFMTU)."""
    import fcntl

    req = struct.pack("16si", iface.encode()[:15], 0)
    return struct.unpack("16si", fcntl.ioctl(sock.fileno(), 0x8921, req))[1]


def replay_iface(path: str, iface: str, speed: float | None = 1.0, loops: int = 1,
                 rewrite: bool = False, max_gap_ns: int | None = None,
                 announce: Any = None, allow_foreign: bool = False, max_rate: float | None = None,
                 show: Any = None) -> ReplayReport:
    """Send every frame out of one real interface of this host (no verification).

    tracer.replay_guard decides what may leave: test-range addresses only
    (unless `allow_foreign`), at most `max_rate` frames/s (default its
    MAX_RATE; 0 = no cap); `show(lines)` gets the plan before anything is sent.
    """
    from tracer import replay_guard as guard

    max_rate = guard.MAX_RATE if max_rate is None else max_rate
    _check_pace(speed, loops, max_gap_ns)
    try:
        socket.if_nametoindex(iface)
    except (OSError, ValueError):
        raise SynackError(f"--iface {iface!r}: no such network interface here "
                          "(`ip link` lists them)") from None
    frames, linktype = load(path, rewrite)
    pairs = guard.check(path, frames, allow_foreign)
    report = ReplayReport(path, linktype, len(frames), loops, speed, rewrite, 0, max_gap_ns=max_gap_ns)
    try:
        sock = _open_sender(iface)
    except OSError as exc:
        raise SynackError(f"--iface {iface}: {exc.strerror or exc}") from None
    try:
        report.mtu = _iface_mtu(sock, iface)
        big = max(frames, key=lambda fr: len(fr.data))
        if len(big.data) - ETH_HLEN > report.mtu:
            raise SynackError(f"{path}: frame {big.number} is {len(big.data)} bytes, larger than "
                              f"{iface}'s MTU {report.mtu}")
        due = guard.capped(plan(report, frames), max_rate)
        if announce is not None:
            announce(report)
        if show is not None:
            show(guard.plan_lines(path, iface, len(frames), loops, pairs, due, max_rate))
        sent, start, _ = send_all({"client": sock, "server": sock}, frames, due, speed is None and not max_rate)
        report.duration_s = (time.monotonic_ns() - start) / 1e9
        report.sent = sent
    finally:
        sock.close()
    return report
