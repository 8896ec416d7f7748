"""RISK: key risks and issues raised to the PMO with owners and responses (PMO touch point 5).

Subjects are RAID log entries (`RaidEntry`) of the kinds a rule names. A risk is *significant* when its score
(probability x impact on 5x5) reaches `min_score`, or, when it has no score, its severity is one of
`severities`; an entry with neither cannot be judged and gives `error`. Closed entries are skipped.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hub.model import RaidEntry, Severity, WorkItem
from hub.rules.checks.common import lowered, refs
from hub.rules.registry import Check, CheckParams, Outcome, alarm, checks, error, iso, ok, skip, unreadable

RaidKind = Literal["risk", "assumption", "issue", "dependency", "action"]


class RaidParams(CheckParams):
    kinds: list[RaidKind] = Field(default_factory=lambda: ["risk", "issue"], min_length=1)


class SignificanceParams(RaidParams):
    min_score: int = Field(12, ge=1, le=25, description="probability x impact at or above which a risk counts")
    severities: list[str] = Field(default_factory=lambda: ["high", "critical"],
                                  description="severities that count when a risk has no score")


class _RaidCheck(Check):
    applies_to = "risk"
    reads = ("projects", "raid")

    def subjects(self, ctx, p: RaidParams):
        return [r for r in ctx.raid if r.kind in p.kinds or "kind" in r.invalid]


def _open(r: RaidEntry, fields: tuple[str, ...] = ()) -> Outcome | None:
    """error if kind/status/fields are unreadable, skip if the entry is closed, else None."""
    bad = unreadable(r, ("kind", "status", *fields), f"{r.kind} {r.key}")
    if bad:
        return bad
    if r.status == "closed":
        return skip(f"{r.kind.capitalize()} {r.key} is closed.")
    return None


def _significant(r: RaidEntry, min_score: int, severities: list[str]) -> Outcome | bool:
    """True/False, or an error outcome when the entry's score or severity cannot be read or is absent."""
    bad = unreadable(r, ("probability", "impact", "severity"), f"{r.kind} {r.key}")
    if bad:
        return bad
    if r.score is not None:
        return r.score >= min_score
    if r.severity:
        return r.severity.lower() in lowered(severities)
    return error(f"Cannot evaluate: {r.kind} {r.key} has neither a probability x impact score nor a severity.",
                 {}, refs(r))


def _rating(r: RaidEntry) -> str:
    return f"score {r.score}" if r.score is not None else f"severity {r.severity}"


def _gate(r: RaidEntry, p: SignificanceParams, fields: tuple[str, ...]) -> Outcome | None:
    """Shared start of RISK-01/02: closed or unreadable or not significant settle the outcome."""
    settled = _open(r, fields)
    if settled:
        return settled
    sig = _significant(r, p.min_score, p.severities)
    if isinstance(sig, Outcome):
        return sig
    if not sig:
        return skip(f"{r.kind.capitalize()} {r.key} is not significant ({_rating(r)}).")
    return None


@checks.register
class SignificantRiskHasOwner(_RaidCheck):
    """A significant open risk or issue has an owner.

    ```toml
    [[rule]]
    id = "RISK-01"
    title = "Significant risk without an owner"
    applies_to = "risk"
    check = "significant_risk_has_owner"
    severity = "high"
    remediation = "Assign an owner to the risk in the RAID log."
    audience = ["pm"]
    params = { kinds = ["risk", "issue"], min_score = 12, severities = ["high", "critical"] }
    ```
    """

    name = "significant_risk_has_owner"
    Params = SignificanceParams

    def evaluate(self, r: RaidEntry, ctx, p: SignificanceParams):
        settled = _gate(r, p, ("owner",))
        if settled:
            return settled
        ev = {"score": r.score, "severity": r.severity, "owner": r.owner}
        if not r.owner:
            return alarm(f"{r.kind.capitalize()} {r.key} ({_rating(r)}) has no owner.", ev, refs(r))
        return ok(f"{r.kind.capitalize()} {r.key} is owned by {r.owner}.", ev, refs(r))


@checks.register
class SignificantRiskHasResponse(_RaidCheck):
    """A significant open risk or issue has a response (mitigation) and a due date for it.

    ```toml
    [[rule]]
    id = "RISK-02"
    title = "Significant risk without a response and a due date"
    applies_to = "risk"
    check = "significant_risk_has_response"
    severity = "high"
    remediation = "Record the response to the risk and the date it is due."
    audience = ["pm"]
    params = { kinds = ["risk", "issue"], min_score = 12, severities = ["high", "critical"] }
    ```
    """

    name = "significant_risk_has_response"
    Params = SignificanceParams

    def evaluate(self, r: RaidEntry, ctx, p: SignificanceParams):
        settled = _gate(r, p, ("response", "due"))
        if settled:
            return settled
        missing = [f for f, v in (("response", (r.response or "").strip()), ("due date", r.due)) if not v]
        ev = {"score": r.score, "severity": r.severity, "response": r.response, "due": iso(r.due)}
        if missing:
            what = " and no ".join(missing)
            return alarm(f"{r.kind.capitalize()} {r.key} ({_rating(r)}) has no {what}.", ev, refs(r))
        return ok(f"{r.kind.capitalize()} {r.key} has a response due {r.due}.", ev, refs(r))


@checks.register
class OpenRiskReviewed(_RaidCheck):
    """An open risk or issue was reviewed (or raised) within the last N days.

    ```toml
    [[rule]]
    id = "RISK-03"
    title = "Open risk not reviewed"
    applies_to = "risk"
    check = "open_risk_reviewed"
    severity = "medium"
    remediation = "Review the risk and record the review date in the RAID log."
    audience = ["pm"]
    params = { kinds = ["risk", "issue"], max_days = 30 }
    ```
    """

    name = "open_risk_reviewed"

    class Params(RaidParams):
        max_days: int = Field(30, ge=1)

    def evaluate(self, r: RaidEntry, ctx, p: Params):
        settled = _open(r, ("last_reviewed", "raised_on"))
        if settled:
            return settled
        last = r.last_reviewed or r.raised_on
        if last is None:
            return error(f"Cannot evaluate: {r.kind} {r.key} has neither a review date nor a raised date.", {}, refs(r))
        age = (ctx.today - last).days
        ev = {"last_reviewed": iso(r.last_reviewed), "raised_on": iso(r.raised_on), "age_days": age}
        if age > p.max_days:
            return alarm(f"{r.kind.capitalize()} {r.key} was last reviewed {age} days ago (limit {p.max_days}).",
                         ev, refs(r))
        return ok(f"{r.kind.capitalize()} {r.key} was reviewed {age} days ago.", ev, refs(r))


@checks.register
class CriticalRiskEscalated(_RaidCheck):
    """A critical open risk or issue is escalated to the PMO within N days of being raised.

    ```toml
    [[rule]]
    id = "RISK-04"
    title = "Critical risk not escalated to the PMO"
    applies_to = "risk"
    check = "critical_risk_escalated"
    severity = "high"
    remediation = "Escalate the risk to the PMO and record the escalation date."
    audience = ["pm", "pmo"]
    params = { kinds = ["risk", "issue"], min_score = 20, severities = ["critical"], within_days = 5 }
    ```
    """

    name = "critical_risk_escalated"

    class Params(SignificanceParams):
        min_score: int = Field(20, ge=1, le=25)
        severities: list[str] = Field(default_factory=lambda: ["critical"])
        within_days: int = Field(5, ge=0)

    def evaluate(self, r: RaidEntry, ctx, p: Params):
        settled = _open(r, ("escalated", "escalated_on", "raised_on"))
        if settled:
            return settled
        crit = _significant(r, p.min_score, p.severities)
        if isinstance(crit, Outcome):
            return crit
        if not crit:
            return skip(f"{r.kind.capitalize()} {r.key} is not critical ({_rating(r)}).")
        ev = {"score": r.score, "severity": r.severity, "escalated": r.escalated,
              "escalated_on": iso(r.escalated_on), "raised_on": iso(r.raised_on)}
        if r.escalated:
            return ok(f"Critical {r.kind} {r.key} was escalated to the PMO"
                      f"{' on ' + str(r.escalated_on) if r.escalated_on else ''}.", ev, refs(r))
        if r.raised_on is None:
            return error(f"Cannot evaluate: critical {r.kind} {r.key} is not escalated and has no raised date.",
                         ev, refs(r))
        age = (ctx.today - r.raised_on).days
        ev["age_days"] = age
        if age > p.within_days:
            return alarm(f"Critical {r.kind} {r.key} raised {age} days ago is not escalated to the PMO "
                         f"(limit {p.within_days} days).", ev, refs(r))
        return ok(f"Critical {r.kind} {r.key} raised {age} days ago; escalate within {p.within_days} days.", ev,
                  refs(r))


@checks.register
class RaidActionOverdue(_RaidCheck):
    """An open RAID action is not past its due date; more than `escalate_after_days` overdue raises the
    severity to `escalated_severity`.

    ```toml
    [[rule]]
    id = "RISK-05"
    title = "RAID action overdue"
    applies_to = "risk"
    check = "raid_action_overdue"
    severity = "medium"
    remediation = "Complete the action, or agree a new due date and record it."
    audience = ["pm", "owner"]
    params = { kinds = ["action"], grace_days = 0, escalate_after_days = 14, escalated_severity = "high" }
    ```
    """

    name = "raid_action_overdue"

    class Params(RaidParams):
        kinds: list[RaidKind] = Field(default_factory=lambda: ["action"], min_length=1)
        grace_days: int = Field(0, ge=0)
        escalate_after_days: int = Field(14, ge=1)
        escalated_severity: Severity = "high"

    def evaluate(self, r: RaidEntry, ctx, p: Params):
        settled = _open(r, ("due",))
        if settled:
            return settled
        if r.due is None:
            return skip(f"{r.kind.capitalize()} {r.key} has no due date.")
        late = (ctx.today - r.due).days
        ev = {"due": iso(r.due), "days_overdue": max(late, 0), "owner": r.owner}
        if late > p.grace_days:
            sev = p.escalated_severity if late > p.escalate_after_days else None
            return alarm(f"{r.kind.capitalize()} {r.key} is {late} days overdue (due {r.due}).", ev, refs(r), sev)
        return ok(f"{r.kind.capitalize()} {r.key} is due {r.due}.", ev, refs(r))


@checks.register
class BlockerInRaidLog(Check):
    """A blocker-priority work item open longer than N days is logged in the RAID log (an entry whose
    `linked_item` is the work item's key).

    ```toml
    [[rule]]
    id = "RISK-06"
    title = "Blocker open in the tracker but absent from the RAID log"
    applies_to = "work_item"
    check = "blocker_in_raid_log"
    severity = "medium"
    remediation = "Log the blocker as an issue in the RAID log, linked to the work item."
    audience = ["pm"]
    params = { priorities = ["Blocker"], open_days = 5 }
    ```
    """

    name = "blocker_in_raid_log"
    applies_to = "work_item"
    reads = ("projects", "work_items", "raid")

    class Params(CheckParams):
        priorities: list[str] = Field(default_factory=lambda: ["Blocker"], min_length=1)
        open_days: int = Field(5, ge=0)

    def subjects(self, ctx, p: Params):
        prios = lowered(p.priorities)
        return [
            i for i in ctx.items
            if i.status_category != "done" and ((i.priority or "").lower() in prios or "priority" in i.invalid)
        ]

    def evaluate(self, item: WorkItem, ctx, p: Params):
        bad = unreadable(item, ("priority", "status_category", "created"), f"work item {item.key}")
        if bad:
            return bad
        if item.created is None:
            return error(f"Cannot evaluate: blocker {item.key} has no created date.", {}, refs(item))
        age = (ctx.today - item.created.date()).days
        ev = {"priority": item.priority, "status": item.status, "open_days": age}
        if item.key in ctx.raid_linked_items:
            return ok(f"Blocker {item.key} is logged in the RAID log.", ev, refs(item))
        if age > p.open_days:
            return alarm(f"Blocker {item.key} has been open {age} days and is not in the RAID log.", ev, refs(item))
        return ok(f"Blocker {item.key} has been open {age} days (log it after {p.open_days}).", ev, refs(item))

