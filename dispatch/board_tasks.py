"""The board's periodic push: drivers' positions, gathered from the live index every few seconds.

Drivers send positions far more often than a dispatcher can look; emitting one event per report from
the request would flood every board. Instead ``rq cron`` runs this job every 5 seconds and it sends
one compact ``positions`` event with the drivers who moved (or went stale) since the last push.
"""

from __future__ import annotations

import time

from flask import current_app

from core.jobs import in_app_context
from core.queues import redis_connection
from dispatch.board import changed_positions
from dispatch.live import push

CURSOR_KEY = "cabdesk:board:positions_pushed_at"
# A position stamped just before the last push may have reached Redis just after it: look back a little.
OVERLAP_SECONDS = 2.0


@in_app_context
def push_driver_positions() -> int:
    """Push the boards the positions that changed since the last push; how many rows were sent."""
    redis = redis_connection()
    now = time.time()
    stale_after = current_app.config["DRIVER_STALE_SECONDS"]
    last = redis.set(CURSOR_KEY, now, get=True)
    # First run (or after Redis lost the cursor): every driver still fresh, so a board is complete at once.
    since = float(last) - OVERLAP_SECONDS if last is not None else now - stale_after
    rows = changed_positions(since, now, stale_after)
    if rows:
        push("positions", {"at": round(now, 1), "items": rows})
    return len(rows)
