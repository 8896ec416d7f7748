"""Compliance scores, worst-wins RAG, and STAT-03 agreeing with the computed health the report shows."""

from __future__ import annotations

from datetime import date

import pytest

from hub.model import RAG, RaidEntry, Result
from hub.rules import evaluate, portfolio_health, project_health, rule_compliance
from hub.rules.health import HealthThresholds, computed_health, rag_from_alarms
from hub.rules.settings import StandardsSettings

from .builders import CATALOG, TODAY, good_portfolio, upd


def res(status: str, severity: str = "high", project: str | None = "APOL", rule: str = "X-01", **kw) -> Result:
    return Result(rule=rule, status=status, severity=severity, project=project, subject=f"project:{project}",
                  reason="r.", **kw)


@pytest.mark.parametrize("severities,rag", [
    ([], RAG.GREEN), (["low"], RAG.GREEN), (["low", "medium"], RAG.AMBER), (["medium", "high"], RAG.RED),
    (["critical"], RAG.RED),
])
def test_worst_wins(severities, rag):
    assert rag_from_alarms(severities) == rag


def test_project_health_counts_and_score():
    results = [res("ok"), res("ok"), res("ok"), res("alarm", "medium"), res("alarm", "low"), res("waived", "critical"),
               res("skip"), res("error"), res("ok", project="BETA"), res("skip", project="GAMMA")]
    h = project_health(results)
    apol = h["APOL"]
    assert (apol.ok, apol.alarm, apol.waived, apol.skip, apol.error) == (3, 2, 1, 1, 1)
    assert apol.score == 0.6  # 3 ok of 5 applicable; waived, skip and error left out
    assert apol.rag == RAG.AMBER and apol.worst == "medium" and apol.warnings == 1  # the waived critical is ignored
    assert h["BETA"].rag == RAG.GREEN and h["BETA"].score == 1.0
    assert h["GAMMA"].rag is None and h["GAMMA"].score is None  # nothing applicable: unknown, not green
    total = portfolio_health(results)
    assert total.projects == 3 and total.ok == 4 and total.score == round(4 / 6, 4)
    assert total.rag == {"red": 0, "amber": 1, "green": 1, "unknown": 1}
    assert rule_compliance(results)["X-01"].alarm == 2


def test_low_alarms_only_is_green_with_warnings():
    h = project_health([res("ok"), res("alarm", "low")])["APOL"]
    assert h.rag == RAG.GREEN and h.warnings == 1


def test_stat03_and_health_use_the_same_computed_health():
    pf = good_portfolio()
    upd(pf.milestones[1], planned=date(2025, 5, 1))  # Go-live 32 days overdue -> computed red
    results = evaluate(pf, CATALOG, StandardsSettings(), today=TODAY)
    (stat03,) = [r for r in results if r.rule == "STAT-03"]
    assert stat03.status == "alarm" and "says green but the data says red" in stat03.reason
    direct = computed_health(pf.projects["APOL"], pf.milestones, pf.raid, TODAY, HealthThresholds())
    h = project_health(results)["APOL"]
    assert h.computed == direct.rag == RAG.RED and h.reported == RAG.GREEN
    assert h.rag == RAG.RED  # VAR-04 (high) and STAT-03 (high) alarms


@pytest.mark.parametrize("change,rag,driver", [
    (lambda pf: None, RAG.GREEN, None),
    (lambda pf: upd(pf.milestones[1], planned=date(2025, 5, 25)), RAG.AMBER, "milestone APOL-M2 8 days overdue"),
    (lambda pf: upd(pf.projects["APOL"], forecast_cost=107_000.0), RAG.AMBER, "cost variance 7.0%"),
    (lambda pf: upd(pf.projects["APOL"], forecast_finish=date(2026, 2, 20)), RAG.RED, "schedule slip"),
    (lambda pf: pf.raid.append(RaidEntry(key="APOL-R9", project_key="APOL", probability=5, impact=4)), RAG.RED,
     "critical risk APOL-R9 open"),
    (lambda pf: pf.raid.append(RaidEntry(key="APOL-R9", project_key="APOL", severity="Critical")), RAG.RED,
     "critical risk APOL-R9 open"),
])
def test_computed_health_drivers(change, rag, driver):
    pf = good_portfolio()
    change(pf)
    h = computed_health(pf.projects["APOL"], pf.milestones, pf.raid, TODAY, HealthThresholds())
    assert h.rag == rag
    if driver:
        assert any(d.startswith(driver) for d in h.drivers), h.drivers


def test_computed_health_unreadable_input():
    pf = good_portfolio()
    pf.milestones[1].invalid["planned"] = "jira APOL-M2 duedate: '2025-13-01'"
    h = computed_health(pf.projects["APOL"], pf.milestones, pf.raid, TODAY, HealthThresholds())
    assert h.rag is None and h.unreadable == "planned of milestone APOL-M2 is unreadable (jira APOL-M2 duedate: " \
                                             "'2025-13-01')"
