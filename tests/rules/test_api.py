"""`hub.rules.api`: the engine as sync, CLI and report call it, from the [standards] settings."""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path

import pytest

from hub.errors import ConfigError
from hub.rules import api
from hub.rules.settings import StandardsSettings

from .builders import TODAY, good_portfolio, upd

ROOT = Path(__file__).parents[2]
WAIVER = {"rule": "VAR-01", "project": "APOL", "justification": "Vendor contract.", "approver": "pmo@example.com",
          "expires": date(2025, 5, 1)}


def test_evaluate_configured_returns_results_and_expired_waivers():
    pf = good_portfolio()
    upd(pf.projects["APOL"], baseline=None)
    results, expired = api.evaluate_configured(StandardsSettings(waivers=[WAIVER]), pf, today=TODAY)
    (var01,) = [r for r in results if r.rule == "VAR-01"]
    assert var01.status == "alarm" and var01.waiver["expired"] is True
    assert [(w["rule"], w["selector"], w["expired"]) for w in expired] == [("VAR-01", "project:APOL", True)]
    assert expired[0]["expiry"] == date(2025, 5, 1)


def test_cli_helpers():
    rows = api.list_rules(StandardsSettings(disable=["TRAIN-02"]))
    assert len(rows) == 32 and [r["id"] for r in rows if r["disabled"]] == ["TRAIN-02"]
    assert api.describe_rule("VAR-02").startswith("VAR-02: Forecast finish slips against baseline")
    assert api.validate_file(ROOT / "mappings" / "standards.toml", StandardsSettings()) == 32
    with pytest.raises(ConfigError, match="unknown rule id 'VAR-09'"):
        api.describe_rule("VAR-09")


def test_settings_check_prefixes_the_config_source():
    with pytest.raises(ConfigError, match=r"^hub.toml: standards: standards.disable\[0\]: unknown rule id 'X-01'"):
        StandardsSettings(disable=["X-01"]).check(source="hub.toml")


def test_config_example_standards_section_is_valid():
    raw = tomllib.loads((ROOT / "config.example.toml").read_text())["standards"]
    StandardsSettings.model_validate(raw).check(base_dir=ROOT, source="config.example.toml")
