"""Configuration loading: structure and meaning are checked before any network call."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub import config
from hub.cli import main
from hub.errors import ConfigError

GOOD = """
[hub]
timezone = "Europe/London"

[state]
url = "state.db"

[jira]
url = "https://example.atlassian.net"
email = "pmo-hub@example.com"
token_env = "PMO_HUB_TEST_TOKEN"
projects = ["APOL", "BRDG"]
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_valid_config_loads_and_resolves_relative_state_path(tmp_path):
    cfg = config.load(write(tmp_path, GOOD))
    assert cfg.jira.projects == ["APOL", "BRDG"]
    assert cfg.state.resolved_url(cfg.base_dir) == f"sqlite:///{tmp_path.resolve() / 'state.db'}"
    assert cfg.sources() == ["jira"]


def test_misspelt_key_names_key_and_lists_valid_keys(tmp_path):
    p = write(tmp_path, GOOD.replace("token_env", "tokne_env"))
    with pytest.raises(ConfigError) as e:
        config.load(p)
    msg = str(e.value)
    assert "unknown key 'jira.tokne_env'" in msg
    assert "token_env" in msg and "token_file" in msg  # the valid keys are listed
    assert str(p) in msg


def test_wrong_type_and_unknown_choice(tmp_path):
    p = write(tmp_path, GOOD + '\n[sync]\nconflict_policy = "always"\nmax_writes = "many"\n')
    with pytest.raises(ConfigError) as e:
        config.load(p)
    msg = str(e.value)
    assert "sync.conflict_policy" in msg and "'flag'" in msg and "'hub-wins'" in msg
    assert "sync.max_writes" in msg


def test_unknown_time_zone_and_bad_project_key(tmp_path):
    p = write(tmp_path, GOOD.replace("Europe/London", "Mars/Olympus").replace('"BRDG"', '"br dg"'))
    with pytest.raises(ConfigError) as e:
        config.load(p)
    assert "Mars/Olympus" in str(e.value)
    assert "'br dg' is not a Jira project key" in str(e.value)


def test_unknown_mapping_file_lists_shipped_mappings(tmp_path):
    p = write(tmp_path, GOOD + 'mapping = "jria.toml"\n')
    with pytest.raises(ConfigError) as e:
        config.load(p)
    assert "jria.toml" in str(e.value) and "jira.toml" in str(e.value)


def test_cli_exit_code_2_and_no_secret_in_output(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PMO_HUB_TEST_TOKEN", "s3cr3t-token-value")
    p = write(tmp_path, GOOD.replace("[sync]", "").replace("projects", "projcts"))
    code = main(["check", "--config", str(p)])
    cap = capsys.readouterr()
    assert code == 2
    assert "unknown key 'jira.projcts'" in cap.err
    assert "s3cr3t-token-value" not in cap.out + cap.err


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        config.load(tmp_path / "nope.toml")


def test_example_config_validates():
    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    cfg = config.load(example)
    assert cfg.jira is not None
