"""The WSGI entry point: ``gunicorn wsgi:app``, ``flask --app wsgi …``."""

import gc

from core.app import create_app
from core.extensions import socketio

app = create_app()
# What the app built lives as long as the process: the collector's full passes need not walk it again, so they
# come often enough to free a shift's cyclic garbage early (the soaks in bench/README.md; the pop did not change).
gc.freeze()

__all__ = ["app", "socketio"]
