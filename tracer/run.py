"""The orchestrator: hosts, sniffer, server, client, capture file, cleanup.

`trace()` is the Python API behind `synack trace`.  The order is what makes
the capture complete: the sniffer socket is bound (and so queues every frame)
before the server starts; the client starts only once the server's `listen`
or `bind` has returned; the capture stops only after the last conversation
has closed and the socket is drained.  Every path out (success, program
error, timeout, Ctrl-C, SIGTERM) kills the programs and removes the hosts;
every path that got as far as capturing writes a valid file, marked
incomplete when the run did not finish normally.
"""
from __future__ import annotations

import dataclasses
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from tracer import faults as faultmod
from tracer import hosts as hostmod
from tracer import kstate as kstatemod
from tracer import localhost as lhmod
from tracer import pcapng
from tracer import programs as progmod
from tracer import scenarios as scenariomod
from tracer import signals
from tracer import strace as stracemod
from tracer import tcpprofile as tcpmod
from tracer import wire as wiremod
from tracer.calllog import CallLog as _CallLog
from tracer.hosts import Hosts
from viz.errors import SynackError

TOOL = "synack 0.1.0"
CALLREC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "callrec")
DEFAULT_TIMEOUT = 30.0
USER_PORT = 10000
LINGER = 2.0  # after the client exits, how long the conversations may take to close


@dataclass(frozen=True)
class Programs:
    """A user's own server/client pair (`--server CMD --client CMD`)."""

    client: Sequence[str] | str
    server: Sequence[str] | str | None = None
    name: str = "user"

    def argv(self, which: str) -> list[str] | None:
        cmd = self.server if which == "server" else self.client
        if cmd is None or cmd == "":
            return None
        return shlex.split(cmd) if isinstance(cmd, str) else list(cmd)


@dataclass(frozen=True)
class PointResult:
    point: str
    path: str
    frames: int
    kernel_drops: int
    summary: dict[str, Any]
    incomplete_reason: str | None = None  # as written in its metadata


@dataclass(frozen=True)
class TraceResult:
    paths: tuple[str, ...]
    frames: int
    conversations: int
    handshake: bool
    data: bool
    teardown: bool
    drops: int
    complete: bool
    incomplete_reason: str | None
    points: tuple[PointResult, ...] = ()
    calls: int = 0
    calls_dropped: int = 0  # call records refused (invalid, or past the log size cap)
    unrecorded: tuple[str, ...] = ()  # programs that ran but recorded no call (not Python)
    client_status: int | None = None
    server_status: int | None = None
    client_output: str = ""
    seconds: float = 0.0
    notes: tuple[str, ...] = ()  # what synack did that the programs did not ask for (redirects, found port)
    failures: tuple[str, ...] = ()  # a failed program's status and own traceback, multi-line

    @property
    def path(self) -> str:
        return self.paths[0]


Terminated = signals.Interrupted  # SIGTERM and SIGHUP are handled like Ctrl-C (tracer.signals)


def output_paths(out: str, at: str, routed: bool = False) -> dict[str, str]:
    """Capture point -> file.  `--at both`: NAME.client.pcapng and NAME.server.pcapng;
    `--topology routed` (always both links): NAME.client-link.pcapng and NAME.server-link.pcapng."""
    if at != "both":
        return {at: out}
    base = out[: -len(".pcapng")] if out.endswith(".pcapng") else out
    link = "-link" if routed else ""
    return {"client": f"{base}.client{link}.pcapng", "server": f"{base}.server{link}.pcapng"}


class _Program:
    """One program running inside a host, in its own session (killed as a group).

    Its stdout and stderr go through pipes into bounded buffers (programs.Sink):
    a program printing megabytes costs neither memory nor disk."""

    def __init__(self, role: str, argv: list[str], hosts: Hosts, env: dict[str, str],
                 workdir: str, cwd: str | None, uid: int | None, gid: int | None,
                 strace_log: str | None = None, private_tmp: bool = False, call_fd: int | None = None):
        self.role = role
        self.argv = argv
        self.strace_log = strace_log
        self.out, self.err = progmod.Sink(), progmod.Sink()
        if strace_log:  # made now, so a private /tmp shows it (strace writes it through that mount)
            os.close(os.open(strace_log, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
        keep = progmod.visible_tmp([os.path.join(workdir, "callrec"), strace_log or "", cwd or "", *argv]
                                   ) if private_tmp else None
        try:
            self.proc = subprocess.Popen(
                hosts.command(role, argv, uid, gid, keep,
                              stracemod.wrap([], strace_log) if strace_log else ()),  # as root: not its to write
                env=env, cwd=cwd,
                stdin=subprocess.DEVNULL, stdout=self.out.fd_write, stderr=self.err.fd_write,
                start_new_session=True, pass_fds=() if call_fd is None else (call_fd,))
        except OSError as exc:
            for s in (self.out, self.err):
                os.close(s.fd_write)
            raise SynackError(f"cannot start the {role} program {shlex.join(argv)}: {exc}") from None
        self.out.start()
        self.err.start()
        self.killed = False

    def poll(self) -> int | None:
        return self.proc.poll()

    def stop(self, grace: float = 1.0) -> int | None:
        """SIGTERM the process group, SIGKILL after `grace`, reap.

        The program is pid 1 of its PID namespace (Hosts.command), and pid 1 is
        immune to signals it does not handle: one that does not catch SIGTERM
        would have died of it, so it gets SIGKILL at once, the same end."""
        if self.proc.poll() is None:
            self.killed = True
            self._signal(signal.SIGTERM)
            if not self._catches(signal.SIGTERM):
                self._signal(signal.SIGKILL)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        self._signal(signal.SIGKILL)  # stray children of a forking server
        try:
            status = self.proc.wait(5)
        except subprocess.TimeoutExpired:
            return None
        self._gone(2.0)
        return status

    def _gone(self, wait: float) -> None:
        """Until the last of the group has died: SIGKILL reaches the program (pid 1 of its
        namespace, orphaned when `unshare` was killed) a moment after `unshare` is reaped,
        and the trace must not end while it still runs."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.005)

    def _catches(self, sig: int) -> bool:
        """Whether the program (the child of `unshare --fork`) has a handler for `sig`."""
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                kids = f.read().split()
            for kid in kids:
                with open(f"/proc/{kid}/status") as f:
                    for line in f:
                        if line.startswith("SigCgt:"):
                            return bool(int(line.split()[1], 16) & (1 << (sig - 1)))
        except (OSError, ValueError):
            pass
        return False

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stderr(self) -> str:
        self.err.join(0.5)
        return self.err.text()

    def stdout(self) -> str:
        self.out.join(0.5)
        return self.out.text()

    def failure(self, status: int | None, extra: Sequence[str] = (), when: str = "") -> str:
        """Its exit status and its own traceback, multi-line, without the recorder's frames."""
        return progmod.failure_block(self.role, self.argv, status, self.stderr(), extra, when)


def _listening(pid: int, netns_ino: int) -> bool:
    """Whether the process's namespace has a listening TCP or bound UDP socket.

    The fallback readiness signal for programs that record no calls (not
    Python): the namespace is fresh, so any such socket is the server's.
    The pid is checked to be inside the server namespace already, since
    `ip netns exec` starts outside it.
    """
    try:
        if os.stat(f"/proc/{pid}/ns/net").st_ino != netns_ino:
            return False
    except OSError:
        return False
    return bool(lhmod.listeners(pid))


def _wait_ready(server: _Program, log: _CallLog, ready: str | None, netns_ino: int,
                deadline: float, port: int | None = None, server_address: str = "") -> None:
    checks = 0
    while True:
        if ready:
            for rec in log.new():
                if rec.get("call") == ready and rec.get("phase") == "return" and not rec.get("error"):
                    return
        if checks % 5 == 0 and _listening(server.proc.pid, netns_ino):
            return
        checks += 1
        status = server.poll()
        if status is not None:
            from tracer import calllog

            calls = calllog.read_all([log.path])[0]
            extra = progmod.hints(server.stderr(), calls, "server", server_address, port)
            raise SynackError(server.failure(status, extra, " before it was ready"))
        if time.monotonic() > deadline:
            what = f"waited for its {ready}() call" if ready else "waited for a listening/bound socket"
            waited = f" on port {port}" if port is not None else ""
            raise SynackError(
                f"server {shlex.join(server.argv)} was not ready within the timeout: it never listened"
                f"{waited} ({what}); a server must bind() and listen() (TCP) or bind() (UDP) "
                "before the client starts" + _indented(server.stderr()))
        time.sleep(0.002)


def _indented(text: str) -> str:
    body = progmod.without_recorder(text).rstrip()
    return ("\n" + "\n".join("  " + x for x in body.splitlines()[-60:])) if body else ""


def _read_calls(paths: dict[str, str], strace_logs: dict[str, str] | None = None) -> tuple[list[dict[str, Any]], int]:
    """Every valid recorded call in time order, and how many records were dropped
    (tracer.calllog: the logs are the programs' to write).  A host's strace log is
    used only when its Python recorder saw nothing (`sh -c 'python3 srv.py'` is
    recorded by both, and the socket module's records say more: sendall,
    exception names)."""
    from tracer import calllog
    from viz.metadata import call_record

    calls, dropped = calllog.read_all(paths)
    for role, path in (strace_logs or {}).items():
        if any(c.get("host") == role for c in calls):
            continue
        try:
            with open(path, "rb") as f:
                text = f.read(calllog.MAX_LOG_BYTES).decode(errors="replace")
        except OSError:
            continue
        for rec in stracemod.parse(text, role):
            try:
                calls.append(call_record(rec))
            except ValueError:
                dropped += 1
    calls.sort(key=lambda c: (c["ts"], c.get("phase", "call") != "call"))
    return calls, dropped


def _detected_port(bound: list[Any], port: int, given: bool, notes: list[str]) -> int:
    """The port the server really listens on: found from its sockets when --port was not given."""
    if not bound:
        return port
    ports = sorted({b.port for b in bound}, key=lambda p: (not any(b.port == p and b.proto == "tcp"
                                                                   for b in bound), p))
    shown = ", ".join(b.text() for b in bound)
    if given:
        if port not in ports:
            notes.append(f"warning: the server listens on {shown}, not on --port {port}")
        return port
    notes.append(f"server listens on {shown}: port {ports[0]} found from its sockets (no --port given)")
    return ports[0]


def _failed(prog: _Program, status: int | None, failures: list[str], hosts: Hosts, port: int,
            bound: list[Any]) -> str:
    """One line for the capture's incomplete_reason; the full story (traceback, hints) in failures."""
    err = prog.stderr()
    listening = ", ".join(b.text() for b in bound)
    extra = progmod.hints(err, [], prog.role, hosts.server_address, port, listening)
    failures.append(prog.failure(status, extra))
    last = progmod.last_error(progmod.without_recorder(err))
    return f"{prog.role} exited with status {status}" + (f" ({last})" if last else "")


def _is_python(argv: Sequence[str]) -> bool:
    return progmod.is_python(argv[0])


def _call_channel(path: str) -> tuple[int, str]:
    """The call log of one program: a root-only file, opened here and passed to the program
    already open (SYNACK_CALLS=fd:N:DEV:INO, checked by the recorder), so a program can write
    its own records and no other trace's or program's.  High N: the program's own descriptors
    keep the numbers they would have, and the private-/tmp script's 3-9 are left alone."""
    import fcntl

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 900)
    finally:
        os.close(fd)
    st = os.fstat(high)
    return high, f"fd:{high}:{st.st_dev}:{st.st_ino}"


def _programs_user(run_as: str | None) -> tuple[progmod.RunAs, Any]:
    """Who runs the programs, and the uid lease that keeps it this trace's own: where they
    would run as nobody, a uid no concurrent trace holds (tracer.uids), held until the end."""
    who = progmod.run_as(run_as)
    if run_as is not None or who.uid != progmod.NOBODY:
        return who, None
    from tracer import uids

    lease = uids.lease()
    return progmod.own_uid(lease.uid), lease


def _stage(src: str, dst: str) -> str:
    """Copy a program file (or the recorder's folder) into the run directory.

    The programs run as nobody, who cannot read a checkout or venv under a
    private directory (a 0700 mktemp clone, /root); the run directory is
    world-traversable, so the copies are readable wherever synack is installed.
    """
    if os.path.isdir(src):
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        os.chmod(dst, 0o755)
        for name in os.listdir(dst):
            os.chmod(os.path.join(dst, name), 0o644)
    else:
        shutil.copyfile(src, dst)
        os.chmod(dst, 0o644)
    return dst


@signals.guarded
def trace(scenario_or_programs: Any = None, opts: Any = None, out: str | None = None, *,
          at: str = "client", net: str = "veth", timeout: float = DEFAULT_TIMEOUT,
          command: str | None = None, on_hosts: Any = None, on_ready: Any = None, on_finish: Any = None,
          faults: Any = None, topology: str = "direct", wire: Any = None,
          run_as: str | None = None, private_tmp: bool = True, tcp: Any = None,
          kstate: bool = True) -> TraceResult:
    """Run a scenario (or a user's Programs) in fresh hosts and write its capture(s).

    Raises SynackError for bad input and for a server that never became ready;
    a client that hangs is killed at `timeout` and the capture is kept, marked
    incomplete.  KeyboardInterrupt (Ctrl-C, SIGTERM) writes what was seen and
    re-raises.  `on_hosts(hosts)` runs once the hosts exist, before any program
    starts (a check's buffer sizes, which a socket takes when it is made).  `on_ready(hosts)` runs once the server is ready, before the
    client starts; `on_finish(hosts)` after the capture stopped, before the
    hosts are removed (benchmarks attach tcpdump and read link counters there).
    `run_as`: the user the programs run as (a name, or "root"); default the
    user behind sudo, else nobody.  `private_tmp`: each program sees a fresh /tmp holding only
    its own files (its script's folder, its call log), no other trace's (False: the machine's /tmp,
    `--shared-tmp`, for programs that leave files in /tmp for you).
    `tcp`: a tracer.tcpprofile.TcpProfile (--cc, --tcp textbook) written into the hosts.
    `kstate`: sample the kernel's TCP state of the connections (tracer.kstate) into the capture.
    """
    started = time.monotonic()
    deadline = started + timeout
    if isinstance(scenario_or_programs, str) or scenario_or_programs is None:
        scenario_or_programs = scenariomod.get(scenario_or_programs or scenariomod.DEFAULT)
    opts = opts or scenariomod.Options()
    if at not in ("client", "server", "both"):
        raise SynackError(f"--at: unknown capture point {at!r} (choose client, server or both)")
    if net not in ("veth", "loopback"):
        raise SynackError(f"--net: unknown network {net!r} (choose veth or loopback)")
    if timeout <= 0:
        raise SynackError("--timeout must be positive")
    user = isinstance(scenario_or_programs, Programs)
    if user:
        name = scenario_or_programs.name
        script = None
        server_argv = scenario_or_programs.argv("server")
        client_argv = scenario_or_programs.argv("client")
        if not client_argv:
            raise SynackError("--client: a client command is needed")
        port_given = opts.port is not None
        port = opts.port if port_given else USER_PORT
        opts = dataclasses.replace(opts, port=port)
        env_extra = {
            "SYNACK_SERVER_PORT": str(port),
            "SYNACK_CLIENT_PORT": "" if opts.client_port is None else str(opts.client_port),
            "SYNACK_MESSAGE": opts.message, "SYNACK_CLIENTS": str(opts.clients),
            "SYNACK_BYTES": str(opts.bytes), "SYNACK_IPV6": "1" if opts.ipv6 else "0",
        }
        ready = "listen" if server_argv else None
        ready_any = True
        cwd = os.getcwd()
    else:
        sc = scenario_or_programs
        name = sc.name
        opts = dataclasses.replace(opts, port=sc.port(opts))
        port = opts.port
        server_argv, client_argv = sc.server_argv(opts), sc.client_argv(opts)
        script = sc.path
        env_extra = sc.env(opts)
        ready = sc.ready
        ready_any = True
        cwd = None
        faults = faultmod.merge(faultmod.preset(sc), faults)
        tcp = tcpmod.merge(tcpmod.preset(sc), tcp)
        wire = wire if wire is not None else wiremod.preset(sc)
    if faults and net != "veth":
        raise SynackError("--drop/--loss/--rto-min need two hosts (--net veth, the default)")
    if net == "loopback":
        at = "lo"
    network = Hosts(net=net, ipv6=opts.ipv6, topology=topology, wire=wire)  # checks the options only
    if topology == "routed":
        at = "both"
    out = out or os.path.join("captures", f"{name}.pcapng")
    hostmod.require_root()
    paths = {p: pcapng.check_writable(f) for p, f in output_paths(out, at, topology == "routed").items()}

    from tracer import sniffer as sniffmod
    importer = sniffmod.preload()

    guard = signals.current()  # signals are held until the capture runs (tracer.signals)
    who, lease = _programs_user(run_as)
    uid, gid = who.uid, who.gid
    if user:  # before any namespace: a typo or an unusable interpreter costs nothing
        for role in ("server", "client"):
            argv = server_argv if role == "server" else client_argv
            if argv:
                argv = progmod.resolve(role, argv, cwd, who.path or os.environ.get("PATH"))
                progmod.check_runnable(role, argv, who, cwd)
                if role == "server":
                    server_argv = argv
                else:
                    client_argv = argv
    notes: list[str] = []
    failures: list[str] = []
    redirected: list[Any] = []
    redirect: dict[str, Any] = {}
    bound: list[Any] = []
    from viz.output import owner
    workdir = tempfile.mkdtemp(prefix=f"synack-run-{owner()}-")  # reclaimable after SIGKILL (tracer.leftovers)
    os.chmod(workdir, 0o711)
    call_files = {r: os.path.join(workdir, f"{r}.jsonl") for r in ("server", "client")}
    # Programs that are not Python never meet the socket-module recorder: strace records them.
    strace_logs = {}
    for role, argv in (("server", server_argv), ("client", client_argv)):
        if argv and not _is_python(argv) and stracemod.available():
            strace_logs[role] = os.path.join(workdir, f"{role}.strace")  # strace writes it as root
    callrec = _stage(CALLREC, os.path.join(workdir, "callrec"))
    if script:
        staged = _stage(script, os.path.join(workdir, os.path.basename(script)))
        server_argv = server_argv and [staged if a == script else a for a in server_argv]
        client_argv = [staged if a == script else a for a in client_argv]

    call_fds = {r: _call_channel(p) for r, p in call_files.items()}  # closed in the `finally` below
    sniffers: dict[str, Any] = {}
    programs: list[_Program] = []
    sampler: Any = None
    kstate_meta: dict[str, Any] | None = None
    reason: str | None = None
    interrupted: BaseException | None = None
    server = client = None
    client_status = server_status = None
    try:
        with network as hosts:
            if kstate and hosts.net == "veth":
                sampler = kstatemod.Sampler(hosts, workdir)
                sampler.launch()  # ready while the faults, the TCP and the sniffers are set up
            faultmod.apply(faults, hosts)
            tcpmod.apply(tcp, hosts)
            if on_hosts:
                on_hosts(hosts)
            tcp_meta = (tcp or tcpmod.TcpProfile()).as_json(tcpmod.read_cc(hosts))
            if user:
                lhmod.prepare(hosts)
            base_env = progmod.program_env(os.environ, who)
            base_env.update(env_extra)
            base_env.update({
                "SYNACK_SERVER_HOST": hosts.server_address,
                "PYTHONPATH": callrec + (os.pathsep + os.environ["PYTHONPATH"]
                                         if os.environ.get("PYTHONPATH") else ""),
                "PYTHONUNBUFFERED": "1",
                "PYTHONDONTWRITEBYTECODE": "1",
            })

            def env_for(role: str) -> dict[str, str]:
                e = dict(base_env)
                e.update({"SYNACK_CALLS": call_fds[role][1], "SYNACK_HOST": role})
                return e

            importer.join()
            points = ["client", "server"] if at == "both" else [at]
            for point in points:
                pname, ns, iface = hosts.capture_point("client" if point == "lo" else point)
                s = sniffmod.Sniffer(ns, iface)
                sniffers[point] = s
                s.start()
            assert all(s.ready for s in sniffers.values())
            threading.Thread(target=_preload_matcher, daemon=True).start()
            try:
                guard.enter(guard.RUN)
                if server_argv:
                    with guard.held():
                        server = _Program("server", server_argv, hosts, env_for("server"), workdir, cwd, uid,
                                          gid, strace_logs.get("server"), private_tmp, call_fds["server"][0])
                        programs.append(server)
                    ino = os.stat(os.path.join(hostmod.NETNS_RUN_DIR, hosts.server.netns)).st_ino
                    _wait_ready(server, _CallLog(call_files["server"]), ready, ino, deadline,
                                port if user else None, hosts.server_address)
                    if user:
                        bound = lhmod.listeners(server.proc.pid)
                        port = _detected_port(bound, port, port_given, notes)
                        opts = dataclasses.replace(opts, port=port)
                        base_env["SYNACK_SERVER_PORT"] = str(port)
                        redirected = lhmod.redirect_server(hosts, bound)
                if on_ready:
                    on_ready(hosts)
                if sampler is not None:
                    sampler.wait_ready()  # started with the hosts: ready while the server started
                with guard.held():
                    client = _Program("client", client_argv, hosts, env_for("client"), workdir, cwd, uid, gid,
                                      strace_logs.get("client"), private_tmp, call_fds["client"][0])
                    programs.append(client)
                try:
                    client_status = client.proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    client.stop(0.2)
                    client_status = None
                    reason = f"client did not finish within the {timeout:g} s timeout (killed)"
                if reason is None and client_status != 0:
                    reason = _failed(client, client_status, failures, hosts, port, bound)
                linger = min(LINGER, max(0.0, deadline - time.monotonic()))
                for s in sniffers.values():
                    s.wait_closed(linger)
                if server is not None:
                    server_status = server.poll()
                    if server_status is not None and server_status != 0:
                        failed = _failed(server, server_status, failures, hosts, port, bound)
                        reason = reason or failed
                    if server_status is None and user:
                        notes.append("server stopped by synack once the client had finished and its "
                                     "connections had closed (a `while True` server runs until stopped)")
                    server.stop()
                    for s in sniffers.values():
                        s.wait_closed(min(0.5, max(0.0, deadline + 1 - time.monotonic())))
            except KeyboardInterrupt as exc:
                interrupted = exc
                reason = f"interrupted ({getattr(exc, 'name', 'Ctrl-C')})"
            finally:
                guard.enter(guard.FINISH)
                for p in programs:
                    p.stop(0.2)
                if sampler is not None:
                    sampler.signal_stop()  # it writes its samples while the sniffers drain
            for s in sniffers.values():
                s.stop(drain=True)
            if on_finish:
                on_finish(hosts)
            calls, calls_dropped = _read_calls(call_files, strace_logs)
            if sampler is not None:
                kstate_meta = sampler.stop()
                if kstate_meta and kstate_meta.get("note"):
                    notes.append(f"kernel TCP state: {kstate_meta['note']}")
            client_output = client.stdout() if client else ""
            redirect = lhmod.view(calls, hosts.server_address, redirected, by_name=hosts.ipv6) if user else {}
            results = []
            for point, s in sniffers.items():
                if guard.received and interrupted is None:  # noted while finishing: the file still comes
                    interrupted = guard.first
                    reason = f"interrupted ({interrupted.name}) after the programs ended"
                results.append(_write_point(point, s, paths[point], hosts, calls, name, opts,
                                            command, reason, sniffers, faults=faults, notes=notes,
                                            redirect=redirect, calls_dropped=calls_dropped,
                                            tcp=tcp_meta, kstate=kstate_meta))
            late = [r.incomplete_reason for r in results if (r.incomplete_reason or "").startswith("interrupted")]
            reason = reason or (late[0] if late else None)
            guard.enter(guard.CLEANUP)  # written: removing the hosts is never interrupted
    except KeyboardInterrupt as exc:
        # Interrupted before the capture started, or a second time while writing: nothing valid to keep.
        guard.enter(guard.CLEANUP)
        for p in programs:
            p.stop(0.1)
        raise exc
    finally:
        guard.enter(guard.CLEANUP)
        for s in sniffers.values():
            s.close()
        for p in programs:
            p.stop(0.1)
        if sampler is not None:
            sampler.kill()
        for fd, _ in call_fds.values():
            os.close(fd)
        shutil.rmtree(workdir, ignore_errors=True)
        if lease is not None:
            lease.release()
    first = results[0]
    result = TraceResult(
        paths=tuple(r.path for r in results),
        frames=first.frames,
        conversations=first.summary["conversations"],
        handshake=first.summary["handshake"],
        data=first.summary["data"],
        teardown=first.summary["teardown"],
        drops=sum(r.kernel_drops for r in results),
        complete=reason is None and all(r.kernel_drops == 0 for r in results),
        incomplete_reason=reason or (None if all(r.kernel_drops == 0 for r in results)
                                     else "the kernel dropped frames"),
        points=tuple(results),
        calls=len(calls),
        calls_dropped=calls_dropped,
        unrecorded=tuple(p.role for p in programs if not any(c.get("host") == p.role for c in calls)),
        client_status=client_status,
        server_status=server_status,
        client_output=client_output,
        seconds=time.monotonic() - started,
        notes=tuple(redirect.get("notes", []) + notes),
        failures=tuple(failures),
    )
    if interrupted is None and guard.received:  # arrived while the last file was written
        interrupted = guard.first
    if interrupted is not None:
        interrupted.result = result
        raise interrupted
    return result


def _write_point(point: str, s: Any, path: str, hosts: Hosts, calls: list[dict], name: str,
                 opts: Any, command: str | None, reason: str | None, sniffers: dict,
                 faults: Any = None, notes: Sequence[str] = (),
                 redirect: dict | None = None, calls_dropped: int = 0,
                 tcp: dict | None = None, kstate: dict | None = None) -> PointResult:
    host_meta, links = hosts.metadata(set(sniffers))
    if len(links) == 1:  # routed/wire networks mark their own links
        links[0]["captured"] = True
        links[0]["capture_points"] = sorted(sniffers)
    drops = s.kernel_drops
    incomplete = reason or ("the kernel dropped %d frames" % drops if drops else None)
    meta = {
        "schema": pcapng.SCHEMA,
        "tool": TOOL,
        "scenario": name,
        "command": command or f"synack trace {name}",
        "options": {k: v for k, v in dataclasses.asdict(opts).items()},
        "net": hosts.net,
        "capture_point": point,
        "capture_interface": s.iface,
        "complete": incomplete is None,
        "incomplete_reason": incomplete,
        "kernel_drops": drops,
        "kernel_packets": s.kernel_packets,
        "hosts": host_meta,
        "links": links,
        "calls": calls,
        "calls_dropped": calls_dropped,
        "dropped": [] if hosts.net != "veth" else faultmod.dropped_frames(
            s.frames, faults, hosts.client.address, hosts.server.address),
    }
    if faults:
        meta["faults"] = faults.as_json()
    if tcp:
        meta["tcp"] = tcp
    if kstate:
        meta["kstate"] = kstate
    if notes:
        meta["notes"] = list(notes)
    if redirect:  # the programs' own view, for figure captions (tracer.localhost)
        meta["localhost"] = redirect
    if getattr(hosts, "wire", None) is not None:
        meta["wire"] = {"spec": hosts.wire_spec.as_json(), "stats": hosts.wire.stop()}
    if getattr(hosts, "topology", "direct") != "direct":
        meta["topology"] = hosts.topology
    comments = attach_comments(s.frames, meta)
    late = signals.current().first
    if late is not None and meta["complete"]:  # arrived while the calls were matched: marked, still written
        meta["complete"] = False
        meta["incomplete_reason"] = f"interrupted ({late.name}) after the programs ended"
    iface_desc = f"{point}:{s.iface}" if point != "lo" else "lo"
    pcapng.write(path, s.frames, meta, [pcapng.CaptureInterface(s.iface, iface_desc)], comments,
                 application=TOOL)
    return PointResult(point, path, len(s.frames), drops, s.tracker.summary(), meta["incomplete_reason"])


# --- per-packet comments ------------------------------------------------------------

def _preload_matcher() -> None:
    """Import the call matcher while the programs run, not after."""
    try:
        import viz.analysis  # noqa: F401
        import viz.calls  # noqa: F401
    except Exception:  # noqa: BLE001 - reported where it is used
        pass


def attach_comments(frames: Sequence[tuple[int, bytes]],
                    meta: dict[str, Any]) -> dict[int, list[str]]:
    """Frame index -> comment lines, from viz.calls.attach (the same matcher the
    figures use, so a comment in Wireshark and an annotation on a ladder agree).

    If the matcher fails on these frames, the capture is still written, with
    the calls in its metadata but no per-packet comments.
    """
    if not meta.get("calls") or not frames:
        return {}
    try:
        from viz.analysis import Engine, packet_of
        from viz.calls import attach, comments_by_frame, parse_calls
        from viz.capture import RawFrame

        raw = (RawFrame(i + 1, ts / 1e9, pcapng.LINKTYPE_ETHERNET, data, len(data), 0, ())
               for i, (ts, data, *_) in enumerate(frames))
        packets = tuple(packet_of(row) for row in Engine(track_states=False).rows(raw))
        calls = attach(packets, parse_calls(meta, packets[0].ts if packets else None), meta)
        return {frame - 1: lines for frame, lines in comments_by_frame(calls).items()}
    except Exception as exc:  # noqa: BLE001 - a viz bug must not lose the capture
        print(f"synack: warning: socket-call matching failed ({type(exc).__name__}: {exc}); "
              "the capture has no per-packet comments", file=sys.stderr)
        return {}
