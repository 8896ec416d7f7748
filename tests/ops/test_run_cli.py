"""`pmo-hub run` for real: a subprocess stopped by SIGTERM mid-job, a worker process killed mid-job and taken
over, `run --once` / `status` / `runs` output, and the deployment files.

The jobs sync against http://127.0.0.1:9 (nothing listens there), so a pull fails; the retry settings decide
how long a job takes (each attempt is refused at once, then the policy waits).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from hub import cli, config
from hub.scheduler import Cadence
from hub.state import State, utcnow

from .test_scheduler import Recorder, Worker, wait_for

ROOT = Path(__file__).resolve().parents[2]
TOKEN_ENV = {"PMO_HUB_TEST_TOKEN": "test-token-not-secret"}


def write_config(tmp_path: Path, state_url: str, *, jobs: str, retry: str = "max_attempts = 1",
                 extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f"""
[hub]
timezone = "Europe/London"

[state]
url = "{state_url}"

[retry]
{retry}

[jira]
url = "http://127.0.0.1:9"
email = "bot@example.com"
token_env = "PMO_HUB_TEST_TOKEN"

[scheduler]
lease_ttl_s = 2
{extra}
{jobs}
""", encoding="utf-8")
    return path


def pmo_hub(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hub.cli", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **TOKEN_ENV})


def runs_of(url: str, job: str) -> list[dict]:
    state = State.open(url)
    try:
        return state.runs(job=job)
    finally:
        state.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_lets_the_running_job_finish_then_exits_0(tmp_path, signum):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    cfg = write_config(tmp_path, url, retry="max_attempts = 3\nbase_s = 1\nmax_wait_s = 1",  # a job of ~2 s
                       jobs='[[jobs]]\nname = "sync"\nkind = "sync"\nevery = "1h"')
    proc = pmo_hub("--log-level", "info", "--log-format", "json", "run", "--config", str(cfg),
                   "--worker-id", "w-term", cwd=tmp_path)
    try:
        wait_for(lambda: (tmp_path / "state.db").exists() and any(not r["finished"] for r in runs_of(url, "sync")),
                 20, "the job to start")
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "pmo-hub run: stopped" in out
    (run,) = runs_of(url, "sync")  # finished, and nothing started after the signal
    assert run["finished"] and run["outcome"] == "partial"

    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    messages = [line["message"] for line in lines]
    stop = next(i for i, m in enumerate(messages) if f"received {signum.name}" in m)
    done = next(i for i, m in enumerate(messages) if m.startswith("job sync: partial"))
    assert stop < done  # the signal came while the job ran, and the job still finished
    sync_lines = [line for line in lines if line["logger"] == "pmo_hub.sync"]
    assert sync_lines and all(line["run_id"] == run["id"] and line["job"] == "sync" for line in sync_lines)
    assert all(line["job"] == "sync" for line in lines if line["message"].startswith("job sync"))
    assert lines[done]["run_id"] == run["id"]


def test_a_killed_worker_process_loses_its_job_to_another_worker(tmp_path, pg_url):
    cfg_path = write_config(tmp_path, pg_url, retry="max_attempts = 6\nbase_s = 1\nmax_wait_s = 2",  # ~9 s
                            jobs='[[jobs]]\nname = "slow"\nkind = "sync"\nevery = "1h"')
    cfg = config.load(cfg_path)
    occurrence = Cadence.of(cfg.jobs[0], cfg.tz).latest(utcnow())
    victim = pmo_hub("run", "--config", str(cfg_path), "--worker-id", "victim", cwd=tmp_path)
    state = State.open(pg_url)
    try:
        def victim_running() -> bool:
            lease = state.lease("slow", occurrence)
            return bool(lease and lease["worker"] == "victim" and state.runs(job="slow"))

        wait_for(victim_running, 20, "the victim to take the job")
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=10)
        (orphan,) = state.runs(job="slow")
        assert orphan["finished"] is None

        runner = Recorder()
        rescuer = Worker(cfg, runner, "rescuer")
        try:
            wait_for(lambda: runner.of("slow"), 10, "the takeover")
        finally:
            rescuer.stop()
        assert [e.occurrence for e in runner.of("slow")] == [occurrence]
        lease = state.lease("slow", occurrence)
        assert (lease["worker"], lease["attempts"], lease["outcome"]) == ("rescuer", 2, "ok")
        orphan = next(r for r in state.runs(job="slow") if r["id"] == orphan["id"])
        assert (orphan["outcome"], orphan["error"]) == ("failed", "abandoned: worker victim stopped renewing its lease")
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.communicate()
        state.close()


def test_run_once_status_and_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PMO_HUB_TEST_TOKEN", TOKEN_ENV["PMO_HUB_TEST_TOKEN"])
    (tmp_path / "blocker").write_text("a file where the report directory should be")
    url = f"sqlite:///{tmp_path / 'state.db'}"
    cfg = write_config(tmp_path, url, extra='[report]\nout_dir = "blocker/reports"\nformats = ["json"]', jobs="""
[[jobs]]
name = "sync"
kind = "sync"
every = "1h"

[[jobs]]
name = "weekly"
kind = "report"
at = "08:00"
on = "monday"

[[jobs]]
name = "paused"
kind = "check"
every = "15m"
enabled = false
""")
    assert cli.main(["run", "--config", str(cfg), "--once"]) == 2
    out = capsys.readouterr().out.splitlines()
    assert sorted(line.split(":")[0] + ":" + line.split(":")[1].split()[0] for line in out) == [
        "sync:partial", "weekly:failed"]
    weekly = next(line for line in out if line.startswith("weekly"))
    assert "writing the reports failed" in weekly

    assert cli.main(["run", "--config", str(cfg), "--once"]) == 0
    assert capsys.readouterr().out.startswith("Nothing due")

    assert cli.main(["status", "--config", str(cfg)]) == 0
    status = capsys.readouterr().out.splitlines()
    assert status[0].split()[:6] == ["JOB", "KIND", "SCHEDULE", "LAST", "SUCCESS", "LAST"]
    rows = {line.split()[0]: line for line in status[1:] if not line.startswith(" ")}
    assert set(rows) == {"sync", "weekly", "paused"}
    assert rows["paused"].endswith("disabled") and "never" in rows["paused"]
    assert "at 08:00 on monday" in rows["weekly"]
    assert any(line.startswith("  last failure (failed): writing the reports failed") for line in status)
    assert any(line.startswith("  last failure (partial): jira: connecting") for line in status)

    assert cli.main(["runs", "--config", str(cfg), "--job", "weekly"]) == 0
    runs = capsys.readouterr().out.splitlines()
    assert runs[0].split()[:6] == ["RUN", "JOB", "STARTED", "DURATION", "OUTCOME", "DETAILS"]
    assert len(runs) == 2 and " weekly " in runs[1] and " failed " in runs[1]
    assert re.search(r"requests jira=\d+  writes 0  results .*error: writing the reports failed", runs[1])


def test_run_without_jobs_is_a_usage_error(tmp_path, capsys):
    cfg = write_config(tmp_path, f"sqlite:///{tmp_path / 'state.db'}", jobs="")
    assert cli.main(["run", "--config", str(cfg)]) == 2
    assert "no enabled [[jobs]] to run" in capsys.readouterr().err


# ---- deployment files --------------------------------------------------------------------------------------
def pmo_hub_args(command: str) -> list[str]:
    """The arguments after the `pmo-hub` executable in a shell command line."""
    words = shlex.split(command)
    start = next(i for i, w in enumerate(words) if w.endswith("/pmo-hub"))
    end = next((i for i, w in enumerate(words) if i > start and w.startswith(">")), len(words))
    return words[start + 1:end]


def test_cron_and_systemd_command_lines_parse():
    parser = cli.build_parser()
    cron = [line for line in (ROOT / "deploy/cron/pmo-hub.cron").read_text().splitlines()
            if line and not line.startswith("#") and "=" not in line.split()[0]]
    assert len(cron) == 1 and cron[0].split()[5] == "pmo-hub"
    args = parser.parse_args(pmo_hub_args(cron[0]))
    assert (args.command, args.once, args.log_format) == ("run", True, "json")
    unit = (ROOT / "deploy/systemd/pmo-hub.service").read_text()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    args = parser.parse_args(pmo_hub_args(exec_start.removeprefix("ExecStart=")))
    assert (args.command, args.once) == ("run", False)
    env_file = next(line for line in unit.splitlines() if line.startswith("EnvironmentFile="))
    env_example = (ROOT / "deploy/systemd/pmo-hub.env.example").read_text()
    assert env_file.endswith("/etc/pmo-hub/pmo-hub.env") and "PMO_HUB_JIRA_TOKEN=" in env_example


def test_kubernetes_manifests_hold_a_valid_config():
    yaml = pytest.importorskip("yaml")
    k8s = ROOT / "deploy/kubernetes"
    docs = {p.name: list(yaml.safe_load_all(p.read_text())) for p in k8s.glob("*.yaml")}
    (cm,) = docs["configmap.yaml"]
    cfg = config.from_dict(tomllib.loads(cm["data"]["config.toml"]), source="configmap.yaml")
    assert cfg.state.url.startswith("postgresql://") and cfg.metrics.port == 9108 and cfg.jobs
    (deployment,) = docs["deployment.yaml"]
    assert deployment["spec"]["replicas"] == 2
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    args = cli.build_parser().parse_args(container["args"])
    assert args.command == "run" and args.config == "/etc/pmo-hub/config.toml"
    assert container["ports"][0]["containerPort"] == cfg.metrics.port
    (cron,) = docs["cronjob.yaml"]
    cron_container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert cli.build_parser().parse_args(cron_container["args"]).once
    (secret,) = docs["secret.example.yaml"]
    env_names = {cfg.jira.token_env, "PGPASSWORD"}
    assert set(secret["stringData"]) == env_names
    for spec in (deployment["spec"]["template"]["spec"], cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]):
        c = spec["containers"][0]
        assert c["envFrom"][0]["secretRef"]["name"] == secret["metadata"]["name"]
        assert spec["volumes"][0]["configMap"]["name"] == cm["metadata"]["name"]
