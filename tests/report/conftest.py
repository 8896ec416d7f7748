"""Fixtures for the report tests: a small portfolio with every status, hostile text and formula-looking text."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from hub.model import (
    RAG,
    Person,
    Portfolio,
    Project,
    Result,
    SourceFailure,
    SourceRef,
    StatusReport,
)
from hub.report import ReportData, TrendPoint

XSS_IMG = "<img src=x onerror=\"document.title='XSS';window.__xss=1\">"
XSS_SCRIPT = "<script>window.__xss=2</script>"
XSS_BREAKOUT = "</script><script>window.__xss=3</script>"
FORMULA = '=HYPERLINK("http://evil.example/","click")'
NOW = datetime(2024, 6, 3, 7, 0, tzinfo=timezone.utc)


def jira(key: str) -> SourceRef:
    return SourceRef(system="jira", id=key, url=f"https://acme.atlassian.net/browse/{key}")


def sheet_row(n: int) -> SourceRef:
    return SourceRef(system="sheets", id=f"Register!{n}",
                     url=f"https://docs.google.com/spreadsheets/d/abc/edit#gid=0&range=A{n}")


def make_results() -> list[Result]:
    def r(rule, status, sev, project, subject, reason, **kw):
        return Result(rule=rule, status=status, severity=sev, project=project, subject=subject, reason=reason, **kw)

    return [
        r("INIT-01", "alarm", "critical", "APOL", "project:APOL",
          "Work started without an approved initiation request", title="Work started without approval",
          evidence={"in_progress": 4, "initiation": "draft"}, sources=[jira("APOL-1")],
          remediation="Get the initiation request approved by the PMO.", first_seen=NOW),
        r("STAT-01", "alarm", "high", "APOL", "project:APOL", f"Work item {XSS_IMG} blocks the report",
          title="Status report stale", evidence={"summary": XSS_BREAKOUT, "days": 21, "last": date(2024, 5, 13)},
          sources=[jira("APOL-7"), SourceRef(system="m365", id="item-9", url="javascript:alert(1)")],
          remediation="Publish a status report."),
        r("RISK-01", "waived", "high", "APOL", "risk:APOL-12", "Risk without an owner", title="Risk owner",
          sources=[sheet_row(12)], waiver={"rule": "RISK-01", "approver": "pmo@example.com", "expiry": "2024-12-31"}),
        r("GATE-01", "ok", "critical", "APOL", "project:APOL", "Gate G1 approved before Execution",
          title="Gate approval", sources=[jira("APOL-2")]),
        r("STAT-02", "alarm", "medium", "BETA", "project:BETA", FORMULA, title="Status report incomplete",
          evidence={"missing": ["scope", "cost"]}, sources=[sheet_row(3)], remediation="@SUM(A1:A2)"),
        r("STAT-01", "ok", "high", "BETA", "project:BETA", "Status report 3 days old", title="Status report stale",
          sources=[sheet_row(3)]),
        r("VAR-02", "skip", "high", "BETA", "project:BETA", "No baseline yet (Planning)", title="Finish slip"),
        r("RISK-03", "error", "medium", "BETA", "risk:BETA-4", "last_reviewed unreadable: 'soon' in Register!9",
          title="Risk not reviewed", sources=[sheet_row(9)]),
        r("STAT-01", "ok", "high", "GAMA", "project:GAMA", "+1 days since report", title="Status report stale",
          sources=[jira("GAMA-1")]),
        r("INIT-02", "ok", "high", "GAMA", "project:GAMA", "-Sponsor and PM named", title="Sponsor and PM named",
          remediation="\tcheck"),
        r("DATA-01", "alarm", "medium", "XSS", "project:XSS", "Register row has no Jira project #N/A",
          title="Record missing in a source", sources=[sheet_row(20)], evidence={"expected_in": ["jira"]}),
        r("STAT-03", "alarm", "low", "XSS", "project:XSS", XSS_SCRIPT, title="Watermelon",
          sources=[SourceRef(system="jira", id="XSS-1", url="data:text/html,<script>alert(1)</script>")]),
        r("TRAIN-01", "alarm", "high", None, "person:ann@example.com", "Ann's PMO training expired",
          title="PM trained", sources=[SourceRef(system="m365", id="roster-4")]),
    ]


def make_portfolio() -> Portfolio:
    people = {
        "ann@example.com": Person(id="ann@example.com", name="Ann Archer"),
        "bob@example.com": Person(id="bob@example.com", name="Bob <b>Builder</b>"),
    }
    projects = {
        "APOL": Project(key="APOL", name="Apollo CRM", department="IT", pm="ann@example.com", sponsor="cfo@example.com",
                        phase="Execution", sources=[jira("APOL")]),
        "BETA": Project(key="BETA", name="Beta & Co rollout", department="Finance", pm="bob@example.com",
                        phase="Planning", sources=[sheet_row(3)]),
        "GAMA": Project(key="GAMA", name="Gamma", department="HR", pm="ann@example.com", phase="Closing",
                        sources=[jira("GAMA")]),
        "XSS": Project(key="XSS", name=f"Evil {XSS_IMG}", department=f"Dept {XSS_SCRIPT}", pm="eve@example.com",
                       phase="Initiation", sources=[SourceRef(system="jira", id="XSS", url="javascript:alert(1)")]),
    }
    reports = [StatusReport(key="SR-1", project_key="APOL", report_date=date(2024, 5, 13), overall=RAG.GREEN)]
    return Portfolio(as_of=NOW, projects=projects, people=people, status_reports=reports,
                     source_failures=[SourceFailure(system="m365", message="HTTP 503 <from> Graph", at=NOW)],
                     systems=["jira", "sheets"])


def make_data() -> ReportData:
    return ReportData.build(
        run={"id": "run-42", "name": "ACME <PMO>", "started": NOW, "finished": NOW.replace(minute=4),
             "systems": ["jira", "sheets"], "requests": {"jira": 12, "sheets": 3}, "writes": 2},
        results=make_results(),
        portfolio=make_portfolio(),
        executives={"IT": "CIO", "Finance": "CFO"},
        trend=[TrendPoint(at=datetime(2024, 5, 20, 7, tzinfo=timezone.utc), run_id="run-40", score=0.5, alarms=8,
                          by_severity={"critical": 2, "high": 3, "medium": 2, "low": 1}),
               TrendPoint(at=datetime(2024, 5, 27, 7, tzinfo=timezone.utc), run_id="run-41", score=0.6, alarms=7,
                          by_severity={"critical": 1, "high": 3, "medium": 2, "low": 1})],
        waivers=[
            {"rule": "RISK-01", "selector": "risk:APOL-12", "justification": "Owner hired in July",
             "approver": "pmo@example.com", "expiry": date(2024, 12, 31)},
            {"rule": "STAT-01", "selector": "project:GAMA", "justification": f"Closing {XSS_IMG}",
             "approver": "pmo@example.com", "expiry": date(2024, 5, 1)},
        ],
    )


@pytest.fixture
def data() -> ReportData:
    return make_data()
