"""Complaints: opening one from any channel, suggesting its category, and handling it to the end with an audit trail.

Every function here only flushes; the request or the job that calls it commits. Each change to a complaint
writes a ``ComplaintEvent`` (who, what, when, from which status to which), so the log can be read back.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import jdatetime
from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from accounts.models import User
from accounts.roles import Role
from core.database import savepoint
from core.extensions import db
from core.text import normalize_persian
from core.timewindows import office_date
from crm.models import Subscriber
from dispatch.models import Booking, BookingStatus
from drivers.accounts import propose_suspension
from drivers.models import Driver
from feedback.keywords import CATEGORIES, KeywordRule, fold, suggest
from feedback.models import Complaint, ComplaintCategory, ComplaintEvent, ComplaintKeyword, ComplaintStatus
from feedback.texts import customer_text
from notifications.outbox import queue_text

SOURCES = ("rating", "sms", "phone", "agent")
SEVERITIES = (1, 2, 3)
# Where each status may go next; a closed complaint may be reopened for another look.
NEXT_STATUSES = {
    ComplaintStatus.NEW: (ComplaintStatus.INVESTIGATING, ComplaintStatus.RESOLVED, ComplaintStatus.REJECTED),
    ComplaintStatus.INVESTIGATING: (ComplaintStatus.RESOLVED, ComplaintStatus.REJECTED),
    ComplaintStatus.RESOLVED: (ComplaintStatus.INVESTIGATING,),
    ComplaintStatus.REJECTED: (ComplaintStatus.INVESTIGATING,),
}
CLOSED = (ComplaintStatus.RESOLVED, ComplaintStatus.REJECTED)
HANDLERS = (Role.SUPERVISOR, Role.ADMIN)
DESCRIPTION_LENGTH = 4000
FLAG_DAYS = 30


class ComplaintError(ValueError):
    """A change to a complaint that cannot be made, with a message for the person who tried."""


def keyword_rules() -> list[KeywordRule]:
    """The office's keyword rules as the category suggestion reads them."""
    rows = db.session.execute(
        select(ComplaintKeyword.category, ComplaintKeyword.phrase, ComplaintKeyword.language, ComplaintKeyword.severity)
    ).all()
    return [KeywordRule(category, phrase, language, severity) for category, phrase, language, severity in rows]


def reads_as_complaint(text: str) -> bool:
    """Whether a customer's words match any complaint keyword."""
    return suggest(text, keyword_rules()) is not None


def last_trip(subscriber_id: int | None, phone: str = "") -> Booking | None:
    """The subscriber's (or the number's) most recent trip that went ahead, the one a complaint is most likely about."""
    if subscriber_id is None and not phone:
        return None
    who = Booking.subscriber_id == subscriber_id if subscriber_id is not None else Booking.phone == phone
    went_ahead = (BookingStatus.COMPLETED, BookingStatus.ON_TRIP, BookingStatus.ARRIVED, BookingStatus.NO_SHOW)
    return db.session.scalar(
        select(Booking).where(who, Booking.status.in_(went_ahead)).order_by(Booking.pickup_at.desc()).limit(1)
    )


def open_complaint(
    source: str,
    description: str,
    now: datetime,
    *,
    subscriber_id: int | None = None,
    phone: str = "",
    booking: Booking | None = None,
    feedback_id: int | None = None,
    category: str | None = None,
    severity: int | None = None,
    user_id: int | None = None,
    call_id: int | None = None,
    recording_url: str = "",
) -> Complaint:
    """Open a complaint linked to its trip, driver, booking agent and subscriber; category suggested if not given."""
    if source not in SOURCES:
        raise ComplaintError(f"source must be one of: {', '.join(SOURCES)}")
    description = (description or "").strip()[:DESCRIPTION_LENGTH]
    suggestion = suggest(description, keyword_rules()) if description else None
    if category is None:
        category = suggestion.category if suggestion else ComplaintCategory.OTHER
    _check_category(category)
    if severity is None:
        severity = suggestion.severity if suggestion and suggestion.category == category else 2
    _check_severity(severity)
    if booking is not None and subscriber_id is None:
        subscriber_id = booking.subscriber_id
    if not phone:
        phone = booking.phone if booking is not None and booking.phone else _phone_of(subscriber_id)
    complaint = Complaint(
        source=source,
        description=description,
        category=category,
        severity=severity,
        status=ComplaintStatus.NEW,
        subscriber_id=subscriber_id,
        phone=phone or "",
        booking_id=booking.id if booking is not None else None,
        driver_id=booking.driver_id if booking is not None else None,
        agent_id=booking.created_by_id if booking is not None else None,
        zone_id=booking.pickup_zone_id if booking is not None else None,
        feedback_id=feedback_id,
        created_by_id=user_id,
        call_id=call_id,
        recording_url=(recording_url or "")[:500],
        respond_by=now + timedelta(hours=current_app.config["COMPLAINT_RESPONSE_HOURS"]),
        created_at=now,
    )
    db.session.add(complaint)
    db.session.flush()
    complaint.reference = _reference(complaint)
    refresh_search_text(complaint)
    matched = ", ".join(suggestion.phrases) if suggestion else ""
    _log(complaint, user_id, "opened", None, ComplaintStatus.NEW, source + (f" ({matched})" if matched else ""), now)
    if complaint.driver_id is not None:
        _flag(complaint.driver_id, now)
    return complaint


def _flag(driver_id: int, now: datetime) -> None:
    """A driver reaching the complaint flag gets a suspension proposed, for a supervisor to confirm or decline."""
    count = recent_complaint_count(driver_id, now)
    if count >= current_app.config["COMPLAINT_FLAG_COUNT"]:
        reason = f"{count} complaints in {FLAG_DAYS} days"
        propose_suspension(db.session.get(Driver, driver_id), count, reason, now)


def _phone_of(subscriber_id: int | None) -> str:
    if subscriber_id is None:
        return ""
    subscriber = db.session.get(Subscriber, subscriber_id)
    return subscriber.phones[0].e164 if subscriber is not None and subscriber.phones else ""


def _reference(complaint: Complaint) -> str:
    """C-000123 for a complaint; LP-<Persian year>-<number in the year> for lost property, as the office files it."""
    if complaint.category != ComplaintCategory.LOST_PROPERTY:
        return f"C-{complaint.id:06d}"
    if (complaint.reference or "").startswith("LP-"):
        return complaint.reference
    year = jdatetime.date.fromgregorian(
        date=office_date(complaint.created_at, current_app.config["OFFICE_TIMEZONE"])
    ).year
    # The highest number of the year plus one; two cases filed at once meet the unique index, and the
    # loser's savepoint retries with the next number.
    for _ in range(10):
        last = db.session.scalar(select(func.max(Complaint.reference)).where(Complaint.reference.like(f"LP-{year}-%")))
        number = int(last.rsplit("-", 1)[1]) + 1 if last else 1
        reference = f"LP-{year}-{number:04d}"
        try:
            with savepoint():
                db.session.execute(
                    update(Complaint)
                    .where(Complaint.id == complaint.id)
                    .values(reference=reference)
                    .execution_options(synchronize_session=False)
                )
            return reference
        except IntegrityError:
            continue
    raise ComplaintError("could not number the lost-property case; try again")


def _check_category(category: str) -> None:
    if category not in CATEGORIES:
        raise ComplaintError(f"category must be one of: {', '.join(CATEGORIES)}")


def _check_severity(severity) -> None:
    if severity not in SEVERITIES:
        raise ComplaintError("severity must be 1 (low), 2 (normal) or 3 (high)")


def refresh_search_text(complaint: Complaint) -> None:
    """Fold what the complaint says (description, transcript, resolution, reference) for the log's search."""
    parts = (complaint.reference or "", complaint.description, complaint.transcript, complaint.resolution)
    complaint.search_text = normalize_persian(" ".join(p for p in parts if p))


def _log(complaint: Complaint, user_id, action: str, before, after, note: str, now: datetime) -> None:
    db.session.add(
        ComplaintEvent(
            complaint_id=complaint.id,
            user_id=user_id,
            action=action,
            from_status=before,
            to_status=after,
            note=note[:DESCRIPTION_LENGTH],
            at=now,
        )
    )
    db.session.flush()


def _responded(complaint: Complaint, user_id: int | None, now: datetime) -> None:
    # The first thing a person does with a complaint is its first response; the SLA measures up to it.
    if user_id is not None and complaint.first_response_at is None:
        complaint.first_response_at = now


def change_status(complaint: Complaint, status: str, user_id: int, note: str, now: datetime) -> Complaint:
    """Move a complaint on (new → investigating → resolved / rejected, or reopen); closing texts the customer."""
    allowed = NEXT_STATUSES.get(ComplaintStatus(complaint.status), ())
    if status not in allowed:
        raise ComplaintError(
            f"a {complaint.status} complaint can go to: {', '.join(allowed)}" if allowed else "no change allowed"
        )
    note = (note or "").strip()[:DESCRIPTION_LENGTH]
    if status in CLOSED and not note:
        raise ComplaintError("write what was done: the customer is told")
    before = complaint.status
    complaint.status = status
    _responded(complaint, user_id, now)
    if status in CLOSED:
        complaint.resolution = note
        complaint.resolved_at = now
        refresh_search_text(complaint)
    else:
        complaint.resolved_at = None
    _log(complaint, user_id, "status", before, status, note, now)
    if status in CLOSED:
        _tell_outcome(complaint, now)
    return complaint


def _tell_outcome(complaint: Complaint, now: datetime) -> None:
    if not complaint.phone:
        return
    subscriber = db.session.get(Subscriber, complaint.subscriber_id) if complaint.subscriber_id else None
    language = subscriber.language if subscriber is not None else current_app.config["DEFAULT_LOCALE"]
    kind = "complaint_resolved" if complaint.status == ComplaintStatus.RESOLVED else "complaint_rejected"
    body = customer_text(kind, language, reference=complaint.reference, resolution=complaint.resolution)
    # One text per closing: a complaint reopened and closed again tells the customer again.
    closings = db.session.scalar(
        select(func.count(ComplaintEvent.id)).where(
            ComplaintEvent.complaint_id == complaint.id, ComplaintEvent.to_status.in_(CLOSED)
        )
    )
    queue_text(
        kind,
        f"complaint:{complaint.id}:closed:{closings}",
        complaint.phone,
        body,
        language,
        subscriber_id=complaint.subscriber_id,
        booking_id=complaint.booking_id,
    )


def assign(complaint: Complaint, assignee_id: int | None, user_id: int, now: datetime) -> Complaint:
    """Give the complaint to a supervisor or admin to handle (None: to nobody)."""
    if assignee_id is not None:
        assignee = db.session.get(User, assignee_id)
        if assignee is None or assignee.role not in HANDLERS or not assignee.active:
            raise ComplaintError("complaints go to an active supervisor or admin")
    if complaint.assigned_to_id == assignee_id:
        return complaint
    complaint.assigned_to_id = assignee_id
    _responded(complaint, user_id, now)
    name = db.session.get(User, assignee_id).username if assignee_id is not None else "-"
    _log(complaint, user_id, "assigned", complaint.status, complaint.status, name, now)
    return complaint


def add_note(complaint: Complaint, user_id: int, note: str, now: datetime) -> Complaint:
    """Keep a note on the complaint (a call made, what the driver said)."""
    note = (note or "").strip()
    if not note:
        raise ComplaintError("the note is empty")
    _responded(complaint, user_id, now)
    _log(complaint, user_id, "note", complaint.status, complaint.status, note, now)
    return complaint


def recategorise(complaint: Complaint, category: str, severity: int, user_id: int, now: datetime) -> Complaint:
    """Correct the category or severity; a case turned lost property gets its LP reference."""
    _check_category(category)
    _check_severity(severity)
    if (complaint.category, complaint.severity) == (category, severity):
        return complaint
    note = f"{complaint.category}/{complaint.severity} → {category}/{severity}"
    complaint.category, complaint.severity = category, severity
    if category == ComplaintCategory.LOST_PROPERTY and not (complaint.reference or "").startswith("LP-"):
        before = complaint.reference
        complaint.reference = _reference(complaint)
        note += f"; {before} → {complaint.reference}"
        refresh_search_text(complaint)
    _responded(complaint, user_id, now)
    _log(complaint, user_id, "recategorised", complaint.status, complaint.status, note, now)
    return complaint


def add_customer_words(complaint: Complaint, words: str, now: datetime, kind: str = "customer") -> Complaint:
    """Add what the customer said later (a follow-up text, a call's transcript) to the complaint."""
    words = (words or "").strip()
    if not words:
        return complaint
    if kind == "transcript":
        complaint.transcript = words[:DESCRIPTION_LENGTH]
    else:
        complaint.description = f"{complaint.description}\n{words}".strip()[:DESCRIPTION_LENGTH]
    note = words
    # A complaint opened before its words were known (a recording, a bare low rating) is categorised once they
    # come, unless someone has already looked at it: a person's category is never overridden.
    suggestion = suggest(words, keyword_rules())
    if suggestion and complaint.category == ComplaintCategory.OTHER and complaint.first_response_at is None:
        complaint.category, complaint.severity = suggestion.category, max(complaint.severity, suggestion.severity)
        complaint.reference = _reference(complaint)
        note += f" → {suggestion.category} ({', '.join(suggestion.phrases)})"
    refresh_search_text(complaint)
    _log(complaint, None, kind, complaint.status, complaint.status, note, now)
    return complaint


def sla_breached(complaint: Complaint, now: datetime) -> bool:
    """Whether the first response came (or is still missing) after the promised time."""
    if complaint.respond_by is None:
        return False
    return (complaint.first_response_at or now) > complaint.respond_by


def recent_complaint_count(driver_id: int, now: datetime) -> int:
    """How many complaints name this driver in the last 30 days."""
    return db.session.scalar(
        select(func.count(Complaint.id)).where(
            Complaint.driver_id == driver_id, Complaint.created_at >= now - timedelta(days=FLAG_DAYS)
        )
    )


def flagged_drivers(now: datetime) -> dict[int, int]:
    """Drivers with at least COMPLAINT_FLAG_COUNT complaints in 30 days, with their count."""
    rows = db.session.execute(
        select(Complaint.driver_id, func.count(Complaint.id))
        .where(Complaint.driver_id.is_not(None), Complaint.created_at >= now - timedelta(days=FLAG_DAYS))
        .group_by(Complaint.driver_id)
        .having(func.count(Complaint.id) >= current_app.config["COMPLAINT_FLAG_COUNT"])
    ).all()
    return dict(rows)


def add_keyword(category: str, phrase: str, language: str, severity: int) -> ComplaintKeyword:
    """Add a keyword rule; the phrase is stored folded, and a phrase already used is refused."""
    _check_category(category)
    _check_severity(severity)
    if language not in ("fa", "en"):
        raise ComplaintError("language must be fa or en")
    folded = fold(phrase or "")
    if not folded or len(folded) > 100:
        raise ComplaintError("the phrase must have 1 to 100 letters")
    taken = db.session.scalar(select(ComplaintKeyword).where(ComplaintKeyword.phrase == folded))
    if taken is not None:
        raise ComplaintError(f"“{folded}” is already a rule for {taken.category}")
    rule = ComplaintKeyword(category=category, phrase=folded, language=language, severity=severity)
    db.session.add(rule)
    db.session.flush()
    return rule


def remove_keyword(rule_id: int) -> None:
    """Delete a keyword rule (complaints already categorised keep their category)."""
    rule = db.session.get(ComplaintKeyword, rule_id)
    if rule is None:
        raise ComplaintError("no such rule")
    db.session.delete(rule)
    db.session.flush()
