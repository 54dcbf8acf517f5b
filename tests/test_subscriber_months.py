"""The customer reports' monthly roll-up: counted as trips complete, on the office's clock, by two workers at once,
carried over on a merge, and the same whether counted trip by trip, rebuilt, or filled by the migration."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, event, func, select, text, update

from core.extensions import db
from crm.activity import count_trip, rebuild_months
from crm.merge import merge_subscribers
from crm.models import Subscriber, SubscriberMerge, SubscriberMonth
from dispatch.models import Booking
from dispatch.trips import report_progress
from drivers.models import Driver
from tests.support.servers import wait_until


def utc(*parts) -> datetime:
    """A UTC moment."""
    return datetime(*parts, tzinfo=UTC)


def subscriber(name: str) -> Subscriber:
    """A new subscriber."""
    person = Subscriber(name=name)
    db.session.add(person)
    db.session.flush()
    return person


def on_the_road(person: Subscriber | None, fare: int | None = 1_250_000) -> Booking:
    """A trip of a subscriber (or of a caller who is none) under way with a driver of its own."""
    n = db.session.scalar(select(func.count(Driver.id))) + 1
    driver = Driver(call_sign=f"M{n}", name="Reza Ahmadi", phone=f"+98912100{n:04d}", status="busy")
    db.session.add(driver)
    db.session.flush()
    booking = Booking(
        subscriber_id=person.id if person else None,
        pickup_text="Tajrish",
        pickup_lat=35.8,
        pickup_lon=51.43,
        pickup_at=utc(2025, 1, 1),
        currency="IRR",
        status="on_trip",
        driver_id=driver.id,
        fare=fare,
    )
    db.session.add(booking)
    db.session.commit()
    return booking


def complete(person: Subscriber | None, at: datetime, fare: int | None = 1_250_000) -> Booking:
    """A trip completed at ``at`` the way a driver completes it, committed as the API commits it."""
    booking = on_the_road(person, fare)
    report_progress(booking, "completed", at, booking.driver_id)
    db.session.commit()
    return booking


def roll_up() -> dict[tuple[int, date], tuple[int, int]]:
    """Every row of the roll-up: (subscriber, month) → (trips, revenue)."""
    rows = db.session.execute(
        select(SubscriberMonth.subscriber_id, SubscriberMonth.month, SubscriberMonth.trips, SubscriberMonth.revenue)
    )
    return {(s, m): (t, r) for s, m, t, r in rows}


def test_a_completed_trip_counts_in_its_office_month(migrated_app):
    sara, caller = subscriber("Sara"), None
    complete(sara, utc(2025, 1, 31, 20, 40))  # 1 February 00:10 in Tehran
    complete(sara, utc(2025, 2, 14, 9), fare=2_000_000)
    complete(sara, utc(2025, 1, 31, 20, 20), fare=None)  # 31 January 23:50 in Tehran; no fare recorded
    complete(caller, utc(2025, 2, 14, 9))  # no subscriber: no customer's trip

    assert roll_up() == {
        (sara.id, date(2025, 1, 1)): (1, 0),
        (sara.id, date(2025, 2, 1)): (2, 3_250_000),
    }


def test_a_completion_rolled_back_takes_its_count_with_it(app):
    sara = subscriber("Sara")
    booking = on_the_road(sara)
    report_progress(booking, "completed", utc(2025, 3, 3, 9), booking.driver_id)
    db.session.rollback()  # the completion failed after counting: its count goes with it
    assert roll_up() == {}


def test_two_workers_completing_trips_of_one_subscriber_at_once_both_count(migrated_app):
    sara_id = subscriber("Sara").id
    db.session.commit()
    counted, go_on = threading.Event(), threading.Event()
    failures: list[BaseException] = []
    steps: list[tuple[str, str]] = []  # (what, which worker), in the order they happened

    def before(_conn, _cursor, statement, *_args) -> None:
        if "subscriber_months" in statement:
            steps.append(("counting", threading.current_thread().name))

    def after(_conn, _cursor, statement, *_args) -> None:
        if "subscriber_months" in statement:
            steps.append(("counted", threading.current_thread().name))

    def worker(fare: int, hold: bool) -> None:
        # Each thread is a worker of its own: its own app context, session and connection.
        with migrated_app.app_context():
            try:
                count_trip(sara_id, utc(2025, 3, 3, 9), fare)
                if hold:  # the first keeps its transaction open: the month's row is new and not yet committed
                    counted.set()
                    go_on.wait(10)
                db.session.commit()
                steps.append(("committed", threading.current_thread().name))
            except BaseException as exc:
                failures.append(exc)
                counted.set()
            finally:
                db.session.remove()

    event.listen(db.engine, "before_cursor_execute", before)
    event.listen(db.engine, "after_cursor_execute", after)
    try:
        first = threading.Thread(target=worker, args=(1_000, True), name="first")
        first.start()
        assert counted.wait(10)
        second = threading.Thread(target=worker, args=(2_000, False), name="second")
        second.start()
        wait_until(lambda: ("counting", "second") in steps or failures, what="the second worker's count")
        if db.engine.dialect.name == "postgresql":
            # The second waits for the first's new row: PostgreSQL shows its lock not granted.
            with db.engine.connect() as watcher:
                waiting = "SELECT count(*) FROM pg_locks WHERE NOT granted"
                wait_until(lambda: watcher.scalar(text(waiting)) or failures, what="the second to wait for a lock")
        go_on.set()
        first.join(15)
        second.join(15)
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
        event.remove(db.engine, "after_cursor_execute", after)

    assert failures == []
    # The second's count went through only once the first had committed (SQLite's write lock, PostgreSQL's row).
    assert steps.index(("counted", "second")) > steps.index(("committed", "first")), steps
    assert roll_up() == {(sara_id, date(2025, 3, 1)): (2, 3_000)}


def test_a_merge_adds_the_duplicates_months_to_the_survivors(app):
    ali, duplicate = subscriber("Ali"), subscriber("Ali R.")
    complete(ali, utc(2025, 1, 10, 9), fare=1_000)
    complete(ali, utc(2025, 2, 10, 9), fare=2_000)
    complete(duplicate, utc(2025, 2, 20, 9), fare=30_000)
    complete(duplicate, utc(2025, 3, 5, 9), fare=400_000)

    merge_subscribers(ali, duplicate, reason="same person")
    db.session.commit()

    after = roll_up()
    assert after == {
        (ali.id, date(2025, 1, 1)): (1, 1_000),
        (ali.id, date(2025, 2, 1)): (2, 32_000),  # a month both had: summed
        (ali.id, date(2025, 3, 1)): (1, 400_000),  # a month only the duplicate had: moved
    }
    audit = db.session.scalar(select(SubscriberMerge))
    assert audit.snapshot["moved"]["subscriber_months.subscriber_id"] == ["2025-02-01", "2025-03-01"]
    # The bookings moved with it: recomputing from them gives the same rows.
    rebuild_months([ali.id, duplicate.id])
    assert roll_up() == after


def test_rebuilding_gives_what_counting_trip_by_trip_gave(app):
    people = [subscriber(name) for name in ("A", "B", "C")]
    moment = utc(2024, 11, 28, 6)
    for n in range(24):
        person = people[n % 3] if n % 7 else None
        complete(person, moment, fare=None if n % 5 == 0 else 100_000 + n)
        moment += timedelta(days=3, hours=7)
    cancelled = on_the_road(people[0])
    cancelled.status = "cancelled"
    db.session.commit()
    counted = roll_up()
    assert len({month for _, month in counted}) >= 3 and all(person.id in {s for s, _ in counted} for person in people)

    assert rebuild_months() == len(counted)
    db.session.commit()
    assert roll_up() == counted

    # One subscriber's rows recomputed: theirs come back the same, the others are untouched.
    db.session.execute(delete(SubscriberMonth).where(SubscriberMonth.subscriber_id == people[1].id))
    db.session.execute(update(SubscriberMonth).where(SubscriberMonth.subscriber_id == people[2].id).values(trips=99))
    rebuild_months([people[1].id])
    assert roll_up() == {key: (99, value[1]) if key[0] == people[2].id else value for key, value in counted.items()}


def test_the_command_rebuilds_the_roll_up(app):
    sara = subscriber("Sara")
    sara_id = sara.id
    complete(sara, utc(2025, 3, 3, 9))
    db.session.execute(delete(SubscriberMonth))
    db.session.commit()

    result = app.test_cli_runner().invoke(args=["subscribers", "rebuild-months"])

    assert result.exit_code == 0, result.output
    assert "1 subscriber months rebuilt" in result.output
    db.session.remove()
    assert roll_up() == {(sara_id, date(2025, 3, 1)): (1, 1_250_000)}


@pytest.mark.parametrize("zone", ["Asia/Tehran", "Europe/London"])
def test_the_migration_fills_what_rebuilding_gives(empty_app, monkeypatch, zone):
    from flask_migrate import upgrade

    # The migration reads the zone from the environment, as the application's settings do.
    monkeypatch.setenv("OFFICE_TIMEZONE", zone)
    empty_app.config["OFFICE_TIMEZONE"] = zone
    upgrade(revision="0005")
    people = [Subscriber(name=name) for name in ("A", "B")]
    db.session.add_all(people)
    db.session.flush()
    first, second = (person.id for person in people)
    moment = utc(2025, 1, 31, 20, 40)  # 1 February 00:10 in Tehran, 31 January 20:40 in London
    for n in range(12):
        db.session.add(
            Booking(
                subscriber_id=(first, second)[n % 2] if n % 5 != 4 else None,
                pickup_text="Tajrish",
                pickup_lat=35.8,
                pickup_lon=51.43,
                pickup_at=moment - timedelta(minutes=30),
                currency="IRR",
                status="cancelled" if n == 7 else "completed",
                completed_at=None if n == 7 else moment,
                fare=None if n == 3 else 10_000 * (n + 1),
            )
        )
        moment += timedelta(days=9)
    db.session.commit()
    db.session.remove()

    upgrade()
    filled = roll_up()
    db.session.rollback()
    # The first trip (10,000) and the third (30,000, on 18 February) are the first subscriber's.
    if zone == "Asia/Tehran":
        assert filled[first, date(2025, 2, 1)] == (2, 40_000) and (first, date(2025, 1, 1)) not in filled
    else:
        assert filled[first, date(2025, 1, 1)] == (1, 10_000) and filled[first, date(2025, 2, 1)] == (1, 30_000)
    assert sum(trips for trips, _ in filled.values()) == 12 - 2 - 1  # less two callers and the cancelled one
    rebuild_months()
    db.session.commit()
    assert roll_up() == filled
