"""Subscribers and their addresses through the API."""

from __future__ import annotations

from flask import current_app, jsonify, request
from sqlalchemy import select

from accounts.roles import Area
from api.blueprint import bp
from api.common import ApiError, json_body, paginate, require_area
from core.errors import json_error
from core.extensions import db
from crm.models import Address, Subscriber, SubscriberPhone, Tier
from crm.phones import PhoneNumberError, to_e164
from crm.services import SubscriberError, add_address, create_subscriber, search_query


@bp.errorhandler(SubscriberError)
def subscriber_error(error: SubscriberError):
    """A refused change to the subscriber book, as the API's error object."""
    return json_error(error.status, error.code, error.message, error.fields)


def address_json(address: Address) -> dict:
    """A saved address as the API shows it."""
    return {
        "id": address.id,
        "label": address.label,
        "text": address.text,
        "unit": address.unit,
        "landmark": address.landmark,
        "notes": address.driver_notes,
        "lat": address.lat,
        "lon": address.lon,
        "zone_id": address.zone_id,
    }


def subscriber_json(subscriber: Subscriber) -> dict:
    """A subscriber as the API shows it."""
    return {
        "id": subscriber.id,
        "name": subscriber.name,
        "phones": [p.e164 for p in subscriber.phones],
        "language": subscriber.language,
        "notes": subscriber.notes,
        "tier": subscriber.tier,
        "barred": subscriber.barred,
        "barred_reason": subscriber.barred_reason,
        "sms_opt_out": subscriber.sms_opt_out,
        "feedback_channel": subscriber.feedback_channel,
        "no_show_count": subscriber.no_show_count,
        "addresses": [address_json(a) for a in subscriber.addresses],
        "created_at": subscriber.created_at.isoformat(),
    }


def _subscriber_or_404(subscriber_id: int) -> Subscriber:
    subscriber = db.session.get(Subscriber, subscriber_id)
    if subscriber is None or subscriber.merged_into_id is not None:
        raise ApiError(404, "not_found", f"no subscriber {subscriber_id}")
    return subscriber


@bp.route("/subscribers")
def list_subscribers():
    """Find subscribers by ``phone`` (any spelling), ``q`` (any part of name, number, address), ``tier``."""
    require_area(Area.CONSOLE, Area.DISPATCH)
    query = search_query(request.args.get("q", "")[:200])
    phone = request.args.get("phone")
    if phone is not None:
        try:
            e164 = to_e164(phone, current_app.config["DEFAULT_REGION"])
        except PhoneNumberError as exc:
            raise ApiError(400, "invalid_parameter", str(exc), {"phone": "not a phone number"}) from None
        owners = select(SubscriberPhone.subscriber_id).where(SubscriberPhone.e164 == e164)
        query = query.where(Subscriber.id.in_(owners))
    tier = request.args.get("tier")
    if tier is not None:
        if tier not in {t.value for t in Tier}:
            raise ApiError(400, "invalid_parameter", "unknown tier", {"tier": "invalid"})
        query = query.where(Subscriber.tier == tier)
    return jsonify(paginate(query, subscriber_json))


@bp.route("/subscribers", methods=["POST"])
def create_subscriber_route():
    """Add a subscriber: ``{name, phones, language?, notes?}``; a number owned by another is a 409."""
    require_area(Area.CONSOLE)
    body = json_body()
    phones = body.get("phones")
    if not isinstance(phones, list) or not all(isinstance(p, str) for p in phones):
        raise ApiError(400, "invalid", "phones must be a list of strings", {"phones": "invalid"})
    subscriber = create_subscriber(
        body.get("name", ""),
        phones,
        current_app.config["DEFAULT_REGION"],
        language=body.get("language"),
        notes=body.get("notes", ""),
    )
    db.session.commit()
    return jsonify(subscriber_json(subscriber)), 201


@bp.route("/subscribers/<int:subscriber_id>")
def get_subscriber(subscriber_id: int):
    """One subscriber with numbers and addresses."""
    require_area(Area.CONSOLE, Area.DISPATCH)
    return jsonify(subscriber_json(_subscriber_or_404(subscriber_id)))


@bp.route("/subscribers/<int:subscriber_id>/addresses", methods=["POST"])
def add_address_route(subscriber_id: int):
    """Save an address: ``{label, text, lat, lon, notes?, unit?, landmark?}``."""
    require_area(Area.CONSOLE)
    subscriber = _subscriber_or_404(subscriber_id)
    body = json_body()
    if "driver_notes" in body:  # the record's name, not the contract's: an unknown field here
        raise ApiError(400, "invalid", "unknown fields: driver_notes", {"driver_notes": "unknown"})
    # The contract calls the driver's notes "notes"; the record calls them driver_notes.
    fields = {("driver_notes" if k == "notes" else k): v for k, v in body.items()}
    address = add_address(subscriber, **fields)
    db.session.commit()
    return jsonify(address_json(address)), 201
