"""Simulated drivers for the demo office, so its dispatch loop runs with nobody on the driver page.

``make demo`` runs ``flask demo drive``: a few of the demo's drivers report positions as they roam the
city, answer their offers after a few seconds, drive their jobs to the pickup and the dropoff, and now
and then take a break. Everything goes through the dispatch engine as a driver's phone would
(``dispatch.duty``, ``dispatch.offers``, ``dispatch.trips``), one transaction per driver per tick, each
committed with ``commit_and_announce`` so the board and the phones see it live.

Speeds are compressed (about ten times a Tehran taxi's) so that a demo trip takes a few minutes.
"""

from __future__ import annotations

import logging
import random
import signal
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from geopy.distance import geodesic
from redis.exceptions import RedisError
from shapely.geometry import Point
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import selectinload

from core.errors import Conflict
from core.extensions import db
from core.models import utcnow
from core.queues import redis_connection
from core.signals import commit_and_announce
from core.timewindows import office_date
from demo.places import AIRPORT_CODE, jitter
from dispatch.duty import change_status, job_in_hand, position_report
from dispatch.models import DRIVER_HELD_STATUSES, Booking, BookingStatus, DispatchOffer
from dispatch.offers import accept_offer, decline_offer, pending_offer_for_driver
from dispatch.trips import report_progress
from drivers import positions
from drivers.models import Driver, DriverStatus
from drivers.services import MAX_SPEED_KMH, NOISE_KM, dispatch_block_reason, vehicle_of
from geo.zones import zone_index

log = logging.getLogger("cabdesk.demo.drivers")

SIMULATED_DRIVERS = 20
# Demo speeds, about ten times a taxi's in Tehran traffic: a few hundred metres a tick, a trip in minutes.
ROAM_KMH = 400.0
DRIVE_KMH = 300.0
# Never faster than the position check allows (drivers.services), whatever the gap between two reports.
LEGAL_KMH = 0.9 * MAX_SPEED_KMH
SHORT_HOP_KM = 0.9 * NOISE_KM
# A pause longer than this (a slow database, a suspended laptop) does not turn into one long jump.
MAX_STEP_S = 10.0
ARRIVAL_KM = 0.1
ANSWER_DELAY_S = (3.0, 8.0)
DECLINE_CHANCE = 1 / 6
BOARDING_S = (10.0, 30.0)
NO_DROPOFF_TRIP_S = (120.0, 300.0)
# Bounds on a leg, should the driver never get within ARRIVAL_KM (positions refused, a pickup off the map).
APPROACH_LIMIT = timedelta(minutes=5)
TRIP_LIMIT = timedelta(minutes=12)
BREAK_EVERY_S = 30 * 60.0  # mean time between one idle driver's breaks
BREAK_S = (60.0, 180.0)
START_NEAR_PICKUP_M = 3000
# What the engine refuses with: a lost race or a state that moved on (Conflict), a bad request (ValueError).
REFUSALS = (Conflict, ValueError)


@dataclass
class SimulatedDriver:
    """What the simulator remembers of one driver between ticks; the database stays the authority."""

    driver_id: int
    call_sign: str
    pace: float = 1.0  # this driver's speed against the demo speeds
    lat: float | None = None
    lon: float | None = None
    reported_at: datetime | None = None
    target: tuple[float, float] | None = None  # where an idle driver is heading
    offer_id: int | None = None
    answer_at: datetime | None = None
    declines: bool = False
    leg: tuple[int, str] | None = None  # (booking id, status) as last seen
    leg_since: datetime | None = None
    leg_wait: timedelta | None = None  # boarding time, or the length of a trip without a dropoff
    break_until: datetime | None = None


def choose_drivers(limit: int, now: datetime) -> list[Driver]:
    """The demo drivers to simulate, the same for the same database: those holding a job, then available ones.

    Drivers holding a job come first so the jobs already on the board move on; then one available driver of
    each class of car (so van and premium bookings find someone too); then available drivers by id.
    """
    holding = set(db.session.scalars(select(Booking.driver_id).where(Booking.status.in_(DRIVER_HELD_STATUSES))))
    drivers = db.session.scalars(
        select(Driver)
        .where(Driver.active.is_(True), Driver.status.in_((DriverStatus.AVAILABLE, DriverStatus.BUSY)))
        .options(selectinload(Driver.vehicles))
        .order_by(Driver.id)
    ).all()
    today = office_date(now, current_app.config["OFFICE_TIMEZONE"])
    chosen = [d for d in drivers if d.id in holding]
    free = [
        d
        for d in drivers
        if d.id not in holding and d.status == DriverStatus.AVAILABLE and dispatch_block_reason(d, now, today) is None
    ]
    classes = {vehicle_of(d).vehicle_class for d in chosen if vehicle_of(d)}
    for driver in free:
        if vehicle_of(driver).vehicle_class not in classes:
            chosen.append(driver)
            classes.add(vehicle_of(driver).vehicle_class)
    chosen += [d for d in free if d not in chosen]
    return chosen[:limit]


def city_point(rng: random.Random) -> tuple[float, float] | None:
    """A random point inside the city's zones (the airport's left out), or None when there are no zones."""
    entries = [entry for entry in zone_index().entries if entry.code != AIRPORT_CODE]
    if not entries:
        return None
    zone = rng.choices(entries, [entry.area for entry in entries])[0]
    west, south, east, north = zone.geometry.bounds
    for _ in range(100):
        lon, lat = rng.uniform(west, east), rng.uniform(south, north)
        if zone.geometry.covers(Point(lon, lat)):
            return round(lat, 6), round(lon, 6)
    return zone.lat, zone.lon


def toward(here: tuple[float, float], there: tuple[float, float], km: float) -> tuple[float, float]:
    """The point ``km`` from ``here`` on the way to ``there`` (``there`` itself if it is closer)."""
    distance = geodesic(here, there).km
    if distance <= km or distance == 0:
        return there
    share = km / distance
    # Straight between two points of one city: interpolating degrees is off by far less than a street.
    return (
        round(here[0] + (there[0] - here[0]) * share, 6),
        round(here[1] + (there[1] - here[1]) * share, 6),
    )


class DriverSimulator:
    """Drives some of the demo's drivers through the engine: ``tick(now)`` moves each of them on one step."""

    def __init__(
        self,
        limit: int = SIMULATED_DRIVERS,
        rng: random.Random | None = None,
        driver_ids: list[int] | None = None,
    ):
        self.rng = rng or random.Random()
        self.limit = limit
        self.decline_chance = DECLINE_CHANCE
        self.break_every_s = BREAK_EVERY_S
        self._fixed = driver_ids is not None
        self.drivers: list[SimulatedDriver] = []
        self._stopping = False
        if driver_ids is not None:
            found = db.session.scalars(select(Driver).where(Driver.id.in_(driver_ids)).order_by(Driver.id)).all()
            self._adopt(found)
        else:
            self._adopt(choose_drivers(limit, utcnow()))

    def _adopt(self, drivers: list[Driver]) -> None:
        self.drivers = [SimulatedDriver(d.id, d.call_sign, pace=self.rng.uniform(0.8, 1.2)) for d in drivers]

    # --- the loop ---------------------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> None:
        """Move every simulated driver on one step, each in a transaction of its own; refusals are logged."""
        now = now or utcnow()
        if not self.drivers and not self._fixed:
            self._adopt(choose_drivers(self.limit, now))  # nobody to drive at the start: look again
        for sim in self.drivers:
            if self._stopping:
                return
            try:
                self._step(sim, now)
                commit_and_announce()
            except REFUSALS as exc:
                # The engine said no (a race lost to a dispatcher, an offer gone): as a phone would, try again later.
                db.session.rollback()
                log.info("driver %s: %s", sim.call_sign, exc)
            except (SQLAlchemyError, RedisError) as exc:
                # A locked database or Redis away for a moment must not stop the demo.
                db.session.rollback()
                log.warning("driver %s: %s: %s; next tick tries again", sim.call_sign, type(exc).__name__, exc)

    def run(self, interval: float = 2.0) -> None:
        """Tick every ``interval`` seconds until SIGTERM or SIGINT, then return."""
        self._stopping = False

        def stop(_signum, _frame) -> None:
            self._stopping = True

        previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
        try:
            log.info("simulating drivers %s", ", ".join(sim.call_sign for sim in self.drivers) or "(none yet)")
            while not self._stopping:
                started = time.monotonic()
                try:
                    self.tick()
                except Exception:
                    # honcho stops every process of the demo when one exits: a bug here must not take the office down.
                    db.session.rollback()
                    log.exception("driver simulator: the tick failed")
                while not self._stopping and time.monotonic() - started < interval:
                    time.sleep(min(0.1, interval))
            log.info("driver simulator stopped")
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    # --- one driver's step --------------------------------------------------------------------

    def _step(self, sim: SimulatedDriver, now: datetime) -> None:
        driver = db.session.get(Driver, sim.driver_id)
        if driver is None or driver.status == DriverStatus.OFFLINE:
            return  # someone took them off duty (the driver page, a dispatcher): leave them be
        if driver.status != DriverStatus.BREAK:
            sim.break_until = None  # back from a break someone else ended (the driver page, a dispatcher)
        job = job_in_hand(driver.id)
        offer = pending_offer_for_driver(driver.id) if job is None else None
        if sim.lat is None and not self._place(sim, driver, job or self._offered(offer)):
            return
        if job is not None:
            self._drive(sim, driver, job, now)
            return
        sim.leg = None
        if offer is not None:
            self._answer(sim, driver, offer, now)
        elif driver.status == DriverStatus.BREAK:
            self._rest(sim, driver, now)
        elif driver.status == DriverStatus.AVAILABLE:
            self._roam(sim, driver, now)
        else:
            self._report(sim, driver, now)  # busy with a street hail someone set: standing still

    @staticmethod
    def _offered(offer: DispatchOffer | None) -> Booking | None:
        return db.session.get(Booking, offer.booking_id) if offer is not None else None

    def _place(self, sim: SimulatedDriver, driver: Driver, booking: Booking | None) -> bool:
        """Where the driver starts: where the index last saw them, else near their job, else anywhere in the city."""
        sighting = positions.last_sighting(redis_connection(), driver.id)
        if sighting is not None:
            sim.lat, sim.lon = sighting.lat, sighting.lon
            sim.reported_at = datetime.fromtimestamp(sighting.at, UTC)
            return True
        if driver.last_lat is not None and driver.last_lon is not None:
            sim.lat, sim.lon = driver.last_lat, driver.last_lon
            return True
        point = self._near_job(booking) if booking is not None else city_point(self.rng)
        if point is None:
            return False
        sim.lat, sim.lon = point
        return True

    def _near_job(self, booking: Booking) -> tuple[float, float]:
        pickup = (booking.pickup_lat, booking.pickup_lon)
        if booking.status == BookingStatus.ARRIVED:
            return pickup
        if booking.status == BookingStatus.ON_TRIP:
            if booking.dropoff_lat is None or booking.dropoff_lon is None:
                return pickup
            dropoff = (booking.dropoff_lat, booking.dropoff_lon)
            return toward(pickup, dropoff, geodesic(pickup, dropoff).km * self.rng.uniform(0.2, 0.6))
        return jitter(self.rng, *pickup, START_NEAR_PICKUP_M)

    def _answer(self, sim: SimulatedDriver, driver: Driver, offer: DispatchOffer, now: datetime) -> None:
        """A few seconds to read the offer, then yes (mostly) or no."""
        if sim.offer_id != offer.id:
            sim.offer_id = offer.id
            delay = timedelta(seconds=self.rng.uniform(*ANSWER_DELAY_S))
            # Before the offer runs out even if the office's OFFER_TIMEOUT is shorter than the delay.
            sim.answer_at = min(offer.offered_at + delay, offer.expires_at - timedelta(seconds=1))
            sim.declines = self.rng.random() < self.decline_chance
        self._report(sim, driver, now)  # the phone keeps reporting while the driver reads
        if now < sim.answer_at or offer.expires_at <= now:
            return  # not yet; or too late, and the engine's expiry will pass the job on
        if sim.declines:
            decline_offer(offer, driver, now)
            log.info("driver %s declined booking %s", sim.call_sign, offer.booking_id)
        else:
            accept_offer(offer, driver, now)
            log.info("driver %s accepted booking %s", sim.call_sign, offer.booking_id)

    def _drive(self, sim: SimulatedDriver, driver: Driver, job: Booking, now: datetime) -> None:
        """To the pickup, a wait while the passenger boards, to the dropoff; each step reported as the phone would."""
        if sim.leg != (job.id, job.status):
            self._start_leg(sim, job.id, job.status, now)  # a job just accepted, or one the driver had already
        on_leg = now - sim.leg_since
        if job.status == BookingStatus.ASSIGNED:
            pickup = (job.pickup_lat, job.pickup_lon)
            self._move(sim, driver, pickup, DRIVE_KMH, now)
            if self._within(sim, pickup, ARRIVAL_KM) or on_leg >= APPROACH_LIMIT:
                self._progress(sim, job, BookingStatus.ARRIVED, now)
        elif job.status == BookingStatus.ARRIVED:
            self._report(sim, driver, now)
            if on_leg >= sim.leg_wait:
                self._progress(sim, job, BookingStatus.ON_TRIP, now)
        elif job.dropoff_lat is not None and job.dropoff_lon is not None:
            dropoff = (job.dropoff_lat, job.dropoff_lon)
            self._move(sim, driver, dropoff, DRIVE_KMH, now)
            if self._within(sim, dropoff, ARRIVAL_KM) or on_leg >= TRIP_LIMIT:
                self._progress(sim, job, BookingStatus.COMPLETED, now)
        else:
            # No dropoff given: the passenger says where on the way; the trip ends after a few minutes.
            self._roam_step(sim, driver, DRIVE_KMH, now)
            if on_leg >= sim.leg_wait:
                self._progress(sim, job, BookingStatus.COMPLETED, now)

    def _start_leg(self, sim: SimulatedDriver, booking_id: int, status: str, now: datetime) -> None:
        sim.leg, sim.leg_since = (booking_id, status), now
        span = BOARDING_S if status == BookingStatus.ARRIVED else NO_DROPOFF_TRIP_S
        sim.leg_wait = timedelta(seconds=self.rng.uniform(*span))

    def _progress(self, sim: SimulatedDriver, job: Booking, status: str, now: datetime) -> None:
        report_progress(job, status, now, sim.driver_id)
        # The next leg starts now; should the commit fail, the next tick sees the old state and starts over.
        self._start_leg(sim, job.id, status, now)
        log.info("driver %s: booking %s %s", sim.call_sign, job.id, status)

    def _roam(self, sim: SimulatedDriver, driver: Driver, now: datetime) -> None:
        """An idle driver cruises the city, and now and then takes a break."""
        if self._takes_a_break(sim, now):
            change_status(driver, DriverStatus.BREAK, now)
            sim.break_until = now + timedelta(seconds=self.rng.uniform(*BREAK_S))
            log.info("driver %s went on a break", sim.call_sign)
            return
        self._roam_step(sim, driver, ROAM_KMH, now)

    def _roam_step(self, sim: SimulatedDriver, driver: Driver, kmh: float, now: datetime) -> None:
        if sim.target is None or self._within(sim, sim.target, ARRIVAL_KM):
            sim.target = city_point(self.rng)
        if sim.target is None:
            self._report(sim, driver, now)
        else:
            self._move(sim, driver, sim.target, kmh, now)

    def _takes_a_break(self, sim: SimulatedDriver, now: datetime) -> bool:
        on_break = sum(1 for other in self.drivers if other.break_until is not None)
        if on_break >= max(1, len(self.drivers) // 5):  # a few at a time, never half the fleet
            return False
        return self.rng.random() < self._elapsed_s(sim, now) / self.break_every_s

    def _rest(self, sim: SimulatedDriver, driver: Driver, now: datetime) -> None:
        """On a break: standing still (the phone still reports) until the break is over."""
        if sim.break_until is None:  # on a break the simulator did not start (a dispatcher, an earlier run)
            sim.break_until = now + timedelta(seconds=self.rng.uniform(*BREAK_S))
        if now >= sim.break_until:
            change_status(driver, DriverStatus.AVAILABLE, now)
            sim.break_until = None
            log.info("driver %s is back from a break", sim.call_sign)
        self._report(sim, driver, now)

    # --- positions ----------------------------------------------------------------------------

    def _elapsed_s(self, sim: SimulatedDriver, now: datetime) -> float:
        if sim.reported_at is None:
            return 0.0
        return min(max((now - sim.reported_at).total_seconds(), 0.0), MAX_STEP_S)

    def _move(
        self, sim: SimulatedDriver, driver: Driver, target: tuple[float, float], kmh: float, now: datetime
    ) -> None:
        seconds = self._elapsed_s(sim, now)
        km = min(kmh * sim.pace * seconds / 3600, max(SHORT_HOP_KM, LEGAL_KMH * seconds / 3600))
        self._report(sim, driver, now, toward((sim.lat, sim.lon), target, km))

    def _report(
        self, sim: SimulatedDriver, driver: Driver, now: datetime, point: tuple[float, float] | None = None
    ) -> None:
        lat, lon = point or (sim.lat, sim.lon)
        sim.lat, sim.lon = position_report(driver, lat, lon, now)
        sim.reported_at = now

    @staticmethod
    def _within(sim: SimulatedDriver, point: tuple[float, float], km: float) -> bool:
        return geodesic((sim.lat, sim.lon), point).km <= km
