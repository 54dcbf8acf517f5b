"""Signals sent only once the change they tell of is committed, for the live pages to pass on.

Services queue a signal with ``queue_signal`` while they change records; the request, webhook or
job that commits calls ``commit_and_announce`` and only then are the signals sent, so that a page
never hears of a change that was rolled back.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from core.extensions import db

_PENDING = "cabdesk_pending_signals"


def queue_signal(signal, **payload) -> None:
    """Send ``signal`` with ``payload`` after the current transaction commits."""
    db.session.info.setdefault(_PENDING, []).append((signal, payload))


def signals_queued() -> int:
    """How many signals wait for the commit (a mark to go back to, see ``forget_signals_since``)."""
    return len(db.session.info.get(_PENDING, ()))


def forget_signals_since(mark: int) -> None:
    """Drop the signals queued after ``mark``: the savepoint whose changes they told of rolled back."""
    pending = db.session.info.get(_PENDING)
    if pending:
        del pending[mark:]


def commit_and_announce(keep_loaded: bool = False) -> None:
    """Commit the session, then send the signals its changes queued.

    ``keep_loaded`` keeps the session's objects as committed instead of expiring them, for a request that
    has just written what it announces (a new call's screen pop): the signals' receivers then build their
    messages from the objects in hand rather than read back, row by row, what was written a moment ago.
    """
    session = db.session()
    expire, session.expire_on_commit = session.expire_on_commit, not keep_loaded
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire
    pending = db.session.info.pop(_PENDING, [])
    app = current_app._get_current_object()
    for signal, payload in pending:
        signal.send(app, **payload)


@event.listens_for(Session, "after_rollback")
def _forget_signals(session: Session) -> None:
    # A savepoint rolling back (a race lost and handled) leaves the outer transaction's signals to send.
    if session.in_nested_transaction():
        return
    session.info.pop(_PENDING, None)
