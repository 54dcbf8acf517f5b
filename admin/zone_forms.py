"""Forms of the zone pages: the zone itself, and the button that removes it."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

# The shape rules (a valid polygon, no overlap, a unique code) live in geo.zone_admin; these only keep
# out what is plainly missing or far too long before it reaches them.


class ZoneForm(FlaskForm):
    """A zone: its code, its names, whether it takes bookings, and its boundary as GeoJSON."""

    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=32)])
    name_fa = StringField(_l("Persian name"), validators=[DataRequired(), Length(max=120)])
    name_en = StringField(_l("English name"), validators=[DataRequired(), Length(max=120)])
    active = BooleanField(_l("Active: points inside belong to this zone"), default=True)
    boundary = TextAreaField(
        _l("Boundary (GeoJSON Polygon or MultiPolygon, longitude first)"),
        validators=[DataRequired(), Length(max=2_000_000)],
    )


class RemoveZoneForm(FlaskForm):
    """Remove a zone: deleted if nothing points at it, else deactivated."""
