"""What the hub writes is owner-only: files 0600, the directories it creates 0700, whatever the umask.

The state store (the SQLite file, its WAL and shared-memory files) holds the audit trail of a company's tools; the
msal token cache holds access tokens; reports and the audit export hold project data and people's e-mails; the
files `pmo-hub sandbox --config-out` writes hold credentials. Each is created owner-only, and one found looser
(an older version, a copy) is tightened when the hub opens it. The hub writes no log files: logs go to stderr.

Run with umask 000, so that nothing is owner-only by accident.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from hub import cli
from hub.sandbox.run import start, write_config

pytestmark = pytest.mark.slow

JOBS = '''out_dir = "var/scheduled"
formats = ["html", "csv"]

[[jobs]]
name = "daily-report"
kind = "report"
at = "00:01"
'''


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.fixture
def open_umask():
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture(scope="module")
def server():
    srv = start(port=0, projects=3, items_per_project=3)
    yield srv
    srv.stop()


def hub_config(server, base: Path) -> Path:
    """A hub for all three systems whose state lives in var/ (a directory the hub creates)."""
    path = write_config(server, base / "config.toml", state="var/state.db", extra=JOBS)
    return path


def run(capsys, *argv: str) -> str:
    capsys.readouterr()
    code = cli.main(list(argv))
    out = capsys.readouterr()
    assert code in (0, 1), out.out + out.err
    return out.out + out.err


def test_state_token_cache_reports_and_audit_export_are_owner_only(server, tmp_path, open_umask, capsys):
    config = hub_config(server, tmp_path / "hub")
    run(capsys, "sync", "--config", str(config))
    var = tmp_path / "hub" / "var"
    assert mode(var) == 0o700
    assert mode(var / "state.db") == 0o600
    assert mode(var / "m365-token-cache.json") == 0o600
    for fmt in ("html", "json", "csv", "xlsx", "md"):
        out = tmp_path / "hub" / "reports" / "2026" / f"report.{fmt}"
        run(capsys, "report", "--config", str(config), "--format", fmt, "--out", str(out))
        assert mode(out) == 0o600, fmt
        assert not list(out.parent.glob("*.part"))  # (no temporary file is left)
    assert mode(tmp_path / "hub" / "reports") == 0o700 and mode(tmp_path / "hub" / "reports" / "2026") == 0o700
    csv = tmp_path / "hub" / "audit.csv"
    run(capsys, "audit", "--config", str(config), "--csv", str(csv))
    assert mode(csv) == 0o600
    run(capsys, "run", "--config", str(config), "--once")
    scheduled = var / "scheduled"
    assert mode(scheduled) == 0o700 and scheduled.is_dir()
    files = list(scheduled.iterdir())
    assert len(files) == 2 and all(mode(f) == 0o600 for f in files), [(f.name, oct(mode(f))) for f in files]


def test_the_wal_and_shared_memory_files_are_owner_only_while_the_store_is_open(tmp_path, open_umask):
    from hub.state import State

    db = tmp_path / "deep" / "er" / "state.db"
    state = State.open(f"sqlite:///{db}")
    try:
        with state.transaction():
            state.set_cursor("jira", {"x": 1})
        wal, shm = db.with_name("state.db-wal"), db.with_name("state.db-shm")
        assert wal.exists() and shm.exists()
        assert (mode(db), mode(wal), mode(shm)) == (0o600, 0o600, 0o600)
        assert mode(db.parent) == 0o700 and mode(db.parent.parent) == 0o700
    finally:
        state.close()


def test_a_state_file_and_token_cache_found_readable_by_others_are_tightened(server, tmp_path, open_umask, capsys):
    config = hub_config(server, tmp_path / "hub")
    run(capsys, "sync", "--config", str(config))
    var = tmp_path / "hub" / "var"
    for name in ("state.db", "m365-token-cache.json"):
        (var / name).chmod(0o644)  # as an older version, or a copy, left them
    (var / "state.db-wal").write_bytes(b"")
    (var / "state.db-wal").chmod(0o666)
    run(capsys, "sync", "--config", str(config))
    assert mode(var / "state.db") == 0o600 and mode(var / "m365-token-cache.json") == 0o600
    assert not (var / "state.db-wal").exists() or mode(var / "state.db-wal") == 0o600


def test_the_sandbox_config_out_keeps_its_credentials_owner_only(tmp_path, open_umask):
    srv = start(port=0, projects=2, items_per_project=1)
    try:
        config = write_config(srv, tmp_path / "new" / "dir" / "config.toml")
    finally:
        srv.stop()
    assert mode(config.parent) == 0o700 and mode(config.parent.parent) == 0o700
    for name in ("config.jira-token", "config.google-key.json", "config.m365-secret"):
        assert mode(config.with_name(name)) == 0o600, name


def test_the_demo_directory_is_owner_only(tmp_path, open_umask, capsys):
    out = tmp_path / "demo-here"
    run(capsys, "demo", "--out", str(out))
    assert mode(out) == 0o700
    for p in out.iterdir():
        if p.name.endswith((".jira-token", ".google-key.json", ".m365-secret", ".db", ".json", ".html")):
            assert mode(p) == 0o600, (p.name, oct(mode(p)))
