"""Feedback on trips, complaints, and the audit trail of how each complaint was handled."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.extensions import db
from core.models import CreatedAt, utcnow


class ComplaintCategory(StrEnum):
    """What a complaint is about, as the JSON API names it."""

    DRIVER_BEHAVIOUR = "driver_behaviour"
    VEHICLE_CONDITION = "vehicle_condition"
    FARE_DISPUTE = "fare_dispute"
    LATENESS = "lateness"
    ROUTE = "route"
    LOST_PROPERTY = "lost_property"
    AGENT_CONDUCT = "agent_conduct"
    OTHER = "other"


class ComplaintStatus(StrEnum):
    """Where a complaint stands."""

    NEW = "new"
    INVESTIGATING = "investigating"
    RESOLVED = "resolved"
    REJECTED = "rejected"


class Feedback(CreatedAt, db.Model):
    """One request for a trip's rating and what the customer answered; one per trip at most."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"), unique=True)
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id"), index=True)
    driver_id: Mapped[int | None] = mapped_column(ForeignKey("drivers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16), default="sms")  # sms, ivr, agent
    status: Mapped[str] = mapped_column(String(16), default="requested")  # requested, answered, expired
    rating: Mapped[int | None]
    comment: Mapped[str] = mapped_column(Text, default="")
    requested_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]


class Complaint(CreatedAt, db.Model):
    """A customer's complaint: a chance to keep them, tracked until it is resolved."""

    __tablename__ = "complaints"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str | None] = mapped_column(String(32), unique=True)
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id"), index=True)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"), index=True)
    driver_id: Mapped[int | None] = mapped_column(ForeignKey("drivers.id"), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    feedback_id: Mapped[int | None] = mapped_column(ForeignKey("feedback.id"))
    category: Mapped[str] = mapped_column(String(32), default=ComplaintCategory.OTHER, index=True)
    severity: Mapped[int] = mapped_column(default=2)  # 1 low, 2 normal, 3 high
    status: Mapped[str] = mapped_column(String(16), default=ComplaintStatus.NEW, index=True)
    source: Mapped[str] = mapped_column(String(16), default="agent")  # rating, sms, phone, agent
    description: Mapped[str] = mapped_column(Text, default="")
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    respond_by: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    resolution: Mapped[str] = mapped_column(Text, default="")

    events: Mapped[list[ComplaintEvent]] = relationship(order_by="ComplaintEvent.id")


class ComplaintEvent(db.Model):
    """One step in handling a complaint, for the audit trail."""

    __tablename__ = "complaint_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)
