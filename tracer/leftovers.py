"""What a trace killed with SIGKILL leaves behind, and taking it back.

SIGKILL cannot be handled, so every resource a trace makes carries its
owner: the namespaces (/run/netns/synack-PID-START-…), their /etc/netns
entries, the run directory (/tmp/synack-run-PID-START-…) and the standard
input spool (synack-stdin-PID-START-…), where START is the owner's start time
(/proc/PID/stat, clock ticks since boot), so a recycled pid is not mistaken
for the owner.  Veths and nft tables live inside the namespaces and go with
them; the programs are found by the namespace they are in, or by the run
directory in their environment, and killed.

`reclaim()` removes everything whose owner is gone.  Every command that
makes namespaces calls it first (tracer.hosts), and `synack cleanup` calls it
and lists what it removed.  Names of the older form (synack-PID-…, no start
time) are reclaimed when no process PID exists.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import signal
import subprocess
import tempfile

from viz.output import start_time

NETNS_RUN_DIR = "/run/netns"
NETNS_ETC_DIR = "/etc/netns"
_OWNED = re.compile(r"^synack-(?:run-|stdin-)?(\d+)-(\d+)-")
_LEGACY = re.compile(r"^synack-(\d+)-[0-9a-f]{6}(?:-|$)|^synack-run-(\d+)-\w{8}$")


def owner_of(name: str) -> tuple[int, int | None] | None:
    """(pid, start time or None for an old-style name) of a synack resource name."""
    m = _OWNED.match(name)
    if m:
        return int(m[1]), int(m[2])
    m = _LEGACY.match(name)
    if m:
        return int(m[1] or m[2]), None
    return None


def gone(name: str) -> bool:
    """Whether `name` is a synack resource whose owner no longer runs."""
    o = owner_of(name)
    if o is None:
        return False
    pid, start = o
    now = start_time(pid)
    if now is None:
        return True
    if start is None or now == start:
        return False
    # An old-style name whose random tag is all digits reads as PID-START too: its live owner keeps it.
    return _LEGACY.match(name) is None


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def _processes_in(inodes: set[int], run_dirs: set[str]) -> list[int]:
    """Processes inside one of these network namespaces, or started with one of these run directories."""
    me = os.getpid()
    found = []
    for entry in _listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino in inodes:
                found.append(int(entry))
                continue
            if run_dirs:
                seen = b""
                for part in ("environ", "cmdline"):  # a program's SYNACK_* variables; the sampler's argv
                    with open(f"/proc/{entry}/{part}", "rb") as f:
                        seen += f.read()
                if any(d.encode() in seen for d in run_dirs):
                    found.append(int(entry))
        except OSError:
            continue
    return found


def _remove_netns(name: str) -> None:
    path = os.path.join(NETNS_RUN_DIR, name)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.umount2(path.encode(), 2)  # MNT_DETACH; harmless if not mounted
    try:
        os.unlink(path)
    except OSError:
        subprocess.run(["ip", "netns", "del", name], stderr=subprocess.DEVNULL)


def reclaim(nft: bool = False) -> list[str]:
    """Remove every synack resource whose owner is gone; one description per thing removed."""
    netns = [n for n in _listdir(NETNS_RUN_DIR) if n.startswith("synack-") and gone(n)]
    etc = [n for n in _listdir(NETNS_ETC_DIR) if n.startswith("synack-") and gone(n)]
    tmp = tempfile.gettempdir()
    runs = [n for n in _listdir(tmp) if n.startswith(("synack-run-", "synack-stdin-")) and gone(n)]
    tables = _stale_tables() if nft else []
    if not (netns or etc or runs or tables):
        return []
    removed = []
    inodes = set()
    for n in netns:
        with contextlib.suppress(OSError):
            inodes.add(os.stat(os.path.join(NETNS_RUN_DIR, n)).st_ino)
    run_dirs = {os.path.join(tmp, n) for n in runs if n.startswith("synack-run-")}
    for pid in _processes_in(inodes, run_dirs):
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            os.kill(pid, signal.SIGKILL)
            removed.append(f"process {pid} ({cmd[:80]})")
    for n in netns:
        _remove_netns(n)
        removed.append(f"network namespace {n}")
    for n in etc:
        shutil.rmtree(os.path.join(NETNS_ETC_DIR, n), ignore_errors=True)
        removed.append(f"{NETNS_ETC_DIR}/{n}")
    for n in runs:
        path = os.path.join(tmp, n)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(path)
        removed.append(path)
    for family, name in tables:
        subprocess.run(["nft", "delete", "table", family, name], stderr=subprocess.DEVNULL)
        removed.append(f"nft table {family} {name}")
    return removed


def _stale_tables() -> list[tuple[str, str]]:
    """nft tables of the root namespace named like a synack resource of a gone owner
    (synack's own fault tables live inside the hosts' namespaces)."""
    if not shutil.which("nft"):
        return []
    out = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    tables = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "table" and parts[2].startswith("synack-") and gone(parts[2]):
            tables.append((parts[1], parts[2]))
    return tables


def reclaim_quietly() -> None:
    """`reclaim()` before making namespaces: one note on stderr if anything was removed."""
    try:
        removed = reclaim()
    except Exception:  # noqa: BLE001 - a failed sweep must not stop a trace
        return
    if removed:
        import sys

        print(f"synack: removed {len(removed)} leftovers of traces that were killed "
              f"(`synack cleanup` lists them): {', '.join(removed[:3])}{', ...' if len(removed) > 3 else ''}",
              file=sys.stderr)
