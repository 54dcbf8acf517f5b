"""Calls to and from the desk and the steps each went through."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import JSON, ForeignKey, Index, String, Text, event, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.extensions import db
from core.models import CreatedAt, utcnow

if TYPE_CHECKING:
    from crm.models import Subscriber


class CallStatus(StrEnum):
    """Where a call stands on the line, from the first ring to hang-up."""

    QUEUED = "queued"  # waiting in the desk queue
    RINGING = "ringing"  # an agent took it; being connected to them
    ANSWERED = "answered"  # talking with the agent
    COMPLETED = "completed"  # ended after an agent talked with the caller
    ABANDONED = "abandoned"  # the caller hung up while waiting
    MENU = "menu"  # outside hours or no agent: in the voicemail / call-back menu
    VOICEMAIL = "voicemail"  # left a message
    CALLBACK = "callback"  # asked to be called back
    REJECTED = "rejected"  # a barred caller, turned away
    DIALING = "dialing"  # an outbound call being placed
    COMPLAINT_LINE = "complaint_line"  # the caller chose the complaint line and left a recorded complaint


# Calls nobody talked to that someone should return: the console's missed-call list.
MISSED_CALL_STATUSES = (CallStatus.ABANDONED, CallStatus.VOICEMAIL, CallStatus.CALLBACK)


class AgentState(StrEnum):
    """Where an agent stands for taking calls."""

    OFFLINE = "offline"
    AVAILABLE = "available"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    AWAY = "away"


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
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default=CallStatus.QUEUED, index=True)
    queued_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    disposition: Mapped[str] = mapped_column(String(32), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    wrapped_up_at: Mapped[datetime | None]
    # Whole seconds from answer to the end of wrap-up (to hang-up without one), kept by the mapper events below so
    # that the agent league reads it from an index instead of working it out for every call of a year.
    handle_seconds: Mapped[int | None]
    recording_url: Mapped[str] = mapped_column(String(500), default="")
    # A missed call is "handled" once someone called back or dealt with the voicemail.
    handled_at: Mapped[datetime | None]
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    events: Mapped[list[CallEvent]] = relationship(order_by="CallEvent.id")
    # The caller's record: set by the webhook that found it, so the pop and the greeting need not read it again.
    subscriber: Mapped[Subscriber | None] = relationship()

    __table_args__ = (
        # The wallboard and the reports count calls by when they joined the queue.
        Index("ix_calls_queued_at", "queued_at"),
        # The agent league reads each agent's answered calls and their handle times from the index alone.
        Index("ix_calls_agent_answered", "agent_id", "answered_at", "handle_seconds"),
        # An agent is on one live call at most, whatever two tabs or two processes try at once.
        Index(
            "uq_calls_agent_live_call",
            "agent_id",
            unique=True,
            sqlite_where=text("status IN ('ringing', 'answered')"),
            postgresql_where=text("status IN ('ringing', 'answered')"),
        ),
    )


@event.listens_for(Call, "before_insert")
@event.listens_for(Call, "before_update")
def _keep_handle_time(_mapper, _connection, call: Call) -> None:
    end = call.wrapped_up_at or call.ended_at
    if call.answered_at is None or end is None:
        call.handle_seconds = None
    else:
        # Half up, as the migration's SQL ROUND does for the calls kept before.
        call.handle_seconds = max(0, int((end - call.answered_at).total_seconds() + 0.5))


class CallEvent(db.Model):
    """One step of a call as the telephone network reported it, with the raw payload."""

    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), index=True)
    status: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)


class AgentPresence(db.Model):
    """An agent's current state; one row per agent who ever used the console."""

    __tablename__ = "agent_presence"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default=AgentState.OFFLINE)
    since: Mapped[datetime] = mapped_column(default=utcnow)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"))


class AgentStateChange(db.Model):
    """One change of an agent's state, kept for the wallboard and the agent reports."""

    __tablename__ = "agent_state_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    state: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"))
