"""RQ jobs of the feedback loop: asking when a request falls due, and sweeping up what Redis lost."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select, update

from core.extensions import db
from core.jobs import in_app_context
from core.models import utcnow
from feedback.models import Feedback, FeedbackChannel, FeedbackStatus
from feedback.requests import ask_by_text, enqueue_request, log_event, opened, quiet_until, skip_reason
from notifications.tasks import BACKOFF, backoff_after
from twilio_rest.client import TwilioError, TwilioNotConfigured, place_call, webhook_url

log = logging.getLogger("cabdesk.feedback")

# A claimed request is kept from other workers this long (a Twilio call request takes seconds at most).
LEASE = timedelta(minutes=2)
EARLY_TOLERANCE = timedelta(seconds=2)
SWEEP_GRACE = timedelta(seconds=30)
SWEEP_BATCH = 500
MAX_CALL_ATTEMPTS = len(BACKOFF) + 1


@in_app_context
def ask_for_feedback(feedback_id: int, now: datetime | None = None) -> str:
    """Ask for one trip's feedback if it is due: by text or by automated call; safe to run twice (asks once).

    Returns "asked", "called", "deferred" (quiet hours), "skipped", "retry", "failed" or "not due".
    """
    now = now or utcnow()
    # The claim: of two workers running this job, one matches the row; the other stops here.
    claimed = db.session.execute(
        update(Feedback)
        .where(
            Feedback.id == feedback_id,
            Feedback.status == FeedbackStatus.SCHEDULED,
            Feedback.due_at <= now + EARLY_TOLERANCE,
        )
        .values(due_at=now + LEASE)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if claimed != 1:
        return "not due"
    feedback = db.session.get(Feedback, feedback_id)
    reason = skip_reason(feedback)
    if reason:
        feedback.status = FeedbackStatus.SKIPPED
        feedback.last_error = reason
        log_event(feedback, "skipped", now, {"reason": reason})
        db.session.commit()
        return "skipped"
    quiet_end = quiet_until(now)
    if quiet_end is not None:
        feedback.due_at = quiet_end
        log_event(feedback, "deferred", now, {"until": quiet_end.isoformat()})
        db.session.commit()
        enqueue_request(feedback.id, quiet_end)
        return "deferred"
    if feedback.channel == FeedbackChannel.IVR:
        return _call(feedback, now)
    ask_by_text(feedback, now)
    db.session.commit()
    return "asked"


def _call(feedback: Feedback, now: datetime) -> str:
    try:
        urls = {
            "url": webhook_url(f"/telephony/feedback/call?feedback={feedback.id}"),
            "status_callback": webhook_url(f"/telephony/feedback/call-status?feedback={feedback.id}"),
        }
    except TwilioNotConfigured:
        # Twilio cannot reach the call's questions without PUBLIC_URL: the customer gets the text instead.
        log_event(feedback, "call_impossible", now, {"reason": "PUBLIC_URL is not set"})
        ask_by_text(feedback, now)
        db.session.commit()
        return "asked"
    feedback.attempts += 1
    db.session.commit()
    try:
        sid = place_call(feedback.phone, **urls)
    except TwilioError as exc:
        feedback.last_error = str(exc)[:500]
        log_event(feedback, "call_failed", now, {"error": str(exc)[:500], "attempt": feedback.attempts})
        if not exc.retryable or feedback.attempts >= MAX_CALL_ATTEMPTS:
            feedback.status = FeedbackStatus.FAILED
            db.session.commit()
            return "failed"
        feedback.due_at = now + backoff_after(feedback.attempts)
        db.session.commit()
        enqueue_request(feedback.id, feedback.due_at)
        return "retry"
    # As with texts, at least once: a crash between Twilio's answer and this commit may call twice.
    feedback.call_sid = sid
    feedback.last_error = ""
    opened(feedback, now)
    log_event(feedback, "call_placed", now, {"call_sid": sid})
    db.session.commit()
    return "called"


@in_app_context
def sweep_feedback(now: datetime | None = None) -> dict:
    """Enqueue requests whose job was lost (Redis down) and close requests nobody answered in time."""
    now = now or utcnow()
    due = list(
        db.session.scalars(
            select(Feedback.id)
            .where(Feedback.status == FeedbackStatus.SCHEDULED, Feedback.due_at <= now - SWEEP_GRACE)
            .order_by(Feedback.due_at)
            .limit(SWEEP_BATCH)
        )
    )
    enqueued = sum(enqueue_request(feedback_id) for feedback_id in due)
    expired = db.session.execute(
        update(Feedback)
        .where(Feedback.status == FeedbackStatus.REQUESTED, Feedback.expires_at <= now)
        .values(status=FeedbackStatus.EXPIRED)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return {"enqueued": enqueued, "expired": expired}
