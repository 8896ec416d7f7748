"""The canonical portfolio: what every connector produces and every rule reads.

Connectors translate their system's records into these models; `hub.merge` joins records of the same project
from several systems; rules read only these models, never a system's raw payload.

Provenance: every record lists the source records it was built from (`sources`), and `provenance` maps each
field name to every value observed for it, the value in use first. A value a connector could not parse is not
guessed: the field stays None and `invalid[field]` says where the bad value is, so rules that need it give an
`error` result naming that place instead of a false `ok` or `alarm`.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from enum import Enum
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class SourceRef(BaseModel):
    """One record in one source system, with a URL a person can open."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    system: str  # "jira", "sheets", "m365", "hub"
    id: str  # the system's own id for the record (issue key, sheet!row-key, list item id)
    url: str | None = None


class Observed(BaseModel):
    """A value as one source holds it."""

    model_config = ConfigDict(extra="forbid")
    value: Any
    source: SourceRef


class RAG(str, Enum):
    GREEN = "green"
    AMBER = "amber"
    RED = "red"

    @property
    def rank(self) -> int:
        return {"green": 0, "amber": 1, "red": 2}[self.value]


Phase = str  # lifecycle phases are configuration (default: Initiation, Planning, Execution, Closing)
StatusCategory = Literal["todo", "in_progress", "done"]


class Record(BaseModel):
    """Base of every canonical record: where it came from and what could not be read."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False)
    sources: list[SourceRef] = Field(default_factory=list)
    provenance: dict[str, list[Observed]] = Field(default_factory=dict)
    invalid: dict[str, str] = Field(default_factory=dict)  # field -> "where and what" of an unparseable value

    @property
    def primary_source(self) -> SourceRef | None:
        return self.sources[0] if self.sources else None

    def source_of(self, field: str) -> SourceRef | None:
        """The source whose value of `field` is in use (the record's first source if not tracked per field)."""
        seen = self.provenance.get(field)
        if seen:
            return seen[0].source
        return self.primary_source

    def observe(self, field: str, value: Any, source: SourceRef, *, in_use: bool = False) -> None:
        seen = self.provenance.setdefault(field, [])
        obs = Observed(value=value, source=source)
        if in_use:
            seen.insert(0, obs)
        else:
            seen.append(obs)


class TrainingRecord(Record):
    course: str
    completed_on: date | None = None
    expires_on: date | None = None


class Person(Record):
    """A person the portfolio names (PM, sponsor, risk owner), identified by e-mail where known."""

    id: str  # lower-cased e-mail, or the source's account id when no e-mail is visible
    name: str | None = None
    email: str | None = None
    trainings: list[TrainingRecord] = Field(default_factory=list)


class WorkItem(Record):
    """A unit of delivery work: a Jira issue, a Planner task."""

    key: str
    project_key: str
    summary: str = ""
    type: str = "task"  # story, task, bug, epic, milestone, ...
    status: str = ""
    status_category: StatusCategory = "todo"
    priority: str | None = None
    assignee: str | None = None
    created: datetime | None = None
    updated: datetime | None = None
    due: date | None = None
    resolved: datetime | None = None


class Milestone(Record):
    key: str
    project_key: str
    name: str
    planned: date | None = None
    forecast: date | None = None
    done_on: date | None = None


class RaidEntry(Record):
    """A row of the RAID log: risk, assumption, issue, dependency or action."""

    key: str
    project_key: str
    kind: Literal["risk", "assumption", "issue", "dependency", "action"] = "risk"
    title: str = ""
    probability: int | None = None  # 1..5
    impact: int | None = None  # 1..5
    severity: str | None = None  # low, medium, high, critical (when no score is kept)
    owner: str | None = None
    response: str | None = None
    due: date | None = None
    status: Literal["open", "closed"] = "open"
    raised_on: date | None = None
    last_reviewed: date | None = None
    escalated: bool = False
    escalated_on: date | None = None
    linked_item: str | None = None  # a work item key the entry is about

    @property
    def score(self) -> int | None:
        if self.probability is None or self.impact is None:
            return None
        return self.probability * self.impact


class Action(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    owner: str | None = None
    due: date | None = None


class StatusReport(Record):
    key: str
    project_key: str
    report_date: date | None = None
    overall: RAG | None = None
    schedule: RAG | None = None
    cost: RAG | None = None
    scope: RAG | None = None
    summary: str | None = None
    actions: list[Action] = Field(default_factory=list)


class Approval(Record):
    """A request for money, people or infrastructure, or a change request against the baseline."""

    key: str
    project_key: str
    kind: Literal["budget", "resource", "infrastructure", "change_request"] = "budget"
    status: Literal["pending", "approved", "rejected", "withdrawn"] = "pending"
    requested_on: date | None = None
    decided_on: date | None = None
    amount: float | None = None
    fte: float | None = None
    approver: str | None = None
    title: str = ""


class GateCondition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    due: date | None = None
    done: bool = False


class GateDecision(Record):
    gate: str  # G0, G1, G2 (configuration)
    decision: Literal["approved", "conditional", "rejected", "recycle", "pending"] = "pending"
    approver: str | None = None
    decided_on: date | None = None
    planned_on: date | None = None
    conditions: list[GateCondition] = Field(default_factory=list)


class InitiationRequest(Record):
    status: Literal["draft", "submitted", "approved", "rejected"] = "draft"
    submitted_on: date | None = None
    decided_on: date | None = None
    approver: str | None = None


class Baseline(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: date | None = None
    finish: date | None = None
    cost: float | None = None


class PhaseChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: datetime
    from_phase: str | None
    to_phase: str | None
    by: str | None = None


class ValueChange(BaseModel):
    """A change of a tracked value (budget, baseline) from a source's history."""

    model_config = ConfigDict(extra="forbid")
    field: str
    at: datetime
    before: str | None
    after: str | None
    by: str | None = None


class Governance(BaseModel):
    """The hub-owned fields as last read from a source (what the hub wrote, or what a person changed)."""

    model_config = ConfigDict(extra="forbid")
    compliance_status: str | None = None
    open_violations: int | None = None
    compliance_changed: date | None = None


class Project(Record):
    key: str  # the identity key shared across systems (e.g. the Jira project key)
    name: str | None = None
    department: str | None = None
    pm: str | None = None  # Person.id
    sponsor: str | None = None  # Person.id
    phase: str | None = None
    state: Literal["active", "on_hold", "closed", "cancelled"] = "active"
    tags: list[str] = Field(default_factory=list)
    initiation: InitiationRequest | None = None
    gates: list[GateDecision] = Field(default_factory=list)
    budget_approved: float | None = None
    actual_cost: float | None = None
    forecast_cost: float | None = None
    fte_approved: float | None = None
    fte_assigned: float | None = None
    planned_start: date | None = None
    planned_finish: date | None = None
    forecast_finish: date | None = None
    baseline: Baseline | None = None
    phase_history: list[PhaseChange] = Field(default_factory=list)
    value_history: list[ValueChange] = Field(default_factory=list)
    governance: Governance = Field(default_factory=Governance)

    def gate(self, name: str) -> GateDecision | None:
        for g in self.gates:
            if g.gate == name:
                return g
        return None


class SourceFailure(BaseModel):
    model_config = ConfigDict(extra="forbid")
    system: str
    message: str
    at: datetime


class Unmatched(BaseModel):
    """A record in one system with no counterpart in another system where one is expected (DATA-01)."""

    model_config = ConfigDict(extra="forbid")
    system: str
    key: str  # the identity key the record carries (e.g. the Jira key in a register row)
    kind: str = "project"
    expected_in: list[str] = Field(default_factory=list)
    source: SourceRef


class Portfolio(BaseModel):
    """Everything the hub knows after a pull: the input of the standards engine."""

    model_config = ConfigDict(extra="forbid")
    as_of: datetime
    projects: dict[str, Project] = Field(default_factory=dict)
    work_items: list[WorkItem] = Field(default_factory=list)
    milestones: list[Milestone] = Field(default_factory=list)
    raid: list[RaidEntry] = Field(default_factory=list)
    status_reports: list[StatusReport] = Field(default_factory=list)
    approvals: list[Approval] = Field(default_factory=list)
    people: dict[str, Person] = Field(default_factory=dict)
    source_failures: list[SourceFailure] = Field(default_factory=list)
    unmatched: list[Unmatched] = Field(default_factory=list)
    systems: list[str] = Field(default_factory=list)  # systems that contributed (pulled successfully)
    # data kind -> configured systems that supply it (failed ones included): a check whose data no system
    # supplies is skipped ("not configured"); one whose supplier failed is an error
    supplies: dict[str, list[str]] = Field(default_factory=dict)

    # --- per-project indexes, built once per portfolio (rules call these in hot loops) ---
    def _index(self, attr: str) -> dict[str, list]:
        out: dict[str, list] = defaultdict(list)
        for rec in getattr(self, attr):
            out[rec.project_key].append(rec)
        return out

    @cached_property
    def items_by_project(self) -> dict[str, list[WorkItem]]:
        return self._index("work_items")

    @cached_property
    def milestones_by_project(self) -> dict[str, list[Milestone]]:
        return self._index("milestones")

    @cached_property
    def raid_by_project(self) -> dict[str, list[RaidEntry]]:
        return self._index("raid")

    @cached_property
    def approvals_by_project(self) -> dict[str, list[Approval]]:
        return self._index("approvals")

    @cached_property
    def reports_by_project(self) -> dict[str, list[StatusReport]]:
        """Status reports per project, newest first (reports without a date last)."""
        idx = self._index("status_reports")
        for reports in idx.values():
            reports.sort(key=lambda r: (r.report_date is not None, r.report_date or date.min), reverse=True)
        return idx

    def failed_systems(self) -> set[str]:
        return {f.system for f in self.source_failures}


ResultStatus = Literal["ok", "alarm", "waived", "skip", "error"]
Severity = Literal["critical", "high", "medium", "low"]
SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}


class Result(BaseModel):
    """One rule evaluated for one subject."""

    model_config = ConfigDict(extra="forbid")
    rule: str
    status: ResultStatus
    severity: Severity
    project: str | None
    subject: str  # "project:APOL", "risk:APOL-12", "person:ann@example.com"
    reason: str
    evidence: dict[str, Any] = Field(default_factory=dict)
    sources: list[SourceRef] = Field(default_factory=list)
    title: str = ""
    remediation: str = ""
    audience: list[str] = Field(default_factory=list)
    waiver: dict[str, Any] | None = None
    first_seen: datetime | None = None
    escalated: bool = False
