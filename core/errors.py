"""Clean error answers: a page for people, ``{"error": …}`` for API clients."""

from __future__ import annotations

from flask import g, jsonify, make_response, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException


class Conflict(RuntimeError):
    """An action the record's current state no longer allows, or one that lost a race (HTTP 409)."""


def wants_json() -> bool:
    """Whether the client expects a JSON answer rather than a page."""
    if request.path.startswith("/api/") or request.path == "/api":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def json_error(status: int, code: str, message: str, fields: dict | None = None):
    """The one ``{"error": {code, message, fields?}}`` answer every JSON client gets."""
    body = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return make_response(jsonify(error=body), status)


def error_response(status: int, code: str, message: str, fields: dict | None = None):
    """Answer an error in the form the client reads."""
    if wants_json():
        return json_error(status, code, message, fields)
    return make_response(render_template("error.html", status=status, message=message), status)


def _messages() -> dict[int, str]:
    return {
        400: _("The request could not be understood."),
        401: _("Please log in."),
        403: _("Your role does not have access to this page."),
        404: _("There is no such page."),
        405: _("This page does not accept that kind of request."),
        413: _("What was sent is too large."),
        429: _("Too many requests. Please wait and try again."),
        500: _("Something went wrong on our side. The error has been logged."),
    }


def register_error_handlers(app) -> None:
    """Install the handlers on the app."""

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return error_response(400, "csrf", _("The form has expired. Please reload the page and try again."))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        status = error.code or 500
        message = _messages().get(status, error.description or "")
        code = (error.name or "error").lower().replace(" ", "_")
        response = error_response(status, code, message)
        if status == 405 and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(OperationalError)
    @app.errorhandler(DBAPIError)
    def database_unreachable(error: DBAPIError):
        # Only a lost connection is an outage; any other database error is a bug and is logged as one.
        if not isinstance(error, OperationalError) and not error.connection_invalidated:
            return unexpected_error(error)
        # The error's text holds the statement and its parameters (numbers, names): log its kind only.
        app.logger.warning("database unreachable: %s", type(error.orig).__name__)
        g.database_unreachable = True  # the page's language must not be looked up on the logged-in user's row
        message = _("The database cannot be reached just now, so nothing was saved. Try again in a moment.")
        if wants_json():
            return json_error(503, "database_unavailable", message)
        # Not the usual error page: its menu asks who is logged in, which is another trip to the database.
        return make_response(f"<!doctype html><title>503</title><p>{escape(message)}</p>", 503)

    @app.errorhandler(RedisConnectionError)
    @app.errorhandler(RedisTimeoutError)
    def redis_unreachable(error: Exception):
        app.logger.warning("redis unreachable: %s", type(error).__name__)
        message = _("Part of the system (Redis) is down just now. Try again in a moment.")
        return error_response(503, "redis_unavailable", message)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        if isinstance(error, HTTPException):
            return http_error(error)
        app.logger.exception("unhandled error")
        return error_response(500, "internal_error", _messages()[500])
