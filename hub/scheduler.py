"""Scheduled jobs: `pmo-hub run` runs the config's `[[jobs]]` on their schedules, on one worker or several.

    [[jobs]] -> Cadence: the job's occurrences in hub.timezone, the same instants on every worker
      -> a `schedule.Scheduler` fires each job at its next occurrence (a `schedule.Job` whose next run comes
         from the cadence instead of "an interval after the last run", so that workers agree)
      -> a worker thread takes the lease on (job, occurrence) in the state store and renews it while it runs
      -> the job: sync (pull, evaluate, write back), check (pull, evaluate) or report (check, then write
         report.formats to report.out_dir)
      -> the run is recorded in `runs`; the lease is released as done

Example (in the hub config):

    [[jobs]]
    name = "sync"
    kind = "sync"
    every = "15m"          # 00:00, 00:15, ... in hub.timezone

    [[jobs]]
    name = "weekly-report"
    kind = "report"
    at = "08:00"
    on = "monday"

Cooperation: several workers on one PostgreSQL state store (or several processes on one SQLite file) share
the work through leases (`State.try_lease`). Each occurrence runs exactly once, on whichever worker takes
it first, and a job never runs twice at once anywhere. A worker that dies stops renewing its lease; once
the lease expires another worker takes the occurrence over and marks the dead worker's run failed.

The sweep (at start-up, then every quarter of `scheduler.lease_ttl_s`, at most every 15 s) looks at the
latest occurrence of every job: when it has not run and nobody holds it, it runs now. That covers an
occurrence whose worker died, one skipped because the previous run was still going, and one missed while
no worker was running: only the latest, never a backlog. `run --once` (for cron) is a single sweep: every
job whose latest occurrence has not run yet runs once, then the command exits.

Failures: a job that raises a HubError is logged and recorded as a failed run with its message; an
unexpected exception is logged with its traceback and recorded the same way. The other jobs and the loop
go on either way.

Stopping: `stop()` (SIGTERM or SIGINT through `stop_on_signals`) ends dispatching; the jobs in flight
finish, so a sync is never cut in the middle of a write (and the write-back journal makes even SIGKILL
safe), and `run()` returns.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time as _time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator
from zoneinfo import ZoneInfo

import schedule

from hub.config import WEEKDAYS, Config, JobSettings
from hub.errors import ConfigError, HubError, StateError
from hub.files import private_dir
from hub.logs import run_context
from hub.metrics import SEVERITIES, Metrics, MetricsServer
from hub.secrets import mask
from hub.state import State, iso, utcnow

log = logging.getLogger("pmo_hub.scheduler")

LEASE_RETENTION = timedelta(days=7)  # done leases older than this are pruned (hourly)


# ---- when jobs run -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cadence:
    """A job's occurrences: every `every_s` seconds counted from local midnight, or daily at `at` (only on
    `weekday` when set, 0 = Monday), in `tz`. Pure arithmetic on the clock, so every worker gets the same
    instants. All datetimes in and out are timezone-aware; results are in UTC."""

    tz: ZoneInfo
    every_s: int | None = None
    at: time | None = None
    weekday: int | None = None

    @classmethod
    def of(cls, job: JobSettings, tz: ZoneInfo) -> "Cadence":
        return cls(tz, job.every_s, job.at_time, WEEKDAYS.index(job.on) if job.on else None)

    def _local(self, day: date, at: time) -> datetime:
        return datetime.combine(day, at, tzinfo=self.tz).astimezone(timezone.utc)

    def _days(self, start: date, step: int) -> Iterator[date]:
        for i in range(9):
            d = start + timedelta(days=i * step)
            if self.weekday is None or d.weekday() == self.weekday:
                yield d

    def latest(self, now: datetime) -> datetime:
        """The last occurrence at or before `now`."""
        now = now.astimezone(timezone.utc)
        day = now.astimezone(self.tz).date()
        if self.every_s:
            start = self._local(day, time(0))
            if start > now:  # a zone whose day does not start at 00:00 (DST at midnight)
                start = self._local(day - timedelta(days=1), time(0))
            steps = int((now - start).total_seconds() // self.every_s)
            return start + timedelta(seconds=steps * self.every_s)
        assert self.at is not None
        return next(t for d in self._days(day, -1) if (t := self._local(d, self.at)) <= now)

    def next_after(self, t: datetime) -> datetime:
        """The first occurrence strictly after `t`. An `every` grid starts again at each local midnight."""
        t = t.astimezone(timezone.utc)
        day = t.astimezone(self.tz).date()
        if self.every_s:
            return min(self.latest(t) + timedelta(seconds=self.every_s),
                       self._local(day + timedelta(days=1), time(0)))
        assert self.at is not None
        return next(c for d in self._days(day, 1) if (c := self._local(d, self.at)) > t)


class _CadenceJob(schedule.Job):
    """A `schedule` job whose next run is the cadence's next occurrence. `occurrence` is the (UTC) instant
    being fired while the job function runs; `schedule` itself compares naive local times."""

    def __init__(self, settings: JobSettings, cadence: Cadence, scheduler: schedule.Scheduler):
        super().__init__(1, scheduler)
        self.unit = "seconds"  # only for schedule's repr; the next run comes from the cadence
        self.settings = settings
        self.cadence = cadence
        self.occurrence: datetime | None = None

    def _schedule_next_run(self) -> None:
        self.occurrence = self.cadence.next_after(utcnow())
        self.next_run = self.occurrence.astimezone().replace(tzinfo=None)


# ---- what a job does -----------------------------------------------------------------------------------
@dataclass
class JobResult:
    """One attempt at one occurrence. outcome: ok | partial (a source failed) | failed | skipped."""

    job: str
    occurrence: datetime
    outcome: str
    run_id: str | None = None
    error: str | None = None
    seconds: float = 0.0
    requests: dict[str, int] = field(default_factory=dict)
    retry_wait_s: float = 0.0
    note: str = ""
    files: list[Path] = field(default_factory=list)


Runner = Callable[[Config, State, JobSettings, datetime], JobResult]


def run_job(cfg: Config, state: State, job: JobSettings, occurrence: datetime) -> JobResult:
    """The default runner: one sync run (records itself in `runs`), plus the report files for a report job."""
    from hub import sync

    publish = job.kind == "report" and bool(cfg.m365 and cfg.m365.enabled and cfg.m365.publish.active)
    outcome = sync.run(cfg, state, job=job.name, write=job.kind == "sync", publish=publish, full=job.full)
    failed_pulls = [f"{p.system}: {p.error}" for p in outcome.pulls.values() if p.error]
    result = JobResult(job.name, occurrence, outcome.outcome, run_id=outcome.run_id,
                       error="; ".join(failed_pulls) or None, requests=dict(outcome.requests),
                       retry_wait_s=outcome.retry_wait_s)
    if job.kind == "report":
        try:
            with _job_context(job.name, outcome.run_id):
                result.files = write_reports(cfg, state, outcome, job, occurrence)
        except (HubError, OSError) as e:
            result.outcome, result.error = "failed", f"writing the reports failed: {mask(str(e))}"
            state.finish_run(outcome.run_id, "failed", outcome.stats(), error=result.error)
    return result


def write_reports(cfg: Config, state: State, outcome: Any, job: JobSettings, occurrence: datetime) -> list[Path]:
    """Every format of `report.formats`, as out_dir/<job>-<YYYYmmdd-HHMM>.<fmt> (local occurrence time)."""
    from hub.report import render
    from hub.reporting import build_report_data

    data = build_report_data(cfg, state, outcome)
    out_dir = cfg.path(cfg.report.out_dir)
    private_dir(out_dir)  # owner-only, as the reports in it
    stamp = occurrence.astimezone(cfg.tz).strftime("%Y%m%d-%H%M")
    paths = [render(fmt, data, out_dir / f"{job.name}-{stamp}.{fmt}") for fmt in cfg.report.formats]
    log.info("job %s: reports written: %s", job.name, ", ".join(str(p) for p in paths))
    return paths


# ---- the scheduler -------------------------------------------------------------------------------------
def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass
class _Running:
    occurrence: datetime
    leased: bool = False
    releasing: bool = False
    lost: bool = False


@contextmanager
def _job_context(job: str, run_id: str | None = None) -> Iterator[None]:
    token = run_context.set({"job": job, "run_id": run_id})
    try:
        yield
    finally:
        run_context.reset(token)


class Scheduler:
    """Runs the enabled `[[jobs]]` of `cfg`. `run()` until `stop()`; `run_once()` for cron.

    `runner` does one job (default `run_job`); tests pass their own. Each job runs in its own thread with
    its own connection to the state store; the loop keeps one more for sweeps and lease renewals.
    """

    def __init__(self, cfg: Config, *, worker_id: str | None = None, runner: Runner = run_job,
                 metrics: Metrics | None = None):
        self.cfg = cfg
        self.worker_id = worker_id or default_worker_id()
        self.state_url = cfg.state.resolved_url(cfg.base_dir)
        self.jobs = [j for j in cfg.jobs if j.enabled]
        self.cadences = {j.name: Cadence.of(j, cfg.tz) for j in self.jobs}
        self.ttl_s = cfg.scheduler.lease_ttl_s
        self.sweep_s = min(15.0, max(0.5, self.ttl_s / 4))
        self.metrics = metrics or Metrics()
        self.results: deque[JobResult] = deque(maxlen=1000)
        self._runner = runner
        self._sched = schedule.Scheduler()
        self._cadence_jobs: dict[str, _CadenceJob] = {}
        self._running: dict[str, _Running] = {}
        self._mutex = threading.RLock()  # reentrant: stop() may run in a signal handler on the loop's thread
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._state: State | None = None  # the loop thread's connection
        self._metrics_state: State | None = None  # the metrics server's connection
        self._server: MetricsServer | None = None
        for job in self.jobs:
            self.metrics.inc("pmo_hub_job_failures_total", 0, job=job.name)
        self.metrics.set("pmo_hub_jobs_running", 0)
        self.metrics.inc("pmo_hub_rate_limit_wait_seconds_total", 0)

    # ---- public ------------------------------------------------------------------------------------------
    def run(self) -> None:
        """Fire jobs at their occurrences until `stop()`, then wait for the jobs in flight and return."""
        if not self.jobs:
            raise ConfigError("no enabled [[jobs]] in the configuration; add one, e.g. "
                              "[[jobs]] name = \"sync\" kind = \"sync\" every = \"15m\"")
        try:
            self._loop_state()  # an unreachable state store stops here, before anything is scheduled
            self._start_metrics()
            for job in self.jobs:
                cj = _CadenceJob(job, self.cadences[job.name], self._sched)
                self._cadence_jobs[job.name] = cj
                cj.do(self._fire, job.name)
            self._sched.every(self.sweep_s).seconds.do(self._sweep)
            self._sched.every(max(0.5, self.ttl_s / 3)).seconds.do(self._renew)
            self._sched.every(1).hours.do(self._prune)
            log.info("scheduler: worker %s, %d job(s): %s", self.worker_id, len(self.jobs),
                     "; ".join(f"{j.name} ({j.kind}, {j.describe()}, next "
                               f"{self._cadence_jobs[j.name].occurrence.astimezone(self.cfg.tz):%Y-%m-%d %H:%M:%S})"
                               for j in self.jobs))
            self._sweep()
            self._loop(until_idle=False)
        finally:
            self._close()
        log.info("scheduler: worker %s stopped", self.worker_id)

    def run_once(self) -> list[JobResult]:
        """Run every job whose latest occurrence has not run yet (and is not running elsewhere), wait, return."""
        try:
            self._loop_state()
            self._sched.every(max(0.5, self.ttl_s / 3)).seconds.do(self._renew)
            self._sweep()
            self._loop(until_idle=True)
        finally:
            self._close()
        return list(self.results)

    def stop(self, reason: str = "stop requested") -> None:
        """Start no new job; `run()` returns once the jobs in flight have finished. Safe in a signal handler."""
        first = not self._stopping.is_set()
        self._stopping.set()
        self._wake.set()
        with self._mutex:
            names = sorted(self._running)
        if first:
            log.info("scheduler: %s; no new job starts; waiting for: %s", reason, ", ".join(names) or "nothing")
        else:
            log.warning("scheduler: %s again; still waiting for: %s", reason, ", ".join(names) or "nothing")

    # ---- the loop (one thread) ---------------------------------------------------------------------------
    def _loop(self, *, until_idle: bool) -> None:
        while True:
            self._sched.run_pending()
            with self._mutex:
                busy = bool(self._running)
            if not busy and (until_idle or self._stopping.is_set()):
                return
            idle = self._sched.idle_seconds
            self._wake.wait(timeout=min(1.0, max(0.01, idle if idle is not None else 1.0)))
            self._wake.clear()

    def _fire(self, name: str) -> None:
        cj = self._cadence_jobs[name]
        assert cj.occurrence is not None
        self._dispatch(cj.settings, cj.occurrence, "scheduled")

    def _sweep(self) -> None:
        """Run the latest occurrence of each job that has not run and that nobody holds."""
        if self._stopping.is_set():
            return
        now = utcnow()
        try:
            state = self._loop_state()
            for job in self.jobs:
                with self._mutex:
                    if job.name in self._running:
                        continue
                occurrence = self.cadences[job.name].latest(now)
                lease = state.lease(job.name, occurrence)
                if lease is not None and (lease["done_at"] is not None or lease["expires"] > iso(now)):
                    continue
                why = "not run yet" if lease is None else f"abandoned by worker {lease['worker']}"
                self._dispatch(job, occurrence, why)
        except StateError as e:
            self._drop_state(e)

    def _renew(self) -> None:
        with self._mutex:
            held = [(name, r) for name, r in self._running.items() if r.leased and not r.releasing]
        if not held:
            return
        try:
            state = self._loop_state()
            for name, r in held:
                if state.renew_lease(name, r.occurrence, self.worker_id, self.ttl_s) or r.releasing or r.lost:
                    continue
                r.lost = True
                with _job_context(name):
                    log.error("job %s: lost its lease on %s (it expired and another worker took the occurrence "
                              "over); this run goes on but will not mark the occurrence done", name, iso(r.occurrence))
        except StateError as e:
            self._drop_state(e)

    def _prune(self) -> None:
        try:
            n = self._loop_state().prune_leases(utcnow() - LEASE_RETENTION)
            log.debug("scheduler: pruned %d old leases", n)
        except StateError as e:
            self._drop_state(e)

    def _loop_state(self) -> State:
        if self._state is None:
            self._state = State.open(self.state_url)
        return self._state

    def _drop_state(self, e: StateError) -> None:
        log.error("scheduler: state store error, reconnecting on the next tick: %s", e)
        if self._state is not None:
            self._state.close()
            self._state = None

    # ---- one job (its own thread) ------------------------------------------------------------------------
    def _dispatch(self, job: JobSettings, occurrence: datetime, why: str) -> None:
        with self._mutex:
            if self._stopping.is_set():
                return
            current = self._running.get(job.name)
            if current is not None:
                if current.occurrence != occurrence:
                    with _job_context(job.name):
                        log.info("job %s: occurrence %s waits: the run of %s is still going", job.name,
                                 iso(occurrence), iso(current.occurrence))
                return
            running = self._running[job.name] = _Running(occurrence)
            self.metrics.set("pmo_hub_jobs_running", len(self._running))
            thread = threading.Thread(target=self._execute, args=(job, occurrence, running, why),
                                      name=f"job:{job.name}")
        thread.start()

    def _execute(self, job: JobSettings, occurrence: datetime, running: _Running, why: str) -> None:
        with _job_context(job.name):
            try:
                result = self._lease_and_run(job, occurrence, running, why)
                self.results.append(result)
            finally:
                with self._mutex:
                    self._running.pop(job.name, None)
                    self.metrics.set("pmo_hub_jobs_running", len(self._running))
                self._wake.set()

    def _lease_and_run(self, job: JobSettings, occurrence: datetime, running: _Running, why: str) -> JobResult:
        try:
            state = State.open(self.state_url)
        except StateError as e:
            log.error("job %s: occurrence %s not run: %s", job.name, iso(occurrence), e)
            self.metrics.observe_run(job.name, "failed")
            return JobResult(job.name, occurrence, "failed", error=str(e))
        try:
            before = state.lease(job.name, occurrence)
            if not state.try_lease(job.name, occurrence, self.worker_id, self.ttl_s):
                log.debug("job %s: occurrence %s is done or held by another worker", job.name, iso(occurrence))
                return JobResult(job.name, occurrence, "skipped", note="done or running on another worker")
            running.leased = True
            if before is not None and before["done_at"] is None and before["worker"] != self.worker_id:
                n = state.abandon_runs(job.name, started_since=before["acquired"],
                                       error=f"abandoned: worker {before['worker']} stopped renewing its lease")
                log.warning("job %s: took over occurrence %s from worker %s, whose lease expired "
                            "(%d unfinished run(s) marked failed)", job.name, iso(occurrence), before["worker"], n)
            result = self._run(state, job, occurrence, why)
            running.releasing = True
            if not state.release_lease(job.name, occurrence, self.worker_id, done=True, outcome=result.outcome,
                                       run_id=result.run_id):
                log.error("job %s: the lease on %s was taken over while the job ran", job.name, iso(occurrence))
            return result
        except StateError as e:  # the lease (if taken) expires and another worker retries the occurrence
            log.error("job %s: state store error on occurrence %s: %s", job.name, iso(occurrence), e)
            self.metrics.observe_run(job.name, "failed")
            return JobResult(job.name, occurrence, "failed", error=str(e))
        finally:
            state.close()

    def _run(self, state: State, job: JobSettings, occurrence: datetime, why: str) -> JobResult:
        """Run the job; never raises a job's error: it is logged and recorded as a failed run."""
        local = occurrence.astimezone(self.cfg.tz)
        log.info("job %s (%s): running occurrence %s on worker %s (%s)", job.name, job.kind,
                 f"{local:%Y-%m-%d %H:%M:%S %Z}", self.worker_id, why)
        started, t0 = utcnow(), _time.monotonic()
        try:
            result = self._runner(self.cfg, state, job, occurrence)
        except HubError as e:
            log.error("job %s failed: %s", job.name, mask(str(e)))
            result = self._record_failure(state, job, occurrence, started, mask(str(e)))
        except Exception as e:  # a bug: log where, record it, and keep the loop and the other jobs going
            log.exception("job %s failed with an unexpected error", job.name)
            result = self._record_failure(state, job, occurrence, started, f"{type(e).__name__}: {mask(str(e))}")
        result.seconds = round(_time.monotonic() - t0, 3)
        with _job_context(job.name, result.run_id):
            log.info("job %s: %s in %.1fs%s", job.name, result.outcome, result.seconds,
                     f": {result.error}" if result.error else "")
        self.metrics.observe_run(job.name, result.outcome, requests=result.requests,
                                 retry_wait_s=result.retry_wait_s, finished_at=_time.time())
        return result

    def _record_failure(self, state: State, job: JobSettings, occurrence: datetime, started: datetime,
                        error: str) -> JobResult:
        """Make sure the failure is in `runs`: sync.run records its own; a failure before it started a run,
        or after it finished one (writing reports), is recorded here."""
        mine = [r for r in state.runs(limit=5, job=job.name) if r["started"] >= iso(started)]
        if mine:
            run = mine[-1]
            if run["outcome"] == "failed" and run["error"]:
                error = run["error"]
            else:
                state.finish_run(run["id"], "failed", run["stats"], error=error)
            return JobResult(job.name, occurrence, "failed", run_id=run["id"], error=error)
        run_id = state.start_run(job.name)
        state.finish_run(run_id, "failed", {"worker": self.worker_id, "occurrence": iso(occurrence)}, error=error)
        return JobResult(job.name, occurrence, "failed", run_id=run_id, error=error)

    # ---- metrics -----------------------------------------------------------------------------------------
    def _start_metrics(self) -> None:
        m = self.cfg.metrics
        if m.port is None:
            return
        self.metrics.add_collector(self._violation_samples)
        self._server = MetricsServer(self.metrics, host=m.host, port=m.port).start()

    def _violation_samples(self) -> Iterator[tuple[str, dict[str, str], float]]:
        try:
            if self._metrics_state is None:
                self._metrics_state = State.open(self.state_url)
            counts = self._metrics_state.latest_result_counts()
        except StateError:
            if self._metrics_state is not None:
                self._metrics_state.close()
                self._metrics_state = None
            raise
        for sev in SEVERITIES:
            yield "pmo_hub_open_violations", {"severity": sev}, counts.get(("alarm", sev), 0)

    def _close(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        for st in (self._state, self._metrics_state):
            if st is not None:
                st.close()
        self._state = self._metrics_state = None


@contextmanager
def stop_on_signals(scheduler: Scheduler) -> Iterator[None]:
    """While inside: SIGTERM and SIGINT ask `scheduler` to stop after the jobs in flight (main thread only)."""

    def handler(signum: int, _frame: Any) -> None:
        scheduler.stop(f"received {signal.Signals(signum).name}")

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


# ---- status --------------------------------------------------------------------------------------------
def job_status(cfg: Config, state: State, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per configured job: last success, last failure, the lease of a run in progress, and the next run."""
    now = now or utcnow()
    rows = []
    for job in cfg.jobs:
        cadence = Cadence.of(job, cfg.tz)
        latest = cadence.latest(now)
        lease = state.lease(job.name, latest)
        running = next((held for held in state.leases(job=job.name, open_only=True, limit=3)
                        if held["expires"] > iso(now)), None)
        due = job.enabled and running is None and (lease is None or (lease["done_at"] is None
                                                                      and lease["expires"] <= iso(now)))
        rows.append({
            "job": job.name, "kind": job.kind, "schedule": job.describe(), "enabled": job.enabled,
            "last_success": state.last_run(job.name, ["ok"]),
            "last_failure": state.last_run(job.name, ["failed", "partial"]),
            "running": running, "due": due,
            "next_run": (now if due else cadence.next_after(now)) if job.enabled else None,
        })
    return rows
