"""Fixtures for the operations tests: state URLs for both backends.

PostgreSQL tests use the server named by PMO_HUB_TEST_PG_URL (default postgresql://postgres@127.0.0.1:5432/test).
Each test gets a schema of its own (selected through the URL's search_path), dropped afterwards. When the server
is not reachable the PostgreSQL tests are skipped with the reason; when it is, they always run.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import quote

import pytest

PG_URL = os.environ.get("PMO_HUB_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _admin():
    psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (pip install -e '.[test]')")
    try:
        return psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as e:
        pytest.skip(f"PostgreSQL is not reachable at {PG_URL} (set PMO_HUB_TEST_PG_URL): {str(e).strip()}")


def schema_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture
def pg_url():
    """A postgresql:// URL whose search_path is a fresh schema, dropped after the test."""
    admin = _admin()
    schema = f"pmo_hub_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema_url(schema)
    finally:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request, tmp_path):
    """The same test on both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return request.getfixturevalue("pg_url")
