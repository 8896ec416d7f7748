"""Contract tests: the Sheets sandbox's responses validate against Google's discovery documents
(../shared/api/google/sheets.v4.json, drive.v3.json) and have the shapes gspread's recorded cassettes show.

Discovery schemas are turned into JSON Schema with `additionalProperties: false`, so a field the real API does
not have fails the test, not only a wrong type."""

from __future__ import annotations

import json
from functools import lru_cache

import jsonschema
import pytest
import requests

from tests.sheets.conftest import API, gspread_for

CASSETTES = API / "fixtures" / "gspread-cassettes"
# the API descriptions live beside the project (../shared/api/google/), as in this project's workspace
pytestmark = pytest.mark.skipif(not (API / "sheets.v4.json").exists(), reason=f"{API} not available")


def _convert(schema: dict) -> dict:
    if "$ref" in schema:
        return {"$ref": f"#/definitions/{schema['$ref']}"}
    t = schema.get("type")
    out: dict = {}
    if t == "object" or "properties" in schema:
        out["type"] = "object"
        out["properties"] = {k: _convert(v) for k, v in (schema.get("properties") or {}).items()}
        extra = schema.get("additionalProperties")
        out["additionalProperties"] = _convert(extra) if isinstance(extra, dict) else False
    elif t == "array":
        out["type"] = "array"
        out["items"] = _convert(schema.get("items") or {})
    elif t == "integer":
        out["type"] = ["integer", "string"] if schema.get("format") in ("int64", "uint64") else "integer"
    elif t in ("number", "boolean"):
        out["type"] = t
    elif t == "string":
        out["type"] = "string"
        if "enum" in schema:
            out["enum"] = schema["enum"]
    return out  # "any": no constraint


@lru_cache(maxsize=4)
def _definitions(name: str) -> dict:
    doc = json.loads((API / name).read_text(encoding="utf-8"))
    return {k: _convert(v) for k, v in doc["schemas"].items()}


def validate(body: dict, schema: str, doc: str = "sheets.v4.json") -> None:
    jsonschema.validate(body, {"$ref": f"#/definitions/{schema}", "definitions": _definitions(doc)})


def _recorded(substring: str, method: str = "GET") -> dict:
    """The first recorded real response whose request URI contains `substring`."""
    for path in sorted(CASSETTES.glob("*.json")):
        for it in json.loads(path.read_text(encoding="utf-8"))["interactions"]:
            req, resp = it["request"], it["response"]
            if req["method"] == method and substring in req["uri"] and resp["status"]["code"] == 200:
                return json.loads(resp["body"]["string"])
    raise LookupError(substring)


@pytest.fixture(scope="module")
def api(server):
    gc = gspread_for(server)
    return gc.http_client, server.app("sheets").register_id


def test_spreadsheet_metadata(api):
    http, key = api
    body = http.fetch_sheet_metadata(key)
    validate(body, "Spreadsheet")
    real = _recorded("?includeGridData=false")
    assert set(body) == set(real)
    assert set(body["sheets"][0]["properties"]) >= set(real["sheets"][0]["properties"])
    assert set(body["properties"]) >= {"title", "locale", "autoRecalc", "timeZone", "defaultFormat"}
    grid = http.fetch_sheet_metadata(key, params={"includeGridData": "true", "ranges": "Register!A1:K5"})
    validate(grid, "Spreadsheet")


def test_value_ranges(api):
    http, key = api
    one = http.values_get(key, "'RAID Log'!A1:Q3", params={"valueRenderOption": "UNFORMATTED_VALUE"})
    validate(one, "ValueRange")
    empty = http.values_get(key, "Register!Z900")
    validate(empty, "ValueRange")
    assert empty == {"range": "Register!Z900", "majorDimension": "ROWS"}  # as recorded: no "values" key
    batch = http.values_batch_get(key, ["Register!A:C", "'Status Reports'!1:2"])
    validate(batch, "BatchGetValuesResponse")
    real = _recorded("values:batchGet")
    assert set(batch) == set(real) and set(batch["valueRanges"][0]) == set(real["valueRanges"][0])


def test_writes(fresh):
    http = gspread_for(fresh).http_client
    key = fresh.app("sheets").register_id
    upd = http.values_update(key, "Register!R4", params={"valueInputOption": "RAW"}, body={"values": [["x"]]})
    validate(upd, "UpdateValuesResponse")
    assert set(upd) == set(_recorded("valueInputOption=RAW", "PUT"))
    body = {"valueInputOption": "RAW", "data": [{"range": "Register!R5", "values": [["y"]]}],
            "includeValuesInResponse": True}
    batch = http.values_batch_update(key, body)
    validate(batch, "BatchUpdateValuesResponse")
    assert set(batch) == set(_recorded("values:batchUpdate", "POST"))
    assert batch["responses"][0]["updatedData"]["values"] == [["y"]]
    app = http.values_append(key, "Register!A:C", params={"valueInputOption": "RAW"}, body={"values": [["z"]]})
    validate(app, "AppendValuesResponse")
    assert set(app) >= set(_recorded(":append", "POST"))
    cleared = http.values_clear(key, "Register!R4:R5")
    validate(cleared, "ClearValuesResponse")
    assert set(cleared) == set(_recorded(":clear", "POST"))
    bclear = http.values_batch_clear(key, body={"ranges": ["Register!R6", "Register!S6"]})
    validate(bclear, "BatchClearValuesResponse")
    add = http.batch_update(key, {"requests": [{"addSheet": {"properties": {"title": "PMO Compliance"}}},
                                               {"appendDimension": {"sheetId": 0, "dimension": "ROWS",
                                                                    "length": 10}}]})
    validate(add, "BatchUpdateSpreadsheetResponse")
    real = _recorded(":batchUpdate", "POST")
    assert set(add) == set(real) and set(add["replies"][0]) <= {"addSheet"}


def test_drive_file_and_list(api, server):
    http, key = api
    meta = http.get_file_drive_metadata(key)
    validate(meta, "File", "drive.v3.json")
    real = _recorded("fields=id%2Cname%2CcreatedTime%2CmodifiedTime")
    assert set(meta) == set(real)
    gc = gspread_for(server)
    files, _resp = gc._list_spreadsheet_files(title="PMO Register")
    assert files and set(files[0]) == {"id", "name", "createdTime", "modifiedTime"}
    validate(files[0], "File", "drive.v3.json")


def test_error_bodies(server):
    key = server.app("sheets").register_id
    r = requests.get(f"{server.url}/v4/spreadsheets/nope", headers=_bearer(server), timeout=10)
    assert r.status_code == 404
    assert r.json() == {"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}}
    r = requests.get(f"{server.url}/v4/spreadsheets/{key}/values/Nope!A1", headers=_bearer(server), timeout=10)
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"


def _bearer(server) -> dict:
    gc = gspread_for(server)
    gc.http_client.session.credentials.refresh(gc.http_client.session._auth_request)
    return {"Authorization": f"Bearer {gc.http_client.session.credentials.token}"}
