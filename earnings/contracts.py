"""Contracts: the terms a driver works under, and the commission plan that comes with them."""

from __future__ import annotations

from datetime import date, datetime

from flask import current_app
from sqlalchemy import select

from core.extensions import db
from core.timewindows import office_date
from drivers.models import Driver, DriverContract
from earnings.ledger import LedgerError
from earnings.models import CommissionPlan


def add_contract(
    driver: Driver,
    number: str,
    plan_code: str,
    starts_on: date,
    ends_on: date | None,
    terms: str,
    user_id: int | None,
    now: datetime,
) -> DriverContract:
    """Put the driver under a contract and its commission plan; the newest contract is the one in force."""
    plan_code = (plan_code or "").strip().lower()
    if db.session.scalar(select(CommissionPlan.id).where(CommissionPlan.code == plan_code).limit(1)) is None:
        raise LedgerError("no commission plan with that code")
    if ends_on is not None and ends_on < starts_on:
        raise LedgerError("the contract ends before it starts")
    if ends_on is not None and ends_on < office_date(now, current_app.config["OFFICE_TIMEZONE"]):
        raise LedgerError("the end date is in the past: this contract has already expired")
    if len((number or "").strip()) > 40 or len(terms or "") > 4000:
        raise LedgerError("number: at most 40 characters; terms: at most 4,000")
    contract = DriverContract(
        driver_id=driver.id,
        number=(number or "").strip(),
        commission_plan=plan_code,
        starts_on=starts_on,
        ends_on=ends_on,
        terms=(terms or "").strip(),
        created_by_id=user_id,
        created_at=now,
    )
    db.session.add(contract)
    driver.contract_plan, driver.contract_ends_on = plan_code, ends_on
    db.session.flush()
    return contract
