"""`pmo-hub demo` end to end, as a new user meets it: its printed summary, then its HTML report in Chromium.

The acceptance of the reporting issue: the demo produces the report and prints its path; opened in headless
Chromium it shows the overview, the trend across its runs and the project details, with no console errors.
A screenshot is left in test-output/demo-report.png.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hub import cli
from tests.report.browser import Chromium, ensure_chromium

OUTPUT = Path(__file__).resolve().parents[2] / "test-output"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("demo")
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = cli.main(["demo", "--out", str(out_dir)])
    return code, buf.getvalue()


def test_demo_prints_its_runs_and_the_report_path(demo):
    code, text = demo
    assert code == 0, text
    second = text.split("Second sync")[1].split("Report run")[0]
    assert "Write requests counted by the sandbox: jira 0, sheets 0, graph 0" in second
    assert re.search(r"Messages sent: (\d+) of \1 \(executive summary to executives@example.com; digests to \d+ PMs",
                     text), text
    assert Path(re.search(r"HTML report: (\S+)", text).group(1)).is_file()


def test_demo_report_in_chromium_shows_overview_trend_and_projects(demo, tmp_path):
    path, why = ensure_chromium()
    if path is None:
        pytest.skip(f"headless Chromium unavailable: {why}")
    report = Path(re.search(r"HTML report: (\S+)", demo[1]).group(1))
    with Chromium(path, tmp_path) as browser:
        page = browser.open(report.as_uri())
        page.wait_for("document.documentElement.getAttribute('data-ready')")
        assert page.errors() == []
        assert page.evaluate("document.querySelectorAll('#overview svg').length") >= 8
        # three runs (two syncs and the report run): the trend line has a point for each
        points = page.evaluate("document.querySelector('#trend svg polyline').getAttribute('points')")
        assert len(points.split()) >= 3
        projects = page.evaluate("document.querySelectorAll('details.proj').length")
        assert projects >= 48
        page.evaluate("document.querySelector('details.proj').open = true")
        page.browser.pump(0.2)
        assert page.evaluate("document.querySelectorAll('details.proj .pr a').length") > 0
        assert [u for u in page.requests() if not u.startswith("file://")] == []
        OUTPUT.mkdir(exist_ok=True)
        assert page.screenshot(OUTPUT / "demo-report.png").stat().st_size > 10_000
        assert page.errors() == []
