"""`synack build` progress: a counted line per figure, a trace bar on terminals only."""
from __future__ import annotations

import io
import json
import shutil
import time
from pathlib import Path

import pytest

from tracer import build as B
from tracer.cli import main

from corpus_path import CORPUS_DIR  # noqa: E402

ONE = CORPUS_DIR / "one_tcp_stream.pcap"
needs_corpus = pytest.mark.skipif(not ONE.exists(), reason="corpus not present")

MANIFEST = """\
[build]
output = "out"
captures = "caps"

[[figure]]
name = "ladder"
scenario = "tcp-echo"
options = { client_port = 40000 }
ladder = { phase = "handshake" }

[[figure]]
name = "syn"
scenario = "tcp-echo"
options = { client_port = 40000 }
layers = { frame = "syn", view = "fields" }
"""


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def slow_tracer(seconds: float):
    """Stands in for the namespaces (no root here): a real capture appears after `seconds`."""
    def trace(src, out):
        time.sleep(seconds)
        shutil.copy(ONE, out)
    return trace


def test_bar_text_is_scaled_to_the_last_trace_else_the_timeout():
    half = B.bar_text("tcp-echo", 1.0, 2.0, 30.0, width=10)
    assert half == "  tracing tcp-echo [#####.....]  1.0 s of ~2 s"
    assert B.bar_text("tcp-echo", 3.0, None, 30.0, width=10).endswith("[#.........]  3.0 s of at most 30 s")
    assert "[#########.]" in B.bar_text("x", 50.0, 2.0, 30.0, width=10)  # overdue: never shown done


@needs_corpus
def test_terminal_gets_a_bar_while_tracing_and_pipes_do_not(tmp_path):
    man = tmp_path / "m.toml"
    man.write_text(MANIFEST)
    lines: list[str] = []
    term = Terminal()
    r = B.build(B.load_manifest(man), log=lines.append, tracer=slow_tracer(0.8), bar=term)
    assert not r.failed and r.traced == 1
    frames = [f for f in term.getvalue().split("\r") if f]
    assert len(frames) >= 2, term.getvalue()
    assert all(f.startswith("  tracing tcp-echo [") or f == "\x1b[K" for f in frames), frames
    assert term.getvalue().endswith("\r\x1b[K")  # the bar is erased before the next line
    assert lines[0] == "  tracing synack trace tcp-echo --client-port 40000"
    assert lines[1].startswith("[1/2] built   ladder (") and lines[1].endswith(" -> ladder.svg")
    assert lines[2].startswith("[2/2] built   syn (")
    stamp = json.loads(next((tmp_path / "caps").glob("*.source")).read_text())
    assert stamp["seconds"] >= 0.8  # the next bar's scale


@needs_corpus
def test_cli_output_to_a_pipe_has_only_the_lines(tmp_path, capsys, monkeypatch):
    man = tmp_path / "m.toml"
    man.write_text(MANIFEST)
    monkeypatch.setattr(B, "_tracer", slow_tracer(0.5))
    assert main(["build", str(man)]) == 0
    out, err = capsys.readouterr()
    assert "\r" not in out + err and "\x1b" not in out + err
    assert out.splitlines()[1:3] == [line for line in out.splitlines()[1:3] if line.startswith("[")]
    assert "2 built, 0 skipped, 0 failed; 1 traces" in out
    assert main(["build", str(man)]) == 0
    out = capsys.readouterr().out
    assert "tracing" not in out and out.count("skipped ") == 2
