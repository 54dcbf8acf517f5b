"""The demo's driver simulator: it picks its drivers, moves them, answers offers and drives jobs to the end.

No sleeping: every tick gets its moment (``now``) from the test, and the simulator a seeded PRNG.
"""

from __future__ import annotations

import logging
import random
import shutil
import signal
from datetime import timedelta

import pytest
from geopy.distance import geodesic
from sqlalchemy import select

from core.extensions import db
from core.models import utcnow
from core.queues import redis_connection
from core.signals import commit_and_announce
from demo.seed import seed_demo
from demo.simulator import DriverSimulator, choose_drivers
from dispatch.auto import dispatch_booking
from dispatch.bookings import DispatchConflict, Stop, create_booking
from dispatch.duty import change_status
from dispatch.models import DRIVER_HELD_STATUSES, Booking, DispatchOffer
from drivers import positions
from drivers.models import Driver
from drivers.services import DriverError, DriverStateChanged, vehicle_of
from geo.zones import km_from_zones
from tests.conftest import app_settings
from tests.support.office import AZADI, NEAR_AZADI, TAJRISH, VANAK, add_driver, on_duty_at, sedan_rule

SEED = 1404
NOW = utcnow().replace(microsecond=0)


def where(driver_id: int) -> tuple[float, float]:
    """The driver's position in the live index."""
    sighting = positions.last_sighting(redis_connection(), driver_id)
    assert sighting is not None, f"driver {driver_id} has no position"
    return sighting.lat, sighting.lon


def km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Kilometres between two points."""
    return geodesic(a, b).km


# --- on the demo office ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_database(tmp_path_factory, migrated_sqlite, redis_url):
    """A SQLite file holding the demo office of SEED, seeded once for this module (tests work on copies)."""
    from core.app import create_app

    folder = tmp_path_factory.mktemp("demo-template")
    path = folder / "cabdesk.sqlite3"
    shutil.copy(migrated_sqlite, path)
    application = create_app(app_settings(f"sqlite:///{path}", redis_url, folder))
    with application.app_context():
        seed_demo(SEED, now=NOW)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return path


@pytest.fixture
def demo(tmp_path, demo_database, redis_url, redis_client):
    """An app context on a fresh copy of the demo office, with an empty live index."""
    from core.app import create_app

    path = tmp_path / "cabdesk.sqlite3"
    shutil.copy(demo_database, path)
    application = create_app(app_settings(f"sqlite:///{path}", redis_url, tmp_path))
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


def test_the_drivers_on_jobs_come_first_then_one_of_each_car_then_by_id(demo):
    holding = set(db.session.scalars(select(Booking.driver_id).where(Booking.status.in_(DRIVER_HELD_STATUSES))))
    chosen = choose_drivers(20, NOW)

    assert len(chosen) == 20 and len({d.id for d in chosen}) == 20
    assert {d.id for d in chosen[: len(holding)]} == holding
    assert all(d.status == "available" for d in chosen if d.id not in holding)
    on_duty = db.session.scalars(select(Driver).where(Driver.status == "available")).all()
    assert {vehicle_of(d).vehicle_class for d in chosen} == {vehicle_of(d).vehicle_class for d in on_duty}
    assert [d.id for d in choose_drivers(20, NOW)] == [d.id for d in chosen]
    assert [s.driver_id for s in DriverSimulator(rng=random.Random(1)).drivers] == [d.id for d in chosen]
    assert len(DriverSimulator(limit=5).drivers) == 5


def test_a_first_tick_puts_the_drivers_on_the_map_and_waiting_jobs_get_offered(demo):
    waiting = db.session.scalars(select(Booking.id).where(Booking.status == "requested")).all()
    simulator = DriverSimulator(rng=random.Random(2))
    simulated = {sim.driver_id for sim in simulator.drivers}

    simulator.tick(NOW + timedelta(seconds=1))

    for sim in simulator.drivers:
        assert where(sim.driver_id) == pytest.approx((sim.lat, sim.lon), abs=1e-4)
    offered = db.session.scalars(
        select(DispatchOffer).where(DispatchOffer.booking_id.in_(waiting), DispatchOffer.outcome == "pending")
    ).all()
    assert offered, "drivers coming into view are offered the jobs waiting for them"
    assert {offer.driver_id for offer in offered} <= simulated


def test_idle_drivers_cruise_a_few_hundred_metres_a_tick_inside_the_city(demo):
    simulator = DriverSimulator(rng=random.Random(3))
    simulator.break_every_s = 1e9
    simulator.tick(NOW + timedelta(seconds=1))
    before = {sim.driver_id: where(sim.driver_id) for sim in simulator.drivers}
    idle = [
        sim.driver_id
        for sim in simulator.drivers
        if db.session.get(Driver, sim.driver_id).status == "available"
        and db.session.scalar(select(DispatchOffer.id).where(DispatchOffer.driver_id == sim.driver_id)) is None
    ]
    assert len(idle) >= 5

    for step in range(1, 31):
        simulator.tick(NOW + timedelta(seconds=1 + 2 * step))
        for driver_id in idle:
            here = where(driver_id)
            assert 0.02 < km(before[driver_id], here) < 0.45
            assert km_from_zones(*here) < 1.0, "a roaming driver stays in the service area"
            before[driver_id] = here


def test_the_demo_offices_live_jobs_are_driven_to_the_end(demo):
    on_the_road = db.session.scalars(
        select(Booking.id).where(Booking.status.in_(("assigned", "arrived", "on_trip")))
    ).all()
    simulator = DriverSimulator(rng=random.Random(4))
    simulator.decline_chance = 0

    def statuses() -> set[str]:
        return set(db.session.scalars(select(Booking.status).where(Booking.id.in_(on_the_road))))

    for step in range(200):  # at most 1000 s at 5 s a tick
        simulator.tick(NOW + timedelta(seconds=1 + 5 * step))
        if step % 10 == 0 and statuses() == {"completed"}:
            break

    assert on_the_road and statuses() == {"completed"}
    drivers = db.session.scalars(select(Driver).where(Driver.id.in_([s.driver_id for s in simulator.drivers]))).all()
    assert {d.status for d in drivers} <= {"available", "busy", "break"}


# --- on a small office -----------------------------------------------------------------------


@pytest.fixture
def office(app, tehran_zones, redis_client):
    """The Tehran zones and a sedan tariff; offers last 20 s."""
    app.config.update(DISPATCH_MODE="nearest", OFFER_TIMEOUT=20)
    sedan_rule()
    db.session.commit()
    return tehran_zones


def driver_at(point: tuple[float, float], call_sign: str = "201", phone: str = "+989121110201") -> Driver:
    """A sedan driver on duty at the point since NOW."""
    driver = add_driver(call_sign, phone)
    on_duty_at(driver, point, NOW)
    commit_and_announce()
    return driver


def offered_job(driver: Driver, pickup=VANAK, dropoff=TAJRISH) -> Booking:
    """A booking taken at NOW and offered to the driver at NOW."""
    booking = create_booking(
        phone="+989121234567",
        subscriber=None,
        pickup=Stop(lat=pickup[0], lon=pickup[1], text="pickup"),
        dropoff=Stop(lat=dropoff[0], lon=dropoff[1], text="dropoff") if dropoff else None,
        pickup_at=None,
        vehicle_class="sedan",
        notes="",
        now=NOW,
    )
    commit_and_announce()
    offer = dispatch_booking(booking, NOW)
    commit_and_announce()
    assert offer is not None and offer.driver_id == driver.id
    return booking


def simulator_for(*drivers: Driver, seed: int = 7, declines: float = 0.0) -> DriverSimulator:
    """A simulator of just these drivers, with no breaks unless a test asks for them."""
    simulator = DriverSimulator(driver_ids=[d.id for d in drivers], rng=random.Random(seed))
    simulator.decline_chance = declines
    simulator.break_every_s = 1e9
    return simulator


def at(seconds: float):
    """The moment ``seconds`` after NOW."""
    return NOW + timedelta(seconds=seconds)


def test_an_offer_is_accepted_after_a_few_seconds(office):
    driver = driver_at(AZADI)
    booking = offered_job(driver)
    simulator = simulator_for(driver)

    accepted_at = None
    for second in range(1, 12):
        simulator.tick(at(second))
        db.session.refresh(booking)
        if second < 3:
            assert booking.status == "offered"
        if booking.status == "assigned":
            accepted_at = second
            break
    assert accepted_at is not None and 3 <= accepted_at <= 8
    offer = db.session.scalar(select(DispatchOffer).where(DispatchOffer.booking_id == booking.id))
    assert offer.outcome == "accepted" and offer.answered_at == at(accepted_at)
    assert db.session.get(Driver, driver.id).status == "busy"


def test_a_declining_driver_says_no_through_the_engine(office):
    driver = driver_at(AZADI)
    booking = offered_job(driver)
    simulator = simulator_for(driver, declines=1.0)
    assert DriverSimulator(driver_ids=[]).decline_chance == pytest.approx(1 / 6), "by default one in six"

    for second in range(1, 10):
        simulator.tick(at(second))

    db.session.refresh(booking)
    offer = db.session.scalar(select(DispatchOffer).where(DispatchOffer.booking_id == booking.id))
    assert offer.outcome == "declined" and booking.status == "requested" and booking.driver_id is None
    assert db.session.get(Driver, driver.id).status == "available"


def test_a_job_is_driven_to_the_pickup_and_the_dropoff(office):
    driver = driver_at(AZADI)
    booking = offered_job(driver, pickup=VANAK, dropoff=TAJRISH)
    simulator = simulator_for(driver)

    trail, last = [], AZADI
    for tick in range(1, 600):
        simulator.tick(at(2 * tick))
        db.session.refresh(booking)
        here = where(driver.id)
        assert km(last, here) < 0.45, "never a jump the position check would refuse"
        trail.append((booking.status, here))
        last = here
        if booking.status == "completed":
            break

    statuses = [status for status, _ in trail]
    assert sorted(set(statuses), key=statuses.index) == ["offered", "assigned", "arrived", "on_trip", "completed"]
    approach = [km(here, VANAK) for status, here in trail if status == "assigned"]
    assert approach == sorted(approach, reverse=True), "the driver heads for the pickup"
    arrived_at = next(here for status, here in trail if status == "arrived")
    assert km(arrived_at, VANAK) <= 0.1
    assert km(trail[-1][1], TAJRISH) <= 0.1
    assert 10 <= (booking.started_at - booking.arrived_at).total_seconds() <= 32
    assert booking.completed_at - booking.assigned_at < timedelta(minutes=6), "a demo trip takes a few minutes"
    assert db.session.get(Driver, driver.id).status == "available"
    assert [e.to_status for e in booking.events][-4:] == ["assigned", "arrived", "on_trip", "completed"]


def test_a_job_without_a_dropoff_ends_after_a_few_minutes(office):
    driver = driver_at(AZADI)
    booking = offered_job(driver, pickup=NEAR_AZADI, dropoff=None)
    simulator = simulator_for(driver)

    for tick in range(1, 300):
        simulator.tick(at(5 * tick))
        db.session.refresh(booking)
        if booking.status == "completed":
            break

    assert booking.status == "completed"
    assert 120 <= (booking.completed_at - booking.started_at).total_seconds() <= 305


def test_drivers_go_on_a_break_and_come_back(office):
    driver = driver_at(AZADI)
    simulator = simulator_for(driver)
    simulator.break_every_s = 1  # a break at the first chance

    simulator.tick(at(2))
    assert db.session.get(Driver, driver.id).status == "break"
    resting_at = where(driver.id)
    simulator.break_every_s = 1e9
    back = None
    for second in range(4, 200, 2):
        simulator.tick(at(second))
        if db.session.get(Driver, driver.id).status == "available":
            back = second
            break
        assert where(driver.id) == pytest.approx(resting_at), "standing still on a break"
    assert back is not None and 60 <= back - 2 <= 182


def test_a_break_ended_elsewhere_is_forgotten(office):
    driver = driver_at(AZADI)
    simulator = simulator_for(driver)
    simulator.break_every_s = 1
    simulator.tick(at(2))
    assert simulator.drivers[0].break_until is not None

    change_status(db.session.get(Driver, driver.id), "available", at(3))  # the driver page, say
    commit_and_announce()
    simulator.break_every_s = 1e9
    simulator.tick(at(4))

    assert simulator.drivers[0].break_until is None
    assert db.session.get(Driver, driver.id).status == "available"


@pytest.mark.parametrize(
    "refusal",
    [DispatchConflict("the offer went elsewhere"), DriverStateChanged("look again"), DriverError("no such thing")],
)
def test_an_engine_refusal_is_rolled_back_and_logged_and_the_tick_goes_on(office, monkeypatch, caplog, refusal):
    driver = driver_at(AZADI)
    booking = offered_job(driver)
    idle = driver_at(TAJRISH, "202", "+989121110202")
    simulator = simulator_for(driver, idle)
    caplog.set_level(logging.INFO, logger="cabdesk.demo")

    def refuse(*_args, **_kwargs):
        raise refusal

    monkeypatch.setattr("demo.simulator.accept_offer", refuse)
    simulator.tick(at(9))

    assert str(refusal) in caplog.text
    db.session.refresh(booking)
    assert booking.status == "offered"
    assert km(where(idle.id), TAJRISH) > 0.1, "the other driver's step went ahead"
    assert not db.session.dirty and not db.session.new

    monkeypatch.undo()
    simulator.tick(at(10))
    db.session.refresh(booking)
    assert booking.status == "assigned", "the next tick tries again"


def test_run_ticks_until_sigterm_and_puts_the_handlers_back(office, monkeypatch):
    driver = driver_at(AZADI)
    simulator = simulator_for(driver)
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    ticks = []
    real_tick = simulator.tick

    def tick(now=None):
        real_tick(now)
        ticks.append(now)
        if len(ticks) == 3:
            signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(simulator, "tick", tick)
    simulator.run(interval=0.01)

    assert len(ticks) == 3
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_the_drive_command(app, monkeypatch):
    runs = []
    monkeypatch.setattr("demo.simulator.DriverSimulator.run", lambda self, interval: runs.append((self, interval)))

    result = app.test_cli_runner().invoke(args=["demo", "drive", "--drivers", "3", "--interval", "0.5"])

    assert result.exit_code == 0, result.output
    assert len(runs) == 1 and runs[0][0].limit == 3 and runs[0][1] == 0.5
    help_text = app.test_cli_runner().invoke(args=["demo", "drive", "--help"]).output
    assert "--drivers" in help_text and "--interval" in help_text
