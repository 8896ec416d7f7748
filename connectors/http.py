"""Shared HTTP error classification and the one retry policy every connector uses.

`classify(system, status, ...)` maps an HTTP outcome to the `hub.errors` tree (retriable / fatal); `call()`
runs a function under the shared tenacity policy, which retries only `RetriableError`, honours a server's
Retry-After (capped per wait), backs off exponentially otherwise, and gives up after `max_attempts` tries
or `max_total_s` seconds of waiting, whichever comes first. Time spent waiting is reported through
`RetryPolicy.waited_s`, so runs and benchmarks can show rate-limit waits.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, stop_after_delay
from tenacity.wait import wait_base

from hub.errors import ConnectorError, FatalError, RateLimitedError, RetriableError
from hub.secrets import mask

T = TypeVar("T")
RETRIABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date), or None when absent or unreadable."""
    if value is None or value == "":
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime
    from datetime import datetime, timezone

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def classify(system: str, status: int, *, url: str | None, detail: str = "", retry_after: str | None = None,
             action: str = "") -> ConnectorError:
    """The hub error for an HTTP failure. `action` says what was being done ("searching issues")."""
    what = f"{system}: {action + ': ' if action else ''}HTTP {status}"
    detail = mask(detail)[:300]
    msg = f"{what}{' - ' + detail if detail else ''}"
    if status == 429:
        return RateLimitedError(msg, system=system, status=status, url=url, retry_after=parse_retry_after(retry_after))
    if status in RETRIABLE_STATUS:
        return RetriableError(msg, system=system, status=status, url=url)
    if status == 401:
        msg += " (authentication failed: check the account and its API token/credentials)"
    elif status == 403:
        msg += " (permission denied: see the README's least-privilege section for what this needs)"
    return FatalError(msg, system=system, status=status, url=url)


def classify_transport(system: str, exc: requests.RequestException, *, action: str = "") -> ConnectorError:
    """Timeouts, resets and truncated bodies are retriable; a bad URL or TLS failure is not."""
    name = type(exc).__name__
    text = f"{system}: {action + ': ' if action else ''}{name}: {mask(str(exc))[:200]}"
    if isinstance(exc, (requests.exceptions.SSLError, requests.exceptions.InvalidURL,
                        requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema)):
        return FatalError(text, system=system)
    return RetriableError(text, system=system)


@dataclass
class RetryPolicy:
    """One policy for all connectors (configured in `[retry]`)."""

    max_attempts: int = 6
    max_total_s: float = 300.0  # give up once this much time was spent waiting
    base_s: float = 0.5
    max_wait_s: float = 60.0  # longest single wait, even if Retry-After asks for more
    waited_s: float = 0.0
    retries: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _wait(self) -> wait_base:
        policy = self

        class _Wait(wait_base):
            def __call__(self, rs: RetryCallState) -> float:
                exc = rs.outcome.exception() if rs.outcome else None
                if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
                    delay = exc.retry_after
                else:
                    delay = policy.base_s * (2 ** (rs.attempt_number - 1))
                delay = min(delay, policy.max_wait_s)
                with policy._lock:
                    policy.waited_s += delay
                    policy.retries += 1
                return delay

        return _Wait()

    def call(self, fn: Callable[[], T]) -> T:
        retrying = Retrying(
            retry=retry_if_exception_type(RetriableError),
            wait=self._wait(),
            stop=stop_after_attempt(self.max_attempts) | stop_after_delay(self.max_total_s),
            reraise=True,
        )
        return retrying(fn)


def check_response(system: str, resp: requests.Response, *, action: str = "") -> requests.Response:
    """Raise the classified hub error for a non-2xx response."""
    if resp.status_code < 400:
        return resp
    raise classify(system, resp.status_code, url=resp.url, detail=error_detail(resp),
                   retry_after=resp.headers.get("Retry-After"), action=action)


def error_detail(resp: requests.Response) -> str:
    """The human part of an error body: Jira's errorMessages/errors, Google's and Graph's error.message."""
    try:
        body: Any = resp.json()
    except ValueError:
        return (resp.text or "")[:200]
    if isinstance(body, dict):
        if "errorMessages" in body or "errors" in body:
            parts = list(body.get("errorMessages") or [])
            errs = body.get("errors") or {}
            if isinstance(errs, dict):
                parts += [f"{k}: {v}" for k, v in errs.items()]
            return "; ".join(str(p) for p in parts)
        err = body.get("error")
        if isinstance(err, dict):
            return str(err.get("message") or err.get("code") or err)
        if isinstance(err, str):
            return body.get("error_description") or err
    return str(body)[:200]
