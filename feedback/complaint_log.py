"""The complaint log's questions: filters read from a query string, the filtered page, the CSV rows.

The supervisor's pages, the CSV download and ``GET /api/complaints`` all read complaints through here,
so a filter means the same thing everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import Select, and_, func, or_, select

from core.extensions import db
from core.models import utcnow
from core.text import normalize_persian, spreadsheet_safe
from core.timewindows import office_midnight as day_start
from feedback.keywords import CATEGORIES
from feedback.models import Complaint, ComplaintStatus

STATUSES = tuple(s.value for s in ComplaintStatus)
MAX_PER_PAGE = 200
ID_LIMIT = 2**31 - 1  # the largest id a PostgreSQL integer column holds


class FilterError(ValueError):
    """A filter value that cannot be read; ``fields`` names each bad one."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


@dataclass(frozen=True)
class ComplaintFilter:
    """What the supervisor asked to see; every field optional."""

    date_from: date | None = None  # office calendar days, inclusive
    date_to: date | None = None
    status: str | None = None
    category: str | None = None
    driver_id: int | None = None
    agent_id: int | None = None
    zone_id: int | None = None
    severity: int | None = None
    sla_breached: bool | None = None
    assigned_to_id: int | None = None
    subscriber_id: int | None = None
    q: str = ""

    def as_args(self) -> dict[str, str]:
        """The filter as query-string values (for links to the next page and the CSV)."""
        out = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if value is None or value == "":
                continue
            out[field.name] = ("1" if value else "0") if isinstance(value, bool) else str(value)
        return out


def read_filter(args: Mapping[str, str]) -> ComplaintFilter:
    """Read the filter from a query string; a bad value raises FilterError naming it."""
    errors: dict[str, str] = {}
    values: dict = {}

    def text(name: str) -> str:
        return (args.get(name) or "").strip()

    for name in ("date_from", "date_to"):
        if text(name):
            try:
                values[name] = date.fromisoformat(text(name))
            except ValueError:
                errors[name] = "a date as YYYY-MM-DD"
    for name in ("driver_id", "agent_id", "zone_id", "assigned_to_id", "subscriber_id"):
        if text(name):
            # isdecimal, not isdigit: int() refuses "²"; ids are PostgreSQL integers, ten digits at most.
            if text(name).isdecimal() and len(text(name)) <= 10 and 1 <= int(text(name)) <= ID_LIMIT:
                values[name] = int(text(name))
            else:
                errors[name] = "a whole number"
    if text("severity"):
        if text("severity") in ("1", "2", "3"):
            values["severity"] = int(text("severity"))
        else:
            errors["severity"] = "1, 2 or 3"
    for name, allowed in (("status", STATUSES), ("category", CATEGORIES)):
        if text(name):
            if text(name) in allowed:
                values[name] = text(name)
            else:
                errors[name] = f"one of {', '.join(allowed)}"
    if text("sla_breached"):
        if text("sla_breached") in ("1", "true", "yes", "0", "false", "no"):
            values["sla_breached"] = text("sla_breached") in ("1", "true", "yes")
        else:
            errors["sla_breached"] = "1 or 0"
    if len(text("q")) > 200:
        errors["q"] = "at most 200 characters"
    else:
        values["q"] = text("q")
    if values.get("date_from") and values.get("date_to") and values["date_from"] > values["date_to"]:
        errors["date_to"] = "on or after the start date"
    if errors:
        raise FilterError(errors)
    return ComplaintFilter(**values)


def office_midnight(day: date) -> datetime:
    """The moment an office calendar day starts (for date filters that mean the office's days)."""
    return day_start(day, current_app.config["OFFICE_TIMEZONE"])


def complaints_query(wanted: ComplaintFilter, now: datetime | None = None) -> Select:
    """The complaints matching the filter, newest first."""
    now = now or utcnow()
    query = select(Complaint)
    if wanted.date_from:
        query = query.where(Complaint.created_at >= office_midnight(wanted.date_from))
    if wanted.date_to:
        query = query.where(Complaint.created_at < office_midnight(wanted.date_to + timedelta(days=1)))
    for name in ("status", "category", "driver_id", "agent_id", "zone_id", "severity", "assigned_to_id"):
        value = getattr(wanted, name)
        if value is not None:
            query = query.where(getattr(Complaint, name) == value)
    if wanted.subscriber_id is not None:
        query = query.where(Complaint.subscriber_id == wanted.subscriber_id)
    if wanted.sla_breached is not None:
        # Spelled out for NULLs: a NOT over a NULL comparison would drop unanswered complaints still in time.
        late = and_(
            Complaint.respond_by.is_not(None),
            or_(
                and_(Complaint.first_response_at.is_not(None), Complaint.first_response_at > Complaint.respond_by),
                and_(Complaint.first_response_at.is_(None), Complaint.respond_by < now),
            ),
        )
        query = query.where(late if wanted.sla_breached else ~late)
    for word in normalize_persian(wanted.q).split()[:8]:
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Complaint.search_text.like(f"%{escaped}%", escape="\\"))
    return query.order_by(Complaint.created_at.desc(), Complaint.id.desc())


def complaint_page(wanted: ComplaintFilter, page: int, per_page: int, now=None) -> tuple[list[Complaint], int]:
    """One page of the filtered log and the number of matches in all."""
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    page = max(1, page)
    query = complaints_query(wanted, now)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    items = list(db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)))
    return items, total


CSV_HEADER = (
    "reference",
    "created_at",
    "status",
    "category",
    "severity",
    "source",
    "subscriber_id",
    "phone",
    "booking_id",
    "driver_id",
    "agent_id",
    "zone_id",
    "assigned_to_id",
    "respond_by",
    "first_response_at",
    "resolved_at",
    "sla_breached",
    "description",
    "transcript",
    "resolution",
)


def csv_rows(wanted: ComplaintFilter, now: datetime | None = None, batch: int = 1000) -> Iterator[list]:
    """The filtered complaints as CSV rows (header first), read in batches so a big export stays small in memory."""
    from feedback.complaints import sla_breached

    now = now or utcnow()
    yield list(CSV_HEADER)
    query = complaints_query(wanted, now).execution_options(yield_per=batch)
    for complaint in db.session.scalars(query):
        yield [
            complaint.reference,
            complaint.created_at.isoformat(),
            complaint.status,
            complaint.category,
            complaint.severity,
            complaint.source,
            complaint.subscriber_id or "",
            spreadsheet_safe(complaint.phone),
            complaint.booking_id or "",
            complaint.driver_id or "",
            complaint.agent_id or "",
            complaint.zone_id or "",
            complaint.assigned_to_id or "",
            complaint.respond_by.isoformat() if complaint.respond_by else "",
            complaint.first_response_at.isoformat() if complaint.first_response_at else "",
            complaint.resolved_at.isoformat() if complaint.resolved_at else "",
            "yes" if sla_breached(complaint, now) else "no",
            spreadsheet_safe(complaint.description),
            spreadsheet_safe(complaint.transcript),
            spreadsheet_safe(complaint.resolution),
        ]
