"""Small helpers the check modules share."""

from __future__ import annotations

from typing import Any, Iterable

from hub.model import SourceRef
from hub.rules.context import ProjectContext
from hub.rules.registry import Outcome, error


def refs(*records: Any, limit: int = 10) -> list[SourceRef]:
    """The first source of each record (None and source-less records skipped), at most `limit`."""
    out: list[SourceRef] = []
    for r in records:
        if r is not None and r.sources:
            out.append(r.sources[0])
            if len(out) >= limit:
                break
    return out


def refs_of(records: Iterable[Any], limit: int = 10) -> list[SourceRef]:
    return refs(*records, limit=limit)


def before_phase(ctx: ProjectContext, from_phase: str) -> str | Outcome | None:
    """`applies` helper: skip reason if the project is before `from_phase`, error if its phase is unknown."""
    problem = ctx.phase_problem()
    if problem:
        return error(problem, {"phase": ctx.project.phase}, refs(ctx.project))
    if ctx.phase_index < ctx.run.phase_index(from_phase):  # type: ignore[operator]
        return f"Project {ctx.key} is in {ctx.project.phase}, before {from_phase}."
    return None


def lowered(values: Iterable[str]) -> set[str]:
    return {v.lower() for v in values}
