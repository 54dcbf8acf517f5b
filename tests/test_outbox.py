"""The outbox: texts queued in a transaction, sent after its commit by a real RQ worker through the Twilio stand-in."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from rq import Queue, SimpleWorker
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select, update

from core.database import savepoint
from core.extensions import db
from core.models import utcnow
from crm.models import Subscriber
from notifications import outbox
from notifications.models import MessageStatus, OutboundMessage
from notifications.outbox import enqueue_texts, queue_text
from notifications.tasks import BACKOFF, MAX_ATTEMPTS, send_text, sweep_outbox
from tests.conftest import csrf_token_of
from tests.support.servers import free_port, wait_until

RIDER = "+989121234567"
BODY = "Your taxi is on its way"


@pytest.fixture
def jobs(app, redis_client):
    """The app's RQ queue, on the test Redis (emptied)."""
    return Queue("default", connection=redis_client)


def run_worker(jobs, *, with_scheduler: bool = False) -> None:
    """Run every queued job in-process, as `rq worker --burst` would."""
    SimpleWorker([jobs], connection=jobs.connection).work(burst=True, with_scheduler=with_scheduler)


def text(key: str = "booking:1:driver_assigned", to: str = RIDER, body: str = BODY, **kwargs) -> OutboundMessage:
    return queue_text("driver_assigned", key, to, body, "en", **kwargs)


def reload(message_id: int) -> OutboundMessage:
    db.session.expire_all()
    return db.session.get(OutboundMessage, message_id)


def sent_bodies(twilio) -> list[str]:
    return [r.form["Body"] for r in twilio.requests_to("Messages.json")]


def test_a_committed_text_is_sent_by_the_worker_and_keeps_its_sid(app, jobs, twilio):
    message = text()
    assert (message.id, message.status) != (None, "sent")
    assert jobs.count == 0  # nothing reaches RQ before the commit
    db.session.commit()
    assert jobs.count == 1

    run_worker(jobs)

    [request] = twilio.requests_to("Messages.json")
    assert request.form == {"To": RIDER, "From": "+982188888888", "Body": BODY}  # no PUBLIC_URL: no callback
    stored = reload(message.id)
    assert stored.status == MessageStatus.SENT
    assert stored.twilio_sid in twilio.messages and stored.twilio_sid.startswith("SM")
    assert stored.attempts == 1 and stored.sent_at is not None and stored.last_error == ""


def test_the_status_callback_goes_to_the_public_url(app, jobs, twilio):
    app.config["PUBLIC_URL"] = "https://taxi.example.ir"
    text()
    db.session.commit()
    run_worker(jobs)
    [request] = twilio.requests_to("Messages.json")
    assert request.form["StatusCallback"] == "https://taxi.example.ir/telephony/sms/status"


def test_a_rolled_back_transaction_sends_nothing(app, jobs, twilio):
    text()
    db.session.rollback()
    assert jobs.count == 0
    assert db.session.scalar(select(func.count()).select_from(OutboundMessage)) == 0
    db.session.commit()  # a later commit of the same session does not bring it back
    assert jobs.count == 0
    run_worker(jobs)
    assert twilio.requests == []


def test_a_savepoint_rolled_back_keeps_the_outer_transactions_texts(app, jobs, twilio):
    kept = text("kept", body="kept")
    with pytest.raises(RuntimeError), savepoint():
        text("undone", body="undone")
        raise RuntimeError("the inner step failed")
    db.session.commit()
    run_worker(jobs)
    assert sent_bodies(twilio) == ["kept"]
    assert reload(kept.id).status == MessageStatus.SENT
    assert db.session.scalar(select(func.count()).select_from(OutboundMessage)) == 1


def test_the_same_key_twice_stores_and_sends_one_text(app, jobs, twilio):
    first = text()
    assert text(body="again") is first  # same transaction
    db.session.commit()
    again = text(body="once more")  # a later transaction
    assert again.id == first.id and again.body == BODY
    db.session.commit()
    run_worker(jobs)
    assert sent_bodies(twilio) == [BODY]
    assert db.session.scalar(select(func.count()).select_from(OutboundMessage)) == 1


def test_losing_the_race_for_a_key_returns_the_winners_row_and_keeps_the_callers_work(app, jobs, monkeypatch):
    winner = text()
    db.session.commit()
    subscriber = Subscriber(name="Sara")
    db.session.add(subscriber)
    db.session.flush()
    # As if another transaction committed the key between our look-up and our insert.
    looked_up = []

    def first_miss(key):
        looked_up.append(key)
        if len(looked_up) == 1:
            return None
        return db.session.scalar(select(OutboundMessage).where(OutboundMessage.dedupe_key == key))

    monkeypatch.setattr(outbox, "_by_key", first_miss)
    assert text(body="loser").id == winner.id
    db.session.commit()
    assert db.session.get(Subscriber, subscriber.id) is not None  # the savepoint undid only the insert
    assert looked_up == ["booking:1:driver_assigned"] * 2


def test_an_opted_out_subscriber_or_a_missing_number_is_skipped_and_never_sent(app, jobs, twilio):
    quiet = Subscriber(name="Quiet", sms_opt_out=True, language="en")
    db.session.add(quiet)
    db.session.flush()
    opted_out = text("a", subscriber_id=quiet.id)
    no_number = text("b", to="")
    db.session.commit()
    assert jobs.count == 0
    run_worker(jobs)
    assert twilio.requests == []
    assert (opted_out.status, opted_out.last_error) == ("skipped", "the subscriber opted out of texts")
    assert (no_number.status, no_number.last_error) == ("skipped", "no number to send to")
    assert sweep_outbox(now=utcnow() + timedelta(days=1)) == 0


def test_a_subscriber_who_opts_out_before_the_send_is_skipped(app, jobs, twilio):
    subscriber = Subscriber(name="Late", language="en")
    db.session.add(subscriber)
    db.session.flush()
    message = text(subscriber_id=subscriber.id)
    db.session.commit()
    subscriber.sms_opt_out = True  # a STOP reply arrived meanwhile
    db.session.commit()
    run_worker(jobs)
    assert twilio.requests == []
    assert reload(message.id).status == MessageStatus.SKIPPED


def test_a_twilio_outage_is_retried_later_with_backoff_then_sent(app, jobs, twilio, redis_client):
    twilio.fail_next(1, status=500)
    message = text()
    db.session.commit()
    before = utcnow()
    run_worker(jobs)

    stored = reload(message.id)
    assert (stored.status, stored.attempts) == ("pending", 1)
    assert "HTTP 500" in stored.last_error
    assert before + BACKOFF[0] <= stored.next_attempt_at <= utcnow() + BACKOFF[0]
    scheduled = ScheduledJobRegistry(queue=jobs)
    [job_id] = scheduled.get_job_ids()
    assert before + BACKOFF[0] - timedelta(seconds=1) <= scheduled.get_scheduled_time(job_id)
    run_worker(jobs)  # not due yet: nothing happens
    assert len(twilio.requests) == 1

    # Thirty seconds pass: the row and RQ's schedule both fall due.
    db.session.execute(update(OutboundMessage).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    redis_client.zadd(scheduled.key, {job_id: 0})
    run_worker(jobs, with_scheduler=True)  # the scheduler moves the due job onto the queue…
    run_worker(jobs)  # …and a worker runs it

    stored = reload(message.id)
    assert (stored.status, stored.attempts, stored.last_error) == ("sent", 2, "")
    assert len(twilio.requests_to("Messages.json")) == 2


def test_backoff_grows_then_gives_up(app, jobs, twilio):
    message = text()
    db.session.commit()
    twilio.fail_next(MAX_ATTEMPTS, status=503)
    now = utcnow()
    waits = []
    for _attempt in range(MAX_ATTEMPTS):
        assert send_text(message.id, now=now) in ("retry", "failed")
        stored = reload(message.id)
        waits.append(stored.next_attempt_at - now)
        assert send_text(message.id, now=now) == "not due"  # too early: nothing sent
        now = stored.next_attempt_at
    assert waits[:-1] == list(BACKOFF)
    stored = reload(message.id)
    assert (stored.status, stored.attempts) == ("failed", MAX_ATTEMPTS)
    assert len(twilio.requests) == MAX_ATTEMPTS


def test_a_refused_number_fails_at_once_and_an_admin_sends_it_again(app, jobs, twilio, logged_in):
    twilio.reject_number(RIDER)
    message = text()
    db.session.commit()
    run_worker(jobs)
    stored = reload(message.id)
    assert (stored.status, stored.attempts) == ("failed", 1)
    assert "21211" in stored.last_error and "not a valid phone number" in stored.last_error
    assert ScheduledJobRegistry(queue=jobs).count == 0

    admin = logged_in("admin")
    page = admin.get("/admin/messages?status=failed")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'data-status="failed"' in html and "not a valid phone number" in html
    assert admin.get("/admin/messages?status=sent").get_data(as_text=True).count('data-status="') == 0

    # Without the CSRF token the button does nothing.
    assert admin.post(f"/admin/messages/{message.id}/retry").status_code == 400
    assert reload(message.id).status == MessageStatus.FAILED

    twilio.rejected_numbers.clear()  # the number was fixed at the operator
    token = csrf_token_of(html)
    response = admin.post(f"/admin/messages/{message.id}/retry?status=failed", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/messages?status=failed")
    stored = reload(message.id)
    assert (stored.status, stored.attempts) == ("pending", 1)
    assert jobs.count == 1
    run_worker(jobs)
    stored = reload(message.id)
    assert (stored.status, stored.attempts) == ("sent", 2)
    # Retrying a text that is not failed changes nothing.
    admin.post(f"/admin/messages/{message.id}/retry", data={"csrf_token": token})
    assert reload(message.id).status == MessageStatus.SENT and jobs.count == 0


def test_the_messages_page_is_for_admins_only(app, logged_in):
    assert logged_in("supervisor").get("/admin/messages").status_code == 403


def test_running_the_job_twice_sends_once(app, jobs, twilio):
    message = text()
    db.session.commit()
    enqueue_texts([message.id, message.id])  # a sweep and the commit both enqueued it
    assert jobs.count == 3
    run_worker(jobs)
    assert len(twilio.requests_to("Messages.json")) == 1
    assert send_text(message.id) == "not due"
    assert len(twilio.requests) == 1


def test_a_second_worker_cannot_send_a_text_another_is_sending(app, twilio):
    message = text()
    db.session.commit()
    twilio.hang = True
    outcome = {}

    def first_worker():
        with app.app_context():
            outcome["first"] = send_text(message.id)

    worker = threading.Thread(target=first_worker)
    worker.start()
    try:
        wait_until(lambda: twilio.requests_to("Messages.json"), what="the first worker's send to reach Twilio")
        assert send_text(message.id) == "not due"  # the second worker finds the text claimed
    finally:
        twilio.hang = False
        twilio.release.set()
        worker.join(timeout=15)
    assert outcome == {"first": "sent"}
    assert len(twilio.requests) == 1
    assert reload(message.id).status == MessageStatus.SENT


def test_the_sweep_sends_a_text_whose_enqueue_was_lost_while_redis_was_down(app, jobs, twilio, caplog):
    redis_url = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    app.extensions.pop("cabdesk_redis", None)
    caplog.set_level(logging.WARNING, logger="cabdesk.notifications")
    message = text(body="secret pickup details")
    db.session.commit()  # does not fail: the row is committed, only its job is missing
    app.config["REDIS_URL"] = redis_url
    app.extensions.pop("cabdesk_redis", None)

    assert "not enqueued" in caplog.text and "secret" not in caplog.text
    assert jobs.count == 0
    assert reload(message.id).status == MessageStatus.PENDING
    assert sweep_outbox() == 0  # just due: its own job may still be on the way

    # A minute later the periodic sweep runs as the cron scheduler would start it: as an RQ job.
    db.session.execute(update(OutboundMessage).values(next_attempt_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    sweep = jobs.enqueue(sweep_outbox)
    run_worker(jobs)
    assert sweep.return_value() == 1
    assert sent_bodies(twilio) == ["secret pickup details"]
    assert reload(message.id).status == MessageStatus.SENT


def test_the_sweep_leaves_texts_being_sent_or_waiting_for_their_retry(app, twilio):
    message = text()
    db.session.commit()
    later = utcnow() + timedelta(minutes=1)
    twilio.fail_next(1, status=500)
    assert send_text(message.id, now=later) == "retry"
    assert sweep_outbox(now=later + timedelta(seconds=5)) == 0  # the retry is 30 s away
    assert sweep_outbox(now=later + BACKOFF[0] + timedelta(minutes=1)) == 1


def test_two_transactions_queueing_one_key_at_once_store_one_text(migrated_app, monkeypatch):
    """The insert race on the dedupe key, on SQLite and PostgreSQL: the loser gets the winner's row."""
    looked_up = []
    original = outbox._by_key

    def recording(key):
        found = original(key)
        looked_up.append((threading.current_thread().name, found is not None))
        return found

    monkeypatch.setattr(outbox, "_by_key", recording)
    winner = text()  # flushed, not committed: the key is taken but nobody else can see it yet
    result = {}

    def loser():
        with migrated_app.app_context():
            result["id"] = text(body="loser").id
            db.session.commit()

    thread = threading.Thread(target=loser, name="loser")
    thread.start()
    try:
        wait_until(lambda: ("loser", False) in looked_up, what="the loser's look-up to miss")
        db.session.commit()  # the loser's INSERT, waiting on our lock or not yet sent, now meets the key
    finally:
        thread.join(timeout=20)
    assert result == {"id": winner.id}
    assert [found for name, found in looked_up if name == "loser"] == [False, True]
    assert db.session.scalar(select(func.count()).select_from(OutboundMessage)) == 1


def test_sending_and_the_claim_on_both_databases(migrated_app, redis_client):
    from tests.conftest import TWILIO_AUTH_TOKEN
    from tests.support.twilio_stub import twilio_stub
    from tests.support.twilio_webhooks import DESK_NUMBER, TEST_ACCOUNT_SID

    jobs = Queue("default", connection=redis_client)
    with twilio_stub(TEST_ACCOUNT_SID, TWILIO_AUTH_TOKEN) as stub:
        migrated_app.config.update(
            TWILIO_ACCOUNT_SID=TEST_ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=TWILIO_AUTH_TOKEN,
            TWILIO_NUMBER=DESK_NUMBER,
            TWILIO_API_URL=stub.url,
        )
        stub.fail_next(1, status=500)
        message = text()
        db.session.commit()
        run_worker(jobs)
        stored = reload(message.id)
        assert (stored.status, stored.attempts) == ("pending", 1)
        now = stored.next_attempt_at
        assert send_text(message.id, now=now - timedelta(seconds=10)) == "not due"
        assert send_text(message.id, now=now) == "sent"
        assert send_text(message.id, now=now + timedelta(hours=1)) == "not due"
        assert sweep_outbox(now=now + timedelta(hours=1)) == 0
        assert len(stub.requests_to("Messages.json")) == 2
        assert reload(message.id).status == MessageStatus.SENT
