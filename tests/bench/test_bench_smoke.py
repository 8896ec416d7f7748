"""The benchmark runner at a tiny scale (a few hundred Jira issues, no latency): it runs end to end and its figures
have the right structure and arithmetic. No timing is asserted."""

from __future__ import annotations

import json
import math

import pytest

from bench import run

SYSTEMS = ("jira", "sheets", "graph")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "results.json"
    lines: list[str] = []
    code = run.main(["--scale", "300", "--runs", "1", "--latency-ms", "0", "--rate-limit", "off",
                     "--baseline-records", "5", "--baseline-items", "2", "--engine-projects", "20",
                     "--engine-items", "500", "--json", str(out)], say=lines.append)
    assert code == 0
    return json.loads(out.read_text()), lines


def test_every_figure_is_printed_with_the_machine_and_the_scale(results):
    data, lines = results
    assert {"cpus", "python", "cpu_model"} <= set(data["machine"])
    text = "\n".join(lines)
    assert f"Python {data['machine']['python']}" in text and "== 300:" in text and "Targets:" in text
    sc = data["scales"]["300"]
    assert sc["runs"] == 1 and sc["counts"]["jira_issues"] > 0
    for name in ("full", "settle", "nochange", "incremental", "resync", "pull_jira", "pull_sheets", "pull_graph"):
        assert sc[name]["exit"] in (0, 1), (name, sc[name])  # check exits 1 when it finds alarms
        assert sc[name]["wall_s"] > 0 and sc[name]["rss_mb"] > 0


def test_requests_minimum_and_ratio_add_up(results):
    data, _ = results
    sc = data["scales"]["300"]
    for name in ("full", "settle", "nochange", "incremental", "resync"):
        for s in SYSTEMS:
            q, m, r = sc[name]["requests"][s], sc[name]["minimum"][s], sc[name]["ratio"][s]
            assert q["total"] == q["reads"] + q["writes"] and q["all"] == q["total"] + q["auth"]
            assert m["total"] == m["reads"] + m["writes"]
            for k in ("reads", "writes", "total"):
                if m[k]:
                    assert math.isclose(r[k], q[k] / m[k], rel_tol=1e-3), (name, s, k)
            assert q["total"] >= m["total"], (name, s, q, m)  # nothing does better than the minimum
    full = sc["full"]
    # the first sync writes governance to every project record, so every system writes something
    assert all(full["requests"][s]["writes"] > 0 and full["minimum"][s]["writes"] > 0 for s in SYSTEMS)
    assert full["minimum"]["jira"]["detail"]["issues_to_read"] == sc["counts"]["jira_issues"]


def test_no_change_sync_writes_nothing_and_reads_little(results):
    data, _ = results
    nc = data["scales"]["300"]["nochange"]
    assert all(nc["requests"][s]["writes"] == 0 and nc["minimum"][s]["writes"] == 0 for s in SYSTEMS)
    beyond = run.beyond_auth(nc["requests"])
    assert beyond == {"jira": 1, "sheets": 1, "graph": 1}
    target = next(t for t in data["targets"] if "no-change sync: <= 1 request" in t["target"])
    assert target["met"] is True


def test_the_changed_records_are_read_back(results):
    data, _ = results
    sc = data["scales"]["300"]
    assert all(n >= 1 for n in sc["edited"].values())
    inc = sc["incremental"]
    assert inc["minimum"]["jira"]["detail"]["issues_to_read"] >= sc["edited"]["jira"]
    assert inc["requests"]["sheets"]["reads"] >= 2  # the changed spreadsheet is read again


def test_baseline_and_engine(results):
    data, lines = results
    b = data["baseline"]
    assert b["baseline"]["exit"] == 0 and b["baseline"]["written"] == {"jira": 5, "sheets": 5, "graph": 5}
    # the naive script makes one write per record (three per register row), the hub far fewer
    assert b["baseline"]["requests"]["sheets"]["writes"] == 15
    assert b["hub"]["requests"]["sheets"]["writes"] == 1
    assert sum(b["hub"]["requests"][s]["all"] for s in SYSTEMS) < sum(b["baseline"]["requests"][s]["all"]
                                                                       for s in SYSTEMS)
    e = data["engine"]
    assert e["projects"] == 20 and e["work_items"] == 500 and e["results"] > 0 and e["results_per_s"] > 0
    assert any(line.startswith("Naive baseline vs hub") for line in lines)


def test_requests_are_classified_by_route():
    from bench.minimum import classify

    stats = {"jira": {"routes": {"GET /rest/api/{ver}/serverInfo": 1, "GET /rest/api/{ver}/search/jql": 3,
                                 "POST /rest/api/{ver}/bulk/issues/fields": 2, "GET /rest/api/{ver}/bulk/queue/{task}": 2,
                                 "POST /rest/api/{ver}/issue/{key}/comment": 5}},
             "sheets": {"routes": {"POST /oauth2/v4/token": 1, "GET /drive/v3/files/{id}": 1,
                                   "POST /v4/spreadsheets/{id}/values:batchUpdate": 1}},
             "graph": {"routes": {"POST /v1.0/$batch": 3, "GET /v1.0/sites/{site}/lists": 1},
                       "batched": {"GET /v1.0/sites/{site}/lists/{list}/items/delta": 2,
                                   "PATCH /v1.0/sites/{site}/lists/{list}/items/{item}/fields": 40}},
             "login": {"total": 2}}
    out = classify(stats)
    assert (out["jira"]["reads"], out["jira"]["writes"], out["jira"]["auth"]) == (6, 7, 0)
    assert (out["sheets"]["reads"], out["sheets"]["writes"], out["sheets"]["auth"]) == (1, 1, 1)
    # one $batch carried the two delta reads, two carried the 40 PATCHes; msal's requests are authentication
    assert (out["graph"]["reads"], out["graph"]["writes"], out["graph"]["auth"]) == (2, 2, 2)
    assert out["graph"]["total"] == 4 and out["graph"]["all"] == 6
