"""The State API behaves the same on SQLite and PostgreSQL: migrations, the mirror, the journal, runs, results,
violation history and leases. Every test here runs on both backends (the `state_url` fixture)."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from hub.errors import StateError
from hub.state import MIGRATIONS, MirrorRecord, State, iso, utcnow


@pytest.fixture
def state(state_url):
    s = State.open(state_url)
    try:
        yield s
    finally:
        s.close()


def rec(key: str, kind: str = "issue", updated: str = "2025-01-01T00:00:00+00:00", **data) -> MirrorRecord:
    return MirrorRecord("jira", key, kind, key.split("-")[0], updated, data or {"summary": key})


def result(rule: str, subject: str, status: str, severity: str = "high", project: str = "APOL"):
    return SimpleNamespace(rule=rule, subject=subject, project=project, status=status, severity=severity,
                           reason=f"{rule} {status}")


# ---- migrations --------------------------------------------------------------------------------------------
def test_migrations_are_idempotent(state_url):
    first = State.open(state_url)
    assert first.schema_version() == len(MIGRATIONS)
    first.migrate()
    first.set_cursor("jira", {"at": 1})
    first.close()
    again = State.open(state_url)
    try:
        assert again.schema_version() == len(MIGRATIONS)
        assert again.cursor("jira") == {"at": 1}
        assert again._exec("SELECT COUNT(*) FROM schema_version").fetchone()[0] == len(MIGRATIONS)
    finally:
        again.close()


def test_workers_opening_a_fresh_store_together_migrate_once(state_url):
    errors: list[BaseException] = []
    opened: list[State] = []
    start = threading.Barrier(6)

    def worker() -> None:
        start.wait()
        try:
            opened.append(State.open(state_url))
        except BaseException as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    try:
        assert errors == []
        assert len(opened) == 6
        versions = opened[0]._exec("SELECT version FROM schema_version ORDER BY version").fetchall()
        assert [v[0] for v in versions] == list(range(1, len(MIGRATIONS) + 1))
    finally:
        for s in opened:
            s.close()


def test_a_store_at_version_1_is_upgraded_keeping_its_data(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for stmt in filter(str.strip, MIGRATIONS[0].split(";")):
        conn.execute(stmt)
    conn.execute("INSERT INTO schema_version VALUES (1)")
    conn.execute("INSERT INTO runs (id, job, started) VALUES ('r1', 'sync', '2025-01-01T00:00:00.000000+00:00')")
    conn.commit()
    conn.close()
    s = State.open(f"sqlite:///{path}")
    try:
        assert s.schema_version() == len(MIGRATIONS)
        assert [r["id"] for r in s.runs()] == ["r1"]
        assert s.try_lease("sync", "2025-01-01T00:00:00+00:00", "w1", 10)
    finally:
        s.close()


def test_unreachable_postgres_is_a_state_error_without_the_password():
    with pytest.raises(StateError) as e:
        State.open("postgresql://pmo:s3cret-pw@127.0.0.1:1/pmo?connect_timeout=2")
    assert "cannot connect to the PostgreSQL state store" in str(e.value)
    assert "s3cret-pw" not in str(e.value)


def test_unknown_url_scheme_is_refused():
    with pytest.raises(StateError, match="expected sqlite:///PATH or postgresql://"):
        State.open("mysql://localhost/pmo")


# ---- the mirror, cursors, written values -------------------------------------------------------------------
def test_cursors(state):
    assert state.cursor("jira") is None
    state.set_cursor("jira", {"updated": "2025-01-01T10:00", "last_full": None})
    state.set_cursor("jira", {"updated": "2025-01-02T10:00"}, name="other")
    state.set_cursor("jira", {"updated": "2025-01-03T10:00"})
    assert state.cursor("jira") == {"updated": "2025-01-03T10:00"}
    assert state.cursor("jira", "other") == {"updated": "2025-01-02T10:00"}
    state.clear_cursor("jira")
    assert state.cursor("jira") is None and state.cursor("jira", "other") is None


def test_records_upsert_and_replace(state):
    state.upsert_records([rec("APOL-1", summary="a", pct=50), rec("APOL-2"), rec("APOL", kind="project")])
    state.upsert_records([rec("APOL-1", updated="2025-02-01T00:00:00+00:00", summary="a2")])
    by_key = {r.key: r for r in state.records("jira")}
    assert set(by_key) == {"APOL-1", "APOL-2", "APOL"}
    assert by_key["APOL-1"].data == {"summary": "a2"} and by_key["APOL-1"].updated.startswith("2025-02-01")
    assert [r.key for r in state.records("jira", kind="project")] == ["APOL"]
    versions = state.record_versions("jira")
    assert versions["APOL-1"][0].startswith("2025-02-01")
    state.replace_system_records("jira", [rec("APOL-2"), rec("APOL-3")])
    assert {r.key for r in state.records("jira")} == {"APOL-2", "APOL-3"}
    state.delete_records("jira", ["APOL-3"])
    assert {r.key for r in state.records("jira")} == {"APOL-2"}


def test_a_failed_transaction_leaves_nothing(state):
    with pytest.raises(RuntimeError):
        with state.transaction():
            state.upsert_records([rec("APOL-9")])
            state.set_cursor("jira", {"x": 1})
            raise RuntimeError("pull failed half-way")
    assert state.records("jira") == [] and state.cursor("jira") is None
    with state.transaction():
        with state.transaction():
            state.set_cursor("jira", {"x": 2})
    assert state.cursor("jira") == {"x": 2}


def test_written_and_project_status(state):
    state.set_written("jira", "APOL-1", "PMO Compliance", "Compliant", "r1")
    state.set_written("jira", "APOL-1", "PMO Compliance", "At risk", "r2")
    state.set_written("jira", "APOL-1", "comment", None, "r2")
    assert state.written("jira") == {("APOL-1", "PMO Compliance"): "At risk", ("APOL-1", "comment"): None}
    state.set_project_status("APOL", "Compliant", "2025-01-01")
    state.set_project_status("APOL", "At risk", "2025-01-05")
    assert state.project_statuses() == {"APOL": ("At risk", "2025-01-05")}


# ---- journal and audit -------------------------------------------------------------------------------------
def test_journal(state):
    a = state.journal_intend("r1", "jira", "APOL-1", "fields", {"changes": {"f": [None, "x"]}, "pct": "50%"})
    b = state.journal_intend("r1", "jira", "APOL-2", "comment", {"lines": ["hello?"]})
    assert [e.id for e in state.journal_pending()] == [a, b]
    assert state.journal_pending("jira")[0].payload == {"changes": {"f": [None, "x"]}, "pct": "50%"}
    state.journal_finish(a, "done")
    assert [e.id for e in state.journal_pending()] == [b]
    assert state.journal_pending("sheets") == []


def test_audit(state):
    state.audit("r1", "jira", "APOL-1", "APOL", "PMO Compliance", None, "Compliant", "written", "first")
    state.audit("r1", "jira", "BRDG-1", "BRDG", "PMO Open Violations", 3, 1, "written")
    rows = state.audit_rows()
    assert [(r["record"], r["before"], r["after"]) for r in rows] == [("APOL-1", None, "Compliant"),
                                                                        ("BRDG-1", "3", "1")]
    assert [r["record"] for r in state.audit_rows(project="BRDG")] == ["BRDG-1"]
    assert state.audit_rows(since=utcnow() + timedelta(minutes=1)) == []


# ---- runs, results and violations --------------------------------------------------------------------------
def test_runs(state):
    first = state.start_run("sync")
    time.sleep(0.01)
    second = state.start_run("check")
    state.finish_run(first, "ok", {"requests": {"jira": 3}, "writes": 2})
    state.finish_run(second, "failed", {}, error="jira: HTTP 401")
    runs = state.runs()
    assert [r["id"] for r in runs] == [second, first]
    assert runs[1]["stats"] == {"requests": {"jira": 3}, "writes": 2} and runs[0]["error"] == "jira: HTTP 401"
    assert [r["id"] for r in state.runs(job="sync")] == [first]
    assert state.runs(limit=1)[0]["id"] == second
    assert state.last_run("sync", ["ok"])["id"] == first
    assert state.last_run("check", ["ok"]) is None
    assert state.last_run("check", ["failed", "partial"])["id"] == second
    stuck = state.start_run("sync")
    assert state.abandon_runs("sync", started_since=utcnow() - timedelta(minutes=1), error="abandoned") == 1
    row = state.runs(job="sync")[0]
    assert (row["id"], row["outcome"], row["error"]) == (stuck, "failed", "abandoned") and row["finished"]


def test_save_results_and_violation_history(state):
    day1 = datetime(2025, 3, 3, 9, tzinfo=timezone.utc)
    r1 = state.start_run("sync")
    first = state.save_results(r1, [result("STAT-01", "APOL", "alarm"), result("RISK-01", "APOL", "ok"),
                                     result("VAR-01", "BRDG", "waived", "medium")], now=day1)
    state.finish_run(r1, "ok", {})
    assert first == {("STAT-01", "APOL"): iso(day1), ("VAR-01", "BRDG"): iso(day1)}
    assert state.latest_result_counts() == {("alarm", "high"): 1, ("ok", "high"): 1, ("waived", "medium"): 1}

    day2 = day1 + timedelta(days=1)
    r2 = state.start_run("sync")
    again = state.save_results(r2, [result("STAT-01", "APOL", "alarm"), result("VAR-01", "BRDG", "ok")], now=day2)
    state.finish_run(r2, "ok", {})
    assert again == {("STAT-01", "APOL"): iso(day1)}  # still open since day 1; VAR-01 resolved
    by_rule = {v["rule"]: v for v in state.violations()}
    assert by_rule["STAT-01"]["last_seen"] == iso(day2) and by_rule["VAR-01"]["resolved_on"] == iso(day2)
    assert [v["rule"] for v in state.violations(open_only=True)] == ["STAT-01"]
    state.mark_escalated([("STAT-01", "APOL")], day2)
    assert state.violations(open_only=True)[0]["escalated_on"] == iso(day2)

    day3 = day2 + timedelta(days=1)
    r3 = state.start_run("sync")
    reopened = state.save_results(r3, [result("VAR-01", "BRDG", "alarm", "medium")], now=day3)
    state.finish_run(r3, "ok", {})
    assert reopened[("VAR-01", "BRDG")] == iso(day3)
    assert [t["counts"] for t in state.trend()] == [{"alarm": 1, "ok": 1, "waived": 1}, {"alarm": 1, "ok": 1},
                                                     {"alarm": 1}]
    assert state.latest_result_counts() == {("alarm", "medium"): 1}


# ---- leases ------------------------------------------------------------------------------------------------
OCC = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)


def test_lease_is_exclusive_until_released_as_done(state_url, state):
    other = State.open(state_url)
    try:
        assert state.try_lease("sync", OCC, "w1", 30)
        assert not other.try_lease("sync", OCC, "w2", 30)  # held
        assert not state.try_lease("sync", OCC, "w1", 30)  # held, even by its own worker: no second run
        assert not other.try_lease("sync", OCC + timedelta(minutes=15), "w2", 30)  # the job is running
        assert other.try_lease("check", OCC, "w2", 30)  # another job is independent
        assert state.renew_lease("sync", OCC, "w1", 30) and not other.renew_lease("sync", OCC, "w2", 30)
        assert not other.release_lease("sync", OCC, "w2")
        assert state.release_lease("sync", OCC, "w1", outcome="ok", run_id="r1")
        assert not other.try_lease("sync", OCC, "w2", 30)  # done: an occurrence runs once
        lease = other.lease("sync", OCC)
        assert (lease["worker"], lease["outcome"], lease["run_id"]) == ("w1", "ok", "r1")
        assert lease["done_at"] is not None
        assert other.try_lease("sync", OCC + timedelta(minutes=15), "w2", 30)  # the next occurrence
    finally:
        other.close()


def test_an_expired_lease_is_taken_over(state):
    assert state.try_lease("sync", OCC, "dead", 0.2)
    assert not state.try_lease("sync", OCC, "w2", 30)
    time.sleep(0.3)
    assert not state.renew_lease("sync", OCC, "w3", 30)
    assert state.try_lease("sync", OCC, "w2", 30)
    lease = state.lease("sync", OCC)
    assert (lease["worker"], lease["attempts"], lease["done_at"]) == ("w2", 2, None)
    assert not state.release_lease("sync", OCC, "dead")  # the dead worker's late release changes nothing
    assert [x["worker"] for x in state.leases(job="sync", open_only=True)] == ["w2"]


def test_a_lease_given_back_undone_is_free_at_once(state):
    assert state.try_lease("sync", OCC, "w1", 30)
    assert state.release_lease("sync", OCC, "w1", done=False)
    assert state.try_lease("sync", OCC, "w2", 30)


def test_one_lease_among_racing_workers(state_url):
    states = [State.open(state_url) for _ in range(8)]
    start = threading.Barrier(len(states))
    won: list[str] = []

    def race(i: int) -> None:
        start.wait()
        if states[i].try_lease("sync", OCC, f"w{i}", 30):
            won.append(f"w{i}")

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(states))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for s in states:
        s.close()
    assert len(won) == 1


def test_prune_leases(state):
    old = utcnow() - timedelta(days=30)
    assert state.try_lease("sync", old, "w1", 30)
    state.release_lease("sync", old, "w1", outcome="ok")
    assert state.try_lease("sync", OCC.replace(year=2099), "w1", 30)
    assert state.prune_leases(utcnow() - timedelta(days=7)) == 1
    assert [x["occurrence"][:4] for x in state.leases()] == ["2099"]
