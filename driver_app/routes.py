"""The driver's mobile page and its login by mobile number and PIN."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, logout_user
from sqlalchemy import select

from accounts.auth import area_required, begin_session
from accounts.models import User
from accounts.roles import Area
from accounts.services import is_locked_out
from core.extensions import db, login_manager
from core.models import utcnow
from crm.phones import PhoneNumberError, to_e164
from driver_app.forms import DriverLoginForm
from drivers.models import Driver
from drivers.services import authenticate_driver, driver_for_user
from geo.models import Zone

bp = Blueprint("driver_app", __name__, url_prefix="/driver")


@bp.record_once
def _own_login_page(_state) -> None:
    # A driver sent to log in belongs on the number-and-PIN form, not on the staff one.
    login_manager.blueprint_login_views[bp.name] = "driver_app.login"


def login_name(phone: str) -> str:
    """The name a driver's login attempts are recorded and throttled under: the E.164 number."""
    try:
        return to_e164(phone or "", current_app.config["DEFAULT_REGION"])
    except PhoneNumberError:
        return (phone or "").strip()[:20]  # the same fallback as authenticate_driver


def _driver_user(driver: Driver) -> User | None:
    user = db.session.get(User, driver.user_id) if driver.user_id else None
    return user if user is not None and user.active and user.may_enter(Area.DRIVING) else None


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Number and PIN; a wrong pair gets one message that does not tell which part was wrong."""
    if current_user.is_authenticated and current_user.may_enter(Area.DRIVING):
        return redirect(url_for("driver_app.page"))
    form = DriverLoginForm()
    status = 200
    if form.validate_on_submit():
        cfg = current_app.config
        addr = request.remote_addr or "unknown"
        if is_locked_out(login_name(form.phone.data), addr, cfg["LOGIN_MAX_FAILURES"], cfg["LOGIN_LOCKOUT_SECONDS"]):
            flash(_("Too many failed attempts. Please wait a few minutes and try again."), "error")
            status = 429
        else:
            driver = authenticate_driver(form.phone.data, form.pin.data, addr)
            user = _driver_user(driver) if driver else None
            if user is not None:
                user.last_login_at = utcnow()
            db.session.commit()
            if user is not None:
                begin_session(user)
                return redirect(url_for("driver_app.page"))
            flash(_("Wrong mobile number or PIN."), "error")
            status = 401
    elif request.method == "POST":
        status = 400
    return render_template("driver_app/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout():
    """End the driver's session and go back to their login."""
    logout_user()
    session.clear()
    return redirect(url_for("driver_app.login"))


@bp.route("/")
@area_required(Area.DRIVING)
def page():
    """The driver's page: its script fetches the state and keeps it live over Socket.IO."""
    driver = driver_for_user(current_user.id)
    if driver is None:
        abort(404)  # a driver login whose driver record is gone: nothing to drive with
    return render_template("driver_app/page.html", driver=driver, page_data=page_data(driver))


def page_data(driver: Driver) -> dict:
    """What the page's script needs besides the state: ids, zone names, the server clock, its words."""
    locale = str(get_locale())
    zones = db.session.scalars(select(Zone).where(Zone.active)).all()
    return {
        "driver_id": driver.id,
        "server_now": utcnow().isoformat(),
        "zones": {str(zone.id): zone.name(locale) for zone in zones},
        "text": page_text(),
    }


def page_text() -> dict[str, str]:
    """The words the driver's script shows, in the page language."""
    return {
        "live": _("Live"),
        "reconnecting": _("Reconnecting…"),
        "offline": _("Offline"),
        "available": _("Available"),
        "break": _("On break"),
        "blocked": _("You get no offers: %(reason)s", reason="{reason}"),
        "busy": _("Busy"),
        "new_offer": _("New job"),
        "pickup": _("Pickup"),
        "dropoff": _("Destination"),
        "no_dropoff": _("Not given"),
        "fare": _("Fare"),
        "eta": _("%(minutes)s min away", minutes="{minutes}"),
        "distance": _("%(km)s km trip", km="{km}"),
        "seconds_left": _("%(seconds)s s to answer", seconds="{seconds}"),
        "time_up": _("Time is up"),
        "accept": _("Accept"),
        "decline": _("Decline"),
        "offer_expired": _("The offer expired."),
        "offer_withdrawn": _("The dispatcher took the job back."),
        "job": _("Your job"),
        "notes": _("Notes"),
        "call_passenger": _("Call the passenger"),
        "navigate": _("Navigate"),
        "open_map": _("OpenStreetMap"),
        "arrived": _("I have arrived"),
        "start_trip": _("Start the trip"),
        "complete": _("Complete the trip"),
        "no_show": _("Passenger did not come"),
        "status_assigned": _("Go to the pickup"),
        "status_arrived": _("Waiting for the passenger"),
        "status_on_trip": _("On the trip"),
        "job_cancelled": _("The job was cancelled."),
        "job_reassigned": _("The dispatcher gave the job to another driver."),
        "completed": _("Trip completed"),
        "no_show_done": _("Marked as no-show."),
        "final_fare": _("Fare to collect"),
        "waiting": _("Waiting %(minutes)s min", minutes="{minutes}"),
        "dismiss": _("OK"),
        "queue_place": _("%(zone)s: place %(place)s", zone="{zone}", place="{place}"),
        "not_in_queue": _("Not in a stand queue."),
        "gps_waiting": _("Waiting for the phone's position…"),
        "gps_sent": _("Position sent"),
        "gps_off": _("Position is sent while you are on duty."),
        "gps_denied": _("Location is off: allow it so that jobs can find you."),
        "gps_unavailable": _("The phone cannot find its position right now."),
        "gps_refused": _("Position not accepted: %(reason)s", reason="{reason}"),
        "no_connection": _("No connection. Retrying…"),
        "refused": _("Not done: %(reason)s", reason="{reason}"),
        "currency_IRR": _("rials"),
    }


from driver_app import earnings as _earnings  # noqa: E402,F401
