"""The automated feedback call: a 1–5 rating by keypad or voice, then an optional recorded comment.

Twilio fetches these as the call goes on; the feedback id in the URL is covered by Twilio's signature.
A retried webhook finds the rating or recording already kept and changes nothing. A call nobody answers
falls back to the feedback text.
"""

from __future__ import annotations

from flask import Response, request
from twilio.twiml.voice_response import VoiceResponse

from core.extensions import db
from core.models import utcnow
from feedback.models import Feedback, FeedbackStatus
from feedback.replies import read_spoken_rating
from feedback.requests import ask_by_text, complaint_of, log_event, record_comment, record_rating
from telephony.blueprint import bp
from telephony.prompts import TTS_LANGUAGES, say
from telephony.security import twilio_signature_required

COMMENT_SECONDS = 120
UNANSWERED = {"no-answer", "busy", "failed", "canceled"}


def _twiml(response: VoiceResponse) -> Response:
    return Response(str(response), mimetype="text/xml")


def _payload() -> dict:
    return {key: value[:2000] for key, value in request.form.items()}


def _feedback() -> Feedback | None:
    raw = request.args.get("feedback", "")
    return db.session.get(Feedback, int(raw)) if raw.isdigit() else None


def _ask(feedback: Feedback, again: bool) -> VoiceResponse:
    response = VoiceResponse()
    if again:
        say(response, "feedback_again", feedback.language)
    gather = response.gather(
        input="dtmf speech",
        num_digits=1,
        timeout=6,
        speech_timeout="auto",
        language=TTS_LANGUAGES.get(feedback.language, "en-US"),
        hints="1, 2, 3, 4, 5, one, two, three, four, five, یک, دو, سه, چهار, پنج",
        action=f"/telephony/feedback/rating?feedback={feedback.id}" + ("&again=1" if again else ""),
        method="POST",
    )
    say(gather, "feedback_rating", feedback.language)
    say(response, "thanks", feedback.language)
    response.hangup()
    return response


@bp.route("/feedback/call", methods=["POST"])
@twilio_signature_required
def feedback_call():
    """The customer picked up: ask for the rating."""
    feedback = _feedback()
    if feedback is None or feedback.status != FeedbackStatus.REQUESTED:
        response = VoiceResponse()
        response.hangup()
        return _twiml(response)
    return _twiml(_ask(feedback, again=False))


@bp.route("/feedback/rating", methods=["POST"])
@twilio_signature_required
def feedback_rating():
    """The key pressed or the words said: keep the rating, then offer to record a comment."""
    feedback = _feedback()
    response = VoiceResponse()
    if feedback is None:
        response.hangup()
        return _twiml(response)
    digits = request.form.get("Digits", "")[:4]
    speech = request.form.get("SpeechResult", "")[:500]
    rating = int(digits) if digits in {"1", "2", "3", "4", "5"} else read_spoken_rating(speech) if speech else None
    if feedback.status == FeedbackStatus.REQUESTED:
        if rating is None:
            log_event(feedback, "rating_unclear", utcnow(), _payload())
            db.session.commit()
            if not request.args.get("again"):
                return _twiml(_ask(feedback, again=True))
            say(response, "thanks", feedback.language)
            response.hangup()
            return _twiml(response)
        record_rating(feedback, rating, "", utcnow(), "ivr", _payload())
        db.session.commit()
    say(response, "feedback_comment", feedback.language)
    response.record(
        max_length=COMMENT_SECONDS,
        play_beep=True,
        timeout=5,
        action=f"/telephony/feedback/comment?feedback={feedback.id}",
        method="POST",
        transcribe=True,
        transcribe_callback=f"/telephony/feedback/transcription?feedback={feedback.id}",
    )
    say(response, "thanks", feedback.language)
    response.hangup()
    return _twiml(response)


@bp.route("/feedback/comment", methods=["POST"])
@twilio_signature_required
def feedback_comment():
    """The recorded comment: keep its address on the feedback (and on the complaint it opened, if any)."""
    feedback = _feedback()
    url = request.form.get("RecordingUrl", "")[:500]
    if feedback is not None and url and feedback.recording_url != url:
        feedback.recording_url = url
        record_comment(feedback, "", utcnow(), "recording", _payload())
        complaint = complaint_of(feedback)
        if complaint is not None and not complaint.recording_url:
            complaint.recording_url = url
        db.session.commit()
    response = say(VoiceResponse(), "thanks", feedback.language if feedback is not None else "fa")
    response.hangup()
    return _twiml(response)


@bp.route("/feedback/transcription", methods=["POST"])
@twilio_signature_required
def feedback_transcription():
    """Twilio's transcription of the comment: kept as the comment's text, read for complaint words."""
    feedback = _feedback()
    text = request.form.get("TranscriptionText", "")[:2000].strip()
    completed = request.form.get("TranscriptionStatus") == "completed"
    if feedback is not None and completed and text and feedback.transcript != text:
        record_comment(feedback, text, utcnow(), "transcript", _payload())
        db.session.commit()
    return Response(status=204)


def _reported(feedback: Feedback, status: str) -> bool:
    """Whether Twilio already told us this status of the call (a retried callback)."""
    return any(e.kind == "call_status" and e.data.get("CallStatus") == status for e in feedback.events)


@bp.route("/feedback/call-status", methods=["POST"])
@twilio_signature_required
def feedback_call_status():
    """The feedback call ended; one nobody answered becomes the feedback text instead."""
    feedback = _feedback()
    status = request.form.get("CallStatus", "")[:32]
    if feedback is not None and status and not _reported(feedback, status):
        now = utcnow()
        log_event(feedback, "call_status", now, _payload())
        if status in UNANSWERED and feedback.status == FeedbackStatus.REQUESTED and feedback.rating is None:
            ask_by_text(feedback, now)  # the outbox's dedupe key keeps a retried callback from texting twice
        db.session.commit()
    return Response(status=204)
