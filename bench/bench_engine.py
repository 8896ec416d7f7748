"""Benchmark of the standards engine: the full default catalog over a large synthetic portfolio.

    python bench/bench_engine.py [--projects 2000] [--items 100000] [--runs 5]

Builds the portfolio with `model_construct` (no validation, as a merged pull would hand it over), then times
`hub.rules.evaluate` over several runs and prints the median, the first (cold) run, which also builds the
portfolio's per-project indexes, and results (rule x subject evaluations) per second. Target: under 2 s.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import date, datetime, timedelta

from hub.model import (
    RAG,
    Action,
    Approval,
    Baseline,
    GateCondition,
    GateDecision,
    InitiationRequest,
    Milestone,
    Observed,
    Person,
    PhaseChange,
    Portfolio,
    Project,
    RaidEntry,
    SourceRef,
    StatusReport,
    TrainingRecord,
    ValueChange,
    WorkItem,
)
from hub.rules import evaluate, load_default_rules
from hub.rules.settings import StandardsSettings

TODAY = date(2025, 6, 2)
PHASES = ["Initiation", "Planning", "Execution", "Closing"]


def _src(system: str, key: str) -> list[SourceRef]:
    return [SourceRef.model_construct(system=system, id=key, url=f"https://{system}.example.com/{key}")]


def build_portfolio(n_projects: int = 2000, n_items: int = 100_000, seed: int = 7) -> Portfolio:
    rnd = random.Random(seed)
    d = lambda days: TODAY + timedelta(days=days)  # noqa: E731
    people = {}
    for i in range(300):
        pid = f"pm{i}@example.com"
        done = d(-rnd.randint(30, 900))
        people[pid] = Person.model_construct(
            id=pid, name=f"PM {i}", email=pid, sources=_src("sheets", f"roster!{i}"),
            trainings=[TrainingRecord.model_construct(course="PMO Project Management Standards", completed_on=done,
                                                      sources=_src("sheets", f"roster!{i}"))],
        )
    projects, items, milestones, raid, reports, approvals = {}, [], [], [], [], []
    per_project = max(1, n_items // n_projects)
    for n in range(n_projects):
        key = f"P{n:04d}"
        phase_i = rnd.randrange(4)
        budget = rnd.randint(50, 500) * 1000.0
        start = d(-rnd.randint(60, 400))
        finish = start + timedelta(days=rnd.randint(120, 500))
        gates = [
            GateDecision.model_construct(
                gate=g, decision=rnd.choice(["approved", "approved", "conditional", "pending"]),
                approver=rnd.choice([None, "pmo@example.com"]), decided_on=d(-rnd.randint(1, 200)),
                planned_on=d(rnd.randint(-30, 60)),
                conditions=[GateCondition.model_construct(text="update plan", due=d(-5), done=False)],
                sources=_src("jira", f"{key}-G{j}"),
            )
            for j, g in enumerate(["G0", "G1", "G2"][: phase_i + 1])
        ]
        projects[key] = Project.model_construct(
            key=key, name=f"Project {n}", department=rnd.choice(["IT", "Finance", "Ops", None]),
            pm=f"pm{rnd.randrange(320)}@example.com", sponsor=rnd.choice(["cfo@example.com", None]),
            phase=PHASES[phase_i], state=rnd.choice(["active"] * 8 + ["on_hold", "closed"]), tags=["capex"],
            initiation=InitiationRequest.model_construct(
                status=rnd.choice(["approved"] * 5 + ["submitted", "draft"]), submitted_on=d(-rnd.randint(1, 40)),
                sources=_src("sheets", f"intake!{key}")),
            gates=gates, budget_approved=budget, actual_cost=budget * rnd.random(),
            forecast_cost=budget * rnd.uniform(0.8, 1.3), fte_approved=5.0, fte_assigned=rnd.choice([4.0, 5.0, 6.5]),
            planned_start=start, planned_finish=finish, forecast_finish=finish + timedelta(days=rnd.randint(-10, 60)),
            baseline=Baseline.model_construct(start=start, finish=finish, cost=budget) if phase_i >= 2 else None,
            phase_history=[PhaseChange.model_construct(at=datetime(2025, 1, 5), from_phase="Initiation",
                                                       to_phase=PHASES[phase_i], by=None)],
            value_history=[ValueChange.model_construct(field="budget_approved", at=datetime(2025, 3, 1),
                                                       before="100000", after=str(budget), by=None)],
            provenance={"name": [Observed.model_construct(value=f"Project {n}", source=_src("jira", key)[0]),
                                 Observed.model_construct(value=f"project {n}", source=_src("sheets", key)[0])]},
            sources=_src("jira", key) + _src("sheets", f"register!{key}"),
        )
        for i in range(per_project):
            items.append(WorkItem.model_construct(
                key=f"{key}-{i}", project_key=key, summary="work", status="x",
                status_category=rnd.choice(["todo", "in_progress", "done"]),
                priority="Blocker" if rnd.random() < 0.02 else "Medium",
                created=datetime(2025, 5, rnd.randint(1, 31)), sources=_src("jira", f"{key}-{i}")))
        for i in range(3):
            milestones.append(Milestone.model_construct(
                key=f"{key}-M{i}", project_key=key, name=f"M{i}", planned=d(rnd.randint(-60, 90)),
                done_on=rnd.choice([None, d(-3)]), sources=_src("jira", f"{key}-M{i}")))
        for i in range(5):
            raid.append(RaidEntry.model_construct(
                key=f"{key}-R{i}", project_key=key, kind=rnd.choice(["risk", "risk", "issue", "action"]),
                probability=rnd.randint(1, 5), impact=rnd.randint(1, 5), owner=rnd.choice([None, "a@example.com"]),
                response=rnd.choice([None, "mitigate"]), due=d(rnd.randint(-30, 30)), status="open",
                raised_on=d(-rnd.randint(1, 90)), last_reviewed=d(-rnd.randint(1, 60)),
                linked_item=f"{key}-{rnd.randrange(per_project)}", sources=_src("jira", f"{key}-R{i}")))
        for i in range(4):
            reports.append(StatusReport.model_construct(
                key=f"{key}-S{i}", project_key=key, report_date=d(-7 * i - rnd.randint(0, 10)),
                overall=rnd.choice(list(RAG)), schedule=RAG.GREEN, cost=RAG.AMBER, scope=RAG.GREEN,
                summary="On track with minor delays in vendor delivery.",
                actions=[Action.model_construct(text="chase vendor", owner="x", due=d(7))],
                sources=_src("m365", f"{key}-S{i}")))
        for i in range(2):
            approvals.append(Approval.model_construct(
                key=f"{key}-A{i}", project_key=key, kind=rnd.choice(["budget", "resource", "change_request"]),
                status=rnd.choice(["pending", "approved"]), requested_on=d(-rnd.randint(1, 30)),
                decided_on=d(-rnd.randint(1, 10)), amount=10000.0, sources=_src("m365", f"{key}-A{i}")))
    return Portfolio.model_construct(
        as_of=datetime(2025, 6, 2, 6, 0), projects=projects, work_items=items, milestones=milestones, raid=raid,
        status_reports=reports, approvals=approvals, people=people, source_failures=[], unmatched=[],
        systems=["jira", "sheets", "m365"],
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--projects", type=int, default=2000)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    t0 = time.perf_counter()
    portfolio = build_portfolio(args.projects, args.items)
    built = time.perf_counter() - t0
    ruleset, settings = load_default_rules(), StandardsSettings()
    times, cpu, n = [], [], 0
    for _ in range(args.runs):
        t0, c0 = time.perf_counter(), time.process_time()
        results = evaluate(portfolio, ruleset, settings, today=TODAY)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        n = len(results)
    med, med_cpu = statistics.median(times), statistics.median(cpu)
    print(f"portfolio: {len(portfolio.projects)} projects, {len(portfolio.work_items)} work items, "
          f"{len(portfolio.raid)} RAID entries, {len(portfolio.status_reports)} reports (built in {built:.1f} s)")
    print(f"rules: {len(ruleset)}; results per run: {n}")
    print(f"evaluate: median {med:.3f} s wall, {med_cpu:.3f} s CPU over {args.runs} runs "
          f"(first run, with index build: {times[0]:.3f} s); {n / med:,.0f} results/s")


if __name__ == "__main__":
    main()
