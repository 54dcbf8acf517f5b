"""Who is asking: session logins for pages and sockets, bearer tokens for the API, area checks."""

from __future__ import annotations

from functools import wraps

from flask import abort, session
from flask_login import current_user, login_required, login_user

from accounts.models import User
from accounts.roles import Area
from accounts.services import user_for_token
from core.extensions import db, login_manager


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The logged-in user behind a session cookie."""
    return db.session.get(User, int(user_id)) if user_id.isdigit() else None


@login_manager.request_loader
def load_user_from_bearer(req) -> User | None:
    """The user behind an ``Authorization: Bearer`` header (JSON API clients)."""
    scheme, _, token = req.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return user_for_token(token.strip())


def begin_session(user: User) -> str | None:
    """Log ``user`` in on a fresh session (no fixation), keeping the language chosen on the login page; returns it."""
    language = session.get("language")
    session.clear()
    if language:
        session["language"] = language
    login_user(user)
    return language


def area_required(area: Area):
    """Decorate a view so that only logged-in users whose role may enter ``area`` reach it."""

    def decorator(view):
        @wraps(view)
        @login_required
        def guarded(*args, **kwargs):
            if not current_user.may_enter(area):
                abort(403)
            return view(*args, **kwargs)

        return guarded

    return decorator


def socket_user_may_enter(area: Area) -> bool:
    """Whether the user behind a Socket.IO connection may join the live channel of ``area``."""
    return bool(current_user.is_authenticated and current_user.may_enter(area))
