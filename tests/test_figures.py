"""One figure request everywhere: the manifest, the command line the index prints and the API
keywords give the same value, drawn into the same bytes; a bad value gets the same message
from all three; an option a figure kind does not take, or a meaning the capture lacks, is one
line naming the option and what is possible."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

import viz
from tracer import build as B
from tracer.cli import main
from viz import figures
from viz.errors import SynackError

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "captures" / "figures"
MANIFEST = B.load_manifest(ROOT / "captures" / "lecture.toml")
INDEX = (FIGURES / "index.md").read_text()


def _files(fig):
    src = fig.source
    if src.kind == "capture":
        return {src.at: src.capture}
    return src.files(str(Path(MANIFEST.captures) / f"{src.label}-{src.key()}.pcapng"))


def _index_command(name: str) -> str:
    section = INDEX.split(f"## {name}\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"^synack (?:ladder|layers|graph|play) .*$", section, re.M).group(0)


@pytest.mark.parametrize("fig", MANIFEST.figures, ids=lambda f: f.name)
def test_manifest_command_and_api_make_one_request(fig, tmp_path):
    from_manifest = B.request(fig, _files(fig), MANIFEST.output, B.more_files(fig, MANIFEST.captures))
    from_cli = figures.parse_command(_index_command(fig.name))
    from_api = viz.request(fig.kind, from_manifest.capture, **from_manifest.keywords())
    assert from_manifest == from_cli == from_api
    assert type(from_manifest).__name__ == f"{fig.kind.capitalize()}Request"
    assert from_cli.command() == _index_command(fig.name)
    # drawn through the API from the figures folder: the bytes the build committed
    out = tmp_path / fig.output
    viz.render(figures.make(fig.kind, from_api.capture, str(out), **{k: v for k, v in from_api.keywords().items()
                                                                      if k != "output"}), cwd=FIGURES)
    assert out.read_bytes() == (FIGURES / fig.output).read_bytes()


def test_every_option_exists_in_all_three_sources():
    import argparse

    for kind in figures.KINDS:
        p = argparse.ArgumentParser()
        p.add_argument("capture")
        figures.add_arguments(p, kind)
        shown = {a.dest for a in p._actions if a.help != argparse.SUPPRESS}
        for o in figures.options_of(kind):
            assert o.name in shown, (kind, o.name)
            assert o.name in {f.name for f in __import__("dataclasses").fields(figures.REQUESTS[kind])}
        taken = [o.name for o in figures.options_of(kind)]
        assert len(set(taken)) == len(taken), kind  # a name means one thing per kind (time: ladder and graph)


CAP = "captures/tcp-echo.pcapng"
BAD = [  # kind, option, manifest/API value, command-line words
    ("ladder", "numbers", "roman", ["--numbers", "roman"]),
    ("ladder", "phase", "lunch", ["--phase", "lunch"]),
    ("ladder", "frames", "5-2", ["--frames", "5-2"]),
    ("ladder", "width", 10, ["--width", "10"]),
    ("ladder", "theme", "neon", ["--theme", "neon"]),
    ("ladder", "size", "big", ["--size", "big"]),
    ("layers", "frame", "synn", ["--frame", "synn"]),
    ("layers", "view", "tree", ["--frame", "1", "--view", "tree"]),
    ("graph", "kind", "tree", ["--kind", "tree"]),
    ("graph", "top", -1, ["--top", "-1"]),
    ("ladder", "top", 3, ["--top", "3"]),  # an option of another kind
]


@pytest.mark.parametrize("kind, key, value, words", BAD, ids=lambda v: str(v))
def test_a_bad_value_gets_the_same_message_from_all_three(kind, key, value, words, tmp_path, capsys):
    # command line
    assert main([kind, str(ROOT / CAP), *words]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("synack: error: --")
    cli = err.strip().split(": ", 3)[3]
    # manifest (names line and key)
    extra = {"layers": 'frame = 1, '}.get(kind, "") if key != "frame" else ""
    v = f'"{value}"' if isinstance(value, str) else value
    man = tmp_path / "m.toml"
    man.write_text(f'[[figure]]\nname = "x"\ncapture = "{ROOT / CAP}"\n{kind} = {{ {extra}{key} = {v} }}\n')
    with pytest.raises(SynackError) as exc:
        B.load_manifest(man)
    assert str(exc.value).startswith(f"{man}:4: figure 'x': {kind}.{key}: "), exc.value
    manifest = str(exc.value).split(f"{kind}.{key}: ", 1)[1]
    # API
    kw = {"frame": 1} if kind == "layers" and key != "frame" else {}
    with pytest.raises(figures.BadValue) as exc:
        viz.request(kind, CAP, **kw, **{key: value})
    assert exc.value.option == key
    assert cli == manifest == exc.value.message


def test_frames_by_meaning_on_the_command_line(capsys):
    assert main(["layers", str(ROOT / "captures/http-get.pcapng"), "--frame", "http-get"]) == 0
    assert "GET /" in capsys.readouterr().out
    assert main(["ladder", str(ROOT / CAP), "--phase", "teardown", "--width", "100"]) == 0
    out = capsys.readouterr().out
    assert "FIN" in out and "SYN" not in out


def test_a_meaning_the_capture_lacks_says_what_it_has(capsys):
    assert main(["layers", str(ROOT / "captures/udp-upper.pcapng"), "--frame", "http-get"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "frame 'http-get'" in err and "it has: first-udp, udp-reply" in err
    assert main(["ladder", str(ROOT / "captures/udp-upper.pcapng"), "--phase", "handshake"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "phase 'handshake'" in err and "no TCP stream" in err


def test_an_option_of_another_kind_names_who_takes_it(capsys):
    assert main(["graph", str(ROOT / CAP), "--phase", "handshake"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "--phase: a graph takes no phase (an option of ladder, play); a graph takes stream, frames, kind" in err


def test_command_round_trips_every_option():
    req = viz.request("ladder", "a b.pcapng", frames=(3, 9), numbers="absolute", win=True, times=False,
                      size=(10, 6), width=120, compare="other.pcapng", output="x.svg")
    assert req.command() == ("synack ladder 'a b.pcapng' --frames 3-9 --absolute --win --no-times "
                             "--compare other.pcapng --size 10x6 --width 120 -o x.svg")
    assert figures.parse_command(req.command()) == req
    play = viz.request("play", "c.pcapng", phase="loss", auto=True, speed=0.5, output="p.html")
    assert figures.parse_command(play.command()) == play
    assert shlex.split(play.command())[3:] == ["--phase", "loss", "--auto", "--speed", "0.5", "-o", "p.html"]
