"""Staff account administration."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from accounts.auth import area_required
from accounts.models import User
from accounts.roles import Area
from accounts.services import AccountError, create_user
from admin.forms import NewUserForm
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
