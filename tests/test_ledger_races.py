"""Never a gap, never a double, on SQLite and PostgreSQL: two admins settling one driver at once, and lines
posted from several workers at once.

Each actor runs in its own thread with its own application context, session and database connection,
released together by a barrier, as separate web requests and workers would be.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.extensions import db
from drivers.models import Driver
from earnings.ledger import LedgerError, adjust, append, lines
from earnings.models import Settlement
from earnings.settlements import settle

NOW = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)


@pytest.fixture
def driver_id(migrated_app):
    driver = Driver(call_sign="R1", name="Race Driver", phone="+989120005555")
    db.session.add(driver)
    db.session.flush()
    for n in range(3):
        append(driver.id, "trip", -150_000, NOW - timedelta(days=1), fare=1_000_000, commission=150_000,
               payment="cash", dedupe_key=f"race:{n}")  # fmt: skip
    db.session.commit()
    return driver.id


def race(app, actions) -> list[str]:
    """Run the actions in threads released together; each result is "won" or the refusal's message."""
    barrier = threading.Barrier(len(actions))
    results: list[str | None] = [None] * len(actions)

    def run(index, action):
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                action()
                db.session.commit()
                results[index] = "won"
            except LedgerError as exc:
                db.session.rollback()
                results[index] = str(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_two_admins_settling_one_driver_at_once_settle_once(migrated_app, driver_id):
    yesterday = date(2026, 11, 19)

    def settle_it():
        settle(driver_id, yesterday, yesterday, "cash", "", None, NOW)

    results = race(migrated_app, [settle_it, settle_it])
    assert sorted(r == "won" for r in results) == [False, True], results
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Settlement)) == 1
    every = lines(driver_id)
    assert [e.seq for e in every] == [1, 2, 3, 4] and every[-1].kind == "settlement"
    assert every[-1].amount == 450_000 and every[-1].balance_after == 0


def test_lines_posted_at_once_from_many_workers_leave_no_gap_and_no_double(migrated_app, driver_id):
    def bonus(n):
        return lambda: adjust(driver_id, 10_000 + n, f"bonus {n}", None, NOW)

    results = race(migrated_app, [bonus(n) for n in range(4)])
    assert results == ["won"] * 4, results
    db.session.expire_all()
    every = lines(driver_id)
    assert [e.seq for e in every] == list(range(1, 8))
    running = 0
    for entry in every:
        running += entry.amount
        assert entry.balance_after == running
    assert running == -450_000 + sum(10_000 + n for n in range(4))
