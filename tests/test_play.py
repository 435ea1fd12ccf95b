"""synack play: the step model, the terminal stepper (piped and on a real pty), the file outputs."""
from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import termios
from html.parser import HTMLParser
from pathlib import Path

import pytest

from viz import layers
from viz.analysis import analyze
from viz.capture import open_capture
from viz.framefile import safe_dissect
from viz.errors import SynackError
from viz.ladder import build_ladder
from viz.play import MAX_GAP, build_playback, pauses, prefix
from viz.play_term import parse_keys, screen

ROOT = Path(__file__).resolve().parent.parent
from corpus_path import CORPUS_DIR  # noqa: E402
CAPTURE = CORPUS_DIR / "one_http_stream_fin.pcap"
pytestmark = pytest.mark.skipif(not CAPTURE.exists(), reason="corpus not present")
ARROW = re.compile(r"▶│|│◀")


def synack(*args, check=True):
    r = subprocess.run([sys.executable, "-m", "tracer", *map(str, args)], cwd=ROOT, capture_output=True, text=True)
    if check:
        assert r.returncode == 0, r.stderr
    return r


@pytest.fixture(scope="module")
def playback():
    path = str(CAPTURE)
    with open_capture(path) as cap:
        an = analyze(cap, path=path)
    with open_capture(path) as cap:
        raw = {f.number: f for f in cap}
    ladder = build_ladder(an, full=True)
    return an, ladder, build_playback(an, ladder, lambda f: layers.nested(safe_dissect(raw[f]), an.packet(f), f))


def test_step_k_has_the_first_k_arrows(playback):
    an, ladder, pb = playback
    assert len(pb.steps) == len(ladder.arrows) == 15
    for k, step in enumerate(pb.steps, 1):
        assert step.index == k
        assert step.ladder.arrows == ladder.arrows[:k]
        assert step.arrow == ladder.arrows[k - 1] and step.frame == step.arrow.frame
        assert step.t == an.packet(step.frame).t
        assert step.fields[0].startswith(f"Frame {step.frame}:")
        assert (step.ladder.y_min, step.ladder.y_max, step.ladder.lifelines) == (ladder.y_min, ladder.y_max, ladder.lifelines)
        cut = max(max(a.y_send, a.y_recv) for a in step.ladder.arrows)
        assert all(s.y <= cut for s in step.ladder.states) and all(c.y <= cut for c in step.ladder.calls)
    # Notes accumulate: the last step shows every state of the whole ladder.
    assert [s.state for s in pb.steps[-1].ladder.states] == [s.state for s in ladder.states]
    assert {s.state for s in pb.steps[0].ladder.states} == {"SYN_SENT", "LISTEN", "SYN_RECEIVED"}
    # Frame 4 is the HTTP request: its layers say so.
    f4 = pb.steps[3].fields
    assert any(line.startswith("TCP header (20 B): port 49486 → 80") for line in f4)
    assert any(line.startswith('Data (367 B): "GET /softw') for line in f4)
    assert prefix(ladder, 0).arrows == ()
    with pytest.raises(ValueError):
        prefix(ladder, 16)


def test_recorded_pace_is_scaled_and_clamped(playback):
    _, _, pb = playback
    p1 = pauses(pb.steps)
    assert len(p1) == len(pb.steps) and p1[-1] == 0.0
    gap = pb.steps[1].t - pb.steps[0].t  # 167 ms SYN -> SYN/ACK
    assert p1[0] == pytest.approx(gap)
    assert pauses(pb.steps, speed=0.01)[0] == MAX_GAP  # 16.7 s clamped
    assert pauses(pb.steps, speed=2)[0] == pytest.approx(gap / 2)
    with pytest.raises(SynackError):
        pauses(pb.steps, speed=0)


def test_screen_keeps_heads_and_current_arrow_when_short(playback):
    _, _, pb = playback
    lines = screen(pb.steps[-1], width=90, height=24, keys=True)
    assert len(lines) <= 24
    assert "client" in lines[1] and "server" in lines[1]
    assert any("ack=369" in line for line in lines)  # the current (last) arrow
    assert all(len(line) <= 90 for line in lines)


def test_keys():
    assert parse_keys("\x1b[C\r n\x1b[D\x7fp\x1b[H\x1b[F\x1bOHq") == \
        ["next", "next", "next", "next", "prev", "prev", "prev", "first", "last", "first", "quit"]
    assert parse_keys("\x1b") == ["quit"]
    assert parse_keys("\x1b[5~x") == []


def test_piped_output_prints_every_step():
    out = synack("play", CAPTURE, "--frames", "1-5", "--width", "90").stdout
    chunks = re.split(r"^(?=step \d+/5 )", out, flags=re.M)[1:]
    assert [c.split(" ", 2)[1] for c in chunks] == [f"{k}/5" for k in range(1, 6)]
    for k, chunk in enumerate(chunks, 1):
        assert len(ARROW.findall(chunk)) == k, chunk
        assert f"Frame {k}: " in chunk
        assert all(len(line) <= 90 for line in chunk.splitlines())
    assert "SYN, ACK seq=0 ack=1" in chunks[1] and "SYN, ACK" not in chunks[0]
    assert synack("play", CAPTURE, "--frames", "1-5", "--ascii").stdout.isascii()


def _read_until(fd, pattern, timeout=60.0):
    """Read the pty until `pattern` appears in what arrived after the last screen clear."""
    buf = b""
    while True:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            raise AssertionError(f"no {pattern!r} on the screen; got {buf[-400:]!r}")
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        if not data:
            return buf, True
        buf += data
        last = buf.rsplit(b"\x1b[2J", 1)[-1]
        if re.search(pattern, last):
            return buf, False


def _spawn(*args):
    import pty

    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(ROOT)
        os.environ["COLUMNS"], os.environ["LINES"] = "100", "40"
        os.execv(sys.executable, [sys.executable, "-m", "tracer", *map(str, args)])
    return pid, fd


def test_terminal_stepper_on_a_real_pty():
    pid, fd = _spawn("play", CAPTURE, "--frames", "1-6")
    try:
        before = termios.tcgetattr(fd)
        _read_until(fd, rb"step 1/6 (?s:.*)q quit")
        assert termios.tcgetattr(fd)[3] & termios.ICANON == 0  # cbreak while stepping
        screens = []
        for key, want in [(b"\x1b[C", 2), (b"n", 3), (b" ", 4), (b"\x1b[D", 3), (b"\x1b[F", 6),
                          (b"\x7f", 5), (b"\x1b[H", 1), (b"\r", 2)]:
            os.write(fd, key)
            buf, _ = _read_until(fd, rb"step %d/6 (?s:.*)q quit" % want)  # the whole screen
            screens.append(buf.rsplit(b"\x1b[2J", 1)[-1].decode(errors="replace"))
        assert len(ARROW.findall(screens[2])) == 4 and len(ARROW.findall(screens[4])) == 6
        assert "Frame 6: " in screens[4] and "Frame 1: " in screens[6]
        bold = re.search(r"\x1b\[1m(.*?)\x1b\[0m", screens[4])  # the current arrow stands out
        assert bold and "ACK seq=1 ack=368" in bold.group(1)
        os.write(fd, b"q")
        buf, eof = _read_until(fd, rb"$^")  # until the child closes the pty
        assert eof
        assert b"\x1b[?1049l" in buf  # left the alternate screen
        _, status = os.waitpid(pid, 0)
        pid = 0
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        assert before[3] & termios.ICANON
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)


def test_terminal_restored_on_ctrl_c_and_auto_advances():
    pid, fd = _spawn("play", CAPTURE, "--frames", "1-4", "--auto", "--speed", "100")
    try:
        _read_until(fd, rb"step 4/4 ")  # advanced with no key pressed
        os.write(fd, b"\x03")
        buf, eof = _read_until(fd, rb"$^")
        assert eof and b"\x1b[?1049l" in buf and b"Traceback" not in buf
        _, status = os.waitpid(pid, 0)
        pid = 0
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sections, self.buttons, self.svgs, self.hidden, self.urls, self.tags = [], [], 0, 0, [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "section":
            self.sections.append(a)
            self.hidden += "hidden" in a
        elif tag == "button":
            self.buttons.append(a.get("id"))
        elif tag == "svg":
            self.svgs += 1
        for k, v in attrs:
            if k in ("src", "href", "xlink:href", "action") and v and not v.startswith("#"):
                self.urls.append(v)


def test_html_page(tmp_path):
    a, b = tmp_path / "a.html", tmp_path / "b.html"
    synack("play", CAPTURE, "--frames", "1-4", "-o", a)
    synack("play", CAPTURE, "--frames", "1-4", "-o", b)
    assert a.read_bytes() == b.read_bytes()
    text = a.read_text()
    page = _Page()
    page.feed(text)
    assert [s["id"] for s in page.sections] == [f"step-{k}" for k in range(1, 5)]
    assert [s["data-frame"] for s in page.sections] == ["1", "2", "3", "4"]
    assert page.hidden == 3 and page.svgs == 4
    assert {"prev", "next"} <= set(page.buttons)
    assert "step 1 / 4" in text and "ArrowRight" in text
    assert not page.urls and not {"link", "img", "iframe"} & page.tags
    assert not re.search(r"url\((?!#)|@import|<script[^>]+src", text)
    # Ids are unique across the inline SVGs.
    ids = re.findall(r'\bid="([^"]+)"', text)
    assert len(ids) == len(set(ids))
    assert 'Data (367 B): &quot;GET /softw' in text


def test_pdf_one_page_per_step(tmp_path):
    a, b = tmp_path / "a.pdf", tmp_path / "b.pdf"
    synack("play", CAPTURE, "--frames", "1-3", "-o", a, "--theme", "print")
    synack("play", CAPTURE, "--frames", "1-3", "-o", b, "--theme", "print")
    data = a.read_bytes()
    assert data == b.read_bytes()
    assert len(re.findall(rb"/Type /Page\b", data)) == 3
    assert b"CreationDate" not in data


def test_gif_frames(tmp_path):
    from PIL import Image

    out = tmp_path / "a.gif"
    synack("play", CAPTURE, "--frames", "1-4", "-o", out)
    with Image.open(out) as im:
        assert im.n_frames == 4
        durations = []
        for i in range(im.n_frames):
            im.seek(i)
            durations.append(im.info["duration"])
        frames = []
        for i in range(im.n_frames):
            im.seek(i)
            frames.append(im.convert("RGB").tobytes())
    assert durations == [1000, 1000, 1000, 3000]
    assert len(set(frames)) == 4  # each step adds something


def test_bad_input(tmp_path):
    cases = [
        (["--stream", "9"], "no stream 9"),
        (["--frames", "100-200"], "no TCP/UDP segment in frames 100-200"),
        (["--frames", "5-2"], "--frames: '5-2'"),
        (["-o", tmp_path / "x.docx"], "unknown output format '.docx'"),
        (["--speed", "0", "--auto"], "--speed: 0: must be a positive"),
        (["-o", tmp_path / "nodir" / "x.html"], "does not exist"),
    ]
    for extra, msg in cases:
        r = synack("play", CAPTURE, *extra, check=False)
        assert r.returncode == 2, (extra, r.stderr)
        assert r.stderr.startswith("synack: error: ") and msg in r.stderr and r.stderr.count("\n") == 1, r.stderr
    r = synack("play", tmp_path / "missing.pcap", check=False)
    assert r.returncode == 2 and "no such file" in r.stderr


def test_mp4_needs_ffmpeg(tmp_path):
    import shutil

    out = tmp_path / "a.mp4"
    r = synack("play", CAPTURE, "--frames", "1-3", "-o", out, check=False)
    if shutil.which("ffmpeg"):
        assert r.returncode == 0 and out.stat().st_size > 0
    else:
        assert r.returncode == 2 and "needs ffmpeg" in r.stderr and not out.exists()


CHROMIUM = "/usr/bin/chromium"


class _Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (fds 3 and 4): no extra packages."""

    def __init__(self, profile: Path):
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()

        def fds():
            os.dup2(to_r, 3)
            os.dup2(from_w, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             f"--user-data-dir={profile}", "--window-size=1280,900", "--hide-scrollbars", "about:blank"],
            pass_fds=(to_r, from_w, 3, 4), preexec_fn=fds, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_r)
        os.close(from_w)
        self.w, self.r = os.fdopen(to_w, "wb"), os.fdopen(from_r, "rb")
        self.n, self.buf, self.session = 0, b"", None
        page = [t for t in self.send("Target.getTargets")["targetInfos"] if t["type"] == "page"][0]
        self.session = self.send("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})["sessionId"]

    def send(self, method, params=None):
        import json

        self.n += 1
        msg = {"id": self.n, "method": method, "params": params or {}}
        if self.session:
            msg["sessionId"] = self.session
        self.w.write(json.dumps(msg).encode() + b"\0")
        self.w.flush()
        while True:
            while b"\0" not in self.buf:
                ready, _, _ = select.select([self.r], [], [], 60)
                data = self.r.read1(65536) if ready else b""
                if not data:
                    raise AssertionError(f"chromium stopped answering {method}")
                self.buf += data
            raw, self.buf = self.buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.n:
                assert "error" not in reply, reply
                return reply["result"]

    def eval(self, expr):
        return self.send("Runtime.evaluate", {"expression": expr, "returnByValue": True})["result"].get("value")

    def screenshot(self) -> bytes:
        import base64

        return base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"})["data"])

    def click(self, element_id):
        x, y = self.eval(f"(function(){{var r=document.getElementById('{element_id}').getBoundingClientRect();"
                         "return [r.x + r.width / 2, r.y + r.height / 2];})()")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})

    def key(self, key, code):
        for kind in ("keyDown", "keyUp"):
            self.send("Input.dispatchKeyEvent", {"type": kind, "key": key, "code": code,
                                                 "windowsVirtualKeyCode": {"ArrowRight": 39, "End": 35}[key]})

    def close(self):
        """Browser.close lets Chromium take its renderer and zygote processes down with it."""
        try:
            self.session = None
            self.send("Browser.close")
        except (AssertionError, OSError, ValueError):
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")
def test_html_page_steps_in_headless_chromium(tmp_path):
    page = tmp_path / "play.html"
    synack("play", CAPTURE, "--frames", "1-5", "-o", page)
    browser = _Chromium(tmp_path / "profile")
    try:
        browser.send("Page.navigate", {"url": page.as_uri()})
        for _ in range(600):  # until loaded (a bound on polls, not a timed assertion)
            if browser.eval("document.readyState") == "complete":
                break
            select.select([], [], [], 0.05)
        counter = "document.getElementById('counter').textContent"
        visible = "document.querySelector('section.step:not([hidden])').dataset.frame"
        assert browser.eval(counter) == "step 1 / 5" and browser.eval(visible) == "1"
        assert browser.eval("window.scrollY") == 0
        shots = [browser.screenshot()]
        browser.click("next")
        assert browser.eval(counter) == "step 2 / 5" and browser.eval(visible) == "2"
        shots.append(browser.screenshot())
        browser.key("ArrowRight", "ArrowRight")
        assert browser.eval(counter) == "step 3 / 5"
        shots.append(browser.screenshot())
        browser.click("prev")
        assert browser.eval(counter) == "step 2 / 5"
        browser.key("End", "End")
        assert browser.eval(counter) == "step 5 / 5" and browser.eval("document.getElementById('next').disabled")
        shots.append(browser.screenshot())
        assert len(set(shots)) == len(shots)  # every step looks different on screen
        assert all(s.startswith(b"\x89PNG") for s in shots)
        # The visible SVG grows: step 5 draws more than step 1 (more non-white pixels).
        from io import BytesIO

        from PIL import Image

        ink = [sum(Image.open(BytesIO(s)).convert("L").histogram()[:200]) for s in (shots[0], shots[-1])]
        assert ink[1] > ink[0]
    finally:
        browser.close()


def test_a_call_appears_with_the_segment_it_causes():
    """`sendall(20)` is written beside its data segment: showing it one step
    earlier would tell the class the call happened before the ACK it follows."""
    path = str(ROOT / "captures" / "tcp-echo.pcapng")
    with open_capture(path) as cap:
        an = analyze(cap, path=path)
    ladder = build_ladder(an)
    pb = build_playback(an, ladder)
    def shows(step, text):
        return any(text in line for c in step.ladder.calls for line in c.lines)
    data = next(s for s in pb.steps if s.arrow.kind == "data" and s.arrow.src == 0)
    assert shows(data, "sendall(20)")
    assert not shows(pb.steps[data.index - 2], "sendall(20)")
    # The rest of the notes are not delayed: `connect returns` shows before the data step.
    assert shows(pb.steps[data.index - 2], "connect returns")
