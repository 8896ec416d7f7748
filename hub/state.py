"""The state store: cursors, the mirror of source records, last-written values, the write-back journal,
the audit trail, run history, violation history and the leases of scheduled jobs.

One `State` class over a DB-API connection, with two backends:

    State.open("sqlite:///path/state.db")          the default: one file, one machine
    State.open("postgresql://user@host:5432/db")    shared by several `pmo-hub run` workers (psycopg 3)

SQL is written once, with `?` placeholders. A small `Dialect` holds what differs between the backends: the
placeholder style (`?` or `%s`), how a write transaction starts (`BEGIN IMMEDIATE` or `BEGIN`), DDL spellings
(AUTOINCREMENT or an identity column) and how writers are serialised on a name (SQLite's write lock is
already database-wide; PostgreSQL takes a transaction-scoped advisory lock). psycopg is imported only when a
PostgreSQL URL is opened, so SQLite users need nothing extra. A PostgreSQL schema other than `public` is
chosen in the URL: `postgresql://host/db?options=-csearch_path%3Dpmo_hub`; the password comes from the
environment (PGPASSWORD) or ~/.pgpass, never from the config file.

Schema changes are numbered migrations, applied on open in one transaction under that lock, so two workers
starting together never both migrate. The SQLite file is created owner-only (0600) because it holds the audit
trail of a company's tools.

Transactions: `with state.transaction():` groups writes; a pull stores its records and its new cursor in one
transaction, so a failed run leaves cursors and the mirror exactly as they were. A `State` may be shared by
threads (calls are serialised), but each long-running thread is better off with its own.

Leases (`try_lease`, `renew_lease`, `release_lease`) let several workers run each occurrence of a scheduled
job exactly once; see `try_lease` and `hub.scheduler`.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import urlsplit

from hub.errors import StateError
from hub.files import private_dir, private_file
from hub.secrets import mask, register

log = logging.getLogger("pmo_hub.state")

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
    # 2: leases of scheduled job occurrences (hub.scheduler); runs looked up by job
    """
    CREATE TABLE leases (job TEXT NOT NULL, occurrence TEXT NOT NULL, worker TEXT NOT NULL, acquired TEXT NOT NULL,
                         expires TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 1, done_at TEXT, outcome TEXT,
                         run_id TEXT, PRIMARY KEY (job, occurrence));
    CREATE INDEX leases_open ON leases (job, done_at);
    CREATE INDEX runs_job ON runs (job, started);
    """,
]


def _wal(conn: sqlite3.Connection, tries: int = 50) -> None:
    """Put the database in WAL mode. Workers opening a fresh store together race for it, and SQLite answers the
    losers "database is locked" at once (its busy timeout does not cover this switch): try again shortly."""
    for n in range(tries):
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or n == tries - 1:
                raise
            time.sleep(0.02 * (n + 1))


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(dt: datetime | None) -> str | None:
    return dt.astimezone(timezone.utc).isoformat(timespec="microseconds") if dt else None


# ---- dialects ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dialect:
    """What differs between the SQL backends. Everything else is the same SQL, written with `?`."""

    name: str
    begin: str  # starts a write transaction
    errors: tuple[type[BaseException], ...]  # the driver's exceptions, wrapped into StateError
    format_params: bool = False  # True: `?` becomes `%s` (and a literal `%` becomes `%%`)
    lock_sql: str | None = None  # inside a transaction: serialise writers on a name (None: BEGIN already does)
    ddl_subs: tuple[tuple[str, str], ...] = ()  # DDL spellings to replace

    def sql(self, text: str) -> str:
        return _format_params(text) if self.format_params else text

    def ddl(self, text: str) -> str:
        for old, new in self.ddl_subs:
            text = text.replace(old, new)
        return text


@lru_cache(maxsize=512)
def _format_params(text: str) -> str:
    # Every `?` is a parameter: the hub's SQL never has one inside a string literal.
    return text.replace("%", "%%").replace("?", "%s")


SQLITE = Dialect("sqlite", begin="BEGIN IMMEDIATE", errors=(sqlite3.Error,))


def postgres_dialect(errors: tuple[type[BaseException], ...]) -> Dialect:
    return Dialect(
        "postgresql", begin="BEGIN", errors=errors, format_params=True,
        # scoped to the schema, so several hubs (or test runs) in one database do not wait for each other
        lock_sql="SELECT pg_advisory_xact_lock(hashtext(coalesce(current_schema(), '') || ':' || ?))",
        ddl_subs=(("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),),
    )


class _Rows:
    """A statement's result, fetched while the connection was held: `fetchone`, `fetchall`, iteration, rowcount."""

    def __init__(self, rows: list, rowcount: int):
        self._rows = rows
        self.rowcount = rowcount

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list:
        return self._rows

    def __iter__(self) -> Iterator:
        return iter(self._rows)


def redact_url(url: str) -> str:
    """The URL with its password replaced by ***, for messages."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


@dataclass(slots=True)  # slots: a large pull holds 100k of them
class MirrorRecord:
    """A source record as the hub last read it, already translated to canonical fields (`data`).

    A connector may hand over a large pull with `data` already serialised (a JSON object with sorted keys,
    as the state store keeps it): a hundred thousand records then take a fifth of the memory. Records read
    from the state store always have a dict.
    """

    system: str
    key: str
    kind: str
    project_key: str | None
    updated: str | None
    data: dict[str, Any] | str
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


def _occurrence(value: datetime | str) -> str:
    return iso(value) if isinstance(value, datetime) else value  # type: ignore[return-value]


class State:
    """Open with `State.open(url)`; `url` is sqlite:///path (default backend) or postgresql://..."""

    def __init__(self, conn: Any, url: str, dialect: Dialect = SQLITE):
        self._conn = conn
        self.url = url
        self.dialect = dialect
        self._lock = threading.RLock()
        self._depth = 0

    # ---- opening and migrations ------------------------------------------------------------------------
    @classmethod
    def open(cls, url: str) -> "State":
        if url.startswith(("postgresql://", "postgres://")):
            state = cls._open_postgres(url)
        elif url.startswith("sqlite:///"):
            state = cls._open_sqlite(url)
        else:
            raise StateError(f"state.url {redact_url(url)!r}: expected sqlite:///PATH or postgresql://...")
        try:
            state.migrate()
        except BaseException:
            state.close()
            raise
        return state

    @classmethod
    def _open_sqlite(cls, url: str) -> "State":
        path = Path(url.removeprefix("sqlite:///")).expanduser()
        try:
            private_dir(path.parent)
            # owner-only, and tightened if an older version or a copy left it (or its WAL) readable by others;
            # SQLite creates the WAL and shared-memory files with the database file's mode
            for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                if p == path or p.exists():
                    private_file(p)
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
            _wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        except (OSError, sqlite3.Error) as e:
            raise StateError(f"cannot open the state file {path}: {e}") from e
        return cls(conn, url, SQLITE)

    @classmethod
    def _open_postgres(cls, url: str) -> "State":
        password = urlsplit(url).password
        if password:
            register(password)
        try:
            import psycopg
        except ImportError as e:
            raise StateError("state.url is a PostgreSQL URL but psycopg is not installed; "
                             "install pmo-hub with the postgres extra: pip install 'pmo-hub[postgres]'") from e
        try:
            conn = psycopg.connect(url, autocommit=True, connect_timeout=15, application_name="pmo-hub")
        except psycopg.Error as e:
            raise StateError(f"cannot connect to the PostgreSQL state store {redact_url(url)}: "
                             f"{mask(str(e)).strip()}") from e
        return cls(conn, url, postgres_dialect((psycopg.Error,)))

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def migrate(self) -> None:
        """Apply the migrations this store has not had yet, all in one transaction, under the migration lock.

        The version is read inside the lock, so a second worker that waited finds nothing left to do.
        """
        number = 0
        with self._lock:
            try:
                self._raw(self.dialect.begin)
                self._lock_name("migrate")
                self._raw("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
                current = self._exec("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0
                for number, script in enumerate(MIGRATIONS, start=1):
                    if number <= current:
                        continue
                    for stmt in filter(str.strip, script.split(";")):
                        self._raw(self.dialect.ddl(stmt))
                    self._exec("INSERT INTO schema_version (version) VALUES (?)", (number,))
                self._raw("COMMIT")
            except (StateError, *self.dialect.errors) as e:
                self._rollback()
                what = f"state migration {number}" if number else "reading the state schema version"
                raise StateError(f"{what} failed ({self.dialect.name}): {mask(str(e)).strip()}") from e

    def schema_version(self) -> int:
        return self._exec("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0

    # ---- plumbing --------------------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator["State"]:
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._raw(self.dialect.begin)
            self._depth += 1
            try:
                yield self
            except BaseException:
                self._depth -= 1
                if outer:
                    self._rollback()
                raise
            else:
                self._depth -= 1
                if outer:
                    self._raw("COMMIT")

    def _raw(self, sql: str) -> None:
        """A statement without parameters (transaction control, DDL)."""
        with self._lock:
            try:
                self._conn.execute(sql)
            except self.dialect.errors as e:
                raise StateError(f"state store error: {mask(str(e)).strip()}") from e

    def _rollback(self) -> None:
        try:
            self._conn.execute("ROLLBACK")
        except self.dialect.errors as e:  # the connection is gone; the error being raised says why
            log.warning("state store: rollback failed: %s", str(e).strip())

    def _lock_name(self, name: str) -> None:
        """Inside a transaction: wait until no other writer holds `name` (PostgreSQL); SQLite's BEGIN IMMEDIATE
        already holds the whole database."""
        if self.dialect.lock_sql:
            self._exec(self.dialect.lock_sql, (name,))

    def _exec(self, sql: str, params: Iterable = ()) -> _Rows:
        with self._lock:
            try:
                cur = self._conn.execute(self.dialect.sql(sql), tuple(params))
                rows = cur.fetchall() if cur.description is not None else []
                return _Rows(rows, cur.rowcount)
            except self.dialect.errors as e:
                raise StateError(f"state store error: {mask(str(e)).strip()}") from e

    def _many(self, sql: str, rows: Iterable[Iterable]) -> None:
        batch = [tuple(r) for r in rows]
        if not batch:
            return
        with self._lock:
            try:
                with closing(self._conn.cursor()) as cur:
                    cur.executemany(self.dialect.sql(sql), batch)
            except self.dialect.errors as e:
                raise StateError(f"state store error: {mask(str(e)).strip()}") from e

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

    def iter_records(self, system: str, *, chunk: int = 2000) -> Iterator[MirrorRecord]:
        """The records of `system` one by one, read `chunk` at a time (in key order), each decoded only as it
        is reached: a caller that builds something smaller from each never holds them all."""
        after = ""
        while True:
            rows = self._exec("SELECT system, key, kind, project_key, updated, data, activity_at FROM records "
                              "WHERE system=? AND key>? ORDER BY key LIMIT ?", (system, after, chunk)).fetchall()
            for r in rows:
                yield MirrorRecord(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6])
            if len(rows) < chunk:
                return
            after = rows[-1][1]

    def record_times(self, system: str) -> dict[str, tuple[str | None, str | None]]:
        """key -> (updated, activity_at): what a pull is compared with, without the records' data."""
        rows = self._exec("SELECT key, updated, activity_at FROM records WHERE system=?", (system,)).fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}

    def record_data(self, system: str, keys: Iterable[str], *, chunk: int = 500) -> dict[str, str]:
        """key -> data (JSON text) of these records (those that exist)."""
        keys = list(keys)
        out: dict[str, str] = {}
        for i in range(0, len(keys), chunk):
            part = keys[i:i + chunk]
            rows = self._exec(f"SELECT key, data FROM records WHERE system=? AND key IN ({','.join('?' * len(part))})",
                              (system, *part)).fetchall()
            out.update((r[0], r[1]) for r in rows)
        return out

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
              r.data if isinstance(r.data, str) else json.dumps(r.data, default=str, sort_keys=True))
             for r in recs),
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
        """Writes to settle before planning: 'intended' (a run died before it knew the outcome) and 'unknown' (sent,
        but no answer came)."""
        sql = ("SELECT id, run_id, system, record, op, payload, state, created FROM journal "
               "WHERE state IN ('intended', 'unknown')")
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

    # ---- run history helpers (status, metrics, scheduler) ---------------------------------------------
    def last_run(self, job: str, outcomes: Iterable[str]) -> dict | None:
        """The most recent finished run of `job` whose outcome is one of `outcomes`."""
        wanted = list(outcomes)
        sql = ("SELECT id, job, started, finished, outcome, error, stats FROM runs WHERE job=? AND outcome IN ("
               + ",".join("?" * len(wanted)) + ") ORDER BY started DESC LIMIT 1")
        r = self._exec(sql, [job, *wanted]).fetchone()
        if r is None:
            return None
        return {"id": r[0], "job": r[1], "started": r[2], "finished": r[3], "outcome": r[4], "error": r[5],
                "stats": json.loads(r[6]) if r[6] else {}}

    def abandon_runs(self, job: str, *, started_since: datetime | str, error: str) -> int:
        """Mark unfinished runs of `job` started at or after `started_since` as failed (their worker died)."""
        since = iso(started_since) if isinstance(started_since, datetime) else started_since
        return self._exec("UPDATE runs SET finished=?, outcome='failed', error=? "
                          "WHERE job=? AND finished IS NULL AND started >= ?",
                          (iso(utcnow()), error, job, since)).rowcount

    def latest_result_counts(self) -> dict[tuple[str, str], int]:
        """(status, severity) -> count for the most recent finished run that saved results."""
        rows = self._exec(
            "SELECT status, severity, COUNT(*) FROM results WHERE run_id = ("
            "SELECT r.id FROM runs r WHERE r.finished IS NOT NULL "
            "AND EXISTS (SELECT 1 FROM results x WHERE x.run_id = r.id) ORDER BY r.started DESC LIMIT 1) "
            "GROUP BY status, severity").fetchall()
        return {(r[0], r[1]): r[2] for r in rows}

    # ---- leases of scheduled jobs ----------------------------------------------------------------------
    def try_lease(self, job: str, occurrence: datetime | str, worker: str, ttl_s: float) -> bool:
        """Take the lease on one occurrence of a scheduled job for `ttl_s` seconds. True when taken.

        Refused when the occurrence is done, when another lease on it has not expired, or when the same job
        holds an unexpired lease on another occurrence (a job never runs twice at once, on any worker). An
        expired, unfinished lease (its worker died) is taken over. Checked and written in one transaction
        under a per-job lock, so two workers asking at once cannot both get it.
        """
        occ = _occurrence(occurrence)
        now = utcnow()
        now_s = iso(now)
        with self.transaction():
            self._lock_name(f"lease:{job}")
            rows = self._exec("SELECT occurrence, expires, done_at FROM leases "
                              "WHERE job=? AND (occurrence=? OR done_at IS NULL)", (job, occ)).fetchall()
            for o, expires, done_at in rows:
                if o == occ and done_at is not None:
                    return False  # ran already
                if done_at is None and expires > now_s:
                    return False  # held: this occurrence by another worker, or the job is running another one
            expires_s = iso(now + timedelta(seconds=ttl_s))
            if any(o == occ for o, _, _ in rows):
                self._exec("UPDATE leases SET worker=?, acquired=?, expires=?, attempts=attempts+1 "
                           "WHERE job=? AND occurrence=?", (worker, now_s, expires_s, job, occ))
            else:
                self._exec("INSERT INTO leases (job, occurrence, worker, acquired, expires) VALUES (?,?,?,?,?)",
                           (job, occ, worker, now_s, expires_s))
        return True

    def renew_lease(self, job: str, occurrence: datetime | str, worker: str, ttl_s: float) -> bool:
        """Push the expiry of a lease `worker` holds to now + `ttl_s`. False when it is no longer `worker`'s."""
        expires = iso(utcnow() + timedelta(seconds=ttl_s))
        return self._exec("UPDATE leases SET expires=? WHERE job=? AND occurrence=? AND worker=? AND done_at IS NULL",
                          (expires, job, _occurrence(occurrence), worker)).rowcount == 1

    def release_lease(self, job: str, occurrence: datetime | str, worker: str, *, done: bool = True,
                      outcome: str | None = None, run_id: str | None = None) -> bool:
        """Give a lease back. `done=True`: the occurrence ran (whatever its outcome) and is never run again;
        `done=False`: it did not run, and any worker may take it now. False when `worker` no longer held it."""
        now_s = iso(utcnow())
        if done:
            sql, params = ("UPDATE leases SET done_at=?, expires=?, outcome=?, run_id=? "
                           "WHERE job=? AND occurrence=? AND worker=? AND done_at IS NULL",
                           (now_s, now_s, outcome, run_id, job, _occurrence(occurrence), worker))
        else:
            sql, params = ("UPDATE leases SET expires=? WHERE job=? AND occurrence=? AND worker=? AND done_at IS NULL",
                           (now_s, job, _occurrence(occurrence), worker))
        return self._exec(sql, params).rowcount == 1

    def lease(self, job: str, occurrence: datetime | str) -> dict | None:
        rows = self.leases(job=job, occurrence=occurrence)
        return rows[0] if rows else None

    def leases(self, *, job: str | None = None, occurrence: datetime | str | None = None,
               open_only: bool = False, limit: int = 100) -> list[dict]:
        """Leases, newest occurrence first. `open_only`: not done (running, or abandoned by a dead worker)."""
        sql = ("SELECT job, occurrence, worker, acquired, expires, attempts, done_at, outcome, run_id "
               "FROM leases WHERE 1=1")
        params: list = []
        if job is not None:
            sql += " AND job=?"
            params.append(job)
        if occurrence is not None:
            sql += " AND occurrence=?"
            params.append(_occurrence(occurrence))
        if open_only:
            sql += " AND done_at IS NULL"
        sql += " ORDER BY occurrence DESC LIMIT ?"
        params.append(limit)
        cols = ["job", "occurrence", "worker", "acquired", "expires", "attempts", "done_at", "outcome", "run_id"]
        return [dict(zip(cols, r)) for r in self._exec(sql, params).fetchall()]

    def prune_leases(self, before: datetime) -> int:
        """Forget leases of occurrences older than `before` that are done or long expired."""
        b = iso(before)
        return self._exec("DELETE FROM leases WHERE occurrence < ? AND (done_at IS NOT NULL OR expires < ?)",
                          (b, b)).rowcount
