"""Settling up: closing a period of a driver's ledger and recording what was paid or collected.

A settlement covers every line dated before the end of its period (office calendar) that no earlier
settlement covered, and its own line brings what they came to back to zero; the running balance then
holds exactly the lines not yet covered. A line is covered by an earlier settlement when it is dated
before that settlement's end and was already on the ledger when it was made (``through_seq``); as ends
and seqs only grow, checking the latest settlement is enough. So a fee of the period posted while
settling it is in it, a trip of the next day already posted is not, and a late line of a settled day
(a correction) falls into the next settlement.

Periods move forward: a period that starts on or before the end of the last settled one is refused, and
two admins settling one driver at once cannot both land (the unique (driver, period start) index, and the
settlement line must take exactly the next seq).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.database import savepoint
from core.extensions import db
from core.timewindows import office_date, office_midnight
from drivers.models import Driver
from earnings.commission import post_fees
from earnings.ledger import LedgerError, append, last_entry
from earnings.models import EntryKind, LedgerEntry, Settlement

METHODS = ("cash", "bank")
METHOD_NAMES = {"cash": _l("cash"), "bank": _l("bank transfer")}
MAX_PERIOD_DAYS = 62


@dataclass(frozen=True)
class Statement:
    """What a period came to for one driver, before (or as) it is settled."""

    driver_id: int
    period_start: date
    period_end: date
    through_seq: int
    lines: list[LedgerEntry]
    trips: int
    fares: int
    commission: int
    adjustments: int
    due: int  # positive: the office pays the driver; negative: the driver pays the office


def last_settlement(driver_id: int) -> Settlement | None:
    """The driver's latest settlement."""
    return db.session.scalar(
        select(Settlement).where(Settlement.driver_id == driver_id).order_by(Settlement.period_end.desc()).limit(1)
    )


def _check_period(driver_id: int, start: date, end: date, now: datetime) -> None:
    if start > end:
        raise LedgerError("the period ends before it starts")
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise LedgerError(f"a period is at most {MAX_PERIOD_DAYS} days")
    if end > office_date(now, current_app.config["OFFICE_TIMEZONE"]):
        raise LedgerError("the period has not ended yet")
    previous = last_settlement(driver_id)
    if previous is not None and start <= previous.period_end:
        raise LedgerError(f"already settled up to {previous.period_end.isoformat()}")


def _period_end(day: date) -> datetime:
    return office_midnight(day + timedelta(days=1), current_app.config["OFFICE_TIMEZONE"])


def statement(driver_id: int, start: date, end: date, now: datetime) -> Statement:
    """The lines a settlement of the period would cover (those dated before its end, not covered before); no writes."""
    last = last_entry(driver_id)
    through = last.seq if last is not None else 0
    query = select(LedgerEntry).where(
        LedgerEntry.driver_id == driver_id,
        LedgerEntry.kind != EntryKind.SETTLEMENT,
        LedgerEntry.at < _period_end(end),
        LedgerEntry.seq <= through,
    )
    previous = last_settlement(driver_id)
    if previous is not None:
        covered = (LedgerEntry.at < _period_end(previous.period_end)) & (LedgerEntry.seq <= previous.through_seq)
        query = query.where(~covered)
    lines = list(db.session.scalars(query.order_by(LedgerEntry.seq)))
    trips = [line for line in lines if line.kind == EntryKind.TRIP]
    return Statement(
        driver_id=driver_id,
        period_start=start,
        period_end=end,
        through_seq=through,
        lines=lines,
        trips=len(trips),
        fares=sum(line.fare for line in trips),
        commission=sum(line.commission for line in lines if line.kind in (EntryKind.TRIP, EntryKind.FEE)),
        adjustments=sum(line.amount for line in lines if line.kind == EntryKind.ADJUSTMENT),
        due=sum(line.amount for line in lines),
    )


def settle(
    driver_id: int, start: date, end: date, method: str, reference: str, user_id: int | None, now: datetime
) -> Settlement:
    """Close the period: post its fees, record the settlement and the line that pays or collects what is due."""
    driver = db.session.get(Driver, driver_id)
    if driver is None:
        raise LedgerError("no such driver")
    if method not in METHODS:
        raise LedgerError(f"method: one of {', '.join(METHODS)}")
    reference = (reference or "").strip()
    if len(reference) > 80:
        raise LedgerError("reference: at most 80 characters")
    _check_period(driver_id, start, end, now)
    post_fees(driver, start, end, now)
    sheet = statement(driver_id, start, end, now)
    last = last_entry(driver_id)
    settlement = Settlement(
        driver_id=driver_id,
        period_start=start,
        period_end=end,
        through_seq=sheet.through_seq,
        trips=sheet.trips,
        fares=sheet.fares,
        commission=sheet.commission,
        paid=sheet.due,
        method=method,
        reference=reference,
        created_by_id=user_id,
        created_at=now,
    )
    try:
        with savepoint():
            db.session.add(settlement)
            db.session.flush()
    except IntegrityError:
        raise LedgerError("this period is being settled by someone else") from None
    append(
        driver_id,
        EntryKind.SETTLEMENT,
        -sheet.due,
        now,
        expect_seq=(last.seq if last is not None else 0) + 1,
        settlement_id=settlement.id,
        reason=f"{start.isoformat()} – {end.isoformat()}",
        author_id=user_id,
    )
    return settlement


def settle_all(
    start: date,
    end: date,
    method: str,
    user_id: int | None,
    now: datetime,
    after_each: Callable[[], None] | None = None,
) -> tuple[list, dict]:
    """The settlement run: settle every active driver for the period; returns the settlements and the refusals.

    ``after_each`` runs after each driver: the run's page commits there, so that a run over hundreds of drivers
    does not hold SQLite's one write lock (calls, dispatch) for all of it, and a failure part way keeps what
    was settled.
    """
    done, refused = [], {}
    driver_ids = db.session.scalars(select(Driver.id).where(Driver.active.is_(True)).order_by(Driver.call_sign)).all()
    for driver_id in driver_ids:
        try:
            with savepoint():
                done.append(settle(driver_id, start, end, method, "", user_id, now))
        except LedgerError as exc:
            refused[driver_id] = str(exc)
        if after_each is not None:
            after_each()
    return done, refused


def covered_lines(settlement: Settlement) -> list[LedgerEntry]:
    """The ledger lines a settlement covered, in order, with its own settling line last."""
    query = select(LedgerEntry).where(
        LedgerEntry.driver_id == settlement.driver_id,
        LedgerEntry.kind != EntryKind.SETTLEMENT,
        LedgerEntry.at < _period_end(settlement.period_end),
        LedgerEntry.seq <= settlement.through_seq,
    )
    previous = db.session.scalar(
        select(Settlement)
        .where(Settlement.driver_id == settlement.driver_id, Settlement.period_end < settlement.period_start)
        .order_by(Settlement.period_end.desc())
        .limit(1)
    )
    if previous is not None:
        covered = (LedgerEntry.at < _period_end(previous.period_end)) & (LedgerEntry.seq <= previous.through_seq)
        query = query.where(~covered)
    own = db.session.scalars(select(LedgerEntry).where(LedgerEntry.settlement_id == settlement.id))
    return [*db.session.scalars(query.order_by(LedgerEntry.seq)), *own]


def settlements_between(start: date, end: date) -> list[tuple[Settlement, Driver]]:
    """The settlements whose period overlaps the given one, with their drivers."""
    query = (
        select(Settlement, Driver)
        .join(Driver, Driver.id == Settlement.driver_id)
        .where(Settlement.period_start <= end, Settlement.period_end >= start)
        .order_by(Settlement.period_start, Driver.call_sign)
    )
    return [(row.Settlement, row.Driver) for row in db.session.execute(query)]
