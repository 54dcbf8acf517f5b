"""The driver settlements benchmark (issue 8): a week's settlement run over 500 drivers and 100,000 trips.

Run from the project root (see bench/README.md, "Driver settlements", for what every figure means)::

    .venv/bin/python -m bench.settlement_bench                # 500 drivers, 100,000 trips in one week
    .venv/bin/python -m bench.settlement_bench --scale 0.05   # a quick look (25 drivers, 5,000 trips)

On a SQLite file built with the real migrations and loaded by SQLAlchemy Core — one commission plan (15 % of the
fare and a shift fee, published by ``publish_plan``), every driver under it, a week of completed bookings (office
calendar) and their ledger lines exactly as ``post_trip`` writes them (checked against ``post_trip`` itself) —
each repetition on a fresh copy of that file, so every one starts unsettled:

- **the settlement run**: ``settle_all(week start, week end, "bank", None, now)`` and the commit, as the
  supervisors' page runs it (it also posts each worked day's shift fee);
- **baseline "one pass"**: one SELECT of every ledger line of the period (every column), iterated once in Python
  adding up each driver's trips, fares, commission and what is due — the rows the run reads, read once;
- **baseline "one pass + the writes"**: the same pass, plus each driver's worked days, then the settlements,
  their fee lines and settling lines written by Core executemany and committed — the least any settlement run must
  do; its rows are checked to be exactly the run's;
- ``statement()`` for one driver's week, against one Core SELECT of the same driver's lines, interleaved.

The run is bounded (``--time-limit``), and ends with one table and one JSON line.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.processes import log, percentile, print_results, remove_sqlite, results_header, time_limited

FULL_DRIVERS = 500
FULL_TRIPS = 100_000
FIRST_DRIVER_ID = 1001  # drivers' users, drivers and cars share ids from here (bench.common.insert_drivers)
PLAN_CODE = "bench-standard"
PERCENT_BP = 1_500  # 15 % of every fare
SHIFT_FEE = 500_000  # rials a worked office day
METHOD = "bank"
BATCH = 20_000
WORK_DAY_WEIGHTS = {4: 10, 5: 30, 6: 40, 7: 20}  # how many of the week's 7 days a driver works
ACCOUNT_SHARE = 0.2  # trips paid on account; the rest in cash
CHECK_DRIVERS = 3  # drivers whose every line is posted again through post_trip and compared


# -- the data set -----------------------------------------------------------------------------------


def office_zone() -> str:
    from flask import current_app

    return current_app.config["OFFICE_TIMEZONE"]


def the_week(now: datetime, zone: str) -> tuple[date, date]:
    """The last whole office week (Saturday to Friday) before today, as the settlements page's shortcut."""
    from core.timewindows import office_date

    yesterday = office_date(now, zone) - timedelta(days=1)
    friday = yesterday - timedelta(days=(yesterday.weekday() - 4) % 7)
    return friday - timedelta(days=6), friday


def make_app(path: Path, instance: Path):
    """The real application on the SQLite file; nothing here needs Redis."""
    os.environ.setdefault("SECRET_KEY", "settlement-bench")  # else load_config() writes instance/secret_key
    os.environ.setdefault("CABDESK_INSTANCE", str(instance))
    from core.app import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
            "REDIS_URL": "redis://127.0.0.1:1/0",
            "SOCKETIO_MESSAGE_QUEUE": None,
            "SECRET_KEY": "settlement-bench",
            "DEFAULT_COMMISSION_PLAN": "",
        }
    )


def commission_of(fare: int) -> int:
    """What post_trip charges under the bench plan (15 %, half up, never above the fare)."""
    return min((fare * PERCENT_BP + 5_000) // 10_000, fare)


def generate_trips(drivers: list[int], count: int, start: date, zone: str, rng) -> list[tuple]:
    """``(completed_at, driver_id, fare, payment, minutes, km)`` of every trip, in completion order."""
    from core.timewindows import office_midnight

    days = [start + timedelta(days=i) for i in range(7)]
    midnights = [office_midnight(day, zone) for day in days]
    worked = {}
    for driver in drivers:
        k = rng.choices(list(WORK_DAY_WEIGHTS), weights=list(WORK_DAY_WEIGHTS.values()))[0]
        worked[driver] = sorted(rng.sample(range(7), k))
    weights = [rng.uniform(0.5, 1.5) for _ in drivers]  # some drive more than others
    trips = []
    for driver in rng.choices(drivers, weights=weights, k=count):
        day = rng.choice(worked[driver])
        # Completed between 06:00 and 23:50 office time; whole seconds.
        completed = midnights[day] + timedelta(seconds=rng.randrange(6 * 3600, 23 * 3600 + 50 * 60))
        km = round(min(60.0, rng.lognormvariate(1.8, 0.6)), 1)
        fare = round(300_000 + km * 90_000, -4)
        payment = "account" if rng.random() < ACCOUNT_SHARE else "cash"
        trips.append((completed.astimezone(UTC), driver, fare, payment, round(8 + km * 2.2, 1), km))
    trips.sort(key=lambda trip: (trip[0], trip[1]))
    return trips


def load_dataset(counts: dict, seed: int, now: datetime) -> dict:
    """Migrate; publish the plan; drivers under it; the week's completed bookings and their trip lines."""
    import logging

    from flask_migrate import upgrade
    from sqlalchemy import insert, update

    from bench.common import insert_drivers
    from core.extensions import db
    from core.timewindows import office_midnight
    from dispatch.models import Booking
    from drivers.models import Driver
    from earnings.commission import publish_plan
    from earnings.models import LedgerEntry

    rng = random.Random(seed)
    started = time.perf_counter()
    upgrade()
    logging.getLogger("alembic").setLevel(logging.WARNING)
    zone = office_zone()
    start, end = the_week(now, zone)
    valid_from = office_midnight(start - timedelta(days=28), zone)
    rates = [{"kind": "percent", "percent_bp": PERCENT_BP}, {"kind": "shift_fee", "amount": SHIFT_FEE}]
    plan = publish_plan(PLAN_CODE, "Bench standard", rates, valid_from, None, valid_from)
    db.session.commit()
    plan_id = plan.id
    db.session.remove()
    points = [(35.70 + (i % 100) / 1000, 51.40 + (i // 100) / 1000) for i in range(counts["drivers"])]
    trips = generate_trips(
        list(range(FIRST_DRIVER_ID, FIRST_DRIVER_ID + counts["drivers"])), counts["trips"], start, zone, rng
    )
    with db.engine.connect() as connection:
        raw = connection.connection.driver_connection
        raw.execute("PRAGMA synchronous=OFF")  # outside a transaction: SQLAlchemy's BEGIN comes with the first row
        raw.execute("PRAGMA cache_size=-500000")
        drivers = insert_drivers(connection, FIRST_DRIVER_ID, points, now, "offline")
        connection.execute(update(Driver.__table__).values(contract_plan=PLAN_CODE))
        seq: dict[int, int] = defaultdict(int)
        balance: dict[int, int] = defaultdict(int)
        for first in range(0, len(trips), BATCH):
            bookings, lines = [], []
            for number, (completed, driver, fare, payment, minutes, km) in enumerate(
                trips[first : first + BATCH], start=first + 1
            ):
                trip_start = completed - timedelta(minutes=minutes)
                bookings.append(
                    {
                        "id": number,
                        "status": "completed",
                        "phone": f"+98912{number % 10_000_000:07d}",
                        "pickup_text": "",
                        "pickup_lat": 35.7,
                        "pickup_lon": 51.4,
                        "pickup_zone_id": None,
                        "pickup_at": trip_start,
                        "vehicle_class": "sedan",
                        "currency": "IRR",
                        "fare_breakdown": [],
                        "fare": fare,
                        "distance_km": km,
                        "duration_min": minutes,
                        "driver_id": driver,
                        "vehicle_id": driver,
                        "offer_tries": 1,
                        "assigned_at": trip_start - timedelta(minutes=10),
                        "arrived_at": trip_start - timedelta(minutes=2),
                        "started_at": trip_start,
                        "completed_at": completed,
                        "payment": payment,
                        "created_at": trip_start - timedelta(minutes=11),
                    }
                )
                # Exactly what post_trip(booking, completed_at) appends (checked in check_dataset).
                commission = commission_of(fare)
                amount = fare - commission if payment == "account" else -commission
                seq[driver] += 1
                balance[driver] += amount
                lines.append(
                    {
                        "id": number,
                        "driver_id": driver,
                        "seq": seq[driver],
                        "kind": "trip",
                        "amount": amount,
                        "balance_after": balance[driver],
                        "fare": fare,
                        "commission": commission,
                        "payment": payment,
                        "booking_id": number,
                        "plan_id": plan_id,
                        "dedupe_key": f"trip:{number}",
                        "reason": "",
                        "author_id": None,
                        "corrects_id": None,
                        "settlement_id": None,
                        "at": completed,
                    }
                )
            connection.execute(insert(Booking.__table__), bookings)
            connection.execute(insert(LedgerEntry.__table__), lines)
        connection.commit()
        raw.execute("PRAGMA synchronous=NORMAL")
        raw.execute("PRAGMA cache_size=-2000")
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.engine.dispose()
    worked = {(trip[1], trip[0].astimezone(ZoneInfo(zone)).date()) for trip in trips}
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "start": start,
        "end": end,
        "plan_id": plan_id,
        "drivers": len(drivers),
        "trips": len(trips),
        "worked_days": len(worked),
    }


def check_dataset(rng, built: dict) -> dict:
    """The loaded lines are what post_trip writes: every line's arithmetic in SQL, and a few drivers' lines again."""
    from sqlalchemy import delete, func, select, text

    from core.extensions import db
    from dispatch.models import Booking
    from earnings.commission import post_trip
    from earnings.models import LedgerEntry

    bad = db.session.scalar(
        text(
            "SELECT count(*) FROM ledger_entries l JOIN bookings b ON b.id = l.booking_id WHERE l.kind != 'trip' "
            "OR l.driver_id != b.driver_id OR l.fare != b.fare OR l.payment != b.payment OR l.at != b.completed_at "
            "OR l.commission != min((b.fare * :bp + 5000) / 10000, b.fare) "
            "OR l.amount != CASE l.payment WHEN 'account' THEN l.fare - l.commission ELSE -l.commission END "
            "OR l.dedupe_key != 'trip:' || b.id"
        ),
        {"bp": PERCENT_BP},
    )
    # seq 1..n with no gap, and the last balance_after is the sum of the amounts, for every driver.
    ledgers = db.session.execute(
        text(
            "SELECT driver_id, count(*), min(seq), max(seq), sum(amount), "
            "(SELECT balance_after FROM ledger_entries x WHERE x.driver_id = l.driver_id ORDER BY seq DESC LIMIT 1) "
            "FROM ledger_entries l GROUP BY driver_id"
        )
    ).all()
    broken = [row for row in ledgers if not (row[2] == 1 and row[3] == row[1] and row[4] == row[5])]
    lines = db.session.scalar(select(func.count()).select_from(LedgerEntry))
    if bad or broken or lines != built["trips"]:
        raise SystemExit(f"the generated ledger is wrong: {bad} bad lines, {len(broken)} broken ledgers, {lines} lines")
    columns = [c.key for c in LedgerEntry.__table__.columns if c.key != "id"]
    chosen = rng.sample(sorted(row[0] for row in ledgers), min(CHECK_DRIVERS, len(ledgers)))
    compared = 0
    for driver_id in chosen:
        loaded = [
            tuple(getattr(line, c) for c in columns)
            for line in db.session.scalars(
                select(LedgerEntry).where(LedgerEntry.driver_id == driver_id).order_by(LedgerEntry.seq)
            )
        ]
        db.session.execute(delete(LedgerEntry).where(LedgerEntry.driver_id == driver_id))
        bookings = db.session.scalars(
            select(Booking).where(Booking.driver_id == driver_id).order_by(Booking.completed_at, Booking.id)
        ).all()
        posted = [post_trip(booking, booking.completed_at) for booking in bookings]
        again = [tuple(getattr(line, c) for c in columns) for line in posted]
        if again != loaded:
            first = next(i for i, (a, b) in enumerate(zip(again, loaded, strict=False)) if a != b)
            raise SystemExit(
                f"driver {driver_id}: post_trip writes {again[first]}, the bench loaded {loaded[first]} "
                f"({len(again)} against {len(loaded)} lines)"
            )
        compared += len(posted)
    db.session.rollback()
    db.session.expunge_all()
    return {"lines_checked_in_sql": lines, "lines_posted_again": compared, "drivers_posted_again": len(chosen)}


# -- the copies -------------------------------------------------------------------------------------


def restore(master: Path, work: Path) -> None:
    """A fresh copy of the built (unsettled) database at the app's path; the app's connections closed first."""
    from core.extensions import db

    db.session.remove()
    db.engine.dispose()
    remove_sqlite(work)
    shutil.copyfile(master, work)


def connect() -> None:
    """Open the session's connection before a timed part, so that no figure includes the connect and pragmas."""
    from sqlalchemy import text

    from core.extensions import db

    db.session.execute(text("SELECT 1"))


# -- what is measured -------------------------------------------------------------------------------


def settlement_run(start: date, end: date, now: datetime) -> dict:
    """settle_all and its commit, as the supervisors' page does."""
    from core.extensions import db
    from earnings.settlements import settle_all

    done, refused = settle_all(start, end, METHOD, None, now)
    db.session.commit()
    return {"settled": len(done), "refused": refused}


def period_end(end: date) -> datetime:
    from core.timewindows import office_midnight

    return office_midnight(end + timedelta(days=1), office_zone())


def the_pass(end: date, days: bool):
    """One SELECT of every ledger line of the period, every column, read once: per driver totals (and worked days)."""
    from sqlalchemy import select

    from core.extensions import db
    from earnings.models import LedgerEntry

    table = LedgerEntry.__table__
    query = (
        select(table)
        .where(table.c.kind != "settlement", table.c.at < period_end(end))
        .order_by(table.c.driver_id, table.c.seq)
    )
    zone = ZoneInfo(office_zone())
    totals: dict[int, list] = {}
    for row in db.session.execute(query):
        # [lines, trips, fares, commission, due, last seq, last balance, worked days]
        sums = totals.get(row.driver_id)
        if sums is None:
            sums = totals[row.driver_id] = [0, 0, 0, 0, 0, 0, 0, set()]
        sums[0] += 1
        if row.kind == "trip":
            sums[1] += 1
            sums[2] += row.fare
            if days:
                sums[7].add(row.at.astimezone(zone).date())
        if row.kind in ("trip", "fee"):
            sums[3] += row.commission
        sums[4] += row.amount
        sums[5], sums[6] = row.seq, row.balance_after
    return totals


def one_pass(end: date) -> dict:
    """Baseline: the period's lines read once."""
    totals = the_pass(end, days=False)
    return {"lines": sum(t[0] for t in totals.values()), "drivers": len(totals)}


def one_pass_and_writes(start: date, end: date, now: datetime, plan_id: int) -> dict:
    """Baseline: the pass with worked days, then every row the run writes, by Core executemany, and the commit.

    Valid on this data set only (no earlier settlement, no line after the period, one plan without versions).
    """
    from sqlalchemy import insert

    from core.extensions import db
    from core.timewindows import office_midnight
    from earnings.models import LedgerEntry, Settlement

    zone = office_zone()
    totals = the_pass(end, days=True)
    settlements, lines = [], []
    for number, driver_id in enumerate(sorted(totals), start=1):
        _count, trips, fares, commission, due, seq, balance, days = totals[driver_id]
        for day in sorted(d for d in days if start <= d <= end):
            moment = min(office_midnight(day + timedelta(days=1), zone) - timedelta(seconds=1), now)
            seq, balance, commission, due = seq + 1, balance - SHIFT_FEE, commission + SHIFT_FEE, due - SHIFT_FEE
            lines.append(
                ledger_row(driver_id, seq, "fee", -SHIFT_FEE, balance, moment)
                | {
                    "commission": SHIFT_FEE,
                    "plan_id": plan_id,
                    "dedupe_key": f"fee:shift:{driver_id}:{day.isoformat()}",
                    "reason": f"shift_fee {day.isoformat()}",
                }
            )
        settlements.append(
            {
                "id": number,
                "driver_id": driver_id,
                "period_start": start,
                "period_end": end,
                "through_seq": seq,
                "trips": trips,
                "fares": fares,
                "commission": commission,
                "paid": due,
                "method": METHOD,
                "reference": "",
                "created_by_id": None,
                "created_at": now,
            }
        )
        lines.append(
            ledger_row(driver_id, seq + 1, "settlement", -due, balance - due, now)
            | {"settlement_id": number, "reason": f"{start.isoformat()} – {end.isoformat()}"}
        )
    session = db.session
    session.execute(insert(Settlement.__table__), settlements)
    session.execute(insert(LedgerEntry.__table__), lines)
    session.commit()
    return {"settlements": len(settlements), "lines": len(lines), "fee_lines": len(lines) - len(settlements)}


def ledger_row(driver_id: int, seq: int, kind: str, amount: int, balance_after: int, at: datetime) -> dict:
    return {
        "driver_id": driver_id,
        "seq": seq,
        "kind": kind,
        "amount": amount,
        "balance_after": balance_after,
        "fare": 0,
        "commission": 0,
        "payment": "",
        "booking_id": None,
        "plan_id": None,
        "dedupe_key": None,
        "reason": "",
        "author_id": None,
        "corrects_id": None,
        "settlement_id": None,
        "at": at,
    }


def written_rows() -> tuple[list, list]:
    """What a settlement (the run's or the baseline's) left: settlements and the lines that are not trips."""
    from sqlalchemy import select

    from core.extensions import db
    from earnings.models import LedgerEntry, Settlement

    s, e = Settlement.__table__, LedgerEntry.__table__
    settlements = db.session.execute(
        select(*(c for c in s.c if c.key not in ("id", "created_at"))).order_by(s.c.driver_id)
    ).all()
    lines = db.session.execute(
        select(*(c for c in e.c if c.key not in ("id", "settlement_id")))
        .where(e.c.kind != "trip")
        .order_by(e.c.driver_id, e.c.seq)
    ).all()
    return [tuple(row) for row in settlements], [tuple(row) for row in lines]


def check_settled(built: dict) -> dict:
    """After the run: every driver settled, nothing refused, every balance back to zero, the expected fee lines."""
    from sqlalchemy import func, select

    from core.extensions import db
    from earnings.ledger import balances
    from earnings.models import LedgerEntry

    owed = {driver: amount for driver, amount in balances().items() if amount}
    fees = db.session.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "fee"))
    problems = []
    if owed:
        problems.append(f"{len(owed)} drivers with a balance after settling")
    if fees != built["worked_days"]:
        problems.append(f"{fees} fee lines for {built['worked_days']} worked days")
    return {"fee_lines": fees, "problems": problems}


class SqlCounter:
    """Counts the SQL statements (by their first word) and the time spent in the DBAPI's execute."""

    def __init__(self, engine):
        self.engine = engine
        self.kinds: dict[str, int] = defaultdict(int)
        self.seconds = 0.0
        self._started = 0.0

    def before(self, _conn, _cursor, statement, _parameters, _context, _executemany):
        self.kinds[statement.split(None, 1)[0].upper()] += 1
        self._started = time.perf_counter()

    def after(self, *_args):
        self.seconds += time.perf_counter() - self._started

    def __enter__(self):
        from sqlalchemy import event

        event.listen(self.engine, "before_cursor_execute", self.before)
        event.listen(self.engine, "after_cursor_execute", self.after)
        return self

    def __exit__(self, *_exc):
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self.before)
        event.remove(self.engine, "after_cursor_execute", self.after)


def profiled_run(start: date, end: date, now: datetime, drivers: int, top: int = 15) -> dict:
    """One more settlement run under cProfile and an SQL counter (not in the timed figures): where the time goes."""
    from core.extensions import db

    profiler = cProfile.Profile()
    with SqlCounter(db.engine) as counter:
        began = time.perf_counter()
        profiler.enable()
        outcome = settlement_run(start, end, now)
        profiler.disable()
        wall = time.perf_counter() - began
    stats = pstats.Stats(profiler, stream=io.StringIO())
    total = stats.total_tt
    rows = []
    for (filename, line, name), (_cc, calls, tottime, cumtime, _callers) in stats.stats.items():
        where = name if filename == "~" else f"{Path(filename).name}:{line}({name})"
        rows.append({"function": where, "calls": calls, "tottime_s": tottime, "cumtime_s": cumtime})

    def share(seconds: float) -> float:
        return round(100 * seconds / total, 1) if total else 0.0

    by_self = sorted(rows, key=lambda r: r["tottime_s"], reverse=True)[:top]
    sqlite_c = sum(r["tottime_s"] for r in rows if "sqlite3.Cursor" in r["function"] or "sqlite3.Conn" in r["function"])
    wanted = (
        "settlements.py",
        "commission.py",
        "ledger.py",
        "session.py",
        "database.py",
    )
    app_functions = [
        r
        for r in rows
        if r["function"].startswith(wanted)
        and any(
            n in r["function"]
            for n in (
                "(settle)",
                "(settle_all)",
                "(statement)",
                "(post_fees)",
                "(_fee)",
                "(append)",
                "(last_entry)",
                "(last_settlement)",
                "(_check_period)",
                "(plan_in_force)",
                "(by_key)",
                "(savepoint)",
                "(flush)",
                "(commit)",
            )
        )
    ]
    app_functions.sort(key=lambda r: r["cumtime_s"], reverse=True)
    for r in by_self + app_functions:
        r["share_pct"] = share(r["cumtime_s"] if r in app_functions else r["tottime_s"])
    return {
        "wall_s": round(wall, 2),
        "profiled_s": round(total, 2),
        "settled": outcome["settled"],
        "statements": dict(sorted(counter.kinds.items(), key=lambda kv: -kv[1])),
        "statements_total": sum(counter.kinds.values()),
        "statements_per_driver": round(sum(counter.kinds.values()) / max(drivers, 1), 1),
        "sqlite_c_calls_pct": share(sqlite_c),
        "top_self": [rounded(r) for r in by_self],
        "app_cumulative": [rounded(r) for r in app_functions],
    }


def rounded(row: dict) -> dict:
    return {**row, "tottime_s": round(row["tottime_s"], 3), "cumtime_s": round(row["cumtime_s"], 3)}


def traced_run(start: date, end: date, now: datetime) -> dict:
    """One more run with the SQL counter only (no profiler): statements and the DBAPI execute's share of the time."""
    from core.extensions import db

    with SqlCounter(db.engine) as counter:
        began = time.perf_counter()
        settlement_run(start, end, now)
        wall = time.perf_counter() - began
    return {
        "wall_s": round(wall, 2),
        "statements": dict(sorted(counter.kinds.items(), key=lambda kv: -kv[1])),
        "statements_total": sum(counter.kinds.values()),
        "dbapi_execute_s": round(counter.seconds, 2),
        "dbapi_execute_pct": round(100 * counter.seconds / wall, 1) if wall else None,
    }


def measure_statements(rng, start: date, end: date, now: datetime, drivers: list[int], n: int) -> dict:
    """statement() for one driver's week against one Core SELECT of that driver's lines, interleaved."""
    from sqlalchemy import select

    from core.extensions import db
    from earnings.models import LedgerEntry
    from earnings.settlements import statement

    table = LedgerEntry.__table__
    ends_at = period_end(end)

    def call(driver_id: int) -> int:
        return len(statement(driver_id, start, end, now).lines)

    def baseline(driver_id: int) -> int:
        query = (
            select(table)
            .where(table.c.driver_id == driver_id, table.c.kind != "settlement", table.c.at < ends_at)
            .order_by(table.c.seq)
        )
        return len(db.session.execute(query).all())

    for driver_id in drivers[:20]:  # warm-up
        call(driver_id)
        baseline(driver_id)
        db.session.expunge_all()
    order = [drivers[i % len(drivers)] for i in range(n)]
    rng.shuffle(order)
    times: dict[str, list[float]] = {"statement": [], "baseline": []}
    lines = []
    for number, driver_id in enumerate(order):
        pair = [("statement", call), ("baseline", baseline)]
        if number % 2:
            pair.reverse()
        for name, function in pair:
            began = time.perf_counter()
            found = function(driver_id)
            times[name].append(time.perf_counter() - began)
            db.session.expunge_all()
            if name == "statement":
                lines.append(found)
    return {
        "statement": stats(times["statement"]),
        "baseline": stats(times["baseline"]),
        "lines_p50": percentile(lines, 0.5),
        "ratio_p50": ratio(percentile(times["statement"], 0.5), percentile(times["baseline"], 0.5)),
        "ratio_p99": ratio(percentile(times["statement"], 0.99), percentile(times["baseline"], 0.99)),
    }


# -- figures ----------------------------------------------------------------------------------------


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def stats(samples: list[float]) -> dict:
    return {
        "n": len(samples),
        "p50_ms": ms(percentile(samples, 0.5)),
        "p99_ms": ms(percentile(samples, 0.99)),
        "max_ms": ms(max(samples) if samples else None),
    }


def ratio(value: float | None, base: float | None) -> float | None:
    return None if value is None or not base else round(value / base, 2)


def seconds_summary(samples: list[float], drivers: int) -> dict:
    median = percentile(samples, 0.5)
    return {
        "n": len(samples),
        "median_s": round(median, 3) if median is not None else None,
        "min_s": round(min(samples), 3) if samples else None,
        "max_s": round(max(samples), 3) if samples else None,
        "per_driver_ms": round(1000 * median / drivers, 2) if median is not None else None,
        "all_s": [round(s, 3) for s in samples],
    }


def _num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.{digits}f}" if value < 10 else f"{value:.1f}"


def _x(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×" if value < 10 else f"{value:,.1f}×"


def table(results: dict) -> str:
    head = ["figure", "n", "median s", "min s", "max s", "per driver ms", "÷ one pass", "÷ pass + writes"]
    rows: list[list[str]] = []
    runs = results.get("runs", {})
    labels = {
        "run": "settlement run (settle_all + commit)",
        "one_pass": "one pass reading the rows (baseline)",
        "pass_and_writes": "one pass + the same writes (baseline)",
    }
    bases = ("one_pass", "pass_and_writes")
    for key, label in labels.items():
        r = runs.get(key)
        if not r or not r["n"]:
            continue
        row = [label, str(r["n"]), *(_num(r[k], 3) for k in ("median_s", "min_s", "max_s")), _num(r["per_driver_ms"])]
        row += [_x(1.0 if key == base else results["ratios"].get(f"{key}_to_{base}")) for base in bases]
        rows.append(row)
    widths = [max(len(row[i]) if i < len(row) else 0 for row in [head, *rows]) for i in range(len(head))]
    out = ["  ".join(c.ljust(w) for c, w in zip(head, widths, strict=True)).rstrip()]
    out.append("  ".join("-" * w for w in widths))
    for row in rows:
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    paired = results["ratios"].get("paired_run_to_one_pass")
    if paired:
        out.append(
            f"paired ratios (each repetition's run ÷ the baselines of the same round), median: "
            f"{_x(paired)} one pass, {_x(results['ratios'].get('paired_run_to_pass_and_writes'))} pass + writes"
        )
    st = results.get("statement")
    if st:
        s, b = st["statement"], st["baseline"]
        out.append("")
        head2 = ["figure", "n", "lines", "p50 ms", "p99 ms", "max ms", "p50 ÷ SELECT", "p99 ÷ SELECT"]
        rows2 = [
            ["statement() for one driver's week", str(s["n"]), _num(st["lines_p50"], 0), _num(s["p50_ms"])],
            ["  one Core SELECT of the same lines (baseline)", str(b["n"]), "", _num(b["p50_ms"])],
        ]
        rows2[0] += [_num(s["p99_ms"]), _num(s["max_ms"]), _x(st["ratio_p50"]), _x(st["ratio_p99"])]
        rows2[1] += [_num(b["p99_ms"]), _num(b["max_ms"]), "", ""]
        widths2 = [max(len(row[i]) for row in [head2, *rows2]) for i in range(len(head2))]
        out.append("  ".join(c.ljust(w) for c, w in zip(head2, widths2, strict=True)).rstrip())
        out.append("  ".join("-" * w for w in widths2))
        for row in rows2:
            out.append("  ".join(c.ljust(w) for c, w in zip(row, widths2, strict=True)).rstrip())
    traced = results.get("traced")
    if traced:
        kinds = ", ".join(f"{k} {v:,}" for k, v in traced["statements"].items())
        out.append("")
        out.append(
            f"SQL of one run: {traced['statements_total']:,} statements "
            f"({traced['statements_total'] / max(results['counts']['drivers'], 1):.1f} a driver: {kinds}); "
            f"time in the DBAPI's execute {traced['dbapi_execute_s']} s of {traced['wall_s']} s "
            f"({traced['dbapi_execute_pct']} %)"
        )
    profile = results.get("profile")
    if profile:
        out.append(
            f"cProfile of one run ({profile['profiled_s']} s profiled, {profile['wall_s']} s wall; "
            f"sqlite3 C calls {profile['sqlite_c_calls_pct']} % of it) — the application's functions, cumulative:"
        )
        for r in profile["app_cumulative"][:10]:
            out.append(f"  {r['share_pct']:5.1f} %  {r['cumtime_s']:8.2f} s  {r['calls']:>8,}  {r['function']}")
        out.append("  top self time:")
        for r in profile["top_self"][:12]:
            out.append(f"  {r['share_pct']:5.1f} %  {r['tottime_s']:8.2f} s  {r['calls']:>8,}  {r['function']}")
    checks = results.get("checks", {})
    if checks:
        out.append(
            f"checks: {checks.get('dataset', {}).get('lines_checked_in_sql', 0):,} trip lines' arithmetic in SQL; "
            f"{checks.get('dataset', {}).get('lines_posted_again', 0):,} lines of "
            f"{checks.get('dataset', {}).get('drivers_posted_again', 0)} drivers posted again by post_trip, identical; "
            f"run: {checks.get('run', 'not run')}; baseline rows = run rows: {checks.get('same_rows', 'not compared')}"
        )
    build = results.get("build", {})
    out.append(
        f"data set: {results['counts']['drivers']:,} drivers, {build.get('trips', 0):,} trips, "
        f"{build.get('worked_days', 0):,} worked days, week {build.get('start')} – {build.get('end')}; built in "
        f"{build.get('seconds')} s ({build.get('megabytes')} MB); whole run {results.get('run_seconds')} s; "
        f"code {results['code']}"
    )
    return "\n".join(out)


# -- the run ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.settlement_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="of 500 drivers and 100,000 trips (default 1)")
    parser.add_argument("--repeats", type=int, default=7, help="repetitions of the run and of each baseline")
    parser.add_argument("--budget", type=float, default=360, help="seconds for the repetitions (at least 2 each)")
    parser.add_argument("--statements", type=int, default=1000, help="timed statement() calls (default 1,000)")
    parser.add_argument("--no-profile", action="store_true", help="skip the profiled and traced runs")
    parser.add_argument("--seed", type=int, default=20_240_601)
    parser.add_argument("--time-limit", type=float, default=900, help="seconds after which the run stops itself")
    args = parser.parse_args(argv)
    if not 0.001 <= args.scale <= 10:
        parser.error("--scale between 0.001 and 10 please")
    counts = {
        "drivers": max(2, round(FULL_DRIVERS * args.scale)),
        "trips": max(100, round(FULL_TRIPS * args.scale)),
    }
    now = datetime.now(UTC).replace(microsecond=0)
    results = results_header("settlements", now, scale=args.scale, counts=counts, runs={}, ratios={}, checks={})
    started = time.perf_counter()
    status = 0
    workdir = Path(tempfile.mkdtemp(prefix="cabdesk-settlements-"))
    master, work = workdir / "built.sqlite3", workdir / "work.sqlite3"
    with time_limited(results, args.time_limit, workdir):
        from core.extensions import db

        app = make_app(work, workdir / "instance")
        log(f"building {counts['drivers']:,} drivers and {counts['trips']:,} trips in {workdir}")
        with app.app_context():
            built = load_dataset(counts, args.seed, now)
            start, end, plan_id = built["start"], built["end"], built["plan_id"]
            db.session.remove()
            db.engine.dispose()
        shutil.copyfile(work, master)
        built["megabytes"] = round(master.stat().st_size / 1e6)
        results["build"] = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in built.items()}
        log(f"built in {built['seconds']} s ({built['megabytes']} MB): week {start} – {end}")
        with app.app_context():
            results["checks"]["dataset"] = check_dataset(random.Random(args.seed + 1), built)
            log(f"data set checked against post_trip: {results['checks']['dataset']}")
        rng = random.Random(args.seed + 2)
        drivers = list(range(FIRST_DRIVER_ID, FIRST_DRIVER_ID + counts["drivers"]))

        with app.app_context():
            restore(master, work)
            connect()
            log(f"statement(): {args.statements} calls and as many baseline SELECTs, interleaved")
            results["statement"] = measure_statements(rng, start, end, now, drivers, args.statements)
            db.session.remove()

        samples: dict[str, list[float]] = {"run": [], "one_pass": [], "pass_and_writes": []}
        paired: dict[str, list[float]] = {"one_pass": [], "pass_and_writes": []}
        reference = None
        run_ok = True
        kinds = list(samples)
        budget_end = time.perf_counter() + args.budget
        for repetition in range(args.repeats):
            round_began = time.perf_counter()
            order = kinds[repetition % 3 :] + kinds[: repetition % 3]  # who goes first changes every round
            this_round = {}
            for kind in order:
                with app.app_context():
                    restore(master, work)
                    connect()
                    began = time.perf_counter()
                    if kind == "run":
                        outcome = settlement_run(start, end, now)
                    elif kind == "one_pass":
                        outcome = one_pass(end)
                    else:
                        outcome = one_pass_and_writes(start, end, now, plan_id)
                    seconds = time.perf_counter() - began
                    samples[kind].append(seconds)
                    this_round[kind] = seconds
                    if kind == "run" and "run" not in results["checks"]:
                        check = check_settled(built)
                        if outcome["refused"] or outcome["settled"] != counts["drivers"]:
                            check["problems"].append(f"{outcome['settled']} settled, refused: {outcome['refused']}")
                        run_ok = not check["problems"]
                        results["checks"]["run"] = "; ".join(check["problems"]) or (
                            f"{outcome['settled']} settled, none refused, every balance 0, "
                            f"{check['fee_lines']:,} shift fees"
                        )
                    if kind in ("run", "pass_and_writes") and results["checks"].get("same_rows") is None:
                        rows = written_rows()
                        if reference is None:
                            reference = (kind, rows)
                        elif reference[0] != kind:
                            same = reference[1] == rows
                            results["checks"]["same_rows"] = (
                                f"yes ({len(rows[0]):,} settlements, {len(rows[1]):,} lines)" if same else "NO"
                            )
                            if not same:
                                status = 1
                    db.session.remove()
            for kind in paired:
                paired[kind].append(this_round["run"] / this_round[kind])
            took = time.perf_counter() - round_began
            log(
                f"round {repetition + 1}: run {this_round['run']:.2f} s, one pass {this_round['one_pass']:.3f} s, "
                f"pass + writes {this_round['pass_and_writes']:.3f} s"
            )
            if repetition >= 1 and time.perf_counter() + took > budget_end:
                log(f"--budget of {args.budget:.0f} s: stopping after {repetition + 1} rounds")
                break
        for kind, values in samples.items():
            results["runs"][kind] = seconds_summary(values, counts["drivers"])
        medians = {kind: results["runs"][kind]["median_s"] for kind in samples}
        for kind, base in (
            ("run", "one_pass"),
            ("run", "pass_and_writes"),
            ("pass_and_writes", "one_pass"),
            ("one_pass", "pass_and_writes"),
        ):
            results["ratios"][f"{kind}_to_{base}"] = ratio(medians[kind], medians[base])
        results["ratios"]["paired_run_to_one_pass"] = round(percentile(paired["one_pass"], 0.5), 2)
        results["ratios"]["paired_run_to_pass_and_writes"] = round(percentile(paired["pass_and_writes"], 0.5), 2)
        if not run_ok:
            status = 1

        if not args.no_profile:
            with app.app_context():
                restore(master, work)
                connect()
                log("one more run with an SQL counter")
                results["traced"] = traced_run(start, end, now)
            with app.app_context():
                restore(master, work)
                connect()
                log("one more run under cProfile")
                results["profile"] = profiled_run(start, end, now, counts["drivers"])
                db.session.remove()
                db.engine.dispose()
    if results.get("timed_out"):
        status = 2
    results["run_seconds"] = round(time.perf_counter() - started, 1)
    results["load_after"] = round(os.getloadavg()[0], 1)
    print_results(
        f"Cabdesk driver settlements benchmark — SQLite, {counts['drivers']:,} drivers, {counts['trips']:,} trips "
        f"in one week — {results['date']}, {results['machine']}",
        table(results),
        results,
    )
    return status


if __name__ == "__main__":
    sys.exit(main())
