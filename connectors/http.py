"""Shared HTTP error classification and the one retry policy every connector uses.

`classify(system, status, ...)` maps an HTTP outcome to the `hub.errors` tree (retriable / fatal); `call()`
runs a function under the shared tenacity policy, which retries only `RetriableError`, honours a server's
Retry-After (capped per wait), backs off exponentially otherwise, and gives up after `max_attempts` tries
or before a wait that would take it past `max_total_s`, whichever comes first, saying so in the error. Time
spent waiting is reported through `RetryPolicy.waited_s`, so runs and benchmarks can show rate-limit waits.

TLS: every connector's HTTPS goes through a `TLSAdapter` mounted on its session (whichever library made the
session), so certificates are always verified, against the system's CAs (or REQUESTS_CA_BUNDLE) or the system's
`ca_file`, except for the hosts the config names in `tls_insecure_hosts`, each logged as a warning every run.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

import logging
import re
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception

from hub.errors import ConflictError, ConnectorError, FatalError, RateLimitedError, RetriableError
from hub.secrets import mask

T = TypeVar("T")
RETRIABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}
log = logging.getLogger("pmo_hub.http")


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
    if status == 412:  # If-Match failed: someone changed the record since it was read
        return ConflictError(msg + " (changed by someone else since it was read)", system=system, status=status,
                             url=url)
    if status == 401:
        msg += " (authentication failed: check the account and its API token/credentials)"
    elif status == 403:
        msg += " (permission denied: see the README's least-privilege section for what this needs)"
    return FatalError(msg, system=system, status=status, url=url)


def classify_transport(system: str, exc: requests.RequestException, *, action: str = "") -> ConnectorError:
    """Timeouts, resets and truncated bodies are retriable; a bad URL or TLS failure is not."""
    name = type(exc).__name__
    text = f"{system}: {action + ': ' if action else ''}{name}: {mask(str(exc))[:200]}"
    if isinstance(exc, requests.exceptions.SSLError):
        host = urlsplit(exc.request.url).netloc if exc.request is not None and exc.request.url else "the server"
        why = re.search(r"\[SSL: [A-Z_]+\][^()]*", str(exc))  # e.g. "[SSL: CERTIFICATE_VERIFY_FAILED] certificate ..."
        reason = why.group().strip() if why else mask(str(exc))[:200]
        return FatalError(f"{system}: {action + ': ' if action else ''}{name}: {reason} (the certificate of {host} "
                          "could not be verified: if a private CA or a TLS-inspecting proxy signed it, name that "
                          f"CA's PEM in {system}.ca_file)", system=system)
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                        requests.exceptions.InvalidSchema)):
        return FatalError(text, system=system)
    return RetriableError(text, system=system)


@dataclass(frozen=True)
class TLS:
    """How one system's HTTPS is verified: always, against `ca_file` when set (else the system's CAs), except for
    the hosts in `insecure_hosts` ("host" or "host:port"), which the config must name one by one."""

    system: str
    ca_file: str | None = None
    insecure_hosts: tuple[str, ...] = ()

    @classmethod
    def of(cls, system: str, settings: Any) -> "TLS":
        """From a config section with `ca_file` and `tls_insecure_hosts` (resolved when the config loaded)."""
        return cls(system, getattr(settings, "ca_file", None), tuple(getattr(settings, "tls_insecure_hosts", ())))

    def insecure(self, url: str) -> bool:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        names = {host, f"{host}:{parts.port}"} if parts.port else {host}
        return any(h.lower() in names for h in self.insecure_hosts)

    def verify(self, url: str, requested: bool | str | None = True) -> bool | str:
        """What to verify `url` with: False only for a named insecure host; else `ca_file`, or what requests chose
        (the system's CAs, or REQUESTS_CA_BUNDLE), never False."""
        if self.insecure(url):
            return False
        if self.ca_file:
            return self.ca_file
        return requested if requested not in (False, None) else True

    def warn(self) -> None:
        """Log, for each host whose certificate is not verified, that it is not and what that means."""
        for host in self.insecure_hosts:
            log.warning("%s: TLS certificate verification is OFF for %s (%s.tls_insecure_hosts): the server's "
                        "identity is not checked, so anyone on the network path can read and change this traffic, "
                        "credentials included. Name its CA in %s.ca_file instead.", self.system, host, self.system,
                        self.system)

    def mount(self, session: requests.Session, *, max_retries: int = 0) -> requests.Session:
        """Make every HTTPS request of `session` (whoever built it) verify as this says."""
        session.mount("https://", TLSAdapter(self, max_retries=max_retries))
        return session


class TLSAdapter(HTTPAdapter):
    """requests' adapter with the `verify` of each request decided by a `TLS` (a session's or an environment
    variable's setting cannot switch verification off, nor replace the system's `ca_file`)."""

    def __init__(self, tls: TLS, **kw: Any):
        self.tls = tls
        super().__init__(**kw)

    def send(self, request: requests.PreparedRequest, stream: bool = False,  # type: ignore[override]
             timeout: Any = None, verify: bool | str = True, cert: Any = None, proxies: Any = None
             ) -> requests.Response:
        verify = self.tls.verify(request.url or "", verify)
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)


def check_tls(section: str, settings: Any, hosts: list[str], base_dir: Any) -> None:
    """Config check of a section's `ca_file` (must exist; made absolute) and `tls_insecure_hosts` (each must be a
    host, or host:port, the section connects to). Raises ConfigError naming the key and the valid choices."""
    from pathlib import Path

    from hub.errors import ConfigError

    ca = getattr(settings, "ca_file", None)
    if ca:
        path = Path(ca).expanduser()
        path = path if path.is_absolute() else Path(base_dir) / path
        try:
            text = path.read_text(encoding="ascii", errors="replace")
        except OSError as e:
            raise ConfigError(f"{section}.ca_file: cannot read {path}: {e.strerror or e}") from None
        if "-----BEGIN CERTIFICATE-----" not in text:
            raise ConfigError(f"{section}.ca_file: {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
        settings.ca_file = str(path)
    valid = sorted({h.lower() for h in hosts if h})
    for entry in getattr(settings, "tls_insecure_hosts", ()) or ():
        if "/" in entry or entry.lower() not in set(valid) | {h.split(":")[0] for h in valid}:
            raise ConfigError(f"{section}.tls_insecure_hosts: {entry!r} is not a host {section} connects to. "
                              f"Valid values are: {valid} (or the same without the port)")


@dataclass
class RetryPolicy:
    """One policy for all connectors (configured in `[retry]`).

    `call(fn)` retries `fn` while it raises `RetriableError`: it waits the server's Retry-After or backs off
    exponentially (`base_s`, doubling), each wait capped at `max_wait_s`, and gives up after `max_attempts`
    tries or when the next wait would end more than `max_total_s` after the first try started (it never starts
    a wait it cannot finish within the budget, so a Retry-After of an hour costs at most `max_total_s`). The
    error it gives up with keeps its type and says so: how many tries, how long, the [retry] settings, and the
    wait the server asked for when it was longer than `max_wait_s`. Such an error is not retried again by an
    enclosing `call`. Only waits actually slept count in `waited_s` and `retries`.
    """

    max_attempts: int = 6
    max_total_s: float = 300.0  # no wait is started that would end later than this after the first try
    base_s: float = 0.5
    max_wait_s: float = 60.0  # longest single wait, even if Retry-After asks for more
    waited_s: float = 0.0
    retries: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def delay(self, exc: BaseException | None, attempt: int) -> float:
        """The wait after failed try number `attempt`: the server's Retry-After, else back-off; capped."""
        if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            delay = exc.retry_after
        else:
            delay = self.base_s * (2 ** (attempt - 1))
        return min(delay, self.max_wait_s)

    def note_wait(self, delay: float) -> None:
        """Account a wait the caller did itself (e.g. before re-sending throttled requests of a batch)."""
        with self._lock:
            self.waited_s += delay
            self.retries += 1

    def _sleep(self, seconds: float) -> None:
        self.note_wait(seconds)
        time.sleep(seconds)

    def call(self, fn: Callable[[], T]) -> T:
        started = time.monotonic()
        attempts = 0

        def attempt() -> T:
            nonlocal attempts
            attempts += 1
            return fn()

        def wait(rs: RetryCallState) -> float:
            return self.delay(rs.outcome.exception() if rs.outcome else None, rs.attempt_number)

        def stop(rs: RetryCallState) -> bool:
            return rs.attempt_number >= self.max_attempts or rs.seconds_since_start + wait(rs) > self.max_total_s

        retrying = Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, RetriableError) and not getattr(e, "gave_up", False)),
            wait=wait, stop=stop, sleep=self._sleep, reraise=True,
        )
        try:
            return retrying(attempt)
        except RetriableError as e:
            if not getattr(e, "gave_up", False):
                self._say_gave_up(e, attempts, time.monotonic() - started)
            raise

    def _say_gave_up(self, e: RetriableError, attempts: int, elapsed: float) -> None:
        """Append to `e`'s message that (and why) the retries stopped, and what to do about it."""
        why = (f"gave up after {attempts} tr{'ies' if attempts != 1 else 'y'} in {elapsed:.1f} s "
               f"([retry] max_attempts = {self.max_attempts}, max_total_s = {self.max_total_s:g})")
        if isinstance(e, RateLimitedError) and e.retry_after is not None and e.retry_after > self.max_wait_s:
            asked = getattr(e, "wait_reason", None) or f"the server asked to wait {e.retry_after:.0f} s"
            why += f"; {asked}, longer than [retry] max_wait_s = {self.max_wait_s:g} s"
        e.args = (f"{e.args[0] if e.args else e} ({why}; the next run tries again)", *e.args[1:])
        e.gave_up = True  # type: ignore[attr-defined]


def create_once(policy: RetryPolicy, attempt: Callable[[], T], *, landed: Callable[[], T | None] | None = None,
                unanswered: Callable[[RetriableError], ConnectorError] | None = None,
                already: Callable[[FatalError], bool] | None = None) -> T:
    """Send a write that is not idempotent (a comment, a message, a new tab) under `policy`, never twice.

    `attempt()` is one try, its failures classified. 429 and 503 (refused: nothing was written) are sent again
    as usual. Any other retriable failure (a reset, a 500/502/504, an answer cut short or not JSON) leaves the
    outcome unknown: before the next try `landed()` looks for the write and returns it when it is there. A try
    that got no answer in time (ReadTimeout) raises `unanswered(error)` when given (the caller does not send it
    again, e.g. an `OutcomeUnknownError` for the next run's recovery), else it counts as unknown too. After an
    unknown outcome, a refusal for which `already(error)` is true (e.g. "a tab of that name exists") is taken as
    the earlier try having landed when `landed()` confirms it.
    """
    unsure = False

    def once() -> T:
        nonlocal unsure
        if unsure and landed is not None:
            found = landed()
            if found is not None:
                return found
        try:
            return attempt()
        except RetriableError as e:
            if unanswered is not None and isinstance(e.__cause__, requests.exceptions.ReadTimeout):
                raise unanswered(e) from e
            unsure = unsure or e.status not in (429, 503)
            raise
        except FatalError as e:
            if unsure and already is not None and already(e) and landed is not None:
                found = landed()
                if found is not None:
                    return found
            raise

    return policy.call(once)


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
