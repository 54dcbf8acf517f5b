"""The production topology on one machine: PostgreSQL, Redis, two web processes, two RQ workers and rq cron.

As production runs it (docs/DEPLOYMENT.md): each web process is its own gunicorn (gthread, one worker), all of them
and the workers share Socket.IO events through Redis (``SOCKETIO_MESSAGE_QUEUE``), the database is PostgreSQL. A
call, a booking, its dispatch by a worker, the driver's trip and the passenger's feedback by text flow through, each
step sent to one web process or the other, and every console, board, driver page and wallboard open on either
process sees every event, whoever raised it. Afterwards every call, booking and feedback is in the database once.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.support.database_fixtures import make_app
from tests.support.live_server import VENV_BIN, live_server, show_log_on_failure
from tests.support.screens import WAIT, Screen
from tests.support.servers import free_port, postgres_cluster, redis_server, wait_until
from tests.support.twilio_stub import twilio_stub
from tests.support.twilio_webhooks import (
    DESK_NUMBER,
    TEST_ACCOUNT_SID,
    incoming_call_params,
    incoming_sms_params,
    signature_for,
)

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "topology-twilio-token"
PASSWORD = "topology-password-1"
STAFF = {"agent_a": "agent", "agent_b": "agent", "dispatcher": "dispatcher", "supervisor": "supervisor"}
DRIVER_PHONE = "09121230001"
DRIVER_PIN = "2468"
RIDER = "+989121112233"
VANAK = (35.7575, 51.4100)  # District 3
AZADI = (35.6997, 51.3381)  # District 9
ASKED = "SELECT 1 FROM outbound_messages WHERE kind = 'feedback_request' AND sent_at IS NOT NULL"


class RedisServer:
    """The office's redis-server, which a fault test stops and brings back (empty, on the same port)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.running = ExitStack()

    def start(self) -> None:
        """Start it (again)."""
        self.running.enter_context(redis_server(self.port))

    def stop(self) -> None:
        """Stop it: everything it held is gone, as with a Redis that keeps nothing on disk."""
        self.running.close()


@contextmanager
def rq_process(args: list[str], env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen]:
    """An ``rq`` process (worker or cron) for the test's office, stopped with SIGTERM (a warm shutdown) after."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(VENV_BIN / "rq"), *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        alive = process.poll() is None
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        assert alive, f"`rq {args[0]}` died during the test:\n{log_path.read_text()[-3000:]}"


def seed_office(database_url: str, redis_url: str, instance: Path) -> int:
    """The office's zones, its sedan tariff and one driver with a car and a PIN, written as an admin would; his id."""
    from bench.common import add_tehran_zones
    from core.extensions import db
    from tests.support.office import add_driver, sedan_rule

    app = make_app(database_url, redis_url, instance)
    with app.app_context():
        add_tehran_zones()
        sedan_rule()
        driver = add_driver("T1", DRIVER_PHONE, pin=DRIVER_PIN)
        db.session.commit()
        driver_id = driver.id
        db.session.remove()
        db.engine.dispose()
    return driver_id


@pytest.fixture(scope="module")
def office(request, tmp_path_factory):
    """PostgreSQL and Redis of its own, the Twilio stand-in, two gunicorn web processes, two workers and rq cron."""
    workdir = tmp_path_factory.mktemp("topology")
    with ExitStack() as stack:
        cluster = stack.enter_context(postgres_cluster())
        redis = RedisServer()
        redis.start()
        stack.callback(redis.stop)
        stub = stack.enter_context(twilio_stub(TEST_ACCOUNT_SID, TOKEN))
        settings = {
            "DATABASE_URL": cluster.url,
            "TWILIO_ACCOUNT_SID": TEST_ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_NUMBER": DESK_NUMBER,
            "TWILIO_API_URL": stub.url,
            "DISPATCH_MODE": "nearest",
            "FEEDBACK_DELAY": "0",
            "FEEDBACK_QUIET_HOURS": "",
            "HEALTH_WATCH_SECONDS": "1",
        }
        # The first web process brings the database to the newest schema (`flask db upgrade`) and adds the staff.
        web_a = stack.enter_context(live_server(redis.url, users=STAFF, password=PASSWORD, extra_env=settings))
        stack.enter_context(show_log_on_failure(request.config, web_a, Path(__file__)))
        driver_id = seed_office(cluster.url, redis.url, workdir / "seed")
        web_b = stack.enter_context(live_server(redis.url, extra_env=settings))
        stack.enter_context(show_log_on_failure(request.config, web_b, Path(__file__)))
        env = dict(web_a.env)
        worker = ["worker", "--worker-class", "core.worker.CabdeskWorker", "--url", redis.url]
        workers = [
            stack.enter_context(rq_process([*worker, "--with-scheduler", "default"], env, workdir / "worker-1.log")),
            stack.enter_context(rq_process([*worker, "default"], env, workdir / "worker-2.log")),
            stack.enter_context(rq_process(["cron", "--url", redis.url, "cron_jobs"], env, workdir / "cron.log")),
        ]
        yield {
            "a": web_a.url,
            "b": web_b.url,
            "stub": stub,
            "database_url": cluster.url,
            "postgres": cluster,
            "redis": redis,
            "driver_id": driver_id,
            "workers": workers,
            "logs": workdir,
        }


def staff(base_url: str, username: str, namespace: str, *events: str) -> Screen:
    """A member of staff logged in on that web process, their page's live channel open."""
    screen = Screen(base_url, namespace, events)
    screen.log_in("/login", {"username": username, "password": PASSWORD}, "/")
    return screen.connect()


def rows(database_url: str, sql: str, **params) -> list:
    """What the database holds, read on a connection of its own."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(sql), params))
    finally:
        engine.dispose()


def webhook(base_url: str, path: str, params: dict[str, str]) -> requests.Response:
    """A webhook as Twilio posts it, signed for the URL it is sent to."""
    url = base_url + path
    return requests.post(
        url, data=params, headers={"X-Twilio-Signature": signature_for(url, params, TOKEN)}, timeout=15
    )


def test_every_client_on_either_web_process_sees_every_event(office):
    a, b, stub = office["a"], office["b"], office["stub"]
    with ExitStack() as pages:
        consoles = [
            staff(a, "agent_a", "/console", "snapshot", "call_waiting", "call_update", "my_call"),
            staff(b, "agent_b", "/console", "snapshot", "call_waiting", "call_update", "my_call"),
        ]
        boards = [
            staff(a, "dispatcher", "/dispatch", "booking", "offer", "driver"),
            staff(b, "supervisor", "/dispatch", "booking", "offer", "driver"),
        ]
        wallboards = [staff(a, "supervisor", "/wallboard", "floor"), staff(b, "supervisor", "/wallboard", "floor")]
        driver = Screen(b, "/driver", ("offer", "state"))
        driver.log_in("/driver/login", {"phone": DRIVER_PHONE, "pin": DRIVER_PIN}, "/driver/").connect()
        everyone = [*consoles, *boards, *wallboards, driver]
        for screen in everyone:
            pages.callback(screen.client.disconnect)

        # The passenger is in the subscriber book (an agent on B adds them) and calls the desk: Twilio asks A.
        added = consoles[1].post("/api/subscribers", {"name": "Shirin Ahmadi", "phones": [RIDER], "language": "en"})
        assert added.status_code == 201, added.text
        call_sid = stub.add_call(from_=RIDER)
        assert webhook(a, "/telephony/voice/incoming", incoming_call_params(call_sid, from_=RIDER)).status_code == 200
        for console in consoles:
            card = console.seen("call_waiting", lambda c: c["caller_e164"] == RIDER)
            assert card["subscriber"]["name"] == "Shirin Ahmadi"
        call_id = card["id"]

        # The agent on B answers: exactly they get the call, and the console on A sees it taken.
        answered = consoles[1].post(f"/console/calls/{call_id}/answer")
        assert answered.status_code == 200, answered.text
        consoles[1].seen("my_call", lambda c: c["id"] == call_id)
        consoles[0].seen("call_update", lambda c: c["id"] == call_id and c["status"] != "queued")

        # The driver, on B, goes on duty at Vanak; the boards on both processes see him.
        driver_id = office["driver_id"]
        assert driver.post(f"/api/drivers/{driver_id}/status", {"status": "available"}).status_code == 200
        assert driver.post(f"/api/drivers/{driver_id}/location", {"lat": VANAK[0], "lon": VANAK[1]}).ok
        for board in boards:
            board.seen("driver", lambda d: d["id"] == driver_id and d["status"] == "available")

        # The agent books on B; a worker dispatches it; the offer rings the driver and shows on both boards.
        booking = consoles[1].post(
            "/api/bookings",
            {
                "phone": RIDER,
                "pickup": {"lat": VANAK[0], "lon": VANAK[1], "text": "Vanak Square"},
                "dropoff": {"lat": AZADI[0], "lon": AZADI[1], "text": "Azadi Tower"},
                "call_id": call_id,
            },
        )
        assert booking.status_code == 201, booking.text
        booking_id = booking.json()["id"]
        for board in boards:
            board.seen("booking", lambda r: r["id"] == booking_id)
            board.seen("offer", lambda o: o["booking_id"] == booking_id and o["driver_id"] == driver_id)
        offer = driver.seen("offer", lambda o: o["booking"]["id"] == booking_id)

        # He accepts on B, then drives the trip, each step sent to A by his phone's next request on another route.
        assert driver.post(f"/api/offers/{offer['id']}/accept").status_code == 200
        for board in boards:
            board.seen("booking", lambda r: r["id"] == booking_id and r["status"] == "assigned")
        on_a = Screen(a, "/driver", ())
        on_a.http.cookies.update(driver.http.cookies)
        on_a.http.headers["User-Agent"] = driver.http.headers["User-Agent"]
        on_a.csrf = driver.csrf
        for step in ("arrived", "on_trip", "completed"):
            moved = on_a.post(f"/api/bookings/{booking_id}/progress", {"status": step})
            assert moved.status_code == 200, moved.text
            for board in boards:
                board.seen("booking", lambda r, step=step: r["id"] == booking_id and r["status"] == step)

        # Workers text the passenger (driver assigned, arrived, receipt) and ask for feedback; the reply comes to B.
        def texts_to_rider() -> list[str]:
            return [r.form["Body"] for r in stub.requests_to("Messages.json") if r.form.get("To") == RIDER]

        database_url = office["database_url"]
        wait_until(
            lambda: rows(
                database_url, "SELECT 1 FROM outbound_messages WHERE kind = 'feedback_request' AND status = 'sent'"
            ),
            timeout=WAIT,
            what="the feedback request texted",
        )
        reply = webhook(b, "/telephony/sms/incoming", incoming_sms_params(from_=RIDER, body="5"))
        assert reply.status_code == 200

        # The wallboards on both processes are pushed the floor by rq cron through a worker.
        for wallboard in wallboards:
            wallboard.seen("floor", lambda f: isinstance(f, dict))

    wait_until(
        lambda: rows(database_url, "SELECT rating FROM feedback WHERE rating IS NOT NULL"),
        timeout=WAIT,
        what="the rating in the database",
    )
    assert rows(database_url, "SELECT count(*) FROM calls WHERE provider_sid = :sid", sid=call_sid)[0][0] == 1
    assert rows(database_url, "SELECT status, driver_id FROM bookings") == [("completed", driver_id)]
    assert rows(database_url, "SELECT booking_id, rating FROM feedback") == [(booking_id, 5)]
    kinds = rows(database_url, "SELECT kind, count(*) FROM outbound_messages GROUP BY kind ORDER BY kind")
    assert all(count == 1 for _, count in kinds), f"a text was written twice: {kinds}"
    assert len(texts_to_rider()) == len(set(texts_to_rider())), "a text was sent twice"
    assert all(process.poll() is None for process in office["workers"]), "a worker or rq cron died"


def driver_page(base_url: str, *events: str) -> Screen:
    """The test driver's phone page on that web process, logged in with his number and PIN."""
    screen = Screen(base_url, "/driver", events)
    return screen.log_in("/driver/login", {"phone": DRIVER_PHONE, "pin": DRIVER_PIN}, "/driver/").connect()


def book_a_trip(screen: Screen) -> requests.Response:
    """The passenger's usual trip, booked from that page."""
    return screen.post(
        "/api/bookings",
        {
            "phone": RIDER,
            "pickup": {"lat": VANAK[0], "lon": VANAK[1], "text": "Vanak Square"},
            "dropoff": {"lat": AZADI[0], "lon": AZADI[1], "text": "Azadi Tower"},
        },
    )


def test_redis_dies_mid_shift_and_comes_back_empty_and_nothing_is_lost(office):
    a, b, redis = office["a"], office["b"], office["redis"]
    with ExitStack() as pages:
        consoles = [staff(a, "agent_a", "/console", "health"), staff(b, "agent_b", "/console", "health")]
        boards = [
            staff(a, "dispatcher", "/dispatch", "health", "offer"),
            staff(b, "supervisor", "/dispatch", "health", "offer"),
        ]
        driver = driver_page(b, "offer")
        for screen in [*consoles, *boards, driver]:
            pages.callback(screen.client.disconnect)
        for screen in [*consoles, *boards]:
            screen.seen("health", lambda h: h["ok"])
        before = len(rows(office["database_url"], "SELECT id FROM bookings"))

        redis.stop()
        # Every page hears it from its own web process, though Redis carries nothing.
        for screen in [*consoles, *boards]:
            screen.seen("health", lambda h: "redis" in h["down"])
        # The agent still takes the booking: it is saved, and its dispatch waits for Redis.
        during = book_a_trip(consoles[0])
        assert during.status_code == 201, during.text
        booking_id = during.json()["id"]

        redis.start()
        for screen in [*consoles, *boards]:
            screen.received.clear()
        for screen in [*consoles, *boards]:
            screen.seen("health", lambda h: h["ok"])
        # The driver's phone goes on sending its position; the sweep finds the booking that waited and offers it.
        driver_id = office["driver_id"]
        assert driver.post(f"/api/drivers/{driver_id}/location", {"lat": VANAK[0], "lon": VANAK[1]}).ok
        for board in boards:
            board.seen("offer", lambda o: o["booking_id"] == booking_id and o["driver_id"] == driver_id)
        driver.seen("offer", lambda o: o["booking"]["id"] == booking_id)
        # The passenger no longer needs it (and the next test wants the driver free).
        cancelled = boards[0].post(f"/api/bookings/{booking_id}/cancel", {"reason": "the passenger found a lift"})
        assert cancelled.status_code == 200, cancelled.text

    bookings = rows(office["database_url"], "SELECT id, status FROM bookings ORDER BY id")
    assert len(bookings) == before + 1 and bookings[-1] == (booking_id, "cancelled")
    offers = rows(office["database_url"], "SELECT count(*) FROM dispatch_offers WHERE booking_id = :id", id=booking_id)
    assert offers == [(1,)]


def test_a_phone_that_lost_its_network_is_given_the_ringing_offer_when_it_is_back(office):
    a, b, driver_id = office["a"], office["b"], office["driver_id"]
    with ExitStack() as pages:
        agent = staff(b, "agent_b", "/console")
        driver = driver_page(a, "state", "offer")
        pages.callback(agent.client.disconnect)
        pages.callback(driver.client.disconnect)
        assert driver.post(f"/api/drivers/{driver_id}/status", {"status": "available"}).status_code == 200
        assert driver.post(f"/api/drivers/{driver_id}/location", {"lat": VANAK[0], "lon": VANAK[1]}).ok

        driver.client.disconnect()  # into a tunnel: the offer below rings while the phone hears nothing
        booked = book_a_trip(agent)
        assert booked.status_code == 201, booked.text
        booking_id = booked.json()["id"]
        pending = "SELECT id FROM dispatch_offers WHERE booking_id = :id AND outcome = 'pending'"
        wait_until(lambda: rows(office["database_url"], pending, id=booking_id), timeout=WAIT, what="the offer made")
        assert not any(name == "offer" and data["booking"]["id"] == booking_id for name, data in driver.received)

        # Out of the tunnel: the page connects again and is sent its whole state, the ringing offer in it.
        driver.received.clear()
        driver.connect()
        state = driver.seen("state", lambda s: s["offer"] is not None)
        assert state["offer"]["booking"]["id"] == booking_id
        assert driver.post(f"/api/offers/{state['offer']['id']}/accept").status_code == 200
        cancelled = agent.post(f"/api/bookings/{booking_id}/cancel", {"reason": "a test trip"})
        assert cancelled.status_code == 200, cancelled.text


def test_postgresql_restarts_mid_shift_and_the_desk_carries_on(office):
    a, b, cluster = office["a"], office["b"], office["postgres"]
    with ExitStack() as pages:
        consoles = [staff(a, "agent_a", "/console", "health"), staff(b, "agent_b", "/console", "health")]
        for screen in consoles:
            pages.callback(screen.client.disconnect)
            screen.seen("health", lambda h: h["ok"])
        before = rows(office["database_url"], "SELECT count(*) FROM bookings")[0][0]

        cluster.stop()
        for screen in consoles:
            screen.seen("health", lambda h: "database" in h["down"])
        # A booking tried meanwhile is refused plainly, with nothing half-saved.
        refused = book_a_trip(consoles[1])
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "database_unavailable"

        cluster.start()
        for screen in consoles:
            screen.received.clear()
        for screen in consoles:
            screen.seen("health", lambda h: h["ok"])
        taken = book_a_trip(consoles[1])
        assert taken.status_code == 201, taken.text

    assert rows(office["database_url"], "SELECT count(*) FROM bookings")[0][0] == before + 1
