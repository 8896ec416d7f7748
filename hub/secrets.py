"""Secrets: read from the environment or from files, and masked everywhere text leaves the process.

A secret is never read from the TOML itself: config names an environment variable (`token_env`) or a file
(`token_file`). Every secret read through `read_secret` is registered, and `mask(text)` replaces any
registered value with `***`. Log handlers, error formatting in the CLI and report writers call `mask`.

A configured secret is masked in the forms it takes when text is escaped or encoded on its way out too: JSON-
escaped, URL-encoded and base64 (a server may echo an Authorization header; a JSON log line escapes what it
quotes). A value pasted where the name of its variable or file belongs is not repeated in the error about it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from pathlib import Path
from urllib.parse import quote, quote_plus

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
                _known.update(encodings(value))
            _ordered = tuple(sorted(_known | set(_ephemeral), key=len, reverse=True))
    return value


def register_private_key(pem: str) -> None:
    """Register the private key(s) in a PEM text (a service-account key, a certificate credential's key): each
    key block and each of its base64 lines, since a message may quote one line. Certificates are public."""
    for block in re.findall(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", pem, re.S):
        register(block)
        for line in block.splitlines():
            if len(line) > 16 and "PRIVATE KEY" not in line:
                register(line)


def encodings(value: str) -> set[str]:
    """`value` and the forms it takes when escaped or encoded: JSON-escaped, URL-encoded, base64 (standard and
    URL-safe, with and without padding)."""
    raw = value.encode()
    out = {value, json.dumps(value)[1:-1], quote(value, safe=""), quote_plus(value)}
    for enc in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()):
        out |= {enc, enc.rstrip("=")}
    return {f for f in out if len(f) >= MIN_SECRET_LEN}


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
        if not ENV_NAME.fullmatch(env):  # not a variable's name: perhaps the secret itself, so not repeated
            raise ConfigError(f"{where}: the value is not the name of an environment variable (letters, digits and "
                              "_): name the variable that holds the secret, never the secret itself")
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
            if not path.exists() and _looks_like_a_secret(path.name):
                raise ConfigError(f"{where}: no such file in {path.parent}, and its name looks like a token or key "
                                  "rather than a file name (so it is not shown): name the file that holds the secret"
                                  ) from None
            raise ConfigError(f"{where}: cannot read secret file {path}: {e.strerror}") from e
        if not value:
            raise ConfigError(f"{where}: secret file {path} is empty")
        return register(value)
    raise ConfigError(f"{where}: no secret configured; set an environment variable name or a file path")


ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _looks_like_a_secret(text: str) -> bool:
    """A long run of token characters without a path separator or a file extension: a pasted token, not a path."""
    return (len(text) >= 24 and re.fullmatch(r"[A-Za-z0-9_\-+=~.:]+", text) is not None
            and not re.search(r"\.[A-Za-z]{1,5}$", text)
            and all(re.search(c, text) for c in ("[a-z]", "[A-Z]", "[0-9]")))
