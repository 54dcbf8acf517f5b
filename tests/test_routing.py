"""Road distance and duration: OSRM through its real HTTP protocol (a loopback stand-in), else the estimate."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from config import ConfigError, load_config
from geo import routing
from geo.routing import estimate_trip, road_route
from tests.support.osrm_stub import osrm_stub

TAJRISH = (35.8045, 51.4336)
AZADI = (35.6997, 51.3380)
NOON = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)  # 12:00 in Tehran
RUSH = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)  # 18:00 in Tehran


@pytest.fixture
def osrm(app, redis_client):
    """A running OSRM stand-in the app routes through, with an empty cache."""
    with osrm_stub() as stub:
        app.config.update(ROUTING_URL=stub.url, ROUTING_TIMEOUT=2.0)
        yield stub


def test_without_a_routing_server_the_estimate_answers(app, redis_client):
    route = road_route(TAJRISH, AZADI, NOON)
    assert route.source == "estimate"
    assert (route.distance_km, route.duration_min) == estimate_trip(TAJRISH, AZADI, NOON, "Asia/Tehran")
    assert 14 < route.distance_km < 25
    # Rush hour crawls: the same road takes longer.
    assert road_route(TAJRISH, AZADI, RUSH).duration_min > route.duration_min


def test_the_estimate_is_cached_per_hour(app, redis_client):
    road_route(TAJRISH, AZADI, NOON)
    keys = [k.decode() for k in redis_client.keys("cabdesk:route:estimate:*")]
    assert len(keys) == 1 and ":12:" in keys[0] and "35.8045,51.4336;35.6997,51.338" in keys[0]
    assert 0 < redis_client.ttl(keys[0]) <= routing.CACHE_TTL
    # What the cache holds is what is answered: the next quote does not work it out again.
    redis_client.set(keys[0], json.dumps([99.9, 88.8]))
    again = road_route(TAJRISH, AZADI, NOON)
    assert (again.distance_km, again.duration_min) == (99.9, 88.8)
    assert road_route(TAJRISH, AZADI, RUSH).distance_km != 99.9  # another hour, another entry


def test_osrm_is_asked_in_its_own_protocol(app, osrm):
    osrm.answer = (12_345.6, 1_500.0)
    route = road_route(TAJRISH, AZADI, NOON)
    assert route == routing.Route(12.3, 25.0, "osrm")
    [(path, query)] = osrm.requests
    # OSRM takes lon,lat pairs.
    assert path == "/route/v1/driving/51.4336,35.8045;51.338,35.6997"
    assert query == {"overview": "false"}


def test_osrm_answers_are_cached_by_points_rounded_to_a_metre(app, osrm):
    first = road_route(TAJRISH, AZADI, NOON)
    nearby = (TAJRISH[0] + 0.000001, TAJRISH[1] - 0.000001)
    again = road_route(nearby, AZADI, RUSH)  # another hour does not matter to OSRM's answer
    assert again == first and len(osrm.requests) == 1
    road_route(AZADI, TAJRISH, NOON)  # the way back is another route
    assert len(osrm.requests) == 2


def test_no_road_between_the_points_falls_back_for_that_trip_only(app, osrm):
    osrm.mode = "no_route"
    route = road_route(TAJRISH, AZADI, NOON)
    assert route.source == "estimate"
    assert (route.distance_km, route.duration_min) == estimate_trip(TAJRISH, AZADI, NOON, "Asia/Tehran")
    osrm.mode = "ok"
    assert road_route(AZADI, TAJRISH, NOON).source == "osrm"  # NoRoute is an answer, not an outage
    assert len(osrm.requests) == 2


@pytest.mark.parametrize("mode", ["fail", "garbage", "empty"])
def test_a_broken_server_falls_back_and_is_left_alone_for_a_while(app, osrm, monkeypatch, mode):
    osrm.mode = mode
    assert road_route(TAJRISH, AZADI, NOON).source == "estimate"
    assert len(osrm.requests) == 1
    osrm.mode = "ok"
    # Within the rest period nobody waits on the server again.
    assert road_route(AZADI, TAJRISH, NOON).source == "estimate"
    assert len(osrm.requests) == 1
    later = time.monotonic() + routing.RETRY_AFTER_SECONDS + 1
    monkeypatch.setattr(routing.time, "monotonic", lambda: later)
    assert road_route(AZADI, TAJRISH, NOON).source == "osrm"
    assert len(osrm.requests) == 2


def test_a_hanging_server_costs_only_the_timeout(app, osrm):
    osrm.mode = "hang"
    app.config["ROUTING_TIMEOUT"] = 0.3
    started = time.monotonic()
    route = road_route(TAJRISH, AZADI, NOON)
    assert route.source == "estimate"
    assert time.monotonic() - started < 2


def test_an_unreachable_server_falls_back(app, redis_client):
    with osrm_stub() as stub:
        url = stub.url
    app.config["ROUTING_URL"] = url  # nothing listens there any more
    assert road_route(TAJRISH, AZADI, NOON).source == "estimate"


def test_without_redis_routes_are_still_answered(app, osrm):
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    app.extensions.pop("cabdesk_redis", None)
    assert road_route(TAJRISH, AZADI, NOON).source == "osrm"
    app.config["ROUTING_URL"] = ""
    assert road_route(TAJRISH, AZADI, NOON).source == "estimate"


def test_routing_timeout_setting(tmp_path):
    assert load_config({}, tmp_path)["ROUTING_TIMEOUT"] == 2.0
    assert load_config({"ROUTING_TIMEOUT": "0.5"}, tmp_path)["ROUTING_TIMEOUT"] == 0.5
    with pytest.raises(ConfigError, match="ROUTING_TIMEOUT"):
        load_config({"ROUTING_TIMEOUT": "soon"}, tmp_path)


def test_quotes_use_the_routing_server(api_client, osrm, tehran_zones):
    from core.extensions import db
    from tests.test_fares import sedan_rule

    db.session.add(sedan_rule())
    db.session.commit()
    osrm.answer = (20_000.0, 1_800.0)
    client, headers = api_client("agent")
    body = {"pickup": {"lat": TAJRISH[0], "lon": TAJRISH[1]}, "dropoff": {"lat": AZADI[0], "lon": AZADI[1]}}
    quote = client.post("/api/quotes", json=body, headers=headers).get_json()
    assert (quote["distance_km"], quote["duration_min"]) == (20.0, 30.0)
    assert len(osrm.requests) == 1
