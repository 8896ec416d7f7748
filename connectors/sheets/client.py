"""A small Google Sheets client on gspread: every call classified, retried by the shared policy and counted.

gspread does the HTTP, through a google-auth `AuthorizedSession` holding service-account credentials read from
a JSON key file (google-auth fetches and refreshes the access token at the key file's `token_uri`, and
re-sends a request once after a 401). `RebasedSession` sends what gspread addresses to
https://sheets.googleapis.com and https://www.googleapis.com to the configured `api_url` and `drive_url`
instead (and google-auth's Regional Access Boundary lookup at https://iamcredentials.googleapis.com to
`iam_url`), so the sandbox, a proxy or another Google universe can stand in; TLS is always verified (against
`sheets.ca_file` when set), except for the hosts named in `sheets.tls_insecure_hosts`.

Calls (one HTTP request each, plus token requests google-auth makes when needed):

    file_meta(id)              Drive files.get: name, modifiedTime (is a re-read needed?)
    spreadsheet(id)            spreadsheets.get, no grid data: title, locale, tabs and their grid sizes
    batch_get(id, ranges)      values:batchGet, UNFORMATTED_VALUE with serial dates: every tab in one request
    update_values(id, data)    values:batchUpdate with valueInputOption RAW: text is stored as text, so text
                               from another tool ("=HYPERLINK(...)") can never become a formula
    update_structure(id, reqs) spreadsheets:batchUpdate (add the results tab, grow a grid)

Errors become `hub.errors` (connectors.http.classify): 429 and 5xx retriable, other 4xx fatal, a token-endpoint
refusal fatal; key material and tokens never reach a message.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Callable, TypeVar

import gspread
import requests
from google.auth import exceptions as google_auth_errors
from google.auth.transport.requests import AuthorizedSession
from google.auth.transport.requests import Request as GoogleRequest
from google.oauth2 import service_account

from connectors.http import (TLS, RETRIABLE_STATUS, RetryPolicy, classify, classify_transport, create_once,
                             error_detail)
from hub.errors import ConfigError, FatalError, RateLimitedError, RetriableError
from hub.secrets import mask, register, register_private_key

T = TypeVar("T")
SYSTEM = "sheets"
SHEETS_HOST = "https://sheets.googleapis.com"
GOOGLEAPIS_HOST = "https://www.googleapis.com"
IAM_HOST = "https://iamcredentials.googleapis.com"  # google-auth's Regional Access Boundary lookup
# least privilege: the spreadsheets, and Drive file metadata (modifiedTime) only; read-only when nothing is written
SCOPES = ("https://www.googleapis.com/auth/spreadsheets", "https://www.googleapis.com/auth/drive.metadata.readonly")
READ_SCOPES = ("https://www.googleapis.com/auth/spreadsheets.readonly",
               "https://www.googleapis.com/auth/drive.metadata.readonly")
READ_PARAMS = {"valueRenderOption": "UNFORMATTED_VALUE", "dateTimeRenderOption": "SERIAL_NUMBER",
               "majorDimension": "ROWS"}
QUOTA_WINDOW_S = 60.0  # Sheets' read and write quotas are counted per minute
METADATA_FIELDS = ("spreadsheetId,properties(title,locale,timeZone),"
                   "sheets(properties(sheetId,title,index,gridProperties(rowCount,columnCount)))")


def load_credentials(path: Path, *, scopes: tuple[str, ...] = SCOPES) -> service_account.Credentials:
    """Service-account credentials from a JSON key file, for `scopes` (READ_SCOPES when nothing is written).
    ConfigError (naming the file, never its content)."""
    where = "sheets.credentials_file"
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ConfigError(f"{where}: key file {path} not found (download a JSON key for the service account)") from e
    except OSError as e:
        raise ConfigError(f"{where}: cannot read key file {path}: {e.strerror}") from e
    except ValueError as e:
        line = getattr(e, "lineno", "?")
        raise ConfigError(f"{where}: {path} is not a JSON key file (invalid JSON at line {line})") from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise ConfigError(f"{where}: {path} is not a service-account key (its \"type\" must be \"service_account\")")
    missing = [k for k in ("client_email", "private_key", "token_uri") if not info.get(k)]
    if missing:
        raise ConfigError(f"{where}: {path} lacks {', '.join(missing)}")
    register(str(info["private_key"]))
    register_private_key(str(info["private_key"]))  # each line too: a message may quote one
    try:
        return service_account.Credentials.from_service_account_info(info, scopes=list(scopes))
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{where}: {path}: the private key cannot be read ({type(e).__name__})") from None


def _rebase(url: str, rewrites: list[tuple[str, str]]) -> str:
    for src, dst in rewrites:
        if url == src or url.startswith(src + "/"):
            return dst + url[len(src):]
    return url


class _RebasedPlainSession(requests.Session):
    """The session google-auth uses for its own calls (token refresh, Regional Access Boundary lookup)."""

    def __init__(self, rewrites: list[tuple[str, str]], tls: TLS):
        super().__init__()
        self._rewrites = rewrites
        tls.mount(self, max_retries=3)  # (connection retries as google-auth's default session has them)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        return super().request(method, _rebase(url, self._rewrites), *args, **kwargs)


class _TokenRequest(GoogleRequest):
    """google-auth's transport for its own calls (the token endpoint), which turns a throttled or failing token
    endpoint (429, 5xx) into the hub's classified error, Retry-After included. google-auth would otherwise retry
    it three times within a few seconds on its own, ignoring Retry-After, and then report a 429 as "refused":
    this way the shared policy waits as the server asks and says what happened."""

    def __call__(self, url: str, method: str = "GET", body: Any = None, headers: Any = None, timeout: Any = None,
                 **kwargs: Any) -> Any:
        resp = super().__call__(url, method=method, body=body, headers=headers, timeout=timeout, **kwargs)
        if resp.status in RETRIABLE_STATUS:
            raise classify(SYSTEM, resp.status, url=_safe_url(url), detail=_token_error(resp.data),
                           retry_after=resp.headers.get("Retry-After"),
                           action="getting an access token for the service account")
        return resp


def _token_error(data: bytes) -> str:
    """The human part of a token endpoint's error body (OAuth's error/error_description, or Google's error)."""
    try:
        body = json.loads(data or b"{}")
    except ValueError:
        return data[:200].decode("utf-8", "replace") if data else ""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return str(err.get("message") or err.get("status") or "")
        return " - ".join(str(v) for v in (err, body.get("error_description")) if v)
    return ""


class RebasedSession(AuthorizedSession):
    """An AuthorizedSession that sends Google API requests to other base URLs (the sandbox, a proxy).

    `rewrites` are (Google base URL, replacement) pairs. They apply to gspread's API calls and to google-auth's
    own calls (its Regional Access Boundary lookup at https://iamcredentials.googleapis.com), so nothing reaches
    a real Google host when another one stands in. The token endpoint is the key file's `token_uri`.
    """

    def __init__(self, credentials: Any, *, rewrites: list[tuple[str, str]], tls: TLS | None = None):
        tls = tls or TLS(SYSTEM)
        self._rewrites = [(src.rstrip("/"), dst.rstrip("/")) for src, dst in rewrites
                          if src.rstrip("/") != dst.rstrip("/")]
        self._plain = _RebasedPlainSession(self._rewrites, tls)
        super().__init__(credentials, auth_request=_TokenRequest(self._plain))
        tls.mount(self)  # every HTTPS request verified as [sheets] says (ca_file, tls_insecure_hosts)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        return super().request(method, _rebase(url, self._rewrites), *args, **kwargs)

    def close(self) -> None:
        super().close()
        self._plain.close()


class SheetsClient:
    def __init__(self, *, credentials: service_account.Credentials, api_url: str = SHEETS_HOST,
                 drive_url: str = GOOGLEAPIS_HOST, iam_url: str = IAM_HOST, policy: RetryPolicy,
                 timeout: float = 60.0, tls: TLS | None = None):
        self.policy = policy
        self.requests: Counter[str] = Counter()
        self.account = credentials.service_account_email
        tls = tls or TLS(SYSTEM)
        tls.warn()
        self.session = RebasedSession(credentials, rewrites=[(SHEETS_HOST, api_url), (GOOGLEAPIS_HOST, drive_url),
                                                             (IAM_HOST, iam_url)], tls=tls)
        self.gc = gspread.Client(auth=credentials, session=self.session)
        self.gc.set_timeout(timeout)
        self.http = self.gc.http_client

    # ---- plumbing --------------------------------------------------------------------------------------
    def _call(self, fn: Callable[[], T], action: str, count_as: str) -> T:
        return self.policy.call(lambda: self._once(fn, action, count_as))

    def _once(self, fn: Callable[[], T], action: str, count_as: str) -> T:
        """One try of `fn`, its failure classified (RetriableError / FatalError), not retried here."""
        self.requests[count_as] += 1
        try:
            return fn()
        except gspread.exceptions.APIError as e:
            resp = e.response
            detail = error_detail(resp)
            err = classify(SYSTEM, resp.status_code, url=_safe_url(resp.url), detail=detail,
                           retry_after=resp.headers.get("Retry-After"), action=action)
            if resp.status_code in (403, 404):
                err.args = (f"{err.args[0]} (is the spreadsheet shared with {self.account}, and is the id "
                            "right?)",)
            elif isinstance(err, RateLimitedError) and err.retry_after is None:
                # Google answers an exhausted quota with 429 and no Retry-After; Sheets' quotas are per minute, so
                # waiting for the next minute (each wait capped by [retry] max_wait_s) is what lets it refill
                err.retry_after = QUOTA_WINDOW_S
                err.wait_reason = f"Sheets quotas are per minute, so it waits up to {QUOTA_WINDOW_S:g} s"
            raise err from e
        except google_auth_errors.RefreshError as e:
            text = mask(str(e.args[0]) if e.args else type(e).__name__)[:200]
            msg = f"sheets: {action}: the token endpoint refused the service account: {text}"
            if getattr(e, "retryable", False):
                raise RetriableError(msg, system=SYSTEM) from e
            raise FatalError(msg + " (check the key file and that the key is not revoked)", system=SYSTEM) from e
        except google_auth_errors.TransportError as e:
            cause = e.__cause__ if isinstance(e.__cause__, requests.RequestException) else None
            if cause is not None:  # say what went wrong (a timeout, a reset, a TLS failure), classified as such
                raise classify_transport(SYSTEM, cause, action=f"{action}: getting an access token") from e
            raise RetriableError(f"sheets: {action}: cannot reach the token endpoint ({type(e).__name__})",
                                 system=SYSTEM) from e
        except requests.RequestException as e:
            if isinstance(e, requests.exceptions.JSONDecodeError):
                raise RetriableError(f"sheets: {action}: the response was not valid JSON", system=SYSTEM) from e
            raise classify_transport(SYSTEM, e, action=action) from e
        except ValueError as e:  # a 2xx whose body is not JSON (a proxy's error page, a truncated body)
            raise RetriableError(f"sheets: {action}: the response was not valid JSON", system=SYSTEM) from e

    # ---- reads -----------------------------------------------------------------------------------------
    def file_meta(self, key: str) -> dict:
        return self._call(lambda: self.http.get_file_drive_metadata(key), f"reading Drive metadata of {key}",
                          "GET drive/files")

    def spreadsheet(self, key: str) -> dict:
        params = {"includeGridData": "false", "fields": METADATA_FIELDS}
        return self._call(lambda: self.http.fetch_sheet_metadata(key, params=params), f"opening spreadsheet {key}",
                          "GET spreadsheets")

    def batch_get(self, key: str, ranges: list[str]) -> list[dict]:
        data = self._call(lambda: self.http.values_batch_get(key, list(ranges), params=dict(READ_PARAMS)),
                          f"reading {len(ranges)} tab(s) of {key}", "GET values:batchGet")
        got = data.get("valueRanges") if isinstance(data, dict) else None
        if not isinstance(got, list) or len(got) != len(ranges):
            raise FatalError(f"sheets: reading {key}: values:batchGet answered {len(got or [])} ranges for "
                             f"{len(ranges)} requested", system=SYSTEM)
        return got

    # ---- writes ----------------------------------------------------------------------------------------
    def update_values(self, key: str, data: list[dict]) -> dict:
        body = {"valueInputOption": "RAW", "includeValuesInResponse": False, "data": data}
        return self._call(lambda: self.http.values_batch_update(key, body=body),
                          f"writing {len(data)} range(s) to {key}", "POST values:batchUpdate")

    def update_structure(self, key: str, requests_: list[dict], *, landed: Callable[[], bool] | None = None) -> dict:
        """spreadsheets:batchUpdate. Adding a tab or rows is not idempotent, so a try whose outcome is unknown (a
        timeout, a reset, a cut or garbled answer, a 500/502/504) is not simply sent again: `landed()` first asks
        whether the change is already there, and a repeat refused because it is (a tab of that name exists) counts
        as done when `landed()` says so. 429 and 503 (refused, nothing changed) are sent again as usual."""
        action = f"changing the structure of {key}"
        return create_once(self.policy, lambda: self._once(lambda: self.http.batch_update(key, {"requests": requests_}),
                                                           action, "POST spreadsheets:batchUpdate"),
                           landed=(lambda: {} if landed() else None) if landed is not None else None,
                           already=lambda e: e.status == 400)

    def close(self) -> None:
        self.session.close()


def _safe_url(url: str | None) -> str | None:
    """The URL without its query string (ranges can be long; nothing secret is in it, but keep messages short)."""
    return url.split("?", 1)[0] if url else url
