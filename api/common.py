"""What every API route shares: errors, pagination, area checks."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import abort, current_app, request
from flask_login import current_user
from sqlalchemy import Select, func, select

from accounts.roles import Area
from core.errors import json_error
from core.extensions import db
from core.models import utcnow

MAX_PER_PAGE = 200


class ApiError(Exception):
    """An API request refused with a status, a code, a message and optionally per-field messages."""

    def __init__(self, status: int, code: str, message: str, fields: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields


def api_error_response(error: ApiError):
    """The ``{"error": …}`` answer for an ApiError."""
    return json_error(error.status, error.code, error.message, error.fields)


def _page_arg(name: str, default: int, maximum: int | None = None) -> int:
    raw = request.args.get(name, str(default))
    if not raw.isdigit() or int(raw) < 1:
        raise ApiError(400, "invalid_parameter", f"{name} must be a whole number from 1", {name: "invalid"})
    value = int(raw)
    if maximum is not None and value > maximum:
        raise ApiError(400, "invalid_parameter", f"{name} may be at most {maximum}", {name: "too large"})
    return value


def paginate(query: Select, serialize) -> dict:
    """One page of a query as ``{items, page, per_page, total}``."""
    page = _page_arg("page", 1)
    per_page = _page_arg("per_page", 50, MAX_PER_PAGE)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)).all()
    return {"items": [serialize(row) for row in rows], "page": page, "per_page": per_page, "total": total}


def json_body() -> dict:
    """The request's JSON object, or a 400 that says what is wrong with it."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return body


def require_area(*areas: Area) -> None:
    """Refuse the request unless the caller's role may use one of ``areas``."""
    if not any(current_user.may_enter(area) for area in areas):
        abort(403)


def moment_arg(raw, field: str) -> datetime:
    """An ISO 8601 moment from a request (now when absent); one without a zone is read on the office clock."""
    if raw is None:
        return utcnow()
    try:
        moment = datetime.fromisoformat(str(raw))
    except ValueError:
        raise ApiError(400, "invalid", f"{field} must be an ISO 8601 date and time", {field: "invalid"}) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(current_app.config["OFFICE_TIMEZONE"]))
    return moment
