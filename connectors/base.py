"""The connector interface: what every source system implements.

A connector does four things, each a method:

- `pull(cursor, full=...)` reads new and changed records since `cursor` (or everything when `full`) and returns
  them already translated to canonical fields as `MirrorRecord`s, plus the cursor to store *after* the records
  are stored. It never writes state itself, so a failed pull leaves state as it was.
- `contribute(records)` turns the mirror of the system's records into canonical objects (a partial
  `Portfolio`). It is pure: no network.
- `targets(records)` lists where governance values can be written back (one `WriteTarget` per project record),
  with the values the source currently holds.
- `apply(op)` performs one planned `WriteOp`; `recover(entry, records)` tells whether a write that was journalled
  but not confirmed before a crash actually landed. A connector whose API wants one request for many records
  (a spreadsheet) sets `batch_writes = True` and implements `apply_batch(ops)`: the write-back journals every
  op as intended, calls `apply_batch` once, and settles each op from its outcome.

A target may also carry a whole results table (`WriteTarget.results`, e.g. a "PMO Compliance" tab): its current
content is summarised as `table_digest(rows)` in `current["results"]`, and the planned op is "results".

Connectors raise only `hub.errors` exceptions (classified in `connectors.http`), and count their HTTP requests
in `requests`.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from connectors.values import same
from hub.errors import ConnectorError
from hub.model import SEVERITY_RANK, Portfolio
from hub.state import JournalEntry, MirrorRecord


def table_digest(rows: list[list[Any]]) -> str:
    """A short, stable digest of a table of cell texts (what a results table holds, compared across runs)."""
    norm = [[("" if v is None else str(v)) for v in row] for row in rows]
    return hashlib.sha256(json.dumps(norm, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()[:24]


def results_order(row: list[Any]) -> tuple:
    """The order of a results table's rows [project, rule, severity, status, subject, reason]: by project, then
    worst severity, rule and subject (what `table_digest` of a re-read table must be computed in)."""
    return (row[0] or "", -SEVERITY_RANK.get(row[2], 0), row[1], row[4])


@dataclass
class PullResult:
    system: str
    records: list[MirrorRecord]  # changed records (incremental) or every record (full)
    full: bool
    cursor: dict
    notes: list[str] = field(default_factory=list)


@dataclass
class WriteTarget:
    """A record in a source system that carries the hub's governance values for one project."""

    system: str
    record: str
    project: str
    url: str | None
    current: dict[str, Any]  # hub-owned field -> value as last read (a field left out: unreadable, e.g. no column)
    fields: tuple[str, ...]  # hub-owned fields this target supports
    comment: bool = False  # supports a status-summary comment/message
    comment_id: str | None = None  # the hub's existing summary comment, as found in the source
    results: bool = False  # carries the consolidated results table; current["results"] = table_digest(rows)
    # a message to publish (hub.publish) instead of the project's status summary: {"channel": "mail"|"teams",
    # "to": [addresses], "subject", "markdown", "html"}; sent when its markdown differs from the last one sent
    message: dict[str, Any] | None = None


@dataclass
class WriteOp:
    """One write request: a set of field changes on one record, or one comment create/edit."""

    system: str
    record: str
    project: str | None
    op: str  # "fields" | "comment" | "results"
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # field -> (before, after)
    payload: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


class Connector(ABC):
    system: ClassVar[str]
    # the data kinds (hub.rules.registry.DataKind) this connector can supply to the portfolio
    supplies: ClassVar[tuple[str, ...]] = ()
    # True: write-back hands all of this system's ops of a run to `apply_batch` at once
    batch_writes: ClassVar[bool] = False
    # the record kinds `targets` and `recover` look at; None: all. When set, a run streams the mirror into
    # `contribute` (one pass over an iterator) and keeps only these kinds in memory for the write-back
    target_kinds: ClassVar[tuple[str, ...] | None] = None

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()

    @abstractmethod
    def pull(self, cursor: dict | None, *, full: bool) -> PullResult: ...

    @abstractmethod
    def contribute(self, records: list[MirrorRecord], *, as_of: datetime) -> Portfolio: ...

    def targets(self, records: list[MirrorRecord]) -> list[WriteTarget]:
        return []

    def apply(self, op: WriteOp) -> dict[str, Any]:
        raise NotImplementedError(f"{self.system} does not support write-back")

    def apply_batch(self, ops: list[WriteOp]) -> list[dict[str, Any] | ConnectorError]:
        """Perform several planned writes; one outcome per op, in order: its result, or the error it failed with.

        Default: `apply` one op after the other. Used by write-back only when `batch_writes` is True.
        """
        out: list[dict[str, Any] | ConnectorError] = []
        for op in ops:
            try:
                out.append(self.apply(op))
            except ConnectorError as e:
                out.append(e)
        return out

    def recover(self, entry: JournalEntry, records: dict[str, MirrorRecord]) -> dict[str, Any] | None:
        """Return the write's result if the journalled write landed before a crash, else None."""
        return None

    def close(self) -> None:
        return None


def fields_landed(entry: JournalEntry, records: dict[str, MirrorRecord]) -> dict[str, Any] | None:
    """For `recover`: {} when the record as just pulled already holds every value a journalled "fields" op was
    to write (the write landed before the crash), else None (it did not, or the record is gone)."""
    rec = records.get(entry.record)
    if rec is None or rec.kind == "deleted":
        return None
    current = rec.data.get("governance") or {}
    for k, (_before, after) in (entry.payload.get("changes") or {}).items():
        if not same(current.get(k), after):
            return None
    return {}
