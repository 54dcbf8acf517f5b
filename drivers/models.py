"""Drivers, their cars, and the state they report from the road."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text
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
    # Mirrors of the contract and suspension in force, kept on the row so the dispatcher's eligibility check
    # reads no other table (drivers.accounts keeps them in step with the history tables).
    contract_plan: Mapped[str | None] = mapped_column(String(40))
    contract_ends_on: Mapped[date | None]
    suspended_from: Mapped[datetime | None]
    suspended_until: Mapped[datetime | None]  # None with suspended_from set: until lifted
    suspension_reason: Mapped[str] = mapped_column(String(500), default="")

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


class DocumentKind(StrEnum):
    """The papers the office keeps for a driver and their car."""

    LICENCE = "licence"
    ID_CARD = "id_card"
    VEHICLE_REGISTRATION = "vehicle_registration"
    INSURANCE = "insurance"
    TECHNICAL_INSPECTION = "technical_inspection"
    CONTRACT = "contract"
    OTHER = "other"


class DriverDocument(CreatedAt, db.Model):
    """A scanned paper with its number and expiry; the file is kept outside the web root, under a random name."""

    __tablename__ = "driver_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    driver_id: Mapped[int] = mapped_column(ForeignKey("drivers.id"), index=True)
    vehicle_id: Mapped[int | None] = mapped_column(ForeignKey("vehicles.id"))
    kind: Mapped[str] = mapped_column(String(32))
    number: Mapped[str] = mapped_column(String(60), default="")
    expires_on: Mapped[date | None] = mapped_column(index=True)
    file_name: Mapped[str] = mapped_column(String(200), default="")  # as uploaded, for the download
    stored_as: Mapped[str] = mapped_column(String(80), default="")  # the random name on disk
    content_type: Mapped[str] = mapped_column(String(60), default="")
    size: Mapped[int] = mapped_column(default=0)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # When the driver was texted that it is about to expire (once per document).
    reminded_at: Mapped[datetime | None]


class DriverContract(CreatedAt, db.Model):
    """A driver's contract with the office: its dates, its commission plan and its terms."""

    __tablename__ = "driver_contracts"

    id: Mapped[int] = mapped_column(primary_key=True)
    driver_id: Mapped[int] = mapped_column(ForeignKey("drivers.id"), index=True)
    number: Mapped[str] = mapped_column(String(40), default="")
    commission_plan: Mapped[str] = mapped_column(String(40))  # a commission plan's code
    starts_on: Mapped[date]
    ends_on: Mapped[date | None]
    terms: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class SuspensionStatus(StrEnum):
    """Where a suspension stands."""

    PROPOSED = "proposed"  # suggested by the complaint flag, waiting for a supervisor
    ACTIVE = "active"  # in force (or about to start)
    LIFTED = "lifted"  # ended early by a person, or at its end by the clock
    DECLINED = "declined"  # a proposal a supervisor turned down


class Suspension(CreatedAt, db.Model):
    """A driver kept out of dispatch for a reason, from a moment until another (or until lifted)."""

    __tablename__ = "driver_suspensions"

    id: Mapped[int] = mapped_column(primary_key=True)
    driver_id: Mapped[int] = mapped_column(ForeignKey("drivers.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=SuspensionStatus.ACTIVE)
    reason: Mapped[str] = mapped_column(String(500))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # who confirmed or declined a proposal
    lifted_at: Mapped[datetime | None]
    lifted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    complaint_count: Mapped[int | None]  # for a proposal: the complaints in 30 days that raised it
