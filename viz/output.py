"""Every file synack writes goes through here: captures, figures, JSON, builds.

synack often runs as root (namespaces need it), so `-o` is a path root
writes on the user's word.  The rules, in one place:

* only regular files are written: a device, FIFO, socket or directory at
  the path is refused (root would otherwise turn /dev/null into a file);
* the final component is never followed when it is a symlink (`-o
  /dev/stdout`, a link planted towards /etc/shadow): refused, nothing
  replaced through it;
* behind sudo (SUDO_UID set) a file the invoking user could not write, or a
  new file in a directory they could not write, is refused: sudo lends root
  for the namespaces, not for the filesystem;
* an existing file keeps its mode; a new one gets 0666 minus the umask;
* the bytes go to a temporary file in the same directory, renamed over the
  path only once complete, so a failure (damaged input, Ctrl-C, full disk)
  never damages what was there.
"""
from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from typing import Callable, Iterator

from viz.errors import SynackError

_KINDS = {stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device", stat.S_IFIFO: "a FIFO",
          stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a directory", stat.S_IFLNK: "a symbolic link"}


def _sudo_user() -> tuple[int, set[int]] | None:
    """(uid, gids) of the user behind sudo, or None when not behind sudo (or sudo to root)."""
    uid = os.environ.get("SUDO_UID")
    if not uid or not uid.isdigit() or int(uid) == 0 or os.geteuid() != 0:
        return None
    gids = set()
    gid = os.environ.get("SUDO_GID")
    if gid and gid.isdigit():
        gids.add(int(gid))
    try:
        import pwd

        pw = pwd.getpwuid(int(uid))
        gids.add(pw.pw_gid)
        gids.update(os.getgrouplist(pw.pw_name, pw.pw_gid))
    except (KeyError, OSError):
        pass
    return int(uid), gids


def _may_write(st: os.stat_result, who: tuple[int, set[int]], search: bool = False) -> bool:
    """Whether user `who` has write (and, for a directory, search) permission by mode bits."""
    uid, gids = who
    if st.st_uid == uid:
        bits = stat.S_IWUSR | (stat.S_IXUSR if search else 0)
    elif st.st_gid in gids:
        bits = stat.S_IWGRP | (stat.S_IXGRP if search else 0)
    else:
        bits = stat.S_IWOTH | (stat.S_IXOTH if search else 0)
    return st.st_mode & bits == bits


def check(path: str | os.PathLike, *, make_dirs: bool = False) -> str:
    """Refuse, before any work, a path that may not be written; return it absolute.

    Checked again just before the rename (the path may change meanwhile).
    """
    path = os.path.abspath(os.fspath(path))
    directory = os.path.dirname(path)
    if make_dirs and not os.path.isdir(directory):
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:
            raise SynackError(f"cannot write output {path}: {exc.strerror or exc}") from None
    try:
        dst = os.stat(directory)
    except FileNotFoundError:
        raise SynackError(f"cannot write output {path}: directory {directory} does not exist") from None
    except OSError as exc:
        raise SynackError(f"cannot write output {path}: directory {directory}: "
                          f"{exc.strerror or exc}") from None
    if not stat.S_ISDIR(dst.st_mode):
        raise SynackError(f"cannot write output {path}: {directory} is not a directory")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise SynackError(f"cannot write output {path}: {exc.strerror or exc}") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
        raise SynackError(f"refusing to write output {path}: it is {kind} (synack writes regular files only"
                          f"{'; give the target path itself' if stat.S_ISLNK(st.st_mode) else ''})")
    who = _sudo_user()
    if who is not None:
        if st is not None and not _may_write(st, who):
            raise SynackError(f"refusing to write output {path}: the invoking user (uid {who[0]}, behind "
                              "sudo) may not write this file")
        if st is None and not _may_write(dst, who, search=True):
            raise SynackError(f"refusing to write output {path}: the invoking user (uid {who[0]}, behind "
                              f"sudo) may not create files in {directory}")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise SynackError(f"cannot write output {path}: directory {directory} is not writable")
    if st is not None and not os.access(path, os.W_OK):
        raise SynackError(f"cannot write output {path}: permission denied")
    return path


def start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (clock ticks since boot), or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def owner(pid: int | None = None) -> str:
    """PID-START of this process (or `pid`): temporary resources (namespaces, run
    directories, spools) carry it in their names, so what a killed process left can
    be told from what a live one uses, even once the pid is recycled (tracer.leftovers)."""
    pid = os.getpid() if pid is None else pid
    return f"{pid}-{start_time(pid) or 0}"


def _mode_for(st: os.stat_result | None) -> int:
    if st is not None:
        return stat.S_IMODE(st.st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def temporary(path: str | os.PathLike) -> Iterator[str]:
    """A temporary path next to `path`; renamed over `path` when the block ends
    normally, removed otherwise.  Writers that want a file name (matplotlib)
    use it; `open_atomic` is the file-object form."""
    path = check(path)
    directory, base = os.path.split(path)
    _reclaim_temporaries(directory, base)
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.{owner()}.", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        yield tmp
        commit(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _reclaim_temporaries(directory: str, base: str) -> None:
    """Remove `path`'s temporary files left by writers that were killed (SIGKILL):
    their names carry the writer's pid and start time."""
    prefix = f".{base}."
    try:
        names = [n for n in os.listdir(directory) if n.startswith(prefix) and n.endswith(".tmp")]
    except OSError:
        return
    for name in names:
        pid, _, rest = name[len(prefix):].partition("-")
        start = rest.partition(".")[0]
        if not (pid.isdigit() and start.isdigit()):
            continue
        now = start_time(int(pid))
        if now is None or now != int(start):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(directory, name))


def commit(tmp: str, path: str) -> None:
    """Rename the finished `tmp` over `path` with the rules above, re-checked now."""
    path = check(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    os.chmod(tmp, _mode_for(st))
    if st is not None and os.geteuid() == 0 and (st.st_uid, st.st_gid) != (0, 0):
        with contextlib.suppress(OSError):
            os.chown(tmp, st.st_uid, st.st_gid)
    else:
        who = _sudo_user()
        if st is None and who is not None:
            # A new file behind sudo belongs to the user who asked for it.
            gid = os.environ.get("SUDO_GID", "")
            with contextlib.suppress(OSError):
                os.chown(tmp, who[0], int(gid) if gid.isdigit() else -1)
    try:
        os.replace(tmp, path)
    except OSError as exc:
        raise SynackError(f"cannot write output {path}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def open_atomic(path: str | os.PathLike, mode: str = "wb", **kwargs) -> Iterator:
    """`open()` of a temporary file that becomes `path` only if the block succeeds."""
    with temporary(path) as tmp:
        try:
            f = open(tmp, mode, **kwargs)
        except OSError as exc:
            raise SynackError(f"cannot write output {path}: {exc.strerror or exc}") from None
        with f:
            yield f
            f.flush()
            with contextlib.suppress(OSError):
                os.fsync(f.fileno())


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with open_atomic(path, "wb") as f:
        f.write(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    with open_atomic(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_with(path: str | os.PathLike, writer: Callable[[str], object]) -> None:
    """`writer(tmp)` writes the file under a temporary name; OSError becomes a one-line error."""
    try:
        with temporary(path) as tmp:
            writer(tmp)
    except OSError as exc:
        raise SynackError(f"cannot write output {path}: {exc.strerror or exc}") from None
