"""Language, direction, time zone and calendar for each page."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import jdatetime
from babel.numbers import format_decimal
from flask import current_app, g, request, session
from flask_babel import format_datetime, get_locale
from flask_login import current_user

from config import LOCALES
from core.text import persian_digits

RTL_LOCALES = frozenset({"fa"})


def select_locale() -> str:
    """The page language: the user's choice, else the session's, else the browser's, else the office's."""
    # While the database is unreachable (core.errors), the user's row cannot be read for their choice.
    user_known = not g.get("database_unreachable")
    if user_known and getattr(current_user, "is_authenticated", False) and current_user.language in LOCALES:
        return current_user.language
    if session.get("language") in LOCALES:
        return session["language"]
    return request.accept_languages.best_match(LOCALES) or current_app.config["DEFAULT_LOCALE"]


def text_direction() -> str:
    """``rtl`` for Persian pages, ``ltr`` otherwise."""
    return "rtl" if str(get_locale()) in RTL_LOCALES else "ltr"


def office_time(moment: datetime) -> datetime:
    """A UTC moment as the office's wall clock shows it."""
    return moment.astimezone(ZoneInfo(current_app.config["OFFICE_TIMEZONE"]))


def uses_jalali() -> bool:
    """Whether dates on this page are shown in the Jalali calendar."""
    return (
        str(get_locale()) == "fa"
        and getattr(current_user, "is_authenticated", False)
        and current_user.calendar == "jalali"
    )


def show_datetime(moment: datetime | None) -> str:
    """Format a stored moment in the office time zone, the page's language and calendar."""
    if moment is None:
        return ""
    if uses_jalali():
        local = jdatetime.datetime.fromgregorian(datetime=office_time(moment))
        return persian_digits(local.strftime("%Y/%m/%d %H:%M"))
    return format_datetime(moment, "short")


def show_day(day: date | str | None) -> str:
    """An office day (a date or YYYY-MM-DD) as the page's calendar writes it (Jalali if the user chose it)."""
    if day is None or day == "":
        return ""
    if isinstance(day, str):
        day = date.fromisoformat(day)
    if uses_jalali():
        return persian_digits(jdatetime.date.fromgregorian(date=day).strftime("%Y/%m/%d"))
    return day.isoformat()


def show_number(value: int | float | None) -> str:
    """A number grouped the page language's way, in Persian digits on Persian pages."""
    if value is None:
        return ""
    text = format_decimal(value, locale=get_locale(), numbering_system="default")
    return persian_digits(text) if str(get_locale()) == "fa" else text
