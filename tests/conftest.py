"""Shared fixtures: a real Redis per test session, a migrated SQLite database per test, logged-in clients."""

from __future__ import annotations

import contextvars
import re
import shutil

import pytest
from flask.testing import FlaskClient

from tests.support.servers import redis_server

pytest_plugins = ["tests.support.database_fixtures"]

PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def redis_url():
    """A redis-server of this test session."""
    with redis_server() as url:
        yield url


@pytest.fixture
def redis_client(redis_url):
    """A client of the test Redis, emptied before the test."""
    from redis import Redis

    client = Redis.from_url(redis_url)
    client.flushall()
    yield client
    client.close()


def app_settings(database_url: str, redis_url: str, instance_path) -> dict:
    """The configuration a test app runs with."""
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": redis_url,
        "SOCKETIO_MESSAGE_QUEUE": None,  # the Socket.IO test client refuses a message queue
        "HEALTH_WATCH_SECONDS": 0,  # no watcher thread per test app (tests/test_health_push.py runs one)
        "INSTANCE_PATH": str(instance_path),
    }


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory, redis_url):
    """A SQLite file brought to the newest schema by the Alembic migrations, copied for each test."""
    from flask_migrate import upgrade

    from core.app import create_app

    folder = tmp_path_factory.mktemp("template-db")
    path = folder / "cabdesk.sqlite3"
    app = create_app(app_settings(f"sqlite:///{path}", redis_url, folder))
    with app.app_context():
        upgrade()
        from core.extensions import db

        db.engine.dispose()
    return path


@pytest.fixture
def app(tmp_path, migrated_sqlite, redis_url):
    """The application on its own copy of the migrated database, inside an app context."""
    from core.app import create_app
    from core.extensions import db

    path = tmp_path / "cabdesk.sqlite3"
    shutil.copy(migrated_sqlite, path)
    application = create_app(app_settings(f"sqlite:///{path}", redis_url, tmp_path))
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


class IsolatedClient(FlaskClient):
    """A test client whose every request gets its own app context and database session.

    The ``app`` fixture keeps an app context open for the test's own queries; without this, Flask
    would reuse it for requests, sharing ``g`` and the SQLAlchemy session between the test and the
    views, so that an uncommitted change in a view would look committed to the test.
    """

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture
def client(app):
    """A test client of the app; each request runs as in production, in a fresh context."""
    app.test_client_class = IsolatedClient
    test_client = app.test_client()
    # Assertions read English text; the Persian pages have tests of their own.
    test_client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return test_client


@pytest.fixture
def make_user(app):
    """Create a staff account: ``make_user("agent")`` → the User, password ``PASSWORD``."""
    from accounts.services import create_user
    from core.extensions import db

    def make(role: str, username: str | None = None, **kwargs):
        user = create_user(username or role, PASSWORD, role, **kwargs)
        db.session.commit()
        return user

    return make


def csrf_token_of(html: str) -> str:
    """The CSRF token a rendered page carries."""
    match = re.search(r'name="csrf-token" content="([^"]+)"', html) or re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', html
    )
    assert match, "page has no CSRF token"
    return match.group(1)


def log_in(client, username: str, password: str = PASSWORD):
    """Log in through the real form, CSRF token included; returns the POST's response."""
    page = client.get("/login")
    token = csrf_token_of(page.get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


@pytest.fixture
def logged_in(client, make_user):
    """``logged_in("supervisor")``: a client logged in as a new user of that role."""

    def login_as(role: str, **kwargs):
        user = make_user(role, **kwargs)
        response = log_in(client, user.username)
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return login_as


@pytest.fixture
def tehran_zones(app):
    """The 22 Tehran districts and the airport as zones, by code ("D01"…"D22", "IKA")."""
    from core.extensions import db
    from demo.places import airport_zone, load_districts, load_places
    from geo.models import Zone

    shapes = [*load_districts(), airport_zone(load_places())]
    zones = {s.code: Zone(code=s.code, name_fa=s.name_fa, name_en=s.name_en, boundary=s.boundary) for s in shapes}
    db.session.add_all(zones.values())
    db.session.commit()
    return zones


@pytest.fixture
def api_client(client, make_user):
    """``api_client("agent")``: (client, headers) with a bearer token of a new user of that role."""
    from accounts.services import issue_token
    from core.extensions import db

    def for_role(role: str, username: str | None = None):
        token = issue_token(make_user(role, username or f"api-{role}"))
        db.session.commit()
        return client, {"Authorization": f"Bearer {token}"}

    return for_role


TWILIO_AUTH_TOKEN = "test-twilio-auth-token"


@pytest.fixture
def twilio(app):
    """A Twilio stand-in on loopback that the app's real twilio SDK talks to; webhooks signed for it."""
    from tests.support.twilio_stub import twilio_stub
    from tests.support.twilio_webhooks import DESK_NUMBER, TEST_ACCOUNT_SID

    with twilio_stub(TEST_ACCOUNT_SID, TWILIO_AUTH_TOKEN) as stub:
        app.config.update(
            TWILIO_ACCOUNT_SID=TEST_ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=TWILIO_AUTH_TOKEN,
            TWILIO_NUMBER=DESK_NUMBER,
            TWILIO_API_URL=stub.url,
        )
        yield stub


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium (the system's) for every browser test of the session."""
    from playwright.sync_api import sync_playwright

    from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
