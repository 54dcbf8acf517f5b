"""The auto-dispatcher: which driver is offered a waiting job, by the office's rules.

``queue_first``: the pickup zone's stand queue in order (up to ``QUEUE_TRIES`` drivers of it for one
job), then the nearest. ``nearest``: the nearest by estimated arrival. Never offered: drivers on
break, busy, offline, past their shift or with expired papers, drivers not heard from for
``DRIVER_STALE_SECONDS``, drivers with the wrong class of car, and drivers who already let this job go.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from geopy.distance import geodesic
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from core.extensions import db
from core.queues import redis_connection
from core.timewindows import office_date
from dispatch import stands
from dispatch.bookings import DispatchConflict
from dispatch.models import DRIVER_HELD_STATUSES, Booking, BookingStatus, DispatchOffer, OfferOutcome
from dispatch.offers import offer_job
from drivers import positions
from drivers.models import Driver
from drivers.services import searchable, vehicle_of
from geo.routing import ROAD_FACTOR, SPEED_BY_HOUR, road_route

# How many of the nearest drivers are looked at first, and then further out until one fits (the right car,
# not tried yet).
NEAREST_CANDIDATES = 20
WIDER_SEARCHES = (100, 500)


@dataclass(frozen=True)
class Candidate:
    """A driver the job could go to, how they were found, and their estimated arrival in minutes."""

    driver: Driver
    method: str
    eta_min: float | None


def _eta_min(km: float, now: datetime) -> float:
    """Minutes to cover ``km`` of straight line by road at the hour's speed: the arrival the rules compare."""
    hour = now.astimezone(ZoneInfo(current_app.config["OFFICE_TIMEZONE"])).hour
    return round(km * ROAD_FACTOR / SPEED_BY_HOUR[hour] * 60, 1)


def _where_is(driver: Driver) -> tuple[float, float] | None:
    sighting = positions.last_sighting(redis_connection(), driver.id)
    if sighting is not None:
        return sighting.lat, sighting.lon
    if driver.last_lat is not None and driver.last_lon is not None:
        return driver.last_lat, driver.last_lon
    return None


def _with_cars(driver_ids: list[int]):
    """The drivers with their cars in one query: eligibility looks at the car of every candidate."""
    return select(Driver).where(Driver.id.in_(driver_ids)).options(selectinload(Driver.vehicles))


def _already_tried(booking_id: int) -> set[int]:
    return set(
        db.session.scalars(
            select(DispatchOffer.driver_id).where(
                DispatchOffer.booking_id == booking_id, DispatchOffer.outcome != OfferOutcome.WITHDRAWN
            )
        )
    )


def _holding(driver_ids: list[int]) -> set[int]:
    if not driver_ids:
        return set()
    return set(
        db.session.scalars(
            select(Booking.driver_id).where(Booking.driver_id.in_(driver_ids), Booking.status.in_(DRIVER_HELD_STATUSES))
        )
    )


def _queue_tries(booking_id: int) -> int:
    return len(
        db.session.scalars(
            select(DispatchOffer.id).where(DispatchOffer.booking_id == booking_id, DispatchOffer.method == "queue")
        ).all()
    )


def candidates(booking: Booking, now: datetime) -> list[Candidate]:
    """The drivers this job may be offered to, best first, by the office's dispatch mode."""
    config = current_app.config
    today = office_date(now, config["OFFICE_TIMEZONE"])
    redis = redis_connection()
    seen_since = now.timestamp() - config["DRIVER_STALE_SECONDS"]
    tried = _already_tried(booking.id)

    def fit(driver: Driver | None) -> bool:
        vehicle = vehicle_of(driver) if driver else None
        return bool(
            driver
            and driver.id not in tried
            and searchable(driver, now, today)
            and vehicle is not None
            and vehicle.vehicle_class == booking.vehicle_class
        )

    found: list[Candidate] = []
    if config["DISPATCH_MODE"] == "queue_first" and booking.pickup_zone_id is not None:
        queue = [e.driver_id for e in stands.queue_of_zone(booking.pickup_zone_id)]
        fresh = positions.seen_times(redis, queue)
        drivers = {d.id: d for d in db.session.scalars(_with_cars(queue))}
        busy = _holding(queue)
        # The tries are spent on drivers who can take the job: a silent or busy head of the queue costs none.
        ready = [
            Candidate(drivers[i], "queue", None)
            for i in queue
            if i not in busy and fresh.get(i, 0) >= seen_since and fit(drivers.get(i))
        ]
        found += ready[: max(config["QUEUE_TRIES"] - _queue_tries(booking.id), 0)]
    queued = {c.driver.id for c in found}
    # The nearest of every class share one index: look further out until someone with the right car turns up.
    for count in (NEAREST_CANDIDATES, *WIDER_SEARCHES):
        nearby = positions.nearest(
            redis, booking.pickup_lat, booking.pickup_lon, config["DISPATCH_RADIUS_KM"], count, seen_since
        )
        ids = [n.driver_id for n in nearby if n.driver_id not in queued]
        drivers = {d.id: d for d in db.session.scalars(_with_cars(ids))}
        busy = _holding(ids)
        nearest = [
            Candidate(drivers[n.driver_id], "nearest", _eta_min(n.km, now))
            for n in nearby
            if n.driver_id in drivers and n.driver_id not in busy and fit(drivers[n.driver_id])
        ]
        if nearest or len(nearby) < count:
            break
    found += nearest
    return _by_road(found, booking, now)


# With a routing service, the few nearest in a straight line are put in order of their real road time.
ROAD_CHECKED = 5


def _by_road(found: list[Candidate], booking: Booking, now: datetime) -> list[Candidate]:
    if not current_app.config["ROUTING_URL"]:
        return found
    nearest = [c for c in found if c.method == "nearest"][:ROAD_CHECKED]
    if len(nearest) < 2:
        return found
    timed = []
    for candidate in nearest:
        here = _where_is(candidate.driver)
        route = road_route(here, (booking.pickup_lat, booking.pickup_lon), now) if here else None
        eta = route.duration_min if route and route.source == "osrm" else candidate.eta_min
        timed.append(Candidate(candidate.driver, candidate.method, eta))
    timed.sort(key=lambda c: c.eta_min if c.eta_min is not None else float("inf"))
    first = found.index(nearest[0])
    rest = [c for c in found[first:] if c not in nearest]
    return [*found[:first], *timed, *rest]


def dispatch_booking(booking: Booking, now: datetime) -> DispatchOffer | None:
    """Offer a waiting booking to the best driver who will take an offer now; None if nobody fits."""
    if booking.status != BookingStatus.REQUESTED or not booking.auto_dispatch:
        return None
    for candidate in candidates(booking, now):
        try:
            return offer_job(booking, candidate.driver, now, candidate.method, candidate.eta_min)
        except DispatchConflict:
            db.session.refresh(booking)
            if booking.status != BookingStatus.REQUESTED:
                return None  # someone else moved the booking meanwhile
            continue  # that driver was taken meanwhile: the next one
    return None


def waiting_job_for(driver: Driver, now: datetime) -> Booking | None:
    """The oldest waiting job a driver who just turned available could take (nearby, right car, not let go)."""
    vehicle = vehicle_of(driver)
    here = _where_is(driver)
    if vehicle is None or here is None:
        return None
    let_go = set(
        db.session.scalars(
            select(DispatchOffer.booking_id).where(
                DispatchOffer.driver_id == driver.id,
                DispatchOffer.outcome.in_((OfferOutcome.DECLINED, OfferOutcome.EXPIRED)),
                DispatchOffer.offered_at >= now - timedelta(hours=6),
            )
        )
    )
    waiting = db.session.scalars(
        select(Booking)
        .where(
            Booking.status == BookingStatus.REQUESTED,
            Booking.auto_dispatch.is_(True),
            Booking.vehicle_class == vehicle.vehicle_class,
        )
        .order_by(Booking.pickup_at, Booking.id)
        .limit(100)
    )
    radius = current_app.config["DISPATCH_RADIUS_KM"]
    for booking in waiting:
        if booking.id not in let_go and geodesic(here, (booking.pickup_lat, booking.pickup_lon)).km <= radius:
            return booking
    return None


def offer_waiting_job_to(driver: Driver, now: datetime) -> DispatchOffer | None:
    """Offer a driver who just turned available the oldest job already waiting for someone like them."""
    today = office_date(now, current_app.config["OFFICE_TIMEZONE"])
    if not searchable(driver, now, today) or _holding([driver.id]):
        return None
    booking = waiting_job_for(driver, now)
    if booking is None:
        return None
    km = geodesic(_where_is(driver), (booking.pickup_lat, booking.pickup_lon)).km
    try:
        return offer_job(booking, driver, now, "waiting", _eta_min(km, now))
    except DispatchConflict:
        return None
