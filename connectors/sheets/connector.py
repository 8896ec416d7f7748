"""The Google Sheets connector: the PMO register and its tabs in; governance columns and a results tab out.

Reading one spreadsheet costs three requests, and nothing when it has not changed:

    Drive files.get (modifiedTime) -- unchanged since the cursor's and the mapping unchanged: done, no re-read
    spreadsheets.get                -- title, locale, tabs and grid sizes
    values:batchGet                 -- every mapped tab (and the results tab) in ONE request, UNFORMATTED_VALUE

Tabs and columns are found by the header names in the mapping (mappings/sheets.toml), never by position: the
header row is the mapping's `header_row` or the first of the top rows holding the key header, so a merged
title row above it is fine. Rows are identified by the key column (upper-cased project keys, lower-cased
e-mails), never by row number. Blank rows are skipped; a column with a blank header is ignored; a header that
appears twice is read from whichever copy holds a value (two different values are an `invalid` entry). Text
numbers and dates are read for the spreadsheet's locale (`connectors.sheets.values`); a cell that cannot be
read is never guessed: the field stays empty and `invalid[field]` names the place, e.g.
"Sheets 'PMO Register'!Register row 14 column 'Approved Budget': '1.2.3' is not a number (like 1.234,50)",
so the rules that need it give `error` for that row while every other row is evaluated.

Canonical records: register rows are projects (keyed by the register's key, e.g. the Jira key, so
`hub.merge` joins them with Jira's), the RAID log, status reports and approvals belong to the project in their
project column, and the training roster becomes `Person.trainings` keyed by lower-cased e-mail. Each
spreadsheet also has one "sheet" record holding its layout (where the governance columns are, the results
tab's size and content digest), so write-back works even when a pull skipped an unchanged spreadsheet.

Write-back (`batch_writes`): all of a spreadsheet's ops go out in ONE values:batchUpdate (plus one
spreadsheets:batchUpdate when the results tab must be created or grown), with valueInputOption RAW, so text can
never turn into a formula. Only the mapping's governance columns and the results tab are written. Before
writing, Drive's modifiedTime is compared with the one the layout was read at; if someone changed the sheet
meanwhile, it is re-read so rows and columns are found where they are now. A governance header that is
missing, renamed or duplicated refuses the register's writes with an error naming the column.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, ClassVar

from connectors.base import Connector, PullResult, WriteOp, WriteTarget, fields_landed, table_digest
from connectors.http import TLS, RetryPolicy
from connectors.sheets.client import READ_SCOPES, SCOPES, SheetsClient, load_credentials
from connectors.sheets.mapping import SheetsMapping, _Tab
from connectors.sheets.settings import SheetsSettings, SpreadsheetSettings
from connectors.sheets.values import Locale, col_letter, locale_for, norm_header, parse_date, parse_number, quote_tab
from connectors.values import rag_word, yes_no
from hub.errors import ConnectorError, FatalError, SkippableError
from hub.model import (
    Action, Approval, Baseline, Governance, InitiationRequest, Person, Portfolio, Project, RaidEntry, SourceRef,
    StatusReport, TrainingRecord,
)
from hub.state import JournalEntry, MirrorRecord

log = logging.getLogger("pmo_hub.sheets")
SYSTEM = "sheets"
PARSER_VERSION = 1  # bump when parsing changes, so every spreadsheet is re-read once
HEADER_SCAN_ROWS = 10
_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_STATES = {"active": "active", "in progress": "active", "open": "active", "on hold": "on_hold", "on_hold": "on_hold",
           "paused": "on_hold", "hold": "on_hold", "closed": "closed", "done": "closed", "completed": "closed",
           "complete": "closed", "cancelled": "cancelled", "canceled": "cancelled", "stopped": "cancelled"}
_RAID_KINDS = {"risk": "risk", "risks": "risk", "r": "risk", "assumption": "assumption", "a": "assumption",
               "issue": "issue", "issues": "issue", "i": "issue", "dependency": "dependency", "d": "dependency",
               "action": "action", "actions": "action"}
_OPEN = {"open", "new", "active", "mitigating", "in progress", "monitoring", "escalated", "overdue"}
_CLOSED = {"closed", "done", "resolved", "retired", "completed", "complete", "cancelled", "canceled"}
_APPROVAL_KINDS = {"budget": "budget", "resource": "resource", "resources": "resource", "people": "resource",
                   "infrastructure": "infrastructure", "infra": "infrastructure", "change request": "change_request",
                   "change_request": "change_request", "change": "change_request", "cr": "change_request"}
_APPROVAL_STATUS = {"pending": "pending", "submitted": "pending", "in review": "pending", "open": "pending",
                    "approved": "approved", "rejected": "rejected", "declined": "rejected", "withdrawn": "withdrawn",
                    "cancelled": "withdrawn"}


# ---- reading a tab --------------------------------------------------------------------------------------------
@dataclass
class _Table:
    """One tab as read: its header row and where each header is."""

    spreadsheet: str  # the spreadsheet's title, for messages
    tab: str  # the tab's actual title
    rows: list[list[Any]]
    header_index: int  # 0-based
    columns: dict[str, list[int]] = field(default_factory=dict)  # normalised header -> column indexes

    @property
    def header_row(self) -> int:
        return self.header_index + 1

    def where(self) -> str:
        return f"'{self.spreadsheet}'!{self.tab}"

    def find(self, header: str) -> list[int]:
        return self.columns.get(norm_header(header), [])

    def headers_text(self) -> str:
        seen = [str(h) for h in self.rows[self.header_index] if str(h).strip()] if self.rows else []
        return ", ".join(repr(h) for h in seen[:40]) or "(none)"


def _locate(rows: list[list[Any]], tm: _Tab, spreadsheet: str, tab: str, section: str) -> _Table:
    key = norm_header(tm.key)
    if tm.header_row is not None:
        idx = tm.header_row - 1
        if idx >= len(rows) or key not in {norm_header(c) for c in rows[idx]}:
            found = ", ".join(repr(str(c)) for c in (rows[idx] if idx < len(rows) else []) if str(c).strip())
            raise FatalError(f"sheets: '{spreadsheet}'!{tab}: row {tm.header_row} (mapping [{section}] header_row) "
                             f"has no {tm.key!r} header; it holds: {found or '(nothing)'}", system=SYSTEM)
    else:
        idx = next((i for i, row in enumerate(rows[:HEADER_SCAN_ROWS]) if key in {norm_header(c) for c in row}), None)
        if idx is None:
            raise FatalError(f"sheets: '{spreadsheet}'!{tab}: no header row with the key column {tm.key!r} in the "
                             f"first {HEADER_SCAN_ROWS} rows (mapping [{section}] key); set header_row in the "
                             "mapping if the header is further down", system=SYSTEM)
    table = _Table(spreadsheet, tab, rows, idx)
    for c, text in enumerate(rows[idx]):
        name = norm_header(text)
        if name:
            table.columns.setdefault(name, []).append(c)
    return table


class _Conflict:
    def __init__(self, values: list[Any], cols: list[int]):
        self.values = values
        self.cols = cols


def _cell(row: list[Any], cols: list[int]) -> Any:
    """The value of a (possibly duplicated) column in a row: None when blank, _Conflict when copies disagree."""
    found, where = [], []
    for c in cols:
        if c < len(row) and row[c] is not None and not (isinstance(row[c], str) and not row[c].strip()):
            found.append(row[c])
            where.append(c)
    if not found:
        return None
    if len(found) > 1 and any(v != found[0] for v in found[1:]):
        return _Conflict(found, where)
    return found[0]


class _Row:
    """Reads one row's mapped cells into canonical values; unreadable cells go to `invalid`, never guessed."""

    def __init__(self, table: _Table, row: list[Any], loc: Locale, missing: dict[str, str]):
        self.table = table
        self.row = row
        self.row_no = 0
        self.loc = loc
        self.missing = missing  # header -> message, for mapped columns the tab does not have
        self.invalid: dict[str, str] = {}
        self.people: dict[str, str | None] = {}

    def _where(self, header: str) -> str:
        return f"Sheets {self.table.where()} row {self.row_no} column '{header}'"

    def _bad(self, canonical: str, header: str, value: Any, expected: str) -> None:
        shown = value if isinstance(value, str) else json.dumps(value)
        self.invalid[canonical] = f"{self._where(header)}: {str(shown)[:80]!r} is not {expected}"

    def raw(self, canonical: str, header: str | None) -> Any:
        if not header:
            return None
        if header in self.missing:
            self.invalid[canonical] = self.missing[header]
            return None
        v = _cell(self.row, self.table.find(header))
        if isinstance(v, _Conflict):
            cols = " and ".join(col_letter(c) for c in v.cols)
            shown = " / ".join(repr(str(x)[:40]) for x in v.values)
            self.invalid[canonical] = (f"{self._where(header)}: the header appears in columns {cols} with different "
                                       f"values ({shown})")
            return None
        return v

    def text(self, canonical: str, header: str | None) -> str | None:
        v = self.raw(canonical, header)
        if v is None:
            return None
        if isinstance(v, bool):
            return "TRUE" if v else "FALSE"
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        s = str(v).strip()
        return s or None

    def number(self, canonical: str, header: str | None) -> float | None:
        v = self.raw(canonical, header)
        if v is None:
            return None
        n = parse_number(v, self.loc)
        if n is None:
            self._bad(canonical, header or "", v, f"a number (like {self.loc.number_example})")
        return n

    def score(self, canonical: str, header: str | None) -> int | None:
        n = self.number(canonical, header)
        if n is None:
            return None
        if n != int(n) or not 1 <= n <= 5:
            self._bad(canonical, header or "", self.raw(canonical, header), "a whole number from 1 to 5")
            return None
        return int(n)

    def day(self, canonical: str, header: str | None) -> str | None:
        v = self.raw(canonical, header)
        if v is None:
            return None
        d = parse_date(v, self.loc)
        if d is None:
            self._bad(canonical, header or "", v, f"a date (like {self.loc.date_example})")
            return None
        return d.isoformat()

    def person(self, canonical: str, header: str | None) -> str | None:
        """An e-mail (lower-cased), from "ann@x.com" or "Ann Brown <ann@x.com>"; names without e-mail are kept."""
        v = self.text(canonical, header)
        if v is None:
            return None
        m = _EMAIL.search(v)
        if not m:
            return v.lower()
        email = m.group().lower()
        name = v[: m.start()].strip().strip("<(\"' ").strip() or None
        if email not in self.people or name:
            self.people[email] = name
        return email

    def choice(self, canonical: str, header: str | None, table: dict[str, str], what: str) -> str | None:
        v = self.text(canonical, header)
        if v is None:
            return None
        out = table.get(" ".join(v.lower().replace("_", " ").split()))
        if out is None:
            self._bad(canonical, header or "", v, what)
        return out

    def rag(self, canonical: str, header: str | None) -> str | None:
        v = self.text(canonical, header)
        if v is None:
            return None
        rag = rag_word(v)
        if rag is None:
            self._bad(canonical, header or "", v, "a RAG value (Green, Amber or Red)")
        return rag

    def flag(self, canonical: str, header: str | None) -> bool | None:
        v = self.raw(canonical, header)
        if v is None:
            return None
        flag = yes_no(v)
        if flag is None:
            self._bad(canonical, header or "", v, "yes or no")
        return flag


def _key_text(v: Any, *, upper: bool = False, lower: bool = False) -> str | None:
    if v is None or isinstance(v, _Conflict):
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    s = " ".join(str(v).split())
    if not s:
        return None
    return s.upper() if upper else s.lower() if lower else s




# ---- the connector --------------------------------------------------------------------------------------------
class SheetsConnector(Connector):
    system: ClassVar[str] = SYSTEM
    supplies: ClassVar[tuple[str, ...]] = ("projects", "raid", "status_reports", "approvals", "people", "training")
    # record data keys that change without any person's activity (the hub's writes, rows moving)
    hub_owned: ClassVar[tuple[str, ...]] = ("governance", "row", "url", "modified", "compliance")
    batch_writes: ClassVar[bool] = True
    target_kinds: ClassVar[tuple[str, ...] | None] = ("project", "sheet")  # contribute is one pass: streamed

    def __init__(self, settings: SheetsSettings, mapping: SheetsMapping, *, credentials_file: Path,
                 policy: RetryPolicy, client: SheetsClient | None = None):
        super().__init__()
        self.settings = settings
        self.mapping = mapping
        self.policy = policy
        wb = settings.writeback
        scopes = SCOPES if wb.fields or wb.results_tab else READ_SCOPES  # (read-only: read scopes only)
        self._credentials = load_credentials(credentials_file, scopes=scopes) if client is None else None
        self._client = client
        self._layouts: dict[str, dict] = {}  # spreadsheet label -> layout data (its "sheet" record)
        self._rows: dict[str, int] = {}  # register record key -> its row number when last read
        if client is not None:
            self.requests = client.requests

    @property
    def client(self) -> SheetsClient:
        if self._client is None:
            s = self.settings
            self._client = SheetsClient(credentials=self._credentials, api_url=s.api_url, drive_url=s.drive_url,
                                        iam_url=s.iam_url, policy=self.policy, timeout=s.timeout_s,
                                        tls=TLS.of(SYSTEM, s))
            self.requests = self._client.requests
        return self._client

    def _config_digest(self) -> str:
        text = json.dumps([PARSER_VERSION, self.mapping.model_dump(mode="json"),
                           [s.model_dump() for s in self.settings.spreadsheets]], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    # ---- pull -----------------------------------------------------------------------------------------------
    def pull(self, cursor: dict | None, *, full: bool) -> PullResult:
        """Re-read every spreadsheet when any changed (Drive modifiedTime) or the mapping changed; else nothing.

        A re-read is a full result, so rows deleted from a sheet leave the mirror; `full` alone does not force a
        re-read, since modifiedTime already says whether anything changed.
        """
        prev = (cursor or {}).get("spreadsheets") or {}
        digest = self._config_digest()
        metas = {ss.id: self.client.file_meta(ss.id) for ss in self.settings.spreadsheets}
        new_cursor = {"spreadsheets": {ss.id: {"modified": metas[ss.id].get("modifiedTime"), "config": digest}
                                       for ss in self.settings.spreadsheets}}
        changed = [ss for ss in self.settings.spreadsheets
                   if prev.get(ss.id) != new_cursor["spreadsheets"][ss.id]]
        if not changed:
            return PullResult(SYSTEM, [], False, new_cursor,
                              notes=["every spreadsheet is unchanged since the last pull (Drive modifiedTime)"])
        records: list[MirrorRecord] = []
        notes: list[str] = []
        for ss in self.settings.spreadsheets:
            recs, n = self._read(ss, metas[ss.id])
            records.extend(recs)
            notes.extend(n)
        self._log(notes)
        return PullResult(SYSTEM, records, True, new_cursor, notes)

    @staticmethod
    def _log(notes: list[str]) -> None:
        for note in notes:
            log.warning("%s", note)

    def _read(self, ss: SpreadsheetSettings, meta: dict) -> tuple[list[MirrorRecord], list[str]]:
        info = self.client.spreadsheet(ss.id)
        props = info.get("properties") or {}
        title = props.get("title") or ss.label
        loc, known = locale_for(ss.locale or props.get("locale"))
        notes = [] if known else [f"'{title}': locale {loc.name!r} is not known; reading text numbers with "
                                  f"decimal {loc.decimal!r} (set locale in [[sheets.spreadsheets]])"]
        tabs = {(s.get("properties") or {}).get("title"): s.get("properties") or {} for s in info.get("sheets") or []}
        found: dict[str, str] = {}
        for section, tm in self.mapping.tabs().items():
            actual = _find_tab(tabs, tm.tab)
            if actual is None:
                if tm.optional:
                    notes.append(f"'{title}' has no tab {tm.tab!r} (mapping [{section}]); its data is not read")
                    continue
                raise FatalError(f"sheets: spreadsheet '{title}' has no tab {tm.tab!r} (mapping [{section}] tab); "
                                 f"its tabs are: {', '.join(repr(t) for t in tabs)}", system=SYSTEM)
            found[section] = actual
        comp_tab = _find_tab(tabs, self.mapping.compliance.tab)
        ranges = [quote_tab(t) for t in found.values()] + ([quote_tab(comp_tab)] if comp_tab else [])
        value_ranges = self.client.batch_get(ss.id, ranges)
        by_section = {section: (value_ranges[i].get("values") or []) for i, section in enumerate(found)}
        modified = meta.get("modifiedTime")
        base_url = f"https://docs.google.com/spreadsheets/d/{ss.id}/edit"
        ctx = _ReadContext(self, ss, title, loc, modified, base_url, tabs, notes)
        records: list[MirrorRecord] = []
        register = ctx.table("register", found["register"], by_section["register"])
        records += ctx.register(register)
        for section, reader in (("raid", ctx.raid), ("status_reports", ctx.reports), ("approvals", ctx.approvals),
                                ("training", ctx.training)):
            if section in found:
                records += reader(ctx.table(section, found[section], by_section[section]))
        comp_rows = value_ranges[len(found)].get("values") or [] if comp_tab else None
        records.append(ctx.layout(register, comp_tab, comp_rows))
        return records, notes

    # ---- canonical objects ----------------------------------------------------------------------------------
    def contribute(self, records: list[MirrorRecord], *, as_of: datetime) -> Portfolio:
        pf = Portfolio(as_of=as_of, systems=[SYSTEM])
        people: dict[str, Person] = {}

        def person(email: str, name: str | None, src: SourceRef) -> Person:
            p = people.get(email)
            if p is None:
                p = people[email] = Person(id=email, email=email if "@" in email else None, name=name, sources=[src])
            elif name and not p.name:
                p.name = name
            return p

        for rec in records:
            if rec.kind == "sheet":
                continue
            d = rec.data
            src = SourceRef(system=SYSTEM, id=rec.key, url=d.get("url"))
            inv = dict(d.get("invalid") or {})
            pk = rec.project_key or ""
            for email, name in (d.get("people") or {}).items():
                person(email, name, src)
            if rec.kind == "project":
                pf.projects[pk] = _project(pk, d, src, inv)
            elif rec.kind == "risk":
                pf.raid.append(RaidEntry(
                    key=d["id"], project_key=pk, kind=d.get("kind") or "risk", title=d.get("title") or "",
                    probability=d.get("probability"), impact=d.get("impact"), severity=d.get("severity"),
                    owner=d.get("owner"), response=d.get("response"), due=d.get("due"),
                    status=d.get("status") or "open", raised_on=d.get("raised_on"),
                    last_reviewed=d.get("last_reviewed"), escalated=bool(d.get("escalated")),
                    escalated_on=d.get("escalated_on"), linked_item=d.get("linked_item"), sources=[src], invalid=inv))
            elif rec.kind == "status_report":
                pf.status_reports.append(StatusReport(
                    key=d["id"], project_key=pk, report_date=d.get("report_date"), overall=d.get("overall"),
                    schedule=d.get("schedule"), cost=d.get("cost"), scope=d.get("scope"), summary=d.get("summary"),
                    actions=[Action(**a) for a in d.get("actions") or []], sources=[src], invalid=inv))
            elif rec.kind == "approval":
                pf.approvals.append(Approval(
                    key=d["id"], project_key=pk, kind=d.get("kind") or "budget", status=d.get("status") or "pending",
                    requested_on=d.get("requested_on"), decided_on=d.get("decided_on"), amount=d.get("amount"),
                    fte=d.get("fte"), approver=d.get("approver"), title=d.get("title") or "", sources=[src],
                    invalid=inv))
            elif rec.kind == "training":
                p = person(d["email"], d.get("name"), src)
                if src not in p.sources:
                    p.sources.append(src)
                p.trainings.append(TrainingRecord(course=d.get("course") or "", completed_on=d.get("completed_on"),
                                                  expires_on=d.get("expires_on"), sources=[src], invalid=inv))
        pf.people = people
        return pf

    # ---- write-back -----------------------------------------------------------------------------------------
    def _adopt(self, records: list[MirrorRecord], *, label: str | None = None) -> None:
        """Remember where rows and columns are (from the mirror, or a re-read of spreadsheet `label`) for
        apply_batch; what was known before about the same spreadsheets is forgotten, so a deleted row is not
        written at its old place."""
        if label is None:
            self._layouts, self._rows = {}, {}
        else:
            self._layouts.pop(label, None)
            self._rows = {k: v for k, v in self._rows.items() if not k.startswith(label + "!")}
        for rec in records:
            if rec.kind == "sheet":
                self._layouts[rec.data["label"]] = rec.data
            elif rec.kind == "project" and not rec.data.get("duplicate_rows"):
                self._rows[rec.key] = rec.data["row"]

    def targets(self, records: list[MirrorRecord]) -> list[WriteTarget]:
        self._adopt(records)
        wb = self.settings.writeback
        out: list[WriteTarget] = []
        fields = tuple(self.mapping.register.governance.mapped())
        if wb.fields and fields:
            label_of = {rec.key: rec.key.split("!", 1)[0] for rec in records if rec.kind == "project"}
            for rec in records:
                if rec.kind == "project" and not rec.data.get("duplicate_rows"):
                    placed = (self._layouts.get(label_of[rec.key]) or {}).get("register", {}).get("gov", {})
                    # a governance column that cannot be placed is left out of `current`: its value is unknown
                    current = {f: v for f, v in (rec.data.get("governance") or {}).items() if f in placed}
                    out.append(WriteTarget(SYSTEM, rec.key, rec.project_key or "", rec.data.get("url"), current,
                                           fields))
        if wb.results_tab:
            for rec in records:
                if rec.kind == "sheet":
                    lay = rec.data
                    out.append(WriteTarget(SYSTEM, f"{lay['label']}!{self.mapping.compliance.tab}", "",
                                           lay.get("url"), {"results": lay["compliance"].get("digest")}, (),
                                           results=True))
        return out

    def apply(self, op: WriteOp) -> dict[str, Any]:
        outcome = self.apply_batch([op])[0]
        if isinstance(outcome, ConnectorError):
            raise outcome
        return outcome

    def apply_batch(self, ops: list[WriteOp]) -> list[dict[str, Any] | ConnectorError]:
        by_label: dict[str, list[int]] = defaultdict(list)
        for i, op in enumerate(ops):
            by_label[op.record.split("!", 1)[0]].append(i)
        out: list[dict[str, Any] | ConnectorError] = [{} for _ in ops]
        for label, idxs in by_label.items():
            try:
                results = self._write(label, [ops[i] for i in idxs])
            except ConnectorError as e:
                results = [e] * len(idxs)
            for i, r in zip(idxs, results):
                out[i] = r
        return out

    def _write(self, label: str, ops: list[WriteOp]) -> list[dict[str, Any] | ConnectorError]:
        ss = next((s for s in self.settings.spreadsheets if s.label == label), None)
        if ss is None:
            raise FatalError(f"sheets: no configured spreadsheet is named {label!r}", system=SYSTEM)
        lay = self._layouts.get(label)
        meta = self.client.file_meta(ss.id)
        if lay is None or meta.get("modifiedTime") != lay.get("modified"):
            records, notes = self._read(ss, meta)  # changed since it was read: find rows and columns anew
            self._log(notes)
            self._adopt(records, label=label)
            lay = self._layouts[label]
        title, reg = lay["title"], lay["register"]
        data: list[dict] = []
        structure: list[dict] = []
        needed: tuple[str, int, int] | None = None  # the results tab and the grid it needs (title, rows, columns)
        results: list[dict[str, Any] | ConnectorError] = []
        for op in ops:
            if op.op == "fields":
                if reg.get("problem"):
                    results.append(FatalError(f"sheets: {reg['problem']}: the write to '{title}'!{reg['tab']} was "
                                              "refused; fix the header or the mapping's [register.governance]",
                                              system=SYSTEM))
                    continue
                row = self._rows.get(op.record)
                if row is None:
                    results.append(SkippableError(f"sheets: the register row of {op.project} is no longer in "
                                                  f"'{title}'!{reg['tab']}", system=SYSTEM))
                    continue
                for f, (_before, after) in op.changes.items():
                    col = reg["gov"][f]
                    data.append({"range": f"{quote_tab(reg['tab'])}!{col_letter(col)}{row}",
                                 "values": [[_governance_value(f, after)]]})
                results.append({})
            elif op.op == "results":
                comp = lay["compliance"]
                tab = comp.get("tab") or self.mapping.compliance.tab
                table = [list(self.mapping.compliance.headers)] + [
                    ["" if v is None else str(v) for v in r] for r in op.payload["rows"]]
                height = max(len(table), comp.get("used") or 0)
                table += [[""] * len(self.mapping.compliance.headers) for _ in range(height - len(table))]
                width = len(self.mapping.compliance.headers)
                if comp.get("tab") is None:
                    structure.append({"addSheet": {"properties": {
                        "title": tab, "gridProperties": {"rowCount": max(1000, height + 100), "columnCount": 8,
                                                         "frozenRowCount": 1}}}})
                else:
                    if height > comp["rows"]:
                        structure.append({"appendDimension": {"sheetId": comp["sheet_id"], "dimension": "ROWS",
                                                              "length": height - comp["rows"] + 100}})
                    if width > comp["cols"]:
                        structure.append({"appendDimension": {"sheetId": comp["sheet_id"], "dimension": "COLUMNS",
                                                              "length": width - comp["cols"]}})
                data.append({"range": f"{quote_tab(tab)}!A1:{col_letter(width - 1)}{height}", "values": table})
                needed = (tab, height, width)
                results.append({"rows": len(op.payload["rows"])})
            else:
                results.append(ConnectorError(f"sheets: unknown write operation {op.op!r}", system=SYSTEM))
        try:
            if structure:
                self.client.update_structure(ss.id, structure, landed=lambda: self._has_grid(ss.id, needed))
            if data:
                self.client.update_values(ss.id, data)
        except ConnectorError as e:
            return [r if isinstance(r, ConnectorError) else e for r in results]
        return results

    def _has_grid(self, key: str, needed: tuple[str, int, int] | None) -> bool:
        """Whether spreadsheet `key` has the tab `needed` names with at least its rows and columns (did a structure
        change whose answer was lost land?)."""
        if needed is None:
            return False
        tab, rows, cols = needed
        for sheet in self.client.spreadsheet(key).get("sheets") or []:
            props = sheet.get("properties") or {}
            if norm_header(props.get("title") or "") == norm_header(tab):
                grid = props.get("gridProperties") or {}
                return grid.get("rowCount", 0) >= rows and grid.get("columnCount", 0) >= cols
        return False

    def recover(self, entry: JournalEntry, records: dict[str, MirrorRecord]) -> dict[str, Any] | None:
        if entry.op == "fields":
            return fields_landed(entry, records)
        if entry.op == "results":
            lay = records.get(entry.record.split("!", 1)[0] + "!")
            if lay is None or lay.data["compliance"].get("digest") != entry.payload.get("hash"):
                return None
            return {"rows": entry.payload.get("count")}
        return None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _governance_value(f: str, value: Any) -> Any:
    """A governance value as written (RAW): counts as numbers, the status as text, dates as ISO text."""
    if value is None:
        return ""
    if f == "open_violations":
        try:
            return int(value)
        except (TypeError, ValueError):
            return str(value)
    return str(value)


def _find_tab(tabs: dict[str, dict], wanted: str) -> str | None:
    if wanted in tabs:
        return wanted
    w = norm_header(wanted)
    return next((t for t in tabs if norm_header(t) == w), None)


class _ReadContext:
    """Parses the tabs of one spreadsheet into mirror records."""

    def __init__(self, conn: SheetsConnector, ss: SpreadsheetSettings, title: str, loc: Locale, modified: str | None,
                 base_url: str, tabs: dict[str, dict], notes: list[str]):
        self.conn = conn
        self.mapping = conn.mapping
        self.ss = ss
        self.label = ss.label
        self.title = title
        self.loc = loc
        self.modified = modified
        self.base_url = base_url
        self.tabs = tabs
        self.notes = notes

    def table(self, section: str, tab: str, rows: list[list[Any]]) -> _Table:
        return _locate(rows, self.mapping.tabs()[section], self.title, tab, section)

    def _missing(self, table: _Table, section: str, headers: dict[str, str]) -> dict[str, str]:
        """header -> message for the mapped columns the tab does not have (their fields become `invalid`)."""
        out = {}
        for canonical, header in headers.items():
            if not table.find(header):
                out[header] = (f"Sheets {table.where()}: column {header!r} (mapping [{section}.columns] {canonical}) "
                               f"is not in header row {table.header_row}")
        if out:
            self.notes.append(f"Sheets {table.where()}: mapped column(s) {', '.join(map(repr, out))} not in header "
                              f"row {table.header_row}; headers there: {table.headers_text()}")
        return out

    def _url(self, tab: str, row: int | None = None) -> str:
        gid = (self.tabs.get(tab) or {}).get("sheetId", 0)
        return f"{self.base_url}#gid={gid}" + (f"&range=A{row}" if row else "")

    def _rows(self, table: _Table, section: str, *, key_upper: bool = True, key_lower: bool = False):
        """Yield (row number, row, key) for data rows with a key; blank rows skipped, keyless rows noted."""
        tm = self.mapping.tabs()[section]
        key_cols = table.find(tm.key)
        keyless = []
        for i in range(table.header_index + 1, len(table.rows)):
            row = table.rows[i]
            if not any(v is not None and str(v).strip() for v in row):
                continue
            key = _key_text(_cell(row, key_cols), upper=key_upper, lower=key_lower)
            if key is None:
                keyless.append(i + 1)
                continue
            yield i + 1, row, key
        if keyless:
            shown = ", ".join(str(n) for n in keyless[:10]) + (" ..." if len(keyless) > 10 else "")
            self.notes.append(f"Sheets {table.where()}: {len(keyless)} row(s) with data but no {tm.key!r} were "
                              f"skipped (rows {shown})")

    def _record(self, kind: str, key: str, project: str | None, data: dict) -> MirrorRecord:
        return MirrorRecord(SYSTEM, key, kind, project, self.modified, json.loads(json.dumps(data, default=str)))

    # ---- tabs ----
    def register(self, table: _Table) -> list[MirrorRecord]:
        tm = self.mapping.register
        cols = tm.columns.mapped()
        missing = self._missing(table, "register", cols)
        records: dict[str, MirrorRecord] = {}
        for number, row, key in self._rows(table, "register"):
            if key in records:
                records[key].data.setdefault("duplicate_rows", []).append(number)
                continue
            p = _Row(table, row, self.loc, missing)
            p.row_no = number
            c = cols.get
            data: dict[str, Any] = {
                "url": self._url(table.tab, number), "row": number,
                "name": p.text("name", c("name")), "department": p.text("department", c("department")),
                "pm": p.person("pm", c("pm")), "sponsor": p.person("sponsor", c("sponsor")),
                "phase": p.text("phase", c("phase")),
                "state": p.choice("state", c("state"), _STATES, "a project state (Active, On Hold, Closed, Cancelled)"),
                "tags": [t.strip() for t in re.split(r"[,;\n]", p.text("tags", c("tags")) or "") if t.strip()],
                "initiation_status": p.text("initiation_status", c("initiation_status")),
                "initiation_submitted": p.day("initiation_submitted", c("initiation_submitted")),
                "initiation_decided": p.day("initiation_decided", c("initiation_decided")),
            }
            for f in ("budget_approved", "actual_cost", "forecast_cost", "fte_approved", "fte_assigned",
                      "baseline_cost"):
                data[f] = p.number(f, c(f))
            for f in ("planned_start", "planned_finish", "forecast_finish", "baseline_start", "baseline_finish"):
                data[f] = p.day(f, c(f))
            data["governance"] = self._governance(table, row)
            data["invalid"] = p.invalid
            data["people"] = p.people
            records[key] = self._record("project", f"{self.label}!{tm.tab}!{key}", key, data)
        for key, rec in records.items():
            if rec.data.get("duplicate_rows"):
                rows = [rec.data["row"], *rec.data["duplicate_rows"]]
                self.notes.append(f"Sheets {table.where()}: {tm.key} {key!r} appears in rows "
                                  f"{', '.join(map(str, rows))}; the first row is read and no row of {key} is "
                                  "written until there is one")
        return list(records.values())

    def _governance(self, table: _Table, row: list[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f, header in self.mapping.register.governance.mapped().items():
            cols = table.find(header)
            v = _cell(row, cols) if cols else None
            if isinstance(v, _Conflict):
                v = " / ".join(str(x) for x in v.values)
            if f == "compliance_changed" and v is not None:
                d = parse_date(v, self.loc)
                v = d.isoformat() if d else str(v)
            elif f == "open_violations" and v is not None:
                n = parse_number(v, self.loc)
                v = (int(n) if n is not None and n == int(n) else n) if n is not None else str(v)
            elif v is not None:
                v = str(v).strip()
            out[f] = v
        return out

    def raid(self, table: _Table) -> list[MirrorRecord]:
        tm = self.mapping.raid
        cols = tm.columns.mapped()
        missing = self._missing(table, "raid", cols)
        project_cols = table.find(tm.project)
        out = []
        for number, row, key in self._rows(table, "raid"):
            project = self._project_of(table, row, project_cols, number, "raid")
            if project is None:
                continue
            p = _Row(table, row, self.loc, missing)
            p.row_no = number
            c = cols.get
            status = p.text("status", c("status"))
            st = None
            if status is not None:
                low = status.lower()
                st = "open" if low in _OPEN else "closed" if low in _CLOSED else None
                if st is None:
                    p._bad("status", c("status") or "", status, "Open or Closed")
            data = {
                "url": self._url(table.tab, number), "row": number, "id": key,
                "kind": p.choice("kind", c("kind"), _RAID_KINDS, "a RAID type (Risk, Assumption, Issue, Dependency, "
                                                                 "Action)") or "risk",
                "title": p.text("title", c("title")), "probability": p.score("probability", c("probability")),
                "impact": p.score("impact", c("impact")),
                "severity": (p.text("severity", c("severity")) or "").lower() or None,
                "owner": p.person("owner", c("owner")), "response": p.text("response", c("response")),
                "due": p.day("due", c("due")), "status": st or "open", "raised_on": p.day("raised_on", c("raised_on")),
                "last_reviewed": p.day("last_reviewed", c("last_reviewed")),
                "escalated": p.flag("escalated", c("escalated")),
                "escalated_on": p.day("escalated_on", c("escalated_on")),
                "linked_item": _key_text(p.text("linked_item", c("linked_item")), upper=True),
            }
            data["invalid"], data["people"] = p.invalid, p.people
            out.append(self._record("risk", f"{self.label}!{tm.tab}!{key}", project, data))
        return _unique(out, table, self.notes)

    def reports(self, table: _Table) -> list[MirrorRecord]:
        tm = self.mapping.status_reports
        cols = tm.columns.mapped()
        missing = self._missing(table, "status_reports", cols)
        project_cols = table.find(tm.project)
        out = []
        for number, row, key in self._rows(table, "status_reports"):
            project = self._project_of(table, row, project_cols, number, "status_reports")
            if project is None:
                continue
            p = _Row(table, row, self.loc, missing)
            p.row_no = number
            c = cols.get
            data = {
                "url": self._url(table.tab, number), "row": number, "id": key,
                "report_date": p.day("report_date", c("report_date")), "overall": p.rag("overall", c("overall")),
                "schedule": p.rag("schedule", c("schedule")), "cost": p.rag("cost", c("cost")),
                "scope": p.rag("scope", c("scope")), "summary": p.text("summary", c("summary")),
                "actions": self._actions(p.text("actions", c("actions"))),
            }
            data["invalid"], data["people"] = p.invalid, p.people
            out.append(self._record("status_report", f"{self.label}!{tm.tab}!{key}", project, data))
        return _unique(out, table, self.notes)

    def _actions(self, text: str | None) -> list[dict]:
        """Actions one per line: "text (owner: x, due: date)"; a line without parentheses is just text."""
        out = []
        for line in (text or "").splitlines():
            m = re.match(r"\s*(?:[-*•]\s*)?(?:action:\s*)?(.+?)\s*(?:\(([^()]*)\))?\s*$", line, re.I)
            if not m or not m.group(1).strip():
                continue
            owner = due = None
            for part in (m.group(2) or "").split(","):
                k, _, v = part.partition(":")
                k, v = k.strip().lower(), v.strip()
                if k in ("owner", "by", "who"):
                    em = _EMAIL.search(v)
                    owner = em.group().lower() if em else (v if v and v.lower() != "n/a" else None)
                elif k in ("due", "by date", "date"):
                    d = parse_date(v, self.loc)
                    due = d.isoformat() if d else None
            out.append({"text": m.group(1).strip(), "owner": owner, "due": due})
        return out

    def approvals(self, table: _Table) -> list[MirrorRecord]:
        tm = self.mapping.approvals
        cols = tm.columns.mapped()
        missing = self._missing(table, "approvals", cols)
        project_cols = table.find(tm.project)
        out = []
        for number, row, key in self._rows(table, "approvals"):
            project = self._project_of(table, row, project_cols, number, "approvals")
            if project is None:
                continue
            p = _Row(table, row, self.loc, missing)
            p.row_no = number
            c = cols.get
            data = {
                "url": self._url(table.tab, number), "row": number, "id": key,
                "kind": p.choice("kind", c("kind"), _APPROVAL_KINDS, "an approval type (Budget, Resource, "
                                                                     "Infrastructure, Change Request)") or "budget",
                "status": p.choice("status", c("status"), _APPROVAL_STATUS, "Pending, Approved, Rejected or "
                                                                          "Withdrawn") or "pending",
                "title": p.text("title", c("title")), "requested_on": p.day("requested_on", c("requested_on")),
                "decided_on": p.day("decided_on", c("decided_on")), "amount": p.number("amount", c("amount")),
                "fte": p.number("fte", c("fte")), "approver": p.person("approver", c("approver")),
            }
            data["invalid"], data["people"] = p.invalid, p.people
            out.append(self._record("approval", f"{self.label}!{tm.tab}!{key}", project, data))
        return _unique(out, table, self.notes)

    def training(self, table: _Table) -> list[MirrorRecord]:
        tm = self.mapping.training
        cols = tm.columns.mapped()
        missing = self._missing(table, "training", cols)
        seen: dict[str, int] = defaultdict(int)
        out = []
        for number, row, key in self._rows(table, "training", key_upper=False, key_lower=True):
            m = _EMAIL.search(key)
            if not m:
                self.notes.append(f"Sheets {table.where()} row {number}: {key!r} is not an e-mail; row skipped")
                continue
            email = m.group().lower()
            p = _Row(table, row, self.loc, missing)
            p.row_no = number
            c = cols.get
            seen[email] += 1
            data = {"url": self._url(table.tab, number), "row": number, "email": email,
                    "name": p.text("name", c("name")), "course": p.text("course", c("course")),
                    "completed_on": p.day("completed_on", c("completed_on")),
                    "expires_on": p.day("expires_on", c("expires_on"))}
            data["invalid"], data["people"] = p.invalid, {}
            out.append(self._record("training", f"{self.label}!{tm.tab}!{email}#{seen[email]}", None, data))
        return out

    def _project_of(self, table: _Table, row: list[Any], cols: list[int], number: int, section: str) -> str | None:
        if not cols:
            raise FatalError(f"sheets: {table.where()}: no {self.mapping.tabs()[section].project!r} column in header "
                             f"row {table.header_row} (mapping [{section}] project); headers there: "
                             f"{table.headers_text()}", system=SYSTEM)
        project = _key_text(_cell(row, cols), upper=True)
        if project is None:
            self.notes.append(f"Sheets {table.where()} row {number}: no project key; row skipped")
        return project

    def layout(self, register: _Table, comp_tab: str | None, comp_rows: list[list[Any]] | None) -> MirrorRecord:
        gov: dict[str, int] = {}
        problems = []
        for f, header in self.mapping.register.governance.mapped().items():
            cols = register.find(header)
            if not cols:
                problems.append(f"the governance column {header!r} is not in header row {register.header_row} of "
                                f"{register.where()} (headers there: {register.headers_text()})")
            elif len(cols) > 1:
                problems.append(f"the governance column {header!r} appears {len(cols)} times in header row "
                                f"{register.header_row} of {register.where()} (columns "
                                f"{', '.join(col_letter(c) for c in cols)}), so the hub cannot tell which to write")
            else:
                gov[f] = cols[0]
        comp: dict[str, Any] = {"tab": comp_tab, "digest": None, "used": 0, "rows": 0, "cols": 0, "sheet_id": None}
        if comp_tab is not None:
            props = self.tabs.get(comp_tab) or {}
            grid = props.get("gridProperties") or {}
            rows = comp_rows or []
            width = len(self.mapping.compliance.headers)
            comp.update({"sheet_id": props.get("sheetId"), "rows": grid.get("rowCount", 0),
                         "cols": grid.get("columnCount", 0), "used": len(rows)})
            header = [str(v).strip() for v in (rows[0] if rows else [])][:width]
            if header == list(self.mapping.compliance.headers):
                body = [[("" if v is None else str(v)) for v in (r + [""] * width)[:width]] for r in rows[1:]]
                while body and not any(body[-1]):
                    body.pop()
                comp["digest"] = table_digest(body)
        reg_props = self.tabs.get(register.tab) or {}
        data = {"label": self.label, "spreadsheet": self.ss.id, "title": self.title, "locale": self.loc.name,
                "modified": self.modified, "url": self.base_url,
                "register": {"tab": register.tab, "sheet_id": reg_props.get("sheetId"),
                             "header_row": register.header_row, "gov": gov, "problem": "; ".join(problems) or None},
                "compliance": comp}
        if problems:
            self.notes.append("; ".join(problems))
        return self._record("sheet", f"{self.label}!", None, data)


def _unique(records: list[MirrorRecord], table: _Table, notes: list[str]) -> list[MirrorRecord]:
    """One record per key: a key in two rows keeps the first and says so."""
    seen: dict[str, MirrorRecord] = {}
    for rec in records:
        if rec.key in seen:
            notes.append(f"Sheets {table.where()}: {rec.data.get('id')!r} appears in rows {seen[rec.key].data['row']} "
                         f"and {rec.data['row']}; the first is read")
            continue
        seen[rec.key] = rec
    return list(seen.values())


def _project(pk: str, d: dict, src: SourceRef, inv: dict) -> Project:
    gov = d.get("governance") or {}
    violations = gov.get("open_violations")
    changed = gov.get("compliance_changed")
    try:
        changed_day = date.fromisoformat(changed) if isinstance(changed, str) else None
    except ValueError:
        changed_day = None
    proj = Project(
        key=pk, name=d.get("name"), department=d.get("department"), pm=d.get("pm"), sponsor=d.get("sponsor"),
        phase=d.get("phase"), state=d.get("state") or "active", tags=list(d.get("tags") or []),
        initiation=InitiationRequest(
            status=_initiation(d.get("initiation_status")), submitted_on=d.get("initiation_submitted"),
            decided_on=d.get("initiation_decided"), sources=[src]) if d.get("initiation_status") else None,
        budget_approved=d.get("budget_approved"), actual_cost=d.get("actual_cost"),
        forecast_cost=d.get("forecast_cost"), fte_approved=d.get("fte_approved"), fte_assigned=d.get("fte_assigned"),
        planned_start=d.get("planned_start"), planned_finish=d.get("planned_finish"),
        forecast_finish=d.get("forecast_finish"),
        baseline=Baseline(start=d.get("baseline_start"), finish=d.get("baseline_finish"), cost=d.get("baseline_cost"))
        if any(d.get(k) is not None for k in ("baseline_start", "baseline_finish", "baseline_cost")) else None,
        governance=Governance(
            compliance_status=gov.get("compliance_status") if isinstance(gov.get("compliance_status"), str) else None,
            open_violations=int(violations) if isinstance(violations, (int, float)) else None,
            compliance_changed=changed_day),
        sources=[src], invalid=inv,
    )
    for name in ("name", "department", "pm", "sponsor", "phase", "budget_approved", "actual_cost", "forecast_cost",
                 "fte_approved", "fte_assigned", "planned_start", "planned_finish", "forecast_finish"):
        if d.get(name) is not None:
            proj.observe(name, d.get(name), src)
    return proj


def _initiation(v: str | None) -> str:
    s = (v or "").strip().lower()
    return s if s in ("draft", "submitted", "approved", "rejected") else "draft"
