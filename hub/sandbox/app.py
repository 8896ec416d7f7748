"""Starting the sandbox: one loopback HTTP server serving every emulated system from one seed portfolio.

    server = start_sandbox(projects=12, items_per_project=40)
    server.url        # http://127.0.0.1:<port>; Jira under /rest/..., controls under /_sandbox/...
    server.seed       # the SeedPortfolio every emulator was built from
    server.app("jira").token_for("pmo-hub@example.com")
    server.stop()

`build_apps(portfolio)` is the list of emulators; the Google Sheets and Microsoft Graph emulators join it
when they exist.
"""

from __future__ import annotations

from datetime import date

from hub.sandbox.jira import JiraApp
from hub.sandbox.seed import SeedPortfolio, generate
from hub.sandbox.server import App, SandboxServer


def build_apps(portfolio: SeedPortfolio) -> list[App]:
    """Every emulated system, each loaded from the same portfolio."""
    return [JiraApp.from_seed(portfolio)]


def start_sandbox(*, port: int = 0, host: str = "127.0.0.1", seed: int = 7, projects: int = 48,
                  items_per_project: int = 80, today: date | None = None) -> SandboxServer:
    """Generate the portfolio, build the emulators and return a started server (`server.seed` = portfolio)."""
    portfolio = generate(seed=seed, today=today, projects=projects, items_per_project=items_per_project)
    server = SandboxServer(build_apps(portfolio), host=host, port=port)
    server.seed = portfolio  # type: ignore[attr-defined]
    return server.start()
