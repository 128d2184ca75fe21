"""A real headless Chromium, driven through the DevTools protocol on a pipe (``--remote-debugging-pipe``: JSON
messages separated by NUL on file descriptors 3 and 4), with no Python package beyond the standard library.

Chosen over ``--dump-dom``: the page needs no test script of its own, console errors, uncaught exceptions and
failed loads arrive as protocol events, and the checks run in the loaded page (``naturalWidth``,
``readyState`` after asking each ``<audio>`` for its metadata) instead of being inferred from the DOM text.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--mute-audio",
)

# In the page: every image decoded, every <audio> asked for its metadata (a few at a time) and its outcome.
CHECK_PAGE = """
(async () => {
  const images = [...document.images].map(i => ({
    src: i.getAttribute('src'), complete: i.complete, width: i.naturalWidth, height: i.naturalHeight}));
  const players = [...document.querySelectorAll('audio')];
  const audio = [];
  const probe = a => new Promise(resolve => {
    const done = ok => resolve({src: a.getAttribute('src'), ok, readyState: a.readyState,
                                duration: a.duration, error: a.error ? a.error.code : null});
    if (a.readyState >= 1) { done(true); return; }
    const timer = setTimeout(() => done(a.readyState >= 1), 15000);
    a.addEventListener('loadedmetadata', () => { clearTimeout(timer); done(true); }, {once: true});
    a.addEventListener('error', () => { clearTimeout(timer); done(false); }, {once: true});
    a.preload = 'metadata';
    a.load();
  });
  for (let i = 0; i < players.length; i += 6) {
    audio.push(...await Promise.all(players.slice(i, i + 6).map(probe)));
  }
  return {title: document.title, images, audio,
          sections: document.querySelectorAll('section.map').length,
          text: document.body.innerText};
})()
"""


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Chromium:
    """One headless browser process; ``call`` sends a protocol command and waits for its answer."""

    def __init__(self, binary: str) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="aurascope-chromium-"))
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire() -> None:  # in the child: the browser reads commands on fd 3 and writes answers on fd 4
            a = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=wire,  # only dup2 in the child, before exec
            pass_fds=(3, 4),
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self._answers: dict[int, dict[str, Any]] = {}

    def call(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30) -> dict:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while self._next_id not in self._answers:
            self._pump(deadline, f"no answer to {method}")
        answer = self._answers.pop(self._next_id)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def wait_for(self, method: str, session: str | None = None, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.get("method") == method and (session is None or event.get("sessionId") == session):
                    return event
            self._pump(deadline, f"no {method} event")

    def _pump(self, deadline: float, what: str) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"Chromium: {what} within the time limit")
        ready, _, _ = select.select([self._from_browser], [], [], min(left, 1.0))
        if not ready:
            if self.process.poll() is not None:
                raise RuntimeError(f"Chromium exited with {self.process.returncode}: {self._stderr()}")
            return
        chunk = os.read(self._from_browser, 1 << 20)
        if not chunk:
            raise RuntimeError(f"Chromium closed the pipe: {self._stderr()}")
        self._buffer += chunk
        while b"\0" in self._buffer:
            raw, self._buffer = self._buffer.split(b"\0", 1)
            message = json.loads(raw)
            if "id" in message:
                self._answers[message["id"]] = message
            else:
                self.events.append(message)

    def _stderr(self) -> str:
        try:
            return (self.process.stderr.read() if self.process.stderr else b"").decode(errors="replace")[-2000:]
        except Exception:
            return ""

    def close(self) -> None:
        try:
            if self.process.poll() is None:
                with contextlib.suppress(RuntimeError, TimeoutError, OSError):
                    self.call("Browser.close", timeout=10)
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=10)
        finally:
            for fd in (self._to_browser, self._from_browser):
                with contextlib.suppress(OSError):
                    os.close(fd)
            if self.process.stderr:
                self.process.stderr.close()
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_and_check(browser: Chromium, page: Path, timeout: float = 60) -> dict[str, Any]:
    """Open ``page`` (a file) in a new tab and return the in-page checks plus every error the browser reported:
    ``{"title", "images", "audio", "sections", "text", "errors": [...]}``."""
    target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Runtime", "Log", "Network", "Page"):
        browser.call(f"{domain}.enable", session=session)
    browser.events.clear()
    browser.call("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
    browser.wait_for("Page.loadEventFired", session, timeout)
    result = browser.call(
        "Runtime.evaluate",
        {"expression": CHECK_PAGE, "awaitPromise": True, "returnByValue": True},
        session=session,
        timeout=timeout,
    )
    if "exceptionDetails" in result:
        raise RuntimeError(f"the check script failed: {result['exceptionDetails']}")
    checks = result["result"]["value"]
    errors = []
    urls = {
        e["params"]["requestId"]: e["params"]["request"]["url"]
        for e in browser.events
        if e.get("method") == "Network.requestWillBeSent"
    }
    for event in browser.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            errors.append(f"exception: {params['exceptionDetails'].get('text')}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(f"console.{params['type']}: {[a.get('value') for a in params.get('args', [])]}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            errors.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            # canceled: the media loader drops its range request once it has what it asked for
            errors.append(f"load failed: {params.get('errorText')} {urls.get(params.get('requestId'), '')}")
    checks["errors"] = errors
    browser.call("Target.closeTarget", {"targetId": target})
    return checks
