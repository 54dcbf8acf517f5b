"""Coordinates as people and forms give them: checked, and kept inside the area the office serves."""

from __future__ import annotations

import math

from flask import current_app

from core.text import ascii_digits
from geo.zones import km_from_zones

# The Persian decimal separator (U+066B) is what a Persian keyboard types for "."; the minus sign
# (U+2212) comes in when a number is pasted from a formatted document.
_NUMBER_MARKS = str.maketrans({"٫": ".", "−": "-"})


class PointError(ValueError):
    """A latitude/longitude pair that Cabdesk cannot use, with a message for people."""


def _coordinate(value: object, what: str) -> float:
    if isinstance(value, bool):  # bool is an int in Python, but True is no latitude
        raise PointError(f"{what} must be a number")
    if isinstance(value, str):
        value = ascii_digits(value).translate(_NUMBER_MARKS).strip()
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise PointError(f"{what} must be a number") from None
    except OverflowError:  # a whole number too large for a float (JSON allows any number of digits)
        raise PointError(f"{what} must be a finite number") from None
    if not math.isfinite(number):
        raise PointError(f"{what} must be a finite number")
    return number


def check_point(lat: object, lon: object) -> tuple[float, float]:
    """Read a latitude and longitude (numbers or strings, Persian digits allowed) or raise PointError."""
    latitude = _coordinate(lat, "latitude")
    longitude = _coordinate(lon, "longitude")
    if not -90 <= latitude <= 90:
        raise PointError("latitude must be between -90 and 90")
    if not -180 <= longitude <= 180:
        raise PointError("longitude must be between -180 and 180")
    return latitude, longitude


def service_area_km() -> float:
    """How far from the nearest active zone the office still takes a pickup or drop-off."""
    return current_app.config["SERVICE_AREA_KM"]


def check_in_service_area(lat: object, lon: object) -> tuple[float, float]:
    """Check a point as check_point does and refuse it when it lies too far from every active zone.

    With no zones defined yet every valid point is accepted: a new office has no area to hold to.
    """
    latitude, longitude = check_point(lat, lon)
    distance = km_from_zones(latitude, longitude)
    limit = service_area_km()
    if distance is not None and distance > limit:
        raise PointError(
            f"the point is {distance:.0f} km from the nearest zone, outside the service area ({limit:g} km)"
        )
    return latitude, longitude
