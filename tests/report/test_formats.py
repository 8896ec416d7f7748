"""CSV, JSON, XLSX and Markdown: same results in every table format, formula text stays text."""

from __future__ import annotations

import csv
import json
import re
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook

from hub.errors import ConfigError
from hub.model import Result, SourceRef
from hub.report import FORMATS, ReportData, executive_summary, pm_digests, render
from hub.report.tabular import COLUMNS, FORMULA_TRIGGERS, JSON_COLUMNS, cell_text
from tests.report.conftest import FORMULA, XSS_IMG

UNESCAPED_TAG = re.compile(r"(?<!\\)<[a-zA-Z/]")


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_renders(fmt, data, tmp_path):
    out = render(fmt, data, tmp_path / "sub" / f"report.{fmt}")
    assert out == tmp_path / "sub" / f"report.{fmt}"
    assert out.stat().st_size > 0


def test_render_into_directory(data, tmp_path):
    assert render("md", data, tmp_path) == tmp_path / "report.md"


def test_unknown_format_lists_valid_ones(data, tmp_path):
    with pytest.raises(ConfigError, match=r"unknown report format 'pdf'.*\['html', 'json', 'csv', 'xlsx', 'md'\]"):
        render("pdf", data, tmp_path / "x.pdf")


# ------------------------------------------------------------------------------------------------ readers
def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and list(rows[0]) == list(COLUMNS)
    return rows


def un_neutralise(text: str) -> str:
    """What a CSV consumer does to get the raw value back (see hub.report.tabular)."""
    return text[1:] if text[:1] == "'" and text[1:2] and text[1] in FORMULA_TRIGGERS else text


def read_xlsx(path: Path) -> list[dict[str, str]]:
    ws = load_workbook(path)["Results"]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    assert rows[0] == list(COLUMNS)
    return [{c: ("" if v is None else v) for c, v in zip(COLUMNS, row, strict=True)} for row in rows[1:]]


def json_as_text(rec: dict) -> dict[str, str]:
    return {c: cell_text(c, rec[c]) for c in COLUMNS}


def test_csv_json_xlsx_hold_the_same_results(data, tmp_path):
    doc = json.loads(render("json", data, tmp_path / "r.json").read_text(encoding="utf-8"))
    from_json = [json_as_text(r) for r in doc["results"]]
    csv_rows = read_csv(render("csv", data, tmp_path / "r.csv"))
    from_csv = [{c: un_neutralise(v) for c, v in row.items()} for row in csv_rows]
    from_xlsx = read_xlsx(render("xlsx", data, tmp_path / "r.xlsx"))
    assert len(from_json) == len(data.results) == 13
    assert from_csv == from_json
    assert from_xlsx == from_json
    # structured columns are real JSON in the text formats
    for row in from_csv:
        for c in JSON_COLUMNS:
            if row[c]:
                json.loads(row[c])


def test_json_document(data, tmp_path):
    doc = json.loads(render("json", data, tmp_path / "r.json").read_text(encoding="utf-8"))
    assert {"run", "summary", "results"} <= set(doc)
    assert doc["run"]["id"] == "run-42"
    assert doc["summary"] == data.summary().model_dump(mode="json")
    first = doc["results"][0]
    assert list(first) == list(COLUMNS)
    assert first["sources"] == [{"system": "jira", "id": "APOL-1", "url": "https://acme.atlassian.net/browse/APOL-1"}]
    assert first["evidence"] == {"in_progress": 4, "initiation": "draft"}
    stat = next(r for r in doc["results"] if r["rule"] == "STAT-01" and r["project"] == "APOL")
    assert stat["evidence"]["last"] == "2024-05-13"
    assert stat["reason"] == f"Work item {XSS_IMG} blocks the report"  # data, unescaped: escaping is the HTML's job


def test_csv_neutralises_formulas(data, tmp_path):
    rows = read_csv(render("csv", data, tmp_path / "r.csv"))
    by_reason = {r["reason"]: r for r in rows}
    assert "'" + FORMULA in by_reason
    assert by_reason["'" + FORMULA]["remediation"] == "'@SUM(A1:A2)"
    assert "'+1 days since report" in by_reason
    sponsor = by_reason["'-Sponsor and PM named"]
    assert sponsor["remediation"] == "'\tcheck"
    for row in rows:
        for v in row.values():
            assert not (v and v[0] in FORMULA_TRIGGERS), v


def hostile_data() -> ReportData:
    texts = ["=1+1", "+1", "-1", "@A1", "#N/A", "=HYPERLINK(\"http://x\")", "\x07bell=", "ok"]
    results = [Result(rule="STAT-01", status="alarm", severity="high", project="P", subject=t, reason=t,
                      remediation=t, sources=[SourceRef(system="jira", id=t)]) for t in texts]
    return ReportData.build(run={"id": "=cmd|' /C calc'!A0"}, results=results)


def test_xlsx_formula_text_stays_text(tmp_path):
    out = render("xlsx", hostile_data(), tmp_path / "r.xlsx")
    wb = load_workbook(out)
    ws = wb["Results"]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:Q{ws.max_row}"
    cells = {c.value: c.data_type for row in ws.iter_rows(min_row=2) for c in row if c.value is not None}
    for text in ["=1+1", "+1", "-1", "@A1", "#N/A", "=HYPERLINK(\"http://x\")", "bell="]:
        assert cells[text] == "s", text
    assert "=cmd|' /C calc'!A0" in cells  # run_id column
    with zipfile.ZipFile(out) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                xml = z.read(name).decode()
                assert "<f>" not in xml and "<f " not in xml, name
                assert 't="e"' not in xml, name
    summary = {row[0].value: row[1].value for row in wb["Summary"].iter_rows() if row[0].value}
    assert summary["run id"] == "=cmd|' /C calc'!A0"
    assert wb["Summary"]["B3"].data_type == "s"


def test_xlsx_summary_sheet(data, tmp_path):
    wb = load_workbook(render("xlsx", data, tmp_path / "r.xlsx"))
    assert wb.sheetnames == ["Summary", "Results"]
    values = {row[0].value: row[1].value for row in wb["Summary"].iter_rows() if row[0].value}
    assert values["compliance score"] == "40.0%"
    assert values["results"] == 13
    assert values["  alarm"] == 6


def test_markdown_summary(data, tmp_path):
    text = render("md", data, tmp_path / "r.md").read_text(encoding="utf-8")
    assert text.startswith("## PMO compliance 40.0% — run run-42")
    assert "4 ok, 6 alarm, 1 waived, 1 skipped, 1 error" in text
    assert "### Top violations" in text and "**INIT-01** (critical)" in text
    assert "### Expired waivers" in text and "STAT-01 on project:GAMA, expired 2024-05-01" in text
    assert not UNESCAPED_TAG.search(text)  # every "<" of source text is escaped as "\<"
    assert "\\<img src=x" in text
    assert "javascript:" not in text


def test_pm_digests_hold_only_their_projects(data):
    digests = pm_digests(data)
    assert set(digests) == {"ann@example.com", "bob@example.com", "eve@example.com"}
    ann = digests["ann@example.com"]
    assert "APOL" in ann and "GAMA" in ann and "BETA" not in ann and "Evil" not in ann
    assert "INIT-01" in ann and "Fix: Get the initiation request approved" in ann
    assert "RISK-01" not in ann  # waived: not an open violation
    assert "GATE-01" not in ann  # ok
    assert "No open violations." in ann  # GAMA
    bob = digests["bob@example.com"]
    assert "STAT-02" in bob and "APOL" not in bob and "could not be evaluated" in bob
    assert "Bob \\<b\\>Builder\\</b\\>" in bob
    assert "\\<script\\>" in digests["eve@example.com"]
    assert not any(UNESCAPED_TAG.search(d) for d in digests.values())


def test_executive_summary(data):
    text = executive_summary(data)
    assert text.startswith("PMO compliance 40.0% (run run-42).")
    assert "4 projects: 1 red, 2 amber, 1 green." in text
    assert "Alarms by severity: critical 1, high 2, medium 2, low 1." in text
    assert "Trend: down 20.0 points since the previous run (60.0%)." in text
    assert "Expired waivers: 1" in text and "Source failures: m365" in text
    assert not UNESCAPED_TAG.search(text)
    assert len(text.splitlines()) <= 8
