"""The driver book's RQ jobs."""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from core.extensions import db
from core.jobs import in_app_context
from core.models import utcnow
from core.signals import commit_and_announce
from drivers.accounts import expiring_documents, lift_ended
from drivers.models import Driver
from drivers.services import copy_positions_to_database
from notifications.outbox import queue_text


@in_app_context
def copy_positions() -> int:
    """Copy the last minute's positions from the live index to the drivers' rows (``rq cron``, every minute)."""
    copied = copy_positions_to_database(utcnow())
    db.session.commit()
    return copied


@in_app_context
def lift_ended_suspensions() -> int:
    """Mark suspensions whose end has come as lifted (``rq cron``, every 5 minutes)."""
    lifted = lift_ended(utcnow())
    commit_and_announce()  # the board and the driver's phone learn the driver may get offers again
    return lifted


@in_app_context
def remind_expiring_documents(now: datetime | None = None) -> int:
    """Text each driver once about a paper expiring within DOCUMENT_REMINDER_DAYS (``rq cron``, daily)."""
    now = now or utcnow()
    sent = 0
    for document in expiring_documents(now, current_app.config["DOCUMENT_REMINDER_DAYS"]):
        if document.reminded_at is not None:
            continue
        driver = db.session.get(Driver, document.driver_id)
        with force_locale(driver.language if driver.language in ("fa", "en") else "fa"):
            body = _(
                "Cabdesk: your %(paper)s expires on %(date)s. Please bring the new one to the office.",
                paper=_document_name(document.kind),
                date=document.expires_on.isoformat(),
            )
        queue_text("document_expiring", f"document:{document.id}:expiring", driver.phone, body, driver.language)
        document.reminded_at = now
        sent += 1
    db.session.commit()
    return sent


def _document_name(kind: str) -> str:
    names = {
        "licence": _("driving licence"),
        "id_card": _("ID card"),
        "vehicle_registration": _("vehicle registration"),
        "insurance": _("insurance"),
        "technical_inspection": _("technical inspection"),
        "contract": _("contract"),
    }
    return names.get(kind, _("document"))
