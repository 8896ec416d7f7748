"""The scheduler: occurrences, failures, overlaps, several workers on one store, dead workers, metrics.

Jobs here use a recording runner (the `runner=` hook), so that what is tested is the scheduling, not a sync;
tests/ops/test_run_cli.py drives the real `pmo-hub run` in a subprocess.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from hub import config
from hub.errors import ConfigError, FatalError
from hub.metrics import Metrics
from hub.scheduler import Cadence, JobResult, Scheduler, job_status
from hub.state import State, utcnow

LONDON = ZoneInfo("Europe/London")


def make_config(state_url: str, jobs: list[dict], *, ttl: float = 2, base_dir: Path | None = None,
                **sections) -> config.Config:
    raw = {"hub": {"timezone": "Europe/London"}, "state": {"url": state_url},
           "jira": {"url": "http://127.0.0.1:9", "email": "bot@example.com", "token_env": "PMO_HUB_TEST_TOKEN"},
           "scheduler": {"lease_ttl_s": ttl}, "jobs": jobs, **sections}
    return config.from_dict(raw, base_dir=base_dir)


@dataclass
class Execution:
    job: str
    occurrence: datetime
    worker: str
    start: float
    end: float = 0.0


@dataclass
class Recorder:
    """A runner recording every execution; `seconds` makes it slow, `fail` maps job name -> exception."""

    log: list[Execution] = field(default_factory=list)
    worker: str = "w"
    seconds: float = 0.0
    fail: dict[str, BaseException] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    running: Counter = field(default_factory=Counter)
    max_parallel: Counter = field(default_factory=Counter)

    def __call__(self, cfg, state, job, occurrence) -> JobResult:
        ex = Execution(job.name, occurrence, self.worker, time.monotonic())
        with self.lock:
            self.log.append(ex)
            self.running[job.name] += 1
            self.max_parallel[job.name] = max(self.max_parallel[job.name], self.running[job.name])
        try:
            time.sleep(self.seconds)
            if job.name in self.fail:
                raise self.fail[job.name]
            return JobResult(job.name, occurrence, "ok", requests={"jira": 5}, retry_wait_s=1.5)
        finally:
            ex.end = time.monotonic()
            with self.lock:
                self.running[job.name] -= 1

    def of(self, job: str) -> list[Execution]:
        with self.lock:
            return [e for e in self.log if e.job == job]


class Worker:
    """A Scheduler running in a thread, as `pmo-hub run` would in a process."""

    def __init__(self, cfg: config.Config, runner: Recorder, worker_id: str, metrics: Metrics | None = None):
        self.scheduler = Scheduler(cfg, worker_id=worker_id, runner=runner, metrics=metrics)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=f"worker-{worker_id}")
        self.thread.start()

    def _run(self) -> None:
        try:
            self.scheduler.run()
        except BaseException as e:  # noqa: BLE001 - reported by stop()
            self.error = e

    def stop(self, timeout: float = 15) -> None:
        self.scheduler.stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the scheduler did not stop"
        assert self.error is None, self.error


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# ---- cadence -----------------------------------------------------------------------------------------------
def utc(*a) -> datetime:
    return datetime(*a, tzinfo=timezone.utc)


def test_every_is_aligned_to_local_midnight():
    c = Cadence(LONDON, every_s=15 * 60)
    now = utc(2025, 7, 1, 10, 7, 30)  # 11:07:30 in London (BST)
    assert c.latest(now) == utc(2025, 7, 1, 10, 0)
    assert c.next_after(now) == utc(2025, 7, 1, 10, 15)
    assert c.next_after(utc(2025, 7, 1, 10, 15)) == utc(2025, 7, 1, 10, 30)
    seven = Cadence(LONDON, every_s=7 * 3600)  # 00:00, 07:00, 14:00, 21:00, then 00:00 again
    assert seven.next_after(utc(2025, 1, 6, 21, 30)) == utc(2025, 1, 7, 0, 0)
    assert seven.latest(utc(2025, 1, 7, 6, 59)) == utc(2025, 1, 7, 0, 0)


def test_at_and_on_in_the_hub_time_zone():
    daily = Cadence(LONDON, at=datetime.strptime("08:00", "%H:%M").time())
    assert daily.next_after(utc(2025, 7, 1, 6, 0)) == utc(2025, 7, 1, 7, 0)  # 08:00 BST
    assert daily.next_after(utc(2025, 1, 6, 8, 30)) == utc(2025, 1, 7, 8, 0)  # 08:00 GMT, next day
    monday = Cadence(LONDON, at=datetime.strptime("08:00", "%H:%M").time(), weekday=0)
    assert monday.next_after(utc(2025, 3, 5, 12, 0)) == utc(2025, 3, 10, 8, 0)
    assert monday.latest(utc(2025, 3, 5, 12, 0)) == utc(2025, 3, 3, 8, 0)
    assert monday.latest(utc(2025, 3, 3, 8, 0)) == utc(2025, 3, 3, 8, 0)


def test_job_schedules_are_validated_at_load_time(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    with pytest.raises(ConfigError, match=r"'jobs.0.every': '15x' is not a duration"):
        make_config(url, [{"name": "a", "kind": "sync", "every": "15x"}])
    with pytest.raises(ConfigError, match=r"'jobs.0.kind': Input should be 'sync', 'check' or 'report'"):
        make_config(url, [{"name": "a", "kind": "pull", "every": "15m"}])
    with pytest.raises(ConfigError, match=r"set either every = \"15m\" or at = \"08:00\""):
        make_config(url, [{"name": "a", "kind": "sync", "every": "15m", "at": "08:00"}])
    with pytest.raises(ConfigError, match=r"'jobs.0.on': Input should be 'monday', 'tuesday'"):
        make_config(url, [{"name": "a", "kind": "report", "at": "08:00", "on": "mon"}])
    with pytest.raises(ConfigError, match=r"two jobs are named 'a'"):
        make_config(url, [{"name": "a", "kind": "sync", "every": "1h"}, {"name": "a", "kind": "check", "at": "08:00"}])
    with pytest.raises(ConfigError, match=r"unknown key 'jobs.0.cron'. Valid keys here are: at, enabled, every"):
        make_config(url, [{"name": "a", "kind": "sync", "cron": "* * * * *"}])
    cfg = make_config(url, [{"name": "a", "kind": "report", "at": "08:00", "on": "Monday"}])
    assert cfg.jobs[0].describe() == "at 08:00 on monday"


# ---- one worker --------------------------------------------------------------------------------------------
def test_a_failing_job_does_not_stop_the_others_and_is_recorded(sqlite_url):
    cfg = make_config(sqlite_url, [{"name": "good", "kind": "check", "every": "1s"},
                                   {"name": "bug", "kind": "check", "every": "1s"},
                                   {"name": "auth", "kind": "sync", "every": "1s"}])
    runner = Recorder(fail={"bug": KeyError("owner"), "auth": FatalError("jira: HTTP 401", system="jira")})
    worker = Worker(cfg, runner, "w1")
    try:
        wait_for(lambda: len(runner.of("good")) >= 3 and len(runner.of("bug")) >= 3, 8, "three runs of each job")
    finally:
        worker.stop()
    state = State.open(sqlite_url)
    try:
        bug = state.runs(job="bug")
        auth = state.runs(job="auth")
    finally:
        state.close()
    assert len(bug) >= 3 and {r["outcome"] for r in bug} == {"failed"}
    assert bug[0]["error"] == "KeyError: 'owner'" and bug[0]["finished"]
    assert {r["outcome"] for r in auth} == {"failed"} and auth[0]["error"] == "jira: HTTP 401"
    assert worker.scheduler.metrics.get("pmo_hub_job_failures_total", job="bug") >= 3


def test_a_job_still_running_is_not_started_again(sqlite_url):
    cfg = make_config(sqlite_url, [{"name": "slow", "kind": "sync", "every": "1s"}])
    runner = Recorder(seconds=1.6)
    worker = Worker(cfg, runner, "w1")
    try:
        time.sleep(5)
    finally:
        worker.stop()
    runs = runner.of("slow")
    assert runner.max_parallel["slow"] == 1
    assert 2 <= len(runs) <= 4  # about one run per 1.6 s, not one per second
    assert len({r.occurrence for r in runs}) == len(runs)
    for a, b in zip(runs, runs[1:]):
        assert b.start >= a.end


def test_stop_lets_the_job_in_flight_finish(sqlite_url):
    cfg = make_config(sqlite_url, [{"name": "slow", "kind": "sync", "every": "1h"}])
    runner = Recorder(seconds=1.5)
    worker = Worker(cfg, runner, "w1")
    wait_for(lambda: runner.of("slow"), 5, "the job to start")
    worker.scheduler.stop("test")
    assert worker.thread.is_alive()  # still waiting for the job
    worker.stop()
    (ex,) = runner.of("slow")
    assert ex.end > ex.start + 1.4


# ---- several workers ---------------------------------------------------------------------------------------
def run_three_workers(url: str, seconds: float) -> list[Execution]:
    cfg = make_config(url, [{"name": "tick", "kind": "check", "every": "1s"}])
    shared: list[Execution] = []
    lock = threading.Lock()
    workers = [Worker(cfg, Recorder(log=shared, lock=lock, worker=f"w{i}", seconds=0.3), f"w{i}")
               for i in range(3)]
    try:
        time.sleep(seconds)
    finally:
        for w in workers:
            w.stop()
    return shared


def assert_each_occurrence_once(executions: list[Execution], seconds: float) -> None:
    per_occurrence = Counter(e.occurrence for e in executions)
    assert per_occurrence and max(per_occurrence.values()) == 1, [o for o, n in per_occurrence.items() if n > 1]
    first, last = min(per_occurrence), max(per_occurrence)
    expected = int((last - first).total_seconds()) + 1
    assert expected >= seconds - 2
    assert len(per_occurrence) >= expected - 1  # at most one second lost to a slow machine, never doubled


def test_three_workers_on_postgresql_run_each_occurrence_exactly_once(pg_url):
    executions = run_three_workers(pg_url, 20)
    assert_each_occurrence_once(executions, 20)


def test_three_workers_on_sqlite_run_each_occurrence_exactly_once(sqlite_url):
    executions = run_three_workers(sqlite_url, 6)
    assert_each_occurrence_once(executions, 6)


def test_a_dead_workers_job_is_taken_over_when_its_lease_expires(pg_url):
    cfg = make_config(pg_url, [{"name": "hourly", "kind": "sync", "every": "1h"}], ttl=2)
    occurrence = Cadence.of(cfg.jobs[0], cfg.tz).latest(utcnow())
    dead = State.open(pg_url)
    try:
        assert dead.try_lease("hourly", occurrence, "dead-worker", ttl_s=2)  # ... and never renewed
        dead_run = dead.start_run("hourly")
        expires = time.monotonic() + 2
        runner = Recorder()
        worker = Worker(cfg, runner, "rescuer")
        try:
            wait_for(lambda: runner.of("hourly"), 8, "the takeover")
        finally:
            worker.stop()
        (ex,) = runner.of("hourly")
        assert ex.occurrence == occurrence and ex.start >= expires - 0.1
        lease = dead.lease("hourly", occurrence)
        assert (lease["worker"], lease["outcome"], lease["attempts"]) == ("rescuer", "ok", 2)
        abandoned = next(r for r in dead.runs(job="hourly") if r["id"] == dead_run)
        assert abandoned["outcome"] == "failed"
        assert abandoned["error"] == "abandoned: worker dead-worker stopped renewing its lease"
        assert job_status(cfg, dead)[0]["due"] is False
    finally:
        dead.close()


# ---- metrics -----------------------------------------------------------------------------------------------
def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_metrics_endpoint(sqlite_url):
    port = free_port()
    cfg = make_config(sqlite_url, [{"name": "sync", "kind": "sync", "every": "1s"},
                                   {"name": "bad", "kind": "check", "every": "1h"}],
                      metrics={"port": port, "host": "127.0.0.1"})
    state = State.open(sqlite_url)
    run_id = state.start_run("seed")
    alarms = [SimpleNamespace(rule="STAT-01", subject=f"P{i}", project=f"P{i}", status="alarm",
                              severity="high" if i < 2 else "critical", reason="stale") for i in range(3)]
    state.save_results(run_id, alarms, now=utcnow())
    state.finish_run(run_id, "ok", {})
    state.close()
    runner = Recorder(fail={"bad": FatalError("jira: HTTP 403", system="jira")})
    worker = Worker(cfg, runner, "w1")
    try:
        wait_for(lambda: len(runner.of("sync")) >= 2 and runner.of("bad"), 6, "two runs")
        time.sleep(0.2)
        code, text = get(f"http://127.0.0.1:{port}/metrics")
        assert code == 200
        samples = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
                   for line in text.splitlines() if line and not line.startswith("#")}
        assert samples['pmo_hub_runs_total{job="sync",outcome="ok"}'] >= 2
        assert samples['pmo_hub_runs_total{job="bad",outcome="failed"}'] == 1
        assert samples['pmo_hub_job_failures_total{job="bad"}'] == 1
        assert samples['pmo_hub_job_failures_total{job="sync"}'] == 0
        assert samples['pmo_hub_http_requests_total{system="jira"}'] >= 10
        assert samples["pmo_hub_rate_limit_wait_seconds_total"] >= 3.0
        assert samples['pmo_hub_open_violations{severity="high"}'] == 2
        assert samples['pmo_hub_open_violations{severity="critical"}'] == 1
        assert samples['pmo_hub_open_violations{severity="low"}'] == 0
        assert '# TYPE pmo_hub_runs_total counter' in text
        assert get(f"http://127.0.0.1:{port}/healthz") == (200, "ok\n")
        assert get(f"http://127.0.0.1:{port}/other")[0] == 404
    finally:
        worker.stop()


def test_metrics_text_format():
    m = Metrics()
    m.inc("pmo_hub_runs_total", job='we"ird', outcome="ok")
    m.inc("pmo_hub_rate_limit_wait_seconds_total", 2.5)
    assert m.render() == (
        "# HELP pmo_hub_runs_total Job runs finished by this worker, by job and outcome.\n"
        "# TYPE pmo_hub_runs_total counter\n"
        'pmo_hub_runs_total{job="we\\"ird",outcome="ok"} 1\n'
        "# HELP pmo_hub_rate_limit_wait_seconds_total Seconds spent waiting before retries "
        "(Retry-After of 429s, back-off).\n"
        "# TYPE pmo_hub_rate_limit_wait_seconds_total counter\n"
        "pmo_hub_rate_limit_wait_seconds_total 2.5\n")
