"""The driver's own money on their phone: what the office owes them or they owe, their trips, lines and statements."""

from __future__ import annotations

from datetime import timedelta

from flask import abort, current_app, render_template
from flask_login import current_user
from sqlalchemy import select

from accounts.auth import area_required
from accounts.roles import Area
from core.extensions import db
from core.i18n import show_day
from core.models import utcnow
from core.timewindows import office_date, office_midnight
from driver_app.routes import bp
from drivers.models import Driver
from drivers.services import driver_for_user
from earnings.ledger import balance, last_entry, lines, trips_since
from earnings.models import EntryKind, LedgerEntry, Settlement
from earnings.settlements import METHOD_NAMES, covered_lines

RECENT_LINES = 20
RECENT_SETTLEMENTS = 20
SATURDAY = 5  # the office week runs Saturday to Friday


def _me() -> Driver:
    driver = driver_for_user(current_user.id)
    if driver is None:
        abort(404)  # a driver login whose driver record is gone
    return driver


@bp.route("/earnings")
@area_required(Area.DRIVING)
def earnings():
    """The driver's balance, today's and this week's trips, their latest ledger lines and their settlements."""
    driver = _me()
    zone = current_app.config["OFFICE_TIMEZONE"]
    today = office_date(utcnow(), zone)
    week_start = office_midnight(today - timedelta(days=(today.weekday() - SATURDAY) % 7), zone)
    last = last_entry(driver.id)
    recent = lines(driver.id, after_seq=max(0, last.seq - RECENT_LINES)) if last is not None else []
    week_trips = db.session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.driver_id == driver.id, LedgerEntry.kind == EntryKind.TRIP, LedgerEntry.at >= week_start)
        .order_by(LedgerEntry.seq.desc())
    ).all()
    settlements = db.session.scalars(
        select(Settlement)
        .where(Settlement.driver_id == driver.id)
        .order_by(Settlement.period_end.desc())
        .limit(RECENT_SETTLEMENTS)
    ).all()
    return render_template(
        "driver_app/earnings.html",
        driver=driver,
        balance=balance(driver.id),
        today=trips_since(driver.id, office_midnight(today, zone)),
        week=trips_since(driver.id, week_start),
        week_trips=week_trips,
        recent=list(reversed(recent)),
        settlements=settlements,
        day=show_day,
        method_names=METHOD_NAMES,
    )


@bp.route("/earnings/<int:settlement_id>")
@area_required(Area.DRIVING)
def earnings_statement(settlement_id: int):
    """One of the driver's own settlement statements; anyone else's is not found."""
    driver = _me()
    settlement = db.session.get(Settlement, settlement_id)
    if settlement is None or settlement.driver_id != driver.id:
        abort(404)
    return render_template(
        "driver_app/earnings.html",
        driver=driver,
        settlement=settlement,
        entries=covered_lines(settlement),
        day=show_day,
        method_names=METHOD_NAMES,
    )
