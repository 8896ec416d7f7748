"""What the CLI shows about rules: `pmo-hub rules list`, `pmo-hub rules describe ID`.

Both read the loaded RuleSet and the check registry; nothing here prints.
"""

from __future__ import annotations

from typing import Any, get_args, get_origin

from pydantic.fields import FieldInfo

from hub.errors import ConfigError
from hub.rules.loader import RuleSet


def list_rules(ruleset: RuleSet) -> list[dict[str, Any]]:
    """One row per rule, in file order: id, title, severity, applies_to, check."""
    return [
        {"id": r.id, "title": r.spec.title, "severity": r.spec.severity, "applies_to": r.spec.applies_to,
         "check": r.spec.check}
        for r in ruleset
    ]


def _type_name(ann: Any) -> str:
    origin = get_origin(ann)
    if origin is None:
        return getattr(ann, "__name__", str(ann))
    args = ", ".join(repr(a) if isinstance(a, str) else _type_name(a) for a in get_args(ann))
    name = getattr(origin, "__name__", str(origin)).replace("typing.", "")
    return f"{name}[{args}]"


def _default(f: FieldInfo) -> Any:
    return f.default_factory() if f.default_factory is not None else f.default  # type: ignore[call-arg]


def describe_rule(ruleset: RuleSet, rule_id: str) -> str:
    """What the rule checks, its params (type, default, value in effect), and an example TOML rule."""
    r = ruleset.get(rule_id)
    if r is None:
        raise ConfigError(f"unknown rule id {rule_id!r}. Valid values are: {ruleset.ids()}")
    spec, check = r.spec, r.check
    lines = [
        f"{spec.id}: {spec.title}",
        f"  severity: {spec.severity}    applies to: {spec.applies_to}    check: {check.name}",
        f"  audience: {', '.join(spec.audience)}    defined in: {r.file}",
    ]
    if not spec.scope.empty:
        scope = {k: v for k, v in spec.scope.model_dump().items() if v}
        lines.append(f"  scope: {scope}")
    lines += ["", *("  " + ln for ln in check.summary().splitlines()), "", "Remediation:", f"  {spec.remediation}"]
    lines += ["", "Params (type, default -> value in this rule):"]
    for name, f in check.Params.model_fields.items():
        value = getattr(r.params, name)
        line = f"  {name}: {_type_name(f.annotation)} = {_default(f)!r}"
        if value != _default(f):
            line += f" -> {value!r}"
        if f.description:
            line += f"    # {f.description}"
        lines.append(line)
    lines += ["", "Example:", *(("  " + ln).rstrip() for ln in check.example().rstrip().splitlines())]
    return "\n".join(lines)
