"""Staff accounts: creating them, checking passwords, throttling logins, issuing API tokens.

Functions here only flush; the request or the command that calls them commits.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from accounts.models import ApiToken, LoginAttempt, User
from accounts.roles import STAFF_ROLES
from config import LOCALES
from core.extensions import db
from core.models import utcnow

MIN_PASSWORD_LENGTH = 8
# A real hash to compare against when the username is unknown, so both cases take as long.
_DUMMY_HASH = generate_password_hash("not a real password")


class AccountError(ValueError):
    """A request about an account that cannot be carried out, with a message for people."""


def create_user(username: str, password: str, role: str, display_name: str = "", language: str | None = None) -> User:
    """Add a staff account after checking every field."""
    username = username.strip()
    if not username or len(username) > 64 or not all(ch.isalnum() or ch in "._-" for ch in username):
        raise AccountError("username: 1–64 letters, digits, '.', '_' or '-'")
    if role not in {r.value for r in STAFF_ROLES}:
        raise AccountError(f"role must be one of: {', '.join(r.value for r in STAFF_ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if language is not None and language not in LOCALES:
        raise AccountError(f"language must be one of: {', '.join(LOCALES)}")
    if db.session.scalar(select(User.id).where(func.lower(User.username) == username.lower())):
        raise AccountError(f"username {username!r} is taken")
    user = User(
        username=username,
        display_name=display_name.strip() or username,
        password_hash=generate_password_hash(password),
        role=role,
        language=language,
    )
    db.session.add(user)
    db.session.flush()
    return user


def find_user(username: str) -> User | None:
    """The account with this username, compared without case."""
    return db.session.scalar(select(User).where(func.lower(User.username) == username.strip().lower()))


def is_locked_out(username: str, remote_addr: str, max_failures: int, window_s: int) -> bool:
    """Whether too many recent failed logins for this username or from this address block another try."""
    since = utcnow() - timedelta(seconds=window_s)
    failures = select(func.count(LoginAttempt.id)).where(
        LoginAttempt.succeeded.is_(False), LoginAttempt.created_at >= since
    )
    by_name = db.session.scalar(failures.where(LoginAttempt.username == username.strip().lower()))
    # An address gets more room than a name: a whole office can sit behind one NAT address.
    by_addr = db.session.scalar(failures.where(LoginAttempt.remote_addr == remote_addr))
    return by_name >= max_failures or by_addr >= max_failures * 4


def authenticate(username: str, password: str, remote_addr: str) -> User | None:
    """Check a username and password, record the attempt, and return the user if both match."""
    user = find_user(username)
    valid = check_password_hash(user.password_hash if user else _DUMMY_HASH, password)
    ok = bool(user and valid and user.active)
    db.session.add(LoginAttempt(username=username.strip().lower()[:64], remote_addr=remote_addr[:64], succeeded=ok))
    if ok:
        user.last_login_at = utcnow()
    db.session.flush()
    return user if ok else None


def set_password(user: User, password: str) -> None:
    """Replace a user's password."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    user.password_hash = generate_password_hash(password)
    db.session.flush()


def token_digest(token: str) -> str:
    """The SHA-256 digest a bearer token is stored and looked up by."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User, label: str = "") -> str:
    """Create an API bearer token for a user; the plain token is returned once and never stored."""
    token = "cbd_" + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user=user, digest=token_digest(token), label=label[:120]))
    db.session.flush()
    return token


def user_for_token(token: str) -> User | None:
    """The active user a bearer token belongs to, if the token is valid and not revoked."""
    api_token = db.session.scalar(
        select(ApiToken)
        .where(ApiToken.digest == token_digest(token), ApiToken.revoked_at.is_(None))
        .options(joinedload(ApiToken.user))  # one query: drivers' phones call with a token every few seconds
    )
    if api_token is None or not api_token.user.active:
        return None
    return api_token.user
