"""The console's live channel: only staff who may use the console connect."""

from __future__ import annotations

from flask_socketio import join_room

from accounts.auth import socket_user_may_enter
from accounts.roles import Area
from core.extensions import socketio

NAMESPACE = "/console"
AGENTS_ROOM = "agents"


@socketio.on("connect", namespace=NAMESPACE)
def on_connect(auth=None):
    """Admit agents (and those who oversee them) to the live console; refuse everyone else."""
    if not socket_user_may_enter(Area.CONSOLE):
        return False
    join_room(AGENTS_ROOM)
    return True
