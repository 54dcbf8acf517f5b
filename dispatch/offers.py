"""Offers to drivers and assignments: one driver at a time, with a deadline, never two drivers on one job.

Two guards hold together: every move of the booking is a conditional UPDATE (``bookings.move``), and
the database refuses a second live job for a driver (the partial unique index ``uq_bookings_driver_live``)
and a second pending offer for a booking (``uq_dispatch_offers_pending_booking``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from core.database import savepoint
from core.extensions import db
from core.signals import queue_signal
from core.timewindows import office_date
from dispatch import stands
from dispatch.bookings import DispatchConflict, move
from dispatch.models import DRIVER_HELD_STATUSES, Booking, BookingStatus, DispatchOffer, OfferOutcome
from dispatch.signals import driver_changed, offer_closed, offer_made
from drivers.models import Driver, DriverStatus
from drivers.services import dispatch_block_reason, set_status
from notifications.passenger import tell_passenger


def offer_job(
    booking: Booking, driver: Driver, now: datetime, method: str, eta_min: float | None = None, by_user_id=None
) -> DispatchOffer:
    """Offer a waiting booking to one driver until the office's timeout; ``DispatchConflict`` if either is taken.

    The booking's move and the offer's row succeed or fail together: no booking is left offered without
    the offer that will expire it.
    """
    offer = DispatchOffer(
        booking_id=booking.id,
        driver_id=driver.id,
        offered_at=now,
        expires_at=now + timedelta(seconds=current_app.config["OFFER_TIMEOUT"]),
        method=method,
        eta_min=eta_min,
        offered_by_id=by_user_id,
    )
    try:
        with savepoint():
            move(
                booking,
                (BookingStatus.REQUESTED,),
                BookingStatus.OFFERED,
                driver_id=driver.id,
                user_id=by_user_id,
                event_driver_id=driver.id,
                data={"method": method},
                offer_tries=Booking.offer_tries + 1,
            )
            db.session.add(offer)
            db.session.flush()
    except IntegrityError:
        raise DispatchConflict(f"booking {booking.id} already has an offer out") from None
    queue_signal(
        offer_made,
        offer_id=offer.id,
        driver_id=driver.id,
        booking_id=booking.id,
        expires_at=offer.expires_at.isoformat(),
    )
    return offer


def _close_offer(offer: DispatchOffer, outcome: str, now: datetime, must_be_due: bool = False) -> bool:
    condition = [DispatchOffer.id == offer.id, DispatchOffer.outcome == OfferOutcome.PENDING]
    if must_be_due:
        condition.append(DispatchOffer.expires_at <= now)
    closed = db.session.execute(
        update(DispatchOffer).where(*condition).values(outcome=outcome, answered_at=now),
        execution_options={"synchronize_session": False},
    ).rowcount
    db.session.refresh(offer)
    return closed == 1


def pending_offer_for_driver(driver_id: int) -> DispatchOffer | None:
    """The offer a driver has to answer now, if any."""
    return db.session.scalar(
        select(DispatchOffer).where(DispatchOffer.driver_id == driver_id, DispatchOffer.outcome == OfferOutcome.PENDING)
    )


def accept_offer(offer: DispatchOffer, driver: Driver, now: datetime) -> Booking:
    """The driver takes the job: the booking is theirs and they are busy. Too late or not theirs: a conflict."""
    if offer.driver_id != driver.id:
        raise DispatchConflict("this offer went to another driver")
    if offer.outcome != OfferOutcome.PENDING:
        raise DispatchConflict(f"this offer is {offer.outcome} already")
    if offer.expires_at <= now:
        raise DispatchConflict("this offer has expired")
    # The driver's row first, as every path that changes a driver and a booking does (no deadlock between them).
    _take_on(driver, now, offer.method)
    condition_ok = db.session.execute(
        update(DispatchOffer)
        .where(
            DispatchOffer.id == offer.id,
            DispatchOffer.outcome == OfferOutcome.PENDING,
            DispatchOffer.expires_at > now,
        )
        .values(outcome=OfferOutcome.ACCEPTED, answered_at=now),
        execution_options={"synchronize_session": False},
    ).rowcount
    db.session.refresh(offer)
    if condition_ok != 1:
        raise DispatchConflict(f"this offer is {offer.outcome} already")
    booking = db.session.get(Booking, offer.booking_id)
    move(
        booking,
        (BookingStatus.OFFERED,),
        BookingStatus.ASSIGNED,
        event_driver_id=driver.id,
        assigned_at=now,
        vehicle_id=_vehicle_id(driver),
    )
    tell_passenger(booking, "driver_assigned", offer.eta_min)
    return booking


def decline_offer(offer: DispatchOffer, driver: Driver, now: datetime, reason: str = "") -> Booking:
    """The driver says no: the booking waits for the next driver."""
    if offer.driver_id != driver.id:
        raise DispatchConflict("this offer went to another driver")
    if not _close_offer(offer, OfferOutcome.DECLINED, now):
        raise DispatchConflict(f"this offer is {offer.outcome} already")
    return _back_to_waiting(offer, driver, OfferOutcome.DECLINED, now, reason or "declined")


def expire_offer(offer_id: int, now: datetime) -> Booking | None:
    """Close an offer whose time ran out; the booking waits for the next driver. Does nothing if answered."""
    offer = db.session.get(DispatchOffer, offer_id)
    if offer is None or not _close_offer(offer, OfferOutcome.EXPIRED, now, must_be_due=True):
        return None
    return _back_to_waiting(offer, db.session.get(Driver, offer.driver_id), OfferOutcome.EXPIRED, now, "no answer")


def _back_to_waiting(offer: DispatchOffer, driver: Driver, outcome: str, now: datetime, reason: str) -> Booking:
    booking = db.session.get(Booking, offer.booking_id)
    move(
        booking,
        (BookingStatus.OFFERED,),
        BookingStatus.REQUESTED,
        driver_id=None,
        reason=reason,
        event_driver_id=driver.id,
        data={"offer_id": offer.id, "outcome": outcome},
    )
    if current_app.config["DECLINE_LOSES_QUEUE_PLACE"]:
        stands.to_back_of_queue(driver.id, now)
    queue_signal(offer_closed, offer_id=offer.id, driver_id=driver.id, booking_id=booking.id, outcome=outcome)
    return booking


def withdraw_offer(booking: Booking, now: datetime) -> DispatchOffer | None:
    """Take back the booking's pending offer (a dispatcher reassigned or the customer cancelled)."""
    offer = db.session.scalar(
        select(DispatchOffer).where(
            DispatchOffer.booking_id == booking.id, DispatchOffer.outcome == OfferOutcome.PENDING
        )
    )
    if offer is None or not _close_offer(offer, OfferOutcome.WITHDRAWN, now):
        return None
    queue_signal(
        offer_closed,
        offer_id=offer.id,
        driver_id=offer.driver_id,
        booking_id=booking.id,
        outcome=OfferOutcome.WITHDRAWN,
    )
    return offer


def assign_driver(booking: Booking, driver: Driver, now: datetime, by_user_id: int | None, reason: str = "") -> Booking:
    """A dispatcher gives the job to a driver directly (assign, or reassign from another driver)."""
    blocked = dispatch_block_reason(driver, now, _today(now))
    if blocked:
        raise DispatchConflict(blocked)
    if booking.status == BookingStatus.ASSIGNED and booking.driver_id == driver.id:
        raise DispatchConflict(f"booking {booking.id} is already with {driver.call_sign}")
    if driver.status != DriverStatus.AVAILABLE:
        raise DispatchConflict(f"{driver.call_sign} is {driver.status}")
    previous_driver_id = booking.driver_id if booking.status != BookingStatus.OFFERED else None
    # The driver's row first, as every path that changes a driver and a booking does (no deadlock between them).
    _take_on(driver, now, "manual")
    if booking.status == BookingStatus.OFFERED:
        withdraw_offer(booking, now)
    allowed = (BookingStatus.REQUESTED, BookingStatus.SCHEDULED, BookingStatus.OFFERED, BookingStatus.ASSIGNED)
    move(
        booking,
        allowed,
        BookingStatus.ASSIGNED,
        driver_id=driver.id,
        user_id=by_user_id,
        reason=reason,
        event_driver_id=driver.id,
        data={"manual": True, "previous_driver_id": previous_driver_id},
        assigned_at=now,
        vehicle_id=_vehicle_id(driver),
        auto_dispatch=False,
    )
    if previous_driver_id:
        release_driver(db.session.get(Driver, previous_driver_id), now)
    tell_passenger(booking, "driver_assigned")
    return booking


def _vehicle_id(driver: Driver) -> int | None:
    return driver.vehicles[0].id if driver.vehicles else None


def _today(now: datetime):
    return office_date(now, current_app.config["OFFICE_TIMEZONE"])


def _take_on(driver: Driver, now: datetime, method: str) -> None:
    """The driver is on a job now: busy, and out of the stand queue they were dispatched from."""
    set_status(driver, DriverStatus.BUSY, now, _today(now))
    stands.leave_queue(driver.id)
    queue_signal(driver_changed, driver_id=driver.id, status=driver.status)


def release_driver(driver: Driver, now: datetime) -> None:
    """A job ended or was taken away: the driver is available again (if they still hold no live job)."""
    holding = db.session.scalar(
        select(func.count(Booking.id)).where(Booking.driver_id == driver.id, Booking.status.in_(DRIVER_HELD_STATUSES))
    )
    if holding or driver.status != DriverStatus.BUSY:
        return
    set_status(driver, DriverStatus.AVAILABLE, now, _today(now))
    queue_signal(driver_changed, driver_id=driver.id, status=driver.status)


def offer_counts(driver_id: int) -> dict[str, int]:
    """How a driver answered their offers: counts by outcome (accepted, declined, expired, …)."""
    return dict(
        db.session.execute(
            select(DispatchOffer.outcome, func.count())
            .where(DispatchOffer.driver_id == driver_id)
            .group_by(DispatchOffer.outcome)
        ).all()
    )
