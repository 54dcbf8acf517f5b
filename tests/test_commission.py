"""Commission plans: versioned, the most specific line applies, fees per worked day and month; a completed trip
posts its fare and commission on the driver's ledger once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from core.extensions import db
from dispatch.trips import report_progress
from drivers.models import Driver
from earnings.commission import post_fees, post_trip, publish_plan, trip_commission
from earnings.contracts import add_contract
from earnings.ledger import LedgerError, balance, lines
from earnings.models import CommissionPlan
from tests.test_feedback_loop import trip_on_the_road

NOW = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)  # noon in Tehran


def standard(valid_from=NOW, **overrides) -> CommissionPlan:
    rates = overrides.pop("rates", [{"kind": "percent", "percent_bp": 1500}])
    return publish_plan("standard", "Standard 15%", rates, valid_from, None, NOW)


def test_percent_rounds_half_up_in_integers_and_the_most_specific_line_wins(app, tehran_zones):
    airport = tehran_zones["IKA"].id
    plan = standard(
        rates=[
            {"kind": "percent", "percent_bp": 1500},
            {"kind": "percent", "percent_bp": 1000, "vehicle_class": "van"},
            {"kind": "per_trip", "amount": 400_000, "zone_id": airport},
            {"kind": "percent", "percent_bp": 2000, "vehicle_class": "premium", "zone_id": airport},
        ]
    )
    assert trip_commission(plan, 1_000_003, "sedan", None) == 150_000  # 150,000.45 → 150,000
    assert trip_commission(plan, 1_000_004, "sedan", None) == 150_001  # 150,000.6 → 150,001
    assert trip_commission(plan, 1_000_000, "van", None) == 100_000
    assert trip_commission(plan, 1_000_000, "van", airport) == 400_000  # the zone beats the class
    assert trip_commission(plan, 1_000_000, "premium", airport) == 200_000  # class and zone beat both
    assert trip_commission(None, 1_000_000, "sedan", None) == 0


@pytest.mark.parametrize(
    ("rates", "message"),
    [
        ([{"kind": "percent", "percent_bp": -5}], "percent_bp: from 0"),
        ([{"kind": "percent", "percent_bp": 9000}], "percent_bp: from 0 to 5,000"),
        ([{"kind": "per_trip", "amount": 10**12}], "amount: from 0"),
        ([{"kind": "per_trip", "amount": "ten"}], "whole number"),
        ([{"kind": "bribe", "amount": 1}], "kind: one of"),
        ([{"kind": "percent", "percent_bp": 100}, {"kind": "per_trip", "amount": 5}], "same vehicle class"),
        ([], "rates: 1 to"),
    ],
)
def test_a_negative_or_absurd_commission_is_refused(app, rates, message):
    with pytest.raises(LedgerError, match=message):
        standard(rates=rates)
    assert db.session.scalars(select(CommissionPlan)).all() == []


def test_a_new_version_closes_the_old_and_a_trip_is_charged_by_the_version_in_force(app):
    first = standard()
    twelve = [{"kind": "percent", "percent_bp": 1200}]
    second = publish_plan("standard", "Standard 12%", twelve, NOW + timedelta(days=1), None, NOW)
    assert (first.valid_to, second.version) == (NOW + timedelta(days=1), 2)
    booking = trip_on_the_road("fa")
    driver = db.session.get(Driver, booking.driver_id)
    add_contract(driver, "C-7", "standard", date(2026, 11, 1), None, "", None, NOW)
    booking.fare = 2_000_000
    entry = post_trip(booking, NOW + timedelta(hours=1))
    assert (entry.commission, entry.amount, entry.plan_id) == (300_000, -300_000, first.id)  # cash: they owe it
    with pytest.raises(LedgerError, match="after the start"):
        publish_plan("standard", "Back in time", [{"kind": "per_trip", "amount": 1}], NOW, None, NOW)


def test_completing_a_trip_posts_it_once_on_account_the_office_owes_the_rest(app):
    standard()
    booking = trip_on_the_road("fa")
    driver = db.session.get(Driver, booking.driver_id)
    add_contract(driver, "C-8", "standard", date(2026, 11, 1), None, "", None, NOW)
    booking.payment = "account"
    db.session.commit()
    report_progress(booking, "completed", NOW + timedelta(hours=2), booking.driver_id)
    db.session.commit()
    [line] = lines(driver.id)
    assert (line.kind, line.fare, line.commission, line.payment, line.amount) == (
        "trip",
        1_250_000,
        187_500,
        "account",
        1_062_500,
    )
    assert post_trip(booking, NOW + timedelta(hours=3)).id == line.id  # a second posting is the same line
    assert balance(driver.id) == 1_062_500


def test_shift_and_monthly_fees_are_posted_once_per_worked_day_and_month(app):
    publish_plan(
        "shift",
        "Shift fee",
        [{"kind": "shift_fee", "amount": 500_000}, {"kind": "monthly_fee", "amount": 2_000_000}],
        NOW - timedelta(days=30),
        None,
        NOW - timedelta(days=30),
    )
    booking = trip_on_the_road("fa")
    driver = db.session.get(Driver, booking.driver_id)
    add_contract(driver, "S-1", "shift", date(2026, 10, 1), None, "", None, NOW)
    post_trip(booking, NOW - timedelta(days=2))  # worked on the 18th
    post_trip(booking, NOW - timedelta(days=1))  # the same trip again: nothing new
    other = trip_on_the_road("fa")
    other.status, other.driver_id = "completed", driver.id  # one live job per driver: this one is over
    post_trip(other, NOW - timedelta(days=1))  # and on the 19th
    fees = post_fees(driver, date(2026, 11, 1), date(2026, 11, 30), NOW)
    again = post_fees(driver, date(2026, 11, 15), date(2026, 11, 19), NOW)
    kinds = sorted(line.reason for line in fees)
    assert kinds == ["monthly_fee 2026-11", "shift_fee 2026-11-18", "shift_fee 2026-11-19"]
    assert {line.id for line in again} <= {line.id for line in fees}
    assert sum(line.amount for line in lines(driver.id) if line.kind == "fee") == -3_000_000


def test_a_contract_needs_a_known_plan_and_dates_that_make_sense(app):
    standard()
    driver = Driver(call_sign="K1", name="Kaveh", phone="+989120007777")
    db.session.add(driver)
    db.session.flush()
    with pytest.raises(LedgerError, match="no commission plan"):
        add_contract(driver, "X", "premium-deal", date(2026, 11, 1), None, "", None, NOW)
    with pytest.raises(LedgerError, match="ends before it starts"):
        add_contract(driver, "X", "standard", date(2026, 11, 1), date(2026, 10, 1), "", None, NOW)
    with pytest.raises(LedgerError, match="in the past"):
        add_contract(driver, "X", "standard", date(2026, 1, 1), date(2026, 2, 1), "", None, NOW)
    assert driver.contract_plan is None


def test_a_settlement_covers_the_fees_of_its_own_period(app):
    from earnings.settlements import settle

    publish_plan(
        "shift",
        "Shift fee",
        [{"kind": "percent", "percent_bp": 1000}, {"kind": "shift_fee", "amount": 500_000}],
        NOW - timedelta(days=30),
        None,
        NOW - timedelta(days=30),
    )
    booking = trip_on_the_road("fa")
    driver = db.session.get(Driver, booking.driver_id)
    add_contract(driver, "S-2", "shift", date(2026, 10, 1), None, "", None, NOW)
    booking.fare = 1_000_000
    post_trip(booking, NOW - timedelta(days=1))  # the 19th: commission 100,000, cash
    settlement = settle(driver.id, date(2026, 11, 19), date(2026, 11, 19), "cash", "", None, NOW)
    assert settlement.paid == -600_000 and balance(driver.id) == 0  # the day's fee is in, nothing rolls over
