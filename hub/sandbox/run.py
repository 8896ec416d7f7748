"""Starting the sandbox for the CLI, the demo and the tests, and writing a hub config that works against it."""

from __future__ import annotations

import os
from pathlib import Path

from hub.files import private_dir
from hub.sandbox.server import SandboxServer


def start(*, port: int = 0, host: str = "127.0.0.1", projects: int = 48, items_per_project: int = 80,
          seed: int = 7, latency_ms: float = 0.0, today=None) -> SandboxServer:
    from hub.sandbox.app import start_sandbox

    server = start_sandbox(port=port, host=host, seed=seed, projects=projects,
                           items_per_project=items_per_project, today=today)
    if latency_ms:
        server.configure("*", latency_ms=latency_ms)
    return server


def _secret_file(path: Path, value: str) -> None:
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")


def sheets_section(server: SandboxServer, path: Path) -> str:
    """The [sheets] section for this sandbox; writes the service-account key file beside `path` (owner-only)."""
    import json

    from hub.sandbox.seed import TRAINING_COURSE
    from hub.sandbox.sheets import HUB_ACCOUNT

    sheets = server.app("sheets")
    key_file = path.with_name(path.stem + ".google-key.json")
    _secret_file(key_file, json.dumps(sheets.key_file(HUB_ACCOUNT, base_url=server.url), indent=2))
    register = sheets.register
    return f"""
# Google Sheets: the PMO register spreadsheet. The service account's JSON key is in {key_file.name}
# (owner-only), never in this file. The API hosts point at the sandbox.
[sheets]
credentials_file = "{key_file.name}"
api_url = "{server.url}"
drive_url = "{server.url}"
iam_url = "{server.url}"
mapping = "sheets.toml"
expect_in = ["jira"]        # every register row should name a Jira project (DATA-01)
expected_from = ["jira"]    # every Jira project should have a register row (DATA-01)

[[sheets.spreadsheets]]
id = "{register.id}"
name = "register"
locale = "{register.locale}"

# The sandbox PMO's training roster calls its course "{TRAINING_COURSE}".
[[standards.overrides]]
rule = "TRAIN-01"
params = {{ courses = ["{TRAINING_COURSE}"] }}

[[standards.overrides]]
rule = "TRAIN-02"
params = {{ courses = ["{TRAINING_COURSE}"] }}
"""


M365_PARTS_WITH_JIRA = ("register", "finance")


def m365_section(server: SandboxServer, path: Path, *, pull: tuple[str, ...] | list[str] = M365_PARTS_WITH_JIRA,
                 planner: bool = True, summaries: bool = True) -> str:
    """The [m365] section for this sandbox; writes the app's client secret (owner-only) and the sandbox's CA
    certificate beside `path`.

    `pull`: the parts read from Microsoft 365. Beside Jira (which carries the delivery data) the default reads the
    project register (merged by project key, its governance columns written back) and the budget workbook; an
    M365-only PMO reads every part ("register", "raid", "status_reports", "approvals", "planner", "finance").
    `planner`: write the status into each plan's governance task; `summaries`: post changed status summaries to
    the sandbox's Teams channel and mail them to the PMO mailbox, keep the "PMO Compliance" results list, and
    publish the executive summary and PM digests on `report --publish`.
    """
    import shutil
    from urllib.parse import urlsplit

    graph = server.app("graph")
    reg = graph.registration()
    secret_file = path.with_name(path.stem + ".m365-secret")
    _secret_file(secret_file, reg["client_secret"])
    ca_file = path.with_name(path.stem + ".sandbox-ca.pem")
    shutil.copyfile(server.ca_file, ca_file)
    https = server.https_url or ""
    parts = ", ".join(f'"{p}"' for p in pull)
    notify = "".join(f'{key} = "{reg[name]}"\n' for key, name in (
        ("teams_team_id", "team_id"), ("teams_channel_id", "channel_id"), ("mail_to", "pmo_mailbox"),
        ("mail_from", "hub_mailbox"))) + "results_list = true\n" if summaries else ""
    publish = ("\n# `pmo-hub report --publish`: the executive summary and each PM's digest, by mail (sandbox mailboxes)\n"
               "[m365.publish]\nexecutive_mail_to = [\"executives@example.com\"]\npm_digests = true\n"
               if summaries else "")
    return f"""
# Microsoft 365 through Graph (msal, app-only). The client secret is in {secret_file.name} (owner-only), never
# in this file. msal accepts only https authorities: the sandbox serves TLS on its port with a throw-away CA
# ({ca_file.name}). The token cache goes beside the state database (m365-token-cache.json, owner-only).
[m365]
tenant_id = "{reg['tenant_id']}"
client_id = "{reg['client_id']}"
client_secret_env = ""
client_secret_file = "{secret_file.name}"
login_host = "{urlsplit(https).netloc}"
graph_url = "{https}"
ca_file = "{ca_file.name}"
site = "{reg['site']}"
site_timezone = "{reg['site_time_zone']}"
planner_group_ids = ["{reg['group_id']}"]
workbook_path = "{reg['workbook_path']}"
pull = [{parts}]
mapping = "m365.toml"

[m365.writeback]
fields = true
planner = {"true" if planner else "false"}
{notify}{publish}"""


def write_config(server: SandboxServer, path: Path, *, state: str = "state.db", extra: str = "",
                 sheets: bool = True, m365: bool = True) -> Path:
    """Write `path` (a hub config for this sandbox) and the secret files beside it (owner-only).

    `sheets=False` leaves out the [sheets] section, `m365=False` the [m365] section (a Jira-only hub).
    """
    path = Path(path)
    private_dir(path.parent)  # it holds the credential files (owner-only)
    sheets_text = sheets_section(server, path) if sheets and any(a.system == "sheets" for a in server.apps) else ""
    m365_text = m365_section(server, path) if m365 and any(a.system == "graph" for a in server.apps) else ""
    jira = server.app("jira")
    bot = jira.bot.email
    token_file = path.with_name(path.stem + ".jira-token")
    _secret_file(token_file, jira.token_for(bot))
    text = f"""# Generated by `pmo-hub sandbox` for the sandbox at {server.url}.
# The API token, the service-account key and the client secret are in files beside this one (owner-only),
# never in this file.

[hub]
timezone = "Europe/London"
name = "Sandbox portfolio"

[state]
url = "{state}"

[jira]
url = "{server.url}"
email = "{bot}"
token_env = ""
token_file = "{token_file.name}"
project_model = "project"
mapping = "jira.toml"
{sheets_text}{m365_text}
[report]
executives = {{ IT = "CIO", Engineering = "CTO", Finance = "CFO", Operations = "COO", HR = "CEO", Marketing = "CEO" }}
{extra}"""
    path.write_text(text, encoding="utf-8")
    return path
