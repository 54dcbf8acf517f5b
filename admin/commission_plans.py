"""Commission plan administration: every plan's versions and their rates, and a form to publish the next version."""

from __future__ import annotations

from datetime import UTC
from zoneinfo import ZoneInfo

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from accounts.auth import area_required
from accounts.models import User
from accounts.roles import Area
from admin.commission_plan_forms import RATE_LINES, CommissionPlanForm, percent_of
from admin.routes import bp
from core.extensions import db
from core.models import utcnow
from earnings.commission import plan_codes, plan_versions, publish_plan
from earnings.ledger import LedgerError
from earnings.models import CommissionPlan
from geo.models import Zone


def _start_values(code: str) -> dict:
    """The form's first values: the newest version of the chosen plan, so most changes are one number."""
    versions = plan_versions(code) if code else []
    if not versions:
        return {}
    latest = versions[0]
    rates = [
        {
            "kind": r.kind,
            "percent": r.percent_bp,
            "amount": r.amount if r.amount else None,
            "vehicle_class": r.vehicle_class or "",
            "zone_id": str(r.zone_id) if r.zone_id else "",
        }
        for r in latest.rates[:RATE_LINES]
    ]
    return {"code": latest.code, "name": latest.name, "rates": rates}


def _valid_from(form: CommissionPlanForm):
    """The form's office-clock moment as an aware UTC one; empty means now."""
    typed = form.valid_from.data
    if typed is None:
        return utcnow()
    return typed.replace(tzinfo=ZoneInfo(current_app.config["OFFICE_TIMEZONE"])).astimezone(UTC)


@bp.route("/commission-plans", methods=["GET", "POST"])
@area_required(Area.ADMINISTRATION)
def commission_plans():
    """Every commission plan with its versions, and a form to publish a plan's next version."""
    if request.method == "POST":
        form = CommissionPlanForm()
    else:
        form = CommissionPlanForm(data=_start_values(request.args.get("code", "")))
    status = 200
    if form.validate_on_submit():
        fields = (form.code.data, form.name.data, form.rate_lines(), _valid_from(form))
        try:
            plan = publish_plan(*fields, current_user.id, utcnow())
        except LedgerError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            status = 400
        else:
            db.session.commit()
            flash(_("Version %(version)s of plan %(code)s published.", version=plan.version, code=plan.code), "success")
            return redirect(url_for("admin.commission_plans"))
    elif form.is_submitted():
        status = 400
    return render_template("admin/commission_plans.html", form=form, **_listing()), status


def _listing() -> dict:
    """What the page lists: the versions of every plan, zone names, authors, which version is in force."""
    now = utcnow()
    plans = {code: plan_versions(code) for code in plan_codes()}
    versions: list[CommissionPlan] = [plan for group in plans.values() for plan in group]
    zone_ids = {rate.zone_id for plan in versions for rate in plan.rates if rate.zone_id}
    locale = str(get_locale())
    zones = {z.id: z.name(locale) for z in db.session.scalars(select(Zone).where(Zone.id.in_(zone_ids)))}
    author_ids = {plan.created_by_id for plan in versions if plan.created_by_id}
    authors = {u.id: u.display_name for u in db.session.scalars(select(User).where(User.id.in_(author_ids)))}
    in_force = {p.id for p in versions if p.valid_from <= now and (p.valid_to is None or p.valid_to > now)}
    return {"plans": plans, "zones": zones, "authors": authors, "in_force": in_force, "percent_of": percent_of}
