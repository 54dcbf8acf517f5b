"""Login, logout and a user's own preferences."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user

from accounts.auth import begin_session
from accounts.forms import LoginForm, PreferencesForm
from accounts.roles import Area
from accounts.services import authenticate, is_locked_out
from config import LOCALES
from core.extensions import db

bp = Blueprint("accounts", __name__)

# The first page of each area, in the order a user with several areas prefers them.
LANDING_PAGES = [
    (Area.CONSOLE, "agents.console"),
    (Area.DISPATCH, "dispatch.board"),
    (Area.SUPERVISION, "supervisors.wallboard"),
    (Area.ADMINISTRATION, "admin.users"),
    (Area.DRIVING, "driver_app.page"),
]


def landing_page() -> str:
    """The URL a logged-in user starts from."""
    for area, endpoint in LANDING_PAGES:
        if current_user.may_enter(area):
            return url_for(endpoint)
    return url_for("accounts.preferences")


def _safe_next(target: str | None) -> str | None:
    """Follow ``next`` only within this site, never to another host."""
    if not target:
        return None
    parts = urlsplit(target)
    # Browsers read a backslash as a slash: "/\\evil.example" would leave the site.
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


@bp.route("/")
def home():
    """Send each user to the page of their role."""
    if not current_user.is_authenticated:
        return redirect(url_for("accounts.login"))
    return redirect(landing_page())


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The login form; wrong credentials get one message that does not tell which part was wrong."""
    if current_user.is_authenticated:
        return redirect(landing_page())
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        cfg = current_app.config
        addr = request.remote_addr or "unknown"
        if is_locked_out(form.username.data, addr, cfg["LOGIN_MAX_FAILURES"], cfg["LOGIN_LOCKOUT_SECONDS"]):
            flash(_("Too many failed attempts. Please wait a few minutes and try again."), "error")
            status = 429
        else:
            user = authenticate(form.username.data, form.password.data, addr)
            db.session.commit()
            if user is not None:
                language = begin_session(user)
                if language and not user.language:
                    # A choice made on the login page becomes the user's own if they had none.
                    user.language = language
                    db.session.commit()
                return redirect(_safe_next(request.args.get("next")) or landing_page())
            flash(_("Wrong username or password."), "error")
            status = 401
    elif request.method == "POST":
        status = 400
    return render_template("accounts/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout():
    """End the session."""
    logout_user()
    session.clear()
    return redirect(url_for("accounts.login"))


@bp.route("/language/<code>", methods=["POST"])
def switch_language(code: str):
    """Switch the page language; for a logged-in user the choice is saved."""
    if code not in LOCALES:
        return redirect(request.referrer or url_for("accounts.home")), 303
    session["language"] = code
    if current_user.is_authenticated:
        current_user.language = code
        db.session.commit()
    return redirect(_safe_next(request.form.get("next")) or url_for("accounts.home"))


@bp.route("/preferences", methods=["GET", "POST"])
@login_required
def preferences():
    """A user's own language and calendar."""
    form = PreferencesForm(obj=current_user)
    if not form.is_submitted():
        form.language.data = current_user.language or str(get_locale())
    if form.validate_on_submit():
        current_user.language = form.language.data
        current_user.calendar = form.calendar.data
        db.session.commit()
        flash(_("Preferences saved."), "success")
        return redirect(url_for("accounts.preferences"))
    return render_template("accounts/preferences.html", form=form)
