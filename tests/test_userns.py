"""Without root: `synack trace` as an ordinary user enters a user namespace of its own.

CI runs as root, so the test makes a user (useradd), gives it a readable copy
of synack and of the lecture programs, runs the trace as that user with no
sudo and no `unshare` line, and compares the capture with the same trace run
as root: the same frames (addresses, flags, payload sizes) and the same calls.
"""
from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import ROOT, needs_root, python_for
from tracer import userns
from viz.capture import open_capture
from viz.errors import SynackError

PROGRAMS = Path(__file__).parent / "programs"


def test_blocked_reasons_name_the_knob_and_the_fix():
    entry = "/usr/bin/python3.11"
    assert userns.blocked_reason({"unprivileged_userns_clone": "1", "max_user_namespaces": "9",
                                  "apparmor_restrict": "0"}, entry) is None
    assert userns.blocked_reason({}, entry) is None
    assert userns.blocked_reason({"unprivileged_userns_clone": "0"}, entry) == (
        "unprivileged user namespaces are off (kernel.unprivileged_userns_clone = 0): enable them with "
        "`sudo sysctl -w kernel.unprivileged_userns_clone=1`, or run synack with sudo")
    assert userns.blocked_reason({"max_user_namespaces": "0"}, entry).startswith(
        "user namespaces are off (user.max_user_namespaces = 0): enable them with "
        "`sudo sysctl -w user.max_user_namespaces=15000`")
    apparmor = userns.blocked_reason({"apparmor_restrict": "1"}, entry)
    assert apparmor.startswith("AppArmor restricts unprivileged user namespaces "
                               "(kernel.apparmor_restrict_unprivileged_userns = 1): allow synack with a profile "
                               "for /usr/bin/python3.11")
    assert "userns," in apparmor and "apparmor_parser -r" in apparmor and "\n" not in apparmor


@pytest.fixture
def user():
    name = f"synack{os.getpid() % 100000}"
    subprocess.run(["useradd", "-M", "-d", "/nonexistent", "-s", "/bin/sh", name], check=True,
                   capture_output=True)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], capture_output=True)


def frames(path: str) -> list[tuple]:
    res = subprocess.run(["tshark", "-r", path, "-Y", "tcp or udp", "-T", "fields", "-e", "ip.src", "-e", "ipv6.src",
                          "-e", "ip.dst", "-e", "ipv6.dst", "-e", "tcp.flags", "-e", "tcp.len", "-e", "udp.length"],
                         capture_output=True, text=True, check=True)
    rows = [line.split("\t") for line in res.stdout.splitlines()]
    return [(r[0] or r[1], r[2] or r[3], *r[4:]) for r in rows]


def calls(path: str) -> dict[str, list[tuple]]:
    """Each program's calls in its own order (how the two hosts interleave is the scheduler's),
    the client's ephemeral port left out (a UDP server's sendto names it)."""
    with open_capture(path) as cap:
        out: dict[str, list[tuple]] = {}
        for c in cap.meta["calls"]:
            args = re.sub(r"\('192\.0\.2\.1', \d+\)", "('192.0.2.1', PORT)", c["args"])
            out.setdefault(c["host"], []).append((c["call"], c["phase"], args))
        return out


SEED_PAIRS = [  # the seeds' programs as a student types them (tests/programs: localhost, fixed ports, while True)
    ("echo_server.py", "echo_client.py", "localhost:10000"),
    ("hello_server.py", "hello_client.py", "localhost:9000"),
    ("time_server.py", "time_client.py", "127.0.0.1:21567"),
    ("upper_tcp_server.py", "upper_tcp_client.py", "localhost:12000"),
    ("upper_udp_server.py", "upper_udp_client.py", "127.0.0.1:11111"),
    ("echo_server.py", "echo_client.py", "::1:10000"),  # AF_INET6 and '::1' typed in, --ipv6
]


@needs_root
@pytest.mark.netns
@pytest.mark.skipif(userns.blocked_reason(userns.knobs(), sys.executable) is not None,
                    reason="this kernel blocks unprivileged user namespaces")
@pytest.mark.parametrize("server, client, named", SEED_PAIRS,
                         ids=[p[0].split("_server")[0] + ("_ipv6" if ":" in p[2][:-6] else "") for p in SEED_PAIRS])
def test_trace_as_an_unprivileged_user_equals_the_root_trace(server, client, named, user, tmp_path, leak_check,
                                                            readable_site):
    python = python_for(user.pw_uid)
    if python is None:
        pytest.skip("no Python of this version the new user can run")
    home = Path(tempfile.mkdtemp(prefix="synack-userns-"))
    try:
        for pkg in ("tracer", "viz"):
            shutil.copytree(ROOT / pkg, home / pkg, ignore=shutil.ignore_patterns("__pycache__"))
        ipv6 = named.startswith("::1")
        for name in (server, client):
            text = (PROGRAMS / name).read_text()
            if ipv6:
                text = re.sub(r"\bAF_INET\b", "AF_INET6", text).replace("'localhost'", "'::1'")
            (home / name).write_text(text)
        subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", str(home)], check=True)
        os.chmod(home, 0o755)
        argv = ["-m", "tracer", "trace", "--server", f"{python} {server}", "--client", f"{python} {client}",
                *(["--ipv6"] if ipv6 else []), "-o"]
        env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "PYTHONPATH": os.pathsep.join([str(home), readable_site]), "LANG": "C.UTF-8"}
        mine = subprocess.run(["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
                               python, *argv, "user.pcapng"], cwd=home, env=env, capture_output=True, text=True,
                              timeout=120)
        assert mine.returncode == 0, mine.stderr
        assert mine.stderr.splitlines() == ["synack: " + userns.CANNOT]  # said once, up front
        udp = "udp" in server
        assert ("drops 0" if udp else "handshake yes, data yes, teardown yes; drops 0") in mine.stdout
        assert os.stat(home / "user.pcapng").st_uid == user.pw_uid  # the user's own file
        root = subprocess.run([sys.executable, *argv, str(tmp_path / "root.pcapng"), "--run-as", "root"],
                              cwd=home, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True,
                              text=True, timeout=120)
        assert root.returncode == 0, root.stderr
        a, b = frames(str(home / "user.pcapng")), frames(str(tmp_path / "root.pcapng"))
        c, s = ("2001:db8::1", "2001:db8::2") if ipv6 else ("192.0.2.1", "192.0.2.2")
        # the same frames; their order only up to the kernel's timing (upper's server sends and
        # closes at once, so which FIN leaves first is the scheduler's)
        assert sorted(a) == sorted(b) and a[0][:2] == (c, s) and a[0][2] == ("" if udp else "0x0002")
        assert {x[:2] for x in a} == {(c, s), (s, c)}
        assert calls(str(home / "user.pcapng")) == calls(str(tmp_path / "root.pcapng"))
        with open_capture(str(home / "user.pcapng")) as cap:
            assert cap.meta["localhost"]["client"] == [named]
    finally:
        shutil.rmtree(home, ignore_errors=True)


@needs_root
@pytest.mark.netns
def test_behind_sudo_the_programs_run_as_the_invoking_user(user, tmp_path, monkeypatch, leak_check):
    from tracer.run import Programs, trace

    d = Path(tempfile.mkdtemp(prefix="synack-sudo-"))
    try:
        os.chmod(d, 0o755)
        for name in ("echo_server.py", "echo_client.py"):
            shutil.copy(PROGRAMS / name, d / name)
        (d / "who.py").write_text("import os\nprint('uid', os.getuid(), os.environ['USER'])\n"
                                  + (PROGRAMS / "echo_client.py").read_text())
        subprocess.run(["chmod", "-R", "a+rX", str(d)], check=True)
        monkeypatch.setenv("SUDO_UID", str(user.pw_uid))
        monkeypatch.setenv("SUDO_GID", str(user.pw_gid))
        monkeypatch.setenv("SUDO_USER", user.pw_name)
        python = python_for(user.pw_uid)
        if python is None:
            pytest.skip("no Python of this version the new user can run")
        out = d / "out"  # behind sudo, output goes only where the invoking user may write (viz.output)
        out.mkdir()
        os.chown(out, user.pw_uid, user.pw_gid)
        r = trace(Programs(client=[python, str(d / "who.py")], server=[python, str(d / "echo_server.py")]), None,
                  str(out / "sudo.pcapng"))
        assert r.complete, r.incomplete_reason
        assert os.stat(out / "sudo.pcapng").st_uid == user.pw_uid
        assert r.client_output.splitlines()[0] == f"uid {user.pw_uid} {user.pw_name}"
    finally:
        shutil.rmtree(d, ignore_errors=True)


@needs_root
@pytest.mark.netns
def test_behind_sudo_the_programs_get_the_users_home_and_login_path(tmp_path, monkeypatch, leak_check):
    """sudo replaced PATH with its secure_path and HOME with root's: the programs get the
    invoking user's own (their login shell's PATH, minus folders others may write to), so a
    command in their ~/bin is found and runs as them."""
    from tracer.run import Programs, trace

    home = Path(tempfile.mkdtemp(prefix="synack-sudo-home-"))
    open_dir = Path(tempfile.mkdtemp(prefix="synack-sudo-ww-"))
    name = f"synh{os.getpid() % 100000}"
    subprocess.run(["useradd", "-M", "-d", str(home), "-s", "/bin/sh", name], check=True, capture_output=True)
    try:
        user = pwd.getpwnam(name)
        python = python_for(user.pw_uid)
        if python is None:
            pytest.skip("no Python of this version the new user can run")
        os.chmod(home, 0o755)
        os.chmod(open_dir, 0o777)
        (home / ".profile").write_text(f'PATH="{open_dir}:$HOME/bin:$PATH"\nexport PATH\n')
        (home / "bin").mkdir()
        tool = home / "bin" / "my-echo-client"
        tool.write_text(f"#!{python}\nimport os\nprint('home', os.environ['HOME'], 'path', os.environ['PATH'])\n"
                        + (PROGRAMS / "echo_client.py").read_text())
        tool.chmod(0o755)
        shutil.copy(PROGRAMS / "echo_server.py", home / "echo_server.py")
        subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", str(home)], check=True)
        monkeypatch.setenv("SUDO_UID", str(user.pw_uid))
        monkeypatch.setenv("SUDO_GID", str(user.pw_gid))
        monkeypatch.setenv("SUDO_USER", name)
        monkeypatch.setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")  # secure_path
        out = home / "out"
        out.mkdir()
        os.chown(out, user.pw_uid, user.pw_gid)
        r = trace(Programs(client="my-echo-client", server=[python, str(home / "echo_server.py")]), None,
                  str(out / "sudo.pcapng"))
        assert r.complete, r.incomplete_reason
        first = r.client_output.splitlines()[0].split()
        assert first[:3] == ["home", str(home), "path"]
        path = first[3].split(os.pathsep)
        assert path[0] == str(home / "bin") and str(open_dir) not in path and "/usr/bin" in path
        with pytest.raises(SynackError, match="--client: no-such-tool-xyz: command not found on PATH"):
            trace(Programs(client="no-such-tool-xyz", server=[python, str(home / "echo_server.py")]), None,
                  str(out / "none.pcapng"))
    finally:
        subprocess.run(["userdel", name], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(open_dir, ignore_errors=True)
