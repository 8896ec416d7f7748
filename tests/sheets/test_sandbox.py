"""The Sheets sandbox through the real gspread and google-auth over HTTP: auth, ranges, render and input
options, batches, structure changes, Drive metadata, quotas and the seeded register's mess."""

from __future__ import annotations

import time

import gspread
import pytest
import requests
from google.auth.exceptions import RefreshError
from google.oauth2 import service_account

from connectors.sheets.client import RebasedSession
from hub.sandbox.sheets import HUB_ACCOUNT, OUTSIDER_ACCOUNT, quote_title
from tests.sheets.conftest import gspread_for, sheets_server, sheets_stats


def test_open_by_key_lists_the_seeded_tabs_and_locale(server, office):
    sh = office.open_by_key(server.app("sheets").register_id)
    assert sh.title == "PMO Register" and sh.locale == "de_DE" and sh.timezone == "Europe/Berlin"
    assert [w.title for w in sh.worksheets()] == ["Register", "RAID Log", "Status Reports", "Approvals",
                                                  "Training Roster"]
    assert sh.get_lastUpdateTime().endswith("Z")


def test_register_has_the_mess_real_sheets_have(server, office):
    app = server.app("sheets")
    ws = office.open_by_key(app.register_id).worksheet("Register")
    values = ws.get_all_values()
    assert values[0][0].startswith("PMO Project Register") and values[2][1] == "Jira Key"  # header in row 3
    header = values[2]
    assert "" in header and header.count("Notes") == 2  # a blank header and a duplicate one
    assert header.index("Project Name") < header.index("Jira Key")  # not the mapping's order
    assert any(all(c == "" for c in row) for row in values[3:])  # blank rows between groups
    budget = header.index("Approved Budget")
    cells = [row[budget] for row in values[3:] if row and row[1]]
    assert any(c.endswith(" €") and "." in c and "," in c for c in cells)  # typed, formatted for de_DE
    assert any(not c.endswith("€") and "," in c for c in cells)  # pasted as text "1.234.500,00"
    assert any("<" in row[header.index("Project Manager")] for row in values[3:] if row and row[1])
    notes = ws.get_notes()
    assert notes[0][0].startswith("Maintained by the PMO office")
    meta = office.http_client.fetch_sheet_metadata(app.register_id)
    assert meta["sheets"][0]["merges"][0]["endColumnIndex"] == 8
    info = app.seed_info
    jira_keys = {p.key for p in server.seed.projects}
    assert len(info["jira_only"]) == 2 and set(info["jira_only"]) <= jira_keys
    assert len(info["register_only"]) == 2 and not set(info["register_only"]) & jira_keys


def test_a1_ranges_quoted_names_whole_columns_rows_and_open_ends(server, office):
    sh = office.open_by_key(server.app("sheets").register_id)
    got = sh.values_batch_get(["'RAID Log'!A:B", "'RAID Log'!1:1", "'RAID Log'!A2:C", "Register!B3",
                               "'Training Roster'"])["valueRanges"]
    assert got[0]["range"].startswith("'RAID Log'!A1:B") and got[0]["values"][0] == ["ID", "Project"]
    assert got[1]["range"] == "'RAID Log'!A1:Z1" and got[1]["values"][0][:3] == ["ID", "Project", "Type"]
    assert got[2]["range"].startswith("'RAID Log'!A2:C") and len(got[2]["values"][0]) == 3
    assert got[3] == {"range": "Register!B3", "majorDimension": "ROWS", "values": [["Jira Key"]]}
    assert got[4]["values"][0] == ["Name", "Email", "Course", "Completed", "Expires"]
    with pytest.raises(gspread.exceptions.APIError) as e:
        sh.values_get("'No Such Tab'!A1")
    assert e.value.response.status_code == 400
    assert "Unable to parse range" in e.value.response.json()["error"]["message"]
    assert quote_title("Sheet1") == "Sheet1" and quote_title("RAID Log") == "'RAID Log'" and quote_title("A1") == "'A1'"


def test_value_render_options(server, office):
    sh = office.open_by_key(server.app("sheets").register_id)
    ws = sh.worksheet("RAID Log")
    formatted = ws.get("A2:K2")[0]
    unformatted = ws.get("A2:K2", value_render_option="UNFORMATTED_VALUE")[0]
    formula = ws.get("A2:K2", value_render_option="FORMULA")[0]
    assert formula[7] == "=F2*G2" and unformatted[7] == unformatted[5] * unformatted[6]
    assert formatted[7] == str(unformatted[7])
    assert isinstance(unformatted[10], int) and formatted[10].count(".") == 2  # serial date vs "03.11.2026"
    dated = ws.get("K2", value_render_option="UNFORMATTED_VALUE", date_time_render_option="FORMATTED_STRING")
    assert dated[0][0] == formatted[10]
    by_column = sh.values_get("'RAID Log'!A1:B3", params={"majorDimension": "COLUMNS"})
    assert by_column["majorDimension"] == "COLUMNS" and by_column["values"][0][0] == "ID"
    assert by_column["values"][1][0] == "Project"


def test_raw_keeps_text_user_entered_parses_like_the_ui(fresh):
    ws = gspread_for(fresh).open_by_key(fresh.app("sheets").register_id).worksheet("Register")
    hostile = '=HYPERLINK("https://evil.example/phish","Click for bonus")'
    ws.update(range_name="R4:S4", values=[[hostile, "1.234,50"]], value_input_option="RAW")
    assert ws.get("R4:S4", value_render_option="FORMULA") == [[hostile, "1.234,50"]]
    assert ws.get("R4:S4") == [[hostile, "1.234,50"]]
    ws.update(range_name="R5:U5", values=[[hostile, "1.234,50", "03.11.2026", "'=text"]],
              value_input_option="USER_ENTERED")
    assert ws.get("R5:U5", value_render_option="FORMULA") == [[hostile, 1234.5, 46329, "=text"]]
    assert ws.get("R5:U5")[0][:3] == ["Click for bonus", "1234,5", "03.11.2026"]


def test_values_batch_update_is_atomic_and_counts_as_one_write(fresh):
    app = fresh.app("sheets")
    sh = gspread_for(fresh).open_by_key(app.register_id)
    fresh.stats.reset()
    body = {"valueInputOption": "RAW", "data": [{"range": "Register!R4", "values": [["A"]]},
                                                 {"range": "Register!S4:T4", "values": [[1, "x"]]}]}
    resp = sh.values_batch_update(body)
    assert resp["totalUpdatedCells"] == 3 and resp["totalUpdatedSheets"] == 1 and len(resp["responses"]) == 2
    bad = {"valueInputOption": "RAW", "data": [{"range": "Register!R5", "values": [["B"]]},
                                                {"range": "Register!A5000", "values": [["out of grid"]]}]}
    with pytest.raises(gspread.exceptions.APIError) as e:
        sh.values_batch_update(bad)
    assert "exceeds grid limits" in e.value.response.json()["error"]["message"]
    assert "values" not in sh.values_get("Register!R5")  # nothing of the failed batch was written
    st = fresh.stats.snapshot()["systems"]["sheets"]
    assert st["writes"] == 1  # the failed batch is not a write
    assert sheets_stats(fresh)["writes"] == 2


def test_append_clear_and_structure_changes(fresh):
    sh = gspread_for(fresh).open_by_key(fresh.app("sheets").register_id)
    ws = sh.add_worksheet("Scratch", rows=3, cols=3)
    ws.append_rows([["a", "b"], ["c", "d"]], value_input_option="RAW")
    ws.append_row(["e"], value_input_option="RAW")
    assert ws.get_all_values() == [["a", "b"], ["c", "d"], ["e", ""]]
    ws.append_rows([["f"], ["g"]], value_input_option="RAW")  # grows the grid
    assert ws.get_all_values()[-1] == ["g", ""] and sh.worksheet("Scratch").row_count == 5
    ws.batch_clear(["A1:A2"])
    assert ws.get("A1:B2") == [["", "b"], ["", "d"]]
    ws.insert_cols([["new"]], col=1)
    assert ws.get("A1:C1") == [["new", "", "b"]]
    with pytest.raises(gspread.exceptions.APIError) as e:
        sh.add_worksheet("scratch", rows=1, cols=1)
    assert "already exists" in e.value.response.json()["error"]["message"]
    ws.clear()
    assert ws.get_all_values() in ([], [[]])


def test_sort_and_move_rows(fresh):
    sh = gspread_for(fresh).open_by_key(fresh.app("sheets").register_id)
    ws = sh.add_worksheet("Sort", rows=10, cols=3)
    ws.update(range_name="A1:B4", values=[["k", "n"], ["b", 2], ["", ""], ["a", 1]], value_input_option="RAW")
    ws.sort((1, "asc"), range="A2:B4")
    assert ws.get("A2:B4") == [["a", "1"], ["b", "2"]]  # the blank row went last
    sh.batch_update({"requests": [{"moveDimension": {"source": {"sheetId": ws.id, "dimension": "ROWS",
                                                                "startIndex": 2, "endIndex": 3},
                                                     "destinationIndex": 1}}]})
    assert ws.get("A2:A3") == [["b"], ["a"]]


def test_drive_modified_time_moves_only_on_writes(fresh):
    gc = gspread_for(fresh)
    key = fresh.app("sheets").register_id
    before = gc.get_file_drive_metadata(key)
    assert set(before) == {"id", "name", "createdTime", "modifiedTime"}
    gc.open_by_key(key).worksheet("Register").get("A1:B2")
    assert gc.get_file_drive_metadata(key)["modifiedTime"] == before["modifiedTime"]
    gc.open_by_key(key).worksheet("Register").update(range_name="R4", values=[["x"]], value_input_option="RAW")
    assert gc.get_file_drive_metadata(key)["modifiedTime"] > before["modifiedTime"]
    listed = gc.list_spreadsheet_files(title="PMO Register")
    assert [f["id"] for f in listed] == [key]


def test_fields_masks_and_grid_data(server, office):
    key = server.app("sheets").register_id
    http = office.http_client
    titles = http.fetch_sheet_metadata(key, params={"fields": "sheets.properties.title"})
    assert titles == {"sheets": [{"properties": {"title": t}} for t in
                                 ("Register", "RAID Log", "Status Reports", "Approvals", "Training Roster")]}
    nested = http.fetch_sheet_metadata(key, params={"fields": "spreadsheetId,properties(title,locale)"})
    assert set(nested) == {"spreadsheetId", "properties"} and set(nested["properties"]) == {"title", "locale"}
    grid = http.fetch_sheet_metadata(key, params={"includeGridData": "true", "ranges": "Register!K4:K4"})
    cell = grid["sheets"][0]["data"][0]["rowData"][0]["values"][0]
    assert cell["userEnteredFormat"]["numberFormat"]["type"] == "CURRENCY" and cell["formattedValue"].endswith("€")
    notes = http.fetch_sheet_metadata(key, params={"fields": "sheets.data.rowData.values.note",
                                                   "ranges": "Register!B2:C3"})
    assert notes == {"sheets": [{"data": [{}]}]}


def test_bearer_token_required_and_refreshed_when_expired(fresh):
    key = fresh.app("sheets").register_id
    url = f"{fresh.url}/v4/spreadsheets/{key}"
    r = requests.get(url, timeout=10)
    assert r.status_code == 401
    assert r.json()["error"]["status"] == "UNAUTHENTICATED" and "missing required authentication" in r.text
    r = requests.get(url, headers={"Authorization": "Bearer ya29.made-up"}, timeout=10)
    assert r.status_code == 401 and "invalid authentication credentials" in r.json()["error"]["message"]
    gc = gspread_for(fresh)
    gc.open_by_key(key)
    tokens = sheets_stats(fresh)["token"]
    fresh.app("sheets").expire_tokens()
    gc.open_by_key(key)  # google-auth sees the 401, refreshes the token and retries
    assert sheets_stats(fresh)["token"] == tokens + 1


def test_token_endpoint_checks_signature_audience_and_scope(fresh):
    app = fresh.app("sheets")
    info = app.key_file(HUB_ACCOUNT, base_url=fresh.url)
    other = app.key_file(OUTSIDER_ACCOUNT, base_url=fresh.url)
    forged = dict(info, private_key=other["private_key"])  # the hub's identity, someone else's key
    creds = service_account.Credentials.from_service_account_info(
        forged, scopes=["https://www.googleapis.com/auth/spreadsheets"])
    with pytest.raises(RefreshError, match="invalid_grant: Invalid JWT Signature"):
        creds.refresh(google_request())
    wrong_scope = service_account.Credentials.from_service_account_info(info, scopes=["https://example.com/all"])
    with pytest.raises(RefreshError, match="invalid_scope"):
        wrong_scope.refresh(google_request())
    from google.auth import crypt, jwt

    signer = crypt.RSASigner.from_service_account_info(info)
    now = int(time.time())
    claims = {"iss": HUB_ACCOUNT, "scope": "https://www.googleapis.com/auth/spreadsheets", "iat": now, "exp": now + 600}
    for aud, exp, error in (("https://attacker.example/token", now + 600, "audience"),
                            (info["token_uri"], now + 7200, "short-lived")):
        assertion = jwt.encode(signer, dict(claims, aud=aud, exp=exp)).decode()
        r = requests.post(info["token_uri"], data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                                   "assertion": assertion}, timeout=10)
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant" and error in r.json()["error_description"]
    good = service_account.Credentials.from_service_account_info(
        info, scopes=["https://www.googleapis.com/auth/spreadsheets"])
    good.refresh(google_request())
    assert good.token.startswith("ya29.") and good.expiry is not None


def google_request():
    from google.auth.transport.requests import Request

    return Request(requests.Session())


def test_unshared_spreadsheet_is_forbidden_and_invisible_on_drive(server):
    gc = gspread_for(server, OUTSIDER_ACCOUNT)
    key = server.app("sheets").register_id
    with pytest.raises(PermissionError):
        gc.open_by_key(key)
    with pytest.raises(gspread.exceptions.APIError) as e:
        gc.get_file_drive_metadata(key)
    body = e.value.response.json()["error"]
    assert e.value.response.status_code == 404 and body["errors"][0]["reason"] == "notFound"


def test_read_only_scope_cannot_write(server):
    gc = gspread_for(server, scopes=("https://www.googleapis.com/auth/spreadsheets.readonly",))
    ws = gc.open_by_key(server.app("sheets").register_id).worksheet("Register")
    with pytest.raises(gspread.exceptions.APIError) as e:
        ws.update(range_name="R4", values=[["x"]], value_input_option="RAW")
    assert e.value.response.status_code == 403
    assert e.value.response.json()["error"]["details"][0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"


def test_per_user_read_quota_gives_google_429(fresh):
    app = fresh.app("sheets")
    requests.post(f"{fresh.url}/_sandbox/sheets/settings", json={"read_per_user": 3, "quota_window_s": 60},
                  timeout=10).raise_for_status()
    gc = gspread_for(fresh)
    http = gc.http_client
    for _ in range(3):
        http.values_get(app.register_id, "Register!A1")
    with pytest.raises(gspread.exceptions.APIError) as e:
        http.values_get(app.register_id, "Register!A1")
    resp = e.value.response
    body = resp.json()["error"]
    assert resp.status_code == 429 and body["status"] == "RESOURCE_EXHAUSTED"
    assert "per minute per user" in body["message"] and "Retry-After" not in resp.headers
    assert body["details"][0]["metadata"]["quota_limit"] == "ReadRequestsPerMinutePerUser"
    # writes have their own bucket
    http.values_update(app.register_id, "Register!R4", params={"valueInputOption": "RAW"}, body={"values": [["x"]]})
    # another user of the project still reads
    gspread_for(fresh, HUB_ACCOUNT).http_client.values_get(app.register_id, "Register!A1")


def test_per_project_quota_counts_every_user(fresh):
    app = fresh.app("sheets")
    app.write_per_project = 2
    a, b = gspread_for(fresh).http_client, gspread_for(fresh, HUB_ACCOUNT).http_client
    a.values_update(app.register_id, "Register!R4", params={"valueInputOption": "RAW"}, body={"values": [["1"]]})
    b.values_update(app.register_id, "Register!R5", params={"valueInputOption": "RAW"}, body={"values": [["2"]]})
    with pytest.raises(gspread.exceptions.APIError) as e:
        b.values_update(app.register_id, "Register!R6", params={"valueInputOption": "RAW"}, body={"values": [["3"]]})
    assert "per minute per project" in e.value.response.json()["error"]["message"]


def test_other_locales_render_their_way():
    for locale, budget_suffix, date_sep in (("en_GB", "", "/"), ("en_US", "", "/"), ("fr_FR", " €", "/")):
        srv = sheets_server(4, locale=locale)
        try:
            ws = gspread_for(srv).open_by_key(srv.app("sheets").register_id).worksheet("Register")
            row = ws.get("A4:K4")[0]
            assert row[7].count(date_sep) == 2, (locale, row[7])
            assert row[10].endswith(budget_suffix) and (row[10].startswith(("£", "$")) or locale == "fr_FR")
        finally:
            srv.stop()


def test_rebased_session_only_rewrites_google_hosts(server):
    creds = service_account.Credentials.from_service_account_info(
        server.app("sheets").key_file(HUB_ACCOUNT, base_url=server.url),
        scopes=["https://www.googleapis.com/auth/spreadsheets"])
    session = RebasedSession(creds, rewrites=[("https://sheets.googleapis.com", server.url)])
    sent = []

    class Recorder(requests.adapters.HTTPAdapter):
        def send(self, request, **kw):
            sent.append(request.url)
            return super().send(request, **kw)

    session.mount("http://", Recorder())
    session.get("https://sheets.googleapis.com/v4/spreadsheets/" + server.app("sheets").register_id, timeout=10)
    assert sent == [f"{server.url}/v4/spreadsheets/{server.app('sheets').register_id}"]
