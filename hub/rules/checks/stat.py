"""STAT: periodic status reports, compared by the PMO with expectations (PMO touch point 3).

Reports are read newest first (`ProjectContext.reports`); STAT-02 and STAT-04 judge the latest report only
unless `latest_only = false`. STAT-03 compares the reported RAG with `hub.rules.health.computed_health`, the
same function the health report uses.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from hub.model import RAG, Project, Severity, StatusReport
from hub.rules.checks.common import refs, refs_of
from hub.rules.health import HealthThresholds, computed_health
from hub.rules.registry import Check, CheckParams, alarm, checks, error, iso, ok, skip, unreadable


@checks.register
class StatusReportFresh(Check):
    """An active project's latest status report is recent: a low-severity warning after `warn_after_days`,
    an alarm at the rule's severity after `alarm_after_days`.

    ```toml
    [[rule]]
    id = "STAT-01"
    title = "Status report stale"
    applies_to = "project"
    check = "status_report_fresh"
    severity = "high"
    remediation = "Publish a status report for the current period."
    audience = ["pm", "pmo"]
    params = { warn_after_days = 7, alarm_after_days = 14, warn_severity = "low" }
    ```
    """

    name = "status_report_fresh"
    applies_to = "project"
    reads = ("projects", "status_reports")
    states = frozenset({"active"})

    class Params(CheckParams):
        warn_after_days: int = Field(7, ge=0)
        alarm_after_days: int = Field(14, ge=1)
        warn_severity: Severity = "low"

        @model_validator(mode="after")
        def _ordered(self):
            if self.warn_after_days >= self.alarm_after_days:
                raise ValueError(f"warn_after_days ({self.warn_after_days}) must be below alarm_after_days "
                                 f"({self.alarm_after_days})")
            return self

    def evaluate(self, project: Project, ctx, p: Params):
        latest = next((r for r in ctx.reports if r.report_date is not None), None)
        undated_bad = next((r for r in ctx.reports if r.report_date is None and "report_date" in r.invalid), None)
        if latest is None:
            if undated_bad:
                return unreadable(undated_bad, ("report_date",), f"status report {undated_bad.key}")
            return alarm(f"Project {ctx.key} has no status report on record.", {"last_report": None}, refs(project))
        age = (ctx.today - latest.report_date).days
        ev = {"last_report": iso(latest.report_date), "report": latest.key, "age_days": age}
        if age <= p.warn_after_days:
            return ok(f"The latest status report of {ctx.key} is {age} days old.", ev, refs(latest))
        if undated_bad:  # it might be the newer one
            return unreadable(undated_bad, ("report_date",), f"status report {undated_bad.key}")
        limit = p.alarm_after_days if age > p.alarm_after_days else p.warn_after_days
        return alarm(
            f"The latest status report of {ctx.key} is {age} days old (limit {limit}).",
            ev,
            refs(latest),
            severity=None if age > p.alarm_after_days else p.warn_severity,
        )


ReportField = Literal["overall", "schedule", "cost", "scope", "summary"]


class LatestReportParams(CheckParams):
    latest_only: bool = Field(True, description="judge only the latest report (false: every report)")


class _LatestReports(Check):
    applies_to = "status_report"
    reads = ("projects", "status_reports")

    def subjects(self, ctx, p: LatestReportParams):
        return ctx.reports[:1] if p.latest_only else ctx.reports


@checks.register
class StatusReportComplete(_LatestReports):
    """The status report gives an overall RAG, schedule / cost / scope RAGs and a summary.

    ```toml
    [[rule]]
    id = "STAT-02"
    title = "Status report incomplete"
    applies_to = "status_report"
    check = "status_report_complete"
    severity = "medium"
    remediation = "Complete the status report: overall, schedule, cost and scope RAG and a summary."
    audience = ["pm"]
    params = { fields = ["overall", "schedule", "cost", "scope", "summary"], latest_only = true }
    ```
    """

    name = "status_report_complete"

    class Params(LatestReportParams):
        fields: list[ReportField] = Field(
            default_factory=lambda: ["overall", "schedule", "cost", "scope", "summary"], min_length=1
        )

    def evaluate(self, report: StatusReport, ctx, p: Params):
        bad = unreadable(report, p.fields, f"status report {report.key}")
        if bad:
            return bad
        missing = [f for f in p.fields if getattr(report, f) is None]
        if "summary" in p.fields and report.summary is not None and not report.summary.strip():
            missing.append("summary")
        ev = {"report": report.key, "report_date": iso(report.report_date), "missing": missing}
        if missing:
            return alarm(f"Status report {report.key} of {ctx.key} is missing {', '.join(missing)}.", ev, refs(report))
        return ok(f"Status report {report.key} of {ctx.key} is complete.", ev, refs(report))


@checks.register
class ReportedRagNotGreener(Check):
    """The latest report's overall RAG is not greener than the health computed from the data: overdue
    milestones, schedule slip and cost variance, open critical risks ("watermelon" reporting).

    ```toml
    [[rule]]
    id = "STAT-03"
    title = "Reported RAG greener than computed health"
    applies_to = "project"
    check = "reported_rag_not_greener"
    severity = "high"
    remediation = "Re-assess the overall RAG against the overdue milestones, variances and critical risks listed."
    audience = ["pm", "pmo"]

    [rule.params]
    schedule_amber_pct = 5
    schedule_red_pct = 10
    cost_amber_pct = 5
    cost_red_pct = 10
    milestone_red_after_days = 14
    critical_risk_score = 20
    critical_severities = ["critical"]
    ```
    """

    name = "reported_rag_not_greener"
    applies_to = "project"
    reads = ("projects", "status_reports", "milestones", "raid")

    class Params(HealthThresholds):
        pass

    def evaluate(self, project: Project, ctx, p: Params):
        report = ctx.latest_report
        if report is None:
            return skip(f"Project {ctx.key} has no status report (see STAT-01).")
        bad = unreadable(report, ("overall",), f"status report {report.key}")
        if bad:
            return bad
        if report.overall is None:
            return skip(f"Status report {report.key} gives no overall RAG (see STAT-02).")
        h = computed_health(project, ctx.milestones, ctx.raid, ctx.today, p)
        if h.rag is None:
            return error(f"Cannot evaluate: {h.unreadable}.", {"reported": report.overall.value}, refs(project))
        ev = {**h.evidence, "reported": report.overall.value, "report": report.key}
        src = [*refs(report), *h.sources]
        if report.overall.rank < h.rag.rank:
            return alarm(f"Report {report.key} says {report.overall.value} but the data says {h.rag.value}: "
                         f"{'; '.join(h.drivers)}.", ev, src)
        return ok(f"Report {report.key} says {report.overall.value}; the data says {h.rag.value}.", ev, src)


@checks.register
class RedAmberHasRecovery(_LatestReports):
    """A red or amber report carries a recovery narrative and at least one action with an owner and a due date.

    ```toml
    [[rule]]
    id = "STAT-04"
    title = "Red or amber without a recovery plan"
    applies_to = "status_report"
    check = "red_amber_has_recovery"
    severity = "medium"
    remediation = "Add the recovery narrative and at least one action with an owner and a due date."
    audience = ["pm"]
    params = { min_summary_chars = 20, require_action = true, latest_only = true }
    ```
    """

    name = "red_amber_has_recovery"

    class Params(LatestReportParams):
        min_summary_chars: int = Field(20, ge=1, description="shortest summary that counts as a narrative")
        require_action: bool = True

    def evaluate(self, report: StatusReport, ctx, p: Params):
        bad = unreadable(report, ("overall", "summary", "actions"), f"status report {report.key}")
        if bad:
            return bad
        if report.overall is None:
            return skip(f"Status report {report.key} gives no overall RAG (see STAT-02).")
        if report.overall == RAG.GREEN:
            return skip(f"Status report {report.key} is green.")
        summary = (report.summary or "").strip()
        owned = [a for a in report.actions if a.owner and a.due]
        problems = []
        if len(summary) < p.min_summary_chars:
            problems.append("no recovery narrative")
        if p.require_action and not owned:
            problems.append("no action with an owner and a due date")
        ev = {"report": report.key, "overall": report.overall.value, "summary_chars": len(summary),
              "actions_with_owner_and_due": len(owned)}
        if problems:
            return alarm(f"Status report {report.key} is {report.overall.value} with {' and '.join(problems)}.",
                         ev, refs(report))
        return ok(f"Status report {report.key} is {report.overall.value} with a recovery plan.", ev, refs(report))


@checks.register
class ConsecutiveRedReports(Check):
    """The project has not been red in its last N status reports in a row.

    ```toml
    [[rule]]
    id = "STAT-05"
    title = "Red in consecutive status reports"
    applies_to = "project"
    check = "consecutive_red_reports"
    severity = "high"
    remediation = "Prepare an exception report with recovery options for the sponsor and the PMO."
    audience = ["pm", "pmo", "sponsor"]
    params = { count = 2 }
    ```
    """

    name = "consecutive_red_reports"
    applies_to = "project"
    reads = ("projects", "status_reports")

    class Params(CheckParams):
        count: int = Field(2, ge=2)

    def evaluate(self, project: Project, ctx, p: Params):
        last = ctx.reports[: p.count]
        for r in last:
            bad = unreadable(r, ("overall", "report_date"), f"status report {r.key}")
            if bad:
                return bad
        colours = [r.overall.value if r.overall else None for r in last]
        ev = {"reports": [r.key for r in last], "overall": colours}
        if len(last) == p.count and all(c == "red" for c in colours):
            return alarm(f"Project {ctx.key} has been red in its last {p.count} status reports.", ev, refs_of(last))
        return ok(f"Project {ctx.key} has not been red in {p.count} consecutive reports.", ev, refs_of(last))
