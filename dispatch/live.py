"""Passing the dispatch engine's changes on to the live boards over Socket.IO (push, never poll).

The engine sends its signals after each commit (``core.signals.commit_and_announce``), from a web
request or an RQ job alike; with the Redis message queue every web process's boards hear them.
"""

from __future__ import annotations

from core.extensions import db, socketio
from dispatch.board import booking_row, driver_row, offer_row, zone_queues
from dispatch.models import Booking, DispatchOffer
from dispatch.signals import booking_changed, driver_changed, offer_closed, offer_made
from drivers.models import Driver

NAMESPACE = "/dispatch"
BOARD_ROOM = "board"


def push(event: str, data) -> None:
    """Send one event to every open board."""
    socketio.emit(event, data, to=BOARD_ROOM, namespace=NAMESPACE)


@booking_changed.connect
def push_booking(_app, booking_id: int, event: str, **_extra) -> None:
    """A booking was taken, moved on, edited or ended: its row (the board drops rows in a final state)."""
    booking = db.session.get(Booking, booking_id)
    if booking is not None:
        push("booking", booking_row(booking))


@offer_made.connect
def push_offer(_app, offer_id: int, **_extra) -> None:
    """A driver was offered a job: the offer with its deadline, for the board's countdown."""
    offer = db.session.get(DispatchOffer, offer_id)
    if offer is not None:
        push("offer", offer_row(offer))


@offer_closed.connect
def push_offer_closed(_app, offer_id: int, driver_id: int, booking_id: int, outcome: str, **_extra) -> None:
    """An offer ended without acceptance; a decline may also have cost the driver their stand queue place."""
    push("offer_closed", {"offer_id": offer_id, "driver_id": driver_id, "booking_id": booking_id, "outcome": outcome})
    push("queues", zone_queues())


@driver_changed.connect
def push_driver(_app, driver_id: int, **_extra) -> None:
    """A driver's state or queue place changed: their row, and the queues (others' places move with them)."""
    driver = db.session.get(Driver, driver_id)
    if driver is not None:
        push("driver", driver_row(driver))
        push("queues", zone_queues())
