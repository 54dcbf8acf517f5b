"""Forms of the account pages."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, RadioField, SelectChoice, StringField
from wtforms.validators import DataRequired, Length


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class LoginForm(FlaskForm):
    """Username and password: the field names are part of the contract."""

    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)], filters=[_strip])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])


class PreferencesForm(FlaskForm):
    """A user's language and calendar."""

    language = RadioField(_l("Language"), choices=[SelectChoice("fa", "فارسی"), SelectChoice("en", "English")])
    calendar = RadioField(
        _l("Calendar"),
        choices=[SelectChoice("jalali", _l("Jalali (Persian)")), SelectChoice("gregorian", _l("Gregorian"))],
    )
