"""The committed lecture figures are what `synack build captures/lecture.toml` makes, the README shows
them, and the index page loads every image in a real browser (Debian's chromium, headless)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tracer import build as B

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "captures" / "figures"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _stale(src, out):
    raise AssertionError(f"captures/lecture/ has no current capture for {src.label} (the tracer changed?): "
                         "rerun `sudo synack build captures/lecture.toml` and commit captures/lecture/")


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory) -> Path:
    """A clean build of the committed manifest and captures, laid out as in the repository
    (manifest, lecture/, figures/ side by side) so the relative paths figures carry are the same."""
    tmp = tmp_path_factory.mktemp("lecture")
    shutil.copy(ROOT / "captures" / "lecture.toml", tmp / "lecture.toml")
    shutil.copytree(ROOT / "captures" / "lecture", tmp / "lecture")
    m = B.load_manifest(tmp / "lecture.toml")
    r = B.build(m, tracer=_stale, log=lambda s: None)
    assert not r.failed, [(o.name, o.error) for o in r.failed]
    assert r.traced == 0
    return tmp / "figures"


def _files(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*"))
            if p.is_file() and ".stamps" not in p.parts}


def readme_images() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"!\[[^\]]*\]\((captures/figures/[^)\s]+)\)", text) + \
        re.findall(r'<img[^>]+src="(captures/figures/[^"]+)"', text)


def test_readme_shows_figures_the_manifest_makes(rebuilt):
    shown = readme_images()
    assert len(shown) >= 4, "the README's gallery shows a selection of the lecture figures"
    outputs = {f.output for f in B.load_manifest(ROOT / "captures" / "lecture.toml").figures}
    for link in shown:
        name = link.removeprefix("captures/figures/")
        assert name in outputs, f"README shows {link}, which captures/lecture.toml does not make"
        assert (ROOT / link).is_file(), f"README links {link}, not committed"
        assert (ROOT / link).read_bytes() == (rebuilt / name).read_bytes(), \
            f"{link} differs from a fresh `synack build captures/lecture.toml`: rebuild and commit it"


def test_committed_figures_are_a_fresh_build(rebuilt):
    committed, fresh = _files(FIGURES), _files(rebuilt)
    assert sorted(committed) == sorted(fresh)
    stale = [k for k in fresh if committed[k] != fresh[k]]
    assert not stale, f"captures/figures/ is not what the manifest makes: {stale}"


def test_readme_gives_the_command():
    text = (ROOT / "README.md").read_text()
    assert "synack build captures/lecture.toml" in text


def _broken_images(page: Path) -> dict:
    """Open a copy of `page` (same folder, so relative links resolve alike) with a script that
    lists the images the browser could not load, and read its verdict from the DOM."""
    probe = page.with_name(".imagecheck-" + page.name)
    script = """<script>
window.addEventListener("load", () => {
  const imgs = [...document.images];
  const out = document.createElement("pre");
  out.id = "synack-image-check";
  out.textContent = JSON.stringify({images: imgs.length, broken: imgs.filter(
    i => !i.complete || i.naturalWidth === 0 || i.naturalHeight === 0).map(i => i.getAttribute("src"))});
  document.body.appendChild(out);
});
</script>
"""
    html = page.read_text()
    probe.write_text(html.replace("</body>", script + "</body>") if "</body>" in html else html + script)
    try:
        run = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                              "--virtual-time-budget=20000", "--dump-dom", probe.as_uri()],
                             capture_output=True, text=True, timeout=120)
    finally:
        probe.unlink()
    m = re.search(r'<pre id="synack-image-check">([^<]*)</pre>', run.stdout)
    assert m, f"chromium gave no verdict (exit {run.returncode}): {run.stderr[-800:]}"
    return json.loads(m.group(1).replace("&quot;", '"'))


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
def test_index_page_loads_every_image_in_chromium(rebuilt, tmp_path):
    n = sum(1 for f in B.load_manifest(ROOT / "captures" / "lecture.toml").figures
            if Path(f.output).suffix in (".svg", ".png"))
    verdict = _broken_images(rebuilt / "index.html")
    assert verdict == {"images": n, "broken": []}
    shutil.copytree(FIGURES, tmp_path / "committed")  # the probe page is written beside the index
    assert _broken_images(tmp_path / "committed" / "index.html") == {"images": n, "broken": []}

    # the check can fail: a page with a missing and a corrupt image
    shutil.copy(rebuilt / "handshake.svg", tmp_path / "ok.svg")
    (tmp_path / "corrupt.svg").write_text("<svg this is not")
    (tmp_path / "page.html").write_text('<!DOCTYPE html><html><body><img src="ok.svg"><img src="missing.svg">'
                                        '<img src="corrupt.svg"></body></html>')
    assert _broken_images(tmp_path / "page.html") == {"images": 3, "broken": ["missing.svg", "corrupt.svg"]}
