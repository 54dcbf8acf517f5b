"""Complaints and trip feedback through the API: the supervisors' logs, and complaints opened for a customer."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app, jsonify, request
from flask_login import current_user
from sqlalchemy import select

from accounts.roles import Area
from api.blueprint import bp
from api.common import MAX_ID, ApiError, json_body, paginate, require_area, row_by_id, whole_number
from core.extensions import db
from core.models import utcnow
from crm.models import Subscriber
from crm.phones import PhoneNumberError, to_e164
from crm.services import find_by_phone
from dispatch.models import Booking
from feedback.complaint_log import FilterError, complaints_query, office_midnight, read_filter
from feedback.complaints import (
    DESCRIPTION_LENGTH,
    SEVERITIES,
    ComplaintError,
    last_trip,
    open_complaint,
    sla_breached,
)
from feedback.keywords import CATEGORIES
from feedback.models import Complaint, Feedback, FeedbackStatus

NEW_COMPLAINT_FIELDS = ("subscriber_id", "phone", "booking_id", "description", "category", "severity")
FEEDBACK_STATUSES = tuple(s.value for s in FeedbackStatus)
FEEDBACK_CHANNELS = ("sms", "ivr", "agent", "none")
RATINGS = ("1", "2", "3", "4", "5")


def _moment(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def complaint_json(complaint: Complaint, now: datetime) -> dict:
    """A complaint as the API shows it."""
    return {
        "id": complaint.id,
        "reference": complaint.reference,
        "status": complaint.status,
        "category": complaint.category,
        "severity": complaint.severity,
        "source": complaint.source,
        "description": complaint.description,
        "transcript": complaint.transcript,
        "resolution": complaint.resolution,
        "subscriber_id": complaint.subscriber_id,
        "phone": complaint.phone,
        "booking_id": complaint.booking_id,
        "driver_id": complaint.driver_id,
        "agent_id": complaint.agent_id,
        "zone_id": complaint.zone_id,
        "assigned_to_id": complaint.assigned_to_id,
        "feedback_id": complaint.feedback_id,
        "created_at": _moment(complaint.created_at),
        "respond_by": _moment(complaint.respond_by),
        "first_response_at": _moment(complaint.first_response_at),
        "resolved_at": _moment(complaint.resolved_at),
        "sla_breached": sla_breached(complaint, now),
        "recording_url": complaint.recording_url,
    }


def complaint_detail_json(complaint: Complaint, now: datetime) -> dict:
    """A complaint with its audit trail."""
    events = [
        {
            "at": _moment(e.at),
            "user_id": e.user_id,
            "action": e.action,
            "from_status": e.from_status,
            "to_status": e.to_status,
            "note": e.note,
        }
        for e in complaint.events
    ]
    return complaint_json(complaint, now) | {"events": events}


def feedback_json(feedback: Feedback) -> dict:
    """A trip's feedback request and its answer as the API shows it."""
    return {
        "id": feedback.id,
        "booking_id": feedback.booking_id,
        "subscriber_id": feedback.subscriber_id,
        "driver_id": feedback.driver_id,
        "channel": feedback.channel,
        "status": feedback.status,
        "rating": feedback.rating,
        "comment": feedback.comment,
        "transcript": feedback.transcript,
        "recording_url": feedback.recording_url,
        "requested_at": _moment(feedback.requested_at),
        "answered_at": _moment(feedback.answered_at),
        "created_at": _moment(feedback.created_at),
    }


def _filter_error(error: FilterError) -> ApiError:
    return ApiError(400, "invalid", f"bad filter: {error}", error.fields)


@bp.route("/complaints")
def list_complaints():
    """The complaint log, newest first, filtered as the supervisors' page filters it."""
    require_area(Area.SUPERVISION)
    try:
        wanted = read_filter(request.args)
    except FilterError as error:
        raise _filter_error(error) from None
    now = utcnow()
    return jsonify(paginate(complaints_query(wanted, now), lambda c: complaint_json(c, now)))


@bp.route("/complaints/<int:complaint_id>")
def get_complaint(complaint_id: int):
    """One complaint with its audit trail."""
    require_area(Area.SUPERVISION)
    complaint = db.session.get(Complaint, complaint_id)
    if complaint is None:
        raise ApiError(404, "not_found", f"no complaint {complaint_id}")
    return jsonify(complaint_detail_json(complaint, utcnow()))


def _int_field(body: dict, name: str) -> int | None:
    value = body.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ApiError(400, "invalid", f"{name} must be a whole number", {name: "invalid"})
    return value


def _complainant(body: dict) -> tuple[int | None, str, Booking | None]:
    """Who complains (subscriber, number) and about which booking, checked against each other."""
    subscriber_id, booking_id = _int_field(body, "subscriber_id"), _int_field(body, "booking_id")
    phone = body.get("phone")
    phone = None if phone == "" else phone  # an empty number is none; a 0 or false is not a number at all
    if subscriber_id is None and booking_id is None and phone is None:
        message = "give subscriber_id, phone or booking_id"
        raise ApiError(400, "invalid", message, {name: "required" for name in ("subscriber_id", "phone", "booking_id")})
    if subscriber_id is not None:
        subscriber = row_by_id(Subscriber, subscriber_id)
        if subscriber is None or subscriber.merged_into_id is not None:
            raise ApiError(400, "invalid", "no such subscriber", {"subscriber_id": "unknown"})
    e164 = ""
    if phone is not None:
        region = current_app.config["DEFAULT_REGION"]
        if not isinstance(phone, str):
            raise ApiError(400, "invalid", "phone must be a string", {"phone": "invalid"})
        try:
            e164 = to_e164(phone, region)
        except PhoneNumberError as exc:
            raise ApiError(400, "invalid", str(exc), {"phone": "not a phone number"}) from None
        if subscriber_id is None and booking_id is None:
            owner = find_by_phone(e164, region)
            subscriber_id = owner.id if owner is not None else None
    booking = None
    if booking_id is not None:
        booking = row_by_id(Booking, booking_id)
        if booking is None:
            raise ApiError(400, "invalid", "no such booking", {"booking_id": "unknown"})
        if subscriber_id is not None and booking.subscriber_id != subscriber_id:
            raise ApiError(400, "invalid", "the booking is not this subscriber's", {"booking_id": "not theirs"})
    return subscriber_id, e164, booking


def _complaint_words(body: dict) -> tuple[str, str | None, int | None]:
    unknown = sorted(set(body) - set(NEW_COMPLAINT_FIELDS))
    if unknown:
        raise ApiError(400, "invalid", f"unknown fields: {', '.join(unknown)}", dict.fromkeys(unknown, "unknown"))
    description = body.get("description")
    if not isinstance(description, str) or not description.strip():
        raise ApiError(400, "invalid", "describe the complaint", {"description": "required"})
    if len(description) > DESCRIPTION_LENGTH:
        message = f"the description may have at most {DESCRIPTION_LENGTH} characters"
        raise ApiError(400, "invalid", message, {"description": "too long"})
    category = body.get("category")
    if category is not None and category not in CATEGORIES:
        raise ApiError(400, "invalid", f"category must be one of: {', '.join(CATEGORIES)}", {"category": "invalid"})
    severity = _int_field(body, "severity")
    if severity is not None and severity not in SEVERITIES:
        raise ApiError(400, "invalid", "severity must be 1 (low), 2 (normal) or 3 (high)", {"severity": "invalid"})
    return description, category, severity


@bp.route("/complaints", methods=["POST"])
def create_complaint():
    """Open a complaint for a customer: ``{subscriber_id? phone? booking_id? description, category? severity?}``."""
    require_area(Area.CONSOLE)
    body = json_body()
    description, category, severity = _complaint_words(body)
    subscriber_id, phone, booking = _complainant(body)
    if booking is None:
        booking = last_trip(subscriber_id, phone)
    now = utcnow()
    try:
        complaint = open_complaint(
            "agent",
            description,
            now,
            subscriber_id=subscriber_id,
            phone=phone,
            booking=booking,
            category=category,
            severity=severity,
            user_id=current_user.id,
        )
    except ComplaintError as error:
        db.session.rollback()
        raise ApiError(400, "invalid", str(error)) from None
    db.session.commit()
    return jsonify(complaint_detail_json(complaint, now)), 201


def _feedback_query():
    """The feedback rows the query string asks for, newest first; a bad value is a 400 naming it."""
    args, errors = request.args, {}
    query = select(Feedback)
    for name, allowed in (("status", FEEDBACK_STATUSES), ("channel", FEEDBACK_CHANNELS), ("rating", RATINGS)):
        value = (args.get(name) or "").strip()
        if value and value not in allowed:
            errors[name] = f"one of {', '.join(allowed)}"
        elif value:
            query = query.where(getattr(Feedback, name) == (int(value) if name == "rating" else value))
    for name in ("driver_id", "subscriber_id", "booking_id"):
        value = (args.get(name) or "").strip()
        number = whole_number(value)
        if value and (number is None or not 1 <= number <= MAX_ID):
            errors[name] = "a whole number"
        elif value:
            query = query.where(getattr(Feedback, name) == number)
    try:  # the office's calendar days, read exactly as the complaint log reads them
        days = read_filter({name: args.get(name, "") for name in ("date_from", "date_to")})
    except FilterError as error:
        errors |= error.fields
    else:
        if days.date_from:
            query = query.where(Feedback.created_at >= office_midnight(days.date_from))
        if days.date_to:
            query = query.where(Feedback.created_at < office_midnight(days.date_to + timedelta(days=1)))
    if errors:
        raise _filter_error(FilterError(errors))
    return query.order_by(Feedback.created_at.desc(), Feedback.id.desc())


@bp.route("/feedback")
def list_feedback():
    """Trips' feedback, newest first, filterable by status, channel, rating, driver, subscriber, booking, days."""
    require_area(Area.SUPERVISION)
    return jsonify(paginate(_feedback_query(), feedback_json))


@bp.route("/feedback/<int:feedback_id>")
def get_feedback(feedback_id: int):
    """One feedback request with its events: Twilio's raw payloads and what was read from them."""
    require_area(Area.SUPERVISION)
    feedback = db.session.get(Feedback, feedback_id)
    if feedback is None:
        raise ApiError(404, "not_found", f"no feedback {feedback_id}")
    events = [{"kind": e.kind, "at": _moment(e.at), "data": e.data} for e in feedback.events]
    return jsonify(feedback_json(feedback) | {"events": events})
