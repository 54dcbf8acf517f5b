"""The customer reports against small hand-worked data sets: monthly retention by tier, cohorts by first trip, and
the revenue Pareto, with months and periods read on Tehran's clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from flask_babel import force_locale

from core.extensions import db
from crm.activity import rebuild_months
from crm.models import Subscriber
from dispatch.models import Booking
from reports import customers
from reports.base import Period

TEHRAN = "Asia/Tehran"  # +03:30 all year since 2022


@pytest.fixture
def app(migrated_app):
    """Each test on SQLite and on PostgreSQL (whose sessions run on Tehran time): the reports' SQL is for both."""
    return migrated_app


@pytest.fixture(autouse=True)
def english(app):
    """Labels in English, as a supervisor who chose English would read them."""
    with force_locale("en"):
        yield


def utc(*parts) -> datetime:
    """A UTC moment."""
    return datetime(*parts, tzinfo=UTC)


def subscriber(name: str, tier: str) -> Subscriber:
    """A subscriber of a tier."""
    person = Subscriber(name=name, tier=tier)
    db.session.add(person)
    db.session.flush()
    return person


def trip(person: Subscriber | None, completed: datetime, fare: int | None = 1_000_000, status: str = "completed"):
    """A booking of a subscriber (or of no one) that ended at ``completed``."""
    db.session.add(
        Booking(
            subscriber_id=person.id if person else None,
            pickup_text="Tajrish",
            pickup_lat=35.8,
            pickup_lon=51.43,
            pickup_at=completed - timedelta(minutes=30),
            created_at=completed - timedelta(minutes=40),
            completed_at=completed if status == "completed" else None,
            currency="IRR",
            status=status,
            fare=fare,
        )
    )


@pytest.fixture
def months(app):
    """Trips of December 2024 to April 2025, chosen so that each month's customers are known by hand.

    Active per month (a completed trip in it, on Tehran's clock):
      January:  platinum P1 P2, gold G2, iron I1
      February: platinum P1, gold G1 G2, iron I1 N2, lead L1
      March:    platinum P1, gold G1, lead L1 N1
    """
    p1, p2 = subscriber("P1", "platinum"), subscriber("P2", "platinum")
    g1, g2 = subscriber("G1", "gold"), subscriber("G2", "gold")
    i1, n2 = subscriber("I1", "iron"), subscriber("N2", "iron")
    l1, n1 = subscriber("L1", "lead"), subscriber("N1", "lead")
    for moment in (utc(2025, 1, 10, 9), utc(2025, 2, 5, 9), utc(2025, 3, 3, 9)):
        trip(p1, moment)
    trip(p2, utc(2024, 12, 20, 9))
    trip(p2, utc(2025, 1, 20, 9))
    trip(p2, utc(2025, 3, 31, 20, 40))  # 1 April 00:10 in Tehran: not March
    trip(g1, utc(2025, 1, 31, 20, 40))  # 1 February 00:10 in Tehran: February, G1's first trip
    trip(g1, utc(2025, 3, 20, 9))
    trip(g2, utc(2025, 1, 5, 9))
    trip(g2, utc(2025, 2, 14, 9))
    trip(g2, utc(2025, 2, 20, 9))  # a second trip in the month: still one customer
    trip(i1, utc(2025, 1, 3, 9))
    trip(i1, utc(2025, 1, 31, 20, 30))  # 1 February 00:00 in Tehran: the month's first moment
    trip(i1, utc(2025, 3, 3, 9), status="cancelled")  # not a trip
    trip(n2, utc(2025, 2, 25, 9))
    trip(l1, utc(2025, 2, 10, 9))
    trip(l1, utc(2025, 3, 10, 9))
    trip(n1, utc(2025, 3, 15, 9))
    trip(None, utc(2025, 2, 12, 9))  # a caller who is no subscriber
    rebuild_months()  # written as bookings, not completed through dispatch: the roll-up the reports read
    db.session.commit()


def test_retention_per_month_and_tier(months, backend):
    # 10 February to 5 March: February and March, each counted whole, compared with the month before.
    period = Period(date(2025, 2, 10), date(2025, 3, 5), TEHRAN)
    # January to March is most of the records: SQLite reads the table in one pass (PostgreSQL's planner decides).
    assert customers._narrow(utc(2024, 12, 31, 20, 30), utc(2025, 3, 31, 20, 30)) is (backend == "postgres")
    report = customers.retention(period)

    assert report.name == "retention"
    table = [
        (r["month"], r["tier"], r["active_before"], r["active"], r["retained"], r["retention"], r["churn"])
        for r in report.rows
    ]
    assert table == [
        ("2025-02", "platinum", 2, 1, 1, 50.0, 50.0),  # P1 P2 → P1
        ("2025-02", "gold", 1, 2, 1, 100.0, 0.0),  # G2 → G2 (G1 is new)
        ("2025-02", "iron", 1, 2, 1, 100.0, 0.0),  # I1 → I1 at midnight (N2 is new)
        ("2025-02", "lead", 0, 1, 0, None, None),  # nobody the month before
        ("2025-03", "platinum", 1, 1, 1, 100.0, 0.0),  # P1 → P1 (P2's trip ended in April)
        ("2025-03", "gold", 2, 1, 1, 50.0, 50.0),  # G1 G2 → G1
        ("2025-03", "iron", 2, 0, 0, 0.0, 100.0),  # I1 N2 → nobody (I1's booking was cancelled)
        ("2025-03", "lead", 1, 2, 1, 100.0, 0.0),  # L1 → L1 (N1 is new)
    ]
    # All tiers: retained 1+1+1+0+1+1+0+1 = 6 of 2+1+1+0+1+2+2+1 = 10 active the month before: 60%.
    assert list(report.summary) == [c.key for c in customers.RETENTION_SUMMARY]
    assert report.summary["retention"] == 60.0
    assert report.summary["churn"] == 40.0
    assert report.chart["type"] == "line" and report.chart["x"] == "month"
    assert report.chart["labels"] == ["2025-02", "2025-03"]
    assert {s["label"]: s["data"] for s in report.chart["series"]} == {
        "platinum": [50.0, 100.0],
        "gold": [100.0, 50.0],
        "iron": [100.0, 0.0],
        "lead": [None, 100.0],
    }


def test_cohorts_by_month_of_first_trip(months):
    report = customers.cohorts(Period(date(2025, 2, 10), date(2025, 3, 5), TEHRAN))

    # Everyone who travelled in January or before is no one's new customer. February's newcomers: G1 (on
    # Tehran's clock), N2, L1; in March G1 and L1 travel again: 2 of 3. March's newcomer: N1.
    assert report.name == "cohorts"
    assert report.summary == {"new_customers": 4}
    assert [c.key for c in customers.COHORTS_SUMMARY] == ["new_customers"]
    assert report.rows == [
        {"cohort": "2025-02", "customers": 3, "month_0": 100.0, "month_1": 66.7},
        {"cohort": "2025-03", "customers": 1, "month_0": 100.0, "month_1": None},
    ]
    assert [c.key for c in report.columns] == ["cohort", "customers", "month_0", "month_1"]
    assert report.chart == {
        "type": "heatmap",
        "rows": ["2025-02", "2025-03"],
        "cols": ["+0", "+1"],
        "values": [[100.0, 66.7], [100.0, None]],
    }


@pytest.fixture
def spenders(app):
    """Trips of 3–9 May 2025 on Tehran's clock, and some that must not count."""
    a, b = subscriber("Arash", "gold"), subscriber("Bahar", "platinum")
    # Elham before Dina: so their tie on revenue is broken by trips, not by who came first.
    c, e, d = subscriber("Cyrus", "lead"), subscriber("Elham", "lead"), subscriber("Dina", "iron")
    trip(a, utc(2025, 5, 4, 9), 3_000_000)
    trip(a, utc(2025, 5, 6, 9), 2_000_000)
    trip(b, utc(2025, 5, 5, 9), 4_000_000)
    trip(c, utc(2025, 5, 5, 9), None)  # a trip with no fare recorded: a customer bringing nothing
    trip(d, utc(2025, 5, 2, 20, 40), 500_000)  # 3 May 00:10 in Tehran: in the period
    trip(d, utc(2025, 5, 7, 9), 1_000_000)
    trip(d, utc(2025, 5, 2, 20, 20), 7_000_000)  # 2 May 23:50 in Tehran: before it
    trip(d, utc(2025, 5, 9, 20, 30), 7_000_000)  # 10 May 00:00 in Tehran: after it
    trip(d, utc(2025, 5, 7, 10), 9_000_000, status="cancelled")
    trip(e, utc(2025, 5, 8, 9), 1_500_000)
    trip(None, utc(2025, 5, 8, 9), 8_000_000)
    trip(e, utc(2020, 1, 4, 9), 9_000_000)  # years before: the week is a small part of the records
    db.session.commit()
    return a, b, c, d, e


MAY_WEEK = Period(date(2025, 5, 3), date(2025, 5, 9), TEHRAN)


def test_pareto_ranks_customers_by_revenue(spenders):
    a, b, c, d, e = spenders
    assert customers._narrow(MAY_WEEK.start, MAY_WEEK.end)  # read through the completed_at index
    report = customers.pareto(MAY_WEEK)

    # Revenue: Arash 5.0M (2 trips), Bahar 4.0M, Dina 1.5M (2 trips), Elham 1.5M (1 trip: after Dina), Cyrus 0.
    # Total 12.0M; running totals 5.0, 9.0, 10.5, 12.0, 12.0 → 41.7%, 75%, 87.5%, 100%, 100%.
    assert report.name == "pareto"
    assert [
        (r["rank"], r["subscriber_id"], r["name"], r["tier"], r["trips"], r["revenue"], r["cumulative_share"])
        for r in report.rows
    ] == [
        (1, a.id, "Arash", "gold", 2, 5_000_000, 41.7),
        (2, b.id, "Bahar", "platinum", 1, 4_000_000, 75.0),
        (3, d.id, "Dina", "iron", 2, 1_500_000, 87.5),
        (4, e.id, "Elham", "lead", 1, 1_500_000, 100.0),
        (5, c.id, "Cyrus", "lead", 1, 0, 100.0),
    ]
    # The top 20% of 5 customers is ceil(1.0) = 1 customer: Arash, 5.0M of 12.0M.
    assert list(report.summary) == [c.key for c in customers.PARETO_SUMMARY]
    assert report.summary == {
        "customers": 5,
        "revenue": 12_000_000,
        "top_customers": 1,
        "top_share": 41.7,
    }
    # Few customers: one step each.
    assert report.chart["labels"] == ["0%", "20%", "40%", "60%", "80%", "100%"]
    assert report.chart["series"][0]["data"] == [0.0, 41.7, 75.0, 87.5, 100.0, 100.0]
    assert report.chart["x"] == "text"


def test_pareto_table_is_capped_but_the_summary_counts_everyone(spenders, monkeypatch):
    monkeypatch.setattr(customers, "PARETO_ROWS", 2)
    report = customers.pareto(MAY_WEEK)
    assert [r["name"] for r in report.rows] == ["Arash", "Bahar"]
    assert report.summary["customers"] == 5
    assert report.summary["revenue"] == 12_000_000


@pytest.mark.parametrize("table_rows", [1000, 3])
def test_pareto_curve_in_steps_of_five_percent(app, monkeypatch, table_rows):
    # 42 customers; the i-th spends i × 1,000 rials (i = 1 … 42). Total 903 × 1,000. With a table of 3 rows, the
    # curve and the top 20% still count every customer.
    monkeypatch.setattr(customers, "PARETO_ROWS", table_rows)
    for i in range(1, 43):
        trip(subscriber(f"S{i}", "lead"), utc(2025, 5, 5, 9), i * 1_000)
    db.session.commit()

    report = customers.pareto(MAY_WEEK)

    assert len(report.rows) == min(table_rows, 42)
    assert report.summary["customers"] == 42

    labels, data = report.chart["labels"], report.chart["series"][0]["data"]
    assert labels == ["0%"] + [f"{p}%" for p in range(5, 101, 5)]
    # 5% of 42 = 2.1, rounded up to the top 3: 42 + 41 + 40 = 123 → 13.6%. 50% = the top 21: 42 + … + 22 = 672
    # → 74.4%.
    assert (data[0], data[1], data[10], data[20]) == (0.0, 13.6, 74.4, 100.0)
    # The top 20% = ceil(8.4) = 9 customers: 42 + … + 34 = 342 → 37.9%.
    assert report.summary["top_customers"] == 9
    assert report.summary["top_share"] == 37.9


def test_the_top_fifth_of_fifteen_is_three(app):
    # 15 customers spending 1,000 each: the top 20% is exactly 3 of them (3,000 of 15,000).
    for i in range(15):
        trip(subscriber(f"S{i}", "lead"), utc(2025, 5, 5, 9), 1_000)
    db.session.commit()

    report = customers.pareto(MAY_WEEK)

    assert report.summary["top_customers"] == 3
    assert report.summary["top_share"] == 20.0
    # Few customers: one step each, at 1/15 = 6.7%, 2/15 = 13.3%, … of customers, each 6.7% more of the revenue.
    assert report.chart["labels"][:4] == ["0%", "6.7%", "13.3%", "20%"]
    assert report.chart["series"][0]["data"][:4] == [0.0, 6.7, 13.3, 20.0]
    assert len(report.chart["labels"]) == 16


def test_no_trips_no_shares(app):
    report = customers.pareto(MAY_WEEK)
    assert report.rows == []
    assert report.summary["customers"] == 0
    assert report.summary["top_share"] is None
    assert report.chart["series"][0]["data"] == [None]
    retention = customers.retention(MAY_WEEK)
    assert {r["retention"] for r in retention.rows} == {None}
