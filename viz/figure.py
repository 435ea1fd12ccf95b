"""Figures for print and slides: themes, sizes, and deterministic saving.

Every renderer builds a `matplotlib.figure.Figure` without pyplot (no global
state, no display) and saves it through `save`, which pins what would
otherwise vary between runs: the SVG hash salt, the creation date, the
producer string.  Same figure, same bytes.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from viz.errors import SynackError
from viz.pages import SLIDE_SIZE

FORMATS = ("svg", "pdf", "png", "pgf")


@dataclass(frozen=True)
class Theme:
    """Colours are a second cue only: every figure must read in greyscale."""

    name: str
    background: str
    foreground: str
    muted: str  # lifelines, rulers, secondary text
    data: str  # data segments (also drawn bolder)
    control: str  # control segments (SYN, ACK, FIN)
    alert: str  # RST, lost segments, analysis tags
    accent: str  # states, socket calls
    fills: tuple[str, ...]  # layer fills, light to dark, distinct in greyscale
    font: str = "DejaVu Sans"  # matplotlib ships DejaVu: the same metrics, so the same bytes, anywhere
    mono: str = "DejaVu Sans Mono"
    about: str = ""


THEMES = {
    "light": Theme("light", "white", "#111111", "#777777", "#0b4f9c", "#333333", "#b00020",
                   "#1b6e3a", ("#ffffff", "#e8eef8", "#cfdcef", "#b3c7e6", "#97b1dc", "#7b9bd2"),
                   about="the default: dark text on white, data in blue, alerts in red, states in green"),
    "print": Theme("print", "white", "black", "#555555", "black", "#333333", "black",
                   "#222222", ("#ffffff", "#eeeeee", "#dddddd", "#c8c8c8", "#b4b4b4", "#a0a0a0"),
                   about="black on white for paper: no hue at all, data told by line weight, fills grey"),
    "dark": Theme("dark", "#1e1e1e", "#eeeeee", "#999999", "#7fb2ff", "#dddddd", "#ff6b7a",
                  "#8fd19e", ("#1e1e1e", "#2a3342", "#33415a", "#3d4f72", "#475d8a", "#516ba2"),
                  about="light on near-black, for slides in a dark room"),
    "cb": Theme("cb", "white", "#111111", "#767676", "#0072b2", "#333333", "#d55e00",
                "#009e73", ("#ffffff", "#e5f1f8", "#cce3f1", "#99c7e3", "#66abd5", "#3390c7"),
                about="colour-blind safe (Okabe and Ito's palette: blue, vermillion, bluish green), "
                "distinct under protanopia, deuteranopia and tritanopia"),
}
THEME_KEYS = ("background", "foreground", "muted", "data", "control", "alert", "accent", "fills", "font", "mono")

BASE_FONT_SIZE = 12


def theme(name: str | Theme, cwd: str | None = None) -> Theme:
    """A built-in theme by name, or a theme file (TOML; relative paths from `cwd`)."""
    if isinstance(name, Theme):
        return name
    if name.lower().endswith(".toml"):
        return load_theme(name if cwd is None or os.path.isabs(name) else os.path.join(cwd, name), name)
    try:
        return THEMES[name]
    except KeyError:
        raise SynackError(f"unknown theme {name!r} (choose from {', '.join(THEMES)}, or a FILE.toml)") from None


def load_theme(path: str, shown: str | None = None) -> Theme:
    """A theme file: `base = "light"` (or another built-in) and any of THEME_KEYS to change.

    Colours are what matplotlib takes ("#0072b2", "white"); fills a list of six, light to dark."""
    import tomllib

    from matplotlib.colors import is_color_like

    shown = shown or path
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SynackError(f"{shown}: cannot read the theme: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SynackError(f"{shown}: not a theme file (TOML): {exc}") from None
    base = data.pop("base", "light")
    if base not in THEMES:
        raise SynackError(f"{shown}: base {base!r}: choose from {', '.join(THEMES)}")
    changes = {}
    for k, v in data.items():
        if k not in THEME_KEYS:
            raise SynackError(f"{shown}: {k}: unknown key (a theme has base, {', '.join(THEME_KEYS)})")
        if k == "fills":
            if not isinstance(v, list) or len(v) != 6 or not all(isinstance(c, str) and is_color_like(c) for c in v):
                raise SynackError(f"{shown}: fills: give six colours, light to dark")
            v = tuple(v)
        elif not isinstance(v, str) or (k not in ("font", "mono") and not is_color_like(v)):
            raise SynackError(f"{shown}: {k}: {v!r} is not a colour" if k not in ("font", "mono")
                              else f"{shown}: {k}: give a font family name")
        changes[k] = v
    from dataclasses import replace

    return replace(THEMES[base], name=Path(path).stem, about=f"from {shown} (base {base})", **changes)


def theme_toml(th: Theme) -> str:
    """A theme as the file `--theme FILE.toml` reads: to pin its colours in a course's repository."""
    lines = [f"# synack theme {th.name}: {th.about}", "base = \"light\""]
    for k in THEME_KEYS:
        v = getattr(th, k)
        lines.append(f"{k} = [{', '.join(repr(c).replace(chr(39), chr(34)) for c in v)}]" if k == "fills"
                     else f"{k} = \"{v}\"")
    return "\n".join(lines) + "\n"


def add_theme_argument(parser) -> None:
    """The one --theme option every figure command takes."""
    parser.add_argument("--theme", default="light", help=f"{' | '.join(THEMES)} | FILE.toml (default: light)")


def parse_size(text: str) -> tuple[float, float]:
    """'13.33x7.5' (inches) -> (13.33, 7.5)."""
    try:
        w, h = (float(v) for v in text.lower().split("x"))
        if w <= 0 or h <= 0:
            raise ValueError
    except ValueError:
        raise SynackError(f"--size {text!r}: expected WIDTHxHEIGHT in inches, e.g. 13.33x7.5") from None
    return w, h


def new_figure(size: tuple[float, float] = SLIDE_SIZE, th: Theme = THEMES["light"]):
    """A pyplot-free Figure with the project's fixed rc settings applied."""
    import matplotlib

    matplotlib.rcParams.update(_RC)
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, facecolor=th.background)
    if th.font != THEMES["light"].font or th.mono != THEMES["light"].mono:
        fig.synack_fonts = {"font.sans-serif": [th.font, *_RC["font.sans-serif"]],
                            "font.monospace": [th.mono, *_RC["font.monospace"]]}
        matplotlib.rcParams.update(fig.synack_fonts)  # text measured while laying out, too
    return fig


_RC = {
    "svg.fonttype": "none",  # text stays text: searchable, and half the time to write
    "svg.hashsalt": "synack",
    "pdf.fonttype": 42,
    # DejaVu (bundled with matplotlib) measures and embeds every figure's text.  An SVG keeps
    # text as text, so it names look-alikes for viewers without DejaVu: Verdana shares its
    # metrics closely, Menlo is DejaVu Sans Mono renamed; never the viewer's default serif.
    "font.family": ["sans-serif"],
    "font.sans-serif": ["DejaVu Sans", "Verdana"],
    "font.monospace": ["DejaVu Sans Mono", "Menlo", "Consolas"],
    "font.size": BASE_FONT_SIZE,
    "pgf.rcfonts": False,
    "path.simplify": False,
}


def output_format(path: str | os.PathLike) -> str:
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise SynackError(f"{path}: unknown output format {fmt!r} (choose from .{', .'.join(FORMATS)})")
    return fmt


def check_writable(path: str | os.PathLike) -> None:
    """Fail before the work starts, not after it (viz.output's rules)."""
    from viz import output

    output.check(path)


def check_output(path: str | os.PathLike) -> None:
    """A figure's -o: a known vector/raster format in a writable directory, checked before work."""
    output_format(path)
    check_writable(path)


TEX_ENGINES = ("xelatex", "lualatex", "pdflatex")
# LaTeX's special characters as text-mode commands (the TikZ ladder and PGF figures share them).
LATEX_ESCAPES = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
                 "^": r"\^{}", "_": r"\_", "%": r"\%", "~": r"\textasciitilde{}", '"': r"\textquotedbl{}",
                 "'": r"\textquotesingle{}", "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}


def latex_text(text: str, extra: dict[str, str] | None = None) -> str:
    table = {**LATEX_ESCAPES, **(extra or {})}
    return "".join(table.get(ch, ch) for ch in text)


def tex_engine(path: str | os.PathLike) -> str:
    """matplotlib's PGF output measures every string with a LaTeX engine at save time."""
    import shutil

    for engine in TEX_ENGINES:
        if shutil.which(engine):
            return engine
    raise SynackError(f"{path}: .pgf figures need a LaTeX engine to measure their text and none of "
                      f"{', '.join(TEX_ENGINES)} is installed (Debian: texlive-latex-base); "
                      "write .pdf or .svg, which LaTeX can include too")


def save(fig, path: str | os.PathLike, format: str | None = None) -> None:
    """Write `fig` deterministically, atomically (temp file, then rename); `format` overrides
    the one `path`'s extension names."""
    import matplotlib

    fmt = format if format in FORMATS else output_format(path)
    check_writable(path)
    matplotlib.rcParams.update(_RC)
    matplotlib.rcParams.update(getattr(fig, "synack_fonts", {}))
    if fmt == "pgf":
        from matplotlib.backends.backend_pgf import FigureCanvasPgf as Canvas

        matplotlib.rcParams["pgf.texsystem"] = tex_engine(path)
    elif fmt == "pdf":
        from matplotlib.backends.backend_pdf import FigureCanvasPdf as Canvas
    elif fmt == "svg":
        from matplotlib.backends.backend_svg import FigureCanvasSVG as Canvas
    else:
        from matplotlib.backends.backend_agg import FigureCanvasAgg as Canvas
    Canvas(fig)
    metadata = {
        "svg": {"Date": None, "Creator": "synack"},
        "pdf": {"CreationDate": None, "ModDate": None, "Creator": "synack", "Producer": "synack"},
        "png": {"Software": "synack"},
        "pgf": None,
    }[fmt]
    from viz import output

    kwargs = {"format": fmt, "facecolor": fig.get_facecolor()}
    if metadata is not None:
        kwargs["metadata"] = metadata
    with _latex_safe_text(fig, fmt == "pgf"):
        output.write_with(path, lambda tmp: fig.savefig(tmp, **kwargs))


@contextlib.contextmanager
def _latex_safe_text(fig, active: bool):
    """matplotlib's PGF backend passes text to LaTeX as is (only `%` is handled), so a
    field named SACK_PERM or a payload with `#` would stop the document."""
    if not active:
        yield
        return
    from matplotlib.text import Text

    texts = [(t, t.get_text()) for t in fig.findobj(Text) if t.get_text()]
    try:
        for t, s in texts:
            t.set_text(latex_text(s, {"%": "%"}))
        yield
    finally:
        for t, s in texts:
            t.set_text(s)
