"""Themes lecturers pin: the built-in ones (print has no hue, cb is Okabe and Ito's palette),
theme files written by `synack themes NAME` and read by --theme FILE.toml, and a manifest's
theme file, whose edits redraw the figures."""
from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path

import pytest

from tracer import build as B
from tracer.cli import main
from viz.figure import THEMES, load_theme

ROOT = Path(__file__).resolve().parents[1]
CAP = str(ROOT / "captures" / "lost-segment.pcapng")
HEX = re.compile(r"#([0-9a-fA-F]{6})\b")


def _draw(tmp: Path, name: str, *args) -> bytes:
    out = tmp / name
    assert main(["ladder", CAP, *args, "--page", "none", "-o", str(out)]) == 0
    return out.read_bytes()


@pytest.mark.parametrize("theme", list(THEMES))
def test_each_theme_is_deterministic_and_its_own(theme, tmp_path):
    a = _draw(tmp_path, "a.svg", "--theme", theme)
    assert a == _draw(tmp_path, "b.svg", "--theme", theme)
    colours = {c.lower() for c in HEX.findall(a.decode())}
    th = THEMES[theme]
    assert th.data.lstrip("#").lower() in colours or th.data in ("black",)
    if theme == "print":  # black on white: no hue anywhere, only weights and greys
        assert all(c[0:2] == c[2:4] == c[4:6] for c in colours), colours
    if theme != "light":
        assert a != _draw(tmp_path, "light.svg")


def test_cb_is_the_okabe_ito_palette():
    okabe_ito = {"#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7"}
    cb = THEMES["cb"]
    assert {cb.data, cb.alert, cb.accent} <= okabe_ito


def test_themes_lists_colours_and_writes_a_file_that_reads_back(tmp_path, capsys):
    assert main(["themes"]) == 0
    out = capsys.readouterr().out
    for th in THEMES.values():
        assert f"{th.name}: {th.about}" in out and th.data in out
    assert main(["themes", "dark"]) == 0
    f = tmp_path / "course.toml"
    f.write_text(capsys.readouterr().out)
    got = asdict(load_theme(str(f)))
    want = asdict(THEMES["dark"])
    assert {k: v for k, v in got.items() if k not in ("name", "about")} == \
        {k: v for k, v in want.items() if k not in ("name", "about")}
    # the same figure as the built-in dark theme
    assert _draw(tmp_path, "file.svg", "--theme", str(f)) == _draw(tmp_path, "dark.svg", "--theme", "dark")


def test_a_theme_file_changes_colours_and_font(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text('base = "print"\ndata = "#cc79a7"\nfont = "DejaVu Serif"\n')
    svg = _draw(tmp_path, "m.svg", "--theme", str(f)).decode()
    assert "#cc79a7" in svg and "DejaVu Serif" in svg
    assert _draw(tmp_path, "p.svg").decode().count("DejaVu Serif") == 0


@pytest.mark.parametrize("text, msg", [
    ('colour = "red"\n', "colour: unknown key"),
    ('data = "bluish"\n', "data: 'bluish' is not a colour"),
    ('base = "neon"\n', "base 'neon': choose from light, print, dark, cb"),
    ('fills = ["#fff"]\n', "fills: give six colours"),
    ('data = \n', "not a theme file (TOML)"),
])
def test_bad_theme_file_is_one_line(tmp_path, capsys, text, msg):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    assert main(["ladder", CAP, "--theme", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{f}: {msg}" in err, err


def test_the_manifest_pins_a_theme_file_and_its_edits_redraw(tmp_path):
    (tmp_path / "course.toml").write_text('base = "light"\ndata = "#0072b2"\n')
    man = tmp_path / "m.toml"
    man.write_text(f'[build]\noutput = "out"\ntheme = "course.toml"\n\n[[figure]]\nname = "l"\n'
                   f'capture = "{CAP}"\nladder = {{}}\n')
    m = B.load_manifest(man)
    r = B.build(m, log=lambda s: None)
    assert [o.status for o in r.outcomes] == ["built"]
    svg = (tmp_path / "out" / "l.svg").read_text()
    assert "#0072b2" in svg
    assert "--theme ../course.toml" in (tmp_path / "out" / "index.md").read_text()
    assert [o.status for o in B.build(m, log=lambda s: None).outcomes] == ["skipped"]
    (tmp_path / "course.toml").write_text('base = "light"\ndata = "#d55e00"\n')
    assert [o.status for o in B.build(B.load_manifest(man), log=lambda s: None).outcomes] == ["built"]
    assert "#d55e00" in (tmp_path / "out" / "l.svg").read_text()
    (tmp_path / "course.toml").write_text('data = "nope"\n')
    with pytest.raises(B.SynackError, match=r"m.toml:3: build.theme: course.toml: data: 'nope' is not a colour"):
        B.load_manifest(man)
