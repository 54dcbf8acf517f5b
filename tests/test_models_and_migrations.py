"""The schema on SQLite and PostgreSQL: migrations against the models, a full object graph, constraints.

Every test runs on both databases. PostgreSQL starts once per session; each test gets its own
database on it (a copy of a migrated template where the test needs the schema). Its sessions use
Asia/Tehran as their time zone, so reading timestamps back exercises the conversion to UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

TEHRAN = ZoneInfo("Asia/Tehran")  # +03:30 all year since 2022
# 23:45 in Tehran on Nowruz eve is 20:15 UTC the same day.
PICKUP_AT = datetime(2026, 3, 20, 23, 45, 12, 345678, tzinfo=TEHRAN)
PICKUP_AT_UTC_WALL = datetime(2026, 3, 20, 20, 15, 12, 345678)
BIG_FARE = 12_345_678_901  # IRR: past 2**31, so money columns must be 64-bit on PostgreSQL too


# --- helpers ------------------------------------------------------------------------------------


def _head_revision() -> str:
    from alembic.script import ScriptDirectory

    from config import PROJECT_ROOT

    heads = ScriptDirectory(str(PROJECT_ROOT / "migrations")).get_heads()
    assert len(heads) == 1, f"the migrations have several heads: {heads}"
    return heads[0]


def _current_revision() -> str | None:
    from alembic.runtime.migration import MigrationContext

    from core.extensions import db

    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _schema_differences() -> list:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from core.extensions import db

    with db.engine.connect() as conn:
        from core.database import migration_include_name

        opts = {"compare_type": True, "include_name": migration_include_name}
        return compare_metadata(MigrationContext.configure(conn, opts=opts), db.metadata)


def _table_names() -> set[str]:
    """The tables in the database, but for the search index's own (see core.database.migration_include_name)."""
    from core.database import migration_include_name
    from core.extensions import db

    return {name for name in inspect(db.engine).get_table_names() if migration_include_name(name, "table", {})}


def _assert_utc(value: datetime, what: str) -> None:
    assert value.tzinfo is not None, f"{what} read back naive: {value!r}"
    assert value.utcoffset() == timedelta(0), f"{what} read back not in UTC: {value!r}"


def _assert_every_timestamp_utc(obj) -> None:
    """Every UTCDateTime column of a loaded object that holds a value is timezone-aware UTC."""
    from core.models import UTCDateTime

    mapper = inspect(obj).mapper
    for column in mapper.columns:
        if isinstance(column.type, UTCDateTime):
            value = getattr(obj, mapper.get_property_by_column(column).key)
            if value is not None:
                _assert_utc(value, f"{type(obj).__name__}.{column.key}")


def _stored_utc_text(table: str, column: str, row_id: int) -> str:
    """How the database itself holds a timestamp, rendered in UTC as ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    from core.extensions import db

    if db.engine.dialect.name == "sqlite":
        sql = f"SELECT {column} FROM {table} WHERE id = :id"  # noqa: S608 (names are ours)
    else:
        sql = (
            f"SELECT to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') "  # noqa: S608
            f"FROM {table} WHERE id = :id"
        )
    return db.session.execute(text(sql), {"id": row_id}).scalar_one()


def _minimal_booking(**kwargs):
    from dispatch.models import Booking

    values = {
        "pickup_text": "میدان ونک",
        "pickup_lat": 35.7575,
        "pickup_lon": 51.4095,
        "pickup_at": PICKUP_AT,
        "currency": "IRR",
    }
    values.update(kwargs)
    return Booking(**values)


# --- 1, 2: migrations ---------------------------------------------------------------------------


def test_upgrade_from_empty_reaches_head_and_matches_the_models(empty_app):
    from flask_migrate import upgrade

    from core.extensions import db

    assert _table_names() == set()
    upgrade()

    assert _current_revision() == _head_revision()
    assert _table_names() == set(db.metadata.tables) | {"alembic_version"}
    assert _schema_differences() == []


def test_downgrade_to_base_then_upgrade_again(empty_app):
    from flask_migrate import downgrade, upgrade

    from core.extensions import db

    upgrade()
    downgrade(revision="base")

    assert _current_revision() is None
    assert _table_names() == {"alembic_version"}, "the downgrade left tables behind"
    if db.engine.dialect.name == "postgresql":
        assert inspect(db.engine).get_sequence_names() == [], "the downgrade left sequences behind"

    upgrade()

    assert _current_revision() == _head_revision()
    assert _table_names() == set(db.metadata.tables) | {"alembic_version"}
    assert _schema_differences() == []


# --- 3: a realistic object graph ---------------------------------------------------------------


def test_object_graph_round_trip(migrated_app):
    from accounts.models import User
    from calls.models import Call, CallEvent
    from core.extensions import db
    from crm.models import Address, Subscriber, SubscriberPhone, Tier
    from dispatch.models import Booking, BookingEvent, BookingStatus
    from drivers.models import Driver, Vehicle
    from fares.models import FareRule
    from feedback.models import Complaint, ComplaintCategory, ComplaintEvent, Feedback
    from geo.models import Zone

    boundary = {
        "type": "Polygon",
        "coordinates": [[[51.40, 35.75], [51.42, 35.75], [51.42, 35.77], [51.40, 35.77], [51.40, 35.75]]],
    }
    surcharges = [{"kind": "night", "from": "23:00", "to": "06:00", "percent": 20, "label": "شبانه"}]
    breakdown = [
        {"label": "ورودی", "amount": 1_000_000_000},
        {"label": "مسافت ۴۲٫۵ کیلومتر", "amount": 234_567_890},
    ]
    event_data = {"note": "مسافر چمدان دارد", "source": "agent", "tags": ["فرودگاه", "VIP"]}
    call_payload = {"CallStatus": "ringing", "From": "+989121234567", "CallerName": "علی رضایی"}
    started = datetime.now(UTC)

    user = User(
        username="maryam",
        display_name="مریم احمدی",
        password_hash="not-a-real-hash",
        role="agent",
        language="fa",
        calendar="jalali",
        last_login_at=datetime(2026, 3, 20, 8, 0, tzinfo=TEHRAN),
    )
    zone = Zone(code="vanak", name_fa="ونک", name_en="Vanak", boundary=boundary)
    db.session.add_all([user, zone])
    db.session.flush()

    subscriber = Subscriber(
        name="علی رضایی",
        tier=Tier.GOLD,
        notes="همیشه سدان سفید می‌خواهد",
        phones=[
            SubscriberPhone(e164="+989121234567"),
            SubscriberPhone(e164="+982188776655", kind="landline"),
        ],
        addresses=[
            Address(
                label="خانه",
                text="تهران، خیابان ونک، کوچه گلستان، پلاک ۱۲",
                unit="طبقه ۳",
                lat=35.7575,
                lon=51.4095,
                zone_id=zone.id,
            )
        ],
    )
    driver = Driver(
        call_sign="T-17",
        name="حسن کریمی",
        phone="+989351112233",
        licence_expires_on=date(2027, 6, 30),
        vehicles=[
            Vehicle(
                plate="۱۲ ب ۳۴۵ ایران ۱۰",
                make_model="Peugeot 405",
                colour="سفید",
                year=2019,
                insurance_expires_on=date(2026, 12, 31),
            )
        ],
    )
    fare_rule = FareRule(
        name="پایه سدان",
        vehicle_class="sedan",
        currency="IRR",
        flag_down=BIG_FARE,
        per_km=1_500_000,
        per_minute=250_000,
        minimum_fare=2_000_000_000,
        surcharges=surcharges,
        valid_from=datetime(2026, 3, 21, 0, 0, tzinfo=TEHRAN),
        created_by_id=user.id,
    )
    call = Call(
        provider_sid="CA" + "0123456789abcdef" * 2,
        from_number="+989121234567",
        caller_e164="+989121234567",
        agent_id=user.id,
        status="completed",
        queued_at=PICKUP_AT - timedelta(minutes=30),
        answered_at=PICKUP_AT - timedelta(minutes=29, seconds=40),
        ended_at=PICKUP_AT - timedelta(minutes=27),
        events=[CallEvent(status="ringing", at=PICKUP_AT - timedelta(minutes=30), payload=call_payload)],
    )
    db.session.add_all([subscriber, driver, fare_rule, call])
    db.session.flush()
    call.subscriber_id = subscriber.id

    booking = Booking(
        status=BookingStatus.COMPLETED,
        subscriber_id=subscriber.id,
        phone="+989121234567",
        call_id=call.id,
        created_by_id=user.id,
        pickup_text=subscriber.addresses[0].text,
        pickup_lat=35.7575,
        pickup_lon=51.4095,
        pickup_address_id=subscriber.addresses[0].id,
        pickup_zone_id=zone.id,
        dropoff_text="فرودگاه امام خمینی",
        dropoff_lat=35.4161,
        dropoff_lon=51.1522,
        pickup_at=PICKUP_AT,
        fare_rule_id=fare_rule.id,
        fare=BIG_FARE,
        currency="IRR",
        fare_breakdown=breakdown,
        distance_km=42.5,
        duration_min=51.25,
        driver_id=driver.id,
        vehicle_id=driver.vehicles[0].id,
        completed_at=PICKUP_AT + timedelta(minutes=51, seconds=15),
        events=[
            BookingEvent(from_status=None, to_status=BookingStatus.REQUESTED, user_id=user.id, data=event_data),
            BookingEvent(
                from_status=BookingStatus.REQUESTED,
                to_status=BookingStatus.COMPLETED,
                driver_id=driver.id,
                at=PICKUP_AT + timedelta(minutes=51, seconds=15),
                reason="سفر تمام شد",
            ),
        ],
    )
    db.session.add(booking)
    db.session.flush()
    feedback = Feedback(
        booking_id=booking.id,
        subscriber_id=subscriber.id,
        driver_id=driver.id,
        status="answered",
        rating=2,
        comment="راننده مسیر طولانی‌تر را رفت",
        requested_at=PICKUP_AT + timedelta(hours=1),
        answered_at=PICKUP_AT + timedelta(hours=1, minutes=5),
    )
    db.session.add(feedback)
    db.session.flush()
    complaint = Complaint(
        reference="C-1405-0001",
        subscriber_id=subscriber.id,
        booking_id=booking.id,
        driver_id=driver.id,
        agent_id=user.id,
        feedback_id=feedback.id,
        category=ComplaintCategory.ROUTE,
        severity=3,
        source="rating",
        description="مسافر می‌گوید راننده از بزرگراه نرفت",
        respond_by=PICKUP_AT + timedelta(days=2),
        events=[ComplaintEvent(user_id=user.id, action="created", to_status="new", note="ثبت شد")],
    )
    db.session.add(complaint)
    db.session.commit()
    ids = {
        "user": user.id,
        "zone": zone.id,
        "subscriber": subscriber.id,
        "driver": driver.id,
        "fare_rule": fare_rule.id,
        "call": call.id,
        "booking": booking.id,
        "feedback": feedback.id,
        "complaint": complaint.id,
    }
    finished = datetime.now(UTC)
    db.session.remove()  # read everything back from the database, not from the identity map

    user = db.session.get(User, ids["user"])
    zone = db.session.get(Zone, ids["zone"])
    subscriber = db.session.get(Subscriber, ids["subscriber"])
    driver = db.session.get(Driver, ids["driver"])
    fare_rule = db.session.get(FareRule, ids["fare_rule"])
    call = db.session.get(Call, ids["call"])
    booking = db.session.get(Booking, ids["booking"])
    feedback = db.session.get(Feedback, ids["feedback"])
    complaint = db.session.get(Complaint, ids["complaint"])

    # Timestamps: the instant written in Tehran time comes back as the same instant in UTC.
    assert booking.pickup_at == PICKUP_AT
    _assert_utc(booking.pickup_at, "Booking.pickup_at")
    assert booking.pickup_at.replace(tzinfo=None) == PICKUP_AT_UTC_WALL
    assert _stored_utc_text("bookings", "pickup_at", booking.id) == "2026-03-20 20:15:12.345678"
    assert booking.completed_at == PICKUP_AT + timedelta(minutes=51, seconds=15)
    assert user.last_login_at.replace(tzinfo=None) == datetime(2026, 3, 20, 4, 30)
    assert fare_rule.valid_from.replace(tzinfo=None) == datetime(2026, 3, 20, 20, 30)
    assert fare_rule.valid_to is None
    assert call.queued_at == PICKUP_AT - timedelta(minutes=30)
    assert call.events[0].at == PICKUP_AT - timedelta(minutes=30)
    assert feedback.answered_at == PICKUP_AT + timedelta(hours=1, minutes=5)
    assert complaint.respond_by == PICKUP_AT + timedelta(days=2)
    assert started <= booking.created_at <= finished  # the utcnow default survives the trip too
    assert started <= complaint.events[0].at <= finished
    loaded = [user, zone, subscriber, *subscriber.phones, *subscriber.addresses, driver, *driver.vehicles]
    loaded += [
        fare_rule,
        call,
        *call.events,
        booking,
        *booking.events,
        feedback,
        complaint,
        *complaint.events,
    ]
    for obj in loaded:
        _assert_every_timestamp_utc(obj)

    # JSON, Persian text included.
    assert zone.boundary == boundary
    assert fare_rule.surcharges == surcharges
    assert booking.fare_breakdown == breakdown
    assert booking.events[0].data == event_data
    assert booking.events[1].data == {}
    assert call.events[0].payload == call_payload

    # Money: exact integers, never floats.
    for amount, expected in [
        (booking.fare, BIG_FARE),
        (fare_rule.flag_down, BIG_FARE),
        (fare_rule.minimum_fare, 2_000_000_000),
        (booking.fare_breakdown[0]["amount"], 1_000_000_000),
    ]:
        assert type(amount) is int
        assert amount == expected
    total = db.session.scalar(select(func.sum(Booking.fare)))
    assert int(total) == BIG_FARE and total == BIG_FARE

    # The rest of the graph, with its text.
    assert user.display_name == "مریم احمدی"
    assert zone.name_fa == "ونک"
    assert subscriber.name == "علی رضایی"
    assert subscriber.tier == "gold"
    assert [(p.e164, p.kind) for p in subscriber.phones] == [
        ("+989121234567", "mobile"),
        ("+982188776655", "landline"),
    ]
    [address] = subscriber.addresses
    assert address.text == "تهران، خیابان ونک، کوچه گلستان، پلاک ۱۲"
    assert (address.lat, address.lon, address.zone_id) == (35.7575, 51.4095, zone.id)
    assert driver.licence_expires_on == date(2027, 6, 30)
    [vehicle] = driver.vehicles
    assert (vehicle.plate, vehicle.colour, vehicle.year) == ("۱۲ ب ۳۴۵ ایران ۱۰", "سفید", 2019)
    assert call.subscriber_id == subscriber.id
    assert (booking.call_id, booking.pickup_address_id, booking.vehicle_id) == (
        call.id,
        address.id,
        vehicle.id,
    )
    assert (booking.distance_km, booking.duration_min) == (42.5, 51.25)
    assert booking.version == 1
    assert [(e.from_status, e.to_status) for e in booking.events] == [
        (None, "requested"),
        ("requested", "completed"),
    ]
    assert booking.events[1].reason == "سفر تمام شد"
    assert (feedback.booking_id, feedback.rating, feedback.comment) == (
        booking.id,
        2,
        "راننده مسیر طولانی‌تر را رفت",
    )
    assert (complaint.feedback_id, complaint.category, complaint.status) == (feedback.id, "route", "new")
    assert [(e.action, e.note) for e in complaint.events] == [("created", "ثبت شد")]


def test_naive_datetime_is_refused(migrated_app):
    from core.extensions import db
    from dispatch.models import Booking

    db.session.add(_minimal_booking(pickup_at=datetime(2026, 3, 20, 23, 45)))
    with pytest.raises(StatementError) as excinfo:
        db.session.flush()
    assert isinstance(excinfo.value.orig, ValueError)
    assert "naive datetime" in str(excinfo.value.orig)
    db.session.rollback()

    with pytest.raises(StatementError, match="naive datetime"):
        db.session.scalars(select(Booking).where(Booking.pickup_at < datetime(2026, 1, 1))).all()
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Booking)) == 0


# --- 4: constraints ----------------------------------------------------------------------------


def test_duplicate_phone_number_is_refused(migrated_app):
    from core.extensions import db
    from crm.models import Subscriber, SubscriberPhone

    db.session.add(Subscriber(name="علی", phones=[SubscriberPhone(e164="+989121234567")]))
    db.session.commit()

    db.session.add(Subscriber(name="رضا", phones=[SubscriberPhone(e164="+989121234567")]))
    with pytest.raises(IntegrityError) as excinfo:
        db.session.commit()
    assert "e164" in str(excinfo.value.orig)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(SubscriberPhone)) == 1


def test_foreign_key_to_missing_row_is_refused(migrated_app):
    from core.extensions import db
    from crm.models import Subscriber, SubscriberPhone

    if db.engine.dialect.name == "sqlite":
        assert db.session.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
    subscriber = Subscriber(name="علی")
    db.session.add(subscriber)
    db.session.commit()
    db.session.add(SubscriberPhone(subscriber_id=subscriber.id, e164="+989121234567"))
    db.session.commit()  # the same row with an existing subscriber is accepted

    db.session.add(SubscriberPhone(subscriber_id=subscriber.id + 1000, e164="+989351112233"))
    with pytest.raises(IntegrityError) as excinfo:
        db.session.commit()
    assert "foreign key" in str(excinfo.value.orig).lower()
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(SubscriberPhone)) == 1


def test_one_feedback_per_booking(migrated_app):
    from core.extensions import db
    from feedback.models import Feedback

    booking = _minimal_booking()
    db.session.add(booking)
    db.session.commit()
    db.session.add(Feedback(booking_id=booking.id, channel="sms"))
    db.session.commit()

    db.session.add(Feedback(booking_id=booking.id, channel="ivr"))
    with pytest.raises(IntegrityError) as excinfo:
        db.session.commit()
    assert "booking_id" in str(excinfo.value.orig)
    db.session.rollback()
    assert db.session.scalars(select(Feedback.channel)).all() == ["sms"]


# --- 5: optimistic locking ---------------------------------------------------------------------


def test_concurrent_booking_edits_second_commit_is_stale(migrated_app):
    from core.extensions import db
    from dispatch.models import Booking, BookingStatus

    booking = _minimal_booking()
    db.session.add(booking)
    db.session.commit()
    booking_id = booking.id
    db.session.remove()

    with Session(db.engine) as first, Session(db.engine) as second:
        mine = first.get(Booking, booking_id)
        theirs = second.get(Booking, booking_id)
        assert mine.version == theirs.version == 1

        mine.status = BookingStatus.ASSIGNED
        first.commit()
        theirs.status = BookingStatus.CANCELLED
        with pytest.raises(StaleDataError):
            second.commit()
        second.rollback()

    stored = db.session.get(Booking, booking_id)
    assert (stored.status, stored.version) == ("assigned", 2)
