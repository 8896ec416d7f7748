"""Contract tests: the Jira emulator's real HTTP responses validate against the component schemas of Atlassian's
Jira Cloud platform REST API v3 description (../shared/api/jira/jira-platform-v3.openapi.json).

The description is OpenAPI 3.0 and fails a strict spec validation (see ../shared/api/README.md), so it is loaded
leniently: `nullable: true` becomes a JSON-Schema null type, and each response is validated against one
component schema with its `$ref`s resolved inside `components`. Deliberate exceptions, by name:

- ChangeDetails.from / fromString / to / toString may be null: real Jira sends null for empty values (the
  recorded webhook fixtures do too) although the description does not mark them nullable.
- IssueBulkOperationsFieldOption (an option in GET /bulk/issues/fields) is declared as an object with no
  properties at all, while the description's own example of that response gives each option properties (id,
  priority, description): its properties are not checked. The emulator sends a select option as
  {"optionId", "value"}, the id a bulk edit names it by.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import requests
from jsonschema import Draft202012Validator

from hub.sandbox.jira import CF

from .conftest import session_for

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT.parent / "shared" / "api" / "jira" / "jira-platform-v3.openapi.json"
FIXTURES = ROOT.parent / "shared" / "api" / "jira" / "fixtures"

# component -> {property: reason}: where real Jira (and so the emulator) differs from the description
EXCEPTIONS = {
    "ChangeDetails": {p: "real Jira sends null for an empty from/to value" for p in ("from", "fromString", "to",
                                                                                       "toString")},
}
# components declared without the properties their own examples show: any properties accepted
OPEN_COMPONENTS = {"IssueBulkOperationsFieldOption": "declared empty; the description's example has id/priority"}

pytestmark = pytest.mark.skipif(not SPEC.exists(), reason=f"{SPEC} not available")


def _openapi_to_jsonschema(node):
    """OpenAPI 3.0 schema -> JSON Schema: `nullable: true` allows null."""
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
def components():
    spec = json.loads(SPEC.read_text())
    schemas = _openapi_to_jsonschema(copy.deepcopy(spec["components"]["schemas"]))
    for name, props in EXCEPTIONS.items():
        for prop in props:
            schema = schemas[name]["properties"][prop]
            schema["type"] = [schema["type"], "null"]
    for name in OPEN_COMPONENTS:
        schemas[name]["additionalProperties"] = True
    return {"schemas": schemas}


@pytest.fixture(scope="module")
def validate(components):
    cache: dict[str, Draft202012Validator] = {}

    def check(name: str, instance, *, array: bool = False) -> None:
        key = f"{name}[]" if array else name
        if key not in cache:
            ref = {"$ref": f"#/components/schemas/{name}"}
            root = {"type": "array", "items": ref} if array else ref
            cache[key] = Draft202012Validator({**root, "components": components})
        errors = sorted(cache[key].iter_errors(instance), key=lambda e: list(e.absolute_path))
        assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])

    return check


@pytest.fixture(scope="module")
def edited_issue(sandbox):
    """A project record with a recorded edit (changelog) and a comment."""
    http = session_for(sandbox)
    p = sandbox.seed.projects[8]
    url = f"{sandbox.url}/rest/api/3/issue/{p.record_key}"
    r = http.put(url, json={"fields": {CF["PMO Compliance"].id: {"value": "At risk"},
                                       CF["PMO Open Violations"].id: 2}})
    assert r.status_code == 204
    r = http.post(f"{url}/comment", json={"body": {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "Contract check"}]}]}})
    assert r.status_code == 201
    return p.record_key, r.json()["id"]


def get(http, sandbox, path, **params):
    r = http.get(f"{sandbox.url}/rest/api/3/{path}", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_validator_accepts_a_recorded_real_issue(validate):
    """The lenient loading itself is sound: a recorded Jira Cloud issue (Airbyte fixture) validates."""
    issues = json.loads((FIXTURES / "airbyte-source-jira" / "issues.json").read_text())["issues"]
    for issue in issues:
        for extra in ("projectId", "projectKey", "created", "updated"):  # added by Airbyte, see README
            issue.pop(extra, None)
        validate("IssueBean", issue)


def test_server_info(sandbox, validate):
    validate("ServerInformation", requests.get(f"{sandbox.url}/rest/api/3/serverInfo").json())


def test_myself_and_user(sandbox, http, validate, jira_app):
    validate("User", get(http, sandbox, "myself"))
    validate("User", get(http, sandbox, "user", accountId=jira_app.bot.account_id))


def test_fields(sandbox, http, validate):
    validate("FieldDetails", get(http, sandbox, "field"), array=True)


def test_metadata_lists(sandbox, http, validate):
    validate("IssueTypeDetails", get(http, sandbox, "issuetype"), array=True)
    validate("StatusDetails", get(http, sandbox, "status"), array=True)
    validate("StatusCategory", get(http, sandbox, "statuscategory"), array=True)
    validate("Priority", get(http, sandbox, "priority"), array=True)


def test_projects(sandbox, http, validate):
    validate("PageBeanProject", get(http, sandbox, "project/search", maxResults=3,
                                    expand="description,lead,issueTypes,insight"))
    validate("Project", get(http, sandbox, f"project/{sandbox.seed.projects[0].key}"))
    validate("Project", get(http, sandbox, "project"), array=True)


def test_search_pages(sandbox, http, validate, edited_issue):
    keys = ", ".join(p.key for p in sandbox.seed.projects)
    ids_only = get(http, sandbox, "search/jql", jql=f"project in ({keys})", maxResults=10)
    validate("SearchAndReconcileResults", ids_only)
    assert ids_only["nextPageToken"]
    rich = http.post(f"{sandbox.url}/rest/api/3/search/jql", json={
        "jql": f"key = {edited_issue[0]} OR project = {sandbox.seed.projects[1].key} ORDER BY key",
        "fields": ["*all"], "expand": "names,schema,changelog", "maxResults": 100,
    }).json()
    validate("SearchAndReconcileResults", rich)
    assert rich["isLast"] and "nextPageToken" not in rich


def test_issue_changelog_and_comments(sandbox, http, validate, edited_issue):
    key, comment_id = edited_issue
    issue = get(http, sandbox, f"issue/{key}", expand="changelog,names,schema")
    validate("IssueBean", issue)
    assert issue["changelog"]["histories"]
    log = get(http, sandbox, f"issue/{key}/changelog")
    validate("PageBeanChangelog", log)
    assert any(item["from"] is None for h in log["values"] for item in h["items"])  # the named exception
    validate("PageOfComments", get(http, sandbox, f"issue/{key}/comment"))
    validate("Comment", get(http, sandbox, f"issue/{key}/comment/{comment_id}"))
    # every issue type, v3 and v2
    p = sandbox.seed.projects[2]
    for record in (p.gates[0], p.status_reports[-1], p.raid[0], p.milestones[0], p.approvals[0], p.work_items[0]):
        validate("IssueBean", get(http, sandbox, f"issue/{record.key}"))
        r = http.get(f"{sandbox.url}/rest/api/2/issue/{record.key}")
        validate("IssueBean", r.json())


def test_approximate_count(sandbox, http, validate):
    r = http.post(f"{sandbox.url}/rest/api/3/search/approximate-count",
                  json={"jql": f"project = {sandbox.seed.projects[0].key}"})
    validate("JQLCountResultsBean", r.json())


@pytest.mark.parametrize("request_spec, status", [
    (("GET", "search/jql", {"jql": "project = "}, None), 400),
    (("GET", "search/jql", {"jql": "nosuchfield = 1"}, None), 400),
    (("GET", "search", {}, None), 410),
    (("GET", "issue/NOPE-1", {}, None), 404),
    (("PUT", "issue/{record}", {}, {"fields": {"customfield_99999": 1}}), 400),
    (("GET", "myself", {}, "anonymous"), 401),
])
def test_error_bodies(sandbox, http, validate, request_spec, status):
    method, path, params, body = request_spec
    path = path.format(record=sandbox.seed.projects[0].record_key)
    if body == "anonymous":
        r = requests.request(method, f"{sandbox.url}/rest/api/3/{path}", params=params)
    else:
        r = http.request(method, f"{sandbox.url}/rest/api/3/{path}", params=params, json=body)
    assert r.status_code == status
    validate("ErrorCollection", r.json())


def test_bulk_edit(sandbox, http, validate, jira_app):
    """Bulk edit: the fields listing, the submission (the request body validates against the description too)
    and the task's progress; the values land as a PUT would set them."""
    keys = [p.record_key for p in sandbox.seed.projects[3:6]]
    status, count, when = CF["PMO Compliance"], CF["PMO Open Violations"], CF["PMO Compliance Changed"]
    listing = get(http, sandbox, "bulk/issues/fields", issueIdsOrKeys=",".join(keys), searchText="PMO Compliance")
    validate("BulkEditGetFields", listing)
    option = next(o for f in listing["fields"] if f["id"] == status.id for o in f["fieldOptions"]
                  if o["value"] == "At risk")
    body = {"selectedIssueIdsOrKeys": keys, "selectedActions": [status.id, count.id, when.id],
            "editedFieldsInput": {"singleSelectFields": [{"fieldId": status.id, "option": {"optionId": option["optionId"]}}],
                                  "clearableNumberFields": [{"fieldId": count.id, "value": 3}],
                                  "datePickerFields": [{"fieldId": when.id, "date": {"formattedDate": "23-11-2026"}}]},
            "sendBulkNotification": False}
    validate("IssueBulkEditPayload", body)
    r = http.post(f"{sandbox.url}/rest/api/3/bulk/issues/fields", json=body)
    assert r.status_code == 201, r.text
    validate("SubmittedBulkOperation", r.json())
    progress = get(http, sandbox, f"bulk/queue/{r.json()['taskId']}")
    validate("BulkOperationProgress", progress)
    assert progress["status"] == "COMPLETE" and len(progress["processedAccessibleIssues"]) == 3
    issue = get(http, sandbox, f"issue/{keys[0]}", fields=f"{status.id},{count.id},{when.id}")["fields"]
    assert (issue[status.id]["value"], issue[count.id], issue[when.id]) == ("At risk", 3, "2026-11-23")
    bad = http.post(f"{sandbox.url}/rest/api/3/bulk/issues/fields", json={**body, "selectedActions": [status.id]})
    assert bad.status_code == 400
    validate("BulkOperationErrorResponse", bad.json())
    assert "not listed as selectedActions" in bad.json()["errors"][0]["message"]
