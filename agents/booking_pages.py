"""The console's booking form: what its template and script start with (caller, choices, words).

The form itself talks to the JSON API (``POST /api/quotes``, ``POST /api/bookings``); this module only
prepares the page side, as a template global the form's partial calls.
"""

from __future__ import annotations

from flask import current_app, url_for
from flask_babel import gettext as _

from agents.blueprint import bp
from crm.models import Address, Subscriber
from crm.phones import display_phone
from dispatch.models import BookingStatus
from drivers.models import VehicleClass


def vehicle_class_choices() -> list[tuple[str, str]]:
    """The vehicle classes a caller can ask for, with their names in the page language."""
    names = {VehicleClass.SEDAN: _("sedan"), VehicleClass.VAN: _("van"), VehicleClass.PREMIUM: _("premium")}
    return [(vehicle_class.value, names[vehicle_class]) for vehicle_class in VehicleClass]


def address_choice(address: Address) -> dict:
    """A saved address as the form offers it."""
    return {"id": address.id, "label": address.label, "text": address.text, "lat": address.lat, "lon": address.lon}


def form_caller(subscriber: Subscriber | None) -> dict | None:
    """The subscriber the form books for on their own page; the console's script sets it from the pop."""
    if subscriber is None:
        return None
    phones = [display_phone(p.e164) for p in subscriber.phones]
    return {
        "subscriber_id": subscriber.id,
        "name": subscriber.name,
        "phone": phones[0] if phones else "",
        "phones": phones,
        "barred": subscriber.barred,
        "addresses": [address_choice(a) for a in subscriber.addresses],
    }


def status_names() -> dict[str, str]:
    """The booking states in the page language (the same words as templates/_labels.html)."""
    names = {
        BookingStatus.REQUESTED: _("requested"),
        BookingStatus.SCHEDULED: _("scheduled"),
        BookingStatus.OFFERED: _("offered"),
        BookingStatus.ASSIGNED: _("assigned"),
        BookingStatus.ARRIVED: _("driver arrived"),
        BookingStatus.ON_TRIP: _("on trip"),
        BookingStatus.COMPLETED: _("completed"),
        BookingStatus.CANCELLED: _("cancelled"),
        BookingStatus.NO_SHOW: _("no-show"),
    }
    return {status.value: names[status] for status in BookingStatus}


def known_messages() -> list[tuple[str, str]]:
    """The engine's common refusals (English, from the API) by their opening words, in the page language.

    The first matching prefix wins, so the narrower ones come first; anything else is shown as the API said it.
    """
    return [
        ("the dropoff is the same place as the pickup", _("The dropoff is the same place as the pickup.")),
        ("the pickup time has passed", _("The pickup time has passed.")),
        ("the pickup time is more than", _("The pickup time is too far ahead.")),
        ("pickup: the point is in none of the office's zones", _("The pickup is outside the office's zones.")),
        ("pickup: the point is", _("The pickup is outside the service area.")),
        ("dropoff: the point is", _("The dropoff is outside the service area.")),
        ("give the caller's phone", _("Enter the caller's number.")),
        ("no fare rule for vehicle class", _("The office has no fare for this vehicle class.")),
        ("this subscriber is barred", _("This caller is barred: no bookings.")),
    ]


def form_text() -> dict:
    """The words the form's script shows, in the page language."""
    return {
        "choose": _("Choose a saved address or find a place"),
        "book_from_here": _("Book from here"),
        "map_point": _("Point on the map"),
        "saved": _("saved"),
        "quote_hint": _("Choose a pickup and a dropoff for a fare."),
        "no_dropoff": _("No dropoff: the driver charges by the meter."),
        "quoting": _("Working out the fare…"),
        "quote_failed": _("The fare could not be worked out just now."),
        "no_quote": _("No fare: %(reason)s", reason="{reason}"),
        "trip": _("%(km)s km · about %(min)s min", km="{km}", min="{min}"),
        "currency": {"IRR": _("rials")},
        "booked": _("Booking %(number)s", number="{number}"),
        "for_caller": _("For: %(who)s", who="{who}"),
        "on_call": _("on this call"),
        "barred": _("barred"),
        "nobody": _("Type the caller's number."),
        "pickup_required": _("Choose the pickup."),
        "time_required": _("Choose the pickup date and time."),
        "failed": _("The booking could not be sent. Please try again."),
        "status": status_names(),
        "known": known_messages(),
    }


@bp.app_template_global()
def booking_form_data(subscriber: Subscriber | None = None) -> dict:
    """What the booking form starts with: the caller (on a subscriber's page), the choices, the words and URLs."""
    return {
        "caller": form_caller(subscriber),
        "vehicle_classes": vehicle_class_choices(),
        "text": form_text(),
        "places_url": url_for("agents.places"),
        "zones_url": url_for("agents.zones_geojson"),
        "tiles": current_app.config.get("MAP_TILE_URL", ""),
        "attribution": current_app.config.get("MAP_TILE_ATTRIBUTION", ""),
    }
