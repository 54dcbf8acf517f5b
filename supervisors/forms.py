"""Forms of the supervisor's pages."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField
from wtforms.validators import DataRequired, Length


class MergeForm(FlaskForm):
    """Which duplicate record to fold into which."""

    survivor_id = IntegerField(validators=[DataRequired()])
    merged_id = IntegerField(validators=[DataRequired()])
    reason = StringField(_l("Reason"), validators=[Length(max=500)])
