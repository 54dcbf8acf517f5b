"""Drivers through the API: the office's list, and a driver's own state, position, offers and stand queue."""

from __future__ import annotations

from flask import current_app, jsonify, request
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from accounts.roles import Area
from api.blueprint import bp
from api.bookings import booking_json
from api.common import ApiError, as_id, json_body, moment_arg, optional_json_body, paginate, require_area
from api.fast_auth import bearer_identity_and_state, bearer_token
from core.extensions import db
from core.models import utcnow
from core.signals import commit_and_announce
from core.timewindows import office_date
from dispatch import stands
from dispatch.duty import change_status, check_in, check_out, job_in_hand, position_report
from dispatch.models import Booking, DispatchOffer
from dispatch.offers import accept_offer, decline_offer, offer_counts, pending_offer_for_driver
from drivers.models import Driver, DriverStatus
from drivers.services import (
    DriverError,
    create_driver,
    dispatch_block_reason,
    driver_for_user,
    quick_position,
    vehicle_of,
)

VEHICLE_FIELDS = ("plate", "make_model", "colour", "vehicle_class")


@bp.errorhandler(DriverError)
def driver_error(error: DriverError):
    """A refused request about a driver: 400 with the reason."""
    db.session.rollback()
    return jsonify(error={"code": "invalid", "message": str(error)}), 400


def driver_json(driver: Driver, seen_at: float | None = None) -> dict:
    """A driver as the API shows it."""
    vehicle = vehicle_of(driver)
    return {
        "id": driver.id,
        "call_sign": driver.call_sign,
        "name": driver.name,
        "phone": driver.phone,
        "status": driver.status,
        "active": driver.active,
        "language": driver.language,
        "vehicle": (
            {
                "plate": vehicle.plate,
                "make_model": vehicle.make_model,
                "colour": vehicle.colour,
                "vehicle_class": vehicle.vehicle_class,
            }
            if vehicle
            else None
        ),
        "position": ({"lat": driver.last_lat, "lon": driver.last_lon} if driver.last_lat is not None else None),
        "last_seen_at": driver.last_seen_at.isoformat() if driver.last_seen_at else None,
    }


def offer_json(offer: DispatchOffer) -> dict:
    """An offer as the driver's phone shows it, with the job it is for."""
    return {
        "id": offer.id,
        "outcome": offer.outcome,
        "offered_at": offer.offered_at.isoformat(),
        "expires_at": offer.expires_at.isoformat(),
        "eta_min": offer.eta_min,
        # The passenger's number and record stay with the office until the driver has taken the job.
        "booking": {
            key: value
            for key, value in booking_json(db.session.get(Booking, offer.booking_id)).items()
            if key not in ("phone", "subscriber_id")
        },
    }


def _driver_or_404(driver_id: int) -> Driver:
    # With the car in the same query: whether the driver may be dispatched depends on it.
    driver = db.session.get(Driver, driver_id, options=[joinedload(Driver.vehicles)])
    if driver is None:
        raise ApiError(404, "not_found", f"no driver {driver_id}")
    return driver


def _acting_driver(driver_id: int) -> Driver:
    """The driver a request acts for: a driver may act only for themselves; dispatchers for anyone."""
    driver = _driver_or_404(driver_id)
    if current_user.may_enter(Area.DISPATCH):
        return driver
    require_area(Area.DRIVING)
    if driver.user_id != current_user.id:
        raise ApiError(403, "forbidden", "a driver may act only for themselves")
    return driver


@bp.route("/drivers")
def list_drivers():
    """Drivers, filterable by ``status``."""
    require_area(Area.DISPATCH)
    query = select(Driver).order_by(Driver.id)
    status = request.args.get("status")
    if status:
        if status not in {s.value for s in DriverStatus}:
            raise ApiError(400, "invalid_parameter", "unknown driver status", {"status": "invalid"})
        query = query.where(Driver.status == status)
    return jsonify(paginate(query, driver_json))


@bp.route("/drivers", methods=["POST"])
def create_driver_route():
    """Add a driver: ``{call_sign, name, phone, pin, language?, vehicle?: {plate, make_model, colour, …}}``."""
    require_area(Area.DISPATCH, Area.ADMINISTRATION)
    body = json_body()
    vehicle = body.get("vehicle")
    if vehicle is not None and not isinstance(vehicle, dict):
        raise ApiError(400, "invalid", "vehicle must be an object", {"vehicle": "invalid"})
    # The service would store str() of anything else: "{'a': 1}" as a plate.
    if vehicle and not all(isinstance(vehicle.get(key), str | None) for key in VEHICLE_FIELDS):
        raise ApiError(
            400, "invalid", "the vehicle's plate, make_model, colour and class are strings", {"vehicle": "invalid"}
        )
    fields = {name: body.get(name) for name in ("call_sign", "name", "phone", "pin")}
    if not all(isinstance(v, str) for v in fields.values()):
        raise ApiError(400, "invalid", "call_sign, name, phone and pin are required strings")
    driver = create_driver(**fields, language=body.get("language", "fa"), vehicle=vehicle)
    db.session.commit()
    return jsonify(driver_json(driver)), 201


@bp.route("/drivers/me")
def my_driver():
    """The asking driver: their record, the offer to answer, the job in hand and their stand queue place."""
    require_area(Area.DRIVING)
    driver = driver_for_user(current_user.id)
    if driver is None:
        raise ApiError(404, "not_found", "this login belongs to no driver")
    return jsonify(driver_state(driver))


def driver_state(driver: Driver) -> dict:
    """Everything the driver's page shows, for a fresh page or a reconnect."""
    offer = pending_offer_for_driver(driver.id)
    job = job_in_hand(driver.id)
    place = stands.place_in_queue(driver.id)
    return {
        "driver": driver_json(driver),
        "offer": offer_json(offer) if offer else None,
        "job": booking_json(job) if job else None,
        "queue": {"zone_id": place[0], "position": place[1]} if place else None,
        "offers": offer_counts(driver.id),
        # Why no offer will reach the driver (suspended, papers or contract expired), for their page to say.
        "blocked": dispatch_block_reason(
            driver, utcnow(), office_date(utcnow(), current_app.config["OFFICE_TIMEZONE"])
        ),
    }


@bp.route("/drivers/<int:driver_id>")
def get_driver(driver_id: int):
    """One driver, with where they stand (offer, job, queue)."""
    return jsonify(driver_state(_acting_driver(driver_id)))


@bp.route("/drivers/<int:driver_id>/status", methods=["POST"])
def driver_status_route(driver_id: int):
    """Change a driver's state: ``{status}`` of offline, available, busy (street job), break."""
    driver = _acting_driver(driver_id)
    body = json_body()
    status = body.get("status")
    if not isinstance(status, str) or status not in {s.value for s in DriverStatus}:
        raise ApiError(400, "invalid", "status must be offline, available, busy or break", {"status": "invalid"})
    shift_end = moment_arg(body["shift_ends_at"], "shift_ends_at") if body.get("shift_ends_at") is not None else None
    change_status(driver, status, utcnow(), shift_end)
    commit_and_announce()
    return jsonify(driver_state(driver))


@bp.route("/drivers/<int:driver_id>/location", methods=["POST"])
def driver_location_route(driver_id: int):
    """The driver's phone reports where it is: ``{lat, lon}``; an impossible jump is refused.

    With a bearer token the steady stream of positions takes the fast path (token from a cache, state from
    the live index); the first position of a shift, and every cookie session, take the full one.
    """
    token = bearer_token()
    if token is None:
        driver = _acting_driver(driver_id)
    else:
        identity, state = bearer_identity_and_state(token, driver_id)
        if identity is None:
            raise ApiError(401, "unauthorized", "a valid bearer token is required")
        if not identity.may_enter(Area.DISPATCH) and identity.driver_id != driver_id:
            raise ApiError(403, "forbidden", "a driver may act only for themselves")
        body = json_body()
        point = quick_position(driver_id, body.get("lat"), body.get("lon"), utcnow(), state)
        if point is not None:
            if db.session().in_transaction():  # the database copy was refreshed this time
                db.session.commit()
            return jsonify(lat=point[0], lon=point[1])
        driver = _driver_or_404(driver_id)
    body = json_body()
    lat, lon = position_report(driver, body.get("lat"), body.get("lon"), utcnow())
    commit_and_announce()
    return jsonify(lat=lat, lon=lon)


@bp.route("/drivers/<int:driver_id>/queue", methods=["POST", "DELETE"])
def driver_queue_route(driver_id: int):
    """Check in at a stand (``{zone_id?}``, default the zone the driver is in) or, with DELETE, leave it."""
    driver = _acting_driver(driver_id)
    if request.method == "DELETE":
        check_out(driver)
    else:
        zone_id = optional_json_body().get("zone_id")
        if zone_id is not None and (isinstance(zone_id, bool) or not isinstance(zone_id, int)):
            raise ApiError(400, "invalid", "zone_id must be a number", {"zone_id": "invalid"})
        if zone_id is not None and as_id(zone_id) is None:
            raise ApiError(400, "invalid", "no such active zone", {"zone_id": "unknown"})
        check_in(driver, utcnow(), zone_id, by_dispatcher=current_user.may_enter(Area.DISPATCH))
    commit_and_announce()
    return jsonify(driver_state(driver))


def _offer_for_driver(offer_id: int) -> tuple[DispatchOffer, Driver]:
    offer = db.session.get(DispatchOffer, offer_id)
    if offer is None:
        raise ApiError(404, "not_found", f"no offer {offer_id}")
    require_area(Area.DRIVING)
    driver = driver_for_user(current_user.id)
    if driver is None:
        raise ApiError(404, "not_found", f"no offer {offer_id}")
    return offer, driver


@bp.route("/offers/<int:offer_id>/accept", methods=["POST"])
def accept_offer_route(offer_id: int):
    """The driver takes the offered job; too late or not theirs: 409."""
    offer, driver = _offer_for_driver(offer_id)
    booking = accept_offer(offer, driver, utcnow())
    commit_and_announce()
    return jsonify(booking_json(booking))


@bp.route("/offers/<int:offer_id>/decline", methods=["POST"])
def decline_offer_route(offer_id: int):
    """The driver turns the job down (``{reason?}``)."""
    offer, driver = _offer_for_driver(offer_id)
    reason = optional_json_body().get("reason")
    reason = "" if reason is None else reason
    if not isinstance(reason, str):
        raise ApiError(400, "invalid", "reason must be a string", {"reason": "invalid"})
    decline_offer(offer, driver, utcnow(), reason[:200])
    commit_and_announce()
    return jsonify(driver_state(driver))
