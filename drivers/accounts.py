"""A driver's standing with the office: contracts, papers (scans kept outside the web root) and suspensions.

The contract and suspension in force are mirrored on the driver's row (``contract_plan``,
``contract_ends_on``, ``suspended_from/until``, ``suspension_reason``) so the dispatcher's eligibility
check reads no other table; every change here keeps the mirror in step. Functions flush; the caller commits.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from core.extensions import db
from core.timewindows import office_date
from drivers.models import (
    DocumentKind,
    Driver,
    DriverDocument,
    Suspension,
    SuspensionStatus,
    Vehicle,
)

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
# What a scan may be, told by its first bytes rather than by its name or the browser's word for it.
_SIGNATURES = {
    b"%PDF-": ("application/pdf", ".pdf"),
    b"\x89PNG\r\n\x1a\n": ("image/png", ".png"),
    b"\xff\xd8\xff": ("image/jpeg", ".jpg"),
}
REASON_LENGTH = 500


class AccountError(ValueError):
    """A change to a driver's standing that cannot be made, with a message for the person who tried."""


def _today(now: datetime) -> date:
    return office_date(now, current_app.config["OFFICE_TIMEZONE"])


def document_folder() -> Path:
    """Where scans are kept: under the instance folder, which the web server never serves."""
    folder = Path(current_app.instance_path) / "documents"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sniff(head: bytes) -> tuple[str, str] | None:
    """The content type and file extension of a PDF, PNG or JPEG from its first bytes; None for anything else."""
    for signature, kind in _SIGNATURES.items():
        if head.startswith(signature):
            return kind
    return None


def add_document(
    driver: Driver,
    kind: str,
    number: str,
    expires_on: date | None,
    data: bytes | None,
    file_name: str,
    user_id: int | None,
    now: datetime,
    vehicle: Vehicle | None = None,
) -> DriverDocument:
    """Keep a paper: its number and expiry, and the scan if given (a PDF or image of at most 5 MB).

    A licence updates the driver's licence number and expiry; an insurance paper the car's insurance expiry.
    """
    if kind not in {k.value for k in DocumentKind}:
        raise AccountError(f"kind: one of {', '.join(k.value for k in DocumentKind)}")
    number = (number or "").strip()
    if len(number) > 60:
        raise AccountError("number: at most 60 characters")
    if expires_on is not None and expires_on < _today(now):
        raise AccountError("the expiry date is in the past: this paper has already expired")
    if vehicle is not None and vehicle.driver_id != driver.id:
        raise AccountError("that car is not this driver's")
    document = DriverDocument(
        driver_id=driver.id,
        vehicle_id=vehicle.id if vehicle is not None else None,
        kind=kind,
        number=number,
        expires_on=expires_on,
        uploaded_by_id=user_id,
        created_at=now,
    )
    if data:
        if len(data) > MAX_DOCUMENT_BYTES:
            raise AccountError(f"the file is larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB")
        sniffed = sniff(data[:16])
        if sniffed is None:
            raise AccountError("the file must be a PDF, PNG or JPEG")
        content_type, extension = sniffed
        stored_as = secrets.token_hex(16) + extension
        (document_folder() / stored_as).write_bytes(data)
        document.stored_as, document.content_type, document.size = stored_as, content_type, len(data)
        document.file_name = Path(file_name or f"document{extension}").name[:200]
    db.session.add(document)
    if kind == DocumentKind.LICENCE:
        driver.licence_number = number or driver.licence_number
        driver.licence_expires_on = expires_on
    elif kind == DocumentKind.INSURANCE:
        car = vehicle or (driver.vehicles[0] if driver.vehicles else None)
        if car is not None:
            car.insurance_expires_on = expires_on
    db.session.flush()
    return document


def document_path(document: DriverDocument) -> Path | None:
    """The scan's file on disk, if it has one."""
    if not document.stored_as:
        return None
    path = document_folder() / document.stored_as
    return path if path.is_file() else None


def expiring_documents(now: datetime, within_days: int) -> list[DriverDocument]:
    """Papers of active drivers that expire within the given days (or have expired), soonest first."""
    today = _today(now)
    return list(
        db.session.scalars(
            select(DriverDocument)
            .join(Driver, Driver.id == DriverDocument.driver_id)
            .where(
                Driver.active.is_(True),
                DriverDocument.expires_on.is_not(None),
                DriverDocument.expires_on <= today + timedelta(days=within_days),
            )
            .order_by(DriverDocument.expires_on)
        )
    )


def _mirror(driver: Driver, now: datetime) -> None:
    """Copy the suspension in force (or next to start) onto the driver's row, or clear it."""
    current = db.session.scalar(
        select(Suspension)
        .where(
            Suspension.driver_id == driver.id,
            Suspension.status == SuspensionStatus.ACTIVE,
            (Suspension.ends_at.is_(None)) | (Suspension.ends_at > now),
        )
        .order_by(Suspension.starts_at)
        .limit(1)
    )
    if current is None:
        driver.suspended_from, driver.suspended_until, driver.suspension_reason = None, None, ""
    else:
        driver.suspended_from, driver.suspended_until = current.starts_at, current.ends_at
        driver.suspension_reason = current.reason
    # Imported here: the record helpers import drivers.services, which imports this module.
    from drivers.records import announce_change

    announce_change(driver, now)


def suspend(
    driver: Driver, reason: str, starts_at: datetime, ends_at: datetime | None, user_id: int | None, now: datetime
) -> Suspension:
    """Keep the driver out of dispatch from ``starts_at`` until ``ends_at`` (None: until lifted)."""
    reason = (reason or "").strip()
    if not reason or len(reason) > REASON_LENGTH:
        raise AccountError(f"a suspension needs a reason of at most {REASON_LENGTH} characters")
    if ends_at is not None and ends_at <= max(starts_at, now):
        raise AccountError("the suspension would be over before it starts")
    suspension = Suspension(
        driver_id=driver.id,
        status=SuspensionStatus.ACTIVE,
        reason=reason,
        starts_at=starts_at,
        ends_at=ends_at,
        created_by_id=user_id,
        decided_by_id=user_id,
        created_at=now,
    )
    db.session.add(suspension)
    db.session.flush()
    _mirror(driver, now)
    db.session.flush()
    return suspension


def propose_suspension(driver: Driver, complaint_count: int, reason: str, now: datetime) -> Suspension | None:
    """The complaint flag suggests a suspension for a supervisor to confirm; one open proposal per driver."""
    open_proposal = db.session.scalar(
        select(Suspension.id).where(Suspension.driver_id == driver.id, Suspension.status == SuspensionStatus.PROPOSED)
    )
    if open_proposal is not None:
        return None
    proposal = Suspension(
        driver_id=driver.id,
        status=SuspensionStatus.PROPOSED,
        reason=reason[:REASON_LENGTH],
        starts_at=now,
        complaint_count=complaint_count,
        created_at=now,
    )
    db.session.add(proposal)
    db.session.flush()
    return proposal


def decide_proposal(
    suspension: Suspension, confirm: bool, ends_at: datetime | None, user_id: int, now: datetime
) -> Suspension:
    """A supervisor confirms a proposed suspension (from now, until ``ends_at``) or declines it."""
    if suspension.status != SuspensionStatus.PROPOSED:
        raise AccountError("this suspension is not waiting for a decision")
    suspension.decided_by_id = user_id
    if not confirm:
        suspension.status = SuspensionStatus.DECLINED
        db.session.flush()
        return suspension
    if ends_at is not None and ends_at <= now:
        raise AccountError("the suspension would be over before it starts")
    suspension.status, suspension.starts_at, suspension.ends_at = SuspensionStatus.ACTIVE, now, ends_at
    db.session.flush()
    _mirror(db.session.get(Driver, suspension.driver_id), now)
    db.session.flush()
    return suspension


def lift(suspension: Suspension, user_id: int | None, now: datetime) -> Suspension:
    """End a suspension now (by a person, or by the clock at its end when ``user_id`` is None)."""
    if suspension.status != SuspensionStatus.ACTIVE:
        raise AccountError("this suspension is not in force")
    suspension.status, suspension.lifted_at, suspension.lifted_by_id = SuspensionStatus.LIFTED, now, user_id
    db.session.flush()
    _mirror(db.session.get(Driver, suspension.driver_id), now)
    db.session.flush()
    return suspension


def lift_ended(now: datetime) -> int:
    """Mark suspensions whose end has come as lifted (the dispatcher already ignores them); returns how many."""
    ended = list(
        db.session.scalars(
            select(Suspension).where(
                Suspension.status == SuspensionStatus.ACTIVE, Suspension.ends_at.is_not(None), Suspension.ends_at <= now
            )
        )
    )
    for suspension in ended:
        suspension.status, suspension.lifted_at = SuspensionStatus.LIFTED, suspension.ends_at
        _mirror(db.session.get(Driver, suspension.driver_id), now)
    db.session.flush()
    return len(ended)


def suspension_reason(driver: Driver, now: datetime) -> str | None:
    """Why the driver is suspended right now (from the row's mirror), or None."""
    if driver.suspended_from is None or driver.suspended_from > now:
        return None
    if driver.suspended_until is not None and driver.suspended_until <= now:
        return None
    return driver.suspension_reason or "suspended"
