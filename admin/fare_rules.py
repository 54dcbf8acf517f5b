"""Fare rule administration pages: the tariff in force per class, its versions, the next version, holidays."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from accounts.auth import area_required
from accounts.models import User
from accounts.roles import Area
from admin.fare_rule_forms import FareRuleForm, HolidayForm
from admin.routes import bp
from core.extensions import db
from core.i18n import show_day
from core.models import utcnow
from drivers.models import VehicleClass
from fares.rules import (
    RULE_FIELDS,
    RuleError,
    add_holiday,
    booking_counts,
    holidays,
    latest_version,
    publish_rule,
    remove_holiday,
    rule_history,
    rule_in_force,
    rule_values,
)
from fares.services import active_rule

# Fields the form may leave empty; the service then uses its defaults (0, or 1 for the rounding step).
_OPTIONAL = ("rounding_step", "speed_threshold_kmh", "waiting_per_minute", "waiting_free_minutes", "cancellation_fee")


def _selected_class() -> str:
    chosen = request.form.get("vehicle_class") or request.args.get("vehicle_class") or ""
    return chosen if chosen in {v.value for v in VehicleClass} else VehicleClass.SEDAN.value


def _form_values(form: FareRuleForm) -> dict:
    values = {key: getattr(form, key).data for key in RULE_FIELDS if key not in _OPTIONAL}
    values.update({key: getattr(form, key).data for key in _OPTIONAL if getattr(form, key).data is not None})
    return values


def _show_refusal(form: FareRuleForm, error: RuleError) -> list[str]:
    """Put the service's reasons under the fields they are about; the rest are returned for the top of the form."""
    general = []
    for key, problem in error.fields.items():
        if key in {*RULE_FIELDS, "valid_from"}:
            field = getattr(form, key)
            # One line per reason: a list of surcharges can have several.
            field.errors = [*field.errors, *problem.split("; ")]
        else:
            general.append(f"{key}: {problem}")
    if not error.fields:
        general.append(error.message)
    return general


@bp.route("/fare-rules", methods=["GET", "POST"])
@area_required(Area.ADMINISTRATION)
def fare_rules():
    """The rule in force for each class, the versions of one class, and a form to publish its next version."""
    selected = _selected_class()
    latest = latest_version(selected)
    if request.method == "POST":
        form = FareRuleForm()
    else:
        # Start from the class's newest version: most changes are one price.
        start = rule_values(latest) if latest else {"vehicle_class": selected}
        start.setdefault("currency", current_app.config["CURRENCY"])
        form = FareRuleForm(data=start)
    status, general = 200, []
    if form.validate_on_submit():
        valid_from = form.valid_from.data
        if valid_from is not None:
            valid_from = valid_from.replace(tzinfo=ZoneInfo(current_app.config["OFFICE_TIMEZONE"]))
        try:
            rule = publish_rule(_form_values(form), current_user, valid_from)
        except RuleError as exc:
            db.session.rollback()
            general = _show_refusal(form, exc)
            status = exc.status
        else:
            db.session.commit()
            flash(
                _("Version %(version)s of the %(name)s rule published.", version=rule.version, name=rule.name),
                "success",
            )
            return redirect(url_for("admin.fare_rules", vehicle_class=rule.vehicle_class))
    elif form.is_submitted():
        status = 400
    now = utcnow()
    history = rule_history(selected)
    authors = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_({r.created_by_id for r in history})))}
    return render_template(
        "admin/fare_rules.html",
        form=form,
        general_errors=general,
        selected=selected,
        current={v.value: active_rule(v.value, now) for v in VehicleClass},
        history=history,
        in_force={rule.id for rule in history if rule_in_force(rule, now)},
        used=booking_counts([rule.id for rule in history]),
        authors=authors,
        values={rule.id: rule_values(rule) for rule in history},
    ), status


@bp.route("/holidays", methods=["GET", "POST"])
@area_required(Area.ADMINISTRATION)
def holiday_calendar():
    """The office's holidays, when holiday surcharges apply, and a form to add one."""
    form = HolidayForm()
    status = 200
    if form.validate_on_submit():
        try:
            holiday = add_holiday(form.day.data, form.name.data)
        except RuleError as exc:
            db.session.rollback()
            target = form.name if "name" in exc.fields else form.day
            target.errors = [*target.errors, exc.message]
            status = 400
        else:
            db.session.commit()
            flash(_("Holiday %(name)s added.", name=holiday.name), "success")
            return redirect(url_for("admin.holiday_calendar"))
    elif form.is_submitted():
        status = 400
    rows = holidays()
    shown = {row.id: show_day(row.day) for row in rows}
    return render_template("admin/holidays.html", form=form, holidays=rows, shown=shown), status


@bp.route("/holidays/<int:holiday_id>/delete", methods=["POST"])
@area_required(Area.ADMINISTRATION)
def delete_holiday(holiday_id: int):
    """Take a day off the holiday calendar (CSRF-checked like every form)."""
    try:
        holiday = remove_holiday(holiday_id)
    except RuleError:
        db.session.rollback()
        flash(_("That holiday is no longer on the calendar."), "error")
    else:
        db.session.commit()
        flash(_("Holiday %(name)s removed.", name=holiday.name), "success")
    return redirect(url_for("admin.holiday_calendar"))
