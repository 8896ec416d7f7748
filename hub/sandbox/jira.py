"""An emulator of the Jira Cloud platform REST API (v3, and v2 with the same handlers) for the sandbox.

`JiraApp.from_seed(portfolio)` loads a `hub.sandbox.seed.SeedPortfolio` as one Jira project per PMO project
(project key = PMO key). In each project:

- `KEY-1`, issue type "Project": the project record, holding the PMO custom fields named in
  mappings/jira.toml [project] and the hub-owned [governance] fields (empty until the hub writes them);
  its workflow status is the project state (Active, On Hold, Closed, Cancelled);
- issue types "Gate", "Status Report", "Risk", "Milestone", "Change Request", children of the record
  (`parent`); RAID issues and actions are "Risk" issues labelled `raid-issue` / `raid-action`, linked
  ("Relates") to the work item they are about; status report actions and gate conditions are ADF task lists
  (a mention of the owner and a date node) in the description;
- work items (Story, Task, Bug) are children of the record; Sub-tasks are children of a Story or Task.

The state lives for the life of the process. The real `jira` client (pycontribs 3.10.5) works unmodified:
serverInfo, myself, field, project, project/search, search/jql (GET and POST), search/approximate-count,
issue GET/PUT, changelog, comments, user, issuetype, status, priority, statuscategory, and bulk edit (GET/POST
bulk/issues/fields, GET bulk/queue/{taskId}; select, number and date picker fields; the task completes before
the POST answers). `/rest/api/{2,3}/search` answers 410 as on Cloud. Bodies are Atlassian Document Format in v3 and plain text in v2; datetimes are
rendered in the authenticated user's profile time zone (like Jira), which for the hub's bot is
Australia/Sydney, never UTC. See `hub.sandbox.jql` for the query language served.

Authentication is HTTP Basic (e-mail + API token) on everything but an anonymous serverInfo. The hub's bot
(`BOT_EMAIL`) and every PM have a deterministic token: `app.token_for(email)`, or GET /_sandbox/jira/users.
The bot is a site admin (it may pass notifyUsers=false); PMs are not (Jira answers 403).

Simplified against real Jira: no create/delete/transition of issues (status is read-only, as without a
transition); one global workflow, screen per issue type, no permissions beyond "every known user sees
everything"; JQL is a subset (see jql.py); without ORDER BY results come in issue id order; the changelog
records edits made through the API plus the seeded "Project Phase" history; `renderedFields`, `editmeta`,
`operations` and `transitions` expansions are ignored; nextPageToken is a signed offset into the current
result (an edit between pages can shift results, as it can on Jira); rate-limit headers are computed by the
sandbox server's window, and RateLimit-Reason is sent whenever no request is left in the window (also on
the last admitted one) because the server does not tell the app which response is the 429.
Optional search-index lag (`search_lag_ms`, default 0): an edit reaches search/jql only after the lag,
unless the issue id is in `reconcileIssues`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import time as _time
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Any, Callable
from zoneinfo import ZoneInfo

from hub.sandbox import jql
from hub.sandbox.seed import DEPARTMENTS, PHASES, SeedPortfolio, SeedProject
from hub.sandbox.server import App, HTTPError, Request, Response

UTC = timezone.utc
BOT_EMAIL = "pmo-hub@example.com"
BOT_NAME = "PMO Hub"
BOT_TIME_ZONE = "Australia/Sydney"
API_VERSIONS = {"2": "2", "3": "3", "latest": "2"}
SEARCH_MAX_RESULTS_FIELDS = 100  # page cap when fields beyond id/key are asked for
SEARCH_MAX_RESULTS_IDS = 5000
RECONCILE_MAX = 50
ISSUE_EXPAND = "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"


# ---- the site's configuration -----------------------------------------------------------------------------
@dataclass(frozen=True)
class CustomField:
    """A custom field of the emulated site. `type`: select, user, date, number, textarea, rank, sprint."""

    num: int
    name: str
    type: str
    options: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"customfield_{self.num}"


_RAG = ("Green", "Amber", "Red")
CUSTOM_FIELDS: tuple[CustomField, ...] = (
    # standard Jira Software fields a real site has
    CustomField(10015, "Start date", "date"),
    CustomField(10016, "Story point estimate", "number"),
    CustomField(10019, "Rank", "rank"),
    CustomField(10020, "Sprint", "sprint"),
    # the PMO project record
    CustomField(10101, "Project Phase", "select", PHASES),
    CustomField(10102, "Department", "select", DEPARTMENTS),
    CustomField(10103, "Project Manager", "user"),
    CustomField(10104, "Sponsor", "user"),
    CustomField(10105, "Initiation Status", "select", ("Draft", "Submitted", "Approved", "Rejected")),
    CustomField(10106, "Initiation Submitted", "date"),
    CustomField(10107, "Initiation Decided", "date"),
    CustomField(10108, "Approved Budget", "number"),
    CustomField(10109, "Actual Cost", "number"),
    CustomField(10110, "Forecast Cost", "number"),
    CustomField(10111, "Approved FTE", "number"),
    CustomField(10112, "Assigned FTE", "number"),
    CustomField(10113, "Planned Start", "date"),
    CustomField(10114, "Planned Finish", "date"),
    CustomField(10115, "Forecast Finish", "date"),
    CustomField(10116, "Baseline Start", "date"),
    CustomField(10117, "Baseline Finish", "date"),
    CustomField(10118, "Baseline Cost", "number"),
    # hub-owned governance fields (the only fields pmo-hub writes)
    CustomField(10120, "PMO Compliance", "select", ("Compliant", "At risk", "Non-compliant", "Not assessed")),
    CustomField(10121, "PMO Open Violations", "number"),
    CustomField(10122, "PMO Compliance Changed", "date"),
    # risks
    CustomField(10130, "Risk Probability", "number"),
    CustomField(10131, "Risk Impact", "number"),
    CustomField(10132, "Risk Owner", "user"),
    CustomField(10133, "Risk Response", "textarea"),
    CustomField(10134, "Escalated to PMO", "select", ("Yes", "No")),
    CustomField(10135, "Escalation Date", "date"),
    CustomField(10136, "Last Reviewed", "date"),
    # gates and change requests
    CustomField(10140, "Gate", "select", ("G0", "G1", "G2")),
    CustomField(10141, "Gate Decision", "select", ("Approved", "Conditional", "Rejected", "Recycle", "Pending")),
    CustomField(10142, "Gate Approver", "user"),
    CustomField(10143, "Gate Decision Date", "date"),
    # status reports
    CustomField(10150, "Report Date", "date"),
    CustomField(10151, "Overall RAG", "select", _RAG),
    CustomField(10152, "Schedule RAG", "select", _RAG),
    CustomField(10153, "Cost RAG", "select", _RAG),
    CustomField(10154, "Scope RAG", "select", _RAG),
    CustomField(10160, "Change Amount", "number"),
)
CF = {f.name: f for f in CUSTOM_FIELDS}
CF_BY_ID = {f.id: f for f in CUSTOM_FIELDS}

_CUSTOM_TYPE = {  # type -> (schema type, custom type key, clause-name suffix)
    "select": ("option", "com.atlassian.jira.plugin.system.customfieldtypes:select", "Dropdown"),
    "user": ("user", "com.atlassian.jira.plugin.system.customfieldtypes:userpicker", "User Picker (single user)"),
    "date": ("date", "com.atlassian.jira.plugin.system.customfieldtypes:datepicker", "Date"),
    "number": ("number", "com.atlassian.jira.plugin.system.customfieldtypes:float", "Number"),
    "textarea": ("string", "com.atlassian.jira.plugin.system.customfieldtypes:textarea", "Paragraph"),
    "rank": ("any", "com.pyxis.greenhopper.jira:gh-lexo-rank", None),
    "sprint": ("array", "com.pyxis.greenhopper.jira:gh-sprint", None),
}


def _option_table() -> dict[str, list[tuple[str, str]]]:
    """field id -> [(option id, value)], ids stable and unique across the site."""
    out, next_id = {}, 10200
    for f in CUSTOM_FIELDS:
        if f.type == "select":
            out[f.id] = [(str(next_id + k), v) for k, v in enumerate(f.options)]
            next_id += 10 * ((len(f.options) // 10) + 1)
    return out


OPTIONS = _option_table()


@dataclass(frozen=True)
class IssueType:
    id: str
    name: str
    description: str
    hierarchy: int
    avatar: int

    @property
    def subtask(self) -> bool:
        return self.hierarchy < 0


ISSUE_TYPES = (
    IssueType("10001", "Story", "Functionality or a feature expressed as a user goal.", 0, 10315),
    IssueType("10002", "Task", "A small, distinct piece of work.", 0, 10318),
    IssueType("10003", "Bug", "A problem or error.", 0, 10303),
    IssueType("10004", "Sub-task", "A small piece of work that's part of a larger task.", -1, 10316),
    IssueType("10010", "Project", "A PMO project record: profile, budget and governance of one project.", 1, 10307),
    IssueType("10011", "Gate", "A tollgate review and its decision.", 0, 10320),
    IssueType("10012", "Status Report", "A periodic project status report to the PMO.", 0, 10321),
    IssueType("10013", "Risk", "An entry of the RAID log: risk, issue or action.", 0, 10322),
    IssueType("10014", "Milestone", "A key project milestone.", 0, 10323),
    IssueType("10015", "Change Request", "A request for budget, people, infrastructure or a scope change.", 0, 10324),
)
TYPE_BY_NAME = {t.name: t for t in ISSUE_TYPES}

# status name -> (id, category key)
STATUSES: dict[str, tuple[str, str]] = {
    "To Do": ("10000", "new"), "In Progress": ("3", "indeterminate"), "In Review": ("10001", "indeterminate"),
    "Done": ("10002", "done"), "Active": ("10010", "indeterminate"), "On Hold": ("10011", "indeterminate"),
    "Closed": ("6", "done"), "Cancelled": ("10013", "done"), "Open": ("1", "new"),
    "Mitigating": ("10020", "indeterminate"), "Scheduled": ("10030", "new"), "Decided": ("10031", "done"),
    "Published": ("10040", "done"), "Pending Approval": ("10050", "indeterminate"), "Approved": ("10051", "done"),
    "Rejected": ("10052", "done"), "Withdrawn": ("10053", "done"),
}
STATUS_BY_ID = {sid: name for name, (sid, _) in STATUSES.items()}
STATUS_CATEGORIES = {  # key -> (id, name, colour)
    "new": (2, "To Do", "blue-gray"), "indeterminate": (4, "In Progress", "yellow"), "done": (3, "Done", "green"),
}
PRIORITIES = {  # name -> (id, rank: lower is more urgent)
    "Blocker": ("10000", 0), "Highest": ("1", 1), "High": ("2", 2), "Medium": ("3", 3), "Low": ("4", 4),
    "Lowest": ("5", 5),
}
PRIORITY_BY_ID = {pid: name for name, (pid, _) in PRIORITIES.items()}
RESOLUTIONS = {"Done": ("10000", "Work has been completed on this issue."),
               "Won't Do": ("10001", "This issue won't be actioned.")}

_PROJECT_FIELDS = ("Project Phase", "Department", "Project Manager", "Sponsor", "Initiation Status",
                   "Initiation Submitted", "Initiation Decided", "Approved Budget", "Actual Cost", "Forecast Cost",
                   "Approved FTE", "Assigned FTE", "Planned Start", "Planned Finish", "Forecast Finish",
                   "Baseline Start", "Baseline Finish", "Baseline Cost")
GOVERNANCE_FIELDS = ("PMO Compliance", "PMO Open Violations", "PMO Compliance Changed")
_WORK_FIELDS = ("Story point estimate", "Start date")
SCREENS: dict[str, tuple[str, ...]] = {  # issue type -> custom fields on its edit screen
    "Project": _PROJECT_FIELDS + GOVERNANCE_FIELDS,
    "Gate": ("Gate", "Gate Decision", "Gate Approver", "Gate Decision Date"),
    "Status Report": ("Report Date", "Overall RAG", "Schedule RAG", "Cost RAG", "Scope RAG"),
    "Risk": ("Risk Probability", "Risk Impact", "Risk Owner", "Risk Response", "Escalated to PMO",
             "Escalation Date", "Last Reviewed"),
    "Milestone": ("Forecast Finish",),
    "Change Request": ("Change Amount", "Gate Approver", "Gate Decision Date"),
    "Story": _WORK_FIELDS, "Task": _WORK_FIELDS, "Bug": _WORK_FIELDS, "Sub-task": _WORK_FIELDS,
}
EDITABLE_SYSTEM = ("summary", "description", "labels", "duedate", "priority", "assignee")

# (id, name, clauseNames, schema or None, navigable, orderable, searchable)
SYSTEM_FIELDS: tuple[tuple[str, str, tuple[str, ...], dict | None, bool, bool, bool], ...] = (
    ("summary", "Summary", ("summary",), {"type": "string", "system": "summary"}, True, True, True),
    ("description", "Description", ("description",), {"type": "string", "system": "description"}, True, True, True),
    ("issuetype", "Issue Type", ("issuetype", "type"), {"type": "issuetype", "system": "issuetype"}, True, True, True),
    ("project", "Project", ("project",), {"type": "project", "system": "project"}, True, False, True),
    ("status", "Status", ("status",), {"type": "status", "system": "status"}, True, False, True),
    ("priority", "Priority", ("priority",), {"type": "priority", "system": "priority"}, True, True, True),
    ("assignee", "Assignee", ("assignee",), {"type": "user", "system": "assignee"}, True, True, True),
    ("reporter", "Reporter", ("reporter",), {"type": "user", "system": "reporter"}, True, True, True),
    ("creator", "Creator", ("creator",), {"type": "user", "system": "creator"}, True, False, True),
    ("created", "Created", ("created", "createdDate"), {"type": "datetime", "system": "created"}, True, False, True),
    ("updated", "Updated", ("updated", "updatedDate"), {"type": "datetime", "system": "updated"}, True, False, True),
    ("duedate", "Due date", ("due", "duedate"), {"type": "date", "system": "duedate"}, True, True, True),
    ("resolution", "Resolution", ("resolution",), {"type": "resolution", "system": "resolution"}, True, True, True),
    ("resolutiondate", "Resolved", ("resolutiondate", "resolved"),
     {"type": "datetime", "system": "resolutiondate"}, True, False, True),
    ("labels", "Labels", ("labels",), {"type": "array", "items": "string", "system": "labels"}, True, True, True),
    ("parent", "Parent", ("parent",), None, True, False, True),
    ("issuelinks", "Linked Issues", ("issueLink",),
     {"type": "array", "items": "issuelinks", "system": "issuelinks"}, True, True, True),
    ("subtasks", "Sub-tasks", ("subtasks",), {"type": "array", "items": "issuelinks", "system": "subtasks"},
     True, False, True),
    ("comment", "Comment", ("comment",), {"type": "comments-page", "system": "comment"}, False, True, True),
    ("components", "Components", ("component",), {"type": "array", "items": "component", "system": "components"},
     True, True, True),
    ("fixVersions", "Fix versions", ("fixVersion",), {"type": "array", "items": "version", "system": "fixVersions"},
     True, True, True),
    ("versions", "Affects versions", ("affectedVersion",),
     {"type": "array", "items": "version", "system": "versions"}, True, True, True),
    ("attachment", "Attachment", ("attachments",),
     {"type": "array", "items": "attachment", "system": "attachment"}, True, False, True),
    ("watches", "Watchers", ("watchers",), {"type": "watches", "system": "watches"}, True, False, True),
    ("votes", "Votes", ("votes",), {"type": "votes", "system": "votes"}, True, False, True),
    ("timetracking", "Time tracking", (), {"type": "timetracking", "system": "timetracking"}, False, True, False),
    ("statuscategorychangedate", "Status Category Changed", ("statusCategoryChangedDate",),
     {"type": "datetime", "system": "statuscategorychangedate"}, True, False, True),
    ("lastViewed", "Last Viewed", ("lastViewed",), {"type": "datetime", "system": "lastViewed"}, True, False, True),
    ("environment", "Environment", ("environment",), {"type": "string", "system": "environment"}, True, False, True),
    ("issuekey", "Key", ("id", "issue", "issuekey", "key"), None, True, False, True),
    ("statusCategory", "Status Category", ("statusCategory",),
     {"type": "statusCategory", "system": "statusCategory"}, False, False, True),
)
SYSTEM_FIELD = {f[0]: f for f in SYSTEM_FIELDS}
_NOT_RENDERED = {"issuekey", "statusCategory"}  # listed by GET field, never in an issue's `fields`
_NAVIGABLE = [f[0] for f in SYSTEM_FIELDS if f[4] and f[0] not in _NOT_RENDERED]
_ALL_SYSTEM = [f[0] for f in SYSTEM_FIELDS if f[0] not in _NOT_RENDERED]


# ---- values and formatting --------------------------------------------------------------------------------
@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def format_datetime(dt: datetime, tz: ZoneInfo) -> str:
    """Jira's datetime format, in the given zone: 2026-11-20T10:15:30.123+1100."""
    local = dt.astimezone(tz)
    return f"{local:%Y-%m-%dT%H:%M:%S}.{local.microsecond // 1000:03d}{local:%z}"


def _now() -> datetime:
    n = datetime.now(UTC)
    return n.replace(microsecond=n.microsecond // 1000 * 1000)


def _number_text(v: float | int) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


def text_to_adf(text: str) -> dict:
    """Plain text as an ADF document: one paragraph per line."""
    content = [{"type": "paragraph", "content": [{"type": "text", "text": line}]} for line in text.split("\n") if line]
    return {"type": "doc", "version": 1, "content": content}


def adf_to_text(node: Any) -> str:
    """The readable text of an ADF document (v2 bodies and text search): blocks on their own lines,
    task items as "[ ] ..." / "[x] ...", mentions as their text, dates as yyyy-MM-dd."""
    out: list[str] = []

    def walk(n: Any) -> None:
        if isinstance(n, list):
            for x in n:
                walk(x)
            return
        if not isinstance(n, dict):
            return
        kind = n.get("type")
        attrs = n.get("attrs") or {}
        if kind == "text":
            out.append(n.get("text", ""))
        elif kind == "mention":
            out.append(str(attrs.get("text", "")))
        elif kind == "date":
            try:
                out.append(datetime.fromtimestamp(int(attrs.get("timestamp", 0)) / 1000, UTC).date().isoformat())
            except (TypeError, ValueError):
                out.append(str(attrs.get("timestamp", "")))
        elif kind == "hardBreak":
            out.append("\n")
        elif kind == "taskItem":
            out.append("[x] " if attrs.get("state") == "DONE" else "[ ] ")
            walk(n.get("content"))
            out.append("\n")
        elif kind in ("paragraph", "heading", "codeBlock", "blockquote", "rule"):
            walk(n.get("content"))
            out.append("\n")
        elif kind == "listItem":
            out.append("- ")
            walk(n.get("content"))
        else:
            walk(n.get("content"))

    walk(node)
    return "".join(out).strip("\n")


def _is_adf(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == "doc" and isinstance(value.get("content"), list)


def _adf_paragraph(text: str) -> dict:
    return {"type": "paragraph", "content": [{"type": "text", "text": text}]} if text else {"type": "paragraph"}


def _adf_date(d: date) -> dict:
    ms = int(datetime.combine(d, time(), tzinfo=UTC).timestamp() * 1000)
    return {"type": "date", "attrs": {"timestamp": str(ms)}}


# ---- users, projects, issues ------------------------------------------------------------------------------
@dataclass
class JiraUser:
    account_id: str
    email: str
    name: str
    time_zone: str
    token: str | None = None  # API token; None = cannot log in
    admin: bool = False
    locale: str = "en_US"
    role: str = "member"


@dataclass
class _Project:
    id: str
    key: str
    name: str
    description: str
    lead: str  # account id
    category: str  # department name
    record: "_Issue | None" = None
    next_num: int = 1


@dataclass(slots=True, eq=False)
class _History:
    id: int
    author: str  # account id
    created: datetime
    items: list[dict]


@dataclass(slots=True, eq=False)
class _Comment:
    id: int
    author: str
    body: Any  # str (plain) or ADF dict
    created: datetime
    updated: datetime
    update_author: str


@dataclass(slots=True, eq=False)
class _Issue:
    id: int
    num: int
    key: str
    project: _Project
    type: IssueType
    status: str
    summary: str
    created: datetime
    updated: datetime
    priority: str | None = None
    description: Any = None  # str or ADF dict
    labels: list[str] = field(default_factory=list)
    assignee: str | None = None
    reporter: str | None = None
    duedate: date | None = None
    resolution: str | None = None
    resolutiondate: datetime | None = None
    status_changed: datetime | None = None
    parent: "_Issue | None" = None
    custom: dict[str, Any] = field(default_factory=dict)
    histories: list[_History] | None = None
    comments: list[_Comment] | None = None
    links: list[tuple[int, str, "_Issue"]] | None = None  # (link id, "outward"/"inward", other)
    subtasks: list["_Issue"] | None = None


@dataclass
class _Render:
    """What shapes a response: base URL, API version and the requesting user's zone."""

    base: str
    ver: str
    tz: ZoneInfo

    def api(self, path: str) -> str:
        return f"{self.base}/rest/api/{self.ver}/{path}"


class _FieldSelection:
    def __init__(self, raw: list[str] | None, default: str):
        names = [n.strip() for part in (raw or [default]) for n in str(part).split(",") if n.strip()]
        self.ids_only = names == ["id"]
        self.excluded = {n[1:] for n in names if n.startswith("-")}
        chosen = [n for n in names if not n.startswith("-")]
        if "*all" in chosen:
            self.base = list(_ALL_SYSTEM) + [f.id for f in CUSTOM_FIELDS]
        elif "*navigable" in chosen or (not chosen and self.excluded):
            self.base = list(_NAVIGABLE) + [f.id for f in CUSTOM_FIELDS]
        else:
            self.base = []
        extra = [n for n in chosen if not n.startswith("*") and n not in ("id", "key")]
        self.fields = [f for f in dict.fromkeys(self.base + extra) if f not in self.excluded]
        self.only_keys = all(n in ("id", "key") for n in chosen) and not self.base


# ---- the app ----------------------------------------------------------------------------------------------
class JiraApp(App):
    system = "jira"
    prefixes = ("/rest/",)

    def __init__(self, *, bot_email: str = BOT_EMAIL, bot_time_zone: str = BOT_TIME_ZONE, secret: str = "sandbox"):
        super().__init__()
        self.search_lag_ms = 0
        self._secret = hashlib.sha256(f"pmo-hub-jira-tokens:{secret}".encode()).digest()
        self._users: dict[str, JiraUser] = {}  # by account id
        self._by_email: dict[str, JiraUser] = {}
        self.projects: dict[str, _Project] = {}  # by key
        self._projects_by_id: dict[str, _Project] = {}
        self.issues: dict[int, _Issue] = {}  # by id, in creation order
        self._by_key: dict[str, _Issue] = {}
        self._next_issue_id = 10000
        self._next_history_id = 10000
        self._next_comment_id = 10000
        self._next_link_id = 10000
        self._version = 0  # bumped on every write: invalidates search caches
        self._search_cache: dict[tuple, list[int]] = {}
        self._stale: dict[int, tuple[_Issue, float]] = {}  # issue id -> (indexed snapshot, visible at monotonic)
        self.notifications: list[dict] = []
        self._bulk_tasks: dict[str, dict] = {}  # task id -> BulkOperationProgress
        self._jql_fields = self._build_jql_fields()
        self.bot = self.add_user(bot_email, BOT_NAME, bot_time_zone, role="bot", admin=True, can_login=True)
        self._register_routes()

    # ---- users ----
    def add_user(self, email: str, name: str, time_zone: str, *, role: str = "member", admin: bool = False,
                 can_login: bool = False) -> JiraUser:
        key = email.lower()
        if key in self._by_email:
            return self._by_email[key]
        account_id = "712020:" + hashlib.sha1(f"jira-account:{key}".encode()).hexdigest()[:24]
        token = None
        if can_login:
            token = "ATATT3x" + hashlib.sha256(self._secret + key.encode()).hexdigest()[:40].upper()
        locale = {"Australia": "en_AU", "Europe": "en_GB", "Pacific": "en_NZ"}.get(time_zone.split("/")[0], "en_US")
        user = JiraUser(account_id, email, name, time_zone, token, admin, locale, role)
        self._users[account_id] = user
        self._by_email[key] = user
        return user

    @property
    def users(self) -> list[JiraUser]:
        return list(self._users.values())

    def user(self, email: str) -> JiraUser:
        return self._by_email[email.lower()]

    def token_for(self, email: str) -> str:
        user = self._by_email.get(email.lower())
        if user is None or user.token is None:
            raise KeyError(f"no API token for {email!r}; users with tokens: "
                           f"{sorted(u.email for u in self._users.values() if u.token)}")
        return user.token

    def account_id(self, email: str | None) -> str | None:
        if not email:
            return None
        return self._by_email[email.lower()].account_id

    # ---- building ----
    @classmethod
    def from_seed(cls, portfolio: SeedPortfolio, **kw: Any) -> "JiraApp":
        app = cls(**kw)
        _SeedLoader(app, portfolio).load()
        return app

    def add_project(self, key: str, name: str, description: str, lead: str, category: str) -> _Project:
        pid = str(10000 + len(self.projects))
        proj = _Project(pid, key, name, description, lead, category)
        self.projects[key] = proj
        self._projects_by_id[pid] = proj
        return proj

    def add_issue(self, project: _Project, type_name: str, summary: str, status: str, created: datetime,
                  updated: datetime, **fields: Any) -> _Issue:
        num = project.next_num
        project.next_num += 1
        issue = _Issue(self._next_issue_id, num, f"{project.key}-{num}", project, TYPE_BY_NAME[type_name], status,
                       summary, created, updated, **fields)
        if issue.status_changed is None:
            issue.status_changed = issue.resolutiondate or (created if STATUSES[status][1] == "new" else updated)
        self._next_issue_id += 1
        self.issues[issue.id] = issue
        self._by_key[issue.key] = issue
        if issue.parent is not None and issue.type.subtask:
            if issue.parent.subtasks is None:
                issue.parent.subtasks = []
            issue.parent.subtasks.append(issue)
        return issue

    def add_history(self, issue: _Issue, author: str, created: datetime, items: list[dict]) -> _History:
        h = _History(self._next_history_id, author, created, items)
        self._next_history_id += 1
        if issue.histories is None:
            issue.histories = []
        issue.histories.append(h)
        return h

    def link(self, outward_from: _Issue, to: _Issue) -> None:
        lid = self._next_link_id
        self._next_link_id += 1
        for issue, direction, other in ((outward_from, "outward", to), (to, "inward", outward_from)):
            if issue.links is None:
                issue.links = []
            issue.links.append((lid, direction, other))

    # ---- App hooks ----
    def error_body(self, status: int, message: str) -> Any:
        return {"errorMessages": [message], "errors": {}}

    def authenticate(self, req: Request) -> None:
        req.user = None  # type: ignore[attr-defined]
        header = req.headers.get("Authorization")
        if not header:
            if req.path.endswith("/serverInfo"):
                return  # anonymous access allowed
            raise HTTPError(401, "Client must be authenticated to access this resource.",
                            headers={"WWW-Authenticate": 'Basic realm="protected-area"'})
        scheme, _, credentials = header.partition(" ")
        user = None
        if scheme.lower() == "basic":
            try:
                email, _, token = base64.b64decode(credentials.strip(), validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                email, token = "", ""
            candidate = self._by_email.get(email.lower())
            if candidate and candidate.token and hmac.compare_digest(candidate.token.encode(), token.encode()):
                user = candidate
        if user is None:
            raise HTTPError(401, "Client must be authenticated to access this resource.",
                            headers={"X-Seraph-LoginReason": "AUTHENTICATED_FAILED"})
        req.user = user  # type: ignore[attr-defined]

    def rate_limit_headers(self, limit: int, remaining: int, reset_at: float) -> dict[str, str]:
        reset = datetime.now(UTC) + timedelta(seconds=max(0.0, reset_at))
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": reset.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        if remaining < 0.2 * limit:
            headers["X-RateLimit-NearLimit"] = "true"
        if remaining <= 0:
            headers["RateLimit-Reason"] = "jira-burst-based"
        return headers

    def control(self, req: Request) -> Response | None:
        """/_sandbox/jira/users (GET), /_sandbox/jira/settings (GET, POST), /_sandbox/jira/notifications (GET)."""
        path, method = req.path, req.method
        if not path.startswith("/_sandbox/jira/"):
            return None
        with self.lock:
            if path == "/_sandbox/jira/users" and method == "GET":
                return Response(200, {"users": [
                    {"email": u.email, "accountId": u.account_id, "displayName": u.name, "timeZone": u.time_zone,
                     "role": u.role, "admin": u.admin, "token": u.token} for u in self._users.values()
                ]})
            if path == "/_sandbox/jira/settings" and method == "GET":
                return Response(200, {"search_lag_ms": self.search_lag_ms})
            if path == "/_sandbox/jira/settings" and method == "POST":
                body = req.json() or {}
                unknown = sorted(set(body) - {"search_lag_ms"}) if isinstance(body, dict) else ["<not an object>"]
                if unknown:
                    return Response(400, {"error": f"unknown setting(s) {unknown}; valid: ['search_lag_ms']"})
                if "search_lag_ms" in body:
                    self.search_lag_ms = max(0, int(body["search_lag_ms"]))
                return Response(204)
            if path == "/_sandbox/jira/notifications" and method == "GET":
                return Response(200, {"notifications": list(self.notifications)})
        return None

    # ---- routes ----
    def _register_routes(self) -> None:
        r = self.route
        r("GET", "/rest/api/{ver}/serverInfo", self.h_server_info)
        r("GET", "/rest/api/{ver}/myself", self.h_myself)
        r("GET", "/rest/api/{ver}/user", self.h_user)
        r("GET", "/rest/api/{ver}/user/search", self.h_user_search)
        r("GET", "/rest/api/{ver}/field", self.h_fields)
        r("GET", "/rest/api/{ver}/issuetype", self.h_issue_types)
        r("GET", "/rest/api/{ver}/status", self.h_statuses)
        r("GET", "/rest/api/{ver}/statuscategory", self.h_status_categories)
        r("GET", "/rest/api/{ver}/priority", self.h_priorities)
        r("GET", "/rest/api/{ver}/project", self.h_projects)
        r("GET", "/rest/api/{ver}/project/search", self.h_project_search)
        r("GET", "/rest/api/{ver}/project/{key}", self.h_project)
        r("GET", "/rest/api/{ver}/search", self.h_search_removed)
        r("POST", "/rest/api/{ver}/search", self.h_search_removed)
        r("GET", "/rest/api/{ver}/search/jql", self.h_search_get)
        r("POST", "/rest/api/{ver}/search/jql", self.h_search_post)
        r("POST", "/rest/api/{ver}/search/approximate-count", self.h_approximate_count)
        r("GET", "/rest/api/{ver}/issue/{key}", self.h_issue)
        r("PUT", "/rest/api/{ver}/issue/{key}", self.h_edit_issue, write=True)
        r("GET", "/rest/api/{ver}/issue/{key}/changelog", self.h_changelog)
        r("GET", "/rest/api/{ver}/issue/{key}/comment", self.h_comments)
        r("POST", "/rest/api/{ver}/issue/{key}/comment", self.h_add_comment, write=True)
        r("GET", "/rest/api/{ver}/issue/{key}/comment/{id}", self.h_comment)
        r("PUT", "/rest/api/{ver}/issue/{key}/comment/{id}", self.h_edit_comment, write=True)
        r("GET", "/rest/api/{ver}/bulk/issues/fields", self.h_bulk_fields)
        r("POST", "/rest/api/{ver}/bulk/issues/fields", self.h_bulk_edit, write=True)
        r("GET", "/rest/api/{ver}/bulk/queue/{task}", self.h_bulk_task)

    # ---- request helpers ----
    def _ctx(self, req: Request) -> _Render:
        ver = API_VERSIONS.get(req.params.get("ver", ""))
        if ver is None:
            raise HTTPError(404, f"API version {req.params.get('ver')!r} does not exist; valid: 2, 3, latest")
        user: JiraUser | None = getattr(req, "user", None)
        return _Render(req.base_url, ver, _zone(user.time_zone if user else "UTC"))

    @staticmethod
    def _int_arg(req: Request, name: str, default: int) -> int:
        raw = req.arg(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise HTTPError(400, f"The '{name}' parameter must be a number, not '{raw}'.") from None

    @staticmethod
    def _multi_arg(req: Request, name: str) -> list[str]:
        return [p.strip() for v in req.query.get(name, []) for p in v.split(",") if p.strip()]

    def _issue_or_404(self, ref: str) -> _Issue:
        issue = self.issues.get(int(ref)) if ref.isdigit() else self._by_key.get(ref.upper())
        if issue is None:
            raise HTTPError(404, "Issue does not exist or you do not have permission to see it.")
        return issue

    def _project_or_404(self, ref: str) -> _Project:
        proj = self._projects_by_id.get(ref) if ref.isdigit() else self.projects.get(ref.upper())
        if proj is None:
            raise HTTPError(404, f"No project could be found with key '{ref}'.")
        return proj

    # ---- rendering: shared objects ----
    def render_user(self, account_id: str | None, c: _Render, *, full: bool = False) -> dict | None:
        if account_id is None:
            return None
        u = self._users[account_id]
        initials = "".join(w[0] for w in u.name.split()[:2]).upper()
        avatar = f"https://avatar-management--avatars.us-west-2.prod.public.atl-paas.net/initials/{initials}-3.png"
        out = {
            "self": c.api(f"user?accountId={u.account_id}"),
            "accountId": u.account_id,
            "emailAddress": u.email,
            "avatarUrls": {s: avatar for s in ("48x48", "24x24", "16x16", "32x32")},
            "displayName": u.name,
            "active": True,
            "timeZone": u.time_zone,
            "accountType": "atlassian",
        }
        if full:
            out["locale"] = u.locale
            out["expand"] = "groups,applicationRoles"
            groups = ["jira-software-users"] + (["site-admins"] if u.admin else [])
            out["groups"] = {"size": len(groups), "items": []}
            out["applicationRoles"] = {"size": 1, "items": []}
        return out

    def _status_json(self, name: str, c: _Render) -> dict:
        sid, cat = STATUSES[name]
        cid, cname, colour = STATUS_CATEGORIES[cat]
        return {
            "self": c.api(f"status/{sid}"), "description": "", "iconUrl": f"{c.base}/", "name": name, "id": sid,
            "statusCategory": {"self": c.api(f"statuscategory/{cid}"), "id": cid, "key": cat, "colorName": colour,
                               "name": cname},
        }

    def _type_json(self, t: IssueType, c: _Render) -> dict:
        return {
            "self": c.api(f"issuetype/{t.id}"), "id": t.id, "description": t.description,
            "iconUrl": f"{c.base}/rest/api/2/universal_avatar/view/type/issuetype/avatar/{t.avatar}?size=medium",
            "name": t.name, "subtask": t.subtask, "avatarId": t.avatar, "hierarchyLevel": t.hierarchy,
        }

    def _priority_json(self, name: str, c: _Render) -> dict:
        pid = PRIORITIES[name][0]
        return {"self": c.api(f"priority/{pid}"), "iconUrl": f"{c.base}/images/icons/priorities/{name.lower()}.svg",
                "name": name, "id": pid}

    def _resolution_json(self, name: str, c: _Render) -> dict:
        rid, desc = RESOLUTIONS[name]
        return {"self": c.api(f"resolution/{rid}"), "id": rid, "description": desc, "name": name}

    def _project_ref(self, p: _Project, c: _Render) -> dict:
        avatar = f"{c.base}/rest/api/{c.ver}/universal_avatar/view/type/project/avatar/10400"
        cat_id = str(10000 + DEPARTMENTS.index(p.category)) if p.category in DEPARTMENTS else "10099"
        return {
            "self": c.api(f"project/{p.id}"), "id": p.id, "key": p.key, "name": p.name, "projectTypeKey": "software",
            "simplified": False,
            "avatarUrls": {"48x48": avatar, "24x24": avatar + "?size=small", "16x16": avatar + "?size=xsmall",
                           "32x32": avatar + "?size=medium"},
            "projectCategory": {"self": c.api(f"projectCategory/{cat_id}"), "id": cat_id,
                                "description": f"{p.category} department portfolio", "name": p.category},
        }

    def _project_json(self, p: _Project, c: _Render, expand: set[str], *, full: bool) -> dict:
        out = {"expand": "description,lead,issueTypes,url,projectKeys,permissions,insight", **self._project_ref(p, c)}
        out["style"] = "classic"
        out["isPrivate"] = False
        out["properties"] = {}
        if full or "description" in expand:
            out["description"] = p.description
        if full or "lead" in expand:
            out["lead"] = self.render_user(p.lead, c)
        if full or "issuetypes" in expand:
            out["issueTypes"] = [self._type_json(t, c) for t in ISSUE_TYPES]
        if full:
            out.update(components=[], versions=[], assigneeType="UNASSIGNED", roles={})
        if "insight" in expand:
            issues = [i for i in self.issues.values() if i.project is p]
            last = max((i.updated for i in issues), default=None)
            out["insight"] = {"totalIssueCount": len(issues)}
            if last:
                out["insight"]["lastIssueUpdateTime"] = format_datetime(last, c.tz)
        return out

    # ---- rendering: issues ----
    def _custom_json(self, f: CustomField, value: Any, issue: _Issue, c: _Render) -> Any:
        if f.type == "rank":
            return f"0|i{issue.id:05x}:"
        if value is None:
            return None
        if f.type == "select":
            return {"self": c.api(f"customFieldOption/{value}"), "value": _option_value(f.id, value), "id": value}
        if f.type == "user":
            return self.render_user(value, c)
        if f.type == "date":
            return value.isoformat()
        if f.type == "textarea":
            return self._body(value, c)
        return value

    def _body(self, value: Any, c: _Render) -> Any:
        """A rich-text value in the version's shape: ADF for v3, plain text for v2."""
        if value is None:
            return None
        if c.ver == "3":
            return value if isinstance(value, dict) else text_to_adf(value)
        return adf_to_text(value) if isinstance(value, dict) else value

    def _issue_ref(self, i: _Issue, c: _Render) -> dict:
        return {
            "id": str(i.id), "key": i.key, "self": c.api(f"issue/{i.id}"),
            "fields": {
                "summary": i.summary, "status": self._status_json(i.status, c),
                "priority": self._priority_json(i.priority, c) if i.priority else None,
                "issuetype": self._type_json(i.type, c),
            },
        }

    def _system_json(self, fid: str, i: _Issue, c: _Render) -> tuple[bool, Any]:
        """(present, value) of one system field."""
        dt = lambda v: format_datetime(v, c.tz) if v else None  # noqa: E731
        if fid == "summary":
            return True, i.summary
        if fid == "description":
            return True, self._body(i.description, c)
        if fid == "issuetype":
            return True, self._type_json(i.type, c)
        if fid == "project":
            return True, self._project_ref(i.project, c)
        if fid == "status":
            return True, self._status_json(i.status, c)
        if fid == "priority":
            return True, self._priority_json(i.priority, c) if i.priority else None
        if fid in ("assignee", "reporter", "creator"):
            return True, self.render_user(i.assignee if fid == "assignee" else i.reporter, c)
        if fid == "created":
            return True, dt(i.created)
        if fid == "updated":
            return True, dt(i.updated)
        if fid == "statuscategorychangedate":
            return True, dt(i.status_changed)
        if fid == "duedate":
            return True, i.duedate.isoformat() if i.duedate else None
        if fid == "resolution":
            return True, self._resolution_json(i.resolution, c) if i.resolution else None
        if fid == "resolutiondate":
            return True, dt(i.resolutiondate)
        if fid == "labels":
            return True, list(i.labels)
        if fid == "parent":
            return (i.parent is not None), self._issue_ref(i.parent, c) if i.parent else None
        if fid == "issuelinks":
            return True, [self._link_json(lid, d, other, c) for lid, d, other in (i.links or ())]
        if fid == "subtasks":
            return True, [self._issue_ref(s, c) for s in (i.subtasks or ())]
        if fid == "comment":
            comments = [self._comment_json(i, cm, c) for cm in (i.comments or ())]
            return True, {"comments": comments, "self": c.api(f"issue/{i.id}/comment"), "maxResults": len(comments),
                          "total": len(comments), "startAt": 0}
        if fid in ("components", "fixVersions", "versions", "attachment"):
            return True, []
        if fid == "watches":
            return True, {"self": c.api(f"issue/{i.key}/watchers"), "watchCount": 1, "isWatching": False}
        if fid == "votes":
            return True, {"self": c.api(f"issue/{i.key}/votes"), "votes": 0, "hasVoted": False}
        if fid == "timetracking":
            return True, {}
        if fid in ("lastViewed", "environment"):
            return True, None
        return False, None

    def _link_json(self, lid: int, direction: str, other: _Issue, c: _Render) -> dict:
        return {
            "id": str(lid), "self": c.api(f"issueLink/{lid}"),
            "type": {"id": "10003", "name": "Relates", "inward": "relates to", "outward": "relates to",
                     "self": c.api("issueLinkType/10003")},
            f"{direction}Issue": self._issue_ref(other, c),
        }

    def render_issue(self, i: _Issue, c: _Render, sel: _FieldSelection, expand: set[str]) -> dict:
        if sel.ids_only:
            return {"id": str(i.id)}
        out: dict[str, Any] = {"expand": ISSUE_EXPAND, "id": str(i.id), "self": c.api(f"issue/{i.id}"), "key": i.key}
        fields: dict[str, Any] = {}
        for fid in sel.fields:
            cf = CF_BY_ID.get(fid)
            if cf is not None:
                fields[fid] = self._custom_json(cf, i.custom.get(fid), i, c)
                continue
            present, value = self._system_json(fid, i, c)
            if present:
                fields[fid] = value
        out["fields"] = fields
        if "changelog" in expand:
            histories = [self._history_json(h, c) for h in reversed(i.histories or [])][:100]
            out["changelog"] = {"startAt": 0, "maxResults": len(histories), "total": len(i.histories or []),
                                "histories": histories}
        if "names" in expand:
            out["names"] = {fid: _field_name(fid) for fid in fields}
        if "schema" in expand:
            out["schema"] = {fid: s for fid in fields if (s := _field_schema(fid)) is not None}
        return out

    def _history_json(self, h: _History, c: _Render) -> dict:
        return {"id": str(h.id), "author": self.render_user(h.author, c), "created": format_datetime(h.created, c.tz),
                "items": [dict(item) for item in h.items]}

    def _comment_json(self, issue: _Issue, cm: _Comment, c: _Render) -> dict:
        return {
            "self": c.api(f"issue/{issue.id}/comment/{cm.id}"), "id": str(cm.id),
            "author": self.render_user(cm.author, c), "body": self._body(cm.body, c),
            "updateAuthor": self.render_user(cm.update_author, c), "created": format_datetime(cm.created, c.tz),
            "updated": format_datetime(cm.updated, c.tz), "jsdPublic": True,
        }

    # ---- handlers: instance, users, metadata ----
    def h_server_info(self, req: Request) -> dict:
        c = self._ctx(req)
        return {
            "baseUrl": req.base_url, "displayUrl": req.base_url, "version": "1001.0.0-SNAPSHOT",
            "versionNumbers": [1001, 0, 0], "deploymentType": "Cloud", "buildNumber": 100296,
            "buildDate": "2026-11-02T00:00:00.000+0000", "serverTime": format_datetime(_now(), c.tz),
            "scmInfo": "e5d6a2a8b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5", "serverTitle": "PMO Hub Sandbox Jira",
            "serverTimeZone": "UTC",
        }

    def h_myself(self, req: Request) -> dict:
        c = self._ctx(req)
        return self.render_user(req.user.account_id, c, full=True)  # type: ignore[attr-defined]

    def h_user(self, req: Request) -> dict:
        c = self._ctx(req)
        account_id = req.arg("accountId")
        if not account_id:
            raise HTTPError(400, "The 'accountId' query parameter needs to be provided.")
        if account_id not in self._users:
            raise HTTPError(404, "Specified user does not exist or you do not have required permissions")
        return self.render_user(account_id, c, full=True)

    def h_user_search(self, req: Request) -> list:
        c = self._ctx(req)
        query = (req.arg("query") or "").lower()
        if not query:
            raise HTTPError(400, "One of 'query' or 'accountId' query parameters needs to be provided.")
        found = [u for u in self._users.values() if query in u.email.lower() or query in u.name.lower()]
        start, limit = self._int_arg(req, "startAt", 0), self._int_arg(req, "maxResults", 50)
        return [self.render_user(u.account_id, c) for u in found[start:start + limit]]

    def h_fields(self, req: Request) -> list:
        self._ctx(req)
        out = []
        for fid, name, clauses, schema, navigable, orderable, searchable in SYSTEM_FIELDS:
            entry = {"id": fid, "key": fid, "name": name, "custom": False, "orderable": orderable,
                     "navigable": navigable, "searchable": searchable, "clauseNames": list(clauses)}
            if schema is not None:
                entry["schema"] = dict(schema)
            out.append(entry)
        for f in CUSTOM_FIELDS:
            entry = {"id": f.id, "key": f.id, "name": f.name, "custom": True, "orderable": True, "navigable": True,
                     "searchable": f.type not in ("rank",), "clauseNames": _custom_clause_names(f),
                     "schema": _field_schema(f.id)}
            out.append(entry)
        return out

    def h_issue_types(self, req: Request) -> list:
        c = self._ctx(req)
        return [self._type_json(t, c) for t in ISSUE_TYPES]

    def h_statuses(self, req: Request) -> list:
        c = self._ctx(req)
        return [self._status_json(name, c) for name in STATUSES]

    def h_status_categories(self, req: Request) -> list:
        c = self._ctx(req)
        return [{"self": c.api(f"statuscategory/{cid}"), "id": cid, "key": key, "colorName": colour, "name": name}
                for key, (cid, name, colour) in STATUS_CATEGORIES.items()]

    def h_priorities(self, req: Request) -> list:
        c = self._ctx(req)
        return [self._priority_json(name, c) for name in PRIORITIES]

    # ---- handlers: projects ----
    def h_projects(self, req: Request) -> list:
        c = self._ctx(req)
        expand = {e.lower() for e in self._multi_arg(req, "expand")}
        return [self._project_json(p, c, expand, full=False) for p in self.projects.values()]

    def h_project(self, req: Request) -> dict:
        c = self._ctx(req)
        expand = {e.lower() for e in self._multi_arg(req, "expand")}
        return self._project_json(self._project_or_404(req.params["key"]), c, expand, full=True)

    def h_project_search(self, req: Request) -> dict:
        c = self._ctx(req)
        start, limit = self._int_arg(req, "startAt", 0), self._int_arg(req, "maxResults", 50)
        if start < 0 or limit < 0:
            raise HTTPError(400, "startAt and maxResults must not be negative.")
        limit = min(limit, 100)
        expand = {e.lower() for e in self._multi_arg(req, "expand")}
        projects = list(self.projects.values())
        keys = {k.upper() for k in self._multi_arg(req, "keys")}
        ids = set(self._multi_arg(req, "id"))
        if keys:
            projects = [p for p in projects if p.key in keys]
        if ids:
            projects = [p for p in projects if p.id in ids]
        query = (req.arg("query") or "").lower()
        if query:
            projects = [p for p in projects if query in p.key.lower() or query in p.name.lower()]
        order = req.arg("orderBy") or "key"
        desc = order.startswith("-")
        attr = order.lstrip("+-")
        sort_key = {"key": lambda p: p.key, "name": lambda p: p.name.lower(), "id": lambda p: int(p.id)}.get(attr)
        if sort_key is None:
            raise HTTPError(400, f"Invalid orderBy value '{order}'; valid: key, name, id (optionally prefixed + or -).")
        projects.sort(key=sort_key, reverse=desc)
        page = projects[start:start + limit]
        is_last = start + len(page) >= len(projects)
        out = {"self": c.api(f"project/search?startAt={start}&maxResults={limit}"), "maxResults": limit,
               "startAt": start, "total": len(projects), "isLast": is_last,
               "values": [self._project_json(p, c, expand, full=False) for p in page]}
        if not is_last:
            out["nextPage"] = c.api(f"project/search?startAt={start + limit}&maxResults={limit}")
        return out

    # ---- handlers: search ----
    def h_search_removed(self, req: Request) -> Response:
        self._ctx(req)
        return Response(410, {
            "errorMessages": ["The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
                              "A full migration guideline is available at "
                              "https://developer.atlassian.com/changelog/#CHANGE-2046"],
            "errors": {},
        })

    def h_search_get(self, req: Request) -> dict:
        reconcile = []
        for raw in self._multi_arg(req, "reconcileIssues"):
            if not raw.lstrip("-").isdigit():
                raise HTTPError(400, f"reconcileIssues must be issue ids (numbers), not '{raw}'.")
            reconcile.append(int(raw))
        return self._search(req, jql_text=req.arg("jql") or "", token=req.arg("nextPageToken"),
                            max_results=self._int_arg(req, "maxResults", 50),
                            fields=req.query.get("fields"), expand=",".join(req.query.get("expand", [])),
                            reconcile=reconcile)

    def h_search_post(self, req: Request) -> dict:
        body = req.json()
        if not isinstance(body, dict):
            raise HTTPError(400, "The request body must be a JSON object.")
        known = {"jql", "nextPageToken", "maxResults", "fields", "expand", "properties", "fieldsByKeys",
                 "reconcileIssues", "failFast"}
        unknown = sorted(set(body) - known)
        if unknown:
            raise HTTPError(400, f'Unrecognized field "{unknown[0]}"')
        fields = body.get("fields")
        if isinstance(fields, str):
            fields = [fields]
        elif fields is not None and not (isinstance(fields, list) and all(isinstance(f, str) for f in fields)):
            raise HTTPError(400, "'fields' must be a list of field ids.")
        expand = body.get("expand") or ""
        if isinstance(expand, list):
            expand = ",".join(str(e) for e in expand)
        reconcile = body.get("reconcileIssues") or []
        if not (isinstance(reconcile, list) and all(isinstance(x, int) for x in reconcile)):
            raise HTTPError(400, "'reconcileIssues' must be a list of issue ids (numbers).")
        max_results = body.get("maxResults", 50)
        if max_results is None:
            max_results = 50
        if not isinstance(max_results, int):
            raise HTTPError(400, "'maxResults' must be a number.")
        return self._search(req, jql_text=body.get("jql") or "", token=body.get("nextPageToken"),
                            max_results=max_results, fields=fields, expand=expand, reconcile=reconcile)

    def h_approximate_count(self, req: Request) -> dict:
        body = req.json()
        if not isinstance(body, dict) or not isinstance(body.get("jql", ""), str):
            raise HTTPError(400, "The request body must be a JSON object with a 'jql' string.")
        compiled, key, user = self._compile(req, body.get("jql") or "")
        return {"count": len(self._matching(compiled, key, set()))}

    def _compile(self, req: Request, text: str) -> tuple[jql.Compiled, tuple, JiraUser]:
        user: JiraUser = req.user  # type: ignore[attr-defined]
        ctx = jql.Context(tz=_zone(user.time_zone), now=_now(), current_user=user.account_id)
        try:
            compiled = jql.compile_query(jql.parse(text), self._jql_field, ctx)
        except jql.JQLError as e:
            raise HTTPError(400, str(e)) from None
        if not compiled.bounded:
            raise HTTPError(400, "Unbounded JQL queries are not allowed here. Please add a search restriction to "
                                 "your query.")
        return compiled, (text, user.time_zone, user.account_id), user

    def _search(self, req: Request, *, jql_text: str, token: str | None, max_results: int, fields: list[str] | None,
                expand: str, reconcile: list[int]) -> dict:
        c = self._ctx(req)
        if len(reconcile) > RECONCILE_MAX:
            raise HTTPError(400, f"The maximum number of issues to reconcile is {RECONCILE_MAX}.")
        if max_results < 0:
            raise HTTPError(400, "The 'maxResults' parameter must not be negative.")
        compiled, key, _ = self._compile(req, jql_text)
        sel = _FieldSelection(fields, "id")
        cap = SEARCH_MAX_RESULTS_IDS if sel.only_keys else SEARCH_MAX_RESULTS_FIELDS
        limit = max(1, min(max_results or 50, cap))
        offset = self._read_token(token, jql_text) if token else 0
        expand_set = {e.strip().lower() for e in expand.split(",") if e.strip()}
        reconcile_set = set(reconcile)
        ids = self._matching(compiled, key, reconcile_set)
        page = ids[offset:offset + limit]
        issues = [self.render_issue(self._view(self.issues[i], reconcile_set), c, sel, expand_set) for i in page]
        out: dict[str, Any] = {"issues": issues}
        if offset + limit < len(ids):
            out["nextPageToken"] = self._make_token(offset + limit, jql_text)
            out["isLast"] = False
        else:
            out["isLast"] = True
        if "names" in expand_set and not sel.ids_only:
            out["names"] = {fid: _field_name(fid) for fid in sel.fields if _field_name(fid)}
        if "schema" in expand_set and not sel.ids_only:
            out["schema"] = {fid: s for fid in sel.fields if (s := _field_schema(fid)) is not None}
        return out

    def _view(self, issue: _Issue, reconcile: set[int]) -> _Issue:
        """The issue as the search index sees it: an older snapshot while an edit is still being indexed."""
        stale = self._stale.get(issue.id)
        if stale is None or issue.id in reconcile:
            return issue
        if _time.monotonic() >= stale[1]:
            del self._stale[issue.id]
            return issue
        return stale[0]

    def _matching(self, compiled: jql.Compiled, key: tuple, reconcile: set[int]) -> list[int]:
        self._stale = {k: v for k, v in self._stale.items() if _time.monotonic() < v[1]}
        cacheable = not compiled.time_relative and not self._stale
        cache_key = (key, self._version)
        if cacheable and cache_key in self._search_cache:
            return self._search_cache[cache_key]
        views = [self._view(i, reconcile) for i in self.issues.values()] if self._stale else list(self.issues.values())
        matched = [v for v in views if compiled.predicate(v)]
        ordered = jql.sort_issues(matched, compiled.sort_keys, tiebreak=lambda v: v.id)
        ids = [v.id for v in ordered]
        if cacheable:
            if len(self._search_cache) >= 32:
                self._search_cache.pop(next(iter(self._search_cache)))
            self._search_cache[cache_key] = ids
        return ids

    def _make_token(self, offset: int, text: str) -> str:
        payload = json.dumps([offset, hashlib.sha1(text.encode()).hexdigest()[:16]], separators=(",", ":")).encode()
        sig = hmac.new(self._secret, payload, hashlib.sha256).digest()[:12]
        return base64.urlsafe_b64encode(payload + sig).decode().rstrip("=")

    def _read_token(self, token: str, text: str) -> int:
        invalid = HTTPError(400, "The provided next page token is invalid or expired.")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raise invalid from None
        payload, sig = raw[:-12], raw[-12:]
        expected = hmac.new(self._secret, payload, hashlib.sha256).digest()[:12]
        if len(raw) <= 12 or not hmac.compare_digest(sig, expected):
            raise invalid
        offset, qhash = json.loads(payload)
        if qhash != hashlib.sha1(text.encode()).hexdigest()[:16]:
            raise HTTPError(400, "The next page token does not belong to this JQL query.")
        return int(offset)

    # ---- handlers: issues ----
    def h_issue(self, req: Request) -> dict:
        c = self._ctx(req)
        issue = self._issue_or_404(req.params["key"])
        fields = req.query.get("fields")
        expand = {e.lower() for e in self._multi_arg(req, "expand")}
        return self.render_issue(issue, c, _FieldSelection(fields, "*all"), expand)

    def h_changelog(self, req: Request) -> dict:
        c = self._ctx(req)
        issue = self._issue_or_404(req.params["key"])
        start, limit = self._int_arg(req, "startAt", 0), self._int_arg(req, "maxResults", 100)
        limit = max(1, min(limit, 100))
        histories = issue.histories or []
        page = histories[start:start + limit]
        is_last = start + len(page) >= len(histories)
        out = {"self": c.api(f"issue/{issue.key}/changelog?maxResults={limit}&startAt={start}"), "maxResults": limit,
               "startAt": start, "total": len(histories), "isLast": is_last,
               "values": [self._history_json(h, c) for h in page]}
        if not is_last:
            out["nextPage"] = c.api(f"issue/{issue.key}/changelog?maxResults={limit}&startAt={start + limit}")
        return out

    def _check_notify(self, req: Request) -> bool:
        notify = (req.arg("notifyUsers") or "true").lower() != "false"
        if not notify and not req.user.admin:  # type: ignore[attr-defined]
            raise HTTPError(403, "To discard the user notification either admin or project admin permissions are "
                                 "required.")
        return notify

    def _notify(self, issue: _Issue, by: JiraUser, event: str) -> None:
        recipients = sorted({self._users[a].email for a in (issue.assignee, issue.reporter) if a})
        self.notifications.append({"issue": issue.key, "event": event, "by": by.email, "to": recipients})

    def _touch(self, issue: _Issue, now: datetime) -> None:
        """Before a change: keep what the search index still shows (when lagging), then bump `updated`."""
        if self.search_lag_ms > 0:
            pending = self._stale.get(issue.id)
            if pending is not None and _time.monotonic() < pending[1]:
                snapshot = pending[0]  # the index has not caught up with the previous edit either
            else:
                snapshot = dataclasses.replace(issue, custom=dict(issue.custom), labels=list(issue.labels))
            self._stale[issue.id] = (snapshot, _time.monotonic() + self.search_lag_ms / 1000.0)
        issue.updated = max(now, issue.updated + timedelta(milliseconds=1))
        self._version += 1

    def h_edit_issue(self, req: Request) -> Response:
        c = self._ctx(req)
        issue = self._issue_or_404(req.params["key"])
        notify = self._check_notify(req)
        body = req.json()
        if not isinstance(body, dict):
            raise HTTPError(400, "The request body must be a JSON object with 'fields' and/or 'update'.")
        fields = body.get("fields") or {}
        update = body.get("update") or {}
        if not isinstance(fields, dict) or not isinstance(update, dict):
            raise HTTPError(400, "'fields' and 'update' must be JSON objects.")
        errors: dict[str, str] = {}
        changes: dict[str, Any] = {}  # field id -> new internal value
        for fid, value in fields.items():
            if fid in update and update[fid]:
                errors[fid] = f"Field '{fid}' cannot be set in both 'fields' and 'update'."
                continue
            self._convert_into(issue, fid, value, c, changes, errors)
        for fid, ops in update.items():
            if not ops:
                continue
            if not isinstance(ops, list):
                errors[fid] = "Operations must be a list."
                continue
            self._apply_ops(issue, fid, ops, c, changes, errors)
        if errors:
            raise _field_errors(errors)
        self._apply_edit(issue, changes, req.user, notify)  # type: ignore[attr-defined]
        if (req.arg("returnIssue") or "").lower() == "true":
            expand = {e.lower() for e in self._multi_arg(req, "expand")}
            return Response(200, self.render_issue(issue, c, _FieldSelection(None, "*all"), expand))
        return Response(204)

    # ---- handlers: bulk edit ----
    def h_bulk_fields(self, req: Request) -> dict:
        """The custom fields every given issue can be bulk edited in, with select options (`searchText` filters
        by name). One page: the site has fewer than 50 such fields."""
        refs = self._multi_arg(req, "issueIdsOrKeys")
        if not refs:
            raise HTTPError(400, "The 'issueIdsOrKeys' parameter is required.")
        issues = [self._issue_or_404(ref) for ref in refs]
        text = (req.arg("searchText") or "").strip().lower()
        out = []
        for f in CUSTOM_FIELDS:
            if f.type not in _BULK_INPUT or not all(self._editable(i, f.id) for i in issues):
                continue
            if text and text not in f.name.lower():
                continue
            entry: dict[str, Any] = {"id": f.id, "name": f.name, "type": _CUSTOM_TYPE[f.type][1], "isRequired": False}
            if f.type == "select":
                entry["fieldOptions"] = [{"optionId": int(oid), "value": value} for oid, value in OPTIONS[f.id]]
            out.append(entry)
        return {"fields": out}

    def h_bulk_edit(self, req: Request) -> Response:
        """Bulk edit: the same values into up to 1000 issues; answers 201 with a task id (done by then)."""
        c = self._ctx(req)
        body = req.json()
        if not isinstance(body, dict):
            raise _bulk_error("The request body must be a JSON object.")
        refs, actions = body.get("selectedIssueIdsOrKeys"), body.get("selectedActions")
        edited = body.get("editedFieldsInput")
        if not isinstance(refs, list) or not refs or not all(isinstance(r, (str, int)) for r in refs):
            raise _bulk_error("selectedIssueIdsOrKeys must list at least one issue id or key.")
        if len(refs) > BULK_MAX_ISSUES:
            raise _bulk_error(f"A maximum of {BULK_MAX_ISSUES} issues can be edited in one bulk edit.")
        if not isinstance(actions, list) or not actions or not all(isinstance(a, str) for a in actions):
            raise _bulk_error("selectedActions must list the ids of the fields to edit.")
        if len(actions) > BULK_MAX_FIELDS:
            raise _bulk_error(f"A maximum of {BULK_MAX_FIELDS} fields can be edited in one bulk edit.")
        if not isinstance(edited, dict):
            raise _bulk_error("editedFieldsInput must be an object.")
        values: dict[str, Any] = {}  # field id -> the value as PUT /issue takes it
        for kind, entries in edited.items():
            if kind not in _BULK_KINDS:
                raise _bulk_error(f"editedFieldsInput.{kind} is not supported by the sandbox; supported: "
                                  f"{', '.join(sorted(_BULK_KINDS))}")
            if not isinstance(entries, list):
                raise _bulk_error(f"editedFieldsInput.{kind} must be a list.")
            for entry in entries:
                fid = entry.get("fieldId") if isinstance(entry, dict) else None
                f = CF_BY_ID.get(fid or "")
                if f is None or _BULK_INPUT.get(f.type) != kind:
                    raise _bulk_error(f"editedFieldsInput.{kind}: {fid!r} is not a field of that kind.")
                values[f.id] = _bulk_value(kind, entry)
        missing = sorted(set(values) - set(actions))
        if missing:
            raise _bulk_error("The following editedFieldInput values are not listed as selectedActions : "
                              + ", ".join(missing))
        extra = sorted(set(actions) - set(values))
        if extra:
            raise _bulk_error("The following selectedActions have no value in editedFieldsInput : " + ", ".join(extra))
        notify = body.get("sendBulkNotification", True) is not False
        user: JiraUser = req.user  # type: ignore[attr-defined]
        task_id = str(10000 + len(self._bulk_tasks))
        started = _now()
        processed: list[int] = []
        failed: dict[str, list[str]] = {}
        invalid = 0
        for ref in dict.fromkeys(str(r) for r in refs):
            issue = self.issues.get(int(ref)) if ref.isdigit() else self._by_key.get(ref.upper())
            if issue is None:
                invalid += 1
                continue
            changes: dict[str, Any] = {}
            errors: dict[str, str] = {}
            for fid, value in values.items():
                self._convert_into(issue, fid, value, c, changes, errors)
            if errors:
                failed[str(issue.id)] = list(errors.values())
                continue
            self._apply_edit(issue, changes, user, notify)
            processed.append(issue.id)
        done = _now()
        self._bulk_tasks[task_id] = {
            "taskId": task_id, "status": "COMPLETE", "progressPercent": 100,
            "submittedBy": {"accountId": user.account_id}, "created": started.isoformat(timespec="milliseconds"),
            "started": started.isoformat(timespec="milliseconds"), "updated": done.isoformat(timespec="milliseconds"),
            "totalIssueCount": len(refs), "processedAccessibleIssues": processed,
            "failedAccessibleIssues": failed, "invalidOrInaccessibleIssueCount": invalid}
        return Response(201, {"taskId": task_id})

    def h_bulk_task(self, req: Request) -> dict:
        task = self._bulk_tasks.get(req.params["task"])
        if task is None:
            raise HTTPError(404, f"Task {req.params['task']} not found.")
        return task

    # -- edit helpers --
    def _apply_edit(self, issue: _Issue, changes: dict[str, Any], by: JiraUser, notify: bool) -> None:
        """Set the converted values; a real change bumps `updated`, is recorded in the changelog and notified."""
        items = []
        for fid, new in changes.items():
            old = self._get_value(issue, fid)
            if _same(old, new):
                continue
            items.append(self._change_item(fid, old, new))
        if items:
            now = _now()
            self._touch(issue, now)
            for fid, new in changes.items():
                self._set_value(issue, fid, new)
            self.add_history(issue, by.account_id, issue.updated, items)
            if notify:
                self._notify(issue, by, "issue_updated")

    def _editable(self, issue: _Issue, fid: str) -> bool:
        if fid in EDITABLE_SYSTEM:
            return True
        cf = CF_BY_ID.get(fid)
        return cf is not None and cf.name in SCREENS.get(issue.type.name, ())

    def _convert_into(self, issue: _Issue, fid: str, value: Any, c: _Render, changes: dict, errors: dict) -> None:
        if not self._editable(issue, fid):
            errors[fid] = f"Field '{fid}' cannot be set. It is not on the appropriate screen, or unknown."
            return
        try:
            changes[fid] = self._convert(fid, value, c)
        except ValueError as e:
            errors[fid] = str(e)

    def _apply_ops(self, issue: _Issue, fid: str, ops: list, c: _Render, changes: dict, errors: dict) -> None:
        if not self._editable(issue, fid):
            errors[fid] = f"Field '{fid}' cannot be set. It is not on the appropriate screen, or unknown."
            return
        current = changes.get(fid, self._get_value(issue, fid))
        for op in ops:
            if not isinstance(op, dict) or len(op) != 1:
                errors[fid] = "Each operation must be an object with one of 'set', 'add' or 'remove'."
                return
            (verb, value), = op.items()
            if verb == "set":
                try:
                    current = self._convert(fid, value, c)
                except ValueError as e:
                    errors[fid] = str(e)
                    return
            elif verb in ("add", "remove") and fid == "labels":
                if not isinstance(value, str) or not value or " " in value:
                    errors[fid] = "Labels must be non-empty strings without spaces."
                    return
                labels = list(current or [])
                if verb == "add" and value not in labels:
                    labels.append(value)
                elif verb == "remove" and value in labels:
                    labels.remove(value)
                current = labels
            else:
                errors[fid] = f"Field '{fid}' does not support operation '{verb}'."
                return
        changes[fid] = current

    def _convert(self, fid: str, value: Any, c: _Render) -> Any:
        """A request value as the internal value; ValueError carries Jira's message for the errors map."""
        cf = CF_BY_ID.get(fid)
        kind = cf.type if cf else {"summary": "summary", "description": "textarea", "labels": "labels",
                                   "duedate": "date", "priority": "priority", "assignee": "user"}[fid]
        name = cf.name if cf else fid
        if kind == "summary":
            if not isinstance(value, str) or not value.strip():
                raise ValueError("You must specify a summary of the issue.")
            if "\n" in value or "\r" in value:
                raise ValueError("The summary is invalid because it contains newline characters.")
            if len(value) > 255:
                raise ValueError("Summary must be less than 255 characters.")
            return value
        if value is None:
            if kind == "labels":
                return []
            return None
        if kind == "textarea":
            if c.ver == "3":
                if not _is_adf(value):
                    raise ValueError("Operation value must be an Atlassian Document (see the Atlassian Document "
                                     "Format)")
                return value
            if not isinstance(value, str):
                raise ValueError("Operation value must be a string")
            return value
        if kind == "labels":
            if not isinstance(value, list) or not all(isinstance(x, str) and x and " " not in x for x in value):
                raise ValueError("Labels must be a list of non-empty strings without spaces.")
            return list(dict.fromkeys(value))
        if kind == "date":
            if not isinstance(value, str):
                raise ValueError(f"Error parsing date string: {value}")
            try:
                return date.fromisoformat(value)
            except ValueError:
                raise ValueError(f"Error parsing date string: {value}") from None
        if kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"Operation value must be a number")
            return value
        if kind == "select":
            if not isinstance(value, dict) or not ({"value", "id"} & set(value)):
                raise ValueError(f"Specify a valid 'id' or 'name' for {name}")
            for oid, text in OPTIONS[fid]:
                if value.get("id") == oid or value.get("value") == text:
                    return oid
            raise ValueError(f"Option value '{value.get('value', value.get('id'))}' is not valid")
        if kind == "user":
            account = value.get("accountId") if isinstance(value, dict) else None
            if account is None and isinstance(value, dict) and "name" in value:
                raise ValueError("'name' is not supported on Jira Cloud; use accountId")
            if account not in self._users:
                raise ValueError(f"Specify a valid value for {name}")
            return account
        if kind == "priority":
            if isinstance(value, dict):
                if value.get("id") in PRIORITY_BY_ID:
                    return PRIORITY_BY_ID[value["id"]]
                if value.get("name") in PRIORITIES:
                    return value["name"]
            raise ValueError("Specify the Priority (id or name) in the string format")
        raise ValueError(f"Field '{fid}' cannot be set. It is not on the appropriate screen, or unknown.")

    @staticmethod
    def _get_value(issue: _Issue, fid: str) -> Any:
        if fid in CF_BY_ID:
            return issue.custom.get(fid)
        return getattr(issue, fid)

    @staticmethod
    def _set_value(issue: _Issue, fid: str, value: Any) -> None:
        if fid in CF_BY_ID:
            if value is None:
                issue.custom.pop(fid, None)
            else:
                issue.custom[fid] = value
        else:
            setattr(issue, fid, value)

    def _change_item(self, fid: str, old: Any, new: Any) -> dict:
        cf = CF_BY_ID.get(fid)
        kind = cf.type if cf else {"summary": "text", "description": "textarea", "labels": "labels",
                                   "duedate": "date", "priority": "priority", "assignee": "user"}[fid]

        def ids_and_text(v: Any) -> tuple[str | None, str | None]:
            if v is None or v == []:
                return None, None
            if kind == "select":
                return v, _option_value(fid, v)
            if kind == "user":
                return v, self._users[v].name
            if kind == "date":
                return v.isoformat(), v.isoformat()
            if kind == "number":
                return None, _number_text(v)
            if kind == "priority":
                return PRIORITIES[v][0], v
            if kind == "labels":
                return None, " ".join(v)
            if kind == "textarea":
                return None, adf_to_text(v) if isinstance(v, dict) else v
            return None, str(v)

        f_id, f_text = ids_and_text(old)
        t_id, t_text = ids_and_text(new)
        return {"field": cf.name if cf else fid, "fieldtype": "custom" if cf else "jira", "fieldId": fid,
                "from": f_id, "fromString": f_text, "to": t_id, "toString": t_text}

    # ---- handlers: comments ----
    def h_comments(self, req: Request) -> dict:
        c = self._ctx(req)
        issue = self._issue_or_404(req.params["key"])
        start, limit = self._int_arg(req, "startAt", 0), self._int_arg(req, "maxResults", 5000)
        comments = list(issue.comments or [])
        order = req.arg("orderBy") or "created"
        if order.lstrip("+-") != "created":
            raise HTTPError(400, f"Invalid orderBy '{order}'; valid: created, +created, -created.")
        if order.startswith("-"):
            comments.reverse()
        page = comments[start:start + max(0, limit)]
        return {"startAt": start, "maxResults": limit, "total": len(comments),
                "comments": [self._comment_json(issue, cm, c) for cm in page]}

    def _comment_or_404(self, issue: _Issue, ref: str) -> _Comment:
        for cm in issue.comments or ():
            if str(cm.id) == ref:
                return cm
        raise HTTPError(404, f"Can not find a comment for the id: {ref}.")

    def h_comment(self, req: Request) -> dict:
        c = self._ctx(req)
        issue = self._issue_or_404(req.params["key"])
        return self._comment_json(issue, self._comment_or_404(issue, req.params["id"]), c)

    def _comment_body(self, req: Request, c: _Render) -> Any:
        body = req.json()
        if not isinstance(body, dict) or "body" not in body:
            raise _field_errors({"comment": "Comment body can not be empty!"})
        value = body["body"]
        if c.ver == "3" and not _is_adf(value):
            raise _field_errors({"comment": "Operation value must be an Atlassian Document (see the Atlassian "
                                            "Document Format)"})
        if c.ver == "2" and not isinstance(value, str):
            raise _field_errors({"comment": "Comment body must be a string."})
        if not adf_to_text(value).strip() if isinstance(value, dict) else not value.strip():
            raise _field_errors({"comment": "Comment body can not be empty!"})
        return value

    def h_add_comment(self, req: Request) -> Response:
        c = self._ctx(req)
        issue = self._issue_or_404(req.params["key"])
        value = self._comment_body(req, c)
        user: JiraUser = req.user  # type: ignore[attr-defined]
        now = _now()
        self._touch(issue, now)
        cm = _Comment(self._next_comment_id, user.account_id, value, issue.updated, issue.updated, user.account_id)
        self._next_comment_id += 1
        if issue.comments is None:
            issue.comments = []
        issue.comments.append(cm)
        self._notify(issue, user, "issue_commented")
        return Response(201, self._comment_json(issue, cm, c))

    def h_edit_comment(self, req: Request) -> dict:
        c = self._ctx(req)
        issue = self._issue_or_404(req.params["key"])
        cm = self._comment_or_404(issue, req.params["id"])
        notify = self._check_notify(req)
        value = self._comment_body(req, c)
        user: JiraUser = req.user  # type: ignore[attr-defined]
        if value != cm.body:
            self._touch(issue, _now())
            cm.body, cm.updated, cm.update_author = value, issue.updated, user.account_id
            if notify:
                self._notify(issue, user, "issue_comment_edited")
        return self._comment_json(issue, cm, c)

    # ---- JQL binding ----
    def _jql_field(self, name: str) -> jql.FieldSpec | None:
        return self._jql_fields.get(name.lower())

    def _build_jql_fields(self) -> dict[str, jql.FieldSpec]:
        specs: dict[str, jql.FieldSpec] = {}

        def add(names: tuple[str, ...], spec: jql.FieldSpec) -> None:
            for n in names:
                specs[n.lower()] = spec

        def unknown(field_name: str, text: str) -> jql.JQLError:
            return jql.JQLError(f"The value '{text}' does not exist for the field '{field_name}'.")

        def resolve_project(text: str) -> set:
            p = self._projects_by_id.get(text) or self.projects.get(text.upper())
            if p is None:
                p = next((x for x in self.projects.values() if x.name.lower() == text.lower()), None)
            if p is None:
                raise unknown("project", text)
            return {p.id}

        def resolve_issue(text: str) -> _Issue:
            issue = self.issues.get(int(text)) if text.isdigit() else self._by_key.get(text.upper())
            if issue is None:
                raise jql.JQLError(f"An issue with key '{text}' does not exist for field 'key'.")
            return issue

        def resolve_user(field_name: str) -> Callable[[str], set]:
            def resolve(text: str) -> set:
                low = text.lower()
                if text in self._users:
                    return {text}
                found = {u.account_id for u in self._users.values() if low in (u.email.lower(), u.name.lower())}
                if not found:
                    raise unknown(field_name, text)
                return found
            return resolve

        def resolve_named(field_name: str, table: dict[str, str]) -> Callable[[str], set]:
            """table: lower-cased name or id -> internal value."""
            def resolve(text: str) -> set:
                value = table.get(text.lower())
                if value is None:
                    raise unknown(field_name, text)
                return {value}
            return resolve

        add(("project",), jql.FieldSpec("project", "enum", lambda i: i.project.id, resolve_project,
                                        sort=lambda i: i.project.key))
        add(("key", "issuekey", "id", "issue"), jql.FieldSpec(
            "key", "key", lambda i: (i.project.id, i.num),
            lambda t: (lambda x: (x.project.id, x.num))(resolve_issue(t)), sort=lambda i: (i.project.key, i.num)))
        types = {t.name.lower(): t.id for t in ISSUE_TYPES} | {t.id: t.id for t in ISSUE_TYPES}
        add(("issuetype", "type"), jql.FieldSpec("issuetype", "enum", lambda i: i.type.id,
                                                 resolve_named("issuetype", types), sort=lambda i: i.type.name))
        statuses = {n.lower(): n for n in STATUSES} | {sid: n for sid, n in STATUS_BY_ID.items()}
        add(("status",), jql.FieldSpec("status", "enum", lambda i: i.status, resolve_named("status", statuses)))
        cats = {k: k for k in STATUS_CATEGORIES} | {n.lower(): k for k, (_, n, _) in STATUS_CATEGORIES.items()} | {
            str(cid): k for k, (cid, _, _) in STATUS_CATEGORIES.items()}
        add(("statuscategory",), jql.FieldSpec("statusCategory", "enum", lambda i: STATUSES[i.status][1],
                                               resolve_named("statusCategory", cats)))
        prios = {n.lower(): n for n in PRIORITIES} | {pid: n for pid, n in PRIORITY_BY_ID.items()}
        add(("priority",), jql.FieldSpec("priority", "enum", lambda i: i.priority, resolve_named("priority", prios),
                                         sort=lambda i: PRIORITIES[i.priority][1] if i.priority else None))
        resolutions = {n.lower(): n for n in RESOLUTIONS} | {rid: n for n, (rid, _) in RESOLUTIONS.items()}
        add(("resolution",), jql.FieldSpec("resolution", "enum", lambda i: i.resolution,
                                           resolve_named("resolution", resolutions)))
        add(("parent",), jql.FieldSpec("parent", "enum", lambda i: i.parent.id if i.parent else None,
                                       lambda t: {resolve_issue(t).id}, orderable=False))
        add(("created", "createddate"), jql.FieldSpec("created", "datetime", lambda i: i.created))
        add(("updated", "updateddate"), jql.FieldSpec("updated", "datetime", lambda i: i.updated))
        add(("resolved", "resolutiondate"), jql.FieldSpec("resolved", "datetime", lambda i: i.resolutiondate))
        add(("statuscategorychangeddate",), jql.FieldSpec("statusCategoryChangedDate", "datetime",
                                                          lambda i: i.status_changed))
        add(("due", "duedate"), jql.FieldSpec("due", "date", lambda i: i.duedate))
        add(("assignee",), jql.FieldSpec("assignee", "user", lambda i: i.assignee, resolve_user("assignee"),
                                         sort=lambda i: self._users[i.assignee].name if i.assignee else None))
        add(("reporter", "creator"), jql.FieldSpec("reporter", "user", lambda i: i.reporter, resolve_user("reporter"),
                                                   sort=lambda i: self._users[i.reporter].name if i.reporter else None))
        add(("labels",), jql.FieldSpec("labels", "multi", lambda i: i.labels, orderable=False))
        add(("summary",), jql.FieldSpec("summary", "text", lambda i: i.summary))
        add(("description",), jql.FieldSpec("description", "text", lambda i: _plain(i.description)))
        add(("text",), jql.FieldSpec("text", "text",
                                     lambda i: i.summary + "\n" + (_plain(i.description) or ""), orderable=False))
        for f in CUSTOM_FIELDS:
            spec = self._custom_spec(f, resolve_user)
            if spec is not None:
                add(tuple(_custom_clause_names(f)), spec)
        return specs

    def _custom_spec(self, f: CustomField, resolve_user: Callable) -> jql.FieldSpec | None:
        fid = f.id
        get = lambda i, fid=fid: i.custom.get(fid)  # noqa: E731
        if f.type == "select":
            table = {v.lower(): oid for oid, v in OPTIONS[fid]} | {oid: oid for oid, _ in OPTIONS[fid]}

            def resolve(text: str, table=table, name=f.name) -> set:
                if text.lower() not in table:
                    raise jql.JQLError(f"The option '{text}' for field '{name}' does not exist.")
                return {table[text.lower()]}

            return jql.FieldSpec(f.name, "enum", get, resolve,
                                 sort=lambda i, fid=fid: _option_value(fid, i.custom[fid]) if fid in i.custom else None)
        if f.type == "user":
            return jql.FieldSpec(f.name, "user", get, resolve_user(f.name),
                                 sort=lambda i, fid=fid: self._users[i.custom[fid]].name if fid in i.custom else None)
        if f.type in ("date", "number"):
            return jql.FieldSpec(f.name, f.type, get)
        if f.type == "textarea":
            return jql.FieldSpec(f.name, "text", lambda i, fid=fid: _plain(i.custom.get(fid)), orderable=False)
        if f.type == "rank":  # ORDER BY Rank: the lexorank follows issue ids here
            return jql.FieldSpec(f.name, "text", lambda i: f"0|i{i.id:05x}:", sort=lambda i: i.id)
        return None  # Sprint: not searchable in the sandbox


# ---- module helpers ---------------------------------------------------------------------------------------
BULK_MAX_ISSUES, BULK_MAX_FIELDS = 1000, 200
_BULK_INPUT = {"select": "singleSelectFields", "number": "clearableNumberFields", "date": "datePickerFields"}
_BULK_KINDS = set(_BULK_INPUT.values())


def _bulk_error(message: str) -> HTTPError:
    return HTTPError(400, message, body={"errors": [{"message": message}]})


def _bulk_value(kind: str, entry: dict) -> Any:
    """A bulk edit input entry as the value PUT /issue takes for the same field."""
    if kind == "singleSelectFields":
        option = entry.get("option") if isinstance(entry.get("option"), dict) else {}
        if option.get("optionId") is None:
            raise _bulk_error(f"singleSelectFields: {entry.get('fieldId')}: option.optionId is required.")
        return {"id": str(option["optionId"])}
    if kind == "clearableNumberFields":
        return entry.get("value")
    text = ((entry.get("date") or {}).get("formattedDate") if isinstance(entry.get("date"), dict) else None)
    if text is None:
        raise _bulk_error(f"datePickerFields: {entry.get('fieldId')}: date.formattedDate is required.")
    if text == "":
        return None
    for fmt in ("%d-%m-%Y", "%d/%b/%y", "%Y-%m-%d"):  # the documented "ISO" dd-mm-yyyy and d/mmm/yy
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    raise _bulk_error(f"datePickerFields: {entry.get('fieldId')}: {text!r} is not a date (d/mmm/yy or dd-mm-yyyy).")


def _field_errors(errors: dict[str, str]) -> HTTPError:
    """A 400 in Jira's shape for per-field problems: {"errorMessages": [], "errors": {field: message}}."""
    return HTTPError(400, "; ".join(f"{k}: {v}" for k, v in errors.items()),
                     body={"errorMessages": [], "errors": errors})


def _plain(value: Any) -> str | None:
    if value is None:
        return None
    return adf_to_text(value) if isinstance(value, dict) else value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return float(a) == float(b)
    if a in (None, []) and b in (None, []):
        return True
    return a == b


def _option_value(fid: str, oid: str) -> str:
    for option_id, value in OPTIONS[fid]:
        if option_id == oid:
            return value
    raise KeyError(f"{fid} has no option {oid}")


def _option_id(field_name: str, value: str | None) -> str | None:
    if value is None:
        return None
    f = CF[field_name]
    for oid, text in OPTIONS[f.id]:
        if text.lower() == value.lower():
            return oid
    raise KeyError(f"{field_name!r} has no option {value!r}; valid: {[v for _, v in OPTIONS[f.id]]}")


def _custom_clause_names(f: CustomField) -> list[str]:
    suffix = _CUSTOM_TYPE[f.type][2]
    names = [f"cf[{f.num}]", f.name]
    if suffix:
        names.append(f"{f.name}[{suffix}]")
    return names


def _field_name(fid: str) -> str | None:
    if fid in CF_BY_ID:
        return CF_BY_ID[fid].name
    entry = SYSTEM_FIELD.get(fid)
    return entry[1] if entry else None


def _field_schema(fid: str) -> dict | None:
    cf = CF_BY_ID.get(fid)
    if cf is not None:
        schema_type, custom, _ = _CUSTOM_TYPE[cf.type]
        out = {"type": schema_type, "custom": custom, "customId": cf.num}
        if cf.type == "sprint":
            out["items"] = "json"
        return out
    entry = SYSTEM_FIELD.get(fid)
    return dict(entry[3]) if entry and entry[3] else None


# ---- loading a seed portfolio -----------------------------------------------------------------------------
class _SeedLoader:
    """Renders a SeedPortfolio as Jira projects and issues (see the module docstring for the layout)."""

    def __init__(self, app: JiraApp, portfolio: SeedPortfolio):
        self.app = app
        self.pf = portfolio
        self.today = portfolio.today

    def load(self) -> None:
        app = self.app
        for person in self.pf.people.values():
            app.add_user(person.email, person.name, person.time_zone, role=person.role,
                         can_login=person.role == "pm")
        for project in self.pf.projects:
            self.load_project(project)

    def acct(self, email: str | None) -> str | None:
        return self.app.account_id(email)

    def at(self, d: date, salt: int) -> datetime:
        """A deterministic working-hours timestamp on day d, never after the start of today (UTC)."""
        dt = datetime.combine(d, time(tzinfo=UTC)) + timedelta(seconds=8 * 3600 + (salt * 7919) % 28800,
                                                               milliseconds=(salt * 131) % 1000)
        latest = datetime.combine(self.today, time(tzinfo=UTC)) - timedelta(minutes=1)
        return min(dt, latest)

    def load_project(self, sp: SeedProject) -> None:
        app = self.app
        pm = self.acct(sp.pm)
        proj = app.add_project(sp.key, sp.name, sp.description, pm, sp.department)
        record = self.project_record(proj, sp)
        proj.record = record
        by_key: dict[str, _Issue] = {}
        for g in sp.gates:
            self.gate(proj, record, g, sp)
        for rep in sp.status_reports:
            self.report(proj, record, rep)
        raid_issues = [(r, self.raid(proj, record, r, sp)) for r in sp.raid]
        for m in sp.milestones:
            self.milestone(proj, record, m, sp)
        for a in sp.approvals:
            self.approval(proj, record, a, sp)
        for w in sp.work_items:
            parent = by_key[w.parent] if w.parent else record
            by_key[w.key] = self.work_item(proj, parent, w)
        for r, issue in raid_issues:
            if r.linked_item and r.linked_item in by_key:
                app.link(issue, by_key[r.linked_item])

    def _next_key_check(self, proj: _Project, expected: str) -> None:
        actual = f"{proj.key}-{proj.next_num}"
        if actual != expected:
            raise AssertionError(f"seed key {expected} would become {actual} in Jira")

    def project_record(self, proj: _Project, sp: SeedProject) -> _Issue:
        pm = self.acct(sp.pm)
        status = {"active": "Active", "on_hold": "On Hold", "closed": "Closed", "cancelled": "Cancelled"}[sp.state]
        last_change = max(h.at for h in sp.phase_history)
        closed_at = last_change if sp.state == "closed" else None
        if sp.state == "closed" and sp.gate("G2") and sp.gate("G2").decided_on:
            closed_at = self.at(sp.gate("G2").decided_on, 1)
        init = sp.initiation
        custom = {
            CF["Project Phase"].id: _option_id("Project Phase", sp.phase),
            CF["Department"].id: _option_id("Department", sp.department),
            CF["Project Manager"].id: pm,
            CF["Sponsor"].id: self.acct(sp.sponsor),
            CF["Initiation Status"].id: _option_id("Initiation Status", init.status.capitalize()),
            CF["Initiation Submitted"].id: init.submitted_on,
            CF["Initiation Decided"].id: init.decided_on,
            CF["Approved Budget"].id: sp.budget_approved,
            CF["Actual Cost"].id: sp.actual_cost,
            CF["Forecast Cost"].id: sp.forecast_cost,
            CF["Approved FTE"].id: sp.fte_approved,
            CF["Assigned FTE"].id: sp.fte_assigned,
            CF["Planned Start"].id: sp.planned_start,
            CF["Planned Finish"].id: sp.planned_finish,
            CF["Forecast Finish"].id: sp.forecast_finish,
        }
        if sp.baseline is not None:
            custom[CF["Baseline Start"].id] = sp.baseline.start
            custom[CF["Baseline Finish"].id] = sp.baseline.finish
            custom[CF["Baseline Cost"].id] = sp.baseline.cost
        custom = {k: v for k, v in custom.items() if v is not None}
        self._next_key_check(proj, sp.record_key)
        updated = max([sp.created, last_change, *( [closed_at] if closed_at else [])])
        issue = self.app.add_issue(
            proj, "Project", sp.name, status, sp.created, updated, priority="Medium", description=sp.description,
            labels=list(sp.tags), assignee=pm, reporter=pm, custom=custom,
            resolution="Done" if sp.state in ("closed", "cancelled") else None, resolutiondate=closed_at,
        )
        phase_field = CF["Project Phase"]
        for ch in sp.phase_history:
            if ch.from_phase is None:
                continue
            self.app.add_history(issue, self.acct(ch.by), ch.at, [{
                "field": phase_field.name, "fieldtype": "custom", "fieldId": phase_field.id,
                "from": _option_id("Project Phase", ch.from_phase), "fromString": ch.from_phase,
                "to": _option_id("Project Phase", ch.to_phase), "toString": ch.to_phase,
            }])
        return issue

    def _created_for(self, sp_created: datetime, d: date | None, salt: int, back_days: int = 0) -> datetime:
        if d is None:
            return sp_created
        return max(sp_created, self.at(d - timedelta(days=back_days), salt))

    def gate(self, proj: _Project, record: _Issue, g, sp: SeedProject) -> _Issue:
        self._next_key_check(proj, g.key)
        decided = g.decision != "pending"
        content = []
        if g.conditions:
            content.append({"type": "paragraph", "content": [{"type": "text", "text": "Conditions of approval:"}]})
            content.append(self.task_list([(c.text, None, c.due, c.done) for c in g.conditions], g.key))
        anchor = g.decided_on or g.planned_on
        created = self._created_for(sp.created, anchor, record.id + len(content), back_days=21)
        updated = max(created, self.at(g.decided_on, 3)) if g.decided_on else created
        custom = {
            CF["Gate"].id: _option_id("Gate", g.gate),
            CF["Gate Decision"].id: _option_id("Gate Decision", g.decision.capitalize()),
            CF["Gate Approver"].id: self.acct(g.approver),
            CF["Gate Decision Date"].id: g.decided_on,
        }
        return self.app.add_issue(
            proj, "Gate", f"{g.gate} gate review – {_GATE_TITLES[g.gate]}", "Decided" if decided else "Scheduled",
            created, updated, priority="High", parent=record, reporter=self.acct(sp.pm),
            assignee=self.acct(g.approver), duedate=g.planned_on,
            description={"type": "doc", "version": 1, "content": content} if content else None,
            custom={k: v for k, v in custom.items() if v is not None},
            resolution="Done" if decided else None, resolutiondate=updated if decided else None,
        )

    def task_list(self, items: list[tuple[str, str | None, date | None, bool]], salt: str) -> dict:
        nodes = []
        for n, (text, owner, due, done) in enumerate(items):
            content: list[dict] = [{"type": "text", "text": text + " "}]
            if owner:
                user = self.app.user(owner)
                content += [{"type": "mention", "attrs": {"id": user.account_id, "text": "@" + user.name,
                                                          "accessLevel": ""}}, {"type": "text", "text": " "}]
            if due:
                content.append(_adf_date(due))
            nodes.append({"type": "taskItem", "attrs": {"localId": f"{salt}-t{n}", "state": "DONE" if done else "TODO"},
                          "content": content})
        return {"type": "taskList", "attrs": {"localId": f"{salt}-tl"}, "content": nodes}

    def report(self, proj: _Project, record: _Issue, rep) -> _Issue:
        self._next_key_check(proj, rep.key)
        content = []
        if rep.summary:
            content += [_adf_paragraph(line) for line in rep.summary.split("\n") if line]
        if rep.actions:
            content.append({"type": "heading", "attrs": {"level": 3}, "content": [{"type": "text", "text": "Actions"}]})
            content.append(self.task_list([(a.text, a.owner, a.due, False) for a in rep.actions], rep.key))
        created = self.at(rep.report_date, record.id + rep.report_date.toordinal())
        custom = {CF["Report Date"].id: rep.report_date}
        for name, value in (("Overall RAG", rep.overall), ("Schedule RAG", rep.schedule), ("Cost RAG", rep.cost),
                            ("Scope RAG", rep.scope)):
            custom[CF[name].id] = _option_id(name, value.capitalize()) if value else None
        author = self.acct(rep.author)
        return self.app.add_issue(
            proj, "Status Report", f"Status report {rep.report_date:%d %b %Y}", "Published", created, created,
            priority="Medium", parent=record, reporter=author, assignee=author,
            description={"type": "doc", "version": 1, "content": content} if content else None,
            custom={k: v for k, v in custom.items() if v is not None}, resolution="Done", resolutiondate=created,
        )

    def raid(self, proj: _Project, record: _Issue, r, sp: SeedProject) -> _Issue:
        self._next_key_check(proj, r.key)
        created = self.at(r.raised_on, record.id + r.raised_on.toordinal())
        updated = max(created, self.at(r.last_reviewed, 7)) if r.last_reviewed else created
        if r.status == "closed":
            status = "Closed"
        else:
            status = "Mitigating" if r.response else "Open"
        labels = [] if r.kind == "risk" else [f"raid-{r.kind}"]
        if r.severity:
            labels.append(f"severity-{r.severity}")
        custom = {
            CF["Risk Probability"].id: r.probability, CF["Risk Impact"].id: r.impact,
            CF["Risk Owner"].id: self.acct(r.owner), CF["Risk Response"].id: r.response,
            CF["Escalated to PMO"].id: _option_id("Escalated to PMO", "Yes" if r.escalated else "No"),
            CF["Escalation Date"].id: r.escalated_on, CF["Last Reviewed"].id: r.last_reviewed,
        }
        priority = "Medium"
        if r.score is not None:
            priority = "Highest" if r.score >= 20 else "High" if r.score >= 12 else "Medium" if r.score >= 6 else "Low"
        return self.app.add_issue(
            proj, "Risk", r.title, status, created, updated, priority=priority, parent=record, labels=labels,
            reporter=self.acct(sp.pm), assignee=self.acct(r.owner), duedate=r.due,
            custom={k: v for k, v in custom.items() if v is not None},
            resolution="Done" if r.status == "closed" else None,
            resolutiondate=updated if r.status == "closed" else None,
        )

    def milestone(self, proj: _Project, record: _Issue, m, sp: SeedProject) -> _Issue:
        self._next_key_check(proj, m.key)
        created = sp.created + timedelta(days=1)
        done_at = self.at(m.done_on, record.id) if m.done_on else None
        updated = max(created, done_at) if done_at else created
        custom = {CF["Forecast Finish"].id: m.forecast} if m.forecast else {}
        return self.app.add_issue(
            proj, "Milestone", m.name, "Done" if m.done_on else "To Do", created, updated, priority="High",
            parent=record, reporter=self.acct(sp.pm), assignee=self.acct(sp.pm), duedate=m.planned, custom=custom,
            resolution="Done" if m.done_on else None, resolutiondate=done_at,
        )

    def approval(self, proj: _Project, record: _Issue, a, sp: SeedProject) -> _Issue:
        self._next_key_check(proj, a.key)
        created = max(sp.created, self.at(a.requested_on, record.id + 11))
        decided_at = self.at(a.decided_on, record.id + 13) if a.decided_on else None
        updated = max(created, decided_at) if decided_at else created
        status = {"pending": "Pending Approval", "approved": "Approved", "rejected": "Rejected",
                  "withdrawn": "Withdrawn"}[a.status]
        custom = {CF["Change Amount"].id: a.amount, CF["Gate Approver"].id: self.acct(a.approver),
                  CF["Gate Decision Date"].id: a.decided_on}
        description = f"FTE requested: {_number_text(a.fte)}" if a.fte else None
        return self.app.add_issue(
            proj, "Change Request", a.title, status, created, updated, priority="Medium", parent=record,
            labels=[a.kind.replace("_", "-")], reporter=self.acct(a.requested_by), assignee=self.acct(a.approver),
            description=description, custom={k: v for k, v in custom.items() if v is not None},
            resolution=None if a.status == "pending" else ("Done" if a.status == "approved" else "Won't Do"),
            resolutiondate=decided_at if a.status != "pending" else None,
        )

    def work_item(self, proj: _Project, parent: _Issue, w) -> _Issue:
        return self.app.add_issue(
            proj, w.type, w.summary, w.status, w.created, w.updated, priority=w.priority, parent=parent,
            labels=list(w.labels), assignee=self.acct(w.assignee), reporter=self.acct(w.reporter), duedate=w.due,
            resolution="Done" if w.status == "Done" else None, resolutiondate=w.resolved,
        )


_GATE_TITLES = {"G0": "initiation approval (entry to Planning)", "G1": "plan approval (entry to Execution)",
                "G2": "closure approval"}
