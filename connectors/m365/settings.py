"""Configuration of the Microsoft 365 connector: the `[m365]` config section and the `mappings/m365.toml` mapping.

`M365Settings` is the `[m365]` section of the hub config (`hub.config.Config.m365`): which tenant and app
registration, where the secret or certificate is (never the value itself), the login and Graph hosts (national
clouds, the sandbox), the SharePoint site, the Planner groups, the budget workbook, and what to write back.
`M365Mapping` is the data file naming SharePoint lists and columns by their *display names* (what people see;
the connector resolves them to internal names through `GET .../columns`), the Planner conventions and the
workbook's header names. Both reject unknown keys; an unknown list or column name fails the first pull with the
names the site has.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hub.errors import ConfigError

PARTS = ("register", "raid", "status_reports", "approvals", "planner", "finance")
PUBLIC_LOGIN = "login.microsoftonline.com"
PUBLIC_GRAPH = "https://graph.microsoft.com"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class M365Writeback(_Section):
    fields: bool = True  # the register's hub-owned governance columns (mapping [governance])
    planner: bool = True  # the title of each plan's hub-owned task (mapping planner.governance_task)
    teams_team_id: str | None = None  # post changed status summaries to this team's channel ...
    teams_channel_id: str | None = None  # ... (both or neither)
    mail_to: str | None = None  # mail changed status summaries to this address ...
    mail_from: str | None = None  # ... from this mailbox (UPN or user id; the app needs Mail.Send)
    results_list: bool = False  # keep the consolidated results in the mapping's [results] list, item by item

    @model_validator(mode="after")
    def _pairs(self) -> "M365Writeback":
        if bool(self.teams_team_id) != bool(self.teams_channel_id):
            raise ValueError("set both teams_team_id and teams_channel_id, or neither")
        if bool(self.mail_to) != bool(self.mail_from):
            raise ValueError("set both mail_to and mail_from (the mailbox that sends), or neither")
        for name in ("mail_to", "mail_from"):
            v = getattr(self, name)
            if v and "@" not in v and not _GUID.match(v):
                raise ValueError(f"{name} = {v!r} is not an e-mail address (or, for mail_from, a user id)")
        return self


class M365Publish(_Section):
    """`[m365.publish]`: messages a report run sends (`pmo-hub report --publish`, scheduled report jobs), each
    only when its text differs from the last one sent to the same recipient."""

    mail_from: str | None = None  # the mailbox that sends; default m365.writeback.mail_from
    executive_mail_to: list[str] = Field(default_factory=list)  # the executive summary, by mail, to these
    executive_teams: bool = False  # ... and/or to the m365.writeback Teams channel
    pm_digests: bool = False  # each PM (by the e-mail the sources give) their projects' open violations

    @model_validator(mode="after")
    def _addresses(self) -> "M365Publish":
        for v in ([self.mail_from] if self.mail_from else []) + self.executive_mail_to:
            if "@" not in v and not _GUID.match(v):
                raise ValueError(f"{v!r} is not an e-mail address")
        return self

    @property
    def active(self) -> bool:
        return bool(self.executive_mail_to or self.executive_teams or self.pm_digests)


class M365Settings(_Section):
    """`[m365]`: see config.example.toml for a commented example."""

    enabled: bool = True
    tenant_id: str  # the directory (tenant) id or its verified domain; never "common"/"organizations"
    client_id: str  # the app registration's application (client) id
    # "app": app-only client credentials (a secret or a certificate); "device_code": a person signs in once
    # (delegated; `delegated_scopes`), e.g. where app-only posting to Teams is not allowed
    auth: Literal["app", "device_code"] = "app"
    # default: what `pull` and the write-back need and no more (`least_scopes`; README, least privilege)
    delegated_scopes: list[str] = Field(default_factory=list)
    client_secret_env: str | None = "PMO_HUB_M365_SECRET"
    client_secret_file: str | None = None
    certificate_file: str | None = None  # PEM holding the private key and its certificate (instead of a secret)
    certificate_password_env: str | None = None  # when the private key in certificate_file is encrypted
    login_host: str = PUBLIC_LOGIN  # login.microsoftonline.us, login.chinacloudapi.cn, or the sandbox host:port
    graph_url: str = PUBLIC_GRAPH  # https://graph.microsoft.us, https://microsoftgraph.chinacloudapi.cn, ...
    ca_file: str | None = None  # extra CA bundle to verify the hosts with (the sandbox's throw-away CA)
    tls_insecure_hosts: list[str] = Field(default_factory=list)  # hosts NOT verified (logged as a warning every run)
    token_cache_file: str | None = None  # default: m365-token-cache.json beside the state database
    site: str  # "contoso.sharepoint.com:/sites/PMO" or a site id ("host,collection-guid,web-guid")
    site_timezone: str | None = None  # the site's regional time zone (date-only columns); default hub.timezone
    planner_group_ids: list[str] = Field(default_factory=list)  # Microsoft 365 groups whose plans are projects
    workbook_path: str | None = None  # the budget workbook in the site's default library, e.g. "Finance/Budget.xlsx"
    pull: list[Literal["register", "raid", "status_reports", "approvals", "planner", "finance"]] = \
        Field(default_factory=lambda: list(PARTS))
    mapping: str = "m365.toml"
    page_size: int = Field(5000, ge=1, le=5000)  # list items per page: SharePoint's largest (Graph's default is 200)
    timeout_s: float = Field(30.0, gt=0)
    writeback: M365Writeback = Field(default_factory=M365Writeback)
    publish: M365Publish = Field(default_factory=M365Publish)

    @model_validator(mode="after")
    def _publishing(self) -> "M365Settings":
        pub, wb = self.publish, self.writeback
        if (pub.executive_mail_to or pub.pm_digests) and not (pub.mail_from or wb.mail_from):
            raise ValueError("publish.executive_mail_to and publish.pm_digests need a mailbox to send from: "
                             "set publish.mail_from (or writeback.mail_from)")
        if pub.executive_teams and not wb.teams_channel_id:
            raise ValueError("publish.executive_teams posts to the writeback Teams channel: set "
                             "writeback.teams_team_id and writeback.teams_channel_id")
        return self

    @property
    def sender(self) -> str | None:
        """The mailbox publishing sends from."""
        return self.publish.mail_from or self.writeback.mail_from

    @field_validator("tenant_id")
    @classmethod
    def _tenant(cls, v: str) -> str:
        v = v.strip()
        if v.lower() in ("common", "organizations", "consumers"):
            raise ValueError(f"{v!r} is a multi-tenant authority; app-only sign-in needs the tenant's own id "
                             "(a GUID) or its domain, e.g. 'contoso.onmicrosoft.com'")
        if not (_GUID.match(v) or re.fullmatch(r"[A-Za-z0-9.-]+\.[A-Za-z]{2,}", v)):
            raise ValueError(f"{v!r} is neither a tenant id (GUID) nor a domain")
        return v

    @field_validator("client_id")
    @classmethod
    def _client(cls, v: str) -> str:
        if not _GUID.match(v.strip()):
            raise ValueError(f"{v!r} is not an application (client) id: expected a GUID")
        return v.strip()

    @field_validator("login_host")
    @classmethod
    def _login_host(cls, v: str) -> str:
        v = v.strip().removeprefix("https://").rstrip("/")
        if not v or "/" in v:
            raise ValueError(f"{v!r}: give the host (and port) only, e.g. 'login.microsoftonline.us'")
        return v

    @field_validator("graph_url")
    @classmethod
    def _graph_url(cls, v: str) -> str:
        if not v.startswith("https://"):
            raise ValueError("must start with https:// (msal and Graph need TLS; the sandbox serves it too)")
        return v.rstrip("/").removesuffix("/v1.0")

    @field_validator("site_timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                ZoneInfo(v)
            except (ZoneInfoNotFoundError, ValueError) as e:
                raise ValueError(f"unknown time zone {v!r}; use an IANA name such as 'Europe/London'") from e
        return v

    @field_validator("pull")
    @classmethod
    def _pull(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("each part may be named once")
        return v

    @model_validator(mode="after")
    def _credentials(self) -> "M365Settings":
        if self.auth == "app" and not self.certificate_file and not self.client_secret_env \
                and not self.client_secret_file:
            raise ValueError("set client_secret_env, client_secret_file or certificate_file "
                             "(the secret itself never goes in this file)")
        if "planner" in self.pull and not self.planner_group_ids:
            raise ValueError("pull includes 'planner': set planner_group_ids (the groups whose plans are projects)")
        if "finance" in self.pull and not self.workbook_path:
            raise ValueError("pull includes 'finance': set workbook_path (the budget workbook in the site's library)")
        return self

    def hosts(self, base_dir: Path | None = None) -> list[str]:
        """The hosts (host:port) this section connects to: login and Graph."""
        from urllib.parse import urlsplit

        return [self.login_host, urlsplit(self.graph_url).netloc]

    @model_validator(mode="after")
    def _scopes(self) -> "M365Settings":
        if "delegated_scopes" not in self.model_fields_set:  # (not marked as set: hub.read_only derives it again)
            self.__dict__["delegated_scopes"] = self.least_scopes()
        return self

    def least_scopes(self) -> list[str]:
        """The delegated Graph scopes this section's reads and writes need, and no more (device-code sign-in)."""
        parts, wb, pub = set(self.pull), self.writeback, self.publish
        out = []
        if wb.fields or wb.results_list:
            out.append("Sites.ReadWrite.All")
        elif parts & {"register", "raid", "status_reports", "approvals", "finance"}:
            out.append("Sites.Read.All")
        if "planner" in parts:
            out += ["Tasks.ReadWrite" if wb.planner else "Tasks.Read", "User.ReadBasic.All"]  # (assignees)
        if "finance" in parts:
            out.append("Files.ReadWrite.All")  # Microsoft's workbook API asks for it even to read a range
        if wb.teams_channel_id or pub.executive_teams:
            out += ["ChannelMessage.Send", "ChannelMessage.Read.All"]  # (read: recovery looks for what landed)
        if wb.mail_to or pub.active:
            out += ["Mail.Send", "Mail.Read"]  # (read: the signed-in mailbox's sent items, for recovery)
        return out

    @property
    def authority(self) -> str:
        return f"https://{self.login_host}/{self.tenant_id}"

    @property
    def scope(self) -> str:
        return f"{self.graph_url}/.default"


# ---- the mapping ----------------------------------------------------------------------------------------------
class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegisterMap(_M):
    list: str = "PMO Register"
    key: str = "Jira Key"  # the project identity key (matches the Jira project key / the other sources)
    name: str | None = "Project Name"
    department: str | None = "Department"
    pm: str | None = "Project Manager"
    sponsor: str | None = "Sponsor"
    phase: str | None = "Phase"
    state: str | None = "Project State"
    tags: str | None = "Tags"
    initiation_status: str | None = "Initiation Status"
    initiation_submitted: str | None = "Initiation Submitted"
    initiation_decided: str | None = "Initiation Decided"
    budget_approved: str | None = "Approved Budget"
    fte_approved: str | None = "Approved FTE"
    fte_assigned: str | None = "Assigned FTE"
    planned_start: str | None = "Planned Start"
    planned_finish: str | None = "Planned Finish"
    forecast_finish: str | None = "Forecast Finish"
    baseline_start: str | None = "Baseline Start"
    baseline_finish: str | None = "Baseline Finish"
    baseline_cost: str | None = "Baseline Cost"


class GovernanceMap(_M):
    compliance_status: str | None = "PMO Compliance"
    open_violations: str | None = "PMO Open Violations"
    compliance_changed: str | None = "PMO Compliance Changed"


class RaidMap(_M):
    list: str = "RAID Log"
    key: str = "Reference"
    project: str = "Jira Key"
    title: str = "Title"
    kind: str | None = "Entry Type"
    probability: str | None = "Probability"
    impact: str | None = "Impact"
    severity: str | None = "Severity"
    owner: str | None = "Owner"
    response: str | None = "Response"
    due: str | None = "Due Date"
    status: str | None = "Status"
    raised_on: str | None = "Raised On"
    last_reviewed: str | None = "Last Reviewed"
    escalated: str | None = "Escalated to PMO"
    escalated_on: str | None = "Escalation Date"
    linked_item: str | None = "Linked Item"


class StatusReportMap(_M):
    list: str = "Status Reports"
    key: str = "Reference"
    project: str = "Jira Key"
    report_date: str | None = "Report Date"
    overall: str | None = "Overall RAG"
    schedule: str | None = "Schedule RAG"
    cost: str | None = "Cost RAG"
    scope: str | None = "Scope RAG"
    summary: str | None = "Summary"
    actions: str | None = "Actions"  # one action per line: "text (owner: a@b.c, due: 2026-01-31)"


class ApprovalMap(_M):
    list: str = "Approvals"
    key: str = "Reference"
    project: str = "Jira Key"
    title: str = "Title"
    kind: str | None = "Request Type"
    status: str | None = "Approval Status"
    requested_on: str | None = "Requested On"
    decided_on: str | None = "Decided On"
    amount: str | None = "Amount"
    fte: str | None = "FTE"
    approver: str | None = "Approver"


class ResultsMap(_M):
    """The hub-owned results list ([m365.writeback] results_list): one item per alarm, waived or error result."""

    list: str = "PMO Compliance"
    key: str = "Result"  # the title column: "<project>|<rule>|<subject>", how the hub finds its items again
    project: str = "Project"
    rule: str = "Rule"
    severity: str = "Severity"
    status: str = "Status"
    subject: str = "Subject"
    reason: str = "Reason"


class PlannerMap(_M):
    plan_key_pattern: str = r"^(?P<key>[A-Z][A-Z0-9_]{0,19})\b"  # the project key in a plan's title
    task_key_pattern: str = r"^\[(?P<key>[A-Z][A-Z0-9_]*-\d+)\]\s*"  # a work item key in a task's title
    milestone_label: str = "Milestone"  # tasks carrying this label (category) are milestones
    governance_task: str = "PMO compliance"  # the hub-owned task of each plan (its title carries the status)
    # Planner's priority scale (0-10) as the canonical priority names the standards use
    priorities: dict[str, str] = Field(default_factory=lambda: {
        "urgent": "Blocker", "important": "High", "medium": "Medium", "low": "Low"})

    @field_validator("plan_key_pattern", "task_key_pattern")
    @classmethod
    def _pattern(cls, v: str) -> str:
        try:
            rx = re.compile(v)
        except re.error as e:
            raise ValueError(f"not a regular expression: {e}") from e
        if "key" not in rx.groupindex:
            raise ValueError("needs a named group (?P<key>...)")
        return v

    @field_validator("priorities")
    @classmethod
    def _prios(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - {"urgent", "important", "medium", "low"})
        if unknown:
            raise ValueError(f"unknown Planner priorities {unknown}; valid: important, low, medium, urgent")
        return v


class FinanceMap(_M):
    worksheet: str = "Budget"
    range: str = "usedRange"  # or an address such as "A1:F500"; the first row holds the headers
    key: str = "Project Key"
    actual_cost: str | None = "Actual"
    forecast_cost: str | None = "Forecast"
    key_pattern: str = r"^[A-Z][A-Z0-9_]{0,19}$"  # rows whose key cell does not match (blank, "Total") are skipped

    @field_validator("range")
    @classmethod
    def _range(cls, v: str) -> str:
        if v != "usedRange" and not re.fullmatch(r"\$?[A-Z]{1,3}\$?\d+(:\$?[A-Z]{1,3}\$?\d+)?", v):
            raise ValueError(f"{v!r}: use 'usedRange' or an A1 address such as 'A1:F500'")
        return v


class M365Mapping(_M):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    # ("register" would shadow ABCMeta.register on the model class: the TOML section keeps the name)
    register_: RegisterMap = Field(RegisterMap(), alias="register")
    governance: GovernanceMap = GovernanceMap()
    raid: RaidMap = RaidMap()
    status_reports: StatusReportMap = StatusReportMap()
    approvals: ApprovalMap = ApprovalMap()
    planner: PlannerMap = PlannerMap()
    finance: FinanceMap = FinanceMap()
    results: ResultsMap = ResultsMap()

    def section(self, part: str) -> _M:
        """The mapping section of a part ("register", "raid", ...)."""
        return self.register_ if part == "register" else getattr(self, part)


@lru_cache(maxsize=32)
def _load_cached(name: str, base_dir: Path | None) -> M365Mapping:
    from hub.mapping import _read

    where, raw = _read(name, base_dir)
    try:
        return M365Mapping.model_validate(raw)
    except ValidationError as e:
        from hub.config import format_validation_error

        raise ConfigError(format_validation_error(e, where, M365Mapping)) from None


def load_m365_mapping(name: str, *, base_dir: Path | None = None) -> M365Mapping:
    """The mapping named in config (a path relative to the config file, or a shipped file name)."""
    return _load_cached(name, base_dir)
