"""The `[sheets]` section of the hub configuration: credentials, spreadsheets, mapping and identity expectations.

    [sheets]
    credentials_file = "google-service-account.json"  # a service-account JSON key file, owner-only (never inline)
    mapping = "sheets.toml"                 # tabs and columns by header name (shipped file or a path)
    expect_in = ["jira"]                    # every register row should name a project Jira has (DATA-01)
    expected_from = ["jira"]                # every Jira project should have a register row (DATA-01)

    [[sheets.spreadsheets]]
    id = "1AbC...xyz"                       # from https://docs.google.com/spreadsheets/d/<id>/edit
    name = "register"                       # a short label for record ids and the audit trail (default: the id)
    locale = "de_DE"                        # how text numbers and dates are written (default: the sheet's own)

The API hosts are configurable (`api_url`, `drive_url`, `iam_url`) so the sandbox, a proxy or a sovereign cloud
can stand in; the token endpoint comes from the key file's `token_uri`. Validated when the config loads: unknown keys,
unknown locales and unknown system names fail with the valid choices listed.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connectors.sheets.values import LOCALES

SOURCE_SYSTEMS = ("jira", "sheets", "m365")  # the systems an identity expectation may name


class _S(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SpreadsheetSettings(_S):
    id: str
    name: str | None = None
    locale: str | None = None  # default: the spreadsheet's own locale (File > Settings)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        v = v.strip()
        m = re.search(r"/spreadsheets/d/([A-Za-z0-9_-]+)", v)
        if m:  # a pasted URL
            v = m.group(1)
        if not re.fullmatch(r"[A-Za-z0-9_-]{10,100}", v):
            raise ValueError(f"{v!r} is not a spreadsheet id (the part after /spreadsheets/d/ in its URL)")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,39}", v):
            raise ValueError(f"{v!r}: use up to 40 letters, digits, spaces, '-', '_' or '.'")
        return v

    @field_validator("locale")
    @classmethod
    def _locale(cls, v: str | None) -> str | None:
        if v is not None and v not in LOCALES:
            raise ValueError(f"unknown locale {v!r}. Valid values are: {', '.join(sorted(LOCALES))}")
        return v

    @property
    def label(self) -> str:
        return self.name or self.id


class SheetsWriteback(_S):
    fields: bool = True  # write the register's governance columns (mapping [register.governance])
    results_tab: bool = True  # keep the consolidated results in the mapping's [compliance] tab


class SheetsSettings(_S):
    enabled: bool = True
    credentials_file: str  # service-account JSON key (relative to the config file)
    spreadsheets: list[SpreadsheetSettings] = Field(min_length=1)
    mapping: str = "sheets.toml"
    api_url: str = "https://sheets.googleapis.com"
    drive_url: str = "https://www.googleapis.com"
    iam_url: str = "https://iamcredentials.googleapis.com"  # google-auth's Regional Access Boundary lookup
    timeout_s: float = Field(60.0, gt=0)
    ca_file: str | None = None  # a CA bundle (PEM) to verify the hosts with, instead of the system's CAs
    tls_insecure_hosts: list[str] = Field(default_factory=list)  # hosts NOT verified (logged as a warning every run)
    expect_in: list[str] = Field(default_factory=list)
    expected_from: list[str] = Field(default_factory=list)
    writeback: SheetsWriteback = Field(default_factory=SheetsWriteback)

    @field_validator("api_url", "drive_url", "iam_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (or http:// for the local sandbox)")
        return v.rstrip("/")

    @field_validator("expect_in", "expected_from")
    @classmethod
    def _systems(cls, v: list[str]) -> list[str]:
        for name in v:
            if name not in SOURCE_SYSTEMS or name == "sheets":
                valid = [s for s in SOURCE_SYSTEMS if s != "sheets"]
                raise ValueError(f"unknown system {name!r}. Valid values are: {valid}")
        return v

    @field_validator("credentials_file")
    @classmethod
    def _file(cls, v: str) -> str:
        if v.lstrip().startswith("{"):
            raise ValueError("name the service-account key *file*; the key itself never goes in this file")
        return v

    @model_validator(mode="after")
    def _unique(self) -> "SheetsSettings":
        labels = [s.label for s in self.spreadsheets]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise ValueError(f"two spreadsheets share the name/id {dup[0]!r}; give each a unique name")
        return self

    def hosts(self, base_dir: Path) -> list[str]:
        """The hosts (host:port as in the URLs) this section connects to: the APIs and the key file's token_uri."""
        import json
        from urllib.parse import urlsplit

        urls = [self.api_url, self.drive_url, self.iam_url]
        key = Path(self.credentials_file).expanduser()
        try:
            urls.append(str(json.loads((key if key.is_absolute() else base_dir / key).read_text()).get("token_uri")))
        except (OSError, ValueError, AttributeError):
            pass  # (an unreadable key file is reported when the connector starts)
        return [urlsplit(u).netloc for u in urls if u]

    def check(self, *, base_dir: Path, source: str) -> None:
        """Meaning checks after structure: the mapping file loads and is valid."""
        from connectors.sheets.mapping import load_sheets_mapping
        from hub.errors import ConfigError

        try:
            load_sheets_mapping(self.mapping, base_dir=base_dir)
        except ConfigError as e:
            raise ConfigError(f"{source}: sheets.mapping: {e}") from None
