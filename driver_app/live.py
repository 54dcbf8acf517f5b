"""Passing the dispatch engine's changes on to the drivers' phones over Socket.IO (push, never poll).

Each driver's phones share one room; what a phone is told is either the offer itself (to ring at
once) or the driver's whole state, the same as ``GET /api/drivers/me``, so that a phone never has to
work out a change on its own and a missed event is made good by the next one.
"""

from __future__ import annotations

from sqlalchemy import select

from api.drivers import driver_state, offer_json
from core.extensions import db, socketio
from dispatch.models import Booking, DispatchOffer
from dispatch.signals import booking_changed, driver_changed, offer_closed, offer_made
from drivers.models import Driver

NAMESPACE = "/driver"


def driver_room(driver_id: int) -> str:
    """The room of one driver's phones (and tabs)."""
    return f"driver:{driver_id}"


def push_state(driver_id: int) -> None:
    """Send a driver's phones their whole state again."""
    driver = db.session.get(Driver, driver_id)
    if driver is not None:
        socketio.emit("state", driver_state(driver), to=driver_room(driver_id), namespace=NAMESPACE)


@offer_made.connect
def push_offer(_app, offer_id: int, driver_id: int, **_extra) -> None:
    """Ring the offered driver's phone with the job, its fare and its deadline."""
    offer = db.session.get(DispatchOffer, offer_id)
    if offer is not None:
        socketio.emit("offer", offer_json(offer), to=driver_room(driver_id), namespace=NAMESPACE)


@offer_closed.connect
def push_offer_closed(_app, offer_id: int, driver_id: int, booking_id: int, outcome: str, **_extra) -> None:
    """Take an offer off the driver's screen: it expired, was declined or was withdrawn."""
    closed = {"id": offer_id, "booking_id": booking_id, "outcome": outcome}
    socketio.emit("offer_closed", closed, to=driver_room(driver_id), namespace=NAMESPACE)


@booking_changed.connect
def push_booking_change(_app, booking_id: int, **_extra) -> None:
    """A change to a driver's booking made elsewhere (the customer cancelled, a dispatcher reassigned)."""
    driver_id = db.session.scalar(select(Booking.driver_id).where(Booking.id == booking_id))
    if driver_id is not None:
        push_state(driver_id)


@driver_changed.connect
def push_driver_change(_app, driver_id: int, **_extra) -> None:
    """The driver's state or stand queue place changed, maybe from another phone or the dispatcher."""
    push_state(driver_id)
