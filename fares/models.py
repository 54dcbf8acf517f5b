"""Fare rules, versioned so that a past trip keeps the fare it was quoted."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.extensions import db
from core.models import CreatedAt, Money


class FareRule(CreatedAt, db.Model):
    """One version of the office's tariff for a vehicle class; amounts in the smallest unit.

    A rule is never edited in place once used: a change is a new row with a higher version,
    and the old row's ``valid_to`` closes it.
    """

    __tablename__ = "fare_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    vehicle_class: Mapped[str] = mapped_column(String(16), index=True)
    version: Mapped[int] = mapped_column(default=1)
    currency: Mapped[str] = mapped_column(String(3))
    flag_down: Mapped[Money]
    per_km: Mapped[Money]
    per_minute: Mapped[Money]
    minimum_fare: Mapped[Money]
    waiting_per_minute: Mapped[Money] = mapped_column(default=0)
    cancellation_fee: Mapped[Money] = mapped_column(default=0)
    rounding_step: Mapped[Money] = mapped_column(default=1)
    # Taximeter switch: below this speed (km/h) the time is charged, above it the distance; 0 charges both.
    speed_threshold_kmh: Mapped[float] = mapped_column(default=0.0)
    waiting_free_minutes: Mapped[int] = mapped_column(default=0)
    # Time-window and zone surcharges, e.g. {"kind": "night", "from": "23:00", "to": "06:00",
    # "percent": 20}; their meaning is the fare engine's.
    surcharges: Mapped[list] = mapped_column(JSON, default=list)
    valid_from: Mapped[datetime]
    valid_to: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    # Two admins publishing at once cannot both make "version 3" of a class.
    __table_args__ = (UniqueConstraint("vehicle_class", "version", name="uq_fare_rules_class_version"),)


class FixedFare(db.Model):
    """A set price between two zones (the airport run) that overrides the meter, part of a rule's version."""

    __tablename__ = "fixed_fares"

    id: Mapped[int] = mapped_column(primary_key=True)
    fare_rule_id: Mapped[int] = mapped_column(ForeignKey("fare_rules.id"), index=True)
    from_zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"))
    to_zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"))
    amount: Mapped[Money]
    both_ways: Mapped[bool] = mapped_column(default=True)

    __table_args__ = (UniqueConstraint("fare_rule_id", "from_zone_id", "to_zone_id"),)


class Holiday(db.Model):
    """A public holiday on the office's calendar, when holiday surcharges apply."""

    __tablename__ = "holidays"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(unique=True)
    name: Mapped[str] = mapped_column(String(120))
