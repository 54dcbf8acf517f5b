"""Changing a driver's record after it was made: identity, licence, the active flag, and their cars.

Checked by the same rules as ``drivers.services.create_driver``; every value is checked before any is
changed, so a refusal (a ``DriverError``) leaves the record as it was. Functions flush; the request
commits with ``core.signals.commit_and_announce`` so the dispatch board and the driver's phone hear of it.

The car dispatch goes by is the driver's first on the books (``drivers.services.vehicle_of``); a car added
later does not replace it.
"""

from __future__ import annotations

from datetime import date, datetime

from flask import current_app
from sqlalchemy.exc import IntegrityError

from accounts.models import User
from core.database import on_commit, savepoint
from core.extensions import db
from core.models import utcnow
from core.signals import queue_signal
from core.timewindows import office_date
from drivers.models import Driver, DriverStatus, Vehicle
from drivers.services import (
    DriverError,
    _check_language,
    _check_name,
    _check_phone,
    _check_phone_free,
    _check_plate,
    _check_vehicle_class,
    _index_status,
    searchable,
)
from drivers.signals import driver_changed

DRIVER_FIELDS = frozenset({"name", "phone", "language", "licence_number", "licence_expires_on", "active"})
VEHICLE_FIELDS = frozenset({"plate", "make_model", "colour", "vehicle_class", "year", "insurance_expires_on"})
FIRST_MODEL_YEAR = 1950


def _today(now: datetime) -> date:
    return office_date(now, current_app.config["OFFICE_TIMEZONE"])


def _unknown(values: dict, allowed: frozenset[str]) -> None:
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise TypeError(f"unknown field(s): {', '.join(unknown)}")


def _expiry(label: str, paper: str, new: date | None, old: date | None, today: date) -> date | None:
    """An expiry date as entered: refused when already past or when a date on the books would be removed.

    Only a changed date is judged, so a record whose paper has since expired can still be corrected
    elsewhere without retyping it; and removing the date would make an expired paper count as valid.
    """
    if new == old:
        return new
    if new is None:
        raise DriverError(f"{label}: a date on the books cannot be removed; enter the new {paper}'s expiry date")
    if not isinstance(new, date) or isinstance(new, datetime):
        raise DriverError(f"{label}: not a date")
    if new < today:
        raise DriverError(f"{label}: the date is in the past: this {paper} has already expired")
    return new


def _text(label: str, value: object, longest: int) -> str:
    text = str(value or "").strip()
    if len(text) > longest:
        raise DriverError(f"{label}: at most {longest} characters")
    return text


def _year(value: object, today: date) -> int | None:
    if value is None or value == "":
        return None
    last = today.year + 1
    if isinstance(value, bool) or not isinstance(value, int) or not FIRST_MODEL_YEAR <= value <= last:
        raise DriverError(f"year: a year from {FIRST_MODEL_YEAR} to {last}")
    return value


def announce_change(driver: Driver, now: datetime) -> None:
    """Push the driver's board row and phone page, and keep the live index's searchable set in step.

    An offline driver is not in the index (``set_status`` took them out), so only an on-duty one is touched.
    """
    queue_signal(driver_changed, driver_id=driver.id, status=driver.status)
    if driver.status == DriverStatus.OFFLINE:
        return
    driver_id, status, can_be_found = driver.id, driver.status, searchable(driver, now, _today(now))
    # After the commit, like set_status: a rolled-back edit leaves the index as it was.
    on_commit(lambda: _index_status(driver_id, status, can_be_found))


def _flush_unique() -> None:
    """Flush in a savepoint: a phone or plate taken by another request since the check is refused, not a 500."""
    try:
        with savepoint():
            db.session.flush()
    except IntegrityError:
        raise DriverError("the phone number or plate was just taken by another record: look again") from None


def update_driver(driver: Driver, now: datetime | None = None, **values) -> Driver:
    """Change a driver's name, phone, language, licence number and expiry, or active flag (only those given)."""
    _unknown(values, DRIVER_FIELDS)
    now = now or utcnow()
    changes: dict[str, object] = {}
    if "name" in values:
        changes["name"] = _check_name(values["name"])
    if "phone" in values:
        e164 = _check_phone(values["phone"])
        _check_phone_free(e164, driver.id)
        changes["phone"] = e164
    if "language" in values:
        changes["language"] = _check_language(values["language"])
    if "licence_number" in values:
        changes["licence_number"] = _text("licence number", values["licence_number"], 40)
    if "licence_expires_on" in values:
        changes["licence_expires_on"] = _expiry(
            "licence expiry", "licence", values["licence_expires_on"], driver.licence_expires_on, _today(now)
        )
    if "active" in values:
        if not isinstance(values["active"], bool):
            raise DriverError("active: yes or no")
        changes["active"] = values["active"]
    # Read before the changes are made: a query after them would flush them outside the savepoint below.
    user = db.session.get(User, driver.user_id) if driver.user_id is not None else None
    for field, value in changes.items():
        setattr(driver, field, value)
    # The login carries the name and language too (staff lists, the texts' language on the phone page); the
    # login's name column is shorter than the driver's.
    if user is not None:
        user.display_name = driver.name[:120]
        user.language = driver.language
    _flush_unique()
    announce_change(driver, now)
    return driver


def _vehicle_changes(values: dict, vehicle: Vehicle | None, today: date) -> dict[str, object]:
    """The checked values for a new car (``vehicle`` None) or the given ones for a car on the books."""
    changes: dict[str, object] = {}
    if vehicle is None or "plate" in values:
        changes["plate"] = _check_plate(values.get("plate"), vehicle.id if vehicle is not None else None)
    if vehicle is None or "vehicle_class" in values:
        changes["vehicle_class"] = _check_vehicle_class(values.get("vehicle_class"))
    if vehicle is None or "make_model" in values:
        changes["make_model"] = _text("make and model", values.get("make_model"), 80)
    if vehicle is None or "colour" in values:
        changes["colour"] = _text("colour", values.get("colour"), 40)
    if vehicle is None or "year" in values:
        changes["year"] = _year(values.get("year"), today)
    if vehicle is None or "insurance_expires_on" in values:
        old = vehicle.insurance_expires_on if vehicle is not None else None
        changes["insurance_expires_on"] = _expiry(
            "insurance expiry", "insurance", values.get("insurance_expires_on"), old, today
        )
    return changes


def add_vehicle(driver: Driver, values: dict, now: datetime | None = None) -> Vehicle:
    """Put another car on the driver's books (plate, make and model, colour, class, year, insurance expiry)."""
    _unknown(values, VEHICLE_FIELDS)
    now = now or utcnow()
    vehicle = Vehicle(**_vehicle_changes(values, None, _today(now)))
    driver.vehicles.append(vehicle)
    _flush_unique()
    announce_change(driver, now)
    return vehicle


def update_vehicle(vehicle: Vehicle, values: dict, now: datetime | None = None) -> Vehicle:
    """Change a car's plate, make and model, colour, class, year or insurance expiry (only those given)."""
    _unknown(values, VEHICLE_FIELDS)
    now = now or utcnow()
    for field, value in _vehicle_changes(values, vehicle, _today(now)).items():
        setattr(vehicle, field, value)
    _flush_unique()
    if vehicle.driver is not None:
        announce_change(vehicle.driver, now)
    return vehicle
