"""Health: compliance scores and RAG from results, and the computed delivery health STAT-03 compares against.

Compliance score (per project, per rule, portfolio): ok / (ok + alarm). Waived results are counted separately
and left out of the score (an accepted exception is neither compliance nor a violation); `error` and `skip`
results are not applicable and left out too (reports show them as coverage gaps). No applicable result ->
score None.

Project RAG, "worst wins" over its alarms (waived alarms do not count):

    critical or high alarm -> red;  medium -> amber;  low only -> green, with `warnings` = number of low alarms.

Low is green-with-warnings, not amber, because the catalog's low levels are early warnings inside tolerance
(a report 8 days old, a 5% slip, training expiring in 30 days): PRINCE2 raises an exception, and the PMO
changes a project's colour, only when a tolerance is exceeded. A project with no ok or alarm result at all
(everything skipped or in error) has RAG None: unknown, never a reassuring green.

Computed delivery health (`computed_health`) is derived from the data, not from the rules' results: overdue
milestones, schedule slip and cost variance against the baseline/budget, open critical risks. STAT-03
("watermelon": reported RAG greener than computed) calls this one function and records its answer in its
evidence as `computed`; `project_health` reads `computed` from there, so the report and the rule always agree.
VAR-02 and VAR-03 use the same `schedule_slip_pct` / `cost_variance_pct` arithmetic.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Iterable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.model import RAG, SEVERITY_RANK, Milestone, Project, RaidEntry, Result, Severity, SourceRef
from hub.rules.registry import CheckParams

_RED_SEVERITIES = {"critical", "high"}


# --- computed delivery health ---


def schedule_slip_pct(start: date, finish: date, forecast: date) -> float | None:
    """Forecast finish beyond baseline finish, as % of the baseline duration (None if the duration is <= 0)."""
    duration = (finish - start).days
    if duration <= 0:
        return None
    return round((forecast - finish).days * 100.0 / duration, 1)


def cost_variance_pct(budget: float, forecast: float) -> float | None:
    """Forecast cost above the approved budget, as % of the budget (None if the budget is <= 0)."""
    if budget <= 0:
        return None
    return round((forecast - budget) * 100.0 / budget, 1)


class HealthThresholds(CheckParams):
    """When the data makes a project amber or red (STAT-03's params)."""

    schedule_amber_pct: float = Field(5, ge=0)
    schedule_red_pct: float = Field(10, ge=0)
    cost_amber_pct: float = Field(5, ge=0)
    cost_red_pct: float = Field(10, ge=0)
    milestone_red_after_days: int = Field(14, ge=0, description="an overdue milestone is amber, red after this")
    critical_risk_score: int = Field(20, ge=1, le=25, description="probability x impact (5x5) of a critical risk")
    critical_severities: list[str] = Field(default_factory=lambda: ["critical"])

    @model_validator(mode="after")
    def _ordered(self) -> HealthThresholds:
        for what in ("schedule", "cost"):
            amber, red = getattr(self, f"{what}_amber_pct"), getattr(self, f"{what}_red_pct")
            if amber >= red:
                raise ValueError(f"{what}_amber_pct ({amber}) must be below {what}_red_pct ({red})")
        return self


@dataclass
class ComputedHealth:
    """RAG from the data, the reasons for it, and the first unreadable input if any (then RAG is None)."""

    rag: RAG | None
    drivers: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    sources: list[SourceRef] = field(default_factory=list)
    unreadable: str | None = None  # "forecast_finish of project APOL is unreadable (...)"


def _bad(record: Any, fields: Iterable[str], label: str) -> str | None:
    """"<field> of <label> is unreadable (<where>)" for the first invalid field, else None."""
    inv = record.invalid
    if inv:
        for f in fields:
            for k in inv:
                if k == f or k.startswith(f + "."):
                    return f"{k} of {label} is unreadable ({inv[k]})"
    return None


def is_critical_risk(r: RaidEntry, t: HealthThresholds) -> bool:
    score = r.score
    if score is not None:
        return score >= t.critical_risk_score
    return (r.severity or "").lower() in {s.lower() for s in t.critical_severities}


def computed_health(
    project: Project, milestones: list[Milestone], raid: list[RaidEntry], today: date, t: HealthThresholds
) -> ComputedHealth:
    """Delivery health from overdue milestones, schedule slip, cost variance and open critical risks."""
    bad = _bad(project, ("forecast_finish", "forecast_cost", "budget_approved", "baseline"), f"project {project.key}")
    if bad:
        return ComputedHealth(None, unreadable=bad)
    rank = 0
    drivers: list[str] = []
    ev: dict[str, Any] = {}
    sources: list[SourceRef] = list(project.sources[:1])

    def worse(level: int, why: str) -> None:
        nonlocal rank
        rank = max(rank, level)
        drivers.append(why)

    b = project.baseline
    if b and b.start and b.finish and project.forecast_finish:
        slip = schedule_slip_pct(b.start, b.finish, project.forecast_finish)
        ev["schedule_slip_pct"] = slip
        if slip is not None and slip >= t.schedule_red_pct:
            worse(2, f"schedule slip {slip}%")
        elif slip is not None and slip >= t.schedule_amber_pct:
            worse(1, f"schedule slip {slip}%")
    if project.budget_approved is not None and project.forecast_cost is not None:
        var = cost_variance_pct(project.budget_approved, project.forecast_cost)
        ev["cost_variance_pct"] = var
        if var is not None and var >= t.cost_red_pct:
            worse(2, f"cost variance {var}%")
        elif var is not None and var >= t.cost_amber_pct:
            worse(1, f"cost variance {var}%")
    overdue = []
    for m in milestones:
        bad = _bad(m, ("planned", "done_on"), f"milestone {m.key}")
        if bad:
            return ComputedHealth(None, unreadable=bad)
        if m.done_on is None and m.planned is not None and m.planned < today:
            days = (today - m.planned).days
            overdue.append(m.key)
            sources.extend(m.sources[:1])
            worse(2 if days > t.milestone_red_after_days else 1, f"milestone {m.key} {days} days overdue")
    ev["overdue_milestones"] = overdue
    critical = []
    for r in raid:
        if r.status != "open" or r.kind not in ("risk", "issue"):
            continue
        bad = _bad(r, ("probability", "impact", "severity"), f"{r.kind} {r.key}")
        if bad:
            return ComputedHealth(None, unreadable=bad)
        if is_critical_risk(r, t):
            critical.append(r.key)
            sources.extend(r.sources[:1])
            worse(2, f"critical {r.kind} {r.key} open")
    ev["open_critical_risks"] = critical
    rag = (RAG.GREEN, RAG.AMBER, RAG.RED)[rank]
    ev["computed"] = rag.value
    return ComputedHealth(rag, drivers, ev, sources)


# --- compliance and RAG from results ---


def rag_from_alarms(severities: Iterable[str]) -> RAG:
    """Worst wins: critical/high -> red, medium -> amber, low or none -> green."""
    worst = max((SEVERITY_RANK[s] for s in severities), default=0)
    if worst >= SEVERITY_RANK["high"]:
        return RAG.RED
    if worst == SEVERITY_RANK["medium"]:
        return RAG.AMBER
    return RAG.GREEN


class Compliance(BaseModel):
    """Counts by status and the score ok / (ok + alarm)."""

    model_config = ConfigDict(extra="forbid")
    ok: int = 0
    alarm: int = 0
    waived: int = 0
    error: int = 0
    skip: int = 0

    @property
    def applicable(self) -> int:
        return self.ok + self.alarm

    @property
    def score(self) -> float | None:
        return round(self.ok / self.applicable, 4) if self.applicable else None

    def add(self, status: str) -> None:
        setattr(self, status, getattr(self, status) + 1)


class ProjectHealth(Compliance):
    project: str
    rag: RAG | None = None
    warnings: int = 0  # low-severity alarms (green-with-warnings)
    worst: Severity | None = None
    computed: RAG | None = None  # STAT-03's computed delivery health, when it was evaluated
    reported: RAG | None = None  # the latest status report's overall RAG, as STAT-03 read it


class PortfolioHealth(Compliance):
    projects: int = 0
    rag: dict[str, int] = Field(default_factory=dict)  # "red"/"amber"/"green"/"unknown" -> project count


def project_health(results: Iterable[Result]) -> dict[str, ProjectHealth]:
    """Per project: compliance counts and score, worst-wins RAG, computed health from STAT-03's evidence."""
    out: dict[str, ProjectHealth] = {}
    alarms: dict[str, list[str]] = {}
    for r in results:
        if r.project is None:
            continue
        h = out.get(r.project)
        if h is None:
            h = out[r.project] = ProjectHealth(project=r.project)
            alarms[r.project] = []
        h.add(r.status)
        if r.status == "alarm":
            alarms[r.project].append(r.severity)
        if r.rule == "STAT-03" and "computed" in r.evidence:
            h.computed = RAG(r.evidence["computed"])
            if r.evidence.get("reported"):
                h.reported = RAG(r.evidence["reported"])
    for key, h in out.items():
        sev = alarms[key]
        h.worst = max(sev, key=SEVERITY_RANK.__getitem__) if sev else None  # type: ignore[assignment]
        h.warnings = sum(1 for s in sev if s == "low")
        h.rag = rag_from_alarms(sev) if h.applicable else None
    return out


def rule_compliance(results: Iterable[Result]) -> dict[str, Compliance]:
    """Per rule id: counts by status and score."""
    out: dict[str, Compliance] = {}
    for r in results:
        c = out.get(r.rule)
        if c is None:
            c = out[r.rule] = Compliance()
        c.add(r.status)
    return out


def portfolio_health(results: Iterable[Result]) -> PortfolioHealth:
    """Totals over every result, and how many projects are red, amber, green or unknown."""
    results = list(results)
    total = PortfolioHealth()
    for r in results:
        total.add(r.status)
    per_project = project_health(results)
    total.projects = len(per_project)
    counts = Counter(h.rag.value if h.rag else "unknown" for h in per_project.values())
    total.rag = {k: counts.get(k, 0) for k in ("red", "amber", "green", "unknown")}
    return total
