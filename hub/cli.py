"""The `pmo-hub` command line: the only place that prints, reads arguments and chooses exit codes.

Exit codes: 0 success (and, for `check`, no alarm at or above --fail-on); 1 alarms at or above --fail-on;
2 configuration or usage error, or a run that failed. Every message passes through `hub.secrets.mask`.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from hub import __version__
from hub.errors import ConfigError, HubError, SafetyCapError
from hub.model import SEVERITY_RANK
from hub.secrets import mask

EXIT_OK, EXIT_ALARMS, EXIT_ERROR = 0, 1, 2


class Exit(Exception):
    def __init__(self, code: int, message: str = ""):
        super().__init__(message)
        self.code = code
        self.message = message


def out(text: str = "") -> None:
    print(mask(text), flush=True)


def err(text: str) -> None:
    print(mask(text), file=sys.stderr, flush=True)


# ---- shared helpers -----------------------------------------------------------------------------------
def _load(args: argparse.Namespace):
    from hub import config

    return config.load(args.config)


def _open_state(cfg):
    from hub.state import State

    return State.open(cfg.state.resolved_url(cfg.base_dir))


def results_json(outcome) -> dict[str, Any]:
    return {
        "run": {"id": outcome.run_id, "started": outcome.started.isoformat(),
                "finished": outcome.finished.isoformat() if outcome.finished else None,
                "systems": outcome.portfolio.systems,
                "source_failures": [f.model_dump(mode="json") for f in outcome.portfolio.source_failures],
                "projects": len(outcome.portfolio.projects), "counts": outcome.counts,
                "requests": outcome.requests, "expired_waivers": outcome.expired_waivers},
        "results": [
            {"rule": r.rule, "status": r.status, "severity": r.severity, "project": r.project,
             "subject": r.subject, "reason": r.reason, "evidence": r.evidence,
             "sources": [s.model_dump(mode="json") for s in r.sources], "title": r.title,
             "remediation": r.remediation, "waiver": r.waiver,
             "first_seen": r.first_seen.isoformat() if r.first_seen else None}
            for r in outcome.results
        ],
    }


def _summary_lines(outcome) -> list[str]:
    c = outcome.counts
    lines = [f"Projects: {len(outcome.portfolio.projects)}   work items: {len(outcome.portfolio.work_items)}   "
             f"sources: {', '.join(outcome.portfolio.systems) or '(none)'}",
             "Results: " + "  ".join(f"{k} {v}" for k, v in c.items())]
    for p in outcome.pulls.values():
        state = (f"FAILED: {p.error}" if p.error else
                 f"{'full' if p.full else 'incremental'}, {p.fetched} fetched, {p.changed} new or changed"
                 + (f", {p.own_writes} changed only by the hub's own writes" if p.own_writes else ""))
        lines.append(f"Pull {p.system}: {state}; {outcome.requests.get(p.system, 0)} requests")
        lines.extend(f"  note: {n}" for n in p.notes[:5])
        if len(p.notes) > 5:
            lines.append(f"  ... and {len(p.notes) - 5} more notes (in the log)")
    if outcome.plan is not None:
        applied = outcome.applied
        lines.append(f"Write-back: {len(outcome.plan.ops)} planned, {applied.done if applied else 0} written, "
                     f"{applied.failed if applied else 0} failed, {len(outcome.plan.conflicts)} conflicts")
        errors = applied.errors if applied else []
        lines.extend(f"  write failed: {e}" for e in errors[:5])
        if len(errors) > 5:
            lines.append(f"  ... and {len(errors) - 5} more failed writes (pmo-hub audit lists them)")
    for c2 in (outcome.plan.conflicts if outcome.plan else []):
        lines.append(f"  conflict: {c2.system} {c2.record} {c2.field}: source has {c2.source_value!r}, hub last "
                     f"wrote {c2.last_written!r} ({c2.resolution})")
    if outcome.expired_waivers:
        lines.append(f"Expired waivers: {len(outcome.expired_waivers)} (no longer applied)")
    return lines


def write_report(cfg, state, outcome, fmt: str, path: Path) -> Path:
    from hub.report import render
    from hub.reporting import build_report_data

    data = build_report_data(cfg, state, outcome)
    return render(fmt, data, path)  # (owner-only, like the directories it creates)


# ---- commands -----------------------------------------------------------------------------------------
def cmd_sync(args: argparse.Namespace) -> int:
    """Pull every source, evaluate the PMO standards and write governance values back."""
    from hub import sync

    cfg = _load(args)
    state = _open_state(cfg)
    try:
        outcome = sync.run(cfg, state, job="sync", write=True, dry_run=args.dry_run, full=args.full)
    finally:
        state.close()
    if args.dry_run:
        _print_plan(outcome.plan)
    for line in _summary_lines(outcome):
        out(line)
    if cfg.hub.read_only:
        out("Read-only (hub.read_only): nothing is written to any source")
    return EXIT_ERROR if outcome.outcome != "ok" else EXIT_OK


def _print_plan(plan) -> None:
    rows = plan.rows() if plan else []
    out(f"Planned writes ({len(rows)} field changes in {len(plan.ops) if plan else 0} requests); nothing was written:")
    for r in rows:
        out(f"  {r['system']} {r['record']} {r['field']}: {r['before']!r} -> {r['after']!r}  ({r['reason']})")


def cmd_plan(args: argparse.Namespace) -> int:
    """Show the write-back a sync would make (target, field, before, after, reason) without writing."""
    args.dry_run = True
    return cmd_sync(args)


def cmd_check(args: argparse.Namespace) -> int:
    """Pull and evaluate the PMO standards without writing anything back."""
    from hub import sync

    cfg = _load(args)
    state = _open_state(cfg)
    try:
        outcome = sync.run(cfg, state, job="check", write=False, full=args.full)
    finally:
        state.close()
    if args.format == "json":
        out(json.dumps(results_json(outcome), indent=2, default=str))
    else:
        shown = [r for r in outcome.results if r.status in ("alarm", "error", "waived")]
        shown.sort(key=lambda r: (-SEVERITY_RANK[r.severity], r.project or "", r.rule))
        out(f"{'STATUS':7} {'SEV':8} {'RULE':8} {'PROJECT':8} {'SUBJECT':24} REASON")
        for r in shown:
            out(f"{r.status:7} {r.severity:8} {r.rule:8} {(r.project or '-'):8} {r.subject[:24]:24} {r.reason}")
        for line in _summary_lines(outcome):
            out(line)
    if any(p.error for p in outcome.pulls.values()):
        return EXIT_ERROR
    threshold = SEVERITY_RANK[args.fail_on]
    if any(r.status == "alarm" and SEVERITY_RANK[r.severity] >= threshold for r in outcome.results):
        return EXIT_ALARMS
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    """Pull, evaluate and write a compliance report (html, json, csv, xlsx or md)."""
    from hub import sync

    cfg = _load(args)
    if args.publish and cfg.hub.read_only:
        raise ConfigError("--publish: hub.read_only is set, so nothing is sent; drop --publish (or read_only)")
    if args.publish and not (cfg.m365 and cfg.m365.enabled and cfg.m365.publish.active):
        raise ConfigError("--publish: nothing to publish. Set [m365.publish] executive_mail_to, executive_teams "
                          "or pm_digests in the config (see config.example.toml)")
    state = _open_state(cfg)
    try:
        outcome = sync.run(cfg, state, job="report", write=False, publish=args.publish, dry_run=args.dry_run,
                           full=args.full)
        path = write_report(cfg, state, outcome, args.format, Path(args.out))
    finally:
        state.close()
    out(f"Report written: {path.resolve()}")
    if args.publish:
        if args.dry_run:
            _print_plan(outcome.plan)
        else:
            applied = outcome.applied
            out(f"Published: {applied.done if applied else 0} message(s) sent, {applied.failed if applied else 0} "
                f"failed ({len(outcome.plan.ops) if outcome.plan else 0} changed since the last ones sent)")
            for e in (applied.errors if applied else [])[:5]:
                out(f"  publish failed: {e}")
            if applied and applied.failed:
                return EXIT_ERROR
    return EXIT_OK


def cmd_audit(args: argparse.Namespace) -> int:
    """List the audit trail of writes (run, system, record, field, before, after, outcome)."""
    cfg = _load(args)
    state = _open_state(cfg)
    since = datetime.fromisoformat(args.since).replace(tzinfo=timezone.utc) if args.since else None
    try:
        rows = state.audit_rows(since=since, project=args.project)
    finally:
        state.close()
    cols = ["at", "run_id", "system", "record", "project", "field", "before", "after", "outcome", "reason"]
    if args.csv:
        from hub.files import private_dir, private_file

        private_dir(Path(args.csv).parent)
        with open(private_file(Path(args.csv)), "w", newline="", encoding="utf-8") as fh:  # owner-only
            w = csv.DictWriter(fh, fieldnames=cols)
            w.writeheader()
            for r in rows:
                w.writerow({k: _csv_safe(r.get(k)) for k in cols})
        out(f"{len(rows)} audit rows written to {args.csv}")
        return EXIT_OK
    for r in rows:
        out(f"{r['at'][:19]} {r['system']} {r['record']} {r['field']}: {r['before']!r} -> {r['after']!r} "
            f"[{r['outcome']}] {r['reason'] or ''}")
    out(f"{len(rows)} audit rows")
    return EXIT_OK


def _csv_safe(v: Any) -> Any:
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return v


def cmd_runs(args: argparse.Namespace) -> int:
    """List recent runs: job, start, duration, outcome, requests per system, writes, results by status, error."""
    cfg = _load(args)
    state = _open_state(cfg)
    try:
        runs = state.runs(limit=args.limit, job=args.job)
    finally:
        state.close()
    if not runs:
        out("No runs recorded" + (f" for job {args.job}" if args.job else "") + ".")
        return EXIT_OK
    out(f"{'RUN':22}  {'JOB':14} {'STARTED':19}  {'DURATION':>8}  {'OUTCOME':8} DETAILS   (times in {cfg.hub.timezone})")
    for r in runs:
        out(_run_line(cfg, r))
    return EXIT_OK


def _local_time(cfg, stamp: str | None) -> str:
    return f"{datetime.fromisoformat(stamp).astimezone(cfg.tz):%Y-%m-%d %H:%M:%S}" if stamp else "never"


def _run_line(cfg, r: dict) -> str:
    st = r["stats"] or {}
    duration = "-"
    if r["finished"]:
        secs = (datetime.fromisoformat(r["finished"]) - datetime.fromisoformat(r["started"])).total_seconds()
        duration = f"{secs:.1f}s"
    requests = " ".join(f"{k}={v}" for k, v in sorted((st.get("requests") or {}).items())) or "-"
    results = " ".join(f"{k}={v}" for k, v in (st.get("results") or {}).items() if v) or "-"
    line = (f"{r['id']:22}  {r['job']:14} {_local_time(cfg, r['started']):19}  {duration:>8}  "
            f"{r['outcome'] or 'running':8} requests {requests}  writes {st.get('writes', 0)}  results {results}")
    error = _run_error(r)
    return line + (f"  error: {error}" if error else "")


def _run_error(r: dict) -> str | None:
    """A run's error, or for a partial run the sources and the writes that failed."""
    pulls = (r["stats"] or {}).get("pulls") or {}
    errors = [f"{p.get('error')}" for p in pulls.values() if p.get("error")]
    errors += (r["stats"] or {}).get("write_errors") or []
    return r["error"] or "; ".join(errors) or None


def cmd_run(args: argparse.Namespace) -> int:
    """Run the configured [[jobs]] on their schedules until SIGTERM or Ctrl-C (--once: run due jobs, then exit)."""
    from hub import scheduler

    cfg = _load(args)
    if not any(j.enabled for j in cfg.jobs):
        raise Exit(EXIT_ERROR, f"{args.config}: no enabled [[jobs]] to run; add one, e.g.\n"
                   '  [[jobs]]\n  name = "sync"\n  kind = "sync"\n  every = "15m"')
    sched = scheduler.Scheduler(cfg, worker_id=args.worker_id)
    with scheduler.stop_on_signals(sched):
        if not args.once:
            out(f"pmo-hub run: worker {sched.worker_id}, jobs: {', '.join(j.name for j in sched.jobs)}; "
                "SIGTERM or Ctrl-C stops after the jobs in flight")
            if cfg.metrics.port:
                out(f"Metrics: http://{cfg.metrics.host}:{cfg.metrics.port}/metrics")
            sched.run()
            out("pmo-hub run: stopped")
            return EXIT_OK
        results = sched.run_once()
    ran = [r for r in results if r.outcome != "skipped"]
    if not ran:
        out("Nothing due: every job's latest occurrence has run or is running on another worker.")
    for r in ran:
        out(f"{r.job}: {r.outcome} in {r.seconds:.1f}s" + (f" (run {r.run_id})" if r.run_id else "")
            + (f": {r.error}" if r.error else ""))
        for path in r.files:
            out(f"  report: {path}")
    return EXIT_ERROR if any(r.outcome in ("failed", "partial") for r in ran) else EXIT_OK


def cmd_login(args: argparse.Namespace) -> int:
    """Sign a person in to Microsoft 365 once (m365.auth = "device_code"); later runs use the token cache."""
    from connectors.m365.connector import build_connector
    from hub import sync

    cfg = _load(args)
    if cfg.m365 is None or not cfg.m365.enabled:
        raise ConfigError("login: there is no enabled [m365] section in the config")
    if cfg.m365.auth != "device_code":
        out(f"m365.auth is {cfg.m365.auth!r}: the app signs in by itself with its secret or certificate; "
            "nothing to do (set auth = \"device_code\" for a person's delegated sign-in)")
        return EXIT_OK
    conn = build_connector(cfg, sync.make_policy(cfg))
    try:
        conn.credential.sign_in(err)
    finally:
        conn.close()
    out("Signed in; the token cache is kept owner-only beside the state database. Runs now use it silently.")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    """Show each scheduled job: schedule, last success, last failure, next run, and where it runs now."""
    from hub import scheduler

    cfg = _load(args)
    if not cfg.jobs:
        out(f"{args.config}: no [[jobs]] configured.")
        return EXIT_OK
    state = _open_state(cfg)
    try:
        rows = scheduler.job_status(cfg, state)
    finally:
        state.close()
    out(f"{'JOB':16} {'KIND':7} {'SCHEDULE':22} {'LAST SUCCESS':19}  {'LAST FAILURE':19}  NEXT RUN   "
        f"(times in {cfg.hub.timezone})")
    for row in rows:
        ok, bad = row["last_success"], row["last_failure"]
        nxt = ("disabled" if not row["enabled"] else "due now" if row["due"]
               else _local_time(cfg, row["next_run"].isoformat()))
        out(f"{row['job']:16} {row['kind']:7} {row['schedule']:22} {_local_time(cfg, ok and ok['started']):19}  "
            f"{_local_time(cfg, bad and bad['started']):19}  {nxt}")
        if row["running"]:
            lease = row["running"]
            out(f"  running on worker {lease['worker']} since {_local_time(cfg, lease['acquired'])} "
                f"(occurrence {_local_time(cfg, lease['occurrence'])})")
        if bad and (not ok or bad["started"] > ok["started"]):
            out(f"  last failure ({bad['outcome']}): {_run_error(bad) or 'see pmo-hub runs'}")
    return EXIT_OK


def cmd_standards(args: argparse.Namespace) -> int:
    """List, show or validate PMO standards (rules)."""
    from hub.rules import api

    if args.action == "list":
        for row in api.list_rules():
            out(f"{row['id']:8} {row['severity']:8} {row['applies_to']:14} {row['title']}")
        return EXIT_OK
    if args.action == "show":
        if not args.target:
            raise Exit(EXIT_ERROR, "standards show needs a rule id, e.g. pmo-hub standards show STAT-01")
        out(api.describe_rule(args.target))
        return EXIT_OK
    if not args.target:
        raise Exit(EXIT_ERROR, "standards validate needs a rule file path")
    n = api.validate_file(Path(args.target))
    out(f"{args.target}: {n} rules, valid")
    return EXIT_OK


def cmd_sandbox(args: argparse.Namespace) -> int:
    """Serve the local emulators of the Jira, Google and Microsoft APIs until interrupted."""
    import time

    from hub.sandbox.run import start, write_config

    server = start(port=args.port, host=args.host, projects=args.projects, items_per_project=args.items,
                   seed=args.seed, latency_ms=args.latency_ms)
    out(f"pmo-hub sandbox serving on {server.url}  (stats: {server.url}/_sandbox/stats)")
    if args.config_out:
        path = write_config(server, Path(args.config_out))
        out(f"Hub config for this sandbox: {path}")
    out("Press Ctrl-C to stop.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """Start the sandbox, run a full sync with write-back and write an HTML report, then stop."""
    from hub.demo import run_demo

    for line in run_demo(Path(args.out)):
        out(line)
    return EXIT_OK


# ---- parser -------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pmo-hub", description="Keeps a PMO's governance in step with Jira, "
                                "Google Sheets and Microsoft 365.")
    p.add_argument("--version", action="version", version=f"pmo-hub {__version__}")
    p.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"],
                   help="log verbosity on stderr (default: warning)")
    p.add_argument("--log-format", default="text", choices=["text", "json"], help="log line format on stderr")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, fn: Callable, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(func=fn)
        return sp

    def config_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--config", required=True, metavar="PATH", help="the hub's TOML configuration file")

    sp = add("sync", cmd_sync, cmd_sync.__doc__)
    config_arg(sp)
    sp.add_argument("--dry-run", action="store_true", help="print the planned writes and write nothing")
    sp.add_argument("--full", action="store_true", help="pull everything, not only changes since the last run")

    sp = add("plan", cmd_plan, cmd_plan.__doc__)
    config_arg(sp)
    sp.add_argument("--full", action="store_true", help="pull everything, not only changes since the last run")

    sp = add("check", cmd_check, cmd_check.__doc__)
    config_arg(sp)
    sp.add_argument("--format", choices=["table", "json"], default="table", help="output format (default: table)")
    sp.add_argument("--fail-on", choices=list(SEVERITY_RANK), default="high",
                    help="exit 1 when an alarm of this severity or higher exists (default: high)")
    sp.add_argument("--full", action="store_true", help="pull everything, not only changes since the last run")

    sp = add("report", cmd_report, cmd_report.__doc__)
    config_arg(sp)
    sp.add_argument("--format", choices=["html", "json", "csv", "xlsx", "md"], default="html",
                    help="report format (default: html)")
    sp.add_argument("--out", required=True, metavar="PATH", help="where to write the report")
    sp.add_argument("--full", action="store_true", help="pull everything, not only changes since the last run")
    sp.add_argument("--publish", action="store_true",
                    help="also send the executive summary and PM digests of [m365.publish] (those that changed)")
    sp.add_argument("--dry-run", action="store_true", help="with --publish: list the messages, send nothing")

    sp = add("audit", cmd_audit, cmd_audit.__doc__)
    config_arg(sp)
    sp.add_argument("--since", metavar="DATE", help="only writes at or after this date/time (ISO, UTC)")
    sp.add_argument("--project", metavar="KEY", help="only writes for this project")
    sp.add_argument("--csv", metavar="PATH", help="export as CSV to PATH")

    sp = add("runs", cmd_runs, cmd_runs.__doc__)
    config_arg(sp)
    sp.add_argument("--limit", type=int, default=20, help="how many runs to list (default: 20)")
    sp.add_argument("--job", metavar="NAME", help="only runs of this job")

    sp = add("run", cmd_run, cmd_run.__doc__)
    config_arg(sp)
    sp.add_argument("--worker-id", metavar="ID", help="this worker's name in job leases (default: HOSTNAME-PID)")
    sp.add_argument("--once", action="store_true",
                    help="run every job whose latest occurrence has not run yet, then exit (for cron)")

    sp = add("status", cmd_status, cmd_status.__doc__)
    config_arg(sp)

    sp = add("login", cmd_login, cmd_login.__doc__)
    config_arg(sp)

    sp = add("standards", cmd_standards, cmd_standards.__doc__)
    sp.add_argument("action", choices=["list", "show", "validate"], help="what to do")
    sp.add_argument("target", nargs="?", help="rule id (show) or rule file (validate)")

    sp = add("sandbox", cmd_sandbox, cmd_sandbox.__doc__)
    sp.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    sp.add_argument("--port", type=int, default=8780, help="port (0 picks a free one; default: 8780)")
    sp.add_argument("--config-out", metavar="PATH", help="write a hub config (and token file) for this sandbox")
    sp.add_argument("--projects", type=int, default=48, help="projects to seed (default: 48)")
    sp.add_argument("--items", type=int, default=80, help="work items per project (default: 80)")
    sp.add_argument("--seed", type=int, default=7, help="random seed of the generated portfolio")
    sp.add_argument("--latency-ms", type=float, default=0.0, help="added latency per request")

    sp = add("demo", cmd_demo, cmd_demo.__doc__)
    sp.add_argument("--out", default="pmo-hub-demo", metavar="DIR",
                    help="directory for the demo's config, state and report (default: ./pmo-hub-demo)")
    return p


def main(argv: list[str] | None = None) -> int:
    from hub import logs, memory

    memory.limit_malloc_arenas()  # before any thread: see hub/memory.py
    parser = build_parser()
    args = parser.parse_args(argv)
    logs.setup(args.log_level, args.log_format)
    try:
        return args.func(args)
    except Exit as e:
        if e.message:
            err(f"pmo-hub: {e.message}")
        return e.code
    except ConfigError as e:
        err(f"pmo-hub: configuration error: {e}")
        return EXIT_ERROR
    except SafetyCapError as e:
        err(f"pmo-hub: safety cap: {e}")
        return EXIT_ERROR
    except HubError as e:
        err(f"pmo-hub: {e}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        err("pmo-hub: interrupted")
        return 130
    except BrokenPipeError:  # output piped into a command that stopped reading (e.g. `| head`)
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
