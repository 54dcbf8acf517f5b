"""What every template can use: language, direction, the role's navigation, date formatting."""

from __future__ import annotations

from flask import Flask
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from accounts.roles import Area
from core.i18n import show_datetime, show_day, show_number, text_direction
from crm.phones import display_phone

# One entry per area: the navigation shows only the areas the user's role may enter.
NAVIGATION = [
    (Area.CONSOLE, "agents.console", _l("Call console")),
    (Area.DISPATCH, "dispatch.board", _l("Dispatch board")),
    (Area.SUPERVISION, "supervisors.wallboard", _l("Wallboard")),
    (Area.SUPERVISION, "supervisors.reports", _l("Reports")),
    (Area.SUPERVISION, "supervisors.complaints", _l("Complaints")),
    (Area.SUPERVISION, "supervisors.duplicates", _l("Duplicate subscribers")),
    (Area.SUPERVISION, "supervisors.drivers", _l("Drivers")),
    (Area.SUPERVISION, "supervisors.settlements", _l("Settlements")),
    (Area.ADMINISTRATION, "admin.users", _l("Staff accounts")),
    (Area.ADMINISTRATION, "admin.places", _l("Places")),
    (Area.ADMINISTRATION, "admin.zones", _l("Zones")),
    (Area.ADMINISTRATION, "admin.fare_rules", _l("Fare rules")),
    (Area.ADMINISTRATION, "admin.commission_plans", _l("Commission plans")),
    (Area.ADMINISTRATION, "admin.holiday_calendar", _l("Holidays")),
    (Area.ADMINISTRATION, "admin.messages", _l("Texts")),
    (Area.ADMINISTRATION, "admin.failed_jobs", _l("Failed jobs")),
]


def register_template_helpers(app: Flask) -> None:
    """Install the context processor and filters."""

    @app.context_processor
    def page_context():
        navigation = []
        if current_user.is_authenticated:
            navigation = [(endpoint, label) for area, endpoint, label in NAVIGATION if current_user.may_enter(area)]
        return {
            "page_lang": str(get_locale()),
            "page_dir": text_direction(),
            "navigation": navigation,
        }

    app.add_template_filter(show_datetime, "datetime")
    app.add_template_filter(show_day, "day")
    app.add_template_filter(show_number, "number")
    app.add_template_filter(display_phone, "phone")
