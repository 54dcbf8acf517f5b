"""Forms of the driver profile pages: a new driver, their details, a car, a contract, a paper, a suspension, a ledger
adjustment."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from core.text import ascii_digits
from crm.phones import display_phone
from drivers.models import DocumentKind, Driver, Vehicle, VehicleClass

# Typed and pasted numbers: thousands separators of both scripts, and the minus signs people type.
_SEPARATORS = str.maketrans({",": "", "٬": "", "،": "", " ": "", "\u00a0": "", "\u2212": "-", "\u2013": "-"})
_OFFICE_CLOCK = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]

DOCUMENT_KIND_NAMES = {
    DocumentKind.LICENCE: _l("driving licence"),
    DocumentKind.ID_CARD: _l("ID card"),
    DocumentKind.VEHICLE_REGISTRATION: _l("vehicle registration"),
    DocumentKind.INSURANCE: _l("insurance"),
    DocumentKind.TECHNICAL_INSPECTION: _l("technical inspection"),
    DocumentKind.CONTRACT: _l("contract"),
    DocumentKind.OTHER: _l("other"),
}
VEHICLE_CLASS_NAMES = {
    VehicleClass.SEDAN: _l("sedan"),
    VehicleClass.VAN: _l("van"),
    VehicleClass.PREMIUM: _l("premium"),
}


class SignedWholeNumberField(StringField):
    """A whole number that may be negative, as people type it: Persian digits and thousands separators are fine."""

    def process_formdata(self, valuelist):
        """Read the typed text as an int (None when empty)."""
        self.data = None
        raw = ascii_digits(valuelist[0] if valuelist else "").translate(_SEPARATORS).strip()
        if not raw:
            return
        sign, digits = (-1, raw[1:]) if raw[0] == "-" else (1, raw.lstrip("+"))
        if not digits.isdigit():
            raise ValueError(_l("Enter a whole number, such as 250000 or -50000."))
        self.data = sign * int(digits)


class WholeNumberField(StringField):
    """A positive whole number (a ledger line number); Persian digits are fine."""

    def process_formdata(self, valuelist):
        """Read the typed text as an int (None when empty)."""
        self.data = None
        raw = ascii_digits(valuelist[0] if valuelist else "").strip().lstrip("#")
        if not raw:
            return
        if not raw.isdigit():
            raise ValueError(_l("Enter a line number, such as 12."))
        self.data = int(raw)


class NewDriverForm(FlaskForm):
    """A new driver, their login PIN and their car."""

    call_sign = StringField(_l("Call sign"), validators=[DataRequired(), Length(max=16)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    phone = StringField(_l("Mobile number"), validators=[DataRequired(), Length(max=32)])
    pin = PasswordField(_l("PIN (4 to 8 digits)"), validators=[DataRequired(), Length(max=8)])
    language = SelectField(
        _l("Language of texts"), choices=[SelectChoice("fa", _l("Persian")), SelectChoice("en", _l("English"))]
    )
    plate = StringField(_l("Plate"), validators=[DataRequired(), Length(max=32)])
    make_model = StringField(_l("Make and model"), validators=[Length(max=80)])
    colour = StringField(_l("Colour"), validators=[Length(max=40)])
    vehicle_class = SelectField(
        _l("Vehicle class"), choices=[SelectChoice(v.value, name) for v, name in VEHICLE_CLASS_NAMES.items()]
    )


class ContractForm(FlaskForm):
    """A new contract for the driver; the newest is the one in force."""

    number = StringField(_l("Contract number"), validators=[Length(max=40)])
    # The choices are the plan codes of the moment (set by the view); the service refuses an unknown code.
    plan_code = SelectField(_l("Commission plan"), choices=[], validate_choice=False)
    starts_on = DateField(_l("Starts on"), validators=[DataRequired()])
    ends_on = DateField(_l("Ends on (empty: open-ended)"), validators=[Optional()])
    terms = TextAreaField(_l("Terms"), validators=[Length(max=4000)])


class DocumentForm(FlaskForm):
    """A paper of the driver's, with its number, expiry and an optional scan."""

    kind = SelectField(_l("Kind"), choices=[SelectChoice(k.value, name) for k, name in DOCUMENT_KIND_NAMES.items()])
    number = StringField(_l("Number"), validators=[Length(max=60)])
    expires_on = DateField(_l("Expires on (empty: never)"), validators=[Optional()])
    scan = FileField(_l("Scan (PDF, PNG or JPEG, at most 5 MB)"))


class SuspendForm(FlaskForm):
    """Keep the driver out of dispatch for a while, or until lifted."""

    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=500)])
    starts_at = DateTimeLocalField(_l("From (office clock; empty: now)"), format=_OFFICE_CLOCK, validators=[Optional()])
    ends_at = DateTimeLocalField(
        _l("Until (office clock; empty: until lifted)"), format=_OFFICE_CLOCK, validators=[Optional()]
    )


class ConfirmProposalForm(FlaskForm):
    """Confirm a proposed suspension from now, until a moment or until lifted."""

    ends_at = DateTimeLocalField(
        _l("Until (office clock; empty: until lifted)"), format=_OFFICE_CLOCK, validators=[Optional()]
    )


class AdjustmentForm(FlaskForm):
    """A bonus, a fine, a refund or a correction on the driver's ledger."""

    amount = SignedWholeNumberField(
        _l("Amount (rials; negative: the driver owes the office)"), validators=[InputRequired()]
    )
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=500)])
    corrects_seq = WholeNumberField(_l("Corrects line # (optional)"), validators=[Optional()])


class YearField(StringField):
    """A car's model year as people type it (Persian digits are fine); the service checks the range."""

    def process_formdata(self, valuelist):
        """Read the typed text as an int (None when empty)."""
        self.data = None
        raw = ascii_digits(valuelist[0] if valuelist else "").strip()
        if not raw:
            return
        if not raw.isdigit():
            raise ValueError(_l("Enter a year, such as 2018."))
        self.data = int(raw)


LANGUAGE_CHOICES = [SelectChoice("fa", _l("Persian")), SelectChoice("en", _l("English"))]


class DriverDetailsForm(FlaskForm):
    """The driver's identity, licence and whether they work for the office now."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    phone = StringField(_l("Mobile number"), validators=[DataRequired(), Length(max=32)])
    language = SelectField(_l("Language of texts"), choices=LANGUAGE_CHOICES)
    licence_number = StringField(_l("Licence number"), validators=[Length(max=40)])
    licence_expires_on = DateField(_l("Licence expires on"), validators=[Optional()])
    active = BooleanField(_l("Active: may log in and get offers"))


class VehicleForm(FlaskForm):
    """A car of the driver's: a new one, or one on the books to correct."""

    plate = StringField(_l("Plate"), validators=[DataRequired(), Length(max=32)])
    make_model = StringField(_l("Make and model"), validators=[Length(max=80)])
    colour = StringField(_l("Colour"), validators=[Length(max=40)])
    vehicle_class = SelectField(
        _l("Vehicle class"), choices=[SelectChoice(v.value, name) for v, name in VEHICLE_CLASS_NAMES.items()]
    )
    year = YearField(_l("Model year"), validators=[Optional()])
    insurance_expires_on = DateField(_l("Insurance until"), validators=[Optional()])


def vehicle_form_name(vehicle_id: int | None) -> str:
    """The prefix (and the profile's key) of a car's form; None names the form for a new car."""
    return "vehicle-new" if vehicle_id is None else f"vehicle-{vehicle_id}"


def record_forms(driver: Driver) -> dict[str, FlaskForm]:
    """The details form and one form per car, filled from the records, and an empty form for a new car."""
    details = {
        "name": driver.name,
        # Shown as people write it; the service brings it back to E.164.
        "phone": display_phone(driver.phone) if driver.phone else "",
        "language": driver.language,
        "licence_number": driver.licence_number,
        "licence_expires_on": driver.licence_expires_on,
        "active": driver.active,
    }
    forms: dict[str, FlaskForm] = {"details": DriverDetailsForm(prefix="details", formdata=None, data=details)}
    for vehicle in driver.vehicles:
        name = vehicle_form_name(vehicle.id)
        forms[name] = VehicleForm(prefix=name, formdata=None, data=_vehicle_data(vehicle))
    forms[vehicle_form_name(None)] = VehicleForm(prefix=vehicle_form_name(None), formdata=None)
    return forms


def _vehicle_data(vehicle: Vehicle) -> dict:
    fields = ("plate", "make_model", "colour", "vehicle_class", "year", "insurance_expires_on")
    return {field: getattr(vehicle, field) for field in fields}
