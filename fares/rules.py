"""Fare rule administration: a change of tariff is a new version, and the holiday calendar.

A version is never edited once published: bookings keep the id of the version they were quoted under,
so a later version changes no past fare. Publishing closes the class's previous version at the new one's
``valid_from`` (the only change ever made to an old row) and copies nothing from it: the admin gives every
value of the new version. The service functions flush; the request commits.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from core.database import savepoint
from core.extensions import db
from core.models import utcnow
from core.timewindows import parse_windows
from drivers.models import VehicleClass
from fares.models import FareRule, FixedFare, Holiday
from fares.services import SURCHARGE_KINDS, WEEKDAYS
from geo.models import Zone

# Bounds that catch a slipped finger (three zeros too many) in any currency's smallest unit.
MAX_AMOUNT = 100_000_000_000
MAX_PERCENT = 300
MAX_SPEED_KMH = 200
MAX_FREE_MINUTES = 240
MAX_NAME_LENGTH = 120
MAX_SURCHARGES = 50
MAX_FIXED_FARES = 500
# A new version may start this far in the past (a form filled in a minute ago) and this far ahead.
PAST_GRACE = timedelta(minutes=5)
MAX_AHEAD = timedelta(days=366)

AMOUNT_FIELDS = ("flag_down", "per_km", "per_minute", "minimum_fare", "waiting_per_minute", "cancellation_fee")
REQUIRED_FIELDS = ("vehicle_class", "name", "currency", "flag_down", "per_km", "per_minute", "minimum_fare")
RULE_FIELDS = (
    *REQUIRED_FIELDS,
    "waiting_per_minute",
    "waiting_free_minutes",
    "cancellation_fee",
    "rounding_step",
    "speed_threshold_kmh",
    "surcharges",
    "fixed_fares",
)
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
_SURCHARGE_KEYS = {
    "night": {"kind", "from", "to", "percent", "days"},
    "rush": {"kind", "from", "to", "percent", "days"},
    "holiday": {"kind", "percent"},
    "zone": {"kind", "zone", "amount"},
}
_FIXED_KEYS = {"from_zone", "to_zone", "amount", "both_ways"}


class RuleError(ValueError):
    """A fare rule, fixed price or holiday refused, with a message for people and one per field."""

    def __init__(self, message: str, fields: dict[str, str] | None = None, status: int = 400, code: str = "invalid"):
        super().__init__(message)
        self.message, self.fields, self.status, self.code = message, fields or {}, status, code


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _amount(value: object, low: int = 0, high: int = MAX_AMOUNT) -> str | None:
    """None if the value is a whole amount in [low, high], else what is wrong with it."""
    if not _is_whole(value) or not low <= value <= high:
        return f"must be a whole number from {low:,} to {high:,}"
    return None


def _zone_by_reference(reference: object) -> Zone | None:
    """A zone by its code (any case) or its id."""
    if _is_whole(reference):
        # Beyond a 64-bit id no zone can have it, and the database driver would refuse to look it up.
        return db.session.get(Zone, reference) if 0 < reference < 2**63 else None
    if isinstance(reference, str) and reference.strip():
        return db.session.scalar(select(Zone).where(func.upper(Zone.code) == reference.strip().upper()))
    return None


def _check_window(item: dict, where: str) -> list[str]:
    problems = []
    for end in ("from", "to"):
        if not isinstance(item.get(end), str) or not _CLOCK.fullmatch(item[end]):
            problems.append(f"{where}: '{end}' must be a time of day as HH:MM, e.g. 23:00")
    if not problems:
        if item["from"] == item["to"]:
            problems.append(f"{where}: 'from' and 'to' are the same time, so the window is empty")
        else:
            parse_windows(f"{item['from']}-{item['to']}")  # the engine's own reading: must not raise
    days = item.get("days")
    if days is not None:
        if not isinstance(days, list) or not days or not all(isinstance(d, str) for d in days):
            problems.append(f"{where}: 'days' must be a list of day names ({', '.join(WEEKDAYS)})")
        elif unknown := [d for d in days if d not in WEEKDAYS]:
            problems.append(f"{where}: unknown day {unknown[0]!r}; days are {', '.join(WEEKDAYS)}")
        elif len(set(days)) != len(days):
            problems.append(f"{where}: a day is named twice")
    return problems


def _check_surcharges(items: object) -> tuple[list[dict], list[str]]:
    """The surcharges as the engine reads them, and what is wrong with them."""
    if not isinstance(items, list):
        return [], ["must be a list of surcharges"]
    if len(items) > MAX_SURCHARGES:
        return [], [f"at most {MAX_SURCHARGES} surcharges"]
    clean, problems = [], []
    for number, item in enumerate(items, 1):
        where = f"surcharge {number}"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be an object with a 'kind'")
            continue
        kind = item.get("kind")
        if kind not in SURCHARGE_KINDS:
            problems.append(f"{where}: kind must be one of {', '.join(SURCHARGE_KINDS)}, not {kind!r}")
            continue
        where = f"surcharge {number} ({kind})"
        if unknown := sorted(set(item) - _SURCHARGE_KEYS[kind]):
            allowed = ", ".join(sorted(_SURCHARGE_KEYS[kind]))
            problems.append(f"{where}: unknown key {unknown[0]!r}; a {kind} surcharge has {allowed}")
            continue
        if kind in ("night", "rush"):
            problems += _check_window(item, where)
        if kind == "zone":
            if not isinstance(item.get("zone"), str) or _zone_by_reference(item["zone"]) is None:
                problems.append(f"{where}: 'zone' must be the code of an existing zone, not {item.get('zone')!r}")
            if error := _amount(item.get("amount"), 1):
                problems.append(f"{where}: 'amount' {error}")
        elif not _is_number(item.get("percent")) or not 0 <= item["percent"] <= MAX_PERCENT:
            problems.append(f"{where}: 'percent' must be a number from 0 to {MAX_PERCENT}")
        entry = dict(item)
        if kind == "zone" and isinstance(item.get("zone"), str):
            zone = _zone_by_reference(item["zone"])
            entry["zone"] = zone.code if zone else item["zone"]  # the engine matches codes exactly
        clean.append(entry)
    return clean, problems


def _check_fixed_fares(items: object) -> tuple[list[FixedFare], list[str]]:
    """Unsaved FixedFare rows (no rule yet) for the items, and what is wrong with them."""
    if not isinstance(items, list):
        return [], ["must be a list of fixed prices"]
    if len(items) > MAX_FIXED_FARES:
        return [], [f"at most {MAX_FIXED_FARES} fixed prices"]
    rows, problems, pairs = [], [], set()
    for number, item in enumerate(items, 1):
        where = f"fixed price {number}"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be an object with from_zone, to_zone and amount")
            continue
        if unknown := sorted(set(item) - _FIXED_KEYS):
            problems.append(f"{where}: unknown key {unknown[0]!r}; a fixed price has {', '.join(sorted(_FIXED_KEYS))}")
            continue
        start, end = _zone_by_reference(item.get("from_zone")), _zone_by_reference(item.get("to_zone"))
        for name, zone in (("from_zone", start), ("to_zone", end)):
            if zone is None:
                problems.append(f"{where}: {name} must be an existing zone's code, not {item.get(name)!r}")
        if start is not None and start is end:
            problems.append(f"{where}: from_zone and to_zone are the same zone ({start.code})")
        elif start is not None and end is not None:
            if (start.id, end.id) in pairs:
                problems.append(f"{where}: a second price from {start.code} to {end.code}")
            pairs.add((start.id, end.id))
        if error := _amount(item.get("amount"), 1):
            problems.append(f"{where}: amount {error}")
        both_ways = item.get("both_ways", True)
        if not isinstance(both_ways, bool):
            problems.append(f"{where}: both_ways must be true or false")
        if start is not None and end is not None:
            rows.append(
                FixedFare(from_zone_id=start.id, to_zone_id=end.id, amount=item.get("amount"), both_ways=both_ways)
            )
    return rows, problems


def check_rule_values(values: Mapping[str, object]) -> tuple[dict, list[FixedFare]]:
    """The rule's column values and its unsaved fixed prices, or RuleError saying everything wrong at once."""
    fields: dict[str, str] = {}
    for key in sorted(set(values) - set(RULE_FIELDS)):
        fields[key] = f"unknown field; a fare rule has {', '.join(RULE_FIELDS)}"
    for key in REQUIRED_FIELDS:
        if values.get(key) is None or values.get(key) == "":
            fields[key] = "required"
    clean: dict = {}
    vehicle_class = values.get("vehicle_class")
    if "vehicle_class" not in fields:
        if not isinstance(vehicle_class, str) or vehicle_class not in {v.value for v in VehicleClass}:
            fields["vehicle_class"] = f"must be one of {', '.join(v.value for v in VehicleClass)}"
        clean["vehicle_class"] = vehicle_class
    if "name" not in fields:
        name = values["name"].strip() if isinstance(values["name"], str) else ""
        if not name or len(name) > MAX_NAME_LENGTH:
            fields["name"] = f"must be text of 1 to {MAX_NAME_LENGTH} characters"
        clean["name"] = name
    if "currency" not in fields:
        currency = values["currency"].strip().upper() if isinstance(values["currency"], str) else ""
        if not re.fullmatch(r"[A-Z]{3}", currency):
            fields["currency"] = "must be a three-letter currency code, e.g. IRR"
        clean["currency"] = currency
    for key in AMOUNT_FIELDS:
        if key in fields:
            continue
        clean[key] = values.get(key, 0)
        if error := _amount(clean[key]):
            fields[key] = error
    clean["rounding_step"] = values.get("rounding_step", 1)
    if error := _amount(clean["rounding_step"], 1):
        fields["rounding_step"] = error
    clean["waiting_free_minutes"] = values.get("waiting_free_minutes", 0)
    if error := _amount(clean["waiting_free_minutes"], 0, MAX_FREE_MINUTES):
        fields["waiting_free_minutes"] = error
    speed = values.get("speed_threshold_kmh", 0)
    if not _is_number(speed) or not 0 <= speed <= MAX_SPEED_KMH:
        fields["speed_threshold_kmh"] = f"must be a number of km/h from 0 (off) to {MAX_SPEED_KMH}"
    else:
        clean["speed_threshold_kmh"] = float(speed)
    clean["surcharges"], problems = _check_surcharges(values.get("surcharges", []))
    if problems:
        fields["surcharges"] = "; ".join(problems)
    fixed, problems = _check_fixed_fares(values.get("fixed_fares", []))
    if problems:
        fields["fixed_fares"] = "; ".join(problems)
    if fields:
        raise RuleError("; ".join(f"{key}: {problem}" for key, problem in fields.items()), fields)
    return clean, fixed


def _refuse_start(reason: str) -> None:
    raise RuleError(f"valid_from: {reason}", {"valid_from": reason})


def latest_version(vehicle_class: str) -> FareRule | None:
    """The class's newest version, whether in force, scheduled or closed."""
    return db.session.scalar(
        select(FareRule).where(FareRule.vehicle_class == vehicle_class).order_by(FareRule.version.desc()).limit(1)
    )


def publish_rule(
    values: Mapping[str, object], by_user, valid_from: datetime | None = None, now: datetime | None = None
) -> FareRule:
    """Publish a new version of a class's fare rule, in force from ``valid_from`` (default: now).

    ``values`` holds every field of ``RULE_FIELDS``: amounts as whole numbers in the currency's smallest
    unit, ``surcharges`` as the engine reads them (see fares.services), ``fixed_fares`` as
    ``{from_zone, to_zone, amount, both_ways?}`` with zone codes. The version is the previous one's plus
    one, and the previous version, if still open, is closed at ``valid_from``. Refused with RuleError:
    any bad value (all named at once), a start in the past or over a year ahead or not after the previous
    version's start; a 409 when another version was published at the same moment.
    """
    now = now or utcnow()
    clean, fixed = check_rule_values(values)
    valid_from = valid_from or now
    if valid_from.tzinfo is None:
        _refuse_start("give a moment with its time zone")
    if valid_from < now - PAST_GRACE:
        # Quotes already made for that time were made under the old version; history must say so.
        _refuse_start("a new version cannot start in the past")
    if valid_from > now + MAX_AHEAD:
        _refuse_start("a new version can start at most a year ahead")
    previous = latest_version(clean["vehicle_class"])
    if previous is not None and valid_from <= previous.valid_from:
        _refuse_start(f"version {previous.version} starts {previous.valid_from.isoformat()}; start after it")
    if previous is not None and (previous.valid_to is None or previous.valid_to > valid_from):
        # Conditional on the end we read: of two admins publishing at once, the second finds it moved.
        same_end = FareRule.valid_to.is_(None) if previous.valid_to is None else FareRule.valid_to == previous.valid_to
        closed = db.session.execute(
            update(FareRule).where(FareRule.id == previous.id, same_end).values(valid_to=valid_from)
        )
        if closed.rowcount != 1:
            raise RuleError(
                "another version of this rule was published meanwhile; reload and try again",
                status=409,
                code="conflict",
            )
    rule = FareRule(
        **clean,
        version=(previous.version + 1) if previous else 1,
        valid_from=valid_from,
        valid_to=None,
        created_by_id=getattr(by_user, "id", by_user),
        created_at=now,
    )
    try:
        with savepoint():
            db.session.add(rule)
            db.session.flush()
    except IntegrityError:  # the first version of a class, published twice at the same moment
        raise RuleError(
            "another version of this rule was published meanwhile; reload and try again", status=409, code="conflict"
        ) from None
    for row in fixed:
        row.fare_rule_id = rule.id
    db.session.add_all(fixed)
    db.session.flush()
    return rule


def rule_history(vehicle_class: str) -> list[FareRule]:
    """Every version of a class's rule, newest first."""
    return list(
        db.session.scalars(
            select(FareRule).where(FareRule.vehicle_class == vehicle_class).order_by(FareRule.version.desc())
        )
    )


def rule_in_force(rule: FareRule, at: datetime | None = None) -> bool:
    """Whether the version is the one in force at that moment (default: now)."""
    at = at or utcnow()
    return rule.valid_from <= at and (rule.valid_to is None or rule.valid_to > at)


def fixed_fares_of(rule: FareRule) -> list[FixedFare]:
    """The version's fixed zone-to-zone prices."""
    return list(db.session.scalars(select(FixedFare).where(FixedFare.fare_rule_id == rule.id).order_by(FixedFare.id)))


def rule_values(rule: FareRule) -> dict:
    """A version's values as ``publish_rule`` takes them (fixed prices with zone codes): to start the next one."""
    codes = dict(db.session.execute(select(Zone.id, Zone.code)).all())
    values = {key: getattr(rule, key) for key in RULE_FIELDS if key != "fixed_fares"}
    values["surcharges"] = [dict(s) for s in rule.surcharges or []]
    values["fixed_fares"] = [
        {
            "from_zone": codes.get(row.from_zone_id),
            "to_zone": codes.get(row.to_zone_id),
            "amount": row.amount,
            "both_ways": row.both_ways,
        }
        for row in fixed_fares_of(rule)
    ]
    return values


def booking_counts(rule_ids: list[int]) -> dict[int, int]:
    """How many bookings were quoted under each of these versions."""
    from dispatch.models import Booking

    if not rule_ids:
        return {}
    rows = db.session.execute(
        select(Booking.fare_rule_id, func.count())
        .where(Booking.fare_rule_id.in_(rule_ids))
        .group_by(Booking.fare_rule_id)
    )
    return dict(rows.all())


def rules_query(vehicle_class: str | None = None, current_at: datetime | None = None):
    """The versions as a query, by class and then newest first; only those in force at ``current_at`` if given."""
    query = select(FareRule).order_by(FareRule.vehicle_class, FareRule.version.desc())
    if vehicle_class is not None:
        query = query.where(FareRule.vehicle_class == vehicle_class)
    if current_at is not None:
        query = query.where(
            FareRule.valid_from <= current_at, or_(FareRule.valid_to.is_(None), FareRule.valid_to > current_at)
        )
    return query


def add_holiday(day: date, name: str) -> Holiday:
    """Put a day on the holiday calendar (holiday surcharges apply on it); a day is there at most once."""
    name = (name or "").strip()
    if not isinstance(day, date):
        raise RuleError("day: give a date", {"day": "required"})
    if not name or len(name) > MAX_NAME_LENGTH:
        raise RuleError(f"name: a holiday needs a name of 1 to {MAX_NAME_LENGTH} characters", {"name": "invalid"})
    existing = db.session.scalar(select(Holiday).where(Holiday.day == day))
    if existing is not None:
        raise RuleError(f"{day.isoformat()} is already a holiday ({existing.name})", {"day": "already a holiday"})
    holiday = Holiday(day=day, name=name)
    db.session.add(holiday)
    db.session.flush()
    return holiday


def remove_holiday(holiday_id: int) -> Holiday:
    """Take a day off the holiday calendar; fares already quoted for it keep their surcharge."""
    holiday = db.session.get(Holiday, holiday_id)
    if holiday is None:
        raise RuleError(f"no holiday {holiday_id}", status=404, code="not_found")
    db.session.delete(holiday)
    db.session.flush()
    return holiday


def holidays(since: date | None = None) -> list[Holiday]:
    """The holiday calendar in date order, from ``since`` on if given."""
    query = select(Holiday).order_by(Holiday.day)
    if since is not None:
        query = query.where(Holiday.day >= since)
    return list(db.session.scalars(query))
