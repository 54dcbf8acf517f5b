"""The whole feedback loop through real parts: a real redis-server, a real `rq worker` process, the twilio SDK
talking to a capturing Twilio stand-in, a signed inbound reply, the supervisor's complaint log; and a Redis
outage in the middle that loses nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rq import Queue, SimpleWorker
from sqlalchemy import select

from core.extensions import db
from core.models import utcnow
from crm.models import Subscriber, SubscriberPhone
from dispatch.models import Booking
from dispatch.trips import report_progress
from drivers.models import Driver
from feedback.models import Complaint, Feedback, InboundMessage
from feedback.tasks import sweep_feedback
from notifications.models import OutboundMessage
from notifications.tasks import sweep_outbox
from tests.conftest import TWILIO_AUTH_TOKEN
from tests.support.servers import redis_server
from tests.support.twilio_webhooks import incoming_sms_params, signed_post

ROOT = Path(__file__).resolve().parent.parent
RIDER = "+989121234567"


def trip_on_the_road(language: str = "fa") -> Booking:
    """A subscriber's trip under way with a driver, ready to be completed."""
    owner = db.session.scalar(select(SubscriberPhone).where(SubscriberPhone.e164 == RIDER))
    if owner is None:
        subscriber = Subscriber(name="سارا کریمی", language=language)
        subscriber.phones.append(SubscriberPhone(e164=RIDER))
    else:  # the rider's next trip
        subscriber = owner.subscriber
    n = len(db.session.scalars(select(Driver.id)).all()) + 1
    driver = Driver(call_sign=f"F{n}", name="Reza Ahmadi", phone=f"+98912000{n:04d}", status="busy")
    db.session.add_all([subscriber, driver])
    db.session.flush()
    booking = Booking(
        subscriber_id=subscriber.id,
        phone=RIDER,
        pickup_text="Tajrish",
        pickup_lat=35.8,
        pickup_lon=51.43,
        pickup_at=datetime.now(UTC),
        currency="IRR",
        status="on_trip",
        driver_id=driver.id,
        fare=1_250_000,
    )
    db.session.add(booking)
    db.session.commit()
    return booking


def complete(booking: Booking) -> None:
    report_progress(booking, "completed", utcnow(), booking.driver_id)
    db.session.commit()


def run_worker(app, redis_url: str, twilio) -> None:
    """One real `rq worker --burst` process of the office's worker class, with the app's settings."""
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": "test",
        "CABDESK_INSTANCE": app.instance_path,
        "TWILIO_ACCOUNT_SID": app.config["TWILIO_ACCOUNT_SID"],
        "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
        "TWILIO_NUMBER": app.config["TWILIO_NUMBER"],
        "TWILIO_API_URL": twilio.url,
        "FEEDBACK_DELAY": "0",
        "FEEDBACK_QUIET_HOURS": "",
    }
    rq = str(Path(sys.executable).parent / "rq")
    command = [rq, "worker", "--burst", "--worker-class", "core.worker.CabdeskWorker", "--url", redis_url, "default"]
    finished = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert finished.returncode == 0, finished.stderr[-3000:]
    db.session.expire_all()


@pytest.fixture
def loop_app(app, twilio):
    app.config.update(FEEDBACK_DELAY=0, FEEDBACK_QUIET_HOURS="")
    return app


def reply(client, body: str, sid: str | None = None):
    return signed_post(client, "/telephony/sms/incoming", incoming_sms_params(sid, RIDER, body=body), TWILIO_AUTH_TOKEN)


def test_a_finished_trip_asks_by_text_and_a_rude_driver_reply_lands_in_the_supervisors_log(
    loop_app, client, twilio, redis_client, redis_url, logged_in
):
    booking = trip_on_the_road("fa")
    complete(booking)
    run_worker(loop_app, redis_url, twilio)

    asking = db.session.scalar(select(OutboundMessage).where(OutboundMessage.kind == "feedback_request"))
    assert asking.status == "sent" and "۵" in asking.body
    sent = [r for r in twilio.requests_to("Messages.json") if r.form["Body"] == asking.body]
    assert len(sent) == 1 and sent[0].form["To"] == RIDER
    feedback = db.session.scalar(select(Feedback).where(Feedback.booking_id == booking.id))
    assert feedback.status == "requested"

    answer = reply(client, "۲ راننده بی‌ادب بود", sid="SMreply1")
    assert answer.status_code == 200 and "<Message>" in answer.get_data(as_text=True)
    db.session.expire_all()
    assert (feedback.status, feedback.rating, feedback.comment) == ("answered", 2, "راننده بی‌ادب بود")
    complaint = db.session.scalar(select(Complaint))
    assert complaint.category == "driver_behaviour" and complaint.source == "rating"
    assert (complaint.booking_id, complaint.driver_id, complaint.feedback_id) == (
        booking.id,
        booking.driver_id,
        feedback.id,
    )

    logged_in("supervisor")
    log = client.get("/supervisor/complaints?category=driver_behaviour").get_data(as_text=True)
    assert complaint.reference in log

    reply(client, "۲ راننده بی‌ادب بود", sid="SMreply1")  # Twilio retries the webhook: no second effect
    assert len(db.session.scalars(select(Complaint)).all()) == 1
    assert len(db.session.scalars(select(InboundMessage)).all()) == 1


def test_a_redis_outage_in_the_middle_loses_nothing(loop_app, client, twilio):
    with redis_server() as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        loop_app.config["REDIS_URL"] = url
        loop_app.extensions.pop("cabdesk_redis", None)
        booking = trip_on_the_road("en")
    # Redis is gone (with every job it held) when the trip ends: the request waits in the database.
    complete(booking)
    feedback = db.session.scalar(select(Feedback).where(Feedback.booking_id == booking.id))
    assert feedback.status == "scheduled"

    with redis_server(port) as url:  # back, empty
        loop_app.extensions.pop("cabdesk_redis", None)
        assert sweep_feedback(now=utcnow().replace(year=utcnow().year + 1))["enqueued"] == 1
        jobs = Queue("default", connection=_client(url))
        SimpleWorker([jobs], connection=jobs.connection).work(burst=True)
        db.session.expire_all()
        assert feedback.status == "requested"
        texts = db.session.scalars(select(OutboundMessage).where(OutboundMessage.kind == "feedback_request")).all()
        assert [t.status for t in texts] == ["sent"]
        assert sweep_outbox() == 0  # nothing left behind, nothing to send twice
    assert len([r for r in twilio.requests_to("Messages.json") if "1 (bad) to 5" in r.form["Body"]]) == 1

    # Redis down again when the customer answers: the reply and the complaint are kept all the same.
    assert reply(client, "1 the driver was rude and shouted").status_code == 200
    db.session.expire_all()
    assert feedback.rating == 1
    complaint = db.session.scalar(select(Complaint))
    assert complaint.category == "driver_behaviour" and complaint.severity == 3


def _client(url: str):
    from redis import Redis

    return Redis.from_url(url)
