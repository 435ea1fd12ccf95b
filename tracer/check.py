"""`synack check`: run a client and a server (or a built-in scenario) and decide a spec's expectations.

A spec is a TOML file (README "Checking programs"): the programs, the
message, and the expectations (viz.check's vocabulary), run once or several
times, each run with its own faults.  Each run is an ordinary `tracer.run.trace`
into a capture that is kept; the verdicts are decided from that capture by
viz.check, so what a student is told is what the ladder shows.  Everything
about the spec (unknown keys or expectations, bad values, a program that does
not exist) is found before anything runs and is a one-line error naming the
spec's line (exit 2).  A program that hangs is killed at the timeout: the
expectations it could not meet fail, the capture stays.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from viz.check import EXPECTATIONS, RunInfo, SpecError, Trace, Verdict, evaluate

RUN_KEYS = {
    "name": str, "message": str, "port": int, "client_port": int, "ipv6": bool, "timeout": (int, float),
    "loss": str, "seed": int, "drop": (list, str), "rto_min": str, "delay": str, "jitter": str, "rate": str,
    "sndbuf": int, "rcvbuf": int, "mss": int, "clients": int, "parallel": bool, "bytes": int, "expect": dict,
    "stop_server": (int, float),
}
TOP_KEYS = {"name": str, "scenario": str, "server": str, "client": str, "runs": list}
DEFAULT_TIMEOUT = 20.0
# How the client command is run more than once: a tiny Python parent (so no
# strace is needed for it) that starts each copy in sequence or all at once.
# A Python client is forked and run in-process (runpy): the unprivileged
# program user may be unable to exec the interpreter again (a venv whose
# python links into a private home), and the recorder is already loaded.
_MANY = """\
import os, runpy, shlex, subprocess, sys
cmd, n, par = shlex.split(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == '1'

def start():
    if cmd[0] == sys.executable and len(cmd) > 1 and cmd[1].endswith('.py'):
        pid = os.fork()
        if pid == 0:
            code = 0
            sys.argv = cmd[1:]
            try:
                runpy.run_path(cmd[1], run_name='__main__')
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except BaseException:
                import traceback
                traceback.print_exc()
                code = 1
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        return pid
    return subprocess.Popen(cmd).pid

def wait(pid):
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

if par:
    pids = [start() for _ in range(n)]
    codes = [wait(p) for p in pids]
else:
    codes = [wait(start()) for _ in range(n)]
sys.exit(next((c for c in codes if c), 0) & 255)
"""


# --- the spec ---------------------------------------------------------------------

@dataclass(frozen=True)
class Run:
    name: str
    options: dict[str, Any]
    expect: dict[str, Any]


@dataclass(frozen=True)
class Spec:
    name: str
    path: str  # the TOML file ("" for a scenario's built-in spec)
    base: str  # folder the programs and files are relative to
    scenario: str | None
    server: str | None
    client: str | None
    runs: tuple[Run, ...]


def _line_of(text: str, key: str, after: int = 0) -> int | None:
    """Best-effort line of `key = ...` (tomllib keeps no positions)."""
    leaf = key.split(".")[-1]
    pat = re.compile(rf"^\s*(\"?{re.escape(leaf)}\"?)\s*=|[{{,]\s*{re.escape(leaf)}\s*=")
    for i, line in enumerate(text.splitlines()[after:], after + 1):
        if pat.search(line):
            return i
    return None


def _err(path: str, text: str, key: str, msg: str) -> SpecError:
    line = _line_of(text, key) if text else None
    where = f"{path}:{line}" if line else path
    return SpecError(f"{where}: {key}: {msg}")


def _typed(path: str, text: str, key: str, value: Any, want: Any) -> None:
    kinds = want if isinstance(want, tuple) else (want,)
    if isinstance(value, bool) and bool not in kinds:
        raise _err(path, text, key, f"{value!r} is not {' or '.join(k.__name__ for k in kinds)}")
    if not isinstance(value, kinds):
        raise _err(path, text, key, f"{value!r} is not {' or '.join(k.__name__ for k in kinds)}")


def load_spec(path: str) -> Spec:
    """Parse and validate a spec file; SpecError (one line, with the spec's line) on any problem."""
    import tomllib

    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise SpecError(f"{path}: cannot read: {exc.strerror}") from None
    text = raw.decode("utf-8", "replace")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from None
    return spec_from(data, path, text)


def spec_from(data: dict, path: str = "<spec>", text: str = "", base: str | None = None) -> Spec:
    if base is None:
        base = os.path.dirname(os.path.abspath(path)) if path and not path.startswith("<") else os.getcwd()
    defaults: dict[str, Any] = {}
    for k, v in data.items():
        if k in TOP_KEYS:
            _typed(path, text, k, v, TOP_KEYS[k])
        elif k in RUN_KEYS:
            _typed(path, text, k, v, RUN_KEYS[k])
            defaults[k] = v
        else:
            raise _err(path, text, k, f"unknown key (known: {', '.join(sorted(set(TOP_KEYS) | set(RUN_KEYS)))})")
    scenario = data.get("scenario")
    if scenario is not None:
        from tracer import scenarios
        try:
            scenarios.get(scenario)
        except Exception as exc:  # noqa: BLE001 - SynackError: unknown scenario
            raise _err(path, text, "scenario", str(exc)) from None
        if data.get("server") or data.get("client"):
            raise _err(path, text, "scenario", "give either scenario or server/client, not both")
    elif not data.get("client"):
        raise _err(path, text, "client", "a client command is needed (or scenario = NAME)")
    top_expect = defaults.pop("expect", {})
    _validated(path, text, top_expect, "expect")
    runs = []
    entries = data.get("runs") or [{}]
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise _err(path, text, "runs", f"entry {i + 1} is not a table ([[runs]])")
        opts = dict(defaults)
        for k, v in entry.items():
            if k not in RUN_KEYS:
                raise _err(path, text, f"runs.{k}", f"unknown key (known: {', '.join(sorted(RUN_KEYS))})")
            _typed(path, text, f"runs.{k}", v, RUN_KEYS[k])
            opts[k] = v
        run_expect = dict(top_expect)
        extra = opts.pop("expect", {}) if "expect" in entry else {}
        _validated(path, text, extra, "runs.expect")
        run_expect.update(extra)
        if not run_expect:
            raise _err(path, text, "expect", "no expectation to check")
        name = str(opts.pop("name", f"run{i + 1}" if len(entries) > 1 else "plain"))
        _check_options(path, text, opts)
        runs.append(Run(name, opts, run_expect))
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise _err(path, text, "runs.name", "two runs have the same name")
    spec = Spec(str(data.get("name") or os.path.splitext(os.path.basename(path))[0] or "check"), path, base,
                scenario, data.get("server"), data.get("client"), tuple(runs))
    if not scenario:
        for role in ("server", "client"):
            if getattr(spec, role):
                check_program(path, role, getattr(spec, role), base, text)
    return spec


def _validated(path: str, text: str, expect: dict, where: str) -> None:
    for k, v in expect.items():
        entry = EXPECTATIONS.get(k)
        if entry is None:
            raise _err(path, text, f"{where}.{k}",
                       f"unknown expectation (known: {', '.join(sorted(EXPECTATIONS))})")
        try:
            entry.check(k, v)
        except SpecError as exc:
            raise _err(path, text, f"{where}.{k}", str(exc).split(": ", 1)[1]) from None


def _check_options(path: str, text: str, opts: dict) -> None:
    """Parse the fault and shape options now, so a bad one stops the check before any run."""
    from tracer import wire as wiremod
    from viz.errors import SynackError

    try:
        faults_of(opts)
        wiremod.spec_from(opts.get("delay"), opts.get("jitter"), opts.get("rate"), opts.get("seed"))
    except SynackError as exc:
        msg = str(exc)
        key = next((k for k in ("loss", "seed", "drop", "rto_min", "delay", "jitter", "rate")
                    if msg.startswith(f"--{k.replace('_', '-')}")), "runs")
        raise _err(path, text, key, msg) from None
    for k in ("sndbuf", "rcvbuf", "mss", "clients", "port", "client_port", "bytes"):
        if k in opts and opts[k] < (0 if k in ("port", "client_port") else 1):
            raise _err(path, text, k, f"{opts[k]} must be positive")
    if "mss" in opts and not 48 <= opts["mss"] <= 1460:
        raise _err(path, text, "mss", f"{opts['mss']} is outside 48..1460")
    for k in ("sndbuf", "rcvbuf"):
        if k in opts and opts[k] < 1024:
            raise _err(path, text, k, f"{opts[k]} is below 1024 bytes")
    if opts.get("stop_server", 1) <= 0:
        raise _err(path, text, "stop_server", "must be a positive number of seconds")
    if opts.get("timeout", 1) <= 0:
        raise _err(path, text, "timeout", "must be positive")


def check_program(path: str, role: str, cmd: str, base: str, text: str = "") -> None:
    """SpecError unless the command's program (and its script, for Python) exist."""
    try:
        argv = shlex.split(cmd)
    except ValueError as exc:
        raise _err(path, text, role, f"cannot split the command: {exc}") from None
    if not argv:
        raise _err(path, text, role, "empty command")
    exe = argv[0]
    if "/" in exe:
        if not os.path.exists(os.path.join(base, exe)):
            raise _err(path, text, role, f"program {exe!r} does not exist")
    elif shutil.which(exe) is None:
        raise _err(path, text, role, f"program {exe!r} not found on PATH")
    if re.fullmatch(r"python[\d.]*", os.path.basename(exe)):
        script = next((a for a in argv[1:] if not a.startswith("-")), None)
        if script and script.endswith(".py") and not os.path.exists(os.path.join(base, script)):
            raise _err(path, text, role, f"script {script!r} does not exist (in {base})")


def faults_of(opts: dict):
    from tracer import faults as faultmod

    drop = opts.get("drop") or ()
    if isinstance(drop, str):
        drop = [drop]
    seed = opts.get("seed") if opts.get("loss") is not None else None
    f = faultmod.build(drop, opts.get("loss"), seed, opts.get("rto_min"))
    return f or None


# --- the built-in scenarios' own specs -------------------------------------------

def scenario_spec(name: str) -> Spec:
    """The spec a built-in scenario checks itself with (`synack check SCENARIO`)."""
    from tracer import scenarios

    sc = scenarios.get(name)
    expect = dict(SCENARIO_EXPECT.get(sc.name, {}))
    if "client_sends" in expect and expect["client_sends"] == "bytes":
        expect["client_sends"] = {"bytes": scenarios.Options().bytes}
    runs = [Run("plain", {}, expect)]
    if "ipv6" in sc.options:
        runs.append(Run("ipv6", {"ipv6": True}, dict(expect, ipv6=True)))
    return Spec(sc.name, "", os.getcwd(), sc.name, None, None, tuple(runs))


_ECHO_CALLS = {"server": ["socket", "bind", "listen", "accept", "recv", "sendall", "close"],
               "client": ["socket", "connect", "sendall", "recv", "close"]}
SCENARIO_EXPECT: dict[str, dict[str, Any]] = {
    "tcp-echo": {"established": True, "closes_first": "client", "reset": False, "client_sends": True,
                 "echo": True, "connections": 1, "time_wait": "client", "client_reads_all": True,
                 "calls": _ECHO_CALLS, "client_exits": 0},
    "tcp-hello": {"established": True, "closes_first": "server", "time_wait": "server", "reset": False,
                  "connections": 1, "client_exits": 0},
    "tcp-time": {"established": True, "closes_first": "server", "time_wait": "server", "reset": False,
                 "client_reads_all": True, "client_exits": 0},
    "tcp-upper": {"established": True, "client_sends": True, "upper": True, "reset": False,
                  "connections": 1, "client_exits": 0},
    "udp-upper": {"client_sends": True, "answered": True, "upper": True, "connections": 0, "client_exits": 0},
    "udp-spew": {"client_sends": True, "connections": 0, "client_exits": 0},
    "socketserver-tcp": {"established": True, "upper": True, "reset": False,
                         "client_exits": 0},
    "socketserver-udp": {"client_sends": True, "answered": True, "upper": True, "client_exits": 0},
    "threading-tcp": {"connections": 3, "serves": 3, "upper": True, "reset": False, "closes_first": "client",
                      "client_exits": 0},
    "forking-tcp": {"connections": 3, "serves": 3, "upper": True, "reset": False, "client_exits": 0},
    "half-close": {"half_close": True, "closes_first": "client", "upper": True, "client_sends": True,
                   "time_wait": "client", "reset": False,
                   "calls": {"client": ["connect", "sendall", "shutdown", "recv", "close"]}, "client_exits": 0},
    "refused": {"refused": True, "established": False, "client_exits": 0},
    "http-get": {"established": True, "closes_first": "server", "reset": False, "client_exits": 0},
    "bulk": {"established": True, "client_sends": "bytes", "server_reads_all": True, "reset": False,
             "client_exits": 0},
    "udp-timeout": {"retries_after_timeout": True, "upper": True, "client_exits": 0},
    "reuseaddr": {"serves": 2, "closes_first": "server", "time_wait": "server", "client_exits": 0},
    "lost-segment": {"analysis": "retransmission", "echo": True, "client_sends": True, "reset": False,
                     "client_exits": 0},
    "fast-retransmit": {"analysis": ["fast_retransmission", "dup_ack"], "client_sends": "bytes", "reset": False,
                        "client_exits": 0},
    "lost-ack": {"analysis": "retransmission", "upper": True, "reset": False, "client_exits": 0},
    "zero-window": {"analysis": "zero_window", "reset": False, "client_exits": 0},
    "syn-retry": {"analysis": "retransmission", "established": True, "echo": True, "client_exits": 0},
    "ping": {"connections": 0, "client_exits": 0,
             "calls": {"client": ["socket", "bind", "sendto", "recvfrom", "sendto", "recvfrom", "close"]}},
    "traceroute": {"connections": 0, "client_exits": 0,
                   "calls": {"client": ["socket", "setsockopt", "sendto", "close"]}},  # one probe on a direct link
    "slow-start": {"established": True, "client_sends": "bytes", "server_reads_all": True, "client_exits": 0},
    "sawtooth": {"established": True, "client_sends": "bytes", "server_reads_all": True, "client_exits": 0},
    "sliding-window": {"established": True, "reset": False, "client_exits": 0},
    "dns": {"answered": True, "connections": 0, "client_exits": 0,
            "calls": {"server": ["bind", "recvfrom", "sendto"], "client": ["sendto", "recvfrom", "close"]}},
}


# --- running ----------------------------------------------------------------------

@dataclass
class RunResult:
    run: Run
    capture: str | None
    verdicts: list[Verdict]
    info: RunInfo
    error: str | None = None  # the run could not be traced (server never ready, ...)
    figures: dict[str, str] = field(default_factory=dict)
    trace: Trace | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.error is None and all(v.passed for v in self.verdicts)


def _stage(base: str) -> str:
    """A world-readable copy of the spec's folder: the programs run unprivileged and may not
    read a private checkout (or write into it)."""
    d = tempfile.mkdtemp(prefix="synack-check-")
    for root, dirs, files in os.walk(base):
        dirs[:] = [x for x in dirs if x not in ("__pycache__", ".git", ".venv")]
        rel = os.path.relpath(root, base)
        dst = os.path.join(d, rel) if rel != "." else d
        os.makedirs(dst, exist_ok=True)
        os.chmod(dst, 0o777)
        for name in files:
            if name.endswith((".pcapng", ".svg")):
                continue
            shutil.copyfile(os.path.join(root, name), os.path.join(dst, name))
            os.chmod(os.path.join(dst, name), 0o644)
    os.chmod(d, 0o777)
    return d


def _kill_namespace(ino: int) -> None:
    """SIGKILL every process whose network namespace is this one (the server and its children)."""
    import signal

    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            if os.stat(f"/proc/{pid}/ns/net").st_ino == ino:
                os.kill(int(pid), signal.SIGKILL)
        except OSError:
            continue


def _size_buffers(opts: dict):
    """on_hosts hook, before any program makes a socket (it takes the sizes then): the client's
    send buffer (`sndbuf`, net.ipv4.tcp_wmem) and the server's receive buffer (`rcvbuf`,
    net.ipv4.tcp_rmem, a reader whose window stays small).  Together they make send() return
    short: the client's data waits in a buffer the size of sndbuf, behind a window of rcvbuf."""
    sndbuf, rcvbuf = opts.get("sndbuf"), opts.get("rcvbuf")
    if not sndbuf and not rcvbuf:
        return None

    def apply(hosts) -> None:
        from tracer import hosts as hostmod

        for host, key, size in ((hosts.client, "net.ipv4.tcp_wmem", sndbuf),
                                (hosts.server, "net.ipv4.tcp_rmem", rcvbuf)):
            if size:
                hostmod.in_netns(host.netns, hostmod.write_sysctl, key, f"{size} {size} {size}")
    return apply


def _shape_hosts(opts: dict, timers: list):
    """on_ready hook: a small MSS (short reads), and the server stopped (killed: the kernel
    closes its sockets) `stop_server` seconds after the client starts."""
    mss, stop = opts.get("mss"), opts.get("stop_server")
    if not mss and not stop:
        return None

    def apply(hosts) -> None:
        import threading

        from tracer import hosts as hostmod

        if stop:
            ino = os.stat(os.path.join(hostmod.NETNS_RUN_DIR, hosts.server.netns)).st_ino
            timer = threading.Timer(float(stop), _kill_namespace, (ino,))
            timer.daemon = True
            timers.append(timer)
            timer.start()

        if mss:
            for host in (hosts.client, hosts.server):
                for fam in ("-4", "-6"):
                    out = subprocess.run(["ip", fam, "-n", host.netns, "route", "show"], capture_output=True,
                                         text=True).stdout
                    for line in out.splitlines():
                        if " dev " not in line or line.startswith(("local", "multicast", "fe80", "ff00")):
                            continue
                        route = re.sub(r"\s+advmss \d+", "", line.strip()).split()
                        subprocess.run(["ip", fam, "-n", host.netns, "route", "change", *route,
                                        "advmss", str(mss)], capture_output=True)
    return apply


def _python(cmd: str | None) -> str | None:
    """`python3 x.py` runs on the interpreter synack runs on: the one on PATH may be a
    shim (pyenv) that the unprivileged program user cannot execute."""
    if not cmd:
        return cmd
    argv = shlex.split(cmd)
    if re.fullmatch(r"python3?", argv[0]):
        argv[0] = sys.executable
    return shlex.join(argv)


def _target(spec: Spec, opts: dict):
    from tracer import run as runmod
    from tracer import scenarios

    if spec.scenario:
        return scenarios.get(spec.scenario)
    client = _python(spec.client)
    n = opts.get("clients", 1)
    if n > 1:
        client = [sys.executable, "-c", _MANY, client, str(n), "1" if opts.get("parallel") else "0"]
    return runmod.Programs(client=client, server=_python(spec.server), name=spec.name)


def run_one(spec: Spec, run: Run, out_dir: str, workdir: str | None = None) -> RunResult:
    from tracer import run as runmod
    from tracer import scenarios
    from tracer import wire as wiremod
    from viz.api import analyse
    from viz.errors import SynackError
    from viz.follow import payloads

    o = run.options
    given = {k: o[k] for k in ("message", "port", "client_port", "bytes", "ipv6") if k in o}
    if spec.scenario and "clients" in o:
        given["clients"] = o["clients"]
    opts = scenarios.Options(**given)
    faults = faults_of(o)
    wire = wiremod.spec_from(o.get("delay"), o.get("jitter"), o.get("rate"), o.get("seed"))
    timeout = float(o.get("timeout", DEFAULT_TIMEOUT))
    capture = os.path.join(out_dir, f"{_slug(spec.name)}-{_slug(run.name)}.pcapng")
    started = time.monotonic()
    timers: list = []
    old = os.getcwd()
    capture_abs = os.path.abspath(capture)
    try:
        if workdir:
            os.chdir(workdir)
        result = runmod.trace(_target(spec, o), opts, capture_abs, timeout=timeout, faults=faults, wire=wire,
                              on_hosts=_size_buffers(o), on_ready=_shape_hosts(o, timers), command=f"synack check {spec.path or spec.name}"
                              f" (run {run.name})")
    except SynackError as exc:
        info = RunInfo(reason=str(exc), timeout=timeout)
        verdicts = [Verdict(k, v, False, f"not run: {exc}") for k, v in run.expect.items()]
        return RunResult(run, None, verdicts, info, error=str(exc), seconds=time.monotonic() - started)
    finally:
        for t in timers:
            t.cancel()
        os.chdir(old)
    info = RunInfo(result.client_status, result.server_status, result.incomplete_reason, timeout)
    an = analyse(capture)
    trace = Trace(an, payloads(capture, an), info, opts.message.encode(), base=spec.base)
    verdicts = evaluate(trace, run.expect)
    return RunResult(run, capture, verdicts, info, trace=trace, seconds=time.monotonic() - started)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


def check(spec: Spec, out_dir: str, figures: bool = True, progress=None) -> list[RunResult]:
    """Every run of the spec; failed expectations get their ladder figure in `out_dir`."""
    os.makedirs(out_dir, exist_ok=True)
    workdir = _stage(spec.base) if not spec.scenario else None
    results = []
    try:
        for run in spec.runs:
            if progress:
                progress(run)
            r = run_one(spec, run, out_dir, workdir)
            if figures and r.trace is not None:
                r.figures = write_figures(spec, r, out_dir)
            results.append(r)
    finally:
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return results


def write_figures(spec: Spec, r: RunResult, out_dir: str) -> dict[str, str]:
    from viz.check_ladder import failure_figure
    from viz.errors import SynackError

    out = {}
    for v in r.verdicts:
        if v.passed:
            continue
        path = os.path.join(out_dir, f"{_slug(spec.name)}-{_slug(r.run.name)}-{_slug(v.name)}.svg")
        try:
            failure_figure(r.trace.analysis, v, path)
        except SynackError:
            continue  # nothing to draw (no segment at all)
        out[v.name] = path
    return out


# --- reports ----------------------------------------------------------------------

def summary_lines(spec: Spec, results: list[RunResult], verbose: bool = False) -> list[str]:
    lines = [f"synack check {spec.name}" + (f" ({spec.path})" if spec.path else " (built-in scenario)")]
    total = passed = 0
    width = max((len(v.name) for r in results for v in r.verdicts), default=10)
    for r in results:
        opts = ", ".join(f"{k}={v}" for k, v in r.run.options.items()) or "no faults"
        head = f"run {r.run.name} ({opts})"
        if r.capture:
            st = r.info.client_status
            head += f": client {'exit ' + str(st) if st is not None else 'killed'}, capture {r.capture}"
        lines.append(head)
        if r.error:
            lines.append(f"  ✗ could not run: {r.error}")
            lines.append(f"    so not decided: {', '.join(v.name for v in r.verdicts)}")
            total += len(r.verdicts)
            continue
        for v in r.verdicts:
            total += 1
            passed += v.passed
            lines.append(f"  {v.mark} {v.name:<{width}}  {v.detail}")
            if not v.passed or verbose:
                ev = []
                if v.frames:
                    ev.append("frames " + ", ".join(map(str, v.frames[:12])))
                if v.calls:
                    ev.append("calls " + "; ".join(_call(c) for c in v.calls[:4]))
                if ev:
                    lines.append(f"    {' '*width}  {' | '.join(ev)}")
                if v.name in r.figures:
                    lines.append(f"    {' '*width}  ladder: {r.figures[v.name]}")
    lines.append(f"{passed} of {total} expectations passed" + ("" if passed == total else f", {total - passed} failed"))
    return lines


def _call(c) -> str:
    from viz.check import call_text
    return call_text(c)


def as_json(spec: Spec, results: list[RunResult]) -> dict[str, Any]:
    return {
        "spec": spec.path or None, "name": spec.name, "scenario": spec.scenario,
        "passed": all(r.passed for r in results),
        "runs": [{
            "name": r.run.name, "options": r.run.options, "capture": r.capture, "error": r.error,
            "client_status": r.info.client_status, "server_status": r.info.server_status,
            "incomplete_reason": r.info.reason, "seconds": round(r.seconds, 3),
            "verdicts": [dict(v.as_json(), figure=r.figures.get(v.name)) for v in r.verdicts],
        } for r in results],
    }


def junit_xml(spec: Spec, results: list[RunResult]) -> str:
    """JUnit XML: a testsuite per run, a testcase per expectation, the evidence in each failure."""
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites", name=f"synack check {spec.name}")
    tests = failures = 0
    for r in results:
        suite = ET.SubElement(root, "testsuite", name=f"{spec.name}.{r.run.name}",
                              tests=str(len(r.verdicts)), failures=str(sum(not v.passed for v in r.verdicts)),
                              errors="0", skipped="0", time=f"{r.seconds:.3f}")
        for v in r.verdicts:
            tests += 1
            case = ET.SubElement(suite, "testcase", classname=f"{spec.name}.{r.run.name}", name=v.name,
                                 time="0")
            if not v.passed:
                failures += 1
                body = [v.detail]
                if v.frames:
                    body.append("frames: " + ", ".join(map(str, v.frames)))
                body += [f"call: {_call(c)}" for c in v.calls]
                if v.name in r.figures:
                    body.append(f"ladder: {r.figures[v.name]}")
                if r.capture:
                    body.append(f"capture: {r.capture}")
                fail = ET.SubElement(case, "failure", message=v.detail, type="expectation")
                fail.text = "\n".join(body)
        out = ET.SubElement(suite, "system-out")
        out.text = f"capture: {r.capture}" if r.capture else f"not run: {r.error}"
    root.set("tests", str(tests))
    root.set("failures", str(failures))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_text(path: str, text: str) -> None:
    from viz.errors import SynackError

    try:
        d = os.path.dirname(os.path.abspath(path))
        os.makedirs(d, exist_ok=True)
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise SynackError(f"{path}: cannot write: {exc.strerror}") from None


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, default=str) + "\n"

