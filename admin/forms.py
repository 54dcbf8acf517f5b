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
