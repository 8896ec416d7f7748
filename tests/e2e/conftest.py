"""End-to-end fixtures: a real sandbox over HTTP on loopback and a hub config written for it."""

from __future__ import annotations

from pathlib import Path

import pytest
from jira import JIRA

from hub import config as config_mod
from hub.sandbox.run import start, write_config
from hub.state import State


class Hub:
    """A sandbox, a config for it, and helpers to drive and inspect both."""

    def __init__(self, server, tmp: Path, extra: str = "", *, sources: tuple[str, ...] = ("jira",)):
        self.server = server
        self.tmp = tmp
        self.sources = sources  # most tests here are about the Jira flow (tests/sheets, tests/m365 cover those)
        self.config_path = self._write(extra)

    def _write(self, extra: str) -> Path:
        return write_config(self.server, self.tmp / "config.toml", extra=extra,
                            sheets="sheets" in self.sources, m365="m365" in self.sources)

    @property
    def jira_app(self):
        return self.server.app("jira")

    def config(self):
        return config_mod.load(self.config_path)

    def rewrite(self, extra: str) -> None:
        self._write(extra)

    def state(self) -> State:
        cfg = self.config()
        return State.open(cfg.state.resolved_url(cfg.base_dir))

    def sync(self, **kw):
        from hub import sync

        cfg = self.config()
        state = State.open(cfg.state.resolved_url(cfg.base_dir))
        try:
            return sync.run(cfg, state, **kw)
        finally:
            state.close()

    def stats(self, system: str = "jira") -> dict:
        return self.server.stats.snapshot()["systems"].get(system, {"total": 0, "writes": 0, "routes": {}})

    def as_user(self, email: str) -> JIRA:
        """The real `jira` client signed in as a person (e.g. a PM editing an issue by hand)."""
        return JIRA(server=self.server.url, basic_auth=(email, self.jira_app.token_for(email)),
                    options={"rest_api_version": "3"}, max_retries=0)

    @property
    def bot(self) -> str:
        return self.jira_app.bot.email

    def pm_of(self, project: str) -> str:
        return next(p.pm for p in self.server.seed.projects if p.key == project)

    def field_id(self, name: str) -> str:
        client = self.as_user(self.jira_app.bot.email)
        return next(f["id"] for f in client.fields() if f["name"] == name)


@pytest.fixture
def hub(tmp_path):
    server = start(port=0)
    try:
        yield Hub(server, tmp_path)
    finally:
        server.stop()


@pytest.fixture
def full_hub(tmp_path):
    """Jira, Google Sheets and Microsoft 365 together, as the demo runs them."""
    server = start(port=0)
    try:
        yield Hub(server, tmp_path, sources=("jira", "sheets", "m365"))
    finally:
        server.stop()


@pytest.fixture(scope="module")
def shared_hub(tmp_path_factory):
    """One sandbox and one state for read-mostly tests in a module (do not mutate Jira through it)."""
    server = start(port=0)
    try:
        h = Hub(server, tmp_path_factory.mktemp("hub"))
        yield h
    finally:
        server.stop()
