"""Reproducers of issue 15 item 6: malformed synack-capture/1 metadata.

88 mutants x 6 reading commands gave 105 tracebacks and 10 hangs.  Now the
block is checked against one schema (viz/metadata.py) with size and depth
limits; what fails is a one-line warning and the file is drawn without it.
"""
from __future__ import annotations

import json

import pytest

from conftest import ROOT
from metafuzz import COMMANDS, mutants, original_meta, run_command, write_with_meta
from viz import metadata
from viz.capture import open_capture

ECHO = str(ROOT / "captures" / "tcp-echo.pcapng")
LOST = str(ROOT / "captures" / "lost-ack.pcapng")  # has dropped frames and faults


@pytest.mark.parametrize("src,n,seed", [(ECHO, 58, 1), (LOST, 30, 2)], ids=["tcp-echo", "lost-ack"])
def test_metadata_fuzz_no_traceback_no_hang(tmp_path, src, n, seed):
    failures = []
    count = 0
    for i, (label, text) in enumerate(mutants(src, n, seed)):
        path = str(tmp_path / f"m{i}.pcapng")
        write_with_meta(src, path, text)
        for cmd in COMMANDS:
            count += 1
            outcome = run_command(cmd, path)
            if outcome != "ok":
                failures.append((label[:80], cmd, outcome[-300:]))
    assert count == n * len(COMMANDS)
    assert failures == []


def test_committed_captures_pass_the_schema_unchanged():
    for path in sorted((ROOT / "captures").glob("*.pcapng")):
        with open_capture(path) as cap:
            list(cap)
            raw = json.loads(cap.section_comments[0].partition("\n")[2]) if len(cap.section_comments) == 1 \
                else None
            meta = cap.meta
        assert meta.get("schema") == "synack-capture/1", path
        if raw is not None:
            assert meta == raw, path


def test_a_broken_part_is_one_warning_and_the_rest_is_used(tmp_path, capsys):
    base = original_meta(ECHO)
    broken = dict(base, hosts=5, dropped=[{"dir": "c2s", "index": 1, "ts": 1e300}, None])
    path = str(tmp_path / "broken.pcapng")
    write_with_meta(ECHO, path, json.dumps(broken))
    with open_capture(path) as cap:
        list(cap)
        meta = cap.meta
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"synack: warning: {path}: synack-capture/1 metadata:")
    assert "hosts" in err[0] and "dropped: 2 invalid entries" in err[0]
    assert "hosts" not in meta and meta["dropped"] == []
    assert meta["calls"] == base["calls"] and meta["scenario"] == "tcp-echo"
    # The calls are still drawn next to their frames.
    assert run_command(["ladder"], path) == "ok"


def test_limits_of_size_and_depth():
    deep = "[" * 500 + "]" * 500  # deeper than MAX_DEPTH, within what json reads: that key goes
    meta, problems = metadata.parse('{"extra": ' + deep + ', "scenario": "x"}')
    assert meta == {"scenario": "x"} and "nested deeper" in problems[0]
    meta, problems = metadata.parse("[" * 200_000 + "]" * 200_000)  # past the parser: the block goes
    assert meta == {} and problems
    meta, problems = metadata.parse('{"kernel_drops": NaN, "options": {"bytes": Infinity}}')
    assert meta == {} and len(problems) == 2
    meta, problems = metadata.parse(" " * (metadata.MAX_META_BYTES + 1))
    assert meta == {} and "at most" in problems[0]
    meta, problems = metadata.parse('{"command": "' + "c" * (metadata.MAX_STR + 1) + '"}')
    assert meta == {} and "command" in problems[0]
