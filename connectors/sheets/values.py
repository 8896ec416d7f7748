"""Reading cell values the way the people who typed them meant them: numbers and dates per locale, A1 helpers.

The connector reads cells with valueRenderOption=UNFORMATTED_VALUE, so typed numbers arrive as numbers and
typed dates as serial numbers (days since 1899-12-30). What arrives as text was typed or pasted as text, and is
read for the spreadsheet's locale: "1.234,50" and "03.11.2026" in de_DE, "1,234.50" and "11/3/2026" in en_US,
"03/11/2026" in en_GB. ISO dates (2026-11-03) are accepted everywhere. Anything else is not guessed: the parsers
return None and the caller records an `invalid` entry naming the cell.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, timedelta

SERIAL_EPOCH = date(1899, 12, 30)
_MONTHS = {m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                           "nov", "dec"))}
_MONTHS.update({"mär": 3, "mrz": 3, "mai": 5, "okt": 10, "dez": 12, "janv": 1, "févr": 2, "mars": 3, "avr": 4,
                "juin": 6, "juil": 7, "août": 8, "déc": 12})


@dataclass(frozen=True)
class Locale:
    """How one spreadsheet locale writes numbers and dates."""

    name: str
    decimal: str
    groups: tuple[str, ...]  # thousands separators people use in this locale
    day_first: bool  # 03/11/2026 is 3 November (True) or March 11 (False)
    date_example: str  # for messages: what a valid date looks like

    @property
    def number_example(self) -> str:
        return f"1{self.groups[0]}234{self.decimal}50"


_NBSP = ("\u00a0", "\u202f")
LOCALES: dict[str, Locale] = {
    "en_US": Locale("en_US", ".", (",",), False, "11/3/2026"),
    "en_CA": Locale("en_CA", ".", (",",), False, "11/3/2026"),
    "en_GB": Locale("en_GB", ".", (",",), True, "03/11/2026"),
    "en_IE": Locale("en_IE", ".", (",",), True, "03/11/2026"),
    "en_AU": Locale("en_AU", ".", (",",), True, "3/11/2026"),
    "en_NZ": Locale("en_NZ", ".", (",",), True, "3/11/2026"),
    "en_IN": Locale("en_IN", ".", (",",), True, "03/11/2026"),
    "de_DE": Locale("de_DE", ",", (".", " ", *_NBSP), True, "03.11.2026"),
    "de_AT": Locale("de_AT", ",", (".", " ", *_NBSP), True, "03.11.2026"),
    "de_CH": Locale("de_CH", ".", ("'", "’", " "), True, "03.11.2026"),
    "fr_FR": Locale("fr_FR", ",", ("\u202f", "\u00a0", " ", "."), True, "03/11/2026"),
    "fr_BE": Locale("fr_BE", ",", ("\u202f", "\u00a0", " ", "."), True, "03/11/2026"),
    "fr_CH": Locale("fr_CH", ".", ("'", "’", " "), True, "03.11.2026"),
    "nl_NL": Locale("nl_NL", ",", (".", " "), True, "3-11-2026"),
    "nl_BE": Locale("nl_BE", ",", (".", " "), True, "3/11/2026"),
    "es_ES": Locale("es_ES", ",", (".", " "), True, "3/11/2026"),
    "it_IT": Locale("it_IT", ",", (".", " "), True, "3/11/2026"),
    "pt_BR": Locale("pt_BR", ",", (".", " "), True, "03/11/2026"),
    "pt_PT": Locale("pt_PT", ",", (" ", *_NBSP, "."), True, "03/11/2026"),
    "pl_PL": Locale("pl_PL", ",", (" ", *_NBSP, "."), True, "3.11.2026"),
    "sv_SE": Locale("sv_SE", ",", (" ", *_NBSP), True, "2026-11-03"),
    "da_DK": Locale("da_DK", ",", (".", " "), True, "03.11.2026"),
    "nb_NO": Locale("nb_NO", ",", (" ", *_NBSP, "."), True, "03.11.2026"),
    "fi_FI": Locale("fi_FI", ",", (" ", *_NBSP), True, "3.11.2026"),
}
_COMMA_DECIMAL_LANGUAGES = {"de", "fr", "nl", "es", "it", "pt", "pl", "sv", "da", "nb", "nn", "fi", "cs", "sk", "ru",
                            "tr", "el", "hu", "ro", "id", "uk", "hr", "sl", "bg", "lt", "lv", "et"}


def locale_for(name: str | None) -> tuple[Locale, bool]:
    """(the Locale for a Sheets locale name like "de_DE", whether it is known). Unknown names get a locale from
    their language (decimal comma or point), so text numbers still read; the caller should say so."""
    if name and name in LOCALES:
        return LOCALES[name], True
    lang = (name or "en").split("_")[0].lower()
    if lang in _COMMA_DECIMAL_LANGUAGES:
        return Locale(name or lang, ",", (".", " ", *_NBSP), True, "03.11.2026"), False
    return Locale(name or "en_US", ".", (",",), lang != "en", "11/3/2026"), False


_CURRENCY = re.compile(r"(€|\$|£|¥|₹|CHF|EUR|USD|GBP|Fr\.)", re.I)


def parse_number(value: object, loc: Locale) -> float | None:
    """A cell as a number: numbers as they are, text per the locale ("1.234,50", "12 %", "€ 1.234"); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    s = value.strip()
    if not s:
        return None
    negative = False
    if s.startswith("(") and s.endswith(")"):
        negative, s = True, s[1:-1].strip()
    s = _CURRENCY.sub("", s).strip()
    percent = s.endswith("%")
    if percent:
        s = s[:-1].strip()
    if s[:1] in ("-", "−", "+"):
        negative = negative or s[0] != "+"
        s = s[1:].strip()
    if s.endswith("-"):  # "1.234,50-" (accounting)
        negative, s = True, s[:-1].strip()
    groups = "|".join(re.escape(g) for g in loc.groups)
    m = re.fullmatch(rf"(\d{{1,3}}(?:(?:{groups})\d{{3}})+|\d+)(?:{re.escape(loc.decimal)}(\d+))?", s)
    if not m:
        if re.fullmatch(rf"{re.escape(loc.decimal)}\d+", s):  # ",5"
            m = re.fullmatch(rf"()(?:{re.escape(loc.decimal)}(\d+))", s)
        if not m:
            return None
    whole = re.sub(groups, "", m.group(1)) if m.group(1) else "0"
    number = float(whole + ("." + m.group(2) if m.group(2) else ""))
    if not math.isfinite(number):  # more digits than a float holds: not a figure anyone meant
        return None
    if percent:
        number /= 100
    return -number if negative else number


def parse_date(value: object, loc: Locale) -> date | None:
    """A cell as a date: serial numbers, ISO text, or text in the locale's day/month order; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        if not 1 <= value < 2958466:  # 1899-12-31 .. 9999-12-31
            return None
        return SERIAL_EPOCH + timedelta(days=int(value))
    if not isinstance(value, str):
        return None
    s = value.strip()
    if not s:
        return None
    m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ][\d:.]+Z?)?", s)
    if m:
        return _date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    m = re.fullmatch(r"(\d{1,2})\s*([./-])\s*(\d{1,2})\s*\2\s*(\d{4}|\d{2})", s)
    if m:
        a, b, y = int(m.group(1)), int(m.group(3)), _year(m.group(4))
        return _date(y, b, a) if loc.day_first else _date(y, a, b)
    m = re.fullmatch(r"(\d{1,2})\.?[\s-]*([A-Za-zäéû]{3,5})\.?[\s-]*(\d{4}|\d{2})", s)  # 3 Nov 2026, 03-Nov-26
    if m and m.group(2).lower()[:4] in _MONTHS or m and m.group(2).lower()[:3] in _MONTHS:
        month = _MONTHS.get(m.group(2).lower()[:4]) or _MONTHS[m.group(2).lower()[:3]]
        return _date(_year(m.group(3)), month, int(m.group(1)))
    m = re.fullmatch(r"([A-Za-z]{3})[a-z]*\.?\s+(\d{1,2}),?\s+(\d{4})", s)  # Nov 3, 2026
    if m and m.group(1).lower() in _MONTHS:
        return _date(int(m.group(3)), _MONTHS[m.group(1).lower()], int(m.group(2)))
    return None


def _year(text: str) -> int:
    y = int(text)
    return y + 2000 if y < 100 else y


def _date(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


# ---- A1 notation ------------------------------------------------------------------------------------------
def col_letter(index: int) -> str:
    """0 -> "A", 25 -> "Z", 26 -> "AA"."""
    out = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


def quote_tab(title: str) -> str:
    """A tab title for A1 notation: always quoted ('RAID Log', 'It''s'), which Sheets accepts for every title."""
    return "'" + title.replace("'", "''") + "'"


def norm_header(text: object) -> str:
    """A header cell compared the way people read it: case, surrounding and repeated whitespace ignored."""
    if text is None:
        return ""
    return " ".join(str(text).split()).casefold()
