"""Drivers' positions through the API: the steady stream takes the fast path (no rows read), and stays correct."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event

from accounts.models import ApiToken, User
from accounts.services import issue_token
from core.extensions import db
from core.models import utcnow
from drivers import positions
from drivers.models import Driver
from tests.support.office import AZADI, NEAR_AZADI, add_driver


@pytest.fixture
def phone(app, client, tehran_zones, redis_client):
    """A driver on duty with a bearer token: (client, headers, driver id, location URL)."""
    driver = add_driver("P1", "09121110401")
    token = issue_token(db.session.get(User, driver.user_id))
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    assert (
        client.post(f"/api/drivers/{driver.id}/status", json={"status": "available"}, headers=headers).status_code
        == 200
    )
    return client, headers, driver.id, f"/api/drivers/{driver.id}/location"


@contextmanager
def statements():
    """The SQL statements the app runs inside the block."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        seen.append(statement.split()[0].upper() + " " + statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def test_after_the_first_position_the_stream_reads_no_rows(phone, redis_client):
    client, headers, driver_id, url = phone
    assert client.post(url, json={"lat": AZADI[0], "lon": AZADI[1]}, headers=headers).status_code == 200
    with statements() as seen:
        response = client.post(url, json={"lat": NEAR_AZADI[0], "lon": NEAR_AZADI[1]}, headers=headers)
    assert response.status_code == 200 and response.get_json() == {"lat": NEAR_AZADI[0], "lon": NEAR_AZADI[1]}
    assert [s for s in seen if s.startswith("SELECT")] == [], seen
    sighting = positions.last_sighting(redis_client, driver_id)
    assert abs(sighting.lat - NEAR_AZADI[0]) < 1e-4
    assert redis_client.zscore(positions.AVAILABLE, driver_id) is not None, "still findable by the dispatcher"


def test_the_stream_writes_no_rows_and_the_minute_job_copies_it_to_the_database(phone, redis_client):
    from drivers.tasks import copy_positions

    client, headers, driver_id, url = phone
    client.post(url, json={"lat": AZADI[0], "lon": AZADI[1]}, headers=headers)
    with statements() as seen:
        client.post(url, json={"lat": NEAR_AZADI[0], "lon": NEAR_AZADI[1]}, headers=headers)
    assert seen == [], "the stream of positions waits for no database lock"
    db.session.expire_all()
    assert db.session.get(Driver, driver_id).last_lat == pytest.approx(AZADI[0])
    assert copy_positions() == 1
    db.session.expire_all()
    driver = db.session.get(Driver, driver_id)
    assert (driver.last_lat, driver.last_lon) == (
        pytest.approx(NEAR_AZADI[0], abs=1e-5),
        pytest.approx(NEAR_AZADI[1], abs=1e-5),
    )


def test_bad_tokens_other_drivers_and_jumps_are_refused_on_the_fast_path(phone, client):
    _, headers, _, url = phone
    client.post(url, json={"lat": AZADI[0], "lon": AZADI[1]}, headers=headers)
    other = add_driver("P2", "09121110402")
    other_token = issue_token(db.session.get(User, other.user_id))
    db.session.commit()
    assert (
        client.post(url, json={"lat": AZADI[0], "lon": AZADI[1]}, headers={"Authorization": "Bearer nope"}).status_code
        == 401
    )
    refused = client.post(
        url, json={"lat": AZADI[0], "lon": AZADI[1]}, headers={"Authorization": f"Bearer {other_token}"}
    )
    assert refused.status_code == 403
    jump = client.post(url, json={"lat": 38.08, "lon": 46.29}, headers=headers)
    assert jump.status_code == 400 and "refused" in jump.get_json()["error"]["message"]
    assert client.post(url, json={"lat": "north", "lon": 51.3}, headers=headers).status_code == 400


def test_a_revoked_token_is_refused_once_its_cache_entry_lapses(phone, client, redis_client):
    _, headers, _, url = phone
    assert client.post(url, json={"lat": AZADI[0], "lon": AZADI[1]}, headers=headers).status_code == 200
    for api_token in db.session.scalars(db.select(ApiToken)):
        api_token.revoked_at = utcnow()
    db.session.commit()
    for key in redis_client.scan_iter("cabdesk:token:*"):
        redis_client.delete(key)  # what TOKEN_CACHE_SECONDS does with time
    assert client.post(url, json={"lat": AZADI[0], "lon": AZADI[1]}, headers=headers).status_code == 401


def test_after_redis_lost_everything_the_full_path_takes_over(phone, redis_client):
    client, headers, driver_id, url = phone
    client.post(url, json={"lat": AZADI[0], "lon": AZADI[1]}, headers=headers)
    redis_client.flushall()
    response = client.post(url, json={"lat": NEAR_AZADI[0], "lon": NEAR_AZADI[1]}, headers=headers)
    assert response.status_code == 200
    assert positions.quick_state(redis_client, driver_id).searchable, "the full path wrote the hint again"
