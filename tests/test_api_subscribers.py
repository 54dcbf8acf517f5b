"""The subscribers API as CONTRACT.md describes it."""

from __future__ import annotations

import pytest


def test_create_and_find_by_any_spelling(api_client, tehran_zones):
    client, headers = api_client("agent")
    response = client.post(
        "/api/subscribers", json={"name": "مریم احمدی", "phones": ["0912 345 6789"]}, headers=headers
    )
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["phones"] == ["+989123456789"]
    assert created["tier"] == "lead" and created["addresses"] == []
    for spelling in ["09123456789", "+98 912 345 6789", "۰۹۱۲۳۴۵۶۷۸۹", "00989123456789"]:
        page = client.get("/api/subscribers", query_string={"phone": spelling}, headers=headers).get_json()
        assert page["total"] == 1 and page["items"][0]["id"] == created["id"], spelling
        assert set(page) == {"items", "page", "per_page", "total"}


def test_a_taken_number_is_a_409(api_client, tehran_zones):
    client, headers = api_client("agent")
    client.post("/api/subscribers", json={"name": "A", "phones": ["09123456789"]}, headers=headers)
    response = client.post("/api/subscribers", json={"name": "B", "phones": ["+989123456789"]}, headers=headers)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "phone_taken"
    assert client.get("/api/subscribers", headers=headers).get_json()["total"] == 1


@pytest.mark.parametrize(
    "body,field",
    [
        ({"name": "", "phones": ["09123456789"]}, "name"),
        ({"name": "A", "phones": []}, "phones"),
        ({"name": "A", "phones": ["nope"]}, "phones[0]"),
        ({"name": "A", "phones": "09123456789"}, "phones"),
        ({"name": "A", "phones": ["09123456789"], "language": "de"}, "language"),
    ],
)
def test_bad_bodies_are_400_with_the_field(api_client, body, field):
    client, headers = api_client("agent")
    response = client.post("/api/subscribers", json=body, headers=headers)
    assert response.status_code == 400
    assert field in response.get_json()["error"]["fields"]
    assert client.get("/api/subscribers", headers=headers).get_json()["total"] == 0


def test_not_json_is_a_400(api_client):
    client, headers = api_client("agent")
    response = client.post("/api/subscribers", data="name=x", headers=headers)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_json"


def test_addresses_get_a_zone_and_driver_notes(api_client, tehran_zones):
    client, headers = api_client("agent")
    subscriber = client.post("/api/subscribers", json={"name": "A", "phones": ["09123456789"]}, headers=headers)
    url = f"/api/subscribers/{subscriber.get_json()['id']}/addresses"
    response = client.post(
        url,
        json={"label": "خانه", "text": "تجریش", "lat": 35.8045, "lon": 51.4336, "notes": "<b>دو بار</b> زنگ"},
        headers=headers,
    )
    assert response.status_code == 201, response.get_json()
    address = response.get_json()
    assert address["zone_id"] == tehran_zones["D01"].id
    assert address["notes"] == "<b>دو بار</b> زنگ"  # stored as text; pages escape it
    fetched = client.get(f"/api/subscribers/{subscriber.get_json()['id']}", headers=headers).get_json()
    assert fetched["addresses"] == [address]


@pytest.mark.parametrize("point", [{"lat": 95, "lon": 51}, {"lat": 32.65, "lon": 51.67}, {"lat": "x", "lon": 1}])
def test_bad_points_are_refused(api_client, tehran_zones, point):
    client, headers = api_client("agent")
    subscriber = client.post("/api/subscribers", json={"name": "A", "phones": ["09123456789"]}, headers=headers)
    url = f"/api/subscribers/{subscriber.get_json()['id']}/addresses"
    response = client.post(url, json={"label": "خانه", "text": "x", **point}, headers=headers)
    assert response.status_code == 400
    assert "lat" in response.get_json()["error"]["fields"]


def test_unknown_subscriber_is_a_404(api_client):
    client, headers = api_client("agent")
    assert client.get("/api/subscribers/999", headers=headers).status_code == 404
    assert client.post("/api/subscribers/999/addresses", json={}, headers=headers).status_code == 404


def test_search_and_filters(api_client, tehran_zones):
    client, headers = api_client("agent")
    for name, phone in [("مریم احمدی", "09121110000"), ("Reza Karimi", "09351110000")]:
        client.post("/api/subscribers", json={"name": name, "phones": [phone]}, headers=headers)
    found = client.get("/api/subscribers?q=karimi", headers=headers).get_json()
    assert [s["name"] for s in found["items"]] == ["Reza Karimi"]
    assert client.get("/api/subscribers?tier=lead", headers=headers).get_json()["total"] == 2
    assert client.get("/api/subscribers?tier=diamond", headers=headers).status_code == 400
    assert client.get("/api/subscribers?phone=abc", headers=headers).status_code == 400


def test_roles(api_client):
    client, headers = api_client("dispatcher")
    assert client.get("/api/subscribers", headers=headers).status_code == 200
    response = client.post("/api/subscribers", json={"name": "A", "phones": ["09121110000"]}, headers=headers)
    assert response.status_code == 403


def test_cookie_session_writes_need_the_csrf_header(logged_in, tehran_zones):
    from tests.conftest import csrf_token_of

    client = logged_in("agent")
    body = {"name": "A", "phones": ["09121110000"]}
    assert client.post("/api/subscribers", json=body).status_code == 400
    token = csrf_token_of(client.get("/console/").get_data(as_text=True))
    assert client.post("/api/subscribers", json=body, headers={"X-CSRFToken": token}).status_code == 201
