"""Reading the socket-call logs the traced programs write: untrusted input.

The recorder inside a program appends one JSON object per line, but the
program owns the file and may write anything there: `null`, `[1,2,3]`,
`{"ts": "x"}`, a million records, one endless line.  Each line is checked
against viz.metadata's call-record schema on its own; a line that fails is
dropped and counted, never an exception.  A whole log is read only up to
MAX_LOG_BYTES (the rest is counted, not parsed) and lines longer than
MAX_LINE are skipped without being held in memory, so a flood costs a bounded
amount of memory and time linear in its size.
"""
from __future__ import annotations

import json
from typing import Any

from viz import metadata

MAX_LOG_BYTES = 16 << 20  # per program: a 100 MB bulk trace writes a few MB of records
MAX_LINE = 16 << 10
READ = 1 << 20


class CallLog:
    """Tails one JSONL call file; `dropped` counts the lines refused so far."""

    def __init__(self, path: str, max_bytes: int = MAX_LOG_BYTES):
        self.path = path
        self.max_bytes = max_bytes
        self.pos = 0
        self.partial = b""
        self.skipping = False  # inside a line longer than MAX_LINE
        self.dropped = 0
        self.over_cap = 0  # records (lines) past max_bytes, counted only

    def new(self) -> list[dict[str, Any]]:
        """The valid records appended since the last call."""
        out: list[dict[str, Any]] = []
        try:
            f = open(self.path, "rb")
        except OSError:
            return out
        with f:
            f.seek(self.pos)
            while True:
                room = self.max_bytes - self.pos
                if room <= 0:
                    self._count_rest(f)
                    break
                data = f.read(min(READ, room))
                if not data:
                    break
                self.pos += len(data)
                self._lines(data, out)
        return out

    def _lines(self, data: bytes, out: list) -> None:
        if self.skipping:  # the rest of an over-long line
            nl = data.find(b"\n")
            if nl < 0:
                return
            data = data[nl + 1:]
            self.skipping = False
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            rec = parse_line(line)
            if rec is not None:
                out.append(rec)
            elif line.strip():
                self.dropped += 1
        if len(self.partial) > MAX_LINE:
            self.dropped += 1
            self.partial = b""
            self.skipping = True

    def finish(self) -> list[dict[str, Any]]:
        """The last line, if the program ended without its newline."""
        line, self.partial = self.partial, b""
        rec = parse_line(line)
        if rec is None and line.strip():
            self.dropped += 1
        return [rec] if rec is not None else []

    def _count_rest(self, f) -> None:
        """Past the cap: count the lines (records) without parsing or keeping them.
        A line cut by the cap is counted here, by its newline."""
        self.partial, self.skipping = b"", False
        while True:
            data = f.read(READ)
            if not data:
                return
            self.pos += len(data)
            self.over_cap += data.count(b"\n")


def parse_line(line: bytes) -> dict[str, Any] | None:
    """One log line -> a checked record, or None."""
    if not line.strip() or len(line) > MAX_LINE:
        return None
    try:
        return metadata.call_record(json.loads(line))
    except (ValueError, RecursionError):  # metadata.Invalid is a ValueError
        return None


def read_all(paths: list[str] | dict[str, str]) -> tuple[list[dict[str, Any]], int]:
    """(valid records of every log, how many records were dropped).  Given {host: path},
    each record's host is the log's: a program cannot pass its records off as another's."""
    calls: list[dict[str, Any]] = []
    dropped = 0
    named = paths.items() if isinstance(paths, dict) else ((None, p) for p in paths)
    for host, p in named:
        log = CallLog(p)
        recs = log.new() + log.finish()
        if host is not None:
            for rec in recs:
                rec["host"] = host
        calls += recs
        dropped += log.dropped + log.over_cap
    return calls, dropped
