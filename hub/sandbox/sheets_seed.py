"""Rendering the seed portfolio as the PMO's "PMO Register" spreadsheet, with the mess real sheets have.

    render(app, portfolio, locale="de_DE", max_raid_rows=None)

Tabs, keyed to the Jira portfolio by project key (the Jira project key is the register's "Jira Key"):

- Register: a merged title row and a note row above the header (the header is row 3), one row per project,
  columns in an order other than the mapping's, a column with a blank header, a duplicate header ("Notes"),
  the hub-owned governance columns (empty until the hub writes them), blank rows between groups of rows,
  numbers and dates typed with number formats or pasted as text written for the locale ("1.234.500,00",
  "03.11.2026" in de_DE), notes on a few cells, e-mails in mixed case or as "Name <e-mail>".
- RAID Log: header in row 1 (frozen); a formula column (Score = Probability * Impact).
- Status Reports, Approvals: header in row 1; report actions one per line, "text (owner: x, due: date)".
- Training Roster: one row per course a PM completed.

Identity findings on purpose: the last two seed projects have no register row (Jira-only), and two register
rows name proposals Jira does not have; `app.seed_info` lists both, and the register row of every key.
`max_raid_rows` caps the RAID log (benchmarks: a 2,000-project seed and 5,000 RAID rows).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from hub.sandbox.seed import SeedPortfolio, SeedProject
from hub.sandbox.sheets import (
    HUB_ACCOUNT, OFFICE_ACCOUNT, Cell, NumberFormat, SheetsApp, date_to_serial, format_date, format_number,
    locale_spec,
)

TITLE = "PMO Register"
REGISTER = "Register"
RAID = "RAID Log"
REPORTS = "Status Reports"
APPROVALS = "Approvals"
TRAINING = "Training Roster"
REGISTER_HEADER_ROW = 3  # 1-based, as people count rows
REGISTER_HEADERS = [
    "Project Name", "Jira Key", "Department", "Project Manager", "Sponsor", "Phase", "Status", "Planned Start",
    "Planned Finish", "Forecast Finish", "Approved Budget", "Forecast Cost", "Actual Cost", "Approved FTE",
    "Assigned FTE", "", "Notes", "PMO Compliance", "PMO Open Violations", "PMO Compliance Changed", "Notes",
]
RAID_HEADERS = ["ID", "Project", "Type", "Title", "Owner", "Probability", "Impact", "Score", "Severity", "Response",
                "Due Date", "Status", "Raised", "Last Reviewed", "Escalated", "Escalated On", "Linked Item"]
REPORT_HEADERS = ["Report ID", "Project", "Report Date", "Overall", "Schedule", "Cost", "Scope", "Summary",
                  "Actions", "Author"]
APPROVAL_HEADERS = ["Request ID", "Project", "Type", "Title", "Status", "Requested", "Decided", "Amount", "FTE",
                    "Approver", "Requested By"]
TRAINING_HEADERS = ["Name", "Email", "Course", "Completed", "Expires"]
TIME_ZONES = {"de": "Europe/Berlin", "fr": "Europe/Paris", "en_US": "America/New_York", "en_GB": "Europe/London"}
PROPOSALS = (("Proposal: Data Mesh Pilot", "IT"), ("Proposal: Field Service App", "Operations"))


class _Grid:
    """Rows of cells for one tab, built top to bottom."""

    def __init__(self, width: int):
        self.width = width
        self.rows: list[list[Cell | None]] = []

    def add(self, cells: list[Cell | None]) -> int:
        self.rows.append(cells)
        return len(self.rows)  # 1-based row number

    def blank(self) -> None:
        self.rows.append([])


def _t(text: Any, note: str | None = None) -> Cell | None:
    if text is None or text == "":
        return Cell(None, None, None, note) if note else None
    return Cell(str(text), None, None, note)


def _n(value: float | int | None, fmt: NumberFormat | None = None) -> Cell | None:
    return None if value is None else Cell(float(value), None, fmt)


def _d(value: date | None, fmt: NumberFormat) -> Cell | None:
    return None if value is None else Cell(float(date_to_serial(value)), None, fmt)


def render(app: SheetsApp, portfolio: SeedPortfolio, *, locale: str = "de_DE", title: str = TITLE,
           max_raid_rows: int | None = None) -> str:
    """Add the register spreadsheet to `app` (shared with the hub and the PMO office); returns its id."""
    loc = locale_spec(locale)
    created = datetime.combine(portfolio.today - timedelta(days=400), time(9, 30), tzinfo=timezone.utc)
    tz = TIME_ZONES.get(locale, TIME_ZONES.get(locale.split("_")[0], "Europe/London"))
    ss = app.add_spreadsheet(title, locale=locale, time_zone=tz, created=created,
                             share=((OFFICE_ACCOUNT, "owner"), (HUB_ACCOUNT, "writer")))
    app.register_id = ss.id
    date_fmt = NumberFormat("DATE", loc.date_pattern)
    money = NumberFormat("CURRENCY", loc.currency)
    whole = NumberFormat("NUMBER", "#,##0")
    fte_fmt = NumberFormat("NUMBER", "0.0")
    people = portfolio.people
    projects = list(portfolio.projects)
    jira_only = [p.key for p in projects[-2:]] if len(projects) >= 4 else []
    in_register = [p for p in projects if p.key not in jira_only]
    used = {p.key for p in projects}
    proposal_keys = [k for k in ("NEWA", "NEWB", "NEWC", "NEWD", "PRPA", "PRPB") if k not in used][:2]
    info: dict[str, Any] = {"jira_only": jira_only, "register_only": proposal_keys, "register_rows": {},
                            "header_row": REGISTER_HEADER_ROW, "locale": locale}

    def person(email: str | None, n: int) -> str | None:
        """An e-mail as people type it: mostly plain, sometimes capitalised or as "Name <e-mail>"."""
        if not email:
            return None
        if n % 5 == 3 and email in people:
            return f"{people[email].name} <{email}>"
        if n % 7 == 2:
            local, _, domain = email.partition("@")
            return ".".join(part.capitalize() for part in local.split(".")) + "@" + domain.capitalize()
        return email

    # ---- Register ----
    reg = _Grid(len(REGISTER_HEADERS))
    reg.add([_t(f"PMO Project Register {portfolio.today.year}",
                note="Maintained by the PMO office. Columns 'PMO Compliance' to 'PMO Compliance Changed' are "
                     "filled in by pmo-hub.")])
    reg.add([_t("One row per project; the Jira Key links the row to the project in Jira.")])
    reg.add([_t(h) for h in REGISTER_HEADERS])
    col = {h: i for i, h in reversed(list(enumerate(REGISTER_HEADERS)))}  # first of duplicates

    def register_row(n: int, key: str, name: str, dept: str, pm: str | None, sponsor: str | None, phase: str,
                     state: str, sp: SeedProject | None, start: date, finish: date, forecast: date, budget: float,
                     fc: float, ac: float, fte: float, fte_assigned: float) -> list[Cell | None]:
        row: list[Cell | None] = [None] * len(REGISTER_HEADERS)
        row[col["Project Name"]] = _t(name, note="Renamed at the G1 review." if n == 0 else None)
        row[col["Jira Key"]] = _t(key)
        row[col["Department"]] = _t(dept)
        row[col["Project Manager"]] = _t(person(pm, n))
        row[col["Sponsor"]] = _t(person(sponsor, n + 1))
        row[col["Phase"]] = _t(phase)
        row[col["Status"]] = _t({"active": "Active", "on_hold": "On Hold", "closed": "Closed",
                                 "cancelled": "Cancelled"}[state])
        row[col["Planned Start"]] = _d(start, date_fmt)
        row[col["Planned Finish"]] = (_t(format_date(finish, loc.date_pattern)) if n % 9 == 4
                                      else _d(finish, date_fmt))  # pasted as text
        row[col["Forecast Finish"]] = _d(forecast, date_fmt)
        row[col["Approved Budget"]] = (_t(format_number(budget, NumberFormat("NUMBER", "#,##0.00"), loc))
                                       if n % 7 == 5 else _n(budget, money))
        row[col["Forecast Cost"]] = _n(fc, whole)
        row[col["Actual Cost"]] = _n(ac, whole)
        row[col["Approved FTE"]] = _n(fte, fte_fmt)
        row[col["Assigned FTE"]] = (_t(format_number(fte_assigned, NumberFormat("NUMBER", "0.0"), loc))
                                    if n % 11 == 6 else _n(fte_assigned, fte_fmt))
        row[col[""]] = _t("chk w/ finance") if n % 6 == 1 else None
        row[col["Notes"]] = _t("Steering committee monthly") if n % 4 == 0 else None
        row[REGISTER_HEADERS.index("Notes", col["Notes"] + 1)] = _t("PMO: reviewed") if n % 8 == 3 else None
        return row

    for n, sp in enumerate(in_register):
        if n and n % 12 == 0:
            reg.blank()
        row_no = reg.add(register_row(n, sp.key, sp.name, sp.department, sp.pm, sp.sponsor, sp.phase, sp.state, sp,
                                      sp.planned_start, sp.planned_finish, sp.forecast_finish, sp.budget_approved,
                                      sp.forecast_cost, sp.actual_cost, sp.fte_approved, sp.fte_assigned))
        info["register_rows"][sp.key] = row_no
    pms = sorted(e for e, p in people.items() if p.role == "pm" and p.trainings)
    reg.blank()
    for i, (key, (name, dept)) in enumerate(zip(proposal_keys, PROPOSALS)):
        start = portfolio.today + timedelta(days=30 + 15 * i)
        row_no = reg.add(register_row(len(in_register) + i, key, name, dept, pms[i % len(pms)] if pms else None,
                                      None, "Initiation", "active", None, start, start + timedelta(days=240),
                                      start + timedelta(days=240), 150_000.0 + 50_000 * i, 140_000.0, 0.0, 2.0, 1.0))
        info["register_rows"][key] = row_no
    _install(ss, REGISTER, reg, frozen=REGISTER_HEADER_ROW)
    ss.sheet(REGISTER).merges.append([0, 1, 0, 8])

    # ---- RAID Log ----
    raid = _Grid(len(RAID_HEADERS))
    raid.add([_t(h) for h in RAID_HEADERS])
    n = 0
    for sp in in_register:
        for r in sp.raid:
            if max_raid_rows is not None and n >= max_raid_rows:
                break
            row_no = len(raid.rows) + 1
            score = (Cell(None, f"=F{row_no}*G{row_no}") if r.probability is not None and r.impact is not None
                     else None)
            raid.add([_t(r.key), _t(sp.key), _t(r.kind.capitalize()), _t(r.title), _t(person(r.owner, n)),
                      _n(r.probability), _n(r.impact), score, _t((r.severity or "").capitalize() or None),
                      _t(r.response), _d(r.due, date_fmt), _t(r.status.capitalize()), _d(r.raised_on, date_fmt),
                      (_t(format_date(r.last_reviewed, loc.date_pattern)) if r.last_reviewed and n % 10 == 7
                       else _d(r.last_reviewed, date_fmt)),
                      _t("Yes" if r.escalated else "No"), _d(r.escalated_on, date_fmt), _t(r.linked_item)])
            n += 1
    info["raid_rows"] = n
    _install(ss, RAID, raid, frozen=1)

    # ---- Status Reports ----
    reports = _Grid(len(REPORT_HEADERS))
    reports.add([_t(h) for h in REPORT_HEADERS])
    for sp in in_register:
        for rep in sp.status_reports:
            actions = "\n".join(
                f"{a.text} (owner: {a.owner or 'n/a'}" + (f", due: {format_date(a.due, loc.date_pattern)}" if a.due
                                                           else "") + ")" for a in rep.actions)
            reports.add([_t(rep.key), _t(sp.key), _d(rep.report_date, date_fmt), _t(_rag(rep.overall)),
                         _t(_rag(rep.schedule)), _t(_rag(rep.cost)), _t(_rag(rep.scope)), _t(rep.summary),
                         _t(actions or None), _t(rep.author)])
    _install(ss, REPORTS, reports, frozen=1)

    # ---- Approvals ----
    appr = _Grid(len(APPROVAL_HEADERS))
    appr.add([_t(h) for h in APPROVAL_HEADERS])
    for sp in in_register:
        for a in sp.approvals:
            appr.add([_t(a.key), _t(sp.key), _t(a.kind.replace("_", " ").title()), _t(a.title),
                      _t(a.status.capitalize()), _d(a.requested_on, date_fmt), _d(a.decided_on, date_fmt),
                      _n(a.amount, money), _n(a.fte, fte_fmt), _t(a.approver), _t(a.requested_by)])
    _install(ss, APPROVALS, appr, frozen=1)

    # ---- Training Roster ----
    roster = _Grid(len(TRAINING_HEADERS))
    roster.add([_t(h) for h in TRAINING_HEADERS])
    for i, email in enumerate(sorted(people, key=lambda e: people[e].name)):
        p = people[email]
        if p.role != "pm":
            continue
        for t in p.trainings:
            roster.add([_t(p.name), _t(email.upper() if i % 6 == 2 else email), _t(t.course),
                        _d(t.completed_on, date_fmt), _d(t.expires_on, date_fmt)])
    _install(ss, TRAINING, roster, frozen=1)
    app.seed_info = info
    return ss.id


def _rag(value: str | None) -> str | None:
    return value.capitalize() if value else None


def _install(ss, title: str, grid: _Grid, *, frozen: int = 0) -> None:
    rows = max(1000, len(grid.rows) + 50)
    sheet = ss.add_sheet(title, rows=rows, cols=max(26, grid.width), sheet_id=0 if not ss.sheets else None)
    sheet.frozen_rows = frozen
    sheet.grid = [list(r) for r in grid.rows]
