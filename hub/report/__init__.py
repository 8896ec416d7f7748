"""Report renderers: HTML, CSV, JSON, XLSX and Markdown from one run's results.

    from hub.report import ReportData, render, pm_digests, executive_summary

    data = ReportData.build(run=run_info, results=results, portfolio=portfolio, executives=cfg_executives,
                            trend=past_runs, waivers=waivers)
    render("html", data, Path("out/report.html"))        # also "json", "csv", "xlsx", "md"
    for pm, text in pm_digests(data).items(): ...         # Markdown per PM: their projects' open violations
    executive_summary(data)                               # a few plain-text lines for mail or Teams

All formats read their aggregates from `ReportData.summary()`, so they agree with each other.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from hub.errors import ConfigError
from hub.files import private_dir, private_file
from hub.report.data import NONE_LABEL, SEVERITIES, ProjectSummary, ReportData, Summary, TrendPoint
from hub.report.html import render_html
from hub.report.tabular import (
    md,
    md_link,
    open_violations,
    pct,
    render_csv,
    render_json,
    render_md,
    render_xlsx,
    violation_line,
)

__all__ = ["FORMATS", "ProjectSummary", "ReportData", "Summary", "TrendPoint", "executive_summary",
           "pm_digests", "render"]

FORMATS: tuple[str, ...] = ("html", "json", "csv", "xlsx", "md")
_RENDERERS: dict[str, Callable[[ReportData, Path], Path]] = {
    "html": render_html,
    "json": render_json,
    "csv": render_csv,
    "xlsx": render_xlsx,
    "md": render_md,
}


def render(fmt: str, data: ReportData, out: Path) -> Path:
    """Write `data` as `fmt` to the file `out` (parents created) and return its path.

    If `out` is an existing directory the file is `out / "report.<fmt>"`. An unknown format raises ConfigError.
    """
    renderer = _RENDERERS.get(fmt)
    if renderer is None:
        raise ConfigError(f"unknown report format {fmt!r}. Valid values are: {list(FORMATS)}")
    out = Path(out)
    if out.is_dir():
        out = out / f"report.{fmt}"
    # owner-only (project data, people's e-mails): a writer that opens the path keeps the mode; one that
    # replaces the file (xlsx) is tightened after
    private_dir(out.parent)
    private_file(out)
    written = renderer(data, out)
    private_file(written)
    return written


def pm_digests(data: ReportData) -> dict[str, str]:
    """Per PM (Person.id), a Markdown digest of the open violations (alarms) of the projects they manage.

    Every PM of a project in the report gets one, "no open violations" included; projects without a PM are
    in no digest. Source text is Markdown-escaped.
    """
    s = data.summary()
    viol = open_violations(data)
    by_pm: dict[str, list[ProjectSummary]] = defaultdict(list)
    for p in data.projects.values():
        if p.pm:
            by_pm[p.pm].append(p)
    run_id = data.run.get("id")
    out: dict[str, str] = {}
    for pm, projects in sorted(by_pm.items()):
        projects.sort(key=lambda p: p.key)
        total = sum(len(viol.get(p.key, ())) for p in projects)
        name = projects[0].pm_name or pm
        lines = [f"## PMO compliance: open violations for {md(name)}" + (f" (run {md(run_id)})" if run_id else ""),
                 "", f"You manage {len(projects)} project(s) with {total} open violation(s)."]
        for p in projects:
            st = s.by_project[p.key]
            items = viol.get(p.key, [])
            title = md_link(md(p.key) + (f" {md(p.name)}" if p.name else ""), p.url)
            lines += ["", f"### {title} — {st.rag.value.upper()}, score {pct(st.score)}"]
            if not items:
                lines.append("No open violations.")
            for r in items:
                lines.append(violation_line(r))
                if r.remediation:
                    lines.append(f"  Fix: {md(r.remediation)}")
            if st.counts["error"]:
                lines.append(f"- {st.counts['error']} check(s) could not be evaluated (data unreadable): "
                             "see the full report.")
        out[pm] = "\n".join(lines) + "\n"
    return out


def _line(text: object) -> str:
    """Source text for the summary: one line, Markdown/HTML punctuation escaped (Teams renders Markdown)."""
    return md(text)


def executive_summary(data: ReportData) -> str:
    """A few lines for a mail or a Teams message: score, RAG, worst areas, trend, expired waivers, failures.

    Plain text that is also safe Markdown: source text (department names, systems) is Markdown-escaped.
    """
    s = data.summary()
    c = s.counts
    run_id = data.run.get("id")
    lines = [f"PMO compliance {pct(s.score)}" + (f" (run {_line(run_id)})" if run_id is not None else "") + "."]
    lines.append(f"{s.projects} projects: {s.rag['red']} red, {s.rag['amber']} amber, {s.rag['green']} green. "
                 f"{s.total} checks: {c['ok']} ok, {c['alarm']} alarm, {c['waived']} waived, {c['skip']} skipped, "
                 f"{c['error']} error.")
    if c["alarm"]:
        lines.append("Alarms by severity: " + ", ".join(f"{k} {s.alarms_by_severity[k]}" for k in SEVERITIES) + ".")
        fam = list(s.alarms_by_family.items())[:3]
        lines.append("Most alarms in: " + ", ".join(f"{_line(k)} {v}" for k, v in fam) + ".")
        worst = [(d, g) for d, g in s.by_department.items() if g.counts["alarm"]]
        worst.sort(key=lambda dg: (-dg[1].rag["red"], -dg[1].counts["alarm"], dg[0]))
        if worst:
            lines.append("Departments with most red projects: " + "; ".join(
                f"{_line(d)} ({_line(data.executive_of(None if d == NONE_LABEL else d).strip('()'))}): "
                f"{g.rag['red']} red, {g.counts['alarm']} alarms" for d, g in worst[:3]) + ".")
    pts = data.trend_points()
    if len(pts) >= 2 and pts[-1].score is not None and pts[-2].score is not None:
        delta = (pts[-1].score - pts[-2].score) * 100
        word = "up" if delta > 0.05 else "down" if delta < -0.05 else "unchanged"
        lines.append(f"Trend: {word} {abs(delta):.1f} points since the previous run ({pct(pts[-2].score)})."
                     if word != "unchanged" else f"Trend: unchanged since the previous run ({pct(pts[-2].score)}).")
    if s.waivers_expired:
        lines.append(f"Expired waivers: {s.waivers_expired} (their alarms are open again).")
    if data.source_failures:
        fails = sorted({_line(f.get("system", "?")) for f in data.source_failures})
        lines.append(f"Source failures: {', '.join(fails)}; checks needing them are errors, not ok.")
    return "\n".join(lines)
