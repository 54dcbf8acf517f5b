"""The Twilio webhooks: the blueprint with every handler module attached."""

from telephony import complaint_line, feedback_calls, sms, voice  # noqa: F401  (attach the webhooks to the blueprint)
from telephony.blueprint import bp

__all__ = ["bp"]
