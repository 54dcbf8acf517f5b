"""The wallboard's figures against a small floor worked out by hand, its page, and its live channel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from shapely.geometry import shape

from calls.models import AgentPresence, Call
from core.extensions import db, socketio
from core.queues import redis_connection
from dispatch.models import Booking, DispatchOffer
from drivers import positions
from drivers.models import Driver
from feedback.models import Complaint
from reports.floor import floor_snapshot, level
from supervisors.live import NAMESPACE, push_floor

# 13:30 in Tehran (+03:30); the office day began at 2026-12-04 20:30 UTC.
NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


def call(sid: str, queued_ago: float, status: str, *, answer_after=None, talk=None, wrap=None, gone_after=None):
    """A call that joined the queue ``queued_ago`` seconds before NOW; times in seconds from that moment."""
    queued = NOW - timedelta(seconds=queued_ago)
    answered = queued + timedelta(seconds=answer_after) if answer_after is not None else None
    ended = None
    if talk is not None:
        ended = answered + timedelta(seconds=talk)
    elif gone_after is not None:
        ended = queued + timedelta(seconds=gone_after)
    wrapped = ended + timedelta(seconds=wrap) if wrap is not None else None
    db.session.add(
        Call(
            provider_sid=sid,
            from_number="+989121234567",
            status=status,
            queued_at=queued,
            answered_at=answered,
            ended_at=ended,
            wrapped_up_at=wrapped,
        )
    )


@pytest.fixture
def calls(app):
    """Nine calls: the hand-worked figures are in each test."""
    call("CA1", 2 * 3600, "completed", answer_after=10, talk=100, wrap=30)  # in time; handled 130 s
    call("CA2", 30 * 60, "completed", answer_after=30, talk=60)  # late; handled 60 s (no wrap-up)
    call("CA3", 20 * 60, "abandoned", gone_after=40)  # abandoned
    call("CA4", 10 * 60, "abandoned", gone_after=3)  # a misdial: not counted at all
    call("CA5", 50 * 60, "voicemail", gone_after=310)  # deflected to voicemail
    call("CA6", 14 * 3600, "completed", answer_after=5, talk=50)  # 23:30 yesterday, office clock: not today
    call("CA7", 45, "queued")  # waiting
    call("CA8", 15, "queued")  # waiting
    call("CA9", 5 * 60, "answered", answer_after=12)  # in time, still talking: no handle time yet
    db.session.commit()


def test_call_figures_today_and_last_hour(calls):
    floor = floor_snapshot(NOW)
    # Today: CA1, CA2, CA3, CA5, CA9 have an outcome (CA4 a misdial, CA6 yesterday, CA7–8 waiting).
    # Answered CA1, CA2, CA9; within 20 s CA1 (10 s) and CA9 (12 s); abandoned CA3; deflected CA5.
    assert floor["today"] == {
        "offered": 5,
        "answered": 3,
        "answered_in_time": 2,
        "abandoned": 1,
        "deflected": 1,
        "handled": 2,
        "service_level": 40.0,  # 2 / 5
        "abandoned_rate": 20.0,  # 1 / 5
        "asa": 17.3,  # (10 + 30 + 12) / 3
        "aht": 95.0,  # (130 + 60) / 2
    }
    # The last hour: CA2, CA3, CA5, CA9 (CA1 was two hours ago).
    assert floor["last_hour"] == {
        "offered": 4,
        "answered": 2,
        "answered_in_time": 1,
        "abandoned": 1,
        "deflected": 1,
        "handled": 1,
        "service_level": 25.0,
        "abandoned_rate": 25.0,
        "asa": 21.0,  # (30 + 12) / 2
        "aht": 60.0,
    }
    assert floor["waiting"]["count"] == 2
    assert floor["waiting"]["longest_wait"] == 45.0
    assert floor["waiting"]["since"] == [(NOW - timedelta(seconds=s)).isoformat() for s in (45, 15)]


def test_levels_follow_the_offices_marks(app, calls):
    floor = floor_snapshot(NOW)
    # Defaults: service level 80/70 (40 is red), abandoned 5/10 (20 is red), ASA 20/40 (17.3 is fine),
    # longest wait 60/120 (45 is fine).
    assert floor["levels"]["service_level"] == "red"
    assert floor["levels"]["abandoned"] == "red"
    assert floor["levels"]["asa"] == "ok"
    assert floor["levels"]["longest_wait"] == "ok"
    app.config["WALLBOARD_THRESHOLDS"] = {**app.config["WALLBOARD_THRESHOLDS"], "asa": (15.0, 30.0)}
    assert floor_snapshot(NOW)["levels"]["asa"] == "amber"
    assert level("service_level", 80.0) == "ok" and level("service_level", 79.9) == "amber"
    assert level("longest_wait", 120) == "red" and level("longest_wait", None) == "ok"


def test_a_quiet_floor_has_no_rates(app):
    floor = floor_snapshot(NOW)
    assert floor["today"]["service_level"] is None and floor["today"]["asa"] is None
    assert floor["waiting"] == {"count": 0, "longest_wait": 0.0, "since": []}
    assert floor["levels"]["service_level"] == "ok"


def test_agents_bookings_offers_drivers_and_complaints(app, make_user, tehran_zones, redis_client):
    for name, state in (("a1", "available"), ("a2", "available"), ("a3", "on_call"), ("a4", "offline")):
        db.session.add(AgentPresence(user_id=make_user("agent", name).id, state=state))
    inside = shape(tehran_zones["D03"].boundary).representative_point()
    drivers = [
        Driver(
            call_sign="K1", name="A", phone="+989120000001", status="available", last_lat=inside.y, last_lon=inside.x
        ),
        Driver(
            call_sign="K2", name="B", phone="+989120000002", status="available", last_lat=inside.y, last_lon=inside.x
        ),
        Driver(call_sign="K3", name="C", phone="+989120000003", status="available", last_lat=30.0, last_lon=60.0),
        Driver(call_sign="K4", name="D", phone="+989120000004", status="busy", last_lat=inside.y, last_lon=inside.x),
        # Suspended until lifted: not free, whatever the phone says.
        Driver(
            call_sign="K5", name="E", phone="+989120000005", status="available", suspended_from=NOW - timedelta(days=1)
        ),
        # A suspension that ended (the sweep has not cleared it yet): free again.
        Driver(
            call_sign="K6",
            name="F",
            phone="+989120000006",
            status="available",
            last_lat=inside.y,
            last_lon=inside.x,
            suspended_from=NOW - timedelta(days=2),
            suspended_until=NOW - timedelta(hours=1),
        ),
        # Never sent a position: counted apart, not as outside the zones.
        Driver(call_sign="K7", name="G", phone="+989120000007", status="available"),
        # The database still has them in D03, but the live index has them in D06 since: the live index wins.
        Driver(
            call_sign="K8", name="H", phone="+989120000008", status="available", last_lat=inside.y, last_lon=inside.x
        ),
    ]
    db.session.add_all(drivers)
    db.session.flush()
    moved = shape(tehran_zones["D06"].boundary).representative_point()
    positions.record(redis_connection(), drivers[-1].id, moved.y, moved.x, NOW.timestamp(), available=True)
    bookings = [booking(status) for status in ("requested", "requested", "offered", "on_trip", "completed")]
    db.session.add_all(bookings)
    db.session.flush()
    db.session.add(DispatchOffer(booking_id=bookings[2].id, driver_id=drivers[3].id, expires_at=NOW))
    db.session.add_all(
        [
            Complaint(status="new", respond_by=NOW - timedelta(hours=1)),  # breached
            Complaint(status="investigating", respond_by=NOW - timedelta(hours=1), first_response_at=NOW),
            Complaint(status="new", respond_by=NOW + timedelta(hours=1)),
            Complaint(status="resolved", respond_by=NOW - timedelta(days=1)),  # closed: not on the board
        ]
    )
    db.session.commit()

    floor = floor_snapshot(NOW)
    assert floor["agents"] == {"available": 2, "on_call": 1, "wrap_up": 0, "away": 0}
    assert floor["bookings"] == {
        "requested": 2,
        "scheduled": 0,
        "offered": 1,
        "assigned": 0,
        "arrived": 0,
        "on_trip": 1,
    }
    assert floor["offers"] == 1
    assert [(z["code"], z["count"]) for z in floor["free_drivers"]] == [("", 1), ("?", 1), ("D03", 3), ("D06", 1)]
    assert floor["free_drivers"][2]["name_en"] == tehran_zones["D03"].name_en
    assert floor["complaints"] == {"open": 3, "sla_breaches": 1}


def booking(status: str) -> Booking:
    """A booking in ``status``, stored directly."""
    return Booking(
        status=status, pickup_text="Tajrish", pickup_lat=35.8, pickup_lon=51.43, pickup_at=NOW, currency="IRR"
    )


def test_the_page_shows_the_floor_and_loads_its_script(app, logged_in, calls):
    page = logged_in("supervisor").get("/supervisor/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'data-figure="waiting.count"' in html and "wallboard.js" in html


def test_the_live_channel_sends_the_floor_on_connecting_and_on_every_push(app, logged_in, calls):
    socket = socketio.test_client(app, namespace=NAMESPACE, flask_test_client=logged_in("supervisor"))
    assert socket.is_connected(NAMESPACE)
    first = [m for m in socket.get_received(NAMESPACE) if m["name"] == "floor"]
    assert len(first) == 1 and first[0]["args"][0]["waiting"]["count"] == 2

    call("CA10", 5, "queued")
    db.session.commit()
    assert push_floor() == 3
    pushed = [m for m in socket.get_received(NAMESPACE) if m["name"] == "floor"]
    assert len(pushed) == 1 and pushed[0]["args"][0]["waiting"]["count"] == 3


@pytest.mark.parametrize("role", ["agent", "dispatcher"])
def test_the_live_channel_refuses_other_roles(app, logged_in, role):
    socket = socketio.test_client(app, namespace=NAMESPACE, flask_test_client=logged_in(role))
    assert not socket.is_connected(NAMESPACE)
