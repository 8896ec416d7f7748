"""A deterministic, system-neutral generator of a realistic PMO portfolio for the sandbox emulators.

`generate(seed=7, today=None, projects=48, items_per_project=80)` returns a `SeedPortfolio` of plain
dataclasses: people (PMs with training records, sponsors, PMO staff, team members), projects with their
initiation request, gates, phase history, status reports, RAID log, milestones, approvals and work items.
Every emulator (Jira now; Google Sheets and Microsoft Graph later) renders the same portfolio in its own
shape, so nothing here knows about any one system.

Determinism: the same (seed, today, projects, items_per_project) always gives the same portfolio, and the
first N projects do not depend on how many come after them (each project has its own random stream). All
dates are relative to `today` (default `date.today()`), and every timestamp lies before `today`, so "stale
for 20 days" stays true whenever it runs. Timestamps are timezone-aware UTC with millisecond precision.

Record keys: each project numbers its records like a tracker does, "APOL-2", "APOL-3", ...; number 1 is
reserved for the project's own record (`SeedProject.record_key`), then come gates, status reports, RAID
entries, milestones, approvals and finally work items. A RAID entry about a work item names its key.

Compliance mix: about half the active projects are compliant with the whole PMO catalog (default
thresholds of /work/shared/pmo-standards.md); the others carry deliberate violations, and
`SeedProject.planted` lists the rule ids planted in each. Every violation is planted alone, so a correct
engine finds exactly `planted` for each active project (closed projects are always compliant: rules skip
them). What each plant does is in `_Builder._plant_*`; in short:

    INIT-01  initiation draft/submitted/rejected, yet items in progress or done and actual cost > 0
    INIT-04  initiation submitted 18-35 days ago, no decision
    TRAIN-01 PM whose training expired (> 24 months) or was never taken, project past Initiation
    TRAIN-02 PM whose training expires within 30 days
    STAT-01  latest status report 18-40 days old
    STAT-02  latest report lacks a dimension RAG or its summary
    STAT-03  latest report all green while a milestone is overdue (VAR-04 is planted with it)
    STAT-04  latest report amber without any action
    STAT-05  the two latest reports red
    APPR-01  forecast 1-4% above the approved budget, the change request for it rejected
    APPR-02  more FTE assigned than approved
    APPR-03  a resource/infrastructure/budget request pending for 20-40 days
    RISK-01  open risk scoring 12 with no owner
    RISK-02  open risk scoring 12 without response (and sometimes without due date)
    RISK-03  open risk last reviewed 40-90 days ago
    RISK-04  open risk scoring 20-25 never escalated
    RISK-05  open RAID action 5-30 days past due
    RISK-06  open Blocker work item, 8-30 days old, absent from the RAID log
    GATE-01  in Planning without an approved G0, or in Execution without an approved/conditional G1
    GATE-02  an approved gate without approver or decision date
    GATE-03  G1 pending, planned date 5-25 days ago
    GATE-04  G1 conditional with a condition 5-20 days overdue
    GATE-05  moved back from Execution to Planning without a gate decision
    VAR-01   in Execution without a baseline
    VAR-02   forecast finish 12-25% of the baseline duration after the baseline finish
    VAR-03   forecast cost 12-25% above budget (covered by an approved change request, so no APPR-01)
    VAR-04   a milestone 5-30 days past its planned date, not done

Compliant projects keep open risks at score <= 12 (so none is "critical"), link every open Blocker to a
RAID issue, report green or amber (amber always with a recovery narrative and owned, dated actions), and
keep forecasts within budget and baseline. With `projects >= 24` every rule above is planted at least once;
INIT-01, STAT-01, RISK-01 and GATE-01 come first, so even a handful of projects carries them.

Hostile text (formula injection, HTML/JS, RTL and other unicode) sits in a few records of the first three
projects; `SeedPortfolio.hostile` lists where.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterable

UTC = timezone.utc

DEPARTMENTS = ("IT", "Finance", "Operations", "HR", "Marketing", "Engineering")
PHASES = ("Initiation", "Planning", "Execution", "Closing")
GATES = {"G0": "entry to Planning", "G1": "entry to Execution", "G2": "closure"}
TRAINING_COURSE = "PMO Standards Foundation"
TRAINING_VALID_MONTHS = 24
TEAM_MEMBERS = 400  # fixed, so the first N projects do not depend on how many follow
RAG_VALUES = ("green", "amber", "red")
WORK_ITEM_TYPES = ("Story", "Task", "Bug", "Sub-task")
STATUS_CATEGORY = {"To Do": "todo", "In Progress": "in_progress", "In Review": "in_progress", "Done": "done"}
PRIORITIES = ("Blocker", "Highest", "High", "Medium", "Low", "Lowest")

# Rules every small portfolio must carry first, then the rest of the catalog that can be planted.
REQUIRED_PLANTS = (
    "INIT-01", "STAT-01", "RISK-01", "GATE-01", "STAT-02", "APPR-01", "RISK-02", "GATE-02", "VAR-02",
    "VAR-03", "TRAIN-01",
)
EXTRA_PLANTS = (
    "VAR-01", "VAR-04", "RISK-03", "RISK-04", "RISK-05", "RISK-06", "GATE-03", "GATE-04", "GATE-05",
    "STAT-03", "STAT-04", "STAT-05", "APPR-02", "APPR-03", "INIT-04", "TRAIN-02",
)
ALL_PLANTS = REQUIRED_PLANTS + EXTRA_PLANTS

_ANY_ACTIVE = ("Initiation", "Planning", "Execution")
# The phase a project is built in when carrying the rule (GATE-05 is built in Execution, then moved back).
_PLANT_PHASES: dict[str, tuple[str, ...]] = {
    "INIT-01": ("Initiation",), "INIT-04": ("Initiation",),
    "TRAIN-01": ("Planning", "Execution"), "GATE-01": ("Planning", "Execution"), "GATE-02": ("Planning", "Execution"),
    "GATE-03": ("Planning",), "GATE-04": ("Execution",), "GATE-05": ("Execution",),
    "VAR-01": ("Execution",), "VAR-02": ("Execution",), "VAR-03": ("Execution",), "VAR-04": ("Execution",),
    "STAT-03": ("Execution",), "RISK-06": ("Planning", "Execution"), "APPR-01": ("Planning", "Execution"),
}
# Plants touching the same data may not be combined in one project.
_PLANT_GROUPS = (
    {"STAT-02", "STAT-03", "STAT-04", "STAT-05", "VAR-02", "VAR-03", "VAR-04", "RISK-04", "APPR-01"},  # latest report
    {"TRAIN-01", "TRAIN-02"},  # the PM
    {"GATE-01", "GATE-02", "GATE-03", "GATE-04", "GATE-05"},  # gates
    {"VAR-01", "VAR-02"},  # the baseline
    {"INIT-01", "INIT-04"},  # the initiation request
)


# ---- the portfolio ----------------------------------------------------------------------------------------
@dataclass(slots=True)
class SeedTraining:
    course: str
    completed_on: date | None
    expires_on: date | None


@dataclass(slots=True)
class SeedPerson:
    email: str
    name: str
    role: str  # "pm", "sponsor", "pmo", "member"
    department: str | None
    time_zone: str  # IANA name of the person's profile time zone
    trainings: list[SeedTraining] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.email.lower()


@dataclass(slots=True)
class SeedInitiation:
    status: str  # draft, submitted, approved, rejected
    submitted_on: date | None = None
    decided_on: date | None = None
    approver: str | None = None  # e-mail


@dataclass(slots=True)
class SeedBaseline:
    start: date | None
    finish: date | None
    cost: float | None


@dataclass(slots=True)
class SeedCondition:
    text: str
    due: date | None
    done: bool = False


@dataclass(slots=True)
class SeedGate:
    key: str
    gate: str  # G0, G1, G2
    decision: str  # approved, conditional, rejected, recycle, pending
    approver: str | None  # e-mail
    decided_on: date | None
    planned_on: date | None
    conditions: list[SeedCondition] = field(default_factory=list)


@dataclass(slots=True)
class SeedPhaseChange:
    at: datetime
    from_phase: str | None
    to_phase: str
    by: str  # e-mail


@dataclass(slots=True)
class SeedAction:
    text: str
    owner: str | None  # e-mail
    due: date | None


@dataclass(slots=True)
class SeedStatusReport:
    key: str
    report_date: date
    overall: str | None  # green, amber, red
    schedule: str | None
    cost: str | None
    scope: str | None
    summary: str | None
    actions: list[SeedAction] = field(default_factory=list)
    author: str | None = None  # e-mail


@dataclass(slots=True)
class SeedRaid:
    key: str
    kind: str  # risk, issue, action
    title: str
    probability: int | None  # 1..5 (risks)
    impact: int | None  # 1..5 (risks)
    severity: str | None  # issues: low, medium, high, critical
    owner: str | None  # e-mail
    response: str | None
    due: date | None
    status: str  # open, closed
    raised_on: date
    last_reviewed: date | None
    escalated: bool = False
    escalated_on: date | None = None
    linked_item: str | None = None  # key of the work item the entry is about

    @property
    def score(self) -> int | None:
        if self.probability is None or self.impact is None:
            return None
        return self.probability * self.impact


@dataclass(slots=True)
class SeedMilestone:
    key: str
    name: str
    planned: date
    forecast: date | None
    done_on: date | None


@dataclass(slots=True)
class SeedApproval:
    key: str
    kind: str  # budget, resource, infrastructure, change_request
    status: str  # pending, approved, rejected, withdrawn
    title: str
    requested_on: date
    decided_on: date | None
    amount: float | None
    fte: float | None
    approver: str | None  # e-mail
    requested_by: str | None = None  # e-mail


@dataclass(slots=True)
class SeedWorkItem:
    key: str
    summary: str
    type: str  # Story, Task, Bug, Sub-task
    status: str  # To Do, In Progress, In Review, Done
    status_category: str  # todo, in_progress, done
    priority: str
    assignee: str | None  # e-mail
    reporter: str | None  # e-mail
    created: datetime
    updated: datetime
    due: date | None
    resolved: datetime | None
    parent: str | None = None  # key of the parent work item (sub-tasks only)
    labels: tuple[str, ...] = ()


@dataclass(slots=True)
class SeedProject:
    key: str
    name: str
    description: str
    department: str
    pm: str  # e-mail
    sponsor: str  # e-mail
    phase: str
    state: str  # active, on_hold, closed
    created: datetime
    initiation: SeedInitiation
    budget_approved: float
    actual_cost: float
    forecast_cost: float
    fte_approved: float
    fte_assigned: float
    planned_start: date
    planned_finish: date
    forecast_finish: date
    baseline: SeedBaseline | None
    tags: list[str] = field(default_factory=list)
    gates: list[SeedGate] = field(default_factory=list)
    phase_history: list[SeedPhaseChange] = field(default_factory=list)
    status_reports: list[SeedStatusReport] = field(default_factory=list)  # oldest first
    raid: list[SeedRaid] = field(default_factory=list)
    milestones: list[SeedMilestone] = field(default_factory=list)
    approvals: list[SeedApproval] = field(default_factory=list)
    work_items: list[SeedWorkItem] = field(default_factory=list)
    team: list[str] = field(default_factory=list)  # e-mails
    planted: set[str] = field(default_factory=set)  # rule ids deliberately violated

    @property
    def record_key(self) -> str:
        """Key of the project's own record (number 1 of the project's numbering)."""
        return f"{self.key}-1"

    @property
    def active(self) -> bool:
        return self.state == "active"

    def gate(self, name: str) -> SeedGate | None:
        return next((g for g in self.gates if g.gate == name), None)

    @property
    def latest_report(self) -> SeedStatusReport | None:
        return self.status_reports[-1] if self.status_reports else None


@dataclass(slots=True)
class SeedHostile:
    project: str
    record: str  # record key
    field: str
    text: str


@dataclass
class SeedPortfolio:
    seed: int
    today: date
    departments: tuple[str, ...]
    people: dict[str, SeedPerson]  # by lower-cased e-mail
    projects: list[SeedProject]
    hostile: list[SeedHostile] = field(default_factory=list)

    def project(self, key: str) -> SeedProject:
        for p in self.projects:
            if p.key == key:
                return p
        raise KeyError(key)

    def people_with_role(self, role: str) -> list[SeedPerson]:
        return [p for p in self.people.values() if p.role == role]

    @property
    def work_item_count(self) -> int:
        return sum(len(p.work_items) for p in self.projects)

    def planted(self) -> dict[str, list[str]]:
        """Rule id -> keys of the projects where it was planted."""
        out: dict[str, list[str]] = {}
        for p in self.projects:
            for rule in sorted(p.planted):
                out.setdefault(rule, []).append(p.key)
        return out

    def compliant_projects(self) -> list[SeedProject]:
        return [p for p in self.projects if not p.planted]


# ---- vocabulary -------------------------------------------------------------------------------------------
_FIRST = (
    "Ann", "Ben", "Chloe", "David", "Elena", "Farid", "Grace", "Hiro", "Ines", "James", "Kavya", "Liam", "Maria",
    "Noah", "Olivia", "Pedro", "Quinn", "Rosa", "Samir", "Tara", "Umar", "Vera", "Wei", "Ximena", "Yusuf", "Zoë",
    "Aisha", "Bruno", "Carmen", "Dmitri", "Emma", "Felix", "Gita", "Hannah", "Ivan", "Julia", "Kofi", "Lena",
    "Mateo", "Nina", "Oscar", "Priya", "Rahul", "Sofia", "Tomás", "Uma", "Viktor", "Wen", "Yara", "José",
    "Siobhán", "Åsa", "Chidi", "Mei", "Lars", "Fatima", "Giulia", "Hamza", "Ingrid", "Jonas",
)
_LAST = (
    "Anderson", "Brown", "Chen", "Dubois", "Evans", "Fischer", "García", "Hughes", "Ivanova", "Jensen", "Kim",
    "Lopez", "Müller", "Nakamura", "O'Brien", "Patel", "Quintero", "Rossi", "Schmidt", "Tanaka", "Usman",
    "Varga", "Walsh", "Xu", "Yilmaz", "Zhang", "Ångström", "Núñez", "Okafor", "Kowalski", "Novak", "Haddad",
    "Murphy", "Silva", "Larsen", "Moreau", "Kaur", "Singh", "Costa", "Bianchi", "Ahmed", "Park", "Reid",
    "Santos", "Weber", "Lindqvist", "Mensah", "Romano", "Suzuki", "Wright",
)
_TIME_ZONES = (
    "Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "Europe/Berlin", "America/Chicago",
    "Asia/Singapore", "America/Los_Angeles", "Europe/Madrid", "Pacific/Auckland", "Africa/Johannesburg",
    "America/Sao_Paulo",
)
_CODENAMES = (
    "Apollo", "Bridge", "Cobalt", "Delta", "Ember", "Falcon", "Granite", "Harbor", "Iris", "Juniper", "Kestrel",
    "Lumen", "Meridian", "Nimbus", "Orion", "Pioneer", "Quartz", "Redwood", "Sierra", "Titan", "Unity", "Vector",
    "Willow", "Xenon", "Yukon", "Zephyr", "Atlas", "Beacon", "Cascade", "Dynamo", "Echo", "Fusion", "Galaxy",
    "Horizon", "Ignite", "Jasper", "Keystone", "Lighthouse", "Mosaic", "Nova", "Onyx", "Pulse", "Quest",
    "Radiant", "Summit", "Tundra", "Umbra", "Vortex", "Wave", "Zenith", "Aurora", "Basalt", "Comet", "Drift",
    "Equinox", "Fjord", "Glacier", "Helix", "Indigo", "Javelin", "Kite", "Lotus", "Magnet", "Nebula", "Opal",
    "Prism", "Raven", "Sapphire", "Tempest", "Uplift", "Vista", "Wren",
)
_DESCRIPTORS = {
    "IT": ("Cloud Migration", "Identity Platform", "Data Warehouse", "Service Desk Refresh", "Network Upgrade",
           "ERP Upgrade", "Endpoint Security", "API Gateway"),
    "Finance": ("Close Automation", "Procure-to-Pay", "Budgeting Tool", "Treasury System", "Expense Platform",
                "Tax Reporting"),
    "Operations": ("Warehouse Automation", "Fleet Telematics", "Supply Chain Visibility", "Facilities Consolidation",
                   "Quality System"),
    "HR": ("HRIS Replacement", "Payroll Consolidation", "Learning Platform", "Onboarding Portal", "Talent Analytics"),
    "Marketing": ("CRM Replacement", "Brand Refresh", "Web Replatform", "Customer Data Platform", "Loyalty Programme"),
    "Engineering": ("Test Rig Upgrade", "PLM Rollout", "Factory IoT", "CAD Migration", "Product Telemetry",
                    "Embedded Platform"),
}
_LABELS = ("backend", "frontend", "data", "security", "ux", "infra")
_TAGS = ("strategic", "regulatory", "cost-saving", "customer", "risk-reduction", "growth")
_MILESTONES = ("Requirements signed off", "Vendor selected", "Design approved", "Build complete", "Data migrated",
               "Pilot launched", "UAT complete", "Go-live", "Hypercare exit")
_VERBS = ("Implement", "Configure", "Migrate", "Document", "Review", "Automate", "Test", "Refactor", "Deploy",
          "Integrate", "Validate", "Design")
_OBJECTS = ("login flow", "invoice export", "supplier API", "reporting dashboard", "user roles", "data model",
            "nightly batch", "audit trail", "search index", "notification service", "approval workflow",
            "payment gateway", "SSO integration", "backup policy", "load balancer", "cost centre mapping",
            "onboarding checklist", "mobile layout", "GDPR consent form", "price list import")
_PERSONAS = ("project manager", "finance analyst", "warehouse operator", "customer", "HR partner", "sponsor",
             "support agent", "engineer")
_BUG_SYMPTOMS = ("times out under load", "shows wrong totals", "fails on empty input", "crashes on save",
                 "rejects valid dates", "loses filter on refresh", "sends duplicate e-mails", "rounds currency wrongly")
_RISKS = ("Key supplier may miss delivery date", "Data quality in legacy system lower than assumed",
          "Specialist resource may leave the project", "Regulatory change may alter scope",
          "Integration partner API not stable", "Budget cut in next financial year", "User adoption below target",
          "Licence costs may rise at renewal", "Security review may delay go-live",
          "Test environment availability limited")
_RESPONSES = ("Weekly supplier checkpoint and penalty clause", "Data cleansing sprint before migration",
              "Knowledge transfer and backup resource named", "Monitor consultation; scope buffer held",
              "Contract test suite against partner sandbox", "Phase scope so a cut defers, not cancels",
              "Change champions in every team", "Negotiate multi-year price cap",
              "Book security review early", "Reserve shared environment slots")
_ACTIONS = ("Confirm resource plan with line managers", "Agree revised delivery date with supplier",
            "Re-baseline the schedule with the PMO", "Run risk workshop with the core team",
            "Escalate licence negotiation to procurement", "Publish updated communications plan",
            "Complete data cleansing of customer records", "Book steering committee for scope decision")
_CONDITIONS = ("Submit updated benefits case", "Name a second technical lead", "Close open audit findings",
               "Agree data retention approach with Legal")


def _ascii_local(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    for day in (d.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _days(n: int) -> timedelta:
    return timedelta(days=n)


# ---- people -----------------------------------------------------------------------------------------------
class _People:
    """Generates unique people and the PM training roster."""

    def __init__(self, rng: random.Random, today: date):
        self.rng = rng
        self.today = today
        self.people: dict[str, SeedPerson] = {}
        combos = [(f, l) for f in _FIRST for l in _LAST]
        rng.shuffle(combos)
        self._names = iter(combos)

    def add(self, role: str, department: str | None, tz: str) -> SeedPerson:
        for first, last in self._names:
            email = f"{_ascii_local(first)}.{_ascii_local(last)}@example.com"
            if email not in self.people:
                person = SeedPerson(email=email, name=f"{first} {last}", role=role, department=department, time_zone=tz)
                self.people[email] = person
                return person
        raise ValueError("ran out of unique names")

    def training(self, months_ago: int, days_extra: int = 0) -> SeedTraining:
        done = _add_months(self.today, -months_ago) - _days(days_extra)
        return SeedTraining(TRAINING_COURSE, done, _add_months(done, TRAINING_VALID_MONTHS))


def _make_people(rng: random.Random, today: date, members: int) -> tuple[dict[str, SeedPerson], dict[str, list[str]]]:
    gen = _People(rng, today)
    pms = [gen.add("pm", DEPARTMENTS[i % len(DEPARTMENTS)], _TIME_ZONES[i % len(_TIME_ZONES)]) for i in range(12)]
    for i, pm in enumerate(pms[:8]):  # qualified: valid for 6+ more months
        if i in (0, 3):  # an older, expired certificate before the current one
            pm.trainings.append(gen.training(rng.randint(30, 40)))
        pm.trainings.append(gen.training(rng.randint(2, 17)))
    pms[8].trainings.append(gen.training(rng.randint(26, 40)))  # expired
    # pms[9]: never trained
    for pm in pms[10:12]:  # expires within 5-25 days
        completed = _add_months(today, -TRAINING_VALID_MONTHS) + _days(rng.randint(5, 25))
        pm.trainings.append(SeedTraining(TRAINING_COURSE, completed, _add_months(completed, TRAINING_VALID_MONTHS)))
    sponsors = [gen.add("sponsor", DEPARTMENTS[i % len(DEPARTMENTS)], _TIME_ZONES[(i + 3) % len(_TIME_ZONES)])
                for i in range(8)]
    pmo = [gen.add("pmo", "IT", "Europe/London"), gen.add("pmo", "Finance", "Europe/London")]
    team = [gen.add("member", DEPARTMENTS[i % len(DEPARTMENTS)], _TIME_ZONES[(i * 5) % len(_TIME_ZONES)])
            for i in range(members)]
    pools = {
        "qualified_pms": [p.email for p in pms[:8]],
        "unqualified_pms": [pms[8].email, pms[9].email],
        "expiring_pms": [p.email for p in pms[10:12]],
        "sponsors": [p.email for p in sponsors],
        "pmo": [p.email for p in pmo],
        "members": [p.email for p in team],
    }
    return gen.people, pools


# ---- keys and names ---------------------------------------------------------------------------------------
def _key_candidates(code: str, descriptor: str, rng: random.Random) -> Iterable[str]:
    c = code.upper()
    letters = "".join(ch for ch in c if "A" <= ch <= "Z")
    consonants = letters[0] + "".join(ch for ch in letters[1:] if ch not in "AEIOU")
    initials = "".join(w[0] for w in descriptor.split() if w[0].isalpha()).upper()
    yield from (letters[:4], consonants[:4], letters[:3] + initials[:1], consonants[:3] + initials[:1],
                letters[:3] + initials[:2], consonants[:3] + initials[:2], letters[:5], letters[:2] + initials[:2])
    while True:
        yield letters[:2] + "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(rng.randint(1, 3)))


# JQL words and names Jira refuses as project keys
_RESERVED_KEYS = {"AND", "OR", "NOT", "IN", "IS", "EMPTY", "NULL", "ORDER", "BY", "ASC", "DESC", "WAS", "CHANGED",
                  "AUX", "CON", "NUL", "PRN", "COM", "LPT"}


def _project_names(rng: random.Random, n: int) -> list[tuple[str, str, str]]:
    """(key, name, department) for n projects, keys unique, 3-5 uppercase letters."""
    codes = list(_CODENAMES)
    rng.shuffle(codes)
    used: set[str] = set()
    out = []
    for i in range(n):
        code = codes[i % len(codes)]
        dept = DEPARTMENTS[rng.randrange(len(DEPARTMENTS))]
        descriptor = rng.choice(_DESCRIPTORS[dept])
        for key in _key_candidates(code, descriptor, rng):
            if 3 <= len(key) <= 5 and key not in used and key not in _RESERVED_KEYS:
                used.add(key)
                break
        out.append((key, f"{code} {descriptor}", dept))
    return out


# ---- compliance plan --------------------------------------------------------------------------------------
def _state_of(index: int) -> str:
    if index % 12 == 5:
        return "closed"
    if index % 24 == 10:
        return "on_hold"
    return "active"


def _phases_for(rules: Iterable[str]) -> tuple[str, ...]:
    allowed = set(_ANY_ACTIVE)
    for r in rules:
        allowed &= set(_PLANT_PHASES.get(r, _ANY_ACTIVE))
    return tuple(p for p in _ANY_ACTIVE if p in allowed)


def _compatible(rules: list[str], extra: str) -> bool:
    if extra in rules:
        return False
    for group in _PLANT_GROUPS:
        if extra in group and any(r in group for r in rules):
            return False
    return bool(_phases_for([*rules, extra]))


def _plan(projects: int) -> dict[int, list[str]]:
    """Index -> planted rules. Odd indices of active projects violate; each gets two compatible rules."""
    violating = [i for i in range(projects) if i % 2 == 1 and _state_of(i) == "active"]
    plan = {i: [REQUIRED_PLANTS[j % len(REQUIRED_PLANTS)]] for j, i in enumerate(violating)}
    queue: list[str] = []
    for i in violating:  # one extra rule each: every extra once before any repeats, skipping incompatible ones
        if not queue:
            queue = list(EXTRA_PLANTS)
        extra = next((e for e in queue if _compatible(plan[i], e)), None)
        if extra is None:
            extra = next((e for e in EXTRA_PLANTS if _compatible(plan[i], e)), None)
        else:
            queue.remove(extra)
        if extra is not None:
            plan[i].append(extra)
    return plan


# ---- one project ------------------------------------------------------------------------------------------
@dataclass
class _Timeline:
    created: date
    start: date
    finish: date
    g0: date | None = None
    g1: date | None = None
    closing: date | None = None
    g2: date | None = None


class _Builder:
    """Builds one project compliant with the whole catalog, then applies its planted violations."""

    def __init__(self, index: int, seed: int, today: date, key: str, name: str, department: str, pools: dict,
                 rules: list[str], items: int):
        self.rng = random.Random(f"pmo-hub-seed:{seed}:{index}")
        self.today = today
        self.index = index
        self.key = key
        self.name = name
        self.department = department
        self.pools = pools
        self.rules = rules
        self.n_items = items
        self.state = _state_of(index)
        self.closed = self.state == "closed"
        self.unlinked_blockers: set[int] = set()
        self.links: list[tuple[SeedRaid, SeedWorkItem]] = []
        self._extra_created: list[date] = []

    # -- small helpers --
    def dt(self, d: date) -> datetime:
        """A timestamp on day d (UTC), millisecond precision."""
        r = self.rng
        return datetime.combine(d, time(tzinfo=UTC)) + timedelta(seconds=r.randrange(6 * 3600, 20 * 3600),
                                                                   milliseconds=r.randrange(1000))

    def between(self, a: date, b: date) -> date:
        if b <= a:
            return a
        return a + _days(self.rng.randint(0, (b - a).days))

    @property
    def yesterday(self) -> date:
        return self.today - _days(1)

    def member(self) -> str:
        return self.rng.choice(self.team)

    # -- build --
    def build(self) -> SeedProject:
        r, t = self.rng, self.today
        if self.closed:
            build_phase = "Closing"
        elif self.rules:
            build_phase = r.choice(_phases_for(self.rules))
        else:
            build_phase = r.choices(("Initiation", "Planning", "Execution", "Closing"), (15, 20, 50, 15))[0]
            if self.state == "on_hold":
                build_phase = "Execution"
        self.phase = build_phase
        if "TRAIN-01" in self.rules:
            pm = r.choice(self.pools["unqualified_pms"])
        elif "TRAIN-02" in self.rules:
            pm = r.choice(self.pools["expiring_pms"])
        else:
            pm = self.pools["qualified_pms"][self.index % len(self.pools["qualified_pms"])]
        self.pm = pm
        self.sponsor = self.pools["sponsors"][self.index % len(self.pools["sponsors"])]
        self.pmo = self.pools["pmo"][self.index % len(self.pools["pmo"])]
        self.team = r.sample(self.pools["members"], k=min(len(self.pools["members"]), r.randint(3, 8)))
        self.tl = self._timeline()
        budget = float(round(r.uniform(60_000, 4_800_000), -3))
        p = self._build_project(budget)
        self.p = p
        p.gates = self._gates()
        p.phase_history = self._phase_history()
        p.status_reports = self._reports()
        p.raid = self._raid()
        p.milestones = self._milestones()
        p.approvals = self._approvals()
        p.work_items = self._work_items()
        for rule in self.rules:
            getattr(self, "_plant_" + rule.replace("-", "_"))()
            p.planted.add(rule)
        self._link_open_blockers()
        self._number()
        earliest = min([p.created.date(), *(rp.report_date for rp in p.status_reports), *self._extra_created,
                        *(x.raised_on for x in p.raid), *(a.requested_on for a in p.approvals)])
        if earliest <= p.created.date():
            p.created = self.dt(earliest - _days(2))
            p.phase_history[0].at = p.created
        return p

    def _timeline(self) -> _Timeline:
        r, t, phase = self.rng, self.today, self.phase
        dur = r.randint(150, 420)
        if self.closed:
            g2 = t - _days(r.randint(20, 200))
            closing = g2 - _days(r.randint(10, 40))
            g1 = closing - _days(r.randint(90, 300))
            g0 = g1 - _days(r.randint(20, 70))
            return _Timeline(g0 - _days(r.randint(15, 45)), g0, closing + _days(r.randint(0, 9)), g0, g1, closing, g2)
        if phase == "Closing":
            closing = t - _days(r.randint(3, 25))
            g1 = closing - _days(r.randint(90, 300))
            g0 = g1 - _days(r.randint(20, 70))
            return _Timeline(g0 - _days(r.randint(15, 45)), g0, t + _days(r.randint(10, 40)), g0, g1, closing)
        if phase == "Execution":
            g1 = t - _days(r.randint(20, 300))
            g0 = g1 - _days(r.randint(20, 70))
            return _Timeline(g0 - _days(r.randint(15, 45)), g0, t + _days(r.randint(30, 360)), g0, g1)
        if phase == "Planning":
            g0 = t - _days(r.randint(15, 90))
            return _Timeline(g0 - _days(r.randint(15, 45)), g0, g0 + _days(dur), g0)
        start = t + _days(r.randint(15, 60))
        return _Timeline(t - _days(r.randint(20, 50)), start, start + _days(dur))

    def _build_project(self, budget: float) -> SeedProject:
        r, t, tl = self.rng, self.today, self.tl
        phase = self.phase
        if phase == "Initiation":
            if r.random() < 0.5:
                sub = tl.created + _days(r.randint(2, 5))
                init = SeedInitiation("approved", sub, min(sub + _days(r.randint(2, 8)), self.yesterday), self.pmo)
            else:
                init = SeedInitiation("submitted", t - _days(r.randint(1, 6)))
            progress = 0.0
        else:
            sub = tl.created + _days(r.randint(2, 5))
            init = SeedInitiation("approved", sub, sub + _days(r.randint(2, 8)), self.pmo)
            if self.closed:
                progress = r.uniform(0.93, 1.0)
            elif phase == "Closing":
                progress = r.uniform(0.9, 0.98)
            elif phase == "Planning":
                progress = r.uniform(0.03, 0.12)
            else:
                elapsed = (t - tl.start).days / max(1, (tl.finish - tl.start).days)
                progress = min(0.95, max(0.05, elapsed)) * r.uniform(0.85, 1.0)
        actual = float(round(budget * progress, -2))
        forecast = actual if self.closed else max(actual, float(round(budget * r.uniform(0.9, 0.995), -2)))
        forecast = min(forecast, budget)
        fte = float(r.choice((2, 3, 4, 5, 6, 8, 10, 12)))
        assigned = min(fte, 1.0) if phase == "Initiation" else max(0.5, fte - r.choice((0, 0, 0.5, 1)))
        baseline = None
        if tl.g1 is not None:
            baseline = SeedBaseline(tl.start, tl.finish, budget)
        forecast_finish = tl.finish - _days(r.randint(0, 7)) if not self.closed else tl.closing or tl.finish
        return SeedProject(
            key=self.key, name=self.name,
            description=f"{self.name}: a {self.department} initiative to deliver the {self.name.split(' ', 1)[1]} "
                        f"with measurable benefits within the approved budget.",
            department=self.department, pm=self.pm, sponsor=self.sponsor,
            phase="Closing" if self.closed else phase, state=self.state, created=self.dt(tl.created),
            initiation=init, budget_approved=budget, actual_cost=actual, forecast_cost=forecast, fte_approved=fte,
            fte_assigned=assigned, planned_start=tl.start, planned_finish=tl.finish, forecast_finish=forecast_finish,
            baseline=baseline, tags=sorted(set(r.sample(_TAGS, k=r.randint(1, 2)))), team=list(self.team),
        )

    def _gates(self) -> list[SeedGate]:
        r, t, tl = self.rng, self.today, self.tl
        gates = []
        if tl.g0 is None:
            gates.append(SeedGate("", "G0", "pending", None, None, t + _days(r.randint(5, 14))))
            return gates
        gates.append(SeedGate("", "G0", "approved", self.sponsor, tl.g0, tl.g0 - _days(r.randint(0, 4))))
        if tl.g1 is None:
            gates.append(SeedGate("", "G1", "pending", None, None, t + _days(r.randint(7, 45))))
            return gates
        g1 = SeedGate("", "G1", "approved", self.pmo, tl.g1, tl.g1 - _days(r.randint(0, 4)))
        if r.random() < 0.25:
            g1.decision = "conditional"
            for text in r.sample(_CONDITIONS, k=r.randint(1, 2)):
                if r.random() < 0.5:
                    g1.conditions.append(SeedCondition(text, tl.g1 + _days(r.randint(10, 30)), True))
                else:
                    g1.conditions.append(SeedCondition(text, t + _days(r.randint(5, 30)), False))
        gates.append(g1)
        if tl.g2 is not None:
            gates.append(SeedGate("", "G2", "approved", self.sponsor, tl.g2, tl.g2 - _days(r.randint(0, 4))))
        else:
            gates.append(SeedGate("", "G2", "pending", None, None, max(tl.finish, t) + _days(r.randint(7, 21))))
        return gates

    def _phase_history(self) -> list[SeedPhaseChange]:
        tl = self.tl
        hist = [SeedPhaseChange(self.dt(tl.created), None, "Initiation", self.pm)]
        for d, a, b in ((tl.g0, "Initiation", "Planning"), (tl.g1, "Planning", "Execution"),
                        (tl.closing, "Execution", "Closing")):
            if d is not None:
                hist.append(SeedPhaseChange(self.dt(d), a, b, self.pm))
        return hist

    # -- status reports --
    def _summary(self, rag: str) -> str:
        r = self.rng
        done = r.choice(("Design workshops completed", "Supplier onboarding finished", "Sprint goals met",
                         "Data migration rehearsal passed", "Steering committee approved scope"))
        nxt = r.choice(("Next: start integration testing.", "Next: prepare pilot rollout.",
                        "Next: finalise training material.", "Next: close remaining design questions."))
        if rag == "green":
            return f"{done}. On track against plan. {nxt}"
        problem = r.choice(("Supplier delivery is two weeks late", "Key developer on unplanned leave",
                            "Test defects above forecast", "Licence costs higher than estimated"))
        recovery = r.choice(("re-sequence work and add a contractor for four weeks",
                             "agree revised delivery date and apply contract penalties",
                             "triage defects daily with the vendor", "negotiate price cap with procurement"))
        return f"{problem}. Recovery plan: {recovery}. {nxt}"

    def _actions(self, report_date: date, n: int) -> list[SeedAction]:
        r = self.rng
        return [SeedAction(text, r.choice((self.pm, self.member())), report_date + _days(r.randint(5, 21)))
                for text in r.sample(_ACTIONS, k=n)]

    def _report(self, d: date, worst: str = "green", dimension: str | None = None) -> SeedStatusReport:
        r = self.rng
        rag = {"schedule": "green", "cost": "green", "scope": "green"}
        if worst != "green":
            rag[dimension or r.choice(tuple(rag))] = worst
        actions = self._actions(d, r.randint(1, 2) if worst != "green" else r.randint(0, 1))
        return SeedStatusReport("", d, worst, rag["schedule"], rag["cost"], rag["scope"], self._summary(worst),
                                actions, self.pm)

    def _reports(self) -> list[SeedStatusReport]:
        r, t, tl = self.rng, self.today, self.tl
        cadence = r.choice((7, 14))
        latest = (tl.g2 - _days(r.randint(0, 5))) if self.closed else t - _days(r.randint(1, 6))
        dates = sorted(latest - _days(cadence * k) for k in range(r.randint(2, 6)))
        return [self._report(d, "amber" if (not self.closed and r.random() < 0.25) else "green") for d in dates]

    def _report_attention(self, dimension: str) -> None:
        """Latest report red on `dimension` with narrative and actions; the one before amber (never two reds)."""
        reports = self.p.status_reports
        reports[-1] = self._report(reports[-1].report_date, "red", dimension)
        if len(reports) > 1:
            reports[-2] = self._report(reports[-2].report_date, "amber", dimension)

    # -- RAID --
    def _risk(self, p: int, i: int, *, owner: str | None = "", response: str | None = "", due: date | None = None,
              status: str = "open", raised: date | None = None, reviewed: date | None = None) -> SeedRaid:
        r, t = self.rng, self.today
        k = r.randrange(len(_RISKS))
        raised = raised or self.between(self.tl.created, self.yesterday)
        reviewed = reviewed or max(raised, t - _days(r.randint(1, 20)))
        escalated = p * i >= 15
        return SeedRaid(
            key="", kind="risk", title=_RISKS[k], probability=p, impact=i, severity=None,
            owner=(owner if owner != "" else r.choice((self.pm, self.member()))),
            response=(response if response != "" else _RESPONSES[k]),
            due=due or t + _days(r.randint(7, 60)), status=status, raised_on=raised, last_reviewed=reviewed,
            escalated=escalated,
            escalated_on=min(raised + _days(r.randint(0, 3)), self.yesterday) if escalated else None,
        )

    def _raid(self) -> list[SeedRaid]:
        r, t = self.rng, self.today
        out = []
        for _ in range(r.randint(2, 6)):
            if r.random() < 0.2:  # closed risk, any score
                raised = self.between(self.tl.created, self.yesterday)
                out.append(self._risk(r.randint(1, 5), r.randint(1, 5), status="closed", raised=raised,
                                      reviewed=self.between(raised, self.yesterday)))
                continue
            while True:  # open risks of compliant data stay at or below 12 ("high", never critical)
                p, i = r.randint(1, 5), r.randint(1, 5)
                if p * i <= 12:
                    break
            out.append(self._risk(p, i, status="closed" if self.closed else "open"))
        for _ in range(r.randint(0, 2)):
            raised = self.between(self.tl.created, self.yesterday)
            closed = self.closed or r.random() < 0.4
            out.append(SeedRaid(
                key="", kind="action", title=r.choice(_ACTIONS), probability=None, impact=None, severity=None,
                owner=r.choice((self.pm, self.member())), response=None,
                due=(self.between(raised, self.yesterday) if closed else t + _days(r.randint(3, 30))),
                status="closed" if closed else "open", raised_on=raised,
                last_reviewed=max(raised, t - _days(r.randint(1, 10))),
            ))
        return out

    def _link_open_blockers(self) -> None:
        """Every open Blocker of the project gets a RAID issue naming it (unless RISK-06 is planted on it)."""
        t, r = self.today, self.rng
        for idx, item in enumerate(self.p.work_items):
            if item.priority == "Blocker" and item.status_category != "done" and idx not in self.unlinked_blockers:
                raid = SeedRaid(
                    key="", kind="issue", title=f"Blocker: {item.summary}"[:120], probability=None, impact=None,
                    severity="high", owner=self.pm, response="Daily stand-up on the blocker until resolved",
                    due=t + _days(r.randint(3, 14)), status="open", raised_on=item.created.date(),
                    last_reviewed=max(item.created.date(), t - _days(r.randint(1, 5))),
                )
                self.p.raid.append(raid)
                self.links.append((raid, item))

    # -- milestones and approvals --
    def _milestones(self) -> list[SeedMilestone]:
        r, t, tl = self.rng, self.today, self.tl
        n = r.randint(3, 6)
        names = sorted(r.sample(_MILESTONES, k=n), key=_MILESTONES.index)
        span = max(1, (tl.finish - tl.start).days)
        out = []
        for k, name in enumerate(names):
            planned = tl.start + _days(int(span * (k + 1) / (n + 1)))
            if planned < t:
                done = max(tl.start, planned - _days(r.randint(0, 5)))
                out.append(SeedMilestone("", name, planned, planned, min(done, self.yesterday)))
            else:
                out.append(SeedMilestone("", name, planned, planned - _days(r.randint(0, 3)) if planned - _days(3) >= t
                                         else planned, None))
        return out

    def _approval(self, kind: str, status: str, requested: date, decided: date | None) -> SeedApproval:
        r = self.rng
        budget = self.p.budget_approved
        amount = float(round(budget * r.uniform(0.02, 0.1), -3)) if kind != "resource" else None
        fte = float(r.randint(1, 3)) if kind == "resource" else None
        title = {
            "budget": "Additional budget for vendor support",
            "resource": "Additional business analyst",
            "infrastructure": "Production environment capacity",
            "change_request": "Scope change: extra reporting module",
        }[kind]
        return SeedApproval("", kind, status, title, requested, decided, amount, fte,
                            self.sponsor if decided or status == "pending" else None, self.pm)

    def _approvals(self) -> list[SeedApproval]:
        r, t, tl = self.rng, self.today, self.tl
        out = []
        for _ in range(r.randint(1, 3)):
            kind = r.choice(("budget", "resource", "infrastructure", "change_request"))
            roll = r.random()
            if roll < 0.15 and not self.closed:
                out.append(self._approval(kind, "pending", t - _days(r.randint(1, 5)), None))
                continue
            requested = self.between(tl.created, max(tl.created, t - _days(12)))
            decided = min(requested + _days(r.randint(2, 10)), self.yesterday)
            out.append(self._approval(kind, "rejected" if roll < 0.3 else "approved", requested, decided))
        return out

    # -- work items --
    def _status_weights(self) -> tuple[tuple[str, ...], tuple[float, ...]]:
        statuses = ("To Do", "In Progress", "In Review", "Done")
        if self.closed:
            return statuses, (0, 0, 0, 1)
        if self.phase == "Initiation":
            if self.p.initiation.status == "approved":
                return statuses, (0.9, 0.1, 0, 0)
            return statuses, (1, 0, 0, 0)
        if self.phase == "Planning":
            return statuses, (0.7, 0.2, 0.05, 0.05)
        if self.phase == "Closing":
            return statuses, (0, 0.04, 0.06, 0.9)
        tl = self.tl
        frac = min(0.95, max(0.05, (self.today - tl.start).days / max(1, (tl.finish - tl.start).days)))
        done = frac * 0.8
        return statuses, (max(0.0, 1 - done - 0.2), 0.15, 0.05, done)

    def _work_items(self) -> list[SeedWorkItem]:
        r = self.rng
        statuses, weights = self._status_weights()
        cum_status = _cumulative(weights)
        cum_type = _cumulative((0.40, 0.35, 0.18, 0.07))
        cum_prio = _cumulative((0.01, 0.04, 0.2, 0.5, 0.2, 0.05))
        start = datetime.combine(self.p.created.date(), time(tzinfo=UTC))
        end = datetime.combine(self.yesterday, time(23, 59, 59, tzinfo=UTC))
        if end <= start:
            end = start + timedelta(hours=20)
        span = (end - start).total_seconds()
        team, pm = self.team, self.pm
        out: list[SeedWorkItem] = []
        parents: list[int] = []
        random_ = r.random
        for n in range(self.n_items):
            kind = WORK_ITEM_TYPES[_pick(cum_type, random_())]
            status = statuses[_pick(cum_status, random_())]
            created = start + timedelta(seconds=int(random_() * span), milliseconds=int(random_() * 1000))
            updated = created + timedelta(seconds=int(random_() * (end - created).total_seconds()),
                                          milliseconds=int(random_() * 1000))
            parent = None
            if kind == "Sub-task":
                if parents:
                    parent = parents[int(random_() * len(parents))]
                else:
                    kind = "Task"
            if kind == "Story":
                summary = f"As a {r.choice(_PERSONAS)}, I can use the {r.choice(_OBJECTS)}"
            elif kind == "Bug":
                summary = f"{r.choice(_OBJECTS).capitalize()} {r.choice(_BUG_SYMPTOMS)}"
            else:
                summary = f"{r.choice(_VERBS)} {r.choice(_OBJECTS)}"
            item = SeedWorkItem(
                key=str(parent) if parent is not None else "",  # parent index until numbered
                summary=summary, type=kind, status=status, status_category=STATUS_CATEGORY[status],
                priority=PRIORITIES[_pick(cum_prio, random_())],
                assignee=(team[int(random_() * len(team))] if random_() < 0.85 else None), reporter=pm,
                created=created, updated=updated,
                due=(created.date() + _days(7 + int(random_() * 54))) if random_() < 0.5 else None,
                resolved=updated if status == "Done" else None,
                labels=(r.choice(_LABELS),) if random_() < 0.2 else (),
            )
            if kind in ("Story", "Task"):
                parents.append(n)
            out.append(item)
        return out

    def _set_status(self, item: SeedWorkItem, status: str) -> None:
        item.status, item.status_category = status, STATUS_CATEGORY[status]
        item.resolved = item.updated if status == "Done" else None

    # -- numbering --
    def _number(self) -> None:
        p, k = self.p, self.key
        n = 2
        for rec in (*p.gates, *p.status_reports, *p.raid, *p.milestones, *p.approvals):
            rec.key = f"{k}-{n}"
            n += 1
        items = p.work_items
        parent_idx = [int(it.key) if it.key else None for it in items]
        for idx, it in enumerate(items):
            it.key = f"{k}-{n + idx}"
        for idx, it in enumerate(items):
            if parent_idx[idx] is not None:
                it.parent = items[parent_idx[idx]].key
        for raid, item in self.links:
            raid.linked_item = item.key

    # -- planted violations (each touches only what its rule reads) --
    def _plant_INIT_01(self) -> None:
        r, t, p = self.rng, self.today, self.p
        status = r.choice(("draft", "submitted", "rejected"))
        if status == "draft":
            p.initiation = SeedInitiation("draft")
        elif status == "submitted":
            p.initiation = SeedInitiation("submitted", t - _days(r.randint(1, 5)))
        else:
            sub = self.between(self.tl.created, t - _days(6))
            p.initiation = SeedInitiation("rejected", sub, min(sub + _days(3), self.yesterday), self.pmo)
        for item in p.work_items[: max(1, len(p.work_items) // 8)]:
            self._set_status(item, r.choice(("In Progress", "Done")))
        p.actual_cost = float(round(p.budget_approved * r.uniform(0.01, 0.04), -2))

    def _plant_INIT_04(self) -> None:
        r, t, p = self.rng, self.today, self.p
        sub = t - _days(r.randint(18, 35))
        p.initiation = SeedInitiation("submitted", sub)
        self._extra_created.append(sub)
        for item in p.work_items:
            self._set_status(item, "To Do")
        p.actual_cost = 0.0

    def _plant_TRAIN_01(self) -> None:  # PM chosen in build()
        pass

    def _plant_TRAIN_02(self) -> None:  # PM chosen in build()
        pass

    def _plant_STAT_01(self) -> None:
        r, t = self.rng, self.today
        reports = self.p.status_reports
        shift = (reports[-1].report_date - (t - _days(r.randint(18, 40)))).days
        for rep in reports:
            rep.report_date -= _days(shift)
            for a in rep.actions:
                a.due = a.due - _days(shift) if a.due else None

    def _plant_STAT_02(self) -> None:
        reports = self.p.status_reports
        reports[-1] = latest = self._report(reports[-1].report_date, "green")  # green: no STAT-04 on top
        variant = self.rng.randrange(3)
        if variant == 0:
            latest.scope = None
        elif variant == 1:
            latest.summary = None
        else:
            latest.cost = latest.schedule = None

    def _plant_STAT_03(self) -> None:
        self._plant_VAR_04(report=False)
        self.p.planted.add("VAR-04")
        latest = self.p.status_reports[-1]
        latest.overall = latest.schedule = latest.cost = latest.scope = "green"
        latest.summary = self._summary("green")

    def _plant_STAT_04(self) -> None:
        latest = self.p.status_reports[-1]
        latest.overall = latest.schedule = "amber"
        latest.summary = self._summary("amber")
        latest.actions = []

    def _plant_STAT_05(self) -> None:
        reports = self.p.status_reports
        for rep in reports[-2:]:
            new = self._report(rep.report_date, "red", "schedule")
            reports[reports.index(rep)] = new

    def _plant_APPR_01(self) -> None:
        r, p = self.rng, self.p
        p.forecast_cost = float(round(p.budget_approved * r.uniform(1.01, 1.04), -2))
        for earlier in p.approvals:  # no approved money request may cover the overrun
            if earlier.kind in ("budget", "change_request") and earlier.status == "approved":
                earlier.status = "rejected"
        requested = self.between(self.tl.created, self.today - _days(12))
        cr = self._approval("change_request", "rejected", requested, min(requested + _days(5), self.yesterday))
        cr.amount = float(round(p.forecast_cost - p.budget_approved + 1000, -3))
        cr.title = "Budget increase for extended vendor support"
        p.approvals.append(cr)
        latest = p.status_reports[-1]
        p.status_reports[-1] = self._report(latest.report_date, "amber", "cost")

    def _plant_APPR_02(self) -> None:
        self.p.fte_assigned = self.p.fte_approved + self.rng.choice((1.0, 2.0, 3.0))

    def _plant_APPR_03(self) -> None:
        r = self.rng
        kind = r.choice(("resource", "infrastructure", "budget"))
        requested = self.today - _days(r.randint(20, 40))
        self._extra_created.append(requested)
        self.p.approvals.append(self._approval(kind, "pending", requested, None))

    def _plant_RISK_01(self) -> None:
        p, i = self.rng.choice(((3, 4), (4, 3)))
        self.p.raid.append(self._risk(p, i, owner=None))

    def _plant_RISK_02(self) -> None:
        p, i = self.rng.choice(((3, 4), (4, 3)))
        risk = self._risk(p, i, response=None)
        if self.rng.random() < 0.5:
            risk.due = None
        self.p.raid.append(risk)

    def _plant_RISK_03(self) -> None:
        r, t = self.rng, self.today
        reviewed = t - _days(r.randint(40, 90))
        self.p.raid.append(self._risk(2, r.randint(1, 4), raised=reviewed - _days(r.randint(0, 20)), reviewed=reviewed))

    def _plant_RISK_04(self) -> None:
        r, t = self.rng, self.today
        raised = t - _days(r.randint(10, 40))
        risk = self._risk(5, r.choice((4, 5)), raised=raised)
        risk.escalated, risk.escalated_on = False, None
        self.p.raid.append(risk)
        self._report_attention("scope")

    def _plant_RISK_05(self) -> None:
        r, t = self.rng, self.today
        due = t - _days(r.randint(5, 30))
        raised = due - _days(r.randint(10, 30))
        self.p.raid.append(SeedRaid(
            key="", kind="action", title=r.choice(_ACTIONS), probability=None, impact=None, severity=None,
            owner=self.pm, response=None, due=due, status="open", raised_on=raised,
            last_reviewed=t - _days(r.randint(1, 10)),
        ))

    def _plant_RISK_06(self) -> None:
        r, t, p = self.rng, self.today, self.p
        if not p.work_items:  # nothing to block: make one
            self.n_items = 1
            p.work_items = self._work_items()[:1]
        item = p.work_items[0]
        item.priority = "Blocker"
        item.created = self.dt(t - _days(r.randint(8, 30)))
        item.updated = self.dt(self.between(item.created.date(), self.yesterday))
        if item.updated <= item.created:
            item.updated = item.created + timedelta(minutes=5)
        self._set_status(item, "In Progress")
        self.unlinked_blockers.add(0)

    def _plant_GATE_01(self) -> None:
        p = self.p
        gate = "G0" if self.phase == "Planning" else "G1"
        g = p.gate(gate)
        if self.rng.random() < 0.5:
            p.gates.remove(g)
        else:
            g.decision, g.conditions = "rejected", []

    def _plant_GATE_02(self) -> None:
        g0 = self.p.gate("G0")
        if self.rng.random() < 0.5:
            g0.approver = None
        else:
            g0.decided_on = None

    def _plant_GATE_03(self) -> None:
        g1 = self.p.gate("G1")
        g1.planned_on = self.today - _days(self.rng.randint(5, 25))

    def _plant_GATE_04(self) -> None:
        r, t = self.rng, self.today
        g1 = self.p.gate("G1")
        g1.decision = "conditional"
        g1.conditions = [SeedCondition(r.choice(_CONDITIONS), t - _days(r.randint(5, 20)), False)]

    def _plant_GATE_05(self) -> None:
        r, t, p = self.rng, self.today, self.p
        back = t - _days(r.randint(3, 15))
        back = max(back, self.tl.g1 + _days(1))
        p.phase = "Planning"
        p.phase_history.append(SeedPhaseChange(self.dt(back), "Execution", "Planning", self.pm))

    def _plant_VAR_01(self) -> None:
        self.p.baseline = None

    def _plant_VAR_02(self) -> None:
        p = self.p
        b = p.baseline
        duration = (b.finish - b.start).days
        p.forecast_finish = b.finish + _days(int(duration * self.rng.uniform(0.12, 0.25)) + 1)
        self._report_attention("schedule")

    def _plant_VAR_03(self) -> None:
        r, p = self.rng, self.p
        p.forecast_cost = float(round(p.budget_approved * r.uniform(1.12, 1.25), -2))
        decided = self.today - _days(r.randint(5, 30))
        cr = self._approval("change_request", "approved", decided - _days(r.randint(3, 10)), decided)
        cr.amount = float(round(p.forecast_cost - p.budget_approved + 1000, -3))
        cr.title = "Scope change: additional integration work"
        p.approvals.append(cr)
        self._report_attention("cost")

    def _plant_VAR_04(self, report: bool = True) -> None:
        r, t = self.rng, self.today
        future = [m for m in self.p.milestones if m.done_on is None]
        m = future[0] if future else SeedMilestone("", "Go-live", t, None, None)
        if not future:
            self.p.milestones.append(m)
        m.planned = max(self.tl.start, t - _days(r.randint(5, 30)))
        m.forecast = t + _days(r.randint(5, 30))
        m.done_on = None
        if report:
            self._report_attention("schedule")


def _cumulative(weights: tuple[float, ...]) -> list[float]:
    total = sum(weights)
    acc, out = 0.0, []
    for w in weights:
        acc += w / total
        out.append(acc)
    out[-1] = 1.0
    return out


def _pick(cum: list[float], x: float) -> int:
    for i, c in enumerate(cum):
        if x < c:
            return i
    return len(cum) - 1


# ---- hostile text -----------------------------------------------------------------------------------------
HOSTILE_FORMULA = '=HYPERLINK("https://evil.example/phish","Click for bonus")'
HOSTILE_HTML = "<img src=x onerror=alert(1)>"
HOSTILE_UNICODE = "Ünïcödé – مرحبا بالعالم \u202eRTL override\u202c – 日本語テキスト – 🚀"
HOSTILE_RISK = "=cmd|' /C calc'!A0 supplier risk"
HOSTILE_REPORT = '<script>alert("pmo")</script> & "quoted" \'text\' – '


def _plant_hostile(projects: list[SeedProject]) -> list[SeedHostile]:
    out: list[SeedHostile] = []
    texts = (HOSTILE_FORMULA, HOSTILE_HTML, HOSTILE_UNICODE)
    for n, text in enumerate(texts):
        if not projects:
            break
        p = projects[min(n, len(projects) - 1)]
        if len(p.work_items) > n:
            item = p.work_items[n]
            item.summary = text
            out.append(SeedHostile(p.key, item.key, "summary", text))
    if projects:
        p = projects[0]
        risk = next((x for x in p.raid if x.kind == "risk"), None)
        if risk is not None:
            risk.title = HOSTILE_RISK
            out.append(SeedHostile(p.key, risk.key, "title", HOSTILE_RISK))
        rep = p.status_reports[-1]
        if rep.summary:
            rep.summary = HOSTILE_REPORT + rep.summary
            out.append(SeedHostile(p.key, rep.key, "summary", rep.summary))
    return out


# ---- entry point ------------------------------------------------------------------------------------------
def generate(*, seed: int = 7, today: date | None = None, projects: int = 48,
             items_per_project: int = 80) -> SeedPortfolio:
    """Generate the portfolio. 1000 x 100 (100,000 work items) takes a few seconds."""
    if projects < 0 or items_per_project < 0:
        raise ValueError("projects and items_per_project must be >= 0")
    today = today or date.today()
    rng = random.Random(f"pmo-hub-seed:{seed}:people")
    people, pools = _make_people(rng, today, members=TEAM_MEMBERS)
    names = _project_names(random.Random(f"pmo-hub-seed:{seed}:names"), projects)
    plan = _plan(projects)
    out = [
        _Builder(i, seed, today, key, name, dept, pools, plan.get(i, []), items_per_project).build()
        for i, (key, name, dept) in enumerate(names)
    ]
    portfolio = SeedPortfolio(seed=seed, today=today, departments=DEPARTMENTS, people=people, projects=out)
    portfolio.hostile = _plant_hostile(out)
    return portfolio
