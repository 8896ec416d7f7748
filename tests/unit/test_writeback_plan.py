"""Write-back planning: a pure diff of desired governance values against the source and the last write."""

from __future__ import annotations

from datetime import date

import pytest

from connectors.base import WriteOp, WriteTarget
from hub import writeback
from hub.errors import SafetyCapError
from hub.model import Result
from hub.state import State

TODAY = date(2026, 11, 23)
FIELDS = ("compliance_status", "open_violations", "compliance_changed")


@pytest.fixture
def state(tmp_path):
    s = State.open(f"sqlite:///{tmp_path / 'state.db'}")
    yield s
    s.close()


def res(project: str, status: str, severity: str = "high", rule: str = "STAT-01") -> Result:
    return Result(rule=rule, status=status, severity=severity, project=project, subject=f"project:{project}",
                  reason="r", title="Status report stale")


def target(project: str, **current) -> WriteTarget:
    return WriteTarget("jira", f"{project}-1", project, None, dict(current), FIELDS, comment=True)


def test_project_status_worst_wins():
    assert writeback.project_status([res("A", "ok")]) == ("Compliant", 0)
    assert writeback.project_status([res("A", "alarm", "medium"), res("A", "ok")]) == ("At risk", 1)
    assert writeback.project_status([res("A", "alarm", "low"), res("A", "alarm", "critical")]) == ("Non-compliant", 2)
    assert writeback.project_status([res("A", "error")]) == ("Not assessed", 0)


def test_first_plan_writes_fields_and_comment(state):
    p = writeback.plan([target("A")], [res("A", "alarm")], state, today=TODAY, conflict_policy="flag")
    ops = {op.op: op for op in p.ops}
    assert ops["fields"].changes == {"compliance_status": (None, "Non-compliant"), "open_violations": (None, 1),
                                     "compliance_changed": (None, "2026-11-23")}
    assert ops["comment"].payload["lines"][0] == "PMO compliance for A: Non-compliant (1 open violation)"


def _simulate_written(state, p: writeback.Plan) -> None:
    for op in p.ops:
        writeback._record_success(state, "run-1", op.system, op.record, op.project, op.op,
                                  {"changes": op.changes, **op.payload}, {"comment_id": "c1"})
    with state.transaction():
        for project, (status, changed_on) in p.statuses.items():
            state.set_project_status(project, status, changed_on)


def test_second_plan_with_no_change_is_empty(state):
    results = [res("A", "alarm")]
    p1 = writeback.plan([target("A")], results, state, today=TODAY, conflict_policy="flag")
    _simulate_written(state, p1)
    current = {"compliance_status": "Non-compliant", "open_violations": 1.0, "compliance_changed": "2026-11-23"}
    p2 = writeback.plan([target("A", **current)], results, state, today=date(2026, 11, 30), conflict_policy="flag")
    assert p2.ops == [] and p2.conflicts == []
    # the status did not change, so neither does the "changed on" date a week later
    assert p2.statuses["A"] == ("Non-compliant", "2026-11-23")


def test_person_edit_is_flagged_not_overwritten(state):
    results = [res("A", "alarm")]
    _simulate_written(state, writeback.plan([target("A")], results, state, today=TODAY, conflict_policy="flag"))
    edited = {"compliance_status": "Compliant", "open_violations": 1, "compliance_changed": "2026-11-23"}
    p = writeback.plan([target("A", **edited)], results, state, today=TODAY, conflict_policy="flag")
    assert [op.op for op in p.ops] == []
    assert [(c.field, c.source_value, c.last_written, c.resolution) for c in p.conflicts] == [
        ("compliance_status", "Compliant", "Non-compliant", "kept source value")]
    p = writeback.plan([target("A", **edited)], results, state, today=TODAY, conflict_policy="hub-wins")
    assert p.ops[0].changes == {"compliance_status": ("Compliant", "Non-compliant")}
    assert p.conflicts[0].resolution == "overwritten"
    p = writeback.plan([target("A", **edited)], results, state, today=TODAY, conflict_policy="source-wins")
    assert p.ops == [] and p.adopted == [("jira", "A-1", "compliance_status", "Compliant")]


def test_comment_text_is_stable_and_excludes_volatile_reasons(state):
    a = [res("A", "alarm")]
    b = [Result(**{**a[0].model_dump(), "reason": "the latest report is 19 days old"})]
    assert writeback.summary_lines("A", "Non-compliant", a) == writeback.summary_lines("A", "Non-compliant", b)


def test_safety_cap_absolute_and_share(state):
    targets = [target(f"P{i}") for i in range(20)]
    results = [res(f"P{i}", "alarm") for i in range(20)]
    p = writeback.plan(targets, results, state, today=TODAY, conflict_policy="flag")
    with pytest.raises(SafetyCapError, match="max_writes = 10"):
        writeback.check_cap(p, state, max_writes=10, max_share=1.0)
    writeback.check_cap(p, state, max_writes=100, max_share=0.1)  # first write-back: share cap not applied
    _simulate_written(state, p)
    flipped = [target(f"P{i}", compliance_status="Non-compliant", open_violations=1, compliance_changed="2026-11-23")
               for i in range(20)]
    p2 = writeback.plan(flipped, [res(f"P{i}", "ok") for i in range(20)], state, today=TODAY, conflict_policy="flag")
    with pytest.raises(SafetyCapError, match="20 of 20 records"):
        writeback.check_cap(p2, state, max_writes=1000, max_share=0.5)
