"""Fixtures for the Google Sheets tests: the sandbox over real HTTP, gspread clients signed in as a service
account, and hub configs (Jira + Sheets, or Sheets alone) written for the sandbox."""

from __future__ import annotations

from pathlib import Path

import gspread
import pytest
from google.oauth2 import service_account

from connectors.sheets.client import SCOPES, RebasedSession
from hub import config as config_mod
from hub.sandbox.run import sheets_section, start, write_config
from hub.sandbox.seed import generate
from hub.sandbox.server import SandboxServer
from hub.sandbox.sheets import OFFICE_ACCOUNT, SheetsApp
from hub.state import State

API = Path(__file__).resolve().parents[3] / "shared" / "api" / "google"


def gspread_for(server: SandboxServer, account: str = OFFICE_ACCOUNT, *, scopes=SCOPES) -> gspread.Client:
    """The real gspread client, signed in with a service-account key the sandbox issued, talking to the sandbox."""
    info = server.app("sheets").key_file(account, base_url=server.url)
    creds = service_account.Credentials.from_service_account_info(info, scopes=list(scopes))
    session = RebasedSession(creds, rewrites=[("https://sheets.googleapis.com", server.url),
                                              ("https://www.googleapis.com", server.url),
                                              ("https://iamcredentials.googleapis.com", server.url)])
    gc = gspread.Client(auth=creds, session=session)
    gc.set_timeout(30)
    return gc


def sheets_stats(server: SandboxServer) -> dict:
    """Sheets API reads/writes, Drive reads and token requests the sandbox counted."""
    routes = server.stats.snapshot()["systems"].get("sheets", {}).get("routes", {})
    out = {"reads": 0, "writes": 0, "drive": 0, "token": 0}
    for key, n in routes.items():
        method, _, path = key.partition(" ")
        if path.startswith("/v4/"):
            out["reads" if method == "GET" else "writes"] += n
        elif path.startswith("/drive/"):
            out["drive"] += n
        else:
            out["token"] += n
    return out


class Hub:
    """A sandbox, a hub config for it, and a state store; `sync()` runs the hub once."""

    def __init__(self, server: SandboxServer, tmp: Path, *, jira: bool = True, extra: str = ""):
        self.server = server
        self.tmp = tmp
        self.jira = jira
        self.extra = extra
        self.write()

    def write(self, extra: str | None = None) -> None:
        extra = self.extra if extra is None else extra
        path = self.tmp / "config.toml"
        if self.jira:
            self.config_path = write_config(self.server, path, extra=extra)
        else:
            text = '[hub]\ntimezone = "Europe/London"\n\n[state]\nurl = "state.db"\n'
            text += sheets_section(self.server, path).replace('expect_in = ["jira"]', "expect_in = []") \
                .replace('expected_from = ["jira"]', "expected_from = []")
            path.write_text(text + "\n" + extra, encoding="utf-8")
            self.config_path = path

    @property
    def app(self) -> SheetsApp:
        return self.server.app("sheets")

    def config(self):
        return config_mod.load(self.config_path)

    def sync(self, **kw):
        from hub import sync

        cfg = self.config()
        state = State.open(cfg.state.resolved_url(cfg.base_dir))
        try:
            return sync.run(cfg, state, **kw)
        finally:
            state.close()

    def state(self) -> State:
        cfg = self.config()
        return State.open(cfg.state.resolved_url(cfg.base_dir))

    def sheet(self, tab: str = "Register"):
        return gspread_for(self.server).open_by_key(self.app.register_id).worksheet(tab)

    def stats(self) -> dict:
        return sheets_stats(self.server)


def sheets_server(projects: int = 12, *, locale: str = "de_DE", max_raid_rows: int | None = None,
                  items_per_project: int = 0) -> SandboxServer:
    portfolio = generate(projects=projects, items_per_project=items_per_project)
    server = SandboxServer([SheetsApp.from_seed(portfolio, locale=locale, max_raid_rows=max_raid_rows)])
    server.seed = portfolio  # type: ignore[attr-defined]
    return server.start()


@pytest.fixture(scope="module")
def server():
    """A Sheets-only sandbox shared by a module (tests that change the spreadsheet use `fresh`)."""
    srv = sheets_server()
    yield srv
    srv.stop()


@pytest.fixture
def fresh():
    srv = sheets_server()
    yield srv
    srv.stop()


@pytest.fixture
def office(server) -> gspread.Client:
    return gspread_for(server, OFFICE_ACCOUNT)


@pytest.fixture
def sheets_hub(tmp_path):
    """A Sheets-only hub (the register is the only source) against a fresh sandbox."""
    srv = sheets_server()
    try:
        yield Hub(srv, tmp_path, jira=False)
    finally:
        srv.stop()


@pytest.fixture
def full_hub(tmp_path):
    """Jira and Sheets from one seed, as `pmo-hub sandbox --config-out` writes them."""
    srv = start(projects=12, items_per_project=10)
    try:
        yield Hub(srv, tmp_path, jira=True)
    finally:
        srv.stop()
