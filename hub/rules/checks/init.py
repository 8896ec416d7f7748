"""INIT: the project initiation request (PMO touch point 1)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from hub.model import Project, Record
from hub.rules.checks.common import refs
from hub.rules.registry import Check, CheckParams, alarm, checks, error, iso, ok, skip, unreadable


@checks.register
class InitiationApprovedBeforeWork(Check):
    """Work has started (work items in progress or done, or actual cost above zero) only with an approved
    initiation request.

    ```toml
    [[rule]]
    id = "INIT-01"
    title = "Work started without an approved initiation request"
    applies_to = "project"
    check = "initiation_approved_before_work"
    severity = "critical"
    remediation = "Pause new work and get the initiation request approved by the PMO."
    audience = ["pm", "pmo", "sponsor"]
    params = { approved_statuses = ["approved"], count_actual_cost = true }
    ```
    """

    name = "initiation_approved_before_work"
    applies_to = "project"
    reads = ("projects", "work_items")

    class Params(CheckParams):
        approved_statuses: list[Literal["draft", "submitted", "approved", "rejected"]] = Field(
            default_factory=lambda: ["approved"], min_length=1
        )
        count_actual_cost: bool = Field(True, description="actual cost above zero counts as work started")

    def evaluate(self, project: Project, ctx, p: Params):
        label = f"project {ctx.key}"
        init = project.initiation
        bad = unreadable(project, ("initiation", "actual_cost"), label) or (
            init and unreadable(init, ("status",), f"the initiation request of {label}")
        )
        if bad:
            return bad
        status = init.status if init else None
        cost = project.actual_cost if p.count_actual_cost else None
        started = ctx.started_items
        ev = {"initiation_status": status, "items_started": len(started), "actual_cost": cost}
        if not started and not (cost and cost > 0):
            if ctx.items_with_unreadable_status:
                item = ctx.items_with_unreadable_status[0]
                return unreadable(item, ("status_category",), f"work item {item.key}")
            return ok(f"No work has started on {ctx.key} yet.", ev, refs(project))
        if status in p.approved_statuses:
            return ok(f"Work on {ctx.key} started with an {status} initiation request.", ev, refs(init or project))
        what = [f"{len(started)} work items in progress or done"] if started else []
        if cost and cost > 0:
            what.append(f"actual cost {cost:,.0f}")
        ev["started_items"] = [i.key for i in started[:5]]
        return alarm(
            f"Work has started on {ctx.key} ({', '.join(what)}) but its initiation request is {status or 'missing'}.",
            ev,
            refs(init or project, *started[:5]),
        )


@checks.register
class SponsorAndPmNamed(Check):
    """The project names its sponsor and its project manager.

    ```toml
    [[rule]]
    id = "INIT-02"
    title = "Sponsor and project manager named"
    applies_to = "project"
    check = "sponsor_and_pm_named"
    severity = "high"
    remediation = "Name the sponsor and the project manager on the project record."
    audience = ["pm", "pmo"]
    params = { roles = ["pm", "sponsor"] }
    ```
    """

    name = "sponsor_and_pm_named"
    applies_to = "project"

    class Params(CheckParams):
        roles: list[Literal["pm", "sponsor"]] = Field(default_factory=lambda: ["pm", "sponsor"], min_length=1)

    def evaluate(self, project: Project, ctx, p: Params):
        bad = unreadable(project, p.roles, f"project {ctx.key}")
        if bad:
            return bad
        ev = {r: getattr(project, r) for r in p.roles}
        missing = [r for r in p.roles if not getattr(project, r)]
        if missing:
            names = " and no ".join("sponsor" if r == "sponsor" else "project manager" for r in missing)
            return alarm(f"Project {ctx.key} has no {names}.", ev, refs(project))
        named = " and ".join("sponsor" if r == "sponsor" else "project manager" for r in p.roles)
        return ok(f"Project {ctx.key} names its {named}.", ev, refs(project))


_PROFILE_FIELDS = sorted(set(Project.model_fields) - set(Record.model_fields))


@checks.register
class ProjectProfileComplete(Check):
    """The project's profile fields are all set (not empty).

    ```toml
    [[rule]]
    id = "INIT-03"
    title = "Project profile complete"
    applies_to = "project"
    check = "project_profile_complete"
    severity = "medium"
    remediation = "Fill in the missing profile fields on the project record."
    audience = ["pm"]
    params = { fields = ["name", "department", "planned_start", "planned_finish", "budget_approved"] }
    ```
    """

    name = "project_profile_complete"
    applies_to = "project"

    class Params(CheckParams):
        fields: list[str] = Field(
            default_factory=lambda: ["name", "department", "planned_start", "planned_finish", "budget_approved"],
            min_length=1,
        )

        @field_validator("fields")
        @classmethod
        def _known(cls, v: list[str]) -> list[str]:
            bad = [f for f in v if f not in _PROFILE_FIELDS]
            if bad:
                raise ValueError(f"unknown project field {bad[0]!r}. Valid values are: {_PROFILE_FIELDS}")
            return v

    def evaluate(self, project: Project, ctx, p: Params):
        bad = unreadable(project, p.fields, f"project {ctx.key}")
        if bad:
            return bad
        missing = [f for f in p.fields if getattr(project, f) in (None, "", [])]
        if missing:
            return alarm(f"Project {ctx.key} profile is missing {', '.join(missing)}.", {"missing": missing},
                         refs(project))
        return ok(f"Project {ctx.key} profile is complete.", {"fields": p.fields}, refs(project))


@checks.register
class InitiationDecisionTimely(Check):
    """A submitted initiation request gets a PMO decision within N business days.

    ```toml
    [[rule]]
    id = "INIT-04"
    title = "Initiation request waiting too long for a PMO decision"
    applies_to = "project"
    check = "initiation_decision_timely"
    severity = "medium"
    remediation = "Put the initiation request on the next PMO review agenda and record the decision."
    audience = ["pmo"]
    params = { max_business_days = 10 }
    ```
    """

    name = "initiation_decision_timely"
    applies_to = "project"

    class Params(CheckParams):
        max_business_days: int = Field(10, ge=1)

    def evaluate(self, project: Project, ctx, p: Params):
        init = project.initiation
        label = f"the initiation request of project {ctx.key}"
        bad = unreadable(project, ("initiation",), f"project {ctx.key}") or (
            init and unreadable(init, ("status", "submitted_on"), label)
        )
        if bad:
            return bad
        if init is None or init.status != "submitted":
            return skip(f"The initiation request of {ctx.key} is {init.status if init else 'missing'}, "
                        "not waiting for a decision.")
        if init.submitted_on is None:
            return error(f"Cannot evaluate: {label} is submitted but has no submitted date.", {}, refs(init, project))
        days = ctx.run.business_days(init.submitted_on, ctx.today)
        ev = {"submitted_on": iso(init.submitted_on), "business_days_waiting": days, "limit": p.max_business_days}
        src = refs(init, project)
        if days > p.max_business_days:
            return alarm(f"The initiation request of {ctx.key} has waited {days} business days for a PMO decision "
                         f"(limit {p.max_business_days}).", ev, src)
        return ok(f"The initiation request of {ctx.key} has waited {days} business days (limit "
                  f"{p.max_business_days}).", ev, src)

