"""Expectations about a traced client and server, decided from the capture alone.

A course checks a student's programs by what they did on the wire and at the
socket API: who closed first, whether the client half-closed before its last
read, whether a reset threw away unread data, whether the whole message
arrived, whether a UDP client retried after its timeout.  `Trace` holds the
facts (the analysis, the whole payloads, the run's exit statuses) and answers
questions about them; `EXPECTATIONS` is the vocabulary of the TOML specs and
of `Trace.expect`, each entry a function returning a `Verdict` with the
frames and socket calls that decided it, so a failure can be drawn as a
ladder with those arrows highlighted.  Pure: no files beyond the capture the
caller already read, no processes; the running is tracer.check's job.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from viz.errors import SynackError
from viz.follow import Bytes, stream_bytes
from viz.model import Analysis, Flag, Packet, SocketCall, Stream, TcpState

SIDES = ("client", "server")


class SpecError(SynackError):
    """A bad expectation name or value (exit status 2)."""


@dataclass(frozen=True)
class RunInfo:
    """What the capture does not say about a run: exit statuses and why it ended."""

    client_status: int | None = None  # None: killed at the timeout, or never started
    server_status: int | None = None
    reason: str | None = None  # the tracer's incomplete_reason
    timeout: float | None = None


@dataclass(frozen=True)
class Verdict:
    """One expectation decided: what was seen, and the frames and calls that show it."""

    name: str
    expected: Any
    passed: bool
    detail: str
    frames: tuple[int, ...] = ()
    calls: tuple[SocketCall, ...] = ()

    @property
    def mark(self) -> str:
        return "✓" if self.passed else "✗"

    def as_json(self) -> dict[str, Any]:
        return {"expectation": self.name, "expected": self.expected, "passed": self.passed,
                "detail": self.detail, "frames": list(self.frames),
                "calls": [call_text(c) for c in self.calls]}


def call_text(c: SocketCall) -> str:
    out = f"{c.host}: {c.call}({c.args})"
    if c.phase == "return" and (c.error or c.result):
        out += f" -> {c.error or c.result}"
    return out


def _preview(data: bytes, limit: int = 40) -> str:
    text = repr(data[:limit])
    return text + ("..." if len(data) > limit else "")


def _size(text: str) -> int | None:
    text = (text or "").strip()
    if text.isdigit():
        return int(text)
    if text.startswith(("b'", 'b"')):
        import ast
        try:
            return len(ast.literal_eval(text))
        except (ValueError, SyntaxError):
            return None
    return None


class Trace:
    """A traced exchange: the capture's analysis, its whole payloads, and the run's statuses.

    The properties are the facts a course asserts on (`trace.closed_first ==
    "client"`); `expect(name, value)` decides one vocabulary entry.
    """

    def __init__(self, analysis: Analysis, payloads: dict[int, bytes] | None = None,
                 run: RunInfo | None = None, message: bytes | None = None, base: str | None = None):
        self.analysis = analysis
        self.payloads = payloads if payloads is not None else {p.frame: p.payload for p in analysis.packets}
        self.run = run or RunInfo()
        self.message = message  # what the run told the client to send (SYNACK_MESSAGE)
        self.base = base  # folder that {file = ...} values are relative to

    # -- streams ---------------------------------------------------------------
    @property
    def connections(self) -> tuple[Stream, ...]:
        """TCP streams that start with the client's SYN, in order."""
        out = []
        for s in self.analysis.streams:
            if s.proto != "tcp" or not s.frames:
                continue
            p = self.analysis.packet(s.frames[0])
            if p.flags & Flag.SYN and not p.flags & Flag.ACK:
                out.append(s)
        return tuple(out)

    @property
    def conversations(self) -> tuple[Stream, ...]:
        return tuple(s for s in self.analysis.streams if s.proto == "udp")

    def packets(self, s: Stream) -> list[Packet]:
        return [self.analysis.packet(f) for f in s.frames]

    def side_of(self, s: Stream, p: Packet) -> str:
        return "client" if (p.src, p.sport) == (s.client.addr, s.client.port) else "server"

    def established_at(self, s: Stream) -> int | None:
        """The frame after which the server side was ESTABLISHED (the handshake's ACK)."""
        for sc in s.states:
            if sc.side == "server" and sc.after is TcpState.ESTABLISHED:
                return sc.frame
        return None

    def handshake(self, s: Stream) -> tuple[int, ...]:
        out = []
        for p in self.packets(s)[:6]:
            if p.flags & Flag.SYN or p.frame == self.established_at(s):
                out.append(p.frame)
        return tuple(out)

    def first_close(self, s: Stream) -> Packet | None:
        """The stream's first FIN or RST."""
        for p in self.packets(s):
            if p.flags & (Flag.FIN | Flag.RST) and not p.flags & Flag.SYN:
                return p
        return None

    def resets(self, s: Stream | None = None) -> tuple[Packet, ...]:
        streams = [s] if s else self.connections
        return tuple(p for st in streams for p in self.packets(st) if p.flags & Flag.RST)

    def bytes(self, s: Stream, side: str) -> Bytes:
        return stream_bytes(self.analysis, s, self.payloads, side == "client")

    def calls_of(self, host: str, names: set[str] | None = None) -> tuple[SocketCall, ...]:
        return tuple(c for c in self.analysis.calls
                     if c.host == host and (names is None or c.call in names))

    def calls_at(self, frames) -> tuple[SocketCall, ...]:
        fs = set(frames)
        return tuple(c for c in self.analysis.calls if fs.intersection(c.frames or ((c.frame,) if c.frame else ())))

    @property
    def dropped(self) -> set[int]:
        """Frames the tracer's fault rules dropped (metadata `dropped`, same timestamps)."""
        ts = [d.get("ts") for d in (self.analysis.capture.meta or {}).get("dropped") or ()
              if isinstance(d, dict) and isinstance(d.get("ts"), (int, float))]
        return {p.frame for p in self.analysis.packets if any(abs(p.ts - t) < 1e-6 for t in ts)}

    # -- the facts a test asserts on ----------------------------------------------
    @property
    def established(self) -> bool:
        return any(self.established_at(s) for s in self.connections)

    @property
    def refused(self) -> bool:
        return any(self.established_at(s) is None and any(
            p.flags & Flag.RST and self.side_of(s, p) == "server" for p in self.packets(s))
            for s in self.connections)

    @property
    def closed_first(self) -> str | None:
        """"client" or "server": who sent the first connection's first FIN (or RST)."""
        for s in self.connections:
            p = self.first_close(s)
            if p is not None:
                return self.side_of(s, p)
        return None

    @property
    def reset(self) -> bool:
        return bool(self.resets())

    @property
    def time_wait(self) -> str | None:
        for s in self.connections:
            for sc in s.states:
                if sc.after is TcpState.TIME_WAIT:
                    return sc.side
        return None

    @property
    def client_sent(self) -> bytes:
        return b"".join(self.bytes(s, "client").data for s in self.connections + self.conversations)

    @property
    def server_sent(self) -> bytes:
        return b"".join(self.bytes(s, "server").data for s in self.connections + self.conversations)

    @property
    def half_closed(self) -> bool:
        return expect_half_close(self, True).passed

    @property
    def client_status(self) -> int | None:
        return self.run.client_status

    def expect(self, name: str, value: Any = True) -> Verdict:
        entry = EXPECTATIONS.get(name)
        if entry is None:
            raise SpecError(f"unknown expectation {name!r} (known: {', '.join(sorted(EXPECTATIONS))})")
        return entry.fn(self, entry.check(name, value))


# --- the vocabulary ---------------------------------------------------------------

@dataclass(frozen=True)
class Expectation:
    name: str
    values: str  # what the spec may give, for the docs and errors
    doc: str
    fn: Callable[[Trace, Any], Verdict]
    accepts: Callable[[Any], bool] = field(default=lambda v: isinstance(v, bool))

    def check(self, key: str, value: Any) -> Any:
        if not self.accepts(value):
            raise SpecError(f"expectation {key!r}: {value!r} is not {self.values}")
        return value


EXPECTATIONS: dict[str, Expectation] = {}


def _is_side(v: Any) -> bool:
    return v in SIDES


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _is_bytes_spec(v: Any) -> bool:
    if v is True or isinstance(v, str):
        return True
    return isinstance(v, dict) and len(v) == 1 and (
        (isinstance(v.get("bytes"), int) and not isinstance(v.get("bytes"), bool)) or isinstance(v.get("file"), str)
        or isinstance(v.get("hex"), str))


def _is_calls(v: Any) -> bool:
    return isinstance(v, dict) and v and all(k in SIDES and isinstance(x, list) and all(
        isinstance(n, str) for n in x) for k, x in v.items())


def _is_tags(v: Any) -> bool:
    from viz.model import Tag
    names = {t.value for t in Tag}
    vals = [v] if isinstance(v, str) else v
    return isinstance(vals, list) and bool(vals) and all(isinstance(x, str) and x in names for x in vals)


def _is_seconds(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0


def expectation(name: str, values: str, doc: str, accepts: Callable[[Any], bool] | None = None):
    def register(fn):
        EXPECTATIONS[name] = Expectation(name, values, doc, fn, accepts or (lambda v: isinstance(v, bool)))
        return fn
    return register


def _v(name: str, expected: Any, passed: bool, detail: str, frames=(), calls=()) -> Verdict:
    unique = tuple(dict.fromkeys(calls))  # a call found by two rules is shown once
    return Verdict(name, expected, bool(passed), detail, tuple(sorted(set(frames))), unique)


@expectation("established", "true or false",
             "a TCP connection was set up (the server saw the handshake's ACK); false: none was")
def expect_established(t: Trace, want: bool) -> Verdict:
    conns = t.connections
    if not conns:
        return _v("established", want, not want, "no TCP connection was attempted (no SYN)")
    done = [s for s in conns if t.established_at(s)]
    frames = [f for s in conns for f in t.handshake(s)]
    calls = t.calls_at(frames)
    if want:
        bad = [s for s in conns if s not in done]
        if bad:
            p = t.packets(bad[0])
            answer = next((q for q in p if t.side_of(bad[0], q) == "server"), None)
            why = "answered by RST" if answer is not None and answer.flags & Flag.RST else "never answered"
            return _v("established", want, False,
                      f"{len(bad)} of {len(conns)} connections not established: the SYN in frame "
                      f"{p[0].frame} was {why}", frames + [q.frame for q in p[:3]], calls)
        return _v("established", want, True,
                  f"{len(done)} connection{'s' if len(done) != 1 else ''} established "
                  f"(handshake frames {', '.join(map(str, frames))})", frames, calls)
    return _v("established", want, not done,
              f"{len(done)} connection(s) established" if done else "no connection was established",
              frames, calls)


@expectation("refused", "true or false",
             "the client's connect was refused: its SYN answered by the server's RST, connect() raised")
def expect_refused(t: Trace, want: bool) -> Verdict:
    frames, calls = [], []
    for s in t.connections:
        if t.established_at(s) is None:
            for p in t.packets(s):
                if p.flags & Flag.SYN or (p.flags & Flag.RST and t.side_of(s, p) == "server"):
                    frames.append(p.frame)
    connects = [c for c in t.calls_of("client", {"connect", "connect_ex"}) if c.phase == "return"]
    refused_calls = [c for c in connects if "refused" in (c.error or "").lower() or c.result == "111"]
    seen = t.refused
    calls = refused_calls or connects
    detail = ("the SYN was answered by RST" if seen else "no SYN was refused") + (
        f"; {call_text(refused_calls[0])}" if refused_calls else "")
    return _v("refused", want, seen == want, detail, frames, calls)


@expectation("closes_first", "\"client\" or \"server\"",
             "the active closer: this side sends the first FIN of every connection",
             _is_side)
def expect_closes_first(t: Trace, want: str) -> Verdict:
    conns = [s for s in t.connections if t.established_at(s)]
    if not conns:
        return _v("closes_first", want, False, "no connection was established")
    frames, calls, wrong, details = [], [], [], []
    for s in conns:
        p = t.first_close(s)
        if p is None:
            wrong.append(s)
            details.append(f"connection {s.id}: nobody closed it (no FIN)")
            frames += t.handshake(s)
            continue
        side = t.side_of(s, p)
        kind = "RST" if p.flags & Flag.RST else "FIN"
        frames.append(p.frame)
        why = [c for c in t.calls_at([p.frame]) if c.host == side]
        calls += why
        if side != want:
            wrong.append(s)
        cause = f", {why[0].call}()" if why else (
            ", when the process ended (no close() call)" if t.analysis.calls else "")
        details.append(f"the {side} sent the first {kind} (frame {p.frame}{cause})")
    detail = "; ".join(dict.fromkeys(details))
    return _v("closes_first", want, not wrong, detail, frames, calls)


@expectation("half_close", "true",
             "the client shuts down its sending half (FIN, shutdown(SHUT_WR)) and then still reads the reply")
def expect_half_close(t: Trace, want: bool) -> Verdict:
    conns = [s for s in t.connections if t.established_at(s)]
    if not conns:
        return _v("half_close", want, not want, "no connection was established")
    frames, calls, problems = [], [], []
    shutdowns = [c for c in t.calls_of("client", {"shutdown"}) if c.phase == "return" and not c.error]
    for s in conns:
        fin = next((p for p in t.packets(s) if p.flags & Flag.FIN and t.side_of(s, p) == "client"), None)
        if fin is None:
            problems.append(f"connection {s.id}: the client sent no FIN")
            continue
        frames.append(fin.frame)
        after = [p for p in t.packets(s) if p.frame > fin.frame and (p.len or 0) > 0
                 and t.side_of(s, p) == "server"]
        if not after:
            problems.append(f"connection {s.id}: no data from the server after the client's FIN (frame {fin.frame})")
        frames += [p.frame for p in after[:3]]
        sd = next((c for c in shutdowns if fin.frame in c.frames), None)
        if sd is None:
            firsts = t.calls_at([fin.frame])
            calls += firsts
            problems.append(f"connection {s.id}: the client's FIN came from "
                            f"{firsts[0].call + '()' if firsts else 'its exit'}, not shutdown()")
            continue
        calls.append(sd)
        reads = [c for c in t.calls_of("client", {"recv", "recv_into", "read", "recvmsg"})
                 if c.phase == "return" and c.ts > sd.ts and c.pid == sd.pid and (_size(c.result) or 0) > 0]
        calls += reads[:2]
        if not reads and t.analysis.calls:
            problems.append(f"connection {s.id}: the client read nothing after shutdown()")
    passed = not problems
    detail = "; ".join(problems) if problems else \
        f"the client sent FIN with shutdown() (frame {frames[0]}) and read the reply after it"
    return _v("half_close", want, passed == want, detail, frames, calls)


@expectation("reset", "true or false",
             "false: no connection is reset (RST); true: a reset is expected")
def expect_reset(t: Trace, want: bool) -> Verdict:
    rsts = [p for s in t.connections for p in t.packets(s)
            if p.flags & Flag.RST and t.established_at(s)]
    frames = [p.frame for p in rsts]
    calls = list(t.calls_at(frames))
    detail = "no RST" if not rsts else "; ".join(
        f"RST from the {t.side_of(next(s for s in t.connections if p.frame in s.frames), p)} in frame {p.frame}"
        for p in rsts[:3])
    if rsts:
        # What was left unread: the data the resetting side received but never recv()'d.
        s = next(s for s in t.connections if rsts[0].frame in s.frames)
        side = t.side_of(s, rsts[0])
        peer_data = [p for p in t.packets(s) if p.frame < rsts[0].frame and (p.len or 0) > 0
                     and t.side_of(s, p) != side]
        frames += [p.frame for p in peer_data[-2:]]
        closes = [c for c in t.calls_of(side, {"close"}) if c.ts <= rsts[0].ts + 0.001]
        calls += closes[-1:]
        if peer_data:
            detail += f" (the {side} closed with unread data, e.g. frame {peer_data[-1].frame})"
    return _v("reset", want, bool(rsts) == want, detail, frames, calls)


def _expected_bytes(t: Trace, spec: Any, base: str | None) -> tuple[bytes | None, int | None, str]:
    """(bytes or None, length, description) of a client_sends/server_sends value."""
    if spec is True:
        if t.message is None:
            raise SpecError("expectation value true needs the run's message (set message in the spec)")
        return t.message, len(t.message), "the run's message"
    if isinstance(spec, str):
        return spec.encode(), len(spec.encode()), repr(spec)
    if "bytes" in spec:
        return None, spec["bytes"], f"{spec['bytes']} bytes"
    if "hex" in spec:
        data = bytes.fromhex(spec["hex"])
        return data, len(data), f"{len(data)} bytes (hex)"
    import os
    path = spec["file"] if base is None or os.path.isabs(spec["file"]) else os.path.join(base, spec["file"])
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise SpecError(f"file {spec['file']!r}: {exc.strerror}") from None
    return data, len(data), f"the file {spec['file']}"


def _compare(name: str, want_spec: Any, want: bytes | None, n: int | None, what: str, got: Bytes,
             who: str) -> tuple[bool, str]:
    if want is not None and got.data == want or want is None and len(got.data) == n:
        return True, f"the {who} sent {len(got.data)} bytes, equal to {what}"
    if len(got.data) < (n or 0) and (want is None or want.startswith(got.data)):
        return False, f"the {who} sent only {len(got.data)} of the {n} bytes of {what}"
    if want is not None:
        k = next((i for i, (a, b) in enumerate(zip(want, got.data)) if a != b), min(len(want), len(got.data)))
        return False, (f"the {who} sent {len(got.data)} bytes, not {what} ({n} bytes): first difference at "
                       f"byte {k}: expected {_preview(want[k:k + 16])}, got {_preview(got.data[k:k + 16])}")
    return False, f"the {who} sent {len(got.data)} bytes, not {n}"


def _short_sends(t: Trace, host: str) -> list[SocketCall]:
    out = []
    for c in t.calls_of(host, {"send", "sendto", "write"}):
        if c.phase == "return" and not c.error:
            asked, got = _size(c.args.split(",")[0]), _size(c.result)
            if asked is not None and got is not None and got < asked:
                out.append(c)
    return out


def _sends(name: str, who: str, t: Trace, spec: Any) -> Verdict:
    want, n, what = _expected_bytes(t, spec, t.base)
    streams = t.connections + t.conversations
    if not streams:
        return _v(name, spec, False, "no connection or datagram")
    frames, calls, problems, oks = [], [], [], []
    for s in streams:
        got = t.bytes(s, who)
        ok, text = _compare(name, spec, want, n, what, got, who)
        frames += got.frames[-3:] if not ok else got.frames[:3]
        (oks if ok else problems).append(text)
    short = _short_sends(t, who)
    if problems and short:
        c = short[0]
        problems.append(f"{call_text(c)}: a short write, and the rest was never sent (use sendall)")
        calls += short[:2]
        frames += [f for c in short[:2] for f in c.frames]
    return _v(name, spec, not problems, "; ".join(dict.fromkeys(problems or oks)), frames, calls)


@expectation("client_sends", "a string, true (the run's message), {file = \"path\"}, {hex = \"..\"} or {bytes = N}",
             "every connection carries exactly these bytes from the client (reassembled, each byte once)",
             _is_bytes_spec)
def expect_client_sends(t: Trace, spec: Any) -> Verdict:
    return _sends("client_sends", "client", t, spec)


@expectation("server_sends", "a string, true (the run's message), {file = \"path\"}, {hex = \"..\"} or {bytes = N}",
             "every connection carries exactly these bytes from the server", _is_bytes_spec)
def expect_server_sends(t: Trace, spec: Any) -> Verdict:
    return _sends("server_sends", "server", t, spec)


def _reply(name: str, t: Trace, want: bool, transform: Callable[[bytes], bytes], what: str) -> Verdict:
    streams = [s for s in t.connections if t.established_at(s)] + list(t.conversations)
    if not streams:
        return _v(name, want, not want, "no connection or datagram")
    frames, problems = [], []
    for s in streams:
        if s.proto == "udp":
            # Datagrams keep their boundaries: each reply answers the request just before it.
            last, pairs = None, 0
            for p in t.packets(s):
                if t.side_of(s, p) == "client":
                    last = p
                    continue
                if last is None:
                    continue
                pairs += 1
                exp, got = transform(t.payloads.get(last.frame, b"")), t.payloads.get(p.frame, b"")
                frames += [last.frame, p.frame]
                if exp != got:
                    problems.append(f"the datagram in frame {p.frame} is not {what} of frame {last.frame}: "
                                    f"expected {_preview(exp)}, got {_preview(got)}")
            if not pairs:
                problems.append(f"udp stream {s.id}: the server never answered")
                frames += list(s.frames[:1])
            continue
        sent, back = t.bytes(s, "client"), t.bytes(s, "server")
        frames += sent.frames[:2] + back.frames[:2]
        if transform(sent.data) != back.data:
            exp = transform(sent.data)
            k = next((i for i, (a, b) in enumerate(zip(exp, back.data)) if a != b), min(len(exp), len(back.data)))
            problems.append(f"{s.proto} stream {s.id}: the client sent {len(sent.data)} bytes, the server "
                            f"answered {len(back.data)} bytes, which are not {what}: from byte {k} "
                            f"expected {_preview(exp[k:k + 16])}, got {_preview(back.data[k:k + 16])}")
            frames += back.frames[-2:]
    ok = not problems
    detail = "; ".join(problems) if problems else \
        f"the server answered every stream with {what} ({sum(len(t.bytes(s, 'server').data) for s in streams)} bytes)"
    return _v(name, want, ok == want, detail, frames, t.calls_at(frames))


@expectation("echo", "true", "the server's bytes on each connection equal the client's (an echo)")
def expect_echo(t: Trace, want: bool) -> Verdict:
    return _reply("echo", t, want, lambda b: b, "the client's bytes echoed")


@expectation("upper", "true", "the server's bytes on each connection are the client's uppercased")
def expect_upper(t: Trace, want: bool) -> Verdict:
    return _reply("upper", t, want, bytes.upper, "the client's bytes uppercased")


@expectation("connections", "a count", "exactly this many TCP connections were attempted (SYNs)", _is_count)
def expect_connections(t: Trace, n: int) -> Verdict:
    conns = t.connections
    frames = [s.frames[0] for s in conns]
    return _v("connections", n, len(conns) == n,
              f"{len(conns)} connection{'s' if len(conns) != 1 else ''} (SYN in frame"
              f"{'s' if len(frames) != 1 else ''} {', '.join(map(str, frames)) or '-'})", frames,
              [c for c in t.calls_at(frames)])


@expectation("concurrent", "true",
             "two connections are served at the same time: the server answers one while another it "
             "already answered is still open")
def expect_concurrent(t: Trace, want: bool) -> Verdict:
    """A connection waiting in the accept queue is not being served: an iterative server whose
    second client's handshake completed first answers that one first.  So the test is between
    answers: b's first reply falls after a's first reply and before a closes."""
    conns = [s for s in t.connections if t.established_at(s)]
    replies = {s.id: next((p.frame for p in t.packets(s) if (p.len or 0) > 0 and t.side_of(s, p) == "server"),
                          None) for s in conns}
    for a in conns:
        end = t.first_close(a)
        end_frame = end.frame if end else 1 << 62
        for b in conns:
            if b is a or replies[a.id] is None or replies[b.id] is None:
                continue
            if replies[a.id] < replies[b.id] < end_frame:
                frames = [replies[a.id], replies[b.id]] + ([end.frame] if end else [])
                return _v("concurrent", want, want,
                          f"the server answered connection {b.id} (frame {replies[b.id]}) while connection "
                          f"{a.id}, answered in frame {replies[a.id]}, was still open", frames, t.calls_at(frames))
    frames = []
    for s in conns[:2]:
        e = t.first_close(s)
        frames += [s.frames[0]] + ([e.frame] if e else [])
    return _v("concurrent", want, not want,
              f"no overlap: each of the {len(conns)} connections was answered only after the one before "
              "it closed" if len(conns) > 1 else f"only {len(conns)} connection", frames, t.calls_at(frames))


@expectation("answered", "true",
             "every datagram that reached the server was answered by one from the server before the next")
def expect_answered(t: Trace, want: bool) -> Verdict:
    convs = t.conversations
    if not convs:
        return _v("answered", want, not want, "no UDP datagram")
    dropped = t.dropped
    frames, problems, total = [], [], 0
    for s in convs:
        pk = t.packets(s)
        for i, p in enumerate(pk):
            if t.side_of(s, p) != "client" or p.frame in dropped:
                continue
            total += 1
            nxt = next((q for q in pk[i + 1:] if t.side_of(s, q) == "server"
                        or q.frame not in dropped), None)
            if nxt is None or t.side_of(s, nxt) != "server":
                problems.append(f"the datagram in frame {p.frame} was not answered")
                frames.append(p.frame)
            else:
                frames += [p.frame, nxt.frame]
    return _v("answered", want, (not problems) == want,
              "; ".join(problems) if problems else f"all {total} datagrams answered", frames,
              t.calls_at(frames))


@expectation("retries_after_timeout", "true",
             "the client's receive timed out (settimeout) and it sent its request again, then got the answer")
def expect_retries(t: Trace, want: bool) -> Verdict:
    recvs = [c for c in t.calls_of("client", {"recvfrom", "recv", "recv_into", "recvfrom_into"})
             if c.phase == "return"]
    sends = [c for c in t.calls_of("client", {"sendto", "send", "sendall"}) if c.phase == "call"]
    timeouts = [c for c in recvs if "timeout" in (c.error or "").lower() or "timed out" in (c.error or "").lower()]
    for to in timeouts:
        retry = next((c for c in sends if c.ts > to.ts), None)
        if retry is None:
            continue
        answer = next((c for c in recvs if c.ts > retry.ts and not c.error), None)
        before = [c for c in sends if c.ts < to.ts][-1:]
        calls = before + [to, retry] + ([answer] if answer else [])
        frames = [f for c in calls for f in c.frames]
        if answer is None:
            return _v("retries_after_timeout", want, not want,
                      f"{call_text(to)}, the client sent again, but never got an answer", frames, calls)
        return _v("retries_after_timeout", want, want,
                  f"{call_text(to)}; the client sent again (frame {retry.frame}) and got the answer "
                  f"(frame {answer.frame})", frames, calls)
    if not timeouts:
        pending: dict[tuple, SocketCall] = {}  # the receive each (pid, fd) entered and has not left
        for c in t.calls_of("client", {"recvfrom", "recv"}):
            key = (c.pid, c.fd, c.call)
            if c.phase == "call":
                pending[key] = c
            else:
                pending.pop(key, None)
        blocked = sorted(pending.values(), key=lambda c: c.ts)
        frames = [f for c in sends[:1] for f in c.frames]
        if blocked:
            detail = (f"the client's {blocked[0].call}() never returned (no timeout set: it waits forever "
                      "for a lost datagram)")
            return _v("retries_after_timeout", want, not want, detail, frames, sends[:1] + blocked[:1])
        return _v("retries_after_timeout", want, not want, "no receive timed out", frames, sends[:1])
    return _v("retries_after_timeout", want, not want, f"{call_text(timeouts[0])}, but the client never sent again",
              [f for c in sends for f in c.frames][-2:], timeouts[:1])


def _instances(t: Trace, host: str) -> list[SocketCall]:
    """One record per call made: the entry of a blocking call, the return of any other."""
    two_phase = {c.call for c in t.analysis.calls if c.phase == "call"}
    return [c for c in t.calls_of(host) if (c.phase == "call") == (c.call in two_phase)]


@expectation("calls", "a table such as {server = [\"socket\", \"bind\", \"listen\", \"accept\"], client = [...]}",
             "each host made these socket calls in this order (others may come between)", _is_calls)
def expect_calls(t: Trace, spec: dict) -> Verdict:
    problems, calls = [], []
    for host, names in spec.items():
        made = _instances(t, host)
        i = 0
        for c in made:
            if i < len(names) and c.call == names[i]:
                calls.append(c)
                i += 1
        if i < len(names):
            seen = [c.call for c in made]
            problems.append(f"{host}: expected {names[i]}() after {', '.join(names[:i]) or 'the start'}; "
                            f"its calls were {', '.join(seen[:14]) or 'none'}{'...' if len(seen) > 14 else ''}")
    frames = [f for c in calls for f in c.frames]
    detail = "; ".join(problems) if problems else "; ".join(
        f"{h}: {' -> '.join(n)}" for h, n in spec.items())
    return _v("calls", spec, not problems, detail, frames, calls)


@expectation("time_wait", "\"client\" or \"server\"",
             "this side enters TIME_WAIT (the active closer waits 2 MSL) on every connection", _is_side)
def expect_time_wait(t: Trace, want: str) -> Verdict:
    conns = [s for s in t.connections if t.established_at(s)]
    frames, seen = [], []
    for s in conns:
        tw = next((sc for sc in s.states if sc.after is TcpState.TIME_WAIT), None)
        if tw:
            frames.append(tw.frame)
        seen.append(tw.side if tw else None)
    ok = bool(conns) and all(x == want for x in seen)
    detail = "; ".join(f"connection {s.id}: " + (f"the {x} entered TIME_WAIT" if x else "nobody entered TIME_WAIT")
                       for s, x in zip(conns, seen)) or "no connection was established"
    return _v("time_wait", want, ok, detail, frames)


@expectation("serves", "a count",
             "the server keeps serving: this many clients in a row are each connected and answered", _is_count)
def expect_serves(t: Trace, n: int) -> Verdict:
    conns = t.connections
    frames, served, problems = [], 0, []
    for s in conns:
        answer = next((p for p in t.packets(s) if (p.len or 0) > 0 and t.side_of(s, p) == "server"), None)
        if t.established_at(s) and answer is not None:
            served += 1
            frames += [s.frames[0], answer.frame]
        else:
            rst = next((p for p in t.packets(s) if p.flags & Flag.RST), None)
            problems.append(f"connection {s.id} (frame {s.frames[0]}) was "
                            + ("refused (RST)" if rst is not None and not t.established_at(s) else "not answered"))
            frames += [s.frames[0]] + ([rst.frame] if rst else [])
    for s in t.conversations:
        answer = next((p for p in t.packets(s) if t.side_of(s, p) == "server"), None)
        if answer:
            served += 1
            frames += [s.frames[0], answer.frame]
    ok = served >= n
    detail = f"{served} of {n} clients served" + (": " + "; ".join(problems[:3]) if problems else "")
    return _v("serves", n, ok, detail, frames, t.calls_at(frames))


def _exits(name: str, t: Trace, role: str, want: int) -> Verdict:
    status = t.run.client_status if role == "client" else t.run.server_status
    last = [c for c in t.calls_of(role)][-1:]
    if status is None:
        why = t.run.reason or f"the {role} did not finish"
        return _v(name, want, False, f"the {role} did not exit by itself: {why}", [f for c in last for f in c.frames], last)
    why = (t.run.reason or "").split(" | ")[-1].strip()
    return _v(name, want, status == want, f"the {role} exited with status {status}"
              + (f" ({why})" if status != want and why else ""), (), last)


@expectation("client_exits", "an exit status (0)", "the client exits by itself with this status", _is_count)
def expect_client_exits(t: Trace, want: int) -> Verdict:
    return _exits("client_exits", t, "client", want)


@expectation("server_exits", "an exit status (0)", "the server exits by itself with this status", _is_count)
def expect_server_exits(t: Trace, want: int) -> Verdict:
    return _exits("server_exits", t, "server", want)


@expectation("within", "seconds", "the client is done within this time: its first to its last socket call",
             _is_seconds)
def expect_within(t: Trace, limit: float) -> Verdict:
    calls = t.calls_of("client")
    if t.run.client_status is None and (t.run.reason or "").find("timeout") >= 0:
        return _v("within", limit, False, f"the client was killed: {t.run.reason}", (), calls[-1:])
    if not calls:
        return _v("within", limit, False, "the client made no recorded socket call")
    took = calls[-1].ts - calls[0].ts
    return _v("within", limit, took <= limit, f"the client took {took:.3f} s (first to last socket call)",
              (), (calls[0], calls[-1]))


@expectation("ipv6", "true", "every connection and datagram uses IPv6")
def expect_ipv6(t: Trace, want: bool) -> Verdict:
    from viz.icmp import conversations as icmp_conversations  # pings are datagrams too

    streams = list(t.connections) + list(t.conversations) + list(icmp_conversations(t.analysis))
    v6 = [s for s in streams if ":" in s.client.addr]
    frames = [s.frames[0] for s in streams]
    ok = bool(streams) and len(v6) == len(streams)
    detail = (f"{len(v6)} of {len(streams)} streams use IPv6"
              + (f" ({streams[0].client} -> {streams[0].server})" if streams else ""))
    return _v("ipv6", want, ok == want, detail, frames)


@expectation("analysis", "a tag name or list (retransmission, dup_ack, zero_window, ...)",
             "some frame carries each of these TCP analysis tags (Wireshark's tcp.analysis.*)", _is_tags)
def expect_analysis(t: Trace, tags: Any) -> Verdict:
    want = [tags] if isinstance(tags, str) else list(tags)
    frames, missing = [], []
    for name in want:
        hit = [p.frame for p in t.analysis.packets if any(x.value == name for x in p.analysis)]
        if hit:
            frames += hit[:3]
        else:
            missing.append(name)
    return _v("analysis", tags, not missing, ("no frame is tagged " + ", ".join(missing)) if missing
              else f"tagged frames: {', '.join(map(str, frames))}", frames)


def _reads_all(name: str, t: Trace, who: str, want: bool) -> Verdict:
    peer = "server" if who == "client" else "client"
    conns = [s for s in t.connections if t.established_at(s)]
    if not conns:
        return _v(name, want, not want, "no connection was established")
    if not t.analysis.calls:
        return _v(name, want, False, "no socket calls were recorded")
    recvs = [c for c in t.calls_of(who, {"recv", "recv_into", "read", "recvmsg"})
             if c.phase == "return" and not c.error]
    got = sum(_size(c.result) or 0 for c in recvs)
    sent = sum(len(t.bytes(s, peer).data) for s in conns)
    frames = [f for s in conns for f in t.bytes(s, peer).frames]
    ok = got >= sent
    detail = (f"the {who}'s recv() calls returned {got} of the {sent} bytes the {peer} sent"
              + ("" if ok else f" ({len(recvs)} call{'s' if len(recvs) != 1 else ''}: "
                 f"{', '.join(c.result for c in recvs[:4])}; it stopped reading before the end)"))
    return _v(name, want, ok == want, detail, frames[-4:] if not ok else frames[:4], recvs[-3:])


@expectation("client_reads_all", "true",
             "the client's recv() calls return every byte the server sent (a loop that handles short reads)")
def expect_client_reads_all(t: Trace, want: bool) -> Verdict:
    return _reads_all("client_reads_all", t, "client", want)


@expectation("server_reads_all", "true",
             "the server's recv() calls return every byte the client sent (a loop that handles short reads)")
def expect_server_reads_all(t: Trace, want: bool) -> Verdict:
    return _reads_all("server_reads_all", t, "server", want)


def evaluate(trace: Trace, expectations: dict[str, Any]) -> list[Verdict]:
    """Every expectation of a spec, in its order."""
    return [trace.expect(k, v) for k, v in expectations.items()]


def vocabulary_markdown() -> str:
    """The vocabulary as a Markdown table (the README section is checked against it)."""
    rows = ["| expectation | value | passes when |", "| --- | --- | --- |"]
    for e in EXPECTATIONS.values():
        rows.append(f"| `{e.name}` | {e.values.replace('|', '/')} | {e.doc} |")
    return "\n".join(rows) + "\n"
