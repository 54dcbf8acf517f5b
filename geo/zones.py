"""Which zone a point lies in, and how far a point is from the zones, from an index built once per process.

The index (an STRtree over prepared polygons, plus the zones' union in a local kilometre grid) lives in
``current_app.extensions`` and is rebuilt when it goes stale. Stale means one of:

- the zones' version stamp changed: ``(count, active count, max id, max created_at)``, one aggregate
  query per lookup, which catches zones added, removed, switched on or off, in every process; plus a
  version number in Redis that the commit of a transaction which called ``zones_changed()`` bumps, one
  GET per lookup, which catches a boundary or a name edited in place (the table has no ``updated_at``);
- ``invalidate_zone_cache()`` was called, for its own process;
- the index is older than ``ZONE_CACHE_SECONDS`` (default 300): the bound on how long other processes
  keep serving a boundary edited in place elsewhere while Redis is out of reach.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass

import shapely
from flask import current_app, has_app_context
from geopy.distance import geodesic
from redis.exceptions import RedisError
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points, unary_union
from sqlalchemy import case, event, func, select
from sqlalchemy.orm import Session

from core.extensions import db
from core.queues import redis_connection
from geo.models import Zone

log = logging.getLogger("cabdesk.geo")

_EXTENSION_KEY = "cabdesk_zone_index"
_EARTH_RADIUS_KM = 6371.0088
_build_lock = threading.Lock()
_VERSION_KEY = "cabdesk:zones:version"
_CHANGED = "cabdesk_zones_changed"
# After a Redis error the version is not asked for again for a while: a lookup must not wait on Redis. The pause
# belongs to the app, as its Redis connection does: another app in the process (tests, a second instance) has its own.
_REDIS_PAUSE_SECONDS = 10.0
_PAUSED_UNTIL = "cabdesk_zone_redis_paused_until"


@dataclass(frozen=True)
class ZoneEntry:
    """One active zone as the index holds it: ids and names, prepared geometry, a point inside it."""

    id: int
    code: str
    name_fa: str
    name_en: str
    geometry: BaseGeometry
    lat: float
    lon: float
    area: float


@dataclass(frozen=True)
class ZoneIndex:
    """The active zones of one moment, ready for point queries."""

    stamp: tuple
    built_at: float
    entries: tuple[ZoneEntry, ...]
    tree: shapely.STRtree | None
    # (west, south, east, north) in degrees, None with no zones.
    bounds: tuple[float, float, float, float] | None
    origin: tuple[float, float]  # (lat, lon) of the local kilometre grid
    union_km: BaseGeometry | None


def _shared_version() -> int | None:
    extensions = current_app.extensions
    if time.monotonic() < extensions.get(_PAUSED_UNTIL, 0.0):
        return None
    try:
        raw = redis_connection().get(_VERSION_KEY)
    except RedisError as exc:
        extensions[_PAUSED_UNTIL] = time.monotonic() + _REDIS_PAUSE_SECONDS
        log.warning("zone version unavailable (%s); zone edits elsewhere show within the cache age", exc)
        return None
    return int(raw or 0)


def _stamp() -> tuple:
    # Redis first: a version bumped after a commit then guarantees the rows read next include that commit.
    version = _shared_version()
    row = db.session.execute(
        select(
            func.count(Zone.id),
            func.sum(case((Zone.active.is_(True), 1), else_=0)),
            func.max(Zone.id),
            func.max(Zone.created_at),
        )
    ).one()
    return (*row, version)


def _to_km(geometry: BaseGeometry, origin: tuple[float, float]) -> BaseGeometry:
    # Equirectangular projection around the zones' centre: within the ~100 km a city office cares
    # about its error is under 1 %, and it only picks the nearest point; the distance itself is geodesic.
    lat0, lon0 = origin
    scale_x = math.radians(1) * _EARTH_RADIUS_KM * math.cos(math.radians(lat0))
    scale_y = math.radians(1) * _EARTH_RADIUS_KM
    return shapely.transform(geometry, lambda xy: (xy - [lon0, lat0]) * [scale_x, scale_y])


def _from_km(x: float, y: float, origin: tuple[float, float]) -> tuple[float, float]:
    lat0, lon0 = origin
    scale_x = math.radians(1) * _EARTH_RADIUS_KM * math.cos(math.radians(lat0))
    scale_y = math.radians(1) * _EARTH_RADIUS_KM
    return lat0 + y / scale_y, lon0 + x / scale_x


def _entry(row) -> ZoneEntry | None:
    try:
        geometry = shape(row.boundary)
        if not geometry.is_valid:
            geometry = shapely.make_valid(geometry)
    except (KeyError, TypeError, ValueError, AttributeError, shapely.errors.GEOSException):
        geometry = None
    if geometry is None or geometry.is_empty or geometry.area <= 0:
        log.warning("zone %s has no usable boundary; it is left out of the zone index", row.code)
        return None
    label = geometry.representative_point()
    shapely.prepare(geometry)
    return ZoneEntry(row.id, row.code, row.name_fa, row.name_en, geometry, label.y, label.x, geometry.area)


def _build(stamp: tuple) -> ZoneIndex:
    rows = db.session.execute(
        select(Zone.id, Zone.code, Zone.name_fa, Zone.name_en, Zone.boundary)
        .where(Zone.active.is_(True))
        .order_by(Zone.id)
    )
    entries = tuple(entry for entry in map(_entry, rows) if entry is not None)
    if not entries:
        return ZoneIndex(stamp, time.monotonic(), (), None, None, (0.0, 0.0), None)
    union = unary_union([entry.geometry for entry in entries])
    west, south, east, north = union.bounds
    origin = ((south + north) / 2, (west + east) / 2)
    tree = shapely.STRtree([entry.geometry for entry in entries])
    return ZoneIndex(stamp, time.monotonic(), entries, tree, union.bounds, origin, _to_km(union, origin))


def zone_index() -> ZoneIndex:
    """The current index of active zones, rebuilt first if it is stale."""
    app = current_app._get_current_object()
    max_age = app.config["ZONE_CACHE_SECONDS"]
    stamp = _stamp()

    def fresh(index: ZoneIndex | None) -> bool:
        return index is not None and index.stamp == stamp and time.monotonic() - index.built_at < max_age

    index = app.extensions.get(_EXTENSION_KEY)
    if fresh(index):
        return index
    with _build_lock:  # one thread builds; the others wait and reuse its index
        index = app.extensions.get(_EXTENSION_KEY)
        if not fresh(index):
            index = _build(stamp)
            app.extensions[_EXTENSION_KEY] = index
    return index


def invalidate_zone_cache() -> None:
    """Forget this process's zone index; call after editing a zone's boundary or names."""
    current_app.extensions.pop(_EXTENSION_KEY, None)


def zones_changed() -> None:
    """Note that the current transaction changes zones: once it commits, every process rebuilds its index."""
    db.session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _announce_zone_change(session: Session) -> None:
    # Bumped only after the real commit (this also fires on a savepoint's release): a process that saw the
    # new version before the commit would cache the old rows under it.
    if session.in_nested_transaction() or not session.info.pop(_CHANGED, False) or not has_app_context():
        return
    invalidate_zone_cache()
    try:
        redis_connection().incr(_VERSION_KEY)
    except RedisError as exc:
        log.warning("zone version not bumped (%s); other processes see the edit within the cache age", exc)


@event.listens_for(Session, "after_rollback")
def _forget_zone_change(session: Session) -> None:
    if not session.in_nested_transaction():  # a savepoint's rollback leaves the transaction's changes
        session.info.pop(_CHANGED, None)


def zone_for_point(lat: float, lon: float) -> Zone | None:
    """The active zone containing the point (checked coordinates, see geo.points), or None.

    A point on a shared edge belongs to both zones; where zones overlap (an airport zone drawn over a
    district) the smallest one wins, being the more particular.
    """
    best = zone_entry_at(zone_index(), lat, lon)
    return db.session.get(Zone, best.id) if best is not None else None


def zone_entries_for_points(points: list[tuple[float, float]]) -> list[ZoneEntry | None]:
    """The zone (as the index holds it: id, code, names) of each (lat, lon) point, or None; one index for all."""
    index = zone_index()
    return [zone_entry_at(index, lat, lon) for lat, lon in points]


def zone_entry_at(index: ZoneIndex, lat: float, lon: float) -> ZoneEntry | None:
    """The zone of ``index`` containing the point, as zone_for_point picks it (the smallest where zones overlap)."""
    if index.tree is None:
        return None
    point = Point(float(lon), float(lat))  # GeoJSON and shapely are lon/lat
    hits = [index.entries[i] for i in index.tree.query(point) if index.entries[i].geometry.covers(point)]
    return min(hits, key=lambda entry: (entry.area, entry.id)) if hits else None


def km_from_zones(lat: float, lon: float, index: ZoneIndex | None = None) -> float | None:
    """Geodesic kilometres from the point to the nearest active zone (0 inside one); None with no zones.

    A caller placing many points passes one ``zone_index()`` for all of them: each call otherwise reads the zones'
    version stamp.
    """
    index = zone_index() if index is None else index
    if index.union_km is None:
        return None
    point = Point(float(lon), float(lat))
    if any(index.entries[i].geometry.covers(point) for i in index.tree.query(point)):
        return 0.0
    nearest = nearest_points(index.union_km, _to_km(point, index.origin))[0]
    return geodesic((lat, lon), _from_km(nearest.x, nearest.y, index.origin)).km
