"""Google's own ways of saying "not now", through the real gspread and google-auth against the Sheets sandbox.

- An exhausted Sheets quota is a 429 without Retry-After, and the quotas are counted per minute: the hub waits for
  the quota to refill (each wait capped by [retry] max_wait_s), where a quick exponential back-off would give up
  while the quota is still exhausted.
- A throttled or failing token endpoint is waited out as it asks (Retry-After), under the hub's one retry policy,
  not retried three times within a few seconds by google-auth on its own; a hung one is reported as a timeout.
"""

from __future__ import annotations

import json
import sqlite3
import time

import pytest

from hub import cli
from hub.sandbox.run import sheets_section
from tests.sheets.conftest import sheets_server

pytestmark = pytest.mark.slow

TOKEN = "POST /oauth2/v4/token"


@pytest.fixture
def server():
    srv = sheets_server(projects=4)
    yield srv
    srv.stop()


def configure(server, tmp_path, retry: str, timeout_s: float = 5.0):
    path = tmp_path / "config.toml"
    section = (sheets_section(server, path).replace('expect_in = ["jira"]', "expect_in = []")
               .replace('expected_from = ["jira"]', "expected_from = []")
               .replace('mapping = "sheets.toml"\n', f'mapping = "sheets.toml"\ntimeout_s = {timeout_s}\n', 1))
    path.write_text('[hub]\ntimezone = "Europe/London"\n\n[state]\nurl = "state.db"\n' + section
                    + f"\n[retry]\n{retry}\n", encoding="utf-8")
    return path


def sync(path, capsys) -> tuple[int, str, dict]:
    capsys.readouterr()
    code = cli.main(["sync", "--config", str(path)])
    out = capsys.readouterr()
    con = sqlite3.connect(path.parent / "state.db")
    try:
        stats = json.loads(con.execute("SELECT stats FROM runs ORDER BY started DESC LIMIT 1").fetchone()[0] or "{}")
    finally:
        con.close()
    return code, out.out + out.err, stats


def routes(server) -> dict:
    return server.stats.snapshot()["systems"].get("sheets", {}).get("routes", {})


def test_an_exhausted_per_minute_quota_is_waited_for_not_given_up_on(server, tmp_path, capsys):
    app = server.app("sheets")
    app.read_per_user = 1  # one read per window: the second read of the sync is refused ...
    app.quota_window_s = 1.5  # ... until the window has passed (a minute, in Google's terms)
    # back-off alone would wait 0.01 + 0.02 + 0.04 s and give up long before the quota refills
    path = configure(server, tmp_path, "base_s = 0.01\nmax_attempts = 4\nmax_wait_s = 2.0\nmax_total_s = 8.0")
    code, text, stats = sync(path, capsys)
    assert code == 0, text
    assert app.quota_refusals >= 1
    assert 1.5 <= stats["retry_wait_s"] <= 2.0 * app.quota_refusals + 0.1, stats


def test_an_exhausted_quota_gives_up_within_the_budget_and_says_why(server, tmp_path, capsys):
    app = server.app("sheets")
    app.read_per_user = 1
    app.quota_window_s = 600.0
    path = configure(server, tmp_path, "base_s = 0.01\nmax_attempts = 5\nmax_wait_s = 0.5\nmax_total_s = 1.2")
    t0 = time.monotonic()
    code, text, _ = sync(path, capsys)
    assert code == 2 and time.monotonic() - t0 < 4.0, text
    assert "sheets: " in text and "HTTP 429" in text and "per minute" in text and "gave up after" in text, text
    assert "max_wait_s = 0.5" in text, text


def test_a_throttled_token_endpoint_is_waited_out_as_it_asks(server, tmp_path, capsys):
    server.add_fault(system="sheets", method="POST", route="/oauth2/v4/token", status=429, retry_after="1")
    path = configure(server, tmp_path, "base_s = 0.01\nmax_attempts = 4\nmax_wait_s = 2.0\nmax_total_s = 8.0")
    code, text, stats = sync(path, capsys)
    assert code == 0, text
    assert routes(server)[TOKEN] == 2  # refused once, then a token: no extra tries of google-auth's own
    assert 1.0 <= stats["retry_wait_s"] <= 1.2, stats


def test_a_failing_token_endpoint_is_named_with_its_status(server, tmp_path, capsys):
    server.add_fault(system="sheets", method="POST", route="/oauth2/v4/token", status=503, times=None)
    path = configure(server, tmp_path, "base_s = 0.01\nmax_attempts = 3\nmax_wait_s = 0.1\nmax_total_s = 2.0")
    code, text, _ = sync(path, capsys)
    assert code == 2, text
    assert "getting an access token for the service account: HTTP 503" in text and "gave up after 3 tries" in text
    assert routes(server)[TOKEN] == 3  # one per try of the hub's policy


def test_a_hung_token_endpoint_is_reported_as_a_timeout(server, tmp_path, capsys):
    server.add_fault(system="sheets", method="POST", route="/oauth2/v4/token", kind="timeout", delay_s=1.0,
                     times=None)
    path = configure(server, tmp_path, "base_s = 0.01\nmax_attempts = 2\nmax_wait_s = 0.1\nmax_total_s = 2.0",
                     timeout_s=0.3)
    code, text, _ = sync(path, capsys)
    assert code == 2, text
    assert "getting an access token: ReadTimeout" in text, text
