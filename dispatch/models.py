"""Bookings (trips once under way) and every change of their state."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.extensions import db
from core.models import CreatedAt, Money, utcnow


class BookingStatus(StrEnum):
    """The life of a booking, as the JSON API names it."""

    REQUESTED = "requested"
    SCHEDULED = "scheduled"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    ARRIVED = "arrived"
    ON_TRIP = "on_trip"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


class Booking(CreatedAt, db.Model):
    """A customer's request for a car, from the call to the end of the trip."""

    __tablename__ = "bookings"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default=BookingStatus.REQUESTED, index=True)
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id"), index=True)
    phone: Mapped[str] = mapped_column(String(20), default="")  # the number to text, E.164
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    pickup_text: Mapped[str] = mapped_column(String(500))
    pickup_lat: Mapped[float]
    pickup_lon: Mapped[float]
    pickup_address_id: Mapped[int | None] = mapped_column(ForeignKey("addresses.id"))
    pickup_zone_id: Mapped[int | None] = mapped_column(ForeignKey("zones.id"), index=True)
    dropoff_text: Mapped[str] = mapped_column(String(500), default="")
    dropoff_lat: Mapped[float | None]
    dropoff_lon: Mapped[float | None]
    dropoff_address_id: Mapped[int | None] = mapped_column(ForeignKey("addresses.id"))
    dropoff_zone_id: Mapped[int | None] = mapped_column(ForeignKey("zones.id"))
    pickup_at: Mapped[datetime] = mapped_column(index=True)
    vehicle_class: Mapped[str] = mapped_column(String(16), default="sedan")
    notes: Mapped[str] = mapped_column(Text, default="")

    fare_rule_id: Mapped[int | None] = mapped_column(ForeignKey("fare_rules.id"))
    fare: Mapped[Money | None]
    currency: Mapped[str] = mapped_column(String(3))
    fare_breakdown: Mapped[list] = mapped_column(JSON, default=list)
    distance_km: Mapped[float | None]
    duration_min: Mapped[float | None]

    driver_id: Mapped[int | None] = mapped_column(ForeignKey("drivers.id"), index=True)
    vehicle_id: Mapped[int | None] = mapped_column(ForeignKey("vehicles.id"))
    completed_at: Mapped[datetime | None]
    cancel_reason: Mapped[str] = mapped_column(String(500), default="")
    # Bumped on every write, so two dispatchers saving the same booking cannot both win.
    version: Mapped[int] = mapped_column(default=1)

    events: Mapped[list[BookingEvent]] = relationship(back_populates="booking", order_by="BookingEvent.id")

    __mapper_args__ = {"version_id_col": version}
    # The screen pop asks for a caller's booking of the last half hour, by subscriber or by number.
    __table_args__ = (
        Index("ix_bookings_subscriber_recent", "subscriber_id", "created_at"),
        Index("ix_bookings_phone_recent", "phone", "created_at"),
    )


class BookingEvent(db.Model):
    """One change of a booking's state: who or what moved it, when, and why."""

    __tablename__ = "booking_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    driver_id: Mapped[int | None] = mapped_column(ForeignKey("drivers.id"))
    reason: Mapped[str] = mapped_column(String(500), default="")
    data: Mapped[dict] = mapped_column(JSON, default=dict)

    booking: Mapped[Booking] = relationship(back_populates="events")
