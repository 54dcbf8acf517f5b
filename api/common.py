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
# Row ids are PostgreSQL integers: a larger number names no row (and SQLite cannot even bind one past 2**63).
MAX_ID = 2**31 - 1


class ApiError(Exception):
    """An API request refused with a status, a code, a message and optionally per-field messages."""

    def __init__(self, status: int, code: str, message: str, fields: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields


def api_error_response(error: ApiError):
    """The ``{"error": …}`` answer for an ApiError."""
    return json_error(error.status, error.code, error.message, error.fields)


def whole_number(raw: str) -> int | None:
    """A query string's whole number (digits of any script, as int() reads them), or None if it is not one."""
    # isdigit() would pass "²", which int() refuses; past 18 digits no value of ours fits anyway.
    return int(raw) if raw.isdecimal() and len(raw) <= 18 else None


def id_arg(name: str) -> int | None:
    """An id from the query string (None when absent or empty), or a 400 naming the parameter."""
    raw = request.args.get(name)
    if not raw:
        return None
    value = whole_number(raw)
    if value is None or not 1 <= value <= MAX_ID:
        raise ApiError(400, "invalid_parameter", f"{name} must be a number", {name: "invalid"})
    return value


def as_id(value: object) -> int | None:
    """``value`` if it is a whole number that could be a row's id (a JSON ``true`` is not 1), else None."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        return None
    return value


def row_by_id(model, value: object):
    """The row of ``model`` whose id is ``value``; None if there is none or ``value`` could not be an id."""
    row_id = as_id(value)
    return db.session.get(model, row_id) if row_id is not None else None


def _page_arg(name: str, default: int, maximum: int) -> int:
    value = whole_number(request.args.get(name, str(default)))
    if value is None or value < 1:
        raise ApiError(400, "invalid_parameter", f"{name} must be a whole number from 1", {name: "invalid"})
    if value > maximum:
        raise ApiError(400, "invalid_parameter", f"{name} may be at most {maximum}", {name: "too large"})
    return value


def paginate(query: Select, serialize) -> dict:
    """One page of a query as ``{items, page, per_page, total}``."""
    page = _page_arg("page", 1, MAX_ID)
    per_page = _page_arg("per_page", 50, MAX_PER_PAGE)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)).all()
    return {"items": [serialize(row) for row in rows], "page": page, "per_page": per_page, "total": total}


def json_body() -> dict:
    """The request's JSON object, or a 400 that says what is wrong with it."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    if _has_nul(body):
        raise ApiError(400, "invalid_json", "text must not contain NUL characters")
    return body


def _has_nul(value: object) -> bool:
    """Whether a NUL character is in any string of a JSON value (PostgreSQL text cannot hold one)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def optional_json_body() -> dict:
    """The request's JSON object, ``{}`` when there is no body; anything else (``null`` too) is a 400."""
    return json_body() if request.get_data(cache=True) else {}


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
