"""The dispatcher's RQ jobs: offer a waiting job, time an offer out, release pre-bookings, sweep what was missed.

Jobs take ids and are safe to run twice: each acts only if the booking or offer is still in the state
it expects (the engine's conditional updates). A job lost while Redis was down is made good by
``sweep_dispatch``, which ``rq cron`` runs every few seconds.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import delete, select, update

from core.extensions import db
from core.jobs import in_app_context
from core.models import utcnow
from core.queues import queue, redis_connection
from core.signals import commit_and_announce, queue_signal
from core.timewindows import office_date
from dispatch.auto import dispatch_booking
from dispatch.bookings import DispatchConflict
from dispatch.models import Booking, BookingEvent, BookingStatus, DispatchOffer, OfferOutcome, StandQueueEntry
from dispatch.offers import expire_offer
from dispatch.signals import booking_changed, offer_made
from drivers import positions
from drivers.services import rebuild_position_index
from geo.models import Zone

log = logging.getLogger("cabdesk.dispatch")

# How many waiting bookings one sweep offers again, oldest first: a bound on one job's work.
SWEEP_BATCH = 50


@in_app_context
def dispatch_job(booking_id: int) -> int | None:
    """Offer a waiting booking to the best driver now; the offer's id, or None if nobody fits or it moved on."""
    booking = db.session.get(Booking, booking_id)
    if booking is None:
        return None
    offer = dispatch_booking(booking, utcnow())
    commit_and_announce()
    return offer.id if offer else None


@in_app_context
def expire_offer_job(offer_id: int) -> bool:
    """Close an offer whose time ran out (if still unanswered); the booking then goes to the next driver."""
    booking = expire_offer(offer_id, utcnow())
    commit_and_announce()
    return booking is not None


def release_prebookings(now: datetime) -> list[int]:
    """Turn pre-bookings whose dispatch time has come into waiting jobs, each exactly once whoever runs this."""
    lead = timedelta(minutes=current_app.config["PREBOOKING_LEAD_MINUTES"])
    due = db.session.scalars(
        select(Booking.id).where(Booking.status == BookingStatus.SCHEDULED, Booking.pickup_at <= now + lead)
    ).all()
    released = []
    for booking_id in due:
        # The conditional UPDATE is the guard: of two workers releasing at once, one changes the row.
        moved = db.session.execute(
            update(Booking)
            .where(Booking.id == booking_id, Booking.status == BookingStatus.SCHEDULED)
            .values(status=BookingStatus.REQUESTED, version=Booking.version + 1),
            execution_options={"synchronize_session": False},
        ).rowcount
        if moved:
            db.session.add(
                BookingEvent(booking_id=booking_id, from_status="scheduled", to_status="requested", reason="due")
            )
            queue_signal(booking_changed, booking_id=booking_id, event=BookingStatus.REQUESTED)
            released.append(booking_id)
    return released


@in_app_context
def sweep_dispatch() -> dict:
    """Expire overdue offers, release due pre-bookings, tidy the stand queues, offer waiting jobs again.

    Each item is its own transaction, so one that lost a race (a conflict) does not hold up the rest.
    """
    now = utcnow()
    rebuilt = _restore_position_index(now)
    overdue = db.session.scalars(
        select(DispatchOffer.id).where(DispatchOffer.outcome == OfferOutcome.PENDING, DispatchOffer.expires_at <= now)
    ).all()
    expired = sum(_each(lambda offer_id: expire_offer(offer_id, utcnow()) is not None, overdue))
    released = release_prebookings(now)
    commit_and_announce()
    left_queues = _tidy_stand_queues(now)
    commit_and_announce()
    waiting = db.session.scalars(
        select(Booking.id)
        .where(Booking.status == BookingStatus.REQUESTED, Booking.auto_dispatch.is_(True))
        .order_by(Booking.pickup_at, Booking.id)
        .limit(SWEEP_BATCH)
    ).all()
    offered = sum(_each(lambda booking_id: dispatch_booking(db.session.get(Booking, booking_id), utcnow()), waiting))
    return {
        "expired": expired,
        "released": len(released),
        "offered": offered,
        "restored": rebuilt,
        "left_queues": left_queues,
    }


def _each(action, ids) -> list[bool]:
    """Run ``action`` for each id in a transaction of its own; a conflict rolls back that one only."""
    results = []
    for item in ids:
        try:
            results.append(bool(action(item)))
            commit_and_announce()
        except DispatchConflict as exc:
            db.session.rollback()
            log.info("sweep: %s", exc)
            results.append(False)
    return results


def _tidy_stand_queues(now: datetime) -> int:
    """Take out of the stand queues drivers gone silent and the queues of zones switched off."""
    stale_before = now.timestamp() - current_app.config["DRIVER_STALE_SECONDS"]
    silent = set(positions.stale_drivers(redis_connection(), stale_before))
    entries = db.session.execute(select(StandQueueEntry.id, StandQueueEntry.driver_id, Zone.active).join(Zone)).all()
    gone = [entry_id for entry_id, driver_id, active in entries if driver_id in silent or not active]
    if gone:
        db.session.execute(delete(StandQueueEntry).where(StandQueueEntry.id.in_(gone)))
    return len(gone)


def _restore_position_index(now: datetime) -> int:
    """After Redis lost the live index (a restart without persistence), put back the last known positions."""
    if redis_connection().exists(positions.POSITIONS):
        return 0
    return rebuild_position_index(now, office_date(now, current_app.config["OFFICE_TIMEZONE"]))


def _enqueue(what: str, call) -> None:
    try:
        call()
    except RedisError as exc:
        # The sweep will catch it: the database still says what is due.
        log.warning("could not queue %s (%s); the next sweep will", what, exc.__class__.__name__)


@booking_changed.connect
def _dispatch_when_waiting(_app, booking_id: int, event: str, **_extra) -> None:
    if event == BookingStatus.REQUESTED:
        _enqueue(f"dispatch of booking {booking_id}", lambda: queue().enqueue(dispatch_job, booking_id))


@offer_made.connect
def _time_offer_out(_app, offer_id: int, expires_at: str, **_extra) -> None:
    moment = datetime.fromisoformat(expires_at)
    _enqueue(f"expiry of offer {offer_id}", lambda: queue().enqueue_at(moment, expire_offer_job, offer_id))
