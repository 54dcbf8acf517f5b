"""The wallboard and reports benchmark (issue 7): every report of the catalog over a year of data, and the wallboard.

Run from the project root (see bench/README.md, "Wallboard and reports (issue 7)", for what every figure means)::

    .venv/bin/python -m bench.reports_bench                 # 1,000,000 trips, 2,000,000 calls: ~20 min with the build
    .venv/bin/python -m bench.reports_bench --scale 0.01    # a quick look (10,000 trips, 20,000 calls): about a minute

On a SQLite file built with the real migrations and loaded in bulk (a year of trips with their offers and feedback,
calls, complaints, subscribers in tiers; and a live floor: 50 agents, waiting calls, live bookings, pending offers,
drivers on the road):

- **every report of ``reports.catalog.CATALOG``** present at run time (and each choice of a ``by`` option as a row of
  its own), built by ``Entry.build(period, **options)`` in a test request context, over its default period and over
  a year, both ending on the data's last day; round after round in random order, each call followed by the
  baseline, a plain ``SELECT COUNT(*) FROM bookings``. **Target: every report's p99 under 1 s.**
- **the wallboard's refresh**: ``reports.floor.floor_snapshot(now)``, what ``supervisors.live.push_floor`` computes
  every 5 s whoever watches, interleaved with the same baseline; its cost per second is one snapshot ÷ 5 s.

Reports that miss the target are run once more with every SQL statement timed and its ``EXPLAIN QUERY PLAN``
printed. The run is bounded (``--time-limit``), and ends with one table and one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import sqlite3
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.processes import (
    BenchTimeout,
    generator_digest,
    log,
    percentile,
    print_results,
    redis_server,
    results_header,
    reusable_dataset,
    sqlite_bytes,
    time_limited,
)

BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = BENCH_DIR / ".data"
DATASET_VERSION = 2  # bump when the generated rows change (2: calls carry handle_seconds)

FULL_TRIPS = 1_000_000  # completed bookings, one feedback record each
FULL_CALLS = 2_000_000
FULL_SUBSCRIBERS = 100_000
FULL_TODAY_CALLS = 5_000  # a busy day at 16:00
CANCELLED_SHARE = 0.05  # bookings cancelled or no-show, on top of the trips
COMPLAINT_SHARE = 0.01  # complaints per trip
SUPERVISORS = 5
AGENTS = 50
DRIVERS = 300
FIRST_DRIVER_ID = 1001  # users 1..55 are staff; drivers' users, drivers and cars share ids from here
NOW_HOUR = 16  # the data's "now": the last 16:00 office time before the build
BATCH = 50_000
PUSH_INTERVAL_S = 5.0  # cron_jobs.py runs push_floor every 5 seconds
TARGET_P99_S = 1.0
YEAR_DAYS = 365
OFFICE_NUMBER = "+982188888888"

# Agents' states on the floor (50 agents): user ids in this order, from user 6.
AGENT_STATES = (("available", 10), ("on_call", 22), ("wrap_up", 6), ("away", 5), ("offline", 7))
# The live floor, whatever the scale.
WAITING_CALLS = 20
LIVE_BOOKINGS = (("requested", 45), ("scheduled", 15), ("offered", 30), ("assigned", 40), ("arrived", 20))
LIVE_BOOKINGS += (("on_trip", 50),)
DRIVER_STATES = (("available", 150), ("busy", 110), ("break", 25), ("offline", 15))
# Bookings by office hour (0..23): quiet nights, a morning and an evening peak.
HOUR_WEIGHTS = (2, 1, 1, 1, 1, 2, 4, 7, 9, 8, 7, 7, 7, 7, 7, 7, 8, 9, 9, 8, 7, 6, 4, 3)
CALL_KINDS = (  # (status, share) of calls; answered ones are "completed"
    ("completed", 0.86),
    ("abandoned", 0.075),
    ("menu", 0.005),
    ("voicemail", 0.015),
    ("callback", 0.015),
    ("complaint_line", 0.005),
    ("rejected", 0.005),
    ("outbound", 0.02),
)
CATEGORY_WEIGHTS = {
    "driver_behaviour": 25,
    "lateness": 22,
    "fare_dispute": 12,
    "vehicle_condition": 10,
    "route": 10,
    "lost_property": 8,
    "agent_conduct": 5,
    "other": 8,
}
DESCRIPTIONS = {
    "driver_behaviour": ("راننده بی‌ادب بود", "The driver was rude"),
    "lateness": ("راننده دیر رسید", "The car came late"),
    "fare_dispute": ("کرایه بیشتر از مبلغ اعلام شده بود", "Charged more than the quoted fare"),
    "vehicle_condition": ("ماشین کثیف بود", "The car was dirty"),
    "route": ("راننده مسیر طولانی رفت", "The driver took a long detour"),
    "lost_property": ("گوشی را در ماشین جا گذاشتم", "I left my phone in the taxi"),
    "agent_conduct": ("اپراتور تلفن را قطع کرد", "The operator hung up on me"),
    "other": ("از سرویس راضی نبودم", "Not happy with the service"),
}


# -- the data set -----------------------------------------------------------------------------------


def scaled(scale: float) -> dict:
    """How many of each thing at ``--scale`` (the live floor and the staff do not scale)."""
    trips = max(2000, round(FULL_TRIPS * scale))
    return {
        "trips": trips,
        "bookings": trips + round(trips * CANCELLED_SHARE),
        "calls": max(4000, round(FULL_CALLS * scale)),
        "today_calls": max(100, round(FULL_TODAY_CALLS * scale)),
        "subscribers": max(200, round(FULL_SUBSCRIBERS * scale)),
        "complaints": max(20, round(trips * COMPLAINT_SHARE)),
    }


def data_now(real: datetime, zone: str) -> datetime:
    """The data's "now": the last NOW_HOUR:00 office time at or before ``real``, so "today" has a day's calls."""
    local = real.astimezone(ZoneInfo(zone))
    moment = local.replace(hour=NOW_HOUR, minute=0, second=0, microsecond=0)
    if moment > local:
        moment -= timedelta(days=1)
    return moment.astimezone(UTC)


def mobile(subscriber_id: int) -> str:
    """A subscriber's mobile, E.164: unique, a bijection of the id."""
    return f"+98912{subscriber_id:07d}"


class Clock:
    """Whole seconds since the epoch written exactly as SQLAlchemy stores a UTC timestamp on SQLite."""

    def __init__(self):
        self.days: dict[int, str] = {}

    def __call__(self, seconds) -> str | None:
        """``YYYY-MM-DD HH:MM:SS.000000``; None stays None."""
        if seconds is None:
            return None
        seconds = int(seconds)
        day, rest = divmod(seconds, 86400)
        prefix = self.days.get(day)
        if prefix is None:
            prefix = self.days[day] = datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%d ")
        hours, rest = divmod(rest, 3600)
        minutes, secs = divmod(rest, 60)
        return f"{prefix}{hours:02d}:{minutes:02d}:{secs:02d}.000000"


class Loader:
    """Bulk INSERTs through the connection's own sqlite3 cursor, in its open transaction.

    Columns not given get the model's scalar default (as SQLAlchemy would send it) or the table's server default;
    a NOT NULL column of the migrated table that would get neither is an error before any row goes in.
    """

    def __init__(self, raw: sqlite3.Connection):
        self.raw = raw
        self.statements: dict[tuple, tuple[str, tuple]] = {}

    def _statement(self, table, columns: tuple[str, ...]) -> tuple[str, tuple]:
        key = (table.name, columns)
        if key in self.statements:
            return self.statements[key]
        real = {row[1]: row for row in self.raw.execute(f"PRAGMA table_info({table.name})")}
        fixed: dict[str, object] = {}
        for column in table.columns:
            if column.name in columns or column.name not in real:
                continue
            default = column.default
            if default is not None and default.is_scalar:
                value = default.arg
                fixed[column.name] = (
                    int(value) if isinstance(value, bool) else str(value) if isinstance(value, str) else value
                )
        names = (*columns, *fixed)
        for name, (_cid, _name, _type, notnull, server_default, primary) in real.items():
            if notnull and server_default is None and not primary and name not in names:
                raise SystemExit(f"{table.name}.{name} is NOT NULL with no default: the generator must give it")
        marks = ", ".join("?" * len(names))
        sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks})"  # noqa: S608 (names from the models)
        self.statements[key] = (sql, tuple(fixed.values()))
        return self.statements[key]

    def insert(self, table, columns: tuple[str, ...], rows: list[tuple]) -> None:
        """INSERT ``rows`` (tuples in the order of ``columns``) by one executemany."""
        if not rows:
            return
        sql, tail = self._statement(table, columns)
        self.raw.executemany(sql, [row + tail for row in rows] if tail else rows)


def office_moments(gen, count: int, midnights: list[int], last_day_hours: int = 24) -> list[int]:
    """``count`` whole-second moments over the office days starting at ``midnights``, by office hour, sorted.

    Days grow busier through the year (0.85 → 1.15) and Fridays (the Iranian weekend) are quieter; the last day
    has only its first ``last_day_hours`` hours.
    """
    import numpy

    days = len(midnights)
    trend = numpy.linspace(0.85, 1.15, days)
    friday = numpy.array([datetime.fromtimestamp(m + 43200, UTC).weekday() == 4 for m in midnights])
    cells = numpy.outer(trend * numpy.where(friday, 0.75, 1.0), numpy.array(HOUR_WEIGHTS, dtype=float))
    cells[-1, last_day_hours:] = 0.0
    chosen = gen.choice(cells.size, size=count, p=(cells / cells.sum()).ravel())
    day, hour = numpy.divmod(chosen, 24)
    moments = numpy.array(midnights, dtype=numpy.int64)[day] + hour * 3600 + gen.integers(0, 3600, size=count)
    moments.sort()
    return moments


def skewed_subscribers(gen, count: int, subscribers: int, share_known: float):
    """Subscriber ids, frequent customers (low ids) far more often; 0 where the customer is not a subscriber."""
    ids = 1 + (subscribers * gen.random(count) ** 1.7).astype("int64")
    ids[gen.random(count) >= share_known] = 0
    return ids


def tier_of(subscriber_id: int, subscribers: int) -> str:
    """Tiers follow how often the customer rides: the most frequent (lowest ids) are platinum."""
    rank = subscriber_id / subscribers
    return "platinum" if rank <= 0.01 else "gold" if rank <= 0.06 else "iron" if rank <= 0.25 else "lead"


def normalized(weights) -> list[float]:
    """Weights as probabilities."""
    total = float(sum(weights))
    return [w / total for w in weights]


BOOKING_COLUMNS = (
    "id",
    "status",
    "subscriber_id",
    "phone",
    "created_by_id",
    "pickup_text",
    "pickup_lat",
    "pickup_lon",
    "pickup_zone_id",
    "pickup_at",
    "vehicle_class",
    "currency",
    "fare_breakdown",
    "fare",
    "distance_km",
    "duration_min",
    "driver_id",
    "vehicle_id",
    "offer_tries",
    "assigned_at",
    "arrived_at",
    "started_at",
    "completed_at",
    "cancel_reason",
    "cancellation_fee",
    "created_at",
)
OFFER_COLUMNS = ("id", "booking_id", "driver_id", "offered_at", "expires_at", "outcome", "answered_at", "method")
OFFER_COLUMNS += ("eta_min",)
FEEDBACK_COLUMNS = (
    "id",
    "booking_id",
    "subscriber_id",
    "driver_id",
    "channel",
    "status",
    "rating",
    "requested_at",
    "answered_at",
    "phone",
    "due_at",
    "attempts",
    "expires_at",
    "last_error",
    "created_at",
)


def _handle_seconds(answered: float | None, end: float | None) -> int | None:
    """A call's handle time in whole seconds (half up), as calls.models keeps it; None before it ends."""
    return None if answered is None or end is None else max(0, int(end - answered + 0.5))


CALL_COLUMNS = ("id", "provider_sid", "direction", "from_number", "caller_e164", "to_number", "subscriber_id")
CALL_COLUMNS += ("agent_id", "status", "queued_at", "answered_at", "ended_at", "wrapped_up_at", "created_at")
CALL_COLUMNS += ("handle_seconds",)  # as calls.models' mapper events keep it: answer to wrap-up (or hang-up)
COMPLAINT_COLUMNS = (
    "id",
    "reference",
    "subscriber_id",
    "booking_id",
    "driver_id",
    "agent_id",
    "category",
    "severity",
    "status",
    "source",
    "description",
    "assigned_to_id",
    "respond_by",
    "resolved_at",
    "resolution",
    "zone_id",
    "first_response_at",
    "search_text",
    "created_by_id",
    "phone",
    "created_at",
)


class DataSet:
    """Generates a year of the office's records and its live floor, loads them, and keeps what later tables need."""

    def __init__(self, loader: Loader, counts: dict, seed: int, now: datetime, zone_name: str, zone_points: dict):
        import numpy

        from core.timewindows import office_date, office_midnight

        self.np = numpy
        self.loader = loader
        self.counts = counts
        self.rng = random.Random(seed + 10)
        self.gen = numpy.random.default_rng(seed)
        self.now = int(now.timestamp())
        self.clock = Clock()
        today = office_date(now, zone_name)
        days = [today - timedelta(days=YEAR_DAYS - 1 - n) for n in range(YEAR_DAYS)]
        self.midnights = [int(office_midnight(day, zone_name).timestamp()) for day in days]
        self.zone_points = zone_points
        self.zone_ids = list(zone_points)
        # Five districts four times as busy as the others; the airport (last) half as busy.
        self.zone_p = normalized([4.0 if i % 5 == 0 else 1.0 for i in range(len(self.zone_ids) - 1)] + [0.5])
        self.agents = list(range(SUPERVISORS + 1, SUPERVISORS + AGENTS + 1))
        self.agent_p = normalized([self.rng.uniform(0.5, 1.5) for _ in self.agents])
        self.supervisors = list(range(1, SUPERVISORS + 1))
        self.drivers = list(range(FIRST_DRIVER_ID, FIRST_DRIVER_ID + DRIVERS))
        self.driver_p = normalized([self.rng.uniform(0.5, 1.5) for _ in self.drivers])
        self.next_offer = 1
        self.trips: dict = {}

    def bookings(self) -> dict:
        """A year of bookings (trips and the cancelled), each driver's offers of them, and every trip's feedback."""
        from dispatch.models import Booking, DispatchOffer
        from feedback.models import Feedback

        np, gen, counts, clock = self.np, self.gen, self.counts, self.clock
        n = counts["bookings"]
        # Booked until 15:00 today, so that every trip has ended by "now" (16:00).
        created = office_moments(gen, n, self.midnights, NOW_HOUR - 1)
        status = np.zeros(n, dtype="int8")  # 0 completed, 1 cancelled, 2 no show
        lost = gen.choice(n, size=n - counts["trips"], replace=False)
        status[lost] = np.where(gen.random(len(lost)) < 0.8, 1, 2)
        subscriber = skewed_subscribers(gen, n, counts["subscribers"], 0.95)
        driver = gen.choice(self.drivers, size=n, p=self.driver_p)
        zone = gen.choice(self.zone_ids, size=n, p=self.zone_p)
        agent = gen.choice(self.agents, size=n, p=self.agent_p)
        agent[gen.random(n) < 0.15] = 0  # booked in the app or by the API: no agent
        minutes = np.round(gen.uniform(8, 45, n), 1)
        pickup = created + gen.integers(300, 900, n)
        completed = pickup + np.round(minutes * 60).astype("int64")
        assigned = created + gen.integers(20, 180, n)
        with_driver = (status != 1) | (gen.random(n) < 0.4)
        before = gen.random(n)  # < 0.08: a declined offer first; < 0.15: an expired one
        other = gen.choice(self.drivers, size=n)
        lead = gen.integers(3, 15, n)
        method = gen.random(n)
        eta = np.round(gen.uniform(2, 12, n), 1)
        answer = gen.random(n)
        rating = gen.choice([5, 4, 3, 2, 1], size=n, p=[0.55, 0.25, 0.10, 0.05, 0.05])
        answer_after = np.minimum(gen.lognormal(math.log(1200), 1.0, n), 40 * 3600).astype("int64")
        ivr = gen.random(n) < 0.1
        self.trips = {
            "index": np.flatnonzero(status == 0),
            "completed": completed,
            "subscriber": subscriber,
            "driver": driver,
            "agent": agent,
            "zone": zone,
        }
        points = self.zone_points
        trip_number = 0
        feedback_states: dict[str, int] = {}
        for first in range(0, n, BATCH):
            part = slice(first, min(first + BATCH, n))
            columns = [
                a[part].tolist()
                for a in (created, status, subscriber, driver, zone, agent, minutes, pickup, completed, assigned)
            ]
            columns += [a[part].tolist() for a in (with_driver, before, other, lead, method, eta)]
            columns += [a[part].tolist() for a in (answer, rating, answer_after, ivr)]
            bookings, offers, feedback = [], [], []
            for i, row in enumerate(zip(*columns, strict=True), start=first):
                (made, state, sub, drv, zn, agt, mins, pick, done, took, has_driver, first_try, other_drv, ahead) = row[
                    :14
                ]
                (how, eta_min, answered, stars, after, by_call) = row[14:]
                km = round(mins * 0.4, 1)
                lat, lon = points[zn]
                phone = mobile(sub) if sub else f"+98935{i:07d}"
                fare = int(round(300_000 + km * 90_000, -3))
                tries = 1 + (has_driver and first_try < 0.15)
                if state == 0:
                    times = (clock(took), clock(pick - 60), clock(pick), clock(done))
                    kind, reason, fee = "completed", "", 0
                elif state == 1:
                    times = (clock(took) if has_driver else None, None, None, None)
                    kind, reason, fee = "cancelled", "the customer cancelled", 0
                else:
                    times = (clock(took), clock(pick), None, None)
                    kind, reason, fee = "no_show", "the customer did not come", 200_000
                bookings.append(
                    (
                        i + 1,
                        kind,
                        sub or None,
                        phone,
                        agt or None,
                        "",
                        lat,
                        lon,
                        zn,
                        clock(pick),
                        "sedan",
                        "IRR",
                        "[]",
                        fare,
                        km,
                        mins,
                        drv if has_driver else None,
                        drv if has_driver else None,
                        tries if has_driver else 0,
                        *times,
                        reason,
                        fee,
                        clock(made),
                    )
                )
                if has_driver:
                    offered = took - ahead
                    if first_try < 0.15:
                        loser = other_drv if other_drv != drv else self.drivers[(drv - FIRST_DRIVER_ID + 1) % DRIVERS]
                        early = offered - 25
                        outcome, closed = ("declined", early + 5) if first_try < 0.08 else ("expired", early + 20)
                        times = (clock(early), clock(early + 20), outcome, clock(closed))
                        offers.append((self.next_offer, i + 1, loser, *times, "nearest", eta_min))
                        self.next_offer += 1
                    way = "queue" if how < 0.2 else "manual" if how < 0.25 else "nearest"
                    times = (clock(offered), clock(offered + 20), "accepted", clock(took))
                    offers.append((self.next_offer, i + 1, drv, *times, way, eta_min))
                    self.next_offer += 1
                if state != 0:
                    continue
                trip_number += 1
                feedback.append(self._feedback(trip_number, i + 1, sub, drv, done, answered, stars, after, by_call))
                feedback_states[feedback[-1][5]] = feedback_states.get(feedback[-1][5], 0) + 1
            self.loader.insert(Booking.__table__, BOOKING_COLUMNS, bookings)
            self.loader.insert(DispatchOffer.__table__, OFFER_COLUMNS, offers)
            self.loader.insert(Feedback.__table__, FEEDBACK_COLUMNS, feedback)
            if (first // BATCH) % 5 == 4:
                log(f"  {part.stop:,}/{n:,} bookings")
        return {"offers": self.next_offer - 1, "feedback": trip_number, "feedback_by_status": feedback_states}

    def _feedback(self, number, booking_id, sub, drv, done, answered, stars, after, by_call) -> tuple:
        """The trip's feedback request, in the state its age and the customer's answer left it."""
        clock, now = self.clock, self.now
        due = done + 600
        channel = "ivr" if by_call else "sms"
        requested = expires = rating = answered_at = None
        attempts, error = 0, ""
        if not sub:
            state, error = "skipped", "no subscriber to ask"
        elif due >= now:
            state = "scheduled"
        elif answered >= 0.94 and answered < 0.98:
            state, error = "skipped", "the subscriber opted out"
        else:
            requested, expires, attempts = due, due + 48 * 3600, 1
            if answered < 0.60 and due + after < now:
                state, rating, answered_at = "answered", stars, due + after
            elif answered < 0.94:
                state = "expired" if expires < now else "requested"
            else:
                state, attempts, error = "failed", 4, "Twilio: busy"
        return (
            number,
            booking_id,
            sub or None,
            drv,
            channel,
            state,
            rating,
            clock(requested),
            clock(answered_at),
            mobile(sub) if sub else "",
            clock(due),
            attempts,
            clock(expires),
            error,
            clock(done),
        )

    def calls(self) -> dict:
        """A year of calls (about two a trip), a busy today, and the calls live now: waiting and being answered."""
        from calls.models import Call

        np, gen, counts, clock, now = self.np, self.gen, self.counts, self.clock, self.now
        on_call = dict(AGENT_STATES)["on_call"]
        history = counts["calls"] - counts["today_calls"] - WAITING_CALLS - on_call
        queued = np.concatenate(
            [
                office_moments(gen, history, self.midnights[:-1]),
                office_moments(gen, counts["today_calls"], self.midnights[-1:], NOW_HOUR),
            ]
        )
        n = len(queued)
        kind = gen.choice(len(CALL_KINDS), size=n, p=normalized([share for _, share in CALL_KINDS]))
        subscriber = skewed_subscribers(gen, n, counts["subscribers"], 0.88)
        withheld = gen.random(n) < 0.03
        wait = np.clip(gen.lognormal(math.log(9), 0.9, n), 1, 900).astype("int64")
        talk = np.clip(gen.lognormal(math.log(85), 0.6, n), 5, 3600).astype("int64")
        wrap = np.clip(gen.lognormal(math.log(12), 0.7, n), 1, 600).astype("int64")
        wrapped = gen.random(n) < 0.9
        gave_up = np.clip(gen.lognormal(math.log(35), 1.0, n), 1, 1800).astype("int64")
        in_menu = gen.integers(30, 180, n)
        agent = gen.choice(self.agents, size=n, p=self.agent_p)
        statuses = [status for status, _ in CALL_KINDS]
        today_start = self.midnights[-1]
        today: dict[str, int] = {}
        for first in range(0, n, BATCH):
            part = slice(first, min(first + BATCH, n))
            columns = [a[part].tolist() for a in (queued, kind, subscriber, withheld, wait, talk, wrap, wrapped)]
            columns += [a[part].tolist() for a in (gave_up, in_menu, agent)]
            rows = []
            for i, (start, k, sub, hidden, waited, talked, wrapping, did_wrap, gone, menu, agt) in enumerate(
                zip(*columns, strict=True), start=first
            ):
                status = statuses[k]
                caller = None if hidden else mobile(sub) if sub else f"+98936{i % 10_000_000:07d}"
                direction, source, target = "inbound", caller or "anonymous", OFFICE_NUMBER
                answered = ended = wrapped_up = None
                who = None
                if status == "completed":
                    answered, who = start + waited, agt
                    ended = answered + talked
                    wrapped_up = ended + wrapping if did_wrap else None
                elif status == "abandoned":
                    ended = start + gone
                elif status == "rejected":
                    ended = start + 3
                elif status == "outbound":
                    status, direction, source, target = "completed", "outbound", OFFICE_NUMBER, caller or ""
                    answered, who = start + 15, agt
                    ended = answered + talked
                else:
                    ended = start + menu
                last = max(t for t in (start, answered, ended, wrapped_up) if t is not None)
                if last > now - 5:  # today's last calls: over by now
                    shift = last - now + 5
                    start, answered, ended = start - shift, answered and answered - shift, ended - shift
                    wrapped_up = wrapped_up and wrapped_up - shift
                joined = start if direction == "inbound" and status != "rejected" else None
                if start >= today_start:
                    today[status] = today.get(status, 0) + 1
                rows.append(
                    (
                        i + 1,
                        f"CA{i + 1:032x}",
                        direction,
                        source,
                        caller,
                        target,
                        sub or None,
                        who,
                        status,
                        clock(joined),
                        clock(answered),
                        clock(ended),
                        clock(wrapped_up),
                        clock(start - 2),
                        _handle_seconds(answered, wrapped_up or ended),
                    )
                )
            self.loader.insert(Call.__table__, CALL_COLUMNS, rows)
            if (first // BATCH) % 10 == 9:
                log(f"  {part.stop:,}/{counts['calls']:,} calls")
        # Live now: callers waiting in the queue, and the calls the agents on a call are answering.
        rows, self.live_calls = [], {}
        number = n
        for _ in range(WAITING_CALLS):
            number += 1
            start = now - self.rng.randint(5, 240)
            caller = mobile(self.rng.randint(1, counts["subscribers"]))
            rows.append((number, f"CA{number:032x}", "inbound", caller, caller, OFFICE_NUMBER, None, None, "queued"))
            rows[-1] += (clock(start), None, None, None, clock(start - 2), None)
        agents_on_call = self.agents[dict(AGENT_STATES)["available"] :][:on_call]
        for agent_id in agents_on_call:
            number += 1
            start = now - self.rng.randint(60, 600)
            caller = mobile(self.rng.randint(1, counts["subscribers"]))
            rows.append((number, f"CA{number:032x}", "inbound", caller, caller, OFFICE_NUMBER, None, agent_id))
            rows[-1] += ("answered", clock(start), clock(start + self.rng.randint(3, 30)), None, None)
            rows[-1] += (clock(start - 2), None)
            self.live_calls[agent_id] = number
        self.loader.insert(Call.__table__, CALL_COLUMNS, rows)
        return {"calls": number, "today_by_status": today}

    def complaints(self) -> dict:
        """About one complaint a hundred trips over the year, a backlog of a few thousand still open."""
        from core.text import normalize_persian
        from feedback.models import Complaint

        np, gen, clock, now, rng = self.np, self.gen, self.clock, self.now, self.rng
        trips = self.trips
        count = self.counts["complaints"]
        picked = gen.choice(trips["index"], size=count, replace=False)
        delay = np.clip(gen.lognormal(math.log(3 * 3600), 1.2, count), 60, 30 * 86400).astype("int64")
        created = np.minimum(trips["completed"][picked] + delay, now - 60)
        order = np.argsort(created, kind="stable")
        categories, weights = list(CATEGORY_WEIGHTS), list(CATEGORY_WEIGHTS.values())
        rows, open_count = [], 0
        for number, j in enumerate(order.tolist(), start=1):
            i = int(picked[j])
            opened = int(created[j])
            category = rng.choices(categories, weights=weights)[0]
            about_trip = not (category in ("agent_conduct", "other") and rng.random() < 0.3)
            subscriber = int(trips["subscriber"][i]) or None
            age = (now - opened) / 86400
            if age < 1:
                status_weights = (70, 25, 5, 0)
            elif age < 7:
                status_weights = (20, 45, 30, 5)
            else:
                status_weights = (8, 20, 60, 12)
            status = rng.choices(("new", "investigating", "resolved", "rejected"), weights=status_weights)[0]
            open_count += status in ("new", "investigating")
            responded = resolved = None
            if status != "new":
                responded = min(now - 30, opened + int(3600 * rng.lognormvariate(math.log(5), 1.2)))
                if status in ("resolved", "rejected"):
                    resolved = min(now - 10, responded + int(3600 * rng.lognormvariate(math.log(24), 1.0)))
            persian = rng.random() < 0.75
            description = DESCRIPTIONS[category][0 if persian else 1]
            resolution = "" if resolved is None else ("پیگیری شد" if persian else "Followed up")
            reference = f"C-{number:06d}"
            source = rng.choices(("phone", "agent", "sms"), weights=(45, 35, 20))[0]
            agent = int(trips["agent"][i]) or None
            rows.append(
                (
                    number,
                    reference,
                    subscriber,
                    i + 1 if about_trip else None,
                    int(trips["driver"][i]) if about_trip else None,
                    agent if about_trip else None,
                    category,
                    rng.choices((1, 2, 3), weights=(25, 55, 20))[0],
                    status,
                    source,
                    description,
                    rng.choice(self.supervisors) if status != "new" else None,
                    clock(opened + 24 * 3600),
                    clock(resolved),
                    resolution,
                    int(trips["zone"][i]) if about_trip else None,
                    clock(responded),
                    normalize_persian(" ".join(p for p in (reference, description, resolution) if p)),
                    agent if source in ("phone", "agent") else None,
                    mobile(subscriber) if subscriber else "",
                    clock(opened),
                )
            )
        self.loader.insert(Complaint.__table__, COMPLAINT_COLUMNS, rows)
        return {"complaints": count, "open": open_count}

    def floor(self) -> dict:
        """The floor now: agents' states, drivers' states and positions, live bookings and offers out."""
        from calls.models import AgentPresence
        from dispatch.models import Booking, DispatchOffer

        clock, now, rng = self.clock, self.now, self.rng
        presence, agents = [], iter(self.agents)
        for state, count in AGENT_STATES:
            for _ in range(count):
                agent_id = next(agents)
                presence.append((agent_id, state, clock(now - rng.randint(10, 1800)), self.live_calls.get(agent_id)))
        self.loader.insert(AgentPresence.__table__, ("user_id", "state", "since", "call_id"), presence)
        states, drivers = [], iter(self.drivers)
        by_state: dict[str, list[int]] = {}
        for state, count in DRIVER_STATES:
            for _ in range(count):
                driver_id = next(drivers)
                by_state.setdefault(state, []).append(driver_id)
                states.append(
                    (state, clock(now - rng.randint(60, 4 * 3600)), clock(now - rng.randint(0, 60)), driver_id)
                )
        self.loader.raw.executemany(
            "UPDATE drivers SET status = ?, status_changed_at = ?, last_seen_at = ? WHERE id = ?", states
        )
        # Offered bookings go to available drivers (they stay available until they accept); the rest are busy.
        holders = {"offered": iter(by_state["available"]), "held": iter(by_state["busy"])}
        bookings, offers = [], []
        number = self.counts["bookings"]
        for state, count in LIVE_BOOKINGS:
            for _ in range(count):
                number += 1
                zone = rng.choices(self.zone_ids, weights=self.zone_p)[0]
                lat, lon = self.zone_points[zone]
                made = now - rng.randint(0, 2400)
                pickup = made + 600
                if state == "scheduled":
                    made, pickup = now - rng.randint(3600, 36000), now + rng.randint(3600, 72000)
                driver = None
                if state == "offered":
                    driver = next(holders["offered"])
                elif state != "requested" and state != "scheduled":
                    driver = next(holders["held"])
                took = made + rng.randint(20, 180) if driver and state != "offered" else None
                arrived = took + 300 if took and state in ("arrived", "on_trip") else None
                began = arrived + 60 if arrived and state == "on_trip" else None
                subscriber = rng.randint(1, self.counts["subscribers"])
                who = (number, state, subscriber, mobile(subscriber), rng.choice(self.agents))
                where = ("", lat, lon, zone, clock(pickup), "sedan", "IRR", "[]", 800_000, 5.5, 14.0)
                times = (clock(took), clock(arrived), clock(began), None)
                bookings.append((*who, *where, driver, driver, int(driver is not None), *times, "", 0, clock(made)))
                if state == "offered":
                    expires = now + rng.randint(1, 19)
                    offers.append((self.next_offer, number, driver, clock(expires - 20), clock(expires), "pending"))
                    offers[-1] += (None, "nearest", 4.0)
                    self.next_offer += 1
                elif driver:
                    offers.append((self.next_offer, number, driver, clock(took - 5), clock(took + 15), "accepted"))
                    offers[-1] += (clock(took), "nearest", 4.0)
                    self.next_offer += 1
        self.loader.insert(Booking.__table__, BOOKING_COLUMNS, bookings)
        self.loader.insert(DispatchOffer.__table__, OFFER_COLUMNS, offers)
        return {
            "agents": {state: count for state, count in AGENT_STATES},
            "drivers": {state: len(ids) for state, ids in by_state.items()},
            "live_bookings": dict(LIVE_BOOKINGS),
            "waiting_calls": WAITING_CALLS,
        }


def load_dataset(counts: dict, seed: int, now: datetime) -> dict:
    """Migrate, then staff, zones, drivers, subscribers; a year of bookings, offers, feedback, calls, complaints."""
    import logging

    from flask import current_app
    from flask_migrate import upgrade
    from shapely.geometry import shape
    from sqlalchemy import insert
    from werkzeug.security import generate_password_hash

    from accounts.models import User
    from bench.common import add_tehran_zones, insert_drivers, points_in_tehran, subscriber_row
    from core.extensions import db
    from crm.models import Subscriber, SubscriberPhone
    from crm.services import search_key_of
    from demo.people import FEMALE_NAMES, MALE_NAMES, SURNAMES

    rng = random.Random(seed)
    started = time.perf_counter()
    upgrade()
    logging.getLogger("alembic").setLevel(logging.WARNING)
    zones = add_tehran_zones()
    zone_points = {}
    for zone in zones.values():
        point = shape(zone.boundary).representative_point()
        zone_points[zone.id] = (round(point.y, 6), round(point.x, 6))
    password_hash = generate_password_hash("reports-bench: these users never log in")
    long_ago = now - timedelta(days=400)
    users = [
        {
            "id": number,
            "username": f"bench-{role}-{number}",
            "display_name": f"Bench {role} {number}",
            "password_hash": password_hash,
            "role": role,
            "language": "en",
            "calendar": "gregorian",
            "created_at": long_ago,
        }
        for role, number in [("supervisor", n) for n in range(1, SUPERVISORS + 1)]
        + [("agent", n) for n in range(SUPERVISORS + 1, SUPERVISORS + AGENTS + 1)]
    ]
    first_names = [fa for fa, _ in MALE_NAMES + FEMALE_NAMES]
    surnames = [fa for fa, _ in SURNAMES]
    subscribers = counts["subscribers"]
    with db.engine.connect() as connection:
        raw = connection.connection.driver_connection
        raw.execute("PRAGMA synchronous=OFF")  # outside a transaction: SQLAlchemy's BEGIN comes with the first row
        raw.execute("PRAGMA cache_size=-1000000")
        connection.execute(insert(User.__table__), users)
        insert_drivers(connection, FIRST_DRIVER_ID, points_in_tehran(rng, DRIVERS), long_ago, "offline")
        for first in range(1, subscribers + 1, BATCH):
            rows, phones = [], []
            for number in range(first, min(first + BATCH, subscribers + 1)):
                name = f"{rng.choice(first_names)} {rng.choice(surnames)}"
                e164 = mobile(number)
                row = subscriber_row(number, name, search_key_of(name, [(e164, "0" + e164[3:])], []), long_ago)
                row.update(tier=tier_of(number, subscribers), tier_updated_at=now - timedelta(days=30))
                rows.append(row)
                phones.append({"subscriber_id": number, "e164": e164, "kind": "mobile", "created_at": long_ago})
            connection.execute(insert(Subscriber.__table__), rows)
            connection.execute(insert(SubscriberPhone.__table__), phones)
        log(f"  {len(users)} staff, {DRIVERS} drivers, {len(zones)} zones, {subscribers:,} subscribers")
        data = DataSet(Loader(raw), counts, seed, now, current_app.config["OFFICE_TIMEZONE"], zone_points)
        built = {"bookings": data.bookings()}
        log(f"  bookings, offers and feedback loaded ({time.perf_counter() - started:.0f} s)")
        built["calls"] = data.calls()
        log(f"  calls loaded ({time.perf_counter() - started:.0f} s)")
        built["complaints"] = data.complaints()
        built["floor"] = data.floor()
        connection.commit()
        raw.execute("PRAGMA synchronous=NORMAL")
        raw.execute("PRAGMA cache_size=-2000")
    db.engine.dispose()
    built["rollups"] = rebuild_rollups()
    with db.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.engine.dispose()
    return {"seconds": round(time.perf_counter() - started, 1), **built}


def rebuild_rollups() -> dict:
    """What the application keeps beside the rows loaded in bulk, rebuilt by its own code for such loads.

    ``crm.activity.rebuild_months`` (the subscribers' trips per office month, read by retention and cohorts) when
    the application has it: bookings inserted here bypass ``count_trip``, and the migration filled it while the
    table was still empty.
    """
    from core.extensions import db

    try:
        from crm.activity import rebuild_months
    except ImportError:
        return {}
    started = time.perf_counter()
    rows = rebuild_months()
    db.session.commit()
    db.session.remove()
    log(
        f"  subscriber_months rebuilt by crm.activity.rebuild_months: {rows:,} rows "
        f"({time.perf_counter() - started:.0f} s)"
    )
    return {"subscriber_months": rows}


def dataset_stamp(args, counts: dict) -> dict:
    """What a cached data set was built from: the migrations as they are now, the generator, the sizes, the seed."""
    generator = (Clock, Loader, DataSet, office_moments, skewed_subscribers, tier_of, load_dataset, mobile)
    generator += (rebuild_rollups,)
    constants = (HOUR_WEIGHTS, CALL_KINDS, CATEGORY_WEIGHTS, DESCRIPTIONS, AGENT_STATES, DRIVER_STATES, LIVE_BOOKINGS)
    constants += (WAITING_CALLS, NOW_HOUR, YEAR_DAYS, BOOKING_COLUMNS, CALL_COLUMNS, FEEDBACK_COLUMNS, OFFER_COLUMNS)
    # crm/activity.py is what rebuild_rollups runs: a change to it changes the rows it writes.
    digest = generator_digest(generator, constants, files=("crm/activity.py",))
    return {
        "version": DATASET_VERSION,
        "migrations_and_generator": digest,
        **counts,
        "seed": args.seed,
    }


def make_app(path: Path, redis_url: str):
    """The real application on the SQLite file, with a Redis of its own (the zone index asks it for its version)."""
    os.environ.setdefault("SECRET_KEY", "reports-bench")  # else load_config() writes instance/secret_key
    os.environ.setdefault("CABDESK_INSTANCE", str(DATA_DIR / "instance"))
    from core.app import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
            "REDIS_URL": redis_url,
            "SOCKETIO_MESSAGE_QUEUE": None,
            "SECRET_KEY": "reports-bench",
        }
    )


def table_counts() -> dict:
    """Rows of the big tables, as the data set holds them."""
    from sqlalchemy import text

    from core.extensions import db

    names = ["bookings", "calls", "feedback", "complaints", "dispatch_offers", "subscribers", "agent_presence"]
    if db.session.scalar(text("SELECT count(*) FROM sqlite_master WHERE name = 'subscriber_months'")):
        names.append("subscriber_months")
    found = {name: db.session.scalar(text(f"SELECT COUNT(*) FROM {name}")) for name in names}  # noqa: S608 (fixed names)
    db.session.rollback()
    return found


def prepare_dataset(app, path: Path, args, counts: dict) -> dict:
    """Reuse the data set when its stamp and row counts say it is the one asked for; otherwise build it."""
    from flask import current_app

    from core.extensions import db

    def reuse(saved: dict) -> dict | None:
        with app.app_context():
            found = table_counts()
            db.session.remove()
            db.engine.dispose()
        if found == saved["rows"]:
            log(f"reusing {path.name} (built {saved['built_at']}, its now {saved['now']})")
            return {"reused": True, "seconds": None, **saved}
        log(f"{path.name} does not hold the rows it was built with ({found}): rebuilding it")
        return None

    def build() -> tuple[dict, dict]:
        log(
            f"building {path.name}: {counts['trips']:,} trips ({counts['bookings']:,} bookings), "
            f"{counts['calls']:,} calls, {counts['complaints']:,} complaints, {counts['subscribers']:,} subscribers"
        )
        with app.app_context():
            now = data_now(datetime.now(UTC), current_app.config["OFFICE_TIMEZONE"])
            built = load_dataset(counts, args.seed, now)
            check_dataset(now)
            rows = table_counts()
            db.session.remove()
            db.engine.dispose()
        size = sqlite_bytes(path)
        saved = {
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "now": now.isoformat(),
            "rows": rows,
            "megabytes": round(size / 1e6),
            "generated": {k: v for k, v in built.items() if k != "seconds"},
            "build_seconds": built["seconds"],
        }
        log(f"built in {built['seconds']:.0f} s, {size / 1e6:,.0f} MB: {rows}")
        return saved, {"reused": False, "seconds": built["seconds"], **saved}

    return reusable_dataset(path, dataset_stamp(args, counts), args.rebuild, build, reuse)


def check_dataset(now: datetime) -> None:
    """The bulk-loaded rows read back through the ORM as the application's own: timestamps, states, links."""
    import re

    from sqlalchemy import func, select, text

    from calls.models import Call
    from core.extensions import db
    from dispatch.models import Booking
    from feedback.models import Complaint, Feedback

    written_by_sqlalchemy = db.session.scalar(text("SELECT created_at FROM users ORDER BY id LIMIT 1"))
    written_here = db.session.scalar(text("SELECT created_at FROM bookings ORDER BY id LIMIT 1"))
    shape_ = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")
    if not (shape_.fullmatch(written_by_sqlalchemy or "") and shape_.fullmatch(written_here or "")):
        raise SystemExit(f"timestamps differ: SQLAlchemy writes {written_by_sqlalchemy!r}, the bench {written_here!r}")
    booking = db.session.scalars(select(Booking).where(Booking.status == "completed").limit(1)).one()
    feedback = db.session.scalars(select(Feedback).where(Feedback.booking_id == booking.id)).one()
    call = db.session.get(Call, 1)
    complaint = db.session.scalars(select(Complaint).limit(1)).one()
    problems = []
    if not (booking.created_at < booking.assigned_at < booking.started_at < booking.completed_at < now):
        problems.append(f"booking {booking.id} times out of order")
    if feedback.created_at != booking.completed_at or feedback.driver_id != booking.driver_id:
        problems.append(f"feedback {feedback.id} does not match its trip")
    if call.queued_at is None and call.direction == "inbound" and call.status != "rejected":
        problems.append("call 1 has no queue time")
    if complaint.created_at.tzinfo is None or complaint.respond_by <= complaint.created_at:
        problems.append("complaint 1's times are wrong")
    late = db.session.scalar(select(func.count()).select_from(Call).where(Call.ended_at > now))
    if late:
        problems.append(f"{late} calls end after now")
    if db.session.scalar(text("SELECT count(*) FROM sqlite_master WHERE name = 'subscriber_months'")):
        rolled = db.session.scalar(text("SELECT coalesce(sum(trips), 0) FROM subscriber_months"))
        trips = db.session.scalar(
            select(func.count()).where(Booking.status == "completed", Booking.subscriber_id.is_not(None))
        )
        if rolled != trips:
            problems.append(f"subscriber_months counts {rolled:,} trips, the bookings {trips:,}")
    db.session.rollback()
    db.session.expunge_all()
    if problems:
        raise SystemExit("the generated data set is wrong: " + "; ".join(problems))


# -- measuring --------------------------------------------------------------------------------------


class Watchdog:
    """Interrupts the SQLite statements in flight once the run's time is up.

    ``arm_time_limit``'s alarm (like SIGTERM) is handled by Python only when SQLite's C call returns, and one
    report on a bad plan can run for minutes: ``sqlite3.Connection.interrupt`` ends the statement from this thread.
    """

    def __init__(self, engine, seconds: float):
        from sqlalchemy import event

        self.connections: list[sqlite3.Connection] = []
        self.fired = False
        event.listen(engine, "connect", lambda dbapi_connection, _record: self.connections.append(dbapi_connection))
        self.timer = threading.Timer(seconds, self.fire)
        self.timer.daemon = True
        self.timer.start()

    def fire(self) -> None:
        """Interrupt whatever every connection is running."""
        self.fired = True
        for connection in self.connections:
            with contextlib.suppress(Exception):  # closed connections refuse
                connection.interrupt()

    def cancel(self) -> None:
        """The run ended in time."""
        self.timer.cancel()


def ms(seconds: float | None) -> float | None:
    """Seconds as milliseconds, two decimals."""
    return None if seconds is None else round(seconds * 1000, 2)


def stats(samples: list[float]) -> dict:
    """n, p50, p99 and max in milliseconds (nearest rank: with fewer than 100 samples the p99 is the max)."""
    return {
        "n": len(samples),
        "p50_ms": ms(percentile(samples, 0.5)),
        "p99_ms": ms(percentile(samples, 0.99)),
        "max_ms": ms(max(samples) if samples else None),
    }


def ratio(value: float | None, base: float | None) -> float | None:
    """value ÷ base, two decimals; None when either is missing."""
    return None if value is None or not base else round(value / base, 2)


def count_trips() -> float:
    """The baseline: one plain ``SELECT COUNT(*)`` over the trips table, in seconds."""
    from sqlalchemy import text

    from core.extensions import db

    started = time.perf_counter()
    db.session.scalar(text("SELECT COUNT(*) FROM bookings"))
    seconds = time.perf_counter() - started
    db.session.rollback()
    return seconds


def report_variants() -> list[tuple[str, object, dict]]:
    """Every report of the catalog now, with its default options, and one more row per other ``by`` choice."""
    from reports.catalog import CATALOG

    variants = []
    for name, entry in CATALOG.items():
        chosen = entry.read_options({})
        variants.append((name, entry, chosen))
        for value, _label in entry.options.get("by", ()):
            if value != chosen.get("by"):
                variants.append((f"{name}?by={value}", entry, {**chosen, "by": value}))
    return variants


def report_periods(entry, last_day: date, zone: str) -> dict:
    """The report's default period and a year, both ending on the data's last day."""
    from reports.base import read_period

    year = {"from": (last_day - timedelta(days=YEAR_DAYS - 1)).isoformat(), "to": last_day.isoformat()}
    return {
        "default": read_period({}, last_day, zone, entry.default_days),
        "year": read_period(year, last_day, zone, entry.default_days),
    }


def build_report(app, entry, period, options: dict) -> tuple[float, int]:
    """One report built as the page builds it, in a request context; (seconds, rows). The session is emptied after."""
    from core.extensions import db

    with app.test_request_context(headers={"Accept-Language": "en"}):
        started = time.perf_counter()
        report = entry.build(period, **options)
        seconds = time.perf_counter() - started
    db.session.expunge_all()  # the next call goes to the database, not the identity map
    db.session.rollback()
    return seconds, len(report.rows)


def fill_live_index(now: datetime) -> int:
    """Every driver on duty in Redis' live index, at the position the database keeps, as the phones leave it.

    The wallboard reads positions from the live index first (``dispatch.board.sightings``); the throwaway
    redis-server starts empty, and a real one holds every driver on the road. Written by the application's
    ``drivers.positions.record``; seen a few seconds to a minute before ``now``.
    """
    from sqlalchemy import select

    from core.extensions import db
    from core.queues import redis_connection
    from drivers import positions
    from drivers.models import Driver, DriverStatus

    rng = random.Random(7)
    redis = redis_connection()
    on_duty = db.session.execute(
        select(Driver.id, Driver.status, Driver.last_lat, Driver.last_lon).where(
            Driver.status.in_((DriverStatus.AVAILABLE, DriverStatus.BUSY)), Driver.last_lat.is_not(None)
        )
    ).all()
    db.session.rollback()
    for driver_id, status, lat, lon in on_duty:
        seen = now.timestamp() - rng.uniform(2, 60)
        positions.record(redis, driver_id, lat, lon, seen, status == DriverStatus.AVAILABLE)
    return len(on_duty)


def measure_floor(now: datetime, args, state: dict) -> None:
    """floor_snapshot(now) and the COUNT baseline in random order, until --floor-repeats or the floor's budget."""
    from core.extensions import db
    from reports.floor import floor_snapshot

    rng = random.Random(args.seed + 3)
    samples, counts = state.setdefault("samples", []), state.setdefault("count_samples", [])
    for _ in range(3):  # warm-up: imports, compiled statements, the zone index
        snapshot = floor_snapshot(now)
        db.session.expunge_all()
        db.session.rollback()
    state["snapshot"] = snapshot
    deadline = time.monotonic() + args.floor_budget
    for _ in range(args.floor_repeats):
        for name in rng.sample(["floor", "count"], 2):
            if name == "count":
                counts.append(count_trips())
                continue
            started = time.perf_counter()
            floor_snapshot(now)
            samples.append(time.perf_counter() - started)
            # push_floor runs each time in a fresh app context: nothing stays in the identity map between pushes.
            db.session.expunge_all()
            db.session.rollback()
        if time.monotonic() > deadline:
            break


def floor_summary(state: dict) -> dict:
    """The floor's figures: the snapshot's times, its cost per second of wall time, and what it showed."""
    figures = stats(state.get("samples", []))
    count = stats(state.get("count_samples", []))
    out = {**figures, "count_baseline": count, "p50_to_count": ratio(figures["p50_ms"], count["p50_ms"])}
    out["drivers_in_live_index"] = state.get("live_index")
    for key in ("p50", "p99"):
        value = figures[f"{key}_ms"]
        out[f"cpu_share_{key}"] = None if value is None else round(value / 1000 / PUSH_INTERVAL_S, 4)
    snapshot = state.get("snapshot")
    if snapshot:
        out["showed"] = {
            "waiting": snapshot["waiting"]["count"],
            "longest_wait": snapshot["waiting"]["longest_wait"],
            "today": snapshot["today"],
            "last_hour": snapshot["last_hour"],
            "agents": snapshot["agents"],
            "bookings": snapshot["bookings"],
            "offers": snapshot["offers"],
            "free_drivers": sum(zone["count"] for zone in snapshot["free_drivers"]),
            "free_driver_zones": len(snapshot["free_drivers"]),
            "complaints": snapshot["complaints"],
        }
    if "trace" in state:
        out["trace"] = state["trace"]
    return out


def measure_reports(app, args, last_day: date, zone: str, deadline: float, state: dict) -> None:
    """A warm-up round, then rounds of every (report, period) in random order, each followed by the COUNT baseline.

    A round is started only if the last one would fit before ``deadline``, so every report has as many samples.
    """
    from core.extensions import db

    rng = random.Random(args.seed + 4)
    tasks = []
    for label, entry, options in report_variants():
        for period_name, period in report_periods(entry, last_day, zone).items():
            tasks.append((label, period_name, entry, period, options))
    state["tasks"] = [(t[0], t[1], t[3].first.isoformat(), t[3].last.isoformat(), t[4]) for t in tasks]
    samples = state.setdefault("samples", {(t[0], t[1]): [] for t in tasks})
    counts = state.setdefault("count_samples", [])
    rows, errors, warm = state.setdefault("rows", {}), state.setdefault("errors", {}), state.setdefault("warm", {})
    state["rounds"] = 0
    log(f"reports: {len(tasks) // 2} reports × 2 periods; warm-up round")
    round_started = time.monotonic()
    for label, period_name, entry, period, options in tasks:
        if label in errors:
            continue
        try:
            seconds, rows[(label, period_name)] = build_report(app, entry, period, options)
        except Exception as exc:  # a report being written right now: say so, time the others
            if state.get("watchdog") is not None and state["watchdog"].fired:
                raise BenchTimeout from exc
            errors[label] = f"{type(exc).__name__}: {str(exc)[:300]}"
            log(f"  {label} raised {errors[label]}")
            db.session.rollback()
            continue
        warm[(label, period_name)] = seconds
        log(f"  {label:28} {period_name:7} {seconds * 1000:9.1f} ms  ({rows[(label, period_name)]} rows)")
    tasks = [t for t in tasks if t[0] not in errors]
    last_round = time.monotonic() - round_started
    while state["rounds"] < args.repeats:
        if time.monotonic() + last_round * 1.1 > deadline:
            log(
                f"  the reports' budget allows no round more after {state['rounds']} (a round takes {last_round:.0f} s)"
            )
            break
        round_started = time.monotonic()
        for label, period_name, entry, period, options in rng.sample(tasks, len(tasks)):
            seconds, _ = build_report(app, entry, period, options)
            samples[(label, period_name)].append(seconds)
            counts.append(count_trips())
        state["rounds"] += 1
        last_round = time.monotonic() - round_started
        log(f"  round {state['rounds']} of {args.repeats}: {last_round:.1f} s")


def reports_summary(state: dict) -> dict:
    """Each report's figures at its default period and over a year, with the ratios to the COUNT baseline."""
    count = stats(state.get("count_samples", []))
    reports: dict[str, dict] = {}
    for label, period_name, first, last, options in state.get("tasks", []):
        entry = reports.setdefault(label, {"options": options})
        if label in state.get("errors", {}):
            entry["error"] = state["errors"][label]
            continue
        figures = stats(state["samples"].get((label, period_name), []))
        figures["warm_up_ms"] = ms(state.get("warm", {}).get((label, period_name)))
        figures["rows"] = state.get("rows", {}).get((label, period_name))
        figures["from"], figures["to"] = first, last
        figures["p50_to_count"] = ratio(figures["p50_ms"], count["p50_ms"])
        figures["p99_to_count"] = ratio(figures["p99_ms"], count["p99_ms"])
        # None: not measured (the time ran out first).
        figures["target_met"] = None if figures["p99_ms"] is None else figures["p99_ms"] < TARGET_P99_S * 1000
        entry[period_name] = figures
    for label, entry in reports.items():
        verdicts = [entry[p]["target_met"] for p in ("default", "year") if p in entry]
        if "error" in entry or False in verdicts:
            entry["target_met"] = False
        else:
            entry["target_met"] = None if None in verdicts or not verdicts else True
        if label in state.get("traces", {}):
            entry["trace"] = state["traces"][label]
    return {"rounds": state.get("rounds", 0), "count_baseline": count, "reports": reports}


def traced(call) -> dict:
    """Run ``call`` once with every SQL statement timed, and each SELECT's EXPLAIN QUERY PLAN.

    A statement's time runs from its execute to the next statement's (or the call's end): its execute, the rows
    fetched as they stream (SQLite does much of a join's work while rows are fetched) and the Python that reads
    them. The time inside execute alone is given beside it. Identical statements (the same SQL) are grouped.
    """
    from sqlalchemy import event

    from core.extensions import db

    executed: list[list] = []  # [statement, parameters, started, seconds in execute]

    def before(_conn, _cursor, statement, parameters, _context, _executemany):
        executed.append([statement, parameters, time.perf_counter(), None])

    def after(*_args):
        executed[-1][3] = time.perf_counter() - executed[-1][2]

    event.listen(db.engine, "before_cursor_execute", before)
    event.listen(db.engine, "after_cursor_execute", after)
    started = time.perf_counter()
    try:
        call()
    finally:
        ended = time.perf_counter()
        event.remove(db.engine, "before_cursor_execute", before)
        event.remove(db.engine, "after_cursor_execute", after)
        db.session.expunge_all()
        db.session.rollback()
    grouped: dict[str, dict] = {}
    for k, (statement, parameters, began, in_execute) in enumerate(executed):
        until = executed[k + 1][2] if k + 1 < len(executed) else ended
        entry = grouped.setdefault(statement, {"n": 0, "seconds": 0.0, "execute": 0.0, "parameters": parameters})
        entry["n"] += 1
        entry["seconds"] += until - began
        entry["execute"] += in_execute or 0.0
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, entry in grouped.items():
            if statement.lstrip().upper().startswith(("SELECT", "WITH")):
                cursor.execute("EXPLAIN QUERY PLAN " + statement, entry["parameters"])
                entry["plan"] = "; ".join(row[3] for row in cursor.fetchall())
        cursor.close()
    finally:
        raw.close()
    ranked = sorted(grouped.items(), key=lambda item: -item[1]["seconds"])
    return {
        "wall_ms": ms(ended - started),
        "statements": len(executed),
        "before_first_ms": ms(executed[0][2] - started) if executed else None,
        "by_statement": [
            {
                "sql": " ".join(statement.split()),
                "n": e["n"],
                "ms": ms(e["seconds"]),
                "execute_ms": ms(e["execute"]),
                "plan": e.get("plan", ""),
            }
            for statement, e in ranked
        ],
    }


def trace_slow_reports(app, args, last_day: date, zone: str, summary: dict, deadline: float, state: dict) -> None:
    """Run each report that missed the target once more, traced, over the period where it is slowest."""
    variants = report_variants()
    wanted = {label: entry for label, entry, _options in variants}
    options_of = {label: options for label, _entry, options in variants}
    traces = state.setdefault("traces", {})
    slow = [
        (label, max(("default", "year"), key=lambda p: figures.get(p, {}).get("p99_ms") or 0))
        for label, figures in summary["reports"].items()
        if figures["target_met"] is False and "error" not in figures and label in wanted
    ]
    for label, period_name in slow:
        warm = state.get("warm", {}).get((label, period_name), 0)
        if time.monotonic() + 2 * warm + 5 > deadline:
            log(f"  no time left to trace {label}")
            break
        period = report_periods(wanted[label], last_day, zone)[period_name]

        def call(label=label, period=period):
            with app.test_request_context(headers={"Accept-Language": "en"}):
                wanted[label].build(period, **options_of[label])

        traces[label] = {"period": period_name, **traced(call)}
        log(
            f"  traced {label} ({period_name}): {traces[label]['statements']} statements, {traces[label]['wall_ms']} ms"
        )


# -- the report -------------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _x(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×" if value < 10 else f"{value:,.1f}×"


def _grid(head: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    out = ["  ".join(c.ljust(w) for c, w in zip(head, widths, strict=True)).rstrip()]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return out


def table(results: dict) -> str:
    """The figures as the README shows them: the reports, the baseline, the wallboard, the traces, the verdict."""
    out: list[str] = []
    part = results.get("reports")
    if part:
        head = ["report", "n", "days", "p50 ms", "p99 ms", "p50÷COUNT", "year n", "year p50 ms", "year p99 ms"]
        head += ["year p50÷COUNT", "rows (year)", f"p99 < {TARGET_P99_S:g} s"]
        rows = []
        for label, entry in part["reports"].items():
            if "error" in entry:
                rows.append([label, "", "", "", "", "", "", "", "", "", "", f"ERROR {entry['error'][:60]}"])
                continue
            d, y = entry.get("default", {}), entry.get("year", {})
            days = (date.fromisoformat(d["to"]) - date.fromisoformat(d["from"])).days + 1 if d else None
            rows.append(
                [
                    label,
                    str(d.get("n", "")),
                    str(days or ""),
                    _ms(d.get("p50_ms")),
                    _ms(d.get("p99_ms")),
                    _x(d.get("p50_to_count")),
                    str(y.get("n", "")),
                    _ms(y.get("p50_ms")),
                    _ms(y.get("p99_ms")),
                    _x(y.get("p50_to_count")),
                    f"{y.get('rows', '')}",
                    {True: "met", False: "MISSED", None: "not measured"}[entry["target_met"]],
                ]
            )
        count = part["count_baseline"]
        rows.append(["SELECT COUNT(*) FROM bookings (baseline)", str(count["n"]), "", _ms(count["p50_ms"])])
        rows[-1] += [_ms(count["p99_ms"]), "", "", "", "", "", "", ""]
        out += _grid(head, rows)
        asked = results["asked_repeats"]
        if part["rounds"] < asked:
            out.append(f"rounds: {part['rounds']} of {asked} asked — the time budget ran out (n above)")
    floor = results.get("floor")
    if floor and floor.get("n"):
        out.append("")
        head = ["wallboard", "n", "p50 ms", "p99 ms", "max ms", "p50÷COUNT", "cost per second (p50 / p99)"]
        share = f"{100 * floor['cpu_share_p50']:.2f} % / {100 * floor['cpu_share_p99']:.2f} % of one core"
        rows = [
            [
                f"floor_snapshot(now), every {PUSH_INTERVAL_S:g} s",
                str(floor["n"]),
                _ms(floor["p50_ms"]),
                _ms(floor["p99_ms"]),
                _ms(floor["max_ms"]),
                _x(floor["p50_to_count"]),
                share,
            ]
        ]
        c = floor["count_baseline"]
        rows.append(["SELECT COUNT(*) FROM bookings (baseline)", str(c["n"]), _ms(c["p50_ms"]), _ms(c["p99_ms"])])
        rows[-1] += [_ms(c["max_ms"]), "", ""]
        out += _grid(head, rows)
        showed = floor.get("showed")
        if showed:
            today = showed["today"]
            out.append(
                f"the board showed: {showed['waiting']} waiting (longest {showed['longest_wait']} s); today "
                f"{today['offered']:,} calls with an outcome, service level {today['service_level']} %, abandoned "
                f"{today['abandoned_rate']} %, ASA {today['asa']} s, AHT {today['aht']} s; last hour "
                f"{showed['last_hour']['offered']:,}; agents {showed['agents']}; live bookings "
                f"{sum(showed['bookings'].values())}, offers out {showed['offers']}; free drivers "
                f"{showed['free_drivers']} in {showed['free_driver_zones']} zones; complaints {showed['complaints']}"
            )
        if floor.get("trace"):
            out += trace_lines("one floor_snapshot", floor["trace"])
    for label, entry in (part or {}).get("reports", {}).items():
        if entry.get("trace"):
            out += trace_lines(f"{label} ({entry['trace']['period']})", entry["trace"])
    if part:
        missed = [label for label, entry in part["reports"].items() if entry["target_met"] is False]
        unmeasured = [label for label, entry in part["reports"].items() if entry["target_met"] is None]
        verdict = f"MISSED by {', '.join(missed)}" if missed else "not measured" if unmeasured else "met"
        if unmeasured:
            verdict += f" (not measured: {', '.join(unmeasured)})"
        out.append(f"target: every report's p99 < {TARGET_P99_S:g} s at its default period and over a year: {verdict}")
    build = results.get("build", {})
    built = "reused" if build.get("reused") else f"built in {build.get('seconds')} s"
    out.append(
        f"data set: {build.get('rows')}, {build.get('megabytes')} MB, its now {build.get('now')}, {built}; "
        f"whole run {results.get('run_seconds')} s; code {results['code']}"
    )
    return "\n".join(out)


def trace_lines(title: str, trace: dict, top: int = 6) -> list[str]:
    """The statements of one traced call, the slowest first, each with its query plan."""
    lines = [
        "",
        f"{title}: {trace['wall_ms']} ms, {trace['statements']} SQL statements; the slowest (from its execute to "
        f"the next statement, and in execute alone):",
    ]
    for entry in trace["by_statement"][:top]:
        sql = entry["sql"] if len(entry["sql"]) <= 220 else entry["sql"][:217] + "..."
        lines.append(f"  {_ms(entry['ms']):>8} ms ({_ms(entry['execute_ms']):>6})  ×{entry['n']:<4} {sql}")
        if entry["plan"]:
            lines.append(f"               plan: {entry['plan']}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Build or reuse the data set, time the wallboard and every report, print the table and the JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.reports_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="of 1,000,000 trips and 2,000,000 calls (default 1)")
    parser.add_argument("--database", type=Path, default=None, help="SQLite file (default bench/.data/reports…)")
    parser.add_argument("--rebuild", action="store_true", help="build the data set again even when it is there")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds of every report (default 7)")
    parser.add_argument("--floor-repeats", type=int, default=200, help="timed floor snapshots (default 200)")
    parser.add_argument("--floor-budget", type=float, default=45, help="seconds for the snapshots (default 45)")
    parser.add_argument("--seed", type=int, default=20_240_601)
    parser.add_argument("--time-limit", type=float, default=1140, help="seconds after which the run stops itself")
    parser.add_argument("--strict", action="store_true", help="exit status 1 when a report misses the target")
    args = parser.parse_args(argv)
    if not 0.0005 <= args.scale <= 10:
        parser.error("--scale between 0.0005 and 10 please")
    counts = scaled(args.scale)
    suffix = "" if args.scale == 1 else f"-{args.scale:g}"
    db_path = (args.database or DATA_DIR / f"reports{suffix}.sqlite3").resolve()
    results = results_header(
        "reports",
        scale=args.scale,
        counts=counts,
        asked_repeats=args.repeats,
        target_p99_s=TARGET_P99_S,
        push_interval_s=PUSH_INTERVAL_S,
    )
    started = time.monotonic()
    end_of_run = started + args.time_limit
    floor_state: dict = {}
    report_state: dict = {}
    workdir = Path(tempfile.mkdtemp(prefix="cabdesk-reports-"))

    def watchdog_fired() -> bool:
        watchdog = report_state.get("watchdog")
        return watchdog is not None and watchdog.fired

    with time_limited(results, args.time_limit, workdir, watchdog_fired), contextlib.ExitStack() as stack:
        from core.extensions import db
        from core.timewindows import office_date

        redis_url = stack.enter_context(redis_server(workdir))
        app = make_app(db_path, redis_url)
        with app.app_context():
            watchdog = Watchdog(db.engine, max(1.0, end_of_run + 2 - time.monotonic()))
        stack.callback(watchdog.cancel)
        report_state["watchdog"] = watchdog
        build = prepare_dataset(app, db_path, args, counts)
        results["build"] = build
        now = datetime.fromisoformat(build["now"])
        with app.app_context():
            zone = app.config["OFFICE_TIMEZONE"]
            last_day = office_date(now, zone)
            floor_state["live_index"] = fill_live_index(now)
            log(
                f"the wallboard: floor_snapshot at {now.isoformat()}, up to {args.floor_repeats} times "
                f"({floor_state['live_index']} drivers on duty in the live index)"
            )
            measure_floor(now, args, floor_state)
            from reports.floor import floor_snapshot

            floor_state["trace"] = traced(lambda: floor_snapshot(now))
            # The rounds stop early enough to leave time for tracing what missed and for the table.
            reserve = min(120.0, 0.1 * args.time_limit)
            measure_reports(app, args, last_day, zone, end_of_run - reserve, report_state)
            summary = reports_summary(report_state)
            trace_slow_reports(app, args, last_day, zone, summary, end_of_run - 10, report_state)
            db.session.remove()
    status = 2 if results.get("timed_out") else 0
    if floor_state:
        results["floor"] = floor_summary(floor_state)
    report_state.pop("watchdog", None)
    if report_state:
        results["reports"] = reports_summary(report_state)
    results["run_seconds"] = round(time.monotonic() - started, 1)
    results["load_after"] = round(os.getloadavg()[0], 1)
    reports = results.get("reports", {}).get("reports", {})
    verdicts = [entry["target_met"] for entry in reports.values()]
    results["target_met"] = False if False in verdicts else None if None in verdicts or not verdicts else True
    print_results(
        f"Cabdesk wallboard and reports benchmark — SQLite, {counts['trips']:,} trips, {counts['calls']:,} calls, "
        f"{counts['trips']:,} feedback records — {results['date']}, {results['machine']}",
        table(results),
        results,
    )
    if status == 0 and args.strict and results["target_met"] is False:
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
