"""At benchmark size: a register of 2,000 rows and a RAID log of 5,000 rows. A full sync makes at most 2 read
and 2 write requests to the Sheets API (counted by the sandbox); a repeat run with no change writes nothing."""

from __future__ import annotations

import pytest

from tests.sheets.conftest import Hub, sheets_server


@pytest.mark.slow
def test_two_thousand_rows_in_two_reads_and_two_writes(tmp_path):
    server = sheets_server(2000, max_raid_rows=5000)
    try:
        app = server.app("sheets")
        assert len(app.seed_info["register_rows"]) == 2000 and app.seed_info["raid_rows"] == 5000
        hub = Hub(server, tmp_path, jira=False, extra="[sync]\nmax_writes = 5000\n")
        first = hub.sync()
        counts = hub.stats()
        assert first.outcome == "ok", first.applied.errors[:3]
        assert counts["reads"] <= 2 and counts["writes"] <= 2, counts
        assert len(first.portfolio.projects) == 2000 and len(first.portfolio.raid) == 5000
        assert first.applied.done == 2001  # 2,000 register rows and the results tab, in one batch
        table = hub.sheet("PMO Compliance").get_all_values()
        assert len(table) - 1 == sum(r.status in ("alarm", "waived", "error") for r in first.results)

        server.stats.reset()
        second = hub.sync()
        assert hub.stats()["writes"] == 0 and hub.stats()["reads"] <= 2 and not second.plan.ops
        server.stats.reset()
        hub.sync()
        assert hub.stats()["reads"] == 0 and hub.stats()["writes"] == 0
        print(f"\nSheets API requests at 2,000 register / 5,000 RAID rows: first sync {counts}; "
              f"repeat: {hub.stats()}")
    finally:
        server.stop()
