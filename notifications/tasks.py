"""Background jobs of the outbox: sending one text through Twilio, and sweeping up texts whose job was lost."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from core.extensions import db
from core.jobs import in_app_context
from core.models import utcnow
from notifications.models import MessageStatus, OutboundMessage
from notifications.outbox import ERROR_LENGTH, enqueue_texts, skip_reason
from twilio_rest.client import TwilioError, send_sms, webhook_url

log = logging.getLogger("cabdesk.notifications")

# Waits before the 2nd, 3rd… attempt after Twilio failed in a way worth retrying (an outage, 429, 5xx).
BACKOFF = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=2),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
# How long a claimed text is kept from other workers; far longer than a Twilio request may take
# (TWILIO_TIMEOUT, 10 s by default). A worker that dies mid-send leaves the text to be swept after it.
LEASE = timedelta(minutes=2)
# RQ's scheduler runs on another machine's clock: a retry job arriving a little early still counts as due.
EARLY_TOLERANCE = timedelta(seconds=2)
# The sweep leaves alone texts that fell due just now: their own job is most likely about to send them.
SWEEP_GRACE = timedelta(seconds=30)
SWEEP_BATCH = 1000
SMS_STATUS_PATH = "/telephony/sms/status"


def backoff_after(attempts: int) -> timedelta:
    """The wait before the next attempt once ``attempts`` attempts have failed."""
    return BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]


@in_app_context
def send_text(message_id: int, now: datetime | None = None) -> str:
    """Send one outbox text through Twilio if it is pending and due; safe to run twice (it sends once).

    Returns what happened: "sent", "retry", "failed", "skipped" or "not due" (another worker has it,
    it is not due yet, or it is no longer pending).
    """
    now = now or utcnow()
    # The claim: one conditional UPDATE that pushes the text's due time past the lease. Of two workers
    # running this job at once, only one matches the row; the other sees rowcount 0 and stops.
    claimed = db.session.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.id == message_id,
            OutboundMessage.status == MessageStatus.PENDING,
            OutboundMessage.next_attempt_at <= now + EARLY_TOLERANCE,
        )
        .values(next_attempt_at=now + LEASE, attempts=OutboundMessage.attempts + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if claimed != 1:
        return "not due"
    message = db.session.get(OutboundMessage, message_id)
    reason = skip_reason(message)  # the subscriber may have opted out since the text was queued
    if reason:
        message.status = MessageStatus.SKIPPED
        message.last_error = reason
        db.session.commit()
        return "skipped"
    callback = webhook_url(SMS_STATUS_PATH) if current_app.config.get("PUBLIC_URL") else None
    try:
        sid = send_sms(message.to, message.body, status_callback=callback)
    except TwilioError as exc:
        return _failed_attempt(message, exc, now)
    # At least once, not exactly once: a send that timed out (retryable) may still have been carried
    # out by Twilio, and a crash between Twilio's answer and this commit leaves the row pending for the
    # sweep after the lease. Either way the passenger may get the text twice; that is accepted, since
    # losing it is worse, and Twilio offers no idempotency key for messages to prevent it.
    message.status = MessageStatus.SENT
    message.twilio_sid = sid
    message.sent_at = now
    message.last_error = ""
    db.session.commit()
    return "sent"


def _failed_attempt(message: OutboundMessage, exc: TwilioError, now: datetime) -> str:
    message.last_error = str(exc)[:ERROR_LENGTH]
    if not exc.retryable or message.attempts >= MAX_ATTEMPTS:
        message.status = MessageStatus.FAILED
        db.session.commit()
        log.warning("outbox: text %s failed after %d attempt(s)", message.id, message.attempts)
        return "failed"
    delay = backoff_after(message.attempts)
    message.next_attempt_at = now + delay
    db.session.commit()
    log.info("outbox: text %s will be tried again in %ss", message.id, int(delay.total_seconds()))
    try:
        from core.queues import queue

        # RQ's scheduler (a worker started with --with-scheduler) enqueues it when due.
        queue().enqueue_in(delay, send_text, message.id, job_timeout=120, result_ttl=500)
    except Exception as exc:  # the row is pending and due later: the sweep picks it up
        log.warning("outbox: retry of text %s not scheduled (%s); left to the sweep", message.id, type(exc).__name__)
    return "retry"


@in_app_context
def sweep_outbox(now: datetime | None = None) -> int:
    """Enqueue every pending text whose attempt is overdue (its job was lost, e.g. Redis was down); returns how many."""
    now = now or utcnow()
    ids = list(
        db.session.scalars(
            select(OutboundMessage.id)
            .where(
                OutboundMessage.status == MessageStatus.PENDING,
                OutboundMessage.next_attempt_at <= now - SWEEP_GRACE,
            )
            .order_by(OutboundMessage.next_attempt_at)
            .limit(SWEEP_BATCH)
        )
    )
    return enqueue_texts(ids) if ids else 0
