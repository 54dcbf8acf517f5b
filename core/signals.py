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


def commit_and_announce() -> None:
    """Commit the session, then send the signals its changes queued."""
    db.session.commit()
    pending = db.session.info.pop(_PENDING, [])
    app = current_app._get_current_object()
    for signal, payload in pending:
        signal.send(app, **payload)


@event.listens_for(Session, "after_rollback")
def _forget_signals(session: Session) -> None:
    session.info.pop(_PENDING, None)
