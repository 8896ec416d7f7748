"""Starting the sandbox: one loopback HTTP server serving every emulated system from one seed portfolio.

    server = start_sandbox(projects=12, items_per_project=40)
    server.url        # http://127.0.0.1:<port>; Jira under /rest/..., controls under /_sandbox/...
    server.https_url  # https://127.0.0.1:<port>: the same port over TLS (Graph under /v1.0/, login under /<tenant>/)
    server.ca_file    # the throw-away CA to verify it with (requests/msal `verify=`)
    server.seed       # the SeedPortfolio every emulator was built from
    server.app("sheets").register_id   # the "PMO Register" spreadsheet (Sheets under /v4/, Drive under /drive/v3/)
    server.app("jira").token_for("pmo-hub@example.com")
    server.stop()

`build_apps(portfolio)` is the list of emulators: Jira, Google Sheets, Microsoft Graph and the Microsoft identity
platform's login endpoints (system "login"), all on one port.
"""

from __future__ import annotations

from datetime import date

from hub.sandbox.graph import GraphApp
from hub.sandbox.jira import JiraApp
from hub.sandbox.seed import SeedPortfolio, generate
from hub.sandbox.server import App, SandboxServer
from hub.sandbox.sheets import SheetsApp


def build_apps(portfolio: SeedPortfolio) -> list[App]:
    """Every emulated system, each loaded from the same portfolio."""
    graph = GraphApp.from_seed(portfolio)
    return [JiraApp.from_seed(portfolio), SheetsApp.from_seed(portfolio), graph, graph.login_app]


def start_sandbox(*, port: int = 0, host: str = "127.0.0.1", seed: int = 7, projects: int = 48,
                  items_per_project: int = 80, today: date | None = None) -> SandboxServer:
    """Generate the portfolio, build the emulators and return a started server (`server.seed` = portfolio)."""
    portfolio = generate(seed=seed, today=today, projects=projects, items_per_project=items_per_project)
    from hub.sandbox.tls import material

    tls = material()  # msal accepts only https authorities: the port serves TLS as well as plain HTTP
    server = SandboxServer(build_apps(portfolio), host=host, port=port, tls=tls.server_context())
    server.ca_file = tls.ca_file
    server.seed = portfolio  # type: ignore[attr-defined]
    return server.start()
