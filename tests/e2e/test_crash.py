"""Crash safety: a sync killed with SIGKILL in the middle of its write-back is completed by the next run,
with exactly one summary comment per project and every planned value in place."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from connectors.jira.connector import COMMENT_MARKER, adf_text


def test_sigkill_during_apply_then_rerun_completes_exactly_once(hub):
    # slow every write down so the kill lands in the middle of the apply (the server finishes the write
    # it is handling even though the client is gone: the journal must cope with that)
    hub.server.add_fault(system="jira", method="P*", route="*comment*", kind="latency", delay_s=0.15, times=None)
    hub.server.add_fault(system="jira", method="PUT", route="*issue/{key}", kind="latency", delay_s=0.15, times=None)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "sync", "--config", str(hub.config_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 60
    while hub.stats()["writes"] < 15 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    written_before_kill = hub.stats()["writes"]
    assert 15 <= written_before_kill < 96
    hub.server.clear_faults()
    time.sleep(0.3)  # let the in-flight request the server was handling finish

    outcome = hub.sync()
    assert outcome.outcome == "ok"
    client = hub.as_user(hub.bot)
    records = {i.fields.project.key: i.key for i in
               client.enhanced_search_issues('issuetype = "Project"', maxResults=0, fields=["project"])}
    fid = next(f["id"] for f in client.fields() if f["name"] == "PMO Open Violations")
    by_project: dict[str, int] = {}
    for r in outcome.results:
        if r.status == "alarm":
            by_project[r.project] = by_project.get(r.project, 0) + 1
    for project, record in records.items():
        comments = [c for c in client.comments(record) if COMMENT_MARKER in adf_text(c.raw.get("body"))]
        assert len(comments) == 1, (record, len(comments))
        assert getattr(client.issue(record).fields, fid) == by_project.get(project, 0)
    # and a further run has nothing left to do
    hub.server.stats.reset()
    assert hub.sync().plan.ops == []
    assert hub.stats()["writes"] == 0
