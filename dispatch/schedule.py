"""Pre-bookings on the board: moving one to another pickup time, checked as a new booking is."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app

from core.extensions import db
from crm.models import Subscriber
from dispatch.bookings import BookingError, DispatchConflict, booking_language, check_pickup_time, move
from dispatch.models import Booking, BookingStatus
from fares.services import QuoteError, breakdown, quote_trip


def parse_pickup_time(raw: object, office_timezone: str) -> datetime:
    """An ISO 8601 moment as a form or the board sends it; one without a zone is read on the office clock."""
    if not isinstance(raw, str) or not raw.strip():
        raise BookingError("give the new pickup time", "pickup_at")
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise BookingError("the pickup time must be an ISO 8601 date and time", "pickup_at") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(office_timezone))
    return moment


def reschedule(booking: Booking, pickup_at: datetime, now: datetime, user_id: int | None) -> Booking:
    """Move a pre-booking to a new pickup time: the same time checks (and fare quote) as a new booking gets.

    The fare is quoted again, since time-window surcharges depend on the hour. A new time inside the
    pre-booking lead time releases the job to dispatch at once, as a booking taken for then would be.
    Raises ``BookingError`` for a bad time and ``DispatchConflict`` once the booking is no longer scheduled.
    """
    if booking.status != BookingStatus.SCHEDULED:
        raise DispatchConflict(f"booking {booking.id} is {booking.status}: only a pre-booking's time can change")
    if pickup_at.tzinfo is None:
        raise BookingError("the pickup time needs a time zone", "pickup_at")
    values: dict = {"pickup_at": pickup_at}
    data: dict = {"pickup_at": {"from": booking.pickup_at.isoformat(), "to": pickup_at.isoformat()}}
    if booking.dropoff_lat is not None and booking.dropoff_lon is not None:
        subscriber = db.session.get(Subscriber, booking.subscriber_id) if booking.subscriber_id else None
        try:
            quote = quote_trip(
                (booking.pickup_lat, booking.pickup_lon),
                (booking.dropoff_lat, booking.dropoff_lon),
                booking.vehicle_class,
                pickup_at,
                now,
                current_app.config,
                booking.subscriber_id,
            )
        except QuoteError as exc:
            raise BookingError(str(exc), "pickup_at" if "time" in str(exc) else None) from None
        values.update(
            fare=quote.fare,
            currency=quote.currency,
            fare_rule_id=quote.fare_rule_id,
            distance_km=quote.distance_km,
            duration_min=quote.duration_min,
            fare_breakdown=breakdown(quote.lines, booking_language(subscriber)),
        )
        data["fare"] = {"from": booking.fare, "to": quote.fare}
    else:
        check_pickup_time(pickup_at, now)
    lead = timedelta(minutes=current_app.config["PREBOOKING_LEAD_MINUTES"])
    to = BookingStatus.SCHEDULED if pickup_at - now > lead else BookingStatus.REQUESTED
    move(booking, (BookingStatus.SCHEDULED,), to, user_id=user_id, reason="pickup time changed", data=data, **values)
    return booking
