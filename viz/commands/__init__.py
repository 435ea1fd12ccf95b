"""The `synack` subcommands that read captures; each module registers its parser."""
from __future__ import annotations


def print_figure(kind: str, args) -> int:
    """Render the figure request of `args` and print what it says: the text view, or the
    files written.  The run of `synack layers` and `synack graph` (ladder and play add
    their own ways of printing)."""
    from viz import figures

    got = figures.render(figures.arguments(kind, args))
    print(got if isinstance(got, str) else "\n".join(got), end="" if isinstance(got, str) else "\n")
    return 0
