"""The trip itself: the driver arrives, the passenger gets in, the trip ends; or it is cancelled or a no-show."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from core.extensions import db
from crm.activity import count_trip
from crm.models import Subscriber
from dispatch.bookings import DispatchConflict, booking_language, move
from dispatch.models import Booking, BookingStatus
from dispatch.offers import release_driver, withdraw_offer
from drivers.models import Driver
from earnings.commission import post_trip
from fares.models import FareRule
from fares.services import FareLine, breakdown, cancellation_fee, waiting_charge
from feedback.requests import plan_feedback
from notifications.passenger import tell_passenger

# What the driver may report next, from each state.
PROGRESS = {
    BookingStatus.ARRIVED: (BookingStatus.ASSIGNED,),
    BookingStatus.ON_TRIP: (BookingStatus.ARRIVED,),
    BookingStatus.COMPLETED: (BookingStatus.ON_TRIP,),
}
CANCELLABLE = (
    BookingStatus.REQUESTED,
    BookingStatus.SCHEDULED,
    BookingStatus.OFFERED,
    BookingStatus.ASSIGNED,
    BookingStatus.ARRIVED,
)


def report_progress(booking: Booking, status: str, now: datetime, driver_id: int | None, user_id=None) -> Booking:
    """Move a trip on (arrived, on_trip, completed) as the driver reports it; a wrong step is a conflict."""
    if status not in PROGRESS:
        raise ValueError(f"status must be one of: {', '.join(PROGRESS)}")
    if driver_id is not None and booking.driver_id != driver_id:
        raise DispatchConflict("this booking is not yours")
    values: dict = {}
    if status == BookingStatus.ARRIVED:
        values["arrived_at"] = now
    elif status == BookingStatus.ON_TRIP:
        values["started_at"] = now
        if booking.arrived_at is not None:
            values["waiting_min"] = round(max((now - booking.arrived_at).total_seconds(), 0) / 60, 1)
    else:
        values["completed_at"] = now
        values.update(_final_fare(booking))
    move(booking, PROGRESS[status], status, user_id=user_id, event_driver_id=booking.driver_id, **values)
    if status == BookingStatus.ARRIVED:
        tell_passenger(booking, "driver_arrived")
    elif status == BookingStatus.COMPLETED:
        if booking.subscriber_id is not None:
            # In the completion's own transaction: the reports' monthly roll-up never misses or repeats a trip.
            count_trip(booking.subscriber_id, booking.completed_at, booking.fare)
        release_driver(db.session.get(Driver, booking.driver_id), now)
        tell_passenger(booking, "trip_receipt")
        post_trip(booking, now)
        plan_feedback(booking, now)
    return booking


def _final_fare(booking: Booking) -> dict:
    """The quoted fare plus the waiting charge of the quoted rule's version; the breakdown gains its line."""
    rule = db.session.get(FareRule, booking.fare_rule_id) if booking.fare_rule_id else None
    if rule is None or booking.fare is None:
        return {}
    extra = waiting_charge(rule, booking.waiting_min)
    if not extra:
        return {}
    subscriber = db.session.get(Subscriber, booking.subscriber_id) if booking.subscriber_id else None
    line = breakdown([FareLine("waiting", extra, booking.waiting_min)], booking_language(subscriber))[0]
    return {"fare": booking.fare + extra, "fare_breakdown": [*booking.fare_breakdown, line]}


def cancel_booking(booking: Booking, reason: str, now: datetime, user_id: int | None) -> Booking:
    """Cancel a booking with a reason; after the driver has arrived the fare rule's cancellation fee applies."""
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("a cancellation needs a reason")
    driver_id = booking.driver_id
    fee = 0
    if booking.status == BookingStatus.ARRIVED and booking.fare_rule_id:
        fee = cancellation_fee(db.session.get(FareRule, booking.fare_rule_id))
    if booking.status == BookingStatus.OFFERED:
        withdraw_offer(booking, now)
    move(
        booking,
        CANCELLABLE,
        BookingStatus.CANCELLED,
        driver_id=driver_id,
        reason=reason,
        user_id=user_id,
        event_driver_id=driver_id,
        cancel_reason=reason[:500],
        cancellation_fee=fee,
    )
    if driver_id is not None:
        release_driver(db.session.get(Driver, driver_id), now)
    return booking


def mark_no_show(booking: Booking, now: datetime, user_id: int | None, driver_id: int | None = None) -> Booking:
    """The passenger never came: only once the driver has arrived; counted on the subscriber, not a cancellation."""
    if driver_id is not None and booking.driver_id != driver_id:
        raise DispatchConflict("this booking is not yours")
    move(booking, (BookingStatus.ARRIVED,), BookingStatus.NO_SHOW, user_id=user_id, event_driver_id=booking.driver_id)
    if booking.subscriber_id is not None:
        db.session.execute(
            update(Subscriber)
            .where(Subscriber.id == booking.subscriber_id)
            .values(no_show_count=Subscriber.no_show_count + 1),
            execution_options={"synchronize_session": False},
        )
    release_driver(db.session.get(Driver, booking.driver_id), now)
    return booking
