"""Playback written to files: one HTML page, a PDF with a page per step, a GIF or MP4.

Every step is drawn by the matplotlib ladder renderer sized from the whole
ladder (`render_ladder(frame_of=...)`), so the lifelines stay put and only
arrows appear; the current arrow gets a pale halo so a room can follow it.
All outputs are deterministic: same capture, same bytes.
"""
from __future__ import annotations

import html
import io
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

from viz.errors import SynackError
from viz.figure import check_writable
from viz.figure import theme as get_theme
from viz.play import Playback, Step

OUTPUTS = (".html", ".pdf", ".gif", ".mp4")
# Beyond this a page or animation is too big to be useful; --frames picks a part.
MAX_STEPS = 400
HOLD_LAST = 3.0  # seconds the animation rests on the finished ladder
GIF_DPI = 80
MP4_FPS = 10


def output_kind(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUTS:
        raise SynackError(f"{path}: unknown output format {suffix or '(none)'!r} (choose from {' '.join(OUTPUTS)})")
    if suffix == ".mp4" and not shutil.which("ffmpeg"):
        raise SynackError(f"{path}: writing .mp4 needs ffmpeg, which is not installed "
                          "(apt-get install ffmpeg), or write .gif instead")
    return suffix[1:]


def step_figure(playback: Playback, step: Step, theme: str = "light", size=None, page: str = "slide"):
    """One step as a Figure: the ladder so far, the current arrow haloed, the step counter.

    A step shows the slide-sized page of the whole ladder its arrow is on (`page` "none": the
    whole ladder), so a long capture plays as slides, not as one ever taller figure."""
    from viz.ladder import page_of
    from viz.ladder_mpl import _geometry, page_of as page_kind, render_ladder

    th = get_theme(theme)
    pg = page_kind("none" if size is not None else page)
    frame, shown = playback.ladder, step.ladder
    if pg.height is not None:
        bounds = _bounds(playback, pg)
        a = step.arrow
        k = next((i for i, (lo, hi) in enumerate(bounds) if lo <= a.y_send < hi), len(bounds) - 1)
        lo, hi = bounds[k]
        frame = page_of(playback.ladder, lo, hi, k + 1, len(bounds))
        shown = replace(page_of(step.ladder, lo, hi, k + 1, len(bounds)), y_min=frame.y_min, y_max=frame.y_max)
    fig = render_ladder(shown, theme=th, size=size, frame_of=frame, page=pg, xs_of=playback.ladder)
    g = _geometry(frame, size, pg, playback.ladder)
    ax = fig.axes[0]
    a = step.arrow
    x0, x1 = g.xs[a.src], g.xs[a.dst]
    y0, y1 = g.y(a.y_send), g.y(a.y_recv)
    if a.lost:
        x1, y1 = x0 + (x1 - x0) * 2 / 3, y0 + (y1 - y0) * 2 / 3
    ax.plot([x0, x1], [y0, y1], color=th.accent, alpha=0.22, linewidth=11, solid_capstyle="round", zorder=0.5)
    ax.text(g.width - 0.2, g.height - 0.35 * pg.k, f"step {step.index}/{len(playback.steps)} \u00b7 frame {step.frame}",
            ha="right", va="baseline", fontsize=pg.small, color=th.muted)
    return fig


_BOUNDS: dict[int, tuple] = {}


def _bounds(playback: Playback, pg) -> list[tuple[float, float]]:
    """The page cuts of the whole ladder, computed once per playback and page kind."""
    from viz.ladder import page_bounds
    from viz.ladder_mpl import rows_per_page

    key = (id(playback.ladder), pg.name)
    hit = _BOUNDS.get(key)
    if hit is None or hit[0] is not playback.ladder:
        if len(_BOUNDS) > 8:
            _BOUNDS.clear()
        hit = _BOUNDS[key] = (playback.ladder, page_bounds(playback.ladder, rows_per_page(playback.ladder, pg)))
    return hit[1]


def _check(playback: Playback, path: str) -> None:
    if len(playback.steps) > MAX_STEPS:
        raise SynackError(f"{path}: {len(playback.steps)} steps are too many for one file "
                          f"(at most {MAX_STEPS}); pick a part with --frames A-B or --stream N")
    check_writable(path)


def _atomic(path: str, write) -> None:
    from viz import output

    output.write_with(path, lambda tmp: write(Path(tmp)))


def _svg(fig) -> str:
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    from viz.figure import _RC

    matplotlib.rcParams.update(_RC)
    FigureCanvasSVG(fig)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", facecolor=fig.get_facecolor(), metadata={"Date": None, "Creator": "synack"})
    text = buf.getvalue()
    return text[text.index("<svg"):]


_ID = re.compile(r'(id="|url\(#|href="#)([^")]+)')


def _scoped(svg: str, prefix: str) -> str:
    """Ids made unique per step: several inline SVGs share one document."""
    return _ID.sub(lambda m: f"{m.group(1)}{prefix}{m.group(2)}", svg)


def write_html(playback: Playback, path: str, *, theme: str = "light", size=None, title: str = "") -> None:
    _check(playback, path)
    th = get_theme(theme)
    parts = []
    for s in playback.steps:
        svg = _svg(step_figure(playback, s, theme, size))
        svg = _scoped(svg, f"s{s.index}-")
        svg = svg.replace("<svg ", '<svg class="ladder" ', 1)
        fields = html.escape("\n".join(s.fields))
        hidden = "" if s.index == 1 else " hidden"
        parts.append(f'<section class="step" id="step-{s.index}" data-frame="{s.frame}"{hidden}>\n'
                     f'<h2>{html.escape(s.heading)}</h2>\n{svg}\n<pre class="fields">{fields}</pre>\n</section>')
    n = len(playback.steps)
    page = _PAGE.format(title=html.escape(title or "synack playback"), n=n, steps="\n".join(parts),
                        bg=th.background, fg=th.foreground, muted=th.muted)
    _atomic(path, lambda tmp: tmp.write_text(page, encoding="utf-8"))


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ background: {bg}; color: {fg}; font-family: "DejaVu Sans", sans-serif; margin: 1em; }}
nav {{ display: flex; gap: 1em; align-items: center; position: sticky; top: 0; background: {bg}; padding: .4em 0; }}
button {{ font-size: 1.1em; padding: .3em 1em; }}
#counter {{ font-size: 1.1em; color: {muted}; }}
h2 {{ font-size: 1.05em; font-weight: normal; margin: .4em 0; }}
svg.ladder {{ max-width: 100%; height: auto; }}
pre.fields {{ font-size: .95em; white-space: pre-wrap; }}
[hidden] {{ display: none !important; }}
</style>
</head>
<body>
<h1>{title}</h1>
<nav>
<button id="first" type="button" title="first step (Home)">&#x2503;&#x25C0; First</button>
<button id="prev" type="button" title="previous step (Left)">&#x25C0; Previous</button>
<span id="counter">step 1 / {n}</span>
<button id="next" type="button" title="next step (Right, Space)">Next &#x25B6;</button>
<button id="last" type="button" title="last step (End)">Last &#x25B6;&#x2503;</button>
</nav>
<main>
{steps}
</main>
<script>
(function () {{
  var steps = document.querySelectorAll("section.step");
  var k = 0;
  function show(i, initial) {{
    k = Math.max(0, Math.min(steps.length - 1, i));
    for (var j = 0; j < steps.length; j++) steps[j].hidden = j !== k;
    document.getElementById("counter").textContent = "step " + (k + 1) + " / " + steps.length;
    document.getElementById("prev").disabled = k === 0;
    document.getElementById("next").disabled = k === steps.length - 1;
    if (initial) return;  // a fragment set while loading would scroll the page to it
    if (history.replaceState) history.replaceState(null, "", "#step-" + (k + 1));
    window.scrollTo(0, 0);
  }}
  document.getElementById("first").onclick = function () {{ show(0); }};
  document.getElementById("prev").onclick = function () {{ show(k - 1); }};
  document.getElementById("next").onclick = function () {{ show(k + 1); }};
  document.getElementById("last").onclick = function () {{ show(steps.length - 1); }};
  document.addEventListener("keydown", function (e) {{
    if (e.key === "ArrowRight" || e.key === " " || e.key === "Enter" || e.key === "PageDown") show(k + 1);
    else if (e.key === "ArrowLeft" || e.key === "Backspace" || e.key === "PageUp") show(k - 1);
    else if (e.key === "Home") show(0);
    else if (e.key === "End") show(steps.length - 1);
    else return;
    e.preventDefault();
  }});
  var m = /^#step-(\\d+)$/.exec(location.hash);
  show(m ? parseInt(m[1], 10) - 1 : 0, true);
}})();
</script>
</body>
</html>
"""


def write_pdf(playback: Playback, path: str, *, theme: str = "light", size=None) -> None:
    _check(playback, path)
    import matplotlib
    from matplotlib.backends.backend_pdf import FigureCanvasPdf, PdfPages

    from viz.figure import _RC

    def write(tmp):
        matplotlib.rcParams.update(_RC)
        meta = {"CreationDate": None, "ModDate": None, "Creator": "synack", "Producer": "synack"}
        with PdfPages(tmp, metadata=meta) as pdf:
            for s in playback.steps:
                fig = step_figure(playback, s, theme, size)
                FigureCanvasPdf(fig)
                pdf.savefig(fig, facecolor=fig.get_facecolor())

    _atomic(path, write)


def _rgb_frames(playback: Playback, theme: str, size, dpi: int):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    for s in playback.steps:
        fig = step_figure(playback, s, theme, size)
        fig.dpi = dpi
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        yield Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).convert("RGB")


def durations(playback: Playback, pauses=None, step_seconds: float = 1.0) -> list[float]:
    """Seconds each step stays on screen: the recorded pace (`pauses`) or a fixed beat."""
    n = len(playback.steps)
    out = list(pauses[:-1]) if pauses is not None else [step_seconds] * (n - 1)
    return out + [HOLD_LAST]


def write_gif(playback: Playback, path: str, *, theme: str = "light", size=None, pauses=None) -> None:
    _check(playback, path)
    frames = list(_rgb_frames(playback, theme, size, GIF_DPI))
    # GIF delays are in centiseconds; Pillow takes milliseconds.
    ms = [max(20, int(round(d * 100)) * 10) for d in durations(playback, pauses)]

    def write(tmp):
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=ms, loop=0,
                       optimize=False, disposal=1)

    _atomic(path, write)


def write_mp4(playback: Playback, path: str, *, theme: str = "light", size=None, pauses=None) -> None:
    _check(playback, path)
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg:
        raise SynackError(f"{path}: writing .mp4 needs ffmpeg, which is not installed (apt-get install ffmpeg)")
    durs = durations(playback, pauses)

    def write(tmp):
        cmd = [ffmpeg, "-loglevel", "error", "-y", "-f", "image2pipe", "-framerate", str(MP4_FPS), "-i", "-",
               "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2", "-pix_fmt", "yuv420p", "-c:v", "libx264",
               "-fflags", "+bitexact", "-flags:v", "+bitexact", "-f", "mp4", str(tmp)]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            for img, d in zip(_rgb_frames(playback, theme, size, 100), durs):
                buf = io.BytesIO()
                img.save(buf, format="PNG")
                data = buf.getvalue()
                for _ in range(max(1, round(d * MP4_FPS))):
                    proc.stdin.write(data)
            proc.stdin.close()
            err = proc.stderr.read().decode(errors="replace").strip()
            if proc.wait() != 0:
                raise SynackError(f"{path}: ffmpeg failed: {err.splitlines()[-1] if err else proc.returncode}")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    _atomic(path, write)


def write(playback: Playback, path: str, *, theme: str = "light", size=None, pauses=None, title: str = "") -> None:
    kind = output_kind(path)
    if kind == "html":
        write_html(playback, path, theme=theme, size=size, title=title)
    elif kind == "pdf":
        write_pdf(playback, path, theme=theme, size=size)
    elif kind == "gif":
        write_gif(playback, path, theme=theme, size=size, pauses=pauses)
    else:
        write_mp4(playback, path, theme=theme, size=size, pauses=pauses)
