"""Calls to and from the desk and the steps each went through."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.extensions import db
from core.models import CreatedAt, utcnow


class CallStatus(StrEnum):
    """Where a call stands, from the first ring to the end of the agent's wrap-up."""

    QUEUED = "queued"
    RINGING = "ringing"
    ANSWERED = "answered"
    WRAP_UP = "wrap_up"
    COMPLETED = "completed"
    ABANDONED = "abandoned"
    VOICEMAIL = "voicemail"
    REJECTED = "rejected"  # barred callers


class Call(CreatedAt, db.Model):
    """One phone call with the desk, inbound or outbound."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_sid: Mapped[str] = mapped_column(String(64), unique=True)  # Twilio's CallSid
    direction: Mapped[str] = mapped_column(String(16), default="inbound")
    from_number: Mapped[str] = mapped_column(String(64))  # as the network gave it
    caller_e164: Mapped[str | None] = mapped_column(String(20), index=True)  # None if withheld
    to_number: Mapped[str] = mapped_column(String(64), default="")
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id"), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=CallStatus.QUEUED)
    queued_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    disposition: Mapped[str] = mapped_column(String(32), default="")
    recording_url: Mapped[str] = mapped_column(String(500), default="")

    events: Mapped[list[CallEvent]] = relationship(order_by="CallEvent.id")


class CallEvent(db.Model):
    """One step of a call as the telephone network reported it, with the raw payload."""

    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), index=True)
    status: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
