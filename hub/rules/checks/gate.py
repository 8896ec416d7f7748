"""GATE: each phase audited and approved at a tollgate before the next starts (PMO touch point 6).

The lifecycle (phases in order, and the phase each gate `enters`, or "closed" for the closure gate) is
configuration: `[standards.lifecycle]`, default Initiation -> Planning -> Execution -> Closing with G0 into
Planning, G1 into Execution and G2 approving closure.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hub.model import GateDecision, Project
from hub.rules.checks.common import refs
from hub.rules.registry import Check, CheckParams, alarm, checks, error, iso, ok, skip, unreadable
from hub.rules.settings import CLOSED

def _phase_error(problem: str, project: Project):
    return error(problem, {"phase": project.phase}, refs(project))


Decision = Literal["approved", "conditional", "rejected", "recycle", "pending"]


@checks.register
class GateApprovedBeforePhase(Check):
    """Every gate into the project's current phase and the phases before it is approved (or conditionally
    approved); a closed project has passed every gate, the closure gate included.

    ```toml
    [[rule]]
    id = "GATE-01"
    title = "Phase entered without gate approval"
    applies_to = "project"
    check = "gate_approved_before_phase"
    severity = "critical"
    remediation = "Hold the missing gate review and record its decision before continuing this phase."
    audience = ["pm", "pmo", "sponsor"]
    params = { accepted_decisions = ["approved", "conditional"] }
    ```
    """

    name = "gate_approved_before_phase"
    applies_to = "project"
    states = frozenset({"active", "on_hold", "closed"})

    class Params(CheckParams):
        accepted_decisions: list[Decision] = Field(default_factory=lambda: ["approved", "conditional"], min_length=1)

    def evaluate(self, project: Project, ctx, p: Params):
        bad = unreadable(project, ("gates",), f"project {ctx.key}")
        if bad:
            return bad
        run = ctx.run
        if project.state == "closed":
            required = run.gates
            where = "closed"
        else:
            problem = ctx.phase_problem()
            if problem:
                return _phase_error(problem, project)
            required = [g for g in run.gates if g.enters != CLOSED and run.phase_index(g.enters) <= ctx.phase_index]
            where = f"in {project.phase}"
        missing, used = [], []
        for g in required:
            d = project.gate(g.name)
            if d is not None:
                bad = unreadable(d, ("decision",), f"gate {g.name} of project {ctx.key}")
                if bad:
                    return bad
                used.append(d)
            if d is None or d.decision not in p.accepted_decisions:
                missing.append(f"{g.name} ({d.decision if d else 'no decision'})")
        ev = {"phase": project.phase, "state": project.state, "required": [g.name for g in required],
              "not_approved": missing}
        if missing:
            return alarm(f"Project {ctx.key} is {where} without approval of gate {', '.join(missing)}.", ev,
                         refs(project, *used))
        return ok(f"Project {ctx.key} is {where} with every gate before it approved.", ev, refs(project, *used))


def _decided(g: GateDecision, label: str):
    """error if the decision is unreadable, skip if the gate is still pending, else None."""
    bad = unreadable(g, ("decision",), label)
    if bad:
        return bad
    if g.decision == "pending":
        return skip(f"{label.capitalize()} is not decided yet.")
    return None


@checks.register
class GateDecisionComplete(Check):
    """A gate decision records its approver and its date.

    ```toml
    [[rule]]
    id = "GATE-02"
    title = "Gate decision missing approver or date"
    applies_to = "gate"
    check = "gate_decision_complete"
    severity = "high"
    remediation = "Record who took the gate decision and when."
    audience = ["pm", "pmo"]
    params = { require = ["approver", "decided_on"] }
    ```
    """

    name = "gate_decision_complete"
    applies_to = "gate"

    class Params(CheckParams):
        require: list[Literal["approver", "decided_on"]] = Field(
            default_factory=lambda: ["approver", "decided_on"], min_length=1
        )

    def evaluate(self, g: GateDecision, ctx, p: Params):
        label = f"gate {g.gate} of project {ctx.key}"
        settled = _decided(g, label) or unreadable(g, p.require, label)
        if settled:
            return settled
        missing = [f for f in p.require if not getattr(g, f)]
        ev = {"gate": g.gate, "decision": g.decision, "approver": g.approver, "decided_on": iso(g.decided_on)}
        src = refs(g, ctx.project, limit=1)
        if missing:
            names = " and no ".join("approver" if f == "approver" else "decision date" for f in missing)
            return alarm(f"Gate {g.gate} of {ctx.key} ({g.decision}) has no {names}.", ev, src)
        return ok(f"Gate {g.gate} of {ctx.key} was {g.decision} by {g.approver} on {g.decided_on}.", ev, src)


@checks.register
class GateReviewTimely(Check):
    """An undecided gate is not past its planned review date (plus grace days).

    ```toml
    [[rule]]
    id = "GATE-03"
    title = "Gate review overdue"
    applies_to = "gate"
    check = "gate_review_timely"
    severity = "medium"
    remediation = "Hold the gate review, or re-plan it with the PMO and record the new date."
    audience = ["pm", "pmo"]
    params = { grace_days = 0 }
    ```
    """

    name = "gate_review_timely"
    applies_to = "gate"

    class Params(CheckParams):
        grace_days: int = Field(0, ge=0)

    def evaluate(self, g: GateDecision, ctx, p: Params):
        label = f"gate {g.gate} of project {ctx.key}"
        bad = unreadable(g, ("decision", "planned_on"), label)
        if bad:
            return bad
        if g.decision != "pending":
            return skip(f"Gate {g.gate} of {ctx.key} is decided ({g.decision}).")
        if g.planned_on is None:
            return skip(f"Gate {g.gate} of {ctx.key} has no planned review date.")
        late = (ctx.today - g.planned_on).days
        ev = {"gate": g.gate, "planned_on": iso(g.planned_on), "days_overdue": max(late, 0)}
        src = refs(g, ctx.project, limit=1)
        if late > p.grace_days:
            return alarm(f"Gate {g.gate} review of {ctx.key} is {late} days overdue (planned {g.planned_on}).", ev, src)
        return ok(f"Gate {g.gate} review of {ctx.key} is planned for {g.planned_on}.", ev, src)


@checks.register
class GateConditionsMet(Check):
    """The conditions of a conditional gate approval are done by their due dates.

    ```toml
    [[rule]]
    id = "GATE-04"
    title = "Conditions of a conditional gate approval overdue"
    applies_to = "gate"
    check = "gate_conditions_met"
    severity = "medium"
    remediation = "Meet the overdue gate conditions, or agree new dates with the PMO."
    audience = ["pm", "pmo"]
    params = { grace_days = 0 }
    ```
    """

    name = "gate_conditions_met"
    applies_to = "gate"

    class Params(CheckParams):
        grace_days: int = Field(0, ge=0)

    def evaluate(self, g: GateDecision, ctx, p: Params):
        label = f"gate {g.gate} of project {ctx.key}"
        bad = unreadable(g, ("decision", "conditions"), label)
        if bad:
            return bad
        if g.decision != "conditional":
            return skip(f"Gate {g.gate} of {ctx.key} is {g.decision}, not conditional.")
        overdue = [c for c in g.conditions if not c.done and c.due and (ctx.today - c.due).days > p.grace_days]
        ev = {"gate": g.gate, "conditions": len(g.conditions),
              "overdue": [{"text": c.text, "due": iso(c.due)} for c in overdue]}
        src = refs(g, ctx.project, limit=1)
        if overdue:
            first = overdue[0]
            return alarm(f"Gate {g.gate} of {ctx.key}: {len(overdue)} condition(s) overdue, e.g. "
                         f"{first.text!r} due {first.due}.", ev, src)
        return ok(f"Gate {g.gate} of {ctx.key}: no condition is overdue.", ev, src)


@checks.register
class PhaseTransitionsRecorded(Check):
    """Every phase change in the project's history moves one phase forward in the lifecycle, or has a gate
    decision recorded within `window_days` of it (a skipped phase or a move backwards needs one).

    ```toml
    [[rule]]
    id = "GATE-05"
    title = "Phase skipped or moved backwards without a recorded decision"
    applies_to = "project"
    check = "phase_transitions_recorded"
    severity = "high"
    remediation = "Record the gate decision that allowed the phase change, or correct the phase."
    audience = ["pm", "pmo"]
    params = { decisions = ["approved", "conditional", "recycle"], window_days = 14 }
    ```
    """

    name = "phase_transitions_recorded"
    applies_to = "project"
    states = frozenset({"active", "on_hold", "closed"})

    class Params(CheckParams):
        decisions: list[Decision] = Field(default_factory=lambda: ["approved", "conditional", "recycle"],
                                          min_length=1)
        window_days: int = Field(14, ge=0)

    def evaluate(self, project: Project, ctx, p: Params):
        bad = unreadable(project, ("phase_history", "gates"), f"project {ctx.key}")
        if bad:
            return bad
        run = ctx.run
        decided = [g.decided_on for g in project.gates if g.decision in p.decisions and g.decided_on]
        irregular = []
        history = sorted(project.phase_history, key=lambda c: c.at)
        for c in history:
            if c.to_phase is None or c.from_phase is None:
                continue
            fi, ti = run.phase_index(c.from_phase), run.phase_index(c.to_phase)
            if fi is None or ti is None:
                unknown = c.from_phase if fi is None else c.to_phase
                return _phase_error(f"Cannot evaluate: phase history of {ctx.key} names {unknown!r}, which is "
                                    f"not in the lifecycle {run.phases}.", project)
            if ti in (fi, fi + 1):
                continue
            day = c.at.date()
            if any(abs((d - day).days) <= p.window_days for d in decided):
                continue
            how = "backwards" if ti < fi else f"skipping {', '.join(run.phases[fi + 1:ti])}"
            irregular.append(f"{c.from_phase} -> {c.to_phase} on {day} ({how})")
        ev = {"changes": len(history), "irregular": irregular}
        if irregular:
            return alarm(f"Project {ctx.key} moved {'; '.join(irregular)} without a recorded gate decision.", ev,
                         refs(project))
        return ok(f"Project {ctx.key}: {len(history)} phase changes follow the lifecycle.", ev, refs(project))

