"""Complaints and trip feedback through the JSON API: who may read and open them, filters, pages, the trails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from accounts.models import User
from core.extensions import db
from crm.services import create_subscriber
from dispatch.models import Booking
from feedback.complaints import change_status, open_complaint
from feedback.models import Complaint, Feedback, FeedbackEvent
from tests.support.office import add_driver
from tests.test_api_bookings import driver_headers

# 00:30 on 2 March 2026 in Tehran (UTC+3:30), still 1 March in UTC: office days are the office's.
LATE_EVENING_UTC = datetime(2026, 3, 1, 21, 0, tzinfo=UTC)


def trip(subscriber, driver, pickup_at: datetime, status: str = "completed") -> Booking:
    """A subscriber's trip with a driver, stored directly."""
    booking = Booking(
        subscriber_id=subscriber.id,
        phone=subscriber.phones[0].e164,
        pickup_text="Tajrish",
        pickup_lat=35.8,
        pickup_lon=51.43,
        pickup_at=pickup_at,
        currency="IRR",
        status=status,
        driver_id=driver.id,
        fare=1_250_000,
    )
    db.session.add(booking)
    db.session.flush()
    return booking


@pytest.fixture
def office(app):
    """Sara with two finished trips (the later with driver D2), Reza with one, and a driver's login."""
    sara = create_subscriber("سارا کریمی", ["09121234567"], "IR")
    reza = create_subscriber("Reza Karimi", ["09351112233"], "IR")
    d1, d2 = add_driver("D1", "09120000001"), add_driver("D2", "09120000002")
    now = datetime.now(UTC)
    older, last = trip(sara, d1, now - timedelta(days=3)), trip(sara, d2, now - timedelta(hours=2))
    rezas = trip(reza, d1, now - timedelta(days=1))
    db.session.commit()
    return {"sara": sara, "reza": reza, "d1": d1, "d2": d2, "older": older, "last": last, "rezas": rezas}


@pytest.fixture
def staff(api_client, office):
    """Bearer headers for each role (the driver's own login included) and none for the anonymous."""
    headers = {role: api_client(role)[1] for role in ("agent", "dispatcher", "supervisor", "admin")}
    client, _ = api_client("supervisor", "another-supervisor")
    headers["driver"] = driver_headers(office["d1"])
    headers["anonymous"] = {}
    return client, headers


def complaint(description: str, booking=None, now=None, **kwargs) -> Complaint:
    opened = open_complaint("sms", description, now or datetime.now(UTC), booking=booking, **kwargs)
    db.session.commit()
    return opened


def answered_feedback(booking: Booking, rating: int, created_at: datetime, channel: str = "sms") -> Feedback:
    feedback = Feedback(
        booking_id=booking.id,
        subscriber_id=booking.subscriber_id,
        driver_id=booking.driver_id,
        channel=channel,
        status="answered",
        rating=rating,
        comment="راننده خوب بود",
        requested_at=created_at + timedelta(minutes=10),
        answered_at=created_at + timedelta(minutes=12),
        created_at=created_at,
    )
    db.session.add(feedback)
    db.session.flush()
    db.session.add_all(
        [
            FeedbackEvent(feedback_id=feedback.id, kind="asked", at=feedback.requested_at, data={"sid": "SM1"}),
            FeedbackEvent(
                feedback_id=feedback.id,
                kind="rating",
                at=feedback.answered_at,
                data={"payload": {"Body": f"{rating} راننده خوب بود"}, "rating": rating},
            ),
        ]
    )
    db.session.commit()
    return feedback


def complaints_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Complaint))


READERS = {"supervisor": 200, "admin": 200, "agent": 403, "dispatcher": 403, "driver": 403, "anonymous": 401}
OPENERS = {"supervisor": 201, "admin": 201, "agent": 201, "dispatcher": 403, "driver": 403, "anonymous": 401}


@pytest.mark.parametrize("path", ["/api/complaints", "/api/complaints/{c}", "/api/feedback", "/api/feedback/{f}"])
def test_only_supervisors_and_admins_read_complaints_and_feedback(staff, office, path):
    client, headers = staff
    opened = complaint("late again", office["last"])
    feedback = answered_feedback(office["last"], 2, datetime.now(UTC))
    url = path.format(c=opened.id, f=feedback.id)
    for role, status in READERS.items():
        response = client.get(url, headers=headers[role])
        assert response.status_code == status, (role, response.get_json())
        if status != 200:
            assert set(response.get_json()["error"]) >= {"code", "message"}


def test_agents_supervisors_and_admins_open_complaints_and_no_one_else(staff, office):
    client, headers = staff
    for role, status in OPENERS.items():
        body = {"subscriber_id": office["sara"].id, "description": f"opened by {role}"}
        assert client.post("/api/complaints", json=body, headers=headers[role]).status_code == status, role
    assert complaints_count() == 3


def test_cookie_sessions_read_by_role_and_write_with_the_csrf_header(logged_in, office):
    from tests.conftest import csrf_token_of

    client = logged_in("supervisor")
    assert client.get("/api/complaints").status_code == 200
    body = {"subscriber_id": office["sara"].id, "description": "rude"}
    assert client.post("/api/complaints", json=body).status_code == 400  # no CSRF header
    token = csrf_token_of(client.get("/console/").get_data(as_text=True))
    assert client.post("/api/complaints", json=body, headers={"X-CSRFToken": token}).status_code == 201


def test_an_agents_cookie_session_may_not_read_the_log(logged_in, office):
    assert logged_in("agent").get("/api/complaints").status_code == 403


def test_an_agent_opens_a_complaint_linked_to_the_last_trip(staff, office):
    client, headers = staff
    response = client.post(
        "/api/complaints",
        json={"subscriber_id": office["sara"].id, "description": "راننده بد رانندگی کرد", "category": "route"},
        headers=headers["agent"],
    )
    assert response.status_code == 201, response.get_json()
    opened = response.get_json()
    assert opened["booking_id"] == office["last"].id and opened["driver_id"] == office["d2"].id
    assert opened["source"] == "agent" and opened["status"] == "new" and opened["category"] == "route"
    assert opened["phone"] == "+989121234567" and opened["reference"] == f"C-{opened['id']:06d}"
    assert opened["sla_breached"] is False and opened["respond_by"].endswith("+00:00")
    agent_id = db.session.scalar(select(User.id).where(User.username == "api-agent"))
    assert [(e["action"], e["to_status"], e["user_id"]) for e in opened["events"]] == [("opened", "new", agent_id)]
    listed = client.get("/api/complaints", headers=headers["supervisor"]).get_json()
    assert [c["id"] for c in listed["items"]] == [opened["id"]]


def test_a_complaint_by_number_finds_the_subscriber_and_an_explicit_booking_wins(staff, office):
    client, headers = staff
    by_phone = client.post(
        "/api/complaints", json={"phone": "۰۹۱۲ ۱۲۳ ۴۵۶۷", "description": "late"}, headers=headers["agent"]
    ).get_json()
    assert by_phone["subscriber_id"] == office["sara"].id and by_phone["booking_id"] == office["last"].id
    chosen = client.post(
        "/api/complaints",
        json={"booking_id": office["older"].id, "description": "left my bag", "severity": 3},
        headers=headers["agent"],
    ).get_json()
    assert chosen["subscriber_id"] == office["sara"].id and chosen["driver_id"] == office["d1"].id
    assert chosen["booking_id"] == office["older"].id and chosen["severity"] == 3


@pytest.mark.parametrize(
    "body,field",
    [
        ({"subscriber_id": "SARA"}, "description"),
        ({"subscriber_id": "SARA", "description": "   "}, "description"),
        ({"subscriber_id": "SARA", "description": "x" * 4001}, "description"),
        ({"subscriber_id": "SARA", "description": 12}, "description"),
        ({"description": "late"}, "subscriber_id"),
        ({"description": "late"}, "phone"),
        ({"subscriber_id": 999, "description": "late"}, "subscriber_id"),
        ({"subscriber_id": "1", "description": "late"}, "subscriber_id"),
        ({"booking_id": 999, "description": "late"}, "booking_id"),
        ({"subscriber_id": "SARA", "booking_id": "REZAS", "description": "late"}, "booking_id"),
        ({"phone": "12", "description": "late"}, "phone"),
        ({"subscriber_id": "SARA", "description": "late", "category": "weather"}, "category"),
        ({"subscriber_id": "SARA", "description": "late", "severity": 5}, "severity"),
        ({"subscriber_id": "SARA", "description": "late", "severity": True}, "severity"),
        ({"subscriber_id": "SARA", "description": "late", "status": "resolved"}, "status"),
    ],
)
def test_bad_complaints_are_a_400_naming_the_field_and_nothing_is_stored(staff, office, body, field):
    client, headers = staff
    stand_ins = {"SARA": office["sara"].id, "REZAS": office["rezas"].id}
    body = {k: stand_ins.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    response = client.post("/api/complaints", json=body, headers=headers["agent"])
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "invalid" and error["message"] and field in error["fields"], error
    assert complaints_count() == 0


def test_not_json_is_a_400(staff):
    client, headers = staff
    response = client.post("/api/complaints", data="description=x", headers=headers["agent"])
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_json"


def test_the_log_filters_like_the_supervisors_page(staff, office):
    client, headers = staff
    sara, reza = office["sara"], office["reza"]
    late = complaint("راننده خیلی دیر رسید", office["last"], category="lateness", severity=1)
    rude = complaint("the driver was rude", office["rezas"], category="driver_behaviour", severity=3)
    old = complaint("fare too high", office["older"], LATE_EVENING_UTC, category="fare_dispute")
    supervisor = db.session.scalar(select(User.id).where(User.username == "api-supervisor"))
    change_status(rude, "investigating", supervisor, "called the driver", datetime.now(UTC))
    db.session.commit()

    def ids(**args) -> list[int]:
        response = client.get("/api/complaints", query_string=args, headers=headers["supervisor"])
        assert response.status_code == 200, response.get_json()
        return [c["id"] for c in response.get_json()["items"]]

    assert ids() == [rude.id, late.id, old.id]  # newest first
    assert ids(status="investigating") == [rude.id]
    assert ids(category="lateness") == [late.id]
    assert ids(driver_id=office["d1"].id) == [rude.id, old.id]
    assert ids(subscriber_id=reza.id) == [rude.id] and ids(subscriber_id=sara.id) == [late.id, old.id]
    assert ids(severity=3) == [rude.id]
    assert ids(sla_breached="1") == [old.id]
    assert ids(q="دير") == [late.id]  # Arabic yeh finds the Persian spelling
    assert ids(q="RUDE driver") == [rude.id]
    assert ids(q=late.reference) == [late.id]
    assert ids(date_from="2026-03-02", date_to="2026-03-02") == [old.id]  # 00:30 in Tehran
    assert ids(date_to="2026-03-01") == []
    assert ids(status="resolved") == []


def test_not_breached_includes_complaints_still_within_their_time(staff, office):
    client, headers = staff
    waiting = complaint("late", office["last"])
    page = client.get("/api/complaints?sla_breached=0", headers=headers["supervisor"]).get_json()
    assert [c["id"] for c in page["items"]] == [waiting.id]


def test_a_bad_filter_is_a_400_naming_each_field(staff):
    client, headers = staff
    response = client.get(
        "/api/complaints",
        query_string={"status": "closed", "date_from": "yesterday", "severity": "9", "driver_id": "x"},
        headers=headers["admin"],
    )
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid" and error["message"]
    assert set(error["fields"]) == {"status", "date_from", "severity", "driver_id"}
    reversed_days = client.get("/api/complaints?date_from=2026-03-05&date_to=2026-03-01", headers=headers["admin"])
    assert reversed_days.status_code == 400 and "date_to" in reversed_days.get_json()["error"]["fields"]


def test_pages(staff, office):
    client, headers = staff
    for n in range(5):
        complaint(f"complaint {n}", office["last"])
    first = client.get("/api/complaints?per_page=2", headers=headers["supervisor"]).get_json()
    assert set(first) == {"items", "page", "per_page", "total"}
    assert (first["page"], first["per_page"], first["total"], len(first["items"])) == (1, 2, 5, 2)
    last = client.get("/api/complaints?per_page=2&page=3", headers=headers["supervisor"]).get_json()
    assert len(last["items"]) == 1 and last["items"][0]["description"] == "complaint 0"
    assert client.get("/api/complaints?per_page=200", headers=headers["supervisor"]).status_code == 200
    for query in ("per_page=201", "page=0", "page=x"):
        for path in ("/api/complaints", "/api/feedback"):
            response = client.get(f"{path}?{query}", headers=headers["supervisor"])
            assert response.status_code == 400 and response.get_json()["error"]["fields"], (path, query)


def test_one_complaint_with_its_audit_trail(staff, office):
    client, headers = staff
    opened = complaint("late", office["last"], LATE_EVENING_UTC)
    supervisor = db.session.scalar(select(User.id).where(User.username == "api-supervisor"))
    change_status(opened, "investigating", supervisor, "calling the customer", LATE_EVENING_UTC + timedelta(hours=1))
    db.session.commit()
    shown = client.get(f"/api/complaints/{opened.id}", headers=headers["supervisor"]).get_json()
    assert shown["created_at"] == "2026-03-01T21:00:00+00:00"
    assert shown["first_response_at"] == "2026-03-01T22:00:00+00:00" and shown["sla_breached"] is False
    assert [(e["action"], e["from_status"], e["to_status"]) for e in shown["events"]] == [
        ("opened", None, "new"),
        ("status", "new", "investigating"),
    ]
    assert shown["events"][1] == {
        "at": "2026-03-01T22:00:00+00:00",
        "user_id": supervisor,
        "action": "status",
        "from_status": "new",
        "to_status": "investigating",
        "note": "calling the customer",
    }
    missing = client.get("/api/complaints/999", headers=headers["supervisor"])
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"


def test_feedback_filters_and_pages(staff, office):
    client, headers = staff
    low = answered_feedback(office["last"], 1, datetime.now(UTC) - timedelta(hours=1))
    high = answered_feedback(office["rezas"], 5, datetime.now(UTC), channel="ivr")
    old = answered_feedback(office["older"], 4, LATE_EVENING_UTC)

    def ids(**args) -> list[int]:
        response = client.get("/api/feedback", query_string=args, headers=headers["admin"])
        assert response.status_code == 200, response.get_json()
        return [f["id"] for f in response.get_json()["items"]]

    assert ids() == [high.id, low.id, old.id]
    assert ids(rating=1) == [low.id] and ids(channel="ivr") == [high.id] and ids(status="expired") == []
    assert ids(driver_id=office["d1"].id) == [high.id, old.id] and ids(subscriber_id=office["reza"].id) == [high.id]
    assert ids(booking_id=office["older"].id) == [old.id]
    assert ids(date_from="2026-03-02", date_to="2026-03-02") == [old.id] and ids(date_to="2026-03-01") == []
    page = client.get("/api/feedback?per_page=1&page=2", headers=headers["admin"]).get_json()
    assert (page["page"], page["per_page"], page["total"], [f["id"] for f in page["items"]]) == (2, 1, 3, [low.id])
    item = page["items"][0]
    assert item["rating"] == 1 and item["comment"] == "راننده خوب بود" and item["answered_at"].endswith("+00:00")
    bad = client.get("/api/feedback?rating=7&channel=fax&date_from=x&booking_id=-1", headers=headers["admin"])
    assert bad.status_code == 400
    assert set(bad.get_json()["error"]["fields"]) == {"rating", "channel", "date_from", "booking_id"}


def test_one_feedback_with_twilios_payloads(staff, office):
    client, headers = staff
    feedback = answered_feedback(office["last"], 2, LATE_EVENING_UTC)
    shown = client.get(f"/api/feedback/{feedback.id}", headers=headers["supervisor"]).get_json()
    assert shown["booking_id"] == office["last"].id and shown["driver_id"] == office["d2"].id
    assert [e["kind"] for e in shown["events"]] == ["asked", "rating"]
    assert shown["events"][1]["data"] == {"payload": {"Body": "2 راننده خوب بود"}, "rating": 2}
    assert shown["events"][1]["at"] == "2026-03-01T21:12:00+00:00"
    missing = client.get("/api/feedback/999", headers=headers["supervisor"])
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
