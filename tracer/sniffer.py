"""The sniffer: scapy's L2 listen socket, opened inside a namespace, read raw.

Three measured traps shape this module (shared/notes/capture-facts.md):
AsyncSniffer misses the first frames, so the socket is opened and bound here
before any program starts (frames are queued by the kernel from `bind` on);
full dissection keeps up with only ~2,300 frames/s, so frames are received as
bytes into a 256 MB socket buffer and spooled to an unlinked temporary file as
(timestamp, bytes) records, so a long trace at two capture points does not
hold every frame twice in memory; and
stopping right after the last frame throws queued frames away, so `stop`
first waits for the last conversation to close and the queue to drain.
On `lo` every frame is seen twice (once outgoing, once incoming): only the
outgoing copy is kept.
"""
from __future__ import annotations

import fcntl
import os
import logging
import tempfile
from array import array
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tracer.hosts import in_netns

SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_AUXDATA = 8
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = 35
SO_RCVBUFFORCE = 33
FIONREAD = 0x541B
RCVBUF = 256 * 1024 * 1024
SNAPLEN = 262144

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10


def preload() -> threading.Thread:
    """Import scapy's socket layer in the background (~0.25 s) while the
    namespaces are being built, so the cold `synack trace` stays fast."""
    t = threading.Thread(target=_import_scapy, name="scapy-import", daemon=True)
    t.start()
    return t


def _import_scapy() -> Any:
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    import scapy.arch.linux  # noqa: F401  (L2ListenSocket; no scapy.all)
    return scapy.arch.linux


@dataclass
class Conversation:
    """Just enough TCP state to know when a conversation is over."""

    proto: str
    first: tuple[bytes, int]
    frames: int = 0
    syn: bool = False
    synack: bool = False
    handshake: bool = False
    data: bool = False
    fin_end: list = field(default_factory=lambda: [None, None])
    fin_acked: list = field(default_factory=lambda: [False, False])
    rst: bool = False

    @property
    def closed(self) -> bool:
        return self.proto != "tcp" or self.rst or all(self.fin_acked)

    @property
    def teardown(self) -> bool:
        return self.rst or self.fin_end[0] is not None or self.fin_end[1] is not None


def _after(a: int, b: int) -> bool:
    """a >= b in 32-bit sequence space (RFC 1982)."""
    return ((a - b) & 0xFFFFFFFF) < 0x80000000


class Tracker:
    """Follows TCP conversations and UDP flows from raw Ethernet frames."""

    def __init__(self) -> None:
        self.conversations: dict[tuple, Conversation] = {}

    def feed(self, frame: bytes) -> None:
        if len(frame) < 34:
            return
        etype = frame[12] << 8 | frame[13]
        if etype == 0x0800:
            ihl = (frame[14] & 0x0F) * 4
            proto = frame[23]
            total = frame[16] << 8 | frame[17]
            src, dst = frame[26:30], frame[30:34]
            l4 = 14 + ihl
            l4len = total - ihl
        elif etype == 0x86DD and len(frame) >= 54:
            proto = frame[20]
            l4len = frame[18] << 8 | frame[19]
            src, dst = frame[22:38], frame[38:54]
            l4 = 54
        else:
            return
        if proto not in (6, 17) or len(frame) < l4 + 8:
            return
        sport = frame[l4] << 8 | frame[l4 + 1]
        dport = frame[l4 + 2] << 8 | frame[l4 + 3]
        a, b = (src, sport), (dst, dport)
        key = (6 if proto == 6 else 17, min(a, b), max(a, b))
        conv = self.conversations.get(key)
        if conv is None:
            conv = self.conversations[key] = Conversation("tcp" if proto == 6 else "udp", a)
        conv.frames += 1
        if proto == 17:
            conv.data = True
            return
        if len(frame) < l4 + 20:
            return
        d = 0 if a == conv.first else 1
        seq, ack = struct.unpack_from("!II", frame, l4 + 4)
        off = (frame[l4 + 12] >> 4) * 4
        flags = frame[l4 + 13]
        payload = l4len - off
        if flags & RST:
            conv.rst = True
        if flags & SYN:
            if flags & ACK:
                conv.synack = True
            else:
                conv.syn = True
        elif flags & ACK and conv.synack and conv.syn:
            conv.handshake = True
        if payload > 0:
            conv.data = True
        if flags & FIN:
            conv.fin_end[d] = (seq + payload + 1 + (1 if flags & SYN else 0)) & 0xFFFFFFFF
        other = conv.fin_end[1 - d]
        if flags & ACK and other is not None and _after(ack, other):
            conv.fin_acked[1 - d] = True

    @property
    def all_closed(self) -> bool:
        return all(c.closed for c in self.conversations.values())

    def summary(self) -> dict[str, Any]:
        convs = list(self.conversations.values())
        tcp = [c for c in convs if c.proto == "tcp"]
        return {
            "conversations": len(convs),
            "tcp": len(tcp),
            "udp": len(convs) - len(tcp),
            "handshake": any(c.handshake for c in tcp),
            "data": any(c.data for c in convs),
            "teardown": any(c.teardown for c in tcp),
            "closed": self.all_closed,
        }


class FrameSpool:
    """Frames as (timestamp ns, bytes), appended by the sniffer thread, read back
    in order as often as needed; the bytes live in an unlinked file, only the
    index (16 bytes a frame) in memory."""

    CHUNK = 1 << 20

    def __init__(self, directory: str | None = None) -> None:
        self._file = tempfile.TemporaryFile(prefix="synack-spool-", dir=directory)
        self._writer = open(self._file.fileno(), "wb", buffering=self.CHUNK, closefd=False)
        self._ts = array("q")
        self._len = array("l")

    def append(self, item: tuple[int, bytes]) -> None:
        ts, data = item
        self._writer.write(data)
        self._ts.append(ts)
        self._len.append(len(data))

    def __len__(self) -> int:
        return len(self._ts)

    def __bool__(self) -> bool:
        return len(self._ts) > 0

    def __iter__(self):
        self._writer.flush()
        fd, n = self._file.fileno(), len(self._ts)
        offset, buf, start = 0, b"", 0
        for i in range(n):
            size = self._len[i]
            if start + size > len(buf):
                buf = os.pread(fd, max(self.CHUNK, size), offset)
                start = 0
            yield self._ts[i], buf[start:start + size]
            start += size
            offset += size

    def close(self) -> None:
        self._writer.close()
        self._file.close()


class Sniffer:
    """One capture point: (namespace, interface).  open() -> start() -> stop()."""

    def __init__(self, netns: str, iface: str, outgoing_only: bool | None = None):
        self.netns = netns
        self.iface = iface
        self.outgoing_only = iface == "lo" if outgoing_only is None else outgoing_only
        self.frames = FrameSpool()
        self.tracker = Tracker()
        self.kernel_drops = 0
        self.kernel_packets = 0
        self.untimed = 0  # frames without a kernel timestamp (stamped on reading)
        self.sock: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._changed = threading.Condition()
        self.error: BaseException | None = None

    # setup ---------------------------------------------------------------------
    def open(self) -> None:
        """Open and bind the socket inside the namespace; frames queue from here on."""
        linux = _import_scapy()
        self.sock = in_netns(self.netns, self._open_socket, linux)

    def _open_socket(self, linux: Any) -> Any:
        sock = linux.L2ListenSocket(iface=self.iface, promisc=False, nofilter=1)
        raw = sock.ins
        try:
            raw.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
        except OSError:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        raw.setsockopt(SOL_PACKET, PACKET_AUXDATA, 0)
        raw.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        raw.setblocking(False)
        name = raw.getsockname()
        if name[0] != self.iface:
            raise OSError(f"sniffer bound to {name[0]!r}, not {self.iface!r}")
        raw.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)  # reading zeroes the counters
        return sock

    def start(self) -> None:
        if self.sock is None:
            self.open()
        self._thread = threading.Thread(target=self._run, name=f"sniffer:{self.iface}", daemon=True)
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("sniffer thread did not start")

    @property
    def ready(self) -> bool:
        """True once the socket is bound and being read: no frame can be missed."""
        return self._ready.is_set() and self.sock is not None

    # receiving -----------------------------------------------------------------
    def _run(self) -> None:
        try:
            raw = self.sock.ins
            poller = select.poll()
            poller.register(raw.fileno(), select.POLLIN)
            self._ready.set()
            while not self._stop.is_set():
                if poller.poll(5):
                    self._read_all(raw)
            self._read_all(raw)
        except BaseException as exc:  # surfaced by stop()
            self.error = exc
            self._ready.set()

    def _read_all(self, raw: socket.socket) -> None:
        buf = bytearray(SNAPLEN)
        view = memoryview(buf)
        ancsize = socket.CMSG_SPACE(16)
        frames = self.frames
        feed = self.tracker.feed
        outgoing_only = self.outgoing_only
        got = 0
        while True:
            try:
                n, anc, _flags, addr = raw.recvmsg_into([buf], ancsize)
            except BlockingIOError:
                break
            if outgoing_only and addr[2] != PACKET_OUTGOING:
                continue
            ts = None
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", data[:16])
                    ts = sec * 1_000_000_000 + nsec
            if ts is None:
                ts = time.time_ns()
                self.untimed += 1
            frame = bytes(view[:n])
            frames.append((ts, frame))
            feed(frame)
            got += 1
        if got:
            with self._changed:
                self._changed.notify_all()

    def _read_stats(self) -> None:
        packets, drops = struct.unpack(
            "II", self.sock.ins.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
        self.kernel_packets += packets
        self.kernel_drops += drops

    def queued(self) -> int:
        return struct.unpack("i", fcntl.ioctl(self.sock.ins.fileno(), FIONREAD, b"\0\0\0\0"))[0]

    # stopping ------------------------------------------------------------------
    def wait_closed(self, timeout: float) -> bool:
        """Wait until every TCP conversation seen so far is closed (FIN both ways
        and both FINs acknowledged, or RST)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not self.tracker.all_closed:
                left = deadline - time.monotonic()
                if left <= 0 or self.error:
                    return False
                self._changed.wait(min(left, 0.05))
        return True

    def drain(self, timeout: float = 2.0, settle: float = 0.005) -> None:
        """Wait until the kernel queue is empty and the count stopped growing."""
        deadline = time.monotonic() + timeout
        last, stable = len(self.frames), 0
        while time.monotonic() < deadline and self._thread and self._thread.is_alive():
            time.sleep(settle)
            count = len(self.frames)
            if self.queued() == 0 and count == last:
                stable += 1
                if stable >= 2:
                    return
            else:
                stable, last = 0, count

    def stop(self, drain: bool = True) -> None:
        if self.sock is None:
            return
        if drain:
            self.drain()
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        try:
            self._read_stats()
        except OSError:
            pass
        self.close()
        if self.error:
            raise self.error

    def close(self) -> None:
        self._stop.set()
        if self._thread and self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(1)
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None

    def __enter__(self) -> "Sniffer":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
