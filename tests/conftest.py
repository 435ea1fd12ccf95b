"""Shared fixtures: the one way tests build hosts, and the leak inventory.

`hosts` is the only fixture that makes namespaces (tests needing another
shape use `make_hosts`); `inventory()` lists every resource a trace could leave
behind (namespaces, /etc/netns entries, veths and nft tables of the root
namespace, descendant processes, run directories) so a test can compare the
list before and after.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HAVE_NETNS = os.geteuid() == 0 and shutil.which("ip") is not None
needs_root = pytest.mark.skipif(not HAVE_NETNS, reason="needs root and iproute2 (network namespaces)")


def python_for(uid: int) -> str | None:
    """A Python of this version that user `uid` can start on its own (a venv's may live under /root)."""
    for cand in (sys.executable, os.path.realpath(sys.executable),
                 f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"):
        res = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "/bin/sh", "-c",
                              f'test -x "$0" && exec "$0" -c "import sys; assert sys.version_info[:2] == '
                              f'{tuple(sys.version_info[:2])}"', cand], capture_output=True)
        if res.returncode == 0:
            return cand
    return None


LISTENING = """
import os, socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", int(os.environ["SYNACK_SERVER_PORT"])))
s.listen()
"""  # the start of a test server program: listening on the port synack gives it


@pytest.fixture
def progdir():
    """Programs must be readable by the unprivileged user they run as (pytest's
    tmp_path is private to root)."""
    d = tempfile.mkdtemp(prefix="synack-progs-")
    os.chmod(d, 0o755)

    def write(name: str, text: str) -> str:
        p = os.path.join(d, name)
        with open(p, "w") as f:
            f.write(textwrap.dedent(text))
        os.chmod(p, 0o644)
        return p
    write.dir = d
    yield write
    shutil.rmtree(d, ignore_errors=True)


def descendants(pid: int) -> set[int]:
    """All live descendants of pid (from /proc; no psutil here)."""
    children: dict[int, list[int]] = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                text = f.read()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        if fields[0] == "Z":
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.split("/")[2]))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def inventory(owner_pids: set[int] | None = None) -> dict[str, set[str]]:
    """What a trace could leak.  Namespaces and /etc/netns entries are limited to
    the ones named after `owner_pids` (default: this process), since other
    test runs may be tracing at the same time."""
    owners = owner_pids or {os.getpid()}
    prefixes = tuple(f"synack-{p}-" for p in owners)
    netns = {n for n in os.listdir("/run/netns")} if os.path.isdir("/run/netns") else set()
    etc = {n for n in os.listdir("/etc/netns")} if os.path.isdir("/etc/netns") else set()
    links = subprocess.run(["ip", "-o", "link", "show", "type", "veth"], capture_output=True,
                           text=True).stdout
    nft = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout \
        if shutil.which("nft") else ""
    procs = set()
    for pid in descendants(os.getpid()):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            procs.add(f"{pid}:{cmdline}")
        except OSError:
            pass
    return {
        "netns": {n for n in netns if n.startswith(prefixes)},
        "etc_netns": {n for n in etc if n.startswith(prefixes)},
        "veth": {line.split(":")[1].strip() for line in links.splitlines() if ":" in line},
        "nft": {line for line in nft.splitlines() if "synack" in line},
        "processes": procs,
    }


@pytest.fixture
def leak_check():
    """Yields a set to which tests add pids of tracer subprocesses; asserts nothing
    named after this process or those pids is left, and no child process."""
    owners: set[int] = set()
    before = inventory({os.getpid()})
    yield owners
    after = inventory({os.getpid()} | owners)
    for key in ("netns", "etc_netns", "nft"):
        assert after[key] <= before[key], f"leaked {key}: {after[key] - before[key]}"
    assert not after["processes"], f"leaked processes: {after['processes']}"
    assert after["veth"] <= before["veth"], f"leaked veth: {after['veth'] - before['veth']}"


@pytest.fixture
def make_hosts():
    """Factory for Hosts of any shape; everything made is closed at teardown."""
    from tracer.hosts import Hosts

    made = []

    def make(**kwargs):
        h = Hosts(**kwargs)
        made.append(h)
        return h.__enter__()

    yield make
    for h in made:
        h.close()


@pytest.fixture
def hosts(make_hosts):
    """The default test network: client and server namespaces joined by a veth pair."""
    if not HAVE_NETNS:
        pytest.skip("needs root and iproute2 (network namespaces)")
    return make_hosts()


@pytest.fixture(scope="session")
def readable_site():
    """The installed packages (numpy, matplotlib, scapy ...) where an unprivileged user can
    read them: in place, or copied once when the venv lives under a private folder (a clone
    in `mktemp -d`, or under /root)."""
    import shutil
    import sysconfig
    import tempfile

    site = sysconfig.get_paths()["purelib"]
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "test", "-r", site, "-a", "-x", site]
    if subprocess.run(nobody, capture_output=True).returncode == 0:
        yield site
        return
    copy = tempfile.mkdtemp(prefix="synack-site-")
    os.chmod(copy, 0o755)
    shutil.copytree(site, copy, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pth"))
    subprocess.run(["chmod", "-R", "a+rX", copy], check=True)
    yield copy
    shutil.rmtree(copy, ignore_errors=True)
