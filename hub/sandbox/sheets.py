"""An emulator of Google Sheets API v4, the Drive API v3 file metadata and Google's OAuth token endpoint.

`SheetsApp.from_seed(portfolio)` holds one spreadsheet, "PMO Register", rendered from the seed portfolio by
`hub.sandbox.sheets_seed` (register, RAID log, status reports, approvals, training roster). The real `gspread`
(6.x) and `google-auth` libraries work unmodified against it; paths are the real ones, so a client only has to
swap the hosts (https://sheets.googleapis.com, https://www.googleapis.com and
https://iamcredentials.googleapis.com -> the sandbox URL):

    POST /oauth2/v4/token                                  service-account JWT bearer grant (RS256, checked)
    GET  /v4/spreadsheets/{id}                             metadata; includeGridData, ranges, fields masks
    GET  /v4/spreadsheets/{id}/values/{range}              valueRenderOption, dateTimeRenderOption, majorDimension
    GET  /v4/spreadsheets/{id}/values:batchGet             the same, for several ranges
    PUT  /v4/spreadsheets/{id}/values/{range}              valueInputOption RAW | USER_ENTERED
    POST /v4/spreadsheets/{id}/values/{range}:append       (insertDataOption OVERWRITE | INSERT_ROWS)
    POST /v4/spreadsheets/{id}/values/{range}:clear
    POST /v4/spreadsheets/{id}/values:batchUpdate          atomic: every range is checked before any is written
    POST /v4/spreadsheets/{id}/values:batchClear
    POST /v4/spreadsheets/{id}:batchUpdate                 addSheet, deleteSheet, updateSpreadsheetProperties,
                                                           updateSheetProperties, insertDimension, deleteDimension,
                                                           appendDimension, moveDimension, sortRange (atomic)
    GET  /drive/v3/files/{id}, GET /drive/v3/files         file metadata (modifiedTime) and listing, `fields` masks
    GET  /v1/projects/-/serviceAccounts/{email}/allowedLocations   IAM Credentials' Regional Access Boundary
                                                           lookup google-auth makes in the background (no boundary)

Cells hold what Sheets holds: a typed value (text, number, boolean) or a formula, a number format and a note.
A date is a serial number (days since 1899-12-30) with a DATE format, as in Sheets. Reading renders cells for
the spreadsheet's locale (`properties.locale`: de_DE, en_GB, en_US, fr_FR, ...): FORMATTED_VALUE (default)
applies the number format ("1.234.500,00 €", "03.11.2026"), UNFORMATTED_VALUE gives numbers and serial dates,
FORMULA gives formulas as typed. Writing with RAW stores strings as text (an "=..." string stays text);
USER_ENTERED parses like the UI does: "=..." becomes a formula, "'..." text, and numbers, percentages and dates
written for the locale become numbers and dates.

Authentication is Google's: the token endpoint verifies the JWT assertion's RS256 signature with the public key
of a key pair the sandbox generated (`cryptography`), and its iss, aud, scope, iat and exp; the API needs
`Authorization: Bearer <access token>` and answers 401 UNAUTHENTICATED without one or with an expired one
(`token_ttl_s`). A service account sees only spreadsheets shared with it (403 PERMISSION_DENIED, or Drive's
404 "File not found"). `app.key_file(account, base_url=...)` is a service-account JSON key file, as the Cloud
console downloads it; `HUB_ACCOUNT` is the hub's, `OFFICE_ACCOUNT` a PMO-office account for tests that edit the
sheet "by hand", `OUTSIDER_ACCOUNT` one the register is not shared with.

Quotas as Google enforces them for Sheets: per minute, 300 read and 300 write requests per project and 60 each
per user (a batch request counts once); over quota: 429 RESOURCE_EXHAUSTED with Google's error body and no
Retry-After. `POST /_sandbox/sheets/settings` changes quotas, their window and the token lifetime.

Simplified against the real API: no named ranges, R1C1 notation, data filters, protected ranges, charts,
conditional formats or developer metadata; formulas evaluate only arithmetic over cell references and numbers
and HYPERLINK (anything else is "#NAME?"); number formats cover the common NUMBER/CURRENCY/PERCENT/DATE
patterns; spreadsheets.get returns a small `defaultFormat` and no theme; merges are kept but not enforced on
writes; Drive knows only the files.get/list metadata of the spreadsheets here; quotas are counted on the path
(GET = read, other methods = write).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import secrets
import threading
import time as _time
from collections import deque
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable
from urllib.parse import parse_qs, quote, unquote

from hub.sandbox.server import App, HTTPError, Request, Response

UTC = timezone.utc
PROJECT_ID = "pmo-sandbox"
PROJECT_NUMBER = "731984265012"
HUB_ACCOUNT = f"pmo-hub@{PROJECT_ID}.iam.gserviceaccount.com"
OFFICE_ACCOUNT = f"pmo-office@{PROJECT_ID}.iam.gserviceaccount.com"
OUTSIDER_ACCOUNT = "outsider@other-project-4711.iam.gserviceaccount.com"
TOKEN_PATH = "/oauth2/v4/token"
SPREADSHEET_MIME = "application/vnd.google-apps.spreadsheet"
SCOPE_SHEETS = "https://www.googleapis.com/auth/spreadsheets"
SCOPE_SHEETS_RO = "https://www.googleapis.com/auth/spreadsheets.readonly"
DRIVE_SCOPES = {
    "https://www.googleapis.com/auth/drive", "https://www.googleapis.com/auth/drive.file",
    "https://www.googleapis.com/auth/drive.readonly", "https://www.googleapis.com/auth/drive.metadata",
    "https://www.googleapis.com/auth/drive.metadata.readonly",
}
KNOWN_SCOPES = DRIVE_SCOPES | {SCOPE_SHEETS, SCOPE_SHEETS_RO, "https://www.googleapis.com/auth/cloud-platform"}
AUDIENCES = ("https://oauth2.googleapis.com/token", "https://www.googleapis.com/oauth2/v4/token",
             "https://accounts.google.com/o/oauth2/token")
DEFAULT_ROWS, DEFAULT_COLS = 1000, 26
MAX_CELLS = 10_000_000
SERIAL_EPOCH = date(1899, 12, 30)
_STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                 405: "METHOD_NOT_ALLOWED", 409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
                 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
AUTH_HELP = ("Expected OAuth 2 access token, login cookie or other valid authentication credential. "
             "See https://developers.google.com/identity/sign-in/web/devconsole-project.")


# ---- locales ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LocaleSpec:
    """How a spreadsheet locale writes numbers, dates and booleans."""

    decimal: str
    group: str
    date_pattern: str  # Sheets date tokens: dd, d, mm, m, yyyy, yy, mmm
    true: str = "TRUE"
    false: str = "FALSE"
    currency: str = "#,##0.00"  # default currency pattern


LOCALES: dict[str, LocaleSpec] = {
    "en_US": LocaleSpec(".", ",", "m/d/yyyy", currency='"$"#,##0.00'),
    "en_GB": LocaleSpec(".", ",", "dd/mm/yyyy", currency='"£"#,##0.00'),
    "en_AU": LocaleSpec(".", ",", "d/mm/yyyy", currency='"$"#,##0.00'),
    "de_DE": LocaleSpec(",", ".", "dd.mm.yyyy", "WAHR", "FALSCH", '#,##0.00 "€"'),
    "de_AT": LocaleSpec(",", ".", "dd.mm.yyyy", "WAHR", "FALSCH", '"€" #,##0.00'),
    "de_CH": LocaleSpec(".", "'", "dd.mm.yyyy", "WAHR", "FALSCH", '"CHF" #,##0.00'),
    "fr_FR": LocaleSpec(",", "\u202f", "dd/mm/yyyy", "VRAI", "FAUX", '#,##0.00 "€"'),
    "nl_NL": LocaleSpec(",", ".", "d-m-yyyy", "WAAR", "ONWAAR", '"€" #,##0.00'),
    "es_ES": LocaleSpec(",", ".", "d/mm/yyyy", "VERDADERO", "FALSO", '#,##0.00 "€"'),
    "it_IT": LocaleSpec(",", ".", "d/m/yyyy", "VERO", "FALSO", '"€" #,##0.00'),
}


def locale_spec(name: str) -> LocaleSpec:
    return LOCALES.get(name) or LOCALES["en_US"]


# ---- cells ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NumberFormat:
    type: str  # NUMBER, CURRENCY, PERCENT, DATE, TEXT
    pattern: str = ""

    def json(self) -> dict:
        return {"type": self.type, "pattern": self.pattern} if self.pattern else {"type": self.type}


@dataclass(slots=True)
class Cell:
    value: str | float | bool | None = None  # the entered value (None for formulas and empty cells)
    formula: str | None = None
    fmt: NumberFormat | None = None
    note: str | None = None

    @property
    def blank(self) -> bool:
        return self.formula is None and (self.value is None or self.value == "")


def date_to_serial(d: date) -> int:
    return (d - SERIAL_EPOCH).days


def serial_to_date(n: float) -> date:
    return SERIAL_EPOCH + timedelta(days=int(math.floor(n)))


# ---- A1 notation ------------------------------------------------------------------------------------------
def col_letter(index: int) -> str:
    """0 -> "A", 25 -> "Z", 26 -> "AA"."""
    out = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


def col_index(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - 64)
    return n - 1


_PLAIN_TITLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CELL_LIKE = re.compile(r"[A-Za-z]{1,3}\d+|R\d+C\d+", re.I)


def quote_title(title: str) -> str:
    """A sheet title as A1 notation writes it: bare when plain, else in single quotes ('' escapes ')."""
    if _PLAIN_TITLE.fullmatch(title) and not _CELL_LIKE.fullmatch(title):
        return title
    return "'" + title.replace("'", "''") + "'"


_REF = re.compile(r"^(?P<col>[A-Za-z]{1,3})?(?P<row>\d+)?$")


@dataclass
class Span:
    """A resolved range on one sheet: rows [r0, r1) and columns [c0, c1), 0-based, ends clipped to the grid."""

    sheet: "Sheet"
    r0: int
    r1: int
    c0: int
    c1: int
    open_rows: bool = False  # the request named no end row (A5:C) or whole columns (A:C)
    open_cols: bool = False

    def a1(self) -> str:
        t = quote_title(self.sheet.title)
        if self.r1 <= self.r0 or self.c1 <= self.c0:
            return t
        start = f"{col_letter(self.c0)}{self.r0 + 1}"
        end = f"{col_letter(self.c1 - 1)}{self.r1}"
        return f"{t}!{start}" if start == end else f"{t}!{start}:{end}"


def split_sheet(text: str) -> tuple[str | None, str | None]:
    """'RAID Log'!A:Z -> ("RAID Log", "A:Z"); Sheet1 -> ("Sheet1", None); A1:B2 -> (None, "A1:B2")."""
    text = text.strip()
    if text.startswith("'"):
        i, title = 1, []
        while i < len(text):
            ch = text[i]
            if ch == "'":
                if i + 1 < len(text) and text[i + 1] == "'":
                    title.append("'")
                    i += 2
                    continue
                rest = text[i + 1:]
                if rest == "":
                    return "".join(title), None
                if rest.startswith("!"):
                    return "".join(title), rest[1:]
                raise ValueError(text)
            title.append(ch)
            i += 1
        raise ValueError(text)
    if "!" in text:
        title, _, cells = text.rpartition("!")
        return title, cells
    return None, text


def _parse_cells(cells: str) -> tuple[int, int | None, int, int | None]:
    """"A1:C5" -> (r0, r1, c0, c1), 0-based with exclusive ends, None for an open end; raises ValueError.

    Accepted: A1, A1:C5, A:C (whole columns), 1:5 (whole rows), A5:C (from row 5 to the last row), A3:3 (row 3
    from column A to the last column).
    """
    parts = cells.split(":")
    if len(parts) > 2 or not cells:
        raise ValueError(cells)
    refs = []
    for p in parts:
        m = _REF.match(p.strip())
        if not m or (m.group("col") is None and m.group("row") is None):
            raise ValueError(cells)
        col = col_index(m.group("col")) if m.group("col") else None
        row = int(m.group("row")) - 1 if m.group("row") else None
        if row is not None and row < 0:
            raise ValueError(cells)
        refs.append((row, col))
    ra, ca = refs[0]
    if len(refs) == 1:
        if ra is None or ca is None:
            raise ValueError(cells)
        return ra, ra + 1, ca, ca + 1
    rb, cb = refs[1]
    if None not in (ra, ca, rb, cb):
        return min(ra, rb), max(ra, rb) + 1, min(ca, cb), max(ca, cb) + 1
    if ra is None and rb is None and ca is not None and cb is not None:
        return 0, None, min(ca, cb), max(ca, cb) + 1
    if ca is None and cb is None and ra is not None and rb is not None:
        return min(ra, rb), max(ra, rb) + 1, 0, None
    if ra is not None and ca is not None and cb is not None and rb is None:
        return ra, None, min(ca, cb), max(ca, cb) + 1
    if ra is not None and ca is not None and rb is not None and cb is None:  # A3:3 (row 3 from column A on)
        return min(ra, rb), max(ra, rb) + 1, ca, None
    raise ValueError(cells)


# ---- number formats and input parsing --------------------------------------------------------------------
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DATE_TOKEN = re.compile(r"yyyy|yy|mmmm|mmm|mm|m|dd|d")


def format_date(d: date, pattern: str) -> str:
    def sub(m: re.Match) -> str:
        t = m.group()
        return {"yyyy": f"{d.year:04d}", "yy": f"{d.year % 100:02d}", "mmmm": d.strftime("%B"),
                "mmm": _MONTHS[d.month - 1], "mm": f"{d.month:02d}", "m": str(d.month), "dd": f"{d.day:02d}",
                "d": str(d.day)}[t]

    return _DATE_TOKEN.sub(sub, pattern.lower())


def _group(digits: str, sep: str) -> str:
    out = []
    while len(digits) > 3:
        out.insert(0, digits[-3:])
        digits = digits[:-3]
    out.insert(0, digits)
    return sep.join(out)


_CORE = re.compile(r"[#0][#0,]*(\.[#0]+)?")


def _literal(text: str) -> str:
    text = re.sub(r"\[\$([^\]-]*)(-[^\]]*)?\]", r"\1", text)
    return text.replace('"', "").replace("\\", "")


def format_number(v: float, fmt: NumberFormat | None, loc: LocaleSpec) -> str:
    """A number as Sheets shows it: the cell's number format in the locale's separators."""
    if fmt is None or fmt.type == "TEXT" or not fmt.pattern and fmt.type == "NUMBER":
        return _general(v, loc)
    if fmt.type in ("DATE", "DATE_TIME"):
        return format_date(serial_to_date(v), fmt.pattern or loc.date_pattern)
    pattern = fmt.pattern or (loc.currency if fmt.type == "CURRENCY" else "0%" if fmt.type == "PERCENT" else "")
    m = _CORE.search(pattern)
    if not m:
        return _general(v, loc)
    prefix, suffix = _literal(pattern[: m.start()]), _literal(pattern[m.end():])
    core = m.group()
    decimals = len(m.group(1)) - 1 if m.group(1) else 0
    value = v * 100 if "%" in suffix else v
    text = f"{abs(value):.{decimals}f}"
    whole, _, frac = text.partition(".")
    if "," in core:
        whole = _group(whole, loc.group)
    body = whole + (loc.decimal + frac if frac else "")
    sign = "-" if value < 0 and float(text) != 0 else ""
    return f"{sign}{prefix}{body}{suffix}"


def _general(v: float, loc: LocaleSpec) -> str:
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.10g}".replace(".", loc.decimal)


def _number_pattern(loc: LocaleSpec) -> re.Pattern:
    g, d = re.escape(loc.group), re.escape(loc.decimal)
    return re.compile(rf"^([+-]?)(\d{{1,3}}(?:{g}\d{{3}})+|\d+)(?:{d}(\d+))?$")


def parse_user_entered(text: str, loc: LocaleSpec, current: NumberFormat | None) -> Cell:
    """What typing `text` into a cell of this locale stores (the cell's format is kept unless input sets one)."""
    if text == "":
        return Cell(None, None, current)
    if text.startswith("'"):
        return Cell(text[1:], None, current)
    if text.startswith("=") and len(text) > 1:
        return Cell(None, text, current)
    s = text.strip()
    if s.upper() in ("TRUE", loc.true.upper()):
        return Cell(True, None, current)
    if s.upper() in ("FALSE", loc.false.upper()):
        return Cell(False, None, current)
    body, fmt = s, current
    for sym, pos in (("€", "suffix"), ("$", "prefix"), ("£", "prefix"), ("CHF", "prefix")):
        if sym in body:
            body = body.replace(sym, "").strip()
            fmt = NumberFormat("CURRENCY", loc.currency if sym in _literal(loc.currency) else
                               (f'"{sym}"#,##0.00' if pos == "prefix" else f'#,##0.00 "{sym}"'))
            break
    percent = body.endswith("%")
    if percent:
        body = body[:-1].strip()
    m = _number_pattern(loc).match(body.replace(" ", "") if loc.group != " " else body)
    if m:
        number = float(m.group(2).replace(loc.group, "") + ("." + m.group(3) if m.group(3) else ""))
        if m.group(1) == "-":
            number = -number
        if percent:
            return Cell(number / 100, None, NumberFormat("PERCENT", "0%" if not m.group(3) else "0.00%"))
        return Cell(number, None, fmt)
    d, pattern = _parse_date_input(s, loc)
    if d is not None:
        keep = current if current is not None and current.type in ("DATE", "DATE_TIME") else None
        return Cell(float(date_to_serial(d)), None, keep or NumberFormat("DATE", pattern))
    return Cell(text, None, current)


def _parse_date_input(s: str, loc: LocaleSpec) -> tuple[date | None, str]:
    m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", s)
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3))), "yyyy-mm-dd"
        except ValueError:
            return None, ""
    m = re.fullmatch(r"(\d{1,2})([./-])(\d{1,2})\2(\d{2}|\d{4})", s)
    if not m:
        return None, ""
    a, b, y = int(m.group(1)), int(m.group(3)), int(m.group(4))
    if y < 100:
        y += 2000
    month_first = loc.date_pattern.startswith("m")
    month, day = (a, b) if month_first else (b, a)
    try:
        return date(y, month, day), loc.date_pattern
    except ValueError:
        return None, ""


# ---- formulas ---------------------------------------------------------------------------------------------
class _FormulaError(Exception):
    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


_TOKEN = re.compile(r'\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<str>"(?:[^"]|"")*")|(?P<ref>\$?[A-Za-z]{1,3}\$?\d+)'
                    r'|(?P<name>[A-Za-z_][A-Za-z0-9_.]*)\s*(?=\()|(?P<op>[-+*/(),&]))')


class _Formula:
    """Evaluates the small formula language the sandbox supports: numbers, strings, cell references,
    + - * / &, parentheses and HYPERLINK(url[, label])."""

    def __init__(self, sheet: "Sheet", depth: int):
        self.sheet = sheet
        self.depth = depth

    def evaluate(self, formula: str) -> Any:
        text = formula[1:]
        tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise _FormulaError("#ERROR!")
            kind = m.lastgroup or ""
            tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.tokens, self.i = tokens, 0
        value = self._concat()
        if self.i != len(self.tokens):
            raise _FormulaError("#ERROR!")
        return value

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        tok = self._peek()
        if tok is None:
            raise _FormulaError("#ERROR!")
        self.i += 1
        return tok

    def _concat(self) -> Any:
        left = self._sum()
        while self._peek() == ("op", "&"):
            self._take()
            left = _text(left) + _text(self._sum())
        return left

    def _sum(self) -> Any:
        left = self._product()
        while self._peek() in (("op", "+"), ("op", "-")):
            op = self._take()[1]
            right = self._product()
            left = _num(left) + _num(right) if op == "+" else _num(left) - _num(right)
        return left

    def _product(self) -> Any:
        left = self._unary()
        while self._peek() in (("op", "*"), ("op", "/")):
            op = self._take()[1]
            right = self._unary()
            if op == "*":
                left = _num(left) * _num(right)
            else:
                if _num(right) == 0:
                    raise _FormulaError("#DIV/0!")
                left = _num(left) / _num(right)
        return left

    def _unary(self) -> Any:
        if self._peek() == ("op", "-"):
            self._take()
            return -_num(self._unary())
        if self._peek() == ("op", "+"):
            self._take()
        return self._atom()

    def _atom(self) -> Any:
        kind, text = self._take()
        if kind == "num":
            return float(text)
        if kind == "str":
            return text[1:-1].replace('""', '"')
        if kind == "ref":
            m = re.fullmatch(r"\$?([A-Za-z]{1,3})\$?(\d+)", text)
            return self._ref(int(m.group(2)) - 1, col_index(m.group(1)))
        if kind == "op" and text == "(":
            v = self._concat()
            if self._take() != ("op", ")"):
                raise _FormulaError("#ERROR!")
            return v
        if kind == "name":
            self._take()  # "("
            args = []
            if self._peek() != ("op", ")"):
                args.append(self._concat())
                while self._peek() == ("op", ","):
                    self._take()
                    args.append(self._concat())
            if self._take() != ("op", ")"):
                raise _FormulaError("#ERROR!")
            if text.upper() == "HYPERLINK" and 1 <= len(args) <= 2:
                return _text(args[-1])
            raise _FormulaError("#NAME?")
        raise _FormulaError("#ERROR!")

    def _ref(self, r: int, c: int) -> Any:
        cell = self.sheet.cell(r, c)
        if cell is None or cell.blank:
            return None
        if cell.formula:
            if self.depth > 20:
                raise _FormulaError("#REF!")
            return evaluate_formula(self.sheet, cell.formula, self.depth + 1)
        return cell.value


def _num(v: Any) -> float:
    if v is None or v == "":
        return 0.0
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str) and v.startswith("#"):
        raise _FormulaError(v)
    raise _FormulaError("#VALUE!")


def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float):
        return _general(v, LOCALES["en_US"])
    return str(v)


def evaluate_formula(sheet: "Sheet", formula: str, depth: int = 0) -> Any:
    try:
        return _Formula(sheet, depth).evaluate(formula)
    except _FormulaError as e:
        return e.code
    except RecursionError:
        return "#REF!"


# ---- sheets and spreadsheets -------------------------------------------------------------------------------
class Sheet:
    """One tab: a grid of rows x columns (`grid` is ragged: rows and cells past the data are absent)."""

    def __init__(self, sheet_id: int, title: str, index: int, rows: int = DEFAULT_ROWS, cols: int = DEFAULT_COLS):
        self.sheet_id = sheet_id
        self.title = title
        self.index = index
        self.rows = rows
        self.cols = cols
        self.grid: list[list[Cell | None]] = []
        self.merges: list[list[int]] = []  # [r0, r1, c0, c1]
        self.frozen_rows = 0
        self.hidden = False

    # ---- cells ----
    def cell(self, r: int, c: int) -> Cell | None:
        if r < len(self.grid):
            row = self.grid[r]
            if c < len(row):
                return row[c]
        return None

    def put(self, r: int, c: int, cell: Cell | None) -> None:
        while len(self.grid) <= r:
            self.grid.append([])
        row = self.grid[r]
        while len(row) <= c:
            row.append(None)
        row[c] = cell

    def used_rows(self) -> int:
        n = len(self.grid)
        while n and all(c is None or (c.blank and c.note is None) for c in self.grid[n - 1]):
            n -= 1
        return n

    def row_blank(self, r: int, c0: int = 0, c1: int | None = None) -> bool:
        if r >= len(self.grid):
            return True
        return all(c is None or c.blank for c in self.grid[r][c0:c1])

    def properties(self) -> dict:
        grid: dict[str, Any] = {"rowCount": self.rows, "columnCount": self.cols}
        if self.frozen_rows:
            grid["frozenRowCount"] = self.frozen_rows
        out: dict[str, Any] = {"sheetId": self.sheet_id, "title": self.title, "index": self.index,
                               "sheetType": "GRID", "gridProperties": grid}
        if self.hidden:
            out["hidden"] = True
        return out

    # ---- structure ----
    def snapshot(self) -> tuple:
        return ([list(r) for r in self.grid], [list(m) for m in self.merges], self.title, self.index, self.rows,
                self.cols, self.frozen_rows, self.hidden)

    def restore(self, snap: tuple) -> None:
        (grid, merges, self.title, self.index, self.rows, self.cols, self.frozen_rows, self.hidden) = snap
        self.grid, self.merges = grid, merges

    def insert(self, dim: str, start: int, end: int) -> None:
        n = end - start
        if dim == "ROWS":
            if start > self.rows:
                raise HTTPError(400, f"Invalid requests: insertDimension startIndex {start} is after the last "
                                     f"row ({self.rows})")
            if start < len(self.grid):
                self.grid[start:start] = [[] for _ in range(n)]
            self.rows += n
            for m in self.merges:
                if m[0] >= start:
                    m[0] += n
                if m[1] > start:
                    m[1] += n
        else:
            if start > self.cols:
                raise HTTPError(400, f"Invalid requests: insertDimension startIndex {start} is after the last "
                                     f"column ({self.cols})")
            for row in self.grid:
                if start < len(row):
                    row[start:start] = [None] * n
            self.cols += n
            for m in self.merges:
                if m[2] >= start:
                    m[2] += n
                if m[3] > start:
                    m[3] += n

    def delete(self, dim: str, start: int, end: int) -> None:
        n = end - start
        if dim == "ROWS":
            if end > self.rows or n >= self.rows:
                raise HTTPError(400, "Invalid requests: deleteDimension: you can't delete all the rows on the sheet"
                                if n >= self.rows else f"Invalid requests: deleteDimension endIndex {end} is "
                                                       f"after the last row ({self.rows})")
            del self.grid[start:end]
            self.rows -= n
            self.merges = [m for m in self.merges if not (m[0] >= start and m[1] <= end)]
            for m in self.merges:
                m[0] = m[0] - n if m[0] >= end else min(m[0], start)
                m[1] = m[1] - n if m[1] >= end else max(start, min(m[1], start))
        else:
            if end > self.cols or n >= self.cols:
                raise HTTPError(400, "Invalid requests: deleteDimension: you can't delete all the columns on the "
                                     "sheet" if n >= self.cols else f"Invalid requests: deleteDimension endIndex {end}"
                                                                    f" is after the last column ({self.cols})")
            for row in self.grid:
                del row[start:end]
            self.cols -= n
            self.merges = [m for m in self.merges if not (m[2] >= start and m[3] <= end)]
            for m in self.merges:
                m[2] = m[2] - n if m[2] >= end else min(m[2], start)
                m[3] = m[3] - n if m[3] >= end else max(start, min(m[3], start))
        self.merges = [m for m in self.merges if m[1] > m[0] and m[3] > m[2]]

    def move(self, dim: str, start: int, end: int, dest: int) -> None:
        limit = self.rows if dim == "ROWS" else self.cols
        if not (0 <= start < end <= limit) or not 0 <= dest <= limit or start <= dest <= end:
            if start <= dest <= end:
                return  # moving onto itself changes nothing
            raise HTTPError(400, "Invalid requests: moveDimension range or destinationIndex out of bounds")
        if dim == "ROWS":
            while len(self.grid) < max(end, dest):
                self.grid.append([])
            block = self.grid[start:end]
            del self.grid[start:end]
            at = dest if dest < start else dest - (end - start)
            self.grid[at:at] = block
        else:
            for row in self.grid:
                while len(row) < max(end, dest):
                    row.append(None)
                block = row[start:end]
                del row[start:end]
                at = dest if dest < start else dest - (end - start)
                row[at:at] = block

    def sort(self, r0: int, r1: int, c0: int, c1: int, specs: list[tuple[int, bool]]) -> None:
        """Sort rows [r0, r1) by the given (column, ascending) keys; blank rows go last, as in Sheets."""
        while len(self.grid) < r1:
            self.grid.append([])
        rows = self.grid[r0:r1]
        blank = [r for r in rows if all(c is None or c.blank for c in r[c0:c1])]
        data = [r for r in rows if not all(c is None or c.blank for c in r[c0:c1])]

        def value_key(row: list[Cell | None], col: int) -> tuple:
            cell = row[col] if col < len(row) else None
            v = None if cell is None else (evaluate_formula(self, cell.formula) if cell.formula else cell.value)
            if v is None or v == "":
                return (2, "")
            if isinstance(v, bool):
                return (1, str(v))
            if isinstance(v, (int, float)):
                return (0, float(v))
            return (1, str(v).lower())

        for col, ascending in reversed(specs):
            blanks = [r for r in data if value_key(r, col)[0] == 2]
            values = [r for r in data if value_key(r, col)[0] != 2]
            values.sort(key=lambda r: value_key(r, col), reverse=not ascending)
            data = values + blanks
        self.grid[r0:r1] = data + blank


class Spreadsheet:
    def __init__(self, spreadsheet_id: str, title: str, *, locale: str = "en_US", time_zone: str = "Etc/GMT",
                 created: datetime | None = None):
        self.id = spreadsheet_id
        self.title = title
        self.locale = locale
        self.time_zone = time_zone
        self.sheets: list[Sheet] = []
        self.created = created or datetime.now(UTC)
        self.modified = self.created
        self.shared_with: dict[str, str] = {}  # e-mail -> "writer" | "reader" | "owner"
        self._next_sheet_id = 0

    @property
    def loc(self) -> LocaleSpec:
        return locale_spec(self.locale)

    def add_sheet(self, title: str, *, rows: int = DEFAULT_ROWS, cols: int = DEFAULT_COLS, index: int | None = None,
                  sheet_id: int | None = None) -> Sheet:
        if any(s.title.lower() == title.lower() for s in self.sheets):
            raise HTTPError(400, f'Invalid requests[0].addSheet: A sheet with the name "{title}" already exists. '
                                 "Please enter another name.")
        if sheet_id is None:
            sheet_id = self._next_sheet_id if not self.sheets else _sheet_id_for(self.id, title, len(self.sheets))
        if any(s.sheet_id == sheet_id for s in self.sheets):
            raise HTTPError(400, f"Invalid requests[0].addSheet: sheetId {sheet_id} is already in use")
        if rows * cols > MAX_CELLS:
            raise HTTPError(400, "Invalid requests[0].addSheet: This action would increase the number of cells in "
                                 f"the workbook above the limit of {MAX_CELLS} cells.")
        sheet = Sheet(sheet_id, title, len(self.sheets), rows, cols)
        at = len(self.sheets) if index is None else max(0, min(index, len(self.sheets)))
        self.sheets.insert(at, sheet)
        self._reindex()
        return sheet

    def _reindex(self) -> None:
        for i, s in enumerate(self.sheets):
            s.index = i

    def sheet(self, title: str) -> Sheet | None:
        return next((s for s in self.sheets if s.title == title), None) or \
            next((s for s in self.sheets if s.title.lower() == title.lower()), None)

    def sheet_by_id(self, sheet_id: Any) -> Sheet:
        for s in self.sheets:
            if s.sheet_id == sheet_id or str(s.sheet_id) == str(sheet_id):
                return s
        raise HTTPError(400, f"Invalid requests: No grid with id: {sheet_id}")

    def touch(self) -> None:
        """Record a change: modifiedTime moves forward (millisecond precision, strictly increasing)."""
        now = datetime.now(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        self.modified = max(now, self.modified + timedelta(milliseconds=1))

    def resolve(self, text: str) -> Span:
        """A1 text -> Span, or HTTPError 400 "Unable to parse range" as Sheets answers."""
        try:
            title, cells = split_sheet(text)
        except ValueError:
            raise HTTPError(400, f"Unable to parse range: {text}") from None
        if title is None:  # "Register" (a whole sheet) or "A1:B2" (on the first sheet)
            named = self.sheet(cells or "")
            if named is not None and not _CELL_LIKE.fullmatch(cells or ""):
                sheet, cells = named, None
            else:
                sheet = self.sheets[0] if self.sheets else None
        else:
            sheet = self.sheet(title)
        if sheet is None:
            raise HTTPError(400, f"Unable to parse range: {text}")
        if cells is None:
            return Span(sheet, 0, sheet.rows, 0, sheet.cols, True, True)
        try:
            r0, r1, c0, c1 = _parse_cells(cells)
        except ValueError:
            raise HTTPError(400, f"Unable to parse range: {text}") from None
        return Span(sheet, r0, sheet.rows if r1 is None else r1, c0, sheet.cols if c1 is None else c1,
                    r1 is None, c1 is None)

    def file_json(self) -> dict:
        return {"kind": "drive#file", "id": self.id, "name": self.title, "mimeType": SPREADSHEET_MIME,
                "createdTime": _rfc3339(self.created), "modifiedTime": _rfc3339(self.modified),
                "version": str(int(self.modified.timestamp() * 1000) % 10_000_000),
                "webViewLink": f"https://docs.google.com/spreadsheets/d/{self.id}/edit?usp=drivesdk"}


def _sheet_id_for(spreadsheet_id: str, title: str, n: int) -> int:
    return int(hashlib.sha256(f"{spreadsheet_id}:{title}:{n}".encode()).hexdigest()[:8], 16) % 2_000_000_000


def _rfc3339(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


# ---- rendering values -------------------------------------------------------------------------------------
def render(sheet: Sheet, cell: Cell | None, option: str, dt_option: str, loc: LocaleSpec) -> Any:
    """One cell's value for a ValueRange (None = empty)."""
    if cell is None:
        return None
    if cell.formula is not None:
        if option == "FORMULA":
            return cell.formula
        v = evaluate_formula(sheet, cell.formula)
    else:
        v = cell.value
    if v is None or v == "":
        return None
    fmt = cell.fmt
    if isinstance(v, bool):
        return (loc.true if v else loc.false) if option == "FORMATTED_VALUE" else v
    if isinstance(v, (int, float)):
        if option == "FORMATTED_VALUE":
            return format_number(float(v), fmt, loc)
        if fmt is not None and fmt.type in ("DATE", "DATE_TIME") and dt_option == "FORMATTED_STRING":
            return format_number(float(v), fmt, loc)
        fv = float(v)
        return int(fv) if fv.is_integer() and abs(fv) < 2 ** 53 else fv
    return v


def read_values(span: Span, option: str, dt_option: str, major: str, loc: LocaleSpec) -> list[list[Any]]:
    sheet = span.sheet
    r1 = min(span.r1, sheet.rows, len(sheet.grid))
    rows: list[list[Any]] = []
    for r in range(span.r0, r1):
        src = sheet.grid[r]
        out = []
        for c in range(span.c0, min(span.c1, len(src))):
            out.append(render(sheet, src[c], option, dt_option, loc))
        while out and out[-1] is None:
            out.pop()
        rows.append(["" if v is None else v for v in out])
    while rows and not rows[-1]:
        rows.pop()
    if major == "COLUMNS":
        width = max((len(r) for r in rows), default=0)
        cols = []
        for c in range(width):
            col = [r[c] if c < len(r) else "" for r in rows]
            while col and col[-1] == "":
                col.pop()
            cols.append(col)
        while cols and not cols[-1]:
            cols.pop()
        return cols
    return rows


# ---- fields masks -----------------------------------------------------------------------------------------
def parse_fields(text: str) -> dict:
    """Google's partial-response syntax ("a.b,c(d,e/f)") -> a tree of dicts; {} means "everything below"."""
    tokens = re.findall(r"[A-Za-z0-9_*@]+|[.,/()]", text.replace(" ", ""))
    pos = 0

    def merge(into: dict, other: dict) -> dict:
        for k, v in other.items():
            if k in into and into[k] and v:
                merge(into[k], v)
            else:
                into[k] = {} if (k in into and not into[k]) or not v else v
        return into

    def parse_list() -> dict:
        nonlocal pos
        out: dict = {}
        while pos < len(tokens):
            merge(out, parse_path())
            if pos < len(tokens) and tokens[pos] == ",":
                pos += 1
                continue
            break
        return out

    def parse_path() -> dict:
        nonlocal pos
        if pos >= len(tokens) or not re.match(r"[A-Za-z0-9_*@]", tokens[pos]):
            raise ValueError(text)
        name = tokens[pos]
        pos += 1
        if pos < len(tokens) and tokens[pos] in (".", "/"):
            pos += 1
            return {name: parse_path()}
        if pos < len(tokens) and tokens[pos] == "(":
            pos += 1
            inner = parse_list()
            if pos >= len(tokens) or tokens[pos] != ")":
                raise ValueError(text)
            pos += 1
            return {name: inner}
        return {name: {}}

    tree = parse_list()
    if pos != len(tokens):
        raise ValueError(text)
    return tree


def apply_fields(obj: Any, tree: dict) -> Any:
    if not tree or "*" in tree:
        return obj
    if isinstance(obj, list):
        return [apply_fields(x, tree) for x in obj]
    if isinstance(obj, dict):
        return {k: apply_fields(obj[k], sub) for k, sub in tree.items() if k in obj}
    return obj


def _prune(obj: Any) -> Any:
    """Drop what a masked grid leaves empty, as Google does: empty members, and empty trailing list items."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            v = _prune(v)
            if v == {} or v == []:
                continue
            out[k] = v
        return out
    if isinstance(obj, list):
        items = [_prune(x) for x in obj]
        while items and items[-1] in ({}, [], None):
            items.pop()
        return items
    return obj


# ---- accounts, keys, tokens, quotas ------------------------------------------------------------------------
_KEYS: dict[str, Any] = {}
_KEYS_LOCK = threading.Lock()


def _private_key(email: str) -> Any:
    """An RSA key per service account, generated once per process (key generation is the slow part)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    with _KEYS_LOCK:
        if email not in _KEYS:
            _KEYS[email] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return _KEYS[email]


@dataclass
class ServiceAccount:
    email: str
    key_id: str
    client_id: str
    project_id: str

    @property
    def private_key(self) -> Any:
        return _private_key(self.email)

    def private_key_pem(self) -> str:
        from cryptography.hazmat.primitives import serialization

        return self.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()).decode()


@dataclass
class _Token:
    account: str
    scopes: frozenset[str]
    expires: float  # time.time()


class _Quota:
    """Per-minute request windows: (project|user, read|write) -> recent request times."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.windows: dict[tuple[str, str, str], deque[float]] = {}

    def admit(self, keys: list[tuple[str, str, str, int]], window: float) -> tuple[str, str, str] | None:
        """Record a request against every (scope, who, kind, limit); return the first exceeded key, or None."""
        now = _time.monotonic()
        with self.lock:
            for scope, who, kind, limit in keys:
                q = self.windows.setdefault((scope, who, kind), deque())
                while q and now - q[0] >= window:
                    q.popleft()
                if len(q) >= limit:
                    return scope, who, kind
            for scope, who, kind, _limit in keys:
                self.windows[(scope, who, kind)].append(now)
            return None

    def reset(self) -> None:
        with self.lock:
            self.windows.clear()


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


# ---- the app ------------------------------------------------------------------------------------------------
class SheetsApp(App):
    system = "sheets"
    prefixes = ("/v4/spreadsheets", "/drive/v3/", TOKEN_PATH, "/v1/projects/-/serviceAccounts/")

    def __init__(self, *, secret: str = "sandbox"):
        super().__init__()
        self._secret = secret
        self.spreadsheets: dict[str, Spreadsheet] = {}
        self.accounts: dict[str, ServiceAccount] = {}
        self._tokens: dict[str, _Token] = {}
        self._quota = _Quota()
        self.token_ttl_s = 3600
        self.quota_window_s = 60.0
        self.read_per_project = 300
        self.write_per_project = 300
        self.read_per_user = 60
        self.write_per_user = 60
        self.quota_refusals = 0  # 429s the quotas gave (the server's own rate limit counts as "throttled")
        self.register_id: str | None = None  # the seeded "PMO Register" (set by sheets_seed)
        self.seed_info: dict[str, Any] = {}  # what the seed rendering left out or added (for tests)
        for email in (HUB_ACCOUNT, OFFICE_ACCOUNT, OUTSIDER_ACCOUNT):
            self.add_account(email)
        self._register_routes()

    # ---- setup ----
    @classmethod
    def from_seed(cls, portfolio, **kw: Any) -> "SheetsApp":
        """The app with the "PMO Register" spreadsheet rendered from `portfolio` (see sheets_seed.render)."""
        from hub.sandbox import sheets_seed

        app = cls()
        sheets_seed.render(app, portfolio, **kw)
        return app

    def add_account(self, email: str) -> ServiceAccount:
        digest = hashlib.sha256(f"{self._secret}:{email}".encode()).hexdigest()
        project = email.split("@", 1)[1].split(".", 1)[0]
        acct = ServiceAccount(email, digest[:40], str(int(digest[40:58], 16))[:21], project)
        self.accounts[email] = acct
        return acct

    def add_spreadsheet(self, title: str, *, locale: str = "en_US", time_zone: str = "Europe/Berlin",
                        created: datetime | None = None, share: Iterable[tuple[str, str]] = ()) -> Spreadsheet:
        digest = hashlib.sha256(f"{self._secret}:spreadsheet:{title}:{len(self.spreadsheets)}".encode()).digest()
        sid = "1" + base64.urlsafe_b64encode(digest).decode().rstrip("=")[:43]
        ss = Spreadsheet(sid, title, locale=locale, time_zone=time_zone, created=created)
        for email, role in share:
            ss.shared_with[email] = role
        self.spreadsheets[sid] = ss
        return ss

    def key_file(self, account: str = HUB_ACCOUNT, *, base_url: str) -> dict:
        """A service-account JSON key, as downloaded from the Cloud console, for `account`."""
        a = self.accounts[account]
        return {
            "type": "service_account", "project_id": a.project_id, "private_key_id": a.key_id,
            "private_key": a.private_key_pem(), "client_email": a.email, "client_id": a.client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": base_url.rstrip("/") + TOKEN_PATH,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/" + quote(a.email),
            "universe_domain": "googleapis.com",
        }

    @property
    def register(self) -> Spreadsheet:
        if self.register_id is None:
            raise KeyError("no seeded register; build the app with SheetsApp.from_seed(portfolio)")
        return self.spreadsheets[self.register_id]

    def expire_tokens(self) -> None:
        """Make every issued access token expired (clients must refresh)."""
        with self.lock:
            for t in self._tokens.values():
                t.expires = 0.0

    # ---- App hooks ----
    def error_body(self, status: int, message: str) -> Any:
        if status == 429:
            return _quota_body("Read requests", "ReadRequestsPerMinutePerProject", "project", message)
        return {"error": {"code": status, "message": message, "status": _STATUS_NAMES.get(status, "UNKNOWN")}}

    def authenticate(self, req: Request) -> None:
        req.account = None  # type: ignore[attr-defined]
        if req.path == TOKEN_PATH:
            return
        header = req.headers.get("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if not header or scheme.lower() != "bearer" or not token.strip():
            raise HTTPError(401, "Request is missing required authentication credential. " + AUTH_HELP,
                            headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'})
        with self.lock:
            tok = self._tokens.get(token.strip())
        if tok is None or tok.expires <= _time.time():
            raise HTTPError(401, "Request had invalid authentication credentials. " + AUTH_HELP,
                            headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", '
                                                         'error="invalid_token"'})
        write = req.method != "GET"
        if req.path.startswith("/v4/"):
            ok = SCOPE_SHEETS in tok.scopes or bool(tok.scopes & {"https://www.googleapis.com/auth/drive",
                                                                   "https://www.googleapis.com/auth/drive.file"})
            if not ok and not (not write and SCOPE_SHEETS_RO in tok.scopes):
                raise HTTPError(403, "Request had insufficient authentication scopes.", body=_scope_body())
            self._admit(tok.account, write)
        elif req.path.startswith("/drive/"):
            if not tok.scopes & DRIVE_SCOPES:
                raise HTTPError(403, "Request had insufficient authentication scopes.", body=_scope_body())
        req.account = tok.account  # type: ignore[attr-defined]

    def _admit(self, account: str, write: bool) -> None:
        kind = "write" if write else "read"
        project = account.split("@", 1)[1]
        keys = [("project", project, kind, self.write_per_project if write else self.read_per_project),
                ("user", account, kind, self.write_per_user if write else self.read_per_user)]
        over = self._quota.admit(keys, self.quota_window_s)
        if over is not None:
            with self.lock:
                self.quota_refusals += 1
            scope, _who, kind = over
            metric = "Write requests" if kind == "write" else "Read requests"
            per = "User" if scope == "user" else "Project"
            limit = f"{'Write' if kind == 'write' else 'Read'}RequestsPerMinutePer{per}"
            raise HTTPError(429, "quota", body=_quota_body(metric, limit, scope))

    def control(self, req: Request) -> Response | None:
        """/_sandbox/sheets/settings (GET, POST), /_sandbox/sheets/spreadsheets (GET)."""
        if not req.path.startswith("/_sandbox/sheets/"):
            return None
        names = ("token_ttl_s", "quota_window_s", "read_per_project", "write_per_project", "read_per_user",
                 "write_per_user")
        with self.lock:
            if req.path == "/_sandbox/sheets/settings" and req.method == "GET":
                return Response(200, {n: getattr(self, n) for n in names})
            if req.path == "/_sandbox/sheets/settings" and req.method == "POST":
                body = req.json() or {}
                unknown = sorted(set(body) - set(names)) if isinstance(body, dict) else ["<not an object>"]
                if unknown:
                    return Response(400, {"error": f"unknown setting(s) {unknown}; valid: {list(names)}"})
                for k, v in body.items():
                    setattr(self, k, float(v) if k == "quota_window_s" else int(v))
                self._quota.reset()
                return Response(204)
            if req.path == "/_sandbox/sheets/spreadsheets" and req.method == "GET":
                return Response(200, {"spreadsheets": [
                    {"id": s.id, "title": s.title, "locale": s.locale, "sheets": [t.title for t in s.sheets],
                     "modifiedTime": _rfc3339(s.modified)} for s in self.spreadsheets.values()]})
        return None

    # ---- routes ----
    def _register_routes(self) -> None:
        r = self.route
        r("POST", TOKEN_PATH, self.h_token)
        r("GET", "/v4/spreadsheets/{id}", self.h_get)
        r("POST", "/v4/spreadsheets/{id}:batchUpdate", self.h_batch_update, write=True)
        r("GET", "/v4/spreadsheets/{id}/values:batchGet", self.h_values_batch_get)
        r("POST", "/v4/spreadsheets/{id}/values:batchUpdate", self.h_values_batch_update, write=True)
        r("POST", "/v4/spreadsheets/{id}/values:batchClear", self.h_values_batch_clear, write=True)
        r("POST", "/v4/spreadsheets/{id}/values/{range}:append", self.h_values_append, write=True)
        r("POST", "/v4/spreadsheets/{id}/values/{range}:clear", self.h_values_clear, write=True)
        r("GET", "/v4/spreadsheets/{id}/values/{range}", self.h_values_get)
        r("PUT", "/v4/spreadsheets/{id}/values/{range}", self.h_values_update, write=True)
        r("GET", "/drive/v3/files/{id}", self.h_drive_file)
        r("GET", "/drive/v3/files", self.h_drive_list)
        r("GET", "/v1/projects/-/serviceAccounts/{email}/allowedLocations", self.h_allowed_locations)

    # ---- token endpoint ----
    def h_token(self, req: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items()}
        grant = form.get("grant_type")
        if grant != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return _oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant or ''}")
        assertion = form.get("assertion") or ""
        try:
            head_b64, claims_b64, sig_b64 = assertion.split(".")
            header = json.loads(_b64url_decode(head_b64))
            claims = json.loads(_b64url_decode(claims_b64))
            signature = _b64url_decode(sig_b64)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return _oauth_error("invalid_grant", "Invalid JWT: the assertion is not a signed JWT.")
        if header.get("alg") != "RS256":
            return _oauth_error("invalid_grant", "Invalid JWT: the signing algorithm must be RS256.")
        account = self.accounts.get(str(claims.get("iss")))
        if account is None or header.get("kid") not in (None, account.key_id):
            return _oauth_error("invalid_grant", "Invalid grant: account not found")
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        try:
            account.private_key.public_key().verify(signature, f"{head_b64}.{claims_b64}".encode(),
                                                    padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return _oauth_error("invalid_grant", "Invalid JWT Signature.")
        own = req.base_url.rstrip("/") + TOKEN_PATH
        if claims.get("aud") not in (own, *AUDIENCES):
            return _oauth_error("invalid_grant", "Invalid JWT: Failed audience check.")
        now = _time.time()
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, (int, float)) or not isinstance(exp, (int, float)) or exp <= iat \
                or exp - iat > 3600 or iat > now + 300 or exp < now - 300:
            return _oauth_error("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and "
                                                 "in a reasonable timeframe. Check your iat and exp values in the "
                                                 "JWT claim.")
        scopes = frozenset(str(claims.get("scope") or "").split())
        if not scopes:
            return _oauth_error("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        unknown = scopes - KNOWN_SCOPES
        if unknown:
            return _oauth_error("invalid_scope",
                                f"Invalid OAuth scope or ID token audience provided: {sorted(unknown)[0]}")
        token = "ya29.c.sandbox-" + secrets.token_urlsafe(32)
        with self.lock:
            self._tokens[token] = _Token(account.email, scopes, now + self.token_ttl_s)
        return Response(200, {"access_token": token, "expires_in": int(self.token_ttl_s), "token_type": "Bearer"})

    def h_allowed_locations(self, req: Request) -> dict:
        """IAM Credentials' Regional Access Boundary lookup (google-auth asks it in the background): no boundary."""
        if unquote(req.params["email"]) not in self.accounts:
            raise HTTPError(404, f"Service account {unquote(req.params['email'])} not found.")
        return {"locations": [], "encodedLocations": "0x0"}

    # ---- helpers ----
    def _spreadsheet(self, req: Request, *, write: bool = False) -> Spreadsheet:
        ss = self.spreadsheets.get(req.params["id"])
        if ss is None:
            raise HTTPError(404, "Requested entity was not found.")
        role = ss.shared_with.get(getattr(req, "account", None) or "")
        if role is None or (write and role == "reader"):
            raise HTTPError(403, "The caller does not have permission")
        return ss

    @staticmethod
    def _options(req: Request) -> tuple[str, str, str]:
        option = req.arg("valueRenderOption") or "FORMATTED_VALUE"
        dt = req.arg("dateTimeRenderOption") or "SERIAL_NUMBER"
        major = req.arg("majorDimension") or "ROWS"
        if option not in ("FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA"):
            raise HTTPError(400, f"Invalid value at 'value_render_option' (type.googleapis.com/google.apps.sheets.v4."
                                 f"ValueRenderOption), \"{option}\"")
        if dt not in ("SERIAL_NUMBER", "FORMATTED_STRING"):
            raise HTTPError(400, f"Invalid value at 'date_time_render_option', \"{dt}\"")
        if major not in ("ROWS", "COLUMNS", "DIMENSION_UNSPECIFIED"):
            raise HTTPError(400, f"Invalid value at 'major_dimension' (type.googleapis.com/google.apps.sheets.v4."
                                 f"Dimension), \"{major}\"")
        return option, dt, "ROWS" if major == "DIMENSION_UNSPECIFIED" else major

    @staticmethod
    def _value_range(ss: Spreadsheet, span: Span, option: str, dt: str, major: str) -> dict:
        out: dict[str, Any] = {"range": span.a1(), "majorDimension": major}
        values = read_values(span, option, dt, major, ss.loc)
        if values:
            out["values"] = values
        return out

    # ---- spreadsheets.get ----
    def h_get(self, req: Request) -> dict:
        ss = self._spreadsheet(req)
        fields_text = req.arg("fields")
        try:
            tree = parse_fields(fields_text) if fields_text else {}
        except ValueError:
            raise HTTPError(400, f"Invalid field selection {fields_text}") from None
        sheets_tree = tree.get("sheets")
        want_data = (req.arg("includeGridData") or "false").lower() == "true" or \
            (isinstance(sheets_tree, dict) and "data" in sheets_tree)
        ranges = req.query.get("ranges") or []
        spans = [ss.resolve(r) for r in ranges]
        sheets = []
        for sheet in ss.sheets:
            entry: dict[str, Any] = {"properties": sheet.properties()}
            if sheet.merges:
                entry["merges"] = [{"sheetId": sheet.sheet_id, "startRowIndex": m[0], "endRowIndex": m[1],
                                    "startColumnIndex": m[2], "endColumnIndex": m[3]} for m in sheet.merges]
            if want_data:
                mine = [s for s in spans if s.sheet is sheet] if spans else [Span(sheet, 0, sheet.rows, 0, sheet.cols)]
                if spans and not mine:
                    continue
                entry["data"] = [self._grid_data(ss, s) for s in mine]
            elif spans and not any(s.sheet is sheet for s in spans):
                continue
            sheets.append(entry)
        body = {
            "spreadsheetId": ss.id,
            "properties": {"title": ss.title, "locale": ss.locale, "autoRecalc": "ON_CHANGE",
                           "timeZone": ss.time_zone,
                           "defaultFormat": {"backgroundColor": {"red": 1, "green": 1, "blue": 1},
                                             "verticalAlignment": "BOTTOM", "wrapStrategy": "OVERFLOW_CELL",
                                             "textFormat": {"fontFamily": "arial,sans,sans-serif", "fontSize": 10,
                                                            "bold": False, "italic": False,
                                                            "strikethrough": False, "underline": False}}},
            "sheets": sheets,
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{ss.id}/edit",
        }
        if not tree:
            return body
        masked = apply_fields(body, tree)
        if want_data:
            for sheet in masked.get("sheets", []):
                if "data" in sheet:
                    sheet["data"] = [_prune(d) for d in sheet["data"]]
        return masked

    def _grid_data(self, ss: Spreadsheet, span: Span) -> dict:
        sheet, loc = span.sheet, ss.loc
        rows = []
        for r in range(span.r0, min(span.r1, len(sheet.grid))):
            src = sheet.grid[r]
            cells = []
            for c in range(span.c0, min(span.c1, len(src))):
                cells.append(self._cell_data(sheet, src[c], loc))
            while cells and cells[-1] == {}:
                cells.pop()
            rows.append({"values": cells} if cells else {})
        while rows and rows[-1] == {}:
            rows.pop()
        out: dict[str, Any] = {}
        if span.r0:
            out["startRow"] = span.r0
        if span.c0:
            out["startColumn"] = span.c0
        if rows:
            out["rowData"] = rows
        return out

    @staticmethod
    def _cell_data(sheet: Sheet, cell: Cell | None, loc: LocaleSpec) -> dict:
        if cell is None:
            return {}
        out: dict[str, Any] = {}
        if not cell.blank:
            if cell.formula is not None:
                out["userEnteredValue"] = {"formulaValue": cell.formula}
                v = evaluate_formula(sheet, cell.formula)
            else:
                v = cell.value
                out["userEnteredValue"] = _typed(v)
            if v is not None and v != "":
                out["effectiveValue"] = ({"errorValue": {"type": "ERROR", "message": str(v)}}
                                         if isinstance(v, str) and cell.formula and v.startswith("#") else _typed(v))
                out["formattedValue"] = render(sheet, cell, "FORMATTED_VALUE", "SERIAL_NUMBER", loc)
        if cell.fmt is not None:
            out["userEnteredFormat"] = {"numberFormat": cell.fmt.json()}
            out["effectiveFormat"] = {"numberFormat": cell.fmt.json()}
        if cell.note:
            out["note"] = cell.note
        return out

    # ---- values ----
    def h_values_get(self, req: Request) -> dict:
        ss = self._spreadsheet(req)
        option, dt, major = self._options(req)
        return self._value_range(ss, ss.resolve(unquote(req.params["range"])), option, dt, major)

    def h_values_batch_get(self, req: Request) -> dict:
        ss = self._spreadsheet(req)
        option, dt, major = self._options(req)
        ranges = req.query.get("ranges") or []
        spans = [ss.resolve(r) for r in ranges]
        return {"spreadsheetId": ss.id, "valueRanges": [self._value_range(ss, s, option, dt, major) for s in spans]}

    def _input_option(self, value: Any) -> str:
        if value in (None, "", "INPUT_VALUE_OPTION_UNSPECIFIED"):
            raise HTTPError(400, "'valueInputOption' is required but not specified")
        if value not in ("RAW", "USER_ENTERED"):
            raise HTTPError(400, f"Invalid value at 'value_input_option' (type.googleapis.com/google.apps.sheets.v4."
                                 f"ValueInputOption), \"{value}\"")
        return value

    def _plan_write(self, ss: Spreadsheet, range_text: str, values: Any, major: str | None,
                    *, append_at: int | None = None) -> tuple[Span, list[tuple[int, int, Any]], dict]:
        """Check one write and return (span, [(row, col, value)], UpdateValuesResponse) without writing."""
        if not isinstance(values, list) or any(not isinstance(v, list) for v in values):
            raise HTTPError(400, "Invalid JSON payload received. 'values' must be a list of lists.")
        span = ss.resolve(range_text)
        major = major or "ROWS"
        if major not in ("ROWS", "COLUMNS", "DIMENSION_UNSPECIFIED"):
            raise HTTPError(400, f"Invalid value at 'data.major_dimension', \"{major}\"")
        height = max((len(c) for c in values), default=0)
        grid = values if major != "COLUMNS" else [[col[r] if r < len(col) else None for col in values]
                                                  for r in range(height)]
        r0 = span.r0 if append_at is None else append_at
        c0 = span.c0
        sheet = span.sheet
        cells = []
        width = 0
        for i, row in enumerate(grid):
            width = max(width, len(row))
            for j, v in enumerate(row):
                if v is not None and not isinstance(v, (str, int, float, bool)):
                    raise HTTPError(400, f"Invalid values[{i}][{j}]: {json.dumps(v)[:80]}")
                cells.append((r0 + i, c0 + j, v))
        height = len(grid)
        anchor = span.r1 - span.r0 == 1 and span.c1 - span.c0 == 1  # a single cell is where writing starts
        if append_at is None and height and width and not anchor:
            if not span.open_rows and r0 + height > span.r1 or not span.open_cols and c0 + width > span.c1:
                bad = r0 + height if r0 + height > span.r1 else c0 + width
                raise HTTPError(400, f"Requested writing within range [{range_text}], but tried writing to "
                                     f"{'row' if r0 + height > span.r1 else 'column'} [{bad}]")
        if append_at is None and height and width and (r0 + height > sheet.rows or c0 + width > sheet.cols):
            where = f"{quote_title(sheet.title)}!{col_letter(c0 + width - 1)}{r0 + height}"
            raise HTTPError(400, f"Range ({where}) exceeds grid limits. Max rows: {sheet.rows}, max columns: "
                                 f"{sheet.cols}")
        written = Span(sheet, r0, r0 + height, c0, c0 + width)
        resp = {"spreadsheetId": ss.id, "updatedRange": written.a1() if height and width else span.a1(),
                "updatedRows": height if width else 0, "updatedColumns": width if height else 0,
                "updatedCells": sum(1 for _r, _c, v in cells if v is not None)}
        return span, cells, resp

    @staticmethod
    def _write(ss: Spreadsheet, sheet: Sheet, cells: list[tuple[int, int, Any]], option: str) -> None:
        loc = ss.loc
        for r, c, v in cells:
            if v is None:
                continue  # null: leave the cell as it is
            old = sheet.cell(r, c)
            fmt = old.fmt if old else None
            note = old.note if old else None
            if option == "USER_ENTERED" and isinstance(v, str):
                new = parse_user_entered(v, loc, fmt)
            elif isinstance(v, bool):
                new = Cell(v, None, fmt)
            elif isinstance(v, (int, float)):
                new = Cell(float(v), None, fmt)
            else:
                new = Cell(v if v != "" else None, None, fmt)
            new.note = note
            sheet.put(r, c, None if (new.blank and new.fmt is None and new.note is None) else new)

    def _response_values(self, ss: Spreadsheet, resp: dict, req_body: dict | None, req: Request) -> None:
        include = (req_body or {}).get("includeValuesInResponse", req.arg("includeValuesInResponse"))
        if str(include).lower() == "true":
            option = (req_body or {}).get("responseValueRenderOption") or req.arg("responseValueRenderOption") \
                or "FORMATTED_VALUE"
            dt = (req_body or {}).get("responseDateTimeRenderOption") or req.arg("responseDateTimeRenderOption") \
                or "SERIAL_NUMBER"
            span = ss.resolve(resp["updatedRange"])
            resp["updatedData"] = self._value_range(ss, span, option, dt, "ROWS")

    def h_values_update(self, req: Request) -> dict:
        ss = self._spreadsheet(req, write=True)
        option = self._input_option(req.arg("valueInputOption"))
        body = req.json() or {}
        range_text = unquote(req.params["range"])
        if body.get("range") and ss.resolve(body["range"]).a1() != ss.resolve(range_text).a1():
            raise HTTPError(400, f"Requested range [{range_text}] doesn't match the range in the body "
                                 f"[{body['range']}]")
        span, cells, resp = self._plan_write(ss, range_text, body.get("values") or [], body.get("majorDimension"))
        self._write(ss, span.sheet, cells, option)
        ss.touch()
        self._response_values(ss, resp, None, req)
        return resp

    def h_values_batch_update(self, req: Request) -> dict:
        ss = self._spreadsheet(req, write=True)
        body = req.json() or {}
        option = self._input_option(body.get("valueInputOption"))
        data = body.get("data") or []
        if not isinstance(data, list):
            raise HTTPError(400, "Invalid JSON payload received. 'data' must be a list.")
        planned = []
        for n, item in enumerate(data):
            if not isinstance(item, dict) or not item.get("range"):
                raise HTTPError(400, f"Invalid data[{n}]: a range is required")
            planned.append(self._plan_write(ss, item["range"], item.get("values") or [], item.get("majorDimension")))
        sheets_touched, rows, cols, total = set(), set(), set(), 0
        responses = []
        for span, cells, resp in planned:  # every range is valid: now write them all
            self._write(ss, span.sheet, cells, option)
            sheets_touched.add(span.sheet.sheet_id)
            rows.update((span.sheet.sheet_id, r) for r, _c, v in cells if v is not None)
            cols.update((span.sheet.sheet_id, c) for _r, c, v in cells if v is not None)
            total += resp["updatedCells"]
            self._response_values(ss, resp, body, req)
            responses.append(resp)
        if planned:
            ss.touch()
        out: dict[str, Any] = {"spreadsheetId": ss.id}
        if planned:
            out.update({"totalUpdatedRows": len(rows), "totalUpdatedColumns": len(cols), "totalUpdatedCells": total,
                        "totalUpdatedSheets": len(sheets_touched), "responses": responses})
        return out

    def h_values_append(self, req: Request) -> dict:
        ss = self._spreadsheet(req, write=True)
        option = self._input_option(req.arg("valueInputOption"))
        insert = req.arg("insertDataOption") or "OVERWRITE"
        if insert not in ("OVERWRITE", "INSERT_ROWS"):
            raise HTTPError(400, f"Invalid value at 'insert_data_option', \"{insert}\"")
        body = req.json() or {}
        range_text = unquote(req.params["range"])
        span = ss.resolve(range_text)
        sheet = span.sheet
        # the "table": from the range's first row, the rows holding data in the range's columns
        last = None
        for r in range(span.r0, min(len(sheet.grid), sheet.rows)):
            if not sheet.row_blank(r, span.c0, span.c1 if not span.open_cols else None):
                last = r
        at = span.r0 if last is None else last + 1
        table = Span(sheet, span.r0, at, span.c0, span.c1) if last is not None else None
        values = body.get("values") or []
        _span, cells, resp = self._plan_write(ss, range_text, values, body.get("majorDimension"), append_at=at)
        height = len(values) if body.get("majorDimension") != "COLUMNS" else max((len(c) for c in values), default=0)
        if insert == "INSERT_ROWS" and height:
            sheet.insert("ROWS", at, at + height)
        elif at + height > sheet.rows:
            sheet.rows = at + height  # append grows the grid
        width = max((c for _r, c, _v in cells), default=span.c0 - 1) + 1
        if width > sheet.cols:
            sheet.cols = width
        self._write(ss, sheet, cells, option)
        ss.touch()
        self._response_values(ss, resp, None, req)
        out: dict[str, Any] = {"spreadsheetId": ss.id, "updates": resp}
        if table is not None:
            out["tableRange"] = table.a1()
        return out

    def _clear(self, ss: Spreadsheet, span: Span) -> str:
        sheet = span.sheet
        for r in range(span.r0, min(span.r1, len(sheet.grid))):
            row = sheet.grid[r]
            for c in range(span.c0, min(span.c1, len(row))):
                cell = row[c]
                if cell is not None:
                    row[c] = Cell(None, None, cell.fmt, cell.note) if (cell.fmt or cell.note) else None
        bounded = Span(sheet, span.r0, min(span.r1, sheet.rows), span.c0, min(span.c1, sheet.cols))
        return bounded.a1()

    def h_values_clear(self, req: Request) -> dict:
        ss = self._spreadsheet(req, write=True)
        cleared = self._clear(ss, ss.resolve(unquote(req.params["range"])))
        ss.touch()
        return {"spreadsheetId": ss.id, "clearedRange": cleared}

    def h_values_batch_clear(self, req: Request) -> dict:
        ss = self._spreadsheet(req, write=True)
        body = req.json() or {}
        spans = [ss.resolve(r) for r in body.get("ranges") or []]
        cleared = [self._clear(ss, s) for s in spans]
        if spans:
            ss.touch()
        return {"spreadsheetId": ss.id, "clearedRanges": cleared}

    # ---- spreadsheets.batchUpdate ----
    def h_batch_update(self, req: Request) -> dict:
        ss = self._spreadsheet(req, write=True)
        body = req.json() or {}
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            raise HTTPError(400, "Invalid JSON payload received. 'requests' must be a non-empty list.")
        snapshot = ([s.snapshot() for s in ss.sheets], list(ss.sheets), ss.title, ss.locale, ss.time_zone)
        replies = []
        try:
            for n, item in enumerate(requests):
                if not isinstance(item, dict) or len(item) != 1:
                    raise HTTPError(400, f"Invalid requests[{n}]: exactly one kind of request is required")
                kind, spec = next(iter(item.items()))
                handler = getattr(self, f"_bu_{kind}", None)
                if handler is None:
                    raise HTTPError(400, f"Invalid requests[{n}].{kind}: not supported by the sandbox (supported: "
                                         f"{', '.join(sorted(k[4:] for k in dir(self) if k.startswith('_bu_')))})")
                try:
                    replies.append(handler(ss, spec or {}))
                except HTTPError as e:
                    raise HTTPError(400, e.message.replace("Invalid requests", f"Invalid requests[{n}].{kind}", 1)
                                    if e.message.startswith("Invalid requests:") else e.message) from None
        except HTTPError:
            sheet_snaps, sheets, ss.title, ss.locale, ss.time_zone = snapshot
            ss.sheets = sheets
            for sheet, snap in zip(sheets, sheet_snaps):
                sheet.restore(snap)
            ss._reindex()
            raise
        ss.touch()
        out: dict[str, Any] = {"spreadsheetId": ss.id, "replies": replies}
        if body.get("includeSpreadsheetInResponse"):
            req.params = {"id": ss.id}
            out["updatedSpreadsheet"] = self.h_get(req)
        return out

    def _bu_addSheet(self, ss: Spreadsheet, spec: dict) -> dict:
        props = spec.get("properties") or {}
        grid = props.get("gridProperties") or {}
        title = props.get("title") or f"Sheet{len(ss.sheets) + 1}"
        sheet = ss.add_sheet(title, rows=int(grid.get("rowCount", DEFAULT_ROWS)),
                             cols=int(grid.get("columnCount", DEFAULT_COLS)), index=props.get("index"),
                             sheet_id=props.get("sheetId"))
        sheet.frozen_rows = int(grid.get("frozenRowCount", 0))
        return {"addSheet": {"properties": sheet.properties()}}

    def _bu_deleteSheet(self, ss: Spreadsheet, spec: dict) -> dict:
        sheet = ss.sheet_by_id(spec.get("sheetId"))
        if len(ss.sheets) == 1:
            raise HTTPError(400, "Invalid requests: You can't remove all the sheets in a document.")
        ss.sheets.remove(sheet)
        ss._reindex()
        return {}

    def _bu_updateSpreadsheetProperties(self, ss: Spreadsheet, spec: dict) -> dict:
        props, fields = spec.get("properties") or {}, _field_list(spec.get("fields"))
        for name, attr in (("title", "title"), ("locale", "locale"), ("timeZone", "time_zone")):
            if name in fields or "*" in fields:
                if name in props:
                    setattr(ss, attr, props[name])
        return {}

    def _bu_updateSheetProperties(self, ss: Spreadsheet, spec: dict) -> dict:
        props, fields = spec.get("properties") or {}, _field_list(spec.get("fields"))
        sheet = ss.sheet_by_id(props.get("sheetId"))
        if ("title" in fields or "*" in fields) and "title" in props:
            if any(s is not sheet and s.title.lower() == str(props["title"]).lower() for s in ss.sheets):
                raise HTTPError(400, f"Invalid requests: A sheet with the name \"{props['title']}\" already exists.")
            sheet.title = props["title"]
        grid = props.get("gridProperties") or {}
        for name, attr in (("rowCount", "rows"), ("columnCount", "cols"), ("frozenRowCount", "frozen_rows")):
            if f"gridProperties.{name}" in fields or "*" in fields:
                if name in grid:
                    setattr(sheet, attr, int(grid[name]))
        if ("hidden" in fields or "*" in fields) and "hidden" in props:
            sheet.hidden = bool(props["hidden"])
        if "index" in fields and "index" in props:
            ss.sheets.remove(sheet)
            ss.sheets.insert(int(props["index"]), sheet)
            ss._reindex()
        return {}

    @staticmethod
    def _dim_range(ss: Spreadsheet, rng: dict) -> tuple[Sheet, str, int, int]:
        sheet = ss.sheet_by_id(rng.get("sheetId", 0))
        dim = rng.get("dimension")
        if dim not in ("ROWS", "COLUMNS"):
            raise HTTPError(400, "Invalid requests: range.dimension must be ROWS or COLUMNS")
        start, end = int(rng.get("startIndex", 0)), rng.get("endIndex")
        end = int(end) if end is not None else (sheet.rows if dim == "ROWS" else sheet.cols)
        if start < 0 or end <= start:
            raise HTTPError(400, "Invalid requests: range.startIndex must be less than range.endIndex")
        return sheet, dim, start, end

    def _bu_insertDimension(self, ss: Spreadsheet, spec: dict) -> dict:
        sheet, dim, start, end = self._dim_range(ss, spec.get("range") or {})
        sheet.insert(dim, start, end)
        return {}

    def _bu_deleteDimension(self, ss: Spreadsheet, spec: dict) -> dict:
        sheet, dim, start, end = self._dim_range(ss, spec.get("range") or {})
        sheet.delete(dim, start, end)
        return {}

    def _bu_appendDimension(self, ss: Spreadsheet, spec: dict) -> dict:
        sheet = ss.sheet_by_id(spec.get("sheetId", 0))
        n = int(spec.get("length", 0))
        if n <= 0:
            raise HTTPError(400, "Invalid requests: appendDimension.length must be positive")
        if spec.get("dimension") == "ROWS":
            sheet.rows += n
        elif spec.get("dimension") == "COLUMNS":
            sheet.cols += n
        else:
            raise HTTPError(400, "Invalid requests: appendDimension.dimension must be ROWS or COLUMNS")
        if sheet.rows * sheet.cols > MAX_CELLS:
            raise HTTPError(400, f"Invalid requests: This action would increase the number of cells in the workbook "
                                 f"above the limit of {MAX_CELLS} cells.")
        return {}

    def _bu_moveDimension(self, ss: Spreadsheet, spec: dict) -> dict:
        sheet, dim, start, end = self._dim_range(ss, spec.get("source") or {})
        sheet.move(dim, start, end, int(spec.get("destinationIndex", 0)))
        return {}

    def _bu_sortRange(self, ss: Spreadsheet, spec: dict) -> dict:
        rng = spec.get("range") or {}
        sheet = ss.sheet_by_id(rng.get("sheetId", 0))
        r0, r1 = int(rng.get("startRowIndex", 0)), int(rng.get("endRowIndex", sheet.rows))
        c0, c1 = int(rng.get("startColumnIndex", 0)), int(rng.get("endColumnIndex", sheet.cols))
        specs = []
        for s in spec.get("sortSpecs") or []:
            col = int(s.get("dimensionIndex", 0))
            if not c0 <= col < c1:
                raise HTTPError(400, "Invalid requests: sortSpecs.dimensionIndex is outside the range")
            specs.append((col, (s.get("sortOrder") or "ASCENDING") != "DESCENDING"))
        sheet.sort(r0, min(r1, sheet.rows), c0, c1, specs or [(c0, True)])
        return {}

    # ---- Drive ----
    def _drive_file(self, req: Request, file_id: str) -> Spreadsheet:
        ss = self.spreadsheets.get(file_id)
        if ss is None or getattr(req, "account", None) not in ss.shared_with:
            msg = f"File not found: {file_id}."
            raise HTTPError(404, msg, body={"error": {"code": 404, "message": msg, "errors": [
                {"message": msg, "domain": "global", "reason": "notFound", "location": "fileId",
                 "locationType": "parameter"}]}})
        return ss

    def h_drive_file(self, req: Request) -> dict:
        ss = self._drive_file(req, req.params["id"])
        fields = req.arg("fields")
        if not fields:
            fields = "kind,id,name,mimeType"
        try:
            return apply_fields(ss.file_json(), parse_fields(fields))
        except ValueError:
            raise HTTPError(400, f"Invalid field selection {fields}") from None

    def h_drive_list(self, req: Request) -> dict:
        q = req.arg("q") or ""
        name = re.search(r"name\s*=\s*'((?:[^'\\]|\\.)*)'|name\s*=\s*\"((?:[^\"\\]|\\.)*)\"", q)
        wanted = (name.group(1) or name.group(2)) if name else None
        files = [s for s in self.spreadsheets.values() if getattr(req, "account", None) in s.shared_with
                 and (wanted is None or s.title == wanted.replace("\\'", "'").replace('\\"', '"'))]
        fields = req.arg("fields") or "kind,incompleteSearch,files(kind,id,name,mimeType)"
        body = {"kind": "drive#fileList", "incompleteSearch": False, "files": [s.file_json() for s in files]}
        try:
            return apply_fields(body, parse_fields(fields))
        except ValueError:
            raise HTTPError(400, f"Invalid field selection {fields}") from None


def _typed(v: Any) -> dict:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, (int, float)):
        return {"numberValue": v}
    return {"stringValue": "" if v is None else str(v)}


def _field_list(text: Any) -> set[str]:
    return {f.strip() for f in str(text or "").split(",") if f.strip()}


def _oauth_error(error: str, description: str) -> Response:
    return Response(400, {"error": error, "error_description": description})


def _scope_body() -> dict:
    return {"error": {"code": 403, "message": "Request had insufficient authentication scopes.",
                      "status": "PERMISSION_DENIED",
                      "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                   "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT", "domain": "googleapis.com",
                                   "metadata": {"service": "sheets.googleapis.com",
                                                "method": "google.apps.sheets.v4.SpreadsheetsService"}}]}}


def _quota_body(metric: str, limit: str, scope: str, _message: str = "") -> dict:
    per = "user" if scope == "user" else "project"
    return {"error": {
        "code": 429,
        "message": f"Quota exceeded for quota metric '{metric}' and limit '{metric} per minute per {per}' of service "
                   f"'sheets.googleapis.com' for consumer 'project_number:{PROJECT_NUMBER}'.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED",
                     "domain": "googleapis.com",
                     "metadata": {"quota_location": "global", "service": "sheets.googleapis.com",
                                  "quota_metric": f"sheets.googleapis.com/{metric.split()[0].lower()}_requests",
                                  "quota_limit": limit, "quota_limit_value": "60" if per == "user" else "300",
                                  "consumer": f"projects/{PROJECT_NUMBER}"}},
                    {"@type": "type.googleapis.com/google.rpc.Help",
                     "links": [{"description": "Request a higher quota limit.",
                                "url": "https://cloud.google.com/docs/quotas/help/request_increase"}]}]}}
