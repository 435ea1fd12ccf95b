"""The router-hop comparison (`synack layers --compare`): a changed field is marked by a band,
a hatched gutter and ≠, and no hatching lies under any text (from the renderer's font metrics)."""
from __future__ import annotations

from pathlib import Path

import pytest

import figure_check
from viz import layers as L
from viz import layers_mpl
from viz.commands.ladder import load
from viz.framefile import load_frame, match_frame, safe_dissect
from viz.figure import theme

LECTURE = Path(__file__).resolve().parents[1] / "captures" / "lecture"
PAIRS = [(p, p.with_name(p.name.replace(".client-link.", ".server-link.")))
         for p in sorted(LECTURE.glob("*.client-link.pcapng"))]


@pytest.mark.skipif(not PAIRS, reason="no routed lecture capture")
@pytest.mark.parametrize("theme_name", ["light", "print", "dark"])
def test_compare_has_no_hatching_under_text(theme_name):
    a, b = PAIRS[0]
    an, bn = load(str(a)), load(str(b))
    checked = 0
    for n in range(1, len(an.packets) + 1):
        if an.packet(n).proto != "tcp":
            continue
        d = safe_dissect(load_frame(str(a), n))
        onum, od = match_frame(d, str(b))
        diffs = L.compare(d, od)
        fig = layers_mpl.compare_figure(L.nested(d, an.packet(n), n), L.nested(od, bn.packet(onum), onum), diffs,
                                        a.name, b.name, theme(theme_name))
        assert any(df.differs for df in diffs)  # a router hop: MACs, TTL, checksum
        assert figure_check.hatched_under_text(fig) == []
        assert figure_check.problems(fig) == []
        hatched = [p for p in fig.findobj(lambda x: hasattr(x, "get_hatch") and bool(x.get_hatch()))]
        assert len(hatched) == sum(df.differs for df in diffs)  # every changed row still marked
        checked += 1
    assert checked >= 3
