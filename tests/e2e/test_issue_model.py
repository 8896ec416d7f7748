"""The "issue" model of a project: issues selected by JQL are the projects, their children are its work."""

from __future__ import annotations


def test_issue_model_reads_records_and_their_children(hub):
    hub.rewrite('')
    text = hub.config_path.read_text().replace(
        'project_model = "project"', 'project_model = "issue"\nrecord_jql = \'issuetype = "Project"\'')
    hub.config_path.write_text(text)
    outcome = hub.sync(write=False)
    assert outcome.outcome == "ok", outcome.pulls
    pf = outcome.portfolio
    seed = {p.record_key: p for p in hub.server.seed.projects}
    assert set(pf.projects) == set(seed)  # projects are keyed by their record issue
    # every direct child of a record belongs to that project
    children = {}
    for w in pf.work_items:
        children.setdefault(w.project_key, 0)
        children[w.project_key] += 1
    assert set(children) <= set(seed)
    some = next(iter(seed))
    assert children[some] > 0
    # the same planted violations are found, keyed by the record
    found = {(r.project, r.rule) for r in outcome.results if r.status == "alarm"}
    planted = {(k, rule) for k, p in seed.items() for rule in p.planted - {"TRAIN-01", "TRAIN-02", "RISK-06"}}
    assert planted <= found
    # an incremental pull afterwards reads only what changed
    again = hub.sync(write=False)
    assert again.pulls["jira"].full is False and again.pulls["jira"].changed == 0
