"""The fare engine against hand-worked fares, and quotes through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.extensions import db
from fares.models import FareRule
from fares.services import breakdown, quote_fare

NOON = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)  # 12:00 in Tehran
NIGHT = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)  # 23:30 in Tehran
ZONE = "Asia/Tehran"


def sedan_rule(**changes) -> FareRule:
    values = dict(
        name="سواری",
        vehicle_class="sedan",
        version=1,
        currency="IRR",
        flag_down=250_000,
        per_km=90_000,
        per_minute=15_000,
        minimum_fare=500_000,
        rounding_step=10_000,
        surcharges=[
            {"kind": "night", "from": "23:00", "to": "06:00", "percent": 20},
            {"kind": "zone", "zone": "IKA", "amount": 1_500_000},
        ],
        valid_from=datetime(2025, 1, 1, tzinfo=UTC),
    )
    return FareRule(**(values | changes))


@pytest.mark.parametrize(
    "km,minutes,at,zones,discount,expected",
    [
        (10, 20, NOON, set(), 0, 1_450_000),  # 250,000 + 900,000 + 300,000
        (1, 2, NOON, set(), 0, 500_000),  # 370,000 topped up to the minimum
        (10, 20, NIGHT, set(), 0, 1_740_000),  # + 20 % of 1,450,000
        (10, 20, NOON, {"IKA"}, 0, 2_950_000),  # + the airport's 1,500,000
        (5.5, 11.1, NOON, set(), 0, 910_000),  # 911,500 rounded half up to the 10,000 step
        (10, 20, NOON, set(), 10, 1_310_000),  # 1,450,000 − 145,000 = 1,305,000 → 1,310,000
    ],
)
def test_hand_worked_fares(app, km, minutes, at, zones, discount, expected):
    fare, lines = quote_fare(sedan_rule(), km, minutes, at, zones, ZONE, discount)
    assert fare == expected
    assert sum(line.amount for line in lines) == fare


def test_breakdown_reads_in_both_languages(app):
    _fare, lines = quote_fare(sedan_rule(), 10, 20, NIGHT, set(), ZONE)
    english = breakdown(lines, "en")
    assert [item["label"] for item in english] == ["Flag-down", "Distance 10 km", "Time 20 min", "Night 20%"]
    persian = breakdown(lines, "fa")
    assert "۱۰" in persian[1]["label"] and [i["amount"] for i in persian] == [i["amount"] for i in english]


@pytest.fixture
def rules(app, tehran_zones):
    db.session.add(sedan_rule())
    db.session.commit()


TAJRISH = {"lat": 35.8045, "lon": 51.4336}
AZADI = {"lat": 35.6997, "lon": 51.3380}


def test_quote_through_the_api(api_client, rules):
    client, headers = api_client("agent")
    response = client.post("/api/quotes", json={"pickup": TAJRISH, "dropoff": AZADI}, headers=headers)
    assert response.status_code == 200, response.get_json()
    quote = response.get_json()
    assert quote["currency"] == "IRR" and quote["fare"] % 10_000 == 0
    assert sum(line["amount"] for line in quote["breakdown"]) == quote["fare"]
    assert 14 < quote["distance_km"] < 25  # about 14 km as the crow flies, times the road factor


@pytest.mark.parametrize(
    "body,message",
    [
        ({"pickup": TAJRISH, "dropoff": TAJRISH}, "same place"),
        ({"pickup": TAJRISH, "dropoff": {"lat": 32.65, "lon": 51.67}}, "dropoff"),
        ({"pickup": {"lat": 95, "lon": 1}, "dropoff": AZADI}, "pickup"),
        ({"pickup": TAJRISH, "dropoff": AZADI, "pickup_at": "2020-01-01T10:00:00+03:30"}, "passed"),
        ({"pickup": TAJRISH, "dropoff": AZADI, "pickup_at": "2030-01-01T10:00:00"}, "days ahead"),
        ({"pickup": TAJRISH, "dropoff": AZADI, "pickup_at": "tomorrow"}, "ISO 8601"),
        ({"pickup": TAJRISH, "dropoff": AZADI, "vehicle_class": "rickshaw"}, "vehicle class"),
        ({"pickup": TAJRISH, "dropoff": AZADI, "vehicle_class": "van"}, "no fare rule"),
        ({"pickup": {"address_id": 999}, "dropoff": AZADI}, "no such address"),
        ({"dropoff": AZADI}, "pickup"),
    ],
)
def test_bad_quotes_say_why(api_client, rules, body, message):
    client, headers = api_client("agent")
    response = client.post("/api/quotes", json=body, headers=headers)
    assert response.status_code == 400
    assert message in response.get_json()["error"]["message"]


def test_a_quote_from_a_saved_address(api_client, rules):
    from crm.services import add_address, create_subscriber

    subscriber = create_subscriber("مریم", ["09123456789"], "IR")
    home = add_address(subscriber, label="خانه", text="تجریش", **TAJRISH)
    db.session.commit()
    client, headers = api_client("agent")
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    response = client.post(
        "/api/quotes", json={"pickup": {"address_id": home.id}, "dropoff": AZADI, "pickup_at": later}, headers=headers
    )
    assert response.status_code == 200, response.get_json()


def test_a_quote_for_a_known_caller_carries_their_loyalty_discount(app, api_client, tehran_zones):
    from crm.services import create_subscriber

    app.config.update(LOYALTY_EVERY_NTH_TRIP=1, LOYALTY_DISCOUNT_PERCENT=10)
    db.session.add(sedan_rule())
    subscriber = create_subscriber("Sara", ["09121234567"], "IR")
    db.session.commit()
    client, headers = api_client("agent")
    trip = {"pickup": {"lat": 35.6997, "lon": 51.338}, "dropoff": {"lat": 35.7575, "lon": 51.41}}
    plain = client.post("/api/quotes", json=trip, headers=headers).get_json()
    loyal = client.post("/api/quotes", json=trip | {"subscriber_id": subscriber.id}, headers=headers).get_json()
    assert loyal["fare"] < plain["fare"]
    assert client.post("/api/quotes", json=trip | {"subscriber_id": 999}, headers=headers).status_code == 400
