"""Hostile input against the JSON API: schemathesis sends every operation of /api/openapi.json generated data.

Each operation runs on its own copy of the migrated SQLite database, seeded with a small office (zones, a
tariff, a subscriber with an address, two drivers, a waiting booking offered to a driver, a finished trip
with feedback and a complaint), so that small ids in paths hit real rows. Data valid for the document and
data that breaks it (schemathesis's negative mode) are both sent; every answer must be documented (status,
content type, body), no answer may be a 5xx, data the document forbids must be refused with a 4xx, and a
4xx must leave the database as it was.

Generation is derandomized with a fixed seed and no example database, so a run is repeatable; the budget
is ``MAX_EXAMPLES`` fuzzed cases per operation, besides the coverage phase's boundary cases.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import literal_column, select
from werkzeug.security import generate_password_hash

from accounts.models import User
from accounts.services import create_user, issue_token
from api.openapi import MAX_ID, openapi_document
from core.extensions import db
from crm.services import add_address, create_subscriber
from dispatch.auto import dispatch_booking
from dispatch.bookings import Stop, create_booking
from dispatch.models import Booking
from feedback.complaints import open_complaint
from feedback.models import Feedback, FeedbackEvent
from tests.conftest import IsolatedClient
from tests.support.office import AZADI, NEAR_AZADI, TAJRISH, VANAK, add_driver, on_duty_at, sedan_rule

MAX_EXAMPLES = 15
SEED = 20260509
# Operations only a driver's own login may use: the others run with an admin's token (admins enter every area
# but the driving one).
DRIVER_OPERATIONS = {"GET /drivers/me", "POST /offers/{id}/accept", "POST /offers/{id}/decline"}
CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@dataclass
class FuzzOffice:
    """The seeded office: the test client and each caller's bearer headers."""

    client: IsolatedClient
    admin: dict
    driver: dict
    state: dict = field(default_factory=dict)  # database_state() after the last request

    def headers_for(self, case) -> dict:
        """The bearer headers the case's operation is meant for."""
        label = f"{case.method.upper()} {case.path}"
        return self.driver if label in DRIVER_OPERATIONS else self.admin


def _spot(seed: int) -> dict:
    """One of four points in Tehran, by ``seed``."""
    lat, lon = (AZADI, VANAK, TAJRISH, NEAR_AZADI)[seed % 4]
    return {"lat": lat, "lon": lon}


def _is_moment(value: object) -> bool:
    """Whether a value reads as an ISO 8601 moment."""
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


def _is_point(body: dict) -> bool:
    """Whether a body's lat and lon are numbers on the globe (so that replacing them hides no invalid value)."""
    lat, lon = body.get("lat"), body.get("lon")
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lat, lon))
    return numbers and -90 <= lat <= 90 and -180 <= lon <= 180


def make_realistic(case) -> None:
    """Give most cases what the document cannot say: a real phone, a point in a zone, the seeded rows' ids.

    Without it nearly every generated write is refused for a made-up number or a point in the sea, so the
    201 answers would go untested, and so would every other field's invalid value (the phone's 400 would
    hide it). Only values of the documented type and range are replaced, so a case's invalid value stays
    invalid; schemathesis re-reads a changed case, so one made valid is no longer held to be refused.
    A quarter of the cases go out exactly as generated.
    """
    body = case.body if isinstance(case.body, dict) else {}
    seed = zlib.crc32(repr((case.path_parameters, body)).encode())
    if seed % 4 == 0:
        return
    row_id = (case.path_parameters or {}).get("id")
    if isinstance(row_id, int) and not isinstance(row_id, bool) and 1 <= row_id <= MAX_ID:
        case.path_parameters["id"] = 1 + seed % 3  # the seeded rows have ids 1 and 2; 3 mostly does not exist

    def put(key: str, value: object, kind: type | tuple = str) -> None:
        if isinstance(body.get(key), kind) and not isinstance(body.get(key), bool):
            body[key] = value

    label = f"{case.method.upper()} {case.path}"
    if label == "POST /bookings":
        put("phone", "09121234567" if seed % 2 else f"0935{seed % 10**7:07d}")
        put("subscriber_id", 1, int)
        put("pickup", {"address_id": 1} if seed % 3 == 0 else _spot(seed), dict)
        put("dropoff", _spot(seed + 1), dict)
        if isinstance(body.get("call_id"), int):
            del body["call_id"]  # no call is seeded
        if _is_moment(body.get("pickup_at")):
            del body["pickup_at"]  # a random moment is mostly in the past
    elif label == "POST /quotes":
        put("pickup", _spot(seed), dict)
        put("dropoff", _spot(seed + 1), dict)
        put("subscriber_id", 1, int)
        if _is_moment(body.get("pickup_at")):
            del body["pickup_at"]
    elif label == "POST /subscribers":
        put("phones", [f"0912{seed % 10**7:07d}"], list)
    elif label == "POST /drivers":
        put("call_sign", f"Z{seed % 10**6}")
        put("name", f"Driver {seed % 1000}")
        put("phone", f"0936{seed % 10**7:07d}")
    elif label in ("POST /subscribers/{id}/addresses", "POST /drivers/{id}/location") and _is_point(body):
        body.update(_spot(seed) if label.endswith("addresses") else {"lat": NEAR_AZADI[0], "lon": NEAR_AZADI[1]})
    elif label == "POST /complaints":
        put("subscriber_id", 1, int)  # Sara, whose finished trip is booking 2
        put("booking_id", 2, int)
        put("phone", "09121234567")
    elif label == "POST /fare-rules":
        put("currency", "IRR")
        if _is_moment(body.get("valid_from")):
            del body["valid_from"]  # a random start is mostly in the past or too far ahead
        for number, fixed in enumerate(body.get("fixed_fares") or []):
            if isinstance(fixed, dict):
                fixed.update(from_zone=f"D{number % 22 + 1:02d}", to_zone=f"D{(number + 1) % 22 + 1:02d}")
        for surcharge in body.get("surcharges") or []:
            if isinstance(surcharge, dict) and isinstance(surcharge.get("zone"), str):
                surcharge["zone"] = "IKA"
    case.meta  # noqa: B018  (reading it makes schemathesis re-check the changed case: valid or not, as sent)


def bearer(user: User) -> dict:
    """Authorization headers with a new token of ``user``."""
    token = issue_token(user)
    db.session.commit()
    return {"Authorization": f"Bearer {token}", "Accept-Language": "en"}


def seed_office(app) -> dict:
    """A small office with a row in every table the API reads; returns the admin's and a driver's users."""
    app.config.update(DISPATCH_MODE="nearest")
    sedan_rule()
    admin = create_user("fuzz-admin", "correct horse battery", "admin")
    sara = create_subscriber("Sara Ahmadi", ["09121234567"], "IR")
    home = add_address(sara, label="home", text="Azadi Sq.", lat=AZADI[0], lon=AZADI[1])
    near, far = add_driver("D1", "09120000001"), add_driver("D2", "09120000002")
    now = datetime.now(UTC)
    on_duty_at(near, NEAR_AZADI, now)
    db.session.commit()
    waiting = create_booking(
        phone="+989121234567",
        subscriber=sara,
        pickup=Stop(address_id=home.id),
        dropoff=Stop(lat=VANAK[0], lon=VANAK[1], text="Vanak"),
        pickup_at=None,
        vehicle_class="sedan",
        notes="",
        now=now,
        created_by_id=admin.id,
    )
    waiting.auto_dispatch = True
    assert dispatch_booking(waiting, now) is not None, "the seeded booking found no driver"
    finished = Booking(
        subscriber_id=sara.id,
        phone="+989121234567",
        pickup_text="Tajrish",
        pickup_lat=35.8,
        pickup_lon=51.43,
        pickup_at=now - timedelta(hours=2),
        currency="IRR",
        status="completed",
        driver_id=far.id,
        fare=1_250_000,
    )
    db.session.add(finished)
    db.session.flush()
    feedback = Feedback(
        booking_id=finished.id,
        subscriber_id=sara.id,
        driver_id=far.id,
        channel="sms",
        status="answered",
        rating=2,
        comment="late",
        requested_at=now - timedelta(hours=1),
        answered_at=now - timedelta(minutes=50),
        created_at=now - timedelta(hours=1),
    )
    db.session.add(feedback)
    db.session.flush()
    db.session.add(FeedbackEvent(feedback_id=feedback.id, kind="rating", at=feedback.answered_at, data={"rating": 2}))
    open_complaint("sms", "the driver was late", now, booking=finished, feedback_id=feedback.id)
    db.session.commit()
    return {"admin": admin, "driver": db.session.get(User, near.user_id)}


def database_state() -> dict[str, int]:
    """A digest of every row of every model's table, read on a connection of its own (what is committed)."""
    with db.engine.connect() as connection:
        return {
            # SELECT *, not select(table): raw values do, and converting them adds a third to the run time.
            name: hash(tuple(sorted(map(repr, connection.execute(select(literal_column("*")).select_from(table))))))
            for name, table in db.metadata.tables.items()
        }


def quick_hash(password: str) -> str:
    """A password hash made in microseconds: the API is called with bearer tokens, never with these passwords."""
    return generate_password_hash(password, method="pbkdf2:sha256:1")


@pytest.fixture
def fuzz_office(app, tehran_zones, redis_client, monkeypatch):
    """The seeded office with an admin's and a driver's bearer headers."""
    # scrypt takes a quarter of a second a hash, and every driver made (seeded or fuzzed) takes two.
    monkeypatch.setattr("accounts.services.generate_password_hash", quick_hash)
    monkeypatch.setattr("drivers.services.generate_password_hash", quick_hash)
    users = seed_office(app)
    app.test_client_class = IsolatedClient
    return FuzzOffice(app.test_client(), bearer(users["admin"]), bearer(users["driver"]))


@pytest.fixture
def served_document(app):
    """The app serves exactly the document the tests were generated from."""
    app.test_client_class = IsolatedClient
    assert app.test_client().get("/api/openapi.json").get_json() == openapi_document()


# The document is the one /api/openapi.json serves (``served_document`` checks it). It is built from
# ``openapi_document()`` rather than loaded with ``schemathesis.openapi.from_wsgi`` from each test's app because
# ``schemathesis.pytest.from_fixture`` (the lazy loader that would take the ``app`` fixture) fails on pytest 9.2
# ("'Function' object has no attribute '_nodeid'"), and parametrizing a loaded schema gives one test per operation,
# each on its own freshly seeded database.
schema = schemathesis.openapi.from_dict(
    openapi_document(),
    config=SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
                # The bearer token is the test's to send (an admin's or a driver's); unauthenticated calls are
                # tests/test_authorization_matrix.py's business.
                "with-security-parameters": False,
                # Unknown query parameters are ignored, as HTTP APIs do; the document does not forbid them.
                "allow-extra-parameters": False,
            },
        }
    ),
)


@schema.parametrize()
# One database for all of an operation's examples, on purpose: what one example changes, the next one meets.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], deadline=None)
def test_every_operation_answers_as_documented(case, app, fuzz_office, served_document):
    make_realistic(case)
    before = fuzz_office.state or database_state()  # nothing but the requests writes to it
    try:
        response = case.call_and_validate(
            session=fuzz_office.client, headers=fuzz_office.headers_for(case), checks=CHECKS, app=app
        )
    finally:  # a failed example is shrunk: the next one must start from the database as it is
        fuzz_office.state = after = database_state()
    if 400 <= response.status_code < 500:
        changed = sorted(name for name in before if after[name] != before[name])
        assert not changed, f"a refused {case.method} {case.path} changed {changed}"
