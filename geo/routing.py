"""Road distance and duration between two points: OSRM at ``ROUTING_URL`` when set, else an estimate.

The estimate is the geodesic (straight-line) distance times a road factor, driven at the average speed
of the hour of the office's day. OSRM is asked through its HTTP route service with a short timeout
(``ROUTING_TIMEOUT``); when it is unset, slow, down, or finds no road between the points, the estimate
answers instead, so a quote never fails because routing did. Both kinds of answer are cached in Redis,
which is optional: without it every route is asked or estimated afresh.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import requests
from flask import current_app
from geopy.distance import geodesic
from redis.exceptions import RedisError

from core.queues import redis_connection

log = logging.getLogger("cabdesk.geo")

# Streets are longer than the straight line between two points; Tehran's grid adds about a third.
ROAD_FACTOR = 1.35
# Average speed (km/h) by hour of the office's day: rush hours crawl, nights run free.
SPEED_BY_HOUR = (
    {hour: 24.0 for hour in range(24)}
    | {h: 16.0 for h in (7, 8, 9, 17, 18, 19, 20)}
    | {h: 38.0 for h in (0, 1, 2, 3, 4, 5)}
)
# Five decimals is about a metre: nearer points share a cache entry, and no pickup is placed that finely.
KEY_DECIMALS = 5
# Roads change slowly and an office reloads its OSRM extract rarely; a day keeps the cache small and fresh.
CACHE_TTL = 24 * 3600
# After OSRM failed (down, slow, broken answer) this process estimates for a while instead of making
# every quote wait out the timeout again; an answer of "no road between the points" is no failure.
RETRY_AFTER_SECONDS = 30
_DOWN_KEY = "cabdesk_routing_down_until"
# Bumped when the estimate's formula changes, so cached estimates of the old formula are not served.
_ESTIMATE_VERSION = 1


@dataclass(frozen=True)
class Route:
    """How far (km) and how long (minutes) the drive is, and who said so: ``osrm`` or ``estimate``."""

    distance_km: float
    duration_min: float
    source: str


def estimate_trip(
    pickup: tuple[float, float], dropoff: tuple[float, float], pickup_at: datetime, zone: str
) -> tuple[float, float]:
    """Road distance (km) and duration (minutes): the straight line times the road factor, at the hour's speed."""
    km = round(geodesic(pickup, dropoff).km * ROAD_FACTOR, 1)
    speed = SPEED_BY_HOUR[pickup_at.astimezone(ZoneInfo(zone)).hour]
    return km, round(km / speed * 60, 1)


def _rounded(point: tuple[float, float]) -> tuple[float, float]:
    return round(float(point[0]), KEY_DECIMALS), round(float(point[1]), KEY_DECIMALS)


def _cached(key: str) -> tuple[float, float] | None:
    try:
        raw = redis_connection().get(key)
    except RedisError as exc:
        log.warning("routing cache unavailable (%s)", type(exc).__name__)
        return None
    if raw is None:
        return None
    try:
        km, minutes = json.loads(raw)
        return float(km), float(minutes)
    except (ValueError, TypeError):
        return None  # a damaged entry: work it out again and overwrite it


def _store(key: str, km: float, minutes: float) -> None:
    try:
        redis_connection().set(key, json.dumps([km, minutes]), ex=CACHE_TTL)
    except RedisError as exc:
        log.warning("routing cache unavailable (%s); answer not cached", type(exc).__name__)


class _NoRoute(Exception):
    """OSRM answered, and found no road between the points."""


def _ask_osrm(base: str, start: tuple[float, float], end: tuple[float, float]) -> tuple[float, float]:
    """(km, minutes) from OSRM's route service; raises on any failure, ``_NoRoute`` when it found no road."""
    # OSRM wants lon,lat order, like GeoJSON.
    coordinates = f"{start[1]},{start[0]};{end[1]},{end[0]}"
    response = requests.get(
        f"{base}/route/v1/driving/{coordinates}",
        params={"overview": "false"},
        timeout=current_app.config.get("ROUTING_TIMEOUT", 2.0),
    )
    try:
        body = response.json()
    except ValueError:
        body = None
    code = body.get("code") if isinstance(body, dict) else None
    # OSRM answers 400 with a code for a request it understood but could not route (NoRoute, NoSegment).
    if code in ("NoRoute", "NoSegment"):
        raise _NoRoute(code)
    response.raise_for_status()
    if code != "Ok":
        raise ValueError(f"OSRM answered code {code!r}")
    route = body["routes"][0]
    metres, seconds = float(route["distance"]), float(route["duration"])
    if not (math.isfinite(metres) and math.isfinite(seconds) and metres >= 0 and seconds >= 0):
        raise ValueError("OSRM answered a distance or duration that is no length of time or road")
    return round(metres / 1000, 1), round(seconds / 60, 1)


def _osrm_route(base: str, start: tuple[float, float], end: tuple[float, float]) -> Route | None:
    """OSRM's answer through the cache, or None when OSRM cannot give one now."""
    key = f"cabdesk:route:osrm:{base}:{start[0]},{start[1]};{end[0]},{end[1]}"
    hit = _cached(key)
    if hit is not None:
        return Route(*hit, "osrm")
    app = current_app._get_current_object()
    if app.extensions.get(_DOWN_KEY, 0.0) > time.monotonic():
        return None
    try:
        km, minutes = _ask_osrm(base, start, end)
    except _NoRoute as exc:
        log.info("OSRM found no road between %s and %s (%s); estimating", start, end, exc)
        return None
    except Exception as exc:  # down, slow, or an answer that is not OSRM's: estimate, and rest OSRM a while
        origin = urlsplit(base)._replace(netloc=urlsplit(base).netloc.rpartition("@")[2], path="").geturl()
        log.warning("OSRM at %s failed (%s); estimating for %d s", origin, type(exc).__name__, RETRY_AFTER_SECONDS)
        app.extensions[_DOWN_KEY] = time.monotonic() + RETRY_AFTER_SECONDS
        return None
    _store(key, km, minutes)
    return Route(km, minutes, "osrm")


def road_route(pickup: tuple[float, float], dropoff: tuple[float, float], at: datetime) -> Route:
    """The drive between two checked points starting at ``at``: OSRM's when it answers, else the estimate.

    Points are rounded to about a metre (five decimals) for the cache and for OSRM alike; the estimate's
    cache entry also carries the hour of the office's day, since its speed depends on it.
    """
    start, end = _rounded(pickup), _rounded(dropoff)
    base = (current_app.config.get("ROUTING_URL") or "").strip().rstrip("/")
    if base:
        found = _osrm_route(base, start, end)
        if found is not None:
            return found
    zone = current_app.config["OFFICE_TIMEZONE"]
    hour = at.astimezone(ZoneInfo(zone)).hour
    key = f"cabdesk:route:estimate:{_ESTIMATE_VERSION}:{hour}:{start[0]},{start[1]};{end[0]},{end[1]}"
    hit = _cached(key)
    if hit is not None:
        return Route(*hit, "estimate")
    km, minutes = estimate_trip(start, end, at, zone)
    _store(key, km, minutes)
    return Route(km, minutes, "estimate")
