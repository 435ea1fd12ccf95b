"""`synack build`: a manifest of lecture figures, traced and drawn reproducibly.

A lecturer keeps one TOML file per course; every year `synack build` redraws
the set.  Three properties make that work under version control:

* Everything is checked before anything runs: a typo in figure 12 must not
  surface after eleven traces.  Errors name the manifest line and the key.
* Incremental: each figure has a stamp (hash of its manifest entry, its
  capture's bytes and the tool's own code).  Unchanged -> skipped, so a no-op
  rebuild costs a few hashes.  Traced captures are kept next to the figures
  and reused while their source entry is unchanged.
* Deterministic: figures are drawn with fixed client ports, relative or
  symbolic numbers, no wall-clock time labels (unless asked for) and the
  capture named by its path relative to the output folder, so the same capture
  gives the same bytes in any folder.
"""
from __future__ import annotations

import functools
import hashlib
import html
import json
import os
import re
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from viz.errors import SynackError
from viz.figures import KINDS, is_type, typename

SCHEMA_VERSION = 1
SOURCE_KEYS = ("scenario", "server", "client", "capture")
RENDERINGS = KINDS  # the figure kinds of viz.figures
FIGURE_KEYS = {"name", "caption", "options", "trace", "output", *SOURCE_KEYS, *RENDERINGS}
BUILD_KEYS = {"output", "theme", "captures"}
TRACE_KEYS = {"at": str, "net": str, "timeout": (int, float), "topology": str,
              "drop": (str, list), "loss": str, "seed": int, "rto_min": str,
              "delay": str, "jitter": str, "rate": str, "cc": str, "tcp": str}
SHAPE_KEYS = ("drop", "loss", "seed", "rto_min", "delay", "jitter", "rate", "cc", "tcp")  # faults, wire, TCP
OPTION_TYPES = {"message": str, "port": int, "client_port": int, "clients": int, "bytes": int, "ipv6": bool}
USER_OPTIONS = ("message", "port", "client_port", "clients", "bytes", "ipv6")
PLACE_KEYS = {"at": str, "compare": (bool, str)}  # which capture point a rendering draws (manifest only)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


# --------------------------------------------------------------------------- the manifest


@dataclass(frozen=True)
class Source:
    """Where a figure's frames come from; equal sources are traced once."""

    kind: str  # "scenario" | "programs" | "capture"
    scenario: str | None = None
    server: str | None = None
    client: str | None = None
    capture: str | None = None  # absolute path, for kind "capture"
    options: tuple[tuple[str, Any], ...] = ()
    at: str = "client"  # client | server | both
    net: str = "veth"
    timeout: float = 30.0
    topology: str = "direct"  # routed: client - router - server, captured on both links
    shape: tuple[tuple[str, Any], ...] = ()  # faults and wire options (SHAPE_KEYS)

    def key(self) -> str:
        parts: list[Any] = [self.kind, self.scenario, self.server, self.client, self.options, self.at, self.net]
        if self.topology != "direct" or self.shape:  # keys of plain traces stay as they were
            parts += [self.topology, self.shape]
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]

    @property
    def points(self) -> tuple[str, ...]:
        """The capture points this source writes: one, or both ends / both links of the router."""
        if self.kind != "capture" and (self.at == "both" or self.topology == "routed"):
            return ("client", "server")
        return (self.at,)

    def files(self, base: str) -> dict[str, str]:
        """Capture point -> file, for a source traced to `base` (NAME.pcapng)."""
        if len(self.points) == 1:
            return {self.points[0]: base}
        stem = base[: -len(".pcapng")] if base.endswith(".pcapng") else base
        link = "-link" if self.topology == "routed" else ""  # as tracer.run.output_paths names them
        return {p: f"{stem}.{p}{link}.pcapng" for p in self.points}

    @property
    def label(self) -> str:
        return self.scenario or ("user" if self.kind == "programs" else Path(self.capture or "").stem)

    def trace_args(self) -> list[str]:
        """The `synack trace` arguments that make this capture."""
        args = [self.scenario] if self.kind == "scenario" else ["--server", self.server or "",
                                                               "--client", self.client or ""]
        if self.kind == "programs" and not self.server:
            args = ["--client", self.client or ""]
        for k, v in self.options:
            flag = "--" + k.replace("_", "-")
            if isinstance(v, bool):
                if v:
                    args.append(flag)
            else:
                args += [flag, str(v)]
        if self.at != "client" and self.topology != "routed":
            args += ["--at", self.at]
        if self.net != "veth":
            args += ["--net", self.net]
        if self.topology != "direct":
            args += ["--topology", self.topology]
        for k, v in self.shape:
            for one in (v if isinstance(v, tuple) else (v,)):
                args += ["--" + k.replace("_", "-"), str(one)]
        if self.timeout != 30.0:
            args += ["--timeout", f"{self.timeout:g}"]
        return args


@dataclass(frozen=True)
class Figure:
    name: str
    caption: str
    source: Source
    kind: str  # ladder | layers | graph
    render: tuple[tuple[str, Any], ...]
    output: str  # relative to the output folder
    line: int
    entry: str  # canonical JSON of the manifest entry (for the stamp)
    compare_path: str | None = None  # absolute path of `compare = "FILE"` (capture sources)
    options: tuple[tuple[str, Any], ...] = ()  # the request's options (viz.figures), canonical, not default
    more: tuple[Any, ...] = ()  # graph more = [...]: an absolute capture path, or a Source (a variant traced)

    @property
    def point(self) -> str:
        """The capture point drawn: the rendering's `at`, else the trace's first point."""
        return self.opt("at", self.source.points[0])

    @property
    def other_point(self) -> str | None:
        """The capture point compared with (`compare = true`)."""
        if self.opt("compare") is not True:
            return None
        return next(p for p in self.source.points if p != self.point)

    def opt(self, key: str, default: Any = None) -> Any:
        return dict(self.render).get(key, default)


@dataclass(frozen=True)
class Manifest:
    path: str
    figures: tuple[Figure, ...]
    output: str  # absolute default output folder
    captures: str | None  # absolute folder for traced captures, None = OUTPUT/captures
    theme: str = "light"

    def figure(self, name: str) -> Figure:
        for f in self.figures:
            if f.name == name:
                return f
        raise SynackError(f"{self.path}: no figure named {name!r} (figures: "
                          f"{', '.join(f.name for f in self.figures)})")


class _Lines:
    """Finds the manifest line of a key, for error messages tomllib cannot give."""

    def __init__(self, text: str):
        self.lines = text.splitlines()
        self.figure_starts = [i for i, ln in enumerate(self.lines)
                              if re.match(r"^\s*\[\[\s*figure\s*\]\]", ln)]

    def _span(self, index: int | None) -> tuple[int, int]:
        if index is None:
            end = self.figure_starts[0] if self.figure_starts else len(self.lines)
            return 0, end
        if index >= len(self.figure_starts):
            return 0, len(self.lines)
        start = self.figure_starts[index]
        end = self.figure_starts[index + 1] if index + 1 < len(self.figure_starts) else len(self.lines)
        return start, end

    def find(self, index: int | None, path: tuple[str, ...]) -> int:
        """1-based line of `path` (e.g. ("ladder", "numbers")) in figure `index` (None: top level)."""
        start, end = self._span(index)
        pos = start
        found = start
        for depth, key in enumerate(path):
            pat = re.compile(r"(^|[\s{,.\[])" + re.escape(key) + r"(\s*=|\s*\]|$)")
            for i in range(pos, end):
                text = self.lines[i].split("#", 1)[0]
                if pat.search(text):
                    found = pos = i
                    break
            else:
                break
        return found + 1


def _err(path: str, line: int, where: str, msg: str) -> SynackError:
    return SynackError(f"{path}:{line}: {where}: {msg}")


def load_manifest(path: str | os.PathLike, output: str | None = None) -> Manifest:
    """Read and check the whole manifest; SynackError (file:line: key: why) on the first problem."""
    import tomllib

    from tracer import scenarios

    path = os.fspath(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise SynackError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise SynackError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        where = f"{path}:{m.group(1)}" if m else path
        raise SynackError(f"{where}: TOML syntax error: {re.sub(r' [(]at .*[)]$', '', msg)}") from None
    lines = _Lines(text)
    base = Path(path).resolve().parent

    for key in data:
        if key not in ("build", "figure"):
            raise _err(path, lines.find(None, (key,)), key,
                       "unknown key (a manifest has a [build] table and [[figure]] entries)")
    build = data.get("build", {})
    if not isinstance(build, dict):
        raise _err(path, lines.find(None, ("build",)), "build", "must be a table: [build]")
    for key, value in build.items():
        if key not in BUILD_KEYS:
            raise _err(path, lines.find(None, (key,)), f"build.{key}",
                       f"unknown key (known: {', '.join(sorted(BUILD_KEYS))})")
        if not isinstance(value, str):
            raise _err(path, lines.find(None, (key,)), f"build.{key}", "must be a string")
    theme = build.get("theme", "light")
    from viz import figures

    try:
        figures.make("ladder", "CAPTURE", theme=theme)
        theme = _theme_file(theme, base)
    except SynackError as exc:
        raise _err(path, lines.find(None, ("theme",)), "build.theme",
                   exc.message if isinstance(exc, figures.BadValue) else str(exc)) from None
    out_dir = Path(output).resolve() if output else (base / build.get("output", "figures")).resolve()
    captures_dir = str((base / build["captures"]).resolve()) if "captures" in build else None

    entries = data.get("figure", [])
    if not isinstance(entries, list) or not entries:
        raise SynackError(f"{path}: no figures (add [[figure]] entries)")
    figures: list[Figure] = []
    names: dict[str, int] = {}
    outputs: dict[str, str] = {}
    for i, entry in enumerate(entries):
        fig = _figure(entry, i, path, lines, base, theme, scenarios)
        if fig.name in names:
            raise _err(path, lines.find(i, ("name",)), f"figure {fig.name!r}: name",
                       f"duplicate name (also the figure at line {names[fig.name]})")
        names[fig.name] = lines.find(i, ("name",))
        if fig.output in outputs:
            line = lines.find(i, ("output",)) if "output" in entry else lines.find(i, ("name",))
            raise _err(path, line, f"figure {fig.name!r}: output",
                       f"{fig.output} is also written by figure {outputs[fig.output]!r}")
        outputs[fig.output] = fig.name
        figures.append(fig)
    return Manifest(path=path, figures=tuple(figures), output=str(out_dir), captures=captures_dir,
                    theme=theme)


def _figure(entry: Any, i: int, path: str, lines: _Lines, base: Path, theme: str, scenarios) -> Figure:
    head = lines.find(i, ())
    if not isinstance(entry, dict):
        raise _err(path, head, f"figure #{i + 1}", "must be a table")
    name = entry.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise _err(path, lines.find(i, ("name",)) if "name" in entry else head, f"figure #{i + 1}: name",
                   "each figure needs a name of letters, digits, '.', '_' or '-' (it names the files)")
    who = f"figure {name!r}"

    def fail(keys: tuple[str, ...], msg: str) -> SynackError:
        return _err(path, lines.find(i, keys), f"{who}: {'.'.join(keys)}", msg)

    for key in entry:
        if key not in FIGURE_KEYS:
            raise fail((key,), f"unknown key (known: {', '.join(sorted(FIGURE_KEYS))})")
    caption = entry.get("caption", "")
    if not isinstance(caption, str):
        raise fail(("caption",), "must be a string")

    # -- source
    given = [k for k in ("scenario", "capture") if k in entry] + (["client"] if "client" in entry else [])
    if "server" in entry and "client" not in entry:
        raise fail(("server",), "a server program needs a client program too (client = \"...\")")
    if len(given) != 1:
        raise _err(path, head, f"{who}: source",
                   "give exactly one of scenario = \"...\", capture = \"FILE\", or client = \"CMD\" "
                   f"(with server = \"CMD\"); got {', '.join(given) or 'none'}")
    for k in ("scenario", "capture", "server", "client"):
        if k in entry and (not isinstance(entry[k], str) or not entry[k]):
            raise fail((k,), "must be a non-empty string")
    options = entry.get("options", {})
    trace = entry.get("trace", {})
    for k, v in (("options", options), ("trace", trace)):
        if not isinstance(v, dict):
            raise fail((k,), "must be a table, e.g. " + ("{ client_port = 40000 }" if k == "options"
                                                          else "{ at = \"client\" }"))
    if "capture" in entry:
        for k in ("options", "trace"):
            if k in entry:
                raise fail((k,), "only for traced figures (this one reads an existing capture)")
        cap = (base / entry["capture"]).resolve()
        if not cap.is_file():
            raise fail(("capture",), f"{entry['capture']}: no such capture file")
        source = Source("capture", capture=str(cap))
    else:
        allowed = USER_OPTIONS
        if "scenario" in entry:
            try:
                sc = scenarios.get(entry["scenario"])
            except SynackError as exc:
                raise fail(("scenario",), str(exc)) from None
            allowed = sc.options
        for k, v in options.items():
            if k not in OPTION_TYPES:
                raise fail(("options", k), f"unknown option (known: {', '.join(OPTION_TYPES)})")
            if k not in allowed:
                raise fail(("options", k), f"scenario {entry['scenario']!r} takes no {k} "
                           f"(it takes {', '.join(allowed)})")
            if not is_type(v, OPTION_TYPES[k]):
                raise fail(("options", k), f"must be {typename(OPTION_TYPES[k])}")
            if k in ("port", "client_port") and not 0 < v <= 65535:
                raise fail(("options", k), f"{v} is not a port number (1-65535)")
            if k in ("clients", "bytes") and v < 1:
                raise fail(("options", k), "must be at least 1")

        def traced(trace: dict, where: tuple[str, ...] = ("trace",)) -> Source:
            """The Source of this entry traced with `trace` (its own, or a `more` variant's)."""
            for k, v in trace.items():
                if k not in TRACE_KEYS:
                    raise fail((*where, k), f"unknown key (known: {', '.join(TRACE_KEYS)})")
                if not is_type(v, TRACE_KEYS[k]):
                    raise fail((*where, k), f"must be {typename(TRACE_KEYS[k])}")
            at, net, timeout = trace.get("at", "client"), trace.get("net", "veth"), float(trace.get("timeout", 30.0))
            topology = trace.get("topology", "direct")
            if at not in ("client", "server", "both"):
                raise fail((*where, "at"), f"{at!r}: choose client, server or both (both ends, two captures)")
            if net not in ("veth", "loopback"):
                raise fail((*where, "net"), f"{net!r}: choose veth or loopback")
            if timeout <= 0:
                raise fail((*where, "timeout"), "must be positive")
            if topology not in ("direct", "routed"):
                raise fail((*where, "topology"), f"{topology!r}: choose direct or routed")
            if net == "loopback" and (at == "both" or topology == "routed"):
                raise fail((*where, "at" if at == "both" else "topology"),
                           "loopback is one host with one capture point (use net = \"veth\")")
            if topology == "routed" and at != "client" and "at" in trace:
                raise fail((*where, "at"), "a routed trace always captures both links; "
                           "choose the one to draw with at = \"client\" or \"server\" in the rendering")
            shape = []
            for k in SHAPE_KEYS:
                if k in trace:
                    v = trace[k]
                    if k == "drop":
                        v = (v,) if isinstance(v, str) else tuple(v)
                        if not v or not all(isinstance(x, str) for x in v):
                            raise fail((*where, k), "must be a string or a list of strings, e.g. \"c2s:4\"")
                    shape.append((k, v))
            _check_shape(dict(shape), lambda k, msg: fail((*where, k), msg))
            if shape and net != "veth":
                raise fail((*where, shape[0][0]), "faults and link shaping need two hosts (net = \"veth\")")
            opts = tuple(sorted(options.items()))
            common = dict(options=opts, at=at, net=net, timeout=timeout, topology=topology, shape=tuple(shape))
            if "scenario" in entry:
                return Source("scenario", scenario=entry["scenario"], **common)
            return Source("programs", server=entry.get("server"), client=entry["client"], **common)
        source = traced(trace)

    # -- rendering
    kinds = [k for k in RENDERINGS if k in entry]
    if len(kinds) != 1:
        raise _err(path, head, f"{who}: rendering", "give exactly one of ladder = {...}, layers = {...}, "
                   f"graph = {{...}}, play = {{...}} (one figure, one file); got {', '.join(kinds) or 'none'}")
    kind = kinds[0]
    render = entry[kind]
    if not isinstance(render, dict):
        raise fail((kind,), "must be a table, e.g. { numbers = \"symbolic\" }")
    from viz import figures

    for k, want in PLACE_KEYS.items():
        if k in render and not is_type(render[k], want):
            raise fail((kind, k), f"must be {typename(want)}")
    output = entry.get("output", f"{name}.{figures.FORMATS[kind][0]}")
    if not isinstance(output, str) or not output or output.startswith(("/", "..")) or "/../" in output:
        raise fail(("output",), "must be a file name inside the output folder")
    formats = tuple("." + f for f in figures.FORMATS[kind])
    if Path(output).suffix.lower() not in formats:
        raise fail(("output",), f"{output}: unknown format for a {kind} (choose from {' '.join(formats)})")
    opts = {k: v for k, v in render.items() if k not in PLACE_KEYS}
    if isinstance(opts.get("theme"), str):
        try:
            opts["theme"] = _theme_file(opts["theme"], base)
        except SynackError as exc:
            raise fail((kind, "theme"), str(exc)) from None
    if "compare" in render:
        opts["compare"] = "OTHER"  # its rules with the other options; the file is known once traced
    more: list[Any] = []
    if "more" in render:
        items = render["more"]
        if not isinstance(items, list) or not items:
            raise fail((kind, "more"), "a list of the captures drawn with this one: files (\"reno.pcapng\") "
                       "or this trace again with other settings ({ cc = \"cubic\" })")
        for item in items:
            if isinstance(item, str) and item:
                cap = (base / item).resolve()
                if not cap.is_file():
                    raise fail((kind, "more"), f"{item}: no such capture file")
                more.append(str(cap))
            elif isinstance(item, dict) and source.kind != "capture":
                more.append(traced({**trace, **item}, (kind, "more")))
            else:
                raise fail((kind, "more"), f"{item!r}: give a capture file, or trace settings such as "
                           "{ cc = \"cubic\" } (a table traces this figure's source again)")
        opts["more"] = [f"MORE{n}" for n in range(len(more))]  # checked like the rest; files known once traced
    try:
        req = figures.table(kind, opts, "CAPTURE", output, name=lambda o: o.name, defaults={"theme": theme})
    except figures.BadValue as exc:
        raise fail((kind, exc.option), exc.message) from None
    options = tuple((k, v) for k, v in req.keywords().items() if k not in ("output", "compare", "more"))
    if kind == "layers" and req.view == "all":
        raise fail((kind, "view"), "'all' writes one file per view; a figure is one file (one entry per view)")
    if kind == "graph" and req.kind == "topology" and source.kind == "capture" and "stream" in render:
        raise fail((kind, "stream"), "topology graphs have no stream")

    # -- which capture point to draw, and the other one to compare with
    compare_path = None
    if "at" in render and render["at"] not in source.points:
        raise fail((kind, "at"), f"{render['at']!r}: this figure's trace captures at "
                   f"{' and '.join(source.points)} (trace = {{ at = \"both\" }} captures both ends)")
    if "compare" in render:
        cmp = render["compare"]
        if source.kind == "capture":
            if not isinstance(cmp, str):
                raise fail((kind, "compare"), "give the other capture file, e.g. compare = \"server.pcapng\"")
            other = (base / cmp).resolve()
            if not other.is_file():
                raise fail((kind, "compare"), f"{cmp}: no such capture file")
            compare_path = str(other)
        elif cmp is not True:
            raise fail((kind, "compare"), "compare = true draws the other capture point of this trace "
                       "(trace = { at = \"both\" } or topology = \"routed\")" if cmp is False or
                       isinstance(cmp, str) else "must be true")
        elif len(source.points) < 2:
            raise fail((kind, "compare"), "needs two capture points: trace = { at = \"both\" } "
                       "or { topology = \"routed\" }")

    if output == "index.md" or output == "index.html" or output.startswith(("captures/", ".stamps/")):
        raise fail(("output",), f"{output} is reserved for the build itself")
    canon = json.dumps({k: entry[k] for k in sorted(entry)}, sort_keys=True, default=str)
    return Figure(name, caption, source, kind, tuple(sorted(render.items())), output, head, canon, compare_path,
                  options, tuple(more))


def _theme_file(theme: str, base: Path) -> str:
    """A theme file named relative to the manifest, as an absolute path, read once to check it."""
    if not theme.lower().endswith(".toml"):
        return theme
    from viz.figure import load_theme

    full = str((base / theme).resolve())
    load_theme(full, theme)
    return full


def _check_shape(shape: dict[str, Any], fail: Callable[[str, str], SynackError]) -> None:
    """Faults and wire options parsed as `synack trace` parses them, so a typo fails before any trace."""
    from tracer import faults as faultmod
    from tracer import tcpprofile
    from tracer import wire as wiremod

    for k, v in shape.items():
        try:
            if k in ("cc", "tcp"):
                tcpprofile.build(**{k: v})
            elif k == "drop":
                for spec in v:
                    faultmod.parse_drop(spec)
            elif k == "loss":
                faultmod.parse_percent(v)
            elif k == "rto_min":
                faultmod.build(rto_min=v)
            elif k in ("delay", "jitter", "rate"):
                wiremod.parse_directional(v, "--" + k)
        except SynackError as exc:
            raise fail(k, str(exc)) from None
    if "seed" in shape and "loss" not in shape and "jitter" not in shape:
        raise fail("seed", "only makes sense with loss or jitter")
    try:
        wiremod.spec_from(shape.get("delay"), shape.get("jitter"), shape.get("rate"), shape.get("seed"))
    except SynackError as exc:
        key = next((k for k in ("jitter", "rate", "delay") if k in shape), "delay")
        raise fail(key, str(exc)) from None


# --------------------------------------------------------------------------- rendering


def relpath(target: str, start: str) -> str:
    return Path(os.path.relpath(target, start)).as_posix()


def figure_captures(fig: Figure, files: dict[str, str]) -> tuple[str, str | None]:
    """The capture a figure draws and the one it is compared with (or None), from its source's files."""
    if fig.source.kind == "capture":
        return fig.source.capture or "", fig.compare_path
    other = fig.other_point
    return files[fig.point], (files[other] if other else None)


def traced_files(src: Source, cap_dir: str | os.PathLike) -> dict[str, str]:
    """Capture point -> file of a traced source, in the build's captures folder."""
    return src.files(str(Path(cap_dir) / f"{src.label}-{src.key()}.pcapng"))


def more_files(fig: Figure, cap_dir: str | os.PathLike, files_of: Callable[[Source], dict[str, str]] | None = None
               ) -> tuple[str, ...]:
    """The capture each of `more` names: the file, or the file its variant is traced to (its
    capture point the figure's)."""
    out = []
    for m in fig.more:
        if isinstance(m, str):
            out.append(m)
        else:
            files = files_of(m) if files_of else traced_files(m, cap_dir)
            out.append(files.get(fig.point) or next(iter(files.values())))
    return tuple(out)


def request(fig: Figure, files: str | dict[str, str], out_dir: str, more: tuple[str, ...] = ()):
    """The figure request (viz.figures) that draws `fig`, its paths relative to `out_dir`, as the
    index's command writes them; `files` is the capture, or the source's files by capture point;
    `more` the captures of `more = [...]` (more_files)."""
    from viz import figures

    if isinstance(files, dict):
        capture, other = figure_captures(fig, files)
    else:
        capture, other = files, fig.compare_path
    extra: dict[str, Any] = {"compare": relpath(other, out_dir)} if other else {}
    if more:
        extra["more"] = tuple(relpath(m, out_dir) for m in more)
    options = dict(fig.options)
    if options.get("theme", "").endswith(".toml"):  # a theme file, by its path from the figures
        options["theme"] = relpath(options["theme"], out_dir)
    return figures.make(fig.kind, relpath(capture, out_dir), fig.output, **options, **extra)


def render(fig: Figure, capture: str | dict[str, str], out_dir: str, more: tuple[str, ...] = ()) -> None:
    """Draw one figure from its capture into out_dir/fig.output (deterministic bytes): its request,
    drawn from out_dir, so the figure names its capture by the path the index's command uses."""
    from viz import figures

    (Path(out_dir) / fig.output).parent.mkdir(parents=True, exist_ok=True)
    figures.render(request(fig, capture, out_dir, more), cwd=out_dir)


# --------------------------------------------------------------------------- the build


@functools.lru_cache(maxsize=1)
def tool_hash() -> str:
    """The tool version plus a hash of viz's and the build's own code: new renderer, new figures.

    Computed once per process: the code a process draws with is the code it loaded."""
    from tracer.run import TOOL

    h = hashlib.sha256(TOOL.encode())
    root = Path(__file__).resolve().parents[1]
    for p in sorted((root / "viz").glob("*.py")) + sorted((root / "viz" / "commands").glob("*.py")) \
            + [Path(__file__)]:
        h.update(p.relative_to(root).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _file_hash(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    from viz import output

    path.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(path, text)


@dataclass
class Outcome:
    name: str
    status: str  # built | skipped | failed
    seconds: float
    error: str = ""


@dataclass
class BuildResult:
    outcomes: list[Outcome] = field(default_factory=list)
    traced: int = 0
    seconds: float = 0.0

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]


def _tracer(source: Source, out: str) -> None:
    from tracer import run as runmod
    from tracer import scenarios

    from tracer import faults as faultmod
    from tracer import wire as wiremod

    opts = scenarios.Options(**dict(source.options))
    if source.kind == "scenario":
        target: Any = scenarios.get(source.scenario)
    else:
        target = runmod.Programs(client=source.client, server=source.server)
    shape = dict(source.shape)
    faults = faultmod.build(shape.get("drop", ()), shape.get("loss"),
                            shape.get("seed") if "loss" in shape else None, shape.get("rto_min"))
    wire = wiremod.spec_from(shape.get("delay"), shape.get("jitter"), shape.get("rate"), shape.get("seed"))
    from tracer import tcpprofile
    tcp = tcpprofile.build(shape.get("cc"), shape.get("tcp"))
    command = "synack " + shlex.join(["trace", *source.trace_args(), "-o", Path(out).name])
    res = runmod.trace(target, opts, out, at=source.at, net=source.net, timeout=source.timeout, command=command,
                       faults=faults or None, topology=source.topology, wire=wire, tcp=tcp or None)
    if not res.complete:
        raise SynackError(f"trace incomplete: {res.incomplete_reason}")


def bar_text(label: str, elapsed: float, expected: float | None, timeout: float, width: int = 24) -> str:
    """One line of the trace progress bar.  Scaled to the last trace of this source when known,
    else to the timeout (the most a trace can take); never claims to be done before it is."""
    scale = expected if expected and expected > 0 else timeout
    done = min(elapsed / scale, 0.99) if scale > 0 else 0.0
    fill = int(done * width)
    tail = f"~{expected:.0f} s" if expected else f"at most {timeout:g} s"
    return f"  tracing {label} [{'#' * fill}{'.' * (width - fill)}] {elapsed:4.1f} s of {tail}"


class TraceBar:
    """A bar redrawn in place on a terminal while a trace runs (a trace is seconds of silence).

    Off when `stream` is None: logs and pipes get only the one "tracing" line."""

    def __init__(self, stream: Any, label: str, expected: float | None, timeout: float,
                 interval: float = 0.25):
        self.stream, self.label, self.expected, self.timeout = stream, label, expected, timeout
        self.interval = interval
        self._stop: Any = None
        self._thread: Any = None

    def _run(self, started: float) -> None:
        while not self._stop.wait(self.interval):
            self.stream.write("\r" + bar_text(self.label, time.monotonic() - started, self.expected,
                                               self.timeout) + "\x1b[K")
            self.stream.flush()

    def __enter__(self) -> "TraceBar":
        if self.stream is not None:
            import threading

            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(time.monotonic(),), daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def build(manifest: Manifest, *, output: str | None = None, only: str | None = None, force: bool = False,
          log: Callable[[str], None] = print, tracer: Callable[[Source, str], None] | None = None,
          bar: Any = None) -> BuildResult:
    """Trace what needs tracing, draw what changed, write the index; never stop at one failure.

    `bar`: a terminal stream for the trace progress bar (None: no bar, for pipes and logs)."""
    started = time.monotonic()
    out_dir = Path(output or manifest.output).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    cap_dir = Path(manifest.captures or out_dir / "captures")
    stamps = out_dir / ".stamps"
    from tracer.run import TOOL

    tracer = tracer or _tracer
    tool = tool_hash()
    wanted = [manifest.figure(only)] if only else list(manifest.figures)
    result = BuildResult()
    captures: dict[str, dict[str, str] | Exception] = {}  # source key -> files by point, or the failure

    def capture_for(src: Source) -> dict[str, str]:
        if src.kind == "capture":
            return {src.at: src.capture or ""}
        key = src.key()
        if key in captures:
            got = captures[key]
            if isinstance(got, Exception):
                raise got
            return got
        path = cap_dir / f"{src.label}-{key}.pcapng"
        files = traced_files(src, cap_dir)
        stamp = path.with_suffix(".source")
        want = {"source": key, "tool": TOOL}
        old = _read_stamp(stamp)
        try:
            if force or not all(Path(f).exists() for f in files.values()) \
                    or {k: old.get(k) for k in want} != want:
                cap_dir.mkdir(parents=True, exist_ok=True)
                log(f"  tracing {shlex.join(['synack', 'trace', *src.trace_args()])}")
                stamp.unlink(missing_ok=True)
                t0 = time.monotonic()
                with TraceBar(bar, src.label, old.get("seconds"), src.timeout):
                    tracer(src, str(path))
                _write_atomic(stamp, json.dumps({**want, "seconds": round(time.monotonic() - t0, 1)}))
                result.traced += 1
        except (SynackError, OSError) as exc:
            captures[key] = exc
            raise
        captures[key] = files
        return files

    for count, fig in enumerate(wanted, 1):
        t0 = time.monotonic()
        try:
            files = capture_for(fig.source)
            more = more_files(fig, cap_dir, capture_for)
            cap, other = figure_captures(fig, files)
            target = out_dir / fig.output
            digest = hashlib.sha256("\n".join(
                [str(SCHEMA_VERSION), fig.entry, manifest.theme, _file_hash(cap), tool, fig.output]
                + [_file_hash(t) for t in [dict(fig.options).get("theme", "")] if t.endswith(".toml")]
                + ([_file_hash(other)] if other else []) + [_file_hash(m) for m in more]).encode()).hexdigest()
            stamp = stamps / f"{fig.name}.stamp"
            old = _read_stamp(stamp)
            if not force and target.exists() and old.get("digest") == digest:
                status = "skipped"
            else:
                stamp.unlink(missing_ok=True)
                render(fig, files, str(out_dir), more)
                _write_atomic(stamp, json.dumps({"digest": digest}, sort_keys=True) + "\n")
                status = "built"
            oc = Outcome(fig.name, status, time.monotonic() - t0)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # one figure's failure must not stop the others
            msg = str(exc) if isinstance(exc, SynackError) else f"{type(exc).__name__}: {exc}"
            oc = Outcome(fig.name, "failed", time.monotonic() - t0, msg)
        result.outcomes.append(oc)
        log(f"[{count:{len(str(len(wanted)))}}/{len(wanted)}] {oc.status:7} {oc.name} ({oc.seconds:.1f} s)"
            f"{': ' + oc.error if oc.error else ''}"
            f"{'' if oc.status == 'failed' else ' -> ' + fig.output}")
    write_index(manifest, str(out_dir), cap_dir)
    result.seconds = time.monotonic() - started
    return result


def _read_stamp(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def write_index(manifest: Manifest, out_dir: str, cap_dir: Path) -> None:
    """index.md and index.html: every figure, its caption, the commands that reproduce it."""
    man_rel = relpath(manifest.path, out_dir)
    title = f"Figures of {Path(manifest.path).name}"
    md = [f"# {title}", "",
          f"Made by `synack build {Path(manifest.path).name}`; every figure below also says how to "
          "make it by hand (commands run from this folder).", ""]
    body = []
    for fig in manifest.figures:
        src = fig.source
        if src.kind == "capture":
            cmds = []
            files = {src.at: src.capture or ""}
        else:
            base = str(cap_dir / f"{src.label}-{src.key()}.pcapng")
            cmds = [shlex.join(["synack", "trace", *src.trace_args(), "-o", relpath(base, out_dir)])]
            files = src.files(base)
        for m in fig.more:  # the variants drawn with it, traced the same way
            if isinstance(m, Source):
                cmds.append(shlex.join(["synack", "trace", *m.trace_args(), "-o", relpath(
                    str(cap_dir / f"{m.label}-{m.key()}.pcapng"), out_dir)]))
        cmds.append(request(fig, files, out_dir, more_files(fig, cap_dir)).command())
        cmds.append(f"synack build {shlex.quote(man_rel)} --only {fig.name}")
        is_image = Path(fig.output).suffix.lower() in (".svg", ".png")
        md += [f"## {fig.name}", ""]
        if is_image:
            md += [f"![{fig.caption or fig.name}]({fig.output})", ""]
        else:
            md += [f"[{fig.output}]({fig.output})", ""]
        if fig.caption:
            md += [fig.caption, ""]
        md += ["```sh", *cmds, "```", ""]
        e = html.escape
        media = (f'<img src="{e(fig.output)}" alt="{e(fig.caption or fig.name)}">' if is_image
                 else f'<a href="{e(fig.output)}">{e(fig.output)}</a>')
        body.append(f'<figure id="{e(fig.name)}">\n<h2>{e(fig.name)}</h2>\n{media}\n'
                    f'<figcaption>{e(fig.caption)}</figcaption>\n'
                    f'<pre><code>{e(chr(10).join(cmds))}</code></pre>\n</figure>')
    _write_atomic(Path(out_dir) / "index.md", "\n".join(md))
    page = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>\n"
            "body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}\n"
            "img{max-width:100%;border:1px solid #ccc}\nfigure{margin:0 0 3em 0}\n"
            "pre{background:#f4f4f4;padding:.5em;overflow-x:auto}\n</style>\n</head>\n<body>\n"
            f"<h1>{html.escape(title)}</h1>\n" + "\n".join(body) + "\n</body>\n</html>\n")
    _write_atomic(Path(out_dir) / "index.html", page)
