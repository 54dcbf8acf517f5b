"""One subscriber's history in one list: calls, trips, feedback, complaints and notes, newest first."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from accounts.models import User
from calls.models import Call
from core.extensions import db
from crm.models import Note
from dispatch.models import Booking
from feedback.models import Complaint, Feedback


@dataclass(frozen=True)
class TimelineEntry:
    """Something that happened between the office and a subscriber."""

    at: datetime
    kind: str  # call, trip, feedback, complaint, note
    record: object
    details: dict = field(default_factory=dict)


def subscriber_timeline(subscriber_id: int, limit: int = 50) -> list[TimelineEntry]:
    """The newest ``limit`` entries of a subscriber's history."""
    entries: list[TimelineEntry] = []

    def newest(model, moment):
        return db.session.scalars(
            select(model).where(model.subscriber_id == subscriber_id).order_by(moment.desc()).limit(limit)
        ).all()

    agent_names = dict(db.session.execute(select(User.id, User.display_name)).all())
    for call in newest(Call, Call.created_at):
        seconds = (call.ended_at - call.answered_at).total_seconds() if call.answered_at and call.ended_at else None
        entries.append(
            TimelineEntry(
                call.queued_at or call.created_at,
                "call",
                call,
                {"agent": agent_names.get(call.agent_id, ""), "seconds": seconds},
            )
        )
    entries += [TimelineEntry(b.pickup_at, "trip", b) for b in newest(Booking, Booking.pickup_at)]
    for item in newest(Feedback, Feedback.created_at):
        if item.rating is not None or item.comment:
            entries.append(TimelineEntry(item.answered_at or item.created_at, "feedback", item))
    entries += [TimelineEntry(c.created_at, "complaint", c) for c in newest(Complaint, Complaint.created_at)]
    for note in newest(Note, Note.created_at):
        entries.append(TimelineEntry(note.created_at, "note", note, {"author": agent_names.get(note.author_id, "")}))
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries[:limit]
