"""Staff accounts, their API tokens and every login attempt."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.roles import AREAS_BY_ROLE, Area, Role
from core.extensions import db
from core.models import CreatedAt


class User(UserMixin, CreatedAt, db.Model):
    """A member of staff who logs in: agent, dispatcher, supervisor or admin."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(8))
    # Persian pages show Jalali dates unless the user asks for Gregorian ones.
    calendar: Mapped[str] = mapped_column(String(16), default="jalali")
    phone: Mapped[str | None] = mapped_column(String(32))  # where calls are bridged, E.164 or SIP
    active: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None]

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")

    @property
    def is_active(self) -> bool:  # Flask-Login refuses sessions of disabled accounts
        return self.active

    @property
    def areas(self) -> frozenset[Area]:
        """The areas this user's role may enter."""
        return AREAS_BY_ROLE.get(Role(self.role), frozenset())

    def may_enter(self, area: Area) -> bool:
        """Whether this user may use the given area."""
        return area in self.areas


class ApiToken(CreatedAt, db.Model):
    """A bearer token for the JSON API; only its SHA-256 digest is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(120), default="")
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="tokens")


class LoginAttempt(CreatedAt, db.Model):
    """One try at the login form, kept for throttling and for the security audit."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    remote_addr: Mapped[str] = mapped_column(String(64), index=True)
    succeeded: Mapped[bool]
