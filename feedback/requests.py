"""A trip's feedback request, from the moment the trip ends to the customer's rating and comment.

The request is a row written in the transaction that completes the trip (``plan_feedback``), so a trip
that commits is never left unasked and one that rolls back asks nothing. ``feedback.tasks`` asks when it
falls due; the answer comes back by text (``feedback.inbound``) or on the automated call
(``telephony.feedback_calls``) and is recorded here. Every step writes a ``FeedbackEvent`` with what
Twilio sent and what was read from it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from core.database import on_commit
from core.extensions import db
from core.timewindows import parse_windows, window_end
from crm.models import Subscriber
from dispatch.models import Booking
from feedback.complaints import add_customer_words, open_complaint, reads_as_complaint
from feedback.models import Complaint, Feedback, FeedbackChannel, FeedbackEvent, FeedbackStatus
from feedback.texts import customer_text
from notifications.outbox import queue_text

log = logging.getLogger("cabdesk.feedback")

LOW_RATING = 2  # a rating at or below this opens a complaint
COMMENT_LENGTH = 2000


def log_event(feedback: Feedback, kind: str, now: datetime, data: dict | None = None) -> None:
    """Keep one step of a feedback request with its raw payload and parsed result."""
    db.session.add(FeedbackEvent(feedback_id=feedback.id, kind=kind, at=now, data=data or {}))


def plan_feedback(booking: Booking, now: datetime) -> Feedback:
    """Schedule the finished trip's feedback request, FEEDBACK_DELAY after now; a trip has one request at most."""
    existing = db.session.scalar(select(Feedback).where(Feedback.booking_id == booking.id))
    if existing is not None:
        return existing
    subscriber = db.session.get(Subscriber, booking.subscriber_id) if booking.subscriber_id else None
    language = subscriber.language if subscriber is not None else current_app.config["DEFAULT_LOCALE"]
    feedback = Feedback(
        booking_id=booking.id,
        subscriber_id=booking.subscriber_id,
        driver_id=booking.driver_id,
        channel=subscriber.feedback_channel if subscriber is not None else FeedbackChannel.SMS,
        status=FeedbackStatus.SCHEDULED,
        phone=booking.phone or "",
        language=language,
        due_at=now + timedelta(seconds=current_app.config["FEEDBACK_DELAY"]),
        attempts=0,
        created_at=now,
    )
    db.session.add(feedback)
    db.session.flush()
    log_event(feedback, "scheduled", now, {"due_at": feedback.due_at.isoformat(), "channel": feedback.channel})
    feedback_id, due_at = feedback.id, feedback.due_at
    on_commit(lambda: enqueue_request(feedback_id, due_at))
    return feedback


def enqueue_request(feedback_id: int, due_at: datetime | None = None) -> bool:
    """Have RQ ask for this feedback at ``due_at`` (None: now); False when Redis is down (the sweep asks later)."""
    from core.models import utcnow
    from core.queues import queue
    from feedback.tasks import ask_for_feedback

    # A finished job's record is of no use (the feedback row says what happened) and a busy office finishes
    # thousands an hour: keep it RQ's default 500 s, not an hour (the soak's Redis grew 17 MB every 10 minutes).
    options = {"job_timeout": 120, "result_ttl": 500, "failure_ttl": 7 * 24 * 3600}
    try:
        if due_at is None or due_at <= utcnow():
            queue().enqueue(ask_for_feedback, feedback_id, **options)
        else:
            # RQ's scheduler (a worker started with --with-scheduler) enqueues it when due.
            queue().enqueue_at(due_at, ask_for_feedback, feedback_id, **options)
    except Exception as exc:  # the row stays scheduled and due: sweep_feedback finds it
        log.warning("feedback %s not scheduled in RQ (%s); left to the sweep", feedback_id, type(exc).__name__)
        return False
    return True


def skip_reason(feedback: Feedback) -> str:
    """Why this customer must not be asked (opted out, wants no contact, no number), or "" when they may be."""
    subscriber = db.session.get(Subscriber, feedback.subscriber_id) if feedback.subscriber_id else None
    if subscriber is not None and subscriber.sms_opt_out:
        return "the subscriber opted out"
    if subscriber is not None and subscriber.feedback_channel == FeedbackChannel.NONE:
        return "the subscriber asked not to be contacted for feedback"
    if not feedback.phone:
        return "no number to ask"
    return ""


def quiet_until(now: datetime) -> datetime | None:
    """When the quiet hours that ``now`` falls in end, or None outside them."""
    config = current_app.config
    if not config["FEEDBACK_QUIET_HOURS"]:
        return None
    return window_end(now, parse_windows(config["FEEDBACK_QUIET_HOURS"]), config["OFFICE_TIMEZONE"])


def ask_by_text(feedback: Feedback, now: datetime) -> None:
    """Queue the feedback text in the outbox (sent after commit, retried, never twice) and open the request."""
    body = customer_text("feedback_request", feedback.language, booking=feedback.booking_id)
    message = queue_text(
        "feedback_request",
        f"feedback:{feedback.id}",
        feedback.phone,
        body,
        feedback.language,
        subscriber_id=feedback.subscriber_id,
        booking_id=feedback.booking_id,
    )
    opened(feedback, now)
    log_event(feedback, "asked", now, {"channel": "sms", "message_id": message.id})


def opened(feedback: Feedback, now: datetime) -> None:
    """The question is out: answers count from now until the request expires."""
    feedback.status = FeedbackStatus.REQUESTED
    feedback.requested_at = now
    feedback.expires_at = now + timedelta(hours=current_app.config["FEEDBACK_EXPIRY_HOURS"])


def open_request_for(subscriber_id: int | None, phone: str, now: datetime) -> Feedback | None:
    """The sender's latest feedback request still waiting for a rating (by subscriber, else by number)."""
    if subscriber_id is None and not phone:
        return None
    who = Feedback.subscriber_id == subscriber_id if subscriber_id is not None else Feedback.phone == phone
    return db.session.scalar(
        select(Feedback)
        .where(who, Feedback.status == FeedbackStatus.REQUESTED, Feedback.expires_at > now)
        .order_by(Feedback.requested_at.desc(), Feedback.id.desc())
        .limit(1)
    )


def complaint_of(feedback: Feedback) -> Complaint | None:
    """The complaint this feedback opened, if any."""
    return db.session.scalar(select(Complaint).where(Complaint.feedback_id == feedback.id).limit(1))


def record_rating(
    feedback: Feedback, rating: int, comment: str, now: datetime, source: str, data: dict | None = None
) -> Complaint | None:
    """Keep the customer's rating (1–5) and comment; a low rating opens a complaint, which is returned."""
    if rating not in range(1, 6):
        raise ValueError("a rating is 1 to 5")
    feedback.rating = rating
    feedback.status = FeedbackStatus.ANSWERED
    feedback.answered_at = now
    if comment:
        feedback.comment = _joined(feedback.comment, comment)
    log_event(feedback, "rating", now, {"source": source, "rating": rating, "comment": comment, **(data or {})})
    if rating > LOW_RATING:
        if comment and reads_as_complaint(comment):
            return _complaint_from(feedback, "sms" if source == "sms" else "phone", comment, now)
        return None
    return _complaint_from(feedback, "rating", feedback.comment, now, severity=3 if rating == 1 else None)


def record_comment(feedback: Feedback, comment: str, now: datetime, kind: str, data: dict | None = None) -> None:
    """Keep a comment that came on its own (a text without a rating, a recording's transcript)."""
    comment = (comment or "").strip()
    log_event(feedback, kind, now, {"comment": comment, **(data or {})})
    if not comment:
        return
    if kind == "transcript":
        feedback.transcript = comment[:COMMENT_LENGTH]
    else:
        feedback.comment = _joined(feedback.comment, comment)
    complaint = complaint_of(feedback)
    if complaint is not None:
        add_customer_words(complaint, comment, now, "transcript" if kind == "transcript" else "customer")
    elif reads_as_complaint(comment):
        _complaint_from(feedback, "sms" if kind == "comment" else "phone", comment, now)


def _complaint_from(feedback: Feedback, source: str, words: str, now: datetime, severity=None) -> Complaint:
    existing = complaint_of(feedback)
    if existing is not None:
        return existing
    booking = db.session.get(Booking, feedback.booking_id)
    complaint = open_complaint(
        source,
        words or "",
        now,
        subscriber_id=feedback.subscriber_id,
        phone=feedback.phone,
        booking=booking,
        feedback_id=feedback.id,
        severity=severity,
        recording_url=feedback.recording_url,
    )
    if severity is not None and complaint.severity < severity:
        complaint.severity = severity
    log_event(feedback, "complaint", now, {"complaint_id": complaint.id, "category": complaint.category})
    return complaint


def _joined(before: str, more: str) -> str:
    return f"{before}\n{more}".strip()[:COMMENT_LENGTH] if before else more.strip()[:COMMENT_LENGTH]
