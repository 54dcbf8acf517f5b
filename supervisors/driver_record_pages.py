"""Correcting a driver's record from their profile: identity, licence and active flag, and their cars."""

from __future__ import annotations

from flask import abort, flash, redirect, url_for
from flask_babel import gettext as _

from accounts.auth import area_required
from accounts.roles import Area
from core.extensions import db
from core.models import utcnow
from core.signals import commit_and_announce
from drivers.models import Driver, Vehicle
from drivers.records import add_vehicle, update_driver, update_vehicle
from drivers.services import DriverError
from supervisors.driver_forms import DriverDetailsForm, VehicleForm, vehicle_form_name
from supervisors.driver_pages import _driver_or_404, _refused
from supervisors.routes import bp

VEHICLE_FIELDS = ("plate", "make_model", "colour", "vehicle_class", "year", "insurance_expires_on")


def _refused_by_service(driver: Driver, name: str, form, error: DriverError):
    # A form-level error keeps the form open on the page, showing what was typed, under the flashed reason.
    form.form_errors.append(str(error))
    return _refused(driver, str(error), **{name: form})


def _saved(driver: Driver, message: str, anchor: str):
    # Announced, not just committed: the dispatch board and the driver's phone show the record too.
    commit_and_announce()
    flash(message, "success")
    return redirect(url_for("supervisors.driver", driver_id=driver.id, _anchor=anchor))


@bp.route("/drivers/<int:driver_id>/details", methods=["POST"])
@area_required(Area.SUPERVISION)
def edit_driver_details(driver_id: int):
    """Correct the driver's name, number, language, licence, or take them off (or back on) the books."""
    driver = _driver_or_404(driver_id)
    form = DriverDetailsForm(prefix="details")
    if not form.validate_on_submit():
        return _refused(driver, details=form)
    fields = ("name", "phone", "language", "licence_number", "licence_expires_on", "active")
    try:
        update_driver(driver, utcnow(), **{field: getattr(form, field).data for field in fields})
    except DriverError as error:
        return _refused_by_service(driver, "details", form, error)
    return _saved(driver, _("Details of %(call_sign)s saved.", call_sign=driver.call_sign), "identity")


@bp.route("/drivers/<int:driver_id>/vehicles", methods=["POST"])
@area_required(Area.SUPERVISION)
def add_driver_vehicle(driver_id: int):
    """Put another car on the driver's books."""
    driver = _driver_or_404(driver_id)
    name = vehicle_form_name(None)
    form = VehicleForm(prefix=name)
    if not form.validate_on_submit():
        return _refused(driver, **{name: form})
    try:
        vehicle = add_vehicle(driver, {field: getattr(form, field).data for field in VEHICLE_FIELDS}, utcnow())
    except DriverError as error:
        return _refused_by_service(driver, name, form, error)
    return _saved(driver, _("Car %(plate)s added.", plate=vehicle.plate), "vehicles")


@bp.route("/drivers/<int:driver_id>/vehicles/<int:vehicle_id>", methods=["POST"])
@area_required(Area.SUPERVISION)
def edit_driver_vehicle(driver_id: int, vehicle_id: int):
    """Correct one of the driver's cars: plate, make and model, colour, class, year, insurance expiry."""
    driver = _driver_or_404(driver_id)
    vehicle = db.session.get(Vehicle, vehicle_id)
    if vehicle is None or vehicle.driver_id != driver.id:
        abort(404)
    name = vehicle_form_name(vehicle.id)
    form = VehicleForm(prefix=name)
    if not form.validate_on_submit():
        return _refused(driver, **{name: form})
    try:
        update_vehicle(vehicle, {field: getattr(form, field).data for field in VEHICLE_FIELDS}, utcnow())
    except DriverError as error:
        return _refused_by_service(driver, name, form, error)
    return _saved(driver, _("Car %(plate)s saved.", plate=vehicle.plate), "vehicles")
