"""The Python API: the README's example runs as written; Jupyter display; `import viz` stays light."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import needs_root

ROOT = Path(__file__).resolve().parents[1]
from corpus_path import CORPUS_DIR  # noqa: E402
CORPUS = CORPUS_DIR


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@needs_root
def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(readme_example(), "README.md (Python API)", "exec"), {})
    out = capsys.readouterr().out
    assert out.startswith("<synack capture echo.pcapng: ")
    assert "SYN" in out and "FIN" in out
    for name in ("handshake.svg", "syn-header.svg", "states.svg"):
        assert (tmp_path / name).read_bytes().startswith(b"<?xml")
    assert b"SYN" in (tmp_path / "handshake.svg").read_bytes()


def test_import_is_light():
    code = ("import sys, viz, tracer; heavy = [m for m in ('matplotlib', 'scapy', 'networkx', 'viz.analysis', "
            "'viz.capture', 'tracer.run') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_api_names_do_not_shadow_submodules():
    import viz

    for name in viz._API:
        assert not (ROOT / "viz" / f"{name}.py").exists()
    from viz import layers  # the module, not a function

    assert hasattr(layers, "nested")


@pytest.mark.skipif(not (CORPUS / "one_http_stream_fin.pcap").exists(), reason="corpus not present")
def test_jupyter_display_and_drawings(tmp_path):
    import matplotlib.figure

    import viz

    cap = viz.load(CORPUS / "one_http_stream_fin.pcap")
    assert "15 frames, 1 TCP and 0 UDP streams" in repr(cap)
    html = cap._repr_html_()
    assert html.count("<tr>") == 16 and "<td>GET" not in html and "<th>Flags</th>" in html
    assert "<td>SYN</td>" in html
    svg = cap._repr_svg_()
    assert svg.startswith("<?xml") and "SYN" in svg
    get = cap.frame("http-get")
    assert cap.packets[get - 1].payload.startswith(b"GET ")
    for fig in (viz.draw_ladder(cap, phase="teardown", times=False), cap.layers("http-get", "stack"),
                viz.draw_graph(cap, kind="conversations"), viz.draw_graph(cap.analysis, kind="states")):
        assert isinstance(fig, matplotlib.figure.Figure)
        assert fig._repr_svg_() == fig._repr_svg_()  # deterministic
    fig = viz.draw_layers(str(CORPUS / "one_http_stream_fin.pcap"), frame="syn", view="fields")
    viz.save(fig, tmp_path / "a.svg")
    fig.save(tmp_path / "b.svg")
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()
    with pytest.raises(viz.errors.SynackError, match="no frame matches 'rst'"):
        cap.frame("rst")
