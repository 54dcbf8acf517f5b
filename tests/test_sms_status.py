"""Twilio's delivery reports for the texts Cabdesk sent: signed, idempotent, visible to admins."""

from __future__ import annotations

from core.extensions import db
from notifications.models import OutboundMessage
from tests.conftest import TWILIO_AUTH_TOKEN
from tests.support.twilio_webhooks import signed_post


def sent_text(sid: str) -> OutboundMessage:
    message = OutboundMessage(
        kind="driver_assigned", dedupe_key=f"test:{sid}", to="+989121234567", body="Your taxi", status="sent"
    )
    message.twilio_sid = sid
    db.session.add(message)
    db.session.commit()
    return message


def report(client, sid: str, status: str, **extra):
    params = {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC00", **extra}
    return signed_post(client, "/telephony/sms/status", params, TWILIO_AUTH_TOKEN)


def test_an_undelivered_text_becomes_failed_with_the_reason(client, twilio):
    message = sent_text("SM1")
    assert report(client, "SM1", "delivered").status_code == 204
    db.session.refresh(message)
    assert message.status == "sent"
    for _ in range(2):  # Twilio retries the callback: the same result
        assert report(client, "SM1", "undelivered", ErrorCode="30003").status_code == 204
        db.session.refresh(message)
        assert (message.status, message.last_error) == ("failed", "Twilio: undelivered (error 30003)")


def test_an_unsigned_report_is_refused_and_changes_nothing(client, twilio):
    message = sent_text("SM2")
    params = {"MessageSid": "SM2", "MessageStatus": "failed"}
    response = signed_post(client, "/telephony/sms/status", params, TWILIO_AUTH_TOKEN, signature="forged")
    assert response.status_code == 403
    db.session.refresh(message)
    assert message.status == "sent"
