"""Every error pmo-hub raises on purpose, grouped by what the caller should do.

    HubError                      base: one-line, secret-free message
    ├── ConfigError               bad configuration or rule file; exit code 2, fix the file
    ├── StateError                the state store cannot be opened or migrated
    ├── SafetyCapError            a planned write-back is larger than the configured cap; nothing written
    └── ConnectorError            talking to a source system failed (carries `system`)
        ├── RetriableError        429, 5xx, timeouts, resets: the shared retry policy retries these
        │   └── RateLimitedError  429 with the server's Retry-After (seconds, may be None)
        ├── FatalError            other 4xx, bad credentials, missing permission: do not retry
        │   ├── ConflictError     a concurrent edit (412, or a hub-owned field changed by a person)
        │   └── OutcomeUnknownError  a create sent but not answered in time: not sent again; the next run's
        │                         recovery looks for it
        └── SkippableError        one record could not be understood; the rest of the run goes on

Only `hub.cli` turns these into messages and exit codes. Modules below it raise, never print or exit.
Messages must never contain a secret: build them from names and places, and mask anything that came from
a credential with `hub.secrets.mask` before it reaches an f-string.
"""

from __future__ import annotations


class HubError(Exception):
    """Base of every deliberate pmo-hub error."""


class ConfigError(HubError):
    """Configuration or rule file is invalid. The message names the file, the key and the fix."""


class StateError(HubError):
    """The state store could not be opened, migrated or written."""


class SafetyCapError(HubError):
    """The planned write-back exceeds `sync.max_writes` / `sync.max_write_share`; nothing was written."""


class ConnectorError(HubError):
    """A source system could not be read or written."""

    def __init__(self, message: str, *, system: str, status: int | None = None, url: str | None = None):
        super().__init__(message)
        self.system = system
        self.status = status
        self.url = url


class RetriableError(ConnectorError):
    """A transient failure (429, 5xx, timeout, connection reset): retry with back-off."""


class RateLimitedError(RetriableError):
    """HTTP 429. `retry_after` is the server's Retry-After in seconds, when it sent one."""

    def __init__(self, message: str, *, system: str, retry_after: float | None = None, **kw):
        super().__init__(message, system=system, **kw)
        self.retry_after = retry_after


class FatalError(ConnectorError):
    """A failure that retrying cannot fix: authentication, permission, a malformed request."""


class ConflictError(FatalError):
    """Someone else changed the record since the hub read it (HTTP 412 or a changed hub-owned field)."""


class OutcomeUnknownError(FatalError):
    """A write that is not idempotent (a comment, a message) was sent but not answered in time, so it may or may
    not have landed. It is not sent again; write-back journals it as "unknown", and the next run's recovery asks
    the connector whether it landed before planning it again (so it is neither lost nor posted twice)."""


class SkippableError(ConnectorError):
    """One record could not be understood; it becomes an `error` result and the run goes on."""
