"""The user's programs as the user wrote them: who runs them, what they print, why they failed.

Checked before any host exists, so a typo costs nothing: the command must
resolve to a file, the script it names must exist, and the user the programs
run as (never root unless asked) must be able to run that interpreter and
read that script.  Python is probed by really starting the interpreter as
that user (a pyenv shim in root's home is a shell script the user cannot
read; a venv's python may still start), anything else by access(2) as that
user.

Output goes through pipes into bounded buffers (the first and last
OUTPUT_KEEP bytes), so a program that prints megabytes costs neither memory
nor disk.  A traceback is shown as the program printed it, minus the frames
of synack's socket recorder, with a hint where the cause is a known one.
"""
from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Sequence

from viz.errors import SynackError

OUTPUT_KEEP = 64 * 1024
NOBODY = 65534
RECORDER = os.sep + "callrec" + os.sep + "sitecustomize.py"


@dataclass(frozen=True)
class RunAs:
    """The user the programs run as; uid None: as synack itself (root, or a user namespace)."""

    uid: int | None
    gid: int | None
    name: str
    why: str
    home: str | None = None  # behind sudo: the invoking user's own HOME and login PATH
    path: str | None = None
    login: str = ""  # USER and LOGNAME of the programs, when not `name`

    def cannot(self, what: str, path: str) -> str:
        return f"{self.name} (uid {self.uid}), who runs the programs, cannot {what} {path}"


def run_as(name: str | None = None) -> RunAs:
    """`--run-as USER|root`, else the invoking user behind sudo, else nobody: never root by default.
    Inside an unprivileged user namespace root already is the invoking user, so nothing is dropped."""
    from tracer.userns import inside

    if inside():
        if name not in (None, "root", "0"):
            raise SynackError(f"--run-as {name}: synack runs in a user namespace of its own (no sudo), "
                              "where the programs can only run as you")
        return RunAs(None, None, "you", "synack runs unprivileged in a user namespace")
    if name is not None:
        if name == "root" or name == "0":
            return RunAs(None, None, "root", "--run-as root")
        try:
            pw = pwd.getpwnam(name) if not name.isdigit() else pwd.getpwuid(int(name))
        except KeyError:
            raise SynackError(f"--run-as {name}: no such user") from None
        return RunAs(pw.pw_uid, pw.pw_gid, pw.pw_name, f"--run-as {name}")
    uid, gid = os.environ.get("SUDO_UID"), os.environ.get("SUDO_GID")
    if uid and gid and uid != "0":
        user = os.environ.get("SUDO_USER") or uid
        try:
            pw = pwd.getpwuid(int(uid))
        except KeyError:
            return RunAs(int(uid), int(gid), user, "the user behind sudo")
        home = pw.pw_dir if os.path.isdir(pw.pw_dir) else None
        return RunAs(int(uid), int(gid), user, "the user behind sudo", home,
                     login_path(int(uid), int(gid), pw.pw_name, home, pw.pw_shell))
    return RunAs(NOBODY, NOBODY, "nobody", "programs never run as root unless --run-as root")


MARK = "__synack_path__="


def login_path(uid: int, gid: int, name: str, home: str | None, shell: str) -> str | None:
    """The PATH the user behind sudo has in a login shell (sudo replaced it with its
    secure_path): their ~/.local/bin, a pyenv's shims, /usr/local/bin ... so `python3` in a
    command is the one they meant.  Only absolute folders that exist and that no one else
    may write to (safe: root's trace runs what it finds there, as that user); None if the
    shell does not answer within 5 s."""
    if not home or not shell or not os.access(shell, os.X_OK) or shell.endswith(("nologin", "false")):
        return None
    env = {"HOME": home, "USER": name, "LOGNAME": name, "SHELL": shell, "LANG": "C.UTF-8",
           "PATH": "/usr/local/bin:/usr/bin:/bin"}
    try:
        proc = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--init-groups", "--", shell,
                               "-l", "-c", f'printf "\n{MARK}%s\n" "$PATH"'], env=env, cwd=home,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = [x[len(MARK):] for x in proc.stdout.splitlines() if x.startswith(MARK)]
    if proc.returncode != 0 or not found:
        return None
    keep = []
    for d in found[-1].split(os.pathsep):
        try:
            st = os.stat(d)
        except OSError:
            continue
        if os.path.isabs(d) and os.path.isdir(d) and not st.st_mode & 0o002 and st.st_uid in (0, uid) \
                and d not in keep:
            keep.append(d)
    return os.pathsep.join(keep) or None


def own_uid(uid: int) -> RunAs:
    """nobody's rights under a uid of this trace's own (tracer.uids)."""
    return RunAs(uid, uid, "synack's unprivileged user", "one uid per trace, never root unless --run-as root",
                 login="synack")


KEPT_ENV = ("PATH", "LANG", "LANGUAGE", "TERM", "TZ", "PYTHONPATH")


def program_env(environ: dict[str, str] | os._Environ, who: RunAs) -> dict[str, str]:
    """Only what a program needs: PATH, HOME, the locale, the terminal, the time zone, PYTHONPATH
    (its own modules) and, added by the caller, the documented SYNACK_* variables.  Nothing of
    the tracer's own environment (sudo's variables, tokens, SSH agents) reaches the programs."""
    env = {k: v for k, v in environ.items() if k in KEPT_ENV or k.startswith("LC_")}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    if who.path:
        env["PATH"] = who.path
    if who.uid is not None:
        env.update(HOME=who.home or "/", USER=who.login or who.name, LOGNAME=who.login or who.name)
    else:
        for k in ("HOME", "USER", "LOGNAME"):
            if k in environ:
                env[k] = environ[k]
    return env


PRIVATE_TMP = "/tmp"
MAX_KEPT = 7  # descriptors 3-9 hold them while the tmpfs goes on (a POSIX shell's single digits)


def visible_tmp(paths: Sequence[str]) -> tuple[str, ...] | None:
    """What a program may still see under its private /tmp: the given files and folders
    that lie there (a script's whole folder, for its sibling modules), minus those inside
    another.  None (no private /tmp) when there are too many to hold."""
    wanted: list[str] = []
    for p in paths:
        if not p or not os.path.isabs(p):
            continue
        p = os.path.normpath(p)
        if not p.startswith(PRIVATE_TMP + os.sep) or not (os.path.isfile(p) or os.path.isdir(p)):
            continue  # nor a socket, FIFO or device named on the command line: only files are shown
        if os.path.isfile(p) and not os.path.basename(os.path.dirname(p)).startswith("synack-run-"):
            p = os.path.dirname(p)  # a user's script or binary: its folder comes along
        if p == PRIVATE_TMP:
            return None  # the program works in /tmp itself: nothing to hide it from
        wanted.append(p)
    kept = sorted(set(wanted))
    kept = [p for p in kept if not any(p != q and p.startswith(q + os.sep) for q in kept)]
    return tuple(kept) if len(kept) <= MAX_KEPT else None


def is_python(path: str) -> bool:
    return path == sys.executable or re.fullmatch(r"python[\d.]*", os.path.basename(path)) is not None


def script_of(argv: Sequence[str]) -> str | None:
    """The script a Python command line runs (`python3 -u srv.py` -> srv.py), if any."""
    i = 1
    while i < len(argv):
        a = argv[i]
        if a in ("-c", "-m") or a.startswith(("-c", "-m")) or a == "-":
            return None
        if a in ("-W", "-X", "--check-hash-based-pycs"):
            i += 2
            continue
        if not a.startswith("-"):
            return a
        i += 1
    return None


def resolve(role: str, argv: list[str], cwd: str | None, path_env: str | None) -> list[str]:
    """argv with its program as an absolute path; a one-line error if there is none."""
    prog = argv[0]
    if os.sep in prog:
        full = os.path.join(cwd or os.getcwd(), prog)
        if not os.path.exists(full):
            raise SynackError(f"--{role}: {prog}: no such file")
        if os.path.isdir(full) or not os.access(full, os.X_OK):
            raise SynackError(f"--{role}: {prog}: not an executable file")
    else:
        found = shutil.which(prog, path=path_env)
        if found is None:
            raise SynackError(f"--{role}: {prog}: command not found on PATH")
        full = found
    out = [full, *argv[1:]]
    if is_python(full):
        script = script_of(out)
        if script is not None and not os.path.isfile(os.path.join(cwd or os.getcwd(), script)):
            raise SynackError(f"--{role}: {script}: no such file (the script of {shlex.join(argv)}, "
                              f"looked in {cwd or os.getcwd()})")
    return out


def check_runnable(role: str, argv: list[str], who: RunAs, cwd: str | None) -> None:
    """Can `who` start argv[0] and read its script?  One line naming the path if not."""
    if who.uid is None:
        return
    prefix = ["setpriv", f"--reuid={who.uid}", f"--regid={who.gid}", "--clear-groups", "--"]
    script = script_of(argv) if is_python(argv[0]) else None
    if is_python(argv[0]):
        probe = prefix + [argv[0], "-I", "-S", "-c",
                          "import os,sys; sys.exit(0 if sys.argv[1] == '' or os.access(sys.argv[1], os.R_OK) "
                          "else 3)", script or ""]
    else:
        probe = prefix + ["/bin/sh", "-c", 'test -x "$0"', argv[0]]
    try:
        proc = subprocess.run(probe, cwd=cwd, capture_output=True, text=True, timeout=30,
                              env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SynackError(f"--{role}: cannot check {argv[0]} as {who.name}: {exc}") from None
    if proc.returncode == 0:
        return
    fix = (f"use --run-as root, or a program {who.name} can run, e.g. "
           f"--{role} '{_suggest(argv[0])}{' ' + shlex.join(argv[1:]) if argv[1:] else ''}'")
    if proc.returncode == 3:
        path = os.path.join(cwd or "", script or "")
        raise SynackError(f"--{role}: " + who.cannot("read", path) + f"{_private_part(path)}: make it "
                          f"readable (chmod a+r, a+x on its folders) or use --run-as root")
    raise SynackError(f"--{role}: " + who.cannot("run", argv[0]) + f"{_private_part(argv[0])}: {fix}")


def _suggest(prog: str) -> str:
    name = os.path.basename(prog)
    for d in ("/usr/local/bin", "/usr/bin", "/bin"):
        cand = os.path.join(d, name if not is_python(prog) else "python3")
        if os.access(cand, os.X_OK) and os.stat(cand).st_mode & 0o001:
            return cand
    return "/usr/bin/" + name


def _private_part(path: str) -> str:
    """' (under /root, mode 0700)' for the first folder others cannot enter."""
    d = os.path.dirname(os.path.abspath(path))
    parts = []
    while d not in ("/", ""):
        parts.append(d)
        d = os.path.dirname(d)
    for d in reversed(parts):
        try:
            mode = os.stat(d).st_mode & 0o777
        except OSError:
            continue
        if not mode & 0o001:
            return f" (it is under {d}, mode {mode:04o})"
    return ""


# --- output -----------------------------------------------------------------

class Sink:
    """Drains one pipe on a thread, keeping only the first and last OUTPUT_KEEP bytes."""

    def __init__(self, limit: int = OUTPUT_KEEP):
        self.limit = limit
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        r, w = os.pipe()
        self.fd_write = w
        self._r = r
        self._thread = threading.Thread(target=self._drain, daemon=True)

    def start(self) -> None:
        os.close(self.fd_write)
        self._thread.start()

    def _drain(self) -> None:
        try:
            while True:
                chunk = os.read(self._r, 65536)
                if not chunk:
                    break
                self.total += len(chunk)
                room = self.limit - len(self.head)
                if room > 0:
                    self.head += chunk[:room]
                    chunk = chunk[room:]
                if chunk:
                    self.tail += chunk
                    if len(self.tail) > self.limit:
                        del self.tail[:len(self.tail) - self.limit]
        except OSError:
            pass
        finally:
            os.close(self._r)

    def join(self, timeout: float = 1.0) -> None:
        self._thread.join(timeout)

    def text(self) -> str:
        skipped = self.total - len(self.head) - len(self.tail)
        middle = f"\n[... {skipped} bytes of output not kept ...]\n" if skipped > 0 else ""
        return (bytes(self.head).decode(errors="replace") + middle +
                bytes(self.tail).decode(errors="replace"))


# --- failures -----------------------------------------------------------------

def without_recorder(text: str) -> str:
    """A traceback as the program would have printed it: the recorder's frames removed.

    A frame is its `File "..."` line and the indented lines under it (source,
    ^^^ markers); the recorder's own lines name callrec/sitecustomize.py.
    """
    out: list[str] = []
    skipping = False
    for line in text.splitlines():
        if line.startswith('  File "'):
            skipping = RECORDER in line
            if skipping:
                continue
        elif skipping and line.startswith("    "):
            continue
        else:
            skipping = False
        out.append(line)
    return "\n".join(out)


def last_error(text: str) -> str:
    """The exception line of a traceback (`ConnectionRefusedError: [Errno 111] ...`), else the last line."""
    lines = [x for x in text.strip().splitlines() if x.strip()]
    for line in reversed(lines):
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b", line):
            return line.strip()
    return lines[-1].strip() if lines else ""


def hints(stderr: str, calls: list[dict], role: str, server_address: str, port: int | None,
          listening: str = "") -> list[str]:
    """Known causes, in a word each: a refused connection, a port in use."""
    out = []
    text = stderr.lower()
    mine = [c for c in calls if c.get("host") == role]
    if "connection refused" in text or "econnrefused" in text or any(
            "ECONNREFUSED" in c.get("error", "") or "ConnectionRefused" in c.get("error", "") for c in mine):
        where = f"; the server listens on {listening}" if listening else "; is the server listening on that port?"
        out.append(f"hint: the connection was refused: the server host is {server_address} (the name `server`), "
                   f"and localhost/127.0.0.1 reaches it, but nothing listened on the port the client used"
                   f"{where}")
    inet6 = "::" in stderr or any(c.get("call") == "socket" and "AF_INET6" in c.get("args", "") for c in mine)
    if ":" not in server_address and inet6 and any(
            x in text for x in ("cannot assign requested address", "network is unreachable",
                                "address family not supported")):
        out.append("hint: IPv6: the hosts have IPv6 addresses only with --ipv6 (2001:db8::1 and 2001:db8::2); "
                   "there ::1 and the name localhost reach the server host as 127.0.0.1 does here")
    if "address already in use" in text or "eaddrinuse" in text:
        out.append("hint: address already in use: another socket holds that port (a previous run's "
                   "connection in TIME_WAIT, or a second bind); set SO_REUSEADDR before bind(): "
                   "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)")
    return out


def failure_block(role: str, argv: Sequence[str], status: int | None, stderr: str,
                  extra: Sequence[str] = (), when: str = "") -> str:
    """`client python3 cli.py exited with status 1:` then its own output, indented, then hints."""
    head = f"{role} {shlex.join(argv)} exited with status {status}{when}"
    body = without_recorder(stderr).rstrip()
    lines = [head + (":" if body else "")]
    lines += ["  " + x for x in body.splitlines()[-60:]]
    lines += list(extra)
    return "\n".join(lines)
