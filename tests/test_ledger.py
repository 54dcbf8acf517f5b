"""The driver ledger: exact integers, a gapless sequence, a running balance equal to the sum of its lines,
settlements that close periods once; property-tested over any sequence of trips, adjustments and settlements."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from core.extensions import db
from drivers.models import Driver
from earnings.ledger import LedgerError, adjust, append, balance, balances, lines
from earnings.models import LedgerEntry, Settlement
from earnings.settlements import settle, statement

# Noon in Tehran on 2026-11-10, and the days after it.
START = datetime(2026, 11, 10, 8, 30, tzinfo=UTC)


def day(n: int) -> date:
    return date(2026, 11, 10) + timedelta(days=n)


@pytest.fixture
def driver(app):
    driver = Driver(call_sign="L1", name="Ledger Driver", phone="+989120009999")
    db.session.add(driver)
    db.session.commit()
    return driver


def trip(driver, n: int, fare: int, commission: int, payment: str, at: datetime) -> LedgerEntry:
    amount = fare - commission if payment == "account" else -commission
    return append(
        driver.id, "trip", amount, at, fare=fare, commission=commission, payment=payment, dedupe_key=f"test:{n}"
    )


def test_lines_are_numbered_without_gaps_and_a_key_posts_once(driver):
    first = trip(driver, 1, 1_000_000, 150_000, "cash", START)
    second = trip(driver, 2, 2_000_000, 300_000, "account", START)
    again = trip(driver, 1, 1_000_000, 150_000, "cash", START)  # the same trip posted twice
    assert again.id == first.id
    assert [(e.seq, e.amount, e.balance_after) for e in lines(driver.id)] == [
        (1, -150_000, -150_000),
        (2, 1_700_000, 1_550_000),
    ]
    assert second.balance_after == balance(driver.id) == 1_550_000


@pytest.mark.parametrize(
    ("amount", "reason", "message"),
    [
        (0, "bonus", "other than zero"),
        (1.5, "bonus", "whole amount"),
        (10, "", "needs a reason"),
        (10, "x" * 501, "at most 500"),
        (10**12, "bonus", "at most"),
    ],
)
def test_a_bad_adjustment_is_refused_and_writes_nothing(driver, amount, reason, message):
    with pytest.raises(LedgerError, match=message):
        adjust(driver.id, amount, reason, None, START)
    assert lines(driver.id) == []


def test_a_correction_names_the_line_it_corrects_and_changes_nothing_else(driver):
    wrong = trip(driver, 1, 1_000_000, 150_000, "cash", START)
    fix = adjust(driver.id, 50_000, "commission was 100,000 by the contract", None, START, corrects_id=wrong.id)
    db.session.refresh(wrong)
    assert (wrong.amount, wrong.balance_after) == (-150_000, -150_000)  # the old line stands as it was
    assert (fix.corrects_id, fix.balance_after) == (wrong.id, -100_000)
    other = Driver(call_sign="L2", name="Other", phone="+989120009998")
    db.session.add(other)
    db.session.flush()
    with pytest.raises(LedgerError, match="not on this driver's ledger"):
        adjust(other.id, 10, "x", None, START, corrects_id=wrong.id)


def test_a_settlement_closes_the_period_and_later_lines_stay_for_the_next(driver):
    trip(driver, 1, 1_000_000, 150_000, "cash", START)  # day 0
    trip(driver, 2, 2_000_000, 300_000, "account", START + timedelta(days=1))  # day 1
    trip(driver, 3, 500_000, 75_000, "cash", START + timedelta(days=2))  # day 2, after the period
    now = START + timedelta(days=3)
    sheet = statement(driver.id, day(0), day(1), now)
    assert (sheet.trips, sheet.fares, sheet.commission, sheet.due) == (2, 3_000_000, 450_000, 1_550_000)
    first = settle(driver.id, day(0), day(1), "bank", "TX-1", None, now)
    assert first.paid == 1_550_000 and balance(driver.id) == -75_000  # only day 2 is left
    with pytest.raises(LedgerError, match="already settled"):
        settle(driver.id, day(1), day(2), "cash", "", None, now)
    second = settle(driver.id, day(2), day(2), "cash", "", None, now)
    assert second.paid == -75_000 and balance(driver.id) == 0


def test_a_period_not_yet_over_or_backwards_is_refused(driver):
    with pytest.raises(LedgerError, match="not ended"):
        settle(driver.id, day(0), day(5), "cash", "", None, START)
    with pytest.raises(LedgerError, match="ends before"):
        settle(driver.id, day(2), day(1), "cash", "", None, START + timedelta(days=5))
    with pytest.raises(LedgerError, match="method"):
        settle(driver.id, day(0), day(0), "cheque", "", None, START + timedelta(days=5))
    assert db.session.scalar(select(func.count()).select_from(Settlement)) == 0


def test_a_settlement_computed_on_a_ledger_that_moved_is_refused(driver):
    trip(driver, 1, 1_000_000, 150_000, "cash", START)
    with pytest.raises(LedgerError, match="changed meanwhile"):
        append(driver.id, "settlement", 150_000, START, expect_seq=1)  # seq 1 is taken: it was read stale


operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("trip"),
            st.integers(0, 6),  # the day
            st.integers(0, 50_000_000),  # the fare
            st.integers(0, 3_000),  # basis points of commission
            st.sampled_from(["cash", "account"]),
        ),
        st.tuples(st.just("adjust"), st.integers(0, 6), st.integers(-5_000_000, 5_000_000).filter(bool)),
        st.tuples(st.just("settle"), st.integers(0, 6)),
    ),
    max_size=25,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations)
def test_any_sequence_keeps_the_balance_equal_to_the_sum_of_its_lines(driver, ops):
    db.session.execute(delete(LedgerEntry))
    db.session.execute(delete(Settlement))
    settled_to = -1
    for n, op in enumerate(sorted(ops, key=lambda op: op[1])):  # the clock only moves forward
        at = START + timedelta(days=op[1], minutes=n)
        if op[0] == "trip":
            _, _, fare, basis_points, payment = op
            trip(driver, n, fare, fare * basis_points // 10_000, payment, at)
        elif op[0] == "adjust":
            adjust(driver.id, op[2], "bonus or fine", None, at)
        elif op[1] > settled_to:
            settle(driver.id, day(settled_to + 1), day(op[1]), "cash", "", None, at)
            settled_to = op[1]
    every = lines(driver.id)
    assert [e.seq for e in every] == list(range(1, len(every) + 1))  # no gap, no double
    running = 0
    for entry in every:
        running += entry.amount
        assert entry.balance_after == running
    assert balance(driver.id) == sum(e.amount for e in every)
    # Once settled, what is left is exactly the lines no settlement has covered yet: those dated after the last
    # settled day, or posted after the last settlement was made.
    last = db.session.scalar(select(Settlement).order_by(Settlement.id.desc()).limit(1))
    if last is not None:
        end = datetime(2026, 11, 10, 20, 30, tzinfo=UTC) + timedelta(days=(last.period_end - day(0)).days)
        left = [e for e in every if e.kind != "settlement" and (e.at >= end or e.seq > last.through_seq)]
        assert balance(driver.id) == sum(e.amount for e in left)
    db.session.rollback()


def test_every_drivers_balance_at_once_matches_each_balance(driver):
    other = Driver(call_sign="L3", name="Other", phone="+989120009997")
    db.session.add(other)
    db.session.flush()
    trip(driver, 1, 1_000_000, 150_000, "cash", START)
    trip(driver, 2, 1_000_000, 150_000, "account", START)
    adjust(other.id, 70_000, "bonus", None, START)
    assert balances() == {driver.id: balance(driver.id), other.id: 70_000} == {driver.id: 700_000, other.id: 70_000}
