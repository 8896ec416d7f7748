"""`pmo-hub demo`: the whole product in one command, against the in-process sandbox.

Starts the sandbox on a free loopback port, writes a hub config for it, runs a full sync with write-back,
runs a second (incremental) sync that must write nothing, a report run that publishes the executive summary
and the PM digests by mail, writes the HTML report and returns the lines to print. Everything lands in one directory; a previous demo's state there is replaced, because it belongs to
a sandbox that no longer runs.
"""

from __future__ import annotations

from pathlib import Path

from hub import config as config_mod
from hub import sync
from hub.files import private_dir
from hub.sandbox.run import start, write_config
from hub.state import State


def run_demo(out_dir: Path) -> list[str]:
    out_dir = out_dir.resolve()
    private_dir(out_dir)  # it holds the sandbox's credential files and the state (owner-only)
    for stale in ("state.db", "state.db-wal", "state.db-shm"):
        (out_dir / stale).unlink(missing_ok=True)
    lines: list[str] = []
    server = start(port=0)
    try:
        cfg_path = write_config(server, out_dir / "config.toml")
        cfg = config_mod.load(cfg_path)
        state = State.open(cfg.state.resolved_url(cfg.base_dir))
        try:
            lines.append(f"Sandbox: {server.url} (emulated Jira Cloud, Google Sheets and Microsoft Graph; "
                         f"{len(server.seed.projects)} seeded projects)")
            first = sync.run(cfg, state, job="sync")
            lines.append("First sync (full pull, write-back):")
            lines += ["  " + line for line in _summary(first)]
            lines.append(f"  Write requests counted by the sandbox: {_writes(server)}")
            server.stats.reset()
            second = sync.run(cfg, state, job="sync")
            lines.append("Second sync (incremental, nothing changed in the sources):")
            lines += ["  " + line for line in _summary(second)]
            lines.append(f"  Write requests counted by the sandbox: {_writes(server)}")
            from hub.cli import write_report

            server.stats.reset()
            published = sync.run(cfg, state, job="report", write=False, publish=True)
            lines.append("Report run (check, publish the executive summary and the PM digests by mail):")
            lines += ["  " + line for line in _summary(published)[2:]]
            lines.append(f"  Messages sent: {_published(published)}")
            report = write_report(cfg, state, published, "html", out_dir / "pmo-compliance-report.html")
            alarms_by_rule: dict[str, int] = {}
            for r in published.results:
                if r.status == "alarm":
                    alarms_by_rule[r.rule] = alarms_by_rule.get(r.rule, 0) + 1
            top = sorted(alarms_by_rule.items(), key=lambda kv: (-kv[1], kv[0]))[:8]
            lines.append("Most frequent violations: " + ", ".join(f"{k} x{v}" for k, v in top))
            lines.append(f"Config used: {cfg_path}")
            lines.append(f"HTML report: {report}")
        finally:
            state.close()
    finally:
        server.stop()
    return lines


def _published(outcome) -> str:
    ops = outcome.plan.ops if outcome.plan else []
    execs = [op for op in ops if op.record.startswith("publish:exec")]
    pms = [op for op in ops if op.record.startswith("publish:pm:")]
    done = outcome.applied.done if outcome.applied else 0
    return (f"{done} of {len(ops)} (executive summary to {', '.join(a for op in execs for a in op.payload['to'])}; "
            f"digests to {len(pms)} PMs with open violations)")


def _writes(server) -> str:
    systems = server.stats.snapshot()["systems"]
    return ", ".join(f"{name} {systems.get(name, {}).get('writes', 0)}" for name in ("jira", "sheets", "graph"))


def _summary(outcome) -> list[str]:
    from hub.cli import _summary_lines

    return _summary_lines(outcome)
