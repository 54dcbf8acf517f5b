"""Questions the office asks of its complaints."""

from __future__ import annotations

from sqlalchemy import select

from core.extensions import db
from feedback.models import Complaint, ComplaintStatus

# Complaints still waiting for the office to act.
OPEN_STATUSES = (ComplaintStatus.NEW, ComplaintStatus.INVESTIGATING)


def open_complaints(subscriber_id: int) -> list[Complaint]:
    """A subscriber's complaints not yet resolved or rejected, oldest first."""
    return list(
        db.session.scalars(
            select(Complaint)
            .where(Complaint.subscriber_id == subscriber_id, Complaint.status.in_(OPEN_STATUSES))
            .order_by(Complaint.id)
        )
    )
