"""The sandbox's HTTP server: routing, request counting, latency, rate limits and fault injection.

Each emulated system (Jira, Sheets, Graph) is an `App` that registers routes by template, e.g.
``app.route("GET", "/rest/api/{ver}/issue/{key}")``. One `SandboxServer` serves every app on one loopback
port (over HTTP/1.1 with keep-alive, as the real client libraries expect) and applies, per system and route:

- counting: every request is counted by system and "METHOD /template"; `GET /_sandbox/stats` returns them;
- latency: a fixed delay per request (`latency_ms`), slept outside any lock;
- rate limits: at most `rate_limit` requests per `rate_window` seconds per system, then 429 with Retry-After;
- faults: scripted failures matched by system, method and route template (see `Fault`).

Control endpoints (no auth, loopback only): ``GET /_sandbox/stats``, ``POST /_sandbox/stats/reset``,
``POST /_sandbox/settings`` (JSON: {system: {latency_ms, rate_limit, rate_window}}), ``POST /_sandbox/faults``
(JSON list of `Fault` fields), ``DELETE /_sandbox/faults``.

TLS (optional, `SandboxServer(..., tls=ssl_context)`): the same port then also speaks HTTPS. The server peeks at
the first byte of each connection: a TLS handshake (0x16) is wrapped in the context, anything else is served as
plain HTTP, so Jira clients keep using http:// while msal (which accepts only an https authority) and Graph use
https:// (see `hub.sandbox.tls` for the throw-away CA clients pass as `verify`).

Batches: an app that serves a batch endpoint (Graph's `$batch`) runs each inner request through
`SandboxServer.dispatch(inner, inner=True)` (apps get `app.sandbox` when the server is built), so inner requests
meet the same routes, faults and rate limits as outer ones; they are counted per route under `batched` in the
stats (not in `total`, which counts HTTP requests), and inner writes count in `writes`.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit


class Request:
    def __init__(self, method: str, path: str, query: dict[str, list[str]], headers, body: bytes, params: dict):
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.params = params  # values of the route template's {placeholders}
        self.base_url = ""

    def arg(self, name: str, default: str | None = None) -> str | None:
        vals = self.query.get(name)
        return vals[0] if vals else default

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise HTTPError(400, f"request body is not valid JSON: {e}") from e


@dataclass
class Response:
    status: int = 200
    body: Any = None  # dict/list -> JSON; bytes -> raw; None -> empty
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # answer only after this long, slept outside the app's lock (a batch's slowest inner request)


class HTTPError(Exception):
    """Raised by handlers; the app's `error_body` turns it into the system's error shape."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None, body: Any = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.body = body


Handler = Callable[[Request], Response | dict | list | None]


@dataclass
class Route:
    method: str
    template: str
    regex: re.Pattern
    handler: Handler
    write: bool


class App:
    """One emulated system. Subclasses register routes in `__init__` and may override `error_body`/`auth`."""

    system = "app"
    prefixes: tuple[str, ...] = ()  # path prefixes this app serves

    def __init__(self):
        self.routes: list[Route] = []
        self.lock = threading.RLock()  # guards the app's state

    def route(self, method: str, template: str, handler: Handler, *, write: bool = False) -> None:
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", re.escape(template).replace(r"\{", "{").replace(r"\}", "}"))
        self.routes.append(Route(method, template, re.compile(f"^{pattern}$"), handler, write))

    def match(self, method: str, path: str) -> tuple[Route | None, dict, bool]:
        path_known = False
        for r in self.routes:
            m = r.regex.match(path)
            if m:
                path_known = True
                if r.method == method:
                    return r, m.groupdict(), True
        return None, {}, path_known

    def error_body(self, status: int, message: str) -> Any:
        return {"error": message}

    def authenticate(self, req: Request) -> None:
        """Raise HTTPError(401) when the request is not authenticated. Default: open."""

    def rate_limit_headers(self, limit: int, remaining: int, reset_at: float) -> dict[str, str]:
        return {}


@dataclass
class Fault:
    """A scripted failure. Matches requests by system, method and route template (fnmatch-style '*').

    kind: "status" (reply `status`, optionally with `retry_after`), "reset" (close the connection without a
    reply), "timeout" (sleep `delay_s`, then close), "truncate" (send half of the real body),
    "invalid_json" (send a 200 whose body is not JSON), "latency" (add `delay_s` then serve normally).
    `times`: how many matching requests it hits (None = every one); `after`: skip this many matches first.
    """

    system: str = "*"
    method: str = "*"
    route: str = "*"
    kind: str = "status"
    status: int = 503
    retry_after: str | None = None
    body: Any = None
    delay_s: float = 0.0
    times: int | None = 1
    after: int = 0
    hits: int = 0
    seen: int = 0

    def matches(self, system: str, method: str, template: str) -> bool:
        from fnmatch import fnmatchcase

        return (
            fnmatchcase(system, self.system)
            and fnmatchcase(method, self.method)
            and fnmatchcase(template, self.route)
        )


@dataclass
class SystemSettings:
    latency_ms: float = 0.0
    rate_limit: int | None = None  # requests per window
    rate_window: float = 60.0
    retry_after: int | None = None  # seconds to advertise on a 429 (default: until the window frees)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests: Counter[tuple[str, str]] = Counter()
        self.writes: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.batched: Counter[tuple[str, str]] = Counter()  # inner requests of batches, by system and route

    def snapshot(self) -> dict:
        with self.lock:
            by_system: dict[str, dict] = {}
            for (system, key), n in self.requests.items():
                s = by_system.setdefault(system, {"total": 0, "writes": 0, "throttled": 0, "faults": 0, "routes": {}})
                s["routes"][key] = n
                s["total"] += n
            for system, n in self.writes.items():
                by_system.setdefault(system, {"total": 0, "writes": 0, "throttled": 0, "faults": 0, "routes": {}})["writes"] = n
            for system, n in self.throttled.items():
                by_system.setdefault(system, {"total": 0, "writes": 0, "throttled": 0, "faults": 0, "routes": {}})["throttled"] = n
            for system, n in self.faults.items():
                by_system.setdefault(system, {"total": 0, "writes": 0, "throttled": 0, "faults": 0, "routes": {}})["faults"] = n
            for (system, key), n in self.batched.items():
                s = by_system.setdefault(system, {"total": 0, "writes": 0, "throttled": 0, "faults": 0, "routes": {}})
                s.setdefault("batched", {})[key] = n
                s["batched_total"] = s.get("batched_total", 0) + n
            return {"systems": by_system}

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.writes.clear()
            self.throttled.clear()
            self.faults.clear()
            self.batched.clear()


class _Window:
    """A sliding window of request times for one system's rate limit."""

    def __init__(self):
        self.times: deque[float] = deque()
        self.lock = threading.Lock()

    def admit(self, limit: int, window: float) -> tuple[bool, int, float]:
        now = time.monotonic()
        with self.lock:
            while self.times and now - self.times[0] >= window:
                self.times.popleft()
            if len(self.times) >= limit:
                return False, 0, self.times[0] + window - now
            self.times.append(now)
            return True, limit - len(self.times), (self.times[0] + window - now)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """A client that went away (killed, timed out) is normal here; anything else is printed."""
        import sys

        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError, ssl.SSLEOFError,
                                          ssl.SSLZeroReturnError)):
            return
        super().handle_error(request, client_address)


class SandboxServer:
    """Serves a set of `App`s on one loopback port. Use as a context manager or call start()/stop()."""

    def __init__(self, apps: list[App], host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None):
        self.apps = apps
        self.host = host
        self.port = port
        self.tls = tls  # when set, the port serves HTTPS as well as HTTP
        self.ca_file: str | None = None  # the CA clients verify the TLS side with (set by whoever made `tls`)
        for a in apps:
            a.sandbox = self  # type: ignore[attr-defined]  (batch endpoints dispatch inner requests through it)
        self.stats = Stats()
        self.settings: dict[str, SystemSettings] = {a.system: SystemSettings() for a in apps}
        self.faults: list[Fault] = []
        self._faults_lock = threading.Lock()
        self._windows: dict[str, _Window] = {a.system: _Window() for a in apps}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._busy = 0  # requests being served now (a client that gave up may have left one sleeping in a fault)
        self._idle = threading.Condition()

    # ---- lifecycle -------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def https_url(self) -> str | None:
        """The same port over TLS (None when the server was built without `tls`)."""
        return f"https://{self.host}:{self.port}" if self.tls is not None else None

    def start(self) -> "SandboxServer":
        server = self

        class _Handler(_RequestHandler):
            sandbox = server

        class _Server(_QuietServer):
            def finish_request(self, request, client_address):  # runs in the connection's own thread
                if server.tls is None:
                    return super().finish_request(request, client_address)
                try:
                    request.settimeout(30)
                    if request.recv(1, socket.MSG_PEEK) == b"\x16":  # a TLS ClientHello: wrap it
                        request = server.tls.wrap_socket(request, server_side=True)
                    request.settimeout(None)
                except (OSError, ssl.SSLError):
                    return
                try:
                    self.RequestHandlerClass(request, client_address, self)
                finally:
                    if isinstance(request, ssl.SSLSocket):
                        try:
                            request.close()
                        except OSError:
                            pass

        self._httpd = _Server((self.host, self.port), _Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="pmo-hub-sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "SandboxServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- control ---------------------------------------------------------------------------------------
    def configure(self, system: str, **settings: Any) -> None:
        targets = self.settings.keys() if system == "*" else [system]
        for name in targets:
            if name not in self.settings:
                raise KeyError(f"unknown sandbox system {name!r}; valid: {sorted(self.settings)}")
            for k, v in settings.items():
                if not hasattr(self.settings[name], k):
                    raise KeyError(f"unknown sandbox setting {k!r}; valid: {sorted(vars(SystemSettings()))}")
                setattr(self.settings[name], k, v)

    def add_fault(self, **spec: Any) -> Fault:
        fault = Fault(**spec)
        with self._faults_lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._faults_lock:
            self.faults.clear()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no request is being served (e.g. one a client timed out on, still sleeping in a latency fault,
        lands); False if that takes longer than `timeout`."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def _serving(self, delta: int) -> None:
        with self._idle:
            self._busy += delta
            if self._busy == 0:
                self._idle.notify_all()

    def app(self, system: str) -> App:
        for a in self.apps:
            if a.system == system:
                return a
        raise KeyError(system)

    # ---- dispatch --------------------------------------------------------------------------------------
    def _take_fault(self, system: str, method: str, template: str) -> Fault | None:
        with self._faults_lock:
            for f in self.faults:
                if f.times is not None and f.hits >= f.times:
                    continue
                if f.matches(system, method, template):
                    f.seen += 1
                    if f.seen <= f.after:
                        continue
                    f.hits += 1
                    return f
        return None

    def _control(self, req: Request) -> Response:
        p = req.path
        if p == "/_sandbox/stats" and req.method == "GET":
            return Response(200, self.stats.snapshot())
        if p == "/_sandbox/stats/reset" and req.method == "POST":
            self.stats.reset()
            return Response(204)
        if p == "/_sandbox/settings" and req.method == "POST":
            try:
                for system, values in (req.json() or {}).items():
                    self.configure(system, **values)
            except (KeyError, TypeError) as e:
                return Response(400, {"error": str(e)})
            return Response(204)
        if p == "/_sandbox/faults" and req.method == "POST":
            try:
                specs = req.json() or []
                for spec in specs if isinstance(specs, list) else [specs]:
                    self.add_fault(**spec)
            except TypeError as e:
                return Response(400, {"error": str(e)})
            return Response(204)
        if p == "/_sandbox/faults" and req.method == "DELETE":
            self.clear_faults()
            return Response(204)
        for app in self.apps:
            hook = getattr(app, "control", None)
            if hook:
                resp = hook(req)
                if resp is not None:
                    return resp
        return Response(404, {"error": f"unknown sandbox control endpoint {req.method} {p}"})

    def dispatch(self, req: Request, *, inner: bool = False) -> tuple[Response | None, Fault | None]:
        """Route one request. Returns (response, fault-to-apply-at-transport-level).

        `inner=True`: a request inside a batch (counted under `batched`, no added latency; a transport-level
        fault becomes a 504 inner response, since an inner request has no connection of its own to drop; a latency
        fault is not slept here, under the batch handler's lock, but noted in `req.delay_s`: the batch answers after
        its slowest inner request, as Graph runs them side by side).
        """
        if req.path.startswith("/_sandbox/") and not inner:
            return self._control(req), None
        app = next((a for a in self.apps if req.path.startswith(a.prefixes)), None)
        if app is None:
            return Response(404, {"error": f"no emulated system serves {req.path}"}), None
        route, params, path_known = app.match(req.method, req.path)
        template = route.template if route else req.path
        key = f"{req.method} {template}"
        with self.stats.lock:
            if inner:
                self.stats.batched[(app.system, key)] += 1
            else:
                self.stats.requests[(app.system, key)] += 1
        settings = self.settings[app.system]
        if settings.latency_ms and not inner:
            time.sleep(settings.latency_ms / 1000.0)

        fault = self._take_fault(app.system, req.method, template)
        if fault is not None:
            with self.stats.lock:
                self.stats.faults[app.system] += 1
            if fault.kind == "latency":
                if inner:
                    req.delay_s = max(getattr(req, "delay_s", 0.0), fault.delay_s)  # type: ignore[attr-defined]
                else:
                    time.sleep(fault.delay_s)
                fault = None
            elif fault.kind == "status":
                headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                body = fault.body if fault.body is not None else app.error_body(fault.status, "injected fault")
                return Response(fault.status, body, headers), None
            elif fault.kind in ("reset", "timeout"):
                if inner:
                    if fault.kind == "timeout":
                        req.delay_s = max(getattr(req, "delay_s", 0.0), fault.delay_s)  # type: ignore[attr-defined]
                    return Response(504, app.error_body(504, "injected fault")), None
                if fault.kind == "timeout":
                    time.sleep(fault.delay_s)
                return None, fault

        if settings.rate_limit:
            ok, remaining, reset_in = self._windows[app.system].admit(settings.rate_limit, settings.rate_window)
            headers = app.rate_limit_headers(settings.rate_limit, remaining, reset_in)
            if not ok:
                with self.stats.lock:
                    self.stats.throttled[app.system] += 1
                retry = settings.retry_after if settings.retry_after is not None else max(1, int(reset_in + 0.999))
                headers["Retry-After"] = str(retry)
                return Response(429, app.error_body(429, "Rate limit exceeded."), headers), None
        else:
            headers = {}

        if route is None:
            status = 405 if path_known else 404
            return Response(status, app.error_body(status, f"No route for {req.method} {req.path}")), None
        req.params = params
        try:
            app.authenticate(req)
            with app.lock:
                out = route.handler(req)
        except HTTPError as e:
            body = e.body if e.body is not None else app.error_body(e.status, e.message)
            return Response(e.status, body, {**headers, **e.headers}), None
        resp = out if isinstance(out, Response) else Response(200 if out is not None else 204, out)
        resp.headers = {**headers, **resp.headers}
        if resp.delay_s and not inner:
            time.sleep(resp.delay_s)
        if route.write and resp.status < 400:
            with self.stats.lock:
                self.stats.writes[app.system] += 1
        return resp, fault  # a truncate/invalid_json fault is applied to the body by the handler


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm and the client's
    # delayed ACK add ~40 ms to every response with a body
    disable_nagle_algorithm = True
    sandbox: SandboxServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests and the demo read stdout
        return

    def _handle(self) -> None:
        self.sandbox._serving(+1)
        try:
            self._serve()
        finally:
            self.sandbox._serving(-1)

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = Request(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True), self.headers, body, {})
        scheme = "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
        req.base_url = f"{scheme}://{self.headers.get('Host') or f'{self.sandbox.host}:{self.sandbox.port}'}"
        resp, fault = self.sandbox.dispatch(req)
        if resp is None:  # connection reset / timeout: drop the connection without a reply
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if isinstance(resp.body, (bytes, bytearray)):
            payload = bytes(resp.body)
            ctype = resp.headers.pop("Content-Type", "application/octet-stream")
        elif resp.body is None:
            payload = b""
            ctype = None
        else:
            payload = json.dumps(resp.body, default=str).encode()
            ctype = resp.headers.pop("Content-Type", "application/json;charset=UTF-8")
        if fault is not None and fault.kind == "truncate":
            payload = payload[: max(1, len(payload) // 2)]
        elif fault is not None and fault.kind == "invalid_json":
            payload = b"<html><body>Service Unavailable</body></html>"
        self.send_response(resp.status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in resp.headers.items():
            self.send_header(k, v)
        if fault is not None and fault.kind == "truncate":
            # announce the full length, send half, then close: what a dropped connection looks like
            self.send_header("Content-Length", str(len(payload) * 2))
            self.end_headers()
            self.wfile.write(payload)
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle
