"""Signals the dispatch engine sends once a change is committed (``core.signals.commit_and_announce``).

The board and the driver's page listen to them to push changes over Socket.IO; the engine's own
jobs listen to ``offer_made`` to time the offer out.
"""

from __future__ import annotations

from blinker import Namespace

from drivers.signals import driver_changed

__all__ = ["booking_changed", "driver_changed", "offer_closed", "offer_made"]

_signals = Namespace()

# Sent with booking_id=…, event=<the booking's new status or "edited">.
booking_changed = _signals.signal("booking-changed")
# Sent with offer_id=…, driver_id=…, booking_id=…, expires_at=<ISO moment> when a driver is offered a job.
offer_made = _signals.signal("offer-made")
# Sent with offer_id=…, driver_id=…, booking_id=…, outcome=… when an offer ends any way but acceptance.
offer_closed = _signals.signal("offer-closed")
