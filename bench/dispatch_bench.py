"""The dispatch benchmark: the nearest-available query at 10,000 and 100,000 drivers, and sustained dispatch.

Run from the project root (see bench/README.md, "Dispatch (issue 5)", for what every figure means)::

    .venv/bin/python -m bench.dispatch_bench                       # both parts, full scale
    .venv/bin/python -m bench.dispatch_bench --part nearest --sizes 10000 --baseline-queries 3
    .venv/bin/python -m bench.dispatch_bench --part sustained --minutes 0.5 --drivers 1000

Part ``nearest``: drivers spread uniformly over Tehran's 22 districts are put into the Redis live index
(the three keys of ``drivers.positions``, seen now); ``drivers.positions.nearest`` is timed for random
pickups with the dispatch code's arguments (``DISPATCH_RADIUS_KM``, ``NEAREST_CANDIDATES``, the stale
cut-off), against, in the same run, the naive baseline: a linear scan of the same drivers' coordinates
with geopy's ``geodesic``. **Target: p99 under 5 ms at 100,000 drivers.** Then ``dispatch.auto.candidates``
(which adds the database reads of the drivers found) for bookings taken with ``create_booking``, with
10,000 drivers in SQLite.

Part ``sustained``: a fresh SQLite database with the Tehran zones, a sedan tariff and 5,000 drivers on duty
(with logins and bearer tokens); a redis-server, the application under gunicorn, two ``rq worker
--with-scheduler --worker-class core.worker.CabdeskWorker`` processes and ``rq cron cron_jobs`` as ``make demo``
runs them (``--worker-class rq``: rq's own fork-a-job worker, for comparison), and a Twilio stand-in for the
passenger texts. For two minutes bookings are posted to ``POST /api/bookings`` at 1,000 a minute (open loop)
while a mover process sends every driver's position the way ``POST /api/drivers/<id>/location`` handles a
bearer token (``drivers.services.quick_position``, else ``dispatch.duty.position_report``) and the drivers'
simulated phones answer offers through ``/api/offers/<id>/accept|decline`` after a random delay (some decline,
some never answer). The figures: bookings dispatched, offers, declines and expiries,
conflicts (``DispatchConflict`` raised anywhere, and 409s), time from booking to first offer, and a
reconciliation of the database at the end.

The run is bounded (``--time-limit``) and stops every process it started, whatever happens.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from rq.worker import Worker

from bench.processes import (
    BenchTimeout,
    arm_time_limit,
    code_version,
    gunicorn,
    log,
    percentile,
    redis_server,
    spawn,
    stop_process,
    summary,
)
from core.worker import CabdeskWorker

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TARGET_P99_MS = 5.0  # nearest-available p99 at 100,000 drivers
CONFLICTS_KEY = "bench:dispatch:conflicts"  # a Redis hash: DispatchConflict messages (digits folded) → count
ACCOUNT_SID = "AC" + "d1" * 16
AUTH_TOKEN = "dispatch-bench-auth-token"  # noqa: S105 (the Twilio stand-in on loopback only)
OFFICE_NUMBER = "+982188888888"
DISPATCHER_ID = 1  # the dispatcher's user id; drivers' ids start above it
FIRST_DRIVER_ID = 1001


def _ms(value) -> str:
    return "–" if value is None else f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _ratio(value: float | None, base: float | None) -> float | None:
    return round(value / base, 1) if value and base else None


# -- counting DispatchConflict wherever it is raised -----------------------------------------------


def count_conflicts(redis_url: str) -> None:
    """Count in Redis every ``DispatchConflict`` this process raises, caught ones too (wrapped, not changed)."""
    # dispatch_booking catches the conflict of a lost race and tries the next driver, so no answer or row shows
    # it: only the exception's construction does.
    from redis import Redis

    from dispatch.bookings import DispatchConflict

    if getattr(DispatchConflict, "_bench_counted", False):
        return
    client = Redis.from_url(redis_url, socket_timeout=2)
    original = DispatchConflict.__init__

    def counted(self, *args, **kwargs):
        original(self, *args, **kwargs)
        kind = re.sub(r"\d+", "N", str(args[0]) if args else "")[:80]
        with contextlib.suppress(Exception):
            client.hincrby(CONFLICTS_KEY, kind, 1)

    DispatchConflict.__init__ = counted
    DispatchConflict._bench_counted = True


class CountingWorker(Worker):
    """``rq.worker.Worker`` (a fork a job, rq's default: what ``make demo`` ran before ``core.worker``), counting."""

    # The count is set up in the work horse, when the job runs: the worker itself imports no more of the
    # application than `rq worker` does, so each job pays what it pays in production.
    def perform_job(self, job, queue, *args, **kwargs):
        """Run the job as rq does, with DispatchConflict counted."""
        count_conflicts(os.environ["REDIS_URL"])
        return super().perform_job(job, queue, *args, **kwargs)


class PreloadedWorker(CountingWorker):
    """The same worker with the application imported and built once, before it forks (``--worker-class preloaded``)."""

    def work(self, *args, **kwargs):
        """Build the app in the parent, then work as rq does: every work horse inherits it."""
        from core.jobs import worker_app

        worker_app()
        count_conflicts(os.environ["REDIS_URL"])
        return super().work(*args, **kwargs)


class CountingCabdeskWorker(CabdeskWorker):
    """The office's worker, ``core.worker.CabdeskWorker`` (``--worker-class cabdesk``, the default), counting conflicts.

    It builds the app once and runs every job in its own process (an rq ``SimpleWorker``): the count is set up
    once, after the app is built, and changes nothing else.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        count_conflicts(os.environ["REDIS_URL"])


# --worker-class: the class each `rq worker` process is started with.
WORKER_CLASSES = {
    "cabdesk": "bench.dispatch_bench.CountingCabdeskWorker",  # core.worker.CabdeskWorker, as `make demo` runs
    "rq": "bench.dispatch_bench.CountingWorker",  # rq's own Worker: a fork a job, the app built in every fork
    "preloaded": "bench.dispatch_bench.PreloadedWorker",  # rq's Worker with the app built before the forks
}


def counting_app():
    """gunicorn's application in the sustained part (``bench.dispatch_bench:counting_app()``): ``wsgi.app``, counted."""
    from wsgi import app

    count_conflicts(app.config["REDIS_URL"])
    return app


# -- processes --------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and its descendants (live ones, and the children it has reaped), in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(value) for value in fields[11:15]) / tick  # utime stime cutime cstime
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(child) for child in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


@contextlib.contextmanager
def rq_processes(env: dict[str, str], workdir: Path, workers: int, worker_class: str, cron: bool):
    """``workers`` × ``rq worker --with-scheduler`` and ``rq cron cron_jobs``; yields ``{name: Popen}``."""
    rq = str(Path(sys.executable).with_name("rq"))
    processes: dict[str, subprocess.Popen] = {}
    logs = []
    try:
        for number in range(workers):
            args = [rq, "worker", "--with-scheduler", "--url", env["REDIS_URL"], "-w", worker_class, "default"]
            output = open(workdir / f"worker{number}.log", "wb")  # noqa: SIM115 (closed below)
            logs.append(output)
            processes[f"rq worker {number + 1}"] = spawn(
                args, cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
            )
        if cron:
            output = open(workdir / "cron.log", "wb")  # noqa: SIM115 (closed below)
            logs.append(output)
            processes["rq cron"] = spawn(
                [rq, "cron", "--url", env["REDIS_URL"], "cron_jobs"],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        yield processes
    finally:
        for name, process in processes.items():
            stop_process(process, name, 15)
        for output in logs:
            output.close()


# -- the application in this process ----------------------------------------------------------------


def make_app(env: dict[str, str]):
    """The application with exactly the server's settings (``env``), for loading data and reading the results."""
    from config import load_config
    from core.app import create_app

    os.environ.setdefault("SECRET_KEY", "dispatch-bench")  # else load_config() writes instance/secret_key
    os.environ.setdefault("CABDESK_INSTANCE", env["CABDESK_INSTANCE"])
    return create_app(load_config(env))


def migrate() -> None:
    """Bring the app's database to the newest schema with the real migrations."""
    import logging

    from flask_migrate import upgrade

    upgrade()
    logging.getLogger("alembic").setLevel(logging.WARNING)


def load_office(drivers: list[tuple[float, float]], now: datetime) -> list[int]:
    """Zones, the sedan tariff, a dispatcher and ``drivers`` available at those points (ids from FIRST_DRIVER_ID)."""
    from accounts.models import User
    from bench.common import add_tehran_zones, insert_drivers
    from core.extensions import db
    from tests.support.office import sedan_rule

    add_tehran_zones()
    sedan_rule()
    unusable = "!"  # no hash of any password: the dispatcher works with a bearer token only
    dispatcher = User(id=DISPATCHER_ID, username="dispatcher", display_name="Dispatcher", role="dispatcher")
    dispatcher.password_hash = unusable
    db.session.add(dispatcher)
    db.session.commit()
    connection = db.session.connection()
    raw = connection.connection.driver_connection
    raw.execute("PRAGMA synchronous=OFF")
    ids = insert_drivers(connection, FIRST_DRIVER_ID, drivers, now)
    db.session.commit()
    raw.execute("PRAGMA synchronous=NORMAL")
    return ids


# -- part 1: the nearest available driver ----------------------------------------------------------


def naive_nearest(
    drivers: list[tuple[int, float, float]],
    seen: dict[int, float],
    lat: float,
    lon: float,
    radius_km: float,
    count: int,
    seen_since: float,
) -> list[tuple[float, int]]:
    """The baseline: every driver's geodesic distance to the pickup, the ``count`` nearest fresh ones in the radius."""
    from geopy.distance import geodesic

    found = []
    for driver_id, d_lat, d_lon in drivers:
        if seen.get(driver_id, 0) >= seen_since:
            km = geodesic((lat, lon), (d_lat, d_lon)).km
            if km <= radius_km:
                found.append((km, driver_id))
    return heapq.nsmallest(count, found)


def one_search(
    redis, lat: float, lon: float, radius_km: float, count: int, seen_since: float
) -> list[tuple[int, float]]:
    """``positions.nearest`` as it was before the rings: one GEOSEARCH of the whole radius, then the seen times.

    Also what each ring of today's ``nearest`` runs, with the ring's radius. ``[(driver id, km)]``, nearest first.
    """
    from drivers import positions

    found = redis.geosearch(
        positions.AVAILABLE,
        longitude=lon,
        latitude=lat,
        radius=radius_km,
        unit="km",
        sort="ASC",
        count=count * 2,
        withdist=True,
    )
    if not found:
        return []
    seen = redis.zmscore(positions.SEEN, [member for member, _ in found])
    fresh = [(int(member), float(km)) for (member, km), at in zip(found, seen, strict=True) if at and at >= seen_since]
    return fresh[:count]


def rings_searched(redis, lat: float, lon: float, radius_km: float, count: int, seen_since: float) -> int:
    """How many GEOSEARCHes ``positions.nearest`` runs for this pickup (its rings, up to the first that suffices)."""
    from drivers import positions

    rings = [r for r in getattr(positions, "RINGS_KM", ()) if r < radius_km] + [radius_km]
    for number, ring in enumerate(rings, start=1):
        if len(one_search(redis, lat, lon, ring, count, seen_since)) >= count:
            return number
    return len(rings)


def measure_nearest(args, rng: random.Random, redis, size: int) -> dict:
    """The dispatch code's nearest-available query, the naive scan and a plain GEOSEARCH, with ``size`` drivers."""
    from bench.common import index_drivers, points_in_tehran
    from dispatch.auto import NEAREST_CANDIDATES
    from drivers import positions

    radius, stale = args.radius_km, args.stale_seconds
    log(f"{size:,} drivers into the live index")
    redis.flushdb()
    points = points_in_tehran(rng, size)
    drivers = [(FIRST_DRIVER_ID + i, lat, lon) for i, (lat, lon) in enumerate(points)]
    started = time.perf_counter()
    index_drivers(redis, drivers, time.time())
    load_seconds = time.perf_counter() - started
    pickups = points_in_tehran(rng, args.queries)

    def query(lat: float, lon: float, within: float = radius):
        return positions.nearest(redis, lat, lon, within, NEAREST_CANDIDATES, time.time() - stale)

    for lat, lon in pickups[: min(50, len(pickups))]:
        query(lat, lon)  # warm-up: connection, Redis' allocator
    log(f"  timing {args.queries:,} nearest-available queries (radius {radius:g} km, {NEAREST_CANDIDATES} drivers)")
    times, found = [], []
    for lat, lon in pickups:
        started = time.perf_counter()
        result = query(lat, lon)
        times.append(time.perf_counter() - started)
        found.append(len(result))
    small = min(args.small_radius_km, radius)
    small_times, whole_times = [], []
    for lat, lon in pickups[: args.queries // 2]:
        started = time.perf_counter()
        query(lat, lon, small)
        small_times.append(time.perf_counter() - started)
    for lat, lon in pickups[: args.queries // 2]:
        started = time.perf_counter()
        one_search(redis, lat, lon, radius, NEAREST_CANDIDATES, time.time() - stale)
        whole_times.append(time.perf_counter() - started)
    rings = Counter(
        rings_searched(redis, lat, lon, radius, NEAREST_CANDIDATES, time.time() - stale) for lat, lon in pickups
    )
    in_radius = [
        redis.geosearch(positions.AVAILABLE, longitude=lon, latitude=lat, radius=radius, unit="km", count=None)
        for lat, lon in pickups[:5]
    ]

    log(f"  timing {args.baseline_queries} naive scans (geopy geodesic over all {size:,} drivers)")
    seen = {driver_id: time.time() for driver_id, _, _ in drivers}
    baseline, agree = [], 0
    for lat, lon in pickups[: args.baseline_queries]:
        started = time.perf_counter()
        naive = naive_nearest(drivers, seen, lat, lon, radius, NEAREST_CANDIDATES, time.time() - stale)
        baseline.append(time.perf_counter() - started)
        fast = query(lat, lon)
        # Redis measures on a sphere, geopy on the ellipsoid (~0.3 % apart): the same driver, or a near tie.
        if fast and naive and (fast[0].driver_id == naive[0][1] or abs(fast[0].km - naive[0][0]) < 0.01):
            agree += 1
    figures = summary(times)
    base = summary(baseline)
    return {
        "drivers": size,
        "index_load_seconds": round(load_seconds, 1),
        "nearest": figures,
        "found_p50": percentile(found, 0.5),
        "found_min": min(found) if found else None,
        "drivers_in_radius_p50": percentile([len(members) for members in in_radius], 0.5),
        "small_radius_km": small,
        "nearest_small_radius": summary(small_times),
        "one_search_whole_radius": summary(whole_times),
        "rings_searched": {str(k): v for k, v in sorted(rings.items())},
        "baseline": base,
        "baseline_agrees": f"{agree}/{len(baseline)}",
        "ratio_p50": _ratio(base["p50_ms"], figures["p50_ms"]),
        "ratio_p99": _ratio(base["p99_ms"], figures["p99_ms"]),
        "target_met": None if size < 100_000 else (figures["p99_ms"] or math.inf) < TARGET_P99_MS,
    }


def measure_candidates(args, rng: random.Random, app, redis, size: int) -> dict:
    """``dispatch.auto.candidates`` for bookings taken by the engine, ``size`` drivers in SQLite and the index."""
    from sqlalchemy import event, func, select

    from bench.common import index_drivers, points_in_tehran
    from core.extensions import db
    from core.models import utcnow
    from dispatch.auto import NEAREST_CANDIDATES, candidates
    from dispatch.bookings import Stop, create_booking
    from dispatch.models import Booking
    from drivers import positions

    with app.app_context():
        log(f"candidates: {size:,} drivers into SQLite (Core inserts) and the live index")
        points = points_in_tehran(rng, size)
        started = time.perf_counter()
        ids = load_office(points, utcnow())
        redis.flushdb()
        index_drivers(redis, [(i, lat, lon) for i, (lat, lon) in zip(ids, points, strict=True)], time.time())
        load_seconds = time.perf_counter() - started
        log(f"  taking {args.candidate_bookings} bookings with dispatch.bookings.create_booking")
        pickups = points_in_tehran(rng, args.candidate_bookings)
        dropoffs = points_in_tehran(rng, args.candidate_bookings)
        booking_ids = []
        for (p_lat, p_lon), (d_lat, d_lon) in zip(pickups, dropoffs, strict=True):
            booking = create_booking(
                phone="+989121234567",
                subscriber=None,
                pickup=Stop(lat=p_lat, lon=p_lon, text="bench pickup"),
                dropoff=Stop(lat=d_lat, lon=d_lon, text="bench dropoff"),
                pickup_at=None,
                vehicle_class="sedan",
                notes="",
                now=utcnow(),
            )
            booking_ids.append(booking.id)
        db.session.commit()  # not commit_and_announce: no dispatch job is queued, nothing else dispatches them
        db.session.expunge_all()

        statements = [0]

        def count(*_args):
            statements[0] += 1

        event.listen(db.engine, "before_cursor_execute", count)
        times, nearest_times, per_call, found, same_first = [], [], [], [], 0
        try:
            for number, booking_id in enumerate([*booking_ids[:10], *booking_ids]):
                booking = db.session.get(Booking, booking_id)
                now = utcnow()
                statements[0] = 0
                started = time.perf_counter()
                result = candidates(booking, now)
                elapsed = time.perf_counter() - started
                calls = statements[0]
                started = time.perf_counter()
                near = positions.nearest(
                    redis,
                    booking.pickup_lat,
                    booking.pickup_lon,
                    app.config["DISPATCH_RADIUS_KM"],
                    NEAREST_CANDIDATES,
                    now.timestamp() - app.config["DRIVER_STALE_SECONDS"],
                )
                nearest_elapsed = time.perf_counter() - started
                db.session.expunge_all()  # the next booking's drivers come from the database, as in a new job
                if number < 10:
                    continue  # warm-up
                times.append(elapsed)
                nearest_times.append(nearest_elapsed)
                per_call.append(calls)
                found.append(len(result))
                same_first += bool(result and near and result[0].driver.id == near[0].driver_id)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        bookings = db.session.scalar(select(func.count()).select_from(Booking))
        db.session.remove()
    figures = summary(times)
    return {
        "drivers": size,
        "load_seconds": round(load_seconds, 1),
        "bookings": bookings,
        "dispatch_mode": app.config["DISPATCH_MODE"],
        "candidates": figures,
        "nearest_same_bookings": summary(nearest_times),
        "sql_statements_p50": percentile(per_call, 0.5),
        "sql_statements_max": max(per_call) if per_call else None,
        "candidates_found_p50": percentile(found, 0.5),
        "first_is_nearest": f"{same_first}/{len(times)}",
    }


def run_nearest(args, results: dict, workdir: Path) -> None:
    """Part 1: nearest at each size with its baseline, then candidates with drivers in SQLite."""
    from redis import Redis

    from tests.support.live_server import server_environment

    rng = random.Random(args.seed)
    with redis_server(workdir) as redis_url:
        redis = Redis.from_url(redis_url)
        results["nearest"] = []
        for size in args.sizes:
            phase = measure_nearest(args, rng, redis, size)
            results["nearest"].append(phase)
            log(
                f"  nearest p50 {phase['nearest']['p50_ms']} ms, p99 {phase['nearest']['p99_ms']} ms; "
                f"naive scan p50 {phase['baseline']['p50_ms']} ms"
            )
        if args.candidate_bookings:
            env = server_environment(workdir, redis_url, {"GEOCODER_URL": "", "ROUTING_URL": ""})
            app = make_app(env)
            with app.app_context():
                migrate()
            results["candidates"] = measure_candidates(args, rng, app, redis, args.candidate_drivers)
            log(
                f"  candidates p50 {results['candidates']['candidates']['p50_ms']} ms, "
                f"p99 {results['candidates']['candidates']['p99_ms']} ms, "
                f"{results['candidates']['sql_statements_p50']} SQL statements a call"
            )
            with app.app_context():
                from core.extensions import db

                db.engine.dispose()
        redis.close()


# -- part 2: sustained dispatch ----------------------------------------------------------------------


class Scheduler:
    """Calls due at given moments (perf_counter), run by a thread pool: the drivers' phones and the booking desk."""

    def __init__(self, threads: int):
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="phone")
        self.heap: list = []
        self.sequence = 0
        self.condition = threading.Condition()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
        self.thread.start()

    def at(self, due: float, call, *args) -> None:
        """Run ``call(*args)`` at ``due`` (perf_counter)."""
        with self.condition:
            self.sequence += 1
            heapq.heappush(self.heap, (due, self.sequence, call, args))
            self.condition.notify()

    def _run(self) -> None:
        while True:
            with self.condition:
                while not self.stopping and (not self.heap or self.heap[0][0] > time.perf_counter()):
                    timeout = self.heap[0][0] - time.perf_counter() if self.heap else None
                    self.condition.wait(timeout)
                if self.stopping:
                    return
                _, _, call, args = heapq.heappop(self.heap)
            self.pool.submit(call, *args)

    def pending(self) -> int:
        """Calls not yet due."""
        with self.condition:
            return len(self.heap)

    def close(self) -> None:
        """Drop what is not due yet, finish what is running."""
        with self.condition:
            self.stopping = True
            self.condition.notify()
        self.thread.join(5)
        self.pool.shutdown(wait=True, cancel_futures=True)


class Office:
    """The booking desk and the drivers' phones, over HTTP against the running server."""

    def __init__(self, url: str, dispatcher_token: str, tokens: dict[int, str], args, rng: random.Random):
        import requests

        self.url, self.args, self.rng = url, args, rng
        self.dispatcher = {"Authorization": f"Bearer {dispatcher_token}"}
        self.tokens = tokens
        self.local = threading.local()
        self.requests = requests
        self.lock = threading.Lock()
        self.scheduler = Scheduler(args.phone_threads)
        self.bookings: dict[int, dict] = {}  # booking id → what the desk saw
        self.booking_errors: list[str] = []
        self.offers_seen: dict[int, float] = {}  # offer id → wall time the phone saw it
        self.first_seen: dict[int, float] = {}  # booking id → wall time its first offer was seen
        self.answers: Counter = Counter()  # "accept 200", "accept 409", "decline 200", "ignored", …
        self.answer_samples: list[str] = []

    def _session(self):
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = self.requests.Session()
        return session

    def book(self, pickup: tuple[float, float], dropoff: tuple[float, float], phone: str) -> None:
        """The desk takes a booking through the API (the caller is not a subscriber)."""
        body = {
            "phone": phone,
            "pickup": {"lat": pickup[0], "lon": pickup[1], "text": "bench pickup"},
            "dropoff": {"lat": dropoff[0], "lon": dropoff[1], "text": "bench dropoff"},
            "vehicle_class": "sedan",
        }
        sent = time.time()
        try:
            response = self._session().post(f"{self.url}/api/bookings", json=body, headers=self.dispatcher, timeout=30)
        except Exception as exc:
            with self.lock:
                self.booking_errors.append(repr(exc))
            return
        answered = time.time()
        if response.status_code != 201:
            with self.lock:
                self.booking_errors.append(f"HTTP {response.status_code}: {response.text[:200]}")
            return
        with self.lock:
            self.bookings[response.json()["id"]] = {"sent": sent, "answered": answered}

    def saw_offer(self, offer_id: int, booking_id: int, driver_id: int) -> None:
        """A driver's phone hears of an offer: it accepts after a while, declines, or lets it run out."""
        now = time.time()
        with self.lock:
            if offer_id in self.offers_seen:
                return
            self.offers_seen[offer_id] = now
            self.first_seen.setdefault(booking_id, now)
        draw = self.rng.random()
        if draw < self.args.ignore:
            with self.lock:
                self.answers["ignored (left to expire)"] += 1
            return
        action = "decline" if draw < self.args.ignore + self.args.decline else "accept"
        delay = self.rng.uniform(*self.args.answer_delay)
        self.scheduler.at(time.perf_counter() + delay, self.answer, action, offer_id, booking_id, driver_id)

    def answer(self, action: str, offer_id: int, booking_id: int, driver_id: int) -> None:
        """The phone posts its answer with the driver's own token."""
        headers = {"Authorization": f"Bearer {self.tokens[driver_id]}"}
        try:
            response = self._session().post(
                f"{self.url}/api/offers/{offer_id}/{action}", json={}, headers=headers, timeout=30
            )
            outcome = f"{action} {response.status_code}"
            detail = response.text[:160] if response.status_code != 200 else ""
        except Exception as exc:
            outcome, detail = f"{action} error", repr(exc)
        with self.lock:
            self.answers[outcome] += 1
            if detail and len(self.answer_samples) < 6:
                self.answer_samples.append(f"{outcome}: {detail}")
        if outcome == "accept 200" and self.args.trip_seconds:
            self.drive(booking_id, driver_id)

    def drive(self, booking_id: int, driver_id: int) -> None:
        """With --trip-seconds: the driver arrives, starts and completes the trip, and is free again."""
        arrive = time.perf_counter() + self.rng.uniform(3, 10)
        start = arrive + self.rng.uniform(2, 5)
        done = start + self.rng.uniform(*self.args.trip_seconds)
        for due, status in ((arrive, "arrived"), (start, "on_trip"), (done, "completed")):
            self.scheduler.at(due, self.progress, booking_id, driver_id, status)

    def progress(self, booking_id: int, driver_id: int, status: str) -> None:
        """The phone reports the trip's progress."""
        headers = {"Authorization": f"Bearer {self.tokens[driver_id]}"}
        try:
            response = self._session().post(
                f"{self.url}/api/bookings/{booking_id}/progress", json={"status": status}, headers=headers, timeout=30
            )
            outcome = f"{status} {response.status_code}"
        except Exception as exc:
            outcome = f"{status} error {type(exc).__name__}"
        with self.lock:
            self.answers[outcome] += 1


class OfferWatcher:
    """The phones' push channel, simulated: new offers read from the database every 50 ms (read-only)."""

    def __init__(self, database: Path, office: Office):
        self.database, self.office = database, office
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="offers", daemon=True)

    def __enter__(self) -> OfferWatcher:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stopping.set()
        self.thread.join(10)

    def _run(self) -> None:
        last = 0
        with contextlib.closing(sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=15)) as connection:
            while not self.stopping.is_set():
                try:
                    rows = connection.execute(
                        "SELECT id, booking_id, driver_id FROM dispatch_offers WHERE id > ? ORDER BY id", (last,)
                    ).fetchall()
                except sqlite3.OperationalError:
                    rows = []
                for offer_id, booking_id, driver_id in rows:
                    last = offer_id
                    self.office.saw_offer(offer_id, booking_id, driver_id)
                self.stopping.wait(0.05)


class Sampler:
    """Once a second: the RQ queue's length and the jobs scheduled for later."""

    def __init__(self, redis):
        from rq import Queue

        self.queue = Queue("default", connection=redis)
        self.samples: list[tuple[float, int, int]] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stopping.set()
        self.thread.join(5)

    def _run(self) -> None:
        started = time.perf_counter()
        while not self.stopping.is_set():
            with contextlib.suppress(Exception):
                scheduled = self.queue.scheduled_job_registry.count
                self.samples.append((time.perf_counter() - started, self.queue.count, scheduled))
            self.stopping.wait(1.0)


def mover_main(argv: list[str]) -> int:
    """The mover process (``--mover``): every driver's position, round-robin, paced, as the location route does.

    ``POST /api/drivers/<id>/location`` with a bearer token first tries ``quick_position`` (the live index only,
    one UPDATE every 30 s a driver) and takes ``position_report`` (the driver's row, the stale-driver offer) when
    the index cannot vouch for the driver: the first position of a shift, or a driver back from stale. The mover
    does the same, without HTTP and the token check, and counts which way each report went.
    """
    parser = argparse.ArgumentParser()
    parser.add_argument("--first", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--interval", type=float, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    from sqlalchemy import select
    from sqlalchemy.orm import joinedload

    from config import load_config
    from core.app import create_app
    from core.extensions import db
    from core.models import utcnow
    from core.signals import commit_and_announce
    from dispatch.duty import position_report
    from drivers.models import Driver
    from drivers.services import DriverError, quick_position

    app = create_app(load_config())
    count_conflicts(app.config["REDIS_URL"])
    stale = app.config["DRIVER_STALE_SECONDS"]
    rng = random.Random(args.seed)
    rate = args.count / args.interval
    times, outcomes = [], Counter()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())  # the benchmark is done: write the figures out
    with app.app_context():
        where = {
            driver_id: [lat, lon]
            for driver_id, lat, lon in db.session.execute(
                select(Driver.id, Driver.last_lat, Driver.last_lon).where(Driver.id >= args.first)
            )
        }
        ids = sorted(where)[: args.count]
        started = time.perf_counter()
        last_report = dict.fromkeys(ids, started)  # the index saw every driver just before the mover started
        gaps = []
        deadline = started + args.seconds
        number = 0
        while time.perf_counter() < deadline and not stopping.is_set():
            due = started + number / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            driver_id = ids[number % len(ids)]
            number += 1
            gaps.append(time.perf_counter() - last_report[driver_id])
            last_report[driver_id] = time.perf_counter()
            point = where[driver_id]
            # Up to about 10 m/s in a random direction: a car in city traffic between two reports.
            step = 10 * args.interval / 111_000
            point[0] += rng.uniform(-step, step)
            point[1] += rng.uniform(-step, step)
            begun = time.perf_counter()
            lat, lon = round(point[0], 6), round(point[1], 6)
            try:
                if quick_position(driver_id, lat, lon, utcnow()) is not None:
                    db.session.commit()
                    outcomes["ok, fast path"] += 1
                else:
                    driver = db.session.get(Driver, driver_id, options=[joinedload(Driver.vehicles)])
                    position_report(driver, lat, lon, utcnow())
                    commit_and_announce()
                    outcomes["ok, full path"] += 1
            except DriverError as exc:
                db.session.rollback()
                outcomes[f"refused: {re.sub(r'[0-9.]+', 'N', str(exc))[:60]}"] += 1
            except Exception as exc:
                db.session.rollback()
                outcomes[f"error: {type(exc).__name__}"] += 1
            times.append(time.perf_counter() - begun)
        elapsed = time.perf_counter() - started
    behind = max(0.0, time.perf_counter() - (started + number / rate))
    Path(args.out).write_text(
        json.dumps(
            {
                "reports": number,
                "seconds": round(elapsed, 1),
                "per_second": round(number / elapsed, 1) if elapsed else None,
                "target_per_second": round(rate, 1),
                "behind_schedule_s": round(behind, 1),
                "gap_between_a_drivers_reports_max_s": round(max(gaps, default=0), 1),
                "reports_after_a_stale_gap": sum(1 for gap in gaps if gap > stale),
                "report": summary(times),
                "outcomes": dict(outcomes),
            }
        )
    )
    return 0


def prepare_sustained(args, rng: random.Random, env: dict[str, str]) -> tuple[str, dict[int, str]]:
    """The office's database: zones, tariff, the drivers with tokens; (dispatcher's token, {driver id: token})."""
    from sqlalchemy import select

    from accounts.models import User
    from accounts.services import issue_token
    from bench.common import points_in_tehran
    from core.extensions import db
    from core.models import utcnow

    app = make_app(env)
    with app.app_context():
        migrate()
        points = points_in_tehran(rng, args.drivers)
        ids = load_office(points, utcnow())
        users = {user.id: user for user in db.session.scalars(select(User))}
        dispatcher = issue_token(users[DISPATCHER_ID], "dispatch bench")
        tokens = {driver_id: issue_token(users[driver_id], "dispatch bench phone") for driver_id in ids}
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return dispatcher, tokens


def reconcile(env: dict[str, str], office: Office) -> dict:
    """What the database says at the end, checked against itself and against what the desk and phones saw."""
    from sqlalchemy import select

    from core.extensions import db
    from dispatch.models import DRIVER_HELD_STATUSES, Booking, DispatchOffer
    from drivers.models import Driver
    from notifications.models import OutboundMessage

    app = make_app(env)
    with app.app_context():
        bookings = db.session.execute(
            select(Booking.id, Booking.status, Booking.driver_id, Booking.created_at, Booking.assigned_at)
        ).all()
        offers = db.session.execute(
            select(
                DispatchOffer.id,
                DispatchOffer.booking_id,
                DispatchOffer.driver_id,
                DispatchOffer.offered_at,
                DispatchOffer.outcome,
                DispatchOffer.method,
                DispatchOffer.answered_at,
            ).order_by(DispatchOffer.id)
        ).all()
        drivers = dict(db.session.execute(select(Driver.id, Driver.status)).all())
        texts = Counter(
            f"{kind} {status}"
            for kind, status in db.session.execute(select(OutboundMessage.kind, OutboundMessage.status))
        )
        db.session.remove()
        db.engine.dispose()

    by_booking: dict[int, list] = {}
    for offer in offers:
        by_booking.setdefault(offer.booking_id, []).append(offer)
    statuses = Counter(b.status for b in bookings)
    outcomes = Counter(o.outcome for o in offers)
    problems: list[str] = []
    ids_in_db = {b.id for b in bookings}
    if set(office.bookings) - ids_in_db:
        problems.append(f"{len(set(office.bookings) - ids_in_db)} bookings answered 201 are not in the database")
    if ids_in_db - set(office.bookings):
        problems.append(f"{len(ids_in_db - set(office.bookings))} bookings in the database the desk never took")
    held_by: Counter = Counter()
    first_offer, seen_latency = [], []
    for booking in bookings:
        mine = by_booking.get(booking.id, [])
        accepted = [o for o in mine if o.outcome == "accepted"]
        pending = [o for o in mine if o.outcome == "pending"]
        if len(accepted) > 1 or len(pending) > 1:
            problems.append(f"booking {booking.id}: {len(accepted)} accepted and {len(pending)} pending offers")
        assigned = booking.status in ("assigned", "arrived", "on_trip", "completed")
        if assigned and (len(accepted) != 1 or accepted[0].driver_id != booking.driver_id):
            problems.append(f"booking {booking.id} is {booking.status} without its driver's accepted offer")
        if booking.status == "offered" and (len(pending) != 1 or pending[0].driver_id != booking.driver_id):
            problems.append(f"booking {booking.id} is offered without one pending offer to its driver")
        if booking.status in DRIVER_HELD_STATUSES:
            held_by[booking.driver_id] += 1
        first_offer.append((mine[0].offered_at - booking.created_at).total_seconds() if mine else math.inf)
        if mine:
            desk = office.bookings.get(booking.id)
            if desk and booking.id in office.first_seen:
                seen_latency.append(office.first_seen[booking.id] - desk["answered"])
    doubled = [driver_id for driver_id, held in held_by.items() if held > 1]
    if doubled:
        problems.append(f"{len(doubled)} drivers hold two live jobs: {doubled[:5]}")
    # Over the whole run: a driver's accepted jobs must not overlap (the next accepted after the last ended).
    jobs_of: dict[int, list] = {}
    finished = {b.id: b.status in ("completed", "cancelled", "no_show") for b in bookings}
    for offer in offers:
        if offer.outcome == "accepted":
            jobs_of.setdefault(offer.driver_id, []).append(offer)
    overlapping = 0
    for accepted in jobs_of.values():
        accepted.sort(key=lambda o: o.answered_at)
        overlapping += sum(1 for earlier in accepted[:-1] if not finished[earlier.booking_id])
    if overlapping:
        problems.append(f"{overlapping} accepted jobs were taken by a driver still on an unfinished one")
    busy_without_job = sum(
        1 for driver_id, status in drivers.items() if status == "busy" and held_by.get(driver_id, 0) == 0
    )
    working_but_free = sum(
        1
        for b in bookings
        if b.status in ("assigned", "arrived", "on_trip") and drivers.get(b.driver_id) not in ("busy", None)
    )
    if working_but_free:
        problems.append(f"{working_but_free} drivers on a job are not busy")
    first = first_offer
    return {
        "bookings_taken": len(office.bookings),
        "bookings_in_database": len(bookings),
        "booking_statuses": dict(statuses),
        "bookings_offered": len(by_booking),
        "bookings_never_offered": len(bookings) - len(by_booking),
        "bookings_assigned": sum(statuses[s] for s in ("assigned", "arrived", "on_trip", "completed")),
        "offers": len(offers),
        "offer_outcomes": dict(outcomes),
        "offer_methods": dict(Counter(o.method for o in offers)),
        "offers_per_booking_max": max((len(v) for v in by_booking.values()), default=0),
        "first_offer": censored_summary(first),
        "first_offer_seen_by_phone": summary(seen_latency),
        "drivers_busy_without_a_job": busy_without_job,
        "texts": dict(texts),
        "problems": problems,
        "reconciled": not problems,
    }


def run_sustained(args, results: dict, workdir: Path) -> None:
    """Part 2: the office at work for ``--minutes``, then the reconciliation."""
    from redis import Redis

    from bench.common import hint_driver_states, index_drivers, points_in_tehran
    from tests.support.live_server import server_environment
    from tests.support.twilio_stub import TwilioStub

    rng = random.Random(args.seed + 2)
    figures: dict = {
        "drivers": args.drivers,
        "bookings_per_minute": args.bookings_per_minute,
        "minutes": args.minutes,
        "position_interval_s": args.position_interval,
        "workers": f"{args.workers} × rq worker --with-scheduler ({args.worker_class})",
        "answers": {
            "delay_s": list(args.answer_delay),
            "decline": args.decline,
            "ignore": args.ignore,
            "trip_seconds": list(args.trip_seconds) if args.trip_seconds else None,
        },
    }
    results["sustained"] = figures
    twilio = TwilioStub(ACCOUNT_SID, AUTH_TOKEN)
    twilio.start()
    with contextlib.ExitStack() as stack:
        stack.callback(twilio.stop)
        redis_url = stack.enter_context(redis_server(workdir))
        redis = Redis.from_url(redis_url)
        stack.callback(redis.close)
        env = server_environment(
            workdir,
            redis_url,
            {
                "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                "TWILIO_NUMBER": OFFICE_NUMBER,
                "TWILIO_API_URL": twilio.url,
                "OFFICE_HOURS": "00:00-24:00",
                "GEOCODER_URL": "",
                "ROUTING_URL": "",
            },
        )
        database = workdir / "cabdesk.sqlite3"
        log(f"a fresh database: zones, tariff, {args.drivers:,} drivers with logins and tokens")
        started = time.perf_counter()
        dispatcher, tokens = prepare_sustained(args, rng, env)
        figures["load_seconds"] = round(time.perf_counter() - started, 1)
        app_config = make_app(env).config
        figures["dispatch_mode"] = app_config["DISPATCH_MODE"]
        figures["offer_timeout_s"] = app_config["OFFER_TIMEOUT"]

        worker_class = WORKER_CLASSES[args.worker_class]
        log(f"starting {args.workers} rq workers ({args.worker_class}), rq cron and gunicorn")
        processes = stack.enter_context(rq_processes(env, workdir, args.workers, worker_class, cron=True))
        url = stack.enter_context(gunicorn(env, workdir, "bench.dispatch_bench:counting_app()", args.threads))
        watched = {name: process.pid for name, process in processes.items()}
        server_pid = _gunicorn_pid(workdir)
        if server_pid:
            watched["gunicorn"] = server_pid
        redis.delete(CONFLICTS_KEY)

        log("every driver seen now in the live index; the mover starts")
        with make_app(env).app_context():
            from sqlalchemy import select

            from core.extensions import db
            from drivers.models import Driver

            where = db.session.execute(select(Driver.id, Driver.last_lat, Driver.last_lon)).all()
            db.session.remove()
            db.engine.dispose()
        index_drivers(redis, [tuple(row) for row in where], time.time())
        # On duty since before the run: their state hint is there, as change_status left it, so the mover's
        # reports take the location route's fast path from the start (not a whole fleet's first shift position).
        hint_driver_states(redis, [row[0] for row in where])
        seconds = args.minutes * 60
        mover_out = workdir / "mover.json"
        mover = spawn(
            [
                sys.executable,
                "-m",
                "bench.dispatch_bench",
                "--mover",
                "--first",
                str(FIRST_DRIVER_ID),
                "--count",
                str(args.drivers),
                "--interval",
                str(args.position_interval),
                "--seconds",
                str(seconds + args.drain + 5),
                "--out",
                str(mover_out),
            ],
            cwd=PROJECT_ROOT,
            env=env,
        )
        stack.callback(lambda: mover.poll() is None and stop_process(mover, "mover", 10))
        office = Office(url, dispatcher, tokens, args, rng)
        stack.callback(office.scheduler.close)
        time.sleep(2)  # the mover under way
        count = round(args.bookings_per_minute * args.minutes)
        pickups, dropoffs = points_in_tehran(rng, count), points_in_tehran(rng, count)
        watched["mover"] = mover.pid
        cpu_before = {name: cpu_seconds(pid) for name, pid in watched.items()}
        cpu_before["redis-server"] = _redis_cpu(redis)
        cpu_before["this process (desk, phones, Twilio stand-in)"] = time.process_time()
        wall = time.perf_counter()
        log(f"{count:,} bookings over {seconds:.0f} s ({args.bookings_per_minute:g}/min), phones answering")
        with Sampler(redis) as sampler, OfferWatcher(database, office):
            desk = ThreadPoolExecutor(max_workers=args.desk_threads, thread_name_prefix="desk")
            lag = []
            start = time.perf_counter() + 0.2
            for number in range(count):
                due = start + number * 60 / args.bookings_per_minute
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                lag.append(max(0.0, -pause))
                phone = f"+98912{rng.randrange(10**7):07d}"
                desk.submit(office.book, pickups[number], dropoffs[number], phone)
            desk.shutdown(wait=True)
            figures["desk_lag"] = summary(lag)
            booked_wall = time.perf_counter() - wall
            log(f"  bookings posted in {booked_wall:.0f} s; draining (up to {args.drain:.0f} s)")
            deadline = time.perf_counter() + args.drain
            while time.perf_counter() < deadline:
                waiting = _waiting(database)
                if waiting == 0 and office.scheduler.pending() == 0:
                    break
                time.sleep(1)
            figures["waiting_at_end"] = _waiting(database)
            cpu_wall = time.perf_counter() - wall
            cpu_after = {name: cpu_seconds(pid) for name, pid in watched.items()}
            cpu_after["redis-server"] = _redis_cpu(redis)
            cpu_after["this process (desk, phones, Twilio stand-in)"] = time.process_time()
        figures["phase_seconds"] = round(cpu_wall, 1)
        figures["cpu_cores_busy"] = {
            name: round((cpu_after[name] - cpu_before[name]) / cpu_wall, 2) for name in cpu_before
        }
        figures["queue_samples"] = {
            "max_queued": max((s[1] for s in sampler.samples), default=None),
            "queued_at_end": sampler.samples[-1][1] if sampler.samples else None,
            "max_scheduled": max((s[2] for s in sampler.samples), default=None),
            "every_10s": [s[1] for s in sampler.samples[::10]],
        }
        figures["jobs"] = _job_durations(redis)
        finished = sum(job["n"] for job in figures["jobs"].values() if isinstance(job, dict))
        worker_cpu = sum(cpu_after[n] - cpu_before[n] for n in cpu_before if n.startswith("rq worker"))
        figures["worker_cpu_ms_per_job"] = round(1000 * worker_cpu / finished, 1) if finished else None
        office.scheduler.close()
        stop_process(mover, "mover", 30)
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
            figures["mover"] = json.loads(mover_out.read_text())
        figures["conflicts_raised"] = {key.decode(): int(value) for key, value in redis.hgetall(CONFLICTS_KEY).items()}
        figures["conflicts_total"] = sum(figures["conflicts_raised"].values())
        figures["answers"]["counts"] = dict(office.answers)
        figures["answers"]["samples"] = office.answer_samples
        figures["booking_errors"] = len(office.booking_errors)
        figures["booking_error_samples"] = office.booking_errors[:3]
        figures["texts_received_by_twilio"] = len(twilio.requests_to("/Messages.json"))
        for name, process in processes.items():
            if process.poll() is not None:
                figures.setdefault("died", []).append(f"{name} (status {process.returncode})")
        log("reconciling the database")
        figures.update(reconcile(env, office))


def _gunicorn_pid(workdir: Path) -> int | None:
    """gunicorn's master process (its worker is its child, counted with it), found by its log's first lines."""
    found = re.search(r"Listening at: \S+ \((\d+)\)", (workdir / "gunicorn.log").read_text(errors="replace"))
    return int(found[1]) if found else None


def _redis_cpu(redis) -> float:
    info = redis.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def _waiting(database: Path) -> int:
    """Bookings still waiting for a driver (requested or offered), read straight from the SQLite file."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=15)) as connection:
        return connection.execute("SELECT count(*) FROM bookings WHERE status IN ('requested', 'offered')").fetchone()[
            0
        ]


def censored_summary(values: list[float]) -> dict:
    """n, p50, p99 and max in milliseconds, where ``inf`` (never happened by the end) makes a percentile None."""
    figures: dict = {"n": len(values), "never": sum(1 for value in values if math.isinf(value))}
    for key, q in (("p50_ms", 0.50), ("p99_ms", 0.99), ("max_ms", 1.0)):
        value = percentile(values, q)
        figures[key] = None if value is None or math.isinf(value) else round(value * 1000, 2)
    return figures


def _job_durations(redis) -> dict:
    """How long the finished jobs ran in their work horse, by function: p50/p99 ms."""
    from rq import Queue
    from rq.job import Job

    queue = Queue("default", connection=redis)
    registry = queue.finished_job_registry
    durations: dict[str, list[float]] = {}
    failed = queue.failed_job_registry.count
    ids = registry.get_job_ids()
    for start in range(0, len(ids), 500):
        for job in Job.fetch_many(ids[start : start + 500], connection=redis):
            if job is None or job.started_at is None or job.ended_at is None:
                continue
            name = (job.func_name or "?").rsplit(".", 1)[-1]
            durations.setdefault(name, []).append((job.ended_at - job.started_at).total_seconds())
    return {"failed": failed, **{name: summary(values) for name, values in sorted(durations.items())}}


# -- the report ---------------------------------------------------------------------------------------


def table(results: dict) -> str:
    """The figures as text, one block per part."""
    lines = []
    rows = [("", "n", "p50 ms", "p99 ms", "max ms")]

    def row(label: str, figures: dict) -> None:
        rows.append((label, str(figures["n"]), _ms(figures["p50_ms"]), _ms(figures["p99_ms"]), _ms(figures["max_ms"])))

    for phase in results.get("nearest", []):
        size = f"{phase['drivers']:,}"
        row(f"nearest available (positions.nearest), {size} drivers", phase["nearest"])
        row(f"  same, radius {phase['small_radius_km']:g} km instead, {size}", phase["nearest_small_radius"])
        if "one_search_whole_radius" in phase:
            row(f"  one search of the whole radius (before the rings), {size}", phase["one_search_whole_radius"])
        row(f"naive scan (geopy geodesic), {size} drivers", phase["baseline"])
    if "candidates" in results:
        c = results["candidates"]
        row(f"dispatch.auto.candidates, {c['drivers']:,} drivers in SQLite", c["candidates"])
        row("  positions.nearest for the same bookings", c["nearest_same_bookings"])
    if len(rows) > 1:
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        block = [
            "  ".join(r[0].ljust(widths[0]) if i == 0 else r[i].rjust(widths[i]) for i in range(5)).rstrip()
            for r in rows
        ]
        block.insert(1, "-" * len(block[0]))
        lines += block
    for phase in results.get("nearest", []):
        verdict = {None: "", True: f"; p99 < {TARGET_P99_MS:g} ms: met", False: f"; p99 < {TARGET_P99_MS:g} ms: MISSED"}
        lines.append(
            f"{phase['drivers']:,} drivers: naive scan / nearest = {phase['ratio_p50']}x at p50, {phase['ratio_p99']}x "
            f"at p99{verdict[phase['target_met']]}; {phase['drivers_in_radius_p50']:,} drivers within the radius "
            f"(p50), {phase['found_p50']} found a query (min {phase['found_min']}); baseline agrees on the nearest "
            f"in {phase['baseline_agrees']}; rings searched a query: {_counts(phase.get('rings_searched', {}))}; "
            f"index loaded in {phase['index_load_seconds']} s"
        )
    if "candidates" in results:
        c = results["candidates"]
        lines.append(
            f"candidates ({c['dispatch_mode']}): {c['sql_statements_p50']} SQL statements a call (max "
            f"{c['sql_statements_max']}), {c['candidates_found_p50']} candidates (p50), first = nearest in "
            f"{c['first_is_nearest']}; {c['drivers']:,} drivers loaded in {c['load_seconds']} s"
        )
    s = results.get("sustained")
    if s and "reconciled" in s:
        lines.append("")
        lines.append(
            f"sustained dispatch: {s['drivers']:,} drivers moving (one report each per {s['position_interval_s']:g} s "
            f"asked), {s['bookings_per_minute']:g} bookings/min for {s['minutes']:g} min; {s['workers']}; "
            f"{s['dispatch_mode']}, offers time out after {s['offer_timeout_s']} s"
        )
        lines.append(
            f"  bookings: {s['bookings_taken']:,} taken (201), {s['booking_errors']} refused/failed; in the database "
            f"{s['bookings_in_database']:,}: {_counts(s['booking_statuses'])}"
        )
        lines.append(
            f"  dispatched (offered at least once): {s['bookings_offered']:,}; never offered by the end: "
            f"{s['bookings_never_offered']:,}; assigned: {s['bookings_assigned']:,}"
        )
        lines.append(
            f"  offers: {s['offers']:,} ({_counts(s['offer_outcomes'])}; by {_counts(s['offer_methods'])}); "
            f"at most {s['offers_per_booking_max']} for one booking"
        )
        lines.append(f"  phones: {_counts(s['answers']['counts'])}")
        lines.append(
            f"  conflicts: {s['conflicts_total']} DispatchConflict raised"
            + (f" ({_counts(s['conflicts_raised'])})" if s["conflicts_raised"] else "")
            + f"; 409 answers to phones: {sum(v for k, v in s['answers']['counts'].items() if k.endswith('409'))}"
        )
        f, seen = s["first_offer"], s["first_offer_seen_by_phone"]
        lines.append(
            f"  booking → first offer (offered_at − created_at): p50 {_never(f['p50_ms'])}, "
            f"p99 {_never(f['p99_ms'])}, max {_never(f['max_ms'])} over {f['n']:,} bookings "
            f"({f['never']} never offered)"
        )
        lines.append(
            f"  booking's 201 → offer seen by the phone (50 ms polls): p50 {_ms(_s(seen['p50_ms']))} s, "
            f"p99 {_ms(_s(seen['p99_ms']))} s"
        )
        q = s["queue_samples"]
        lines.append(
            f"  RQ queue: at most {q['max_queued']} jobs waiting, {q['queued_at_end']} at the end "
            f"(every 10 s: {q['every_10s']}); {s['jobs'].get('failed', 0)} failed jobs; "
            f"{s['worker_cpu_ms_per_job']} ms of worker CPU a finished job"
        )
        for name, job in s["jobs"].items():
            if isinstance(job, dict):
                lines.append(
                    f"    {name}: {job['n']:,} ran, p50 {_ms(job['p50_ms'])} ms, "
                    f"p99 {_ms(job['p99_ms'])} ms from start to end"
                )
        m = s.get("mover")
        if m:
            lines.append(
                f"  mover: {m['reports']:,} position reports in {m['seconds']} s = {m['per_second']}/s "
                f"(asked {m['target_per_second']}/s), p50 {_ms(m['report']['p50_ms'])} ms, "
                f"p99 {_ms(m['report']['p99_ms'])} ms each; {_counts(m['outcomes'])}; longest gap between a "
                f"driver's reports {m['gap_between_a_drivers_reports_max_s']} s, {m['reports_after_a_stale_gap']:,} "
                f"reports came after a gap past DRIVER_STALE_SECONDS"
            )
        lines.append(f"  CPU (cores busy over {s['phase_seconds']} s): {_counts(s['cpu_cores_busy'])}")
        lines.append(f"  texts: {_counts(s['texts'])}; {s['texts_received_by_twilio']} reached the Twilio stand-in")
        verdict = "every booking once, no driver on two jobs" if s["reconciled"] else "PROBLEMS: "
        lines.append(f"  reconciliation: {verdict}{'; '.join(s['problems'][:8])}")
        if s.get("died"):
            lines.append(f"  processes that died: {', '.join(s['died'])}")
        for sample in s["booking_error_samples"] + s["answers"]["samples"]:
            lines.append(f"    e.g. {sample}")
    lines.append(f"code {results['code']}; whole run {results.get('run_seconds', '–')} s")
    return "\n".join(lines)


def _s(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000


def _never(ms: float | None) -> str:
    return "not offered by the end" if ms is None else f"{ms / 1000:.2f} s"


def _counts(counts: dict) -> str:
    return ", ".join(f"{key} {value}" for key, value in counts.items()) or "none"


def _pair(text: str) -> tuple[float, float]:
    low, _, high = text.partition(",")
    return float(low), float(high or low)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--mover"]:
        return mover_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m bench.dispatch_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=("all", "nearest", "sustained"), default="all")
    group = parser.add_argument_group("nearest")
    group.add_argument("--sizes", default="10000,100000", help="available drivers, comma-separated")
    group.add_argument("--queries", type=int, default=1000, help="timed nearest queries a size (default 1000)")
    group.add_argument("--baseline-queries", type=int, default=5, help="timed naive scans a size (default 5)")
    group.add_argument("--radius-km", type=float, default=15.0, help="as DISPATCH_RADIUS_KM (default 15)")
    group.add_argument("--small-radius-km", type=float, default=1.0, help="the comparison radius (default 1)")
    group.add_argument("--stale-seconds", type=float, default=120.0, help="as DRIVER_STALE_SECONDS")
    group.add_argument("--candidate-drivers", type=int, default=10_000, help="drivers in SQLite (default 10,000)")
    group.add_argument("--candidate-bookings", type=int, default=300, help="timed candidates calls (0: none)")
    group = parser.add_argument_group("sustained")
    group.add_argument("--drivers", type=int, default=5000, help="drivers on duty, moving (default 5,000)")
    group.add_argument("--bookings-per-minute", type=float, default=1000.0)
    group.add_argument("--minutes", type=float, default=2.0, help="how long bookings come in (default 2)")
    group.add_argument("--position-interval", type=float, default=10.0, help="seconds between a driver's reports")
    group.add_argument("--answer-delay", type=_pair, default=(1.0, 5.0), help="seconds before a phone answers")
    group.add_argument("--decline", type=float, default=0.10, help="share of offers declined (default 0.10)")
    group.add_argument("--ignore", type=float, default=0.05, help="share of offers never answered (default 0.05)")
    group.add_argument("--trip-seconds", type=_pair, default=None, help="e.g. 30,90: drivers finish their trips")
    group.add_argument("--workers", type=int, default=2, help="rq worker processes (default 2)")
    group.add_argument(
        "--worker-class",
        choices=tuple(WORKER_CLASSES),
        default="cabdesk",
        help="cabdesk: core.worker.CabdeskWorker, as `make demo` runs (default); rq: rq's fork-a-job Worker; "
        "preloaded: rq's Worker with the app built before the forks",
    )
    group.add_argument("--threads", type=int, default=50, help="gunicorn threads (default 50)")
    group.add_argument("--desk-threads", type=int, default=8, help="threads posting bookings (default 8)")
    group.add_argument("--phone-threads", type=int, default=16, help="threads answering for phones (default 16)")
    group.add_argument("--drain", type=float, default=60.0, help="seconds to wait for the last offers (default 60)")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--time-limit", type=float, default=None, help="stop after this many seconds (default: auto)")
    parser.add_argument("--strict", action="store_true", help="exit status 1 when a target is missed")
    args = parser.parse_args(argv)
    args.sizes = [int(size) for size in args.sizes.split(",") if size.strip()] if args.part != "sustained" else []
    if args.part != "sustained" and (not args.sizes or min(args.sizes) < 100 or args.queries < 10):
        parser.error("--sizes of at least 100 drivers and --queries ≥ 10 please")
    limit = args.time_limit or (
        120
        + sum(size / 1000 + size * 1.2e-4 * args.baseline_queries for size in args.sizes)
        + (args.candidate_drivers / 500 if args.candidate_bookings and args.sizes else 0)
        + (0 if args.part == "nearest" else 120 + args.drivers / 100 + args.minutes * 60 + args.drain + 60)
    )
    results: dict = {
        "benchmark": "dispatch",
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        "python": platform.python_version(),
        "code": code_version(),
        "target_nearest_p99_ms_at_100000": TARGET_P99_MS,
    }
    arm_time_limit(limit)
    started = time.perf_counter()
    status = 0
    workdir = Path(tempfile.mkdtemp(prefix="cabdesk-dispatch-"))
    try:
        for part, run in (("nearest", run_nearest), ("sustained", run_sustained)):
            if args.part in ("all", part):
                (workdir / part).mkdir()
                run(args, results, workdir / part)
    except BenchTimeout:
        log(f"--time-limit of {limit:.0f} s reached: stopping with what was measured")
        results["timed_out"] = True
        status = 2
    finally:
        signal.alarm(0)
        shutil.rmtree(workdir, ignore_errors=True)
    results["run_seconds"] = round(time.perf_counter() - started, 1)
    results["load_after"] = round(os.getloadavg()[0], 1)
    verdicts = [phase["target_met"] for phase in results.get("nearest", []) if phase["target_met"] is not None]
    results["target_met"] = all(verdicts) if verdicts else None
    print(table(results))
    print(json.dumps(results, ensure_ascii=False, default=str))
    missed = results["target_met"] is False or not results.get("sustained", {}).get("reconciled", True)
    if status == 0 and args.strict and missed:
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
