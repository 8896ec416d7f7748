"""TRAIN: the project manager is trained in the PMO's standards (PMO touch point 2).

Both checks read the training roster (`portfolio.people[project.pm].trainings`). A training is valid until its
`expires_on`, or `valid_months` after `completed_on` when the roster keeps no expiry date.
"""

from __future__ import annotations

from datetime import date

from pydantic import Field

from hub.model import Person, TrainingRecord
from hub.rules.checks.common import before_phase, lowered, refs
from hub.rules.context import add_months
from hub.rules.registry import Check, CheckParams, Outcome, alarm, checks, iso, ok, skip, unreadable


class TrainingParams(CheckParams):
    courses: list[str] = Field(
        default_factory=lambda: ["PMO Project Management Standards"],
        min_length=1,
        description="course names that count (any of them; case-insensitive)",
    )
    valid_months: int = Field(24, ge=1, description="validity after completion when no expiry date is kept")


def best_training(
    person: Person, p: TrainingParams
) -> tuple[Outcome | None, TrainingRecord | None, date | None]:
    """(error outcome if a needed value is unreadable, the training valid longest, its end of validity)."""
    label = f"person {person.id}"
    bad = unreadable(person, ("trainings",), label)
    if bad:
        return bad, None, None
    wanted = lowered(p.courses)
    best, until = None, None
    for t in person.trainings:
        if t.course.lower() not in wanted:
            continue
        bad = unreadable(t, ("completed_on", "expires_on"), f"the {t.course} training of {person.id}")
        if bad:
            return bad, None, None
        end = t.expires_on or (add_months(t.completed_on, p.valid_months) if t.completed_on else None)
        if end is not None and (until is None or end > until):
            best, until = t, end
    return None, best, until


def _pm(ctx) -> tuple[Outcome | None, Person | None]:
    """(outcome that settles the check without a roster entry, the PM's person record)."""
    pr = ctx.project
    bad = unreadable(pr, ("pm",), f"project {ctx.key}")
    if bad:
        return bad, None
    if not pr.pm:
        return skip(f"Project {ctx.key} names no PM (see INIT-02)."), None
    return None, ctx.run.people.get(pr.pm)


@checks.register
class PmTrained(Check):
    """The project manager has completed the PMO's training, still valid, once the project has left
    initiation (from `from_phase` on).

    ```toml
    [[rule]]
    id = "TRAIN-01"
    title = "Project manager trained in PMO standards"
    applies_to = "person"
    check = "pm_trained"
    severity = "high"
    remediation = "Enrol the project manager in the PMO standards course and record the completion."
    audience = ["pm", "pmo"]
    params = { courses = ["PMO Project Management Standards"], valid_months = 24, from_phase = "Planning" }
    ```
    """

    name = "pm_trained"
    applies_to = "person"
    reads = ("projects", "people", "training")

    class Params(TrainingParams):
        from_phase: str = Field("Planning", description="the first phase in which the PM must be trained")

    def applies(self, ctx, p: Params):
        return super().applies(ctx, p) or before_phase(ctx, p.from_phase)

    def evaluate(self, pm: str | None, ctx, p: Params):
        settled, person = _pm(ctx)
        if settled:
            return settled
        courses = " / ".join(p.courses)
        if person is None:
            return alarm(f"PM {pm} of {ctx.key} has no record on the training roster ({courses}).",
                         {"pm": pm}, refs(ctx.project))
        bad, best, until = best_training(person, p)
        if bad:
            return bad
        ev = {"pm": pm, "course": best.course if best else None, "valid_until": iso(until)}
        if best is None:
            return alarm(f"PM {pm} of {ctx.key} has not completed {courses}.", ev, refs(person, ctx.project))
        if until < ctx.today:
            return alarm(f"PM {pm} of {ctx.key}: {best.course} training expired on {until}.", ev, refs(best, person))
        return ok(f"PM {pm} of {ctx.key}: {best.course} training valid until {until}.", ev, refs(best, person))


@checks.register
class PmTrainingExpiring(Check):
    """The project manager's valid training does not expire within the next N days.

    ```toml
    [[rule]]
    id = "TRAIN-02"
    title = "Project manager's training expires soon"
    applies_to = "person"
    check = "pm_training_expiring"
    severity = "low"
    remediation = "Book the project manager on a refresher before the training expires."
    audience = ["pm"]
    params = { courses = ["PMO Project Management Standards"], valid_months = 24, within_days = 30 }
    ```
    """

    name = "pm_training_expiring"
    applies_to = "person"
    reads = ("projects", "people", "training")

    class Params(TrainingParams):
        within_days: int = Field(30, ge=1)

    def evaluate(self, pm: str | None, ctx, p: Params):
        settled, person = _pm(ctx)
        if settled:
            return settled
        if person is None:
            return skip(f"PM {pm} is not on the training roster (see TRAIN-01).")
        bad, best, until = best_training(person, p)
        if bad:
            return bad
        if best is None or until < ctx.today:
            return skip(f"PM {pm} has no valid training (see TRAIN-01).")
        days = (until - ctx.today).days
        ev = {"pm": pm, "course": best.course, "valid_until": iso(until), "days_left": days}
        if days <= p.within_days:
            return alarm(f"PM {pm}'s {best.course} training expires on {until}, in {days} days.", ev,
                         refs(best, person))
        return ok(f"PM {pm}'s {best.course} training is valid for {days} more days.", ev, refs(best, person))
