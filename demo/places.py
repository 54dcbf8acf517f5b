"""Tehran reference data for the demo office: districts, metro stations, and where a point falls."""

from __future__ import annotations

import csv
import json
import math
import random
from dataclasses import dataclass
from datetime import timedelta, timezone
from pathlib import Path

from shapely.geometry import Point

from config import PROJECT_ROOT
from geo.zones import zone_for_point

DATA_DIR = PROJECT_ROOT / "data" / "tehran"
# Iran has kept standard time all year since 2022, so a fixed offset is exact and needs no tz database.
TEHRAN = timezone(timedelta(hours=3, minutes=30), "IRST")
AIRPORT_CODE = "IKA"
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON_AT_EQUATOR = 111_320.0


@dataclass(frozen=True)
class Place:
    """A named point from places.csv (a metro station, the airport, the railway station)."""

    name_fa: str
    name_en: str
    kind: str
    lat: float
    lon: float


@dataclass(frozen=True)
class ZoneShape:
    """A zone as the demo builds it: code, names, GeoJSON boundary."""

    code: str
    name_fa: str
    name_en: str
    boundary: dict


def load_places(path: Path = DATA_DIR / "places.csv") -> list[Place]:
    """Every row of places.csv, in file order."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            Place(row["name_fa"], row["name_en"], row["kind"], float(row["lat"]), float(row["lon"]))
            for row in csv.DictReader(handle)
        ]


def load_districts(path: Path = DATA_DIR / "districts.geojson") -> list[ZoneShape]:
    """Tehran's 22 municipal districts as zones D01..D22."""
    features = json.loads(path.read_text(encoding="utf-8"))["features"]
    features.sort(key=lambda feature: feature["properties"]["number"])
    return [
        ZoneShape(
            code=f"D{feature['properties']['number']:02d}",
            name_fa=feature["properties"]["name_fa"],
            name_en=feature["properties"]["name_en"],
            boundary=feature["geometry"],
        )
        for feature in features
    ]


def airport_zone(places: list[Place], radius_m: float = 3000) -> ZoneShape:
    """Imam Khomeini airport as a circle around its point.

    Approximate: places.csv has only the point of the metro station serving the airport, not the
    airport's fence line, so the zone is a ~3 km disc around it, good enough to catch pickups and
    drop-offs at the terminals.
    """
    airport = next(place for place in places if place.kind == "airport")
    # Buffer in metres on a local flat projection; at 3 km the distortion is far below a metre.
    m_per_deg_lon = _M_PER_DEG_LON_AT_EQUATOR * math.cos(math.radians(airport.lat))
    disc = Point(0, 0).buffer(radius_m, quad_segs=8)
    ring = [
        (round(airport.lon + x / m_per_deg_lon, 6), round(airport.lat + y / _M_PER_DEG_LAT, 6))
        for x, y in disc.exterior.coords
    ]
    return ZoneShape(
        code=AIRPORT_CODE,
        name_fa="فرودگاه امام خمینی",
        name_en="Imam Khomeini Airport",
        boundary={"type": "Polygon", "coordinates": [[list(point) for point in ring]]},
    )


class ZoneLocator:
    """The code of the zone a point lies in, from the geo engine's zone index (the zones must be flushed)."""

    def locate(self, lat: float, lon: float) -> str | None:
        """The code of the zone containing the point, or None when it lies outside every zone."""
        zone = zone_for_point(lat, lon)
        return zone.code if zone is not None else None


def jitter(rng: random.Random, lat: float, lon: float, max_m: float) -> tuple[float, float]:
    """A point up to ``max_m`` metres from the given one, uniform over the disc."""
    distance = max_m * math.sqrt(rng.random())
    bearing = rng.uniform(0, 2 * math.pi)
    m_per_deg_lon = _M_PER_DEG_LON_AT_EQUATOR * math.cos(math.radians(lat))
    return (
        round(lat + distance * math.cos(bearing) / _M_PER_DEG_LAT, 6),
        round(lon + distance * math.sin(bearing) / m_per_deg_lon, 6),
    )
