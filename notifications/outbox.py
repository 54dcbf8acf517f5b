"""Queueing texts: a row in the caller's transaction, handed to RQ only once that transaction commits.

A text is written to ``outbound_messages`` together with the change it tells of (a driver assigned, a
trip completed), so a rolled-back change sends nothing and a committed one is never forgotten. The
session listeners installed by ``install_outbox`` enqueue the new rows' ``send_text`` jobs after the
commit; when Redis is down at that moment the rows stay pending and ``notifications.tasks.sweep_outbox``
enqueues them later.
"""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Flask, has_app_context
from sqlalchemy import event, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.database import savepoint
from core.extensions import db
from core.models import utcnow
from notifications.models import MessageStatus, OutboundMessage

log = logging.getLogger("cabdesk.notifications")

# session.info key: ids of pending texts to enqueue once the session's transaction commits.
_TO_ENQUEUE = "cabdesk_outbox_to_enqueue"
ERROR_LENGTH = 500  # OutboundMessage.last_error's column size


def queue_text(
    kind: str,
    dedupe_key: str,
    to: str,
    body: str,
    language: str,
    subscriber_id: int | None = None,
    booking_id: int | None = None,
) -> OutboundMessage:
    """Add a text to the outbox in the caller's transaction (flushed, not committed); the same key twice adds nothing.

    Returns the new row, or the one already stored under ``dedupe_key``. A text for a subscriber who
    opted out, or with no number, is stored as ``skipped`` with the reason, for the record, and never sent.
    """
    existing = _by_key(dedupe_key)
    if existing is not None:
        return existing
    message = OutboundMessage(
        kind=kind,
        dedupe_key=dedupe_key,
        to=(to or "").strip(),
        body=body,
        language=language,
        subscriber_id=subscriber_id,
        booking_id=booking_id,
        status=MessageStatus.PENDING,
        attempts=0,
        next_attempt_at=utcnow(),
        last_error="",
    )
    reason = skip_reason(message)
    if reason:
        message.status = MessageStatus.SKIPPED
        message.last_error = reason
    try:
        # A savepoint: losing the race for the key to another transaction must not undo the caller's work.
        with savepoint():
            db.session.add(message)
            db.session.flush()
    except IntegrityError:
        existing = _by_key(dedupe_key)
        if existing is None:
            raise  # not the dedupe key: a foreign key or a bad value, a bug to see
        return existing
    return message


def skip_reason(message: OutboundMessage) -> str:
    """Why ``message`` must not be sent (no number, the subscriber opted out), or "" when it may be."""
    from crm.models import Subscriber

    if not message.to:
        return "no number to send to"
    if message.subscriber_id is not None:
        subscriber = db.session.get(Subscriber, message.subscriber_id)
        if subscriber is not None and subscriber.sms_opt_out:
            return "the subscriber opted out of texts"
    return ""


def _by_key(dedupe_key: str) -> OutboundMessage | None:
    return db.session.scalar(select(OutboundMessage).where(OutboundMessage.dedupe_key == dedupe_key))


def retry_message(message_id: int, now: datetime | None = None) -> bool:
    """Give a failed text another attempt, due now (attempts kept); it is enqueued once the caller commits.

    Returns False when the text is not failed (already retried, sent or skipped).
    """
    now = now or utcnow()
    result = db.session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id == message_id, OutboundMessage.status == MessageStatus.FAILED)
        .values(status=MessageStatus.PENDING, next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    enqueue_after_commit(db.session(), message_id)
    return True


# Twilio's MessageStatus values that mean the text will never reach the phone.
UNDELIVERED = {"failed", "undelivered"}


def record_delivery(twilio_sid: str, status: str, error_code: str = "") -> OutboundMessage | None:
    """Note what Twilio reports about a sent text: one it could not deliver becomes failed, with the reason."""
    message = db.session.scalar(select(OutboundMessage).where(OutboundMessage.twilio_sid == twilio_sid))
    if message is None or status not in UNDELIVERED or message.status == MessageStatus.FAILED:
        return message
    message.status = MessageStatus.FAILED
    reason = f"Twilio: {status}" + (f" (error {error_code})" if error_code else "")
    message.last_error = reason[:ERROR_LENGTH]
    db.session.flush()
    return message


def enqueue_after_commit(session: Session, message_id: int) -> None:
    """Have ``send_text(message_id)`` enqueued when ``session``'s transaction commits (forgotten on rollback)."""
    session.info.setdefault(_TO_ENQUEUE, []).append(message_id)


def enqueue_texts(message_ids: list[int]) -> int:
    """Enqueue a ``send_text`` job for each id now; returns how many went in (0 when Redis is unreachable).

    A row whose job is lost stays pending: the sweep enqueues it again, and ``send_text`` claims a row
    before sending, so a job too many sends nothing twice.
    """
    from core.queues import queue
    from notifications.tasks import send_text

    done = 0
    try:
        jobs = queue()
        for message_id in message_ids:
            # The outbox row keeps what happened; the job's own record is kept only RQ's default 500 s.
            jobs.enqueue(send_text, message_id, job_timeout=120, result_ttl=500, failure_ttl=7 * 24 * 3600)
            done += 1
    except Exception as exc:
        # Redis down or refusing: the commit has happened and must not turn into an error now. The type
        # alone is logged: a Redis error can carry the server's address, and bodies are customers' data.
        log.warning(
            "outbox: %d of %d text(s) not enqueued (%s); they stay pending for the sweep",
            len(message_ids) - done,
            len(message_ids),
            type(exc).__name__,
        )
    return done


def _collect_new_texts(session: Session, _flush_context) -> None:
    # session.new still lists the flushed objects here, with their ids assigned.
    for obj in session.new:
        if isinstance(obj, OutboundMessage) and obj.status == MessageStatus.PENDING:
            enqueue_after_commit(session, obj.id)


def _enqueue_committed_texts(session: Session) -> None:
    # A savepoint's release fires after_commit too; only the outermost commit makes rows visible to workers.
    if session.in_nested_transaction():
        return
    ids = session.info.pop(_TO_ENQUEUE, None)
    if ids and has_app_context():
        # An id from a savepoint rolled back inside the transaction may be among them: its job finds no
        # pending row (or a row due anyway) and the claim in send_text keeps it from sending twice.
        enqueue_texts(list(dict.fromkeys(ids)))


def _forget_texts(session: Session) -> None:
    # A savepoint rolling back leaves the outer transaction's texts alive; only the outermost rollback drops them.
    if session.in_nested_transaction():
        return
    session.info.pop(_TO_ENQUEUE, None)


def install_outbox(app: Flask) -> None:
    """Hook the outbox into the app's database sessions: new pending texts are enqueued after each commit."""
    # Listeners go on Flask-SQLAlchemy's session factory, shared by every app of the process: install once.
    for name, listener in (
        ("after_flush", _collect_new_texts),
        ("after_commit", _enqueue_committed_texts),
        ("after_rollback", _forget_texts),
    ):
        if not event.contains(db.session, name, listener):
            event.listen(db.session, name, listener)
    app.extensions["cabdesk_outbox"] = True
