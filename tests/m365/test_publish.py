"""Publishing a report run through Microsoft 365: the executive summary by mail and Teams, per-PM digests.

Driven through the CLI (`pmo-hub report --publish`) against the Graph sandbox; what was sent is read back from
the sandbox's mailboxes and channel.
"""

from __future__ import annotations

import re

import pytest

from hub import cli
from hub.publish import to_html
from hub.report.tabular import md

SANDBOX_PUBLISH = '[m365.publish]\nexecutive_mail_to = ["executives@example.com"]\npm_digests = true\n'
PUBLISH = '[m365.publish]\nexecutive_mail_to = ["cio@example.com", "coo@example.com"]\nexecutive_teams = true\n' \
          'pm_digests = true\n'


def configure(hub, publish: str = PUBLISH, **kw) -> None:
    """The sandbox's config with its [m365.publish] section replaced by `publish`."""
    hub.write(**kw)
    text = hub.config_path.read_text()
    assert SANDBOX_PUBLISH in text
    hub.config_path.write_text(text.replace(SANDBOX_PUBLISH, publish))


def report(hub, tmp_path, *extra: str) -> int:
    return cli.main(["report", "--config", str(hub.config_path), "--format", "md",
                     "--out", str(tmp_path / "report.md"), "--publish", *extra])


def pm_projects(hub) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for sp in hub.server.seed.projects:
        out.setdefault(sp.pm.lower(), set()).add(sp.key)
    return out


def test_report_publish_sends_the_summary_and_each_pm_only_their_projects(m365_hub, tmp_path, capsys):
    configure(m365_hub)
    graph = m365_hub.graph
    mails0, msgs0 = len(graph.mails), len(graph.messages)
    assert report(m365_hub, tmp_path) == 0
    out = capsys.readouterr().out
    sent = graph.mails[mails0:]
    posted = graph.messages[msgs0:]

    execs = [m for m in sent if m["subject"] == "PMO compliance: executive summary"]
    assert len(execs) == 1 and execs[0]["toRecipients"] == ["cio@example.com", "coo@example.com"]
    assert execs[0]["body"]["contentType"] == "HTML" and "PMO compliance" in execs[0]["body"]["content"]
    assert len(posted) == 1 and "executive summary" in str(posted[0])

    digests = [m for m in sent if m["subject"].startswith("PMO compliance: your projects")]
    assert digests, out
    owned = pm_projects(m365_hub)
    all_keys = {k for keys in owned.values() for k in keys}
    for mail in digests:
        (pm,) = mail["toRecipients"]
        named = {k for k in all_keys if re.search(rf"\b{re.escape(k)}\b", mail["body"]["content"])}
        assert named and named <= owned[pm], (pm, named, owned[pm])
    assert f"Published: {1 + 1 + len(digests)} message(s) sent" in out

    # nothing changed: publishing again sends nothing
    n_mails, n_msgs = len(graph.mails), len(graph.messages)
    assert report(m365_hub, tmp_path) == 0
    assert (len(graph.mails), len(graph.messages)) == (n_mails, n_msgs)
    assert "Published: 0 message(s) sent" in capsys.readouterr().out


def test_publish_dry_run_lists_the_messages_and_sends_nothing(m365_hub, tmp_path, capsys):
    configure(m365_hub)
    graph = m365_hub.graph
    before = (len(graph.mails), len(graph.messages))
    assert report(m365_hub, tmp_path, "--dry-run") == 0
    out = capsys.readouterr().out
    assert (len(graph.mails), len(graph.messages)) == before
    assert "m365 publish:exec-mail comment: '(none)' -> 'PMO compliance: executive summary -> cio@example.com, " \
           "coo@example.com'" in out
    assert "publish:pm:" in out


def test_a_sync_never_publishes_and_report_without_publishing_config_refuses_publish(m365_hub, tmp_path, capsys):
    configure(m365_hub)
    m365_hub.sync()
    assert not [m for m in m365_hub.graph.mails if m["subject"].startswith("PMO compliance: e")]
    configure(m365_hub, "")
    assert report(m365_hub, tmp_path) == 2
    assert "nothing to publish" in capsys.readouterr().err


@pytest.mark.parametrize("extra, words", [
    ("[m365.publish]\npm_digests = true\n", "publish.mail_from"),
    ("[m365.publish]\nexecutive_teams = true\n", "teams_channel_id"),
    ("[m365.publish]\nexecutive_mail_to = [\"not-an-address\"]\n", "not an e-mail address"),
])
def test_publishing_config_mistakes_fail_before_any_request(m365_hub, tmp_path, capsys, extra, words):
    m365_hub.write(summaries=False, extra=extra)
    assert extra in m365_hub.config_path.read_text()
    m365_hub.reset_stats()
    assert report(m365_hub, tmp_path) == 2
    assert words in capsys.readouterr().err
    assert m365_hub.stats()["total"] == 0


def test_message_html_shows_source_markup_as_text():
    hostile = '<img src=x onerror=alert(1)> [click](javascript:alert(1)) **bold**'
    html = to_html(f"- {md(hostile)}")
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "javascript:" not in html.replace("[click](javascript:alert(1))", "")
    assert "<a " not in html and "<strong>" not in html


def test_a_scheduled_report_job_writes_its_files_and_publishes_once(m365_hub, tmp_path):
    from datetime import datetime, timezone

    from hub.config import JobSettings
    from hub.scheduler import run_job

    configure(m365_hub)
    cfg = m365_hub.config()
    job = JobSettings(name="weekly-report", kind="report", at="08:00", on="monday")
    graph = m365_hub.graph
    sent = []
    for week in (1, 2):
        before = len(graph.mails)
        state = m365_hub.state()
        try:
            result = run_job(cfg, state, job, datetime(2026, 11, 23 + 7 * (week - 1), 8, tzinfo=timezone.utc))
        finally:
            state.close()
        assert result.outcome == "ok", result.error
        assert result.files and all(p.exists() for p in result.files)
        sent.append(len(graph.mails) - before)
    assert sent[0] >= 2 and sent[1] == 0  # nothing changed in between: no second round of mail


def results_list(hub) -> dict[str, dict]:
    lst = hub.graph.list_by_display("PMO Compliance")
    return {it.fields["Title"]: it.fields for it in lst.items.values() if not it.deleted}


def test_the_results_list_follows_the_results_item_by_item(m365_hub):
    assert "results_list = true" in m365_hub.config_path.read_text()  # (the sandbox config keeps the list)
    first = m365_hub.sync()
    assert first.outcome == "ok"
    shown = [r for r in first.results if r.status in ("alarm", "waived", "error")]
    items = results_list(m365_hub)
    assert sorted(items) == sorted(f"{r.project or ''}|{r.rule}|{r.subject}" for r in shown)
    some = next(r for r in shown if r.status == "alarm")
    item = items[f"{some.project}|{some.rule}|{some.subject}"]
    assert (item["Rule"], item["Severity"], item["ResultStatus"], item["Reason"]) == \
        (some.rule, some.severity, "alarm", some.reason)

    # nothing changed: the list is not even read again
    m365_hub.reset_stats()
    assert m365_hub.sync().plan.ops == []
    assert not [r for r in m365_hub.stats()["routes"] if "lists/{list}/items" in r and "delta" not in r]

    # a person deletes one item and edits another; a new result appears: the next write puts the list in step,
    # touching only those items
    lst = m365_hub.graph.list_by_display("PMO Compliance")
    ids = sorted(i for i, it in lst.items.items() if not it.deleted)
    m365_hub.graph.delete_item("PMO Compliance", ids[0])
    m365_hub.graph.edit_item("PMO Compliance", ids[1], {"Reason": "edited by hand"})
    sp = m365_hub.server.seed.projects[0]
    reg = m365_hub.graph.item_by_key("PMO Register", "JiraKey", sp.key)
    m365_hub.graph.edit_item("PMO Register", reg.id, {"Phase": "Closing"}, by=sp.pm)
    m365_hub.reset_stats()
    third = m365_hub.sync()
    assert third.outcome == "ok"
    shown = [r for r in third.results if r.status in ("alarm", "waived", "error")]
    items = results_list(m365_hub)
    assert sorted(items) == sorted(f"{r.project or ''}|{r.rule}|{r.subject}" for r in shown)
    assert "edited by hand" not in [f.get("Reason") for f in items.values()]
    assert len(items) == len(set(items))
