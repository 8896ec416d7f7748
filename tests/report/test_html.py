"""The HTML report without a browser: structure, escaping, no network references, embedded data."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from html.parser import HTMLParser

import pytest

from hub.model import Result, SourceRef
from hub.report import ReportData
from hub.report.html import JS, build_html, esc, line_chart, link, script_json, unpack
from tests.report.conftest import XSS_BREAKOUT, XSS_IMG, XSS_SCRIPT

SECTIONS = ("overview", "trend", "lines", "projects", "results", "waivers", "quality", "sources", "rules")


@pytest.fixture
def page(data) -> str:
    return build_html(data)


def blob(page: str) -> dict:
    m = re.search(r'<script type="application/octet-stream" id="report-data" data-encoding="gzip\+base64">'
                  r"([A-Za-z0-9+/=]*)</script>", page)
    assert m, "embedded data not found"
    return unpack(m.group(1))


def test_sections_present(page, data):
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>")
    for sid in SECTIONS:
        assert page.count(f'<section id="{sid}">') == 1, sid
    assert "<h1>PMO compliance report — ACME &lt;PMO&gt;</h1>" in page
    assert 'class="score bad"' in page and "<span>40.0%</span>" in page
    # one collapsed <details> per project, and one for results tied to no project
    for key in data.projects:
        assert f"<b>{esc(key)}</b>" in page
    assert page.count('<details class="proj"') == len(data.projects) + 1
    # charts: status, RAG, severity, family, department, PM, phase, family compliance, 2 trend lines
    assert page.count("<svg") >= 10
    for title in ("Alarms by severity", "Alarms by rule family", "Alarms by department", "Alarms by project manager",
                  "Alarms by phase", "Projects by computed RAG", "Compliance score per run"):
        assert f"<figcaption>{title}</figcaption>" in page
    # reporting lines: executive -> departments
    lines = page[page.index('<section id="lines">'):page.index('<section id="projects">')]
    assert lines.index("<h3>CFO</h3>") < lines.index("<h4>Finance") < lines.index("<h3>CIO</h3>") \
        < lines.index("<h4>IT") < lines.index("<h3>(no reporting line)</h3>")
    # filters of the results table
    for fid in ('id="q"', 'id="f-st"', 'id="f-sv"', 'id="f-fam"', 'id="f-dept"', 'data-k="sv"'):
        assert fid in page


def test_waivers_active_and_expired_are_separate(page):
    w = page[page.index('<section id="waivers">'):page.index('<section id="quality">')]
    active, expired = w.split('<div class="expired">')
    assert "risk:APOL-12" in active and "project:GAMA" not in active
    assert "project:GAMA" in expired and "risk:APOL-12" not in expired.split("Waived results")[0]
    assert "Waived results (1)" in w and 'id="waived"' in w


def test_single_run_trend_says_so():
    d = ReportData.build(run={"id": "r1", "started": "2024-06-03T07:00:00+00:00"},
                         results=[Result(rule="STAT-01", status="ok", severity="high", project="A",
                                         subject="project:A", reason="fine")])
    page = build_html(d)
    assert "Only one run so far" in page
    assert page.count("<circle") == 1 + 5  # one point per series: score; total and four severities


def test_empty_report_renders():
    page = build_html(ReportData.build(run={}, results=[]))
    assert "<span>n/a</span>" in page and "No run history yet." in page
    assert "<h1>PMO compliance report</h1>" in page


def test_trend_without_severities_leaves_gaps():
    """Past runs from the state store may carry no per-severity counts: no invented zeros."""
    ok = Result(rule="STAT-01", status="ok", severity="high", project="A", subject="project:A", reason="fine")
    d = ReportData.build(run={"id": "r2", "started": "2024-06-03T07:00:00+00:00"}, results=[ok],
                         trend=[{"at": "2024-05-27T07:00:00+00:00", "run_id": "r1", "score": 0.5, "alarms": 3}])
    page = build_html(d)
    assert "Only one run so far" not in page
    assert page.count("<polyline") == 2  # score and total alarms; severity lines have one point each


def test_source_text_is_escaped_everywhere(page):
    for payload in (XSS_IMG, XSS_SCRIPT, XSS_BREAKOUT, "Bob <b>Builder</b>", "HTTP 503 <from> Graph"):
        assert payload not in page, payload
    assert esc(f"Evil {XSS_IMG}") in page  # project name, shown as text
    assert esc("Bob <b>Builder</b>") in page
    assert esc(f"Dept {XSS_SCRIPT}") in page
    # in attributes too: the project finder's data-find holds the lower-cased name
    assert f'data-find="xss {esc(f"evil {XSS_IMG}".lower())}' in page
    # nothing from a source can open a tag (event handlers: see test_no_network_references)
    assert len(re.findall(r"<script\b", page)) == 2 and page.count("</script>") == 2
    assert len(re.findall(r"<img\b", page, re.I)) == 0


def test_results_data_round_trips_and_drops_unsafe_urls(page, data):
    d = blob(page)
    assert len(d["rows"]) == len(data.results)
    reasons = {r[5] for r in d["rows"]}
    assert f"Work item {XSS_IMG} blocks the report" in reasons  # intact data; the JS renders it as text
    evidence = [r[6] for r in d["rows"] if r[6]]
    assert any(XSS_BREAKOUT in e for e in evidence)
    urls = []
    for r in d["rows"] + d["dq"]:
        for _system, sid, prefix, suffix in r[7]:
            if prefix >= 0:
                urls.append(d["prefixes"][prefix] + (sid if suffix is None else suffix))
    assert "https://acme.atlassian.net/browse/APOL-7" in urls
    assert urls and all(u.startswith("https://") for u in urls)  # javascript: and data: dropped
    m365 = [s for r in d["rows"] for s in r[7] if d["systems"][s[0]] == "m365"]
    assert {s[1] for s in m365} == {"item-9", "roster-4"} and all(s[2] == -1 for s in m365)
    assert len(d["dq"]) == 1 and d["rules"][d["dq"][0][0]][0] == "DATA-01"


class Tags(HTMLParser):
    """Every start tag with its (unescaped) attributes, as a browser's parser sees them."""

    def __init__(self, page: str):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_no_network_references(page, data):
    tags = Tags(page).tags
    assert not [t for t, a in tags if "src" in a]  # no element loads anything: no img, script src, iframe
    assert [a for t, a in tags if t == "link"] == [{"rel": "icon", "href": "data:,"}]  # no stylesheet
    assert [t for t, _ in tags if t in ("img", "iframe", "object", "embed", "base", "form")] == []
    assert not [a for t, a in tags for k in a if k.startswith("on")]  # no inline event handlers
    assert "@import" not in page and "url(" not in page
    allowed = {s.url for r in data.results for s in r.sources} | {p.url for p in data.projects.values()}
    hrefs = [a["href"] for t, a in tags if "href" in a and t != "link"]
    external = [h for h in hrefs if not h.startswith("#")]
    assert external and all(h in allowed and h.startswith("https://") for h in external), external
    assert not [h for h in hrefs if h.lower().startswith(("javascript:", "data:"))]
    assert [(t, a.get("type")) for t, a in tags if t == "script"] == [("script", "application/octet-stream"),
                                                                     ("script", None)]


def test_content_security_policy_pins_the_script(page):
    digest = base64.b64encode(hashlib.sha256(JS.encode()).digest()).decode()
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page).group(1)
    csp = html.unescape(csp)
    assert "default-src 'none'" in csp and f"script-src 'sha256-{digest}'" in csp
    assert f"<script>{JS}</script>" in page


def test_helpers():
    assert esc('<a href="x">&\'') == "&lt;a href=&quot;x&quot;&gt;&amp;&#x27;"
    assert link("label", "javascript:alert(1)") == "label"
    assert link("label", "data:text/html,x") == "label"
    assert link("label", "//evil.example/x") == "label"
    assert link("l", 'https://x.example/a"b') == \
        '<a href="https://x.example/a&quot;b" target="_blank" rel="noopener noreferrer">l</a>'
    assert script_json({"a": "</script><!--&"}) == '{"a":"\\u003c/script\\u003e\\u003c!--\\u0026"}'
    svg = line_chart("t", ["a"], [("s", [0.5], "#000")], percent=True)
    assert svg.count("<circle") == 1


def test_large_evidence_is_cut_in_html_only():
    big = {"items": ["x" * 100] * 100}
    d = ReportData.build(run={"id": 1}, results=[Result(rule="RISK-05", status="alarm", severity="medium",
                                                        project="A", subject="s", reason="r", evidence=big,
                                                        sources=[SourceRef(system="jira", id="A-1")])])
    row = blob(build_html(d))["rows"][0]
    assert len(row[6]) < 2100 and row[6].endswith("(cut; the JSON/CSV export has all of it)")
