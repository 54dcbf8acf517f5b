"""The console's subscriber pages: search, the record with its timeline, and the forms that change it."""

from __future__ import annotations

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from accounts.auth import area_required
from accounts.roles import Area
from agents.blueprint import bp
from agents.forms import AddressForm, FlagsForm, NewSubscriberForm, NoteForm, PhoneForm
from agents.timeline import subscriber_timeline
from core.extensions import db
from core.text import normalize_persian
from crm.models import Address, Subscriber
from crm.services import (
    PhoneTaken,
    SubscriberError,
    add_address,
    add_note,
    add_phone,
    create_subscriber,
    move_phone,
    search_query,
    set_barred,
    update_subscriber,
)
from dispatch.services import recent_trips
from feedback.services import open_complaints
from geo.models import Zone

SEARCH_LIMIT = 50


def _region() -> str:
    return current_app.config["DEFAULT_REGION"]


def _subscriber_or_404(subscriber_id: int) -> Subscriber:
    subscriber = db.session.get(Subscriber, subscriber_id)
    if subscriber is None:
        abort(404)
    if subscriber.merged_into_id is not None:
        abort(redirect(url_for("agents.subscriber", subscriber_id=subscriber.merged_into_id)))
    return subscriber


def _show_errors(form, error: SubscriberError) -> None:
    """Put a service's refusal next to the form fields it names, and on top when none matches."""
    placed = False
    for name in error.fields:
        field = getattr(form, name.split("[")[0].replace("phones", "phone"), None)
        if field is not None:
            field.errors = [*field.errors, error.message]
            placed = True
    if not placed:
        flash(error.message, "error")


@bp.route("/subscribers")
@area_required(Area.CONSOLE)
def search():
    """Subscribers matching any part of a name, number or address."""
    text = request.args.get("q", "").strip()[:200]
    results = db.session.scalars(search_query(text).limit(SEARCH_LIMIT)).all() if text else []
    return render_template("agents/search.html", q=text, results=results, limit=SEARCH_LIMIT)


@bp.route("/subscribers/new", methods=["GET", "POST"])
@area_required(Area.CONSOLE)
def new_subscriber():
    """A new subscriber, the caller's number filled in."""
    form = NewSubscriberForm()
    if request.method == "GET":
        form.phone.data = request.args.get("phone", "")
    status = 200
    if form.validate_on_submit():
        phones = [p for p in (form.phone.data, form.other_phone.data) if p and p.strip()]
        try:
            subscriber = create_subscriber(form.name.data, phones, _region(), form.language.data, form.notes.data)
        except PhoneTaken as taken:
            db.session.rollback()
            flash(_("This number already belongs to another subscriber."), "error")
            return redirect(url_for("agents.subscriber", subscriber_id=taken.owner_id))
        except SubscriberError as error:
            db.session.rollback()
            _show_errors(form, error)
            status = 400
        else:
            db.session.commit()
            flash(_("Subscriber saved."), "success")
            return redirect(url_for("agents.subscriber", subscriber_id=subscriber.id))
    return render_template("agents/new_subscriber.html", form=form), status


def _render_subscriber(subscriber: Subscriber, status: int = 200, **forms):
    forms.setdefault("note_form", NoteForm())
    forms.setdefault("address_form", AddressForm())
    forms.setdefault("phone_form", PhoneForm())
    forms.setdefault("flags_form", FlagsForm(obj=subscriber))
    return render_template(
        "agents/subscriber.html",
        subscriber=subscriber,
        timeline=subscriber_timeline(subscriber.id),
        open_complaints=open_complaints(subscriber.id),
        recent_trips=recent_trips(subscriber.id, 5),
        map_tiles=current_app.config.get("MAP_TILE_URL", ""),
        **forms,
    ), status


@bp.route("/subscribers/<int:subscriber_id>")
@area_required(Area.CONSOLE)
def subscriber(subscriber_id: int):
    """The subscriber's record: numbers, addresses, flags, open complaints and the whole timeline."""
    return _render_subscriber(_subscriber_or_404(subscriber_id))


def _change_record(subscriber_id: int, form, form_name: str, change, saved_message: str):
    """The shape of every form on the record: check the form, let the service change the book, commit
    and go back to the record; a refusal shows the form again with the service's messages."""
    record = _subscriber_or_404(subscriber_id)
    if form.validate_on_submit():
        try:
            change(record)
        except SubscriberError as error:
            db.session.rollback()
            _show_errors(form, error)
            return _render_subscriber(record, error.status, **{form_name: form})
        db.session.commit()
        flash(saved_message, "success")
        return redirect(url_for("agents.subscriber", subscriber_id=record.id))
    return _render_subscriber(record, 400, **{form_name: form})


@bp.route("/subscribers/<int:subscriber_id>/notes", methods=["POST"])
@area_required(Area.CONSOLE)
def add_note_page(subscriber_id: int):
    """Keep a note on the subscriber (mood after a call, a preference)."""
    form = NoteForm()
    return _change_record(
        subscriber_id,
        form,
        "note_form",
        lambda record: add_note(record, form.body.data, form.kind.data, current_user.id),
        _("Note saved."),
    )


@bp.route("/subscribers/<int:subscriber_id>/addresses", methods=["POST"])
@area_required(Area.CONSOLE)
def add_address_page(subscriber_id: int):
    """Save an address placed on the map or found by name."""
    form = AddressForm()

    def change(record):
        if not form.lat.data or not form.lon.data:
            raise SubscriberError(_("Place the address on the map or pick it from the search first."), {"text": "pin"})
        fields = {name: getattr(form, name).data for name in ("label", "text", "unit", "landmark", "driver_notes")}
        add_address(record, lat=form.lat.data, lon=form.lon.data, **fields)

    return _change_record(subscriber_id, form, "address_form", change, _("Address saved."))


@bp.route("/subscribers/<int:subscriber_id>/phones", methods=["POST"])
@area_required(Area.CONSOLE)
def add_phone_page(subscriber_id: int):
    """Add a number; taking one from another subscriber needs the box ticked."""
    form = PhoneForm()

    def change(record):
        if form.move.data:
            move_phone(form.phone.data, record, _region())
        else:
            add_phone(record, form.phone.data, _region())

    return _change_record(subscriber_id, form, "phone_form", change, _("Number saved."))


@bp.route("/subscribers/<int:subscriber_id>/flags", methods=["POST"])
@area_required(Area.CONSOLE)
def set_flags_page(subscriber_id: int):
    """Bar or un-bar a caller (with a reason), set the SMS opt-out and how they are asked about trips."""
    form = FlagsForm()

    def change(record):
        set_barred(record, form.barred.data, form.barred_reason.data)
        channel = form.feedback_channel.data or record.feedback_channel
        update_subscriber(record, sms_opt_out=form.sms_opt_out.data, feedback_channel=channel)

    return _change_record(subscriber_id, form, "flags_form", change, _("Saved."))


@bp.route("/places")
@area_required(Area.CONSOLE)
def places():
    """Places matching what the agent typed: the subscriber's own addresses, the gazetteer, then the geocoder."""
    from geo.geocoding import find_place

    query = request.args.get("q", "")[:200]
    own = []
    subscriber_id = request.args.get("subscriber_id", "")
    if subscriber_id.isdigit() and normalize_persian(query):
        words = normalize_persian(query).split()
        for address in db.session.scalars(select(Address).where(Address.subscriber_id == int(subscriber_id))):
            key = normalize_persian(f"{address.label} {address.text} {address.landmark}")
            if all(word in key for word in words):
                own.append(
                    {
                        "name": f"{address.label} — {address.text}",
                        "lat": address.lat,
                        "lon": address.lon,
                        "kind": "address",
                        "source": "subscriber",
                    }
                )
    return jsonify(items=own + find_place(query, limit=8))


@bp.route("/zones.geojson")
@area_required(Area.CONSOLE)
def zones_geojson():
    """The active zones as GeoJSON, the map's backdrop when no tile server is configured."""
    zones = db.session.scalars(select(Zone).where(Zone.active).order_by(Zone.code)).all()
    features = [
        {"type": "Feature", "geometry": z.boundary, "properties": {"code": z.code, "name": z.name(str(get_locale()))}}
        for z in zones
    ]
    return jsonify(type="FeatureCollection", features=features)
