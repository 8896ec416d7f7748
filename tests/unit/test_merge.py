"""Merging per-system portfolios: identity by project key, system of record per field, provenance kept."""

from __future__ import annotations

from datetime import datetime, timezone

from hub.merge import merge
from hub.model import Portfolio, Project, SourceRef

NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)


def part(system: str, **fields) -> Portfolio:
    src = SourceRef(system=system, id=f"{system}-APOL", url=f"https://{system}.example/APOL")
    proj = Project(key="APOL", sources=[src], **fields)
    for name, value in fields.items():
        proj.observe(name, value, src)
    return Portfolio(as_of=NOW, projects={"APOL": proj}, systems=[system])


def test_first_source_wins_by_default_and_both_values_are_kept():
    pf = merge([part("jira", phase="Execution"), part("sheets", phase="Planning", department="IT")], as_of=NOW)
    p = pf.projects["APOL"]
    assert p.phase == "Execution" and p.department == "IT"
    assert [(o.source.system, o.value) for o in p.provenance["phase"]] == [("jira", "Execution"), ("sheets", "Planning")]
    assert [s.system for s in p.sources] == ["jira", "sheets"]


def test_system_of_record_decides_per_field():
    pf = merge([part("jira", phase="Execution", budget_approved=100.0),
                part("sheets", phase="Planning", budget_approved=120.0)],
               as_of=NOW, owners={"phase": "sheets"})
    p = pf.projects["APOL"]
    assert p.phase == "Planning"  # owned by the register
    assert p.budget_approved == 100.0  # not listed: first source
    assert p.provenance["phase"][0].source.system == "sheets"


def test_owner_without_a_value_falls_back_to_another_source():
    pf = merge([part("jira", phase="Execution"), part("sheets", department="IT")], as_of=NOW, owners={"phase": "sheets"})
    assert pf.projects["APOL"].phase == "Execution"


def test_project_missing_from_an_expected_system_is_unmatched():
    other = Portfolio(as_of=NOW, systems=["sheets"])
    pf = merge([part("jira", phase="Execution"), other], as_of=NOW, expected={"jira": ["sheets"]})
    assert [(u.system, u.key, u.expected_in) for u in pf.unmatched] == [("jira", "APOL", ["sheets"])]
