"""A supervisor at the wallboard and the reports, in headless Chromium against gunicorn with Redis as
Socket.IO's queue: a call joins the queue, the floor job runs in a process of its own (as `rq cron` runs it),
and the wall screen shows the waiting call without a reload; a report draws its chart and its map."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support.browser import log_in
from tests.support.live_server import DEFAULT_PASSWORD, VENV_BIN, live_server, show_log_on_failure

pytestmark = pytest.mark.browser
ROOT = Path(__file__).parent.parent

QUEUE_A_CALL = """
from datetime import timedelta
from core.app import create_app
from core.extensions import db
from core.models import utcnow
from calls.models import Call
app = create_app()
with app.app_context():
    db.session.add(Call(provider_sid="CAwall1", from_number="+989121234567", status="queued",
                        queued_at=utcnow() - timedelta(seconds=90)))
    db.session.commit()
"""
PUSH_FLOOR = "from supervisors.live import push_floor\nprint(push_floor())\n"


@pytest.fixture(scope="module")
def server(request, redis_url):
    with (
        # Red only after an hour: the waiting call's level then does not depend on how slow this machine is.
        live_server(
            redis_url, users={"sara": "supervisor"}, extra_env={"WALLBOARD_THRESHOLDS": "longest_wait=60/3600"}
        ) as running,
        show_log_on_failure(request.config, running, Path(__file__)),
    ):
        yield running


def run(server, script: str) -> str:
    """Run a script against the server's database and Redis in a process of its own."""
    result = subprocess.run(
        [str(VENV_BIN / "python"), "-c", script], cwd=ROOT, env=server.env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_the_wallboard_shows_a_waiting_call_pushed_by_the_floor_job(server, browser):
    context = browser.new_context(base_url=server.url, locale="en-US", viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    try:
        log_in(page, "sara", DEFAULT_PASSWORD)
        page.goto("/supervisor/")
        expect(page.locator("[data-live-state]")).to_have_class(re.compile(r"\bconnected\b"))
        count = page.locator("[data-figure='waiting.count']")
        expect(count).to_have_text("0")

        run(server, QUEUE_A_CALL)
        assert run(server, PUSH_FLOOR).strip() == "1"
        expect(count).to_have_text("1")
        # The longest wait ticks on the page itself from the call's queue time (90 s ago): past the amber mark.
        longest = page.locator("[data-longest-wait]")
        expect(longest).to_have_attribute("data-level", "amber")
        expect(longest).to_have_text(re.compile(r"^(9\d|[1-9]\d{2,})$"))
        assert problems == []
    finally:
        context.close()


def test_a_report_draws_its_map_and_the_reports_list_links_it(server, browser):
    context = browser.new_context(base_url=server.url, locale="fa-IR")
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    try:
        log_in(page, "sara", DEFAULT_PASSWORD)
        page.goto("/supervisor/reports")
        page.locator("[data-reports] a[href$='/reports/zones']").click()
        expect(page.locator("[data-report-map]")).to_have_attribute("data-drawn", re.compile(r"^\d+$"))
        expect(page.locator("[data-report-table]")).to_be_visible()
        assert problems == []
    finally:
        context.close()
