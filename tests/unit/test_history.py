"""Violation history in the state store and escalation of violations that stay open."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hub.model import Result
from hub.rules.escalation import escalate
from hub.rules.settings import Escalation
from hub.state import State

T0 = datetime(2026, 11, 1, 8, tzinfo=timezone.utc)


def res(status: str, severity: str = "high", subject: str = "project:APOL") -> Result:
    return Result(rule="STAT-01", status=status, severity=severity, project="APOL", subject=subject, reason="r",
                  audience=["pm"])


def test_first_seen_last_seen_resolved_and_reopened(tmp_path):
    st = State.open(f"sqlite:///{tmp_path / 's.db'}")
    first = st.save_results("r1", [res("alarm")], now=T0)
    assert first[("STAT-01", "project:APOL")].startswith("2026-11-01T08")
    st.save_results("r2", [res("alarm")], now=T0 + timedelta(days=3))
    v = st.violations()[0]
    assert (v["first_seen"][:10], v["last_seen"][:10], v["resolved_on"]) == ("2026-11-01", "2026-11-04", None)
    st.save_results("r3", [res("ok")], now=T0 + timedelta(days=5))
    assert st.violations()[0]["resolved_on"][:10] == "2026-11-06"
    assert st.violations(open_only=True) == []
    again = st.save_results("r4", [res("alarm")], now=T0 + timedelta(days=9))
    assert again[("STAT-01", "project:APOL")][:10] == "2026-11-10"  # re-opened: a new first-seen date
    # an error result neither resolves nor extends a violation
    st.save_results("r5", [res("error")], now=T0 + timedelta(days=10))
    assert st.violations(open_only=True)[0]["last_seen"][:10] == "2026-11-10"
    st.close()


def test_escalation_after_days_per_severity_adds_audience():
    policy = Escalation(after_days={"high": 14, "critical": 3}, audience=["pmo", "executive"])
    old_high, new_high, crit = res("alarm", "high", "a"), res("alarm", "high", "b"), res("alarm", "critical", "c")
    ok = res("ok", "high", "d")
    first = {("STAT-01", "a"): T0, ("STAT-01", "b"): T0 + timedelta(days=10), ("STAT-01", "c"): T0,
             ("STAT-01", "d"): T0}
    keys = escalate([old_high, new_high, crit, ok], first, policy, now=T0 + timedelta(days=15))
    assert keys == [("STAT-01", "a"), ("STAT-01", "c")]
    assert old_high.escalated and old_high.audience == ["pm", "pmo", "executive"]
    assert not new_high.escalated and new_high.audience == ["pm"]
    assert not ok.escalated
