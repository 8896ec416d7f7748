"""The fewest HTTP requests the APIs allow for what a sync did, per system, and how requests are classified.

Reads and writes are counted separately and authentication is left out of both (Google's token endpoint and
google-auth's access-boundary lookup, msal's discovery and token requests: they depend on token lifetimes, not
on the data). What each minimum includes, stated once here and in BENCHMARKS.md:

Jira (search/jql pages hold at most 100 issues when fields are asked for):
    reads  = fixed + max(1, ceil(issues the pull must return / 100))
             fixed: serverInfo (the jira library's connect; Cloud is detected from it), plus myself (the profile
             time zone JQL dates are read in, the hub's account id) and field (display name -> id) on a first pull;
             the issues a pull must return: every issue on a full pull, on an incremental pull those updated
             since the cursor minus the overlap window (JQL dates are minute-precise and search is eventually
             consistent, so a connector that skips the overlap loses changes, see api-notes.md)
    writes = one bulk edit per distinct set of governance values written (POST /bulk/issues/fields sets the same
             values into up to 1000 issues; learning its outcome takes at least one more GET, counted against the
             hub, not here) + one request per summary comment created or edited (no API writes several comments)
Google Sheets (per spreadsheet):
    reads  = 1 Drive files.get (modifiedTime: the only change signal, needed on every sync) + 1 read when the
             spreadsheet changed since the hub last read it, its own writes included (spreadsheets.get with
             grid data returns the tabs and every value in one request)
    writes = 1 per spreadsheet whose content changed (spreadsheets:batchUpdate can add a tab and write cells in
             one request)
Microsoft Graph ($batch takes up to 20 independent requests, reads too):
    reads  = incremental: one $batch with each list's delta link and the workbook range, plus each further
             delta page (items returned / largest page); full: the site, then one $batch listing its lists
             and the hidden User Information List, then one $batch with each list's columns (display name ->
             internal name), each list's first delta page and the workbook range, plus each further page
    writes = ceil(list items and Planner tasks changed / 20) ($batch) + one request per Teams message and mail
             sent (as sent: a summary is split only where Teams' message size demands)
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

JIRA_PAGE = 100
BULK_MAX = 1000  # issues per Jira bulk edit
GRAPH_BATCH = 20

# route templates (as the sandbox counts them) that are writes / authentication
_JIRA_WRITES = {"PUT /rest/api/{ver}/issue/{key}", "POST /rest/api/{ver}/issue/{key}/comment",
                "PUT /rest/api/{ver}/issue/{key}/comment/{id}", "POST /rest/api/{ver}/bulk/issues/fields"}
_SHEETS_AUTH = ("POST /oauth2/", "GET /v1/projects/")
_GRAPH_WRITE_PREFIXES = ("POST /v1.0/$batch", "PATCH ", "POST /v1.0/teams/", "POST /v1.0/users/", "PUT ", "DELETE ")


def classify(stats: dict[str, dict]) -> dict[str, dict[str, int]]:
    """Per system ("jira", "sheets", "graph"): HTTP requests by kind: auth, reads, writes, total (reads and
    writes), all (authentication too), throttled (429s from the sandbox's rate limit), batched (requests inside
    Graph's $batch, not HTTP requests of their own)."""
    out: dict[str, dict[str, int]] = {}
    for system in ("jira", "sheets", "graph"):
        s = stats.get(system) or {}
        auth = reads = writes = 0
        for route, n in (s.get("routes") or {}).items():
            if system == "jira":
                writes += n if route in _JIRA_WRITES else 0
                reads += 0 if route in _JIRA_WRITES else n
            elif system == "sheets":
                if route.startswith(_SHEETS_AUTH):
                    auth += n
                elif route.startswith("GET "):
                    reads += n
                else:
                    writes += n
            else:
                if route.startswith(_GRAPH_WRITE_PREFIXES):
                    writes += n
                else:
                    reads += n
        if system == "graph":
            auth += (stats.get("login") or {}).get("total", 0)
            # a $batch is a read when it carries reads: the hub never mixes reads and writes in one, and sends
            # at most 20 requests in each, so ceil(inner GETs / 20) of the $batch requests are reads
            inner_gets = sum(n for route, n in (s.get("batched") or {}).items() if route.startswith("GET "))
            read_batches = min(math.ceil(inner_gets / GRAPH_BATCH), (s.get("routes") or {}).get("POST /v1.0/$batch", 0))
            writes -= read_batches
            reads += read_batches
        out[system] = {"auth": auth, "reads": reads, "writes": writes, "total": reads + writes,
                       "all": auth + reads + writes,
                       "throttled": s.get("throttled", 0) + (stats.get("login", {}).get("throttled", 0)
                                                            if system == "graph" else 0),
                       "batched": s.get("batched_total", 0)}
    return out


def changed(before: dict, after: dict, key: str) -> tuple[int, int]:
    """(entries that are new, entries whose digest changed) between two snapshots' `key` maps."""
    b, a = before.get(key) or {}, after.get(key) or {}
    return sum(1 for k in a if k not in b), sum(1 for k in a if k in b and a[k] != b[k])


def minimum(*, before: dict, after: dict, prev_before: dict | None, counts: dict, jira_window: int,
            first: dict[str, bool], full: bool, graph_delta_items: dict[str, int] | None = None,
            systems: tuple[str, ...] = ("jira", "sheets", "graph")) -> dict[str, dict[str, Any]]:
    """The minimum reads and writes per system for one sync.

    before/after: the sandbox snapshots around the sync; prev_before: the snapshot before the previous sync of
    the same hub (None on its first); counts: data sizes; jira_window: issues the Jira pull must return;
    first: per system, whether the hub had no cursor yet (its first pull); full: a full pull was asked for;
    graph_delta_items: per list, the items a delta read must return (None: every item, a full enumeration).
    """
    out: dict[str, dict[str, Any]] = {}
    if "jira" in systems:
        fixed = 3 if first.get("jira") else 1
        new_c, edited_c = changed(before, after, "jira_comments")
        b, a = before.get("jira_fields") or {}, after.get("jira_fields") or {}
        moved = [k for k in a if k in b and a[k] != b[k]]
        sets = Counter(a[k] for k in moved)  # records given the same values share a bulk edit
        value_sets = len(sets)
        bulk_edits = sum(math.ceil(n / BULK_MAX) for n in sets.values())
        out["jira"] = {"reads": fixed + max(1, math.ceil(jira_window / JIRA_PAGE)),
                       "writes": bulk_edits + new_c + edited_c,
                       "detail": {"issues_to_read": jira_window, "fixed_reads": fixed, "records_changed": len(moved),
                                  "value_sets": value_sets, "comments_created": new_c, "comments_edited": edited_c}}
    if "sheets" in systems:
        ids = list((after.get("sheets") or {}).keys())
        reread = [i for i in ids if first.get("sheets") or prev_before is None
                  or (prev_before.get("sheets") or {}).get(i) != (before.get("sheets") or {}).get(i)]
        wrote = [i for i in ids if (before.get("sheets") or {}).get(i) != (after.get("sheets") or {}).get(i)]
        out["sheets"] = {"reads": len(ids) + len(reread), "writes": len(wrote),
                         "detail": {"spreadsheets": len(ids), "to_reread": len(reread), "changed": len(wrote)}}
    if "graph" in systems:
        page = counts.get("graph_max_page") or 1000
        items = counts["graph_list_items"]
        lists = {"PMO Register": items.get("PMO Register", 0), "User Information List":
                 items.get("User Information List", 0)}
        if graph_delta_items is not None:
            lists = {k: graph_delta_items.get(k, 0) for k in lists}
        further = sum(max(1, math.ceil(n / page)) - 1 for n in lists.values())
        batched = math.ceil((len(lists) + 1) / GRAPH_BATCH)  # first delta pages and the range
        discovery = 2 if (full or first.get("graph")) else 0  # the site; its lists (+ columns in the batch)
        reads = batched + further
        new_i, edited_i = changed(before, after, "graph_items")
        new_t, edited_t = changed(before, after, "planner")
        msgs = (after.get("messages", 0) - before.get("messages", 0)) + (after.get("mails", 0) - before.get("mails", 0))
        out["graph"] = {"reads": reads + discovery,
                        "writes": math.ceil((new_i + edited_i + new_t + edited_t) / GRAPH_BATCH) + msgs,
                        "detail": {"items_to_read": lists, "discovery_reads": discovery,
                                   "items_written": new_i + edited_i, "tasks_written": new_t + edited_t,
                                   "messages_sent": msgs}}
    for v in out.values():
        v["total"] = v["reads"] + v["writes"]
    return out


def ratio(measured: int, minimum: int) -> float | None:
    if minimum == 0:
        return None if measured else 1.0
    return measured / minimum
