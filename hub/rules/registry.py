"""The registry of checks: the code half of a rule (the rule file is the data half).

A *check* is a small class that knows how to evaluate one kind of subject (a project, a RAID entry, a gate...)
against one standard. A *rule* (in `mappings/standards.toml` or an extra rule file) names a check, gives it an
id, a severity, parameters, a scope, remediation text and an audience. One check can back several rules.

    @checks.register
    class ProfileComplete(Check):
        '''Docstring: what it checks, and a TOML rule example in a ```toml fence (a test loads every one).'''
        name = "project_profile_complete"        # what rule files put in `check = ...`
        applies_to = "project"                   # the subject kind (SUBJECT_KINDS)
        reads = ("projects",)                    # data kinds it reads (DATA_KINDS): a failed supplier -> error

        class Params(CheckParams):               # extra="forbid": an unknown parameter fails at load time
            fields: list[str] = [...]

        def evaluate(self, subject, ctx, p) -> Outcome: ...

`evaluate` returns an `Outcome`: status ok / alarm / skip / error, a one-sentence reason, an evidence dict of the
values used, the SourceRefs of the records used, and optionally a severity that overrides the rule's (for
multi-level rules: STAT-01 low after 7 days, high after 14). Build outcomes with `ok()`, `alarm()`, `skip()`
and `error()`; `unreadable(record, fields, label)` gives the `error` outcome when a needed field is in the
record's `invalid` dict, naming the place the connector recorded.

Hooks a check may override (the engine calls them in this order for each project in the rule's scope):
`subjects(ctx, p)` (default: every record of `applies_to` in the project), `applies(ctx, p)` (a reason to
skip the whole project, default: project state not in `states`), `evaluate(subject, ctx, p)`, and, once per
run, `orphans(run, p)` for subjects that belong to no known project (DATA-01's unmatched records). At load
time, `check_meaning(p, phases)` judges params against the configured lifecycle (default: `from_phase` and
`until_phase` must be lifecycle phases).
"""

from __future__ import annotations

import inspect
import re
import textwrap
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Literal, get_args

from pydantic import BaseModel, ConfigDict

from hub.model import Record, Severity, SourceRef

if TYPE_CHECKING:
    from hub.rules.context import ProjectContext, RunContext

SubjectKind = Literal[
    "project", "work_item", "risk", "milestone", "status_report", "gate", "approval", "person"
]
SUBJECT_KINDS: tuple[str, ...] = get_args(SubjectKind)

# The kinds of data a check can read. `[standards] suppliers` maps each to the systems that supply it, so
# that a failed pull turns exactly the affected checks into `error` results.
DataKind = Literal["projects", "work_items", "milestones", "raid", "status_reports", "approvals", "people",
                   "training"]
DATA_KINDS: tuple[str, ...] = get_args(DataKind)

OutcomeStatus = Literal["ok", "alarm", "skip", "error"]
ACTIVE_STATES = frozenset({"active", "on_hold"})


class CheckParams(BaseModel):
    """Base of every check's Params: unknown keys are rejected, values are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Outcome:
    """What a check says about one subject. Plain class with slots: the engine builds hundreds of thousands."""

    __slots__ = ("status", "reason", "evidence", "sources", "severity")

    def __init__(
        self,
        status: OutcomeStatus,
        reason: str,
        evidence: dict[str, Any] | None = None,
        sources: Iterable[SourceRef] = (),
        severity: Severity | None = None,
    ):
        self.status = status
        self.reason = reason
        self.evidence = evidence if evidence is not None else {}
        self.sources = sources if type(sources) is list else list(sources)
        self.severity = severity

    def __repr__(self) -> str:
        sev = f" [{self.severity}]" if self.severity else ""
        return f"Outcome({self.status}{sev}: {self.reason})"


def ok(reason: str, evidence: dict | None = None, sources: Iterable[SourceRef] = ()) -> Outcome:
    return Outcome("ok", reason, evidence, sources)


def alarm(
    reason: str, evidence: dict | None = None, sources: Iterable[SourceRef] = (), severity: Severity | None = None
) -> Outcome:
    return Outcome("alarm", reason, evidence, sources, severity)


def skip(reason: str, evidence: dict | None = None) -> Outcome:
    return Outcome("skip", reason, evidence)


def error(reason: str, evidence: dict | None = None, sources: Iterable[SourceRef] = ()) -> Outcome:
    return Outcome("error", reason, evidence, sources)


def unreadable(record: Record, fields: Iterable[str], label: str) -> Outcome | None:
    """The `error` outcome if any of `fields` (or a dotted part of one, e.g. "baseline.finish") is invalid.

    Connectors name a nested field flat ("baseline_finish" for `baseline.finish`): both spellings match.
    """
    inv = record.invalid
    if not inv:
        return None
    for f in fields:
        flat = f.replace(".", "_")
        hits = [k for k in inv if k in (f, flat) or k.startswith(f + ".") or f.startswith(k + ".")]
        if hits:
            k = hits[0]
            return error(
                f"Cannot evaluate: {k} of {label} is unreadable ({inv[k]}).",
                {"field": k, "invalid": inv[k]},
                record.sources,
            )
    return None


def iso(d: date | None) -> str | None:
    return d.isoformat() if d is not None else None


class Check:
    """Base of every check. Subclasses set the class attributes and implement `evaluate`."""

    name: ClassVar[str]
    applies_to: ClassVar[SubjectKind]
    reads: ClassVar[tuple[DataKind, ...]] = ("projects",)
    states: ClassVar[frozenset[str]] = ACTIVE_STATES  # project states the check runs for; others skip
    Params: ClassVar[type[CheckParams]] = CheckParams

    def subjects(self, ctx: ProjectContext, p: Any) -> Iterable[Any]:
        """The subjects of this check in one project (default: all records of `applies_to`)."""
        return ctx.records(self.applies_to)

    def applies(self, ctx: ProjectContext, p: Any) -> str | Outcome | None:
        """Why the check does not apply to this project at all (a skip reason for every subject), or None.

        May return an Outcome instead (e.g. `error` when the phase needed to decide cannot be read)."""
        state = ctx.project.state
        if state not in self.states:
            return f"Project {ctx.key} is {state.replace('_', ' ')}."
        return None

    def evaluate(self, subject: Any, ctx: ProjectContext, p: Any) -> Outcome:  # pragma: no cover - abstract
        raise NotImplementedError

    def orphans(self, run: RunContext, p: Any) -> Iterable[tuple[str | None, str, Outcome]]:
        """(project, subject, outcome) for subjects outside every known project; evaluated once per run."""
        return ()

    def check_meaning(self, p: Any, phases: list[str]) -> str | None:
        """A problem with these params that needs the configured lifecycle (e.g. an unknown phase), or None."""
        for field in ("from_phase", "until_phase"):
            value = getattr(p, field, None)
            if value is not None and value not in phases:
                return f"params.{field}: {value!r} is not a lifecycle phase. Valid values are: {phases}"
        return None

    @classmethod
    def example(cls) -> str:
        """The TOML rule example from the docstring (the first ```toml fence)."""
        m = re.search(r"```toml\n(.*?)```", inspect.cleandoc(cls.__doc__ or ""), re.S)
        return textwrap.dedent(m.group(1)) if m else ""

    @classmethod
    def summary(cls) -> str:
        """The docstring's text without the example."""
        doc = inspect.cleandoc(cls.__doc__ or "")
        return re.split(r"\n\s*```toml", doc)[0].strip()


class Registry:
    """Name -> check class, in the style of Cloud Custodian's registries. Registration order is kept."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, type[Check]] = {}

    def register(self, cls: type[Check]) -> type[Check]:
        name = cls.name
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} registered twice")
        if cls.applies_to not in SUBJECT_KINDS:
            raise ValueError(f"{self.kind} {name!r}: applies_to {cls.applies_to!r} is not one of {SUBJECT_KINDS}")
        self._items[name] = cls
        return cls

    def get(self, name: str) -> type[Check] | None:
        return self._items.get(name)

    def names(self) -> list[str]:
        return sorted(self._items)

    def items(self):
        return self._items.items()

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __len__(self) -> int:
        return len(self._items)


checks = Registry("check")


def get_checks() -> Registry:
    """The registry with every built-in check module imported."""
    import hub.rules.checks  # noqa: F401  (registers the built-in checks)

    return checks
