"""Request shapes with `responses` (no sandbox): `$batch` chunking and per-request retry, the 401 token refresh,
Planner's If-Match, delta's 410, paging loops; and the `[m365]` settings' validation."""

from __future__ import annotations

import json

import pytest
import responses

from connectors.http import RetryPolicy
from connectors.m365.client import BatchRequest, DeltaExpired, GraphClient, route_name, site_path
from connectors.m365.settings import M365Settings, load_m365_mapping
from hub import config as config_mod
from hub.errors import ConfigError, ConflictError, ConnectorError, FatalError

BASE = "https://graph.example/v1.0"
GUID = "11111111-2222-3333-4444-555555555555"


class FakeCredential:
    def __init__(self):
        self.issued = ["tok-1", "tok-2", "tok-3"]
        self.current = self.issued.pop(0)
        self.invalidated: list[str] = []

    def token(self) -> str:
        return self.current

    def invalidate(self, token: str) -> None:
        self.invalidated.append(token)
        self.current = self.issued.pop(0)


def client(**kw) -> GraphClient:
    policy = RetryPolicy(max_attempts=4, base_s=0.0, max_wait_s=0.01)
    return GraphClient(graph_url="https://graph.example", credential=kw.pop("credential", FakeCredential()),
                       policy=policy, **kw)


@responses.activate
def test_batch_sends_at_most_20_and_retries_only_the_throttled_inner_request():
    sent: list[list[dict]] = []

    def answer(request):
        reqs = json.loads(request.body)["requests"]
        sent.append(reqs)
        out = []
        for r in reqs:
            if r["id"] == "7" and len(sent) == 1:
                out.append({"id": "7", "status": 429, "headers": {"Retry-After": "0"},
                            "body": {"error": {"code": "TooManyRequests", "message": "slow down"}}})
            else:
                out.append({"id": r["id"], "status": 200, "headers": {}, "body": {"ok": r["id"]}})
        return 200, {}, json.dumps({"responses": list(reversed(out))})  # any order: matched by id

    responses.add_callback(responses.POST, f"{BASE}/$batch", callback=answer)
    c = client()
    reqs = [BatchRequest(str(n), "PATCH", f"/sites/s/lists/l/items/{n}/fields", body={"PMOCompliance": "x"})
            for n in range(45)]
    out = c.batch(reqs, action="writing")
    assert [len(b) for b in sent] == [20, 20, 6]
    assert all(len(b) <= 20 for b in sent)
    assert [r["id"] for r in sent[1]][0] == "7"  # the throttled one goes again, alone: not its whole batch
    assert sum(r["id"] == "7" for b in sent for r in b) == 2
    assert sum(1 for b in sent for r in b) == 46
    assert all(out[str(n)].ok and out[str(n)].body == {"ok": str(n)} for n in range(45))
    first = sent[0][0]
    assert first == {"id": "0", "method": "PATCH", "url": "/sites/s/lists/l/items/0/fields",
                     "body": {"PMOCompliance": "x"}, "headers": {"Content-Type": "application/json"}}
    assert c.requests["POST $batch"] == 3


@responses.activate
def test_an_inner_4xx_is_that_requests_outcome_and_412_is_a_conflict():
    responses.add(responses.POST, f"{BASE}/$batch", json={"responses": [
        {"id": "a", "status": 412, "headers": {}, "body": {"error": {"code": "preconditionFailed", "message": "etag"}}},
        {"id": "b", "status": 400, "headers": {}, "body": {"error": {"code": "invalidRequest", "message": "bad"}}},
        {"id": "c", "status": 204, "headers": {}}]})
    out = client().batch([BatchRequest(x, "PATCH", "/x", body={}) for x in "abc"], action="writing")
    assert isinstance(out["a"].error("w"), ConflictError)
    assert isinstance(out["b"].error("w"), FatalError) and "bad" in str(out["b"].error("w"))
    assert out["c"].ok


@responses.activate
def test_401_invalid_token_refreshes_once_then_fails():
    cred = FakeCredential()
    body = {"error": {"code": "InvalidAuthenticationToken", "message": "Lifetime validation failed"}}
    responses.add(responses.GET, f"{BASE}/sites/x", json=body, status=401)
    responses.add(responses.GET, f"{BASE}/sites/x", json={"id": "x"}, status=200)
    c = client(credential=cred)
    assert c.get("sites/x", action="reading") == {"id": "x"}
    assert cred.invalidated == ["tok-1"] and c.token_refreshes == 1
    assert [r.request.headers["Authorization"] for r in responses.calls] == ["Bearer tok-1", "Bearer tok-2"]
    responses.replace(responses.GET, f"{BASE}/sites/x", json=body, status=401)
    with pytest.raises(FatalError, match="401"):
        c.get("sites/x", action="reading")
    assert cred.invalidated == ["tok-1", "tok-2"]  # one refresh per request, not a loop


@responses.activate
def test_429_honours_retry_after_through_the_shared_policy():
    responses.add(responses.GET, f"{BASE}/sites/x", json={"error": {"code": "TooManyRequests", "message": "x"}},
                  status=429, headers={"Retry-After": "0"})
    responses.add(responses.GET, f"{BASE}/sites/x", json={"id": "x"})
    c = client()
    assert c.get("sites/x", action="reading") == {"id": "x"}
    assert c.policy.retries == 1


@responses.activate
def test_delta_follows_next_links_to_the_delta_link_and_410_means_resync():
    list_path = "sites/s/lists/l"
    responses.add(responses.GET, f"{BASE}/{list_path}/items/delta",
                  json={"value": [{"id": "1"}], "@odata.nextLink": f"{BASE}/{list_path}/items/delta?token=p2"})
    responses.add(responses.GET, f"{BASE}/{list_path}/items/delta?token=p2",
                  json={"value": [{"id": "2"}], "@odata.deltaLink": f"{BASE}/{list_path}/items/delta?token=d1"})
    c = client()
    items, link = c.delta(list_path, link=None, page_size=50, action="reading")
    assert [i["id"] for i in items] == ["1", "2"] and link.endswith("token=d1")
    assert responses.calls[0].request.params == {"$expand": "fields", "$top": "50"}
    responses.add(responses.GET, f"{BASE}/{list_path}/items/delta?token=d1", status=410,
                  json={"error": {"code": "resyncRequired", "message": "Resync required."}})
    with pytest.raises(DeltaExpired):
        c.delta(list_path, link=link, page_size=50, action="reading")


@responses.activate
def test_a_repeated_next_link_is_refused():
    responses.add(responses.GET, f"{BASE}/things", json={"value": [], "@odata.nextLink": f"{BASE}/things?p=2"})
    responses.add(responses.GET, f"{BASE}/things?p=2", json={"value": [], "@odata.nextLink": f"{BASE}/things?p=2"})
    with pytest.raises(ConnectorError, match="loop detected"):
        list(client().pages("things", action="listing"))


@responses.activate
def test_planner_patch_sends_if_match_and_only_the_title():
    from connectors.m365.connector import M365Connector

    responses.add(responses.PATCH, f"{BASE}/planner/tasks/T1", status=204)
    settings = M365Settings(tenant_id=GUID, client_id=GUID, site="c.sharepoint.com:/sites/PMO", pull=["register"],
                            graph_url="https://graph.example")
    conn = M365Connector(settings, load_m365_mapping("m365.toml"), credential=FakeCredential(),
                         policy=RetryPolicy(base_s=0.0))
    conn._patch_task("T1", 'W/"etag-1"', "PMO compliance: At risk (2 open violations)", "updating")
    req = responses.calls[0].request
    assert req.headers["If-Match"] == 'W/"etag-1"'
    assert json.loads(req.body) == {"title": "PMO compliance: At risk (2 open violations)"}


def test_route_names_and_site_paths():
    assert route_name(f"{BASE}/sites/a,b,c/lists/L/items/delta?token=x") == "lists/items/delta"
    assert route_name("/planner/plans/P/tasks") == "planner/plans/tasks"
    assert site_path("contoso.sharepoint.com:/sites/PMO") == "sites/contoso.sharepoint.com:/sites/PMO"
    assert site_path("host,guid1,guid2") == "sites/host,guid1,guid2"


def _cfg(**m365) -> dict:
    base = {"tenant_id": GUID, "client_id": GUID, "site": "c.sharepoint.com:/sites/PMO", "pull": ["register"]}
    return {"m365": {**base, **m365}}


@pytest.mark.parametrize("override, message", [
    ({"pull": ["register", "budgets"]}, "m365.pull.1.*'register', 'raid', 'status_reports'"),
    ({"client_id": "pmo-hub"}, "GUID"),
    ({"graph_url": "http://graph.example"}, "https://"),
    ({"pull": ["planner"]}, "planner_group_ids"),
    ({"pull": ["finance"]}, "workbook_path"),
    ({"writeback": {"teams_team_id": GUID}}, "teams_channel_id"),
    ({"writeback": {"mail_to": "pmo@example.com"}}, "mail_from"),
    ({"client_secret_env": None}, "certificate_file"),
    ({"colour": "blue"}, "Valid keys here are"),
])
def test_config_errors_name_the_key_and_the_fix(override, message):
    with pytest.raises(ConfigError, match=message):
        config_mod.from_dict(_cfg(**override))


def test_config_accepts_national_clouds_and_adds_the_source():
    cfg = config_mod.from_dict(_cfg(login_host="https://login.microsoftonline.us/",
                                    graph_url="https://graph.microsoft.us/v1.0"))
    assert cfg.m365.authority == f"https://login.microsoftonline.us/{GUID}"
    assert cfg.m365.scope == "https://graph.microsoft.us/.default"
    assert "m365" in cfg.sources()


def test_an_unknown_mapping_key_fails_at_load_time(tmp_path):
    (tmp_path / "bad.toml").write_text('[raid]\nprobabilty = "Probability"\n')
    with pytest.raises(ConfigError, match="probabilty"):
        config_mod.from_dict(_cfg(mapping="bad.toml"), base_dir=tmp_path)


def test_an_unknown_column_fails_the_pull_with_the_closest_names(m365_hub, tmp_path):
    (tmp_path / "typo.toml").write_text('[raid]\nprobability = "Probabilty"\n')
    text = m365_hub.config_path.read_text().replace('mapping = "m365.toml"', 'mapping = "typo.toml"')
    m365_hub.config_path.write_text(text)
    out = m365_hub.sync()
    err = out.pulls["m365"].error
    assert "[raid] probability = 'Probabilty'" in err and "did you mean 'Probability'" in err
    assert m365_hub.stats()["writes"] == 0
