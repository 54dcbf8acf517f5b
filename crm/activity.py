"""Each subscriber's completed trips and fares per office-calendar month, kept as trips complete.

The customer reports (retention, cohorts) read this small roll-up instead of grouping every booking of the
period each time. ``count_trip`` adds a trip when it completes; ``rebuild_months`` recomputes rows from the
bookings (the demo seed, data loaded in bulk, a repair); ``move_months`` carries a merged subscriber's rows over.
Months are those of the office clock (OFFICE_TIMEZONE), as a report's months are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import delete, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite

from core.database import unindexed
from core.extensions import db
from core.timewindows import office_midnight
from crm.models import SubscriberMonth
from dispatch.models import Booking, BookingStatus

CHUNK = 5_000  # bookings read, and rows written, per round trip
ID_CHUNK = 500  # subscriber ids per IN (…): well under every database's limit of parameters
UPSERT_ROWS = 1_000  # rows per INSERT … ON CONFLICT (four parameters each)
_UPSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def office_month(moment: datetime, zone: str | None = None) -> date:
    """The first day of the office-calendar month a moment falls in."""
    local = moment.astimezone(ZoneInfo(zone or current_app.config["OFFICE_TIMEZONE"]))
    return date(local.year, local.month, 1)


def _month_finder(zone: str) -> Callable[[datetime], date]:
    """``office_month`` for many moments: the last month's bounds are kept, as trips come mostly in time order."""
    last: list = [None, None, None]  # its first moment, the moment after it (both UTC, as trips are), its first day

    def find(moment: datetime) -> date:
        start, end, month = last
        if start is not None and start <= moment < end:
            return month
        month = office_month(moment, zone)
        after = (month + timedelta(days=32)).replace(day=1)
        last[:] = office_midnight(month, zone).astimezone(UTC), office_midnight(after, zone).astimezone(UTC), month
        return month

    return find


def count_trip(subscriber_id: int, completed_at: datetime, fare: int | None) -> None:
    """Count one completed trip and its fare in the subscriber's office month (executed now; the caller commits)."""
    _add([{"subscriber_id": subscriber_id, "month": office_month(completed_at), "trips": 1, "revenue": fare or 0}])


def _add(rows: list[dict]) -> None:
    """Add trips and revenue to (subscriber, month) rows, creating the missing ones, in one statement per batch."""
    # INSERT … ON CONFLICT DO UPDATE adds on the database: two workers completing trips of one subscriber at once
    # both count, where reading the row and writing it back would lose one (or fail on the key, for a new month).
    upsert = _UPSERTS[db.session.get_bind().dialect.name]
    table = SubscriberMonth.__table__
    for first in range(0, len(rows), UPSERT_ROWS):
        statement = upsert(table).values(rows[first : first + UPSERT_ROWS])
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.subscriber_id, table.c.month],
            set_={
                "trips": table.c.trips + statement.excluded.trips,
                "revenue": table.c.revenue + statement.excluded.revenue,
            },
        )
        db.session.execute(statement)


def move_months(from_id: int, to_id: int) -> list[str]:
    """Add one subscriber's monthly rows to another's (a month both have is summed) and drop them; the months moved."""
    table = SubscriberMonth.__table__
    rows = db.session.execute(
        select(table.c.month, table.c.trips, table.c.revenue)
        .where(table.c.subscriber_id == from_id)
        .order_by(table.c.month)
    ).all()
    if rows:
        _add([{"subscriber_id": to_id, "month": m, "trips": trips, "revenue": revenue} for m, trips, revenue in rows])
        db.session.execute(delete(table).where(table.c.subscriber_id == from_id))
    return [month.isoformat() for month, _, _ in rows]


def rebuild_months(subscriber_ids: Iterable[int] | None = None) -> int:
    """Recompute the roll-up from the bookings, for these subscribers or (None) everyone; returns the rows written."""
    table = SubscriberMonth.__table__
    ids = None if subscriber_ids is None else sorted(set(subscriber_ids))
    _hold_writers()
    # Deleting first takes SQLite's write lock before the bookings are read, so no completion slips in between.
    if ids is None:
        db.session.execute(delete(table))
    for part in _chunks(ids or [], ID_CHUNK):
        db.session.execute(delete(table).where(table.c.subscriber_id.in_(part)))
    totals: dict[tuple[int, date], list[int]] = {}
    find = _month_finder(current_app.config["OFFICE_TIMEZONE"])
    for query in _trip_queries(ids):
        result = db.session.execute(query, execution_options={"yield_per": CHUNK})
        for rows in result.partitions():
            for subscriber_id, completed_at, fare in rows:
                total = totals.setdefault((subscriber_id, find(completed_at)), [0, 0])
                total[0] += 1
                total[1] += fare or 0
    keys = sorted(totals)
    for part in _chunks(keys, CHUNK):
        rows = [{"subscriber_id": s, "month": m, "trips": totals[s, m][0], "revenue": totals[s, m][1]} for s, m in part]
        db.session.execute(insert(table), rows)
    return len(keys)


def _hold_writers() -> None:
    """On PostgreSQL, keep trips from being counted until the rebuild commits (they would be counted twice, or lost)."""
    # A completion that counted its trip before the lock holds its own lock on the table until it commits, so the
    # bookings read after this one include its trip; one that comes after waits, then adds to the rebuilt row.
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("LOCK TABLE subscriber_months IN SHARE ROW EXCLUSIVE MODE"))


def _trip_queries(ids: list[int] | None):
    """Selects of (subscriber_id, completed_at, fare) of the completed trips of these subscribers (None: all)."""
    columns = select(Booking.subscriber_id, Booking.completed_at, Booking.fare)
    if ids is None:
        # Nearly every booking is a completed trip of a subscriber: one pass over the table beats SQLite walking
        # the status index to all of it in random order.
        yield columns.where(
            unindexed(Booking.status) == BookingStatus.COMPLETED,
            unindexed(Booking.subscriber_id).is_not(None),
            unindexed(Booking.completed_at).is_not(None),
        )
        return
    for part in _chunks(ids, ID_CHUNK):
        yield columns.where(
            Booking.subscriber_id.in_(part),
            Booking.status == BookingStatus.COMPLETED,
            Booking.completed_at.is_not(None),
        )


def _chunks(items: list, size: int):
    for first in range(0, len(items), size):
        yield items[first : first + size]
