"""A loopback stand-in for an OSRM server's route service: ``GET /route/v1/{profile}/{lon},{lat};{lon},{lat}``.

It answers as osrm-routed does: ``{"code": "Ok", "routes": [...], "waypoints": [...]}`` with distances in
metres and durations in seconds; 400 with ``{"code": "InvalidUrl" | "InvalidService" | "InvalidQuery", …}``
for requests it cannot read; 400 with ``{"code": "NoRoute", "message": "Impossible route between points"}``
when told there is no road. It can also be told to fail with a 500, to answer something that is not
JSON, or to hang (on the Event that ``stop()`` sets). Every request is recorded.
"""

from __future__ import annotations

import math
from contextlib import AbstractContextManager
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from tests.support.loopback import LoopbackServer

# The stub's own road model, unlike the app's estimate so that tests can tell the two apart.
ROAD_FACTOR = 1.25
SPEED_KMH = 30.0


def _metres(start: tuple[float, float], end: tuple[float, float]) -> float:
    """Haversine metres between two (lon, lat) points."""
    lon1, lat1, lon2, lat2 = map(math.radians, (*start, *end))
    a = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(a))


class OsrmStub(LoopbackServer):
    """The stub server; ``url`` is its base address once started."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.mode = "ok"  # ok, no_route, fail (500), garbage (200, not JSON), empty (Ok with no routes), hang
        self.answer: tuple[float, float] | None = None  # (metres, seconds) instead of the stub's road model
        # (start, end) as (lon, lat) → (metres, seconds) or None: a road network of the test's own making.
        self.answer_for = None

    def paths(self) -> list[str]:
        """The paths requested so far, in order."""
        return [path for path, _ in self.requests]

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        self.requests.append((parts.path, query))
        if self.mode == "hang":
            self.release.wait(timeout=10)  # bounded, and stop() releases it at once
            return self.send(handler, 504, {"code": "Timeout"})
        if self.mode == "fail":
            return self.send(handler, 500, b"Internal Server Error")
        if self.mode == "garbage":
            return self.send(handler, 200, b"<html>proxy login</html>")
        segments = parts.path.strip("/").split("/")
        if len(segments) != 4 or segments[2] != "driving":
            return self.send(handler, 400, {"code": "InvalidUrl", "message": f"URL string malformed: {parts.path}"})
        if segments[0] != "route" or segments[1] != "v1":
            return self.send(handler, 400, {"code": "InvalidService", "message": "Service not found"})
        try:
            points = [tuple(float(n) for n in pair.split(",")) for pair in segments[3].split(";")]
            if len(points) < 2 or any(len(p) != 2 or not (-180 <= p[0] <= 180 and -90 <= p[1] <= 90) for p in points):
                raise ValueError
        except ValueError:
            return self.send(handler, 400, {"code": "InvalidQuery", "message": "Query string malformed"})
        if self.mode == "no_route":
            return self.send(handler, 400, {"code": "NoRoute", "message": "Impossible route between points"})
        if self.mode == "empty":
            return self.send(handler, 200, {"code": "Ok", "routes": [], "waypoints": []})
        metres, seconds = (
            (self.answer_for and self.answer_for(points[0], points[1]))
            or self.answer
            or self._model(points[0], points[1])
        )
        measures = {"distance": metres, "duration": seconds, "weight": seconds}
        route = {**measures, "weight_name": "routability", "legs": [{**measures, "summary": "", "steps": []}]}
        waypoints = [{"hint": "stub", "distance": 3.2, "name": "", "location": list(p)} for p in points]
        return self.send(handler, 200, {"code": "Ok", "routes": [route], "waypoints": waypoints})

    @staticmethod
    def _model(start: tuple[float, float], end: tuple[float, float]) -> tuple[float, float]:
        metres = round(_metres(start, end) * ROAD_FACTOR, 1)
        return metres, round(metres / (SPEED_KMH / 3.6), 1)


def osrm_stub() -> AbstractContextManager[OsrmStub]:
    """A running stub, stopped on exit."""
    return OsrmStub().running()
