"""Forms of the commission plan page: a new version of a plan with a few rate lines."""

from __future__ import annotations

import re
from decimal import Decimal

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, FieldList, Form, FormField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from admin.fare_rule_forms import WholeNumberField, vehicle_class_choices
from core.text import ascii_digits
from earnings.models import CommissionKind

RATE_LINES = 6
# A percentage as typed: "15", "12.5", "۱۲٫۵", "7.25 %"; at most two decimals (a basis point).
_PERCENT = re.compile(r"^(\d{1,3})(?:\.(\d{1,2}))?$")
_PERCENT_NOISE = str.maketrans({"٫": ".", "%": "", "٪": "", " ": "", "\u00a0": ""})


def percent_of(basis_points: int) -> Decimal:
    """Basis points as an exact percentage (1,250 → 12.5), for showing; never a float."""
    return (Decimal(basis_points) / 100).normalize() if basis_points % 100 else Decimal(basis_points // 100)


def kind_choices() -> list[SelectChoice]:
    """The kinds of rate line, in the page's language; the empty one leaves the line out."""
    names = {
        CommissionKind.PERCENT: _l("percent of the fare"),
        CommissionKind.PER_TRIP: _l("fixed per trip"),
        CommissionKind.SHIFT_FEE: _l("fee per worked day"),
        CommissionKind.MONTHLY_FEE: _l("fee per worked month"),
    }
    return [SelectChoice("", "—"), *(SelectChoice(k.value, names[k]) for k in CommissionKind)]


def any_vehicle_class() -> list[SelectChoice]:
    """Any class, or one of the vehicle classes."""
    return [SelectChoice("", _l("any class")), *vehicle_class_choices()]


def any_zone() -> list[SelectChoice]:
    """Any zone, or one of the active zones by its name in the page's language."""
    from sqlalchemy import select

    from core.extensions import db
    from geo.models import Zone

    locale = str(get_locale())
    zones = db.session.scalars(select(Zone).where(Zone.active).order_by(Zone.code))
    return [SelectChoice("", _l("any zone")), *(SelectChoice(str(z.id), z.name(locale)) for z in zones)]


class PercentField(StringField):
    """A percentage with at most two decimals, held as basis points (12.5 → 1,250)."""

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return str(percent_of(self.data)) if isinstance(self.data, int) and self.data else ""

    def process_formdata(self, valuelist):
        self.data = None
        raw = ascii_digits(valuelist[0] if valuelist else "").translate(_PERCENT_NOISE)
        if not raw:
            return
        match = _PERCENT.match(raw)
        if not match:
            raise ValueError(_l("Enter a percentage with at most two decimals, such as 15 or 12.5."))
        whole, fraction = match.groups()
        self.data = int(whole) * 100 + int((fraction or "0").ljust(2, "0"))


class RateLineForm(Form):
    """One line of a plan; a line without a kind is left out."""

    kind = SelectField(_l("Kind"), choices=kind_choices, default="")
    percent = PercentField(_l("Percent"))
    amount = WholeNumberField(_l("Amount (rials)"))
    vehicle_class = SelectField(_l("Vehicle class"), choices=any_vehicle_class, default="")
    zone_id = SelectField(_l("Zone"), choices=any_zone, default="")

    def validate_kind(self, field):
        """A line with a number but no kind is a mistake, not a blank line."""
        if not field.data and (self.percent.data or self.amount.data):
            raise ValidationError(_l("Choose the kind of this line."))

    def rate(self) -> dict | None:
        """The line as publish_plan takes it, or None for a blank line."""
        if not self.kind.data:
            return None
        return {
            "kind": self.kind.data,
            "percent_bp": self.percent.data or 0,
            "amount": self.amount.data or 0,
            "vehicle_class": self.vehicle_class.data or None,
            "zone_id": int(self.zone_id.data) if self.zone_id.data else None,
        }


class CommissionPlanForm(FlaskForm):
    """The next version of a commission plan (a new code starts a new plan)."""

    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=40)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    valid_from = DateTimeLocalField(
        _l("In force from (office clock; empty: now)"),
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
        validators=[Optional()],
    )
    rates = FieldList(FormField(RateLineForm), min_entries=RATE_LINES, max_entries=RATE_LINES)

    def rate_lines(self) -> list[dict]:
        """The filled-in lines."""
        return [line for line in (entry.form.rate() for entry in self.rates) if line is not None]
