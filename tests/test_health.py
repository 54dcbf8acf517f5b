"""``/healthz`` reports the database, Redis and the RQ workers as they really are."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rq import Worker

from core.app import create_app
from tests.conftest import app_settings
from tests.support.servers import free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def rq_worker(app, redis_client, redis_url):
    """A real ``rq worker`` process on the test Redis, stopped after the test."""
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": "test",
        "CABDESK_INSTANCE": app.instance_path,
    }
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "rq"), "worker", "--url", redis_url, "default"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(lambda: Worker.all(connection=redis_client), what="the worker to register")
    yield process
    process.terminate()
    process.wait(timeout=15)


def test_healthy_when_database_redis_and_a_worker_are_up(client, rq_worker):
    response = client.get("/healthz")
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["workers"]["count"] == 1


def test_degraded_without_a_worker(client, redis_client):
    response = client.get("/healthz")
    body = response.get_json()
    assert response.status_code == 503
    assert body["database"]["ok"] and body["redis"]["ok"]
    assert body["workers"] == {"ok": False, "error": "no worker is running"}


def test_degraded_when_redis_is_down(tmp_path, migrated_sqlite):
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(app_settings(f"sqlite:///{migrated_sqlite}", dead_redis, tmp_path))
    body = app.test_client().get("/healthz").get_json()
    assert body["status"] == "degraded"
    assert body["redis"]["ok"] is False
    assert body["workers"]["ok"] is False
    assert body["database"]["ok"] is True


def test_degraded_when_the_database_is_unreachable(tmp_path, redis_url):
    app = create_app(app_settings(f"sqlite:///{tmp_path}/missing-dir/db.sqlite3", redis_url, tmp_path))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"]["ok"] is False
