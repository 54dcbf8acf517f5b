"""The dispatcher board: what its snapshot holds, what it is pushed live, who may open it, and pre-booking times."""

from __future__ import annotations

import contextvars
import json
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from rq import Queue, SimpleWorker

from core.extensions import db, socketio
from core.models import utcnow
from core.signals import commit_and_announce
from dispatch.auto import dispatch_booking
from dispatch.board import board_snapshot
from dispatch.board_tasks import CURSOR_KEY, push_driver_positions
from dispatch.bookings import BookingError, DispatchConflict, Stop, create_booking
from dispatch.duty import change_status, check_in, position_report
from dispatch.live import NAMESPACE
from dispatch.models import Booking
from dispatch.offers import assign_driver, decline_offer
from dispatch.schedule import reschedule
from dispatch.trips import cancel_booking
from drivers.positions import SEEN
from tests.conftest import csrf_token_of
from tests.support.office import AZADI, NEAR_AZADI, TAJRISH, VANAK, add_driver, on_duty_at, sedan_rule


@pytest.fixture
def office(app, tehran_zones, redis_client):
    """The Tehran zones, a sedan tariff, and the office's dispatch settings as these tests expect them."""
    app.config.update(DISPATCH_MODE="nearest", OFFER_TIMEOUT=20, PREBOOKING_LEAD_MINUTES=15, DRIVER_STALE_SECONDS=120)
    sedan_rule()
    db.session.commit()
    return tehran_zones


def book(pickup=AZADI, dropoff=VANAK, pickup_at=None, now=None) -> Booking:
    booking = create_booking(
        phone="+989121234567",
        subscriber=None,
        pickup=Stop(lat=pickup[0], lon=pickup[1], text="Azadi Square"),
        dropoff=Stop(lat=dropoff[0], lon=dropoff[1], text="Vanak Square") if dropoff else None,
        pickup_at=pickup_at,
        vehicle_class="sedan",
        notes="",
        now=now or utcnow(),
    )
    commit_and_announce()
    return booking


def open_board(app, client):
    # In a context of its own, like a request: otherwise Flask-Login's user cached in the test's ``g``
    # would answer for every socket.
    return contextvars.Context().run(socketio.test_client, app, namespace=NAMESPACE, flask_test_client=client)


def events_named(socket, name: str) -> list:
    return [event["args"][0] for event in socket.get_received(NAMESPACE) if event["name"] == name]


def pushed(socket) -> dict[str, list]:
    found: dict[str, list] = {}
    for event in socket.get_received(NAMESPACE):
        found.setdefault(event["name"], []).append(event["args"][0])
    return found


# ---- the snapshot ----


def test_the_snapshot_holds_every_part_of_the_board_as_json(office):
    near, far, resting, queued = (add_driver(c, f"0912222000{i}") for i, c in enumerate(("B1", "B2", "B3", "B4")))
    for driver, point in ((near, NEAR_AZADI), (far, VANAK), (resting, TAJRISH), (queued, (35.6850, 51.3300))):
        on_duty_at(driver, point)
    change_status(resting, "break", utcnow())
    check_in(queued, utcnow())
    commit_and_announce()
    # Booked once the drivers are on duty, so that nobody is offered a job on going available.
    waiting, offered, assigned = book(), book(), book(pickup=VANAK, dropoff=TAJRISH)
    tomorrow = book(pickup_at=utcnow() + timedelta(hours=30))
    cancelled = book()
    offer = dispatch_booking(offered, utcnow())
    assign_driver(assigned, far, utcnow(), None)
    cancel_booking(cancelled, "customer changed plans", utcnow(), None)
    commit_and_announce()

    snapshot = board_snapshot()
    assert json.loads(json.dumps(snapshot)) == snapshot, "everything must travel as JSON"
    assert [b["id"] for b in snapshot["waiting"]] == [waiting.id, offered.id]
    assert [b["id"] for b in snapshot["scheduled"]] == [tomorrow.id]
    assert [(b["id"], b["status"], b["driver"]) for b in snapshot["active"]] == [(assigned.id, "assigned", "B2")]
    row = next(b for b in snapshot["waiting"] if b["id"] == waiting.id)
    assert row["pickup"] == "Azadi Square" and row["zone_id"] == office["D09"].id and row["fare"] > 0
    assert row["waiting_since"] == waiting.created_at.isoformat()
    [in_flight] = snapshot["offers"]
    assert (in_flight["id"], in_flight["booking_id"], in_flight["driver"]) == (offer.id, offered.id, "B1")
    assert datetime.fromisoformat(in_flight["expires_at"]) == offer.expires_at

    drivers = {d["call_sign"]: d for d in snapshot["drivers"]}
    assert set(drivers) == {"B1", "B2", "B3", "B4"}
    assert (drivers["B2"]["status"], drivers["B3"]["status"]) == ("busy", "break")
    assert drivers["B1"]["vehicle_class"] == "sedan" and not drivers["B1"]["stale"]
    assert abs(drivers["B2"]["lat"] - VANAK[0]) < 1e-4 and abs(drivers["B2"]["lon"] - VANAK[1]) < 1e-4
    assert drivers["B4"]["queue"] == {"zone_id": office["D09"].id, "place": 1}
    assert drivers["B1"]["queue"] is None
    [queue] = snapshot["queues"]
    assert (queue["zone_id"], queue["drivers"]) == (office["D09"].id, ["B4"])
    assert queue["zone"] == office["D09"].name_en or queue["zone"] == office["D09"].name_fa
    assert {z["code"] for z in snapshot["zones"]} >= {"D09", "IKA"}


def test_a_driver_not_heard_from_is_stale_and_offline_drivers_are_left_out(office):
    fresh, silent, gone = (add_driver(c, f"0912222010{i}") for i, c in enumerate(("S1", "S2", "S3")))
    on_duty_at(fresh, NEAR_AZADI)
    on_duty_at(silent, NEAR_AZADI, utcnow() - timedelta(minutes=3))
    on_duty_at(gone, VANAK)
    change_status(gone, "offline", utcnow())
    commit_and_announce()
    drivers = {d["call_sign"]: d for d in board_snapshot()["drivers"]}
    assert set(drivers) == {"S1", "S2"}
    assert (drivers["S1"]["stale"], drivers["S2"]["stale"]) == (False, True)


def test_the_snapshot_is_bounded_in_queries(office, app):
    from sqlalchemy import event

    for i in range(6):
        driver = add_driver(f"Q{i}", f"091222202{i:02d}")
        on_duty_at(driver, NEAR_AZADI)
        check_in(driver, utcnow())
    commit_and_announce()
    for _ in range(8):
        book()
    statements = []

    def listener(_connection, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        board_snapshot()
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert len(statements) <= 8, statements


# ---- the live channel ----


def test_only_roles_with_the_board_may_connect(app, logged_in):
    assert not open_board(app, logged_in("agent")).is_connected(NAMESPACE)


def test_the_anonymous_are_refused(app, client):
    assert not open_board(app, client).is_connected(NAMESPACE)


@pytest.mark.parametrize("role", ["dispatcher", "supervisor", "admin"])
def test_board_roles_connect_and_get_the_snapshot(office, app, logged_in, role):
    booking = book()
    socket = open_board(app, logged_in(role))
    assert socket.is_connected(NAMESPACE)
    [snapshot] = events_named(socket, "snapshot")
    assert [b["id"] for b in snapshot["waiting"]] == [booking.id]


def test_a_tab_may_ask_for_the_whole_board_again(office, app, logged_in):
    socket = open_board(app, logged_in("dispatcher"))
    booking = book()
    again = socket.emit("snapshot", namespace=NAMESPACE, callback=True)
    assert [b["id"] for b in again["waiting"]] == [booking.id]


def test_the_board_is_pushed_bookings_offers_and_drivers_as_the_engine_acts(office, app, logged_in):
    socket = open_board(app, logged_in("dispatcher"))
    socket.get_received(NAMESPACE)
    driver, other = add_driver("L1", "09122220301"), add_driver("L2", "09122220302")
    on_duty_at(driver, NEAR_AZADI)
    on_duty_at(other, VANAK)
    commit_and_announce()
    seen = pushed(socket)
    assert {row["call_sign"]: row["status"] for row in seen["driver"]} == {"L1": "available", "L2": "available"}
    assert "queues" in seen

    booking = book()
    [row] = pushed(socket)["booking"]
    assert (row["id"], row["status"], row["pickup"]) == (booking.id, "requested", "Azadi Square")

    offer = dispatch_booking(booking, utcnow())
    commit_and_announce()
    seen = pushed(socket)
    assert [(b["id"], b["status"], b["driver"]) for b in seen["booking"]] == [(booking.id, "offered", "L1")]
    [offered] = seen["offer"]
    assert (offered["id"], offered["driver"], offered["expires_at"]) == (offer.id, "L1", offer.expires_at.isoformat())

    decline_offer(offer, driver, utcnow(), "too far")
    commit_and_announce()
    seen = pushed(socket)
    assert seen["offer_closed"] == [
        {"offer_id": offer.id, "driver_id": driver.id, "booking_id": booking.id, "outcome": "declined"}
    ]
    assert seen["booking"][-1]["status"] == "requested"

    assign_driver(booking, other, utcnow(), None, "radioed")
    commit_and_announce()
    seen = pushed(socket)
    assert [(b["status"], b["driver"]) for b in seen["booking"]] == [("assigned", "L2")]
    assert [(d["call_sign"], d["status"]) for d in seen["driver"]] == [("L2", "busy")]


def test_a_dispatcher_acting_through_the_api_is_seen_by_another_board(office, app, client, logged_in, make_user):
    from tests.conftest import log_in

    watcher = open_board(app, logged_in("supervisor"))
    watcher.get_received(NAMESPACE)
    driver = add_driver("A1", "09122220401")
    on_duty_at(driver, NEAR_AZADI)
    commit_and_announce()
    booking = book()
    watcher.get_received(NAMESPACE)

    acting = app.test_client()
    acting.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    make_user("dispatcher", "dora")
    log_in(acting, "dora")
    token = csrf_token_of(acting.get("/dispatch/").get_data(as_text=True))
    response = contextvars.Context().run(
        acting.post,
        f"/api/bookings/{booking.id}/assign",
        json={"driver_id": driver.id},
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    seen = pushed(watcher)
    assert [(b["id"], b["status"], b["driver"]) for b in seen["booking"]] == [(booking.id, "assigned", "A1")]


def test_positions_are_pushed_by_the_cron_job_only_when_they_changed(office, app, logged_in, redis_client):
    socket = open_board(app, logged_in("dispatcher"))
    mover, parked = add_driver("P1", "09122220501"), add_driver("P2", "09122220502")
    start = utcnow()
    on_duty_at(mover, NEAR_AZADI, start - timedelta(seconds=10))
    on_duty_at(parked, VANAK, start - timedelta(seconds=100))
    commit_and_announce()
    socket.get_received(NAMESPACE)

    # The first push (run from RQ, as `rq cron` runs it) sends every driver still fresh.
    queue = Queue(connection=redis_client)
    job = queue.enqueue(push_driver_positions)
    SimpleWorker([queue], connection=redis_client).work(burst=True)
    assert job.return_value() == 2
    [first] = events_named(socket, "positions")
    rows = {row[0]: row for row in first["items"]}
    assert set(rows) == {mover.id, parked.id}
    assert rows[mover.id][1:3] == pytest.approx(list(NEAR_AZADI), abs=1e-4)
    assert (rows[mover.id][4], rows[parked.id][4]) == (False, False)

    # Nothing moved since: nothing is sent.
    assert push_driver_positions() == 0
    assert events_named(socket, "positions") == []

    # Twenty seconds on: one driver moved, the other's last report (130 s old now) passed the stale limit.
    moved_to = (NEAR_AZADI[0] + 0.003, NEAR_AZADI[1])
    position_report(mover, *moved_to, utcnow())
    commit_and_announce()
    redis_client.zadd(SEEN, {parked.id: time.time() - 130})
    redis_client.set(CURSOR_KEY, time.time() - 20)
    socket.get_received(NAMESPACE)
    assert push_driver_positions() == 2
    [second] = events_named(socket, "positions")
    rows = {row[0]: row for row in second["items"]}
    assert rows[mover.id][1] == pytest.approx(moved_to[0], abs=1e-5) and rows[mover.id][4] is False
    assert rows[parked.id][4] is True


def test_the_board_socket_handlers_exist_in_every_app(tmp_path, migrated_sqlite, redis_url):
    """A second app in one process (a reload, tests) must have the board's handlers like the first."""
    import subprocess
    import sys

    script = (
        "from core.app import create_app\n"
        "from core.extensions import socketio\n"
        "from tests.conftest import app_settings\n"
        f"settings = app_settings('sqlite:///{migrated_sqlite}', '{redis_url}', '{tmp_path}')\n"
        "for _ in range(2):\n"
        "    create_app(settings)\n"
        "    assert 'connect' in socketio.server.handlers.get('/dispatch', {}), 'no connect handler'\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]


# ---- the page and its routes ----


def test_the_page_carries_its_words_and_settings_and_no_inline_code(office, logged_in):
    html = logged_in("dispatcher").get("/dispatch/").get_data(as_text=True)
    assert 'src="/static/js/board.js"' in html and 'href="/static/css/board.css"' in html
    assert "data-board-map" in html and 'data-zones="/dispatch/zones.geojson"' in html
    for block in html.split("<script")[1:]:
        opening = block.split(">", 1)[0]
        assert "src=" in opening or 'type="application/json"' in opening, opening
    assert " style=" not in html


def test_the_zones_come_as_geojson_to_dispatchers(office, logged_in):
    zones = logged_in("dispatcher").get("/dispatch/zones.geojson").get_json()
    assert zones["type"] == "FeatureCollection" and len(zones["features"]) == len(office)


def test_an_agent_cannot_reach_the_zones_or_change_times(office, logged_in):
    agent = logged_in("agent")
    assert agent.get("/dispatch/zones.geojson").status_code == 403


# ---- moving a pre-booking ----


def test_a_pre_booking_moves_to_a_new_time_and_the_move_is_logged(office, app):
    now = utcnow()
    booking = book(pickup_at=now + timedelta(days=2), now=now)
    fare = booking.fare
    night = datetime.now(ZoneInfo(app.config["OFFICE_TIMEZONE"])).replace(hour=3, minute=0, second=0, microsecond=0)
    night = (night + timedelta(days=3)).astimezone(UTC)
    reschedule(booking, night, now, None)
    commit_and_announce()
    db.session.refresh(booking)
    assert booking.status == "scheduled" and booking.pickup_at == night
    last = booking.events[-1]
    assert (last.from_status, last.to_status, last.reason) == ("scheduled", "scheduled", "pickup time changed")
    assert last.data["pickup_at"]["to"] == night.isoformat()
    assert last.data["fare"] == {"from": fare, "to": booking.fare}


def test_a_pre_booking_moved_inside_the_lead_time_is_released_to_dispatch(office):
    now = utcnow()
    booking = book(pickup_at=now + timedelta(hours=5), now=now)
    reschedule(booking, now + timedelta(minutes=10), now, None)
    commit_and_announce()
    assert booking.status == "requested"


@pytest.mark.parametrize(
    "delta,message",
    [(timedelta(hours=-2), "has passed"), (timedelta(days=400), "days ahead")],
)
@pytest.mark.parametrize("with_dropoff", [True, False])
def test_a_bad_new_time_is_refused_and_nothing_changes(office, delta, message, with_dropoff):
    now = utcnow()
    booking = book(dropoff=VANAK if with_dropoff else None, pickup_at=now + timedelta(hours=6), now=now)
    before = booking.pickup_at
    with pytest.raises(BookingError, match=message):
        reschedule(booking, now + delta, now, None)
    db.session.rollback()
    db.session.refresh(booking)
    assert booking.pickup_at == before and len(booking.events) == 1


def test_only_a_pre_booking_can_be_moved(office):
    booking = book()
    with pytest.raises(DispatchConflict, match="requested"):
        reschedule(booking, utcnow() + timedelta(hours=3), utcnow(), None)


def test_the_pickup_time_route_validates_and_answers_json(office, app, logged_in):
    client = logged_in("dispatcher")
    token = csrf_token_of(client.get("/dispatch/").get_data(as_text=True))
    headers = {"X-CSRFToken": token}
    booking = book(pickup_at=utcnow() + timedelta(days=1))
    url = f"/dispatch/bookings/{booking.id}/pickup-time"

    local = datetime.now(ZoneInfo(app.config["OFFICE_TIMEZONE"])) + timedelta(days=2)
    wall_clock = local.strftime("%Y-%m-%dT%H:%M")
    response = client.post(url, json={"pickup_at": wall_clock}, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    row = response.get_json()
    moved = datetime.fromisoformat(row["pickup_at"]).astimezone(ZoneInfo(app.config["OFFICE_TIMEZONE"]))
    assert moved.strftime("%Y-%m-%dT%H:%M") == wall_clock, "a time without a zone is on the office clock"

    past = client.post(url, json={"pickup_at": "2020-01-01T10:00"}, headers=headers)
    assert past.status_code == 400
    assert past.get_json()["error"]["fields"] == {"pickup_at": "the pickup time has passed"}
    garbage = client.post(url, json={"pickup_at": "tomorrow-ish"}, headers=headers)
    assert garbage.status_code == 400 and "ISO 8601" in garbage.get_json()["error"]["message"]
    assert (
        client.post(
            "/dispatch/bookings/999999/pickup-time", json={"pickup_at": wall_clock}, headers=headers
        ).status_code
        == 404
    )
    assert client.post(url, json={"pickup_at": wall_clock}).status_code == 400, "no CSRF token, no change"

    now_booking = book()
    conflict = client.post(
        f"/dispatch/bookings/{now_booking.id}/pickup-time", json={"pickup_at": wall_clock}, headers=headers
    )
    assert conflict.status_code == 409 and "requested" in conflict.get_json()["error"]["message"]


def test_agents_may_not_move_pickup_times(office, logged_in):
    booking = book(pickup_at=utcnow() + timedelta(days=1))
    agent = logged_in("agent")
    token = csrf_token_of(agent.get("/console/").get_data(as_text=True))
    response = agent.post(
        f"/dispatch/bookings/{booking.id}/pickup-time",
        json={"pickup_at": "2030-01-01T10:00"},
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 403
