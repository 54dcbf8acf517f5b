"""Demand by hour of the week: when bookings come in, and a forecast of next week from the weeks before it.

Every booking created counts (whatever became of it), on the office's clock. The forecast is a seasonal
average with a trend: each hour of the week is the average of the same hour over the last weeks, scaled by
where a straight line through those weeks' totals says next week's total will be. Its error is measured by
forecasting each of the last few weeks from the weeks before it, the same way, and comparing.
"""

from __future__ import annotations

from datetime import UTC, date, timedelta
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l

from core.timewindows import office_midnight
from dispatch.models import Booking
from reports.base import Column, Period, Report, hourly_counts, share

HISTORY_WEEKS = 8  # weeks averaged for a forecast
BACKTEST_WEEKS = 4  # past weeks forecast again to measure the error
HOURS = [f"{hour:02d}" for hour in range(24)]
# Iranian weeks start on Saturday.
WEEKDAYS = (_l("Saturday"), _l("Sunday"), _l("Monday"), _l("Tuesday"), _l("Wednesday"), _l("Thursday"), _l("Friday"))
SHORT_WEEKDAYS = (_l("Sat"), _l("Sun"), _l("Mon"), _l("Tue"), _l("Wed"), _l("Thu"), _l("Fri"))
CELLS = 7 * 24

# The figures above the table: summary key, label and kind (for the catalog's entry).
SUMMARY = (
    Column("bookings", _l("Bookings")),
    Column("weeks_averaged", _l("Weeks averaged for the forecast")),
    Column("trend", _l("Trend factor for next week"), "decimal"),
    Column("forecast_total", _l("Bookings forecast next week")),
    Column("wape", _l("Forecast error (WAPE)"), "percent"),
    Column("weeks_backtested", _l("Weeks the error is measured on")),
)

COLUMNS = [
    Column("weekday", _l("Weekday"), "text"),
    Column("hour", _l("Hour"), "text"),
    Column("bookings", _l("Bookings"), "count"),
    Column("average", _l("Average per week"), "decimal"),
    Column("forecast", _l("Forecast next week"), "decimal"),
]


def weekday_row(day: date) -> int:
    """The row of a day in a Saturday-first week (Saturday 0 … Friday 6)."""
    return (day.weekday() + 2) % 7


def forecast_week(history: list[list[int]]) -> tuple[list[float], list[float], float]:
    """Next week per hour of the week from past weeks (newest first, 168 cells each): (forecast, average, factor)."""
    weeks = len(history)
    if not weeks:
        return [0.0] * CELLS, [0.0] * CELLS, 1.0
    average = [sum(cell) / weeks for cell in zip(*history, strict=True)]
    totals = [sum(week) for week in reversed(history)]  # oldest first: x = 1 … weeks
    mean = sum(totals) / weeks
    if not mean:
        return [0.0] * CELLS, average, 1.0
    x_mean = (weeks + 1) / 2
    spread = sum((x - x_mean) ** 2 for x in range(1, weeks + 1))
    slope = sum((x - x_mean) * (t - mean) for x, t in enumerate(totals, start=1)) / spread if spread else 0.0
    # Demand cannot be negative, however steep the fall.
    factor = max(0.0, mean + slope * (weeks + 1 - x_mean)) / mean
    return [a * factor for a in average], average, factor


def backtest(weeks: list[list[int]], tries: int = BACKTEST_WEEKS) -> tuple[float | None, int]:
    """WAPE (%) of forecasting each of the newest ``tries`` weeks from those before it, and how many were tried."""
    error = actual = tried = 0
    for target in range(min(tries, len(weeks) - 1)):
        predicted, _, _ = forecast_week(weeks[target + 1 : target + 1 + HISTORY_WEEKS])
        error += sum(abs(a - f) for a, f in zip(weeks[target], predicted, strict=True))
        actual += sum(weeks[target])
        tried += 1
    return share(error, actual), tried


def _bookings_by_office_hour(first: date, period: Period) -> dict[tuple[date, int], int]:
    """Bookings created from office day ``first`` to the period's end, per office day and hour."""
    zone = ZoneInfo(period.zone)
    start = office_midnight(first, period.zone).astimezone(UTC)
    # The office's hours are whole hours from its midnight, in UTC too, whenever its clocks move by whole hours
    # (Tehran's did, and every zone's but Lord Howe Island's); the hour the clocks go back happens twice and
    # counts twice in its cell, as the office lived it twice.
    hours = -(-int((period.end - start).total_seconds()) // 3600)
    counted: dict[tuple[date, int], int] = {}
    for n, bookings in hourly_counts(Booking.created_at, start, hours).items():
        local = (start + timedelta(hours=n)).astimezone(zone)
        key = (local.date(), local.hour)
        counted[key] = counted.get(key, 0) + bookings
    return counted


def build(period: Period) -> Report:
    """Bookings per weekday and hour in the period, and next week's forecast with its measured error."""
    kept = HISTORY_WEEKS + BACKTEST_WEEKS
    history_first = period.last - timedelta(days=7 * kept - 1)
    counts = _bookings_by_office_hour(min(period.first, history_first), period)

    actual = [[0] * 24 for _ in range(7)]
    # weeks[0] is the 7 office days ending on period.last, weeks[1] the 7 before, and so on.
    weeks = [[0] * CELLS for _ in range(kept)]
    for (day, hour), bookings in counts.items():
        row = weekday_row(day)
        if day >= period.first:
            actual[row][hour] += bookings
        age = (period.last - day).days // 7
        if age < kept:
            weeks[age][row * 24 + hour] += bookings
    # The records begin with the oldest week that has a booking: empty weeks before it predate the office's use
    # of Cabdesk, and averaging them in as zeros would pull the forecast down.
    available = next((age + 1 for age in reversed(range(kept)) if any(weeks[age])), 0)
    weeks = weeks[:available]

    history = weeks[:HISTORY_WEEKS]
    forecast, average, factor = forecast_week(history)
    wape, tried = backtest(weeks)

    rows = [
        {
            "weekday": str(WEEKDAYS[row]),
            "hour": HOURS[hour],
            "bookings": actual[row][hour],
            "average": round(average[row * 24 + hour], 1),
            "forecast": round(forecast[row * 24 + hour], 1),
        }
        for row in range(7)
        for hour in range(24)
    ]
    chart = {
        "type": "heatmap",
        "rows": [str(day) for day in WEEKDAYS],
        "cols": HOURS,
        "values": actual,
        "x": "text",
        "forecast": {
            "type": "line",
            "labels": [f"{short} {hour}" for short in SHORT_WEEKDAYS for hour in HOURS],
            "series": [
                {"label": str(_l("Forecast next week")), "data": [round(f, 1) for f in forecast]},
                {"label": str(_l("Average per week")), "data": [round(a, 1) for a in average]},
            ],
            "x": "text",
            "stacked": False,
        },
    }
    summary = {
        "bookings": sum(map(sum, actual)),
        "weeks_averaged": len(history),
        "trend": round(factor, 2),
        "forecast_total": round(sum(forecast)),
        "wape": wape,
        "weeks_backtested": tried,
    }
    return Report("demand", COLUMNS, rows, chart, summary)
