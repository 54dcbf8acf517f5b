"""A small taxi office for dispatch tests: a fare rule, drivers with cars, positions in the live index."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from core.extensions import db
from core.models import utcnow
from fares.models import FareRule

# Points in Tehran: Azadi Square (district 9), Vanak Square (district 3), Tajrish (district 1).
AZADI = (35.6997, 51.3380)
VANAK = (35.7575, 51.4100)
TAJRISH = (35.8047, 51.4336)
NEAR_AZADI = (35.7010, 51.3400)
DRIVER_PIN = "4821"


def sedan_rule() -> FareRule:
    """The office's sedan tariff, in force since 2025."""
    rule = FareRule(
        name="سواری",
        vehicle_class="sedan",
        version=1,
        currency="IRR",
        flag_down=250_000,
        per_km=90_000,
        per_minute=15_000,
        minimum_fare=500_000,
        waiting_per_minute=20_000,
        cancellation_fee=300_000,
        rounding_step=10_000,
        valid_from=datetime(2025, 1, 1, tzinfo=UTC),
    )
    db.session.add(rule)
    db.session.flush()
    return rule


def add_driver(call_sign: str, phone: str, vehicle_class: str = "sedan", pin: str = DRIVER_PIN):
    """A driver with a car of that class and a login, offline."""
    from drivers.services import create_driver

    return create_driver(
        call_sign,
        f"Driver {call_sign}",
        phone,
        pin,
        language="en",
        vehicle={
            "plate": f"{call_sign}-IR",
            "make_model": "Peugeot 405",
            "colour": "white",
            "vehicle_class": vehicle_class,
        },
    )


def on_duty_at(driver, point: tuple[float, float], now: datetime | None = None) -> None:
    """The driver goes available and reports a position there."""
    from dispatch.duty import change_status, position_report

    now = now or utcnow()
    change_status(driver, "available", now)
    position_report(driver, point[0], point[1], now)


_driver_numbers = itertools.count(1)


def drivers_on_duty(*points: tuple[float, float]) -> list:
    """One sedan driver available at each point (call sign and number made up), committed: a test's fleet."""
    drivers = []
    for point in points:
        n = next(_driver_numbers)
        driver = add_driver(f"F{n}", f"0912{n:07d}")
        on_duty_at(driver, point)
        drivers.append(driver)
    db.session.commit()
    return drivers
