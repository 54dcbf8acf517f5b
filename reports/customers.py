"""Customers over time: who keeps travelling month to month (by tier and by cohort), and who brings the revenue.

A trip is a completed booking of a subscriber, dated by when it was completed, on the office's clock. Months are
Gregorian calendar months of the office's clock; every month with a day in the period is counted whole, so that a
period starting mid-month does not show half a month of customers as churn. Retention and cohorts read the monthly
roll-up kept as trips complete (crm.activity); the Pareto sums any range of days, so it reads the bookings.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, literal, or_, select, union_all
from sqlalchemy.orm import aliased

from core.database import unindexed
from core.extensions import db
from crm.models import Subscriber, SubscriberMonth, Tier
from dispatch.models import Booking, BookingStatus
from reports.base import Column, Period, Report, share

TIERS = (Tier.PLATINUM, Tier.GOLD, Tier.IRON, Tier.LEAD)
TIER_LABELS = {Tier.PLATINUM: _l("platinum"), Tier.GOLD: _l("gold"), Tier.IRON: _l("iron"), Tier.LEAD: _l("lead")}
PARETO_ROWS = 1000  # the table's rows; the summary and chart count every customer
TOP_PERCENT = 20
# Reading this share of the table through an index costs about what one pass over all of it does (SQLite).
INDEX_SHARE = 0.1

# The figures above each report's table: summary key, label and kind (for the catalog's entries).
RETENTION_SUMMARY = (
    Column("retention", _l("Retention, all tiers"), "percent"),
    Column("churn", _l("Churn, all tiers"), "percent"),
)
COHORTS_SUMMARY = (Column("new_customers", _l("New customers")),)
PARETO_SUMMARY = (
    Column("customers", _l("Customers")),
    Column("revenue", _l("Revenue"), "money"),
    Column("top_customers", _l("Customers in the top fifth")),
    Column("top_share", _l("Revenue share of the top fifth of customers"), "percent"),
)


def month_starts(period: Period) -> list[date]:
    """The first day of every month with a day in the period, after the first day of the month before them."""
    first = date(period.first.year, period.first.month, 1)
    months = [_add_months(first, -1)]
    while months[-1] <= period.last:
        months.append(_add_months(months[-1], 1))
    return months  # the last entry is the start of the month after the period: an end bound, not a month


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _trips(start: datetime, end: datetime):
    """Who travelled from ``start`` to ``end``, and the conditions that make a booking their completed trip then."""
    # Most bookings are completed trips of subscribers: SQLite must not walk the status index to most of the table in
    # random order. For a short period the completed_at index pays; SQLite keeps no statistics of ranges and cannot
    # tell a week from the whole table, so past a small share of the span the (subscriber, status, completed_at,
    # fare) index is read whole instead: it holds every value asked for, in the order the trips are grouped in.
    narrow = _narrow(start, end)
    subscriber = unindexed(Booking.subscriber_id) if narrow else Booking.subscriber_id
    completed = Booking.completed_at if narrow else unindexed(Booking.completed_at)
    return subscriber, (
        unindexed(Booking.status) == BookingStatus.COMPLETED,
        subscriber.is_not(None),
        completed >= start,
        completed < end,
    )


def _narrow(start: datetime, end: datetime) -> bool:
    """Whether start–end is a small part of the time the trips span (always, for planners that keep statistics)."""
    if db.session.get_bind().dialect.name != "sqlite":
        return True
    first = db.session.scalar(select(func.min(Booking.completed_at)))
    last = db.session.scalar(select(func.max(Booking.completed_at)))
    if first is None or last <= first:
        return True
    overlap = max(timedelta(0), min(end, last) - max(start, first))
    return overlap <= INDEX_SHARE * (last - first)


def _months_travelled(starts: list[date]):
    """Each customer with a trip from starts[0] to starts[-1], and the months they travelled in, as bits (2**index)."""
    # One number per customer: the database groups the period's rows once per customer, and only the few distinct
    # patterns of months come back (per tier) instead of a row per customer and month. A SELECT per month, each
    # reading its stretch of the (month, subscriber) index, costs SQLite less than a CASE naming each row's month.
    months = union_all(
        *(
            select(SubscriberMonth.subscriber_id, literal(1 << index).label("bit")).where(
                SubscriberMonth.month == start
            )
            for index, start in enumerate(starts[:-1])
        )
    ).subquery("months")
    return select(months.c.subscriber_id, func.sum(months.c.bit).label("months")).group_by(months.c.subscriber_id)


def _bits(months: int, count: int) -> list[int]:
    """The indexes of the months set in ``months`` (a sum of distinct powers of two), in order."""
    return [index for index in range(count) if months >> index & 1]


def _month_label(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def retention(period: Period) -> Report:
    """Per month and tier: customers who travelled the month before, how many travelled again, retention and churn."""
    starts = month_starts(period)
    per_customer = _months_travelled(starts).subquery("per_customer")
    found = db.session.execute(
        select(Subscriber.tier, per_customer.c.months, func.count())
        .join(per_customer, per_customer.c.subscriber_id == Subscriber.id)
        .group_by(Subscriber.tier, per_customer.c.months)
    ).all()
    months = starts[1:-1]
    tiers = list(TIERS) + sorted({tier for tier, _, _ in found} - set(TIERS))
    travelled = {(m, tier): 0 for m in range(len(starts) - 1) for tier in tiers}
    kept = dict(travelled)
    for tier, bits, customers in found:
        active = set(_bits(bits, len(starts) - 1))
        for m in active:
            travelled[m, tier] += customers
            if m - 1 in active:
                kept[m, tier] += customers

    table, series = [], {tier: [] for tier in tiers}
    for index, start in enumerate(months, start=1):
        for tier in tiers:
            before_count, retained = travelled[index - 1, tier], kept[index, tier]
            rate = share(retained, before_count)
            series[tier].append(rate)
            table.append(
                {
                    "month": _month_label(start),
                    "tier": str(TIER_LABELS.get(tier, tier)),
                    "active_before": before_count,
                    "active": travelled[index, tier],
                    "retained": retained,
                    "retention": rate,
                    "churn": None if rate is None else round(100 - rate, 1),
                }
            )
    columns = [
        Column("month", _l("Month"), "month"),
        Column("tier", _l("Tier"), "text"),
        Column("active_before", _l("Active the month before"), "count"),
        Column("active", _l("Active this month"), "count"),
        Column("retained", _l("Retained"), "count"),
        Column("retention", _l("Retention"), "percent"),
        Column("churn", _l("Churn"), "percent"),
    ]
    overall = share(sum(r["retained"] for r in table), sum(r["active_before"] for r in table))
    chart = {
        "type": "line",
        "labels": [_month_label(start) for start in months],
        "series": [{"label": str(TIER_LABELS.get(tier, tier)), "data": series[tier]} for tier in tiers],
        "x": "month",
        "stacked": False,
    }
    summary = {"retention": overall, "churn": None if overall is None else round(100 - overall, 1)}
    return Report("retention", columns, table, chart, summary)


def cohorts(period: Period) -> Report:
    """Customers by the month of their first trip, and the share of them travelling in each month after."""
    starts = month_starts(period)[1:]  # no month before: a cohort is compared with itself only
    # A customer who travelled before the first month is no newcomer.
    travelled = _months_travelled(starts)
    earlier = aliased(SubscriberMonth)
    returning = select(earlier.month).where(
        earlier.subscriber_id == travelled.selected_columns.subscriber_id, earlier.month < starts[0]
    )
    per_customer = travelled.having(~returning.exists()).subquery("per_customer")
    found = db.session.execute(select(per_customer.c.months, func.count()).group_by(per_customer.c.months)).all()
    months = starts[:-1]
    counts: Counter[tuple[int, int]] = Counter()
    for bits, customers in found:
        active = _bits(bits, len(months))
        for month in active:
            counts[active[0], month] += customers  # the first month travelled is the cohort
    offsets = [f"+{offset}" for offset in range(len(months))]
    table, values = [], []
    for cohort, start in enumerate(months):
        size = counts.get((cohort, cohort), 0)
        shares = [
            share(counts.get((cohort, cohort + offset), 0), size) if cohort + offset < len(months) else None
            for offset in range(len(months))
        ]
        values.append(shares)
        table.append(
            {"cohort": _month_label(start), "customers": size}
            | {f"month_{offset}": value for offset, value in enumerate(shares)}
        )
    columns = [Column("cohort", _l("First trip"), "month"), Column("customers", _l("New customers"), "count")] + [
        Column(f"month_{offset}", _l("Month %(n)s", n=label), "percent") for offset, label in enumerate(offsets)
    ]
    chart = {"type": "heatmap", "rows": [_month_label(m) for m in months], "cols": offsets, "values": values}
    summary = {"new_customers": sum(r["customers"] for r in table)}
    return Report("cohorts", columns, table, chart, summary)


def _whole_customers(percent: int, customers: int) -> int:
    # In integers: 0.2 * 15 is 3.0000000000000004 in floating point, and its ceiling 4.
    return -(-percent * customers // 100)


def _percent_label(percent: float) -> str:
    return f"{round(percent, 1):g}%"


def pareto(period: Period) -> Report:
    """Revenue per customer from the period's trips, the biggest first, and how much the top 20% bring."""
    subscriber, trips = _trips(period.start, period.end)
    per = (
        select(
            subscriber.label("subscriber_id"),
            func.count().label("trips"),
            func.coalesce(func.sum(Booking.fare), 0).label("revenue"),
        )
        .where(*trips)
        .group_by(subscriber)
        .subquery("per")
    )
    order = (per.c.revenue.desc(), per.c.trips.desc(), per.c.subscriber_id)
    ranked = select(
        per,
        func.row_number().over(order_by=order).label("rank"),
        func.sum(per.c.revenue).over(order_by=order, rows=(None, 0)).label("running"),
        func.count().over().label("customers"),
        func.sum(per.c.revenue).over().label("total"),
    ).subquery("ranked")
    # The database ranks every customer; only the table's rows and the chart's steps come back (rank r is a step
    # when some multiple of 5% of the customers, rounded up, is r).
    step = ranked.c.rank * 20 // ranked.c.customers > (ranked.c.rank - 1) * 20 // ranked.c.customers
    found = db.session.execute(
        select(ranked, Subscriber.name, Subscriber.tier)
        .join(Subscriber, Subscriber.id == ranked.c.subscriber_id)
        .where(or_(ranked.c.rank <= PARETO_ROWS, step))
        .order_by(ranked.c.rank)
    ).all()
    customers = found[0].customers if found else 0
    total = int(found[0].total) if found else 0
    cumulative = {r.rank: int(r.running) for r in found}
    rows = [
        {
            "rank": r.rank,
            "subscriber_id": r.subscriber_id,
            "name": r.name,
            "tier": str(TIER_LABELS.get(r.tier, r.tier)),
            "trips": r.trips,
            "revenue": int(r.revenue),
            "cumulative_share": share(int(r.running), total),
        }
        for r in found
        if r.rank <= PARETO_ROWS
    ]

    top = _whole_customers(TOP_PERCENT, customers)
    # Each customer is a step when there are few; otherwise every 5% of customers, rounding up to whole customers.
    if customers <= 20:
        steps = [(100 * k / customers, k) for k in range(1, customers + 1)]
    else:
        steps = [(percent, _whole_customers(percent, customers)) for percent in range(5, 101, 5)]
    chart = {
        "type": "line",
        "labels": ["0%"] + [_percent_label(percent) for percent, _ in steps],
        "series": [
            {
                "label": str(_l("Cumulative share of revenue (%)")),
                "data": [0.0 if total else None] + [share(cumulative[k], total) for _, k in steps],
            }
        ],
        "x": "text",
        "stacked": False,
    }
    columns = [
        Column("rank", _l("Rank"), "count"),
        Column("subscriber_id", _l("Subscriber"), "text"),
        Column("name", _l("Name"), "text"),
        Column("tier", _l("Tier"), "text"),
        Column("trips", _l("Trips"), "count"),
        Column("revenue", _l("Revenue"), "money"),
        Column("cumulative_share", _l("Cumulative share of revenue"), "percent"),
    ]
    summary = {
        "customers": customers,
        "revenue": total,
        "top_customers": top,
        "top_share": share(cumulative[top], total) if top else None,
    }
    return Report("pareto", columns, rows, chart, summary)
