"""A savepoint's work is kept only if the whole transaction commits, on SQLite as on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from accounts.models import User
from core.database import savepoint
from core.extensions import db


def users() -> int:
    return db.session.scalar(select(func.count(User.id)))


def test_rolling_back_after_a_savepoint_keeps_nothing(app):
    db.session.rollback()  # start from no open transaction, as a fresh request does
    with savepoint():
        db.session.add(User(username="ghost", display_name="ghost", password_hash="x", role="agent"))
    db.session.rollback()
    assert users() == 0


def test_a_failed_savepoint_undoes_only_itself(app):
    db.session.add(User(username="kept", display_name="kept", password_hash="x", role="agent"))
    with pytest.raises(IntegrityError), savepoint():  # the unique username refuses the second row
        db.session.add(User(username="kept", display_name="dup", password_hash="x", role="agent"))
        db.session.flush()
    db.session.commit()
    assert users() == 1


def test_a_savepoint_rolled_back_keeps_the_signals_queued_before_it(app):
    from blinker import Namespace

    from core.signals import commit_and_announce, queue_signal

    heard = []
    signal = Namespace().signal("test-signal")
    signal.connect(lambda _app, **payload: heard.append(payload), weak=False)
    queue_signal(signal, n=1)
    with pytest.raises(RuntimeError), savepoint():
        db.session.execute(text("SELECT 1"))
        raise RuntimeError("a race lost inside the savepoint")
    commit_and_announce()
    assert heard == [{"n": 1}]


def test_signals_queued_inside_a_savepoint_that_rolled_back_are_not_sent(app):
    from blinker import Namespace

    from core.signals import commit_and_announce, queue_signal

    heard = []
    signal = Namespace().signal("test-signal-inner")
    signal.connect(lambda _app, **payload: heard.append(payload), weak=False)
    queue_signal(signal, n=1)
    with pytest.raises(RuntimeError), savepoint():
        queue_signal(signal, n=2)
        raise RuntimeError("undone")
    commit_and_announce()
    assert heard == [{"n": 1}]
