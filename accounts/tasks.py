"""Background jobs for accounts."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete

from accounts.models import LoginAttempt
from core.extensions import db
from core.jobs import in_app_context
from core.models import utcnow

LOGIN_AUDIT_DAYS = 90


@in_app_context
def prune_login_attempts(days: int = LOGIN_AUDIT_DAYS) -> int:
    """Forget login attempts older than the audit period; safe to run any number of times."""
    cutoff = utcnow() - timedelta(days=days)
    result = db.session.execute(delete(LoginAttempt).where(LoginAttempt.created_at < cutoff))
    db.session.commit()
    return result.rowcount
