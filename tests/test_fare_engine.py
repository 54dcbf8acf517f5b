"""The fare engine's rules beyond the meter: the time-or-distance switch, rush hours, holidays, fixed
zone-to-zone prices, waiting, cancellation, rounding; and that the lines always add up to the fare."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, date, datetime

import pytest
from shapely.geometry import shape

from core.extensions import db
from fares.models import FixedFare, Holiday
from fares.services import breakdown, cancellation_fee, charged_by, quote_fare, round_to_step, waiting_charge
from tests.test_fares import sedan_rule

ZONE = "Asia/Tehran"
MONDAY_8AM = datetime(2026, 11, 23, 4, 30, tzinfo=UTC)  # Monday 08:00 in Tehran
MONDAY_NOON = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)
FRIDAY_8AM = datetime(2026, 11, 27, 4, 30, tzinfo=UTC)
# 22:00 UTC on Monday is already Tuesday 01:30 in Tehran: days are the office's.
TUESDAY_0130_TEHRAN = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)
NOWRUZ_0030_TEHRAN = datetime(2026, 3, 20, 21, 0, tzinfo=UTC)  # 21 March in Tehran, 20 March in UTC
RUSH = {"kind": "rush", "from": "07:00", "to": "09:30", "days": ["sat", "sun", "mon", "tue", "wed"], "percent": 15}


def plain_rule(**changes):
    """The sedan rule of tests/test_fares.py without surcharges: 250,000 + 90,000/km + 15,000/min."""
    return sedan_rule(**({"surcharges": []} | changes))


def kinds(lines) -> list[str]:
    return [line.kind for line in lines]


# The time-or-distance switch


@pytest.mark.parametrize(
    "km,minutes,threshold,by",
    [
        (10, 60, 20, "time"),  # 10 km/h: stuck in traffic, the clock runs
        (10, 20, 20, "distance"),  # 30 km/h: the road runs
        (20, 60, 20, "distance"),  # exactly the threshold is not below it
        (10, 0, 20, "distance"),  # no duration: as fast as it gets
        (10, 60, 0, "both"),  # no threshold: both are charged
    ],
)
def test_the_switch_picks_time_or_distance_by_average_speed(app, km, minutes, threshold, by):
    rule = plain_rule(speed_threshold_kmh=threshold, minimum_fare=0, rounding_step=1)
    assert charged_by(rule, km, minutes) == by
    fare, lines = quote_fare(rule, km, minutes, MONDAY_NOON, set(), ZONE)
    expected = {"time": ["flag_down", "time"], "distance": ["flag_down", "distance"]}
    assert kinds(lines) == expected.get(by, ["flag_down", "distance", "time"])
    by_time, by_distance = 250_000 + 15_000 * minutes, 250_000 + 90_000 * km
    assert fare == {"time": by_time, "distance": by_distance, "both": by_time + by_distance - 250_000}[by]


def test_the_switch_slow_trip_still_gets_the_minimum(app):
    rule = plain_rule(speed_threshold_kmh=20, minimum_fare=500_000)
    fare, lines = quote_fare(rule, 2, 12, MONDAY_NOON, set(), ZONE)  # 10 km/h: 250,000 + 180,000 by time
    assert fare == 500_000 and kinds(lines) == ["flag_down", "time", "minimum"]


# Rush hours


@pytest.mark.parametrize(
    "at,applies",
    [
        (MONDAY_8AM, True),
        (FRIDAY_8AM, False),  # not one of its days
        (MONDAY_NOON, False),  # outside its window
    ],
)
def test_rush_hour_applies_in_its_window_on_its_days(app, at, applies):
    fare, lines = quote_fare(plain_rule(surcharges=[RUSH]), 10, 20, at, set(), ZONE)
    assert ("rush" in kinds(lines)) is applies
    assert fare == (1_670_000 if applies else 1_450_000)  # + 15 % of 1,450,000 = 1,667,500 → 1,670,000


def test_rush_days_are_read_on_the_office_clock(app):
    late = {"kind": "rush", "from": "00:00", "to": "03:00", "days": ["tue"], "percent": 10}
    _fare, lines = quote_fare(plain_rule(surcharges=[late]), 10, 20, TUESDAY_0130_TEHRAN, set(), ZONE)
    assert next(line for line in lines if line.kind == "rush").amount == 145_000


def test_a_rush_window_without_days_applies_every_day(app):
    every_day = {"kind": "rush", "from": "07:00", "to": "09:30", "percent": 15}
    _fare, lines = quote_fare(plain_rule(surcharges=[every_day]), 10, 20, FRIDAY_8AM, set(), ZONE)
    assert "rush" in kinds(lines)


# Holidays


def test_holiday_surcharge_on_calendar_days_of_the_office_clock(app):
    db.session.add(Holiday(day=date(2026, 3, 21), name="نوروز"))
    db.session.commit()
    rule = plain_rule(surcharges=[{"kind": "holiday", "percent": 25}])
    fare, lines = quote_fare(rule, 10, 20, NOWRUZ_0030_TEHRAN, set(), ZONE)
    assert kinds(lines) == ["flag_down", "distance", "time", "holiday", "rounding"]
    assert fare == 1_810_000  # 1,450,000 + 25 % = 1,812,500, rounded to the 10,000 step
    fare, lines = quote_fare(rule, 10, 20, MONDAY_NOON, set(), ZONE)
    assert "holiday" not in kinds(lines) and fare == 1_450_000


def test_percent_surcharges_add_up_without_compounding(app):
    night = {"kind": "night", "from": "00:00", "to": "06:00", "percent": 20}
    rule = plain_rule(surcharges=[night, {"kind": "holiday", "percent": 25}])
    _fare, lines = quote_fare(rule, 10, 20, NOWRUZ_0030_TEHRAN, set(), ZONE, holiday=True)
    assert {line.kind: line.amount for line in lines}.items() >= {"night": 290_000, "holiday": 362_500}.items()


# Fixed zone-to-zone prices


def _centre(zone) -> tuple[float, float]:
    point = shape(zone.boundary).representative_point()
    return point.y, point.x


@pytest.fixture
def airport_rule(app, tehran_zones):
    """The sedan rule saved with its night and airport surcharges and a fixed D06 → IKA price, both ways."""
    rule = sedan_rule()
    db.session.add(rule)
    db.session.flush()
    db.session.add(
        FixedFare(
            fare_rule_id=rule.id,
            from_zone_id=tehran_zones["D06"].id,
            to_zone_id=tehran_zones["IKA"].id,
            amount=15_004_000,
            both_ways=True,
        )
    )
    db.session.commit()
    return rule


def test_a_fixed_price_replaces_the_meter_and_the_surcharges(app, tehran_zones, airport_rule):
    ids = (tehran_zones["D06"].id, tehran_zones["IKA"].id)
    # At night, to the airport zone: neither the night nor the zone surcharge is added to a flat rate.
    fare, lines = quote_fare(
        airport_rule, 45, 50, datetime(2026, 11, 23, 20, 0, tzinfo=UTC), {"D06", "IKA"}, ZONE, zone_ids=ids
    )
    assert kinds(lines) == ["fixed", "rounding"]
    assert fare == 15_000_000 and sum(line.amount for line in lines) == fare
    assert breakdown(lines, "en")[0]["label"] == "Fixed price D06–IKA"


def test_a_fixed_price_both_ways_covers_the_way_back(app, tehran_zones, airport_rule):
    back = (tehran_zones["IKA"].id, tehran_zones["D06"].id)
    fare, lines = quote_fare(airport_rule, 45, 50, MONDAY_NOON, {"IKA", "D06"}, ZONE, zone_ids=back)
    assert fare == 15_000_000 and kinds(lines)[0] == "fixed"
    assert breakdown(lines, "en")[0]["label"] == "Fixed price IKA–D06"


def test_a_one_way_fixed_price_leaves_the_way_back_metered(app, tehran_zones, airport_rule):
    db.session.execute(db.update(FixedFare).values(both_ways=False))
    db.session.commit()
    back = (tehran_zones["IKA"].id, tehran_zones["D06"].id)
    _fare, lines = quote_fare(airport_rule, 45, 50, MONDAY_NOON, {"IKA", "D06"}, ZONE, zone_ids=back)
    assert kinds(lines)[:3] == ["flag_down", "distance", "time"] and "zone" in kinds(lines)


def test_a_price_for_the_very_direction_wins_over_the_reverse_both_ways(app, tehran_zones, airport_rule):
    db.session.add(
        FixedFare(
            fare_rule_id=airport_rule.id,
            from_zone_id=tehran_zones["IKA"].id,
            to_zone_id=tehran_zones["D06"].id,
            amount=12_000_000,
            both_ways=False,
        )
    )
    db.session.commit()
    back = (tehran_zones["IKA"].id, tehran_zones["D06"].id)
    assert quote_fare(airport_rule, 45, 50, MONDAY_NOON, set(), ZONE, zone_ids=back)[0] == 12_000_000
    there = (tehran_zones["D06"].id, tehran_zones["IKA"].id)
    assert quote_fare(airport_rule, 45, 50, MONDAY_NOON, set(), ZONE, zone_ids=there)[0] == 15_000_000


def test_a_fixed_price_keeps_the_loyalty_discount(app, tehran_zones, airport_rule):
    ids = (tehran_zones["D06"].id, tehran_zones["IKA"].id)
    fare, lines = quote_fare(airport_rule, 45, 50, MONDAY_NOON, set(), ZONE, 10, zone_ids=ids)
    # 15,004,000 − 1,500,400 = 13,503,600 → 13,500,000
    assert kinds(lines) == ["fixed", "loyalty", "rounding"] and fare == 13_500_000
    assert sum(line.amount for line in lines) == fare


def test_a_fixed_price_belongs_to_its_rule_version(app, tehran_zones, airport_rule):
    other = sedan_rule(version=2)
    db.session.add(other)
    db.session.commit()
    ids = (tehran_zones["D06"].id, tehran_zones["IKA"].id)
    _fare, lines = quote_fare(other, 45, 50, MONDAY_NOON, set(), ZONE, zone_ids=ids)
    assert kinds(lines)[0] == "flag_down"


def test_a_quote_between_fixed_price_zones_through_the_api(api_client, tehran_zones, airport_rule):
    pickup, dropoff = _centre(tehran_zones["D06"]), _centre(tehran_zones["IKA"])
    client, headers = api_client("agent")
    body = {"pickup": {"lat": pickup[0], "lon": pickup[1]}, "dropoff": {"lat": dropoff[0], "lon": dropoff[1]}}
    response = client.post("/api/quotes", json=body, headers=headers)
    assert response.status_code == 200, response.get_json()
    quote = response.get_json()
    assert quote["fare"] == 15_000_000
    assert [line["label"] for line in quote["breakdown"]] == ["Fixed price D06–IKA", "Rounding"]


# Waiting and cancellation


@pytest.mark.parametrize(
    "waited,charge",
    [
        (0, 0),
        (3, 0),  # the free minutes
        (3.9, 0),  # a minute is charged once it is over
        (4.9, 20_000),  # one minute past the free ones: 15,000 rounded half up to the 10,000 step
        (5, 30_000),  # 2 minutes × 15,000
        (4.99999999999, 30_000),  # five minutes worked out from timestamps
        (6, 50_000),  # 45,000 rounded half up to the 10,000 step
        (63.5, 900_000),
    ],
)
def test_waiting_charge(app, waited, charge):
    rule = plain_rule(waiting_per_minute=15_000, waiting_free_minutes=3)
    assert waiting_charge(rule, waited) == charge


@pytest.mark.parametrize("waited", [-1, math.nan, math.inf])
def test_waiting_charge_refuses_impossible_waits(app, waited):
    with pytest.raises(ValueError, match="waiting time"):
        waiting_charge(plain_rule(waiting_per_minute=15_000), waited)


def test_cancellation_fee_is_the_rules(app):
    assert cancellation_fee(plain_rule(cancellation_fee=200_000)) == 200_000
    assert cancellation_fee(plain_rule(cancellation_fee=0)) == 0


def test_waiting_and_cancellation_lines_read_in_both_languages(app):
    from fares.services import FareLine

    lines = [FareLine("waiting", 30_000, 5.0), FareLine("cancellation", 200_000)]
    assert [item["label"] for item in breakdown(lines, "en")] == ["Waiting 5 min", "Cancellation fee"]
    assert "۵" in breakdown(lines, "fa")[0]["label"]


# Rounding, and lines that add up


@pytest.mark.parametrize("amount,step,rounded", [(915_000, 10_000, 920_000), (914_999, 10_000, 910_000), (7, 1, 7)])
def test_rounding_is_half_up_to_the_step(amount, step, rounded):
    assert round_to_step(amount, step) == rounded


def test_every_line_has_a_label_in_both_languages(app):
    surcharges = [
        RUSH,
        {"kind": "holiday", "percent": 25},
        {"kind": "night", "from": "07:00", "to": "09:00", "percent": 5},
    ]
    _fare, lines = quote_fare(plain_rule(surcharges=surcharges), 1, 2, MONDAY_8AM, set(), ZONE, 10, holiday=True)
    assert {"rush", "holiday", "night", "minimum", "loyalty"} <= set(kinds(lines))
    english, persian = breakdown(lines, "en"), breakdown(lines, "fa")
    labels = dict(zip(kinds(lines), [i["label"] for i in english], strict=True))
    assert [labels[k] for k in ("rush", "holiday", "night", "loyalty")] == [
        "Rush hour 15%",
        "Holiday 25%",
        "Night 5%",
        "Loyalty discount 10%",
    ]
    assert all(i["label"] for i in persian) and [i["amount"] for i in persian] == [i["amount"] for i in english]


def test_lines_always_add_up_to_the_fare(app):
    night = {"kind": "night", "from": "23:00", "to": "06:00", "percent": 20}
    holiday = {"kind": "holiday", "percent": 12.5}
    surcharges = [night, RUSH, holiday, {"kind": "zone", "zone": "IKA", "amount": 1_500_000}]
    cases = itertools.product(
        [0.4, 3.3, 17.8],  # km
        [0.0, 1.0, 9.7, 48.2],  # minutes
        [MONDAY_8AM, FRIDAY_8AM, TUESDAY_0130_TEHRAN],
        [0, 12],  # loyalty percent
        [0, 25],  # switch speed
        [1, 1_000, 10_000],  # rounding step
    )
    for km, minutes, at, discount, threshold, step in cases:
        rule = sedan_rule(surcharges=surcharges, speed_threshold_kmh=threshold, rounding_step=step)
        fare, lines = quote_fare(rule, km, minutes, at, {"IKA"}, ZONE, discount, holiday=at == FRIDAY_8AM)
        case = (km, minutes, at, discount, threshold, step)
        assert sum(line.amount for line in lines) == fare, case
        assert fare % step == 0 and fare > 0, case
        assert all(type(line.amount) is int for line in lines), case
