"""Reproducers of issue 15 item 5: standard input is checked before it is spooled,
the spool is bounded (--max-spool) and never outlives the command.

`cat /dev/zero | synack analyze -` filled /tmp, and SIGTERM left a 2.6 GB file.
Each test points TMPDIR at a directory of its own and checks it stays empty.
"""
from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import time

import pytest

from conftest import ROOT

PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def synack_reading(args: list[str], source: list[str], tmpdir) -> subprocess.Popen:
    env = dict(os.environ, TMPDIR=str(tmpdir))
    feeder = subprocess.Popen(source, stdout=subprocess.PIPE)
    p = subprocess.Popen([sys.executable, "-m", "tracer", *args], stdin=feeder.stdout, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    feeder.stdout.close()
    p.feeder = feeder
    return p


def finish(p: subprocess.Popen) -> tuple[int, str]:
    _, err = p.communicate(timeout=120)
    p.feeder.kill()
    p.feeder.wait()
    return p.returncode, err


@pytest.mark.parametrize("command", [["analyze"], ["ladder"], ["layers", "--frame", "1"], ["graph"], ["play"]],
                         ids=lambda c: c[0])
def test_dev_zero_is_refused_from_its_first_bytes(tmp_path, command):
    spool_dir = tmp_path / "tmp"
    spool_dir.mkdir()
    p = synack_reading([*command, "-"], ["cat", "/dev/zero"], spool_dir)
    rc, err = finish(p)
    assert rc == 2 and err.strip() == "synack: error: /dev/stdin: byte 0: not a pcap or pcapng file (magic 00000000)"
    assert os.listdir(spool_dir) == []


def endless_capture(tmp_path) -> list[str]:
    """A pcap header, then zeros forever: valid-looking until it is read."""
    head = tmp_path / "head.pcap"
    head.write_bytes(PCAP_HEADER)
    return ["sh", "-c", f"cat {head} /dev/zero"]


def test_the_spool_is_bounded_by_max_spool(tmp_path):
    spool_dir = tmp_path / "tmp"
    spool_dir.mkdir()
    p = synack_reading(["analyze", "-", "--max-spool", "8M"], endless_capture(tmp_path), spool_dir)
    rc, err = finish(p)
    assert rc == 2 and "longer than the spool limit of 8388608 bytes" in err and "--max-spool" in err
    assert len(err.strip().splitlines()) == 1
    assert os.listdir(spool_dir) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_the_spool_never_outlives_the_command(tmp_path, sig):
    """Interrupted, or killed outright, while spooling: no file is left (the spool has no name)."""
    spool_dir = tmp_path / "tmp"
    spool_dir.mkdir()
    p = synack_reading(["analyze", "-", "--max-spool", "100G"], endless_capture(tmp_path), spool_dir)
    used = 0
    deadline = time.monotonic() + 60
    while used < (20 << 20):  # spooling is under way: the file system shows the space used
        assert time.monotonic() < deadline and p.poll() is None
        time.sleep(0.05)
        st = os.statvfs(spool_dir)
        fd_sizes = []
        for fd in os.listdir(f"/proc/{p.pid}/fd"):
            try:
                target = os.readlink(f"/proc/{p.pid}/fd/{fd}")
                if target.startswith(str(spool_dir)):
                    fd_sizes.append(os.stat(f"/proc/{p.pid}/fd/{fd}").st_size)
            except OSError:
                pass
        used = max(fd_sizes, default=0)
        assert st.f_bsize > 0
    assert os.listdir(spool_dir) == []  # even while it is written, it has no name
    p.send_signal(sig)
    rc, err = finish(p)
    assert "Traceback" not in err
    if sig == signal.SIGTERM:
        assert rc == 130 and err.strip() == "synack: interrupted"
    assert os.listdir(spool_dir) == []
