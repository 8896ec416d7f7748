"""Signing in with msal against the sandbox's token endpoint: the persisted owner-only token cache, one
application object per tenant, certificate credentials, tenant-specific authorities, and no secret or token in
any log line or output."""

from __future__ import annotations

import logging
import stat

import pytest

from connectors.m365 import auth
from connectors.m365.settings import M365Settings
from hub.errors import ConfigError, FatalError
from hub.secrets import mask


def test_token_cache_is_persisted_owner_only_and_reused_by_a_new_process(m365_hub):
    m365_hub.sync()
    cache = m365_hub.token_cache
    assert cache.exists()
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert '"AccessToken"' in cache.read_text()
    issued = m365_hub.graph.dir.token_requests
    # a new process: no application objects, no caches in memory; the token comes from the file
    auth._APPS.clear()
    auth._CACHES.clear()
    m365_hub.sync()
    assert m365_hub.graph.dir.token_requests == issued
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600


def test_one_confidential_client_application_per_tenant_for_the_process(m365_hub):
    c1 = m365_hub.connectors()["m365"]
    c2 = m365_hub.connectors()["m365"]
    assert c1.credential is not c2.credential
    c1.credential.token()
    c2.credential.token()
    app1, _ = c1.credential._app()
    app2, _ = c2.credential._app()
    assert app1 is app2
    assert app1.authority.tenant == m365_hub.graph.dir.tenant_id  # a tenant-specific authority
    assert m365_hub.graph.dir.token_requests == 1


@pytest.mark.parametrize("tenant", ["common", "organizations", "consumers"])
def test_multi_tenant_authorities_are_refused(tenant):
    with pytest.raises(ValueError, match="tenant's own id"):
        M365Settings(tenant_id=tenant, client_id="11111111-2222-3333-4444-555555555555",
                     site="contoso.sharepoint.com:/sites/PMO", pull=["register"])


def test_certificate_credential_signs_in(m365_hub, tmp_path):
    pem = tmp_path / "client.pem"
    pem.write_text(m365_hub.graph.dir.certificate_pem())
    text = m365_hub.config_path.read_text().replace('client_secret_file = "config.m365-secret"',
                                                    f'certificate_file = "{pem}"')
    m365_hub.config_path.write_text(text)
    out = m365_hub.sync()
    assert out.outcome == "ok", out.pulls
    assert m365_hub.graph.dir.token_requests == 1


def test_a_wrong_secret_fails_with_a_clear_message_and_no_secret(m365_hub, tmp_path):
    wrong = "Zz9~" + "x" * 36
    (tmp_path / "config.m365-secret").write_text(wrong + "\n")
    out = m365_hub.sync()
    err = out.pulls["m365"].error
    assert err and "invalid_client" in err and "AADSTS7000215" in err
    assert wrong not in err and m365_hub.graph.dir.client_secret not in err


def test_no_secret_or_token_in_logs_or_output(m365_hub, caplog, capsys):
    caplog.set_level(logging.DEBUG)  # every logger: msal, urllib3, requests, pmo_hub
    caplog.set_level(logging.DEBUG, logger="pmo_hub")  # the CLI's log set-up may have raised this one
    m365_hub.sync()
    m365_hub.graph.expire_tokens()  # the 401 path logs too
    m365_hub.graph.edit_item("RAID Log", 1, {"Title": "Changed to force a delta page"})
    out = m365_hub.sync()
    assert out.outcome == "ok"
    secret = m365_hub.graph.dir.client_secret
    tokens = list(m365_hub.graph.dir.tokens)
    assert len(tokens) == 2
    captured = capsys.readouterr()
    texts = [caplog.text, captured.out, captured.err, m365_hub.token_cache.read_text().replace(tokens[-1], "")]
    texts += [r.getMessage() for r in caplog.records]
    assert any("Graph rejected the access token" in r.getMessage() for r in caplog.records)
    for text in texts:
        assert secret not in text
        for t in tokens:
            assert t not in text
    # what leaves through hub.secrets is masked as well
    assert secret not in mask(f"x {secret} y") and tokens[-1] not in mask(f"Bearer {tokens[-1]}")


def test_ca_file_must_exist(m365_hub):
    text = m365_hub.config_path.read_text().replace('ca_file = "config.sandbox-ca.pem"', 'ca_file = "nope.pem"')
    m365_hub.config_path.write_text(text)
    with pytest.raises(ConfigError, match="ca_file"):
        m365_hub.connectors()


def test_without_the_sandbox_ca_tls_verification_fails_fatally(m365_hub):
    text = m365_hub.config_path.read_text().replace('ca_file = "config.sandbox-ca.pem"\n', "")
    m365_hub.config_path.write_text(text)
    conn = m365_hub.connectors()["m365"]
    with pytest.raises(FatalError, match="SSLError"):
        conn.credential.token()


def test_delegated_device_code_sign_in_then_syncs_silently(m365_hub):
    import re

    from connectors.http import RetryPolicy
    from connectors.m365.auth import DeviceCodeCredential

    text = m365_hub.config_path.read_text().replace('client_id = "', 'auth = "device_code"\nclient_id = "', 1)
    m365_hub.config_path.write_text(text)
    cfg = m365_hub.config()
    with pytest.raises(FatalError, match="sign in with the device code first"):
        m365_hub.connectors()["m365"].credential.token()
    shown: list[str] = []

    def show(message: str) -> None:  # the person reads the code and signs in in a browser
        shown.append(message)
        m365_hub.graph.dir.approve(re.search(r"enter the code (\S+)", message).group(1), "ann.lee@example.com")

    cred = DeviceCodeCredential(cfg.m365, scopes=list(cfg.m365.delegated_scopes), cache_path=m365_hub.token_cache,
                                policy=RetryPolicy(base_s=0.0), base_dir=cfg.base_dir)
    cred.sign_in(show)
    assert "https://microsoft.com/devicelogin" in shown[0]
    assert stat.S_IMODE(m365_hub.token_cache.stat().st_mode) == 0o600
    out = m365_hub.sync()  # a new connector: the signed-in account's token from the cache
    assert out.outcome == "ok", out.pulls
    assert m365_hub.graph.dir.token_requests == 1


def test_pmo_hub_login_signs_a_person_in_once_and_runs_use_the_cache(m365_hub, capsys):
    import threading
    import time

    from hub import cli

    text = m365_hub.config_path.read_text().replace('client_id = "', 'auth = "device_code"\nclient_id = "', 1)
    m365_hub.config_path.write_text(text)
    codes = []
    login = threading.Thread(target=lambda: codes.append(cli.main(["login", "--config", str(m365_hub.config_path)])))
    login.start()
    deadline = time.monotonic() + 20
    flows = m365_hub.graph.dir.device_flows
    while not flows and time.monotonic() < deadline:  # the person reads the code from the terminal ...
        time.sleep(0.05)
    (flow,) = list(flows.values())
    m365_hub.graph.dir.approve(flow["user_code"], "ann.lee@example.com")  # ... and signs in in a browser
    login.join(30)
    assert codes == [0]
    captured = capsys.readouterr()
    assert f"enter the code {flow['user_code']}" in captured.err and "Signed in" in captured.out
    assert stat.S_IMODE(m365_hub.token_cache.stat().st_mode) == 0o600
    out = m365_hub.sync()
    assert out.outcome == "ok", out.pulls


def test_pmo_hub_login_with_app_auth_has_nothing_to_do(m365_hub, capsys):
    from hub import cli

    assert cli.main(["login", "--config", str(m365_hub.config_path)]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert m365_hub.graph.dir.token_requests == 0
