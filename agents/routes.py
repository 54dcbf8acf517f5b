"""The agent console: the call queue with the screen pop, and the subscriber pages."""

from __future__ import annotations

from flask import current_app, redirect, render_template, request, url_for

from accounts.auth import area_required
from accounts.roles import Area
from agents import subscriber_pages  # noqa: F401  (attaches the subscriber pages to the blueprint)
from agents.blueprint import bp
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
    return render_template("agents/console.html")
