"""Mutants of a capture's synack-capture/1 metadata, and the reading commands run on them.

Used by tests/test_metadata.py.  A mutant is the JSON text of the block after
one or more structural changes (a value replaced by one of another type, a
huge or non-finite number, a deep nesting, a long string or list, a key
removed) or a textual one (cut, bytes changed); `write_with_meta` puts it in
place of the original block, keeping the frames.
"""
from __future__ import annotations

import contextlib
import io
import json
import random
import signal
import struct
from typing import Any, Iterator

from tracer import pcapng
from tracer.cli import main

COMMANDS = [
    ["analyze"],
    ["analyze", "--format", "json"],
    ["ladder"],
    ["layers", "--frame", "1"],
    ["graph"],
    ["graph", "--kind", "topology"],
    ["play"],
]


def original_meta(path: str) -> dict:
    from viz.capture import open_capture

    with open_capture(path) as cap:
        list(cap)
        return cap.meta


def _deep(depth: int) -> Any:
    v: Any = 1
    for _ in range(depth):
        v = [v]
    return v


REPLACEMENTS = [
    5, -1, 0, "x", "", None, True, [], {}, [1, 2, 3], {"a": 1}, 1e308, -1e308, 2 ** 70, 10 ** 400,
    float("nan"), float("inf"), "A" * 100_000, list(range(50_000)), _deep(50), "192.0.2.1:veth0",
    [{"name": 5}], [{"dir": "c2s", "ts": 1e300}], [None], {"interfaces": 7}, [{"a": "x", "b": "y"}],
    [{"ts": 1e10, "call": "send", "phase": "call", "args": "9" * 4000}],
]


def _paths(v: Any, prefix: tuple = ()) -> Iterator[tuple]:
    yield prefix
    if isinstance(v, dict):
        for k, x in v.items():
            yield from _paths(x, prefix + (k,))
    elif isinstance(v, list):
        for i, x in enumerate(v[:4]):
            yield from _paths(x, prefix + (i,))


def _set(root: Any, path: tuple, value: Any, delete: bool = False) -> Any:
    if not path:
        return value
    parent = root
    for k in path[:-1]:
        parent = parent[k]
    if delete and isinstance(parent, dict):
        parent.pop(path[-1], None)
    else:
        parent[path[-1]] = value
    return root


def mutants(src: str, n: int, seed: int = 0) -> Iterator[tuple[str, str]]:
    """(label, metadata JSON text) pairs; the same seed gives the same mutants."""
    rng = random.Random(seed)
    base = original_meta(src)
    text0 = json.dumps(base)
    specials = [
        ("deep nesting", '{"hosts": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        ("deep object", '{"options": ' + '{"a": ' * 20_000 + "1" + "}" * 20_000 + "}"),
        ("not an object", "[1, 2, 3]"),
        ("null", "null"),
        ("cut", text0[: len(text0) // 2]),
        ("NaN everywhere", text0.replace("1795", "NaN, \"x\": 1795", 3)),
        ("huge number text", '{"kernel_drops": 1' + "0" * 5000 + "}"),
        ("hosts: 5", json.dumps(dict(base, hosts=5))),
        ("dropped: bad entries", json.dumps(dict(base, dropped=[5, {"dir": 3}, {"ts": "x"}, None]))),
        ("many calls", json.dumps(dict(base, calls=[dict(c, ts=c["ts"] + i * 1e-6)
                                                     for i in range(200) for c in base.get("calls", [])[:50]]))),
    ]
    for label, text in specials:
        yield label, text
    paths = list(_paths(base))[1:]
    for i in range(n - len(specials)):
        m = json.loads(text0)
        changes = []
        for _ in range(rng.choice((1, 1, 2, 3))):
            paths_now = list(_paths(m))[1:] or paths
            path = rng.choice(paths_now)
            if rng.random() < 0.15:
                m = _set(m, path, None, delete=True)
                changes.append(f"del {'/'.join(map(str, path))}")
            else:
                value = rng.choice(REPLACEMENTS)
                m = _set(m, path, value)
                changes.append(f"{'/'.join(map(str, path))}={str(value)[:20]}")
        yield "; ".join(changes), json.dumps(m)


def write_with_meta(src: str, dst: str, text: str) -> None:
    """`src` with its section header's metadata replaced by `text` (split into
    continuation comments as the tracer does)."""
    with open(src, "rb") as f:
        data = f.read()
    shb_len = struct.unpack_from("<I", data, 4)[0]
    raw = text.encode("utf-8", "surrogatepass")
    parts, head = [], pcapng.SCHEMA
    while True:
        room = pcapng.MAX_OPTION - len(head) - 1
        parts.append(head.encode() + b"\n" + raw[:room])
        raw = raw[room:]
        if not raw:
            break
        head = pcapng.CONTINUED
    body = struct.pack("<IHHq", pcapng.BYTE_ORDER_MAGIC, 1, 0, -1)
    body += pcapng._options([(pcapng.OPT_COMMENT, p) for p in parts])
    with open(dst, "wb") as f:
        f.write(pcapng._block(pcapng.SHB, body) + data[shb_len:])


class Hang(Exception):
    pass


def run_command(cmd: list[str], path: str, limit: int = 20) -> str:
    """"ok", or what went wrong: a traceback, a hang (past `limit` seconds), a bad exit."""
    def alarm(signum, frame):
        raise Hang()

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(limit)
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main([*cmd, path])
    except Hang:
        return f"hang (over {limit} s)"
    except SystemExit as exc:
        status = exc.code
    except BaseException:  # noqa: BLE001 - a traceback is what the fuzz looks for
        import traceback

        return "traceback: " + traceback.format_exc()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    lines = err.getvalue().strip().splitlines()
    if status not in (0, 1, 2) or any("Traceback" in line for line in lines):
        return f"exit {status}: {err.getvalue()[-500:]}"
    if status == 2 and len(lines) != 1:
        return f"not one line: {err.getvalue()[-500:]}"
    if len([line for line in lines if "warning" in line]) > 1:
        return f"more than one warning line: {err.getvalue()[-500:]}"
    return "ok"
