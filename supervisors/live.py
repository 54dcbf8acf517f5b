"""The wallboard's live channel: the floor pushed to every open wallboard every few seconds (push, never poll).

``rq cron`` runs ``push_floor`` every 5 seconds (cron_jobs.py); it works the figures out once, whoever watches,
and sends them through Socket.IO's message queue, so one job serves every web process's wallboards. Between
pushes the page ticks the waiting calls' timers itself from their queue times.
"""

from __future__ import annotations

from core.extensions import socketio
from core.jobs import in_app_context
from core.models import utcnow
from reports.floor import floor_snapshot

NAMESPACE = "/wallboard"
WALLBOARD_ROOM = "wallboard"


@in_app_context
def push_floor() -> int:
    """Work out the floor now and send it to every open wallboard; how many calls wait (for the job's log)."""
    snapshot = floor_snapshot(utcnow())
    socketio.emit("floor", snapshot, to=WALLBOARD_ROOM, namespace=NAMESPACE)
    return snapshot["waiting"]["count"]
