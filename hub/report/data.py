"""Everything one report needs, and the one place its aggregates are computed.

The lead's run code builds a `ReportData` once after a run and hands it to every renderer
(`hub.report.render`). Renderers never count on their own: they read `ReportData.summary()`, so the HTML
overview, the JSON summary, the XLSX "Summary" sheet, the Markdown digest and the executive text always agree.

    data = ReportData.build(
        run={"id": "2024-06-03T07:00Z", "started": ..., "finished": ..., "systems": ["jira", "sheets"],
             "requests": {"jira": 412}, "writes": 17},
        results=results,                      # list[Result] from the standards engine
        portfolio=portfolio,                  # canonical Portfolio: project names, PMs, phases, reports
        executives={"IT": "CIO", "Finance": "CFO"},
        trend=[TrendPoint(at=..., score=0.81, alarms=120, by_severity={"high": 40, ...}), ...],
        waivers=[{"rule": "STAT-01", "selector": "project:APOL", "justification": "...",
                  "approver": "pmo@example.com", "expiry": date(2024, 7, 1)}],
    )
    s = data.summary()
    s.score            # ok / (ok + alarm), None when nothing was evaluated; waived counted separately

Project RAG is "worst wins" over the project's open alarms: any critical or high alarm -> red, any medium ->
amber, otherwise (low alarms only, or none) green. A RAG given explicitly (`ProjectSummary.rag`, or
`rags=` to `build`) is used as is.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from hub.model import RAG, SEVERITY_RANK, Portfolio, Result

STATUSES: tuple[str, ...] = ("ok", "alarm", "waived", "skip", "error")
SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low")  # worst first
RAG_ORDER: tuple[str, ...] = ("red", "amber", "green")
NONE_LABEL = "(none)"  # bucket for a missing department, PM or phase
NO_LINE = "(no reporting line)"  # executive bucket for a department the config does not map


def family_of(rule: str) -> str:
    """The rule family: the rule id before its first '-' ("STAT-01" -> "STAT")."""
    return rule.split("-", 1)[0]


def rag_from_severities(severities: Iterable[str]) -> RAG:
    """Worst wins: critical/high -> red, medium -> amber, otherwise green."""
    worst = max((SEVERITY_RANK.get(s, 0) for s in severities), default=0)
    if worst >= SEVERITY_RANK["high"]:
        return RAG.RED
    if worst == SEVERITY_RANK["medium"]:
        return RAG.AMBER
    return RAG.GREEN


def score_of(ok: int, alarm: int) -> float | None:
    """Compliance score ok / (ok + alarm); None when no check was evaluated. Waived is not in it."""
    return ok / (ok + alarm) if ok + alarm else None


class ProjectSummary(BaseModel):
    """A project as the report shows it: identity, ownership, lifecycle position and health."""

    model_config = ConfigDict(extra="forbid")
    key: str
    name: str | None = None
    department: str | None = None
    pm: str | None = None  # Person.id
    pm_name: str | None = None  # display name when the portfolio knows it
    sponsor: str | None = None
    sponsor_name: str | None = None
    phase: str | None = None
    state: str = "active"
    url: str | None = None  # the project's primary source record
    rag: RAG | None = None  # computed "worst wins"; None -> summary() computes it
    score: float | None = None  # ok / (ok + alarm) for this project; None -> summary() computes it
    reported_rag: RAG | None = None  # overall RAG of the latest status report

    @property
    def pm_label(self) -> str:
        return self.pm_name or self.pm or NONE_LABEL


class TrendPoint(BaseModel):
    """One past run, for the trend chart."""

    model_config = ConfigDict(extra="forbid")
    at: datetime
    run_id: str | None = None
    score: float | None = None  # 0..1
    alarms: int = 0
    by_severity: dict[str, int] = Field(default_factory=dict)


class ProjectStats(BaseModel):
    """Per-project aggregates (part of `Summary`)."""

    counts: dict[str, int]
    alarms_by_severity: dict[str, int]
    score: float | None
    rag: RAG


class GroupStats(BaseModel):
    """Aggregates over a group of projects (a department or an executive's reporting line)."""

    projects: int
    counts: dict[str, int]
    score: float | None
    rag: dict[str, int]


class Summary(BaseModel):
    """Aggregates of one report; `ReportData.summary()` is the only producer."""

    total: int
    counts: dict[str, int]  # every status, zero included
    score: float | None  # ok / (ok + alarm)
    projects: int
    projects_with_alarms: int
    rag: dict[str, int]  # red / amber / green -> projects
    alarms_by_family: dict[str, int]  # largest first
    alarms_by_severity: dict[str, int]  # critical .. low, zero included
    alarms_by_department: dict[str, int]
    alarms_by_pm: dict[str, int]  # PM display label -> alarms
    alarms_by_phase: dict[str, int]
    status_by_family: dict[str, dict[str, int]]
    by_project: dict[str, ProjectStats]
    by_department: dict[str, GroupStats]  # department (NONE_LABEL when unset), sorted by name
    by_executive: dict[str, GroupStats]  # executive from `executives` (NO_LINE when unmapped), sorted
    rag_reported_vs_computed: dict[str, dict[str, int]]  # reported ("not reported") -> computed -> projects
    waivers_active: int
    waivers_expired: int
    source_failures: int
    data_quality_open: int  # DATA-* alarms and errors


def _desc(counter: Mapping[str, int]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def _to_rag(value: Any) -> RAG | None:
    if value is None or isinstance(value, RAG):
        return value
    try:
        return RAG(str(value).lower())
    except ValueError:
        return None


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


class ReportData(BaseModel):
    """Everything a report needs. Build it with `ReportData.build(...)`; read aggregates from `summary()`.

    `run` keys read by the renderers (all optional): id, started, finished, systems (list of systems pulled),
    source_failures (count or list), requests (dict system -> request count), writes (int or dict).
    `trend` holds past runs, oldest first; `trend_points()` appends this run unless it is already the last.
    `waivers` dicts carry: rule, selector, justification, approver, expiry, expired (bool).
    `data_quality` None means "the DATA-* results" (see `quality_findings()`).
    Mutating `results` or `projects` after the first `summary()` call is not supported (it is cached).
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    run: dict[str, Any] = Field(default_factory=dict)
    results: list[Result] = Field(default_factory=list)
    projects: dict[str, ProjectSummary] = Field(default_factory=dict)
    executives: dict[str, str] = Field(default_factory=dict)
    trend: list[TrendPoint] = Field(default_factory=list)
    waivers: list[dict[str, Any]] = Field(default_factory=list)
    data_quality: list[Result] | None = None
    source_failures: list[dict[str, Any]] = Field(default_factory=list)
    _summary: Summary | None = PrivateAttr(default=None)

    # ------------------------------------------------------------------ construction
    @classmethod
    def build(
        cls,
        *,
        run: Mapping[str, Any],
        results: Iterable[Result],
        portfolio: Portfolio | None = None,
        executives: Mapping[str, str] | None = None,
        trend: Iterable[TrendPoint | Mapping[str, Any]] = (),
        waivers: Iterable[Mapping[str, Any]] = (),
        rags: Mapping[str, RAG | str] | None = None,
        source_failures: Iterable[Mapping[str, Any]] | None = None,
    ) -> ReportData:
        """Build from canonical objects. Projects come from `portfolio` plus any project key a result names.

        `rags` overrides the computed RAG of the projects it names. `source_failures` defaults to the
        portfolio's. A waiver without an `expired` flag is expired when its expiry is before the run started.
        """
        results = list(results)
        rags = dict(rags or {})
        projects: dict[str, ProjectSummary] = {}
        if portfolio is not None:
            people = portfolio.people
            reports = portfolio.reports_by_project
            for key, p in portfolio.projects.items():
                latest = reports.get(key)
                pm = people.get(p.pm) if p.pm else None
                sponsor = people.get(p.sponsor) if p.sponsor else None
                src = p.primary_source
                projects[key] = ProjectSummary(
                    key=key,
                    name=p.name,
                    department=p.department,
                    pm=p.pm,
                    pm_name=pm.name if pm else None,
                    sponsor=p.sponsor,
                    sponsor_name=sponsor.name if sponsor else None,
                    phase=p.phase,
                    state=p.state,
                    url=src.url if src else None,
                    reported_rag=latest[0].overall if latest else None,
                )
        alarms: dict[str, list[str]] = defaultdict(list)
        counts: dict[str, Counter] = defaultdict(Counter)
        for r in results:
            if r.project is None:
                continue
            if r.project not in projects:
                projects[r.project] = ProjectSummary(key=r.project)
            counts[r.project][r.status] += 1
            if r.status == "alarm":
                alarms[r.project].append(r.severity)
        for key, ps in projects.items():
            given = _to_rag(rags.get(key))
            ps.rag = given or rag_from_severities(alarms.get(key, ()))
            c = counts.get(key, Counter())
            ps.score = score_of(c["ok"], c["alarm"])

        if source_failures is None:
            failures = [f.model_dump() for f in portfolio.source_failures] if portfolio is not None else []
        else:
            failures = [dict(f) for f in source_failures]

        run_day = _as_date(run.get("started")) or _as_date(run.get("finished")) or date.today()
        norm_waivers = []
        for w in waivers:
            w = dict(w)
            if "expiry" not in w and "expires" in w:
                w["expiry"] = w.pop("expires")
            if "expired" not in w:
                exp = _as_date(w.get("expiry"))
                w["expired"] = exp is not None and exp < run_day
            norm_waivers.append(w)

        return cls(
            run=dict(run),
            results=results,
            projects=projects,
            executives=dict(executives or {}),
            trend=[t if isinstance(t, TrendPoint) else TrendPoint(**t) for t in trend],
            waivers=norm_waivers,
            source_failures=failures,
        )

    # ------------------------------------------------------------------ derived views
    def quality_findings(self) -> list[Result]:
        """Data-quality findings: `data_quality` if given, else every DATA-* result that is not ok or skip."""
        if self.data_quality is not None:
            return self.data_quality
        return [r for r in self.results if family_of(r.rule) == "DATA" and r.status not in ("ok", "skip")]

    def executive_of(self, department: str | None) -> str:
        return self.executives.get(department or "", NO_LINE)

    def project_of(self, result: Result) -> ProjectSummary | None:
        return self.projects.get(result.project) if result.project else None

    def trend_points(self) -> list[TrendPoint]:
        """Past runs plus this run (unless the last point already is this run), oldest first."""
        s = self.summary()
        points = sorted(self.trend, key=lambda t: t.at)
        run_id = self.run.get("id")
        if points and run_id is not None and points[-1].run_id == str(run_id):
            return points
        at = self.run.get("started") or self.run.get("finished")
        if isinstance(at, str):
            try:
                at = datetime.fromisoformat(at)
            except ValueError:
                at = None
        if not isinstance(at, datetime):
            return points
        sev = {k: v for k, v in s.alarms_by_severity.items()}
        points.append(TrendPoint(at=at, run_id=None if run_id is None else str(run_id), score=s.score,
                                 alarms=s.counts["alarm"], by_severity=sev))
        return points

    # ------------------------------------------------------------------ aggregates
    def summary(self) -> Summary:
        """All aggregates, computed in one pass over the results and cached."""
        if self._summary is not None:
            return self._summary
        projects = self.projects
        counts: Counter = Counter()
        fam_status: dict[str, Counter] = defaultdict(Counter)
        by_sev: Counter = Counter()
        by_dept: Counter = Counter()
        by_pm: Counter = Counter()
        by_phase: Counter = Counter()
        p_counts: dict[str, Counter] = defaultdict(Counter)
        p_sev: dict[str, Counter] = defaultdict(Counter)
        dq_open = 0
        for r in self.results:
            st = r.status
            counts[st] += 1
            fam = family_of(r.rule)
            fam_status[fam][st] += 1
            if fam == "DATA" and st in ("alarm", "error"):
                dq_open += 1
            key = r.project
            if key is not None:
                p_counts[key][st] += 1
            if st != "alarm":
                continue
            by_sev[r.severity] += 1
            p = projects.get(key) if key is not None else None
            if key is not None:
                p_sev[key][r.severity] += 1
            by_dept[(p.department if p else None) or NONE_LABEL] += 1
            by_pm[p.pm_label if p else NONE_LABEL] += 1
            by_phase[(p.phase if p else None) or NONE_LABEL] += 1

        by_project: dict[str, ProjectStats] = {}
        rag_count: Counter = Counter()
        with_alarms = 0
        for key, p in projects.items():
            c = p_counts.get(key, Counter())
            sev = p_sev.get(key, Counter())
            rag = p.rag or rag_from_severities(sev.elements())
            score = p.score if p.score is not None else score_of(c["ok"], c["alarm"])
            by_project[key] = ProjectStats(
                counts={s: c[s] for s in STATUSES},
                alarms_by_severity={s: sev[s] for s in SEVERITIES},
                score=score,
                rag=rag,
            )
            rag_count[rag.value] += 1
            if c["alarm"]:
                with_alarms += 1

        by_department = self._groups(by_project, lambda p: p.department or NONE_LABEL)
        by_executive = self._groups(by_project, lambda p: self.executive_of(p.department))
        reported: dict[str, Counter] = defaultdict(Counter)
        for key, p in projects.items():
            reported[p.reported_rag.value if p.reported_rag else "not reported"][by_project[key].rag.value] += 1

        expired = sum(1 for w in self.waivers if w.get("expired"))
        self._summary = Summary(
            total=len(self.results),
            counts={s: counts[s] for s in STATUSES},
            score=score_of(counts["ok"], counts["alarm"]),
            projects=len(projects),
            projects_with_alarms=with_alarms,
            rag={k: rag_count[k] for k in RAG_ORDER},
            alarms_by_family=_desc({f: c["alarm"] for f, c in fam_status.items() if c["alarm"]}),
            alarms_by_severity={s: by_sev[s] for s in SEVERITIES},
            alarms_by_department=_desc(by_dept),
            alarms_by_pm=_desc(by_pm),
            alarms_by_phase=_desc(by_phase),
            status_by_family={f: {s: c[s] for s in STATUSES} for f, c in sorted(fam_status.items())},
            by_project=by_project,
            by_department=by_department,
            by_executive=by_executive,
            rag_reported_vs_computed={
                k: {r: reported[k][r] for r in RAG_ORDER}
                for k in (*RAG_ORDER, "not reported") if k in reported
            },
            waivers_active=len(self.waivers) - expired,
            waivers_expired=expired,
            source_failures=len(self.source_failures),
            data_quality_open=dq_open,
        )
        return self._summary

    def _groups(self, by_project: dict[str, ProjectStats], group_of) -> dict[str, GroupStats]:
        acc: dict[str, tuple[Counter, Counter, list[int]]] = {}
        for key, p in self.projects.items():
            st = by_project[key]
            counts, rags, n = acc.setdefault(group_of(p), (Counter(), Counter(), [0]))
            counts.update(st.counts)
            rags[st.rag.value] += 1
            n[0] += 1
        return {
            g: GroupStats(projects=n[0], counts={s: counts[s] for s in STATUSES},
                          score=score_of(counts["ok"], counts["alarm"]), rag={r: rags[r] for r in RAG_ORDER})
            for g, (counts, rags, n) in sorted(acc.items(), key=lambda kv: (kv[0] in (NONE_LABEL, NO_LINE), kv[0]))
        }
