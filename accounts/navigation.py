"""The navigation every page shows: the areas the signed-in user's role may enter."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from accounts.roles import Area

# One entry per page: the navigation shows only the areas the user's role may enter.
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


def register_navigation(app: Flask) -> None:
    """Give every template ``navigation``: (endpoint, label) of each page the user's role may enter."""

    @app.context_processor
    def navigation_context():
        if not current_user.is_authenticated:
            return {"navigation": []}
        return {
            "navigation": [(endpoint, label) for area, endpoint, label in NAVIGATION if current_user.may_enter(area)]
        }
