"""The dispatcher board page, its map's zones, and moving a pre-booking to another time."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, current_app, jsonify, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from accounts.auth import area_required
from accounts.roles import Area
from core.errors import json_error
from core.extensions import db
from core.i18n import show_datetime, uses_jalali
from core.models import utcnow
from core.signals import commit_and_announce
from dispatch.board import board_snapshot, booking_row
from dispatch.bookings import BookingError, DispatchConflict, get_booking
from dispatch.schedule import parse_pickup_time, reschedule
from geo.zone_admin import zones_geojson

bp = Blueprint("dispatch", __name__, url_prefix="/dispatch")


@bp.route("/")
@area_required(Area.DISPATCH)
def board():
    """The live board: jobs, offers, trips, drivers on the map and the stand queues, all pushed over Socket.IO."""
    settings = {
        "time_zone": current_app.config["OFFICE_TIMEZONE"],
        "calendar": "persian" if uses_jalali() else "gregory",
    }
    # The first view is drawn on the server too: the board reads at once, before (or without) the socket.
    snapshot = board_snapshot()
    rows = (*snapshot["waiting"], *snapshot["scheduled"], *snapshot["active"])
    return render_template(
        "dispatch/board.html",
        board=snapshot,
        pickup_times={row["id"]: show_datetime(datetime.fromisoformat(row["pickup_at"])) for row in rows},
        zone_names={zone["id"]: zone["name"] for zone in snapshot["zones"]},
        board_text=board_text(),
        board_settings=settings,
        map_tiles=current_app.config.get("MAP_TILE_URL", ""),
    )


def board_text() -> dict[str, str]:
    """The words the board's script shows, in the page language."""
    return {
        "live": _("Live"),
        "reconnecting": _("Reconnecting…"),
        "status_requested": _("waiting"),
        "status_offered": _("offered"),
        "status_assigned": _("assigned"),
        "status_arrived": _("driver arrived"),
        "status_on_trip": _("on trip"),
        "status_scheduled": _("scheduled"),
        "state_available": _("available"),
        "state_offered": _("offered"),
        "state_busy": _("busy"),
        "state_break": _("on break"),
        "state_stale": _("not heard from"),
        "blocked": _("kept out of dispatch"),
        "state_offline": _("offline"),
        "class_sedan": _("sedan"),
        "class_van": _("van"),
        "class_premium": _("premium"),
        "dispatch_now": _("Dispatch now"),
        "assign": _("Assign…"),
        "reassign": _("Reassign…"),
        "cancel": _("Cancel…"),
        "no_show": _("No-show"),
        "save": _("Save"),
        "confirm_no_show": _("Mark booking %(id)s as a no-show?", id="{id}"),
        "assign_title": _("Assign booking %(id)s", id="{id}"),
        "cancel_title": _("Cancel booking %(id)s", id="{id}"),
        "no_driver": _("No driver is available"),
        "km": _("%(km)s km", km="{km}"),
        "queue_place": _("place %(place)s in the queue", place="{place}"),
        "tries": _("offered %(n)s times", n="{n}"),
        "manual": _("held by a dispatcher"),
        "expired": _("expired"),
        "refused": _("Refused"),
        "invalid": _("Not accepted"),
        "unreachable": _("The server could not be reached. Try again."),
        "saved": _("Saved"),
        "next_day": _("Next 24 hours"),
        "later": _("Later"),
        "rials": _("rials"),
        "no_zone": _("outside the zones"),
    }


@bp.route("/zones.geojson")
@area_required(Area.DISPATCH)
def zones():
    """The active zones as GeoJSON, drawn under the drivers on the board's map."""
    return jsonify(zones_geojson())


@bp.route("/bookings/<int:booking_id>/pickup-time", methods=["POST"])
@area_required(Area.DISPATCH)
def change_pickup_time(booking_id: int):
    """Move a pre-booking to another pickup time: ``{pickup_at}`` (ISO 8601; without a zone, the office clock)."""
    booking = get_booking(booking_id)
    if booking is None:
        return json_error(404, "not_found", f"no booking {booking_id}")
    body = request.get_json(silent=True)
    raw = body.get("pickup_at") if isinstance(body, dict) else request.form.get("pickup_at")
    try:
        pickup_at = parse_pickup_time(raw, current_app.config["OFFICE_TIMEZONE"])
        reschedule(booking, pickup_at, utcnow(), current_user.id)
    except BookingError as error:
        db.session.rollback()
        return json_error(400, "invalid", str(error), {error.field: str(error)} if error.field else None)
    except DispatchConflict as error:
        db.session.rollback()
        return json_error(409, "conflict", str(error))
    commit_and_announce()
    return jsonify(booking_row(booking))
