"""Request shapes of the Sheets connector, with `responses`: one values:batchGet for every tab, RAW writes in one
values:batchUpdate, the shared retry policy on 429/503, and errors classified without leaking key material."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from connectors.base import WriteOp
from connectors.http import RetryPolicy
from connectors.sheets.connector import SheetsConnector
from connectors.sheets.mapping import load_sheets_mapping
from connectors.sheets.settings import SheetsSettings
from hub.errors import FatalError, RateLimitedError
from hub.sandbox.sheets import HUB_ACCOUNT, SheetsApp

KEY = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdEf"
SHEETS = "https://sheets.googleapis.com/v4/spreadsheets"
DRIVE = "https://www.googleapis.com/drive/v3/files"
TOKEN = "https://oauth2.googleapis.com/token"
HEADERS = ["Project Name", "Jira Key", "Approved Budget", "PMO Compliance", "PMO Open Violations",
           "PMO Compliance Changed"]


@pytest.fixture
def key_file(tmp_path):
    info = SheetsApp().key_file(HUB_ACCOUNT, base_url="https://oauth2.googleapis.com")
    info["token_uri"] = TOKEN
    path = tmp_path / "key.json"
    path.write_text(json.dumps(info), encoding="utf-8")
    return path


def connector(key_file, **kw) -> SheetsConnector:
    settings = SheetsSettings(credentials_file=str(key_file),
                              spreadsheets=[{"id": KEY, "name": "reg", "locale": "de_DE"}], **kw)
    policy = RetryPolicy(max_attempts=4, base_s=0.001, max_wait_s=0.01)
    return SheetsConnector(settings, load_sheets_mapping("sheets.toml"), credentials_file=key_file, policy=policy)


def mock_google(rsps, *, batch_get=None, modified="2026-11-20T10:00:00.000Z"):
    rsps.add(responses.POST, TOKEN,
             json={"access_token": "ya29.test-token", "expires_in": 3599, "token_type": "Bearer"})
    rsps.add(responses.GET, re.compile(r"https://iamcredentials\.googleapis\.com/.*"),
             json={"locations": [], "encodedLocations": "0x0"})
    rsps.add(responses.GET, f"{DRIVE}/{KEY}", json={"id": KEY, "name": "PMO Register", "createdTime": modified,
                                                    "modifiedTime": modified})
    tabs = [("Register", 0), ("RAID Log", 1), ("Status Reports", 2), ("Approvals", 3), ("Training Roster", 4)]
    rsps.add(responses.GET, f"{SHEETS}/{KEY}", json={
        "spreadsheetId": KEY, "properties": {"title": "PMO Register", "locale": "de_DE", "timeZone": "Europe/Berlin"},
        "sheets": [{"properties": {"sheetId": i, "title": t, "index": i, "gridProperties": {"rowCount": 1000,
                                                                                              "columnCount": 26}}}
                   for t, i in tabs]})
    if batch_get is None:
        batch_get = [{"json": {"spreadsheetId": KEY, "valueRanges": [
            {"range": "Register!A1:F3", "majorDimension": "ROWS",
             "values": [["Register 2026"], HEADERS, ["Apollo", "apol", "1.234,50"]]},
            {"range": "'RAID Log'!A1:B1", "majorDimension": "ROWS", "values": [["ID", "Project"]]},
            {"range": "'Status Reports'!A1:B1", "majorDimension": "ROWS", "values": [["Report ID", "Project"]]},
            {"range": "Approvals!A1:B1", "majorDimension": "ROWS", "values": [["Request ID", "Project"]]},
            {"range": "'Training Roster'!A1:B1", "majorDimension": "ROWS", "values": [["Name", "Email"]]},
        ]}}]
    for spec in batch_get:
        rsps.add(responses.GET, f"{SHEETS}/{KEY}/values:batchGet", **spec)


def test_pull_reads_every_tab_in_one_batch_get(key_file):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        mock_google(rsps)
        result = connector(key_file).pull(None, full=True)
        calls = list(rsps.calls)
    gets = [c.request for c in calls if "values:batchGet" in c.request.url]
    assert len(gets) == 1
    q = parse_qs(urlsplit(gets[0].url).query)
    assert q["ranges"] == ["'Register'", "'RAID Log'", "'Status Reports'", "'Approvals'", "'Training Roster'"]
    assert q["valueRenderOption"] == ["UNFORMATTED_VALUE"] and q["dateTimeRenderOption"] == ["SERIAL_NUMBER"]
    meta = next(c.request for c in calls if c.request.url.startswith(f"{SHEETS}/{KEY}?"))
    assert parse_qs(urlsplit(meta.url).query)["includeGridData"] == ["false"]
    assert all(c.request.headers.get("Authorization") == "Bearer ya29.test-token"
               for c in calls if c.request.url.startswith((SHEETS, DRIVE)))
    project = next(r for r in result.records if r.kind == "project")
    assert project.key == "reg!Register!APOL" and project.data["budget_approved"] == 1234.5
    assert project.data["row"] == 3 and result.full


def test_unchanged_spreadsheet_is_not_read_again(key_file):
    conn = connector(key_file)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        mock_google(rsps)
        first = conn.pull(None, full=True)
        second = conn.pull({**first.cursor, "last_full": "x"}, full=True)
        calls = list(rsps.calls)
    assert second.records == [] and not second.full
    assert sum("values:batchGet" in c.request.url for c in calls) == 1
    assert sum(c.request.url.startswith(f"{DRIVE}/{KEY}") for c in calls) == 2


def test_429_and_503_are_retried_by_the_shared_policy(key_file):
    quota = {"error": {"code": 429, "message": "Quota exceeded for quota metric 'Read requests'",
                       "status": "RESOURCE_EXHAUSTED"}}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        mock_google(rsps, batch_get=[{"status": 429, "json": quota},
                                     {"status": 503, "json": {"error": {"code": 503, "message": "unavailable"}}}])
        ok_body = {"spreadsheetId": KEY, "valueRanges": [{"range": "Register!A1", "values": [["Jira Key"]]}]
                   + [{"range": f"X{i}!A1", "values": [["ID", "Project", "Report ID", "Request ID", "Email"]]}
                      for i in range(4)]}
        rsps.add(responses.GET, f"{SHEETS}/{KEY}/values:batchGet", json=ok_body)
        conn = connector(key_file)
        conn.pull(None, full=True)
    assert conn.requests["GET values:batchGet"] == 3 and conn.policy.retries == 2


def test_quota_that_never_clears_gives_up_classified(key_file):
    quota = {"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        mock_google(rsps, batch_get=[{"status": 429, "json": quota}] * 4)
        with pytest.raises(RateLimitedError, match="sheets: reading 5 tab"):
            connector(key_file).pull(None, full=True)


def test_forbidden_is_fatal_with_a_hint_and_no_retry(key_file):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        mock_google(rsps)
        rsps.replace(responses.GET, f"{SHEETS}/{KEY}", status=403,
                     json={"error": {"code": 403, "message": "The caller does not have permission",
                                     "status": "PERMISSION_DENIED"}})
        conn = connector(key_file)
        with pytest.raises(FatalError) as e:
            conn.pull(None, full=True)
    assert "The caller does not have permission" in str(e.value) and HUB_ACCOUNT in str(e.value)
    assert conn.requests["GET spreadsheets"] == 1


def test_token_refusal_is_fatal_and_never_shows_the_key(key_file):
    private = json.loads(key_file.read_text())["private_key"]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add(responses.POST, TOKEN, status=400,
                 json={"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
        with pytest.raises(FatalError) as e:
            connector(key_file).pull(None, full=True)
    text = str(e.value)
    assert "invalid_grant" in text and "Invalid JWT Signature" in text
    assert private not in text and not any(line in text for line in private.splitlines()[1:-1])
    assert "assertion" not in text


def test_writes_are_one_raw_batch_update(key_file):
    conn = connector(key_file)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        mock_google(rsps)
        result = conn.pull(None, full=True)
        targets = conn.targets(result.records)
        rsps.add(responses.POST, f"{SHEETS}/{KEY}/values:batchUpdate", json={"spreadsheetId": KEY})
        rsps.add(responses.POST, f"{SHEETS}/{KEY}:batchUpdate", json={"spreadsheetId": KEY, "replies": [{}]})
        fields = next(t for t in targets if t.fields)
        table = next(t for t in targets if t.results)
        ops = [WriteOp("sheets", fields.record, "APOL", "fields",
                       {"compliance_status": (None, "At risk"), "open_violations": (None, 2),
                        "compliance_changed": (None, "2026-11-23")}),
               WriteOp("sheets", table.record, None, "results",
                       payload={"rows": [["APOL", "STAT-01", "high", "alarm", "project:APOL", '=HYPERLINK("x","y")']],
                                "hash": "h", "count": 1})]
        outcomes = conn.apply_batch(ops)
        calls = list(rsps.calls)
    assert outcomes == [{}, {"rows": 1}]
    writes = [c.request for c in calls if c.request.method == "POST" and "googleapis" in c.request.url
              and "token" not in c.request.url]
    assert [w.url.rsplit("/", 1)[1] for w in writes] == [f"{KEY}:batchUpdate", "values:batchUpdate"]
    assert json.loads(writes[0].body)["requests"][0]["addSheet"]["properties"]["title"] == "PMO Compliance"
    body = json.loads(writes[1].body)
    assert body["valueInputOption"] == "RAW"
    ranges = {d["range"]: d["values"] for d in body["data"]}
    assert ranges["'Register'!D3"] == [["At risk"]] and ranges["'Register'!E3"] == [[2]]
    assert ranges["'Register'!F3"] == [["2026-11-23"]]
    assert ranges["'PMO Compliance'!A1:F2"][1][5] == '=HYPERLINK("x","y")'
