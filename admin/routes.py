"""Staff account administration."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from accounts.auth import area_required
from accounts.models import User
from accounts.roles import Area
from accounts.services import AccountError, create_user
from admin.forms import NewUserForm, PlaceForm
from core.extensions import db

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/users", methods=["GET", "POST"])
@area_required(Area.ADMINISTRATION)
def users():
    """List staff accounts and add new ones."""
    form = NewUserForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = create_user(form.username.data, form.password.data, form.role.data, form.display_name.data)
        except AccountError as exc:
            db.session.rollback()
            form.username.errors = [*form.username.errors, str(exc)]
            status = 400
        else:
            db.session.commit()
            flash(_("Account %(name)s created.", name=user.username), "success")
            return redirect(url_for("admin.users"))
    elif form.is_submitted():
        status = 400
    accounts = db.session.scalars(select(User).order_by(User.role, User.username)).all()
    return render_template("admin/users.html", form=form, accounts=accounts), status


@bp.route("/places", methods=["GET", "POST"])
@area_required(Area.ADMINISTRATION)
def places():
    """The office's own gazetteer entries: what the console's place search finds besides the shipped ones."""
    from geo.gazetteer import add_place
    from geo.models import Place

    form = PlaceForm()
    status = 200
    if form.validate_on_submit():
        try:
            place = add_place(
                form.name_fa.data, form.name_en.data, form.kind.data, form.lat.data, form.lon.data, current_user.id
            )
        except ValueError as exc:  # PlaceError, PointError: a message for people
            db.session.rollback()
            form.lat.errors = [*form.lat.errors, str(exc)]
            status = 400
        else:
            db.session.commit()
            flash(_("Place %(name)s added.", name=place.name_fa or place.name_en), "success")
            return redirect(url_for("admin.places"))
    elif form.is_submitted():
        status = 400
    rows = db.session.scalars(select(Place).order_by(Place.id.desc()).limit(500)).all()
    return render_template("admin/places.html", form=form, places=rows), status


from admin import commission_plans as _commission_plans  # noqa: E402,F401
from admin import fare_rules as _fare_rules  # noqa: E402,F401
from admin import jobs as _jobs  # noqa: E402,F401
from admin import messages as _messages  # noqa: E402,F401
from admin import zones as _zones  # noqa: E402,F401
