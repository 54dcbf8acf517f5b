"""The agent console: the call queue with the screen pop, and the subscriber pages."""

from __future__ import annotations

from flask import current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _

from accounts.auth import area_required
from accounts.roles import Area
from agents import booking_pages, call_pages, complaint_pages, subscriber_pages  # noqa: F401  (attach their pages)
from agents.blueprint import bp
from calls.services import DISPOSITIONS
from crm.phones import PhoneNumberError
from crm.services import find_by_phone

__all__ = ["bp"]


@bp.route("/")
@area_required(Area.CONSOLE)
def console():
    """The console: the waiting calls and a lookup by phone number, name or address."""
    phone = request.args.get("phone", "").strip()
    if phone:
        try:
            subscriber = find_by_phone(phone, current_app.config["DEFAULT_REGION"])
        except PhoneNumberError:
            return redirect(url_for("agents.search", q=phone))
        if subscriber is not None:
            return redirect(url_for("agents.subscriber", subscriber_id=subscriber.id))
        return redirect(url_for("agents.new_subscriber", phone=phone))
    from telephony.softphone import SETTINGS

    # The browser softphone only where the office set it up; otherwise calls ring the agent's phone.
    softphone = all(current_app.config[name] for name in SETTINGS)
    return render_template(
        "agents/console.html", dispositions=disposition_labels(), console_text=console_text(), softphone=softphone
    )


def disposition_labels() -> list[tuple[str, str]]:
    """The wrap-up codes with their names in the page language."""
    names = {
        "booked": _("Booking made"),
        "enquiry": _("Enquiry"),
        "where_is_my_car": _("Where is my car?"),
        "complaint": _("Complaint"),
        "cancellation": _("Cancellation"),
        "wrong_number": _("Wrong number"),
        "other": _("Other"),
    }
    return [(code, names[code]) for code in DISPOSITIONS]


def console_text() -> dict[str, str]:
    """The words the console's script shows, in the page language."""
    return {
        "live": _("Live"),
        "reconnecting": _("Reconnecting…"),
        "answer": _("Answer"),
        "withheld": _("Number withheld"),
        "unknown": _("Not in the book"),
        "new_subscriber": _("New subscriber"),
        "open_record": _("Open the record"),
        "taken_by": _("Taken by %(name)s", name="{name}"),
        "taken_elsewhere": _("Someone else took this call."),
        "could_not_connect": _("The call could not be put through. It is back in the queue."),
        "recent_booking": _("Booked in the last 30 minutes"),
        "addresses": _("Saved addresses"),
        "last_trips": _("Recent trips"),
        "open_complaints": _("Open complaints"),
        "barred": _("Barred caller"),
        "notes": _("Notes"),
        "on_call": _("On the call"),
        "ringing": _("Ringing your line…"),
        "call_back": _("Call back"),
        "done": _("Done"),
        "voicemail": _("Voicemail"),
        "callback": _("Asked for a call-back"),
        "abandoned": _("Hung up while waiting"),
        "state_available": _("Available"),
        "state_away": _("Away"),
        "state_on_call": _("On a call"),
        "state_wrap_up": _("Wrap-up"),
        "state_offline": _("Offline"),
        "tier_platinum": _("platinum"),
        "tier_gold": _("gold"),
        "tier_iron": _("iron"),
        "tier_lead": _("lead"),
    }
