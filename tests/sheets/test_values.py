"""Reading cells as people wrote them: numbers and dates per spreadsheet locale, A1 quoting, header matching."""

from __future__ import annotations

from datetime import date

import pytest

from connectors.sheets.values import (
    LOCALES, col_letter, locale_for, norm_header, parse_date, parse_number, quote_tab,
)

DE, GB, US, CH, FR = (LOCALES[n] for n in ("de_DE", "en_GB", "en_US", "de_CH", "fr_FR"))


@pytest.mark.parametrize("text,loc,expected", [
    ("1.234,50", DE, 1234.5), ("1.234.500,00 €", DE, 1234500.0), ("1234,5", DE, 1234.5), ("-1.000", DE, -1000.0),
    ("(1.000,00)", DE, -1000.0), ("12 %", DE, 0.12), (",5", DE, 0.5), ("1 234,50", DE, 1234.5),
    ("1,234.50", US, 1234.5), ("$1,234.50", US, 1234.5), ("£1,234", GB, 1234.0), ("12.5%", GB, 0.125),
    ("1'234.50", CH, 1234.5), ("CHF 1'234.50", CH, 1234.5), ("1\u202f234,50", FR, 1234.5),
    (1234.5, DE, 1234.5), (3, US, 3.0),
])
def test_numbers_read_for_the_locale(text, loc, expected):
    assert parse_number(text, loc) == pytest.approx(expected)


@pytest.mark.parametrize("text,loc", [
    ("1.2.3", DE), ("1.2.3", US), ("1,234.50", DE), ("1.234,50", US), ("12,34,5", US), ("abc", DE), ("", DE),
    (True, DE), ("1,5", US),
])
def test_malformed_numbers_are_not_guessed(text, loc):
    assert parse_number(text, loc) is None


@pytest.mark.parametrize("value,loc,expected", [
    ("03.11.2026", DE, date(2026, 11, 3)), ("03/11/2026", GB, date(2026, 11, 3)), ("11/3/2026", US, date(2026, 11, 3)),
    ("3.11.26", DE, date(2026, 11, 3)), ("2026-11-03", US, date(2026, 11, 3)), ("2026-11-03", DE, date(2026, 11, 3)),
    ("3 Nov 2026", GB, date(2026, 11, 3)), ("Nov 3, 2026", US, date(2026, 11, 3)), ("03-Nov-26", GB, date(2026, 11, 3)),
    (46329, DE, date(2026, 11, 3)), (46329.75, US, date(2026, 11, 3)),
])
def test_dates_read_for_the_locale(value, loc, expected):
    assert parse_date(value, loc) == expected


@pytest.mark.parametrize("value,loc", [("31.02.2026", DE), ("13/13/2026", GB), ("soon", US), ("", DE), (0, DE),
                                       ("2026-02-30", US), (True, DE)])
def test_malformed_dates_are_not_guessed(value, loc):
    assert parse_date(value, loc) is None


def test_unknown_locale_falls_back_by_language():
    loc, known = locale_for("cs_CZ")
    assert not known and loc.decimal == "," and parse_number("1.234,5", loc) == 1234.5
    loc, known = locale_for("en_ZA")
    assert not known and loc.decimal == "."
    assert locale_for("de_DE") == (DE, True)


def test_a1_helpers():
    assert [col_letter(i) for i in (0, 25, 26, 701, 702)] == ["A", "Z", "AA", "ZZ", "AAA"]
    assert quote_tab("RAID Log") == "'RAID Log'" and quote_tab("It's") == "'It''s'"
    assert norm_header("  PMO   Compliance\n") == norm_header("pmo compliance") == "pmo compliance"
