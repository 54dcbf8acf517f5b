"""An agent books from a subscriber's page in headless Chromium, against the app served by gunicorn.

The office (Tehran's zones, the sedan tariff) and one subscriber with two saved addresses are written
into the live server's database before the browser arrives, as ``tests/conftest.py`` builds them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine, text

from tests.conftest import app_settings
from tests.support.browser import log_in
from tests.support.live_server import live_server, show_log_on_failure
from tests.support.office import AZADI, VANAK

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
ASCII_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹", "0123456789")


def seed_office(database_url: str, redis_url: str, instance: Path) -> dict:
    """The zones, the sedan tariff and Sara with home (Azadi) and work (Vanak), written by the app itself."""
    from core.app import create_app
    from core.extensions import db
    from crm.services import add_address, create_subscriber
    from demo.places import airport_zone, load_districts, load_places
    from geo.models import Zone
    from tests.support.office import sedan_rule

    app = create_app(app_settings(database_url, redis_url, instance))
    with app.app_context():
        shapes = [*load_districts(), airport_zone(load_places())]
        db.session.add_all(Zone(code=s.code, name_fa=s.name_fa, name_en=s.name_en, boundary=s.boundary) for s in shapes)
        sedan_rule()
        sara = create_subscriber("سارا رحیمی", ["09123456789"], "IR")
        home = add_address(sara, label="خانه", text="میدان آزادی", lat=AZADI[0], lon=AZADI[1])
        add_address(sara, label="کار", text="میدان ونک", lat=VANAK[0], lon=VANAK[1])
        db.session.commit()
        seeded = {"subscriber_id": sara.id, "home_id": home.id}
        db.session.remove()
        db.engine.dispose()
    return seeded


@pytest.fixture(scope="module")
def office(request, redis_url, tmp_path_factory):
    with (
        live_server(redis_url, users={"agent": "agent"}, password=PASSWORD) as running,
        show_log_on_failure(request.config, running, Path(__file__)),
    ):
        seeded = seed_office(running.env["DATABASE_URL"], redis_url, tmp_path_factory.mktemp("seed"))
        yield running, seeded


def stored_bookings(server) -> list[dict]:
    engine = create_engine(server.env["DATABASE_URL"])
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT id, status, subscriber_id, pickup_address_id, dropoff_text, notes, fare, created_by_id "
                "FROM bookings ORDER BY id"
            )
        )
        found = [dict(row._mapping) for row in rows]
    engine.dispose()
    return found


def test_agent_books_from_a_saved_address_and_sees_the_number_then_a_refusal(office, browser):
    server, seeded = office
    context = browser.new_context(base_url=server.url, locale="fa-IR", viewport={"width": 1366, "height": 768})
    page = context.new_page()
    script_errors = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    try:
        log_in(page, "agent", PASSWORD)
        expect(page).to_have_url(f"{server.url}/console/")
        page.goto(f"/console/subscribers/{seeded['subscriber_id']}")
        expect(page.locator("[data-trips] li")).to_have_class("empty")
        form = page.locator("[data-booking-form]")
        pickup, dropoff = form.locator("#booking-pickup"), form.locator("#booking-dropoff")
        dropoff_search = form.locator("[data-stop=dropoff] [data-stop-search]")

        # "Book from here" on the home address fills the pickup and puts the cursor on the dropoff search.
        page.locator(f"[data-address-id='{seeded['home_id']}'] [data-book-from]").click()
        expect(pickup).to_have_value(f"a:{seeded['home_id']}")
        expect(dropoff_search).to_be_focused()
        expect(form.locator("[data-quote-state]")).to_have_text(re.compile(r"\S"))

        # The dropoff from the place search (the gazetteer), taken with Enter as a typist does.
        page.keyboard.type("تجريش")  # Arabic yeh, as often typed
        expect(form.locator("[data-stop=dropoff] [data-stop-results] button").first).to_be_visible()
        dropoff_search.press("Enter")
        expect(dropoff).to_have_value("p")
        expect(dropoff.locator("option:checked")).to_contain_text("تجریش")

        # The live quote with its breakdown, in Persian digits.
        fare = form.locator("[data-quote-fare]")
        expect(fare).to_have_text(re.compile("[۰-۹]"))
        expect(form.locator("[data-quote-lines] tr")).not_to_have_count(0)
        quoted = int(re.sub("[^0-9]", "", fare.inner_text().translate(ASCII_DIGITS)))

        form.locator("#booking-notes").fill("چمدان دارد")
        with page.expect_response(lambda r: r.url.endswith("/api/bookings") and r.request.method == "POST") as sent:
            form.locator("#booking-notes").press("Enter")  # Enter books
        assert sent.value.status == 201, sent.value.text()

        [booking] = stored_bookings(server)
        number = form.locator("[data-booking-number]")
        expect(number).to_have_attribute("data-booking-number", str(booking["id"]))
        expect(number).to_have_text(re.compile(str(booking["id"]).translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))))
        assert booking["status"] == "requested" and booking["subscriber_id"] == seeded["subscriber_id"]
        assert booking["pickup_address_id"] == seeded["home_id"] and booking["dropoff_text"] == "تجریش"
        assert booking["notes"] == "چمدان دارد" and booking["fare"] == quoted
        # The record's recent trips show the new booking without the agent reloading.
        expect(page.locator("[data-trips]")).to_contain_text("تجریش")
        # The form is ready for the next trip.
        expect(pickup).to_have_value("")
        expect(fare).to_have_text("—")

        # A dropoff equal to the pickup: no fare, and Book puts the API's refusal next to the dropoff.
        page.locator(f"[data-address-id='{seeded['home_id']}'] [data-book-from]").click()
        with page.expect_response(lambda r: r.url.endswith("/api/quotes")) as quoted_again:
            dropoff.select_option(f"a:{seeded['home_id']}")
        assert quoted_again.value.status == 400
        expect(fare).to_have_text("—")
        dropoff_error = form.locator("[data-field=dropoff] [data-error]")
        expect(dropoff_error).to_be_hidden()
        with page.expect_response(lambda r: r.url.endswith("/api/bookings") and r.request.method == "POST") as sent:
            form.locator("[data-book]").click()
        assert sent.value.status == 400 and "dropoff" in sent.value.json()["error"]["fields"]
        expect(dropoff_error).to_be_visible()
        expect(dropoff_error).to_have_text(re.compile(r"\S"))
        expect(dropoff).to_have_attribute("aria-invalid", "true")
        expect(dropoff).to_be_focused()
        expect(form.locator("[data-field=pickup] [data-error]")).to_be_hidden()
        assert len(stored_bookings(server)) == 1

        # Nothing wider than a desk screen or a tablet.
        assert page.evaluate("document.documentElement.scrollWidth") <= 1366
        page.set_viewport_size({"width": 820, "height": 1180})
        assert page.evaluate("document.documentElement.scrollWidth") <= 820
        assert script_errors == []
    finally:
        context.close()
