"""End to end through the real gspread against the sandbox: a full sync with Jira and the register, request
counts, write-back of the governance columns and the results tab, identity findings, rules on sheet data."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from connectors.sheets.connector import SheetsConnector
from hub import writeback
from hub.model import Result
from hub.sandbox.seed import HOSTILE_FORMULA
from hub.sandbox.sheets_seed import REGISTER_HEADER_ROW
from tests.sheets.conftest import Hub, sheets_server


def register_rows(hub: Hub) -> dict[str, dict[str, str]]:
    """Jira Key -> {header: formatted value} for every register row, read by the PMO office through gspread."""
    values = hub.sheet().get_all_values()
    header = values[REGISTER_HEADER_ROW - 1]
    key = header.index("Jira Key")
    out = {}
    for row in values[REGISTER_HEADER_ROW:]:
        if len(row) > key and row[key]:
            out[row[key]] = {h: row[i] if i < len(row) else "" for i, h in enumerate(header) if h}
    return out


def test_full_sync_writes_governance_and_results_then_nothing(full_hub):
    hub = full_hub
    first = hub.sync()
    assert first.outcome == "ok", (first.pulls, first.applied and first.applied.errors)
    st = hub.stats()
    assert st["reads"] <= 2 and st["writes"] <= 2, st
    alarms: Counter[str] = Counter(r.project for r in first.results if r.status == "alarm")
    rows = register_rows(hub)
    assert set(rows) == set(hub.app.seed_info["register_rows"])
    for key, row in rows.items():
        status, changed_on = first.plan.statuses[key]
        assert row["PMO Compliance"] == status
        assert row["PMO Open Violations"] == str(alarms.get(key, 0))
        assert row["PMO Compliance Changed"] == changed_on
    table = hub.sheet("PMO Compliance").get_all_values()
    shown = [r for r in first.results if r.status in ("alarm", "waived", "error")]
    assert table[0] == ["Project", "Rule", "Severity", "Status", "Subject", "Reason"]
    assert len(table) - 1 == len(shown)
    assert sorted(tuple(r[:5]) for r in table[1:]) == sorted(
        (r.project or "", r.rule, r.severity, r.status, r.subject) for r in shown)

    hub.server.stats.reset()
    second = hub.sync()
    assert second.outcome == "ok" and hub.stats()["writes"] == 0
    assert [op for op in second.plan.ops if op.system == "sheets"] == []
    assert hub.stats()["reads"] <= 2  # re-read once: the hub's own writes moved modifiedTime
    hub.server.stats.reset()
    third = hub.sync()
    assert hub.stats() == {"reads": 0, "writes": 0, "drive": 1, "token": 1}  # unchanged: Drive only
    assert third.pulls["sheets"].fetched == 0 and third.plan.ops == []


def test_identity_findings_both_ways(full_hub):
    out = full_hub.sync(write=False)
    info = full_hub.app.seed_info
    found = defaultdict(set)
    for u in out.portfolio.unmatched:
        found[u.system].add(u.key)
    assert found["jira"] == set(info["jira_only"])  # Jira projects without a register row
    assert found["sheets"] == set(info["register_only"])  # register rows without a Jira project
    data01 = {r.subject for r in out.results if r.rule == "DATA-01" and r.status == "alarm"}
    assert {f"project:{k}" for k in info["jira_only"] + info["register_only"]} <= data01


def test_sheet_and_jira_records_are_joined_not_doubled(full_hub):
    out = full_hub.sync(write=False)
    pf = out.portfolio
    keys = [r.key for r in pf.raid]
    assert len(keys) == len(set(keys))
    joined = [r for r in pf.raid if {s.system for s in r.sources} == {"jira", "sheets"}]
    assert joined, "RAID entries in both systems should be one record with both sources"
    project = pf.projects[next(iter(full_hub.app.seed_info["register_rows"]))]
    assert {s.system for s in project.sources} >= {"jira", "sheets"}
    assert not [r for r in out.results if r.rule == "DATA-02" and r.status == "alarm"]  # same seed: they agree
    trained = [p for p in pf.people.values() if p.trainings]
    assert trained and all(p.id == p.id.lower() and p.trainings[0].sources[0].system == "sheets" for p in trained)


def test_rules_run_on_sheet_data(tmp_path):
    """TRAIN-01, STAT-02, APPR-01 and RISK-02 with the register as the only source: every planted violation of a
    project in the register is found, and nothing else alarms."""
    server = sheets_server(28)
    try:
        hub = Hub(server, tmp_path, jira=False)
        out = hub.sync(write=False)
        in_register = set(server.app("sheets").seed_info["register_rows"])
        for rule in ("TRAIN-01", "STAT-02", "APPR-01", "RISK-02"):
            ran = [r for r in out.results if r.rule == rule and r.status in ("ok", "alarm")]
            assert ran, rule
            assert all(any(s.system == "sheets" for s in r.sources) for r in ran), rule
            alarmed = {r.project for r in ran if r.status == "alarm"}
            planted = {p.key for p in server.seed.projects if rule in p.planted and p.key in in_register}
            assert planted and alarmed == planted, (rule, alarmed, planted)
    finally:
        server.stop()


def test_text_from_jira_starting_with_equals_stays_text(full_hub):
    """A Jira summary like =HYPERLINK(...) quoted in a result is written RAW and reads back as the same text."""
    hub = full_hub
    first = hub.sync()
    hostile = next(h for h in hub.server.seed.hostile if h.text == HOSTILE_FORMULA)
    summary = next(i.summary for i in first.portfolio.work_items if i.key == hostile.record)
    assert summary == HOSTILE_FORMULA  # as pulled from Jira
    extra = Result(rule="RISK-06", status="alarm", severity="medium", project=hostile.project,
                   subject=f"work_item:{hostile.record}", reason=summary)
    cfg = hub.config()
    state = hub.state()
    try:
        conn = SheetsConnector(cfg.sheets, _mapping(cfg), credentials_file=cfg.path(cfg.sheets.credentials_file),
                               policy=_policy())
        result = conn.pull(None, full=True)
        targets = conn.targets(result.records)
        plan = writeback.plan(targets, first.results + [extra], state, today=first.started.date(),
                              conflict_policy="flag")
        assert "results" in [op.op for op in plan.ops]
        report = writeback.apply(plan, {"sheets": conn}, state, "run-hostile")
        assert report.done == len(plan.ops) and not report.errors
    finally:
        state.close()
    ws = hub.sheet("PMO Compliance")
    for option in ("FORMULA", "UNFORMATTED_VALUE", "FORMATTED_VALUE"):
        cells = [c for row in ws.get_all_values(value_render_option=option) for c in row]
        assert HOSTILE_FORMULA in cells, option
        assert "Click for bonus" not in cells, option


def _mapping(cfg):
    from connectors.sheets.mapping import load_sheets_mapping

    return load_sheets_mapping(cfg.sheets.mapping, base_dir=cfg.base_dir)


def _policy():
    from connectors.http import RetryPolicy

    return RetryPolicy(max_attempts=3, base_s=0.01)


@pytest.mark.parametrize("locale", ["en_GB", "en_US"])
def test_other_locales_read_the_same_values(tmp_path, locale):
    server = sheets_server(6, locale=locale)
    try:
        out = Hub(server, tmp_path, jira=False).sync(write=False)
        for p in server.seed.projects:
            proj = out.portfolio.projects.get(p.key)
            if proj is None:
                continue
            assert proj.budget_approved == p.budget_approved and proj.planned_finish == p.planned_finish
            assert proj.fte_assigned == p.fte_assigned and not proj.invalid, proj.invalid
    finally:
        server.stop()


def test_faults_and_quota_are_retried_by_the_shared_policy(sheets_hub):
    """A 503, a dropped connection and Google's per-minute quota (429, no Retry-After) on the way: the sync
    still completes, through the one retry policy."""
    hub = sheets_hub
    hub.write(extra="[retry]\nbase_s = 0.2\nmax_wait_s = 1\n")
    hub.server.add_fault(system="sheets", route="*values:batchGet", kind="status", status=503, times=1)
    hub.server.add_fault(system="sheets", route="/v4/spreadsheets/{id}", method="GET", kind="reset", times=1)
    hub.app.read_per_user, hub.app.quota_window_s = 1, 0.3
    out = hub.sync()
    assert out.outcome == "ok", out.pulls
    assert out.retry_wait_s > 0
    snap = hub.server.stats.snapshot()["systems"]["sheets"]
    assert snap["faults"] == 2 and snap["routes"]["GET /v4/spreadsheets/{id}/values:batchGet"] >= 2
    assert hub.app.quota_refusals >= 1
    assert out.applied.done == len(out.plan.ops) > 0
