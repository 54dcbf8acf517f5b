"""The demo office: what ``seed_demo`` loads, that it hangs together, and that a seed repeats itself."""

from __future__ import annotations

import re
import shutil
import time
from collections import Counter
from datetime import date, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from geopy.distance import geodesic
from shapely.geometry import Point, shape
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from accounts.models import User
from accounts.services import authenticate
from calls.models import Call, CallStatus
from core.extensions import db
from core.models import utcnow
from crm.models import Address, Note, Subscriber, SubscriberMonth, SubscriberPhone, Tier
from crm.phones import phone_kind, to_e164
from demo.places import TEHRAN
from demo.seed import database_is_empty, seed_demo
from dispatch.models import Booking, BookingEvent
from drivers.models import Driver, DriverStatus, Vehicle
from fares.models import FareRule
from feedback.models import Complaint, ComplaintCategory, ComplaintStatus, Feedback
from geo.models import Zone
from tests.conftest import app_settings, log_in

SEED = 1404
NOW = utcnow().replace(microsecond=0)  # one "now" for every seeding here, so runs can be compared
LIVE = {"requested", "scheduled", "offered", "assigned", "arrived", "on_trip"}
LOGINS = {
    "agent": "demo-agent",
    "dispatcher": "demo-dispatcher",
    "supervisor": "demo-supervisor",
    "admin": "demo-admin",
}


@pytest.fixture(scope="module")
def seeded_app(tmp_path_factory, migrated_sqlite, redis_url):
    """An app whose database holds the demo office of SEED, seeded once for this module."""
    from core.app import create_app

    folder = tmp_path_factory.mktemp("demo-db")
    path = folder / "cabdesk.sqlite3"
    shutil.copy(migrated_sqlite, path)
    application = create_app(app_settings(f"sqlite:///{path}", redis_url, folder))
    with application.app_context():
        started = time.perf_counter()
        summary = seed_demo(SEED, now=NOW)
        elapsed = time.perf_counter() - started
        db.session.commit()
        db.session.remove()
    application.config["DEMO_SUMMARY"], application.config["DEMO_SECONDS"] = summary, elapsed
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def seeded(seeded_app):
    """An app context on the seeded database; whatever a test writes is rolled back."""
    with seeded_app.app_context():
        yield seeded_app.config["DEMO_SUMMARY"]
        db.session.rollback()
        db.session.remove()


def all_of(model, *options):
    """Every row of a model, in id order."""
    return db.session.scalars(select(model).options(*options).order_by(model.id)).all()


def fingerprint() -> dict:
    """What two seedings with the same seed must agree on (password hashes are salted, so not those)."""
    subscribers = all_of(Subscriber, selectinload(Subscriber.phones), selectinload(Subscriber.addresses))
    return {
        "subscribers": sorted(
            (
                s.name,
                s.tier,
                s.language,
                tuple(p.e164 for p in s.phones),
                tuple((a.text, a.lat, a.lon) for a in s.addresses),
            )
            for s in subscribers
        ),
        "drivers": [(d.call_sign, d.name, d.phone, d.status) for d in all_of(Driver)],
        "vehicles": [(v.plate, v.make_model, v.colour) for v in all_of(Vehicle)],
        "bookings": [
            (b.status, b.pickup_at, b.subscriber_id, b.driver_id, b.fare, b.dropoff_text) for b in all_of(Booking)
        ],
        "calls": [(c.provider_sid, c.caller_e164, c.status) for c in all_of(Call)],
        "feedback": [(f.booking_id, f.rating, f.comment) for f in all_of(Feedback)],
        "complaints": [(c.category, c.status, c.reference, c.description) for c in all_of(Complaint)],
        "users": [(u.username, u.role, u.display_name) for u in all_of(User)],
    }


# --- what is there -------------------------------------------------------------------------------


def test_summary_matches_the_database_and_the_brief(seeded):
    counts = {
        "users": User, "zones": Zone, "fare_rules": FareRule, "subscribers": Subscriber,
        "phones": SubscriberPhone, "addresses": Address, "notes": Note, "drivers": Driver,
        "vehicles": Vehicle, "calls": Call, "bookings": Booking, "booking_events": BookingEvent,
        "feedback": Feedback, "complaints": Complaint,
    }  # fmt: skip
    assert seeded == {name: db.session.scalar(select(func.count(model.id))) for name, model in counts.items()}
    assert seeded["subscribers"] >= 500
    assert seeded["drivers"] == seeded["vehicles"] == 60
    assert 20 <= seeded["complaints"] <= 40
    past = db.session.scalar(select(func.count(Booking.id)).where(Booking.status.not_in(LIVE)))
    assert 300 <= past <= 600


def test_seed_is_fast(seeded_app):
    assert seeded_app.config["DEMO_SECONDS"] < 15


def test_one_account_per_role_and_the_demo_passwords_work(seeded):
    users = all_of(User)
    assert {u.role for u in users} == {"agent", "dispatcher", "supervisor", "admin", "driver"}
    assert sum(u.role == "agent" for u in users) >= 4
    for username, password in LOGINS.items():
        user = authenticate(username, password, "127.0.0.1")
        assert user is not None and user.role == username
        assert re.search("[\u0600-\u06ff]", user.display_name)  # a Persian name
        assert authenticate(username, "wrong-password", "127.0.0.1") is None
    for extra in [u for u in users if u.username.startswith("agent") and u.username != "agent"]:
        assert authenticate(extra.username, "demo-agent", "127.0.0.1") is not None


def test_zones_are_the_districts_and_the_airport(seeded):
    zones = {z.code: z for z in all_of(Zone)}
    assert sorted(zones) == sorted([f"D{n:02d}" for n in range(1, 23)] + ["IKA"])
    for zone in zones.values():
        assert shape(zone.boundary).is_valid and zone.boundary["type"] == "Polygon"
    assert zones["D06"].name_en == "District 6"
    airport = shape(zones["IKA"].boundary)
    assert airport.contains(Point(51.152221, 35.416111))
    assert not any(shape(z.boundary).intersects(airport) for code, z in zones.items() if code != "IKA")


def test_every_subscriber_has_phones_and_addresses(seeded):
    subscribers = all_of(Subscriber, selectinload(Subscriber.phones), selectinload(Subscriber.addresses))
    for subscriber in subscribers:
        assert 1 <= len(subscriber.phones) <= 2
        assert 1 <= len(subscriber.addresses) <= 4
        assert subscriber.addresses[0].label == "خانه"
        assert len({a.label for a in subscriber.addresses}) == len(subscriber.addresses)
        assert subscriber.language in ("fa", "en")
        assert subscriber.barred == bool(subscriber.barred_reason)
    languages = Counter(s.language for s in subscribers)
    assert languages["fa"] > 0.85 * len(subscribers) and languages["en"] > 0
    assert len({s.name for s in subscribers}) == len(subscribers)
    assert any(s.barred for s in subscribers) and any(s.sms_opt_out for s in subscribers)


def test_phone_numbers_are_valid_e164_and_unique(seeded):
    numbers = [p for p in all_of(SubscriberPhone)]
    drivers = [d.phone for d in all_of(Driver)]
    for phone in numbers:
        assert to_e164(phone.e164, "IR") == phone.e164
        assert phone.kind == phone_kind(phone.e164)
    for number in drivers:
        assert to_e164(number, "IR") == number and phone_kind(number) == "mobile"
    everything = [p.e164 for p in numbers] + drivers
    assert len(set(everything)) == len(everything)
    kinds = Counter(p.kind for p in numbers)
    assert kinds["mobile"] > kinds["landline"] > 0
    assert all(p.e164.startswith("+9821") for p in numbers if p.kind == "landline")


def test_every_address_lies_in_its_district(seeded):
    zones = {z.id: (z.code, shape(z.boundary)) for z in all_of(Zone)}
    for address in all_of(Address):
        code, polygon = zones[address.zone_id]
        assert code.startswith("D")
        assert polygon.contains(Point(address.lon, address.lat)), address.id
        assert address.text.startswith("خیابان ") and "پلاک" in address.text


def test_drivers_have_one_car_each_and_valid_papers(seeded):
    drivers = all_of(Driver, selectinload(Driver.vehicles))
    today = NOW.date()
    assert sorted(d.call_sign for d in drivers) == [str(n) for n in range(101, 161)]
    assert all(len(d.vehicles) == 1 for d in drivers)
    assert all(d.licence_expires_on > today and re.fullmatch(r"\d{10}", d.licence_number) for d in drivers)
    assert sum(d.licence_expires_on <= today + timedelta(days=30) for d in drivers) >= 2
    assert {d.status for d in drivers} == set(DriverStatus)
    plates = [d.vehicles[0].plate for d in drivers]
    assert len(set(plates)) == 60
    assert all(re.fullmatch("[۱-۹][۰-۹] [\u0600-\u06ff] [۱-۹][۰-۹]{2} ایران [۱-۹][۰-۹]", p) for p in plates)
    classes = Counter(d.vehicles[0].vehicle_class for d in drivers)
    assert classes["sedan"] > classes["van"] > 0 and classes["premium"] > 0
    assert all(d.vehicles[0].insurance_expires_on > today for d in drivers)


def test_busy_drivers_are_exactly_those_on_live_trips(seeded):
    live = db.session.scalars(
        select(Booking.driver_id).where(Booking.status.in_(["assigned", "arrived", "on_trip"]))
    ).all()
    busy = db.session.scalars(select(Driver.id).where(Driver.status == DriverStatus.BUSY)).all()
    assert sorted(live) == sorted(busy) and busy


def test_fare_rules_are_tehran_2025_tariffs(seeded):
    rules = {r.vehicle_class: r for r in all_of(FareRule)}
    assert set(rules) == {"sedan", "van", "premium"}
    sedan = rules["sedan"]
    assert (sedan.flag_down, sedan.per_km, sedan.per_minute, sedan.minimum_fare) == (
        250_000,
        90_000,
        15_000,
        500_000,
    )
    assert rules["sedan"].per_km < rules["van"].per_km < rules["premium"].per_km
    for rule in rules.values():
        assert rule.currency == "IRR" and rule.version == 1 and rule.rounding_step == 10_000
        assert rule.valid_from < NOW - timedelta(days=300) and rule.valid_to is None
        assert {"kind": "zone", "zone": "IKA", "amount": 1_500_000} in rule.surcharges
        assert any(s["kind"] == "night" and s["percent"] == 20 for s in rule.surcharges)


def expected_fare(booking: Booking, rule: FareRule, zone_codes: set[str]) -> int:
    """The rule's arithmetic, written out again independently of the seeder."""
    subtotal = rule.flag_down + round(rule.per_km * booking.distance_km) + round(rule.per_minute * booking.duration_min)
    subtotal = max(subtotal, rule.minimum_fare)
    hour = booking.pickup_at.astimezone(TEHRAN).hour
    total = subtotal + (round(subtotal * 0.2) if hour >= 23 or hour < 6 else 0)
    total += 1_500_000 if "IKA" in zone_codes else 0
    step = rule.rounding_step
    return (total + step // 2) // step * step


def test_fares_follow_the_rule(seeded):
    rules = {r.id: r for r in all_of(FareRule)}
    codes = {z.id: z.code for z in all_of(Zone)}
    airport_trips = night_trips = 0
    for booking in all_of(Booking):
        rule = rules[booking.fare_rule_id]
        assert rule.vehicle_class == booking.vehicle_class and booking.currency == "IRR"
        zone_codes = {codes.get(booking.pickup_zone_id), codes.get(booking.dropoff_zone_id)}
        assert booking.fare == expected_fare(booking, rule, zone_codes), booking.id
        assert sum(line["amount"] for line in booking.fare_breakdown) == booking.fare
        assert all({"label", "amount", "kind"} <= set(line) for line in booking.fare_breakdown)
        straight = geodesic((booking.pickup_lat, booking.pickup_lon), (booking.dropoff_lat, booking.dropoff_lon)).km
        assert booking.distance_km == pytest.approx(straight * 1.3, abs=0.06)
        assert booking.duration_min > 2
        airport_trips += "IKA" in zone_codes
        hour = booking.pickup_at.astimezone(TEHRAN).hour
        night_trips += hour >= 23 or hour < 6
    assert airport_trips > 0 and night_trips > 0


def test_bookings_start_at_a_saved_address_of_their_subscriber(seeded):
    addresses = {a.id: a for a in all_of(Address)}
    phones = {p.e164: p.subscriber_id for p in all_of(SubscriberPhone)}
    for booking in all_of(Booking):
        pickup = addresses[booking.pickup_address_id]
        assert pickup.subscriber_id == booking.subscriber_id
        assert (booking.pickup_lat, booking.pickup_lon, booking.pickup_zone_id) == (
            pickup.lat,
            pickup.lon,
            pickup.zone_id,
        )
        assert phones[booking.phone] == booking.subscriber_id
        if booking.dropoff_address_id:
            assert addresses[booking.dropoff_address_id].subscriber_id == booking.subscriber_id


def test_booking_histories_run_forward_and_end_in_the_status(seeded):
    bookings = all_of(Booking, selectinload(Booking.events))
    for booking in bookings:
        events = booking.events
        assert events[0].from_status is None and events[0].to_status == "requested"
        assert events[0].at == booking.created_at
        for before, after in pairwise(events):
            assert after.from_status == before.to_status
            assert after.at > before.at, booking.id
        assert events[-1].to_status == booking.status
        assert events[-1].at <= NOW
        if booking.status == "completed":
            assert booking.completed_at == events[-1].at and booking.driver_id and booking.vehicle_id
            assert [e.to_status for e in events][-4:] == ["assigned", "arrived", "on_trip", "completed"]
        else:
            assert booking.completed_at is None
        if booking.status in ("cancelled", "no_show"):
            assert booking.cancel_reason and events[-1].reason == booking.cancel_reason
        if booking.status not in LIVE:
            assert booking.pickup_at < NOW - timedelta(hours=3)
            assert booking.pickup_at > NOW - timedelta(days=91)
    statuses = Counter(b.status for b in bookings)
    assert statuses["completed"] > 0.75 * len(bookings)
    assert statuses["cancelled"] > 0 and statuses["no_show"] > 0
    assert {"requested", "assigned", "on_trip", "scheduled"} <= set(statuses)
    scheduled = [b for b in bookings if b.status == "scheduled"]
    assert all(NOW < b.pickup_at < NOW + timedelta(hours=6) for b in scheduled)


def test_more_pickups_in_the_rush_hours(seeded):
    hours = Counter(b.pickup_at.astimezone(TEHRAN).hour for b in all_of(Booking))
    assert hours[8] + hours[18] > 4 * (hours[2] + hours[3])


def test_calls_belong_to_their_bookings(seeded):
    calls = {c.id: c for c in all_of(Call, selectinload(Call.events))}
    agents = {u.id for u in all_of(User) if u.role == "agent"}
    phones = {p.e164: p.subscriber_id for p in all_of(SubscriberPhone)}
    linked = [b for b in all_of(Booking) if b.call_id]
    assert len(linked) > 0.7 * len(all_of(Booking))
    for booking in linked:
        call = calls[booking.call_id]
        assert call.status == CallStatus.COMPLETED and call.agent_id in agents
        assert call.agent_id == booking.created_by_id
        assert phones[call.caller_e164] == booking.subscriber_id == call.subscriber_id
        assert call.queued_at < call.answered_at < booking.created_at < call.ended_at
    for call in calls.values():
        assert re.fullmatch("CA[0-9a-f]{32}", call.provider_sid)
        assert call.events[0].status == "ringing" and call.events[-1].at == call.ended_at
    abandoned = [c for c in calls.values() if c.status == CallStatus.ABANDONED]
    assert abandoned and all(c.agent_id is None and c.answered_at is None for c in abandoned)
    assert len({c.provider_sid for c in calls.values()}) == len(calls)


def test_feedback_follows_most_completed_trips(seeded):
    completed = {b.id: b for b in all_of(Booking) if b.status == "completed"}
    rows = all_of(Feedback)
    assert 0.45 < len(rows) / len(completed) < 0.75
    for row in rows:
        booking = completed[row.booking_id]
        assert (row.subscriber_id, row.driver_id) == (booking.subscriber_id, booking.driver_id)
        assert booking.completed_at < row.requested_at
        if row.status == "answered":
            assert row.requested_at < row.answered_at <= NOW and 1 <= row.rating <= 5
    ratings = Counter(r.rating for r in rows if r.rating)
    assert (ratings[4] + ratings[5]) > 0.65 * sum(ratings.values()) and ratings[1] + ratings[2] > 0
    assert Counter(r.channel for r in rows).most_common(1)[0][0] == "sms"
    assert any(re.search("[\u0600-\u06ff]", r.comment) for r in rows)


def test_complaints_are_consistent(seeded):
    bookings = {b.id: b for b in all_of(Booking)}
    feedback = {f.id: f for f in all_of(Feedback)}
    complaints = all_of(Complaint, selectinload(Complaint.events))
    categories = {c.value for c in ComplaintCategory}
    for complaint in complaints:
        assert complaint.category in categories and complaint.status in {s.value for s in ComplaintStatus}
        assert complaint.respond_by == complaint.created_at + timedelta(hours=24)
        booking = bookings[complaint.booking_id]
        assert complaint.subscriber_id == booking.subscriber_id
        assert complaint.driver_id in (booking.driver_id, None)
        if complaint.feedback_id:
            assert feedback[complaint.feedback_id].rating <= 2 and complaint.source == "rating"
        events = complaint.events
        assert events[0].to_status == "new" and events[0].at == complaint.created_at
        for before, after in pairwise(events):
            assert after.from_status == before.to_status and after.at > before.at
        assert events[-1].to_status == complaint.status and events[-1].at <= NOW
        assert (complaint.resolved_at is not None) == (complaint.status in ("resolved", "rejected"))
        assert re.search("[\u0600-\u06ff]", complaint.description)
        if complaint.category == "lost_property":
            assert re.fullmatch(r"LP-14\d\d-\d{4}", complaint.reference)
        else:
            assert re.fullmatch(r"C-\d{6}", complaint.reference)
        assert complaint.search_text and complaint.respond_by
    assert len({c.status for c in complaints}) >= 3
    assert any(c.category == "lost_property" for c in complaints)


def test_tiers_follow_how_much_subscribers_travel(seeded):
    subscribers = all_of(Subscriber)
    trips = Counter(b.subscriber_id for b in all_of(Booking) if b.status == "completed")
    no_shows = Counter(b.subscriber_id for b in all_of(Booking) if b.status == "no_show")
    shares = Counter(s.tier for s in subscribers)
    for tier, share in [(Tier.PLATINUM, 0.05), (Tier.GOLD, 0.15), (Tier.IRON, 0.30), (Tier.LEAD, 0.50)]:
        assert shares[tier] == pytest.approx(share * len(subscribers), abs=2)
    least = {tier: min(trips[s.id] for s in subscribers if s.tier == tier) for tier in Tier}
    most = {tier: max(trips[s.id] for s in subscribers if s.tier == tier) for tier in Tier}
    assert least[Tier.PLATINUM] >= most[Tier.GOLD] and least[Tier.GOLD] >= most[Tier.IRON]
    assert least[Tier.IRON] >= most[Tier.LEAD] and least[Tier.PLATINUM] > 0
    assert all(s.no_show_count == no_shows[s.id] for s in subscribers)


def test_the_monthly_roll_up_is_the_trips_grouped_by_office_month(seeded):
    # The reports read the roll-up: the demo's past trips, written complete by the seed, must all be in it.
    expected: dict[tuple, list[int]] = {}
    for booking in all_of(Booking):
        if booking.status == "completed" and booking.subscriber_id is not None:
            local = booking.completed_at.astimezone(ZoneInfo("Asia/Tehran"))
            total = expected.setdefault((booking.subscriber_id, date(local.year, local.month, 1)), [0, 0])
            total[0] += 1
            total[1] += booking.fare or 0
    rows = db.session.execute(
        select(SubscriberMonth.subscriber_id, SubscriberMonth.month, SubscriberMonth.trips, SubscriberMonth.revenue)
    )
    assert {(s, m): [t, r] for s, m, t, r in rows} == expected
    assert len({month for _, month in expected}) >= 3  # three months of history: retention has months to compare


def test_notes_are_by_agents(seeded):
    agents = {u.id for u in all_of(User) if u.role == "agent"}
    notes = all_of(Note)
    assert notes and all(n.author_id in agents and n.kind in ("mood", "preference") for n in notes)
    assert {n.kind for n in notes} == {"mood", "preference"}


def test_pages_show_the_demo_office(seeded_app):
    client = seeded_app.test_client()
    assert log_in(client, "dispatcher", "demo-dispatcher").status_code == 302
    board = client.get("/dispatch/").get_data(as_text=True)
    assert "No live bookings." not in board and "خیابان" in board
    client = seeded_app.test_client()
    assert log_in(client, "supervisor", "demo-supervisor").status_code == 302
    assert client.get("/supervisor/complaints").status_code == 200


# --- repeatability and the command ----------------------------------------------------------------


def test_the_same_seed_gives_the_same_office(app, seeded_app):
    assert database_is_empty()
    seed_demo(SEED, now=NOW)
    db.session.commit()
    again = fingerprint()
    with seeded_app.app_context():
        first = fingerprint()
        db.session.remove()
    assert again == first


def test_the_command_loads_only_into_an_empty_database(app, seeded_app):
    runner = app.test_cli_runner()
    assert database_is_empty()
    result = runner.invoke(args=["demo", "seed", "--seed", "7"])
    assert result.exit_code == 0, result.output
    assert re.search(r"^subscribers: \d+$", result.output, re.MULTILINE)
    db.session.remove()
    assert not database_is_empty()
    other_seed = fingerprint()["subscribers"]
    with seeded_app.app_context():
        assert fingerprint()["subscribers"] != other_seed
        db.session.remove()

    refused = runner.invoke(args=["demo", "seed"])
    assert refused.exit_code != 0 and "not empty" in refused.output
    quiet = runner.invoke(args=["demo", "seed", "--if-empty"])
    assert quiet.exit_code == 0 and "nothing loaded" in quiet.output
    assert db.session.scalar(select(func.count(Subscriber.id))) == len(other_seed)


def test_demo_subscribers_are_found_by_search(seeded):
    from crm.services import search_query

    subscriber = db.session.scalars(select(Subscriber).order_by(Subscriber.id)).first()
    last_digits = subscriber.phones[0].e164[-6:]
    surname = subscriber.name.split()[-1]
    assert subscriber.id in {s.id for s in db.session.scalars(search_query(f"{surname} {last_digits}"))}


def test_every_demo_driver_can_log_in_to_the_phone_page(seeded):
    from drivers.services import authenticate_driver

    drivers = db.session.scalars(select(Driver)).all()
    assert all(d.user_id for d in drivers)
    assert authenticate_driver(drivers[0].phone, "1404", "127.0.0.1") == drivers[0]
    assert authenticate_driver(drivers[0].phone, "0000", "127.0.0.1") is None
