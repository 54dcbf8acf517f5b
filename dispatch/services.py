"""Questions the office asks of its bookings."""

from __future__ import annotations

from sqlalchemy import select

from core.extensions import db
from dispatch.models import Booking


def recent_trips(subscriber_id: int, limit: int) -> list[Booking]:
    """A subscriber's latest bookings by pickup time, newest first."""
    return list(
        db.session.scalars(
            select(Booking)
            .where(Booking.subscriber_id == subscriber_id)
            .order_by(Booking.pickup_at.desc())
            .limit(limit)
        )
    )
