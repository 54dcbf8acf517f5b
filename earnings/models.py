"""Commission plans (versioned like fare rules), the append-only driver ledger, and settlements."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.extensions import db
from core.models import CreatedAt, Money, utcnow


class CommissionKind(StrEnum):
    """How the office takes its share."""

    PERCENT = "percent"  # a share of every fare, in basis points (1,500 = 15%)
    PER_TRIP = "per_trip"  # a fixed amount for every trip
    SHIFT_FEE = "shift_fee"  # a fixed amount for every office day the driver worked
    MONTHLY_FEE = "monthly_fee"  # a fixed amount for every calendar month (office calendar) the driver worked


class CommissionPlan(CreatedAt, db.Model):
    """One version of a named commission plan; a change is a new version, and the old one's ``valid_to`` closes it."""

    __tablename__ = "commission_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), index=True)  # the name contracts refer to, e.g. "standard"
    version: Mapped[int] = mapped_column(default=1)
    name: Mapped[str] = mapped_column(String(120))
    valid_from: Mapped[datetime]
    valid_to: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    rates: Mapped[list[CommissionRate]] = relationship(order_by="CommissionRate.id", cascade="all, delete-orphan")

    __table_args__ = (UniqueConstraint("code", "version", name="uq_commission_plans_code_version"),)


class CommissionRate(db.Model):
    """One line of a plan: the default, or a different rate for a vehicle class and/or a pickup zone."""

    __tablename__ = "commission_rates"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("commission_plans.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    percent_bp: Mapped[int] = mapped_column(default=0)  # basis points of the fare, for "percent"
    amount: Mapped[Money] = mapped_column(default=0)  # per trip, per shift or per month
    vehicle_class: Mapped[str | None] = mapped_column(String(16))
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("zones.id"))


class EntryKind(StrEnum):
    """What a ledger line records."""

    TRIP = "trip"  # a completed trip: its fare, the office's commission, how the passenger paid
    FEE = "fee"  # a shift or monthly fee
    ADJUSTMENT = "adjustment"  # a bonus, a fine, a refund after a fare dispute, a correction
    SETTLEMENT = "settlement"  # money paid to the driver or collected from them, closing a period


class LedgerEntry(db.Model):
    """One line of a driver's ledger; never changed or deleted (a correction is a new line).

    ``amount`` moves the balance: positive, the office owes the driver more; negative, the driver owes the
    office more. ``seq`` numbers a driver's lines 1, 2, 3… with no gap: the unique (driver, seq) makes two
    lines written at once collide instead of both landing, and ``balance_after`` is the running balance.
    """

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    driver_id: Mapped[int] = mapped_column(ForeignKey("drivers.id"))
    seq: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Money]
    balance_after: Mapped[Money]
    fare: Mapped[Money] = mapped_column(default=0)  # trip lines: the fare the passenger paid
    commission: Mapped[Money] = mapped_column(default=0)  # trip and fee lines: the office's share
    payment: Mapped[str] = mapped_column(String(8), default="")  # trip lines: cash or account
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"))
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("commission_plans.id"))
    # What makes a line unique in the world ("trip:123", "fee:shift:7:2026-11-23"): posting twice posts once.
    dedupe_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    settlement_id: Mapped[int | None] = mapped_column(ForeignKey("settlements.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("driver_id", "seq", name="uq_ledger_entries_driver_seq"),
        Index("ix_ledger_entries_driver_at", "driver_id", "at"),
    )


class Settlement(CreatedAt, db.Model):
    """A closed period of a driver's ledger: what the lines up to its end came to, and what changed hands."""

    __tablename__ = "settlements"

    id: Mapped[int] = mapped_column(primary_key=True)
    driver_id: Mapped[int] = mapped_column(ForeignKey("drivers.id"), index=True)
    period_start: Mapped[date]
    period_end: Mapped[date]  # inclusive, office calendar
    through_seq: Mapped[int]  # the last ledger line (by seq) the period covers
    trips: Mapped[int] = mapped_column(default=0)
    fares: Mapped[Money] = mapped_column(default=0)
    commission: Mapped[Money] = mapped_column(default=0)
    # What the period came to: positive, the office paid the driver; negative, the office collected it.
    paid: Mapped[Money]
    method: Mapped[str] = mapped_column(String(16), default="cash")  # cash, bank
    reference: Mapped[str] = mapped_column(String(80), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    __table_args__ = (UniqueConstraint("driver_id", "period_start", name="uq_settlements_driver_start"),)
