"""The demo office: a Tehran radio-taxi desk generated from a seeded PRNG, for ``flask demo seed``.

Everything is drawn from one ``random.Random(seed)`` in a fixed order, so a seed (and the moment
"now") always gives the same office. Functions here only flush; the CLI commits.
"""

from __future__ import annotations

import random
import secrets
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import select
from werkzeug.security import generate_password_hash

from accounts.models import User
from accounts.roles import Role
from accounts.services import create_user
from core.extensions import db
from core.models import utcnow
from crm.activity import rebuild_months
from crm.models import Address, Note, Subscriber, SubscriberPhone, Tier
from crm.phones import phone_kind
from crm.services import refresh_search_key
from demo import people
from demo.aftercare import ComplaintMaker, make_feedback
from demo.places import AIRPORT_CODE, Place, ZoneLocator, airport_zone, jitter, load_districts, load_places
from demo.trips import Office, TripMaker
from dispatch.models import Booking, BookingStatus
from drivers.models import Driver, DriverStatus, Vehicle, VehicleClass
from fares.models import FareRule
from geo.models import Zone

# username, password, role, display name; `make demo` prints the first four logins.
STAFF = [
    ("agent", "demo-agent", Role.AGENT, "سارا کریمی"),
    ("dispatcher", "demo-dispatcher", Role.DISPATCHER, "حمید رستمی"),
    ("supervisor", "demo-supervisor", Role.SUPERVISOR, "مریم افشار"),
    ("admin", "demo-admin", Role.ADMIN, "کاوه نادری"),
    ("agent2", "demo-agent", Role.AGENT, "نگار صالحی"),
    ("agent3", "demo-agent", Role.AGENT, "امید طباطبایی"),
    ("agent4", "demo-agent", Role.AGENT, "الهام جعفری"),
    ("agent5", "demo-agent", Role.AGENT, "پویا خسروی"),
]
SUBSCRIBER_COUNT = 520
DRIVER_COUNT = 60
# Every demo driver logs in to /driver/ with their own number and this PIN.
DEMO_DRIVER_PIN = "1404"
# Tehran tariffs of 2025 in rials: flag-down, per km, per minute, minimum, waiting, cancellation.
FARES = {
    VehicleClass.SEDAN: ("سواری", 250_000, 90_000, 15_000, 500_000, 20_000, 200_000),
    VehicleClass.VAN: ("ون", 350_000, 120_000, 20_000, 700_000, 25_000, 300_000),
    VehicleClass.PREMIUM: ("تشریفات", 450_000, 150_000, 25_000, 900_000, 30_000, 400_000),
}
SURCHARGES = [
    {"kind": "night", "from": "23:00", "to": "06:00", "percent": 20},
    {"kind": "zone", "zone": AIRPORT_CODE, "amount": 1_500_000},
]
# make_model, class, weight within its class, model years on the road.
FLEET = [
    ("Peugeot 405", VehicleClass.SEDAN, 30, (2008, 2021)),
    ("Samand", VehicleClass.SEDAN, 20, (2008, 2019)),
    ("Peugeot Pars", VehicleClass.SEDAN, 20, (2010, 2023)),
    ("Dena", VehicleClass.SEDAN, 12, (2014, 2024)),
    ("Tara", VehicleClass.SEDAN, 8, (2020, 2024)),
    ("Peugeot 206 SD", VehicleClass.SEDAN, 10, (2010, 2022)),
    ("Kia Carnival", VehicleClass.VAN, 50, (2012, 2018)),
    ("Hyundai H-1", VehicleClass.VAN, 50, (2011, 2017)),
    ("Kia Cerato", VehicleClass.PREMIUM, 35, (2014, 2018)),
    ("Hyundai Elantra", VehicleClass.PREMIUM, 35, (2014, 2018)),
    ("Hyundai Sonata", VehicleClass.PREMIUM, 15, (2013, 2017)),
    ("Toyota Camry", VehicleClass.PREMIUM, 15, (2013, 2018)),
]
FLEET_MIX = {VehicleClass.SEDAN: 48, VehicleClass.VAN: 7, VehicleClass.PREMIUM: 5}
COLOURS = ["سفید", "سفید", "نقره‌ای", "مشکی", "خاکستری", "نوک‌مدادی", "سرمه‌ای", "بژ"]
SUBSCRIBER_NOTES = ["سالمند است؛ در سوار شدن کمک شود", "حساب شرکتی: کرایه آخر ماه تسویه می‌شود",
                    "پزشک است، معمولاً صبح زود به بیمارستان می‌رود", "با ویلچر رفت‌وآمد می‌کند؛ ون بفرستید",
                    "همیشه کرایه را نقد می‌دهد", "برای فرزندش سرویس مدرسه می‌گیرد"]  # fmt: skip
BARRED_REASONS = ["سه بار عدم حضور پیاپی", "بدرفتاری و توهین به راننده", "بدهی کرایهٔ پرداخت‌نشده"]
NOTE_TEXTS = {
    "mood": ["از تأخیر دفعهٔ قبل ناراحت بود؛ با احترام عذرخواهی شد", "خیلی خوش‌برخورد و صبور است",
             "عجله داشت و عصبی بود؛ برای پرواز دیرش شده بود", "از رانندهٔ سفر قبلی تشکر کرد"],
    "preference": ["ترجیح می‌دهد سمند نفرستیم؛ پژو ۴۰۵ یا پارس بفرستید", "راننده سیگاری نباشد",
                   "همیشه کارت‌خوان لازم دارد", "قبل از رسیدن تماس بگیرید، زنگ خانه خراب است",
                   "صندوق عقب خالی باشد؛ ویلچر همراه دارد", "رانندهٔ خانم ترجیح می‌دهد"],
}  # fmt: skip
TIER_SHARES = [(Tier.PLATINUM, 0.05), (Tier.GOLD, 0.15), (Tier.IRON, 0.30)]  # the rest are lead


def database_is_empty() -> bool:
    """Whether the database has no users, subscribers, drivers or bookings."""
    return all(db.session.scalar(select(model.id).limit(1)) is None for model in (User, Subscriber, Driver, Booking))


def seed_demo(random_seed: int, now: datetime | None = None) -> dict[str, int]:
    """Load the demo office into the session (flushed, not committed); returns how many of each kind."""
    rng = random.Random(random_seed)
    now = (now or utcnow()).replace(microsecond=0)
    names, phones = people.NameMaker(rng), people.PhoneMaker(rng)

    staff = _staff(now)
    agents = [user for user in staff if user.role == Role.AGENT]
    admin, dispatcher, supervisor = (
        next(u for u in staff if u.role == role) for role in ("admin", "dispatcher", "supervisor")
    )
    places = load_places()
    zones, locator = _zones(places, now)
    rules = _fare_rules(admin, now)
    db.session.add_all([*zones.values(), *rules.values()])
    db.session.flush()

    subscribers, weights = _subscribers(rng, names, phones, places, locator, zones, now)
    for subscriber in subscribers:
        refresh_search_key(subscriber)  # the same key the subscriber book keeps, so search finds them
    drivers = _drivers(rng, names, phones, now)
    db.session.add_all([*subscribers, *drivers])
    db.session.flush()
    _driver_logins(drivers, now)

    zone_ids = {code: zone.id for code, zone in zones.items()}
    office = Office(rng, now, agents, dispatcher, subscribers, drivers, rules, zone_ids, locator, places, phones)
    trips = TripMaker(office)
    riders = rng.choices(subscribers, weights, k=rng.randint(430, 500))
    bookings = [trips.past_booking(rider) for rider in riders]
    bookings += trips.live_bookings(rng.sample([s for s in subscribers if not s.barred], 14))
    trips.other_calls(rng.randint(50, 70))
    office.calls.sort(key=lambda call: call.queued_at)
    db.session.add_all(office.calls)
    db.session.flush()
    trips.link_calls(bookings)
    bookings.sort(key=lambda booking: booking.created_at)
    db.session.add_all(bookings)
    db.session.flush()
    rebuild_months()  # past trips are written complete here, never completed through dispatch, which counts them
    db.session.add_all(trips.offers())
    db.session.flush()

    by_id = {subscriber.id: subscriber for subscriber in subscribers}
    feedback, grievances = make_feedback(rng, bookings, by_id, now)
    db.session.add_all(feedback)
    db.session.flush()
    complaints = _complaints(rng, now, agents, supervisor, bookings, feedback, grievances)
    _set_tiers(subscribers, weights, bookings)
    notes = _notes(rng, bookings, now)
    db.session.add_all([*complaints, *notes])
    db.session.flush()
    _file_complaints(complaints, {booking.id: booking for booking in bookings}, by_id)
    db.session.flush()
    return {
        "users": len(staff) + len(drivers),  # staff and the drivers' logins
        "zones": len(zones),
        "fare_rules": len(rules),
        "subscribers": len(subscribers),
        "phones": sum(len(s.phones) for s in subscribers),
        "addresses": sum(len(s.addresses) for s in subscribers),
        "notes": len(notes),
        "drivers": len(drivers),
        "vehicles": sum(len(d.vehicles) for d in drivers),
        "calls": len(office.calls),
        "bookings": len(bookings),
        "booking_events": sum(len(b.events) for b in bookings),
        "feedback": len(feedback),
        "complaints": len(complaints),
    }


def _staff(now: datetime) -> list[User]:
    """One account per role plus a few more agents; hashing passwords is most of their cost."""
    users = []
    for username, password, role, display_name in STAFF:
        user = create_user(username, password, role, display_name, language="fa")
        user.created_at = now - timedelta(days=400)
        users.append(user)
    return users


def _zones(places: list[Place], now: datetime) -> tuple[dict[str, Zone], ZoneLocator]:
    """The 22 districts and the airport, and a locator over them."""
    shapes = [*load_districts(), airport_zone(places)]
    zones = {
        s.code: Zone(
            code=s.code,
            name_fa=s.name_fa,
            name_en=s.name_en,
            boundary=s.boundary,
            created_at=now - timedelta(days=400),
        )
        for s in shapes
    }
    return zones, ZoneLocator()


def _fare_rules(admin: User, now: datetime) -> dict[str, FareRule]:
    """Version 1 of the tariff of each vehicle class, in force since a year ago."""
    valid_from = now - timedelta(days=365)
    return {
        vehicle_class: FareRule(
            name=f"تعرفهٔ {name}",
            vehicle_class=vehicle_class,
            version=1,
            currency="IRR",
            flag_down=flag_down,
            per_km=per_km,
            per_minute=per_minute,
            minimum_fare=minimum,
            waiting_per_minute=waiting,
            cancellation_fee=cancellation,
            rounding_step=10_000,
            surcharges=[dict(surcharge) for surcharge in SURCHARGES],
            valid_from=valid_from,
            created_by_id=admin.id,
            created_at=valid_from - timedelta(days=3),
        )
        for vehicle_class, (
            name,
            flag_down,
            per_km,
            per_minute,
            minimum,
            waiting,
            cancellation,
        ) in FARES.items()
    }


def _subscribers(rng, names, phones, places, locator, zones, now) -> tuple[list[Subscriber], list[float]]:
    """The subscriber book, with how much each one travels (a long-tailed weight)."""
    city = [p for p in places if p.kind == "metro_station" and locator.locate(p.lat, p.lon) not in (None, AIRPORT_CODE)]
    subscribers, weights = [], []
    for _ in range(SUBSCRIBER_COUNT):
        english = rng.random() < 0.08
        name = names.full_name(latin=english)
        since = now - timedelta(days=rng.uniform(100, 1500))
        subscriber = Subscriber(name=name, language="en" if english else "fa", created_at=since)
        numbers = [phones.mobile() if rng.random() < 0.85 else phones.landline()]
        if rng.random() < 0.35:
            numbers.append(
                phones.landline() if numbers[0].startswith("+989") and rng.random() < 0.6 else phones.mobile()
            )
        subscriber.phones = [SubscriberPhone(e164=n, kind=phone_kind(n), created_at=since) for n in numbers]
        labels = ["خانه", *rng.sample(people.ADDRESS_LABELS, rng.choices([0, 1, 2, 3], [35, 35, 20, 10])[0])]
        surname = name.split()[-1]
        subscriber.addresses = [_address(rng, label, surname, city, locator, zones, since) for label in labels]
        if rng.random() < 0.1:
            subscriber.notes = rng.choice(SUBSCRIBER_NOTES)
        subscriber.sms_opt_out = rng.random() < 0.04
        if rng.random() < 0.012:
            subscriber.barred, subscriber.barred_reason = True, rng.choice(BARRED_REASONS)
        subscribers.append(subscriber)
        weights.append(min(rng.paretovariate(1.2), 40.0))
    return subscribers, weights


def _address(rng, label, surname, city, locator, zones, since) -> Address:
    """A saved address a few hundred metres from a metro station, always inside a district."""
    while True:
        place = rng.choice(city)
        lat, lon = jitter(rng, place.lat, place.lon, 600)
        code = locator.locate(lat, lon)
        if code and code != AIRPORT_CODE:
            break
    address = Address(
        label=label, text=people.address_text(rng), lat=lat, lon=lon, zone_id=zones[code].id, created_at=since
    )
    if rng.random() < 0.6:
        address.unit = people.unit_text(rng, surname)
    if rng.random() < 0.3:
        address.landmark = f"نزدیک ایستگاه مترو {place.name_fa}" if rng.random() < 0.4 else rng.choice(people.LANDMARKS)
    if rng.random() < 0.15:
        address.driver_notes = rng.choice(people.DRIVER_NOTES)
    return address


def _drivers(rng, names, phones, now) -> list[Driver]:
    """Sixty drivers, call signs 101..160, each with a car; a couple of licences run out this month."""
    classes = [vehicle_class for vehicle_class, count in FLEET_MIX.items() for _ in range(count)]
    rng.shuffle(classes)
    expiring = set(rng.sample(range(DRIVER_COUNT), 2))
    plates, today, drivers = people.PlateMaker(rng), now.date(), []
    for index, vehicle_class in enumerate(classes):
        models = [m for m in FLEET if m[1] == vehicle_class]
        make_model, _, _, (first_year, last_year) = rng.choices(models, [m[2] for m in models])[0]
        since = now - timedelta(days=rng.uniform(30, 2000))
        licence_days = rng.randint(3, 29) if index in expiring else rng.randint(60, 1800)
        driver = Driver(
            call_sign=str(101 + index),
            name=names.full_name(female=rng.random() < 0.05),
            phone=phones.mobile(),
            status=rng.choices([DriverStatus.AVAILABLE, DriverStatus.BREAK, DriverStatus.OFFLINE], [45, 12, 43])[0],
            licence_number=people.licence_number(rng),
            licence_expires_on=today + timedelta(days=licence_days),
            created_at=since,
        )
        driver.vehicles = [
            Vehicle(
                plate=plates.plate(),
                make_model=make_model,
                colour=rng.choice(COLOURS),
                vehicle_class=vehicle_class,
                year=rng.randint(first_year, last_year),
                insurance_expires_on=today + timedelta(days=rng.randint(10, 365)),
                created_at=since,
            )
        ]
        drivers.append(driver)
    return drivers


def _driver_logins(drivers: list[Driver], now: datetime) -> None:
    """Each driver's login for the mobile page (role driver), all with the demo PIN (hashed once: scrypt is slow)."""
    pin_hash = generate_password_hash(DEMO_DRIVER_PIN)
    unusable = generate_password_hash(secrets.token_urlsafe(32))
    users = [
        User(
            username=f"driver-{d.call_sign.lower()}",
            display_name=d.name,
            password_hash=unusable,
            role=Role.DRIVER,
            language="fa",
            created_at=now,
        )
        for d in drivers
    ]
    db.session.add_all(users)
    db.session.flush()
    for driver, user in zip(drivers, users, strict=True):
        driver.user_id, driver.pin_hash = user.id, pin_hash


def _complaints(rng, now, agents, supervisor, bookings, feedback, grievances) -> list:
    """Complaints opened by low ratings (at most 26) and phoned in to agents (8–12)."""
    maker = ComplaintMaker(rng, now, agents, supervisor)
    low = [row for row in feedback if id(row) in grievances]
    for row in sorted(rng.sample(low, min(len(low), 26)), key=lambda r: r.answered_at):
        maker.from_rating(row, grievances[id(row)])
    finished = [b for b in bookings if b.driver_id and b.status in (BookingStatus.COMPLETED, BookingStatus.NO_SHOW)]
    # Half of the phoned-in ones are about last week's trips, so the complaint log has open cases.
    recent = [b for b in finished if b.pickup_at > now - timedelta(days=7)]
    for booking in [*rng.sample(recent, 5), *rng.sample(finished, rng.randint(3, 7))]:
        maker.from_phone(booking)
    maker.leave_the_newest_waiting()
    maker.number_lost_property()
    return maker.complaints


def _file_complaints(complaints: list, bookings: dict, subscribers: dict) -> None:
    """What the complaint engine records on opening and handling a complaint: reference, zone, number, search text."""
    from feedback.complaints import refresh_search_text

    for complaint in complaints:
        booking = bookings.get(complaint.booking_id)
        subscriber = subscribers.get(complaint.subscriber_id)
        complaint.reference = complaint.reference or f"C-{complaint.id:06d}"
        complaint.zone_id = booking.pickup_zone_id if booking is not None else None
        complaint.phone = subscriber.phones[0].e164 if subscriber is not None and subscriber.phones else ""
        # The first response is the first thing a person did with it after it was opened.
        handled = [event.at for event in complaint.events if event.action != "opened"]
        complaint.first_response_at = min(handled) if handled else None
        refresh_search_text(complaint)


def _set_tiers(subscribers: list[Subscriber], weights: list[float], bookings: list[Booking]) -> None:
    """Tiers by completed trips (ties by travel weight), and each subscriber's no-show count."""
    completed = Counter(b.subscriber_id for b in bookings if b.status == BookingStatus.COMPLETED)
    no_shows = Counter(b.subscriber_id for b in bookings if b.status == BookingStatus.NO_SHOW)
    ranked = sorted(range(len(subscribers)), key=lambda i: (-completed[subscribers[i].id], -weights[i], i))
    start = 0
    for tier, share in TIER_SHARES:
        end = start + round(share * len(subscribers))
        for i in ranked[start:end]:
            subscribers[i].tier = tier
        start = end
    for i in ranked[start:]:
        subscribers[i].tier = Tier.LEAD
    for subscriber in subscribers:
        subscriber.no_show_count = no_shows[subscriber.id]


def _notes(rng, bookings: list[Booking], now: datetime) -> list[Note]:
    """Notes agents left on subscribers while booking for them: moods and preferences."""
    notes = []
    for booking in rng.sample([b for b in bookings if b.created_at < now - timedelta(hours=1)], 30):
        kind = rng.choice(list(NOTE_TEXTS))
        notes.append(
            Note(
                subscriber_id=booking.subscriber_id,
                author_id=booking.created_by_id,
                kind=kind,
                body=rng.choice(NOTE_TEXTS[kind]),
                created_at=booking.created_at + timedelta(minutes=rng.uniform(1, 5)),
            )
        )
    return notes
