"""Hostile input end to end: markup in every text field people see, oversized and deeply nested bodies, secrets
kept out of the logs, and forged or replayed Twilio webhooks.

Data goes in through the real services, forms and webhooks; pages are read back through the test client.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re
from datetime import date, timedelta
from html.parser import HTMLParser

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from accounts.models import User
from core.extensions import db
from tests.conftest import PASSWORD, TWILIO_AUTH_TOKEN, csrf_token_of, log_in
from tests.support.twilio_webhooks import (
    TEST_ACCOUNT_SID,
    call_status_params,
    incoming_call_params,
    incoming_sms_params,
    signature_for,
    signed_post,
)

# A square of central Tehran (longitude first, as GeoJSON has it).
SQUARE = {
    "type": "Polygon",
    "coordinates": [[[51.36, 35.68], [51.44, 35.68], [51.44, 35.74], [51.36, 35.74], [51.36, 35.68]]],
}
INSIDE = (35.70, 51.40)
STRANGER = "+989350000000"
DRIVER_PIN = "73915864"
# Car fields are short (a plate up to 32 characters, a colour up to 40): markup that fits.
PLATE = "<b>x</b>'\"1"
COLOUR = "\"><img src=x onerror=alert('c')>"


def payload(tag: str) -> str:
    """Markup that would run if a page put it in as HTML; ``tag`` tells the fields apart."""
    return f'<script>alert("{tag}")</script>"><img src=x onerror=alert(\'{tag}\')>'


class _Markup(HTMLParser):
    """The elements, attributes and script text of a page as a browser would read them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))
        # A JSON script element is data for the scripts (embedded_json checks it), not code.
        self._in_script = tag == "script" and dict(attrs).get("type") != "application/json"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def assert_no_live_markup(page: str, where: str) -> None:
    """No payload made it into the page as an element, an event handler, a script or a script URL."""
    parser = _Markup()
    parser.feed(page)
    for tag, attrs in parser.tags:
        assert tag not in ("b",) and not (tag == "img" and ("src", "x") in attrs), f"{where}: a <{tag}> was injected"
        for name, value in attrs:
            assert not (name.startswith("on") and "alert" in (value or "")), f"{where}: <{tag} {name}={value!r}>"
            if name in ("href", "src", "action", "formaction", "data"):
                assert not (value or "").strip().lower().startswith("javascript:"), f"{where}: <{tag} {name}={value!r}>"
    assert not [script for script in parser.scripts if "alert(" in script], f"{where}: a script was injected"


def assert_shown_escaped(page: str, text: str, where: str) -> None:
    """The text is on the page, escaped, and never as it was typed."""
    assert str(escape(text)) in page, f"{where}: {text!r} not shown (escaped)"
    assert text not in page, f"{where}: {text!r} shown unescaped"


def embedded_json(page: str) -> list:
    """The JSON a page carries for its scripts: JSON script elements and JSON data attributes, parsed."""
    found = []
    for body in re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', page, re.S):
        # Inside a script element "<" can end it early ("</script>", "<!--"): tojson writes it as \u003c.
        assert "<" not in body, body[:200]
        found.append(json.loads(body))
    for _name, value in re.findall(r'data-(points|chart|zones-data|data)="([^"]*)"', page):
        found.append(json.loads(html.unescape(value)))
    return found


def row_counts() -> dict[str, int]:
    """How many rows each table holds: to show a request stored nothing."""
    return {
        table.name: db.session.scalar(select(func.count()).select_from(table)) for table in db.metadata.sorted_tables
    }


# --- markup in every text field --------------------------------------------------------------------


@pytest.fixture
def hostile_office(app, make_user, twilio, client):
    """Every kind of record the office types text into, each text field holding markup of its own."""
    from crm.services import add_address, add_note, create_subscriber
    from drivers.services import create_driver
    from fares.rules import add_holiday, publish_rule
    from feedback.complaints import add_note as add_complaint_note
    from feedback.complaints import open_complaint
    from geo.gazetteer import add_place
    from geo.zone_admin import save_zone

    supervisor = make_user("admin", display_name=payload("admin name"))
    make_user("agent", "evil-agent", display_name=payload("user name"))
    zone = save_zone("X1", payload("zone fa"), payload("zone en"), SQUARE)
    subscriber = create_subscriber(payload("sub name"), ["09121111111"], "IR", language="en", notes=payload("notes"))
    add_address(
        subscriber,
        label=payload("l"),
        text=payload("addr"),
        landmark="javascript:alert(document.cookie)",
        driver_notes=payload("drv notes"),
        lat=INSIDE[0],
        lon=INSIDE[1],
    )
    add_note(subscriber, payload("note"), author_id=supervisor.id)
    complaint = open_complaint("phone", payload("complaint"), _now(), subscriber_id=subscriber.id)
    add_complaint_note(complaint, supervisor.id, payload("c note"), _now())
    driver = create_driver(
        "D7",
        payload("driver"),
        "09127777777",
        DRIVER_PIN,
        language="en",
        vehicle={"plate": PLATE, "make_model": payload("model"), "colour": COLOUR},
    )
    publish_rule({**_rule(), "name": payload("fare rule")}, supervisor)
    add_holiday(date.today() + timedelta(days=30), payload("holiday"))
    add_place(payload("place fa"), payload("place en"), "landmark", *INSIDE)
    db.session.commit()
    sms = incoming_sms_params(None, STRANGER, body=payload("sms"))
    assert signed_post(client, "/telephony/sms/incoming", sms, TWILIO_AUTH_TOKEN).status_code == 200
    log_in(client, supervisor.username)
    return {"subscriber": subscriber, "complaint": complaint, "driver": driver, "zone": zone}


def _now():
    """The current moment, as the services take it."""
    from core.models import utcnow

    return utcnow()


def _rule() -> dict:
    """A sedan fare rule's values as the publishing service takes them."""
    return {
        "vehicle_class": "sedan",
        "name": "sedan",
        "currency": "IRR",
        "flag_down": 250_000,
        "per_km": 90_000,
        "per_minute": 15_000,
        "minimum_fare": 500_000,
        "rounding_step": 10_000,
    }


def test_every_text_field_is_shown_escaped_never_as_markup(hostile_office, client):
    office = hostile_office
    pages = {
        f"/console/subscribers/{office['subscriber'].id}": [
            "sub name",
            "notes",
            "l",
            "addr",
            "drv notes",
            "note",
            "complaint",
        ],
        "/supervisor/complaints": ["complaint"],
        f"/supervisor/complaints/{office['complaint'].id}": ["complaint", "c note", "sub name"],
        "/supervisor/drivers": ["driver"],
        f"/supervisor/drivers/{office['driver'].id}": ["driver", "model"],
        "/admin/zones": ["zone en"],
        "/admin/fare-rules": ["fare rule"],
        "/admin/users": ["user name", "admin name"],
        "/admin/holidays": ["holiday"],
        "/admin/places": ["place fa", "place en"],
        "/supervisor/feedback": ["sms"],
        "/dispatch/": [],
        "/supervisor/": [],
        "/console/": [],
    }
    for path, fields in pages.items():
        response = client.get(path)
        assert response.status_code == 200, path
        page = response.get_data(as_text=True)
        assert_no_live_markup(page, path)
        embedded_json(page)  # parses, and no "<" inside a script element
        for field in fields:
            assert_shown_escaped(page, payload(field), f"{path} ({field})")
    driver_page = client.get(f"/supervisor/drivers/{office['driver'].id}").get_data(as_text=True)
    assert_shown_escaped(driver_page, PLATE, "plate")
    assert_shown_escaped(driver_page, COLOUR, "colour")


def test_search_terms_are_echoed_escaped(hostile_office, client):
    for path in ("/console/subscribers", "/supervisor/complaints"):
        response = client.get(path, query_string={"q": payload("search")})
        assert response.status_code in (200, 400), path
        page = response.get_data(as_text=True)
        assert_no_live_markup(page, path)
        assert payload("search") not in page


def test_names_in_the_json_a_page_carries_are_escaped_and_read_back_intact(hostile_office, app):
    from tests.conftest import IsolatedClient

    app.test_client_class = IsolatedClient
    phone = app.test_client()
    phone.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    token = csrf_token_of(phone.get("/driver/login").get_data(as_text=True))
    login = phone.post("/driver/login", data={"phone": "09127777777", "pin": DRIVER_PIN, "csrf_token": token})
    assert login.status_code == 302
    page = phone.get("/driver/").get_data(as_text=True)
    assert_no_live_markup(page, "/driver/")
    assert payload("zone en") not in page
    [data] = embedded_json(page)
    assert payload("zone en") in data["zones"].values()  # the script gets the name as typed, to show as text


# --- oversized and deeply nested bodies ------------------------------------------------------------


def test_a_form_over_the_size_limit_is_a_clean_413_page_and_stores_nothing(app, logged_in):
    client = logged_in("agent")
    token = csrf_token_of(client.get("/console/subscribers/new").get_data(as_text=True))
    before = row_counts()
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert limit and limit <= 64 * 1024 * 1024
    form = {"csrf_token": token, "name": "Big", "phone": "09121234567", "notes": "x" * limit}
    response = client.post("/console/subscribers/new", data=form)
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert "too large" in response.get_data(as_text=True)
    assert row_counts() == before


def test_an_api_body_over_the_size_limit_is_a_clean_413_json_error_and_stores_nothing(app, api_client):
    client, headers = api_client("agent")
    before = row_counts()
    body = json.dumps({"name": "Big", "phones": ["09121234567"], "notes": "x" * app.config["MAX_CONTENT_LENGTH"]})
    response = client.post("/api/subscribers", data=body, headers=headers, content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "request_entity_too_large"
    assert row_counts() == before


def test_a_webhook_over_its_own_limit_is_a_413(client, twilio):
    params = incoming_sms_params(None, STRANGER, body="x" * (70 * 1024))
    before = row_counts()
    assert signed_post(client, "/telephony/sms/incoming", params, TWILIO_AUTH_TOKEN).status_code == 413
    assert row_counts() == before


@pytest.mark.parametrize(("name", "notes"), [("n" * 10_000, "short"), ("Long notes", "x" * 100_000)])
def test_very_long_fields_are_refused_cleanly_or_accepted_never_a_server_error(app, logged_in, api_client, name, notes):
    from crm.models import Subscriber

    client = logged_in("agent")
    token = csrf_token_of(client.get("/console/subscribers/new").get_data(as_text=True))
    form = {"csrf_token": token, "name": name, "phone": "09121234567", "notes": notes}
    response = client.post("/console/subscribers/new", data=form)
    assert response.status_code in (200, 302, 400), response.status_code
    api, headers = api_client("agent", "api-agent")
    body = {"name": name, "phones": ["09127654321"], "notes": notes}
    answer = api.post("/api/subscribers", json=body, headers=headers)
    assert answer.status_code in (201, 400), answer.status_code
    if answer.status_code == 400:
        assert answer.get_json()["error"]["message"], answer.get_json()
    for subscriber in db.session.scalars(select(Subscriber)):
        assert len(subscriber.name) <= 200 and len(subscriber.notes) <= 2000


DEEP = "[" * 100_000 + "]" * 100_000


def test_json_nested_beyond_reason_is_a_400_not_a_server_error(app, api_client, logged_in, tehran_zones):
    api, headers = api_client("admin", "api-admin")
    for path in ("/api/subscribers", "/api/quotes", "/api/fare-rules", "/api/bookings"):
        response = api.post(path, data=DEEP, headers=headers, content_type="application/json")
        assert response.status_code == 400, (path, response.status_code)
        assert response.get_json()["error"]["code"] == "invalid_json"
    admin = logged_in("admin")
    for path, field, extra in (
        ("/admin/fare-rules", "surcharges", {**_rule(), "rounding_step": "10000"}),
        ("/admin/zones/new", "boundary", {"code": "Z9", "name_fa": "منطقه", "name_en": "Zone"}),
    ):
        token = csrf_token_of(admin.get(path).get_data(as_text=True))
        response = admin.post(path, data={**extra, field: DEEP, "csrf_token": token})
        assert response.status_code == 400, (path, response.status_code)


@pytest.mark.parametrize("value", [10**400, "1e999", "nan", float("inf"), "۳۵٫۷.۱", [35.7], {"lat": 1}, True, None])
def test_a_driver_position_that_is_no_point_is_refused_cleanly(app, api_client, value):
    from accounts.services import issue_token
    from tests.support.office import add_driver, on_duty_at

    driver = add_driver("P1", "09125550000")
    on_duty_at(driver, INSIDE)
    token = issue_token(db.session.get(User, driver.user_id))
    db.session.commit()
    client, _headers = api_client("dispatcher")
    headers = {"Authorization": f"Bearer {token}"}
    for body in ({"lat": value, "lon": 51.4}, {"lat": 35.7, "lon": value}):
        response = client.post(f"/api/drivers/{driver.id}/location", json=body, headers=headers)
        assert response.status_code == 400, (body, response.status_code)
        assert response.get_json()["error"]["code"]


# --- secrets never in the logs --------------------------------------------------------------------


@pytest.fixture
def every_log(caplog):
    """Every logger of the process at DEBUG, captured."""
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def record_text(record: logging.LogRecord) -> str:
    """Everything a log record carries that a handler could write: message, arguments, exception, extras."""
    parts = [record.getMessage(), repr(record.args), record.exc_text or ""]
    if record.exc_info and record.exc_info[1] is not None:
        parts.append(logging.Formatter().formatException(record.exc_info))
    parts += [repr(value) for value in vars(record).values()]
    return "\n".join(parts)


def test_passwords_pins_tokens_and_keys_never_reach_the_logs(app, client, make_user, api_client, twilio, every_log):
    from accounts.services import issue_token
    from notifications.outbox import queue_text
    from notifications.tasks import send_text
    from tests.conftest import IsolatedClient
    from tests.support.office import add_driver

    wrong_password = "wrong-Passw0rd-zebra-quartz"
    make_user("agent")
    assert log_in(client, "agent").status_code == 302
    app.test_client_class = IsolatedClient
    stranger = app.test_client()
    assert log_in(stranger, "agent", wrong_password).status_code == 401
    assert log_in(stranger, "nobody-here", wrong_password).status_code == 401

    driver = add_driver("S1", "09125551234", pin=DRIVER_PIN)
    db.session.commit()
    phone = app.test_client()
    token = csrf_token_of(phone.get("/driver/login").get_data(as_text=True))
    good = phone.post("/driver/login", data={"phone": "09125551234", "pin": DRIVER_PIN, "csrf_token": token})
    assert good.status_code == 302
    bad = phone.post("/driver/login", data={"phone": "09125551234", "pin": "90817263", "csrf_token": token})
    assert bad.status_code in (200, 302, 400, 429)

    api, headers = api_client("dispatcher")
    assert api.get("/api/subscribers", headers=headers).status_code == 200
    forged = {"Authorization": "Bearer forged-token-qwerty-123"}
    assert stranger.get("/api/subscribers", headers=forged).status_code == 401
    driver_token = issue_token(db.session.get(User, driver.user_id))
    db.session.commit()
    assert api.get("/api/drivers", headers={"Authorization": f"Bearer {driver_token}"}).status_code == 403

    params = incoming_sms_params(None, STRANGER, body="hello")
    assert signed_post(client, "/telephony/sms/incoming", params, TWILIO_AUTH_TOKEN).status_code == 200
    assert signed_post(client, "/telephony/sms/incoming", params, "guessed-token").status_code == 403
    message = queue_text("driver_assigned", "log-test", "+989121234567", "Your taxi is on its way", "en")
    db.session.commit()
    assert send_text(message.id) == "sent"

    secrets = {
        "password": PASSWORD,
        "wrong password": wrong_password,
        "PIN": DRIVER_PIN,
        "wrong PIN": "90817263",
        "bearer token": headers["Authorization"].split()[1],
        "forged bearer token": "forged-token-qwerty-123",
        "driver token": driver_token,
        "Twilio auth token": TWILIO_AUTH_TOKEN,
        "guessed auth token": "guessed-token",
        "Twilio basic auth": base64.b64encode(f"{TEST_ACCOUNT_SID}:{TWILIO_AUTH_TOKEN}".encode()).decode(),
        "SECRET_KEY": app.config["SECRET_KEY"],
    }
    texts = [record_text(record) for record in every_log.records]
    # The capture works: the SDK's request to the stand-in and the refused webhook were logged.
    assert "twilio.http_client" in {record.name for record in every_log.records}
    assert any("bad signature" in text for text in texts)
    for what, secret in secrets.items():
        leaks = [text[:300] for text in texts if secret in text]
        assert not leaks, f"the {what} is in the logs: {leaks}"


# --- forged and replayed webhooks ------------------------------------------------------------------


def telephony_paths(app) -> list[str]:
    """Every webhook path Cabdesk offers Twilio."""
    return sorted(
        rule.rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/telephony/") and "POST" in rule.methods
    )


def webhook_params(**extra: str) -> dict[str, str]:
    """Parameters that every webhook reads something from: a call, a key, speech, a recording, a text."""
    return call_status_params(
        "CAforged00000000000000000000000000",
        "in-progress",
        Digits="1",
        SpeechResult="five",
        TranscriptionText="the driver was rude",
        RecordingUrl="https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE1",
        RecordingStatus="completed",
        DialCallStatus="no-answer",
        MessageSid="SMforged0000000000000000000000000",
        MessageStatus="failed",
        Body="stop",
        **extra,
    )


def test_every_webhook_refuses_forged_signatures_and_stores_nothing(app, client, twilio):
    paths = telephony_paths(app)
    assert len(paths) >= 15 and "/telephony/voice/incoming" in paths and "/telephony/sms/incoming" in paths
    params = webhook_params()
    before = row_counts()
    for path in paths:
        url = f"{path}?feedback=1&call=1"
        other = "/telephony/voice/status" if path != "/telephony/voice/status" else "/telephony/sms/status"
        forgeries = {
            "unsigned": client.post(url, data=params),
            "signed for another path": signed_post(
                client,
                url,
                params,
                TWILIO_AUTH_TOKEN,
                signature=signature_for(f"http://localhost{other}", params, TWILIO_AUTH_TOKEN),
            ),
            "signed for another host": signed_post(
                client,
                url,
                params,
                TWILIO_AUTH_TOKEN,
                signature=signature_for(f"https://attacker.example{url}", params, TWILIO_AUTH_TOKEN),
            ),
            "signed for another query": signed_post(
                client,
                url,
                params,
                TWILIO_AUTH_TOKEN,
                signature=signature_for(f"http://localhost{path}?feedback=2&call=2", params, TWILIO_AUTH_TOKEN),
            ),
            "signed for other parameters": signed_post(
                client,
                url,
                params,
                TWILIO_AUTH_TOKEN,
                signature=signature_for(f"http://localhost{url}", {**params, "Digits": "9"}, TWILIO_AUTH_TOKEN),
            ),
            "signed without a parameter": signed_post(
                client,
                url,
                {**params, "Extra": "1"},
                TWILIO_AUTH_TOKEN,
                signature=signature_for(f"http://localhost{url}", params, TWILIO_AUTH_TOKEN),
            ),
            "signed with another token": signed_post(client, url, params, "not-the-auth-token"),
        }
        for kind, response in forgeries.items():
            assert response.status_code == 403, (path, kind, response.status_code)
    assert row_counts() == before


def test_every_webhook_replayed_has_no_second_effect(app, client, twilio):
    # One call through every path, the call coming in first: the later webhooks find it and act on it.
    paths = sorted(telephony_paths(app), key=lambda path: path != "/telephony/voice/incoming")
    params = webhook_params()
    for path in paths:
        url = f"{path}?feedback=1&call=1"
        first = signed_post(client, url, params, TWILIO_AUTH_TOKEN)
        assert first.status_code < 500, (path, first.status_code)
        after_first = row_counts()
        second = signed_post(client, url, params, TWILIO_AUTH_TOKEN)
        assert second.status_code == first.status_code, path
        assert row_counts() == after_first, path
    assert after_first["calls"] == 1 and after_first["inbound_messages"] == 1


def test_a_replayed_complaint_text_opens_one_complaint_and_answers_the_same(app, client, twilio):
    from feedback.models import Complaint, InboundMessage

    params = incoming_sms_params(None, STRANGER, body="the driver was very rude and drove dangerously")
    first = signed_post(client, "/telephony/sms/incoming", params, TWILIO_AUTH_TOKEN)
    second = signed_post(client, "/telephony/sms/incoming", params, TWILIO_AUTH_TOKEN)
    assert first.status_code == second.status_code == 200
    assert first.get_data() == second.get_data()
    assert db.session.scalar(select(func.count(InboundMessage.id))) == 1
    assert db.session.scalar(select(func.count(Complaint.id))) == 1


def test_a_replayed_voicemail_keeps_one_message(app, client, twilio):
    from calls.models import Call, CallEvent

    call = incoming_call_params()
    assert signed_post(client, "/telephony/voice/incoming", call, TWILIO_AUTH_TOKEN).status_code == 200
    sid = call["CallSid"]
    recording = "https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE7"
    steps = [
        ("/telephony/voice/menu", {"Digits": "1"}),
        ("/telephony/voice/voicemail", {"RecordingUrl": recording, "RecordingDuration": "9"}),
        ("/telephony/voice/recording", {"RecordingUrl": recording, "RecordingStatus": "completed"}),
    ]
    for path, extra in steps:
        params = call_status_params(sid, "in-progress", **extra)
        first = signed_post(client, path, params, TWILIO_AUTH_TOKEN)
        events = db.session.scalar(select(func.count(CallEvent.id)))
        second = signed_post(client, path, params, TWILIO_AUTH_TOKEN)
        assert first.status_code == second.status_code == 200, path
        assert db.session.scalar(select(func.count(CallEvent.id))) == events, path
    stored = db.session.scalars(select(Call)).all()
    assert len(stored) == 1 and stored[0].status == "voicemail"
