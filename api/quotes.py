"""Fare quotes through the API."""

from __future__ import annotations

from flask import current_app, jsonify
from flask_babel import get_locale

from accounts.roles import Area
from api.blueprint import bp
from api.common import ApiError, json_body, moment_arg, require_area, row_by_id
from core.models import utcnow
from crm.models import Address, Subscriber
from drivers.models import VehicleClass
from fares.services import QuoteError, breakdown, quote_trip


def _point(body: dict, name: str) -> tuple[tuple[object, object], int | None]:
    """``{lat, lon}`` or ``{address_id}`` as a point, with the subscriber whose address it is."""
    value = body.get(name)
    if not isinstance(value, dict):
        raise ApiError(400, "invalid", f"{name} must be {{lat, lon}} or {{address_id}}", {name: "required"})
    if "address_id" in value:
        address = row_by_id(Address, value["address_id"])
        if address is None:
            raise ApiError(400, "invalid", f"{name}: no such address", {name: "unknown address"})
        return (address.lat, address.lon), address.subscriber_id
    return (value.get("lat"), value.get("lon")), None


@bp.route("/quotes", methods=["POST"])
def create_quote():
    """Quote a trip: ``{pickup, dropoff, vehicle_class?, pickup_at?}`` → the fare and its breakdown."""
    require_area(Area.CONSOLE, Area.DISPATCH)
    body = json_body()
    pickup, subscriber_id = _point(body, "pickup")
    if body.get("subscriber_id") is not None:
        # The caller being booked for: the quote then shows the loyalty discount the booking will get.
        given = body["subscriber_id"]
        if row_by_id(Subscriber, given) is None:
            raise ApiError(400, "invalid", "no such subscriber", {"subscriber_id": "unknown"})
        subscriber_id = given
    dropoff, _ = _point(body, "dropoff")
    vehicle_class = body.get("vehicle_class", VehicleClass.SEDAN)
    if not isinstance(vehicle_class, str) or vehicle_class not in {v.value for v in VehicleClass}:
        raise ApiError(400, "invalid", "unknown vehicle class", {"vehicle_class": "invalid"})
    try:
        quote = quote_trip(
            pickup,
            dropoff,
            vehicle_class,
            moment_arg(body.get("pickup_at"), "pickup_at"),
            utcnow(),
            current_app.config,
            subscriber_id,
        )
    except QuoteError as exc:
        raise ApiError(400, "invalid", str(exc)) from None
    return jsonify(
        fare=quote.fare,
        currency=quote.currency,
        distance_km=quote.distance_km,
        duration_min=quote.duration_min,
        breakdown=breakdown(quote.lines, str(get_locale() or current_app.config["DEFAULT_LOCALE"])),
    )
