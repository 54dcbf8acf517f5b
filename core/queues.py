"""Redis and the RQ queues, reached the same way from web processes and workers."""

from __future__ import annotations

from flask import current_app
from redis import Redis
from rq import Queue

QUEUE_NAMES = ("default",)


def redis_connection() -> Redis:
    """A Redis client for the configured server, shared within the app."""
    app = current_app._get_current_object()
    client = app.extensions.get("cabdesk_redis")
    if client is None:
        # Short timeouts: a Redis outage must not hang a web request for long.
        client = Redis.from_url(app.config["REDIS_URL"], socket_timeout=2, socket_connect_timeout=2)
        app.extensions["cabdesk_redis"] = client
    return client


def queue(name: str = "default") -> Queue:
    """The RQ queue of that name."""
    return Queue(name, connection=redis_connection())
