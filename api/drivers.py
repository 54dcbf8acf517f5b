"""Drivers through the API."""

from __future__ import annotations

from flask import jsonify, request
from sqlalchemy import select

from accounts.roles import Area
from api.blueprint import bp
from api.common import ApiError, paginate, require_area
from drivers.models import Driver, DriverStatus


def driver_json(driver: Driver) -> dict:
    """A driver as the API shows it."""
    return {
        "id": driver.id,
        "call_sign": driver.call_sign,
        "name": driver.name,
        "phone": driver.phone,
        "status": driver.status,
        "active": driver.active,
    }


@bp.route("/drivers")
def list_drivers():
    """Drivers, filterable by ``status``."""
    require_area(Area.DISPATCH)
    query = select(Driver).order_by(Driver.id)
    status = request.args.get("status")
    if status:
        if status not in {s.value for s in DriverStatus}:
            raise ApiError(400, "invalid_parameter", "unknown driver status", {"status": "invalid"})
        query = query.where(Driver.status == status)
    return jsonify(paginate(query, driver_json))
