"""A dispatcher at the live board, in headless Chromium against gunicorn with Redis as Socket.IO's queue.

A booking taken through the API (as an agent's console does) appears on the board without a reload;
the dispatcher assigns it to a driver from the board, and it moves to the active trips.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect
from redis import Redis

from tests.support.browser import log_in
from tests.support.live_server import (
    DEFAULT_PASSWORD,
    VENV_BIN,
    flask_command,
    live_server,
    show_log_on_failure,
)
from tests.support.office import AZADI, NEAR_AZADI

pytestmark = pytest.mark.browser
ROOT = Path(__file__).parent.parent
VIEWPORT = {"width": 1366, "height": 768}


@pytest.fixture(scope="module")
def server(request, redis_url):
    # A Redis database of its own, emptied: positions other tests left for "driver 1" must not show up here.
    own_url = redis_url.rsplit("/", 1)[0] + "/5"
    Redis.from_url(own_url).flushdb()
    users = {"dana": "dispatcher", "ana": "agent"}
    with live_server(own_url, users=users) as running, show_log_on_failure(request.config, running, Path(__file__)):
        yield running


def bearer(server, username: str) -> dict:
    token = flask_command(["user", "token", username], server.env).strip().splitlines()[-1]
    return {"Authorization": f"Bearer {token}"}


def api(server, method: str, path: str, headers: dict, body: dict, expected: int) -> dict:
    response = requests.request(method, server.url + path, json=body, headers=headers, timeout=10)
    assert response.status_code == expected, response.text
    return response.json()


def push_positions(server) -> None:
    """Run the board's positions job once in a process of its own, as `rq cron` would, against the server's Redis."""
    script = "from dispatch.board_tasks import push_driver_positions\nprint(push_driver_positions())\n"
    result = subprocess.run(
        [str(VENV_BIN / "python"), "-c", script], cwd=ROOT, env=server.env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_new_booking_appears_live_and_is_assigned_from_the_board(server, browser):
    context = browser.new_context(base_url=server.url, locale="fa-IR", viewport=VIEWPORT)
    page = context.new_page()
    # A script error or a refused resource (the CSP) would show here before anywhere else.
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    try:
        log_in(page, "dana", DEFAULT_PASSWORD)
        page.goto("/dispatch/")
        expect(page.locator("html")).to_have_attribute("dir", "rtl")
        expect(page.locator("[data-live-state]")).to_have_class(re.compile(r"\bconnected\b"))
        expect(page.locator("[data-list='waiting'] [data-booking-id]")).to_have_count(0)

        # A driver comes on duty near Azadi Square; the board hears of it, and of the position on the next push.
        dispatcher, agent = bearer(server, "dana"), bearer(server, "ana")
        vehicle = {"plate": "77-IR", "make_model": "Peugeot 405", "colour": "white", "vehicle_class": "sedan"}
        driver = {"call_sign": "T77", "name": "Reza", "phone": "09121230077", "pin": "4821", "vehicle": vehicle}
        driver_id = api(server, "POST", "/api/drivers", dispatcher, driver, 201)["id"]
        api(server, "POST", f"/api/drivers/{driver_id}/status", dispatcher, {"status": "available"}, 200)
        api(
            server,
            "POST",
            f"/api/drivers/{driver_id}/location",
            dispatcher,
            {"lat": NEAR_AZADI[0], "lon": NEAR_AZADI[1]},
            200,
        )
        # Known at once, but "not heard from" until the positions push places them on the map.
        expect(page.locator("[data-tally='stale']")).to_have_text("۱")
        push_positions(server)
        expect(page.locator("[data-tally='available']")).to_have_text("۱")
        expect(page.locator(f".driver-{driver_id}")).to_have_attribute("data-state", "available")

        # An agent books a car through the API: the job appears among the waiting ones, no reload.
        pickup = {"lat": AZADI[0], "lon": AZADI[1], "text": "میدان آزادی، ضلع شمالی"}
        booking = api(server, "POST", "/api/bookings", agent, {"phone": "09121234567", "pickup": pickup}, 201)
        waiting = page.locator(f"[data-list='waiting'] [data-booking-id='{booking['id']}']")
        expect(waiting).to_contain_text("میدان آزادی، ضلع شمالی")

        # The dispatcher gives it to T77 (the nearest, so offered first) from the board.
        waiting.locator("[data-action='assign']").click()
        dialog = page.locator("[data-assign-dialog]")
        expect(dialog).to_be_visible()
        expect(dialog.locator("select option").first).to_have_attribute("data-call-sign", "T77")
        dialog.locator("select").select_option(str(driver_id))
        dialog.locator("button[type=submit]").click()
        expect(dialog).to_be_hidden()

        active = page.locator(f"[data-list='active'] [data-booking-id='{booking['id']}']")
        expect(active).to_contain_text("T77")
        expect(active).to_have_attribute("data-status", "assigned")
        expect(waiting).to_have_count(0)
        expect(page.locator(f".driver-{driver_id}")).to_have_attribute("data-state", "busy")

        # A desk screen shows it all without sideways scrolling.
        assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]
        page.screenshot(path=str(ROOT / "test-artifacts" / "board-fa-1366x768.png"))
        assert problems == []
    finally:
        context.close()
