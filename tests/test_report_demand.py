"""The demand report against small hand-worked data sets: bookings per weekday and hour on Tehran's clock, and the
forecast of next week (seasonal average × linear trend) with its backtested WAPE."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from flask_babel import force_locale

from core.extensions import db
from dispatch.models import Booking
from reports import demand
from reports.base import Period

TEHRAN = "Asia/Tehran"  # +03:30 all year since 2022
LAST = date(2025, 5, 9)  # a Friday: the weeks below run Saturday to Friday


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


def tehran(day: date, hour: int, minute: int = 0) -> datetime:
    """A Tehran wall-clock moment (+03:30), as UTC."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC) - timedelta(hours=3, minutes=30)


def booked(*moments: datetime, status: str = "requested") -> None:
    """Bookings created at these moments."""
    for moment in moments:
        db.session.add(
            Booking(
                pickup_text="Vanak",
                pickup_lat=35.76,
                pickup_lon=51.41,
                pickup_at=moment,
                currency="IRR",
                status=status,
                created_at=moment,
            )
        )
    db.session.commit()


def cell(report, weekday: int, hour: int) -> dict:
    """The table row of a weekday (0 = Saturday) and hour."""
    row = report.rows[weekday * 24 + hour]
    assert row["weekday"] == str(demand.WEEKDAYS[weekday]) and row["hour"] == f"{hour:02d}"
    return row


def test_bookings_are_counted_by_tehran_weekday_and_hour(app):
    booked(
        utc(2025, 5, 2, 20, 40),  # Sat 3 May 00:10 in Tehran: the period's first minutes
        utc(2025, 5, 2, 20, 20),  # Fri 2 May 23:50 in Tehran: the day before the period (the week before)
        utc(2025, 5, 9, 20, 29),  # Fri 9 May 23:59 in Tehran: the period's last minute
        utc(2025, 5, 9, 20, 30),  # Sat 10 May 00:00 in Tehran: after the period
        utc(2025, 5, 5, 4, 29),  # Mon 07:59 in Tehran
        utc(2025, 5, 5, 5, 0),  # Mon 08:30 in Tehran
    )
    booked(utc(2025, 5, 5, 5, 0), status="cancelled")  # every booking created counts, whatever became of it

    report = demand.build(Period(date(2025, 5, 3), LAST, TEHRAN))

    assert report.name == "demand"
    assert report.chart["type"] == "heatmap"
    assert report.chart["rows"] == ["Saturday", "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
    assert report.chart["cols"] == [f"{h:02d}" for h in range(24)]
    values = report.chart["values"]
    assert (values[0][0], values[6][23], values[2][7], values[2][8]) == (1, 1, 1, 2)
    assert sum(map(sum, values)) == 5  # the two bookings outside the period are not in it
    assert len(report.rows) == 168
    assert [r["bookings"] for r in report.rows if r["bookings"]] == [1, 1, 2, 1]  # Sat 00, Mon 07, Mon 08, Fri 23
    assert cell(report, 2, 8)["bookings"] == 2
    assert report.summary["bookings"] == 5
    assert list(report.summary) == [c.key for c in demand.SUMMARY]

    # The forecast, by hand. Week 0 (3–9 May) holds Sat 00, Mon 07, Mon 08 ×2, Fri 23: 5 bookings; week 1
    # (26 Apr–2 May) holds Fri 23: 1 booking; weeks 2–11 are empty, before the records begin, so N = 2.
    # Totals oldest first (x = 1, 2): 1, 5. Mean 3, slope ((-0.5)(-2) + (0.5)(2)) / 0.5 = 4; next week (x = 3):
    # 3 + 4 × 1.5 = 9, so the factor is 9 / 3 = 3. Averages: Sat 00 0.5, Mon 07 0.5, Mon 08 1, Fri 23 1.
    assert (cell(report, 0, 0)["average"], cell(report, 0, 0)["forecast"]) == (0.5, 1.5)
    assert (cell(report, 2, 7)["average"], cell(report, 2, 7)["forecast"]) == (0.5, 1.5)
    assert (cell(report, 2, 8)["average"], cell(report, 2, 8)["forecast"]) == (1.0, 3.0)
    assert (cell(report, 6, 23)["average"], cell(report, 6, 23)["forecast"]) == (1.0, 3.0)
    assert sum(r["forecast"] for r in report.rows) == 9
    assert report.summary["weeks_averaged"] == 2
    assert report.summary["trend"] == 3.0
    assert report.summary["forecast_total"] == 9
    # Backtest: week 0 forecast from week 1 alone is Fri 23 = 1. Errors: Sat 00 1, Mon 07 1, Mon 08 2, Fri 23 0
    # = 4, over 5 actual bookings: WAPE 80%. Week 1 has no week before it to be forecast from.
    assert report.summary["wape"] == 80.0
    assert report.summary["weeks_backtested"] == 1

    forecast = report.chart["forecast"]
    assert forecast["type"] == "line" and forecast["x"] == "text"
    assert len(forecast["labels"]) == 168
    assert (forecast["labels"][0], forecast["labels"][56], forecast["labels"][167]) == ("Sat 00", "Mon 08", "Fri 23")
    assert forecast["series"][0]["data"][56] == 3.0
    assert forecast["series"][1]["data"][56] == 1.0


def test_the_night_tehran_turned_its_clocks_back(app):
    # 22 September 2021 00:00 (+04:30) became 21 September 23:00 (+03:30), at 19:30 UTC: the hour 23:00–24:00 of
    # Tuesday 21 September happened twice.
    booked(
        utc(2021, 9, 21, 19, 0),  # 23:30 +04:30
        utc(2021, 9, 21, 20, 0),  # 23:30 +03:30, the second time round
        utc(2021, 9, 21, 20, 30),  # Wednesday 00:00 +03:30
        utc(2021, 9, 21, 18, 0),  # 22:30 +04:30
    )

    report = demand.build(Period(date(2021, 9, 18), date(2021, 9, 24), TEHRAN))

    values = report.chart["values"]
    assert (values[3][22], values[3][23], values[4][0]) == (1, 2, 1)  # Tuesday 22, Tuesday 23, Wednesday 00


def test_a_constant_week_is_forecast_exactly(app):
    first = LAST - timedelta(days=55)  # Saturday 15 March: 8 whole weeks
    for week in range(8):
        sunday, wednesday = first + timedelta(days=7 * week + 1), first + timedelta(days=7 * week + 4)
        booked(tehran(sunday, 10, 15), tehran(sunday, 10, 45), tehran(wednesday, 18))

    report = demand.build(Period(first, LAST, TEHRAN))

    # Every week: Sunday 10:00–11:00 twice, Wednesday 18:00–19:00 once. Flat totals (3 a week): slope 0, factor 1.
    assert report.chart["values"][1][10] == 16 and report.chart["values"][4][18] == 8
    assert (cell(report, 1, 10)["average"], cell(report, 1, 10)["forecast"]) == (2.0, 2.0)
    assert (cell(report, 4, 18)["average"], cell(report, 4, 18)["forecast"]) == (1.0, 1.0)
    assert sum(r["forecast"] for r in report.rows) == 3
    assert report.summary["weeks_averaged"] == 8
    assert report.summary["trend"] == 1.0
    # Each of the last 4 weeks, forecast from the 7, 6, 5 and 4 weeks before it, is exact.
    assert report.summary["wape"] == 0.0
    assert report.summary["weeks_backtested"] == 4


def test_a_growing_week_is_forecast_along_its_trend(app):
    first = LAST - timedelta(days=27)  # Saturday 12 April: 4 whole weeks
    for week in range(4):  # the k-th week (k = 1 … 4): k bookings Tuesday 09:xx, 2k Thursday 20:xx
        k = week + 1
        tuesday, thursday = first + timedelta(days=7 * week + 3), first + timedelta(days=7 * week + 5)
        booked(*[tehran(tuesday, 9, 5 * i) for i in range(k)], *[tehran(thursday, 20, 5 * i) for i in range(2 * k)])

    report = demand.build(Period(first, LAST, TEHRAN))

    # Totals 3, 6, 9, 12 (x = 1 … 4): mean 7.5, slope 3, next week 7.5 + 3 × 2.5 = 15: factor 2.
    # Averages Tuesday 09 (1+2+3+4)/4 = 2.5 and Thursday 20 5: forecasts 5 and 10.
    assert (cell(report, 3, 9)["average"], cell(report, 3, 9)["forecast"]) == (2.5, 5.0)
    assert (cell(report, 5, 20)["average"], cell(report, 5, 20)["forecast"]) == (5.0, 10.0)
    assert report.summary["trend"] == 2.0
    assert report.summary["forecast_total"] == 15
    # Backtest. Week 4 from weeks 1–3 (totals 3, 6, 9 → 12, factor 2 on averages 2 and 4): 4 and 8, exact.
    # Week 3 from weeks 1–2 (3, 6 → 9, factor 2 on 1.5 and 3): 3 and 6, exact. Week 2 from week 1 alone (no
    # trend from one week): 1 and 2 against 2 and 4, errors 1 + 2 = 3. Week 1 has nothing before it.
    # WAPE = 3 / (12 + 9 + 6) = 11.1%.
    assert report.summary["wape"] == 11.1
    assert report.summary["weeks_backtested"] == 3


def test_a_quiet_week_in_the_records_counts_as_zero(app):
    saturday = LAST - timedelta(days=6)
    # Three bookings on Saturday noon 2 weeks ago and this week; none the week between.
    booked(*[tehran(saturday - timedelta(days=14), 12, i) for i in range(3)])
    booked(*[tehran(saturday, 12, i) for i in range(3)])

    report = demand.build(Period(saturday, LAST, TEHRAN))

    # Three weeks from the first booking: totals 3, 0, 3, mean 2, slope 0. Averaged over 2 weeks it would be 3.
    assert report.summary["weeks_averaged"] == 3
    assert (cell(report, 0, 12)["average"], cell(report, 0, 12)["forecast"]) == (2.0, 2.0)
    # Backtest: week 0 from weeks 1–2 (totals 3, 0: mean 1.5, slope -3, 1.5 - 3 × 1.5 < 0: nothing): error 3 of
    # 3 actual. Week 1 from week 2 (3 at Sat 12): error 3, actual 0. WAPE = 6 / 3 = 200%.
    assert report.summary["wape"] == 200.0
    assert report.summary["weeks_backtested"] == 2


def test_falling_demand_is_forecast_as_none_rather_than_negative(app):
    week = [0] * 168
    older, newer = list(week), list(week)
    older[12], newer[12] = 10, 2  # Saturday 12:00: 10 then 2
    forecast, average, factor = demand.forecast_week([newer, older])
    # Totals 10, 2: mean 6, slope -8; next week 6 - 8 × 1.5 = -6, held at 0.
    assert factor == 0.0
    assert average[12] == 6.0
    assert forecast == [0.0] * 168


def test_no_bookings_give_an_empty_forecast(app):
    report = demand.build(Period(date(2025, 5, 3), LAST, TEHRAN))
    assert report.summary["bookings"] == 0
    assert report.summary["weeks_averaged"] == 0
    assert report.summary["wape"] is None
    assert {r["forecast"] for r in report.rows} == {0.0}
