"""Forms of the administration pages."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length

from accounts.roles import Role


class NewUserForm(FlaskForm):
    """A new staff account."""

    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    display_name = StringField(_l("Name"), validators=[Length(max=120)])
    role = SelectField(
        _l("Role"),
        choices=[
            SelectChoice(Role.AGENT, _l("agent")),
            SelectChoice(Role.DISPATCHER, _l("dispatcher")),
            SelectChoice(Role.SUPERVISOR, _l("supervisor")),
            SelectChoice(Role.ADMIN, _l("admin")),
        ],
    )
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(min=8, max=256)])


class PlaceForm(FlaskForm):
    """A place the office adds to its gazetteer (a hospital, a square, a landmark)."""

    name_fa = StringField(_l("Persian name"), validators=[Length(max=200)])
    name_en = StringField(_l("English name"), validators=[Length(max=200)])
    kind = SelectField(
        _l("Kind"),
        choices=[
            SelectChoice("landmark", _l("landmark")),
            SelectChoice("hospital", _l("hospital")),
            SelectChoice("square", _l("square")),
            SelectChoice("neighbourhood", _l("neighbourhood")),
            SelectChoice("station", _l("station")),
            SelectChoice("hotel", _l("hotel")),
            SelectChoice("shopping", _l("shopping centre")),
        ],
    )
    lat = StringField(_l("Latitude"))
    lon = StringField(_l("Longitude"))
