"""Request shapes and retry sequences of the Jira connector, scripted with `responses`."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from connectors.http import RetryPolicy
from connectors.jira.connector import JiraConnector, jql_quote
from hub.config import JiraSettings
from hub.errors import ConfigError, FatalError
from hub.mapping import load_jira_mapping

URL = "https://acme.atlassian.net"
SERVER_INFO = {"baseUrl": URL, "version": "1001.0.0-SNAPSHOT", "versionNumbers": [1001, 0, 0],
               "deploymentType": "Cloud", "buildNumber": 100285, "serverTitle": "Jira"}


def fields_payload():
    mapping = load_jira_mapping("jira.toml")
    out = [{"id": f, "key": f, "name": f.title(), "custom": False, "schema": {"type": "string"}}
           for f in ["summary", "issuetype", "status", "project", "parent", "priority", "assignee", "created",
                     "updated", "duedate", "resolutiondate", "labels", "description"]]
    for i, name in enumerate(sorted(mapping.field_names() - {o["id"] for o in out})):
        out.append({"id": f"customfield_{10100 + i}", "key": f"customfield_{10100 + i}", "name": name,
                    "custom": True, "schema": {"type": "string"}})
    return out


def connector(**kw) -> JiraConnector:
    kw.setdefault("concurrency", 1)  # these tests script one sequence of responses
    settings = JiraSettings(url=URL, email="bot@acme.example", token_env="X", projects=["APOL", "BR_1"], **kw)
    return JiraConnector(settings, load_jira_mapping("jira.toml"), token="tok-123456",
                         policy=RetryPolicy(base_s=0.01, max_wait_s=0.05))


def test_jql_quote_escapes_quotes_and_backslashes():
    assert jql_quote('A" OR project = X') == '"A\\" OR project = X"'
    assert jql_quote("back\\slash") == '"back\\\\slash"'


@responses.activate
def test_incremental_jql_uses_profile_time_zone_overlap_and_quoted_keys():
    responses.get(f"{URL}/rest/api/3/serverInfo", json=SERVER_INFO)
    responses.get(f"{URL}/rest/api/3/myself", json={"accountId": "a1", "timeZone": "Australia/Sydney"})
    responses.get(f"{URL}/rest/api/3/field", json=fields_payload())
    first = {"id": "1", "key": "APOL-1", "fields": {"issuetype": {"name": "Task"}, "project": {"key": "APOL"},
                                                    "updated": "2026-11-20T23:30:00.000+0000", "status": {}}}
    responses.get(f"{URL}/rest/api/3/search/jql", json={"issues": [first], "isLast": True})
    c = connector(overlap_minutes=10)
    cursor = c.pull(None, full=True).cursor
    responses.calls.reset()
    result = c.pull(cursor, full=False)
    # field ids and the time zone come from the cursor: no myself/field calls on an incremental pull
    assert [urlsplit(call.request.url).path for call in responses.calls] == ["/rest/api/3/search/jql"]
    search = [call.request for call in responses.calls if "/search/jql" in call.request.url][0]
    q = parse_qs(urlsplit(search.url).query)
    # 23:30 UTC is 10:30 next day in Sydney (AEDT, +11); minus the 10-minute overlap
    assert q["jql"] == ['project in ("APOL", "BR_1") AND updated >= "2026-11-21 10:20" ORDER BY updated ASC, key ASC']
    assert q["maxResults"] == ["100"]
    assert "expand" in q and q["expand"] == ["changelog"]
    assert result.full is False
    # the basic-auth header is sent, and the token is not in any URL
    assert search.headers["Authorization"].startswith("Basic ")
    assert all("tok-123456" not in call.request.url for call in responses.calls)


@responses.activate
def test_search_retries_429_honouring_retry_after_then_pages_by_token():
    responses.get(f"{URL}/rest/api/3/serverInfo", json=SERVER_INFO)
    responses.get(f"{URL}/rest/api/3/myself", json={"accountId": "a1", "timeZone": "UTC"})
    responses.get(f"{URL}/rest/api/3/field", json=fields_payload())
    issue = lambda k: {"id": k[-1], "key": k, "fields": {"issuetype": {"name": "Task"}, "project": {"key": "APOL"},
                                                         "updated": "2026-11-20T10:00:00.000+0000", "status": {}}}
    responses.get(f"{URL}/rest/api/3/search/jql", status=429, headers={"Retry-After": "0"},
                  json={"errorMessages": ["Rate limit exceeded."]})
    responses.get(f"{URL}/rest/api/3/search/jql", json={"issues": [issue("APOL-1")], "nextPageToken": "t2", "isLast": False})
    responses.get(f"{URL}/rest/api/3/search/jql", status=503, json={"errorMessages": ["busy"]})
    responses.get(f"{URL}/rest/api/3/search/jql", json={"issues": [issue("APOL-2")], "isLast": True})
    responses.get(f"{URL}/rest/api/3/search/jql", json={"issues": [issue("APOL-3")], "isLast": True})
    c = connector()
    result = c.pull(None, full=True)
    assert [r.key for r in result.records] == ["APOL-1", "APOL-2", "APOL-3"]
    searches = [call for call in responses.calls if "/search/jql" in call.request.url]
    assert [s.response.status_code for s in searches] == [429, 200, 503, 200, 200]
    assert "nextPageToken=t2" in searches[3].request.url
    # a full pull reads project records (with comments and changelog) and work items in separate streams
    q1, q2 = (parse_qs(urlsplit(searches[i].request.url).query) for i in (1, 4))
    assert 'issuetype = "Project"' in q1["jql"][0] and "comment" in q1["fields"] and q1["expand"] == ["changelog"]
    assert 'issuetype != "Project"' in q2["jql"][0] and "comment" not in q2["fields"] and "expand" not in q2
    assert c._policy.retries == 2


@responses.activate
def test_401_is_fatal_with_a_clear_message_and_no_retry():
    responses.get(f"{URL}/rest/api/3/serverInfo", status=401, json={"errorMessages": ["Client must be authenticated"]})
    c = connector()
    with pytest.raises(FatalError) as e:
        c.pull(None, full=True)
    assert "authentication failed" in str(e.value)
    assert "tok-123456" not in str(e.value)
    assert len(responses.calls) == 1


@responses.activate
def test_unknown_field_name_fails_before_any_search_with_suggestion():
    responses.get(f"{URL}/rest/api/3/serverInfo", json=SERVER_INFO)
    responses.get(f"{URL}/rest/api/3/myself", json={"accountId": "a1", "timeZone": "UTC"})
    payload = [f for f in fields_payload() if f["name"] != "Risk Owner"]
    payload.append({"id": "customfield_999", "name": "Risk Owners", "custom": True, "schema": {"type": "user"}})
    responses.get(f"{URL}/rest/api/3/field", json=payload)
    with pytest.raises(ConfigError) as e:
        connector().pull(None, full=True)
    assert "'Risk Owner'" in str(e.value) and "Did you mean: Risk Owners" in str(e.value)
    assert not any("/search" in call.request.url for call in responses.calls)


@responses.activate
def test_repeated_page_token_is_refused():
    responses.get(f"{URL}/rest/api/3/serverInfo", json=SERVER_INFO)
    responses.get(f"{URL}/rest/api/3/myself", json={"accountId": "a1", "timeZone": "UTC"})
    responses.get(f"{URL}/rest/api/3/field", json=fields_payload())
    responses.get(f"{URL}/rest/api/3/search/jql", json={"issues": [], "nextPageToken": "same", "isLast": False})
    from hub.errors import ConnectorError

    with pytest.raises(ConnectorError, match="loop detected"):
        connector().pull(None, full=True)


@responses.activate
def test_full_pull_splits_large_portfolios_into_parallel_balanced_streams():
    responses.get(f"{URL}/rest/api/3/serverInfo", json=SERVER_INFO)
    responses.get(f"{URL}/rest/api/3/myself", json={"accountId": "a1", "timeZone": "UTC"})
    responses.get(f"{URL}/rest/api/3/field", json=fields_payload())
    responses.post(f"{URL}/rest/api/3/search/approximate-count", json={"count": 4000})
    responses.get(f"{URL}/rest/api/3/search/jql", json={"issues": [], "isLast": True})
    settings = JiraSettings(url=URL, email="bot@acme.example", token_env="X", concurrency=3,
                            projects=[f"P{i:02d}" for i in range(30)])
    c = JiraConnector(settings, load_jira_mapping("jira.toml"), token="tok-123456", policy=RetryPolicy())
    c.pull(None, full=True)
    jqls = [parse_qs(urlsplit(call.request.url).query)["jql"][0] for call in responses.calls
            if "/search/jql" in call.request.url]
    # 4,000 issues = 40 pages: 3 work-item streams (the configured concurrency) + 1 project-record stream
    records = [q for q in jqls if 'issuetype = "Project"' in q]
    items = [q for q in jqls if 'issuetype != "Project"' in q]
    assert len(records) == 1 and len(items) == 3
    groups = [set(q.split("(")[1].split(")")[0].replace('"', "").split(", ")) for q in items]
    assert set().union(*groups) == set(settings.projects) and sum(map(len, groups)) == 30
