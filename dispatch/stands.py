"""Stand queues: drivers waiting at a zone's stand, first in first out."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from core.database import savepoint
from core.extensions import db
from dispatch.models import StandQueueEntry


class StandError(ValueError):
    """A queue request that cannot be carried out, with a message for people."""


def join_queue(driver_id: int, zone_id: int, now: datetime) -> StandQueueEntry:
    """Put a driver at the back of a zone's queue; already in one, they move to the back of this one."""
    existing = db.session.scalar(select(StandQueueEntry).where(StandQueueEntry.driver_id == driver_id))
    if existing is not None:
        if existing.zone_id == zone_id:
            return existing
        existing.zone_id, existing.joined_at = zone_id, now
        db.session.flush()
        return existing
    entry = StandQueueEntry(zone_id=zone_id, driver_id=driver_id, joined_at=now)
    try:
        with savepoint():
            db.session.add(entry)
            db.session.flush()
    except IntegrityError:  # the driver's other tab checked in at the same moment
        return db.session.scalar(select(StandQueueEntry).where(StandQueueEntry.driver_id == driver_id))
    return entry


def leave_queue(driver_id: int) -> None:
    """Take a driver out of whatever queue they are in."""
    db.session.execute(delete(StandQueueEntry).where(StandQueueEntry.driver_id == driver_id))


def to_back_of_queue(driver_id: int, now: datetime) -> None:
    """Send a driver to the back of their queue (a decline, where the office wants it to cost the place)."""
    db.session.execute(
        update(StandQueueEntry).where(StandQueueEntry.driver_id == driver_id).values(joined_at=now),
        execution_options={"synchronize_session": False},
    )


def queue_of_zone(zone_id: int) -> list[StandQueueEntry]:
    """A zone's queue in order: the first entry is offered the zone's next job."""
    return list(
        db.session.scalars(
            select(StandQueueEntry)
            .where(StandQueueEntry.zone_id == zone_id)
            .order_by(StandQueueEntry.joined_at, StandQueueEntry.id)
        )
    )


def place_in_queue(driver_id: int) -> tuple[int, int] | None:
    """``(zone_id, position)`` of a driver in a queue (1 is first), or None."""
    entry = db.session.scalar(select(StandQueueEntry).where(StandQueueEntry.driver_id == driver_id))
    if entry is None:
        return None
    ahead = [e.id for e in queue_of_zone(entry.zone_id)].index(entry.id)
    return entry.zone_id, ahead + 1


def all_queues() -> dict[int, list[int]]:
    """Every zone's queue as driver ids in order, for the board."""
    rows = db.session.execute(
        select(StandQueueEntry.zone_id, StandQueueEntry.driver_id).order_by(
            StandQueueEntry.zone_id, StandQueueEntry.joined_at, StandQueueEntry.id
        )
    ).all()
    queues: dict[int, list[int]] = {}
    for zone_id, driver_id in rows:
        queues.setdefault(zone_id, []).append(driver_id)
    return queues
