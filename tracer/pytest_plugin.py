"""pytest plugin: the `synack_trace` fixture, so a course's test file checks programs at the packet level.

    def test_client_closes_first(synack_trace):
        trace = synack_trace(server="python3 server.py", client="python3 client.py")
        assert trace.closed_first == "client"
        trace.expect("half_close", True)   # AssertionError with the evidence on failure

Registered through the `pytest11` entry point when synack is installed (or
`pytest_plugins = ["tracer.pytest_plugin"]` in a conftest).  Programs and
files are relative to the test file's folder; the captures go to the test's
tmp_path.  A failing test's report gets a "synack ladder" section: the text
ladder of every trace the test made, with the arrows that decided a failed
`expect` marked.  Importing this module is cheap: the tracer is loaded by
the first call.
"""
from __future__ import annotations

from typing import Any

import pytest

_KEY = "_synack_traces"


def _trace_class():
    from viz.check import Trace

    class PytestTrace(Trace):
        """A Trace whose `expect` asserts: a failure raises AssertionError with the evidence."""

        failed: list

        def expect(self, name: str, value: Any = True):
            __tracebackhide__ = True
            verdict = super().expect(name, value)
            if not verdict.passed:
                from viz.check import call_text

                self.failed.append(verdict)
                lines = [f"synack: {name} = {value!r} failed: {verdict.detail}"]
                if verdict.frames:
                    lines.append("frames: " + ", ".join(map(str, verdict.frames)))
                lines += [f"call: {call_text(c)}" for c in verdict.calls[:6]]
                raise AssertionError("\n".join(lines))
            return verdict

        def ladder(self, width: int = 100) -> str:
            """The text ladder; arrows that decided a failed expect() are marked with »."""
            from viz.check_ladder import failure_text
            from viz.ladder import build_ladder
            from viz.ladder_text import render_text

            if self.failed:
                return "\n".join(failure_text(self.analysis, v, width) for v in self.failed)
            return render_text(build_ladder(self.analysis), width=width)

    return PytestTrace


@pytest.fixture
def synack_trace(request, tmp_path):
    """A function: `synack_trace(server=CMD, client=CMD, **run_options)` -> Trace (or `scenario=NAME`).

    run_options are the spec's (message, port, timeout, loss, seed, drop, rto_min, delay, jitter,
    rate, sndbuf, rcvbuf, mss, clients, parallel, ipv6)."""
    traces: list = []
    setattr(request.node, _KEY, traces)
    base = str(request.path.parent)

    def run(server: str | None = None, client: str | None = None, *, scenario: str | None = None,
            **options: Any):
        import shutil

        from tracer import check as checkmod
        from tracer import hosts as hostmod
        from viz.errors import SynackError

        data: dict[str, Any] = {k: v for k, v in (("server", server), ("client", client), ("scenario", scenario))
                                if v is not None}
        data.update(options)
        data["expect"] = {"established": True}  # a spec needs one; the test asserts what it wants
        try:
            spec = checkmod.spec_from(data, "<synack_trace>", base=base)
            hostmod.require_root()
        except SynackError as exc:
            pytest.fail(f"synack_trace: {exc}", pytrace=False)
        r0 = spec.runs[0]
        run_ = checkmod.Run(f"{request.node.name}-{len(traces) + 1}", r0.options, {})
        workdir = None if spec.scenario else checkmod._stage(base)
        try:
            result = checkmod.run_one(spec, run_, str(tmp_path), workdir)
        finally:
            if workdir:
                shutil.rmtree(workdir, ignore_errors=True)
        if result.trace is None:
            pytest.fail(f"synack_trace: could not trace: {result.error}", pytrace=False)
        t = result.trace
        trace = _trace_class()(t.analysis, t.payloads, t.run, t.message, t.base)
        trace.failed = []
        trace.capture = result.capture
        traces.append(trace)
        return trace

    return run


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    traces = getattr(item, _KEY, None)
    if report.when == "call" and report.failed and traces:
        parts = []
        for i, t in enumerate(traces, 1):
            try:
                parts.append(f"trace {i}: {t.capture}\n{t.ladder()}")
            except Exception as exc:  # noqa: BLE001 - the report must not hide the test's own failure
                parts.append(f"trace {i}: {t.capture} (no ladder: {exc})")
        report.sections.append(("synack ladder", "\n".join(parts)))
