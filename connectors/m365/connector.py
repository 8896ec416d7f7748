"""The Microsoft 365 connector: SharePoint lists, Planner and an Excel range in; governance values and status
summaries back out through Microsoft Graph.

Pull (`pull(cursor, full=...)`), by part (`m365.pull`):

- register, raid, status_reports, approvals: SharePoint lists named by display name in mappings/m365.toml, their
  columns by display name too (resolved to internal names through `GET .../columns`, kept in the cursor). Items
  come through list delta: the first pull enumerates each list and keeps the `@odata.deltaLink`; later pulls ask
  only for changes. A 410 (the token expired) re-reads that list from scratch and says so in `PullResult.notes`;
  items that disappeared become tombstones (kind "deleted") so an incremental pull forgets them too. Person
  columns arrive as lookup ids into the site's User Information List, which is read the same way (delta).
- planner: the plans of the configured groups whose title carries a project key; their tasks and label names in
  `$batch` requests (Planner has no app-only delta, so it is polled). Tasks labelled "Milestone" are milestones,
  the task named by `planner.governance_task` carries the hub's status, every other task is a work item.
- finance: one range of the budget workbook (header row + budget lines); actual and forecast cost are summed per
  project key.

An incremental pull sends its first reads (each list's delta link, the workbook range) in one `$batch`, so a pull
with nothing changed is one request; further delta pages follow on their own.

Every value that cannot be read is left empty and named in the record's `invalid` entry: "SharePoint list 'RAID
Log' item 17 column 'Probability': '7' is not a whole number from 1 to 5".

Write-back (`batch_writes`: the write-back hands over all of a run's ops at once, see `apply_batch`):

- the register's hub-owned governance columns, 20 item PATCHes per `$batch`; an inner 429 is sent again alone;
- the governance task of each plan: PATCH with `If-Match`; a 412 re-reads the task and retries once with the
  fresh ETag only when the hub-owned title is still what the hub planned against, else a ConflictError;
- status summaries: one Teams channel message and/or one mail per run listing the projects whose summary changed
  (the planner's comment hash decides, so a summary goes out once per change of content, not once per run);
  each project's part carries a reference "pmo-hub ref KEY#hash" that `recover` looks for after a crash.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import math
import re
from collections import defaultdict
from datetime import date, datetime, timezone
from difflib import get_close_matches
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

from connectors.base import Connector, PullResult, WriteOp, WriteTarget, fields_landed, results_order, table_digest
from connectors.http import RetryPolicy
from connectors.m365.client import BatchRequest, DeltaExpired, GraphClient, site_path
from connectors.m365.settings import M365Mapping, M365Settings
from connectors.values import rag_word, same, yes_no
from hub.errors import ConfigError, ConflictError, ConnectorError, FatalError
from hub.model import (
    Action, Approval, Baseline, Governance, InitiationRequest, Milestone, Person, Portfolio, Project, RaidEntry,
    SourceRef, StatusReport, Unmatched, WorkItem,
)
from hub.state import JournalEntry, MirrorRecord

SYSTEM = "m365"
USER_INFO_LIST = "User Information List"
LIST_PARTS = ("register", "raid", "status_reports", "approvals")
TEAMS_CHUNK_BYTES = 24 * 1024
log = logging.getLogger("pmo_hub.m365")


def _parse_dt(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


class _Fields:
    """Reads one list item's mapped columns as canonical values; unreadable ones go to `invalid`."""

    def __init__(self, where: str, fields: dict, columns: dict[str, dict], tz: ZoneInfo):
        self.where = where
        self.fields = fields
        self.columns = columns  # mapping name -> {"name": internal, "type": ..., "display": ...}
        self.tz = tz
        self.invalid: dict[str, str] = {}

    def _raw(self, mapped: str | None) -> tuple[Any, dict | None]:
        if not mapped:
            return None, None
        col = self.columns[mapped]
        if col["type"] == "person":
            return self.fields.get(col["name"] + "LookupId"), col
        return self.fields.get(col["name"]), col

    def bad(self, canonical: str, col: dict, value: Any, expected: str) -> None:
        self.invalid[canonical] = (f"{self.where} column '{col['display']}': {str(value)[:80]!r} is not {expected}")

    def text(self, canonical: str, mapped: str | None) -> str | None:
        v, _ = self._raw(mapped)
        if v is None:
            return None
        if isinstance(v, list):
            v = ", ".join(str(x) for x in v)
        s = str(v).strip()
        return s or None

    def choices(self, canonical: str, mapped: str | None) -> list[str]:
        v, _ = self._raw(mapped)
        if v is None:
            return []
        if isinstance(v, list):
            return [str(x) for x in v if str(x).strip()]
        return [p.strip() for p in str(v).replace(";#", ";").split(";") if p.strip()]

    def number(self, canonical: str, mapped: str | None) -> float | None:
        v, col = self._raw(mapped)
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        if isinstance(v, bool):
            self.bad(canonical, col, v, "a number")
            return None
        try:
            n = float(v) if isinstance(v, (int, float)) else float(str(v).strip())
        except (ValueError, OverflowError):
            n = math.nan
        if not math.isfinite(n):
            self.bad(canonical, col, v, "a number (use a point for decimals)")
            return None
        return n

    def score(self, canonical: str, mapped: str | None) -> int | None:
        n = self.number(canonical, mapped)
        if n is None:
            return None
        if n != int(n) or not 1 <= n <= 5:
            _, col = self._raw(mapped)
            self.bad(canonical, col, _fmt(n), "a whole number from 1 to 5")
            return None
        return int(n)

    def day(self, canonical: str, mapped: str | None) -> str | None:
        v, col = self._raw(mapped)
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        text = str(v).strip()
        if col["type"] == "dateTime" or "T" in text:
            dt = _parse_dt(text)
            if dt is None:
                self.bad(canonical, col, v, "a date")
                return None
            return dt.astimezone(self.tz).date().isoformat()  # SharePoint keeps local midnight as UTC
        try:
            return date.fromisoformat(text[:10]).isoformat()
        except ValueError:
            self.bad(canonical, col, v, "a date (YYYY-MM-DD)")
            return None

    def person(self, canonical: str, mapped: str | None) -> str | None:
        """"lookup:<id>" for a person column (resolved in contribute), else a lower-cased e-mail."""
        v, col = self._raw(mapped)
        if v is None or v == "":
            return None
        if col["type"] == "person":
            return f"lookup:{v}"
        s = str(v).strip().lower()
        if "@" not in s:
            self.bad(canonical, col, v, "an e-mail address")
            return None
        return s

    def flag(self, canonical: str, mapped: str | None) -> bool | None:
        v, col = self._raw(mapped)
        if v is None or v == "":
            return None
        flag = yes_no(v)
        if flag is None:
            self.bad(canonical, col, v, "yes or no")
        return flag

    def rag(self, canonical: str, mapped: str | None) -> str | None:
        v = self.text(canonical, mapped)
        if v is None:
            return None
        rag = rag_word(v)
        if rag is None:
            _, col = self._raw(mapped)
            self.bad(canonical, col, v, "a RAG value (Green, Amber or Red)")
        return rag


def _fmt(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else str(n)


def _actions(text: str | None) -> list[dict]:
    """One action per line: "text (owner: a@b.c, due: 2026-01-31)"; owner and due optional."""
    out = []
    for line in (text or "").splitlines():
        line = line.strip().lstrip("-*• ").strip()
        if not line:
            continue
        m = re.match(r"^(.*?)\s*(?:\(([^()]*)\))?\s*$", line)
        body, extra = (m.group(1), m.group(2)) if m else (line, None)
        owner = due = None
        for part in (extra or "").split(","):
            k, _, v = part.partition(":")
            if k.strip().lower() == "owner":
                owner = v.strip().lower() or None
            elif k.strip().lower() == "due":
                try:
                    due = date.fromisoformat(v.strip()).isoformat()
                except ValueError:
                    due = None
        if extra is not None and owner is None and due is None:
            body = line  # parentheses that are part of the text
        out.append({"text": body, "owner": owner, "due": due})
    return out


class M365Connector(Connector):
    system: ClassVar[str] = SYSTEM
    hub_owned: ClassVar[tuple[str, ...]] = ("governance", "etag", "hub_title")
    batch_writes: ClassVar[bool] = True

    def __init__(self, settings: M365Settings, mapping: M365Mapping, *, credential: Any, policy: RetryPolicy,
                 hub_timezone: str = "UTC", verify: bool | str = True):
        super().__init__()
        self.settings = settings
        self.mapping = mapping
        self.policy = policy
        self.credential = credential
        if hasattr(credential, "counter"):
            credential.counter = self.requests
        self.verify = verify
        self.tz = ZoneInfo(settings.site_timezone or hub_timezone)
        parts = set(settings.pull)
        kinds = []
        if "register" in parts:
            kinds += ["projects", "people"]
        for part, kind in (("raid", "raid"), ("status_reports", "status_reports"), ("approvals", "approvals")):
            if part in parts:
                kinds.append(kind)
        if "planner" in parts:
            kinds += ["work_items", "milestones"]
        self.supplies = tuple(kinds)  # type: ignore[misc]
        self._client: GraphClient | None = None
        self._meta: dict[str, Any] = {}  # site id, lists (alias -> {id, display, columns}), from cursor or Graph
        self._planner: dict[str, dict] = {}  # governance task record key -> its data (for apply)
        self._found: dict[str, list[dict]] = {}  # recover: messages/mails already listed this run

    @property
    def client(self) -> GraphClient:
        if self._client is None:
            s = self.settings
            self._client = GraphClient(graph_url=s.graph_url, credential=self.credential, policy=self.policy,
                                       verify=self.verify, timeout=s.timeout_s, counter=self.requests)
        return self._client

    # ---- metadata: site, lists, columns ----------------------------------------------------------------
    def _list_aliases(self) -> list[str]:
        parts = [p for p in LIST_PARTS if p in self.settings.pull]
        return parts + (["people"] if parts else []) + (["results"] if self.settings.writeback.results_list else [])

    def _mapped_columns(self, alias: str) -> dict[str, str]:
        """canonical -> column display name, for one list's mapping section."""
        m = self.mapping
        if alias == "people":
            return {"name": "Title", "email": "EMail"}
        section = m.section(alias)
        out = {k: v for k, v in section.model_dump().items() if k != "list" and v}
        if alias == "register" and self.settings.writeback.fields:
            out.update({f"governance.{k}": v for k, v in m.governance.model_dump().items() if v})
        return out

    def _list_display(self, alias: str) -> str:
        if alias == "people":
            return USER_INFO_LIST
        return self.mapping.section(alias).list

    def _ensure_meta(self, cursor: dict | None, *, refresh: bool) -> dict:
        meta = {} if refresh else dict((cursor or {}).get("meta") or self._meta or {})
        c = self.client
        if not meta.get("site_id"):
            site = c.get(site_path(self.settings.site), action=f"finding the SharePoint site {self.settings.site}")
            meta["site_id"] = site["id"]
            meta["site_url"] = site.get("webUrl")
        lists = dict(meta.get("lists") or {})
        wanted = self._list_aliases()
        # a list is looked up again when it is new to the cursor or the mapping changed (another list or column)
        missing = [a for a in wanted if a not in lists or lists[a].get("display") != self._list_display(a)
                   or not set(self._mapped_columns(a).values()) <= set(lists[a].get("columns") or {})]
        if missing:
            site = f"sites/{quote(meta['site_id'], safe=',')}"
            available: dict[str, dict] = {}
            for page in c.pages(f"{site}/lists", params={"$select": "id,displayName,name,webUrl"},
                                action="listing the site's lists"):
                for lst in page.get("value") or []:
                    available[lst.get("displayName") or lst.get("name")] = lst
            for alias in missing:
                display = self._list_display(alias)
                lst = available.get(display)
                if lst is None and alias == "people":
                    lst = c.get(f"{site}/lists/{quote(display)}", params={"$select": "id,displayName,name,webUrl"},
                                action="finding the site's User Information List")
                if lst is None:
                    near = get_close_matches(display, list(available), n=3, cutoff=0.5)
                    raise ConfigError(f"m365 mapping: the site has no list named {display!r}"
                                      + (f"; did you mean {', '.join(map(repr, near))}?" if near else "")
                                      + f" Lists: {', '.join(sorted(available))}")
                lists[alias] = {"id": lst["id"], "display": display, "url": lst.get("webUrl"),
                                "columns": self._columns(site, alias, lst["id"], display)}
        meta["lists"] = lists
        self._meta = meta
        return meta

    def _columns(self, site: str, alias: str, list_id: str, display: str) -> dict[str, dict]:
        by_display: dict[str, dict] = {}
        by_internal: dict[str, dict] = {}
        for page in self.client.pages(f"{site}/lists/{list_id}/columns", action=f"reading the columns of {display!r}"):
            for col in page.get("value") or []:
                kind = next((k for k in ("text", "number", "currency", "dateTime", "choice", "boolean",
                                         "personOrGroup", "lookup", "calculated") if col.get(k) is not None), "text")
                if kind == "personOrGroup":
                    kind = "person"
                info = {"name": col["name"], "display": col.get("displayName") or col["name"], "type": kind}
                by_display.setdefault(info["display"], info)
                by_internal[col["name"]] = info
        out: dict[str, dict] = {}
        for canonical, name in self._mapped_columns(alias).items():
            info = by_display.get(name) or by_internal.get(name)
            if info is None:
                near = get_close_matches(name, list(by_display), n=3, cutoff=0.5)
                section = "governance" if canonical.startswith("governance.") else alias
                raise ConfigError(f"m365 mapping [{section}] {canonical.split('.')[-1]} = {name!r}: the list "
                                  f"{display!r} has no such column"
                                  + (f"; did you mean {', '.join(map(repr, near))}?" if near else "")
                                  + f" Columns: {', '.join(sorted(by_display))}")
            out[name] = info
        return out

    # ---- pull ------------------------------------------------------------------------------------------
    def pull(self, cursor: dict | None, *, full: bool) -> PullResult:
        cur = json.loads(json.dumps(cursor or {}))
        meta = self._ensure_meta(cur, refresh=full)
        notes: list[str] = []
        records: list[MirrorRecord] = []
        parts_state: dict[str, Any] = dict(cur.get("parts") or {})
        first = {} if full else self._first_reads(meta, parts_state)
        for alias in self._list_aliases():
            if alias == "results":  # hub-owned, written only (see _write_results)
                continue
            state = dict(parts_state.get(alias) or {})
            recs, state = self._pull_list(alias, meta, state, full=full, notes=notes, first=first.get(alias))
            records.extend(recs)
            parts_state[alias] = state
        if "planner" in self.settings.pull:
            state = dict(parts_state.get("planner") or {})
            recs, state = self._pull_planner(state, full=full, notes=notes)
            records.extend(recs)
            parts_state["planner"] = state
        if "finance" in self.settings.pull:
            state = dict(parts_state.get("finance") or {})
            recs, state = self._pull_finance(meta, state, full=full, notes=notes, first=first.get("finance"))
            records.extend(recs)
            parts_state["finance"] = state
        for note in notes:
            log.info("m365: %s", note)
        out = {k: v for k, v in cur.items() if k not in ("meta", "parts")}
        out.update({"meta": meta, "parts": parts_state})
        return PullResult(SYSTEM, records, full, out, notes)

    def _first_reads(self, meta: dict, parts: dict[str, Any]) -> dict[str, dict]:
        """An incremental pull's first reads (each list's delta link, the workbook range) in one $batch: with
        nothing changed, the whole pull is one request. Part -> first page; a part whose answer is not a
        success is left out and read on its own (which handles an expired delta link)."""
        reqs: list[BatchRequest] = []
        for alias in self._list_aliases():
            st = parts.get(alias) or {}
            if alias != "results" and st.get("delta") and st.get("list_id") == meta["lists"][alias]["id"]:
                reqs.append(BatchRequest(alias, "GET", self.client.relative(st["delta"]),
                                         count_as="GET lists/items/delta"))
        fin = parts.get("finance") or {}
        if "finance" in self.settings.pull and fin.get("item_id"):
            reqs.append(BatchRequest("finance", "GET", "/" + self._range_path(meta, fin["item_id"])
                                     + "?$select=address,values", count_as="GET drive/items/workbook/range"))
        if len(reqs) < 2:
            return {}
        answers = self.client.batch(reqs, action="reading changes of the lists and the workbook range")
        return {k: a.body for k, a in answers.items() if a.ok and isinstance(a.body, dict)}

    def _range_path(self, meta: dict, item_id: str) -> str:
        fm = self.mapping.finance
        where = "usedRange(valuesOnly=true)" if fm.range == "usedRange" else f"range(address='{fm.range}')"
        return (f"sites/{quote(meta['site_id'], safe=',')}/drive/items/{item_id}/workbook/worksheets/"
                f"{quote(fm.worksheet)}/{where}")

    @staticmethod
    def _tombstones(gone: set[str]) -> list[MirrorRecord]:
        stamp = datetime.now(timezone.utc).isoformat()
        return [MirrorRecord(SYSTEM, key, "deleted", None, f"deleted {stamp}", {}) for key in sorted(gone)]

    def _pull_list(self, alias: str, meta: dict, state: dict, *, full: bool, notes: list[str],
                   first: dict | None = None) -> tuple[list[MirrorRecord], dict]:
        lst = meta["lists"][alias]
        display = lst["display"]
        path = f"sites/{quote(meta['site_id'], safe=',')}/lists/{lst['id']}"
        same_list = state.get("list_id") == lst["id"]  # the mapping may now name another list
        link = state.get("delta") if same_list and not full else None
        known = set(state.get("keys") or [])
        try:
            items, new_link = self.client.delta(path, link=link, page_size=self.settings.page_size,
                                                action=f"reading changes of the list {display!r}",
                                                first=first if link else None)
        except DeltaExpired:
            notes.append(f"list {display!r}: the delta token expired (HTTP 410 resyncRequired); read the whole "
                         "list again")
            link = None
            items, new_link = self.client.delta(path, link=None, page_size=self.settings.page_size,
                                                action=f"reading the list {display!r} again")
        records: list[MirrorRecord] = []
        seen: set[str] = set()
        gone: set[str] = set()
        for item in items:
            key = f"{alias}:{item['id']}"
            if item.get("deleted"):
                gone.add(key)
                continue
            rec = self._list_record(alias, lst, item, notes)
            seen.add(key)
            if rec is not None:
                records.append(rec)
        if link is None:  # a whole enumeration: whatever was known and is not there any more is gone
            gone |= known - seen
            keys = seen
        else:
            keys = (known | seen) - gone
        if not full:
            records.extend(self._tombstones(gone & known))
        return records, {"list_id": lst["id"], "delta": new_link, "keys": sorted(keys)}

    def _list_record(self, alias: str, lst: dict, item: dict, notes: list[str]) -> MirrorRecord | None:
        fields = item.get("fields") or {}
        where = f"SharePoint list '{lst['display']}' item {item['id']}"
        p = _Fields(where, fields, lst["columns"], self.tz)
        m = self.mapping
        data: dict[str, Any] = {"url": item.get("webUrl"), "where": where, "list": lst["display"],
                                "item": item["id"], "created": item.get("createdDateTime")}
        key = f"{alias}:{item['id']}"
        kind = {"register": "project", "raid": "raid", "status_reports": "status_report", "approvals": "approval",
                "people": "person"}[alias]
        if alias == "people":
            email = p.text("email", "EMail")
            if not email:
                return None
            data.update({"lookup": str(item["id"]), "email": email.lower(), "name": p.text("name", "Title")})
            return MirrorRecord(SYSTEM, key, kind, None, item.get("lastModifiedDateTime"), data)
        if alias == "register":
            r = m.register_
            project_key = p.text("key", r.key)
            data.update({
                "name": p.text("name", r.name), "department": p.text("department", r.department),
                "pm": p.person("pm", r.pm), "sponsor": p.person("sponsor", r.sponsor),
                "phase": p.text("phase", r.phase), "state": p.text("state", r.state),
                "tags": p.choices("tags", r.tags), "initiation_status": p.text("initiation_status", r.initiation_status),
                "initiation_submitted": p.day("initiation_submitted", r.initiation_submitted),
                "initiation_decided": p.day("initiation_decided", r.initiation_decided),
                "budget_approved": p.number("budget_approved", r.budget_approved),
                "fte_approved": p.number("fte_approved", r.fte_approved),
                "fte_assigned": p.number("fte_assigned", r.fte_assigned),
                "planned_start": p.day("planned_start", r.planned_start),
                "planned_finish": p.day("planned_finish", r.planned_finish),
                "forecast_finish": p.day("forecast_finish", r.forecast_finish),
                "baseline_start": p.day("baseline_start", r.baseline_start),
                "baseline_finish": p.day("baseline_finish", r.baseline_finish),
                "baseline_cost": p.number("baseline_cost", r.baseline_cost),
            })
            g = m.governance
            if self.settings.writeback.fields:
                gp = _Fields(where, fields, lst["columns"], self.tz)  # hub-owned: unreadable means "not the hub's"
                data["governance"] = {
                    "compliance_status": gp.text("compliance_status", g.compliance_status),
                    "open_violations": gp.number("open_violations", g.open_violations),
                    "compliance_changed": gp.day("compliance_changed", g.compliance_changed),
                }
        elif alias == "raid":
            r = m.raid
            project_key = p.text("project", r.project)
            data.update({
                "ref": p.text("key", r.key), "title": p.text("title", r.title) or "",
                "kind": (p.text("kind", r.kind) or "risk").lower(),
                "probability": p.score("probability", r.probability), "impact": p.score("impact", r.impact),
                "severity": (p.text("severity", r.severity) or "").lower() or None,
                "owner": p.person("owner", r.owner), "response": p.text("response", r.response),
                "due": p.day("due", r.due), "status": (p.text("status", r.status) or "open").lower(),
                "raised_on": p.day("raised_on", r.raised_on), "last_reviewed": p.day("last_reviewed", r.last_reviewed),
                "escalated": p.flag("escalated", r.escalated), "escalated_on": p.day("escalated_on", r.escalated_on),
                "linked_item": p.text("linked_item", r.linked_item),
            })
        elif alias == "status_reports":
            r = m.status_reports
            project_key = p.text("project", r.project)
            data.update({
                "ref": p.text("key", r.key), "report_date": p.day("report_date", r.report_date),
                "overall": p.rag("overall", r.overall), "schedule": p.rag("schedule", r.schedule),
                "cost": p.rag("cost", r.cost), "scope": p.rag("scope", r.scope),
                "summary": p.text("summary", r.summary), "actions": _actions(p.text("actions", r.actions)),
            })
        else:
            r = m.approvals
            project_key = p.text("project", r.project)
            data.update({
                "ref": p.text("key", r.key), "title": p.text("title", r.title) or "",
                "kind": (p.text("kind", r.kind) or "budget").lower().replace(" ", "_"),
                "status": (p.text("status", r.status) or "pending").lower(),
                "requested_on": p.day("requested_on", r.requested_on), "decided_on": p.day("decided_on", r.decided_on),
                "amount": p.number("amount", r.amount), "fte": p.number("fte", r.fte),
                "approver": p.person("approver", r.approver),
            })
        if not project_key:
            notes.append(f"{where} has no project key in its column "
                         f"'{m.register_.key if alias == 'register' else m.section(alias).project}'; skipped")
            return None
        data["invalid"] = p.invalid
        return MirrorRecord(SYSTEM, key, kind, project_key, item.get("lastModifiedDateTime"),
                            json.loads(json.dumps(data, default=str)))

    # ---- Planner ---------------------------------------------------------------------------------------
    def _pull_planner(self, state: dict, *, full: bool, notes: list[str]) -> tuple[list[MirrorRecord], dict]:
        pm = self.mapping.planner
        plan_rx = re.compile(pm.plan_key_pattern)
        c = self.client
        plans: dict[str, tuple[str, str]] = {}  # plan id -> (project key, title)
        for group in self.settings.planner_group_ids:
            for page in c.pages(f"groups/{quote(group)}/planner/plans", action=f"listing the plans of group {group}"):
                for plan in page.get("value") or []:
                    m = plan_rx.search(plan.get("title") or "")
                    if not m:
                        notes.append(f"Planner plan {plan.get('title')!r} has no project key in its title; skipped")
                        continue
                    plans[plan["id"]] = (m.group("key"), plan.get("title") or "")
        ids = sorted(plans)
        tasks: dict[str, list[dict]] = defaultdict(list)
        labels: dict[str, dict[str, str]] = {}
        reqs = []
        for n, pid in enumerate(ids):
            reqs.append(BatchRequest(f"t{n}", "GET", f"/planner/plans/{pid}/tasks", count_as="GET planner/plans/tasks"))
            reqs.append(BatchRequest(f"d{n}", "GET", f"/planner/plans/{pid}/details",
                                     count_as="GET planner/plans/details"))
        followups = 0
        while reqs:
            answers = c.batch(reqs, action="reading Planner tasks")
            nxt = []
            for r in reqs:
                a = answers[r.id]
                n = int(r.id[1:].split("p")[0])
                pid = ids[n]
                if not a.ok:
                    raise a.error(f"reading Planner plan {plans[pid][1]!r}")
                body = a.body or {}
                if r.id.startswith("d"):
                    labels[pid] = {k: v for k, v in (body.get("categoryDescriptions") or {}).items()
                                   if k.startswith("category") and v}
                    continue
                tasks[pid].extend(body.get("value") or [])
                link = body.get("@odata.nextLink")
                if link:
                    followups += 1
                    if followups > 10_000:
                        raise ConnectorError("m365: reading Planner tasks: too many pages (loop detected)",
                                             system=SYSTEM)
                    rel = re.sub(r"^https?://[^/]+(/v1\.0)?", "", link)
                    nxt.append(BatchRequest(f"t{n}p{followups}", "GET", rel, count_as="GET planner/plans/tasks"))
            reqs = nxt
        users = dict(state.get("users") or {})
        unknown = sorted({uid for ts in tasks.values() for t in ts for uid in (t.get("assignments") or {})
                          if uid not in users})
        if unknown:
            answers = c.batch([BatchRequest(f"u{n}", "GET", f"/users/{uid}?$select=id,mail,displayName",
                                            count_as="GET users") for n, uid in enumerate(unknown)],
                              action="reading the Planner assignees")
            for n, uid in enumerate(unknown):
                a = answers[f"u{n}"]
                if a.ok and isinstance(a.body, dict):
                    users[uid] = [(a.body.get("mail") or a.body.get("userPrincipalName") or "").lower() or None,
                                  a.body.get("displayName")]
                else:
                    users[uid] = [None, None]
        records: list[MirrorRecord] = []
        seen: set[str] = set()
        for pid in ids:
            project_key, title = plans[pid]
            for t in tasks[pid]:
                rec = self._task_record(t, project_key, title, labels.get(pid, {}), users)
                records.append(rec)
                seen.add(rec.key)
        known = set(state.get("keys") or [])
        if not full:
            records.extend(self._tombstones(known - seen))
        return records, {"keys": sorted(seen), "users": users}

    def _task_record(self, t: dict, project_key: str, plan_title: str, labels: dict[str, str],
                     users: dict[str, list]) -> MirrorRecord:
        pm = self.mapping.planner
        title = t.get("title") or ""
        names = [labels.get(k, k) for k, on in (t.get("appliedCategories") or {}).items() if on]
        due = _parse_dt(t.get("dueDateTime"))
        done = _parse_dt(t.get("completedDateTime"))
        created = t.get("createdDateTime")
        url = f"https://tasks.office.com/Home/Task/{t['id']}"
        base = {"url": url, "task_id": t["id"], "plan": plan_title, "created": created,
                "completed": t.get("completedDateTime"), "invalid": {}}
        if title.strip().lower().startswith(pm.governance_task.lower()):
            status, count = self._parse_status(title)
            data = {**base, "etag": t.get("@odata.etag"), "hub_title": title,
                    "governance": {"compliance_status": status, "open_violations": count}}
            return MirrorRecord(SYSTEM, f"task:{t['id']}", "planner_status", project_key, t.get("@odata.etag"), data)
        m = re.match(pm.task_key_pattern, title)
        key = m.group("key") if m else t["id"]
        summary = title[m.end():] if m else title
        percent = int(t.get("percentComplete") or 0)
        category = "done" if percent >= 100 else "in_progress" if percent > 0 else "todo"
        assignee = None
        for uid in (t.get("assignments") or {}):
            assignee = (users.get(uid) or [None])[0]
            if assignee:
                break
        prio = t.get("priority")
        band = None if prio is None else "urgent" if prio <= 1 else "important" if prio <= 4 else \
            "medium" if prio <= 7 else "low"
        data = {**base, "key": key, "summary": summary,
                "type": next((n.lower() for n in names if n.lower() != pm.milestone_label.lower()), "task"),
                "status": {"todo": "Not started", "in_progress": "In progress", "done": "Completed"}[category],
                "status_category": category, "priority": pm.priorities.get(band, band.capitalize()) if band else None,
                "assignee": assignee, "due": due.astimezone(self.tz).date().isoformat() if due else None,
                "done_on": done.astimezone(self.tz).date().isoformat() if done else None}
        kind = "milestone" if any(n.lower() == pm.milestone_label.lower() for n in names) else "work_item"
        return MirrorRecord(SYSTEM, f"task:{t['id']}", kind, project_key, t.get("@odata.etag"), data)

    def _status_title(self, status: str | None, count: Any) -> str:
        n = int(float(count or 0))
        return (f"{self.mapping.planner.governance_task}: {status or 'Not assessed'} "
                f"({n} open violation{'s' if n != 1 else ''})")

    def _parse_status(self, title: str) -> tuple[str | None, int | None]:
        prefix = re.escape(self.mapping.planner.governance_task)
        m = re.match(rf"^{prefix}:\s*(?P<status>.+?)\s*\((?P<n>\d+) open violations?\)\s*$", title.strip(), re.I)
        if not m:
            return None, None
        return m.group("status"), int(m.group("n"))

    # ---- Excel -----------------------------------------------------------------------------------------
    def _pull_finance(self, meta: dict, state: dict, *, full: bool, notes: list[str],
                      first: dict | None = None) -> tuple[list[MirrorRecord], dict]:
        fm = self.mapping.finance
        c = self.client
        site = f"sites/{quote(meta['site_id'], safe=',')}"
        path = (self.settings.workbook_path or "").strip("/")
        item_id = None if full else state.get("item_id")
        if not item_id:
            item = c.get(f"{site}/drive/root:/{quote(path)}", params={"$select": "id,name,webUrl"},
                         action=f"finding the workbook {path!r}")
            item_id = item["id"]
            state["url"] = item.get("webUrl")
        rng = first if first is not None and item_id == state.get("item_id") else c.get(
            self._range_path(meta, item_id), params={"$select": "address,values"},
            action=f"reading {fm.worksheet}!{fm.range} of {path!r}")
        values: list[list[Any]] = rng.get("values") or []
        if not values:
            raise ConfigError(f"m365 mapping [finance]: {path} {fm.worksheet}!{fm.range} is empty")
        header = [str(h).strip() for h in values[0]]
        cols: dict[str, int] = {}
        for canonical, name in (("key", fm.key), ("actual_cost", fm.actual_cost), ("forecast_cost", fm.forecast_cost)):
            if not name:
                continue
            if name not in header:
                near = get_close_matches(name, header, n=3, cutoff=0.5)
                raise ConfigError(f"m365 mapping [finance] {canonical} = {name!r}: the header row of "
                                  f"{fm.worksheet}!{fm.range} has no such column"
                                  + (f"; did you mean {', '.join(map(repr, near))}?" if near else "")
                                  + f" Headers: {', '.join(h for h in header if h)}")
            cols[canonical] = header.index(name)
        first_row = _first_row(rng.get("address"), fm.range)
        key_rx = re.compile(fm.key_pattern)
        sums: dict[str, dict[str, Any]] = {}
        for offset, row in enumerate(values[1:], start=1):
            cell = row[cols["key"]] if cols["key"] < len(row) else ""
            key = str(cell).strip() if cell is not None else ""
            if not key_rx.match(key):
                continue
            entry = sums.setdefault(key, {"actual_cost": 0.0, "forecast_cost": 0.0, "rows": [], "invalid": {}})
            rownum = first_row + offset
            entry["rows"].append(rownum)
            for canonical in ("actual_cost", "forecast_cost"):
                if canonical not in cols:
                    entry[canonical] = None
                    continue
                raw = row[cols[canonical]] if cols[canonical] < len(row) else ""
                if raw in ("", None):
                    continue
                try:
                    val = float(raw) if not isinstance(raw, bool) else None
                    if val is None:
                        raise ValueError
                except (TypeError, ValueError):
                    entry["invalid"][canonical] = (f"Excel workbook '{path}' sheet '{fm.worksheet}' row {rownum} "
                                                   f"column '{header[cols[canonical]]}': {str(raw)[:80]!r} is not "
                                                   "a number")
                    continue
                if entry[canonical] is not None:
                    entry[canonical] = round(entry[canonical] + val, 2)
        records = []
        for key, entry in sums.items():
            for canonical in entry["invalid"]:
                entry[canonical] = None  # a total with an unreadable line is not a total
            data = {"url": state.get("url"), "where": f"Excel workbook '{path}' sheet '{fm.worksheet}'", **entry}
            digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]
            records.append(MirrorRecord(SYSTEM, f"finance:{key}", "finance", key, digest, data))
        seen = {r.key for r in records}
        if not full:
            records.extend(self._tombstones(set(state.get("keys") or []) - seen))
        return records, {"item_id": item_id, "url": state.get("url"), "keys": sorted(seen)}

    # ---- canonical objects -----------------------------------------------------------------------------
    def contribute(self, records: list[MirrorRecord], *, as_of: datetime) -> Portfolio:
        pf = Portfolio(as_of=as_of, systems=[SYSTEM])
        people: dict[str, tuple[str, str | None]] = {}
        for rec in records:
            if rec.kind == "person":
                people[str(rec.data["lookup"])] = (rec.data["email"], rec.data.get("name"))
        mp = self.mapping

        def who(rec: MirrorRecord, canonical: str, column: str | None, invalid: dict[str, str]) -> str | None:
            v = rec.data.get(canonical)
            if not v or not str(v).startswith("lookup:"):
                if v and v not in pf.people:
                    pf.people[v] = Person(id=v, email=v, sources=[src_of(rec)])
                return v
            lookup = str(v)[len("lookup:"):]
            found = people.get(lookup)
            if found is None:
                invalid[canonical] = (f"{rec.data.get('where')} column '{column}': user lookup id {lookup} is not in "
                                      f"the site's {USER_INFO_LIST}")
                return None
            email, name = found
            if email not in pf.people:
                pf.people[email] = Person(id=email, email=email, name=name, sources=[src_of(rec)])
            return email

        def src_of(rec: MirrorRecord) -> SourceRef:
            return SourceRef(system=SYSTEM, id=rec.key, url=rec.data.get("url"))

        finance: list[MirrorRecord] = []
        for rec in records:
            d = rec.data
            if rec.kind in ("deleted", "person", "planner_status"):
                continue
            if rec.kind == "finance":
                finance.append(rec)
                continue
            src = src_of(rec)
            inv = dict(d.get("invalid") or {})
            pk = rec.project_key or ""
            if rec.kind == "project":
                pf.projects[pk] = self._project(rec, src, inv, who)
            elif rec.kind == "raid":
                kind = d.get("kind") if d.get("kind") in ("risk", "assumption", "issue", "dependency", "action") \
                    else "risk"
                pf.raid.append(RaidEntry(
                    key=d.get("ref") or rec.key, project_key=pk, kind=kind, title=d.get("title") or "",
                    probability=d.get("probability"), impact=d.get("impact"), severity=d.get("severity"),
                    owner=who(rec, "owner", mp.raid.owner, inv), response=d.get("response"), due=d.get("due"),
                    status="closed" if d.get("status") == "closed" else "open", raised_on=d.get("raised_on"),
                    last_reviewed=d.get("last_reviewed"), escalated=bool(d.get("escalated")),
                    escalated_on=d.get("escalated_on"), linked_item=d.get("linked_item"), sources=[src], invalid=inv))
            elif rec.kind == "status_report":
                pf.status_reports.append(StatusReport(
                    key=d.get("ref") or rec.key, project_key=pk, report_date=d.get("report_date"),
                    overall=d.get("overall"), schedule=d.get("schedule"), cost=d.get("cost"), scope=d.get("scope"),
                    summary=d.get("summary"), actions=[Action(**a) for a in d.get("actions") or []],
                    sources=[src], invalid=inv))
            elif rec.kind == "approval":
                kind = d.get("kind") if d.get("kind") in ("budget", "resource", "infrastructure", "change_request") \
                    else "budget"
                status = d.get("status") if d.get("status") in ("pending", "approved", "rejected", "withdrawn") \
                    else "pending"
                pf.approvals.append(Approval(
                    key=d.get("ref") or rec.key, project_key=pk, kind=kind, status=status, title=d.get("title") or "",
                    requested_on=d.get("requested_on"), decided_on=d.get("decided_on"), amount=d.get("amount"),
                    fte=d.get("fte"), approver=who(rec, "approver", mp.approvals.approver, inv), sources=[src],
                    invalid=inv))
            elif rec.kind == "milestone":
                pf.milestones.append(Milestone(
                    key=d["key"], project_key=pk, name=d.get("summary") or "", planned=d.get("due"),
                    done_on=d.get("done_on") if d.get("status_category") == "done" else None, sources=[src],
                    invalid=inv))
            elif rec.kind == "work_item":
                created = _parse_dt(d.get("created"))
                resolved = _parse_dt(d.get("completed"))
                pf.work_items.append(WorkItem(
                    key=d["key"], project_key=pk, summary=d.get("summary") or "", type=d.get("type") or "task",
                    status=d.get("status") or "", status_category=d.get("status_category") or "todo",
                    priority=d.get("priority"), assignee=d.get("assignee"), created=created,
                    updated=resolved or created, due=d.get("due"), resolved=resolved, sources=[src], invalid=inv))
                if d.get("assignee") and d["assignee"] not in pf.people:
                    pf.people[d["assignee"]] = Person(id=d["assignee"], email=d["assignee"], sources=[src])
        registered = "register" in self.settings.pull
        for rec in finance:
            d = rec.data
            src = src_of(rec)
            pk = rec.project_key or ""
            proj = pf.projects.get(pk)
            if proj is None and registered:
                pf.unmatched.append(Unmatched(system=SYSTEM, key=pk, kind="finance", expected_in=[SYSTEM], source=src))
                continue
            if proj is None:
                proj = pf.projects[pk] = Project(key=pk, sources=[src])
            elif src not in proj.sources:
                proj.sources.append(src)
            for name in ("actual_cost", "forecast_cost"):
                if name in (d.get("invalid") or {}):
                    proj.invalid.setdefault(name, d["invalid"][name])
                    continue
                if d.get(name) is not None:
                    setattr(proj, name, d[name])
                    proj.observe(name, d[name], src)
        return pf

    def _project(self, rec: MirrorRecord, src: SourceRef, inv: dict[str, str], who) -> Project:
        d = rec.data
        mp = self.mapping.register_
        state = {"active": "active", "on hold": "on_hold", "on_hold": "on_hold", "closed": "closed",
                 "cancelled": "cancelled", "canceled": "cancelled"}.get((d.get("state") or "active").lower(), "active")
        init = (d.get("initiation_status") or "").lower()
        proj = Project(
            key=rec.project_key or rec.key, name=d.get("name"), department=d.get("department"),
            pm=who(rec, "pm", mp.pm, inv), sponsor=who(rec, "sponsor", mp.sponsor, inv), phase=d.get("phase"),
            state=state, tags=list(d.get("tags") or []),
            initiation=InitiationRequest(
                status=init if init in ("draft", "submitted", "approved", "rejected") else "draft",
                submitted_on=d.get("initiation_submitted"), decided_on=d.get("initiation_decided"), sources=[src])
            if init else None,
            budget_approved=d.get("budget_approved"), fte_approved=d.get("fte_approved"),
            fte_assigned=d.get("fte_assigned"), planned_start=d.get("planned_start"),
            planned_finish=d.get("planned_finish"), forecast_finish=d.get("forecast_finish"),
            baseline=Baseline(start=d.get("baseline_start"), finish=d.get("baseline_finish"), cost=d.get("baseline_cost"))
            if any(d.get(k) is not None for k in ("baseline_start", "baseline_finish", "baseline_cost")) else None,
            governance=Governance(**{k: (int(v) if k == "open_violations" and v is not None else v)
                                     for k, v in (d.get("governance") or {}).items()}),
            sources=[src], invalid=inv,
        )
        for name in ("name", "department", "pm", "sponsor", "phase", "budget_approved", "fte_approved",
                     "fte_assigned", "planned_start", "planned_finish", "forecast_finish"):
            value = getattr(proj, name)
            if value is not None:
                proj.observe(name, value.isoformat() if isinstance(value, date) else value, src)
        return proj

    # ---- write-back: targets ---------------------------------------------------------------------------
    def targets(self, records: list[MirrorRecord]) -> list[WriteTarget]:
        wb = self.settings.writeback
        out: list[WriteTarget] = []
        gov = tuple(k for k, v in self.mapping.governance.model_dump().items() if v) if wb.fields else ()
        projects: list[str] = []
        for r in records:
            if r.kind == "project":
                projects.append(r.project_key or "")
                if gov:
                    out.append(WriteTarget(SYSTEM, r.key, r.project_key or "", r.data.get("url"),
                                           dict(r.data.get("governance") or {}), gov))
        self._planner = {}
        for r in records:
            if r.kind == "planner_status":
                if r.project_key not in projects:
                    projects.append(r.project_key or "")
                if wb.planner:
                    self._planner[r.key] = r.data
                    out.append(WriteTarget(SYSTEM, r.key, r.project_key or "", r.data.get("url"),
                                           dict(r.data.get("governance") or {}),
                                           ("compliance_status", "open_violations")))
        if wb.results_list:  # (its current digest is not read: the planner compares with the last one written)
            out.append(WriteTarget(SYSTEM, "results:list", "", None, {}, (), results=True))
        for channel, on in (("teams", bool(wb.teams_channel_id)), ("mail", bool(wb.mail_to))):
            if on:
                out.extend(WriteTarget(SYSTEM, f"{channel}:{pk}", pk, None, {}, (), comment=True)
                           for pk in sorted(set(projects)) if pk)
        return out

    # ---- write-back: apply -----------------------------------------------------------------------------
    def apply(self, op: WriteOp) -> dict[str, Any]:
        outcome = self.apply_batch([op])[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def apply_batch(self, ops: list[WriteOp]) -> list[dict[str, Any] | ConnectorError]:
        out: list[dict[str, Any] | ConnectorError | None] = [None] * len(ops)
        register: list[int] = []
        planner: list[int] = []
        summaries: dict[str, list[int]] = {"teams": [], "mail": []}
        for i, op in enumerate(ops):
            prefix = op.record.split(":", 1)[0]
            if op.op == "results" and prefix == "results":
                try:
                    out[i] = self._write_results(op)
                except ConnectorError as e:
                    out[i] = e
            elif op.op == "comment" and prefix == "publish":
                try:
                    out[i] = self._publish(op)
                except ConnectorError as e:
                    out[i] = e
            elif op.op == "fields" and prefix == "register":
                register.append(i)
            elif op.op == "fields" and prefix == "task":
                planner.append(i)
            elif op.op == "comment" and prefix in summaries:
                summaries[prefix].append(i)
            else:
                out[i] = ConnectorError(f"m365: cannot apply {op.op!r} to {op.record!r}", system=SYSTEM)
        if register:
            try:
                results = self._write_register([ops[i] for i in register])
            except ConnectorError as e:
                results = [e] * len(register)
            for i, res in zip(register, results):
                out[i] = res
        for i in planner:
            try:
                out[i] = self._write_planner(ops[i])
            except ConnectorError as e:
                out[i] = e
        for channel, idx in summaries.items():
            if idx:
                for i, res in zip(idx, self._post_summaries(channel, [ops[i] for i in idx])):
                    out[i] = res
        return [o if o is not None else ConnectorError("m365: no outcome", system=SYSTEM) for o in out]

    def _field_value(self, canonical: str, value: Any, col: dict) -> Any:
        if value is None:
            return None
        if canonical == "open_violations":
            return int(float(value)) if col["type"] in ("number", "currency") else str(int(float(value)))
        if canonical == "compliance_changed" and col["type"] == "dateTime":
            local = datetime.combine(date.fromisoformat(str(value)[:10]), datetime.min.time(), tzinfo=self.tz)
            return local.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
        return str(value)

    def _write_register(self, ops: list[WriteOp]) -> list[dict[str, Any] | ConnectorError]:
        meta = self._ensure_meta(None, refresh=False)
        lst = meta["lists"]["register"]
        site = quote(meta["site_id"], safe=",")
        reqs = []
        for n, op in enumerate(ops):
            body = {}
            for canonical, (_before, after) in op.changes.items():
                col = lst["columns"][getattr(self.mapping.governance, canonical)]
                body[col["name"]] = self._field_value(canonical, after, col)
            item = op.record.split(":", 1)[1]
            reqs.append(BatchRequest(str(n), "PATCH", f"/sites/{site}/lists/{lst['id']}/items/{item}/fields",
                                     body=body, count_as="PATCH lists/items/fields"))
        answers = self.client.batch(reqs, action=f"writing governance columns of {lst['display']!r}")
        out: list[dict[str, Any] | ConnectorError] = []
        for n, op in enumerate(ops):
            a = answers[str(n)]
            out.append({} if a.ok else a.error(f"writing {lst['display']!r} item {op.record.split(':', 1)[1]}"))
        return out

    def _patch_task(self, task_id: str, etag: str, title: str, what: str) -> None:
        self.client.send("PATCH", f"planner/tasks/{quote(task_id)}", json={"title": title},
                         headers={"If-Match": etag, "Prefer": "return=minimal"}, action=what,
                         count_as="PATCH planner/tasks")

    def _write_planner(self, op: WriteOp) -> dict[str, Any]:
        data = self._planner.get(op.record)
        if data is None:
            raise FatalError(f"m365: {op.record}: the Planner task is not among this run's targets", system=SYSTEM)
        current = dict(data.get("governance") or {})
        after = {f: a for f, (_b, a) in op.changes.items()}
        what = f"updating the Planner task {data.get('hub_title')!r} in plan {data.get('plan')!r}"
        wanted = {**current, **after}
        try:
            self._patch_task(data["task_id"], data["etag"], self._status_title(wanted.get("compliance_status"),
                                                                                wanted.get("open_violations")), what)
            return {}
        except ConflictError:
            pass
        # 412: someone changed the task since it was read. Re-read; go on only if the hub's value is untouched.
        fresh = self.client.get(f"planner/tasks/{quote(data['task_id'])}", action=what + " (re-reading after 412)",
                                count_as="GET planner/tasks")
        status, count = self._parse_status(fresh.get("title") or "")
        now = {"compliance_status": status, "open_violations": count}
        if all(same(now.get(f), a) for f, a in after.items()):
            return {}  # it already holds what the hub wants
        if not all(same(now.get(f), b) for f, (b, _a) in op.changes.items()):
            raise ConflictError(f"m365: {what}: the task was changed by someone else (HTTP 412) and its hub-owned "
                                f"title is now {fresh.get('title')!r}; left as it is", system=SYSTEM, status=412)
        wanted = {**now, **after}
        self._patch_task(data["task_id"], fresh.get("@odata.etag") or "", self._status_title(
            wanted.get("compliance_status"), wanted.get("open_violations")), what + " (retry with the fresh ETag)")
        log.info("m365: %s: another field of the task changed since it was read (412); retried once with the "
                 "fresh ETag", what)
        return {}

    @staticmethod
    def _marker(project: str | None, digest: str) -> str:
        return f"pmo-hub ref {project}#{digest}"

    def _section(self, op: WriteOp) -> str:
        lines = list(op.payload.get("lines") or [])
        head = html.escape(lines[0]) if lines else html.escape(str(op.project))
        items = "".join(f"<li>{html.escape(x.lstrip('- '))}</li>" for x in lines[1:])
        return (f"<p><b>{head}</b></p>" + (f"<ul>{items}</ul>" if items else "")
                + f"<p><small>{html.escape(self._marker(op.project, op.payload.get('hash', '')))}</small></p>")

    def _post_summaries(self, channel: str, ops: list[WriteOp]) -> list[dict[str, Any] | ConnectorError]:
        wb = self.settings.writeback
        chunks: list[list[int]] = [[]]
        size = 0
        sections = [self._section(op) for op in ops]
        for i, sec in enumerate(sections):
            n = len(sec.encode())
            if chunks[-1] and size + n > TEAMS_CHUNK_BYTES:
                chunks.append([])
                size = 0
            chunks[-1].append(i)
            size += n
        out: list[dict[str, Any] | ConnectorError] = [{}] * len(ops)
        for chunk in chunks:
            count = len(chunk)
            intro = (f"<p>PMO compliance: the status summary of {count} project{'s' if count != 1 else ''} "
                     "changed.</p>")
            content = intro + "".join(sections[i] for i in chunk)
            subject = f"PMO compliance: {count} project summar{'ies' if count != 1 else 'y'} changed"
            markers = [self._marker(ops[i].project, ops[i].payload.get("hash", "")) for i in chunk]
            try:
                if channel == "teams":
                    posted = self.client.create(
                        f"teams/{quote(wb.teams_team_id or '')}/channels/{quote(wb.teams_channel_id or '')}/messages",
                        json={"subject": subject, "body": {"contentType": "html", "content": content}},
                        action="posting the status summary to Teams", count_as="POST teams/channels/messages",
                        landed=lambda: self._sent("teams", None, markers))
                    result: dict[str, Any] = {"comment_id": str(posted.get("id"))}
                else:
                    self.client.create(
                        f"users/{quote(wb.mail_from or '')}/sendMail",
                        json={"message": {"subject": subject, "body": {"contentType": "HTML", "content": content},
                                          "toRecipients": [{"emailAddress": {"address": wb.mail_to}}]},
                              "saveToSentItems": True},
                        action="mailing the status summary", count_as="POST users/sendMail",
                        landed=lambda: self._sent("mail", wb.mail_from, markers))
                    result = {}
            except ConnectorError as e:
                for i in chunk:
                    out[i] = e
                continue
            for i in chunk:
                out[i] = dict(result)
        return out

    def _results_list(self) -> tuple[dict, dict[str, str], str, dict[str, list[tuple[str, dict]]]]:
        """The results list, its columns (canonical -> internal name), its items URL, and its items by key."""
        meta = self._ensure_meta(None, refresh=False)
        lst = meta["lists"]["results"]
        m = self.mapping.results
        cols = {canonical: lst["columns"][getattr(m, canonical)]["name"]
                for canonical in ("key", "project", "rule", "severity", "status", "subject", "reason")}
        base = f"/sites/{quote(meta['site_id'], safe=',')}/lists/{lst['id']}/items"
        have: dict[str, list[tuple[str, dict]]] = defaultdict(list)
        select = ",".join(cols.values())
        for page in self.client.pages(base.lstrip("/"), params={"$expand": f"fields($select={select})",
                                                               "$top": str(self.settings.page_size)},
                                      action=f"reading the results list {lst['display']!r}"):
            for item in page.get("value") or []:
                fields = item.get("fields") or {}
                have[str(fields.get(cols["key"]) or "")].append((str(item["id"]), fields))
        return lst, cols, base, have

    def _write_results(self, op: WriteOp) -> dict[str, Any]:
        """Bring the results list in step with the run's results table: create, update and delete items (in
        `$batch`es of 20), matched by their key (title), never by item id. Idempotent: after an interrupted write
        the re-planned op only does what is still missing."""
        lst, cols, base, have = self._results_list()
        reqs: list[BatchRequest] = []
        wanted: set[str] = set()
        for project, rule, severity, status, subject, reason in op.payload["rows"]:
            key = f"{project}|{rule}|{subject}"
            if key in wanted:
                continue
            wanted.add(key)
            values = {cols["key"]: key, cols["project"]: project, cols["rule"]: rule, cols["severity"]: severity,
                      cols["status"]: status, cols["subject"]: subject, cols["reason"]: reason}
            found = have.get(key) or []
            if not found:
                reqs.append(BatchRequest(str(len(reqs)), "POST", base, body={"fields": values},
                                         count_as="POST lists/items"))
                continue
            item_id, current = found[0]
            diff = {k: v for k, v in values.items() if str(current.get(k) or "") != str(v or "")}
            if diff:
                reqs.append(BatchRequest(str(len(reqs)), "PATCH", f"{base}/{item_id}/fields", body=diff,
                                         count_as="PATCH lists/items/fields"))
        for key, found in have.items():
            for item_id, _ in (found if key not in wanted else found[1:]):  # resolved results and duplicates
                reqs.append(BatchRequest(str(len(reqs)), "DELETE", f"{base}/{item_id}", count_as="DELETE lists/items"))
        if reqs:
            answers = self.client.batch(reqs, action=f"writing the results list {lst['display']!r}")
            failed = [a for a in answers.values() if not a.ok]
            if failed:
                raise failed[0].error(f"writing the results list {lst['display']!r} ({len(failed)} of {len(reqs)} "
                                      "item writes failed; the next run writes what is missing)")
        return {"rows": len(wanted)}

    def _publish(self, op: WriteOp) -> dict[str, Any]:
        """Send one published message (hub.publish): the executive summary or a PM's digest."""
        p = op.payload
        marker = self._marker(op.record, p.get('hash', ''))
        content = p["html"] + f"<p><small>{html.escape(marker)}</small></p>"
        if p["channel"] == "teams":
            wb = self.settings.writeback
            posted = self.client.create(
                f"teams/{quote(wb.teams_team_id or '')}/channels/{quote(wb.teams_channel_id or '')}/messages",
                json={"subject": p["subject"], "body": {"contentType": "html", "content": content}},
                action=f"posting {p['subject']!r} to Teams", count_as="POST teams/channels/messages",
                landed=lambda: self._sent("teams", None, [marker]))
            return {"comment_id": str(posted.get("id"))}
        self.client.create(
            f"users/{quote(self.settings.sender or '')}/sendMail",
            json={"message": {"subject": p["subject"], "body": {"contentType": "HTML", "content": content},
                              "toRecipients": [{"emailAddress": {"address": a}} for a in p["to"]]},
                  "saveToSentItems": True},
            action=f"mailing {p['subject']!r} to {', '.join(p['to'])}", count_as="POST users/sendMail",
            landed=lambda: self._sent("mail", self.settings.sender, [marker]))
        return {}

    # ---- write-back: recovery after a crash ------------------------------------------------------------
    def recover(self, entry: JournalEntry, records: dict[str, MirrorRecord]) -> dict[str, Any] | None:
        prefix = entry.record.split(":", 1)[0]
        if entry.op == "fields":
            return fields_landed(entry, records)
        if entry.op == "results":  # landed when the list holds exactly the journalled table
            _lst, cols, _base, have = self._results_list()
            rows = [[str(f.get(cols[c]) or "") for c in ("project", "rule", "severity", "status", "subject", "reason")]
                    for found in have.values() for _id, f in found]
            if table_digest(sorted(rows, key=results_order)) != entry.payload.get("hash"):
                return None
            return {"rows": len(rows)}
        if entry.op == "comment" and prefix in ("teams", "mail", "publish"):
            if prefix == "publish":
                channel, marker = entry.payload.get("channel", "mail"), self._marker(entry.record,
                                                                                     entry.payload.get("hash", ""))
            else:
                channel = prefix
                marker = self._marker(entry.payload.get("project"), entry.payload.get("hash", ""))
            mailbox = self.settings.sender if prefix == "publish" else self.settings.writeback.mail_from
            for msg in self._recent(channel, mailbox):
                if marker in html.unescape(str((msg.get("body") or {}).get("content") or "")):
                    return {"comment_id": str(msg.get("id"))} if channel == "teams" else {}
            return None
        return None

    def _sent(self, channel: str, mailbox: str | None, markers: list[str]) -> dict | None:
        """The channel message or sent mail carrying every one of `markers`, listed afresh (a post whose answer
        was lost: did it land?), or None."""
        self._found.pop(channel if channel == "teams" else f"mail:{mailbox}", None)
        for msg in self._recent(channel, mailbox):
            text = html.unescape(str((msg.get("body") or {}).get("content") or ""))
            if all(m in text for m in markers):
                return msg
        return None

    def _recent(self, channel: str, mailbox: str | None, limit: int = 200) -> list[dict]:
        """The hub's recent channel messages, or the mails `mailbox` sent (listed once per run, newest first)."""
        key = channel if channel == "teams" else f"mail:{mailbox}"
        if key in self._found:
            return self._found[key]
        wb = self.settings.writeback
        if channel == "teams":
            if not wb.teams_channel_id:
                return []
            path = f"teams/{quote(wb.teams_team_id or '')}/channels/{quote(wb.teams_channel_id)}/messages"
        else:
            if not mailbox:
                return []
            path = f"users/{quote(mailbox)}/mailFolders/sentitems/messages"
        found: list[dict] = []
        for page in self.client.pages(path, params={"$top": "50"}, action="looking for messages sent before a crash"):
            found.extend(page.get("value") or [])
            if len(found) >= limit:
                break
        self._found[key] = found
        return found

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _first_row(address: str | None, configured: str) -> int:
    """The sheet row number of the range's first row ("Budget!A1:F50" -> 1)."""
    text = (address or configured or "A1").split("!")[-1].split(":")[0]
    digits = "".join(ch for ch in text if ch.isdigit())
    return int(digits) if digits else 1


def token_cache_path(settings: M365Settings, *, state_url: str, base_dir: Path) -> Path:
    """Where the token cache lives: `token_cache_file`, else beside the SQLite state file, else the config dir."""
    if settings.token_cache_file:
        p = Path(settings.token_cache_file).expanduser()
        return p if p.is_absolute() else base_dir / p
    if state_url.startswith("sqlite:///"):
        return Path(state_url[len("sqlite:///"):]).parent / "m365-token-cache.json"
    return base_dir / "m365-token-cache.json"


def build_connector(cfg: Any, policy: RetryPolicy) -> M365Connector:
    """The connector for `cfg.m365` (a `hub.config.Config`): reads the secret or certificate, makes no network call."""
    from connectors.m365.auth import AppCredential, DeviceCodeCredential, _verify
    from connectors.m365.settings import load_m365_mapping
    from hub.secrets import read_secret

    s: M365Settings = cfg.m365
    cache = token_cache_path(s, state_url=cfg.state.resolved_url(cfg.base_dir), base_dir=cfg.base_dir)
    if s.auth == "device_code":
        credential: Any = DeviceCodeCredential(s, scopes=list(s.delegated_scopes), cache_path=cache, policy=policy,
                                               base_dir=cfg.base_dir)
    elif s.certificate_file:
        path = cfg.path(s.certificate_file)
        try:
            pem = path.read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"m365.certificate_file: cannot read {path}: {e.strerror}") from e
        if "PRIVATE KEY" not in pem or "CERTIFICATE" not in pem:
            raise ConfigError(f"m365.certificate_file: {path} must hold the private key and the certificate (PEM)")
        password = read_secret(env=s.certificate_password_env, file=None, where="m365.certificate_password_env") \
            if s.certificate_password_env else None
        credential = AppCredential(s, certificate_pem=pem, certificate_password=password, cache_path=cache,
                                   policy=policy, base_dir=cfg.base_dir)
    else:
        secret = read_secret(env=s.client_secret_env,
                             file=str(cfg.path(s.client_secret_file)) if s.client_secret_file else None,
                             where="m365.client_secret_env/m365.client_secret_file")
        credential = AppCredential(s, secret=secret, cache_path=cache, policy=policy, base_dir=cfg.base_dir)
    return M365Connector(s, load_m365_mapping(s.mapping, base_dir=cfg.base_dir), credential=credential,
                         policy=policy, hub_timezone=cfg.hub.timezone, verify=_verify(s, cfg.base_dir))
