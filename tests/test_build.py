"""`synack build`: manifest checking (line + key, before any trace), reproducible and incremental builds."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import needs_root
from tracer import build as B
from tracer.cli import main
from viz.errors import SynackError

ROOT = Path(__file__).resolve().parents[1]
from corpus_path import CORPUS_DIR  # noqa: E402
CORPUS = CORPUS_DIR
needs_corpus = pytest.mark.skipif(not (CORPUS / "one_tcp_stream.pcap").exists(), reason="corpus not present")


def write(tmp: Path, text: str, name: str = "m.toml") -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def no_trace(src, out):
    raise AssertionError("traced although the manifest is bad")


GOOD = """\
[build]
output = "out"

[[figure]]
name = "hs"
scenario = "tcp-echo"
options = { client_port = 40000 }
ladder = { phase = "handshake" }
"""
F = GOOD + '\n[[figure]]\nname = "f"\nscenario = "tcp-echo"\n'  # a second figure, its table at line 10


@pytest.mark.parametrize("text, line, key", [
    (GOOD.replace('name = "hs"', 'name = "hs"\ncolour = "red"'), 6, "colour"),
    (GOOD.replace('phase = "handshake"', 'phase = "handshake", numbrs = "symbolic"'), 8, "ladder.numbrs"),
    (GOOD.replace('"tcp-echo"', '"tcp-ecko"'), 6, "scenario"),
    (GOOD.replace("client_port = 40000", "client_port = 40000, clients = 3"), 7, "options.clients"),
    (GOOD.replace("client_port = 40000", "client_port = 70000"), 7, "options.client_port"),
    (GOOD.replace("client_port = 40000", "colour = 1"), 7, "options.colour"),
    (GOOD.replace('phase = "handshake"', 'numbers = "roman"'), 8, "ladder.numbers"),
    (GOOD + '\n[[figure]]\nname = "f"\ncapture = "nope.pcapng"\ngraph = {}\n', 12, "capture"),
    (GOOD + '\n[[figure]]\nname = "f"\nscenario = "tcp-echo"\nlayers = { frame = "synn" }\n', 13, "layers.frame"),
    (GOOD + '\n[[figure]]\nname = "f"\nscenario = "udp-upper"\ngraph = {}\noutput = "hs.svg"\n', 14, "output"),
    (GOOD + '\n[[figure]]\nname = "hs"\nscenario = "refused"\nladder = {}\noutput = "x.svg"\n', 11, "name"),
    (GOOD + '\n[[figure]]\nname = "f"\nscenario = "refused"\nladder = {}\ntrace = { at = "router" }\n', 14, "trace.at"),
    (GOOD.replace("[build]", "[build]\nthem = 'dark'"), 2, "build.them"),
    (F + 'ladder = { compare = true }\n', 13, "ladder.compare"),
    (F + 'trace = { topology = "star" }\nladder = {}\n', 13, "trace.topology"),
    (F + 'trace = { drop = "sideways:4" }\nladder = {}\n', 13, "trace.drop"),
    (F + 'trace = { delay = "fast" }\nladder = {}\n', 13, "trace.delay"),
    (F + 'trace = { at = "both", net = "loopback" }\nladder = {}\n', 13, "trace.at"),
    (F + 'trace = { at = "both" }\nladder = { at = "router" }\n', 14, "ladder.at"),
    (F + 'trace = { topology = "routed" }\nlayers = { frame = "syn", view = "fields", compare = true }\n',
     14, "layers.compare"),
    (F + 'graph = { kind = "cwnd", more = "x.pcapng" }\n', 13, "graph.more"),
    (F + 'graph = { kind = "cwnd", more = [{ cc = "vegas" }] }\n', 13, "graph.more"),
    (F + 'graph = { kind = "cwnd", more = ["nope.pcapng"] }\n', 13, "graph.more"),
    (F + 'graph = { kind = "cwnd", more = [{ delay = "5ms" }, { delay = "5ms" }] }\n', 13, "graph.more"),
    (F + 'graph = { kind = "tsg", more = [{ cc = "cubic" }] }\n', 13, "graph.more"),
])
def test_bad_manifest_names_line_and_key_before_tracing(tmp_path, text, line, key):
    path = write(tmp_path, text)
    with pytest.raises(SynackError) as exc:
        B.build(B.load_manifest(path), tracer=no_trace, log=lambda s: None)
    msg = str(exc.value)
    assert msg.startswith(f"{path}:{line}: "), msg
    assert key in msg.split(": ", 2)[1] or f": {key}:" in msg, msg
    assert not (tmp_path / "out").exists()


def test_toml_syntax_error_has_line(tmp_path, capsys):
    path = write(tmp_path, GOOD.replace('ladder = { phase = "handshake" }', 'ladder = { phase = "handshake" '))
    assert main(["build", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"synack: error: {path}:8: TOML syntax error"), err


def test_missing_source_and_rendering(tmp_path):
    path = write(tmp_path, '[[figure]]\nname = "x"\nladder = {}\n')
    with pytest.raises(SynackError, match=r":1: figure 'x': source: give exactly one"):
        B.load_manifest(path)
    path = write(tmp_path, '[[figure]]\nname = "x"\nscenario = "tcp-echo"\n')
    with pytest.raises(SynackError, match=r":1: figure 'x': rendering: give exactly one"):
        B.load_manifest(path)


SMALL = """\
[build]
output = "figs"

[[figure]]
name = "ladder"
caption = "One TCP stream"
capture = "{one}"
ladder = {{ phase = "handshake", numbers = "symbolic", options = true }}

[[figure]]
name = "syn"
caption = "The SYN's header"
capture = "{one}"
layers = {{ frame = "syn", view = "fields" }}

[[figure]]
name = "get"
caption = "HTTP GET, nested"
capture = "{http}"
layers = {{ frame = "http-get", view = "nested" }}

[[figure]]
name = "states"
capture = "{one}"
graph = {{ kind = "states" }}

[[figure]]
name = "text"
capture = "{http}"
ladder = {{ phase = "teardown" }}
output = "sub/teardown.txt"
"""


def small_manifest(tmp: Path, extra: str = "") -> Path:
    shutil.copy(CORPUS / "one_tcp_stream.pcap", tmp / "one.pcap")
    shutil.copy(CORPUS / "one_http_stream_fin.pcap", tmp / "http.pcap")
    return write(tmp, SMALL.format(one="one.pcap", http="http.pcap") + extra)


def outputs(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*"))
            if p.is_file() and ".stamps" not in p.parts}


@needs_corpus
def test_clean_builds_are_byte_identical_and_rebuild_is_incremental(tmp_path):
    lines: list[str] = []
    man = small_manifest(tmp_path)
    m = B.load_manifest(man)
    r1 = B.build(m, output=str(tmp_path / "a"), tracer=no_trace, log=lines.append)
    r2 = B.build(m, output=str(tmp_path / "b"), tracer=no_trace, log=lambda s: None)
    assert [o.status for o in r1.outcomes] == ["built"] * 5, lines
    a, b = outputs(tmp_path / "a"), outputs(tmp_path / "b")
    assert set(a) == {"ladder.svg", "syn.svg", "get.svg", "states.svg", "sub/teardown.txt",
                      "index.md", "index.html"}
    assert a == b
    html = a["index.html"].decode()
    for name in ("ladder.svg", "syn.svg", "get.svg", "states.svg"):
        assert f'<img src="{name}"' in html
    md = a["index.md"].decode()
    assert "synack layers ../one.pcap --frame syn --view fields -o syn.svg" in md  # by meaning, as asked
    assert "The SYN's header" in md and "synack build ../m.toml --only syn" in md
    assert "FIN" in a["sub/teardown.txt"].decode()

    r3 = B.build(m, output=str(tmp_path / "a"), tracer=no_trace, log=lambda s: None)
    assert [o.status for o in r3.outcomes] == ["skipped"] * 5
    assert outputs(tmp_path / "a") == a

    man.write_text(man.read_text().replace('view = "nested"', 'view = "stack"'))
    r4 = B.build(B.load_manifest(man), output=str(tmp_path / "a"), tracer=no_trace, log=lambda s: None)
    assert {o.name: o.status for o in r4.outcomes} == {
        "ladder": "skipped", "syn": "skipped", "get": "built", "states": "skipped", "text": "skipped"}
    after = outputs(tmp_path / "a")
    assert after["get.svg"] != a["get.svg"]
    same = lambda d: {k: v for k, v in d.items() if k not in ("get.svg", "index.md", "index.html")}  # noqa: E731
    assert same(after) == same(a)
    assert "--view stack -o get.svg" in after["index.md"].decode()

    (tmp_path / "a" / "syn.svg").unlink()  # a deleted output is redrawn
    r5 = B.build(B.load_manifest(man), output=str(tmp_path / "a"), tracer=no_trace, log=lambda s: None)
    assert [o.name for o in r5.outcomes if o.status == "built"] == ["syn"]
    assert outputs(tmp_path / "a")["syn.svg"] == a["syn.svg"]


@needs_corpus
def test_failing_figure_is_reported_and_the_others_built(tmp_path, capsys):
    man = small_manifest(tmp_path, '\n[[figure]]\nname = "bad"\ncapture = "one.pcap"\n'
                                   'layers = { frame = 999 }\n')
    status = main(["build", str(man), "-o", str(tmp_path / "o")])
    out, err = capsys.readouterr()
    assert status == 1
    assert "failed  bad" in out and "999 out of range" in out
    assert "5 built, 0 skipped, 1 failed" in out
    assert "FAILED bad: ../one.pcap: frame 999 out of range" in err
    assert (tmp_path / "o" / "ladder.svg").exists() and not (tmp_path / "o" / "bad.svg").exists()
    assert "## bad" in (tmp_path / "o" / "index.md").read_text()


@needs_corpus
def test_only_builds_one_figure(tmp_path, capsys):
    man = small_manifest(tmp_path)
    assert main(["build", str(man), "--only", "states"]) == 0
    assert sorted(p.name for p in (tmp_path / "figs").glob("*.svg")) == ["states.svg"]
    assert main(["build", str(man), "--only", "nope"]) == 2
    assert "no figure named 'nope'" in capsys.readouterr().err


def test_more_captures_of_a_graph_round_trip_and_redraw(tmp_path):
    """A cwnd graph of several captures: the manifest's `more` files are the command's CAPTUREs after
    the first, the same request as the API's, the same bytes; a changed `more` capture redraws."""
    import viz
    from viz import figures

    for name in ("slow-start", "sawtooth", "bulk"):
        shutil.copy(ROOT / "captures" / f"{name}.pcapng", tmp_path / f"{name}.pcapng")
    man = write(tmp_path, '[build]\noutput = "figs"\n\n[[figure]]\nname = "cc"\ncapture = "slow-start.pcapng"\n'
                          'graph = { kind = "cwnd", more = ["sawtooth.pcapng", "bulk.pcapng"] }\n')
    m = B.load_manifest(man)
    fig = m.figure("cc")
    assert [s.capture for s in fig.more] == [str(tmp_path / "sawtooth.pcapng"), str(tmp_path / "bulk.pcapng")]
    r = B.build(m, tracer=no_trace, log=lambda s: None)
    assert [o.status for o in r.outcomes] == ["built"], r.outcomes
    out = tmp_path / "figs"
    command = next(ln for ln in (out / "index.md").read_text().splitlines() if ln.startswith("synack graph"))
    assert command == ("synack graph ../slow-start.pcapng ../sawtooth.pcapng ../bulk.pcapng --kind cwnd "
                       "-o cc.svg")
    req = B.request(fig, out / "captures", str(out))
    assert req == figures.parse_command(command) == viz.request("graph", req.capture, **req.keywords())
    assert req.more == ("../sawtooth.pcapng", "../bulk.pcapng")
    viz.render(viz.request("graph", req.capture, kind="cwnd", more=req.more, output=str(tmp_path / "api.svg")),
               cwd=out)
    assert (tmp_path / "api.svg").read_bytes() == (out / "cc.svg").read_bytes()
    assert [o.status for o in B.build(m, tracer=no_trace, log=lambda s: None).outcomes] == ["skipped"]
    shutil.copy(ROOT / "captures" / "tcp-echo.pcapng", tmp_path / "bulk.pcapng")  # one of `more` changed
    assert [o.status for o in B.build(m, tracer=no_trace, log=lambda s: None).outcomes] == ["built"]


def test_more_trace_tables_are_the_figures_trace_with_keys_changed(tmp_path):
    man = write(tmp_path, '[[figure]]\nname = "cc"\nscenario = "slow-start"\n'
                          'graph = { kind = "cwnd", more = [{ cc = "cubic" }, { cc = "bbr", delay = "20ms" }] }\n')
    fig = B.load_manifest(man).figure("cc")
    assert [s.scenario for s in fig.sources] == ["slow-start"] * 3
    assert [s.trace_args() for s in fig.more] == [["slow-start", "--cc", "cubic"],
                                                  ["slow-start", "--delay", "20ms", "--cc", "bbr"]]
    assert len({s.key() for s in fig.sources}) == 3  # three traces, three files


# Issue 7's lecture set: each item and the figure(s) of captures/lecture.toml that show it.
LECTURE_SET = {
    "handshake with socket calls and states": "handshake",
    "echo data transfer": "echo-data",
    "teardown with TIME_WAIT": "teardown",
    "half-close": "half-close",
    "refused connection (RST)": "refused",
    "UDP uppercase": "udp-upper",
    "threaded server with three clients": "threaded-server",
    "lost segment and RTO": "lost-segment",
    "fast retransmit": "fast-retransmit",
    "zero window": "zero-window",
    "encapsulation of an HTTP GET (nested)": "http-get-nested",
    "encapsulation of an HTTP GET (stack)": "http-get-stack",
    "TCP header grid of a SYN": "syn-header",
    "router hop comparison": "router-hop",
    "TCP state machine with the echo paths": "state-machine",
    "conversation graph": "conversations",
}


def test_lecture_manifest_is_valid_and_complete():
    m = B.load_manifest(ROOT / "captures" / "lecture.toml")
    names = {f.name: f for f in m.figures}
    assert set(LECTURE_SET.values()) <= set(names)
    assert m.output == str(ROOT / "captures" / "figures")
    f = names["threaded-server"]
    assert dict(f.source.options)["clients"] == 3
    assert names["lost-segment"].source.scenario == "lost-segment"
    assert names["fast-retransmit"].source.scenario == "fast-retransmit"
    assert names["zero-window"].source.scenario == "zero-window"
    hop = names["router-hop"]
    assert hop.source.topology == "routed" and hop.kind == "layers" and hop.other_point == "server"
    assert names["syn-header"].opt("view") == "fields" and names["syn-header"].opt("frame") == "syn"
    assert names["state-machine"].opt("kind") == "states"
    assert names["conversations"].opt("kind") == "conversations"
    # every traced source's captures are committed with a stamp, so figures redraw without root
    for fig in m.figures:
        for src in fig.sources:
            for path in B.source_files(src, m.captures).values():
                assert Path(path).is_file(), f"{fig.name}: {path} not committed"
            if src.kind != "capture":
                assert (Path(m.captures) / f"{src.label}-{src.key()}.source").is_file()


@pytest.mark.slow
@needs_root
def test_lecture_builds_for_real_twice_byte_identical(tmp_path):
    shutil.copy(ROOT / "captures" / "lecture.toml", tmp_path / "lecture.toml")
    m = B.load_manifest(tmp_path / "lecture.toml")
    r1 = B.build(m, output=str(tmp_path / "one"), log=lambda s: None)
    assert not r1.failed, r1.failed
    assert r1.traced == len({s.key() for f in m.figures for s in f.sources if s.kind != "capture"})
    r2 = B.build(m, output=str(tmp_path / "two"), log=lambda s: None)  # clean figures, kept captures
    assert r2.traced == 0 and [o.status for o in r2.outcomes] == ["built"] * len(m.figures)
    one, two = outputs(tmp_path / "one"), outputs(tmp_path / "two")
    assert len([k for k in one if k.endswith(".svg")]) == len(m.figures)
    assert one == two
    r3 = B.build(m, output=str(tmp_path / "one"), log=lambda s: None)
    assert {o.status for o in r3.outcomes} == {"skipped"}


@needs_root
def test_trace_options_reach_the_tracer(tmp_path):
    """Faults and both capture points given in the manifest are what the real trace does."""
    man = write(tmp_path, """\
[build]
output = "out"

[[figure]]
name = "lost"
scenario = "tcp-echo"
options = { client_port = 40030 }
trace = { drop = "c2s:3", rto_min = "20ms", at = "both" }
ladder = { at = "server" }
output = "lost.txt"

[[figure]]
name = "hop"
scenario = "udp-upper"
options = { client_port = 40031 }
trace = { topology = "routed" }
layers = { frame = "first-udp", compare = true }
""")
    lines: list[str] = []
    r = B.build(B.load_manifest(man), log=lines.append)
    assert not r.failed, r.failed
    assert r.traced == 2
    assert "  tracing synack trace tcp-echo --client-port 40030 --at both --drop c2s:3 --rto-min 20ms" in lines
    caps = sorted(p.name for p in (tmp_path / "out" / "captures").glob("*.pcapng"))
    assert [c.split(".", 1)[1] for c in caps] == ["client.pcapng", "server.pcapng",
                                                  "client-link.pcapng", "server-link.pcapng"]
    text = (tmp_path / "out" / "lost.txt").read_text()
    assert "retransmission" in text and "captured at server" in text
    md = (tmp_path / "out" / "index.md").read_text()
    assert "--compare captures/udp-upper-" in md and ".server-link.pcapng -o hop.svg" in md
    assert (tmp_path / "out" / "hop.svg").read_bytes().startswith(b"<?xml")
