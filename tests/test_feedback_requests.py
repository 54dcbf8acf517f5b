"""Asking for feedback: once per trip, after the delay, never in quiet hours, never to those who opted out;
texts in, matched to the open request; STOP and START; complaints from texts with no request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rq import Queue, SimpleWorker
from sqlalchemy import func, select

from core.extensions import db
from core.models import utcnow
from crm.models import Subscriber
from feedback.models import Complaint, Feedback, FeedbackEvent, InboundMessage
from feedback.requests import plan_feedback
from feedback.tasks import ask_for_feedback, sweep_feedback
from notifications.models import OutboundMessage
from tests.conftest import TWILIO_AUTH_TOKEN
from tests.support.twilio_webhooks import incoming_sms_params, signed_post
from tests.test_feedback_loop import RIDER, complete, trip_on_the_road

# 10:00 in Tehran (UTC+3:30): outside the default quiet hours 22:00-08:00.
# Yesterday at 10:00 in Tehran: outside the quiet hours, and the request is still open (48 hours) today.
MORNING = (utcnow() - timedelta(days=1)).replace(hour=6, minute=30, second=0, microsecond=0)


@pytest.fixture
def jobs(app, redis_client):
    return Queue("default", connection=redis_client)


def work(jobs) -> None:
    SimpleWorker([jobs], connection=jobs.connection).work(burst=True)
    db.session.expire_all()


def text_in(client, body: str, sender: str = RIDER, sid: str | None = None):
    params = incoming_sms_params(sid, sender, body=body)
    return signed_post(client, "/telephony/sms/incoming", params, TWILIO_AUTH_TOKEN)


def planned(booking, now=MORNING) -> Feedback:
    feedback = plan_feedback(booking, now)
    db.session.commit()
    return feedback


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_the_request_waits_for_the_delay_and_goes_once_even_if_the_job_runs_twice(app, jobs, twilio):
    booking = trip_on_the_road("en")
    feedback = planned(booking)
    assert feedback.due_at == MORNING + timedelta(seconds=600)
    assert ask_for_feedback(feedback.id, now=MORNING + timedelta(seconds=60)) == "not due"
    assert ask_for_feedback(feedback.id, now=MORNING + timedelta(seconds=601)) == "asked"
    assert ask_for_feedback(feedback.id, now=MORNING + timedelta(seconds=602)) == "not due"
    work(jobs)
    bodies = [r.form["Body"] for r in twilio.requests_to("Messages.json")]
    assert len(bodies) == 1 and bodies[0].startswith(f"How was your trip (booking {booking.id})?")
    assert plan_feedback(booking, MORNING).id == feedback.id  # at most one request per trip
    assert count(Feedback) == 1


def test_quiet_hours_move_the_request_to_their_end(app, jobs, twilio):
    feedback = planned(trip_on_the_road("en"))
    night = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)  # 23:30 in Tehran
    feedback.due_at = night
    db.session.commit()
    assert ask_for_feedback(feedback.id, now=night) == "deferred"
    db.session.refresh(feedback)
    assert feedback.status == "scheduled" and feedback.due_at == datetime(2026, 11, 24, 4, 30, tzinfo=UTC)
    assert twilio.requests == []


def test_an_opted_out_or_no_contact_subscriber_is_never_asked(app, jobs, twilio):
    for field, value in (("sms_opt_out", True), ("feedback_channel", "none")):
        booking = trip_on_the_road("en")
        subscriber = db.session.get(Subscriber, booking.subscriber_id)
        subscriber.sms_opt_out, subscriber.feedback_channel = False, "sms"
        setattr(subscriber, field, value)
        feedback = planned(booking)
        assert ask_for_feedback(feedback.id, now=feedback.due_at) == "skipped"
    work(jobs)
    assert twilio.requests == [] and count(OutboundMessage) == 0


def test_completing_the_trip_schedules_the_request_and_the_sweep_recovers_a_lost_job(app, jobs, twilio):
    app.config["FEEDBACK_DELAY"] = 0
    app.config["FEEDBACK_QUIET_HOURS"] = ""
    booking = trip_on_the_road("en")
    complete(booking)
    jobs.empty()  # the job is lost (Redis flushed, a crash): the row is still there
    feedback = db.session.scalar(select(Feedback))
    assert feedback.status == "scheduled"
    assert sweep_feedback(now=utcnow() + timedelta(minutes=1))["enqueued"] == 1
    work(jobs)
    assert feedback.status == "requested"
    assert [e.kind for e in db.session.scalars(select(FeedbackEvent).order_by(FeedbackEvent.id))] == [
        "scheduled",
        "asked",
    ]


def asked(now=None) -> Feedback:
    booking = trip_on_the_road("fa")
    feedback = planned(booking)
    assert ask_for_feedback(feedback.id, now=feedback.due_at) == "asked"
    return feedback


def test_a_rating_in_words_is_kept_and_a_good_one_opens_nothing(app, client, twilio):
    feedback = asked()
    response = text_in(client, "پنج، عالی بود")
    assert response.status_code == 200 and "Message" in response.get_data(as_text=True)
    db.session.expire_all()
    assert (feedback.status, feedback.rating, feedback.comment) == ("answered", 5, "عالی بود")
    assert count(Complaint) == 0
    message = db.session.scalar(select(InboundMessage))
    assert (message.outcome, message.feedback_id, message.parsed["rating"]) == ("feedback_reply", feedback.id, 5)
    assert message.payload["Body"] == "پنج، عالی بود"


def test_a_text_without_a_number_keeps_the_request_open_and_asks_for_one(app, client, twilio):
    feedback = asked()
    body = text_in(client, "ok").get_data(as_text=True)
    db.session.expire_all()
    assert feedback.status == "requested" and feedback.comment == "ok" and "۱" in body
    text_in(client, "4")
    db.session.expire_all()
    assert (feedback.status, feedback.rating) == ("answered", 4)


def test_stop_opts_out_and_start_opts_back_in(app, client, twilio):
    feedback = asked()
    text_in(client, "لغو")
    subscriber = db.session.get(Subscriber, feedback.subscriber_id)
    db.session.refresh(subscriber)
    assert subscriber.sms_opt_out is True
    assert feedback.rating is None  # STOP is not an answer
    text_in(client, "START")
    db.session.refresh(subscriber)
    assert subscriber.sms_opt_out is False
    outcomes = db.session.scalars(select(InboundMessage.outcome).order_by(InboundMessage.id)).all()
    assert outcomes == ["opt_out", "opt_in"]


def test_a_complaint_text_with_no_open_request_opens_a_complaint_on_the_last_trip(app, client, twilio):
    booking = trip_on_the_road("en")
    complete(booking)
    response = text_in(client, "I left my phone in the taxi yesterday")
    db.session.expire_all()
    complaint = db.session.scalar(select(Complaint))
    assert complaint.category == "lost_property" and complaint.reference.startswith("LP-")
    assert complaint.booking_id == booking.id and complaint.source == "sms"
    assert complaint.reference in response.get_data(as_text=True)


def test_a_plain_text_from_a_stranger_is_only_logged(app, client, twilio):
    response = text_in(client, "hello?", sender="+989350000000")
    assert "<Message>" not in response.get_data(as_text=True)
    message = db.session.scalar(select(InboundMessage))
    assert (message.outcome, message.subscriber_id, message.from_number) == ("logged", None, "+989350000000")
    assert count(Complaint) == 0


def test_an_unsigned_text_is_refused_and_nothing_is_stored(app, client, twilio):
    params = incoming_sms_params(None, RIDER, body="1 terrible")
    response = signed_post(client, "/telephony/sms/incoming", params, TWILIO_AUTH_TOKEN, signature="forged")
    assert response.status_code == 403
    assert count(InboundMessage) == 0 and count(Complaint) == 0


def test_a_worker_that_dies_mid_job_leaves_the_request_to_be_asked_once_after_its_lease(app, jobs, twilio, monkeypatch):
    feedback = planned(trip_on_the_road("en"))
    due = feedback.due_at

    def crash(*args):
        raise SystemExit("worker killed")  # after the claim committed, before anything was queued

    monkeypatch.setattr("feedback.tasks.ask_by_text", crash)
    with pytest.raises(SystemExit):
        ask_for_feedback(feedback.id, now=due)
    db.session.rollback()
    monkeypatch.undo()
    assert ask_for_feedback(feedback.id, now=due + timedelta(seconds=5)) == "not due"  # another worker: leased
    assert sweep_feedback(now=due + timedelta(seconds=60))["enqueued"] == 0
    assert sweep_feedback(now=due + timedelta(minutes=3))["enqueued"] == 1
    assert ask_for_feedback(feedback.id, now=due + timedelta(minutes=3)) == "asked"
    work(jobs)
    assert len(twilio.requests_to("Messages.json")) == 1
