"""The live position index: nearest available drivers through growing search rings, stale ones left out."""

from __future__ import annotations

import time

from geopy.distance import geodesic

from drivers import positions

PICKUP = (35.7000, 51.4000)


def north_of(km: float) -> tuple[float, float]:
    point = geodesic(kilometers=km).destination(PICKUP, 0)
    return point.latitude, point.longitude


def test_nearest_is_the_same_as_one_search_of_the_whole_radius(redis_client):
    now = time.time()
    for driver_id, km in ((1, 0.5), (2, 2.0), (3, 8.0), (4, 14.0), (5, 0.8)):
        lat, lon = north_of(km)
        positions.record(redis_client, driver_id, lat, lon, now, available=True)
    positions.record(redis_client, 6, *north_of(0.2), now - 600, available=True)  # nearest, but silent for 10 min
    positions.record(redis_client, 7, *north_of(0.3), now, available=False)  # on a job
    found = positions.nearest(redis_client, *PICKUP, radius_km=15, count=2, seen_since=now - 120)
    assert [d.driver_id for d in found] == [1, 5]
    found = positions.nearest(redis_client, *PICKUP, radius_km=15, count=4, seen_since=now - 120)
    assert [d.driver_id for d in found] == [1, 5, 2, 3]
    assert abs(found[3].km - 8.0) < 0.05
    found = positions.nearest(redis_client, *PICKUP, radius_km=10, count=10, seen_since=now - 120)
    assert [d.driver_id for d in found] == [1, 5, 2, 3], "none beyond the radius"
