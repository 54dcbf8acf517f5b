"""The API blueprint and what guards every route on it."""

from __future__ import annotations

from flask import Blueprint, request, session
from flask_login import current_user

from api.common import MAX_ID, ApiError, api_error_response
from core.extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api")
bp.register_error_handler(ApiError, api_error_response)

PUBLIC_ENDPOINTS = {"api.openapi"}
# Routes that check a bearer token themselves, through api.fast_auth's cache (cookie sessions still come here).
SELF_AUTHENTICATING_ENDPOINTS = {"api.driver_location_route"}


@bp.before_request
def authenticate():
    """Every route needs a bearer token or a logged-in session; a session also needs its CSRF token."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    bearer = request.headers.get("Authorization", "").lower().startswith("bearer ")
    if bearer and request.endpoint in SELF_AUTHENTICATING_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        raise ApiError(401, "unauthorized", "a valid bearer token is required")
    if not bearer or "_user_id" in session:
        csrf.protect()  # a browser's cookie session (a bearer header besides it or not): refuse cross-site writes
    return None


@bp.before_request
def refuse_impossible_input():
    """What no query may be asked with: an id past what the database holds (404), a NUL in the query string (400)."""
    for name, value in (request.view_args or {}).items():
        if isinstance(value, int) and value > MAX_ID:
            raise ApiError(404, "not_found", f"no such {name.removesuffix('_id')}")
    if any("\x00" in key or "\x00" in value for key, value in request.args.items(multi=True)):
        raise ApiError(400, "invalid_parameter", "the query string must not contain NUL characters")
    return None
