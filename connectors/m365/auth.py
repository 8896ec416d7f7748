"""Tokens for Microsoft Graph through msal, with one application object per tenant and a persisted cache.

    cred = AppCredential(settings, secret="...", cache_file=Path(".../m365-token-cache.json"), policy=policy)
    cred.token()          # a bearer token: from the cache while it is valid, else from the token endpoint
    cred.invalidate(tok)  # after Graph answered 401 InvalidAuthenticationToken: forget it, so the next
                          # token() fetches a fresh one

- App-only client credentials (`acquire_token_for_client`) with a client secret or a certificate (a PEM with the
  private key and its certificate; msal signs the assertion and sends the SHA-256 thumbprint).
- A tenant-specific authority, `https://{login_host}/{tenant}`, never /common; the login and Graph hosts are
  configurable (national clouds, the sandbox). For a host msal does not know (the sandbox) instance discovery is
  off (`instance_discovery=False`): msal then reads `{authority}/v2.0/.well-known/openid-configuration` from that
  host. msal accepts only https authorities, so the sandbox serves TLS and `ca_file` names its CA.
- One `ConfidentialClientApplication` per (authority, client id, credential, cache file) for the life of the
  process (`_APPS`): a scheduler building new connectors every run reuses it and its in-memory cache.
- The token cache is a `SerializableTokenCache` persisted to `cache_file` (by default beside the state database)
  with owner-only (0600) permissions, written atomically whenever msal changed it.
- TLS: msal and the Graph client use `HubSession`, whose HTTPS goes through `connectors.http.TLSAdapter`:
  certificates are verified against `m365.ca_file` (or the system's CAs), except for the hosts named in
  `m365.tls_insecure_hosts`. (A session's own `verify` attribute would lose to REQUESTS_CA_BUNDLE in requests.)

Errors: msal's error responses and transport failures become `hub.errors` (bad secret, unknown app or tenant:
`FatalError`; 5xx, throttling, resets: `RetriableError`, retried by the shared policy). Tokens are registered
with `hub.secrets` so they are masked wherever text leaves the process; nothing here logs a token or a secret.
The delegated device-code flow (`DeviceCodeCredential`) is optional and signs in a person once.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Any, Callable

import msal
import requests

from connectors.http import TLS, RetryPolicy, classify, classify_transport, error_detail
from connectors.m365.settings import M365Settings
from hub.errors import ConfigError, FatalError, RetriableError
from hub.files import private_dir, private_file
from hub.secrets import mask, register, register_private_key

SYSTEM = "m365"
log = logging.getLogger("pmo_hub.m365.auth")
_KNOWN_HOSTS = frozenset(getattr(msal.authority, "WELL_KNOWN_AUTHORITY_HOSTS", ()))
_RETRIABLE_AAD = {"temporarily_unavailable", "server_error", "service_unavailable"}


class HubSession(requests.Session):
    """A requests session that verifies TLS as `verify` says (a `TLS`, or requests' bool / CA path) and applies a
    timeout to every request it sends."""

    def __init__(self, *, verify: TLS | bool | str = True, timeout: float = 30.0):
        super().__init__()
        if verify is False:
            raise ValueError("TLS verification cannot be switched off for a whole session; name the host in "
                             "m365.tls_insecure_hosts")
        self._verify = verify if isinstance(verify, TLS) else TLS(SYSTEM, verify if isinstance(verify, str) else None)
        self._verify.mount(self)
        self._timeout = timeout
        self.headers["User-Agent"] = "pmo-hub"

    def request(self, method: str, url: str, **kw: Any) -> requests.Response:  # type: ignore[override]
        kw.setdefault("timeout", self._timeout)
        return super().request(method, url, **kw)


class TokenCacheFile:
    """An msal `SerializableTokenCache` kept in one owner-only file."""

    def __init__(self, path: Path):
        self.path = path
        self.cache = msal.SerializableTokenCache()
        self.lock = threading.Lock()
        if path.exists():
            try:
                os.chmod(path, 0o600)
                self.cache.deserialize(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:  # a corrupt cache costs one token request, nothing more
                log.warning("ignoring unreadable token cache %s (%s)", path, type(e).__name__)
                self.cache = msal.SerializableTokenCache()

    def save(self) -> None:
        with self.lock:
            if not self.cache.has_state_changed:
                return
            data = self.cache.serialize()
            try:
                private_dir(self.path.parent)
                tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(data)
                os.replace(tmp, self.path)
                os.chmod(self.path, 0o600)
            except OSError as e:
                raise ConfigError(f"m365: cannot write the token cache {self.path}: {e.strerror}") from e
            self.cache.has_state_changed = False


_LOCK = threading.Lock()
_CACHES: dict[str, TokenCacheFile] = {}
_APPS: dict[tuple, tuple[msal.ClientApplication, threading.Lock]] = {}


def cache_file(path: Path) -> TokenCacheFile:
    """The process's one `TokenCacheFile` for `path` (the file tightened to owner-only if someone loosened it)."""
    key = str(path.resolve())
    with _LOCK:
        if key not in _CACHES:
            _CACHES[key] = TokenCacheFile(path)
        elif path.exists():
            private_file(path)
        return _CACHES[key]


def _verify(settings: M365Settings, base_dir: Path | None) -> TLS:
    """How Graph and the login host are verified (`m365.ca_file`, `m365.tls_insecure_hosts`)."""
    if not settings.ca_file:
        return TLS.of(SYSTEM, settings)
    p = Path(settings.ca_file).expanduser()
    if not p.is_absolute() and base_dir is not None:
        p = base_dir / p
    if not p.is_file():
        raise ConfigError(f"m365.ca_file: {p} does not exist")
    return TLS(SYSTEM, str(p), tuple(settings.tls_insecure_hosts))


def _wrap_msal_call(what: str, fn: Callable[[], Any]) -> Any:
    """Run an msal call, turning transport and HTTP failures into classified hub errors."""
    try:
        return fn()
    except requests.HTTPError as e:
        resp = e.response
        status = resp.status_code if resp is not None else 503
        raise classify(SYSTEM, status, url=resp.url if resp is not None else None,
                       detail=error_detail(resp) if resp is not None else "",
                       retry_after=resp.headers.get("Retry-After") if resp is not None else None,
                       action=what) from e
    except requests.RequestException as e:
        raise classify_transport(SYSTEM, e, action=what) from e
    except ValueError as e:  # msal: authority metadata unreadable, a malformed credential
        raise FatalError(f"m365: {what}: {mask(str(e))[:300]}", system=SYSTEM) from e


def _result_error(what: str, result: dict) -> Exception:
    err = str(result.get("error") or "unknown_error")
    desc = mask(str(result.get("error_description") or "")).split("\r\n")[0].split("\n")[0][:300]
    msg = f"m365: {what}: {err}" + (f" - {desc}" if desc else "")
    if err in _RETRIABLE_AAD:
        return RetriableError(msg, system=SYSTEM)
    if err in ("invalid_client", "unauthorized_client"):
        msg += " (check m365.client_id and the secret or certificate of the app registration)"
    elif err in ("invalid_tenant", "invalid_request") and "90002" in desc:
        msg += " (check m365.tenant_id)"
    return FatalError(msg, system=SYSTEM)


class AppCredential:
    """App-only (client credentials) tokens for Graph; see the module docstring."""

    def __init__(self, settings: M365Settings, *, secret: str | None = None, certificate_pem: str | None = None,
                 certificate_password: str | None = None, cache_path: Path, policy: RetryPolicy,
                 base_dir: Path | None = None):
        if not secret and not certificate_pem:
            raise ConfigError("m365: a client secret or a certificate is needed for app-only sign-in")
        self.settings = settings
        self.policy = policy
        self.cache = cache_file(cache_path)
        self.verify = _verify(settings, base_dir)
        if certificate_pem:
            register_private_key(certificate_pem)
            self._credential: Any = {"private_key": certificate_pem, "public_certificate": certificate_pem}
            if certificate_password:
                self._credential["passphrase"] = certificate_password
            fingerprint = hashlib.sha256(certificate_pem.encode()).hexdigest()
        else:
            self._credential = secret
            fingerprint = hashlib.sha256((secret or "").encode()).hexdigest()
        self._key = (settings.authority.lower(), settings.client_id, fingerprint, str(cache_path.resolve()),
                     str(self.verify))
        self.token_requests = 0  # tokens fetched from the token endpoint (not from the cache)
        self.counter: Any = None  # a connector's request Counter: token endpoint requests are counted there too

    def _app(self) -> tuple[msal.ClientApplication, threading.Lock]:
        with _LOCK:
            entry = _APPS.get(self._key)
        if entry is not None:
            return entry
        s = self.settings
        known = s.login_host.split(":")[0].lower() in _KNOWN_HOSTS

        def build() -> msal.ConfidentialClientApplication:
            return _wrap_msal_call("reading the sign-in metadata of the tenant", lambda: msal.ConfidentialClientApplication(
                s.client_id, client_credential=self._credential, authority=s.authority,
                token_cache=self.cache.cache, http_client=HubSession(verify=self.verify, timeout=s.timeout_s),
                instance_discovery=None if known else False))

        app = self.policy.call(build)
        with _LOCK:
            entry = _APPS.setdefault(self._key, (app, threading.Lock()))
        return entry

    def token(self) -> str:
        app, lock = self._app()
        scopes = [self.settings.scope]

        def attempt() -> dict:
            return _wrap_msal_call("signing in (client credentials)", lambda: app.acquire_token_for_client(scopes))

        with lock:
            result = self.policy.call(lambda: self._checked(attempt()))
            if result.get("token_source") != "cache":
                self.token_requests += 1
                if self.counter is not None:
                    self.counter["POST oauth2/v2.0/token"] += 1
            self.cache.save()
        return register(result["access_token"], ephemeral=True)

    @staticmethod
    def _checked(result: dict) -> dict:
        if "access_token" not in result:
            raise _result_error("signing in (client credentials)", result)
        return result

    def invalidate(self, token: str) -> None:
        """Forget `token` (Graph rejected it): the next `token()` asks the token endpoint for a new one."""
        app, lock = self._app()
        with lock:
            cache = app.token_cache
            for at in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN,
                                        query={"client_id": self.settings.client_id})):
                if at.get("secret") == token:
                    cache.remove_at(at)
            self.cache.save()


class DeviceCodeCredential:
    """Delegated tokens for a person signed in once with the device-code flow (optional).

    `sign_in(show)` starts the flow, passes msal's instruction text ("To sign in, use a web browser to open
    ... and enter the code ...") to `show`, and waits for the person; later `token()` uses the cached account
    silently. Only `hub.cli` should call `sign_in` (it owns the terminal).
    """

    def __init__(self, settings: M365Settings, *, scopes: list[str], cache_path: Path, policy: RetryPolicy,
                 base_dir: Path | None = None):
        self.settings = settings
        self.scopes = [sc if "://" in sc else f"{settings.graph_url}/{sc}" for sc in scopes]
        self.policy = policy
        self.cache = cache_file(cache_path)
        self.verify = _verify(settings, base_dir)
        self._key = ("device", settings.authority.lower(), settings.client_id, str(cache_path.resolve()))

    def _app(self) -> tuple[msal.ClientApplication, threading.Lock]:
        with _LOCK:
            entry = _APPS.get(self._key)
        if entry is None:
            s = self.settings
            known = s.login_host.split(":")[0].lower() in _KNOWN_HOSTS
            app = self.policy.call(lambda: _wrap_msal_call("reading the sign-in metadata", lambda: msal.PublicClientApplication(
                s.client_id, authority=s.authority, token_cache=self.cache.cache,
                http_client=HubSession(verify=self.verify, timeout=s.timeout_s),
                instance_discovery=None if known else False)))
            with _LOCK:
                entry = _APPS.setdefault(self._key, (app, threading.Lock()))
        return entry

    def sign_in(self, show: Callable[[str], None]) -> None:
        app, lock = self._app()
        flow = _wrap_msal_call("starting device-code sign-in", lambda: app.initiate_device_flow(scopes=self.scopes))
        if "user_code" not in flow:
            raise _result_error("starting device-code sign-in", flow)
        show(flow["message"])
        result = _wrap_msal_call("device-code sign-in", lambda: app.acquire_token_by_device_flow(flow))
        if "access_token" not in result:
            raise _result_error("device-code sign-in", result)
        register(result["access_token"], ephemeral=True)
        with lock:
            self.cache.save()

    def token(self) -> str:
        app, lock = self._app()
        with lock:
            accounts = app.get_accounts()
            if not accounts:
                raise FatalError("m365: no signed-in account in the token cache; sign in with the device code first: "
                                 "run `pmo-hub login --config PATH` once",
                                 system=SYSTEM)
            result = self.policy.call(lambda: _wrap_msal_call(
                "refreshing the delegated token", lambda: app.acquire_token_silent(self.scopes, account=accounts[0])))
            if not result or "access_token" not in result:
                raise FatalError("m365: the signed-in account's token can no longer be refreshed; sign in again",
                                 system=SYSTEM)
            self.cache.save()
        return register(result["access_token"], ephemeral=True)

    def invalidate(self, token: str) -> None:
        app, lock = self._app()
        with lock:
            for at in list(app.token_cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                if at.get("secret") == token:
                    app.token_cache.remove_at(at)
            self.cache.save()
