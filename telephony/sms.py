"""SMS webhooks: texts to the desk number, and what Twilio reports about the texts Cabdesk sent.

A retried webhook finds the text already kept, or already in the state it reports, and changes nothing.
"""

from __future__ import annotations

from flask import Response, request
from twilio.twiml.messaging_response import MessagingResponse

from core.extensions import db
from core.models import utcnow
from feedback.inbound import receive_text
from notifications.outbox import record_delivery
from telephony.blueprint import bp
from telephony.security import twilio_signature_required


@bp.route("/sms/status", methods=["POST"])
@twilio_signature_required
def sms_status():
    """Delivery reports for outgoing texts: an undelivered one shows as failed on the admins' outbox page."""
    record_delivery(
        request.form.get("MessageSid", "")[:64],
        request.form.get("MessageStatus", "")[:32],
        request.form.get("ErrorCode", "")[:16],
    )
    db.session.commit()
    return Response(status=204)


@bp.route("/sms/incoming", methods=["POST"])
@twilio_signature_required
def sms_incoming():
    """A text to the desk number: an opt-out, a feedback answer, a complaint or one for the log; answered by text."""
    response = MessagingResponse()
    sid = request.form.get("MessageSid", "")[:64] or request.form.get("SmsSid", "")[:64]
    if not sid:
        return Response(str(response), mimetype="text/xml")
    payload = {key: value[:2000] for key, value in request.form.items()}
    message, created = receive_text(
        sid, request.form.get("From", ""), request.form.get("To", ""), request.form.get("Body", ""), payload, utcnow()
    )
    if created:
        db.session.commit()
    # Twilio retries only a webhook it got no answer to, so answering a retry still makes one reply in all.
    if message.reply:
        response.message(message.reply)
    return Response(str(response), mimetype="text/xml")
