"""The state store: cursors, the mirror of source records, last-written values, the write-back journal,
the audit trail, run history and violation history.

One `State` class over a DB-API connection. SQL is written once with `?` placeholders; the PostgreSQL backend
translates them. Schema changes are numbered migrations applied on open. The SQLite file (the default) is
created owner-only (0600) because it holds the audit trail of a company's tools.

Transactions: `with state.transaction():` groups writes; a pull stores its records and its new cursor in one
transaction, so a failed run leaves cursors and the mirror exactly as they were.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

from hub.errors import StateError

MIGRATIONS: list[str] = [
    # 1: initial schema
    """
    CREATE TABLE cursors (system TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, updated_at TEXT NOT NULL,
                          PRIMARY KEY (system, name));
    CREATE TABLE records (system TEXT NOT NULL, key TEXT NOT NULL, kind TEXT NOT NULL, project_key TEXT,
                          updated TEXT, activity_at TEXT, data TEXT NOT NULL, PRIMARY KEY (system, key));
    CREATE INDEX records_kind ON records (system, kind);
    CREATE TABLE written (system TEXT NOT NULL, record TEXT NOT NULL, field TEXT NOT NULL, value TEXT,
                          written_at TEXT NOT NULL, run_id TEXT, PRIMARY KEY (system, record, field));
    CREATE TABLE project_status (project TEXT PRIMARY KEY, status TEXT NOT NULL, changed_on TEXT NOT NULL);
    CREATE TABLE runs (id TEXT PRIMARY KEY, job TEXT NOT NULL, started TEXT NOT NULL, finished TEXT,
                       outcome TEXT, error TEXT, stats TEXT);
    CREATE TABLE results (run_id TEXT NOT NULL, rule TEXT NOT NULL, subject TEXT NOT NULL, project TEXT,
                          status TEXT NOT NULL, severity TEXT NOT NULL, reason TEXT);
    CREATE INDEX results_run ON results (run_id);
    CREATE TABLE violations (rule TEXT NOT NULL, subject TEXT NOT NULL, project TEXT, first_seen TEXT NOT NULL,
                             last_seen TEXT NOT NULL, resolved_on TEXT, escalated_on TEXT,
                             PRIMARY KEY (rule, subject));
    CREATE TABLE journal (id TEXT PRIMARY KEY, run_id TEXT NOT NULL, system TEXT NOT NULL, record TEXT NOT NULL,
                          op TEXT NOT NULL, payload TEXT NOT NULL, state TEXT NOT NULL, created TEXT NOT NULL,
                          done_at TEXT, detail TEXT);
    CREATE INDEX journal_state ON journal (state);
    CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, at TEXT NOT NULL,
                        system TEXT NOT NULL, record TEXT NOT NULL, project TEXT, field TEXT NOT NULL,
                        before TEXT, after TEXT, outcome TEXT NOT NULL, reason TEXT);
    CREATE INDEX audit_at ON audit (at);
    """,
]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(dt: datetime | None) -> str | None:
    return dt.astimezone(timezone.utc).isoformat(timespec="microseconds") if dt else None


@dataclass
class MirrorRecord:
    """A source record as the hub last read it, already translated to canonical fields (`data`)."""

    system: str
    key: str
    kind: str
    project_key: str | None
    updated: str | None
    data: dict[str, Any]
    activity_at: str | None = None  # last time a person (not the hub) changed it


@dataclass
class JournalEntry:
    id: str
    run_id: str
    system: str
    record: str
    op: str
    payload: dict[str, Any]
    state: str
    created: str


class State:
    """Open with `State.open(url)`; `url` is sqlite:///path (default backend) or postgresql://..."""

    def __init__(self, conn: Any, url: str, placeholder: str = "?"):
        self._conn = conn
        self.url = url
        self._ph = placeholder
        self._lock = threading.RLock()
        self._depth = 0

    # ---- opening and migrations ------------------------------------------------------------------------
    @classmethod
    def open(cls, url: str) -> "State":
        if url.startswith(("postgresql://", "postgres://")):
            raise StateError("the PostgreSQL state backend is not available in this version; use sqlite:///PATH")
        if not url.startswith("sqlite:///"):
            raise StateError(f"state.url {url!r}: expected sqlite:///PATH or postgresql://...")
        path = Path(url.removeprefix("sqlite:///")).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not path.exists():
                fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
                os.close(fd)
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        except (OSError, sqlite3.Error) as e:
            raise StateError(f"cannot open the state file {path}: {e}") from e
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        state = cls(conn, url)
        state.migrate()
        return state

    def close(self) -> None:
        self._conn.close()

    def migrate(self) -> None:
        with self._lock:
            self._conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = self._conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            current = row[0] or 0
            for number, script in enumerate(MIGRATIONS, start=1):
                if number <= current:
                    continue
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                    for stmt in filter(str.strip, script.split(";")):
                        self._conn.execute(stmt)
                    self._conn.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))
                    self._conn.execute("COMMIT")
                except sqlite3.Error as e:
                    self._conn.execute("ROLLBACK")
                    raise StateError(f"state migration {number} failed: {e}") from e

    # ---- plumbing --------------------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator["State"]:
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self
            except BaseException:
                self._depth -= 1
                if outer:
                    self._conn.execute("ROLLBACK")
                raise
            else:
                self._depth -= 1
                if outer:
                    self._conn.execute("COMMIT")

    def _exec(self, sql: str, params: Iterable = ()) -> Any:
        with self._lock:
            try:
                return self._conn.execute(sql, tuple(params))
            except sqlite3.Error as e:
                raise StateError(f"state store error: {e}") from e

    def _many(self, sql: str, rows: Iterable[Iterable]) -> None:
        with self._lock:
            try:
                self._conn.executemany(sql, [tuple(r) for r in rows])
            except sqlite3.Error as e:
                raise StateError(f"state store error: {e}") from e

    # ---- cursors ---------------------------------------------------------------------------------------
    def cursor(self, system: str, name: str = "default") -> dict | None:
        row = self._exec("SELECT value FROM cursors WHERE system=? AND name=?", (system, name)).fetchone()
        return json.loads(row[0]) if row else None

    def set_cursor(self, system: str, value: dict, name: str = "default") -> None:
        self._exec(
            "INSERT INTO cursors (system, name, value, updated_at) VALUES (?,?,?,?) "
            "ON CONFLICT (system, name) DO UPDATE SET value=excluded.value, updated_at=excluded.updated_at",
            (system, name, json.dumps(value), iso(utcnow())),
        )

    def clear_cursor(self, system: str) -> None:
        self._exec("DELETE FROM cursors WHERE system=?", (system,))

    # ---- mirror ----------------------------------------------------------------------------------------
    def records(self, system: str, kind: str | None = None) -> list[MirrorRecord]:
        sql = "SELECT system, key, kind, project_key, updated, data, activity_at FROM records WHERE system=?"
        params: list = [system]
        if kind:
            sql += " AND kind=?"
            params.append(kind)
        rows = self._exec(sql, params).fetchall()
        return [MirrorRecord(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6]) for r in rows]

    def record_versions(self, system: str) -> dict[str, tuple[str | None, str]]:
        """key -> (updated, data json) for change detection without decoding every record."""
        rows = self._exec("SELECT key, updated, data, activity_at FROM records WHERE system=?", (system,)).fetchall()
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    def upsert_records(self, recs: Iterable[MirrorRecord]) -> None:
        self._many(
            "INSERT INTO records (system, key, kind, project_key, updated, activity_at, data) VALUES (?,?,?,?,?,?,?) "
            "ON CONFLICT (system, key) DO UPDATE SET kind=excluded.kind, project_key=excluded.project_key, "
            "updated=excluded.updated, activity_at=excluded.activity_at, data=excluded.data",
            ((r.system, r.key, r.kind, r.project_key, r.updated, r.activity_at,
              json.dumps(r.data, default=str, sort_keys=True)) for r in recs),
        )

    def delete_records(self, system: str, keys: Iterable[str]) -> None:
        self._many("DELETE FROM records WHERE system=? AND key=?", ((system, k) for k in keys))

    def replace_system_records(self, system: str, recs: list[MirrorRecord]) -> None:
        """A full pull: the mirror of `system` becomes exactly `recs` (records gone from the source go)."""
        self._exec("DELETE FROM records WHERE system=?", (system,))
        self.upsert_records(recs)

    # ---- last-written values ---------------------------------------------------------------------------
    def written(self, system: str) -> dict[tuple[str, str], str | None]:
        rows = self._exec("SELECT record, field, value FROM written WHERE system=?", (system,)).fetchall()
        return {(r[0], r[1]): r[2] for r in rows}

    def set_written(self, system: str, record: str, field: str, value: str | None, run_id: str) -> None:
        self._exec(
            "INSERT INTO written (system, record, field, value, written_at, run_id) VALUES (?,?,?,?,?,?) "
            "ON CONFLICT (system, record, field) DO UPDATE SET value=excluded.value, "
            "written_at=excluded.written_at, run_id=excluded.run_id",
            (system, record, field, value, iso(utcnow()), run_id),
        )

    # ---- project compliance status (for "compliance changed on") ---------------------------------------
    def project_statuses(self) -> dict[str, tuple[str, str]]:
        return {r[0]: (r[1], r[2]) for r in self._exec("SELECT project, status, changed_on FROM project_status")}

    def set_project_status(self, project: str, status: str, changed_on: str) -> None:
        self._exec(
            "INSERT INTO project_status (project, status, changed_on) VALUES (?,?,?) ON CONFLICT (project) "
            "DO UPDATE SET status=excluded.status, changed_on=excluded.changed_on",
            (project, status, changed_on),
        )

    # ---- runs ------------------------------------------------------------------------------------------
    def start_run(self, job: str) -> str:
        run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        self._exec("INSERT INTO runs (id, job, started) VALUES (?,?,?)", (run_id, job, iso(utcnow())))
        return run_id

    def finish_run(self, run_id: str, outcome: str, stats: dict, error: str | None = None) -> None:
        self._exec("UPDATE runs SET finished=?, outcome=?, error=?, stats=? WHERE id=?",
                   (iso(utcnow()), outcome, error, json.dumps(stats, default=str), run_id))

    def runs(self, limit: int = 50, job: str | None = None) -> list[dict]:
        sql = "SELECT id, job, started, finished, outcome, error, stats FROM runs"
        params: list = []
        if job:
            sql += " WHERE job=?"
            params.append(job)
        sql += " ORDER BY started DESC LIMIT ?"
        params.append(limit)
        return [
            {"id": r[0], "job": r[1], "started": r[2], "finished": r[3], "outcome": r[4], "error": r[5],
             "stats": json.loads(r[6]) if r[6] else {}}
            for r in self._exec(sql, params).fetchall()
        ]

    # ---- results and violation history -----------------------------------------------------------------
    def save_results(self, run_id: str, results: list, *, now: datetime) -> dict[tuple[str, str], str]:
        """Store a run's results and update violation history. Returns (rule, subject) -> first_seen."""
        now_s = iso(now)
        self._many(
            "INSERT INTO results (run_id, rule, subject, project, status, severity, reason) VALUES (?,?,?,?,?,?,?)",
            ((run_id, r.rule, r.subject, r.project, r.status, r.severity, r.reason) for r in results),
        )
        open_now = {(r.rule, r.subject): r for r in results if r.status in ("alarm", "waived")}
        known = {(r[0], r[1]): (r[2], r[3]) for r in self._exec(
            "SELECT rule, subject, first_seen, resolved_on FROM violations").fetchall()}
        new_rows, seen_rows = [], []
        for key, r in open_now.items():
            prev = known.get(key)
            if prev is None or prev[1] is not None:  # new, or re-opened after being resolved
                new_rows.append((r.rule, r.subject, r.project, now_s, now_s))
            else:
                seen_rows.append((now_s, r.rule, r.subject))
        self._many(
            "INSERT INTO violations (rule, subject, project, first_seen, last_seen) VALUES (?,?,?,?,?) "
            "ON CONFLICT (rule, subject) DO UPDATE SET first_seen=excluded.first_seen, last_seen=excluded.last_seen, "
            "resolved_on=NULL, escalated_on=NULL", new_rows)
        self._many("UPDATE violations SET last_seen=? WHERE rule=? AND subject=?", seen_rows)
        evaluated = {(r.rule, r.subject) for r in results if r.status in ("ok", "skip")}
        resolved = [(now_s, k[0], k[1]) for k, v in known.items() if v[1] is None and k in evaluated]
        self._many("UPDATE violations SET resolved_on=? WHERE rule=? AND subject=?", resolved)
        return {(r[0], r[1]): r[2] for r in self._exec(
            "SELECT rule, subject, first_seen FROM violations WHERE resolved_on IS NULL").fetchall()}

    def violations(self, *, open_only: bool = False) -> list[dict]:
        sql = "SELECT rule, subject, project, first_seen, last_seen, resolved_on, escalated_on FROM violations"
        if open_only:
            sql += " WHERE resolved_on IS NULL"
        cols = ["rule", "subject", "project", "first_seen", "last_seen", "resolved_on", "escalated_on"]
        return [dict(zip(cols, r)) for r in self._exec(sql).fetchall()]

    def mark_escalated(self, keys: Iterable[tuple[str, str]], at: datetime) -> None:
        self._many("UPDATE violations SET escalated_on=? WHERE rule=? AND subject=? AND escalated_on IS NULL",
                   ((iso(at), k[0], k[1]) for k in keys))

    def trend(self, limit: int = 30) -> list[dict]:
        """Per past run: time and counts by status, oldest first (for the report's trend chart)."""
        rows = self._exec(
            "SELECT r.id, r.started, res.status, COUNT(*) FROM runs r JOIN results res ON res.run_id = r.id "
            "GROUP BY r.id, r.started, res.status ORDER BY r.started").fetchall()
        runs: dict[str, dict] = {}
        for run_id, started, status, n in rows:
            runs.setdefault(run_id, {"run_id": run_id, "at": started, "counts": {}})["counts"][status] = n
        return list(runs.values())[-limit:]

    # ---- write-back journal ----------------------------------------------------------------------------
    def journal_intend(self, run_id: str, system: str, record: str, op: str, payload: dict) -> str:
        jid = uuid.uuid4().hex
        self._exec("INSERT INTO journal (id, run_id, system, record, op, payload, state, created) "
                   "VALUES (?,?,?,?,?,?,?,?)",
                   (jid, run_id, system, record, op, json.dumps(payload, default=str), "intended", iso(utcnow())))
        return jid

    def journal_finish(self, jid: str, state: str, detail: str | None = None) -> None:
        self._exec("UPDATE journal SET state=?, done_at=?, detail=? WHERE id=?", (state, iso(utcnow()), detail, jid))

    def journal_pending(self, system: str | None = None) -> list[JournalEntry]:
        sql = "SELECT id, run_id, system, record, op, payload, state, created FROM journal WHERE state='intended'"
        params: list = []
        if system:
            sql += " AND system=?"
            params.append(system)
        return [JournalEntry(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7])
                for r in self._exec(sql + " ORDER BY created", params).fetchall()]

    # ---- audit -----------------------------------------------------------------------------------------
    def audit(self, run_id: str, system: str, record: str, project: str | None, field: str,
              before: Any, after: Any, outcome: str, reason: str = "") -> None:
        self._exec("INSERT INTO audit (run_id, at, system, record, project, field, before, after, outcome, reason) "
                   "VALUES (?,?,?,?,?,?,?,?,?,?)",
                   (run_id, iso(utcnow()), system, record, project, field,
                    None if before is None else str(before), None if after is None else str(after), outcome, reason))

    def audit_rows(self, *, since: datetime | None = None, project: str | None = None) -> list[dict]:
        sql = "SELECT run_id, at, system, record, project, field, before, after, outcome, reason FROM audit WHERE 1=1"
        params: list = []
        if since:
            sql += " AND at >= ?"
            params.append(iso(since))
        if project:
            sql += " AND project = ?"
            params.append(project)
        cols = ["run_id", "at", "system", "record", "project", "field", "before", "after", "outcome", "reason"]
        return [dict(zip(cols, r)) for r in self._exec(sql + " ORDER BY seq", params).fetchall()]
