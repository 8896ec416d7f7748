"""The sandbox in a process of its own, for the benchmarks (so a sync's peak RSS is the hub's alone).

    python -m bench.sandbox_proc --projects 100 --items 80 --seed 7 --out DIR

Starts `hub.sandbox` (Jira, Google Sheets and Microsoft Graph emulators on one loopback port), writes hub
configs for it under DIR (`all/`: every source; `jira/`, `sheets/`, `m365/`: one source each, for the
concurrency figure; `fields/`: every source, governance fields only, beside the naive baseline) and a Sheets
key of the PMO-office account (the "person" who edits the register), then prints ONE JSON line:
{"url", "https_url", "ca_file", "configs", "office_key", "register_id", "graph", "counts"}.

Afterwards it reads commands from stdin, one JSON object per line, and answers each with one JSON line. They
read the emulators' state in-process (no HTTP, so nothing is counted as a request):

    {"cmd": "snapshot"}            what the hub can write: governance fields and hub comments of the Jira project
                                   records, a digest of every spreadsheet, every list item, Planner task, Teams
                                   message and mail (compared before/after a sync to count the minimum writes)
    {"cmd": "updated_since", "since": ISO}   how many Jira issues were updated at or after that time
    {"cmd": "sample", "fraction": 0.01, "round": 1}   what a round of changes edits (see `sample`)
    {"cmd": "counts"}              data sizes (Jira issues and project records, register rows, list items)

End of input (or {"cmd": "stop"}) stops the server.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from datetime import datetime
from pathlib import Path

from hub.sandbox.run import start, write_config

# The first sync writes every project's governance values: above the default safety cap by design.
BENCH_EXTRA = """
# benchmark: the first sync writes governance values to every project record
[sync]
max_writes = 10000000
max_write_share = 1.0
"""


def _digest(value) -> str:
    return hashlib.sha1(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _without_jira(path: Path) -> None:
    """Turn the generated [jira] section off (a Sheets-only or Microsoft 365-only hub)."""
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("\n[jira]\n", "\n[jira]\nenabled = false\n", 1), encoding="utf-8")


def _fields_only(path: Path) -> None:
    """Write back the governance fields only (what the naive baseline writes): no Jira summary comments, no
    results tab or SharePoint results list, no Teams or mail summaries (and nothing to publish)."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines()
             if not line.startswith(("teams_team_id", "teams_channel_id", "mail_to", "mail_from", "results_list",
                                     "[m365.publish]", "executive_mail_to", "pm_digests"))]
    text = "\n".join(lines) + "\n[jira.writeback]\ncomment = false\n\n[sheets.writeback]\nresults_tab = false\n"
    path.write_text(text, encoding="utf-8")


def write_configs(server, out: Path) -> dict[str, str]:
    configs = {
        "fields": write_config(server, out / "fields" / "config.toml", extra=BENCH_EXTRA),
        "all": write_config(server, out / "all" / "config.toml", extra=BENCH_EXTRA),
        "jira": write_config(server, out / "jira" / "config.toml", sheets=False, m365=False, extra=BENCH_EXTRA),
        "sheets": write_config(server, out / "sheets" / "config.toml", m365=False, extra=BENCH_EXTRA),
        "m365": write_config(server, out / "m365" / "config.toml", sheets=False, extra=BENCH_EXTRA),
    }
    _fields_only(configs["fields"])
    _without_jira(configs["sheets"])
    _without_jira(configs["m365"])
    return {k: str(v) for k, v in configs.items()}


def counts(server) -> dict:
    jira, sheets, graph = server.app("jira"), server.app("sheets"), server.app("graph")
    with jira.lock:
        issues = list(jira.issues.values())
        records = sum(1 for i in issues if i.type.name == "Project")
    with sheets.lock:
        reg = sheets.register
        tab = reg.sheet("Register")
        register_rows = max(0, tab.used_rows() - 1) if tab else 0
    with graph.lock:
        lists = {lst.display: sum(1 for it in lst.items.values() if not it.deleted) for lst in graph.lists.values()}
        list_ids = {lst.display: lst.id for lst in graph.lists.values()}
    return {"jira_issues": len(issues), "jira_projects": len(jira.projects), "jira_project_records": records,
            "spreadsheets": len(sheets.spreadsheets), "register_rows": register_rows, "graph_list_items": lists,
            "graph_list_ids": list_ids,
            "graph_max_page": graph.max_page}


def snapshot(server) -> dict:
    jira, sheets, graph = server.app("jira"), server.app("sheets"), server.app("graph")
    gov = [f"customfield_{n}" for n in (10120, 10121, 10122)]
    out: dict = {"jira_fields": {}, "jira_comments": {}, "sheets": {}, "graph_items": {}, "planner": {}}
    with jira.lock:
        for i in jira.issues.values():
            if i.type.name != "Project":
                continue
            out["jira_fields"][i.key] = _digest([i.custom.get(f) for f in gov])
            for c in i.comments or []:
                out["jira_comments"][f"{i.key}/{c.id}"] = _digest(c.body)
    with sheets.lock:
        for ss in sheets.spreadsheets.values():
            out["sheets"][ss.id] = _digest([s.snapshot() for s in ss.sheets])
    with graph.lock:
        for lst in graph.lists.values():
            for it in lst.items.values():
                out["graph_items"][f"{lst.id}/{it.id}"] = _digest([it.fields, it.deleted])
        for t in graph.tasks.values():
            out["planner"][t.id] = _digest([t.title, t.percent, t.categories])
        out["messages"] = len(graph.messages)
        out["mails"] = len(graph.mails)
    return out


def updated_since(server, since: str) -> int:
    jira = server.app("jira")
    when = datetime.fromisoformat(since)
    with jira.lock:
        return sum(1 for i in jira.issues.values() if i.updated >= when)


def sample(server, fraction: float, round_: int) -> dict:
    """What a 1%-change round edits: every n-th Jira work item (n = 1/fraction, offset by the round), and as many
    register rows in the spreadsheet and items of the SharePoint register list (at least one each)."""
    jira, sheets, graph = server.app("jira"), server.app("sheets"), server.app("graph")
    step = max(1, round(1 / fraction))
    out: dict = {}
    with jira.lock:
        work = [i for i in sorted(jira.issues.values(), key=lambda i: i.id) if i.type.name != "Project"]
        out["jira"] = [[i.key, i.priority] for i in work[round_ % step::step]]
    with sheets.lock:
        tab = sheets.register.sheet("Register")
        header = next(r for r in range(10) if any(c is not None and str(c.value).strip() == "Jira Key"
                                                 for c in (tab.grid[r] if r < len(tab.grid) else [])))
        names = [str(c.value).strip() if c is not None and c.value is not None else "" for c in tab.grid[header]]
        col = names.index("Forecast Cost")
        rows = [r for r in range(header + 1, tab.used_rows()) if not tab.row_blank(r)]
        n = max(1, round(len(rows) * fraction))
        pick = rows[round_ % max(1, len(rows) // n)::max(1, len(rows) // n)][:n]
        out["sheets"] = {"tab": tab.title, "col": col, "rows": [[r, (tab.cell(r, col).value if tab.cell(r, col)
                                                                      else None)] for r in pick]}
    with graph.lock:
        lst = graph.list_by_display("PMO Register")
        items = [it for it in sorted(lst.items.values(), key=lambda i: i.id) if not it.deleted]
        n = max(1, round(len(items) * fraction))
        every = max(1, len(items) // n)
        pick = items[round_ % every::every][:n]
        out["graph"] = {"site_id": graph.site_id, "list_id": lst.id, "column": "AssignedFTE",
                        "items": [[it.id, it.fields.get("AssignedFTE")] for it in pick]}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--projects", type=int, required=True)
    ap.add_argument("--items", type=int, required=True, help="work items per project")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    from hub.sandbox.sheets import OFFICE_ACCOUNT

    server = start(port=0, projects=a.projects, items_per_project=a.items, seed=a.seed)
    try:
        configs = write_configs(server, a.out)
        sheets = server.app("sheets")
        office_key = a.out / "office-key.json"
        office_key.write_text(json.dumps(sheets.key_file(OFFICE_ACCOUNT, base_url=server.url)), encoding="utf-8")
        office_key.chmod(0o600)
        ready = {"url": server.url, "https_url": server.https_url, "ca_file": server.ca_file, "configs": configs,
                 "office_key": str(office_key), "register_id": sheets.register_id,
                 "graph": server.app("graph").registration(), "counts": counts(server)}
        print(json.dumps(ready), flush=True)
        for line in sys.stdin:
            if not line.strip():
                continue
            cmd = json.loads(line)
            name = cmd.get("cmd")
            if name == "stop":
                break
            if name == "snapshot":
                answer = snapshot(server)
            elif name == "sample":
                answer = sample(server, float(cmd["fraction"]), int(cmd.get("round", 0)))
            elif name == "counts":
                answer = counts(server)
            elif name == "updated_since":
                answer = {"count": updated_since(server, cmd["since"])}
            else:
                answer = {"error": f"unknown command {name!r}; valid: counts, sample, snapshot, stop, updated_since"}
            print(json.dumps(answer), flush=True)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
