"""DATA: the quality of the portfolio itself: records matched across systems, systems agreeing.

DATA-01 reads `portfolio.unmatched` (filled by the merge): a project with an unmatched record is an alarm
on that project; an unmatched record whose key is no known project becomes an alarm of its own (subject
"project:KEY") through the `orphans` hook, once per run and regardless of scope.
DATA-02 reads `Project.provenance`: a field observed with different values in different systems.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import Field

from hub.model import Project, Unmatched
from hub.rules.checks.common import refs
from hub.rules.registry import Check, CheckParams, alarm, checks, ok


def _unmatched_outcome(key: str, found: list[Unmatched]):
    where = "; ".join(f"in {u.system} but not in {', '.join(u.expected_in) or 'the other systems'}" for u in found)
    ev = {"unmatched": [u.model_dump(mode="json") for u in found]}
    return alarm(f"{found[0].kind.capitalize()} {key} is {where}.", ev, [u.source for u in found])


@checks.register
class RecordMatchedAcrossSources(Check):
    """A project's record in one system has its counterpart in every system where one is expected.

    ```toml
    [[rule]]
    id = "DATA-01"
    title = "Project record unmatched across systems"
    applies_to = "project"
    check = "record_matched_across_sources"
    severity = "medium"
    remediation = "Create the missing record, or correct the identity key so that the records match."
    audience = ["pmo"]
    params = { kinds = ["project"] }
    ```
    """

    name = "record_matched_across_sources"
    applies_to = "project"
    states = frozenset({"active", "on_hold", "closed", "cancelled"})

    class Params(CheckParams):
        kinds: list[str] = Field(default_factory=lambda: ["project"], min_length=1,
                                 description="kinds of unmatched records that count (Unmatched.kind)")

    def evaluate(self, project: Project, ctx, p: Params):
        found = [u for u in ctx.run.unmatched_by_key.get(ctx.key, ()) if u.kind in p.kinds]
        if found:
            return _unmatched_outcome(ctx.key, found)
        systems = sorted({s.system for s in project.sources})
        return ok(f"Project {ctx.key} is matched across {', '.join(systems) or 'its systems'}.", {"systems": systems},
                  refs(project))

    def orphans(self, run, p: Params):
        known = run.portfolio.projects
        for key, found in run.unmatched_by_key.items():
            found = [u for u in found if u.kind in p.kinds]
            if found and key not in known:
                kind = found[0].kind
                yield (key if kind == "project" else None), f"{kind}:{key}", _unmatched_outcome(key, found)


def _norm(v: Any) -> Any:
    """A comparable form: numbers as float, dates as ISO dates, strings trimmed and case-folded."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, datetime):
        return v.date().isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, str):
        s = v.strip()
        try:
            return float(s)
        except ValueError:
            return s.casefold()
    if isinstance(v, (list, tuple, set)):
        return tuple(sorted(map(str, (_norm(x) for x in v))))
    return repr(v)


def _differ(a: Any, b: Any, tolerance: float) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) > tolerance
    return a != b


@checks.register
class SourcesAgree(Check):
    """Systems that carry the same project field agree on its value (numbers within `tolerance`, text
    ignoring case and surrounding spaces). An empty `fields` list compares every field with provenance.

    ```toml
    [[rule]]
    id = "DATA-02"
    title = "Systems disagree on a project field"
    applies_to = "project"
    check = "sources_agree"
    severity = "medium"
    remediation = "Correct the value in the system that is wrong; the evidence shows each system's value."
    audience = ["pm", "pmo"]
    params = { fields = [], ignore = [], tolerance = 0.0 }
    ```
    """

    name = "sources_agree"
    applies_to = "project"

    class Params(CheckParams):
        fields: list[str] = Field(default_factory=list, description="fields to compare; empty = all")
        ignore: list[str] = Field(default_factory=list)
        tolerance: float = Field(0.0, ge=0, description="absolute tolerance for numbers")

    def evaluate(self, project: Project, ctx, p: Params):
        disagreements: dict[str, list[dict[str, Any]]] = {}
        sources = []
        for field, seen in project.provenance.items():
            if len(seen) < 2 or (p.fields and field not in p.fields) or field in p.ignore:
                continue
            values = [(o, _norm(o.value)) for o in seen if o.value is not None]
            first = values[0][1] if values else None
            systems = {o.source.system for o, _ in values}
            if len(systems) > 1 and any(_differ(first, n, p.tolerance) for _, n in values[1:]):
                disagreements[field] = [
                    {"value": o.value if isinstance(o.value, (str, int, float, bool)) else str(o.value),
                     "system": o.source.system, "id": o.source.id} for o, _ in values
                ]
                sources.extend(o.source for o, _ in values)
        if disagreements:
            parts = []
            for field, obs in disagreements.items():
                parts.append(f"{field}: " + " vs ".join(f"{o['system']} {o['value']!r}" for o in obs))
            return alarm(f"Systems disagree on {ctx.key}: {'; '.join(parts)}.", {"disagreements": disagreements},
                         list(dict.fromkeys(sources)))
        return ok(f"Systems agree on every shared field of {ctx.key}.", {"fields_compared": len(project.provenance)},
                  refs(project))
