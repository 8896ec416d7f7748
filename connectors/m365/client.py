"""A small Microsoft Graph client on requests: every call classified and retried by the shared policy.

    client = GraphClient(graph_url="https://graph.microsoft.com", credential=cred, policy=policy)
    client.get("sites/contoso.sharepoint.com:/sites/PMO")
    for page in client.pages("sites/{id}/lists/{id}/columns"): ...
    items, link = client.delta("sites/{id}/lists/{id}", link=None, page_size=200)   # DeltaExpired on 410
    items, link = client.delta(path, link=link, page_size=200, first=page)      # page: read inside a $batch
    out = client.batch([BatchRequest("1", "PATCH", "/sites/.../fields", body={...})])

- Authentication: a bearer token from the credential (msal, `connectors.m365.auth`) on every request. A 401
  with `InvalidAuthenticationToken` (expired or revoked before msal's cache says so) makes the credential forget
  that token and the request is sent once more with a fresh one.
- Errors: `connectors.http.check_response` classifies every non-2xx (429/5xx retriable with Retry-After, other
  4xx fatal, 412 a conflict); the shared `RetryPolicy` retries the retriable ones.
- Paging follows `@odata.nextLink` and refuses a link it has already followed ("loop detected").
- A 2xx whose body is not JSON (cut short, a proxy's error page) is retried like a 5xx.
- `create` POSTs what is not idempotent (a channel message, a mail) so that it is never sent twice: an unknown
  outcome is looked for before it is sent again, and a POST with no answer in time is not sent again
  (`OutcomeUnknownError`: the next run's recovery looks for it); see `connectors.http.create_once`.
- `$batch` sends at most 20 requests per call. Each inner response is settled on its own: an inner 429 or 5xx
  is sent again alone in a later batch (after its own Retry-After, capped and accounted by the shared policy),
  never the whole batch; any other inner failure is returned to the caller as that request's outcome. The
  policy's budget applies to the batch as a whole: it goes on while each round settles some request, and gives
  up on the rest after max_attempts rounds, or max_total_s, without progress.
- HTTP requests are counted in `requests` ("GET lists/items/delta", "POST $batch"), the requests inside
  batches in `batched` ("PATCH lists/items/fields").
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator
from urllib.parse import quote

import requests

from connectors.http import (RETRIABLE_STATUS, TLS, RetryPolicy, check_response, classify, classify_transport,
                             create_once, parse_retry_after)
from connectors.m365.auth import HubSession
from hub.errors import ConnectorError, FatalError, OutcomeUnknownError, RetriableError
from hub.secrets import mask

SYSTEM = "m365"
BATCH_MAX = 20
log = logging.getLogger("pmo_hub.m365.client")


class DeltaExpired(Exception):
    """The delta token is no longer valid (HTTP 410 resyncRequired): enumerate the list again from scratch."""


@dataclass
class BatchRequest:
    id: str
    method: str
    url: str  # relative to the version root, e.g. "/planner/plans/abc/tasks"
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    count_as: str = ""

    def to_json(self) -> dict:
        out: dict[str, Any] = {"id": self.id, "method": self.method, "url": self.url}
        headers = dict(self.headers)
        if self.body is not None:
            out["body"] = self.body
            headers.setdefault("Content-Type", "application/json")
        if headers:
            out["headers"] = headers
        return out


@dataclass
class BatchResponse:
    id: str
    status: int
    headers: dict[str, str]
    body: Any
    gave_up: str = ""  # a throttled or failing request no longer sent again: how many tries, how long

    @property
    def ok(self) -> bool:
        return self.status < 400

    def header(self, name: str) -> str | None:
        for k, v in self.headers.items():
            if k.lower() == name.lower():
                return v
        return None

    def error(self, action: str) -> ConnectorError:
        detail = ""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            detail = str(self.body["error"].get("message") or self.body["error"].get("code") or "")
        err = classify(SYSTEM, self.status, url=None, detail=detail, retry_after=self.header("Retry-After"),
                       action=action)
        if self.gave_up:
            err.args = (f"{err.args[0]} ({self.gave_up})",)
            err.gave_up = True  # type: ignore[attr-defined]  (an enclosing retry must not start over)
        return err


def route_name(path: str) -> str:
    """A request's route for counting: ids dropped, "sites/x/lists/y/items/delta" -> "lists/items/delta"."""
    path = path.split("?", 1)[0]
    path = re.sub(r"^https?://[^/]+", "", path).removeprefix("/v1.0").strip("/")
    keep = {"sites", "lists", "items", "delta", "delta()", "fields", "columns", "drive", "workbook", "worksheets",
            "planner", "plans", "tasks", "details", "buckets", "groups", "users", "sendMail", "teams", "channels",
            "messages", "mailFolders", "$batch"}
    parts = [p for p in path.split("/") if p in keep or p.startswith(("range(", "usedRange", "root:"))]
    parts = [("range" if p.startswith("range(") else "usedRange" if p.startswith("usedRange") else
              "root:" if p.startswith("root:") else p) for p in parts]
    if parts and parts[0] == "sites" and len(parts) > 1:
        parts = parts[1:]
    return "/".join(parts) or path


class GraphClient:
    def __init__(self, *, graph_url: str, credential: Any, policy: RetryPolicy, verify: TLS | bool | str = True,
                 timeout: float = 30.0, counter: Counter | None = None):
        self.base = graph_url.rstrip("/") + "/v1.0"
        self.credential = credential
        self.policy = policy
        self.timeout = timeout
        self.session = HubSession(verify=verify, timeout=timeout)
        self.session._verify.warn()  # (every run: a host whose certificate is not verified is said so)
        self.session.headers["Accept"] = "application/json"
        self.requests: Counter[str] = counter if counter is not None else Counter()  # HTTP requests sent
        self.batched: Counter[str] = Counter()  # requests sent inside $batch (not HTTP requests of their own)
        self.token_refreshes = 0  # 401 InvalidAuthenticationToken answered by fetching a new token

    def url(self, path: str) -> str:
        if path.startswith("https://") or path.startswith("http://"):
            return path
        return f"{self.base}/{path.lstrip('/')}"

    # ---- plumbing --------------------------------------------------------------------------------------
    def send(self, method: str, path: str, *, params: dict | None = None, json: Any = None,
             headers: dict | None = None, action: str, count_as: str | None = None) -> requests.Response:
        """One request under the shared retry policy; returns the 2xx response or raises a hub error."""
        return self.policy.call(lambda: self._once(method, path, params=params, json=json, headers=headers,
                                                   action=action, count_as=count_as))

    def _once(self, method: str, path: str, *, params: dict | None = None, json: Any = None,
              headers: dict | None = None, action: str, count_as: str | None = None) -> requests.Response:
        """One try (a 401 for an expired token is answered once with a fresh token); a failure is classified."""
        url = self.url(path)
        name = count_as or f"{method} {route_name(path)}"
        for refreshed in (False, True):
            token = self.credential.token()
            hdrs = {**(headers or {}), "Authorization": f"Bearer {token}"}
            try:
                self.requests[name] += 1
                resp = self.session.request(method, url, params=params, json=json, headers=hdrs)
            except requests.RequestException as e:
                raise classify_transport(SYSTEM, e, action=action) from e
            if resp.status_code == 401 and not refreshed and _graph_code(resp) == "InvalidAuthenticationToken":
                log.info("m365: Graph rejected the access token while %s (%s); fetching a new one",
                         action, mask(_graph_message(resp))[:120])
                self.credential.invalidate(token)
                self.token_refreshes += 1
                continue
            return check_response(SYSTEM, resp, action=action)
        raise AssertionError("unreachable")

    def get(self, path: str, *, params: dict | None = None, action: str, count_as: str | None = None) -> Any:
        """GET and parse JSON. A 2xx whose body is not JSON (cut short, a proxy's error page) is retried."""
        def attempt() -> Any:
            resp = self._once("GET", path, params=params, action=action, count_as=count_as)
            return _json_of(resp, action)

        return self.policy.call(attempt)

    def create(self, path: str, *, json: Any, action: str, count_as: str,
               landed: Callable[[], dict | None] | None = None) -> dict:
        """POST something that is not idempotent (a channel message, a mail) and return what Graph answered (the
        created object, or {} for an empty 202). A POST is not simply sent again when its outcome is unknown:

        - no answer within m365.timeout_s: not sent again (Graph may still deliver it); `OutcomeUnknownError`
          says so, and the write-back leaves it to the next run's recovery, which looks for it before re-planning;
        - a reset, a 5xx other than 503, an answer cut short or not JSON: before sending it again, `landed()` looks
          for it and returns it when it is there;
        - 429 and 503 (refused, nothing created): sent again under the shared policy.
        """
        def attempt() -> dict:
            resp = self._once("POST", path, json=json, action=action, count_as=count_as)
            return _json_of(resp, action) if resp.content else {}

        def unanswered(e: RetriableError) -> OutcomeUnknownError:
            return OutcomeUnknownError(
                f"m365: {action}: no answer within m365.timeout_s = {self.timeout:g} s; not sent again, since Graph "
                "may still deliver it (the next run looks for it before sending it)", system=SYSTEM)

        return create_once(self.policy, attempt, landed=landed, unanswered=unanswered)

    def pages(self, path: str, *, params: dict | None = None, action: str) -> Iterator[dict]:
        """Yield each page of a collection, following @odata.nextLink; a repeated link is an error."""
        seen: set[str] = set()
        next_path: str | None = path
        next_params = params
        while next_path:
            page = self.get(next_path, params=next_params, action=action)
            yield page
            link = page.get("@odata.nextLink")
            if link and link in seen:
                raise ConnectorError(f"m365: {action}: the server repeated a page link (loop detected)", system=SYSTEM)
            if link:
                seen.add(link)
            next_path, next_params = link, None

    # ---- SharePoint list delta -------------------------------------------------------------------------
    def delta(self, list_path: str, *, link: str | None, page_size: int, action: str,
              first: dict | None = None) -> tuple[list[dict], str]:
        """Changed items since `link` (every item when None) and the next delta link. Raises DeltaExpired.
        `first`: the first page, already read (inside a $batch): the rest follows from its links."""
        items: list[dict] = []
        path = link or f"{list_path}/items/delta"
        params = None if link else {"$expand": "fields", "$top": str(page_size)}
        seen: set[str] = set()
        page = first
        while True:
            if page is None:
                try:
                    page = self.get(path, params=params, action=action, count_as="GET lists/items/delta")
                except FatalError as e:
                    if e.status == 410:
                        raise DeltaExpired(str(e)) from e
                    raise
            items.extend(page.get("value") or [])
            if page.get("@odata.deltaLink"):
                return items, page["@odata.deltaLink"]
            nxt = page.get("@odata.nextLink")
            if not nxt:
                raise FatalError(f"m365: {action}: a delta page has neither @odata.nextLink nor @odata.deltaLink",
                                 system=SYSTEM)
            if nxt in seen:
                raise ConnectorError(f"m365: {action}: the server repeated a delta link (loop detected)", system=SYSTEM)
            seen.add(nxt)
            path, params, page = nxt, None, None

    def relative(self, url: str) -> str:
        """A Graph URL (a delta link) as a $batch request's URL, relative to the version root."""
        return url[len(self.base):] if url.startswith(self.base) else url

    # ---- $batch ----------------------------------------------------------------------------------------
    def batch(self, reqs: list[BatchRequest], *, action: str) -> dict[str, BatchResponse]:
        """Send `reqs` in batches of 20; return every request's final response by id (see module docstring)."""
        if len({r.id for r in reqs}) != len(reqs):
            raise ValueError("batch request ids must be unique")
        pending = list(reqs)
        out: dict[str, BatchResponse] = {}
        # The budget of the shared policy, for the batch as a whole: it goes on while each round settles some
        # request (the server takes work at its own pace: 20 requests under a limit of 4 a second take 5 rounds),
        # and gives up on what is left after max_attempts rounds in a row, or max_total_s, without progress.
        progress_at = time.monotonic()
        stalled = 0
        while pending:
            chunk, pending = pending[:BATCH_MAX], pending[BATCH_MAX:]
            body = {"requests": [r.to_json() for r in chunk]}
            answers = self.policy.call(lambda: self._batch_answers(body, action))  # (inner requests are
            # idempotent: GETs and field PATCHes, so a $batch whose answer was lost is simply sent again)
            now = time.monotonic()
            settled: list[BatchResponse] = []
            throttled: list[tuple[BatchRequest, BatchResponse]] = []
            for r in chunk:
                a = answers.get(r.id)
                self.batched[r.count_as or f"{r.method} {route_name(r.url)}"] += 1
                if a is None:  # the service dropped it: treat as a transient failure
                    a = {"id": r.id, "status": 503, "headers": {}, "body": None}
                br = BatchResponse(r.id, int(a.get("status") or 500), dict(a.get("headers") or {}), a.get("body"))
                (throttled.append((r, br)) if br.status == 429 or br.status in RETRIABLE_STATUS
                 else settled.append(br))
            for br in settled:
                out[br.id] = br
            if settled:
                progress_at, stalled = now, 0
            elif throttled:
                stalled += 1
            again: list[BatchRequest] = []
            wait = 0.0
            for r, br in throttled:
                delay = parse_retry_after(br.header("Retry-After"))
                if delay is None:
                    delay = self.policy.base_s * (2 ** stalled)
                delay = min(delay, self.policy.max_wait_s)
                if stalled < self.policy.max_attempts and now - progress_at + delay <= self.policy.max_total_s:
                    again.append(r)
                    wait = max(wait, delay)
                    continue
                br.gave_up = (f"gave up after {stalled} tr{'ies' if stalled != 1 else 'y'} without progress in "
                              f"{now - progress_at:.1f} s ([retry] max_attempts = {self.policy.max_attempts}, "
                              f"max_total_s = {self.policy.max_total_s:g}); the next run tries again")
                out[r.id] = br
            if again:
                log.info("m365: %s: %d of %d batched requests throttled or failed transiently; sending them again "
                         "alone in %.1f s", action, len(again), len(chunk), wait)
                self.policy.note_wait(wait)
                time.sleep(wait)
                pending = again + pending
        return out

    def _batch_answers(self, body: dict, action: str) -> dict[str, dict]:
        """One try of a $batch: its inner responses by id (an answer that is not JSON is a retriable failure)."""
        resp = self._once("POST", "$batch", json=body, action=action, count_as="POST $batch")
        answers = _json_of(resp, action)
        if not isinstance(answers, dict) or not isinstance(answers.get("responses"), list):
            raise RetriableError(f"m365: {action}: the $batch answer has no responses", system=SYSTEM)
        return {str(a.get("id")): a for a in answers["responses"] if isinstance(a, dict)}

    def close(self) -> None:
        self.session.close()


def _json_of(resp: requests.Response, action: str) -> Any:
    """The JSON of a 2xx response; one that is not JSON (cut short, a proxy's error page) is retriable."""
    try:
        return resp.json()
    except ValueError as e:
        raise RetriableError(f"m365: {action}: the response was not JSON", system=SYSTEM, url=resp.url) from e


def _graph_code(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return ""
    err = body.get("error") if isinstance(body, dict) else None
    return str(err.get("code") or "") if isinstance(err, dict) else ""


def _graph_message(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return ""
    err = body.get("error") if isinstance(body, dict) else None
    return str(err.get("message") or "") if isinstance(err, dict) else ""


def site_path(site: str) -> str:
    """The Graph path of a site given as an id or as "host:/sites/name"."""
    if ":/" in site:
        host, _, rest = site.partition(":/")
        return f"sites/{host}:/{quote(rest.strip('/'))}"
    return f"sites/{quote(site, safe=',')}"
