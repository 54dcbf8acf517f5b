"""Running RQ jobs inside the application: one app per worker process, a context per job."""

from __future__ import annotations

import functools

_app = None


def worker_app():
    """The Flask app of this worker process, built on first use from the environment."""
    global _app
    if _app is None:
        from core.app import create_app

        # A worker never migrates: without Flask-Migrate it does not carry alembic (about 12 MB).
        _app = create_app({"WITH_MIGRATIONS": False})
    return _app


def in_app_context(job):
    """Decorate an RQ job so it runs inside an application context and its session is cleaned up.

    When called from inside an app (tests, or a request running a job inline) that app is used.
    """

    @functools.wraps(job)
    def wrapper(*args, **kwargs):
        from flask import has_app_context

        from core.extensions import db

        if has_app_context():
            return job(*args, **kwargs)
        with worker_app().app_context():
            try:
                return job(*args, **kwargs)
            finally:
                db.session.remove()

    return wrapper
