"""The API blueprint: authentication for every route, and the routes themselves."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_login import current_user
from sqlalchemy import select

from accounts.roles import Area
from api.common import ApiError, api_error_response, paginate, require_area
from api.openapi import openapi_document
from core.extensions import csrf
from drivers.models import Driver, DriverStatus

bp = Blueprint("api", __name__, url_prefix="/api")
bp.register_error_handler(ApiError, api_error_response)

PUBLIC_ENDPOINTS = {"api.openapi"}


@bp.before_request
def authenticate():
    """Every route needs a bearer token or a logged-in session; a session also needs its CSRF token."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        raise ApiError(401, "unauthorized", "a valid bearer token is required")
    if not request.headers.get("Authorization", "").lower().startswith("bearer "):
        csrf.protect()  # a browser's cookie session: refuse cross-site writes
    return None


@bp.route("/openapi.json")
def openapi():
    """The OpenAPI 3 document of this API."""
    return jsonify(openapi_document())


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
