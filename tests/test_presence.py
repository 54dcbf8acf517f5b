"""An agent is at the console while a tab of theirs is alive; a tab on a dead web process stops counting."""

from __future__ import annotations

import contextvars
import time

from rq import Queue, SimpleWorker

from accounts.services import find_user
from agents.events import connections_key
from agents.live import NAMESPACE
from agents.tasks import reconcile_presence
from calls.models import AgentState
from calls.services import agent_state, agents_ready
from core.extensions import db, socketio


def open_console(app, client):
    # In a context of its own, like a request: otherwise Flask-Login's user cached in the test's ``g``
    # would answer for every socket.
    socket = contextvars.Context().run(socketio.test_client, app, namespace=NAMESPACE, flask_test_client=client)
    assert socket.is_connected(NAMESPACE)
    return socket


def test_connecting_makes_the_agent_available_and_closing_the_last_tab_offline(app, logged_in, redis_client):
    client = logged_in("agent")
    first, second = open_console(app, client), open_console(app, client)
    user_id = find_user("agent").id
    assert agent_state(user_id) == AgentState.AVAILABLE
    assert redis_client.zcard(connections_key(user_id)) == 2
    first.disconnect(namespace=NAMESPACE)
    db.session.expire_all()
    assert agent_state(user_id) == AgentState.AVAILABLE  # another tab is still open
    second.disconnect(namespace=NAMESPACE)
    db.session.expire_all()
    assert agent_state(user_id) == AgentState.OFFLINE


def test_a_tab_that_stopped_beating_no_longer_keeps_the_agent_on(app, logged_in, make_user, redis_client):
    from tests.conftest import log_in

    open_console(app, logged_in("agent", username="lost"))
    other = app.test_client()
    make_user("agent", "alive")
    log_in(other, "alive")
    open_console(app, other)
    lost, alive = find_user("lost").id, find_user("alive").id
    # The web process serving "lost" died: its connection's deadline passes without a heartbeat.
    for sid in redis_client.zrange(connections_key(lost), 0, -1):
        redis_client.zadd(connections_key(lost), {sid: time.time() - 1})
    queue = Queue(connection=redis_client)
    job = queue.enqueue(reconcile_presence)
    SimpleWorker([queue], connection=redis_client).work(burst=True)
    job.refresh()
    assert job.is_finished and job.return_value() == [lost]
    db.session.expire_all()
    assert (agent_state(lost), agent_state(alive)) == (AgentState.OFFLINE, AgentState.AVAILABLE)
    assert agents_ready() == 1


def test_the_heartbeat_pushes_the_deadline_on(app, logged_in, redis_client):
    socket = open_console(app, logged_in("agent"))
    key = connections_key(find_user("agent").id)
    [(sid, deadline)] = redis_client.zrange(key, 0, -1, withscores=True)
    redis_client.zadd(key, {sid: deadline - 60})
    socket.emit("heartbeat", namespace=NAMESPACE)
    assert redis_client.zscore(key, sid) > deadline - 60
