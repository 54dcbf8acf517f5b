"""Only Twilio may call the webhooks: every request must carry a valid ``X-Twilio-Signature``."""

from __future__ import annotations

from functools import wraps

from flask import abort, current_app, request
from twilio.request_validator import RequestValidator

# Long fields are cut before anything is stored; a request this large is not Twilio's.
MAX_WEBHOOK_BYTES = 64 * 1024


def signed_url() -> str:
    """The URL Twilio signed: the public address when Cabdesk sits behind a proxy, else the request's own."""
    public = current_app.config["PUBLIC_URL"]
    if public:
        query = request.query_string.decode()
        return f"{public}{request.path}" + (f"?{query}" if query else "")
    return request.url


def twilio_signature_required(view):
    """Refuse (403, nothing stored) a webhook whose signature does not match the auth token."""

    @wraps(view)
    def checked(*args, **kwargs):
        token = current_app.config["TWILIO_AUTH_TOKEN"]
        if not token:
            current_app.logger.warning("Twilio webhook refused: TWILIO_AUTH_TOKEN is not set")
            abort(403)
        if (request.content_length or 0) > MAX_WEBHOOK_BYTES:
            abort(413)
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not RequestValidator(token).validate(signed_url(), request.form.to_dict(), signature):
            current_app.logger.warning("Twilio webhook refused: bad signature on %s", request.path)
            abort(403)
        return view(*args, **kwargs)

    return checked
