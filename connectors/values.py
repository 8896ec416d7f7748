"""Values every connector reads and compares the same way: RAG words, yes/no words, written-value equality.

Source-specific parsing (Jira's field shapes, a spreadsheet's locale, SharePoint column types) stays in each
connector; what a RAG or a yes/no word means, and when a value read back equals the one the hub wrote, is the
same everywhere and lives here.
"""

from __future__ import annotations

from typing import Any

_RAG = {"green": "green", "g": "green", "grün": "green", "gruen": "green", "vert": "green",
        "amber": "amber", "a": "amber", "yellow": "amber", "gelb": "amber", "orange": "amber",
        "red": "red", "r": "red", "rot": "red", "rouge": "red"}
YES = frozenset({"yes", "y", "true", "x", "1", "ja", "oui", "si", "sí", "escalated", "wahr", "vrai"})
NO = frozenset({"no", "n", "false", "0", "nein", "non", "falsch", "faux", "-"})


def rag_word(text: str) -> str | None:
    """"Green"/"G"/"🟢 green"/"Gelb"/"Yellow"/... -> "green", "amber" or "red"; None when it is no RAG word."""
    return _RAG.get(text.strip().lower().strip("🟢🟡🔴 "))


def yes_no(value: Any) -> bool | None:
    """A boolean, or a yes/no word in English, German, French or Spanish; None when it is neither."""
    if isinstance(value, bool):
        return value
    s = str(value).strip().lower()
    return True if s in YES else False if s in NO else None


def same(a: Any, b: Any) -> bool:
    """Whether a value read from a source equals one the hub wrote (numbers compared as numbers)."""
    if a is None or b is None:
        return a is None and b is None
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a) == str(b)
