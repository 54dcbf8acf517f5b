"""Each web process tells its own open pages when a part of the office's system is down, and when it is back.

A page hears of other processes' changes through Redis, so while Redis is down it would hear nothing and show
stale figures as if they were live. Each web process therefore checks the database, Redis and the workers itself
every ``HEALTH_WATCH_SECONDS`` and, when what is down changes, sends ``health`` — ``{"ok": bool, "down": [part,
…]}`` — straight to the pages connected to it (``ignore_queue``: not through Redis, and not twice through
another process). A page connecting is sent the last state at once. The live features list their namespaces
with ``watch_namespace``.
"""

from __future__ import annotations

import threading

from flask import Flask, current_app
from flask_socketio import emit

from core.extensions import db, socketio
from core.health import health_state, parts_down

_NAMESPACES: set[str] = set()
_KEY = "cabdesk_health_watch"


class _Watch:
    """One process's watcher: the thread that checks, and the state it last sent."""

    def __init__(self) -> None:
        self.last: dict | None = None
        self.lock = threading.Lock()
        self.started = False


def watch_namespace(namespace: str) -> None:
    """Have the pages of this Socket.IO namespace told of the system's health."""
    _NAMESPACES.add(namespace)


def greet() -> None:
    """From a connect handler: send this page the health last seen, and start the process's watcher if need be."""
    app = current_app._get_current_object()
    seconds = app.config.get("HEALTH_WATCH_SECONDS", 0)
    if not seconds:
        return
    watch = app.extensions.setdefault(_KEY, _Watch())
    with watch.lock:
        if not watch.started:
            watch.started = True
            socketio.start_background_task(_watch, app, watch, seconds)
        last = watch.last
    if last is not None:
        emit("health", last)


def page_health(app: Flask) -> dict:
    """The health as a page is told it: whether all is well, and which parts are down."""
    with app.app_context():
        try:
            down = parts_down(health_state())
        finally:
            db.session.remove()
    return {"ok": not down, "down": down}


def _watch(app: Flask, watch: _Watch, seconds: float) -> None:
    """Check every few seconds for the life of the process; send a change to every page connected here."""
    while True:
        try:
            state = page_health(app)
        except Exception:  # the watcher must outlive any one failed check
            app.logger.exception("health check failed")
            state = None
        if state is not None and state != watch.last:
            with watch.lock:
                watch.last = state
            for namespace in sorted(_NAMESPACES):
                socketio.emit("health", state, namespace=namespace, ignore_queue=True)
            if state["down"]:
                app.logger.warning("degraded: %s down", ", ".join(state["down"]))
        socketio.sleep(seconds)
