"""The driver's page: login by number and PIN, its guard, and the live channel that rings a driver's phone."""

from __future__ import annotations

import contextvars
import re

import pytest
from sqlalchemy import select

from accounts.models import LoginAttempt, User
from core.extensions import db, socketio
from core.models import utcnow
from core.signals import commit_and_announce
from dispatch.bookings import Stop, create_booking
from dispatch.offers import offer_job
from dispatch.trips import cancel_booking
from driver_app.live import NAMESPACE
from tests.conftest import IsolatedClient, csrf_token_of
from tests.support.office import AZADI, DRIVER_PIN, NEAR_AZADI, VANAK, add_driver, on_duty_at, sedan_rule


@pytest.fixture
def office(app, tehran_zones, redis_client):
    """The Tehran zones and a sedan tariff: enough for a booking to be quoted and offered."""
    app.config.update(DISPATCH_MODE="nearest", OFFER_TIMEOUT=20)
    sedan_rule()
    db.session.commit()
    return tehran_zones


@pytest.fixture
def new_client(app):
    """``new_client()``: another browser (its own cookies), English pages."""
    app.test_client_class = IsolatedClient

    def make():
        browser = app.test_client()
        browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
        return browser

    return make


def driver_login(client, phone: str, pin: str = DRIVER_PIN):
    """Send the driver's login form as the phone does, CSRF token included."""
    token = csrf_token_of(client.get("/driver/login").get_data(as_text=True))
    return client.post("/driver/login", data={"phone": phone, "pin": pin, "csrf_token": token})


def book(pickup=AZADI, dropoff=VANAK):
    booking = create_booking(
        phone="+989121234567",
        subscriber=None,
        pickup=Stop(lat=pickup[0], lon=pickup[1], text="Azadi Square, north gate"),
        dropoff=Stop(lat=dropoff[0], lon=dropoff[1], text="Vanak Square"),
        pickup_at=None,
        vehicle_class="sedan",
        notes="",
        now=utcnow(),
    )
    commit_and_announce()
    return booking


def open_socket(app, client):
    # In a context of its own, like a request: otherwise Flask-Login's user cached in the test's ``g``
    # would answer for every socket.
    return contextvars.Context().run(socketio.test_client, app, namespace=NAMESPACE, flask_test_client=client)


def events(socket, name: str) -> list:
    return [event["args"][0] for event in socket.get_received(NAMESPACE) if event["name"] == name]


# --- logging in ---------------------------------------------------------------------------------------------


def test_a_driver_logs_in_with_number_and_pin_and_lands_on_the_page(app, client):
    driver = add_driver("K10", "09121110010")
    db.session.commit()
    response = driver_login(client, "0912 111 0010")  # any spelling of the number
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/driver/")
    page = client.get("/driver/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "K10" in html
    assert f'"driver_id": {driver.id}' in html
    assert client.get("/driver/login").headers["Location"].endswith("/driver/")  # already in
    attempts = db.session.scalars(select(LoginAttempt)).all()
    assert [(a.username, a.succeeded) for a in attempts] == [("+989121110010", True)]


@pytest.mark.parametrize(
    "phone,pin",
    [("09121110011", "0000"), ("09129999999", DRIVER_PIN), ("not a number", DRIVER_PIN), ("09121110011", "")],
)
def test_a_wrong_number_or_pin_is_refused_with_one_message(app, client, phone, pin):
    add_driver("K11", "09121110011")
    db.session.commit()
    response = driver_login(client, phone, pin)
    assert response.status_code in (400, 401)
    if pin:
        assert "Wrong mobile number or PIN." in response.get_data(as_text=True)
    assert client.get("/driver/").headers["Location"].startswith("/driver/login")


def test_repeated_failures_lock_the_number_out_even_with_the_right_pin(app, client, new_client):
    app.config.update(LOGIN_MAX_FAILURES=3, LOGIN_LOCKOUT_SECONDS=600)
    add_driver("K12", "09121110012")
    add_driver("K13", "09121110013")
    db.session.commit()
    for _ in range(3):
        assert driver_login(client, "09121110012", "1111").status_code == 401
    locked = driver_login(client, "+98 912 111 0012", DRIVER_PIN)
    assert locked.status_code == 429
    assert "Too many failed attempts" in locked.get_data(as_text=True)
    assert client.get("/driver/").status_code == 302  # not logged in
    # The lockout is by number: another driver at the same office address still gets in.
    assert driver_login(new_client(), "09121110013").status_code == 302


def test_an_inactive_driver_is_refused(app, client):
    driver = add_driver("K14", "09121110014")
    driver.active = False
    db.session.commit()
    assert driver_login(client, "09121110014").status_code == 401


def test_the_form_needs_its_csrf_token(app, client):
    add_driver("K15", "09121110015")
    db.session.commit()
    response = client.post("/driver/login", data={"phone": "09121110015", "pin": DRIVER_PIN})
    assert response.status_code == 400
    assert client.get("/driver/").status_code == 302


def test_logging_out_ends_the_session(app, client):
    add_driver("K16", "09121110016")
    db.session.commit()
    driver_login(client, "09121110016")
    token = csrf_token_of(client.get("/driver/").get_data(as_text=True))
    response = client.post("/driver/logout", data={"csrf_token": token})
    assert response.headers["Location"].endswith("/driver/login")
    assert client.get("/driver/").headers["Location"].startswith("/driver/login")


# --- the page and who may see it ----------------------------------------------------------------------------


def test_anonymous_visitors_go_to_the_driver_login(client):
    response = client.get("/driver/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/driver/login")


@pytest.mark.parametrize("role", ["agent", "dispatcher", "supervisor", "admin"])
def test_staff_may_not_open_the_driver_page(logged_in, role):
    assert logged_in(role).get("/driver/").status_code == 403


def test_a_driver_gets_the_normal_403_on_staff_pages(app, client):
    add_driver("K17", "09121110017")
    db.session.commit()
    driver_login(client, "09121110017")
    for path in ("/console/", "/dispatch/", "/supervisor/", "/admin/users"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "Your role does not have access to this page." in response.get_data(as_text=True)


def test_the_page_runs_no_inline_script_and_speaks_persian_right_to_left(app, client):
    driver = add_driver("K18", "09121110018")
    db.session.commit()
    db.session.get(User, driver.user_id).language = "fa"  # the driver's own choice wins over the browser's
    db.session.commit()
    driver_login(client, "09121110018")
    html = client.get("/driver/").get_data(as_text=True)
    assert '<html lang="fa" dir="rtl">' in html
    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert "style=" not in html


# --- the live channel ---------------------------------------------------------------------------------------


def test_only_drivers_may_connect(app, logged_in, client):
    assert not open_socket(app, client).is_connected(NAMESPACE)
    assert not open_socket(app, logged_in("dispatcher")).is_connected(NAMESPACE)


def test_the_state_comes_on_connect(app, office, client):
    driver = add_driver("K20", "09121110020")
    on_duty_at(driver, NEAR_AZADI)
    commit_and_announce()
    driver_login(client, "09121110020")
    socket = open_socket(app, client)
    assert socket.is_connected(NAMESPACE)
    [state] = events(socket, "state")
    assert state["driver"]["id"] == driver.id and state["driver"]["status"] == "available"
    assert (state["offer"], state["job"], state["queue"]) == (None, None, None)


def test_an_offer_rings_only_the_offered_driver_and_a_cancel_takes_it_back(app, office, new_client):
    mine, other = add_driver("K21", "09121110021"), add_driver("K22", "09121110022")
    on_duty_at(mine, NEAR_AZADI)
    on_duty_at(other, VANAK)
    commit_and_announce()
    my_phone, other_phone = new_client(), new_client()
    driver_login(my_phone, "09121110021")
    driver_login(other_phone, "09121110022")
    my_socket, other_socket = open_socket(app, my_phone), open_socket(app, other_phone)
    my_socket.get_received(NAMESPACE)
    other_socket.get_received(NAMESPACE)

    booking = book()
    offer = offer_job(booking, mine, utcnow(), "manual")
    commit_and_announce()
    received = my_socket.get_received(NAMESPACE)
    [rung] = [e["args"][0] for e in received if e["name"] == "offer"]
    assert rung["id"] == offer.id and rung["expires_at"] == offer.expires_at.isoformat()
    assert rung["booking"]["id"] == booking.id and rung["booking"]["fare"] == booking.fare
    assert rung["booking"]["pickup"]["text"] == "Azadi Square, north gate"
    assert other_socket.get_received(NAMESPACE) == []

    cancel_booking(booking, "the customer found another car", utcnow(), None)
    commit_and_announce()
    received = my_socket.get_received(NAMESPACE)
    assert [e["args"][0] for e in received if e["name"] == "offer_closed"] == [
        {"id": offer.id, "booking_id": booking.id, "outcome": "withdrawn"}
    ]
    states = [e["args"][0] for e in received if e["name"] == "state"]
    assert states and states[-1]["offer"] is None and states[-1]["job"] is None
    assert other_socket.get_received(NAMESPACE) == []


def test_accepting_through_the_api_pushes_the_job_to_every_phone_of_the_driver(app, office, client, new_client):
    driver = add_driver("K23", "09121110023")
    on_duty_at(driver, NEAR_AZADI)
    commit_and_announce()
    driver_login(client, "09121110023")
    second_phone = new_client()
    driver_login(second_phone, "09121110023")
    watching = open_socket(app, second_phone)
    booking = book()
    offer = offer_job(booking, driver, utcnow(), "manual")
    commit_and_announce()
    watching.get_received(NAMESPACE)

    token = csrf_token_of(client.get("/driver/").get_data(as_text=True))
    accepted = client.post(f"/api/offers/{offer.id}/accept", json={}, headers={"X-CSRFToken": token})
    assert accepted.status_code == 200, accepted.get_json()
    states = events(watching, "state")
    assert states and states[-1]["job"]["id"] == booking.id and states[-1]["offer"] is None
    assert states[-1]["driver"]["status"] == "busy"

    # Once the job is over the driver is free again, and the phones hear of it.
    for step in ("arrived", "on_trip", "completed"):
        response = client.post(
            f"/api/bookings/{booking.id}/progress", json={"status": step}, headers={"X-CSRFToken": token}
        )
        assert response.status_code == 200, response.get_json()
    states = events(watching, "state")
    assert states[-1]["job"] is None and states[-1]["driver"]["status"] == "available"


def test_a_late_accept_is_a_conflict_with_a_message(app, office, client):
    driver = add_driver("K24", "09121110024")
    on_duty_at(driver, NEAR_AZADI)
    commit_and_announce()
    driver_login(client, "09121110024")
    booking = book()
    offer = offer_job(booking, driver, utcnow(), "manual")
    cancel_booking(booking, "changed plans", utcnow(), None)
    commit_and_announce()
    token = csrf_token_of(client.get("/driver/").get_data(as_text=True))
    response = client.post(f"/api/offers/{offer.id}/accept", json={}, headers={"X-CSRFToken": token})
    assert response.status_code == 409
    assert "withdrawn" in response.get_json()["error"]["message"]
