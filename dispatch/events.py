"""The dispatcher board's live channel: who may connect, and what a board gets on (re)connecting.

The board keeps no state of its own worth trusting: on every (re)connection it gets the whole board
again, then the changes as they happen (``dispatch.live``) and the drivers' positions every few
seconds (``dispatch.board_tasks.push_driver_positions``).
"""

from __future__ import annotations

from flask_socketio import emit, join_room

from accounts.auth import socket_user_may_enter
from accounts.roles import Area
from core.extensions import socketio
from core.health_watch import greet, watch_namespace
from dispatch.board import board_snapshot
from dispatch.live import BOARD_ROOM, NAMESPACE

watch_namespace(NAMESPACE)


@socketio.on("connect", namespace=NAMESPACE)
def on_connect(auth=None):
    """Admit staff whose role may use the board, and send them the whole board; refuse everyone else."""
    if not socket_user_may_enter(Area.DISPATCH):
        return False
    join_room(BOARD_ROOM)
    emit("snapshot", board_snapshot())
    greet()
    return True


@socketio.on("snapshot", namespace=NAMESPACE)
def on_snapshot(*_args):
    """The whole board again, on the page's asking (a tab that slept may have missed events)."""
    if not socket_user_may_enter(Area.DISPATCH):
        return None
    return board_snapshot()
