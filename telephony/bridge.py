"""Connecting a waiting caller to the agent who took the call: the agent's browser, phone or SIP line."""

from __future__ import annotations

from flask import current_app
from twilio.twiml.voice_response import Dial, VoiceResponse

from accounts.models import User
from calls.models import Call
from twilio_rest.client import place_call, redirect_call, webhook_url

AGENT_RING_SECONDS = 20


def client_identity(user: User) -> str:
    """The name an agent's browser softphone registers with Twilio under."""
    return f"agent-{user.id}"


def bridge_twiml(call: Call, agent: User) -> str:
    """TwiML that rings the agent and reports back when they answer and when the line ends."""
    response = VoiceResponse()
    dial = Dial(
        action=webhook_url(f"/telephony/voice/dial-ended?call={call.id}"), method="POST", timeout=AGENT_RING_SECONDS
    )
    callback = {
        "status_callback_event": "answered",
        "status_callback": webhook_url(f"/telephony/voice/agent-answered?call={call.id}"),
        "status_callback_method": "POST",
    }
    target = (agent.phone or "").strip()
    if target.startswith("sip:"):
        dial.sip(target, **callback)
    elif target.startswith("+"):
        dial.number(target, **callback)
    else:
        dial.client(client_identity(agent), **callback)
    response.append(dial)
    return str(response)


def connect_agent(call: Call, agent: User) -> None:
    """Move the caller out of the queue and ring the agent (Twilio REST; raises TwilioError on failure)."""
    redirect_call(call.provider_sid, bridge_twiml(call, agent))


def call_back(number: str, agent: User) -> str:
    """Ring the agent first, then the customer, from the desk number; returns the new call's SID."""
    response = VoiceResponse()
    response.dial(number, caller_id=current_app.config["TWILIO_NUMBER"] or None)
    target = (agent.phone or "").strip() or f"client:{client_identity(agent)}"
    return place_call(target, twiml=str(response), status_callback=webhook_url("/telephony/voice/status"))
