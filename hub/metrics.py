"""Prometheus metrics of a `pmo-hub run` worker, served as text by the standard library's http.server.

Off unless `[metrics] port` is set. `GET /metrics` answers in the Prometheus text format (0.0.4), `GET /healthz`
answers `ok` (a liveness probe). No client library: a handful of counters does not need one.

    pmo_hub_runs_total{job,outcome}                runs finished by this worker (ok, partial, failed)
    pmo_hub_job_failures_total{job}                runs whose outcome was not ok
    pmo_hub_job_last_success_timestamp_seconds{job}
    pmo_hub_jobs_running                           jobs running on this worker now
    pmo_hub_http_requests_total{system}            requests made to the source systems
    pmo_hub_rate_limit_wait_seconds_total          seconds spent waiting before retries (429 Retry-After, back-off)
    pmo_hub_open_violations{severity}              alarms in the latest evaluated run (from the shared state,
                                                   so every worker reports the same value)

Counters are per worker process: sum them over workers in queries (`sum by (job) (rate(...))`).
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterable

from hub.errors import ConfigError, HubError

log = logging.getLogger("pmo_hub.metrics")

SEVERITIES = ("low", "medium", "high", "critical")

# name -> (type, help)
DEFINITIONS: dict[str, tuple[str, str]] = {
    "pmo_hub_runs_total": ("counter", "Job runs finished by this worker, by job and outcome."),
    "pmo_hub_job_failures_total": ("counter", "Job runs whose outcome was not ok (failed or partial)."),
    "pmo_hub_job_last_success_timestamp_seconds": ("gauge", "Unix time of the job's last ok run on this worker."),
    "pmo_hub_jobs_running": ("gauge", "Jobs running on this worker now."),
    "pmo_hub_http_requests_total": ("counter", "HTTP requests made to source systems, by system."),
    "pmo_hub_rate_limit_wait_seconds_total": ("counter",
                                              "Seconds spent waiting before retries (Retry-After of 429s, back-off)."),
    "pmo_hub_open_violations": ("gauge", "Alarms (not waived) in the latest evaluated run, by severity."),
}

Labels = tuple[tuple[str, str], ...]


def _labels(labels: dict[str, str] | None) -> Labels:
    return tuple(sorted((labels or {}).items()))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Metrics:
    """Counters and gauges of one worker. Thread-safe; `render()` gives the exposition text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[str, Labels], float] = {}
        self._collectors: list[Callable[[], Iterable[tuple[str, dict[str, str], float]]]] = []

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        key = (name, _labels(labels))
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + value

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._values[(name, _labels(labels))] = value

    def get(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._values.get((name, _labels(labels)), 0.0)

    def add_collector(self, fn: Callable[[], Iterable[tuple[str, dict[str, str], float]]]) -> None:
        """`fn()` yields (name, labels, value) samples computed at scrape time (e.g. from the state store)."""
        self._collectors.append(fn)

    def observe_run(self, job: str, outcome: str, *, requests: dict[str, int] | None = None,
                    retry_wait_s: float = 0.0, finished_at: float | None = None) -> None:
        self.inc("pmo_hub_runs_total", job=job, outcome=outcome)
        if outcome != "ok":
            self.inc("pmo_hub_job_failures_total", job=job)
        elif finished_at is not None:
            self.set("pmo_hub_job_last_success_timestamp_seconds", finished_at, job=job)
        for system, n in (requests or {}).items():
            self.inc("pmo_hub_http_requests_total", float(n), system=system)
        if retry_wait_s:
            self.inc("pmo_hub_rate_limit_wait_seconds_total", retry_wait_s)

    def render(self) -> str:
        with self._lock:
            samples = dict(self._values)
        for fn in self._collectors:
            try:
                for name, labels, value in fn():
                    samples[(name, _labels(labels))] = value
            except HubError as e:  # a scrape must not fail because the state store is unreachable
                log.warning("metrics: samples left out: %s", e)
        lines: list[str] = []
        for name, (kind, help_) in DEFINITIONS.items():
            mine = sorted((labels, v) for (n, labels), v in samples.items() if n == name)
            if not mine:
                continue
            lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]
            for labels, v in mine:
                text = ",".join(f'{k}="{_escape(val)}"' for k, val in labels)
                lines.append(f"{name}{{{text}}} {_fmt(v)}" if text else f"{name} {_fmt(v)}")
        return "\n".join(lines) + "\n"


class MetricsServer:
    """`/metrics` and `/healthz` on a background thread. `port=0` picks a free port (see `.port`)."""

    def __init__(self, metrics: Metrics, *, host: str = "127.0.0.1", port: int = 9108):
        registry = metrics

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    body, ctype, code = registry.render().encode(), "text/plain; version=0.0.4; charset=utf-8", 200
                elif path == "/healthz":
                    body, ctype, code = b"ok\n", "text/plain; charset=utf-8", 200
                else:
                    body, ctype, code = b"not found; try /metrics\n", "text/plain; charset=utf-8", 404
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args) -> None:  # noqa: A002 - keep http.server off stderr
                log.debug("metrics: " + format, *args)

        try:
            self._server = ThreadingHTTPServer((host, port), Handler)
        except OSError as e:
            raise ConfigError(f"metrics.port: cannot listen on {host}:{port}: {e.strerror or e}") from e
        self._server.daemon_threads = True
        self.host = host
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True)

    def start(self) -> "MetricsServer":
        self._thread.start()
        log.info("metrics: serving http://%s:%d/metrics", self.host, self.port)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
