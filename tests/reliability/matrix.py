"""The fault matrix as data: faults (rows) x systems (columns) -> the outcome each cell must show.

`tests/reliability/test_fault_matrix.py` runs every cell against a fresh sandbox and asserts its outcome;
`python -m tests.reliability.matrix` writes the same data as the table in docs/fault-matrix.md (and a test
fails when that file is out of date), so the table cannot drift from what is tested.

A row (`FaultRow`) says what goes wrong, on which kind of endpoint (`target`), in which sync (`phase`: the
first one, a full pull and the first write-back; or the next one, after a person changed the source) and what
must happen (`Outcome`). A column (`Column`) says where each kind of endpoint is in one system's API (sandbox
route templates), how to configure the hub for that system alone, how a person changes the source, and how to
read the final state of the source (the values the hub wrote, and its comments or messages). A target a column
has no endpoint for is "n/a" in that column, with the reason. Adding a system is adding a `Column` to
`COLUMNS`; a cell that behaves differently from its row goes in `Column.overrides`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

# Small [retry] values so that waiting and giving up take seconds, not minutes.
RETRY = {"base_s": 0.01, "max_wait_s": 1.0, "max_total_s": 2.5, "max_attempts": 5}
TIMEOUT_S = 0.5  # the connectors' request timeout in the matrix: a "hung" request answers after HUNG_S
HUNG_S = 1.5
SANDBOX = {"projects": 6, "items_per_project": 10, "seed": 7}
DOC = Path(__file__).resolve().parents[2] / "docs" / "fault-matrix.md"


@dataclass(frozen=True)
class Outcome:
    """What a faulted sync must do.

    `kind`: "recovers" (the sync ends ok: the fault was retried or waited out) or "fails" (the sync ends with
    exit code 2 and a message naming the system and what happened). `stage` of a failure: "pull" (nothing of
    the failed pull is stored: the cursor and the mirror are as before) or "write" (the pull was stored; the
    failed writes are journalled as failed and done by the next run). Either way a re-run after the fault clears
    reaches the state of a run that never saw the fault.
    """

    kind: str
    stage: str = ""
    says: tuple[str, ...] = ()  # text the CLI output must contain (the system name is always required)
    waited: tuple[float, float] | None = None  # bounds of the run's retry waits (seconds)
    within_s: float | None = None  # the faulted sync ends within this many seconds
    note: str = ""

    def cell(self) -> str:
        if self.kind == "recovers":
            return "recovers" + (f" ({self.note})" if self.note else "")
        where = {"pull": "pull stopped, nothing stored", "write": "writes failed, pull stored"}[self.stage]
        return f"fails cleanly: {where}" + (f"; {self.note}" if self.note else "")


@dataclass(frozen=True)
class FaultRow:
    id: str
    title: str
    target: str  # a key of Column.endpoints
    inject: tuple[dict[str, Any], ...] = ()  # `hub.sandbox.server.Fault` fields (system, method, route filled in)
    settings: dict[str, Any] | None = None  # `SystemSettings` for the system (rate limits)
    phase: str = "next"  # "first": the first sync; "next": a sync after a person changed the source
    expect: Outcome = Outcome("recovers")


@dataclass(frozen=True)
class Column:
    name: str  # the hub's name for the system (in messages and the table)
    sandbox: str  # the sandbox system the faults and settings apply to
    endpoints: dict[str, tuple[tuple[str, str], ...]]  # target -> ((method, route template pattern), ...)
    not_applicable: dict[str, str]  # target -> why this system has no such endpoint
    configure: Callable[[Any, Path], Path]  # (server, directory) -> a config for this system alone
    person_edit: Callable[[Any], None]  # a person changes the source (so the next sync has work to do)
    final_state: Callable[[Any], dict]  # what the hub wrote into the source, for comparison
    overrides: dict[str, Outcome] = field(default_factory=dict)
    # how a row's `settings` (rate limits) are put on this system, and taken off again with None; default: the
    # sandbox server's generic rate limit (429 with Retry-After)
    throttle: Callable[[Any, dict | None], None] | None = None
    quota: str = "sandbox rate-limit settings"  # what the "quota" target is in this system (for the table)

    def hits(self, server: Any) -> int:
        """How many requests of this system the sandbox failed, throttled or refused over quota so far."""
        st = server.stats.snapshot()["systems"].get(self.sandbox, {})
        return st.get("faults", 0) + st.get("throttled", 0) + getattr(server.app(self.sandbox), "quota_refusals", 0)

    def limit(self, server: Any, settings: dict | None) -> None:
        """Put a row's rate-limit `settings` on this system (None: take them off)."""
        if self.throttle is not None:
            self.throttle(server, settings)
        elif settings:
            server.configure(self.sandbox, **settings)
        else:
            server.configure(self.sandbox, rate_limit=None, retry_after=None)


def _f(**kw: Any) -> dict[str, Any]:
    return kw


FAULTS: tuple[FaultRow, ...] = (
    FaultRow("latency", "50 ms latency on every request", "any",
             (_f(kind="latency", delay_s=0.05, times=None),), phase="first"),
    FaultRow("429-retry-after", "429 with Retry-After: 1 on a read", "read",
             (_f(status=429, retry_after="1"),),
             expect=Outcome("recovers", waited=(1.0, 2.0), note="waits the 1 s asked for")),
    FaultRow("429-retry-after-0", "429 with Retry-After: 0, twice", "read",
             (_f(status=429, retry_after="0", times=2),),
             expect=Outcome("recovers", waited=(0.0, 0.2), note="retries at once")),
    FaultRow("429-no-retry-after", "429 without Retry-After, twice", "read",
             (_f(status=429, times=2),),
             expect=Outcome("recovers", waited=(0.01, 0.5), note="exponential back-off")),
    FaultRow("429-retry-after-long", "429 with Retry-After: 3600 on every request", "any",
             (_f(status=429, retry_after="3600", times=None),),
             expect=Outcome("fails", "pull", ("HTTP 429", "gave up after", "asked to wait 3600 s", "max_wait_s"),
                            within_s=RETRY["max_total_s"] + 1.5,
                            note="waits capped by max_wait_s, gives up within max_total_s and says so")),
    FaultRow("quota-minute", "quota exhausted for a minute (1 request per 60 s)", "quota",
             settings={"rate_limit": 1, "rate_window": 60.0},
             expect=Outcome("fails", "pull", ("HTTP 429", "gave up after"), within_s=RETRY["max_total_s"] + 1.5,
                            note="gives up within max_total_s")),
    FaultRow("rate-limit", "rate limit of 4 requests per second (429 + Retry-After)", "quota",
             settings={"rate_limit": 4, "rate_window": 1.0},
             expect=Outcome("recovers", note="waits as asked")),
    FaultRow("5xx-burst", "500, 502, 503 in a row on a read", "read",
             (_f(status=500), _f(status=502), _f(status=503))),
    FaultRow("503-outage", "503 on every request", "any", (_f(status=503, times=None),),
             expect=Outcome("fails", "pull", ("HTTP 503", "gave up after"), within_s=RETRY["max_total_s"] + 1.5)),
    FaultRow("hung-request", f"a read that answers only after {HUNG_S:g} s (timeout {TIMEOUT_S:g} s)", "read",
             (_f(kind="timeout", delay_s=HUNG_S),), expect=Outcome("recovers", note="timed out, retried")),
    FaultRow("hung-server", f"every request hangs for {HUNG_S:g} s (timeout {TIMEOUT_S:g} s)", "any",
             (_f(kind="timeout", delay_s=HUNG_S, times=None),),
             expect=Outcome("fails", "pull", ("Timeout", "gave up after"), within_s=RETRY["max_total_s"] + 1.5,
                            note="request timeouts bound the sync")),
    FaultRow("reset-mid-paging", "connection reset on the 4th page of a paged read", "page",
             (_f(kind="reset", after=3),), phase="first"),
    FaultRow("truncated-page", "a page's body cut off half-way", "page", (_f(kind="truncate", after=3),),
             phase="first"),
    FaultRow("invalid-json-page", "a page answered 200 with an HTML error page", "page",
             (_f(kind="invalid_json", after=3),), phase="first"),
    FaultRow("401-expired-token", "401 on every request (expired or revoked credentials)", "auth",
             (_f(status=401, times=None),),
             expect=Outcome("fails", "pull", ("HTTP 401", "check the account and its API token"), waited=(0.0, 0.0),
                            note="not retried (beyond one fresh token); says to check the credentials")),
    FaultRow("403-read-only", "403 on every write (an account without write permission)", "writes",
             (_f(status=403, times=None),),
             expect=Outcome("fails", "write", ("HTTP 403", "least-privilege"),
                            note="points to the least-privilege section")),
    FaultRow("503-on-write", "503 on a write, once", "write", (_f(status=503),)),
    FaultRow("create-answer-cut", "a create (comment, message) lands but its answer is cut off", "create",
             (_f(kind="truncate"),), phase="first",
             expect=Outcome("recovers", note="finds what landed, posts nothing twice")),
    FaultRow("create-answer-late", f"a create lands after the client's {TIMEOUT_S:g} s timeout", "create",
             (_f(kind="latency", delay_s=1.0),), phase="first",
             expect=Outcome("fails", "write", ("not sent again",),
                            note="not sent again; the next run finds it before planning, so it is never posted "
                                 "twice")),
    FaultRow("410-stale-delta", "410 Gone for a stale delta link", "delta", (_f(status=410),),
             expect=Outcome("recovers", note="full re-read of that list")),
    FaultRow("412-stale-etag", "412 Precondition Failed for a stale ETag", "etag", (_f(status=412),),
             expect=Outcome("recovers")),
    FaultRow("batch-inner-failure", "inner 429/503 responses in a $batch", "batch-inner",
             (_f(status=429, retry_after="1", times=2), _f(status=503, times=1)),
             expect=Outcome("recovers", note="only the failed inner requests are sent again")),
)


# ---- the Jira column ----------------------------------------------------------------------------------------
def _jira_config(server: Any, tmp: Path) -> Path:
    from hub.sandbox.run import write_config

    retry = "".join(f"{k} = {v}\n" for k, v in RETRY.items())
    path = write_config(server, tmp / "config.toml", sheets=False, m365=False, extra=f"\n[retry]\n{retry}")
    # small pages so that reads are paged; a short timeout so that a hung server is noticed quickly
    text = path.read_text().replace('mapping = "jira.toml"\n',
                                    f'mapping = "jira.toml"\npage_size = 3\ntimeout_s = {TIMEOUT_S}\n', 1)
    path.write_text(text)
    return path


def _jira_person_edit(server: Any) -> None:
    """The first project's PM puts its actual cost far above budget, through the real `jira` client."""
    from jira import JIRA

    sp = server.seed.projects[0]
    client = JIRA(server=server.url, basic_auth=(sp.pm, server.app("jira").token_for(sp.pm)),
                  options={"rest_api_version": "3"}, max_retries=0)
    fid = next(f["id"] for f in client.fields() if f["name"] == "Actual Cost")
    client.issue(sp.record_key).update(fields={fid: 50_000_000})
    client.close()


def _jira_final_state(server: Any) -> dict:
    """Per project record: the hub-owned field values and the text of every comment the hub's account wrote."""
    from hub.sandbox.jira import CF_BY_ID, adf_to_text

    app = server.app("jira")
    out: dict[str, dict] = {}
    with app.lock:
        for issue in app.issues.values():
            if issue.type.name != "Project":
                continue
            fields = {CF_BY_ID[f].name: v for f, v in issue.custom.items()
                      if f in CF_BY_ID and CF_BY_ID[f].name.startswith("PMO ")}
            comments = [adf_to_text(c.body) if isinstance(c.body, dict) else c.body
                        for c in issue.comments or [] if c.author == app.bot.account_id]
            out[issue.key] = {"fields": fields, "hub_comments": comments}
    return out


JIRA = Column(
    name="jira",
    sandbox="jira",
    endpoints={
        "any": (("*", "*"),),
        "auth": (("*", "*"),),  # Basic auth with an API token on every request
        "quota": (),  # sandbox rate-limit settings, not a fault
        "read": (("GET", "/rest/api/{ver}/search/jql"),),
        "page": (("GET", "/rest/api/{ver}/search/jql"),),
        "write": (("PUT", "/rest/api/{ver}/issue/{key}"),),
        "writes": (("PUT", "/rest/api/{ver}/issue/{key}"), ("PUT", "/rest/api/{ver}/issue/{key}/comment/{id}"),
                   ("POST", "/rest/api/{ver}/issue/{key}/comment")),
        "create": (("POST", "/rest/api/{ver}/issue/{key}/comment"),),
    },
    not_applicable={
        "delta": "no delta links: the incremental cursor is a JQL date with an overlap window",
        "etag": "Jira edits carry no If-Match",
        "batch-inner": "no batch endpoint in use",
    },
    configure=_jira_config,
    person_edit=_jira_person_edit,
    final_state=_jira_final_state,
)


def _retry_section() -> str:
    return "\n[retry]\n" + "".join(f"{k} = {v}\n" for k, v in RETRY.items())


_HUB_HEAD = '[hub]\ntimezone = "Europe/London"\nname = "Fault matrix"\n\n[state]\nurl = "state.db"\n'


# ---- the Google Sheets column -------------------------------------------------------------------------------
def _sheets_config(server: Any, tmp: Path) -> Path:
    """The PMO register spreadsheet alone (no Jira to expect its projects in)."""
    from hub.sandbox.run import sheets_section

    path = tmp / "config.toml"
    section = (sheets_section(server, path).replace('expect_in = ["jira"]', "expect_in = []")
               .replace('expected_from = ["jira"]', "expected_from = []")
               .replace('mapping = "sheets.toml"\n', f'mapping = "sheets.toml"\ntimeout_s = {TIMEOUT_S}\n', 1))
    path.write_text(_HUB_HEAD + section + _retry_section(), encoding="utf-8")
    return path


def _gspread(server: Any, account: str):
    """The real gspread client signed in as a service account of the sandbox."""
    import gspread
    from google.oauth2 import service_account

    from connectors.sheets.client import SCOPES, RebasedSession

    creds = service_account.Credentials.from_service_account_info(
        server.app("sheets").key_file(account, base_url=server.url), scopes=list(SCOPES))
    session = RebasedSession(creds, rewrites=[("https://sheets.googleapis.com", server.url),
                                              ("https://www.googleapis.com", server.url),
                                              ("https://iamcredentials.googleapis.com", server.url)])
    return gspread.Client(auth=creds, session=session)


def _sheets_person_edit(server: Any) -> None:
    """The PMO office types an actual cost far above budget into the first project's register row (gspread)."""
    from hub.sandbox.sheets import OFFICE_ACCOUNT

    gc = _gspread(server, OFFICE_ACCOUNT)
    ws = gc.open_by_key(server.app("sheets").register_id).worksheet("Register")
    row = ws.find(server.seed.projects[0].key).row
    ws.update_cell(row, ws.find("Actual Cost").col, 50_000_000)
    gc.http_client.session.close()


def _sheets_final_state(server: Any) -> dict:
    """The register's governance columns per project key, the "PMO Compliance" tab's rows, and the tab titles
    (a results tab created twice would show)."""
    app = server.app("sheets")
    ss = app.register
    governance = ("PMO Compliance", "PMO Open Violations", "PMO Compliance Changed")

    def text(cell: Any) -> Any:
        return None if cell is None or cell.blank else (cell.formula or cell.value)

    with app.lock:
        reg = ss.sheet("Register")
        rows = [[text(c) for c in row] for row in reg.grid]
        head = next(i for i, row in enumerate(rows) if "Jira Key" in row)
        cols = {h: rows[head].index(h) for h in ("Jira Key", *governance)}
        register = {row[cols["Jira Key"]]: {h: (row[cols[h]] if cols[h] < len(row) else None) for h in governance}
                    for row in rows[head + 1:] if cols["Jira Key"] < len(row) and row[cols["Jira Key"]]}
        comp = ss.sheet("PMO Compliance")
        results = [[text(c) for c in row] for row in comp.grid[:comp.used_rows()]] if comp else None
        return {"tabs": [s.title for s in ss.sheets], "register": register, "results": results}


def _sheets_throttle(server: Any, settings: dict | None) -> None:
    """A limit over a minute or longer is Sheets' own per-minute quota (429 RESOURCE_EXHAUSTED without
    Retry-After, per project and per user, as Google enforces it); a shorter one is the sandbox server's generic
    rate limit (429 with Retry-After, as a proxy or Google's front end answers), since the few requests of a
    Sheets sync never reach a per-second limit of Sheets' own."""
    app = server.app("sheets")
    own = bool(settings) and settings.get("rate_window", 60.0) >= 60.0
    with app.lock:
        limit = settings["rate_limit"] if own else 60
        app.read_per_user = app.write_per_user = limit
        app.read_per_project = app.write_per_project = limit if own else 300
        app.quota_window_s = settings["rate_window"] if own else 60.0
        app._quota.reset()
    if settings and not own:
        server.configure("sheets", **settings)
    elif not settings:
        server.configure("sheets", rate_limit=None, retry_after=None)


SHEETS = Column(
    name="sheets",
    sandbox="sheets",
    endpoints={
        "any": (("*", "*"),),
        # the API calls carry the service account's access token (google-auth refreshes it once after a 401)
        "auth": (("*", "/v4/*"), ("*", "/drive/*")),
        "quota": (),
        "read": (("GET", "/v4/spreadsheets/{id}/values:batchGet"),),
        "write": (("POST", "/v4/spreadsheets/{id}/values:batchUpdate"),),
        "writes": (("POST", "/v4/spreadsheets/{id}/values:batchUpdate"), ("POST", "/v4/spreadsheets/{id}:batchUpdate")),
        "create": (("POST", "/v4/spreadsheets/{id}:batchUpdate"),),  # addSheet: the "PMO Compliance" tab
    },
    not_applicable={
        "page": "no paged reads: every tab of a spreadsheet comes in one values:batchGet",
        "delta": "no change feed: Drive's modifiedTime says whether to re-read",
        "etag": "Sheets writes carry no precondition (a changed modifiedTime makes the hub re-read the layout)",
        "batch-inner": "values:batchUpdate is atomic: it succeeds or fails as one request",
    },
    configure=_sheets_config,
    person_edit=_sheets_person_edit,
    final_state=_sheets_final_state,
    throttle=_sheets_throttle,
    quota="Sheets' own per-minute quotas (429 without Retry-After) for windows of a minute or more, else the "
          "sandbox rate-limit settings",
    overrides={
        "429-no-retry-after": Outcome("recovers", waited=(2 * RETRY["max_wait_s"], 2 * RETRY["max_wait_s"] + 0.2),
                                      note="Google sends no Retry-After and Sheets' quotas are per minute: each try "
                                           "waits for the minute, capped by max_wait_s"),
        "create-answer-late": Outcome("recovers", note="looked for before it is sent again; a tab is created by "
                                                       "its name, so a late one cannot make a second"),
        "quota-minute": Outcome("fails", "pull", ("HTTP 429", "gave up after", "per minute"),
                                within_s=RETRY["max_total_s"] + 1.5,
                                note="Sheets' own quota (no Retry-After): waits for the minute, each wait capped by "
                                     "max_wait_s, gives up within max_total_s"),
    },
)


# ---- the Microsoft Graph column -----------------------------------------------------------------------------
GRAPH_PAGE = 10  # list items per delta page, so that every list is paged
PERSON = "pmo-office@example.com"


def _graph_config(server: Any, tmp: Path) -> Path:
    """Every part of Microsoft 365 (lists, Planner, the budget workbook), Planner write-back and summaries."""
    from hub.sandbox.run import m365_section

    path = tmp / "config.toml"
    section = m365_section(server, path, pull=("register", "raid", "status_reports", "approvals", "planner",
                                                "finance"))
    section = section.replace('mapping = "m365.toml"\n',
                              f'mapping = "m365.toml"\npage_size = {GRAPH_PAGE}\ntimeout_s = {TIMEOUT_S}\n', 1)
    path.write_text(_HUB_HEAD + section + _retry_section(), encoding="utf-8")
    return path


def _graph_person_edit(server: Any) -> None:
    """A person of the PMO office signs in (device code) and cuts the first project's approved budget in the
    SharePoint register to 1,000, through Graph over HTTPS."""
    import requests
    from urllib.parse import quote

    graph = server.app("graph")
    reg = graph.registration()
    login = f"{server.https_url}/{reg['tenant_id']}/oauth2/v2.0"
    with requests.Session() as s:
        def call(method: str, url: str, **kw: Any) -> Any:
            r = s.request(method, url, verify=server.ca_file, timeout=10, **kw)
            r.raise_for_status()
            return r.json() if r.content else None

        flow = call("POST", f"{login}/devicecode", data={"client_id": reg["client_id"], "scope": "Sites.ReadWrite.All"})
        graph.dir.approve(flow["user_code"], PERSON)  # the person enters the code in the browser
        token = call("POST", f"{login}/token", data={"grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                                                     "client_id": reg["client_id"],
                                                     "device_code": flow["device_code"]})["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        site = f"{server.https_url}/v1.0/sites/{quote(reg['site_id'], safe=',')}"
        lists = call("GET", f"{site}/lists", headers=auth)["value"]
        lst = next(x for x in lists if x["displayName"] == "PMO Register")
        items = call("GET", f"{site}/lists/{lst['id']}/items", params={"$expand": "fields"}, headers=auth)["value"]
        key = server.seed.projects[0].key
        item = next(i for i in items if i["fields"].get("JiraKey") == key)
        call("PATCH", f"{site}/lists/{lst['id']}/items/{item['id']}/fields", json={"ApprovedBudget0": 1000},
             headers=auth)


def _graph_final_state(server: Any) -> dict:
    """Per project: the register item's governance columns and the Planner governance task's title; and every
    channel message and mail the hub sent."""
    graph = server.app("graph")
    governance = ("PMOCompliance", "PMOOpenViolations", "PMOComplianceChanged")
    with graph.lock:
        register = {i.fields["JiraKey"]: {f: i.fields.get(f) for f in governance}
                    for i in graph.list_by_display("PMO Register").items.values() if not i.deleted}
        planner = {sp.key: graph.governance_task(sp.key).title for sp in server.seed.projects}
        messages = [m["body"]["content"] for m in graph.messages]
        mails = [json.dumps(m, sort_keys=True, default=str) for m in _mail_content(graph.mails)]
    return {"register": register, "planner": planner, "messages": messages, "mails": mails}


def _mail_content(mails: list[dict]) -> list[dict]:
    """What a mail says and to whom (not its id or timestamps)."""
    keep = ("subject", "toRecipients", "from", "body")
    return [{k: m.get(k) for k in keep} for m in mails]


GRAPH = Column(
    name="m365",
    sandbox="graph",
    endpoints={
        "any": (("*", "*"),),
        "auth": (("*", "*"),),  # a bearer token from msal on every Graph request
        "quota": (),
        "read": (("GET", "/v1.0/sites/{site}/lists/{list}/items/delta"),),
        "page": (("GET", "/v1.0/sites/{site}/lists/{list}/items/delta"),),
        # register columns are PATCHed inside $batch; the Planner task directly, with If-Match
        "write": (("PATCH", "/v1.0/sites/{site}/lists/{list}/items/{item}/fields"),
                  ("PATCH", "/v1.0/planner/tasks/{task}")),
        "writes": (("PATCH", "/v1.0/sites/{site}/lists/{list}/items/{item}/fields"),
                   ("PATCH", "/v1.0/planner/tasks/{task}"),
                   ("POST", "/v1.0/teams/{team}/channels/{channel}/messages"),
                   ("POST", "/v1.0/users/{user}/sendMail")),
        "create": (("POST", "/v1.0/teams/{team}/channels/{channel}/messages"),
                   ("POST", "/v1.0/users/{user}/sendMail")),
        "delta": (("GET", "/v1.0/sites/{site}/lists/{list}/items/delta"),),
        "etag": (("PATCH", "/v1.0/planner/tasks/{task}"),),
        "batch-inner": (("GET", "/v1.0/planner/plans/{plan}/tasks"),
                        ("PATCH", "/v1.0/sites/{site}/lists/{list}/items/{item}/fields")),
    },
    not_applicable={},
    configure=_graph_config,
    person_edit=_graph_person_edit,
    final_state=_graph_final_state,
)

COLUMNS: dict[str, Column] = {c.name: c for c in (JIRA, SHEETS, GRAPH)}


def outcome(row: FaultRow, column: Column) -> Outcome | None:
    """The outcome a cell must show, or None when the system has no such endpoint (n/a)."""
    if row.target not in column.endpoints:
        return None
    return column.overrides.get(row.id, row.expect)


def cells() -> list[tuple[FaultRow, Column]]:
    """Every applicable (row, column), in table order."""
    return [(r, c) for r in FAULTS for c in COLUMNS.values() if outcome(r, c) is not None]


def faults_for(row: FaultRow, column: Column) -> list[dict[str, Any]]:
    """The sandbox `Fault` specs of a cell: the row's faults on each endpoint of its target in this system."""
    out = []
    for method, route in column.endpoints[row.target]:
        for spec in row.inject:
            out.append({"system": column.sandbox, "method": method, "route": route, **spec})
    return out


def _describe(row: FaultRow) -> str:
    if row.settings:
        return "sandbox settings " + ", ".join(f"{k}={v}" for k, v in row.settings.items())
    parts = []
    for spec in row.inject:
        kind = spec.get("kind", "status")
        bits = [f"status {spec.get('status', 503)}" if kind == "status" else kind]
        for k in ("retry_after", "delay_s", "times", "after"):
            if k in spec:
                bits.append(f"{k}={spec[k]}")
        parts.append(" ".join(bits))
    return "; ".join(parts)


def render() -> str:
    """docs/fault-matrix.md."""
    cols = list(COLUMNS.values())
    lines = [
        "# Fault matrix",
        "",
        "<!-- Generated by `python -m tests.reliability.matrix` from tests/reliability/matrix.py, the data that",
        "     tests/reliability/test_fault_matrix.py runs. Do not edit by hand: a test fails when this file is stale. -->",
        "",
        "Each cell is a sync against a fresh sandbox with the fault injected (`hub/sandbox/server.py`), run through",
        "`pmo-hub sync`, then a re-run after the fault cleared. Every applicable cell is a test, and every one asserts:",
        "",
        "- **recovers**: the faulted sync exits 0; **fails cleanly**: it exits 2 and its output names the system and",
        "  what went wrong (the words in *must say*), and the run history records it;",
        "- after a failed pull the cursor and the mirror in the state store are exactly as before the run (nothing",
        "  that was not processed is skipped next time); after failed writes they are journalled as failed;",
        "- the re-run reaches the same final state as a run that never saw the fault (a fresh sandbox with the same",
        "  seed): the values the hub wrote and its comments per project record, and the results of the standards;",
        "- nothing is posted twice, and one more sync writes nothing.",
        "",
        f"Settings: `[retry]` {', '.join(f'{k} = {v}' for k, v in RETRY.items())}; request timeout "
        f"{TIMEOUT_S:g} s; sandbox of {SANDBOX['projects']} projects (seed {SANDBOX['seed']}), pages of 3 Jira issues "
        f"and of {GRAPH_PAGE} SharePoint list items.",
        "*first*: the fault hits the first sync (full pull, first write-back); *next*: the sync after a person",
        "changed the source.",
        "",
        "| fault | sync | " + " | ".join(c.name for c in cols) + " |",
        "|---|---|" + "---|" * len(cols),
    ]
    for row in FAULTS:
        cells_ = []
        for c in cols:
            o = outcome(row, c)
            cells_.append(o.cell() if o else f"n/a: {c.not_applicable.get(row.target, 'no such endpoint')}")
        lines.append(f"| {row.title} | {row.phase} | " + " | ".join(cells_) + " |")
    lines += ["", "## What each row injects", ""]
    lines.append("| fault | target | injected | must say |")
    lines.append("|---|---|---|---|")
    for row in FAULTS:
        says = ", ".join(f"`{s}`" for s in row.expect.says) or "-"
        lines.append(f"| {row.title} | {row.target} | {_describe(row)} | {says} |")
    lines += ["", "## Where each target is, per system", ""]
    lines.append("| target | " + " | ".join(c.name for c in cols) + " |")
    lines.append("|---|" + "---|" * len(cols))
    targets = sorted({r.target for r in FAULTS})
    for t in targets:
        row_cells = []
        for c in cols:
            if t not in c.endpoints:
                row_cells.append("n/a")
            elif not c.endpoints[t]:
                row_cells.append(c.quota)
            else:
                row_cells.append("<br>".join(f"`{m} {r}`" for m, r in c.endpoints[t]))
        lines.append(f"| {t} | " + " | ".join(row_cells) + " |")
    lines += ["", "Adding a system is adding a `Column` to `COLUMNS` in tests/reliability/matrix.py, then "
              "`python -m tests.reliability.matrix`.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(render(), encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
