"""Forms of the complaint log pages: the log's and the feedback log's filters, a complaint's actions, keyword rules.

The action forms check only the CSRF token and the shape of what was posted; whether a change is allowed (the next
status, who may be assigned, a phrase already taken) is the complaint engine's call, so every refusal reads the same.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional, Regexp

from core.text import ascii_digits

NOTE_LENGTH = 4000


def options(pairs, blank=None) -> list[SelectChoice]:
    """A select's options from (value, label) pairs, with a first empty option labelled ``blank`` if given."""
    first = [SelectChoice("", blank)] if blank is not None else []
    return first + [SelectChoice(str(value), label) for value, label in pairs]


def whole_number(value) -> int | None:
    """A posted number as an int, None when it is not one (the engine then says what is wrong)."""
    if value is None or isinstance(value, int):
        return value
    text = ascii_digits(str(value)).strip()
    return int(text) if text.isdigit() else None


class _QueryForm(FlaskForm):
    """A GET filter form: no CSRF token (it changes nothing) and no prefix, so links carry plain names."""

    class Meta:
        csrf = False


class ComplaintFilterForm(_QueryForm):
    """The complaint log's filter; feedback.complaint_log.read_filter reads the values, this only shows them."""

    q = StringField(_l("Words"), render_kw={"dir": "auto", "maxlength": 200})
    date_from = StringField(_l("Since"), render_kw={"type": "date"})
    date_to = StringField(_l("Until"), render_kw={"type": "date"})
    status = SelectField(_l("Status"), validate_choice=False)
    category = SelectField(_l("Category"), validate_choice=False)
    severity = SelectField(_l("Severity"), validate_choice=False)
    sla_breached = SelectField(_l("Response time"), validate_choice=False)
    driver_id = StringField(_l("Driver ID"), render_kw={"inputmode": "numeric", "size": 6})
    agent_id = SelectField(_l("Agent"), validate_choice=False)
    zone_id = SelectField(_l("Zone"), validate_choice=False)
    assigned_to_id = SelectField(_l("Assigned to"), validate_choice=False)


_DATE = Regexp(r"^\d{4}-\d{2}-\d{2}$", message=_l("a date as YYYY-MM-DD"))


class FeedbackFilterForm(_QueryForm):
    """The feedback log's filter: the requests by status, channel, rating, day and driver; the texts in by outcome."""

    status = SelectField(_l("Status"), default="")
    channel = SelectField(_l("Channel"), default="")
    rating = SelectField(_l("Rating"), default="")
    date_from = StringField(_l("Since"), validators=[Optional(), _DATE], render_kw={"type": "date"})
    date_to = StringField(_l("Until"), validators=[Optional(), _DATE], render_kw={"type": "date"})
    driver_id = StringField(
        _l("Driver ID"),
        validators=[Optional(), Regexp(r"^[0-9۰-۹٠-٩]+$", message=_l("a whole number"))],
        render_kw={"inputmode": "numeric", "size": 6},
    )
    outcome = SelectField(_l("Texts in"), default="")


class StatusForm(FlaskForm):
    """Move a complaint on; the note is what the customer is texted when it is closed."""

    status = SelectField(_l("Move to"), id="status-to", validate_choice=False)
    note = TextAreaField(
        _l("Note (texted to the customer when the complaint is closed)"),
        id="status-note",
        validators=[Length(max=NOTE_LENGTH)],
        render_kw={"rows": 2, "dir": "auto"},
    )


class AssignForm(FlaskForm):
    """Give a complaint to a supervisor or admin, or to nobody."""

    assignee = SelectField(_l("Assign to"), coerce=whole_number, validate_choice=False)


class NoteForm(FlaskForm):
    """A note kept on the complaint (a call made, what the driver said)."""

    note = TextAreaField(
        _l("Note"), validators=[Length(max=NOTE_LENGTH)], render_kw={"rows": 2, "dir": "auto", "required": True}
    )


class CategoryForm(FlaskForm):
    """Correct a complaint's category and severity."""

    category = SelectField(_l("Category"), validate_choice=False)
    severity = SelectField(_l("Severity"), coerce=whole_number, validate_choice=False)


class KeywordForm(FlaskForm):
    """A new keyword rule: a phrase that suggests a category, in Persian or English."""

    phrase = StringField(
        _l("Phrase"), validators=[Length(max=200)], render_kw={"dir": "auto", "maxlength": 100, "required": True}
    )
    category = SelectField(_l("Category"), id="rule-category", validate_choice=False)
    language = SelectField(_l("Language"), choices=options([("fa", "فارسی"), ("en", "English")]), validate_choice=False)
    severity = SelectField(_l("Severity"), id="rule-severity", coerce=whole_number, default=2, validate_choice=False)


class ButtonForm(FlaskForm):
    """A button's form (delete a rule): only the CSRF token."""
