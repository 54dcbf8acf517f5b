"""Feedback on trips, complaints, the audit trail of how each complaint was handled, and the log of texts in."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.extensions import db
from core.models import CreatedAt, utcnow
from crm.models import FeedbackChannel


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


class FeedbackStatus(StrEnum):
    """Where a trip's feedback request stands."""

    SCHEDULED = "scheduled"  # waiting for its moment (the delay after the trip, the end of quiet hours)
    REQUESTED = "requested"  # the text went out or the call was placed; waiting for the answer
    ANSWERED = "answered"  # a rating came back
    EXPIRED = "expired"  # no rating came back in time
    SKIPPED = "skipped"  # not asked on purpose: opted out, no number, the customer wants no contact
    FAILED = "failed"  # Twilio would not place the call after every retry


class Feedback(CreatedAt, db.Model):
    """One request for a trip's rating and what the customer answered; one per trip at most."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"), unique=True)
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id"), index=True)
    driver_id: Mapped[int | None] = mapped_column(ForeignKey("drivers.id"))
    channel: Mapped[str] = mapped_column(String(16), default=FeedbackChannel.SMS)  # sms, ivr, agent
    status: Mapped[str] = mapped_column(String(16), default=FeedbackStatus.SCHEDULED)
    rating: Mapped[int | None]
    comment: Mapped[str] = mapped_column(Text, default="")
    requested_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    phone: Mapped[str] = mapped_column(String(20), default="")
    language: Mapped[str] = mapped_column(String(8), default="fa")
    # When the request is next due: the trip's end plus the delay, pushed past quiet hours, or a retry's time.
    due_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime | None]
    call_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    recording_url: Mapped[str] = mapped_column(String(500), default="")
    transcript: Mapped[str] = mapped_column(Text, default="")
    last_error: Mapped[str] = mapped_column(String(500), default="")

    events: Mapped[list[FeedbackEvent]] = relationship(order_by="FeedbackEvent.id")

    __table_args__ = (
        Index("ix_feedback_due", "status", "due_at"),
        # The satisfaction report and the driver league read ratings by period from these indexes alone.
        Index("ix_feedback_answered_at", "answered_at", "rating"),
        Index("ix_feedback_requested_at", "requested_at", "rating"),
        Index("ix_feedback_driver_answered", "driver_id", "answered_at", "rating"),
    )


class FeedbackEvent(db.Model):
    """Everything that happened to a feedback request, with Twilio's raw payload and what was read from it."""

    __tablename__ = "feedback_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    feedback_id: Mapped[int] = mapped_column(ForeignKey("feedback.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # scheduled, asked, call_placed, rating, comment, recording, …
    at: Mapped[datetime] = mapped_column(default=utcnow)
    data: Mapped[dict] = mapped_column(JSON, default=dict)


class Complaint(CreatedAt, db.Model):
    """A customer's complaint: a chance to keep them, tracked until it is resolved."""

    __tablename__ = "complaints"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str | None] = mapped_column(String(32), unique=True)
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id"), index=True)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"), index=True)
    driver_id: Mapped[int | None] = mapped_column(ForeignKey("drivers.id"), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
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
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("zones.id"), index=True)  # the trip's pickup zone
    first_response_at: Mapped[datetime | None]
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"))
    recording_url: Mapped[str] = mapped_column(String(500), default="")
    transcript: Mapped[str] = mapped_column(Text, default="")
    # Description, transcript and resolution folded by core.text.normalize_persian, for the log's search.
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    phone: Mapped[str] = mapped_column(String(20), default="")  # where to text the outcome, E.164

    events: Mapped[list[ComplaintEvent]] = relationship(order_by="ComplaintEvent.id")

    # The log's filters each read "newest first within …": an index per filter ending in created_at gives the
    # count and the page straight from the index (bench/feedback_bench.py).
    __table_args__ = (
        Index("ix_complaints_created_at", "created_at"),
        Index("ix_complaints_status_created", "status", "created_at"),
        Index("ix_complaints_category_created", "category", "created_at"),
        Index("ix_complaints_driver_created", "driver_id", "created_at"),
        Index("ix_complaints_zone_created", "zone_id", "severity", "created_at"),
    )


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


class ComplaintKeyword(CreatedAt, db.Model):
    """A phrase that suggests a complaint's category; the office edits these (fa and en)."""

    __tablename__ = "complaint_keywords"

    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(8), default="fa")
    phrase: Mapped[str] = mapped_column(String(100), unique=True)  # stored folded, so one spelling per phrase
    severity: Mapped[int] = mapped_column(default=2)


class InboundMessage(CreatedAt, db.Model):
    """Every text that reached the desk number, as Twilio sent it, and what Cabdesk made of it."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_sid: Mapped[str] = mapped_column(String(64), unique=True)
    from_number: Mapped[str] = mapped_column(String(32), index=True)
    to_number: Mapped[str] = mapped_column(String(32), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id"), index=True)
    # What the text was: opt_out, opt_in, feedback_reply, complaint, logged.
    outcome: Mapped[str] = mapped_column(String(16), default="logged")
    parsed: Mapped[dict] = mapped_column(JSON, default=dict)
    feedback_id: Mapped[int | None] = mapped_column(ForeignKey("feedback.id"), index=True)
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaints.id"))
    reply: Mapped[str] = mapped_column(Text, default="")
