"""Publishing: the executive summary and per-PM digests of a report run, sent through Microsoft 365.

A report run (`pmo-hub report --publish`, or a scheduled `kind = "report"` job when `[m365.publish]` asks for
anything) turns its results into messages:

- the executive summary (`hub.report.executive_summary`) by mail to `executive_mail_to` and/or to the Teams
  channel of `[m365.writeback]`;
- to each PM whose e-mail address the sources give, a digest of the open violations of the projects they
  manage (`hub.report.pm_digests`). A PM with none gets no mail, except once, to say that the violations of
  the last digest are all closed.

Each message is a write-back target of the m365 connector (record `publish:exec-mail`, `publish:exec-teams`,
`publish:pm:<address>`), so it is planned (`--dry-run` lists it), counted by the safety cap, journalled,
audited and recovered after a crash like every other write, and sent only when its text differs from the last
one sent to that recipient: publishing twice in a row sends nothing the second time.

Message text is Markdown with source text escaped (`hub.report.tabular.md`); the HTML body is rendered from it
by markdown-it with raw HTML off, so a source value can never become markup in a mail or a Teams message.
"""

from __future__ import annotations

import logging
from typing import Any

from markdown_it import MarkdownIt

from connectors.base import WriteTarget
from hub.config import Config
from hub.report import executive_summary, pm_digests
from hub.report.data import ReportData
from hub.state import State

log = logging.getLogger(__name__)
SYSTEM = "m365"
_MD = MarkdownIt("commonmark", {"html": False, "linkify": False})


def to_html(markdown: str) -> str:
    """Markdown (source text already escaped) as an HTML mail/Teams body; raw HTML in it is shown as text."""
    return _MD.render(markdown)


def _message(channel: str, to: list[str], subject: str, markdown: str) -> dict[str, Any]:
    return {"channel": channel, "to": to, "subject": subject, "markdown": markdown, "html": to_html(markdown)}


def targets(cfg: Config, data: ReportData, state: State) -> list[WriteTarget]:
    """The messages `[m365.publish]` asks for, as write-back targets of the m365 connector."""
    m365 = cfg.m365
    if m365 is None or not m365.enabled or not m365.publish.active:
        return []
    pub = m365.publish
    # message text without the run id, so that "unchanged" means the same findings, not the same run
    quiet = data.model_copy(update={"run": {**data.run, "id": None}})
    out: list[WriteTarget] = []
    summary = "\n\n".join(executive_summary(quiet).splitlines())  # one paragraph per line
    subject = "PMO compliance: executive summary"
    if pub.executive_mail_to:
        out.append(WriteTarget(SYSTEM, "publish:exec-mail", "", None, {}, (), comment=True,
                               message=_message("mail", list(pub.executive_mail_to), subject, summary)))
    if pub.executive_teams:
        out.append(WriteTarget(SYSTEM, "publish:exec-teams", "", None, {}, (), comment=True,
                               message=_message("teams", [], subject, summary)))
    if pub.pm_digests:
        sent_before = {rec for (rec, f) in state.written(SYSTEM) if f == "comment" and rec.startswith("publish:pm:")}
        open_by_pm = _open_by_pm(quiet)
        no_address = []
        for pm, text in pm_digests(quiet).items():
            address = pm.strip().lower()
            if "@" not in address:
                no_address.append(pm)
                continue
            record = f"publish:pm:{address}"
            if not open_by_pm.get(pm) and record not in sent_before:
                continue  # nothing open, and nothing was open in a digest before: no mail
            out.append(WriteTarget(SYSTEM, record, "", None, {}, (), comment=True,
                                   message=_message("mail", [address], "PMO compliance: your projects' open "
                                                    "violations", text)))
        if no_address:
            log.warning("publish: %d PM(s) have no e-mail address in any source, so no digest: %s",
                        len(no_address), ", ".join(sorted(no_address)[:10]))
    return out


def _open_by_pm(data: ReportData) -> dict[str, int]:
    by_project: dict[str, int] = {}
    for r in data.results:
        if r.status == "alarm" and r.project:
            by_project[r.project] = by_project.get(r.project, 0) + 1
    out: dict[str, int] = {}
    for p in data.projects.values():
        if p.pm:
            out[p.pm] = out.get(p.pm, 0) + by_project.get(p.key, 0)
    return out
