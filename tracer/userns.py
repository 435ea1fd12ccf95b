"""Without root: synack makes its own user + mount + network namespace.

Network namespaces need CAP_SYS_ADMIN/CAP_NET_ADMIN, but only in the user
namespace that owns them, and Linux lets an unprivileged process create a
user namespace in which it is root.  So `synack trace`, `build` and `replay`,
run by a user without sudo, call unshare(2) on themselves while still
single-threaded (before scapy or the sniffer start any thread), map root to
the invoking user, and give `ip netns` a private tmpfs on /run/netns (and on
/etc/netns, or a private /etc/hosts, for the names `client` and `server`).
Everything made there dies with the process.

What works inside: namespaces, veth, nftables, sysctls of the hosts, raw
sniffing, strace of the programs (ptrace of one's own children).  What does
not: anything outside the namespace (kernel tracing through tracefs,
`replay --iface` onto a real interface), and the programs run as you (there
is no other user to drop to).  Where user namespaces are blocked, the reason
is read from the kernel's knobs and named with its fix, in one line.
"""
from __future__ import annotations

import ctypes
import os
import sys

from viz.errors import SynackError

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_BIND = 0x1000

KNOBS = {
    "unprivileged_userns_clone": "/proc/sys/kernel/unprivileged_userns_clone",
    "max_user_namespaces": "/proc/sys/user/max_user_namespaces",
    "apparmor_restrict": "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
}
CANNOT = ("not root: running in a user namespace of your own (no sudo needed); the programs run as you, "
          "and kernel tracing (tracefs) and real interfaces are not available")


def knobs() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for key, path in KNOBS.items():
        try:
            with open(path) as f:
                out[key] = f.read().strip()
        except OSError:
            out[key] = None
    return out


def blocked_reason(values: dict[str, str | None], entry: str) -> str | None:
    """Why this kernel refuses unprivileged user namespaces, with the fix; None if it allows them (pure)."""
    if values.get("unprivileged_userns_clone") == "0":
        return ("unprivileged user namespaces are off (kernel.unprivileged_userns_clone = 0): enable them with "
                "`sudo sysctl -w kernel.unprivileged_userns_clone=1`, or run synack with sudo")
    if values.get("max_user_namespaces") == "0":
        return ("user namespaces are off (user.max_user_namespaces = 0): enable them with "
                "`sudo sysctl -w user.max_user_namespaces=15000`, or run synack with sudo")
    if values.get("apparmor_restrict") == "1":
        return ("AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1): "
                f"allow synack with a profile for {entry} (/etc/apparmor.d/synack: `abi <abi/4.0>, profile synack "
                f"{entry} flags=(unconfined) {{ userns, }}`, then `sudo apparmor_parser -r /etc/apparmor.d/synack`), "
                "or `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`, or run synack with sudo")
    return None


def inside() -> bool:
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() != ["0", "0", "4294967295"]
    except OSError:
        return False


def _entry() -> str:
    return os.path.realpath(sys.executable)


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def ensure(strict: bool = True, announce=None) -> bool:
    """Become root of a fresh user namespace unless already root.  True when it did.

    strict: a blocked kernel is a one-line SynackError (trace, replay);
    otherwise it is left to the step that needs root to say so (build, whose
    figures from existing captures need none).
    """
    if os.geteuid() == 0:
        return False
    reason = blocked_reason(knobs(), _entry())
    if reason is None and len(os.listdir("/proc/self/task")) > 1:
        reason = "synack is already multi-threaded, too late to enter a user namespace (a bug): run it with sudo"
    if reason is None:
        reason = _enter()
    if reason is not None:
        if strict:
            raise SynackError(reason)
        return False
    # a user's PATH often lacks the sbin folders where ip and nft live
    path = os.environ.get("PATH", "").split(os.pathsep)
    os.environ["PATH"] = os.pathsep.join(path + [d for d in ("/usr/sbin", "/sbin") if d not in path])
    (announce or (lambda line: print(f"synack: {line}", file=sys.stderr)))(CANNOT)
    return True


def _enter() -> str | None:
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        return (f"cannot create a user namespace ({os.strerror(err)}): the kernel or a security module "
                "refuses it; run synack with sudo")
    try:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"0 {uid} 1")
        _write("/proc/self/gid_map", f"0 {gid} 1")
    except OSError as exc:
        return (f"cannot map root in the new user namespace ({exc.strerror}): AppArmor or another security "
                "module denies it; run synack with sudo")

    def mount(src: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
        if libc.mount(src.encode() if src else None, target.encode(), fstype.encode() if fstype else None,
                      flags, data.encode() if data else None) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"mount {target}: {os.strerror(err)}")

    try:
        mount("none", "/", None, MS_REC | MS_PRIVATE)
        if os.path.isdir("/run/netns"):
            mount("tmpfs", "/run/netns", "tmpfs", 0, "mode=755")
        else:
            mount("tmpfs", "/run", "tmpfs", 0, "mode=755")
            os.mkdir("/run/netns", 0o755)
        if os.path.isdir("/etc/netns"):
            mount("tmpfs", "/etc/netns", "tmpfs", 0, "mode=755")
    except OSError as exc:
        return f"cannot prepare /run/netns in the user namespace ({exc}): run synack with sudo"
    return None


def bind_hosts(text: str) -> bool:
    """No /etc/netns to hold the hosts' names: put them over /etc/hosts of synack's own mount
    namespace (every host shares it; the names are the same in each).  Only inside the user namespace."""
    if not inside():
        return False
    import tempfile

    libc = ctypes.CDLL(None, use_errno=True)
    fd, path = tempfile.mkstemp(prefix="synack-hosts-")
    try:
        os.write(fd, text.encode())
        os.fchmod(fd, 0o644)
    finally:
        os.close(fd)
    try:
        return libc.mount(path.encode(), b"/etc/hosts", None, MS_BIND, None) == 0
    finally:
        os.unlink(path)  # the mount keeps the file
