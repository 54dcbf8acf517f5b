"""The driver book: new drivers with their login and PIN, where they are, and whether they may be dispatched."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime

from flask import current_app
from geopy.distance import geodesic
from sqlalchemy import func, select, update
from sqlalchemy.orm.attributes import set_committed_value
from werkzeug.security import check_password_hash, generate_password_hash

from accounts.models import LoginAttempt, User
from accounts.roles import Role
from core.database import on_commit
from core.errors import Conflict
from core.extensions import db
from core.queues import redis_connection
from core.text import ascii_digits, persian_digits
from crm.phones import PhoneNumberError, to_e164
from drivers import positions
from drivers.accounts import suspension_reason
from drivers.models import Driver, DriverStatus, Vehicle, VehicleClass
from geo.points import PointError, check_point

# Faster than this between two reports is a GPS glitch or a spoof, not a taxi.
MAX_SPEED_KMH = 250.0
# A jump shorter than this is GPS noise whatever the time between reports.
NOISE_KM = 0.5
# The database copy of a position is refreshed at most this often: Redis carries the live stream, and the
# copy is only for rebuilding the index after Redis lost it (a driver's next report puts them right anyway).
POSITION_DB_EVERY_S = 60
_DUMMY_PIN_HASH = generate_password_hash("not-a-pin")


class DriverError(ValueError):
    """A request about a driver that cannot be carried out, with a message for people."""


class DriverStateChanged(Conflict):
    """The driver's state changed since it was read (another tab, a dispatcher): look again (HTTP 409)."""


def _check_pin(pin: str) -> str:
    pin = (pin or "").strip()
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 8):
        raise DriverError("the PIN must be 4 to 8 digits")
    return pin


def create_driver(
    call_sign: str,
    name: str,
    phone: str,
    pin: str,
    language: str = "fa",
    vehicle: dict | None = None,
) -> Driver:
    """Add a driver, their login for the mobile page (role "driver") and, if given, their car."""
    call_sign = (call_sign or "").strip().upper()
    if not call_sign or len(call_sign) > 16 or not all(ch.isalnum() or ch == "-" for ch in call_sign):
        raise DriverError("call sign: 1–16 letters, digits or '-'")
    name = _check_name(name)
    e164 = _check_phone(phone)
    language = _check_language(language)
    if db.session.scalar(select(Driver.id).where(func.upper(Driver.call_sign) == call_sign)):
        raise DriverError(f"call sign {call_sign} is taken")
    _check_phone_free(e164)
    user = User(
        username=f"driver-{call_sign.lower()}",
        display_name=name,
        # Drivers log in with their number and PIN; the account's password is never used.
        password_hash=generate_password_hash(secrets.token_urlsafe(32)),
        role=Role.DRIVER,
        language=language,
    )
    driver = Driver(
        call_sign=call_sign, name=name, phone=e164, pin_hash=generate_password_hash(_check_pin(pin)), language=language
    )
    db.session.add(user)
    db.session.flush()
    driver.user_id = user.id
    db.session.add(driver)
    if vehicle is not None:  # an empty {} is a car without a plate, not no car
        driver.vehicles.append(_vehicle(vehicle))
    db.session.flush()
    return driver


def _check_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise DriverError("name: 1–200 characters")
    return name


def _check_phone(phone: str | None) -> str:
    """The number in E.164, by the same rules as subscribers' numbers."""
    try:
        return to_e164(phone or "", current_app.config["DEFAULT_REGION"])
    except PhoneNumberError as exc:
        raise DriverError(f"phone: {exc}") from None


def _check_phone_free(e164: str, driver_id: int | None = None) -> None:
    """Refuse a number another driver has (the driver being edited may keep their own)."""
    taken = select(Driver.id).where(Driver.phone == e164)
    if driver_id is not None:
        taken = taken.where(Driver.id != driver_id)
    if db.session.scalar(taken):
        raise DriverError(f"{e164} already belongs to another driver")


def _check_language(language: str | None) -> str:
    if language not in ("fa", "en"):
        raise DriverError("language must be fa or en")
    return language


def _check_plate(plate: str | None, vehicle_id: int | None = None) -> str:
    """The plate as typed (trimmed), refused if empty, too long, or on another car already."""
    plate = str(plate or "").strip()
    if not plate or len(plate) > 32:
        raise DriverError("vehicle plate: 1–32 characters")
    # Iranian plates are typed in Persian or Latin digits alike: the same plate either way is the same car.
    spellings = {plate, ascii_digits(plate), persian_digits(plate)}
    taken = select(Vehicle.id).where(Vehicle.plate.in_(spellings))
    if vehicle_id is not None:
        taken = taken.where(Vehicle.id != vehicle_id)
    if db.session.scalar(taken):
        raise DriverError(f"plate {plate} is already on the books")
    return plate


def _check_vehicle_class(vehicle_class: str | None) -> str:
    vehicle_class = vehicle_class or VehicleClass.SEDAN
    if not isinstance(vehicle_class, str) or vehicle_class not in {c.value for c in VehicleClass}:
        raise DriverError("unknown vehicle class")
    return vehicle_class


def _vehicle(values: dict) -> Vehicle:
    plate = _check_plate(values.get("plate"))
    vehicle_class = _check_vehicle_class(values.get("vehicle_class"))
    return Vehicle(
        plate=plate,
        make_model=str(values.get("make_model") or "")[:80],
        colour=str(values.get("colour") or "")[:40],
        vehicle_class=vehicle_class,
    )


def set_pin(driver: Driver, pin: str) -> None:
    """Give a driver a new PIN."""
    driver.pin_hash = generate_password_hash(_check_pin(pin))
    db.session.flush()


def authenticate_driver(phone: str, pin: str, remote_addr: str) -> Driver | None:
    """The driver with this number and PIN, if both match and they are active; every attempt is recorded."""
    try:
        e164 = to_e164(phone or "", current_app.config["DEFAULT_REGION"])
    except PhoneNumberError:
        e164 = (phone or "").strip()[:20]
    driver = db.session.scalar(select(Driver).where(Driver.phone == e164))
    valid = check_password_hash(driver.pin_hash if driver and driver.pin_hash else _DUMMY_PIN_HASH, pin or "")
    ok = bool(driver and valid and driver.active and driver.user_id)
    db.session.add(LoginAttempt(username=e164.lower()[:64], remote_addr=remote_addr[:64], succeeded=ok))
    db.session.flush()
    return driver if ok else None


def driver_for_user(user_id: int) -> Driver | None:
    """The driver whose login this is."""
    return db.session.scalar(select(Driver).where(Driver.user_id == user_id))


def vehicle_of(driver: Driver) -> Vehicle | None:
    """The car the driver drives (their first on the books)."""
    return driver.vehicles[0] if driver.vehicles else None


def dispatch_block_reason(driver: Driver, now: datetime, today: date) -> str | None:
    """Why the driver may get no offers right now (inactive, suspended, papers or contract expired, shift over)."""
    if not driver.active:
        return "the driver is not active"
    suspended = suspension_reason(driver, now)
    if suspended is not None:
        return f"the driver is suspended: {suspended}"
    if driver.contract_ends_on is not None and driver.contract_ends_on < today:
        return "the driver's contract has expired"
    if driver.licence_expires_on is not None and driver.licence_expires_on < today:
        return "the driver's licence has expired"
    vehicle = vehicle_of(driver)
    if vehicle is None:
        return "the driver has no vehicle on the books"
    if vehicle.insurance_expires_on is not None and vehicle.insurance_expires_on < today:
        return "the vehicle's insurance has expired"
    if driver.shift_ends_at is not None and driver.shift_ends_at <= now:
        return "the driver's shift is over"
    return None


def searchable(driver: Driver, now: datetime, today: date) -> bool:
    """Whether the dispatcher may look for this driver: available and nothing blocks them."""
    return driver.status == DriverStatus.AVAILABLE and dispatch_block_reason(driver, now, today) is None


def set_status(driver: Driver, status: str, now: datetime, today: date) -> None:
    """Record a driver's new state and keep the live index in step (the dispatch engine decides if it may change)."""
    if status not in {s.value for s in DriverStatus}:
        raise DriverError(f"status must be one of: {', '.join(s.value for s in DriverStatus)}")
    seen = driver.status
    db.session.flush()
    # Conditional on the state read: the driver tapping "offline" and a dispatcher assigning them a job at the
    # same moment cannot both win.
    changed = db.session.execute(
        update(Driver)
        .where(Driver.id == driver.id, Driver.status == seen)
        .values(status=status, status_changed_at=now),
        execution_options={"synchronize_session": False},
    ).rowcount
    if changed != 1:
        db.session.refresh(driver)
        raise DriverStateChanged(f"driver {driver.call_sign} is {driver.status} now: look again")
    set_committed_value(driver, "status", status)
    set_committed_value(driver, "status_changed_at", now)
    can_be_found = searchable(driver, now, today)
    # The live index follows once the change is committed: a rolled-back change leaves it as it was.
    on_commit(lambda: _index_status(driver.id, status, can_be_found))


def _index_status(driver_id: int, status: str, can_be_found: bool) -> None:
    redis = redis_connection()
    if status == DriverStatus.OFFLINE:
        positions.forget(redis, driver_id)
    else:
        positions.set_searchable(redis, driver_id, can_be_found)
        positions.set_state_hint(redis, driver_id, status, can_be_found)


def report_position(driver: Driver, lat: object, lon: object, now: datetime, today: date) -> tuple[float, float]:
    """Take a position from a driver's phone: checked, refused if it jumps impossibly, put in the live index.

    Sets ``driver.came_into_view`` when the driver had no fresh position before (just on duty, or back
    after going stale): the moment the dispatcher can first find them.
    """
    try:
        point = check_point(lat, lon)
    except PointError as exc:
        raise DriverError(str(exc)) from None
    if driver.status == DriverStatus.OFFLINE:
        raise DriverError("the driver is offline: go on duty before sending positions")
    redis = redis_connection()
    at = now.timestamp()
    last = positions.last_sighting(redis, driver.id)
    _refuse_jump(last, point, at)
    stale_after = current_app.config["DRIVER_STALE_SECONDS"]
    driver.came_into_view = last is None or at - last.at > stale_after
    persist = driver.last_seen_at is None or (now - driver.last_seen_at).total_seconds() >= POSITION_DB_EVERY_S
    can_be_found = searchable(driver, now, today)
    positions.record(redis, driver.id, point[0], point[1], at, can_be_found)
    positions.set_state_hint(redis, driver.id, driver.status, can_be_found)
    if persist:
        driver.last_lat, driver.last_lon, driver.last_seen_at = point[0], point[1], now
        db.session.flush()
    return point


def _refuse_jump(last: positions.Sighting | None, point: tuple[float, float], at: float) -> None:
    if last is None:
        return
    km = geodesic((last.lat, last.lon), point).km
    hours = max(at - last.at, 1.0) / 3600
    if km > NOISE_KM and km / hours > MAX_SPEED_KMH:
        raise DriverError(f"the position is {km:.0f} km from the last one {at - last.at:.0f} s ago: refused")


# Stands for a driver's live-index state not read yet (None means read and absent).
NOT_READ = object()


def quick_position(
    driver_id: int, lat: object, lon: object, now: datetime, state: object = NOT_READ
) -> tuple[float, float] | None:
    """The fast path for the stream of positions of a driver already on duty and in view: Redis only.

    Drivers' phones report every few seconds, so this path touches no rows: the driver's state comes from
    the index's hint (written whenever the state changes) and ``copy_positions_to_database`` copies the
    positions to the database once a minute for all drivers at once. None when the index cannot vouch for
    the driver (no hint, offline, or just coming into view, when waiting jobs must be offered): the caller
    then takes ``report_position``'s way.
    The hint may be a moment out of date; dispatch checks every candidate against the database anyway.
    ``state``: the driver's ``positions.QuickState`` (or None) if the caller has already read it.
    """
    try:
        point = check_point(lat, lon)
    except PointError as exc:
        raise DriverError(str(exc)) from None
    redis = redis_connection()
    if state is NOT_READ:
        state = positions.quick_state(redis, driver_id)
    at = now.timestamp()
    stale_after = current_app.config["DRIVER_STALE_SECONDS"]
    if state is None or state.status == DriverStatus.OFFLINE or state.last is None or at - state.last.at > stale_after:
        return None
    _refuse_jump(state.last, point, at)
    positions.record(redis, driver_id, point[0], point[1], at, state.searchable)
    return point


def copy_positions_to_database(now: datetime) -> int:
    """Copy the live index's recent positions to the drivers' rows in one statement (for rebuilding the index).

    One bulk UPDATE a minute instead of one per report: the stream of positions never waits for the
    database's write lock.
    """
    redis = redis_connection()
    recent = redis.zrangebyscore(positions.SEEN, now.timestamp() - POSITION_DB_EVERY_S * 2, "+inf", withscores=True)
    if not recent:
        return 0
    ids = [int(member) for member, _ in recent]
    where = redis.geopos(positions.POSITIONS, *ids)
    rows = [
        {"id": driver_id, "last_lat": point[1], "last_lon": point[0], "last_seen_at": datetime.fromtimestamp(at, UTC)}
        for driver_id, (_, at), point in zip(ids, recent, where, strict=True)
        if point is not None
    ]
    existing = set(db.session.scalars(select(Driver.id).where(Driver.id.in_([r["id"] for r in rows]))))
    rows = [row for row in rows if row["id"] in existing]
    if rows:
        db.session.execute(update(Driver), rows)
    return len(rows)


def rebuild_position_index(now: datetime, today: date) -> int:
    """Put every on-duty driver's last known position back into the live index (after Redis lost it)."""
    drivers = db.session.scalars(
        select(Driver).where(Driver.status != DriverStatus.OFFLINE, Driver.last_seen_at.is_not(None))
    ).all()
    rows = [
        (d.id, positions.Sighting(d.last_lat, d.last_lon, d.last_seen_at.timestamp()), searchable(d, now, today))
        for d in drivers
        if d.last_lat is not None and d.last_lon is not None
    ]
    positions.rebuild(redis_connection(), rows)
    return len(rows)
