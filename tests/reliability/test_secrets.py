"""No secret leaves the process: every `pmo-hub` command, run with known, distinctive credentials for all three
systems, and every place it writes to is searched for them.

The credentials: a Jira API token, a Google service-account private key and a Microsoft client secret (the
sandbox accepts whatever it is told; the token files are written by `write_config`, owner-only). Each is looked
for as itself and as it could be re-encoded on the way out: JSON-escaped, URL-encoded, base64 (and the Basic
authorization header the Jira token travels in; each base64 line of the private key). The access tokens the
sandbox issued during the run are looked for too, except in the token cache, whose purpose is to hold them.

Searched: stdout and stderr of every command (logs included, as text and as JSON lines, at debug level),
every file the hub wrote beside its config (the SQLite state file and its WAL, the token cache, reports in every
format, the audit CSV, scheduled reports), and the messages and tracebacks of the errors a failing run raises,
including a server that echoes the credentials back in its error bodies.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from hub import cli
from hub.sandbox.run import start, write_config

pytestmark = pytest.mark.slow

JIRA_TOKEN = "jiraTok3n-QX7Z_9fd2a61c0b8e4d77="
M365_SECRET = "m365~S3cr3t.Zq8-Lw_41e9b7c2d0aa"
FORMATS = ("html", "json", "csv", "xlsx", "md")
# the name endings of the files that hold the credentials
SECRET_FILES = (".jira-token", ".google-key.json", ".m365-secret", ".m365-cert.pem")


def b64(text: str) -> set[str]:
    raw = text.encode()
    std = base64.b64encode(raw).decode()
    url = base64.urlsafe_b64encode(raw).decode()
    return {std, url, std.rstrip("="), url.rstrip("=")}


def encodings(value: str) -> set[str]:
    """`value` and the forms it takes when text is escaped or encoded on its way out."""
    return {value, json.dumps(value)[1:-1], quote(value, safe=""), quote_plus(value), *b64(value)}


@dataclass
class World:
    server: object
    dir: Path
    config: Path
    forms: dict[str, set[str]] = field(default_factory=dict)  # what -> the strings that must not appear

    def issued(self) -> dict[str, set[str]]:
        """Access tokens the sandbox has issued so far (Google and Microsoft)."""
        sheets = self.server.app("sheets")
        graph = self.server.app("graph")
        with sheets.lock, graph.lock:
            return {"google access token": set(sheets._tokens), "graph access token": set(graph.dir.tokens)}

    def leaks(self, text: str, *, tokens: bool = True) -> list[str]:
        found = [what for what, forms in self.forms.items() if any(f in text for f in forms)]
        if tokens:
            found += [what for what, forms in self.issued().items() if any(f in text for f in forms)]
        return found

    def files(self) -> list[Path]:
        """Every file the hub wrote (not the secret files, which hold them by design, nor the sandbox CA)."""
        return [p for p in sorted(self.dir.rglob("*")) if p.is_file() and not p.name.endswith(SECRET_FILES)
                and not p.name.endswith(".sandbox-ca.pem")]

    def file_leaks(self) -> dict[str, list[str]]:
        out = {}
        for p in self.files():
            text = p.read_bytes().decode("latin-1")  # the bytes as they are (SQLite pages, xlsx zip members)
            if p.suffix == ".xlsx":
                import zipfile

                with zipfile.ZipFile(p) as z:
                    text += "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
            found = self.leaks(text, tokens=p.name != "m365-token-cache.json")
            if found:
                out[str(p.relative_to(self.dir))] = found
        return out


def _secret_forms(server, config: Path) -> dict[str, set[str]]:
    jira = server.app("jira")
    key = json.loads(config.with_name(config.stem + ".google-key.json").read_text())["private_key"]
    body = [line for line in key.splitlines() if line and "PRIVATE KEY" not in line]
    return {
        "jira token": encodings(JIRA_TOKEN) | b64(f"{jira.bot.email}:{JIRA_TOKEN}"),  # (the Basic header)
        "google private key": {key, json.dumps(key)[1:-1], "".join(body), *body},
        "m365 client secret": encodings(M365_SECRET),
    }


JOBS = '''out_dir = "scheduled-reports"
formats = ["html", "json", "csv", "xlsx", "md"]

[retry]
base_s = 0.01
max_attempts = 2
max_wait_s = 0.1
max_total_s = 1.0

[[jobs]]
name = "hourly-sync"
kind = "sync"
every = "1h"

[[jobs]]
name = "daily-report"
kind = "report"
at = "00:01"
'''


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    server = start(port=0, projects=4, items_per_project=6)
    try:
        jira = server.app("jira")
        jira._by_email[jira.bot.email.lower()].token = JIRA_TOKEN
        server.app("graph").dir.client_secret = M365_SECRET
        d = tmp_path_factory.mktemp("secrets")
        config = write_config(server, d / "config.toml", extra=JOBS)  # ([report] keys, then the jobs)
        w = World(server, d, config, _secret_forms(server, config))
        # the same hub with a person's delegated sign-in to Microsoft 365 (`pmo-hub login`)
        (d / "device.toml").write_text(config.read_text().replace("[m365]\n", '[m365]\nauth = "device_code"\n', 1))
        assert (config.with_name("config.jira-token").read_text().strip(), ) == (JIRA_TOKEN, )
        yield w
    finally:
        server.stop()


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out + out.err


def commands(world: World) -> list[tuple[str, list[str], int]]:
    c = str(world.config)
    r = world.dir / "reports"
    return [
        ("sync", ["sync", "--config", c], 0),
        ("sync --dry-run", ["sync", "--config", c, "--dry-run"], 0),
        ("plan", ["plan", "--config", c], 0),
        ("check", ["check", "--config", c, "--fail-on", "critical"], 1),
        ("check --format json", ["check", "--config", c, "--format", "json", "--fail-on", "critical"], 1),
        *[(f"report {fmt}", ["report", "--config", c, "--format", fmt, "--out", str(r / f"report.{fmt}")], 0)
          for fmt in FORMATS],
        ("report --publish", ["report", "--config", c, "--publish", "--out", str(r / "published.html")], 0),
        ("runs", ["runs", "--config", c], 0),
        ("audit", ["audit", "--config", c], 0),
        ("audit --csv", ["audit", "--config", c, "--csv", str(r / "audit.csv")], 0),
        ("status", ["status", "--config", c], 0),
        ("run --once", ["run", "--config", c, "--once"], 0),
        ("login", ["login", "--config", str(world.dir / "device.toml")], 0),
        ("standards", ["standards", "list"], 0),
    ]


COMMAND_NAMES = ("sync", "sync --dry-run", "plan", "check", "check --format json", *[f"report {f}" for f in FORMATS],
                 "report --publish", "runs", "audit", "audit --csv", "status", "run --once", "login", "standards")


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("name", COMMAND_NAMES)
def test_no_command_shows_or_stores_a_secret(world, name, log_format, capsys):
    _, argv, expected = next(c for c in commands(world) if c[0] == name)
    code, text = run_cli(["--log-level", "debug", "--log-format", log_format, *argv], capsys)
    assert code in (expected, 0), text  # (check finds alarms at the first run; later ones too)
    assert world.leaks(text) == [], text
    assert world.file_leaks() == {}


@pytest.fixture
def faults(world):
    yield world.server
    world.server.clear_faults()


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_run_refused_everywhere_with_401_shows_no_secret(world, faults, log_format, capsys):
    faults.add_fault(system="*", route="*", status=401, times=None)
    code, text = run_cli(["--log-level", "debug", "--log-format", log_format, "sync", "--config", str(world.config),
                          "--full"], capsys)
    assert code == 2 and "HTTP 401" in text, text
    assert world.leaks(text) == [], text
    assert world.file_leaks() == {}


def _echoing_faults(world: World) -> None:
    """Servers that answer 500 and echo the credentials in their error bodies (as some proxies and APIs do)."""
    key_line = sorted(world.forms["google private key"], key=len)[0]
    basic = next(iter(b64(f"{world.server.app('jira').bot.email}:{JIRA_TOKEN}")))
    s = world.server
    s.add_fault(system="jira", status=500, times=None, body={
        "errorMessages": [f"token {JIRA_TOKEN} rejected", f"Authorization: Basic {basic}"]})
    s.add_fault(system="sheets", route="/v4/*", status=500, times=None, body={
        "error": {"code": 500, "message": f"bad key line {key_line}", "status": "INTERNAL"}})
    s.add_fault(system="graph", status=500, times=None, body={
        "error": {"code": "generalException", "message": f"client_secret={quote_plus(M365_SECRET)} {M365_SECRET}"}})


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_server_echoing_the_credentials_in_errors_has_them_masked(world, faults, log_format, capsys):
    _echoing_faults(world)
    for argv in (["sync", "--config", str(world.config), "--full"], ["check", "--config", str(world.config)]):
        code, text = run_cli(["--log-level", "debug", "--log-format", log_format, *argv], capsys)
        assert code == 2 and "HTTP 500" in text, text
        assert world.leaks(text) == [], text
    code, text = run_cli(["runs", "--config", str(world.config), "--limit", "3"], capsys)
    assert code == 0 and "HTTP 500" in text and world.leaks(text) == [], text
    assert world.file_leaks() == {}


def test_a_certificate_credential_echoed_back_is_masked(world, faults, tmp_path, capsys):
    """Microsoft 365 with a certificate instead of a client secret: its private key is as secret."""
    pem = world.server.app("graph").dir.certificate_pem()
    key = next(b for b in re.findall(r"-----BEGIN PRIVATE KEY-----.*?-----END PRIVATE KEY-----", pem, re.S))
    lines = [line for line in key.splitlines() if "PRIVATE KEY" not in line]
    cert = world.dir / "config.m365-cert.pem"
    cert.write_text(pem)
    cert.chmod(0o600)
    config = world.dir / "certificate.toml"
    config.write_text(world.config.read_text().replace('client_secret_file = "config.m365-secret"',
                                                       'certificate_file = "config.m365-cert.pem"'))
    code, text = run_cli(["sync", "--config", str(config)], capsys)
    assert code == 0, text
    faults.add_fault(system="graph", status=500, times=None, body={
        "error": {"code": "generalException", "message": f"key {lines[3]} / {lines[-2]}"}})
    for fmt in ("text", "json"):
        code, text = run_cli(["--log-level", "debug", "--log-format", fmt, "sync", "--config", str(config),
                              "--full"], capsys)
        assert code == 2 and "HTTP 500" in text, text
        assert not [line for line in lines if line in text] and world.leaks(text) == [], text
    assert world.file_leaks() == {}


def test_exception_messages_and_tracebacks_hold_no_secret(world, faults):
    """The errors a failing run raises, as `str()` and as the logged traceback of the error and its causes (the
    `jira` library's own error prints the request headers, Authorization included)."""
    from hub import config as config_mod
    from hub import logs, sync
    from hub.errors import HubError
    from hub.state import State

    _echoing_faults(world)
    cfg = config_mod.load(world.config)
    errors: list[BaseException] = []
    conns = sync.build_connectors(cfg, sync.make_policy(cfg))
    try:
        for name, conn in conns.items():
            try:
                conn.pull(None, full=True)
            except HubError as e:
                errors.append(e)
    finally:
        for conn in conns.values():
            conn.close()
    assert {getattr(e, "system", None) for e in errors} == {"jira", "sheets", "m365"}
    state = State.open(cfg.state.resolved_url(cfg.base_dir))
    try:
        outcome = sync.run(cfg, state, full=True)
    finally:
        state.close()
    messages = [str(e) for e in errors] + [p.error for p in outcome.pulls.values() if p.error]
    assert all(messages) and world.leaks("\n".join(messages)) == [], messages
    for fmt in ("text", "json"):
        stream = _Capture()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logs._MaskingFormatter(fmt == "json"))
        log = logging.getLogger("pmo_hub.test_secrets")
        log.addHandler(handler)
        try:
            for e in errors:
                log.error("failed: %s", e, exc_info=e)
        finally:
            log.removeHandler(handler)
        text = stream.getvalue()
        assert "Traceback" in text and "JiraError" in text, text  # the causes are in it
        assert world.leaks(text) == [], text


class _Capture:
    def __init__(self):
        self.parts: list[str] = []

    def write(self, s: str) -> None:
        self.parts.append(s)

    def flush(self) -> None:
        pass

    def getvalue(self) -> str:
        return "".join(self.parts)


@pytest.mark.parametrize("key,value", [("token_env", "pastedTok3n-ENV_7c1d9e0b2f4a6831="),
                                       ("token_file", "pastedTok3n-FILE_5e8a2c7d1b9f0364=")])
def test_a_secret_pasted_into_the_config_is_not_echoed(world, key, value, tmp_path, capsys):
    """A token pasted where the name of its variable or file goes: the error says what is wrong, not the token
    (a value the process never read as a secret, so masking cannot hide it)."""
    text = world.config.read_text()
    assert 'token_env = ""\n' in text and 'token_file = "config.jira-token"\n' in text
    if key == "token_env":
        text = text.replace('token_env = ""\n', f'token_env = "{value}"\n')
        text = text.replace('token_file = "config.jira-token"\n', "")
    else:
        text = text.replace('token_file = "config.jira-token"\n', f'token_file = "{value}"\n')
    bad = world.dir / f"pasted-{key}.toml"  # (beside the files it names)
    bad.write_text(text)
    for fmt in ("text", "json"):
        code, out = run_cli(["--log-format", fmt, "sync", "--config", str(bad)], capsys)
        assert code == 2 and "jira." + key in out, out
        assert not encodings(value) & {w for w in re.findall(r"\S+", out)} and value not in out, out


def test_a_config_error_shows_no_secret(world, tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(world.config.read_text().replace("[jira]", "[jira]\ntoken = 1", 1))
    for d in (".jira-token", ".google-key.json", ".m365-secret", ".sandbox-ca.pem"):  # beside it, as written
        (tmp_path / f"bad{d}").write_bytes(world.config.with_name(f"config{d}").read_bytes())
    code, out = run_cli(["sync", "--config", str(bad)], capsys)
    assert code == 2 and "unknown key 'jira.token'" in out, out
    assert world.leaks(out) == [], out


def test_the_sandbox_command_keeps_its_secrets_out_of_the_config_and_the_output(tmp_path):
    """`pmo-hub sandbox --config-out` prints where it serves and writes a config: its credentials go to files of
    their own, owner-only, never into the config or the output."""
    config = tmp_path / "sbx" / "config.toml"
    proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "sandbox", "--port", "0", "--projects", "2", "--items",
                             "1", "--config-out", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=tmp_path)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("Ctrl-C" in line for line in lines):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    out = "".join(lines)
    assert "Hub config for this sandbox" in out, out
    values = [config.with_name("config.jira-token").read_text().strip(),
              config.with_name("config.m365-secret").read_text().strip()]
    key = json.loads(config.with_name("config.google-key.json").read_text())["private_key"]
    values += [line for line in key.splitlines() if line and "PRIVATE KEY" not in line]
    for text in (out, config.read_text()):
        assert not [v for v in values if v in text]


def test_the_demo_shows_and_stores_none_of_its_secrets(tmp_path, capsys):
    out_dir = tmp_path / "demo"
    code, out = run_cli(["demo", "--out", str(out_dir)], capsys)
    assert code == 0, out
    values = [(out_dir / "config.jira-token").read_text().strip(), (out_dir / "config.m365-secret").read_text().strip()]
    key = json.loads((out_dir / "config.google-key.json").read_text())["private_key"]
    values += [line for line in key.splitlines() if line and "PRIVATE KEY" not in line]
    forms = set().union(*(encodings(v) for v in values))
    assert not [f for f in forms if f in out]
    for p in out_dir.iterdir():
        if p.is_file() and not p.name.endswith(SECRET_FILES):
            data = p.read_bytes().decode("latin-1")
            assert not [f for f in forms if f in data], p.name


def test_every_command_is_covered():
    """A new command must join the secret-leak tests (or this list says why it cannot hold a secret)."""
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    covered = {n.split()[0] for n in COMMAND_NAMES} | {"sandbox", "demo"}
    assert set(sub.choices) <= covered, sorted(set(sub.choices) - covered)


@pytest.fixture(autouse=True)
def _device_code_approver(request):
    """`login` needs a person to enter the device code: approve any pending sign-in as the PMO office."""
    if "world" not in request.fixturenames:
        yield
        return
    world = request.getfixturevalue("world")
    graph = world.server.app("graph")
    stop = threading.Event()

    def approve() -> None:
        while not stop.is_set():
            with graph.lock:
                pending = [f["user_code"] for f in graph.dir.device_flows.values() if not f["approved_by"]]
            for code in pending:
                graph.dir.approve(code, "pmo-office@example.com")
            stop.wait(0.05)

    t = threading.Thread(target=approve, daemon=True)
    t.start()
    yield
    stop.set()
    t.join()
