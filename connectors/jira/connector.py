"""The Jira connector: issues in, canonical portfolio out; governance fields and one summary comment back.

Two models of "a project" (config `jira.project_model`):
- "project": each Jira project is a PMO project; its issue of the mapping's project type (default "Project")
  is the project record carrying the PMO fields; every other issue in the project belongs to it.
- "issue": issues selected by `jira.record_jql` are project records (e.g. Epics or a "Project" type in one
  shared Jira project); their children (`parent`) belong to them.

Incremental pulls use `updated >= <cursor - overlap>` written in the hub account's profile time zone at minute
precision (how Jira reads JQL dates); the sync de-duplicates on (key, updated), so the overlap costs a few
repeated rows, never a skipped one. Field names in the mapping are resolved to ids through GET /field.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import sys
import time
from datetime import date, datetime, timedelta, timezone
from difflib import get_close_matches
from typing import Any, ClassVar, Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.base import Connector, PullResult, WriteOp, WriteTarget, fields_landed
from connectors.http import TLS, RetryPolicy
from connectors.jira.client import JiraClient
from connectors.values import rag_word, yes_no
from hub.config import JiraSettings
from hub.errors import ConfigError, ConnectorError, FatalError
from hub.mapping import JiraMapping
from hub.model import (
    Action, Approval, Baseline, GateCondition, GateDecision, Governance, InitiationRequest, Milestone, Person, PhaseChange,
    Portfolio, Project, RaidEntry, SourceRef, StatusReport, ValueChange, WorkItem,
)
from hub.state import JournalEntry, MirrorRecord

SYSTEM = "jira"
log = logging.getLogger("pmo_hub.jira")
SYSTEM_FIELDS = ["summary", "issuetype", "status", "project", "parent", "priority", "assignee", "created",
                 "updated", "duedate", "resolutiondate", "labels", "description", "issuelinks"]
PROJECT_STATES = {"active": "active", "on hold": "on_hold", "closed": "closed", "cancelled": "cancelled",
                  "canceled": "cancelled", "done": "closed"}
APPROVAL_KINDS = {"budget": "budget", "resource": "resource", "infrastructure": "infrastructure",
                  "change-request": "change_request", "change_request": "change_request"}
COMMENT_MARKER = "Posted by pmo-hub"
JIRA_TIME = "%Y-%m-%dT%H:%M:%S.%f%z"


_JQL_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def jql_quote(value: str) -> str:
    """Quote a value for JQL so that no character in it can change the query: the value reads back as itself.

    Backslash and double quote are escaped, and line breaks and tabs are written as JQL's \\n, \\r and \\t.
    """
    return '"' + value.translate(_JQL_ESCAPES) + '"'


def parse_jira_time(value: str | None) -> datetime | None:
    """A Jira timestamp as an aware datetime (UTC when it names no offset); None when absent or unreadable."""
    if not value or not isinstance(value, str):
        return None
    try:  # reads Jira's "2026-02-20T20:10:30.981+1100" too, far faster than strptime (once per issue pulled)
        dt = datetime.fromisoformat(value)
    except ValueError:
        for fmt in (JIRA_TIME, "%Y-%m-%dT%H:%M:%S%z"):
            try:
                return datetime.strptime(value, fmt)
            except ValueError:
                continue
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def adf_text(node: Any) -> str:
    """Plain text of an Atlassian Document Format node (or the string itself for v2 bodies)."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node
    if isinstance(node, dict):
        if node.get("type") == "text":
            return node.get("text", "")
        parts = [adf_text(c) for c in node.get("content", [])]
        sep = "\n" if node.get("type") in ("doc", "bulletList", "orderedList") else ""
        return sep.join(p for p in parts if p is not None)
    if isinstance(node, list):
        return "\n".join(adf_text(c) for c in node)
    return str(node)


def adf_tasks(node: Any) -> list[dict]:
    """Task items of an ADF document: text, owner (a mention's display text), due (a date node), done."""
    out: list[dict] = []

    def walk(n: Any) -> None:
        if isinstance(n, list):
            for x in n:
                walk(x)
        elif isinstance(n, dict):
            if n.get("type") == "taskItem":
                text, owner, owner_id, due = [], None, None, None
                for c in n.get("content") or []:
                    attrs = c.get("attrs") or {}
                    if c.get("type") == "text":
                        text.append(c.get("text", ""))
                    elif c.get("type") == "mention":
                        owner = str(attrs.get("text") or "").lstrip("@") or None
                        owner_id = attrs.get("id")
                    elif c.get("type") == "date":
                        try:
                            due = datetime.fromtimestamp(int(attrs["timestamp"]) / 1000, timezone.utc).date()
                        except (KeyError, TypeError, ValueError):
                            due = None
                out.append({"text": "".join(text).strip(), "owner": owner, "owner_id": owner_id,
                            "due": due.isoformat() if due else None, "done": (n.get("attrs") or {}).get("state") == "DONE"})
            else:
                walk(n.get("content"))

    walk(node)
    return out


def adf_doc(lines: list[str]) -> dict:
    """An ADF document with one paragraph per line (text nodes: never interpreted as markup)."""
    return {"type": "doc", "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": line}]} if line else
                        {"type": "paragraph", "content": []} for line in lines]}


def _plain(value: Any) -> Any:
    """A Jira field value reduced to a plain value: option -> its value, user -> e-mail, doc -> text."""
    if isinstance(value, dict):
        if "value" in value:
            return value["value"]
        if "emailAddress" in value or "accountId" in value:
            return (value.get("emailAddress") or value.get("accountId") or "").lower() or None
        if value.get("type") == "doc":
            return adf_text(value)
        if "name" in value:
            return value["name"]
        return None
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class _Parser:
    """Converts one issue's mapped fields to canonical values, recording unparseable ones in `invalid`."""

    def __init__(self, key: str, raw_fields: dict, ids: dict[str, str], names: dict[str, str]):
        self.key = key
        self.raw = raw_fields
        self.ids = ids
        self.names = names
        self.invalid: dict[str, str] = {}

    def _get(self, mapped: str | None) -> Any:
        if not mapped:
            return None
        return self.raw.get(self.ids[mapped])

    def _bad(self, canonical: str, mapped: str, value: Any, expected: str) -> None:
        self.invalid[canonical] = (f"Jira {self.key} field '{self.names.get(self.ids[mapped], mapped)}': "
                                   f"{str(value)[:80]!r} is not {expected}")

    def text(self, canonical: str, mapped: str | None) -> str | None:
        v = _plain(self._get(mapped))
        if v is None:
            return None
        if isinstance(v, list):
            v = ", ".join(str(x) for x in v if x is not None)
        s = str(v).strip()
        return s or None

    def user(self, canonical: str, mapped: str | None) -> str | None:
        raw = self._get(mapped)
        if isinstance(raw, dict):
            v = _plain(raw)
            if isinstance(v, str):
                return v.strip().lower() or None
            if v is not None:
                self._bad(canonical, mapped, v, "a user")
            return None
        if isinstance(raw, str) and raw.strip():
            return raw.strip().lower()
        if raw not in (None, "", []):
            self._bad(canonical, mapped, raw, "a user")
        return None

    def number(self, canonical: str, mapped: str | None) -> float | None:
        v = _plain(self._get(mapped))
        if v is None or v == "":
            return None
        if isinstance(v, bool):
            self._bad(canonical, mapped, v, "a number")
            return None
        try:
            n = float(v)
        except (TypeError, ValueError, OverflowError):
            self._bad(canonical, mapped, v, "a number")
            return None
        if not math.isfinite(n):  # "NaN", "inf", 1e999: not a number anyone typed
            self._bad(canonical, mapped, v, "a number")
            return None
        return n

    def score(self, canonical: str, mapped: str | None) -> int | None:
        v = self.number(canonical, mapped)
        if v is None:
            return None
        if v != int(v) or not 1 <= v <= 5:
            self._bad(canonical, mapped, v, "a whole number from 1 to 5")
            return None
        return int(v)

    def day(self, canonical: str, mapped: str | None) -> date | None:
        v = _plain(self._get(mapped))
        if v is None or v == "":
            return None
        try:
            return date.fromisoformat(str(v)[:10])
        except ValueError:
            self._bad(canonical, mapped, v, "a date (YYYY-MM-DD)")
            return None

    def rag(self, canonical: str, mapped: str | None) -> str | None:
        v = self.text(canonical, mapped)
        if v is None:
            return None
        rag = rag_word(v)
        if rag is None:
            self._bad(canonical, mapped, v, "a RAG value (Green, Amber or Red)")
        return rag

    def flag(self, canonical: str, mapped: str | None) -> bool | None:
        v = _plain(self._get(mapped))
        if v is None or v == "" or v == []:
            return None
        if isinstance(v, list):
            v = v[0] if v else None
        flag = yes_no(v)
        if flag is None:
            self._bad(canonical, mapped, v, "yes or no")
        return flag


class JiraConnector(Connector):
    system: ClassVar[str] = SYSTEM
    hub_owned: ClassVar[tuple[str, ...]] = ("governance", "hub_comment_id")
    supplies: ClassVar[tuple[str, ...]] = ("projects", "work_items", "milestones", "raid", "status_reports",
                                           "approvals", "people")
    target_kinds: ClassVar[tuple[str, ...] | None] = ("project",)  # write-back reads project records only
    # write-back hands over all ops of a run: field edits that set the same values go out as bulk edits
    batch_writes: ClassVar[bool] = True
    BULK_MIN = 4  # a bulk edit costs a POST and at least one GET of its task: worth it from four issues
    BULK_MAX = 1000  # issues per bulk edit (Jira's limit)
    BULK_WAIT_S = 300.0  # how long a bulk edit task may take before its outcome is left to the next run

    def __init__(self, settings: JiraSettings, mapping: JiraMapping, *, token: str, policy: RetryPolicy):
        super().__init__()
        self.settings = settings
        self.mapping = mapping
        self._token = token
        self._policy = policy
        self._client: JiraClient | None = None
        self.field_ids: dict[str, str] = {}  # mapping name -> field id
        self.field_names: dict[str, str] = {}  # field id -> display name
        self.field_types: dict[str, str] = {}  # field id -> schema type
        self.account_id: str | None = None
        self._issue_ids: dict[str, str] = {}  # project record key -> issue id (bulk edit results name ids)
        self._options: dict[str, dict[str, int]] = {}  # select field id -> {value: option id}, for bulk edits
        self._bulk_off: str | None = None  # why bulk edits are not used in this run (refused by the site)

    # ---- connection and field discovery ---------------------------------------------------------------
    @property
    def client(self) -> JiraClient:
        if self._client is None:
            self._client = JiraClient(url=self.settings.url, email=self.settings.email, token=self._token,
                                      policy=self._policy, timeout=self.settings.timeout_s,
                                      tls=TLS.of(SYSTEM, self.settings))
            self.requests = self._client.requests
        return self._client

    def mapping_hash(self) -> str:
        blob = json.dumps([self.mapping.model_dump(), self.settings.project_model, self.settings.projects,
                           self.settings.record_jql, self.settings.key_field], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def _discover(self, cursor: dict | None) -> dict:
        """Field ids, the account's time zone and id: from the cursor when the mapping is unchanged."""
        if cursor and cursor.get("mapping_hash") == self.mapping_hash() and cursor.get("fields"):
            meta = cursor
        else:
            me = self.client.myself()
            fields = self.client.fields()
            meta = {"tz": me.get("timeZone") or "UTC", "account_id": me.get("accountId"),
                    **self._resolve_fields(fields), "mapping_hash": self.mapping_hash()}
        self.field_ids = meta["fields"]
        self.field_names = meta["names"]
        self.field_types = meta["types"]
        self.account_id = meta["account_id"]
        return meta

    def _resolve_fields(self, fields: list[dict]) -> dict:
        by_name: dict[str, list[dict]] = {}
        by_id = {f["id"]: f for f in fields}
        for f in fields:
            by_name.setdefault(f.get("name", ""), []).append(f)
        wanted = set(self.mapping.field_names()) - set(SYSTEM_FIELDS)
        if self.settings.key_field:
            wanted.add(self.settings.key_field)
        ids: dict[str, str] = {f: f for f in SYSTEM_FIELDS}  # system fields have fixed ids on every site
        for name in sorted(wanted):
            if name in by_id:
                ids[name] = name
                continue
            m = re.fullmatch(r"cf\[(\d+)\]", name)
            if m and f"customfield_{m.group(1)}" in by_id:
                ids[name] = f"customfield_{m.group(1)}"
                continue
            matches = by_name.get(name, [])
            if len(matches) == 1:
                ids[name] = matches[0]["id"]
            elif len(matches) > 1:
                raise ConfigError(
                    f"jira mapping: {len(matches)} Jira fields are named {name!r} "
                    f"({', '.join(f['id'] for f in matches)}); put the one you mean in the mapping as its id")
            else:
                close = get_close_matches(name, list(by_name), n=5)
                hint = f" Did you mean: {', '.join(close)}?" if close else ""
                raise ConfigError(f"jira mapping ({self.settings.mapping}): no field named {name!r} on "
                                  f"{self.settings.url}.{hint} (GET /rest/api/3/field lists the site's fields)")
        return {"fields": ids,
                "names": {fid: (by_id.get(fid) or {}).get("name", fid) for fid in ids.values()},
                "types": {fid: ((by_id.get(fid) or {}).get("schema") or {}).get("type", "string") for fid in ids.values()}}

    # ---- pull ------------------------------------------------------------------------------------------
    PROJECTS_PER_QUERY = 100

    def _scope_jql(self, cursor: dict | None, full: bool) -> tuple[list[str], list[str]]:
        """(JQL scope clauses, project keys). Jira refuses unbounded JQL on search/jql, so with no project
        list configured the visible projects are listed (on full pulls; incremental pulls reuse the list)."""
        s = self.settings
        if s.project_model == "issue":
            return [f"({s.record_jql})"], []
        keys = list(s.projects)
        if not keys:
            keys = list(cursor.get("projects") or []) if cursor and not full else []
            if not keys:
                keys = self.client.project_keys()
        chunks = [keys[i:i + self.PROJECTS_PER_QUERY] for i in range(0, len(keys), self.PROJECTS_PER_QUERY)]
        return [f"project in ({', '.join(jql_quote(k) for k in chunk)})" for chunk in chunks], keys

    def _partitions(self, keys: list[str], cursor: dict | None, record_type: str) -> list[list[str]]:
        """Split the projects into groups read by parallel search streams.

        Each stream costs at most one partly filled page more than one big stream, so the number of streams
        follows the expected number of pages (about 8 pages a stream at least), up to `jira.concurrency`.
        The size comes from the previous full pull; without one, from Jira's approximate count (1 request).
        """
        if not keys:
            return []
        per_project: dict[str, int] = dict((cursor or {}).get("project_counts") or {})
        total = sum(per_project.get(k, 0) for k in keys)
        if not total and self.settings.concurrency > 1:
            total = self.client.approximate_count(
                f"project in ({', '.join(jql_quote(k) for k in keys)}) AND issuetype != {record_type}")
        pages = -(-max(total, 1) // self.settings.page_size)
        n = max(1, min(self.settings.concurrency, pages // 8), -(-len(keys) // self.PROJECTS_PER_QUERY))
        groups: list[list[str]] = [[] for _ in range(n)]
        sizes = [0] * n
        # largest projects first, each to the lightest group (balanced streams finish together)
        for k in sorted(keys, key=lambda k: (-per_project.get(k, 1), k)):
            i = min(range(n), key=lambda j: (len(groups[j]) >= self.PROJECTS_PER_QUERY, sizes[j]))
            groups[i].append(k)
            sizes[i] += per_project.get(k, 1)
        return [sorted(g) for g in groups if g]

    def _run_streams(self, streams: list, run) -> list[MirrorRecord]:
        """Run independent search streams with bounded concurrency; results in stream order."""
        if len(streams) <= 1 or self.settings.concurrency <= 1:
            return [i for clauses, rich in streams for i in run(*clauses, rich_fields=rich)]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=self.settings.concurrency, thread_name_prefix="jira-search") as pool:
            pages = list(pool.map(lambda st: run(*st[0], rich_fields=st[1]), streams))
        return [i for page in pages for i in page]

    def _since_clause(self, since: datetime, tz: str) -> str:
        try:
            zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            zone = timezone.utc
        local = since.astimezone(zone) - timedelta(minutes=self.settings.overlap_minutes)
        return f'updated >= {jql_quote(local.strftime("%Y-%m-%d %H:%M"))}'

    def pull(self, cursor: dict | None, *, full: bool) -> PullResult:
        meta = self._discover(cursor)
        if cursor is None or cursor.get("mapping_hash") != meta["mapping_hash"]:
            full = True
        since = None if full else parse_jira_time(cursor.get("updated_max")) if cursor else None
        if since is None:
            full = True
        field_list = sorted(set(self.field_ids.values()))
        self.client.know_fields(field_list)
        records: list[MirrorRecord] = []
        max_updated = parse_jira_time(cursor.get("updated_max")) if cursor and not full else None

        # Project records are read with their changelog (phase and budget history) and comments (to find the
        # hub's summary comment); work items without, which keeps full pulls light. An incremental pull is
        # small, so it reads everything in one query (one request when nothing changed).
        rich = field_list + ["comment"]

        def run(*clauses: str, rich_fields: bool = True) -> list[MirrorRecord]:
            parts = [c for c in (*clauses, self._since_clause(since, meta["tz"]) if since else "") if c]
            jql = " AND ".join(parts) + " ORDER BY updated ASC, key ASC"
            out: list[MirrorRecord] = []
            # each page becomes records at once: the raw issues (several KB each, with changelogs and
            # comments) never pile up, so a full pull holds the records, not every raw page
            for page in self.client.search(jql, fields=rich if rich_fields else field_list,
                                           expand="changelog" if rich_fields else None,
                                           page_size=self.settings.page_size):
                out.extend(self._to_record(raw, packed=True) for raw in page)
            return out

        scopes, project_keys = self._scope_jql(cursor, full)
        record_type = jql_quote(self.mapping.issue_types.project)
        counts: dict[str, int] = {}
        if self.settings.project_model == "project":
            if full:
                streams = [((scope, f"issuetype = {record_type}"), True) for scope in scopes]
                groups = self._partitions(project_keys, cursor, record_type)
                streams += [((f"project in ({', '.join(jql_quote(k) for k in g)})", f"issuetype != {record_type}"),
                             False) for g in groups]
            elif self.settings.projects:
                streams = [((scope,), True) for scope in scopes]
            else:
                # no project list configured: the scope is every project the account can see, which needs no
                # clause (the `updated` clause bounds the query), so an incremental pull is one query however
                # many projects there are: one request when nothing changed, not one per 100 projects
                streams = [((), True)]
            pulled = self._run_streams(streams, run)
        else:
            # every record when full (their keys scope the children), else the changed ones; then children
            record_recs = run(scopes[0])
            record_keys = sorted({r.key for r in record_recs} |
                                 (set(cursor.get("record_keys", [])) if cursor and not full else set()))
            streams = [((f"parent in ({', '.join(jql_quote(k) for k in record_keys[i:i + 200])})",), not full)
                       for i in range(0, len(record_keys), 200)]
            pulled = record_recs + self._run_streams(streams, run)
        seen: set[tuple[str, str]] = set()
        record_project: dict[str, str] = {}
        for rec in pulled:
            ident = (rec.key, rec.updated or "")
            if ident in seen:
                continue
            seen.add(ident)
            records.append(rec)
            if rec.kind == "project":
                record_project[rec.key] = rec.project_key or rec.key
            up = parse_jira_time(rec.updated)
            if up and (max_updated is None or up > max_updated):
                max_updated = up
        if self.settings.project_model == "issue":
            known = dict(cursor.get("record_project", {})) if cursor and not full else {}
            known.update(record_project)
            for rec in records:
                if rec.kind != "project":
                    parent = json.loads(rec.data).get("parent") if isinstance(rec.data, str) else rec.data.get("parent")
                    rec.project_key = known.get(parent or "", parent)
            record_project = known
        new_cursor = {**meta, "updated_max": max_updated.isoformat() if max_updated else None,
                      "projects": project_keys}
        if full:
            for rec in records:
                counts[rec.project_key or ""] = counts.get(rec.project_key or "", 0) + 1
            new_cursor["project_counts"] = counts
        elif cursor and cursor.get("project_counts"):
            new_cursor["project_counts"] = cursor["project_counts"]
        if self.settings.project_model == "issue":
            new_cursor["record_keys"] = sorted(record_project)
            new_cursor["record_project"] = record_project
        return PullResult(SYSTEM, records, full, new_cursor)

    def _kind(self, issuetype: str) -> str:
        t = self.mapping.issue_types
        return {t.project: "project", t.risk: "risk", t.milestone: "milestone", t.gate: "gate",
                t.status_report: "status_report", t.change_request: "change_request"}.get(issuetype, "work_item")

    def _to_record(self, raw: dict, *, packed: bool = False) -> MirrorRecord:
        """The mirror record of a raw issue; `packed`: its data already serialised (see MirrorRecord)."""
        f = raw.get("fields") or {}
        key = raw["key"]
        kind = self._kind(((f.get("issuetype") or {}).get("name")) or "")
        p = _Parser(key, f, self.field_ids, self.field_names)
        m = self.mapping
        status = f.get("status") or {}
        category = ((status.get("statusCategory") or {}).get("key")) or "new"
        data: dict[str, Any] = {
            "url": f"{self.settings.url}/browse/{key}",
            "id": raw.get("id"),
            "summary": f.get("summary") or "",
            "issuetype": (f.get("issuetype") or {}).get("name"),
            "status": status.get("name") or "",
            "status_category": {"new": "todo", "indeterminate": "in_progress", "done": "done"}.get(category, "todo"),
            "priority": (f.get("priority") or {}).get("name"),
            "assignee": _plain(f.get("assignee")),
            "created": f.get("created"),
            "duedate": p.day("due", "duedate"),
            "resolved": f.get("resolutiondate"),
            "parent": (f.get("parent") or {}).get("key"),
            "labels": f.get("labels") or [],
            "links": sorted({(lk.get("outwardIssue") or lk.get("inwardIssue") or {}).get("key")
                             for lk in (f.get("issuelinks") or []) if isinstance(lk, dict)} - {None}),
        }
        if kind in ("status_report", "gate"):
            data["tasks"] = adf_tasks(f.get("description"))
        project_key = _lean((f.get("project") or {}).get("key"))
        if kind == "project":
            pm = m.project
            if self.settings.project_model == "issue":
                project_key = (p.text("key", self.settings.key_field) if self.settings.key_field else None) or key
            data.update({
                "name": p.text("name", pm.name), "phase": p.text("phase", pm.phase),
                "department": p.text("department", pm.department), "pm": p.user("pm", pm.pm),
                "sponsor": p.user("sponsor", pm.sponsor),
                "initiation_status": p.text("initiation_status", pm.initiation_status),
                "initiation_submitted": p.day("initiation_submitted", pm.initiation_submitted),
                "initiation_decided": p.day("initiation_decided", pm.initiation_decided),
                "budget_approved": p.number("budget_approved", pm.budget_approved),
                "actual_cost": p.number("actual_cost", pm.actual_cost),
                "forecast_cost": p.number("forecast_cost", pm.forecast_cost),
                "fte_approved": p.number("fte_approved", pm.fte_approved),
                "fte_assigned": p.number("fte_assigned", pm.fte_assigned),
                "planned_start": p.day("planned_start", pm.planned_start),
                "planned_finish": p.day("planned_finish", pm.planned_finish),
                "forecast_finish": p.day("forecast_finish", pm.forecast_finish),
                "baseline_start": p.day("baseline_start", pm.baseline_start),
                "baseline_finish": p.day("baseline_finish", pm.baseline_finish),
                "baseline_cost": p.number("baseline_cost", pm.baseline_cost),
                "history": self._history(raw),
                "hub_comment_id": self._hub_comment_in(f.get("comment")),
            })
            g = m.governance
            data["governance"] = {
                "compliance_status": p.text("compliance_status", g.compliance_status),
                "open_violations": p.number("open_violations", g.open_violations),
                "compliance_changed": p.day("compliance_changed", g.compliance_changed),
            }
        elif kind == "risk":
            r = m.risk
            data.update({"probability": p.score("probability", r.probability), "impact": p.score("impact", r.impact),
                         "owner": p.user("owner", r.owner), "response": p.text("response", r.response),
                         "due": p.day("due", r.due), "escalated": p.flag("escalated", r.escalated),
                         "escalated_on": p.day("escalated_on", r.escalated_on),
                         "last_reviewed": p.day("last_reviewed", r.last_reviewed)})
        elif kind == "milestone":
            data.update({"planned": p.day("planned", m.milestone.planned),
                         "forecast": p.day("forecast", m.milestone.forecast)})
        elif kind == "gate":
            gm = m.gate
            data.update({"gate": p.text("gate", gm.gate), "decision": p.text("decision", gm.decision),
                         "approver": p.user("approver", gm.approver), "decided_on": p.day("decided_on", gm.decided_on),
                         "planned_on": p.day("planned_on", gm.planned_on)})
        elif kind == "status_report":
            sm = m.status_report
            data.update({"report_date": p.day("report_date", sm.report_date), "overall": p.rag("overall", sm.overall),
                         "schedule": p.rag("schedule", sm.schedule), "cost": p.rag("cost", sm.cost),
                         "scope": p.rag("scope", sm.scope), "report_summary": p.text("summary", sm.summary)})
        elif kind == "change_request":
            cm = m.change_request
            data.update({"amount": p.number("amount", cm.amount), "decided_on": p.day("decided_on", cm.decided_on),
                         "approver": p.user("approver", cm.approver)})
            m_fte = re.search(r"FTE requested:\s*([0-9]+(?:[.,][0-9]+)?)", adf_text(f.get("description")))
            data["fte"] = float(m_fte.group(1).replace(",", ".")) if m_fte else None
        data["invalid"] = p.invalid
        data["people"] = {}
        for fid in ("assignee",):
            u = f.get(fid)
            if isinstance(u, dict) and u.get("emailAddress"):
                data["people"][u["emailAddress"].lower()] = u.get("displayName")
        for name in (m.project.pm, m.project.sponsor, m.risk.owner, m.gate.approver):
            u = f.get(self.field_ids.get(name or "", ""), None) if name else None
            if isinstance(u, dict) and u.get("emailAddress"):
                data["people"][u["emailAddress"].lower()] = u.get("displayName")
        text = json.dumps(data, default=str, sort_keys=True)
        return MirrorRecord(SYSTEM, key, kind, project_key, f.get("updated"), text if packed else json.loads(text))

    def _hub_comment_in(self, comment_field: Any) -> str | None:
        """The id of the hub's summary comment among an issue's comments (its author and marker), if any."""
        for c in (comment_field or {}).get("comments") or [] if isinstance(comment_field, dict) else []:
            if (c.get("author") or {}).get("accountId") == self.account_id and COMMENT_MARKER in adf_text(c.get("body")):
                return str(c["id"])
        return None

    def _history(self, raw: dict) -> list[dict]:
        """Changes of tracked project fields (phase, budget, baseline) from the issue's changelog."""
        tracked = {}
        pm = self.mapping.project
        for canonical in ("phase", "budget_approved", "baseline_finish", "baseline_cost", "baseline_start"):
            name = getattr(pm, canonical)
            if name:
                tracked[self.field_ids[name]] = canonical
                tracked[self.field_names.get(self.field_ids[name], name)] = canonical
        out = []
        for h in ((raw.get("changelog") or {}).get("histories") or []):
            author = h.get("author") or {}
            for item in h.get("items") or []:
                canonical = tracked.get(item.get("fieldId")) or tracked.get(item.get("field"))
                if canonical:
                    out.append({"field": canonical, "at": h.get("created"),
                                "before": item.get("fromString"), "after": item.get("toString"),
                                "by": (author.get("emailAddress") or author.get("accountId") or "").lower() or None,
                                "by_hub": bool(self.account_id) and author.get("accountId") == self.account_id})
        out.sort(key=lambda x: x["at"] or "")
        return out

    # ---- canonical objects -----------------------------------------------------------------------------
    def contribute(self, records: Iterable[MirrorRecord], *, as_of: datetime) -> Portfolio:
        pf = Portfolio(as_of=as_of, systems=[SYSTEM])
        gates: dict[str, list[GateDecision]] = {}
        for rec in records:
            d = rec.data
            src = SourceRef.model_construct(_fields_set=_SOURCE_FIELDS, system=SYSTEM, id=rec.key, url=d.get("url"))
            inv = d.get("invalid") or {}
            for email, name in (d.get("people") or {}).items():
                if email not in pf.people:
                    pf.people[email] = Person(id=email, email=email, name=name, sources=[src])
            pk = rec.project_key or ""
            if rec.kind == "project":
                pf.projects[pk] = self._project(rec, src)
            elif rec.kind == "gate":
                gates.setdefault(pk, []).append(GateDecision(
                    gate=next(iter((d.get("gate") or d.get("summary") or "").split()), ""),
                    decision=_decision(d.get("decision")), approver=d.get("approver"),
                    decided_on=d.get("decided_on"), planned_on=d.get("planned_on"), sources=[src], invalid=inv,
                    conditions=[GateCondition(text=t["text"], due=t["due"], done=t["done"]) for t in d.get("tasks") or []]))
            elif rec.kind == "risk":
                labels = d.get("labels") or []
                kind = "issue" if "raid-issue" in labels else "action" if "raid-action" in labels else "risk"
                severity = next((lb.removeprefix("severity-") for lb in labels if lb.startswith("severity-")), None)
                pf.raid.append(RaidEntry(
                    key=rec.key, project_key=pk, kind=kind, title=d.get("summary", ""), severity=severity,
                    linked_item=(d.get("links") or [None])[0],
                    probability=d.get("probability"), impact=d.get("impact"), owner=d.get("owner"),
                    response=d.get("response"), due=d.get("due"),
                    status="closed" if d.get("status_category") == "done" else "open",
                    raised_on=_day_of(d.get("created")), last_reviewed=d.get("last_reviewed"),
                    escalated=bool(d.get("escalated")), escalated_on=d.get("escalated_on"),
                    sources=[src], invalid=inv))
            elif rec.kind == "milestone":
                pf.milestones.append(Milestone(
                    key=rec.key, project_key=pk, name=d.get("summary", ""), planned=d.get("planned"),
                    forecast=d.get("forecast"),
                    done_on=_day_of(d.get("resolved")) if d.get("status_category") == "done" else None,
                    sources=[src], invalid=inv))
            elif rec.kind == "status_report":
                pf.status_reports.append(StatusReport(
                    key=rec.key, project_key=pk, report_date=d.get("report_date") or _day_of(d.get("created")),
                    overall=d.get("overall"), schedule=d.get("schedule"), cost=d.get("cost"), scope=d.get("scope"),
                    summary=d.get("report_summary"),
                    actions=[Action(text=t["text"], owner=t["owner"], due=t["due"]) for t in d.get("tasks") or []],
                    sources=[src], invalid=inv))
            elif rec.kind == "change_request":
                st = (d.get("status") or "").lower()
                kind = next((APPROVAL_KINDS[lb] for lb in d.get("labels") or [] if lb in APPROVAL_KINDS),
                            "change_request")
                status = ("approved" if st in ("approved", "done") else "rejected" if st.startswith("reject")
                          else "withdrawn" if st.startswith("withdrawn") else "pending")
                pf.approvals.append(Approval(
                    key=rec.key, project_key=pk, kind=kind, title=d.get("summary", ""), status=status,
                    requested_on=_day_of(d.get("created")), decided_on=d.get("decided_on"),
                    amount=d.get("amount"), fte=d.get("fte"), approver=d.get("approver"), sources=[src], invalid=inv))
            else:
                # the bulk of a large portfolio (100k work items): built without validation and lean, see _lean
                pf.work_items.append(WorkItem.model_construct(
                    _fields_set=_WORK_ITEM_FIELDS,
                    key=rec.key, project_key=_lean(pk), summary=d.get("summary", ""),
                    type=_lean((d.get("issuetype") or "task").lower()), status=_lean(d.get("status", "")),
                    status_category=_lean(d.get("status_category", "todo")), priority=_lean(d.get("priority")),
                    assignee=_lean(d.get("assignee")), created=_lean(parse_jira_time(d.get("created"))),
                    updated=_lean(parse_jira_time(rec.activity_at or rec.updated)),
                    due=date.fromisoformat(d["duedate"]) if d.get("duedate") else None,
                    resolved=_lean(parse_jira_time(d.get("resolved"))),
                    sources=[src], provenance={}, invalid=inv))
        for pk, gs in gates.items():
            if pk in pf.projects:
                pf.projects[pk].gates = sorted(gs, key=lambda g: g.gate)
        return pf

    def _project(self, rec: MirrorRecord, src: SourceRef) -> Project:
        d = rec.data
        proj = Project(
            key=rec.project_key or rec.key, name=d.get("name"), department=d.get("department"), pm=d.get("pm"),
            sponsor=d.get("sponsor"), phase=d.get("phase"),
            state=PROJECT_STATES.get((d.get("status") or "").lower(),
                                     "closed" if d.get("status_category") == "done" else "active"),
            tags=list(d.get("labels") or []),
            initiation=InitiationRequest(
                status=_initiation(d.get("initiation_status")), submitted_on=d.get("initiation_submitted"),
                decided_on=d.get("initiation_decided"), sources=[src]) if d.get("initiation_status") else None,
            budget_approved=d.get("budget_approved"), actual_cost=d.get("actual_cost"),
            forecast_cost=d.get("forecast_cost"), fte_approved=d.get("fte_approved"),
            fte_assigned=d.get("fte_assigned"), planned_start=d.get("planned_start"),
            planned_finish=d.get("planned_finish"), forecast_finish=d.get("forecast_finish"),
            baseline=Baseline(start=d.get("baseline_start"), finish=d.get("baseline_finish"), cost=d.get("baseline_cost"))
            if any(d.get(k) is not None for k in ("baseline_start", "baseline_finish", "baseline_cost")) else None,
            governance=Governance(**{k: (int(v) if k == "open_violations" and v is not None else v)
                                     for k, v in (d.get("governance") or {}).items()}),
            sources=[src], invalid=dict(d.get("invalid") or {}),
        )
        for h in d.get("history") or []:
            at = parse_jira_time(h["at"])
            if at is None:
                continue
            if h["field"] == "phase":
                proj.phase_history.append(PhaseChange(at=at, from_phase=h["before"], to_phase=h["after"], by=h["by"]))
            else:
                proj.value_history.append(ValueChange(field=h["field"], at=at, before=h["before"], after=h["after"],
                                                      by=h["by"]))
        for name in ("name", "department", "pm", "sponsor", "phase", "budget_approved", "actual_cost",
                     "forecast_cost", "planned_start", "planned_finish", "forecast_finish"):
            if d.get(name) is not None:
                proj.observe(name, d.get(name), src)
        return proj

    # ---- write-back ------------------------------------------------------------------------------------
    def targets(self, records: list[MirrorRecord]) -> list[WriteTarget]:
        wb = self.settings.writeback
        fields = tuple(k for k, v in self.mapping.governance.model_dump().items() if v) if wb.fields else ()
        out = []
        for r in records:
            if r.kind != "project":
                continue
            if r.data.get("id"):
                self._issue_ids[r.key] = str(r.data["id"])
            out.append(WriteTarget(SYSTEM, r.key, r.project_key or r.key, r.data.get("url"),
                                   dict(r.data.get("governance") or {}), fields, comment=wb.comment,
                                   comment_id=r.data.get("hub_comment_id")))
        return out

    def _field_value(self, canonical: str, value: Any) -> Any:
        fid = self.field_ids[getattr(self.mapping.governance, canonical)]
        ftype = self.field_types.get(fid, "string")
        if value is None:
            return None
        if ftype == "option":
            return {"value": str(value)}
        if ftype == "number":
            return float(value)
        if ftype in ("date", "datetime"):
            return str(value)
        return str(value)

    def apply_batch(self, ops: list[WriteOp]) -> list[dict[str, Any] | ConnectorError]:
        """Field edits that set the same values into several records go out as bulk edits (Jira Cloud: one POST
        and a GET of its task for up to 1000 issues, instead of one PUT each); comments and the rest one by one."""
        out: list[dict[str, Any] | ConnectorError | None] = [None] * len(ops)
        for idxs in self._bulk_groups(ops):
            for i, result in zip(idxs, self._bulk(ops, idxs)):
                out[i] = result
        for i, op in enumerate(ops):
            if out[i] is None:
                try:
                    out[i] = self.apply(op)
                except ConnectorError as e:
                    out[i] = e
        return out  # type: ignore[return-value]

    def _bulk_groups(self, ops: list[WriteOp]) -> list[list[int]]:
        """Indexes of field edits that set the same values, in groups worth a bulk edit (none off Cloud)."""
        if self._bulk_off or not any(op.op == "fields" for op in ops) or not self.client.is_cloud():
            return []
        groups: dict[tuple, list[int]] = {}
        for i, op in enumerate(ops):
            if op.op == "fields" and op.record in self._issue_ids and all(a is not None for _b, a in op.changes.values()):
                groups.setdefault(tuple(sorted((k, str(a)) for k, (_b, a) in op.changes.items())), []).append(i)
        return [g[j:j + self.BULK_MAX] for g in groups.values() if len(g) >= self.BULK_MIN
                for j in range(0, len(g), self.BULK_MAX)]

    def _bulk(self, ops: list[WriteOp], idxs: list[int]) -> list[dict[str, Any] | ConnectorError | None]:
        """One bulk edit of the same values into ops[idxs]: each op's outcome, or None (left to a single edit)."""
        keys = [ops[i].record for i in idxs]
        try:
            edited = self._bulk_input(ops[idxs[0]], keys)
            if edited is None:
                return [None] * len(idxs)
            task = self.client.bulk_edit(keys, edited, [e["fieldId"] for v in edited.values() for e in v],
                                         notify=self.settings.writeback.notify_users)
            progress = self._bulk_wait(task)
        except FatalError as e:
            if e.status in (400, 403, 404, 405):  # no bulk-change permission, or not offered here: one by one
                self._bulk_off = str(e)
                log.warning("jira: bulk edit refused (%s); editing issues one by one", e)
                return [None] * len(idxs)
            return [e] * len(idxs)
        except ConnectorError as e:
            return [e] * len(idxs)
        if progress is None:
            err = ConnectorError(f"jira: bulk edit task {task} did not finish within {self.BULK_WAIT_S:g} s; the "
                                 "next run finds which values landed", system=SYSTEM)
            return [err] * len(idxs)
        done = {str(i) for i in progress.get("processedAccessibleIssues") or []}
        failed = {str(k): v for k, v in (progress.get("failedAccessibleIssues") or {}).items()}
        out: list[dict[str, Any] | ConnectorError | None] = []
        for key in keys:
            iid = self._issue_ids[key]
            if iid in done:
                out.append({})
            elif iid in failed:
                out.append(FatalError(f"jira: bulk edit of {key}: {'; '.join(map(str, failed[iid]))[:300]}",
                                      system=SYSTEM))
            else:
                out.append(ConnectorError(f"jira: bulk edit task {task} did not process {key} (status "
                                          f"{progress.get('status')})", system=SYSTEM))
        return out

    def _bulk_input(self, op: WriteOp, keys: list[str]) -> dict[str, list[dict]] | None:
        """editedFieldsInput for the op's values (the same for every op of its group); None when a value has no
        bulk form here (a text field, an option the site does not offer)."""
        edited: dict[str, list[dict]] = {}
        for canonical, (_before, after) in op.changes.items():
            fid = self.field_ids[getattr(self.mapping.governance, canonical)]
            ftype = self.field_types.get(fid, "string")
            if ftype == "option":
                if fid not in self._options:
                    self._options.update(self.client.bulk_edit_options(keys[:20], self.field_names.get(fid, fid)))
                oid = (self._options.get(fid) or {}).get(str(after))
                if oid is None:
                    return None
                edited.setdefault("singleSelectFields", []).append({"fieldId": fid, "option": {"optionId": oid}})
            elif ftype == "number":
                edited.setdefault("clearableNumberFields", []).append({"fieldId": fid, "value": float(after)})
            elif ftype == "date":
                day = date.fromisoformat(str(after)[:10]).strftime("%d-%m-%Y")  # the API's "ISO" dd-mm-yyyy
                edited.setdefault("datePickerFields", []).append({"fieldId": fid, "date": {"formattedDate": day}})
            else:
                return None
        return edited

    def _bulk_wait(self, task: str) -> dict | None:
        """Poll a bulk edit task until it ends (COMPLETE, FAILED, ...); None when it runs past BULK_WAIT_S."""
        started, delay = time.monotonic(), 0.25
        while True:
            progress = self.client.bulk_task(task)
            if progress.get("status") not in ("ENQUEUED", "RUNNING", "CANCEL_REQUESTED", None):
                return progress
            if time.monotonic() - started + delay > self.BULK_WAIT_S:
                return None
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def apply(self, op: WriteOp) -> dict[str, Any]:
        if op.op == "fields":
            body = {self.field_ids[getattr(self.mapping.governance, k)]: self._field_value(k, after)
                    for k, (_before, after) in op.changes.items()}
            self.client.edit_fields(op.record, body, notify=self.settings.writeback.notify_users)
            return {}
        if op.op == "comment":
            adf = adf_doc(op.payload["lines"] + ["", COMMENT_MARKER + " (PMO standards check; edited in place)."])
            cid = op.payload.get("comment_id")
            if cid:
                try:
                    out = self.client.update_comment(op.record, cid, adf)
                    return {"comment_id": str(out.get("id", cid)) if out else cid}
                except FatalError as e:
                    if e.status != 404:
                        raise
                    # the comment was deleted by a person: fall through and post a new one
            out = self.client.add_comment(op.record, adf,
                                          landed=lambda: self._landed_comment(op.record, op.payload["lines"]))
            return {"comment_id": str(out["id"])}
        raise ConnectorError(f"jira: unknown write operation {op.op!r}", system=SYSTEM)

    def _landed_comment(self, key: str, lines: list[str]) -> dict | None:
        """The hub's comment with these lines on `key`, if a POST whose answer was lost created it."""
        for c in self.client.comments(key):
            text = adf_text(c.get("body"))
            if ((c.get("author") or {}).get("accountId") == self.account_id and COMMENT_MARKER in text
                    and all(line in text for line in lines if line)):
                return c
        return None

    def _find_hub_comment(self, key: str) -> str | None:
        for c in self.client.comments(key):
            author = (c.get("author") or {}).get("accountId")
            if author == self.account_id and COMMENT_MARKER in adf_text(c.get("body")):
                return str(c["id"])
        return None

    def recover(self, entry: JournalEntry, records: dict[str, MirrorRecord]) -> dict[str, Any] | None:
        if entry.op == "fields":
            return fields_landed(entry, records)
        if entry.op == "comment":
            found = self._find_hub_comment(entry.record)
            if found is None:
                return None
            comments = {str(c["id"]): c for c in self.client.comments(entry.record)}
            text = adf_text(comments[found].get("body"))
            if all(line in text for line in entry.payload.get("lines", []) if line):
                return {"comment_id": found}
            return {"comment_id": found, "stale": True}
        return None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


# Work items are most of a large portfolio, so each one is kept lean (a third less memory at 100k issues):
# every field is given, so all items share one "fields set" (pydantic keeps one set per instance otherwise;
# SourceRef is frozen, and setting a WorkItem field adds a name already in the set); repeated texts (status,
# type, priority, assignee, project key) are interned, and timestamps share one tzinfo per offset.
_WORK_ITEM_FIELDS = set(WorkItem.model_fields)
_SOURCE_FIELDS = set(SourceRef.model_fields)
_ZONES: dict[Any, Any] = {}


def _lean(value: Any) -> Any:
    if isinstance(value, str):
        return sys.intern(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        zone = _ZONES.setdefault(value.tzinfo, value.tzinfo)
        return value if value.tzinfo is zone else value.replace(tzinfo=zone)
    return value


def _day_of(timestamp: str | None) -> str | None:
    """The date of a Jira timestamp, in the offset Jira wrote it in (None when absent or unreadable)."""
    dt = parse_jira_time(timestamp)
    return dt.date().isoformat() if dt else None


def _decision(v: str | None) -> str:
    s = (v or "").strip().lower()
    if s.startswith("approved with") or s.startswith("conditional"):
        return "conditional"
    for d in ("approved", "rejected", "recycle"):
        if s.startswith(d):
            return d
    return "pending"


def _initiation(v: str | None) -> str:
    s = (v or "").strip().lower()
    return s if s in ("draft", "submitted", "approved", "rejected") else "draft"
