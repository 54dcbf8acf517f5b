"""The position-ingest benchmark: drivers' phones posting positions to the running server, against a trivial route.

Run from the project root (see bench/README.md, "Dispatch (issue 5)", for what every figure means)::

    .venv/bin/python -m bench.ingest_bench [--drivers 5000] [--connections 32] [--seconds 15] [--rounds 2]

A redis-server of its own, a fresh SQLite file migrated with the real migrations, ``--drivers`` drivers on duty
with a car, a login and a bearer token (the first ``--created`` made by ``drivers.services.create_driver`` and put
on duty through the engine, the rest inserted with SQLAlchemy Core as create_driver writes them), all of them in
the live index; then the application under gunicorn as production runs it (``gthread``, one worker). A bounded
load generator on loopback (asyncio, ``--connections`` keep-alive HTTP/1.1 connections, each sending its next
request when the last answer is in) first has every driver send one position, as a phone does at the start of a
shift (the route's full path: ``dispatch.duty.position_report``, which leaves the driver's state in the live index),
then alternates phases of ``--seconds``:

- ``POST /api/drivers/<id>/location`` ``{lat, lon}`` with the driver's own bearer token, the drivers taken in
  turn, each a few metres from where they were: the steady stream, which takes the route's fast path
  (``api.fast_auth`` caches the token's identity in Redis for a minute, ``drivers.services.quick_position`` reads
  the driver's state from the live index and writes the database copy once every 30 s a driver);
- ``GET /static/favicon.svg``: the baseline, a trivial route of the same server (Flask's routing, a 339-byte static
  file and the security headers; ``/healthz`` is not trivial: it queries the database, pings Redis and lists the
  RQ workers).

**Target: positions per second ≥ 0.5 × the trivial route's requests per second.** The run is bounded
(``--time-limit``) and stops every process it started, whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from bench.processes import (
    BenchTimeout,
    arm_time_limit,
    code_version,
    gunicorn,
    location_request,
    log,
    read_http_response,
    redis_server,
    summary,
)

TARGET_RATIO = 0.5
TRIVIAL_PATH = "/static/favicon.svg"
FIRST_BULK_ID = 1001  # bulk-inserted drivers (and their users and cars) take ids from here


# -- the data set ------------------------------------------------------------------------------------


def prepare(
    env: dict[str, str], drivers: int, created: int, seed: int
) -> tuple[list[tuple[int, str, float, float]], dict]:
    """Migrate, add the zones, the drivers on duty and their tokens; ``[(driver id, token, lat, lon)]`` and notes."""
    from sqlalchemy import select

    from accounts.models import User
    from accounts.services import issue_token
    from bench.common import add_tehran_zones, index_drivers, insert_drivers, points_in_tehran
    from bench.dispatch_bench import make_app, migrate
    from core.extensions import db
    from core.models import utcnow
    from core.queues import redis_connection
    from core.signals import commit_and_announce
    from drivers.models import Driver
    from tests.support.office import add_driver, on_duty_at

    rng = random.Random(seed)
    points = points_in_tehran(rng, drivers)
    app = make_app(env)
    notes = {}
    with app.app_context():
        migrate()
        add_tehran_zones()
        started = time.perf_counter()
        for number, point in enumerate(points[:created]):
            driver = add_driver(f"C{number:04d}", f"+98936{number:07d}")
            on_duty_at(driver, point)
        commit_and_announce()
        notes["create_driver_s_each"] = round((time.perf_counter() - started) / max(created, 1), 3)
        connection = db.session.connection()
        raw = connection.connection.driver_connection
        raw.execute("PRAGMA synchronous=OFF")
        insert_drivers(connection, FIRST_BULK_ID, points[created:], utcnow())
        db.session.commit()
        raw.execute("PRAGMA synchronous=NORMAL")
        rows = db.session.execute(select(Driver, User).join(User, Driver.user_id == User.id).order_by(Driver.id)).all()
        fleet = []
        for driver, user in rows:
            fleet.append((driver.id, issue_token(user, "ingest bench phone"), driver.last_lat, driver.last_lon))
        db.session.commit()
        index_drivers(redis_connection(), [(i, lat, lon) for i, _, lat, lon in fleet], time.time())
        db.session.remove()
    # Drivers that have sent no position yet (the first `created` went on duty through the engine, with one).
    notes["statements_per_report"] = statements_per_report(app, fleet[created : created + 20])
    with app.app_context():
        db.engine.dispose()
    return fleet, notes


# The kinds of position request, in the order a driver's phone meets them (see statements_per_report).
REQUEST_KINDS = (
    ("first", "first position of a shift (full path, token looked up)"),
    ("fast_write", "fast path, token cached, database copy written (once every 30 s a driver)"),
    ("fast", "fast path, token cached (the steady stream)"),
    ("fast_token_lookup", "fast path, token looked up again (its cache entry expired: once a minute a driver)"),
)


def statements_per_report(app, fleet: list[tuple[int, str, float, float]]) -> dict:
    """SQL statements and in-process time of each kind of position request (``REQUEST_KINDS``).

    Through the Flask test client on the same database and Redis, for drivers that have sent no position yet:
    their first position, a second (the database copy is then written), a third, and a fourth after their
    token's cache entry is dropped. ``{kind: {"p50", "max", "n", "ms_p50"}}``, and ``paths_as_labelled``: whether
    the first request left a state hint and the others found one (the fast path's condition).
    """
    # Called outside any app context: each request gets its own, as under gunicorn (flask.g holds the user).
    from sqlalchemy import event

    from api.fast_auth import _key as token_cache_key
    from core.extensions import db
    from core.queues import redis_connection
    from drivers import positions

    counts: dict[str, list[int]] = {kind: [] for kind, _ in REQUEST_KINDS}
    times: dict[str, list[float]] = {kind: [] for kind, _ in REQUEST_KINDS}
    statements = [0]
    as_labelled = True

    def count(*_args):
        statements[0] += 1

    with app.app_context():
        engine = db.engine
        redis = redis_connection()
    event.listen(engine, "before_cursor_execute", count)
    try:
        client = app.test_client(use_cookies=False)  # a phone with a token, no session cookie
        for driver_id, token, lat, lon in fleet:
            as_labelled &= redis.hget(positions.STATE, driver_id) is None
            for step, (kind, _) in enumerate(REQUEST_KINDS, start=1):
                if kind == "fast_token_lookup":
                    redis.delete(token_cache_key(token))
                statements[0] = 0
                started = time.perf_counter()
                response = client.post(
                    f"/api/drivers/{driver_id}/location",
                    json={"lat": round(lat + 0.0001 * step, 6), "lon": lon},
                    headers={"Authorization": f"Bearer {token}"},
                )
                elapsed = time.perf_counter() - started
                if response.status_code == 200:
                    counts[kind].append(statements[0])
                    times[kind].append(elapsed)
            as_labelled &= redis.hget(positions.STATE, driver_id) is not None
    finally:
        event.remove(engine, "before_cursor_execute", count)
    figures: dict = {}
    for kind, values in counts.items():
        values.sort()
        figures[kind] = {
            "p50": values[len(values) // 2] if values else None,
            "max": max(values, default=None),
            "n": len(values),
            "ms_p50": summary(times[kind])["p50_ms"],
        }
    figures["paths_as_labelled"] = as_labelled
    return figures


# -- the load generator ------------------------------------------------------------------------------


class Phase:
    """What one phase's connections saw: response times by status, and errors."""

    def __init__(self, name: str):
        self.name = name
        self.times: list[float] = []
        self.statuses: Counter = Counter()
        self.errors: Counter = Counter()
        self.samples: list[str] = []
        self.seconds = 0.0

    def figures(self) -> dict:
        """Rates and latencies of the requests answered 200."""
        ok = self.statuses.get(200, 0)
        return {
            "requests": sum(self.statuses.values()),
            "ok": ok,
            "per_second": round(ok / self.seconds, 1) if self.seconds else None,
            "statuses": {str(status): count for status, count in sorted(self.statuses.items())},
            "errors": dict(self.errors),
            "samples": self.samples[:3],
            "latency": summary(self.times),
            "seconds": round(self.seconds, 2),
        }


async def _connection(host: str, port: int, next_request, phase: Phase, until: float, counted_from: float) -> None:
    """One keep-alive connection sending its requests one after the other until ``until`` (perf_counter)."""
    reader = writer = None
    while time.perf_counter() < until:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            request = next_request()
            if request is None:  # a bounded phase: every request sent
                break
            started = time.perf_counter()
            writer.write(request)
            status, body, close = await read_http_response(reader)
            finished = time.perf_counter()
            if started >= counted_from and finished <= until:
                phase.statuses[status] += 1
                if status == 200:
                    phase.times.append(finished - started)
                elif len(phase.samples) < 3:
                    phase.samples.append(f"HTTP {status}: {body[:160].decode(errors='replace')}")
            if close:
                writer.close()
                writer = None
        except (OSError, asyncio.IncompleteReadError, RuntimeError, ValueError) as exc:
            phase.errors[type(exc).__name__] += 1
            if len(phase.samples) < 3:
                phase.samples.append(repr(exc))
            if writer is not None:
                writer.close()
            writer = None
            await asyncio.sleep(0.05)
    if writer is not None:
        writer.close()


def run_phase(url: str, name: str, next_request, connections: int, warmup: float, seconds: float) -> Phase:
    """``connections`` connections for ``warmup + seconds``; only the last ``seconds`` are counted.

    When ``next_request`` returns None (a bounded phase) the connections stop early, and the phase's
    seconds are the time it took.
    """
    host, port = url.removeprefix("http://").split(":")
    phase = Phase(name)

    async def main() -> float:
        start = time.perf_counter()
        counted_from, until = start + warmup, start + warmup + seconds
        await asyncio.gather(
            *(_connection(host, int(port), next_request, phase, until, counted_from) for _ in range(connections))
        )
        return min(time.perf_counter(), until) - counted_from

    phase.seconds = asyncio.run(main())
    return phase


def trivial_requests(host: str):
    """The baseline's request: GET a small static file, keep-alive."""
    request = f"GET {TRIVIAL_PATH} HTTP/1.1\r\nHost: {host}\r\nAccept: */*\r\n\r\n".encode()
    return lambda: request


def position_requests(host: str, fleet: list[tuple[int, str, float, float]], rng: random.Random, once: bool = False):
    """The phones' requests, drivers in turn, each position within about 30 m of the driver's own point.

    ``once``: every driver once, then None (the first positions of a shift).
    """
    state = {"next": 0}

    def next_request() -> bytes | None:
        if once and state["next"] >= len(fleet):
            return None
        driver_id, token, lat, lon = fleet[state["next"] % len(fleet)]
        state["next"] += 1
        return location_request(host, driver_id, token, lat + rng.uniform(-3e-4, 3e-4), lon + rng.uniform(-3e-4, 3e-4))

    return next_request, state


# -- the run ------------------------------------------------------------------------------------------


def _server_counts(redis) -> Counter:
    """What the server has done so far, from Redis' command counts.

    ``token_lookups``: SETs — on this server only ``api.fast_auth`` sets plain keys, once it has looked a token
    up in the database. ``db_copies``: HSETs — only the full path runs them now (its state hint and its own
    copy to the row); the fast path writes no row since ``drivers.tasks.copy_positions`` copies once a minute.
    """
    stats = redis.info("commandstats")
    return Counter(
        token_lookups=int(stats.get("cmdstat_set", {}).get("calls", 0)),
        db_copies=int(stats.get("cmdstat_hset", {}).get("calls", 0)),
    )


def _measured(phase: Phase, redis, before: Counter, sent: int) -> dict:
    """The phase's figures, with what its requests (warm-up included: ``sent``) made the server do."""
    done = _server_counts(redis)
    done.subtract(before)
    return phase.figures() | {"sent": sent, **done}


def run(args, results: dict, workdir: Path) -> None:
    """Data, server, every driver's first position, then the phases: trivial and positions in turn, ``--rounds``×."""
    from redis import Redis

    from tests.support.live_server import server_environment

    with contextlib.ExitStack() as stack:
        redis_url = stack.enter_context(redis_server(workdir))
        env = server_environment(workdir, redis_url, {"GEOCODER_URL": "", "ROUTING_URL": ""})
        log(f"a fresh database: {args.drivers:,} drivers on duty with tokens ({args.created} through create_driver)")
        started = time.perf_counter()
        fleet, notes = prepare(env, args.drivers, args.created, args.seed)
        results["load_seconds"] = round(time.perf_counter() - started, 1)
        results.update(notes)
        log(f"starting gunicorn (gthread, 1 worker, {args.threads} threads)")
        url = stack.enter_context(gunicorn(env, workdir, "wsgi:app", args.threads))
        host = url.removeprefix("http://")
        redis = Redis.from_url(redis_url)
        stack.callback(redis.close)
        rng = random.Random(args.seed + 1)
        first, _ = position_requests(host, fleet, rng, once=True)
        log(
            f"shift start: every driver's first position ({len(fleet):,}, the full path), "
            f"{args.connections} connections"
        )
        before = _server_counts(redis)
        phase = run_phase(url, "first positions", first, args.connections, 0.0, 60 + len(fleet) / 20)
        results["first_positions"] = _measured(phase, redis, before, len(fleet))
        figures = results["first_positions"]
        log(f"  {figures['per_second']}/s, p99 {figures['latency']['p99_ms']} ms, {figures['statuses']}")
        positions, state = position_requests(host, fleet, rng)
        trivial = trivial_requests(host)
        results["rounds"] = []
        for number in range(args.rounds):
            entry = {}
            for name, make in (("trivial", trivial), ("positions", positions)):
                log(f"round {number + 1}: {name}, {args.connections} connections, {args.seconds:g} s")
                before, sent = _server_counts(redis), state["next"]
                phase = run_phase(url, name, make, args.connections, args.warmup, args.seconds)
                entry[name] = _measured(phase, redis, before, state["next"] - sent if name == "positions" else None)
                figures = entry[name]
                log(f"  {figures['per_second']}/s, p99 {figures['latency']['p99_ms']} ms, {figures['statuses']}")
            entry["ratio"] = _ratio(entry["positions"]["per_second"], entry["trivial"]["per_second"])
            results["rounds"].append(entry)
        results["positions_sent"] = state["next"]
        results["reports_per_driver_interval_s"] = _interval(results, args.drivers)


def _ratio(value: float | None, base: float | None) -> float | None:
    return round(value / base, 2) if value and base else None


def _interval(results: dict, drivers: int) -> float | None:
    """At the measured rate, seconds between two reports of one driver (what decides how often the DB is written)."""
    rates = [r["positions"]["per_second"] for r in results.get("rounds", []) if r["positions"]["per_second"]]
    return round(drivers / (sum(rates) / len(rates)), 1) if rates else None


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return round(sum(values) / len(values), 1) if values else None


def table(results: dict) -> str:
    """The figures as text."""
    rows = [("", "req/s", "p50 ms", "p99 ms", "max ms", "answers")]
    if "first_positions" in results:
        f = results["first_positions"]
        answers = ", ".join(f"{k}×{v}" for k, v in f["statuses"].items())
        rows.append(
            (
                "shift start: first positions (full path)",
                f"{f['per_second']}",
                _ms(f["latency"]["p50_ms"]),
                _ms(f["latency"]["p99_ms"]),
                _ms(f["latency"]["max_ms"]),
                answers,
            )
        )
    for number, entry in enumerate(results.get("rounds", []), start=1):
        for name, label in (("trivial", f"GET {TRIVIAL_PATH} (baseline)"), ("positions", "POST …/location")):
            f = entry[name]
            answers = ", ".join(f"{k}×{v}" for k, v in f["statuses"].items())
            if f["errors"]:
                answers += "; errors " + ", ".join(f"{k}×{v}" for k, v in f["errors"].items())
            rows.append(
                (
                    f"round {number}: {label}",
                    f"{f['per_second']}",
                    _ms(f["latency"]["p50_ms"]),
                    _ms(f["latency"]["p99_ms"]),
                    _ms(f["latency"]["max_ms"]),
                    answers,
                )
            )
    lines = []
    if len(rows) > 1:
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        lines = [
            "  ".join(r[i].ljust(widths[i]) if i in (0, 5) else r[i].rjust(widths[i]) for i in range(6)).rstrip()
            for r in rows
        ]
        lines.insert(1, "-" * max(len(line) for line in lines))
        lines.append("")
    if "ratio" in results:
        verdict = "met" if results["target_met"] else "MISSED"
        lines.append(
            f"positions/s ÷ trivial req/s = {results['ratio']} (rounds: {results['ratios']}), target ≥ {TARGET_RATIO}: "
            f"{verdict}; {results['positions_per_second']} positions/s against {results['trivial_per_second']} req/s"
        )
    if "statements_per_report" in results:
        s = results["statements_per_report"]
        lines.append(
            f"{results['drivers']:,} drivers ({results['created']} via create_driver at "
            f"{results.get('create_driver_s_each')} s each); one report every "
            f"{results.get('reports_per_driver_interval_s')} s a driver at that rate"
        )
        for number, entry in enumerate(results.get("rounds", []), start=1):
            f = entry["positions"]
            if f.get("sent"):
                copies, lookups = f.get("db_copies", 0), f.get("token_lookups", 0)
                lines.append(
                    f"  round {number}, of {f['sent']:,} position requests (warm-up included): {copies:,} wrote the "
                    f"database copy ({100 * copies / f['sent']:.0f} %), {lookups:,} looked their token up "
                    f"({100 * lookups / f['sent']:.0f} %)"
                )
        lines.append(
            "SQL statements and in-process time (Flask test client, p50) of one position request"
            + ("" if s.get("paths_as_labelled") else " (PATHS NOT AS LABELLED: no state hint?)")
            + ":"
        )
        for kind, label in REQUEST_KINDS:
            k = s.get(kind) or {}
            lines.append(f"  {label}: {k.get('p50')} statements (max {k.get('max')}), {_ms(k.get('ms_p50'))} ms")
    lines.append(
        f"{results['connections']} keep-alive connections, gunicorn gthread -w 1 --threads {results['threads']}; "
        f"code {results['code']}; data loaded in {results.get('load_seconds', '–')} s; whole run "
        f"{results.get('run_seconds', '–')} s; load average {results['machine'].split('load ')[-1]} at the start, "
        f"{results.get('load_after')} at the end"
    )
    return "\n".join(lines)


def _ms(value) -> str:
    return "–" if value is None else f"{value:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--drivers", type=int, default=5000, help="drivers on duty, each with a token (default 5,000)")
    parser.add_argument("--created", type=int, default=20, help="of them made through create_driver (default 20)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections (default 32)")
    parser.add_argument("--seconds", type=float, default=15.0, help="counted seconds of each phase (default 15)")
    parser.add_argument("--warmup", type=float, default=2.0, help="uncounted seconds before each phase (default 2)")
    parser.add_argument("--rounds", type=int, default=2, help="trivial + positions phases, in turn (default 2)")
    parser.add_argument("--threads", type=int, default=50, help="gunicorn threads (default 50)")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--time-limit", type=float, default=None, help="stop after this many seconds (default: auto)")
    parser.add_argument("--strict", action="store_true", help="exit status 1 when the target is missed")
    args = parser.parse_args(argv)
    if args.drivers < 10 or not 0 <= args.created <= args.drivers or args.rounds < 1 or args.connections < 1:
        parser.error("--drivers ≥ 10, 0 ≤ --created ≤ --drivers, --rounds ≥ 1, --connections ≥ 1 please")
    limit = args.time_limit or 120 + args.drivers / 200 + args.created * 0.5 + args.rounds * 2 * (args.seconds + 10)
    results: dict = {
        "benchmark": "ingest",
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        "python": platform.python_version(),
        "code": code_version(),
        "drivers": args.drivers,
        "created": args.created,
        "connections": args.connections,
        "threads": args.threads,
        "trivial_route": TRIVIAL_PATH,
        "target_ratio": TARGET_RATIO,
    }
    arm_time_limit(limit)
    started = time.perf_counter()
    status = 0
    workdir = Path(tempfile.mkdtemp(prefix="cabdesk-ingest-"))
    try:
        run(args, results, workdir)
    except BenchTimeout:
        log(f"--time-limit of {limit:.0f} s reached: stopping with what was measured")
        results["timed_out"] = True
        status = 2
    finally:
        signal.alarm(0)
        shutil.rmtree(workdir, ignore_errors=True)
    results["run_seconds"] = round(time.perf_counter() - started, 1)
    results["load_after"] = round(os.getloadavg()[0], 1)
    rounds = results.get("rounds", [])
    if rounds:
        results["positions_per_second"] = _mean([r["positions"]["per_second"] for r in rounds])
        results["trivial_per_second"] = _mean([r["trivial"]["per_second"] for r in rounds])
        results["ratios"] = [r["ratio"] for r in rounds]
        results["ratio"] = _ratio(results["positions_per_second"], results["trivial_per_second"])
        results["target_met"] = results["ratio"] is not None and results["ratio"] >= TARGET_RATIO
    print(table(results))
    print(json.dumps(results, ensure_ascii=False))
    if status == 0 and args.strict and not results.get("target_met"):
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
