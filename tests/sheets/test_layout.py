"""People change sheets between runs: rows reordered, columns inserted, headers duplicated or renamed. The next
sync still reads the right values and writes the right cells, or refuses to write a sheet it cannot place."""

from __future__ import annotations

from collections import Counter

import pytest

from connectors.base import WriteOp
from connectors.http import RetryPolicy
from connectors.sheets.connector import SheetsConnector
from connectors.sheets.mapping import load_sheets_mapping
from hub.errors import SkippableError
from hub.sandbox.sheets_seed import REGISTER_HEADER_ROW
from tests.sheets.conftest import Hub

GOV = ("PMO Compliance", "PMO Open Violations", "PMO Compliance Changed")


def header(ws) -> list[str]:
    return ws.row_values(REGISTER_HEADER_ROW)


def row_of(ws, key: str) -> int:
    """The 1-based row whose "Jira Key" cell is `key` (wherever the column is now)."""
    col = header(ws).index("Jira Key") + 1
    return ws.col_values(col).index(key) + 1


def cell(ws, key: str, name: str, occurrence: int = 0) -> str:
    h = header(ws)
    col = [i for i, x in enumerate(h) if x == name][occurrence] + 1
    return ws.cell(row_of(ws, key), col).value or ""


def set_cell(ws, key: str, name: str, value) -> None:
    col = header(ws).index(name) + 1
    ws.update_cell(row_of(ws, key), col, value)


def settled(hub: Hub):
    """First sync (writes), second (no writes): the register carries the hub's values."""
    hub.sync()
    out = hub.sync()
    assert not out.plan.ops
    return out


def assert_register_matches(hub: Hub, out) -> None:
    """Every register row's governance cells hold what the hub planned for that project."""
    ws = hub.sheet()
    alarms = Counter(r.project for r in out.results if r.status == "alarm")
    values = ws.get_all_values()
    h = values[REGISTER_HEADER_ROW - 1]
    idx = {name: h.index(name) for name in ("Jira Key", *GOV)}
    seen = 0
    for row in values[REGISTER_HEADER_ROW:]:
        key = row[idx["Jira Key"]] if len(row) > idx["Jira Key"] else ""
        if not key:
            continue
        seen += 1
        assert row[idx["PMO Compliance"]] == out.plan.statuses[key][0], key
        assert row[idx["PMO Open Violations"]] == str(alarms.get(key, 0)), key
    assert seen == len(hub.app.seed_info["register_rows"])


def over_budget(hub: Hub, ws) -> str:
    """Push one project's forecast above its budget (APPR-01 alarms: its governance values must change)."""
    key = next(p.key for p in hub.server.seed.projects if p.key in hub.app.seed_info["register_rows"]
               and p.state == "active" and not p.planted)
    budget = next(p.budget_approved for p in hub.server.seed.projects if p.key == key)
    set_cell(ws, key, "Forecast Cost", budget * 2)
    return key


def test_rows_reordered(sheets_hub):
    hub = sheets_hub
    before = settled(hub)
    ws = hub.sheet()
    last = len(ws.get_all_values())
    key = over_budget(hub, ws)
    old_row = row_of(ws, key)
    ws.sort((1, "des"), range=f"A{REGISTER_HEADER_ROW + 1}:U{last}")  # by project name, descending
    assert row_of(ws, key) != old_row
    out = hub.sync()
    fields = [op for op in out.plan.ops if op.op == "fields"]
    assert [op.project for op in fields] == [key] and out.applied.done == len(out.plan.ops)
    assert out.portfolio.projects[key].forecast_cost == 2 * out.portfolio.projects[key].budget_approved
    assert int(cell(ws, key, "PMO Open Violations")) > before.portfolio.projects[key].governance.open_violations
    assert_register_matches(hub, out)


def test_column_inserted(sheets_hub):
    hub = sheets_hub
    settled(hub)
    ws = hub.sheet()
    key = over_budget(hub, ws)
    at = header(ws).index("Department") + 1  # a new column C, before everything the mapping reads
    ws.insert_cols([["", "", "Risk Appetite", "low"]], col=at, value_input_option="RAW")  # one column
    gov_at = header(ws).index("PMO Compliance") + 1
    ws.insert_cols([["", "", "PMO Comments", "keep me"]], col=gov_at, value_input_option="RAW")
    out = hub.sync()
    assert [op.project for op in out.plan.ops if op.op == "fields"] == [key]
    proj = out.portfolio.projects[key]
    seed = next(p for p in hub.server.seed.projects if p.key == key)
    assert (proj.department, proj.budget_approved, proj.planned_start) == (seed.department, seed.budget_approved,
                                                                           seed.planned_start)
    assert ws.cell(4, at).value == "low" and ws.cell(4, gov_at).value == "keep me"  # typed cells untouched
    assert ws.col_values(at)[REGISTER_HEADER_ROW:] == ["low"]
    assert ws.col_values(gov_at)[REGISTER_HEADER_ROW:] == ["keep me"]  # nothing written into the new column
    assert_register_matches(hub, out)


def test_duplicate_header_added(sheets_hub):
    hub = sheets_hub
    settled(hub)
    ws = hub.sheet()
    key = over_budget(hub, ws)
    width = len(header(ws))
    ws.add_cols(2)
    ws.update(range_name=f"V{REGISTER_HEADER_ROW}:W{REGISTER_HEADER_ROW}", values=[["Approved Budget", "Jira Key"]],
              value_input_option="RAW")  # empty copies of two mapped headers, far right
    assert width == 21 and header(ws).count("Approved Budget") == 2
    out = hub.sync()
    assert [op.project for op in out.plan.ops if op.op == "fields"] == [key]
    for p in hub.server.seed.projects:
        proj = out.portfolio.projects.get(p.key)
        if proj is not None:
            assert proj.budget_approved == p.budget_approved and "budget_approved" not in proj.invalid
    assert_register_matches(hub, out)
    # a copy that disagrees is not guessed: that row's budget is unreadable, the rest are fine
    other = next(k for k in hub.app.seed_info["register_rows"] if k != key)
    ws.update_cell(row_of(ws, other), 22, 1.0)
    out = hub.sync(write=False)
    assert "different values" in out.portfolio.projects[other].invalid["budget_approved"]
    assert sum("budget_approved" in p.invalid for p in out.portfolio.projects.values()) == 1


@pytest.mark.parametrize("change", ["rename", "duplicate", "delete"])
def test_governance_header_changed_refuses_the_write(sheets_hub, change):
    hub = sheets_hub
    settled(hub)
    ws = hub.sheet()
    col = header(ws).index("PMO Open Violations") + 1
    if change == "rename":
        ws.update_cell(REGISTER_HEADER_ROW, col, "Open Violations (PMO)")
    elif change == "duplicate":
        ws.update_cell(REGISTER_HEADER_ROW, header(ws).index("Notes") + 1, "PMO Open Violations")
    else:
        ws.delete_columns(col)
    key = over_budget(hub, ws)
    before = ws.get_all_values()
    out = hub.sync()
    assert out.outcome == "partial"
    errors = [e for e in out.applied.errors if "refused" in e]
    assert errors and "'PMO Open Violations'" in errors[0] and "'PMO Register'!Register" in errors[0]
    assert ("appears 2 times" if change == "duplicate" else "is not in header row 3") in errors[0]
    after = ws.get_all_values()
    assert after == before  # no register cell was written
    assert key in {op.project for op in out.plan.ops}


def test_rows_moved_between_read_and_write(sheets_hub):
    """Someone deletes and inserts rows after the hub read the sheet and before it writes: Drive's modifiedTime
    shows it, the hub re-reads and writes the row where the project is now (and skips a project whose row is
    gone)."""
    hub = sheets_hub
    hub.sync()
    cfg = hub.config()
    conn = SheetsConnector(cfg.sheets, load_sheets_mapping(cfg.sheets.mapping, base_dir=cfg.base_dir),
                           credentials_file=cfg.path(cfg.sheets.credentials_file), policy=RetryPolicy(base_s=0.01))
    result = conn.pull(None, full=True)
    target, gone = [t for t in conn.targets(result.records) if t.fields][:2]
    ws = hub.sheet()
    old_row = row_of(ws, target.project)  # where the hub read it
    ws.delete_rows(row_of(ws, gone.project))  # one project's row deleted...
    ws.insert_rows([["(inserted)"], ["(inserted)"]], row=REGISTER_HEADER_ROW + 1)  # ...two rows inserted on top
    assert row_of(ws, target.project) != old_row
    outcome = conn.apply_batch([WriteOp("sheets", t.record, t.project, "fields",
                                        {"compliance_status": (None, "Checked by test")}) for t in (target, gone)])
    assert outcome[0] == {}
    assert isinstance(outcome[1], SkippableError) and "no longer in 'PMO Register'!Register" in str(outcome[1])
    assert cell(ws, target.project, "PMO Compliance") == "Checked by test"
    assert ws.cell(old_row, header(ws).index("PMO Compliance") + 1).value != "Checked by test"
    conn.close()
