"""Voice webhooks: a call reaches the desk, waits in the queue, meets an agent, or leaves a message.

Each handler checks Twilio's signature, records what happened through the call book, commits, tells
the consoles, and answers TwiML. Twilio may retry any of them: a retry finds the call already in the
state it reports and changes nothing.
"""

from __future__ import annotations

from flask import Response, current_app, request
from twilio.twiml.voice_response import VoiceResponse

from calls.intake import Route, route_call
from calls.models import Call, CallStatus
from calls.services import (
    agents_ready,
    find_call,
    keep_recording,
    leave_in_menu,
    mark_answered,
    mark_ended,
    move_to_menu,
    record_inbound_call,
    release_call,
)
from calls.signals import commit_and_announce
from core.extensions import db
from core.models import utcnow
from core.timewindows import in_windows, parse_windows
from crm.models import Subscriber
from telephony.blueprint import bp
from telephony.complaint_line import complaint_line
from telephony.prompts import say
from telephony.security import twilio_signature_required

# Twilio reports these CallStatus values when a call is over.
FINAL_STATUSES = {"completed", "busy", "no-answer", "failed", "canceled"}
VOICEMAIL_SECONDS = 120
COMPLAINT_KEY = "9"
COMPLAINT_CHOICE = "/telephony/voice/choice"


def twiml(response: VoiceResponse) -> Response:
    """A TwiML answer."""
    return Response(str(response), mimetype="text/xml")


def _form(name: str, limit: int = 64) -> str:
    return request.form.get(name, "")[:limit]


def _payload() -> dict:
    """The webhook's fields as Twilio sent them, for the call's history (values cut to a sane length)."""
    return {key: value[:500] for key, value in request.form.items()}


def _language(call: Call | None) -> str:
    if call is not None and call.subscriber is not None:
        return call.subscriber.language
    return current_app.config["DEFAULT_LOCALE"]


def _office_open() -> bool:
    config = current_app.config
    return in_windows(utcnow(), parse_windows(config["OFFICE_HOURS"]), config["OFFICE_TIMEZONE"])


def queue_twiml(language: str, greeting: bool = True, response: VoiceResponse | None = None) -> VoiceResponse:
    """Greet the caller and put them in the desk queue, with the hold loop and the result callback."""
    response = response or VoiceResponse()
    if greeting:
        # A short window to press 9 for the complaint line; with no key the call goes on into the queue.
        choice = response.gather(num_digits=1, action=COMPLAINT_CHOICE, method="POST", timeout=1)
        say(choice, "greeting", language)
    response.enqueue(
        current_app.config["DESK_QUEUE"],
        wait_url=f"/telephony/voice/wait?lang={language}",
        wait_url_method="POST",
        action="/telephony/voice/queue-result",
        method="POST",
    )
    return response


def menu_twiml(language: str) -> VoiceResponse:
    """Nobody can answer: offer a voicemail (1) or a call-back (2)."""
    response = VoiceResponse()
    gather = response.gather(num_digits=1, action="/telephony/voice/menu", method="POST", timeout=8)
    say(gather, "menu", language)
    # No key pressed: take it as a call-back request rather than losing the caller.
    response.redirect("/telephony/voice/menu?Digits=2", method="POST")
    return response


@bp.route("/voice/incoming", methods=["POST"])
@twilio_signature_required
def incoming_call():
    """A call to the desk number: turn away, offer the menu, or queue it and pop it on the consoles."""
    sid = _form("CallSid")
    if not sid:
        response = VoiceResponse()
        response.hangup()
        return twiml(response)

    def route_for(subscriber: Subscriber | None) -> Route:
        return route_call(bool(subscriber and subscriber.barred), agents_ready(), _office_open())

    call, created = record_inbound_call(
        sid, _form("From"), _form("To"), current_app.config["DEFAULT_REGION"], _payload(), route_for
    )
    if created:
        # The call and its caller's record are in hand: the pop is built from them, not read back.
        commit_and_announce(keep_loaded=True)
    language = _language(call)
    if call.status == CallStatus.REJECTED:
        response = say(VoiceResponse(), "barred", language)
        response.hangup()
        return twiml(response)
    if call.status == CallStatus.MENU:
        return twiml(menu_twiml(language))
    return twiml(queue_twiml(language))


@bp.route("/voice/wait", methods=["POST"])
@twilio_signature_required
def hold():
    """What a waiting caller hears, looped by Twilio until an agent takes the call."""
    language = request.args.get("lang", current_app.config["DEFAULT_LOCALE"])
    if language not in ("fa", "en"):
        language = current_app.config["DEFAULT_LOCALE"]
    response = say(VoiceResponse(), "hold", language)
    music = current_app.config["HOLD_MUSIC_URL"]
    if music:
        response.play(music)
    else:
        response.pause(length=10)
    return twiml(response)


@bp.route("/voice/queue-result", methods=["POST"])
@twilio_signature_required
def queue_result():
    """The caller left the queue: by hanging up (abandoned) or because an agent's line took them."""
    call = find_call(_form("CallSid"))
    response = VoiceResponse()
    if call is not None and _form("QueueResult") in ("hangup", "error", "system-error"):
        mark_ended(call, _payload())
        commit_and_announce()
    response.hangup()
    return twiml(response)


@bp.route("/voice/long-wait", methods=["POST"])
@twilio_signature_required
def long_wait():
    """Twilio fetches this for a caller taken out of a queue that was too slow: the voicemail / call-back menu."""
    call = find_call(_form("CallSid"))
    if call is not None:
        move_to_menu(call, _payload())
        commit_and_announce()
    return twiml(menu_twiml(_language(call)))


@bp.route("/voice/status", methods=["POST"])
@twilio_signature_required
def call_status():
    """Status callbacks for the caller's leg: the end of the call, however it ended."""
    call = find_call(_form("CallSid"))
    if call is not None and _form("CallStatus") in FINAL_STATUSES:
        mark_ended(call, _payload())
        commit_and_announce()
    return twiml(VoiceResponse())


@bp.route("/voice/menu", methods=["POST"])
@twilio_signature_required
def menu_choice():
    """The after-hours menu: 1 records a voicemail, 2 asks for a call-back (both for the missed calls), 9 complains."""
    call = find_call(_form("CallSid"))
    language = _language(call)
    digits = request.values.get("Digits", "")[:4]
    if digits == COMPLAINT_KEY:
        return twiml(complaint_line(call, _payload(), language))
    response = VoiceResponse()
    if digits == "1":
        say(response, "voicemail", language)
        response.record(
            max_length=VOICEMAIL_SECONDS,
            play_beep=True,
            action="/telephony/voice/voicemail",
            method="POST",
            recording_status_callback="/telephony/voice/recording",
            recording_status_callback_method="POST",
        )
        response.redirect("/telephony/voice/menu?Digits=2", method="POST")  # silence: call back instead
        return twiml(response)
    if call is not None:
        leave_in_menu(call, CallStatus.CALLBACK, _payload())
        commit_and_announce()
    say(response, "callback", language)
    response.hangup()
    return twiml(response)


@bp.route("/voice/voicemail", methods=["POST"])
@twilio_signature_required
def voicemail():
    """The caller finished recording: the message waits in the missed calls."""
    call = find_call(_form("CallSid"))
    if call is not None and _form("RecordingUrl", 500):
        keep_recording(call, _form("RecordingUrl", 500))
        leave_in_menu(call, CallStatus.VOICEMAIL, _payload())
        commit_and_announce()
    response = say(VoiceResponse(), "thanks", _language(call))
    response.hangup()
    return twiml(response)


@bp.route("/voice/recording", methods=["POST"])
@twilio_signature_required
def recording_status():
    """Twilio's recording callback: keep the final URL of the message."""
    call = find_call(_form("CallSid"))
    if call is not None and _form("RecordingStatus") == "completed" and _form("RecordingUrl", 500):
        keep_recording(call, _form("RecordingUrl", 500))
        db.session.commit()
    return twiml(VoiceResponse())


def _call_from_query() -> Call | None:
    call_id = request.args.get("call", "")
    return db.session.get(Call, int(call_id)) if call_id.isdigit() else None


@bp.route("/voice/agent-answered", methods=["POST"])
@twilio_signature_required
def agent_answered():
    """The agent's line picked up the caller: the conversation starts."""
    call = _call_from_query()
    if call is not None and _form("CallStatus") in ("in-progress", "answered"):
        mark_answered(call, _payload())
        commit_and_announce()
    return twiml(VoiceResponse())


@bp.route("/voice/dial-ended", methods=["POST"])
@twilio_signature_required
def dial_ended():
    """The agent's line ended: after a talk the caller hangs up; if the agent never answered, back to the queue."""
    call = _call_from_query()
    response = VoiceResponse()
    if call is None:
        response.hangup()
        return twiml(response)
    if _form("DialCallStatus") in ("no-answer", "busy", "failed", "canceled") and call.status == CallStatus.RINGING:
        release_call(call, f"agent line: {_form('DialCallStatus')}")
        commit_and_announce()
        language = _language(call)
        say(response, "retry", language)
        return twiml(queue_twiml(language, greeting=False, response=response))
    response.hangup()
    return twiml(response)


@bp.route("/voice/choice", methods=["POST"])
@twilio_signature_required
def greeting_choice():
    """A key pressed during the greeting: 9 is the complaint line; any other key goes on into the queue."""
    call = find_call(_form("CallSid"))
    language = _language(call)
    if request.values.get("Digits", "")[:4] == COMPLAINT_KEY and call is not None:
        return twiml(complaint_line(call, _payload(), language))
    return twiml(queue_twiml(language, greeting=False))
