"""ReportData: building from canonical objects and the aggregates every format reads."""

from __future__ import annotations

from datetime import datetime, timezone

from hub.model import RAG, Result
from hub.report import ReportData
from hub.report.data import NO_LINE, NONE_LABEL, family_of, rag_from_severities
from tests.report.conftest import make_portfolio, make_results


def test_family_and_worst_wins():
    assert family_of("STAT-01") == "STAT"
    assert family_of("X") == "X"
    assert rag_from_severities([]) is RAG.GREEN
    assert rag_from_severities(["low"]) is RAG.GREEN
    assert rag_from_severities(["low", "medium"]) is RAG.AMBER
    assert rag_from_severities(["medium", "high"]) is RAG.RED
    assert rag_from_severities(["critical"]) is RAG.RED


def test_summary_counts_and_score(data):
    s = data.summary()
    assert s.total == 13
    assert s.counts == {"ok": 4, "alarm": 6, "waived": 1, "skip": 1, "error": 1}
    assert s.score == 4 / 10  # ok / (ok + alarm); waived is not ok
    assert s.alarms_by_severity == {"critical": 1, "high": 2, "medium": 2, "low": 1}
    assert s.alarms_by_family == {"STAT": 3, "DATA": 1, "INIT": 1, "TRAIN": 1}
    assert s.alarms_by_department["IT"] == 2
    assert s.alarms_by_department[NONE_LABEL] == 1  # the person-level TRAIN result
    assert s.alarms_by_pm["Ann Archer"] == 2
    assert s.alarms_by_phase == {"Execution": 2, "Initiation": 2, NONE_LABEL: 1, "Planning": 1}
    assert s.status_by_family["STAT"] == {"ok": 2, "alarm": 3, "waived": 0, "skip": 0, "error": 0}
    assert s is data.summary()  # cached: one computation for every format


def test_project_rag_score_and_groups(data):
    s = data.summary()
    assert {k: p.rag.value for k, p in s.by_project.items()} == {
        "APOL": "red", "BETA": "amber", "GAMA": "green", "XSS": "amber"}
    assert s.rag == {"red": 1, "amber": 2, "green": 1}
    assert s.by_project["APOL"].score == 1 / 3
    assert s.by_project["GAMA"].counts["ok"] == 2
    assert data.projects["APOL"].reported_rag is RAG.GREEN
    assert data.projects["BETA"].pm_name == "Bob <b>Builder</b>"
    assert s.rag_reported_vs_computed["green"] == {"red": 1, "amber": 0, "green": 0}
    assert list(s.by_executive) == ["CFO", "CIO", NO_LINE]
    assert s.by_executive[NO_LINE].projects == 2
    assert s.by_department["Finance"].counts["error"] == 1
    assert s.projects_with_alarms == 3


def test_rag_override_and_unknown_project():
    results = make_results() + [Result(rule="STAT-01", status="alarm", severity="low", project="NEW",
                                       subject="project:NEW", reason="x")]
    d = ReportData.build(run={"id": 1}, results=results, portfolio=make_portfolio(), rags={"GAMA": "red"})
    assert d.projects["GAMA"].rag is RAG.RED
    assert d.summary().by_project["GAMA"].rag is RAG.RED
    assert d.projects["NEW"].name is None and d.projects["NEW"].rag is RAG.GREEN


def test_summary_computes_rag_when_not_given():
    d = ReportData(results=make_results(), projects={"APOL": {"key": "APOL"}})
    assert d.summary().by_project["APOL"].rag is RAG.RED


def test_waivers_expired_flag(data):
    flags = {w["rule"]: w["expired"] for w in data.waivers}
    assert flags == {"RISK-01": False, "STAT-01": True}
    s = data.summary()
    assert (s.waivers_active, s.waivers_expired) == (1, 1)


def test_quality_findings_and_failures(data):
    assert [r.rule for r in data.quality_findings()] == ["DATA-01"]
    assert data.summary().data_quality_open == 1
    assert data.source_failures[0]["system"] == "m365"
    assert data.summary().source_failures == 1


def test_trend_points_append_this_run(data):
    pts = data.trend_points()
    assert [p.run_id for p in pts] == ["run-40", "run-41", "run-42"]
    assert pts[-1].score == data.summary().score and pts[-1].alarms == 6
    same = data.model_copy(update={"trend": pts})
    assert len(same.trend_points()) == 3  # not appended twice


def test_empty_report():
    d = ReportData.build(run={"id": "empty", "started": datetime(2024, 1, 1, tzinfo=timezone.utc)}, results=[])
    s = d.summary()
    assert s.score is None and s.total == 0 and s.projects == 0
