"""A driver's whole job on a phone-sized headless Chromium, against the app served by gunicorn as in production.

The driver logs in with number and PIN, goes on duty (the phone's position is a fixed, granted one),
gets an offer pushed live when a dispatcher dispatches a booking through the API, accepts it, and
carries the trip through to the fare.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from tests.conftest import app_settings
from tests.support.live_server import flask_command, live_server, show_log_on_failure
from tests.support.office import AZADI, DRIVER_PIN, NEAR_AZADI, VANAK, add_driver, sedan_rule

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent.parent / "test-artifacts"
PHONE = "09121110077"
PICKUP_TEXT = "Azadi Square, south gate"
DROPOFF_TEXT = "Vanak Square"


def seed_office(database_url: str, redis_url: str, folder: Path) -> None:
    """The sedan tariff and one driver with a car and a login, written into the live server's database."""
    from core.app import create_app
    from core.extensions import db

    app = create_app(app_settings(database_url, redis_url, folder))
    with app.app_context():
        sedan_rule()
        add_driver("D77", PHONE)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="module")
def server(request, redis_url, tmp_path_factory):
    # A long offer timeout: no RQ worker runs here, and a slow machine must not lose the offer to the clock.
    env = {"OFFER_TIMEOUT": "120"}
    with (
        live_server(redis_url, users={"dispatcher": "dispatcher"}, extra_env=env) as running,
        show_log_on_failure(request.config, running, Path(__file__)),
    ):
        seed_office(running.env["DATABASE_URL"], redis_url, tmp_path_factory.mktemp("seed"))
        yield running


@pytest.fixture(scope="module")
def dispatcher(server) -> requests.Session:
    """The dispatcher's API client, with a bearer token made by the CLI."""
    token = flask_command(["user", "token", "dispatcher"], server.env).strip()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    return session


def test_a_driver_takes_a_job_from_offer_to_fare_on_a_phone(server, dispatcher, browser, redis_client):
    context = browser.new_context(
        base_url=server.url,
        locale="en-US",
        viewport={"width": 360, "height": 640},
        is_mobile=True,
        has_touch=True,
        geolocation={"latitude": NEAR_AZADI[0], "longitude": NEAR_AZADI[1]},
        permissions=["geolocation"],
    )
    page = context.new_page()
    try:
        page.goto("/driver/")
        expect(page).to_have_url(re.compile(r"/driver/login"))
        page.fill("input[name=phone]", "0912 111 0077")
        page.fill("input[name=pin]", DRIVER_PIN)
        page.locator("main form button[type=submit]").click()
        expect(page).to_have_url(f"{server.url}/driver/")
        expect(page.locator("[data-live-state]")).to_have_class(re.compile(r"\bconnected\b"))
        expect(page.locator("[data-status-label]")).to_have_text("Offline")

        page.click("[data-status=available]")
        expect(page.locator("[data-status-label]")).to_have_text("Available")
        expect(page.locator("[data-status=available]")).to_have_attribute("aria-pressed", "true")
        # The dispatcher can find the driver once the phone's position has reached the server.
        expect(page.locator("[data-gps]")).to_have_attribute("data-gps-state", "sent")

        booking = dispatcher.post(
            f"{server.url}/api/bookings",
            json={
                "phone": "09121234567",
                "pickup": {"lat": AZADI[0], "lon": AZADI[1], "text": PICKUP_TEXT},
                "dropoff": {"lat": VANAK[0], "lon": VANAK[1], "text": DROPOFF_TEXT},
            },
            timeout=10,
        )
        assert booking.status_code == 201, booking.text
        booking_id, quoted = booking.json()["id"], booking.json()["fare"]
        dispatched = dispatcher.post(f"{server.url}/api/bookings/{booking_id}/dispatch", timeout=10)
        assert dispatched.status_code == 200, dispatched.text
        assert dispatched.json()["status"] == "offered"

        offer = page.locator("[data-offer]")
        expect(offer).to_be_visible()
        expect(offer).to_contain_text(PICKUP_TEXT)
        expect(offer).to_contain_text(DROPOFF_TEXT)
        expect(offer.locator("[data-fare]")).to_have_text(f"{quoted:,} rials")
        expect(offer.locator("[data-countdown]")).to_have_text(re.compile(r"^\d+ s to answer$"))
        expect(offer).to_contain_text("min away")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, "the offer is wider than the phone"
        page.screenshot(path=str(ARTIFACTS / "driver-offer-en-360x640.png"))

        offer.locator("[data-accept]").click()
        job = page.locator("[data-job]")
        expect(job.locator("[data-job-status]")).to_have_text("Go to the pickup")
        expect(offer).to_be_hidden()
        expect(page.locator("[data-status-label]")).to_have_text("Busy")
        expect(job.locator("[data-navigate]")).to_have_attribute(
            "href", f"geo:{AZADI[0]},{AZADI[1]}?q={AZADI[0]}%2C{AZADI[1]}"
        )

        job.locator("[data-step=arrived]").click()
        expect(job.locator("[data-job-status]")).to_have_text("Waiting for the passenger")
        expect(job.locator("[data-step=no_show]")).to_be_visible()
        job.locator("[data-step=on_trip]").click()
        expect(job.locator("[data-job-status]")).to_have_text("On the trip")
        expect(job.locator("[data-navigate]")).to_have_attribute("href", re.compile(rf"^geo:{VANAK[0]},{VANAK[1]}"))
        job.locator("[data-step=completed]").click()

        receipt = page.locator("[data-receipt]")
        expect(receipt).to_be_visible()
        final = dispatcher.get(f"{server.url}/api/bookings/{booking_id}", timeout=10).json()
        assert final["status"] == "completed"
        expect(receipt.locator("[data-final-fare]")).to_have_text(f"{final['fare']:,} rials")
        expect(job).to_be_hidden()
        expect(page.locator("[data-status-label]")).to_have_text("Available")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, "the receipt is wider than the phone"
        page.screenshot(path=str(ARTIFACTS / "driver-fare-en-360x640.png"))
    finally:
        context.close()
