"""The driver's ledger: append-only lines with a gapless sequence and a running balance.

Every line is appended by ``append``: it reads the driver's last line, writes the next ``seq`` with the
new running balance, and lets the unique (driver, seq) index stop a second writer who read the same
last line. Nothing here updates or deletes a line; a correction is an adjustment that names the line it
corrects. Amounts are integers in the currency's smallest unit: positive, the office owes the driver.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.database import savepoint
from core.extensions import db
from earnings.models import EntryKind, LedgerEntry

# A slipped finger (three zeros too many) in any currency's smallest unit.
MAX_AMOUNT = 100_000_000_000
REASON_LENGTH = 500
RETRIES = 8


class LedgerError(ValueError):
    """A ledger line or settlement that cannot be written, with a message for the person who tried."""


def last_entry(driver_id: int) -> LedgerEntry | None:
    """The driver's latest ledger line."""
    return db.session.scalar(
        select(LedgerEntry).where(LedgerEntry.driver_id == driver_id).order_by(LedgerEntry.seq.desc()).limit(1)
    )


def balance(driver_id: int) -> int:
    """What the office owes the driver now (negative: what the driver owes the office)."""
    last = last_entry(driver_id)
    return last.balance_after if last is not None else 0


def balances() -> dict[int, int]:
    """Every driver's balance at once (drivers with no line are absent): one query for a list of drivers."""
    latest = (
        select(LedgerEntry.driver_id, func.max(LedgerEntry.seq).label("seq")).group_by(LedgerEntry.driver_id).subquery()
    )
    rows = db.session.execute(
        select(LedgerEntry.driver_id, LedgerEntry.balance_after).join(
            latest, (LedgerEntry.driver_id == latest.c.driver_id) & (LedgerEntry.seq == latest.c.seq)
        )
    )
    return {driver_id: amount for driver_id, amount in rows}


def by_key(dedupe_key: str) -> LedgerEntry | None:
    """The line posted under this key, if any."""
    return db.session.scalar(select(LedgerEntry).where(LedgerEntry.dedupe_key == dedupe_key))


def append(
    driver_id: int, kind: str, amount: int, now: datetime, *, expect_seq: int | None = None, **fields
) -> LedgerEntry:
    """Append one line (flushed, not committed); a line whose ``dedupe_key`` is already posted is returned as is.

    With ``expect_seq`` the line must get exactly that number: if another line came first the append fails
    (a settlement computed on the ledger as it was must not land on a ledger that has moved).
    """
    if kind not in {k.value for k in EntryKind}:
        raise LedgerError(f"kind must be one of: {', '.join(k.value for k in EntryKind)}")
    if not isinstance(amount, int) or isinstance(amount, bool) or abs(amount) > MAX_AMOUNT:
        raise LedgerError(f"an amount is a whole number of at most {MAX_AMOUNT:,} in absolute value")
    key = fields.get("dedupe_key")
    if key:
        existing = by_key(key)
        if existing is not None:
            return existing
    for _ in range(RETRIES):
        last = last_entry(driver_id)
        seq = (last.seq if last is not None else 0) + 1
        if expect_seq is not None and seq != expect_seq:
            raise LedgerError("the driver's ledger changed meanwhile; look again and retry")
        entry = LedgerEntry(
            driver_id=driver_id,
            seq=seq,
            kind=kind,
            amount=amount,
            balance_after=(last.balance_after if last is not None else 0) + amount,
            at=now,
            **fields,
        )
        try:
            with savepoint():
                db.session.add(entry)
                db.session.flush()
            return entry
        except IntegrityError:
            # Another writer took this seq, or posted the same key: read again.
            if key:
                existing = by_key(key)
                if existing is not None:
                    return existing
            if expect_seq is not None:
                raise LedgerError("the driver's ledger changed meanwhile; look again and retry") from None
    raise LedgerError("the driver's ledger is busy; try again")


def adjust(
    driver_id: int, amount: int, reason: str, author_id: int, now: datetime, corrects_id: int | None = None
) -> LedgerEntry:
    """A bonus (positive), a fine or a refund owed back (negative), with its reason and author; or a correction."""
    reason = (reason or "").strip()
    if not reason:
        raise LedgerError("an adjustment needs a reason")
    if len(reason) > REASON_LENGTH:
        raise LedgerError(f"the reason may have at most {REASON_LENGTH} characters")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount == 0:
        raise LedgerError("an adjustment is a whole amount other than zero")
    if corrects_id is not None:
        corrected = db.session.get(LedgerEntry, corrects_id)
        if corrected is None or corrected.driver_id != driver_id:
            raise LedgerError("the line to correct is not on this driver's ledger")
        if corrected.kind == EntryKind.SETTLEMENT:
            raise LedgerError("a settlement is not corrected by an adjustment")
    return append(
        driver_id, EntryKind.ADJUSTMENT, amount, now, reason=reason, author_id=author_id, corrects_id=corrects_id
    )


def lines(driver_id: int, after_seq: int = 0, through_seq: int | None = None) -> list[LedgerEntry]:
    """The driver's lines in order, optionally only those after one seq and up to another."""
    query = select(LedgerEntry).where(LedgerEntry.driver_id == driver_id, LedgerEntry.seq > after_seq)
    if through_seq is not None:
        query = query.where(LedgerEntry.seq <= through_seq)
    return list(db.session.scalars(query.order_by(LedgerEntry.seq)))


@dataclass(frozen=True)
class TripTotals:
    """A driver's trips since a moment: how many, their fares, the office's commission on them."""

    trips: int
    fares: int
    commission: int


def trips_since(driver_id: int, since: datetime) -> TripTotals:
    """The driver's trip lines posted since ``since``, added up."""
    count, fares, commission = db.session.execute(
        select(
            func.count(LedgerEntry.id),
            func.coalesce(func.sum(LedgerEntry.fare), 0),
            func.coalesce(func.sum(LedgerEntry.commission), 0),
        ).where(LedgerEntry.driver_id == driver_id, LedgerEntry.kind == EntryKind.TRIP, LedgerEntry.at >= since)
    ).one()
    return TripTotals(int(count), int(fares), int(commission))  # PostgreSQL sums integers as NUMERIC
