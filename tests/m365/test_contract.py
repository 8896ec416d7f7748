"""Contract tests: the Graph emulator's real HTTPS responses validate against Microsoft Graph v1.0's own
description (../shared/api/msgraph/graph-v1.0-planner-lists-workbook.openapi.json, derived from Microsoft's CSDL
metadata), and carry at least the keys of responses recorded from the real service
(../shared/api/msgraph/fixtures/).

The description is OpenAPI 3.0: `nullable: true` becomes a JSON-Schema null type and each body is validated
against one component schema (or a path's response schema) with `$ref`s resolved inside `components`. What the
description lacks (see the README there): descriptions, the If-Match/Prefer headers, the /me/drive aliases; and
the collection wrapper of `delta` has no `@odata.deltaLink` (Graph sends it; the wrapper allows extra keys).
`$batch`, Teams and mail are outside the subset: their shapes are checked against Graph's documentation in
test_sync and here by hand.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import msal
import pytest
import requests
from jsonschema import Draft202012Validator

from hub.sandbox.run import start

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT.parent / "shared" / "api" / "msgraph" / "graph-v1.0-planner-lists-workbook.openapi.json"
FIXTURES = ROOT.parent / "shared" / "api" / "msgraph" / "fixtures"

pytestmark = pytest.mark.skipif(not SPEC.exists(), reason=f"{SPEC} not available")


def _openapi_to_jsonschema(node):
    if isinstance(node, list):
        return [_openapi_to_jsonschema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _openapi_to_jsonschema(v) for k, v in node.items()}
    if out.pop("nullable", False) is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@pytest.fixture(scope="module")
def spec():
    return json.loads(SPEC.read_text())


@pytest.fixture(scope="module")
def validate(spec):
    components = {"schemas": _openapi_to_jsonschema(copy.deepcopy(spec["components"]["schemas"]))}
    cache: dict[str, Draft202012Validator] = {}

    def check(name_or_path: str, instance, *, method: str = "get", status: str = "200") -> None:
        if name_or_path.startswith("/"):
            content = spec["paths"][name_or_path][method]["responses"][status]
            if "$ref" in content:
                content = spec["components"]["responses"][content["$ref"].rsplit("/", 1)[1]]
            root = _openapi_to_jsonschema(copy.deepcopy(content["content"]["application/json"]["schema"]))
        else:
            root = {"$ref": f"#/components/schemas/{name_or_path}"}
        key = json.dumps(root, sort_keys=True)
        if key not in cache:
            cache[key] = Draft202012Validator({**root, "components": components})
        errors = sorted(cache[key].iter_errors(instance), key=lambda e: list(e.absolute_path))
        assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])

    return check


@pytest.fixture(scope="module")
def graph_server():
    server = start(port=0, projects=3, items_per_project=4)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http(graph_server):
    reg = graph_server.app("graph").registration()
    app = msal.ConfidentialClientApplication(
        reg["client_id"], client_credential=reg["client_secret"],
        authority=f"{graph_server.https_url}/{reg['tenant_id']}", instance_discovery=False,
        http_client=_Verified(graph_server.ca_file))
    token = app.acquire_token_for_client([f"{graph_server.https_url}/.default"])["access_token"]
    s = _Verified(graph_server.ca_file)
    s.headers["Authorization"] = f"Bearer {token}"
    return s


class _Verified(requests.Session):
    def __init__(self, ca: str):
        super().__init__()
        self.ca = ca

    def request(self, method, url, **kw):  # per request: REQUESTS_CA_BUNDLE would beat a session's `verify`
        kw.setdefault("verify", self.ca)
        return super().request(method, url, **kw)


@pytest.fixture(scope="module")
def base(graph_server):
    return f"{graph_server.https_url}/v1.0"


@pytest.fixture(scope="module")
def ids(graph_server):
    g = graph_server.app("graph")
    reg = g.registration()
    return {**reg, "register": g.list_by_display("PMO Register").id, "plan": next(iter(g.plans)),
            "task": next(iter(g.tasks))}


def ok(resp: requests.Response) -> dict:
    assert resp.status_code == 200, resp.text
    return resp.json()


def load_fixture(*parts: str):
    data = json.loads((FIXTURES.joinpath(*parts)).read_text())
    return data.get("body", data)


def test_the_validator_accepts_recorded_real_responses(validate):
    """The lenient loading is sound: recorded Graph responses validate."""
    for task in load_fixture("cli-microsoft365-planner", "task-list.taskListResponseValue.json"):
        validate("microsoft.graph.plannerTask", task)
    validate("/sites/{site-id}/lists/{list-id}/items", load_fixture("graph-docs-examples", "listitem-list.json"))
    validate("microsoft.graph.site", load_fixture("graph-docs-examples", "site-get.json"))
    for plan in load_fixture("graph-docs-examples", "plannergroup-list-plans.json")["value"]:
        validate("microsoft.graph.plannerPlan", plan)


def test_site_lists_and_columns(http, base, ids, validate):
    site = ok(http.get(f"{base}/sites/{ids['site']}"))
    validate("microsoft.graph.site", site)
    assert site["id"] == ids["site_id"]
    lists = ok(http.get(f"{base}/sites/{ids['site_id']}/lists"))
    validate("/sites/{site-id}/lists", lists)
    assert {x["displayName"] for x in lists["value"]} == {"PMO Register", "RAID Log", "Status Reports", "Approvals",
                                                         "PMO Compliance"}
    cols = ok(http.get(f"{base}/sites/{ids['site_id']}/lists/{ids['register']}/columns"))
    validate("/sites/{site-id}/lists/{list-id}/columns", cols)
    by_display = {c["displayName"]: c["name"] for c in cols["value"]}
    assert by_display["Jira Key"] == "JiraKey" and by_display["Approved Budget"] == "ApprovedBudget0"
    assert by_display["Project Name"] == "Title" and by_display["Planned Start"] == "Planned_x0020_Start"


def test_list_items_paging_and_fields(http, base, ids, validate):
    url = f"{base}/sites/{ids['site_id']}/lists/{ids['register']}/items"
    page = ok(http.get(url, params={"$expand": "fields", "$top": "2"}))
    validate("/sites/{site-id}/lists/{list-id}/items", page)
    assert len(page["value"]) == 2 and page["@odata.nextLink"].startswith(base)
    rest = ok(http.get(page["@odata.nextLink"]))
    assert len(rest["value"]) == 1 and "@odata.nextLink" not in rest
    item = page["value"][0]
    real = load_fixture("graph-docs-examples", "listitem-get.json")
    assert set(real) - {"@odata.context"} <= set(item) | {"fields"}
    assert "ProjectManagerLookupId" in item["fields"] and "ApprovedBudget0" in item["fields"]
    one = ok(http.get(f"{url}/{item['id']}", params={"$expand": "fields($select=Title,JiraKey)"}))
    validate("microsoft.graph.listItem", one)
    assert {"Title", "JiraKey", "id"} <= set(one["fields"]) and "ApprovedBudget0" not in one["fields"]


def test_delta_links_and_the_410_for_a_stale_token(http, base, ids, graph_server, validate):
    url = f"{base}/sites/{ids['site_id']}/lists/{ids['register']}/items/delta"
    first = ok(http.get(url, params={"$expand": "fields", "$top": "2"}))
    validate("/sites/{site-id}/lists/{list-id}/items/delta()", first)
    second = ok(http.get(first["@odata.nextLink"]))
    link = second["@odata.deltaLink"]
    assert ok(http.get(link))["value"] == []
    graph_server.app("graph").expire_delta("PMO Register")
    gone = http.get(link)
    assert gone.status_code == 410
    validate("error", gone.json())
    assert gone.json()["error"]["code"] == "resyncRequired" and gone.headers["Location"].startswith(base)


def test_a_delta_link_moves_past_the_changes_it_returned(http, base, ids):
    url = f"{base}/sites/{ids['site_id']}/lists/{ids['register']}/items"
    link = ok(http.get(f"{url}/delta", params={"$top": "1000"}))["@odata.deltaLink"]
    assert ok(http.patch(f"{url}/1/fields", json={"PMOOpenViolations": 7})) is not None
    changes = ok(http.get(link))
    assert [i["id"] for i in changes["value"]] == ["1"]
    assert ok(http.get(changes["@odata.deltaLink"]))["value"] == []  # returned once, not again every round


def test_patch_fields_returns_the_field_set(http, base, ids, validate):
    url = f"{base}/sites/{ids['site_id']}/lists/{ids['register']}/items/1/fields"
    r = http.patch(url, json={"PMOCompliance": "At risk", "PMOOpenViolations": 2})
    assert r.status_code == 200, r.text
    validate("microsoft.graph.fieldValueSet", r.json())
    assert r.json()["PMOCompliance"] == "At risk"
    bad = http.patch(url, json={"NoSuchColumn": 1})
    assert bad.status_code == 400
    validate("error", bad.json())


def test_create_and_delete_list_items(http, base, ids, validate):
    lists = ok(http.get(f"{base}/sites/{ids['site_id']}/lists"))
    results = next(x["id"] for x in lists["value"] if x["displayName"] == "PMO Compliance")
    url = f"{base}/sites/{ids['site_id']}/lists/{results}/items"
    made = http.post(url, json={"fields": {"Title": "APOL|GATE-01|APOL", "Rule": "GATE-01", "Severity": "critical",
                                           "ResultStatus": "alarm"}})
    assert made.status_code == 201, made.text
    validate("microsoft.graph.listItem", made.json())
    assert made.json()["fields"]["Rule"] == "GATE-01"
    bad = http.post(url, json={"fields": {"Severity": "catastrophic"}})  # not one of the choice column's values
    assert bad.status_code == 400
    validate("error", bad.json())
    gone = http.delete(f"{url}/{made.json()['id']}")
    assert gone.status_code == 204 and gone.content == b""
    assert http.get(f"{url}/{made.json()['id']}").status_code == 404


def test_planner_plans_tasks_and_etags(http, base, ids, validate):
    plans = ok(http.get(f"{base}/groups/{ids['group_id']}/planner/plans"))
    validate("/groups/{group-id}/planner/plans", plans)
    tasks = ok(http.get(f"{base}/planner/plans/{ids['plan']}/tasks"))
    validate("/planner/plans/{plannerPlan-id}/tasks", tasks)
    real = load_fixture("cli-microsoft365-planner", "task-list.taskListResponseValue.json")[0]
    assert set(real) <= set(tasks["value"][0])
    validate("/planner/plans/{plannerPlan-id}/buckets", ok(http.get(f"{base}/planner/plans/{ids['plan']}/buckets")))
    validate("microsoft.graph.plannerPlanDetails", ok(http.get(f"{base}/planner/plans/{ids['plan']}/details")))
    r = http.get(f"{base}/planner/tasks/{ids['task']}")
    task = ok(r)
    validate("microsoft.graph.plannerTask", task)
    assert r.headers["ETag"] == task["@odata.etag"]
    url = f"{base}/planner/tasks/{ids['task']}"
    missing = http.patch(url, json={"title": "x"})
    assert missing.status_code == 400 and "If-Match" in missing.json()["error"]["message"]
    done = http.patch(url, json={"percentComplete": 50}, headers={"If-Match": task["@odata.etag"]})
    assert done.status_code == 204
    stale = http.patch(url, json={"percentComplete": 100}, headers={"If-Match": task["@odata.etag"]})
    assert stale.status_code == 412
    validate("error", stale.json())


def test_workbook_ranges(http, base, ids, validate):
    item = ok(http.get(f"{base}/sites/{ids['site_id']}/drive/root:/{ids['workbook_path']}"))
    wb = f"{base}/sites/{ids['site_id']}/drive/items/{item['id']}/workbook/worksheets/Budget"
    rng = ok(http.get(f"{wb}/range(address='A1:F4')"))
    validate("microsoft.graph.workbookRange", rng)
    assert rng["address"] == "Budget!A1:F4" and rng["values"][0][:2] == ["Project Key", "Project"]
    used = ok(http.get(f"{wb}/usedRange(valuesOnly=true)"))
    validate("microsoft.graph.workbookRange", used)
    assert used["values"][-1][0] == "Total"
    drives = ok(http.get(f"{base}/drives/{graph_server_drive(http, base, ids)}/items/{item['id']}/workbook/"
                         "worksheets/Budget/range(address='A1:B2')"))
    validate("/drives/{drive-id}/items/{driveItem-id}/workbook/worksheets/{workbookWorksheet-id}/range(address='{address}')",
             drives)


def graph_server_drive(http, base, ids) -> str:
    item = ok(http.get(f"{base}/sites/{ids['site_id']}/drive/root:/{ids['workbook_path']}"))
    return item["parentReference"]["driveId"]


def test_expired_token_gets_graphs_error_body(http, base, ids, graph_server, validate):
    g = graph_server.app("graph")
    token = http.headers["Authorization"].split()[1]
    g.dir.tokens[token].expires_at = 0
    r = http.get(f"{base}/sites/{ids['site_id']}")
    assert r.status_code == 401
    validate("error", r.json())
    assert r.json()["error"]["code"] == "InvalidAuthenticationToken"
    g.dir.tokens[token].expires_at = 10 ** 12


def test_batch_limits_dependencies_and_inner_throttling(http, base, ids, graph_server):
    site = ids["site_id"]
    too_many = http.post(f"{base}/$batch", json={"requests": [
        {"id": str(n), "method": "GET", "url": f"/sites/{site}"} for n in range(21)]})
    assert too_many.status_code == 400
    graph_server.add_fault(system="graph", method="GET", route="/v1.0/planner/tasks/{task}", status=429,
                           retry_after="7", times=1)
    r = http.post(f"{base}/$batch", json={"requests": [
        {"id": "a", "method": "GET", "url": f"/planner/tasks/{ids['task']}"},
        {"id": "b", "method": "GET", "url": f"/sites/{site}", "dependsOn": ["a"]},
        {"id": "c", "method": "GET", "url": f"/sites/{site}"},
    ]})
    assert r.status_code == 200
    by_id = {x["id"]: x for x in r.json()["responses"]}
    assert by_id["a"]["status"] == 429 and by_id["a"]["headers"]["Retry-After"] == "7"
    assert by_id["b"]["status"] == 424 and by_id["c"]["status"] == 200
    stats = graph_server.stats.snapshot()["systems"]["graph"]
    assert stats["batched"]["GET /v1.0/planner/tasks/{task}"] >= 1


def test_teams_message_and_mail_are_stored(http, base, ids, graph_server):
    r = http.post(f"{base}/teams/{ids['team_id']}/channels/{ids['channel_id']}/messages",
                  json={"body": {"contentType": "html", "content": "<p>hello</p>"}})
    assert r.status_code == 201 and r.json()["from"]["application"]["id"] == ids["client_id"]
    m = http.post(f"{base}/users/{ids['hub_mailbox']}/sendMail", json={"message": {
        "subject": "s", "body": {"contentType": "Text", "content": "b"},
        "toRecipients": [{"emailAddress": {"address": ids["pmo_mailbox"]}}]}})
    assert m.status_code == 202 and m.content == b""
    ctl = requests.get(f"{graph_server.url}/_sandbox/graph/messages").json()["messages"]
    assert ctl[-1]["body"]["content"] == "<p>hello</p>"
    assert requests.get(f"{graph_server.url}/_sandbox/graph/mail").json()["mail"][-1]["subject"] == "s"
    sent = ok(http.get(f"{base}/users/{ids['hub_mailbox']}/mailFolders/sentitems/messages"))
    assert sent["value"][0]["subject"] == "s"
