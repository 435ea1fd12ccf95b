"""Ctrl-C, SIGTERM and SIGHUP: what each one does depends on when it arrives.

A trace has phases, and a signal means something different in each:

* setting up (namespaces, the run directory): nothing is captured yet, and
  half-made hosts are worse than a short wait, so the signal is held until
  the setup is done, then raised (a second one gives up the setup);
* running the programs: raised at once, and the trace goes on to write what
  was seen, marked incomplete;
* finishing (draining the sniffers, matching calls, writing the file): the
  frames are already on disk, so the first signal is noted (the capture is
  marked incomplete if its metadata is not yet written) and the writing goes
  on; a second signal gives up the file and only cleans up;
* cleaning up (programs, namespaces, temporary files): never interrupted.

`Interrupted` is a KeyboardInterrupt, so code that already handles Ctrl-C
(the CLI's one-line "interrupted", exit 130) handles the others too.
"""
from __future__ import annotations

import contextlib
import functools
import signal
import threading
from typing import Any, Callable

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}


class Interrupted(KeyboardInterrupt):
    """A signal that ended (part of) a run; `result` is what the run still produced, if anything."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(NAMES.get(signum, f"signal {signum}"))
        self.signum = signum
        self.result: Any = None

    @property
    def name(self) -> str:
        return NAMES.get(self.signum, f"signal {self.signum}")


def _raise(signum: int, frame: Any) -> None:
    raise Interrupted(signum)


def install_default() -> None:
    """SIGTERM and SIGHUP raise like Ctrl-C, so every command's `finally` (temporary
    files, spools) runs and the CLI prints one line instead of dying silently.
    Only signals still at Python's defaults are changed (an embedding program's stay)."""
    if threading.current_thread() is threading.main_thread():
        for sig in SIGNALS:
            if signal.getsignal(sig) in (signal.SIG_DFL, signal.default_int_handler):
                signal.signal(sig, _raise)


def ignore_all() -> None:
    if threading.current_thread() is threading.main_thread():
        for sig in SIGNALS:
            signal.signal(sig, signal.SIG_IGN)


class Guard:
    """The phase-dependent handler above, for the length of a `with` block."""

    SETUP, RUN, FINISH, CLEANUP = "setup", "run", "finish", "cleanup"
    ORDER = (SETUP, RUN, FINISH, CLEANUP)

    def __init__(self) -> None:
        self.phase = self.SETUP
        self.received: list[int] = []
        self.old: dict[int, Any] = {}
        self._holding = False
        self._pending: int | None = None

    def __enter__(self) -> "Guard":
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self.old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self.old.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)

    def _handle(self, signum: int, frame: Any) -> None:
        # Each raise moves on a phase, so a signal arriving while the previous one
        # is being handled counts as the second one, never as a new first.
        self.received.append(signum)
        if self.phase == self.RUN and self._holding:
            if self._pending is None:
                self._pending = signum
            return
        if self.phase == self.RUN:
            self.phase = self.FINISH
            raise Interrupted(signum)
        if self.phase in (self.SETUP, self.FINISH) and len(self.received) > 1:
            self.phase = self.CLEANUP
            raise Interrupted(signum)

    def enter(self, phase: str) -> None:
        """Move on to `phase` (never back); entering RUN with a signal held from
        SETUP raises it now."""
        if self.ORDER.index(phase) <= self.ORDER.index(self.phase):
            return
        self.phase = phase
        if phase == self.RUN and self.received:
            self.phase = self.FINISH
            raise Interrupted(self.received[0])

    @contextlib.contextmanager
    def held(self) -> Any:
        """While the run starts a process, a signal waits for the block's end: raised
        between the fork and the moment the trace knows the process, it would leave
        a program nobody stops."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
        pending, self._pending = self._pending, None
        if pending is not None and self.phase == self.RUN:
            self.phase = self.FINISH
            raise Interrupted(pending)

    @property
    def first(self) -> Interrupted | None:
        return Interrupted(self.received[0]) if self.received else None


_current = threading.local()


def guarded(fn: Callable) -> Callable:
    """Run `fn` under a fresh Guard, reachable inside it as `current()`."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        outer = getattr(_current, "guard", None)
        with Guard() as guard:
            _current.guard = guard
            try:
                return fn(*args, **kwargs)
            finally:
                _current.guard = outer
    return wrapper


def current() -> Guard:
    """The Guard of the innermost `guarded` call (a no-op one outside any)."""
    return getattr(_current, "guard", None) or Guard()
