"""One run of the hub: pull every source, merge, evaluate the standards, plan and apply the write-back.

    pull (parallel, one thread per source) -> store mirror + cursor (one transaction per source)
      -> merge the mirrors into one Portfolio -> evaluate rules -> save results and violation history
      -> recover interrupted writes -> plan -> safety cap -> apply through the journal -> record the run

A source that fails is recorded in the run and in `Portfolio.source_failures`; the others go on, and results
that depend on the failed source are `error`, not `ok`. Its cursor and mirror stay as they were, so the next
run picks up where the last good one ended.
"""

from __future__ import annotations

import contextvars
import itertools
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Iterator

from connectors.base import Connector, PullResult
from connectors.http import RetryPolicy
from hub.config import Config
from hub.errors import HubError
from hub.merge import merge
from hub.rules.escalation import escalate
from hub.model import Portfolio, Result, SourceFailure
from hub.secrets import mask, read_secret
from hub.state import MirrorRecord, State, utcnow
from hub import logs, memory, writeback
from hub import publish as publishing

log = logging.getLogger("pmo_hub.sync")


@dataclass
class SourcePull:
    system: str
    full: bool = False
    fetched: int = 0
    changed: int = 0  # records a person (or another tool) changed
    own_writes: int = 0  # records whose only change was the hub's own write-back
    seconds: float = 0.0
    error: str | None = None
    notes: list[str] = field(default_factory=list)  # what the connector wants a person to know (PullResult.notes)


@dataclass
class RunOutcome:
    run_id: str
    started: datetime
    portfolio: Portfolio
    results: list[Result]
    pulls: dict[str, SourcePull]
    plan: writeback.Plan | None = None
    applied: writeback.ApplyReport | None = None
    requests: dict[str, int] = field(default_factory=dict)
    retry_wait_s: float = 0.0
    finished: datetime | None = None
    expired_waivers: list[dict] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in ("ok", "alarm", "waived", "skip", "error")}
        for r in self.results:
            out[r.status] += 1
        return out

    @property
    def outcome(self) -> str:
        if any(p.error for p in self.pulls.values()) or (self.applied and self.applied.failed):
            return "partial"
        return "ok"

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests, "results": self.counts, "retry_wait_s": round(self.retry_wait_s, 2),
            "pulls": {k: vars(v) for k, v in self.pulls.items()},
            "writes": self.applied.done if self.applied else 0,
            "write_failures": self.applied.failed if self.applied else 0,
            "write_errors": [mask(e) for e in self.applied.errors[:5]] if self.applied else [],
            "conflicts": len(self.plan.conflicts) if self.plan else 0,
            "planned": len(self.plan.ops) if self.plan else 0,
        }


def make_policy(cfg: Config) -> RetryPolicy:
    r = cfg.retry
    return RetryPolicy(max_attempts=r.max_attempts, max_total_s=r.max_total_s, max_wait_s=r.max_wait_s, base_s=r.base_s)


def build_connectors(cfg: Config, policy: RetryPolicy) -> dict[str, Connector]:
    """One connector per enabled source. Reads secrets; makes no network call."""
    from hub.mapping import load_jira_mapping

    out: dict[str, Connector] = {}
    if cfg.jira is not None and cfg.jira.enabled:
        from connectors.jira.connector import JiraConnector

        j = cfg.jira
        token = read_secret(env=j.token_env, file=str(cfg.path(j.token_file)) if j.token_file else None,
                            where="jira.token_env/jira.token_file")
        out["jira"] = JiraConnector(j, load_jira_mapping(j.mapping, base_dir=cfg.base_dir), token=token, policy=policy)
    if cfg.sheets is not None and cfg.sheets.enabled:
        from connectors.sheets.connector import SheetsConnector
        from connectors.sheets.mapping import load_sheets_mapping

        sh = cfg.sheets
        out["sheets"] = SheetsConnector(sh, load_sheets_mapping(sh.mapping, base_dir=cfg.base_dir),
                                        credentials_file=cfg.path(sh.credentials_file), policy=policy)
    if cfg.m365 is not None and cfg.m365.enabled:
        from connectors.m365.connector import build_connector

        out["m365"] = build_connector(cfg, policy)
    return out


def expected_systems(cfg: Config) -> dict[str, list[str]]:
    """For DATA-01: system -> the systems each of its projects should also appear in (`expect_in` of a source,
    and `expected_from`: the systems whose every project should appear in this one)."""
    out: dict[str, list[str]] = {}
    for name in cfg.sources():
        settings = getattr(cfg, name)
        for other in getattr(settings, "expect_in", None) or []:
            out.setdefault(name, []).append(other)
        for other in getattr(settings, "expected_from", None) or []:
            out.setdefault(other, []).append(name)
    return {k: sorted(set(v)) for k, v in out.items()}


def _wants_full(cfg: Config, cursor: dict | None, full: bool) -> bool:
    if full or not cursor or not cursor.get("last_full"):
        return True
    hours = cfg.sync.full_resync_hours
    if hours == 0:
        return True
    last = datetime.fromisoformat(cursor["last_full"])
    return utcnow() - last >= timedelta(hours=hours)


def _store(state: State, conn: Connector, result: PullResult, cursor: dict, summary: SourcePull) -> None:
    """Store a pull: de-duplicate on (key, updated), keep a record's last *person* activity time, then the cursor.

    A record whose only changes are in hub-owned fields (the hub's own writes) keeps its previous activity
    time, so the hub's writes never look like PM activity.
    """
    # (updated, activity_at) of every known record; the stored data only of those whose `updated` moved
    known = state.record_times(conn.system)
    stored = state.record_data(conn.system, [r.key for r in result.records
                                             if r.key in known and known[r.key][0] != r.updated])
    hub_owned = getattr(conn, "hub_owned", ())
    changed: list[MirrorRecord] = []
    summary.changed = summary.own_writes = 0
    for rec in result.records:
        prev = known.get(rec.key)
        if prev is not None and prev[0] == rec.updated:
            rec.activity_at = prev[1]
            if result.full:
                changed.append(rec)
            continue
        if prev is not None:
            old = json.loads(stored[rec.key])
            # as it will be stored (a connector may have serialised it already)
            new = json.loads(rec.data if isinstance(rec.data, str) else json.dumps(rec.data, default=str))
            differs = {k for k in set(old) | set(new) if old.get(k) != new.get(k)}
            person = differs - set(hub_owned)
            rec.activity_at = rec.updated if person else prev[1]
            if person:
                summary.changed += 1
            elif differs:
                summary.own_writes += 1
        else:
            rec.activity_at = rec.updated
            summary.changed += 1
        changed.append(rec)
    summary.fetched = len(result.records)
    summary.notes = list(result.notes)
    new_cursor = dict(result.cursor)
    new_cursor["last_full"] = utcnow().isoformat() if result.full else (cursor or {}).get("last_full")
    with state.transaction():
        if result.full:
            state.replace_system_records(conn.system, changed)
        else:
            state.upsert_records(changed)
        state.set_cursor(conn.system, new_cursor)


def pull_all(cfg: Config, state: State, connectors: dict[str, Connector], *, full: bool = False,
             ) -> tuple[dict[str, SourcePull], list[SourceFailure]]:
    """Pull every source in parallel; store each as it completes. Returns per-source summaries and failures."""
    summaries = {name: SourcePull(name) for name in connectors}
    failures: list[SourceFailure] = []

    def one(name: str) -> tuple[str, PullResult | Exception, dict | None, float]:
        conn = connectors[name]
        cursor = state.cursor(name)
        t0 = time.monotonic()
        try:
            return name, conn.pull(cursor, full=_wants_full(cfg, cursor, full)), cursor, time.monotonic() - t0
        except (HubError, OSError) as e:
            return name, e, cursor, time.monotonic() - t0

    with ThreadPoolExecutor(max_workers=max(1, len(connectors)), thread_name_prefix="pull") as pool:
        # each pull thread gets a copy of the caller's context, so its log lines carry the run id and job
        futures = [pool.submit(contextvars.copy_context().run, one, name) for name in connectors]
        for name, res, cursor, secs in (f.result() for f in futures):
            s = summaries[name]
            s.seconds = round(secs, 3)
            if isinstance(res, Exception):
                s.error = mask(str(res))
                failures.append(SourceFailure(system=name, message=s.error, at=utcnow()))
                log.error("pull from %s failed: %s", name, s.error)
                continue
            s.full = res.full
            _store(state, connectors[name], res, cursor, s)
            log.info("pulled %s: %d records fetched, %d changed (%s)", name, s.fetched, s.changed,
                     "full" if s.full else "incremental")
    return summaries, failures


def build_portfolio(cfg: Config, state: State, connectors: dict[str, Connector],
                    failures: list[SourceFailure], *, as_of: datetime) -> tuple[Portfolio, dict[str, dict[str, MirrorRecord]]]:
    parts: list[Portfolio] = []
    mirrors: dict[str, dict[str, MirrorRecord]] = {}
    failed = {f.system for f in failures}
    for name, conn in connectors.items():
        keep = conn.target_kinds
        if keep is None:
            recs = state.records(name)
            mirrors[name] = {r.key: r for r in recs}
            if name in failed and not recs:
                continue
            parts.append(conn.contribute(recs, as_of=as_of))
            continue
        # a large mirror (Jira's work items): streamed into contribute, only the write-back's kinds kept
        mirror: dict[str, MirrorRecord] = {}
        mirrors[name] = mirror

        def streamed(name: str = name, keep: tuple[str, ...] = keep, mirror: dict = mirror) -> Iterator[MirrorRecord]:
            for rec in state.iter_records(name):
                if rec.kind in keep:
                    mirror[rec.key] = rec
                yield rec

        recs_iter = streamed()
        first = next(recs_iter, None)
        if first is None and name in failed:
            continue
        parts.append(conn.contribute(itertools.chain([first] if first else [], recs_iter), as_of=as_of))
    pf = merge(parts, as_of=as_of, owners=cfg.sync.system_of_record, expected=expected_systems(cfg))
    pf.source_failures.extend(failures)
    for name, conn in connectors.items():
        for kind in conn.supplies:
            pf.supplies.setdefault(kind, []).append(name)
    for f in failures:  # a failed source's stale mirror must not count as a successful pull
        if f.system in pf.systems:
            pf.systems.remove(f.system)
    return pf, mirrors


def today_in(cfg: Config, now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(cfg.tz).date()


def evaluate(cfg: Config, portfolio: Portfolio, *, today: date) -> tuple[list[Result], list[dict]]:
    """Evaluate the configured standards. Returns (results, expired waivers)."""
    from hub.rules import api

    return api.evaluate_configured(cfg.standards, portfolio, today=today, base_dir=cfg.base_dir)


def run(cfg: Config, state: State, *, job: str = "sync", write: bool = True, dry_run: bool = False,
        full: bool = False, publish: bool = False, connectors: dict[str, Connector] | None = None) -> RunOutcome:
    """A whole run. `write=False`: pull and evaluate only (check). `dry_run`: plan but do not apply.
    `publish`: also send the messages of `[m365.publish]` (hub.publish), through the same plan and journal."""
    policy = make_policy(cfg)
    own = connectors is None
    connectors = connectors if connectors is not None else build_connectors(cfg, policy)
    run_id = state.start_run(job)
    log_context = logs.run_context.set({**logs.run_context.get(), "run_id": run_id, "job": job})
    started = utcnow()
    outcome: RunOutcome | None = None
    failed = False
    try:
        pulls, failures = pull_all(cfg, state, connectors, full=full)
        memory.release_freed_memory()  # the pull's pages and records, before the portfolio is built
        portfolio, mirrors = build_portfolio(cfg, state, connectors, failures, as_of=started)
        today = today_in(cfg, started)
        results, expired = evaluate(cfg, portfolio, today=today)
        first_seen = state.save_results(run_id, results, now=started) if not dry_run else {}
        seen_at = {k: datetime.fromisoformat(v) for k, v in first_seen.items()}
        for r in results:  # results are built with model_construct in the engine: set the field directly
            if (r.rule, r.subject) in seen_at:
                r.__dict__["first_seen"] = seen_at[(r.rule, r.subject)]
        escalated = escalate(results, seen_at, cfg.standards.escalation, now=started)
        if escalated and not dry_run:
            state.mark_escalated(escalated, started)
        outcome = RunOutcome(run_id, started, portfolio, results, pulls, expired_waivers=expired)
        if write or publish:
            targets = []
            for name, conn in connectors.items():
                if name in portfolio.failed_systems():
                    continue
                if write:
                    targets.extend(conn.targets(list(mirrors[name].values())))
                if publish and name == publishing.SYSTEM:
                    from hub.reporting import build_report_data

                    targets.extend(publishing.targets(cfg, build_report_data(cfg, state, outcome), state))
            if not dry_run:
                writeback.recover(connectors, mirrors, state, run_id)
            outcome.plan = writeback.plan(targets, results, state, today=today,
                                          conflict_policy=cfg.sync.conflict_policy)
            if not dry_run:
                writeback.check_cap(outcome.plan, state, max_writes=cfg.sync.max_writes,
                                    max_share=cfg.sync.max_write_share)
                outcome.applied = writeback.apply(outcome.plan, connectors, state, run_id)
                for error in outcome.applied.errors:
                    log.error("write-back failed: %s", mask(error))
        return outcome
    except BaseException as e:
        failed = True
        stats = outcome.stats() if outcome else {}
        state.finish_run(run_id, "failed", stats, error=mask(str(e)) if isinstance(e, Exception) else type(e).__name__)
        raise
    finally:
        if outcome is not None:
            outcome.finished = utcnow()
            outcome.requests = {name: sum(c.requests.values()) for name, c in connectors.items()}
            outcome.retry_wait_s = policy.waited_s
            if not failed:  # (other workers' runs may have started since: decide by this run, not the latest)
                state.finish_run(run_id, outcome.outcome, outcome.stats())
        if own:
            for c in connectors.values():
                c.close()
        logs.run_context.reset(log_context)
