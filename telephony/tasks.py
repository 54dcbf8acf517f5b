"""Background jobs of the Twilio edge."""

from __future__ import annotations

from flask import current_app

from calls.services import long_waits
from core.jobs import in_app_context
from twilio_rest.client import TwilioError, redirect_call, webhook_url


@in_app_context
def offer_menu_to_long_waits() -> list[str]:
    """Take callers who waited past QUEUE_MAX_WAIT to the voicemail / call-back menu; safe to repeat.

    Twilio fetches the menu from /telephony/voice/long-wait, which moves the call out of the queue; a
    call already moved is no longer waiting, so a second run leaves it alone.
    """
    config = current_app.config
    if not config["QUEUE_MAX_WAIT"] or not config["PUBLIC_URL"]:
        return []  # switched off, or no public address for Twilio to fetch the menu from
    moved = []
    for call in long_waits(config["QUEUE_MAX_WAIT"]):
        try:
            redirect_call(call.provider_sid, url=webhook_url("/telephony/voice/long-wait"))
        except TwilioError as exc:
            current_app.logger.warning("long-waiting call %s not moved: %s", call.id, exc)
            continue
        moved.append(call.provider_sid)
    return moved
