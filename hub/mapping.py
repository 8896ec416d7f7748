"""Field mappings: which source field feeds which canonical field, loaded from TOML files in `mappings/`.

A mapping is named in config either as a path (relative to the config file) or as the name of a file shipped
in the `mappings` package. Mappings speak the names people see (Jira field display names, sheet headers,
SharePoint column display names); the connectors resolve those names to ids against the live system.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from hub.errors import ConfigError


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JiraIssueTypes(_M):
    project: str = "Project"
    risk: str = "Risk"
    milestone: str = "Milestone"
    gate: str = "Gate"
    status_report: str = "Status Report"
    change_request: str = "Change Request"


class JiraProjectFields(_M):
    name: str = "summary"
    phase: str | None = None
    department: str | None = None
    pm: str | None = None
    sponsor: str | None = None
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


class JiraGovernanceFields(_M):
    compliance_status: str | None = None
    open_violations: str | None = None
    compliance_changed: str | None = None


class JiraRiskFields(_M):
    probability: str | None = None
    impact: str | None = None
    owner: str | None = None
    response: str | None = None
    due: str | None = "duedate"
    escalated: str | None = None
    escalated_on: str | None = None
    last_reviewed: str | None = None


class JiraMilestoneFields(_M):
    planned: str | None = "duedate"
    forecast: str | None = None


class JiraGateFields(_M):
    gate: str | None = None
    decision: str | None = None
    approver: str | None = None
    decided_on: str | None = None
    planned_on: str | None = "duedate"


class JiraStatusReportFields(_M):
    report_date: str | None = None
    overall: str | None = None
    schedule: str | None = None
    cost: str | None = None
    scope: str | None = None
    summary: str | None = "description"


class JiraChangeRequestFields(_M):
    amount: str | None = None
    decided_on: str | None = None
    approver: str | None = None


class JiraMapping(_M):
    issue_types: JiraIssueTypes = JiraIssueTypes()
    project: JiraProjectFields = JiraProjectFields()
    governance: JiraGovernanceFields = JiraGovernanceFields()
    risk: JiraRiskFields = JiraRiskFields()
    milestone: JiraMilestoneFields = JiraMilestoneFields()
    gate: JiraGateFields = JiraGateFields()
    status_report: JiraStatusReportFields = JiraStatusReportFields()
    change_request: JiraChangeRequestFields = JiraChangeRequestFields()

    def field_names(self) -> set[str]:
        """Every Jira field name this mapping refers to (to resolve against GET /field)."""
        names: set[str] = set()
        for section in (self.project, self.governance, self.risk, self.milestone, self.gate,
                        self.status_report, self.change_request):
            names.update(v for v in section.model_dump().values() if v)
        return names


def _read(name: str, base_dir: Path | None) -> tuple[str, dict]:
    candidates = []
    p = Path(name).expanduser()
    if p.is_absolute():
        candidates.append(p)
    elif base_dir is not None:
        candidates.append(base_dir / p)
    for cand in candidates:
        if cand.is_file():
            try:
                return str(cand), tomllib.loads(cand.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as e:
                raise ConfigError(f"{cand}: not valid TOML: {e}") from e
    shipped = resources.files("mappings").joinpath(name)
    if "/" not in name and shipped.is_file():
        try:
            return f"mappings/{name}", tomllib.loads(shipped.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"mappings/{name}: not valid TOML: {e}") from e
    available = sorted(f.name for f in resources.files("mappings").iterdir() if f.name.endswith(".toml"))
    raise ConfigError(f"mapping file {name!r} not found (looked in {base_dir or '.'} and the shipped mappings: "
                      f"{', '.join(available)})")


@lru_cache(maxsize=32)
def _load_jira_cached(name: str, base_dir: Path | None) -> JiraMapping:
    where, raw = _read(name, base_dir)
    try:
        return JiraMapping.model_validate(raw)
    except ValidationError as e:
        from hub.config import format_validation_error

        raise ConfigError(format_validation_error(e, where, JiraMapping)) from None


def load_jira_mapping(name: str, *, base_dir: Path | None = None) -> JiraMapping:
    return _load_jira_cached(name, base_dir)
