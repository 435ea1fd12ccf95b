"""The phase rules of tracer.signals.Guard, with real signals sent to this process."""
from __future__ import annotations

import os
import signal

import pytest

from tracer.signals import Guard, Interrupted


def test_a_signal_while_a_process_is_started_waits_for_the_block_to_end():
    with Guard() as guard:
        guard.enter(guard.RUN)
        reached = []
        with pytest.raises(Interrupted) as exc:
            with guard.held():
                os.kill(os.getpid(), signal.SIGTERM)
                reached.append("after the signal")
        assert reached == ["after the signal"]
        assert exc.value.name == "SIGTERM" and guard.phase == guard.FINISH


def test_outside_a_held_block_the_run_is_interrupted_at_once():
    with Guard() as guard:
        guard.enter(guard.RUN)
        with pytest.raises(Interrupted):
            os.kill(os.getpid(), signal.SIGINT)
            pytest.fail("not interrupted")


def test_held_in_setup_keeps_the_signal_for_the_run():
    with Guard() as guard:
        with guard.held():
            os.kill(os.getpid(), signal.SIGHUP)
        assert guard.received == [signal.SIGHUP]
        with pytest.raises(Interrupted):
            guard.enter(guard.RUN)


def test_finishing_notes_the_first_signal_and_gives_up_on_the_second():
    with Guard() as guard:
        guard.enter(guard.FINISH)
        os.kill(os.getpid(), signal.SIGTERM)
        assert guard.first is not None and guard.phase == guard.FINISH
        with pytest.raises(Interrupted):
            os.kill(os.getpid(), signal.SIGINT)
        assert guard.phase == guard.CLEANUP
