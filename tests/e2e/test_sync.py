"""Sync against the sandbox through the real `jira` library: idempotence, incremental pulls, conflicts, caps."""

from __future__ import annotations

import json

import pytest

from connectors.jira.connector import COMMENT_MARKER, adf_text
from hub.errors import SafetyCapError


def hub_comments(hub, key: str) -> list[dict]:
    client = hub.as_user(hub.bot)
    return [c.raw for c in client.comments(key) if COMMENT_MARKER in adf_text(c.raw.get("body"))]


def project_records(hub) -> dict[str, str]:
    """PMO project key -> key of its project-record issue, read through the API."""
    client = hub.as_user(hub.bot)
    issues = client.enhanced_search_issues('issuetype = "Project"', maxResults=0, fields=["project"])
    return {i.fields.project.key: i.key for i in issues}


def test_second_sync_makes_zero_writes_and_one_search(hub):
    first = hub.sync()
    assert first.outcome == "ok", first.pulls
    records = project_records(hub)
    assert first.applied.done == 2 * len(records)  # fields + comment per project record
    # one comment request per record; field edits that set the same values share a bulk edit
    routes = hub.stats()["routes"]
    assert routes["POST /rest/api/{ver}/issue/{key}/comment"] == len(records)
    field_writes = routes.get("PUT /rest/api/{ver}/issue/{key}", 0) + routes.get("POST /rest/api/{ver}/bulk/issues/fields", 0)
    assert 0 < field_writes < len(records)
    assert hub.stats()["writes"] == len(records) + field_writes
    hub.server.stats.reset()
    second = hub.sync()
    st = hub.stats()
    assert st["writes"] == 0
    assert second.plan.ops == []
    # serverInfo (client start) + one search page: field ids and the time zone come from the cursor
    assert st["routes"] == {"GET /rest/api/{ver}/serverInfo": 1, "GET /rest/api/{ver}/search/jql": 1}
    assert second.pulls["jira"].full is False


def test_write_back_lands_in_jira_fields_and_one_comment_per_project(hub):
    outcome = hub.sync()
    client = hub.as_user(hub.bot)
    fid = {n: hub.field_id(n) for n in ("PMO Compliance", "PMO Open Violations")}
    by_project: dict[str, list] = {}
    for r in outcome.results:
        by_project.setdefault(r.project, []).append(r)
    for project, record in project_records(hub).items():
        issue = client.issue(record)
        status = getattr(issue.fields, fid["PMO Compliance"])
        value = status.value if hasattr(status, "value") else status
        alarms = [r for r in by_project.get(project, []) if r.status == "alarm"]
        assert getattr(issue.fields, fid["PMO Open Violations"]) == len(alarms)
        assert value in ("Compliant", "At risk", "Non-compliant", "Not assessed")
        assert (value == "Compliant") == (not alarms and any(r.status == "ok" for r in by_project.get(project, [])))
        comments = hub_comments(hub, record)
        assert len(comments) == 1
        assert adf_text(comments[0]["body"]).startswith(f"PMO compliance for {project}: {value}")


def test_incremental_pull_fetches_the_change_not_the_portfolio(hub):
    hub.sync()
    hub.sync()  # settles the hub's own writes (they bump `updated`)
    records = project_records(hub)
    project, record = sorted(records.items())[0]
    # the project's PM edits a risk by hand
    pm_email = hub.pm_of(project)
    client = hub.as_user(pm_email)
    risk = client.enhanced_search_issues(f'project = "{project}" AND issuetype = "Risk"', maxResults=1)[0]
    risk.update(fields={"summary": "Supplier insolvency risk (re-assessed)"})
    hub.server.stats.reset()
    outcome = hub.sync()
    pull = outcome.pulls["jira"]
    assert pull.full is False
    # the change, plus what the overlap window re-reads (the project records the hub itself wrote minutes
    # ago) - not the ~4,300 issues of the portfolio; of those, only the edited risk counts as changed
    assert pull.changed == 1
    assert pull.fetched <= len(records) + 1
    state = hub.state()
    try:
        mirrored = {r.key: r for r in state.records("jira", "risk")}
    finally:
        state.close()
    assert mirrored[risk.key].data["summary"] == "Supplier insolvency risk (re-assessed)"


def test_pm_edit_of_hub_field_survives_by_default_and_hub_wins_replaces_it(hub):
    hub.sync()
    records = project_records(hub)
    project, record = sorted(records.items())[0]
    fid = hub.field_id("PMO Open Violations")
    pm_email = hub.pm_of(project)
    hub.as_user(pm_email).issue(record).update(fields={fid: 99})
    outcome = hub.sync()
    assert [(c.record, c.field, c.resolution) for c in outcome.plan.conflicts] == [
        (record, "open_violations", "kept source value")]
    assert getattr(hub.as_user(pm_email).issue(record).fields, fid) == 99  # the edit survives
    hub.rewrite('\n[sync]\nconflict_policy = "hub-wins"\n')
    outcome = hub.sync()
    assert [c.resolution for c in outcome.plan.conflicts] == ["overwritten"]
    assert getattr(hub.as_user(pm_email).issue(record).fields, fid) != 99
    state = hub.state()
    try:
        rows = [r for r in state.audit_rows(project=project) if r["field"] == "open_violations"]
    finally:
        state.close()
    outcomes = [(r["outcome"], r["before"], r["after"]) for r in rows]
    wanted = str(sum(1 for r in outcome.results if r.project == project and r.status == "alarm"))
    # first the flagged conflict (source 99, hub had written its count), then hub-wins overwriting 99
    assert [o[0] for o in outcomes] == ["written", "conflict", "conflict", "written"]
    assert outcomes[1][2] == "99.0" and outcomes[-1] == ("written", "99.0", wanted)


def test_mapping_mistake_that_rewrites_every_record_trips_the_cap_with_zero_writes(hub):
    hub.sync()
    # someone points the hub's "open violations" at the PMs' Approved FTE field, and hub-wins is on
    mapping = hub.tmp / "bad-mapping.toml"
    from importlib import resources

    text = resources.files("mappings").joinpath("jira.toml").read_text()
    mapping.write_text(text.replace('open_violations = "PMO Open Violations"', 'open_violations = "Approved FTE"'))
    hub.rewrite('\n[sync]\nconflict_policy = "hub-wins"\nmax_write_share = 0.5\n')
    cfg_text = hub.config_path.read_text().replace('mapping = "jira.toml"', f'mapping = "{mapping.name}"')
    hub.config_path.write_text(cfg_text)
    hub.server.stats.reset()
    with pytest.raises(SafetyCapError, match="max_write_share"):
        hub.sync()
    assert hub.stats()["writes"] == 0


def test_engine_finds_exactly_the_planted_violations(shared_hub):
    """The seed plants each violation alone in a known project: through the whole pipeline (sandbox ->
    jira library -> connector -> merge -> engine) the alarms must be exactly the planted rules."""
    outcome = shared_hub.sync(write=False)
    found: dict[str, set[str]] = {}
    for r in outcome.results:
        if r.status == "alarm":
            found.setdefault(r.project, set()).add(r.rule)
    assert not [r for r in outcome.results if r.status == "error"]
    needs_roster = {"TRAIN-01", "TRAIN-02"}  # training records come from the roster sheet, not Jira
    for p in shared_hub.server.seed.projects:
        assert found.get(p.key, set()) == p.planted - needs_roster, p.key
    assert {r.status for r in outcome.results if r.rule in needs_roster} == {"skip"}


def test_cli_check_json_and_exit_codes(hub, capsys):
    from hub.cli import main

    code = main(["check", "--config", str(hub.config_path), "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1  # the seeded portfolio has high and critical alarms
    assert set(out) == {"run", "results"}
    r = out["results"][0]
    assert {"rule", "status", "severity", "project", "subject", "reason", "evidence", "sources"} <= set(r)
    rules_alarmed = {x["rule"] for x in out["results"] if x["status"] == "alarm"}
    assert {"INIT-01", "STAT-01", "RISK-01", "GATE-01"} <= rules_alarmed
    assert all(s["url"].startswith(hub.server.url + "/browse/") for x in out["results"] for s in x["sources"]
               if s["system"] == "jira")
    assert hub.stats()["writes"] == 0  # check never writes
    assert main(["check", "--config", str(hub.config_path), "--fail-on", "critical"]) in (0, 1)


def test_dry_run_prints_plan_and_writes_nothing(hub, capsys):
    from hub.cli import main

    code = main(["sync", "--config", str(hub.config_path), "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0
    assert "nothing was written" in out and "compliance_status" in out
    assert hub.stats()["writes"] == 0


def test_hub_writes_do_not_count_as_pm_activity(hub):
    hub.sync()
    state = hub.state()
    try:
        before = {r.key: (r.updated, r.activity_at) for r in state.records("jira", "project")}
    finally:
        state.close()
    outcome = hub.sync()  # reads back the project records the first sync wrote to
    assert outcome.pulls["jira"].own_writes == len(before) and outcome.pulls["jira"].changed == 0
    state = hub.state()
    try:
        after = {r.key: (r.updated, r.activity_at) for r in state.records("jira", "project")}
    finally:
        state.close()
    for key, (updated, activity) in after.items():
        assert updated != before[key][0]  # Jira bumped `updated` for the hub's edit and comment
        assert activity == before[key][1]  # ... but the last person activity is unchanged


def test_audit_lists_and_exports_every_write(hub, capsys, tmp_path):
    from hub.cli import main

    outcome = hub.sync()
    assert main(["audit", "--config", str(hub.config_path), "--csv", str(tmp_path / "audit.csv")]) == 0
    import csv

    rows = list(csv.DictReader((tmp_path / "audit.csv").open()))
    field_rows = [r for r in rows if r["field"] != "comment"]
    assert len([r for r in rows if r["field"] == "comment"]) == outcome.plan.targets  # one summary per project
    assert len(field_rows) == sum(len(op.changes) for op in outcome.plan.ops if op.op == "fields")
    assert {r["outcome"] for r in rows} == {"written"}
    assert {r["field"] for r in field_rows} == {"compliance_status", "open_violations", "compliance_changed"}
    project = rows[0]["project"]
    capsys.readouterr()
    assert main(["audit", "--config", str(hub.config_path), "--project", project]) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith("audit rows") and all(line.count(" jira ") == 1 for line in out.splitlines()[:-1])
