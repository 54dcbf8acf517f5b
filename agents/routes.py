"""The agent console page."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from sqlalchemy import select

from accounts.auth import area_required
from accounts.roles import Area
from core.extensions import db
from crm.phones import PhoneNumberError
from crm.services import find_by_phone
from dispatch.models import Booking

bp = Blueprint("agents", __name__, url_prefix="/console")


@bp.route("/")
@area_required(Area.CONSOLE)
def console():
    """The console: the waiting calls and, for a looked-up number, the subscriber's record."""
    phone = request.args.get("phone", "").strip()
    subscriber, error, trips = None, None, []
    if phone:
        try:
            subscriber = find_by_phone(phone, current_app.config["DEFAULT_REGION"])
        except PhoneNumberError:
            error = "invalid"
        if subscriber is not None:
            trips = db.session.scalars(
                select(Booking)
                .where(Booking.subscriber_id == subscriber.id)
                .order_by(Booking.pickup_at.desc())
                .limit(5)
            ).all()
    return render_template("agents/console.html", phone=phone, subscriber=subscriber, lookup_error=error, trips=trips)
