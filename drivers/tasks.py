"""The driver book's RQ jobs."""

from __future__ import annotations

from core.extensions import db
from core.jobs import in_app_context
from core.models import utcnow
from drivers.services import copy_positions_to_database


@in_app_context
def copy_positions() -> int:
    """Copy the last minute's positions from the live index to the drivers' rows (``rq cron``, every minute)."""
    copied = copy_positions_to_database(utcnow())
    db.session.commit()
    return copied
