"""The PMO standards engine: registered checks, rule files, evaluation, waivers and health.

    registry.py   Check base class, Outcome, the `checks` registry          (code half of a rule)
    checks/       one module per rule family (init, train, stat, appr, risk, gate, var, data)
    loader.py     rule files -> RuleSet: structure, then meaning; json_schema()   (data half of a rule)
    settings.py   StandardsSettings: the hub config's [standards] section
    binding.py    settings bound to a RuleSet: disable, overrides, waivers; load_standards()
    context.py    what a check sees: RunContext, ProjectContext (per-project aggregates)
    engine.py     evaluate(portfolio, ruleset, settings, today=...) -> list[Result]
    health.py     compliance score, worst-wins RAG, computed delivery health (shared with STAT-03)
    docs.py       list_rules(), describe_rule() for the CLI
    api.py        the same from [standards] settings in one call each (what sync, CLI and report use)

Typical use:

    ruleset = load_standards(config.standards, base_dir=config_dir)     # ConfigError if anything is wrong
    results = evaluate(portfolio, ruleset, config.standards, today=date.today())
    health = project_health(results)
"""

from hub.rules.binding import expired_waivers, load_standards
from hub.rules.docs import describe_rule, list_rules
from hub.rules.engine import evaluate, subject_id
from hub.rules.health import computed_health, portfolio_health, project_health, rule_compliance
from hub.rules.loader import DEFAULT_CATALOG, RuleSet, json_schema, load_default_rules, load_rules, validate_file
from hub.rules.registry import Check, CheckParams, Outcome, checks, get_checks
from hub.rules.settings import Lifecycle, Override, StandardsSettings, WaiverSpec

__all__ = [
    "DEFAULT_CATALOG",
    "Check",
    "CheckParams",
    "Lifecycle",
    "Outcome",
    "Override",
    "RuleSet",
    "StandardsSettings",
    "WaiverSpec",
    "checks",
    "computed_health",
    "describe_rule",
    "evaluate",
    "expired_waivers",
    "get_checks",
    "json_schema",
    "list_rules",
    "load_default_rules",
    "load_rules",
    "load_standards",
    "portfolio_health",
    "project_health",
    "rule_compliance",
    "subject_id",
    "validate_file",
]
