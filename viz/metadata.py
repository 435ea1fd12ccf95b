"""The schema of the `synack-capture/1` metadata, and of the call records in it.

Both sides of the file use it: the tracer checks each socket-call record a
traced program writes (untrusted: the program may write anything to its log)
before it goes into a capture, and every reader checks the metadata block of
a capture before a viewer looks at it (the file may have been edited, or
forged).  What fails is dropped, entry by entry, with a reason; the rest is
used as is.  Limits on size and depth keep a hostile block from costing more
than reading it: nesting past MAX_DEPTH, strings past their bound and lists
past MAX_ITEMS are refused rather than walked.

Keys this module does not know (newer tracers add some) are kept when they
are plain JSON within the generic limits.
"""
from __future__ import annotations

import json
import math
from typing import Any, Callable

NAME = "synack-capture/1"  # the first line of the metadata comment
CONTINUED = NAME + "+"  # the first line of each continuation comment
MAX_META_BYTES = 128 << 20  # two programs' capped call logs (tracer.calllog) and the rest
MAX_DEPTH = 12
MAX_ITEMS = 1_000_000  # entries of one list (calls of a long trace)
MAX_STR = 4096  # a call's args/result/error, a command line
MAX_NAME = 128  # host, interface, scenario, call names
MAX_TS = 1e11  # epoch seconds (year 5138): beyond is not a clock reading
MAX_INT = 2 ** 53
PHASES = ("call", "return")


class Invalid(ValueError):
    """One part of the metadata fails the schema; the message says why."""


# -- scalar checks -------------------------------------------------------------

def _str(limit: int) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if not isinstance(v, str):
            raise Invalid(f"not a string ({type(v).__name__})")
        if len(v) > limit:
            raise Invalid(f"string of {len(v)} characters (at most {limit})")
        return v
    return check


def _int(lo: int = -MAX_INT, hi: int = MAX_INT) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise Invalid(f"not an integer ({type(v).__name__})")
        if not lo <= v <= hi:
            raise Invalid(f"{v} out of range {lo}..{hi}")
        return v
    return check


def _num(lo: float, hi: float) -> Callable[[Any], float]:
    def check(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise Invalid(f"not a number ({type(v).__name__})")
        if not math.isfinite(v) or not lo <= v <= hi:
            raise Invalid(f"{v!r} out of range {lo:g}..{hi:g}")
        return v
    return check


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise Invalid(f"not true/false ({type(v).__name__})")
    return v


def _optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def opt(v: Any) -> Any:
        return None if v is None else check(v)
    return opt


def _one_of(*values: str) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if v not in values:
            raise Invalid(f"{str(v)[:40]!r} is not one of {', '.join(values)}")
        return v
    return check


def plain(v: Any, depth: int = 0) -> Any:
    """Any JSON value within the generic limits (depth, string and list sizes)."""
    if depth > MAX_DEPTH:
        raise Invalid(f"nested deeper than {MAX_DEPTH}")
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, int):
        return _int()(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise Invalid("not a finite number")
        return v
    if isinstance(v, str):
        return _str(MAX_STR)(v)
    if isinstance(v, list):
        if len(v) > MAX_ITEMS:
            raise Invalid(f"list of {len(v)} entries (at most {MAX_ITEMS})")
        return [plain(x, depth + 1) for x in v]
    if isinstance(v, dict):
        if len(v) > MAX_ITEMS:
            raise Invalid(f"object of {len(v)} keys")
        return {_str(MAX_NAME)(k): plain(x, depth + 1) for k, x in v.items()}
    raise Invalid(f"not JSON ({type(v).__name__})")


def _object(fields: dict[str, Callable[[Any], Any]], required: tuple[str, ...] = (),
            extra: bool = True) -> Callable[[Any], dict]:
    """An object whose known fields pass their checks; other fields pass `plain`."""
    def check(v: Any) -> dict:
        if not isinstance(v, dict):
            raise Invalid(f"not an object ({type(v).__name__})")
        for k in required:
            if k not in v:
                raise Invalid(f"no {k!r}")
        out = {}
        for k, x in v.items():
            f = fields.get(k)
            try:
                if f is not None:
                    out[k] = f(x)
                elif extra:
                    out[_str(MAX_NAME)(k)] = plain(x, 2)
            except Invalid as exc:
                raise Invalid(f"{k}: {exc}") from None
        return out
    return check


def _list(item: Callable[[Any], Any], limit: int = MAX_ITEMS) -> Callable[[Any], list]:
    """A list whose every entry passes (one bad entry fails the list: see `entries` for dropping)."""
    def check(v: Any) -> list:
        if not isinstance(v, list):
            raise Invalid(f"not a list ({type(v).__name__})")
        if len(v) > limit:
            raise Invalid(f"list of {len(v)} entries (at most {limit})")
        out = []
        for i, x in enumerate(v):
            try:
                out.append(item(x))
            except Invalid as exc:
                raise Invalid(f"[{i}]: {exc}") from None
        return out
    return check


# -- the records ---------------------------------------------------------------

_CALL_STRINGS = ("args", "result", "error")
_CALL_KEYS = frozenset(("ts", "host", "pid", "fd", "new_fd", "call", "phase", *_CALL_STRINGS))


def call_record(rec: Any) -> dict:
    """One socket-call record, checked; raises Invalid.  Other keys pass `plain`.

    Written out rather than built from the checks above: a long trace has
    hundreds of thousands of records, and this runs once for each."""
    if type(rec) is not dict:
        raise Invalid(f"not an object ({type(rec).__name__})")
    ts, call, phase = rec.get("ts"), rec.get("call"), rec.get("phase", "call")
    if type(ts) not in (float, int) or not 0.0 <= ts <= MAX_TS:  # NaN fails the comparison
        raise Invalid(f"ts: {str(ts)[:40]!r} is not a clock reading")
    if type(call) is not str or len(call) > MAX_NAME:
        raise Invalid("call: not a short string")
    if phase not in PHASES:
        raise Invalid(f"phase: {str(phase)[:40]!r} is not one of {', '.join(PHASES)}")
    out = {"ts": ts}
    host = rec.get("host", "")
    if type(host) is not str or len(host) > MAX_NAME:
        raise Invalid("host: not a short string")
    pid = rec.get("pid", 0)
    if type(pid) is not int or not 0 <= pid <= 2 ** 31:
        raise Invalid(f"pid: {str(pid)[:40]!r} is not a process id")
    fd = rec.get("fd")  # strace records name a socket by its inode: up to 2**32 and beyond
    if fd is not None and (type(fd) is not int or not -1 <= fd <= 2 ** 63):
        raise Invalid(f"fd: {str(fd)[:40]!r} is not a descriptor")
    new_fd = rec.get("new_fd")  # accept()'s new socket, named as `fd` names sockets
    if new_fd is not None and (type(new_fd) is not int or not 0 <= new_fd <= 2 ** 63):
        raise Invalid(f"new_fd: {str(new_fd)[:40]!r} is not a descriptor")
    for k in ("host", "pid", "fd", "new_fd"):
        if k in rec:
            out[k] = rec[k]
    out["call"] = call
    if "phase" in rec:  # absent means "call" (older captures, hand-made ones)
        out["phase"] = phase
    for k in _CALL_STRINGS:
        if k in rec:
            v = rec[k]
            if v is not None and (type(v) is not str or len(v) > MAX_STR):
                raise Invalid(f"{k}: not a string of at most {MAX_STR} characters")
            out[k] = v
    if len(rec) > len(out):  # fields a newer tracer adds: kept when they are plain, bounded JSON
        for k, v in rec.items():
            if k not in _CALL_KEYS:
                out[_str(MAX_NAME)(k)] = plain(v, 2)
    return out


_iface = _object({"name": _str(MAX_NAME), "mac": _optional(_str(64)),
                  "addrs": _list(_str(64), 64), "peer": _optional(_str(MAX_NAME)),
                  "mtu": _optional(_int(0, 1 << 20))}, required=("name",))
_host = _object({"name": _str(MAX_NAME), "role": _str(MAX_NAME), "interfaces": _list(_iface, 64)},
                required=("name",))


def _endpoint(v: Any) -> str:
    v = _str(2 * MAX_NAME + 1)(v)
    if ":" not in v:
        raise Invalid(f"{v[:40]!r} is not HOST:INTERFACE")
    return v


_link = _object({"a": _endpoint, "b": _endpoint, "captured": _bool,
                 "capture_points": _list(_str(MAX_NAME), 16)}, required=("a", "b"))
_dropped = _object({"dir": _one_of("c2s", "s2c"), "index": _int(0, MAX_INT), "ts": _num(0.0, MAX_TS)})
_scalar_map = _object({}, extra=True)

def _kstate(v: Any) -> dict:
    """The sampled kernel TCP state (tracer.kstate): columns of integers (or null), all one length.

    Checked column by column with plain loops: a long transfer has 10^5 samples per column."""
    head = _object({"source": _str(MAX_NAME), "note": _optional(_str(MAX_STR)), "polls": _int(0),
                    "poll_hz": _int(0), "cpu_ms": _int(0), "trace_lines": _int(0),
                    "fields": _list(_str(MAX_NAME), 64), "ca_states": _list(_str(MAX_NAME), 16),
                    "sources": _list(_str(MAX_NAME), 16)}, extra=False)
    if not isinstance(v, dict):
        raise Invalid(f"not an object ({type(v).__name__})")
    conns = v.get("conns")
    out = head({k: x for k, x in v.items() if k != "conns"})
    if not isinstance(conns, list) or len(conns) > 4096:
        raise Invalid("conns: not a list of at most 4096 connections")
    fields = set(out.get("fields") or ())
    checked = []
    conn_head = _object({"host": _str(MAX_NAME), "cc": _optional(_str(MAX_NAME)), "src": _str(64),
                         "dst": _str(64), "sport": _int(0, 65535), "dport": _int(0, 65535),
                         "t0_s": _int(0, int(MAX_TS)), "t0_ns": _int(0, 999_999_999)},
                        required=("host", "src", "dst", "sport", "dport"), extra=False)
    for i, c in enumerate(conns):
        if not isinstance(c, dict):
            raise Invalid(f"conns[{i}]: not an object")
        one = conn_head({k: x for k, x in c.items() if k != "samples"})
        samples = c.get("samples")
        if not isinstance(samples, dict):
            raise Invalid(f"conns[{i}].samples: not an object")
        n = None
        cols = {}
        for name, col in samples.items():
            if name not in fields or not isinstance(col, list) or len(col) > MAX_ITEMS:
                raise Invalid(f"conns[{i}].samples.{str(name)[:40]}: not a known column of at most "
                              f"{MAX_ITEMS} entries")
            if n is None:
                n = len(col)
            if len(col) != n:
                raise Invalid(f"conns[{i}].samples.{name}: {len(col)} entries, other columns {n}")
            for x in col:
                if x is not None and (type(x) is not int or not -MAX_INT <= x <= MAX_INT):
                    raise Invalid(f"conns[{i}].samples.{name}: {str(x)[:40]!r} is not an integer")
            cols[name] = col
        one["samples"] = cols
        checked.append(one)
    out["conns"] = checked
    return out


# Top-level key -> (check, whether the value is a list whose bad entries are dropped one by one).
SCHEMA: dict[str, tuple[Callable[[Any], Any], bool]] = {
    "schema": (_str(MAX_NAME), False), "tool": (_str(MAX_NAME), False), "scenario": (_str(MAX_NAME), False),
    "command": (_str(MAX_STR), False), "options": (_scalar_map, False), "net": (_str(MAX_NAME), False),
    "capture_point": (_str(MAX_NAME), False), "capture_interface": (_str(MAX_NAME), False),
    "complete": (_bool, False), "incomplete_reason": (_optional(_str(MAX_STR)), False),
    "kernel_drops": (_int(0), False), "kernel_packets": (_int(0), False),
    "calls_dropped": (_int(0), False),
    "hosts": (_host, True), "links": (_link, True), "calls": (call_record, True), "dropped": (_dropped, True),
    "faults": (_scalar_map, False), "wire": (_scalar_map, False), "topology": (_str(MAX_NAME), False),
    "replay": (_scalar_map, False),
    "tcp": (_object({"cc": _optional(_str(MAX_NAME)), "profile": _one_of("linux", "textbook"),
                     "sysctls": _scalar_map, "hosts": _scalar_map}), False),
    "kstate": (_kstate, False),
}


def check(meta: Any) -> tuple[dict, list[str]]:
    """(the valid part of `meta`, one reason per part dropped)."""
    if not isinstance(meta, dict):
        return {}, [f"not an object ({type(meta).__name__})"]
    out: dict = {}
    problems: list[str] = []
    for key, value in meta.items():
        if not isinstance(key, str) or len(key) > MAX_NAME:
            problems.append("a key that is not a short string")
            continue
        spec = SCHEMA.get(key)
        try:
            if spec is None:
                out[key] = plain(value, 1)
                continue
            fn, per_entry = spec
            if not per_entry:
                out[key] = fn(value)
                continue
            if not isinstance(value, list):
                raise Invalid(f"not a list ({type(value).__name__})")
            if len(value) > MAX_ITEMS:
                raise Invalid(f"list of {len(value)} entries (at most {MAX_ITEMS})")
            kept, bad, first = [], 0, ""
            for i, entry in enumerate(value):
                try:
                    kept.append(fn(entry))
                except Invalid as exc:
                    bad += 1
                    first = first or f"[{i}]: {exc}"
            out[key] = kept
            if bad:
                problems.append(f"{key}: {bad} invalid entr{'y' if bad == 1 else 'ies'} dropped ({first})")
        except Invalid as exc:
            problems.append(f"{key}: {exc}")
    return out, problems


def parse(text: str) -> tuple[dict, list[str]]:
    """The JSON text of a metadata block -> (valid part, problems)."""
    if len(text) > MAX_META_BYTES:
        return {}, [f"{len(text)} bytes (at most {MAX_META_BYTES})"]
    try:
        value = json.loads(text)
    except RecursionError:
        return {}, ["nested too deeply to read"]
    except ValueError as exc:
        return {}, [f"not JSON ({exc})"]
    return check(value)


def warning(path: str, problems: list[str]) -> str:
    """The one-line warning a reader prints for what it dropped."""
    shown = "; ".join(p[:160] for p in problems[:3])
    more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
    return (f"synack: warning: {path}: synack-capture/1 metadata: {shown}{more}; "
            "drawn without the invalid part")


# -- the metadata as pcapng section comments --------------------------------------

def split_comments(metadata: dict[str, Any], max_option: int) -> list[bytes]:
    """The metadata as section comments: `synack-capture/1` + JSON, split into
    `synack-capture/1+` continuation comments when longer than one option
    (`max_option` bytes) can hold (a 100 MB bulk trace records tens of
    thousands of calls)."""
    data = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode()
    parts, head = [], NAME
    while True:
        room = max_option - len(head) - 1
        cut = min(room, len(data))
        while 0 < cut < len(data) and data[cut] & 0xC0 == 0x80:  # keep UTF-8 sequences whole
            cut -= 1
        parts.append(head.encode() + b"\n" + data[:cut])
        data = data[cut:]
        if not data:
            return parts
        head = CONTINUED


def join_comments(comments: list[str]) -> str:
    """The metadata comment whole again: the first `synack-capture/1` comment and
    the `synack-capture/1+` continuations after it."""
    parts: list[str] = []
    for c in comments:
        first, _, rest = c.partition("\n")
        if first.strip() == NAME and not parts:
            parts.append(c)
        elif first.strip() == CONTINUED and parts:
            parts.append(rest)
    return "".join(parts)
