"""Fixtures for the sandbox tests: a shared, read-mostly Jira sandbox and fresh ones for tests that
reconfigure the server (rate limits, faults, search lag) or count requests."""

from __future__ import annotations

import pytest
import requests
from jira import JIRA

from hub.sandbox.app import start_sandbox
from hub.sandbox.jira import BOT_EMAIL


@pytest.fixture(scope="session")
def sandbox():
    server = start_sandbox(projects=12, items_per_project=30)
    yield server
    server.stop()


@pytest.fixture
def fresh_sandbox():
    server = start_sandbox(projects=4, items_per_project=10)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def jira_app(sandbox):
    return sandbox.app("jira")


@pytest.fixture(scope="session")
def bot_auth(jira_app):
    return (BOT_EMAIL, jira_app.token_for(BOT_EMAIL))


def client_for(server, email: str | None = None, version: str = "3") -> JIRA:
    app = server.app("jira")
    email = email or BOT_EMAIL
    return JIRA(server=server.url, basic_auth=(email, app.token_for(email)),
                options={"rest_api_version": version}, max_retries=0)


def session_for(server, email: str | None = None) -> requests.Session:
    app = server.app("jira")
    email = email or BOT_EMAIL
    s = requests.Session()
    s.auth = (email, app.token_for(email))
    return s


@pytest.fixture(scope="session")
def jira(sandbox):
    return client_for(sandbox)


@pytest.fixture(scope="session")
def http(sandbox):
    return session_for(sandbox)
