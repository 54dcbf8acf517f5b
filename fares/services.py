"""The fare engine: which rule applies, how far and how long a trip is, and what it costs, line by line.

A quote is made of lines that add up to the fare: flag-down, distance, time, the top-up to the minimum
fare, the rule's surcharges (a night window as a percentage, a zone as a fixed amount), the loyalty
discount, and the rounding to the office's currency step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from flask_babel import force_locale
from flask_babel import gettext as _
from geopy.distance import geodesic
from sqlalchemy import or_, select

from core.extensions import db
from core.text import persian_digits
from core.timewindows import in_windows, parse_windows
from fares.models import FareRule

# Streets are longer than the straight line between two points; Tehran's grid adds about a third.
ROAD_FACTOR = 1.35
# Average speed (km/h) by hour of the office's day: rush hours crawl, nights run free.
SPEED_BY_HOUR = (
    {hour: 24.0 for hour in range(24)}
    | {h: 16.0 for h in (7, 8, 9, 17, 18, 19, 20)}
    | {h: 38.0 for h in (0, 1, 2, 3, 4, 5)}
)


class QuoteError(ValueError):
    """A trip that cannot be quoted, with a message for people."""


@dataclass(frozen=True)
class FareLine:
    """One part of a fare: what it is for (``kind``), a number it was made from, and its amount."""

    kind: str  # flag_down, distance, time, minimum, night, zone, loyalty, rounding
    amount: int
    figure: float | str = ""


@dataclass
class Quote:
    """What a trip costs under a rule, and why."""

    fare: int
    currency: str
    distance_km: float
    duration_min: float
    fare_rule_id: int
    lines: list[FareLine] = field(default_factory=list)


def round_to_step(amount: int, step: int) -> int:
    """The amount rounded half up to a multiple of ``step``."""
    return (amount + step // 2) // step * step


def estimate_trip(
    pickup: tuple[float, float], dropoff: tuple[float, float], pickup_at: datetime, zone: str
) -> tuple[float, float]:
    """Road distance (km) and duration (minutes): the straight line times the road factor, at the hour's speed."""
    km = round(geodesic(pickup, dropoff).km * ROAD_FACTOR, 1)
    speed = SPEED_BY_HOUR[pickup_at.astimezone(ZoneInfo(zone)).hour]
    return km, round(km / speed * 60, 1)


def active_rule(vehicle_class: str, at: datetime) -> FareRule | None:
    """The newest version of the class's fare rule in force at that moment."""
    return db.session.scalar(
        select(FareRule)
        .where(
            FareRule.vehicle_class == vehicle_class,
            FareRule.valid_from <= at,
            or_(FareRule.valid_to.is_(None), FareRule.valid_to > at),
        )
        .order_by(FareRule.version.desc())
        .limit(1)
    )


def quote_fare(
    rule: FareRule,
    distance_km: float,
    duration_min: float,
    pickup_at: datetime,
    zone_codes: set[str],
    zone: str,
    discount_percent: int = 0,
) -> tuple[int, list[FareLine]]:
    """The fare of a trip under ``rule`` and the lines it is made of; the lines add up to the fare."""
    lines = [
        FareLine("flag_down", rule.flag_down),
        FareLine("distance", round(rule.per_km * distance_km), distance_km),
        FareLine("time", round(rule.per_minute * duration_min), duration_min),
    ]
    subtotal = sum(line.amount for line in lines)
    if subtotal < rule.minimum_fare:
        lines.append(FareLine("minimum", rule.minimum_fare - subtotal))
        subtotal = rule.minimum_fare
    for surcharge in rule.surcharges:
        window = f"{surcharge.get('from')}-{surcharge.get('to')}"
        if surcharge.get("kind") == "night" and in_windows(pickup_at, parse_windows(window), zone):
            lines.append(FareLine("night", round(subtotal * surcharge["percent"] / 100), surcharge["percent"]))
        elif surcharge.get("kind") == "zone" and surcharge.get("zone") in zone_codes:
            lines.append(FareLine("zone", surcharge["amount"], surcharge["zone"]))
    if discount_percent:
        before = sum(line.amount for line in lines)
        lines.append(FareLine("loyalty", -(before * discount_percent // 100), discount_percent))
    total = sum(line.amount for line in lines)
    fare = round_to_step(total, rule.rounding_step)
    if fare != total:
        lines.append(FareLine("rounding", fare - total))
    return fare, lines


def breakdown(lines: list[FareLine], locale: str) -> list[dict]:
    """The lines as ``{label, amount}`` in a language, as bookings keep them and the API shows them."""
    with force_locale(locale):
        labels = {
            "flag_down": _("Flag-down"),
            "distance": _("Distance %(km)s km"),
            "time": _("Time %(minutes)s min"),
            "minimum": _("Up to the minimum fare"),
            "night": _("Night %(percent)s%%"),
            "zone": _("Zone %(zone)s"),
            "loyalty": _("Loyalty discount %(percent)s%%"),
            "rounding": _("Rounding"),
        }
    out = []
    for line in lines:
        figure = f"{line.figure:g}" if isinstance(line.figure, float) else line.figure
        label = labels[line.kind] % {"km": figure, "minutes": figure, "percent": figure, "zone": figure}
        out.append({"label": persian_digits(label) if locale == "fa" else label, "amount": line.amount})
    return out


# A quote for a pickup further ahead than this is a mistake more often than a plan.
MAX_DAYS_AHEAD = 90
PAST_GRACE_MINUTES = 10
SAME_PLACE_KM = 0.05


def quote_trip(
    pickup: tuple[object, object],
    dropoff: tuple[object, object],
    vehicle_class: str,
    pickup_at: datetime,
    now: datetime,
    config,
    subscriber_id: int | None = None,
) -> Quote:
    """Quote a trip between two points: checks the points and the time, finds the rule, applies the loyalty rule."""
    from geo.points import PointError, check_in_service_area
    from geo.zones import zone_for_point
    from loyalty.rules import completed_trips, loyalty_discount, rule_from_config

    try:
        start = check_in_service_area(*pickup)
    except PointError as exc:
        raise QuoteError(f"pickup: {exc}") from None
    try:
        end = check_in_service_area(*dropoff)
    except PointError as exc:
        raise QuoteError(f"dropoff: {exc}") from None
    if geodesic(start, end).km < SAME_PLACE_KM:
        raise QuoteError("the dropoff is the same place as the pickup")
    if (now - pickup_at).total_seconds() > PAST_GRACE_MINUTES * 60:
        raise QuoteError("the pickup time has passed")
    if (pickup_at - now).days > MAX_DAYS_AHEAD:
        raise QuoteError(f"the pickup time is more than {MAX_DAYS_AHEAD} days ahead")
    rule = active_rule(vehicle_class, pickup_at)
    if rule is None:
        raise QuoteError(f"no fare rule for vehicle class {vehicle_class!r}")
    zone = config["OFFICE_TIMEZONE"]
    km, minutes = estimate_trip(start, end, pickup_at, zone)
    codes = {z.code for z in (zone_for_point(*start), zone_for_point(*end)) if z is not None}
    percent = 0
    if subscriber_id is not None:
        loyalty = rule_from_config(config)
        # The rule's discount as a percentage of this trip, if this is the Nth trip.
        percent = loyalty.percent if loyalty_discount(loyalty, completed_trips(subscriber_id), 100) else 0
    fare, lines = quote_fare(rule, km, minutes, pickup_at, codes, zone, percent)
    return Quote(fare, rule.currency, km, minutes, rule.id, lines)
