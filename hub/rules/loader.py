"""Rule files: TOML data naming registered checks. Loading validates structure, then meaning.

A rule file is a list of `[[rule]]` tables:

    [[rule]]
    id = "STAT-01"
    title = "Status report stale for an active project"
    applies_to = "project"
    check = "status_report_fresh"
    severity = "high"
    remediation = "Publish this period's status report."
    audience = ["pm", "pmo"]
    params = { warn_after_days = 7, alarm_after_days = 14 }
    scope = { departments = ["IT"], phases = ["Execution"], tags = [], projects = [] }   # optional

1. Structure (pydantic, `extra="forbid"`): every key known, every type right, severity and audience from
   their fixed vocabularies.
2. Meaning: the check exists ("Valid values are: [...]"), `applies_to` is the check's subject kind, `params`
   validate against the check's `Params` (unknown parameter, wrong type, warn >= alarm...), ids are unique
   across every file loaded together.

Every problem raises `hub.errors.ConfigError` naming the file, the rule id and the problem. `json_schema()`
derives a JSON Schema for rule files from the registry (one variant per check, discriminated by `check`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Iterable, Iterator, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

import mappings
from hub.errors import ConfigError
from hub.model import Project, Severity
from hub.rules.registry import Check, CheckParams, SubjectKind, get_checks

if TYPE_CHECKING:
    from hub.rules.settings import StandardsSettings

DEFAULT_CATALOG = Path(mappings.__file__).parent / "standards.toml"

Audience = Literal["pm", "pmo", "sponsor", "owner", "executive"]
RULE_ID_PATTERN = r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$"


class Scope(BaseModel):
    """Optional filters: a rule applies only to projects matching every non-empty list (case-insensitive)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    departments: list[str] = Field(default_factory=list)
    phases: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list, description="the project has at least one of these tags")
    projects: list[str] = Field(default_factory=list, description="project keys")

    @property
    def empty(self) -> bool:
        return not (self.departments or self.phases or self.tags or self.projects)

    def matches(self, project: Project) -> bool:
        def has(values: list[str], v: str | None) -> bool:
            return v is not None and v.lower() in {x.lower() for x in values}

        return (
            (not self.departments or has(self.departments, project.department))
            and (not self.phases or has(self.phases, project.phase))
            and (not self.projects or project.key in self.projects)
            and (not self.tags or any(has(self.tags, t) for t in project.tags))
        )


class RuleSpec(BaseModel):
    """One `[[rule]]` table, as written."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=RULE_ID_PATTERN, description='e.g. "STAT-01"')
    title: str = Field(min_length=1)
    applies_to: SubjectKind
    check: str
    severity: Severity
    params: dict[str, Any] = Field(default_factory=dict)
    scope: Scope = Field(default_factory=Scope)
    remediation: str = Field(min_length=1, description="what the PM should do")
    audience: list[Audience] = Field(default_factory=lambda: ["pm"], min_length=1)
    description: str = ""


@dataclass(frozen=True)
class LoadedRule:
    """A validated rule: its spec, its check class, its validated params and the file it came from."""

    spec: RuleSpec
    check: type[Check]
    params: CheckParams
    file: str

    @property
    def id(self) -> str:
        return self.spec.id


class RuleSet:
    """Validated rules by id, in file order."""

    def __init__(self, rules: dict[str, LoadedRule]):
        self.rules = rules

    def __iter__(self) -> Iterator[LoadedRule]:
        return iter(self.rules.values())

    def __len__(self) -> int:
        return len(self.rules)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self.rules

    def get(self, rule_id: str) -> LoadedRule | None:
        return self.rules.get(rule_id)

    def ids(self) -> list[str]:
        return list(self.rules)

    def files(self) -> list[str]:
        return list(dict.fromkeys(r.file for r in self))


# --- pydantic errors -> one-line messages that list the valid choices ---


def _unwrap(ann: Any) -> Any:
    """Strip Optional / list / Annotated down to the element type."""
    while True:
        origin = get_origin(ann)
        if origin is Annotated:
            ann = get_args(ann)[0]
        elif origin in (Union, list, tuple, set, frozenset) or str(origin) == "types.UnionType":
            args = [a for a in get_args(ann) if a is not type(None) and a is not Ellipsis]
            if len(args) != 1:
                return ann
            ann = args[0]
        else:
            return ann


def _annotation_at(model: type[BaseModel], loc: tuple) -> Any:
    ann: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        base = _unwrap(ann)
        if not (isinstance(base, type) and issubclass(base, BaseModel) and part in base.model_fields):
            return None
        ann = base.model_fields[part].annotation
    return ann


def _fmt_loc(loc: tuple) -> str:
    """("audience", 0) -> "audience[0]"; ("scope", "tags") -> "scope.tags"."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def describe_errors(e: ValidationError, model: type[BaseModel], prefix: str = "") -> str:
    """A ValidationError as one line: `where: problem` items joined by "; ", valid names listed."""
    parts = []
    for err in e.errors():
        loc = tuple(err["loc"])
        where = prefix + _fmt_loc(loc) if loc else prefix.rstrip(".") or "rule"
        kind = err["type"]
        if kind == "extra_forbidden":
            base = _unwrap(_annotation_at(model, loc[:-1]))
            valid = sorted(base.model_fields) if isinstance(base, type) and issubclass(base, BaseModel) else []
            parts.append(f"{where}: unknown key. Valid keys are: {valid}")
        elif kind == "literal_error":
            valid = list(get_args(_unwrap(_annotation_at(model, loc))))
            parts.append(f"{where}: {err['input']!r} is not valid. Valid values are: {valid}")
        elif kind == "missing":
            parts.append(f"{where}: required")
        else:
            msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
            parts.append(f"{where}: {msg}")
    return "; ".join(parts)


# --- loading ---


def read_toml(path: Path) -> dict[str, Any]:
    """The TOML file as a dict; ConfigError naming the file if it cannot be read or parsed."""
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read file: {e.strerror or e}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e


def validate_params(check: type[Check], params: dict[str, Any], where: str) -> CheckParams:
    """`params` validated against the check's Params; ConfigError prefixed with `where` otherwise."""
    try:
        return check.Params.model_validate(params)
    except ValidationError as e:
        raise ConfigError(f"{where}: {describe_errors(e, check.Params, 'params.')}") from e


def load_rule(raw: Any, file: str, position: int) -> LoadedRule:
    """One raw `[[rule]]` table -> LoadedRule: structure first, then meaning."""
    label = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else f"#{position}"
    where = f"{file}: rule {label}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a table ([[rule]]), got {type(raw).__name__}")
    try:
        spec = RuleSpec.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(f"{where}: {describe_errors(e, RuleSpec)}") from e
    registry = get_checks()
    check = registry.get(spec.check)
    if check is None:
        raise ConfigError(f"{where}: check: unknown check {spec.check!r}. Valid values are: {registry.names()}")
    if spec.applies_to != check.applies_to:
        raise ConfigError(
            f"{where}: applies_to: {spec.applies_to!r} does not match check {check.name!r}, "
            f"which applies to {check.applies_to!r}"
        )
    params = validate_params(check, spec.params, where)
    return LoadedRule(spec=spec, check=check, params=params, file=file)


def load_rule_file(path: str | Path) -> list[LoadedRule]:
    path = Path(path)
    data = read_toml(path)
    unknown = sorted(set(data) - {"rule"})
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key {unknown[0]!r}. Valid keys are: ['rule']")
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list):
        raise ConfigError(f"{path}: 'rule' must be an array of tables ([[rule]])")
    return [load_rule(raw, str(path), i) for i, raw in enumerate(raw_rules, start=1)]


def load_rules(paths: Iterable[str | Path]) -> RuleSet:
    """Load and validate rule files together; an id defined twice (in one file or two) is an error."""
    rules: dict[str, LoadedRule] = {}
    for path in paths:
        for loaded in load_rule_file(path):
            first = rules.get(loaded.id)
            if first is not None:
                raise ConfigError(f"{loaded.file}: rule {loaded.id}: duplicate id (already defined in {first.file})")
            rules[loaded.id] = loaded
    return RuleSet(rules)


def load_default_rules() -> RuleSet:
    """The built-in catalog, `mappings/standards.toml`."""
    return load_rules([DEFAULT_CATALOG])


def validate_file(path: str | Path, *, settings: StandardsSettings | None = None) -> RuleSet:
    """Validate one rule file on its own (for `pmo-hub rules validate FILE`); raises ConfigError.

    With `settings`, also what depends on them: scope phases and phase params against the lifecycle."""
    ruleset = load_rules([path])
    if settings is not None:
        from hub.rules.binding import bind  # binding builds on this module

        bind(ruleset, settings.model_copy(update={"overrides": [], "waivers": [], "waiver_files": [], "disable": []}))
    return ruleset


# --- JSON Schema ---


def rule_file_model() -> type[BaseModel]:
    """A pydantic model of a whole rule file: `rule` is a list of per-check variants discriminated by `check`."""
    variants = []
    for name, check in get_checks().items():
        variants.append(
            create_model(
                f"Rule_{name}",
                __base__=RuleSpec,
                __doc__=check.summary().splitlines()[0] if check.__doc__ else name,
                check=(Literal[name], ...),
                applies_to=(Literal[check.applies_to], ...),  # type: ignore[valid-type]
                params=(check.Params, Field(default_factory=check.Params)),
            )
        )
    rule_type = Annotated[Union[tuple(variants)], Field(discriminator="check")]  # type: ignore[valid-type]
    return create_model(
        "RuleFile",
        __config__=ConfigDict(extra="forbid", title="pmo-hub rule file"),
        rule=(list[rule_type], Field(default_factory=list)),  # type: ignore[valid-type]
    )


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) for rule files, generated from the registry."""
    schema = TypeAdapter(rule_file_model()).json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
