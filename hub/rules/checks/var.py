"""VAR: baseline variance against tolerances (PRINCE2 tolerances and exception reports).

Schedule slip and cost variance use the arithmetic of `hub.rules.health` (`schedule_slip_pct`,
`cost_variance_pct`), the same STAT-03 uses for computed health.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from hub.model import Milestone, Project, Severity
from hub.rules.checks.common import before_phase, refs
from hub.rules.health import cost_variance_pct, schedule_slip_pct
from hub.rules.registry import Check, CheckParams, alarm, checks, error, iso, ok, skip, unreadable


class TieredPct(CheckParams):
    """Two levels: at `warn_pct` an alarm of `warn_severity`, at `alarm_pct` an alarm of the rule's severity."""

    warn_pct: float = Field(5, ge=0)
    alarm_pct: float = Field(10, gt=0)
    warn_severity: Severity = "low"

    @model_validator(mode="after")
    def _ordered(self):
        if self.warn_pct >= self.alarm_pct:
            raise ValueError(f"warn_pct ({self.warn_pct}) must be below alarm_pct ({self.alarm_pct})")
        return self

    def judge(self, pct: float, sentence: str, ev: dict, sources):
        """ok below warn_pct, a low alarm from warn_pct, an alarm at the rule's severity from alarm_pct."""
        if pct >= self.alarm_pct:
            return alarm(f"{sentence} (tolerance {self.alarm_pct:g}%).", ev, sources)
        if pct >= self.warn_pct:
            return alarm(f"{sentence} (warning from {self.warn_pct:g}%).", ev, sources, self.warn_severity)
        return ok(f"{sentence} (within {self.warn_pct:g}%).", ev, sources)


@checks.register
class BaselineSet(Check):
    """A project from `from_phase` on has a baseline (by default its finish date and cost).

    ```toml
    [[rule]]
    id = "VAR-01"
    title = "No baseline once in execution"
    applies_to = "project"
    check = "baseline_set"
    severity = "high"
    remediation = "Record the approved baseline (finish date and cost) from the plan approved at G1."
    audience = ["pm", "pmo"]
    params = { from_phase = "Execution", fields = ["finish", "cost"] }
    ```
    """

    name = "baseline_set"
    applies_to = "project"

    class Params(CheckParams):
        from_phase: str = "Execution"
        fields: list[Literal["start", "finish", "cost"]] = Field(default_factory=lambda: ["finish", "cost"],
                                                                 min_length=1)

    def applies(self, ctx, p: Params):
        return super().applies(ctx, p) or before_phase(ctx, p.from_phase)

    def evaluate(self, project: Project, ctx, p: Params):
        bad = unreadable(project, [f"baseline.{f}" for f in p.fields], f"project {ctx.key}")
        if bad:
            return bad
        b = project.baseline
        missing = [f for f in p.fields if b is None or getattr(b, f) is None]
        ev = {"phase": project.phase, "baseline": b.model_dump(mode="json") if b else None}
        if missing:
            return alarm(f"Project {ctx.key} is in {project.phase} without a baseline {' and '.join(missing)}.", ev,
                         refs(project))
        return ok(f"Project {ctx.key} has a baseline.", ev, refs(project))


@checks.register
class ScheduleSlipWithinTolerance(Check):
    """The forecast finish does not slip past the baseline finish by more than a share of the baseline
    duration.

    ```toml
    [[rule]]
    id = "VAR-02"
    title = "Forecast finish slips against baseline"
    applies_to = "project"
    check = "schedule_slip_within_tolerance"
    severity = "high"
    remediation = "Re-plan to recover the slip, or raise an exception report and a change request for a new baseline."
    audience = ["pm", "pmo"]
    params = { warn_pct = 5, alarm_pct = 10, warn_severity = "low" }
    ```
    """

    name = "schedule_slip_within_tolerance"
    applies_to = "project"
    Params = TieredPct

    def evaluate(self, project: Project, ctx, p: TieredPct):
        bad = unreadable(project, ("baseline.start", "baseline.finish", "forecast_finish"), f"project {ctx.key}")
        if bad:
            return bad
        b = project.baseline
        if b is None or b.start is None or b.finish is None:
            return skip(f"Project {ctx.key} has no baseline start and finish (see VAR-01).")
        if project.forecast_finish is None:
            return skip(f"Project {ctx.key} reports no forecast finish.")
        slip = schedule_slip_pct(b.start, b.finish, project.forecast_finish)
        ev = {"baseline_start": iso(b.start), "baseline_finish": iso(b.finish),
              "forecast_finish": iso(project.forecast_finish), "slip_pct": slip}
        if slip is None:
            return error(f"Cannot evaluate: the baseline of {ctx.key} ends on or before it starts.", ev, refs(project))
        sentence = (f"Forecast finish of {ctx.key} ({project.forecast_finish}) slips {slip:g}% of the baseline "
                    f"duration against the baseline finish {b.finish}")
        return p.judge(slip, sentence, ev, refs(project))


@checks.register
class CostForecastWithinTolerance(Check):
    """The forecast cost does not exceed the approved budget by more than a share of it.

    ```toml
    [[rule]]
    id = "VAR-03"
    title = "Forecast cost above budget"
    applies_to = "project"
    check = "cost_forecast_within_tolerance"
    severity = "high"
    remediation = "Find savings to recover the variance, or raise an exception report and a change request."
    audience = ["pm", "pmo"]
    params = { warn_pct = 5, alarm_pct = 10, warn_severity = "low" }
    ```
    """

    name = "cost_forecast_within_tolerance"
    applies_to = "project"
    Params = TieredPct

    def evaluate(self, project: Project, ctx, p: TieredPct):
        bad = unreadable(project, ("budget_approved", "forecast_cost"), f"project {ctx.key}")
        if bad:
            return bad
        if project.forecast_cost is None:
            return skip(f"Project {ctx.key} reports no forecast cost.")
        budget = project.budget_approved
        ev = {"budget_approved": budget, "forecast_cost": project.forecast_cost}
        var = cost_variance_pct(budget, project.forecast_cost) if budget is not None else None
        if var is None:
            return error(f"Cannot evaluate: project {ctx.key} has no positive approved budget to compare its forecast "
                         "with.", ev, refs(project))
        ev["variance_pct"] = var
        sentence = (f"Forecast cost of {ctx.key} ({project.forecast_cost:,.0f}) is {var:g}% over the approved "
                    f"budget {budget:,.0f}")
        return p.judge(var, sentence, ev, refs(project))


@checks.register
class MilestoneOnTime(Check):
    """A milestone not yet done is not past its planned date (plus grace days).

    ```toml
    [[rule]]
    id = "VAR-04"
    title = "Milestone overdue"
    applies_to = "milestone"
    check = "milestone_on_time"
    severity = "high"
    remediation = "Deliver the milestone or re-plan it through a change request."
    audience = ["pm", "pmo"]
    params = { grace_days = 0 }
    ```
    """

    name = "milestone_on_time"
    applies_to = "milestone"
    reads = ("projects", "milestones")

    class Params(CheckParams):
        grace_days: int = Field(0, ge=0)

    def evaluate(self, m: Milestone, ctx, p: Params):
        bad = unreadable(m, ("planned", "done_on", "forecast"), f"milestone {m.key}")
        if bad:
            return bad
        ev = {"milestone": m.name, "planned": iso(m.planned), "forecast": iso(m.forecast), "done_on": iso(m.done_on)}
        if m.done_on is not None:
            return ok(f"Milestone {m.key} ({m.name}) was done on {m.done_on}.", ev, refs(m))
        if m.planned is None:
            return skip(f"Milestone {m.key} ({m.name}) has no planned date.")
        late = (ctx.today - m.planned).days
        if late > p.grace_days:
            ev["days_overdue"] = late
            fc = f", forecast {m.forecast}" if m.forecast else ""
            return alarm(f"Milestone {m.key} ({m.name}) is {late} days past its planned date {m.planned}{fc}.", ev,
                         refs(m))
        return ok(f"Milestone {m.key} ({m.name}) is planned for {m.planned}.", ev, refs(m))
