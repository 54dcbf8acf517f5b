"""Who may watch the wallboard live, and what a wallboard gets on (re)connecting: the whole floor at once."""

from __future__ import annotations

from flask_socketio import emit, join_room

from accounts.auth import socket_user_may_enter
from accounts.roles import Area
from core.extensions import socketio
from core.health_watch import greet, watch_namespace
from core.models import utcnow
from reports.floor import floor_snapshot
from supervisors.live import NAMESPACE, WALLBOARD_ROOM

watch_namespace(NAMESPACE)


@socketio.on("connect", namespace=NAMESPACE)
def on_connect(auth=None):
    """Admit supervisors and admins and send them the floor now; refuse everyone else."""
    if not socket_user_may_enter(Area.SUPERVISION):
        return False
    join_room(WALLBOARD_ROOM)
    emit("floor", floor_snapshot(utcnow()))
    greet()
    return True
