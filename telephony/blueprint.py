"""The webhooks' blueprint: Twilio posts here, never a browser (so no CSRF, but signatures)."""

from flask import Blueprint

bp = Blueprint("telephony", __name__, url_prefix="/telephony")
