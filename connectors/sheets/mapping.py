"""The Google Sheets mapping (mappings/sheets.toml): which tab holds what, and which column header feeds which
canonical field. Columns are found by header text (case and spacing ignored), never by position; rows are
identified by a key column, never by row number.

Each tab section names the `tab`, its `key` column (the identity), for per-project tabs the `project` column
(the project key, e.g. the Jira key), optionally the `header_row` (1-based; detected when absent: the first of
the top rows that holds the key header) and `optional = true` when the tab may be missing. `[register.governance]`
names the hub-owned columns the hub writes; every other column is the PMO's or the PMs' and is never written.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hub.errors import ConfigError


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def mapped(self) -> dict[str, str]:
        """canonical field -> header, for the fields this mapping names."""
        return {k: v for k, v in self.model_dump().items() if isinstance(v, str) and v}


class _Tab(_M):
    tab: str = Field(min_length=1)
    key: str = Field(min_length=1)
    header_row: int | None = Field(None, ge=1, le=50)
    optional: bool = False


class RegisterColumns(_M):
    name: str | None = None
    department: str | None = None
    pm: str | None = None
    sponsor: str | None = None
    phase: str | None = None
    state: str | None = None
    tags: str | None = None
    initiation_status: str | None = None
    initiation_submitted: str | None = None
    initiation_decided: str | None = None
    budget_approved: str | None = None
    actual_cost: str | None = None
    forecast_cost: str | None = None
    fte_approved: str | None = None
    fte_assigned: str | None = None
    planned_start: str | None = None
    planned_finish: str | None = None
    forecast_finish: str | None = None
    baseline_start: str | None = None
    baseline_finish: str | None = None
    baseline_cost: str | None = None


class GovernanceColumns(_M):
    compliance_status: str | None = None
    open_violations: str | None = None
    compliance_changed: str | None = None


class RegisterTab(_Tab):
    columns: RegisterColumns = RegisterColumns()
    governance: GovernanceColumns = GovernanceColumns()

    @model_validator(mode="after")
    def _owned(self) -> "RegisterTab":
        gov = {v.casefold() for v in self.governance.mapped().values()}
        clash = sorted(h for h in self.columns.mapped().values() if h.casefold() in gov) + \
            ([self.key] if self.key.casefold() in gov else [])
        if clash:
            raise ValueError(f"column {clash[0]!r} is both read and hub-owned; governance columns must be "
                             "columns only the hub writes")
        return self


class RaidColumns(_M):
    kind: str | None = None
    title: str | None = None
    probability: str | None = None
    impact: str | None = None
    severity: str | None = None
    owner: str | None = None
    response: str | None = None
    due: str | None = None
    status: str | None = None
    raised_on: str | None = None
    last_reviewed: str | None = None
    escalated: str | None = None
    escalated_on: str | None = None
    linked_item: str | None = None


class RaidTab(_Tab):
    project: str
    columns: RaidColumns = RaidColumns()


class ReportColumns(_M):
    report_date: str | None = None
    overall: str | None = None
    schedule: str | None = None
    cost: str | None = None
    scope: str | None = None
    summary: str | None = None
    actions: str | None = None


class ReportTab(_Tab):
    project: str
    columns: ReportColumns = ReportColumns()


class ApprovalColumns(_M):
    kind: str | None = None
    status: str | None = None
    title: str | None = None
    requested_on: str | None = None
    decided_on: str | None = None
    amount: str | None = None
    fte: str | None = None
    approver: str | None = None


class ApprovalTab(_Tab):
    project: str
    columns: ApprovalColumns = ApprovalColumns()


class TrainingColumns(_M):
    name: str | None = None
    course: str | None = None
    completed_on: str | None = None
    expires_on: str | None = None


class TrainingTab(_Tab):
    """The roster: `key` is the e-mail column (people are keyed by lower-cased e-mail)."""

    columns: TrainingColumns = TrainingColumns()


class ComplianceTab(_M):
    """The hub-owned tab with the consolidated results (created when missing)."""

    tab: str = "PMO Compliance"
    headers: tuple[str, str, str, str, str, str] = ("Project", "Rule", "Severity", "Status", "Subject", "Reason")


with warnings.catch_warnings():  # `register` shadows ABCMeta.register on the class, harmlessly: it is the TOML key
    warnings.filterwarnings("ignore", message='Field name "register"')

    class _SheetsMappingFields(_M):
        register: RegisterTab


class SheetsMapping(_SheetsMappingFields):
    raid: RaidTab | None = None
    status_reports: ReportTab | None = None
    approvals: ApprovalTab | None = None
    training: TrainingTab | None = None
    compliance: ComplianceTab = ComplianceTab()

    @model_validator(mode="after")
    def _tabs(self) -> "SheetsMapping":
        names = [t.tab.casefold() for t in self.tabs().values()] + [self.compliance.tab.casefold()]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"tab {dup[0]!r} is mapped twice; each section needs its own tab (and the "
                             "compliance tab is the hub's alone)")
        return self

    def tabs(self) -> dict[str, _Tab]:
        """section name -> tab mapping, for the sections present."""
        return {name: getattr(self, name) for name in ("register", "raid", "status_reports", "approvals", "training")
                if getattr(self, name) is not None}


@lru_cache(maxsize=32)
def _load_cached(name: str, base_dir: Path | None) -> SheetsMapping:
    from hub.mapping import _read

    where, raw = _read(name, base_dir)
    try:
        return SheetsMapping.model_validate(raw)
    except ValidationError as e:
        from hub.config import format_validation_error

        raise ConfigError(format_validation_error(e, where, SheetsMapping)) from None


def load_sheets_mapping(name: str, *, base_dir: Path | None = None) -> SheetsMapping:
    return _load_cached(name, base_dir)
