"""Tabular reports: CSV, JSON and XLSX with one row per result, and the Markdown summary.

Every tabular format has the same columns, in this order (`COLUMNS`):

    run_id, rule, family, title, status, severity, project, project_name, department, pm, subject, reason,
    evidence, sources, remediation, waiver, first_seen

`evidence` and `waiver` are objects and `sources` a list of {system, id, url}: native in JSON, a compact JSON
string in CSV and XLSX. `first_seen` is ISO 8601. Empty values are "" in CSV/XLSX and null in JSON.

Spreadsheet formula injection: a spreadsheet opening the CSV would run a cell such as `=HYPERLINK(...)` as a
formula. Every CSV cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is written with a leading
apostrophe (`'=1+1`), which spreadsheets show as text; a consumer that needs the raw value strips one leading
apostrophe from cells starting with `'` followed by one of those characters. XLSX needs no apostrophe: every
text cell is written with data type string (inline string), never as a formula or an error value; characters
XLSX cannot hold (C0 controls) are dropped and cells are cut to Excel's 32,767 characters.

The Markdown summary escapes Markdown and HTML punctuation in source text, so a wiki or chat renders it as
text, and links only http(s) URLs.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from hub.files import private_file
from hub.model import Result
from hub.report.data import NONE_LABEL, SEVERITIES, ReportData, family_of

COLUMNS: tuple[str, ...] = (
    "run_id", "rule", "family", "title", "status", "severity", "project", "project_name", "department", "pm",
    "subject", "reason", "evidence", "sources", "remediation", "waiver", "first_seen",
)
JSON_COLUMNS = frozenset({"evidence", "sources", "waiver"})  # serialised as JSON text in CSV / XLSX
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


# ---------------------------------------------------------------------------------------------- shared helpers
def json_default(o: Any) -> Any:
    """JSON fallback for evidence values: dates as ISO 8601, enums by value, models dumped, others as str."""
    if isinstance(o, (datetime, date)):
        return o.isoformat()
    if isinstance(o, Enum):
        return o.value
    if isinstance(o, BaseModel):
        return o.model_dump(mode="json")
    if isinstance(o, (set, frozenset, tuple)):
        return sorted(o, key=str) if isinstance(o, (set, frozenset)) else list(o)
    return str(o)


def to_json(value: Any, *, indent: int | None = None) -> str:
    """Compact JSON (non-ASCII kept) with `json_default` for dates and other non-JSON values."""
    if indent is None:
        return json.dumps(value, default=json_default, ensure_ascii=False, separators=(",", ":"))
    return json.dumps(value, default=json_default, ensure_ascii=False, indent=indent)


def is_http_url(url: Any) -> bool:
    """Only http(s) URLs may become links; `javascript:`, `data:` and relative URLs are dropped."""
    return isinstance(url, str) and re.match(r"(?i)^https?://[^\s]", url.strip()) is not None


def result_records(data: ReportData) -> Iterator[dict[str, Any]]:
    """One dict per result with every column of `COLUMNS`, values native (dicts, lists, ISO strings)."""
    run_id = data.run.get("id")
    run_id = None if run_id is None else str(run_id)
    projects = data.projects
    for r in data.results:
        p = projects.get(r.project) if r.project else None
        yield {
            "run_id": run_id,
            "rule": r.rule,
            "family": family_of(r.rule),
            "title": r.title,
            "status": r.status,
            "severity": r.severity,
            "project": r.project,
            "project_name": p.name if p else None,
            "department": p.department if p else None,
            "pm": p.pm if p else None,
            "subject": r.subject,
            "reason": r.reason,
            "evidence": r.evidence,
            "sources": [{"system": s.system, "id": s.id, "url": s.url} for s in r.sources],
            "remediation": r.remediation,
            "waiver": r.waiver,
            "first_seen": r.first_seen.isoformat() if r.first_seen else None,
        }


def cell_text(column: str, value: Any) -> str:
    """A record value as the text of a CSV/XLSX cell (JSON for the structured columns, "" for empty)."""
    if value is None:
        return ""
    if column in JSON_COLUMNS:
        return "" if value in ({}, []) and column == "waiver" else to_json(value)
    return value if isinstance(value, str) else str(value)


def neutralise_formula(text: str) -> str:
    """Prefix an apostrophe to text a spreadsheet would read as a formula (see the module docstring)."""
    return "'" + text if text and text[0] in FORMULA_TRIGGERS else text


def summary_json(data: ReportData) -> dict[str, Any]:
    return data.summary().model_dump(mode="json")


# ---------------------------------------------------------------------------------------------- JSON
def render_json(data: ReportData, out: Path) -> Path:
    """`{"run", "summary", "projects", "waivers", "source_failures", "results": [...]}` as UTF-8 JSON."""
    doc = {
        "run": data.run,
        "summary": summary_json(data),
        "projects": {k: p.model_dump(mode="json") for k, p in data.projects.items()},
        "waivers": data.waivers,
        "source_failures": data.source_failures,
        "results": list(result_records(data)),
    }
    out.write_text(to_json(doc), encoding="utf-8")
    return out


# ---------------------------------------------------------------------------------------------- CSV
def render_csv(data: ReportData, out: Path) -> Path:
    """UTF-8 CSV (with BOM so Excel detects the encoding), header `COLUMNS`, formula-looking cells neutralised."""
    with out.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for rec in result_records(data):
            w.writerow([neutralise_formula(cell_text(c, rec[c])) for c in COLUMNS])
    return out


# ---------------------------------------------------------------------------------------------- XLSX
_ILLEGAL_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_XLSX_MAX = 32767
_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"


def xlsx_text(value: str) -> str:
    """Text an XLSX cell can hold: characters XML 1.0 forbids dropped, cut at Excel's 32,767 characters."""
    if _ILLEGAL_XLSX.search(value):
        value = _ILLEGAL_XLSX.sub("", value)
    return value if len(value) <= _XLSX_MAX else value[: _XLSX_MAX - 1] + "…"


def render_xlsx(data: ReportData, out: Path) -> Path:
    """Workbook with a "Summary" sheet and a "Results" sheet (autofilter, frozen header, `COLUMNS`).

    openpyxl writes the workbook: both sheets, styles, column widths, the frozen header and the autofilter.
    The result rows are then streamed into the Results sheet's <sheetData> as inline-string cells
    (`t="inlineStr"`), which is what openpyxl itself writes for a string cell; done by hand because openpyxl's
    per-cell writer needs about 12 s for 60,000 x 17 cells and this takes about 2. An inline string is text by
    construction: "=1+1" is never a formula and "#N/A" never an error value.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    bold = Font(bold=True)

    def text(ws, value: Any, *, header: bool = False):
        """A cell guaranteed to stay text (data type 's'), never a formula or error code; numbers as numbers."""
        if value is None or value == "":
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not header:
            return value
        cell = WriteOnlyCell(ws, value=xlsx_text(value if isinstance(value, str) else str(value)))
        cell.data_type = "s"  # openpyxl binds "=..." as a formula and "#N/A" as an error: force text
        if header:
            cell.font = bold
        return cell

    # ---- Summary
    s = data.summary()
    ws = wb.create_sheet("Summary")
    ws.column_dimensions["A"].width = 34
    ws.column_dimensions["B"].width = 60
    rows: list[tuple[Any, Any]] = [("pmo-hub compliance report", None), (None, None)]
    for k in ("id", "started", "finished"):
        v = data.run.get(k)
        rows.append((f"run {k}", v.isoformat() if isinstance(v, (date, datetime)) else v))
    systems = data.run.get("systems")
    if systems:
        rows.append(("systems pulled", ", ".join(map(str, systems))))
    rows += [
        ("compliance score", "n/a" if s.score is None else f"{s.score:.1%}"),
        ("projects", s.projects),
        ("results", s.total),
    ]
    sections = [
        ("results by status", s.counts),
        ("alarms by severity", s.alarms_by_severity),
        ("alarms by family", s.alarms_by_family),
        ("alarms by department", s.alarms_by_department),
        ("alarms by PM", s.alarms_by_pm),
        ("alarms by phase", s.alarms_by_phase),
        ("projects by RAG", s.rag),
    ]
    for title, counts in sections:
        rows.append((None, None))
        rows.append((title, None))
        rows += [(f"  {k}", v) for k, v in counts.items()]
    rows += [(None, None), ("active waivers", s.waivers_active), ("expired waivers", s.waivers_expired),
             ("source failures", s.source_failures)]
    for f in data.source_failures:
        rows.append((f"  {f.get('system', '')}", f.get("message", "")))
    for a, b in rows:
        ws.append([text(ws, a, header=a is not None and b is None), text(ws, b)])

    # ---- Results: header, widths, frozen pane and autofilter by openpyxl; rows streamed in afterwards
    ws = wb.create_sheet("Results")
    widths = {"rule": 10, "family": 8, "title": 30, "status": 8, "severity": 9, "project": 12, "subject": 24,
              "reason": 60, "evidence": 40, "sources": 40, "remediation": 40}
    letters = [get_column_letter(i) for i in range(1, len(COLUMNS) + 1)]
    for letter, c in zip(letters, COLUMNS, strict=True):
        ws.column_dimensions[letter].width = widths.get(c, 16)
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{letters[-1]}{len(data.results) + 1}"
    ws.append([text(ws, c, header=True) for c in COLUMNS])
    wb.save(out)

    def rows_xml() -> Iterator[str]:
        for n, rec in enumerate(result_records(data), start=2):
            cells = []
            for letter, c in zip(letters, COLUMNS, strict=True):
                v = cell_text(c, rec[c])
                if not v:
                    continue
                v = xlsx_text(v)
                if not v:  # only characters XLSX cannot hold
                    continue
                x = v.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
                sp = ' xml:space="preserve"' if v[0].isspace() or v[-1].isspace() else ""
                cells.append(f'<c r="{letter}{n}" t="inlineStr"><is><t{sp}>{x}</t></is></c>')
            yield f'<row r="{n}">{"".join(cells)}</row>'

    _append_rows(out, "Results", rows_xml())
    return out


def _append_rows(path: Path, sheet: str, rows: Iterator[str]) -> None:
    """Stream `<row>` elements into the end of `sheet`'s <sheetData> in the workbook at `path`."""
    import xml.etree.ElementTree as ET
    import zipfile

    tmp = private_file(path.with_name(path.name + ".part"))  # (owner-only like the file it replaces)
    with zipfile.ZipFile(path) as zin:
        wbx = ET.fromstring(zin.read("xl/workbook.xml"))
        rid = next(el.get(f"{{{_REL_NS}}}id") for el in wbx.iter(f"{{{_MAIN_NS}}}sheet") if el.get("name") == sheet)
        rels = ET.fromstring(zin.read("xl/_rels/workbook.xml.rels"))
        target = next(el.get("Target") for el in rels.iter(f"{{{_PKG_REL_NS}}}Relationship") if el.get("Id") == rid)
        member = target.lstrip("/") if target.startswith("/") else "xl/" + target
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zout:
            for item in zin.infolist():
                raw = zin.read(item)
                if item.filename != member:
                    zout.writestr(item, raw)
                    continue
                head, sep, tail = raw.rpartition(b"</sheetData>")
                if not sep:
                    raise ValueError(f"{member} has no <sheetData> to append rows to")
                with zout.open(item.filename, "w", force_zip64=True) as fh:
                    fh.write(head)
                    batch: list[str] = []
                    for row in rows:
                        batch.append(row)
                        if len(batch) >= 500:
                            fh.write("".join(batch).encode("utf-8"))
                            batch.clear()
                    fh.write("".join(batch).encode("utf-8"))
                    fh.write(sep + tail)
    tmp.replace(path)


# ---------------------------------------------------------------------------------------------- Markdown
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


def md(text: Any) -> str:
    """Source text made safe for Markdown: one line, Markdown/HTML punctuation backslash-escaped."""
    if text is None:
        return ""
    s = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", s)


def md_link(label: str, url: str | None) -> str:
    """`[label](url)` for an http(s) URL (label already escaped), else just the label."""
    if not is_http_url(url):
        return label
    safe = url.strip().replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace("<", "%3C")
    safe = safe.replace(">", "%3E")
    return f"[{label}]({safe})"


def pct(score: float | None) -> str:
    return "n/a" if score is None else f"{score:.0%}" if score in (0, 1) else f"{score:.1%}"


def _sev_key(r: Result) -> tuple[int, str, str]:
    return (SEVERITIES.index(r.severity) if r.severity in SEVERITIES else 9, r.rule, r.subject)


def open_violations(data: ReportData) -> dict[str, list[Result]]:
    """Alarms per project key (None for results without a project), worst first."""
    out: dict[str | None, list[Result]] = {}
    for r in data.results:
        if r.status == "alarm":
            out.setdefault(r.project, []).append(r)
    for lst in out.values():
        lst.sort(key=_sev_key)
    return out


def violation_line(r: Result) -> str:
    src = r.sources[0] if r.sources else None
    where = md_link(md(src.id), src.url) if src else md(r.subject)
    return f"- **{md(r.rule)}** ({r.severity}) {md(r.reason)} — {where}"


def render_markdown(data: ReportData, *, top_projects: int = 15, per_project: int = 3) -> str:
    """A short summary for a wiki page or a chat message."""
    s = data.summary()
    run_id = data.run.get("id")
    c = s.counts
    lines = [f"## PMO compliance {pct(s.score)}" + (f" — run {md(run_id)}" if run_id is not None else ""), ""]
    lines.append(f"{s.projects} projects, {s.total} checks: {c['ok']} ok, {c['alarm']} alarm, {c['waived']} waived, "
                 f"{c['skip']} skipped, {c['error']} error.")
    lines.append(f"RAG: {s.rag['red']} red, {s.rag['amber']} amber, {s.rag['green']} green. "
                 "Alarms by severity: " + ", ".join(f"{k} {v}" for k, v in s.alarms_by_severity.items()) + ".")
    if data.source_failures:
        systems = sorted({str(f.get("system", "?")) for f in data.source_failures})
        lines.append(f"**Source failures:** {md(', '.join(systems))} — results depending on them are errors.")
    lines.append("")
    viol = open_violations(data)

    def worst(key):
        st = s.by_project.get(key) if key else None
        sev = st.alarms_by_severity if st else {}
        return tuple(-sev.get(x, 0) for x in SEVERITIES)

    keys = sorted((k for k in viol if k is not None), key=lambda k: (worst(k), k))
    if keys:
        lines.append("### Top violations")
        for key in keys[:top_projects]:
            p = data.projects.get(key)
            name = f" {md(p.name)}" if p and p.name else ""
            label = md_link(f"{md(key)}{name}", p.url if p else None)
            pm = f" — PM {md(p.pm_label)}" if p else ""
            lines.append(f"**{label}** ({len(viol[key])} open{pm})")
            lines += [violation_line(r) for r in viol[key][:per_project]]
            if len(viol[key]) > per_project:
                lines.append(f"- … and {len(viol[key]) - per_project} more")
        if len(keys) > top_projects:
            lines.append(f"\n… and {len(keys) - top_projects} more projects with open violations.")
        lines.append("")
    expired = [w for w in data.waivers if w.get("expired")]
    if expired:
        lines.append("### Expired waivers")
        for w in expired:
            lines.append(f"- {md(w.get('rule'))} on {md(w.get('selector'))}, expired {md(w.get('expiry'))} "
                         f"(approver {md(w.get('approver') or NONE_LABEL)})")
        lines.append("")
    return "\n".join(lines)


def render_md(data: ReportData, out: Path) -> Path:
    out.write_text(render_markdown(data), encoding="utf-8")
    return out
