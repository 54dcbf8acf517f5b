"""Bookings (trips once under way) and every change of their state."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
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


# A driver holds at most one booking in these states; a booking in them has its driver.
DRIVER_HELD_STATUSES = ("offered", "assigned", "arrived", "on_trip")
LIVE_STATUSES = ("requested", "scheduled", *DRIVER_HELD_STATUSES)
FINAL_STATUSES = ("completed", "cancelled", "no_show")
_HELD_SQL = "status IN ('offered', 'assigned', 'arrived', 'on_trip')"


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

    driver_id: Mapped[int | None] = mapped_column(ForeignKey("drivers.id"))
    vehicle_id: Mapped[int | None] = mapped_column(ForeignKey("vehicles.id"))
    # Whether the auto-dispatcher may offer it; a dispatcher who takes a job in hand turns this off.
    auto_dispatch: Mapped[bool] = mapped_column(default=True)
    offer_tries: Mapped[int] = mapped_column(default=0)
    assigned_at: Mapped[datetime | None]
    arrived_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    waiting_min: Mapped[float] = mapped_column(default=0.0)
    cancel_reason: Mapped[str] = mapped_column(String(500), default="")
    cancellation_fee: Mapped[Money] = mapped_column(default=0)
    # How the passenger pays: cash to the driver, or on account (the office bills a company and pays the driver).
    payment: Mapped[str] = mapped_column(String(8), default="cash")
    # Bumped on every write, so two dispatchers saving the same booking cannot both win.
    version: Mapped[int] = mapped_column(default=1)

    events: Mapped[list[BookingEvent]] = relationship(back_populates="booking", order_by="BookingEvent.id")

    __mapper_args__ = {"version_id_col": version}
    # The screen pop asks for a caller's booking of the last half hour, by subscriber or by number.
    __table_args__ = (
        Index("ix_bookings_subscriber_recent", "subscriber_id", "created_at"),
        Index("ix_bookings_phone_recent", "phone", "created_at"),
        # The reports: demand by when bookings were taken, trips and revenue by when they were completed.
        Index("ix_bookings_created_at", "created_at"),
        Index("ix_bookings_completed_at", "completed_at"),
        # The driver league: a driver's completed trips and their fares by period, from the index alone.
        Index("ix_bookings_driver_completed", "driver_id", "status", "completed_at", "fare"),
        Index("ix_bookings_created_by", "created_by_id", "created_at"),
        # Revenue by zone and by customer over a period, read from the index alone (bench/reports_bench.py).
        Index("ix_bookings_completed_zone", "status", "completed_at", "pickup_zone_id", "fare"),
        Index("ix_bookings_subscriber_completed", "subscriber_id", "status", "completed_at", "fare"),
        # One live job per driver, enforced by the database so that no race can break it.
        Index(
            "uq_bookings_driver_live",
            "driver_id",
            unique=True,
            sqlite_where=text(_HELD_SQL),
            postgresql_where=text(_HELD_SQL),
        ),
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


class OfferOutcome(StrEnum):
    """How an offer to a driver ended."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"  # the dispatcher reassigned or the customer cancelled meanwhile


class DispatchOffer(db.Model):
    """A job offered to one driver for a limited time; the answer, or its absence, is kept."""

    __tablename__ = "dispatch_offers"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"), index=True)
    driver_id: Mapped[int] = mapped_column(ForeignKey("drivers.id"))
    offered_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    outcome: Mapped[str] = mapped_column(String(16), default=OfferOutcome.PENDING)
    answered_at: Mapped[datetime | None]
    # How the driver was chosen: "queue", "nearest" or "manual"; with the distance and ETA seen then.
    method: Mapped[str] = mapped_column(String(16), default="nearest")
    eta_min: Mapped[float | None]
    offered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    __table_args__ = (
        Index("ix_dispatch_offers_driver_outcome", "driver_id", "outcome", "offered_at"),
        Index(
            "uq_dispatch_offers_pending_booking",
            "booking_id",
            unique=True,
            sqlite_where=text("outcome = 'pending'"),
            postgresql_where=text("outcome = 'pending'"),
        ),
    )


class StandQueueEntry(db.Model):
    """A driver waiting at a zone's stand; the earliest to check in is offered the zone's next job."""

    __tablename__ = "stand_queue_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"))
    driver_id: Mapped[int] = mapped_column(ForeignKey("drivers.id"))
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("driver_id"),
        Index("ix_stand_queue_entries_zone_order", "zone_id", "joined_at", "id"),
    )
