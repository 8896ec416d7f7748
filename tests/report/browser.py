"""Headless Chromium for tests, driven over the DevTools protocol with the standard library only.

    path = ensure_chromium()               # /usr/bin/chromium, installed with apt-get if absent and root
    with Chromium(path, tmp_path) as browser:
        page = browser.open(html_file.as_uri())
        page.evaluate("document.title")
        page.errors()                       # console errors, uncaught exceptions, CSP violations
        page.screenshot(Path("test-output/report.png"))

The DevTools websocket is spoken by `_WebSocket`, a minimal RFC 6455 client (text frames, fragmentation,
ping/pong) so the tests need no websocket dependency. One browser websocket carries every page session
(`Target.attachToTarget` with `flatten`).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--window-size=1400,2000", "--remote-debugging-port=0",
    "--remote-allow-origins=*",
]


def ensure_chromium(*, install: bool = True, timeout: float = 900) -> tuple[str | None, str]:
    """Path of Debian's chromium, installing it with apt-get when absent and running as root.

    Returns (path, "") or (None, why it is unavailable) so a test can skip with a clear message.
    """
    for candidate in (CHROMIUM, shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate, ""
    if not install:
        return None, "chromium is not installed"
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None, "chromium is not installed and installing it needs root (apt-get install -y chromium)"
    if shutil.which("apt-get") is None:
        return None, "chromium is not installed and apt-get is not available to install it"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(["apt-get", "update"], check=True, capture_output=True, timeout=timeout, env=env)
        subprocess.run(["apt-get", "install", "-y", "chromium"], check=True, capture_output=True, timeout=timeout,
                       env=env)
    except (subprocess.SubprocessError, OSError) as e:
        detail = getattr(e, "stderr", b"") or b""
        return None, f"installing chromium with apt-get failed: {e} {detail.decode(errors='replace')[-300:]}"
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM, ""
    return None, "apt-get install chromium succeeded but /usr/bin/chromium is still missing"


class _WebSocket:
    """Just enough of RFC 6455 for the DevTools protocol: masked text frames out, text frames in."""

    def __init__(self, url: str, timeout: float = 30):
        u = urlparse(url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET {u.path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(req.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("DevTools closed the connection during the websocket handshake")
            head += chunk
        status, _, rest = head.partition(b"\r\n\r\n")
        if b" 101 " not in status.split(b"\r\n")[0]:
            raise ConnectionError(f"websocket handshake refused: {status[:200]!r}")
        self.buf = rest

    def _fill(self, n: int) -> None:
        """Buffer at least `n` bytes (a timeout leaves the buffer intact: frames are consumed whole)."""
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise ConnectionError("DevTools websocket closed")
            self.buf += chunk

    def _frame(self) -> tuple[int, int, bytes]:
        """(first byte, opcode, payload) of the next whole frame."""
        self._fill(2)
        b0, b1 = self.buf[0], self.buf[1]
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._fill(4)
            (n,) = struct.unpack("!H", self.buf[2:4])
            off = 4
        elif n == 127:
            self._fill(10)
            (n,) = struct.unpack("!Q", self.buf[2:10])
            off = 10
        masked = b1 & 0x80
        self._fill(off + (4 if masked else 0) + n)
        if masked:
            mask, off = self.buf[off:off + 4], off + 4
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self.buf[off:off + n]))
        else:
            payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return b0, b0 & 0x0F, payload

    def send(self, text: str) -> None:
        data = text.encode()
        n = len(data)
        if n < 126:
            header = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 65536:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(header + mask + masked)

    def recv(self) -> str:
        parts: list[bytes] = []
        while True:
            b0, opcode, payload = self._frame()
            if opcode == 0x9:  # ping
                self.sock.sendall(struct.pack("!BB", 0x8A, 0x80 | len(payload)) + b"\0\0\0\0" + payload)
                continue
            if opcode == 0x8:
                raise ConnectionError("DevTools websocket closed")
            parts.append(payload)
            if b0 & 0x80:
                return b"".join(parts).decode()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Page:
    """One tab: evaluate JS, collect console errors, take screenshots."""

    def __init__(self, browser: Chromium, session: str):
        self.browser, self.session = browser, session
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, params: dict | None = None, timeout: float = 30) -> dict:
        return self.browser.call(method, params, session=self.session, timeout=timeout)

    def evaluate(self, expression: str, timeout: float = 30) -> Any:
        res = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                             "awaitPromise": True}, timeout=timeout)
        if "exceptionDetails" in res:
            raise AssertionError(f"JS error evaluating {expression!r}: {res['exceptionDetails']}")
        return res["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30) -> Any:
        end = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > end:
                raise TimeoutError(f"{expression!r} still false after {timeout}s")
            time.sleep(0.05)

    def errors(self) -> list[str]:
        """Console errors and assertions, uncaught exceptions and browser log errors (CSP, failed loads)."""
        self.browser.pump(0.2)
        out = []
        for ev in self.events:
            m, p = ev["method"], ev.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
            elif m == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                out.append("exception: " + str(d.get("exception", {}).get("description") or d.get("text")))
            elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
                out.append(f"log ({p['entry'].get('source')}): {p['entry'].get('text')}")
        return out

    def requests(self) -> list[str]:
        """URLs the page asked the network for (Network.requestWillBeSent), the document itself included."""
        self.browser.pump(0.1)
        return [ev["params"]["request"]["url"] for ev in self.events if ev["method"] == "Network.requestWillBeSent"]

    def screenshot(self, path: Path, *, full_page: bool = False) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        data = self.call("Page.captureScreenshot", params, timeout=60)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path


class Chromium:
    """A headless Chromium process with one DevTools websocket."""

    def __init__(self, binary: str, workdir: Path, *, extra_flags: list[str] | None = None):
        self.binary, self.workdir = binary, Path(workdir)
        self.flags = FLAGS + (extra_flags or [])
        self.proc: subprocess.Popen | None = None
        self.ws: _WebSocket | None = None
        self.next_id = 0
        self.pages: dict[str, Page] = {}
        self.replies: dict[int, dict] = {}

    def __enter__(self) -> Chromium:
        profile = self.workdir / "chromium-profile"
        profile.mkdir(parents=True, exist_ok=True)
        port_file = profile / "DevToolsActivePort"
        port_file.unlink(missing_ok=True)  # a reused profile keeps the last run's port
        self.log = (self.workdir / "chromium.log").open("wb")
        self.proc = subprocess.Popen([self.binary, *self.flags, f"--user-data-dir={profile}", "about:blank"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        try:
            end = time.monotonic() + 30
            while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
                if self.proc.poll() is not None or time.monotonic() > end:
                    raise RuntimeError(f"chromium did not start; see {self.workdir / 'chromium.log'}")
                time.sleep(0.05)
            port, path = port_file.read_text().splitlines()[:2]
            self.ws = _WebSocket(f"ws://127.0.0.1:{port}{path}")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.ws:
            try:
                self.call("Browser.close", timeout=5)
            except Exception:  # noqa: BLE001 - shutting down; the process is killed below if still alive
                pass
            self.ws.close()
        if self.proc:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()

    def _dispatch(self, msg: dict) -> None:
        if "id" in msg:
            self.replies[msg["id"]] = msg
        elif msg.get("sessionId") in self.pages:
            self.pages[msg["sessionId"]].events.append(msg)

    def pump(self, seconds: float) -> None:
        """Read events for `seconds`."""
        assert self.ws
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.ws.sock.settimeout(left)
            try:
                self._dispatch(json.loads(self.ws.recv()))
            except (TimeoutError, socket.timeout):
                break
            finally:
                self.ws.sock.settimeout(None)

    def call(self, method: str, params: dict | None = None, *, session: str | None = None,
             timeout: float = 30) -> dict:
        assert self.ws
        self.next_id += 1
        mid = self.next_id
        msg: dict[str, Any] = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        end = time.monotonic() + timeout
        while mid not in self.replies:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no reply to {method} within {timeout}s")
            self.ws.sock.settimeout(left)
            try:
                self._dispatch(json.loads(self.ws.recv()))
            finally:
                self.ws.sock.settimeout(None)
        reply = self.replies.pop(mid)
        if "error" in reply:
            raise RuntimeError(f"{method} failed: {reply['error']}")
        return reply.get("result", {})

    def open(self, url: str, *, width: int = 1400, height: int = 2000, timeout: float = 60) -> Page:
        """A new tab showing `url`, loaded (load event fired), console and network events recorded."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        self.pages[session] = page
        for domain in ("Runtime", "Log", "Page", "Network"):
            page.call(f"{domain}.enable")
        page.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        page.call("Page.navigate", {"url": url})
        end = time.monotonic() + timeout
        while not any(e["method"] == "Page.loadEventFired" for e in page.events):
            if time.monotonic() > end:
                raise TimeoutError(f"{url} did not load within {timeout}s")
            self.pump(0.1)
        return page
