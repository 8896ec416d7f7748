"""What a check sees: the run (portfolio, today, lifecycle, calendar) and one project with its records.

`RunContext` is built once per evaluation; `ProjectContext` once per project, and computes each per-project
aggregate (latest report, started work items, linked RAID keys, approved change requests...) at most once,
on first use, so that thirty rules over the same project share the work. Checks read only these two objects.
"""

from __future__ import annotations

import calendar as _calendar
from collections import defaultdict
from datetime import date
from functools import cached_property
from typing import TYPE_CHECKING, Any, Iterable

from hub.model import Approval, Portfolio, Project, RaidEntry, StatusReport, Unmatched, WorkItem

if TYPE_CHECKING:
    from hub.rules.settings import StandardsSettings


def add_months(d: date, months: int) -> date:
    """`d` plus a number of calendar months, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, _calendar.monthrange(year, month)[1]))


class BusinessCalendar:
    """Counts business days: weekdays not in `weekend` (0 = Monday) and not a holiday."""

    def __init__(self, weekend: Iterable[int] = (5, 6), holidays: Iterable[date] = ()):
        self.weekend = frozenset(weekend)
        self.holidays = frozenset(holidays)
        self._per_week = 7 - len(self.weekend)

    def between(self, start: date, end: date) -> int:
        """Business days after `start` up to and including `end` (0 if end <= start)."""
        if end <= start:
            return 0
        days = (end - start).days
        weeks, rest = divmod(days, 7)
        count = weeks * self._per_week
        wd = start.weekday()
        for i in range(1, rest + 1):
            if (wd + i) % 7 not in self.weekend:
                count += 1
        if self.holidays:
            count -= sum(1 for h in self.holidays if start < h <= end and h.weekday() not in self.weekend)
        return count


class RunContext:
    """One evaluation: the portfolio, today, the lifecycle and calendar, and which systems failed."""

    def __init__(self, portfolio: Portfolio, settings: StandardsSettings, today: date):
        self.portfolio = portfolio
        self.settings = settings
        self.today = today
        self.people = portfolio.people
        life = settings.lifecycle
        self.phases: list[str] = list(life.phases)
        self.phase_rank: dict[str, int] = {p.lower(): i for i, p in enumerate(self.phases)}
        self.gates = list(life.gates)
        self.calendar = BusinessCalendar(settings.business_days.weekend, settings.business_days.holidays)
        self.failed: set[str] = portfolio.failed_systems()
        self._suppliers = settings.suppliers or portfolio.supplies
        self.supplies = portfolio.supplies

    def phase_index(self, phase: str | None) -> int | None:
        return self.phase_rank.get(phase.lower()) if phase else None

    def failed_for(self, reads: Iterable[str]) -> list[str]:
        """Failed systems that supply any of these data kinds (all failed systems if suppliers are unknown)."""
        if not self.failed:
            return []
        out: set[str] = set()
        for kind in reads:
            supplied_by = self._suppliers.get(kind)
            out |= self.failed if supplied_by is None else self.failed.intersection(supplied_by)
        return sorted(out)

    def unsupplied(self, reads: Iterable[str]) -> list[str]:
        """Data kinds this check reads that no configured system supplies (empty when supplies are unknown)."""
        if not self.supplies:
            return []
        return [k for k in reads if not self.supplies.get(k)]

    def business_days(self, start: date, end: date) -> int:
        return self.calendar.between(start, end)

    @cached_property
    def unmatched_by_key(self) -> dict[str, list[Unmatched]]:
        out: dict[str, list[Unmatched]] = defaultdict(list)
        for u in self.portfolio.unmatched:
            out[u.key].append(u)
        return out


class ProjectContext:
    """One project and its records, with per-project aggregates computed once."""

    def __init__(self, run: RunContext, project: Project):
        p = run.portfolio
        self.run = run
        self.project = project
        self.key = project.key
        self.today = run.today
        self.items: list[WorkItem] = p.items_by_project.get(project.key, [])
        self.milestones = p.milestones_by_project.get(project.key, [])
        self.raid: list[RaidEntry] = p.raid_by_project.get(project.key, [])
        self.reports: list[StatusReport] = p.reports_by_project.get(project.key, [])  # newest first
        self.approvals: list[Approval] = p.approvals_by_project.get(project.key, [])

    def records(self, kind: str) -> Iterable[Any]:
        if kind == "project":
            return (self.project,)
        if kind == "work_item":
            return self.items
        if kind == "risk":
            return self.raid
        if kind == "milestone":
            return self.milestones
        if kind == "status_report":
            return self.reports
        if kind == "gate":
            return self.project.gates
        if kind == "approval":
            return self.approvals
        if kind == "person":
            return (self.project.pm,)
        raise ValueError(f"unknown subject kind {kind!r}")

    @cached_property
    def phase_index(self) -> int | None:
        return self.run.phase_index(self.project.phase)

    def phase_problem(self) -> str | None:
        """Why the project's phase cannot be placed in the lifecycle, or None."""
        pr = self.project
        if "phase" in pr.invalid:
            return f"Cannot evaluate: phase of project {self.key} is unreadable ({pr.invalid['phase']})."
        if not pr.phase:
            return f"Cannot evaluate: project {self.key} has no phase."
        if self.phase_index is None:
            return (f"Cannot evaluate: phase {pr.phase!r} of project {self.key} is not in the lifecycle "
                    f"{self.run.phases}.")
        return None

    @cached_property
    def started_items(self) -> list[WorkItem]:
        return [i for i in self.items if i.status_category != "todo"]

    @cached_property
    def items_with_unreadable_status(self) -> list[WorkItem]:
        return [i for i in self.items if i.invalid and "status_category" in i.invalid]

    @cached_property
    def raid_linked_items(self) -> set[str]:
        return {r.linked_item for r in self.raid if r.linked_item}

    @cached_property
    def approved_change_requests(self) -> list[Approval]:
        return [a for a in self.approvals if a.kind == "change_request" and a.status == "approved"]

    @cached_property
    def latest_report(self) -> StatusReport | None:
        return self.reports[0] if self.reports else None
