"""The kernel's view of each traced TCP connection, sampled while the programs run.

A capture shows what went on the wire, not why: the congestion window,
ssthresh and the congestion-control state live in the sender's kernel.
synack runs the sender, so it asks the kernel, from a separate process (the
sampler: it must not take the sniffer's GIL) that holds one socket in each
host's network namespace:

- sock_diag (NETLINK_SOCK_DIAG, INET_DIAG_INFO + INET_DIAG_CONG): every
  TCP socket of the namespace with its `struct tcp_info` (cwnd, ssthresh,
  unacked, srtt, rttvar, rto, ca_state, snd_wnd, rcv_wnd, ...) and its
  algorithm, polled in a loop (well above 1 kHz; a sample is kept when a
  value changed).  Works without root, inside a user namespace.
- tracefs (root only), in addition: `tcp:tcp_probe` fires on every segment
  a socket receives (so per ACK at the sender) with cwnd, ssthresh, snd_wnd,
  srtt, rcv_wnd and snd_nxt - snd_una, and `tcp:tcp_cong_state_set` on every
  ca_state change.  The events of all namespaces share one ring; those of
  this trace's sockets are picked by the socket cookie sock_diag reports.
  The ring is a private instance under a private tracefs mount of the
  sampler, removed when it ends.

Every sample carries CLOCK_REALTIME nanoseconds, the frames' clock (the
tracefs ring runs on CLOCK_MONOTONIC, shifted by the offset read when the
sampler starts).  The result is the capture's `kstate` metadata
(captures/README.md), so the file alone redraws the figures.
"""
from __future__ import annotations

import ctypes
import marshal
import os
import re
import signal
import socket
import struct
import sys
import threading
import time
TYPE_CHECKING = False  # typing costs the sampler's start ~10 ms of CPU
if TYPE_CHECKING:
    from typing import Any

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLMSG_DONE, NLMSG_ERROR = 3, 2
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
INET_DIAG_INFO, INET_DIAG_CONG = 2, 4
# every state with a full socket: not LISTEN (10) nor TIME_WAIT (6), which have no tcp_info, nor
# SYN_RECV (3: a request sock), whose bit alone makes the kernel walk the listening hash as well
STATES = sum(1 << s for s in (1, 2, 4, 5, 7, 8, 9, 11))
CA_STATES = ("Open", "Disorder", "CWR", "Recovery", "Loss")
TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
              7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 11: "CLOSING"}
POLL_HZ = 1250  # sock_diag lookup rounds per second when it is the only source (>= 1 kHz)
POLL_HZ_TRACEFS = 100  # with tcp_probe, which has cwnd, ssthresh, srtt and snd_wnd at every ACK
DUMP_GAP = 0.1  # seconds between full dumps, which find new sockets (each walks the kernel's whole
DUMP_GAP_IDLE = 0.01  # established hash, ~1.3 ms of a core); while none is known: ~10 ms late at worst
DUMP_GAP_TRACEFS = 1.0  # with tracefs, inet_sock_set_state names each new connection: dumps only in case
IDLE_GAP = 0.005  # the lookup loop's pace while it knows no connection (the dumps or tracefs find them)
# The columns of a connection's samples; None where the source does not say (tcp_probe has
# no rto/rttvar/unacked; ca_state comes from tcp_cong_state_set).
FIELDS = ("ts", "src", "ca_state", "cwnd", "ssthresh", "unacked", "outstanding", "srtt_us", "rttvar_us",
          "rto_us", "snd_wnd", "rcv_wnd", "mss", "retrans", "lost", "sacked", "state")
SOURCES = ("sock_diag", "tcp_probe", "tcp_cong_state_set")
TRACE_INSTANCE_PREFIX = "synack-kstate-"


# --- sock_diag (pure parsing + one dump) ----------------------------------------------

def diag_request(family: int, one: tuple[str, int, str, int, int] | None = None) -> bytes:
    """A dump of every TCP socket of the namespace, or the lookup of `one` (src, sport, dst,
    dport, cookie): a dump walks the kernel's global hash tables (milliseconds), a lookup is one
    hash probe (microseconds), so the poll loop looks up the sockets a dump found."""
    sockid = b"\0" * 48
    if one is not None:
        src, sport, dst, dport, cookie = one
        if cookie is None:  # INET_DIAG_NOCOOKIE: whichever socket has this 4-tuple
            cookie = 0xFFFFFFFF_FFFFFFFF
        sockid = (struct.pack(">HH", sport, dport) + socket.inet_pton(family, src).ljust(16, b"\0")
                  + socket.inet_pton(family, dst).ljust(16, b"\0")
                  + struct.pack("=III", 0, cookie & 0xFFFFFFFF, cookie >> 32))
    req = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, (1 << (INET_DIAG_INFO - 1)) |
                      (1 << (INET_DIAG_CONG - 1)), 0, STATES) + sockid
    flags = NLM_F_REQUEST | (NLM_F_DUMP if one is None else 0)
    return struct.pack("=IHHII", 16 + len(req), SOCK_DIAG_BY_FAMILY, flags, 1, 0) + req


def _addr(family: int, raw: bytes) -> str:
    return socket.inet_ntop(family, raw[:4] if family == socket.AF_INET else raw[:16])


def parse_diag(buf: bytes) -> tuple[list[tuple[Any, ...]], bool]:
    """One recv() of a dump -> ([(cookie, family, src, sport, dst, dport, state, cc, info)], done)."""
    out = []
    off = 0
    done = False
    while off + 16 <= len(buf):
        length, kind = struct.unpack_from("=IH", buf, off)
        if length < 16:
            break
        if kind in (NLMSG_DONE, NLMSG_ERROR):
            done = True
        elif kind == SOCK_DIAG_BY_FAMILY and length >= 16 + 72:
            m = off + 16
            family, state = buf[m], buf[m + 1]
            sport, dport = struct.unpack_from(">HH", buf, m + 4)
            src, dst = _addr(family, buf[m + 8:m + 24]), _addr(family, buf[m + 24:m + 40])
            c0, c1 = struct.unpack_from("=II", buf, m + 44)
            info, cc = b"", None
            a = m + 72
            end = off + length
            while a + 4 <= end:
                alen, atype = struct.unpack_from("=HH", buf, a)
                if alen < 4:
                    break
                if atype == INET_DIAG_INFO:
                    info = bytes(buf[a + 4:a + alen])
                elif atype == INET_DIAG_CONG:
                    cc = bytes(buf[a + 4:a + alen]).split(b"\0", 1)[0].decode(errors="replace")
                a += (alen + 3) & ~3
            out.append((c0 | c1 << 32, family, src, sport, dst, dport, state, cc, info))
        off += (length + 3) & ~3
    return out, done


def _u32(info: bytes, offset: int) -> int | None:
    return struct.unpack_from("=I", info, offset)[0] if len(info) >= offset + 4 else None


def info_key(info: bytes, state: int) -> bytes:
    """The bytes of struct tcp_info that info_fields reads (not its clocks, tcpi_last_*, which
    change every millisecond): equal keys, equal samples, so most lookups are never parsed."""
    return bytes((state,)) + info[0:2] + info[8:12] + info[16:36] + info[68:84] + info[100:104] + info[228:236]


def info_fields(info: bytes, state: int) -> tuple[Any, ...]:
    """struct tcp_info (linux/tcp.h) -> the FIELDS after ts and src."""
    if len(info) < 104:
        return (None,) * (len(FIELDS) - 2)
    ca_state = info[1]
    mss, unacked = _u32(info, 16), _u32(info, 24)
    return (ca_state, _u32(info, 80), _u32(info, 76), unacked, unacked * mss if unacked is not None else None,
            _u32(info, 68), _u32(info, 72), _u32(info, 8), _u32(info, 228), _u32(info, 232), mss,
            _u32(info, 100), _u32(info, 32), _u32(info, 28), state)


class Diag:
    """A sock_diag socket made inside one namespace (a socket keeps the namespace it was made in)."""

    def __init__(self, family: int = socket.AF_INET) -> None:
        self.sock, self.dump_sock = (socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                                   NETLINK_SOCK_DIAG) for _ in range(2))
        self.sock.bind((0, 0))
        self.dump_sock.bind((0, 0))
        self.family = family
        self.request = diag_request(family)
        self.known: dict[int, bytes] = {}  # cookie -> its lookup request

    def dump(self) -> list[tuple[Any, ...]]:
        """Every socket (slow: the dump thread's); remembers each for `poll` (the poll thread's)."""
        rows = []
        self.dump_sock.send(self.request)
        while True:
            got, done = parse_diag(self.dump_sock.recv(1 << 16))
            rows += got
            if done:
                break
        self.remember(rows)
        return rows

    def remember(self, rows: list[tuple[Any, ...]]) -> None:
        for r in rows:  # a lookup by 4-tuple may answer with a listener: not a connection
            if r[0] not in self.known and (1 << r[6]) & STATES:
                self.known[r[0]] = diag_request(self.family, (r[2], r[3], r[4], r[5], r[0]))

    def find(self, src: str, sport: int, dst: str, dport: int) -> None:
        """Look up a connection a tracepoint named (it may be another namespace's: not found)."""
        self.sock.send(diag_request(self.family, (src, sport, dst, dport, None)))
        self.remember(parse_diag(self.sock.recv(1 << 16))[0])

    def poll(self) -> list[tuple[Any, ...]]:
        """The known sockets, each looked up; one closed or in TIME_WAIT is looked up no more."""
        rows = []
        for cookie, req in list(self.known.items()):
            self.sock.send(req)
            got, _ = parse_diag(self.sock.recv(1 << 16))
            if not got or got[0][6] in (6, 7):
                self.known.pop(cookie, None)
            rows += got
        return rows


# --- tracefs (pure parsing) -----------------------------------------------------------

_EVENT = re.compile(r"\s(\d+)\.(\d+): (tcp_probe|tcp_cong_state_set): (.*)$")
_KV = re.compile(r"(\w+)=(\S+)")


def parse_event(line: str) -> tuple[int, str, dict[str, str]] | None:
    """A trace_pipe line -> (monotonic ns, event, fields), or None for other lines."""
    m = _EVENT.search(line)
    if not m:
        return None
    sec, frac = m.group(1), m.group(2)
    ns = int(sec) * 1_000_000_000 + int(frac.ljust(9, "0")[:9])
    return ns, m.group(3), dict(_KV.findall(m.group(4)))


# --- the sampler process ----------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET, CLONE_NEWNS = 0x40000000, 0x00020000
MS_REC, MS_PRIVATE = 0x4000, 0x40000


def _setns(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns({path})")
    finally:
        os.close(fd)


def _tracefs() -> tuple[str, str]:
    """A private tracefs mount and a fresh instance in it: (instance dir, mount point)."""
    if _libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    if _libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise OSError(ctypes.get_errno(), "mount --make-rprivate /")
    point = "/sys/kernel/tracing"
    if not os.path.isdir(os.path.join(point, "instances")):
        if _libc.mount(b"nodev", point.encode(), b"tracefs", 0, None) != 0:
            raise OSError(ctypes.get_errno(), "mount tracefs")
    for old in os.listdir(os.path.join(point, "instances")):  # a SIGKILLed sampler's instance
        pid = old.removeprefix(TRACE_INSTANCE_PREFIX)
        if old.startswith(TRACE_INSTANCE_PREFIX) and pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            _remove_instance(os.path.join(point, "instances", old))
    inst = os.path.join(point, "instances", f"{TRACE_INSTANCE_PREFIX}{os.getpid()}")
    os.mkdir(inst)
    try:
        for name, value in (("tracing_on", "0"), ("trace_clock", "mono"), ("buffer_size_kb", "4096"),
                            # per ACK: segments without data (the sender's view); not every data
                            # segment a receiver gets, which halves the events of a bulk transfer
                            ("events/tcp/tcp_probe/filter", "data_len == 0"),
                            ("events/tcp/tcp_probe/enable", "1"),
                            ("events/tcp/tcp_cong_state_set/enable", "1"),
                            # a connection entering ESTABLISHED: looked up at once, no dump needed
                            ("events/sock/inet_sock_set_state/filter", "protocol == 6 && newstate == 1"),
                            ("events/sock/inet_sock_set_state/enable", "1"), ("tracing_on", "1")):
            with open(os.path.join(inst, name), "w") as f:
                f.write(value)
    except OSError:
        _remove_instance(inst)
        raise
    return inst, point


def _remove_instance(inst: str) -> None:
    for name in ("tracing_on", "events/tcp/enable", "events/sock/enable"):
        try:
            with open(os.path.join(inst, name), "w") as f:
                f.write("0")
        except OSError:
            pass
    for _ in range(50):
        try:
            os.rmdir(inst)
            return
        except FileNotFoundError:
            return
        except OSError:  # busy while a reader still has trace_pipe open
            time.sleep(0.02)


class _Conn:
    __slots__ = ("host", "cookie", "key", "cc", "rows", "last")

    def __init__(self, host: str, cookie: int, key: tuple, cc: str | None):
        self.host, self.cookie, self.key, self.cc = host, cookie, key, cc
        self.rows: list[tuple] = []
        self.last: bytes | None = None  # info_key of the last sample


_ESTABLISHED = re.compile(rb"inet_sock_set_state: family=AF_INET6? protocol=IPPROTO_TCP sport=(\d+) dport=(\d+) "
                          rb"saddr=(\S+) daddr=(\S+) saddrv6=(\S+) daddrv6=(\S+)")


def established(chunk: bytes, family: int) -> list[tuple[str, int, str, int]]:
    """The connections (local address, port, remote address, port) trace_pipe text says entered
    ESTABLISHED (tcp:inet_sock_set_state, filtered to that)."""
    out = []
    for m in _ESTABLISHED.finditer(chunk):
        sport, dport, s4, d4, s6, d6 = m.groups()
        src, dst = (s4, d4) if family == socket.AF_INET else (s6, d6)
        out.append((src.decode(), int(sport), dst.decode(), int(dport)))
    return out


class _Tracefs:
    """The tracefs instance's trace_pipe, read by a thread while the programs run: the text is kept
    to be parsed at the end, but new connections are picked out at once, for the lookups."""

    def __init__(self, inst: str, family: int) -> None:
        self.inst = inst
        self.family = family
        self.raw: list[bytes] = []
        self.new: list[tuple[str, int, str, int]] = []  # appended here, taken by the poll loop
        self.done = threading.Event()
        self.pipe = open(os.path.join(inst, "trace_pipe"), "rb", buffering=0)
        os.set_blocking(self.pipe.fileno(), False)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _chunk(self) -> bytes:
        try:
            return self.pipe.read(1 << 20) or b""
        except BlockingIOError:
            return b""

    def _read(self) -> None:
        tail = b""
        while not self.done.is_set():
            chunk = self._chunk()
            if not chunk:
                self.done.wait(0.02)  # trace_pipe polls readable when empty: never spin on the GIL
                continue
            self.raw.append(chunk)
            data = tail + chunk
            cut = data.rfind(b"\n") + 1  # whole lines only: a read may end inside one
            if b"inet_sock_set_state" in data[:cut]:
                self.new += established(data[:cut], self.family)
            tail = data[cut:]

    def close(self) -> list[bytes]:
        """Stop the events and read what the ring still holds (every event is in it: the programs
        have ended), without waiting for a timeout."""
        self.done.set()
        self.thread.join(5)
        try:
            with open(os.path.join(self.inst, "tracing_on"), "w") as f:
                f.write("0")
        except OSError:
            pass
        while True:
            chunk = self._chunk()
            if not chunk:
                break
            self.raw.append(chunk)
        self.pipe.close()
        return self.raw


def sample(hosts: dict[str, str], want_tracefs: bool, stop: threading.Event,
           ready: Any = None, family: int = socket.AF_INET) -> tuple[dict[str, Any], Any]:
    """Poll every host until `stop`; return the `kstate` metadata and what to call once it is
    written (removing the tracefs instance takes the kernel tens of milliseconds)."""
    diags = {}
    for name, path in hosts.items():
        box: dict[str, Any] = {}

        def make(path: str = path, box: dict = box) -> None:
            try:
                _setns(path)
                box["d"] = Diag(family)
            except OSError as exc:
                box["e"] = exc
        t = threading.Thread(target=make)
        t.start()
        t.join()
        if "e" in box:
            raise box["e"]
        diags[name] = box["d"]
    source, note = "sock_diag", None
    inst = None
    offset = time.time_ns() - time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    if want_tracefs:
        try:
            inst, _ = _tracefs()
            source = "tcp_probe+sock_diag"
        except OSError as exc:
            note = f"tracefs unavailable ({os.strerror(exc.errno) if exc.errno else exc}): sampled through sock_diag"
    else:
        note = "not root: sampled through sock_diag (tcp_probe needs tracefs)"
    tracefs = _Tracefs(inst, family) if inst else None
    if ready:
        ready()
    conns: dict[tuple[str, int], _Conn] = {}
    polls = 0
    active = 0.0
    dumping_done = threading.Event()

    def dumper() -> None:  # its syscalls release the GIL: the lookups go on meanwhile
        while not stop.is_set():
            for d in diags.values():
                d.dump()
            idle = not any(d.known for d in diags.values())
            stop.wait(DUMP_GAP_TRACEFS if tracefs else DUMP_GAP_IDLE if idle else DUMP_GAP)
        dumping_done.set()
    threading.Thread(target=dumper, daemon=True).start()
    gap = 1.0 / (POLL_HZ_TRACEFS if tracefs else POLL_HZ)
    due = time.monotonic()
    try:
        while True:
            last_round = stop.is_set() and dumping_done.wait(1.0)
            round_start = time.monotonic()
            while tracefs and tracefs.new:
                one = tracefs.new.pop(0)
                for d in diags.values():
                    d.find(*one)
            for name, d in diags.items():
                now = time.time_ns()
                for cookie, fam, src, sport, dst, dport, state, cc, info in d.poll():
                    c = conns.get((name, cookie))
                    if c is None:
                        c = conns[(name, cookie)] = _Conn(name, cookie, (src, sport, dst, dport), cc)
                    elif cc and not c.cc:
                        c.cc = cc
                    key = info_key(info, state)
                    if key != c.last:
                        c.last = key
                        c.rows.append((now, 0) + info_fields(info, state))
            if last_round:
                break
            idle = not any(d.known for d in diags.values()) and not (tracefs and tracefs.new)
            due += IDLE_GAP if idle else gap  # a steady rate: one late round is made up, a long stall is not
            wait = due - time.monotonic()
            if wait > 0:
                stop.wait(wait)
            elif wait < -10 * gap:
                due = time.monotonic()
            if not idle:  # the rate counts rounds with connections to look up
                polls += 1
                active += time.monotonic() - round_start
    finally:
        raw = tracefs.close() if tracefs else []
        seconds = active
    events = []
    ours = {b"%x" % c.cookie for c in conns.values()}
    lines = 0
    for line in b"".join(raw).split(b"\n"):
        lines += 1
        at = line.find(b" sock_cookie=")  # the ring holds every namespace's ACKs: skip others' unparsed
        if at >= 0 and line[at + 13:].split(b" ", 1)[0] not in ours:
            continue
        ev = parse_event(line.decode(errors="replace"))
        if ev is not None:
            events.append(ev)
    if events:
        _merge_events(conns, events, offset)
    result = {"source": source, "note": note, "polls": polls, "trace_lines": lines,
              "poll_hz": round(polls / seconds) if seconds > 0.01 else 0,
              "fields": list(FIELDS), "ca_states": list(CA_STATES), "sources": list(SOURCES),
              "conns": [_conn_json(c) for c in sorted(conns.values(), key=lambda c: (c.rows[0][0] if c.rows
                                                                                     else 0, c.host))]}
    return result, (lambda: _remove_instance(inst)) if inst else (lambda: None)


def _merge_events(conns: dict, events: list, offset: int) -> None:
    """tcp_probe and tcp_cong_state_set events of this trace's sockets, as rows."""
    by_cookie = {c.cookie: c for c in conns.values()}
    states: list = []
    for ns, kind, f in events:
        if kind == "tcp_probe":
            try:
                c = by_cookie.get(int(f.get("sock_cookie", "x"), 16))
            except ValueError:
                continue
            if c is None:
                continue
            try:
                nxt, una = int(f["snd_nxt"], 16), int(f["snd_una"], 16)
                c.rows.append((ns + offset, 1, None, int(f["snd_cwnd"]), int(f["ssthresh"]), None,
                               (nxt - una) & 0xFFFFFFFF, int(f["srtt"]), None, None, int(f["snd_wnd"]),
                               int(f["rcv_wnd"]), None, None, None, None, None))
            except (KeyError, ValueError):
                continue
        else:
            states.append((ns + offset, f))
    # tcp_cong_state_set prints no socket cookie: its 4-tuple within the socket's lifetime says whose
    spans = {}
    for c in conns.values():
        if c.rows:
            src, sport, dst, dport = c.key
            spans.setdefault((src, sport, dst, dport), []).append((c.rows[0][0] - 1_000_000,
                                                                   c.rows[-1][0] + 1_000_000, c))
    for ts, f in states:
        try:
            key = (f["saddr"] if f.get("family") == "AF_INET" else f["saddrv6"], int(f["sport"]),
                   f["daddr"] if f.get("family") == "AF_INET" else f["daddrv6"], int(f["dport"]))
            st = int(f["cong_state"])
        except (KeyError, ValueError):
            continue
        for lo, hi, c in spans.get(key, ()):
            if lo <= ts <= hi:
                c.rows.append((ts, 2, st) + (None,) * (len(FIELDS) - 3))
                break
    for c in conns.values():
        c.rows.sort(key=lambda r: (r[0], r[1]))


def _conn_json(c: _Conn) -> dict[str, Any]:
    src, sport, dst, dport = c.key
    t0 = c.rows[0][0] if c.rows else 0
    cols: dict[str, list] = {k: [] for k in FIELDS}
    for r in c.rows:
        for k, v in zip(FIELDS, r):
            cols[k].append(v)
    cols["ts"] = [v - t0 for v in cols["ts"]]
    return {"host": c.host, "cc": c.cc, "src": src, "sport": sport, "dst": dst, "dport": dport,
            "t0_s": t0 // 1_000_000_000, "t0_ns": t0 % 1_000_000_000, "samples": cols}


def main(argv: list[str]) -> int:
    """`python tracer/kstate.py OUT [--tracefs] NAME=NETNS_PATH...`: sample until SIGTERM, write OUT."""
    out = argv[0]
    want = "--tracefs" in argv
    family = socket.AF_INET6 if "--ipv6" in argv else socket.AF_INET
    hosts = dict(a.split("=", 1) for a in argv[1:] if "=" in a)
    stop = threading.Event()
    os.nice(5)  # when the CPUs are short, the programs keep them and the samples thin out
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tracer = os.getppid()

    def orphaned() -> None:  # a SIGKILLed trace cannot stop its sampler (its own session): it stops itself
        while not stop.wait(0.25):
            if os.getppid() != tracer:
                stop.set()
    threading.Thread(target=orphaned, daemon=True).start()

    def ready() -> None:
        sys.stdout.write("ready\n")
        sys.stdout.flush()
    cleanup = None
    try:
        result, cleanup = sample(hosts, want, stop, ready, family)
    except OSError as exc:
        result = {"error": f"{exc.strerror or exc}"}
    result["cpu_ms"] = round(time.process_time() * 1000)  # what sampling cost, all threads (bench_cc)
    tmp = out + ".part"
    with open(tmp, "wb") as f:  # marshal: the same interpreter reads it; json's import costs ~10 ms of CPU
        marshal.dump(result, f)
    os.replace(tmp, out)
    try:
        sys.stdout.write("done\n")  # the tracer reads the file now; the instance goes meanwhile
        sys.stdout.flush()
    except OSError:  # no tracer left to read it
        pass
    if cleanup:
        cleanup()
    return 0


# --- the tracer's side ------------------------------------------------------------------

class Sampler:
    """The sampler process of one trace: start() before the programs, stop() after them."""

    proc: Any = None

    def __init__(self, hosts: Any, workdir: str):
        from tracer import hosts as hostmod
        from tracer import userns

        self.out = os.path.join(workdir, "kstate.marshal")
        paths = [f"{h.name}={os.path.join(hostmod.NETNS_RUN_DIR, h.netns)}"
                 for h in hosts.hosts.values() if h.role in ("client", "server")]
        self.tracefs = os.geteuid() == 0 and not userns.inside()
        # Run as a script, -S (no site-packages) -P (not its folder on sys.path): the sampler's
        # start is most of its CPU time, and runpy and site cost half of it
        self.argv = [sys.executable, "-S", "-P", os.path.abspath(__file__), self.out,
                     *(["--tracefs"] if self.tracefs else []),
                     *(["--ipv6"] if hosts.ipv6 else []),
                     *paths]

    def start(self, timeout: float = 5.0) -> None:
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the process (it takes ~0.1 s to be ready: launch early, wait_ready late)."""
        import subprocess

        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.errors = open(self.out + ".err", "w+")
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                     stderr=self.errors, env=env, start_new_session=True)

    def wait_ready(self, timeout: float = 5.0) -> None:
        import select
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if r:
            self.proc.stdout.readline()

    def signal_stop(self) -> None:
        """Ask it to take its last samples and write them (stop() collects them, later)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> dict[str, Any] | None:
        """Its `kstate` metadata once written, or None when it failed (the capture goes on); the
        process ends meanwhile (kill() waits for it)."""
        import select

        if self.proc is None:
            return None
        self.signal_stop()
        end = time.monotonic() + 10
        while self.proc.stdout:
            r, _, _ = select.select([self.proc.stdout], [], [], max(0.0, end - time.monotonic()))
            line = self.proc.stdout.readline() if r else b""
            if not line or line.strip() == b"done":  # written, ended, or 10 s without a word
                break
        try:
            with open(self.out, "rb") as f:
                data = marshal.load(f)
        except (OSError, ValueError, EOFError, TypeError):
            data = {}
        if not isinstance(data, dict):
            data = {}
        if "conns" not in data:
            self.errors.seek(0)
            rc = self.proc.poll()
            why = ("no answer within 10 s" if rc is None else f"ended by signal {-rc} without output" if rc < 0
                   else f"exit status {rc}, no output")
            last = (self.errors.read().strip().splitlines() or [data.get("error") or why])[-1]
            print(f"synack: warning: the kernel TCP state sampler failed ({last[:200]}); "
                  "the capture has no kstate", file=sys.stderr)
            return None
        return data

    def kill(self) -> None:
        """Wait for the process to remove its tracefs instance and end (an interrupted trace's is
        told to stop first); killed only when it does not."""
        import subprocess

        if self.proc is not None:
            self.signal_stop()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            if self.proc.stdout:
                self.proc.stdout.close()
        if getattr(self, "errors", None) is not None:
            self.errors.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
