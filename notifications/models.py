"""The outbox: every text Cabdesk means to send, kept until Twilio has it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.extensions import db
from core.models import CreatedAt, utcnow


class MessageStatus(StrEnum):
    """Where an outgoing text stands."""

    PENDING = "pending"  # waiting for its (next) attempt
    SENT = "sent"  # Twilio accepted it
    FAILED = "failed"  # gave up after the last retry, or Twilio refused it for good
    SKIPPED = "skipped"  # not sent on purpose: the customer opted out, no number


class OutboundMessage(CreatedAt, db.Model):
    """One text to one number, written in the same transaction as the event it tells of."""

    __tablename__ = "outbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    # What the text is about, e.g. "driver_assigned"; with the dedupe key it makes a second copy impossible.
    kind: Mapped[str] = mapped_column(String(32))
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    to: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8), default="fa")
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id"), index=True)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=MessageStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    twilio_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    sent_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_outbound_messages_due", "status", "next_attempt_at"),)
