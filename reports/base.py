"""What every report shares: the period asked for, its columns, its rows and its chart.

A report is a plain function ``build(period) -> Report``; the supervisor's pages draw it as a chart and a
table and write it as CSV, so a number means the same thing on the screen and in the spreadsheet. Times are
grouped by the office's clock: the database groups moments into quarter hours since the epoch (the same SQL
on SQLite and PostgreSQL, and fine for every real time zone offset, Tehran's +03:30 included), and Python
turns each quarter hour into the office's day and hour. Where only a count per hour is wanted, ``hourly_counts``
asks the database for one index range per hour instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Float, Integer, cast, extract, func, literal, select, type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from core.extensions import db
from core.models import UTCDateTime
from core.timewindows import office_midnight

QUARTER = 900  # seconds
MAX_DAYS = 731  # two years: longer ranges are asked of the database in pieces, not from a page
DEFAULT_DAYS = 28


class PeriodError(ValueError):
    """A date range that cannot be read; ``fields`` names each bad value with what is wanted."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


@dataclass(frozen=True)
class Period:
    """Office calendar days from ``first`` to ``last`` (inclusive), and the UTC moments they span."""

    first: date
    last: date
    zone: str

    @property
    def start(self) -> datetime:
        """The moment the first day starts, in UTC."""
        return office_midnight(self.first, self.zone).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The moment after the last day ends, in UTC (exclusive)."""
        return office_midnight(self.last + timedelta(days=1), self.zone).astimezone(UTC)

    @property
    def days(self) -> int:
        """How many office days the period has."""
        return (self.last - self.first).days + 1

    def as_args(self) -> dict[str, str]:
        """The period as query-string values (for the CSV link and other reports)."""
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}

    def local(self, moment: datetime) -> datetime:
        """A UTC moment on the office's clock."""
        return moment.astimezone(ZoneInfo(self.zone))


def read_period(args: Mapping[str, str], today: date, zone: str, default_days: int = DEFAULT_DAYS) -> Period:
    """The period from ``from``/``to`` (YYYY-MM-DD, office days); by default the last ``default_days`` to today."""
    errors: dict[str, str] = {}
    days: dict[str, date] = {}
    for name in ("from", "to"):
        raw = (args.get(name) or "").strip()
        if raw:
            try:
                days[name] = date.fromisoformat(raw)
            except ValueError:
                errors[name] = "a date as YYYY-MM-DD"
    if errors:
        raise PeriodError(errors)
    last = days.get("to", today)
    first = days.get("from", last - timedelta(days=default_days - 1))
    if first > last:
        raise PeriodError({"from": "a day on or before the last day"})
    if (last - first).days + 1 > MAX_DAYS:
        raise PeriodError({"to": f"at most {MAX_DAYS} days after the first day"})
    return Period(first, last, zone)


@dataclass(frozen=True)
class Column:
    """One column of a report's table: its key in each row, its heading and how its values are written.

    ``kind`` is one of text, count, money, percent (0–100), decimal, seconds, day, month.
    """

    key: str
    label: str
    kind: str = "count"


@dataclass
class Report:
    """A report's table and chart, ready for the page and the CSV."""

    name: str
    columns: list[Column]
    rows: list[dict]
    # What the page draws: {"type": "line"|"bar"|"heatmap"|"map", ...}; the page's script reads it as JSON.
    chart: dict = field(default_factory=dict)
    # Figures shown above the table (label → value), e.g. the forecast's error or the top 20%'s share.
    summary: dict[str, object] = field(default_factory=dict)


class quarter_hour(FunctionElement):
    """The quarter hour since the epoch a UTC timestamp falls in (an integer), on SQLite and PostgreSQL."""

    type = Integer()
    inherit_cache = True
    name = "quarter_hour"


# The quarter's length is written into the SQL, not bound: PostgreSQL binds each use of a parameter apart, and
# a GROUP BY expression with its own parameter is not "the same expression" as the SELECT's.
@compiles(quarter_hour, "sqlite")
def _quarter_hour_sqlite(element, compiler, **kw):
    (column,) = element.clauses
    return f"(CAST(strftime('%s', {compiler.process(column, **kw)}) AS INTEGER) / {QUARTER})"


@compiles(quarter_hour, "postgresql")
def _quarter_hour_postgresql(element, compiler, **kw):
    (column,) = element.clauses
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {compiler.process(column, **kw)}) / {QUARTER}) AS INTEGER)"


def quarter_start(quarter: int, zone: str) -> datetime:
    """The office-clock moment a quarter hour (from ``quarter_hour``) starts."""
    return datetime.fromtimestamp(quarter * QUARTER, UTC).astimezone(ZoneInfo(zone))


def share(part: float, whole: float) -> float | None:
    """``part`` as a percentage of ``whole``, one decimal; None when there is no whole to share."""
    return round(100 * part / whole, 1) if whole else None


class epoch_seconds(FunctionElement):
    """A UTC timestamp as seconds since the epoch (a float), so that SQL can subtract two moments anywhere."""

    type = Float()
    inherit_cache = True
    name = "epoch_seconds"


@compiles(epoch_seconds, "sqlite")
def _epoch_seconds_sqlite(element, compiler, **kw):
    (column,) = element.clauses
    # julianday keeps the fraction of a second that strftime('%s') would drop.
    return compiler.process((func.julianday(column) - 2440587.5) * 86400.0, **kw)


@compiles(epoch_seconds, "postgresql")
def _epoch_seconds_postgresql(element, compiler, **kw):
    (column,) = element.clauses
    return compiler.process(cast(extract("epoch", column), Float), **kw)


class hour_later(FunctionElement):
    """A UTC timestamp one hour on, in the form the database keeps timestamps in (so that it compares with them)."""

    type = UTCDateTime()
    inherit_cache = True
    name = "hour_later"


# SQLite keeps timestamps as text: the next edge is written exactly as SQLAlchemy writes them, or the text
# comparison with the column would be wrong. Every edge is on a whole second, hence the literal microseconds.
@compiles(hour_later, "sqlite")
def _hour_later_sqlite(element, compiler, **kw):
    (column,) = element.clauses
    return f"strftime('%Y-%m-%d %H:%M:%S.000000', {compiler.process(column, **kw)}, '+1 hour')"


@compiles(hour_later, "postgresql")
def _hour_later_postgresql(element, compiler, **kw):
    (column,) = element.clauses
    return f"({compiler.process(column, **kw)} + INTERVAL '1 hour')"


def hourly_counts(column, start: datetime, hours: int) -> dict[int, int]:
    """Rows whose ``column`` falls in each of ``hours`` hours from ``start`` (UTC): {hour number: count}, no zeros.

    Each hour is counted as one range of the column's index, its edges made by the database: reading a year's
    index entries costs far less than turning each of a million rows' times into a group key (ten times less on
    SQLite), and the statement is the same whatever the period, so it is compiled once.
    """
    edges = select(literal(0).label("n"), type_coerce(start, UTCDateTime()).label("at")).cte("edges", recursive=True)
    edges = edges.union_all(select(edges.c.n + 1, hour_later(edges.c.at)).where(edges.c.n + 1 < hours))
    counted = select(func.count()).where(column >= edges.c.at, column < hour_later(edges.c.at)).scalar_subquery()
    found = db.session.execute(select(edges.c.n, counted.label("rows")))
    return {n: rows for n, rows in found if rows}
