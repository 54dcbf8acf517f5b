"""A call reaches the desk: signed webhooks in, records kept, consoles told, the caller put through."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select

from agents.live import NAMESPACE
from calls.models import AgentState, Call, CallEvent, CallStatus
from calls.services import agent_state, set_agent_state
from core.extensions import db, socketio
from crm.services import add_address, create_subscriber, set_barred
from tests.conftest import TWILIO_AUTH_TOKEN, csrf_token_of
from tests.support.twilio_webhooks import call_status_params, incoming_call_params, signed_post


def webhook(client, path, params, **kwargs):
    return signed_post(client, path, params, TWILIO_AUTH_TOKEN, **kwargs)


def calls_stored() -> int:
    return db.session.scalar(select(func.count(Call.id)))


@pytest.fixture
def maryam(app, tehran_zones):
    subscriber = create_subscriber("مریم احمدی", ["09123456789"], "IR", notes="سالمند است")
    add_address(subscriber, label="خانه", text="تجریش، کوچه یاس", lat=35.8045, lon=51.4336)
    db.session.commit()
    return subscriber


@pytest.fixture
def agent_console(app, logged_in):
    """An agent's browser: logged in, its console socket connected (which makes the agent available)."""
    client = logged_in("agent")
    socket = socketio.test_client(app, namespace=NAMESPACE, flask_test_client=client)
    assert socket.is_connected(NAMESPACE)
    socket.get_received(NAMESPACE)  # the snapshot
    return client, socket


def events(socket, name):
    return [e["args"][0] for e in socket.get_received(NAMESPACE) if e["name"] == name]


def test_unsigned_or_forged_webhooks_are_refused_and_store_nothing(client, twilio):
    params = incoming_call_params()
    assert client.post("/telephony/voice/incoming", data=params).status_code == 403
    assert webhook(client, "/telephony/voice/incoming", params, signature="bm90IHRoZSBzaWduYXR1cmU=").status_code == 403
    tampered = signed_post(client, "/telephony/voice/incoming", params, "another-token")
    assert tampered.status_code == 403
    assert calls_stored() == 0


def test_a_call_is_queued_and_pops_the_subscriber_on_every_console(client, twilio, agent_console, maryam):
    _agent, socket = agent_console
    response = webhook(client, "/telephony/voice/incoming", incoming_call_params(from_="+989123456789"))
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert "<Enqueue" in response.get_data(as_text=True)
    call = db.session.scalar(select(Call))
    assert (call.status, call.subscriber_id, call.caller_e164) == ("queued", maryam.id, "+989123456789")
    [card] = events(socket, "call_waiting")
    assert card["subscriber"]["name"] == "مریم احمدی"
    assert card["subscriber"]["addresses"][0]["text"] == "تجریش، کوچه یاس"
    assert card["subscriber"]["tier"] == "lead"


def test_the_pop_is_built_from_what_the_webhook_holds_not_read_back(client, twilio, agent_console, maryam):
    """After the call's INSERT nothing reads the call or its caller again: the pop costs no extra round trips."""
    _agent, socket = agent_console
    db.session.expunge_all()  # as in a real request: nothing of the caller's is loaded yet
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        response = webhook(client, "/telephony/voice/incoming", incoming_call_params(from_="+989123456789"))
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert response.status_code == 200
    [card] = events(socket, "call_waiting")
    assert (card["subscriber"]["name"], card["subscriber"]["addresses"][0]["label"]) == ("مریم احمدی", "خانه")
    inserted = next(i for i, sql in enumerate(statements) if sql.startswith("INSERT INTO calls "))
    reads_back = [sql for sql in statements[inserted:] if sql.startswith(("SELECT calls.", "SELECT subscribers."))]
    assert reads_back == []
    assert not any(sql.startswith("SELECT calls.") for sql in statements[:inserted]), "a SELECT a new call misses"
    assert sum(sql.startswith("INSERT INTO call_events") for sql in statements) == 1


def test_a_retried_webhook_has_no_second_effect(client, twilio, agent_console):
    _agent, socket = agent_console
    params = incoming_call_params()
    first = webhook(client, "/telephony/voice/incoming", params)
    second = webhook(client, "/telephony/voice/incoming", params)
    assert first.get_data() == second.get_data()
    assert calls_stored() == 1
    assert len(events(socket, "call_waiting")) == 1
    assert db.session.scalar(select(func.count(CallEvent.id)).where(CallEvent.status == "incoming")) == 1


def test_unknown_caller_gets_a_new_subscriber_link(client, twilio, agent_console):
    _agent, socket = agent_console
    webhook(client, "/telephony/voice/incoming", incoming_call_params(from_="+989351112233"))
    [card] = events(socket, "call_waiting")
    assert card["subscriber"] is None
    assert card["new_subscriber_url"] == "/console/subscribers/new?phone=0935+111+2233"


@pytest.mark.parametrize("from_", ["anonymous", "", "+266696687", "+86282452253", "Restricted", "not-a-number"])
def test_withheld_numbers_are_queued_without_a_pop(client, twilio, agent_console, from_):
    _agent, socket = agent_console
    response = webhook(client, "/telephony/voice/incoming", incoming_call_params(from_=from_))
    assert response.status_code == 200
    [card] = events(socket, "call_waiting")
    assert card["withheld"] is True and card["subscriber"] is None
    assert db.session.scalar(select(Call.caller_e164)) is None


def test_very_long_fields_are_cut_not_crashed(client, twilio, agent_console):
    params = incoming_call_params(From="+98912" + "9" * 5000, CallerName="x" * 10_000, Unexpected="y")
    assert webhook(client, "/telephony/voice/incoming", params).status_code == 200
    assert len(db.session.scalar(select(Call.from_number))) <= 64


def test_a_barred_caller_hears_a_message_and_is_hung_up(client, twilio, agent_console, maryam):
    _agent, socket = agent_console
    set_barred(maryam, True, "بدهی")
    db.session.commit()
    body = webhook(client, "/telephony/voice/incoming", incoming_call_params(from_="+989123456789")).get_data(
        as_text=True
    )
    assert "<Hangup" in body and "<Enqueue" not in body
    assert db.session.scalar(select(Call.status)) == "rejected"
    assert events(socket, "call_waiting") == []


def test_with_nobody_at_the_console_the_caller_gets_the_menu(client, twilio):
    body = webhook(client, "/telephony/voice/incoming", incoming_call_params()).get_data(as_text=True)
    assert "<Gather" in body and 'action="/telephony/voice/menu"' in body
    assert db.session.scalar(select(Call.status)) == "menu"


def test_outside_office_hours_the_caller_gets_the_menu(app, client, twilio, agent_console):
    app.config["OFFICE_HOURS"] = "00:00-00:01"
    body = webhook(client, "/telephony/voice/incoming", incoming_call_params()).get_data(as_text=True)
    assert "<Gather" in body


def test_call_back_request_lands_in_the_missed_calls(client, twilio, agent_console):
    _agent, socket = agent_console
    socket_client_sid = "CA" + "1" * 32
    # The agent goes away: nobody ready, so the menu.
    _agent.post(
        "/console/presence",
        json={"state": "away"},
        headers={"X-CSRFToken": csrf_token_of(_agent.get("/console/").get_data(as_text=True))},
    )
    webhook(client, "/telephony/voice/incoming", incoming_call_params(call_sid=socket_client_sid))
    body = webhook(client, "/telephony/voice/menu", incoming_call_params(call_sid=socket_client_sid, Digits="2"))
    assert "<Hangup" in body.get_data(as_text=True)
    assert db.session.scalar(select(Call.status)) == "callback"
    [card] = events(socket, "missed_call")
    assert card["caller_e164"] == "+989123456789"


def test_voicemail_is_recorded_and_kept(client, twilio):
    sid = "CA" + "2" * 32
    webhook(client, "/telephony/voice/incoming", incoming_call_params(call_sid=sid))
    menu = webhook(client, "/telephony/voice/menu", incoming_call_params(call_sid=sid, Digits="1"))
    assert "<Record" in menu.get_data(as_text=True)
    url = "https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE" + "3" * 32
    webhook(
        client,
        "/telephony/voice/voicemail",
        incoming_call_params(call_sid=sid, RecordingUrl=url, RecordingDuration="14"),
    )
    call = db.session.scalar(select(Call))
    assert (call.status, call.recording_url) == ("voicemail", url)


def test_hanging_up_while_waiting_is_abandoned_and_leaves_the_queues(client, twilio, agent_console):
    _agent, socket = agent_console
    sid = "CA" + "4" * 32
    webhook(client, "/telephony/voice/incoming", incoming_call_params(call_sid=sid))
    webhook(client, "/telephony/voice/queue-result", incoming_call_params(call_sid=sid, QueueResult="hangup"))
    webhook(client, "/telephony/voice/status", call_status_params(call_sid=sid, call_status="completed"))
    call = db.session.scalar(select(Call))
    assert call.status == "abandoned" and call.ended_at is not None
    updates = events(socket, "call_update")
    assert updates and updates[-1]["status"] == "abandoned"


def answer(agent_client, call_id):
    token = csrf_token_of(agent_client.get("/console/").get_data(as_text=True))
    return agent_client.post(f"/console/calls/{call_id}/answer", headers={"X-CSRFToken": token})


def test_answering_bridges_the_caller_to_the_agent_through_twilio(app, client, twilio, agent_console, maryam):
    agent, socket = agent_console
    sid = twilio.add_call()
    webhook(client, "/telephony/voice/incoming", incoming_call_params(call_sid=sid, from_="+989123456789"))
    call = db.session.scalar(select(Call))
    response = answer(agent, call.id)
    assert response.status_code == 200, response.get_json()
    [redirect] = twilio.requests_to(f"Calls/{sid}.json")
    assert "<Dial" in redirect.form["Twiml"] and "<Client" in redirect.form["Twiml"]
    assert f"/telephony/voice/agent-answered?call={call.id}" in redirect.form["Twiml"]
    db.session.expire_all()
    assert db.session.get(Call, call.id).status == "ringing"

    webhook(
        client,
        f"/telephony/voice/agent-answered?call={call.id}",
        call_status_params(call_sid="CA" + "9" * 32, call_status="in-progress"),
    )
    db.session.expire_all()
    answered = db.session.get(Call, call.id)
    assert answered.status == "answered" and answered.answered_at is not None
    assert agent_state(answered.agent_id) == AgentState.ON_CALL

    webhook(client, "/telephony/voice/status", call_status_params(call_sid=sid, call_status="completed"))
    db.session.expire_all()
    assert db.session.get(Call, call.id).status == "completed"
    assert agent_state(answered.agent_id) == AgentState.WRAP_UP
    my_calls = events(socket, "my_call")
    assert my_calls[-1]["status"] == "completed"

    token = csrf_token_of(agent.get("/console/").get_data(as_text=True))
    wrap = agent.post(
        f"/console/calls/{call.id}/wrap-up",
        json={"disposition": "booked", "notes": "راضی"},
        headers={"X-CSRFToken": token},
    )
    assert wrap.status_code == 200
    db.session.expire_all()
    assert db.session.get(Call, call.id).disposition == "booked"
    assert agent_state(answered.agent_id) == AgentState.AVAILABLE


def test_exactly_one_of_two_agents_gets_the_call(app, client, twilio, logged_in, make_user):
    first = logged_in("agent", username="first")
    second_client = app.test_client()
    second_client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    make_user("agent", "second")
    from tests.conftest import log_in

    log_in(second_client, "second")
    for user in ("first", "second"):
        from accounts.services import find_user

        set_agent_state(find_user(user).id, AgentState.AVAILABLE)
    db.session.commit()
    sid = twilio.add_call()
    webhook(client, "/telephony/voice/incoming", incoming_call_params(call_sid=sid))
    call_id = db.session.scalar(select(Call.id))
    results = sorted([answer(first, call_id).status_code, answer(second_client, call_id).status_code])
    assert results == [200, 409]
    assert len(twilio.requests_to(f"Calls/{sid}.json")) == 1


def test_when_twilio_fails_the_call_goes_back_to_the_queue(client, twilio, agent_console):
    agent, socket = agent_console
    sid = twilio.add_call()
    webhook(client, "/telephony/voice/incoming", incoming_call_params(call_sid=sid))
    call_id = db.session.scalar(select(Call.id))
    twilio.fail_next(1, status=503)
    response = answer(agent, call_id)
    assert response.status_code == 502
    db.session.expire_all()
    call = db.session.get(Call, call_id)
    assert (call.status, call.agent_id) == ("queued", None)
    assert [c["id"] for c in events(socket, "call_waiting")][-1] == call_id


def test_agent_not_answering_puts_the_caller_back_in_the_queue(client, twilio, agent_console):
    agent, _socket = agent_console
    sid = twilio.add_call()
    webhook(client, "/telephony/voice/incoming", incoming_call_params(call_sid=sid))
    call_id = db.session.scalar(select(Call.id))
    answer(agent, call_id)
    body = webhook(
        client,
        f"/telephony/voice/dial-ended?call={call_id}",
        incoming_call_params(call_sid=sid, DialCallStatus="no-answer"),
    ).get_data(as_text=True)
    assert "<Enqueue" in body
    db.session.expire_all()
    assert db.session.get(Call, call_id).status == CallStatus.QUEUED


def test_a_repeat_call_shows_the_recent_booking_first(client, twilio, agent_console, maryam):
    from datetime import UTC, datetime

    from dispatch.models import Booking

    _agent, socket = agent_console
    booking = Booking(
        subscriber_id=maryam.id,
        phone="+989123456789",
        pickup_text="تجریش",
        pickup_lat=35.8,
        pickup_lon=51.43,
        pickup_at=datetime.now(UTC),
        currency="IRR",
        status="assigned",
    )
    db.session.add(booking)
    db.session.commit()
    webhook(client, "/telephony/voice/incoming", incoming_call_params(from_="+989123456789"))
    [card] = events(socket, "call_waiting")
    assert card["recent_booking"]["id"] == booking.id


def test_signature_behind_a_proxy_uses_the_public_url(app, client, twilio, agent_console):
    app.config["PUBLIC_URL"] = "https://taxi.example.ir"
    params = incoming_call_params()
    ok = signed_post(client, "/telephony/voice/incoming", params, TWILIO_AUTH_TOKEN, base_url="https://taxi.example.ir")
    assert ok.status_code == 200
    wrong_host = signed_post(client, "/telephony/voice/incoming", incoming_call_params(), TWILIO_AUTH_TOKEN)
    assert wrong_host.status_code == 403


def test_the_softphone_token_carries_the_voice_grant(app, logged_in):
    import jwt

    client = logged_in("agent")
    assert client.get("/console/voice-token").status_code == 503  # not set up: the console says so
    app.config.update(
        TWILIO_ACCOUNT_SID="AC" + "1" * 32,
        TWILIO_API_KEY_SID="SK" + "2" * 32,
        TWILIO_API_KEY_SECRET="key-secret-long-enough-for-hmac-sha256",
        TWILIO_TWIML_APP_SID="AP" + "3" * 32,
    )
    body = client.get("/console/voice-token").get_json()
    claims = jwt.decode(body["token"], "key-secret-long-enough-for-hmac-sha256", algorithms=["HS256"])
    assert claims["grants"]["identity"] == body["identity"] == f"agent-{claims['grants']['identity'].split('-')[1]}"
    assert claims["grants"]["voice"]["incoming"] == {"allow": True}
    assert claims["grants"]["voice"]["outgoing"]["application_sid"] == "AP" + "3" * 32
    assert claims["iss"] == "SK" + "2" * 32


def test_dispatchers_get_no_softphone(app, logged_in):
    assert logged_in("dispatcher").get("/console/voice-token").status_code == 403


def test_click_to_call_rings_the_agent_then_the_customer(app, twilio, logged_in, maryam):
    from accounts.services import find_user

    client = logged_in("agent")
    find_user("agent").phone = "+989121234567"
    db.session.commit()
    token = csrf_token_of(client.get(f"/console/subscribers/{maryam.id}").get_data(as_text=True))
    response = client.post("/console/call-back", json={"number": "0912 345 6789"}, headers={"X-CSRFToken": token})
    assert response.status_code == 201, response.get_json()
    [placed] = twilio.requests_to("Calls.json")
    assert placed.form["To"] == "+989121234567"  # the agent's own phone first
    assert "<Number>+989123456789</Number>" in placed.form["Twiml"] or "+989123456789" in placed.form["Twiml"]
    assert placed.form["From"] == app.config["TWILIO_NUMBER"]
    outbound = db.session.scalar(select(Call).where(Call.direction == "outbound"))
    assert (outbound.status, outbound.caller_e164) == ("dialing", "+989123456789")


def test_click_to_call_refuses_a_non_number(app, twilio, logged_in):
    client = logged_in("agent")
    token = csrf_token_of(client.get("/console/").get_data(as_text=True))
    response = client.post("/console/call-back", json={"number": "<script>"}, headers={"X-CSRFToken": token})
    assert response.status_code == 400
    assert twilio.requests_to("Calls.json") == []


def test_a_caller_waiting_too_long_is_offered_the_menu(app, client, twilio, agent_console):
    from datetime import timedelta

    from telephony.tasks import offer_menu_to_long_waits

    _agent, socket = agent_console
    app.config.update(PUBLIC_URL="https://taxi.example.ir", QUEUE_MAX_WAIT=60)
    sid = twilio.add_call()
    webhook(client, "/telephony/voice/incoming", incoming_call_params(call_sid=sid), base_url="https://taxi.example.ir")
    call = db.session.scalar(select(Call))
    call.queued_at -= timedelta(seconds=61)
    db.session.commit()

    assert offer_menu_to_long_waits() == [sid]
    [moved] = twilio.requests_to(f"Calls/{sid}.json")
    assert moved.form["Url"] == "https://taxi.example.ir/telephony/voice/long-wait"

    body = webhook(
        client, "/telephony/voice/long-wait", incoming_call_params(call_sid=sid), base_url="https://taxi.example.ir"
    ).get_data(as_text=True)
    assert "<Gather" in body
    db.session.expire_all()
    assert db.session.get(Call, call.id).status == "menu"
    assert events(socket, "call_update")[-1]["status"] == "menu"
    assert offer_menu_to_long_waits() == []  # no longer waiting: left alone


def test_no_menu_offer_without_a_public_address(app, client, twilio, agent_console):
    from datetime import timedelta

    from telephony.tasks import offer_menu_to_long_waits

    app.config.update(PUBLIC_URL="", QUEUE_MAX_WAIT=60)
    webhook(client, "/telephony/voice/incoming", incoming_call_params())
    call = db.session.scalar(select(Call))
    call.queued_at -= timedelta(seconds=61)
    db.session.commit()
    assert offer_menu_to_long_waits() == []
    assert twilio.requests == []
