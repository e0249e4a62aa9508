"""Real headless Chromium for tests, driven over the DevTools protocol; it never reaches past loopback."""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_START_SECONDS = 60.0  # a cold start on a busy 2-core machine
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    # Nothing leaves the machine: no proxy lookups, no component updates or safe-browsing fetches.
    "--no-proxy-server",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--window-size=1200,1600",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)


class Page:
    """One tab: load a local page, evaluate JavaScript in it, screenshot it."""

    def __init__(self, socket: ClientConnection, session: str) -> None:
        self._socket = socket
        self._session = session
        self._ids = itertools.count(1000)

    def load(self, path: Path) -> None:
        """Navigate to `path` and wait for its load event (every image decoded or failed by then)."""
        self._call("Page.enable")
        self._call("Page.navigate", {"url": path.resolve().as_uri()}, until="Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The value of `expression` in the page (JSON-serialisable values only)."""
        answer = self._call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        assert "exceptionDetails" not in answer, answer
        return answer["result"].get("value")

    def screenshot(self) -> bytes:
        """The whole page as a PNG."""
        answer = self._call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        return base64.b64decode(answer["data"])

    def _call(self, method: str, params: dict[str, Any] | None = None, until: str | None = None) -> dict[str, Any]:
        return _call(self._socket, method, params, self._ids, session=self._session, until=until)


@contextmanager
def chromium_page(profile: Path) -> Iterator[Page]:
    """A fresh headless Chromium (its profile under `profile`) with one blank tab; closed on exit."""
    assert CHROMIUM is not None, "skip the test where chromium is missing"
    process = subprocess.Popen(
        [CHROMIUM, *_FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with connect(_browser_socket(profile, process), max_size=64 * 1024 * 1024, open_timeout=30) as socket:
            ids = itertools.count(1)
            target = _call(socket, "Target.createTarget", {"url": "about:blank"}, ids)["targetId"]
            session = _call(socket, "Target.attachToTarget", {"targetId": target, "flatten": True}, ids)["sessionId"]
            yield Page(socket, session)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _browser_socket(profile: Path, process: subprocess.Popen[bytes]) -> str:
    """The browser's DevTools address, from the file Chromium writes once it listens."""
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + _START_SECONDS
    while not marker.is_file() or len(marker.read_text().splitlines()) < 2:
        assert process.poll() is None, f"chromium exited with {process.returncode}"
        assert time.monotonic() < deadline, "chromium did not start listening"
        time.sleep(0.05)  # polling a file another process writes: there is no clock of ours to move
    port, path = marker.read_text().splitlines()[:2]
    return f"ws://127.0.0.1:{port}{path}"


def _call(
    socket: ClientConnection,
    method: str,
    params: dict[str, Any] | None,
    ids: Iterator[int],
    *,
    session: str | None = None,
    until: str | None = None,
) -> dict[str, Any]:
    """Send one command; return its result once it (and the `until` event, if named) has arrived."""
    number = next(ids)
    message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
    if session is not None:
        message["sessionId"] = session
    socket.send(json.dumps(message))
    result: dict[str, Any] | None = None
    waiting = until
    while result is None or waiting is not None:
        received = json.loads(socket.recv(timeout=60))
        if received.get("id") == number:
            assert "error" not in received, received
            result = received["result"]
        elif received.get("method") == waiting:
            waiting = None
    return result
