"""The ladder's page kinds (slide, a4, none): their sizes and text sizes, in one table.

A module of its own so that the option table (`viz.options`, read by every `synack` parser,
also for `synack --help`) takes its choices from the same table the renderer draws with,
without importing the renderer and matplotlib.
"""
from __future__ import annotations

from dataclasses import dataclass

from viz.errors import SynackError

# 16:9 slide at 13.33 x 7.5 in (every figure's default size); text at 11-14 pt stays legible when projected.
SLIDE_SIZE = (13.33, 7.5)
# Sizes at slide scale: 14 pt is the smallest text read from the back of a lecture room on a
# 13.33 in (16:9) slide; the ladder's geometry is in inches at 10.5 pt and scales with the page's text.
LABEL_PT = 14.0
NOTE_PT = 14.0
SMALL_PT = 14.0
HEAD_PT = 16.0
BASE_PT = 10.5


@dataclass(frozen=True)
class Page:
    """A page kind: its size (height None: grows with the rows) and its text sizes."""

    name: str
    width: float
    height: float | None
    label: float = LABEL_PT
    note: float = NOTE_PT
    small: float = SMALL_PT
    head: float = HEAD_PT

    @property
    def k(self) -> float:
        return self.label / BASE_PT


PAGES = {
    "slide": Page("slide", SLIDE_SIZE[0], SLIDE_SIZE[1]),
    "a4": Page("a4", 11.69, 8.27, label=11.0, note=11.0, small=10.0, head=13.0),  # landscape, for handouts
    "none": Page("none", SLIDE_SIZE[0], None),
}
PAGE_KINDS = tuple(PAGES)


def page_of(name: str | Page | None) -> Page:
    if isinstance(name, Page):
        return name
    try:
        return PAGES[name or "none"]
    except KeyError:
        raise SynackError(f"--page {name!r}: choose from {', '.join(PAGES)}") from None
