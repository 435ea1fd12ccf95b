"""The shape the guide asks for, checked on the source: viz never imports
tracer (data flows tracer -> capture file -> viz), and the pure core (model,
analysis, decode, layout) imports no plotting, processes, sockets or clocks,
not even lazily inside a function."""
from __future__ import annotations

import ast
import random
import socket
from pathlib import Path

import pytest

from viz.decode import ipv6_text

VIZ = Path(__file__).resolve().parents[1] / "viz"
PURE = ("model", "analysis", "tcp_analysis", "states", "streams", "calls", "vector", "export",
        "decode", "headers", "linktypes", "metadata", "capture", "select", "follow", "ladder", "pages",
        "layers", "play")
BANNED = {"matplotlib", "subprocess", "socket", "time"}


def imports(path: Path) -> set[str]:
    """Top-level package names a module imports anywhere in its source."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_viz_never_imports_tracer():
    files = sorted(VIZ.rglob("*.py"))
    assert len(files) > 20
    bad = {str(p.relative_to(VIZ)): "tracer" for p in files if "tracer" in imports(p)}
    assert bad == {}


@pytest.mark.parametrize("name", PURE)
def test_pure_core_imports(name):
    path = VIZ / f"{name}.py"
    assert path.is_file(), f"{path} moved: update PURE"
    assert imports(path) & BANNED == set()


def test_the_check_sees_lazy_imports(tmp_path):
    p = tmp_path / "m.py"
    p.write_text("def f():\n    import matplotlib.pyplot as plt\n    from time import sleep\n")
    assert imports(p) == {"matplotlib", "time"}


def test_ipv6_text_is_inet_ntop():
    """decode writes IPv6 addresses without the socket module, as inet_ntop does
    (tshark's spelling): zero runs, mapped and compatible IPv4 tails."""
    rng = random.Random(17)
    for _ in range(20000):
        words = [rng.choice((0, 0, 0, 1, 0xFFFF, rng.getrandbits(16))) for _ in range(8)]
        raw = b"".join(w.to_bytes(2, "big") for w in words)
        assert ipv6_text(raw) == socket.inet_ntop(socket.AF_INET6, raw)
