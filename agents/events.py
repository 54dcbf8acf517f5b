"""The console's live channel: who may connect, what they get on (re)connecting, and presence.

An agent is at the console while at least one of their tabs is connected. Their connections live in
Redis, where every web process sees them, each with a deadline that the tab's heartbeat pushes on:
a tab whose web process died stops beating, and ``agents.tasks.reconcile_presence`` then takes the
agent off the console instead of leaving callers queued for nobody.
"""

from __future__ import annotations

import time

from flask import current_app, request
from flask_login import current_user
from flask_socketio import emit, join_room

from accounts.auth import socket_user_may_enter
from accounts.roles import Area
from agents.live import AGENTS_ROOM, NAMESPACE, agent_room
from calls.models import AgentState
from calls.services import agent_state, current_call, missed_calls, set_agent_state, waiting_calls
from calls.signals import commit_and_announce
from core.extensions import db, socketio
from core.health_watch import greet, watch_namespace
from core.queues import redis_connection

# A tab beats every 30 s (static/js/console.js); three missed beats and its connection counts no more.
HEARTBEAT_SECONDS = 30
CONNECTION_TTL = 3 * HEARTBEAT_SECONDS


def connections_key(user_id: int) -> str:
    """The Redis sorted set of an agent's console connections, scored by the time each one expires."""
    return f"cabdesk:console:{user_id}:connections"


def _keep_connection(user_id: int, sid: str) -> None:
    redis_connection().zadd(connections_key(user_id), {sid: time.time() + CONNECTION_TTL})


def snapshot(user_id: int) -> dict:
    """Everything a console shows, for a fresh page or a reconnect: state lives on the server."""
    from agents.screen_pop import call_card

    mine = current_call(user_id)
    return {
        "calls": [call_card(call) for call in waiting_calls()],
        "my_call": call_card(mine) if mine else None,
        "missed": [call_card(call) for call in missed_calls(limit=20)],
        "presence": agent_state(user_id),
    }


def _set_state(user_id: int, state: AgentState) -> None:
    set_agent_state(user_id, state)
    commit_and_announce()


watch_namespace(NAMESPACE)


@socketio.on("connect", namespace=NAMESPACE)
def on_connect(auth=None):
    """Admit agents (and those who oversee them) to the live console; refuse everyone else."""
    if not socket_user_may_enter(Area.CONSOLE):
        return False
    user_id = current_user.id
    join_room(AGENTS_ROOM)
    join_room(agent_room(user_id))
    try:
        _keep_connection(user_id, request.sid)
    except Exception:  # Redis down: the console still works; presence is only less exact
        current_app.logger.warning("console presence not recorded: Redis unavailable")
    if agent_state(user_id) == AgentState.OFFLINE:
        _set_state(user_id, AgentState.AVAILABLE)
    emit("snapshot", snapshot(user_id))
    greet()
    return True


@socketio.on("disconnect", namespace=NAMESPACE)
def on_disconnect(*_args):
    """The last tab closing takes the agent off the console, unless they are still talking on the line."""
    if not current_user.is_authenticated:
        return
    user_id = current_user.id
    try:
        connections = redis_connection()
        connections.zrem(connections_key(user_id), request.sid)
        remaining = connections.zcount(connections_key(user_id), time.time(), "+inf")
    except Exception:
        return
    if remaining == 0 and agent_state(user_id) in (AgentState.AVAILABLE, AgentState.AWAY, AgentState.WRAP_UP):
        _set_state(user_id, AgentState.OFFLINE)
    db.session.remove()


@socketio.on("heartbeat", namespace=NAMESPACE)
def on_heartbeat(*_args):
    """A tab is still there: push its connection's deadline on."""
    if current_user.is_authenticated:
        try:
            _keep_connection(current_user.id, request.sid)
        except Exception:  # Redis down: presence is only less exact meanwhile
            current_app.logger.warning("console heartbeat not recorded: Redis unavailable")


@socketio.on("ping_server", namespace=NAMESPACE)
def on_ping(data=None):
    """Answer at once: the console (and the benchmarks) measure the live channel's round trip with it."""
    return {"pong": data}
