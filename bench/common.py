"""What the benchmarks share: a subscriber row as the bulk loaders insert it."""

from __future__ import annotations

from datetime import datetime


def subscriber_row(subscriber_id: int, name: str, search_key: str, now: datetime) -> dict:
    """Every column of a plain subscriber (lead tier, no flags), for SQLAlchemy Core's executemany."""
    return {
        "id": subscriber_id,
        "name": name,
        "language": "fa",
        "notes": "",
        "tier": "lead",
        "barred": False,
        "barred_reason": "",
        "sms_opt_out": False,
        "no_show_count": 0,
        "tier_updated_at": None,
        "updated_at": now,
        "created_at": now,
        "search_key": search_key,
        "merged_into_id": None,
    }


def tehran_zones() -> list:
    """The demo office's zones as shapes: Tehran's 22 districts and the airport (what the tests' fixture adds)."""
    from demo.places import airport_zone, load_districts, load_places

    return [*load_districts(), airport_zone(load_places())]


def add_tehran_zones() -> dict:
    """Add the Tehran zones to the database of the current app context and commit; ``{code: Zone}``."""
    from core.extensions import db
    from geo.models import Zone

    shapes = tehran_zones()
    zones = {s.code: Zone(code=s.code, name_fa=s.name_fa, name_en=s.name_en, boundary=s.boundary) for s in shapes}
    db.session.add_all(zones.values())
    db.session.commit()
    return zones


def points_in_tehran(rng, count: int) -> list[tuple[float, float]]:
    """``count`` (lat, lon) points uniformly spread over the 22 districts (not the airport), six decimals."""
    import numpy
    import shapely
    from shapely.geometry import shape

    districts = [shape(zone.boundary) for zone in tehran_zones() if zone.code.startswith("D")]
    city = shapely.union_all(districts)
    shapely.prepare(city)
    west, south, east, north = city.bounds
    seed = numpy.random.default_rng(rng.getrandbits(64))
    points: list[tuple[float, float]] = []
    while len(points) < count:
        lons = seed.uniform(west, east, 2 * (count - len(points)) + 100)
        lats = seed.uniform(south, north, len(lons))
        inside = shapely.contains_xy(city, lons, lats)
        for lat, lon in zip(lats[inside], lons[inside], strict=True):
            points.append((round(float(lat), 6), round(float(lon), 6)))
    return points[:count]


def insert_drivers(connection, first_id: int, points: list[tuple[float, float]], now, status: str = "available"):
    """Drivers ``first_id…`` with a login (role driver) and a sedan each, at ``points``, by SQLAlchemy Core."""
    # The rows are what drivers.services.create_driver writes, but every driver shares one precomputed PIN hash
    # and one password hash (create_driver hashes both with scrypt: 0.3 s a driver). Ids of users, drivers and
    # vehicles are all first_id + i: give a first_id above every id already in those tables.
    from sqlalchemy import insert
    from werkzeug.security import generate_password_hash

    from accounts.models import User
    from drivers.models import Driver, Vehicle
    from tests.support.office import DRIVER_PIN

    pin_hash = generate_password_hash(DRIVER_PIN)
    password_hash = generate_password_hash("bench drivers never log in with a password")
    batch = 20_000
    for start in range(0, len(points), batch):
        users, drivers, vehicles = [], [], []
        for offset, (lat, lon) in enumerate(points[start : start + batch], start=start):
            number = first_id + offset
            call_sign = f"B{number:06d}"
            users.append(
                {
                    "id": number,
                    "username": f"driver-{call_sign.lower()}",
                    "display_name": f"Driver {call_sign}",
                    "password_hash": password_hash,
                    "role": "driver",
                    "language": "fa",
                    "calendar": "jalali",
                    "phone": None,
                    "active": True,
                    "last_login_at": None,
                    "created_at": now,
                }
            )
            drivers.append(
                {
                    "id": number,
                    "call_sign": call_sign,
                    "name": f"Driver {call_sign}",
                    "phone": f"+98935{number:07d}",
                    "pin_hash": pin_hash,
                    "language": "fa",
                    "status": status,
                    "licence_number": "",
                    "licence_expires_on": None,
                    "active": True,
                    "user_id": number,
                    "status_changed_at": now,
                    "shift_ends_at": None,
                    "last_lat": lat,
                    "last_lon": lon,
                    "last_seen_at": now,
                    "created_at": now,
                }
            )
            vehicles.append(
                {
                    "id": number,
                    "driver_id": number,
                    "plate": f"{call_sign}-IR",
                    "make_model": "Peugeot 405",
                    "colour": "white",
                    "vehicle_class": "sedan",
                    "year": None,
                    "insurance_expires_on": None,
                    "created_at": now,
                }
            )
        connection.execute(insert(User.__table__), users)
        connection.execute(insert(Driver.__table__), drivers)
        connection.execute(insert(Vehicle.__table__), vehicles)
    return list(range(first_id, first_id + len(points)))


def index_drivers(redis, drivers: list[tuple[int, float, float]], seen_at: float, batch: int = 10_000) -> None:
    """Put ``(driver_id, lat, lon)`` into the live index as available and seen at ``seen_at``, in big pipelines."""
    # The same three keys as drivers.positions.record(..., available=True) writes, many members a command.
    from drivers import positions

    for start in range(0, len(drivers), batch):
        chunk = drivers[start : start + batch]
        members = [value for driver_id, lat, lon in chunk for value in (lon, lat, driver_id)]
        with redis.pipeline(transaction=False) as pipe:
            pipe.geoadd(positions.POSITIONS, members)
            pipe.geoadd(positions.AVAILABLE, members)
            pipe.zadd(positions.SEEN, {driver_id: seen_at for driver_id, _, _ in chunk})
            pipe.execute()


def hint_driver_states(redis, driver_ids: list[int], status: str = "available", searchable: bool = True) -> None:
    """The live index's state hint of drivers already on duty, as ``drivers.services.set_status`` leaves it.

    A driver who went on duty through the engine has one (``positions.set_state_hint``), and the position fast
    path (``drivers.services.quick_position``) needs it; drivers loaded by ``insert_drivers`` and ``index_drivers``
    have none until a first position takes the full path. Written in one pipeline, as ``set_state_hint`` would.
    """
    from drivers import positions

    value = f"{status}:{int(searchable)}"
    with redis.pipeline(transaction=False) as pipe:
        for start in range(0, len(driver_ids), 10_000):
            pipe.hset(positions.STATE, mapping=dict.fromkeys(driver_ids[start : start + 10_000], value))
        pipe.execute()
