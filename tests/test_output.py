"""Reproducers of issue 15 item 1: where root may write with -o (viz/output.py).

Every case runs on tmp paths, or on /etc/passwd inside a private mount
namespace of the test (a tmpfs over /etc holding copies), never on the real
/etc.
"""
from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

CAPTURE = str(ROOT / "captures" / "tcp-echo.pcapng")
NOBODY = {"SUDO_UID": "65534", "SUDO_GID": "65534"}


def synack(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if not k.startswith("SUDO_")}
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "tracer", *args], capture_output=True, text=True, env=e,
                          cwd=ROOT)


def one_line_refusal(r: subprocess.CompletedProcess, word: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and word in lines[0], r.stderr


# Every kind of output command, with the suffix it writes.
COMMANDS = [
    ("analyze", CAPTURE, "-o", "{}"),
    ("analyze", CAPTURE, "--format", "json", "-o", "{}"),
    ("ladder", CAPTURE, "-o", "{}.svg"),
    ("ladder", CAPTURE, "-o", "{}.txt"),
    ("layers", CAPTURE, "--frame", "1", "-o", "{}.svg"),
    ("graph", CAPTURE, "-o", "{}.svg"),
    ("play", CAPTURE, "-o", "{}.html"),
]


def argv(cmd, target: str) -> list[str]:
    return [a.format(target) for a in cmd]


def target_of(cmd, base: str) -> str:
    return next(a for a in cmd if "{}" in a).format(base)


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: f"{c[0]}-{c[-1]}")
def test_symlink_at_final_component_is_refused_and_target_untouched(tmp_path, cmd):
    secret = tmp_path / "secret"
    secret.write_text("root's data\n")
    secret.chmod(0o600)
    link = target_of(cmd, str(tmp_path / "out"))
    os.symlink(secret, link)
    r = synack(*argv(cmd, str(tmp_path / "out")))
    one_line_refusal(r, "symbolic link")
    assert secret.read_text() == "root's data\n" and stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert os.path.islink(link)
    assert sorted(os.listdir(tmp_path)) == sorted(["secret", os.path.basename(link)])  # no temp left


@pytest.mark.parametrize("kind", ["fifo", "socket", "device"])
def test_special_files_are_refused(tmp_path, kind):
    path = tmp_path / "out.svg"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(path))
        s.close()
    else:
        if os.geteuid() != 0:
            pytest.skip("mknod needs root")
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a /dev/null of our own
    before = os.lstat(path)
    r = synack("ladder", CAPTURE, "-o", str(path))
    one_line_refusal(r, {"fifo": "FIFO", "socket": "socket", "device": "device"}[kind])
    after = os.lstat(path)
    assert stat.S_IFMT(after.st_mode) == stat.S_IFMT(before.st_mode) and after.st_ino == before.st_ino


def test_dev_null_and_dev_stdout_stay_what_they_are():
    null_before = os.lstat("/dev/null")
    r = synack("analyze", CAPTURE, "-o", "/dev/null")
    one_line_refusal(r, "device")
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode) and os.lstat("/dev/null").st_ino == null_before.st_ino
    r = synack("analyze", CAPTURE, "-o", "/dev/stdout")
    one_line_refusal(r, "symbolic link")
    assert os.path.islink("/dev/stdout")


def test_existing_mode_is_kept_and_new_files_honour_umask(tmp_path):
    ro = tmp_path / "ro.txt"
    ro.write_text("old")
    ro.chmod(0o444)
    r = synack("analyze", CAPTURE, "-o", str(ro))
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(ro.stat().st_mode) == 0o444 and "tcp" in ro.read_text().lower()
    new = tmp_path / "new.txt"
    code = (f"import os, sys; os.umask(0o027); sys.argv = ['synack', 'analyze', {CAPTURE!r}, '-o', {str(new)!r}]; "
            "from tracer.cli import main; sys.exit(main())")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(new.stat().st_mode) == 0o640


def test_failure_keeps_the_previous_file(tmp_path):
    out = tmp_path / "analysis.json"
    out.write_text('{"previous": true}\n')
    damaged = tmp_path / "damaged.pcapng"
    data = Path(CAPTURE).read_bytes()
    damaged.write_bytes(data[: len(data) // 2] + b"\xff" * 64)
    r = synack("analyze", str(damaged), "--format", "json", "-o", str(out))
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert out.read_text() == '{"previous": true}\n'
    assert sorted(os.listdir(tmp_path)) == ["analysis.json", "damaged.pcapng"]  # no temp file left


def test_behind_sudo_a_file_the_user_could_not_write_is_refused(tmp_path):
    tmp_path.chmod(0o755)
    root_file = tmp_path / "rootonly.svg"
    root_file.write_text("keep")
    root_file.chmod(0o644)
    r = synack("ladder", CAPTURE, "-o", str(root_file), env=NOBODY)
    one_line_refusal(r, "invoking user")
    assert root_file.read_text() == "keep"
    r = synack("ladder", CAPTURE, "-o", str(tmp_path / "new.svg"), env=NOBODY)
    one_line_refusal(r, "invoking user")
    assert not (tmp_path / "new.svg").exists()
    # A directory the user owns: allowed, and the new file is theirs.
    mine = tmp_path / "mine"
    mine.mkdir()
    os.chown(mine, 65534, 65534)
    r = synack("ladder", CAPTURE, "-o", str(mine / "ok.svg"), "--page", "none", env=NOBODY)  # one file
    assert r.returncode == 0, r.stderr
    pages = sorted(mine.glob("ok*.svg"))  # one file, or ok-1.svg, ok-2.svg ... (slide pages)
    assert pages and all(p.stat().st_uid == 65534 for p in pages)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare")
def test_etc_passwd_behind_sudo_in_a_private_mount_namespace(tmp_path):
    """The issue's reproducer: `sudo synack ... -o /etc/passwd` replaced passwd.  Here /etc
    is a tmpfs holding copies, inside a mount namespace only this test sees."""
    script = f"""
set -e
cp /etc/passwd /etc/group {tmp_path}/
mount --make-rprivate /
mount -t tmpfs -o mode=0755 tmpfs /etc
cp {tmp_path}/passwd {tmp_path}/group /etc/
SUDO_UID=65534 SUDO_GID=65534 {sys.executable} -m tracer analyze {CAPTURE} -o /etc/passwd \
    2>{tmp_path}/err && echo WROTE || echo "refused $?"
SUDO_UID=65534 SUDO_GID=65534 {sys.executable} -m tracer ladder {CAPTURE} -o /etc/passwd.svg \
    2>>{tmp_path}/err && echo WROTE || echo "refused $?"
cmp /etc/passwd {tmp_path}/passwd && echo SAME
ls -A /etc | tr '\\n' ' '
"""
    r = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:3] == ["refused 2", "refused 2", "SAME"], (r.stdout, r.stderr)
    assert lines[3].split() == ["group", "passwd"]
    err = (tmp_path / "err").read_text()
    assert "Traceback" not in err and err.count("invoking user") == 2


def test_trace_refuses_a_symlinked_output_before_running(tmp_path):
    """`synack trace -o` goes through the same check (before any namespace is made)."""
    secret = tmp_path / "secret"
    secret.write_text("x")
    os.symlink(secret, tmp_path / "t.pcapng")
    r = synack("trace", "-o", str(tmp_path / "t.pcapng"))
    one_line_refusal(r, "symbolic link")
    assert secret.read_text() == "x"


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    """SIGKILL while writing leaves `.NAME.PID-START.XXXX.tmp`; the next write of NAME removes it
    (its owner is gone), and never one of a live writer."""
    from viz.output import owner

    out = tmp_path / "a.txt"
    dead = tmp_path / f".a.txt.{2 ** 22 + 7}-5.abcd.tmp"
    live = tmp_path / f".a.txt.{owner()}.efgh.tmp"
    dead.write_text("partial")
    live.write_text("being written")
    r = synack("analyze", CAPTURE, "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(tmp_path)) == sorted(["a.txt", live.name])
