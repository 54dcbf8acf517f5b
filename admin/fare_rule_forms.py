"""Forms of the fare rule and holiday pages."""

from __future__ import annotations

import json

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, DateTimeLocalField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from core.text import ascii_digits
from drivers.models import VehicleClass

# Typed and pasted numbers: thousands separators of both scripts, and the Persian decimal point.
_SEPARATORS = str.maketrans({",": "", "٬": "", "،": "", " ": "", "\u00a0": "", "٫": "."})


def vehicle_class_choices() -> list[SelectChoice]:
    """The vehicle classes as choices, in the page's language."""
    names = {VehicleClass.SEDAN: _l("sedan"), VehicleClass.VAN: _l("van"), VehicleClass.PREMIUM: _l("premium")}
    return [SelectChoice(v.value, names.get(v, v.value)) for v in VehicleClass]


class WholeNumberField(StringField):
    """A whole number as people type it: Persian digits and thousands separators are fine."""

    def process_formdata(self, valuelist):
        self.data = None
        raw = ascii_digits(valuelist[0] if valuelist else "").translate(_SEPARATORS).strip()
        if not raw:
            return
        if not raw.isdigit():
            raise ValueError(_l("Enter a whole number, such as 250000."))
        self.data = int(raw)


class DecimalNumberField(StringField):
    """A number that may have a fraction, Persian digits and decimal point allowed."""

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return f"{self.data:g}" if isinstance(self.data, float) else super()._value()

    def process_formdata(self, valuelist):
        self.data = None
        raw = ascii_digits(valuelist[0] if valuelist else "").translate(_SEPARATORS).strip()
        if not raw:
            return
        try:
            self.data = float(raw)
        except ValueError:
            raise ValueError(_l("Enter a number, such as 12.5.")) from None


def _json_loads(raw: str):
    """json.loads, with text nested too deeply to read refused as bad JSON rather than a RecursionError."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", raw, 0) from None


class JsonListField(TextAreaField):
    """A JSON list typed in a text area; empty means an empty list."""

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        if not self.data:
            return ""
        # One item a line: short enough to read, and a line to edit per surcharge or price.
        return "[\n " + ",\n ".join(json.dumps(item, ensure_ascii=False) for item in self.data) + "\n]"

    def process_formdata(self, valuelist):
        raw = (valuelist[0] if valuelist else "").strip()
        if not raw:
            self.data = []
            return
        try:
            data = _json_loads(raw)
        except ValueError as exc:
            self.data = None
            raise ValueError(
                _l(
                    "Not valid JSON (line %(line)s, column %(column)s): %(problem)s",
                    line=exc.lineno,
                    column=exc.colno,
                    problem=exc.msg,
                )
            ) from None
        if not isinstance(data, list):
            self.data = None
            raise ValueError(_l("Give a list in square brackets: [ … ]."))
        self.data = data


class FareRuleForm(FlaskForm):
    """A new version of a vehicle class's fare rule."""

    vehicle_class = SelectField(_l("Vehicle class"), choices=vehicle_class_choices)
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    currency = StringField(_l("Currency"), validators=[DataRequired(), Length(min=3, max=3)])
    # Amounts in the currency's smallest unit; the service checks their bounds.
    flag_down = WholeNumberField(_l("Flag-down"), validators=[InputRequired()])
    per_km = WholeNumberField(_l("Per km"), validators=[InputRequired()])
    per_minute = WholeNumberField(_l("Per minute"), validators=[InputRequired()])
    minimum_fare = WholeNumberField(_l("Minimum fare"), validators=[InputRequired()])
    rounding_step = WholeNumberField(_l("Rounding step (empty: 1)"))
    speed_threshold_kmh = DecimalNumberField(_l("Time-or-distance switch speed, km/h (empty or 0: charge both)"))
    waiting_per_minute = WholeNumberField(_l("Waiting, per minute"))
    waiting_free_minutes = WholeNumberField(_l("Free waiting minutes"))
    cancellation_fee = WholeNumberField(_l("Cancellation fee"))
    surcharges = JsonListField(_l("Surcharges (JSON)"))
    fixed_fares = JsonListField(_l("Fixed zone-to-zone prices (JSON)"))
    valid_from = DateTimeLocalField(
        _l("In force from (office clock; empty: now)"),
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
        validators=[Optional()],
    )


class HolidayForm(FlaskForm):
    """A day on the holiday calendar."""

    day = DateField(_l("Date"), validators=[DataRequired()])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
