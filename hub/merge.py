"""Merging the partial portfolios of several systems into one, by project identity key.

Each connector contributes a `Portfolio` for its own records. Projects with the same key are one project: the
first system in `order` (the system of record) provides each field's value in use; every other system's value
is kept in `provenance`, so a disagreement between sources is visible (rule DATA-02) with both links. Records
that carry a key no other expected system has are listed in `Portfolio.unmatched` (rule DATA-01). Records of
other kinds (RAID entries, reports, approvals, work items, milestones) with the same key are one record too:
the first system's is used, and the others' sources are added to it.
"""

from __future__ import annotations

from datetime import datetime

from hub.model import Portfolio, Project

MERGED_FIELDS = ("name", "department", "pm", "sponsor", "phase", "budget_approved", "actual_cost", "forecast_cost",
                 "fte_approved", "fte_assigned", "planned_start", "planned_finish", "forecast_finish")


def merge(parts: list[Portfolio], *, as_of: datetime, expected: dict[str, list[str]] | None = None,
          owners: dict[str, str] | None = None) -> Portfolio:
    """Merge `parts` into one portfolio.

    Each project field takes its value from `owners[field]` (the configured system of record) when that
    system has one, else from the first part that has one. `expected` maps a system to the systems in which
    each of its projects should also appear (DATA-01).
    """
    out = Portfolio(as_of=as_of)
    seen_in: dict[str, set[str]] = {}
    record_index: dict[str, dict[str, object]] = {}  # list name -> record key -> the record in use
    for part in parts:
        out.systems.extend(s for s in part.systems if s not in out.systems)
        out.source_failures.extend(part.source_failures)
        out.unmatched.extend(part.unmatched)
        for key, proj in part.projects.items():
            for system in part.systems:
                seen_in.setdefault(key, set()).add(system)
            if key not in out.projects:
                out.projects[key] = proj
            else:
                _merge_project(out.projects[key], proj)
        for attr in ("work_items", "milestones", "raid", "status_reports", "approvals"):
            _extend_unique(getattr(out, attr), getattr(part, attr), record_index.setdefault(attr, {}))
        for pid, person in part.people.items():
            if pid not in out.people:
                out.people[pid] = person
            else:
                have = out.people[pid]
                have.trainings.extend(person.trainings)
                have.name = have.name or person.name
                have.sources.extend(s for s in person.sources if s not in have.sources)
    for proj in out.projects.values():
        _apply_owners(proj, owners or {})
    failed = out.failed_systems()
    for system, others in (expected or {}).items():
        for key, systems in seen_in.items():
            if system not in systems:
                continue
            missing = [o for o in others if o not in systems and o in out.systems and o not in failed]
            if missing:
                proj = out.projects[key]
                src = next((s for s in proj.sources if s.system == system), proj.primary_source)
                from hub.model import Unmatched

                out.unmatched.append(Unmatched(system=system, key=key, expected_in=missing, source=src))
    return out


def _extend_unique(into: list, items: list, index: dict[str, object]) -> None:
    """Add records; one with a key already present (the same RAID entry in Jira and in a sheet) is the same
    record: the first system's stays in use and the other's source is added to it."""
    for rec in items:
        have = index.get(rec.key)
        if have is None:
            index[rec.key] = rec
            into.append(rec)
        else:
            have.sources.extend(s for s in rec.sources if s not in have.sources)


def _apply_owners(proj: Project, owners: dict[str, str]) -> None:
    """Put the system of record's value of each owned field in use (and first in its provenance)."""
    for name, system in owners.items():
        seen = proj.provenance.get(name) or []
        mine = [o for o in seen if o.source.system == system]
        if not mine:
            continue
        setattr(proj, name, mine[0].value)
        proj.provenance[name] = mine + [o for o in seen if o.source.system != system]
        if name in proj.invalid and not proj.invalid[name].lower().startswith(system):
            del proj.invalid[name]  # the unreadable value was another system's; the owner's is in use


def _merge_project(into: Project, other: Project) -> None:
    """Fill `into` from `other`: values `into` lacks are taken; every value is kept as provenance."""
    for src in other.sources:
        if src not in into.sources:
            into.sources.append(src)
    for name in MERGED_FIELDS:
        theirs = getattr(other, name)
        if theirs is None:
            continue
        src = other.source_of(name)
        if getattr(into, name) is None and name not in into.invalid:
            setattr(into, name, theirs)
            into.observe(name, theirs, src, in_use=True)
        else:
            into.observe(name, theirs, src)
    for name, where in other.invalid.items():
        if getattr(into, name, None) is None:
            into.invalid.setdefault(name, where)
    if into.initiation is None:
        into.initiation = other.initiation
    have = {g.gate for g in into.gates}
    into.gates.extend(g for g in other.gates if g.gate not in have)
    if into.baseline is None:
        into.baseline = other.baseline
    into.phase_history.extend(other.phase_history)
    into.value_history.extend(other.value_history)
    into.tags.extend(t for t in other.tags if t not in into.tags)
