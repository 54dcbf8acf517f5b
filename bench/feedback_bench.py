"""The feedback and complaints benchmark (issue 6): the complaint log, its CSV export and the feedback worker.

Run from the project root (see bench/README.md, "Feedback and complaints", for what every figure means)::

    .venv/bin/python -m bench.feedback_bench                 # 1,000,000 feedback records, 100,000 complaints
    .venv/bin/python -m bench.feedback_bench --scale 0.01    # a quick look (10,000 and 1,000)

On a SQLite file built with the real migrations and loaded by SQLAlchemy Core (trips, their feedback requests
and a year of complaints in Persian and English, ``search_text`` as ``refresh_search_text`` writes it):

- the complaint log's filtered first page, ``complaint_page(read_filter(args), 1, 50)`` (the count and the page)
  for eight typical filters, against a primary-key lookup of one complaint and a bare ``SELECT COUNT(*) FROM
  complaints``, interleaved round by round. **Target: every filter's p99 under 200 ms.** The same filters through
  the supervisor's page (``GET /supervisor/complaints?…``, Flask test client) when that page takes filters;
- a CSV export of ~10,000 complaints (``csv_rows`` into ``csv.writer``) against a plain SELECT of the same rows'
  columns written by the same writer;
- the feedback worker: ``ask_for_feedback`` jobs for due requests, each followed by the ``send_text`` job it
  queues (to a Twilio stand-in), run by ``rq worker --burst --worker-class core.worker.CabdeskWorker`` in a
  process of its own on a throwaway redis-server, against the same worker running as many no-op jobs.

The run is bounded (``--time-limit``), stops every process it started and ends with one table and one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from array import array
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.processes import (
    generator_digest,
    log,
    percentile,
    print_results,
    redis_server,
    results_header,
    reusable_dataset,
    spawn,
    sqlite_bytes,
    stop_process,
    time_limited,
)

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
DATA_DIR = BENCH_DIR / ".data"
DATASET_VERSION = 1  # bump when the generated rows change

FULL_FEEDBACK = 1_000_000  # feedback records, one per completed trip (so as many bookings)
FULL_COMPLAINTS = 100_000
FULL_SUBSCRIBERS = 100_000
FULL_CSV_ROWS = 10_000
FULL_WORKER_REQUESTS = 2_000
DRIVERS = 300
SUPERVISORS = 5
AGENTS = 30
FIRST_DRIVER_ID = 1001  # users 1..35 are staff; drivers' users, drivers and cars share ids from here
BATCH = 50_000
PER_PAGE = 50
TARGET_PAGE_P99_MS = 200.0
SPAN = timedelta(days=365)
BENCH_PASSWORD = "feedback-bench-password"  # noqa: S105 (throwaway users of a throwaway database)
ACCOUNT_SID = "AC" + "fb" * 16
AUTH_TOKEN = "feedback-bench-auth-token"  # noqa: S105 (the Twilio stand-in on loopback only)
OFFICE_NUMBER = "+982188888888"
# Seconds each phase may take before it stops with the samples it has.
BUDGETS = {"log": 240.0, "http": 60.0, "csv": 90.0, "worker": 240.0}

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
PLACES = [
    ("میدان آزادی", "Azadi Square"),
    ("تجریش", "Tajrish"),
    ("ونک", "Vanak"),
    ("فرودگاه امام", "IKA airport"),
    ("میدان انقلاب", "Enghelab Square"),
    ("پونک", "Punak"),
    ("نارمک", "Narmak"),
    ("سعادت‌آباد", "Saadat Abad"),
    ("راه‌آهن", "the railway station"),
    ("بازار بزرگ", "the Grand Bazaar"),
]
ITEMS = [("گوشی", "phone"), ("کیف پول", "wallet"), ("عینک", "glasses"), ("چتر", "umbrella"), ("لپ‌تاپ", "laptop")]
# What customers write, by category: (Persian, English) templates; {place} {minutes} {amount} {item} filled in.
TEMPLATES = {
    "driver_behaviour": (
        [
            "راننده بی‌ادب بود و سر من داد زد",
            "راننده بی ادب بود و تمام مسیر با تلفن حرف می‌زد",
            "رفتار راننده خیلی بد بود، در {place} با ما دعوا کرد",
            "راننده سیگار کشید و به اعتراض من توجه نکرد",
            "راننده با سرعت زیاد رانندگی کرد و بچه‌ها ترسیدند",
        ],
        [
            "The driver was rude and shouted at me",
            "Driver was on the phone the whole trip to {place}",
            "Driver smoked in the car and ignored my request to stop",
            "Reckless driving, far too fast on the highway",
        ],
    ),
    "lateness": (
        [
            "راننده {minutes} دقیقه دیر رسید",
            "ماشین دیر آمد و به پرواز نرسیدم",
            "تاکسی {minutes} دقیقه در {place} منتظرمان گذاشت",
            "راننده نیامد و کسی هم زنگ نزد",
        ],
        [
            "The car came {minutes} minutes late",
            "Driver arrived late at {place} and I missed my train",
            "The taxi never showed up and nobody called",
        ],
    ),
    "vehicle_condition": (
        [
            "ماشین کثیف بود و بوی بد می‌داد",
            "کولر ماشین خراب بود",
            "کمربند صندلی عقب کار نمی‌کرد",
            "لاستیک ماشین در {place} پنچر شد و معطل شدیم",
        ],
        ["The car was dirty and smelled of smoke", "Air conditioning did not work", "Rear seat belt was broken"],
    ),
    "fare_dispute": (
        [
            "کرایه {amount} تومان بیشتر از مبلغ اعلام شده گرفت",
            "راننده پول خرد نداشت و بقیه پول را نداد",
            "برای مسیر کوتاه تا {place} کرایه زیادی گرفت",
        ],
        [
            "Charged {amount} toman more than the quoted fare",
            "Driver had no change and kept the rest",
            "Overcharged for a short trip to {place}",
        ],
    ),
    "route": (
        ["راننده مسیر طولانی رفت تا کرایه بیشتر شود", "راننده راه را بلد نبود و در {place} گم شد"],
        ["Driver took a long detour through {place}", "Driver did not know the way and got lost"],
    ),
    "lost_property": (
        ["{item} را در ماشین جا گذاشتم", "کیف من در صندوق عقب ماند، سفر به {place}"],
        ["I left my {item} in the taxi", "My bag stayed in the boot after the trip to {place}"],
    ),
    "agent_conduct": (
        ["اپراتور تلفن را قطع کرد", "اپراتور بی‌حوصله بود و آدرس را اشتباه ثبت کرد"],
        ["The operator hung up on me", "Operator was impolite and took the wrong address"],
    ),
    "other": (
        ["از سرویس راضی نبودم", "پیامک تایید سفر نیامد"],
        ["Not happy with the service", "Never got the confirmation text"],
    ),
}
RESOLUTIONS = {
    "resolved": (
        [
            "با راننده صحبت شد و تذکر کتبی گرفت",
            "مبلغ اضافه به مشتری برگشت داده شد",
            "وسیله پیدا شد و به مشتری تحویل شد",
            "از مشتری عذرخواهی شد و کد تخفیف داده شد",
        ],
        [
            "Spoke to the driver, written warning",
            "Refunded the difference",
            "Item found and returned to the customer",
            "Apologised and sent a discount code",
        ],
    ),
    "rejected": (
        ["بررسی شد؛ مدرکی پیدا نشد", "مسیر ثبت‌شده درست بود"],
        ["Checked the trip log: no evidence found", "The recorded route was correct"],
    ),
}
ARABIC_FORMS = str.maketrans({"ی": "ي", "ک": "ك"})  # how Arabic keyboards spell them: the search must fold them
COMMENTS = ["عالی بود", "ممنون", "راننده مودب بود", "ماشین تمیز بود", "Great driver", "On time, thanks"]


def noop_job() -> None:
    """The worker baseline: a job that does nothing (the worker process imports it from here)."""
    return None


NOOP_JOB = "bench.feedback_bench.noop_job"


# -- the data set -----------------------------------------------------------------------------------


def scaled(args) -> dict:
    """How many of each thing at ``--scale``."""
    return {
        "feedback": max(1000, round(FULL_FEEDBACK * args.scale)),
        "complaints": max(100, round(FULL_COMPLAINTS * args.scale)),
        "subscribers": max(100, round(FULL_SUBSCRIBERS * args.scale)),
        "csv_rows": max(100, round(FULL_CSV_ROWS * args.scale)),
        "worker_requests": args.worker_requests or max(100, round(FULL_WORKER_REQUESTS * args.scale)),
    }


def mobile(subscriber_id: int) -> str:
    """The subscriber's mobile number, E.164: unique, a bijection of the id."""
    return f"+98912{subscriber_id:07d}"


def opted_out(subscriber_id: int) -> bool:
    return subscriber_id % 33 == 0  # 3 %


def feedback_channel(subscriber_id: int) -> str:
    if subscriber_id % 101 == 0:
        return "none"
    return "ivr" if subscriber_id % 9 == 0 else "sms"


def language(subscriber_id: int) -> str:
    return "en" if subscriber_id % 10 == 3 else "fa"


class Trips:
    """Who, where and when of every generated trip (booking ``i + 1``), kept to link complaints to them."""

    def __init__(self, count: int, subscribers: int, drivers: list[int], zones: list[int], agents: list[int], rng):
        self.count = count
        self.start = time.time() - SPAN.total_seconds()
        step = (SPAN.total_seconds() - 3 * 3600) / count
        # Some customers ride often, some drivers drive more: skewed choices, as a real book has.
        driver_weights = [rng.uniform(0.5, 1.5) for _ in drivers]
        zone_weights = [1.0 + 3.0 * (i % 5 == 0) for i in range(len(zones) - 1)] + [0.5]  # the airport last
        self.driver = array("i", rng.choices(drivers, weights=driver_weights, k=count))
        self.zone = array("i", rng.choices(zones, weights=zone_weights, k=count))
        self.subscriber = array("i", (1 + int(subscribers * rng.random() ** 1.7) for _ in range(count)))
        self.agent = array("i", rng.choices(agents, k=count))
        self.pickup = array("d", (self.start + (i + rng.random()) * step for i in range(count)))
        self.minutes = array("f", (rng.uniform(8, 55) for _ in range(count)))

    def completed(self, i: int) -> float:
        return self.pickup[i] + 60 * self.minutes[i]


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def booking_row(i: int, trips: Trips, zone_points: dict[int, tuple[float, float]], rng, status="completed") -> dict:
    """A completed trip (booking ``i + 1``) with what the feedback and complaint code reads of it."""
    pickup = trips.pickup[i]
    lat, lon = zone_points[trips.zone[i]]
    subscriber = trips.subscriber[i]
    km = round(trips.minutes[i] * 0.4, 1)
    return {
        "id": i + 1,
        "status": status,
        "subscriber_id": subscriber,
        "phone": mobile(subscriber),
        "created_by_id": trips.agent[i],
        "pickup_text": "",
        "pickup_lat": lat,
        "pickup_lon": lon,
        "pickup_zone_id": trips.zone[i],
        "pickup_at": at(pickup),
        "vehicle_class": "sedan",
        "currency": "IRR",
        "fare_breakdown": {},
        "fare": 300_000 + int(km * 90_000),
        "distance_km": km,
        "duration_min": round(trips.minutes[i], 1),
        "driver_id": trips.driver[i],
        "vehicle_id": trips.driver[i],
        "offer_tries": 1,
        "assigned_at": at(pickup - 420),
        "arrived_at": at(pickup - 60),
        "started_at": at(pickup),
        "completed_at": at(trips.completed(i)),
        "created_at": at(pickup - 600),
    }


def feedback_row(i: int, trips: Trips, now: float, rng, low_rating: dict[int, tuple[int, float]]) -> dict:
    """The feedback request of trip ``i + 1``, in the state its age and the customer's answer left it."""
    subscriber = trips.subscriber[i]
    completed = trips.completed(i)
    due = completed + 600
    channel = feedback_channel(subscriber)
    channel = "sms" if channel == "none" else channel
    row = {
        "id": i + 1,
        "booking_id": i + 1,
        "subscriber_id": subscriber,
        "driver_id": trips.driver[i],
        "channel": channel,
        "status": "scheduled",
        "rating": None,
        "comment": "",
        "requested_at": None,
        "answered_at": None,
        "phone": mobile(subscriber),
        "language": language(subscriber),
        "due_at": at(due),
        "attempts": 0,
        "expires_at": None,
        "call_sid": None,
        "last_error": "",
        "created_at": at(completed),
    }
    if due > now:
        return row
    if opted_out(subscriber) or feedback_channel(subscriber) == "none":
        row.update(status="skipped", last_error="the subscriber opted out")
        return row
    row.update(requested_at=at(due), expires_at=at(due + 48 * 3600), attempts=1)
    if channel == "ivr":
        row["call_sid"] = f"CA{i + 1:032x}"
    if i in low_rating:
        rating, answered = low_rating[i]
        row.update(status="answered", rating=rating, answered_at=at(max(answered, due + 60)))
        return row
    draw = rng.random()
    if now - due < 48 * 3600:
        if draw < 0.4:
            row["status"] = "requested"
            return row
    elif draw < 0.38:
        row["status"] = "expired"
        return row
    elif draw < 0.40 and channel == "ivr":
        row.update(status="failed", last_error="Twilio: busy", attempts=4, call_sid=None)
        return row
    rating = rng.choices((5, 4, 3), weights=(60, 28, 12))[0]
    row.update(status="answered", rating=rating, answered_at=at(min(now, due + rng.uniform(60, 6 * 3600))))
    if rng.random() < 0.15:
        row["comment"] = rng.choice(COMMENTS)
    return row


def describe(category: str, persian: bool, rng, booking_id: int | None) -> str:
    """What a customer wrote: a template of the category in Persian or English, details filled in."""
    fa, en = TEMPLATES[category]
    place = rng.choice(PLACES)
    item = rng.choice(ITEMS)
    values = {
        "place": place[0] if persian else place[1],
        "item": item[0] if persian else item[1],
        "minutes": rng.choice((10, 15, 20, 25, 30, 40)),
        "amount": rng.choice((20_000, 50_000, 80_000, 100_000)),
    }
    text = rng.choice(fa if persian else en).format(**values)
    if booking_id is not None and rng.random() < 0.3:
        text += f" (سفر {booking_id})" if persian else f" (trip {booking_id})"
    if persian and rng.random() < 0.1:
        text = text.translate(ARABIC_FORMS)
    return text


def status_for_age(days: float, rng) -> str:
    if days < 1:
        weights = (70, 25, 5, 0)
    elif days < 7:
        weights = (15, 35, 40, 10)
    elif days < 30:
        weights = (3, 12, 70, 15)
    else:
        weights = (0.5, 1.5, 80, 18)
    return rng.choices(("new", "investigating", "resolved", "rejected"), weights=weights)[0]


def complaint_rows(count: int, trips: Trips, now: float, rng, supervisors: list[int]) -> list[dict]:
    """A year of complaints, oldest first, ids in that order; ``low_rating`` is filled for the rating ones."""
    import jdatetime

    from core.text import normalize_persian

    categories = list(CATEGORY_WEIGHTS)
    weights = list(CATEGORY_WEIGHTS.values())
    bad_drivers = set(rng.sample(sorted(set(trips.driver)), min(10, len(set(trips.driver)))))
    drafts = []
    for _ in range(count):
        i = rng.randrange(trips.count)
        if rng.random() < 0.1:  # a few drivers collect more complaints than others (~4× the average)
            for j in range(i, min(i + 500, trips.count)):
                if trips.driver[j] in bad_drivers:
                    i = j
                    break
        category = rng.choices(categories, weights=weights)[0]
        trip = None if category in ("agent_conduct", "other") and rng.random() < 0.3 else i
        completed = trips.completed(i)
        created = min(now - 60, completed + 60 * rng.lognormvariate(math.log(180), 1.2))
        drafts.append((created, category, trip, i))
    drafts.sort(key=lambda draft: draft[0])
    rows = []
    lost_property_numbers: dict[int, int] = {}
    for number, (created, category, trip, i) in enumerate(drafts, start=1):
        subscriber = trips.subscriber[i]
        persian = language(subscriber) == "fa" and rng.random() < 0.8
        source = rng.choices(("rating", "sms", "phone", "agent"), weights=(30, 15, 30, 25))[0]
        if source == "rating" and (trip is None or opted_out(subscriber) or feedback_channel(subscriber) == "none"):
            source = "agent"  # only a customer who was asked can rate
        description = describe(category, persian, rng, trip + 1 if trip is not None else None)
        transcript = ""
        if source == "phone" and rng.random() < 0.5:
            transcript = describe(category, persian, rng, None)
        severity_weights = (15, 50, 35) if category == "driver_behaviour" else (30, 55, 15)
        severity = rng.choices((1, 2, 3), weights=severity_weights)[0]
        status = status_for_age((now - created) / 86400, rng)
        first_response = resolved = None
        resolution = ""
        if status != "new":
            first_response = min(now - 30, created + 3600 * rng.lognormvariate(math.log(5), 1.2))
            if status in ("resolved", "rejected"):
                resolved = min(now - 10, first_response + 3600 * rng.lognormvariate(math.log(24), 1.0))
                fa, en = RESOLUTIONS[status]
                resolution = rng.choice(fa if persian else en)
        if category == "lost_property":
            year = jdatetime.date.fromgregorian(date=at(created + 3.5 * 3600).date()).year  # the office's day
            lost_property_numbers[year] = lost_property_numbers.get(year, 0) + 1
            reference = f"LP-{year}-{lost_property_numbers[year]:04d}"
        else:
            reference = f"C-{number:06d}"
        parts = (reference, description, transcript, resolution)
        rows.append(
            {
                "id": number,
                "reference": reference,
                "subscriber_id": subscriber,
                "booking_id": trip + 1 if trip is not None else None,
                "driver_id": trips.driver[i] if trip is not None else None,
                "agent_id": trips.agent[i] if trip is not None else None,
                "feedback_id": trip + 1 if source == "rating" else None,
                "category": category,
                "severity": severity,
                "status": status,
                "source": source,
                "description": description,
                "assigned_to_id": rng.choice(supervisors) if status != "new" else None,
                "respond_by": at(created + 24 * 3600),
                "resolved_at": at(resolved) if resolved else None,
                "resolution": resolution,
                "zone_id": trips.zone[i] if trip is not None else None,
                "first_response_at": at(first_response) if first_response else None,
                "recording_url": "",
                "transcript": transcript,
                "search_text": normalize_persian(" ".join(p for p in parts if p)),
                "created_by_id": trips.agent[i] if source in ("phone", "agent") else None,
                "phone": mobile(subscriber),
                "created_at": at(created),
            }
        )
    return rows


def dataset_stamp(args, counts: dict) -> dict:
    """What a cached data set was built from: the migrations as they are now, the generator, the sizes, the seed."""
    generator = (Trips, booking_row, feedback_row, describe, status_for_age, complaint_rows, load_dataset)
    generator += (mobile, opted_out, feedback_channel, language)
    constants = (TEMPLATES, RESOLUTIONS, PLACES, ITEMS, COMMENTS, CATEGORY_WEIGHTS, SPAN)
    return {
        "version": DATASET_VERSION,
        "migrations_and_generator": generator_digest(generator, constants),
        "feedback": counts["feedback"],
        "complaints": counts["complaints"],
        "subscribers": counts["subscribers"],
        "seed": args.seed,
    }


def make_app(path: Path):
    """The real application on the SQLite file; Redis is not needed by what runs in this process."""
    os.environ.setdefault("SECRET_KEY", "feedback-bench")  # else load_config() writes instance/secret_key
    os.environ.setdefault("CABDESK_INSTANCE", str(DATA_DIR / "instance"))
    from core.app import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
            "REDIS_URL": "redis://127.0.0.1:1/0",
            "SOCKETIO_MESSAGE_QUEUE": None,
            "SECRET_KEY": "feedback-bench",
            "FEEDBACK_QUIET_HOURS": "",
        }
    )


def load_dataset(counts: dict, seed: int) -> dict:
    """Migrate, then load staff, zones, drivers, subscribers, trips with their feedback, and complaints."""
    import logging

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
    from dispatch.models import Booking
    from feedback.models import Complaint, Feedback

    rng = random.Random(seed)
    started = time.perf_counter()
    upgrade()
    logging.getLogger("alembic").setLevel(logging.WARNING)
    now_dt = datetime.now(UTC)
    now = now_dt.timestamp()
    zones = add_tehran_zones()
    zone_points = {}
    for zone in zones.values():
        point = shape(zone.boundary).representative_point()
        zone_points[zone.id] = (round(point.y, 6), round(point.x, 6))
    password_hash = generate_password_hash(BENCH_PASSWORD)
    staff = [("supervisor", i) for i in range(1, SUPERVISORS + 1)]
    staff += [("agent", i) for i in range(SUPERVISORS + 1, SUPERVISORS + AGENTS + 1)]
    users = [
        {
            "id": number,
            "username": f"bench-{role}-{number}",
            "display_name": f"Bench {role} {number}",
            "password_hash": password_hash,
            "role": role,
            "language": "en",
            "calendar": "gregorian",
            "created_at": now_dt,
        }
        for role, number in staff
    ]
    supervisors = [number for role, number in staff if role == "supervisor"]
    agents = [number for role, number in staff if role == "agent"]
    first_names = [fa for fa, _ in MALE_NAMES + FEMALE_NAMES]
    surnames = [fa for fa, _ in SURNAMES]
    with db.engine.connect() as connection:
        raw = connection.connection.driver_connection
        raw.execute("PRAGMA synchronous=OFF")  # outside a transaction: SQLAlchemy's BEGIN comes with the first row
        raw.execute("PRAGMA cache_size=-1000000")
        connection.execute(insert(User.__table__), users)
        drivers = insert_drivers(connection, FIRST_DRIVER_ID, points_in_tehran(rng, DRIVERS), now_dt, "offline")
        log(f"  {len(users)} staff, {len(drivers)} drivers, {len(zones)} zones")
        for first in range(1, counts["subscribers"] + 1, BATCH):
            rows, phones = [], []
            for number in range(first, min(first + BATCH, counts["subscribers"] + 1)):
                name = f"{rng.choice(first_names)} {rng.choice(surnames)}"
                e164 = mobile(number)
                key = search_key_of(name, [(e164, "0" + e164[3:])], [])
                row = subscriber_row(number, name, key, now_dt)
                row.update(
                    language=language(number),
                    sms_opt_out=opted_out(number),
                    feedback_channel=feedback_channel(number),
                )
                rows.append(row)
                phones.append({"subscriber_id": number, "e164": e164, "kind": "mobile", "created_at": now_dt})
            connection.execute(insert(Subscriber.__table__), rows)
            connection.execute(insert(SubscriberPhone.__table__), phones)
        log(f"  {counts['subscribers']:,} subscribers ({time.perf_counter() - started:.0f} s)")
        trips = Trips(counts["feedback"], counts["subscribers"], drivers, list(zone_points), agents, rng)
        complaints = complaint_rows(counts["complaints"], trips, now, rng, supervisors)
        low_rating = {}
        for row in complaints:
            if row["source"] == "rating":
                answered = row["created_at"].timestamp() - 30
                low_rating[row["feedback_id"] - 1] = (rng.choice((1, 1, 2)), answered)
        log(f"  {len(complaints):,} complaints generated ({time.perf_counter() - started:.0f} s)")
        for first in range(0, trips.count, BATCH):
            chunk = range(first, min(first + BATCH, trips.count))
            bookings = [booking_row(i, trips, zone_points, rng) for i in chunk]
            requests = [feedback_row(i, trips, now, rng, low_rating) for i in chunk]
            connection.execute(insert(Booking.__table__), bookings)
            connection.execute(insert(Feedback.__table__), requests)
            done = chunk.stop
            if done % (4 * BATCH) == 0 or done == trips.count:
                rate = done / (time.perf_counter() - started)
                log(f"  {done:,}/{trips.count:,} trips and their feedback ({rate:,.0f}/s since the start)")
        for first in range(0, len(complaints), BATCH):
            connection.execute(insert(Complaint.__table__), complaints[first : first + BATCH])
        connection.commit()
        raw.execute("PRAGMA synchronous=NORMAL")
        raw.execute("PRAGMA cache_size=-2000")
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.engine.dispose()
    return {"seconds": round(time.perf_counter() - started, 1), "zone_points": zone_points}


def prepare_dataset(app, path: Path, args, counts: dict) -> dict:
    """Reuse the data set when its stamp and counts say it is the one asked for; otherwise build it."""
    from sqlalchemy import func, select

    from core.extensions import db
    from dispatch.models import Booking
    from feedback.models import Complaint, Feedback

    def reuse(saved: dict) -> dict | None:
        with app.app_context():
            found = (
                db.session.scalar(select(func.count()).select_from(Feedback)),
                db.session.scalar(select(func.count()).select_from(Complaint)),
                db.session.scalar(select(func.max(Booking.id))),
            )
            db.session.remove()
            db.engine.dispose()
        if found == (counts["feedback"], counts["complaints"], counts["feedback"]):
            log(f"reusing {path.name} (built {saved['built_at']})")
            return {"reused": True, "seconds": None, "built_at": saved["built_at"]}
        log(f"{path.name} does not hold the expected rows {found}: rebuilding it")
        return None

    def build() -> tuple[dict, dict]:
        log(
            f"building {path.name}: {counts['feedback']:,} trips with feedback, {counts['complaints']:,} complaints, "
            f"{counts['subscribers']:,} subscribers"
        )
        with app.app_context():
            built = load_dataset(counts, args.seed)
            check_dataset(random.Random(args.seed + 1))
            db.session.remove()
            db.engine.dispose()
        built_at = datetime.now(UTC).isoformat(timespec="seconds")
        size = sqlite_bytes(path)
        log(f"built in {built['seconds']:.0f} s, {size / 1e6:,.0f} MB")
        saved = {"built_at": built_at}
        return saved, {"reused": False, "seconds": built["seconds"], **saved, "megabytes": round(size / 1e6)}

    return reusable_dataset(path, dataset_stamp(args, counts), args.rebuild, build, reuse)


def check_dataset(rng, checks: int = 200) -> None:
    """The loaded search_text is what the application would write; the complaint fields it reads are valid."""
    from sqlalchemy import func, select

    from core.extensions import db
    from feedback.complaint_log import CATEGORIES, STATUSES
    from feedback.complaints import refresh_search_text
    from feedback.models import Complaint

    count = db.session.scalar(select(func.count()).select_from(Complaint))
    for complaint_id in rng.sample(range(1, count + 1), min(checks, count)):
        complaint = db.session.get(Complaint, complaint_id)
        stored = complaint.search_text
        refresh_search_text(complaint)
        if complaint.search_text != stored or complaint.category not in CATEGORIES or complaint.status not in STATUSES:
            raise SystemExit(f"complaint {complaint_id}: the generated row is not what the application writes")
        db.session.rollback()
    db.session.expunge_all()


# -- measuring --------------------------------------------------------------------------------------


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


def log_filters(rng) -> dict[str, dict[str, str]]:
    """The filters a supervisor uses most, as query-string arguments (values picked from the data)."""
    from sqlalchemy import func, select

    from core.extensions import db
    from core.models import utcnow
    from core.timewindows import office_date
    from feedback.models import Complaint
    from geo.models import Zone

    busiest = db.session.execute(
        select(Complaint.driver_id, func.count())
        .where(Complaint.driver_id.is_not(None))
        .group_by(Complaint.driver_id)
        .order_by(func.count().desc())
        .limit(1)
    ).first()
    zone = db.session.scalar(select(Zone.id).where(Zone.code == "D06")) or 1
    db.session.rollback()
    today = office_date(utcnow(), "Asia/Tehran")
    month_start = (today.replace(day=1) - timedelta(days=1)).replace(day=1)  # last calendar month
    month_end = today.replace(day=1) - timedelta(days=1)
    return {
        "no filter": {},
        "status=new": {"status": "new"},
        "category=driver_behaviour, last month": {
            "category": "driver_behaviour",
            "date_from": month_start.isoformat(),
            "date_to": month_end.isoformat(),
        },
        f"driver_id={busiest[0]} (most complaints)": {"driver_id": str(busiest[0])},
        "sla_breached=1": {"sla_breached": "1"},
        "q=بی ادب": {"q": "بی ادب"},
        "q=late": {"q": "late"},
        "zone_id=D06, severity=3": {"zone_id": str(zone), "severity": "3"},
    }


def query_plans(call) -> list[str]:
    """SQLite's EXPLAIN QUERY PLAN of each statement ``call`` runs, one line each."""
    from sqlalchemy import event

    from core.extensions import db

    statements: list[tuple[str, tuple]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _executemany):
        statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        call()
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
        db.session.expunge_all()
        db.session.rollback()
    plans = []
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, parameters in statements:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            plans.append("; ".join(row[3] for row in cursor.fetchall()))
        cursor.close()
    finally:
        raw.close()
    return plans


def measure_log(args, rng, counts: dict, filters: dict[str, dict[str, str]]) -> dict:
    """Each filter's first page, the primary-key lookup and the bare COUNT, in random order, round after round."""
    from sqlalchemy import text

    from core.extensions import db
    from feedback.complaint_log import complaint_page, read_filter
    from feedback.models import Complaint

    names = [*filters, "pk", "count"]
    samples: dict[str, list[float]] = {name: [] for name in names}
    matches: dict[str, tuple[int, int]] = {}
    warmup = 3
    deadline = time.monotonic() + BUDGETS["log"]
    for round_number in range(warmup + args.repeats):
        order = list(names)
        rng.shuffle(order)
        for name in order:
            if name == "pk":
                complaint_id = rng.randint(1, counts["complaints"])

                def call(complaint_id=complaint_id):
                    return db.session.get(Complaint, complaint_id)
            elif name == "count":

                def call():
                    return db.session.scalar(text("SELECT COUNT(*) FROM complaints"))
            else:

                def call(name=name):
                    return complaint_page(read_filter(filters[name]), 1, PER_PAGE)

            started = time.perf_counter()
            result = call()
            seconds = time.perf_counter() - started
            db.session.expunge_all()  # the next call goes to the database, not the identity map
            db.session.rollback()
            if name in filters:
                items, total = result
                matches[name] = (total, len(items))
            elif result is None:
                raise SystemExit(f"{name}: nothing found")
            if round_number >= warmup:
                samples[name].append(seconds)
        if time.monotonic() > deadline:
            log(f"  log budget of {BUDGETS['log']:.0f} s spent after {round_number + 1 - warmup} rounds")
            break
    pk, count = stats(samples["pk"]), stats(samples["count"])
    out = {"pk_baseline": pk, "count_baseline": count, "filters": {}}
    for name, args_ in filters.items():
        figures = stats(samples[name])
        plans = query_plans(lambda args_=args_: complaint_page(read_filter(args_), 1, PER_PAGE))
        out["filters"][name] = {
            "args": args_,
            **figures,
            "matches": matches[name][0],
            "page_rows": matches[name][1],
            "p50_to_count": ratio(figures["p50_ms"], count["p50_ms"]),
            "p99_to_count": ratio(figures["p99_ms"], count["p99_ms"]),
            "p50_to_pk": ratio(figures["p50_ms"], pk["p50_ms"]),
            "p99_to_pk": ratio(figures["p99_ms"], pk["p99_ms"]),
            "target_met": figures["p99_ms"] is not None and figures["p99_ms"] < TARGET_PAGE_P99_MS,
            "plans": plans,
        }
    return out


def csrf_token_of(html: str) -> str | None:
    import re

    match = re.search(r'name="csrf-token" content="([^"]+)"', html) or re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', html
    )
    return match.group(1) if match else None


def measure_http(app, args, rng, filters: dict[str, dict[str, str]], function_p50: dict[str, float]) -> dict:
    """The same filters through ``GET /supervisor/complaints?…`` (Flask test client), when that page takes filters."""
    from werkzeug.exceptions import HTTPException

    try:
        endpoint, _ = app.url_map.bind("localhost").match("/supervisor/complaints", method="GET")
    except HTTPException:
        return {"skipped": "no GET /supervisor/complaints route"}
    module = getattr(app.view_functions[endpoint], "__module__", "")
    if module != "supervisors.complaint_pages":
        return {
            "skipped": f"/supervisor/complaints is still {module}.{endpoint.split('.')[-1]} (the newest 100, "
            "no filters): supervisors/complaint_pages.py is not serving it yet"
        }
    try:
        return _measure_http(app, args, rng, filters, function_p50)
    except Exception as exc:  # the page is being written: an error is reported, not fatal
        return {"skipped": f"the page raised {type(exc).__name__}: {str(exc)[:300]}"}


def _measure_http(app, args, rng, filters: dict[str, dict[str, str]], function_p50: dict[str, float]) -> dict:
    client = app.test_client()
    page = client.get("/login")
    token = csrf_token_of(page.get_data(as_text=True))
    answer = client.post(
        "/login", data={"username": "bench-supervisor-1", "password": BENCH_PASSWORD, "csrf_token": token or ""}
    )
    if answer.status_code != 302:
        return {"skipped": f"could not log in as a supervisor (HTTP {answer.status_code})"}
    samples: dict[str, list[float]] = {name: [] for name in filters}
    sizes: dict[str, int] = {}
    deadline = time.monotonic() + BUDGETS["http"]
    for round_number in range(2 + args.http_repeats):
        order = list(filters)
        rng.shuffle(order)
        for name in order:
            started = time.perf_counter()
            response = client.get("/supervisor/complaints", query_string=filters[name])
            body = response.get_data()
            seconds = time.perf_counter() - started
            if response.status_code != 200:
                return {"skipped": f"{name}: HTTP {response.status_code}: {body[:300]!r}"}
            sizes[name] = len(body)
            if round_number >= 2:
                samples[name].append(seconds)
        if time.monotonic() > deadline:
            log(f"  HTTP budget of {BUDGETS['http']:.0f} s spent after {round_number - 1} rounds")
            break
    out = {}
    for name in filters:
        figures = stats(samples[name])
        out[name] = {
            **figures,
            "bytes": sizes[name],
            "p50_to_function_p50": ratio(figures["p50_ms"], function_p50.get(name)),
            "target_met": figures["p99_ms"] is not None and figures["p99_ms"] < TARGET_PAGE_P99_MS,
        }
    return {"filters": out}


def measure_csv(args, rng, counts: dict, workdir: Path) -> dict:
    """csv_rows of ~csv_rows complaints (the newest days) into csv.writer, against a plain SELECT of the same rows."""
    from sqlalchemy import select

    from core.extensions import db
    from core.models import utcnow
    from core.timewindows import office_date
    from feedback.complaint_log import CSV_HEADER, complaints_query, csv_rows, read_filter
    from feedback.models import Complaint

    wanted_rows = min(counts["csv_rows"], counts["complaints"])
    oldest = db.session.scalar(
        select(Complaint.created_at).order_by(Complaint.created_at.desc()).offset(wanted_rows - 1).limit(1)
    )
    now = utcnow()
    days = {"date_from": office_date(oldest, "Asia/Tehran").isoformat()}
    days["date_to"] = office_date(now, "Asia/Tehran").isoformat()
    wanted = read_filter(days)
    columns = [
        Complaint.reference,
        Complaint.created_at,
        Complaint.status,
        Complaint.category,
        Complaint.severity,
        Complaint.source,
        Complaint.subscriber_id,
        Complaint.phone,
        Complaint.booking_id,
        Complaint.driver_id,
        Complaint.agent_id,
        Complaint.zone_id,
        Complaint.assigned_to_id,
        Complaint.respond_by,
        Complaint.first_response_at,
        Complaint.resolved_at,
        Complaint.description,
        Complaint.transcript,
        Complaint.resolution,
    ]
    db.session.rollback()
    path = workdir / "export.csv"

    def export() -> int:
        with open(path, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            rows = 0
            for row in csv_rows(wanted, now):
                writer.writerow(row)
                rows += 1
        return rows - 1

    def baseline() -> int:
        with open(path, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(CSV_HEADER)
            rows = db.session.execute(complaints_query(wanted, now).with_only_columns(*columns)).all()
            writer.writerows(rows)
        return len(rows)

    samples: dict[str, list[float]] = {"export": [], "baseline": []}
    rows_seen: dict[str, int] = {}
    deadline = time.monotonic() + BUDGETS["csv"]
    for round_number in range(1 + args.csv_repeats):
        order = [("export", export), ("baseline", baseline)]
        rng.shuffle(order)
        for name, call in order:
            started = time.perf_counter()
            rows_seen[name] = call()
            seconds = time.perf_counter() - started
            db.session.expunge_all()
            db.session.rollback()
            if round_number:
                samples[name].append(seconds)
        if time.monotonic() > deadline:
            log(f"  CSV budget of {BUDGETS['csv']:.0f} s spent after {round_number} rounds")
            break
    if rows_seen["export"] != rows_seen["baseline"]:
        raise SystemExit(f"CSV: the export wrote {rows_seen['export']} rows, the baseline {rows_seen['baseline']}")
    export_p50, baseline_p50 = percentile(samples["export"], 0.5), percentile(samples["baseline"], 0.5)
    return {
        "filter": days,
        "rows": rows_seen["export"],
        "export": {**stats(samples["export"]), "rows_per_s": round(rows_seen["export"] / export_p50)},
        "baseline": {**stats(samples["baseline"]), "rows_per_s": round(rows_seen["baseline"] / baseline_p50)},
        "ratio_p50": ratio(export_p50, baseline_p50),
    }


# -- the worker -------------------------------------------------------------------------------------


def add_due_requests(app, counts: dict, zone_points: dict | None, seed: int) -> list[int]:
    """``worker_requests`` finished trips whose feedback request is due now (sms, a number, not opted out)."""
    from sqlalchemy import insert, select

    from core.extensions import db
    from dispatch.models import Booking
    from feedback.models import Feedback
    from geo.models import Zone

    rng = random.Random(seed + 3)
    first = counts["feedback"]
    wanted = counts["worker_requests"]
    now = time.time()
    with app.app_context():
        if zone_points is None:
            zone_points = {zone_id: (35.7, 51.4) for zone_id in db.session.scalars(select(Zone.id))}
        drivers = list(range(FIRST_DRIVER_ID, FIRST_DRIVER_ID + DRIVERS))
        agents = list(range(SUPERVISORS + 1, SUPERVISORS + AGENTS + 1))
        trips = Trips(wanted, counts["subscribers"], drivers, list(zone_points), agents, rng)
        bookings, requests = [], []
        for i in range(wanted):
            subscriber = trips.subscriber[i]
            while opted_out(subscriber) or feedback_channel(subscriber) != "sms":
                subscriber = subscriber % counts["subscribers"] + 1
            trips.subscriber[i] = subscriber
            trips.pickup[i] = now - 3600 - 60 * trips.minutes[i]
            booking = booking_row(i, trips, zone_points, rng)
            booking["id"] = first + i + 1
            bookings.append(booking)
            request = feedback_row(i, trips, now, rng, {})
            request.update(id=first + i + 1, booking_id=first + i + 1, status="scheduled", due_at=at(now - 60))
            request.update(requested_at=None, answered_at=None, expires_at=None, rating=None, attempts=0)
            request.update(call_sid=None, comment="", channel="sms", last_error="")
            requests.append(request)
        with db.engine.begin() as connection:
            connection.execute(insert(Booking.__table__), bookings)
            connection.execute(insert(Feedback.__table__), requests)
        db.engine.dispose()
    return [row["id"] for row in requests]


def remove_due_requests(app, counts: dict) -> dict:
    """Delete what the worker part added (its trips, requests, their events and texts): the data set is as built."""
    from sqlalchemy import delete, func, select

    from core.extensions import db
    from dispatch.models import Booking
    from feedback.models import Feedback, FeedbackEvent
    from notifications.models import OutboundMessage

    first = counts["feedback"]
    with app.app_context():
        outcome = {
            "requests_by_status": dict(
                db.session.execute(
                    select(Feedback.status, func.count()).where(Feedback.id > first).group_by(Feedback.status)
                ).all()
            ),
            "texts_by_status": dict(
                db.session.execute(
                    select(OutboundMessage.status, func.count())
                    .where(OutboundMessage.booking_id > first)
                    .group_by(OutboundMessage.status)
                ).all()
            ),
        }
        db.session.execute(delete(OutboundMessage).where(OutboundMessage.booking_id > first))
        db.session.execute(delete(FeedbackEvent).where(FeedbackEvent.feedback_id > first))
        db.session.execute(delete(Feedback).where(Feedback.id > first))
        db.session.execute(delete(Booking).where(Booking.id > first))
        db.session.commit()
        db.session.remove()
        raw = db.engine.raw_connection()
        raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw.close()
        db.engine.dispose()
    return outcome


def run_worker(env: dict[str, str], workdir: Path, label: str, timeout: float) -> float:
    """``rq worker --burst --worker-class core.worker.CabdeskWorker default`` until the queue is empty; wall seconds."""
    rq = str(Path(sys.executable).with_name("rq"))
    args = [rq, "worker", "--burst", "--worker-class", "core.worker.CabdeskWorker", "--url", env["REDIS_URL"]]
    log_path = workdir / f"worker-{label}.log"
    with open(log_path, "wb") as output:
        started = time.perf_counter()
        process = spawn([*args, "default"], cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_process(process, f"rq worker ({label})", 10)
            raise SystemExit(f"the worker ({label}) did not finish in {timeout:.0f} s; see {log_path}") from None
        finally:
            if process.poll() is None:
                stop_process(process, f"rq worker ({label})", 10)
        seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"the worker ({label}) exited {process.returncode}:\n{log_path.read_text()[-3000:]}")
    return seconds


def finished_jobs(redis) -> dict:
    """The finished and failed jobs of the default queue: count by function, busy span, job times."""
    from rq import Queue
    from rq.job import Job

    queue = Queue("default", connection=redis)
    ids = queue.finished_job_registry.get_job_ids()
    jobs = [job for job in Job.fetch_many(ids, connection=redis) if job is not None]
    failed = queue.failed_job_registry.get_job_ids()
    by_function: dict[str, list[float]] = {}
    for job in jobs:
        by_function.setdefault(job.func_name.rsplit(".", 1)[-1], []).append(
            (job.ended_at - job.started_at).total_seconds()
        )
    span = (max(j.ended_at for j in jobs) - min(j.started_at for j in jobs)).total_seconds() if jobs else None
    return {
        "finished": len(jobs),
        "failed": len(failed),
        "left_in_queue": queue.count,
        "span_s": round(span, 3) if span else None,
        "jobs": {name: {"n": len(times), **stats(times)} for name, times in sorted(by_function.items())},
        "failed_samples": [failure(Job.fetch(i, connection=redis)) for i in failed[:2]],
    }


def failure(job) -> str:
    """The end of a failed job's traceback."""
    result = job.latest_result()
    return (getattr(result, "exc_string", None) or "")[-500:]


def measure_worker(app, args, counts: dict, zone_points: dict | None, db_path: Path, workdir: Path) -> dict:
    """Due feedback requests through the real worker (ask, then send to the Twilio stand-in), against no-op jobs."""
    from redis import Redis
    from rq import Queue

    from feedback.tasks import ask_for_feedback
    from tests.support.live_server import server_environment
    from tests.support.twilio_stub import twilio_stub

    requests = counts["worker_requests"]
    options = {"timeout": 120, "result_ttl": 3600, "failure_ttl": 7 * 24 * 3600}
    deadline = time.monotonic() + BUDGETS["worker"]
    out: dict = {"requests": requests}
    stamp_file = Path(f"{db_path}.stamp")
    stamp = stamp_file.read_text()
    stamp_file.unlink()  # rows are added below: the data set is not reusable until they are gone again
    with contextlib.ExitStack() as stack:
        twilio = stack.enter_context(twilio_stub(ACCOUNT_SID, AUTH_TOKEN))
        redis_url = stack.enter_context(redis_server(workdir))
        redis = Redis.from_url(redis_url)
        stack.callback(redis.close)
        env = server_environment(
            workdir,
            redis_url,
            {
                "DATABASE_URL": f"sqlite:///{db_path}",
                "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                "TWILIO_NUMBER": OFFICE_NUMBER,
                "TWILIO_API_URL": twilio.url,
                "FEEDBACK_QUIET_HOURS": "",  # ask now, whatever the office clock says
                "PUBLIC_URL": "",
            },
        )
        queue = Queue("default", connection=redis)

        def noop_round(label: str) -> dict:
            redis.flushdb()
            # By name: run as `python -m bench.feedback_bench`, this module is __main__, which the worker cannot import.
            queue.enqueue_many([Queue.prepare_data(NOOP_JOB, **options) for _ in range(2 * requests)])
            wall = run_worker(env, workdir, label, max(30.0, deadline - time.monotonic()))
            jobs = finished_jobs(redis)
            jobs["wall_s"] = round(wall, 2)
            jobs["jobs_per_s"] = round(jobs["finished"] / jobs["span_s"], 1) if jobs["span_s"] else None
            return jobs

        log(f"worker baseline: {2 * requests:,} no-op jobs")
        out["noop_before"] = noop_round("noop-before")
        log(f"worker: {requests:,} due feedback requests (ask_for_feedback, then send_text each)")
        ids = add_due_requests(app, counts, zone_points, args.seed)
        try:
            redis.flushdb()
            queue.enqueue_many([Queue.prepare_data(ask_for_feedback, args=(i,), **options) for i in ids])
            wall = run_worker(env, workdir, "feedback", max(30.0, deadline - time.monotonic()))
            jobs = finished_jobs(redis)
            jobs["wall_s"] = round(wall, 2)
            jobs["jobs_per_s"] = round(jobs["finished"] / jobs["span_s"], 1) if jobs["span_s"] else None
            jobs["texts_received_by_twilio"] = len(twilio.requests_to("Messages.json"))
            out["feedback"] = jobs
        finally:
            out["feedback_outcome"] = remove_due_requests(app, counts)
            stamp_file.write_text(stamp)
        log(f"worker baseline again: {2 * requests:,} no-op jobs")
        out["noop_after"] = noop_round("noop-after")
    rates = [out[k]["jobs_per_s"] for k in ("noop_before", "noop_after") if out[k].get("jobs_per_s")]
    out["noop_jobs_per_s"] = round(sum(rates) / len(rates), 1) if rates else None
    out["ratio"] = ratio(out["feedback"]["jobs_per_s"], out["noop_jobs_per_s"])
    feedback = out["feedback"]
    expected = {"ask_for_feedback": requests, "send_text": requests}
    got = {name: figures["n"] for name, figures in feedback["jobs"].items()}
    problems = []
    if got != expected or feedback["failed"] or feedback["left_in_queue"]:
        problems.append(f"jobs {got}, failed {feedback['failed']}, left {feedback['left_in_queue']}")
    if out["feedback_outcome"]["requests_by_status"] != {"requested": requests}:
        problems.append(f"requests {out['feedback_outcome']['requests_by_status']}")
    if out["feedback_outcome"]["texts_by_status"] != {"sent": requests}:
        problems.append(f"texts {out['feedback_outcome']['texts_by_status']}")
    if feedback["texts_received_by_twilio"] != requests:
        problems.append(f"{feedback['texts_received_by_twilio']} texts reached the Twilio stand-in")
    for key in ("noop_before", "noop_after"):
        if out[key]["finished"] != 2 * requests or out[key]["failed"]:
            problems.append(f"{key}: {out[key]['finished']} finished, {out[key]['failed']} failed")
    out["problems"] = problems
    return out


# -- the report -------------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _x(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×" if value < 10 else f"{value:,.1f}×"


def table(results: dict) -> str:
    head = ["figure", "n", "matches", "p50 ms", "p99 ms", "max ms", "p50÷COUNT", "p99÷COUNT", "p99÷PK", "verdict"]
    rows: list[list[str]] = []
    log_part = results.get("log")
    if log_part:
        pk, count = log_part["pk_baseline"], log_part["count_baseline"]
        rows.append(["primary-key lookup (baseline)", str(pk["n"]), "1", _ms(pk["p50_ms"]), _ms(pk["p99_ms"])])
        rows[-1] += [_ms(pk["max_ms"]), "", "", "", ""]
        rows.append(["SELECT COUNT(*) FROM complaints (baseline)", str(count["n"]), ""])
        rows[-1] += [_ms(count["p50_ms"]), _ms(count["p99_ms"]), _ms(count["max_ms"]), "", "", "", ""]
        for name, f in log_part["filters"].items():
            verdict = f"p99 < {TARGET_PAGE_P99_MS:g} ms: " + ("met" if f["target_met"] else "MISSED")
            rows.append(
                [
                    f"log page: {name}",
                    str(f["n"]),
                    f"{f['matches']:,}",
                    _ms(f["p50_ms"]),
                    _ms(f["p99_ms"]),
                    _ms(f["max_ms"]),
                    _x(f["p50_to_count"]),
                    _x(f["p99_to_count"]),
                    _x(f["p99_to_pk"]),
                    verdict,
                ]
            )
    http = results.get("http")
    if http and "skipped" in http:
        rows.append(["GET /supervisor/complaints?…", "", "", "", "", "", "", "", "", "SKIPPED (see below)"])
    elif http:
        for name, f in http["filters"].items():
            verdict = f"p99 < {TARGET_PAGE_P99_MS:g} ms: " + ("met" if f["target_met"] else "MISSED")
            rows.append([f"HTTP page: {name}", str(f["n"]), "", _ms(f["p50_ms"]), _ms(f["p99_ms"])])
            rows[-1] += [_ms(f["max_ms"]), "", "", "", f"{_x(f['p50_to_function_p50'])} the call; {verdict}"]
    exported = results.get("csv")
    if exported:
        for key, label in (("export", "CSV export (csv_rows → csv.writer)"), ("baseline", "  plain SELECT → csv")):
            f = exported[key]
            rows.append([label, str(f["n"]), f"{exported['rows']:,}", _ms(f["p50_ms"]), _ms(f["p99_ms"])])
            rows[-1] += [_ms(f["max_ms"]), "", "", "", f"{f['rows_per_s']:,} rows/s"]
        rows[-1][-1] += f"; export = {_x(exported['ratio_p50'])} baseline"
    widths = [max(len(row[i]) if i < len(row) else 0 for row in [head, *rows]) for i in range(len(head))]
    out = ["  ".join(c.ljust(w) for c, w in zip(head, widths, strict=True)).rstrip()]
    out.append("  ".join("-" * w for w in widths))
    for row in rows:
        row = row + [""] * (len(head) - len(row))
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    worker = results.get("worker")
    if worker and "feedback" in worker:
        f = worker["feedback"]
        kinds = ", ".join(f"{name} {job['n']:,}" for name, job in f["jobs"].items())
        out.append("")
        out.append(
            f"worker (rq worker --burst, core.worker.CabdeskWorker): {f['finished']:,} jobs "
            f"({kinds}) in {f['span_s']} s = "
            f"**{f['jobs_per_s']} jobs/s** (process {f['wall_s']} s with start-up); no-op jobs: "
            f"{worker['noop_before']['jobs_per_s']} and {worker['noop_after']['jobs_per_s']} jobs/s "
            f"(before, after) → feedback jobs ÷ no-op = {_x(worker['ratio'])}"
        )
        for name, job in f["jobs"].items():
            out.append(f"  {name}: p50 {_ms(job['p50_ms'])} ms, p99 {_ms(job['p99_ms'])} ms from start to end")
        noop = worker["noop_before"]["jobs"].get("noop_job")
        if noop:
            out.append(f"  noop_job: p50 {_ms(noop['p50_ms'])} ms, p99 {_ms(noop['p99_ms'])} ms from start to end")
        check = "every request asked, every text sent" if not worker["problems"] else "; ".join(worker["problems"])
        out.append(f"  check: {check}; {f['texts_received_by_twilio']:,} texts reached the Twilio stand-in")
    if http and "skipped" in http:
        out.append(f"HTTP part skipped: {http['skipped']}")
    if log_part:
        out.append("query plans (SQLite EXPLAIN QUERY PLAN: the count, then the page):")
        for name, f in log_part["filters"].items():
            out.append(f"  {name}: " + " | ".join(f["plans"]))
    verdict = results.get("target_met")
    missed = [name for name, f in (log_part or {}).get("filters", {}).items() if not f["target_met"]]
    if verdict is not None:
        out.append(
            f"target: log page p99 < {TARGET_PAGE_P99_MS:g} ms for every filter: "
            + ("met" if verdict else f"MISSED by {', '.join(missed)}")
        )
    build = results.get("build", {})
    built = "reused" if build.get("reused") else f"{build.get('seconds')} s"
    out.append(f"data set: {built}; whole run {results.get('run_seconds')} s; code {results['code']}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.feedback_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="of 1,000,000 feedback records (default 1)")
    parser.add_argument("--database", type=Path, default=None, help="SQLite file (default bench/.data/feedback…)")
    parser.add_argument("--rebuild", action="store_true", help="build the data set again even when it is there")
    parser.add_argument("--repeats", type=int, default=200, help="timed rounds of the log filters (default 200)")
    parser.add_argument("--http-repeats", type=int, default=30, help="timed rounds through the page (default 30)")
    parser.add_argument("--csv-repeats", type=int, default=5, help="timed exports, and as many baselines")
    parser.add_argument("--worker-requests", type=int, default=None, help="due requests (default 2,000 × scale)")
    parser.add_argument("--part", choices=("all", "log", "csv", "worker"), default="all")
    parser.add_argument("--seed", type=int, default=20_240_601)
    parser.add_argument("--time-limit", type=float, default=900, help="seconds after which the run stops itself")
    parser.add_argument("--strict", action="store_true", help="exit status 1 when the target is missed")
    args = parser.parse_args(argv)
    if not 0.0005 <= args.scale <= 10:
        parser.error("--scale between 0.0005 and 10 please")
    counts = scaled(args)
    suffix = "" if args.scale == 1 else f"-{args.scale:g}"
    db_path = (args.database or DATA_DIR / f"feedback{suffix}.sqlite3").resolve()
    results = results_header("feedback", scale=args.scale, counts=counts, target_page_p99_ms=TARGET_PAGE_P99_MS)
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="cabdesk-feedback-"))
    with time_limited(results, args.time_limit, workdir):
        from core.extensions import db

        app = make_app(db_path)
        build = prepare_dataset(app, db_path, args, counts)
        results["build"] = {k: v for k, v in build.items() if k != "zone_points"}
        rng = random.Random(args.seed + 2)
        if args.part in ("all", "log"):
            with app.app_context():
                filters = log_filters(rng)
                log(f"the complaint log's first page: {len(filters)} filters, up to {args.repeats} rounds")
                results["log"] = measure_log(args, rng, counts, filters)
                function_p50 = {name: f["p50_ms"] for name, f in results["log"]["filters"].items()}
                log("the same through GET /supervisor/complaints (Flask test client)")
                results["http"] = measure_http(app, args, rng, filters, function_p50)
                db.session.remove()
        if args.part in ("all", "csv"):
            with app.app_context():
                log(f"CSV export of ~{counts['csv_rows']:,} complaints, {args.csv_repeats} times each way")
                results["csv"] = measure_csv(args, rng, counts, workdir)
                db.session.remove()
                db.engine.dispose()
        if args.part in ("all", "worker"):
            results["worker"] = measure_worker(app, args, counts, build.get("zone_points"), db_path, workdir)
    status = 2 if results.get("timed_out") else 0
    results["run_seconds"] = round(time.perf_counter() - started, 1)
    results["load_after"] = round(os.getloadavg()[0], 1)
    filters = results.get("log", {}).get("filters", {})
    results["target_met"] = all(f["target_met"] for f in filters.values()) if filters else None
    print_results(
        f"Cabdesk feedback and complaints benchmark — SQLite, {counts['feedback']:,} feedback records, "
        f"{counts['complaints']:,} complaints — {results['date']}, {results['machine']}",
        table(results),
        results,
    )
    if status == 0 and args.strict and results["target_met"] is False:
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
