"""Zone administration: the zones on a map, drawn and edited as polygons, and the zones feed for every map."""

from __future__ import annotations

import json

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from accounts.auth import area_required
from accounts.roles import Area
from admin.routes import bp
from admin.zone_forms import RemoveZoneForm, ZoneForm
from core.extensions import db
from geo.models import Zone
from geo.zone_admin import ZoneError, area_km2, remove_zone, save_zone, zones_geojson

# The staff who work with maps; a driver's login (Area.DRIVING) has no use for the office's zones.
STAFF_AREAS = (Area.CONSOLE, Area.DISPATCH, Area.SUPERVISION, Area.ADMINISTRATION)


def _area_or_none(zone: Zone) -> float | None:
    try:
        return area_km2(zone.boundary)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None  # a damaged stored boundary: the list still shows the zone, so it can be fixed


@bp.route("/zones")
@area_required(Area.ADMINISTRATION)
def zones():
    """Every zone, active or not, in a table and on a map."""
    rows = db.session.scalars(select(Zone).order_by(Zone.code)).all()
    return render_template(
        "admin/zones.html",
        zones=[(zone, _area_or_none(zone)) for zone in rows],
        map_tiles=current_app.config.get("MAP_TILE_URL", ""),
    )


def _zone_page(zone: Zone | None):
    form = ZoneForm()
    if not form.is_submitted():
        if zone is not None:
            form.code.data, form.name_fa.data, form.name_en.data = zone.code, zone.name_fa, zone.name_en
            form.active.data = zone.active
            form.boundary.data = json.dumps(zone.boundary, ensure_ascii=False)
        else:
            form.active.data = True
    status, general = 200, []
    if form.validate_on_submit():
        try:
            saved = save_zone(
                form.code.data,
                form.name_fa.data,
                form.name_en.data,
                form.boundary.data,
                active=form.active.data,
                zone_id=zone.id if zone else None,
            )
        except ZoneError as exc:
            db.session.rollback()
            target = getattr(form, exc.field, None) if exc.field else None
            if target is not None:
                target.errors = [*target.errors, str(exc)]
            else:
                general.append(str(exc))
            status = 400
        else:
            db.session.commit()
            flash(_("Zone %(code)s saved.", code=saved.code), "success")
            return redirect(url_for("admin.zones"))
    elif form.is_submitted():
        status = 400
    return render_template(
        "admin/zone_form.html",
        form=form,
        zone=zone,
        general_errors=general,
        remove_form=RemoveZoneForm(formdata=None),
        map_tiles=current_app.config.get("MAP_TILE_URL", ""),
    ), status


@bp.route("/zones/new", methods=["GET", "POST"])
@area_required(Area.ADMINISTRATION)
def new_zone():
    """Draw a new zone on the map (or paste its GeoJSON) and name it."""
    return _zone_page(None)


@bp.route("/zones/<int:zone_id>", methods=["GET", "POST"])
@area_required(Area.ADMINISTRATION)
def zone(zone_id: int):
    """Edit a zone: drag, add or remove its vertices, rename it, switch it on or off."""
    return _zone_page(db.get_or_404(Zone, zone_id))


@bp.route("/zones/<int:zone_id>/remove", methods=["POST"])
@area_required(Area.ADMINISTRATION)
def remove_zone_page(zone_id: int):
    """Delete a zone, or deactivate it when addresses or bookings still point at it."""
    db.get_or_404(Zone, zone_id)
    form = RemoveZoneForm()
    if not form.validate_on_submit():
        abort(400)
    removal = remove_zone(zone_id)
    db.session.commit()
    if removal.deleted:
        flash(_("Zone %(code)s deleted.", code=removal.code), "success")
    else:
        flash(
            _(
                "Zone %(code)s is still referred to (%(references)s), so it was deactivated instead of deleted.",
                code=removal.code,
                references=removal.describe_references(),
            ),
            "success",
        )
    return redirect(url_for("admin.zones"))


@bp.route("/zones.geojson")
@login_required
def zones_feed():
    """The active zones as a GeoJSON FeatureCollection for any staff map; ``?inactive=1`` adds the rest (admins)."""
    if not any(current_user.may_enter(area) for area in STAFF_AREAS):
        abort(403)
    include_inactive = request.args.get("inactive") == "1" and current_user.may_enter(Area.ADMINISTRATION)
    response = jsonify(zones_geojson(include_inactive=include_inactive))
    response.headers["Cache-Control"] = "no-cache"  # an edited zone must show on the next map load
    return response
