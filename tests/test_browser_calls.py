"""A call rings the console: a signed webhook to the server, the pop in an agent's browser, the answer.

The server runs under gunicorn as in production with Redis as Socket.IO's message queue; Twilio's REST
side is the loopback stand-in; the webhooks are signed exactly as Twilio signs them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
import socketio as socketio_client
from playwright.sync_api import expect
from sqlalchemy import create_engine, text

from tests.support.browser import log_in
from tests.support.live_server import flask_command, live_server, show_log_on_failure
from tests.support.servers import wait_until
from tests.support.twilio_stub import twilio_stub
from tests.support.twilio_webhooks import DESK_NUMBER, TEST_ACCOUNT_SID, incoming_call_params, signature_for

pytestmark = pytest.mark.browser
TOKEN = "live-twilio-token"


@pytest.fixture(scope="module")
def stub():
    with twilio_stub(TEST_ACCOUNT_SID, TOKEN) as running:
        yield running


@pytest.fixture(scope="module")
def server(request, redis_url, stub):
    env = {
        "TWILIO_ACCOUNT_SID": TEST_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_NUMBER": DESK_NUMBER,
        "TWILIO_API_URL": stub.url,
    }
    with live_server(redis_url, extra_env=env) as running, show_log_on_failure(request.config, running, Path(__file__)):
        flask_command(["demo", "seed"], running.env)
        yield running


def post_webhook(server, path, params):
    url = server.url + path
    headers = {"X-Twilio-Signature": signature_for(url, params, TOKEN)}
    return requests.post(url, data=params, headers=headers, timeout=10)


def subscriber_with_addresses(server, nth: int) -> tuple[str, str, str]:
    engine = create_engine(server.env["DATABASE_URL"])
    with engine.connect() as connection:
        row = connection.execute(
            text(
                "SELECT s.name, p.e164, (SELECT a.text FROM addresses a WHERE a.subscriber_id = s.id ORDER BY a.id "
                "LIMIT 1) FROM subscribers s JOIN subscriber_phones p ON p.subscriber_id = s.id "
                "WHERE s.barred = 0 AND EXISTS (SELECT 1 FROM addresses a WHERE a.subscriber_id = s.id) "
                "ORDER BY s.id DESC LIMIT 1 OFFSET :nth"
            ),
            {"nth": nth},
        ).one()
    engine.dispose()
    return row


def socket_headers(session: requests.Session) -> dict:
    """The session's cookie and its User-Agent (Flask-Login's strong protection ties a session to it)."""
    cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
    return {"Cookie": cookie, "User-Agent": session.headers["User-Agent"]}


def logged_in_session(server, username, password) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{server.url}/login", timeout=5)
    token = page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    session.post(
        f"{server.url}/login", data={"username": username, "password": password, "csrf_token": token}, timeout=5
    )
    return session


def test_a_real_socketio_client_gets_the_pop(server):
    name, e164, address = subscriber_with_addresses(server, 0)
    session = logged_in_session(server, "agent2", "demo-agent")
    received = []
    client = socketio_client.Client(reconnection=False)
    client.on("call_waiting", lambda card: received.append(card), namespace="/console")
    client.connect(server.url, namespaces=["/console"], transports=["websocket"], headers=socket_headers(session))
    try:
        response = post_webhook(server, "/telephony/voice/incoming", incoming_call_params(from_=e164))
        assert response.status_code == 200
        card = wait_until(
            lambda: next((c for c in received if c["caller_e164"] == e164), None),
            timeout=10,
            what="the screen pop on the socket",
        )
        assert card["subscriber"]["name"] == name
        assert card["subscriber"]["addresses"][0]["text"] == address
    finally:
        client.disconnect()


def test_refused_without_a_console_role(server):
    session = logged_in_session(server, "dispatcher", "demo-dispatcher")
    client = socketio_client.Client(reconnection=False)
    with pytest.raises(socketio_client.exceptions.ConnectionError):
        client.connect(server.url, namespaces=["/console"], transports=["websocket"], headers=socket_headers(session))


def test_agent_sees_the_caller_pop_up_and_answers(server, stub, browser):
    name, e164, address = subscriber_with_addresses(server, 1)
    context = browser.new_context(base_url=server.url, locale="fa-IR", viewport={"width": 1366, "height": 768})
    page = context.new_page()
    try:
        log_in(page, "agent", "demo-agent")
        expect(page.locator("[data-live-state]")).to_have_class("live-state connected")
        waiting_before = page.locator("[data-call-queue] li").count()

        sid = stub.add_call(from_=e164)
        assert post_webhook(server, "/telephony/voice/incoming", incoming_call_params(call_sid=sid, from_=e164)).ok
        pop = page.locator("[data-screen-pop]")
        expect(pop).to_contain_text(name)
        expect(pop).to_contain_text(address)
        expect(page.locator("[data-call-queue] li")).to_have_count(waiting_before + 1)

        pop.get_by_role("button").last.click()  # «پاسخ»
        expect(page.locator("[data-call-queue] li")).to_have_count(waiting_before)
        wait_until(lambda: stub.requests_to(f"Calls/{sid}.json"), what="the bridge request to Twilio")
        twiml = stub.requests_to(f"Calls/{sid}.json")[0].form["Twiml"]
        assert "<Client" in twiml
        expect(pop).to_contain_text("در حال زنگ زدن به خط شما")
        page.screenshot(path=str(Path(__file__).parent.parent / "test-artifacts" / "console-call-fa-1366x768.png"))
    finally:
        context.close()
