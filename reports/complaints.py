"""Complaints over time by category, and a table of them by category, driver, agent or pickup zone.

A complaint belongs to the office day (or month) it was opened on. Its status and whether its first answer
was late are read as they stand now, so an old period's "open" count shrinks as the office catches up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, and_, case, func, literal, or_, select, union_all

from accounts.models import User
from core.extensions import db
from core.models import utcnow
from core.timewindows import office_midnight
from drivers.models import Driver
from feedback.keywords import CATEGORIES, CATEGORY_NAMES
from feedback.models import Complaint, ComplaintStatus
from geo.models import Zone
from reports.base import Column, Period, Report, share

DAILY_DAYS = 62  # longer periods are drawn by month: a bar a day would be too thin to read
OPEN = (ComplaintStatus.NEW, ComplaintStatus.INVESTIGATING)
BY_CHOICES = (
    ("category", _l("Category")),
    ("driver", _l("Driver")),
    ("agent", _l("Agent")),
    ("zone", _l("Zone")),
)
_GROUP_COLUMNS = {
    "category": Complaint.category,
    "driver": Complaint.driver_id,
    "agent": Complaint.agent_id,
    "zone": Complaint.zone_id,
}
_NONE_NAMES = {"driver": _l("No driver"), "agent": _l("No agent"), "zone": _l("No zone")}


@dataclass(frozen=True)
class Buckets:
    """The office days (or months) a period is drawn in, and the UTC moments that bound them."""

    x: str  # "day" or "month"
    labels: list[str]
    edges: list[datetime]  # each bucket's first moment, then the period's end: one more than the labels

    def count(self, moment, *figures, where=(), group_by=()) -> list[tuple]:
        """``(n, *group_by, *figures)`` for each bucket ``n``, over the rows whose ``moment`` falls in it.

        The office's days are Python's to say (midnights on its clock, Tehran's +03:30 or a zone's changes); the
        database answers one range of ``moment`` per bucket, all in one statement. Each range is read in the order
        of an index on ``moment`` and added up as it is read, where one GROUP BY over the whole period would first
        sort every row (for a year of ratings, three quarters of the report's time).
        """
        parts = [
            select(literal(n, Integer()).label("n"), *group_by, *figures)
            .where(moment >= since, moment < until, *where)
            .group_by(*group_by)
            for n, (since, until) in enumerate(pairwise(self.edges))
        ]
        return db.session.execute(union_all(*parts) if len(parts) > 1 else parts[0]).all()


def buckets(period: Period) -> Buckets:
    """Office days for periods up to DAILY_DAYS long, else calendar months (the first one starting at ``first``)."""
    if period.days <= DAILY_DAYS:
        firsts = [period.first + timedelta(days=n) for n in range(period.days)]
        x, labels = "day", [day.isoformat() for day in firsts]
    else:
        firsts, month = [period.first], _next_month(period.first)
        while month <= period.last:
            firsts.append(month)
            month = _next_month(month)
        x, labels = "month", [day.strftime("%Y-%m") for day in firsts]
    edges = [office_midnight(day, period.zone).astimezone(UTC) for day in firsts] + [period.end]
    return Buckets(x, labels, edges)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def build(period: Period, by: str = "category", now: datetime | None = None) -> Report:
    """Complaints opened in the period: a stacked bar per category over time, and a table grouped by ``by``."""
    if by not in _GROUP_COLUMNS:
        raise ValueError(f"by must be one of: {', '.join(_GROUP_COLUMNS)}")
    now = now or utcnow()
    chart = _chart(period)
    group = _GROUP_COLUMNS[by]
    # Spelled out for NULLs, as the complaint log does: a missing answer is late only once respond_by has passed.
    late = and_(
        Complaint.respond_by.is_not(None),
        or_(
            and_(Complaint.first_response_at.is_not(None), Complaint.first_response_at > Complaint.respond_by),
            and_(Complaint.first_response_at.is_(None), Complaint.respond_by < now),
        ),
    )
    totals = db.session.execute(
        select(
            group,
            func.count(),
            func.sum(case((Complaint.status.in_(OPEN), 1), else_=0)),
            func.sum(case((Complaint.status == ComplaintStatus.RESOLVED, 1), else_=0)),
            func.sum(case((late, 1), else_=0)),
        )
        .where(Complaint.created_at >= period.start, Complaint.created_at < period.end)
        .group_by(group)
    ).all()
    everything = sum(count for _key, count, *_rest in totals)
    names = _names(by, [key for key, *_rest in totals if key is not None])
    rows = [
        {
            "id": key,
            "name": names.get(key, f"#{key}") if key is not None else str(_NONE_NAMES[by]),
            "complaints": count,
            "open": int(still_open),
            "resolved": int(resolved),
            "sla_breached": int(breached),
            "share": share(count, everything),
        }
        for key, count, still_open, resolved, breached in totals
    ]
    # Most complaints first; equal counts in the categories' usual order, or by name; "no driver" and the like last.
    order = {category: n for n, category in enumerate(CATEGORIES)}
    rows.sort(key=lambda r: (-r["complaints"], r["id"] is None, order.get(r["id"], len(order)), r["name"]))
    columns = [
        Column("name", dict(BY_CHOICES)[by], "text"),
        Column("complaints", _l("Complaints")),
        Column("open", _l("Open")),
        Column("resolved", _l("Resolved")),
        Column("sla_breached", _l("SLA breached")),
        Column("share", _l("Share of complaints"), "percent"),
    ]
    summary = {
        "complaints": everything,
        "open": sum(row["open"] for row in rows),
        "resolved": sum(row["resolved"] for row in rows),
        "sla_breached": sum(row["sla_breached"] for row in rows),
    }
    return Report("complaints", columns, rows, chart, summary)


def _chart(period: Period) -> dict:
    """A stacked bar per day or month, one series per category (every category, so colours stay put)."""
    drawn = buckets(period)
    counts = {category: [0] * len(drawn.labels) for category in CATEGORIES}
    found = drawn.count(Complaint.created_at, func.count(), group_by=(Complaint.category,))
    for n, category, count in found:
        if category not in counts:  # a category retired since: still drawn, after the current ones
            counts[category] = [0] * len(drawn.labels)
        counts[category][n] = count
    series = [{"label": str(CATEGORY_NAMES.get(category, category)), "data": data} for category, data in counts.items()]
    return {"type": "bar", "stacked": True, "labels": drawn.labels, "series": series, "x": drawn.x}


def _names(by: str, keys: list) -> dict:
    """What each group is called on the page: the category's label, "call sign name", the agent, the zone."""
    if by == "category":
        return {key: str(CATEGORY_NAMES.get(key, key)) for key in keys}
    if not keys:
        return {}
    if by == "driver":
        found = db.session.execute(select(Driver.id, Driver.call_sign, Driver.name).where(Driver.id.in_(keys)))
        return {key: f"{call_sign} {name}" for key, call_sign, name in found}
    if by == "agent":
        found = db.session.execute(select(User.id, User.username, User.display_name).where(User.id.in_(keys)))
        return {key: agent_name(username, display_name) for key, username, display_name in found}
    persian = str(get_locale()) == "fa"
    found = db.session.execute(select(Zone.id, Zone.name_fa, Zone.name_en).where(Zone.id.in_(keys)))
    return {key: (name_fa if persian else name_en) or name_fa or name_en for key, name_fa, name_en in found}


def agent_name(username: str, display_name: str | None) -> str:
    """An agent as the reports show them: "Display Name (username)", or the username alone."""
    return f"{display_name} ({username})" if display_name and display_name != username else username
