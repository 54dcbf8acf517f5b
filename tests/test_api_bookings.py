"""Bookings and drivers through the JSON API, as the contract describes them."""

from __future__ import annotations

import pytest

from accounts.models import User
from accounts.services import issue_token
from core.extensions import db
from crm.services import add_address, create_subscriber, set_barred
from tests.support.office import AZADI, NEAR_AZADI, VANAK, add_driver, sedan_rule


@pytest.fixture
def desk(app, tehran_zones, redis_client, api_client):
    """An agent's and a dispatcher's API clients on an office with a tariff."""
    app.config.update(DISPATCH_MODE="nearest")
    sedan_rule()
    db.session.commit()
    client, agent = api_client("agent")
    _, dispatcher = api_client("dispatcher")
    return client, agent, dispatcher


def driver_headers(driver) -> dict:
    token = issue_token(db.session.get(User, driver.user_id))
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def point(where, text="") -> dict:
    return {"lat": where[0], "lon": where[1], "text": text}


def test_an_agent_books_for_a_known_caller_from_a_saved_address(desk):
    client, agent, _ = desk
    subscriber = create_subscriber("Sara Ahmadi", ["09121234567"], "IR")
    home = add_address(subscriber, label="home", text="Azadi Sq.", lat=AZADI[0], lon=AZADI[1])
    db.session.commit()
    response = client.post(
        "/api/bookings",
        json={"phone": "۰۹۱۲ ۱۲۳ ۴۵۶۷", "pickup": {"address_id": home.id}, "dropoff": point(VANAK, "Vanak")},
        headers=agent,
    )
    assert response.status_code == 201, response.get_json()
    booking = response.get_json()
    assert booking["subscriber_id"] == subscriber.id and booking["phone"] == "+989121234567"
    assert booking["status"] == "requested" and booking["fare"] > 0 and booking["currency"] == "IRR"
    assert booking["pickup"]["address_id"] == home.id and booking["driver_id"] is None
    assert sum(line["amount"] for line in booking["breakdown"]) == booking["fare"]
    assert client.get(f"/api/bookings/{booking['id']}", headers=agent).get_json()["id"] == booking["id"]


@pytest.mark.parametrize(
    "body,field",
    [
        ({"phone": "12", "pickup": point(AZADI)}, "phone"),
        ({"pickup": point(AZADI)}, "phone"),
        ({"phone": "09121234567"}, "pickup"),
        ({"phone": "09121234567", "pickup": point((36.9, 50.1))}, "pickup"),
        ({"phone": "09121234567", "pickup": point(AZADI), "dropoff": point(AZADI)}, "dropoff"),
        ({"phone": "09121234567", "pickup": point(AZADI), "pickup_at": "2020-01-01T10:00"}, "pickup_at"),
        ({"phone": "09121234567", "pickup": point(AZADI), "pickup_at": "tomorrow"}, "pickup_at"),
        ({"phone": "09121234567", "pickup": point(AZADI), "vehicle_class": "rickshaw"}, "vehicle_class"),
        ({"phone": "09121234567", "pickup": {"address_id": 999}}, "pickup"),
    ],
)
def test_bad_bookings_get_a_400_naming_the_field_and_nothing_is_stored(desk, body, field):
    client, agent, _ = desk
    response = client.post("/api/bookings", json=body, headers=agent)
    assert response.status_code == 400, response.get_json()
    assert field in (response.get_json()["error"].get("fields") or {}), response.get_json()
    assert client.get("/api/bookings", headers=agent).get_json()["total"] == 0


def test_a_barred_caller_is_refused(desk):
    client, agent, _ = desk
    subscriber = create_subscriber("Trouble", ["09127654321"], "IR")
    set_barred(subscriber, True, "abusive to drivers")
    db.session.commit()
    response = client.post("/api/bookings", json={"phone": "09127654321", "pickup": point(AZADI)}, headers=agent)
    assert response.status_code == 409 and "abusive" in response.get_json()["error"]["message"]


def test_the_driver_works_the_job_through_the_api_and_only_their_own(desk):
    client, agent, dispatcher = desk
    mine, other = add_driver("D1", "09121110001"), add_driver("D2", "09121110002")
    db.session.commit()
    me, them = driver_headers(mine), driver_headers(other)
    for driver, headers, where in ((mine, me, NEAR_AZADI), (other, them, VANAK)):
        assert (
            client.post(f"/api/drivers/{driver.id}/status", json={"status": "available"}, headers=headers).status_code
            == 200
        )
        assert client.post(f"/api/drivers/{driver.id}/location", json=point(where), headers=headers).status_code == 200
    # A driver acts only for themselves.
    assert client.post(f"/api/drivers/{mine.id}/status", json={"status": "break"}, headers=them).status_code == 403
    booking = client.post(
        "/api/bookings", json={"phone": "09121234567", "pickup": point(AZADI), "dropoff": point(VANAK)}, headers=agent
    ).get_json()
    offered = client.post(f"/api/bookings/{booking['id']}/dispatch", headers=dispatcher)
    assert offered.status_code == 200 and offered.get_json()["status"] == "offered"
    assert offered.get_json()["driver_id"] == mine.id
    state = client.get("/api/drivers/me", headers=me).get_json()
    offer_id = state["offer"]["id"]
    assert state["offer"]["booking"]["id"] == booking["id"]
    assert client.post(f"/api/offers/{offer_id}/accept", headers=them).status_code == 409
    accepted = client.post(f"/api/offers/{offer_id}/accept", headers=me)
    assert accepted.status_code == 200 and accepted.get_json()["status"] == "assigned"
    url = f"/api/bookings/{booking['id']}/progress"
    assert client.post(url, json={"status": "arrived"}, headers=them).status_code == 404
    assert client.post(url, json={"status": "completed"}, headers=me).status_code == 409
    for status in ("arrived", "on_trip", "completed"):
        response = client.post(url, json={"status": status}, headers=me)
        assert response.status_code == 200 and response.get_json()["status"] == status
    again = client.post(url, json={"status": "completed"}, headers=me)
    assert again.status_code == 409 and "completed" in again.get_json()["error"]["message"]
    assert client.get(f"/api/drivers/{mine.id}", headers=dispatcher).get_json()["driver"]["status"] == "available"
    history = client.get(f"/api/bookings/{booking['id']}/events", headers=agent).get_json()["items"]
    assert [e["to"] for e in history] == ["requested", "offered", "assigned", "arrived", "on_trip", "completed"]


def test_dispatchers_assign_and_cancel_agents_may_not_assign(desk):
    client, agent, dispatcher = desk
    driver = add_driver("D3", "09121110003")
    db.session.commit()
    headers = driver_headers(driver)
    client.post(f"/api/drivers/{driver.id}/status", json={"status": "available"}, headers=headers)
    booking = client.post(
        "/api/bookings", json={"phone": "09121234567", "pickup": point(AZADI)}, headers=agent
    ).get_json()
    url = f"/api/bookings/{booking['id']}"
    assert client.post(f"{url}/assign", json={"driver_id": driver.id}, headers=agent).status_code == 403
    assert client.post(f"{url}/assign", json={"driver_id": 999}, headers=dispatcher).status_code == 400
    assigned = client.post(f"{url}/assign", json={"driver_id": driver.id}, headers=dispatcher)
    assert assigned.status_code == 200 and assigned.get_json()["status"] == "assigned"
    # The driver is busy with it: no going on break mid-job.
    refused = client.post(f"/api/drivers/{driver.id}/status", json={"status": "break"}, headers=headers)
    assert refused.status_code == 409 and "finish booking" in refused.get_json()["error"]["message"]
    assert client.post(f"{url}/cancel", json={}, headers=dispatcher).status_code == 400
    cancelled = client.post(f"{url}/cancel", json={"reason": "customer called back"}, headers=dispatcher)
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert client.post(f"{url}/cancel", json={"reason": "again"}, headers=dispatcher).status_code == 409


def test_drivers_are_added_and_positions_checked(desk):
    client, _, dispatcher = desk
    body = {"call_sign": "K9", "name": "Reza", "phone": "09351234567", "pin": "1234", "vehicle": {"plate": "11ب222"}}
    created = client.post("/api/drivers", json=body, headers=dispatcher)
    assert created.status_code == 201 and created.get_json()["phone"] == "+989351234567"
    assert client.post("/api/drivers", json=body, headers=dispatcher).status_code == 400  # the call sign is taken
    assert (
        client.post("/api/drivers", json=body | {"call_sign": "K10", "pin": "12"}, headers=dispatcher).status_code
        == 400
    )
    driver_id = created.get_json()["id"]
    offline = client.post(f"/api/drivers/{driver_id}/location", json=point(AZADI), headers=dispatcher)
    assert offline.status_code == 400 and "offline" in offline.get_json()["error"]["message"]
    client.post(f"/api/drivers/{driver_id}/status", json={"status": "available"}, headers=dispatcher)
    assert client.post(f"/api/drivers/{driver_id}/location", json=point(AZADI), headers=dispatcher).status_code == 200
    jump = client.post(f"/api/drivers/{driver_id}/location", json=point((38.08, 46.29)), headers=dispatcher)
    assert jump.status_code == 400 and "refused" in jump.get_json()["error"]["message"]
    assert client.get("/api/drivers?status=available", headers=dispatcher).get_json()["total"] == 1


def test_a_driver_past_the_end_of_their_shift_gets_no_offers(desk):
    from datetime import timedelta

    from core.models import utcnow
    from dispatch.models import Booking

    client, agent, dispatcher = desk
    driver = add_driver("D4", "09121110004")
    db.session.commit()
    headers = driver_headers(driver)
    status = f"/api/drivers/{driver.id}/status"
    too_long = (utcnow() + timedelta(hours=20)).isoformat()
    refused = client.post(status, json={"status": "available", "shift_ends_at": too_long}, headers=headers)
    assert refused.status_code == 400 and "16 hours" in refused.get_json()["error"]["message"]
    ends = (utcnow() + timedelta(hours=8)).isoformat()
    assert client.post(status, json={"status": "available", "shift_ends_at": ends}, headers=headers).status_code == 200
    assert client.post(f"/api/drivers/{driver.id}/location", json=point(NEAR_AZADI), headers=headers).status_code == 200
    db.session.expire_all()
    db.session.get(type(driver), driver.id).shift_ends_at = utcnow() - timedelta(minutes=1)  # the shift is over
    db.session.commit()
    booking = client.post("/api/bookings", json={"phone": "09121234567", "pickup": point(AZADI)}, headers=agent)
    nobody = client.post(f"/api/bookings/{booking.get_json()['id']}/dispatch", headers=dispatcher)
    assert nobody.status_code == 409 and nobody.get_json()["error"]["code"] == "no_driver"
    assert db.session.get(Booking, booking.get_json()["id"]).status == "requested"


def test_the_breakdown_reads_in_the_language_of_whoever_asks(desk):
    client, agent, _ = desk
    subscriber = create_subscriber("Sara", ["09121234567"], "IR", language="fa")
    db.session.commit()
    body = {"subscriber_id": subscriber.id, "pickup": point(AZADI), "dropoff": point(VANAK)}
    booking = client.post("/api/bookings", json=body, headers=agent).get_json()
    english = client.get(f"/api/bookings/{booking['id']}", headers=agent | {"Accept-Language": "en"}).get_json()
    persian = client.get(f"/api/bookings/{booking['id']}", headers=agent | {"Accept-Language": "fa"}).get_json()
    assert english["breakdown"][0]["label"] == "Flag-down"
    assert persian["breakdown"][0]["label"] != "Flag-down"
    assert [line["amount"] for line in english["breakdown"]] == [line["amount"] for line in persian["breakdown"]]


def test_agents_book_but_do_not_move_trips_along(desk):
    client, agent, dispatcher = desk
    driver = add_driver("D5", "09121110005")
    db.session.commit()
    client.post(f"/api/drivers/{driver.id}/status", json={"status": "available"}, headers=driver_headers(driver))
    booking = client.post("/api/bookings", json={"phone": "09121234567", "pickup": point(AZADI)}, headers=agent)
    url = f"/api/bookings/{booking.get_json()['id']}"
    client.post(f"{url}/assign", json={"driver_id": driver.id}, headers=dispatcher)
    assert client.post(f"{url}/progress", json={"status": "arrived"}, headers=agent).status_code == 403
    assert client.post(f"{url}/progress", json={"status": "arrived"}, headers=dispatcher).status_code == 200
