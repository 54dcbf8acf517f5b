"""Online geocoding through geopy against the office's Nominatim or Photon server (``GEOCODER_URL``).

Answers are cached in Redis for a week, requests to the server are spaced by a per-process rate
limiter (Nominatim's usage policy asks for at most one a second), and nothing here raises to the
caller because a geocoder is down, slow or missing: the console falls back to the offline gazetteer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
from dataclasses import dataclass
from functools import partial
from urllib.parse import urlsplit

from flask import current_app
from geopy.adapters import RequestsAdapter
from geopy.distance import geodesic
from geopy.extra.rate_limiter import RateLimiter
from geopy.geocoders import Nominatim, Photon
from redis.exceptions import RedisError

from core.queues import redis_connection
from core.text import normalize_persian
from geo.gazetteer import search_places, search_text, ui_locale
from geo.points import check_point, service_area_km
from geo.zones import km_from_zones, zone_index

log = logging.getLogger("cabdesk.geo")

DUPLICATE_METRES = 50
MAX_QUERY_LENGTH = 200
_FAILED = object()
_clients: dict[tuple, tuple] = {}
_clients_lock = threading.Lock()
_warned_unset = False


@dataclass(frozen=True)
class _Server:
    kind: str  # "nominatim" or "photon"
    scheme: str
    domain: str  # what geopy calls the domain: host:port and any path prefix (credentials too, if given)
    origin: str  # scheme://host:port, the only part of the address that is ever logged
    prefix: str  # host:port and path without credentials: tells servers apart in the cache


def _server() -> _Server | None:
    global _warned_unset
    url = (current_app.config.get("GEOCODER_URL") or "").strip()
    if not url:
        if not _warned_unset:  # the offline default: say it once per process, not on every search
            log.warning("GEOCODER_URL is not set: places come from the offline gazetteer only")
            _warned_unset = True
        return None
    parts = urlsplit(url if "://" in url else f"https://{url}")
    host = parts.netloc.rpartition("@")[2]
    if not host or parts.scheme not in ("http", "https"):
        log.warning("GEOCODER_URL is not an http(s) address; geocoding is off")
        return None
    path = parts.path.rstrip("/")
    kind = (current_app.config.get("GEOCODER_KIND") or "").strip().lower()
    if kind not in ("nominatim", "photon"):
        named = "photon" in path.lower() or host.lower().startswith("photon.")  # e.g. photon.komoot.io
        kind = "photon" if named or path.endswith("/api") else "nominatim"
    # The endpoint itself may have been pasted in; geopy appends it.
    for endpoint in ("/api", "/search"):
        path = path.removesuffix(endpoint)
    origin = f"{parts.scheme}://{host}"
    return _Server(kind, parts.scheme, parts.netloc + path, origin, host + path)


def _invoke(method, *args, **kwargs):
    return method(*args, **kwargs)


def _client(server: _Server) -> tuple:
    """(geocoder, rate-limited caller) for the server, one pair per process shared by every thread."""
    config = current_app.config
    timeout = config["GEOCODER_TIMEOUT"]
    delay = config["GEOCODER_MIN_DELAY"]
    key = (os.getpid(), server, timeout, delay)  # the pid: a forked worker must not share the parent's
    with _clients_lock:
        if key not in _clients:
            factory = Photon if server.kind == "photon" else Nominatim
            geocoder = factory(
                domain=server.domain,
                scheme=server.scheme,
                timeout=timeout,
                user_agent="cabdesk",
                # urllib3 would retry a read timeout twice on its own, tripling the wait.
                adapter_factory=partial(RequestsAdapter, max_retries=0),
            )
            # One limiter for searches and reverse lookups alike: the server's policy counts both. No
            # retries: an agent on the phone is better served by the gazetteer now than by a retry later.
            limiter = RateLimiter(
                _invoke, min_delay_seconds=delay, error_wait_seconds=delay, max_retries=0, swallow_exceptions=False
            )
            _clients[key] = (geocoder, limiter)
        return _clients[key]


def _through_cache(parts: list, ask) -> object:
    """The cached answer for ``parts``, else ``ask()``'s, stored unless it failed; Redis is optional."""
    digest = hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()
    key = f"cabdesk:geocode:{digest}"
    redis_up = True
    try:
        raw = redis_connection().get(key)
    except RedisError as exc:
        log.warning("geocoder cache unavailable (%s); asking the server directly", type(exc).__name__)
        raw, redis_up = None, False
    if raw is not None:
        try:
            return json.loads(raw)
        except ValueError:
            pass  # a damaged entry: ask again and overwrite it
    answer = ask()
    if answer is not _FAILED and redis_up:
        ttl = current_app.config["GEOCODER_CACHE_TTL"]
        try:
            redis_connection().set(key, json.dumps(answer, ensure_ascii=False), ex=ttl)
        except RedisError as exc:
            log.warning("geocoder cache unavailable (%s); answer not cached", type(exc).__name__)
    return answer


def _ask(server: _Server, what: str, method_name: str, *args, **kwargs) -> object:
    geocoder, limited = _client(server)
    try:
        return limited(getattr(geocoder, method_name), *args, **kwargs)
    except Exception as exc:  # any failure of the server or its answer: the caller gets "nothing found"
        log.warning("geocoder %s at %s failed: %s", what, server.origin, type(exc).__name__)
        return _FAILED


def _bias(server: _Server, locale: str) -> dict:
    """Keyword arguments that steer results to the office's area and language."""
    index = zone_index()
    if server.kind == "photon":
        # Photon servers know only a few languages (en, de, fr, …); without one they answer in local names.
        kwargs = {"language": "en"} if locale == "en" else {}
        if index.bounds:
            kwargs["location_bias"] = index.origin
        return kwargs
    kwargs = {"language": locale}
    region = (current_app.config.get("DEFAULT_REGION") or "").lower()
    if len(region) == 2:
        kwargs["country_codes"] = region
    if index.bounds:
        # A viewbox only ranks results inside it first; a rough degree pad of the service radius will do.
        west, south, east, north = index.bounds
        pad_lat = service_area_km() / 111.0
        pad_lon = pad_lat / max(math.cos(math.radians(index.origin[0])), 0.1)
        kwargs["viewbox"] = [
            (round(max(south - pad_lat, -90), 4), round(max(west - pad_lon, -180), 4)),
            (round(min(north + pad_lat, 90), 4), round(min(east + pad_lon, 180), 4)),
        ]
    return kwargs


def _as_dict(location, kind: str, locale: str) -> dict | None:
    if location.latitude is None or not (math.isfinite(location.latitude) and math.isfinite(location.longitude)):
        return None
    raw = location.raw or {}
    properties = raw.get("properties", {}) if kind == "photon" else raw
    label = location.address or properties.get("name") or ""
    short = properties.get("name") or label.split(",")[0].strip()
    return {
        "name": label,
        "name_fa": short if locale == "fa" else "",
        "name_en": "" if locale == "fa" else short,
        "kind": properties.get("osm_value" if kind == "photon" else "type") or "place",
        "lat": float(location.latitude),
        "lon": float(location.longitude),
        "source": "geocoder",
    }


def geocode(query: str, limit: int = 5, locale: str | None = None) -> list[dict]:
    """Places the geocoder finds for the query (the gazetteer's dict shape); [] when it cannot answer."""
    text = normalize_persian(query or "")[:MAX_QUERY_LENGTH].strip()
    server = _server()
    if not text or server is None:
        return []
    limit = min(max(int(limit), 1), 40)
    locale = locale or ui_locale()

    def ask():
        found = _ask(server, "search", "geocode", text, exactly_one=False, limit=limit, **_bias(server, locale))
        if found is _FAILED:
            return _FAILED
        return [item for item in (_as_dict(loc, server.kind, locale) for loc in found or []) if item]

    answer = _through_cache(["search", server.kind, server.prefix, text, locale, limit], ask)
    return [] if answer is _FAILED else answer


def reverse_geocode(lat: object, lon: object, locale: str | None = None) -> str | None:
    """The address the geocoder gives for a point, or None; bad coordinates raise PointError."""
    latitude, longitude = check_point(lat, lon)
    server = _server()
    if server is None:
        return None
    locale = locale or ui_locale()
    # Rounded to ~1 m: nearer points share a cache entry, and no address is that precise anyway.
    point = (round(latitude, 5), round(longitude, 5))
    language = {"language": locale} if server.kind == "nominatim" or locale == "en" else {}

    def ask():
        found = _ask(server, "reverse", "reverse", point, exactly_one=True, **language)
        return found if found is _FAILED else (found.address if found else None)

    answer = _through_cache(["reverse", server.kind, server.prefix, *point, locale], ask)
    return None if answer is _FAILED else answer


def _names(item: dict) -> set[str]:
    return {search_text(n) for n in (item["name_fa"], item["name_en"], item["name"].split(",")[0]) if n}


def find_place(query: str, limit: int = 5, locale: str | None = None) -> list[dict]:
    """What the console offers for a typed place: gazetteer matches first, then the geocoder's.

    A geocoder result is left out when it repeats a gazetteer entry (same name, under 50 m apart) or
    lies outside the service area, where the office could not send a car anyway.
    """
    found = search_places(query, limit, locale)
    if len(found) >= limit:
        return found
    max_km = service_area_km()
    for item in geocode(query, limit, locale):
        if len(found) >= limit:
            break
        duplicate = any(
            _names(item) & _names(known)
            and geodesic((item["lat"], item["lon"]), (known["lat"], known["lon"])).m < DUPLICATE_METRES
            for known in found
        )
        distance = km_from_zones(item["lat"], item["lon"])
        if not duplicate and (distance is None or distance <= max_km):
            found.append(item)
    return found
