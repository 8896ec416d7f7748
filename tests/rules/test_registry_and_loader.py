"""The registry meta-tests, the default catalog, rule-file validation and the JSON Schema."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import jsonschema
import pytest

from hub.errors import ConfigError
from hub.rules import (
    DEFAULT_CATALOG,
    describe_rule,
    get_checks,
    json_schema,
    list_rules,
    load_default_rules,
    load_rules,
    validate_file,
)
from hub.rules.registry import DATA_KINDS, SUBJECT_KINDS, CheckParams
from hub.rules.settings import StandardsSettings

CATALOG_IDS = (
    [f"INIT-0{i}" for i in range(1, 5)] + [f"TRAIN-0{i}" for i in range(1, 3)] + [f"STAT-0{i}" for i in range(1, 6)]
    + [f"APPR-0{i}" for i in range(1, 5)] + [f"RISK-0{i}" for i in range(1, 7)] + [f"GATE-0{i}" for i in range(1, 6)]
    + [f"VAR-0{i}" for i in range(1, 5)] + [f"DATA-0{i}" for i in range(1, 3)]
)
CHECKS = list(get_checks().items())


# --- meta-tests over the registry ---


@pytest.mark.parametrize("name,check", CHECKS, ids=[n for n, _ in CHECKS])
def test_every_check_declares_params_kind_and_reads(name, check):
    assert issubclass(check.Params, CheckParams) and check.Params is not CheckParams
    assert check.Params.model_config.get("extra") == "forbid"
    assert check.applies_to in SUBJECT_KINDS
    assert check.reads and set(check.reads) <= set(DATA_KINDS)
    for field, info in check.Params.model_fields.items():
        assert not info.is_required(), f"{name}.{field} needs a default"
    with pytest.raises(ConfigError, match="unknown key"):
        from hub.rules.loader import validate_params

        validate_params(check, {"no_such_param": 1}, "test")


@pytest.mark.parametrize("name,check", CHECKS, ids=[n for n, _ in CHECKS])
def test_every_check_docstring_example_loads(name, check, tmp_path):
    example = check.example()
    assert example, f"{name} has no ```toml example in its docstring"
    assert check.summary(), f"{name} docstring says nothing about what it checks"
    path = tmp_path / f"{name}.toml"
    path.write_text(example)
    ruleset = validate_file(path, settings=StandardsSettings())
    (rule,) = list(ruleset)
    assert rule.spec.check == name


def test_catalog_examples_match_the_catalog():
    """The docstring examples are the catalog rules (the catalog was written from them; keep them in step)."""
    catalog = {r.id: r for r in load_default_rules()}
    for name, check in CHECKS:
        example = tomllib.loads(check.example())["rule"][0]
        rule = catalog[example["id"]]
        assert rule.spec.check == name
        assert rule.params == check.Params.model_validate(example.get("params", {}))
        assert rule.spec.severity == example["severity"]


def test_default_catalog_has_exactly_the_catalog_ids():
    rs = load_default_rules()
    assert rs.ids() == CATALOG_IDS
    assert all(r.spec.remediation and r.spec.audience and r.spec.title for r in rs)


def test_catalog_severities_follow_the_standard():
    sev = {r.id: r.spec.severity for r in load_default_rules()}
    assert {k for k, v in sev.items() if v == "critical"} == {"INIT-01", "APPR-01", "GATE-01"}
    assert sev["TRAIN-02"] == "low" and sev["RISK-05"] == "medium" and sev["STAT-01"] == "high"


# --- loader errors name the file, the rule and the valid choices ---

GOOD_RULE = """
[[rule]]
id = "ACME-01"
title = "Custom"
applies_to = "project"
check = "status_report_fresh"
severity = "medium"
remediation = "Do it."
"""


def write(tmp_path: Path, text: str, name: str = "acme.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_a_minimal_rule_loads_with_the_checks_defaults(tmp_path):
    rs = validate_file(write(tmp_path, GOOD_RULE))
    rule = rs.get("ACME-01")
    assert rule.params.alarm_after_days == 14 and rule.spec.audience == ["pm"]


def test_unknown_check_lists_valid_checks(tmp_path):
    path = write(tmp_path, GOOD_RULE.replace("status_report_fresh", "status_report_frsh"))
    with pytest.raises(ConfigError) as e:
        validate_file(path)
    msg = str(e.value)
    assert str(path) in msg and "rule ACME-01" in msg and "'status_report_frsh'" in msg
    assert "Valid values are: [" in msg and "'status_report_fresh'" in msg


def test_unknown_param_lists_valid_params(tmp_path):
    path = write(tmp_path, GOOD_RULE + "params = { alarm_days = 3 }\n")
    with pytest.raises(ConfigError) as e:
        validate_file(path)
    msg = str(e.value)
    assert str(path) in msg and "rule ACME-01" in msg and "params.alarm_days: unknown key" in msg
    assert "Valid keys are: ['alarm_after_days', 'warn_after_days', 'warn_severity']" in msg


def test_bad_param_type_and_insensible_thresholds(tmp_path):
    with pytest.raises(ConfigError, match=r"rule ACME-01: params.alarm_after_days: Input should be a valid integer"):
        validate_file(write(tmp_path, GOOD_RULE + 'params = { alarm_after_days = "soon" }\n'))
    with pytest.raises(ConfigError, match=r"warn_after_days \(20\) must be below alarm_after_days \(14\)"):
        validate_file(write(tmp_path, GOOD_RULE + "params = { warn_after_days = 20 }\n"))


def test_unknown_scope_field_lists_valid_fields(tmp_path):
    path = write(tmp_path, GOOD_RULE + 'scope = { department = ["IT"] }\n')
    with pytest.raises(ConfigError) as e:
        validate_file(path)
    msg = str(e.value)
    assert str(path) in msg and "rule ACME-01" in msg and "scope.department: unknown key" in msg
    assert "Valid keys are: ['departments', 'phases', 'projects', 'tags']" in msg


def test_unknown_rule_key_and_bad_severity(tmp_path):
    with pytest.raises(ConfigError, match=r"rule ACME-01: severity: 'urgent' is not valid. Valid values are: "
                                          r"\['critical', 'high', 'medium', 'low'\]"):
        validate_file(write(tmp_path, GOOD_RULE.replace('"medium"', '"urgent"')))
    with pytest.raises(ConfigError, match=r"rule ACME-01: owner: unknown key. Valid keys are: \['applies_to',"):
        validate_file(write(tmp_path, GOOD_RULE + 'owner = "x"\n'))
    with pytest.raises(ConfigError, match=r"audience\[0\]: 'everyone' is not valid. Valid values are: \['pm', 'pmo'"):
        validate_file(write(tmp_path, GOOD_RULE + 'audience = ["everyone"]\n'))


def test_applies_to_must_match_the_check(tmp_path):
    with pytest.raises(ConfigError, match=r"applies_to: 'risk' does not match check 'status_report_fresh', "
                                          r"which applies to 'project'"):
        validate_file(write(tmp_path, GOOD_RULE.replace('applies_to = "project"', 'applies_to = "risk"')))


def test_duplicate_ids_rejected_within_and_across_files(tmp_path):
    path = write(tmp_path, GOOD_RULE + GOOD_RULE)
    with pytest.raises(ConfigError, match=rf"{re.escape(str(path))}: rule ACME-01: duplicate id"):
        validate_file(path)
    clash = write(tmp_path, GOOD_RULE.replace("ACME-01", "STAT-01"), "clash.toml")
    with pytest.raises(ConfigError) as e:
        load_rules([DEFAULT_CATALOG, clash])
    assert f"{clash}: rule STAT-01: duplicate id (already defined in {DEFAULT_CATALOG})" in str(e.value)


def test_validate_file_with_settings_checks_the_lifecycle(tmp_path):
    path = write(tmp_path, GOOD_RULE + 'scope = { phases = ["Delivery"] }\n')
    validate_file(path)  # structure and meaning of the file alone
    with pytest.raises(ConfigError, match=r"scope.phases: 'Delivery' is not a lifecycle phase"):
        validate_file(path, settings=StandardsSettings())
    validate_file(path, settings=StandardsSettings(lifecycle={"phases": ["Discovery", "Delivery"], "gates": []}))


def test_file_level_errors(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        validate_file(write(tmp_path, "[[rule]\n"))
    with pytest.raises(ConfigError, match=r"unknown top-level key 'rules'. Valid keys are: \['rule'\]"):
        validate_file(write(tmp_path, GOOD_RULE.replace("[[rule]]", "[[rules]]")))
    with pytest.raises(ConfigError, match="cannot read file"):
        validate_file(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match=r"rule #1: id: required"):
        validate_file(write(tmp_path, GOOD_RULE.replace('id = "ACME-01"\n', "")))


# --- JSON Schema ---


def test_json_schema_is_valid_and_accepts_the_catalog():
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    json.dumps(schema)
    validator = jsonschema.Draft202012Validator(schema)
    catalog = tomllib.loads(DEFAULT_CATALOG.read_text())
    assert not list(validator.iter_errors(catalog))


def test_json_schema_rejects_what_the_loader_rejects():
    validator = jsonschema.Draft202012Validator(json_schema())
    rule = tomllib.loads(GOOD_RULE)
    assert validator.is_valid(rule)
    rule["rule"][0]["params"] = {"alarm_days": 3}
    assert not validator.is_valid(rule)
    rule["rule"][0]["params"] = {}
    rule["rule"][0]["check"] = "nope"
    assert not validator.is_valid(rule)


# --- CLI helpers ---


def test_list_and_describe_rules():
    rs = load_default_rules()
    rows = list_rules(rs)
    assert rows[0] == {"id": "INIT-01", "title": "Work started without an approved initiation request",
                       "severity": "critical", "applies_to": "project", "check": "initiation_approved_before_work"}
    assert len(rows) == len(CATALOG_IDS)
    text = describe_rule(rs, "STAT-01")
    assert text.startswith("STAT-01: Status report stale")
    assert "alarm_after_days: int = 14" in text and "warn_severity:" in text
    assert '[[rule]]\n  id = "STAT-01"' in text and "Publish a status report" in text
    with pytest.raises(ConfigError, match=r"unknown rule id 'STAT-99'. Valid values are: \['INIT-01'"):
        describe_rule(rs, "STAT-99")
