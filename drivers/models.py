"""Drivers, their cars, and the state they report from the road."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.extensions import db
from core.models import CreatedAt


class DriverStatus(StrEnum):
    """Where a driver stands for dispatch."""

    OFFLINE = "offline"
    AVAILABLE = "available"
    BUSY = "busy"
    BREAK = "break"


class VehicleClass(StrEnum):
    """The kinds of car a customer can ask for."""

    SEDAN = "sedan"
    VAN = "van"
    PREMIUM = "premium"


class Driver(CreatedAt, db.Model):
    """A driver working for the office, known on the radio by a call sign."""

    __tablename__ = "drivers"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sign: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(20), unique=True)  # E.164
    pin_hash: Mapped[str | None] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(8), default="fa")
    status: Mapped[str] = mapped_column(String(16), default=DriverStatus.OFFLINE)
    licence_number: Mapped[str] = mapped_column(String(40), default="")
    licence_expires_on: Mapped[date | None]
    active: Mapped[bool] = mapped_column(default=True)
    # The driver's login for the mobile page and the API (role "driver"); the PIN above opens it.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), unique=True)
    status_changed_at: Mapped[datetime | None]
    shift_ends_at: Mapped[datetime | None]
    # The last position reported, kept in the database too so a Redis restart loses nothing.
    last_lat: Mapped[float | None]
    last_lon: Mapped[float | None]
    last_seen_at: Mapped[datetime | None]

    # Set by drivers.services.report_position for the request at hand; not stored.
    came_into_view: bool = False

    vehicles: Mapped[list[Vehicle]] = relationship(back_populates="driver", order_by="Vehicle.id")


class Vehicle(CreatedAt, db.Model):
    """A car on the office's books, with its plate, class and insurance."""

    __tablename__ = "vehicles"

    id: Mapped[int] = mapped_column(primary_key=True)
    driver_id: Mapped[int | None] = mapped_column(ForeignKey("drivers.id"), index=True)
    plate: Mapped[str] = mapped_column(String(32), unique=True)
    make_model: Mapped[str] = mapped_column(String(80))
    colour: Mapped[str] = mapped_column(String(40))
    vehicle_class: Mapped[str] = mapped_column(String(16), default=VehicleClass.SEDAN)
    year: Mapped[int | None]
    insurance_expires_on: Mapped[date | None]

    driver: Mapped[Driver | None] = relationship(back_populates="vehicles")
