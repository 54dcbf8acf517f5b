"""Commission plans and what the office's share comes to: per trip, per shift, per month.

A plan is versioned like the fare rules: publishing a new version of a code closes the previous one at the
new one's start, and a trip is charged by the version in force when it was completed. A plan's lines give
the default rate and, optionally, a different one for a vehicle class, a pickup zone, or both; the most
specific line that fits a trip applies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import func, or_, select, update

from core.extensions import db
from core.timewindows import office_date, office_midnight
from dispatch.models import Booking
from drivers.models import Driver, VehicleClass
from earnings.ledger import MAX_AMOUNT, LedgerError, append
from earnings.models import CommissionKind, CommissionPlan, CommissionRate, EntryKind, LedgerEntry
from geo.models import Zone

MAX_BASIS_POINTS = 5_000  # a share above half the fare is a typo, not a contract
MAX_RATES = 100
_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
TRIP_KINDS = (CommissionKind.PERCENT, CommissionKind.PER_TRIP)
FEE_KINDS = (CommissionKind.SHIFT_FEE, CommissionKind.MONTHLY_FEE)


def _whole(value, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise LedgerError(f"{field}: a whole number")
    if not low <= value <= high:
        raise LedgerError(f"{field}: from {low:,} to {high:,}")
    return value


def _rate(line: Mapping, index: int) -> CommissionRate:
    where = f"rates[{index}]"
    unknown = set(line) - {"kind", "percent_bp", "amount", "vehicle_class", "zone_id"}
    if unknown:
        raise LedgerError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    kind = line.get("kind")
    if kind not in {k.value for k in CommissionKind}:
        raise LedgerError(f"{where}.kind: one of {', '.join(k.value for k in CommissionKind)}")
    percent_bp = _whole(line.get("percent_bp", 0), f"{where}.percent_bp", 0, MAX_BASIS_POINTS)
    amount = _whole(line.get("amount", 0), f"{where}.amount", 0, MAX_AMOUNT)
    if kind == CommissionKind.PERCENT and amount:
        raise LedgerError(f"{where}: a percent line has no amount")
    if kind != CommissionKind.PERCENT and percent_bp:
        raise LedgerError(f"{where}: only a percent line has percent_bp")
    vehicle_class = line.get("vehicle_class") or None
    if vehicle_class is not None and vehicle_class not in {c.value for c in VehicleClass}:
        raise LedgerError(f"{where}.vehicle_class: one of {', '.join(c.value for c in VehicleClass)}")
    zone_id = line.get("zone_id") or None
    if zone_id is not None and db.session.get(Zone, zone_id) is None:
        raise LedgerError(f"{where}.zone_id: no such zone")
    return CommissionRate(kind=kind, percent_bp=percent_bp, amount=amount, vehicle_class=vehicle_class, zone_id=zone_id)


def publish_plan(
    code: str, name: str, rates: Sequence[Mapping], valid_from: datetime, user_id: int | None, now: datetime
) -> CommissionPlan:
    """Publish the next version of plan ``code``, closing the one before it at ``valid_from``."""
    code = (code or "").strip().lower()
    if not _CODE.match(code):
        raise LedgerError("code: 1–40 lower-case letters, digits, '-' or '_'")
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise LedgerError("name: 1–120 characters")
    if not rates or len(rates) > MAX_RATES:
        raise LedgerError(f"rates: 1 to {MAX_RATES} lines")
    lines = [_rate(line, i) for i, line in enumerate(rates)]
    scopes = [("trip" if r.kind in TRIP_KINDS else r.kind, r.vehicle_class, r.zone_id) for r in lines]
    if len(set(scopes)) != len(scopes):
        raise LedgerError("rates: two lines for the same vehicle class and zone")
    if valid_from < now - timedelta(minutes=5):
        raise LedgerError("valid_from: not in the past")
    latest = db.session.scalar(
        select(CommissionPlan).where(CommissionPlan.code == code).order_by(CommissionPlan.version.desc()).limit(1)
    )
    if latest is not None and valid_from <= latest.valid_from:
        raise LedgerError("valid_from: after the start of the version in force")
    if latest is not None:
        db.session.execute(
            update(CommissionPlan)
            .where(
                CommissionPlan.code == code,
                or_(CommissionPlan.valid_to.is_(None), CommissionPlan.valid_to > valid_from),
            )
            .values(valid_to=valid_from)
            .execution_options(synchronize_session="fetch")
        )
    plan = CommissionPlan(
        code=code,
        name=name,
        version=(latest.version + 1) if latest is not None else 1,
        valid_from=valid_from,
        created_by_id=user_id,
        rates=lines,
    )
    db.session.add(plan)
    db.session.flush()  # two admins publishing the same version meet the unique (code, version) index
    return plan


def plan_in_force(code: str | None, at: datetime) -> CommissionPlan | None:
    """The version of plan ``code`` in force at ``at``."""
    if not code:
        return None
    return db.session.scalar(
        select(CommissionPlan)
        .where(
            CommissionPlan.code == code,
            CommissionPlan.valid_from <= at,
            or_(CommissionPlan.valid_to.is_(None), CommissionPlan.valid_to > at),
        )
        .order_by(CommissionPlan.version.desc())
        .limit(1)
    )


def _best(rates: list[CommissionRate], vehicle_class: str | None, zone_id: int | None) -> CommissionRate | None:
    fitting = [
        r
        for r in rates
        if (r.vehicle_class is None or r.vehicle_class == vehicle_class) and (r.zone_id is None or r.zone_id == zone_id)
    ]
    # Class and zone beats zone beats class beats the default.
    return max(fitting, key=lambda r: (r.zone_id is not None, r.vehicle_class is not None), default=None)


def trip_commission(plan: CommissionPlan | None, fare: int, vehicle_class: str | None, zone_id: int | None) -> int:
    """The office's share of one trip under ``plan`` (0 without a plan or a per-trip line)."""
    if plan is None:
        return 0
    rate = _best([r for r in plan.rates if r.kind in TRIP_KINDS], vehicle_class, zone_id)
    if rate is None:
        return 0
    if rate.kind == CommissionKind.PER_TRIP:
        return rate.amount
    # Half up, in integers: money never goes through a float.
    return (fare * rate.percent_bp + 5_000) // 10_000


def plan_code_of(driver: Driver) -> str | None:
    """The commission plan the driver works under: their contract's, else the office's default."""
    return driver.contract_plan or current_app.config.get("DEFAULT_COMMISSION_PLAN") or None


def post_trip(booking: Booking, now: datetime) -> LedgerEntry | None:
    """Post a completed trip on its driver's ledger: the fare, the commission, cash or account; once per trip."""
    if booking.driver_id is None:
        return None
    driver = db.session.get(Driver, booking.driver_id)
    fare = booking.fare or 0
    plan = plan_in_force(plan_code_of(driver), now)
    commission = min(trip_commission(plan, fare, booking.vehicle_class, booking.pickup_zone_id), fare)
    payment = booking.payment or "cash"
    # Cash stays in the driver's pocket, so they owe the commission; on account the office owes them the rest.
    amount = fare - commission if payment == "account" else -commission
    return append(
        driver.id,
        EntryKind.TRIP,
        amount,
        now,
        fare=fare,
        commission=commission,
        payment=payment,
        booking_id=booking.id,
        plan_id=plan.id if plan is not None else None,
        dedupe_key=f"trip:{booking.id}",
    )


def _office_day(moment: datetime) -> date:
    return office_date(moment, current_app.config["OFFICE_TIMEZONE"])


def post_fees(driver: Driver, first_day: date, last_day: date, now: datetime) -> list[LedgerEntry]:
    """Post the shift fee of every office day in the range with a trip, and the monthly fee of every month with one.

    Each fee has its own key (driver, day or month): running this again, or over an overlapping range,
    posts nothing twice. A fee is dated at the end of its day (for a month: of its last worked day in the
    range), so a settlement of the period it belongs to covers it; the version in force then decides it.
    """
    trips = db.session.scalars(
        select(LedgerEntry.at).where(LedgerEntry.driver_id == driver.id, LedgerEntry.kind == EntryKind.TRIP)
    )
    days = sorted({d for d in (_office_day(at) for at in trips) if first_day <= d <= last_day})
    posted = []
    code = plan_code_of(driver)
    for day in days:
        posted += _fee(driver, code, CommissionKind.SHIFT_FEE, f"fee:shift:{driver.id}:{day.isoformat()}", day, now)
    for month in sorted({(d.year, d.month) for d in days}):
        key = f"fee:month:{driver.id}:{month[0]}-{month[1]:02d}"
        last_worked = max(d for d in days if (d.year, d.month) == month)
        posted += _fee(driver, code, CommissionKind.MONTHLY_FEE, key, last_worked, now)
    return posted


def _fee(driver: Driver, code: str | None, kind: str, key: str, day: date, now: datetime) -> list[LedgerEntry]:
    day_end = office_midnight(day + timedelta(days=1), current_app.config["OFFICE_TIMEZONE"])
    moment = min(day_end - timedelta(seconds=1), now)
    plan = plan_in_force(code, moment)
    rate = _best([r for r in plan.rates if r.kind == kind], None, None) if plan is not None else None
    if rate is None or not rate.amount:
        return []
    reason = f"{kind} {key.rsplit(':', 1)[1]}"
    entry = append(
        driver.id,
        EntryKind.FEE,
        -rate.amount,
        moment,
        commission=rate.amount,
        plan_id=plan.id,
        dedupe_key=key,
        reason=reason,
    )
    return [entry]


def plan_versions(code: str) -> list[CommissionPlan]:
    """Every version of a plan, newest first."""
    return list(
        db.session.scalars(
            select(CommissionPlan).where(CommissionPlan.code == code).order_by(CommissionPlan.version.desc())
        )
    )


def plan_codes() -> list[str]:
    """The codes of every plan, for choosing a contract's plan."""
    return list(
        db.session.scalars(
            select(CommissionPlan.code).group_by(CommissionPlan.code).order_by(func.min(CommissionPlan.id))
        )
    )
