"""The standards engine as the rest of the hub calls it: from the `[standards]` settings, in one call each.

    results, expired = evaluate_configured(cfg.standards, portfolio, today=today, base_dir=cfg.base_dir)
    rows = list_rules(cfg.standards, base_dir=cfg.base_dir)      # `pmo-hub standards list`
    text = describe_rule("STAT-01", cfg.standards)                 # `pmo-hub standards show STAT-01`
    n = validate_file(Path("acme.toml"))                           # `pmo-hub standards validate FILE`
    waivers = waiver_rows(cfg.standards, base_dir=cfg.base_dir, today=today)   # for the report

Every function raises `hub.errors.ConfigError` for a bad rule file or bad settings. Without settings, the
built-in catalog and the default lifecycle are used.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from hub.model import Portfolio, Result
from hub.rules import binding, docs, loader
from hub.rules.engine import evaluate
from hub.rules.settings import StandardsSettings


def _settings(settings: StandardsSettings | None, base_dir: str | Path | None) -> StandardsSettings:
    settings = settings or StandardsSettings()
    return settings.resolve_paths(base_dir) if base_dir is not None else settings


def load(settings: StandardsSettings | None = None, *, base_dir: str | Path | None = None) -> loader.RuleSet:
    """The rule set the settings name (built-in catalog + extra files), validated with the settings."""
    return binding.load_standards(_settings(settings, base_dir))


def evaluate_configured(
    settings: StandardsSettings, portfolio: Portfolio, *, today: date, base_dir: str | Path | None = None
) -> tuple[list[Result], list[dict[str, Any]]]:
    """(one Result per rule and subject, the expired waivers as report rows)."""
    settings = _settings(settings, base_dir)
    ruleset = binding.load_standards(settings)
    results = evaluate(portfolio, ruleset, settings, today=today)
    expired = [w for w in waiver_rows(settings, today=today) if w["expired"]]
    return results, expired


def list_rules(settings: StandardsSettings | None = None, *, base_dir: str | Path | None = None) -> list[dict]:
    """id, title, severity, applies_to, check of every rule (disabled ones included, flagged `disabled`)."""
    settings = _settings(settings, base_dir)
    rows = docs.list_rules(binding.load_standards(settings))
    for row in rows:
        row["disabled"] = row["id"] in settings.disable
    return rows


def describe_rule(rule_id: str, settings: StandardsSettings | None = None, *,
                  base_dir: str | Path | None = None) -> str:
    """What the rule checks, its params with defaults and types, and an example TOML rule."""
    return docs.describe_rule(load(settings, base_dir=base_dir), rule_id)


def validate_file(path: str | Path, settings: StandardsSettings | None = None) -> int:
    """Validate one rule file (structure, meaning, and the lifecycle when settings are given); number of rules."""
    return len(loader.validate_file(path, settings=settings))


def waiver_rows(settings: StandardsSettings, *, today: date, base_dir: str | Path | None = None) -> list[dict]:
    """Every waiver (inline and from files) as a report row: rule, selector, justification, approver, expiry,
    expired, origin."""
    rows = []
    for w in binding.load_waivers(_settings(settings, base_dir)):
        s = w.spec
        selector = " ".join(x for x in (f"project:{s.project}" if s.project else "", s.subject or "") if x)
        rows.append({"rule": s.rule, "selector": selector, "project": s.project, "subject": s.subject,
                     "justification": s.justification, "approver": s.approver, "expiry": s.expires,
                     "expired": s.expired(today), "origin": w.origin})
    return rows
