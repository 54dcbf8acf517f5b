"""Texts that reach the desk number: opt-outs, answers to feedback requests, complaints, and the rest.

Every text is kept (``InboundMessage``) with Twilio's payload and what was read from it, whatever it
turns out to be. Twilio retries a webhook it got no answer to; the MessageSid is unique, so a retry finds
the text already kept and changes nothing.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.database import savepoint
from core.extensions import db
from crm.models import Subscriber
from crm.phones import PhoneNumberError, to_e164
from crm.services import phone_owner
from feedback.complaints import last_trip, open_complaint, reads_as_complaint
from feedback.models import InboundMessage
from feedback.replies import opt_keyword, read_reply
from feedback.requests import complaint_of, open_request_for, record_comment, record_rating
from feedback.texts import customer_text

BODY_LENGTH = 1600  # Twilio's own limit for one message's body


def receive_text(
    sid: str, sender: str, to: str, body: str, payload: dict, now: datetime
) -> tuple[InboundMessage, bool]:
    """Keep a text and act on it; returns the stored message and whether it is new (False: a retry, nothing done)."""
    existing = _by_sid(sid)
    if existing is not None:
        return existing, False
    number = _e164(sender)
    owner = phone_owner(number) if number else None
    subscriber = db.session.get(Subscriber, owner.subscriber_id) if owner is not None else None
    message = InboundMessage(
        message_sid=sid,
        from_number=number or (sender or "")[:32],
        to_number=(to or "")[:32],
        body=(body or "")[:BODY_LENGTH],
        payload=payload,
        subscriber_id=subscriber.id if subscriber is not None else None,
        created_at=now,
    )
    try:
        # Two deliveries of one text racing: the unique MessageSid lets one in; the other is a retry.
        with savepoint():
            db.session.add(message)
            db.session.flush()
    except IntegrityError:
        existing = _by_sid(sid)
        if existing is None:
            raise
        return existing, False
    _act_on(message, subscriber, now)
    db.session.flush()
    return message, True


def _by_sid(sid: str) -> InboundMessage | None:
    return db.session.scalar(select(InboundMessage).where(InboundMessage.message_sid == sid))


def _e164(sender: str) -> str | None:
    try:
        return to_e164((sender or "").strip(), current_app.config["DEFAULT_REGION"])
    except PhoneNumberError:
        return None


def _language(subscriber: Subscriber | None, body: str) -> str:
    if subscriber is not None and subscriber.language in ("fa", "en"):
        return subscriber.language
    # A stranger is answered in the script they wrote in.
    return "en" if body and all(ord(c) < 0x600 for c in body) else current_app.config["DEFAULT_LOCALE"]


def _act_on(message: InboundMessage, subscriber: Subscriber | None, now: datetime) -> None:
    body = message.body
    language = _language(subscriber, body)
    keyword = opt_keyword(body)
    if keyword is not None:
        if subscriber is not None:
            subscriber.sms_opt_out = keyword == "stop"
        message.outcome = "opt_out" if keyword == "stop" else "opt_in"
        message.parsed = {"keyword": keyword, "subscriber_known": subscriber is not None}
        message.reply = customer_text("opted_out" if keyword == "stop" else "opted_in", language)
        return
    phone = message.from_number
    feedback = open_request_for(message.subscriber_id, phone, now)
    if feedback is not None:
        reply = read_reply(body)
        message.feedback_id = feedback.id
        message.outcome = "feedback_reply"
        message.parsed = asdict(reply)
        data = {"message_sid": message.message_sid}
        if reply.rating is None:
            record_comment(feedback, reply.comment, now, "comment", data)
            message.reply = customer_text("ask_rating", language)
            complaint = complaint_of(feedback)
        else:
            complaint = record_rating(feedback, reply.rating, reply.comment, now, "sms", data)
            message.reply = (
                customer_text("sorry", language, reference=complaint.reference)
                if complaint is not None
                else customer_text("thanks", language)
            )
        message.complaint_id = complaint.id if complaint is not None else None
        return
    if body.strip() and reads_as_complaint(body):
        complaint = open_complaint(
            "sms",
            body,
            now,
            subscriber_id=message.subscriber_id,
            phone=phone if phone.startswith("+") else "",
            booking=last_trip(message.subscriber_id, phone),
        )
        message.outcome = "complaint"
        message.complaint_id = complaint.id
        message.parsed = {"category": complaint.category, "severity": complaint.severity}
        message.reply = customer_text("complaint_received", language, reference=complaint.reference)
        return
    message.outcome = "logged"
    message.parsed = {}
