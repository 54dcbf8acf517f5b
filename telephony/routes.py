"""The Twilio webhooks: the blueprint with every handler module attached."""

from telephony import voice  # noqa: F401  (attaches the voice webhooks to the blueprint)
from telephony.blueprint import bp

__all__ = ["bp"]
