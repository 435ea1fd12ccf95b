"""`synack themes`: the figure themes, their colours and fonts; one as a file to pin or edit."""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "themes", help="list the figure themes (colours, fonts), or print one as a theme file",
        description="Every figure command takes --theme NAME or --theme FILE.toml. Without NAME this "
        "lists the built-in themes with their colours and fonts; with NAME it prints that theme as a "
        "file that --theme reads, to edit or to commit beside a manifest ([build] theme = "
        "\"course.toml\") so the figures keep their look whatever a later synack changes.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  synack themes\n"
        "  synack themes cb > course.toml     # then edit, and: synack ladder CAP --theme course.toml",
    )
    p.add_argument("name", nargs="?", metavar="NAME|FILE.toml", help="a theme to print as a file")
    p.set_defaults(run=run)


def run(args) -> int:
    from viz.figure import THEME_KEYS, THEMES, theme, theme_toml

    if args.name:
        print(theme_toml(theme(args.name)), end="")
        return 0
    for th in THEMES.values():
        print(f"{th.name}: {th.about}")
        for k in THEME_KEYS:
            v = getattr(th, k)
            print(f"  {k:10} {' '.join(v) if isinstance(v, tuple) else v}")
    return 0
