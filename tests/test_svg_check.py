"""The structural SVG check itself: each rule catches what it names on figures matplotlib really draws,
and a clean figure passes."""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from svg_check import check_svg  # noqa: E402

from viz.figure import new_figure, save  # noqa: E402


def _draw(tmp_path, body, size=(13.33, 7.5)):
    from matplotlib.collections import LineCollection

    fig = new_figure(size)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, size[0])
    ax.set_ylim(0, size[1])
    ax.set_axis_off()
    shafts = body(ax)
    if shafts:
        ax.add_collection(LineCollection(shafts, gid="ladder-shafts"))
    out = tmp_path / "f.svg"
    save(fig, out)
    return check_svg(out)


def test_clean_figure_passes(tmp_path):
    def body(ax):
        ax.text(2, 6, "SYN seq=0", fontsize=14)
        ax.text(2, 5, "ACK seq=1 ack=1", fontsize=14, rotation=-5)
        return [((1, 4.5), (9, 3.5))]  # downward on the page
    assert _draw(tmp_path, body) == []


def test_each_rule_is_caught(tmp_path):
    def body(ax):
        ax.text(2, 6, "ESTABLISHED", fontsize=14)
        ax.text(2.5, 6.05, "recv → 16", fontsize=14)  # on top of the first
        ax.text(5, 4, "crossed label", fontsize=14)
        ax.text(13.2, 2, "off the page", fontsize=14)
        ax.text(6, 1, "tiny", fontsize=9)
        return [((4.8, 4.1), (8, 4.1)), ((1, 1), (3, 2))]  # the second one climbs
    problems = _draw(tmp_path, body)
    kinds = {p.split(":")[0] for p in problems}
    assert kinds == {"overlap", "crossed", "clipped", "small", "upward arrow from (72,468) to (216,396)"}
    assert any("'ESTABLISHED' and 'recv → 16'" in p for p in problems)
    assert any("'crossed label'" in p for p in problems if p.startswith("crossed"))
    assert any("'tiny' is 9.0 pt" in p for p in problems)


def test_a_tall_page_shrinks_on_the_slide(tmp_path):
    def body(ax):
        ax.text(1, 1, "fourteen points", fontsize=14)
        return []
    problems = _draw(tmp_path, body, size=(13.33, 15.0))
    assert problems == ["small: 'fourteen points' is 7.0 pt on a slide (14 pt on a 13.33x15.00 in page)"]


def test_rotated_text_box_follows_its_angle(tmp_path):
    def body(ax):
        ax.text(3, 3, "a long sloped arrow label", fontsize=14, rotation=30, rotation_mode="anchor")
        return [((3.5, 4.2), (6, 4.2))]  # crosses only the rotated box, above its unrotated one
    problems = _draw(tmp_path, body)
    assert [p.split(":")[0] for p in problems] == ["crossed"]
