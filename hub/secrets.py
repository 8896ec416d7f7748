"""Secrets: read from the environment or from files, and masked everywhere text leaves the process.

A secret is never read from the TOML itself: config names an environment variable (`token_env`) or a file
(`token_file`). Every secret read through `read_secret` is registered, and `mask(text)` replaces any
registered value with `***`. Log handlers, error formatting in the CLI and report writers call `mask`.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from hub.errors import ConfigError

_known: set[str] = set()  # configured secrets: kept for the life of the process
_ephemeral: dict[str, None] = {}  # short-lived access tokens, oldest first, at most MAX_EPHEMERAL
_lock = threading.Lock()
_ordered: tuple[str, ...] = ()  # every value, longest first (what `mask` replaces), rebuilt on change
MIN_SECRET_LEN = 4  # shorter values would mask ordinary words
MAX_EPHEMERAL = 64  # a long-running scheduler refreshes tokens hourly: keep the recent ones, not every one


def register(value: str, *, ephemeral: bool = False) -> str:
    """Remember `value` so `mask` hides it; returns it unchanged. `ephemeral`: a short-lived access token, one
    of the MAX_EPHEMERAL most recent kept (an expired token is useless, and the set must not grow forever)."""
    global _ordered
    if value and len(value) >= MIN_SECRET_LEN:
        with _lock:
            if value in _known or value in _ephemeral:
                return value
            if ephemeral:
                _ephemeral[value] = None
                while len(_ephemeral) > MAX_EPHEMERAL:
                    del _ephemeral[next(iter(_ephemeral))]
            else:
                _known.add(value)
            _ordered = tuple(sorted(_known | set(_ephemeral), key=len, reverse=True))
    return value


def mask(text: str) -> str:
    """Replace every registered secret in `text` with ***."""
    if not text:
        return text
    for v in _ordered:
        if v in text:
            text = text.replace(v, "***")
    return text


def read_secret(*, env: str | None, file: str | None, where: str) -> str:
    """Read a secret from the environment variable `env` or the file `file` (first line, stripped).

    `where` names the config key for error messages, e.g. "jira.token_env".
    """
    if env:
        value = os.environ.get(env)
        if value:
            return register(value.strip())
        if not file:
            raise ConfigError(f"{where}: environment variable {env} is not set; export it or set a *_file instead")
    if file:
        path = Path(file).expanduser()
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ConfigError(f"{where}: cannot read secret file {path}: {e.strerror}") from e
        if not value:
            raise ConfigError(f"{where}: secret file {path} is empty")
        return register(value)
    raise ConfigError(f"{where}: no secret configured; set an environment variable name or a file path")
