"""The hub configuration: one TOML file, validated with pydantic before any network call.

Every section is a model with `extra="forbid"`, so a misspelt key fails at load time with the valid keys
listed; names that refer to other things (a mapping file, a rule id, a time zone) are checked for meaning
right after the structure. Secrets are never values in this file: a section names an environment variable
(`*_env`) or a file (`*_file`), and `hub.secrets.read_secret` reads it when a connector starts.
See config.example.toml for every key with its meaning.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hub.errors import ConfigError
from hub.rules.settings import StandardsSettings


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HubSettings(_Section):
    timezone: str = "UTC"  # the PMO's time zone: "today" for rules, report times, schedules
    name: str = "PMO portfolio"

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
    max_total_s: float = Field(300.0, gt=0)  # give up after this much waiting in total
    max_wait_s: float = Field(60.0, gt=0)  # longest single wait, whatever Retry-After asks
    base_s: float = Field(0.5, ge=0)


class SyncSettings(_Section):
    max_writes: int = Field(1000, ge=0)  # abort apply (before any write) above this many writes
    max_write_share: float = Field(0.6, ge=0, le=1)  # ... or above this share of the records in scope
    conflict_policy: Literal["flag", "hub-wins", "source-wins"] = "flag"
    full_resync_hours: float = Field(24.0, ge=0)  # a full (not incremental) pull at least this often; 0 = always


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
    overlap_minutes: int = Field(10, ge=1, le=1440)
    timeout_s: float = Field(30.0, gt=0)
    verify_tls: bool = True
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


class Config(_Section):
    hub: HubSettings = Field(default_factory=HubSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    sync: SyncSettings = Field(default_factory=SyncSettings)
    jira: JiraSettings | None = None
    standards: StandardsSettings = Field(default_factory=StandardsSettings)
    report: ReportSettings = Field(default_factory=ReportSettings)

    # set by load(): the directory relative paths are resolved against
    base_dir: Path = Field(default=Path("."), exclude=True)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.hub.timezone)

    def path(self, p: str) -> Path:
        q = Path(p).expanduser()
        return q if q.is_absolute() else (self.base_dir / q)

    def sources(self) -> list[str]:
        return [name for name in ("jira",) if getattr(self, name) is not None and getattr(self, name).enabled]


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
    _check_meaning(cfg, source)
    return cfg


def _check_meaning(cfg: Config, source: str) -> None:
    """Checks that need more than one key or the filesystem, after the structure is known to be right."""
    from hub.mapping import load_jira_mapping

    if cfg.jira is not None:
        try:
            load_jira_mapping(cfg.jira.mapping, base_dir=cfg.base_dir)
        except ConfigError as e:
            raise ConfigError(f"{source}: jira.mapping: {e}") from None
    cfg.standards.check(base_dir=cfg.base_dir, source=source) if hasattr(cfg.standards, "check") else None
