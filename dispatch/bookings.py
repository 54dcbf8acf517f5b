"""Bookings from the call to the drop-off: taking them, moving them along, cancelling them.

Every change of state is one conditional UPDATE (``move``): it names the states the booking may be
in, so two people (or a person and the auto-dispatcher) acting on the same booking at once cannot
both win; the loser gets a ``DispatchConflict``. Each change also leaves a ``BookingEvent``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from core.database import savepoint
from core.errors import Conflict
from core.extensions import db
from core.signals import queue_signal
from crm.models import Address, Subscriber
from dispatch.models import Booking, BookingEvent, BookingStatus
from dispatch.signals import booking_changed
from fares.services import MAX_DAYS_AHEAD, PAST_GRACE_MINUTES, QuoteError, breakdown, quote_trip
from geo.points import PointError, check_in_service_area
from geo.zones import zone_for_point, zone_index


class BookingError(ValueError):
    """A booking request that cannot be carried out (bad input), with a message for people."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class DispatchConflict(Conflict):
    """An action that lost a race or that the booking's state no longer allows (HTTP 409)."""


@dataclass(frozen=True)
class Stop:
    """A pickup or dropoff as asked for: a saved address, or a point with the words the caller used."""

    lat: object = None
    lon: object = None
    text: str = ""
    address_id: int | None = None


def _resolve(stop: Stop, what: str, subscriber_id: int | None) -> tuple[float, float, str, int | None]:
    if stop.address_id is not None:
        address = db.session.get(Address, stop.address_id)
        if address is None or (subscriber_id is not None and address.subscriber_id != subscriber_id):
            raise BookingError(f"{what}: no such address of this subscriber", what)
        return address.lat, address.lon, address.text, address.id
    return stop.lat, stop.lon, (stop.text or "").strip()[:500], None


def create_booking(
    *,
    phone: str,
    subscriber: Subscriber | None,
    pickup: Stop,
    dropoff: Stop | None,
    pickup_at: datetime | None,
    vehicle_class: str,
    notes: str,
    now: datetime,
    created_by_id: int | None = None,
    call_id: int | None = None,
) -> Booking:
    """Take a booking: checks the places and the time, quotes the fare, and files it as requested or scheduled."""
    subscriber_id = subscriber.id if subscriber else None
    p_lat, p_lon, p_text, p_address = _resolve(pickup, "pickup", subscriber_id)
    try:
        p_lat, p_lon = check_in_service_area(p_lat, p_lon)
    except PointError as exc:
        raise BookingError(f"pickup: {exc}", "pickup") from None
    pickup_zone = zone_for_point(p_lat, p_lon)
    if pickup_zone is None and zone_index().union_km is not None:
        raise BookingError("pickup: the point is in none of the office's zones", "pickup")
    pickup_at = pickup_at or now
    booking = Booking(
        status=BookingStatus.REQUESTED,
        subscriber_id=subscriber_id,
        phone=phone,
        call_id=call_id,
        created_by_id=created_by_id,
        pickup_text=p_text or f"{p_lat:.5f}, {p_lon:.5f}",
        pickup_lat=p_lat,
        pickup_lon=p_lon,
        pickup_address_id=p_address,
        pickup_zone_id=pickup_zone.id if pickup_zone else None,
        pickup_at=pickup_at,
        vehicle_class=vehicle_class,
        notes=(notes or "").strip()[:2000],
        currency=current_app.config["CURRENCY"],
    )
    if dropoff is not None:
        d_lat, d_lon, d_text, d_address = _resolve(dropoff, "dropoff", subscriber_id)
        try:
            quote = quote_trip(
                (p_lat, p_lon), (d_lat, d_lon), vehicle_class, pickup_at, now, current_app.config, subscriber_id
            )
        except QuoteError as exc:
            raise BookingError(str(exc), _field_of(str(exc))) from None
        dropoff_zone = zone_for_point(float(d_lat), float(d_lon))
        booking.dropoff_text = d_text or f"{float(d_lat):.5f}, {float(d_lon):.5f}"
        booking.dropoff_lat, booking.dropoff_lon = float(d_lat), float(d_lon)
        booking.dropoff_address_id = d_address
        booking.dropoff_zone_id = dropoff_zone.id if dropoff_zone else None
        booking.fare, booking.currency, booking.fare_rule_id = quote.fare, quote.currency, quote.fare_rule_id
        booking.distance_km, booking.duration_min = quote.distance_km, quote.duration_min
        booking.fare_breakdown = breakdown(quote.lines, booking_language(subscriber))
    else:
        check_pickup_time(pickup_at, now)
    if pickup_at - now > timedelta(minutes=current_app.config["PREBOOKING_LEAD_MINUTES"]):
        booking.status = BookingStatus.SCHEDULED
    db.session.add(booking)
    db.session.flush()
    _log(booking, None, booking.status, user_id=created_by_id)
    queue_signal(booking_changed, booking_id=booking.id, event=booking.status)
    return booking


def _field_of(quote_message: str) -> str | None:
    """Which field a quote's refusal is about, read from its message (the fare engine names the place first)."""
    if quote_message.startswith("pickup:"):
        return "pickup"
    if "time" in quote_message:
        return "pickup_at"
    if "dropoff" in quote_message:
        return "dropoff"
    return "vehicle_class" if "vehicle class" in quote_message else None


def check_pickup_time(pickup_at: datetime, now: datetime) -> None:
    """Refuse a pickup time already past (beyond a few minutes' grace) or too far ahead."""
    if (now - pickup_at).total_seconds() > PAST_GRACE_MINUTES * 60:
        raise BookingError("the pickup time has passed", "pickup_at")
    if (pickup_at - now).days > MAX_DAYS_AHEAD:
        raise BookingError(f"the pickup time is more than {MAX_DAYS_AHEAD} days ahead", "pickup_at")


def booking_language(subscriber: Subscriber | None) -> str:
    """The language a booking's breakdown and texts are written in: the subscriber's, else the office's."""
    return (
        subscriber.language
        if subscriber and subscriber.language in ("fa", "en")
        else current_app.config["DEFAULT_LOCALE"]
    )


def _log(booking: Booking, before: str | None, after: str, **fields) -> None:
    db.session.add(BookingEvent(booking_id=booking.id, from_status=before, to_status=after, **fields))


def move(
    booking: Booking,
    allowed_from: tuple[str, ...],
    to: str,
    *,
    driver_id: int | bool | None = False,
    reason: str = "",
    user_id: int | None = None,
    event_driver_id: int | None = None,
    data: dict | None = None,
    **values,
) -> None:
    """Move a booking to ``to`` if it is still in one of ``allowed_from`` (and, given, with that driver).

    ``driver_id=False`` leaves the driver as it is; ``None`` clears it. Raises ``DispatchConflict`` when
    the booking moved meanwhile or the driver already holds another live job.
    """
    before = booking.status
    # The version read with the booking: whatever changed it since (another dispatcher, the auto-dispatcher,
    # the driver, a new driver) makes this move a conflict instead of silently overriding that change.
    condition = [Booking.id == booking.id, Booking.status.in_(allowed_from), Booking.version == booking.version]
    if driver_id is not False:
        values["driver_id"] = driver_id
    statement = update(Booking).where(*condition).values(status=to, version=Booking.version + 1, **values)
    try:
        with savepoint():
            moved = db.session.execute(statement, execution_options={"synchronize_session": False}).rowcount
    except IntegrityError:
        raise DispatchConflict("that driver already has a live job") from None
    if moved != 1:
        seen = booking.status
        db.session.refresh(booking)
        if booking.status == seen and booking.status in allowed_from:
            raise DispatchConflict(f"booking {booking.id} was changed by someone else meanwhile: look again")
        raise DispatchConflict(f"booking {booking.id} is {booking.status} now: it cannot become {to}")
    db.session.refresh(booking)
    _log(booking, before, to, reason=reason[:500], user_id=user_id, driver_id=event_driver_id, data=data or {})
    queue_signal(booking_changed, booking_id=booking.id, event=to)


def get_booking(booking_id: int) -> Booking | None:
    """A booking by its number."""
    return db.session.get(Booking, booking_id)


def waiting_bookings(limit: int = 200) -> list[Booking]:
    """Bookings no driver has yet, oldest pickup first (the dispatcher's unassigned list)."""
    return list(
        db.session.scalars(
            select(Booking)
            .where(Booking.status.in_((BookingStatus.REQUESTED, BookingStatus.OFFERED)))
            .order_by(Booking.pickup_at, Booking.id)
            .limit(limit)
        )
    )
