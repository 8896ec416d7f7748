"""The fault matrix: every fault (row) against every system (column) of tests/reliability/matrix.py.

Each cell: a fresh sandbox (same seed as the reference), a hub configured for that system alone, the fault
injected into the sync named by the row's phase, run through `pmo-hub sync`; then the fault is cleared and the
sync re-run. See matrix.py and docs/fault-matrix.md for what every cell asserts.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from hub import cli
from hub.sandbox.run import start
from tests.reliability import matrix
from tests.reliability.matrix import Column, FaultRow

pytestmark = pytest.mark.slow


def sandbox():
    return start(port=0, **matrix.SANDBOX)


def state_file(config_path: Path) -> Path:
    from hub import config

    cfg = config.load(config_path)
    return Path(cfg.state.resolved_url(cfg.base_dir).removeprefix("sqlite:///"))


def query(db: Path, sql: str, *params) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return sorted(con.execute(sql, params).fetchall(), key=repr)
    finally:
        con.close()


def stored(db: Path) -> dict[str, list[tuple]]:
    """What a pull stores: the cursors and the mirror of source records."""
    if not db.exists():
        return {"cursors": [], "records": []}
    return {"cursors": query(db, "SELECT system, name, value FROM cursors"),
            "records": query(db, "SELECT system, key, kind, project_key, updated, activity_at, data FROM records")}


def last_run(db: Path) -> tuple[str, str, str | None]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT id, outcome, error FROM runs ORDER BY started DESC LIMIT 1").fetchone()
    finally:
        con.close()


def results_of(db: Path, run_id: str) -> list[tuple]:
    return query(db, "SELECT rule, subject, project, status, severity, reason FROM results WHERE run_id = ?", run_id)


def sync_cli(config_path: Path, capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(["sync", "--config", str(config_path)])
    out = capsys.readouterr()
    return code, out.out + out.err


@dataclass
class Reference:
    final_state: dict
    results: list[tuple]


_references: dict[tuple[str, str], Reference] = {}


def reference(column: Column, phase: str, tmp: Path) -> Reference:
    """The final state of a run that never saw a fault (computed once per column and phase)."""
    key = (column.name, phase)
    if key not in _references:
        from hub import config, sync
        from hub.state import State

        server = sandbox()
        try:
            path = column.configure(server, tmp)
            cfg = config.load(path)
            runs = []
            for i in range(2 if phase == "next" else 1):
                if i == 1:
                    column.person_edit(server)
                state = State.open(cfg.state.resolved_url(cfg.base_dir))
                try:
                    runs.append(sync.run(cfg, state))
                finally:
                    state.close()
            assert runs[-1].outcome == "ok", runs[-1].pulls
            _references[key] = Reference(column.final_state(server), results_of(state_file(path), runs[-1].run_id))
        finally:
            server.stop()
    return _references[key]


def cell_id(cell: tuple[FaultRow, Column]) -> str:
    return f"{cell[0].id}-{cell[1].name}"


@pytest.mark.parametrize("row,column", matrix.cells(), ids=[cell_id(c) for c in matrix.cells()])
def test_fault_matrix(row: FaultRow, column: Column, tmp_path, tmp_path_factory, capsys):
    expect = matrix.outcome(row, column)
    ref = reference(column, row.phase, tmp_path_factory.mktemp(f"ref-{column.name}-{row.phase}"))
    server = sandbox()
    try:
        config_path = column.configure(server, tmp_path)
        db = state_file(config_path)
        if row.phase == "next":
            code, text = sync_cli(config_path, capsys)
            assert code == 0, text
            column.person_edit(server)
        before = stored(db)

        for spec in matrix.faults_for(row, column):
            server.add_fault(**spec)
        if row.settings:
            column.limit(server, row.settings)
        t0 = time.monotonic()
        code, text = sync_cli(config_path, capsys)
        elapsed = time.monotonic() - t0
        run_id, run_outcome, _ = last_run(db)
        stats = query(db, "SELECT stats FROM runs WHERE id = ?", run_id)[0][0]
        import json

        waited = json.loads(stats or "{}").get("retry_wait_s", 0.0)
        assert column.hits(server) > 0, "the fault never hit"

        if expect.kind == "recovers":
            assert code == 0, text
            assert run_outcome == "ok"
        else:
            assert code == 2, text
            assert run_outcome in ("partial", "failed")
            for words in (f"{column.name}: ", *expect.says):
                assert words in text, f"{words!r} not in the output:\n{text}"
            if expect.stage == "pull":
                assert stored(db) == before, "a failed pull changed the cursor or the mirror"
                assert "FAILED" in text
            else:
                assert "write failed" in text
                # failed, or sent without an answer ("unknown": the next run's recovery looks for it)
                assert query(db, "SELECT COUNT(*) FROM journal WHERE run_id = ? AND state IN ('failed', 'unknown')",
                             run_id)[0][0] > 0
            assert query(db, "SELECT COUNT(*) FROM journal WHERE state = 'intended'")[0][0] == 0
            capsys.readouterr()
            assert cli.main(["runs", "--config", str(config_path), "--limit", "1"]) == 0
            history = capsys.readouterr().out
            assert f"{column.name}: " in history and expect.says[0] in history, history
        if expect.waited is not None:
            low, high = expect.waited
            assert low <= waited <= high, f"waited {waited} s, expected {low}..{high}"
        if expect.within_s is not None:
            assert elapsed <= expect.within_s, f"the sync took {elapsed:.1f} s"

        server.clear_faults()
        column.limit(server, None)
        assert server.wait_idle(), "a request is still being served"  # (one the client gave up on lands first)
        code, text = sync_cli(config_path, capsys)
        assert code == 0, text
        recovered_run = last_run(db)[0]
        assert column.final_state(server) == ref.final_state
        assert results_of(db, recovered_run) == ref.results
        # and nothing is left to do
        server.stats.reset()
        code, text = sync_cli(config_path, capsys)
        assert code == 0, text
        assert server.stats.snapshot()["systems"].get(column.sandbox, {}).get("writes", 0) == 0
    finally:
        server.stop()


def test_every_column_covers_every_target_or_says_why():
    for column in matrix.COLUMNS.values():
        for row in matrix.FAULTS:
            assert row.target in column.endpoints or row.target in column.not_applicable, (column.name, row.id)


def test_the_table_in_docs_is_current():
    """docs/fault-matrix.md is generated from the data above; regenerate with `python -m tests.reliability.matrix`."""
    assert matrix.DOC.read_text(encoding="utf-8") == matrix.render(), \
        "docs/fault-matrix.md is stale: run `python -m tests.reliability.matrix`"
