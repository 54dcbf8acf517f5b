"""The screen pop: what an agent sees of a waiting call before answering it."""

from __future__ import annotations

from datetime import timedelta

from flask import url_for
from sqlalchemy import or_, select

from accounts.models import User
from calls.models import Call
from core.extensions import db
from core.models import utcnow
from crm.models import Note, Subscriber
from crm.phones import display_phone
from dispatch.models import Booking
from dispatch.services import recent_trips
from feedback.services import open_complaints

# A caller who booked this recently is most likely asking "where is my car?".
RECENT_BOOKING = timedelta(minutes=30)


def _booking_card(booking: Booking) -> dict:
    return {
        "id": booking.id,
        "status": booking.status,
        "pickup": booking.pickup_text,
        "dropoff": booking.dropoff_text,
        "pickup_at": booking.pickup_at.isoformat(),
        "fare": booking.fare,
        "currency": booking.currency,
        "driver_id": booking.driver_id,
    }


def recent_booking(subscriber_id: int | None, phone: str | None) -> Booking | None:
    """A booking made by this caller within the last half hour, if any."""
    if subscriber_id is None and not phone:
        return None
    since = utcnow() - RECENT_BOOKING
    who = []
    if subscriber_id is not None:
        who.append(Booking.subscriber_id == subscriber_id)
    if phone:
        who.append(Booking.phone == phone)
    return db.session.scalar(
        select(Booking).where(or_(*who), Booking.created_at >= since).order_by(Booking.created_at.desc()).limit(1)
    )


def subscriber_card(subscriber: Subscriber) -> dict:
    """The caller's record as the pop shows it: tier, notes, addresses, last trips, open complaints."""
    notes = db.session.scalars(
        select(Note).where(Note.subscriber_id == subscriber.id).order_by(Note.id.desc()).limit(3)
    ).all()
    trips = recent_trips(subscriber.id, 3)
    complaints = open_complaints(subscriber.id)
    return {
        "id": subscriber.id,
        "name": subscriber.name,
        "tier": subscriber.tier,
        "language": subscriber.language,
        "notes": subscriber.notes,
        "barred": subscriber.barred,
        "url": url_for("agents.subscriber", subscriber_id=subscriber.id),
        "recent_notes": [{"kind": n.kind, "body": n.body} for n in notes],
        # Ids and points let the pop's "book from here" fill the booking form and pin the map.
        "addresses": [
            {
                "id": a.id,
                "label": a.label,
                "text": a.text,
                "unit": a.unit,
                "driver_notes": a.driver_notes,
                "lat": a.lat,
                "lon": a.lon,
            }
            for a in subscriber.addresses
        ],
        "last_trips": [_booking_card(b) for b in trips],
        "open_complaints": [{"id": c.id, "category": c.category, "status": c.status} for c in complaints],
    }


def call_card(call: Call) -> dict:
    """A call as the consoles show it, with the caller's record popped when the number is known."""
    subscriber = call.subscriber
    booking = recent_booking(call.subscriber_id, call.caller_e164)
    agent = db.session.get(User, call.agent_id) if call.agent_id else None
    return {
        "id": call.id,
        "status": call.status,
        "caller": display_phone(call.caller_e164) if call.caller_e164 else None,
        "caller_e164": call.caller_e164,
        "withheld": call.caller_e164 is None,
        "queued_at": (call.queued_at or call.created_at).isoformat(),
        "agent_id": call.agent_id,
        "agent_name": agent.display_name if agent else None,
        "subscriber": subscriber_card(subscriber) if subscriber else None,
        "recent_booking": _booking_card(booking) if booking else None,
        "new_subscriber_url": None
        if subscriber or not call.caller_e164
        else url_for("agents.new_subscriber", phone=display_phone(call.caller_e164)),
    }
