"""The wire: a delaying L2 forwarding element between client and server.

This kernel has no netem (capture-facts.md), and tbf/htb delay only above
their rate, so one-way delay, jitter and a bottleneck rate are made here: a
small process in a middle namespace reads every frame from one veth with an
AF_PACKET socket and writes it out of the other after its release time.  It
is a separate process (not a thread of the tracer) so the sniffer's GIL never
delays a release.  The client and the server stay in one subnet: the wire
has no addresses and its kernel stack sees nothing it could answer.

Release time, per direction, in the order frames arrived (FIFO, so jitter
never reorders a TCP stream, as in netem with a rate):
    tx_done  = max(arrival, link_free) + 8 * len(frame) / rate     (if --rate)
    release  = max(tx_done + delay + jitter, previous release)
jitter is uniform in [-J, +J] from a seeded RNG (repeatable per run); the
`max` keeps the order, so with jitter the mean delay is slightly above D.
"""
from __future__ import annotations

import collections
import ctypes
import json
import os
import random
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

from viz.errors import SynackError

DIRECTIONS = ("c2s", "s2c")
ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_IGNORE_OUTGOING = 23
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = 35
SO_RCVBUFFORCE = 33
SPIN = 0.0004  # seconds before a release during which the loop polls instead of sleeping
QUEUE_LIMIT = 10000  # frames per direction, like netem's 1000 but roomier
_DUR = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0}
_RATE = {"bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9}


@dataclass(frozen=True)
class WireSpec:
    """Per-direction delay/jitter in seconds, rate in bit/s (0 = unlimited)."""

    delay_c2s: float = 0.0
    delay_s2c: float = 0.0
    jitter_c2s: float = 0.0
    jitter_s2c: float = 0.0
    rate_c2s: float = 0.0
    rate_s2c: float = 0.0
    seed: int = 0

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def active(self) -> bool:
        return any((self.delay_c2s, self.delay_s2c, self.jitter_c2s, self.jitter_s2c,
                    self.rate_c2s, self.rate_s2c))


def _number(text: str, units: dict[str, float], option: str, what: str) -> float:
    m = re.fullmatch(r"\s*([-+]?\d+(?:\.\d*)?|[-+]?\.\d+)\s*([a-zµ]*)\s*", text, re.IGNORECASE)
    if not m:
        raise SynackError(f"{option} {text!r}: not a {what} (e.g. {next(iter(_examples[option]))})")
    value, unit = float(m.group(1)), m.group(2).lower()
    if unit not in units:
        raise SynackError(f"{option} {text!r}: unknown unit {unit or '(none)'!r} "
                          f"(use {', '.join(units)})")
    if value < 0:
        raise SynackError(f"{option} {text!r}: must not be negative")
    return value * units[unit]


_examples = {"--delay": ("20ms",), "--jitter": ("2ms",), "--rate": ("1mbit",)}


def parse_directional(text: str, option: str) -> tuple[float, float]:
    """`20ms` (both directions) or `c2s:30ms,s2c:10ms` -> (c2s, s2c) in SI units."""
    units, what = (_RATE, "rate") if option == "--rate" else (_DUR, "duration")
    if ":" not in text:
        v = _number(text, units, option, what)
        return v, v
    out = {d: 0.0 for d in DIRECTIONS}
    seen = set()
    for part in text.split(","):
        direction, sep, value = part.partition(":")
        direction = direction.strip().lower()
        if not sep or direction not in DIRECTIONS:
            raise SynackError(f"{option} {text!r}: unknown direction {direction!r} "
                              "(use c2s:VALUE,s2c:VALUE)")
        if direction in seen:
            raise SynackError(f"{option} {text!r}: direction {direction} given twice")
        seen.add(direction)
        out[direction] = _number(value, units, option, what)
    return out["c2s"], out["s2c"]


def spec_from(delay: str | None = None, jitter: str | None = None, rate: str | None = None,
              seed: int | None = None) -> WireSpec | None:
    """The wire for these options, or None when none was given.  Raises SynackError."""
    if delay is None and jitter is None and rate is None:
        return None
    d = parse_directional(delay, "--delay") if delay is not None else (0.0, 0.0)
    j = parse_directional(jitter, "--jitter") if jitter is not None else (0.0, 0.0)
    r = parse_directional(rate, "--rate") if rate is not None else (0.0, 0.0)
    for name, v in (("--delay", max(d)), ("--jitter", max(j))):
        if v > 10.0:
            raise SynackError(f"--{name.strip('-')} {v:g} s: more than 10 s is not a link delay")
    for direction, rj, rd in zip(DIRECTIONS, j, d):
        if rj > rd:
            raise SynackError(f"--jitter: {rj * 1e3:g} ms in {direction} exceeds the delay "
                              f"({rd * 1e3:g} ms); a frame cannot leave before it arrived")
    if rate is not None and min(v for v in r if v) < 8000:
        raise SynackError(f"--rate {rate!r}: below 8 kbit/s a 1500-byte frame takes more than 1.5 s")
    return WireSpec(d[0], d[1], j[0], j[1], r[0], r[1], 0 if seed is None else int(seed))


def preset(scenario: Any) -> WireSpec | None:
    """A scenario's built-in link shape: its `shape` field, pairs such as ("delay", "10ms")."""
    pairs = dict(getattr(scenario, "shape", ()) or ())
    return spec_from(pairs.get("delay"), pairs.get("jitter"), pairs.get("rate"), pairs.get("seed"))


# --- the forwarding loop (runs in the wire namespace, in its own process) ----------

def _open(ifname: str) -> socket.socket:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    try:
        s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    except OSError:
        pass  # checked per frame below as well
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 * 1024 * 1024)
    except OSError:
        pass
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.bind((ifname, ETH_P_ALL))
    s.setblocking(False)
    return s


class _Stop(Exception):
    pass


def forward(spec: WireSpec, c_if: str = "c0", s_if: str = "s0", out: Any = None) -> dict[str, Any]:
    """Forward frames until SIGTERM/SIGINT; return the statistics."""
    socks = {"c2s": _open(c_if), "s2c": _open(s_if)}   # c2s frames arrive on the client side
    tx = {"c2s": socks["s2c"], "s2c": socks["c2s"]}
    delay = {"c2s": spec.delay_c2s, "s2c": spec.delay_s2c}
    jitter = {"c2s": spec.jitter_c2s, "s2c": spec.jitter_s2c}
    rate = {"c2s": spec.rate_c2s, "s2c": spec.rate_s2c}
    rng = {d: random.Random(f"{spec.seed}:{d}") for d in DIRECTIONS}
    queues: dict[str, collections.deque] = {d: collections.deque() for d in DIRECTIONS}
    last_release = {d: 0.0 for d in DIRECTIONS}
    link_free = {d: 0.0 for d in DIRECTIONS}
    count = {d: 0 for d in DIRECTIONS}
    dropped = {d: 0 for d in DIRECTIONS}
    lateness: list[float] = []
    by_fd = {s.fileno(): d for d, s in socks.items()}
    ancsize = socket.CMSG_SPACE(16)

    def on_signal(signum: int, frame: Any) -> None:
        raise _Stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if out is not None:
        out.write("ready\n")
        out.flush()
    fds = list(by_fd)
    try:
        while True:
            now = time.time()
            heads = [q[0][0] for q in queues.values() if q]
            timeout = max(0.0, min(heads) - now) if heads else 1.0
            # waking from select is ~100-200 us late on this machine: sleep to
            # just before the release, then poll without sleeping
            readable, _, _ = select.select(fds, [], [], timeout - SPIN if timeout > SPIN else 0.0)
            for fd in readable:
                d = by_fd[fd]
                sock = socks[d]
                while True:
                    try:
                        frame, anc, _fl, addr = sock.recvmsg(65536, ancsize)
                    except BlockingIOError:
                        break
                    if addr[2] == PACKET_OUTGOING:
                        continue
                    arrival = None
                    for level, kind, data in anc:
                        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                            sec, nsec = struct.unpack("qq", data[:16])
                            arrival = sec + nsec * 1e-9
                    if arrival is None:
                        arrival = time.time()
                    if len(queues[d]) >= QUEUE_LIMIT:
                        dropped[d] += 1
                        continue
                    t = arrival
                    if rate[d]:
                        t = max(t, link_free[d]) + 8 * len(frame) / rate[d]
                        link_free[d] = t
                    t += delay[d]
                    if jitter[d]:
                        t += rng[d].uniform(-jitter[d], jitter[d])
                    t = max(t, last_release[d])
                    last_release[d] = t
                    queues[d].append((t, frame))
            now = time.time()
            for d, q in queues.items():
                while q and q[0][0] <= now:
                    due, frame = q.popleft()
                    try:
                        tx[d].send(frame)
                        count[d] += 1
                        lateness.append(time.time() - due)
                    except OSError:
                        dropped[d] += 1
    except _Stop:
        pass
    finally:
        for s in socks.values():
            s.close()
    lateness.sort()
    n = len(lateness)
    return {"forwarded": count, "dropped": dropped, "queued_at_stop": {d: len(q) for d, q in queues.items()},
            "late_median_us": round(lateness[n // 2] * 1e6, 1) if n else None,
            "late_p99_us": round(lateness[min(n - 1, int(n * 0.99))] * 1e6, 1) if n else None,
            "late_max_us": round(lateness[-1] * 1e6, 1) if n else None}


def _die_with_parent() -> None:
    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def main(argv: list[str]) -> int:
    """`python3 -m tracer.wire NETNS_PATH SPEC_JSON PARENT_PID`: joins the namespace, forwards."""
    from tracer.hosts import setns

    path, spec_json, parent = argv[0], argv[1], int(argv[2])
    _die_with_parent()
    if os.getppid() != parent:
        return 1  # the tracer died before we set the death signal
    setns(path)
    try:  # the traced programs share 2 cores with us: run first when a release is due
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    except (OSError, AttributeError):
        pass
    spec = WireSpec(**json.loads(spec_json))
    stats = forward(spec, out=sys.stdout)
    sys.stdout.write(json.dumps(stats) + "\n")
    sys.stdout.flush()
    return 0


# --- the tracer's side ------------------------------------------------------------

class Wire:
    """Starts the forwarding process in `netns` and stops it (idempotent)."""

    def __init__(self, netns_path: str, spec: WireSpec):
        self.netns_path = netns_path
        self.spec = spec
        self.proc: subprocess.Popen | None = None
        self.stats: dict[str, Any] | None = None

    def start(self, timeout: float = 5.0) -> None:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tracer.wire", self.netns_path, json.dumps(self.spec.as_json()),
             str(os.getpid())],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env, start_new_session=True, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if line.strip() != "ready":
            self.stop()
            raise SynackError(f"the delay element (wire) did not start: "
                              f"{(self.err or 'no ready signal').strip().splitlines()[-1:]}")

    err = ""

    def stop(self) -> dict[str, Any] | None:
        p, self.proc = self.proc, None
        if p is None:
            return self.stats
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            out, self.err = p.communicate(timeout=3)
        except subprocess.TimeoutExpired:
            p.kill()
            out, self.err = p.communicate()
        for line in reversed((out or "").splitlines()):
            if line.startswith("{"):
                try:
                    self.stats = json.loads(line)
                except ValueError:
                    pass
                break
        return self.stats


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
