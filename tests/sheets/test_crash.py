"""Crash safety of the batched write-back: every op is journalled as intended before the one batch request; a
run that dies after the batch landed is completed by the next run without writing again, and one that dies
before it is re-planned and written once."""

from __future__ import annotations

from collections import Counter

import pytest

from connectors.sheets.connector import SheetsConnector
from hub import writeback


class Killed(BaseException):
    """Stands in for SIGKILL: not an Exception, so nothing on the way up handles it."""


def test_killed_after_the_batch_landed_is_recovered_without_writing(sheets_hub, monkeypatch):
    hub = sheets_hub

    def die(*_a, **_k):
        raise Killed()

    monkeypatch.setattr(writeback, "_settle", die)  # the batch is written, then the process dies
    with pytest.raises(Killed):
        hub.sync()
    assert hub.stats()["writes"] == 2  # the tab was created and the values written
    state = hub.state()
    try:
        pending = state.journal_pending("sheets")
        assert len(pending) == len(hub.app.seed_info["register_rows"]) + 1
        assert all("rows" not in e.payload for e in pending)  # the journal keeps the digest, not the table
    finally:
        state.close()
    monkeypatch.undo()
    hub.server.stats.reset()
    out = hub.sync()
    assert hub.stats()["writes"] == 0 and not out.plan.ops
    state = hub.state()
    try:
        assert state.journal_pending() == []
        outcomes = Counter(r["outcome"] for r in state.audit_rows() if r["system"] == "sheets")
        assert outcomes["recovered"] == 3 * len(hub.app.seed_info["register_rows"]) + 1
    finally:
        state.close()


def test_killed_before_the_batch_is_replanned_and_written_once(sheets_hub, monkeypatch):
    hub = sheets_hub

    def die(self, ops):
        raise Killed()

    monkeypatch.setattr(SheetsConnector, "apply_batch", die)
    with pytest.raises(Killed):
        hub.sync()
    assert hub.stats()["writes"] == 0
    monkeypatch.undo()
    out = hub.sync()
    assert out.outcome == "ok" and hub.stats()["writes"] == 2
    state = hub.state()
    try:
        assert state.journal_pending() == []
        assert Counter(r["outcome"] for r in state.audit_rows())["recovered"] == 0
    finally:
        state.close()
    hub.server.stats.reset()
    assert not hub.sync().plan.ops and hub.stats()["writes"] == 0
