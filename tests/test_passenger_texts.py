"""The passenger's texts: driver assigned, driver arrived, the receipt; in their language, through the outbox."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from rq import Queue, SimpleWorker
from sqlalchemy import func, select

from core.extensions import db
from crm.models import Subscriber
from dispatch.models import Booking
from drivers.models import Driver, Vehicle
from notifications.models import MessageStatus, OutboundMessage
from notifications.passenger import tell_passenger

RIDER = "+989121234567"


@pytest.fixture
def jobs(app, redis_client):
    """The app's RQ queue, on the test Redis (emptied)."""
    return Queue("default", connection=redis_client)


@pytest.fixture
def trip(app):
    """A booking of an English-speaking subscriber, assigned to Reza in a white Peugeot 405."""

    made = []

    def make(language: str | None = "en", **changes) -> Booking:
        made.append(language)
        n = len(made)  # the first trip's car has plate "12 B 345 - 61", the second's "… - 62"
        subscriber = None
        if language is not None:
            subscriber = Subscriber(name="Sara Karimi", language=language)
            db.session.add(subscriber)
        driver = Driver(call_sign=f"R{n}", name="Reza Ahmadi", phone=f"+98912000{n}000")
        vehicle = Vehicle(driver=driver, plate=f"12 B 345 - 6{n}", make_model="Peugeot 405", colour="white")
        db.session.add_all([driver, vehicle])
        db.session.flush()
        booking = Booking(
            subscriber_id=subscriber.id if subscriber else None,
            phone=RIDER,
            pickup_text="Tajrish",
            pickup_lat=35.8,
            pickup_lon=51.43,
            pickup_at=datetime.now(UTC),
            currency="IRR",
            status="assigned",
            driver_id=driver.id,
            vehicle_id=vehicle.id,
            fare=1_250_000,
            distance_km=12.46,
        )
        for name, value in changes.items():
            setattr(booking, name, value)
        db.session.add(booking)
        db.session.commit()
        return booking

    return make


def test_driver_assigned_in_english_names_the_driver_car_plate_and_eta(trip):
    booking = trip("en")
    message = tell_passenger(booking, "driver_assigned", eta_min=4.2)
    assert (
        message.body
        == "Your taxi is on its way: Reza Ahmadi, white Peugeot 405, plate 12 B 345 - 61, about 5 min away."
    )
    assert (message.to, message.language, message.kind) == (RIDER, "en", "driver_assigned")
    assert (message.dedupe_key, message.booking_id) == (
        f"booking:{booking.id}:driver_assigned:{booking.driver_id}",
        booking.id,
    )
    assert message.subscriber_id == booking.subscriber_id and message.status == MessageStatus.PENDING


def test_driver_arrived_and_the_receipt_in_english(trip):
    booking = trip("en")
    arrived = tell_passenger(booking, "driver_arrived")
    receipt = tell_passenger(booking, "trip_receipt")
    assert arrived.body == "Your taxi has arrived: white Peugeot 405, plate 12 B 345 - 61."
    assert receipt.body == f"Thank you for riding with us. Booking {booking.id}: 12.5 km, fare 1,250,000 rials."


def test_persian_texts_use_persian_digits_and_the_persian_currency_name(trip):
    booking = trip("fa")
    assigned = tell_passenger(booking, "driver_assigned", eta_min=7)
    receipt = tell_passenger(booking, "trip_receipt")
    assert assigned.language == receipt.language == "fa"
    for message in (assigned, receipt):
        assert not re.search(r"[0-9]", message.body), message.body
    assert "۱۲ B ۳۴۵ - ۶۱" in assigned.body and "۷" in assigned.body
    assert "۱٬۲۵۰٬۰۰۰ ریال" in receipt.body and "۱۲٫۵" in receipt.body and "ریال" in receipt.body


def test_without_a_subscriber_the_offices_language_is_used(app, trip):
    app.config["DEFAULT_LOCALE"] = "fa"
    assert tell_passenger(trip(None), "driver_arrived").language == "fa"
    app.config["DEFAULT_LOCALE"] = "en"
    assert tell_passenger(trip("xx"), "driver_arrived").language == "en"  # a language the office does not speak


def test_each_text_goes_once_per_booking(trip):
    booking = trip("en")
    first = tell_passenger(booking, "driver_assigned", eta_min=5)
    db.session.commit()
    assert tell_passenger(booking, "driver_assigned", eta_min=3).id == first.id  # a reassignment later
    assert db.session.scalar(select(func.count()).select_from(OutboundMessage)) == 1


def test_an_opted_out_passenger_gets_nothing(trip):
    booking = trip("en")
    db.session.get(Subscriber, booking.subscriber_id).sms_opt_out = True
    message = tell_passenger(booking, "driver_assigned", eta_min=5)
    assert message.status == MessageStatus.SKIPPED


def test_a_booking_without_a_driver_or_a_fare_gets_no_text(trip):
    booking = trip("en", driver_id=None, vehicle_id=None, fare=None, status="requested")
    assert tell_passenger(booking, "driver_assigned", eta_min=5) is None
    assert tell_passenger(booking, "trip_receipt") is None
    with pytest.raises(ValueError):
        tell_passenger(booking, "happy_birthday")


def test_a_receipt_without_a_distance_still_shows_the_fare(trip):
    booking = trip("en", distance_km=None)
    assert tell_passenger(booking, "trip_receipt").body == (
        f"Thank you for riding with us. Booking {booking.id}: fare 1,250,000 rials."
    )


def test_the_texts_reach_twilio_in_each_passengers_language_after_the_commit(app, jobs, twilio, trip):
    english, persian = trip("en"), trip("fa")
    tell_passenger(english, "driver_arrived")
    tell_passenger(persian, "driver_arrived")
    db.session.commit()
    SimpleWorker([jobs], connection=jobs.connection).work(burst=True)
    bodies = sorted(r.form["Body"] for r in twilio.requests_to("Messages.json"))
    assert bodies[0].startswith("Your taxi has arrived: white Peugeot 405, plate 12 B 345 - 61")
    assert "۶۲" in bodies[1] and not re.search(r"[0-9]", bodies[1])
    statuses = db.session.scalars(select(OutboundMessage.status)).all()
    assert statuses == ["sent", "sent"]


def test_a_dispatch_change_rolled_back_texts_nobody(app, jobs, twilio, trip):
    booking = trip("en")
    tell_passenger(booking, "driver_assigned", eta_min=5)
    db.session.rollback()  # the assignment lost a race: no text about it
    SimpleWorker([jobs], connection=jobs.connection).work(burst=True)
    assert twilio.requests == []
    assert db.session.scalar(select(func.count()).select_from(OutboundMessage)) == 0
