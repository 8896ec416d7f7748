"""Syncs against the Graph sandbox through real msal and requests: incremental pulls through delta links, the
batched write-back, Planner's ETags, status summaries once per change, recovery after a crash, and the
`invalid` entries that name the list, item and column of an unreadable value."""

from __future__ import annotations

import re

import pytest

from hub.sandbox.graph import GOVERNANCE_TASK

ITEM_READS = re.compile(r"/lists/\{list\}/items")


def item_routes(stats: dict) -> dict[str, int]:
    return {k: v for k, v in stats["routes"].items() if ITEM_READS.search(k)}


def item_reads(stats: dict) -> dict[str, int]:
    """List item reads by route, sent alone or inside a $batch."""
    out = item_routes(stats)
    for k, v in item_routes({"routes": stats.get("batched", {})}).items():
        out[k] = out.get(k, 0) + v
    return out


def register_versions(graph) -> dict[int, int]:
    lst = graph.list_by_display("PMO Register")
    return {i.id: i.version for i in lst.items.values() if not i.deleted}


def test_first_sync_merges_every_part_and_writes_back(m365_hub):
    out = m365_hub.sync()
    assert out.outcome == "ok", out.pulls
    pf = out.portfolio
    seed = m365_hub.server.seed
    assert sorted(pf.projects) == sorted(p.key for p in seed.projects)
    assert len(pf.raid) == sum(len(p.raid) for p in seed.projects)
    assert len(pf.status_reports) == sum(len(p.status_reports) for p in seed.projects)
    assert len(pf.approvals) == sum(len(p.approvals) for p in seed.projects)
    assert len(pf.milestones) == sum(len(p.milestones) for p in seed.projects)
    assert len(pf.work_items) == seed.work_item_count
    for sp in seed.projects:
        p = pf.projects[sp.key]
        assert (p.name, p.pm, p.sponsor, p.phase) == (sp.name, sp.pm, sp.sponsor, sp.phase)
        assert (p.budget_approved, p.actual_cost, p.forecast_cost) == (sp.budget_approved, sp.actual_cost,
                                                                         sp.forecast_cost)
        assert p.planned_start == sp.planned_start  # date-only column: local midnight read back in the site's zone
        assert p.fte_approved == sp.fte_approved  # a text column holding "10"
        assert not p.invalid
    # every planted violation the M365 data can show is found (gates are not rendered into M365)
    found: dict[str, set[str]] = {}
    for r in out.results:
        if r.status == "alarm":
            found.setdefault(r.project, set()).add(r.rule)
    for sp in seed.projects:
        assert {r for r in sp.planted if not r.startswith(("GATE", "TRAIN"))} <= found.get(sp.key, set()), sp.key
    graph = m365_hub.graph
    register = graph.list_by_display("PMO Register")
    statuses = {i.fields["JiraKey"]: i.fields.get("PMOCompliance") for i in register.items.values()}
    assert all(v in ("Compliant", "At risk", "Non-compliant", "Not assessed") for v in statuses.values())
    for sp in seed.projects:
        title = graph.governance_task(sp.key).title
        assert title.startswith(f"{GOVERNANCE_TASK}: {statuses[sp.key]} (")
    assert len(graph.messages) == 1 and len(graph.mails) == 1
    for sp in seed.projects:
        assert f"pmo-hub ref {sp.key}#" in graph.messages[0]["body"]["content"]


def test_second_sync_reads_items_only_through_delta_links_and_writes_nothing(m365_hub):
    m365_hub.sync()
    m365_hub.reset_stats()
    before = register_versions(m365_hub.graph)
    out = m365_hub.sync()
    st = m365_hub.stats()
    assert out.outcome == "ok" and out.plan.ops == []
    assert st["writes"] == 0 and st.get("batched", {}).get("PATCH /v1.0/sites/{site}/lists/{list}/items/{item}/fields", 0) == 0
    assert not any(m in k for k in st["routes"] for m in ("PATCH", "sendMail", "POST /v1.0/teams"))
    # the delta links of 4 lists and the User Information List go out in one $batch (Planner's tasks in another)
    assert item_routes(st) == {}, st["routes"]
    assert st["batched"]["GET /v1.0/sites/{site}/lists/{list}/items/delta"] == 5
    assert st["routes"]["POST /v1.0/$batch"] == 2
    assert "GET /v1.0/sites/{site}/lists/{list}/columns" not in st["routes"]  # columns come from the cursor
    assert m365_hub.stats("login")["total"] == 0  # the token came from msal's cache
    assert register_versions(m365_hub.graph) == before
    assert len(m365_hub.graph.messages) == 1 and len(m365_hub.graph.mails) == 1


def test_100_register_items_take_at_most_5_batch_requests(register_hub):
    out = register_hub.sync()
    st = register_hub.stats()
    assert out.applied.done == 100 and out.applied.failed == 0
    assert st["routes"]["POST /v1.0/$batch"] <= 5
    assert st["batched"] == {"PATCH /v1.0/sites/{site}/lists/{list}/items/{item}/fields": 100}
    assert st["writes"] == 100
    assert set(register_versions(register_hub.graph).values()) == {2}  # every item written exactly once


def test_inner_batch_429_is_retried_alone_and_nothing_is_written_twice(register_hub):
    register_hub.server.add_fault(system="graph", method="PATCH", route="*/items/{item}/fields", status=429,
                                  retry_after="1", times=3, after=10)
    out = register_hub.sync()
    st = register_hub.stats()
    assert out.outcome == "ok" and out.applied.done == 100 and out.applied.failed == 0
    assert st["throttled"] == 0 and st["faults"] == 3
    # the three throttled requests were sent once more, the other 97 once
    assert st["batched"] == {"PATCH /v1.0/sites/{site}/lists/{list}/items/{item}/fields": 103}
    assert st["routes"]["POST /v1.0/$batch"] == 6
    assert st["writes"] == 100
    assert set(register_versions(register_hub.graph).values()) == {2}
    assert out.retry_wait_s >= 1.0
    register_hub.reset_stats()
    assert register_hub.sync().plan.ops == [] and register_hub.stats()["writes"] == 0


def test_stale_delta_token_resyncs_that_list_and_loses_nothing(m365_hub):
    m365_hub.sync()
    graph = m365_hub.graph
    raid = graph.list_by_display("RAID Log")
    live = sorted(i for i, it in raid.items.items() if not it.deleted)
    edited, deleted = live[0], live[1]
    graph.edit_item("RAID Log", edited, {"Title": "Supplier insolvency (re-assessed)"})
    graph.delete_item("RAID Log", deleted)
    graph.expire_delta("RAID Log")
    # the connector says so in its notes
    conns = m365_hub.connectors()
    state = m365_hub.state()
    try:
        result = conns["m365"].pull(state.cursor("m365"), full=False)
    finally:
        state.close()
        conns["m365"].close()
    assert any("RAID Log" in n and "410" in n for n in result.notes), result.notes
    # and a sync over the same expired token ends with exactly the list's items, the edit and the delete applied
    out = m365_hub.sync()
    assert out.outcome == "ok"
    assert any("RAID Log" in n and "410" in n for n in out.pulls["m365"].notes)  # and the run summary says so
    mirrored = {r.key: r for r in out.portfolio.raid}
    expected = {it.fields["Reference"]: it for it in raid.items.values() if not it.deleted}
    assert sorted(mirrored) == sorted(expected)
    assert len(out.portfolio.raid) == len(expected)  # nothing duplicated
    ref = raid.items[edited].fields["Reference"]
    assert mirrored[ref].title == "Supplier insolvency (re-assessed)"
    assert raid.items[deleted].fields["Reference"] not in mirrored
    m365_hub.reset_stats()
    m365_hub.sync()  # the fresh delta link works: no 410, items through delta only
    assert set(item_reads(m365_hub.stats())) == {"GET /v1.0/sites/{site}/lists/{list}/items/delta"}


def test_expired_token_is_reacquired_and_the_run_completes(m365_hub):
    m365_hub.sync()
    graph = m365_hub.graph
    issued = graph.dir.token_requests
    graph.expire_tokens()  # the server rejects the token msal still holds as valid
    project = m365_hub.server.seed.projects[0].key
    item = graph.item_by_key("RAID Log", "JiraKey", project)  # a change that alters this project's status
    graph.edit_item("RAID Log", item.id, {"EntryType": "Risk", "Probability": 4, "Impact": 4, "Owner": None,
                                          "Status0": "Open", "Response": None})
    before = register_versions(graph)
    m365_hub.reset_stats()
    out = m365_hub.sync()
    assert out.outcome == "ok", out.pulls
    assert graph.dir.token_requests == issued + 1  # exactly one new token
    assert item_reads(m365_hub.stats())["GET /v1.0/sites/{site}/lists/{list}/items/delta"] >= 5
    changed = {k for k, v in register_versions(graph).items() if v != before[k]}
    reg = graph.item_by_key("PMO Register", "JiraKey", project)
    assert changed <= {reg.id} and len(graph.messages) == 2  # the new summary once, nothing else rewritten
    assert f"pmo-hub ref {project}#" in graph.messages[-1]["body"]["content"]


def _intercept(m365_hub, after_targets):
    """Connectors whose m365 `targets` (computed after the pull, before apply) then runs `after_targets`."""
    conns = m365_hub.connectors()
    conn = conns["m365"]
    original = conn.targets

    def targets(records):
        out = original(records)
        after_targets()
        return out

    conn.targets = targets
    return conns


def test_planner_412_from_another_field_is_retried_once_with_the_fresh_etag(m365_hub):
    graph = m365_hub.graph
    key = m365_hub.server.seed.projects[1].key
    task = graph.governance_task(key)
    conns = _intercept(m365_hub, lambda: graph.edit_task(task.id, percent=50))  # a person moves the task on
    out = m365_hub.sync(connectors=conns)
    assert out.outcome == "ok" and out.applied.conflicts == 0 and out.applied.failed == 0
    assert task.title.startswith(f"{GOVERNANCE_TASK}: ") and task.percent == 50  # both edits kept
    assert task.version == 1 + 1 + 1  # seeded, the person's edit, the hub's one successful write
    m365_hub.reset_stats()
    again = m365_hub.sync()
    assert again.plan.ops == [] and m365_hub.stats()["writes"] == 0


def test_planner_412_on_the_hub_owned_title_is_a_conflict_not_an_overwrite(m365_hub):
    graph = m365_hub.graph
    sp = next(p for p in m365_hub.server.seed.projects if p.planted)
    task = graph.governance_task(sp.key)
    mine = f"{GOVERNANCE_TASK}: Compliant (0 open violations)"
    conns = _intercept(m365_hub, lambda: graph.edit_task(task.id, title=mine))
    out = m365_hub.sync(connectors=conns)
    assert out.applied.conflicts == 1 and out.applied.failed == 0
    assert task.title == mine  # the person's edit survives
    state = m365_hub.state()
    try:
        journal = state._exec("SELECT state FROM journal WHERE record = ?", (f"task:{task.id}",)).fetchall()
    finally:
        state.close()
    assert [r[0] for r in journal] == ["conflict"]
    # the next run re-reads the task and re-plans against what it holds now: one write, not a blind one
    version = task.version
    out2 = m365_hub.sync()
    assert out2.applied.failed == 0 and out2.applied.conflicts == 0
    assert task.version == version + 1 and task.title != mine
    assert re.match(rf"{GOVERNANCE_TASK}: (Non-compliant|At risk) \(\d+ open violations?\)$", task.title)


def test_status_summary_goes_out_once_per_change_of_content(m365_hub):
    graph = m365_hub.graph
    m365_hub.sync()
    m365_hub.sync()
    assert (len(graph.messages), len(graph.mails)) == (1, 1)
    project = m365_hub.server.seed.projects[2].key
    item = graph.item_by_key("RAID Log", "JiraKey", project)
    graph.edit_item("RAID Log", item.id, {"EntryType": "Risk", "Probability": 5, "Impact": 4, "Owner": None,
                                          "Status0": "Open"})
    m365_hub.sync()
    assert (len(graph.messages), len(graph.mails)) == (2, 2)
    latest = graph.messages[-1]["body"]["content"]
    assert f"pmo-hub ref {project}#" in latest and latest.count("pmo-hub ref ") == 1
    assert graph.mails[-1]["toRecipients"] == ["pmo-office@example.com"]
    m365_hub.sync()
    assert (len(graph.messages), len(graph.mails)) == (2, 2)


def test_a_crash_after_the_writes_landed_is_recovered_without_duplicates(m365_hub):
    graph = m365_hub.graph
    conns = m365_hub.connectors()
    conn = conns["m365"]
    real = conn.apply_batch

    def apply_then_die(ops):
        real(ops)  # every write reaches Graph ...
        raise KeyboardInterrupt("killed before the journal was settled")  # ... and the process dies

    conn.apply_batch = apply_then_die
    with pytest.raises(KeyboardInterrupt):
        m365_hub.sync(connectors=conns)
    assert len(graph.messages) == 1
    state = m365_hub.state()
    try:
        pending = state.journal_pending("m365")
    finally:
        state.close()
    assert pending and {e.op for e in pending} == {"fields", "comment", "results"}
    versions = register_versions(graph)
    titles = {t.id: t.version for t in graph.tasks.values()}
    m365_hub.reset_stats()
    out = m365_hub.sync()
    assert out.outcome == "ok" and out.plan.ops == []
    assert m365_hub.stats()["writes"] == 0
    assert register_versions(graph) == versions and {t.id: t.version for t in graph.tasks.values()} == titles
    assert (len(graph.messages), len(graph.mails)) == (1, 1)
    state = m365_hub.state()
    try:
        assert state.journal_pending("m365") == []
        done = state._exec("SELECT COUNT(*) FROM journal WHERE state = 'done' AND detail LIKE 'recovered%'"
                           ).fetchone()[0]
    finally:
        state.close()
    assert done == len(pending)


def test_unreadable_values_name_the_list_item_and_column(m365_hub):
    graph = m365_hub.graph
    sp = m365_hub.server.seed.projects[0]
    reg = graph.item_by_key("PMO Register", "JiraKey", sp.key)
    graph.edit_item("PMO Register", reg.id, {"ApprovedFTE": "2,5", "Planned_x0020_Start": "next spring"})
    risk = next(i for i in graph.list_by_display("RAID Log").items.values()
                if i.fields.get("JiraKey") == sp.key and i.fields.get("EntryType") == "Risk")
    graph.edit_item("RAID Log", risk.id, {"Probability": 7})
    rows = next(iter(graph.workbooks.values())).sheets["Budget"]
    row = next(n for n, r in enumerate(rows) if r[0] == sp.key)
    rows[row][4] = "n/a"
    out = m365_hub.sync()
    p = out.portfolio.projects[sp.key]
    assert p.fte_approved is None and p.planned_start is None and p.actual_cost is None
    assert p.invalid["fte_approved"] == (f"SharePoint list 'PMO Register' item {reg.id} column 'Approved FTE': "
                                         "'2,5' is not a number (use a point for decimals)")
    assert p.invalid["planned_start"].startswith(f"SharePoint list 'PMO Register' item {reg.id} column "
                                                 "'Planned Start': 'next spring'")
    assert p.invalid["actual_cost"] == (f"Excel workbook 'Finance/PMO Budget.xlsx' sheet 'Budget' row {row + 1} "
                                        "column 'Actual': 'n/a' is not a number")
    entry = next(r for r in out.portfolio.raid if r.key == risk.fields["Reference"])
    assert entry.probability is None
    assert entry.invalid["probability"] == (f"SharePoint list 'RAID Log' item {risk.id} column 'Probability': "
                                            "'7' is not a whole number from 1 to 5")
    errors = {r.rule for r in out.results if r.status == "error" and r.project == sp.key}
    assert errors  # rules that need those values say so instead of guessing


def test_throttling_of_requests_and_of_batched_requests_is_waited_out(m365_hub):
    m365_hub.server.configure("graph", rate_limit=25, rate_window=1.0)
    out = m365_hub.sync()
    st = m365_hub.stats()
    assert out.outcome == "ok" and out.applied.failed == 0, out.pulls
    assert st["throttled"] > 0 and out.retry_wait_s > 0
    m365_hub.server.configure("graph", rate_limit=None)
    m365_hub.reset_stats()
    assert m365_hub.sync().plan.ops == [] and m365_hub.stats()["writes"] == 0
