"""Fixtures of the standards-engine tests (builders live in builders.py)."""

from __future__ import annotations

import pytest

from hub.model import Portfolio

from .builders import good_portfolio


@pytest.fixture
def pf() -> Portfolio:
    """A one-project portfolio that every catalog rule finds ok or skip."""
    return good_portfolio()
