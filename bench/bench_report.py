"""Benchmark the report renderers on a synthetic portfolio (default: 2,000 projects, 60,000 results).

    /work/venv/bin/python bench/bench_report.py [--projects 2000] [--results 60000] [--runs 3]
                                                [--alarm-share 0.15] [--formats html,csv,json,xlsx,md]

Builds the inputs with `model_construct` (no validation, as a run's results already are), then for each format
`--runs` times builds a fresh `ReportData` and renders it into a temporary directory, and prints the median
time (build + render) and the file size. The target is
under 10 s per format and an HTML file under 15 MB. `--alarm-share 1` gives the worst case for the HTML size
(every result is an open finding rendered in full in its project's section).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hub.model import RAG, Person, Portfolio, Project, Result, SourceRef, StatusReport
from hub.report import ReportData, render
from hub.report.data import TrendPoint

RULES = [
    ("INIT-01", "Work started without approved initiation", "critical"),
    ("INIT-02", "Sponsor and PM named", "high"), ("INIT-03", "Project profile complete", "medium"),
    ("INIT-04", "Initiation decision overdue", "medium"), ("TRAIN-01", "PM trained", "high"),
    ("TRAIN-02", "PM training expires soon", "low"), ("STAT-01", "Status report stale", "high"),
    ("STAT-02", "Status report incomplete", "medium"), ("STAT-03", "Watermelon RAG", "high"),
    ("STAT-04", "Red/amber without recovery", "medium"), ("STAT-05", "Red in consecutive reports", "high"),
    ("APPR-01", "Spend above approved budget", "critical"), ("APPR-02", "More people than approved", "high"),
    ("APPR-03", "Approval pending too long", "medium"), ("APPR-04", "Baseline changed without CR", "high"),
    ("RISK-01", "Significant risk without owner", "high"), ("RISK-02", "Risk without response", "high"),
    ("RISK-03", "Risk not reviewed", "medium"), ("RISK-04", "Critical risk not escalated", "high"),
    ("RISK-05", "RAID action overdue", "medium"), ("RISK-06", "Blocker not in RAID log", "medium"),
    ("GATE-01", "Phase entered without gate approval", "critical"), ("GATE-02", "Gate decision incomplete", "high"),
    ("GATE-03", "Gate review overdue", "medium"), ("GATE-04", "Gate conditions overdue", "medium"),
    ("GATE-05", "Phase skipped", "high"), ("VAR-01", "No baseline in execution", "high"),
    ("VAR-02", "Finish slips against baseline", "high"), ("VAR-03", "Forecast cost over budget", "high"),
    ("VAR-04", "Milestone overdue", "high"), ("DATA-01", "Record missing in a source", "medium"),
    ("DATA-02", "Sources disagree", "medium"),
]
DEPTS = ["IT", "Finance", "Operations", "HR", "Engineering", "Marketing", "Legal", "Sales", "Procurement", "R&D"]
EXECS = {"IT": "CIO", "Engineering": "CTO", "R&D": "CTO", "Finance": "CFO", "Procurement": "CFO",
         "Operations": "COO", "HR": "COO", "Legal": "CEO", "Marketing": "CEO", "Sales": "CEO"}
PHASES = ["Initiation", "Planning", "Execution", "Closing"]


def synthetic(n_projects: int = 2000, n_results: int = 60000, alarm_share: float = 0.15,
              seed: int = 7) -> dict[str, Any]:
    """`ReportData.build` arguments: `n_projects` projects, `n_results` results spread evenly over them."""
    rnd = random.Random(seed)
    now = datetime(2024, 6, 3, 7, 0, tzinfo=timezone.utc)
    keys = [f"P{i:04d}" for i in range(n_projects)]
    people = {f"pm{i}@example.com": Person.model_construct(id=f"pm{i}@example.com", name=f"PM Number {i}")
              for i in range(250)}
    projects = {
        k: Project.model_construct(
            key=k, name=f"Project {k} modernisation programme", department=rnd.choice(DEPTS),
            pm=f"pm{rnd.randrange(250)}@example.com", sponsor="sponsor@example.com", phase=rnd.choice(PHASES),
            state="active", sources=[SourceRef.model_construct(
                system="jira", id=k, url=f"https://acme.atlassian.net/projects/{k}")])
        for k in keys
    }
    reports = [StatusReport.model_construct(key=f"SR-{k}", project_key=k, report_date=now.date(),
                                            overall=rnd.choice([RAG.GREEN, RAG.AMBER, RAG.RED]))
               for k in keys if rnd.random() < 0.8]
    portfolio = Portfolio.model_construct(as_of=now, projects=projects, people=people, status_reports=reports,
                                          source_failures=[], systems=["jira", "sheets", "m365"])
    rest = 1 - alarm_share
    weights = [0.78 * rest, alarm_share, 0.03 * rest, 0.15 * rest, 0.04 * rest]
    results = []
    per = max(1, n_results // n_projects)
    for i in range(n_results):
        k = keys[(i // per) % n_projects]
        rule, title, sev = RULES[i % len(RULES)]
        status = rnd.choices(["ok", "alarm", "waived", "skip", "error"], weights)[0]
        n = rnd.randrange(1, 300)
        src = [SourceRef.model_construct(system="jira", id=f"{k}-{n}", url=f"https://acme.atlassian.net/browse/{k}-{n}")]
        if i % 3 == 0:
            src.append(SourceRef.model_construct(
                system="sheets", id=f"Register!{n + 1}",
                url=f"https://docs.google.com/spreadsheets/d/1AbCdEfGhIjKlMnOp/edit#gid=0&range=A{n + 1}"))
        results.append(Result.model_construct(
            rule=rule, status=status, severity=sev, project=k, subject=f"project:{k}" if i % 2 else f"risk:{k}-{n}",
            reason=f"{title}: last update {rnd.randrange(1, 60)} days ago, limit 14 days ({k}-{n})",
            evidence={"days": rnd.randrange(60), "limit": 14, "last": "2024-05-01"},
            sources=src, title=title, remediation=f"Fix {rule}: update the record and tell the PMO.",
            audience=[], waiver={"approver": "pmo@example.com", "expiry": "2024-09-30"} if status == "waived" else None,
            first_seen=now - timedelta(days=rnd.randrange(90)), escalated=False))
    trend = [TrendPoint(at=now - timedelta(days=7 * (12 - w)), run_id=f"run-{w}", score=0.7 + 0.01 * w,
                        alarms=9000 - 100 * w, by_severity={"critical": 500, "high": 4000, "medium": 3000, "low": 1500})
             for w in range(12)]
    waivers = [{"rule": "STAT-01", "selector": f"project:P{i:04d}", "justification": "Reporting paused",
                "approver": "pmo@example.com", "expiry": "2024-09-30", "expired": i % 4 == 0} for i in range(40)]
    return dict(
        run={"id": "bench", "started": now, "finished": now + timedelta(minutes=4),
             "systems": ["jira", "sheets", "m365"], "requests": {"jira": 5000, "sheets": 40, "m365": 900},
             "writes": 120},
        results=results, portfolio=portfolio, executives=EXECS, trend=trend, waivers=waivers,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--projects", type=int, default=2000)
    ap.add_argument("--results", type=int, default=60000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--alarm-share", type=float, default=0.15)
    ap.add_argument("--formats", default="html,csv,json,xlsx,md")
    ap.add_argument("--keep", type=Path, help="also write the last rendering of each format here")
    a = ap.parse_args(argv)

    t0 = time.perf_counter()
    inputs = synthetic(a.projects, a.results, a.alarm_share)
    t_gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    data = ReportData.build(**inputs)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    s = data.summary()
    t_sum = time.perf_counter() - t0
    print(f"data: {a.projects} projects, {len(data.results)} results (alarm share {a.alarm_share}); generated in "
          f"{t_gen:.2f}s; ReportData.build {t_build:.2f}s, summary() {t_sum:.3f}s; counts {s.counts}")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in a.formats.split(","):
            times = []
            for _ in range(a.runs):
                out = Path(tmp) / f"report.{fmt}"
                t0 = time.perf_counter()
                data = ReportData.build(**inputs)  # fresh: each run pays for the aggregates too
                render(fmt, data, out)
                times.append(time.perf_counter() - t0)
            size = out.stat().st_size
            med = statistics.median(times)
            flag = ""
            if med >= 10 or (fmt == "html" and size >= 15 * 1024 * 1024):
                flag, ok = "  OVER BUDGET", False
            print(f"{fmt:5s} median {med:6.2f}s (runs: {', '.join(f'{t:.2f}' for t in times)})  "
                  f"size {size / 1024 / 1024:6.2f} MB{flag}")
            if a.keep:
                a.keep.mkdir(parents=True, exist_ok=True)
                (a.keep / out.name).write_bytes(out.read_bytes())
        times = []
        for _ in range(a.runs):
            t0 = time.perf_counter()
            data = ReportData.build(**inputs)
            for fmt in a.formats.split(","):
                render(fmt, data, Path(tmp) / f"all.{fmt}")
            times.append(time.perf_counter() - t0)
        print(f"all   median {statistics.median(times):6.2f}s for every format from one ReportData "
              f"(runs: {', '.join(f'{t:.2f}' for t in times)})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
