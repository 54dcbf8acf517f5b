"""The WSGI entry point: ``gunicorn wsgi:app``, ``flask --app wsgi …``."""

from core.app import create_app
from core.extensions import socketio

app = create_app()

__all__ = ["app", "socketio"]
