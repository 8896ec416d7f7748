"""A round of people's changes, made through the sandbox's real APIs (as a PM, the PMO office and the app would).

`change(sb, fraction, round_)` edits `fraction` of the records of each source (at least one each):

- Jira: every n-th work item's priority (Blocker <-> High), by PUT /rest/api/3/issue/{key} as a project manager;
- Google Sheets: "Forecast Cost" of that share of the register's rows, in one values:batchUpdate by the PMO-office
  service account (gspread);
- Microsoft Graph: "Assigned FTE" of that share of the SharePoint register's items (PATCH .../fields).

Which records come from the sandbox's state (`sample` command); the edits themselves are HTTP requests, made
with the latency switched off and before the request counters are reset for the sync that is measured.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from bench.sandbox import BenchSandbox


def change(sb: BenchSandbox, fraction: float, round_: int) -> dict[str, int]:
    picked = sb.cmd("sample", fraction=fraction, round=round_)
    return {"jira": _jira(sb, picked["jira"]), "sheets": _sheets(sb, picked["sheets"]),
            "graph": _graph(sb, picked["graph"])}


def _jira(sb: BenchSandbox, issues: list[list[Any]]) -> int:
    pm = next(u for u in sb.jira_users() if u["role"] == "pm" and u["token"])
    session = requests.Session()
    session.auth = (pm["email"], pm["token"])

    def edit(item: list[Any]) -> None:
        key, priority = item
        body = {"fields": {"priority": {"name": "High" if priority == "Blocker" else "Blocker"}}}
        r = session.put(f"{sb.url}/rest/api/3/issue/{key}", json=body, timeout=30)
        r.raise_for_status()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(edit, issues))
    session.close()
    return len(issues)


def _sheets(sb: BenchSandbox, pick: dict) -> int:
    import gspread
    from google.oauth2 import service_account

    from connectors.sheets.client import SCOPES, RebasedSession
    from connectors.sheets.values import col_letter

    with open(sb.info["office_key"], encoding="utf-8") as fh:
        info = json.load(fh)
    creds = service_account.Credentials.from_service_account_info(info, scopes=list(SCOPES))
    session = RebasedSession(creds, rewrites=[(host, sb.url) for host in (
        "https://sheets.googleapis.com", "https://www.googleapis.com", "https://iamcredentials.googleapis.com")])
    gc = gspread.Client(auth=creds, session=session)
    ws = gc.open_by_key(sb.info["register_id"]).worksheet(pick["tab"])
    data = []
    for row, value in pick["rows"]:
        new = round(float(value) * 1.25 + 1000) if isinstance(value, (int, float)) else 250000
        data.append({"range": f"{col_letter(pick['col'])}{row + 1}", "values": [[new]]})
    ws.batch_update(data, value_input_option="RAW")
    session.close()
    return len(data)


def _graph(sb: BenchSandbox, pick: dict) -> int:
    reg = sb.info["graph"]
    base = sb.info["https_url"]
    verify = sb.info["ca_file"]
    token = requests.post(f"{base}/{reg['tenant_id']}/oauth2/v2.0/token", verify=verify, timeout=30, data={
        "grant_type": "client_credentials", "client_id": reg["client_id"], "client_secret": reg["client_secret"],
        "scope": "https://graph.microsoft.com/.default"}).json()["access_token"]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    for item_id, value in pick["items"]:
        new = (float(value) if isinstance(value, (int, float)) else 1.0) + 1.5
        r = session.patch(f"{base}/v1.0/sites/{pick['site_id']}/lists/{pick['list_id']}/items/{item_id}/fields",
                          json={pick["column"]: new}, timeout=30, verify=verify)
        r.raise_for_status()
    session.close()
    return len(pick["items"])
