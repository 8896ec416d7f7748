"""APPR: approval before spending, adding people or infrastructure (PMO touch point 4).

Change requests are approvals of kind `change_request`; APPR-01 counts the amounts of approved ones as cover
for spend above the approved budget, APPR-04 looks for an approved one near each recorded budget or baseline
change.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field

from hub.model import Approval, Project
from hub.rules.checks.common import refs
from hub.rules.registry import Check, CheckParams, alarm, checks, error, iso, ok, skip, unreadable


def _unreadable_crs(crs: list[Approval], fields: tuple[str, ...]):
    for cr in crs:
        bad = unreadable(cr, fields, f"change request {cr.key}")
        if bad:
            return bad
    return None


@checks.register
class SpendWithinApprovedBudget(Check):
    """Actual and forecast cost stay within the approved budget (plus tolerance), or the excess is covered by
    the amounts of approved change requests.

    ```toml
    [[rule]]
    id = "APPR-01"
    title = "Spend or forecast above approved budget without an approved change request"
    applies_to = "project"
    check = "spend_within_approved_budget"
    severity = "critical"
    remediation = "Raise a change request for the additional budget, or bring the forecast back within budget."
    audience = ["pm", "pmo", "sponsor"]
    params = { tolerance_pct = 0 }
    ```
    """

    name = "spend_within_approved_budget"
    applies_to = "project"
    reads = ("projects", "approvals")

    class Params(CheckParams):
        tolerance_pct: float = Field(0, ge=0, le=100)

    def evaluate(self, project: Project, ctx, p: Params):
        crs = ctx.approved_change_requests
        bad = unreadable(project, ("budget_approved", "actual_cost", "forecast_cost"), f"project {ctx.key}") or (
            _unreadable_crs(crs, ("amount",))
        )
        if bad:
            return bad
        costs = (("actual", project.actual_cost), ("forecast", project.forecast_cost))
        spent = {k: v for k, v in costs if v is not None}
        if not spent:
            return skip(f"Project {ctx.key} reports no actual or forecast cost.")
        budget = project.budget_approved
        if budget is None:
            return error(f"Cannot evaluate: project {ctx.key} has no approved budget to compare its cost with.",
                         {**spent}, refs(project))
        which, spend = max(spent.items(), key=lambda kv: kv[1])
        covered = sum(cr.amount or 0 for cr in crs)
        ev = {"budget_approved": budget, **spent, "tolerance_pct": p.tolerance_pct,
              "approved_change_requests": [cr.key for cr in crs], "change_request_amount": covered}
        if spend <= budget * (1 + p.tolerance_pct / 100):
            return ok(f"Cost of {ctx.key} ({which} {spend:,.0f}) is within the approved budget {budget:,.0f}.",
                      ev, refs(project))
        if covered >= spend - budget:
            return ok(f"Cost of {ctx.key} above budget ({which} {spend:,.0f}) is covered by approved change "
                      f"requests worth {covered:,.0f}.", ev, refs(project, *crs))
        return alarm(f"{which.capitalize()} cost {spend:,.0f} of {ctx.key} exceeds the approved budget {budget:,.0f} "
                     f"by {spend - budget:,.0f} without an approved change request covering it.",
                     ev, refs(project, *crs))


@checks.register
class AssignedFteWithinApproved(Check):
    """No more people (FTE) are assigned to the project than approved.

    ```toml
    [[rule]]
    id = "APPR-02"
    title = "More people assigned than approved"
    applies_to = "project"
    check = "assigned_fte_within_approved"
    severity = "high"
    remediation = "Submit a resource request for the extra people, or release them."
    audience = ["pm", "pmo"]
    params = { tolerance_fte = 0 }
    ```
    """

    name = "assigned_fte_within_approved"
    applies_to = "project"

    class Params(CheckParams):
        tolerance_fte: float = Field(0, ge=0)

    def evaluate(self, project: Project, ctx, p: Params):
        bad = unreadable(project, ("fte_approved", "fte_assigned"), f"project {ctx.key}")
        if bad:
            return bad
        assigned, approved = project.fte_assigned, project.fte_approved
        if assigned is None:
            return skip(f"Project {ctx.key} reports no assigned FTE.")
        if approved is None:
            return error(f"Cannot evaluate: project {ctx.key} has {assigned} FTE assigned but no approved FTE.",
                         {"fte_assigned": assigned}, refs(project))
        ev = {"fte_approved": approved, "fte_assigned": assigned, "tolerance_fte": p.tolerance_fte}
        if assigned > approved + p.tolerance_fte:
            return alarm(f"Project {ctx.key} has {assigned:g} FTE assigned, {approved:g} approved.", ev, refs(project))
        return ok(f"Project {ctx.key} has {assigned:g} FTE assigned of {approved:g} approved.", ev, refs(project))


ApprovalKind = Literal["budget", "resource", "infrastructure", "change_request"]


@checks.register
class ApprovalDecidedTimely(Check):
    """A pending approval request (budget, resource, infrastructure) gets a decision within N business days.

    ```toml
    [[rule]]
    id = "APPR-03"
    title = "Approval request pending too long"
    applies_to = "approval"
    check = "approval_decided_timely"
    severity = "medium"
    remediation = "Chase the approver or escalate the request to the PMO."
    audience = ["pm", "pmo"]
    params = { kinds = ["budget", "resource", "infrastructure"], max_business_days = 10 }
    ```
    """

    name = "approval_decided_timely"
    applies_to = "approval"
    reads = ("projects", "approvals")

    class Params(CheckParams):
        kinds: list[ApprovalKind] = Field(default_factory=lambda: ["budget", "resource", "infrastructure"],
                                          min_length=1)
        max_business_days: int = Field(10, ge=1)

    def subjects(self, ctx, p: Params):
        return [a for a in ctx.approvals if a.kind in p.kinds or "kind" in a.invalid]

    def evaluate(self, a: Approval, ctx, p: Params):
        label = f"approval request {a.key}"
        bad = unreadable(a, ("kind", "status", "requested_on"), label)
        if bad:
            return bad
        if a.status != "pending":
            return skip(f"Approval request {a.key} is {a.status}.")
        if a.requested_on is None:
            return error(f"Cannot evaluate: {label} is pending but has no request date.", {}, refs(a))
        days = ctx.run.business_days(a.requested_on, ctx.today)
        ev = {"kind": a.kind, "requested_on": iso(a.requested_on), "business_days_pending": days,
              "limit": p.max_business_days}
        if days > p.max_business_days:
            return alarm(f"{a.kind.capitalize()} request {a.key} has been pending {days} business days "
                         f"(limit {p.max_business_days}).", ev, refs(a))
        return ok(f"{a.kind.capitalize()} request {a.key} pending {days} business days.", ev, refs(a))


@checks.register
class BaselineChangeApproved(Check):
    """Every recorded change of the approved budget or the baseline has an approved change request decided
    within `before_days` before or `after_days` after it. Setting a value for the first time is not a change.

    ```toml
    [[rule]]
    id = "APPR-04"
    title = "Budget or baseline changed without an approved change request"
    applies_to = "project"
    check = "baseline_change_approved"
    severity = "high"
    remediation = "Record the approved change request for the change, or restore the approved value."
    audience = ["pm", "pmo"]

    [rule.params]
    fields = ["budget_approved", "baseline_start", "baseline_finish", "baseline_cost"]
    before_days = 30
    after_days = 5
    ```
    """

    name = "baseline_change_approved"
    applies_to = "project"
    reads = ("projects", "approvals")

    class Params(CheckParams):
        fields: list[str] = Field(
            default_factory=lambda: ["budget_approved", "baseline_start", "baseline_finish", "baseline_cost"],
            min_length=1,
            description='tracked value names as in Project.value_history ("baseline.cost" = "baseline_cost")',
        )
        before_days: int = Field(30, ge=0)
        after_days: int = Field(5, ge=0)

    def evaluate(self, project: Project, ctx, p: Params):
        crs = ctx.approved_change_requests
        bad = unreadable(project, ("value_history",), f"project {ctx.key}") or _unreadable_crs(crs, ("decided_on",))
        if bad:
            return bad
        tracked = {f.replace(".", "_") for f in p.fields}
        dates = [cr.decided_on or cr.requested_on for cr in crs]
        dates = [d for d in dates if d is not None]
        uncovered, changes = [], 0
        for c in project.value_history:
            if c.field.replace(".", "_") not in tracked or c.before is None or c.before == c.after:
                continue
            changes += 1
            day = c.at.date()
            lo, hi = day - timedelta(days=p.before_days), day + timedelta(days=p.after_days)
            if not any(lo <= d <= hi for d in dates):
                uncovered.append(f"{c.field} {c.before} -> {c.after} on {day}")
        ev = {"changes": changes, "unapproved": uncovered, "approved_change_requests": [cr.key for cr in crs]}
        if uncovered:
            return alarm(f"Project {ctx.key} changed {'; '.join(uncovered)} without an approved change request.",
                         ev, refs(project, *crs))
        if not changes:
            return ok(f"No budget or baseline change is recorded for {ctx.key}.", ev, refs(project))
        return ok(f"Project {ctx.key}: {changes} budget or baseline change(s), each with an approved change request.",
                  ev, refs(project, *crs))

