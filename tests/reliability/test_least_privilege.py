"""Least privilege: the hub works with the grants the README lists, and read-only mode with read grants only.

The sandbox plays accounts that may only read: every write endpoint of Jira, Sheets and Graph answers 403 (an
account without write permission), and the register spreadsheet is shared with the hub's service account as a
Viewer. With `[hub] read_only = true` the hub syncs, checks and reports through that, writes nothing, and asks
Google for read scopes only (a Microsoft person's delegated sign-in too); without it, the same account fails
cleanly at its first write and points to the README's least-privilege section. The README lists every scope the
code can ask for.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from connectors.sheets.client import READ_SCOPES, SCOPES
from hub import cli, config
from hub.sandbox.run import m365_section, start, write_config
from hub.sandbox.sheets import HUB_ACCOUNT

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[2] / "README.md"
SYSTEMS = {"jira": "jira", "sheets": "sheets", "m365": "graph"}  # hub name -> sandbox system


@pytest.fixture
def server():
    srv = start(port=0, projects=3, items_per_project=3)
    yield srv
    srv.stop()


def read_grants_only(server) -> None:
    """Every write endpoint refuses (403), and the register is shared with the hub as a Viewer."""
    for app in server.apps:
        for route in app.routes:
            if route.write:
                server.add_fault(system=app.system, method=route.method, route=route.template, status=403,
                                 times=None)
    server.app("sheets").register.shared_with[HUB_ACCOUNT] = "reader"


def hub_config(server, tmp: Path, *, read_only: bool) -> Path:
    path = write_config(server, tmp / "config.toml")
    if read_only:
        path.write_text(path.read_text().replace("[hub]\n", "[hub]\nread_only = true\n", 1))
    return path


def run(capsys, *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def writes(server) -> dict[str, int]:
    systems = server.stats.snapshot()["systems"]
    return {name: systems.get(sb, {}).get("writes", 0) for name, sb in SYSTEMS.items()}


def test_read_only_works_with_read_grants_and_read_scopes_only(server, tmp_path, capsys):
    read_grants_only(server)
    path = hub_config(server, tmp_path, read_only=True)
    for argv, ok in ((["sync"], (0,)), (["sync"], (0,)), (["check"], (0, 1)),
                     (["report", "--format", "html", "--out", str(tmp_path / "r.html")], (0,))):
        code, text = run(capsys, *argv, "--config", str(path))
        assert code in ok, text
        assert "FAILED" not in text and "write failed" not in text, text
    assert "Read-only (hub.read_only): nothing is written to any source" in run(
        capsys, "sync", "--config", str(path))[1]
    assert writes(server) == {"jira": 0, "sheets": 0, "m365": 0}
    refused = server.stats.snapshot()["systems"]
    assert all(refused.get(sb, {}).get("faults", 0) == 0 for sb in SYSTEMS.values())  # no write even tried
    sheets = server.app("sheets")
    with sheets.lock:
        scopes = {frozenset(t.scopes) for t in sheets._tokens.values()}
    assert scopes == {frozenset(READ_SCOPES)}
    code, text = run(capsys, "report", "--config", str(path), "--publish", "--out", str(tmp_path / "p.html"))
    assert code == 2 and "hub.read_only" in text


def test_without_read_only_the_same_grants_fail_at_the_first_write_and_say_why(server, tmp_path, capsys):
    read_grants_only(server)
    path = hub_config(server, tmp_path, read_only=False)
    code, text = run(capsys, "sync", "--config", str(path))
    assert code == 2, text
    for system in SYSTEMS:
        assert re.search(rf"write(-back)? failed: {system}: .*HTTP 403.*least-privilege", text), (system, text)
    assert writes(server) == {"jira": 0, "sheets": 0, "m365": 0}  # (refused, so nothing was written)


@pytest.mark.parametrize("read_only", [True, False])
def test_a_persons_delegated_sign_in_asks_for_what_is_written_and_no_more(server, tmp_path, capsys, read_only):
    path = tmp_path / "config.toml"
    section = m365_section(server, path, pull=("register", "planner"))
    section = section.replace("[m365]\n", '[m365]\nauth = "device_code"\n', 1)
    path.write_text('[hub]\ntimezone = "Europe/London"\n' + ("read_only = true\n" if read_only else "")
                    + '\n[state]\nurl = "state.db"\n' + section)
    graph = server.app("graph")
    asked: list[str] = []
    stop = threading.Event()

    def person() -> None:  # enters the code in the browser and consents
        while not stop.is_set():
            with graph.lock:
                pending = [f for f in graph.dir.device_flows.values() if not f["approved_by"]]
            for flow in pending:
                asked.append(flow["scope"])
                graph.dir.approve(flow["user_code"], "pmo-office@example.com")
            stop.wait(0.05)

    t = threading.Thread(target=person, daemon=True)
    t.start()
    try:
        code, text = run(capsys, "login", "--config", str(path))
    finally:
        stop.set()
        t.join()
    assert code == 0 and len(asked) == 1, text
    scopes = {s.rsplit("/", 1)[-1] for s in asked[0].split()} - {"openid", "profile", "offline_access"}
    if read_only:
        assert scopes == {"Sites.Read.All", "Tasks.Read", "User.ReadBasic.All"}
    else:
        assert scopes == {"Sites.ReadWrite.All", "Tasks.ReadWrite", "User.ReadBasic.All", "ChannelMessage.Send",
                          "ChannelMessage.Read.All", "Mail.Send", "Mail.Read"}
    code, text = run(capsys, "sync", "--config", str(path))
    assert code == 0, text  # (and the signed-in person's token serves the sync)


def least_privilege_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Least privilege")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def test_the_readme_lists_every_scope_and_permission_the_code_asks_for(tmp_path):
    section = least_privilege_section()
    for scope in (*SCOPES, *READ_SCOPES):
        assert f"`{scope.rsplit('/', 1)[-1]}`" in section, scope
    # every delegated scope any configuration can ask for
    from connectors.m365.settings import M365Settings

    base = {"tenant_id": "contoso.onmicrosoft.com", "client_id": "00000000-0000-0000-0000-000000000001",
            "site": "contoso.sharepoint.com:/sites/PMO", "planner_group_ids": ["g"], "workbook_path": "B.xlsx"}
    everything = M365Settings.model_validate({**base, "writeback": {
        "results_list": True, "teams_team_id": "t", "teams_channel_id": "c", "mail_to": "a@b.c",
        "mail_from": "d@b.c"}})
    reads = M365Settings.model_validate({**base, "writeback": {"fields": False, "planner": False}})
    for scope in {*everything.delegated_scopes, *reads.delegated_scopes}:
        assert f"`{scope}`" in section, scope
    # the application permissions and the Jira permissions each feature needs
    for name in ("Sites.Read.All", "Sites.ReadWrite.All", "Tasks.Read.All", "Tasks.ReadWrite.All", "User.Read.All",
                 "Mail.Send", "Mail.Read", "ChannelMessage.Read.All", "Browse projects", "Edit issues",
                 "Add comments", "Edit own comments", "Make bulk changes", "read:jira-work", "write:jira-work"):
        assert name in section, name
    assert "read_only" in section


def test_read_only_switches_every_write_back_off(server, tmp_path):
    cfg = config.load(hub_config(server, tmp_path, read_only=True))
    assert not (cfg.jira.writeback.fields or cfg.jira.writeback.comment)
    assert not (cfg.sheets.writeback.fields or cfg.sheets.writeback.results_tab)
    wb = cfg.m365.writeback
    assert not (wb.fields or wb.planner or wb.results_list or wb.teams_channel_id or wb.mail_to)
    assert not cfg.m365.publish.active
