"""Write-back: plan the governance values each source should hold, then apply the plan safely.

Planning is a pure diff: for every `WriteTarget` (a project record in a source) the desired hub-owned values
(compliance status, open violation count, the date the status last changed, a status-summary comment) are
compared with the values the source holds now and with the values the hub last wrote:

- equal to the source's value: nothing to do (a second sync with no change makes zero writes);
- the source's value differs from what the hub last wrote: a person edited a hub-owned field. The conflict
  policy decides: `flag` (default) leaves the edit and reports a conflict, `hub-wins` overwrites it (the audit
  trail keeps both values), `source-wins` adopts the person's value as the new baseline.

Applying goes through the journal: each write is recorded as intended, performed, then marked done together
with the new last-written value and its audit row. A run killed in between leaves an intended entry; the next
run asks the connector whether that write landed (`recover`) before planning, so it is neither lost nor
repeated. A connector with `batch_writes` (one request carries many writes: a spreadsheet, Graph's `$batch`)
gets all of its ops at once through `apply_batch`: every op is journalled as intended first, then each is
settled from its own outcome, so one failed or conflicting op does not fail the others. A safety cap stops the
apply before the first write when the plan is larger than configured.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from connectors.base import Connector, WriteOp, WriteTarget, results_order, table_digest
from connectors.values import same
from hub.errors import ConflictError, ConnectorError, OutcomeUnknownError, SafetyCapError
from hub.model import SEVERITY_RANK, Result
from hub.state import MirrorRecord, State

STATUS_COMPLIANT = "Compliant"
STATUS_AT_RISK = "At risk"
STATUS_NON_COMPLIANT = "Non-compliant"
STATUS_NOT_ASSESSED = "Not assessed"
MAX_COMMENT_LINES = 25


@dataclass
class Conflict:
    system: str
    record: str
    project: str
    field: str
    last_written: Any
    source_value: Any
    wanted: Any
    resolution: str  # "kept source value" | "overwritten" | "adopted"


@dataclass
class Plan:
    ops: list[WriteOp] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    statuses: dict[str, tuple[str, str]] = field(default_factory=dict)  # project -> (status, changed_on)
    targets: int = 0
    adopted: list[tuple[str, str, str, Any]] = field(default_factory=list)  # (system, record, field, value)

    def rows(self) -> list[dict]:
        """One row per field change (what `plan` and `sync --dry-run` print)."""
        out = []
        for op in self.ops:
            if op.op == "fields":
                for f, (before, after) in op.changes.items():
                    out.append({"system": op.system, "record": op.record, "project": op.project, "field": f,
                                "before": before, "after": after, "reason": op.reason})
            elif op.op == "results":
                out.append({"system": op.system, "record": op.record, "project": op.project, "field": "results",
                            "before": "(none)" if op.payload.get("first") else "(previous results)",
                            "after": f"{op.payload['count']} result rows", "reason": op.reason})
            else:
                out.append({"system": op.system, "record": op.record, "project": op.project, "field": "comment",
                            "before": "(none)" if not op.payload.get("comment_id") else "(previous summary)",
                            "after": headline(op.payload), "reason": op.reason})
        return out


@dataclass
class ApplyReport:
    done: int = 0
    failed: int = 0
    conflicts: int = 0
    recovered: int = 0
    errors: list[str] = field(default_factory=list)
    by_system: Counter = field(default_factory=Counter)




def _norm(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def project_status(results: list[Result]) -> tuple[str, int]:
    """(compliance status, open violations) for one project's results."""
    alarms = [r for r in results if r.status == "alarm"]
    if alarms:
        worst = max(SEVERITY_RANK[r.severity] for r in alarms)
        return (STATUS_NON_COMPLIANT if worst >= SEVERITY_RANK["high"] else STATUS_AT_RISK), len(alarms)
    if any(r.status == "ok" for r in results):
        return STATUS_COMPLIANT, 0
    return STATUS_NOT_ASSESSED, 0


def summary_lines(project: str, status: str, results: list[Result]) -> list[str]:
    """The status-summary comment: stable text (no timestamps, no day counts) so it changes only with content."""
    alarms = sorted((r for r in results if r.status == "alarm"),
                    key=lambda r: (-SEVERITY_RANK[r.severity], r.rule, r.subject))
    waived = sorted((r for r in results if r.status == "waived"), key=lambda r: (r.rule, r.subject))
    errors = sorted((r for r in results if r.status == "error"), key=lambda r: (r.rule, r.subject))
    lines = [f"PMO compliance for {project}: {status} ({len(alarms)} open violation{'s' if len(alarms) != 1 else ''})"]
    for r in alarms[:MAX_COMMENT_LINES]:
        lines.append(f"- {r.rule} [{r.severity}] {r.title or r.rule}: {r.subject}")
    if len(alarms) > MAX_COMMENT_LINES:
        lines.append(f"- ... and {len(alarms) - MAX_COMMENT_LINES} more (see the PMO compliance report)")
    for r in waived[:10]:
        until = (r.waiver or {}).get("expires")
        lines.append(f"- waived: {r.rule} {r.subject}" + (f" until {until}" if until else ""))
    if errors:
        lines.append(f"- {len(errors)} check(s) could not be evaluated because data was missing or unreadable: "
                     + ", ".join(sorted({r.rule for r in errors})))
    return lines


def plan(targets: list[WriteTarget], results: list[Result], state: State, *, today: date,
         conflict_policy: str) -> Plan:
    by_project: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        if r.project:
            by_project[r.project].append(r)
    previous = state.project_statuses()
    written: dict[str, dict[tuple[str, str], str | None]] = {}
    out = Plan(targets=len(targets))
    table: list[list[str]] | None = None
    for t in targets:
        if t.results:  # a whole results table (e.g. a spreadsheet tab): rewritten when its content differs
            table = results_rows(results) if table is None else table
            digest = table_digest(table)
            # a connector that does not read the table back leaves "results" out: compare with the last written
            if "results" in t.current:
                current = t.current["results"]
            else:
                if t.system not in written:
                    written[t.system] = state.written(t.system)
                current = written[t.system].get((t.record, "results"))
            if current != digest:
                out.ops.append(WriteOp(t.system, t.record, None, "results",
                                       payload={"rows": table, "hash": digest, "count": len(table),
                                                "first": current is None},
                                       reason="results changed" if current else "no results table"))
            continue
        if t.system not in written:
            written[t.system] = state.written(t.system)
        last = written[t.system]
        if t.message is not None:  # a published message (hub.publish): sent when its text changed
            digest = hashlib.sha256(t.message["markdown"].encode()).hexdigest()[:20]
            if last.get((t.record, "comment")) != digest:
                out.ops.append(WriteOp(t.system, t.record, t.project or None, "comment",
                                       payload={**t.message, "hash": digest},
                                       reason="changed since the last one sent" if last.get((t.record, "comment"))
                                       else "first one"))
            continue
        proj_results = by_project.get(t.project, [])
        status, count = project_status(proj_results)
        prev = previous.get(t.project)
        changed_on = prev[1] if prev and prev[0] == status else today.isoformat()
        out.statuses[t.project] = (status, changed_on)
        desired = {"compliance_status": status, "open_violations": count, "compliance_changed": changed_on}
        changes: dict[str, tuple[Any, Any]] = {}
        reasons = []
        for f in t.fields:
            # a field left out of `current` could not be read (e.g. its column is gone): assume the hub's last
            # written value is still there, so only a real change is planned (and the connector may refuse it)
            cur = t.current[f] if f in t.current else last.get((t.record, f))
            want = desired[f]
            if same(cur, want):
                continue
            key = (t.record, f)
            if key in last and not same(cur, last[key]):
                if conflict_policy == "flag":
                    out.conflicts.append(Conflict(t.system, t.record, t.project, f, last[key], cur, want,
                                                  "kept source value"))
                    continue
                if conflict_policy == "source-wins":
                    out.conflicts.append(Conflict(t.system, t.record, t.project, f, last[key], cur, want, "adopted"))
                    out.adopted.append((t.system, t.record, f, _norm(cur)))
                    continue
                out.conflicts.append(Conflict(t.system, t.record, t.project, f, last[key], cur, want, "overwritten"))
                reasons.append(f"{f} edited in {t.system} since the hub wrote it; hub-wins")
            changes[f] = (cur, want)
        if changes:
            out.ops.append(WriteOp(t.system, t.record, t.project, "fields", changes,
                                   reason="; ".join(reasons) or f"compliance is {status}"))
        if t.comment:
            lines = summary_lines(t.project, status, proj_results)
            digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:20]
            if last.get((t.record, "comment")) != digest:
                out.ops.append(WriteOp(t.system, t.record, t.project, "comment",
                                       payload={"lines": lines, "hash": digest,
                                                "comment_id": last.get((t.record, "comment_id")) or t.comment_id},
                                       reason="summary changed" if last.get((t.record, "comment")) else "first summary"))
    return out


def results_rows(results: list[Result]) -> list[list[str]]:
    """The consolidated results table: one row per alarm, waived or error result (project, rule, severity,
    status, subject, reason), by project, then worst severity, rule and subject."""
    rows = [[r.project or "", r.rule, r.severity, r.status, r.subject, r.reason]
            for r in results if r.status in ("alarm", "waived", "error")]
    return sorted(rows, key=results_order)


def check_cap(p: Plan, state: State, *, max_writes: int, max_share: float) -> None:
    """Raise SafetyCapError when the plan is larger than allowed. The share cap counts rewrites of values the
    hub wrote before (a first write-back legitimately touches every project)."""
    if len(p.ops) > max_writes:
        raise SafetyCapError(f"the plan has {len(p.ops)} writes, above sync.max_writes = {max_writes}; "
                             "nothing was written. Check the mappings, then raise the cap if this is intended")
    per_system: dict[str, set[str]] = defaultdict(set)
    written = {}
    for op in p.ops:
        if op.op != "fields":
            continue
        if op.system not in written:
            written[op.system] = state.written(op.system)
        if any((op.record, f) in written[op.system] for f in op.changes):  # a rewrite, not a first write
            per_system[op.system].add(op.record)
    for system, records in per_system.items():
        if p.targets == 0:
            continue
        share = len(records) / p.targets
        if share > max_share and len(records) > 5:
            raise SafetyCapError(
                f"the plan rewrites hub fields on {len(records)} of {p.targets} records in {system} "
                f"({share:.0%}), above sync.max_write_share = {max_share:.0%}; nothing was written. "
                "A mapping mistake is the usual cause; raise the cap if this is intended")


def recover(connectors: dict[str, Connector], records: dict[str, dict[str, MirrorRecord]], state: State,
            run_id: str) -> int:
    """Settle journal entries a crashed run left 'intended', and writes an earlier run sent without learning
    whether they landed ('unknown', e.g. no answer in time): adopt what landed, abandon the rest (re-planned)."""
    n = 0
    for entry in state.journal_pending():
        conn = connectors.get(entry.system)
        if conn is None:
            continue
        result = conn.recover(entry, records.get(entry.system, {}))
        crashed = entry.state == "intended"
        with state.transaction():
            if result is None:
                state.journal_finish(entry.id, "abandoned", "not applied before the crash; re-planned" if crashed
                                     else "not found after its unanswered try; re-planned")
                continue
            state.journal_finish(entry.id, "done", "recovered after an interrupted run" if crashed
                                 else "found after its unanswered try")
            _record_success(state, run_id, entry.system, entry.record, entry.payload.get("project"), entry.op,
                            entry.payload, result, outcome="recovered")
            n += 1
    return n


def headline(payload: dict) -> str:
    """One line naming a comment or message op (for the plan, the audit trail and the journal)."""
    if "lines" in payload:
        return payload["lines"][0]
    to = ", ".join(payload.get("to") or []) or payload.get("channel", "?")
    return f"{payload.get('subject', '')} -> {to}"


def _record_success(state: State, run_id: str, system: str, record: str, project: str | None, op: str,
                    payload: dict, result: dict, *, outcome: str = "written", reason: str = "") -> None:
    if op == "fields":
        for f, (before, after) in payload["changes"].items():
            state.set_written(system, record, f, _norm(after), run_id)
            state.audit(run_id, system, record, project, f, before, after, outcome, reason)
    elif op == "results":
        state.set_written(system, record, "results", payload["hash"], run_id)
        state.audit(run_id, system, record, project, "results", None, f"{payload.get('count')} result rows",
                    outcome, reason)
    else:
        if result.get("comment_id"):
            state.set_written(system, record, "comment_id", result["comment_id"], run_id)
        if not result.get("stale"):
            state.set_written(system, record, "comment", payload["hash"], run_id)
        state.audit(run_id, system, record, project, "comment", None, headline(payload), outcome, reason)


def _settle(state: State, run_id: str, report: ApplyReport, op: WriteOp, payload: dict, jid: str,
            outcome: dict[str, Any] | ConnectorError) -> None:
    """Finish one journalled op from its outcome: done (with its last-written values), conflict or failed."""
    if isinstance(outcome, ConflictError):
        report.conflicts += 1
        with state.transaction():
            state.journal_finish(jid, "conflict", str(outcome))
            state.audit(run_id, op.system, op.record, op.project, op.op, None, None, "conflict", str(outcome))
        return
    if isinstance(outcome, ConnectorError):
        report.failed += 1
        report.errors.append(str(outcome))
        # sent, but whether it landed is unknown: left to the next run's `recover`, so it is not posted twice
        settled = "unknown" if isinstance(outcome, OutcomeUnknownError) else "failed"
        with state.transaction():
            state.journal_finish(jid, settled, str(outcome))
            state.audit(run_id, op.system, op.record, op.project, op.op, None, None, settled, str(outcome))
        return
    with state.transaction():
        state.journal_finish(jid, "done")
        _record_success(state, run_id, op.system, op.record, op.project, op.op, payload, outcome, reason=op.reason)
    report.done += 1
    report.by_system[op.system] += 1


def _journal_payload(op: WriteOp) -> dict[str, Any]:
    """What the journal keeps of an op: everything but a results table's rows (its digest and count identify it)."""
    return {"project": op.project, "changes": op.changes, **{k: v for k, v in op.payload.items() if k != "rows"}}


def apply(p: Plan, connectors: dict[str, Connector], state: State, run_id: str) -> ApplyReport:
    report = ApplyReport()
    with state.transaction():
        for system, record, f, value in p.adopted:
            state.set_written(system, record, f, value, run_id)
        for c in p.conflicts:
            state.audit(run_id, c.system, c.record, c.project, c.field, c.last_written, c.source_value,
                        "conflict", f"hub wanted {c.wanted!r}; {c.resolution}")
    batched: dict[str, list[WriteOp]] = defaultdict(list)
    for op in p.ops:
        if getattr(connectors[op.system], "batch_writes", False):
            batched[op.system].append(op)
            continue
        conn = connectors[op.system]
        payload = _journal_payload(op)
        jid = state.journal_intend(run_id, op.system, op.record, op.op, payload)
        try:
            outcome: dict[str, Any] | ConnectorError = conn.apply(op)
        except ConnectorError as e:
            outcome = e
        _settle(state, run_id, report, op, payload, jid, outcome)
    for system, ops in batched.items():
        payloads = [_journal_payload(op) for op in ops]
        with state.transaction():
            jids = [state.journal_intend(run_id, op.system, op.record, op.op, pl) for op, pl in zip(ops, payloads)]
        try:
            outcomes = list(connectors[system].apply_batch(ops))
        except ConnectorError as e:
            outcomes = [e] * len(ops)
        if len(outcomes) != len(ops):
            raise ConnectorError(f"{system}: apply_batch returned {len(outcomes)} outcomes for {len(ops)} writes",
                                 system=system)
        for op, payload, jid, outcome in zip(ops, payloads, jids, outcomes):
            _settle(state, run_id, report, op, payload, jid, outcome)
    with state.transaction():
        for project, (status, changed_on) in p.statuses.items():
            state.set_project_status(project, status, changed_on)
    return report
