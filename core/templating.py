"""What every template can use: language, direction, date and number formatting.

The application factory adds what belongs to the packages above the shell (``accounts.navigation``, the ``phone``
filter from ``crm.phones``), so the shell knows no record.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import get_locale

from core.i18n import show_datetime, show_day, show_number, text_direction


def register_template_helpers(app: Flask) -> None:
    """Install the context processor and filters."""

    @app.context_processor
    def page_context():
        return {"page_lang": str(get_locale()), "page_dir": text_direction()}

    app.add_template_filter(show_datetime, "datetime")
    app.add_template_filter(show_day, "day")
    app.add_template_filter(show_number, "number")
