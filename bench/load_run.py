"""The load run (issue 9): the whole office in production shape on this machine, under a shift's load, measured.

Run from the project root (bench/README.md, "Load run and soak (issue 9)", says what every figure means)::

    .venv/bin/python -m bench.load_run                   # 3 minutes after a 20 s warm-up: about 6 minutes in all
    .venv/bin/python -m bench.load_run --soak            # 30 minutes, the memory slope as the headline
    .venv/bin/python -m bench.load_run --minutes 0.5 --drivers 500 --agents 10 --calls-per-minute 30   # a look

The topology is docs/DEPLOYMENT.md's, as ``tests/test_topology.py`` starts it: a throwaway PostgreSQL
(``tests.support.servers.PostgresCluster``), a redis-server, the Twilio stand-in (``tests.support.twilio_stub``),
**two** gunicorn web processes (gthread, one worker, 100 threads each: production's ``CABDESK_WEB_THREADS``), **two**
``rq worker --worker-class core.worker.CabdeskWorker`` (one ``--with-scheduler``) and ``rq cron cron_jobs``. Settings:
``DISPATCH_MODE=nearest`` (as the topology test: every booking goes to the nearest driver by arrival; the default
``queue_first`` would do the same here, with nobody in the stand queues), ``FEEDBACK_DELAY=0``,
``FEEDBACK_QUIET_HOURS=""``, ``HEALTH_WATCH_SECONDS`` at its default. The office: the Tehran zones, the sedan tariff,
``--agents`` agents and a dispatcher, ``--drivers`` drivers on duty with logins and bearer tokens and
``--subscribers`` subscribers, bulk-loaded (``bench/load_office.py``). The webhooks are signed as Twilio signs them
(``tests.support.twilio_webhooks``).

Then, open loop, for ``--warmup-seconds`` and ``--minutes`` more (``bench/load_people.py``): every agent at a
``/console`` Socket.IO client (half on each web process); ``--calls-per-minute`` incoming calls, alternating web
processes, each answered by a free agent after 2–5 s, booked for 60 % of them, ended by Twilio's status callback and
wrapped up; the drivers' positions every ``--position-seconds`` (``bench/load_positions.py``, a process of its own);
the drivers' phones answering the offers a ``/dispatch`` board (one per web process) shows them, and driving the
trips; passengers answering their feedback texts. Resident memory of every process is sampled once a second
(``bench/load_memory.py``). At the end the queues drain (bounded), the database is reconciled against what was
sent, every process is stopped, and a table and one JSON line (the last line of stdout) give the figures.

The run is bounded (``--time-limit``) and stops every process it started, whatever happens.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes.util
import json
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from bench.load_faults import VICTIM, Interventions
from bench.load_memory import SLOPE_TARGET_MB_PER_10_MIN, TARGETS_MB, MemorySampler, children
from bench.memory_trace import TRACE_DIR
from bench.processes import (
    BenchTimeout,
    arm_time_limit,
    code_version,
    gunicorn,
    log,
    redis_server,
    spawn,
    stop_process,
    summary,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
AUTH_TOKEN = "load-run-twilio-token"  # noqa: S105 (the Twilio stand-in on loopback only)
WEB_THREADS = 100  # CABDESK_WEB_THREADS' default: each open console holds one
JEMALLOC = "libjemalloc.so.2"  # the soname: the dynamic linker finds it where the system keeps it
NO_TCACHE = "glibc.malloc.tcache_count=0"  # glibc's tunable: no per-thread cache of freed blocks
ALLOCATORS = ("glibc", "glibc-no-tcache", "jemalloc")
STATEMENT_CHARS = 300  # of a new compiled statement, in the table: the whole one is in the run's JSON
WEB_UNIT = PROJECT_ROOT / "deploy" / "systemd" / "cabdesk-web@.service"


# -- the topology ---------------------------------------------------------------------------------


def settings(database_url: str, stub_url: str, dispatch_mode: str) -> dict[str, str]:
    """The office's environment beyond ``server_environment``'s."""
    from tests.support.twilio_webhooks import DESK_NUMBER, TEST_ACCOUNT_SID

    return {
        "DATABASE_URL": database_url,
        "TWILIO_ACCOUNT_SID": TEST_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_NUMBER": DESK_NUMBER,
        "TWILIO_API_URL": stub_url,
        "DISPATCH_MODE": dispatch_mode,
        "FEEDBACK_DELAY": "0",
        "FEEDBACK_QUIET_HOURS": "",
        "OFFICE_HOURS": "00:00-24:00",
        "GEOCODER_URL": "",
        "ROUTING_URL": "",
    }


def rq_process(stack: contextlib.ExitStack, env: dict[str, str], log_path: Path, args: list[str]):
    """An ``rq`` process (worker or cron), stopped with SIGTERM (a warm shutdown) when the run ends."""
    output = open(log_path, "wb")  # noqa: SIM115 (closed by the stack)
    stack.callback(output.close)
    process = spawn(
        [str(Path(sys.executable).with_name("rq")), *args],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    stack.callback(stop_process, process, f"rq {args[0]} ({log_path.name})", 30)
    return process


def gunicorn_pids(log_path: Path) -> tuple[int | None, int | None]:
    """gunicorn's master and worker pids, from the first lines of its log."""
    text = log_path.read_text(errors="replace")
    master = re.search(r"Listening at: \S+ \((\d+)\)", text)
    worker = re.findall(r"Booting worker with pid: (\d+)", text)
    return (int(master[1]) if master else None, int(worker[-1]) if worker else None)


def start_office(stack: contextlib.ExitStack, args, workdir: Path, results: dict) -> dict:
    """PostgreSQL, Redis, the Twilio stand-in, the data, two web processes, two workers and rq cron."""
    from redis import Redis

    from bench.common import hint_driver_states, index_drivers
    from bench.load_office import bench_postgres, load_office, make_app
    from bench.load_people import WatchedStub
    from tests.support.live_server import server_environment
    from tests.support.twilio_webhooks import TEST_ACCOUNT_SID

    started = time.perf_counter()
    log("PostgreSQL, redis-server and the Twilio stand-in")
    cluster = bench_postgres()
    stack.callback(cluster.remove)
    cluster.create()
    redis_url = stack.enter_context(redis_server(workdir))
    redis = Redis.from_url(redis_url)
    stack.callback(redis.close)
    stub = WatchedStub(TEST_ACCOUNT_SID, AUTH_TOKEN)
    stub.start()
    stack.callback(stub.stop)
    env = server_environment(workdir, redis_url, settings(cluster.url, stub.url, args.dispatch_mode))
    app = make_app(env)
    log(
        f"the office: migrations, zones, tariff, {args.agents} agents, {args.drivers:,} drivers with tokens, "
        f"{args.subscribers:,} subscribers"
    )
    office = load_office(app, random.Random(args.seed), args.agents, args.drivers, args.subscribers)
    results["load_seconds"] = round(time.perf_counter() - started, 1)
    # On duty since before the run, in the live index with their state hint (as dispatch_bench): the positions take
    # the route's fast path from the first, as on a working day, not a whole fleet's first position of a shift.
    index_drivers(redis, [(d[0], d[2], d[3]) for d in office["drivers"]], time.time())
    hint_driver_states(redis, [d[0] for d in office["drivers"]])

    log("two gunicorn web processes, two rq workers (one with the scheduler), rq cron")
    urls, processes, trace_dirs = [], {}, {}
    for name in ("web A", "web B"):
        folder = workdir / name.replace(" ", "-")
        folder.mkdir()
        # Each gunicorn its own control socket ($XDG_RUNTIME_DIR/gunicorn.ctl): one would unlink the other's.
        web_env = {**env, "XDG_RUNTIME_DIR": str(folder)}
        if args.malloc_arena_max:  # 0: glibc's own default (up to 8 arenas per core), to compare
            web_env["MALLOC_ARENA_MAX"] = str(args.malloc_arena_max)
        allocator = args.web_b_allocator if name == "web B" else args.allocator
        web_env |= allocator_env(allocator, args.malloc_arena_max)
        if args.web_b_allocator != args.allocator:  # side by side: the table names each one's allocator
            name = f"{name} ({allocator})"
        config = None
        if args.trace_memory or args.census_memory:
            look = "python:bench.memory_trace" if args.trace_memory else "python:bench.memory_census"
            web_env[TRACE_DIR], config = str(folder), look
            trace_dirs[f"{name} worker"] = folder
        urls.append(stack.enter_context(gunicorn(web_env, folder, "wsgi:app", WEB_THREADS, config)))
        master, worker = gunicorn_pids(folder / "gunicorn.log")
        processes[f"{name} worker"] = ("web", worker)
        processes[f"{name} master"] = ("info", master)
    worker = ["worker", "--worker-class", "core.worker.CabdeskWorker", "--url", redis_url]
    rq = {
        "rq worker 1": [*worker, "--with-scheduler", "default"],
        "rq worker 2": [*worker, "default"],
        "rq cron": ["cron", "--url", redis_url, "cron_jobs"],
    }

    def start_rq(name: str, suffix: str = ""):
        return rq_process(stack, env, workdir / f"{name.replace(' ', '-')}{suffix}.log", rq[name])

    popen = {name: start_rq(name) for name in rq}
    for name, process in popen.items():
        processes[name] = ("worker" if "worker" in name else "info", process.pid)
    processes["redis-server"] = ("redis", int(redis.info("server")["process_id"]))
    processes["PostgreSQL (postmaster; CPU: with its backends)"] = ("info", cluster.process.pid)
    results["setup_seconds"] = round(time.perf_counter() - started, 1)
    return {
        "app": app,
        "env": env,
        "redis": redis,
        "stub": stub,
        "urls": urls,
        "processes": processes,
        "rq": popen,
        "office": office,
        "workdir": workdir,
        "trace_dirs": trace_dirs,
        "restart_victim": lambda: start_rq(VICTIM, "-restarted"),
    }


def worker_children(topology: dict) -> None:
    """The scheduler RQ forks beside a worker started --with-scheduler, sampled as a process of its own."""
    known = {pid for _, pid in topology["processes"].values()}
    for name, process in topology["rq"].items():
        for pid in children(process.pid):
            if pid not in known:
                topology["processes"][f"{name}, child {pid}"] = ("info", pid)
                log(f"{name} has a child process {pid} (RQ's scheduler): its memory is sampled too")


# -- the run --------------------------------------------------------------------------------------


def open_pages(topology: dict, desk, phones, agents: list[str]) -> list:
    """Every agent's console (half on each web process) and the dispatcher's board on each, connected."""
    from bench.load_office import DISPATCHER, PASSWORD
    from bench.load_people import Board, Console

    urls = topology["urls"]

    def console(item):
        number, agent = item
        page = Console(desk, urls[number % len(urls)], agent, PASSWORD)
        page.connect()
        return page

    with ThreadPoolExecutor(max_workers=4) as pool:
        consoles = list(pool.map(console, enumerate(agents)))
    for page in consoles:
        desk.open(page)
    boards = []
    for url in urls:
        board = Board(phones, url, DISPATCHER, PASSWORD)
        board.connect()
        boards.append(board)
    return consoles + boards


def queue_length(redis) -> int:
    """Jobs waiting in the default queue."""
    from rq import Queue

    return Queue("default", connection=redis).count


def outbox_pending(app) -> int:
    """Texts not yet handed to Twilio."""
    from sqlalchemy import text

    from core.extensions import db

    with app.app_context():
        try:
            return db.session.execute(text("SELECT count(*) FROM outbound_messages WHERE status = 'pending'")).scalar()
        finally:
            db.session.remove()


def progress_line(recorder, desk, phones, passengers, redis) -> str:
    """One line of progress for stderr."""
    counts = recorder.counts
    return (
        f"calls {len(desk.calls)}, bookings {len(desk.bookings)}, offers seen {len(phones.offers_seen)}, "
        f"trips completed {counts.get('trip progress 200', 0) // 3}, feedback replies {len(passengers.replies)}, "
        f"errors {sum(recorder.errors.values())}, queue {queue_length(redis)}, load {os.getloadavg()[0]:.1f}"
    )


def run_load(args, topology: dict, results: dict) -> dict:
    """The shift: pages open, positions flowing, calls on schedule; then the drain. What the run measured."""
    from bench.common import points_in_tehran
    from bench.load_office import feedback_request_pattern, write_fleet
    from bench.load_people import Desk, Passengers, Phones, Recorder, Twilio, Work, shuffled_callers

    rng = random.Random(args.seed + 1)
    office, urls, redis, stub = topology["office"], topology["urls"], topology["redis"], topology["stub"]
    calls_total = round(args.calls_per_minute * (args.minutes + args.warmup_seconds / 60))
    points = points_in_tehran(rng, 2 * calls_total + 2)
    pairs = iter(zip(points[0::2], points[1::2], strict=False))
    log(f"{len(office['agents'])} consoles and 2 boards log in and connect")
    recorder = Recorder(measure_from=float("inf"))  # nothing counts as measured until the warm-up is over
    work = Work(recorder, threads=48)
    twilio = Twilio(recorder, AUTH_TOKEN)
    desk = Desk(recorder, work, twilio, stub, urls, rng, pairs)
    tokens = {d[0]: d[1] for d in office["drivers"]}
    phones = Phones(recorder, work, urls, tokens, random.Random(args.seed + 2))
    pattern = feedback_request_pattern(topology["app"])
    passengers = Passengers(recorder, work, twilio, urls, pattern, random.Random(args.seed + 3))
    stub.on_message = passengers.text_sent
    pages = open_pages(topology, desk, phones, office["agents"])
    worker_children(topology)

    start = time.time() + 3
    warm = start + args.warmup_seconds
    until = warm + args.minutes * 60
    fleet = topology["workdir"] / "fleet.json"
    write_fleet(fleet, office["drivers"])
    out = topology["workdir"] / "positions.json"
    positions = spawn(
        [
            *(sys.executable, "-m", "bench.load_positions", "--fleet", str(fleet), "--urls", ",".join(urls)),
            *("--interval", str(args.position_seconds), "--start", str(start), "--measure-from", str(warm)),
            *("--measure-until", str(until), "--seconds", str(until - start + args.drain + 60)),
            *("--connections", str(args.position_connections), "--out", str(out), "--seed", str(args.seed)),
        ],
        cwd=PROJECT_ROOT,
    )
    topology["processes"]["positions (load generator)"] = ("info", positions.pid)
    figures: dict = {}
    interventions = Interventions(args, topology, warm, until, topology["restart_victim"])
    with MemorySampler(topology["processes"], redis, warm) as memory:
        try:
            desk.heartbeats()
            log(
                f"warm-up {args.warmup_seconds:.0f} s, then {args.minutes:g} min: {args.calls_per_minute:g} calls/min, "
                f"{len(tokens):,} drivers every {args.position_seconds:g} s"
            )
            callers = shuffled_callers([e164 for e164, _ in office["callers"]], rng)
            gap = 60 / args.calls_per_minute
            number, next_note, cpu_before = 0, start + 30, None
            while True:
                due = start + number * gap
                if due >= until:
                    break
                now = time.time()
                interventions.tick(now)
                if cpu_before is None and now >= warm:
                    recorder.measure_from, cpu_before = warm, cpu_now(topology["processes"])
                    log("warm-up over: measuring")
                if now >= next_note:
                    log(progress_line(recorder, desk, phones, passengers, redis))
                    worker_children(topology)  # RQ's scheduler may have forked since
                    next_note += 30
                if due > now:
                    time.sleep(min(due - now, 1.0))
                    continue
                work.later(0, desk.ring, number, next(callers))
                number += 1
            interventions.finish()
            if cpu_before is not None:
                figures["cpu_cores_busy"] = cpu_busy(cpu_before, cpu_now(topology["processes"]))
            log(f"calls over ({number} rung): draining, up to {args.drain:.0f} s")
            figures["drained"] = drain(args, topology, work, recorder, desk, phones, passengers)
        finally:
            positions.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                positions.wait(30)
            stop_process(positions, "positions", 5)
            for page in pages:
                page.close()
            work.close()
    figures["memory"] = memory.figures()
    figures["load_average_1min"] = memory.load_figures()
    with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
        figures["positions"] = json.loads(out.read_text())
    if "positions" not in figures:
        recorder.error("positions process failed", f"exit status {positions.returncode}: its stderr is above")
    figures.update(measured(recorder, desk, phones, passengers, warm))
    figures["reconciliation"] = reconcile(topology, desk, passengers)
    figures["failed_jobs"] = failed_jobs(redis)
    figures.update(interventions.results())
    return figures


def cpu_now(processes: dict) -> dict:
    """CPU seconds so far of every watched process (PostgreSQL's with its backends), and of this one; wall time."""
    from bench.dispatch_bench import cpu_seconds

    taken = {name: cpu_seconds(pid) for name, (_, pid) in processes.items() if not name.endswith("master")}
    taken["this process (consoles, boards, phones, Twilio)"] = time.process_time()
    taken["wall"] = time.perf_counter()
    return taken


def cpu_busy(before: dict, after: dict) -> dict:
    """Cores each process kept busy between two ``cpu_now``s."""
    wall = after["wall"] - before["wall"]
    return {name: round((after[name] - before[name]) / wall, 2) for name in before if name != "wall" and name in after}


def drain(args, topology: dict, work, recorder, desk, phones, passengers) -> dict:
    """Wait (at most --drain) for every scheduled action, the RQ queue and the outbox to be done."""
    deadline = time.time() + args.drain
    next_note = time.time() + 15
    while time.time() < deadline:
        if work.outstanding == 0 and queue_length(topology["redis"]) == 0 and outbox_pending(topology["app"]) == 0:
            break
        if time.time() >= next_note:
            log(
                f"  draining: {work.outstanding} actions left; "
                + progress_line(recorder, desk, phones, passengers, topology["redis"])
            )
            next_note += 15
        time.sleep(1)
    time.sleep(2)  # the last jobs' texts reach the stand-in; the last replies are kept
    return {
        "actions_left": work.outstanding,
        "queue_left": queue_length(topology["redis"]),
        "outbox_pending": outbox_pending(topology["app"]),
    }


def measured(recorder, desk, phones, passengers, warm: float) -> dict:
    """Screen pops and booking → first offer from what the clients saw, and every HTTP time and error."""
    first, every, last, missing = [], [], [], 0
    for call in desk.calls:
        if call.sent < warm or not call.sent:
            continue
        times = [seen - call.sent for seen in call.pops.values()]
        missing += max(0, call.consoles - len(times))
        if times:
            first.append(min(times))
            every.extend(times)
            if len(times) >= call.consoles:
                last.append(max(times))
    offered = [(phones.first_offer.get(b), sent, answered) for b, (sent, answered) in desk.bookings.items()]
    offer_times = [seen - sent for seen, sent, _ in offered if sent >= warm and seen is not None]
    # A worker may offer the booking before its 201 has reached the agent: that counts as no wait at all.
    after_201 = [max(0.0, seen - answered) for seen, sent, answered in offered if sent >= warm and seen is not None]
    never = sum(1 for seen, sent, _ in offered if sent >= warm and seen is None)
    http = {name: summary(values) for name, values in sorted(recorder.times.items())}
    return {
        "calls_rung": len(desk.calls),
        "calls_measured": len(first),
        "screen_pop": {
            "first_console": summary(first),
            "every_console": summary(every),
            "all_consoles": summary(last),
            "missing": missing,
        },
        "booking_to_first_offer": {**summary(offer_times), "never_offered": never},
        "booking_201_to_first_offer": summary(after_201),
        "http": http,
        "counts": dict(sorted(recorder.counts.items())),
        "errors": dict(recorder.errors),
        "error_samples": recorder.samples,
        "errors_total": sum(recorder.errors.values()),
        "feedback": {
            "requests_texted": len(passengers.requests),
            "replies_sent": len(passengers.replies),
            "replies_answered_200": sum(1 for reply in passengers.replies if reply["ok"]),
        },
    }


def failed_jobs(redis) -> dict:
    """Jobs that raised in the workers: how many, and the last line of a few."""
    from rq import Queue
    from rq.job import Job

    registry = Queue("default", connection=redis).failed_job_registry
    ids = registry.get_job_ids()
    samples = []
    for job in Job.fetch_many(ids[:5], connection=redis):
        if job is not None:
            lines = (job.latest_result().exc_string if job.latest_result() else "") or ""
            samples.append(f"{job.func_name}: {lines.strip().splitlines()[-1] if lines.strip() else '?'}")
    return {"count": len(ids), "samples": samples}


# -- the reconciliation ---------------------------------------------------------------------------


def reconcile(topology: dict, desk, passengers) -> dict:
    """What the database holds against what was sent: every call, booking, reply and text once."""
    from sqlalchemy import text

    from core.extensions import db

    app, stub = topology["app"], topology["stub"]
    with app.app_context():

        def rows(sql: str) -> list:
            return list(db.session.execute(text(sql)))

        calls = rows(
            "SELECT provider_sid, count(*), min(status) FROM calls WHERE direction = 'inbound' GROUP BY provider_sid"
        )
        bookings = rows("SELECT id, status, call_id FROM bookings")
        offers = rows("SELECT booking_id, outcome FROM dispatch_offers")
        inbound = rows(
            "SELECT m.message_sid, m.outcome, f.booking_id, f.rating FROM inbound_messages m "
            "LEFT JOIN feedback f ON f.id = m.feedback_id"
        )
        feedback = rows("SELECT booking_id, status, rating FROM feedback")
        outbound = rows('SELECT id, kind, status, twilio_sid, "to", body FROM outbound_messages')
        complaints = rows("SELECT count(*) FROM complaints")[0][0]
        db.session.remove()
    problems: list[str] = []

    sent = {call.sid for call in desk.calls if call.sent}
    call_rows = {sid: count for sid, count, _ in calls}
    _check(problems, "call webhooks without a calls row", sorted(sent - set(call_rows)))
    _check(problems, "calls rows twice for one CallSid", [sid for sid, count in call_rows.items() if count > 1])
    _check(problems, "calls rows for no webhook sent", sorted(set(call_rows) - sent))

    taken = set(desk.bookings)
    booking_ids = {row[0] for row in bookings}
    _check(problems, "201 bookings not in the database", sorted(taken - booking_ids))
    _check(problems, "bookings in the database without a 201", sorted(booking_ids - taken))
    per_call = Counter(row[2] for row in bookings if row[2] is not None)
    _check(problems, "calls with two bookings", [call for call, count in per_call.items() if count > 1])
    accepted = Counter(booking for booking, outcome in offers if outcome == "accepted")
    pending = Counter(booking for booking, outcome in offers if outcome == "pending")
    _check(problems, "bookings with two accepted offers", [b for b, n in accepted.items() if n > 1])
    _check(problems, "bookings with two pending offers", [b for b, n in pending.items() if n > 1])

    by_sid: dict[str, list] = {}
    for sid, outcome, booking, rating in inbound:
        by_sid.setdefault(sid, []).append((outcome, booking, rating))
    lost, doubled, wrong = [], [], []
    for reply in passengers.replies:
        found = by_sid.get(reply["sid"], [])
        if not found:
            lost.append(reply["sid"])
        elif len(found) > 1:
            doubled.append(reply["sid"])
        elif found[0] != ("feedback_reply", reply["booking"], reply["rating"]):
            wrong.append(f"{reply['sid']} booking {reply['booking']} rating {reply['rating']}: {found[0]}")
    _check(problems, "feedback replies not kept", lost)
    _check(problems, "feedback replies kept twice", doubled)
    _check(problems, "feedback replies not recorded as sent", wrong)
    per_booking = Counter(row[0] for row in feedback)
    _check(problems, "bookings with two feedback requests", [b for b, n in per_booking.items() if n > 1])

    at_stub = Counter((m["to"], m["body"]) for m in list(stub.messages.values()))
    per_key = Counter((row[4], row[5]) for row in outbound)
    recorded = {row[3] for row in outbound if row[3]}
    _check(
        problems,
        "texts sent twice for one outbox row",
        [f"#{row[0]} {row[1]}" for row in outbound if at_stub[(row[4], row[5])] > per_key[(row[4], row[5])]],
    )
    _check(problems, "texts the stand-in took that no outbox row records", sorted(set(stub.messages) - recorded))
    statuses = Counter(row[1] for row in bookings)
    return {
        "calls_sent": len(sent),
        "calls_rows": len(call_rows),
        "call_statuses": dict(Counter(status for _, _, status in calls)),
        "bookings_201": len(taken),
        "bookings_rows": len(bookings),
        "booking_statuses": dict(statuses),
        "offers": dict(Counter(outcome for _, outcome in offers)),
        "feedback_rows": len(feedback),
        "feedback_statuses": dict(Counter(row[1] for row in feedback)),
        "feedback_replies_sent": len(passengers.replies),
        "complaints": complaints,
        "texts_at_stub": sum(at_stub.values()),
        "outbox": dict(Counter(f"{row[1]} {row[2]}" for row in outbound)),
        "problems": problems,
        "clean": not problems,
    }


def _check(problems: list[str], what: str, found: list) -> None:
    if found:
        problems.append(f"{len(found)} {what}: {', '.join(map(str, found[:5]))}")


def logged_errors(workdir: Path) -> dict:
    """Tracebacks and ERROR lines the servers logged, per log, with the first few lines."""
    found = {}
    for path in sorted(workdir.rglob("*.log")):
        lines = path.read_text(errors="replace").splitlines()
        bad = [line for line in lines if "Traceback" in line or " ERROR" in line or "[ERROR]" in line]
        if bad:
            found[str(path.relative_to(workdir))] = {"lines": len(bad), "first": bad[:3]}
    return found


# -- the report -----------------------------------------------------------------------------------


def _ms(value) -> str:
    return "–" if value is None else f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def table(results: dict) -> str:
    """The figures as text."""
    lines = [f"Load run: {results['args']}", f"machine {results['machine']}; load average {results['load']}"]
    run = results.get("run")
    if not run:
        lines.append("(nothing measured)")
        return "\n".join(lines)
    lines.append(f"{'figure':48} {'n':>7} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}")

    def row(label: str, figures: dict | None) -> None:
        figures = figures or {}
        lines.append(
            f"{label:48} {figures.get('n', 0):>7} {_ms(figures.get('p50_ms')):>9} {_ms(figures.get('p99_ms')):>9} "
            f"{_ms(figures.get('max_ms')):>9}"
        )

    pop = run["screen_pop"]
    row("screen pop, first console", pop["first_console"])
    row("screen pop, every console", pop["every_console"])
    row("screen pop, all consoles", pop["all_consoles"])
    http = run["http"]
    for name in (
        "incoming-call webhook",
        "answer",
        "agent-answered webhook",
        "booking POST",
        "call-status webhook",
        "wrap-up",
        "offer accept",
        "offer decline",
        "trip progress",
        "SMS reply webhook",
    ):
        row(name, http.get(name))
    row("booking → first offer (board)", run["booking_to_first_offer"])
    row("booking's 201 → first offer (board)", run.get("booking_201_to_first_offer"))
    positions = run.get("positions") or {}
    row("position POST", positions.get("response"))
    by_web = list(zip(web_names(run), positions.get("by_web", ()), strict=False))
    for name, web in by_web:
        row(f"position POST to {name}", web["response"])
    row("position POST, lateness against schedule", positions.get("late"))
    lines.append(
        f"positions: {positions.get('sent_per_second')}/s sent of {positions.get('asked_per_second')}/s asked "
        f"({positions.get('skipped_measured')} measured reports skipped: the server a whole interval behind); "
        f"statuses {positions.get('statuses_all')}; errors {positions.get('errors')}"
    )
    if by_web:  # which process kept up: each is sent the same drivers' share
        lines.append(
            "positions by web process: "
            + "; ".join(
                f"{name} {w['measured_reports']:,} answered, {w['skipped_measured']:,} skipped" for name, w in by_web
            )
        )
    lines.append(
        f"screen pops missing: {pop['missing']}; bookings never offered: "
        f"{run['booking_to_first_offer']['never_offered']}"
    )
    lines.append(f"errors (5xx, unexpected 4xx, socket disconnects, exceptions): {run['errors_total']}")
    for kind, count in sorted(run["errors"].items()):
        lines.append(f"  {count:>5} × {kind}")
        for sample in run["error_samples"].get(kind, [])[:2]:
            lines.append(f"          e.g. {sample}")
    lines.append(f"failed RQ jobs: {run['failed_jobs']['count']} {run['failed_jobs']['samples']}")
    lines.append(f"tracebacks / ERROR lines in the servers' logs: {results.get('logged_errors') or 'none'}")
    rec = run["reconciliation"]
    lines.append(
        f"reconciliation: calls {rec['calls_sent']} sent / {rec['calls_rows']} rows {rec['call_statuses']}; "
        f"bookings {rec['bookings_201']} × 201 / {rec['bookings_rows']} rows {rec['booking_statuses']}; "
        f"offers {rec['offers']}"
    )
    lines.append(
        f"  feedback rows {rec['feedback_rows']} {rec['feedback_statuses']}; "
        f"replies sent {rec['feedback_replies_sent']}; complaints {rec['complaints']}; "
        f"texts at the stand-in {rec['texts_at_stub']}; outbox {rec['outbox']}"
    )
    lines.append(
        "  "
        + (
            "CLEAN: every call, booking, reply and text exactly once"
            if rec["clean"]
            else "PROBLEMS: " + "; ".join(rec["problems"])
        )
    )
    lines.append(f"drain: {run['drained']}")
    lines += intervention_lines(run)
    lines.append(f"CPU, cores busy while measured: {run.get('cpu_cores_busy')}")
    lines.append(f"load average (1 min) while measured: {run.get('load_average_1min')}")
    memory = memory_lines(results)
    if results["soak"]:
        lines[2:2] = memory  # a soak's headline is the memory slope
    else:
        lines += ["", *memory]
    lines.append(f"code {results['code']}; whole run {results.get('run_seconds', '–')} s")
    return "\n".join(lines)


def intervention_lines(run: dict) -> list[str]:
    """The worker killed mid-job, and what the census or tracemalloc saw grow in the web workers."""
    lines = []
    killed = run.get("worker_killed")
    if killed:
        lines.append(
            f"{VICTIM} killed (SIGKILL) in job {killed['job_id']} ({killed['job_function']}); the job's fate: "
            f"{killed.get('job_fate')}"
        )
    for name, counted in (run.get("memory_census") or {}).items():
        for period, change in (("whole run", counted["whole_run"]), ("last half", counted["last_half"])):
            lines.append(
                f"census, {name}, {period} ({change['minutes']:g} min): RSS {change['rss_mb']:+.2f} MB = malloc in use "
                f"{_signed(change['heap_in_use_mb'])}, malloc free {_signed(change['heap_free_mb'])}, mmapped "
                f"{_signed(change['mmapped_mb'])}, the rest {_signed(change.get('rest_mb'))} MB; Python blocks "
                f"{change['python_blocks']:+,}, threads {change['threads']:+}, objects {change['objects']:+,}; "
                f"full collections {change.get('full_collections') or 0:+}, compiled statements "
                f"{change.get('compiled_statements') or 0:+}"
            )
            if change["types"]:
                lines.append("  types that grew: " + ", ".join(f"{name} {n:+,}" for name, n in change["types"]))
            for statement in change.get("new_statements", ()):
                lines.append(f"  new statement: {statement[:STATEMENT_CHARS]}")
    for name, traced in (run.get("memory_trace") or {}).items():
        for period, figures in traced.items():
            lines.append(f"tracemalloc, {name}, {period}: traced memory grew {figures['traced_growth_mb']:+.2f} MB")
            for site in figures["sites"][:8]:
                lines.append(f"  {site['grew_kb']:+9.1f} kB {site['blocks_grew']:+7} blocks  {site['where'][:300]}")
    return lines


def memory_lines(results: dict) -> list[str]:
    """The memory table, after a headline: the highest peak and steepest slope of each kind against the targets."""
    run = results["run"]
    lines = []
    for kind in ("web", "worker", "redis"):
        of_kind = [m for m in run["memory"].values() if m["kind"] == kind]
        peak = max((m["peak_mb"] or 0 for m in of_kind), default=None)
        slopes = [m["slope_mb_per_10_min"] for m in of_kind if m["slope_mb_per_10_min"] is not None]
        slope = max(slopes) if slopes else None
        peak_verdict = "met" if peak is not None and peak <= TARGETS_MB[kind] else "MISSED"
        judged = [m["slope_met"] for m in of_kind if m["slope_met"] is not None]
        slope_verdict = "not judged under 10 min" if not judged else "met" if all(judged) else "MISSED"
        lines.append(
            f"memory, {kind}: peak {_ms(peak)} MB (≤ {TARGETS_MB[kind]:.0f}: {peak_verdict}), "
            f"steepest slope {_signed(slope)} MB / 10 min (< {SLOPE_TARGET_MB_PER_10_MIN:g}: {slope_verdict})"
        )
    lines.append(
        f"{'memory (RSS)':32} {'warm MB':>8} {'end MB':>8} {'peak MB':>8} {'target':>8} {'slope MB/10min':>15} "
        f"{'last half':>10}"
    )
    for name, mem in run["memory"].items():
        target = mem["target_mb"]
        verdict = "" if mem["peak_met"] is None else " met" if mem["peak_met"] else " MISSED"
        lines.append(
            f"{name[:32]:32} {_ms(mem['warm_start_mb']):>8} {_ms(mem['end_mb']):>8} {_ms(mem['peak_mb']):>8} "
            f"{(f'≤ {target:.0f}' if target else '–'):>8} {_signed(mem['slope_mb_per_10_min']):>15} "
            f"{_signed(mem.get('last_half_slope_mb_per_10_min')):>10}{verdict}"
        )
    warm = max((m["warm_seconds"] for m in run["memory"].values()), default=0)
    lines.append(
        f"slopes over {warm} s once warm: "
        + ("the soak's headline" if results["soak"] else "too short to say much (a soak's figure)")
    )
    return lines


def web_names(run: dict) -> list[str]:
    """The web processes' names as the memory table has them (with their allocators), in the order of their URLs."""
    return [name.removesuffix(" worker") for name, m in run["memory"].items() if m["kind"] == "web"]


def _signed(value) -> str:
    return "–" if value is None else f"{value:+.2f}"


def jemalloc_env(arenas: int) -> dict[str, str]:
    """The environment that runs a process on jemalloc (Debian's libjemalloc2, which redis-tools brings) instead of
    glibc's malloc, with as many arenas as glibc is allowed, so the two differ only in the allocator."""
    if ctypes.util.find_library("jemalloc") is None:
        raise SystemExit("jemalloc: no libjemalloc on this machine (Debian: apt-get install libjemalloc2)")
    return {"LD_PRELOAD": JEMALLOC} | ({"MALLOC_CONF": f"narenas:{arenas}"} if arenas else {})


def allocator_env(allocator: str, arenas: int) -> dict[str, str]:
    """The environment beyond MALLOC_ARENA_MAX that runs a web process on ``allocator`` (one of ALLOCATORS)."""
    if allocator == "jemalloc":
        return jemalloc_env(arenas)
    # glibc keeps up to 7 freed blocks of each small size per thread, outside its arenas and counted as in use; a
    # web process has 100 threads or more, each filling its cache with the sizes its requests happened to free.
    return {"GLIBC_TUNABLES": NO_TCACHE} if allocator == "glibc-no-tcache" else {}


def unit_environment(unit: Path = WEB_UNIT) -> dict[str, str]:
    """The defaults the web unit in deploy/ sets (its ``Environment=`` lines), so the load run measures what an
    office runs."""
    found = re.findall(r"^Environment=(\w+)=(.*)$", unit.read_text(), flags=re.MULTILINE)
    return dict(found)


def unit_arena_max() -> int:
    """The MALLOC_ARENA_MAX the web unit sets (0: none, glibc's default)."""
    return int(unit_environment().get("MALLOC_ARENA_MAX", 0))


def unit_allocator(unit: Path = WEB_UNIT) -> str:
    """The C allocator the web unit runs gunicorn on: jemalloc where it preloads it, else glibc's malloc (without
    its per-thread caches where the unit's tunables turn them off)."""
    env = unit_environment(unit)
    if JEMALLOC in env.get("LD_PRELOAD", ""):
        return "jemalloc"
    return "glibc-no-tcache" if NO_TCACHE in env.get("GLIBC_TUNABLES", "").split(":") else "glibc"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load_run", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=None, help="minutes measured after the warm-up (3)")
    parser.add_argument("--calls-per-minute", type=float, default=100.0, help="incoming calls a minute (100)")
    parser.add_argument("--drivers", type=int, default=5000, help="drivers on duty, reporting positions (5,000)")
    parser.add_argument("--agents", type=int, default=50, help="agents at a console (50)")
    parser.add_argument("--subscribers", type=int, default=5000, help="subscribers who call (5,000)")
    parser.add_argument("--position-seconds", type=float, default=10.0, help="seconds between a driver's reports")
    parser.add_argument("--position-connections", type=int, default=16, help="keep-alive connections a web process")
    parser.add_argument("--warmup-seconds", type=float, default=None, help="load before measuring (20; soak 120)")
    parser.add_argument("--drain", type=float, default=150.0, help="at most this long for the queues to drain")
    parser.add_argument("--dispatch-mode", choices=("nearest", "queue_first"), default="nearest")
    parser.add_argument("--soak", action="store_true", help="30 minutes (unless --minutes), the memory slope first")
    parser.add_argument("--time-limit", type=float, default=None, help="hard stop after this many seconds (auto)")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument(
        "--kill-worker-at", type=float, default=None, help="SIGKILL an rq worker mid-job this many minutes in"
    )
    parser.add_argument(
        "--malloc-arena-max",
        type=int,
        default=unit_arena_max(),
        help="glibc's MALLOC_ARENA_MAX for the web processes (the web unit's; 0: glibc's default)",
    )
    parser.add_argument(
        "--allocator", choices=ALLOCATORS, default=unit_allocator(), help="the web processes' malloc (the web unit's)"
    )
    parser.add_argument(
        "--web-b-allocator", choices=ALLOCATORS, default=None, help="web B's, to compare side by side (--allocator)"
    )
    looks = parser.add_mutually_exclusive_group()
    looks.add_argument(
        "--trace-memory", action="store_true", help="tracemalloc in the web workers: what grew (slows them)"
    )
    looks.add_argument(
        "--census-memory", action="store_true", help="every 5 min, the web workers' memory split into its parts"
    )
    args = parser.parse_args(argv)
    args.web_b_allocator = args.web_b_allocator or args.allocator
    args.minutes = args.minutes if args.minutes is not None else 30.0 if args.soak else 3.0
    args.warmup_seconds = args.warmup_seconds if args.warmup_seconds is not None else 120.0 if args.soak else 20.0
    limit = args.time_limit or (
        300 + args.drivers / 50 + args.agents + args.warmup_seconds + args.minutes * 60 + args.drain + 120
    )
    results: dict = {
        "benchmark": "load_run",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "code": code_version(),
        "soak": args.soak,
        "args": {k: v for k, v in vars(args).items() if k != "time_limit"} | {"time_limit": round(limit)},
        "load": {"before": round(os.getloadavg()[0], 2)},
    }
    arm_time_limit(limit)
    started = time.perf_counter()
    status = 0
    workdir = Path(tempfile.mkdtemp(prefix="cabdesk-load-"))
    try:
        with contextlib.ExitStack() as stack:
            topology = start_office(stack, args, workdir, results)
            results["run"] = run_load(args, topology, results)
            results["load"]["after_1_5_15_min"] = [round(value, 2) for value in os.getloadavg()]
            log("stopping every process")
        results["logged_errors"] = logged_errors(workdir)
    except BenchTimeout:
        log(f"--time-limit of {limit:.0f} s reached: every process stopped, the figures so far printed")
        results["timed_out"] = True
        status = 2
    finally:
        signal.alarm(0)
        shutil.rmtree(workdir, ignore_errors=True)
    results["run_seconds"] = round(time.perf_counter() - started, 1)
    print(table(results))
    print(json.dumps(results, ensure_ascii=False, default=str))
    return status


if __name__ == "__main__":
    sys.exit(main())
