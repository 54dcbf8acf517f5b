"""The offline gazetteer: the places Cabdesk ships, the zones by name, and the places the office added.

Every name is compared in a folded form (``search_text``) so that the spellings people type for one
word (Arabic or Persian yeh and kaf, with or without the zero-width non-joiner, alef with or without
madda, Persian or ASCII digits, any case) find each other.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass

from flask import current_app, has_request_context
from sqlalchemy import func, or_, select

from config import PROJECT_ROOT
from core.extensions import db
from core.text import normalize_persian
from geo.models import Place
from geo.points import check_in_service_area
from geo.zones import zone_index

PLACES_CSV = PROJECT_ROOT / "data" / "tehran" / "places.csv"
MAX_NAME_LENGTH = 200
MAX_KIND_LENGTH = 32
# Within one match rank, the office's own entries come first: someone there added them on purpose.
_SOURCE_ORDER = {"office": 0, "gazetteer": 1, "zone": 2}
# Alef forms, waw with hamza, tatweel and the short-vowel marks: typed or left out at whim.
_FOLD = str.maketrans(
    {"أ": "ا", "إ": "ا", "ٱ": "ا", "آ": "ا", "ؤ": "و", "\u0640": None}
    | {chr(mark): None for mark in [*range(0x064B, 0x0653), 0x0670]}
)


class PlaceError(ValueError):
    """A place the gazetteer cannot take, with a message for people."""


@dataclass(frozen=True)
class _Named:
    name_fa: str
    name_en: str
    kind: str
    lat: float
    lon: float
    source: str


def search_text(text: str) -> str:
    """Fold a name or a query for matching (normalize_persian, then alef forms and vowel marks)."""
    return normalize_persian(text).translate(_FOLD)


def ui_locale() -> str:
    """The language of the page being served, else the office's."""
    if has_request_context():
        from flask_babel import get_locale

        locale = get_locale()
        if locale is not None:
            return locale.language
    return current_app.config["DEFAULT_LOCALE"]


@functools.cache
def shipped_places() -> tuple[_Named, ...]:
    """The places in data/tehran/places.csv, read once per process."""
    with PLACES_CSV.open(encoding="utf-8", newline="") as handle:
        return tuple(
            _Named(row["name_fa"], row["name_en"], row["kind"], float(row["lat"]), float(row["lon"]), "gazetteer")
            for row in csv.DictReader(handle)
        )


def _match(query: str, key: str) -> tuple[int, int] | None:
    """How well the folded query matches one folded name: lower is better, None for no match.

    First number: 0 the whole name, 1 the name's start, 2 a word's start, 3 inside a word, 4 only once
    spaces are ignored. Second: 0 when the query also ends where a word ends ("منطقه 1" in
    "منطقه 1 شهر تهران" before "منطقه 10 …").
    """
    if key == query:
        return (0, 0)
    best = None
    start = key.find(query)
    while start >= 0:
        end = start + len(query)
        word_start = start == 0 or not key[start - 1].isalnum()
        word_end = end == len(key) or not key[end].isalnum()
        rank = (1 if start == 0 else 2 if word_start else 3, 0 if word_end else 1)
        best = rank if best is None else min(best, rank)
        start = key.find(query, start + 1)
    if best is None and query.replace(" ", "") in key.replace(" ", ""):
        best = (4, 1)
    return best


def _as_dict(place: _Named, locale: str) -> dict:
    name = place.name_fa if locale == "fa" and place.name_fa else place.name_en or place.name_fa
    return {
        "name": name,
        "name_fa": place.name_fa,
        "name_en": place.name_en,
        "kind": place.kind,
        "lat": place.lat,
        "lon": place.lon,
        "source": place.source,
    }


def _office_places(query: str) -> list[_Named]:
    compact = query.replace(" ", "")
    rows = db.session.scalars(
        select(Place)
        .where(
            or_(
                Place.search_key.contains(query, autoescape=True),
                func.replace(Place.search_key, " ", "").contains(compact, autoescape=True),
            )
        )
        .limit(500)
    )
    return [_Named(p.name_fa, p.name_en, p.kind, p.lat, p.lon, "office") for p in rows]


def search_places(query: str, limit: int = 10, locale: str | None = None) -> list[dict]:
    """Places whose Persian or English name matches the query, best first; see _match for the order."""
    folded = search_text(query)
    if not folded or limit < 1:
        return []
    zones = [_Named(z.name_fa, z.name_en, "zone", z.lat, z.lon, "zone") for z in zone_index().entries]
    found = []
    for place in [*_office_places(folded), *shipped_places(), *zones]:
        ranks = [_match(folded, search_text(name)) for name in (place.name_fa, place.name_en) if name]
        ranks = [rank for rank in ranks if rank is not None]
        if ranks:
            name_length = min(len(place.name_fa or place.name_en), len(place.name_en or place.name_fa))
            found.append(((min(ranks), _SOURCE_ORDER[place.source], name_length, place.name_en), place))
    found.sort(key=lambda pair: pair[0])
    locale = locale or ui_locale()
    return [_as_dict(place, locale) for _, place in found[:limit]]


def places_by_name(locale: str | None = None) -> dict[str, dict]:
    """Every place keyed by its folded Persian and English names, for exact look-ups in bulk (imports).

    Where two places share a name the office's own wins, then the shipped gazetteer, then a zone.
    """
    zones = [_Named(z.name_fa, z.name_en, "zone", z.lat, z.lon, "zone") for z in zone_index().entries]
    office = [_Named(p.name_fa, p.name_en, p.kind, p.lat, p.lon, "office") for p in db.session.scalars(select(Place))]
    locale = locale or ui_locale()
    table: dict[str, dict] = {}
    for place in [*zones, *shipped_places(), *office]:  # later entries overwrite earlier ones
        for name in (place.name_fa, place.name_en):
            if name:
                table[search_text(name)] = _as_dict(place, locale)
    return table


def _clean_name(value: str | None, what: str) -> str:
    name = " ".join((value or "").split())
    if len(name) > MAX_NAME_LENGTH:
        raise PlaceError(f"{what} must be at most {MAX_NAME_LENGTH} characters")
    return name


def add_place(
    name_fa: str, name_en: str, kind: str, lat: object, lon: object, created_by_id: int | None = None
) -> Place:
    """Add an office place to the gazetteer after checking its names, kind and point."""
    name_fa = _clean_name(name_fa, "Persian name")
    name_en = _clean_name(name_en, "English name")
    if not name_fa and not name_en:
        raise PlaceError("a place needs a name")
    kind = (kind or "").strip().lower() or "landmark"
    if len(kind) > MAX_KIND_LENGTH:
        raise PlaceError(f"kind must be at most {MAX_KIND_LENGTH} characters")
    latitude, longitude = check_in_service_area(lat, lon)
    place = Place(
        name_fa=name_fa,
        name_en=name_en,
        kind=kind,
        lat=latitude,
        lon=longitude,
        # One line per name, so a query never matches across the two names.
        search_key="\n".join(search_text(name) for name in (name_fa, name_en))[:500],
        created_by_id=created_by_id,
    )
    db.session.add(place)
    db.session.flush()
    return place
