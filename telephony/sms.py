"""SMS webhooks: what Twilio reports about the texts Cabdesk sent.

A retried callback finds the text already in the state it reports and changes nothing.
"""

from __future__ import annotations

from flask import Response, request

from core.extensions import db
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
