"""Background jobs of the console."""

from __future__ import annotations

import time

from sqlalchemy import select

from agents.events import connections_key
from calls.models import AgentPresence, AgentState
from calls.services import set_agent_state
from calls.signals import commit_and_announce
from core.extensions import db
from core.jobs import in_app_context
from core.queues import redis_connection

# States that need the agent at a console; an agent talking on the line keeps theirs.
NEEDS_A_CONSOLE = (AgentState.AVAILABLE, AgentState.AWAY, AgentState.WRAP_UP)


@in_app_context
def reconcile_presence() -> list[int]:
    """Take off the console agents none of whose tabs has beaten lately (a web process died); safe to repeat."""
    redis = redis_connection()
    now = time.time()
    gone = []
    for presence in db.session.scalars(select(AgentPresence).where(AgentPresence.state.in_(NEEDS_A_CONSOLE))):
        key = connections_key(presence.user_id)
        redis.zremrangebyscore(key, "-inf", now)
        if redis.zcard(key) == 0:
            set_agent_state(presence.user_id, AgentState.OFFLINE)
            gone.append(presence.user_id)
    commit_and_announce()
    return gone
