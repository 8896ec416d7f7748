"""Builders for the standards-engine tests: a compliant portfolio, and helpers to change one thing in it.

`good_portfolio()` is one project (APOL, in Execution) that every catalog rule finds `ok` or `skip`; a test
changes one field with `upd(...)` and evaluates one rule with `run_rule(...)`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from hub.model import (
    RAG,
    Approval,
    Baseline,
    GateDecision,
    InitiationRequest,
    Milestone,
    Person,
    PhaseChange,
    Portfolio,
    Project,
    RaidEntry,
    Result,
    SourceRef,
    StatusReport,
    TrainingRecord,
    WorkItem,
)
from hub.rules import evaluate, load_default_rules
from hub.rules.loader import RuleSet
from hub.rules.settings import StandardsSettings

TODAY = date(2025, 6, 2)  # a Monday
COURSE = "PMO Project Management Standards"


def src(key: str, system: str = "jira") -> list[SourceRef]:
    return [SourceRef(system=system, id=key, url=f"https://{system}.example.com/{key}")]


def good_project(key: str = "APOL", **kw: Any) -> Project:
    fields: dict[str, Any] = dict(
        key=key,
        name="Apollo CRM",
        department="IT",
        pm="ann@example.com",
        sponsor="sam@example.com",
        phase="Execution",
        initiation=InitiationRequest(status="approved", submitted_on=date(2025, 1, 6), decided_on=date(2025, 1, 10),
                                     approver="pmo@example.com", sources=src(f"{key}-INIT", "sheets")),
        gates=[
            GateDecision(gate="G0", decision="approved", approver="pmo@example.com", decided_on=date(2025, 1, 20),
                         planned_on=date(2025, 1, 20), sources=src(f"{key}-G0")),
            GateDecision(gate="G1", decision="approved", approver="pmo@example.com", decided_on=date(2025, 3, 1),
                         planned_on=date(2025, 3, 1), sources=src(f"{key}-G1")),
        ],
        budget_approved=100_000.0,
        actual_cost=40_000.0,
        forecast_cost=100_000.0,
        fte_approved=5.0,
        fte_assigned=5.0,
        planned_start=date(2025, 2, 1),
        planned_finish=date(2025, 12, 31),
        forecast_finish=date(2025, 12, 31),
        baseline=Baseline(start=date(2025, 2, 1), finish=date(2025, 12, 31), cost=100_000.0),
        phase_history=[
            PhaseChange(at=datetime(2025, 1, 20, 10), from_phase="Initiation", to_phase="Planning"),
            PhaseChange(at=datetime(2025, 3, 1, 10), from_phase="Planning", to_phase="Execution"),
        ],
        sources=src(key),
    )
    fields.update(kw)
    return Project(**fields)


def good_portfolio(key: str = "APOL") -> Portfolio:
    return Portfolio(
        as_of=datetime(2025, 6, 2, 6),
        projects={key: good_project(key)},
        work_items=[
            WorkItem(key=f"{key}-1", project_key=key, status="In Progress", status_category="in_progress",
                     priority="Medium", created=datetime(2025, 3, 5), sources=src(f"{key}-1")),
            WorkItem(key=f"{key}-2", project_key=key, status="Done", status_category="done", priority="High",
                     created=datetime(2025, 3, 5), sources=src(f"{key}-2")),
        ],
        milestones=[
            Milestone(key=f"{key}-M1", project_key=key, name="Design signed off", planned=date(2025, 4, 1),
                      done_on=date(2025, 3, 30), sources=src(f"{key}-M1")),
            Milestone(key=f"{key}-M2", project_key=key, name="Go-live", planned=date(2025, 9, 1),
                      sources=src(f"{key}-M2")),
        ],
        raid=[
            RaidEntry(key=f"{key}-R1", project_key=key, kind="risk", title="Vendor late", probability=4, impact=4,
                      owner="bob@example.com", response="Weekly vendor check-ins", due=date(2025, 7, 1),
                      raised_on=date(2025, 5, 1), last_reviewed=date(2025, 5, 20), sources=src(f"{key}-R1")),
            RaidEntry(key=f"{key}-A1", project_key=key, kind="action", title="Chase vendor", owner="bob@example.com",
                      due=date(2025, 6, 20), raised_on=date(2025, 5, 20), sources=src(f"{key}-A1")),
        ],
        status_reports=[
            StatusReport(key=f"{key}-S1", project_key=key, report_date=date(2025, 5, 30), overall=RAG.GREEN,
                         schedule=RAG.GREEN, cost=RAG.GREEN, scope=RAG.GREEN, summary="On track.",
                         sources=src(f"{key}-S1", "m365")),
            StatusReport(key=f"{key}-S2", project_key=key, report_date=date(2025, 5, 16), overall=RAG.GREEN,
                         schedule=RAG.GREEN, cost=RAG.GREEN, scope=RAG.GREEN, summary="On track.",
                         sources=src(f"{key}-S2", "m365")),
        ],
        approvals=[
            Approval(key=f"{key}-B1", project_key=key, kind="infrastructure", status="pending",
                     requested_on=date(2025, 5, 28), title="Test servers", sources=src(f"{key}-B1", "m365")),
        ],
        people={
            "ann@example.com": Person(
                id="ann@example.com", name="Ann", email="ann@example.com", sources=src("roster!2", "sheets"),
                trainings=[TrainingRecord(course=COURSE, completed_on=date(2024, 9, 1),
                                          sources=src("roster!2", "sheets"))],
            )
        },
        systems=["jira", "sheets", "m365"],
    )


def upd(obj: Any, **kw: Any) -> Any:
    """Set attributes on a canonical record (validate_assignment is off) and return it."""
    for k, v in kw.items():
        setattr(obj, k, v)
    return obj


def find(records: list, key: str) -> Any:
    return next(r for r in records if getattr(r, "key", None) == key or getattr(r, "gate", None) == key)


CATALOG = load_default_rules()


def only(*rule_ids: str, ruleset: RuleSet = CATALOG) -> RuleSet:
    return RuleSet({i: ruleset.get(i) for i in rule_ids})


def run_rule(rule_id: str, pf: Portfolio, settings: StandardsSettings | None = None,
             today: date = TODAY) -> list[Result]:
    return evaluate(pf, only(rule_id), settings or StandardsSettings(), today=today)
