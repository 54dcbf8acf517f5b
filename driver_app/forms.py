"""The driver's login form."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from core.text import ascii_digits


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _pin_digits(value):
    # Persian phone keyboards type ۴۸۲۱; the PIN was stored in ASCII digits.
    return ascii_digits(value).strip() if isinstance(value, str) else value


class DriverLoginForm(FlaskForm):
    """The driver's mobile number and PIN."""

    phone = StringField(_l("Mobile number"), validators=[DataRequired(), Length(max=32)], filters=[_strip])
    pin = PasswordField(_l("PIN"), validators=[DataRequired(), Length(max=16)], filters=[_pin_digits])
