"""A uid of its own for each trace's programs, so concurrent traces cannot touch each other.

Programs that share a uid may signal, ptrace and write into each other's
files: two traces whose programs all ran as nobody could forge records into
the other's logs and kill the other's client.  Each trace (run as root, when
the programs would otherwise run as nobody) therefore leases one uid from
RANGE, a block in the gap systemd leaves between the container ranges
(up to 0x6FFFFFFF) and its foreign-image range (0x7FFE0000): no account,
no group membership, nothing on the system owned by it.  Permissions-wise
it is nobody: files readable by "others" are readable, nothing more.

The lease is an flock on LOCK_DIR/UID.lock held for the trace's life, so two
live traces never share a uid, and the kernel releases it when the trace
dies, SIGKILL included.  A uid that still owns a process (the programs of a
SIGKILLed trace not yet reclaimed by tracer.leftovers) is skipped.
"""
from __future__ import annotations

import errno
import fcntl
import os
import pwd
import random
from dataclasses import dataclass
from typing import IO

from viz.errors import SynackError

BASE = 0x7A000000
COUNT = 4096
RANGE = range(BASE, BASE + COUNT)
LOCK_DIR = "/run/synack/uids"


@dataclass
class Lease:
    """One uid, held until `release()` (or the process ends)."""

    uid: int
    _lock: IO[bytes] | None

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def _owns_a_process(uid: int) -> bool:
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.stat(f"/proc/{pid}").st_uid == uid:
                return True
        except OSError:
            pass
    return False


def _has_account(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def lease(lock_dir: str = LOCK_DIR, uids: range = RANGE) -> Lease:
    """A uid no other live trace holds.  Tried from a random place in the range, so
    concurrent traces rarely contend for the same lock."""
    try:
        os.makedirs(lock_dir, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise SynackError(f"cannot make {lock_dir} (the per-trace uid leases): {exc.strerror}") from None
    start = random.randrange(len(uids))
    for i in range(len(uids)):
        uid = uids[(start + i) % len(uids)]
        path = os.path.join(lock_dir, f"{uid}.lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        lock = os.fdopen(fd, "rb+", buffering=0)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            lock.close()
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                continue
            raise SynackError(f"cannot lock {path}: {exc.strerror}") from None
        if _has_account(uid) or _owns_a_process(uid):
            lock.close()
            continue
        return Lease(uid, lock)
    raise SynackError(f"all {len(uids)} per-trace uids ({uids.start}-{uids.stop - 1}) are in use by "
                      "running traces")
