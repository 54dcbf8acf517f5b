"""The screen-pop benchmark: from Twilio's incoming-call webhook to the caller's record on an agent's console.

Run from the project root (see bench/README.md for what every figure means)::

    .venv/bin/python -m bench.screen_pop_bench [--subscribers 100000] [--seconds 20] [--trace]

Everything runs on this machine and talks only to 127.0.0.1: a redis-server of its own on a free port (the
Socket.IO message queue, as in production), a fresh SQLite file (``--postgres``: a throwaway PostgreSQL
cluster, the production database) migrated with ``flask db upgrade`` and
loaded with the subscribers, one agent made with ``flask user create``, and the application under gunicorn
as production runs it (``gthread``, one worker, 50 threads). A python-socketio client logs in as the
agent (websocket transport), which makes the agent available; then, at each rate (10 and 50 calls/s),
signed incoming-call webhooks for callers in the book are posted on a fixed schedule (open loop) while
the client times, for each call, the moment its ``call_waiting`` card arrives. Beside the calls, the same
client times ``ping_server`` round trips (a bare Socket.IO emit answered by an ack) on the same server:
the baseline. **Target: pop p99 within 2x the ping p99 measured during the same rate.**

``--trace`` serves the same application through :func:`traced_app`, which stamps each step of the
webhook (signature check, caller lookup, commit, card, emit, Redis publish) with ``time.perf_counter``
(CLOCK_MONOTONIC, shared by every process of the machine): the table then says where the time goes.

The run is bounded (``--time-limit``) and stops every process it started, whatever happens.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import itertools
import json
import os
import platform
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from bench.processes import (
    BenchTimeout,
    arm_time_limit,
    code_version,
    gunicorn,
    log,
    redis_server,
    summary,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "/console"
ACCOUNT_SID = "AC" + "5c" * 16
AUTH_TOKEN = "screen-pop-bench-auth-token"  # noqa: S105 (signs loopback webhooks only)
DESK_NUMBER = "+982188888888"
AGENT, PASSWORD = "bench", "screen pop bench passphrase"
TARGET_RATIO = 2.0  # pop p99 / ping p99
GUNICORN_THREADS = 50
BATCH = 20_000  # subscribers per executemany
TRACE_ENV = "SCREEN_POP_TRACE"


# -- the data set ---------------------------------------------------------------------------------


def mobile_number(index: int) -> str:
    """The mobile of subscriber ``index``, unique: a bijection of the index onto each prefix's 10**7 numbers."""
    from demo.people import MOBILE_PREFIXES

    prefix = MOBILE_PREFIXES[index % len(MOBILE_PREFIXES)]
    serial = (index // len(MOBILE_PREFIXES) * 7_654_321 + 1_234_567) % 10**7  # 7,654,321 is prime to 10**7
    return f"+98{prefix}{serial:07d}"


def load_subscribers(database_url: str, count: int, seed: int) -> float:
    """``count`` subscribers (id = index + 1), one mobile each, one or two addresses; seconds taken.

    SQLAlchemy Core executemany in batches, one transaction, fsync off during the load only. ``search_key``
    holds what ``crm.services.refresh_search_key`` writes (name, both spellings of the number, addresses).
    """
    from sqlalchemy import create_engine, insert
    from sqlalchemy import text as sql

    import geo.models  # noqa: F401  (the zones table that addresses refer to)
    from bench.common import subscriber_row
    from crm.models import Address, Subscriber, SubscriberPhone
    from crm.services import search_key_of
    from demo.people import (
        ADDRESS_LABELS,
        DRIVER_NOTES,
        FEMALE_NAMES,
        LANDMARKS,
        MALE_NAMES,
        SURNAMES,
        address_text,
        unit_text,
    )

    rng = random.Random(seed)
    first_names = [fa for fa, _ in MALE_NAMES + FEMALE_NAMES]
    surnames = [fa for fa, _ in SURNAMES]
    now = datetime.now(UTC)
    started = time.perf_counter()
    engine = create_engine(database_url)
    on_sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        if on_sqlite:
            raw.execute("PRAGMA synchronous=OFF")  # outside any transaction: SQLAlchemy has not begun one yet
            raw.execute("PRAGMA cache_size=-200000")
        for start in range(0, count, BATCH):
            subscribers, phones, addresses = [], [], []
            for index in range(start, min(start + BATCH, count)):
                surname = rng.choice(surnames)
                name = f"{rng.choice(first_names)} {surname}"
                e164 = mobile_number(index)
                places = [("خانه", address_text(rng), rng.choice(LANDMARKS))]
                if rng.random() < 0.5:
                    places.append((rng.choice(ADDRESS_LABELS), address_text(rng), ""))
                # The book's own key: display_phone of a mobile without spaces is 0912…
                key = search_key_of(
                    name,
                    [(e164, "0" + e164[3:])],
                    [SimpleNamespace(label=label, text=text, landmark=landmark) for label, text, landmark in places],
                )
                subscribers.append(subscriber_row(index + 1, name, key, now))
                phones.append({"subscriber_id": index + 1, "e164": e164, "kind": "mobile", "created_at": now})
                for label, text, landmark in places:
                    addresses.append(
                        {
                            "subscriber_id": index + 1,
                            "label": label,
                            "text": text,
                            "unit": unit_text(rng, surname),
                            "landmark": landmark,
                            "lat": round(rng.uniform(35.63, 35.80), 6),  # Tehran
                            "lon": round(rng.uniform(51.25, 51.55), 6),
                            "zone_id": None,
                            "driver_notes": rng.choice(DRIVER_NOTES) if rng.random() < 0.2 else "",
                            "created_at": now,
                        }
                    )
            connection.execute(insert(Subscriber.__table__), subscribers)
            connection.execute(insert(SubscriberPhone.__table__), phones)
            connection.execute(insert(Address.__table__), addresses)
        if not on_sqlite:  # the ids were given: the sequence must go past them, as the application's inserts do
            connection.execute(sql("SELECT setval(pg_get_serial_sequence('subscribers', 'id'), :n)"), {"n": count})
        connection.commit()
        finish_load(raw, on_sqlite)
    engine.dispose()
    return time.perf_counter() - started


def load_bookings(database_url: str, count: int, subscribers: int, seed: int) -> float:
    """``count`` past trips (the last year, completed) of random subscribers, with their number; seconds taken.

    ``agents.screen_pop.recent_booking`` reads this table on every pop; it is empty unless --bookings is given.
    """
    from sqlalchemy import create_engine, insert

    import geo.models  # noqa: F401  (the zones table that bookings refer to)
    from demo.people import address_text
    from dispatch.models import Booking

    rng = random.Random(seed + 1)
    now = datetime.now(UTC)
    started = time.perf_counter()
    engine = create_engine(database_url)
    on_sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        if on_sqlite:
            raw.execute("PRAGMA synchronous=OFF")
        for start in range(0, count, BATCH):
            rows = []
            for _ in range(start, min(start + BATCH, count)):
                index = rng.randrange(subscribers)
                pickup_at = now - timedelta(minutes=rng.randrange(60, 365 * 24 * 60))
                rows.append(
                    {
                        "status": "completed",
                        "subscriber_id": index + 1,
                        "phone": mobile_number(index),
                        "call_id": None,
                        "created_by_id": None,
                        "pickup_text": address_text(rng),
                        "pickup_lat": round(rng.uniform(35.63, 35.80), 6),
                        "pickup_lon": round(rng.uniform(51.25, 51.55), 6),
                        "pickup_address_id": None,
                        "pickup_zone_id": None,
                        "dropoff_text": address_text(rng),
                        "dropoff_lat": None,
                        "dropoff_lon": None,
                        "dropoff_address_id": None,
                        "dropoff_zone_id": None,
                        "pickup_at": pickup_at,
                        "vehicle_class": "sedan",
                        "notes": "",
                        "fare_rule_id": None,
                        "fare": rng.randrange(150, 2500) * 1000,
                        "currency": "IRR",
                        "fare_breakdown": [],
                        "distance_km": None,
                        "duration_min": None,
                        "driver_id": None,
                        "vehicle_id": None,
                        "completed_at": pickup_at + timedelta(minutes=30),
                        "cancel_reason": "",
                        "version": 1,
                        "created_at": pickup_at - timedelta(minutes=rng.randrange(1, 120)),
                    }
                )
            connection.execute(insert(Booking.__table__), rows)
        connection.commit()
        finish_load(raw, on_sqlite)
    engine.dispose()
    return time.perf_counter() - started


def check_numbers(count: int, rng: random.Random, checks: int = 200) -> None:
    """The numbers are what the application itself makes of them (``crm.phones.to_e164``)."""
    from crm.phones import to_e164

    for index in rng.sample(range(count), min(checks, count)):
        e164 = mobile_number(index)
        if to_e164(e164, "IR") != e164 or to_e164("0" + e164[3:], "IR") != e164:
            raise SystemExit(f"{e164} is not what crm.phones.to_e164 makes of it")


def finish_load(raw, on_sqlite: bool) -> None:
    """After a bulk load: SQLite back to its usual durability; PostgreSQL's planner told what the tables hold."""
    if on_sqlite:
        raw.execute("PRAGMA synchronous=NORMAL")
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    else:
        raw.execute("ANALYZE")  # what autovacuum would do a little later in a real office


def waiting_in_database(database_url: str) -> int:
    """Calls still queued, read on a connection of the benchmark's own."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT count(*) FROM calls WHERE status = 'queued'")).scalar_one()
    finally:
        engine.dispose()


# -- the agent's console --------------------------------------------------------------------------

_POP_CALLER = re.compile(r'"caller_e164":\s*"(\+\d+)"')
_PONG = re.compile(r'"pong":\s*(\d+)')


@dataclass
class Pop:
    received: float  # perf_counter when the client's handler ran
    call_id: int
    subscriber_id: int | None


class Console:
    """One python-socketio client logged in as the agent, as the console's page would connect."""

    def __init__(self, url: str):
        import requests
        import socketio

        self.url = url
        self.session = requests.Session()
        page = self.session.get(f"{url}/login", timeout=10)
        token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        if token is None:
            raise RuntimeError("no CSRF token on /login")
        response = self.session.post(
            f"{url}/login", data={"username": AGENT, "password": PASSWORD, "csrf_token": token[1]}, timeout=10
        )
        if response.status_code != 200 or response.url.rstrip("/").endswith("/login"):
            raise RuntimeError(f"logging in as {AGENT} failed: {response.status_code} {response.url}")
        self.lock = threading.Lock()
        self.pops: dict[str, Pop] = {}  # caller_e164 → the first call_waiting card for them
        self.duplicates = 0
        self.pop_frames: dict[str, float] = {}  # caller_e164 → when the websocket frame was read
        self.pong_frames: dict[int, float] = {}  # ping sequence number → when its ack's frame was read
        self.sequence = itertools.count(1)  # every ping of the run has its own number
        self.snapshot = threading.Event()
        self.snapshot_calls = 0
        self.disconnected = threading.Event()
        self.client = socketio.Client(reconnection=False)
        self.client.on("snapshot", self._on_snapshot, namespace=NAMESPACE)
        self.client.on("call_waiting", self._on_pop, namespace=NAMESPACE)
        self.client.on("disconnect", lambda *_: self.disconnected.set(), namespace=NAMESPACE)
        cookie = "; ".join(f"{name}={value}" for name, value in self.session.cookies.items())
        headers = {"Cookie": cookie, "User-Agent": self.session.headers["User-Agent"]}  # Flask-Login's "strong"
        self.client.connect(url, namespaces=[NAMESPACE], transports=["websocket"], headers=headers, wait_timeout=15)
        self._watch_frames()
        if not self.snapshot.wait(15):
            raise RuntimeError("no snapshot from the console's namespace")

    def _on_snapshot(self, data) -> None:
        self.snapshot_calls = len(data.get("calls", []))
        self.snapshot.set()

    def _on_pop(self, card) -> None:
        now = time.perf_counter()
        subscriber = card.get("subscriber") or {}
        with self.lock:
            if card.get("caller_e164") in self.pops:
                self.duplicates += 1
            else:
                self.pops[card.get("caller_e164")] = Pop(now, card.get("id"), subscriber.get("id"))

    def _watch_frames(self) -> None:
        """Stamp each frame as the websocket reader takes it, before python-socketio hands it to a new thread."""
        eio = self.client.eio
        receive = eio._receive_packet

        def stamped(pkt):
            now = time.perf_counter()
            data = pkt.data
            if isinstance(data, str):
                if data.startswith('2/console,["call_waiting"'):
                    found = _POP_CALLER.search(data)
                    if found:
                        self.pop_frames.setdefault(found[1], now)
                elif data.startswith("3/console,"):
                    found = _PONG.search(data)
                    if found:
                        self.pong_frames[int(found[1])] = now
            return receive(pkt)

        eio._receive_packet = stamped

    def ping(self, sequence: int) -> tuple[float, float]:
        """One ``ping_server`` round trip: (seconds, seconds until the ack's frame was read)."""
        started = time.perf_counter()
        answer = self.client.call("ping_server", sequence, namespace=NAMESPACE, timeout=10)
        elapsed = time.perf_counter() - started
        if answer != {"pong": sequence}:
            raise RuntimeError(f"ping {sequence} answered {answer!r}")
        frame = self.pong_frames.pop(sequence, None)
        return elapsed, (frame - started) if frame is not None else elapsed

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.disconnect()
        self.session.close()


class Pinger:
    """``ping_server`` round trips on a fixed schedule in a thread of its own, until stopped."""

    def __init__(self, console: Console, rate: float):
        self.console, self.interval = console, 1.0 / rate
        self.times: list[float] = []
        self.frames: list[float] = []
        self.errors: list[str] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="pinger", daemon=True)

    def __enter__(self) -> Pinger:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stopping.set()
        self.thread.join(15)

    def _run(self) -> None:
        due = time.perf_counter()
        while not self.stopping.is_set():
            try:
                elapsed, frame = self.console.ping(next(self.console.sequence))
                self.times.append(elapsed)
                self.frames.append(frame)
            except Exception as exc:
                self.errors.append(repr(exc))
            due += self.interval
            self.stopping.wait(max(0.0, due - time.perf_counter()))


# -- the calls ------------------------------------------------------------------------------------


@dataclass
class CallRecord:
    sid: str
    e164: str
    subscriber_id: int
    due: float = 0.0
    sent: float | None = None  # perf_counter just before the POST
    answered: float | None = None  # when the whole response had arrived
    status: int | None = None
    enqueued: bool = False
    error: str | None = None


class Twilio:
    """Posts webhooks as Twilio does (form-encoded, signed), from a small pool of threads."""

    def __init__(self, url: str, threads: int):
        import requests

        self.url = url
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="twilio")
        self.local = threading.local()
        self._requests = requests

    def _session(self):
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = self._requests.Session()
        return session

    def post(self, path: str, params: dict[str, str]):
        """POST signed; a new connection each time (Connection: close), as Twilio's webhooks mostly come."""
        from tests.support.twilio_webhooks import signature_for

        url = self.url + path
        headers = {"X-Twilio-Signature": signature_for(url, params, AUTH_TOKEN), "Connection": "close"}
        return self._session().post(url, data=params, headers=headers, timeout=30)

    def incoming(self, call: CallRecord) -> None:
        from tests.support.twilio_webhooks import incoming_call_params, signature_for

        params = incoming_call_params(call_sid=call.sid, from_=call.e164, to=DESK_NUMBER, account_sid=ACCOUNT_SID)
        url = self.url + "/telephony/voice/incoming"
        headers = {"X-Twilio-Signature": signature_for(url, params, AUTH_TOKEN), "Connection": "close"}
        try:
            call.sent = time.perf_counter()
            response = self._session().post(url, data=params, headers=headers, timeout=30)
            call.answered = time.perf_counter()
            call.status = response.status_code
            call.enqueued = "<Enqueue" in response.text
        except Exception as exc:
            call.error = repr(exc)

    def hang_up(self, call: CallRecord) -> bool:
        """The caller gave up: Twilio's status callback, which ends the call (abandoned) and takes it off the queue."""
        from tests.support.twilio_webhooks import call_status_params

        params = call_status_params(call.sid, "completed", from_=call.e164, to=DESK_NUMBER, account_sid=ACCOUNT_SID)
        try:
            return self.post("/telephony/voice/status", params).status_code == 200
        except Exception:
            return False

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def run_rate(
    twilio: Twilio, console: Console, calls: list[CallRecord], rate: float, ping_rate: float, drain: float
) -> dict:
    """Post ``calls`` at ``rate`` per second on a fixed schedule while pinging; wait for the pops; the figures."""
    with Pinger(console, ping_rate) as pinger:
        start = time.perf_counter() + 0.5
        futures = []
        for number, call in enumerate(calls):
            call.due = start + number / rate
            pause = call.due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            futures.append(twilio.pool.submit(twilio.incoming, call))
        wait_futures(futures, timeout=60)
        deadline = time.perf_counter() + drain
        while time.perf_counter() < deadline and not console.disconnected.is_set():
            with console.lock:
                if all(call.e164 in console.pops for call in calls if call.enqueued):
                    break
            time.sleep(0.05)
        time.sleep(0.2)  # a few more pings after the last pop
    return figures(calls, console, pinger, rate)


def figures(calls: list[CallRecord], console: Console, pinger: Pinger, rate: float) -> dict:
    latencies, scheduled, frames, responses, late = [], [], [], [], []
    missing = wrong = errors = pop_before_answer = 0
    for call in calls:
        if call.error is not None or call.status != 200 or not call.enqueued:
            errors += 1
            continue
        responses.append(call.answered - call.sent)
        late.append(call.sent - call.due)
        pop = console.pops.get(call.e164)
        if pop is None:
            missing += 1
            continue
        if pop.subscriber_id != call.subscriber_id:
            wrong += 1
        latencies.append(pop.received - call.sent)
        scheduled.append(pop.received - call.due)
        if call.e164 in console.pop_frames:
            frames.append(console.pop_frames[call.e164] - call.sent)
        pop_before_answer += pop.received < call.answered
    samples = [c.error or f"HTTP {c.status}, enqueued={c.enqueued}" for c in calls if c.error or not c.enqueued][:3]
    return {
        "rate": rate,
        "calls": len(calls),
        "answered_enqueued": len(calls) - errors,
        "errors": errors,
        "error_samples": samples,
        "popped": len(latencies),
        "missing_pops": missing,
        "wrong_record": wrong,
        "pops_before_http_answer": pop_before_answer,
        "pop": summary(latencies),
        "pop_frame": summary(frames),
        "pop_from_schedule": summary(scheduled),
        "webhook": summary(responses),
        "send_lag": summary(late),
        "ping": summary(pinger.times),
        "ping_frame": summary(pinger.frames),
        "ping_errors": len(pinger.errors),
    }


def clear_queue(twilio: Twilio, calls: list[CallRecord], database_url: str) -> dict:
    """Every caller of the phase hangs up, so the next phase starts with an empty queue."""
    futures = [twilio.pool.submit(twilio.hang_up, call) for call in calls if call.enqueued]
    done, _ = wait_futures(futures, timeout=120)
    ok = sum(1 for future in done if future.result())
    time.sleep(1.0)
    return {"status_callbacks": len(futures), "status_ok": ok, "left_waiting": waiting_in_database(database_url)}


# -- --trace: time stamps inside the server --------------------------------------------------------

# (mark, mark, what): what happened between two stamps of one incoming call; "sent", "frame", "handler" and
# "answered" are the client's, the others the server's (see traced_app). First the pop's own path, one
# step after the other (they add up to the total); then what the request does beside it.
STAGES = [
    ("sent", "request_start", "HTTP: connect, gunicorn hands the request to a thread"),
    ("request_start", "view_start", "Flask: request context, routing"),
    ("view_start", "record_start", "form parsing + Twilio signature check"),
    ("record_start", "record_end", "record_inbound_call: to_e164, find_by_phone, agents_ready(), INSERTs"),
    ("record_end", "commit_start", "until COMMIT"),
    ("commit_start", "push_start", "COMMIT"),
    ("push_start", "card_start", "signal → push_call_change, Call get"),
    ("card_start", "card_end", "call_card: recent booking, notes, trips, complaints"),
    ("card_end", "local_emit_start", "→ socketio.emit"),
    ("local_emit_start", "local_emit_end", "emit to this process's clients (encode, queue)"),
    ("local_emit_end", "frame", "websocket writer thread → the client reads the frame"),
    ("frame", "handler", "client: python-socketio's new thread runs the handler"),
    ("sent", "handler", "= pop latency"),
    ("redis_publish_start", "redis_publish_end", "beside it: PUBLISH to Redis (other web processes)"),
    ("redis_publish_end", "request_end", "beside it: rest of the view, TwiML, teardown"),
    ("request_end", "answered", "beside it: HTTP response back to the client"),
    ("sent", "answered", "= webhook response time"),
]


def traced_app():
    """gunicorn's application under ``--trace`` (``bench.screen_pop_bench:traced_app()``): ``wsgi.app`` itself,
    with time stamps around the steps of ``/telephony/voice/incoming`` appended as JSON lines to the file
    named by $SCREEN_POP_TRACE. The application's code is not changed; only wrapped, in this process.
    """
    import flask
    from sqlalchemy import event

    import agents.live as live
    import agents.screen_pop as screen_pop
    import telephony.voice as voice
    from calls.signals import call_changed
    from core.extensions import db, socketio
    from wsgi import app

    out = open(os.environ[TRACE_ENV], "a", buffering=1)  # noqa: SIM115 (lives as long as the server)
    lock = threading.Lock()
    local = threading.local()

    def mark(name: str) -> None:
        marks = getattr(local, "marks", None)
        if marks is not None and name not in marks:
            marks[name] = time.perf_counter()

    def stamped(function: Callable, name: str) -> Callable:
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            mark(f"{name}_start")
            try:
                return function(*args, **kwargs)
            finally:
                mark(f"{name}_end")

        return wrapper

    inner = app.wsgi_app

    def wsgi_app(environ, start_response):
        if environ.get("PATH_INFO") != "/telephony/voice/incoming":
            return inner(environ, start_response)
        local.marks = {"request_start": time.perf_counter()}
        local.sql = [0, 0.0, 0.0]  # statements, seconds in them, the longest write
        cpu = time.thread_time()
        try:
            return inner(environ, start_response)
        finally:
            marks, local.marks = local.marks, None
            marks["request_end"] = time.perf_counter()
            marks["cpu"] = time.thread_time() - cpu
            marks["sql_statements"], marks["sql_seconds"], marks["longest_write"] = local.sql
            with lock:
                out.write(json.dumps(marks) + "\n")

    app.wsgi_app = wsgi_app

    @app.teardown_request
    def _call_sid(_exc=None):
        marks = getattr(local, "marks", None)
        if marks is not None:
            with contextlib.suppress(Exception):
                marks["sid"] = flask.request.form.get("CallSid", "")

    # The application's internals change: a step whose function is gone is left out (the table says which).
    missing = []

    def wrap(owner, name: str, label: str) -> None:
        function = getattr(owner, name, None)
        if callable(function):
            setattr(owner, name, stamped(function, label))
        else:
            missing.append(f"{getattr(owner, '__name__', type(owner).__name__)}.{name}")

    if "telephony.incoming_call" in app.view_functions:
        app.view_functions["telephony.incoming_call"] = stamped(app.view_functions["telephony.incoming_call"], "view")
    else:
        missing.append("view telephony.incoming_call")
    wrap(voice, "record_inbound_call", "record")
    wrap(screen_pop, "call_card", "card")
    push = getattr(live, "push_call_change", None)
    if push is not None and id(push) in call_changed.receivers:
        call_changed.disconnect(push)
        call_changed.connect(stamped(push, "push"), weak=False)
    else:
        missing.append("agents.live.push_call_change")
    manager = socketio.server.manager
    wrap(manager, "_handle_emit", "local_emit")
    wrap(manager, "_publish", "redis_publish")

    def before_statement(*_args):
        local.statement_started = time.perf_counter()

    def after_statement(_connection, _cursor, statement, *_args):
        sql = getattr(local, "sql", None)
        if getattr(local, "marks", None) is not None and sql is not None:
            elapsed = time.perf_counter() - local.statement_started
            sql[0] += 1
            sql[1] += elapsed
            if not statement.lstrip().upper().startswith("SELECT"):
                sql[2] = max(sql[2], elapsed)

    with app.app_context():
        event.listen(db.engine, "commit", lambda _connection: mark("commit_start"))
        event.listen(db.engine, "before_cursor_execute", before_statement)
        event.listen(db.engine, "after_cursor_execute", after_statement)
    Path(os.environ[TRACE_ENV] + ".hooks").write_text(json.dumps(missing))

    collecting = {}

    def garbage_collection(phase: str, info: dict) -> None:
        """Each collection of the older generations stops every thread of the process (it holds the GIL)."""
        if info.get("generation", 0) < 1:
            return
        if phase == "start":
            collecting["started"] = time.perf_counter()
        elif "started" in collecting:
            started = collecting.pop("started")
            with lock:
                out.write(json.dumps({"gc": info["generation"], "start": started, "end": time.perf_counter()}) + "\n")

    gc.callbacks.append(garbage_collection)
    return app


def read_trace(path: Path, calls: list[CallRecord], console: Console) -> dict:
    """Per stage of the pop, p50/p99 over the calls of one rate; the slowest pops step by step; GC pauses."""
    by_sid, collections = {}, []
    with contextlib.suppress(FileNotFoundError), open(path) as lines:
        for line in lines:
            marks = json.loads(line)
            if "gc" in marks:
                collections.append(marks)
            else:
                by_sid[marks.get("sid")] = marks
    hooks = Path(f"{path}.hooks")
    missing = json.loads(hooks.read_text()) if hooks.exists() else ["(the server wrote no trace)"]
    stages = {f"{a}→{b}": [] for a, b, _ in STAGES}
    totals = {"cpu": [], "sql_statements": [], "sql_seconds": [], "longest_write": []}
    per_call = []
    for call in calls:
        marks = dict(by_sid.get(call.sid, {}))
        pop = console.pops.get(call.e164)
        if not marks or pop is None or call.sent is None or call.answered is None:
            continue
        marks.update(sent=call.sent, answered=call.answered, handler=pop.received)
        if call.e164 in console.pop_frames:
            marks["frame"] = console.pop_frames[call.e164]
        steps = {}
        for a, b, _ in STAGES:
            if a in marks and b in marks:
                steps[f"{a}→{b}"] = marks[b] - marks[a]
                stages[f"{a}→{b}"].append(marks[b] - marks[a])
        for key, values in totals.items():
            values.append(marks.get(key, 0))
        paused = sum(
            max(0.0, min(c["end"], pop.received) - max(c["start"], call.sent))
            for c in collections
            if c["end"] > call.sent and c["start"] < pop.received
        )
        per_call.append((pop.received - call.sent, steps, paused, marks.get("longest_write", 0)))
    traced = {key: summary(values) for key, values in stages.items()}
    traced["request_cpu"] = summary(totals["cpu"])
    traced["sql_time"] = summary(totals["sql_seconds"])
    traced["longest_write"] = summary(totals["longest_write"])
    statements = sorted(totals["sql_statements"])
    traced["sql_statements_per_request"] = statements[len(statements) // 2] if statements else None
    traced["gc_pauses"] = {
        "count": len(collections),
        "of_generation_2": sum(1 for c in collections if c["gc"] == 2),
        **summary([c["end"] - c["start"] for c in collections]),
    }
    slowest = []
    labels = {f"{a}→{b}": label for a, b, label in STAGES if not label.startswith(("=", "beside"))}
    for total, steps, paused, longest_write in sorted(per_call, key=lambda item: item[0], reverse=True)[:5]:
        top = sorted(((v, k) for k, v in steps.items() if k in labels), reverse=True)[:3]
        slowest.append(
            {
                "pop_ms": round(total * 1000, 1),
                "gc_pause_ms": round(paused * 1000, 1),
                "longest_write_ms": round(longest_write * 1000, 1),
                "top_steps": [[labels[k].split(":")[0], round(v * 1000, 1)] for v, k in top],
            }
        )
    traced["slowest"] = slowest
    traced["missing_hooks"] = missing
    return traced


# -- the run --------------------------------------------------------------------------------------


def run(args: argparse.Namespace, results: dict) -> None:
    from tests.support.live_server import flask_command, server_environment
    from tests.support.twilio_stub import new_sid

    workdir = Path(tempfile.mkdtemp(prefix="cabdesk-screen-pop-"))
    rng = random.Random(args.seed)
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, True)
        redis_url = stack.enter_context(redis_server(workdir))
        trace_path = workdir / "trace.jsonl"
        extra = {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_NUMBER": DESK_NUMBER,
            "TWILIO_API_URL": "http://127.0.0.1:9",  # nothing is sent to Twilio's REST API; if it were, it stays here
            "OFFICE_HOURS": "00:00-24:00",
            "GEOCODER_URL": "",
            "ROUTING_URL": "",
        }
        if args.trace:
            extra[TRACE_ENV] = str(trace_path)
        if args.postgres:
            from tests.support.servers import postgres_cluster

            log("starting a throwaway PostgreSQL cluster")
            extra["DATABASE_URL"] = stack.enter_context(postgres_cluster()).url
        env = server_environment(workdir, redis_url, extra)
        database = env["DATABASE_URL"]

        log(f"migrating a fresh {'PostgreSQL' if args.postgres else 'SQLite'} database (flask db upgrade)")
        flask_command(["db", "upgrade"], env)
        log(f"loading {args.subscribers:,} subscribers")
        seconds = load_subscribers(env["DATABASE_URL"], args.subscribers, args.seed)
        check_numbers(args.subscribers, rng)
        if args.bookings:
            log(f"loading {args.bookings:,} past bookings")
            seconds += load_bookings(env["DATABASE_URL"], args.bookings, args.subscribers, args.seed)
        results["load_seconds"] = round(seconds, 1)
        log(f"loaded in {seconds:.1f} s; creating the agent")
        flask_command(["user", "create", AGENT, "--role", "agent", "--password-stdin"], env, stdin=PASSWORD + "\n")

        app_spec = "bench.screen_pop_bench:traced_app()" if args.trace else "wsgi:app"
        log(f"starting gunicorn (gthread, 1 worker, {args.threads} threads) with {app_spec}")
        url = stack.enter_context(gunicorn(env, workdir, app_spec, args.threads))
        console = Console(url)
        stack.callback(console.close)
        results["snapshot_calls_on_connect"] = console.snapshot_calls
        twilio = Twilio(url, args.senders)
        stack.callback(twilio.close)

        callers = iter(
            rng.sample(
                range(args.subscribers),
                min(args.subscribers, 50 + sum(int(rate * args.seconds) for rate in args.rates)),
            )
        )

        def new_calls(count: int) -> list[CallRecord]:
            chosen = [next(callers) for _ in range(count)]
            return [CallRecord(new_sid("CA"), mobile_number(i), i + 1) for i in chosen]

        log("warming up: 20 calls at 5/s (not counted), then the callers hang up")
        warmup = new_calls(20)
        run_rate(twilio, console, warmup, 5.0, args.ping_rate, drain=10)
        clear_queue(twilio, warmup, database)

        idle_seconds = max(3.0, min(10.0, args.seconds / 2))
        log(f"baseline at rest: ping_server for {idle_seconds:.0f} s at {args.ping_rate:g}/s, no calls")
        with Pinger(console, args.ping_rate) as idle:
            time.sleep(idle_seconds)
        results["idle"] = {"ping": summary(idle.times), "ping_frame": summary(idle.frames), "errors": len(idle.errors)}

        results["rates"] = []
        for number, rate in enumerate(args.rates):
            if console.disconnected.is_set():
                raise RuntimeError("the console's Socket.IO client was disconnected")
            calls = new_calls(int(rate * args.seconds))
            if args.trace:
                trace_path.write_text("")
            log(f"{rate:g} calls/s for {args.seconds:g} s ({len(calls)} calls), pinging at {args.ping_rate:g}/s")
            phase = run_rate(twilio, console, calls, rate, args.ping_rate, drain=args.drain)
            if args.trace:
                phase["stages"] = read_trace(trace_path, calls, console)
            phase["ratio_p99"] = _ratio(phase["pop"]["p99_ms"], phase["ping"]["p99_ms"])
            phase["ratio_p50"] = _ratio(phase["pop"]["p50_ms"], phase["ping"]["p50_ms"])
            phase["ratio_p99_to_idle_ping"] = _ratio(phase["pop"]["p99_ms"], results["idle"]["ping"]["p99_ms"])
            phase["target_met"] = phase["ratio_p99"] is not None and phase["ratio_p99"] <= TARGET_RATIO
            results["rates"].append(phase)
            log(
                f"  pop p50 {phase['pop']['p50_ms']} ms, p99 {phase['pop']['p99_ms']} ms; "
                f"ping p99 {phase['ping']['p99_ms']} ms; "
                f"{phase['popped']}/{len(calls)} popped, {phase['errors']} errors"
            )
            if number < len(args.rates) - 1:
                log("  the callers hang up (status callbacks): the next rate starts with an empty queue")
                phase["queue_cleared"] = clear_queue(twilio, calls, database)
        results["duplicate_pops"] = console.duplicates
        results["disconnected"] = console.disconnected.is_set()


def _ratio(value: float | None, base: float | None) -> float | None:
    return round(value / base, 2) if value and base else None


def _ms(value) -> str:
    return "–" if value is None else f"{value:.1f}"


def table(results: dict) -> str:
    rows = [("", "n", "p50 ms", "p99 ms", "max ms")]

    def row(label: str, figures: dict) -> None:
        rows.append((label, str(figures["n"]), _ms(figures["p50_ms"]), _ms(figures["p99_ms"]), _ms(figures["max_ms"])))

    if "idle" in results:
        row("ping round trip, no calls", results["idle"]["ping"])
    for phase in results.get("rates", []):
        rate = f"{phase['rate']:g}/s"
        row(f"ping round trip (baseline), during {rate}", phase["ping"])
        row(f"screen pop, {rate}", phase["pop"])
        row(f"  of which until the frame was read, {rate}", phase["pop_frame"])
        row(f"webhook HTTP response, {rate}", phase["webhook"])
        row(f"send lag behind schedule, {rate}", phase["send_lag"])
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [
        "  ".join(r[0].ljust(widths[0]) if i == 0 else r[i].rjust(widths[i]) for i in range(5)).rstrip() for r in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    lines.append("")
    for phase in results.get("rates", []):
        verdict = "met" if phase["target_met"] else "MISSED"
        lines.append(
            f"{phase['rate']:g}/s: pop p99 / ping p99 (same rate) = {phase['ratio_p99']}x, target ≤ {TARGET_RATIO:g}x: "
            f"{verdict}; p50 ratio {phase['ratio_p50']}x; "
            f"pop p99 / ping p99 with no calls {phase['ratio_p99_to_idle_ping']}x"
        )
        lines.append(
            f"      {phase['calls']} calls: {phase['answered_enqueued']} answered 200 with <Enqueue>, "
            f"{phase['errors']} errors; {phase['popped']} popped ({phase['pops_before_http_answer']} before their "
            f"HTTP answer), {phase['missing_pops']} missing, {phase['wrong_record']} with a wrong record; "
            f"{phase['ping_errors']} ping errors"
        )
        cleared = phase.get("queue_cleared")
        if cleared:
            lines.append(
                f"      then every caller hung up: {cleared['status_ok']}/{cleared['status_callbacks']} status "
                f"callbacks answered 200, {cleared['left_waiting']} calls left waiting"
            )
        if (phase["send_lag"]["p99_ms"] or 0) > 10:
            lines.append(
                f"      the senders fell behind the schedule (the server was saturated): from each call's scheduled "
                f"time, the pop took p50 {_ms(phase['pop_from_schedule']['p50_ms'])} / "
                f"p99 {_ms(phase['pop_from_schedule']['p99_ms'])} ms"
            )
        for sample in phase["error_samples"]:
            lines.append(f"      error: {sample}")
        if "stages" in phase:
            lines.append(f"      where the time goes at {phase['rate']:g}/s (--trace; p50 / p99 ms):")
            for a, b, label in STAGES:
                figures = phase["stages"][f"{a}→{b}"]
                lines.append(f"        {_ms(figures['p50_ms']):>6} / {_ms(figures['p99_ms']):>6}  {label}")
            stages = phase["stages"]
            if stages["missing_hooks"]:
                lines.append(f"        (not stamped, gone from the code: {', '.join(stages['missing_hooks'])})")
            for key, label in (
                ("request_cpu", "CPU time of the webhook's thread (thread_time)"),
                ("sql_time", f"in SQL statements ({stages['sql_statements_per_request']} a request)"),
                ("longest_write", "the longest non-SELECT statement: waits for the SQLite write lock show here"),
            ):
                figures = stages[key]
                lines.append(f"        {_ms(figures['p50_ms']):>6} / {_ms(figures['p99_ms']):>6}  {label}")
            pauses = stages["gc_pauses"]
            lines.append(
                f"        garbage collections of generations 1-2 in the server: {pauses['count']} "
                f"({pauses['of_generation_2']} of generation 2), p50 {_ms(pauses['p50_ms'])} / "
                f"max {_ms(pauses['max_ms'])} ms"
            )
            lines.append("        the slowest pops:")
            for slow in stages["slowest"]:
                steps = ", ".join(f"{name} {ms:.1f}" for name, ms in slow["top_steps"])
                lines.append(
                    f"          {slow['pop_ms']:.1f} ms: {steps}; GC pause {slow['gc_pause_ms']:.1f}, "
                    f"longest write {slow['longest_write_ms']:.1f}"
                )
    lines.append(
        f"data set: {results['subscribers']:,} subscribers, {results['bookings']:,} bookings "
        f"(loaded in {results.get('load_seconds', '–')} s); code {results['code']}; "
        f"duplicate pops: {results.get('duplicate_pops', '–')}; whole run {results.get('run_seconds', '–')} s"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000, help="subscribers in the book (default 100,000)")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of calls at each rate (default 20)")
    parser.add_argument("--rates", default="10,50", help="calls per second, comma-separated (default 10,50)")
    parser.add_argument("--ping-rate", type=float, default=20.0, help="baseline pings per second (default 20)")
    parser.add_argument("--senders", type=int, default=32, help="threads posting webhooks (default 32)")
    parser.add_argument("--threads", type=int, default=GUNICORN_THREADS, help="gunicorn threads (default 50)")
    parser.add_argument("--drain", type=float, default=15.0, help="seconds to wait for the last pops (default 15)")
    parser.add_argument("--bookings", type=int, default=0, help="past bookings in the book (default 0)")
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL instead of a SQLite file")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--trace", action="store_true", help="stamp the server's steps: where the time goes")
    parser.add_argument("--time-limit", type=float, default=None, help="stop after this many seconds (default: auto)")
    parser.add_argument("--strict", action="store_true", help="exit status 1 when the target is missed")
    args = parser.parse_args(argv)
    args.rates = [float(rate) for rate in args.rates.split(",") if rate.strip()]
    if args.subscribers < 100 or args.seconds <= 0 or not args.rates or min(args.rates) <= 0:
        parser.error("--subscribers ≥ 100, --seconds > 0 and positive --rates please")
    if sum(int(rate * args.seconds) for rate in args.rates) + 50 > args.subscribers:
        parser.error("more calls than subscribers: every call comes from a different subscriber")
    limit = args.time_limit or 240 + args.subscribers / 1000 + len(args.rates) * (args.seconds * 2 + args.drain + 30)
    results: dict = {
        "benchmark": "screen_pop",
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        "python": platform.python_version(),
        "subscribers": args.subscribers,
        "bookings": args.bookings,
        "seconds_per_rate": args.seconds,
        "gunicorn": f"gthread -w 1 --threads {args.threads}",
        "message_queue": "redis",
        "database": "postgresql" if args.postgres else "sqlite",
        "code": code_version(),
        "trace": args.trace,
        "target_ratio_p99": TARGET_RATIO,
    }
    arm_time_limit(limit)
    started = time.perf_counter()
    status = 0
    try:
        run(args, results)
    except BenchTimeout:
        log(f"--time-limit of {limit:.0f} s reached: stopping with what was measured")
        results["timed_out"] = True
        status = 2
    finally:
        signal.alarm(0)
    results["run_seconds"] = round(time.perf_counter() - started, 1)
    results["load_after"] = round(os.getloadavg()[0], 1)
    phases = results.get("rates", [])
    results["target_met"] = bool(phases) and all(phase["target_met"] for phase in phases)
    print(table(results))
    print(json.dumps(results, ensure_ascii=False))
    if status == 0 and args.strict and not results["target_met"]:
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
