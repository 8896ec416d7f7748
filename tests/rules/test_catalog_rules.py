"""Every catalog rule: a compliant case, a non-compliant case and, where its input can be malformed, an error
case naming the place of the bad value. Each case changes one thing in the compliant portfolio
(`builders.good_portfolio`) and evaluates one rule.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Callable

import pytest

from hub.model import RAG, Action, Approval, GateCondition, GateDecision, PhaseChange, Portfolio, SourceRef
from hub.model import SourceFailure, TrainingRecord, Unmatched, ValueChange, WorkItem

from .builders import CATALOG, COURSE, TODAY, find, good_portfolio, run_rule, upd

BAD = "jira APOL customfield_10042: 'n/a' is not a value"  # what a connector records in `invalid`


def P(pf: Portfolio):
    return pf.projects["APOL"]


def bad(obj: Any, field: str) -> None:
    obj.invalid[field] = BAD


def add_item(pf: Portfolio, key: str, **kw: Any) -> WorkItem:
    item = WorkItem(key=key, project_key="APOL", sources=[SourceRef(system="jira", id=key)], **kw)
    pf.work_items.append(item)
    return item


def fail(system: str) -> Callable[[Portfolio], None]:
    def go(pf: Portfolio) -> None:
        pf.source_failures.append(SourceFailure(system=system, message="HTTP 503", at=datetime(2025, 6, 2, 6)))
    return go


def training(pf: Portfolio, **kw: Any) -> None:
    pf.people["ann@example.com"].trainings = [TrainingRecord(course=COURSE, **kw)]


def report(pf: Portfolio, key: str = "APOL-S1"):
    return find(pf.status_reports, key)


def gate(pf: Portfolio, name: str):
    return P(pf).gate(name)


def g2_pending(pf: Portfolio, **kw: Any) -> GateDecision:
    g = GateDecision(gate="G2", decision="pending", **kw)
    P(pf).gates.append(g)
    return g


def noop(pf: Portfolio) -> None:
    pass


# (rule, case, change, subject, status, severity or None = the rule's)
CASES: list[tuple[str, str, Callable[[Portfolio], Any], str, str, str | None]] = [
    # INIT
    ("INIT-01", "approved", noop, "project:APOL", "ok", None),
    ("INIT-01", "nothing started", lambda pf: (upd(P(pf), initiation=None, actual_cost=0.0),
                                               [upd(i, status_category="todo") for i in pf.work_items]),
     "project:APOL", "ok", None),
    ("INIT-01", "submitted only", lambda pf: upd(P(pf).initiation, status="submitted"), "project:APOL", "alarm", None),
    ("INIT-01", "no request, cost only", lambda pf: (upd(P(pf), initiation=None),
                                                    [upd(i, status_category="todo") for i in pf.work_items]),
     "project:APOL", "alarm", None),
    ("INIT-01", "status unreadable", lambda pf: bad(P(pf).initiation, "status"), "project:APOL", "error", None),
    ("INIT-02", "named", noop, "project:APOL", "ok", None),
    ("INIT-02", "no sponsor", lambda pf: upd(P(pf), sponsor=None), "project:APOL", "alarm", None),
    ("INIT-02", "sponsor unreadable", lambda pf: bad(P(pf), "sponsor"), "project:APOL", "error", None),
    ("INIT-03", "complete", noop, "project:APOL", "ok", None),
    ("INIT-03", "no department", lambda pf: upd(P(pf), department=""), "project:APOL", "alarm", None),
    ("INIT-03", "start unreadable", lambda pf: bad(P(pf), "planned_start"), "project:APOL", "error", None),
    ("INIT-04", "decided", noop, "project:APOL", "skip", None),
    ("INIT-04", "waiting 5 days", lambda pf: upd(P(pf).initiation, status="submitted", submitted_on=date(2025, 5, 26)),
     "project:APOL", "ok", None),
    ("INIT-04", "waiting 22 days", lambda pf: upd(P(pf).initiation, status="submitted", submitted_on=date(2025, 5, 1)),
     "project:APOL", "alarm", None),
    ("INIT-04", "date unreadable", lambda pf: (upd(P(pf).initiation, status="submitted", submitted_on=None),
                                              bad(P(pf).initiation, "submitted_on")), "project:APOL", "error", None),
    # TRAIN
    ("TRAIN-01", "valid", noop, "person:ann@example.com", "ok", None),
    ("TRAIN-01", "expired", lambda pf: training(pf, completed_on=date(2023, 1, 10)), "person:ann@example.com",
     "alarm", None),
    ("TRAIN-01", "not on roster", lambda pf: pf.people.clear(), "person:ann@example.com", "alarm", None),
    ("TRAIN-01", "in initiation", lambda pf: upd(P(pf), phase="Initiation"), "person:ann@example.com", "skip", None),
    ("TRAIN-01", "date unreadable", lambda pf: (training(pf, completed_on=None),
                                               bad(pf.people["ann@example.com"].trainings[0], "completed_on")),
     "person:ann@example.com", "error", None),
    ("TRAIN-02", "valid long", noop, "person:ann@example.com", "ok", None),
    ("TRAIN-02", "expires in 18 days", lambda pf: training(pf, completed_on=date(2023, 6, 20)),
     "person:ann@example.com", "alarm", None),
    ("TRAIN-02", "expiry unreadable", lambda pf: (training(pf, completed_on=date(2024, 1, 1)),
                                                 bad(pf.people["ann@example.com"].trainings[0], "expires_on")),
     "person:ann@example.com", "error", None),
    # STAT
    ("STAT-01", "3 days", noop, "project:APOL", "ok", None),
    ("STAT-01", "10 days: low", lambda pf: upd(report(pf), report_date=date(2025, 5, 23)), "project:APOL", "alarm",
     "low"),
    ("STAT-01", "20 days: high", lambda pf: upd(report(pf), report_date=date(2025, 5, 13)), "project:APOL", "alarm",
     "high"),
    ("STAT-01", "no report", lambda pf: pf.status_reports.clear(), "project:APOL", "alarm", "high"),
    ("STAT-01", "newest date unreadable", lambda pf: (upd(report(pf), report_date=None), bad(report(pf), "report_date"),
                                                      upd(report(pf, "APOL-S2"), report_date=date(2025, 5, 1))),
     "project:APOL", "error", None),
    ("STAT-02", "complete", noop, "status_report:APOL-S1", "ok", None),
    ("STAT-02", "no scope RAG", lambda pf: upd(report(pf), scope=None), "status_report:APOL-S1", "alarm", None),
    ("STAT-02", "blank summary", lambda pf: upd(report(pf), summary="  "), "status_report:APOL-S1", "alarm", None),
    ("STAT-02", "RAG unreadable", lambda pf: (upd(report(pf), overall=None), bad(report(pf), "overall")),
     "status_report:APOL-S1", "error", None),
    ("STAT-03", "green and green", noop, "project:APOL", "ok", None),
    ("STAT-03", "green but milestone 32 days late",
     lambda pf: upd(find(pf.milestones, "APOL-M2"), planned=date(2025, 5, 1)), "project:APOL", "alarm", None),
    ("STAT-03", "amber honest", lambda pf: (upd(find(pf.milestones, "APOL-M2"), planned=date(2025, 5, 25)),
                                           upd(report(pf), overall=RAG.AMBER)), "project:APOL", "ok", None),
    ("STAT-03", "forecast unreadable", lambda pf: bad(P(pf), "forecast_cost"), "project:APOL", "error", None),
    ("STAT-04", "green", noop, "status_report:APOL-S1", "skip", None),
    ("STAT-04", "amber with plan", lambda pf: upd(
        report(pf), overall=RAG.AMBER, summary="Vendor slipped two weeks; recovering by parallel testing.",
        actions=[Action(text="Add testers", owner="ann", due=date(2025, 6, 9))]),
     "status_report:APOL-S1", "ok", None),
    ("STAT-04", "red without plan", lambda pf: upd(report(pf), overall=RAG.RED, summary="", actions=[]),
     "status_report:APOL-S1", "alarm", None),
    ("STAT-04", "summary unreadable", lambda pf: (upd(report(pf), overall=RAG.RED), bad(report(pf), "summary")),
     "status_report:APOL-S1", "error", None),
    ("STAT-05", "green", noop, "project:APOL", "ok", None),
    ("STAT-05", "red twice", lambda pf: [upd(r, overall=RAG.RED) for r in pf.status_reports], "project:APOL",
     "alarm", None),
    ("STAT-05", "previous unreadable", lambda pf: bad(report(pf, "APOL-S2"), "overall"), "project:APOL", "error", None),
    # APPR
    ("APPR-01", "within", noop, "project:APOL", "ok", None),
    ("APPR-01", "forecast over", lambda pf: upd(P(pf), forecast_cost=120_000.0), "project:APOL", "alarm", None),
    ("APPR-01", "covered by CR", lambda pf: (upd(P(pf), forecast_cost=120_000.0), pf.approvals.append(
        Approval(key="APOL-CR1", project_key="APOL", kind="change_request", status="approved", amount=25_000.0,
                 decided_on=date(2025, 5, 2)))), "project:APOL", "ok", None),
    ("APPR-01", "actual unreadable", lambda pf: bad(P(pf), "actual_cost"), "project:APOL", "error", None),
    ("APPR-02", "as approved", noop, "project:APOL", "ok", None),
    ("APPR-02", "too many", lambda pf: upd(P(pf), fte_assigned=6.5), "project:APOL", "alarm", None),
    ("APPR-02", "assigned unreadable", lambda pf: bad(P(pf), "fte_assigned"), "project:APOL", "error", None),
    ("APPR-03", "3 business days", noop, "approval:APOL-B1", "ok", None),
    ("APPR-03", "22 business days", lambda pf: upd(pf.approvals[0], requested_on=date(2025, 5, 1)), "approval:APOL-B1",
     "alarm", None),
    ("APPR-03", "decided", lambda pf: upd(pf.approvals[0], status="approved"), "approval:APOL-B1", "skip", None),
    ("APPR-03", "date unreadable", lambda pf: (upd(pf.approvals[0], requested_on=None),
                                              bad(pf.approvals[0], "requested_on")), "approval:APOL-B1", "error", None),
    ("APPR-04", "change with CR", lambda pf: (P(pf).value_history.append(ValueChange(
        field="budget_approved", at=datetime(2025, 5, 3), before="90000", after="100000")), pf.approvals.append(
        Approval(key="APOL-CR1", project_key="APOL", kind="change_request", status="approved",
                 decided_on=date(2025, 5, 2)))), "project:APOL", "ok", None),
    ("APPR-04", "change without CR", lambda pf: P(pf).value_history.append(ValueChange(
        field="baseline.finish", at=datetime(2025, 5, 3), before="2025-11-30", after="2025-12-31")),
     "project:APOL", "alarm", None),
    ("APPR-04", "history unreadable", lambda pf: bad(P(pf), "value_history"), "project:APOL", "error", None),
    # RISK
    ("RISK-01", "owned", noop, "risk:APOL-R1", "ok", None),
    ("RISK-01", "no owner", lambda pf: upd(pf.raid[0], owner=None), "risk:APOL-R1", "alarm", None),
    ("RISK-01", "not significant", lambda pf: upd(pf.raid[0], owner=None, impact=2), "risk:APOL-R1", "skip", None),
    ("RISK-01", "severity only", lambda pf: upd(pf.raid[0], owner=None, probability=None, severity="High"),
     "risk:APOL-R1", "alarm", None),
    ("RISK-01", "impact unreadable", lambda pf: (upd(pf.raid[0], impact=None), bad(pf.raid[0], "impact")),
     "risk:APOL-R1", "error", None),
    ("RISK-02", "response due", noop, "risk:APOL-R1", "ok", None),
    ("RISK-02", "no response", lambda pf: upd(pf.raid[0], response=None), "risk:APOL-R1", "alarm", None),
    ("RISK-02", "due unreadable", lambda pf: (upd(pf.raid[0], due=None), bad(pf.raid[0], "due")), "risk:APOL-R1",
     "error", None),
    ("RISK-03", "reviewed 13 days ago", noop, "risk:APOL-R1", "ok", None),
    ("RISK-03", "reviewed 62 days ago", lambda pf: upd(pf.raid[0], last_reviewed=date(2025, 4, 1)), "risk:APOL-R1",
     "alarm", None),
    ("RISK-03", "closed", lambda pf: upd(pf.raid[0], status="closed", last_reviewed=date(2025, 1, 1)),
     "risk:APOL-R1", "skip", None),
    ("RISK-03", "review unreadable", lambda pf: bad(pf.raid[0], "last_reviewed"), "risk:APOL-R1", "error", None),
    ("RISK-04", "not critical", noop, "risk:APOL-R1", "skip", None),
    ("RISK-04", "critical escalated", lambda pf: upd(pf.raid[0], probability=5, impact=5, escalated=True,
                                                    escalated_on=date(2025, 5, 2)), "risk:APOL-R1", "ok", None),
    ("RISK-04", "critical not escalated", lambda pf: upd(pf.raid[0], probability=5, impact=5), "risk:APOL-R1",
     "alarm", None),
    ("RISK-04", "probability unreadable", lambda pf: (upd(pf.raid[0], probability=None),
                                                     bad(pf.raid[0], "probability")), "risk:APOL-R1", "error", None),
    ("RISK-05", "due later", noop, "action:APOL-A1", "ok", None),
    ("RISK-05", "3 days overdue", lambda pf: upd(pf.raid[1], due=date(2025, 5, 30)), "action:APOL-A1", "alarm",
     "medium"),
    ("RISK-05", "32 days overdue", lambda pf: upd(pf.raid[1], due=date(2025, 5, 1)), "action:APOL-A1", "alarm",
     "high"),
    ("RISK-05", "due unreadable", lambda pf: (upd(pf.raid[1], due=None), bad(pf.raid[1], "due")), "action:APOL-A1",
     "error", None),
    ("RISK-06", "blocker logged", lambda pf: (add_item(pf, "APOL-3", priority="Blocker", created=datetime(2025, 5, 1)),
                                             upd(pf.raid[0], linked_item="APOL-3")), "work_item:APOL-3", "ok", None),
    ("RISK-06", "blocker 2 days old", lambda pf: add_item(pf, "APOL-3", priority="Blocker",
                                                          created=datetime(2025, 5, 31)),
     "work_item:APOL-3", "ok", None),
    ("RISK-06", "blocker not logged", lambda pf: add_item(pf, "APOL-3", priority="blocker",
                                                          created=datetime(2025, 5, 1)), "work_item:APOL-3", "alarm",
     None),
    ("RISK-06", "created unreadable", lambda pf: bad(add_item(pf, "APOL-3", priority="Blocker"), "created"),
     "work_item:APOL-3", "error", None),
    # GATE
    ("GATE-01", "G0 and G1 approved", noop, "project:APOL", "ok", None),
    ("GATE-01", "G1 conditional", lambda pf: upd(gate(pf, "G1"), decision="conditional"), "project:APOL", "ok", None),
    ("GATE-01", "G1 pending", lambda pf: upd(gate(pf, "G1"), decision="pending"), "project:APOL", "alarm", None),
    ("GATE-01", "closed without G2", lambda pf: upd(P(pf), state="closed", phase="Closing"), "project:APOL", "alarm",
     None),
    ("GATE-01", "phase unreadable", lambda pf: (upd(P(pf), phase=None), bad(P(pf), "phase")), "project:APOL", "error",
     None),
    ("GATE-01", "phase unknown", lambda pf: upd(P(pf), phase="Build"), "project:APOL", "error", None),
    ("GATE-02", "complete", noop, "gate:APOL:G1", "ok", None),
    ("GATE-02", "no approver", lambda pf: upd(gate(pf, "G1"), approver=None), "gate:APOL:G1", "alarm", None),
    ("GATE-02", "decision unreadable", lambda pf: bad(gate(pf, "G1"), "decision"), "gate:APOL:G1", "error", None),
    ("GATE-03", "planned later", lambda pf: g2_pending(pf, planned_on=date(2025, 7, 1)), "gate:APOL:G2", "ok", None),
    ("GATE-03", "planned a month ago", lambda pf: g2_pending(pf, planned_on=date(2025, 5, 1)), "gate:APOL:G2",
     "alarm", None),
    ("GATE-03", "date unreadable", lambda pf: bad(g2_pending(pf), "planned_on"), "gate:APOL:G2", "error", None),
    ("GATE-04", "conditions met", lambda pf: upd(gate(pf, "G1"), decision="conditional", conditions=[
        GateCondition(text="Risk plan", due=date(2025, 4, 1), done=True)]), "gate:APOL:G1", "ok", None),
    ("GATE-04", "condition overdue", lambda pf: upd(gate(pf, "G1"), decision="conditional", conditions=[
        GateCondition(text="Risk plan", due=date(2025, 4, 1))]), "gate:APOL:G1", "alarm", None),
    ("GATE-04", "conditions unreadable", lambda pf: (upd(gate(pf, "G1"), decision="conditional"),
                                                    bad(gate(pf, "G1"), "conditions")), "gate:APOL:G1", "error", None),
    ("GATE-05", "in order", noop, "project:APOL", "ok", None),
    ("GATE-05", "skipped with decision", lambda pf: upd(P(pf), phase_history=[
        PhaseChange(at=datetime(2025, 3, 2), from_phase="Initiation", to_phase="Execution")]), "project:APOL", "ok",
     None),
    ("GATE-05", "skipped planning", lambda pf: upd(P(pf), phase_history=[
        PhaseChange(at=datetime(2025, 5, 1), from_phase="Initiation", to_phase="Execution")]), "project:APOL",
     "alarm", None),
    ("GATE-05", "backwards", lambda pf: P(pf).phase_history.append(
        PhaseChange(at=datetime(2025, 5, 10), from_phase="Execution", to_phase="Planning")), "project:APOL", "alarm",
     None),
    ("GATE-05", "history unreadable", lambda pf: bad(P(pf), "phase_history"), "project:APOL", "error", None),
    # VAR
    ("VAR-01", "baseline set", noop, "project:APOL", "ok", None),
    ("VAR-01", "no baseline", lambda pf: upd(P(pf), baseline=None), "project:APOL", "alarm", None),
    ("VAR-01", "in planning", lambda pf: upd(P(pf), phase="Planning", baseline=None), "project:APOL", "skip", None),
    ("VAR-01", "finish unreadable", lambda pf: bad(P(pf), "baseline.finish"), "project:APOL", "error", None),
    ("VAR-02", "on time", noop, "project:APOL", "ok", None),
    ("VAR-02", "6% late: low", lambda pf: upd(P(pf), forecast_finish=date(2026, 1, 20)), "project:APOL", "alarm",
     "low"),
    ("VAR-02", "15% late: high", lambda pf: upd(P(pf), forecast_finish=date(2026, 2, 20)), "project:APOL", "alarm",
     "high"),
    ("VAR-02", "forecast unreadable", lambda pf: bad(P(pf), "forecast_finish"), "project:APOL", "error", None),
    ("VAR-03", "on budget", noop, "project:APOL", "ok", None),
    ("VAR-03", "7% over: low", lambda pf: upd(P(pf), forecast_cost=107_000.0), "project:APOL", "alarm", "low"),
    ("VAR-03", "15% over: high", lambda pf: upd(P(pf), forecast_cost=115_000.0), "project:APOL", "alarm", "high"),
    ("VAR-03", "budget unreadable", lambda pf: bad(P(pf), "budget_approved"), "project:APOL", "error", None),
    ("VAR-04", "planned later", noop, "milestone:APOL-M2", "ok", None),
    ("VAR-04", "32 days late", lambda pf: upd(pf.milestones[1], planned=date(2025, 5, 1)), "milestone:APOL-M2",
     "alarm", None),
    ("VAR-04", "planned unreadable", lambda pf: bad(pf.milestones[1], "planned"), "milestone:APOL-M2", "error", None),
    # DATA
    ("DATA-01", "matched", noop, "project:APOL", "ok", None),
    ("DATA-01", "only in the register", lambda pf: pf.unmatched.append(Unmatched(
        system="sheets", key="APOL", expected_in=["jira"], source=SourceRef(system="sheets", id="register!7"))),
     "project:APOL", "alarm", None),
    ("DATA-01", "register pull failed", fail("sheets"), "project:APOL", "error", None),
    ("DATA-02", "agree", lambda pf: P(pf).provenance.update(budget_approved=[]), "project:APOL", "ok", None),
    ("DATA-02", "budget differs", lambda pf: (
        P(pf).observe("budget_approved", 100000, SourceRef(system="jira", id="APOL"), in_use=True),
        P(pf).observe("budget_approved", "120,000", SourceRef(system="sheets", id="register!7"))),
     "project:APOL", "alarm", None),
    ("DATA-02", "same value, other spelling", lambda pf: (
        P(pf).observe("name", "Apollo CRM", SourceRef(system="jira", id="APOL")),
        P(pf).observe("name", " apollo crm", SourceRef(system="sheets", id="register!7"))),
     "project:APOL", "ok", None),
    ("DATA-02", "jira pull failed", fail("jira"), "project:APOL", "error", None),
]


def test_every_catalog_rule_has_ok_alarm_and_error_cases():
    have = {(rule, status) for rule, _, _, _, status, _ in CASES}
    for rule_id in CATALOG.ids():
        for status in ("ok", "alarm", "error"):
            assert (rule_id, status) in have, f"{rule_id} has no {status} case"


@pytest.mark.parametrize("rule_id,case,change,subject,status,severity", CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_rule_case(rule_id, case, change, subject, status, severity):
    pf = good_portfolio()
    change(pf)
    results = {r.subject: r for r in run_rule(rule_id, pf)}
    assert subject in results, f"no result for {subject}: {list(results)}"
    r = results[subject]
    assert (r.status, r.reason) and r.status == status, r.reason
    assert r.rule == rule_id and r.project == "APOL"
    assert r.reason.endswith(".") and r.title and r.remediation and r.audience
    if status == "alarm":
        assert r.severity == (severity or CATALOG.get(rule_id).spec.severity)
        assert r.sources, "an alarm must point at the records it used"
    if "unreadable" in case:
        assert BAD in r.reason, "the error must name the place of the unreadable value"


def test_data_02_alarm_shows_both_values_and_sources(pf):
    P(pf).observe("budget_approved", 100000, SourceRef(system="jira", id="APOL"), in_use=True)
    P(pf).observe("budget_approved", 120000, SourceRef(system="sheets", id="register!7"))
    (r,) = run_rule("DATA-02", pf)
    assert "jira 100000" in r.reason and "sheets 120000" in r.reason
    assert {s.system for s in r.sources} == {"jira", "sheets"}
    assert r.evidence["disagreements"]["budget_approved"][1] == {"value": 120000, "system": "sheets",
                                                                  "id": "register!7"}


def test_data_01_unmatched_record_of_unknown_project_is_reported_once(pf):
    pf.unmatched.append(Unmatched(system="sheets", key="ZEUS", expected_in=["jira"],
                                  source=SourceRef(system="sheets", id="register!9")))
    results = run_rule("DATA-01", pf)
    zeus = [r for r in results if r.subject == "project:ZEUS"]
    assert [(r.status, r.project) for r in zeus] == [("alarm", "ZEUS")]
    assert "in sheets but not in jira" in zeus[0].reason


def test_closed_project_is_skipped_by_most_rules(pf):
    upd(P(pf), state="closed")
    from hub.rules import evaluate
    from hub.rules.settings import StandardsSettings

    results = evaluate(pf, CATALOG, StandardsSettings(), today=TODAY)
    evaluated = {r.rule for r in results if r.status != "skip"}
    assert evaluated == {"GATE-01", "GATE-05", "DATA-01"}  # closure gate, phase history, data quality
    assert all(r.reason for r in results if r.status == "skip")
