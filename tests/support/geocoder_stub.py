"""A loopback stand-in for a geocoding server: Nominatim's /search and /reverse, Photon's /api and /reverse.

Photon answers under any path ending in ``/api`` and at ``/photon/reverse``; Nominatim at ``/search``
and ``/reverse``. The stub records every request (path and decoded query, headers, arrival time) and
can be told to fail with 500 or to hang: a hanging request waits on an Event that ``stop()`` sets, so
no thread outlives the test.
"""

from __future__ import annotations

import time
import zlib
from contextlib import AbstractContextManager
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from tests.support.loopback import LoopbackServer

# Real places, so that the service-area and duplicate checks see true coordinates.
PLACES = [
    {"name": "برج میلاد", "name_en": "Milad Tower", "lat": 35.744750, "lon": 51.375360, "type": "tower"},
    {"name": "تجریش", "name_en": "Tajrish", "lat": 35.804501, "lon": 51.433643, "type": "square"},
    {"name": "تجریش", "name_en": "Tajrish Bazaar", "lat": 35.806900, "lon": 51.427000, "type": "marketplace"},
    {"name": "نقش جهان", "name_en": "Naqsh-e Jahan", "lat": 32.657500, "lon": 51.677500, "type": "square"},
]


class GeocoderStub(LoopbackServer):
    """The stub server; ``url`` is its base address once started."""

    def __init__(self) -> None:
        super().__init__()
        self.places = list(PLACES)
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.headers: list[dict[str, str]] = []  # per request, in the same order
        self.times: list[float] = []  # time.monotonic() at each request's arrival
        self.fail = False
        self.hang = False

    def paths(self) -> list[str]:
        """The paths requested so far, in order."""
        return [path for path, _ in self.requests]

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        self.times.append(time.monotonic())
        self.headers.append(dict(handler.headers))
        self.requests.append((parts.path, query))
        if self.hang:
            self.release.wait(timeout=10)  # bounded, and stop() releases it at once
        if self.fail:
            return self.send(handler, 500, {"error": "stub told to fail"})
        if parts.path.endswith("/api"):
            return self.send(handler, 200, self._photon(self._search(query.get("q", ""))))
        if parts.path.startswith("/photon") and parts.path.endswith("/reverse"):
            return self.send(handler, 200, self._photon(self._nearest(query)))
        if parts.path == "/search":
            return self.send(handler, 200, [self._nominatim(p) for p in self._search(query.get("q", ""))])
        if parts.path == "/reverse":
            found = self._nearest(query)
            return self.send(handler, 200, self._nominatim(found[0]) if found else {"error": "Unable to geocode"})
        return self.send(handler, 404, {"error": "no such endpoint"})

    def _search(self, text: str) -> list[dict]:
        text = text.casefold()
        return [p for p in self.places if text and (text in p["name"] or text in p["name_en"].casefold())]

    def _nearest(self, query: dict[str, str]) -> list[dict]:
        lat, lon = float(query["lat"]), float(query["lon"])
        near = sorted(self.places, key=lambda p: (p["lat"] - lat) ** 2 + (p["lon"] - lon) ** 2)
        return near[:1] if near and abs(near[0]["lat"] - lat) + abs(near[0]["lon"] - lon) < 0.01 else []

    @staticmethod
    def _nominatim(place: dict) -> dict:
        return {
            "place_id": zlib.crc32(place["name_en"].encode()),
            "osm_type": "node",
            "osm_id": zlib.crc32(place["name"].encode()),
            "class": "place",
            "type": place["type"],
            "importance": 0.5,
            "lat": f"{place['lat']:.7f}",
            "lon": f"{place['lon']:.7f}",
            "name": place["name"],
            "display_name": f"{place['name']}, تهران, ایران",
            "boundingbox": [str(place[axis] + delta) for axis in ("lat", "lon") for delta in (-0.001, 0.001)],
        }

    @staticmethod
    def _photon(places: list[dict]) -> dict:
        features = [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [place["lon"], place["lat"]]},
                "properties": {"name": place["name"], "osm_value": place["type"], "country": "ایران"},
            }
            for place in places
        ]
        return {"type": "FeatureCollection", "features": features}


def geocoder_stub() -> AbstractContextManager[GeocoderStub]:
    """A running stub, stopped on exit."""
    return GeocoderStub().running()
