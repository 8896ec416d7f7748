"""Settings bound to rules: overrides and their precedence, disable, waivers (active and expired), lifecycle,
failed source systems; and the engine's own guarantees (Results valid, scope, a crashing check, speed)."""

from __future__ import annotations

import importlib.util
import time
from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.errors import ConfigError
from hub.model import Result, SourceFailure
from hub.rules import evaluate, expired_waivers, load_standards
from hub.rules.loader import load_rules
from hub.rules.settings import StandardsSettings

from .builders import CATALOG, TODAY, good_portfolio, good_project, only, run_rule, upd


def two_projects():
    """APOL (IT, Execution) and BETA (Finance, Execution); both with a status report 20 days old."""
    pf = good_portfolio()
    beta = good_project("BETA", department="Finance")
    pf.projects["BETA"] = beta
    for r in pf.status_reports:
        r.report_date = date(2025, 5, 13)
    pf.status_reports += [r.model_copy(update={"project_key": "BETA", "key": "BETA-" + r.key}, deep=True)
                          for r in pf.status_reports]
    return pf


def stat01(pf, **settings) -> dict[str, Result]:
    return {r.project: r for r in run_rule("STAT-01", pf, StandardsSettings(**settings))}


# --- overrides ---


def test_override_precedence_project_over_department_over_phase_over_portfolio():
    wide = {"rule": "STAT-01", "params": {"warn_after_days": 25, "alarm_after_days": 30}}  # 20 days: ok
    phase = {"rule": "STAT-01", "phase": "Execution", "params": {"warn_after_days": 15}}  # 20 days: low
    dept = {"rule": "STAT-01", "department": "IT", "params": {"warn_after_days": 10, "alarm_after_days": 18}}  # high
    proj = {"rule": "STAT-01", "project": "APOL", "params": {"warn_after_days": 21, "alarm_after_days": 40}}  # ok

    r = stat01(two_projects())
    assert (r["APOL"].status, r["APOL"].severity) == ("alarm", "high")  # catalog default: 14 days
    r = stat01(two_projects(), overrides=[wide])
    assert r["APOL"].status == r["BETA"].status == "ok"
    r = stat01(two_projects(), overrides=[dept, phase, wide])  # order in the file does not matter
    assert (r["APOL"].status, r["APOL"].severity) == ("alarm", "high")  # department beats phase and portfolio
    assert (r["BETA"].status, r["BETA"].severity) == ("alarm", "low")  # phase beats portfolio; not IT
    r = stat01(two_projects(), overrides=[proj, dept, phase, wide])
    assert r["APOL"].status == "ok"  # project beats department
    assert (r["BETA"].status, r["BETA"].severity) == ("alarm", "low")


def test_overrides_are_validated_at_load_time():
    with pytest.raises(ConfigError, match=r"standards.overrides\[0\]: unknown rule id 'STAT-1'. Valid values are: "
                                          r"\['INIT-01'"):
        load_standards(StandardsSettings(overrides=[{"rule": "STAT-1", "params": {"warn_after_days": 1}}]))
    with pytest.raises(ConfigError, match=r"standards.overrides\[0\] \(rule STAT-01\): params.warn_days: unknown key. "
                                          r"Valid keys are: \['alarm_after_days', 'warn_after_days'"):
        load_standards(StandardsSettings(overrides=[{"rule": "STAT-01", "params": {"warn_days": 1}}]))
    with pytest.raises(ConfigError, match=r"warn_after_days \(20\) must be below alarm_after_days \(14\)"):
        load_standards(StandardsSettings(overrides=[{"rule": "STAT-01", "params": {"warn_after_days": 20}}]))
    with pytest.raises(ConfigError, match=r"phase: 'Build' is not a lifecycle phase. Valid values are: \['Initiation'"):
        load_standards(StandardsSettings(overrides=[{"rule": "STAT-01", "phase": "Build",
                                                     "params": {"warn_after_days": 1}}]))
    with pytest.raises(ValidationError):  # structure: unknown key in an override
        StandardsSettings(overrides=[{"rule": "STAT-01", "dept": "IT", "params": {"warn_after_days": 1}}])


def test_disable():
    with pytest.raises(ConfigError, match=r"standards.disable\[1\]: unknown rule id 'TRAIN-9'. Valid values are: "):
        load_standards(StandardsSettings(disable=["TRAIN-02", "TRAIN-9"]))
    every = {r.rule for r in evaluate(good_portfolio(), CATALOG, StandardsSettings(), today=TODAY)}
    results = evaluate(good_portfolio(), CATALOG, StandardsSettings(disable=["TRAIN-02", "DATA-02"]), today=TODAY)
    assert {r.rule for r in results} == every - {"TRAIN-02", "DATA-02"}


# --- waivers ---

WAIVER = {"rule": "VAR-01", "project": "APOL", "justification": "Vendor holds the baseline under contract.",
          "approver": "pmo@example.com", "expires": date(2025, 12, 31)}


def no_baseline():
    pf = good_portfolio()
    upd(pf.projects["APOL"], baseline=None)
    return pf


def test_active_waiver_turns_the_alarm_into_waived():
    (r,) = run_rule("VAR-01", no_baseline(), StandardsSettings(waivers=[WAIVER]))
    assert r.status == "waived"
    assert r.waiver["approver"] == "pmo@example.com" and r.waiver["expired"] is False
    assert r.waiver["origin"] == "standards.waivers[0]" and r.waiver["expires"] == "2025-12-31"
    assert "without a baseline" in r.reason  # the reason still says what is wrong


def test_expired_waiver_no_longer_waives_and_is_reported():
    settings = StandardsSettings(waivers=[{**WAIVER, "expires": date(2025, 5, 31)}])
    (r,) = run_rule("VAR-01", no_baseline(), settings)
    assert r.status == "alarm" and r.waiver["expired"] is True
    assert [w["rule"] for w in expired_waivers(settings, TODAY)] == ["VAR-01"]
    assert expired_waivers(settings, date(2025, 5, 31)) == []  # valid through its expiry day


def test_waiver_selectors():
    by_subject = {**WAIVER, "project": None, "subject": "project:APOL"}
    other = {**WAIVER, "project": "BETA"}
    other_rule = {**WAIVER, "rule": "VAR-02"}
    assert run_rule("VAR-01", no_baseline(), StandardsSettings(waivers=[by_subject]))[0].status == "waived"
    results = evaluate(no_baseline(), CATALOG, StandardsSettings(waivers=[other, other_rule]), today=TODAY)
    (r,) = [r for r in results if r.rule == "VAR-01"]
    assert r.status == "alarm" and r.waiver is None
    ok = run_rule("VAR-01", good_portfolio(), StandardsSettings(waivers=[WAIVER]))[0]
    assert ok.status == "ok" and ok.waiver is None  # waivers only touch alarms
    with pytest.raises(ValidationError, match="a waiver needs a selector"):
        StandardsSettings(waivers=[{**WAIVER, "project": None}])


def test_waiver_files(tmp_path: Path):
    f = tmp_path / "waivers.toml"
    f.write_text('[[waiver]]\nrule = "VAR-01"\nproject = "APOL"\njustification = "Contract."\n'
                 'approver = "pmo@example.com"\nexpires = 2025-12-31\n')
    settings = StandardsSettings(waiver_files=["waivers.toml"]).resolve_paths(tmp_path)
    (r,) = run_rule("VAR-01", no_baseline(), settings)
    assert r.status == "waived" and r.waiver["origin"] == f"{f}#1"
    f.write_text('[[waiver]]\nrule = "VAR-99"\nproject = "APOL"\njustification = "x"\napprover = "y"\n'
                 'expires = 2025-12-31\n')
    with pytest.raises(ConfigError, match=rf"{f}#1: unknown rule id 'VAR-99'. Valid values are: "):
        load_standards(settings)
    f.write_text('[[waiver]]\nrule = "VAR-01"\nproject = "APOL"\napprover = "y"\nexpires = 2025-12-31\n')
    with pytest.raises(ConfigError, match=rf"{f}: waiver #1 \(rule VAR-01\): justification: required"):
        load_standards(settings)


# --- rule files, lifecycle ---


def test_load_standards_adds_extra_files_relative_to_the_config(tmp_path: Path):
    (tmp_path / "acme.toml").write_text(
        '[[rule]]\nid = "ACME-01"\ntitle = "Finance reports weekly"\napplies_to = "project"\n'
        'check = "status_report_fresh"\nseverity = "medium"\nremediation = "Report weekly."\n'
        'params = { warn_after_days = 3, alarm_after_days = 7 }\nscope = { departments = ["finance"] }\n')
    settings = StandardsSettings(files=["acme.toml"])
    rs = load_standards(settings, base_dir=tmp_path)
    assert rs.ids()[-1] == "ACME-01" and len(rs) == len(CATALOG) + 1
    pf = two_projects()
    results = evaluate(pf, rs, settings, today=TODAY)
    acme = [r for r in results if r.rule == "ACME-01"]
    assert [(r.project, r.status) for r in acme] == [("BETA", "alarm")]  # scope: Finance only (case-insensitive)


def test_scope_phases_must_be_lifecycle_phases(tmp_path: Path):
    (tmp_path / "acme.toml").write_text(
        '[[rule]]\nid = "ACME-01"\ntitle = "t"\napplies_to = "project"\ncheck = "baseline_set"\n'
        'severity = "low"\nremediation = "r"\nscope = { phases = ["Build"] }\n')
    with pytest.raises(ConfigError, match=r"acme.toml: rule ACME-01: scope.phases: 'Build' is not a lifecycle phase"):
        load_standards(StandardsSettings(include_defaults=False, files=[str(tmp_path / "acme.toml")]))


def test_custom_lifecycle():
    life = {"phases": ["Discovery", "Delivery", "Closing"],
            "gates": [{"name": "D1", "enters": "Delivery"}, {"name": "D2", "enters": "closed"}]}
    with pytest.raises(ConfigError, match=r"rule TRAIN-01: params.from_phase: 'Planning' is not a lifecycle phase"):
        load_standards(StandardsSettings(lifecycle=life))
    settings = StandardsSettings(lifecycle=life, overrides=[
        {"rule": "TRAIN-01", "params": {"from_phase": "Delivery"}},
        {"rule": "VAR-01", "params": {"from_phase": "Delivery"}}])
    rs = load_standards(settings)
    pf = good_portfolio()
    upd(pf.projects["APOL"], phase="Delivery")
    (r,) = [r for r in evaluate(pf, rs, settings, today=TODAY) if r.rule == "GATE-01"]
    assert r.status == "alarm" and "D1 (no decision)" in r.reason
    with pytest.raises(ValidationError, match="gate G9: enters 'Build' is not a phase"):
        StandardsSettings(lifecycle={"gates": [{"name": "G9", "enters": "Build"}]})


# --- failed source systems ---


def test_a_failed_system_turns_dependent_checks_into_errors():
    pf = good_portfolio()
    pf.source_failures.append(SourceFailure(system="m365", message="HTTP 503", at=pf.as_of))
    results = evaluate(pf, CATALOG, StandardsSettings(), today=TODAY)
    assert {r.status for r in results} == {"error"}  # suppliers unknown: any failure may hide data
    assert "the pull from m365 failed" in results[0].reason

    suppliers = {"status_reports": ["m365"], "approvals": ["m365"], "projects": ["jira", "sheets"],
                 "work_items": ["jira"], "raid": ["jira"], "milestones": ["jira"], "people": ["sheets"],
                 "training": ["sheets"]}
    results = evaluate(pf, CATALOG, StandardsSettings(suppliers=suppliers), today=TODAY)
    errors = {r.rule for r in results if r.status == "error"}
    assert errors == {"STAT-01", "STAT-02", "STAT-03", "STAT-04", "STAT-05", "APPR-01", "APPR-03", "APPR-04"}


# --- engine guarantees ---


def test_results_are_valid_results():
    pf = good_portfolio()
    upd(pf.projects["APOL"], baseline=None, sponsor=None)
    results = evaluate(pf, CATALOG, StandardsSettings(waivers=[WAIVER]), today=TODAY)
    assert {"ok", "alarm", "waived", "skip"} <= {r.status for r in results}
    for r in results:
        assert Result.model_validate(r.model_dump()) == r
        assert r.model_dump_json()


def test_out_of_scope_rules_give_no_rows(tmp_path: Path):
    (tmp_path / "r.toml").write_text(
        '[[rule]]\nid = "ACME-01"\ntitle = "t"\napplies_to = "project"\ncheck = "baseline_set"\n'
        'severity = "low"\nremediation = "r"\nscope = { tags = ["regulated"], projects = ["APOL"] }\n')
    rs = load_rules([tmp_path / "r.toml"])
    pf = good_portfolio()
    assert evaluate(pf, rs, StandardsSettings(), today=TODAY) == []
    pf.projects["APOL"].tags = ["Regulated"]
    assert [r.status for r in evaluate(pf, rs, StandardsSettings(), today=TODAY)] == ["ok"]


def test_a_crashing_check_gives_an_error_row_not_a_crash(monkeypatch):
    check = CATALOG.get("INIT-02").check

    def boom(self, subject, ctx, p):
        raise KeyError("surprise")

    monkeypatch.setattr(check, "evaluate", boom)
    (r,) = evaluate(good_portfolio(), only("INIT-02"), StandardsSettings(), today=TODAY)
    assert r.status == "error" and "sponsor_and_pm_named failed" in r.reason and "KeyError" in r.reason


def test_engine_speed_smoke():
    """A tenth of the benchmark (bench/bench_engine.py: 2,000 projects, 100,000 work items, target < 2 s)."""
    path = Path(__file__).parents[2] / "bench" / "bench_engine.py"
    spec = importlib.util.spec_from_file_location("bench_engine", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    pf = bench.build_portfolio(200, 10_000)
    evaluate(pf, CATALOG, StandardsSettings(), today=bench.TODAY)  # builds the portfolio's indexes
    t0 = time.perf_counter()
    results = evaluate(pf, CATALOG, StandardsSettings(), today=bench.TODAY)
    elapsed = time.perf_counter() - t0
    assert len(results) > 9_000
    assert elapsed < 1.0, f"{elapsed:.2f}s for a tenth of the benchmark portfolio"
    assert not [r for r in results if "failed on this record" in r.reason]
