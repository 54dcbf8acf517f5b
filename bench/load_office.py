"""The load run's office: a PostgreSQL of its own, the application in this process, and the data, bulk-loaded.

The cluster is ``tests.support.servers.PostgresCluster`` (initdb as the ``postgres`` user when run as root, fsync
off), but its postmaster is started through ``bench.processes.spawn``, so it dies with the run even when the run is
killed. The data go in as ``bench/dispatch_bench.py`` loads them (SQLAlchemy Core executemany, one precomputed
password or PIN hash for everyone: scrypt costs 0.3 s a hash), here on PostgreSQL, whose sequences are then moved
past the ids given.
"""

from __future__ import annotations

import os
import random
import re
from datetime import datetime
from pathlib import Path

from bench.processes import spawn
from tests.support.servers import PostgresCluster

PASSWORD = "load run staff passphrase"  # noqa: S105 (throwaway accounts on loopback)
DISPATCHER = "dispatcher"
FIRST_DRIVER_ID = 1001  # staff ids are below it
SUBSCRIBER_PREFIXES = ("912", "919", "910", "901")
SENTINEL = 987654321  # a booking number no run reaches, to find where the number goes in a text


def bench_postgres() -> PostgresCluster:
    """A throwaway cluster whose postmaster dies with the benchmark (``spawn``: PR_SET_PDEATHSIG)."""
    return PostgresCluster(launcher=spawn)


def make_app(env: dict[str, str]):
    """The application with the servers' settings, in this process (no health watcher thread here)."""
    from config import load_config
    from core.app import create_app

    os.environ.setdefault("CABDESK_INSTANCE", env["CABDESK_INSTANCE"])
    config = load_config(env)
    config["HEALTH_WATCH_SECONDS"] = 0
    return create_app(config)


def subscriber_phone(index: int) -> str:
    """Subscriber ``index``'s mobile, unique: a bijection of the index onto each prefix's 10**7 numbers."""
    prefix = SUBSCRIBER_PREFIXES[index % len(SUBSCRIBER_PREFIXES)]
    serial = (index // len(SUBSCRIBER_PREFIXES) * 7_654_321 + 1_234_567) % 10**7
    return f"+98{prefix}{serial:07d}"


def _staff_rows(agents: int, now: datetime) -> list[dict]:
    from werkzeug.security import generate_password_hash

    password_hash = generate_password_hash(PASSWORD)  # one scrypt hash for everyone
    names = [(f"agent{n:02d}", "agent") for n in range(1, agents + 1)] + [(DISPATCHER, "dispatcher")]
    return [
        {
            "id": number,
            "username": username,
            "display_name": username.capitalize(),
            "password_hash": password_hash,
            "role": role,
            "language": "en",
            "calendar": "jalali",
            "phone": None,  # agents take calls in the browser (dial.client)
            "active": True,
            "last_login_at": None,
            "created_at": now,
        }
        for number, (username, role) in enumerate(names, start=1)
    ]


def _subscriber_rows(rng: random.Random, count: int, now: datetime) -> tuple[list[dict], list[dict]]:
    from bench.common import subscriber_row
    from crm.services import search_key_of
    from demo.people import FEMALE_NAMES, MALE_NAMES, SURNAMES

    first_names = [fa for fa, _ in MALE_NAMES + FEMALE_NAMES]
    surnames = [fa for fa, _ in SURNAMES]
    subscribers, phones = [], []
    for index in range(count):
        name = f"{rng.choice(first_names)} {rng.choice(surnames)}"
        e164 = subscriber_phone(index)
        row = subscriber_row(index + 1, name, search_key_of(name, [(e164, "0" + e164[3:])], []), now)
        row["language"] = "en" if rng.random() < 0.2 else "fa"  # a fifth read their texts in English
        subscribers.append(row)
        phones.append({"subscriber_id": index + 1, "e164": e164, "kind": "mobile", "created_at": now})
    return subscribers, phones


def load_office(app, rng: random.Random, agents: int, drivers: int, subscribers: int) -> dict:
    """Migrate, then zones, the sedan tariff, staff, drivers (with tokens) and subscribers; what the run needs."""
    import logging

    from flask_migrate import upgrade
    from sqlalchemy import insert, select, text

    from accounts.models import User
    from accounts.services import issue_token
    from bench.common import add_tehran_zones, insert_drivers, points_in_tehran
    from core.extensions import db
    from core.models import utcnow
    from crm.models import Subscriber, SubscriberPhone
    from tests.support.office import sedan_rule

    with app.app_context():
        upgrade()
        logging.getLogger("alembic").setLevel(logging.WARNING)
        add_tehran_zones()
        sedan_rule()
        db.session.commit()
        now = utcnow()
        connection = db.session.connection()
        connection.execute(insert(User.__table__), _staff_rows(agents, now))
        points = points_in_tehran(rng, drivers)
        ids = insert_drivers(connection, FIRST_DRIVER_ID, points, now)
        rows, phones = _subscriber_rows(rng, subscribers, now)
        for start in range(0, len(rows), 10_000):
            connection.execute(insert(Subscriber.__table__), rows[start : start + 10_000])
            connection.execute(insert(SubscriberPhone.__table__), phones[start : start + 10_000])
        # Ids were given explicitly: the sequences must start past them, or the application's next insert collides.
        for table in ("users", "drivers", "vehicles", "subscribers"):
            connection.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")  # noqa: S608
            )
        db.session.commit()
        users = {user.id: user for user in db.session.scalars(select(User).where(User.id >= FIRST_DRIVER_ID))}
        tokens = {driver_id: issue_token(users[driver_id], "load run phone") for driver_id in ids}
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        languages = dict(db.session.execute(select(Subscriber.id, Subscriber.language)).all())
        db.session.remove()
        db.engine.dispose()
    return {
        "agents": [f"agent{n:02d}" for n in range(1, agents + 1)],
        "drivers": [
            [driver_id, tokens[driver_id], lat, lon] for driver_id, (lat, lon) in zip(ids, points, strict=True)
        ],
        "callers": [(subscriber_phone(index), languages[index + 1]) for index in range(subscribers)],
    }


def feedback_request_pattern(app) -> re.Pattern:
    """A pattern matching the feedback request text in every language, its group the booking number."""
    from feedback.texts import customer_text

    digits = "0-9\u06f0-\u06f9\u0660-\u0669"
    alternatives = []
    with app.app_context():
        for language in ("fa", "en"):
            rendered = customer_text("feedback_request", language, booking=SENTINEL)
            for spelling in (str(SENTINEL), rendered_digits(rendered)):
                if spelling and spelling in rendered:
                    before, _, after = rendered.partition(spelling)
                    alternatives.append(re.escape(before) + f"([{digits}]+)" + re.escape(after))
                    break
    if not alternatives:
        raise RuntimeError("could not find the booking number in the feedback request text")
    return re.compile("|".join(f"(?:{alternative})" for alternative in alternatives), re.DOTALL)


def rendered_digits(text_: str) -> str:
    """The sentinel as it appears in ``text_`` when written in Persian or Arabic-Indic digits ('' if not)."""
    for zero in ("\u06f0", "\u0660"):
        spelled = "".join(chr(ord(zero) + int(d)) for d in str(SENTINEL))
        if spelled in text_:
            return spelled
    return ""


def booking_number(match: re.Match) -> int:
    """The booking number a feedback request's pattern found, whatever digits it was written in."""
    return int(next(group for group in match.groups() if group))  # int() reads Persian and Arabic digits too


def write_fleet(path: Path, drivers: list[list]) -> None:
    """The positions process's input: [[driver_id, token, lat, lon], …]."""
    import json

    path.write_text(json.dumps(drivers))
