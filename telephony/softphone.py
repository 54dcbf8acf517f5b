"""Access tokens for the agent's browser softphone (Twilio Voice JavaScript SDK)."""

from __future__ import annotations

from flask import current_app
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant

from twilio_rest.client import TwilioNotConfigured

TOKEN_SECONDS = 3600
SETTINGS = ("TWILIO_ACCOUNT_SID", "TWILIO_API_KEY_SID", "TWILIO_API_KEY_SECRET", "TWILIO_TWIML_APP_SID")


def softphone_token(identity: str) -> str:
    """A signed token that lets this browser register as ``identity`` and take the calls put through to it."""
    config = current_app.config
    missing = [name for name in SETTINGS if not config[name]]
    if missing:
        raise TwilioNotConfigured(f"browser calls are not set up: set {', '.join(missing)}")
    token = AccessToken(
        config["TWILIO_ACCOUNT_SID"],
        config["TWILIO_API_KEY_SID"],
        config["TWILIO_API_KEY_SECRET"],
        identity=identity,
        ttl=TOKEN_SECONDS,
    )
    token.add_grant(VoiceGrant(outgoing_application_sid=config["TWILIO_TWIML_APP_SID"], incoming_allow=True))
    return token.to_jwt()
