"""Database fixtures on SQLite and on a throwaway PostgreSQL, for tests where the SQL matters.

``backend`` runs a test on both; ``migrated_app`` gives it an application on its own database at the
newest schema (a copy of the migrated SQLite file, or ``CREATE DATABASE … TEMPLATE`` on PostgreSQL).
PostgreSQL sessions use Asia/Tehran as their time zone, so reading timestamps back exercises the
conversion to UTC. Loaded as a pytest plugin by tests/conftest.py.
"""

from __future__ import annotations

import shutil
import uuid

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import app_settings
from tests.support.servers import postgres_server


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL server of this test session; the URL of its (empty) ``cabdesk`` database."""
    with postgres_server() as url:
        yield url


def pg_admin(postgres_url: str):
    import psycopg

    url = make_url(postgres_url)
    return psycopg.connect(host=url.host, port=url.port, user=url.username, dbname="postgres", autocommit=True)


def create_pg_database(postgres_url: str, template: str | None = None) -> str:
    name = f"t_{uuid.uuid4().hex[:16]}"
    with pg_admin(postgres_url) as conn:
        conn.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
    return make_url(postgres_url).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(postgres_url: str, database_url: str) -> None:
    name = make_url(database_url).database
    with pg_admin(postgres_url) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def make_app(database_url: str, redis_url: str, instance_path):
    from core.app import create_app

    settings = app_settings(database_url, redis_url, instance_path)
    if database_url.startswith("postgresql"):
        settings["SQLALCHEMY_ENGINE_OPTIONS"] = {
            "pool_pre_ping": True,
            "connect_args": {"options": "-c timezone=Asia/Tehran"},
        }
    return create_app(settings)


@pytest.fixture(scope="session")
def migrated_postgres_template(postgres_url, redis_url, tmp_path_factory):
    """A PostgreSQL database brought to head by the migrations, copied (CREATE DATABASE ... TEMPLATE)."""
    from flask_migrate import upgrade

    from core.extensions import db

    url = create_pg_database(postgres_url)
    application = make_app(url, redis_url, tmp_path_factory.mktemp("pg-template"))
    with application.app_context():
        upgrade()
        db.engine.dispose()  # a template database must have no connections
    return make_url(url).database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request) -> str:
    return request.param


@pytest.fixture
def empty_app(backend, request, tmp_path, redis_url):
    """The application on an empty database, inside an app context."""
    from core.extensions import db

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    else:
        postgres_url = request.getfixturevalue("postgres_url")
        url = create_pg_database(postgres_url)
    application = make_app(url, redis_url, tmp_path)
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()
    if backend == "postgres":
        drop_pg_database(postgres_url, url)


@pytest.fixture
def migrated_app(backend, request, tmp_path, redis_url):
    """The application on its own database at the newest schema, inside an app context."""
    from core.extensions import db

    if backend == "sqlite":
        path = tmp_path / "cabdesk.sqlite3"
        shutil.copy(request.getfixturevalue("migrated_sqlite"), path)
        url = f"sqlite:///{path}"
    else:
        postgres_url = request.getfixturevalue("postgres_url")
        url = create_pg_database(postgres_url, template=request.getfixturevalue("migrated_postgres_template"))
    application = make_app(url, redis_url, tmp_path)
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()
    if backend == "postgres":
        drop_pg_database(postgres_url, url)
