"""The texts a passenger gets about their trip: driver assigned, driver arrived, the receipt.

The dispatch engine calls ``tell_passenger`` inside the transaction that moves the booking, so the text
goes out if and only if that move commits (see ``notifications.outbox``).
"""

from __future__ import annotations

import logging
import math

from babel.numbers import format_decimal
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from config import LOCALES
from core.extensions import db
from core.text import persian_digits
from notifications.models import OutboundMessage
from notifications.outbox import queue_text

log = logging.getLogger("cabdesk.notifications")

KINDS = ("driver_assigned", "driver_arrived", "trip_receipt")


def passenger_language(booking) -> str:
    """The language to text the booking's passenger in: the subscriber's, else the office's default."""
    from crm.models import Subscriber

    subscriber = db.session.get(Subscriber, booking.subscriber_id) if booking.subscriber_id else None
    if subscriber is not None and subscriber.language in LOCALES:
        return subscriber.language
    return current_app.config["DEFAULT_LOCALE"]


def tell_passenger(booking, kind: str, eta_min: float | None = None) -> OutboundMessage | None:
    """Queue the ``kind`` text about ``booking`` to its phone, once per booking and kind (and driver, for
    ``driver_assigned``), in the caller's transaction.

    Kinds: ``driver_assigned`` (driver, car, plate, ETA), ``driver_arrived`` (car, plate), ``trip_receipt``
    (fare, distance, booking number). Returns the outbox row, or None when the booking lacks what the
    text needs (no driver or car yet; no fare for a receipt).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown passenger text {kind!r}; one of {', '.join(KINDS)}")
    if booking.id is None:
        db.session.flush()  # the dedupe key needs the booking's id
    language = passenger_language(booking)
    body = _body(booking, kind, eta_min, language)
    if body is None:
        log.warning("booking %s: no %s text, the booking lacks the details it needs", booking.id, kind)
        return None
    # A reassigned booking tells the passenger of the new driver: the key names the driver for that text.
    key = f"booking:{booking.id}:{kind}" + (f":{booking.driver_id}" if kind == "driver_assigned" else "")
    return queue_text(
        kind,
        key,
        booking.phone,
        persian_digits(body) if language == "fa" else body,
        language,
        subscriber_id=booking.subscriber_id,
        booking_id=booking.id,
    )


def _car(booking):
    from drivers.models import Driver, Vehicle

    driver = db.session.get(Driver, booking.driver_id) if booking.driver_id else None
    vehicle = db.session.get(Vehicle, booking.vehicle_id) if booking.vehicle_id else None
    if vehicle is None and driver is not None and driver.vehicles:
        vehicle = driver.vehicles[0]  # a booking assigned without naming the car: the driver's own
    return driver, vehicle


def _number(value: float, language: str) -> str:
    return format_decimal(value, locale=language, numbering_system="default")


def _body(booking, kind: str, eta_min: float | None, language: str) -> str | None:
    with force_locale(language):
        if kind == "trip_receipt":
            if booking.fare is None:
                return None
            figures = {
                "booking": booking.id,
                "fare": _number(booking.fare, language),
                "currency": {"IRR": _("rials")}.get(booking.currency, booking.currency),
            }
            if booking.distance_km is None:
                return _("Thank you for riding with us. Booking %(booking)s: fare %(fare)s %(currency)s.", **figures)
            return _(
                "Thank you for riding with us. Booking %(booking)s: %(km)s km, fare %(fare)s %(currency)s.",
                km=_number(round(booking.distance_km, 1), language),
                **figures,
            )
        driver, vehicle = _car(booking)
        if driver is None or vehicle is None:
            return None
        car = {"car": vehicle.make_model, "colour": vehicle.colour, "plate": vehicle.plate}
        if kind == "driver_arrived":
            return _("Your taxi has arrived: %(colour)s %(car)s, plate %(plate)s.", **car)
        if eta_min is None:
            return _(
                "Your taxi is on its way: %(driver)s, %(colour)s %(car)s, plate %(plate)s.", driver=driver.name, **car
            )
        return _(
            "Your taxi is on its way: %(driver)s, %(colour)s %(car)s, plate %(plate)s, about %(minutes)s min away.",
            driver=driver.name,
            minutes=max(1, math.ceil(eta_min)),
            **car,
        )
