"""The seed generator and the Jira emulator, driven over real HTTP with the real `jira` client and `requests`."""

from __future__ import annotations

import time
import tomllib
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from jira import JIRA, JIRAError

from hub.sandbox import seed as seedmod
from hub.sandbox.jira import BOT_EMAIL, CF, JiraApp
from hub.sandbox.seed import SeedProject, generate

from .conftest import client_for, session_for

ROOT = Path(__file__).resolve().parents[2]
ADF = lambda text: {"type": "doc", "version": 1, "content": [  # noqa: E731
    {"type": "paragraph", "content": [{"type": "text", "text": text}]}]}


def all_keys_jql(server) -> str:
    return "project in (" + ", ".join(p.key for p in server.seed.projects) + ")"


def first_pm(server) -> str:
    return server.seed.projects[0].pm


# ---- the seed ---------------------------------------------------------------------------------------------
FIXED_TODAY = date(2026, 11, 20)


def business_days(a: date, b: date) -> int:
    return sum(1 for n in range((b - a).days) if (a + timedelta(days=n + 1)).weekday() < 5)


def violations(p: SeedProject, pf) -> set[str]:
    """An independent, simplified reading of the PMO catalog (default thresholds) over one seed project."""
    t = pf.today
    out: set[str] = set()
    items = p.work_items
    latest = p.latest_report
    open_raid = [r for r in p.raid if r.status == "open"]
    open_risks = [r for r in open_raid if r.kind == "risk"]
    pm = pf.people[p.pm]
    valid = [tr for tr in pm.trainings if tr.expires_on and tr.expires_on >= t]
    gate_ok = lambda g: p.gate(g) is not None and p.gate(g).decision in ("approved", "conditional")  # noqa: E731
    if p.initiation.status != "approved" and (
            any(i.status_category != "todo" for i in items) or p.actual_cost > 0):
        out.add("INIT-01")
    if p.initiation.status == "submitted" and business_days(p.initiation.submitted_on, t) > 10:
        out.add("INIT-04")
    if p.phase != "Initiation" and not valid:
        out.add("TRAIN-01")
    if valid and max(tr.expires_on for tr in valid) <= t + timedelta(days=30):
        out.add("TRAIN-02")
    if latest.report_date < t - timedelta(days=14):
        out.add("STAT-01")
    if None in (latest.overall, latest.schedule, latest.cost, latest.scope) or not latest.summary:
        out.add("STAT-02")
    overdue_ms = [m for m in p.milestones if m.done_on is None and m.planned < t]
    if overdue_ms:
        out.add("VAR-04")
        if latest.overall == "green":
            out.add("STAT-03")
    if latest.overall in ("amber", "red") and not (latest.summary and any(a.owner and a.due for a in latest.actions)):
        out.add("STAT-04")
    if len(p.status_reports) >= 2 and all(r.overall == "red" for r in p.status_reports[-2:]):
        out.add("STAT-05")
    excess = max(p.forecast_cost, p.actual_cost) - p.budget_approved
    approved_crs = [a for a in p.approvals if a.kind == "change_request" and a.status == "approved"]
    if excess > 0 and not any((a.amount or 0) >= excess for a in approved_crs):
        out.add("APPR-01")
    if p.fte_assigned > p.fte_approved:
        out.add("APPR-02")
    if any(a.status == "pending" and business_days(a.requested_on, t) > 10 for a in p.approvals):
        out.add("APPR-03")
    for r in open_risks:
        if r.score >= 12 and not r.owner:
            out.add("RISK-01")
        if r.score >= 12 and not (r.response and r.due):
            out.add("RISK-02")
        if r.score >= 20 and not (r.escalated and r.escalated_on and (r.escalated_on - r.raised_on).days <= 5):
            out.add("RISK-04")
    if any(r.last_reviewed is None or r.last_reviewed < t - timedelta(days=30) for r in open_risks):
        out.add("RISK-03")
    if any(r.kind == "action" and r.due and r.due < t for r in open_raid):
        out.add("RISK-05")
    linked = {r.linked_item for r in p.raid if r.linked_item}
    if any(i.priority == "Blocker" and i.status_category != "done" and i.key not in linked
           and i.created.date() < t - timedelta(days=5) for i in items):
        out.add("RISK-06")
    if (p.phase == "Planning" and not gate_ok("G0")) or (p.phase in ("Execution", "Closing") and not gate_ok("G1")):
        out.add("GATE-01")
    if any(g.decision != "pending" and not (g.approver and g.decided_on) for g in p.gates):
        out.add("GATE-02")
    if any(g.decision == "pending" and g.planned_on and g.planned_on < t for g in p.gates):
        out.add("GATE-03")
    if any(g.decision == "conditional" and any(not c.done and c.due and c.due < t for c in g.conditions)
           for g in p.gates):
        out.add("GATE-04")
    order = seedmod.PHASES
    if any(ch.from_phase and order.index(ch.to_phase) != order.index(ch.from_phase) + 1 for ch in p.phase_history):
        out.add("GATE-05")
    if p.phase in ("Execution", "Closing") and p.baseline is None:
        out.add("VAR-01")
    if p.baseline and p.forecast_finish:
        duration = (p.baseline.finish - p.baseline.start).days
        if (p.forecast_finish - p.baseline.finish).days >= 0.05 * duration:
            out.add("VAR-02")
    if p.forecast_cost >= p.budget_approved * 1.05:
        out.add("VAR-03")
    return out


@pytest.fixture(scope="module")
def portfolio():
    return generate(today=FIXED_TODAY)


def test_seed_is_deterministic_and_seed_dependent(portfolio):
    assert generate(today=FIXED_TODAY) == portfolio
    other = generate(seed=8, today=FIXED_TODAY)
    assert [p.key for p in other.projects] != [p.key for p in portfolio.projects]
    # the first projects do not depend on how many follow
    assert generate(today=FIXED_TODAY, projects=5).projects == portfolio.projects[:5]


def test_seed_shape(portfolio):
    assert len(portfolio.projects) == 48
    assert portfolio.work_item_count == 48 * 80
    keys = [p.key for p in portfolio.projects]
    assert len(set(keys)) == len(keys) and all(k.isalpha() and k.isupper() and 3 <= len(k) <= 5 for k in keys)
    assert len(portfolio.people_with_role("pm")) == 12 and len(portfolio.people_with_role("sponsor")) == 8
    assert all(e.endswith("@example.com") for e in portfolio.people)
    assert {p.department for p in portfolio.projects} <= set(seedmod.DEPARTMENTS)
    assert {p.state for p in portfolio.projects} >= {"active", "closed"}
    assert {p.phase for p in portfolio.projects} == set(seedmod.PHASES)
    for p in portfolio.projects:
        assert 2 <= len(p.status_reports) <= 6
        record_keys = [r.key for r in (*p.gates, *p.status_reports, *p.raid, *p.milestones, *p.approvals,
                                       *p.work_items)]
        assert record_keys == [f"{p.key}-{n}" for n in range(2, len(record_keys) + 2)]
    trainings = [tr for pm in portfolio.people_with_role("pm") for tr in pm.trainings]
    assert any(tr.expires_on < FIXED_TODAY for tr in trainings)  # expired
    assert any(not pm.trainings for pm in portfolio.people_with_role("pm"))  # missing
    assert any(FIXED_TODAY <= tr.expires_on <= FIXED_TODAY + timedelta(days=30) for tr in trainings)  # expiring


def test_seed_dates_are_relative_to_today(portfolio):
    later = generate(today=FIXED_TODAY + timedelta(days=100))
    shift = timedelta(days=100)
    for a, b in zip(portfolio.projects, later.projects):
        assert b.latest_report.report_date - a.latest_report.report_date == shift
        assert b.planted == a.planted
    start_of_today = datetime(2026, 11, 20, tzinfo=seedmod.UTC)
    assert all(i.updated <= start_of_today and i.created <= i.updated
               for p in portfolio.projects for i in p.work_items)


def test_planted_violations_cover_the_catalog(portfolio):
    planted = portfolio.planted()
    for rule in seedmod.ALL_PLANTS:
        assert planted.get(rule), f"{rule} not planted"
    for rule in ("INIT-01", "STAT-01", "RISK-01", "GATE-01"):
        assert len(planted[rule]) >= 2
    active = [p for p in portfolio.projects if p.state != "closed"]
    compliant = [p for p in active if not p.planted]
    assert 0.35 <= len(compliant) / len(portfolio.projects) <= 0.65


@pytest.mark.parametrize("seed", [7, 11])
def test_planted_violations_are_exactly_what_the_data_shows(seed):
    pf = generate(seed=seed, today=FIXED_TODAY)
    for p in pf.projects:
        if p.state == "closed":
            assert not p.planted
            continue
        assert violations(p, pf) == p.planted, p.key


def test_hostile_text_is_planted(portfolio):
    texts = [h.text for h in portfolio.hostile]
    assert any(t.startswith("=HYPERLINK(") for t in texts)
    assert "<img src=x onerror=alert(1)>" in texts
    assert any("\u202e" in t for t in texts)


def test_seed_scales_to_100k_items():
    started = time.perf_counter()
    pf = generate(projects=1000, items_per_project=100, today=FIXED_TODAY)
    elapsed = time.perf_counter() - started
    assert pf.work_item_count == 100_000
    assert len({p.key for p in pf.projects}) == 1000
    assert elapsed < 10, elapsed


# ---- basics: server info, auth, users ---------------------------------------------------------------------
def test_server_info_is_anonymous_and_cloud(sandbox, jira):
    r = requests.get(f"{sandbox.url}/rest/api/3/serverInfo")
    assert r.status_code == 200 and r.json()["deploymentType"] == "Cloud"
    assert jira._is_cloud and jira._version == (1001, 0, 0)


@pytest.mark.parametrize("auth", [None, (BOT_EMAIL, "ATATT3xWRONGTOKEN"), ("nobody@example.com", "x")])
def test_auth_is_required(sandbox, auth):
    r = requests.get(f"{sandbox.url}/rest/api/3/myself", auth=auth)
    assert r.status_code == 401
    body = r.json()
    assert body["errorMessages"] and body["errors"] == {}
    assert "ATATT3xWRONGTOKEN" not in r.text
    with pytest.raises(JIRAError) as err:
        JIRA(server=sandbox.url, basic_auth=(BOT_EMAIL, "wrong"), options={"rest_api_version": "3"},
             max_retries=0).myself()
    assert err.value.status_code == 401


def test_myself_has_a_non_utc_time_zone(jira, jira_app):
    me = jira.myself()
    assert me["emailAddress"] == BOT_EMAIL and me["accountId"] == jira_app.bot.account_id
    assert me["timeZone"] == "Australia/Sydney" and me["locale"]


def test_every_pm_can_log_in(sandbox, jira_app):
    users = requests.get(f"{sandbox.url}/_sandbox/jira/users").json()["users"]
    pms = [u for u in users if u["role"] == "pm"]
    assert len(pms) == 12 and all(u["token"] for u in pms)
    pm = pms[0]
    assert jira_app.token_for(pm["email"]) == pm["token"]
    me = client_for(sandbox, pm["email"]).myself()
    assert me["emailAddress"] == pm["email"]


def test_fields_carry_the_mapping_display_names(jira):
    mapping = tomllib.loads((ROOT / "mappings" / "jira.toml").read_text())
    fields = jira.fields()
    by_name = {f["name"]: f for f in fields}
    ids = {f["id"] for f in fields}
    for section, entries in mapping.items():
        if section == "issue_types":
            continue
        for name in entries.values():
            assert name in by_name or name in ids, f"{section}: {name!r} missing from GET field"
    phase = by_name["Project Phase"]
    assert phase["custom"] and phase["id"].startswith("customfield_")
    assert f"cf[{phase['id'].split('_')[1]}]" in phase["clauseNames"]
    assert phase["schema"]["type"] == "option"
    assert by_name["PMO Open Violations"]["schema"]["type"] == "number"
    assert by_name["Risk Owner"]["schema"]["type"] == "user"


def test_issue_types_and_layout(sandbox, jira):
    key = sandbox.seed.projects[0].key
    record = jira.issue(f"{key}-1")
    assert record.fields.issuetype.name == "Project"
    phase = getattr(record.fields, CF["Project Phase"].id)
    assert phase.value == sandbox.seed.projects[0].phase
    pm = getattr(record.fields, CF["Project Manager"].id)
    assert pm.emailAddress == sandbox.seed.projects[0].pm
    assert getattr(record.fields, CF["PMO Compliance"].id) is None  # governance starts empty
    children = jira.enhanced_search_issues(f'parent = "{key}-1"', maxResults=0, fields="issuetype")
    types = {i.fields.issuetype.name for i in children}
    assert {"Gate", "Status Report", "Risk", "Milestone", "Change Request"} <= types
    assert types & {"Story", "Task", "Bug"}


# ---- search -----------------------------------------------------------------------------------------------
def test_paging_covers_every_issue_exactly_once(sandbox, jira, jira_app):
    jql_text = all_keys_jql(sandbox) + " ORDER BY updated DESC"
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = jira.enhanced_search_issues(jql_text, nextPageToken=token, maxResults=37, fields="summary,updated",
                                           json_result=True)
        assert "total" not in page
        seen += [i["id"] for i in page["issues"]]
        pages += 1
        token = page.get("nextPageToken")
        if page["isLast"]:
            assert token is None
            break
    assert len(seen) == len(set(seen)) == len(jira_app.issues)
    assert pages == -(-len(jira_app.issues) // 37)
    assert jira.approximate_issue_count(all_keys_jql(sandbox)) == len(jira_app.issues)


def test_fetch_all_with_the_client(sandbox, jira):
    key = sandbox.seed.projects[1].key
    issues = jira.enhanced_search_issues(f"project = {key} ORDER BY key", maxResults=0, fields="summary")
    assert len(issues) == jira.approximate_issue_count(f"project = {key}")
    assert [i.key for i in issues][:2] == [f"{key}-1", f"{key}-2"]


def test_page_size_and_default_fields(sandbox, http):
    url = f"{sandbox.url}/rest/api/3/search/jql"
    ids_only = http.get(url, params={"jql": all_keys_jql(sandbox), "maxResults": 500}).json()
    assert len(ids_only["issues"]) == 500 and set(ids_only["issues"][0]) == {"id"}
    with_fields = http.get(url, params={"jql": all_keys_jql(sandbox), "maxResults": 500, "fields": "summary"}).json()
    assert len(with_fields["issues"]) == 100 and "summary" in with_fields["issues"][0]["fields"]
    post = http.post(url, json={"jql": all_keys_jql(sandbox), "maxResults": 3, "fields": ["summary", "status"],
                                "expand": "names,changelog"}).json()
    assert post["names"]["summary"] == "Summary" and "changelog" in post["issues"][0]
    repeated = http.get(url, params=[("jql", all_keys_jql(sandbox)), ("fields", "summary"), ("fields", "status"),
                                     ("maxResults", "2")]).json()
    assert set(repeated["issues"][0]["fields"]) == {"summary", "status"}


def test_invalid_page_token_is_rejected(sandbox, http):
    url = f"{sandbox.url}/rest/api/3/search/jql"
    r = http.get(url, params={"jql": all_keys_jql(sandbox), "nextPageToken": "bm90LWEtdG9rZW4"})
    assert r.status_code == 400 and r.json()["errorMessages"]
    good = http.get(url, params={"jql": all_keys_jql(sandbox), "maxResults": 1}).json()["nextPageToken"]
    other = http.get(url, params={"jql": "project = " + sandbox.seed.projects[0].key, "nextPageToken": good})
    assert other.status_code == 400


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("ver", ["2", "3"])
def test_old_search_is_gone(sandbox, http, method, ver):
    r = http.request(method, f"{sandbox.url}/rest/api/{ver}/search", params={"jql": "project = X"})
    assert r.status_code == 410
    assert r.json()["errorMessages"][0].startswith("The requested API has been removed.")


@pytest.mark.parametrize("text, fragment", [
    ("project = ", "Error in the JQL Query"),
    ("project == X", "Error in the JQL Query"),
    ("status = Done AND (", "Error in the JQL Query"),
    ('summary ~ "unterminated', "Error in the JQL Query"),
    ("nosuchfield = 1", "'nosuchfield'"),
    ('"No Such Field" = 1', "'No Such Field'"),
    ("project = NOPE", "'NOPE'"),
    ("summary = x", "not supported"),
    ("ORDER BY key", "Unbounded"),
    ("updated > 'yesterday'", "Date value"),
])
def test_invalid_jql_is_a_400(sandbox, http, text, fragment):
    r = http.get(f"{sandbox.url}/rest/api/3/search/jql", params={"jql": text})
    assert r.status_code == 400, text
    body = r.json()
    assert body["errors"] == {} and fragment in body["errorMessages"][0]


def _count(jira: JIRA, text: str) -> int:
    return jira.approximate_issue_count(text)


def test_jql_fields_and_operators(sandbox, jira, jira_app):
    seed = sandbox.seed
    keys = all_keys_jql(sandbox)
    in_execution = sum(1 for p in seed.projects if p.phase == "Execution")
    assert _count(jira, f'{keys} AND "Project Phase" = Execution') == in_execution
    assert _count(jira, f"cf[{CF['Project Phase'].num}] = 'execution'") == in_execution
    assert _count(jira, f'"Project Phase[Dropdown]" in (Execution)') == in_execution
    done = sum(1 for p in seed.projects for i in p.work_items if i.status == "Done")
    assert _count(jira, f"{keys} AND issuetype in (Story, Task, Bug, Sub-task) AND status = Done") == done
    not_done = _count(jira, f"{keys} AND type in (Story, Task, Bug, Sub-task) AND statusCategory != Done")
    assert not_done == seed.work_item_count - done
    unassigned = sum(1 for p in seed.projects for i in p.work_items if i.assignee is None)
    assigned_to_someone_else = _count(jira, f"{keys} AND type in (Story, Task, Bug, Sub-task) AND assignee != "
                                            f'"{BOT_EMAIL}"')
    assert assigned_to_someone_else == seed.work_item_count - unassigned  # != never matches an empty value
    assert _count(jira, f"{keys} AND type = Story AND assignee is EMPTY") == sum(
        1 for p in seed.projects for i in p.work_items if i.assignee is None and i.type == "Story")
    blockers = sum(1 for p in seed.projects for i in p.work_items if i.priority == "Blocker")
    assert _count(jira, f"{keys} AND priority = Blocker AND NOT type = Risk") == blockers
    raid_issues = sum(1 for p in seed.projects for r in p.raid if r.kind == "issue")
    assert _count(jira, f"{keys} AND labels = raid-issue") == raid_issues
    big_risks = sum(1 for p in seed.projects for r in p.raid if r.kind == "risk" and r.score >= 12)
    risks = sum(1 for p in seed.projects for r in p.raid if r.kind == "risk")
    assert _count(jira, f'{keys} AND "Risk Probability" >= 1') == risks
    got = jira.enhanced_search_issues(f'{keys} AND type = Risk AND "Risk Impact" is not EMPTY', maxResults=0,
                                      fields="Risk Probability,Risk Impact")
    assert len(got) == risks
    scores = [i.raw["fields"]["Risk Probability"] * i.raw["fields"]["Risk Impact"] for i in got]
    assert sum(1 for score in scores if score >= 12) == big_risks
    hostile = next(h for h in seed.hostile if h.text.startswith("=HYPERLINK"))
    found = jira.enhanced_search_issues(f'{keys} AND summary ~ "HYPERLINK evil"', maxResults=5, fields="summary")
    assert [i.fields.summary for i in found] == [hostile.text]


def test_jql_dates_are_read_in_the_users_time_zone(sandbox, http, jira_app):
    tz = ZoneInfo(jira_app.bot.time_zone)
    issue = jira_app.issues[next(iter(jira_app.issues))]
    updated = issue.updated
    key = issue.key
    url = f"{sandbox.url}/rest/api/3/search/jql"

    def matches(literal: str, op: str = ">=") -> bool:
        jql_text = f'key = {key} AND updated {op} "{literal}"'
        r = http.get(url, params={"jql": jql_text})
        assert r.status_code == 200, r.text
        return bool(r.json()["issues"])

    local_minute = updated.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    next_local_minute = (updated.astimezone(tz) + timedelta(minutes=1)).strftime("%Y/%m/%d %H:%M")
    assert matches(local_minute) and not matches(next_local_minute)
    assert matches(local_minute, "=")  # '=' covers the whole minute
    # the same wall-clock text in UTC is a different instant: Sydney is 10-11 hours ahead
    utc_plus_one = (updated.astimezone(ZoneInfo("UTC")) + timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M")
    assert matches(utc_plus_one)
    # a PM in another zone reads the same text differently
    pm = next(u for u in jira_app.users if u.role == "pm" and u.time_zone.startswith("America/"))
    pm_http = session_for(sandbox, pm.email)
    r = pm_http.get(url, params={"jql": f'key = {key} AND updated >= "{local_minute}"'})
    assert r.json()["issues"] == []
    # the datetimes themselves are rendered in the user's zone
    rendered = http.get(f"{sandbox.url}/rest/api/3/issue/{key}", params={"fields": "updated"}).json()
    assert rendered["fields"]["updated"].endswith(updated.astimezone(tz).strftime("%z"))
    assert not rendered["fields"]["updated"].endswith("+0000")


def test_relative_dates(sandbox, jira):
    keys = all_keys_jql(sandbox)
    total = jira.approximate_issue_count(keys)
    assert jira.approximate_issue_count(f"{keys} AND updated <= now()") == total
    assert jira.approximate_issue_count(f"{keys} AND created >= -5m") == 0  # the seed lies before today
    assert jira.approximate_issue_count(f'{keys} AND created > "-36500d"') == total


# ---- edits, changelog, comments ---------------------------------------------------------------------------
def test_edit_creates_changelog_and_bumps_updated(sandbox, jira, http, jira_app):
    key = sandbox.seed.projects[2].record_key
    compliance, violations_field, changed = (CF[n].id for n in GOVERNANCE)
    before = jira.issue(key)
    updated_before = _parse(before.fields.updated)
    before.update(fields={compliance: {"value": "Non-compliant"}, violations_field: 3,
                          changed: "2026-11-20"}, notify=False)
    after = jira.issue(key, expand="changelog")
    assert getattr(after.fields, compliance).value == "Non-compliant"
    assert getattr(after.fields, violations_field) == 3
    assert _parse(after.fields.updated) > updated_before
    assert before.fields.updated == after.fields.updated  # Issue.update() reloads the resource
    history = after.changelog.histories[0]
    assert history.author.emailAddress == BOT_EMAIL
    assert {item.field for item in history.items} == set(GOVERNANCE)
    item = next(i for i in history.items if i.field == "PMO Compliance")
    assert item.fromString is None and item.toString == "Non-compliant"

    # a no-op edit changes nothing: no history, same `updated`
    url = f"{sandbox.url}/rest/api/3/issue/{key}"
    r = http.put(url, params={"notifyUsers": "false"},
                 json={"fields": {compliance: {"value": "Non-compliant"}, violations_field: 3.0}})
    assert r.status_code == 204
    again = http.get(url, params={"fields": "updated"}).json()
    assert again["fields"]["updated"] == after.fields.updated
    log = http.get(f"{url}/changelog").json()
    assert log["total"] == len(jira_app._by_key[key].histories)
    assert log["values"][-1]["items"][0]["fieldId"] in (compliance, violations_field, changed)


GOVERNANCE = ("PMO Compliance", "PMO Open Violations", "PMO Compliance Changed")


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


def test_edit_rejects_unknown_and_off_screen_fields(sandbox, http):
    p = sandbox.seed.projects[3]
    risk_key = next(r.key for r in p.raid)
    url = f"{sandbox.url}/rest/api/3/issue/"
    r = http.put(url + risk_key, json={"fields": {CF["PMO Compliance"].id: {"value": "Compliant"},
                                                  "customfield_99999": 1}})
    assert r.status_code == 400
    errors = r.json()["errors"]
    assert set(errors) == {CF["PMO Compliance"].id, "customfield_99999"}
    assert "cannot be set" in errors["customfield_99999"]
    bad = http.put(url + p.record_key, json={"fields": {CF["PMO Compliance"].id: {"value": "Green-ish"},
                                                        CF["PMO Open Violations"].id: "three", "status": "Done"}})
    assert bad.status_code == 400 and len(bad.json()["errors"]) == 3
    assert http.put(url + "NOPE-1", json={"fields": {}}).status_code == 404


def test_description_is_adf_in_v3_and_text_in_v2(sandbox, http):
    key = sandbox.seed.projects[4].work_items[5].key
    v3 = f"{sandbox.url}/rest/api/3/issue/{key}"
    v2 = f"{sandbox.url}/rest/api/2/issue/{key}"
    assert http.put(v3, json={"fields": {"description": "plain"}}).status_code == 400
    assert http.put(v3, json={"fields": {"description": ADF("Rich text")}}).status_code == 204
    assert http.get(v3, params={"fields": "description"}).json()["fields"]["description"]["type"] == "doc"
    assert http.get(v2, params={"fields": "description"}).json()["fields"]["description"] == "Rich text"
    assert http.put(v2, json={"fields": {"description": "Plain again"}}).status_code == 204
    assert http.get(v3, params={"fields": "description"}).json()["fields"]["description"] == ADF("Plain again")


def test_notify_users_false_needs_admin(sandbox, http):
    p = sandbox.seed.projects[5]
    url = f"{sandbox.url}/rest/api/3/issue/{p.record_key}"
    body = {"fields": {CF["PMO Open Violations"].id: 1}}
    assert http.put(url, params={"notifyUsers": "false"}, json=body).status_code == 204
    pm = session_for(sandbox, p.pm)
    r = pm.put(url, params={"notifyUsers": "false"}, json=body)
    assert r.status_code == 403 and r.json()["errorMessages"]
    before = len(requests.get(f"{sandbox.url}/_sandbox/jira/notifications").json()["notifications"])
    assert pm.put(url, json={"fields": {CF["PMO Open Violations"].id: 2}}).status_code == 204
    notes = requests.get(f"{sandbox.url}/_sandbox/jira/notifications").json()["notifications"]
    assert len(notes) == before + 1 and notes[-1]["by"] == p.pm


def test_labels_update_operations(sandbox, http):
    key = sandbox.seed.projects[6].work_items[3].key
    url = f"{sandbox.url}/rest/api/3/issue/{key}"
    assert http.put(url, json={"update": {"labels": [{"add": "pmo-tracked"}]}}).status_code == 204
    assert "pmo-tracked" in http.get(url, params={"fields": "labels"}).json()["fields"]["labels"]
    assert http.put(url, json={"update": {"labels": [{"remove": "pmo-tracked"}]}}).status_code == 204
    assert "pmo-tracked" not in http.get(url, params={"fields": "labels"}).json()["fields"]["labels"]


def test_comments_add_edit_and_bump_updated(sandbox, jira, http):
    key = sandbox.seed.projects[7].record_key
    before = _parse(jira.issue(key, fields="updated").fields.updated)
    comment = jira.add_comment(key, ADF("PMO review: 2 open violations"))
    assert comment.author.emailAddress == BOT_EMAIL and comment.raw["body"]["type"] == "doc"
    after_add = _parse(jira.issue(key, fields="updated").fields.updated)
    assert after_add > before
    comment.update(body=ADF("PMO review: 1 open violation"))
    assert comment.raw["body"]["content"][0]["content"][0]["text"] == "PMO review: 1 open violation"
    after_edit = _parse(jira.issue(key, fields="updated").fields.updated)
    assert after_edit > after_add
    listed = jira.comments(key)
    assert [c.id for c in listed][-1] == comment.id
    assert jira.comment(key, comment.id).updateAuthor.emailAddress == BOT_EMAIL
    r = http.post(f"{sandbox.url}/rest/api/3/issue/{key}/comment", json={"body": "plain text"})
    assert r.status_code == 400 and r.json()["errors"]
    v2 = http.post(f"{sandbox.url}/rest/api/2/issue/{key}/comment", json={"body": "plain text in v2"})
    assert v2.status_code == 201 and v2.json()["body"] == "plain text in v2"
    page = http.get(f"{sandbox.url}/rest/api/3/issue/{key}/comment", params={"orderBy": "-created"}).json()
    assert page["total"] == 2 and page["comments"][0]["body"]["type"] == "doc"


def test_hostile_text_is_served_unchanged(sandbox, http):
    items = {w.key for p in sandbox.seed.projects for w in p.work_items}
    for h in sandbox.seed.hostile:
        fields = http.get(f"{sandbox.url}/rest/api/2/issue/{h.record}",
                          params={"fields": "summary,description"}).json()["fields"]
        if h.record in items or h.field == "title":
            assert fields["summary"] == h.text
        else:  # a status report's summary is its description
            assert fields["description"].startswith(h.text)


# ---- the server: stats, rate limits, faults, index lag ----------------------------------------------------
def test_stats_count_requests_and_writes(fresh_sandbox):
    url = fresh_sandbox.url
    requests.post(f"{url}/_sandbox/stats/reset")
    s = session_for(fresh_sandbox)
    key = fresh_sandbox.seed.projects[0].record_key
    s.get(f"{url}/rest/api/3/issue/{key}")
    s.post(f"{url}/rest/api/3/search/jql", json={"jql": f"key = {key}"})
    s.put(f"{url}/rest/api/3/issue/{key}", json={"fields": {CF["PMO Open Violations"].id: 4}})
    s.post(f"{url}/rest/api/3/issue/{key}/comment", json={"body": ADF("hi")})
    s.put(f"{url}/rest/api/3/issue/{key}", json={"fields": {"customfield_99999": 4}})  # rejected: not a write
    stats = requests.get(f"{url}/_sandbox/stats").json()["systems"]["jira"]
    assert stats["total"] == 5 and stats["writes"] == 2
    assert stats["routes"]["PUT /rest/api/{ver}/issue/{key}"] == 2
    assert stats["routes"]["POST /rest/api/{ver}/search/jql"] == 1


def test_rate_limit_answers_429_with_retry_after(fresh_sandbox):
    fresh_sandbox.configure("jira", rate_limit=3, rate_window=30)
    s = session_for(fresh_sandbox)
    url = f"{fresh_sandbox.url}/rest/api/3/myself"
    ok = [s.get(url) for _ in range(3)]
    assert all(r.status_code == 200 for r in ok)
    assert ok[0].headers["X-RateLimit-Limit"] == "3" and ok[0].headers["X-RateLimit-Remaining"] == "2"
    assert ok[0].headers["X-RateLimit-Reset"].endswith("Z") and "X-RateLimit-NearLimit" not in ok[0].headers
    assert ok[2].headers["X-RateLimit-NearLimit"] == "true"
    r = s.get(url)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert r.headers["RateLimit-Reason"] == "jira-burst-based" and r.json()["errorMessages"]
    client_error = pytest.raises(JIRAError)
    with client_error as err:
        JIRA(server=fresh_sandbox.url, basic_auth=s.auth, options={"rest_api_version": "3"}, max_retries=0,
             get_server_info=False).myself()
    assert err.value.status_code == 429


def test_injected_faults(fresh_sandbox):
    url = fresh_sandbox.url
    s = session_for(fresh_sandbox)
    fresh_sandbox.add_fault(system="jira", route="/rest/api/{ver}/myself", status=503, retry_after="2")
    r = s.get(f"{url}/rest/api/3/myself")
    assert r.status_code == 503 and r.headers["Retry-After"] == "2" and r.json()["errorMessages"]
    assert s.get(f"{url}/rest/api/3/myself").status_code == 200  # the fault hit once
    requests.post(f"{url}/_sandbox/faults", json=[{"system": "jira", "method": "POST", "route": "*search/jql",
                                                   "kind": "reset"}])
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{url}/rest/api/3/search/jql", json={"jql": "project = X"}, auth=s.auth)
    stats = requests.get(f"{url}/_sandbox/stats").json()["systems"]["jira"]
    assert stats["faults"] == 2


def test_search_index_lag_and_reconcile(fresh_sandbox):
    url = fresh_sandbox.url
    assert requests.post(f"{url}/_sandbox/jira/settings", json={"search_lag_ms": 60000}).status_code == 204
    assert requests.post(f"{url}/_sandbox/jira/settings", json={"lag": 1}).status_code == 400
    s = session_for(fresh_sandbox)
    p = fresh_sandbox.seed.projects[0]
    issue = s.get(f"{url}/rest/api/3/issue/{p.record_key}", params={"fields": "summary"}).json()
    field = CF["PMO Compliance"]
    assert s.put(f"{url}/rest/api/3/issue/{p.record_key}",
                 json={"fields": {field.id: {"value": "At risk"}}}).status_code == 204
    jql_text = f'project = {p.key} AND "PMO Compliance" = "At risk"'
    stale = s.post(f"{url}/rest/api/3/search/jql", json={"jql": jql_text}).json()
    assert stale["issues"] == []
    fresh = s.post(f"{url}/rest/api/3/search/jql", json={"jql": jql_text, "reconcileIssues": [int(issue["id"])],
                                                          "fields": [field.id]}).json()
    assert [i["id"] for i in fresh["issues"]] == [issue["id"]]
    assert fresh["issues"][0]["fields"][field.id]["value"] == "At risk"
    direct = s.get(f"{url}/rest/api/3/issue/{p.record_key}", params={"fields": field.id}).json()
    assert direct["fields"][field.id]["value"] == "At risk"  # GET issue is always current
    requests.post(f"{url}/_sandbox/jira/settings", json={"search_lag_ms": 0})
    fresh_sandbox.app("jira")._stale.clear()
    assert len(s.post(f"{url}/rest/api/3/search/jql", json={"jql": jql_text}).json()["issues"]) == 1


def test_projects(sandbox, jira, http):
    keys = [p.key for p in sandbox.seed.projects]
    assert sorted(p.key for p in jira.projects()) == sorted(keys)
    page = http.get(f"{sandbox.url}/rest/api/3/project/search", params={"maxResults": 5, "expand": "lead"}).json()
    assert page["total"] == len(keys) and len(page["values"]) == 5 and not page["isLast"] and "nextPage" in page
    assert page["values"][0]["lead"]["accountId"]
    chosen = http.get(f"{sandbox.url}/rest/api/3/project/search",
                      params=[("keys", keys[0]), ("keys", keys[1])]).json()
    assert sorted(v["key"] for v in chosen["values"]) == sorted(keys[:2]) and chosen["isLast"]
    project = jira.project(keys[0])
    assert project.key == keys[0] and project.projectCategory.name == sandbox.seed.projects[0].department
    assert http.get(f"{sandbox.url}/rest/api/3/project/NOPE").status_code == 404


def test_from_seed_builds_a_fresh_state():
    pf = generate(projects=3, items_per_project=5, today=FIXED_TODAY)
    a, b = JiraApp.from_seed(pf), JiraApp.from_seed(pf)
    assert len(a.issues) == len(b.issues) == sum(
        1 + len(p.gates) + len(p.status_reports) + len(p.raid) + len(p.milestones) + len(p.approvals)
        + len(p.work_items) for p in pf.projects)
    assert a.token_for(BOT_EMAIL) == b.token_for(BOT_EMAIL)
    with pytest.raises(KeyError):
        a.token_for(pf.people_with_role("sponsor")[0].email)
