"""The WSGI entry point: ``gunicorn wsgi:app``, ``flask --app wsgi …``."""

from core.app import create_app
from core.extensions import socketio
from core.memory import settle_after_startup

app = create_app()
settle_after_startup()  # the app lives as long as the process (core/memory.py; the soaks in bench/README.md)

__all__ = ["app", "socketio"]
