"""The console's "new complaint" form on a subscriber's record, for the agent with the customer on the line."""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, TextAreaField

from accounts.auth import area_required
from accounts.roles import Area
from agents.blueprint import bp
from agents.subscriber_pages import _subscriber_or_404
from core.extensions import db
from core.models import utcnow
from crm.models import Subscriber
from dispatch.models import Booking
from dispatch.services import recent_trips
from feedback.complaints import DESCRIPTION_LENGTH, ComplaintError, last_trip, open_complaint
from feedback.keywords import CATEGORIES

BOOKING_CHOICES = 10
FORM_PREFIX = "complaint"


def category_names() -> list[tuple[str, str]]:
    """The complaint categories with their names in the page language (the same words as _labels.html)."""
    names = {
        "driver_behaviour": _("driver behaviour"),
        "vehicle_condition": _("vehicle condition"),
        "fare_dispute": _("fare dispute"),
        "lateness": _("lateness"),
        "route": _("route"),
        "lost_property": _("lost property"),
        "agent_conduct": _("agent conduct"),
        "other": _("other"),
    }
    return [(code, names.get(code, code)) for code in CATEGORIES]


class ComplaintForm(FlaskForm):
    """A complaint the agent takes down; the category is suggested from the words when left empty."""

    description = TextAreaField(_l("What happened"))
    category = SelectField(_l("Category (optional)"), validate_choice=False)  # checked below, with a message
    booking_id = SelectField(_l("Trip (optional)"), validate_choice=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix=FORM_PREFIX, **kwargs)
        self.category.choices = [
            SelectChoice(code, name) for code, name in [("", _("Suggest from the words")), *category_names()]
        ]


@bp.app_template_global()
def complaint_form_data(subscriber: Subscriber) -> dict:
    """What the record's complaint form shows: the form and the subscriber's last trips to pick from."""
    return {"form": ComplaintForm(), "bookings": recent_trips(subscriber.id, BOOKING_CHOICES)}


def _read_form(form: ComplaintForm, subscriber: Subscriber) -> tuple[str, str | None, Booking | None]:
    """The description, category and trip the agent entered; a bad one raises ComplaintError with the reason."""
    description = (form.description.data or "").strip()
    if not description:
        raise ComplaintError(_("Describe the complaint."))
    if len(description) > DESCRIPTION_LENGTH:
        raise ComplaintError(_("The description may have at most %(count)s characters.", count=DESCRIPTION_LENGTH))
    category = form.category.data or None
    if category is not None and category not in CATEGORIES:
        raise ComplaintError(_("Choose a category from the list."))
    raw = (form.booking_id.data or "").strip()
    if not raw:
        return description, category, last_trip(subscriber.id)
    booking = db.session.get(Booking, int(raw)) if raw.isdigit() else None
    if booking is None or booking.subscriber_id != subscriber.id:
        raise ComplaintError(_("Choose one of this subscriber's trips."))
    return description, category, booking


@bp.route("/subscribers/<int:subscriber_id>/complaints", methods=["POST"])
@area_required(Area.CONSOLE)
def open_complaint_page(subscriber_id: int):
    """Open a complaint for the subscriber, about the chosen trip or else their last one."""
    record = _subscriber_or_404(subscriber_id)
    form = ComplaintForm()  # its CSRF token was checked by the app before this view
    back = redirect(url_for("agents.subscriber", subscriber_id=record.id))
    try:
        description, category, booking = _read_form(form, record)
        complaint = open_complaint(
            "agent",
            description,
            utcnow(),
            subscriber_id=record.id,
            booking=booking,
            category=category,
            user_id=current_user.id,
        )
    except ComplaintError as error:
        db.session.rollback()
        flash(str(error), "error")
        return back
    db.session.commit()
    flash(_("Complaint %(reference)s opened.", reference=complaint.reference), "success")
    return back
