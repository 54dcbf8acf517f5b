"""The live index of where drivers are: Redis geospatial sets and last-seen times.

Three keys: every on-duty driver's last position (``positions``), the available ones alone
(``available``, what the dispatcher searches) and when each was last heard from (``seen``, a sorted
set by Unix time). The database keeps a copy of the last position too, so the index can be rebuilt
after Redis restarts (``rebuild``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from redis import Redis
from redis.client import Pipeline

POSITIONS = "cabdesk:drivers:positions"
AVAILABLE = "cabdesk:drivers:available"
SEEN = "cabdesk:drivers:seen"
# The hint for the position fast path: each driver's state as last set ("available:1": state and whether
# they were searchable then).
STATE = "cabdesk:drivers:state"


@dataclass(frozen=True)
class Sighting:
    """Where a driver was last seen, and when (Unix time)."""

    lat: float
    lon: float
    at: float


@dataclass(frozen=True)
class NearbyDriver:
    """A driver found near a point: their id and the straight-line distance in km."""

    driver_id: int
    km: float


@dataclass(frozen=True)
class QuickState:
    """What the index knows of a driver, read in one round trip: the state hint and the last sighting."""

    status: str
    searchable: bool
    last: Sighting | None


def quick_state(redis: Redis, driver_id: int) -> QuickState | None:
    """The index's view of a driver for the position fast path; None when it holds no state hint for them."""
    with redis.pipeline(transaction=False) as pipe:
        read = queue_quick_state(pipe, driver_id)
        return read(pipe.execute())


def queue_quick_state(pipe: Pipeline, driver_id: int) -> Callable[[list], QuickState | None]:
    """Queue ``quick_state``'s reads on a pipeline shared with other reads; the returned function reads the
    pipeline's last three answers (one round trip to Redis for the caller's reads and these)."""
    pipe.hget(STATE, driver_id)
    pipe.geopos(POSITIONS, driver_id)
    pipe.zscore(SEEN, driver_id)

    def read(answers: list) -> QuickState | None:
        hint, position, seen = answers[-3:]
        if hint is None:
            return None
        status, _, flag = hint.decode().partition(":")
        last = None
        if position and position[0] is not None and seen is not None:
            last = Sighting(lat=position[0][1], lon=position[0][0], at=seen)
        return QuickState(status, flag == "1", last)

    return read


def set_state_hint(redis: Redis, driver_id: int, status: str, searchable: bool) -> None:
    """Remember a driver's state for the position fast path (a hint: the database stays the authority)."""
    redis.hset(STATE, driver_id, f"{status}:{int(searchable)}")


def last_sighting(redis: Redis, driver_id: int) -> Sighting | None:
    """The driver's last position and time in the index, if any."""
    with redis.pipeline(transaction=False) as pipe:
        pipe.geopos(POSITIONS, driver_id)
        pipe.zscore(SEEN, driver_id)
        positions, seen = pipe.execute()
    if not positions or positions[0] is None or seen is None:
        return None
    lon, lat = positions[0]
    return Sighting(lat=lat, lon=lon, at=seen)


def record(redis: Redis, driver_id: int, lat: float, lon: float, at: float, available: bool) -> None:
    """Put a driver at a position; in the searchable set only when they may be offered jobs."""
    with redis.pipeline(transaction=True) as pipe:
        pipe.geoadd(POSITIONS, (lon, lat, driver_id))
        pipe.zadd(SEEN, {driver_id: at})
        if available:
            pipe.geoadd(AVAILABLE, (lon, lat, driver_id))
        else:
            pipe.zrem(AVAILABLE, driver_id)
        pipe.execute()


def set_searchable(redis: Redis, driver_id: int, searchable: bool) -> None:
    """Add a driver to (at their last position) or take them out of the searchable set."""
    if not searchable:
        redis.zrem(AVAILABLE, driver_id)
        return
    position = redis.geopos(POSITIONS, driver_id)
    if position and position[0] is not None:
        lon, lat = position[0]
        redis.geoadd(AVAILABLE, (lon, lat, driver_id))


def forget(redis: Redis, driver_id: int) -> None:
    """Take a driver off the index entirely (gone offline)."""
    with redis.pipeline(transaction=True) as pipe:
        pipe.zrem(POSITIONS, driver_id)
        pipe.zrem(AVAILABLE, driver_id)
        pipe.zrem(SEEN, driver_id)
        pipe.hset(STATE, driver_id, "offline:0")
        pipe.execute()


# Search rings, km: Redis measures and sorts every member inside the radius whatever COUNT says, so a
# city-wide radius over a busy fleet costs tens of milliseconds; a small ring first usually suffices.
RINGS_KM = (1.0, 3.0)


def nearest(
    redis: Redis, lat: float, lon: float, radius_km: float, count: int, seen_since: float
) -> list[NearbyDriver]:
    """Available drivers within ``radius_km`` of a point, nearest first, leaving out those not seen since then.

    Searches growing rings up to ``radius_km`` and stops at the first that holds ``count`` fresh drivers, so
    the answer is the same as one search of the whole radius. Asks Redis for twice ``count`` so that stale
    drivers dropped afterwards still leave enough.
    """
    rings = [r for r in RINGS_KM if r < radius_km] + [radius_km]
    for ring in rings:
        fresh = _fresh_within(redis, lat, lon, ring, count, seen_since)
        if len(fresh) >= count:
            break
    return fresh[:count]


def _fresh_within(
    redis: Redis, lat: float, lon: float, radius_km: float, count: int, seen_since: float
) -> list[NearbyDriver]:
    found = redis.geosearch(
        AVAILABLE, longitude=lon, latitude=lat, radius=radius_km, unit="km", sort="ASC", count=count * 2, withdist=True
    )
    if not found:
        return []
    seen = redis.zmscore(SEEN, [member for member, _ in found])
    return [
        NearbyDriver(int(member), round(float(km), 3))
        for (member, km), at in zip(found, seen, strict=True)
        if at is not None and at >= seen_since
    ]


def seen_times(redis: Redis, driver_ids: Iterable[int]) -> dict[int, float]:
    """When each of these drivers was last heard from (Unix time); unknown ones are left out."""
    ids = list(driver_ids)
    if not ids:
        return {}
    return {i: at for i, at in zip(ids, redis.zmscore(SEEN, ids), strict=True) if at is not None}


def stale_drivers(redis: Redis, seen_before: float) -> list[int]:
    """Drivers in the index not heard from since that moment."""
    return [int(member) for member in redis.zrangebyscore(SEEN, "-inf", f"({seen_before}")]


def rebuild(redis: Redis, sightings: Iterable[tuple[int, Sighting, bool]]) -> None:
    """Refill the index from ``(driver_id, sighting, available)`` rows, e.g. from the database after Redis lost it."""
    with redis.pipeline(transaction=False) as pipe:
        for driver_id, sighting, available in sightings:
            pipe.geoadd(POSITIONS, (sighting.lon, sighting.lat, driver_id))
            pipe.zadd(SEEN, {driver_id: sighting.at}, nx=True)
            if available:
                pipe.geoadd(AVAILABLE, (sighting.lon, sighting.lat, driver_id))
            pipe.hset(STATE, driver_id, f"{'available' if available else 'on_duty'}:{int(available)}")
        pipe.execute()
