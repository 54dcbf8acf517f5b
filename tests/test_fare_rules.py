"""Fare rule administration: versions that leave past fares alone, refusals that say why, the admin pages
through their real forms, the holiday calendar and the fare rules API."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.extensions import db
from fares import rules
from fares.models import FareRule, FixedFare, Holiday
from fares.rules import RuleError, add_holiday, publish_rule, remove_holiday, rule_history
from fares.services import active_rule, quote_trip
from tests.conftest import csrf_token_of

NIGHT = {"kind": "night", "from": "23:00", "to": "06:00", "percent": 20}
TAJRISH = (35.8045, 51.4336)
AZADI = (35.6997, 51.3380)


def values(**changes) -> dict:
    """A whole sedan tariff as an admin publishes it."""
    base = {
        "vehicle_class": "sedan",
        "name": "سواری",
        "currency": "IRR",
        "flag_down": 250_000,
        "per_km": 90_000,
        "per_minute": 15_000,
        "minimum_fare": 500_000,
        "rounding_step": 10_000,
        "waiting_per_minute": 15_000,
        "waiting_free_minutes": 3,
        "cancellation_fee": 200_000,
        "speed_threshold_kmh": 0,
        "surcharges": [NIGHT],
        "fixed_fares": [],
    }
    return base | changes


def columns(rule: FareRule) -> dict:
    return {c.key: getattr(rule, c.key) for c in FareRule.__table__.columns}


def counts() -> tuple[int, int, int]:
    return tuple(db.session.scalar(select(func.count()).select_from(m)) for m in (FareRule, FixedFare, Holiday))


@pytest.fixture
def admin(make_user):
    return make_user("admin", "fares-admin")


# Versions


def test_a_booking_keeps_the_fare_of_the_version_it_was_quoted_under(app, tehran_zones, admin):
    from dispatch.models import Booking

    now = datetime.now(UTC)
    v1 = publish_rule(values(), admin, now=now)
    db.session.commit()
    pickup_at = now + timedelta(hours=1)
    quote = quote_trip(TAJRISH, AZADI, "sedan", pickup_at, now, app.config)
    assert quote.fare_rule_id == v1.id
    booking = Booking(
        pickup_text="تجریش", pickup_lat=TAJRISH[0], pickup_lon=TAJRISH[1], pickup_at=pickup_at,
        fare_rule_id=quote.fare_rule_id, fare=quote.fare, currency=quote.currency,
        distance_km=quote.distance_km, duration_min=quote.duration_min,
    )  # fmt: skip
    db.session.add(booking)
    db.session.commit()
    before = columns(v1)

    # The tariff goes up from two hours on.
    v2 = publish_rule(values(per_km=120_000, flag_down=300_000), admin, now + timedelta(hours=2), now=now)
    db.session.commit()
    db.session.expire_all()

    assert (v2.version, v2.valid_to) == (2, None)
    v1 = db.session.get(FareRule, v1.id)
    assert v1.valid_to == v2.valid_from
    assert columns(v1) == before | {"valid_to": v2.valid_from}  # nothing else of v1 changed
    booking = db.session.get(Booking, booking.id)
    assert (booking.fare, booking.fare_rule_id) == (quote.fare, v1.id)
    # The same trip at the same time is still v1's; after the change it is v2's, and dearer.
    assert quote_trip(TAJRISH, AZADI, "sedan", pickup_at, now, app.config).fare == quote.fare
    later = quote_trip(TAJRISH, AZADI, "sedan", now + timedelta(hours=3), now, app.config)
    assert later.fare_rule_id == v2.id and later.fare > quote.fare
    assert rules.booking_counts([v1.id, v2.id]) == {v1.id: 1}


def test_versions_count_up_per_class_and_history_is_newest_first(app, admin):
    now = datetime.now(UTC)
    for hours in (0, 1, 2):
        publish_rule(values(flag_down=250_000 + hours), admin, now + timedelta(hours=hours), now=now)
    publish_rule(values(vehicle_class="van", name="ون"), admin, now=now)
    db.session.commit()
    history = rule_history("sedan")
    assert [r.version for r in history] == [3, 2, 1]
    assert [r.valid_to for r in history] == [None, history[0].valid_from, history[1].valid_from]
    assert [r.version for r in rule_history("van")] == [1]
    assert active_rule("sedan", now + timedelta(minutes=90)).version == 2
    assert history[0].created_by_id == admin.id


def test_fixed_fares_and_surcharges_are_saved_with_the_version(app, tehran_zones, admin):
    rush = {"kind": "rush", "from": "07:00", "to": "09:30", "days": ["sat", "sun"], "percent": 15}
    fixed = [{"from_zone": "d06", "to_zone": "IKA", "amount": 15_000_000}]
    rule = publish_rule(
        values(surcharges=[NIGHT, rush, {"kind": "zone", "zone": "ika", "amount": 1}], fixed_fares=fixed), admin
    )
    db.session.commit()
    saved = rules.rule_values(rule)
    assert saved["surcharges"][2]["zone"] == "IKA"  # the engine matches codes as the zones spell them
    assert saved["fixed_fares"] == [{"from_zone": "D06", "to_zone": "IKA", "amount": 15_000_000, "both_ways": True}]


def test_two_admins_publishing_at_once_one_gets_a_conflict(app, admin, monkeypatch):
    now = datetime.now(UTC)
    v1 = publish_rule(values(), admin, now=now)
    db.session.commit()
    # What the second admin read before the first one's version closed v1.
    stale = FareRule(id=v1.id, vehicle_class="sedan", version=1, valid_from=v1.valid_from, valid_to=None)
    publish_rule(values(flag_down=260_000), admin, now + timedelta(hours=1), now=now)
    db.session.commit()
    monkeypatch.setattr(rules, "latest_version", lambda vehicle_class: stale)
    before = counts()
    with pytest.raises(RuleError, match="published meanwhile") as refused:
        publish_rule(values(flag_down=270_000), admin, now + timedelta(hours=2), now=now)
    db.session.rollback()
    assert refused.value.status == 409 and counts() == before


# Refusals


@pytest.mark.parametrize(
    "changes,field,message",
    [
        ({"flag_down": -1}, "flag_down", "whole number from 0"),
        ({"per_km": 2.5}, "per_km", "whole number"),
        ({"per_minute": "15000"}, "per_minute", "whole number"),
        ({"minimum_fare": True}, "minimum_fare", "whole number"),
        ({"flag_down": 10**12}, "flag_down", "100,000,000,000"),
        ({"cancellation_fee": -5}, "cancellation_fee", "whole number"),
        ({"rounding_step": 0}, "rounding_step", "from 1"),
        ({"currency": "RIAL"}, "currency", "three-letter"),
        ({"currency": "I1R"}, "currency", "three-letter"),
        ({"vehicle_class": "rickshaw"}, "vehicle_class", "sedan, van, premium"),
        ({"name": "  "}, "name", "1 to 120"),
        ({"name": "x" * 121}, "name", "1 to 120"),
        ({"per_km": None}, "per_km", "required"),
        ({"per_mile": 1}, "per_mile", "unknown field"),
        ({"speed_threshold_kmh": -5}, "speed_threshold_kmh", "km/h"),
        ({"speed_threshold_kmh": 500}, "speed_threshold_kmh", "km/h"),
        ({"waiting_free_minutes": 1000}, "waiting_free_minutes", "240"),
        ({"surcharges": "night"}, "surcharges", "list"),
        ({"surcharges": [NIGHT | {"percent": 301}]}, "surcharges", "from 0 to 300"),
        ({"surcharges": [NIGHT | {"percent": -1}]}, "surcharges", "from 0 to 300"),
        ({"surcharges": [NIGHT | {"percent": "20"}]}, "surcharges", "percent"),
        ({"surcharges": [{"kind": "weekend", "percent": 5}]}, "surcharges", "kind must be one of"),
        ({"surcharges": [NIGHT | {"from": "25:00"}]}, "surcharges", "HH:MM"),
        ({"surcharges": [NIGHT | {"to": "6"}]}, "surcharges", "HH:MM"),
        ({"surcharges": [NIGHT | {"to": "23:00"}]}, "surcharges", "window is empty"),
        ({"surcharges": [NIGHT | {"days": ["funday"]}]}, "surcharges", "unknown day"),
        ({"surcharges": [NIGHT | {"days": []}]}, "surcharges", "list of day names"),
        ({"surcharges": [NIGHT | {"days": ["fri", "fri"]}]}, "surcharges", "named twice"),
        ({"surcharges": [NIGHT | {"precent": 20}]}, "surcharges", "unknown key 'precent'"),
        ({"surcharges": [{"kind": "zone", "zone": "XYZ", "amount": 5}]}, "surcharges", "existing zone"),
        ({"surcharges": [{"kind": "zone", "zone": "IKA", "amount": 0}]}, "surcharges", "from 1"),
        ({"surcharges": [{"kind": "holiday"}]}, "surcharges", "percent"),
        ({"fixed_fares": {"D06": "IKA"}}, "fixed_fares", "list"),
        ({"fixed_fares": [{"from_zone": "D01", "to_zone": "D01", "amount": 5}]}, "fixed_fares", "same zone"),
        ({"fixed_fares": [{"from_zone": "ZZZ", "to_zone": "D01", "amount": 5}]}, "fixed_fares", "existing zone"),
        ({"fixed_fares": [{"from_zone": "D06", "to_zone": "IKA", "amount": 0}]}, "fixed_fares", "from 1"),
        ({"fixed_fares": [{"from_zone": "D06", "to_zone": "IKA", "amount": -9}]}, "fixed_fares", "from 1"),
        ({"fixed_fares": [{"from_zone": "D06", "to_zone": "IKA", "amount": 9, "both_ways": "yes"}]}, "fixed_fares",
         "true or false"),
        ({"fixed_fares": [{"from_zone": "D06", "to_zone": "IKA", "amount": 9}] * 2}, "fixed_fares", "second price"),
    ],
)  # fmt: skip
def test_bad_values_are_refused_with_a_reason_and_no_change(app, tehran_zones, admin, changes, field, message):
    now = datetime.now(UTC)
    v1 = publish_rule(values(), admin, now=now)
    db.session.commit()
    before, v1_before = counts(), columns(v1)
    with pytest.raises(RuleError) as refused:
        publish_rule(values(**changes), admin, now + timedelta(hours=1), now=now)
    db.session.rollback()
    assert message in refused.value.fields[field], refused.value.fields
    assert f"{field}: " in str(refused.value)
    assert counts() == before and columns(db.session.get(FareRule, v1.id)) == v1_before


def test_every_bad_value_is_named_at_once(app, admin):
    with pytest.raises(RuleError) as refused:
        publish_rule(values(flag_down=-1, currency="x", surcharges=[{"kind": "?"}]), admin)
    assert set(refused.value.fields) == {"flag_down", "currency", "surcharges"}


@pytest.mark.parametrize(
    "start,message",
    [
        (lambda now: now - timedelta(hours=1), "in the past"),
        (lambda now: now.replace(tzinfo=None), "time zone"),
        (lambda now: now + timedelta(days=400), "a year ahead"),
        (lambda now: now + timedelta(minutes=30), "start after it"),  # v1 starts in an hour
    ],
)
def test_bad_start_moments_are_refused(app, admin, start, message):
    now = datetime.now(UTC)
    publish_rule(values(), admin, now + timedelta(hours=1), now=now)
    db.session.commit()
    before = counts()
    with pytest.raises(RuleError, match=message):
        publish_rule(values(), admin, start(now), now=now)
    db.session.rollback()
    assert counts() == before and rule_history("sedan")[0].valid_to is None


# Holidays


def test_holidays_are_added_once_and_removed(app):
    nowruz = add_holiday(date(2026, 3, 21), " نوروز ")
    db.session.commit()
    assert nowruz.name == "نوروز" and [h.day for h in rules.holidays()] == [date(2026, 3, 21)]
    with pytest.raises(RuleError, match="already a holiday"):
        add_holiday(date(2026, 3, 21), "again")
    with pytest.raises(RuleError, match="needs a name"):
        add_holiday(date(2026, 3, 22), "")
    db.session.rollback()
    remove_holiday(nowruz.id)
    db.session.commit()
    assert rules.holidays() == []
    with pytest.raises(RuleError) as missing:
        remove_holiday(nowruz.id)
    assert missing.value.status == 404


# The admin pages, through their real forms


def form_fields(**changes) -> dict:
    fields = {
        "vehicle_class": "sedan",
        "name": "سواری ۱۴۰۵",
        "currency": "IRR",
        "flag_down": "۲۵۰٬۰۰۰",  # Persian digits and separator, as typed on a Persian keyboard
        "per_km": "90,000",
        "per_minute": "15000",
        "minimum_fare": "500000",
        "rounding_step": "10000",
        "speed_threshold_kmh": "12.5",
        "waiting_per_minute": "15000",
        "waiting_free_minutes": "3",
        "cancellation_fee": "200000",
        "surcharges": json.dumps([NIGHT, {"kind": "holiday", "percent": 25}]),
        "fixed_fares": json.dumps([{"from_zone": "D06", "to_zone": "IKA", "amount": 15_000_000}]),
        "valid_from": "",
    }
    return fields | changes


def test_admin_publishes_a_version_through_the_page(logged_in, tehran_zones):
    client = logged_in("admin")
    page = client.get("/admin/fare-rules")
    assert page.status_code == 200
    response = client.post("/admin/fare-rules", data=form_fields(csrf_token=csrf_token_of(page.get_data(as_text=True))))
    assert response.status_code == 302, response.get_data(as_text=True)
    [rule] = rule_history("sedan")
    assert (rule.version, rule.flag_down, rule.per_km, rule.speed_threshold_kmh) == (1, 250_000, 90_000, 12.5)
    assert rule.surcharges[1] == {"kind": "holiday", "percent": 25}
    assert rules.rule_values(rule)["fixed_fares"][0]["amount"] == 15_000_000

    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Version 1 of the سواری ۱۴۰۵ rule published." in html
    assert "in force" in html and 'data-version="1"' in html
    # The form starts from the newest version, ready for the next one.
    assert 'value="سواری ۱۴۰۵"' in html and "&#34;holiday&#34;" in html

    later = (datetime.now(UTC) + timedelta(days=2)).astimezone(app_zone()).strftime("%Y-%m-%dT%H:%M")
    token = csrf_token_of(html)
    response = client.post("/admin/fare-rules", data=form_fields(per_km="100000", valid_from=later, csrf_token=token))
    assert response.status_code == 302
    assert [r.version for r in rule_history("sedan")] == [2, 1]


@pytest.mark.parametrize(
    "changes,shown",
    [
        ({"surcharges": '[{"kind": "night", '}, "Not valid JSON"),
        ({"surcharges": '{"kind": "night"}'}, "Give a list"),
        ({"flag_down": "a lot"}, "Enter a whole number"),
        ({"per_km": ""}, "This field is required."),
        ({"surcharges": json.dumps([NIGHT | {"percent": 500}])}, "&#39;percent&#39; must be a number from 0 to 300"),
        ({"fixed_fares": json.dumps([{"from_zone": "D06", "to_zone": "D06", "amount": 1}])}, "same zone (D06)"),
        ({"currency": "RIALS"}, "Field must be exactly 3 characters long."),
        ({"currency": "R1L"}, "three-letter currency code"),
        ({"valid_from": "2020-01-01T10:00"}, "a new version cannot start in the past"),
    ],
)
def test_the_page_refuses_bad_input_and_says_why(logged_in, tehran_zones, changes, shown):
    client = logged_in("admin")
    token = csrf_token_of(client.get("/admin/fare-rules").get_data(as_text=True))
    response = client.post("/admin/fare-rules", data=form_fields(csrf_token=token, **changes))
    assert response.status_code == 400
    assert shown in response.get_data(as_text=True)
    assert counts()[0] == 0


def test_the_page_needs_its_csrf_token(logged_in, tehran_zones):
    response = logged_in("admin").post("/admin/fare-rules", data=form_fields())
    assert response.status_code == 400 and "The form has expired" in response.get_data(as_text=True)
    assert counts()[0] == 0


@pytest.mark.parametrize("role", ["agent", "dispatcher", "supervisor"])
def test_only_admins_reach_the_fare_pages(logged_in, role):
    client = logged_in(role)
    for path in ("/admin/fare-rules", "/admin/holidays"):
        assert client.get(path).status_code == 403
    assert client.post("/admin/holidays/1/delete").status_code in (400, 403)


def test_admin_keeps_the_holiday_calendar_through_the_page(logged_in):
    client = logged_in("admin")
    token = csrf_token_of(client.get("/admin/holidays").get_data(as_text=True))
    response = client.post("/admin/holidays", data={"day": "2026-03-21", "name": "نوروز", "csrf_token": token})
    assert response.status_code == 302
    again = client.post("/admin/holidays", data={"day": "2026-03-21", "name": "نوروز", "csrf_token": token})
    assert again.status_code == 400 and "already a holiday" in again.get_data(as_text=True)
    [holiday] = rules.holidays()
    html = client.get("/admin/holidays").get_data(as_text=True)
    assert 'data-day="2026-03-21"' in html
    assert client.post(f"/admin/holidays/{holiday.id}/delete").status_code == 400  # no CSRF token
    response = client.post(f"/admin/holidays/{holiday.id}/delete", data={"csrf_token": token})
    assert response.status_code == 302 and rules.holidays() == []


def test_the_navigation_leads_admins_to_the_fare_pages(logged_in):
    html = logged_in("admin").get("/admin/users").get_data(as_text=True)
    nav = html.split('<nav class="main-nav"', 1)[1].split("</nav>", 1)[0]
    assert 'href="/admin/fare-rules"' in nav and 'href="/admin/holidays"' in nav


# The API


def test_api_publishes_lists_and_shows_versions(api_client, tehran_zones):
    client, headers = api_client("admin")
    body = values(fixed_fares=[{"from_zone": "D06", "to_zone": "IKA", "amount": 15_000_000, "both_ways": False}])
    response = client.post("/api/fare-rules", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    v1 = response.get_json()
    assert (v1["version"], v1["current"], v1["flag_down"], v1["currency"]) == (1, True, 250_000, "IRR")
    assert v1["fixed_fares"] == [{"from_zone": "D06", "to_zone": "IKA", "amount": 15_000_000, "both_ways": False}]
    later = (datetime.now(UTC) + timedelta(days=1)).replace(tzinfo=None).isoformat()  # read on the office clock
    response = client.post("/api/fare-rules", json=values(per_km=95_000) | {"valid_from": later}, headers=headers)
    assert response.status_code == 201
    v2 = response.get_json()
    assert v2["version"] == 2 and v2["current"] is False
    assert v2["valid_from"] == datetime.fromisoformat(later).replace(tzinfo=app_zone()).astimezone(UTC).isoformat()
    client.post("/api/fare-rules", json=values(vehicle_class="van", name="ون"), headers=headers)

    listed = client.get("/api/fare-rules?vehicle_class=sedan", headers=headers).get_json()
    assert [r["version"] for r in listed["items"]] == [2, 1] and listed["total"] == 2
    current = client.get("/api/fare-rules?current=true", headers=headers).get_json()
    assert {(r["vehicle_class"], r["version"]) for r in current["items"]} == {("sedan", 1), ("van", 1)}
    page = client.get("/api/fare-rules?per_page=1&page=2", headers=headers).get_json()
    assert (len(page["items"]), page["total"], page["page"]) == (1, 3, 2)
    one = client.get(f"/api/fare-rules/{v1['id']}", headers=headers).get_json()
    assert one["valid_to"] == v2["valid_from"] and one["per_km"] == 90_000


def app_zone():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Tehran")


@pytest.mark.parametrize(
    "query,status",
    [("?vehicle_class=rickshaw", 400), ("?current=maybe", 400), ("?per_page=0", 400), ("/999", 404)],
)
def test_api_bad_queries(api_client, query, status):
    client, headers = api_client("agent")
    assert client.get(f"/api/fare-rules{query}", headers=headers).status_code == status


def test_api_refuses_bad_rules_with_fields_and_non_admins(api_client, tehran_zones):
    client, headers = api_client("admin")
    response = client.post("/api/fare-rules", json=values(per_km=-3, currency="rial"), headers=headers)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert set(error["fields"]) == {"per_km", "currency"} and "per_km: must be a whole number" in error["message"]
    bad_moment = client.post("/api/fare-rules", json=values() | {"valid_from": "soon"}, headers=headers)
    assert bad_moment.status_code == 400 and bad_moment.get_json()["error"]["fields"] == {"valid_from": "invalid"}
    agent, agent_headers = api_client("agent", "api-agent-2")
    assert agent.post("/api/fare-rules", json=values(), headers=agent_headers).status_code == 403
    assert agent.get("/api/fare-rules", headers=agent_headers).status_code == 200
    assert counts()[0] == 0
