"""A call's handle time is kept on the call as it ends and is wrapped up, and the migration fills it for the calls
an office already had (the agent league reads it from an index)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from calls.models import Call
from core.extensions import db

ANSWERED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_the_handle_time_follows_the_call(app):
    call = Call(provider_sid="CAhandle1", from_number="+989121234567", status="answered", answered_at=ANSWERED)
    db.session.add(call)
    db.session.commit()
    assert call.handle_seconds is None  # still talking: no handle time yet

    call.ended_at = ANSWERED + timedelta(seconds=99.5)  # half a second rounds up
    db.session.commit()
    assert call.handle_seconds == 100

    call.wrapped_up_at = call.ended_at + timedelta(seconds=30)
    db.session.commit()
    assert call.handle_seconds == 130


def test_an_unanswered_call_has_no_handle_time(app):
    call = Call(provider_sid="CAhandle2", from_number="+989121234567", status="abandoned", ended_at=ANSWERED)
    db.session.add(call)
    db.session.commit()
    assert call.handle_seconds is None


def test_the_migration_fills_the_calls_already_kept(empty_app):
    from flask_migrate import upgrade

    upgrade(revision="0005")
    calls = [
        ("CA1", ANSWERED, ANSWERED + timedelta(seconds=100), ANSWERED + timedelta(seconds=130)),  # wrapped up: 130
        ("CA2", ANSWERED, ANSWERED + timedelta(seconds=60), None),  # no wrap-up: 60
        ("CA3", None, ANSWERED, None),  # never answered
        ("CA4", ANSWERED, None, None),  # still talking
    ]
    for sid, answered, ended, wrapped in calls:
        db.session.execute(
            text(
                "INSERT INTO calls (provider_sid, direction, from_number, to_number, status, disposition, notes,"
                " recording_url, answered_at, ended_at, wrapped_up_at, created_at)"
                " VALUES (:sid, 'inbound', '+989121234567', '', 'completed', '', '', '', :a, :e, :w, :a2)"
            ),
            {"sid": sid, "a": _stored(answered), "e": _stored(ended), "w": _stored(wrapped), "a2": _stored(ANSWERED)},
        )
    db.session.commit()
    db.session.remove()

    upgrade()
    kept = dict(db.session.execute(text("SELECT provider_sid, handle_seconds FROM calls")).all())
    assert kept == {"CA1": 130, "CA2": 60, "CA3": None, "CA4": None}


def _stored(moment: datetime | None):
    """A moment as the calls table keeps it on either database (SQLite: naive UTC text)."""
    if moment is None:
        return None
    if db.engine.dialect.name == "sqlite":
        return moment.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return moment
