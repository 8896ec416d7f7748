"""Binding `[standards]` settings to a RuleSet: disabled rules, params overrides, waivers, lifecycle.

`load_standards(settings)` is what the hub calls at start-up: it loads the built-in catalog plus the extra
rule files and then `bind`s the settings to them, so that an unknown rule id in `disable`, `overrides` or
`waivers`, an override param the check does not have, a waiver file that does not parse or a scope phase the
lifecycle does not know fails before any data is pulled, with the valid values listed.

Overrides: each is partial params for one rule with optional selectors `project`, `department`, `phase`.
For a project, every matching override is applied over the rule's params in order of specificity
(project > department > phase > portfolio-wide; of two equally specific overrides the later wins). At load
time the params in effect portfolio-wide and under each selective override are validated with their
meaning (thresholds in order, phases in the lifecycle); a combination of several selective overrides is
validated, once, when a project first needs it, and a bad one raises ConfigError from `evaluate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hub.errors import ConfigError
from hub.model import Project
from hub.rules.loader import (
    DEFAULT_CATALOG,
    LoadedRule,
    RuleSet,
    read_toml,
    describe_errors,
    load_rules,
    validate_params,
)
from hub.rules.registry import Check, CheckParams
from hub.rules.settings import Override, StandardsSettings, WaiverSpec


@dataclass
class Waiver:
    spec: WaiverSpec
    origin: str  # "standards.waivers[0]" or "waivers.toml#2"


@dataclass
class BoundRule:
    """A rule ready to evaluate: its check instance, the overrides and waivers that concern it."""

    rule: LoadedRule
    check: Check
    overrides: list[Override] = field(default_factory=list)  # sorted by specificity, least specific first
    waivers: list[Waiver] = field(default_factory=list)
    _cache: dict[tuple[int, ...], CheckParams] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.rule.id

    def params_for(self, project: Project | None) -> CheckParams:
        """The rule's params with every override matching this project applied (validated, cached)."""
        if not self.overrides or project is None:
            return self.rule.params
        hits = tuple(
            i for i, o in enumerate(self.overrides) if o.matches(project.department, project.key, project.phase)
        )
        if not hits:
            return self.rule.params
        params = self._cache.get(hits)
        if params is None:
            merged = dict(self.rule.spec.params)
            for i in hits:
                merged.update(self.overrides[i].params)
            where = f"standards.overrides for rule {self.id} (project {project.key})"
            params = self._cache[hits] = validate_params(self.rule.check, merged, where)
        return params


@dataclass
class Plan:
    """The enabled rules, bound to the settings, in rule-file order."""

    rules: list[BoundRule]


def _unknown_id(where: str, rule_id: str, ruleset: RuleSet) -> ConfigError:
    return ConfigError(f"{where}: unknown rule id {rule_id!r}. Valid values are: {ruleset.ids()}")


def load_waivers(settings: StandardsSettings) -> list[Waiver]:
    """Inline waivers plus those of every waiver file (`[[waiver]]` tables); structure only."""
    out = [Waiver(w, f"standards.waivers[{i}]") for i, w in enumerate(settings.waivers)]
    for path in settings.waiver_files:
        data = read_toml(Path(path))
        unknown = sorted(set(data) - {"waiver"})
        if unknown:
            raise ConfigError(f"{path}: unknown top-level key {unknown[0]!r}. Valid keys are: ['waiver']")
        raw_waivers = data.get("waiver", [])
        if not isinstance(raw_waivers, list):
            raise ConfigError(f"{path}: 'waiver' must be an array of tables ([[waiver]])")
        for i, raw in enumerate(raw_waivers, start=1):
            rid = raw.get("rule", "?") if isinstance(raw, dict) else "?"
            try:
                out.append(Waiver(WaiverSpec.model_validate(raw), f"{path}#{i}"))
            except ValidationError as e:
                raise ConfigError(f"{path}: waiver #{i} (rule {rid}): {describe_errors(e, WaiverSpec)}") from e
    return out


def bind(ruleset: RuleSet, settings: StandardsSettings) -> Plan:
    """Check the settings against the rule set and attach overrides and waivers to their rules."""
    phases = list(settings.lifecycle.phases)
    phase_names = {p.lower() for p in phases}
    for i, rid in enumerate(settings.disable):
        if rid not in ruleset:
            raise _unknown_id(f"standards.disable[{i}]", rid, ruleset)

    bound = {r.id: BoundRule(r, r.check()) for r in ruleset}
    for r in ruleset:
        for ph in r.spec.scope.phases:
            if ph.lower() not in phase_names:
                raise ConfigError(
                    f"{r.file}: rule {r.id}: scope.phases: {ph!r} is not a lifecycle phase. Valid values are: {phases}"
                )

    numbered: dict[int, int] = {}  # id(override) -> its index in settings.overrides, for messages
    for i, o in sorted(enumerate(settings.overrides), key=lambda io: io[1].rank):
        b = bound.get(o.rule)
        if b is None:
            raise _unknown_id(f"standards.overrides[{i}]", o.rule, ruleset)
        if o.phase is not None and o.phase.lower() not in phase_names:
            raise ConfigError(f"standards.overrides[{i}] (rule {o.rule}): phase: {o.phase!r} is not a lifecycle "
                              f"phase. Valid values are: {phases}")
        b.overrides.append(o)
        numbered[id(o)] = i

    # Params in effect, validated with their meaning (thresholds, phases): the rule's params with the
    # portfolio-wide overrides, and each selective override on top of those. Combinations of several
    # selective overrides are validated when a project first needs them.
    for b in bound.values():
        check = b.rule.check
        wide = dict(b.rule.spec.params)
        where = f"{b.rule.file}: rule {b.id}"
        for o in b.overrides:
            if o.portfolio_wide:
                wide.update(o.params)
                where = f"standards.overrides[{numbered[id(o)]}] (rule {b.id})"
        problem = b.check.check_meaning(validate_params(check, wide, where), phases)
        if problem:
            raise ConfigError(f"{where}: {problem}")
        for o in b.overrides:
            if not o.portfolio_wide:
                where = f"standards.overrides[{numbered[id(o)]}] (rule {b.id})"
                problem = b.check.check_meaning(validate_params(check, {**wide, **o.params}, where), phases)
                if problem:
                    raise ConfigError(f"{where}: {problem}")

    waivers = load_waivers(settings)
    for w in waivers:
        b = bound.get(w.spec.rule)
        if b is None:
            raise _unknown_id(w.origin, w.spec.rule, ruleset)
        b.waivers.append(w)

    disabled = set(settings.disable)
    return Plan(rules=[b for b in bound.values() if b.id not in disabled])


def rule_files(settings: StandardsSettings) -> list[Path]:
    """The rule files the settings name: the built-in catalog (unless include_defaults = false) and `files`."""
    return ([DEFAULT_CATALOG] if settings.include_defaults else []) + [Path(p) for p in settings.files]


def load_standards(settings: StandardsSettings, *, base_dir: str | Path | None = None) -> RuleSet:
    """Load every rule file the settings name and validate the settings against them; raises ConfigError."""
    if base_dir is not None:
        settings = settings.resolve_paths(base_dir)
    ruleset = load_rules(rule_files(settings))
    bind(ruleset, settings)
    return ruleset


def expired_waivers(settings: StandardsSettings, today: date) -> list[dict[str, Any]]:
    """Waivers whose expiry date has passed (they no longer waive anything): for the report."""
    return [w.spec.as_dict(today, w.origin) for w in load_waivers(settings) if w.spec.expired(today)]
