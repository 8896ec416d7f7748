"""Escalation: a violation that stays open too long reaches a higher audience.

The state store keeps, for every (rule, subject), when its violation was first seen, last seen and resolved.
`escalate` marks the results whose violation has been open longer than `[standards.escalation].after_days`
for its severity, adds the escalation audience to the result (so reports and digests reach, e.g., the PMO
lead and the executive), and returns the keys to record as escalated.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hub.model import Result
from hub.rules.settings import Escalation


def escalate(results: list[Result], first_seen: dict[tuple[str, str], datetime], policy: Escalation,
             *, now: datetime) -> list[tuple[str, str]]:
    keys = []
    for r in results:
        if r.status != "alarm":
            continue
        seen = first_seen.get((r.rule, r.subject))
        days = policy.after_days.get(r.severity)
        if seen is None or days is None or now - seen < timedelta(days=days):
            continue
        # results come from the engine via model_construct: set fields directly
        r.__dict__["escalated"] = True
        r.__dict__["audience"] = list(dict.fromkeys([*r.audience, *policy.audience]))
        keys.append((r.rule, r.subject))
    return keys
