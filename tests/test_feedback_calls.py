"""Feedback by automated call (rating by key or voice, recorded comment, transcription) and the complaint line."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from calls.models import Call
from core.extensions import db
from crm.models import Subscriber
from feedback.models import Complaint, FeedbackEvent
from feedback.requests import plan_feedback
from feedback.tasks import ask_for_feedback
from notifications.models import OutboundMessage
from tests.conftest import TWILIO_AUTH_TOKEN
from tests.support.twilio_webhooks import call_status_params, incoming_call_params, signed_post
from tests.test_call_intake import agent_console  # noqa: F401  (fixture)
from tests.test_feedback_loop import RIDER, complete, trip_on_the_road
from tests.test_feedback_requests import MORNING


@pytest.fixture
def ivr(app, twilio):
    app.config["PUBLIC_URL"] = "http://localhost"
    booking = trip_on_the_road("en")
    db.session.get(Subscriber, booking.subscriber_id).feedback_channel = "ivr"
    feedback = plan_feedback(booking, MORNING)
    db.session.commit()
    return feedback


def hook(client, path: str, **params):
    base = call_status_params(params.pop("CallSid", "CAfeedback1"), "in-progress", from_="+982188888888", to=RIDER)
    return signed_post(client, path, {**base, **params}, TWILIO_AUTH_TOKEN)


def test_the_call_asks_for_a_rating_then_records_a_comment_and_its_transcript(client, twilio, ivr):
    assert ask_for_feedback(ivr.id, now=ivr.due_at) == "called"
    placed = twilio.requests_to("Calls.json")
    assert len(placed) == 1 and placed[0].form["Url"].endswith(f"/telephony/feedback/call?feedback={ivr.id}")
    assert placed[0].form["To"] == RIDER

    twiml = hook(client, f"/telephony/feedback/call?feedback={ivr.id}").get_data(as_text=True)
    assert '<Gather action="/telephony/feedback/rating?feedback=' in twiml and 'input="dtmf speech"' in twiml

    for _ in range(2):  # a retried webhook keeps one rating and one complaint
        twiml = hook(client, f"/telephony/feedback/rating?feedback={ivr.id}", Digits="2").get_data(as_text=True)
        assert "<Record" in twiml and 'transcribe="true"' in twiml
    db.session.expire_all()
    assert (ivr.status, ivr.rating) == ("answered", 2)
    complaint = db.session.scalar(select(Complaint))
    assert complaint.source == "rating" and complaint.feedback_id == ivr.id

    recording = "https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE1"
    hook(client, f"/telephony/feedback/comment?feedback={ivr.id}", RecordingUrl=recording, RecordingSid="RE1")
    hook(
        client,
        f"/telephony/feedback/transcription?feedback={ivr.id}",
        TranscriptionText="The driver was rude to me",
        TranscriptionStatus="completed",
    )
    db.session.expire_all()
    assert ivr.recording_url == recording and ivr.transcript == "The driver was rude to me"
    assert complaint.recording_url == recording and complaint.transcript == "The driver was rude to me"
    assert complaint.category == "driver_behaviour"  # categorised once the words came
    kinds = db.session.scalars(select(FeedbackEvent.kind).where(FeedbackEvent.feedback_id == ivr.id)).all()
    assert {"scheduled", "call_placed", "rating", "recording", "transcript"} <= set(kinds)


def test_a_spoken_rating_counts_and_an_unclear_one_is_asked_again(client, twilio, ivr):
    ask_for_feedback(ivr.id, now=ivr.due_at)
    again = hook(client, f"/telephony/feedback/rating?feedback={ivr.id}", SpeechResult="hmm").get_data(as_text=True)
    assert "<Gather" in again and "again=1" in again
    hook(client, f"/telephony/feedback/rating?feedback={ivr.id}&again=1", SpeechResult="four stars")
    db.session.expire_all()
    assert ivr.rating == 4 and db.session.scalar(select(func.count()).select_from(Complaint)) == 0


def test_an_unanswered_call_becomes_the_feedback_text(client, twilio, ivr):
    ask_for_feedback(ivr.id, now=ivr.due_at)
    for _ in range(2):
        hook(client, f"/telephony/feedback/call-status?feedback={ivr.id}", CallStatus="no-answer")
    texts = db.session.scalars(select(OutboundMessage).where(OutboundMessage.kind == "feedback_request")).all()
    assert len(texts) == 1 and texts[0].to == RIDER
    reports = db.session.scalars(select(FeedbackEvent).where(FeedbackEvent.kind == "call_status")).all()
    assert len(reports) == 1 and reports[0].data["CallStatus"] == "no-answer"  # the retry left no trace


def test_twilio_down_retries_the_call_later_then_gives_up(client, twilio, ivr):
    twilio.fail_next(10, status=500)
    now = ivr.due_at
    assert ask_for_feedback(ivr.id, now=now) == "retry"
    db.session.refresh(ivr)
    assert ivr.status == "scheduled" and ivr.due_at == now + timedelta(seconds=30) and ivr.attempts == 1
    results = []
    while ivr.status == "scheduled":
        results.append(ask_for_feedback(ivr.id, now=ivr.due_at))
        db.session.refresh(ivr)
    assert results[-1] == "failed" and ivr.attempts == 6 and "500" in ivr.last_error


def test_a_forged_feedback_webhook_changes_nothing(client, twilio, ivr):
    ask_for_feedback(ivr.id, now=ivr.due_at)
    params = call_status_params("CAx", "in-progress", Digits="1")
    response = signed_post(
        client, f"/telephony/feedback/rating?feedback={ivr.id}", params, TWILIO_AUTH_TOKEN, signature="forged"
    )
    assert response.status_code == 403
    db.session.refresh(ivr)
    assert ivr.rating is None


def test_pressing_9_records_a_complaint_linked_to_the_callers_last_trip(app, client, twilio):
    booking = trip_on_the_road("en")
    complete(booking)
    greeting = signed_post(
        client, "/telephony/voice/incoming", incoming_call_params("CAline1", RIDER), TWILIO_AUTH_TOKEN
    ).get_data(as_text=True)
    assert "press 9" in greeting
    call = db.session.scalar(select(Call))
    twiml = signed_post(
        client,
        "/telephony/voice/menu",
        call_status_params("CAline1", "in-progress", RIDER, Digits="9"),
        TWILIO_AUTH_TOKEN,
    ).get_data(as_text=True)
    assert "<Record" in twiml and "/telephony/voice/complaint" in twiml
    db.session.refresh(call)
    assert call.status == "complaint_line"

    recording = "https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE9"
    for _ in range(2):  # retried: one complaint
        params = call_status_params("CAline1", "in-progress", RIDER, RecordingUrl=recording, RecordingDuration="14")
        signed_post(client, "/telephony/voice/complaint", params, TWILIO_AUTH_TOKEN)
    complaint = db.session.scalar(select(Complaint))
    assert (complaint.source, complaint.call_id, complaint.recording_url) == ("phone", call.id, recording)
    assert (complaint.booking_id, complaint.driver_id, complaint.phone) == (booking.id, booking.driver_id, RIDER)
    assert db.session.scalar(select(func.count()).select_from(Complaint)) == 1

    params = call_status_params(
        "CAline1",
        "completed",
        RIDER,
        TranscriptionText="I was overcharged, the fare was too expensive",
        TranscriptionStatus="completed",
    )
    signed_post(client, "/telephony/voice/complaint-transcript", params, TWILIO_AUTH_TOKEN)
    db.session.refresh(complaint)
    assert complaint.category == "fare_dispute" and "overcharged" in complaint.transcript


def test_the_greeting_lets_a_caller_press_9_before_the_queue(app, client, twilio, agent_console):  # noqa: F811
    # Someone at the console: callers are queued, with the complaint key in the greeting first.
    twiml = signed_post(
        client, "/telephony/voice/incoming", incoming_call_params("CAq1", RIDER), TWILIO_AUTH_TOKEN
    ).get_data(as_text=True)
    assert twiml.index('<Gather action="/telephony/voice/choice"') < twiml.index("<Enqueue")
    other = signed_post(
        client,
        "/telephony/voice/choice",
        call_status_params("CAq1", "in-progress", RIDER, Digits="3"),
        TWILIO_AUTH_TOKEN,
    ).get_data(as_text=True)
    assert "<Enqueue" in other


def test_without_a_public_address_the_call_becomes_a_text(app, twilio, ivr):
    app.config["PUBLIC_URL"] = ""  # Twilio could not fetch the call's questions
    assert ask_for_feedback(ivr.id, now=ivr.due_at) == "asked"
    assert twilio.requests_to("Calls.json") == []
    assert db.session.scalar(select(OutboundMessage).where(OutboundMessage.kind == "feedback_request")) is not None
