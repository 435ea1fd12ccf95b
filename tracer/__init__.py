"""synack's tracer half: isolated hosts, scenarios, the sniffer, socket-call recording.

`tracer.trace(...)` is the notebook entry point; it imports the orchestrator
only when called, so `import tracer` stays light.
"""
from __future__ import annotations

import os

TYPE_CHECKING = False  # typing costs start-up time before the CLI's signal handlers are in place
if TYPE_CHECKING:
    from typing import Any


def trace(scenario: str | None = "tcp-echo", output: str | os.PathLike | None = None, *,
          server: str | None = None, client: str | None = None, at: str = "client", net: str = "veth",
          timeout: float = 30.0, **options: Any):
    """Trace a built-in scenario (or your own `client=`/`server=` commands) and load the capture.

    `options` are the scenario's (message, port, client_port, clients, bytes,
    ipv6); `output` defaults to NAME.pcapng in the current folder.  Returns a
    `viz.Capture` (its `.result` holds the tracer's summary).  Needs root.
    """
    import dataclasses

    from tracer import run as runmod
    from tracer import scenarios
    from viz.api import Capture, analyse
    from viz.errors import SynackError

    known = {f.name for f in dataclasses.fields(scenarios.Options)}
    for k in options:
        if k not in known:
            raise SynackError(f"unknown option {k!r} (known: {', '.join(sorted(known))})")
    if client or server:
        target: Any = runmod.Programs(client=client or "", server=server)
        name = "user"
    else:
        target = scenarios.get(scenario or scenarios.DEFAULT)
        name = target.name
    out = os.fspath(output) if output is not None else f"{name}.pcapng"
    if at == "both":
        raise SynackError("at='both' writes two captures: trace each point separately")
    result = runmod.trace(target, scenarios.Options(**options), out, at=at, net=net, timeout=timeout)
    return Capture(out, analyse(out), result)
