"""Hostile and malformed input, property-based: the hub never crashes on what a source sends, never writes a
formula or unescaped HTML, quotes JQL so a value stays one value, and turns unreadable values into `invalid`
entries (then `error` results) that name the record and the field.

The 500-example properties test pure functions (the Jira connector's parsing, the rule engine, the report
renderers, JQL quoting, the Sheets and Microsoft 365 cell parsers); one smaller end-to-end property runs syncs
against the sandbox.
"""

from __future__ import annotations

import csv
import json
import math
import re
import zipfile
from datetime import date, datetime, timezone
from functools import lru_cache
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from connectors.http import RetryPolicy
from connectors.jira.connector import JiraConnector, jql_quote
from hub.config import JiraSettings
from hub.mapping import load_jira_mapping
from hub.model import Person, Portfolio, Project, Result, SourceFailure, SourceRef
from hub.report import ReportData
from hub.report.html import build_html, script_json, unpack
from hub.report.tabular import FORMULA_TRIGGERS, COLUMNS, md, render_csv, render_xlsx
from hub.sandbox import jql

EXAMPLES = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---- strategies ---------------------------------------------------------------------------------------------
PAYLOAD = "<zz-evil onerror=alert(1)>"  # a tag no renderer emits: if it appears raw, source text became markup
HOSTILE = (
    "=1+1", "+SUM(A1:A9)", "-2+3", "@SUM(A1:A2)", "\t=1", "\r=1", '=HYPERLINK("https://evil.example","x")',
    "=cmd|' /C calc'!A0", "<script>alert(1)</script>", "</script><script>alert(2)</script>", PAYLOAD,
    '"><svg onload=alert(1)>', "</style><zz-evil>", "<!--", "-->", "]]>", "javascript:alert(1)",
    "data:text/html,<zz-evil>", "&amp;&lt;&#x3c;", "مرحبا بالعالم", "\u202eRTL override\u202c", "\u200f\u200e",
    "日本語テキスト", "🚀👩‍👩‍👧", "\x00", "\x1b[31m", "\x7f", "\ufeff", "\u2028", 'project = "X" OR 1=1',
    'a\\"b', "' OR ''='", ")) OR ((", "ORDER BY key", "\\u0022", "\\", '"', "'", "\n", "\r\n", "   ", "",
    "2024-13-45", "31/02/2024", "03/11/2026", "2024/01/01", "20240101", "2024-02-30", "2024-01-01T25:61",
    "１２/０３/２０２４", "yesterday", "1e400", "-1e400", "NaN", "nan", "inf", "-Infinity", "-0", "1,234.50",
    "1.234,50", "12 %", "(1 234)", "١٢٣", "0x1F", "1_000", "½", "Green", "GREEN ", "yes", "No", "amber", "Red!",
)
hostile = st.sampled_from(HOSTILE)
huge = st.builds(lambda s, n: s * n, st.sampled_from(("A", "=", "<b>", "é", "\u202e", "x" * 7)),
                 st.integers(2_000, 40_000))
text = st.one_of(
    hostile,
    st.text(max_size=40),
    st.builds(lambda a, b, c: a + b + c, st.text(max_size=8), hostile, st.text(max_size=8)),
    huge,
)
number = st.one_of(st.integers(-10**20, 10**20), st.floats(allow_nan=True, allow_infinity=True))


def adf(t: str) -> dict:
    return {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": t}]}]}


option = st.builds(lambda t: {"value": t, "id": "10001"}, text)
user = st.builds(lambda e, n: {"accountId": "712020:abc", "emailAddress": e, "displayName": n}, text, text)
# what a Jira field may hold, including a type other than the one the mapping expects
field_value = st.one_of(st.none(), text, number, st.booleans(), option, user, st.builds(adf, text),
                        st.lists(option, max_size=3), st.lists(text, max_size=3))


# ---- the Jira connector as a pure function ------------------------------------------------------------------
SYSTEM_FIELDS = ["summary", "issuetype", "status", "project", "parent", "priority", "assignee", "created",
                 "updated", "duedate", "resolutiondate", "labels", "description", "issuelinks"]


@lru_cache(maxsize=1)
def jira_connector() -> JiraConnector:
    """A connector whose field ids were resolved against the sandbox site's field list (no network)."""
    from hub.sandbox.jira import CUSTOM_FIELDS

    s = JiraSettings(url="https://acme.atlassian.net", email="pmo-hub@example.com", token_env="X")
    c = JiraConnector(s, load_jira_mapping("jira.toml"), token="not-used", policy=RetryPolicy())
    names = {"duedate": "Due date", "description": "Description", "resolutiondate": "Resolved"}
    fields = [{"id": f, "name": names.get(f, f.title()), "schema": {"type": "string"}} for f in SYSTEM_FIELDS]
    types = {"select": "option", "textarea": "string"}
    fields += [{"id": f.id, "name": f.name, "custom": True, "schema": {"type": types.get(f.type, f.type)}}
               for f in CUSTOM_FIELDS]
    meta = c._resolve_fields(fields)
    c.field_ids, c.field_names, c.field_types, c.account_id = meta["fields"], meta["names"], meta["types"], "bot"
    return c


@lru_cache(maxsize=1)
def standards():
    from hub.rules import binding
    from hub.rules.settings import StandardsSettings

    s = StandardsSettings()
    return binding.load_standards(s), s


ISSUE_TYPES = ("Project", "Risk", "Milestone", "Gate", "Status Report", "Change Request", "Story", "Bug")
MAPPED = sorted({n for n in load_jira_mapping("jira.toml").field_names()} - set(SYSTEM_FIELDS))
timestamp = st.one_of(st.sampled_from(("2026-11-20T10:15:30.123+1100", "2026-11-20T10:15:30+0000")), text)


@st.composite
def raw_issue(draw) -> dict:
    c = jira_connector()
    key = "APOL-" + str(draw(st.integers(1, 99)))
    fields = {
        "issuetype": {"name": draw(st.sampled_from(ISSUE_TYPES))},
        "project": {"key": "APOL"},
        "status": {"name": draw(st.one_of(st.sampled_from(("Active", "On Hold", "Done", "Approved")), text)),
                   "statusCategory": {"key": draw(st.sampled_from(("new", "indeterminate", "done", "??")))}},
        "summary": draw(text), "labels": draw(st.lists(text, max_size=3)),
        "description": draw(st.one_of(st.none(), st.builds(adf, text), text)),
        "created": draw(timestamp), "updated": draw(timestamp), "resolutiondate": draw(st.one_of(st.none(), timestamp)),
        "duedate": draw(st.one_of(st.none(), text, st.just("2026-12-01"))),
        "priority": {"name": draw(text)}, "assignee": draw(st.one_of(st.none(), user)),
        "parent": {"key": "APOL-1"},
    }
    for name in MAPPED:
        fields[c.field_ids[name]] = draw(field_value)
    return {"id": "10001", "key": key, "fields": fields}


TYPED = {"number": ("budget_approved", "actual_cost", "forecast_cost", "fte_approved", "fte_assigned", "baseline_cost",
                    "amount"),
         "day": ("initiation_submitted", "initiation_decided", "planned_start", "planned_finish", "forecast_finish",
                 "baseline_start", "baseline_finish", "due", "escalated_on", "last_reviewed", "planned", "forecast",
                 "decided_on", "planned_on", "report_date")}


@EXAMPLES
@given(raw_issue())
def test_jira_fields_never_crash_and_unreadable_values_are_named(raw):
    c = jira_connector()
    rec = c._to_record(raw)  # what a pull stores
    json.dumps(rec.data, allow_nan=False)  # the mirror is plain JSON: no NaN or infinity slipped through
    rec.activity_at = rec.updated
    pf = c.contribute([rec], as_of=datetime(2026, 11, 23, tzinfo=timezone.utc))
    d, invalid = rec.data, rec.data["invalid"]
    for canonical in TYPED["number"]:
        v = d.get(canonical)
        assert v is None or (isinstance(v, float) and math.isfinite(v)), (canonical, v)
    for canonical in TYPED["day"]:
        v = d.get(canonical)
        assert v is None or date.fromisoformat(v), (canonical, v)
    for canonical, message in invalid.items():
        # "Jira APOL-7 field 'Approved Budget': 'lots' is not a number"
        assert message.startswith(f"Jira {raw['key']} field '"), message
        assert re.match(r"Jira \S+ field '[^']+': .* is not ", message, re.S), message
    ruleset, settings_ = standards()
    from hub.rules.engine import evaluate

    results = evaluate(pf, ruleset, settings_, today=date(2026, 11, 23))
    for r in results:
        assert r.status in ("ok", "alarm", "waived", "skip", "error")
        if r.status == "error":
            assert "failed on this record" not in r.reason, r.reason  # an error is about data, not a crash
            fields_ = r.evidence.get("field")
            if fields_:  # an unreadable value: the reason names the record and the field
                assert f"Jira {raw['key']} field '" in r.reason, r.reason


@EXAMPLES
@given(text.filter(lambda s: s.strip() != ""),
       st.sampled_from(("Approved Budget", "Forecast Cost", "Planned Finish", "Baseline Finish")))
def test_an_unreadable_project_value_is_an_error_result_naming_the_record_and_field(value, field_name):
    c = jira_connector()
    is_number = field_name in ("Approved Budget", "Forecast Cost")
    try:
        readable = math.isfinite(float(value)) if is_number else bool(date.fromisoformat(value[:10]))
    except (ValueError, OverflowError):
        readable = False
    assume(not readable)
    raw = {"key": "APOL-1", "id": "1", "fields": {
        "issuetype": {"name": "Project"}, "project": {"key": "APOL"}, "summary": "Apollo",
        "status": {"name": "Active", "statusCategory": {"key": "indeterminate"}},
        "updated": "2026-11-20T10:15:30.123+1100", c.field_ids["Project Phase"]: {"value": "Execution"},
        c.field_ids["Approved Budget"]: 100000, c.field_ids["Forecast Cost"]: 90000,
        c.field_ids["Planned Finish"]: "2027-01-31", c.field_ids["Baseline Finish"]: "2027-01-31",
        c.field_ids["Baseline Cost"]: 100000, c.field_ids["Baseline Start"]: "2026-01-01",
        c.field_ids[field_name]: value}}
    rec = c._to_record(raw)
    rec.activity_at = rec.updated
    pf = c.contribute([rec], as_of=datetime(2026, 11, 23, tzinfo=timezone.utc))
    ruleset, settings_ = standards()
    from hub.rules.engine import evaluate

    errors = [r for r in evaluate(pf, ruleset, settings_, today=date(2026, 11, 23)) if r.status == "error"]
    assert errors, "an unreadable value must make the checks that read it errors, not ok"
    assert all(f"Jira APOL-1 field '{field_name}'" in r.reason for r in errors), [r.reason for r in errors]


# ---- JQL quoting ----------------------------------------------------------------------------------------------
@EXAMPLES
@given(st.text())
def test_jql_quote_round_trips_as_one_value(value):
    q = jql.parse(f"summary ~ {jql_quote(value)} ORDER BY key")
    assert isinstance(q.where, jql.Clause)
    assert q.where.value.kind == "literal" and q.where.value.quoted
    assert q.where.value.text == value
    assert [o.field for o in q.order_by] == ["key"]


@EXAMPLES
@given(st.lists(st.one_of(text, st.text()), min_size=1, max_size=5))
def test_quoted_keys_cannot_change_a_query(keys):
    q = jql.parse(f"project in ({', '.join(jql_quote(k) for k in keys)}) AND issuetype = {jql_quote('Project')}")
    assert isinstance(q.where, jql.BoolOp) and q.where.op == "and" and len(q.where.items) == 2
    members, kind = q.where.items
    assert (members.field, members.op) == ("project", "in")
    assert [v.text for v in members.value.items] == keys
    assert (kind.field, kind.op, kind.value.text) == ("issuetype", "=", "Project")


# ---- reports -------------------------------------------------------------------------------------------------
url = st.one_of(st.sampled_from(("https://acme.atlassian.net/browse/APOL-1", "javascript:alert(1)",
                                 "data:text/html,<zz-evil>", " https://x.example/<zz-evil>", "//evil.example/x")),
                st.none(), text)


@st.composite
def report_data(draw) -> ReportData:
    key = draw(text)
    name, dept, pm_name, subject, reason, ev = (draw(text) for _ in range(6))
    src = SourceRef(system=draw(st.sampled_from(("jira", "sheets", "m365"))), id=draw(text), url=draw(url))
    results = [
        Result(rule="STAT-01", status=draw(st.sampled_from(("ok", "alarm", "waived", "skip", "error"))),
               severity=draw(st.sampled_from(("critical", "high", "medium", "low"))), project=key,
               subject=subject, reason=reason, evidence={"value": ev, draw(text): draw(number)}, sources=[src],
               title=draw(text), remediation=draw(text)),
        Result(rule="RISK-01", status="alarm", severity="high", project=None, subject=draw(text), reason=draw(text)),
    ]
    portfolio = Portfolio(
        as_of=datetime(2026, 11, 23, tzinfo=timezone.utc),
        projects={key: Project(key=key, name=name, department=dept, pm="pm@example.com", phase=draw(text),
                               sources=[src])},
        people={"pm@example.com": Person(id="pm@example.com", name=pm_name)},
        source_failures=[SourceFailure(system="jira", message=draw(text), at=datetime(2026, 11, 23, tzinfo=timezone.utc))],
        systems=["jira"])
    return ReportData.build(run={"id": draw(text), "name": draw(text)}, results=results, portfolio=portfolio,
                            executives={dept: draw(text)},
                            waivers=[{"rule": "STAT-01", "selector": f"project:{key}", "justification": draw(text),
                                      "approver": draw(text), "expiry": date(2027, 1, 1)}])


def source_strings(data: ReportData) -> list[str]:
    out = []
    for r in data.results:
        out += [r.project or "", r.subject, r.reason, r.title, r.remediation]
        out += [str(v) for v in r.evidence.values()] + [s.id for s in r.sources]
    return out


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


@EXAMPLES
@given(report_data())
def test_html_report_never_turns_source_text_into_markup(data):
    page = build_html(data)
    assert "<zz-evil" not in page and "zz-evil onerror" not in page.replace("&lt;zz-evil onerror", "")
    parser = _Tags()
    parser.feed(page)
    tags = {t for t, _ in parser.tags}
    assert not tags - ALLOWED_TAGS, tags - ALLOWED_TAGS
    for tag, attrs in parser.tags:
        assert not any(a.startswith("on") for a in attrs), (tag, attrs)  # no event handler attributes
        if tag == "a":
            assert re.match(r"https?://|#[a-z0-9-]+$", attrs.get("href", "")), attrs  # a source or an anchor
    blob = re.search(r'<script type="application/octet-stream" id="report-data"[^>]*>([^<]*)</script>', page)
    rows = json.dumps(unpack(blob.group(1)), ensure_ascii=False)
    for s in (r.reason for r in data.results):  # the result rows travel as data, intact
        assert json.dumps(s, ensure_ascii=False)[1:-1] in rows


ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "header", "main", "footer", "section", "nav", "h1",
                "h2", "h3", "h4", "p", "div", "span", "a", "table", "thead", "tbody", "tr", "th", "td", "details",
                "summary", "svg", "g", "rect", "text", "line", "path", "circle", "polyline", "title", "script",
                "ul", "li", "ol", "dl", "dt", "dd", "small", "strong", "em", "b", "i", "code", "input", "select",
                "option", "label", "button", "abbr", "br", "caption", "colgroup", "col", "tspan", "figure",
                "figcaption", "time", "mark", "form", "polygon", "desc", "defs", "tfoot", "hr", "sup", "sub", "kbd",
                "link", "noscript"}


@EXAMPLES
@given(st.recursive(st.one_of(st.none(), text, number, st.booleans()),
                    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)),
                    max_leaves=6))
def test_script_json_cannot_close_or_open_an_element(value):
    out = script_json(value)
    assert not set(out) & {"<", ">", "&"}
    assert json.loads(out) == json.loads(json.dumps(value)) or value != value  # (NaN is never equal)


@EXAMPLES
@given(report_data())
def test_csv_never_holds_a_formula_and_keeps_the_text(tmp_path_factory, data):
    out = render_csv(data, tmp_path_factory.mktemp("csv") / "r.csv")
    csv.field_size_limit(1 << 30)  # cells of the huge strings
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == list(COLUMNS)
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(FORMULA_TRIGGERS), cell
    reasons = [r[COLUMNS.index("reason")] for r in rows[1:]]
    shown = [c[1:] if c[:1] == "'" and c[1:2] in FORMULA_TRIGGERS else c for c in reasons]
    assert sorted(shown) == sorted(r.reason for r in data.results)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(report_data())
def test_xlsx_never_holds_a_formula(tmp_path, data):
    out = render_xlsx(data, tmp_path / "r.xlsx")
    with zipfile.ZipFile(out) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                xml = z.read(name).decode("utf-8")
                assert "<f>" not in xml and "<f " not in xml, name  # no formula element
                assert 't="e"' not in xml and 't="str"' not in xml, name  # no error value, no formula result


@EXAMPLES
@given(text)
def test_markdown_escapes_markup_and_keeps_one_line(value):
    out = md(value)
    assert "\n" not in out and "\r" not in out
    assert re.search(r"(?<!\\)[<>`\[\]|*_]", out) is None, out


# ---- Sheets and Microsoft 365 cell parsers ------------------------------------------------------------------
cell = st.one_of(st.none(), text, number, st.booleans())


@EXAMPLES
@given(cell, st.sampled_from(sorted(__import__("connectors.sheets.values", fromlist=["LOCALES"]).LOCALES)))
def test_sheet_cells_parse_to_a_value_or_none(value, locale):
    from connectors.sheets.values import LOCALES, norm_header, parse_date, parse_number

    loc = LOCALES[locale]
    n = parse_number(value, loc)
    assert n is None or isinstance(n, float)
    d = parse_date(value, loc)
    assert d is None or isinstance(d, date)
    assert isinstance(norm_header(value), str)


@st.composite
def m365_item(draw):
    kinds = ("text", "number", "dateTime", "person", "boolean", "choice")
    columns = {k: {"name": f"Col{k}", "type": k, "display": f"Column {k}"} for k in kinds}
    fields = {f"Col{k}": draw(st.one_of(cell, st.lists(text, max_size=2))) for k in kinds}
    fields["ColpersonLookupId"] = draw(st.one_of(st.none(), text, number))
    return columns, fields


@EXAMPLES
@given(m365_item())
def test_list_fields_parse_to_a_value_or_an_invalid_entry(item):
    from zoneinfo import ZoneInfo

    from connectors.m365.connector import _Fields

    columns, fields = item
    f = _Fields("PMO Register item 7", fields, columns, ZoneInfo("Europe/London"))
    for canonical, kind in (("a", "text"), ("b", "number"), ("c", "dateTime"), ("d", "text"), ("e", "person"),
                            ("f", "boolean"), ("g", "choice")):
        f.text(canonical, kind)
        f.choices(canonical, kind)
        n = f.number(canonical + "n", kind)
        assert n is None or isinstance(n, float)
        assert n is None or math.isfinite(n)
        s = f.score(canonical + "s", kind)
        assert s is None or 1 <= s <= 5
        d = f.day(canonical + "d", kind)
        assert d is None or date.fromisoformat(d)
        f.person(canonical + "p", kind)
        f.flag(canonical + "f", kind)
        f.rag(canonical + "r", kind)
    for message in f.invalid.values():
        assert message.startswith("PMO Register item 7 column 'Column "), message


# Found by the properties above: a non-finite number is an invalid value, never a crash.
@pytest.mark.parametrize("value", ["NaN", "inf", "1e400"])
def test_m365_score_of_a_non_finite_number_is_invalid_not_a_crash(value):
    from zoneinfo import ZoneInfo

    from connectors.m365.connector import _Fields

    f = _Fields("RAID Log item 3", {"Prob": value}, {"p": {"name": "Prob", "type": "text", "display": "Probability"}},
                ZoneInfo("UTC"))
    assert f.score("probability", "p") is None and "probability" in f.invalid


def test_sheet_number_of_a_huge_digit_string_is_not_infinity():
    from connectors.sheets.values import LOCALES, parse_number

    n = parse_number("9" * 400, LOCALES["en_US"])
    assert n is None or math.isfinite(n)
