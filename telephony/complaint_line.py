"""The complaint line: a caller presses 9 at any hour, records their complaint, and a complaint is opened.

The complaint is linked to the caller's subscriber record and last trip. Twilio's transcription (when the
account has it; Twilio transcribes English only) arrives later and is added to the complaint's text.
"""

from __future__ import annotations

from flask import Response, request
from sqlalchemy import select
from twilio.twiml.voice_response import VoiceResponse

from calls.models import Call
from calls.services import find_call, keep_recording, to_complaint_line
from calls.signals import commit_and_announce
from core.extensions import db
from core.models import utcnow
from crm.models import Subscriber
from feedback.complaints import add_customer_words, last_trip, open_complaint
from feedback.models import Complaint
from telephony.blueprint import bp
from telephony.prompts import say
from telephony.security import twilio_signature_required

COMPLAINT_SECONDS = 180


def _twiml(response: VoiceResponse) -> Response:
    return Response(str(response), mimetype="text/xml")


def _payload() -> dict:
    return {key: value[:2000] for key, value in request.form.items()}


def complaint_line(call: Call | None, payload: dict, language: str) -> VoiceResponse:
    """Take the caller out of the queue (or menu) and record their complaint."""
    if call is not None:
        to_complaint_line(call, payload)
        commit_and_announce()
    response = VoiceResponse()
    say(response, "complaint_line", language)
    response.record(
        max_length=COMPLAINT_SECONDS,
        play_beep=True,
        action="/telephony/voice/complaint",
        method="POST",
        transcribe=True,
        transcribe_callback="/telephony/voice/complaint-transcript",
    )
    say(response, "complaint_recorded", language)
    response.hangup()
    return response


def _complaint_of(call: Call) -> Complaint | None:
    return db.session.scalar(select(Complaint).where(Complaint.call_id == call.id).limit(1))


def _language(call: Call | None) -> str:
    from flask import current_app

    subscriber = db.session.get(Subscriber, call.subscriber_id) if call is not None and call.subscriber_id else None
    return subscriber.language if subscriber is not None else current_app.config["DEFAULT_LOCALE"]


@bp.route("/voice/complaint", methods=["POST"])
@twilio_signature_required
def complaint_recorded():
    """The caller finished recording: open the complaint (once per call) with the recording."""
    call = find_call(request.form.get("CallSid", "")[:64])
    url = request.form.get("RecordingUrl", "")[:500]
    if call is not None and url and _complaint_of(call) is None:
        keep_recording(call, url)
        open_complaint(
            "phone",
            "",
            utcnow(),
            subscriber_id=call.subscriber_id,
            phone=call.caller_e164 or "",
            booking=last_trip(call.subscriber_id, call.caller_e164 or ""),
            call_id=call.id,
            recording_url=url,
        )
        db.session.commit()
    response = say(VoiceResponse(), "complaint_recorded", _language(call))
    response.hangup()
    return _twiml(response)


@bp.route("/voice/complaint-transcript", methods=["POST"])
@twilio_signature_required
def complaint_transcript():
    """Twilio's transcription of a recorded complaint: its words join the complaint, once."""
    call = find_call(request.form.get("CallSid", "")[:64])
    text = request.form.get("TranscriptionText", "")[:4000].strip()
    complaint = _complaint_of(call) if call is not None else None
    completed = request.form.get("TranscriptionStatus") == "completed"
    if complaint is not None and completed and text and complaint.transcript != text:
        add_customer_words(complaint, text, utcnow(), "transcript")
        db.session.commit()
    return Response(status=204)
