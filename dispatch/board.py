"""The dispatcher board's read side: the whole board in one snapshot, and single rows for live updates.

Every row is plain JSON (numbers, strings, ISO moments) so that the snapshot and the Socket.IO events
carry the same shapes. Names that depend on the reader's language (zones) travel as ids in the rows;
the snapshot, built for one dispatcher, carries the names in their language.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app, has_request_context
from flask_babel import get_locale
from redis.exceptions import RedisError
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from core.extensions import db
from core.models import utcnow
from core.queues import redis_connection
from core.timewindows import office_date
from dispatch.models import Booking, BookingStatus, DispatchOffer, OfferOutcome, StandQueueEntry
from drivers import positions
from drivers.models import Driver, DriverStatus
from drivers.services import dispatch_block_reason, vehicle_of
from geo.models import Zone

# Bounds on one snapshot: a busy office has far fewer live jobs and drivers on duty than these.
LIVE_LIMIT = 500
SCHEDULED_LIMIT = 200
OFFER_LIMIT = 300
DRIVER_LIMIT = 2000
ZONE_LIMIT = 500
# Bound on one positions push: every driver on duty moved at most once per push.
POSITIONS_LIMIT = 10_000

WAITING = (BookingStatus.REQUESTED, BookingStatus.OFFERED)
ACTIVE = (BookingStatus.ASSIGNED, BookingStatus.ARRIVED, BookingStatus.ON_TRIP)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _waiting_since(booking: Booking) -> datetime:
    """When the job started waiting for a car: its booking, or a pre-booking's release before its pickup."""
    lead = timedelta(minutes=current_app.config["PREBOOKING_LEAD_MINUTES"])
    return max(booking.created_at, booking.pickup_at - lead)


def booking_row(booking: Booking, *, call_signs: dict[int, str] | None = None) -> dict:
    """A booking as the board shows it; ``call_signs`` (driver id → call sign) saves a query per row."""
    call_sign = None
    if booking.driver_id is not None:
        if call_signs is not None and booking.driver_id in call_signs:
            call_sign = call_signs[booking.driver_id]
        else:
            call_sign = db.session.scalar(select(Driver.call_sign).where(Driver.id == booking.driver_id))
    return {
        "id": booking.id,
        "status": booking.status,
        "pickup": booking.pickup_text,
        "pickup_lat": booking.pickup_lat,
        "pickup_lon": booking.pickup_lon,
        "zone_id": booking.pickup_zone_id,
        "dropoff": booking.dropoff_text,
        "pickup_at": _iso(booking.pickup_at),
        "created_at": _iso(booking.created_at),
        "waiting_since": _iso(_waiting_since(booking)),
        "vehicle_class": booking.vehicle_class,
        "fare": booking.fare,
        "currency": booking.currency,
        "phone": booking.phone,
        "notes": booking.notes,
        "driver_id": booking.driver_id,
        "driver": call_sign,
        "auto_dispatch": booking.auto_dispatch,
        "offer_tries": booking.offer_tries,
        "assigned_at": _iso(booking.assigned_at),
        "arrived_at": _iso(booking.arrived_at),
        "started_at": _iso(booking.started_at),
    }


def offer_row(offer: DispatchOffer, call_sign: str | None = None) -> dict:
    """An offer in flight: to whom, for which job, and until when (the board counts down to ``expires_at``)."""
    if call_sign is None:
        call_sign = db.session.scalar(select(Driver.call_sign).where(Driver.id == offer.driver_id))
    return {
        "id": offer.id,
        "booking_id": offer.booking_id,
        "driver_id": offer.driver_id,
        "driver": call_sign,
        "offered_at": _iso(offer.offered_at),
        "expires_at": _iso(offer.expires_at),
        "method": offer.method,
        "eta_min": offer.eta_min,
    }


def sightings(driver_ids: list[int]) -> dict[int, positions.Sighting] | None:
    """Each driver's position and last-seen time from the live index in one round trip; None if Redis is down."""
    if not driver_ids:
        return {}
    try:
        with redis_connection().pipeline(transaction=False) as pipe:
            pipe.geopos(positions.POSITIONS, *driver_ids)
            pipe.zmscore(positions.SEEN, driver_ids)
            where, seen = pipe.execute()
    except RedisError:
        current_app.logger.warning("board: Redis unavailable, positions from the database")
        return None
    return {
        driver_id: positions.Sighting(lat=point[1], lon=point[0], at=at)
        for driver_id, point, at in zip(driver_ids, where, seen, strict=True)
        if point is not None and at is not None
    }


def _database_sighting(driver: Driver) -> positions.Sighting | None:
    if driver.last_lat is None or driver.last_lon is None or driver.last_seen_at is None:
        return None
    return positions.Sighting(lat=driver.last_lat, lon=driver.last_lon, at=driver.last_seen_at.timestamp())


def driver_row(driver: Driver, now: datetime | None = None) -> dict:
    """A driver as the board shows them: state, position, whether stale, car class and stand queue place."""
    found = sightings([driver.id])
    sighting = found.get(driver.id) if found is not None else _database_sighting(driver)
    return _driver_row(driver, sighting, _queue_place(driver.id), now or utcnow())


def _driver_row(
    driver: Driver, sighting: positions.Sighting | None, queue_place: tuple[int, int] | None, now: datetime
) -> dict:
    """The row from what was looked up already (the snapshot fetches positions and queues for all at once)."""
    vehicle = vehicle_of(driver)
    stale_after = current_app.config["DRIVER_STALE_SECONDS"]
    return {
        "id": driver.id,
        "call_sign": driver.call_sign,
        "name": driver.name,
        "status": driver.status,
        "vehicle_class": vehicle.vehicle_class if vehicle else None,
        "plate": vehicle.plate if vehicle else None,
        "lat": round(sighting.lat, 6) if sighting else None,
        "lon": round(sighting.lon, 6) if sighting else None,
        "seen_at": round(sighting.at, 1) if sighting else None,
        # Not heard from lately: the auto-dispatcher passes them over, so the board says so.
        "stale": sighting is None or now.timestamp() - sighting.at > stale_after,
        "queue": {"zone_id": queue_place[0], "place": queue_place[1]} if queue_place else None,
        # Suspended, papers or contract expired, shift over: why no offer will reach them.
        "blocked": dispatch_block_reason(driver, now, office_date(now, current_app.config["OFFICE_TIMEZONE"])),
    }


def _queue_place(driver_id: int) -> tuple[int, int] | None:
    zone_id = db.session.scalar(select(StandQueueEntry.zone_id).where(StandQueueEntry.driver_id == driver_id))
    if zone_id is None:
        return None
    order = [row.driver_id for row in queue_rows(zone_id)]
    return zone_id, order.index(driver_id) + 1


def queue_rows(zone_id: int | None = None) -> list:
    """Stand queue entries in order, zone by zone: ``(zone_id, driver_id, call_sign)`` rows, one query."""
    query = (
        select(StandQueueEntry.zone_id, StandQueueEntry.driver_id, Driver.call_sign)
        .join(Driver, Driver.id == StandQueueEntry.driver_id)
        .order_by(StandQueueEntry.zone_id, StandQueueEntry.joined_at, StandQueueEntry.id)
        .limit(DRIVER_LIMIT)
    )
    if zone_id is not None:
        query = query.where(StandQueueEntry.zone_id == zone_id)
    return list(db.session.execute(query).all())


def zone_queues(zone_names: dict[int, str] | None = None) -> list[dict]:
    """Every zone's stand queue: zone id (and name, when given) and its drivers' call signs in order."""
    queues: dict[int, dict] = {}
    for zone_id, driver_id, call_sign in queue_rows():
        queue = queues.setdefault(zone_id, {"zone_id": zone_id, "driver_ids": [], "drivers": []})
        queue["driver_ids"].append(driver_id)
        queue["drivers"].append(call_sign)
    if zone_names is not None:
        for queue in queues.values():
            queue["zone"] = zone_names.get(queue["zone_id"], "")
    return list(queues.values())


def _zone_names(locale: str) -> list[dict]:
    rows = db.session.execute(
        select(Zone.id, Zone.code, Zone.name_fa, Zone.name_en).order_by(Zone.code).limit(ZONE_LIMIT)
    ).all()
    return [{"id": i, "code": code, "name": fa if locale == "fa" else en} for i, code, fa, en in rows]


def board_snapshot(now: datetime | None = None, locale: str | None = None) -> dict:
    """Everything the board shows, for a fresh page or a reconnect: jobs, offers, trips, drivers, queues.

    Zone names are in ``locale``: by default the asking dispatcher's language, else the office's.
    """
    now = now or utcnow()
    config = current_app.config
    if locale is None:
        locale = str(get_locale()) if has_request_context() else config["DEFAULT_LOCALE"]
    live = db.session.scalars(
        select(Booking)
        .where(Booking.status.in_((*WAITING, *ACTIVE)))
        .order_by(Booking.pickup_at, Booking.id)
        .limit(LIVE_LIMIT)
    ).all()
    scheduled = db.session.scalars(
        select(Booking)
        .where(Booking.status == BookingStatus.SCHEDULED)
        .order_by(Booking.pickup_at, Booking.id)
        .limit(SCHEDULED_LIMIT)
    ).all()
    offers = db.session.scalars(
        select(DispatchOffer)
        .where(DispatchOffer.outcome == OfferOutcome.PENDING)
        .order_by(DispatchOffer.expires_at)
        .limit(OFFER_LIMIT)
    ).all()
    # Drivers on duty, and any who hold a job on the board whatever they say their state is.
    holders = {b.driver_id for b in live if b.driver_id is not None} | {o.driver_id for o in offers}
    drivers = db.session.scalars(
        select(Driver)
        .options(selectinload(Driver.vehicles))
        .where(or_(Driver.status != DriverStatus.OFFLINE, Driver.id.in_(holders)))
        .order_by(Driver.call_sign)
        .limit(DRIVER_LIMIT)
    ).all()
    call_signs = {d.id: d.call_sign for d in drivers}
    seen = sightings([d.id for d in drivers])
    zones = _zone_names(locale)
    queues = zone_queues({z["id"]: z["name"] for z in zones})
    places = {
        driver_id: (queue["zone_id"], place)
        for queue in queues
        for place, driver_id in enumerate(queue["driver_ids"], start=1)
    }

    def sighting_of(driver: Driver):
        return seen.get(driver.id) if seen is not None else _database_sighting(driver)

    return {
        "now": now.isoformat(),
        "stale_seconds": config["DRIVER_STALE_SECONDS"],
        "waiting": [booking_row(b, call_signs=call_signs) for b in live if b.status in WAITING],
        "scheduled": [booking_row(b, call_signs=call_signs) for b in scheduled],
        "active": [booking_row(b, call_signs=call_signs) for b in live if b.status in ACTIVE],
        "offers": [offer_row(o, call_signs.get(o.driver_id)) for o in offers],
        "drivers": [_driver_row(d, sighting_of(d), places.get(d.id), now) for d in drivers],
        "queues": queues,
        "zones": zones,
    }


def changed_positions(since: float, now: float, stale_after: float) -> list[list]:
    """Drivers seen since ``since`` and drivers who went stale meanwhile: ``[id, lat, lon, seen_at, stale]`` rows.

    Read from the live index alone (GEOPOS and the seen times), so a push costs Redis two round trips and
    the database nothing.
    """
    redis = redis_connection()
    with redis.pipeline(transaction=False) as pipe:
        pipe.zrangebyscore(positions.SEEN, since, "+inf", start=0, num=POSITIONS_LIMIT, withscores=True)
        # Last seen inside [since − stale_after, now − stale_after): fresh at the last push, stale now.
        pipe.zrangebyscore(
            positions.SEEN, since - stale_after, f"({now - stale_after}", start=0, num=POSITIONS_LIMIT, withscores=True
        )
        moved, faded = pipe.execute()
    seen = {int(member): at for member, at in [*faded, *moved]}
    if not seen:
        return []
    ids = list(seen)
    points = redis.geopos(positions.POSITIONS, *ids)
    return [
        [
            driver_id,
            round(point[1], 6),
            round(point[0], 6),
            round(seen[driver_id], 1),
            now - seen[driver_id] > stale_after,
        ]
        for driver_id, point in zip(ids, points, strict=True)
        if point is not None
    ]
