"""Playback in a terminal: a full-screen stepper on a TTY, every step in turn elsewhere.

On a TTY the terminal is put in cbreak mode (keys arrive one by one, Ctrl-C
still interrupts) on the alternate screen, and is restored however the loop
ends.  Without a TTY (a pipe, a test, a file) there is no one to press keys:
every step is printed one after another, paced only with --auto.
"""
from __future__ import annotations

import os
import select
import sys
import time

from viz.ladder_text import render_text
from viz.play import Playback, Step

KEYS_HELP = "\u2192/Enter/Space next \u00b7 \u2190/Backspace previous \u00b7 Home/End \u00b7 q quit"
ASCII_HELP = "Right/Enter/Space next - Left/Backspace previous - Home/End - q quit"

NEXT, PREV, FIRST, LAST, QUIT = "next", "prev", "first", "last", "quit"
_SEQUENCES = {
    "\x1b[C": NEXT, "\x1bOC": NEXT, "\r": NEXT, "\n": NEXT, " ": NEXT, "n": NEXT, "j": NEXT,
    "\x1b[D": PREV, "\x1bOD": PREV, "p": PREV, "\x7f": PREV, "\x08": PREV, "k": PREV,
    "\x1b[H": FIRST, "\x1bOH": FIRST, "\x1b[1~": FIRST, "\x1b[7~": FIRST, "g": FIRST,
    "\x1b[F": LAST, "\x1bOF": LAST, "\x1b[4~": LAST, "\x1b[8~": LAST, "G": LAST,
    "q": QUIT, "Q": QUIT, "\x1b": QUIT, "\x03": QUIT, "\x04": QUIT,
}


def parse_keys(data: str) -> list[str]:
    """Characters read from the terminal -> actions; unknown keys are ignored."""
    out = []
    i = 0
    while i < len(data):
        if data[i] == "\x1b" and i + 1 < len(data):
            for n in (4, 3):
                if data[i:i + n] in _SEQUENCES:
                    out.append(_SEQUENCES[data[i:i + n]])
                    i += n
                    break
            else:  # an unknown sequence: skip to its final byte
                j = i + 2
                while j < len(data) and not (data[j].isalpha() or data[j] == "~"):
                    j += 1
                i = j + 1
            continue
        if data[i] in _SEQUENCES:
            out.append(_SEQUENCES[data[i]])
        i += 1
    return out


def _fit(line: str, width: int, ascii: bool = False) -> str:
    if ascii:
        for a, b in (("\u2192", "->"), ("\u2026", "..."), ("\u00b7", "-"), ("\u2014", "-"), ("\u00d7", "x")):
            line = line.replace(a, b)
        line = line.encode("ascii", "replace").decode("ascii")
    if len(line) <= width:
        return line
    dots = "..." if ascii else "\u2026"
    return line[: max(width - len(dots), 0)] + dots


def screen(step: Step, width: int, height: int | None = None, ascii: bool = False, keys: bool = False,
           highlight: bool = False) -> list[str]:
    """The lines of one step: heading, the ladder so far, the frame's fields, (key help).

    When `height` is given and the ladder does not fit, its top (the lifeline
    heads) stays and the rows just above the current arrow are shown.  `highlight`
    sets the current arrow in bold (terminal escapes, for the interactive screen).
    """
    ladder = render_text(step.ladder, width=width, ascii=ascii).rstrip("\n").split("\n")
    caption = ladder[-1] if step.ladder.caption and ladder and ladder[-1].strip() == step.ladder.caption else None
    if caption is not None:
        ladder = ladder[:-1]
    if highlight:
        glyphs = ("->|", "|<-", ">|", "|<") if ascii else ("\u25b6\u2502", "\u2502\u25c0")
        for i in range(len(ladder) - 1, -1, -1):
            if any(gl in ladder[i] for gl in glyphs):
                ladder[i] = "\x1b[1m" + ladder[i] + "\x1b[0m"
                break
    fields = [_fit(f, width, ascii) for f in step.fields]
    tail = [""] + fields + ([""] + [ASCII_HELP if ascii else KEYS_HELP] if keys else [])
    if height is not None:
        room = height - 1 - len(tail)
        if room < 6:
            tail = tail[: max(height - 7, 1)]
            room = height - 1 - len(tail)
        if len(ladder) > room:
            head = 3
            ladder = ladder[:head] + ladder[len(ladder) - (room - head):]
    return [_fit(step.heading, width, ascii)] + ladder + tail


def print_all(playback: Playback, out, width: int = 100, ascii: bool = False, pauses=None, sleep=time.sleep) -> None:
    """Every step, one after another (no TTY); `pauses` paces them (--auto)."""
    for i, step in enumerate(playback.steps):
        if i:
            out.write("\n")
        out.write("\n".join(screen(step, width, ascii=ascii)) + "\n")
        out.flush()
        if pauses is not None and pauses[i]:
            sleep(pauses[i])


def run_tty(playback: Playback, fd_in: int, out, *, ascii: bool = False, pauses=None) -> int:
    """The interactive stepper; returns the step the user stopped at (1-based)."""
    import shutil
    import termios
    import tty

    steps = playback.steps
    saved = termios.tcgetattr(fd_in)
    k = 0
    try:
        tty.setcbreak(fd_in)
        out.write("\x1b[?1049h\x1b[?25l")
        deadline = time.monotonic() + pauses[0] if pauses is not None and len(steps) > 1 else None
        shown = -1
        while True:
            if shown != k:
                size = shutil.get_terminal_size((100, 30))
                lines = screen(steps[k], max(size.columns, 40), max(size.lines, 12), ascii, keys=True, highlight=True)
                out.write("\x1b[H\x1b[2J" + "\r\n".join(lines))
                out.flush()
                shown = k
            timeout = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            ready, _, _ = select.select([fd_in], [], [], timeout)
            if not ready:
                if k < len(steps) - 1:
                    k += 1
                    deadline = time.monotonic() + pauses[k] if k < len(steps) - 1 else None
                else:
                    deadline = None
                continue
            data = os.read(fd_in, 64).decode("utf-8", "replace")
            if not data:
                break
            actions = parse_keys(data)
            if QUIT in actions:
                break
            for act in actions:
                if act == NEXT:
                    k = min(k + 1, len(steps) - 1)
                elif act == PREV:
                    k = max(k - 1, 0)
                elif act == FIRST:
                    k = 0
                elif act == LAST:
                    k = len(steps) - 1
            if pauses is not None and actions:
                deadline = time.monotonic() + pauses[k] if k < len(steps) - 1 else None
    except KeyboardInterrupt:
        pass
    finally:
        out.write("\x1b[?25h\x1b[?1049l")
        out.flush()
        termios.tcsetattr(fd_in, termios.TCSADRAIN, saved)
    return k + 1


def play(playback: Playback, *, width: int | None = None, ascii: bool = False, pauses=None,
         stdin=None, stdout=None) -> int:
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    if stdin.isatty() and stdout.isatty():
        run_tty(playback, stdin.fileno(), stdout, ascii=ascii, pauses=pauses)
    else:
        print_all(playback, stdout, width or 100, ascii, pauses)
    return 0
