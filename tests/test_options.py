"""Every row of the option table (viz.options.OPTIONS), for every figure kind that takes it: a value
given on the command line (the real `synack` parser), in a manifest entry and as an API keyword
is the same request, and a bad one the same message naming the option in each source's words.
The cases are made from the table, so a new option is checked without a new test."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import viz
from tracer import build as B
from tracer.cli import build_parser
from viz import figures, options
from viz.errors import SynackError

ROOT = Path(__file__).resolve().parents[1]
CAP = str(ROOT / "captures" / "tcp-echo.pcapng")

# A value other than the default, and a bad one (None: no bad value of this type can be written),
# for the rows whose values are not a list of choices or a flag.
SAMPLES = {
    "stream": ("udp:1", "tcp:x"),
    "frames": ("3-9", "9-3"),
    "frame": ("first-data", "synn"),
    ("time", "graph"): ("100-250", "250-100"),
    "more": (("a.pcapng", "b.pcapng"), None),
    "top": (3, -1),
    "hex_rows": (4, -1),
    "compare": ("other.pcapng", None),
    "other_frame": (2, 0),
    "speed": (0.5, 0),
    "theme": ("print", "neon"),
    "size": ("10x6", "big"),
    "width": (120, 10),
}
# What the other options of a case must be for the value to be possible (a layers figure
# needs its frame, a graph zoom a TCP graph, ...).
NEEDS = {
    "layers": {"frame": 1},
    ("graph", "time"): {"kind": "tsg"}, ("graph", "frames"): {"kind": "tsg"}, ("graph", "more"): {"kind": "cwnd"},
    ("graph", "style"): {"kind": "tsg"},
    ("layers", "other_frame"): {"compare": "other.pcapng"},
}


def _samples(kind: str, o: figures.Option):
    if o.type is bool:
        return (not o.default, "yes")  # a flag on the command line: no bad value there
    if o.choices:
        return (next(c for c in o.choices if c != o.default), "bogus")
    if o.name == "format":
        return (figures.FORMATS[kind][1], "doc")
    return SAMPLES.get((o.name, kind), SAMPLES.get(o.name))


CASES = [(kind, o.name) for kind in figures.KINDS for o in figures.options_of(kind)]


def _context(kind: str, name: str) -> dict:
    ctx = dict(NEEDS.get(kind, {}), **NEEDS.get((kind, name), {}))
    ctx.pop(name, None)
    if kind == "play" or name == "format":
        ctx["output"] = f"out.{figures.FORMATS[kind][0]}"
    return ctx


def _words(kind: str, values: dict) -> list[str]:
    words = [kind, CAP]
    for key, v in values.items():
        if key == "output":
            words += ["-o", v]
            continue
        o = figures.option_for(kind, key)
        if o.name == "more":
            words[2:2] = list(v)
        elif o.type is bool:
            if v != o.default:
                words.append(o.flag)
        else:
            words += [o.flag, o.text(v) if isinstance(v, tuple) else str(v)]
    return words


def _cli(kind: str, values: dict):
    return figures.arguments(kind, build_parser().parse_args(_words(kind, values)))


def _manifest(tmp: Path, kind: str, values: dict):
    def toml(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, tuple):
            return "[" + ", ".join(toml(x) for x in v) + "]"
        return '"' + v + '"'

    out = values.get("output")
    opts = {k: v for k, v in values.items() if k != "output"}
    for name in ("compare", "more"):  # files the manifest checks: made real, then named as written
        for f in (opts.get(name) if isinstance(opts.get(name), tuple) else (opts.get(name),)):
            if f:
                (tmp / f).write_bytes(Path(CAP).read_bytes())
    if "frames" in opts and isinstance(opts["frames"], tuple):
        opts["frames"] = options._frames_text(opts["frames"])
    body = ", ".join(f"{k} = {toml(v)}" for k, v in opts.items())
    text = f'[[figure]]\nname = "x"\ncapture = "{CAP}"\n{kind} = {{ {body} }}\n'
    if out:
        text += f'output = "{out}"\n'
    path = tmp / "m.toml"
    path.write_text(text)
    m = B.load_manifest(path)
    req = B.request(m.figure("x"), tmp, str(tmp))
    return req, path


def test_every_option_and_kind_is_a_case():
    assert len(CASES) == sum(len(figures.options_of(k)) for k in figures.KINDS) >= 40
    for kind, name in CASES:
        assert _samples(kind, figures.option_for(kind, name)) is not None, (kind, name)


@pytest.mark.parametrize("kind, name", CASES, ids=lambda v: str(v))
def test_a_value_is_the_same_request_from_all_three(kind, name, tmp_path, monkeypatch):
    good, _ = _samples(kind, figures.option_for(kind, name))
    values = dict(_context(kind, name), **{name: good})
    api = viz.request(kind, CAP, **values)
    monkeypatch.chdir(tmp_path)  # the manifest's files are relative to it, the request's too
    manifest, _ = _manifest(tmp_path, kind, values)
    cli = _cli(kind, values)
    # the manifest names its capture relative to the figures folder and adds the build's
    # defaults (times = false, page = none): compare the options it was given
    as_given = dataclasses.replace(manifest, capture=CAP, output=api.output, **{o.name: getattr(api, o.name)
                                                             for o in figures.options_of(kind)
                                                             if o.build_default and o.name != name})
    assert cli == api == as_given, (cli, api, manifest)
    assert getattr(api, name) != figures.option_for(kind, name).default
    assert figures.parse_command(api.command()) == api


@pytest.mark.parametrize("kind, name", [c for c in CASES if _samples(kind := c[0], figures.option_for(*c))[1]
                                        is not None], ids=lambda v: str(v))
def test_a_bad_value_is_the_same_message_from_all_three(kind, name, tmp_path, monkeypatch):
    o = figures.option_for(kind, name)
    _, bad = _samples(kind, o)
    values = dict(_context(kind, name), **{name: bad})
    with pytest.raises(figures.BadValue) as api:
        viz.request(kind, CAP, **values)
    assert api.value.option == name
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SynackError) as man:
        _manifest(tmp_path, kind, values)
    where, manifest = str(man.value).split(f": {kind}.{name}: ", 1)
    assert where.endswith("figure 'x'") and where.startswith(str(tmp_path / "m.toml") + ":4")
    assert manifest == api.value.message
    if o.type is bool:
        return  # a flag has no value to get wrong on the command line
    with pytest.raises(figures.BadValue) as cli:
        _cli(kind, values)
    assert cli.value.option == o.flag and cli.value.message == api.value.message


@pytest.mark.parametrize("kind", figures.KINDS)
def test_an_option_of_no_kind_here_is_refused_alike(kind, tmp_path, monkeypatch):
    other = next(o for o in figures.OPTIONS if not any(x.name == o.name and kind in x.kinds
                                                       for x in figures.OPTIONS))
    good, _ = _samples(next(k for k in other.kinds), other)
    values = dict(_context(kind, other.name), **{other.name: good})
    with pytest.raises(figures.BadValue) as api:
        viz.request(kind, CAP, **values)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SynackError) as man:
        _manifest(tmp_path, kind, values)
    assert str(man.value).split(f": {kind}.{other.name}: ", 1)[1] == api.value.message
    if other.name != "more":
        with pytest.raises(figures.BadValue) as cli:
            _cli(kind, values)
        assert cli.value.message == api.value.message
