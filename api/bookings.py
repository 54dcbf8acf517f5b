"""Bookings through the API: take one, dispatch it, assign, cancel, and the driver's progress."""

from __future__ import annotations

from flask import current_app, has_request_context, jsonify, request
from flask_babel import get_locale
from flask_login import current_user
from sqlalchemy import select

from accounts.roles import Area
from api.blueprint import bp
from api.common import ApiError, as_id, id_arg, json_body, moment_arg, paginate, require_area, row_by_id
from calls.models import Call
from core.errors import Conflict
from core.extensions import db
from core.models import utcnow
from core.signals import commit_and_announce
from crm.models import Subscriber
from crm.phones import PhoneNumberError, to_e164
from crm.services import find_by_phone
from dispatch.auto import dispatch_booking
from dispatch.bookings import BookingError, DispatchConflict, Stop, create_booking, get_booking
from dispatch.models import Booking, BookingStatus
from dispatch.offers import assign_driver
from dispatch.trips import PROGRESS, cancel_booking, mark_no_show, report_progress
from drivers.models import Driver, VehicleClass
from drivers.services import driver_for_user
from fares.services import relabel

NOTES_LENGTH = 2000


@bp.errorhandler(Conflict)
def dispatch_conflict(error: Conflict):
    """A move the booking's state no longer allows, or one that lost a race: 409."""
    db.session.rollback()
    return jsonify(error={"code": "conflict", "message": str(error)}), 409


@bp.errorhandler(BookingError)
def booking_error(error: BookingError):
    """A booking request with bad input: 400 naming the field."""
    db.session.rollback()
    fields = {error.field: str(error)} if error.field else None
    body = {"code": "invalid", "message": str(error)} | ({"fields": fields} if fields else {})
    return jsonify(error=body), 400


def _locale() -> str:
    """The asker's language (a driver reads their own, not the passenger's); the office's outside a request."""
    asking = get_locale() if has_request_context() else None
    return str(asking or current_app.config["DEFAULT_LOCALE"])


def _breakdown(booking: Booking) -> list[dict]:
    return relabel(booking.fare_breakdown or [], _locale())


def _place(booking: Booking, which: str) -> dict | None:
    lat, lon = getattr(booking, f"{which}_lat"), getattr(booking, f"{which}_lon")
    if lat is None:
        return None
    return {
        "lat": lat,
        "lon": lon,
        "text": getattr(booking, f"{which}_text"),
        "address_id": getattr(booking, f"{which}_address_id"),
        "zone_id": getattr(booking, f"{which}_zone_id"),
    }


def booking_json(booking: Booking) -> dict:
    """A booking as the API shows it."""
    return {
        "id": booking.id,
        "status": booking.status,
        "subscriber_id": booking.subscriber_id,
        "phone": booking.phone,
        "pickup": _place(booking, "pickup"),
        "dropoff": _place(booking, "dropoff"),
        "pickup_at": booking.pickup_at.isoformat(),
        "vehicle_class": booking.vehicle_class,
        "notes": booking.notes,
        "fare": booking.fare,
        "currency": booking.currency,
        "breakdown": [{"label": line["label"], "amount": line["amount"]} for line in _breakdown(booking)],
        "distance_km": booking.distance_km,
        "duration_min": booking.duration_min,
        "driver_id": booking.driver_id,
        "auto_dispatch": booking.auto_dispatch,
        "waiting_min": booking.waiting_min,
        "cancel_reason": booking.cancel_reason,
        "cancellation_fee": booking.cancellation_fee,
        "version": booking.version,
        "created_at": booking.created_at.isoformat(),
        "assigned_at": booking.assigned_at.isoformat() if booking.assigned_at else None,
        "completed_at": booking.completed_at.isoformat() if booking.completed_at else None,
    }


def _stop(value, name: str) -> Stop:
    if not isinstance(value, dict):
        raise ApiError(400, "invalid", f"{name} must be {{address_id}} or {{lat, lon, text?}}", {name: "required"})
    if "address_id" in value:
        if not isinstance(value["address_id"], int) or isinstance(value["address_id"], bool):
            raise ApiError(400, "invalid", f"{name}: address_id must be a number", {name: "invalid"})
        if as_id(value["address_id"]) is None:
            raise ApiError(400, "invalid", f"{name}: no such address of this subscriber", {name: "unknown"})
        return Stop(address_id=value["address_id"])
    text = value.get("text", "")
    if not isinstance(text, str):
        raise ApiError(400, "invalid", f"{name}: text must be a string", {name: "invalid"})
    return Stop(lat=value.get("lat"), lon=value.get("lon"), text=text)


def _caller(body: dict) -> tuple[str, Subscriber | None]:
    region = current_app.config["DEFAULT_REGION"]
    if body.get("subscriber_id") is not None:
        subscriber = row_by_id(Subscriber, body["subscriber_id"])
        if subscriber is None or subscriber.merged_into_id is not None:
            raise ApiError(400, "invalid", "no such subscriber", {"subscriber_id": "unknown"})
        phone = body.get("phone")
        if phone is not None and phone != "":  # not `if phone`: 0 or false is no number, and str() would read 5 as one
            if not isinstance(phone, str):
                raise ApiError(400, "invalid", "phone must be a string", {"phone": "invalid"})
            try:
                return to_e164(phone, region), subscriber
            except PhoneNumberError as exc:
                raise ApiError(400, "invalid", str(exc), {"phone": "not a phone number"}) from None
        return (subscriber.phones[0].e164 if subscriber.phones else ""), subscriber
    if not isinstance(body.get("phone"), str):
        raise ApiError(400, "invalid", "give the caller's phone or subscriber_id", {"phone": "required"})
    try:
        e164 = to_e164(body["phone"], region)
    except PhoneNumberError as exc:
        raise ApiError(400, "invalid", str(exc), {"phone": "not a phone number"}) from None
    return e164, find_by_phone(e164, region)


@bp.route("/bookings", methods=["POST"])
def create_booking_route():
    """Take a booking: ``{phone | subscriber_id, pickup, dropoff?, pickup_at?, vehicle_class?, notes?, call_id?}``."""
    require_area(Area.CONSOLE, Area.DISPATCH)
    body = json_body()
    phone, subscriber = _caller(body)
    if subscriber is not None and subscriber.barred:
        raise ApiError(409, "barred", f"this subscriber is barred: {subscriber.barred_reason or 'no reason given'}")
    vehicle_class = body.get("vehicle_class", VehicleClass.SEDAN)
    if not isinstance(vehicle_class, str) or vehicle_class not in {v.value for v in VehicleClass}:
        raise ApiError(400, "invalid", "unknown vehicle class", {"vehicle_class": "invalid"})
    notes = body.get("notes", "")
    if not isinstance(notes, str):
        raise ApiError(400, "invalid", "notes must be a string", {"notes": "invalid"})
    if len(notes) > NOTES_LENGTH:  # the service would cut them short
        raise ApiError(400, "invalid", f"notes may be at most {NOTES_LENGTH} characters", {"notes": "too long"})
    call_id = body.get("call_id")
    # The call the booking was taken on (the console sends it); an unknown one would break the foreign key.
    if call_id is not None and (isinstance(call_id, bool) or not isinstance(call_id, int)):
        raise ApiError(400, "invalid", "call_id must be a number", {"call_id": "invalid"})
    if call_id is not None and row_by_id(Call, call_id) is None:
        raise ApiError(400, "invalid", "no such call", {"call_id": "unknown"})
    booking = create_booking(
        phone=phone,
        subscriber=subscriber,
        pickup=_stop(body.get("pickup"), "pickup"),
        dropoff=_stop(body["dropoff"], "dropoff") if body.get("dropoff") is not None else None,
        pickup_at=moment_arg(body["pickup_at"], "pickup_at") if body.get("pickup_at") is not None else None,
        vehicle_class=vehicle_class,
        notes=notes,
        now=utcnow(),
        created_by_id=current_user.id,
        call_id=call_id,
    )
    commit_and_announce()
    return jsonify(booking_json(booking)), 201


def _booking_or_404(booking_id: int) -> Booking:
    booking = get_booking(booking_id)
    if booking is None:
        raise ApiError(404, "not_found", f"no booking {booking_id}")
    return booking


def _check_version(booking: Booking, body: dict) -> None:
    """A client that says which version it saw (``version``) gets a 409 if the booking changed since."""
    seen = body.get("version")
    if seen is not None and (not isinstance(seen, int) or seen != booking.version):
        raise DispatchConflict(f"booking {booking.id} changed since you looked (now {booking.status}): look again")


def _own_driver_or_staff(booking: Booking, staff_areas: tuple[Area, ...] = (Area.CONSOLE, Area.DISPATCH)) -> int | None:
    """The driver's id when a driver is asking (and it must be their booking); None for staff of ``staff_areas``."""
    if any(current_user.may_enter(area) for area in staff_areas):
        return None
    if current_user.may_enter(Area.CONSOLE) or current_user.may_enter(Area.DISPATCH):
        raise ApiError(403, "forbidden", "moving a trip along is the dispatchers' and the driver's business")
    require_area(Area.DRIVING)
    driver = driver_for_user(current_user.id)
    if driver is None or booking.driver_id != driver.id:
        raise ApiError(404, "not_found", f"no booking {booking.id}")
    return driver.id


@bp.route("/bookings")
def list_bookings():
    """Bookings, newest first, filterable by ``status``, ``driver_id``, ``subscriber_id``."""
    require_area(Area.CONSOLE, Area.DISPATCH)
    query = select(Booking).order_by(Booking.id.desc())
    status = request.args.get("status")
    if status:
        if status not in {s.value for s in BookingStatus}:
            raise ApiError(400, "invalid_parameter", "unknown booking status", {"status": "invalid"})
        query = query.where(Booking.status == status)
    for name in ("driver_id", "subscriber_id"):
        wanted = id_arg(name)
        if wanted is not None:
            query = query.where(getattr(Booking, name) == wanted)
    return jsonify(paginate(query, booking_json))


@bp.route("/bookings/<int:booking_id>")
def get_booking_route(booking_id: int):
    """One booking."""
    booking = _booking_or_404(booking_id)
    _own_driver_or_staff(booking)
    return jsonify(booking_json(booking))


@bp.route("/bookings/<int:booking_id>/dispatch", methods=["POST"])
def dispatch_route(booking_id: int):
    """Auto-dispatch now: offer the booking to the best driver; 409 if it is not waiting, or nobody fits."""
    require_area(Area.CONSOLE, Area.DISPATCH)
    booking = _booking_or_404(booking_id)
    if booking.status == BookingStatus.SCHEDULED:
        raise ApiError(409, "conflict", "a pre-booking is dispatched at its time; assign a driver to send it now")
    if booking.status != BookingStatus.REQUESTED:
        raise ApiError(409, "conflict", f"booking {booking.id} is {booking.status}: nothing to dispatch")
    booking.auto_dispatch = True
    offer = dispatch_booking(booking, utcnow())
    commit_and_announce()
    if offer is None:
        raise ApiError(409, "no_driver", "no available driver fits this booking now; it stays waiting")
    return jsonify(booking_json(booking))


@bp.route("/bookings/<int:booking_id>/assign", methods=["POST"])
def assign_route(booking_id: int):
    """Give the booking to a driver (or to another driver): ``{driver_id, reason?}``."""
    require_area(Area.DISPATCH)
    booking = _booking_or_404(booking_id)
    body = json_body()
    _check_version(booking, body)
    driver = row_by_id(Driver, body.get("driver_id"))
    if driver is None:
        raise ApiError(400, "invalid", "no such driver", {"driver_id": "unknown"})
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):  # str() would store null as "None"
        raise ApiError(400, "invalid", "reason must be a string", {"reason": "invalid"})
    assign_driver(booking, driver, utcnow(), current_user.id, (reason or "")[:500])
    commit_and_announce()
    return jsonify(booking_json(booking))


@bp.route("/bookings/<int:booking_id>/cancel", methods=["POST"])
def cancel_route(booking_id: int):
    """Cancel with ``{reason}``; a booking already finished is a 409."""
    require_area(Area.CONSOLE, Area.DISPATCH)
    booking = _booking_or_404(booking_id)
    body = json_body()
    _check_version(booking, body)
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ApiError(400, "invalid", "a cancellation needs a reason", {"reason": "required"})
    cancel_booking(booking, reason, utcnow(), current_user.id)
    commit_and_announce()
    return jsonify(booking_json(booking))


@bp.route("/bookings/<int:booking_id>/progress", methods=["POST"])
def progress_route(booking_id: int):
    """The trip moves on: ``{status}`` of ``arrived``, ``on_trip``, ``completed`` or ``no_show``."""
    booking = _booking_or_404(booking_id)
    driver_id = _own_driver_or_staff(booking, (Area.DISPATCH,))
    status = json_body().get("status")
    if status not in (*PROGRESS, BookingStatus.NO_SHOW):
        allowed = ", ".join((*PROGRESS, BookingStatus.NO_SHOW))
        raise ApiError(400, "invalid", f"status must be one of: {allowed}", {"status": "invalid"})
    user_id = None if driver_id else current_user.id
    if status == BookingStatus.NO_SHOW:
        mark_no_show(booking, utcnow(), user_id, driver_id)
    else:
        report_progress(booking, status, utcnow(), driver_id, user_id)
    commit_and_announce()
    return jsonify(booking_json(booking))


@bp.route("/bookings/<int:booking_id>/events")
def booking_events_route(booking_id: int):
    """The booking's history: every change of state, who or what made it, and why."""
    require_area(Area.CONSOLE, Area.DISPATCH)
    booking = _booking_or_404(booking_id)
    return jsonify(
        items=[
            {
                "from": e.from_status,
                "to": e.to_status,
                "at": e.at.isoformat(),
                "user_id": e.user_id,
                "driver_id": e.driver_id,
                "reason": e.reason,
            }
            for e in booking.events
        ]
    )
