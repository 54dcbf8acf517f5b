"""Signals the driver book sends once a change is committed (``core.signals.commit_and_announce``).

Defined here, with the records, so that the driver book can announce its own changes (a suspension, a corrected
licence) without importing the dispatch engine; the engine re-exports the signal and the board listens to it.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# Sent with driver_id=…, status=… when a driver's state, queue place, eligibility or record changes.
driver_changed = _signals.signal("driver-changed")
