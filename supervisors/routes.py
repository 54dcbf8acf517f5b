"""Wallboard and complaint log pages."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, render_template
from sqlalchemy import func, select

from accounts.auth import area_required
from accounts.roles import Area
from core.extensions import db
from core.models import utcnow
from dispatch.models import Booking
from feedback.models import Complaint, ComplaintStatus, Feedback

bp = Blueprint("supervisors", __name__, url_prefix="/supervisor")


@bp.route("/")
@area_required(Area.SUPERVISION)
def wallboard():
    """The floor at a glance: bookings by state, open complaints, recent satisfaction."""
    bookings_by_status = dict(db.session.execute(select(Booking.status, func.count()).group_by(Booking.status)).all())
    open_complaints = db.session.scalar(
        select(func.count(Complaint.id)).where(
            Complaint.status.in_([ComplaintStatus.NEW, ComplaintStatus.INVESTIGATING])
        )
    )
    since = utcnow() - timedelta(days=30)
    average_rating = db.session.scalar(
        select(func.avg(Feedback.rating)).where(Feedback.rating.is_not(None), Feedback.answered_at >= since)
    )
    return render_template(
        "supervisors/wallboard.html",
        bookings_by_status=bookings_by_status,
        open_complaints=open_complaints,
        average_rating=average_rating,
    )


@bp.route("/complaints")
@area_required(Area.SUPERVISION)
def complaints():
    """The newest complaints first."""
    rows = db.session.scalars(select(Complaint).order_by(Complaint.created_at.desc()).limit(100)).all()
    return render_template("supervisors/complaints.html", complaints=rows)
