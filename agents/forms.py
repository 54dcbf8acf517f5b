"""Forms of the console's subscriber pages; the subscriber book's services do the checking."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, RadioField, SelectChoice, SelectField, StringField, TextAreaField

LANGUAGES = [SelectChoice("fa", "فارسی"), SelectChoice("en", "English")]


class NewSubscriberForm(FlaskForm):
    """A caller the book does not know yet."""

    name = StringField(_l("Name"))
    phone = StringField(_l("Phone number"))
    other_phone = StringField(_l("Another number (optional)"))
    language = RadioField(_l("Language"), choices=LANGUAGES, default="fa")
    notes = TextAreaField(_l("Notes"))


class NoteForm(FlaskForm):
    """What the agent learnt on the call."""

    kind = RadioField(
        _l("Kind"),
        choices=[
            SelectChoice("general", _l("general")),
            SelectChoice("mood", _l("mood")),
            SelectChoice("preference", _l("preference")),
        ],
        default="general",
    )
    body = TextAreaField(_l("Note"))


class AddressForm(FlaskForm):
    """A saved address; the point comes from the map or the place search."""

    label = StringField(_l("Label (home, work…)"))
    text = StringField(_l("Address"))
    unit = StringField(_l("Unit, floor, bell"))
    landmark = StringField(_l("Landmark"))
    driver_notes = StringField(_l("Notes for the driver"))
    lat = HiddenField()
    lon = HiddenField()


class PhoneForm(FlaskForm):
    """Another number for the subscriber; taking it from someone else must be ticked."""

    phone = StringField(_l("Phone number"))
    move = BooleanField(_l("Move it here if another subscriber has it"))


class FlagsForm(FlaskForm):
    """Barring and the SMS opt-out."""

    barred = BooleanField(_l("Barred: calls are refused"))
    barred_reason = StringField(_l("Reason"))
    sms_opt_out = BooleanField(_l("No text messages"))
    feedback_channel = SelectField(
        _l("Ask about trips by"),
        choices=[
            SelectChoice("sms", _l("text message")),
            SelectChoice("ivr", _l("automated call")),
            SelectChoice("none", _l("do not ask")),
        ],
        validate_choice=False,  # the subscriber book checks it, with its own message; absent keeps the current one
    )
