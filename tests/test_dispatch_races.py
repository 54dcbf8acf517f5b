"""Never double, on SQLite and PostgreSQL: two dispatchers and the auto-dispatcher acting at the same moment.

Each actor runs in its own thread with its own application context, session and database connection,
released together by a barrier, as separate web requests and workers would be.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from core.errors import Conflict
from core.extensions import db
from core.models import utcnow
from core.signals import commit_and_announce
from dispatch.bookings import Stop, create_booking
from dispatch.models import DRIVER_HELD_STATUSES, Booking, BookingEvent
from dispatch.offers import assign_driver, offer_job
from drivers.models import Driver
from tests.support.office import AZADI, VANAK, add_driver


@pytest.fixture
def office(migrated_app, redis_client):
    """Three available drivers and the application (its own database on the backend under test)."""
    migrated_app.config.update(CURRENCY="IRR")
    drivers = [add_driver(f"R{i}", f"0912111020{i}") for i in range(3)]
    for driver in drivers:
        driver.status = "available"
    db.session.commit()
    return migrated_app, [d.id for d in drivers]


def new_booking(where=AZADI) -> int:
    booking = create_booking(
        phone="+989121234567",
        subscriber=None,
        pickup=Stop(lat=where[0], lon=where[1], text="pickup"),
        dropoff=None,
        pickup_at=None,
        vehicle_class="sedan",
        notes="",
        now=utcnow(),
    )
    commit_and_announce()
    return booking.id


def race(app, actions) -> list[str]:
    """Run each action(booking-loading callable) in its own thread at once; each result is "won" or "conflict"."""
    barrier = threading.Barrier(len(actions))
    results: list[str | None] = [None] * len(actions)

    def run(index, action):
        with app.app_context():
            try:
                prepared = action()  # load what the actor looks at, as a request would
                barrier.wait(timeout=10)
                prepared()
                db.session.commit()
                results[index] = "won"
            except Conflict:  # DispatchConflict or DriverStateChanged: the loser of the race
                db.session.rollback()
                results[index] = "conflict"
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def assign(booking_id: int, driver_id: int):
    def load():
        booking, driver = db.session.get(Booking, booking_id), db.session.get(Driver, driver_id)
        return lambda: assign_driver(booking, driver, utcnow(), None)

    return load


def auto_offer(booking_id: int, driver_id: int):
    def load():
        booking, driver = db.session.get(Booking, booking_id), db.session.get(Driver, driver_id)
        return lambda: offer_job(booking, driver, utcnow(), "nearest")

    return load


def live_jobs_per_driver() -> dict[int, int]:
    return dict(
        db.session.execute(
            select(Booking.driver_id, func.count())
            .where(Booking.status.in_(DRIVER_HELD_STATUSES))
            .group_by(Booking.driver_id)
        ).all()
    )


def test_one_booking_goes_to_exactly_one_driver(office):
    app, (d1, d2, d3) = office
    booking_id = new_booking()
    results = race(app, [assign(booking_id, d1), assign(booking_id, d2), auto_offer(booking_id, d3)])
    assert sorted(results) == ["conflict", "conflict", "won"], results
    db.session.expire_all()
    booking = db.session.get(Booking, booking_id)
    winner = [d1, d2, d3][results.index("won")]
    assert booking.driver_id == winner
    assert live_jobs_per_driver() == {winner: 1}
    moves = db.session.scalar(select(func.count()).where(BookingEvent.booking_id == booking_id))
    assert moves == 2, "the creation and the one move that won"


def test_one_driver_gets_exactly_one_of_two_bookings(office):
    app, (d1, _d2, _d3) = office
    first, second = new_booking(AZADI), new_booking(VANAK)
    results = race(app, [assign(first, d1), assign(second, d1)])
    assert sorted(results) == ["conflict", "won"], results
    db.session.expire_all()
    assert live_jobs_per_driver() == {d1: 1}
    statuses = {db.session.get(Booking, b).status for b in (first, second)}
    assert statuses == {"assigned", "requested"}
