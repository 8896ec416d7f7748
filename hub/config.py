"""The hub configuration: one TOML file, validated with pydantic before any network call.

Every section is a model with `extra="forbid"`, so a misspelt key fails at load time with the valid keys
listed; names that refer to other things (a mapping file, a rule id, a time zone) are checked for meaning
right after the structure. Secrets are never values in this file: a section names an environment variable
(`*_env`) or a file (`*_file`), and `hub.secrets.read_secret` reads it when a connector starts.
See config.example.toml for every key with its meaning.
"""

from __future__ import annotations

import os
import re
import tomllib
from urllib.parse import urlsplit
from datetime import time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hub.errors import ConfigError
from connectors.m365.settings import M365Settings
from connectors.sheets.settings import SheetsSettings
from hub.rules.settings import StandardsSettings


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HubSettings(_Section):
    timezone: str = "UTC"  # the PMO's time zone: "today" for rules, report times, schedules
    name: str = "PMO portfolio"
    # read-only: nothing is written to any source, nor published, whatever the [*.writeback] sections say; the
    # connectors then ask only for read scopes (Google, Microsoft delegated sign-in), so read grants suffice
    read_only: bool = False

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown time zone {v!r}; use an IANA name such as 'Europe/London'") from e
        return v


def default_state_path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "pmo-hub" / "state.db"


class StateSettings(_Section):
    # A file path or sqlite:///path for the embedded SQLite store, or postgresql://... for a shared one.
    url: str = ""

    def resolved_url(self, base_dir: Path) -> str:
        if not self.url:
            return f"sqlite:///{default_state_path()}"
        if self.url.startswith(("postgresql://", "postgres://", "sqlite:///")):
            return self.url
        p = Path(self.url).expanduser()
        return f"sqlite:///{p if p.is_absolute() else (base_dir / p).resolve()}"


class RetrySettings(_Section):
    max_attempts: int = Field(6, ge=1, le=50)
    max_total_s: float = Field(300.0, gt=0)  # per request: no wait ending later than this after the first try
    max_wait_s: float = Field(60.0, gt=0)  # longest single wait, whatever Retry-After asks
    base_s: float = Field(0.5, ge=0)


class SyncSettings(_Section):
    max_writes: int = Field(1000, ge=0)  # abort apply (before any write) above this many writes
    max_write_share: float = Field(0.6, ge=0, le=1)  # ... or above this share of the records in scope
    conflict_policy: Literal["flag", "hub-wins", "source-wins"] = "flag"
    full_resync_hours: float = Field(24.0, ge=0)  # a full (not incremental) pull at least this often; 0 = always
    # canonical project field -> the system whose value is used when several carry it (others are kept as
    # provenance and compared by DATA-02). Unlisted fields: the first source that has a value (jira, sheets, m365)
    system_of_record: dict[str, str] = Field(default_factory=dict)

    @field_validator("system_of_record")
    @classmethod
    def _owners(cls, v: dict[str, str]) -> dict[str, str]:
        from hub.merge import MERGED_FIELDS

        systems = ("jira", "sheets", "m365")
        for name, system in v.items():
            if name not in MERGED_FIELDS:
                raise ValueError(f"unknown field {name!r}. Valid values are: {', '.join(MERGED_FIELDS)}")
            if system not in systems:
                raise ValueError(f"{name}: unknown system {system!r}. Valid values are: {', '.join(systems)}")
        return v


class JiraWriteback(_Section):
    fields: bool = True  # write the governance fields of mappings [governance]
    comment: bool = True  # keep one status-summary comment per project, edited in place
    notify_users: bool = False  # notifyUsers on edits; false needs the Administer Projects permission


class JiraSettings(_Section):
    enabled: bool = True
    url: str
    email: str
    token_env: str | None = "PMO_HUB_JIRA_TOKEN"
    token_file: str | None = None
    project_model: Literal["project", "issue"] = "project"
    projects: list[str] = Field(default_factory=list)  # Jira project keys in scope; empty = every project
    record_jql: str | None = None  # issue model: JQL selecting the project-record issues
    key_field: str | None = None  # issue model: display name of a field holding the PMO key (else issue key)
    mapping: str = "jira.toml"
    page_size: int = Field(100, ge=1, le=5000)
    concurrency: int = Field(4, ge=1, le=16)  # parallel search streams on a full pull
    overlap_minutes: int = Field(10, ge=1, le=1440)
    timeout_s: float = Field(30.0, gt=0)
    ca_file: str | None = None  # a CA bundle (PEM) to verify the site with, instead of the system's CAs
    tls_insecure_hosts: list[str] = Field(default_factory=list)  # hosts NOT verified (logged as a warning every run)
    verify_tls: bool = True  # kept for old configs: false is refused (name the host in tls_insecure_hosts)
    writeback: JiraWriteback = Field(default_factory=JiraWriteback)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (or http:// for the local sandbox)")
        return v.rstrip("/")

    @field_validator("projects")
    @classmethod
    def _keys(cls, v: list[str]) -> list[str]:
        import re

        for key in v:
            if not re.fullmatch(r"[A-Z][A-Z0-9_]{0,19}", key):
                raise ValueError(f"{key!r} is not a Jira project key (upper-case letters, digits, _)")
        return v

    @field_validator("verify_tls")
    @classmethod
    def _verify(cls, v: bool) -> bool:
        if not v:
            raise ValueError("false would stop verifying TLS certificates for every host; certificates are always "
                             "verified: name a CA in jira.ca_file, or (never for a real site) the host in "
                             "jira.tls_insecure_hosts")
        return v

    def hosts(self, base_dir: Path) -> list[str]:
        """The hosts (host:port as in the URL) this section connects to."""
        return [urlsplit(self.url).netloc]

    @model_validator(mode="after")
    def _model(self) -> "JiraSettings":
        if self.project_model == "issue" and not self.record_jql:
            raise ValueError("project_model = 'issue' needs record_jql (e.g. 'issuetype = \"Project\"')")
        if not self.token_env and not self.token_file:
            raise ValueError("set token_env or token_file (the API token itself never goes in this file)")
        return self


class ReportSettings(_Section):
    out_dir: str = "reports"
    formats: list[Literal["html", "json", "csv", "xlsx", "md"]] = Field(default_factory=lambda: ["html"])
    executives: dict[str, str] = Field(default_factory=dict)  # department -> executive / reporting line


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DURATION = re.compile(r"(\d+)\s*(s|m|h)")
_UNIT_S = {"s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> int:
    """"30s", "15m", "1h" -> seconds. Raises ValueError with the accepted forms."""
    m = _DURATION.fullmatch(text.strip().lower())
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"{text!r} is not a duration; use a whole number and a unit: \"30s\", \"15m\", \"1h\"")
    return int(m.group(1)) * _UNIT_S[m.group(2)]


class JobSettings(_Section):
    """One scheduled job (`[[jobs]]`) for `pmo-hub run`: what it does and when, in hub.timezone.

    `every = "15m"` runs at multiples of the interval counted from local midnight (00:00, 00:15, ...), so every
    worker agrees on the occurrences; `at = "08:00"` runs daily at that time, `on = "monday"` weekly.
    """

    name: str
    kind: Literal["sync", "check", "report"]  # sync: pull, evaluate, write back; check: no writes; report: files
    # (and the [m365.publish] messages that changed)
    every: str | None = None
    at: str | None = None
    on: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] | None = None
    full: bool = False  # pull everything every time, not only changes
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", v):
            raise ValueError(f"{v!r}: use letters, digits, '-', '_' and '.' (at most 64), e.g. 'nightly-sync'")
        return v

    @field_validator("every")
    @classmethod
    def _every(cls, v: str | None) -> str | None:
        if v is not None and parse_duration(v) > 86400:
            raise ValueError(f"{v!r} is longer than a day; use at = \"HH:MM\" (and on = \"monday\") instead")
        return v

    @field_validator("at")
    @classmethod
    def _at(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?", v.strip()):
            raise ValueError(f"{v!r} is not a time of day; use 24-hour \"HH:MM\" or \"HH:MM:SS\", e.g. \"08:00\"")
        return v.strip() if v else v

    @field_validator("on", mode="before")
    @classmethod
    def _on(cls, v: object) -> object:
        return v.strip().lower() if isinstance(v, str) else v

    @model_validator(mode="after")
    def _when(self) -> "JobSettings":
        if (self.every is None) == (self.at is None):
            raise ValueError(f"job {self.name!r}: set either every = \"15m\" or at = \"08:00\" "
                             "(with on = \"monday\" for a weekly job)")
        if self.on is not None and self.at is None:
            raise ValueError(f"job {self.name!r}: on = {self.on!r} needs at = \"HH:MM\"")
        return self

    @property
    def every_s(self) -> int | None:
        return parse_duration(self.every) if self.every else None

    @property
    def at_time(self) -> time | None:
        return time.fromisoformat(self.at) if self.at else None

    def describe(self) -> str:
        if self.every:
            return f"every {self.every}"
        return f"at {self.at} " + (f"on {self.on}" if self.on else "daily")


class SchedulerSettings(_Section):
    # A running job holds a lease in the state store for this long, renewed every third of it; a worker
    # that dies loses its jobs once their leases expire, and another worker takes them over.
    lease_ttl_s: float = Field(60.0, ge=1, le=3600)


class MetricsSettings(_Section):
    port: int | None = Field(None, ge=1, le=65535)  # serve Prometheus metrics on this port; unset: off
    host: str = "127.0.0.1"  # "0.0.0.0" to be scraped from other hosts (a Kubernetes pod)


class Config(_Section):
    hub: HubSettings = Field(default_factory=HubSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    sync: SyncSettings = Field(default_factory=SyncSettings)
    jira: JiraSettings | None = None
    sheets: SheetsSettings | None = None
    m365: M365Settings | None = None
    standards: StandardsSettings = Field(default_factory=StandardsSettings)
    report: ReportSettings = Field(default_factory=ReportSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    jobs: list[JobSettings] = Field(default_factory=list)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)

    # set by load(): the directory relative paths are resolved against
    base_dir: Path = Field(default=Path("."), exclude=True)

    @field_validator("jobs")
    @classmethod
    def _unique_jobs(cls, v: list[JobSettings]) -> list[JobSettings]:
        seen: set[str] = set()
        for job in v:
            if job.name in seen:
                raise ValueError(f"two jobs are named {job.name!r}; job names must be unique")
            seen.add(job.name)
        return v

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.hub.timezone)

    def path(self, p: str) -> Path:
        q = Path(p).expanduser()
        return q if q.is_absolute() else (self.base_dir / q)

    def sources(self) -> list[str]:
        return [name for name in ("jira", "sheets", "m365")
                if getattr(self, name) is not None and getattr(self, name).enabled]


def _valid_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The field names valid at `loc` (walking nested models), for 'unknown key' messages."""
    current: type[BaseModel] | None = model
    for part in loc[:-1]:
        if current is None or isinstance(part, int):
            continue
        field = current.model_fields.get(str(part))
        if field is None:
            return []
        ann = field.annotation
        nxt = None
        for cand in getattr(ann, "__args__", (ann,)):
            if isinstance(cand, type) and issubclass(cand, BaseModel):
                nxt = cand
            for inner in getattr(cand, "__args__", ()):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    nxt = inner
        current = nxt
    if current is None:
        return []
    return sorted(k for k, f in current.model_fields.items() if not f.exclude)


def format_validation_error(e: ValidationError, source: str, model: type[BaseModel]) -> str:
    lines = [f"{source}: invalid configuration"]
    for err in e.errors():
        loc = tuple(err["loc"])
        dotted = ".".join(str(p) for p in loc) or "(top level)"
        if err["type"] == "extra_forbidden":
            valid = _valid_keys(model, loc)
            lines.append(f"  - unknown key '{dotted}'. Valid keys here are: {', '.join(valid)}")
        elif err["type"] == "missing":
            lines.append(f"  - missing required key '{dotted}'")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"  - '{dotted}': {msg}")
    return "\n".join(lines)


def load(path: str | Path) -> Config:
    """Read and validate a config file. Raises ConfigError naming the file, the key and the fix."""
    p = Path(path).expanduser()
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ConfigError(f"{p}: config file not found (copy config.example.toml and edit it)") from e
    except OSError as e:
        raise ConfigError(f"{p}: cannot read config file: {e.strerror}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from e
    return from_dict(raw, source=str(p), base_dir=p.resolve().parent)


def from_dict(raw: dict, *, source: str = "<config>", base_dir: Path | None = None) -> Config:
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, source, Config)) from None
    cfg.base_dir = base_dir or Path(".").resolve()
    if cfg.hub.read_only:
        read_only(cfg)
    _check_meaning(cfg, source)
    return cfg


def read_only(cfg: Config) -> None:
    """`hub.read_only`: switch off every write-back and publication, and narrow the scopes asked for to reads."""
    if cfg.jira is not None:
        cfg.jira.writeback.fields = cfg.jira.writeback.comment = False
    if cfg.sheets is not None:
        cfg.sheets.writeback.fields = cfg.sheets.writeback.results_tab = False
    if cfg.m365 is not None:
        wb, pub = cfg.m365.writeback, cfg.m365.publish
        wb.fields = wb.planner = wb.results_list = False
        wb.teams_team_id = wb.teams_channel_id = wb.mail_to = wb.mail_from = None
        pub.executive_mail_to, pub.executive_teams, pub.pm_digests = [], False, False
        if "delegated_scopes" not in cfg.m365.model_fields_set:  # (the default: what is read, now nothing written)
            cfg.m365.__dict__["delegated_scopes"] = cfg.m365.least_scopes()


def _check_meaning(cfg: Config, source: str) -> None:
    """Checks that need more than one key or the filesystem, after the structure is known to be right."""
    from hub.mapping import load_jira_mapping

    if cfg.jira is not None:
        try:
            load_jira_mapping(cfg.jira.mapping, base_dir=cfg.base_dir)
        except ConfigError as e:
            raise ConfigError(f"{source}: jira.mapping: {e}") from None
    if cfg.sheets is not None:
        cfg.sheets.check(base_dir=cfg.base_dir, source=source)
    from connectors.http import check_tls

    for name in ("jira", "sheets", "m365"):
        section = getattr(cfg, name)
        if section is not None:
            try:
                check_tls(name, section, section.hosts(cfg.base_dir), cfg.base_dir)
            except ConfigError as e:
                raise ConfigError(f"{source}: {e}") from None
    if cfg.m365 is not None:
        from connectors.m365.settings import load_m365_mapping

        try:
            load_m365_mapping(cfg.m365.mapping, base_dir=cfg.base_dir)
        except ConfigError as e:
            raise ConfigError(f"{source}: m365.mapping: {e}") from None
    for job in cfg.jobs:
        if not cfg.sources():
            raise ConfigError(f"{source}: jobs: job {job.name!r} ({job.kind}) needs a source; configure [jira], [sheets] or [m365]")
        if job.kind == "report" and not cfg.report.formats:
            raise ConfigError(f"{source}: jobs: job {job.name!r} writes reports but report.formats is empty")
    cfg.standards.check(base_dir=cfg.base_dir, source=source) if hasattr(cfg.standards, "check") else None
