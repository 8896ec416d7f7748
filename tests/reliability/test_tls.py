"""TLS certificates are always verified, unless the config names a host for which they are not.

Each system syncs against the sandbox's HTTPS side (the same port, a certificate signed by a throw-away CA no
system trusts), through its real client library: without the CA the sync fails naming the system, the host and
the `ca_file` that fixes it; with `ca_file` it succeeds; with the host in `tls_insecure_hosts` it succeeds and
says, as a warning on every run, that the host is not verified. Nothing else switches verification off: not
REQUESTS_CA_BUNDLE, not a session's `verify = False`. The config refuses a host the system does not connect to,
an unreadable or non-PEM `ca_file`, and Jira's old all-hosts switch `verify_tls = false`.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import requests

from connectors.http import TLS
from hub import cli, config
from hub.errors import ConfigError
from hub.sandbox.run import m365_section, sheets_section, start, write_config

pytestmark = [pytest.mark.slow,  # (urllib3 warns about the unverified host too; the hub's own warning is tested)
              pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")]

SYSTEMS = ("jira", "sheets", "m365")
HEAD = '[hub]\ntimezone = "Europe/London"\n\n[state]\nurl = "state.db"\n'
RETRY = "\n[retry]\nbase_s = 0.01\nmax_attempts = 2\nmax_wait_s = 0.1\nmax_total_s = 1.0\n"


@pytest.fixture(scope="module")
def server():
    srv = start(port=0, projects=3, items_per_project=3)
    yield srv
    srv.stop()


def write(server, tmp: Path, system: str, *, ca: bool, insecure: bool = False) -> Path:
    """A hub config for `system` alone over HTTPS: trusting the sandbox's CA (`ca`), naming its host as not
    verified (`insecure`), or neither."""
    path = tmp / "config.toml"
    host = server.https_url.removeprefix("https://")
    extra = (f'ca_file = "{path.stem}.sandbox-ca.pem"\n' if ca else "") + \
        (f'tls_insecure_hosts = ["{host}"]\n' if insecure else "")
    if system == "jira":
        write_config(server, path, sheets=False, m365=False)
        text = path.read_text().replace(f'url = "{server.url}"', f'url = "{server.https_url}"\n{extra}', 1)
        shutil.copyfile(server.ca_file, path.with_name(f"{path.stem}.sandbox-ca.pem"))
    elif system == "sheets":
        section = sheets_section(server, path).replace(server.url, server.https_url) \
            .replace('expect_in = ["jira"]', "expect_in = []").replace('expected_from = ["jira"]', "expected_from = []")
        key = path.with_name(f"{path.stem}.google-key.json")  # its token endpoint over HTTPS too
        key.write_text(json.dumps(server.app("sheets").key_file(base_url=server.https_url)))
        key.chmod(0o600)
        shutil.copyfile(server.ca_file, path.with_name(f"{path.stem}.sandbox-ca.pem"))
        text = HEAD + section.replace('mapping = "sheets.toml"\n', f'mapping = "sheets.toml"\n{extra}', 1)
    else:
        section = m365_section(server, path, pull=("register",), planner=False, summaries=False)
        section = re.sub(r'^ca_file = .*\n', "", section, flags=re.M)
        text = HEAD + section.replace('mapping = "m365.toml"\n', f'mapping = "m365.toml"\n{extra}', 1)
    path.write_text(text + RETRY)
    return path


def sync(path: Path, capsys, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main([*args, "sync", "--config", str(path)])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize("system", SYSTEMS)
def test_an_untrusted_certificate_stops_the_sync_and_says_what_to_do(server, system, tmp_path, capsys):
    code, text = sync(write(server, tmp_path, system, ca=False), capsys)
    assert code == 2, text
    host = server.https_url.removeprefix("https://")
    assert f"{system}: " in text and "CERTIFICATE_VERIFY_FAILED" in text, text
    assert f"the certificate of {host} could not be verified" in text and f"{system}.ca_file" in text, text
    assert "gave up after" not in text  # not retried: it cannot get better by waiting


@pytest.mark.parametrize("system", SYSTEMS)
def test_the_ca_file_makes_it_trusted(server, system, tmp_path, capsys):
    code, text = sync(write(server, tmp_path, system, ca=True), capsys)
    assert code == 0, text
    assert "verification is OFF" not in text


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("system", SYSTEMS)
def test_a_host_named_insecure_is_not_verified_and_every_run_says_so(server, system, log_format, tmp_path, capsys):
    path = write(server, tmp_path, system, ca=False, insecure=True)
    host = server.https_url.removeprefix("https://")
    for _ in range(2):
        code, text = sync(path, capsys, "--log-format", log_format)
        assert code == 0, text
        warning = f"{system}: TLS certificate verification is OFF for {host} ({system}.tls_insecure_hosts)"
        assert warning in text, text
        if log_format == "json":
            lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
            assert any(r["level"] == "warning" and warning in r["message"] for r in lines), text


def test_the_environment_cannot_switch_verification_off_nor_replace_the_ca_file(server, tmp_path, capsys,
                                                                               monkeypatch):
    # a CA bundle in the environment that does not hold the sandbox's CA, with jira.ca_file naming it: ca_file wins
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", requests.certs.where())
    code, text = sync(write(server, tmp_path, "jira", ca=True), capsys)
    assert code == 0, text
    # a session told not to verify still verifies, through the adapter every connector mounts
    s = requests.Session()
    TLS("jira").mount(s)
    s.verify = False
    with pytest.raises(requests.exceptions.SSLError):
        s.get(f"{server.https_url}/rest/api/3/serverInfo", verify=False, timeout=5)
    # and a host that is named is not verified, while another on the same session still is
    TLS("jira", insecure_hosts=(server.https_url.removeprefix("https://"),)).mount(s)
    assert s.get(f"{server.https_url}/rest/api/3/serverInfo", timeout=5).status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        s.get(f"https://localhost:{server.port}/rest/api/3/serverInfo", timeout=5)


@pytest.mark.parametrize("system", SYSTEMS)
def test_the_config_refuses_a_host_the_system_does_not_connect_to(server, system, tmp_path):
    path = write(server, tmp_path, system, ca=True)
    text = path.read_text().replace('ca_file = ', 'tls_insecure_hosts = ["evil.example.com"]\nca_file = ', 1)
    path.write_text(text)
    host = server.https_url.removeprefix("https://")
    with pytest.raises(ConfigError) as e:
        config.load(path)
    assert f"{system}.tls_insecure_hosts: 'evil.example.com' is not a host {system} connects to" in str(e.value)
    assert "Valid values are:" in str(e.value) and host in str(e.value)


@pytest.mark.parametrize("system", SYSTEMS)
def test_the_config_refuses_a_ca_file_it_cannot_use(server, system, tmp_path):
    path = write(server, tmp_path, system, ca=True)
    ca = path.with_name("config.sandbox-ca.pem")
    ca.unlink(missing_ok=True)
    with pytest.raises(ConfigError, match=rf"{system}\.ca_file: cannot read"):
        config.load(path)
    ca.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=rf"{system}\.ca_file: .* holds no PEM certificate"):
        config.load(path)


def test_jira_verify_tls_false_is_refused_with_the_way_to_do_it(server, tmp_path):
    path = write(server, tmp_path, "jira", ca=True)
    path.write_text(path.read_text().replace("[jira]\n", "[jira]\nverify_tls = false\n", 1))
    with pytest.raises(ConfigError, match="jira.ca_file.*jira.tls_insecure_hosts"):
        config.load(path)
    path.write_text(path.read_text().replace("verify_tls = false", "verify_tls = true"))
    config.load(path)  # (true, the default, is accepted: old configs keep working)
