"""Zones as the office edits them: checked boundaries, unique codes, no overlaps, removal that keeps history.

Every check runs before the zone is touched, so a refused edit changes nothing. Messages are lazy
translations: they are rendered in the language of the page that shows them.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

import shapely
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from core.database import savepoint
from core.extensions import db
from core.text import ascii_digits
from geo.models import Zone
from geo.points import service_area_km
from geo.zones import _to_km, km_from_zones, zone_index, zones_changed

CODE_PATTERN = re.compile(r"[A-Z0-9-]{1,32}")
MAX_NAME_LENGTH = 120
# A boundary drawn by hand or traced from a district map has hundreds of vertices; past this it is a
# pasted survey file that would slow every point lookup.
MAX_POSITIONS = 20_000
# Smaller than a block is a stray click; larger than a province is a typo in the coordinates.
MIN_AREA_KM2 = 0.01
MAX_AREA_KM2 = 5_000.0
# Neighbouring districts share their borders; traced by hand, they overlap by a sliver. More than this
# share of the smaller zone is a real overlap: a point in it would belong to two zones.
OVERLAP_TOLERANCE = 0.005
_EARTH_RADIUS_KM = 6371.0088
_DECIMALS = 7  # about a centimetre: more digits are noise from the drawing tool

# GEOS's reasons (shapely.validation.explain_validity) in words an office admin reads.
_REASONS = {
    "Self-intersection": _l("the border crosses itself"),
    "Ring Self-intersection": _l("a ring touches itself"),
    "Hole lies outside shell": _l("a hole lies outside the polygon"),
    "Nested holes": _l("a hole lies inside another hole"),
    "Nested shells": _l("one part lies inside another"),
    "Interior is disconnected": _l("a hole cuts the polygon in two"),
    "Duplicate Rings": _l("a ring is repeated"),
    "Too few points in geometry component": _l("a ring has too few distinct points"),
    "Invalid Coordinate": _l("a coordinate is not a number"),
}
_VALIDITY = re.compile(r"^(?P<reason>[^\[]+?)\s*\[(?P<x>\S+)\s+(?P<y>\S+)\]$")

# What the removal message calls the tables that point at zones; others show under their table name.
_REFERENCE_LABELS = {
    "addresses": _l("addresses"),
    "bookings": _l("bookings"),
    "fixed_fares": _l("fixed fares"),
    "stand_queue_entries": _l("drivers in the stand queue"),
}


class ZoneError(ValueError):
    """A zone Cabdesk will not save, with a message for people and the form field it concerns."""

    def __init__(self, message, field_name: str | None = "boundary"):
        super().__init__(message)
        self.message = message
        self.field = field_name

    def __str__(self) -> str:
        return str(self.message)


@dataclass(frozen=True)
class ZoneRemoval:
    """What removing a zone did: deleted it, or deactivated it because records still point at it."""

    code: str
    deleted: bool
    references: dict[str, int] = field(default_factory=dict)

    def describe_references(self) -> str:
        """The references as "addresses: 3, bookings: 1", in the page's language."""
        return ", ".join(f"{_REFERENCE_LABELS.get(t, t)}: {n}" for t, n in self.references.items())


def _position(value: object, where) -> list[float]:
    if not isinstance(value, list | tuple) or len(value) not in (2, 3):
        raise ZoneError(_l("Each position must be [longitude, latitude] (%(where)s).", where=where))
    if any(isinstance(number, bool) or not isinstance(number, int | float) for number in value):
        raise ZoneError(_l("Coordinates must be numbers (%(where)s).", where=where))
    lon, lat = float(value[0]), float(value[1])  # an altitude, if any, means nothing to a zone
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise ZoneError(_l("Coordinates must be finite numbers (%(where)s).", where=where))
    if not -180 <= lon <= 180:
        raise ZoneError(
            _l(
                "Longitude %(value)s is out of range (-180 to 180) in %(where)s; GeoJSON gives longitude first.",
                value=lon,
                where=where,
            )
        )
    if not -90 <= lat <= 90:
        raise ZoneError(
            _l(
                "Latitude %(value)s is out of range (-90 to 90) in %(where)s; GeoJSON gives longitude first.",
                value=lat,
                where=where,
            )
        )
    return [round(lon, _DECIMALS), round(lat, _DECIMALS)]


def _polygon(rings: object, number: int) -> list[list[list[float]]]:
    if not isinstance(rings, list | tuple) or not rings:
        raise ZoneError(_l("Polygon %(number)s has no rings.", number=number))
    checked = []
    for index, ring in enumerate(rings, start=1):
        where = _l("polygon %(polygon)s, ring %(ring)s", polygon=number, ring=index)
        if not isinstance(ring, list | tuple) or len(ring) < 4:
            raise ZoneError(
                _l("A ring needs at least four positions, the last repeating the first (%(where)s).", where=where)
            )
        positions = [_position(value, where) for value in ring]
        if positions[0] != positions[-1]:
            raise ZoneError(
                _l("A ring must end where it starts: repeat the first position last (%(where)s).", where=where)
            )
        checked.append(positions)
    return checked


def _unwrap(data: object) -> object:
    # geojson.io and most GIS tools export a Feature or a one-feature collection: take the geometry out.
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        features = data.get("features")
        if not isinstance(features, list) or len(features) != 1:
            count = len(features) if isinstance(features, list) else 0
            raise ZoneError(
                _l("A FeatureCollection must hold exactly one feature, the zone (this one has %(count)s).", count=count)
            )
        data = features[0]
    if isinstance(data, dict) and data.get("type") == "Feature":
        data = data.get("geometry")
    return data


def parse_boundary(value: object) -> dict:
    """A GeoJSON Polygon or MultiPolygon from text or a dict, its structure checked and tidied; else ZoneError.

    Tidied: only ``type`` and ``coordinates`` kept, altitudes dropped, coordinates rounded to 7 decimals.
    """
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise ZoneError(_l("Draw the zone on the map or paste its GeoJSON boundary."))
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply to read
            raise ZoneError(
                _l(
                    "The boundary is not valid JSON (line %(line)s, column %(column)s).",
                    line=getattr(exc, "lineno", "?"),
                    column=getattr(exc, "colno", "?"),
                )
            ) from None
    data = _unwrap(value)
    kind = data.get("type") if isinstance(data, dict) else type(data).__name__
    if kind not in ("Polygon", "MultiPolygon"):
        raise ZoneError(_l("The boundary must be a GeoJSON Polygon or MultiPolygon, not %(kind)s.", kind=kind))
    coordinates = data.get("coordinates")
    if kind == "Polygon":
        checked = _polygon(coordinates, 1)
        count = sum(map(len, checked))
    else:
        if not isinstance(coordinates, list | tuple) or not coordinates:
            raise ZoneError(_l("The MultiPolygon has no polygons."))
        checked = [_polygon(polygon, number) for number, polygon in enumerate(coordinates, start=1)]
        count = sum(len(ring) for polygon in checked for ring in polygon)
    if count > MAX_POSITIONS:
        raise ZoneError(
            _l("The boundary has %(count)s positions; at most %(limit)s are allowed.", count=count, limit=MAX_POSITIONS)
        )
    return {"type": kind, "coordinates": checked}


def area_km2(boundary: dict) -> float:
    """A zone's area in square kilometres (a local projection: within 1 % for a city-sized zone)."""
    geometry = shape(boundary)
    if geometry.is_empty:
        return 0.0
    lat0 = geometry.centroid.y
    degree = math.radians(1) * _EARTH_RADIUS_KM
    return geometry.area * degree * degree * math.cos(math.radians(lat0))


def _valid_geometry(boundary: dict) -> BaseGeometry:
    geometry = shape(boundary)
    if shapely.is_valid(geometry):
        return geometry
    explanation = explain_validity(geometry)
    match = _VALIDITY.match(explanation)
    if match is None:
        raise ZoneError(_l("The boundary is not a valid polygon (%(detail)s).", detail=explanation))
    reason = _REASONS.get(match["reason"], match["reason"])
    lat, lon = f"{float(match['y']):.5f}", f"{float(match['x']):.5f}"
    raise ZoneError(
        _l(
            "The boundary is not a valid polygon: %(reason)s near %(lat)s, %(lon)s (%(detail)s).",
            reason=reason,
            lat=lat,
            lon=lon,
            detail=explanation,
        )
    )


def _check_area(boundary: dict) -> None:
    area = area_km2(boundary)
    if area < MIN_AREA_KM2:
        raise ZoneError(
            _l(
                "The zone covers %(area)s km², too small to be a zone (at least %(min)s km²).",
                area=f"{area:.4f}",
                min=MIN_AREA_KM2,
            )
        )
    if area > MAX_AREA_KM2:
        raise ZoneError(
            _l(
                "The zone covers %(area)s km², more than any zone should (at most %(max)s km²); check the coordinates.",
                area=f"{area:,.0f}",
                max=f"{MAX_AREA_KM2:,.0f}",
            )
        )


def _check_service_area(geometry: BaseGeometry) -> None:
    """Refuse a zone reaching past the service area (SERVICE_AREA_KM around the active zones), if any yet."""
    index = zone_index()
    if index.union_km is None:
        return  # the office's first zone: there is no area to hold to yet
    coordinates = shapely.get_coordinates(geometry)
    distances = shapely.distance(
        index.union_km, shapely.points(shapely.get_coordinates(_to_km(geometry, index.origin)))
    )
    lon, lat = coordinates[int(distances.argmax())]
    # The projection picks the farthest vertex; its distance is measured geodesically, as for a pickup.
    distance = km_from_zones(float(lat), float(lon))
    limit = service_area_km()
    if distance is None or distance <= limit:
        return
    swapped = -90 <= lon <= 90 and (km_from_zones(float(lon), float(lat)) or 0.0) <= limit
    if swapped:
        message = _l(
            "The zone lies %(km)s km from the nearest existing zone, outside the service area (%(limit)s km): "
            "the coordinates look swapped, GeoJSON gives longitude first.",
            km=f"{distance:.0f}",
            limit=f"{limit:g}",
        )
    else:
        message = _l(
            "Part of the zone lies %(km)s km from the nearest existing zone, outside the service area (%(limit)s km).",
            km=f"{distance:.0f}",
            limit=f"{limit:g}",
        )
    raise ZoneError(message)


def overlapping_zones(geometry: BaseGeometry, zone_id: int | None = None) -> list[str]:
    """Codes of the active zones (other than ``zone_id``) the geometry overlaps by more than the tolerance."""
    query = select(Zone.code, Zone.boundary).where(Zone.active.is_(True)).order_by(Zone.code)
    if zone_id is not None:
        query = query.where(Zone.id != zone_id)
    shapely.prepare(geometry)
    codes = []
    for code, boundary in db.session.execute(query):
        try:
            other = shape(boundary)
            other = other if other.is_valid else shapely.make_valid(other)
        except (KeyError, TypeError, ValueError, AttributeError, shapely.errors.GEOSException):
            continue  # a damaged stored boundary: the zone index leaves it out too
        if other.is_empty or not geometry.intersects(other):
            continue
        shared = geometry.intersection(other).area
        if shared > OVERLAP_TOLERANCE * min(geometry.area, other.area):
            codes.append(code)
    return codes


def _checked_code(code: object, zone_id: int | None) -> str:
    code = ascii_digits(str(code or "")).strip().upper()
    if not code:
        raise ZoneError(_l("A zone needs a code."), "code")
    if not CODE_PATTERN.fullmatch(code):
        raise ZoneError(_l("A code is up to 32 letters A-Z, digits and hyphens (e.g. D01, IKA)."), "code")
    taken = select(Zone.id).where(Zone.code == code)
    if zone_id is not None:
        taken = taken.where(Zone.id != zone_id)
    if db.session.scalar(taken) is not None:
        raise ZoneError(_l("Another zone already has the code %(code)s.", code=code), "code")
    return code


def _checked_name(name: object, field_name: str) -> str:
    name = " ".join(str(name or "").split())
    if not name:
        raise ZoneError(_l("A zone needs a name in Persian and in English."), field_name)
    if len(name) > MAX_NAME_LENGTH:
        raise ZoneError(_l("A name is at most %(limit)s characters.", limit=MAX_NAME_LENGTH), field_name)
    return name


def save_zone(
    code: object,
    name_fa: object,
    name_en: object,
    boundary: object,
    active: bool = True,
    zone_id: int | None = None,
) -> Zone:
    """Create a zone, or change zone ``zone_id``, after every check; ZoneError (nothing changed) otherwise.

    ``boundary``: GeoJSON text or dict, see ``parse_boundary``. An active zone may not overlap another
    active one: a point must belong to exactly one zone. Flushes; the caller commits, and the commit
    makes every process's zone index see the change.
    """
    zone = None
    if zone_id is not None:
        zone = db.session.get(Zone, zone_id)
        if zone is None:
            raise ZoneError(_l("There is no zone %(id)s.", id=zone_id), None)
    code = _checked_code(code, zone_id)
    name_fa = _checked_name(name_fa, "name_fa")
    name_en = _checked_name(name_en, "name_en")
    tidy = parse_boundary(boundary)
    geometry = _valid_geometry(tidy)
    _check_area(tidy)
    _check_service_area(geometry)
    if active:
        overlaps = overlapping_zones(geometry, zone_id)
        if overlaps:
            raise ZoneError(
                _l(
                    "The zone overlaps %(codes)s: a point must belong to exactly one zone. "
                    "Move the border so that the zones only touch.",
                    codes=", ".join(overlaps),
                )
            )
    if zone is None:
        zone = Zone()
        db.session.add(zone)
    zone.code, zone.name_fa, zone.name_en, zone.boundary, zone.active = code, name_fa, name_en, tidy, bool(active)
    try:
        with savepoint():
            db.session.flush()
    except IntegrityError:  # another admin took the code between the check and the flush
        raise ZoneError(_l("Another zone already has the code %(code)s.", code=code), "code") from None
    zones_changed()
    return zone


def zone_references(zone_id: int) -> dict[str, int]:
    """How many rows of each table point at the zone (addresses, bookings, fares, stand queues…), if any.

    Found through the foreign keys of the models, so a table that starts pointing at zones counts too.
    """
    zones = Zone.__table__
    counts = {}
    for table in db.metadata.sorted_tables:
        columns = [key.parent for key in table.foreign_keys if key.column.table is zones]
        if not columns:
            continue
        count = db.session.scalar(
            select(func.count()).select_from(table).where(or_(*(column == zone_id for column in columns)))
        )
        if count:
            counts[table.name] = count
    return counts


def remove_zone(zone_id: int) -> ZoneRemoval:
    """Delete a zone nothing points at; deactivate one that addresses or bookings still name. Flushes."""
    zone = db.session.get(Zone, zone_id)
    if zone is None:
        raise ZoneError(_l("There is no zone %(id)s.", id=zone_id), None)
    references = zone_references(zone_id)
    if references:
        zone.active = False
    else:
        db.session.delete(zone)
    db.session.flush()
    zones_changed()
    return ZoneRemoval(zone.code, deleted=not references, references=references)


def zones_geojson(include_inactive: bool = False, locale: str | None = None) -> dict:
    """The zones as a GeoJSON FeatureCollection for the maps; names in ``locale`` (default: the page's)."""
    locale = locale or str(get_locale())
    query = select(Zone).order_by(Zone.code)
    if not include_inactive:
        query = query.where(Zone.active.is_(True))
    features = [
        {
            "type": "Feature",
            "id": zone.id,
            "geometry": zone.boundary,
            "properties": {
                "id": zone.id,
                "code": zone.code,
                "name": zone.name(locale),
                "name_fa": zone.name_fa,
                "name_en": zone.name_en,
                "active": zone.active,
            },
        }
        for zone in db.session.scalars(query)
    ]
    return {"type": "FeatureCollection", "features": features}
