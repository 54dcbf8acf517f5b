"""The dispatcher board page."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import func, select

from accounts.auth import area_required
from accounts.roles import Area
from core.extensions import db
from dispatch.models import Booking, BookingStatus
from drivers.models import Driver

bp = Blueprint("dispatch", __name__, url_prefix="/dispatch")

LIVE_STATUSES = [
    BookingStatus.REQUESTED,
    BookingStatus.SCHEDULED,
    BookingStatus.OFFERED,
    BookingStatus.ASSIGNED,
    BookingStatus.ARRIVED,
    BookingStatus.ON_TRIP,
]


@bp.route("/")
@area_required(Area.DISPATCH)
def board():
    """Live bookings and the drivers' states."""
    bookings = db.session.scalars(
        select(Booking).where(Booking.status.in_(LIVE_STATUSES)).order_by(Booking.pickup_at).limit(200)
    ).all()
    drivers_by_status = dict(
        db.session.execute(select(Driver.status, func.count()).where(Driver.active).group_by(Driver.status)).all()
    )
    return render_template("dispatch/board.html", bookings=bookings, drivers_by_status=drivers_by_status)
