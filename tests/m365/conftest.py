"""Fixtures for the Microsoft 365 tests: a sandbox over real HTTP(S) on loopback and a hub config with only an
[m365] section (app-only msal sign-in against the sandbox's token endpoint, Graph through requests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub import config as config_mod
from hub.sandbox.run import m365_section, start
from hub.state import State

ALL_PARTS = ("register", "raid", "status_reports", "approvals", "planner", "finance")


class M365Hub:
    """A sandbox, an M365-only hub config for it, and helpers to drive and inspect both."""

    def __init__(self, server, tmp: Path, *, pull=ALL_PARTS, planner: bool = True, summaries: bool = True,
                 extra: str = ""):
        self.server = server
        self.tmp = tmp
        self.config_path = tmp / "config.toml"
        self.write(pull=pull, planner=planner, summaries=summaries, extra=extra)

    def write(self, *, pull=ALL_PARTS, planner: bool = True, summaries: bool = True, extra: str = "") -> None:
        text = ('[hub]\ntimezone = "Europe/London"\nname = "M365 sandbox"\n\n[state]\nurl = "state.db"\n'
                + m365_section(self.server, self.config_path, pull=pull, planner=planner, summaries=summaries)
                + extra)
        self.config_path.write_text(text, encoding="utf-8")

    @property
    def graph(self):
        return self.server.app("graph")

    def config(self):
        return config_mod.load(self.config_path)

    def state(self) -> State:
        cfg = self.config()
        return State.open(cfg.state.resolved_url(cfg.base_dir))

    def connectors(self):
        from hub import sync

        cfg = self.config()
        return sync.build_connectors(cfg, sync.make_policy(cfg))

    def sync(self, connectors=None, **kw):
        from hub import sync

        cfg = self.config()
        state = State.open(cfg.state.resolved_url(cfg.base_dir))
        try:
            return sync.run(cfg, state, connectors=connectors, **kw)
        finally:
            state.close()
            for c in (connectors or {}).values():
                c.close()

    def stats(self, system: str = "graph") -> dict:
        return self.server.stats.snapshot()["systems"].get(system, {"total": 0, "writes": 0, "routes": {}})

    def reset_stats(self) -> None:
        self.server.stats.reset()

    @property
    def token_cache(self) -> Path:
        return self.tmp / "m365-token-cache.json"


@pytest.fixture
def m365_hub(tmp_path):
    server = start(port=0, projects=6, items_per_project=8)
    try:
        yield M365Hub(server, tmp_path)
    finally:
        server.stop()


@pytest.fixture
def register_hub(tmp_path):
    """100 projects, register only, governance columns only (no Planner, Teams or mail)."""
    server = start(port=0, projects=100, items_per_project=1)
    try:
        yield M365Hub(server, tmp_path, pull=("register",), planner=False, summaries=False)
    finally:
        server.stop()
