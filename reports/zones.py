"""Revenue and trips by zone: where the office earns, and where it needs watching (many complaints per trip).

A trip belongs to the zone of its pickup, and to the period of the moment it was completed; revenue is the
fares of completed trips (cancellation fees are not revenue from a trip and are left out).
"""

from __future__ import annotations

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from core.extensions import db
from dispatch.models import Booking, BookingStatus
from feedback.models import Complaint
from geo.models import Zone
from reports.base import Column, Period, Report, share

COLUMNS = [
    Column("zone", _l("Zone"), "text"),
    Column("trips", _l("Trips"), "count"),
    Column("revenue", _l("Revenue"), "money"),
    Column("average_fare", _l("Average fare"), "money"),
    Column("revenue_share", _l("Share of revenue"), "percent"),
    Column("complaints", _l("Complaints"), "count"),
    Column("complaints_per_100", _l("Complaints per 100 trips"), "decimal"),
]


def build(period: Period) -> Report:
    """Trips, revenue and complaints per pickup zone in the period, the best earners first; the map colours revenue."""
    trips = dict(
        (zone_id, (count, revenue or 0))
        for zone_id, count, revenue in db.session.execute(
            select(Booking.pickup_zone_id, func.count(Booking.id), func.sum(Booking.fare))
            .where(
                Booking.status == BookingStatus.COMPLETED,
                Booking.completed_at >= period.start,
                Booking.completed_at < period.end,
            )
            .group_by(Booking.pickup_zone_id)
        ).all()
    )
    complaints = dict(
        db.session.execute(
            select(Complaint.zone_id, func.count(Complaint.id))
            .where(Complaint.created_at >= period.start, Complaint.created_at < period.end)
            .group_by(Complaint.zone_id)
        ).all()
    )
    total_revenue = sum(int(revenue) for _count, revenue in trips.values())
    locale = str(get_locale())
    zones = db.session.execute(select(Zone.id, Zone.code, Zone.name_fa, Zone.name_en).order_by(Zone.code)).all()
    rows = []
    for zone_id, code, name_fa, name_en in [*zones, (None, "", "", "")]:
        count, revenue = trips.get(zone_id, (0, 0))
        complained = complaints.get(zone_id, 0)
        if zone_id is None and not (count or complained):
            continue  # no trips outside the zones: no row for them
        rows.append(
            {
                "id": zone_id,
                "code": code,
                "zone": (name_fa if locale == "fa" else name_en) or (code or str(_l("outside the zones"))),
                "trips": count,
                "revenue": int(revenue),
                "average_fare": round(int(revenue) / count) if count else None,
                "revenue_share": share(int(revenue), total_revenue),
                "complaints": complained,
                "complaints_per_100": round(100 * complained / count, 1) if count else None,
            }
        )
    rows.sort(key=lambda row: (-row["revenue"], -row["trips"], row["code"]))
    chart = {
        "type": "map",
        "metric": str(_l("Revenue")),
        "zones": [{"id": r["id"], "value": r["revenue"], "trips": r["trips"]} for r in rows if r["id"] is not None],
    }
    summary = {"trips": sum(r["trips"] for r in rows), "revenue": total_revenue}
    return Report("zones", COLUMNS, rows, chart, summary)
