"""Settlement pages: every driver's statement for a period, the settlement run, printable statements, the CSV."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from flask import abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, SelectChoice, SelectField, StringField
from wtforms.validators import InputRequired, Length, ValidationError

from accounts.auth import area_required
from accounts.models import User
from accounts.roles import Area
from core.errors import error_response
from core.extensions import db
from core.i18n import office_time, show_day
from core.models import utcnow
from core.text import ascii_digits, spreadsheet_safe
from core.timewindows import office_date
from drivers.models import Driver
from earnings.ledger import LedgerError
from earnings.models import EntryKind, Settlement
from earnings.settlements import (
    MAX_PERIOD_DAYS,
    METHOD_NAMES,
    METHODS,
    covered_lines,
    last_settlement,
    settle,
    settle_all,
    settlements_between,
    statement,
)
from supervisors.routes import bp

CSV_COLUMNS = [
    "call_sign", "name", "period_start", "period_end", "trips", "fares", "commission", "paid",
    "method", "reference", "settled_at", "settled_by",
]  # fmt: skip


def yesterday() -> date:
    """The office calendar's yesterday: the default period."""
    return office_date(utcnow(), current_app.config["OFFICE_TIMEZONE"]) - timedelta(days=1)


class OfficeDayField(DateField):
    """A day as YYYY-MM-DD, Persian digits allowed; left empty, the field keeps its default."""

    def process_formdata(self, valuelist):
        typed = ascii_digits(valuelist[0] if valuelist else "").strip()
        if typed:
            super().process_formdata([typed])


class PeriodForm(FlaskForm):
    """A period of office days, the first and the last (inclusive); yesterday unless given."""

    start = OfficeDayField(_l("From"), default=yesterday)
    end = OfficeDayField(_l("To"), default=yesterday)

    def validate_end(self, field):
        """The period runs forwards and is not longer than a settlement may be."""
        if self.start.data and field.data:
            if field.data < self.start.data:
                raise ValidationError(_l("The period ends before it starts."))
            if (field.data - self.start.data).days + 1 > MAX_PERIOD_DAYS:
                raise ValidationError(_l("A period is at most %(days)s days.", days=MAX_PERIOD_DAYS))


class RunForm(PeriodForm):
    """The period to settle and how the money changes hands."""

    start = OfficeDayField(_l("From"), validators=[InputRequired()])
    end = OfficeDayField(_l("To"), validators=[InputRequired()])
    method = SelectField(_l("Method"), choices=[SelectChoice(m, METHOD_NAMES.get(m, m)) for m in METHODS])


class SettleDriverForm(RunForm):
    """One driver's settlement, with the bank or receipt reference."""

    reference = StringField(_l("Reference"), validators=[Length(max=80)])


def _asked_period() -> PeriodForm:
    """The period asked for in the query string (yesterday if none); validate it before use."""
    return PeriodForm(formdata=request.args, meta={"csrf": False})


def _bad_period(form: FlaskForm):
    problems = [f"{field.label.text}: {error}" for field in form for error in field.errors]
    return error_response(400, "bad_period", " ".join(problems) or _("Give the period as two dates."))


def _user_names(ids) -> dict[int, str]:
    return {u.id: u.display_name for u in db.session.scalars(select(User).where(User.id.in_(set(ids) - {None})))}


@bp.route("/settlements", methods=["GET"])
@area_required(Area.SUPERVISION)
def settlements():
    """Every active driver's statement for the period, their last settlement, and the settlement run's form."""
    period = _asked_period()
    if not period.validate():
        return _bad_period(period)
    start, end, now = period.start.data, period.end.data, utcnow()
    drivers = db.session.scalars(select(Driver).where(Driver.active.is_(True)).order_by(Driver.call_sign)).all()
    rows = [(d, statement(d.id, start, end, now), last_settlement(d.id)) for d in drivers]
    settled = settlements_between(start, end)
    last_week_end = yesterday() - timedelta(days=(yesterday().weekday() - 4) % 7)  # the last Friday (week: Sat–Fri)
    return render_template(
        "supervisors/settlements.html",
        start=start,
        end=end,
        rows=rows,
        settled=settled,
        authors=_user_names(s.created_by_id for s, _driver in settled),
        run_form=RunForm(start=start, end=end),
        driver_form=SettleDriverForm(start=start, end=end),
        shortcuts={"yesterday": (yesterday(), yesterday()), "week": (last_week_end - timedelta(days=6), last_week_end)},
        day=show_day,
        method_names=METHOD_NAMES,
    )


@bp.route("/settlements", methods=["POST"])
@area_required(Area.SUPERVISION)
def run_settlements():
    """The settlement run: settle every active driver for the period; who was refused, and why, is flashed."""
    form = RunForm()
    if not form.validate_on_submit():
        return _bad_period(form)
    start, end = form.start.data, form.end.data
    done, refused = settle_all(start, end, form.method.data, current_user.id, utcnow(), after_each=db.session.commit)
    db.session.commit()
    flash(_("%(count)s drivers settled.", count=len(done)), "success")
    signs = dict(db.session.execute(select(Driver.id, Driver.call_sign).where(Driver.id.in_(refused))).all())
    for driver_id, message in refused.items():
        flash(_("%(driver)s not settled: %(reason)s", driver=signs.get(driver_id, driver_id), reason=message), "error")
    return redirect(url_for("supervisors.settlements", start=start.isoformat(), end=end.isoformat()))


@bp.route("/settlements/driver/<int:driver_id>", methods=["POST"])
@area_required(Area.SUPERVISION)
def settle_driver(driver_id: int):
    """Settle one driver for the period, with a reference (a bank transfer's, a receipt's number)."""
    driver = db.session.get(Driver, driver_id) or abort(404)
    form = SettleDriverForm()
    if not form.validate_on_submit():
        return _bad_period(form)
    start, end = form.start.data, form.end.data
    try:
        done = settle(driver.id, start, end, form.method.data, form.reference.data, current_user.id, utcnow())
    except LedgerError as exc:
        db.session.rollback()
        flash(_("%(driver)s not settled: %(reason)s", driver=driver.call_sign, reason=str(exc)), "error")
    else:
        db.session.commit()
        flash(_("%(driver)s settled.", driver=driver.call_sign), "success")
        return redirect(url_for("supervisors.settlement_statement", settlement_id=done.id))
    return redirect(url_for("supervisors.settlements", start=start.isoformat(), end=end.isoformat()))


@bp.route("/settlements/<int:settlement_id>")
@area_required(Area.SUPERVISION)
def settlement_statement(settlement_id: int):
    """The printable statement of one settlement: every line it covered, its totals, signature lines."""
    settlement = db.session.get(Settlement, settlement_id) or abort(404)
    entries = covered_lines(settlement)
    return render_template(
        "supervisors/statement.html",
        settlement=settlement,
        driver=db.session.get(Driver, settlement.driver_id),
        entries=entries,
        adjustments=sum(e.amount for e in entries if e.kind == EntryKind.ADJUSTMENT),
        author=_user_names([settlement.created_by_id]).get(settlement.created_by_id, "—"),
        office=current_app.config.get("OFFICE_NAME") or _("Cabdesk"),
        day=show_day,
        method_names=METHOD_NAMES,
    )


@bp.route("/settlements.csv")
@area_required(Area.SUPERVISION)
def settlements_csv():
    """One row per settlement whose period overlaps the asked one (yesterday if none)."""
    period = _asked_period()
    if not period.validate():
        return _bad_period(period)
    start, end = period.start.data, period.end.data
    settled = settlements_between(start, end)
    authors = _user_names(s.created_by_id for s, _driver in settled)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for s, driver in settled:
        writer.writerow(
            [
                spreadsheet_safe(driver.call_sign),
                spreadsheet_safe(driver.name),
                s.period_start.isoformat(),
                s.period_end.isoformat(),
                s.trips,
                s.fares,
                s.commission,
                s.paid,
                s.method,
                spreadsheet_safe(s.reference),
                office_time(s.created_at).strftime("%Y-%m-%d %H:%M"),
                spreadsheet_safe(authors.get(s.created_by_id, "")),
            ]
        )
    # A byte-order mark: spreadsheets then read the Persian names as UTF-8.
    response = make_response("\ufeff" + out.getvalue())
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    name = f"settlements-{start.isoformat()}-{end.isoformat()}.csv"
    response.headers["Content-Disposition"] = f"attachment; filename={name}"
    return response
