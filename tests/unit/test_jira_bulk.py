"""Jira write-back: field edits that set the same values go out as one bulk edit (Cloud), scripted with
`responses`; fewer than BULK_MIN, or a site that refuses bulk edits, get one PUT per issue."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import responses

from connectors.base import WriteOp
from tests.unit.test_jira_requests import SERVER_INFO, URL, connector, fields_payload

SAME = {"compliance_status": (None, "At risk"), "open_violations": (None, 2), "compliance_changed": (None, "2026-11-23")}
OTHER = {"compliance_status": (None, "Compliant"), "open_violations": (None, 0),
         "compliance_changed": (None, "2026-11-23")}


def ready_connector():
    responses.get(f"{URL}/rest/api/3/serverInfo", json=SERVER_INFO)
    responses.get(f"{URL}/rest/api/3/myself", json={"accountId": "a1", "timeZone": "UTC"})
    responses.get(f"{URL}/rest/api/3/field", json=fields_payload())
    c = connector()
    c._discover(None)
    gov = c.mapping.governance
    ids = {k: c.field_ids[getattr(gov, k)] for k in SAME}
    c.field_types.update({ids["compliance_status"]: "option", ids["open_violations"]: "number",
                          ids["compliance_changed"]: "date"})
    c._issue_ids.update({f"APOL-{n}": str(100 + n) for n in range(7)})
    ops = [WriteOp("jira", f"APOL-{n}", "APOL", "fields", changes=dict(SAME)) for n in range(5)]
    ops += [WriteOp("jira", f"APOL-{n}", "APOL", "fields", changes=dict(OTHER)) for n in (5, 6)]
    return c, ops, ids


@responses.activate
def test_identical_field_edits_share_one_bulk_edit_and_the_rest_are_single_puts():
    c, ops, ids = ready_connector()
    responses.get(f"{URL}/rest/api/3/bulk/issues/fields", json={"fields": [
        {"id": ids["compliance_status"], "name": "PMO Compliance", "fieldOptions": [
            {"optionId": 10301, "value": "Compliant"}, {"optionId": 10302, "value": "At risk"}]}]})
    responses.post(f"{URL}/rest/api/3/bulk/issues/fields", status=201, json={"taskId": "77"})
    responses.get(f"{URL}/rest/api/3/bulk/queue/77", json={
        "taskId": "77", "status": "COMPLETE", "progressPercent": 100, "processedAccessibleIssues": [100, 101, 102, 104],
        "failedAccessibleIssues": {"103": ["PMO Compliance: not on the screen"]}, "invalidOrInaccessibleIssueCount": 0})
    responses.put(f"{URL}/rest/api/3/issue/APOL-5", status=204)
    responses.put(f"{URL}/rest/api/3/issue/APOL-6", status=204)
    responses.calls.reset()

    out = c.apply_batch(ops)

    assert out[:3] == [{}, {}, {}] and out[4] == {} and out[5:] == [{}, {}]
    assert "APOL-3" in str(out[3]) and "not on the screen" in str(out[3])
    calls = [(call.request.method, urlsplit(call.request.url).path) for call in responses.calls]
    assert calls == [("GET", "/rest/api/3/bulk/issues/fields"), ("POST", "/rest/api/3/bulk/issues/fields"),
                     ("GET", "/rest/api/3/bulk/queue/77"), ("PUT", "/rest/api/3/issue/APOL-5"),
                     ("PUT", "/rest/api/3/issue/APOL-6")]
    listing = parse_qs(urlsplit(responses.calls[0].request.url).query)
    assert listing["searchText"] == ["PMO Compliance"]
    body = json.loads(responses.calls[1].request.body)
    assert body["selectedIssueIdsOrKeys"] == [f"APOL-{n}" for n in range(5)]
    assert sorted(body["selectedActions"]) == sorted(ids.values())
    assert body["sendBulkNotification"] is False
    assert body["editedFieldsInput"] == {
        "singleSelectFields": [{"fieldId": ids["compliance_status"], "option": {"optionId": 10302}}],
        "clearableNumberFields": [{"fieldId": ids["open_violations"], "value": 2.0}],
        "datePickerFields": [{"fieldId": ids["compliance_changed"], "date": {"formattedDate": "23-11-2026"}}]}


@responses.activate
def test_a_site_that_refuses_bulk_edits_gets_one_put_per_issue():
    c, ops, ids = ready_connector()
    responses.get(f"{URL}/rest/api/3/bulk/issues/fields", json={"fields": [
        {"id": ids["compliance_status"], "fieldOptions": [{"optionId": 10302, "value": "At risk"}]}]})
    responses.post(f"{URL}/rest/api/3/bulk/issues/fields", status=403,
                   json={"errors": [{"message": "You don't have the global bulk change permission."}]})
    for n in range(7):
        responses.put(f"{URL}/rest/api/3/issue/APOL-{n}", status=204)
    responses.calls.reset()

    assert c.apply_batch(ops) == [{}] * 7
    puts = [call for call in responses.calls if call.request.method == "PUT"]
    assert len(puts) == 7 and c._bulk_off
    assert c.apply_batch(ops[:5]) == [{}] * 5  # and it is not tried again in the same run
    assert not [call for call in responses.calls[len(puts) + 2:] if "bulk" in call.request.url]
