"""The `[standards]` section of the hub configuration.

    [standards]
    files = ["rules/acme.toml"]             # extra rule files, added to the built-in catalog
    disable = ["TRAIN-02"]                  # rule ids not evaluated
    waiver_files = ["waivers.toml"]         # [[waiver]] tables, same fields as inline waivers

    [[standards.overrides]]                 # partial params; project > department > phase > portfolio-wide
    rule = "STAT-01"
    department = "Finance"
    params = { warn_after_days = 10, alarm_after_days = 21 }

    [[standards.waivers]]
    rule = "VAR-01"
    project = "APOL"
    justification = "Fixed-price vendor contract; baseline held by the vendor."
    approver = "pmo@example.com"
    expires = 2025-12-31

    [standards.lifecycle]
    phases = ["Initiation", "Planning", "Execution", "Closing"]
    gates = [{ name = "G0", enters = "Planning" }, { name = "G1", enters = "Execution" },
             { name = "G2", enters = "closed" }]

This module validates structure only. Whether the rule ids and params named here exist depends on the rule
files, so `hub.rules.load_standards(settings)` checks that (and reads the waiver files), raising ConfigError
with the valid ids listed.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.rules.registry import DataKind

CLOSED = "closed"  # a gate that "enters closed" approves closure of the project (state closed)


class GateSpec(BaseModel):
    """A gate of the lifecycle: its approval is required before the phase it `enters` (or closure)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    enters: str = Field(min_length=1, description='a phase name, or "closed" for the closure gate')
    title: str = ""


class Lifecycle(BaseModel):
    """Phases in order and the gates between them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    phases: list[str] = Field(default_factory=lambda: ["Initiation", "Planning", "Execution", "Closing"], min_length=1)
    gates: list[GateSpec] = Field(
        default_factory=lambda: [
            GateSpec(name="G0", enters="Planning", title="initiation approved"),
            GateSpec(name="G1", enters="Execution", title="plan approved"),
            GateSpec(name="G2", enters=CLOSED, title="closure approved"),
        ]
    )

    @model_validator(mode="after")
    def _consistent(self) -> Lifecycle:
        if len({p.lower() for p in self.phases}) != len(self.phases):
            raise ValueError(f"phases must be unique, got {self.phases}")
        names = [g.name for g in self.gates]
        if len(set(names)) != len(names):
            raise ValueError(f"gate names must be unique, got {names}")
        valid = [*self.phases, CLOSED]
        for g in self.gates:
            if g.enters not in valid:
                raise ValueError(f"gate {g.name}: enters {g.enters!r} is not a phase. Valid values are: {valid}")
        return self

    def gate_entering(self, phase: str) -> GateSpec | None:
        for g in self.gates:
            if g.enters.lower() == phase.lower():
                return g
        return None


class BusinessDayCalendar(BaseModel):
    """What counts as a business day for "N business days" thresholds (INIT-04, APPR-03)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    weekend: list[int] = Field(default_factory=lambda: [5, 6], description="weekday numbers, 0 = Monday")
    holidays: list[date] = Field(default_factory=list)

    @field_validator("weekend")
    @classmethod
    def _weekdays(cls, v: list[int]) -> list[int]:
        bad = [d for d in v if not 0 <= d <= 6]
        if bad or len(set(v)) >= 7:
            raise ValueError(f"weekend days must be 0 (Monday) .. 6 (Sunday), not all seven; got {v}")
        return v


class Override(BaseModel):
    """Partial params for one rule, optionally only for a department, a project or a phase."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rule: str
    department: str | None = None
    project: str | None = None
    phase: str | None = None
    params: dict[str, Any] = Field(min_length=1)

    @property
    def rank(self) -> tuple[bool, bool, bool]:
        """Specificity: project beats department beats phase beats portfolio-wide."""
        return (self.project is not None, self.department is not None, self.phase is not None)

    @property
    def portfolio_wide(self) -> bool:
        return self.project is None and self.department is None and self.phase is None

    def matches(self, department: str | None, project: str, phase: str | None) -> bool:
        return (
            (self.project is None or self.project == project)
            and (self.department is None or self.department == department)
            and (self.phase is None or (phase is not None and self.phase.lower() == phase.lower()))
        )


class WaiverSpec(BaseModel):
    """An accepted exception: alarms of `rule` for the selected project and/or subject become `waived`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rule: str
    project: str | None = None
    subject: str | None = Field(default=None, description='e.g. "risk:APOL-12"; None = every subject')
    justification: str = Field(min_length=1)
    approver: str = Field(min_length=1)
    expires: date
    granted: date | None = None

    @model_validator(mode="after")
    def _selector(self) -> WaiverSpec:
        if self.project is None and self.subject is None:
            raise ValueError("a waiver needs a selector: project and/or subject")
        return self

    def covers(self, rule: str, project: str | None, subject: str) -> bool:
        return (
            self.rule == rule
            and (self.project is None or self.project == project)
            and (self.subject is None or self.subject == subject)
        )

    def expired(self, today: date) -> bool:
        return self.expires < today

    def as_dict(self, today: date, origin: str | None = None) -> dict[str, Any]:
        d = self.model_dump(mode="json", exclude_none=True)
        d["expired"] = self.expired(today)
        if origin:
            d["origin"] = origin
        return d


class Escalation(BaseModel):
    """A violation open longer than `after_days[severity]` days (since first seen) is escalated: its result is
    marked `escalated` and `audience` is added to the people who hear of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    after_days: dict[str, int] = Field(default_factory=lambda: {"critical": 3, "high": 14, "medium": 30, "low": 60})
    audience: list[str] = Field(default_factory=lambda: ["pmo", "executive"], min_length=1)

    @field_validator("after_days")
    @classmethod
    def _severities(cls, v: dict[str, int]) -> dict[str, int]:
        valid = ("critical", "high", "medium", "low")
        for k, days in v.items():
            if k not in valid:
                raise ValueError(f"unknown severity {k!r}. Valid values are: {list(valid)}")
            if days < 0:
                raise ValueError(f"{k}: days must be 0 or more, got {days}")
        return v

    @field_validator("audience")
    @classmethod
    def _audience(cls, v: list[str]) -> list[str]:
        valid = ("pm", "pmo", "sponsor", "owner", "executive")
        bad = [a for a in v if a not in valid]
        if bad:
            raise ValueError(f"unknown audience {bad}. Valid values are: {list(valid)}")
        return v


class StandardsSettings(BaseModel):
    """`[standards]`: which rules run, with which thresholds, for whom, and the accepted exceptions."""

    model_config = ConfigDict(extra="forbid")
    include_defaults: bool = Field(True, description="load the built-in catalog mappings/standards.toml")
    files: list[str] = Field(default_factory=list, description="extra rule files")
    disable: list[str] = Field(default_factory=list, description="rule ids not evaluated")
    overrides: list[Override] = Field(default_factory=list)
    waivers: list[WaiverSpec] = Field(default_factory=list)
    waiver_files: list[str] = Field(default_factory=list)
    lifecycle: Lifecycle = Field(default_factory=Lifecycle)
    business_days: BusinessDayCalendar = Field(default_factory=BusinessDayCalendar)
    escalation: Escalation = Field(default_factory=Escalation)
    suppliers: dict[DataKind, list[str]] = Field(
        default_factory=dict,
        description="systems supplying each data kind; when a supplier's pull failed, checks reading that kind "
        "give `error`. A kind not listed is assumed to come from every system (any failure -> error).",
    )

    def check(self, *, base_dir: str | Path | None = None, source: str = "<config>") -> None:
        """Validate against the rule files they name (ids, params, lifecycle, waiver files); ConfigError if not."""
        from hub.errors import ConfigError
        from hub.rules.binding import load_standards  # binding builds on this module

        try:
            load_standards(self, base_dir=base_dir)
        except ConfigError as e:
            raise ConfigError(f"{source}: standards: {e}") from e

    def resolve_paths(self, base_dir: str | Path) -> StandardsSettings:
        """A copy with relative `files` and `waiver_files` made absolute against `base_dir` (the config's dir)."""
        base = Path(base_dir)

        def fix(paths: list[str]) -> list[str]:
            return [str(p if Path(p).is_absolute() else base / p) for p in paths]

        return self.model_copy(update={"files": fix(self.files), "waiver_files": fix(self.waiver_files)})
