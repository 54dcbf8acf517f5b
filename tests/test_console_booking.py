"""Booking from the console: the pop card's addresses for "book from here", the form, and the call a booking is on."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from agents.live import NAMESPACE
from calls.models import Call
from core.extensions import db, socketio
from crm.services import add_address, create_subscriber
from dispatch.models import Booking
from tests.conftest import TWILIO_AUTH_TOKEN, csrf_token_of
from tests.support.office import AZADI, VANAK, sedan_rule
from tests.support.twilio_webhooks import incoming_call_params, signed_post

CALLER = "+989123456789"


@pytest.fixture
def office(app, tehran_zones, redis_client):
    """The Tehran zones and the sedan tariff."""
    sedan_rule()
    db.session.commit()
    return tehran_zones


@pytest.fixture
def sara(office):
    """A subscriber with two saved addresses: home at Azadi Square, work at Vanak Square."""
    subscriber = create_subscriber("سارا رحیمی", ["09123456789"], "IR")
    add_address(subscriber, label="خانه", text="میدان آزادی", lat=AZADI[0], lon=AZADI[1], driver_notes="زنگ اول")
    add_address(subscriber, label="کار", text="میدان ونک", lat=VANAK[0], lon=VANAK[1])
    db.session.commit()
    return subscriber


@pytest.fixture
def agent_console(app, logged_in):
    """An agent's browser: logged in, its console socket connected (which makes the agent available)."""
    client = logged_in("agent")
    socket = socketio.test_client(app, namespace=NAMESPACE, flask_test_client=client)
    assert socket.is_connected(NAMESPACE)
    socket.get_received(NAMESPACE)  # the snapshot
    return client, socket


def popped_cards(socket) -> list[dict]:
    return [e["args"][0] for e in socket.get_received(NAMESPACE) if e["name"] == "call_waiting"]


def ring(client, sid: str | None = None) -> None:
    params = incoming_call_params(from_=CALLER, **({"call_sid": sid} if sid else {}))
    assert signed_post(client, "/telephony/voice/incoming", params, TWILIO_AUTH_TOKEN).status_code == 200


def csrf_header(client) -> dict:
    return {"X-CSRFToken": csrf_token_of(client.get("/console/").get_data(as_text=True))}


def bookings_stored() -> int:
    return db.session.scalar(select(func.count(Booking.id)))


def form_data(page: str) -> dict:
    """The booking form's starting data, as its script reads it from the page."""
    match = re.search(r'<script type="application/json" id="booking-form-data">(.*?)</script>', page, re.S)
    assert match, "the page has no booking form"
    return json.loads(match.group(1))


def test_the_pop_card_carries_address_ids_and_points_for_book_from_here(client, twilio, agent_console, sara):
    _agent, socket = agent_console
    ring(client)
    [card] = popped_cards(socket)
    home, work = sara.addresses
    assert [(a["id"], a["label"], a["lat"], a["lon"]) for a in card["subscriber"]["addresses"]] == [
        (home.id, "خانه", AZADI[0], AZADI[1]),
        (work.id, "کار", VANAK[0], VANAK[1]),
    ]
    assert card["subscriber"]["id"] == sara.id and card["caller_e164"] == CALLER


def test_a_booking_taken_on_a_call_keeps_the_call(app, client, twilio, agent_console, sara):
    agent, socket = agent_console
    sid = twilio.add_call()
    ring(client, sid)
    [card] = popped_cards(socket)
    answered = agent.post(f"/console/calls/{card['id']}/answer", headers=csrf_header(agent))
    assert answered.status_code == 200, answered.get_json()
    home = card["subscriber"]["addresses"][0]

    # What the form sends, as the browser does: the session cookie and the page's CSRF token.
    body = {
        "subscriber_id": card["subscriber"]["id"],
        "phone": card["caller"],
        "pickup": {"address_id": home["id"]},
        "dropoff": {"lat": VANAK[0], "lon": VANAK[1], "text": "میدان ونک"},
        "vehicle_class": "sedan",
        "notes": "چمدان دارد",
        "call_id": card["id"],
    }
    response = agent.post("/api/bookings", json=body, headers=csrf_header(agent))

    assert response.status_code == 201, response.get_json()
    made = response.get_json()
    assert made["status"] == "requested" and made["fare"] > 0
    assert made["pickup"]["address_id"] == home["id"] and made["subscriber_id"] == sara.id
    booking = db.session.get(Booking, made["id"])
    call = db.session.get(Call, card["id"])
    assert booking.call_id == call.id and booking.created_by_id == call.agent_id
    assert booking.notes == "چمدان دارد"


def test_a_booking_without_a_call_has_none(logged_in, sara):
    agent = logged_in("agent")
    body = {"subscriber_id": sara.id, "pickup": {"address_id": sara.addresses[0].id}}
    response = agent.post("/api/bookings", json=body, headers=csrf_header(agent))
    assert response.status_code == 201, response.get_json()
    assert db.session.get(Booking, response.get_json()["id"]).call_id is None


@pytest.mark.parametrize("call_id,code", [(987654, "unknown"), ("12", "invalid"), (True, "invalid"), (1.5, "invalid")])
def test_a_bad_call_id_is_refused_naming_the_field_and_nothing_is_stored(logged_in, sara, call_id, code):
    agent = logged_in("agent")
    body = {"subscriber_id": sara.id, "pickup": {"address_id": sara.addresses[0].id}, "call_id": call_id}
    response = agent.post("/api/bookings", json=body, headers=csrf_header(agent))
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["fields"] == {"call_id": code}
    assert bookings_stored() == 0


def test_the_form_needs_the_pages_csrf_token(logged_in, sara):
    agent = logged_in("agent")
    response = agent.post(
        "/api/bookings", json={"subscriber_id": sara.id, "pickup": {"address_id": sara.addresses[0].id}}
    )
    assert response.status_code == 400
    assert bookings_stored() == 0


def test_the_subscriber_page_has_the_form_and_book_from_here_on_each_address(logged_in, sara):
    page = logged_in("agent").get(f"/console/subscribers/{sara.id}").get_data(as_text=True)
    data = form_data(page)
    home, work = sara.addresses
    assert data["caller"]["subscriber_id"] == sara.id
    assert data["caller"]["phone"] == "0912 345 6789"
    assert [a["id"] for a in data["caller"]["addresses"]] == [home.id, work.id]
    assert [code for code, _name in data["vehicle_classes"]] == ["sedan", "van", "premium"]
    for address in (home, work):
        assert f'data-book-from="{address.id}"' in page
    assert "data-booking-form" in page and "js/booking-form.js" in page


def test_the_console_has_the_form_waiting_for_a_caller(logged_in, office):
    page = logged_in("agent").get("/console/").get_data(as_text=True)
    data = form_data(page)
    assert data["caller"] is None
    assert data["places_url"] == "/console/places"
    # The form's map needs Leaflet; its script comes in as a module imported by console.js.
    assert "vendor/leaflet/leaflet.js" in page and "js/console.js" in page
