"""The HTML report in real headless Chromium: JS runs cleanly, nothing executes from the data, filters work.

Needs Debian's chromium (installed with apt-get when missing and running as root; skipped otherwise).
Leaves a screenshot in test-output/ at the repository root (gitignored) for a person to look at.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.report import render
from tests.report.browser import Chromium, ensure_chromium

OUTPUT = Path(__file__).resolve().parents[2] / "test-output"


@pytest.fixture(scope="module")
def chromium() -> str:
    path, why = ensure_chromium()
    if path is None:
        pytest.skip(f"headless Chromium unavailable: {why}")
    return path


@pytest.fixture
def page(chromium, data, tmp_path):
    report = render("html", data, tmp_path / "report.html")
    with Chromium(chromium, tmp_path) as browser:
        page = browser.open(report.as_uri())
        page.wait_for("document.documentElement.getAttribute('data-ready')")
        yield page


def js(page, expr: str):
    return page.evaluate(expr)


def test_report_runs_cleanly_in_chromium(page):
    assert js(page, "document.documentElement.getAttribute('data-ready')") == "1"
    assert page.errors() == []
    # charts and every project's section exist; the results table was drawn from the embedded data
    assert js(page, "document.querySelectorAll('#overview svg').length") >= 8
    assert js(page, "document.querySelectorAll('#trend svg polyline').length") >= 2
    assert js(page, "document.querySelectorAll('details.proj').length") == 5
    assert js(page, "document.querySelectorAll('#rt tbody tr').length") == 13
    assert js(page, "document.getElementById('r-count').textContent") == "13 of 13 results"
    assert js(page, "document.querySelectorAll('#waived tbody tr').length") == 1
    assert js(page, "document.querySelectorAll('#dq tbody tr').length") == 1
    # the only request was the file itself
    assert [u for u in page.requests() if not u.startswith("file://")] == []


def test_payloads_render_as_text_and_never_run(page):
    js(page, "document.querySelectorAll('details.proj').forEach(function (d) { d.open = true; })")
    js(page, "document.querySelectorAll('#rt tbody tr.row').forEach(function (r) { r.click(); })")
    page.browser.pump(0.3)
    assert js(page, "document.title") == "PMO compliance report — run run-42"
    assert js(page, "typeof window.__xss") == "undefined"
    assert js(page, "document.querySelectorAll('main img, main iframe').length") == 0
    assert js(page, "document.querySelectorAll('main script').length") == 0
    text = js(page, "document.getElementById('p0').textContent")
    assert "<img src=x onerror=" in text  # the work item summary, visible as text
    assert "</script><script>window.__xss=3</script>" in text  # evidence
    assert "Evil <img src=x" in js(page, "document.getElementById('p3').querySelector('summary').textContent")
    hrefs = js(page, "Array.from(document.querySelectorAll('a[href]')).map(function (a) { return a.href; })")
    assert all(h.startswith(("https://", "file://")) for h in hrefs), hrefs
    assert not [h for h in hrefs if h.lower().startswith(("javascript:", "data:"))]
    assert page.errors() == []


def test_filters_and_sorting(page):
    def count():
        return js(page, "document.getElementById('r-count').textContent")

    js(page, "var s = document.getElementById('f-st'); s.value = 'error'; s.dispatchEvent(new Event('change'))")
    assert count() == "1 of 13 results"
    js(page, "var s = document.getElementById('f-st'); s.value = ''; s.dispatchEvent(new Event('change'))")
    js(page, "var s = document.getElementById('f-fam'); s.value = 'STAT'; s.dispatchEvent(new Event('change'))")
    assert count() == "5 of 13 results"
    js(page, "var s = document.getElementById('f-dept'); s.value = 'Finance'; s.dispatchEvent(new Event('change'))")
    assert count() == "2 of 13 results"
    js(page, "var s = document.getElementById('f-fam'); s.value = ''; s.dispatchEvent(new Event('change'))")
    js(page, "var s = document.getElementById('f-dept'); s.value = ''; s.dispatchEvent(new Event('change'))")
    js(page, "var q = document.getElementById('q'); q.value = 'gamma'; q.dispatchEvent(new Event('input'))")
    page.wait_for("document.getElementById('r-count').textContent === '2 of 13 results'", timeout=5)
    js(page, "var q = document.getElementById('q'); q.value = ''; q.dispatchEvent(new Event('input'))")
    page.wait_for("document.getElementById('r-count').textContent === '13 of 13 results'", timeout=5)
    # sort by rule, then reverse
    rules = ("Array.from(document.querySelectorAll('#rt tbody tr.row td:nth-child(3)'))"
             ".map(function (c) { return c.textContent; })")
    js(page, "document.querySelector('#rt th[data-k=rule]').click()")
    asc = js(page, rules)
    assert asc == sorted(asc)
    assert js(page, "document.querySelector('#rt th[data-k=rule]').getAttribute('aria-sort')") == "ascending"
    js(page, "document.querySelector('#rt th[data-k=rule]').click()")
    assert js(page, rules) == sorted(asc, reverse=True)
    # the project finder
    js(page, "var q = document.getElementById('pq'); q.value = 'beta'; q.dispatchEvent(new Event('input'))")
    page.wait_for("document.getElementById('pq-n').textContent === '1 projects match'", timeout=5)
    assert page.errors() == []


def test_project_detail_and_screenshot(page):
    js(page, "document.getElementById('p0').open = true")
    page.browser.pump(0.2)
    rows = js(page, "document.querySelectorAll('#p0 .pr table.f tbody tr').length")
    assert rows == 3  # APOL: two alarms and one waived result in full
    assert js(page, "document.querySelector('#p0 .pr details.sub summary').textContent") == \
        "Ok and skipped checks (1)"
    links = json.loads(js(page, "JSON.stringify(Array.from(document.querySelectorAll('#p0 .pr a')).map("
                                "function (a) { return [a.textContent, a.href]; }))"))
    assert ["jira APOL-7", "https://acme.atlassian.net/browse/APOL-7"] in links
    assert not [t for t, _ in links if t.startswith("m365")]  # javascript: URL dropped: shown as text only
    assert "m365 item-9" in js(page, "document.getElementById('p0').textContent")
    OUTPUT.mkdir(exist_ok=True)
    js(page, "window.scrollTo(0, 0)")
    shot = page.screenshot(OUTPUT / "report-overview.png")
    js(page, "document.getElementById('projects').scrollIntoView()")
    page.screenshot(OUTPUT / "report-projects.png")
    assert shot.stat().st_size > 10_000
    assert page.errors() == []
