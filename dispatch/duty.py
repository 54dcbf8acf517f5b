"""A driver's own states as they report them: on duty, on a break, a street job, checking in at a stand."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from core.extensions import db
from core.queues import redis_connection
from core.signals import queue_signal
from core.timewindows import office_date
from dispatch import stands
from dispatch.auto import offer_waiting_job_to
from dispatch.bookings import DispatchConflict
from dispatch.models import Booking, BookingStatus
from dispatch.offers import decline_offer, pending_offer_for_driver
from dispatch.signals import driver_changed
from drivers import positions
from drivers.models import Driver, DriverStatus
from drivers.services import DriverError, dispatch_block_reason, report_position, set_status
from geo.models import Zone
from geo.zones import zone_for_point

ON_A_JOB = (BookingStatus.ASSIGNED, BookingStatus.ARRIVED, BookingStatus.ON_TRIP)


def job_in_hand(driver_id: int) -> Booking | None:
    """The booking a driver is carrying out (assigned, arrived or on trip), if any."""
    return db.session.scalar(select(Booking).where(Booking.driver_id == driver_id, Booking.status.in_(ON_A_JOB)))


# A shift longer than this is a typing mistake, not a shift.
MAX_SHIFT = timedelta(hours=16)


def change_status(driver: Driver, status: str, now: datetime, shift_ends_at: datetime | None = None) -> Driver:
    """The driver's own move: available, break, offline, or busy (a street hail). Refused while on a booking.

    Going available may say when the shift ends; past it the driver gets no more offers.
    """
    if status not in {s.value for s in DriverStatus}:
        raise DriverError(f"status must be one of: {', '.join(s.value for s in DriverStatus)}")
    if shift_ends_at is not None:
        if status != DriverStatus.AVAILABLE:
            raise DriverError("a shift's end is given when going available")
        if not now < shift_ends_at <= now + MAX_SHIFT:
            raise DriverError("the shift must end in the next 16 hours")
        driver.shift_ends_at = shift_ends_at
    elif status == DriverStatus.AVAILABLE and driver.shift_ends_at is not None and driver.shift_ends_at <= now:
        driver.shift_ends_at = None  # a new shift, open-ended until the driver says otherwise
    job = job_in_hand(driver.id)
    if job is not None and status != DriverStatus.BUSY:
        raise DispatchConflict(f"finish booking {job.id} first: it is {job.status}")
    today = office_date(now, current_app.config["OFFICE_TIMEZONE"])
    if status == DriverStatus.AVAILABLE:
        blocked = dispatch_block_reason(driver, now, today)
        if blocked:
            raise DispatchConflict(blocked)
    offer = pending_offer_for_driver(driver.id)
    if offer is not None and status != DriverStatus.AVAILABLE:
        decline_offer(offer, driver, now, reason=f"went {status}")
    set_status(driver, status, now, today)
    street_job = status == DriverStatus.BUSY and job is None
    if status in (DriverStatus.OFFLINE, DriverStatus.BREAK) or (
        street_job and not current_app.config["KEEP_QUEUE_PLACE_AFTER_STREET_JOB"]
    ):
        stands.leave_queue(driver.id)
    queue_signal(driver_changed, driver_id=driver.id, status=status)
    if status == DriverStatus.AVAILABLE:
        offer_waiting_job_to(driver, now)
    return driver


def position_report(driver: Driver, lat: object, lon: object, now: datetime) -> tuple[float, float]:
    """A position from the driver's phone; a driver who just came into view is offered a waiting job at once."""
    point = report_position(driver, lat, lon, now, office_date(now, current_app.config["OFFICE_TIMEZONE"]))
    if driver.came_into_view and driver.status == DriverStatus.AVAILABLE:
        offer_waiting_job_to(driver, now)
    return point


def check_in(driver: Driver, now: datetime, zone_id: int | None = None, by_dispatcher: bool = False) -> tuple[int, int]:
    """Join the stand queue of the zone the driver is in (or, for a dispatcher, any active zone): (zone, place).

    A driver's own check-in must be in the zone they are standing in: a queue place is worth a job, and a
    driver across town must not take the airport's next one.
    """
    if driver.status != DriverStatus.AVAILABLE:
        raise DispatchConflict("only an available driver can join a stand queue")
    sighting = positions.last_sighting(redis_connection(), driver.id)
    here = zone_for_point(sighting.lat, sighting.lon) if sighting else None
    if zone_id is None or not by_dispatcher:
        if here is None:
            raise DriverError("no position in any zone yet: send your position first")
        if zone_id is not None and zone_id != here.id:
            raise DriverError("a driver can join only the queue of the zone they are in")
        zone_id = here.id
    else:
        zone = db.session.get(Zone, zone_id)
        if zone is None or not zone.active:
            raise DriverError("no such active zone")
    stands.join_queue(driver.id, zone_id, now)
    queue_signal(driver_changed, driver_id=driver.id, status=driver.status)
    return stands.place_in_queue(driver.id)


def check_out(driver: Driver) -> None:
    """Leave the stand queue."""
    stands.leave_queue(driver.id)
    queue_signal(driver_changed, driver_id=driver.id, status=driver.status)
