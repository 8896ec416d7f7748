"""The naive baseline: the script a PMO analyst would write with the same libraries, record by record.

    python -m bench.baseline --config DIR/all/config.toml --records 1000

It writes the same three governance fields the hub writes (compliance status, open violations, date of the
last change) to the same records, the obvious way:

- Jira (`jira` library): `enhanced_search_issues("issuetype = Project", maxResults=0)` pages through the
  project records (100 per page), then `issue.update(fields=...)` once per record (the library sends the PUT
  and then re-reads the issue: two requests per record);
- Google Sheets (`gspread`): open the register, `get_all_values()`, then `update_cell()` per cell (three per
  row, each its own values.update request);
- Microsoft Graph (`requests`, client-credentials token): page through the register list's items, then one
  PATCH .../fields per item.

The value it computes is deliberately simple (non-compliant when the record names no project manager or no
sponsor): what is compared is the I/O pattern, not the rule engine. Credentials and hosts come from the hub
config the sandbox wrote (the sandbox stands in for the Google, Atlassian and Microsoft hosts; gspread talks to
it through the same host-rewriting session the hub uses, as it would through a proxy). Prints one JSON line
with what it wrote.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip()


def jira_part(cfg, records: int, today: str) -> int:
    from jira import JIRA

    j = cfg.jira
    jira = JIRA(server=j.url, basic_auth=(j.email, _read(cfg.path(j.token_file))),
                options={"rest_api_version": "3"}, max_retries=0)
    ids = {f["name"]: f["id"] for f in jira.fields()}
    status_f, count_f, date_f = ids["PMO Compliance"], ids["PMO Open Violations"], ids["PMO Compliance Changed"]
    pm_f, sponsor_f = ids["Project Manager"], ids["Sponsor"]
    issues = jira.enhanced_search_issues('issuetype = "Project" ORDER BY key ASC', maxResults=0,
                                         fields=["summary", pm_f, sponsor_f])
    n = 0
    for issue in issues[:records]:
        missing = sum(1 for f in (pm_f, sponsor_f) if getattr(issue.fields, f, None) is None)
        issue.update(fields={status_f: {"value": "Non-compliant" if missing else "Compliant"},
                             count_f: float(missing), date_f: today}, notify=False)
        n += 1
    jira.close()
    return n


def sheets_part(cfg, records: int, today: str) -> int:
    import gspread
    from google.oauth2 import service_account

    from connectors.sheets.client import SCOPES, RebasedSession

    sh_cfg = cfg.sheets
    creds = service_account.Credentials.from_service_account_file(str(cfg.path(sh_cfg.credentials_file)),
                                                                  scopes=list(SCOPES))
    session = RebasedSession(creds, rewrites=[("https://sheets.googleapis.com", sh_cfg.api_url),
                                              ("https://www.googleapis.com", sh_cfg.drive_url),
                                              ("https://iamcredentials.googleapis.com", sh_cfg.iam_url)])
    gc = gspread.Client(auth=creds, session=session)
    ws = gc.open_by_key(sh_cfg.spreadsheets[0].id).worksheet("Register")
    rows = ws.get_all_values()
    header = next(i for i, row in enumerate(rows) if "Jira Key" in row)
    head = rows[header]
    status_c, count_c, date_c = (head.index(h) + 1 for h in ("PMO Compliance", "PMO Open Violations",
                                                             "PMO Compliance Changed"))
    pm_c, sponsor_c, key_c = head.index("Project Manager"), head.index("Sponsor"), head.index("Jira Key")
    n = 0
    for i, row in enumerate(rows[header + 1:], start=header + 2):
        if n >= records:
            break
        if not row[key_c].strip():
            continue
        missing = sum(1 for c in (pm_c, sponsor_c) if not row[c].strip())
        ws.update_cell(i, status_c, "Non-compliant" if missing else "Compliant")
        ws.update_cell(i, count_c, missing)
        ws.update_cell(i, date_c, today)
        n += 1
    session.close()
    return n


def graph_part(cfg, records: int, today: str) -> int:
    import requests

    m = cfg.m365
    verify = str(cfg.path(m.ca_file)) if m.ca_file else True
    token = requests.post(f"https://{m.login_host}/{m.tenant_id}/oauth2/v2.0/token", verify=verify, timeout=60, data={
        "grant_type": "client_credentials", "client_id": m.client_id,
        "client_secret": _read(cfg.path(m.client_secret_file)), "scope": "https://graph.microsoft.com/.default",
    }).json()["access_token"]
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {token}"
    s.verify = verify  # (per request too: REQUESTS_CA_BUNDLE in the environment would win over s.verify)
    g = m.graph_url.rstrip("/") + "/v1.0"
    site = s.get(f"{g}/sites/{m.site}", timeout=60, verify=verify).json()["id"]
    lists = s.get(f"{g}/sites/{site}/lists", timeout=60, verify=verify).json()["value"]
    lst = next(x for x in lists if x["displayName"] == "PMO Register")["id"]
    cols = {c["displayName"]: c["name"]
            for c in s.get(f"{g}/sites/{site}/lists/{lst}/columns", timeout=60, verify=verify).json()["value"]}
    items: list[dict] = []
    url: str | None = f"{g}/sites/{site}/lists/{lst}/items?$expand=fields"
    while url:
        page = s.get(url, timeout=60, verify=verify).json()
        items.extend(page["value"])
        url = page.get("@odata.nextLink")
    n = 0
    for item in items[:records]:
        f = item.get("fields") or {}
        missing = sum(1 for c in ("Project Manager", "Sponsor") if not f.get(cols[c] + "LookupId"))
        r = s.patch(f"{g}/sites/{site}/lists/{lst}/items/{item['id']}/fields", timeout=60, verify=verify, json={
            cols["PMO Compliance"]: "Non-compliant" if missing else "Compliant",
            cols["PMO Open Violations"]: missing, cols["PMO Compliance Changed"]: f"{today}T00:00:00Z"})
        r.raise_for_status()
        n += 1
    s.close()
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, required=True, help="the hub config the sandbox wrote (all sources)")
    ap.add_argument("--records", type=int, default=1000, help="records to write per system")
    a = ap.parse_args(argv)
    from hub import config as config_mod

    cfg = config_mod.load(a.config)
    today = date.today().isoformat()
    written = {"jira": jira_part(cfg, a.records, today), "sheets": sheets_part(cfg, a.records, today),
               "graph": graph_part(cfg, a.records, today)}
    print(json.dumps({"written": written}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
