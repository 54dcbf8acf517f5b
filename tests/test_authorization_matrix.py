"""The authorisation matrix: every route and every live channel against every role, and anonymous visitors.

The expected access is written out below from the product's intent (accounts/roles.py: an agent works the
console, a dispatcher the board, a supervisor both and the supervision pages, an admin everything but
driving, a driver only the driver's page), not read from the code under test, so that a guard left off a
route fails here. Every route of the app must be in ``MATRIX``: a new one fails until it is classified.

For each route and identity:

* anonymous: a page sends them to log in, the API answers 401;
* a role outside the route's area: 403, and nothing in the database or Redis changes;
* a role inside it: neither 401 nor 403 (a 404 for a row it cannot find, a 400 for the empty body, are fine);
* nobody gets a 500.

State-changing requests carry a valid CSRF token (cookie sessions) and an empty body; the API is also tried
with each role's bearer token. Without the CSRF token, every state-changing request of a cookie session is
refused with 400 and changes nothing (Twilio's webhooks are checked by signature instead; bearer calls need
no token, but a bearer header sent along with a cookie session does not excuse it). A driver acting on another
driver's rows is refused. The Socket.IO namespaces are tried with a real python-socketio client against gunicorn.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
import requests
import socketio as socketio_client
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis

from tests.conftest import PASSWORD, IsolatedClient, app_settings, csrf_token_of, log_in
from tests.support.live_server import live_server, show_log_on_failure
from tests.support.office import DRIVER_PIN, VANAK, add_driver, sedan_rule

ANONYMOUS = "anonymous"
ROLES = ("agent", "dispatcher", "supervisor", "admin", "driver")
IDENTITIES = (ANONYMOUS, *ROLES)

# The areas, as the product means them (accounts/roles.py AREAS_BY_ROLE, written out again on purpose).
CONSOLE = frozenset({"agent", "supervisor", "admin"})
DISPATCH = frozenset({"dispatcher", "supervisor", "admin"})
SUPERVISION = frozenset({"supervisor", "admin"})
ADMINISTRATION = frozenset({"admin"})
DRIVING = frozenset({"driver"})
STAFF = CONSOLE | DISPATCH  # every staff role: console or board
LOGGED_IN = STAFF | DRIVING  # anyone who has logged in
# The driver may also act on their own rows (their driver record, their trip, their offer, their statement).
DISPATCH_OR_OWN_DRIVER = DISPATCH | DRIVING
STAFF_OR_OWN_DRIVER = STAFF | DRIVING

PUBLIC = "public"  # anyone, logged in or not
WEBHOOK = "unsigned-webhook"  # Twilio's: refused without a valid X-Twilio-Signature, whoever sends it

# "METHOD /rule" → who may use it. Every route of the app is here; a new one must be added.
ROUTES: list[tuple[str, frozenset[str] | str]] = [
    # --- anyone ----------------------------------------------------------------------------------------
    ("GET /login", PUBLIC),
    ("POST /login", PUBLIC),
    ("POST /logout", PUBLIC),  # ends whatever session there is
    ("POST /language/<code>", PUBLIC),  # the login page has the switch too
    ("GET /healthz", PUBLIC),
    ("GET /static/<path:filename>", PUBLIC),
    ("GET /api/openapi.json", PUBLIC),
    ("GET /driver/login", PUBLIC),
    ("POST /driver/login", PUBLIC),
    ("POST /driver/logout", PUBLIC),
    # --- any logged-in user ------------------------------------------------------------------------------
    ("GET /", LOGGED_IN),  # sends each user to the page of their role
    ("GET /preferences", LOGGED_IN),
    ("POST /preferences", LOGGED_IN),
    # --- /console/: the console area ------------------------------------------------------------------
    ("GET /console/", CONSOLE),
    ("POST /console/call-back", CONSOLE),
    ("POST /console/calls/<int:call_id>/answer", CONSOLE),
    ("POST /console/calls/<int:call_id>/handled", CONSOLE),
    ("POST /console/calls/<int:call_id>/wrap-up", CONSOLE),
    ("GET /console/dispositions", CONSOLE),
    ("GET /console/places", CONSOLE),
    ("POST /console/presence", CONSOLE),
    ("GET /console/subscribers", CONSOLE),
    ("GET /console/subscribers/<int:subscriber_id>", CONSOLE),
    ("POST /console/subscribers/<int:subscriber_id>/addresses", CONSOLE),
    ("POST /console/subscribers/<int:subscriber_id>/complaints", CONSOLE),
    ("POST /console/subscribers/<int:subscriber_id>/flags", CONSOLE),
    ("POST /console/subscribers/<int:subscriber_id>/notes", CONSOLE),
    ("POST /console/subscribers/<int:subscriber_id>/phones", CONSOLE),
    ("GET /console/subscribers/new", CONSOLE),
    ("POST /console/subscribers/new", CONSOLE),
    ("GET /console/voice-token", CONSOLE),
    ("GET /console/zones.geojson", CONSOLE),
    # --- /dispatch/: the board ------------------------------------------------------------------------------
    ("GET /dispatch/", DISPATCH),
    ("POST /dispatch/bookings/<int:booking_id>/pickup-time", DISPATCH),
    ("GET /dispatch/zones.geojson", DISPATCH),
    # --- /supervisor/: supervision ----------------------------------------------------------------------
    ("GET /supervisor/", SUPERVISION),
    ("GET /supervisor/complaint-rules", SUPERVISION),
    ("POST /supervisor/complaint-rules", SUPERVISION),
    ("POST /supervisor/complaint-rules/<int:rule_id>/delete", SUPERVISION),
    ("GET /supervisor/complaints", SUPERVISION),
    ("GET /supervisor/complaints.csv", SUPERVISION),
    ("GET /supervisor/complaints/<int:complaint_id>", SUPERVISION),
    ("POST /supervisor/complaints/<int:complaint_id>/assign", SUPERVISION),
    ("POST /supervisor/complaints/<int:complaint_id>/category", SUPERVISION),
    ("POST /supervisor/complaints/<int:complaint_id>/note", SUPERVISION),
    ("POST /supervisor/complaints/<int:complaint_id>/status", SUPERVISION),
    ("GET /supervisor/drivers", SUPERVISION),
    ("POST /supervisor/drivers", SUPERVISION),
    ("GET /supervisor/drivers/<int:driver_id>", SUPERVISION),
    ("POST /supervisor/drivers/<int:driver_id>/adjustments", SUPERVISION),
    ("GET /supervisor/drivers/<int:driver_id>/complaints", SUPERVISION),
    ("POST /supervisor/drivers/<int:driver_id>/contracts", SUPERVISION),
    ("POST /supervisor/drivers/<int:driver_id>/details", SUPERVISION),
    ("POST /supervisor/drivers/<int:driver_id>/papers", SUPERVISION),
    ("GET /supervisor/drivers/<int:driver_id>/papers/<int:document_id>", SUPERVISION),
    ("POST /supervisor/drivers/<int:driver_id>/suspensions", SUPERVISION),
    ("POST /supervisor/drivers/<int:driver_id>/suspensions/<int:suspension_id>/confirm", SUPERVISION),
    ("POST /supervisor/drivers/<int:driver_id>/suspensions/<int:suspension_id>/decline", SUPERVISION),
    ("POST /supervisor/drivers/<int:driver_id>/suspensions/<int:suspension_id>/lift", SUPERVISION),
    ("POST /supervisor/drivers/<int:driver_id>/vehicles", SUPERVISION),
    ("POST /supervisor/drivers/<int:driver_id>/vehicles/<int:vehicle_id>", SUPERVISION),
    ("GET /supervisor/duplicates", SUPERVISION),
    ("POST /supervisor/duplicates/merge", SUPERVISION),
    ("GET /supervisor/feedback", SUPERVISION),
    ("GET /supervisor/papers", SUPERVISION),
    ("GET /supervisor/reports", SUPERVISION),
    ("GET /supervisor/reports/<name>", SUPERVISION),
    ("GET /supervisor/reports/<name>.csv", SUPERVISION),
    ("GET /supervisor/settlements", SUPERVISION),
    ("POST /supervisor/settlements", SUPERVISION),
    ("GET /supervisor/settlements.csv", SUPERVISION),
    ("GET /supervisor/settlements/<int:settlement_id>", SUPERVISION),
    ("POST /supervisor/settlements/driver/<int:driver_id>", SUPERVISION),
    ("GET /supervisor/subscribers.csv", SUPERVISION),
    # --- /admin/: administration ------------------------------------------------------------------------
    ("GET /admin/commission-plans", ADMINISTRATION),
    ("POST /admin/commission-plans", ADMINISTRATION),
    ("GET /admin/fare-rules", ADMINISTRATION),
    ("POST /admin/fare-rules", ADMINISTRATION),
    ("GET /admin/holidays", ADMINISTRATION),
    ("POST /admin/holidays", ADMINISTRATION),
    ("POST /admin/holidays/<int:holiday_id>/delete", ADMINISTRATION),
    ("GET /admin/jobs", ADMINISTRATION),
    ("POST /admin/jobs/<job_id>/retry", ADMINISTRATION),
    ("GET /admin/messages", ADMINISTRATION),
    ("POST /admin/messages/<int:message_id>/retry", ADMINISTRATION),
    ("GET /admin/places", ADMINISTRATION),
    ("POST /admin/places", ADMINISTRATION),
    ("GET /admin/users", ADMINISTRATION),
    ("POST /admin/users", ADMINISTRATION),
    ("GET /admin/zones", ADMINISTRATION),
    ("GET /admin/zones.geojson", STAFF),  # the zones drawn on every staff map; only the pages are admins'
    ("GET /admin/zones/<int:zone_id>", ADMINISTRATION),
    ("POST /admin/zones/<int:zone_id>", ADMINISTRATION),
    ("POST /admin/zones/<int:zone_id>/remove", ADMINISTRATION),
    ("GET /admin/zones/new", ADMINISTRATION),
    ("POST /admin/zones/new", ADMINISTRATION),
    # --- /driver/: driving --------------------------------------------------------------------------------
    ("GET /driver/", DRIVING),
    ("GET /driver/earnings", DRIVING),
    ("GET /driver/earnings/<int:settlement_id>", DRIVING),  # their own statement only
    # --- /api/: by area -------------------------------------------------------------------------------------
    ("GET /api/bookings", STAFF),
    ("POST /api/bookings", STAFF),
    ("GET /api/bookings/<int:booking_id>", STAFF_OR_OWN_DRIVER),
    ("POST /api/bookings/<int:booking_id>/assign", DISPATCH),
    ("POST /api/bookings/<int:booking_id>/cancel", STAFF),
    ("POST /api/bookings/<int:booking_id>/dispatch", STAFF),
    ("GET /api/bookings/<int:booking_id>/events", STAFF),
    ("POST /api/bookings/<int:booking_id>/progress", DISPATCH_OR_OWN_DRIVER),  # not agents: not their business
    ("GET /api/complaints", SUPERVISION),
    ("POST /api/complaints", CONSOLE),
    ("GET /api/complaints/<int:complaint_id>", SUPERVISION),
    ("GET /api/drivers", DISPATCH),
    ("POST /api/drivers", DISPATCH | ADMINISTRATION),
    ("GET /api/drivers/me", DRIVING),
    ("GET /api/drivers/<int:driver_id>", DISPATCH_OR_OWN_DRIVER),
    ("POST /api/drivers/<int:driver_id>/location", DISPATCH_OR_OWN_DRIVER),
    ("POST /api/drivers/<int:driver_id>/queue", DISPATCH_OR_OWN_DRIVER),
    ("DELETE /api/drivers/<int:driver_id>/queue", DISPATCH_OR_OWN_DRIVER),
    ("POST /api/drivers/<int:driver_id>/status", DISPATCH_OR_OWN_DRIVER),
    ("GET /api/fare-rules", STAFF),
    ("POST /api/fare-rules", ADMINISTRATION),
    ("GET /api/fare-rules/<int:rule_id>", STAFF),
    ("GET /api/feedback", SUPERVISION),
    ("GET /api/feedback/<int:feedback_id>", SUPERVISION),
    ("POST /api/offers/<int:offer_id>/accept", DRIVING),  # the driver offered the job
    ("POST /api/offers/<int:offer_id>/decline", DRIVING),
    ("POST /api/quotes", STAFF),
    ("GET /api/subscribers", STAFF),
    ("POST /api/subscribers", CONSOLE),
    ("GET /api/subscribers/<int:subscriber_id>", STAFF),
    ("POST /api/subscribers/<int:subscriber_id>/addresses", CONSOLE),
    # --- /telephony/: Twilio's webhooks, signed instead of logged in ------------------------------------
    ("POST /telephony/feedback/call", WEBHOOK),
    ("POST /telephony/feedback/call-status", WEBHOOK),
    ("POST /telephony/feedback/comment", WEBHOOK),
    ("POST /telephony/feedback/rating", WEBHOOK),
    ("POST /telephony/feedback/transcription", WEBHOOK),
    ("POST /telephony/sms/incoming", WEBHOOK),
    ("POST /telephony/sms/status", WEBHOOK),
    ("POST /telephony/voice/agent-answered", WEBHOOK),
    ("POST /telephony/voice/choice", WEBHOOK),
    ("POST /telephony/voice/complaint", WEBHOOK),
    ("POST /telephony/voice/complaint-transcript", WEBHOOK),
    ("POST /telephony/voice/dial-ended", WEBHOOK),
    ("POST /telephony/voice/incoming", WEBHOOK),
    ("POST /telephony/voice/long-wait", WEBHOOK),
    ("POST /telephony/voice/menu", WEBHOOK),
    ("POST /telephony/voice/queue-result", WEBHOOK),
    ("POST /telephony/voice/recording", WEBHOOK),
    ("POST /telephony/voice/status", WEBHOOK),
    ("POST /telephony/voice/voicemail", WEBHOOK),
    ("POST /telephony/voice/wait", WEBHOOK),
]
MATRIX = dict(ROUTES)

# Routes where a driver may act only on their own rows: with another driver's ids they are refused.
DRIVER_OWN_ROUTES = [
    "GET /api/bookings/<int:booking_id>",
    "POST /api/bookings/<int:booking_id>/progress",
    "GET /api/drivers/<int:driver_id>",
    "POST /api/drivers/<int:driver_id>/location",
    "POST /api/drivers/<int:driver_id>/queue",
    "DELETE /api/drivers/<int:driver_id>/queue",
    "POST /api/drivers/<int:driver_id>/status",
    "POST /api/offers/<int:offer_id>/accept",
    "POST /api/offers/<int:offer_id>/decline",
    "GET /driver/earnings/<int:settlement_id>",
]

# The live channels: namespace → the roles that may join.
NAMESPACES = {
    "/console": CONSOLE,
    "/dispatch": DISPATCH,
    "/wallboard": SUPERVISION,
    "/driver": DRIVING,
}

STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")
SESSION_ENDING = {"POST /logout", "POST /driver/logout"}  # tried on a session of their own
# Where each session-less visitor is sent to log in.
DRIVER_LOGIN, STAFF_LOGIN = "/driver/login", "/login"
TWILIO_TOKEN = "matrix-twilio-token"
CACHE_KEYS = (b"cabdesk:token:",)  # the bearer-token cache: filled by reading a token, not a change of state
PHONES = {"driver": "09121110001", "other": "09121110002"}


# --- the office under test ---------------------------------------------------------------------------------


@dataclass
class Office:
    """The app on its own seeded database, a logged-in client per identity, bearer tokens and the rows' ids."""

    app: Flask
    db_path: Path
    redis: Redis
    ids: dict[str, object]
    other_ids: dict[str, object]
    clients: dict[str, FlaskClient]
    tokens: dict[str, str]
    bearers: dict[str, dict[str, str]]
    bare: FlaskClient
    template: Path
    reader: sqlite3.Connection


def english_client(app: Flask, use_cookies: bool = True) -> FlaskClient:
    """A test client reading English pages, each request in a fresh context as in production."""
    app.test_client_class = IsolatedClient
    client = app.test_client(use_cookies=use_cookies)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def logged_in_client(app: Flask, identity: str) -> tuple[FlaskClient, str]:
    """A client logged in as ``identity`` through the real login form (drivers: number and PIN), with its CSRF token."""
    client = english_client(app)
    if identity == "driver":
        token = csrf_token_of(client.get(DRIVER_LOGIN).get_data(as_text=True))
        response = client.post(DRIVER_LOGIN, data={"phone": PHONES["driver"], "pin": DRIVER_PIN, "csrf_token": token})
        assert response.status_code == 302, response.get_data(as_text=True)
    elif identity != ANONYMOUS:
        response = log_in(client, identity)
        assert response.status_code == 302, response.get_data(as_text=True)
    return client, csrf_token_of(client.get(STAFF_LOGIN if identity == ANONYMOUS else "/preferences").get_data(True))


def seed_office() -> tuple[dict[str, object], dict[str, object]]:
    """A user per staff role, two drivers with logins, and a row behind every id a route takes; committed."""
    from accounts.services import create_user
    from calls.models import Call
    from core.extensions import db
    from core.models import utcnow
    from core.signals import commit_and_announce
    from crm.models import Address, Subscriber, SubscriberPhone
    from dispatch.models import Booking
    from dispatch.offers import offer_job
    from drivers.models import DriverDocument, Suspension
    from earnings.models import Settlement
    from fares.models import Holiday
    from feedback.models import Complaint, ComplaintKeyword, Feedback
    from geo.models import Zone
    from notifications.models import OutboundMessage

    now = utcnow()
    for role in ("agent", "dispatcher", "supervisor", "admin"):
        create_user(role, PASSWORD, role)
    lat, lon = VANAK
    ring = [[lon - 0.01, lat - 0.01], [lon + 0.01, lat - 0.01], [lon + 0.01, lat + 0.01], [lon - 0.01, lat + 0.01]]
    zone = Zone(
        code="VANAK", name_fa="ونک", name_en="Vanak", boundary={"type": "Polygon", "coordinates": [ring + ring[:1]]}
    )
    rule = sedan_rule()
    subscriber = Subscriber(name="Matrix Caller")
    db.session.add_all([zone, subscriber])
    db.session.flush()
    db.session.add(SubscriberPhone(subscriber_id=subscriber.id, e164="+989121234567"))
    db.session.add(Address(subscriber_id=subscriber.id, label="home", text="Vanak Square", lat=lat, lon=lon))
    call = Call(provider_sid="CAmatrix", from_number="+989121234567")
    db.session.add(call)

    ids: dict[str, object] = {"zone_id": zone.id, "subscriber_id": subscriber.id, "fare_rule_id": rule.id}
    other: dict[str, object] = {}
    for key, target in (("driver", ids), ("other", other)):
        driver = add_driver(key.upper(), PHONES[key])
        booking = Booking(
            subscriber_id=subscriber.id,
            phone="+989121234567",
            pickup_text="Vanak Square",
            pickup_lat=lat,
            pickup_lon=lon,
            pickup_at=now,
            currency="IRR",
        )
        db.session.add(booking)
        db.session.flush()
        offer = offer_job(booking, driver, now, "manual")
        settlement = Settlement(
            driver_id=driver.id, period_start=date(2025, 1, 1), period_end=date(2025, 1, 31), through_seq=0, paid=0
        )
        db.session.add(settlement)
        db.session.flush()
        target.update(
            driver_id=driver.id,
            vehicle_id=driver.vehicles[0].id,
            booking_id=booking.id,
            offer_id=offer.id,
            settlement_id=settlement.id,
        )
    feedback = Feedback(booking_id=ids["booking_id"], subscriber_id=subscriber.id, driver_id=ids["driver_id"])
    db.session.add(feedback)
    db.session.flush()
    complaint = Complaint(subscriber_id=subscriber.id, booking_id=ids["booking_id"], description="late")
    keyword = ComplaintKeyword(category="other", phrase="matrix")
    holiday = Holiday(day=date(2030, 3, 21), name="Nowruz")
    message = OutboundMessage(kind="test", dedupe_key="matrix", to="+989121234567", body="hello")
    document = DriverDocument(driver_id=ids["driver_id"], kind="licence", number="123")
    suspension = Suspension(
        driver_id=ids["driver_id"], status="proposed", reason="complaints", starts_at=now + timedelta(days=1)
    )
    db.session.add_all([complaint, keyword, holiday, message, document, suspension])
    commit_and_announce()
    ids.update(
        call_id=call.id,
        feedback_id=feedback.id,
        complaint_id=complaint.id,
        complaint_rule_id=keyword.id,
        holiday_id=holiday.id,
        message_id=message.id,
        document_id=document.id,
        suspension_id=suspension.id,
        job_id="no-such-job",
        name="demand",
        code="en",
        filename="css/cabdesk.css",
    )
    return ids, other


@pytest.fixture(scope="module")
def office(tmp_path_factory, migrated_sqlite, redis_url):
    """The app, seeded once for the module, with a client logged in per identity and a bearer token per role."""
    from accounts.services import find_user, issue_token
    from core.app import create_app
    from core.extensions import db

    folder = tmp_path_factory.mktemp("authorization-matrix")
    db_path = folder / "cabdesk.sqlite3"
    shutil.copy(migrated_sqlite, db_path)
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    settings = app_settings(f"sqlite:///{db_path}", redis_url, folder)
    settings["TWILIO_AUTH_TOKEN"] = TWILIO_TOKEN  # the signature check runs, rather than the "not set" refusal
    app = create_app(settings)
    with app.app_context():
        ids, other_ids = seed_office()
        bearers = {}
        for role in ROLES:
            user = find_user("driver-driver" if role == "driver" else role)  # a driver's login: "driver-" + call sign
            bearers[role] = {"Authorization": f"Bearer {issue_token(user)}"}
        db.session.commit()
        db.session.remove()
        db.engine.dispose()  # the last connection closing folds the write-ahead log into the file
        template = folder / "live-template.sqlite3"
        shutil.copy(db_path, template)
        clients, tokens = {}, {}
        for identity in IDENTITIES:
            clients[identity], tokens[identity] = logged_in_client(app, identity)
        reader = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, isolation_level=None)
        yield Office(
            app=app,
            db_path=db_path,
            redis=redis,
            ids=ids,
            other_ids=other_ids,
            clients=clients,
            tokens=tokens,
            bearers=bearers,
            bare=english_client(app, use_cookies=False),
            template=template,
            reader=reader,
        )
        reader.close()
        redis.close()
        db.session.remove()
        db.engine.dispose()


# --- requests and what they leave behind ----------------------------------------------------------------


def state_of(office: Office) -> dict[str, str]:
    """A digest of every table's rows and every Redis key (but the token cache): what a refusal leaves as it was."""
    digests = {}
    tables = [row[0] for row in office.reader.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:
        rows = office.reader.execute(f'SELECT * FROM "{table}"').fetchall()  # noqa: S608 (names from the schema)
        digests[f"table {table}"] = hashlib.sha256(repr(sorted(rows, key=repr)).encode()).hexdigest()
    for key in office.redis.scan_iter():
        if not key.startswith(CACHE_KEYS):
            digests[f"redis {key.decode()}"] = hashlib.sha256(office.redis.dump(key) or b"").hexdigest()
    return digests


def changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The tables and Redis keys that differ between two states."""
    return sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))


def url_for_rule(rule: str, values: dict[str, object]) -> str:
    """The rule with each parameter filled from ``values`` (a complaint rule's id for the complaint rules)."""

    def fill(match: re.Match) -> str:
        """The value of one ``<converter:name>``."""
        name = match.group(1)
        if name == "rule_id":
            name = "complaint_rule_id" if "complaint-rules" in rule else "fare_rule_id"
        return str(values[name])

    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", fill, rule)


def send(client: FlaskClient, route: str, values: dict, csrf: str | None, headers: dict | None = None):
    """The route's request with an empty body, the CSRF token (if any) where a cookie session sends it."""
    method, rule = route.split(" ", 1)
    url = url_for_rule(rule, values)
    headers = dict(headers or {})
    kwargs: dict = {}
    if method in STATE_CHANGING:
        if rule.startswith("/api/"):
            kwargs["json"] = {}
            if csrf:
                headers["X-CSRFToken"] = csrf
        else:
            kwargs["data"] = {"csrf_token": csrf} if csrf else {}
    return client.open(url, method=method, headers=headers, **kwargs)


def error_code(response) -> str | None:
    """The ``{"error": {"code": …}}`` of a JSON answer, if it is one."""
    body = response.get_json(silent=True)
    return body.get("error", {}).get("code") if isinstance(body, dict) and isinstance(body.get("error"), dict) else None


def expected(access, identity: str) -> str:
    """What a route of ``access`` should do for ``identity``: allow, ask to log in, forbid, or refuse unsigned."""
    if access == WEBHOOK:
        return "unsigned"
    if access == PUBLIC:
        return "allow"
    if identity == ANONYMOUS:
        return "login"
    return "allow" if identity in access else "forbid"


def verdict(route: str, outcome: str, response) -> str | None:
    """Why ``response`` is not what ``outcome`` asks for, or None when it is."""
    status, rule = response.status_code, route.split(" ", 1)[1]
    api = rule.startswith("/api/")
    location = response.headers.get("Location", "")
    if status == 500:  # 502 and 503 are deliberate: Twilio unreachable, no worker (healthz)
        return "server error"
    if outcome == "allow":
        if status in (401, 403) or "/login?next=" in location:
            return f"refused ({status} {location})".strip()
        if error_code(response) == "csrf":
            return "refused for CSRF"
        return None
    if outcome == "login":
        if api:
            return None if status == 401 and error_code(response) == "unauthorized" else f"{status}, not 401"
        login = DRIVER_LOGIN if rule.startswith("/driver/") else STAFF_LOGIN
        path = location.split("?", 1)[0]
        return None if status == 302 and path.endswith(login) else f"{status} {location}, not a redirect to {login}"
    if outcome == "forbid" and api and error_code(response) != "forbidden":
        return f"{status} {error_code(response)}, not 403 forbidden"
    return None if status == 403 else f"{status}, not 403"


def try_route(office: Office, route: str, identity: str, client: FlaskClient, csrf, headers=None, values=None):
    """Send the route as ``identity`` and return a problem (a string) or None; a refusal must change nothing."""
    outcome = expected(MATRIX[route], identity.removeprefix("bearer "))
    before = state_of(office) if outcome != "allow" else None
    response = send(client, route, values or office.ids, csrf, headers)
    problem = verdict(route, outcome, response)
    if before is not None:
        changed = changes(before, state_of(office))
        if changed:
            problem = (problem + "; " if problem else "") + f"refused yet changed {changed}"
    return f"{identity} → {response.status_code}: {problem} (expected {outcome})" if problem else None


def attempts(office: Office, route: str):
    """Each identity's way of asking: a cookie session per identity, and on the API a bearer token per role."""
    access = MATRIX[route]
    ordered = sorted(IDENTITIES, key=lambda who: expected(access, who) == "allow")  # refusals first
    for identity in ordered:
        if route in SESSION_ENDING:  # logging out clears the session, its CSRF secret too
            client, csrf = logged_in_client(office.app, identity)
        else:
            client, csrf = office.clients[identity], office.tokens[identity]
        yield identity, client, csrf, None
    if route.split(" ", 1)[1].startswith("/api/") and access != PUBLIC:
        for role in sorted(ROLES, key=lambda who: expected(access, who) == "allow"):
            yield f"bearer {role}", office.bare, None, office.bearers[role]


# --- the tests -----------------------------------------------------------------------------------------------


def app_routes(app: Flask) -> set[str]:
    """Every "METHOD /rule" the app serves (HEAD and OPTIONS are Flask's own)."""
    return {
        f"{method} {rule.rule}" for rule in app.url_map.iter_rules() for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def test_every_route_is_in_the_matrix(office):
    missing = sorted(app_routes(office.app) - MATRIX.keys())
    assert not missing, (
        f"routes nobody has classified: add it to the matrix (tests/test_authorization_matrix.py): {missing}"
    )
    gone = sorted(MATRIX.keys() - app_routes(office.app))
    assert not gone, f"the matrix names routes the app no longer has: {gone}"
    assert len(MATRIX) == len(ROUTES), "a route is in the matrix twice"


def test_every_live_channel_is_in_the_matrix(office):
    from core.extensions import socketio

    served = (set(socketio.server.handlers) | set(socketio.server.namespace_handlers)) - {"/"}
    missing = sorted(served - NAMESPACES.keys())
    assert not missing, f"Socket.IO namespaces nobody has classified: add it to the matrix: {missing}"
    assert not NAMESPACES.keys() - served, "the matrix names a namespace the app no longer serves"


@pytest.mark.parametrize("route", sorted(MATRIX))
def test_route_admits_exactly_its_roles(office, route):
    problems = [
        problem
        for identity, client, csrf, headers in attempts(office, route)
        if (problem := try_route(office, route, identity, client, csrf, headers))
    ]
    access = MATRIX[route]
    who = access if isinstance(access, str) else ", ".join(sorted(access))
    assert not problems, f"{route} (for {who}):\n" + "\n".join(problems)


@pytest.mark.parametrize("route", DRIVER_OWN_ROUTES)
def test_a_driver_cannot_act_for_another_driver(office, route):
    values = {**office.ids, **office.other_ids}
    client = office.clients["driver"]
    for identity, headers, csrf in (
        ("driver", None, office.tokens["driver"]),
        ("bearer driver", office.bearers["driver"], None),
    ):
        if identity.startswith("bearer") and not route.split(" ", 1)[1].startswith("/api/"):
            continue
        before = state_of(office)
        response = send(office.bare if headers else client, route, values, csrf, headers)
        assert response.status_code in (403, 404, 409), (identity, route, response.status_code, response.get_data(True))
        assert not changes(before, state_of(office)), (identity, route, changes(before, state_of(office)))


def access_for_csrf(route: str) -> str:
    """Who to try a CSRF-less request as: someone the route admits (anonymous for the public routes)."""
    access = MATRIX[route]
    if access == PUBLIC:
        return ANONYMOUS
    return next(role for role in ("admin", "supervisor", "dispatcher", "agent", "driver") if role in access)


@pytest.mark.parametrize("route", sorted(r for r, a in MATRIX.items() if r.startswith(STATE_CHANGING) and a != WEBHOOK))
def test_a_cookie_session_cannot_change_anything_without_the_csrf_token(office, route):
    identity = access_for_csrf(route)
    client = office.clients[identity]
    if route in SESSION_ENDING:
        client, _token = logged_in_client(office.app, identity)
    before = state_of(office)
    response = send(client, route, office.ids, csrf=None)
    assert response.status_code == 400, (identity, route, response.status_code)
    if route.split(" ", 1)[1].startswith("/api/"):
        assert error_code(response) == "csrf", response.get_data(as_text=True)
    else:
        assert "The form has expired" in response.get_data(as_text=True)
    assert not changes(before, state_of(office)), changes(before, state_of(office))


@pytest.mark.parametrize(
    "route", sorted(r for r in MATRIX if r.startswith(STATE_CHANGING) and r.split(" ", 1)[1].startswith("/api/"))
)
def test_a_bearer_header_does_not_excuse_a_cookie_session_from_the_csrf_token(office, route):
    identity = access_for_csrf(route)
    before = state_of(office)
    response = send(office.clients[identity], route, office.ids, csrf=None, headers={"Authorization": "Bearer forged"})
    assert response.status_code in (400, 401), (identity, route, response.status_code, response.get_data(True))
    assert error_code(response) in ("csrf", "unauthorized"), response.get_data(as_text=True)
    assert not changes(before, state_of(office)), changes(before, state_of(office))


# --- the live channels, against gunicorn -----------------------------------------------------------------


@pytest.fixture(scope="module")
def live(request, office, redis_url):
    """gunicorn on a copy of the seeded database (own Redis database), and a logged-in requests session per role."""
    own_redis = redis_url.rsplit("/", 1)[0] + "/6"
    Redis.from_url(own_redis).flushdb()
    with (
        live_server(own_redis, template_db=office.template) as server,
        show_log_on_failure(request.config, server, Path(__file__)),
    ):
        sessions = {ANONYMOUS: requests.Session()}
        for role in ROLES:
            session = requests.Session()
            login = DRIVER_LOGIN if role == "driver" else STAFF_LOGIN
            page = session.get(server.url + login, timeout=10)
            form = {"csrf_token": csrf_token_of(page.text)}
            form.update(
                {"phone": PHONES["driver"], "pin": DRIVER_PIN}
                if role == "driver"
                else {"username": role, "password": PASSWORD}
            )
            response = session.post(server.url + login, data=form, timeout=10, allow_redirects=False)
            assert response.status_code == 302, (role, response.status_code)
            sessions[role] = session
        yield server, sessions


@pytest.mark.parametrize("namespace", sorted(NAMESPACES))
def test_live_channel_admits_exactly_its_roles(live, namespace):
    server, sessions = live
    problems = []
    for identity, session in sessions.items():
        headers = {"User-Agent": session.headers["User-Agent"]}
        if session.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
        client = socketio_client.Client(reconnection=False)
        allowed = identity in NAMESPACES[namespace]
        try:
            client.connect(server.url, namespaces=[namespace], transports=["websocket"], headers=headers)
        except socketio_client.exceptions.ConnectionError as refusal:
            if allowed:
                problems.append(f"{identity} refused: {refusal}")
        else:
            if not allowed:
                problems.append(f"{identity} connected")
            client.disconnect()
    assert not problems, f"{namespace}: " + "; ".join(problems)
