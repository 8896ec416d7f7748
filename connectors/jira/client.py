"""A small Jira Cloud client on the `jira` library: every call classified and retried by the shared policy.

The `jira` library does the HTTP (its session, auth and Cloud detection via serverInfo); this module adds what
a sync needs around it: error classification into `hub.errors`, the shared tenacity policy (the library's own
retry is switched off with `max_retries=0` so retries happen in one place), request counting, field discovery
(display name -> id), token paging over `/rest/api/3/search/jql` that refuses a repeated token, and comment
calls with Atlassian Document Format bodies.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any, Callable, Iterator, TypeVar

import requests
from jira import JIRA, JIRAError

from connectors.http import TLS, RetryPolicy, classify, classify_transport, create_once
from hub.errors import ConnectorError, FatalError, OutcomeUnknownError, RetriableError
from hub.secrets import mask, register

T = TypeVar("T")
SYSTEM = "jira"


class JiraClient:
    def __init__(self, *, url: str, email: str, token: str, policy: RetryPolicy, timeout: float = 30.0,
                 tls: TLS | None = None):
        tls = tls or TLS(SYSTEM)
        tls.warn()
        self.url = url.rstrip("/")
        self.policy = policy
        self.timeout = timeout
        self.requests: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        self._email = email
        register(f"{email}:{token}")  # masked as the Basic authorization header carries it (base64) too

        def connect() -> JIRA:
            self._count("GET serverInfo")
            jira = JIRA(
                server=self.url,
                basic_auth=(email, token),
                options={"rest_api_version": "3", "verify": tls.verify(self.url),
                         "headers": {"User-Agent": "pmo-hub"}},
                max_retries=0,
                timeout=timeout,
                get_server_info=False,
            )
            # TLS is decided per request by the adapter (a session's `verify` would lose to REQUESTS_CA_BUNDLE), so
            # it is mounted before the first request: the server info the library reads itself with
            # get_server_info=True (Cloud or Server, the version) is read here, after it
            tls.mount(jira._session)
            info = jira.server_info()
            jira._version = tuple(info["versionNumbers"])
            jira.deploymentType = info.get("deploymentType")
            return jira

        self.jira: JIRA = self._call(connect, "connecting")

    # ---- plumbing --------------------------------------------------------------------------------------
    def _count(self, what: str) -> None:
        with self._count_lock:  # search streams run in parallel threads
            self.requests[what] += 1

    def _call(self, fn: Callable[[], T], action: str, *, retry: bool = True) -> T:
        """Run `fn`, classifying its failures; under the shared retry policy unless `retry=False`."""

        def attempt() -> T:
            try:
                return fn()
            except JIRAError as e:
                resp = getattr(e, "response", None)
                headers = resp.headers if resp is not None else {}
                detail = e.text or ""
                if resp is not None:
                    from connectors.http import error_detail

                    detail = error_detail(resp) or detail
                if e.status_code is None:
                    raise RetriableError(f"jira: {action}: {mask(str(detail))[:200]}", system=SYSTEM) from e
                raise classify(SYSTEM, e.status_code, url=e.url, detail=detail,
                               retry_after=headers.get("Retry-After"), action=action) from e
            except requests.RequestException as e:
                raise classify_transport(SYSTEM, e, action=action) from e
            except ValueError as e:  # a 2xx whose body is not JSON (proxy error page, truncated body)
                raise RetriableError(f"jira: {action}: the response was not valid JSON", system=SYSTEM) from e

        return self.policy.call(attempt) if retry else attempt()

    def _json(self, method: str, path: str, *, action: str, params: dict | None = None,
              body: Any = None, count_as: str | None = None, retry: bool = True) -> Any:
        url = self.jira._get_url(path)

        def go() -> Any:
            self._count(count_as or f"{method} {path.split('/')[0]}")
            resp = self.jira._session.request(method, url, params=params,
                                              data=json.dumps(body) if body is not None else None)
            if resp.status_code == 204 or not resp.content:
                return None
            return resp.json()

        return self._call(go, action, retry=retry)

    # ---- reads -----------------------------------------------------------------------------------------
    def myself(self) -> dict:
        self._count("GET myself")
        return self._call(self.jira.myself, "reading the hub account's profile (myself)")

    def fields(self) -> list[dict]:
        self._count("GET field")
        return self._call(self.jira.fields, "listing fields")

    def know_fields(self, ids: list[str]) -> None:
        """Tell the library the field ids we search with, so it does not GET /field again to translate them.

        `enhanced_search_issues` maps clause names to ids through a lazily loaded cache (one GET /field per
        client); the connector already resolved display names to ids, so an identity map is exact.
        """
        self.jira._fields_cache_value = {fid: fid for fid in ids}

    def search(self, jql: str, *, fields: list[str], expand: str | None, page_size: int) -> Iterator[list[dict]]:
        """Yield pages of raw issues for `jql`, following nextPageToken; a repeated token is an error."""
        token: str | None = None
        seen: set[str] = set()
        while True:
            def page(tok: str | None = token) -> dict:
                self._count("GET search/jql")
                return self.jira.enhanced_search_issues(
                    jql, nextPageToken=tok, maxResults=page_size, fields=list(fields), expand=expand,
                    json_result=True, use_post=len(jql) > 1500)

            data = self._call(page, "searching issues")
            if not isinstance(data, dict) or not isinstance(data.get("issues"), list):
                raise FatalError("jira: searching issues: the response has no 'issues' list", system=SYSTEM)
            yield data["issues"]
            token = data.get("nextPageToken")
            if not token or data.get("isLast") is True:
                return
            if token in seen:
                raise ConnectorError("jira: searching issues: the server repeated a page token (loop detected)",
                                     system=SYSTEM)
            seen.add(token)

    def project_keys(self) -> list[str]:
        """Keys of every project the account can browse (GET /project/search, paged)."""
        keys: list[str] = []
        start = 0
        while True:
            data = self._json("GET", "project/search", params={"startAt": start, "maxResults": 100},
                              action="listing projects", count_as="GET project/search")
            values = data.get("values") or []
            keys.extend(v["key"] for v in values)
            start += len(values)
            if not values or data.get("isLast", True):
                return keys

    def approximate_count(self, jql: str) -> int:
        """Jira's estimate of how many issues match (POST /search/approximate-count)."""
        data = self._json("POST", "search/approximate-count", body={"jql": jql}, action="counting issues",
                          count_as="POST search/approximate-count")
        return int((data or {}).get("count") or 0)

    def comments(self, key: str) -> list[dict]:
        out: list[dict] = []
        start = 0
        while True:
            data = self._json("GET", f"issue/{key}/comment", params={"startAt": start, "maxResults": 100},
                              action=f"reading comments of {key}", count_as="GET issue/comment")
            page = data.get("comments", [])
            out.extend(page)
            start += len(page)
            if not page or start >= int(data.get("total", 0)):
                return out

    # ---- writes ----------------------------------------------------------------------------------------
    def edit_fields(self, key: str, fields: dict[str, Any], *, notify: bool) -> None:
        self._json("PUT", f"issue/{key}", params={"notifyUsers": str(notify).lower()}, body={"fields": fields},
                   action=f"editing {key}", count_as="PUT issue")

    def add_comment(self, key: str, adf: dict, *, landed: Callable[[], dict | None] | None = None) -> dict:
        """POST a comment. A POST is not idempotent, so a failure whose outcome is unknown is not simply retried:

        - no answer within the timeout: not sent again (Jira may still be writing it); the error says so, and the
          next run finds the comment if it landed and edits it in place;
        - a reset, a 5xx other than 503, a body cut short or not JSON: before sending it again, `landed()` looks
          for the comment and returns it when it is there;
        - 429 and 503 (refused, nothing written): sent again under the shared policy.
        """
        action = f"commenting on {key}"

        def unanswered(e: RetriableError) -> OutcomeUnknownError:
            return OutcomeUnknownError(
                f"jira: {action}: no answer within jira.timeout_s = {self.timeout:g} s; not sent again, since Jira "
                "may still add it (the next run finds it and edits it in place)", system=SYSTEM, url=self.url)

        return create_once(self.policy, lambda: self._json("POST", f"issue/{key}/comment", body={"body": adf},
                                                           action=action, count_as="POST issue/comment", retry=False),
                           landed=landed, unanswered=unanswered)

    def update_comment(self, key: str, comment_id: str, adf: dict) -> dict:
        return self._json("PUT", f"issue/{key}/comment/{comment_id}", body={"body": adf},
                          action=f"editing comment {comment_id} on {key}", count_as="PUT issue/comment")

    # ---- bulk edit (Jira Cloud) ------------------------------------------------------------------------
    def is_cloud(self) -> bool:
        return getattr(self.jira, "deploymentType", None) == "Cloud"

    def bulk_edit_options(self, keys: list[str], field_name: str) -> dict[str, dict[str, int]]:
        """field id -> {option value: option id} of the select fields named like `field_name` that these issues
        can be bulk edited in (GET /bulk/issues/fields: a bulk edit names options by id)."""
        data = self._json("GET", "bulk/issues/fields", params={"issueIdsOrKeys": ",".join(keys), "searchText": field_name},
                          action=f"listing the bulk-editable field {field_name!r}", count_as="GET bulk/issues/fields")
        return {f["id"]: {str(o["value"]): int(o["optionId"]) for o in f.get("fieldOptions") or []
                          if isinstance(o, dict) and "value" in o and "optionId" in o}
                for f in (data or {}).get("fields") or [] if isinstance(f, dict) and "id" in f}

    def bulk_edit(self, keys: list[str], edited: dict, actions: list[str], *, notify: bool) -> str:
        """Submit one bulk edit (the same values into up to 1000 issues); returns its task id. Setting values is
        idempotent, so a retried submission can only set them again."""
        data = self._json("POST", "bulk/issues/fields", action=f"bulk editing {len(keys)} issues",
                          body={"selectedIssueIdsOrKeys": keys, "selectedActions": actions, "editedFieldsInput": edited,
                                "sendBulkNotification": notify}, count_as="POST bulk/issues/fields")
        if not isinstance(data, dict) or not data.get("taskId"):
            raise FatalError("jira: bulk edit: the answer has no taskId", system=SYSTEM)
        return str(data["taskId"])

    def bulk_task(self, task_id: str) -> dict:
        """The progress of a bulk edit task (GET /bulk/queue/{taskId})."""
        return self._json("GET", f"bulk/queue/{task_id}", action=f"reading bulk edit task {task_id}",
                          count_as="GET bulk/queue") or {}

    def close(self) -> None:
        self.jira.close()
