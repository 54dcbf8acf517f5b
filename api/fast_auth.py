"""Bearer tokens checked through a short Redis cache, for the routes phones call every few seconds.

A driver's phone posts its position every five seconds; looking the token, its user and the user's
driver up in the database each time would make positions the heaviest load on the database. The
identity behind a token is cached in Redis for ``TOKEN_CACHE_SECONDS``: an account switched off or a
token revoked is refused on these routes at most that long after.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass

from flask import request
from redis.exceptions import RedisError

from accounts.roles import Area, role_may_enter
from accounts.services import token_digest, user_for_token
from core.queues import redis_connection
from drivers import positions
from drivers.services import NOT_READ, driver_for_user

TOKEN_CACHE_SECONDS = 300


@dataclass(frozen=True)
class Identity:
    """Who a bearer token speaks for: the user, their role, and their driver record if they are a driver."""

    user_id: int
    role: str
    driver_id: int | None

    def may_enter(self, area: Area) -> bool:
        """Whether this role may use an area."""
        return role_may_enter(self.role, area)


def bearer_token() -> str | None:
    """The request's bearer token, if it has one."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _key(token: str) -> str:
    return f"cabdesk:token:{token_digest(token)}"


def _cached_identity(cached: bytes) -> Identity:
    user_id, role, driver_id = cached.decode().split(":")
    return Identity(int(user_id), role, int(driver_id) if driver_id else None)


def bearer_identity_and_state(token: str, driver_id: int) -> tuple[Identity | None, object]:
    """The token's identity and the driver's ``positions.QuickState`` in one round trip to Redis.

    The state is read before knowing whether the token may act for the driver, and used only if it may. A token not
    in the cache is looked up in the database (and cached); when Redis fails the state is ``NOT_READ``.
    """
    try:
        with redis_connection().pipeline(transaction=False) as pipe:
            pipe.get(_key(token))
            read_state = positions.queue_quick_state(pipe, driver_id)
            answers = pipe.execute()
    except RedisError:
        return _identity_from_database(token), NOT_READ
    identity = _cached_identity(answers[0]) if answers[0] is not None else _identity_from_database(token)
    return identity, read_state(answers)


def bearer_identity(token: str) -> Identity | None:
    """The identity behind a token, from the cache or (then cached) from the database; None if it is not valid."""
    try:
        cached = redis_connection().get(_key(token))
    except RedisError:
        cached = None
    return _cached_identity(cached) if cached is not None else _identity_from_database(token)


def _identity_from_database(token: str) -> Identity | None:
    """The token's identity read from the database, then cached; None if it is not valid."""
    user = user_for_token(token)
    if user is None:
        return None  # refusals are not cached: a token made a moment later must work at once
    driver = driver_for_user(user.id)
    identity = Identity(user.id, user.role, driver.id if driver else None)
    with suppress(RedisError):  # no cache then: the next request asks the database again
        redis_connection().set(_key(token), f"{user.id}:{user.role}:{identity.driver_id or ''}", ex=TOKEN_CACHE_SECONDS)
    return identity
