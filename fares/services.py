"""The fare engine: which rule applies, how far and how long a trip is, and what it costs, line by line.

A quote is made of lines that add up to the fare. A metered trip has the flag-down, its distance and/or
time (see ``charged_by``), the top-up to the minimum fare, the rule's surcharges, the loyalty discount and
the rounding to the office's currency step. A trip between two zones the rule has a fixed price for
(``FixedFare``) has one "fixed" line instead of the meter and the surcharges, then the loyalty discount and
the rounding. Waiting time and cancellations are charged apart (``waiting_charge``, ``cancellation_fee``)
by whoever completes or cancels the trip.

Surcharges (``FareRule.surcharges``, a list of dicts; ``fares.rules`` checks them when a rule is published):

- ``{"kind": "night" | "rush", "from": "HH:MM", "to": "HH:MM", "percent": P, "days": ["fri", …]?}``: P %
  of the metered subtotal when the pickup falls in the window on the office clock (a window may run past
  midnight) and, if ``days`` is given, on one of those days (``mon`` … ``sun``, the pickup's own date);
- ``{"kind": "holiday", "percent": P}``: P % when the pickup's date on the office clock is in ``holidays``;
- ``{"kind": "zone", "zone": CODE, "amount": A}``: A when the pickup or the dropoff lies in that zone.

Percentages are each taken of the subtotal after the minimum and added up; they do not compound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from flask_babel import force_locale
from flask_babel import gettext as _
from geopy.distance import geodesic
from sqlalchemy import case, or_, select

from core.extensions import db
from core.text import persian_digits
from core.timewindows import in_windows, parse_windows
from fares.models import FareRule, FixedFare, Holiday
from geo.models import Zone

# The estimate and its figures lived here; others still import them from here.
from geo.routing import ROAD_FACTOR, SPEED_BY_HOUR, estimate_trip, road_route  # noqa: F401

# Day names of ``days`` in a surcharge, in the order of ``datetime.weekday()``.
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SURCHARGE_KINDS = ("night", "rush", "holiday", "zone")


class QuoteError(ValueError):
    """A trip that cannot be quoted, with a message for people."""


@dataclass(frozen=True)
class FareLine:
    """One part of a fare: what it is for (``kind``), a number it was made from, and its amount."""

    # flag_down, distance, time, minimum, night, rush, holiday, zone, fixed, loyalty, rounding; and the
    # lines added after the trip: waiting, cancellation.
    kind: str
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
    route_source: str = "estimate"  # "osrm" when the routing server measured the trip


def round_to_step(amount: int, step: int) -> int:
    """The amount rounded half up to a multiple of ``step``."""
    return (amount + step // 2) // step * step


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


def charged_by(rule: FareRule, distance_km: float, duration_min: float) -> str:
    """What the meter charges for a trip: ``"both"``, ``"time"`` or ``"distance"``.

    The taximeter switch: with a ``speed_threshold_kmh`` above 0, a trip whose average speed
    (distance over duration) is below the threshold is charged by time only (stuck in traffic), any
    other by distance only; a trip of no duration counts as fast. Without a threshold both are charged.
    The switch is taken on the whole trip's average, since a quote knows no speed along the way.
    """
    threshold = rule.speed_threshold_kmh or 0  # None on a rule not yet flushed, before its column default
    if threshold <= 0:
        return "both"
    hours = duration_min / 60
    if hours <= 0:  # also a duration so small that it is no time at all in hours (5e-324 / 60 is 0.0)
        return "distance"
    return "time" if distance_km / hours < threshold else "distance"


def is_holiday(moment: datetime, zone: str) -> bool:
    """Whether the moment's date on the office clock is on the holiday calendar."""
    day = moment.astimezone(ZoneInfo(zone)).date()
    return db.session.scalar(select(Holiday.id).where(Holiday.day == day).limit(1)) is not None


def fixed_fare_for(rule: FareRule, from_zone_id: int | None, to_zone_id: int | None) -> FixedFare | None:
    """The rule's fixed price from one zone to another (or back, for a price both ways), or None."""
    if rule.id is None or from_zone_id is None or to_zone_id is None:
        return None
    forward = (FixedFare.from_zone_id == from_zone_id) & (FixedFare.to_zone_id == to_zone_id)
    reverse = (FixedFare.from_zone_id == to_zone_id) & (FixedFare.to_zone_id == from_zone_id)
    back = FixedFare.both_ways.is_(True) & reverse
    return db.session.scalar(
        select(FixedFare)
        .where(FixedFare.fare_rule_id == rule.id, or_(forward, back))
        # A price set for this very direction wins over the reverse one's "both ways".
        .order_by(case((forward, 0), else_=1))
        .limit(1)
    )


def _in_window(surcharge: dict, pickup_at: datetime, zone: str) -> bool:
    window = f"{surcharge.get('from')}-{surcharge.get('to')}"
    if not in_windows(pickup_at, parse_windows(window), zone):
        return False
    days = surcharge.get("days")
    return not days or WEEKDAYS[pickup_at.astimezone(ZoneInfo(zone)).weekday()] in days


def _surcharge_lines(
    rule: FareRule, subtotal: int, pickup_at: datetime, zone_codes: set[str], zone: str, holiday: bool | None
) -> list[FareLine]:
    lines = []
    for surcharge in rule.surcharges or []:
        kind = surcharge.get("kind")
        if kind in ("night", "rush") and _in_window(surcharge, pickup_at, zone):
            lines.append(FareLine(kind, round(subtotal * surcharge["percent"] / 100), surcharge["percent"]))
        elif kind == "holiday":
            if holiday is None:
                holiday = is_holiday(pickup_at, zone)
            if holiday:
                lines.append(FareLine(kind, round(subtotal * surcharge["percent"] / 100), surcharge["percent"]))
        elif kind == "zone" and surcharge.get("zone") in zone_codes:
            lines.append(FareLine(kind, surcharge["amount"], surcharge["zone"]))
    return lines


def quote_fare(
    rule: FareRule,
    distance_km: float,
    duration_min: float,
    pickup_at: datetime,
    zone_codes: set[str],
    zone: str,
    discount_percent: int = 0,
    *,
    zone_ids: tuple[int | None, int | None] = (None, None),
    holiday: bool | None = None,
) -> tuple[int, list[FareLine]]:
    """The fare of a trip under ``rule`` and the lines it is made of; the lines add up to the fare.

    ``zone_codes`` are the codes of the pickup's and dropoff's zones (for zone surcharges), ``zone_ids``
    the (pickup, dropoff) zone ids (for fixed prices), ``zone`` the office's time zone. ``holiday`` says
    whether the pickup day is a holiday; None looks it up when the rule has a holiday surcharge.

    A fixed zone-to-zone price replaces the meter, the minimum and every surcharge: an office's flat rate
    (the airport run) is quoted to the passenger as all-in, at any hour. The loyalty discount and the
    rounding still apply to it.
    """
    fixed = fixed_fare_for(rule, *zone_ids)
    if fixed is not None:
        lines = [FareLine("fixed", fixed.amount, _route_label(zone_ids))]
    else:
        lines = [FareLine("flag_down", rule.flag_down)]
        by = charged_by(rule, distance_km, duration_min)
        if by in ("both", "distance"):
            lines.append(FareLine("distance", round(rule.per_km * distance_km), distance_km))
        if by in ("both", "time"):
            lines.append(FareLine("time", round(rule.per_minute * duration_min), duration_min))
        subtotal = sum(line.amount for line in lines)
        if subtotal < rule.minimum_fare:
            lines.append(FareLine("minimum", rule.minimum_fare - subtotal))
            subtotal = rule.minimum_fare
        lines += _surcharge_lines(rule, subtotal, pickup_at, zone_codes, zone, holiday)
    if discount_percent:
        before = sum(line.amount for line in lines)
        lines.append(FareLine("loyalty", -(before * discount_percent // 100), discount_percent))
    total = sum(line.amount for line in lines)
    fare = round_to_step(total, rule.rounding_step or 1)
    if fare != total:
        lines.append(FareLine("rounding", fare - total))
    return fare, lines


def _route_label(zone_ids: tuple[int | None, int | None]) -> str:
    codes = [zone.code if (zone := db.session.get(Zone, zone_id)) else "?" for zone_id in zone_ids]
    return "–".join(codes)


def waiting_charge(rule: FareRule, waiting_min: float) -> int:
    """What keeping the driver waiting costs: whole minutes past the free ones times the rate, on the step.

    Only completed minutes count (4.9 minutes is 4), the first ``waiting_free_minutes`` are free, and the
    amount is rounded to the currency step so that a quoted fare plus waiting stays on the step. A
    negative or non-finite wait is a clock error and raises ValueError.
    """
    if not math.isfinite(waiting_min) or waiting_min < 0:
        raise ValueError(f"waiting time must be a non-negative number of minutes, not {waiting_min!r}")
    # The nudge keeps a wait worked out from timestamps (4.9999999 for five minutes) from losing a minute.
    minutes = max(0, math.floor(waiting_min + 1e-9) - (rule.waiting_free_minutes or 0))
    return round_to_step(minutes * (rule.waiting_per_minute or 0), rule.rounding_step or 1)


def cancellation_fee(rule: FareRule) -> int:
    """What a late cancellation costs under the rule, as the office set it (no rounding: it is set on the step)."""
    return rule.cancellation_fee or 0


LINE_KINDS = frozenset(
    [
        "flag_down",
        "distance",
        "time",
        "minimum",
        "night",
        "rush",
        "holiday",
        "zone",
        "fixed",
        "waiting",
        "cancellation",
        "loyalty",
        "rounding",
    ]
)


def breakdown(lines: list[FareLine], locale: str) -> list[dict]:
    """The lines as ``{label, amount}`` in a language, as bookings keep them and the API shows them."""
    with force_locale(locale):
        labels = {
            "flag_down": _("Flag-down"),
            "distance": _("Distance %(km)s km"),
            "time": _("Time %(minutes)s min"),
            "minimum": _("Up to the minimum fare"),
            "night": _("Night %(percent)s%%"),
            "rush": _("Rush hour %(percent)s%%"),
            "holiday": _("Holiday %(percent)s%%"),
            "zone": _("Zone %(zone)s"),
            "fixed": _("Fixed price %(zone)s"),
            "waiting": _("Waiting %(minutes)s min"),
            "cancellation": _("Cancellation fee"),
            "loyalty": _("Loyalty discount %(percent)s%%"),
            "rounding": _("Rounding"),
        }
    out = []
    for line in lines:
        figure = f"{line.figure:g}" if isinstance(line.figure, float) else line.figure
        label = labels[line.kind] % {"km": figure, "minutes": figure, "percent": figure, "zone": figure}
        label = persian_digits(label) if locale == "fa" else label
        out.append({"label": label, "amount": line.amount, "kind": line.kind, "figure": line.figure})
    return out


def relabel(items: list[dict], locale: str) -> list[dict]:
    """A kept breakdown as ``{label, amount}`` in another language (lines kept before kinds were stored stay)."""
    return [
        breakdown([FareLine(item["kind"], item["amount"], item.get("figure", ""))], locale)[0]
        if item.get("kind") in LINE_KINDS
        else item
        for item in items
    ]


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
    route = road_route(start, end, pickup_at)
    zones = (zone_for_point(*start), zone_for_point(*end))
    codes = {z.code for z in zones if z is not None}
    percent = 0
    if subscriber_id is not None:
        loyalty = rule_from_config(config)
        # The rule's discount as a percentage of this trip, if this is the Nth trip.
        percent = loyalty.percent if loyalty_discount(loyalty, completed_trips(subscriber_id), 100) else 0
    ids = (zones[0].id if zones[0] else None, zones[1].id if zones[1] else None)
    fare, lines = quote_fare(rule, route.distance_km, route.duration_min, pickup_at, codes, zone, percent, zone_ids=ids)
    return Quote(fare, rule.currency, route.distance_km, route.duration_min, rule.id, lines, route.source)
