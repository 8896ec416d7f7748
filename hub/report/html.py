"""The HTML report: one self-contained file a PMO can mail, archive or open offline.

Self-contained means no network fetch at all: CSS and JS are inline, charts are SVG drawn here in Python, and
a Content-Security-Policy (`default-src 'none'`, the one inline script allowed by its SHA-256 hash) makes the
browser refuse any fetch, and any other script, even if something slipped through. The only URLs are links to
source records (a Jira issue, a sheet row, a list item), and only http(s) ones: anything else is dropped.

Escaping: every piece of source text written into markup or an attribute passes through `esc`
(html.escape, quotes included); nothing else writes source text. Result rows are not markup at all: they are
embedded once, as JSON, gzip-compressed and base64-encoded inside `<script type="application/octet-stream">`
(base64 cannot contain `<`, so nothing can close the element), and the JS draws them with `textContent`
only, never `innerHTML`, and makes links only of http(s) URLs. `script_json` is the helper for any JSON
embedded uncompressed (`<`, `>`, `&` written as \\u003c, \\u003e, \\u0026).

Size and speed: 60,000 results are about 12 MB of JSON but 2 MB compressed, so the file stays small whatever
the share of alarms. The server renders what needs no per-result markup: header, overview and trend charts,
the reporting-line tables, one collapsed <details> per project (RAG, score, counts, owners, record link),
waiver definitions, source failures and the rule list. The JS unpacks the data with the browser's
DecompressionStream (Chrome 80, Firefox 113, Safari 16.4 and later) and draws the results table, each
project's results when it is opened, the waived results and the data-quality findings. Evidence longer than
`EVIDENCE_MAX` characters is cut in the HTML; the JSON/CSV/XLSX exports hold all of it.

Sections (ids): overview, trend, lines (executive -> department -> projects), projects (one <details> per
project), results (filterable, sortable table), waivers, quality, sources, rules.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
from collections import Counter, defaultdict
from datetime import date, datetime
from pathlib import Path
from typing import Any

from hub.model import Result
from hub.report.data import NO_LINE, NONE_LABEL, SEVERITIES, STATUSES, ReportData, family_of
from hub.report.tabular import is_http_url, pct, to_json

EVIDENCE_MAX = 2000
BAR_LIMIT = 12  # categories per bar chart; the rest are summed into "n more"
STATUS_COLORS = {"ok": "#2e7d32", "alarm": "#c62828", "waived": "#6a4fb3", "skip": "#8a8f98", "error": "#8d4a00"}
SEV_COLORS = {"critical": "#7f0000", "high": "#d32f2f", "medium": "#ef8f00", "low": "#c9a800"}
RAG_COLORS = {"red": "#c62828", "amber": "#ef8f00", "green": "#2e7d32"}
BAR_COLOR = "#3f6fb5"
TABLE_ORDER = {"alarm": 0, "error": 1, "waived": 2, "ok": 3, "skip": 4}  # open findings first


# --------------------------------------------------------------------------------------------- escaping helpers
def esc(value: Any) -> str:
    """The single escaping helper: any value as text safe in element content and quoted attributes."""
    if value is None:
        return ""
    if isinstance(value, (datetime, date)):
        value = value.isoformat()
    return html.escape(str(value), quote=True)


def script_json(value: Any) -> str:
    """JSON safe inside a <script> element: `<`, `>`, `&` escaped so nothing can close or open a tag."""
    return to_json(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def link(label: str, url: str | None, *, cls: str = "") -> str:
    """`<a>` to an http(s) URL (label is already-escaped markup); any other URL is dropped, the label kept."""
    c = f' class="{cls}"' if cls else ""
    if not is_http_url(url):
        return f"<span{c}>{label}</span>" if cls else label
    return f'<a{c} href="{esc(url.strip())}" target="_blank" rel="noopener noreferrer">{label}</a>'


def fmt_time(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M") + (f" {value.tzname()}" if value.tzinfo else "")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return fmt_time(datetime.fromisoformat(value))
        except ValueError:
            return value
    return "" if value is None else str(value)


def fmt_evidence(evidence: dict[str, Any]) -> str:
    """Evidence as one line of `key: value` pairs (nested values as compact JSON), cut at EVIDENCE_MAX."""
    if not evidence:
        return ""
    parts = []
    for k, v in evidence.items():
        if isinstance(v, (dict, list, tuple, set)):
            v = to_json(v)
        elif isinstance(v, (datetime, date)):
            v = v.isoformat()
        parts.append(f"{k}: {v}")
    s = "; ".join(parts)
    return s if len(s) <= EVIDENCE_MAX else s[:EVIDENCE_MAX] + " … (cut; the JSON/CSV export has all of it)"


def chip(kind: str, value: str | None, label: str | None = None) -> str:
    v = value or "none"
    return f'<span class="c {kind}-{esc(v)}">{esc(label if label is not None else v)}</span>'


def anchor_ids(keys: list[str]) -> dict[str, str]:
    """Element ids for projects, built from positions so no source text ever reaches an id."""
    return {k: f"p{i}" for i, k in enumerate(keys)}


# --------------------------------------------------------------------------------------------- SVG charts
def _trunc(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def bar_chart(title: str, items: list[tuple[str, int, str]], *, limit: int = BAR_LIMIT, width: int = 430,
              unit: str = "", more: str = "alarms") -> str:
    """Horizontal bars: (label, value, colour). Beyond `limit` items the rest is one "n more" note."""
    shown = items[:limit]
    rest = items[limit:]
    label_w, row_h, bar_w = 150, 22, width - 150 - 60
    h = max(1, len(shown)) * row_h + 6
    top = max((v for _, v, _ in shown), default=0) or 1
    out = [f'<figure class="chart"><figcaption>{esc(title)}</figcaption>',
           f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {h}" width="{width}" height="{h}" '
           f'role="img" aria-label="{esc(title)}">']
    if not shown:
        out.append('<text x="4" y="16" class="muted">none</text>')
    for i, (label, value, color) in enumerate(shown):
        y = i * row_h + 3
        w = 0 if value <= 0 else max(2, round(bar_w * value / top))
        out.append(f'<g><title>{esc(label)}: {value}</title>'
                   f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{esc(_trunc(label, 20))}</text>'
                   f'<rect x="{label_w}" y="{y + 2}" width="{w}" height="{row_h - 6}" rx="2" fill="{color}"/>'
                   f'<text x="{label_w + w + 5}" y="{y + 14}" class="v">{value}{unit}</text></g>')
    out.append("</svg>")
    if rest:
        out.append(f'<p class="muted small">… and {len(rest)} more ({sum(v for _, v, _ in rest)} {more}); '
                   "the JSON and XLSX summaries list all.</p>")
    out.append("</figure>")
    return "".join(out)


def stacked_bar(title: str, items: list[tuple[str, int, str]], *, width: int = 430) -> str:
    """One 100% stacked bar with a legend: the RAG distribution, the status mix."""
    total = sum(v for _, v, _ in items) or 1
    out = [f'<figure class="chart"><figcaption>{esc(title)}</figcaption>',
           f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} 26" width="{width}" height="26" '
           f'role="img" aria-label="{esc(title)}">']
    x = 0.0
    for label, value, color in items:
        w = width * value / total
        if w > 0:
            out.append(f'<rect x="{x:.1f}" y="2" width="{w:.1f}" height="24" fill="{color}">'
                       f'<title>{esc(label)}: {value} ({value / total:.0%})</title></rect>')
        x += w
    out.append('</svg><div class="legend">')
    for label, value, color in items:
        out.append(f'<span><svg width="10" height="10" aria-hidden="true"><rect width="10" height="10" '
                   f'fill="{color}"/></svg> {esc(label)} {value}</span>')
    out.append("</div></figure>")
    return "".join(out)


def line_chart(title: str, xs: list[str], series: list[tuple[str, list[float | None], str]], *,
               percent: bool = False, width: int = 860, height: int = 230) -> str:
    """Lines over runs (x evenly spaced by run). `percent` fixes the y axis at 0..100%."""
    ml, mr, mt, mb = 48, 48, 12, 46
    pw, ph = width - ml - mr, height - mt - mb
    vals = [v for _, ys, _ in series for v in ys if v is not None]
    top = 1.0 if percent else max(vals + [1])
    n = len(xs)

    def px(i: int) -> float:
        return ml + (pw / 2 if n == 1 else pw * i / (n - 1))

    def py(v: float) -> float:
        return mt + ph - ph * v / top

    out = [f'<figure class="chart wide"><figcaption>{esc(title)}</figcaption>',
           f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" aria-label="{esc(title)}">']
    for k in range(5):
        v = top * k / 4
        y = py(v)
        lab = f"{v:.0%}" if percent else f"{v:.0f}"
        out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                   f'<text x="{ml - 6}" y="{y + 4:.1f}" text-anchor="end" class="muted">{lab}</text>')
    step = -(-n // max(1, pw // 90))  # at most one label per 90 px
    for i, x in enumerate(xs):
        if i % step == 0 or i == n - 1:
            out.append(f'<text x="{px(i):.1f}" y="{mt + ph + 16}" text-anchor="middle" class="muted">{esc(x)}</text>')
    for name, ys, color in series:
        pts = [(px(i), py(v), v, i) for i, v in enumerate(ys) if v is not None]
        if len(pts) > 1:
            d = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in pts)
            out.append(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, y, v, i in pts:
            lab = f"{v:.1%}" if percent else f"{v:g}"
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{color}">'
                       f'<title>{esc(name)} {esc(xs[i])}: {lab}</title></circle>')
    lx = ml
    for name, _, color in series:
        out.append(f'<rect x="{lx}" y="{height - 9}" width="10" height="3" fill="{color}"/>'
                   f'<text x="{lx + 14}" y="{height - 3}" class="small">{esc(name)}</text>')
        lx += 24 + 7 * len(name)
    out.append("</svg></figure>")
    return "".join(out)


# --------------------------------------------------------------------------------------------- the page
class _Page:
    """Precomputed lookups shared by the sections of one rendering."""

    def __init__(self, data: ReportData):
        self.data = data
        self.s = data.summary()
        self.keys = sorted(data.projects)
        self.anchor = anchor_ids(self.keys)
        self.counts_orphans = 0
        titles: dict[str, str] = {}
        remediations: dict[str, Counter] = defaultdict(Counter)
        for r in data.results:
            if r.project not in data.projects:
                self.counts_orphans += 1
            if r.title and r.rule not in titles:
                titles[r.rule] = r.title
            if r.remediation:
                remediations[r.rule][r.remediation] += 1
        self.rule_ids = sorted({r.rule for r in data.results})
        self.rule_title = titles
        self.rule_fix = {k: c.most_common(1)[0][0] for k, c in remediations.items()}

    def project_link(self, key: str | None) -> str:
        if key is None:
            return ""
        a = self.anchor.get(key)
        return f'<a href="#{a}">{esc(key)}</a>' if a else esc(key)


def _head(p: _Page, script: str) -> str:
    run_id = p.data.run.get("id")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    csp = (f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; img-src data:; "
           "base-uri 'none'; form-action 'none'")
    title = "PMO compliance report" + (f" — run {run_id}" if run_id is not None else "")
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">'
            '<meta name="referrer" content="no-referrer">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="icon" href="data:,">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>")


def _header(p: _Page) -> str:
    run, s = p.data.run, p.s
    meta = []
    if run.get("id") is not None:
        meta.append(f"Run <b>{esc(run['id'])}</b>")
    if run.get("started"):
        meta.append(f"started {esc(fmt_time(run['started']))}")
    if run.get("finished"):
        meta.append(f"finished {esc(fmt_time(run['finished']))}")
    systems = run.get("systems") or []
    if systems:
        meta.append("systems " + esc(", ".join(map(str, systems))))
    fail = ""
    if p.data.source_failures:
        names = sorted({str(f.get("system", "?")) for f in p.data.source_failures})
        fail = (f'<p class="alert">Source failure: {esc(", ".join(names))} could not be read; checks that need '
                'them are <b>error</b>, not ok. See <a href="#sources">Sources</a>.</p>')
    name = f" — {esc(run['name'])}" if run.get("name") else ""
    score = pct(s.score)
    cls = "good" if (s.score or 0) >= 0.9 else "warn" if (s.score or 0) >= 0.75 else "bad"
    return (f'<header><div class="score {cls}" title="ok / (ok + alarm); waived counted separately">'
            f'<span>{score}</span><small>compliance</small></div><div><h1>PMO compliance report{name}</h1>'
            f'<p>{" · ".join(meta)}</p>{fail}</div></header>'
            '<nav><a href="#overview">Overview</a><a href="#trend">Trend</a><a href="#lines">Reporting lines</a>'
            '<a href="#projects">Projects</a><a href="#results">All results</a><a href="#waivers">Waivers</a>'
            '<a href="#quality">Data quality</a><a href="#sources">Sources</a><a href="#rules">Rules</a></nav>')


def _overview(p: _Page) -> str:
    s = p.s
    tiles = [f'<div class="tile"><b>{s.projects}</b>projects</div>',
             f'<div class="tile"><b>{s.total}</b>checks</div>']
    for st in STATUSES:
        tiles.append(f'<div class="tile t-{st}"><b>{s.counts[st]}</b>{st}</div>')
    tiles.append(f'<div class="tile"><b>{s.waivers_expired}</b>expired waivers</div>')
    charts = [
        stacked_bar("Results by status", [(st, s.counts[st], STATUS_COLORS[st]) for st in STATUSES]),
        stacked_bar("Projects by computed RAG", [(k, s.rag[k], RAG_COLORS[k]) for k in ("red", "amber", "green")]),
        bar_chart("Alarms by severity", [(k, v, SEV_COLORS[k]) for k, v in s.alarms_by_severity.items()]),
        bar_chart("Alarms by rule family", [(k, v, BAR_COLOR) for k, v in s.alarms_by_family.items()]),
        bar_chart("Alarms by department", [(k, v, BAR_COLOR) for k, v in s.alarms_by_department.items()]),
        bar_chart("Alarms by project manager", [(k, v, BAR_COLOR) for k, v in s.alarms_by_pm.items()]),
        bar_chart("Alarms by phase", [(k, v, BAR_COLOR) for k, v in s.alarms_by_phase.items()]),
    ]
    # compliance per family as a bar of scores (percent of evaluated checks that are ok)
    fam = []
    for f, c in s.status_by_family.items():
        ev = c["ok"] + c["alarm"]
        if ev:
            fam.append((f"{f} ({c['ok']}/{ev})", round(100 * c["ok"] / ev), BAR_COLOR))
    charts.append(bar_chart("Compliance by rule family (% ok)", fam, limit=20, unit="%"))
    rvc = s.rag_reported_vs_computed
    rows = "".join(
        f"<tr><th>{esc(rep)}</th>" + "".join(f"<td>{n}</td>" for n in comp.values()) + "</tr>"
        for rep, comp in rvc.items())
    matrix = ('<figure class="chart"><figcaption>Reported RAG (rows) vs computed RAG (columns)</figcaption>'
              '<table class="m"><thead><tr><th></th><th>red</th><th>amber</th><th>green</th></tr></thead>'
              f"<tbody>{rows}</tbody></table><p class=\"small muted\">Projects reporting greener than computed "
              "are candidates for STAT-03 (watermelon).</p></figure>")
    return (f'<section id="overview"><h2>Overview</h2><div class="tiles">{"".join(tiles)}</div>'
            f'<p class="muted">Compliance score = ok / (ok + alarm) = {pct(s.score)}; {s.counts["waived"]} waived '
            f'results are shown separately and not counted as ok. {s.projects_with_alarms} of {s.projects} projects '
            f'have open alarms.</p><div class="charts">{"".join(charts)}{matrix}</div></section>')


def _trend(p: _Page) -> str:
    pts = p.data.trend_points()
    if not pts:
        return '<section id="trend"><h2>Trend</h2><p class="muted">No run history yet.</p></section>'
    same_day = len({t.at.date() for t in pts}) < len(pts)
    xs = [t.at.strftime("%m-%d %H:%M" if same_day else "%Y-%m-%d") for t in pts]
    note = ""
    if len(pts) == 1:
        note = ('<p class="muted">Only one run so far: the trend lines appear once there are two or more '
                "runs.</p>")
    score = line_chart("Compliance score per run", xs, [("score", [t.score for t in pts], "#1b5e8c")],
                       percent=True)
    sev = line_chart("Open alarms per run, by severity", xs,
                     [("total", [float(t.alarms) for t in pts], "#333")]
                     + [(k, [float(t.by_severity.get(k, 0)) if t.by_severity else None for t in pts], SEV_COLORS[k])
                        for k in SEVERITIES])
    return f'<section id="trend"><h2>Trend across runs</h2>{note}<div class="charts">{score}{sev}</div></section>'


def _lines(p: _Page) -> str:
    s, data = p.s, p.data
    groups: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for key in p.keys:
        pr = data.projects[key]
        groups[data.executive_of(pr.department)][pr.department or NONE_LABEL].append(key)
    out = ['<section id="lines"><h2>By reporting line</h2><p class="muted">Executive → department → projects. '
           "Department to executive mapping comes from the configuration.</p>"]
    for ex in sorted(groups, key=lambda e: (e == NO_LINE, e)):
        g = s.by_executive.get(ex)
        out.append(f'<details class="line" open><summary><h3>{esc(ex)}</h3>{_group_meta(g)}</summary>')
        for dept in sorted(groups[ex], key=lambda d: (d == NONE_LABEL, d)):
            d = s.by_department.get(dept)
            out.append(f'<h4>{esc(dept)} {_group_meta(d)}</h4><table class="pl"><thead><tr><th>Project</th>'
                       "<th>Name</th><th>PM</th><th>Phase</th><th>State</th><th>RAG</th><th>Reported</th>"
                       "<th>Score</th><th>Alarms</th></tr></thead><tbody>")
            for key in groups[ex][dept]:
                pr, st = data.projects[key], s.by_project[key]
                reported = pr.reported_rag.value if pr.reported_rag else None
                sev = st.alarms_by_severity
                al = " ".join(f'<span class="c sv-{k}" title="{k}">{v}</span>' for k, v in sev.items() if v)
                out.append(f"<tr><td>{p.project_link(key)}</td><td>{esc(pr.name)}</td><td>{esc(pr.pm_label)}</td>"
                           f"<td>{esc(pr.phase)}</td><td>{esc(pr.state)}</td><td>{chip('rag', st.rag.value)}</td>"
                           f"<td>{chip('rag', reported, reported or '—')}</td>"
                           f"<td>{pct(st.score)}</td><td>{al or '0'}</td></tr>")
            out.append("</tbody></table>")
        out.append("</details>")
    out.append("</section>")
    return "".join(out)


def _group_meta(g) -> str:
    if g is None:
        return ""
    return (f'<span class="gm">{g.projects} projects · score {pct(g.score)} · {g.counts["alarm"]} alarms · '
            f'<span class="c rag-red">{g.rag["red"]}</span> <span class="c rag-amber">{g.rag["amber"]}</span> '
            f'<span class="c rag-green">{g.rag["green"]}</span></span>')


def _projects(p: _Page) -> str:
    s, data = p.s, p.data
    out = ['<section id="projects"><h2>Projects</h2><div class="tools"><input id="pq" type="search" '
           'placeholder="Find a project (key, name, PM, department)" aria-label="Find a project">'
           '<button type="button" id="p-open">Expand all</button><button type="button" id="p-close">'
           'Collapse all</button><span id="pq-n" class="muted"></span></div>'
           '<p class="muted small">Open a project for its results: open findings (alarm, error, waived) in full '
           "with evidence, remediation and source records, then its ok and skipped checks.</p>"]
    for i, key in enumerate(p.keys):
        pr, st = data.projects[key], s.by_project[key]
        c = st.counts
        find = " ".join(x for x in (key, pr.name, pr.pm_label, pr.department, pr.phase) if x).lower()
        reported = pr.reported_rag.value if pr.reported_rag else "not reported"
        record = link(esc(pr.url), pr.url) if is_http_url(pr.url) else "—"
        out.append(
            f'<details class="proj" id="{p.anchor[key]}" data-pi="{i}" data-find="{esc(find)}"><summary>'
            f'{chip("rag", st.rag.value)} <b>{esc(key)}</b> {esc(pr.name)} <span class="gm">{pct(st.score)} · '
            f'{c["alarm"]} alarm · {c["error"]} error · {c["waived"]} waived · {c["ok"]} ok · {c["skip"]} skip'
            f'</span></summary><dl><dt>Department</dt><dd>{esc(pr.department or NONE_LABEL)} '
            f"({esc(data.executive_of(pr.department))})</dd><dt>PM</dt><dd>{esc(pr.pm_label)}</dd>"
            f"<dt>Sponsor</dt><dd>{esc(pr.sponsor_name or pr.sponsor or NONE_LABEL)}</dd><dt>Phase</dt>"
            f"<dd>{esc(pr.phase or NONE_LABEL)} ({esc(pr.state)})</dd><dt>Reported RAG</dt><dd>{esc(reported)}</dd>"
            f'<dt>Record</dt><dd>{record}</dd></dl><div class="pr" data-pi="{i}"></div></details>')
    if p.counts_orphans:
        out.append('<details class="proj" id="p-none" data-pi="-1" data-find=""><summary><b>Not tied to a project'
                   f'</b> <span class="gm">{p.counts_orphans} results (people, portfolio-level checks)</span>'
                   '</summary><div class="pr" data-pi="-1"></div></details>')
    out.append("<noscript><p>Per-project results need JavaScript; the CSV, JSON and XLSX reports hold them.</p>"
               "</noscript></section>")
    return "".join(out)


def _results(p: _Page) -> str:
    s = p.s
    depts = sorted({pr.department or NONE_LABEL for pr in p.data.projects.values()})

    def options(values):
        return '<option value="">all</option>' + "".join(f'<option value="{esc(v)}">{esc(v)}</option>'
                                                         for v in values)

    cols = [("st", "Status"), ("sv", "Severity"), ("rule", "Rule"), ("proj", "Project"), ("dept", "Department"),
            ("subj", "Subject"), ("reason", "Reason"), ("src", "Source records")]
    head = "".join(f'<th data-k="{k}" tabindex="0" aria-sort="none">{t}</th>' if k != "src" else f"<th>{t}</th>"
                   for k, t in cols)
    return (f'<section id="results"><h2>All results</h2><div class="tools">'
            '<input id="q" type="search" placeholder="Search rule, project, subject, reason…" aria-label="Search">'
            f'<label>Status <select id="f-st">{options(STATUSES)}</select></label>'
            f'<label>Severity <select id="f-sv">{options(SEVERITIES)}</select></label>'
            f'<label>Family <select id="f-fam">{options(sorted(s.status_by_family))}</select></label>'
            f'<label>Department <select id="f-dept">{options(depts)}</select></label>'
            '<span id="r-count" class="muted"></span></div>'
            '<p class="muted small">Click a column header to sort, a row for evidence and remediation.</p>'
            f'<table id="rt" class="r"><thead><tr>{head}</tr></thead><tbody></tbody></table>'
            '<div class="pager"><button type="button" id="r-prev">← Previous</button><span id="r-page"></span>'
            '<button type="button" id="r-next">Next →</button></div>'
            f"<noscript><p>The results table needs JavaScript. All {s.total} results are in the CSV, JSON and "
            "XLSX reports; open findings are listed per project above.</p></noscript></section>")


def _waivers(p: _Page) -> str:
    data = p.data
    active = [w for w in data.waivers if not w.get("expired")]
    expired = [w for w in data.waivers if w.get("expired")]

    def table(ws):
        if not ws:
            return '<p class="muted">None.</p>'
        rows = "".join(
            f"<tr><td>{esc(w.get('rule'))}</td><td class=\"subj\">{esc(w.get('selector'))}</td>"
            f"<td>{esc(w.get('justification'))}</td><td>{esc(w.get('approver'))}</td>"
            f"<td>{esc(fmt_time(w.get('expiry')))}</td></tr>" for w in ws)
        return ('<table class="f"><thead><tr><th>Rule</th><th>Selector</th><th>Justification</th><th>Approver</th>'
                f"<th>Expiry</th></tr></thead><tbody>{rows}</tbody></table>")

    n_waived = p.s.counts["waived"]
    return (f'<section id="waivers"><h2>Waivers</h2><h3>Active waivers ({len(active)})</h3>{table(active)}'
            f'<div class="expired"><h3>Expired waivers ({len(expired)})</h3><p class="small">An expired waiver no '
            f"longer covers anything: the alarms it covered are open again.</p>{table(expired)}</div>"
            f"<h3>Waived results ({n_waived})</h3><p class=\"small muted\">Waived results are alarms covered "
            "by an active waiver; they are listed here and in each project, and are not counted as ok.</p>"
            '<div id="waived" class="js-list"></div></section>')


def _quality(p: _Page) -> str:
    n_dq = len(p.data.quality_findings())
    errors = Counter(r.rule for r in p.data.results if r.status == "error")
    err = ""
    if errors:
        rows = "".join(f"<tr><td>{esc(k)}</td><td>{esc(p.rule_title.get(k, ''))}</td><td>{v}</td></tr>"
                       for k, v in errors.most_common())
        err = ("<h3>Checks that could not be evaluated (error)</h3><p class=\"small muted\">The data they need could "
               "not be read or parsed; each is listed in its project and in the results table (status = error)."
               f'</p><table class="f"><thead><tr><th>Rule</th><th>Title</th><th>Errors</th></tr></thead>'
               f"<tbody>{rows}</tbody></table>")
    return (f'<section id="quality"><h2>Data quality</h2><h3>Findings of the DATA rules ({n_dq})</h3>'
            f'<div id="dq" class="js-list"></div>{err}</section>')


def _sources(p: _Page) -> str:
    data = p.data
    fails = data.source_failures
    if fails:
        rows = "".join(f"<tr><td>{esc(f.get('system'))}</td><td>{esc(f.get('message'))}</td>"
                       f"<td>{esc(fmt_time(f.get('at')))}</td></tr>" for f in fails)
        body = ('<table class="f"><thead><tr><th>System</th><th>Failure</th><th>At</th></tr></thead>'
                f"<tbody>{rows}</tbody></table>")
    else:
        systems = data.run.get("systems") or []
        body = '<p class="okmsg">Every system was read' + (
            f": {esc(', '.join(map(str, systems)))}." if systems else ".") + "</p>"
    stats = []
    req = data.run.get("requests")
    if isinstance(req, dict) and req:
        stats.append("<h3>Requests per system</h3><table class=\"m\"><tbody>" + "".join(
            f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in req.items()) + "</tbody></table>")
    writes = data.run.get("writes")
    if isinstance(writes, dict) and writes:
        stats.append("<h3>Write-backs</h3><table class=\"m\"><tbody>" + "".join(
            f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in writes.items()) + "</tbody></table>")
    elif writes is not None:
        stats.append(f"<p>Write-backs this run: {esc(writes)}</p>")
    return f'<section id="sources"><h2>Sources</h2><h3>Source failures</h3>{body}{"".join(stats)}</section>'


def _rules(p: _Page) -> str:
    per_rule: dict[str, Counter] = defaultdict(Counter)
    for r in p.data.results:
        per_rule[r.rule][r.status] += 1
    rows = []
    for rid in p.rule_ids:
        c = per_rule[rid]
        rows.append(f"<tr><td><b>{esc(rid)}</b></td><td>{esc(p.rule_title.get(rid, ''))}</td>"
                    + "".join(f"<td>{c[st]}</td>" for st in STATUSES)
                    + f"<td>{esc(p.rule_fix.get(rid, ''))}</td></tr>")
    return ('<section id="rules"><h2>Rules evaluated</h2><table class="f"><thead><tr><th>Rule</th><th>Title</th>'
            + "".join(f"<th>{st}</th>" for st in STATUSES) + "<th>Remediation</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></section>")


def _split_url(url: str) -> tuple[str, str]:
    """Split a URL after its last '/', '=', '?', '#' or '&' so the prefix can be dictionary-coded."""
    cut = max(url.rfind(ch) for ch in "/=?#&") + 1
    return url[:cut], url[cut:]


def _table_data(p: _Page) -> dict[str, Any]:
    """Every result as compact JSON: rules, projects, systems and URL prefixes dictionary-coded.

    rows: [rule, status, severity, project, subject, reason, evidence, sources, remediation, waiver, first_seen]
    sources: [[system, id, prefix, suffix]] (prefix -1: no usable link; suffix null: same as id).
    remediation: null when it is the rule's usual remediation (rules[i][3]). dq: the data-quality findings,
    coded the same way. Rows are in the table's default order: alarm, error, waived, ok, skip; worst first.
    """
    data = p.data
    rule_ix = {rid: i for i, rid in enumerate(p.rule_ids)}
    proj_ix = {k: i for i, k in enumerate(p.keys)}
    st_ix = {s: i for i, s in enumerate(STATUSES)}
    sv_ix = {s: i for i, s in enumerate(SEVERITIES)}
    systems: dict[str, int] = {}
    prefixes: dict[str, int] = {}
    rules = [[rid, p.rule_title.get(rid, ""), family_of(rid), p.rule_fix.get(rid, "")] for rid in p.rule_ids]

    def code(r: Result) -> list[Any]:
        srcs = []
        for s in r.sources:
            sy = systems.setdefault(s.system, len(systems))
            if is_http_url(s.url):
                pre, suf = _split_url(s.url.strip())
                srcs.append([sy, s.id, prefixes.setdefault(pre, len(prefixes)), None if suf == s.id else suf])
            else:
                srcs.append([sy, s.id, -1, None])
        if r.rule not in rule_ix:  # a data-quality finding for a rule no result names
            rule_ix[r.rule] = len(rules)
            rules.append([r.rule, r.title, family_of(r.rule), r.remediation])
        fix = r.remediation or ""
        return [
            rule_ix[r.rule], st_ix.get(r.status, 4), sv_ix.get(r.severity, 3),
            proj_ix.get(r.project, -1) if r.project else -1,
            r.subject, r.reason, fmt_evidence(r.evidence), srcs,
            None if fix == rules[rule_ix[r.rule]][3] else fix,
            fmt_evidence(r.waiver) if r.waiver else None,
            r.first_seen.strftime("%Y-%m-%d") if r.first_seen else None,
        ]

    def order(r: Result):
        return (TABLE_ORDER.get(r.status, 9), sv_ix.get(r.severity, 9), r.project or "~", r.rule, r.subject)

    rows = [code(r) for r in sorted(data.results, key=order)]
    dq = [code(r) for r in sorted(data.quality_findings(), key=order)]
    projects = []
    for k in p.keys:
        pr = data.projects[k]
        projects.append([k, pr.name or "", pr.department or NONE_LABEL, pr.pm_label, p.anchor[k]])
    return {"rules": rules, "projects": projects, "systems": list(systems), "prefixes": list(prefixes),
            "rows": rows, "dq": dq}


def pack(value: Any) -> str:
    """JSON, gzip-compressed (deterministic: no timestamp), base64-encoded: safe inside any element."""
    raw = to_json(value).encode("utf-8")
    return base64.b64encode(gzip.compress(raw, compresslevel=6, mtime=0)).decode("ascii")


def unpack(text: str) -> Any:
    """The inverse of `pack` (for tests and tools that read the report's data back)."""
    import json

    return json.loads(gzip.decompress(base64.b64decode(text)).decode("utf-8"))


def build_html(data: ReportData) -> str:
    """The whole report as one HTML string."""
    p = _Page(data)
    body = [_header(p), "<main>", _overview(p), _trend(p), _lines(p), _projects(p), _results(p), _waivers(p),
            _quality(p), _sources(p), _rules(p), "</main>",
            '<footer class="muted small">Generated by pmo-hub. Self-contained: this file loads nothing from the '
            "network.</footer>"]
    blob = pack(_table_data(p))
    return "".join([_head(p, JS), *body,
                    f'<script type="application/octet-stream" id="report-data" data-encoding="gzip+base64">'
                    f"{blob}</script><script>{JS}</script></body></html>"])


def render_html(data: ReportData, out: Path) -> Path:
    out.write_text(build_html(data), encoding="utf-8")
    return out


CSS = """
:root{--fg:#1d2330;--muted:#5f6b7a;--line:#dde2ea;--bg:#f6f7f9;--card:#fff;--accent:#1b5e8c}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--fg);background:var(--bg)}
header{display:flex;gap:20px;align-items:center;padding:18px 28px;background:#12263f;color:#fff}
header h1{margin:0 0 4px;font-size:22px;font-weight:600}header p{margin:0;color:#cfd8e3}
.score{width:104px;height:104px;border-radius:50%;display:flex;flex-direction:column;align-items:center;
justify-content:center;border:6px solid #fff;flex:none}
.score span{font-size:24px;font-weight:700}.score small{font-size:11px;opacity:.85}
.score.good{background:#2e7d32}.score.warn{background:#b26a00}.score.bad{background:#b71c1c}
.alert{background:#fff3e0;color:#6d3a00;padding:6px 10px;border-radius:4px;margin-top:8px}
.alert a{color:#6d3a00}
nav{position:sticky;top:0;z-index:5;background:#fff;border-bottom:1px solid var(--line);padding:8px 28px;
display:flex;gap:18px;flex-wrap:wrap}
nav a{color:var(--accent);text-decoration:none;font-weight:500}
main{padding:8px 28px 40px;max-width:1500px}
section,details.proj{scroll-margin-top:48px}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 20px;margin:18px 0}
h2{margin:4px 0 12px;font-size:19px}h3{font-size:16px;margin:14px 0 8px;display:inline}h4{margin:14px 0 6px}
section>h3{display:block}
.muted{color:var(--muted)}.small{font-size:12px}
.tiles{display:flex;flex-wrap:wrap;gap:10px}
.tile{border:1px solid var(--line);border-radius:6px;padding:8px 14px;min-width:96px;color:var(--muted)}
.tile b{display:block;font-size:22px;color:var(--fg)}
.t-ok b{color:#2e7d32}.t-alarm b{color:#c62828}.t-waived b{color:#6a4fb3}.t-error b{color:#8d4a00}
.charts{display:flex;flex-wrap:wrap;gap:18px 30px}
.chart{margin:6px 0}.legend{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px;max-width:430px}
.chart figcaption{font-weight:600;margin-bottom:4px}
.chart svg{font-size:12px;fill:var(--fg);max-width:100%;height:auto}
.chart svg .v{fill:var(--muted)}.chart svg .muted{fill:var(--muted)}.chart svg .grid{stroke:#e6e9ef}
.c{display:inline-block;padding:0 7px;border-radius:9px;font-size:12px;font-weight:600;color:#fff;
background:#8a8f98;white-space:nowrap}
.st-ok{background:#2e7d32}.st-alarm{background:#c62828}.st-waived{background:#6a4fb3}.st-skip{background:#8a8f98}
.st-error{background:#8d4a00}
.sv-critical{background:#7f0000}.sv-high{background:#d32f2f}.sv-medium{background:#ef8f00}
.sv-low{background:#e0c000;color:#222}
.rag-red{background:#c62828}.rag-amber{background:#ef8f00}.rag-green{background:#2e7d32}.rag-none{background:#b0b6bf}
table{border-collapse:collapse;width:100%;margin:6px 0 10px}
th,td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
thead th{background:#f0f2f6;font-weight:600;position:sticky;top:37px}
table.m{width:auto}table.m td,table.m th{text-align:right}table.m th:first-child{text-align:left}
.subj{overflow-wrap:anywhere;min-width:110px;max-width:240px}
td b{white-space:nowrap}
table.pl{table-layout:fixed}table.pl th:nth-child(1){width:9%}table.pl th:nth-child(2){width:24%}
table.pl th:nth-child(3){width:16%}table.pl th:nth-child(n+4){width:8.5%}
.ev,.fix,.wv{margin-top:3px;font-size:12px;color:#333;word-break:break-word}
.ev b,.fix b,.wv b{color:var(--muted);font-weight:600;margin-right:4px}
.wv{color:#4a3590}
a.src{margin-right:6px;white-space:nowrap}
details.proj{border:1px solid var(--line);border-radius:6px;margin:6px 0;padding:0 12px}
details.proj[open]{padding-bottom:8px}
details.proj>summary{cursor:pointer;padding:7px 0;list-style-position:outside}
details.line>summary{cursor:pointer;padding:4px 0}
.gm{color:var(--muted);font-size:12px;margin-left:8px;font-weight:400}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:6px 0 10px}
dt{color:var(--muted)}dd{margin:0;word-break:break-word}
.okmsg{color:#2e7d32}
.expired{border-left:5px solid #c62828;background:#fff5f5;padding:6px 12px;margin:10px 0;border-radius:4px}
.tools{display:flex;flex-wrap:wrap;gap:10px;align-items:center;margin-bottom:6px}
.tools input{padding:5px 8px;min-width:280px;border:1px solid #b9c1cc;border-radius:4px}
.tools select{padding:4px}
button{padding:4px 10px;border:1px solid #b9c1cc;background:#fff;border-radius:4px;cursor:pointer}
table.r th[data-k]{cursor:pointer;user-select:none}
table.r th[aria-sort=ascending]::after{content:" ▲"}table.r th[aria-sort=descending]::after{content:" ▼"}
table.r tbody tr.row{cursor:pointer}table.r tbody tr.row:hover{background:#f3f7fc}
tr.det td{background:#fafbfc}
.pager{display:flex;gap:12px;align-items:center}
footer{padding:0 28px 20px}
@media print{nav{display:none}thead th{position:static}details.proj{break-inside:avoid}}
"""

JS = r"""
(function () {
  'use strict';
  var ST = ['ok', 'alarm', 'waived', 'skip', 'error'], SV = ['critical', 'high', 'medium', 'low'];
  var ORDER = {alarm: 0, error: 1, waived: 2, ok: 3, skip: 4};
  var PAGE = 100, LIST_MAX = 500;
  var D, RULES, PROJ, SYS, PRE, ROWS, byProject = {};
  var root = document.documentElement;

  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined && text !== null) n.textContent = String(text);
    return n;
  }
  function add(parent) {
    for (var i = 1; i < arguments.length; i++) if (arguments[i]) parent.appendChild(arguments[i]);
    return parent;
  }
  function safeUrl(u) { return (typeof u === 'string' && /^https?:\/\/\S/i.test(u)) ? u : null; }
  function chip(kind, v) { return el('span', 'c ' + kind + '-' + v, v); }
  function td(child, cls) { var c = el('td', cls); if (child) c.appendChild(child); return c; }
  function tdText(text, cls) { return el('td', cls, text); }
  function labelled(cls, label, text) {
    return add(el('div', cls), el('b', null, label), document.createTextNode(text));
  }
  function each(list, fn) { Array.prototype.forEach.call(list, fn); }

  // ---------------------------------------------------------------- data
  function unpack() {
    var node = document.getElementById('report-data');
    if (typeof DecompressionStream === 'undefined') return Promise.reject(new Error('no DecompressionStream'));
    var bin = atob(node.textContent.trim()), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
    return new Response(stream).text().then(JSON.parse);
  }

  // ---------------------------------------------------------------- rows
  function sources(r) {
    var cell = el('td');
    (r[7] || []).forEach(function (s) {
      var label = SYS[s[0]] + ' ' + s[1];
      var url = s[2] < 0 ? null : safeUrl(PRE[s[2]] + (s[3] === null ? s[1] : s[3]));
      var a;
      if (url) { a = el('a', 'src', label); a.href = url; a.target = '_blank'; a.rel = 'noopener noreferrer'; }
      else a = el('span', 'src', label);
      add(cell, a, document.createTextNode(' '));
    });
    return cell;
  }
  function details(r, box) {
    var rule = RULES[r[0]], fix = r[8] === null ? rule[3] : r[8];
    if (r[6]) box.appendChild(labelled('ev', 'Evidence', r[6]));
    if (fix) box.appendChild(labelled('fix', 'Fix', fix));
    if (r[9]) box.appendChild(labelled('wv', 'Waiver', r[9]));
    if (r[10]) box.appendChild(el('div', 'muted small', 'first seen ' + r[10]));
    return box;
  }
  function projectCells(tr, r) {
    var p = PROJ[r[3]], a = null;
    if (p) { a = el('a', null, p[0]); a.href = '#' + p[4]; }
    tr.appendChild(td(a));
    tr.appendChild(tdText(p ? p[2] : ''));
  }
  // full: reason with evidence, fix and waiver inline (findings); otherwise a click shows them (table)
  function resultRow(r, opts) {
    var tr = el('tr', opts.full ? null : 'row'), rule = RULES[r[0]];
    tr.appendChild(td(chip('st', ST[r[1]])));
    tr.appendChild(td(chip('sv', SV[r[2]])));
    tr.appendChild(add(el('td'), el('b', null, rule[0]), opts.full ? el('div', 'small', rule[1]) : null));
    if (opts.project) projectCells(tr, r);
    tr.appendChild(tdText(r[4], 'subj'));
    var reason = tdText(r[5]);
    if (opts.full) details(r, reason);
    tr.appendChild(reason);
    tr.appendChild(sources(r));
    if (!opts.full) {
      tr.addEventListener('click', function (ev) {
        if (ev.target.tagName === 'A') return;
        var next = tr.nextSibling;
        if (next && next.className === 'det') { next.parentNode.removeChild(next); return; }
        var c = el('td'); c.colSpan = tr.children.length;
        c.appendChild(el('div', null, rule[0] + ' — ' + rule[1]));
        details(r, c);
        tr.parentNode.insertBefore(add(el('tr', 'det'), c), tr.nextSibling);
      });
    }
    return tr;
  }
  function table(rows, opts) {
    var t = el('table', opts.full ? 'f' : 'r'), h = el('tr');
    var cols = ['Status', 'Severity', 'Rule'].concat(opts.project ? ['Project', 'Department'] : [])
      .concat(['Subject', opts.full ? 'Finding' : 'Reason', 'Source records']);
    cols.forEach(function (x) { h.appendChild(el('th', null, x)); });
    var b = el('tbody');
    rows.forEach(function (r) { b.appendChild(resultRow(r, opts)); });
    return add(t, add(el('thead'), h), b);
  }
  // a long list: the first LIST_MAX rows, and a button for the rest
  function list(box, rows, opts, empty) {
    box.textContent = '';
    if (!rows.length) { box.appendChild(el('p', 'okmsg', empty)); return; }
    var t = table(rows.slice(0, LIST_MAX), opts);
    box.appendChild(t);
    if (rows.length > LIST_MAX) {
      var more = el('button', null, 'Show all ' + rows.length);
      more.type = 'button';
      more.addEventListener('click', function () { box.replaceChild(table(rows, opts), t); box.removeChild(more); });
      box.appendChild(more);
    }
  }

  // ---------------------------------------------------------------- results table
  var view = [], page = 0, sortKey = null, sortDir = 1, hay = null;
  var KEYS = {
    st: function (r) { return ORDER[ST[r[1]]]; },
    sv: function (r) { return r[2]; },
    rule: function (r) { return RULES[r[0]][0]; },
    proj: function (r) { return PROJ[r[3]] ? PROJ[r[3]][0] : '~'; },
    dept: function (r) { return PROJ[r[3]] ? PROJ[r[3]][2] : '~'; },
    subj: function (r) { return r[4]; },
    reason: function (r) { return r[5]; }
  };
  function $(id) { return document.getElementById(id); }
  function haystack(r) {
    var p = PROJ[r[3]], rule = RULES[r[0]];
    return (rule[0] + ' ' + rule[1] + ' ' + (p ? p[0] + ' ' + p[1] + ' ' + p[3] : '') + ' ' + r[4] + ' ' + r[5] + ' ' +
      r[6] + ' ' + (r[7] || []).map(function (s) { return s[1]; }).join(' ')).toLowerCase();
  }
  function apply() {
    var text = $('q').value.trim().toLowerCase(), sti = ST.indexOf($('f-st').value);
    var svi = SV.indexOf($('f-sv').value), fam = $('f-fam').value, dept = $('f-dept').value;
    if (text && !hay) hay = ROWS.map(haystack);
    view = [];
    for (var i = 0; i < ROWS.length; i++) {
      var r = ROWS[i];
      if (sti >= 0 && r[1] !== sti) continue;
      if (svi >= 0 && r[2] !== svi) continue;
      if (fam && RULES[r[0]][2] !== fam) continue;
      if (dept && (!PROJ[r[3]] || PROJ[r[3]][2] !== dept)) continue;
      if (text && hay[i].indexOf(text) < 0) continue;
      view.push(i);
    }
    if (sortKey) {
      var key = KEYS[sortKey];
      view.sort(function (a, b) {
        var x = key(ROWS[a]), y = key(ROWS[b]);
        return x < y ? -sortDir : x > y ? sortDir : a - b;
      });
    }
    page = 0;
    draw();
  }
  function draw() {
    var pages = Math.max(1, Math.ceil(view.length / PAGE));
    if (page >= pages) page = pages - 1;
    var tbody = document.querySelector('#rt tbody'), frag = document.createDocumentFragment();
    var end = Math.min(view.length, (page + 1) * PAGE);
    for (var i = page * PAGE; i < end; i++) frag.appendChild(resultRow(ROWS[view[i]], {project: true}));
    tbody.textContent = '';
    tbody.appendChild(frag);
    $('r-count').textContent = view.length + ' of ' + ROWS.length + ' results';
    $('r-page').textContent = view.length
      ? 'rows ' + (page * PAGE + 1) + '–' + end + ' · page ' + (page + 1) + ' of ' + pages : 'no matching results';
  }
  function initTable() {
    var timer = null;
    $('q').addEventListener('input', function () { clearTimeout(timer); timer = setTimeout(apply, 150); });
    ['f-st', 'f-sv', 'f-fam', 'f-dept'].forEach(function (id) { $(id).addEventListener('change', apply); });
    $('r-prev').addEventListener('click', function () { if (page > 0) { page--; draw(); } });
    $('r-next').addEventListener('click', function () { if ((page + 1) * PAGE < view.length) { page++; draw(); } });
    var heads = document.querySelectorAll('#rt th[data-k]');
    each(heads, function (th) {
      function sortBy() {
        var k = th.getAttribute('data-k');
        sortDir = (sortKey === k) ? -sortDir : 1;
        sortKey = k;
        each(heads, function (h) { h.setAttribute('aria-sort', 'none'); });
        th.setAttribute('aria-sort', sortDir > 0 ? 'ascending' : 'descending');
        apply();
      }
      th.addEventListener('click', sortBy);
      th.addEventListener('keydown', function (e) {
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sortBy(); }
      });
    });
    apply();
  }

  // ---------------------------------------------------------------- projects: results drawn when opened
  function fillProject(det) {
    var box = det.querySelector('.pr');
    if (!box || !ROWS || box.getAttribute('data-done')) return;
    box.setAttribute('data-done', '1');
    var rows = (byProject[box.getAttribute('data-pi')] || []).map(function (k) { return ROWS[k]; });
    var open = rows.filter(function (r) { return ORDER[ST[r[1]]] < 3; });
    var rest = rows.filter(function (r) { return ORDER[ST[r[1]]] >= 3; });
    box.textContent = '';
    if (open.length) box.appendChild(table(open, {full: true}));
    else box.appendChild(el('p', 'okmsg', 'No open findings.'));
    if (rest.length) {
      var sub = add(el('details', 'sub'), el('summary', null, 'Ok and skipped checks (' + rest.length + ')'));
      sub.appendChild(table(rest, {}));
      box.appendChild(sub);
    }
  }
  function initProjects() {
    var dets = document.querySelectorAll('details.proj');
    document.addEventListener('toggle', function (e) {
      var d = e.target;
      if (d && d.classList && d.classList.contains('proj') && d.open) fillProject(d);
    }, true);
    each(dets, function (d) { if (d.open) fillProject(d); });
    function openHash(id) {
      var t = id && document.getElementById(id);
      if (t && t.tagName === 'DETAILS') t.open = true;
    }
    if (location.hash) openHash(location.hash.slice(1));
    document.addEventListener('click', function (e) {
      var a = e.target.closest ? e.target.closest('a[href^="#p"]') : null;
      if (a) openHash(a.getAttribute('href').slice(1));
    });
    $('p-open').addEventListener('click', function () {
      each(dets, function (d) { if (d.style.display !== 'none') d.open = true; });
    });
    $('p-close').addEventListener('click', function () { each(dets, function (d) { d.open = false; }); });
    var ptimer = null;
    $('pq').addEventListener('input', function () {
      clearTimeout(ptimer);
      ptimer = setTimeout(function () {
        var t = $('pq').value.trim().toLowerCase(), n = 0;
        each(dets, function (d) {
          var hit = !t || (d.getAttribute('data-find') || '').indexOf(t) >= 0;
          d.style.display = hit ? '' : 'none';
          if (hit) n++;
        });
        $('pq-n').textContent = t ? n + ' projects match' : '';
      }, 150);
    });
  }

  function fail(message) {
    root.setAttribute('data-ready', 'error');
    each(document.querySelectorAll('.js-list, .pr, #rt tbody'), function (box) {
      box.textContent = '';
      box.appendChild(el('p', 'alert', message));
    });
  }

  unpack().then(function (data) {
    D = data; RULES = D.rules; PROJ = D.projects; SYS = D.systems; PRE = D.prefixes; ROWS = D.rows;
    for (var i = 0; i < ROWS.length; i++) { var pi = ROWS[i][3]; (byProject[pi] = byProject[pi] || []).push(i); }
    initTable();
    initProjects();
    var waived = ROWS.filter(function (r) { return ST[r[1]] === 'waived'; });
    list($('waived'), waived, {full: true, project: true}, 'None.');
    list($('dq'), D.dq, {full: true, project: true}, 'No data-quality findings.');
    root.setAttribute('data-ready', '1');
  }, function () {
    fail('This browser cannot unpack the report data (it needs DecompressionStream: Chrome 80, Firefox 113, ' +
         'Safari 16.4 or later). The CSV, JSON and XLSX reports hold every result.');
  });
})();
"""
