"""The application factory."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from flask_babel import lazy_gettext as _l
from werkzeug.middleware.proxy_fix import ProxyFix

from config import PROJECT_ROOT, load_config
from core.extensions import babel, csrf, db, login_manager, socketio


class _JSONProvider(DefaultJSONProvider):
    """Flask's JSON, but a body nested too deeply to parse is bad JSON (a 400), not a RecursionError (a 500)."""

    def loads(self, s, **kwargs):
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


def create_app(config: dict | None = None) -> Flask:
    """Build the Cabdesk web application; ``config`` overrides what the environment says."""
    settings = load_config()
    settings.update(config or {})
    app = Flask(
        "cabdesk",
        root_path=str(PROJECT_ROOT),
        instance_path=settings["INSTANCE_PATH"],
        template_folder="templates",
        static_folder="static",
    )
    app.config.update(settings)
    app.json = _JSONProvider(app)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if app.config["PUBLIC_URL"]:
        # Behind nginx: trust one proxy's X-Forwarded-Proto/Host so Twilio signatures still match.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)
    logging.getLogger("cabdesk").setLevel(logging.INFO)

    # Socket.IO handlers must be declared before socketio.init_app builds the server: a handler declared
    # later is attached to that one server only, and the next app (tests, a reload) would lack it.
    from agents import events as _agent_events  # noqa: F401
    from dispatch import events as _dispatch_events  # noqa: F401
    from driver_app import events as _driver_events  # noqa: F401  (its live.py passes dispatch changes to phones)
    from supervisors import events as _wallboard_events  # noqa: F401

    _init_extensions(app)
    _register_blueprints(app)

    from accounts.navigation import register_navigation
    from core.errors import register_error_handlers
    from core.security_headers import install_security_headers
    from core.templating import register_template_helpers
    from crm.phones import display_phone
    from notifications.outbox import install_outbox

    register_error_handlers(app)
    register_template_helpers(app)
    register_navigation(app)
    app.add_template_filter(display_phone, "phone")
    install_security_headers(app)
    install_outbox(app)
    return app


def _init_extensions(app: Flask) -> None:
    from core.database import install_sqlite_pragmas, migration_include_name, render_migration_item
    from core.i18n import select_locale

    db.init_app(app)
    with app.app_context():
        install_sqlite_pragmas(db.engine)
    if app.config.get("WITH_MIGRATIONS", True):
        from flask_migrate import Migrate

        Migrate(
            app,
            db,
            directory=str(PROJECT_ROOT / "migrations"),
            render_as_batch=True,
            compare_type=True,
            render_item=render_migration_item,
            include_name=migration_include_name,
        )
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = _l("Please log in to access this page.")
    login_manager.localize_callback = str  # translate when flashed, in the visitor's language
    login_manager.session_protection = "strong"
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    socketio.init_app(
        app,
        message_queue=app.config["SOCKETIO_MESSAGE_QUEUE"] or None,
        async_mode="threading",
        cors_allowed_origins=[app.config["PUBLIC_URL"]] if app.config["PUBLIC_URL"] else None,
    )
    app.wsgi_app = SocketIOOnItsPath(app.wsgi_app)


class SocketIOOnItsPath:
    """WSGI: only Socket.IO's path goes through engine.io's middleware; pages, the API and webhooks go to Flask.

    Under gunicorn that middleware defines a new class for every request it sees (``engineio.middleware``'s
    ``Input``), cyclic garbage the collector has to find: hundreds a second with 5,000 drivers reporting.
    """

    def __init__(self, socketio_middleware):
        self.socketio_middleware = socketio_middleware
        self.path = socketio_middleware.engineio_path

    def __call__(self, environ, start_response):
        """Socket.IO's requests to its middleware, every other one straight to Flask."""
        if (environ.get("PATH_INFO") or "").startswith(self.path):
            return self.socketio_middleware(environ, start_response)
        # What the middleware itself hands every other path to, read each time as Flask-SocketIO may wrap it later.
        return self.socketio_middleware.wsgi_app(environ, start_response)


def _register_blueprints(app: Flask) -> None:
    # Importing the models registers every table with the metadata (migrations, create_all).
    import accounts.auth  # noqa: F401  (installs the login loaders)
    import calls.models  # noqa: F401
    import crm.models  # noqa: F401
    import dispatch.models  # noqa: F401
    import drivers.models  # noqa: F401
    import earnings.models  # noqa: F401
    import fares.models  # noqa: F401
    import feedback.models  # noqa: F401
    import geo.models  # noqa: F401
    import notifications.models  # noqa: F401
    from accounts.cli import user_cli
    from accounts.routes import bp as accounts_bp
    from admin.routes import bp as admin_bp
    from agents import live as _agent_live  # noqa: F401  (passes call changes on to the consoles)
    from agents.routes import bp as agents_bp
    from api.routes import bp as api_bp
    from core.health import bp as health_bp
    from crm.cli import subscribers_cli
    from demo.cli import demo_cli
    from dispatch import live as _dispatch_live  # noqa: F401  (passes dispatch changes on to the boards)
    from dispatch import tasks as _dispatch_tasks  # noqa: F401  (offers waiting jobs, times offers out)
    from dispatch.routes import bp as dispatch_bp
    from driver_app.routes import bp as driver_app_bp
    from supervisors.routes import bp as supervisors_bp
    from telephony.routes import bp as telephony_bp

    blueprints = (
        accounts_bp,
        admin_bp,
        agents_bp,
        api_bp,
        dispatch_bp,
        driver_app_bp,
        health_bp,
        supervisors_bp,
        telephony_bp,
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    csrf.exempt(api_bp)  # the API checks CSRF itself for cookie sessions; bearer calls need none
    csrf.exempt(telephony_bp)  # Twilio signs its webhooks instead
    app.cli.add_command(user_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(subscribers_cli)
