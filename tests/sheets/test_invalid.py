"""A register cell that cannot be read is an `error` for the rules that need it, naming the sheet, row and column;
every other row is still evaluated (and nothing is guessed)."""

from __future__ import annotations

from hub.sandbox.sheets_seed import REGISTER_HEADER_ROW


def test_malformed_number_and_date_give_errors_for_that_row_only(sheets_hub):
    hub = sheets_hub
    ws = hub.sheet()
    header = ws.row_values(REGISTER_HEADER_ROW)
    rows = hub.app.seed_info["register_rows"]
    before = hub.sync(write=False)
    evaluated = {rule: sorted(r.project for r in before.results if r.rule == rule and r.status in ("ok", "alarm"))
                 for rule in ("APPR-01", "INIT-03")}
    number_key = evaluated["APPR-01"][0]
    date_key = next(k for k in evaluated["INIT-03"] if k != number_key)
    ws.update_cell(rows[number_key], header.index("Approved Budget") + 1, "1.2.3")
    ws.update_cell(rows[date_key], header.index("Planned Finish") + 1, "31.02.2026")
    out = hub.sync()
    assert out.outcome == "ok", out.applied.errors

    budget_msg = (f"Sheets 'PMO Register'!Register row {rows[number_key]} column 'Approved Budget': '1.2.3' is not a "
                  "number (like 1.234,50)")
    date_msg = (f"Sheets 'PMO Register'!Register row {rows[date_key]} column 'Planned Finish': '31.02.2026' is not a "
                "date (like 03.11.2026)")
    appr = {r.project: r for r in out.results if r.rule == "APPR-01"}
    assert appr[number_key].status == "error" and budget_msg in appr[number_key].reason
    assert appr[number_key].sources[0].system == "sheets"
    init03 = {r.project: r for r in out.results if r.rule == "INIT-03"}
    assert init03[date_key].status == "error" and date_msg in init03[date_key].reason
    # every other register row is still evaluated
    others = [r for k, r in appr.items() if k != number_key]
    assert len(others) == len(rows) - 1 and all(r.status in ("ok", "alarm", "skip") for r in others)
    assert {r.status for r in others} >= {"ok"}
    # (INIT-03 reads the budget too)
    assert all(r.status != "error" for k, r in init03.items() if k not in (date_key, number_key))
    assert out.portfolio.projects[number_key].budget_approved is None  # not guessed
    # the errors are in the results tab for the PMO to see
    table = hub.sheet("PMO Compliance").get_all_values()
    assert any(row[1] == "APPR-01" and row[3] == "error" and budget_msg in row[5] for row in table)


def test_unreadable_raid_and_training_cells(sheets_hub):
    hub = sheets_hub
    raid = hub.sheet("RAID Log")
    header = raid.row_values(1)
    raid.update_cell(2, header.index("Probability") + 1, "very likely")
    roster = hub.sheet("Training Roster")
    roster.update_cell(2, 4, "last spring")
    out = hub.sync(write=False)
    bad_risk = next(r for r in out.portfolio.raid if "probability" in r.invalid)
    assert ("'PMO Register'!RAID Log row 2 column 'Probability': 'very likely' is not a number"
            in bad_risk.invalid["probability"])
    assert bad_risk.probability is None
    bad_training = [t for p in out.portfolio.people.values() for t in p.trainings if t.invalid]
    assert len(bad_training) == 1 and "row 2 column 'Completed'" in bad_training[0].invalid["completed_on"]
