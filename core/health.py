"""``/healthz``: is the database reachable, is Redis up, is any RQ worker alive."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from rq import Worker
from sqlalchemy import text

from core.extensions import db
from core.queues import redis_connection

bp = Blueprint("health", __name__)


class HealthProblem(Exception):
    """A part that answers but is not fit to work."""


def _check(probe) -> dict:
    try:
        return {"ok": True, **(probe() or {})}
    except HealthProblem as exc:
        return {"ok": False, "error": str(exc)}
    except Exception as exc:  # a health check reports every failure rather than raising it
        current_app.logger.warning("health check failed: %s", type(exc).__name__)
        return {"ok": False, "error": type(exc).__name__}


def _database() -> None:
    db.session.execute(text("SELECT 1"))


def _workers() -> dict:
    count = len(Worker.all(connection=redis_connection()))
    if count == 0:
        raise HealthProblem("no worker is running")
    return {"count": count}


def health_state() -> dict[str, dict]:
    """Each part (database, redis, workers) with ``ok`` and, when down, a short ``error`` that names no secret."""
    database = _check(_database)
    redis = _check(lambda: {"ping": redis_connection().ping()})
    worker_state = _check(_workers) if redis["ok"] else {"ok": False, "error": "redis down"}
    return {"database": database, "redis": redis, "workers": worker_state}


def parts_down(state: dict[str, dict]) -> list[str]:
    """The names of the parts that are down, in a fixed order (what a page shows)."""
    return [name for name in ("database", "redis", "workers") if not state[name]["ok"]]


@bp.route("/healthz")
def healthz():
    """200 when the database, Redis and at least one worker are up, else 503 with what is down."""
    state = health_state()
    ok = not parts_down(state)
    return jsonify(status="ok" if ok else "degraded", **state), 200 if ok else 503
