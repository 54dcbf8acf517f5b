"""Only staff whose role may use the console join its live channel."""

from __future__ import annotations

import pytest

from agents.events import NAMESPACE
from core.extensions import socketio


def connect(app, client):
    return socketio.test_client(app, namespace=NAMESPACE, flask_test_client=client)


@pytest.mark.parametrize("role", ["agent", "supervisor", "admin"])
def test_console_roles_connect(app, logged_in, role):
    socket = connect(app, logged_in(role))
    assert socket.is_connected(NAMESPACE)
    socket.disconnect(namespace=NAMESPACE)


def test_dispatcher_is_refused(app, logged_in):
    assert not connect(app, logged_in("dispatcher")).is_connected(NAMESPACE)


def test_anonymous_is_refused(app, client):
    assert not connect(app, client).is_connected(NAMESPACE)


def test_agent_joins_the_agents_room(app, logged_in):
    socket = connect(app, logged_in("agent"))
    socketio.emit("ping-agents", {"n": 1}, to="agents", namespace=NAMESPACE)
    received = socket.get_received(NAMESPACE)
    assert {"name": "ping-agents", "args": [{"n": 1}], "namespace": NAMESPACE} in received


def test_every_app_gets_the_socket_handlers(tmp_path, migrated_sqlite, redis_url):
    """A second app in a fresh process (a reload, tests) must have the console's handlers like the first."""
    import subprocess
    import sys

    script = (
        "from core.app import create_app\n"
        "from core.extensions import socketio\n"
        "from tests.conftest import app_settings\n"
        f"settings = app_settings('sqlite:///{migrated_sqlite}', '{redis_url}', '{tmp_path}')\n"
        "for _ in range(2):\n"
        "    create_app(settings)\n"
        "    assert 'connect' in socketio.server.handlers.get('/console', {}), 'no connect handler'\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]


def test_ping_is_answered(app, logged_in):
    socket = connect(app, logged_in("agent"))
    assert socket.emit("ping_server", 42, namespace=NAMESPACE, callback=True) == {"pong": 42}
