"""The driver's live channel: only drivers may connect, each into their own room, state sent on (re)connect."""

from __future__ import annotations

from flask_login import current_user
from flask_socketio import emit, join_room

from accounts.auth import socket_user_may_enter
from accounts.roles import Area
from api.drivers import driver_state
from core.extensions import socketio
from driver_app.live import NAMESPACE, driver_room
from drivers.services import driver_for_user


@socketio.on("connect", namespace=NAMESPACE)
def on_connect(auth=None):
    """Admit a driver's login to their own room and send the whole state: the phone may have missed events."""
    if not socket_user_may_enter(Area.DRIVING):
        return False
    driver = driver_for_user(current_user.id)
    if driver is None:
        return False
    join_room(driver_room(driver.id))
    emit("state", driver_state(driver))
    return True
