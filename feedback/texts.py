"""What customers read from the office about feedback and complaints, in their language."""

from __future__ import annotations

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from config import LOCALES
from core.text import persian_digits


def _texts(kind: str, values: dict) -> str:
    texts = {
        "feedback_request": lambda: _(
            "How was your trip (booking %(booking)s)? Reply with a number from 1 (bad) to 5 (excellent), "
            "and any comment. Reply STOP to stop these texts.",
            **values,
        ),
        "thanks": lambda: _("Thank you for your rating. It helps us serve you better."),
        "sorry": lambda: _(
            "We are sorry your trip was not good. Your complaint %(reference)s is with a supervisor, "
            "who will get back to you.",
            **values,
        ),
        "ask_rating": lambda: _("Please reply with a number from 1 (bad) to 5 (excellent) to rate your trip."),
        "opted_out": lambda: _("You will get no more texts from us. Reply START to receive them again."),
        "opted_in": lambda: _("Welcome back: you will get texts about your trips again."),
        "complaint_received": lambda: _(
            "We have received your complaint %(reference)s. A supervisor will get back to you.", **values
        ),
        "complaint_resolved": lambda: _("Your complaint %(reference)s is resolved: %(resolution)s", **values),
        "complaint_rejected": lambda: _("Your complaint %(reference)s is closed: %(resolution)s", **values),
    }
    return texts[kind]()


def customer_text(kind: str, language: str, **values) -> str:
    """The text of ``kind`` in ``language`` (the office's when unknown), with Persian digits in Persian."""
    if language not in LOCALES:
        language = current_app.config["DEFAULT_LOCALE"]
    with force_locale(language):
        text = _texts(kind, values)
    return persian_digits(text) if language == "fa" else text
